"""What nodes send each other on the consensus and sync channels.

Every body is a tagged canonical record, decoded with strict bounds before
anything acts on it; a body that does not decode is the sender's fault and
the handler raises CodecError, which makes the transport disconnect it.

consensus channel:
    ["gusu.cvote.v1", message]                 a signed prevote or precommit
    ["gusu.cproposal.v1", message, block]      a signed proposal with its block body (transactions
                                               stay encoded until the receiver needs them)
    ["gusu.cproposalref.v1", message]          the same proposal again, without the body (re-sends:
                                               a peer that lacks the body asks for it by hash)
    ["gusu.craft.v1", message, [block, ...]]   a Raft message (`gusu.consensus.raft_messages`); an
                                               AppendEntries carries the bodies of its first entries,
                                               in order (fewer than its entries when they would not fit)
sync channel:
    ["gusu.sstatus.v1", height]                the sender's committed height
    ["gusu.srequest.v1", from_height, count]   ask for blocks [from, from + count)
    ["gusu.sblocks.v1", [[block, certificate], ...]]   the answer, in height order
    ["gusu.sbodyrequest.v1", block_hash]       ask for the body of a proposed, undecided block
    ["gusu.sbody.v1", block]                   the answer
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gusu.codec import Value, decode, encode, expect_bytes, expect_list, expect_uint
from gusu.consensus.messages import Message, Proposal, Vote, decode_message, encode_message, validate_message
from gusu.consensus.raft_messages import AppendEntries, RaftMessage, decode_raft_message, encode_raft_message
from gusu.errors import CodecError
from gusu.ledger.types import (
    HASH_SIZE,
    CommitCertificate,
    Hash,
    Height,
    RawBlock,
    decode_commit_certificate,
    decode_raw_block,
    encode_commit_certificate,
    encode_raw_block,
)

TAG_VOTE = "gusu.cvote.v1"
TAG_PROPOSAL = "gusu.cproposal.v1"
TAG_PROPOSAL_REFERENCE = "gusu.cproposalref.v1"
TAG_RAFT = "gusu.craft.v1"
TAG_STATUS = "gusu.sstatus.v1"
TAG_REQUEST = "gusu.srequest.v1"
TAG_BLOCKS = "gusu.sblocks.v1"
TAG_BODY_REQUEST = "gusu.sbodyrequest.v1"
TAG_BODY = "gusu.sbody.v1"

SYNC_BLOCKS_PER_MESSAGE_MAX = 64
"""Blocks in one sync answer; the answering node also keeps the answer under the frame limit."""


@dataclass(frozen=True, slots=True)
class ProposalWithBlock:
    proposal: Proposal
    block: RawBlock


def encode_vote_body(vote: Vote) -> bytes:
    return encode([TAG_VOTE, encode_message(vote)])


def encode_proposal_body(proposal: Proposal, block: RawBlock) -> bytes:
    return encode([TAG_PROPOSAL, encode_message(proposal), encode_raw_block(block)])


def encode_proposal_reference_body(proposal: Proposal) -> bytes:
    return encode([TAG_PROPOSAL_REFERENCE, encode_message(proposal)])


def _decode_record(body: bytes, shapes: dict[str, int]) -> list[Value]:
    """A tagged record whose tag is one of `shapes` (tag -> field count)."""
    value = decode(body)
    if not isinstance(value, list) or not value or not isinstance(value[0], str) or value[0] not in shapes:
        raise CodecError(f"expected one of {', '.join(sorted(shapes))}")
    if len(value) != shapes[value[0]]:
        raise CodecError(f"a {value[0]} record has {shapes[value[0]]} fields")
    return value


def decode_consensus_body(body: bytes) -> Message | ProposalWithBlock:
    """A vote, a proposal without its block, or one with it; CodecError if malformed or inconsistent."""
    fields = _decode_record(body, {TAG_VOTE: 2, TAG_PROPOSAL: 3, TAG_PROPOSAL_REFERENCE: 2})
    message = decode_message(expect_bytes(fields[1], "consensus message"))
    validate_message(message)
    if fields[0] == TAG_VOTE:
        if not isinstance(message, Vote):
            raise CodecError("a vote envelope carries a proposal")
        return message
    if not isinstance(message, Proposal):
        raise CodecError("a proposal envelope carries a vote")
    if fields[0] == TAG_PROPOSAL_REFERENCE:
        return message
    block = decode_raw_block(expect_bytes(fields[2], "proposed block"))
    if block.header.height != message.height or block.header.timestamp_ms != message.timestamp_ms:
        raise CodecError("the proposed block's height or time differs from its proposal")
    return ProposalWithBlock(message, block)


@dataclass(frozen=True, slots=True)
class RaftWithBlocks:
    message: RaftMessage
    blocks: tuple[RawBlock, ...]
    """Bodies of the first ``len(blocks)`` entries of an AppendEntries, in order (none for other messages)."""


def encode_raft_body(message: RaftMessage, blocks: Sequence[RawBlock] = ()) -> bytes:
    return encode([TAG_RAFT, encode_raft_message(message), [encode_raw_block(block) for block in blocks]])


def _compute_raft_body_prefix() -> bytes:
    sample = encode([TAG_RAFT, 0, []])
    return sample[: len(sample) - len(encode(0)) - len(encode([]))]


RAFT_BODY_PREFIX = _compute_raft_body_prefix()
"""How every Raft body begins (list header and tag): a node tells the engines' messages apart without decoding."""


def is_raft_body(body: bytes) -> bool:
    """True if `body` is a Raft message (else it is Tendermint's, or malformed): for routing a consensus body
    to the engine in force, and ignoring a late one of the engine before a switch."""
    return body.startswith(RAFT_BODY_PREFIX)


def decode_raft_body(body: bytes) -> RaftWithBlocks:
    """A Raft message and its entries' bodies; CodecError if malformed, or a body is not its entry's height."""
    fields = _decode_record(body, {TAG_RAFT: 3})
    message = decode_raft_message(expect_bytes(fields[1], "Raft message"))
    entries = message.entries if isinstance(message, AppendEntries) else ()
    raws = expect_list(fields[2], "Raft entry bodies", len(entries))
    blocks = tuple(decode_raw_block(expect_bytes(raw, "Raft entry body")) for raw in raws)
    if any(block.header.height != entry.height for block, entry in zip(blocks, entries, strict=False)):
        raise CodecError("a Raft entry's body is a block of another height")
    return RaftWithBlocks(message, blocks)


def encode_status(height: Height) -> bytes:
    return encode([TAG_STATUS, height])


def encode_request(from_height: Height, count: int) -> bytes:
    return encode([TAG_REQUEST, from_height, count])


def encode_blocks(blocks: list[tuple[RawBlock, CommitCertificate]]) -> bytes:
    return encode([TAG_BLOCKS, [[encode_raw_block(block), encode_commit_certificate(cert)] for block, cert in blocks]])


@dataclass(frozen=True, slots=True)
class SyncStatus:
    height: Height


@dataclass(frozen=True, slots=True)
class SyncRequest:
    from_height: Height
    count: int


@dataclass(frozen=True, slots=True)
class SyncBlocks:
    blocks: tuple[tuple[RawBlock, CommitCertificate], ...]


@dataclass(frozen=True, slots=True)
class BodyRequest:
    block_hash: Hash


@dataclass(frozen=True, slots=True)
class BodyAnswer:
    block: RawBlock


def encode_body_request(block_hash: Hash) -> bytes:
    return encode([TAG_BODY_REQUEST, block_hash])


def encode_body_answer(block: RawBlock) -> bytes:
    return encode([TAG_BODY, encode_raw_block(block)])


def decode_sync_body(body: bytes) -> SyncStatus | SyncRequest | SyncBlocks | BodyRequest | BodyAnswer:
    fields = _decode_record(body, {TAG_STATUS: 2, TAG_REQUEST: 3, TAG_BLOCKS: 2, TAG_BODY_REQUEST: 2, TAG_BODY: 2})
    if fields[0] == TAG_BODY_REQUEST:
        return BodyRequest(Hash(expect_bytes(fields[1], "requested block hash", size=HASH_SIZE)))
    if fields[0] == TAG_BODY:
        return BodyAnswer(decode_raw_block(expect_bytes(fields[1], "block body")))
    if fields[0] == TAG_STATUS:
        return SyncStatus(Height(expect_uint(fields[1], "status height")))
    if fields[0] == TAG_REQUEST:
        count = expect_uint(fields[2], "requested block count", maximum=SYNC_BLOCKS_PER_MESSAGE_MAX)
        return SyncRequest(Height(expect_uint(fields[1], "requested height")), count)
    pairs = []
    for item in expect_list(fields[1], "sync blocks", SYNC_BLOCKS_PER_MESSAGE_MAX):
        pair = expect_list(item, "sync block", 2)
        if len(pair) != 2:
            raise CodecError("a sync block is [block, certificate]")
        block = decode_raw_block(expect_bytes(pair[0], "sync block body"))
        certificate = decode_commit_certificate(expect_bytes(pair[1], "sync certificate"))
        pairs.append((block, certificate))
    return SyncBlocks(tuple(pairs))
