"""The newest committed blocks kept in memory (`gusu.node.recent`): bounds, order and eviction."""

from __future__ import annotations

import hashlib

import pytest

from gusu.ledger.smt import TreeUpdate
from gusu.ledger.store import CommittedBlock
from gusu.ledger.types import Address, BlockHeader, Hash, Height, Receipt, ReceiptStatus, Transaction
from gusu.node.recent import RecentBlocks, compute_recent_block_bytes

CHAIN = "recent-test"


def _id(height: int, index: int) -> Hash:
    return Hash(hashlib.sha256(b"%d/%d" % (height, index)).digest())


def _block(height: int, count: int) -> CommittedBlock:
    ids = tuple(_id(height, index) for index in range(count))
    header = BlockHeader(
        chain_id=CHAIN,
        height=Height(height),
        parent_hash=Hash(bytes(32)),
        timestamp_ms=height,
        proposer=Address(bytes(20)),
        transactions_root=Hash(bytes(32)),
        receipts_root=Hash(bytes(32)),
        state_root=Hash(bytes(32)),
        validators_hash=Hash(bytes(32)),
        next_validators_hash=Hash(bytes(32)),
        transaction_count=count,
    )
    return CommittedBlock(
        header=header,
        block_hash=Hash(hashlib.sha256(b"block %d" % height).digest()),
        transaction_ids=ids,
        raw_transactions=tuple(b"raw" + transaction_id for transaction_id in ids),
        senders=tuple(Address(bytes(20)) for _ in ids),
        receipts=tuple(Receipt(transaction_id, ReceiptStatus.SUCCESS, b"", (), 0, "", "") for transaction_id in ids),
        writes=(),
        certificate=None,
        tree_update=TreeUpdate(height, Hash(bytes(32)), {}, ()),
    )


def _record(recent: RecentBlocks, height: int, count: int) -> CommittedBlock:
    block = _block(height, count)
    recent.record(block, [None] * count)
    return block


def test_blocks_are_kept_up_to_the_block_bound_oldest_dropped_first() -> None:
    recent = RecentBlocks(blocks_max=3, transactions_max=100)
    for height in range(1, 6):
        _record(recent, height, 2)
    assert recent.block_count == 3 and recent.transaction_count == 6
    assert recent.get_block(2) is None and recent.get_block(3) is not None
    assert recent.find_transaction(_id(2, 0)) is None, "a dropped block's transactions stay findable"
    found = recent.find_transaction(_id(5, 1))
    assert found is not None and found[0].height == 5 and found[1] == 1


def test_the_transaction_bound_drops_old_blocks_and_a_bigger_block_is_not_kept() -> None:
    recent = RecentBlocks(blocks_max=10, transactions_max=5)
    _record(recent, 1, 2)
    _record(recent, 2, 2)
    _record(recent, 3, 2)  # 6 > 5: block 1 goes
    assert recent.get_block(1) is None and recent.transaction_count == 4
    _record(recent, 4, 6)  # alone over the bound: nothing is kept, so what is kept stays consecutive
    assert recent.block_count == 0 and recent.transaction_count == 0
    assert recent.find_transaction(_id(3, 0)) is None
    _record(recent, 5, 1)
    assert recent.block_count == 1


def test_a_block_that_does_not_follow_clears_the_rest() -> None:
    recent = RecentBlocks(blocks_max=10, transactions_max=100)
    _record(recent, 1, 1)
    _record(recent, 2, 1)
    _record(recent, 7, 1)  # joined by state sync, say: blocks 3 to 6 never passed here
    assert recent.block_count == 1 and recent.get_block(2) is None and recent.get_block(7) is not None
    assert recent.find_transaction(_id(1, 0)) is None


def test_nothing_is_kept_with_a_zero_bound_and_bounds_are_checked() -> None:
    recent = RecentBlocks(blocks_max=0, transactions_max=100)
    _record(recent, 1, 1)
    assert recent.block_count == 0 and recent.find_transaction(_id(1, 0)) is None
    with pytest.raises(AssertionError):
        RecentBlocks(blocks_max=-1, transactions_max=1)


def test_a_block_above_the_tip_is_never_visible() -> None:
    recent = RecentBlocks(blocks_max=10, transactions_max=100)
    _record(recent, 4, 1)
    assert recent.find_visible_transaction(_id(4, 0), 4) is not None
    assert recent.find_visible_transaction(_id(4, 0), 3) is None


def test_transactions_the_pool_did_not_hold_are_decoded_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[bytes] = []
    sentinel = object()

    def fake_decode(item: bytes) -> object:
        decoded.append(item)
        return sentinel

    monkeypatch.setattr("gusu.node.recent.decode_block_item", fake_decode)
    recent = RecentBlocks(blocks_max=10, transactions_max=100)
    held = Transaction.__new__(Transaction)  # stands for the pool's decoded transaction
    block = _block(1, 2)
    recent.record(block, [held, None])
    kept = recent.get_block(1)
    assert kept is not None
    assert kept.get_transaction(0) is held and decoded == []
    assert kept.get_transaction(1) is sentinel and kept.get_transaction(1) is sentinel
    assert decoded == [block.raw_transactions[1]], "decoded more than once"


def test_the_byte_bound_counts_raw_transactions_and_receipts() -> None:
    block = _block(1, 2)
    size = compute_recent_block_bytes(block)
    assert size == sum(len(raw) for raw in block.raw_transactions)  # receipts of this block carry nothing
    recent = RecentBlocks(blocks_max=10, transactions_max=100, bytes_max=2 * size)
    _record(recent, 1, 2)
    _record(recent, 2, 2)
    assert recent.block_count == 2 and recent.byte_count == 2 * size
    _record(recent, 3, 2)  # over the bound: the oldest goes
    assert recent.get_block(1) is None and recent.byte_count == 2 * size
    small = RecentBlocks(blocks_max=10, transactions_max=100, bytes_max=size - 1)
    _record(small, 1, 2)  # alone over the bound
    assert small.block_count == 0 and small.byte_count == 0
