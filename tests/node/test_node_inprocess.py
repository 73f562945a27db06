"""The node in-process: admission, execution, proofs, restart, and hostile transactions."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import address_of, load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.codec import decode, encode
from gusu.errors import (
    CodecError,
    DuplicateTransactionError,
    ExpiredTransactionError,
    InvalidKeyError,
    InvalidSignatureError,
    StorageError,
    TransactionTooLargeError,
    WrongChainError,
)
from gusu.ledger.merkle import InclusionProof
from gusu.ledger.store import compute_state_update
from gusu.ledger.types import Height, ReceiptStatus, encode_transaction
from gusu.sdk.transactions import build_transaction, verify_block_hash, verify_receipt_proof, verify_transaction_proof

RECIPIENT = b"\x11" * 20


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_transfer_commits_with_verifiable_proofs(tmp_path: Path, suite_name: str) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain", suite_name=suite_name)
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            signed = sign_transfer(node, dev, RECIPIENT, 25)
            [outcome] = await node.submit_transactions([signed.raw])
            assert outcome.error is None and outcome.transaction_id == signed.transaction_id
            record = await wait_for_receipt(node, signed.transaction_id)
            assert record.receipt.status == ReceiptStatus.SUCCESS
            assert [event.name for event in record.receipt.events] == ["Transfer"]
            balance = node.call("account", "balance", encode([RECIPIENT]), None)
            assert decode(balance.return_value) == 25

            proof = node.get_transaction_proof(signed.transaction_id)
            assert proof is not None
            inclusion = InclusionProof(proof.index, proof.leaf_count, proof.path)
            assert verify_block_hash(node.suite, proof.header, proof.block_hash)
            assert verify_transaction_proof(node.suite, proof.header, signed.transaction_id, inclusion)
            assert not verify_transaction_proof(node.suite, proof.header, bytes(32), inclusion)  # type: ignore[arg-type]
            receipt_proof = node.get_receipt_proof(signed.transaction_id)
            assert receipt_proof is not None
            receipt_inclusion = InclusionProof(receipt_proof.index, receipt_proof.leaf_count, receipt_proof.path)
            assert verify_receipt_proof(node.suite, receipt_proof.header, record.receipt, receipt_inclusion)
            tampered = replace(record.receipt, gas_used=record.receipt.gas_used + 1)
            assert not verify_receipt_proof(node.suite, receipt_proof.header, tampered, receipt_inclusion)

            block = node.get_block(record.height)
            assert block is not None and block.certificate is not None
            assert block.certificate.block_hash == block.block_hash
            assert block.transaction_ids == (signed.transaction_id,)
            status = node.get_status()
            assert status.height >= 1 and status.suite == suite_name
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_failed_transaction_changes_no_state_and_the_chain_goes_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            poor = node.suite.generate_private_key()
            funded = sign_transfer(node, dev, address_of(node, poor), 10)
            await node.submit_transactions([funded.raw])
            await wait_for_receipt(node, funded.transaction_id)
            too_much = sign_transfer(node, poor, RECIPIENT, 11)
            fine = sign_transfer(node, poor, RECIPIENT, 4)
            outcomes = await node.submit_transactions([too_much.raw, fine.raw])
            assert all(outcome.error is None for outcome in outcomes)
            failed = await wait_for_receipt(node, too_much.transaction_id)
            succeeded = await wait_for_receipt(node, fine.transaction_id)
            assert failed.receipt.status == ReceiptStatus.FAILED
            assert failed.receipt.error_code == "reverted"
            assert "balance" in failed.receipt.error_message
            assert succeeded.receipt.status == ReceiptStatus.SUCCESS
            balance = node.call("account", "balance", encode([address_of(node, poor)]), None)
            assert decode(balance.return_value) == 6
            # A receipt is readable once the store's thread wrote the block; the node counts the block a
            # moment later, on its event loop (`_on_commit_written`).
            for _ in range(100):
                if node.get_metrics().transactions_failed_total:
                    break
                await asyncio.sleep(0.02)
            assert node.get_metrics().transactions_failed_total == 1
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_hostile_transactions_are_rejected_with_reasons(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            good = sign_transfer(node, dev, RECIPIENT, 1)
            wrong_chain = build_transaction(dev, "another-chain", "account", "transfer", [RECIPIENT, 1], Height(50))
            expired = build_transaction(dev, node.chain_id, "account", "transfer", [RECIPIENT, 1], Height(0))
            far = build_transaction(dev, node.chain_id, "account", "transfer", [RECIPIENT, 1], Height(10**9))
            forged = encode_transaction(replace(good.transaction, signature=bytes(64)))
            other_key = node.suite.generate_private_key()
            stolen = encode_transaction(replace(good.transaction, sender_public_key=other_key.public_key))
            bad_key = encode_transaction(replace(good.transaction, sender_public_key=b"\x04" + b"\x01" * 64))
            huge = build_transaction(
                dev, node.chain_id, "evidence", "record", [b"x" * 32, "m" * 200_000], Height(node.height + 10)
            )
            raws = [
                b"",
                b"\xff" * 10,
                encode(["gusu.tx.v1"]),
                wrong_chain.raw,
                expired.raw,
                far.raw,
                forged,
                stolen,
                bad_key,
                huge.raw,
                good.raw,
                good.raw,
            ]
            outcomes = await node.submit_transactions(raws)
            errors = [type(outcome.error) for outcome in outcomes]
            assert errors[:3] == [CodecError, CodecError, CodecError]
            assert errors[3] is WrongChainError
            assert errors[4] is ExpiredTransactionError
            assert errors[5] is ExpiredTransactionError
            assert errors[6] is InvalidSignatureError
            assert errors[7] is InvalidSignatureError
            assert errors[8] in (InvalidKeyError, InvalidSignatureError)
            assert errors[9] is TransactionTooLargeError
            assert outcomes[10].error is None
            assert errors[11] is DuplicateTransactionError
            for outcome in outcomes[:10]:
                assert outcome.transaction_id is None and str(outcome.error)
            await wait_for_receipt(node, good.transaction_id)
            [replayed] = await node.submit_transactions([good.raw])
            assert isinstance(replayed.error, DuplicateTransactionError)
            assert "committed" in str(replayed.error)
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_restart_resumes_at_the_same_tip_and_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        dev = load_dev_key(layout)
        signed = [sign_transfer(node, dev, RECIPIENT, amount) for amount in range(1, 21)]
        await node.submit_transactions([item.raw for item in signed])
        for item in signed:
            await wait_for_receipt(node, item.transaction_id)
        status_before = node.get_status()
        header_before = node.get_block(status_before.height)
        await node.stop()

        restarted = await start_node(layout)
        try:
            status_after = restarted.get_status()
            assert status_after.height == status_before.height
            assert status_after.latest_block_hash == status_before.latest_block_hash
            header_after = restarted.get_block(status_after.height)
            assert header_before is not None and header_after is not None
            assert header_after.header.state_root == header_before.header.state_root
            for item in signed:
                assert restarted.get_receipt(item.transaction_id) is not None
            balance = restarted.call("account", "balance", encode([RECIPIENT]), None)
            assert decode(balance.return_value) == sum(range(1, 21))
            more = sign_transfer(restarted, dev, RECIPIENT, 1)
            await restarted.submit_transactions([more.raw])
            record = await wait_for_receipt(restarted, more.transaction_id)
            assert record.height == status_before.height + 1
        finally:
            await restarted.stop()

    asyncio.run(scenario())


def test_a_data_directory_of_another_chain_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        first = make_chain(tmp_path / "first")
        second = make_chain(tmp_path / "second")
        node = await start_node(first)
        await node.stop()
        config_path = second.node_directories[0] / "config.toml"
        first_data = first.node_directories[0] / "data"
        config_path.write_text(config_path.read_text().replace('data_dir = "data"', f'data_dir = "{first_data}"'))
        with pytest.raises(StorageError, match="another genesis"):
            await start_node(second)

    asyncio.run(scenario())


def test_state_root_is_the_state_tree_root_of_the_whole_state() -> None:
    """Block 0 commits the genesis writes; block 1's root covers the state after it, not only its writes."""
    from gusu.crypto import get_suite
    from gusu.ledger.kv import MemoryStore, WriteBatch
    from gusu.ledger.smt import StateTree, apply_tree_update_to_batch, compute_tree_root

    suite = get_suite("sm")
    tree = StateTree(MemoryStore())
    genesis = compute_state_update(suite, tree, Height(0), [(b"a", b"1"), (b"b", b"2")])
    assert genesis.root == compute_tree_root(suite, {b"a": b"1", b"b": b"2"})
    batch = WriteBatch()
    apply_tree_update_to_batch(batch, genesis)
    tree.store.write(batch)
    first = compute_state_update(suite, tree, Height(1), [(b"a", b"3"), (b"b", None)])
    assert first.root == compute_tree_root(suite, {b"a": b"3"})
    assert first.root != compute_state_update(suite, tree, Height(1), [(b"a", b"3")]).root
