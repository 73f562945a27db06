"""A sender's committed transactions, newest first, paged by position across blocks (Node.get_sender_transactions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from node_helpers import address_of, load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.crypto import PrivateKey
from gusu.ledger.types import Address, Hash, Height
from gusu.node.node import Node
from gusu.node.service import TransactionRecord

RECIPIENT = b"\x22" * 20
PAGE_SIZE = 2


async def _commit_round(node: Node, key: PrivateKey, count: int, amount: int = 1) -> list[Hash]:
    """Submit `count` transfers together (so that several may share a block) and wait for all of them."""
    signed = [sign_transfer(node, key, RECIPIENT, amount) for _ in range(count)]
    outcomes = await node.submit_transactions([item.raw for item in signed])
    assert all(outcome.error is None for outcome in outcomes), outcomes
    for item in signed:
        await wait_for_receipt(node, item.transaction_id)
    return [item.transaction_id for item in signed]


def _position(record: TransactionRecord) -> tuple[Height, int]:
    assert record.height is not None and record.index is not None
    return record.height, record.index


def _page_through(node: Node, sender: Address, page_size: int) -> list[list[TransactionRecord]]:
    pages: list[list[TransactionRecord]] = []
    before: tuple[Height, int] | None = None
    while True:
        page = node.get_sender_transactions(sender, page_size, before)
        if not page:
            return pages
        assert len(page) <= page_size
        pages.append(page)
        before = _position(page[-1])


def test_history_is_newest_first_and_pages_across_blocks(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            dev_address = address_of(node, dev)
            other = node.suite.generate_private_key()
            other_address = address_of(node, other)
            funding = sign_transfer(node, dev, other_address, 100)
            await node.submit_transactions([funding.raw])
            await wait_for_receipt(node, funding.transaction_id)
            sent = [funding.transaction_id]
            # Rounds of several transfers, each waited for, so the history spans several blocks;
            # the other account's transfers interleave and must never show up in dev's history.
            for count in (3, 2, 1):
                sent += await _commit_round(node, dev, count)
                await _commit_round(node, other, 1)

            records = node.get_sender_transactions(dev_address, 100)
            assert {record.transaction_id for record in records} == set(sent)
            positions = [_position(record) for record in records]
            assert positions == sorted(positions, reverse=True) and len(set(positions)) == len(positions)
            assert len({height for height, _ in positions}) >= 4, "the history should span several blocks"
            for record in records:
                assert record.status == "committed" and record.sender == dev_address
                assert record.transaction is not None
                assert record == node.get_transaction(record.transaction_id)

            # Every page size yields each transaction exactly once, in the same order. The newest
            # two (last round's one transfer, then one of the round before) lie in different
            # blocks, so the first page of two already spans a block boundary.
            for page_size in (1, 2, 3, 4):
                pages = _page_through(node, dev_address, page_size)
                assert [record for page in pages for record in page] == records, page_size
                assert len(pages) == (len(records) + page_size - 1) // page_size
            first_page = _page_through(node, dev_address, PAGE_SIZE)[0]
            assert first_page[0].height != first_page[1].height

            # `before` is strict, and works from any position, not only ones the history holds.
            newest = records[0]
            height, index = _position(newest)
            assert node.get_sender_transactions(dev_address, 100, (height, index)) == records[1:]
            assert node.get_sender_transactions(dev_address, 100, (height, index + 1)) == records
            assert node.get_sender_transactions(dev_address, 100, (Height(height + 1), 0)) == records
            assert node.get_sender_transactions(dev_address, 100, (Height(2**64), 0)) == records
            assert node.get_sender_transactions(dev_address, 100, (Height(0), 0)) == []
            oldest_height, _ = _position(records[-1])
            assert node.get_sender_transactions(dev_address, 100, (oldest_height, 0)) == []
            assert node.get_sender_transactions(dev_address, 3) == records[:3]
            assert node.get_sender_transactions(dev_address, 0) == []

            other_records = node.get_sender_transactions(other_address, 100)
            assert len(other_records) == 3 and all(record.sender == other_address for record in other_records)
            assert node.get_sender_transactions(Address(b"\x99" * 20), 10) == []
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_history_survives_a_restart_and_leaves_out_pending_transactions(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            dev_address = address_of(node, dev)
            committed = await _commit_round(node, dev, 2)
            pending = sign_transfer(node, dev, RECIPIENT, 1)
            await node.submit_transactions([pending.raw])
            # No await between the two reads: the node cannot commit in between.
            record = node.get_transaction(pending.transaction_id)
            history = node.get_sender_transactions(dev_address, 10)
            assert record is not None
            if record.status == "pending":
                assert pending.transaction_id not in {item.transaction_id for item in history}
            assert all(item.status == "committed" for item in history)
            await wait_for_receipt(node, pending.transaction_id)
            before_restart = node.get_sender_transactions(dev_address, 10)
            assert before_restart[0].transaction_id == pending.transaction_id
            assert set(committed) < {item.transaction_id for item in before_restart}
        finally:
            await node.stop()
        node = await start_node(layout)
        try:
            assert node.get_sender_transactions(dev_address, 10) == before_restart
        finally:
            await node.stop()

    asyncio.run(scenario())
