"""Building and signing transactions, and the light-client proof checks."""

from __future__ import annotations

import dataclasses

import pytest

from gusu.codec import decode, encode
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import CodecError
from gusu.ledger.merkle import InclusionProof, compute_inclusion_proof, compute_root
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    Event,
    Hash,
    Height,
    Receipt,
    ReceiptStatus,
    compute_block_hash,
    compute_transaction_id,
    decode_transaction,
    encode_receipt,
)
from gusu.sdk import (
    build_transaction,
    verify_block_hash,
    verify_receipt_proof,
    verify_transaction,
    verify_transaction_proof,
)

SUITES = ["sm", "ecdsa"]
BLOCK_SIZES = [1, 2, 3, 5, 8, 13]


@pytest.fixture(params=SUITES)
def suite(request: pytest.FixtureRequest) -> CryptoSuite:
    return get_suite(str(request.param))


@pytest.fixture
def key(suite: CryptoSuite) -> PrivateKey:
    return suite.generate_private_key()


def test_the_signature_verifies_over_the_id(suite: CryptoSuite, key: PrivateKey) -> None:
    signed = build_transaction(key, "gusu-test", "account", "transfer", [b"\x01" * 20, 5], Height(100))
    tx = signed.transaction
    assert signed.transaction_id == compute_transaction_id(suite, tx)
    assert suite.verify(key.public_key, signed.transaction_id, tx.signature)
    assert len(tx.signature) == 64
    assert signed.sender == suite.compute_address(key.public_key)
    assert decode_transaction(signed.raw) == tx
    assert decode(tx.args) == [b"\x01" * 20, 5]
    assert (tx.chain_id, tx.contract, tx.method, tx.valid_until_height) == ("gusu-test", "account", "transfer", 100)
    assert verify_transaction(suite, tx, signed.transaction_id)


def test_the_id_does_not_depend_on_the_signature(suite: CryptoSuite, key: PrivateKey) -> None:
    signed = build_transaction(key, "gusu-test", "evidence", "record", [b"\xaa" * 32], Height(9), nonce=7)
    resigned = dataclasses.replace(signed.transaction, signature=b"\x00" * 64)
    assert compute_transaction_id(suite, resigned) == signed.transaction_id
    assert not verify_transaction(suite, resigned, signed.transaction_id)


def test_same_nonce_same_id_and_random_nonces_differ(key: PrivateKey) -> None:
    first = build_transaction(key, "c", "account", "transfer", [1], Height(5), nonce=42)
    second = build_transaction(key, "c", "account", "transfer", [1], Height(5), nonce=42)
    assert first.transaction_id == second.transaction_id
    assert first.transaction.nonce == 42
    nonces = {build_transaction(key, "c", "account", "transfer", [1], Height(5)).transaction.nonce for _ in range(8)}
    assert len(nonces) == 8
    assert all(0 <= nonce < 2**64 for nonce in nonces)


def test_a_tampered_transaction_does_not_verify(suite: CryptoSuite, key: PrivateKey) -> None:
    signed = build_transaction(key, "c", "account", "transfer", [b"\x01" * 20, 5], Height(5))
    tampered = dataclasses.replace(signed.transaction, args=encode([b"\x01" * 20, 500]))
    assert not verify_transaction(suite, tampered, signed.transaction_id)
    assert not verify_transaction(suite, tampered, compute_transaction_id(suite, tampered))


@pytest.mark.parametrize(
    ("contract", "args", "nonce", "message"),
    [
        ("x" * 65, [], None, "contract is 65 characters"),
        ("account", [1.5], None, "float is not a canonical value"),
        ("account", [(1, 2)], None, "tuple is not a canonical value"),
        ("account", [b"\x00" * (1024 * 1024)], None, "args is .* bytes; the limit"),
        ("account", [], -1, "nonce must be between 0"),
        ("account", [], 2**64, "outside the 64-bit range"),
    ],
)
def test_what_the_node_would_refuse_fails_when_built(
    key: PrivateKey, contract: str, args: list[object], nonce: int | None, message: str
) -> None:
    with pytest.raises(CodecError, match=message):
        build_transaction(key, "c", contract, "m", args, Height(5), nonce=nonce)  # type: ignore[arg-type]


# --- proofs ------------------------------------------------------------------------


def _receipt(transaction_id: Hash, number: int) -> Receipt:
    return Receipt(
        transaction_id,
        ReceiptStatus.SUCCESS if number % 3 else ReceiptStatus.FAILED,
        encode(number),
        (Event("evidence", "Recorded", encode([number])),),
        100 + number,
        "" if number % 3 else "reverted",
        "" if number % 3 else "no",
    )


def _block(suite: CryptoSuite, size: int) -> tuple[BlockHeader, list[Hash], list[Receipt]]:
    ids = [Hash(suite.hash(number.to_bytes(4, "big"))) for number in range(size)]
    receipts = [_receipt(transaction_id, number) for number, transaction_id in enumerate(ids)]
    header = BlockHeader(
        chain_id="gusu-test",
        height=Height(12),
        parent_hash=ZERO_HASH,
        timestamp_ms=1_700_000_000_000,
        proposer=Address(b"\x07" * 20),
        transactions_root=Hash(compute_root(suite.hash, ids)),
        receipts_root=Hash(compute_root(suite.hash, [suite.hash(encode_receipt(r)) for r in receipts])),
        state_root=ZERO_HASH,
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
        transaction_count=size,
    )
    return header, ids, receipts


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_transaction_proofs_verify_and_tampering_fails(suite: CryptoSuite, size: int) -> None:
    header, ids, _ = _block(suite, size)
    for index, transaction_id in enumerate(ids):
        proof = compute_inclusion_proof(suite.hash, ids, index)
        assert verify_transaction_proof(suite, header, transaction_id, proof)
        assert not verify_transaction_proof(suite, header, Hash(b"\x00" * 32), proof)
        other_root = dataclasses.replace(header, transactions_root=header.receipts_root)
        assert not verify_transaction_proof(suite, other_root, transaction_id, proof)
        assert not verify_transaction_proof(
            suite, header, transaction_id, dataclasses.replace(proof, leaf_count=size + 1)
        )
        if size > 1:
            moved = dataclasses.replace(proof, leaf_index=(index + 1) % size)
            assert not verify_transaction_proof(suite, header, transaction_id, moved)
            flipped = (bytes([proof.path[0][0] ^ 1]) + proof.path[0][1:], *proof.path[1:])
            assert not verify_transaction_proof(suite, header, transaction_id, dataclasses.replace(proof, path=flipped))


@pytest.mark.parametrize("size", BLOCK_SIZES)
def test_receipt_proofs_cover_every_receipt_field(suite: CryptoSuite, size: int) -> None:
    header, _, receipts = _block(suite, size)
    leaves = [suite.hash(encode_receipt(receipt)) for receipt in receipts]
    for index, receipt in enumerate(receipts):
        proof = compute_inclusion_proof(suite.hash, leaves, index)
        assert verify_receipt_proof(suite, header, receipt, proof)
        for tampered in (
            dataclasses.replace(receipt, status=ReceiptStatus(1 - receipt.status)),
            dataclasses.replace(receipt, return_value=encode(-1)),
            dataclasses.replace(receipt, events=()),
            dataclasses.replace(receipt, gas_used=receipt.gas_used + 1),
        ):
            assert not verify_receipt_proof(suite, header, tampered, proof)
        # A transaction proof is not a receipt proof, even at the same index.
        assert not verify_receipt_proof(
            suite, dataclasses.replace(header, receipts_root=header.transactions_root), receipt, proof
        )


def test_an_empty_proof_for_an_empty_block_fails(suite: CryptoSuite) -> None:
    header, _, _ = _block(suite, 0)
    assert not verify_transaction_proof(suite, header, Hash(b"\x00" * 32), InclusionProof(0, 0, ()))


def test_the_block_hash_binds_the_header(suite: CryptoSuite) -> None:
    header, _, _ = _block(suite, 3)
    block_hash = compute_block_hash(suite, header)
    assert verify_block_hash(suite, header, block_hash)
    assert not verify_block_hash(suite, dataclasses.replace(header, transactions_root=ZERO_HASH), block_hash)
    assert not verify_block_hash(suite, dataclasses.replace(header, height=Height(13)), block_hash)
