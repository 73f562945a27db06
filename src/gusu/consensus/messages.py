"""Tendermint consensus messages: proposals and votes, their signed bytes and wire encodings.

Every message is signed by a validator over its *signing bytes*, the
canonical encoding of a tagged list (see `gusu.codec`) hashed with the
chain's suite; the signature is over that 32-byte digest, as for
transactions. Domain tags keep the kinds apart, so a prevote can never be
replayed as a precommit or a proposal:

===========  =====================================================================================
proposal     ``["gusu.proposal.v1", chain_id, height, round, block_hash, pol_round, timestamp_ms]``
prevote      ``["gusu.prevote.v1", chain_id, height, round, block_hash | nil, timestamp_ms]``
precommit    ``["gusu.precommit.v1", chain_id, height, round, block_hash | nil, timestamp_ms]``
===========  =====================================================================================

A precommit for a block is signed over exactly
`gusu.ledger.types.encode_commit_vote`, so the precommits of a quorum *are*
the `CommitSignature` entries of the block's commit certificate: no second
signature is needed to commit.

On the wire a message is the canonical encoding of its fields plus the
signer's address and signature, under a tag of its own
(``gusu.msg.proposal.v1``, ``gusu.msg.vote.v1``). `decode_message` checks
every field's type and bound (heights, rounds up to `ROUND_MAX`, sizes) and
raises CodecError for anything else, so a peer's garbage never reaches the
engine. Signatures are checked by the node (`verify_message`) before the
message is handed to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeAlias

from gusu.codec import Value, decode, encode, expect_bytes, expect_int, expect_list, expect_str, expect_uint
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import CryptoSuite, PrivateKey
from gusu.errors import CodecError
from gusu.ledger.types import (
    ADDRESS_SIZE,
    CHAIN_ID_LENGTH_MAX,
    HASH_SIZE,
    SIGNATURE_SIZE,
    Address,
    Hash,
    Height,
    Round,
    encode_commit_vote,
)

TAG_PROPOSAL = "gusu.proposal.v1"
TAG_PREVOTE = "gusu.prevote.v1"
TAG_PRECOMMIT = "gusu.precommit.v1"
"""The tag `encode_commit_vote` uses; nil precommits share it with a nil in the hash slot."""
TAG_WIRE_PROPOSAL = "gusu.msg.proposal.v1"
TAG_WIRE_VOTE = "gusu.msg.vote.v1"

HEIGHT_MAX = 2**62
"""Far beyond any real chain, and with room to add rounds without leaving 64 bits."""
ROUND_MAX = 100_000
"""With timeouts growing linearly per round, round 100,000 is weeks into one height."""
TIMESTAMP_MS_MAX = 2**53
"""Milliseconds since 1970, about 285,000 years: exact in any JSON number too."""
MESSAGE_BYTES_MAX = 1024
"""A proposal or vote encodes to about 200 bytes; anything much larger is garbage."""
NO_ROUND = -1
"""`pol_round` of a proposal that carries no proof of lock."""


class VoteKind(Enum):
    PREVOTE = 1
    PRECOMMIT = 2


@dataclass(frozen=True, slots=True)
class Proposal:
    """The round's proposer proposes `block_hash` (the block body travels beside it, in the network layer)."""

    chain_id: str
    height: Height
    round: Round
    block_hash: Hash
    pol_round: int
    """The round in which more than 2/3 prevoted this block (its proof of lock), or -1."""
    timestamp_ms: int
    """The proposed block's header timestamp; the node rejects a proposal whose block disagrees."""
    proposer: Address
    signature: bytes


@dataclass(frozen=True, slots=True)
class Vote:
    """A prevote or precommit for `block_hash`, or for nothing (nil) when it is None."""

    kind: VoteKind
    chain_id: str
    height: Height
    round: Round
    block_hash: Hash | None
    timestamp_ms: int
    validator: Address
    signature: bytes


Message: TypeAlias = Proposal | Vote

Signer: TypeAlias = Callable[[bytes], bytes]
"""Signs a message's signing bytes and returns the 64-byte signature (see `make_signer`).

The engine calls it but never looks inside the result, so a randomized
signature scheme (SM2) cannot change what the engine decides.
"""


@dataclass(frozen=True, slots=True)
class Equivocation:
    """Evidence: one signer, two different signed messages of one kind at one height and round."""

    first: Message
    second: Message


# --- signing bytes -------------------------------------------------------------------------


def encode_proposal_signing_bytes(proposal: Proposal) -> bytes:
    return encode(
        [
            TAG_PROPOSAL,
            proposal.chain_id,
            proposal.height,
            proposal.round,
            proposal.block_hash,
            proposal.pol_round,
            proposal.timestamp_ms,
        ]
    )


def encode_vote_signing_bytes(vote: Vote) -> bytes:
    if vote.kind is VoteKind.PRECOMMIT:
        if vote.block_hash is not None:
            # Exactly the commit vote, so the signature goes into the certificate as it is.
            return encode_commit_vote(vote.chain_id, vote.height, vote.round, vote.block_hash, vote.timestamp_ms)
        return encode([TAG_PRECOMMIT, vote.chain_id, vote.height, vote.round, None, vote.timestamp_ms])
    return encode([TAG_PREVOTE, vote.chain_id, vote.height, vote.round, vote.block_hash, vote.timestamp_ms])


def encode_signing_bytes(message: Message) -> bytes:
    """What the signer of `message` signs (hashed with the suite first; see `make_signer`)."""
    if isinstance(message, Proposal):
        return encode_proposal_signing_bytes(message)
    return encode_vote_signing_bytes(message)


def get_signer_address(message: Message) -> Address:
    return message.proposer if isinstance(message, Proposal) else message.validator


def make_signer(suite: CryptoSuite, key: PrivateKey) -> Signer:
    """The node's signer: the suite's signature over the suite's hash of the signing bytes."""

    def sign(signing_bytes: bytes) -> bytes:
        return suite.sign(key, suite.hash(signing_bytes))

    return sign


def verify_message_signature(suite: CryptoSuite, public_key: bytes, message: Message) -> bool:
    """True if `message` carries a valid signature by `public_key`; never raises."""
    try:
        digest = suite.hash(encode_signing_bytes(message))
    except CodecError:
        return False
    return suite.verify(public_key, digest, message.signature)


def verify_message(suite: CryptoSuite, validator_set: ValidatorSet, message: Message) -> bool:
    """True if `message` is signed by the validator it names, a member of `validator_set`.

    What the node checks before `MessageReceived`; whether a proposal comes
    from the round's proposer is the engine's business.
    """
    validator = validator_set.get_validator(get_signer_address(message))
    return validator is not None and verify_message_signature(suite, validator.public_key, message)


# --- wire encoding ------------------------------------------------------------------------------


def encode_message(message: Message) -> bytes:
    """The bytes sent between nodes."""
    fields: list[Value]
    if isinstance(message, Proposal):
        fields = [
            TAG_WIRE_PROPOSAL,
            message.chain_id,
            message.height,
            message.round,
            message.block_hash,
            message.pol_round,
            message.timestamp_ms,
            message.proposer,
            message.signature,
        ]
    else:
        fields = [
            TAG_WIRE_VOTE,
            message.kind.value,
            message.chain_id,
            message.height,
            message.round,
            message.block_hash,
            message.timestamp_ms,
            message.validator,
            message.signature,
        ]
    return encode(fields)


def _expect_height(value: Value) -> Height:
    height = expect_uint(value, "height", maximum=HEIGHT_MAX)
    if height < 1:
        raise CodecError("height must be at least 1: consensus never runs for the genesis block")
    return Height(height)


def _expect_round(value: Value, what: str = "round") -> Round:
    return Round(expect_uint(value, what, maximum=ROUND_MAX))


def decode_message(data: bytes) -> Message:
    """Decode a proposal or vote from the wire; CodecError for anything out of shape or bounds."""
    if not isinstance(data, bytes):
        raise CodecError("a consensus message must be bytes")
    if len(data) > MESSAGE_BYTES_MAX:
        raise CodecError(f"a consensus message is at most {MESSAGE_BYTES_MAX} bytes, not {len(data)}")
    fields = expect_list(decode(data), "consensus message", 9)
    if len(fields) != 9:
        raise CodecError("a consensus message is a record of 9 fields")
    tag = fields[0]
    if tag == TAG_WIRE_PROPOSAL:
        pol_round = expect_int(fields[5], "proof-of-lock round")
        height = _expect_height(fields[2])
        round_ = _expect_round(fields[3])
        if not NO_ROUND <= pol_round < round_:
            raise CodecError(f"proof-of-lock round must be -1 or below the proposal round {round_}, not {pol_round}")
        return Proposal(
            chain_id=expect_str(fields[1], "chain id", CHAIN_ID_LENGTH_MAX),
            height=height,
            round=round_,
            block_hash=Hash(expect_bytes(fields[4], "block hash", size=HASH_SIZE)),
            pol_round=pol_round,
            timestamp_ms=expect_uint(fields[6], "timestamp", maximum=TIMESTAMP_MS_MAX),
            proposer=Address(expect_bytes(fields[7], "proposer", size=ADDRESS_SIZE)),
            signature=expect_bytes(fields[8], "signature", size=SIGNATURE_SIZE),
        )
    if tag == TAG_WIRE_VOTE:
        kind_number = expect_uint(fields[1], "vote kind", maximum=VoteKind.PRECOMMIT.value)
        if kind_number < VoteKind.PREVOTE.value:
            raise CodecError(f"vote kind must be 1 (prevote) or 2 (precommit), not {kind_number}")
        block_hash = fields[5]
        return Vote(
            kind=VoteKind(kind_number),
            chain_id=expect_str(fields[2], "chain id", CHAIN_ID_LENGTH_MAX),
            height=_expect_height(fields[3]),
            round=_expect_round(fields[4]),
            block_hash=None if block_hash is None else Hash(expect_bytes(block_hash, "block hash", size=HASH_SIZE)),
            timestamp_ms=expect_uint(fields[6], "timestamp", maximum=TIMESTAMP_MS_MAX),
            validator=Address(expect_bytes(fields[7], "validator", size=ADDRESS_SIZE)),
            signature=expect_bytes(fields[8], "signature", size=SIGNATURE_SIZE),
        )
    raise CodecError(f"not a consensus message: tag {tag!r}")


def validate_message(message: Message) -> None:
    """CodecError unless `message` is within the bounds `decode_message` enforces.

    For messages built in memory (the engine's own, or a simulator's): the
    wire path gets the same guarantee from `decode_message`.
    """
    decoded = decode_message(encode_message(message))
    if decoded != message:
        raise CodecError("message does not survive its canonical encoding")
