"""State sync on disk: the chosen snapshot and its verified chunks, staged so a crash resumes; then the install.

Staging directory (`<data>/statesync/`):

    target.bin            ["gusu.sstarget.v1", header, certificate, plan hash, [path, ...]]
    chunk-<index>.bin     a verified chunk's encoding, as the peer sent it

Each file is written to a temporary name, fsynced and renamed (then the
directory fsynced), so after a crash a file is whole or absent. On a
restart the staged chunks are checked again against the target's state
root (a damaged file is deleted and fetched again) and only the missing
ones are asked for.

`install_snapshot` turns the staged chunks into the store's state at the
snapshot height: the flat state (`s` keys) and the tree version of that
height, built from the entries and checked against the header's state
root, written in bounded batches, then the block itself as the store's base
(`BlockStore.commit_base`, one synced batch). Until that last batch the
store has no tip, so a crash during the install runs it again from the
staged chunks; its writes are the same keys with the same values.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from gusu.codec import Value, decode_list, encode, expect_bytes, expect_list
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, InvalidStateProofError, StorageError
from gusu.ledger.kv import WriteBatch
from gusu.ledger.pruning import META_BODIES_KEPT_FROM, META_STATE_KEPT_FROM
from gusu.ledger.smt import apply_tree_updates
from gusu.ledger.snapshot import SnapshotEntry, decode_snapshot_chunk, validate_snapshot_chunk
from gusu.ledger.store import PREFIX_STATE, BlockStore
from gusu.ledger.types import (
    HASH_SIZE,
    Hash,
    compute_block_hash,
    decode_commit_certificate,
    decode_header,
    encode_commit_certificate,
    encode_header,
)
from gusu.node.statesync import SNAPSHOT_CHUNKS_MAX, SnapshotTarget, StateSyncProgress

STAGING_DIRECTORY_NAME = "statesync"
PROGRESS_FILE_NAME = "statesync-progress.json"
"""In the data directory while a join by state sync runs: what `gusu node status` shows before the API is up."""
TARGET_FILE_NAME = "target.bin"
TAG_TARGET = "gusu.sstarget.v1"
INSTALL_BATCH_KEYS = 20_000
"""Keys per write batch of the install: bounded memory in the engine, and progress a crash does not lose."""


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    descriptor = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _chunk_path(directory: Path, index: int) -> Path:
    return directory / f"chunk-{index:08d}.bin"


class StateSyncStage:
    """The staging directory of one node (see the module docstring). Used from one thread at a time."""

    def __init__(self, directory: Path, suite: CryptoSuite) -> None:
        self._directory = directory
        self._suite = suite

    @property
    def directory(self) -> Path:
        return self._directory

    def save_target(self, target: SnapshotTarget) -> None:
        """Stage a new target, dropping any chunks of another one."""
        self.clear()
        self._directory.mkdir(parents=True, exist_ok=True)
        paths: list[Value] = list(target.paths)
        record = encode(
            [
                TAG_TARGET,
                encode_header(target.header),
                encode_commit_certificate(target.certificate),
                target.plan_hash,
                paths,
            ]
        )
        _write_atomically(self._directory / TARGET_FILE_NAME, record)

    def save_chunk(self, index: int, data: bytes) -> None:
        _write_atomically(_chunk_path(self._directory, index), data)

    def clear(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)

    def load(self) -> tuple[SnapshotTarget, frozenset[int]] | None:
        """The staged target and the indexes of its staged chunks that verify, or None (nothing usable staged)."""
        try:
            raw = (self._directory / TARGET_FILE_NAME).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot read the state-sync staging file: {error}") from error
        try:
            fields = decode_list(raw, TAG_TARGET, 5)
            header = decode_header(expect_bytes(fields[1], "staged header"))
            certificate = decode_commit_certificate(expect_bytes(fields[2], "staged certificate"))
            plan_hash = Hash(expect_bytes(fields[3], "staged plan hash", size=HASH_SIZE))
            paths = tuple(
                expect_bytes(path, "staged path") for path in expect_list(fields[4], "staged plan", SNAPSHOT_CHUNKS_MAX)
            )
        except CodecError:
            self.clear()  # only ever our own write; a damaged one is started over
            return None
        target = SnapshotTarget(header, compute_block_hash(self._suite, header), certificate, plan_hash, paths)
        done: set[int] = set()
        for index in range(len(paths)):
            path = _chunk_path(self._directory, index)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            try:
                chunk = decode_snapshot_chunk(data)
                if chunk.path != paths[index]:
                    raise InvalidStateProofError("a staged chunk of another path")
                validate_snapshot_chunk(self._suite, header.state_root, chunk)
            except (CodecError, InvalidStateProofError):
                path.unlink(missing_ok=True)  # damaged on disk: fetch it again
                continue
            done.add(index)
        return target, frozenset(done)

    def iterate_entries(self, target: SnapshotTarget) -> Iterator[SnapshotEntry]:
        """Every staged entry, chunk by chunk in plan order (each chunk was verified when staged)."""
        for index in range(len(target.paths)):
            try:
                data = _chunk_path(self._directory, index).read_bytes()
            except OSError as error:
                raise StorageError(f"staged chunk {index} of the state sync is unreadable: {error}") from error
            yield from decode_snapshot_chunk(data).entries


def install_snapshot(store: BlockStore, stage: StateSyncStage, target: SnapshotTarget) -> int:
    """Write the staged snapshot into the empty `store` and make its block the base; the number of entries.

    StorageError if the entries do not make the certified state root (they were each verified, so only a
    damaged staging directory can do that; it is cleared and the sync starts over at the next start).
    """
    kv = store.kv
    height = target.height
    writes: dict[bytes, bytes | None] = {}
    batch = WriteBatch()
    for entry in stage.iterate_entries(target):
        writes[entry.key] = entry.value
        batch.put(PREFIX_STATE + entry.key, entry.value)
        if len(batch) >= INSTALL_BATCH_KEYS:
            kv.write(batch, sync=False)
            batch = WriteBatch()
    update = apply_tree_updates(kv, store.suite, height, None, writes)
    if update.root != target.header.state_root:
        stage.clear()
        raise StorageError(
            f"the staged snapshot of height {height} does not make its certified state root; the staging "
            "directory was cleared: start the node again to sync afresh"
        )
    del writes
    for key, value in update.nodes.items():
        batch.put(key, value)
        if len(batch) >= INSTALL_BATCH_KEYS:
            kv.write(batch, sync=False)
            batch = WriteBatch()
    kv.write(batch, sync=True)  # everything above is durable before the base names it
    store.forget_cached_state()  # its state keys were written past the store's cache
    # Versions below the base never existed here, and the base block's body is not stored: the pruning marks
    # start at the base, so pruning and archiving begin from it.
    marks = {META_STATE_KEPT_FROM: height, META_BODIES_KEPT_FROM: height + 1}
    store.commit_base(target.header, target.block_hash, target.certificate, marks)
    return len(update.nodes)


def write_progress(data_path: Path, progress: StateSyncProgress) -> None:
    """Record how far the join is (atomically; not fsynced: it is only a display)."""
    document = {
        "phase": progress.phase,
        "height": progress.height,
        "chunks_total": progress.chunks_total,
        "chunks_done": progress.chunks_done,
        "peers_dropped": progress.peers_dropped,
        "error": progress.error,
    }
    temporary = data_path / (PROGRESS_FILE_NAME + ".tmp")
    temporary.write_text(json.dumps(document), encoding="utf-8")
    os.replace(temporary, data_path / PROGRESS_FILE_NAME)


def read_progress(data_path: Path) -> dict[str, object] | None:
    """The last progress a joining node recorded, or None (not joining, or not yet)."""
    try:
        document = json.loads((data_path / PROGRESS_FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def remove_progress(data_path: Path) -> None:
    (data_path / PROGRESS_FILE_NAME).unlink(missing_ok=True)
