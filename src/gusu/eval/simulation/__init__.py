"""Deterministic simulation of the Tendermint engine: one seed drives a whole cluster.

N in-process `TendermintEngine`s (the real code) run on a simulated clock
and network with the faults of a scenario (`scenarios`): delay, loss,
duplication and reordering, partitions including one-way ones, crashes and
restarts that keep only the store, the WAL and the transaction journal,
clock skew, Byzantine twins and invalid blocks. Each node carries real
transactions through the real `Mempool` and `Executor` (`chain`), fed by
seeded clients (`workload`), with or without empty blocks
(`wait_for_transactions`). Checkers (`checkers`) then verify agreement,
validity, that every acknowledged transaction commits exactly once,
identical state on honest nodes, no double signing by honest nodes, no
empty blocks while idle, and liveness after the network heals.

    python -m gusu.eval.simulation --seeds 200 --nodes 4,7

See docs/bft.md for the scenarios and the recorded campaign.
"""

from gusu.eval.simulation.campaign import (
    CampaignSummary,
    format_summary,
    main,
    replay,
    run_campaign,
    run_seed,
)
from gusu.eval.simulation.cluster import (
    LIVENESS_BOUND_MS,
    SimResult,
    Simulation,
    get_transaction_bound_ms,
)
from gusu.eval.simulation.scenarios import SCENARIO_NAMES, SCENARIOS, FaultPlan, Scenario, get_scenario

__all__ = [
    "LIVENESS_BOUND_MS",
    "SCENARIOS",
    "SCENARIO_NAMES",
    "CampaignSummary",
    "FaultPlan",
    "Scenario",
    "SimResult",
    "Simulation",
    "format_summary",
    "get_scenario",
    "get_transaction_bound_ms",
    "main",
    "replay",
    "run_campaign",
    "run_seed",
]
