"""Pruning of state versions and archiving of block bodies: bounded steps, proofs kept in the window, refused
outside it, and archive files that re-import only when they match the headers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_backup import CHAIN_ID, GENESIS_HASH, _grow
from test_store import SUITE, _block

from gusu.codec import encode
from gusu.errors import BackupError, NotFoundError
from gusu.ledger.ethtx import EthTransaction, decode_block_item, encode_eth_block_item, encode_signed_legacy_transaction
from gusu.ledger.kv import MemoryStore
from gusu.ledger.pruning import (
    apply_body_archiving_step,
    apply_state_pruning_step,
    compute_archive_file_name,
    get_bodies_kept_from,
    get_state_kept_from,
    import_archive_file,
    read_archive_file,
)
from gusu.ledger.smt import PREFIX_STALE, PREFIX_TREE_NODE, validate_state_proof
from gusu.ledger.store import BlockStore, compute_receipts_root, compute_transactions_root
from gusu.ledger.types import Height, Receipt, ReceiptStatus, compute_block_hash


def _store(blocks: int) -> BlockStore:
    store = BlockStore(MemoryStore(), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    _grow(store, blocks)
    return store


def _tip(store: BlockStore) -> Height:
    tip = store.get_tip()
    assert tip is not None
    return tip[0]


def _count_nodes(store: BlockStore) -> int:
    return sum(1 for _ in store.kv.iterate(PREFIX_TREE_NODE))


def test_state_pruning_moves_one_version_per_step_and_keeps_the_window_provable() -> None:
    store = _store(20)  # heights 0..19
    nodes_before = _count_nodes(store)
    steps = []
    while (kept_from := apply_state_pruning_step(store.kv, _tip(store), 5)) is not None:
        steps.append(kept_from)
    assert steps == list(range(1, 16))  # one version per step, up to tip - 5 + 1 = 15
    assert get_state_kept_from(store.kv) == 15
    assert _count_nodes(store) < nodes_before
    for height in range(15, 20):
        header = store.get_header(Height(height))
        assert header is not None
        proof = store.get_state_proof(Height(height), b"counter")
        validate_state_proof(SUITE, header.state_root, b"counter", b"%d" % height, proof)
    for height in (0, 7, 14):
        with pytest.raises(NotFoundError, match="pruned"):
            store.get_state_proof(Height(height), b"counter")
    assert apply_state_pruning_step(store.kv, _tip(store), 5) is None


def test_pruning_goes_on_as_blocks_commit() -> None:
    store = _store(3)  # tip 2: nothing due yet with a window of 3
    for _ in range(10):
        _grow(store, 1)
        apply_state_pruning_step(store.kv, _tip(store), 3)
    assert get_state_kept_from(store.kv) == _tip(store) - 2
    _grow(store, 2)  # the next blocks build on the kept versions
    header = store.get_header(_tip(store))
    assert header is not None
    validate_state_proof(
        SUITE, header.state_root, b"counter", b"%d" % _tip(store), store.get_state_proof(_tip(store), b"counter")
    )


def test_zero_keeps_everything() -> None:
    store = _store(5)
    assert apply_state_pruning_step(store.kv, _tip(store), 0) is None
    assert apply_body_archiving_step(store, store.kv, _tip(store), 0, Path("/nonexistent"), 10) is None


def _archive_all(store: BlockStore, directory: Path, kept: int, per_file: int) -> list[tuple[Height, Height]]:
    ranges = []
    while (moved := apply_body_archiving_step(store, store.kv, _tip(store), kept, directory, per_file)) is not None:
        ranges.append(moved)
    return ranges


def test_bodies_move_to_archive_files_and_come_back_identical(tmp_path: Path) -> None:
    store = _store(12)  # heights 0..11, two transactions each after genesis
    before = dict(store.kv.iterate(b""))
    ranges = _archive_all(store, tmp_path, 4, 3)
    assert ranges == [(0, 2), (3, 5)]  # 6 and 7 are due too, but not a whole file of 3 yet
    assert get_bodies_kept_from(store.kv) == 6
    assert store.get_transaction_ids(Height(5)) is None
    assert store.get_header(Height(5)) is not None  # headers stay
    assert store.get_transaction_ids(Height(6)) is not None
    for first, last in ranges:
        assert import_archive_file(store, store.kv, tmp_path / compute_archive_file_name(first, last)) == (first, last)
    after = dict(store.kv.iterate(b""))
    del after[b"mbodies_kept_from"]
    assert after == before


def test_a_damaged_archive_file_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    store = _store(6)
    _archive_all(store, tmp_path, 2, 4)
    path = tmp_path / compute_archive_file_name(Height(0), Height(3))
    raw = bytearray(path.read_bytes())
    for damaged in (bytes(raw[:-5]), bytes(raw[:40]), bytes(raw[:60] + bytes((raw[60] ^ 1,)) + raw[61:])):
        path.write_bytes(damaged)
        with pytest.raises(BackupError):
            import_archive_file(store, store.kv, path)
    assert store.get_transaction_ids(Height(2)) is None


def test_an_archive_of_another_chain_is_refused(tmp_path: Path) -> None:
    ours = _store(6)
    theirs = BlockStore(MemoryStore(), SUITE)
    theirs.initialize(CHAIN_ID, GENESIS_HASH)
    genesis = _block(None, [], ((b"balance/z", b"\x01"),), certificate=False, state_tree=theirs.state_tree)
    theirs.commit_block(genesis)  # another genesis state: every later block differs
    _grow(theirs, 5)
    _archive_all(theirs, tmp_path, 2, 4)
    with pytest.raises(BackupError, match="not this chain's block"):
        import_archive_file(ours, ours.kv, tmp_path / compute_archive_file_name(Height(0), Height(3)))


def test_a_body_that_does_not_match_its_header_is_refused(tmp_path: Path) -> None:
    """A record re-signed with a valid checksum but another block's transactions: the roots disagree."""
    import hashlib

    from gusu.codec import encode
    from gusu.ledger.pruning import ARCHIVE_MAGIC, TAG_ARCHIVE_BLOCK

    store = _store(6)
    _archive_all(store, tmp_path, 2, 4)
    path = tmp_path / compute_archive_file_name(Height(0), Height(3))
    blocks = list(read_archive_file(path))
    swapped = [blocks[0], blocks[1], blocks[3], blocks[2]]
    body = ARCHIVE_MAGIC + (0).to_bytes(8, "big") + (3).to_bytes(8, "big")
    for height, block in enumerate(swapped):
        record = encode(
            [TAG_ARCHIVE_BLOCK, height, blocks[height].block_hash, list(block.raw_transactions), list(block.receipts)]
        )
        body += len(record).to_bytes(4, "big") + record
    path.write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(BackupError, match="does not match its header"):
        import_archive_file(store, store.kv, path)
    assert store.get_transaction_ids(Height(2)) is None


def test_state_pruning_never_passes_a_version_kept_for_a_snapshot() -> None:
    store = _store(20)  # heights 0..19
    while apply_state_pruning_step(store.kv, _tip(store), 3, keep_from_max=Height(10)) is not None:
        pass
    assert get_state_kept_from(store.kv) == 10  # not 17: version 10 is offered as a snapshot
    for height in (10, 13, 19):  # the snapshot and everything after it still proves
        header = store.get_header(Height(height))
        assert header is not None
        proof = store.get_state_proof(Height(height), b"counter")
        validate_state_proof(SUITE, header.state_root, b"counter", b"%d" % height, proof)
    # Once the snapshot moves on, pruning follows the window again.
    while apply_state_pruning_step(store.kv, _tip(store), 3, keep_from_max=Height(15)) is not None:
        pass
    assert get_state_kept_from(store.kv) == 15


class _IterationLog(MemoryStore):
    """A memory store that records the prefixes iterated."""

    def __init__(self) -> None:
        super().__init__()
        self.prefixes: list[bytes] = []

    def iterate(
        self, prefix: bytes, *, reverse: bool = False, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        self.prefixes.append(prefix)
        return super().iterate(prefix, reverse=reverse, end=end)


def test_a_pruning_step_reads_only_the_stale_index_of_its_own_version() -> None:
    # Reading the index from its start walks every earlier step's deletes in an LSM store: quadratic in a backlog.
    kv = _IterationLog()
    store = BlockStore(kv, SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    _grow(store, 12)
    for expected in range(1, 8):
        kv.prefixes.clear()
        assert apply_state_pruning_step(kv, _tip(store), 5) == expected
        stale_reads = [prefix for prefix in kv.prefixes if prefix.startswith(PREFIX_STALE)]
        assert stale_reads == [PREFIX_STALE + expected.to_bytes(8, "big")]
    # The same deletes as reading the whole index: exactly the nodes no kept version needs.
    reference = _store(12)
    while apply_state_pruning_step(reference.kv, _tip(reference), 5) is not None:
        pass
    assert sorted(key for key, _ in kv.iterate(b"")) == sorted(key for key, _ in reference.kv.iterate(b""))


def test_bodies_with_ethereum_transactions_are_archived_and_come_back_identical(tmp_path: Path) -> None:
    # An Ethereum transaction's block item has its keccak hash for id and its recovered sender: archiving must
    # find the same keys `commit_block` wrote for it, or the body could neither leave the store nor come back.
    store = _store(3)
    tip = _tip(store)
    parent = store.get_header(tip)
    assert parent is not None
    raw = encode_signed_legacy_transaction(
        b"\x07" * 32, chain_id=1337, nonce=0, gas_price=0, gas_limit=21_000, to=b"\x02" * 20, value=1, data=b""
    )
    item = encode_eth_block_item(raw)
    transaction = decode_block_item(item)
    assert isinstance(transaction, EthTransaction)
    gusu_block = _block((tip, compute_block_hash(SUITE, parent), parent.state_root), [], state_tree=store.state_tree)
    receipt = Receipt(transaction.transaction_hash, ReceiptStatus.SUCCESS, encode([b"", b""]), (), 21_000, "", "")
    header = replace(
        gusu_block.header,
        transactions_root=compute_transactions_root(SUITE, [transaction.transaction_hash]),
        receipts_root=compute_receipts_root(SUITE, [receipt]),
        transaction_count=1,
    )
    store.commit_block(
        replace(
            gusu_block,
            header=header,
            block_hash=compute_block_hash(SUITE, header),
            transaction_ids=(transaction.transaction_hash,),
            raw_transactions=(item,),
            senders=(transaction.sender,),
            receipts=(receipt,),
        )
    )
    _grow(store, 4)
    before = dict(store.kv.iterate(b""))
    ranges = _archive_all(store, tmp_path, 2, 5)
    assert ranges and ranges[0][0] <= int(tip) + 1 <= ranges[-1][1]
    assert store.get_transaction(transaction.transaction_hash) is None
    for first, last in ranges:
        assert import_archive_file(store, store.kv, tmp_path / compute_archive_file_name(first, last)) == (first, last)
    after = dict(store.kv.iterate(b""))
    del after[b"mbodies_kept_from"]
    assert after == before
