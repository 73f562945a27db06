"""The consensus seam's vocabulary: events a node feeds an engine, actions it carries out.

An engine is a pure state machine (`ConsensusEngine.on_event`): it reads no
clock, does no I/O and keeps no threads. Time arrives on events as
``now_ms`` (wall-clock milliseconds); everything the engine wants done comes
back as actions, which the node carries out *in list order*. Solo uses a
subset; the Tendermint-style BFT engine of the next milestone uses all of
them (see docs/consensus.md).

Contract for the node:

* `ScheduleTimer` -- after ``delay_ms`` deliver `TimerFired` with the same
  height, round and kind. A new timer with the same (height, round, kind)
  as a pending one replaces it. Timers of a past height may be cancelled
  or delivered; engines ignore stale ones.
* `BuildProposal` -- select transactions from the pool, execute the block
  on top of the current tip with the given timestamp, keep it (unpersisted)
  and reply `ProposalBuilt`.
* `CommitBlock` -- persist the block called ``block_hash`` atomically with
  its commit certificate, apply it to the mempool (`on_block_committed`)
  and reply `BlockCommitted`. With ``certificate=None`` (solo) the node is
  the only validator and signs the certificate itself; BFT passes the
  certificate it assembled from a quorum of precommits.
* `Broadcast` -- send the message to every peer validator (BFT only).
* `AppendWal` -- append the record to the consensus write-ahead log and
  make it durable (fsync) *before* carrying out any later action of the
  same list, since those may be votes that reveal the recorded state. On
  start the node hands back the records of the heights not yet committed
  in `Start.wal_records`. Solo never emits it.
* `RewriteWal` -- (Raft) replace the WAL with the given records,
  atomically (the old file or the new, never a mix), durable before any
  later action. Raft's WAL outlives heights (term, vote, log), so the node
  must not empty it at a commit as it does Tendermint's.
* `ValidateProposal` -- (BFT) obtain the block called ``block_hash`` (it
  travelled with the proposal, or fetch it from peers), execute it on the
  tip and check it, then reply `ProposalValidated`.
* `SendMessage` -- (BFT) send the message to one peer only (precommits
  for a peer one height behind).
* `ReportEvidence` -- (BFT) a validator signed two conflicting messages:
  log and keep the evidence.

docs/bft.md holds the full node contract of the Tendermint engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from gusu.consensus.validator_set import ValidatorSet
from gusu.ledger.types import Address, CommitCertificate, Hash, Height, Round

TIMER_PROPOSE = "propose"
"""Solo: time to reconsider making a block. BFT adds its own kinds (prevote, precommit...)."""


# --- events: node -> engine ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The node started or finished catching up; `height` is the next height to decide.

    Aborts anything in flight: the node has discarded any block it had built
    but not committed.
    """

    height: Height
    now_ms: int
    last_block_time_ms: int
    """Timestamp of the block at ``height - 1`` (the genesis time at height 1)."""
    wal_records: tuple[bytes, ...] = ()
    """Write-ahead-log records of heights >= `height`, oldest first (BFT; solo writes none)."""
    pool_transaction_count: int | None = None
    """Transactions pending now, if known (a block just imported took some); else the last figure stands."""
    validators: ValidatorSet | None = None
    """The validator set in force at `height` (from the chain configuration schedule in the committed state);
    None: the set the engine already holds (a chain whose set never changes)."""
    next_validators: ValidatorSet | None = None
    """The set in force at ``height + 1`` (whose messages the engine buffers); None: the same as `validators`."""
    engine_settings: object | None = None
    """The engine's settings in force at `height` (Tendermint: a `TendermintSettings` built from the scheduled
    parameters); None: the settings it holds."""
    last_block_round: Round | None = None
    """The round in the certificate of the block at ``height - 1``, if known (Raft: that entry's term)."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    height: Height
    round: Round
    kind: str
    now_ms: int


@dataclass(frozen=True, slots=True)
class TransactionsAvailable:
    """The pool's state after admissions (absolute figures, not increments)."""

    transaction_count: int
    byte_count: int
    now_ms: int


@dataclass(frozen=True, slots=True)
class ProposalBuilt:
    """The node built and executed the block a `BuildProposal` asked for."""

    height: Height
    round: Round
    block_hash: Hash
    timestamp_ms: int
    transaction_count: int


@dataclass(frozen=True, slots=True)
class BlockCommitted:
    """The node persisted block `height` and applied it to the pool."""

    height: Height
    block_hash: Hash
    now_ms: int
    timestamp_ms: int
    """The committed block's own timestamp."""
    validators: ValidatorSet | None = None
    """The set in force at ``height + 1``, the height the engine moves to; None: the next set it knew."""
    next_validators: ValidatorSet | None = None
    """The set in force at ``height + 2``; None: the same as `validators`."""
    engine_settings: object | None = None
    """The engine's settings in force at ``height + 1``; None: the settings it holds."""


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A consensus message from a peer validator (BFT; solo ignores it)."""

    sender: Address
    message: object
    now_ms: int
    """The node's clock when the message arrived: a fresh proposal must be timely against it (PBTS)."""


@dataclass(frozen=True, slots=True)
class ProposalValidated:
    """Reply to `ValidateProposal`: the node executed the block and checked it (BFT).

    With the verdict come two facts of the checked header, meaningful when
    `is_valid`: the engine deals in hashes, and a proposal message's own
    timestamp and proposer are signed but are not part of the block, so the
    engine compares them with the header's before prevoting a fresh proposal.
    """

    height: Height
    round: Round
    block_hash: Hash
    is_valid: bool
    timestamp_ms: int = field(kw_only=True)
    """The header's timestamp."""
    proposer: Address = field(kw_only=True)
    """The header's proposer."""


@dataclass(frozen=True, slots=True)
class PeersChanged:
    """The peer validators this node is connected to now (BFT; solo ignores it).

    Until the first one arrives every validator counts as reachable. A round
    whose proposer is not among them waits only `timeout_propose_unreachable_ms`
    for its proposal: a stopped validator's turns then cost little.
    """

    connected: frozenset[Address]


Event: TypeAlias = (
    Start
    | TimerFired
    | TransactionsAvailable
    | ProposalBuilt
    | BlockCommitted
    | MessageReceived
    | ProposalValidated
    | PeersChanged
)


# --- actions: engine -> node ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleTimer:
    height: Height
    round: Round
    kind: str
    delay_ms: int


@dataclass(frozen=True, slots=True)
class BuildProposal:
    height: Height
    round: Round
    timestamp_ms: int
    """The block's timestamp; strictly greater than its parent's."""


@dataclass(frozen=True, slots=True)
class PrepareProposal:
    """The block of `height` will be proposed with `timestamp_ms` (a later `BuildProposal` carries the same):
    the node may start executing pool transactions for it before that (solo's `early_execution`)."""

    height: Height
    round: Round
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class CommitBlock:
    height: Height
    round: Round
    block_hash: Hash
    certificate: CommitCertificate | None = None
    """None: the node is the sole validator and signs it (solo). BFT: the quorum's precommits."""


@dataclass(frozen=True, slots=True)
class Broadcast:
    message: object


@dataclass(frozen=True, slots=True)
class AppendWal:
    """Persist `record` durably before the actions after it (BFT's locks and votes)."""

    height: Height
    record: bytes


@dataclass(frozen=True, slots=True)
class RewriteWal:
    """Replace the whole WAL with `records`, atomically and durably, before the actions after it (Raft:
    a snapshot of its term, vote and retained log, so the log does not grow without end)."""

    records: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ValidateProposal:
    """Execute and check the block `block_hash` proposed for `height`, then reply `ProposalValidated` (BFT).

    The verdict must depend only on the block and the committed chain (the
    engine caches it per block hash); a node that cannot get the block yet
    answers later, or never, rather than calling it invalid. The engine waits
    for the verdict on the round's proposal up to one more propose timeout
    past the first, then prevotes nil.
    """

    height: Height
    round: Round
    block_hash: Hash


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send `message` to the peer `recipient` only (BFT)."""

    recipient: Address
    message: object


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    """A validator equivocated; `evidence` holds both signed messages (BFT)."""

    evidence: object


Action: TypeAlias = (
    ScheduleTimer
    | BuildProposal
    | PrepareProposal
    | CommitBlock
    | Broadcast
    | AppendWal
    | RewriteWal
    | ValidateProposal
    | SendMessage
    | ReportEvidence
)
