"""Proof-backed reads: a contract's stored value, checked against a block the client trusts.

`Client.get_state_proof(contract, key)` asks a node for `key` in `contract`'s
state with a state proof, the block header it leads to and the block's commit
certificate (`gusu.ledger.stateproof.CertifiedStateProof`). Nothing in it is
trusted until one of these passes:

* `verify_state_proof(suite, proof, trusted_block_hash)`: the client holds
  the block's hash (from a court record, a colleague, a light client);
* `verify_certified_state_proof(suite, proof, validators)`: the client
  knows the validator set of that height (`start_light_client` and
  `verify_next_block` follow it across changes) and trusts what a quorum
  of it certified.

The readers below decode what the built-in contracts store, so an
application asks for "this account's balance" or "this document's evidence
record" rather than for key bytes; they check nothing themselves, so verify
first. The contracts' key layouts are part of their documented interface
(docs/contracts.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gusu.codec import decode
from gusu.crypto import CryptoSuite
from gusu.errors import ClientError, CodecError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.stateproof import (
    CertifiedStateProof,
    is_valid_certified_state_proof,
    is_valid_state_proof_in_block,
)
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address, Hash, Height

ACCOUNT_CONTRACT = "account"
BALANCE_PREFIX = b"balance/"
EVIDENCE_CONTRACT = "evidence"
EVIDENCE_RECORD_PREFIX = b"record/"


def verify_state_proof(suite: CryptoSuite, proof: CertifiedStateProof, trusted_block_hash: bytes) -> bool:
    """Whether `proof` shows its contract key holding its value (or nothing) in the block `trusted_block_hash`.

    `gusu.ledger.stateproof.validate_state_proof_in_block` raises instead, saying which link broke.
    """
    return is_valid_state_proof_in_block(suite, proof, trusted_block_hash)


def verify_certified_state_proof(
    suite: CryptoSuite,
    proof: CertifiedStateProof,
    validators: Sequence[GenesisValidator],
    consensus: str = "tendermint",
) -> bool:
    """Whether `validators` (the set of the proof's height) certified the block, and the block proves the value.

    `gusu.ledger.stateproof.validate_certified_state_proof` raises instead, saying which link broke.
    """
    return is_valid_certified_state_proof(suite, proof, validators, consensus)


def compute_balance_key(address: bytes) -> bytes:
    """The `account` contract's key for `address`'s balance."""
    if len(address) != ADDRESS_SIZE:
        raise ClientError(f"an address is {ADDRESS_SIZE} bytes, found {len(address)}")
    return BALANCE_PREFIX + address


def compute_evidence_key(document_hash: bytes) -> bytes:
    """The `evidence` contract's key for the record of `document_hash`."""
    if len(document_hash) != HASH_SIZE:
        raise ClientError(f"a document hash is {HASH_SIZE} bytes, found {len(document_hash)}")
    return EVIDENCE_RECORD_PREFIX + document_hash


def read_balance(proof: CertifiedStateProof) -> int:
    """The balance a (verified) proof of an `account` balance key shows; 0 when the key is absent."""
    _expect_key(proof, ACCOUNT_CONTRACT, BALANCE_PREFIX)
    if proof.value is None:
        return 0
    value = _decode(proof)
    if type(value) is not int or value < 0:
        raise ClientError(f"the balance stored at height {proof.height} is not a non-negative integer: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class EvidenceRecordView:
    """What the `evidence` contract keeps for a document hash."""

    document_hash: Hash
    submitter: Address
    height: Height
    timestamp_ms: int
    metadata: str


def read_evidence(proof: CertifiedStateProof) -> EvidenceRecordView | None:
    """The evidence record a (verified) proof shows, or None: no record of that document at that height."""
    _expect_key(proof, EVIDENCE_CONTRACT, EVIDENCE_RECORD_PREFIX)
    if proof.value is None:
        return None
    match _decode(proof):
        case [bytes() as submitter, int() as height, int() as timestamp_ms, str() as metadata] if (
            len(submitter) == ADDRESS_SIZE
        ):
            document_hash = Hash(proof.key[len(EVIDENCE_RECORD_PREFIX) :])
            return EvidenceRecordView(document_hash, Address(submitter), Height(height), timestamp_ms, metadata)
        case other:
            raise ClientError(f"the evidence record stored at height {proof.height} has an unknown shape: {other!r}")


def _expect_key(proof: CertifiedStateProof, contract: str, prefix: bytes) -> None:
    if proof.contract != contract or not proof.key.startswith(prefix):
        raise ClientError(f"the proof is of {proof.contract}/{proof.key!r}, not of a {contract} {prefix!r} key")


def _decode(proof: CertifiedStateProof) -> object:
    assert proof.value is not None
    try:
        return decode(proof.value)
    except CodecError as error:
        raise ClientError(f"the value stored at height {proof.height} is not a canonical encoding: {error}") from error
