"""The solo orderer driven by a fake node on a simulated clock."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.consensus import (
    SOLO_ROUND,
    TIMER_PROPOSE,
    Action,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    ConsensusEngine,
    Event,
    MessageReceived,
    PrepareProposal,
    ProposalBuilt,
    ScheduleTimer,
    SoloEngine,
    SoloSettings,
    Start,
    TimerFired,
    TransactionsAvailable,
)
from gusu.consensus.solo import Arrivals, compute_proposal_due_ms
from gusu.errors import ConfigError
from gusu.ledger.types import Address, Hash, Height, Round

TX_SIZE = 100


@dataclass(frozen=True, slots=True)
class BlockRecord:
    height: int
    timestamp_ms: int
    transaction_count: int
    proposed_at_ms: int
    pool_at_proposal: int


def block_hash(height: int, timestamp_ms: int) -> Hash:
    return Hash(hashlib.sha256(b"%d/%d" % (height, timestamp_ms)).digest())


class FakeNode:
    """Carries out an engine's actions like gusu.node does, with a clock the test moves.

    Timers follow the node's contract: one per (height, round, kind), a new
    one replacing the pending one. Executing a block takes `block_ms`.
    """

    def __init__(
        self,
        settings: SoloSettings,
        *,
        now_ms: int = 1_000_000,
        tip_height: int = 0,
        tip_time_ms: int = 0,
        block_ms: int = 0,
    ) -> None:
        self.settings = settings
        self.engine: ConsensusEngine = SoloEngine(settings)
        self.now_ms = now_ms
        self.tip_height = tip_height
        self.tip_time_ms = tip_time_ms
        self.block_ms = block_ms
        self.pool = 0
        self.timers: dict[tuple[int, int, str], int] = {}
        self.blocks: list[BlockRecord] = []
        self.prepared: list[PrepareProposal] = []
        self.building: tuple[BuildProposal, Hash, int, int] | None = None
        self.actions: list[Action] = []

    # --- driving -----------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        pending = list(self.engine.on_event(event))
        while pending:
            action = pending.pop(0)
            self.actions.append(action)
            follow_up = self._apply(action)
            if follow_up is not None:
                pending.extend(self.engine.on_event(follow_up))

    def start(self) -> None:
        self.deliver(Start(Height(self.tip_height + 1), self.now_ms, self.tip_time_ms))

    def admit(self, count: int) -> None:
        self.pool += count
        self.deliver(TransactionsAvailable(self.pool, self.pool * TX_SIZE, self.now_ms))

    def advance(self, duration_ms: int) -> None:
        """Move the clock on, firing due timers in order."""
        target = self.now_ms + duration_ms
        while self.timers:
            key, due = min(self.timers.items(), key=lambda item: (item[1], item[0]))
            if due > target:
                break
            del self.timers[key]
            self.now_ms = max(self.now_ms, due)
            self.deliver(TimerFired(Height(key[0]), Round(key[1]), key[2], self.now_ms))
        self.now_ms = target

    # --- carrying out actions -----------------------------------------------------

    def _apply(self, action: Action) -> Event | None:
        if isinstance(action, ScheduleTimer):
            assert action.delay_ms >= 0
            self.timers[(action.height, action.round, action.kind)] = self.now_ms + action.delay_ms
            return None
        if isinstance(action, BuildProposal):
            assert self.building is None, "a second proposal while one is in flight"
            assert action.height == self.tip_height + 1
            assert action.timestamp_ms > self.tip_time_ms
            count = min(self.pool, self.settings.block_transactions_max, self.settings.block_bytes_max // TX_SIZE)
            built_hash = block_hash(action.height, action.timestamp_ms)
            self.building = (action, built_hash, count, self.now_ms)
            return ProposalBuilt(action.height, action.round, built_hash, action.timestamp_ms, count)
        if isinstance(action, CommitBlock):
            assert self.building is not None
            proposal, built_hash, count, proposed_at = self.building
            assert action.block_hash == built_hash and action.height == proposal.height
            assert action.certificate is None
            self.building = None
            pool_at_proposal = self.pool
            self.pool -= count
            self.now_ms += self.block_ms
            self.tip_height = proposal.height
            self.tip_time_ms = proposal.timestamp_ms
            self.blocks.append(
                BlockRecord(proposal.height, proposal.timestamp_ms, count, proposed_at, pool_at_proposal)
            )
            return BlockCommitted(proposal.height, built_hash, self.now_ms, proposal.timestamp_ms)
        if isinstance(action, PrepareProposal):
            assert self.building is None and action.height == self.tip_height + 1
            assert action.timestamp_ms > self.tip_time_ms
            self.prepared.append(action)
            return None
        raise AssertionError(f"solo emitted {action!r}")


SETTINGS = SoloSettings(block_interval_ms=200, block_transactions_max=100, block_bytes_max=1 << 20)


def is_in_flight(engine: SoloEngine) -> bool:
    # A call, not the property, so that mypy does not narrow it between asserts.
    return engine.is_proposal_in_flight


def started(settings: SoloSettings = SETTINGS, **options: int) -> FakeNode:
    node = FakeNode(settings, **options)
    node.start()
    return node


# --- settings ---------------------------------------------------------------------------


def test_default_settings() -> None:
    settings = SoloSettings()
    assert settings.block_interval_ms == 200
    assert settings.block_transactions_max == 5_000
    assert settings.block_bytes_max == 8 * 1024 * 1024
    assert settings.empty_block_interval_ms == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("block_interval_ms", -1),
        ("block_transactions_max", 0),
        ("block_transactions_max", 1_000_000),
        ("block_bytes_max", 0),
        ("block_bytes_max", 1 << 40),
        ("empty_block_interval_ms", -5),
        ("block_interval_ms", True),
    ],
)
def test_invalid_setting_is_named(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=name):
        SoloSettings(**{name: value})  # type: ignore[arg-type]


# --- pacing ---------------------------------------------------------------------------------


def test_nothing_happens_before_start() -> None:
    engine = SoloEngine(SETTINGS)
    assert engine.on_event(TransactionsAvailable(10, 1000, 5)) == []
    assert engine.on_event(TimerFired(Height(1), SOLO_ROUND, TIMER_PROPOSE, 5)) == []
    assert engine.height == 0
    # The pool figures were remembered: the first block goes out on Start.
    assert engine.on_event(Start(Height(1), 1_000, 0)) == [BuildProposal(Height(1), SOLO_ROUND, 1_000)]


def test_first_transaction_after_an_idle_spell_is_proposed_at_once() -> None:
    node = started(tip_time_ms=0)
    node.admit(1)
    assert [block.transaction_count for block in node.blocks] == [1]
    assert node.blocks[0].proposed_at_ms == node.now_ms


def test_block_interval_is_respected() -> None:
    node = started()
    node.admit(1)
    assert len(node.blocks) == 1
    node.advance(50)
    node.admit(3)
    assert len(node.blocks) == 1, "proposed before the interval passed"
    node.advance(149)
    assert len(node.blocks) == 1
    node.advance(1)
    assert [block.transaction_count for block in node.blocks] == [1, 3]
    assert node.blocks[1].proposed_at_ms - node.blocks[0].proposed_at_ms == 200


def test_interval_counts_from_the_start_of_the_previous_proposal() -> None:
    # Execution takes 150 ms, so the next block may start 50 ms after the commit.
    node = started(block_ms=150)
    node.admit(1)
    node.admit(1)
    node.advance(49)
    assert len(node.blocks) == 1
    node.advance(1)
    assert len(node.blocks) == 2
    assert node.blocks[1].proposed_at_ms - node.blocks[0].proposed_at_ms == 200


def test_a_full_pool_is_proposed_at_once() -> None:
    node = started()
    node.admit(1)
    node.advance(10)
    node.admit(SETTINGS.block_transactions_max)
    assert [block.transaction_count for block in node.blocks] == [1, 100]
    assert node.blocks[1].proposed_at_ms == node.now_ms


def test_back_to_back_full_blocks_go_through_a_zero_delay_timer() -> None:
    node = started()
    node.admit(350)
    # The first block is built on admission; the commit then only schedules.
    assert len(node.blocks) == 1
    assert node.timers and min(node.timers.values()) == node.now_ms
    node.advance(0)
    assert [block.transaction_count for block in node.blocks] == [100, 100, 100]
    node.advance(199)
    assert len(node.blocks) == 3
    node.advance(1)
    assert [block.transaction_count for block in node.blocks] == [100, 100, 100, 50]
    assert node.pool == 0


def test_a_pool_full_by_bytes_is_proposed_at_once() -> None:
    settings = SoloSettings(block_interval_ms=200, block_transactions_max=1000, block_bytes_max=50 * TX_SIZE)
    node = started(settings)
    node.admit(1)
    node.advance(10)
    node.admit(60)
    assert [block.transaction_count for block in node.blocks] == [1, 50]


def test_no_empty_blocks_by_default() -> None:
    node = started()
    node.advance(60_000)
    assert node.blocks == []
    assert node.timers == {}
    node.admit(2)
    node.advance(60_000)
    assert [block.transaction_count for block in node.blocks] == [2]


def test_empty_blocks_when_configured() -> None:
    settings = SoloSettings(block_interval_ms=200, block_transactions_max=100, empty_block_interval_ms=1_000)
    node = started(settings, now_ms=10_000, tip_time_ms=10_000)
    node.advance(5_000)
    assert [block.transaction_count for block in node.blocks] == [0] * 5
    starts = [block.proposed_at_ms for block in node.blocks]
    assert all(later - earlier == 1_000 for earlier, later in itertools.pairwise(starts))
    # Transactions still go at the block interval, not the empty one.
    node.admit(1)
    node.advance(200)
    assert node.blocks[-1].transaction_count == 1


def test_timestamps_strictly_increase_even_when_the_clock_lags() -> None:
    # The parent's timestamp is ahead of this machine's clock.
    node = started(now_ms=1_000, tip_time_ms=5_000)
    for _ in range(5):
        node.admit(SETTINGS.block_transactions_max)
        node.advance(0)
    stamps = [block.timestamp_ms for block in node.blocks]
    assert stamps == [5_001, 5_002, 5_003, 5_004, 5_005]
    node.advance(10_000)
    node.admit(1)
    node.advance(200)
    assert node.blocks[-1].timestamp_ms == node.blocks[-1].proposed_at_ms > 5_005


# --- one proposal in flight, stale events --------------------------------------------------


def test_only_one_proposal_in_flight() -> None:
    engine = SoloEngine(SETTINGS)
    assert engine.on_event(Start(Height(1), 1_000, 0)) == []
    first = engine.on_event(TransactionsAvailable(500, 500, 1_000))
    assert first == [BuildProposal(Height(1), SOLO_ROUND, 1_000)]
    assert is_in_flight(engine)
    assert engine.on_event(TransactionsAvailable(900, 900, 1_001)) == []
    assert engine.on_event(TimerFired(Height(1), SOLO_ROUND, TIMER_PROPOSE, 2_000)) == []
    built_hash = block_hash(1, 1_000)
    assert engine.on_event(ProposalBuilt(Height(1), SOLO_ROUND, built_hash, 1_000, 100)) == [
        CommitBlock(Height(1), SOLO_ROUND, built_hash)
    ]
    # A duplicate reply does not commit twice.
    assert engine.on_event(ProposalBuilt(Height(1), SOLO_ROUND, built_hash, 1_000, 100)) == []
    assert is_in_flight(engine)
    after = engine.on_event(BlockCommitted(Height(1), built_hash, 1_010, 1_000))
    assert not is_in_flight(engine)
    assert engine.height == 2
    # 800 left, a full block: proposed through a zero-delay timer.
    assert after == [ScheduleTimer(Height(2), SOLO_ROUND, TIMER_PROPOSE, 0)]


def test_stale_and_foreign_events_are_ignored() -> None:
    node = started()
    node.admit(1)
    engine = node.engine
    assert engine.on_event(TimerFired(Height(1), SOLO_ROUND, TIMER_PROPOSE, node.now_ms + 500)) == []
    assert engine.on_event(TimerFired(Height(2), Round(3), TIMER_PROPOSE, node.now_ms + 500)) == []
    assert engine.on_event(TimerFired(Height(2), SOLO_ROUND, "prevote", node.now_ms + 500)) == []
    assert engine.on_event(ProposalBuilt(Height(2), SOLO_ROUND, block_hash(2, 1), 1, 0)) == []
    assert engine.on_event(BlockCommitted(Height(1), block_hash(1, 1), node.now_ms, 1)) == []
    assert engine.on_event(MessageReceived(Address(bytes(20)), Broadcast("hello"), node.now_ms)) == []


def test_restart_with_start() -> None:
    node = started()
    node.admit(250)
    node.advance(1_000)
    assert node.tip_height == 3
    # A new process: fresh engine, the tip read back from the store.
    node.engine = SoloEngine(SETTINGS)
    node.timers.clear()
    node.pool = 0
    node.advance(50)
    node.start()
    assert node.engine.height == 4
    node.admit(1)
    assert node.blocks[-1].height == 4
    assert node.blocks[-1].timestamp_ms > node.blocks[-2].timestamp_ms


def test_start_aborts_a_proposal_in_flight() -> None:
    engine = SoloEngine(SETTINGS)
    engine.on_event(Start(Height(7), 1_000, 500))
    assert engine.on_event(TransactionsAvailable(1, 100, 1_000)) == [BuildProposal(Height(7), SOLO_ROUND, 1_000)]
    # The node caught up meanwhile (or restarted) and is now at height 9.
    assert engine.on_event(Start(Height(9), 1_100, 800)) == [BuildProposal(Height(9), SOLO_ROUND, 1_100)]
    assert engine.on_event(ProposalBuilt(Height(7), SOLO_ROUND, block_hash(7, 1_000), 1_000, 1)) == []
    reply = engine.on_event(ProposalBuilt(Height(9), SOLO_ROUND, block_hash(9, 1_100), 1_100, 1))
    assert reply == [CommitBlock(Height(9), SOLO_ROUND, block_hash(9, 1_100))]


def test_a_timer_firing_early_is_rescheduled() -> None:
    engine = SoloEngine(SETTINGS)
    engine.on_event(Start(Height(1), 1_000, 0))
    engine.on_event(TransactionsAvailable(1, 100, 1_000))
    engine.on_event(ProposalBuilt(Height(1), SOLO_ROUND, block_hash(1, 1_000), 1_000, 1))
    engine.on_event(BlockCommitted(Height(1), block_hash(1, 1_000), 1_001, 1_000))
    assert engine.on_event(TransactionsAvailable(1, 100, 1_010)) == [
        ScheduleTimer(Height(2), SOLO_ROUND, TIMER_PROPOSE, 190)
    ]
    # The node's timer clock ran a little ahead of the wall clock.
    assert engine.on_event(TimerFired(Height(2), SOLO_ROUND, TIMER_PROPOSE, 1_198)) == [
        ScheduleTimer(Height(2), SOLO_ROUND, TIMER_PROPOSE, 2)
    ]
    assert engine.on_event(TimerFired(Height(2), SOLO_ROUND, TIMER_PROPOSE, 1_200)) == [
        BuildProposal(Height(2), SOLO_ROUND, 1_200)
    ]


# --- gathering a burst (block_gather_ms) ---------------------------------------------------------

GATHER = SoloSettings(block_interval_ms=20, block_transactions_max=100, block_bytes_max=1 << 20, block_gather_ms=5)


def test_gather_is_off_by_default_and_validated() -> None:
    assert SoloSettings().block_gather_ms == 0
    with pytest.raises(ConfigError, match="block_gather_ms"):
        SoloSettings(block_gather_ms=-1)
    with pytest.raises(ConfigError, match="block_gather_ms"):
        SoloSettings(block_gather_ms=3_600_001)


def test_a_burst_goes_in_one_block_once_arrivals_pause() -> None:
    node = started(GATHER)
    first_ms = node.now_ms
    node.admit(1)
    assert node.blocks == [], "the first transaction of a burst waited for no company"
    for _ in range(10):
        node.advance(1)
        node.admit(1)
    node.advance(4)
    assert node.blocks == [], "proposed while transactions were still arriving"
    node.advance(1)
    assert [block.transaction_count for block in node.blocks] == [11]
    assert node.blocks[0].proposed_at_ms == first_ms + 10 + GATHER.block_gather_ms


def test_gathering_ends_an_interval_after_the_first_arrival() -> None:
    node = started(GATHER)
    first_ms = node.now_ms
    node.admit(1)
    for _ in range(30):  # one every 2 ms, never a pause of 5 ms
        node.advance(2)
        node.admit(1)
    assert node.blocks[0].proposed_at_ms == first_ms + GATHER.block_interval_ms
    assert node.blocks[0].transaction_count == 10  # the first, then one every 2 ms until the 18th


def test_a_gather_longer_than_the_interval_bounds_itself() -> None:
    settings = SoloSettings(block_interval_ms=0, block_transactions_max=100, block_gather_ms=8)
    node = started(settings)
    first_ms = node.now_ms
    node.admit(1)
    for _ in range(10):
        node.advance(1)
        node.admit(1)
    assert node.blocks[0].proposed_at_ms == first_ms + 8


def test_a_full_pool_does_not_gather() -> None:
    node = started(GATHER)
    node.admit(GATHER.block_transactions_max)
    assert [block.transaction_count for block in node.blocks] == [100]
    assert node.blocks[0].proposed_at_ms == node.now_ms


def test_what_a_block_had_no_room_for_is_not_gathered_again() -> None:
    settings = SoloSettings(block_interval_ms=20, block_transactions_max=100, block_gather_ms=50)
    node = started(settings)
    node.admit(150)
    assert [block.transaction_count for block in node.blocks] == [100]
    node.advance(20)
    assert [block.transaction_count for block in node.blocks] == [100, 50]
    assert node.blocks[1].proposed_at_ms - node.blocks[0].proposed_at_ms == 20


def test_arrivals_during_a_build_gather_from_their_arrival() -> None:
    node = started(GATHER, block_ms=30)
    node.admit(100)  # full: built at once, committed 30 ms later
    assert len(node.blocks) == 1
    node.advance(40)
    arrived_ms = node.now_ms
    node.admit(1)
    node.advance(4)
    assert len(node.blocks) == 1
    node.advance(1)
    assert len(node.blocks) == 2 and node.blocks[1].proposed_at_ms == arrived_ms + GATHER.block_gather_ms


def test_arrivals_follow_the_pool_reports() -> None:
    arrivals = Arrivals()
    arrivals.on_pool_report(0, 3, 100)
    assert (arrivals.first_ms, arrivals.last_ms) == (100, 100)
    arrivals.on_pool_report(3, 5, 104)
    assert (arrivals.first_ms, arrivals.last_ms) == (100, 104)
    arrivals.on_pool_report(5, 4, 109)  # fewer: a commit or an expiry, not an arrival
    assert (arrivals.first_ms, arrivals.last_ms) == (100, 104)
    arrivals.on_proposal()
    assert arrivals.first_ms is None
    arrivals.on_pool_report(4, 2, 120)  # what the proposal had no room for: no arrival
    assert arrivals.first_ms is None
    arrivals.on_pool_report(2, 3, 125)
    assert arrivals.first_ms == 125
    arrivals.on_pool_report(3, 0, 130)
    assert arrivals.first_ms is None


def test_proposal_due_time_rules() -> None:
    arrivals = Arrivals(first_ms=100, last_ms=110)
    # The quiet time after the last arrival, bounded by the interval after the first.
    assert compute_proposal_due_ms(GATHER, 3, 300, 0, arrivals, 111) == 115
    busy = Arrivals(first_ms=100, last_ms=118)
    assert compute_proposal_due_ms(GATHER, 9, 900, 0, busy, 119) == 120
    # The interval since the previous proposal still holds.
    assert compute_proposal_due_ms(GATHER, 3, 300, 100, arrivals, 111) == 120
    # Without gathering: the interval alone; a full pool: now; nothing waiting: none.
    assert compute_proposal_due_ms(replace(GATHER, block_gather_ms=0), 3, 300, 0, arrivals, 111) == 20
    assert compute_proposal_due_ms(GATHER, 100, 10_000, 100, arrivals, 111) == 111
    assert compute_proposal_due_ms(GATHER, 0, 0, 100, Arrivals(), 111) is None


# --- a seeded simulation ----------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=260)),
        min_size=1,
        max_size=40,
    ),
    interval=st.sampled_from([0, 50, 200]),
    empty_interval=st.sampled_from([0, 0, 700]),
    block_ms=st.integers(min_value=0, max_value=120),
    gather=st.sampled_from([0, 0, 30, 300]),
)
def test_simulation_keeps_every_rule(
    steps: list[tuple[int, int]], interval: int, empty_interval: int, block_ms: int, gather: int
) -> None:
    settings = SoloSettings(
        block_interval_ms=interval,
        block_transactions_max=100,
        empty_block_interval_ms=empty_interval,
        block_gather_ms=gather,
    )
    node = started(settings, block_ms=block_ms)
    for wait_ms, admitted in steps:
        node.advance(wait_ms)
        if admitted:
            node.admit(admitted)
    # Liveness: with no more admissions the pool drains.
    node.advance(max(interval, gather) * 10 + 1_000)
    assert node.pool == 0
    blocks = node.blocks
    assert [block.height for block in blocks] == list(range(1, len(blocks) + 1))
    for earlier, later in itertools.pairwise(blocks):
        assert later.timestamp_ms > earlier.timestamp_ms
        gap = later.proposed_at_ms - earlier.proposed_at_ms
        if later.transaction_count == 0:
            assert empty_interval > 0 and gap >= empty_interval
        elif later.pool_at_proposal < settings.block_transactions_max:
            assert gap >= interval
    if empty_interval == 0:
        assert all(block.transaction_count > 0 for block in blocks)


# --- early execution: PrepareProposal ------------------------------------------------------------

EARLY = replace(SETTINGS, early_execution=True)


def test_without_early_execution_no_block_is_prepared() -> None:
    engine = SoloEngine(SETTINGS)
    engine.on_event(Start(Height(1), 1_000, 1_000))
    actions = engine.on_event(TransactionsAvailable(1, TX_SIZE, 1_050))
    assert not any(isinstance(action, PrepareProposal) for action in actions)


def test_a_prepared_block_is_proposed_with_the_prepared_timestamp() -> None:
    engine = SoloEngine(EARLY)
    assert engine.on_event(Start(Height(1), 1_000, 1_000)) == []
    # The first transaction arrives before the interval passed: the block is prepared now, proposed later.
    first = engine.on_event(TransactionsAvailable(1, TX_SIZE, 1_050))
    assert first == [
        ScheduleTimer(Height(1), SOLO_ROUND, TIMER_PROPOSE, 150),
        PrepareProposal(Height(1), SOLO_ROUND, 1_050),
    ]
    # More arrive: prepared once per height.
    assert engine.on_event(TransactionsAvailable(5, 5 * TX_SIZE, 1_100)) == []
    proposal = engine.on_event(TimerFired(Height(1), SOLO_ROUND, TIMER_PROPOSE, 1_200))
    assert proposal == [BuildProposal(Height(1), SOLO_ROUND, 1_050)]


def _build_first_early_block() -> tuple[SoloEngine, BuildProposal, Hash]:
    """An engine with early execution whose block 1 is built, not yet committed: its proposal and hash."""
    engine = SoloEngine(EARLY)
    engine.on_event(Start(Height(1), 1_000, 1_000))
    engine.on_event(TransactionsAvailable(1, TX_SIZE, 1_050))
    (build,) = engine.on_event(TimerFired(Height(1), SOLO_ROUND, TIMER_PROPOSE, 1_200))
    assert isinstance(build, BuildProposal)
    built = block_hash(1, build.timestamp_ms)
    engine.on_event(ProposalBuilt(Height(1), SOLO_ROUND, built, build.timestamp_ms, 1))
    return engine, build, built


def test_the_next_height_is_prepared_at_the_commit_when_transactions_wait() -> None:
    engine, build, built = _build_first_early_block()
    # Two more arrived while block 1 was built; the clock stepped back below block 1's timestamp.
    engine.on_event(TransactionsAvailable(3, 3 * TX_SIZE, 1_210))
    after = engine.on_event(BlockCommitted(Height(1), built, 1_020, build.timestamp_ms))
    assert isinstance(after[0], ScheduleTimer)
    assert after[1] == PrepareProposal(Height(2), SOLO_ROUND, build.timestamp_ms + 1)
    (proposal,) = engine.on_event(TimerFired(Height(2), SOLO_ROUND, TIMER_PROPOSE, 1_400))
    assert proposal == BuildProposal(Height(2), SOLO_ROUND, build.timestamp_ms + 1)


def test_a_prepared_timestamp_is_forgotten_when_the_pool_empties() -> None:
    engine, build, built = _build_first_early_block()
    engine.on_event(TransactionsAvailable(3, 3 * TX_SIZE, 1_210))
    # Prepared at the commit from the engine's estimate; the pool's report then says the rest expired.
    after = engine.on_event(BlockCommitted(Height(1), built, 1_300, build.timestamp_ms))
    assert PrepareProposal(Height(2), SOLO_ROUND, 1_300) in after
    assert engine.on_event(TransactionsAvailable(0, 0, 1_301)) == []
    # An hour later a transaction: its block is stamped now, not with the forgotten time.
    actions = engine.on_event(TransactionsAvailable(1, TX_SIZE, 3_601_300))
    assert actions == [BuildProposal(Height(2), SOLO_ROUND, 3_601_300)]


def test_a_block_due_at_once_is_not_prepared() -> None:
    engine = SoloEngine(EARLY)
    engine.on_event(Start(Height(1), 1_000, 0))
    # A full pool (or the interval long passed) proposes at once: nothing to execute before.
    assert engine.on_event(TransactionsAvailable(100, 100 * TX_SIZE, 1_000)) == [
        BuildProposal(Height(1), SOLO_ROUND, 1_000)
    ]


def test_an_empty_heartbeat_block_is_not_prepared() -> None:
    engine = SoloEngine(replace(EARLY, empty_block_interval_ms=500))
    actions = engine.on_event(Start(Height(1), 1_000, 1_000))
    assert not any(isinstance(action, PrepareProposal) for action in actions)


def test_a_restart_forgets_the_prepared_timestamp() -> None:
    engine = SoloEngine(EARLY)
    engine.on_event(Start(Height(1), 1_000, 1_000))
    engine.on_event(TransactionsAvailable(1, TX_SIZE, 1_050))
    # Restarted later: the block is proposed at once, stamped with the restart's time, not the forgotten one.
    assert engine.on_event(Start(Height(1), 2_000, 1_000)) == [BuildProposal(Height(1), SOLO_ROUND, 2_000)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 250)), min_size=1, max_size=40))
def test_early_execution_changes_no_block_only_when_it_is_stamped(steps: list[tuple[int, int]]) -> None:
    """The same arrivals make the same blocks (heights, sizes, proposal times) with and without early execution;
    a prepared block's timestamp is never later than its proposal and timestamps strictly increase."""
    runs = []
    runs_prepared = []
    for solo in (SETTINGS, EARLY):
        node = started(solo)
        for count, wait_ms in steps:
            if count:
                node.admit(count)
            node.advance(wait_ms)
        node.advance(2_000)
        runs.append(node.blocks)
        runs_prepared.append(node.prepared)
        early_node = node
    plain, early = runs
    assert [(b.height, b.transaction_count, b.proposed_at_ms) for b in plain] == [
        (b.height, b.transaction_count, b.proposed_at_ms) for b in early
    ]
    for block in early:
        assert block.timestamp_ms <= block.proposed_at_ms
    prepared = {int(action.height): action.timestamp_ms for action in early_node.prepared}
    assert all(prepared.get(block.height, block.timestamp_ms) == block.timestamp_ms for block in early)
    assert not runs_prepared[0]
    stamps = [block.timestamp_ms for block in early]
    assert stamps == sorted(set(stamps))
