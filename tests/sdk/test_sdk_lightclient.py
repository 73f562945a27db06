"""The SDK's light client: from the genesis block to later blocks across a validator-set change, with real keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import InvalidBlockError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.lightclient import encode_raft_entry_signing_bytes
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Hash,
    Height,
    Round,
    compute_block_hash,
    encode_commit_vote,
)
from gusu.ledger.validators import compute_validators_hash
from gusu.sdk import BlockView, LightClientState, start_light_client, verify_next_block, verify_next_header

CHAIN = "gusu-light"


class Keys:
    def __init__(self, suite_name: str, count: int) -> None:
        self.suite: CryptoSuite = get_suite(suite_name)
        self.keys: list[PrivateKey] = [self.suite.generate_private_key() for _ in range(count)]

    def address(self, index: int) -> Address:
        return Address(self.suite.compute_address(self.keys[index].public_key))

    def validators(self, *members: int, power: int = 1) -> list[GenesisValidator]:
        return [
            GenesisValidator(f"v{index}", self.address(index), self.keys[index].public_key, power, "org")
            for index in members
        ]

    def certificate(self, header: BlockHeader, signers: Sequence[int]) -> CommitCertificate:
        block_hash = compute_block_hash(self.suite, header)
        entries = []
        for index in sorted(signers, key=self.address):
            timestamp_ms = header.timestamp_ms + 1
            digest = self.suite.hash(encode_commit_vote(CHAIN, header.height, Round(0), block_hash, timestamp_ms))
            entries.append(
                CommitSignature(self.address(index), timestamp_ms, self.suite.sign(self.keys[index], digest))
            )
        return CommitCertificate(header.height, Round(0), block_hash, tuple(entries))


SET_A = (0, 1, 2, 3)
SET_B = (1, 2, 3, 4)
"""In force from height 2: validator 0 leaves, validator 4 joins."""


@pytest.fixture(params=["sm", "ecdsa"])
def keys(request: pytest.FixtureRequest) -> Keys:
    return Keys(str(request.param), 6)


def _header(keys: Keys, height: int, parent: Hash, current: Sequence[int], following: Sequence[int]) -> BlockHeader:
    suite = keys.suite
    return BlockHeader(
        chain_id=CHAIN,
        height=Height(height),
        parent_hash=parent,
        timestamp_ms=1_700_000_000_000 + height,
        proposer=keys.address(current[0]),
        transactions_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        state_root=ZERO_HASH,
        validators_hash=compute_validators_hash(suite, keys.validators(*current)),
        next_validators_hash=compute_validators_hash(suite, keys.validators(*following)),
        transaction_count=0,
    )


def _start(keys: Keys) -> tuple[LightClientState, BlockHeader]:
    """Genesis (set A) and block 1, which announces set B for height 2."""
    genesis = _header(keys, 0, Hash(b"\x01" * 32), SET_A, SET_A)
    trusted = start_light_client(keys.suite, genesis, compute_block_hash(keys.suite, genesis), keys.validators(*SET_A))
    first = _header(keys, 1, trusted.block_hash, SET_A, SET_B)
    return verify_next_header(
        keys.suite, trusted, first, keys.certificate(first, (0, 1, 2)), keys.validators(*SET_A)
    ), first


def test_a_light_client_follows_a_validator_change(keys: Keys) -> None:
    trusted, _ = _start(keys)
    second = _header(keys, 2, trusted.block_hash, SET_B, SET_B)
    block = BlockView(compute_block_hash(keys.suite, second), second, (), (), keys.certificate(second, (2, 3, 4)))
    trusted = verify_next_block(keys.suite, trusted, block, keys.validators(*SET_B))
    assert trusted.header == second and trusted.block_hash == block.block_hash
    third = _header(keys, 3, trusted.block_hash, SET_B, SET_B)
    verify_next_header(keys.suite, trusted, third, keys.certificate(third, (1, 2, 4)), keys.validators(*SET_B))


def test_a_forged_set_that_does_not_match_the_announced_hash_is_refused(keys: Keys) -> None:
    trusted, _ = _start(keys)
    second = _header(keys, 2, trusted.block_hash, SET_B, SET_B)
    # The forger's set: its own key in place of validator 4, signing a quorum of "it".
    forged = [*keys.validators(1, 2, 3), *keys.validators(5)]
    forged_certificate = keys.certificate(second, (1, 2, 5))
    with pytest.raises(InvalidBlockError, match="does not hash to the one its header names"):
        verify_next_header(keys.suite, trusted, second, forged_certificate, forged)
    heavier = keys.validators(*SET_B, power=5)  # same keys, other powers: another set too
    with pytest.raises(InvalidBlockError, match="does not hash"):
        verify_next_header(keys.suite, trusted, second, keys.certificate(second, (2, 3, 4)), heavier)


def test_a_header_that_switches_to_an_unannounced_set_is_refused(keys: Keys) -> None:
    trusted, _ = _start(keys)
    switched = _header(keys, 2, trusted.block_hash, (1, 2, 5), (1, 2, 5))
    with pytest.raises(InvalidBlockError, match="announced"):
        verify_next_header(
            keys.suite, trusted, switched, keys.certificate(switched, (1, 2, 5)), keys.validators(1, 2, 5)
        )


def test_the_old_set_cannot_certify_a_height_of_the_new_one(keys: Keys) -> None:
    trusted, _ = _start(keys)
    second = _header(keys, 2, trusted.block_hash, SET_B, SET_B)
    with pytest.raises(InvalidBlockError, match="not a validator"):
        verify_next_header(keys.suite, trusted, second, keys.certificate(second, (0, 1, 2)), keys.validators(*SET_B))
    with pytest.raises(InvalidBlockError, match="does not hash"):
        verify_next_header(keys.suite, trusted, second, keys.certificate(second, (0, 1, 2)), keys.validators(*SET_A))


def test_links_and_signatures_are_checked(keys: Keys) -> None:
    trusted, _ = _start(keys)
    second = _header(keys, 2, trusted.block_hash, SET_B, SET_B)
    validators = keys.validators(*SET_B)
    certificate = keys.certificate(second, (2, 3, 4))
    with pytest.raises(InvalidBlockError, match="another parent"):
        orphan = replace(second, parent_hash=Hash(b"\x02" * 32))
        verify_next_header(keys.suite, trusted, orphan, keys.certificate(orphan, (2, 3, 4)), validators)
    with pytest.raises(InvalidBlockError, match="does not follow"):
        later = replace(second, height=Height(3))
        verify_next_header(keys.suite, trusted, later, keys.certificate(later, (2, 3, 4)), validators)
    with pytest.raises(InvalidBlockError, match="more than 2/3"):
        verify_next_header(keys.suite, trusted, second, keys.certificate(second, (2, 3)), validators)
    tampered = replace(
        certificate, signatures=(replace(certificate.signatures[0], timestamp_ms=7), *certificate.signatures[1:])
    )
    with pytest.raises(InvalidBlockError, match="does not verify"):
        verify_next_header(keys.suite, trusted, second, tampered, validators)
    with pytest.raises(InvalidBlockError, match="without its commit certificate"):
        verify_next_block(
            keys.suite, trusted, BlockView(compute_block_hash(keys.suite, second), second, (), (), None), validators
        )
    with pytest.raises(InvalidBlockError, match="is not its header's"):
        verify_next_block(keys.suite, trusted, BlockView(Hash(bytes(32)), second, (), (), certificate), validators)


def test_the_first_trusted_pair_must_match(keys: Keys) -> None:
    genesis = _header(keys, 0, Hash(b"\x01" * 32), SET_A, SET_A)
    with pytest.raises(InvalidBlockError, match="is not the block"):
        start_light_client(keys.suite, genesis, Hash(bytes(32)), keys.validators(*SET_A))
    with pytest.raises(InvalidBlockError, match="not the one its header names"):
        start_light_client(keys.suite, genesis, compute_block_hash(keys.suite, genesis), keys.validators(*SET_B))


def _raft_certificate(keys: Keys, header: BlockHeader, leader: int, term: int = 3) -> CommitCertificate:
    block_hash = compute_block_hash(keys.suite, header)
    timestamp_ms = header.timestamp_ms
    signing = encode_raft_entry_signing_bytes(CHAIN, header.height, term, block_hash, timestamp_ms)
    signature = keys.suite.sign(keys.keys[leader], keys.suite.hash(signing))
    return CommitCertificate(
        header.height, Round(term), block_hash, (CommitSignature(keys.address(leader), timestamp_ms, signature),)
    )


def test_a_light_client_follows_a_switch_to_raft_and_back(keys: Keys) -> None:
    """Heights 2 and 3 are Raft's (one leader signature), 4 Tendermint's again: each checked as its engine certifies."""
    trusted, _ = _start(keys)
    second = _header(keys, 2, trusted.block_hash, SET_B, SET_B)
    with pytest.raises(InvalidBlockError, match="voting power"):  # a Raft certificate is no Tendermint quorum
        verify_next_header(keys.suite, trusted, second, _raft_certificate(keys, second, 4), keys.validators(*SET_B))
    trusted = verify_next_header(
        keys.suite, trusted, second, _raft_certificate(keys, second, 4), keys.validators(*SET_B), "raft"
    )
    third = _header(keys, 3, trusted.block_hash, SET_B, SET_B)
    with pytest.raises(InvalidBlockError, match="not a member"):  # validator 0 left at height 2
        verify_next_header(
            keys.suite, trusted, third, _raft_certificate(keys, third, 0), keys.validators(*SET_B), "raft"
        )
    forged = replace(_raft_certificate(keys, third, 1), round=Round(4))  # the signature is over term 3
    with pytest.raises(InvalidBlockError, match="does not verify"):
        verify_next_header(keys.suite, trusted, third, forged, keys.validators(*SET_B), "raft")
    with pytest.raises(InvalidBlockError, match="signatures, not the leader's one"):
        verify_next_header(
            keys.suite, trusted, third, keys.certificate(third, (1, 2, 3)), keys.validators(*SET_B), "raft"
        )
    trusted = verify_next_header(
        keys.suite, trusted, third, _raft_certificate(keys, third, 1), keys.validators(*SET_B), "raft"
    )
    fourth = _header(keys, 4, trusted.block_hash, SET_B, SET_B)
    block = BlockView(compute_block_hash(keys.suite, fourth), fourth, (), (), keys.certificate(fourth, (1, 2, 3)))
    trusted = verify_next_block(keys.suite, trusted, block, keys.validators(*SET_B), "tendermint")
    assert trusted.header == fourth
