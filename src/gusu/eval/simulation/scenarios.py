"""Fault plans: what goes wrong in one simulated run, drawn from the run's seeded generator.

A `FaultPlan` fixes everything about a run that is not the consensus code
itself: voting powers, which validators have Byzantine twins, when the
network heals, message delay, loss and duplication before the heal,
partitions (symmetric and one-way), crashes and restarts (some of them in
the middle of carrying out an action list, after the WAL record and before
the broadcast, or the other way round), per-node clock skew and nodes
whose application builds invalid blocks; and the Byzantine behaviours of
validators that run the real engine but lie about block time
(`time_liars`), flood their peers with signed proposals and votes
(`spammers`), or whose clock is outside the precision the chain assumes
(`bad_clocks`, not Byzantine but counted as faulty).

Every fault ends at ``heal_ms``: from then on messages arrive within
`HEALED_DELAY_MS`, none are lost, every crashed node is back, no
partition remains and spammers fall silent. Twins stay Byzantine, liars
keep lying and bad clocks stay bad: the chain must go on regardless. The
liveness checker measures from that moment.

Faulty validators (twins, builders of invalid blocks, liars, spammers,
bad clocks) always hold less than 1/3 of the voting power together.

Node ids: validators ``0 .. n-1`` run one node each; a twinned validator
also runs a second node, numbered ``n, n+1, ...`` in twin order, holding
the same key.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

HEALED_DELAY_MS = (2, 40)
"""Message delay bounds once the network has healed (the Δ after GST)."""
CLOCK_PRECISION_MS = 1_000
"""PBTS ``PRECISION`` of the simulated chain: any two good clocks differ by at most this much."""
CLOCK_MESSAGE_DELAY_MS = 2_000
"""PBTS ``MSGDELAY`` of the simulated chain: covers the delays before the heal (up to 600 ms) and a lost
proposal's first re-sending (the rebroadcast interval, 500 ms)."""
GOOD_SKEW_MS = CLOCK_PRECISION_MS // 2
"""Good clocks are off by at most this either way, so any two are within `CLOCK_PRECISION_MS`."""
TIME_LIES = ("future", "end-of-time", "end-of-time-header", "past", "frozen")
"""How a time liar stamps the blocks it builds (see `cluster.Simulation._lie_about_time`)."""


@dataclass(frozen=True, slots=True)
class Partition:
    start_ms: int
    end_ms: int
    blocked: frozenset[tuple[int, int]]
    """Directed links (sender node id, receiver node id) that lose every message."""
    description: str


@dataclass(frozen=True, slots=True)
class Crash:
    node: int
    at_ms: int
    down_ms: int
    """How long the node stays down (it restarts by the heal at the latest)."""
    torn: bool
    """Crash part-way through carrying out an action list instead of between events."""


@dataclass(frozen=True, slots=True)
class ChurnStep:
    """A configuration change the chain's governance decides during the run (`chain.ScheduleExecutor`)."""

    decided_height: int
    """The block whose execution decides it."""
    effective_height: int
    """The first height it is in force (at least ``decided_height + 2``)."""
    powers: tuple[int, ...]
    """The new power of every validator identity (0: not a validator from then on)."""
    switches_engine: bool = False
    """The change also switches the ordering engine to the other one (Tendermint <-> Raft): `set_consensus`."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    powers: tuple[int, ...]
    """Voting power per validator identity at genesis (0, in churn plans only: an observer until a change
    adds it)."""
    twins: tuple[int, ...]
    """Validators that run two nodes with one key (Byzantine; total power below 1/3)."""
    heal_ms: int
    delay_ms: tuple[int, int]
    """Message delay bounds before the heal; random delays also reorder messages."""
    drop_probability: float
    duplicate_probability: float
    partitions: tuple[Partition, ...]
    crashes: tuple[Crash, ...]
    skews_ms: tuple[int, ...]
    """Clock offset per node id."""
    invalid_builders: tuple[int, ...]
    """Node ids whose application builds an invalid block with `invalid_probability`."""
    invalid_probability: float
    min_run_ms: int
    """Run at least this long even if liveness is shown sooner."""
    time_liars: tuple[int, ...] = ()
    """Validators (node id = validator index) that stamp the blocks they build with `time_lies`, forever."""
    time_lies: tuple[str, ...] = ()
    """The lies they choose from, per block (`TIME_LIES`)."""
    spammers: tuple[int, ...] = ()
    """Validators that, until the heal, flood every peer with signed proposals and votes of many rounds and
    heights, conflicting and duplicated, besides running consensus."""
    sparse_load: bool = False
    """Clients submit seconds apart and the chain waits for transactions (`workload.make_workload`)."""
    bad_clocks: tuple[int, ...] = ()
    """Validators whose clock is off by more than `CLOCK_PRECISION_MS` (their skews say how far), forever.
    They run honest code, but the chain's timing model does not cover them: faulty for the power budget."""
    churn: tuple[ChurnStep, ...] = ()
    """Validator-set changes scheduled during the run, in deciding order."""

    @property
    def validator_count(self) -> int:
        return len(self.powers)

    @property
    def node_validators(self) -> tuple[int, ...]:
        """The validator index each node id runs."""
        return tuple(range(len(self.powers))) + self.twins

    @property
    def node_count(self) -> int:
        return len(self.powers) + len(self.twins)

    def is_byzantine_node(self, node: int) -> bool:
        validator = self.node_validators[node]
        return validator in self.twins or validator in self.time_liars or validator in self.spammers

    @property
    def faulty_validators(self) -> frozenset[int]:
        """Every validator that is not correct in the model: Byzantine, builds invalid blocks, or bad clock."""
        builders = (self.node_validators[node] for node in self.invalid_builders)
        return frozenset((*self.twins, *self.time_liars, *self.spammers, *self.bad_clocks, *builders))


# --- building blocks ----------------------------------------------------------------------------


def _equal_powers(n: int) -> tuple[int, ...]:
    return (1,) * n


def _random_powers(rng: random.Random, n: int) -> tuple[int, ...]:
    return tuple(rng.randint(1, 10) for _ in range(n))


def _pick_twins(rng: random.Random, powers: tuple[int, ...], count_max: int) -> tuple[int, ...]:
    """Up to `count_max` validators whose total power stays strictly below 1/3 of the total."""
    total = sum(powers)
    chosen: list[int] = []
    power = 0
    for index in rng.sample(range(len(powers)), len(powers)):
        if len(chosen) == count_max:
            break
        if 3 * (power + powers[index]) < total:
            chosen.append(index)
            power += powers[index]
    return tuple(sorted(chosen))


def _random_partitions(rng: random.Random, node_count: int, heal_ms: int) -> tuple[Partition, ...]:
    partitions: list[Partition] = []
    time_ms = rng.randint(0, 1_000)
    while time_ms < heal_ms:
        end_ms = min(time_ms + rng.randint(500, 4_000), heal_ms)
        nodes = list(range(node_count))
        rng.shuffle(nodes)
        cut = rng.randint(1, node_count - 1)
        side_a, side_b = nodes[:cut], nodes[cut:]
        kind = rng.random()
        if kind < 0.5:
            blocked = {(a, b) for a in side_a for b in side_b} | {(b, a) for a in side_a for b in side_b}
            description = f"symmetric {sorted(side_a)}|{sorted(side_b)}"
        elif kind < 0.8:
            blocked = {(a, b) for a in side_a for b in side_b}
            description = f"one-way {sorted(side_a)}->{sorted(side_b)} lost"
        else:
            # One isolated node that can still send but hears nothing, or the reverse.
            node = side_a[0]
            others = [other for other in range(node_count) if other != node]
            if rng.random() < 0.5:
                blocked = {(other, node) for other in others}
                description = f"deaf {node}"
            else:
                blocked = {(node, other) for other in others}
                description = f"mute {node}"
        partitions.append(Partition(time_ms, end_ms, frozenset(blocked), description))
        time_ms = end_ms + rng.randint(0, 1_500)
    return tuple(partitions)


def _random_crashes(rng: random.Random, node_count: int, heal_ms: int, count: int) -> tuple[Crash, ...]:
    crashes = []
    for node in rng.sample(range(node_count), count):
        at_ms = rng.randint(0, max(heal_ms - 500, 1))
        down_ms = rng.randint(100, max(heal_ms - at_ms, 101))
        crashes.append(Crash(node, at_ms, down_ms, torn=rng.random() < 0.5))
    return tuple(sorted(crashes, key=lambda crash: (crash.at_ms, crash.node)))


def _plan(
    powers: tuple[int, ...],
    *,
    twins: tuple[int, ...] = (),
    heal_ms: int = 0,
    delay_ms: tuple[int, int] = HEALED_DELAY_MS,
    drop_probability: float = 0.0,
    duplicate_probability: float = 0.0,
    partitions: tuple[Partition, ...] = (),
    crashes: tuple[Crash, ...] = (),
    skews_ms: tuple[int, ...] | None = None,
    invalid_builders: tuple[int, ...] = (),
    invalid_probability: float = 0.0,
    min_run_ms: int = 0,
    time_liars: tuple[int, ...] = (),
    time_lies: tuple[str, ...] = (),
    spammers: tuple[int, ...] = (),
    bad_clocks: tuple[int, ...] = (),
    sparse_load: bool = False,
    churn: tuple[ChurnStep, ...] = (),
) -> FaultPlan:
    node_count = len(powers) + len(twins)
    return FaultPlan(
        powers=powers,
        twins=twins,
        heal_ms=heal_ms,
        delay_ms=delay_ms,
        drop_probability=drop_probability,
        duplicate_probability=duplicate_probability,
        partitions=partitions,
        crashes=crashes,
        skews_ms=skews_ms if skews_ms is not None else (0,) * node_count,
        invalid_builders=invalid_builders,
        invalid_probability=invalid_probability,
        min_run_ms=min_run_ms,
        time_liars=time_liars,
        time_lies=time_lies,
        spammers=spammers,
        bad_clocks=bad_clocks,
        sparse_load=sparse_load,
        churn=churn,
    )


def _good_skews(rng: random.Random, node_count: int) -> tuple[int, ...]:
    return tuple(rng.randint(-GOOD_SKEW_MS, GOOD_SKEW_MS) for _ in range(node_count))


# --- the scenarios ---------------------------------------------------------------------------------


def make_happy(rng: random.Random, n: int) -> FaultPlan:
    """No faults: a few seconds of blocks over a well-behaved network."""
    return _plan(_equal_powers(n), delay_ms=(rng.randint(1, 10), rng.randint(10, 60)), min_run_ms=3_000)


def make_lossy(rng: random.Random, n: int) -> FaultPlan:
    """Loss, duplication and wide random delays (so reordering) until the heal."""
    return _plan(
        _equal_powers(n),
        heal_ms=rng.randint(3_000, 12_000),
        delay_ms=(1, rng.randint(50, 600)),
        drop_probability=rng.uniform(0.05, 0.4),
        duplicate_probability=rng.uniform(0.0, 0.3),
    )


def make_partition(rng: random.Random, n: int) -> FaultPlan:
    """A sequence of partitions, symmetric, one-way, deaf and mute nodes, then the heal."""
    heal_ms = rng.randint(4_000, 14_000)
    return _plan(
        _equal_powers(n),
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 200)),
        partitions=_random_partitions(rng, n, heal_ms),
    )


def make_crash(rng: random.Random, n: int) -> FaultPlan:
    """Nodes crash (some mid-way through an action list) and restart from their store and WAL.

    Up to n-1 nodes may be down at once: the chain halts while fewer than
    2/3 of the power is up, and must neither fork nor forget a lock.
    """
    heal_ms = rng.randint(3_000, 12_000)
    return _plan(
        _equal_powers(n),
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 150)),
        drop_probability=rng.choice((0.0, 0.05)),
        crashes=_random_crashes(rng, n, heal_ms, rng.randint(1, n - 1)),
    )


def make_skew(rng: random.Random, n: int) -> FaultPlan:
    """Clocks up to the precision (1 s) apart, with some loss: block time must increase and track the clocks."""
    return _plan(
        _equal_powers(n),
        heal_ms=rng.randint(2_000, 8_000),
        delay_ms=(1, rng.randint(20, 200)),
        drop_probability=rng.uniform(0.0, 0.1),
        skews_ms=_good_skews(rng, n),
        min_run_ms=4_000,
    )


def make_twins(rng: random.Random, n: int) -> FaultPlan:
    """Byzantine twins: validators with two nodes and one key, equivocating, under partitions and loss."""
    powers = _equal_powers(n)
    twins = _pick_twins(rng, powers, (n - 1) // 3)
    node_count = n + len(twins)
    heal_ms = rng.randint(4_000, 14_000)
    return _plan(
        powers,
        twins=twins,
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 300)),
        drop_probability=rng.uniform(0.0, 0.15),
        partitions=_random_partitions(rng, node_count, heal_ms),
        min_run_ms=3_000,
    )


def make_invalid(rng: random.Random, n: int) -> FaultPlan:
    """Some proposers build invalid blocks: they must never commit, and the chain must go on.

    Such a node is faulty (a validator holding more than 2/3 of the power could commit its own
    invalid block alone), so with equal powers there are at most f of them.
    """
    builders = tuple(sorted(rng.sample(range(n), rng.randint(1, max((n - 1) // 3, 1)))))
    return _plan(
        _equal_powers(n),
        heal_ms=rng.randint(2_000, 8_000),
        delay_ms=(1, rng.randint(20, 200)),
        drop_probability=rng.uniform(0.0, 0.1),
        invalid_builders=builders,
        invalid_probability=rng.uniform(0.3, 1.0),
        min_run_ms=4_000,
    )


def make_weighted(rng: random.Random, n: int) -> FaultPlan:
    """Unequal voting power with partitions and crashes: quorums are power, not counts."""
    powers = _random_powers(rng, n)
    heal_ms = rng.randint(3_000, 12_000)
    return _plan(
        powers,
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 200)),
        drop_probability=rng.uniform(0.0, 0.1),
        partitions=_random_partitions(rng, n, heal_ms),
        crashes=_random_crashes(rng, n, heal_ms, rng.randint(0, n - 1)),
    )


def make_chaos(rng: random.Random, n: int) -> FaultPlan:
    """Everything at once: twins, loss, duplication, partitions, crashes, skew, invalid blocks, unequal power."""
    powers = _random_powers(rng, n) if rng.random() < 0.5 else _equal_powers(n)
    twins = _pick_twins(rng, powers, (n - 1) // 3)
    node_count = n + len(twins)
    heal_ms = rng.randint(4_000, 15_000)
    # A node that builds invalid blocks is faulty too: with the twins it must stay below 1/3 of the power.
    twin_power = sum(powers[index] for index in twins)
    builders = [node for node in range(n) if node not in twins and 3 * (twin_power + powers[node]) < sum(powers)]
    return _plan(
        powers,
        twins=twins,
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 400)),
        drop_probability=rng.uniform(0.0, 0.3),
        duplicate_probability=rng.uniform(0.0, 0.2),
        partitions=_random_partitions(rng, node_count, heal_ms),
        crashes=_random_crashes(rng, node_count, heal_ms, rng.randint(0, node_count - 1)),
        skews_ms=_good_skews(rng, node_count),
        invalid_builders=tuple(sorted(rng.sample(builders, rng.randint(0, min(1, len(builders)))))),
        invalid_probability=rng.uniform(0.2, 1.0),
    )


def _make_time_lie(rng: random.Random, n: int, lies: tuple[str, ...], *, sparse: bool = False) -> FaultPlan:
    powers = _equal_powers(n)
    return _plan(
        powers,
        heal_ms=rng.randint(2_000, 8_000),
        delay_ms=(1, rng.randint(20, 200)),
        drop_probability=rng.uniform(0.0, 0.1),
        skews_ms=_good_skews(rng, n),
        time_liars=_pick_twins(rng, powers, rng.randint(1, max((n - 1) // 3, 1))),
        time_lies=lies,
        min_run_ms=16_000 if sparse else 6_000,
        sparse_load=sparse,
    )


def make_time_future(rng: random.Random, n: int) -> FaultPlan:
    """Up to f proposers stamp their blocks in the far future, up to 2^53 (also only in the header), forever."""
    return _make_time_lie(rng, n, ("future", "end-of-time", "end-of-time-header"))


def make_time_past(rng: random.Random, n: int) -> FaultPlan:
    """Up to f proposers stamp their blocks far in the past (but after the parent), forever; blocks seconds apart."""
    return _make_time_lie(rng, n, ("past",), sparse=True)


def make_time_frozen(rng: random.Random, n: int) -> FaultPlan:
    """Up to f proposers stamp their blocks one millisecond after the parent, forever; blocks seconds apart."""
    return _make_time_lie(rng, n, ("frozen",), sparse=True)


def make_spam(rng: random.Random, n: int) -> FaultPlan:
    """Up to f validators flood every peer with signed proposals and votes until the heal, besides voting."""
    powers = _equal_powers(n)
    return _plan(
        powers,
        heal_ms=rng.randint(3_000, 8_000),
        delay_ms=(1, rng.randint(20, 200)),
        drop_probability=rng.uniform(0.0, 0.1),
        duplicate_probability=rng.uniform(0.0, 0.2),
        skews_ms=_good_skews(rng, n),
        spammers=_pick_twins(rng, powers, rng.randint(1, max((n - 1) // 3, 1))),
        min_run_ms=3_000,
    )


def make_bad_clock(rng: random.Random, n: int) -> FaultPlan:
    """Up to f validators' clocks are 3 s to 60 s off, beyond the precision, forever; the rest within it."""
    powers = _equal_powers(n)
    bad = _pick_twins(rng, powers, rng.randint(1, max((n - 1) // 3, 1)))
    skews = list(_good_skews(rng, n))
    for index in bad:
        skews[index] = rng.choice((-1, 1)) * rng.randint(3_000, 60_000)
    return _plan(
        powers,
        heal_ms=rng.randint(2_000, 6_000),
        delay_ms=(1, rng.randint(20, 200)),
        skews_ms=tuple(skews),
        bad_clocks=bad,
        min_run_ms=6_000,
    )


def _is_gentle_change(old: list[int], new: list[int]) -> bool:
    """The step governance allows (docs/governance.md): the validators that stay hold more than 2/3 of the old
    power, the added power is less than 1/3 of the new total, and some validator is left."""
    old_total, new_total = sum(old), sum(new)
    kept = sum(min(before, after) for before, after in zip(old, new, strict=True))
    added = sum(max(after - before, 0) for before, after in zip(old, new, strict=True))
    return new_total > 0 and 3 * kept > 2 * old_total and 3 * added < new_total


def make_churn(rng: random.Random, n: int) -> FaultPlan:
    """Validators added, removed and re-weighted by scheduled changes during the run, with loss and crashes.

    The last identity starts as an observer and joins; one founding validator leaves (its node runs on as
    an observer) and may come back; powers change. Each change is decided in one block and takes effect
    2 to 4 blocks later; the next may be decided before the previous is in force.
    """
    powers = [rng.randint(1, 3) for _ in range(n - 1)] + [0]
    current = list(powers)
    steps: list[ChurnStep] = []
    height = rng.randint(1, 3)
    removed: int | None = None
    for kind in ("add", "remove", "reweight", "add-back", "reweight"):
        new = list(current)
        members = [index for index, power in enumerate(current) if power > 0]
        if kind == "add":
            new[n - 1] = rng.randint(1, 2)
        elif kind == "remove":
            removed = rng.choice([index for index in members if index != n - 1])
            new[removed] = 0
        elif kind == "reweight":
            index = rng.choice(members)
            new[index] = max(1, new[index] + rng.choice((-1, 1)))
        elif removed is not None:
            new[removed] = 1
        if new == current or not _is_gentle_change(current, new):
            continue
        effective = height + rng.randint(2, 4)
        steps.append(ChurnStep(height, effective, tuple(new)))
        current = new
        height = effective + rng.randint(-1, 2)
    heal_ms = rng.randint(2_000, 6_000)
    return _plan(
        tuple(powers),
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 150)),
        drop_probability=rng.uniform(0.0, 0.1),
        crashes=_random_crashes(rng, n, heal_ms, rng.randint(0, 2)),
        churn=tuple(steps),
        min_run_ms=8_000,
    )


def make_switch(rng: random.Random, n: int) -> FaultPlan:
    """The ordering engine switched by governance and back (Tendermint <-> Raft) mid-run, with loss and crashes.

    Crash faults only (a Raft period tolerates nothing else). Each switch is decided in one block and takes
    effect 2 or 3 blocks later; the second is decided in the first block of the new engine or the next, so
    both fall within the load of a run. Crashes and message loss land around the switches, some crashes
    torn mid-action-list.
    """
    powers = _equal_powers(n)
    first_decided = rng.randint(1, 2)
    first = first_decided + rng.randint(2, 3)
    second_decided = first + rng.randint(0, 1)
    second = second_decided + rng.randint(2, 3)
    heal_ms = rng.randint(2_000, 6_000)
    return _plan(
        powers,
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 150)),
        drop_probability=rng.uniform(0.0, 0.1),
        duplicate_probability=rng.uniform(0.0, 0.05),
        crashes=_random_crashes(rng, n, heal_ms, rng.randint(0, max((n - 1) // 2, 0))),
        churn=(
            ChurnStep(first_decided, first, powers, switches_engine=True),
            ChurnStep(second_decided, second, powers, switches_engine=True),
        ),
        min_run_ms=12_000,
    )


def make_crash_chaos(rng: random.Random, n: int) -> FaultPlan:
    """Every crash fault at once, no Byzantine node: loss, duplication, partitions, crashes (some torn) and skew."""
    heal_ms = rng.randint(4_000, 15_000)
    return _plan(
        _equal_powers(n),
        heal_ms=heal_ms,
        delay_ms=(1, rng.randint(20, 400)),
        drop_probability=rng.uniform(0.0, 0.3),
        duplicate_probability=rng.uniform(0.0, 0.2),
        partitions=_random_partitions(rng, n, heal_ms),
        crashes=_random_crashes(rng, n, heal_ms, rng.randint(0, max(n - 1, 0))),
        skews_ms=_good_skews(rng, n),
    )


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    make_plan: Callable[[random.Random, int], FaultPlan]

    @property
    def description(self) -> str:
        return (self.make_plan.__doc__ or "").strip().splitlines()[0]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("happy", make_happy),
    Scenario("lossy", make_lossy),
    Scenario("partition", make_partition),
    Scenario("crash", make_crash),
    Scenario("skew", make_skew),
    Scenario("twins", make_twins),
    Scenario("invalid", make_invalid),
    Scenario("weighted", make_weighted),
    Scenario("chaos", make_chaos),
    Scenario("time-future", make_time_future),
    Scenario("time-past", make_time_past),
    Scenario("time-frozen", make_time_frozen),
    Scenario("spam", make_spam),
    Scenario("bad-clock", make_bad_clock),
    Scenario("churn", make_churn),
    Scenario("switch", make_switch),
)
BYZANTINE_SCENARIO_NAMES = ("time-future", "time-past", "time-frozen", "spam", "bad-clock")
"""The scenarios of issue 7's Byzantine validators (twins and invalid are older)."""
SCENARIO_NAMES = tuple(scenario.name for scenario in SCENARIOS)
RAFT_SCENARIOS: tuple[Scenario, ...] = (
    *(scenario for scenario in SCENARIOS if scenario.name in ("happy", "lossy", "partition", "crash", "skew")),
    Scenario("crash-chaos", make_crash_chaos),
    Scenario("churn", make_churn),
    Scenario("switch", make_switch),
)
"""Raft tolerates crash faults only: the scenarios without a Byzantine node (seed s runs RAFT_SCENARIOS[s % 8]).
`churn` is Tendermint's plan as it is: Raft ignores powers, so its reweighting steps change nothing but the
parameters' entry, and its add and remove steps change the members (one member, one vote)."""
RAFT_SCENARIO_NAMES = tuple(scenario.name for scenario in RAFT_SCENARIOS)
ALL_SCENARIO_NAMES = tuple(dict.fromkeys(SCENARIO_NAMES + RAFT_SCENARIO_NAMES))


def get_scenario(name: str) -> Scenario:
    for scenario in (*SCENARIOS, *RAFT_SCENARIOS):
        if scenario.name == name:
            return scenario
    raise KeyError(f"unknown scenario {name!r}; choose one of: {', '.join(ALL_SCENARIO_NAMES)}")
