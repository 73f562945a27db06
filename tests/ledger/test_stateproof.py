"""Certified state proofs: a contract's value checked against a trusted block hash or a validator set.

Every link of the chain validators -> certificate -> block hash -> header -> state root -> proof -> value is
broken once, and each break must be refused; the JSON form round-trips and refuses inconsistent answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from gusu.codec import encode
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import CodecError, InvalidStateProofError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.jsonview import state_proof_from_json, state_proof_to_json
from gusu.ledger.kv import MemoryStore, WriteBatch
from gusu.ledger.smt import (
    PLACEHOLDER,
    StateProof,
    apply_tree_update_to_batch,
    apply_tree_updates,
    get_state_proof,
    get_tree_value,
)
from gusu.ledger.statekey import compute_state_key
from gusu.ledger.stateproof import (
    CertifiedStateProof,
    is_valid_certified_state_proof,
    is_valid_state_proof_in_block,
    validate_certified_state_proof,
    validate_state_proof_in_block,
)
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

CHAIN = "gusu-proofs"
HEIGHT = 7
ALICE = b"\xaa" * 20
BOB = b"\xbb" * 20


class World:
    """A state tree at version HEIGHT, a header committing to it, and four validators that can certify it."""

    def __init__(self, suite_name: str) -> None:
        self.suite: CryptoSuite = get_suite(suite_name)
        self.keys: list[PrivateKey] = [self.suite.generate_private_key() for _ in range(5)]
        self.store = MemoryStore()
        writes: dict[bytes, bytes | None] = {
            compute_state_key("account", b"balance/" + ALICE): encode(1_000),
            compute_state_key("evidence", b"record/" + b"\x01" * 32): encode([ALICE, 3, 1_700_000_000_000, "deed"]),
        }
        for index in range(40):
            writes[compute_state_key("account", b"balance/" + bytes([index]) * 20)] = encode(index)
        update = apply_tree_updates(self.store, self.suite, HEIGHT, None, writes)
        batch = WriteBatch()
        apply_tree_update_to_batch(batch, update)
        self.store.write(batch)
        self.header = BlockHeader(
            chain_id=CHAIN,
            height=Height(HEIGHT),
            parent_hash=Hash(b"\x02" * 32),
            timestamp_ms=1_700_000_000_000,
            proposer=self.address(0),
            transactions_root=ZERO_HASH,
            receipts_root=ZERO_HASH,
            state_root=update.root,
            validators_hash=compute_validators_hash(self.suite, self.validators(0, 1, 2, 3)),
            next_validators_hash=compute_validators_hash(self.suite, self.validators(0, 1, 2, 3)),
            transaction_count=0,
        )
        self.block_hash = compute_block_hash(self.suite, self.header)

    def address(self, index: int) -> Address:
        return Address(self.suite.compute_address(self.keys[index].public_key))

    def validators(self, *members: int) -> list[GenesisValidator]:
        return [
            GenesisValidator(f"v{index}", self.address(index), self.keys[index].public_key, 1, "org")
            for index in members
        ]

    def certificate(self, signers: Sequence[int], block_hash: Hash | None = None) -> CommitCertificate:
        signed = self.block_hash if block_hash is None else block_hash
        entries = []
        for index in sorted(signers, key=self.address):
            timestamp_ms = self.header.timestamp_ms + 1
            digest = self.suite.hash(encode_commit_vote(CHAIN, Height(HEIGHT), Round(0), signed, timestamp_ms))
            entries.append(
                CommitSignature(self.address(index), timestamp_ms, self.suite.sign(self.keys[index], digest))
            )
        return CommitCertificate(Height(HEIGHT), Round(0), signed, tuple(entries))

    def prove(self, contract: str, key: bytes) -> CertifiedStateProof:
        state_key = compute_state_key(contract, key)
        return CertifiedStateProof(
            contract=contract,
            key=key,
            value=get_tree_value(self.store, self.suite, HEIGHT, state_key),
            proof=get_state_proof(self.store, self.suite, HEIGHT, state_key),
            header=self.header,
            block_hash=self.block_hash,
            certificate=self.certificate((0, 1, 2)),
        )


@pytest.fixture(params=["sm", "ecdsa"], scope="module")
def world(request: pytest.FixtureRequest) -> World:
    return World(str(request.param))


def test_a_present_and_an_absent_key_verify_against_the_block_hash_and_the_validators(world: World) -> None:
    present = world.prove("account", b"balance/" + ALICE)
    absent = world.prove("account", b"balance/" + BOB)
    assert present.value == encode(1_000) and absent.value is None
    for answer in (present, absent):
        validate_state_proof_in_block(world.suite, answer, world.block_hash)
        validate_certified_state_proof(world.suite, answer, world.validators(0, 1, 2, 3))


def _broken(world: World) -> dict[str, tuple[CertifiedStateProof, str]]:
    good = world.prove("account", b"balance/" + ALICE)
    absent = world.prove("account", b"balance/" + BOB)
    other_header = replace(world.header, timestamp_ms=world.header.timestamp_ms + 1)
    first_sibling = next(index for index, sibling in enumerate(good.proof.siblings) if sibling != PLACEHOLDER)
    siblings = list(good.proof.siblings)
    siblings[first_sibling] = bytes(32 - 1) + b"\x01"
    return {
        "value_changed": (replace(good, value=encode(999_999)), "another value"),
        "absent_claimed_present": (replace(absent, value=encode(1)), "absent"),
        "present_claimed_absent": (replace(good, value=None), "present"),
        "other_contract": (replace(good, contract="evidence"), "not valid"),
        "other_key": (replace(good, key=b"balance/" + BOB), "not valid"),
        "sibling_changed": (replace(good, proof=StateProof(tuple(siblings), good.proof.leaf)), "another state root"),
        "header_swapped": (replace(good, header=other_header), "not the trusted block"),
        "block_hash_relabelled": (replace(good, block_hash=Hash(b"\x03" * 32)), "another block hash"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "value_changed",
        "absent_claimed_present",
        "present_claimed_absent",
        "other_contract",
        "other_key",
        "sibling_changed",
        "header_swapped",
        "block_hash_relabelled",
    ],
)
def test_every_broken_link_is_refused_against_a_trusted_block_hash(world: World, case: str) -> None:
    answer, message = _broken(world)[case]
    with pytest.raises(InvalidStateProofError, match=message):
        validate_state_proof_in_block(world.suite, answer, world.block_hash)
    assert not is_valid_state_proof_in_block(world.suite, answer, world.block_hash)


def test_the_certificate_path_refuses_a_wrong_set_a_minority_another_block_and_no_certificate(world: World) -> None:
    good = world.prove("evidence", b"record/" + b"\x01" * 32)
    validators = world.validators(0, 1, 2, 3)
    assert is_valid_certified_state_proof(world.suite, good, validators)
    cases: list[tuple[CertifiedStateProof, Sequence[GenesisValidator], str]] = [
        (good, world.validators(1, 2, 3, 4), "does not hash"),
        (replace(good, certificate=world.certificate((0, 1))), validators, "voting power"),
        (replace(good, certificate=world.certificate((0, 1, 2), Hash(b"\x04" * 32))), validators, "for block"),
        (replace(good, certificate=None), validators, "no commit certificate"),
        (replace(good, value=encode([BOB, 3, 1_700_000_000_000, "deed"])), validators, "another value"),
    ]
    for answer, given, message in cases:
        with pytest.raises(InvalidStateProofError, match=message):
            validate_certified_state_proof(world.suite, answer, given)
        assert not is_valid_certified_state_proof(world.suite, answer, given)


def test_a_raft_height_is_checked_by_its_leader_signature_only_when_asked(world: World) -> None:
    good = world.prove("account", b"balance/" + ALICE)
    # A quorum certificate is not a Raft leader's signature, and an unknown engine certifies nothing.
    with pytest.raises(InvalidStateProofError, match="signatures, not the leader"):
        validate_certified_state_proof(world.suite, good, world.validators(0, 1, 2, 3), "raft")
    with pytest.raises(InvalidStateProofError, match="only tendermint and raft"):
        validate_certified_state_proof(world.suite, good, world.validators(0, 1, 2, 3), "pbft")


def test_the_json_form_round_trips_and_refuses_inconsistent_answers(world: World) -> None:
    for answer in (world.prove("account", b"balance/" + ALICE), world.prove("account", b"balance/" + BOB)):
        document = state_proof_to_json(answer)
        assert state_proof_from_json(document) == answer
        assert document["exists"] is (answer.value is not None)
    document = state_proof_to_json(world.prove("account", b"balance/" + ALICE))
    assert document["value_decoded"] == 1_000
    for field, wrong, message in [
        ("exists", False, "exists flag"),
        ("height", HEIGHT + 1, "height differs"),
        ("state_root", "0x" + "00" * 32, "state_root differs"),
        ("key", "0x" + "00" * 5_000, "key"),
        ("proof", "0x00", "proof"),
    ]:
        with pytest.raises(CodecError, match=message):
            state_proof_from_json({**document, field: wrong})
