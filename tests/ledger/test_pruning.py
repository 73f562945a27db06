"""Pruning of state versions and archiving of block bodies: bounded steps, proofs kept in the window, refused
outside it, and archive files that re-import only when they match the headers."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_backup import CHAIN_ID, GENESIS_HASH, _grow
from test_store import SUITE, _block

from gusu.errors import BackupError, NotFoundError
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
from gusu.ledger.smt import PREFIX_TREE_NODE, validate_state_proof
from gusu.ledger.store import BlockStore
from gusu.ledger.types import Height


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
