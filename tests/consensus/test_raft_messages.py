"""Raft's wire messages, WAL records and certificate: round trips, bounds, and forgeries refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gusu.consensus import Validator, ValidatorSet
from gusu.consensus.raft import RaftWalRecord, decode_raft_wal_record, encode_raft_wal_record
from gusu.consensus.raft_messages import (
    ENTRIES_PER_MESSAGE_MAX,
    RAFT_MESSAGE_BYTES_MAX,
    AppendEntries,
    AppendReply,
    RaftEntry,
    RaftMessage,
    RequestVote,
    VoteReply,
    compute_raft_certificate,
    decode_raft_message,
    encode_raft_message,
    is_sender_bound,
    make_entry,
    verify_raft_certificate,
)
from gusu.errors import CodecError, InvalidBlockError
from gusu.eval.simulation.crypto import make_identities
from gusu.ledger.types import CommitSignature, Hash, Height, Round

CHAIN = "gusu-raft-test"
SUITE, IDENTITIES = make_identities("sim", 3, 3)
MEMBERS = ValidatorSet(Validator(i.address, i.public_key, 1) for i in IDENTITIES)
LEADER = IDENTITIES[0]
BLOCK = Hash(b"\xab" * 32)


def _entry(height: int, term: int = 3) -> RaftEntry:
    return make_entry(LEADER.signer, CHAIN, LEADER.address, Height(height), term, BLOCK, 1_700_000_000_000 + height)


def test_every_message_survives_its_encoding() -> None:
    entries = tuple(_entry(h) for h in range(5, 5 + ENTRIES_PER_MESSAGE_MAX))
    messages: list[RaftMessage] = [
        RequestVote(4, LEADER.address, Height(9), 3, True),
        VoteReply(4, IDENTITIES[1].address, False, True),
        AppendEntries(3, LEADER.address, Height(4), 2, entries, Height(4)),
        AppendReply(3, IDENTITIES[2].address, False, Height(4)),
    ]
    for message in messages:
        data = encode_raft_message(message)
        assert len(data) <= RAFT_MESSAGE_BYTES_MAX
        assert decode_raft_message(data) == message


def test_out_of_bounds_or_gapped_messages_are_refused() -> None:
    gapped = AppendEntries(3, LEADER.address, Height(4), 2, (_entry(5), _entry(7)), Height(4))
    with pytest.raises(CodecError, match="gap"):
        decode_raft_message(encode_raft_message(gapped))
    with pytest.raises(CodecError):
        decode_raft_message(encode_raft_message(RequestVote(0, LEADER.address, Height(0), 0, True)))
    with pytest.raises(CodecError):
        decode_raft_message(b"\x00" * (RAFT_MESSAGE_BYTES_MAX + 1))
    too_many = AppendEntries(
        3, LEADER.address, Height(0), 0, tuple(_entry(h) for h in range(1, ENTRIES_PER_MESSAGE_MAX + 2)), Height(0)
    )
    with pytest.raises(CodecError):
        decode_raft_message(encode_raft_message(too_many))


def test_sender_binding() -> None:
    message = AppendReply(3, IDENTITIES[2].address, True, Height(4))
    assert is_sender_bound(message, IDENTITIES[2].address)
    assert not is_sender_bound(message, IDENTITIES[1].address)


def test_certificate_is_the_leaders_entry_signature() -> None:
    entry = _entry(7)
    certificate = compute_raft_certificate(entry)
    assert certificate.round == 3 and certificate.signatures[0].validator == LEADER.address
    verify_raft_certificate(SUITE, CHAIN, MEMBERS, certificate)
    with pytest.raises(InvalidBlockError):
        verify_raft_certificate(SUITE, "another-chain", MEMBERS, certificate)
    with pytest.raises(InvalidBlockError):
        verify_raft_certificate(SUITE, CHAIN, MEMBERS, replace(certificate, round=Round(4)))
    forged = replace(certificate, signatures=(CommitSignature(IDENTITIES[1].address, 0, bytes(64)),))
    with pytest.raises(InvalidBlockError):
        verify_raft_certificate(SUITE, CHAIN, MEMBERS, forged)
    with pytest.raises(InvalidBlockError):
        verify_raft_certificate(SUITE, CHAIN, MEMBERS, replace(certificate, signatures=certificate.signatures * 2))


def test_wal_records_round_trip_and_refuse_foreign_data() -> None:
    records = [
        RaftWalRecord(term=5, voted_for=LEADER.address),
        RaftWalRecord(term=0),
        RaftWalRecord(entries=(_entry(2),)),
    ]
    for record in records:
        assert decode_raft_wal_record(encode_raft_wal_record(record)) == record
    with pytest.raises(CodecError):
        decode_raft_wal_record(b"\x93\x01\x02\x03")
