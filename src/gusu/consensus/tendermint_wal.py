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
lock        it locks on a block (just before the precommit for it)    the block hash
valid       its valid value changes                                   the block hash
==========  ========================================================  ===========================

The node frames records in its log file (length and checksum) and drops a
torn last record on recovery: since the record is durable before the
message it describes leaves, a torn record is one whose message was never
sent. Any other undecodable record raises CodecError, and the node must not
start: forgetting a signature could make it sign a conflicting one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gusu.codec import Value, decode_list, encode, expect_bytes, expect_str, expect_uint
from gusu.consensus.messages import (
    HEIGHT_MAX,
    MESSAGE_BYTES_MAX,
    ROUND_MAX,
    Message,
    Proposal,
    Vote,
    decode_message,
    encode_message,
)
from gusu.errors import CodecError
from gusu.ledger.types import HASH_SIZE, Hash, Height, Round

TAG_WAL = "gusu.wal.v1"


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
    """The signed proposal or vote (kinds proposal and vote)."""
    block_hash: Hash | None = None
    """The block locked on, or the new valid value (kinds lock and valid)."""


def make_round_record(height: Height, round_: Round) -> WalRecord:
    return WalRecord(WalKind.ROUND, height, round_)


def make_message_record(message: Message) -> WalRecord:
    kind = WalKind.PROPOSAL if isinstance(message, Proposal) else WalKind.VOTE
    return WalRecord(kind, message.height, message.round, message=message)


def encode_wal_record(record: WalRecord) -> bytes:
    payload: Value
    if record.kind in (WalKind.PROPOSAL, WalKind.VOTE):
        assert record.message is not None
        payload = encode_message(record.message)
    elif record.kind in (WalKind.LOCK, WalKind.VALID):
        assert record.block_hash is not None
        payload = record.block_hash
    else:
        payload = None
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
    if kind in (WalKind.LOCK, WalKind.VALID):
        block_hash = Hash(expect_bytes(payload, "WAL block hash", size=HASH_SIZE))
        return WalRecord(kind, height, round_, block_hash=block_hash)
    message = decode_message(expect_bytes(payload, "WAL message", size_max=MESSAGE_BYTES_MAX))
    if (kind is WalKind.PROPOSAL) != isinstance(message, Proposal) or not isinstance(message, (Proposal, Vote)):
        raise CodecError(f"a WAL {kind.value} record holds the wrong kind of message")
    if (message.height, message.round) != (height, round_):
        raise CodecError("a WAL record's message is for another height or round than the record")
    return WalRecord(kind, height, round_, message=message)
