"""Campaigns: many seeds over the scenarios, a printed summary, and exact replay of a failing seed.

``python -m gusu.eval.simulation --seeds 200 --nodes 4`` runs seeds
``0 .. 199`` (``--start`` moves the range); seed ``s`` runs scenario
``SCENARIOS[s % 14]`` unless ``--scenario`` names one. ``--nodes`` takes a
comma-separated list (``4,7``) to cover several validator counts.
A failing seed is printed with the command that replays it
(``--replay SEED --scenario NAME --nodes N``); `replay` does the same from
Python. ``--summary FILE`` writes the summary as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

from gusu.eval.simulation.cluster import (
    CONSENSUS_CHOICES,
    LIVENESS_BOUND_MS,
    TRANSACTION_BOUND_BASE_MS,
    TRANSACTION_BOUND_PER_POWER_MS,
    SimResult,
    Simulation,
)
from gusu.eval.simulation.crypto import CRYPTO_CHOICES
from gusu.eval.simulation.scenarios import (
    ALL_SCENARIO_NAMES,
    RAFT_SCENARIO_NAMES,
    RAFT_SCENARIOS,
    SCENARIOS,
    Scenario,
    get_scenario,
)


def run_seed(
    seed: int, scenario: Scenario | str, validators: int = 4, crypto: str = "sim", consensus: str = "tendermint"
) -> SimResult:
    """Run one seeded simulation and check it."""
    chosen = get_scenario(scenario) if isinstance(scenario, str) else scenario
    return Simulation(seed, chosen, validators, crypto, consensus).run()


def replay(
    seed: int, scenario: Scenario | str, validators: int = 4, crypto: str = "sim", consensus: str = "tendermint"
) -> SimResult:
    """Run a seed again: the same seed, scenario, node count, crypto and engine give the same run (same digest)."""
    return run_seed(seed, scenario, validators, crypto, consensus)


def pick_scenario(seed: int, consensus: str = "tendermint") -> Scenario:
    scenarios = RAFT_SCENARIOS if consensus == "raft" else SCENARIOS
    return scenarios[seed % len(scenarios)]


def format_replay_command(result: SimResult) -> str:
    command = (
        f"python -m gusu.eval.simulation --replay {result.seed} --scenario {result.scenario} "
        f"--nodes {result.validators}"
    )
    if result.consensus != "tendermint":
        command = f"{command} --consensus {result.consensus}"
    return command if result.crypto == "sim" else f"{command} --crypto {result.crypto}"


@dataclass(slots=True)
class ScenarioSummary:
    runs: int = 0
    wait_runs: int = 0
    """Runs in `wait_for_transactions` mode."""
    failures: int = 0
    heights_min: int | None = None
    liveness_ms_max: int = 0
    liveness_ms_total: int = 0
    liveness_runs: int = 0
    transactions_committed: int = 0
    transaction_latency_ms_max: int = 0
    evidence_reported: int = 0
    crashes: int = 0
    byzantine_messages: int = 0
    """Blocks built with a time lie plus signed spam messages."""
    validator_sets_min: int | None = None
    """The fewest distinct validator sets on a run's longest honest chain (churn: at least 2 shows a change)."""

    def add(self, result: SimResult) -> None:
        self.runs += 1
        sets = result.validator_sets
        self.validator_sets_min = sets if self.validator_sets_min is None else min(self.validator_sets_min, sets)
        self.byzantine_messages += result.time_lies + result.spam_messages
        self.wait_runs += 1 if result.wait_for_transactions else 0
        self.failures += 0 if result.ok else 1
        self.heights_min = result.max_height if self.heights_min is None else min(self.heights_min, result.max_height)
        if result.liveness_ms is not None:
            self.liveness_runs += 1
            self.liveness_ms_total += result.liveness_ms
            self.liveness_ms_max = max(self.liveness_ms_max, result.liveness_ms)
        self.transactions_committed += result.transactions_committed
        if result.transaction_latency_ms_max is not None:
            self.transaction_latency_ms_max = max(self.transaction_latency_ms_max, result.transaction_latency_ms_max)
        self.evidence_reported += result.evidence_reported
        self.crashes += result.crashes


@dataclass(slots=True)
class CampaignSummary:
    seeds: int
    start: int
    nodes: tuple[int, ...]
    crypto: str
    liveness_bound_ms: int = LIVENESS_BOUND_MS
    transaction_bound_base_ms: int = TRANSACTION_BOUND_BASE_MS
    transaction_bound_per_power_ms: int = TRANSACTION_BOUND_PER_POWER_MS
    runs: int = 0
    wait_runs: int = 0
    safety_failures: int = 0
    """Runs with an agreement, validity, exactly-once, lost-transaction, state or double-signing violation."""
    liveness_failures: int = 0
    idle_failures: int = 0
    """Runs that made an empty block while nothing was pending (`checkers.check_idle`)."""
    memory_failures: int = 0
    """Runs where an honest node's bookkeeping outgrew its bound (`cluster.compute_bookkeeping_bounds`)."""
    bookkeeping_peaks: dict[str, int] = field(default_factory=dict)
    """The largest size of each kind of engine bookkeeping seen on any honest node of any run."""
    failures: list[dict[str, object]] = field(default_factory=list)
    per_scenario: dict[str, ScenarioSummary] = field(default_factory=dict)
    blocks_committed: int = 0
    empty_blocks: int = 0
    blocks_committed_waiting: int = 0
    """Blocks of the runs in wait mode (of `blocks_committed`)."""
    empty_blocks_waiting: int = 0
    transactions_acknowledged: int = 0
    transactions_acknowledged_correct: int = 0
    transactions_committed: int = 0
    transactions_dropped: int = 0
    liveness_ms_max: int = 0
    transaction_latency_ms_max: int = 0
    transaction_latency_run: str = ""
    """The run with the worst transaction latency, and its bound."""
    simulated_ms: int = 0
    events: int = 0
    wall_seconds: float = 0.0

    def add(self, result: SimResult) -> None:
        self.runs += 1
        key = f"{result.scenario}/n={result.validators}"
        self.per_scenario.setdefault(key, ScenarioSummary()).add(result)
        self.blocks_committed += result.max_height
        self.empty_blocks += result.empty_blocks
        if result.wait_for_transactions:
            self.wait_runs += 1
            self.blocks_committed_waiting += result.max_height
            self.empty_blocks_waiting += result.empty_blocks
        self.transactions_acknowledged += result.transactions_acknowledged
        self.transactions_acknowledged_correct += result.transactions_acknowledged_correct
        self.transactions_committed += result.transactions_committed
        self.transactions_dropped += result.transactions_dropped
        self.liveness_ms_max = max(self.liveness_ms_max, result.liveness_ms or 0)
        if (result.transaction_latency_ms_max or 0) > self.transaction_latency_ms_max:
            self.transaction_latency_ms_max = result.transaction_latency_ms_max or 0
            self.transaction_latency_run = (
                f"seed {result.seed} {result.scenario} n={result.validators}, bound {result.transaction_bound_ms} ms"
            )
        self.simulated_ms += result.sim_ms
        self.events += result.events
        self.safety_failures += 1 if result.safety_violations else 0
        self.liveness_failures += 1 if result.liveness_violations else 0
        self.memory_failures += 1 if result.memory_violations else 0
        self.idle_failures += 1 if result.idle_violations else 0
        for kind, size in result.bookkeeping_peaks:
            self.bookkeeping_peaks[kind] = max(self.bookkeeping_peaks.get(kind, 0), size)
        if not result.ok:
            self.failures.append(
                {
                    "seed": result.seed,
                    "scenario": result.scenario,
                    "nodes": result.validators,
                    "violations": list(result.violations),
                    "replay": format_replay_command(result),
                }
            )

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _run_task(task: tuple[int, str, int, str, str]) -> SimResult:
    seed, scenario, validators, crypto, consensus = task
    try:
        return run_seed(seed, scenario, validators, crypto, consensus)
    except Exception as error:
        # An exception out of the node's own code is a finding: name the run so that it can be replayed.
        raise RuntimeError(
            f"seed {seed} ({scenario}, n={validators}, {consensus}, crypto {crypto}) raised "
            f"{type(error).__name__}: {error}"
        ) from error


def run_campaign(
    seeds: int,
    nodes: Sequence[int] = (4,),
    *,
    start: int = 0,
    scenario: str | None = None,
    crypto: str = "sim",
    jobs: int = 1,
    on_result: Callable[[SimResult], None] | None = None,
    consensus: str = "tendermint",
) -> CampaignSummary:
    """Run seeds ``start .. start + seeds - 1`` for each validator count; `jobs` worker processes.

    Results are gathered in seed order whatever `jobs` is, so the summary
    (apart from the wall time) does not depend on it.
    """
    summary = CampaignSummary(seeds=seeds, start=start, nodes=tuple(nodes), crypto=crypto)
    tasks = [
        (seed, scenario if scenario is not None else pick_scenario(seed, consensus).name, validators, crypto, consensus)
        for validators in nodes
        for seed in range(start, start + seeds)
    ]
    began = time.perf_counter()
    results: Iterable[SimResult]
    if jobs > 1:
        executor = ProcessPoolExecutor(max_workers=jobs)
        results = executor.map(_run_task, tasks, chunksize=16)
    else:
        executor = None
        results = map(_run_task, tasks)
    try:
        for result in results:
            summary.add(result)
            if on_result is not None:
                on_result(result)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    summary.wall_seconds = round(time.perf_counter() - began, 3)
    return summary


def format_summary(summary: CampaignSummary) -> str:
    lines = [
        f"simulation campaign: {summary.runs} runs (seeds {summary.start}..{summary.start + summary.seeds - 1}, "
        f"n = {', '.join(str(n) for n in summary.nodes)}, crypto {summary.crypto}) in {summary.wall_seconds:.1f} s",
        f"{'scenario':<16}{'runs':>6}{'wait':>6}{'failed':>8}{'min height':>12}{'liveness avg':>14}{'max':>9}"
        f"{'tx max':>9}{'txs':>9}{'evidence':>10}{'crashes':>9}{'byzantine':>11}",
    ]
    for key in sorted(summary.per_scenario):
        item = summary.per_scenario[key]
        average = item.liveness_ms_total // item.liveness_runs if item.liveness_runs else 0
        lines.append(
            f"{key:<16}{item.runs:>6}{item.wait_runs:>6}{item.failures:>8}{item.heights_min or 0:>12}{average:>12}ms"
            f"{item.liveness_ms_max:>7}ms{item.transaction_latency_ms_max:>7}ms{item.transactions_committed:>9}"
            f"{item.evidence_reported:>10}{item.crashes:>9}{item.byzantine_messages:>11}"
        )
    timed_blocks = summary.blocks_committed - summary.blocks_committed_waiting
    lines.append(
        f"blocks committed {summary.blocks_committed} ({summary.empty_blocks} empty); waiting for transactions "
        f"({summary.wait_runs} runs): {summary.blocks_committed_waiting} ({summary.empty_blocks_waiting} empty), "
        f"on the timer: {timed_blocks} ({summary.empty_blocks - summary.empty_blocks_waiting} empty)"
    )
    lines.append(
        f"transactions acknowledged {summary.transactions_acknowledged} ({summary.transactions_acknowledged_correct} "
        f"by correct nodes), committed {summary.transactions_committed}, dropped {summary.transactions_dropped}; "
        f"simulated {summary.simulated_ms / 1000:.0f} s, "
        f"{summary.events} events"
    )
    lines.append(f"worst liveness after the heal {summary.liveness_ms_max} ms (bound {summary.liveness_bound_ms} ms)")
    lines.append(
        f"worst transaction latency {summary.transaction_latency_ms_max} ms ({summary.transaction_latency_run}; "
        f"bounds {summary.transaction_bound_base_ms} ms + {summary.transaction_bound_per_power_ms} ms per unit of "
        "voting power, from the acknowledgement or the heal)"
    )
    peaks = ", ".join(f"{kind} {size}" for kind, size in sorted(summary.bookkeeping_peaks.items()))
    lines.append(f"largest bookkeeping on an honest node: {peaks}")
    lines.append(
        f"safety violations: {summary.safety_failures} run(s); liveness violations: {summary.liveness_failures} "
        f"run(s); memory violations: {summary.memory_failures} run(s); idle violations (empty blocks with "
        f"nothing pending): {summary.idle_failures} run(s)"
    )
    if summary.failures:
        lines.append(f"FAILED: {len(summary.failures)} run(s)")
        for failure in summary.failures:
            lines.append(f"  seed {failure['seed']} {failure['scenario']} n={failure['nodes']}: {failure['replay']}")
            for violation in failure["violations"]:  # type: ignore[attr-defined]
                lines.append(f"    {violation}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gusu.eval.simulation",
        description="Deterministic simulation of the Tendermint or Raft engine: one seed per run.",
    )
    parser.add_argument("--seeds", type=int, default=100, help="number of seeds per node count (default 100)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--nodes", default="4", help="validator counts, comma-separated (default 4)")
    parser.add_argument("--scenario", choices=ALL_SCENARIO_NAMES, help="run only this scenario")
    parser.add_argument(
        "--consensus", choices=CONSENSUS_CHOICES, default="tendermint", help="engine to drive (default tendermint)"
    )
    parser.add_argument("--crypto", choices=CRYPTO_CHOICES, default="sim", help="signature suite (default sim)")
    parser.add_argument("--summary", help="write the summary as JSON to this file")
    parser.add_argument("--replay", type=int, metavar="SEED", help="replay one seed (needs --scenario)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary and failures")
    args = parser.parse_args(argv)
    try:
        nodes = tuple(int(item) for item in str(args.nodes).split(","))
    except ValueError:
        parser.error(f"--nodes takes comma-separated integers, not {args.nodes!r}")
    if any(n < 1 or n > 64 for n in nodes):
        parser.error("--nodes values must be between 1 and 64")
    if args.replay is not None:
        if args.scenario is None:
            parser.error("--replay needs --scenario")
        result = replay(args.replay, args.scenario, nodes[0], args.crypto, args.consensus)
        print(json.dumps(asdict(result), indent=2))
        return 0 if result.ok else 1

    def report(result: SimResult) -> None:
        if not result.ok:
            print(f"FAIL seed {result.seed} {result.scenario} n={result.validators}: {format_replay_command(result)}")
            for violation in result.violations:
                print(f"  {violation}")
            sys.stdout.flush()
        elif not args.quiet and result.seed % 1000 == 999:
            print(f"... seed {result.seed} n={result.validators}", flush=True)

    if args.consensus == "raft" and args.scenario is not None and args.scenario not in RAFT_SCENARIO_NAMES:
        parser.error(f"Raft tolerates crash faults only: --scenario must be one of {', '.join(RAFT_SCENARIO_NAMES)}")
    if not 1 <= args.jobs <= 256:
        parser.error("--jobs must be between 1 and 256")
    summary = run_campaign(
        args.seeds,
        nodes,
        start=args.start,
        scenario=args.scenario,
        crypto=args.crypto,
        jobs=args.jobs,
        on_result=report,
        consensus=args.consensus,
    )
    print(format_summary(summary))
    if args.summary:
        with open(args.summary, "w", encoding="utf-8") as handle:
            json.dump(summary.to_json(), handle, indent=2)
            handle.write("\n")
    return 1 if summary.failures else 0
