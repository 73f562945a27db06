"""Raft's vocabulary: log entries, the four messages, their wire encoding, and the Raft commit certificate.

A Raft log entry is one proposed block, named by hash; its index in the
log is the block's height, so the committed prefix of the log *is* the
chain. The block body never travels inside these messages: the node
attaches the bodies of an `AppendEntries` message's entries beside it on
the wire (`gusu.node.wire`), the way a Tendermint proposal's body travels
beside the proposal.

Each entry carries the signature of the leader that appended it, over
``["gusu.raft.entry.v1", chain_id, height, term, block_hash, timestamp_ms]``.
That signature is what a Raft block stores as its certificate (see
`compute_raft_certificate` and docs/consensus.md, "Raft"): one signature,
round = the entry's term. It says which member ordered the block in which
term; it does not prove that a majority stored it. A Raft chain trusts its
members not to lie, so this is all a certificate can honestly claim.

Every field is bounded on decoding (`decode_raft_message`); a message's
sender is not a field the receiver trusts: the node binds it to the
authenticated peer that sent it (`is_sender_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from gusu.codec import Value, decode, encode, expect_bytes, expect_list, expect_uint
from gusu.consensus.messages import HEIGHT_MAX, TIMESTAMP_MS_MAX, Signer
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, InvalidBlockError
from gusu.ledger.lightclient import RAFT_TERM_MAX, TAG_RAFT_ENTRY_SIGNING, encode_raft_entry_signing_bytes
from gusu.ledger.types import (
    ADDRESS_SIZE,
    HASH_SIZE,
    SIGNATURE_SIZE,
    Address,
    CommitCertificate,
    CommitSignature,
    Hash,
    Height,
    Round,
)

TERM_MAX = RAFT_TERM_MAX
"""Terms only grow (by one per election attempt that gets a majority of pre-votes); this is never reached."""
ENTRIES_PER_MESSAGE_MAX = 64
"""Entries one `AppendEntries` may carry; `RaftSettings.entries_per_append_max` is at most this."""
RAFT_MESSAGE_BYTES_MAX = 256 + ENTRIES_PER_MESSAGE_MAX * 256
"""An encoded Raft message without block bodies (an entry encodes to about 190 bytes)."""

TAG_ENTRY_SIGNING = TAG_RAFT_ENTRY_SIGNING
TAG_REQUEST_VOTE = "gusu.raft.requestvote.v1"
TAG_VOTE_REPLY = "gusu.raft.votereply.v1"
TAG_APPEND_ENTRIES = "gusu.raft.append.v1"
TAG_APPEND_REPLY = "gusu.raft.appendreply.v1"
TAG_ENTRY = "gusu.raft.entry"


@dataclass(frozen=True, slots=True)
class RaftEntry:
    """One log entry: the block `block_hash` at `height`, appended by `leader` in `term`."""

    height: Height
    term: int
    block_hash: Hash
    timestamp_ms: int
    """The block's own timestamp (signed with it, so the certificate's time is the block's)."""
    leader: Address
    signature: bytes


@dataclass(frozen=True, slots=True)
class RequestVote:
    """A (pre-)candidate asks for a vote in `term` (for a pre-vote: the term it would stand in)."""

    term: int
    candidate: Address
    last_height: Height
    last_term: int
    is_prevote: bool


@dataclass(frozen=True, slots=True)
class VoteReply:
    term: int
    """The term voted in when granted; the voter's own term when refused."""
    voter: Address
    is_prevote: bool
    is_granted: bool


@dataclass(frozen=True, slots=True)
class AppendEntries:
    """The leader's replication (and heartbeat, with no entries) for its `term`."""

    term: int
    leader: Address
    previous_height: Height
    previous_term: int
    """0 when the leader no longer remembers that entry's term (the follower must already hold it committed)."""
    entries: tuple[RaftEntry, ...]
    leader_commit: Height


@dataclass(frozen=True, slots=True)
class AppendReply:
    term: int
    follower: Address
    is_success: bool
    match_height: Height
    """On success: the follower's log matches the leader's up to here. On failure: a height to retry after."""


RaftMessage: TypeAlias = RequestVote | VoteReply | AppendEntries | AppendReply


def get_sender(message: RaftMessage) -> Address:
    """The member the message says it comes from."""
    if isinstance(message, RequestVote):
        return message.candidate
    if isinstance(message, VoteReply):
        return message.voter
    if isinstance(message, AppendEntries):
        return message.leader
    return message.follower


def is_sender_bound(message: RaftMessage, peer: Address) -> bool:
    """True when the authenticated `peer` sent a message in its own name (and entries of others only as
    leader: an entry keeps the name of the leader that appended it, perhaps an earlier one)."""
    return get_sender(message) == peer


# --- entry signatures and the certificate ---------------------------------------------------


def encode_entry_signing_bytes(chain_id: str, height: Height, term: int, block_hash: Hash, timestamp_ms: int) -> bytes:
    # Shared with light clients (`gusu.ledger.lightclient.verify_leader_signature`), which sit below this layer.
    return encode_raft_entry_signing_bytes(chain_id, height, term, block_hash, timestamp_ms)


def make_entry(
    signer: Signer, chain_id: str, leader: Address, height: Height, term: int, block_hash: Hash, timestamp_ms: int
) -> RaftEntry:
    signature = signer(encode_entry_signing_bytes(chain_id, height, term, block_hash, timestamp_ms))
    return RaftEntry(height, term, block_hash, timestamp_ms, leader, signature)


def verify_entry(suite: CryptoSuite, chain_id: str, validator_set: ValidatorSet, entry: RaftEntry) -> bool:
    """True when a member of the set signed `entry`."""
    validator = validator_set.get_validator(entry.leader)
    if validator is None:
        return False
    signing_bytes = encode_entry_signing_bytes(chain_id, entry.height, entry.term, entry.block_hash, entry.timestamp_ms)
    return suite.verify(validator.public_key, suite.hash(signing_bytes), entry.signature)


def compute_raft_certificate(entry: RaftEntry) -> CommitCertificate:
    """The certificate a Raft block is stored with: its entry's leader signature, round = term."""
    return CommitCertificate(
        height=entry.height,
        round=Round(entry.term),
        block_hash=entry.block_hash,
        signatures=(CommitSignature(entry.leader, entry.timestamp_ms, entry.signature),),
    )


def get_certificate_entry(certificate: CommitCertificate) -> RaftEntry:
    """The entry a Raft certificate was made from; InvalidBlockError if it is not one."""
    if len(certificate.signatures) != 1:
        raise InvalidBlockError(
            f"a Raft certificate holds exactly one signature (the leader's), not {len(certificate.signatures)}"
        )
    if not 1 <= certificate.round <= TERM_MAX:
        raise InvalidBlockError(f"a Raft certificate's round is its term, 1 to {TERM_MAX}, not {certificate.round}")
    item = certificate.signatures[0]
    return RaftEntry(
        certificate.height,
        int(certificate.round),
        certificate.block_hash,
        item.timestamp_ms,
        item.validator,
        item.signature,
    )


def verify_raft_certificate(
    suite: CryptoSuite, chain_id: str, validator_set: ValidatorSet, certificate: CommitCertificate
) -> None:
    """InvalidBlockError unless a member of the set signed the certificate as the entry's leader."""
    entry = get_certificate_entry(certificate)
    if not verify_entry(suite, chain_id, validator_set, entry):
        raise InvalidBlockError(
            f"the Raft certificate of block {certificate.height} is not signed by a member of this chain"
        )


# --- wire encoding ----------------------------------------------------------------------------


def _encode_entry(entry: RaftEntry) -> Value:
    return [TAG_ENTRY, entry.height, entry.term, entry.block_hash, entry.timestamp_ms, entry.leader, entry.signature]


def encode_raft_message(message: RaftMessage) -> bytes:
    fields: list[Value]
    if isinstance(message, RequestVote):
        fields = [
            TAG_REQUEST_VOTE,
            message.term,
            message.candidate,
            message.last_height,
            message.last_term,
            message.is_prevote,
        ]
    elif isinstance(message, VoteReply):
        fields = [TAG_VOTE_REPLY, message.term, message.voter, message.is_prevote, message.is_granted]
    elif isinstance(message, AppendEntries):
        fields = [
            TAG_APPEND_ENTRIES,
            message.term,
            message.leader,
            message.previous_height,
            message.previous_term,
            [_encode_entry(entry) for entry in message.entries],
            message.leader_commit,
        ]
    else:
        fields = [TAG_APPEND_REPLY, message.term, message.follower, message.is_success, message.match_height]
    return encode(fields)


def _expect_term(value: Value, what: str = "term", minimum: int = 1) -> int:
    term = expect_uint(value, what, maximum=TERM_MAX)
    if term < minimum:
        raise CodecError(f"a Raft {what} is at least {minimum}, not {term}")
    return term


def _expect_height(value: Value, what: str) -> Height:
    return Height(expect_uint(value, what, maximum=HEIGHT_MAX))


def _expect_address(value: Value, what: str) -> Address:
    return Address(expect_bytes(value, what, size=ADDRESS_SIZE))


def _expect_bool(value: Value, what: str) -> bool:
    if not isinstance(value, bool):
        raise CodecError(f"{what} must be a boolean")
    return value


def _decode_entry(value: Value) -> RaftEntry:
    fields = expect_list(value, "Raft entry", 7)
    if len(fields) != 7 or fields[0] != TAG_ENTRY:
        raise CodecError("expected a Raft entry record of 7 fields")
    height = _expect_height(fields[1], "entry height")
    if height < 1:
        raise CodecError("a Raft entry is a block at height 1 or more")
    return RaftEntry(
        height=height,
        term=_expect_term(fields[2], "entry term"),
        block_hash=Hash(expect_bytes(fields[3], "entry block hash", size=HASH_SIZE)),
        timestamp_ms=expect_uint(fields[4], "entry timestamp", maximum=TIMESTAMP_MS_MAX),
        leader=_expect_address(fields[5], "entry leader"),
        signature=expect_bytes(fields[6], "entry signature", size=SIGNATURE_SIZE),
    )


def _expect_fields(fields: list[Value], count: int, what: str) -> None:
    if len(fields) != count:
        raise CodecError(f"a Raft {what} is a record of {count} fields, not {len(fields)}")


def decode_raft_message(data: bytes) -> RaftMessage:
    """Decode one Raft message; CodecError for anything out of shape or bounds."""
    if not isinstance(data, bytes):
        raise CodecError("a Raft message must be bytes")
    if len(data) > RAFT_MESSAGE_BYTES_MAX:
        raise CodecError(f"a Raft message is at most {RAFT_MESSAGE_BYTES_MAX} bytes, not {len(data)}")
    fields = expect_list(decode(data), "Raft message", 7)
    tag = fields[0] if fields else None
    if tag == TAG_REQUEST_VOTE:
        _expect_fields(fields, 6, "vote request")
        return RequestVote(
            term=_expect_term(fields[1]),
            candidate=_expect_address(fields[2], "candidate"),
            last_height=_expect_height(fields[3], "last height"),
            last_term=_expect_term(fields[4], "last term", minimum=0),
            is_prevote=_expect_bool(fields[5], "pre-vote flag"),
        )
    if tag == TAG_VOTE_REPLY:
        _expect_fields(fields, 5, "vote reply")
        return VoteReply(
            term=_expect_term(fields[1], minimum=0),
            voter=_expect_address(fields[2], "voter"),
            is_prevote=_expect_bool(fields[3], "pre-vote flag"),
            is_granted=_expect_bool(fields[4], "granted flag"),
        )
    if tag == TAG_APPEND_ENTRIES:
        _expect_fields(fields, 7, "append request")
        previous_height = _expect_height(fields[3], "previous height")
        entries = tuple(
            _decode_entry(value) for value in expect_list(fields[5], "Raft entries", ENTRIES_PER_MESSAGE_MAX)
        )
        if any(entry.height != previous_height + 1 + offset for offset, entry in enumerate(entries)):
            raise CodecError("the entries of an append request follow its previous height without a gap")
        return AppendEntries(
            term=_expect_term(fields[1]),
            leader=_expect_address(fields[2], "leader"),
            previous_height=previous_height,
            previous_term=_expect_term(fields[4], "previous term", minimum=0),
            entries=entries,
            leader_commit=_expect_height(fields[6], "leader commit"),
        )
    if tag == TAG_APPEND_REPLY:
        _expect_fields(fields, 5, "append reply")
        return AppendReply(
            term=_expect_term(fields[1]),
            follower=_expect_address(fields[2], "follower"),
            is_success=_expect_bool(fields[3], "success flag"),
            match_height=_expect_height(fields[4], "match height"),
        )
    raise CodecError(f"not a Raft message: tag {tag!r}")
