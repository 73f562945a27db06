"""Fsynced record logs: the transaction journal (and the consensus WAL to come).

The transaction journal: acknowledged transactions survive a crash.

The mempool lives in memory. Without a journal, `kill -9` (or a power cut)
would silently lose every transaction the node had acknowledged but not yet
committed. So before the node answers "accepted", it appends the admitted
transactions to this file and fsyncs it; on restart it replays the file
into the pool (skipping what committed meanwhile or expired) and compacts it.

Format: a sequence of records, each ``length (4 bytes, big-endian) ||
crc32 (4 bytes) || raw transaction``. A crash can leave a torn last record;
reading stops at the first record whose length or checksum does not hold,
which can only be one that was never acknowledged.

Compaction rewrites the file with the pool's current contents to a
temporary file, fsyncs it and renames it over the journal, so the journal is
always either the old or the new file.

The BFT engine's write-ahead log (last signed height, round and step, and
the lock) has the same needs, append, fsync, replay, truncate at each new
height, and uses the same `RecordLog`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from gusu.errors import StorageError

HEADER = struct.Struct(">II")
RECORD_BYTES_MAX = 16 * 1024 * 1024


def _frame(raw: bytes) -> bytes:
    return HEADER.pack(len(raw), zlib.crc32(raw)) + raw


def read_records(path: Path) -> list[bytes]:
    """Every intact record, in order; a torn or corrupt tail is ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise StorageError(f"cannot read the transaction journal {path}: {error}") from error
    records = []
    offset = 0
    while offset + HEADER.size <= len(data):
        length, checksum = HEADER.unpack_from(data, offset)
        start = offset + HEADER.size
        end = start + length
        if length > RECORD_BYTES_MAX or end > len(data):
            break
        raw = data[start:end]
        if zlib.crc32(raw) != checksum:
            break
        records.append(raw)
        offset = end
    return records


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class RecordLog:
    """Append-only, fsynced log of records. One writer at a time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file = path.open("ab")
        self._size_bytes = self._file.tell()

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    def append(self, raws: Sequence[bytes]) -> None:
        """Append and fsync: once this returns the transactions survive a crash."""
        if not raws:
            return
        payload = b"".join(_frame(raw) for raw in raws)
        try:
            self._file.write(payload)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as error:
            raise StorageError(f"cannot write the transaction journal {self._path}: {error}") from error
        self._size_bytes += len(payload)

    def compact(self, pending: Iterable[bytes]) -> None:
        """Replace the log's contents with exactly `pending` (for the journal: the pool's transactions)."""
        records = list(pending)
        if not records and self._size_bytes == 0:
            return  # already empty: spare the fsyncs (most heights, for the proposal-body log)
        temporary = self._path.with_name(self._path.name + ".tmp")
        try:
            with temporary.open("wb") as output:
                for raw in records:
                    output.write(_frame(raw))
                output.flush()
                os.fsync(output.fileno())
            self._file.close()
            os.replace(temporary, self._path)
            _fsync_directory(self._path.parent)
        except OSError as error:
            raise StorageError(f"cannot compact the transaction journal {self._path}: {error}") from error
        finally:
            if self._file.closed:
                self._file = self._path.open("ab")
                self._size_bytes = self._file.tell()

    def close(self) -> None:
        self._file.close()
