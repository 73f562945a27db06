"""Commit certificates: the one verification a light client needs, and BFT time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gusu.consensus.certificate import (
    assemble_commit_certificate,
    compute_block_time_ms,
    get_certificate_precommits,
    verify_commit_certificate,
)
from gusu.consensus.messages import Vote, VoteKind, encode_signing_bytes, make_signer
from gusu.consensus.validator_set import Validator, ValidatorSet
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import InvalidBlockError
from gusu.ledger.types import (
    Address,
    CommitCertificate,
    CommitSignature,
    Hash,
    Height,
    Round,
    decode_commit_certificate,
    encode_commit_certificate,
)

CHAIN = "gusu-test"
BLOCK = Hash(b"\xab" * 32)


class Committee:
    """Validators with real keys of one suite and unequal powers."""

    def __init__(self, suite_name: str, powers: list[int]) -> None:
        self.suite: CryptoSuite = get_suite(suite_name)
        self.keys: list[PrivateKey] = [self.suite.generate_private_key() for _ in powers]
        self.addresses = [Address(self.suite.compute_address(key.public_key)) for key in self.keys]
        self.validators = ValidatorSet(
            Validator(address, key.public_key, power)
            for address, key, power in zip(self.addresses, self.keys, powers, strict=True)
        )

    def precommit(self, index: int, block_hash: Hash = BLOCK, timestamp_ms: int = 1_000, round_: int = 1) -> Vote:
        vote = Vote(
            VoteKind.PRECOMMIT, CHAIN, Height(9), Round(round_), block_hash, timestamp_ms, self.addresses[index], b""
        )
        return replace(vote, signature=make_signer(self.suite, self.keys[index])(encode_signing_bytes(vote)))

    def certificate(self, indices: list[int]) -> CommitCertificate:
        return assemble_commit_certificate(self.precommit(index, timestamp_ms=1_000 + index) for index in indices)


@pytest.fixture(params=["sm", "ecdsa"])
def committee(request: pytest.FixtureRequest) -> Committee:
    return Committee(str(request.param), [4, 3, 2, 1])  # total 10: a quorum needs 7


def test_a_quorum_of_precommits_verifies(committee: Committee) -> None:
    certificate = committee.certificate([0, 1, 3])  # 4 + 3 + 1 = 8
    verify_commit_certificate(committee.suite, CHAIN, committee.validators, certificate, BLOCK)
    # It survives the ledger's encoding, as stored with the block.
    stored = decode_commit_certificate(encode_commit_certificate(certificate))
    verify_commit_certificate(committee.suite, CHAIN, committee.validators, stored)
    assert [entry.validator for entry in certificate.signatures] == sorted(
        entry.validator for entry in stored.signatures
    )


def test_insufficient_power_is_rejected(committee: Committee) -> None:
    # Three of four validators, but only 3 + 2 + 1 = 6 of 10: not more than 2/3.
    certificate = committee.certificate([1, 2, 3])
    with pytest.raises(InvalidBlockError, match="6 of 10 voting power; a commit needs at least 7"):
        verify_commit_certificate(committee.suite, CHAIN, committee.validators, certificate)


def test_a_forged_signature_is_rejected(committee: Committee) -> None:
    certificate = committee.certificate([0, 1, 2])
    forged = replace(certificate.signatures[1], signature=bytes(64))
    bad = replace(certificate, signatures=(certificate.signatures[0], forged, certificate.signatures[2]))
    with pytest.raises(InvalidBlockError, match="does not verify"):
        verify_commit_certificate(committee.suite, CHAIN, committee.validators, bad)


def test_a_signature_for_another_block_round_or_chain_is_rejected(committee: Committee) -> None:
    certificate = committee.certificate([0, 1, 2])
    for changed in (replace(certificate, block_hash=Hash(b"\xcd" * 32)), replace(certificate, round=Round(2))):
        with pytest.raises(InvalidBlockError, match="does not verify"):
            verify_commit_certificate(committee.suite, CHAIN, committee.validators, changed)
    with pytest.raises(InvalidBlockError, match="does not verify"):
        verify_commit_certificate(committee.suite, "other-chain", committee.validators, certificate)
    moved = replace(certificate.signatures[0], timestamp_ms=certificate.signatures[0].timestamp_ms + 1)
    with pytest.raises(InvalidBlockError, match="does not verify"):
        verify_commit_certificate(
            committee.suite,
            CHAIN,
            committee.validators,
            replace(certificate, signatures=(moved, *certificate.signatures[1:])),
        )


def test_duplicate_validators_are_rejected(committee: Committee) -> None:
    certificate = committee.certificate([0, 1])
    doubled = replace(certificate, signatures=(*certificate.signatures, certificate.signatures[1]))
    with pytest.raises(InvalidBlockError, match="more than once"):
        verify_commit_certificate(committee.suite, CHAIN, committee.validators, doubled)


def test_unknown_validators_are_rejected(committee: Committee) -> None:
    outsider = Committee(committee.suite.name, [100])
    certificate = committee.certificate([0, 1])
    vote = outsider.precommit(0)
    extra = CommitSignature(vote.validator, vote.timestamp_ms, vote.signature)
    with pytest.raises(InvalidBlockError, match="not a validator"):
        verify_commit_certificate(
            committee.suite,
            CHAIN,
            committee.validators,
            replace(certificate, signatures=(*certificate.signatures, extra)),
        )


def test_the_expected_block_is_checked(committee: Committee) -> None:
    certificate = committee.certificate([0, 1, 2])
    with pytest.raises(InvalidBlockError, match="is for block"):
        verify_commit_certificate(committee.suite, CHAIN, committee.validators, certificate, Hash(b"\x01" * 32))


def test_precommits_come_back_out_of_a_certificate(committee: Committee) -> None:
    votes = [committee.precommit(index) for index in (2, 0, 1)]
    certificate = assemble_commit_certificate(votes)
    assert sorted(get_certificate_precommits(CHAIN, certificate), key=lambda vote: vote.validator) == sorted(
        votes, key=lambda vote: vote.validator
    )


def test_assembly_refuses_mixed_votes() -> None:
    committee = Committee("ecdsa", [1, 1])
    with pytest.raises(ValueError, match="one block in one round"):
        assemble_commit_certificate([committee.precommit(0), committee.precommit(1, block_hash=Hash(b"\x01" * 32))])
    with pytest.raises(ValueError, match="at least one"):
        assemble_commit_certificate([])


# --- BFT time -------------------------------------------------------------------------------------


def test_block_time_is_the_power_weighted_median() -> None:
    validators = ValidatorSet(
        Validator(Address(bytes([index + 1]) * 20), b"k", power) for index, power in enumerate([4, 3, 2, 1])
    )
    addresses = [validator.address for validator in validators.validators]

    def certificate(times: list[int]) -> CommitCertificate:
        return CommitCertificate(
            Height(1), Round(0), BLOCK, tuple(CommitSignature(addresses[i], t, b"") for i, t in enumerate(times))
        )

    # Sorted by time: 100 (power 1), 200 (2), 300 (3), 400 (4): half of 10 is passed at 300.
    assert compute_block_time_ms(certificate([400, 300, 200, 100]), validators) == 300
    # Power 4 at 100 is not more than half of 10; adding the 3 at 1000 is.
    assert compute_block_time_ms(certificate([100, 1000, 1000, 1000]), validators) == 1000
    # The two heaviest (7 of 10) agree on 100, whatever the light ones say.
    assert compute_block_time_ms(certificate([100, 100, 5000, 5000]), validators) == 100


@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=50), st.integers(min_value=0, max_value=10**6)),
        min_size=1,
        max_size=12,
    )
)
def test_block_time_is_bounded_by_the_majority_of_power(entries: list[tuple[int, int]]) -> None:
    validators = ValidatorSet(
        Validator(Address(index.to_bytes(20, "big")), b"k", power) for index, (power, _) in enumerate(entries, start=1)
    )
    certificate = CommitCertificate(
        Height(1),
        Round(0),
        BLOCK,
        tuple(
            CommitSignature(Address(index.to_bytes(20, "big")), time, b"")
            for index, (_, time) in enumerate(entries, start=1)
        ),
    )
    median = compute_block_time_ms(certificate, validators)
    total = sum(power for power, _ in entries)
    # Validators holding at least half of the power stamped no later, and at least half no earlier.
    assert 2 * sum(power for power, time in entries if time <= median) > total
    assert 2 * sum(power for power, time in entries if time >= median) >= total


def test_block_time_of_a_bad_certificate_is_refused() -> None:
    validators = ValidatorSet([Validator(Address(b"\x01" * 20), b"k", 1)])
    with pytest.raises(InvalidBlockError, match="empty"):
        compute_block_time_ms(CommitCertificate(Height(1), Round(0), BLOCK, ()), validators)
    stranger = CommitCertificate(Height(1), Round(0), BLOCK, (CommitSignature(Address(b"\x02" * 20), 1, b""),))
    with pytest.raises(InvalidBlockError, match="not a validator"):
        compute_block_time_ms(stranger, validators)
