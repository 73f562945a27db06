"""BlockStore: one atomic commit per block, and every index it writes read back.

Blocks here are built by hand (no executor): what the store must keep is
what it was given, so the tests compare each read with the block committed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gusu.crypto import get_suite
from gusu.errors import InvalidBlockError, StorageError
from gusu.ledger.kv import MemoryStore, WriteBatch, open_store
from gusu.ledger.smt import StateTree, compute_tree_root, validate_state_proof
from gusu.ledger.store import (
    PREFIX_STATE,
    BlockStore,
    CommittedBlock,
    StateCache,
    compute_receipts_root,
    compute_state_update,
    compute_transactions_root,
)
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Event,
    Hash,
    Height,
    Receipt,
    ReceiptStatus,
    Round,
    compute_block_hash,
)
from gusu.sdk.transactions import build_transaction

SUITE = get_suite("sm")
CHAIN_ID = "gusu-store-test"
GENESIS_HASH = Hash(b"\x42" * 32)
ALICE = SUITE.generate_private_key()
BOB = SUITE.generate_private_key()
PROPOSER = Address(b"\x09" * 20)


def _address(key: object) -> Address:
    return Address(SUITE.compute_address(key.public_key))  # type: ignore[attr-defined]


def _block(
    parent: tuple[Height, Hash, Hash] | None,
    senders: list[object],
    writes: tuple[tuple[bytes, bytes | None], ...] = (),
    *,
    certificate: bool = True,
    state_tree: StateTree | None = None,
) -> CommittedBlock:
    """A block after `parent` = (height, hash, state root), with one transfer per key in `senders`.

    Its state root comes from the parent's version in `state_tree`; without one (a block the test expects
    the store to refuse before it looks at the tree), from an empty tree of its own.
    """
    height = Height(0 if parent is None else parent[0] + 1)
    parent_hash = ZERO_HASH if parent is None else parent[1]
    if state_tree is None:
        state_tree = StateTree(MemoryStore())
        tree_update = compute_state_update(SUITE, state_tree, Height(0), writes)
        tree_update = replace(tree_update, version=height)
    else:
        tree_update = compute_state_update(SUITE, state_tree, height, writes)
    signed = [
        build_transaction(
            key, CHAIN_ID, "account", "transfer", [b"\x01" * 20, index], Height(1000), nonce=height * 100 + index
        )  # type: ignore[arg-type]
        for index, key in enumerate(senders)
    ]
    ids = tuple(item.transaction_id for item in signed)
    receipts = tuple(
        Receipt(
            transaction_id=item.transaction_id,
            status=ReceiptStatus.SUCCESS if index % 2 == 0 else ReceiptStatus.FAILED,
            return_value=b"\xc3",
            events=(Event("account", "Transfer", bytes([index])),),
            gas_used=100 + index,
            error_code="" if index % 2 == 0 else "reverted",
            error_message="" if index % 2 == 0 else "no",
        )
        for index, item in enumerate(signed)
    )
    header = BlockHeader(
        chain_id=CHAIN_ID,
        height=height,
        parent_hash=parent_hash,
        timestamp_ms=1_700_000_000_000 + height,
        proposer=PROPOSER,
        transactions_root=compute_transactions_root(SUITE, ids),
        receipts_root=compute_receipts_root(SUITE, receipts),
        state_root=tree_update.root,
        validators_hash=Hash(b"\x05" * 32),
        next_validators_hash=Hash(b"\x06" * 32),
        transaction_count=len(ids),
    )
    block_hash = compute_block_hash(SUITE, header)
    return CommittedBlock(
        header=header,
        block_hash=block_hash,
        transaction_ids=ids,
        raw_transactions=tuple(item.raw for item in signed),
        senders=tuple(item.sender for item in signed),
        receipts=receipts,
        writes=writes,
        certificate=CommitCertificate(
            height=height,
            round=Round(1),
            block_hash=block_hash,
            signatures=(CommitSignature(PROPOSER, 1_700_000_000_001, b"\x30" * 64),),
        )
        if certificate
        else None,
        tree_update=tree_update,
    )


def _after(block: CommittedBlock) -> tuple[Height, Hash, Hash]:
    return block.header.height, block.block_hash, block.header.state_root


def _chain(store: BlockStore) -> list[CommittedBlock]:
    """Genesis (no certificate), block 1 (Alice, Bob, Alice) and block 2 (Bob), committed to `store`."""
    tree = store.state_tree
    genesis = _block(None, [], ((b"balance/a", b"\x64"), (b"balance/b", b"\x32")), certificate=False, state_tree=tree)
    store.commit_block(genesis)
    first = _block(
        _after(genesis), [ALICE, BOB, ALICE], ((b"balance/a", b"\x60"), (b"balance/b", None)), state_tree=tree
    )
    store.commit_block(first)
    second = _block(_after(first), [BOB], ((b"balance/c", b"\x01"),), state_tree=tree)
    store.commit_block(second)
    return [genesis, first, second]


def _new_store() -> BlockStore:
    store = BlockStore(MemoryStore(), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    return store


def test_an_empty_store_has_no_tip_and_takes_only_height_zero() -> None:
    store = _new_store()
    assert store.get_tip() is None
    assert store.get_header(Height(0)) is None
    genesis = _block(None, [])
    with pytest.raises(InvalidBlockError, match="first block must have height 0"):
        store.commit_block(_block(_after(genesis), [ALICE]))
    assert store.get_tip() is None


def test_commit_moves_the_tip_and_keeps_headers_certificates_and_hash_index() -> None:
    store = _new_store()
    genesis, first, second = _chain(store)
    assert store.get_tip() == (Height(2), second.block_hash)
    for block in (genesis, first, second):
        height = block.header.height
        assert store.get_header(height) == block.header
        assert store.get_certificate(height) == block.certificate
        assert store.get_height_by_hash(block.block_hash) == height
        assert store.get_transaction_ids(height) == list(block.transaction_ids)
    assert store.get_certificate(Height(0)) is None
    assert store.get_header(Height(3)) is None
    assert store.get_transaction_ids(Height(3)) is None
    assert store.get_height_by_hash(b"\x00" * 32) is None


def test_transactions_and_receipts_are_found_by_id_with_their_position() -> None:
    store = _new_store()
    _genesis, first, second = _chain(store)
    for height, block in ((1, first), (2, second)):
        for index, transaction_id in enumerate(block.transaction_ids):
            assert store.has_transaction(transaction_id)
            stored = store.get_transaction(transaction_id)
            assert stored is not None
            assert (stored.height, stored.index, stored.raw) == (height, index, block.raw_transactions[index])
            assert stored.transaction.nonce == height * 100 + index
            assert store.get_receipt(transaction_id) == block.receipts[index]
        assert store.get_receipts(Height(height)) == list(block.receipts)
    unknown = b"\x77" * 32
    assert not store.has_transaction(unknown)
    assert store.get_transaction(unknown) is None
    assert store.get_receipt(unknown) is None
    assert store.get_receipts(Height(0)) == []
    assert store.get_receipts(Height(9)) == []


def test_sender_history_is_in_chain_order_and_pages_before_a_position() -> None:
    store = _new_store()
    _genesis, first, second = _chain(store)
    alice = [first.transaction_ids[0], first.transaction_ids[2]]
    bob = [first.transaction_ids[1], second.transaction_ids[0]]
    assert list(store.iterate_sender_transactions(_address(ALICE))) == alice[::-1]
    assert list(store.iterate_sender_transactions(_address(ALICE), newest_first=False)) == alice
    assert list(store.iterate_sender_transactions(_address(BOB))) == bob[::-1]
    # Strictly before (height, index): the position itself is excluded.
    assert list(store.iterate_sender_transactions(_address(ALICE), before=(1, 2))) == [alice[0]]
    assert list(store.iterate_sender_transactions(_address(ALICE), before=(1, 0))) == []
    assert list(store.iterate_sender_transactions(_address(BOB), before=(2, 0))) == [bob[0]]
    assert list(store.iterate_sender_transactions(_address(BOB), before=(2**70, 0))) == bob[::-1]
    assert list(store.iterate_sender_transactions(Address(b"\x03" * 20))) == []


def test_state_writes_and_deletes_apply_with_their_block() -> None:
    store = _new_store()
    _chain(store)
    assert store.get(b"balance/a") == b"\x60"
    assert store.get(b"balance/b") is None  # deleted by block 1
    assert store.get(b"balance/c") == b"\x01"
    assert store.get(b"balance/zz") is None


class _CountingStore(MemoryStore):
    """Counts the state reads that reach the key-value store; `on_get` runs inside a read (a commit racing it)."""

    def __init__(self) -> None:
        super().__init__()
        self.state_reads = 0
        self.on_get: object = None

    def get(self, key: bytes) -> bytes | None:
        if key.startswith(PREFIX_STATE):
            self.state_reads += 1
            value = super().get(key)
            hook, self.on_get = self.on_get, None
            if callable(hook):
                hook()
            return value
        return super().get(key)


def test_committed_state_reads_are_cached_and_follow_every_block() -> None:
    kv = _CountingStore()
    store = BlockStore(kv, SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    tree = store.state_tree
    genesis = _block(None, [], ((b"balance/a", b"\x64"), (b"balance/b", b"\x32")), certificate=False, state_tree=tree)
    store.commit_block(genesis)
    for _ in range(3):
        assert store.get(b"balance/a") == b"\x64"
        assert store.get(b"balance/zz") is None  # absence is cached too
    assert kv.state_reads == 1  # a block's writes are cached as it commits; the absent key was read once
    assert store.get(b"balance/yy") is None
    assert store.get(b"balance/yy") is None
    assert kv.state_reads == 2
    first = _block(_after(genesis), [ALICE], ((b"balance/a", b"\x60"), (b"balance/b", None)), state_tree=tree)
    store.commit_block(first)
    assert store.get(b"balance/a") == b"\x60"
    assert store.get(b"balance/b") is None
    second = _block(_after(first), [BOB], ((b"balance/yy", b"\x01"),), state_tree=tree)
    store.commit_block(second)
    assert store.get(b"balance/yy") == b"\x01"  # cached as absent before, written by a block since
    assert kv.state_reads == 2


def test_a_read_that_raced_a_commit_does_not_cache_the_older_value() -> None:
    """A read of the store that began before a block's batch and ends after the block was cached (the node reads
    on its loop while a networked node commits in the store's thread) must not leave the older value cached."""
    kv = _CountingStore()
    store = BlockStore(kv, SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    tree = store.state_tree
    genesis = _block(None, [], ((b"balance/a", b"\x64"),), certificate=False, state_tree=tree)
    store.commit_block(genesis)
    store.forget_cached_state()
    first = _block(_after(genesis), [ALICE], ((b"balance/a", b"\x60"),), state_tree=tree)
    kv.on_get = lambda: store.commit_block(first)
    assert store.get(b"balance/a") == b"\x64"  # read before the block was written
    assert store.get(b"balance/a") == b"\x60"


def test_the_state_cache_is_bounded_and_can_be_turned_off() -> None:
    cache = StateCache(3)
    for index in range(10):
        cache.put(bytes([index]), b"v", cache.generation)
    assert len(cache) == 3
    assert cache.get(bytes([9])) == b"v" and cache.get(bytes([0])) != b"v"
    cache.apply_writes([(bytes([20 + index]), None) for index in range(5)])
    assert len(cache) == 3 and cache.get(bytes([24])) is None
    stale = cache.generation
    cache.clear()
    cache.put(b"late", b"old", stale)  # read before the state was replaced
    assert len(cache) == 0 and cache.byte_count == 0
    # Bytes bound: keys and values, the oldest first; a value over 1/64 of the bound is never kept.
    sized = StateCache(1000, 64 * 100)
    for index in range(200):
        sized.put(bytes([index]), b"v" * 49, sized.generation)
    assert sized.byte_count <= 64 * 100 and len(sized) == 128 and sized.get(bytes([199])) == b"v" * 49
    sized.apply_writes([(bytes([199]), b"w" * 100), (bytes([198]), None)])  # too big: dropped, read from the store
    assert bytes([199]) not in sized._entries and sized.get(bytes([198])) is None
    assert sized.byte_count == sum(len(key) + len(value or b"") for key, value in sized._entries.items())
    kv = _CountingStore()
    store = BlockStore(kv, SUITE, state_cache_entries=0)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    _chain(store)
    for _ in range(2):
        assert store.get(b"balance/a") == b"\x60"
    assert kv.state_reads == 2


def test_a_block_that_does_not_follow_the_tip_is_refused_and_changes_nothing() -> None:
    store = _new_store()
    _genesis, first, second = _chain(store)
    gap = _block((Height(3), second.block_hash, second.header.state_root), [ALICE])
    wrong_parent = _block((Height(2), first.block_hash, second.header.state_root), [ALICE])
    again = second
    for block, message in ((gap, "does not follow the tip"), (wrong_parent, "not the tip"), (again, "does not follow")):
        with pytest.raises(InvalidBlockError, match=message):
            store.commit_block(block)
        assert store.get_tip() == (Height(2), second.block_hash)
    assert not store.has_transaction(gap.transaction_ids[0])
    assert store.get_header(Height(4)) is None


def test_a_store_belongs_to_one_chain_and_one_genesis() -> None:
    kv = MemoryStore()
    BlockStore(kv, SUITE).initialize(CHAIN_ID, GENESIS_HASH)
    BlockStore(kv, SUITE).initialize(CHAIN_ID, GENESIS_HASH)  # the same chain again: fine
    with pytest.raises(StorageError, match="holds chain 'gusu-store-test' with another genesis"):
        BlockStore(kv, SUITE).initialize("another-chain", GENESIS_HASH)
    with pytest.raises(StorageError, match="another genesis"):
        BlockStore(kv, SUITE).initialize(CHAIN_ID, Hash(b"\x43" * 32))


def test_a_store_of_another_format_is_refused() -> None:
    from gusu.ledger.kv import WriteBatch
    from gusu.ledger.store import META_FORMAT

    kv = MemoryStore()
    BlockStore(kv, SUITE).initialize(CHAIN_ID, GENESIS_HASH)
    batch = WriteBatch()
    batch.put(META_FORMAT, b"0")
    kv.write(batch, sync=True)
    with pytest.raises(StorageError, match="incompatible Gusu version"):
        BlockStore(kv, SUITE).initialize(CHAIN_ID, GENESIS_HASH)


@pytest.mark.parametrize("backend", ["rocksdb", "lmdb"])
def test_everything_survives_close_and_reopen(tmp_path: Path, backend: str) -> None:
    store = BlockStore(open_store(tmp_path / "data", backend), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    blocks = _chain(store)
    store.close()

    reopened = BlockStore(open_store(tmp_path / "data", backend), SUITE)
    try:
        reopened.initialize(CHAIN_ID, GENESIS_HASH)
        assert reopened.get_tip() == (Height(2), blocks[2].block_hash)
        for block in blocks:
            assert reopened.get_header(block.header.height) == block.header
            assert reopened.get_certificate(block.header.height) == block.certificate
            assert reopened.get_receipts(block.header.height) == list(block.receipts)
        assert reopened.get(b"balance/a") == b"\x60"
        assert list(reopened.iterate_sender_transactions(_address(BOB), newest_first=False)) == [
            blocks[1].transaction_ids[1],
            blocks[2].transaction_ids[0],
        ]
        # The chain goes on from where it stopped.
        third = _block(_after(blocks[2]), [ALICE], ((b"balance/d", b"\x02"),), state_tree=reopened.state_tree)
        reopened.commit_block(third)
        proof = reopened.get_state_proof(Height(3), b"balance/a")
        validate_state_proof(SUITE, third.header.state_root, b"balance/a", b"\x60", proof)
        assert reopened.get_tip() == (Height(3), third.block_hash)
        with pytest.raises(StorageError, match="another genesis"):
            reopened.initialize(CHAIN_ID, Hash(b"\x43" * 32))
    finally:
        reopened.close()


def test_each_block_commits_its_state_tree_version() -> None:
    """The state root of every block is the tree root of the whole state after it, provable at every height."""
    store = _new_store()
    genesis, first, second = _chain(store)
    states = [
        {b"balance/a": b"\x64", b"balance/b": b"\x32"},
        {b"balance/a": b"\x60"},
        {b"balance/a": b"\x60", b"balance/c": b"\x01"},
    ]
    for block, state in zip((genesis, first, second), states, strict=True):
        assert block.header.state_root == compute_tree_root(SUITE, state)
        height = block.header.height
        for key in (b"balance/a", b"balance/b", b"balance/c"):
            proof = store.get_state_proof(height, key)
            validate_state_proof(SUITE, block.header.state_root, key, state.get(key), proof)


def test_a_failed_receipt_is_kept_as_failed() -> None:
    store = _new_store()
    _genesis, first, _second = _chain(store)
    failed = store.get_receipt(first.transaction_ids[1])
    assert failed is not None and not failed.is_success
    assert (failed.error_code, failed.gas_used) == ("reverted", 101)
    assert replace(failed, status=ReceiptStatus.SUCCESS) != failed


class _SyncLog(MemoryStore):
    """A memory store that records the `sync` flag of each write."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs: list[bool] = []

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self.syncs.append(sync)
        super().write(batch, sync=sync)


def test_a_block_is_written_synced_unless_a_bulk_writer_asks_otherwise() -> None:
    kv = _SyncLog()
    store = BlockStore(kv, SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    genesis = _block(None, [], ((b"balance/a", b"\x64"),), certificate=False, state_tree=store.state_tree)
    kv.syncs.clear()
    store.commit_block(genesis)
    first = _block(_after(genesis), [ALICE], ((b"balance/a", b"\x60"),), state_tree=store.state_tree)
    store.commit_block(first, sync=False)
    assert kv.syncs == [True, False]
    assert store.get_tip() == (Height(1), first.block_hash)
