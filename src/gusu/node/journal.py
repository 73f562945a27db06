"""Fsynced record logs: the transaction journal (and the consensus WAL to come).

The transaction journal: acknowledged transactions survive a crash.

The mempool lives in memory. Without a journal, `kill -9` (or a power cut)
would silently lose every transaction the node had acknowledged but not yet
committed. So before the node answers "accepted", it appends the admitted
transactions to this file and fsyncs it; on restart it replays the file
into the pool (skipping what committed meanwhile or expired) and compacts it.

Format: a sequence of records, each ``length (4 bytes, big-endian) ||
crc32 (4 bytes) || raw transaction``. A crash can leave a torn last record;
reading stops at a torn tail, which can only hold records that were never
acknowledged, and refuses a file damaged anywhere else (`read_records`).

Compaction rewrites the file with the pool's current contents to a
temporary file, fsyncs it and renames it over the journal, so the journal is
always either the old or the new file.

The BFT engine's write-ahead log (last signed height, round and step, and
the lock) has the same needs, append, fsync, replay, truncate at each new
height, and uses the same `RecordLog`.
"""

from __future__ import annotations

import asyncio
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from pathlib import Path

from gusu.errors import StorageError

HEADER = struct.Struct(">II")
RECORD_BYTES_MAX = 16 * 1024 * 1024


def frame_record(raw: bytes) -> bytes:
    """One record as it stands in a log: length, CRC-32, bytes."""
    return HEADER.pack(len(raw), zlib.crc32(raw)) + raw


def read_records(path: Path, what: str = "record log") -> list[bytes]:
    """Every record, in order. A torn tail (what a crash during an append leaves) is ignored;
    damage before the tail raises StorageError, since a crash cannot cause it.

    The tail counts as torn when the first bad record is the last thing in the file (its frame
    runs past the end, or ends exactly at it) or everything from it on is zero bytes (a file
    extended by the append whose data never reached the disk). Anything else, a bad record with
    more data after it, is a disk fault or tampering: reading on past it, or stopping there and
    dropping the rest, would silently lose records that were acknowledged (journal) or that
    guard against signing twice (WAL), so the node must not start on it.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise StorageError(f"cannot read the {what} {path}: {error}") from error
    records = []
    offset = 0
    while offset < len(data):
        end = _get_record_end(data, offset)
        if end is None:
            if _is_torn_tail(data, offset):
                break
            raise StorageError(
                f"the {what} {path} is damaged at byte {offset} of {len(data)}, before its last record: a crash "
                "only tears the last record, so this is a disk fault or an edit. The node will not start on it. "
                "Restore the file from a backup; moving it aside loses what it records"
            )
        records.append(data[offset + HEADER.size : end])
        offset = end
    return records


def _get_record_end(data: bytes, offset: int) -> int | None:
    """Where the intact, non-empty record at `offset` ends; None if there is none."""
    if offset + HEADER.size > len(data):
        return None
    length, checksum = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    end: int = start + length
    if length == 0 or length > RECORD_BYTES_MAX or end > len(data):
        return None
    if zlib.crc32(data[start:end]) != checksum:
        return None
    return end


def _is_torn_tail(data: bytes, offset: int) -> bool:
    if offset + HEADER.size > len(data):
        return True  # a header cut short
    length, _ = HEADER.unpack_from(data, offset)
    end = offset + HEADER.size + length
    if length <= RECORD_BYTES_MAX and end >= len(data):
        return True  # the last frame, cut short or with its data never written
    return not data[offset:].strip(b"\x00")


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
        assert all(raws), "an empty record would read back as a torn tail"
        payload = b"".join(frame_record(raw) for raw in raws)
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
                    output.write(frame_record(raw))
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


GROUP_RECORDS_MAX = 10_000
"""Records one shared append (one fsync) writes at most; more wait for the next."""


class GroupAppender:
    """Appends to a `RecordLog` from concurrent callers, sharing fsyncs (group commit).

    A client that sends one transaction per request (``eth_sendRawTransaction``, as every Ethereum
    wallet does) would otherwise pay one fsync per transaction, one after another on the journal's
    thread, which caps admissions at one per fsync. Here the appends that arrive while an fsync runs
    are written together by the next one. Each caller still returns only once its own records are
    fsynced, so the durability promise is the log's; a failed write fails every caller of that batch.
    Runs on one event loop; `executor` is the log's one writer thread (compaction shares it).
    """

    def __init__(self, log: RecordLog, executor: Executor) -> None:
        self._log = log
        self._executor = executor
        self._waiting: list[tuple[Sequence[bytes], asyncio.Future[None]]] = []
        self._is_writing = False
        self.appends = 0
        """fsynced appends so far (each may serve several callers)."""

    async def append(self, raws: Sequence[bytes]) -> None:
        """Once this returns `raws` survive a crash; raises what `RecordLog.append` raised."""
        if not raws:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((raws, future))
        if not self._is_writing:
            self._is_writing = True
            asyncio.get_running_loop().create_task(self._write_all())
        await asyncio.shield(future)

    def _take_batch(self) -> list[tuple[Sequence[bytes], asyncio.Future[None]]]:
        batch: list[tuple[Sequence[bytes], asyncio.Future[None]]] = []
        records = 0
        while self._waiting and (not batch or records + len(self._waiting[0][0]) <= GROUP_RECORDS_MAX):
            item = self._waiting.pop(0)
            records += len(item[0])
            batch.append(item)
        return batch

    async def _write_all(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[tuple[Sequence[bytes], asyncio.Future[None]]] = []
        try:
            while self._waiting:
                batch = self._take_batch()
                records = [raw for raws, _ in batch for raw in raws]
                try:
                    await loop.run_in_executor(self._executor, self._log.append, records)
                except Exception as error:  # StorageError: every caller of this batch learns it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                self.appends += 1
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._is_writing = False
            for _, future in batch:  # only when cancelled (the node stops): nothing was promised
                if not future.done():
                    future.cancel()
