"""The solo orderer: one node decides every block, paced by the pool and a block interval.

Solo is a `ConsensusEngine` like BFT will be, so the node drives both the
same way. Its rules:

* at most one proposal is in flight: `BuildProposal`, then on
  `ProposalBuilt` a `CommitBlock`, then on `BlockCommitted` the next height;
* a block is proposed when the pool holds transactions and
  `block_interval_ms` has passed since the previous proposal started, or at
  once when the pool holds a full block (`block_transactions_max`
  transactions or `block_bytes_max` bytes) so throughput is not capped by
  the interval under load;
* with `block_gather_ms` > 0 (a node setting, default 0), a block also
  waits while transactions keep arriving: until none has arrived for
  `block_gather_ms`, and at most `max(block_interval_ms, block_gather_ms)`
  after the first one no proposal has taken yet. Transactions that clients
  send together (a burst once they saw the last block) then go in one block,
  instead of the first of them alone and the rest an interval later. A full
  pool still proposes at once, and transactions a block had no room for
  are paced by the interval alone, so they gather no longer;
* an empty pool makes no block, unless `empty_block_interval_ms` > 0, in
  which case an empty block is made once that long has passed since the
  previous proposal started (a heartbeat for clients watching heights);
* a block's timestamp is ``max(now_ms, parent timestamp + 1)``, so
  timestamps strictly increase even if the wall clock steps back. With
  `early_execution` (a node setting, default on in the node's config), "now"
  is when the block was first expected: once the previous block committed,
  the first time the pool holds transactions, the engine emits
  `PrepareProposal` with that timestamp, and the later `BuildProposal` of the
  height carries the same one; the node meanwhile executes the pool's
  transactions into the block as they arrive (`gusu.node.early`), so less is
  left to do when the proposal is due.

Solo commits whatever block the node built, even one that came out empty
(for instance when every pending transaction is too large for a block):
committing moves the height on, which is what eventually expires such
transactions, whereas refusing would wedge the chain.

The pool's state reaches the engine on `TransactionsAvailable` after
admissions. A commit removes the block's transactions from the pool, so on
`BlockCommitted` the engine subtracts the count it learned from
`ProposalBuilt` (and scales the byte figure down in proportion); any later
`TransactionsAvailable` replaces the estimate. The estimate can only be
high (expired transactions are dropped at the same commit), which at worst
makes one block smaller than it could have been.

After a commit the engine never emits the next `BuildProposal` in the same
call, even when one is due at once: it schedules a timer (of 0 ms if need
be), so a node that carries out actions synchronously gets back to its
event loop and serves admissions and queries between back-to-back blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gusu.codec import ENCODED_BYTES_MAX
from gusu.consensus.engine import ConsensusEngine
from gusu.consensus.events import (
    TIMER_PROPOSE,
    Action,
    BlockCommitted,
    BuildProposal,
    CommitBlock,
    Event,
    PrepareProposal,
    ProposalBuilt,
    ScheduleTimer,
    Start,
    TimerFired,
    TransactionsAvailable,
)
from gusu.ledger.types import BLOCK_TRANSACTIONS_MAX, Hash, Height, Round
from gusu.settings import validate_int_setting

SOLO_ROUND = Round(0)
"""Solo decides every height in its first round."""

INTERVAL_MS_LIMIT = 3_600_000
BLOCK_BYTES_LIMIT = ENCODED_BYTES_MAX // 2
"""Half the codec's limit, leaving ample room for the block's own encoding overhead."""


def _check_setting(name: str, value: int, low: int, high: int) -> None:
    validate_int_setting("consensus", name, value, low, high)


@dataclass(frozen=True, slots=True)
class SoloSettings:
    """The ``[consensus]`` section for the solo orderer."""

    block_interval_ms: int = 200
    """Least time between the starts of two proposals, unless the pool holds a full block."""
    block_transactions_max: int = 5_000
    block_bytes_max: int = 8 * 1024 * 1024
    """Sum of the encoded transactions of a block; keep it >= mempool.transaction_bytes_max."""
    empty_block_interval_ms: int = 0
    """0: never make empty blocks; otherwise make one when the pool stays empty this long."""
    block_gather_ms: int = 0
    """A proposal waits until no transaction has arrived for this long (at most `max(block_interval_ms,
    block_gather_ms)` after the first it takes arrived), unless the pool holds a full block (module docstring);
    0 proposes as soon as `block_interval_ms` allows."""

    early_execution: bool = False
    """Emit `PrepareProposal` when a height's block is first expected, and propose it with that timestamp."""

    def __post_init__(self) -> None:
        _check_setting("block_interval_ms", self.block_interval_ms, 0, INTERVAL_MS_LIMIT)
        _check_setting("block_gather_ms", self.block_gather_ms, 0, INTERVAL_MS_LIMIT)
        _check_setting("block_transactions_max", self.block_transactions_max, 1, BLOCK_TRANSACTIONS_MAX)
        _check_setting("block_bytes_max", self.block_bytes_max, 1, BLOCK_BYTES_LIMIT)
        _check_setting("empty_block_interval_ms", self.empty_block_interval_ms, 0, INTERVAL_MS_LIMIT)


@dataclass(slots=True)
class Arrivals:
    """What the pool's reports tell of the transactions no proposal has taken yet, for `block_gather_ms`."""

    first_ms: int | None = None
    """When the first of them arrived; None when the engine knows of none."""
    last_ms: int = 0
    """When the pool last reported more transactions than before."""

    def on_pool_report(self, previous_count: int, transaction_count: int, now_ms: int) -> None:
        """The pool reported `transaction_count` where the engine knew `previous_count`: after admissions (more:
        they arrived now) or a commit (fewer)."""
        if transaction_count == 0:
            self.first_ms = None
        elif transaction_count > previous_count:
            self.last_ms = now_ms
            if self.first_ms is None:
                self.first_ms = now_ms

    def on_proposal(self) -> None:
        """A proposal takes what waits. What it has no room for is still there at the next report, which shows
        fewer transactions (no arrival): only `block_interval_ms` paces it then, it gathers no longer."""
        self.first_ms = None


def compute_proposal_due_ms(
    settings: SoloSettings,
    pool_transaction_count: int,
    pool_byte_count: int,
    last_proposal_ms: int,
    arrivals: Arrivals,
    now_ms: int,
) -> int | None:
    """When the next proposal should start, or None if no block is wanted (the module docstring's rules; Raft's
    leader paces its blocks by them too)."""
    if pool_transaction_count > 0:
        if pool_transaction_count >= settings.block_transactions_max or pool_byte_count >= settings.block_bytes_max:
            return now_ms
        due_ms = last_proposal_ms + settings.block_interval_ms
        gather_ms = settings.block_gather_ms
        if gather_ms > 0 and arrivals.first_ms is not None:
            quiet_ms = max(arrivals.first_ms, arrivals.last_ms) + gather_ms
            cap_ms = arrivals.first_ms + max(settings.block_interval_ms, gather_ms)
            due_ms = max(due_ms, min(quiet_ms, cap_ms))
        return due_ms
    if settings.empty_block_interval_ms > 0:
        return last_proposal_ms + settings.empty_block_interval_ms
    return None


class _Phase(Enum):
    STOPPED = "stopped"
    """Before the first `Start`: every other event is ignored."""
    IDLE = "idle"
    BUILDING = "building"
    """`BuildProposal` emitted, waiting for `ProposalBuilt`."""
    COMMITTING = "committing"
    """`CommitBlock` emitted, waiting for `BlockCommitted`."""


class SoloEngine(ConsensusEngine):
    """The single-node orderer (see the module docstring for its rules)."""

    name = "solo"

    def __init__(self, settings: SoloSettings) -> None:
        self._settings = settings
        self._phase = _Phase.STOPPED
        self._height = Height(0)
        self._last_block_time_ms = 0
        self._last_proposal_ms = 0
        """When the latest proposal started: both intervals count from here."""
        self._pool_transaction_count = 0
        self._pool_byte_count = 0
        self._timer_due_ms: int | None = None
        """Due time of the pending propose timer of this height, if any."""
        self._proposal_hash: Hash | None = None
        self._proposal_transaction_count = 0
        self._arrivals = Arrivals()
        self._prepared_timestamp_ms: int | None = None
        """This height's block's timestamp once `PrepareProposal` announced it."""

    # --- introspection ----------------------------------------------------------------

    @property
    def settings(self) -> SoloSettings:
        return self._settings

    @property
    def height(self) -> Height:
        """The next height to decide (0 before `Start`)."""
        return self._height

    @property
    def is_proposal_in_flight(self) -> bool:
        return self._phase in (_Phase.BUILDING, _Phase.COMMITTING)

    # --- the entry point ------------------------------------------------------------------

    def on_event(self, event: Event) -> list[Action]:
        if isinstance(event, Start):
            return self._on_start(event)
        if isinstance(event, TransactionsAvailable):
            # Remembered even before Start (the figures are absolute); acted on once idle.
            return self._on_transactions_available(event)
        if self._phase is _Phase.STOPPED:
            return []
        if isinstance(event, TimerFired):
            return self._on_timer_fired(event)
        if isinstance(event, ProposalBuilt):
            return self._on_proposal_built(event)
        if isinstance(event, BlockCommitted):
            return self._on_block_committed(event)
        # MessageReceived: a single node has no peers to hear from.
        return []

    # --- handlers ---------------------------------------------------------------------------

    def _on_start(self, event: Start) -> list[Action]:
        self._phase = _Phase.IDLE
        self._height = event.height
        self._last_block_time_ms = event.last_block_time_ms
        # Counting the first interval from the last block's time (when the
        # previous run proposed it) keeps the pace across restarts; the min
        # keeps a clock that stepped back from stalling the chain.
        self._last_proposal_ms = min(event.last_block_time_ms, event.now_ms)
        self._timer_due_ms = None
        self._proposal_hash = None
        self._proposal_transaction_count = 0
        self._arrivals = Arrivals()
        self._prepared_timestamp_ms = None
        self._arrivals.on_pool_report(0, self._pool_transaction_count, event.now_ms)
        return self._on_idle(event.now_ms)

    def _on_transactions_available(self, event: TransactionsAvailable) -> list[Action]:
        previous = self._pool_transaction_count
        self._pool_transaction_count = max(event.transaction_count, 0)
        self._pool_byte_count = max(event.byte_count, 0)
        self._arrivals.on_pool_report(previous, self._pool_transaction_count, event.now_ms)
        if self._phase is not _Phase.IDLE:
            return []
        return self._on_idle(event.now_ms)

    def _on_timer_fired(self, event: TimerFired) -> list[Action]:
        if event.height != self._height or event.round != SOLO_ROUND or event.kind != TIMER_PROPOSE:
            return []
        # The node keeps one timer per (height, round, kind), and it just
        # fired. Forgetting it even when it fired a little early (the node's
        # timer clock is not the wall clock) lets `_on_idle` schedule anew.
        self._timer_due_ms = None
        if self._phase is not _Phase.IDLE:
            return []
        return self._on_idle(event.now_ms)

    def _on_proposal_built(self, event: ProposalBuilt) -> list[Action]:
        if self._phase is not _Phase.BUILDING or event.height != self._height or event.round != SOLO_ROUND:
            return []
        self._phase = _Phase.COMMITTING
        self._proposal_hash = event.block_hash
        self._proposal_transaction_count = event.transaction_count
        return [CommitBlock(self._height, SOLO_ROUND, event.block_hash)]

    def _on_block_committed(self, event: BlockCommitted) -> list[Action]:
        if event.height < self._height:
            return []
        if event.height == self._height and event.block_hash == self._proposal_hash:
            self._forget_committed(self._proposal_transaction_count)
        self._phase = _Phase.IDLE
        self._height = Height(event.height + 1)
        self._last_block_time_ms = event.timestamp_ms
        self._timer_due_ms = None
        self._proposal_hash = None
        self._proposal_transaction_count = 0
        self._prepared_timestamp_ms = None
        due = self._compute_due_ms(event.now_ms)
        if due is None:
            return []
        return self._ensure_timer(event.now_ms, max(due, event.now_ms)) + self._prepare(event.now_ms)

    # --- decisions ----------------------------------------------------------------------------

    def _on_idle(self, now_ms: int) -> list[Action]:
        due = self._compute_due_ms(now_ms)
        if due is None:
            self._prepared_timestamp_ms = None  # no block wanted after all (the pool emptied): stamp it anew
            return []
        if due <= now_ms:
            return [self._propose(now_ms)]
        # The timer first: the prepared block is only a hint, whatever becomes of it the proposal must come.
        return self._ensure_timer(now_ms, due) + self._prepare(now_ms)

    def _prepare(self, now_ms: int) -> list[Action]:
        """`PrepareProposal` the first time this height's block is expected, with early execution."""
        if not self._settings.early_execution or self._prepared_timestamp_ms is not None:
            return []
        if self._pool_transaction_count == 0:
            return []  # an empty block (empty_block_interval_ms) has nothing to execute early
        timestamp_ms = max(now_ms, self._last_block_time_ms + 1)
        self._prepared_timestamp_ms = timestamp_ms
        return [PrepareProposal(self._height, SOLO_ROUND, timestamp_ms)]

    def _compute_due_ms(self, now_ms: int) -> int | None:
        """When the next proposal should start, or None if no block is wanted."""
        return compute_proposal_due_ms(
            self._settings,
            self._pool_transaction_count,
            self._pool_byte_count,
            self._last_proposal_ms,
            self._arrivals,
            now_ms,
        )

    def _propose(self, now_ms: int) -> BuildProposal:
        self._phase = _Phase.BUILDING
        self._last_proposal_ms = now_ms
        self._arrivals.on_proposal()
        timestamp_ms = self._prepared_timestamp_ms
        if timestamp_ms is None:
            timestamp_ms = max(now_ms, self._last_block_time_ms + 1)
        self._prepared_timestamp_ms = None
        return BuildProposal(self._height, SOLO_ROUND, timestamp_ms)

    def _ensure_timer(self, now_ms: int, due_ms: int) -> list[Action]:
        # One pending timer per height: an earlier one will fire and
        # re-decide, so only a sooner deadline needs a new timer.
        if self._timer_due_ms is not None and self._timer_due_ms <= due_ms:
            return []
        self._timer_due_ms = due_ms
        return [ScheduleTimer(self._height, SOLO_ROUND, TIMER_PROPOSE, due_ms - now_ms)]

    def _forget_committed(self, transaction_count: int) -> None:
        before = self._pool_transaction_count
        after = max(before - transaction_count, 0)
        self._pool_byte_count = 0 if after == 0 else self._pool_byte_count * after // before
        self._pool_transaction_count = after
        self._arrivals.on_pool_report(before, after, self._last_proposal_ms)  # fewer: no arrival
