"""Backups of a block store: a snapshot taken while blocks commit, and a restore that refuses damage.

Hostile cases: truncated and edited data files, an edited manifest (height, checksum, format version),
another chain's backup, a forged state in an otherwise intact backup.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from test_store import ALICE, BOB, SUITE, _block

from gusu.errors import BackupError
from gusu.ledger.backup import (
    BACKUP_FORMAT_VERSION,
    MANIFEST_FILE_NAME,
    BackupManifest,
    iterate_backup_records,
    load_backup,
    read_manifest,
    validate_backup_identity,
    verify_backup_files,
    verify_restored_store,
    write_backup,
)
from gusu.ledger.kv import DISK_BACKENDS, MemoryStore, WriteBatch, open_store
from gusu.ledger.smt import PREFIX_TREE_NODE
from gusu.ledger.store import PREFIX_HEADER, PREFIX_STATE, BlockStore, CommittedBlock
from gusu.ledger.types import Hash, Height, compute_block_hash

CHAIN_ID = "gusu-store-test"
GENESIS_HASH = Hash(b"\x42" * 32)


def _genesis_block(store: BlockStore) -> CommittedBlock:
    block = _block(None, [], ((b"balance/a", b"\x64"),), certificate=False, state_tree=store.state_tree)
    header = replace(block.header, parent_hash=GENESIS_HASH)
    return replace(block, header=header, block_hash=compute_block_hash(SUITE, header))


def _grow(store: BlockStore, blocks: int) -> None:
    """Commit `blocks` more blocks (genesis first if the store is empty), each with transfers and a write."""
    tip = store.get_tip()
    if tip is None:
        store.commit_block(_genesis_block(store))
        blocks -= 1
    for _ in range(blocks):
        tip = store.get_tip()
        assert tip is not None
        header = store.get_header(tip[0])
        assert header is not None
        height = tip[0] + 1
        writes = ((b"balance/%d" % (height % 5), b"%d" % height), (b"counter", b"%d" % height))
        store.commit_block(
            _block((tip[0], tip[1], header.state_root), [ALICE, BOB], writes, state_tree=store.state_tree)
        )


def _new_store(tmp_path: Path, name: str = "chain", backend: str = "rocksdb") -> BlockStore:
    store = BlockStore(open_store(tmp_path / name, backend), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    return store


def _restore(directory: Path) -> tuple[BackupManifest, BlockStore]:
    manifest = read_manifest(directory)
    validate_backup_identity(manifest, CHAIN_ID, GENESIS_HASH, SUITE.name)
    verify_backup_files(directory, manifest)
    kv = MemoryStore()
    load_backup(directory, manifest, kv)
    verify_restored_store(kv, SUITE, manifest)
    return manifest, BlockStore(kv, SUITE)


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of a 12-block rocksdb store, made while 20 more blocks were committed beside it."""
    root = tmp_path_factory.mktemp("backup")
    store = _new_store(root)
    _grow(store, 12)
    writer = threading.Thread(target=_grow, args=(store, 20))
    writer.start()
    write_backup(store.kv, SUITE, root / "backup", created_ms=1)
    writer.join()
    store.close()
    return root / "backup"


def _copy(source: Path, target: Path) -> Path:
    target.mkdir()
    for item in source.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    return target


def test_a_backup_taken_during_commits_restores_to_one_consistent_tip(backed_up: Path) -> None:
    manifest, restored = _restore(backed_up)
    assert 11 <= manifest.height <= 31
    assert manifest.format_version == BACKUP_FORMAT_VERSION
    tip = restored.get_tip()
    assert tip == (manifest.height, manifest.block_hash)
    header = restored.get_header(manifest.height)
    assert header is not None and header.state_root == manifest.state_root
    assert restored.get(b"counter") == b"%d" % manifest.height
    assert restored.get_header(Height(manifest.height + 1)) is None
    assert len(restored.get_transaction_ids(manifest.height) or []) == 2


def test_the_restored_store_takes_the_next_block(backed_up: Path) -> None:
    manifest, restored = _restore(backed_up)
    restored.initialize(CHAIN_ID, GENESIS_HASH)
    _grow(restored, 3)
    assert restored.get_tip() is not None and restored.get_tip()[0] == manifest.height + 3  # type: ignore[index]


def test_a_truncated_data_file_is_refused(backed_up: Path, tmp_path: Path) -> None:
    copy = _copy(backed_up, tmp_path / "copy")
    data = copy / "data-00000.gkv"
    data.write_bytes(data.read_bytes()[:-7])
    with pytest.raises(BackupError, match="truncated"):
        verify_backup_files(copy, read_manifest(copy))


def test_a_changed_byte_is_refused(backed_up: Path, tmp_path: Path) -> None:
    copy = _copy(backed_up, tmp_path / "copy")
    data = copy / "data-00000.gkv"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(BackupError):
        verify_backup_files(copy, read_manifest(copy))


def _edit_manifest(copy: Path, **changes: object) -> None:
    path = copy / MANIFEST_FILE_NAME
    document = json.loads(path.read_text())
    document.update(changes)
    path.write_text(json.dumps(document))


def test_an_edited_manifest_height_is_refused_after_loading(backed_up: Path, tmp_path: Path) -> None:
    copy = _copy(backed_up, tmp_path / "copy")
    _edit_manifest(copy, height=read_manifest(copy).height - 1)
    with pytest.raises(BackupError, match="manifest says"):
        _restore(copy)


def test_an_edited_state_root_is_refused(backed_up: Path, tmp_path: Path) -> None:
    copy = _copy(backed_up, tmp_path / "copy")
    _edit_manifest(copy, state_root="11" * 32)
    with pytest.raises(BackupError, match="state root"):
        _restore(copy)


def test_a_newer_format_is_refused_with_what_to_do(backed_up: Path, tmp_path: Path) -> None:
    copy = _copy(backed_up, tmp_path / "copy")
    _edit_manifest(copy, format_version=BACKUP_FORMAT_VERSION + 1)
    with pytest.raises(BackupError, match="newer than this Gusu"):
        read_manifest(copy)


def test_a_missing_manifest_means_an_incomplete_backup(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="not a complete"):
        read_manifest(tmp_path)


def test_a_backup_of_another_chain_is_refused(backed_up: Path) -> None:
    manifest = read_manifest(backed_up)
    with pytest.raises(BackupError, match="not of this node's chain"):
        validate_backup_identity(manifest, "another-chain", GENESIS_HASH, SUITE.name)
    with pytest.raises(BackupError, match="not of this node's chain"):
        validate_backup_identity(manifest, CHAIN_ID, Hash(b"\x43" * 32), SUITE.name)


def test_a_backup_of_another_chain_with_a_copied_manifest_is_refused(tmp_path: Path) -> None:
    """Another chain's files under this chain's identity: the headers do not link to this genesis."""
    foreign = BlockStore(MemoryStore(), SUITE)
    foreign.initialize(CHAIN_ID, GENESIS_HASH)
    block = _block(None, [], ((b"balance/a", b"\x65"),), certificate=False, state_tree=foreign.state_tree)
    foreign.commit_block(block)  # parent ZERO_HASH: not this chain's genesis
    write_backup(foreign.kv, SUITE, tmp_path / "foreign", created_ms=1)
    with pytest.raises(BackupError, match="does not link"):
        _restore(tmp_path / "foreign")


def test_a_forged_state_value_is_refused(tmp_path: Path) -> None:
    store = BlockStore(MemoryStore(), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    _grow(store, 4)
    batch = WriteBatch()
    batch.put(PREFIX_STATE + b"counter", b"1000000")  # the flat state no longer matches the tree
    store.kv.write(batch)
    write_backup(store.kv, SUITE, tmp_path / "forged", created_ms=1)
    with pytest.raises(BackupError, match="flat state disagrees with its state tree"):
        _restore(tmp_path / "forged")


def test_a_flat_state_entry_the_tree_lacks_is_refused(tmp_path: Path) -> None:
    store = BlockStore(MemoryStore(), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    _grow(store, 4)
    batch = WriteBatch()
    batch.put(PREFIX_STATE + b"smuggled", b"1")  # every tree entry still matches; one entry more than the tree
    store.kv.write(batch)
    write_backup(store.kv, SUITE, tmp_path / "smuggled", created_ms=1)
    with pytest.raises(BackupError, match=r"flat state has .* entries but its state tree"):
        _restore(tmp_path / "smuggled")


def test_a_backup_goes_to_a_new_directory_only(backed_up: Path) -> None:
    store = BlockStore(MemoryStore(), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    _grow(store, 2)
    with pytest.raises(BackupError, match="not an empty directory"):
        write_backup(store.kv, SUITE, backed_up, created_ms=1)


def test_an_empty_store_cannot_be_backed_up(tmp_path: Path) -> None:
    store = BlockStore(MemoryStore(), SUITE)
    store.initialize(CHAIN_ID, GENESIS_HASH)
    with pytest.raises(BackupError, match="no committed block"):
        write_backup(store.kv, SUITE, tmp_path / "empty", created_ms=1)


def rewrite_backup(source: Path, target: Path, edit: Callable[[dict[bytes, bytes]], None]) -> None:
    """A backup as an attacker would forge it: records edited, then manifest and checksums made anew."""
    manifest = read_manifest(source)
    store = MemoryStore()
    records = dict(iterate_backup_records(source, manifest))
    edit(records)
    batch = WriteBatch()
    for key, value in records.items():
        batch.put(key, value)
    store.write(batch)
    write_backup(store, SUITE, target, created_ms=1)


def test_a_missing_header_is_refused_even_with_fresh_checksums(backed_up: Path, tmp_path: Path) -> None:
    rewrite_backup(backed_up, tmp_path / "forged", lambda records: records.pop(PREFIX_HEADER + (3).to_bytes(8, "big")))
    with pytest.raises(BackupError, match="skip or repeat height 3"):
        _restore(tmp_path / "forged")


def test_a_pruned_tip_state_is_refused(backed_up: Path, tmp_path: Path) -> None:
    tip = read_manifest(backed_up).height

    def drop_tip_root(records: dict[bytes, bytes]) -> None:
        records.pop(PREFIX_TREE_NODE + tip.to_bytes(8, "big") + b"\x00")

    rewrite_backup(backed_up, tmp_path / "forged", drop_tip_root)
    with pytest.raises(BackupError, match="lacks the state tree"):
        _restore(tmp_path / "forged")


@pytest.mark.parametrize("backend", DISK_BACKENDS)
def test_a_backup_restores_into_every_engine(backed_up: Path, tmp_path: Path, backend: str) -> None:
    manifest = read_manifest(backed_up)
    with open_store(tmp_path / "restored", backend) as kv:
        load_backup(backed_up, manifest, kv)
        verify_restored_store(kv, SUITE, manifest)
        write_backup(kv, SUITE, tmp_path / "again", created_ms=2)
    again = read_manifest(tmp_path / "again")
    assert [item.sha256 for item in again.files] == [item.sha256 for item in manifest.files]
