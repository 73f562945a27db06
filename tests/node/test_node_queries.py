"""The node's read side answers as of its tip: a block the store holds above the tip is not visible yet.

The store writes a block in a worker thread and the node moves its tip when the write returns; in between a
client must not see the block's receipts (an Ethereum client counting confirmations from eth_blockNumber
would count none), its transactions as committed, its proofs, or the block itself.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from node_helpers import (
    assert_recent_answers_match_store,
    load_dev_key,
    make_chain,
    sign_transfer,
    start_node,
    wait_for_receipt,
)

from gusu.ledger.types import Height, decode_commit_certificate, decode_raw_block, decode_transaction
from gusu.node.chain import ChainLayout, load_node
from gusu.node.node import Node
from gusu.node.queries import ChainQueries
from gusu.node.service import ReceiptRecord
from gusu.sdk.transactions import SignedTransaction, build_transaction

RECIPIENT = b"\x44" * 20


async def _commit_one_transfer(node: Node, layout: ChainLayout) -> tuple[SignedTransaction, ReceiptRecord]:
    signed = sign_transfer(node, load_dev_key(layout), RECIPIENT, 5)
    await node.submit_transactions([signed.raw])
    return signed, await wait_for_receipt(node, signed.transaction_id)


def _make_queries(node: Node, tip: list[int]) -> ChainQueries:
    """The node's queries over its store, with a tip the test moves (tip[0])."""
    return ChainQueries(node.suite, lambda: node.store, node._mempool, node._executor, lambda: tip[0])


def test_a_block_above_the_tip_is_answered_as_not_committed(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            signed, record = await _commit_one_transfer(node, layout)
            height = Height(record.height)
            tip = [int(height)]
            queries = _make_queries(node, tip)
            # At the tip: everything is visible, as through the node.
            assert queries.get_receipt(signed.transaction_id) is not None
            assert queries.get_proof(signed.transaction_id, of_receipts=True) is not None
            assert queries.get_block(height) is not None
            committed = queries.get_transaction(signed.transaction_id)
            assert committed is not None and committed.status == "committed"
            sender = committed.sender
            assert sender is not None
            assert [r.transaction_id for r in queries.get_sender_transactions(sender, 10)] == [signed.transaction_id]

            # The store holds the block, the tip is one below (the moment between the write and the tip's move).
            tip[0] = int(height) - 1
            assert queries.get_receipt(signed.transaction_id) is None
            assert queries.get_proof(signed.transaction_id, of_receipts=True) is None
            assert queries.get_proof(signed.transaction_id, of_receipts=False) is None
            assert queries.get_block(height) is None
            assert queries.get_block_transactions(height) is None
            assert queries.get_raw_block(height) is None
            pending = queries.get_transaction(signed.transaction_id)
            assert pending is not None and pending.status == "pending" and pending.height is None
            assert queries.get_sender_transactions(sender, 10) == []
            assert queries.get_sender_transactions(sender, 10, before=(Height(int(height) + 5), 0)) == []
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_events_are_listed_as_of_the_tip_and_only_for_a_known_contract(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            signed, record = await _commit_one_transfer(node, layout)
            height = Height(record.height)
            emitted = record.receipt.events
            assert emitted, "a transfer emits an event"
            contract = emitted[0].contract
            tip = [int(height)]
            queries = _make_queries(node, tip)
            scan = queries.get_events(contract, None, Height(0), height, 100, 100_000)
            assert not scan.is_cut_short
            found = list(scan.events)
            assert [(item.transaction_id, item.event) for item in found] == [
                (signed.transaction_id, event) for event in emitted if event.contract == contract
            ]
            first = found[0]
            assert (first.height, first.index, first.event_index, first.block_hash) == (
                height,
                record.index,
                0,
                record.block_hash,
            )
            # Through the node, which answers the same.
            assert node.get_events(contract, None, Height(0), height, 100, 100_000) == scan
            one = queries.get_events(contract, emitted[0].name, Height(0), height, 1, 100_000)
            assert one.events == tuple(found[:1]) and one.is_cut_short
            assert queries.get_events(contract, "NoSuchEvent", Height(0), height, 100, 100_000).events == ()
            assert queries.get_events("no_such_contract", None, Height(0), height, 100, 100_000).events == ()
            # Reading the transaction's block would pass the receipt limit: it stops before, and says so.
            short = queries.get_events(contract, None, Height(0), height, 100, record.index)
            assert short.events == () and short.is_cut_short

            # The store holds the block, the tip is one below: its events are not listed yet.
            tip[0] = int(height) - 1
            hidden = queries.get_events(contract, None, Height(0), Height(int(height) + 10), 100, 100_000)
            assert hidden.events == () and not hidden.is_cut_short

            assert node.is_contract_known(contract)
            assert node.is_contract_known("contracts")
            assert not node.is_contract_known("no_such_contract")
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_the_newest_blocks_are_answered_from_memory_as_from_the_store(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            key = load_dev_key(layout)
            for amount in range(1, 6):
                signed = sign_transfer(node, key, RECIPIENT, amount)
                await node.submit_transactions([signed.raw])
                await wait_for_receipt(node, signed.transaction_id)
            # Several transactions in one block: each answer names its own.
            batch = [sign_transfer(node, key, RECIPIENT, amount) for amount in range(10, 14)]
            await node.submit_transactions([item.raw for item in batch])
            heights = {(await wait_for_receipt(node, item.transaction_id)).height for item in batch}
            assert len(heights) < len(batch), "no block held two of them"
            assert node._recent_blocks.block_count >= 5
            assert assert_recent_answers_match_store(node) >= 5
            # A transaction the recent blocks hold is answered without reading the store's location record.
            found = node._recent_blocks.find_transaction(signed.transaction_id)
            assert found is not None
            reads: list[bytes] = []
            original = node.store.get_transaction

            def counting(transaction_id: bytes) -> object:
                reads.append(transaction_id)
                return original(transaction_id)

            node.store.get_transaction = counting  # type: ignore[method-assign]
            record = node.get_receipt(signed.transaction_id)
            assert record is not None and record.receipt.is_success and reads == []
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_a_block_holding_the_same_transaction_signed_again_is_answered_as_committed(tmp_path: Path) -> None:
    """A Gusu transaction's id leaves out its signature and SM2 signs differently each time: the pool may hold
    the transaction signed once while the block it commits in (from another node) holds it signed again. The
    answers from memory must be the block's, as the store's are."""

    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        shutil.copytree(tmp_path / "chain", tmp_path / "copy")
        directory = layout.node_directories[0]
        other_directory = tmp_path / "copy" / directory.relative_to(tmp_path / "chain")
        node, other = load_node(directory), load_node(other_directory)
        await node.start()
        await other.start()
        try:
            node._driver.engine._compute_due_ms = lambda now_ms: None  # type: ignore[attr-defined]  # only imports
            key = load_dev_key(layout)
            first = build_transaction(key, node.chain_id, "account", "transfer", [RECIPIENT, 7], Height(50), nonce=9)
            again = build_transaction(key, node.chain_id, "account", "transfer", [RECIPIENT, 7], Height(50), nonce=9)
            assert first.transaction_id == again.transaction_id and first.raw != again.raw
            await node.submit_transactions([first.raw])
            await other.submit_transactions([again.raw])
            record = await wait_for_receipt(other, again.transaction_id)
            for height in range(1, other.height + 1):
                found = other.get_raw_block(Height(height))
                assert found is not None and found[1] is not None
                await node.import_block(decode_raw_block(found[0]), decode_commit_certificate(found[1]))
            assert node._recent_blocks.get_block(record.height) is not None
            committed = node.get_transaction(first.transaction_id)
            assert committed is not None and committed.status == "committed"
            assert committed.transaction == decode_transaction(again.raw)
            assert assert_recent_answers_match_store(node) > 0
        finally:
            await node.stop()
            await other.stop()

    asyncio.run(scenario())
