"""Proposals and votes: signing bytes, wire codec with bounds, signatures, and WAL records."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.codec import encode
from gusu.consensus.messages import (
    HEIGHT_MAX,
    MESSAGE_BYTES_MAX,
    NO_ROUND,
    ROUND_MAX,
    TAG_WIRE_PROPOSAL,
    TAG_WIRE_VOTE,
    TIMESTAMP_MS_MAX,
    Message,
    Proposal,
    Vote,
    VoteKind,
    decode_message,
    encode_message,
    encode_signing_bytes,
    make_signer,
    validate_message,
    verify_message,
    verify_message_signature,
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
from gusu.consensus.validator_set import Validator, ValidatorSet
from gusu.crypto import get_suite
from gusu.errors import CodecError
from gusu.ledger.types import Address, Hash, Height, Round, encode_commit_vote

CHAIN = "gusu-test"

hashes = st.binary(min_size=32, max_size=32).map(Hash)
addresses = st.binary(min_size=20, max_size=20).map(Address)
signatures = st.binary(min_size=64, max_size=64)
heights = st.integers(min_value=1, max_value=HEIGHT_MAX).map(Height)
rounds = st.integers(min_value=0, max_value=ROUND_MAX).map(Round)
timestamps = st.integers(min_value=0, max_value=TIMESTAMP_MS_MAX)
chain_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-.0123456789", min_size=1, max_size=64)


@st.composite
def proposals(draw: st.DrawFn) -> Proposal:
    round_ = draw(st.integers(min_value=0, max_value=ROUND_MAX))
    return Proposal(
        chain_id=draw(chain_ids),
        height=draw(heights),
        round=Round(round_),
        block_hash=draw(hashes),
        pol_round=draw(st.integers(min_value=NO_ROUND, max_value=round_ - 1)),
        timestamp_ms=draw(timestamps),
        proposer=draw(addresses),
        signature=draw(signatures),
    )


votes = st.builds(
    Vote,
    kind=st.sampled_from(VoteKind),
    chain_id=chain_ids,
    height=heights,
    round=rounds,
    block_hash=st.none() | hashes,
    timestamp_ms=timestamps,
    validator=addresses,
    signature=signatures,
)
messages = proposals() | votes


BLOCK = Hash(b"\x11" * 32)


def make_vote(kind: VoteKind = VoteKind.PREVOTE, block_hash: Hash | None = BLOCK) -> Vote:
    return Vote(kind, CHAIN, Height(5), Round(2), block_hash, 1_700_000_000_000, Address(b"\x22" * 20), b"\x33" * 64)


def make_proposal(pol_round: int = NO_ROUND) -> Proposal:
    return Proposal(
        CHAIN,
        Height(5),
        Round(2),
        Hash(b"\x11" * 32),
        pol_round,
        1_700_000_000_000,
        Address(b"\x22" * 20),
        b"\x33" * 64,
    )


# --- codec ----------------------------------------------------------------------------------------


@given(messages)
def test_messages_round_trip(message: Message) -> None:
    data = encode_message(message)
    assert len(data) <= MESSAGE_BYTES_MAX
    assert decode_message(data) == message
    validate_message(message)


@given(messages)
def test_signing_bytes_differ_between_kinds(message: Message) -> None:
    # One domain tag per kind: the same fields never sign the same bytes as another kind.
    signing = encode_signing_bytes(message)
    if isinstance(message, Vote):
        other = replace(message, kind=VoteKind.PRECOMMIT if message.kind is VoteKind.PREVOTE else VoteKind.PREVOTE)
        assert encode_signing_bytes(other) != signing
    assert encode_signing_bytes(replace(message, signature=b"\x00" * 64)) == signing


def test_a_precommit_signs_exactly_the_commit_vote() -> None:
    vote = make_vote(VoteKind.PRECOMMIT)
    assert vote.block_hash is not None
    assert encode_signing_bytes(vote) == encode_commit_vote(
        CHAIN, vote.height, vote.round, vote.block_hash, vote.timestamp_ms
    )
    nil = make_vote(VoteKind.PRECOMMIT, None)
    assert encode_signing_bytes(nil) != encode_signing_bytes(vote)


def _wire_vote(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "kind": 1,
        "chain": CHAIN,
        "height": 5,
        "round": 2,
        "hash": b"\x11" * 32,
        "time": 1,
        "validator": b"\x22" * 20,
        "signature": b"\x33" * 64,
    }
    fields.update(changes)
    return encode([TAG_WIRE_VOTE, *fields.values()])  # type: ignore[list-item]


def _wire_proposal(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "chain": CHAIN,
        "height": 5,
        "round": 2,
        "hash": b"\x11" * 32,
        "pol": -1,
        "time": 1,
        "proposer": b"\x22" * 20,
        "signature": b"\x33" * 64,
    }
    fields.update(changes)
    return encode([TAG_WIRE_PROPOSAL, *fields.values()])  # type: ignore[list-item]


def test_well_formed_wire_messages_decode() -> None:
    assert isinstance(decode_message(_wire_vote()), Vote)
    assert isinstance(decode_message(_wire_proposal()), Proposal)
    assert decode_message(_wire_vote(hash=None)).block_hash is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_wire_vote(round=ROUND_MAX + 1), "round"),
        (_wire_vote(height=0), "height must be at least 1"),
        (_wire_vote(height=HEIGHT_MAX + 1), "height"),
        (_wire_vote(kind=0), "vote kind"),
        (_wire_vote(kind=3), "vote kind"),
        (_wire_vote(hash=b"\x11" * 31), "block hash"),
        (_wire_vote(validator=b"\x22" * 21), "validator"),
        (_wire_vote(signature=b"\x33" * 63), "signature"),
        (_wire_vote(time=TIMESTAMP_MS_MAX + 1), "timestamp"),
        (_wire_vote(time=-1), "timestamp"),
        (_wire_vote(chain="x" * 65), "chain id"),
        (_wire_vote(round=True), "round"),
        (_wire_proposal(pol=2), "proof-of-lock round"),
        (_wire_proposal(pol=-2), "proof-of-lock round"),
        (_wire_proposal(hash=None), "block hash"),
        (encode(["gusu.msg.other.v1", 1, 2, 3, 4, 5, 6, 7, 8]), "not a consensus message"),
        (encode([TAG_WIRE_VOTE, 1]), "9 fields"),
        (b"\x00" * (MESSAGE_BYTES_MAX + 1), "at most"),
        (b"\xc1", "not a valid encoding"),
    ],
)
def test_malformed_messages_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        decode_message(data)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_garbage_never_decodes_to_anything_but_codec_error(data: bytes) -> None:
    try:
        decoded = decode_message(data)
    except CodecError:
        return
    assert encode_message(decoded) == data


# --- signatures --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_signatures_verify_for_the_signer_only(suite_name: str) -> None:
    suite = get_suite(suite_name)
    key, other_key = suite.generate_private_key(), suite.generate_private_key()
    signer_address = Address(suite.compute_address(key.public_key))
    validators = ValidatorSet(
        [
            Validator(signer_address, key.public_key, 1),
            Validator(Address(suite.compute_address(other_key.public_key)), other_key.public_key, 1),
        ]
    )
    sign = make_signer(suite, key)
    vote = replace(make_vote(VoteKind.PRECOMMIT), validator=signer_address, signature=b"")
    vote = replace(vote, signature=sign(encode_signing_bytes(vote)))
    assert verify_message_signature(suite, key.public_key, vote)
    assert verify_message(suite, validators, vote)
    assert not verify_message_signature(suite, other_key.public_key, vote)
    assert not verify_message(suite, validators, replace(vote, round=Round(3)))  # other bytes
    assert not verify_message(suite, validators, replace(vote, validator=Address(b"\x01" * 20)))  # not a validator
    proposal = replace(make_proposal(), proposer=signer_address, signature=b"")
    proposal = replace(proposal, signature=sign(encode_signing_bytes(proposal)))
    assert verify_message(suite, validators, proposal)
    # The precommit's signature is a commit signature: it verifies over the commit vote's hash.
    assert vote.block_hash is not None
    digest = suite.hash(encode_commit_vote(CHAIN, vote.height, vote.round, vote.block_hash, vote.timestamp_ms))
    assert suite.verify(key.public_key, digest, vote.signature)


# --- WAL records ------------------------------------------------------------------------------------


@given(messages)
def test_wal_message_records_round_trip(message: Message) -> None:
    record = make_message_record(message)
    assert decode_wal_record(encode_wal_record(record)) == record


def test_wal_round_and_lock_records_round_trip() -> None:
    round_record = make_round_record(Height(7), Round(3))
    assert decode_wal_record(encode_wal_record(round_record)) == round_record
    proposal = make_proposal()
    prevotes = [replace(make_vote(), validator=Address(bytes([index]) * 20)) for index in range(3)]
    for kind in (WalKind.LOCK, WalKind.VALID):
        record = make_lock_record(kind, proposal, prevotes)
        decoded = decode_wal_record(encode_wal_record(record))
        assert decoded == record
        assert decoded.block_hash == proposal.block_hash


def test_corrupt_wal_records_are_rejected() -> None:
    with pytest.raises(CodecError, match="unknown WAL record kind"):
        decode_wal_record(encode(["gusu.wal.v1", "bogus", 1, 0, None]))
    with pytest.raises(CodecError, match="no payload"):
        decode_wal_record(encode(["gusu.wal.v1", "round", 1, 0, b"x"]))
    vote_record = WalRecord(WalKind.PROPOSAL, Height(5), Round(2), message=make_vote())
    with pytest.raises(CodecError, match="wrong kind"):
        decode_wal_record(encode_wal_record(vote_record))
    elsewhere = WalRecord(WalKind.VOTE, Height(6), Round(2), message=make_vote())
    with pytest.raises(CodecError, match="another height or round"):
        decode_wal_record(encode_wal_record(elsewhere))
    other_block = replace(make_vote(), block_hash=Hash(b"\x99" * 32))
    with pytest.raises(CodecError, match="proof of lock"):
        decode_wal_record(encode_wal_record(make_lock_record(WalKind.LOCK, make_proposal(), [other_block])))
