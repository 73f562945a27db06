"""Client load and consensus mode of one run, drawn from the run's workload generator.

Clients submit signed `account.transfer` transactions to nodes through the
node's API (no network faults: a client talks to the node it picked, and
a node that is down accepts nothing). A submission the node admits is
*acknowledged*; the node then owes the client either a commit or a
reported drop. Some clients, not hearing back, send the same transaction
again through another node; some transfers ask for more than the sender
holds and commit as failed receipts, which still consume the transaction.

Submissions run from 0 until `Workload.load_end_ms`, which is
`POST_HEAL_LOAD_MS` past both the heal and the scenario's minimum run
length, and one more goes to a correct node just after the heal, so every
run has transactions to decide after the network has healed, in either
mode.

Two consensus modes:

* ``wait_for_transactions`` (how `gusu.node` runs Tendermint): no empty
  blocks; a height starts when the node's pool holds transactions, a
  peer's message of the height arrives, or (in some runs)
  `empty_block_interval_ms` passed since the last block;
* the original schedule: a height every `timeout_commit_ms`, empty or not.

About two runs in three use the first. Scenarios whose plan asks for a
`FaultPlan.sparse_load` always wait for transactions, which come 3.5 to
5 s apart: blocks are then far apart, so a proposer that stamps its block
just after the parent (time frozen) or long ago lies by more than the
chain's timing tolerance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gusu.eval.simulation.scenarios import FaultPlan

WAIT_MODE_PROBABILITY = 2 / 3
POST_HEAL_LOAD_MS = 1_000
SPARSE_INTERVAL_MS = (3_500, 5_000)


@dataclass(frozen=True, slots=True)
class Workload:
    wait_for_transactions: bool
    empty_block_interval_ms: int
    """With `wait_for_transactions`: a block anyway after this long (0: never)."""
    interval_ms: tuple[int, int]
    """Bounds of the time between two submissions."""
    batch_max: int
    """Transactions per submission, 1 to this."""
    resend_probability: float
    """A submission is also sent, later, through another node (a client retrying elsewhere)."""
    resend_delay_ms: tuple[int, int]
    failing_probability: float
    """A transfer asks for more than any balance: it commits with a failed receipt."""
    load_end_ms: int
    """No submission at or after this time."""


def make_workload(rng: random.Random, plan: FaultPlan) -> Workload:
    wait = rng.random() < WAIT_MODE_PROBABILITY or plan.sparse_load
    low_ms = rng.randint(5, 300)
    interval_ms = (low_ms, low_ms + rng.randint(20, 1_500))
    empty_block_interval_ms = rng.choice((1_000, 3_000)) if wait and rng.random() < 0.25 else 0
    if plan.sparse_load:
        interval_ms, empty_block_interval_ms = SPARSE_INTERVAL_MS, 0
    return Workload(
        wait_for_transactions=wait,
        empty_block_interval_ms=empty_block_interval_ms,
        interval_ms=interval_ms,
        batch_max=rng.randint(1, 4),
        resend_probability=rng.uniform(0.0, 0.2),
        resend_delay_ms=(50, rng.randint(100, 3_000)),
        failing_probability=rng.uniform(0.0, 0.1),
        load_end_ms=max(plan.heal_ms, plan.min_run_ms) + POST_HEAL_LOAD_MS,
    )
