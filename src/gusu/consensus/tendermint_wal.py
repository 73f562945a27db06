"""The Tendermint engine's write-ahead-log records.

A validator must never sign two different messages of one kind at one
height and round, even across a crash, and must keep its lock. The engine
therefore emits `AppendWal` with one of these records *before* the
`Broadcast` of anything it signed, and the node makes each record durable
before carrying out the actions after it. On restart the node hands the
records of the heights not yet committed back in `Start.wal_records`, and
the engine restores from them its round, its step, the messages it signed
(re-sent as they were, never signed again) and its lock and valid value.

Each record is the canonical encoding of
``["gusu.wal.v1", kind, height, round, payload]``:

==========  ========================================================  ===========================
kind        written when                                              payload
==========  ========================================================  ===========================
round       the engine enters a round                                 nil
proposal    before its own proposal leaves                            the proposal's wire bytes
vote        before its own prevote or precommit leaves                the vote's wire bytes
lock        it locks on a block (just before the precommit for it)    proposal and its prevotes
valid       its valid value changes                                   proposal and its prevotes
==========  ========================================================  ===========================

Lock and valid records keep the whole proposal (block hash and time) and
the more than 2/3 prevotes that justified it: a restarted validator can
then propose its valid value again unchanged and hand the others the proof
of lock (Algorithm 1, line 28) that lets them accept it. Without that
proof two honest validators that locked and then crashed could never
convince the rest, and with one faulty validator the chain would halt.

The node frames records in its log file (length and checksum) and drops a
torn last record on recovery: since the record is durable before the
message it describes leaves, a torn record is one whose message was never
sent. Any other undecodable record raises CodecError, and the node must not
start: forgetting a signature could make it sign a conflicting one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from gusu.codec import Value, decode_list, encode, expect_bytes, expect_list, expect_str, expect_uint
from gusu.consensus.messages import (
    HEIGHT_MAX,
    MESSAGE_BYTES_MAX,
    ROUND_MAX,
    Message,
    Proposal,
    Vote,
    VoteKind,
    decode_message,
    encode_message,
)
from gusu.errors import CodecError
from gusu.ledger.types import COMMIT_SIGNATURES_MAX, Hash, Height, Round

TAG_WAL = "gusu.wal.v1"
PROOF_VOTES_MAX = 2 * COMMIT_SIGNATURES_MAX
"""Prevotes in a proof of lock: one per validator, and an equivocator's second."""


class WalKind(Enum):
    ROUND = "round"
    PROPOSAL = "proposal"
    VOTE = "vote"
    LOCK = "lock"
    VALID = "valid"


@dataclass(frozen=True, slots=True)
class WalRecord:
    kind: WalKind
    height: Height
    round: Round
    message: Message | None = None
    """Our signed proposal or vote (kinds proposal and vote); the proposal of the block
    locked on or made the valid value (kinds lock and valid, signed by whoever proposed it)."""
    votes: tuple[Vote, ...] = ()
    """Kinds lock and valid: the prevotes for the block in its round (the proof of lock)."""

    @property
    def block_hash(self) -> Hash | None:
        return None if self.message is None else self.message.block_hash


def make_round_record(height: Height, round_: Round) -> WalRecord:
    return WalRecord(WalKind.ROUND, height, round_)


def make_message_record(message: Message) -> WalRecord:
    kind = WalKind.PROPOSAL if isinstance(message, Proposal) else WalKind.VOTE
    return WalRecord(kind, message.height, message.round, message=message)


def make_lock_record(kind: WalKind, proposal: Proposal, prevotes: Sequence[Vote]) -> WalRecord:
    """A lock or valid-value record for the block of `proposal`, with the prevotes that justify it."""
    assert kind in (WalKind.LOCK, WalKind.VALID)
    return WalRecord(kind, proposal.height, proposal.round, message=proposal, votes=tuple(prevotes))


def encode_wal_record(record: WalRecord) -> bytes:
    payload: Value = None
    if record.kind in (WalKind.LOCK, WalKind.VALID):
        assert record.message is not None
        payload = [encode_message(record.message), [encode_message(vote) for vote in record.votes]]
    elif record.kind is not WalKind.ROUND:
        assert record.message is not None
        payload = encode_message(record.message)
    return encode([TAG_WAL, record.kind.value, record.height, record.round, payload])


def decode_wal_record(data: bytes) -> WalRecord:
    """Decode one record; CodecError for anything the engine did not write."""
    fields = decode_list(data, TAG_WAL, 5)
    kind_name = expect_str(fields[1], "WAL record kind", 16)
    try:
        kind = WalKind(kind_name)
    except ValueError:
        raise CodecError(f"unknown WAL record kind {kind_name!r}") from None
    height = Height(expect_uint(fields[2], "WAL height", maximum=HEIGHT_MAX))
    round_ = Round(expect_uint(fields[3], "WAL round", maximum=ROUND_MAX))
    payload = fields[4]
    if kind is WalKind.ROUND:
        if payload is not None:
            raise CodecError("a WAL round record carries no payload")
        return WalRecord(kind, height, round_)
    votes: list[Vote] = []
    if kind in (WalKind.LOCK, WalKind.VALID):
        parts = expect_list(payload, "WAL lock payload", 2)
        if len(parts) != 2:
            raise CodecError("a WAL lock payload is [proposal, prevotes]")
        payload = parts[0]
        for raw in expect_list(parts[1], "WAL proof of lock", PROOF_VOTES_MAX):
            vote = decode_message(expect_bytes(raw, "WAL prevote", size_max=MESSAGE_BYTES_MAX))
            if not isinstance(vote, Vote) or vote.kind is not VoteKind.PREVOTE:
                raise CodecError("a WAL proof of lock holds something other than prevotes")
            votes.append(vote)
    message = decode_message(expect_bytes(payload, "WAL message", size_max=MESSAGE_BYTES_MAX))
    if (kind is WalKind.VOTE) != isinstance(message, Vote):
        raise CodecError(f"a WAL {kind.value} record holds the wrong kind of message")
    if (message.height, message.round) != (height, round_):
        raise CodecError("a WAL record's message is for another height or round than the record")
    if any((vote.height, vote.round, vote.block_hash) != (height, round_, message.block_hash) for vote in votes):
        raise CodecError("a WAL proof of lock holds a prevote for another block, height or round")
    return WalRecord(kind, height, round_, message=message, votes=tuple(votes))
