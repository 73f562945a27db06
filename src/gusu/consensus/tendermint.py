"""The Tendermint BFT engine: Algorithm 1 of Buchman, Kwon and Milosevic (arXiv 1807.04938).

The engine is a pure, deterministic state machine behind the same seam as
solo (`ConsensusEngine.on_event`): events in, actions out, no clock, I/O,
threads or randomness. Signing goes through an injected `Signer` whose
result the engine only copies into messages, so a randomized signature
(SM2) cannot change a decision and the seeded simulator runs this very
code.

Per height the engine runs rounds of three steps (propose, prevote,
precommit) and follows the paper's rules; the line numbers below are
Algorithm 1's:

* StartRound (l. 11): the round's proposer (`ValidatorSet.get_proposer`)
  proposes its valid value if it has one, otherwise asks the node to build
  a block (`BuildProposal`); everyone schedules the propose timeout;
* l. 22 / l. 28: on the proposer's proposal (with no proof of lock, or
  with more than 2/3 prevotes for it in its ``pol_round``) prevote it if it
  is valid and the lock allows, otherwise prevote nil;
* l. 34: more than 2/3 prevotes for anything: schedule the prevote timeout;
* l. 36: the proposal and more than 2/3 prevotes for it, and it is valid:
  lock on it and precommit it (if still in the prevote step), and make it
  the valid value;
* l. 44: more than 2/3 prevotes for nil: precommit nil;
* l. 47: more than 2/3 precommits for anything: schedule the precommit
  timeout;
* l. 49: more than 2/3 precommits for one valid block in some round:
  decide it (`CommitBlock` with the certificate made of those precommits);
* l. 55: messages from more than 1/3 of the power in a higher round: skip
  to that round;
* l. 57-65: the timeouts, which grow linearly with the round; a proposal
  that has arrived but is still being checked when the propose timeout
  fires gets one more (`_is_checking_proposal`).

"More than 2/3" and "more than 1/3" are always voting power, never counts
(`ValidatorSet.is_quorum`, `is_one_third_plus`).

Validity is the node's: the engine deals in block hashes, asks
`ValidateProposal` once per hash and caches the verdict. One extension to
the paper: a block with more than 2/3 precommits is committed once the node
has validated it even if its proposal message never arrived (the node
fetches the body by hash), so a lost proposal cannot stall a node that the
rest of the network has already outvoted.

Around the algorithm, what a real network needs:

* **no double signing**: every message the engine signs is recorded per
  (height, round, kind); it never signs a different one for the same key,
  and `AppendWal` precedes every `Broadcast` of a signed message, so the
  record survives a crash (see `gusu.consensus.tendermint_wal`);
* **bounded bookkeeping**: messages of other heights are dropped, except a
  bounded buffer for the next height; rounds more than
  `rounds_ahead_max` ahead are ignored; each validator counts once per
  (round, kind), and a second, different message is kept as equivocation
  evidence (`ReportEvidence`);
* **retransmission**: the paper assumes gossip that eventually delivers
  every message; over a lossy transport the engine re-sends its own
  messages of the current round every `rebroadcast_interval_ms`, with the
  prevotes that justify a re-proposed valid value;
* **one height behind**: a peer still voting on the previous height is
  sent the precommits of that height's certificate (`SendMessage`), which
  is all it needs to commit; further behind is block sync, in the node;
* **pacing**: after a commit the next height starts `timeout_commit_ms`
  later, or at once when a full block's worth of transactions is pending
  (`full_block_transactions`);
* **no empty blocks** (`wait_for_transactions`, CometBFT's
  ``create_empty_blocks = false``): round 0 of a height starts only once
  the node's pool holds transactions (`TransactionsAvailable`), a peer's
  message of the height arrives (some other node started it), or
  `empty_block_interval_ms` has passed since the last block. Only the
  moment StartRound(0) runs changes, which the paper leaves to the
  implementation, so safety is untouched; liveness holds because a node
  holding transactions starts the height and its messages wake the rest;
* **block time** is proposer-based (CometBFT's PBTS): a proposer stamps a
  fresh block with its own clock (at least the parent's time + 1), and a
  validator prevotes a fresh proposal only if it was *timely* when it
  arrived (`is_timely`, `_is_acceptable_fresh_proposal`): within
  `block_time_precision_ms` of the receiver's clock on the future side and
  `block_time_message_delay_ms` (growing 10 % per round) more on the past
  side, with the proposal message's time and proposer equal to the
  header's. A re-proposal with a proof of lock keeps its block's time and
  is exempt: more than 2/3 already found it timely. So a committed block's
  time lies near the clocks of correct validators whatever a faulty
  proposer writes. Votes are stamped with the clock, after the block's
  time, and never past `TIMESTAMP_MS_MAX`. The engine's clock is the latest
  ``now_ms`` an event carried.

A node with ``own_address=None`` (or an address outside the set) follows
consensus and commits blocks but never signs or proposes.

**Validator-set changes.** The set is the one in force at the height being
decided. The driver hands it in: `Start` and `BlockCommitted` carry the set
of the height the engine moves to and of the one after (read from the chain
configuration schedule in the committed state; changes are decided two
blocks ahead, so both are known), and the engine settings of the new height
when governance changed its timeouts. Quorums, proposers (`ValidatorSet`, with
its own effective height) and this node's right to sign are those of the
current height's set; next-height messages are buffered only from members of
the next height's set. A validator removed at a height neither signs nor
proposes there, and one added starts to at its first height.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum, IntEnum

from gusu.consensus.certificate import assemble_commit_certificate, get_certificate_precommits
from gusu.consensus.engine import ConsensusEngine
from gusu.consensus.events import (
    TIMER_PROPOSE,
    Action,
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    Event,
    MessageReceived,
    PeersChanged,
    ProposalBuilt,
    ProposalValidated,
    ReportEvidence,
    ScheduleTimer,
    SendMessage,
    Start,
    TimerFired,
    TransactionsAvailable,
    ValidateProposal,
)
from gusu.consensus.messages import (
    NO_ROUND,
    ROUND_MAX,
    TIMESTAMP_MS_MAX,
    Equivocation,
    Message,
    Proposal,
    Signer,
    Vote,
    VoteKind,
    encode_signing_bytes,
    get_signer_address,
)
from gusu.consensus.tendermint_wal import (
    WalKind,
    WalRecord,
    decode_wal_record,
    encode_wal_record,
    make_lock_record,
    make_message_record,
    make_round_record,
)
from gusu.consensus.validator_set import ValidatorSet
from gusu.errors import CodecError, ConfigError
from gusu.ledger.types import Address, CommitCertificate, Hash, Height, Round
from gusu.settings import validate_int_setting

TIMER_PREVOTE = "prevote"
TIMER_PRECOMMIT = "precommit"
TIMER_COMMIT = "commit"
"""After a commit: start round 0 of the next height."""
TIMER_REBROADCAST = "rebroadcast"
TIMER_EMPTY_BLOCK = "empty-block"
"""While idle (`wait_for_transactions`): start the height even without transactions."""

TIMEOUT_MS_LIMIT = 3_600_000
ROUNDS_AHEAD_LIMIT = 10_000
FUTURE_MESSAGES_LIMIT = 1_000_000
BLOCK_TIME_MS_LIMIT = 86_400_000
"""Precision and message delay above a day would not bound block time in any useful way."""
MESSAGE_DELAY_GROWTH_ROUNDS_MAX = 200
"""The timely predicate's message delay stops growing after this many rounds (1.1^200 is about 2·10^8)."""
HELD_VOTES_MAX = 4
"""Conflicting votes per validator, round and kind kept until their value gets a first vote (see `_Tally`)."""

MessageVerifier = Callable[[Message], bool]


def _check_setting(name: str, value: int, low: int, high: int) -> None:
    validate_int_setting("consensus", name, value, low, high)


@dataclass(frozen=True, slots=True)
class TendermintSettings:
    """The ``[consensus]`` section for the Tendermint engine (every validator should use the same timeouts)."""

    timeout_propose_ms: int = 3000
    """How long to wait for the round's proposal before prevoting nil (round 0)."""
    timeout_propose_delta_ms: int = 500
    """Added to the propose timeout per round."""
    timeout_propose_unreachable_ms: int = 200
    """The propose timeout instead, when the round's proposer is not connected to us (`PeersChanged`)."""
    timeout_prevote_ms: int = 1000
    """After more than 2/3 prevotes for different things: how long to wait before precommitting nil."""
    timeout_prevote_delta_ms: int = 500
    timeout_precommit_ms: int = 1000
    """After more than 2/3 precommits for different things: how long to wait before the next round."""
    timeout_precommit_delta_ms: int = 500
    timeout_commit_ms: int = 1000
    """After a commit: how long before the next height starts (the block interval when all is well)."""
    rebroadcast_interval_ms: int = 1000
    """How often the engine re-sends its own messages of a round that has not ended."""
    rounds_ahead_max: int = 100
    """Messages more than this many rounds ahead of the current one are ignored."""
    future_messages_max: int = 10_000
    """Messages for the next height kept until it starts, in all; more are dropped."""
    future_messages_per_validator_max: int = 32
    """Of those, at most this many signed by one validator (and one per round and kind): one validator's
    flood of next-height messages crowds out only its own."""
    block_time_precision_ms: int = 500
    """PBTS ``PRECISION``: how far apart two correct validators' clocks may be. A fresh proposal stamped more
    than this after the receiver's clock at its arrival is not timely."""
    block_time_message_delay_ms: int = 3000
    """PBTS ``MSGDELAY``: how long a proposal may take from the proposer's clock reading (building included) to
    a validator. A fresh proposal stamped more than this plus the precision before its arrival is not timely.
    Grows 10 % per round (as CometBFT does), so a value set too small costs rounds, not liveness."""
    evidence_max: int = 1_000
    """Equivocation evidence kept in memory (each piece is also reported once)."""
    wait_for_transactions: bool = False
    """Start a height only when transactions are pending or a peer started it: no empty blocks."""
    empty_block_interval_ms: int = 0
    """With `wait_for_transactions`: make a block anyway this long after the last commit (0: never)."""
    full_block_transactions: int = 0
    """With this many transactions pending after a commit, start the next height at once instead of
    after `timeout_commit_ms`: waiting cannot make the next block bigger (0: always wait)."""

    def __post_init__(self) -> None:
        for name in (
            "timeout_propose_ms",
            "timeout_propose_unreachable_ms",
            "timeout_prevote_ms",
            "timeout_precommit_ms",
            "rebroadcast_interval_ms",
        ):
            _check_setting(name, getattr(self, name), 1, TIMEOUT_MS_LIMIT)
        for name in (
            "timeout_propose_delta_ms",
            "timeout_prevote_delta_ms",
            "timeout_precommit_delta_ms",
            "timeout_commit_ms",
            "empty_block_interval_ms",
        ):
            _check_setting(name, getattr(self, name), 0, TIMEOUT_MS_LIMIT)
        _check_setting("rounds_ahead_max", self.rounds_ahead_max, 1, ROUNDS_AHEAD_LIMIT)
        _check_setting("future_messages_max", self.future_messages_max, 0, FUTURE_MESSAGES_LIMIT)
        _check_setting("evidence_max", self.evidence_max, 0, FUTURE_MESSAGES_LIMIT)
        _check_setting("full_block_transactions", self.full_block_transactions, 0, FUTURE_MESSAGES_LIMIT)
        _check_setting(
            "future_messages_per_validator_max", self.future_messages_per_validator_max, 0, FUTURE_MESSAGES_LIMIT
        )
        _check_setting("block_time_precision_ms", self.block_time_precision_ms, 0, BLOCK_TIME_MS_LIMIT)
        _check_setting("block_time_message_delay_ms", self.block_time_message_delay_ms, 1, BLOCK_TIME_MS_LIMIT)

    def get_timeout_propose_ms(self, round_: Round) -> int:
        return self.timeout_propose_ms + round_ * self.timeout_propose_delta_ms

    def get_timeout_prevote_ms(self, round_: Round) -> int:
        return self.timeout_prevote_ms + round_ * self.timeout_prevote_delta_ms

    def get_timeout_precommit_ms(self, round_: Round) -> int:
        return self.timeout_precommit_ms + round_ * self.timeout_precommit_delta_ms

    def get_block_time_message_delay_ms(self, round_: Round) -> int:
        """PBTS's message delay in `round_`: 10 % more per round, so a too small setting heals itself."""
        rounds = min(max(int(round_), 0), MESSAGE_DELAY_GROWTH_ROUNDS_MAX)
        delay_ms: int = self.block_time_message_delay_ms * 11**rounds // 10**rounds
        return min(delay_ms, TIMESTAMP_MS_MAX)


def is_timely(timestamp_ms: int, received_ms: int, precision_ms: int, message_delay_ms: int) -> bool:
    """PBTS's timely predicate: a proposal stamped `timestamp_ms` that arrived at `received_ms` (receiver's clock).

    ``received - PRECISION - MSGDELAY <= timestamp <= received + PRECISION``:
    a correct proposer's clock is within PRECISION of ours, and its proposal
    took at most MSGDELAY to arrive.
    """
    return received_ms - precision_ms - message_delay_ms <= timestamp_ms <= received_ms + precision_ms


@dataclass(frozen=True, slots=True)
class BlockFacts:
    """What the node reported of a block's header with its verdict (`ProposalValidated`, `ProposalBuilt`)."""

    timestamp_ms: int
    proposer: Address


class Step(IntEnum):
    """A round's steps, ordered as in the paper (``step >= prevote``)."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2


class Phase(Enum):
    STOPPED = "stopped"
    """Before `Start`: every other event is ignored."""
    WAITING = "waiting"
    """The previous height committed; round 0 starts when the commit timer fires."""
    IDLE = "idle"
    """`wait_for_transactions`: round 0 starts when transactions or a peer's message of the height arrive."""
    RUNNING = "running"
    DECIDED = "decided"
    """`CommitBlock` emitted; waiting for `BlockCommitted`."""


_SIGNED_PROPOSAL = "proposal"
_SIGNED_PREVOTE = "prevote"
_SIGNED_PRECOMMIT = "precommit"


def _get_signed_kind(message: Message) -> str:
    if isinstance(message, Proposal):
        return _SIGNED_PROPOSAL
    return _SIGNED_PREVOTE if message.kind is VoteKind.PREVOTE else _SIGNED_PRECOMMIT


class _Tally:
    """The votes of one kind in one round, counted per value as the paper's message log counts them.

    A validator's first vote counts toward the total (for "more than 2/3
    of anything") and toward its value. An equivocator's further votes
    count toward their own values too: some honest node may have counted
    exactly that vote into a quorum, and refusing it here could leave this
    node unable ever to check that quorum (a proof of lock), which would
    cost liveness. Safety does not suffer, as the quorum-intersection
    argument already lets faulty validators count on every side.

    To stay bounded, a conflicting vote counts only for nil or for a value
    some validator voted for first; others wait in a small holding area
    (`HELD_VOTES_MAX` per validator) until such a vote arrives. Each
    validator thus counts for at most one value per other validator's
    first vote, plus nil.
    """

    __slots__ = ("first", "first_values", "held", "power", "power_by_value", "voters_by_value")

    def __init__(self) -> None:
        self.first: dict[Address, Vote] = {}
        self.first_values: set[Hash | None] = set()
        self.voters_by_value: dict[Hash | None, dict[Address, Vote]] = {}
        self.power_by_value: dict[Hash | None, int] = {}
        self.power = 0
        """Power of the distinct validators that voted at all."""
        self.held: dict[Address, list[Vote]] = {}

    def add(self, vote: Vote, get_power: Callable[[Address], int]) -> tuple[list[Vote], Vote | None]:
        """Take `vote`; the votes that now count (it, and any it released), and the earlier vote it conflicts with."""
        existing = self.first.get(vote.validator)
        if existing is None:
            self.first[vote.validator] = vote
            self.power += get_power(vote.validator)
            counted = [vote] if self._count(vote, get_power) else []
            if vote.block_hash not in self.first_values:
                self.first_values.add(vote.block_hash)
                counted.extend(self._release(vote.block_hash, get_power))
            return counted, None
        if existing.block_hash == vote.block_hash:
            return [], None  # a duplicate
        if vote.block_hash is None or vote.block_hash in self.first_values:
            return ([vote] if self._count(vote, get_power) else []), existing
        held = self.held.setdefault(vote.validator, [])
        if len(held) < HELD_VOTES_MAX and all(item.block_hash != vote.block_hash for item in held):
            held.append(vote)
        return [], existing

    def get_votes_for(self, value: Hash | None) -> list[Vote]:
        return list(self.voters_by_value.get(value, {}).values())

    def _count(self, vote: Vote, get_power: Callable[[Address], int]) -> bool:
        voters = self.voters_by_value.setdefault(vote.block_hash, {})
        if vote.validator in voters:
            return False
        voters[vote.validator] = vote
        self.power_by_value[vote.block_hash] = self.power_by_value.get(vote.block_hash, 0) + get_power(vote.validator)
        return True

    def _release(self, value: Hash | None, get_power: Callable[[Address], int]) -> list[Vote]:
        released = []
        for validator, held in self.held.items():
            keep = []
            for vote in held:
                if vote.block_hash != value:
                    keep.append(vote)
                elif self._count(vote, get_power):
                    released.append(vote)
            self.held[validator] = keep
        return released


class _HeightLog:
    """Everything received at the current height (the paper's message log), plus the rules' bookkeeping."""

    __slots__ = (
        "block_facts",
        "locked_rounds_done",
        "precommit_quorum_rounds",
        "precommit_timeout_rounds",
        "prevote_timeout_rounds",
        "proposal_received_ms",
        "proposals",
        "propose_extended_rounds",
        "recorded_rounds",
        "reported",
        "requested",
        "round_power",
        "round_senders",
        "tallies",
        "verdicts",
    )

    def __init__(self) -> None:
        self.proposals: dict[Round, Proposal] = {}
        self.proposal_received_ms: dict[Round, int] = {}
        """Our clock when each round's proposal arrived: what its timeliness is judged against."""
        self.tallies: dict[tuple[Round, VoteKind], _Tally] = {}
        self.round_senders: dict[Round, set[Address]] = {}
        """Signers of any message per round, for the skip rule (l. 55)."""
        self.round_power: dict[Round, int] = {}
        self.verdicts: dict[Hash, bool] = {}
        self.requested: set[Hash] = set()
        self.block_facts: dict[Hash, BlockFacts] = {}
        """The header facts that came with each valid verdict: the block's time, and who proposed it."""
        self.precommit_quorum_rounds: set[Round] = set()
        """Rounds in which some block has more than 2/3 of the precommits (l. 49 candidates)."""
        self.prevote_timeout_rounds: set[Round] = set()
        self.precommit_timeout_rounds: set[Round] = set()
        self.locked_rounds_done: set[Round] = set()
        """Rounds where l. 36 has run ("for the first time")."""
        self.propose_extended_rounds: set[Round] = set()
        """Rounds whose propose timeout was given once more to a proposal still being checked."""
        self.recorded_rounds: set[Round] = set()
        """Rounds whose start is already in the WAL."""
        self.reported: set[tuple[Address, Round, str]] = set()

    def get_tally(self, round_: Round, kind: VoteKind) -> _Tally | None:
        return self.tallies.get((round_, kind))

    def get_block_timestamp_ms(self, block_hash: Hash) -> int | None:
        """The block's time: its header's once checked, else what a proposal of it said (a restored lock)."""
        facts = self.block_facts.get(block_hash)
        if facts is not None:
            return facts.timestamp_ms
        for proposal in self.proposals.values():
            if proposal.block_hash == block_hash:
                return proposal.timestamp_ms
        return None


class TendermintEngine(ConsensusEngine):
    """Tendermint consensus for one validator (or an observer); see the module docstring."""

    name = "tendermint"

    def __init__(
        self,
        settings: TendermintSettings,
        validator_set: ValidatorSet,
        own_address: Address | None,
        signer: Signer | None,
        chain_id: str,
        verify_message: MessageVerifier | None = None,
    ) -> None:
        """`signer` may be None only for a non-validator; `verify_message`, if given, checks every
        incoming message's signature inside the engine (the node normally does it before)."""
        self._settings = settings
        self._validators = validator_set
        self._next_validators = validator_set
        """The set of the next height: who may fill the next-height buffer."""
        is_validator = own_address is not None and validator_set.contains(own_address)
        if is_validator and signer is None:
            raise ConfigError("a validator's Tendermint engine needs a signer")
        self._key_address = own_address if signer is not None else None
        """The address this node signs with, whether or not it is a validator of the current height."""
        self._own_address = own_address if is_validator else None
        """`_key_address` while it is a validator of the current height, else None."""
        self._signer = signer
        self._chain_id = chain_id
        self._verify_message = verify_message
        self._phase = Phase.STOPPED
        self._height = Height(0)
        self._round = Round(0)
        self._step = Step.PROPOSE
        self._now_ms = 0
        self._last_block_time_ms = 0
        self._locked_value: Hash | None = None
        self._locked_round = NO_ROUND
        self._valid_value: Hash | None = None
        self._valid_round = NO_ROUND
        self._log = _HeightLog()
        self._future: dict[tuple[Address, Round, str], tuple[Message, int]] = {}
        """Next-height messages with their arrival times, one per (signer, round, kind)."""
        self._future_counts: dict[Address, int] = {}
        self._signed: dict[tuple[Height, Round, str], Message] = {}
        self._decision: CommitCertificate | None = None
        self._last_certificate: CommitCertificate | None = None
        self._building_round: Round | None = None
        self._catch_up_served: set[tuple[Address, int]] = set()
        """(peer, round) pairs helped since the last rebroadcast (-1: the previous height)."""
        self._evidence: list[Equivocation] = []
        self._pool_transaction_count = 0
        """The node's pool as the latest `TransactionsAvailable` gave it."""
        self._last_commit_ms = 0
        """Our clock when the previous height committed here: the empty-block interval counts from it."""
        self._connected: frozenset[Address] | None = None
        """Peers the node reports connected (`PeersChanged`); None: not reported, all count as reachable."""

    # --- introspection ------------------------------------------------------------------------

    @property
    def settings(self) -> TendermintSettings:
        return self._settings

    @property
    def validator_set(self) -> ValidatorSet:
        """The set in force at the height being decided."""
        return self._validators

    @property
    def next_validator_set(self) -> ValidatorSet:
        """The set in force at the next height."""
        return self._next_validators

    @property
    def is_validator(self) -> bool:
        return self._own_address is not None

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def height(self) -> Height:
        """The height being decided (0 before `Start`)."""
        return self._height

    @property
    def round(self) -> Round:
        return self._round

    @property
    def step(self) -> Step:
        return self._step

    @property
    def locked_value(self) -> Hash | None:
        return self._locked_value

    @property
    def locked_round(self) -> int:
        return self._locked_round

    @property
    def valid_value(self) -> Hash | None:
        return self._valid_value

    @property
    def valid_round(self) -> int:
        return self._valid_round

    @property
    def evidence(self) -> tuple[Equivocation, ...]:
        return tuple(self._evidence)

    @property
    def last_certificate(self) -> CommitCertificate | None:
        """The certificate this engine assembled for the previous height, if it decided that one itself."""
        return self._last_certificate

    def get_bookkeeping_sizes(self) -> dict[str, int]:
        """How much the engine holds now, per kind: for the simulator's bounded-memory checker."""
        log = self._log
        return {
            "future_messages": len(self._future),
            "proposals": len(log.proposals),
            "tally_rounds": len(log.tallies),
            "tally_votes": sum(
                len(votes) for tally in log.tallies.values() for votes in tally.voters_by_value.values()
            ),
            "held_votes": sum(len(held) for tally in log.tallies.values() for held in tally.held.values()),
            "round_senders": sum(len(senders) for senders in log.round_senders.values()),
            "verdicts": len(log.verdicts) + len(log.requested),
            "reported": len(log.reported),
            "evidence": len(self._evidence),
            "signed": len(self._signed),
            "catch_up_served": len(self._catch_up_served),
        }

    def get_signed(self, height: Height, round_: Round, kind: str) -> Message | None:
        """What this validator signed of `kind` ("proposal", "prevote", "precommit"), if anything."""
        return self._signed.get((height, round_, kind))

    # --- the entry point ----------------------------------------------------------------------------

    def on_event(self, event: Event) -> list[Action]:
        if isinstance(event, Start):
            return self._on_start(event)
        if isinstance(event, TransactionsAvailable):
            # Remembered even before Start: the figures are absolute.
            self._pool_transaction_count = max(event.transaction_count, 0)
        if isinstance(event, PeersChanged):
            self._connected = event.connected
            actions_now: list[Action] = []
            if self._phase is Phase.RUNNING:
                self._shorten_wait_for_unreachable_proposer(actions_now)
            return actions_now
        if self._phase is Phase.STOPPED:
            return []
        actions: list[Action] = []
        if isinstance(event, TimerFired):
            self._observe_time(event.now_ms)
            self._on_timer_fired(event, actions)
        elif isinstance(event, MessageReceived):
            self._observe_time(event.now_ms)
            self._on_message_received(event, actions)
        elif isinstance(event, ProposalValidated):
            self._on_proposal_validated(event)
        elif isinstance(event, ProposalBuilt):
            self._on_proposal_built(event, actions)
        elif isinstance(event, BlockCommitted):
            self._observe_time(event.now_ms)
            self._on_block_committed(event, actions)
        elif isinstance(event, TransactionsAvailable):
            self._observe_time(event.now_ms)
            if self._phase is Phase.IDLE and self._pool_transaction_count > 0:
                self._wake(actions)
            elif self._phase is Phase.WAITING and 0 < self._settings.full_block_transactions <= event.transaction_count:
                self._begin_height(actions)  # the commit timer, when it fires, finds the height running
        self._advance(actions)
        return actions

    def _observe_time(self, now_ms: int) -> None:
        # The latest clock reading of any event; never moves back, so vote times never do either.
        self._now_ms = max(self._now_ms, now_ms)

    # --- start and restart ----------------------------------------------------------------------------

    def _on_start(self, event: Start) -> list[Action]:
        records = []
        for position, raw in enumerate(event.wal_records):
            try:
                records.append(decode_wal_record(raw))
            except CodecError as error:
                raise CodecError(f"WAL record {position} cannot be read ({error}); refusing to start") from error
        self._phase = Phase.RUNNING
        self._now_ms = event.now_ms
        if event.pool_transaction_count is not None:
            self._pool_transaction_count = max(event.pool_transaction_count, 0)
        self._last_block_time_ms = event.last_block_time_ms
        # Not the block's own time: BFT time stamps block h with the moment height h-1 was decided.
        self._last_commit_ms = min(event.last_block_time_ms, event.now_ms)
        self._last_certificate = None
        self._future = {}
        self._future_counts = {}
        self._evidence = []
        self._signed = {}
        if event.validators is not None:
            self._set_validators(event.validators, event.next_validators)
        if isinstance(event.engine_settings, TendermintSettings):
            self._settings = event.engine_settings
        self._enter_height(event.height)
        actions: list[Action] = []
        restored_round = self._restore(records, actions)
        restored_step = self._get_signed_step(restored_round)
        if restored_round == 0 and restored_step is Step.PROPOSE and not self._log.round_senders:
            self._begin_height(actions)
        else:
            self._start_round(restored_round, actions, restored_step)
        self._advance(actions)
        return actions

    def _restore(self, records: list[WalRecord], actions: list[Action]) -> Round:
        """Take back what the WAL says this validator did at heights >= the current one; the round to resume."""
        restored_round = Round(0)
        proofs: list[WalRecord] = []
        for record in records:
            if record.height < self._height:
                continue
            if record.message is not None and record.kind in (WalKind.PROPOSAL, WalKind.VOTE):
                # Messages of later heights too: a store behind its WAL must still not sign twice.
                self._signed.setdefault((record.height, record.round, _get_signed_kind(record.message)), record.message)
            if record.height != self._height:
                continue
            restored_round = max(restored_round, record.round)
            if record.kind is WalKind.ROUND:
                self._log.recorded_rounds.add(record.round)
            elif record.kind is WalKind.LOCK and record.round > self._locked_round:
                self._locked_round, self._locked_value = record.round, record.block_hash
                proofs.append(record)
            elif record.kind is WalKind.VALID and record.round > self._valid_round:
                self._valid_round, self._valid_value = record.round, record.block_hash
                proofs.append(record)
        # Our own messages count in our log like anyone's, and the proposals we locked on are known again.
        self._round = restored_round
        for (height, _, _), message in sorted(self._signed.items(), key=lambda item: item[0]):
            if height == self._height:
                self._add_message(message, self._now_ms, actions)
        for record in proofs:
            assert record.message is not None
            self._add_message(record.message, self._now_ms, actions)
            for vote in record.votes:
                self._add_message(vote, self._now_ms, actions)
        return restored_round

    def _get_signed_step(self, round_: Round) -> Step:
        if (self._height, round_, _SIGNED_PRECOMMIT) in self._signed:
            return Step.PRECOMMIT
        if (self._height, round_, _SIGNED_PREVOTE) in self._signed:
            return Step.PREVOTE
        return Step.PROPOSE

    # --- heights and rounds ------------------------------------------------------------------------

    def _begin_height(self, actions: list[Action]) -> None:
        """Start round 0 now, or go idle until there is something to decide (`wait_for_transactions`)."""
        settings = self._settings
        self._phase = Phase.RUNNING
        if not settings.wait_for_transactions or self._pool_transaction_count > 0 or self._log.round_senders:
            self._start_round(Round(0), actions)
            return
        if settings.empty_block_interval_ms > 0:
            due_ms = self._last_commit_ms + settings.empty_block_interval_ms
            if due_ms <= self._now_ms:
                self._start_round(Round(0), actions)
                return
            actions.append(ScheduleTimer(self._height, Round(0), TIMER_EMPTY_BLOCK, due_ms - self._now_ms))
        self._phase = Phase.IDLE

    def _wake(self, actions: list[Action]) -> None:
        assert self._phase is Phase.IDLE
        self._phase = Phase.RUNNING
        self._start_round(Round(0), actions)

    def _set_validators(self, validators: ValidatorSet, next_validators: ValidatorSet | None) -> None:
        self._validators = validators
        self._next_validators = validators if next_validators is None else next_validators

    def _enter_height(self, height: Height) -> None:
        key_address = self._key_address
        self._own_address = key_address if key_address is not None and self._validators.contains(key_address) else None
        self._height = height
        self._round = Round(0)
        self._step = Step.PROPOSE
        self._locked_value, self._locked_round = None, NO_ROUND
        self._valid_value, self._valid_round = None, NO_ROUND
        self._log = _HeightLog()
        self._decision = None
        self._building_round = None
        self._catch_up_served = set()
        for key in [key for key in self._signed if key[0] < height]:
            del self._signed[key]

    def _start_round(self, round_: Round, actions: list[Action], restored_step: Step = Step.PROPOSE) -> None:
        """StartRound (l. 11); `restored_step` > propose when the WAL shows we already voted in it."""
        self._round = round_
        self._step = restored_step
        self._building_round = None
        height = self._height
        if self.is_validator and round_ not in self._log.recorded_rounds:
            self._log.recorded_rounds.add(round_)
            actions.append(AppendWal(height, encode_wal_record(make_round_record(height, round_))))
        actions.append(ScheduleTimer(height, round_, TIMER_PROPOSE, self._get_timeout_propose_ms(round_)))
        actions.append(ScheduleTimer(height, round_, TIMER_REBROADCAST, self._settings.rebroadcast_interval_ms))
        if restored_step > Step.PROPOSE or self._signed.get((height, round_, _SIGNED_PROPOSAL)) is not None:
            # Back from a restart: send again what we had sent, sign nothing new for it.
            self._rebroadcast(actions)
            return
        if not self.is_validator or self._validators.get_proposer(height, round_).address != self._own_address:
            return
        if self._valid_value is not None:
            self._propose(self._valid_value, self._valid_round, actions)
            return
        timestamp_ms = self._compute_proposal_timestamp_ms()
        if timestamp_ms > TIMESTAMP_MS_MAX:
            return  # the parent is stamped at the end of time: no later block can be encoded; the round times out
        self._building_round = round_
        actions.append(BuildProposal(height, round_, timestamp_ms))

    def _is_proposer_unreachable(self, round_: Round) -> bool:
        proposer = self._validators.get_proposer(self._height, round_).address
        return proposer != self._own_address and self._connected is not None and proposer not in self._connected

    def _get_timeout_propose_ms(self, round_: Round) -> int:
        timeout_ms = self._settings.get_timeout_propose_ms(round_)
        if self._is_proposer_unreachable(round_):
            # Safety never rests on timeouts; a proposer we cannot hear from cannot send us its block.
            return min(timeout_ms, self._settings.timeout_propose_unreachable_ms)
        return timeout_ms

    def _shorten_wait_for_unreachable_proposer(self, actions: list[Action]) -> None:
        """The proposer of the round we wait in went away: end the wait as if it had been away at the start."""
        round_ = self._round
        if self._step is Step.PROPOSE and round_ not in self._log.proposals and self._is_proposer_unreachable(round_):
            actions.append(ScheduleTimer(self._height, round_, TIMER_PROPOSE, self._get_timeout_propose_ms(round_)))

    def _compute_proposal_timestamp_ms(self) -> int:
        """PBTS: a fresh block is stamped with the proposer's own clock, and always after its parent.

        The clock is the latest reading an event carried (`_observe_time`),
        taken when the round starts; the time to build the block and send it
        is what `block_time_message_delay_ms` allows for.
        """
        return max(self._now_ms, self._last_block_time_ms + 1)

    # --- event handlers ------------------------------------------------------------------------------

    def _on_timer_fired(self, event: TimerFired, actions: list[Action]) -> None:
        if event.height != self._height:
            return
        if event.kind == TIMER_COMMIT:
            if self._phase is Phase.WAITING:
                self._begin_height(actions)
            return
        if event.kind == TIMER_EMPTY_BLOCK:
            if self._phase is Phase.IDLE:
                self._wake(actions)
            return
        if self._phase is not Phase.RUNNING or event.round != self._round:
            return
        if event.kind == TIMER_PROPOSE and self._step is Step.PROPOSE:  # OnTimeoutPropose (l. 57)
            if self._is_checking_proposal() and self._round not in self._log.propose_extended_rounds:
                # Its verdict decides the prevote when it comes (l. 22 / l. 28), within one more timeout.
                self._log.propose_extended_rounds.add(self._round)
                actions.append(
                    ScheduleTimer(self._height, self._round, TIMER_PROPOSE, self._get_timeout_propose_ms(self._round))
                )
                return
            self._cast_vote(VoteKind.PREVOTE, None, actions)
            self._step = Step.PREVOTE
        elif event.kind == TIMER_PREVOTE and self._step is Step.PREVOTE:  # OnTimeoutPrevote (l. 61)
            self._cast_vote(VoteKind.PRECOMMIT, None, actions)
            self._step = Step.PRECOMMIT
        elif event.kind == TIMER_PRECOMMIT:  # OnTimeoutPrecommit (l. 65)
            if self._round < ROUND_MAX:
                self._start_round(Round(self._round + 1), actions)
        elif event.kind == TIMER_REBROADCAST:
            self._catch_up_served.clear()
            self._rebroadcast(actions)
            actions.append(
                ScheduleTimer(self._height, self._round, TIMER_REBROADCAST, self._settings.rebroadcast_interval_ms)
            )

    def _is_checking_proposal(self) -> bool:
        """The round's proposal (with its proof of lock, if it names one) is here; the node is still checking it.

        The propose timeout is for the wait for a proposal, not for the
        node's check of one that has arrived (CometBFT times out the same
        way): a large block can take longer to check than a proposal takes
        to travel, and prevoting nil on it would throw away a good block and
        start a round whose proposal takes as long again. Such a check gets
        one more propose timeout; a node that cannot check the block at all
        (its body never came) then prevotes nil as the paper does.
        """
        proposal = self._log.proposals.get(self._round)
        if proposal is None or proposal.block_hash in self._log.verdicts:
            return False
        pol_round = proposal.pol_round
        return pol_round == NO_ROUND or self._has_quorum_for(Round(pol_round), VoteKind.PREVOTE, proposal.block_hash)

    def _on_proposal_built(self, event: ProposalBuilt, actions: list[Action]) -> None:
        if event.height != self._height:
            return
        # The node built and executed it: valid by construction, whatever happens to the round.
        if event.block_hash not in self._log.verdicts and self._own_address is not None:
            self._log.verdicts[event.block_hash] = True
            self._log.block_facts[event.block_hash] = BlockFacts(event.timestamp_ms, self._own_address)
        if self._phase is not Phase.RUNNING or event.round != self._round or self._building_round != event.round:
            return
        self._building_round = None
        # Proposed even if our own propose timeout already made us prevote nil: the others may still take it.
        self._propose(event.block_hash, NO_ROUND, actions)

    def _on_proposal_validated(self, event: ProposalValidated) -> None:
        if event.height != self._height:
            return
        # The first verdict stands: validity is a function of the block, so a second cannot differ.
        if event.block_hash in self._log.verdicts:
            return
        self._log.verdicts[event.block_hash] = event.is_valid
        if event.is_valid:
            self._log.block_facts[event.block_hash] = BlockFacts(event.timestamp_ms, event.proposer)

    def _on_block_committed(self, event: BlockCommitted, actions: list[Action]) -> None:
        if event.height < self._height:
            return
        decision = self._decision
        if decision is not None and decision.height == event.height and decision.block_hash == event.block_hash:
            self._last_certificate = decision
        else:
            self._last_certificate = None  # learned by sync: someone else's certificate
        self._last_block_time_ms = event.timestamp_ms
        self._last_commit_ms = self._now_ms
        if event.validators is not None:
            self._set_validators(event.validators, event.next_validators)
        else:
            self._set_validators(self._next_validators, None)
        if isinstance(event.engine_settings, TendermintSettings):
            self._settings = event.engine_settings  # timeouts changed by governance take effect at their height
        self._enter_height(Height(event.height + 1))
        self._phase = Phase.WAITING
        actions.append(ScheduleTimer(self._height, Round(0), TIMER_COMMIT, self._settings.timeout_commit_ms))
        buffered = self._future
        self._future, self._future_counts = {}, {}
        for message, received_ms in buffered.values():
            if message.height == self._height:
                self._add_message(message, received_ms, actions)

    def _on_message_received(self, event: MessageReceived, actions: list[Action]) -> None:
        message = event.message
        if not isinstance(message, (Proposal, Vote)) or message.chain_id != self._chain_id:
            return
        if self._verify_message is not None and not self._verify_message(message):
            return
        if message.height == self._height - 1:
            self._on_message_from_previous_height(event.sender, actions)
            return
        if message.height == self._height + 1:
            self._buffer_future_message(message, event.now_ms)
            return
        if message.height != self._height:
            return
        if message.round < self._round and get_signer_address(message) == event.sender:
            self._on_message_from_earlier_round(event.sender, message.round, actions)
        self._add_message(message, event.now_ms, actions)
        if self._phase is Phase.IDLE and self._log.round_senders:
            self._wake(actions)  # a peer started this height: it has transactions, or its empty-block time came

    def _buffer_future_message(self, message: Message, received_ms: int) -> None:
        """Keep a next-height message till that height starts: the first per (signer, round, kind), bounded.

        One slot per (signer, round, kind) is all the height's rules can use
        of an honest validator (a second, different message is equivocation,
        reported once the height runs and it is re-sent), and rounds the
        height's start would ignore (`rounds_ahead_max`) are not kept. With
        `future_messages_per_validator_max` per signer a flooding validator
        fills only its own share, and `future_messages_max` bounds the whole.
        """
        settings = self._settings
        signer = get_signer_address(message)
        if message.round > settings.rounds_ahead_max or not self._next_validators.contains(signer):
            return
        key = (signer, message.round, _get_signed_kind(message))
        if key in self._future:
            return
        count = self._future_counts.get(signer, 0)
        if count >= settings.future_messages_per_validator_max or len(self._future) >= settings.future_messages_max:
            return
        self._future[key] = (message, received_ms)
        self._future_counts[signer] = count + 1

    def _on_message_from_previous_height(self, sender: Address, actions: list[Action]) -> None:
        # The peer has not seen the previous height commit: the precommits we certified it with are
        # all it needs. Once per peer per rebroadcast interval, so a chatty peer costs little.
        certificate = self._last_certificate
        if certificate is None or certificate.height != self._height - 1 or (sender, -1) in self._catch_up_served:
            return
        self._catch_up_served.add((sender, -1))
        for vote in get_certificate_precommits(self._chain_id, certificate):
            actions.append(SendMessage(sender, vote))

    def _on_message_from_earlier_round(self, sender: Address, round_: Round, actions: list[Action]) -> None:
        # The peer is still in a round we left, maybe because it lost the precommits that made us leave
        # it (we re-send only our current round's messages): send it the precommits of its round we hold.
        if (sender, round_) in self._catch_up_served:
            return
        self._catch_up_served.add((sender, round_))
        tally = self._log.get_tally(round_, VoteKind.PRECOMMIT)
        if tally is None:
            return
        for votes in tally.voters_by_value.values():
            for vote in votes.values():
                if vote.validator != sender:
                    actions.append(SendMessage(sender, vote))

    # --- the message log ------------------------------------------------------------------------------

    def _add_message(self, message: Message, received_ms: int, actions: list[Action]) -> None:
        if message.round > self._round + self._settings.rounds_ahead_max:
            return
        if isinstance(message, Proposal):
            self._add_proposal(message, received_ms, actions)
        else:
            self._add_vote(message, actions)

    def _add_proposal(self, proposal: Proposal, received_ms: int, actions: list[Action]) -> None:
        log = self._log
        if proposal.proposer != self._validators.get_proposer(proposal.height, proposal.round).address:
            return
        if not NO_ROUND <= proposal.pol_round < proposal.round:
            return
        existing = log.proposals.get(proposal.round)
        if existing is not None:
            if replace(existing, signature=b"") != replace(proposal, signature=b""):
                self._report(existing, proposal, actions)
            return
        log.proposals[proposal.round] = proposal
        log.proposal_received_ms[proposal.round] = received_ms
        self._count_sender(proposal.round, proposal.proposer)
        self._request_validation(proposal.round, proposal.block_hash, actions)

    def _add_vote(self, vote: Vote, actions: list[Action]) -> None:
        if not self._validators.contains(vote.validator):
            return
        log = self._log
        tally = log.tallies.get((vote.round, vote.kind))
        if tally is None:
            tally = log.tallies[(vote.round, vote.kind)] = _Tally()
        counted, conflicting = tally.add(vote, self._validators.get_power)
        if conflicting is not None:
            self._report(conflicting, vote, actions)
        self._count_sender(vote.round, vote.validator)
        if vote.kind is not VoteKind.PRECOMMIT:
            return
        for item in counted:
            if item.block_hash is not None and self._validators.is_quorum(tally.power_by_value[item.block_hash]):
                log.precommit_quorum_rounds.add(vote.round)
                # The network decided this block; we need the verdict even if its proposal never came.
                self._request_validation(vote.round, item.block_hash, actions)

    def _count_sender(self, round_: Round, address: Address) -> None:
        senders = self._log.round_senders.setdefault(round_, set())
        if address not in senders:
            senders.add(address)
            self._log.round_power[round_] = self._log.round_power.get(round_, 0) + self._validators.get_power(address)

    def _request_validation(self, round_: Round, block_hash: Hash, actions: list[Action]) -> None:
        log = self._log
        if block_hash in log.verdicts or block_hash in log.requested:
            return
        log.requested.add(block_hash)
        actions.append(ValidateProposal(self._height, round_, block_hash))

    def _report(self, first: Message, second: Message, actions: list[Action]) -> None:
        key = (
            first.proposer if isinstance(first, Proposal) else first.validator,
            first.round,
            _get_signed_kind(first),
        )
        if key in self._log.reported:
            return
        self._log.reported.add(key)
        evidence = Equivocation(first, second)
        if len(self._evidence) < self._settings.evidence_max:
            self._evidence.append(evidence)
        actions.append(ReportEvidence(evidence))

    # --- the rules ----------------------------------------------------------------------------------

    def _advance(self, actions: list[Action]) -> None:
        """Apply the upon-rules until none fires: each firing changes state, so this ends."""
        while self._phase is Phase.RUNNING:
            if self._apply_decision(actions):
                continue
            if self._apply_round_skip(actions):
                continue
            if self._apply_proposal(actions):
                continue
            if self._apply_prevote_quorum_for_block(actions):
                continue
            if self._apply_prevote_quorum_for_nil(actions):
                continue
            if self._apply_prevote_quorum_for_anything(actions):
                continue
            if self._apply_precommit_quorum_for_anything(actions):
                continue
            break

    def _has_quorum_for(self, round_: Round, kind: VoteKind, value: Hash | None) -> bool:
        tally = self._log.get_tally(round_, kind)
        return tally is not None and self._validators.is_quorum(tally.power_by_value.get(value, 0))

    def _apply_decision(self, actions: list[Action]) -> bool:
        """l. 49: more than 2/3 precommits for a valid block in some round of this height: decide it."""
        log = self._log
        for round_ in sorted(log.precommit_quorum_rounds):
            tally = log.get_tally(round_, VoteKind.PRECOMMIT)
            assert tally is not None
            for block_hash, power in tally.power_by_value.items():
                if block_hash is None or not self._validators.is_quorum(power):
                    continue
                if log.verdicts.get(block_hash) is not True:
                    continue  # validation requested when the quorum formed
                certificate = assemble_commit_certificate(tally.get_votes_for(block_hash))
                self._decision = certificate
                self._phase = Phase.DECIDED
                actions.append(CommitBlock(self._height, round_, block_hash, certificate))
                return True
        return False

    def _apply_round_skip(self, actions: list[Action]) -> bool:
        """l. 55: messages of a higher round from more than 1/3 of the power: go to that round."""
        target: Round | None = None
        for round_, power in self._log.round_power.items():
            if (
                round_ > self._round
                and (target is None or round_ > target)
                and self._validators.is_one_third_plus(power)
            ):
                target = round_
        if target is None:
            return False
        self._start_round(target, actions)
        return True

    def _apply_proposal(self, actions: list[Action]) -> bool:
        """l. 22 and l. 28: prevote the round's proposal, or nil if it is invalid or the lock forbids it."""
        if self._step is not Step.PROPOSE:
            return False
        proposal = self._log.proposals.get(self._round)
        if proposal is None:
            return False
        block_hash, pol_round = proposal.block_hash, proposal.pol_round
        if pol_round != NO_ROUND and not self._has_quorum_for(Round(pol_round), VoteKind.PREVOTE, block_hash):
            return False  # l. 28 waits for the proof of lock; the propose timeout bounds the wait
        verdict = self._log.verdicts.get(block_hash)
        if verdict is None:
            return False  # validation requested when the proposal arrived
        if pol_round == NO_ROUND:
            acceptable = (
                self._locked_round == NO_ROUND or self._locked_value == block_hash
            ) and self._is_acceptable_fresh_proposal(proposal)
        else:
            acceptable = self._locked_round <= pol_round or self._locked_value == block_hash
        self._cast_vote(VoteKind.PREVOTE, block_hash if verdict and acceptable else None, actions)
        self._step = Step.PREVOTE
        return True

    def _is_acceptable_fresh_proposal(self, proposal: Proposal) -> bool:
        """PBTS's extra condition on l. 22: a fresh proposal is timely, and says what its block's header says.

        The timely predicate (`is_timely`) is judged against our clock when
        the proposal arrived. The proposal message's time and proposer are
        signed but not part of the block, so they must equal the header's
        (the node reports them with the verdict): otherwise a timely message
        could carry a block stamped at the end of time. Our own proposal is
        timely by construction (we stamped it), also after a restart. A
        re-proposal (l. 28) is exempt, as in PBTS: more than 2/3 of the power
        found it timely in its proof-of-lock round, and its block keeps its
        time.
        """
        facts = self._log.block_facts.get(proposal.block_hash)
        if facts is None or facts.timestamp_ms != proposal.timestamp_ms or facts.proposer != proposal.proposer:
            return False
        if proposal.proposer == self._own_address:
            return True
        received_ms = self._log.proposal_received_ms.get(proposal.round)
        if received_ms is None:
            return False
        settings = self._settings
        return is_timely(
            proposal.timestamp_ms,
            received_ms,
            settings.block_time_precision_ms,
            settings.get_block_time_message_delay_ms(proposal.round),
        )

    def _apply_prevote_quorum_for_block(self, actions: list[Action]) -> bool:
        """l. 36: the proposal, more than 2/3 prevotes for it, and valid: lock, precommit, set valid value."""
        log = self._log
        round_ = self._round
        if self._step < Step.PREVOTE or round_ in log.locked_rounds_done:
            return False
        proposal = log.proposals.get(round_)
        if proposal is None or log.verdicts.get(proposal.block_hash) is not True:
            return False
        block_hash = proposal.block_hash
        if not self._has_quorum_for(round_, VoteKind.PREVOTE, block_hash):
            return False
        log.locked_rounds_done.add(round_)
        if self._step is Step.PREVOTE:
            self._locked_value, self._locked_round = block_hash, round_
        proof = self._get_prevotes_for(round_, block_hash)
        if self._step is Step.PREVOTE:
            self._locked_value, self._locked_round = block_hash, round_
            self._append_wal(make_lock_record(WalKind.LOCK, proposal, proof), actions)
        self._valid_value, self._valid_round = block_hash, round_
        self._append_wal(make_lock_record(WalKind.VALID, proposal, proof), actions)
        if self._step is Step.PREVOTE:
            self._cast_vote(VoteKind.PRECOMMIT, block_hash, actions)
            self._step = Step.PRECOMMIT
        return True

    def _apply_prevote_quorum_for_nil(self, actions: list[Action]) -> bool:
        """l. 44: more than 2/3 prevotes for nil: precommit nil."""
        if self._step is not Step.PREVOTE or not self._has_quorum_for(self._round, VoteKind.PREVOTE, None):
            return False
        self._cast_vote(VoteKind.PRECOMMIT, None, actions)
        self._step = Step.PRECOMMIT
        return True

    def _apply_prevote_quorum_for_anything(self, actions: list[Action]) -> bool:
        """l. 34: more than 2/3 prevotes for anything, for the first time: start the prevote timeout."""
        log = self._log
        round_ = self._round
        if self._step is not Step.PREVOTE or round_ in log.prevote_timeout_rounds:
            return False
        tally = log.get_tally(round_, VoteKind.PREVOTE)
        if tally is None or not self._validators.is_quorum(tally.power):
            return False
        log.prevote_timeout_rounds.add(round_)
        actions.append(
            ScheduleTimer(self._height, round_, TIMER_PREVOTE, self._settings.get_timeout_prevote_ms(round_))
        )
        return True

    def _apply_precommit_quorum_for_anything(self, actions: list[Action]) -> bool:
        """l. 47: more than 2/3 precommits for anything, for the first time: start the precommit timeout."""
        log = self._log
        round_ = self._round
        if round_ in log.precommit_timeout_rounds:
            return False
        tally = log.get_tally(round_, VoteKind.PRECOMMIT)
        if tally is None or not self._validators.is_quorum(tally.power):
            return False
        log.precommit_timeout_rounds.add(round_)
        actions.append(
            ScheduleTimer(self._height, round_, TIMER_PRECOMMIT, self._settings.get_timeout_precommit_ms(round_))
        )
        return True

    # --- signing and sending -------------------------------------------------------------------------

    def _append_wal(self, record: WalRecord, actions: list[Action]) -> None:
        if self.is_validator:
            actions.append(AppendWal(record.height, encode_wal_record(record)))

    def _sign(self, message: Message) -> Message:
        assert self._signer is not None
        return replace(message, signature=self._signer(encode_signing_bytes(message)))

    def _send_signed(self, unsigned: Message, actions: list[Action]) -> Message:
        """Sign, log to the WAL, broadcast, and count `unsigned`; or re-send what we already signed for its slot."""
        key = (unsigned.height, unsigned.round, _get_signed_kind(unsigned))
        existing = self._signed.get(key)
        if existing is not None:
            # The one signature per slot: whatever the rules now say, the earlier message stands.
            actions.append(Broadcast(existing))
            return existing
        message = self._sign(unsigned)
        self._signed[key] = message
        actions.append(AppendWal(message.height, encode_wal_record(make_message_record(message))))
        actions.append(Broadcast(message))
        self._add_message(message, self._now_ms, actions)
        return message

    def _cast_vote(self, kind: VoteKind, block_hash: Hash | None, actions: list[Action]) -> None:
        if self._own_address is None:
            return
        floor_ms = self._last_block_time_ms + 1
        if kind is VoteKind.PRECOMMIT and block_hash is not None:
            # CometBFT's vote-time rule: after the block's own time, so the certificate's time follows it.
            floor_ms = max(floor_ms, (self._log.get_block_timestamp_ms(block_hash) or 0) + 1)
        vote = Vote(
            kind=kind,
            chain_id=self._chain_id,
            height=self._height,
            round=self._round,
            block_hash=block_hash,
            # Never past what the codec takes: a vote nobody can decode is no vote. Timeliness keeps block
            # times near correct clocks, so the cap only matters on a chain already stamped at its end.
            timestamp_ms=min(max(self._now_ms, floor_ms), TIMESTAMP_MS_MAX),
            validator=self._own_address,
            signature=b"",
        )
        self._send_signed(vote, actions)

    def _propose(self, block_hash: Hash, pol_round: int, actions: list[Action]) -> None:
        assert self._own_address is not None
        timestamp_ms = self._log.get_block_timestamp_ms(block_hash)
        if timestamp_ms is None or timestamp_ms > TIMESTAMP_MS_MAX:
            # Neither can happen (the valid value's proposal is logged and in the WAL, and a valid block's
            # time was timely or our own); the round times out.
            return
        proposal = Proposal(
            chain_id=self._chain_id,
            height=self._height,
            round=self._round,
            block_hash=block_hash,
            pol_round=pol_round,
            timestamp_ms=timestamp_ms,
            proposer=self._own_address,
            signature=b"",
        )
        self._send_signed(proposal, actions)
        self._relay_proof_of_lock(pol_round, block_hash, actions)

    def _get_prevotes_for(self, round_: Round, block_hash: Hash) -> list[Vote]:
        tally = self._log.get_tally(round_, VoteKind.PREVOTE)
        return [] if tally is None else tally.get_votes_for(block_hash)

    def _relay_proof_of_lock(self, pol_round: int, block_hash: Hash, actions: list[Action]) -> None:
        # l. 28 at the others needs the prevotes that justify a re-proposal; they may have missed them.
        if pol_round == NO_ROUND:
            return
        for vote in self._get_prevotes_for(Round(pol_round), block_hash):
            actions.append(Broadcast(vote))

    def _rebroadcast(self, actions: list[Action]) -> None:
        """Send again our own messages of the current round (lossy transports; restarts)."""
        if self._own_address is None:
            return
        for kind in (_SIGNED_PROPOSAL, _SIGNED_PREVOTE, _SIGNED_PRECOMMIT):
            message = self._signed.get((self._height, self._round, kind))
            if message is None:
                continue
            actions.append(Broadcast(message))
            if isinstance(message, Proposal):
                self._relay_proof_of_lock(message.pol_round, message.block_hash, actions)
