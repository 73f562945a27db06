"""Point-in-time backups of a block store, and their verification before a restore.

A backup is a directory:

    manifest.json          what the backup holds (BackupManifest), written last
    data-00000.gkv ...     the store's key-value pairs in key order, in files of at most
                           `BACKUP_FILE_BYTES_MAX`; each record is key length (4 bytes,
                           big-endian), key, value length (4), value

It is taken through `KeyValueStore.iterate(b"")`, whose pairs come from one
snapshot on every backend (RocksDB and LevelDB iterators pin a sequence
number, LMDB a read transaction), so it can run while the node commits
blocks and still holds exactly the store as of one committed block: that
block's batch wrote its header and the tip together. A logical dump rather
than an engine checkpoint (RocksDB's hard-linked SST files) because it
works the same on all three engines, restores into any of them, and its
files can be checked record by record before anything is written.

The manifest names the chain (id, genesis hash, suite), the tip (height,
block hash, state root) and every file's size, record count and SHA-256.
The checksums detect damage; that the content is the chain's is checked on
restore (`verify_restored_store`): the headers link from the genesis hash
to the tip, and the state tree's root at the tip is the tip header's.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gusu.crypto import CryptoSuite
from gusu.errors import BackupError, CodecError, InvalidStateProofError, NotFoundError, StorageError
from gusu.ledger.kv import MAX_KEY_BYTES, KeyValueStore, WriteBatch
from gusu.ledger.smt import get_tree_root
from gusu.ledger.snapshot import compute_snapshot_plan, get_snapshot_chunk, validate_snapshot_chunk
from gusu.ledger.store import (
    META_CHAIN_ID,
    META_FORMAT,
    META_GENESIS_HASH,
    META_SUITE,
    META_TIP,
    PREFIX_BLOCK_HASH,
    PREFIX_HEADER,
    PREFIX_STATE,
    STORE_FORMAT,
    TAG_TIP,
)
from gusu.ledger.types import HASH_SIZE, Hash, Height, compute_block_hash, decode_header

BACKUP_FORMAT_VERSION = 1
"""Raised when the file layout changes; a restore refuses a backup of a newer version."""
BACKUP_FORMAT_NAME = "gusu.backup"
MANIFEST_FILE_NAME = "manifest.json"
MANIFEST_BYTES_MAX = 4 * 1024 * 1024
BACKUP_FILE_BYTES_MAX = 64 * 1024 * 1024
BACKUP_FILES_MAX = 100_000
BACKUP_VALUE_BYTES_MAX = 64 * 1024 * 1024
"""No stored value comes near this; a larger length field means a damaged file."""
RESTORE_BATCH_BYTES = 8 * 1024 * 1024

_LENGTH_BYTES = 4
_READ_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BackupFile:
    name: str
    size_bytes: int
    records: int
    sha256: str


@dataclass(frozen=True, slots=True)
class BackupManifest:
    format_version: int
    chain_id: str
    genesis_hash: Hash
    suite: str
    store_format: str
    height: Height
    block_hash: Hash
    state_root: Hash
    created_ms: int
    files: tuple[BackupFile, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "format": BACKUP_FORMAT_NAME,
            "format_version": self.format_version,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash.hex(),
            "suite": self.suite,
            "store_format": self.store_format,
            "height": self.height,
            "block_hash": self.block_hash.hex(),
            "state_root": self.state_root.hex(),
            "created_ms": self.created_ms,
            "files": [
                {"name": f.name, "size_bytes": f.size_bytes, "records": f.records, "sha256": f.sha256}
                for f in self.files
            ],
        }


def _file_name(index: int) -> str:
    return f"data-{index:05d}.gkv"


class _FileWriter:
    """Writes numbered data files, each fsynced, noting size, records and checksum."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self.files: list[BackupFile] = []
        self._handle: object = None
        self._open_next()

    def _open_next(self) -> None:
        self._name = _file_name(len(self.files))
        self._file = open(self._directory / self._name, "xb")  # noqa: SIM115 - closed in _finish
        self._digest = hashlib.sha256()
        self._size = 0
        self._records = 0

    def _finish(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.files.append(BackupFile(self._name, self._size, self._records, self._digest.hexdigest()))

    def add(self, key: bytes, value: bytes) -> None:
        record = len(key).to_bytes(_LENGTH_BYTES, "big") + key + len(value).to_bytes(_LENGTH_BYTES, "big") + value
        if self._records and self._size + len(record) > BACKUP_FILE_BYTES_MAX:
            self._finish()
            if len(self.files) >= BACKUP_FILES_MAX:
                raise StorageError(f"the store is too large for one backup of {BACKUP_FILES_MAX} files")
            self._open_next()
        self._file.write(record)
        self._digest.update(record)
        self._size += len(record)
        self._records += 1

    def close(self) -> list[BackupFile]:
        self._finish()
        return self.files


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _decode_tip(raw: bytes) -> tuple[Height, Hash]:
    from gusu.codec import decode_list, expect_bytes, expect_uint

    fields = decode_list(raw, TAG_TIP, 3)
    return Height(expect_uint(fields[1], "tip height")), Hash(expect_bytes(fields[2], "tip hash", size=HASH_SIZE))


def write_backup(kv: KeyValueStore, suite: CryptoSuite, out: Path, created_ms: int) -> BackupManifest:
    """Copy the store as of one snapshot into the new directory `out`; the manifest goes last.

    Safe while another thread commits blocks: only reads, through one
    snapshot iterator. `out` must not exist or be an empty directory.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty directory; name a new directory for the backup")
    out.mkdir(parents=True, exist_ok=True)
    writer = _FileWriter(out)
    meta: dict[bytes, bytes] = {}
    last_header: bytes | None = None
    for key, value in kv.iterate(b""):
        writer.add(key, value)
        if key.startswith(PREFIX_HEADER) and len(key) == 1 + 8:
            last_header = value  # keys sort by height: the snapshot's last header is its tip's
        elif key in (META_CHAIN_ID, META_GENESIS_HASH, META_SUITE, META_TIP, META_FORMAT):
            meta[key] = value
    files = writer.close()
    if META_TIP not in meta or last_header is None or META_CHAIN_ID not in meta:
        raise BackupError("the store holds no committed block yet; start the node once before backing it up")
    height, block_hash = _decode_tip(meta[META_TIP])
    header = decode_header(last_header)
    assert header.height == height and compute_block_hash(suite, header) == block_hash, "tip and header disagree"
    manifest = BackupManifest(
        format_version=BACKUP_FORMAT_VERSION,
        chain_id=meta[META_CHAIN_ID].decode(),
        genesis_hash=Hash(meta[META_GENESIS_HASH]),
        suite=meta[META_SUITE].decode(),
        store_format=meta.get(META_FORMAT, b"").decode(),
        height=height,
        block_hash=block_hash,
        state_root=header.state_root,
        created_ms=created_ms,
        files=tuple(files),
    )
    temporary = out / (MANIFEST_FILE_NAME + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(manifest.to_json(), handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, out / MANIFEST_FILE_NAME)
    _fsync_directory(out)
    return manifest


# --- reading and verifying ---------------------------------------------------------


def _expect(document: dict[str, object], name: str, kind: type) -> object:
    value = document.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BackupError(
            f"the backup manifest's {name!r} is missing or not a {kind.__name__}: the manifest is damaged"
        )
    return value


def _expect_hash(document: dict[str, object], name: str) -> Hash:
    text = _expect(document, name, str)
    assert isinstance(text, str)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != HASH_SIZE:
        raise BackupError(f"the backup manifest's {name!r} is not a {HASH_SIZE}-byte hex hash: the manifest is damaged")
    return Hash(raw)


def read_manifest(directory: Path) -> BackupManifest:
    """The manifest of the backup in `directory`; BackupError when it is missing, damaged or too new."""
    path = directory / MANIFEST_FILE_NAME
    try:
        size = path.stat().st_size
        if size > MANIFEST_BYTES_MAX:
            raise BackupError(f"{path} is {size} bytes, more than a manifest can be: it is not a Gusu backup")
        document = json.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise BackupError(f"{directory} has no {MANIFEST_FILE_NAME}: it is not a complete Gusu backup") from error
    except (OSError, ValueError) as error:
        raise BackupError(f"cannot read {path}: {error}; the backup is damaged") from error
    if not isinstance(document, dict) or document.get("format") != BACKUP_FORMAT_NAME:
        raise BackupError(f"{path} is not a Gusu backup manifest")
    version = _expect(document, "format_version", int)
    assert isinstance(version, int)
    if version > BACKUP_FORMAT_VERSION:
        raise BackupError(
            f"the backup has format version {version}, newer than this Gusu reads ({BACKUP_FORMAT_VERSION}); "
            "restore it with the Gusu version that made it or a later one"
        )
    if version < 1:
        raise BackupError(f"the backup's format version {version} is not valid: the manifest is damaged")
    raw_files = _expect(document, "files", list)
    assert isinstance(raw_files, list)
    if not 1 <= len(raw_files) <= BACKUP_FILES_MAX:
        raise BackupError(f"the backup manifest lists {len(raw_files)} files; it must list 1 to {BACKUP_FILES_MAX}")
    files = []
    for index, item in enumerate(raw_files):
        if not isinstance(item, dict):
            raise BackupError("the backup manifest's file list is damaged")
        name = _expect(item, "name", str)
        if name != _file_name(index):
            raise BackupError(f"the backup manifest names file {index} {name!r}, not {_file_name(index)!r}")
        size_bytes, records, sha256 = (
            _expect(item, "size_bytes", int),
            _expect(item, "records", int),
            _expect(item, "sha256", str),
        )
        assert isinstance(size_bytes, int) and isinstance(records, int) and isinstance(sha256, str)
        if not 0 <= size_bytes <= BACKUP_FILE_BYTES_MAX + 2 * _LENGTH_BYTES + MAX_KEY_BYTES + BACKUP_VALUE_BYTES_MAX:
            raise BackupError(f"the backup manifest gives file {name} an impossible size {size_bytes}")
        files.append(BackupFile(name, size_bytes, records, sha256))
    height, created_ms = _expect(document, "height", int), _expect(document, "created_ms", int)
    assert isinstance(height, int) and isinstance(created_ms, int)
    if height < 0:
        raise BackupError("the backup manifest's height is negative: the manifest is damaged")
    chain_id, suite, store_format = (_expect(document, name, str) for name in ("chain_id", "suite", "store_format"))
    assert isinstance(chain_id, str) and isinstance(suite, str) and isinstance(store_format, str)
    return BackupManifest(
        format_version=version,
        chain_id=chain_id,
        genesis_hash=_expect_hash(document, "genesis_hash"),
        suite=suite,
        store_format=store_format,
        height=Height(height),
        block_hash=_expect_hash(document, "block_hash"),
        state_root=_expect_hash(document, "state_root"),
        created_ms=created_ms,
        files=tuple(files),
    )


def validate_backup_identity(manifest: BackupManifest, chain_id: str, genesis_hash: Hash, suite: str) -> None:
    """Raise BackupError unless the backup is of this chain (id, genesis, suite) and of this store format."""
    if manifest.chain_id != chain_id or manifest.genesis_hash != genesis_hash:
        raise BackupError(
            f"the backup is of chain {manifest.chain_id!r} (genesis {manifest.genesis_hash.hex()[:16]}), not of this "
            f"node's chain {chain_id!r} (genesis {genesis_hash.hex()[:16]}); restore a backup of this chain"
        )
    if manifest.suite != suite:
        raise BackupError(f"the backup uses the {manifest.suite} suite, this chain {suite}")
    if manifest.store_format != STORE_FORMAT.decode():
        raise BackupError(
            f"the backup holds a store of format {manifest.store_format!r}, this Gusu writes "
            f"{STORE_FORMAT.decode()!r}; restore it with a matching Gusu version"
        )


def _read_records(path: Path, expected: BackupFile) -> Iterator[tuple[bytes, bytes]]:
    """The records of one data file, checking framing, size, count and checksum as it goes."""
    digest = hashlib.sha256()
    size = 0
    records = 0
    buffer = b""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed in finally
    except OSError as error:
        raise BackupError(f"cannot read backup file {path}: {error.strerror}; the backup is incomplete") from error
    try:
        at_end = False
        while not at_end:
            chunk = handle.read(_READ_CHUNK_BYTES)
            at_end = not chunk
            digest.update(chunk)
            size += len(chunk)
            if size > expected.size_bytes:
                raise BackupError(f"backup file {path.name} is longer than its manifest says: it was altered")
            buffer += chunk
            position = 0
            while True:
                if len(buffer) - position < _LENGTH_BYTES:
                    break
                key_length = int.from_bytes(buffer[position : position + _LENGTH_BYTES], "big")
                if not 0 < key_length <= MAX_KEY_BYTES:
                    raise BackupError(f"backup file {path.name} has a damaged record (key length {key_length})")
                value_at = position + _LENGTH_BYTES + key_length
                if len(buffer) < value_at + _LENGTH_BYTES:
                    break
                value_length = int.from_bytes(buffer[value_at : value_at + _LENGTH_BYTES], "big")
                if value_length > BACKUP_VALUE_BYTES_MAX:
                    raise BackupError(f"backup file {path.name} has a damaged record (value length {value_length})")
                end = value_at + _LENGTH_BYTES + value_length
                if len(buffer) < end:
                    break
                yield buffer[position + _LENGTH_BYTES : value_at], buffer[value_at + _LENGTH_BYTES : end]
                records += 1
                position = end
            buffer = buffer[position:]
    finally:
        handle.close()
    if buffer or size != expected.size_bytes:
        raise BackupError(f"backup file {path.name} is truncated ({size} of {expected.size_bytes} bytes)")
    if digest.hexdigest() != expected.sha256:
        raise BackupError(f"backup file {path.name} does not match its checksum: it is damaged")
    if records != expected.records:
        raise BackupError(f"backup file {path.name} holds {records} records, its manifest says {expected.records}")


def iterate_backup_records(directory: Path, manifest: BackupManifest) -> Iterator[tuple[bytes, bytes]]:
    """Every record of the backup in order; BackupError (possibly after some records) on any damage or disorder."""
    previous = b""
    for expected in manifest.files:
        for key, value in _read_records(directory / expected.name, expected):
            if key <= previous:
                raise BackupError(f"backup file {expected.name} holds keys out of order: it is damaged")
            previous = key
            yield key, value


def verify_backup_files(directory: Path, manifest: BackupManifest) -> int:
    """Read every file once against the manifest; the number of records. Nothing is written."""
    return sum(1 for _ in iterate_backup_records(directory, manifest))


def load_backup(directory: Path, manifest: BackupManifest, kv: KeyValueStore) -> None:
    """Write the backup's records into the empty store `kv` (unsynced batches, one synced at the end).

    The caller checks the files first (`verify_backup_files`) and the result
    afterwards (`verify_restored_store`), and discards `kv` if either fails.
    """
    batch = WriteBatch()
    pending_bytes = 0
    for key, value in iterate_backup_records(directory, manifest):
        batch.put(key, value)
        pending_bytes += len(key) + len(value)
        if pending_bytes >= RESTORE_BATCH_BYTES:
            kv.write(batch, sync=False)
            batch = WriteBatch()
            pending_bytes = 0
    batch.put(META_FORMAT, STORE_FORMAT)  # the same value: makes the last batch non-empty, so the sync happens
    kv.write(batch, sync=True)


def verify_restored_store(kv: KeyValueStore, suite: CryptoSuite, manifest: BackupManifest) -> None:
    """Check a restored store against the chain; BackupError saying what does not hold.

    The tip is the manifest's; every header from 0 to the tip links to its
    parent by hash, block 0's parent being the genesis hash; each block's
    hash index points at its height; the state tree's stored root at the tip
    is the tip header's state root; the tree's every chunk verifies
    against that root; and the flat state the executor reads holds exactly
    the tree's entries (streamed chunk by chunk: bounded memory).
    """
    raw_tip = kv.get(META_TIP)
    if raw_tip is None:
        raise BackupError("the restored store has no tip: the backup is damaged")
    try:
        height, block_hash = _decode_tip(raw_tip)
    except CodecError as error:
        raise BackupError(f"the restored store's tip is damaged: {error}") from error
    if (height, block_hash) != (manifest.height, manifest.block_hash):
        raise BackupError(
            f"the backup's store ends at height {height}, its manifest says {manifest.height}: one of them was altered"
        )
    if kv.get(META_CHAIN_ID) != manifest.chain_id.encode() or kv.get(META_GENESIS_HASH) != manifest.genesis_hash:
        raise BackupError("the backup's store belongs to another chain than its manifest says: it was altered")
    expected_parent = manifest.genesis_hash
    header = None
    for expected_height, (key, raw) in enumerate(kv.iterate(PREFIX_HEADER)):
        try:
            header = decode_header(raw)
        except CodecError as error:
            raise BackupError(f"the backup holds a damaged header: {error}") from error
        if key != PREFIX_HEADER + expected_height.to_bytes(8, "big") or header.height != expected_height:
            raise BackupError(f"the backup's headers skip or repeat height {expected_height}: it is damaged")
        if header.chain_id != manifest.chain_id or header.parent_hash != expected_parent:
            raise BackupError(f"header {expected_height} does not link to its parent: the backup is not of this chain")
        expected_parent = compute_block_hash(suite, header)
        if kv.get(PREFIX_BLOCK_HASH + expected_parent) != expected_height.to_bytes(8, "big"):
            raise BackupError(f"block {expected_height}'s hash index is missing or wrong: the backup is damaged")
    if header is None or header.height != height or expected_parent != block_hash:
        raise BackupError(f"the backup's headers do not end at its tip {height}: it is damaged")
    if header.state_root != manifest.state_root:
        raise BackupError("the tip header's state root is not the manifest's: one of them was altered")
    try:
        root = get_tree_root(kv, suite, height)
    except (NotFoundError, CodecError) as error:
        raise BackupError(f"the backup lacks the state tree at its tip {height}: {error}") from error
    if root != header.state_root:
        raise BackupError(
            f"the state tree in the backup has root {root.hex()[:16]} at height {height}, but the header commits to "
            f"{header.state_root.hex()[:16]}: the state is damaged or altered"
        )
    # The tree, chunk by chunk against the header's root (each chunk's entries and siblings hash to it, and the
    # plan covers the key space), and each tree entry equal to the flat state the executor reads: bounded memory
    # however large the state, where recomputing the root from the flat state would hold all of it at once.
    tree_entries = 0
    try:
        for path, _ in compute_snapshot_plan(kv, height):
            chunk = get_snapshot_chunk(kv, suite, height, path)
            validate_snapshot_chunk(suite, header.state_root, chunk)
            for entry in chunk.entries:
                if kv.get(PREFIX_STATE + entry.key) != entry.value:
                    raise BackupError(
                        f"the backup's flat state disagrees with its state tree at key {entry.key.hex()[:32]}: "
                        "the state is damaged or altered"
                    )
            tree_entries += len(chunk.entries)
    except (NotFoundError, CodecError, StorageError, InvalidStateProofError) as error:
        raise BackupError(f"the state tree in the backup is damaged at height {height}: {error}") from error
    flat_entries = sum(1 for _ in kv.iterate(PREFIX_STATE))
    if flat_entries != tree_entries:
        raise BackupError(
            f"the backup's flat state has {flat_entries} entries but its state tree {tree_entries}: "
            "the state is damaged or altered"
        )
