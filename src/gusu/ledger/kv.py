"""Embedded key-value storage under the ledger.

Everything the node persists (blocks, receipts, indexes, contract state) goes
through `KeyValueStore`: point reads, ordered prefix iteration and atomic,
durable write batches.  One block is committed as one `WriteBatch`, so a crash
leaves the ledger either before or after that block, never in between.

Backends:

* ``rocksdb`` (rocksdict) -- the default; see docs/storage.md for the numbers
  and reasons behind that choice.
* ``leveldb`` (plyvel) and ``lmdb`` (lmdb) -- supported alternatives.
* ``memory`` -- a dict with sorted iteration, for tests; nothing is persisted.

On disk a store is a directory holding ``gusu.lock`` and one sub-directory
named after the backend that created it, so a store cannot be opened with the
wrong engine by mistake.  The lock file is held with ``flock`` for as long as
the store is open, which keeps a second node process (or a second
`open_store` in the same process) from sharing the files; LMDB in particular
would otherwise allow that silently.
"""

from __future__ import annotations

import bisect
import errno
import fcntl
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from gusu.errors import GusuError, StorageError

if TYPE_CHECKING:
    import lmdb

__all__ = [
    "BACKEND_NAMES",
    "DEFAULT_BACKEND",
    "DISK_BACKENDS",
    "LOCK_FILE_NAME",
    "MAX_KEY_BYTES",
    "KeyValueStore",
    "MemoryStore",
    "StoreSettings",
    "WriteBatch",
    "open_store",
]

BACKEND_NAMES: tuple[str, ...] = ("rocksdb", "leveldb", "lmdb", "memory")
DISK_BACKENDS: tuple[str, ...] = ("rocksdb", "leveldb", "lmdb")

# Chosen by measurement and robustness; docs/storage.md records why.
DEFAULT_BACKEND: str = "rocksdb"

# LMDB cannot store longer keys.  The limit applies to every backend so that a
# ledger written with one engine can always be copied into another.
MAX_KEY_BYTES = 511

LOCK_FILE_NAME = "gusu.lock"

_MIB = 1 << 20
_GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Tuning of the on-disk engines; the defaults fit a 2-core, 4+ GiB node."""

    # RocksDB and LevelDB: caches of uncompressed blocks, kept in memory.
    block_cache_bytes: int = 256 * _MIB
    # Memtable size: larger means fewer, bigger flushes and less compaction.
    write_buffer_bytes: int = 64 * _MIB
    # Bloom filters spare a disk read for most lookups of absent keys.
    bloom_bits_per_key: int = 10
    # Share of the RocksDB memtable spent on a bloom filter of its keys: most
    # reads miss the memtable, and the filter makes those misses cheap (+35%
    # random reads/s on a freshly loaded 1M-key store, in a side experiment).
    rocksdb_memtable_bloom_ratio: float = 0.1
    # Kept well under the usual 1024 descriptor limit of a process.
    max_open_files: int = 512
    # RocksDB flushes and compactions; one per core of the reference machine.
    rocksdb_background_jobs: int = 2
    # RocksDB's informational LOG files otherwise pile up (1000 by default).
    rocksdb_info_logs_kept: int = 5
    rocksdb_info_log_bytes: int = 16 * _MIB
    # LMDB reserves this much address space up front; the file grows as
    # needed.  A full map stops writes until the setting is raised.
    lmdb_map_size_bytes: int = 1024 * _GIB
    # Concurrent LMDB read transactions (open iterators count).
    lmdb_max_readers: int = 126


def _prefix_end(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with `prefix`.

    None means no such key exists (empty prefix, or only 0xff bytes): the
    prefix range runs to the end of the key space.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def _range_end(prefix: bytes, end: bytes | None) -> bytes | None:
    """Exclusive upper bound of the keys `iterate(prefix, end=end)` yields; None: no bound."""
    prefix_end = _prefix_end(prefix)
    if end is None:
        return prefix_end
    assert isinstance(end, bytes), f"end bounds are bytes, not {type(end).__name__}"
    return end if prefix_end is None else min(end, prefix_end)


def _is_empty_range(prefix: bytes, end: bytes | None) -> bool:
    # Every key under `prefix` is at least `prefix`, so an end at or below it leaves nothing.
    return end is not None and end <= prefix


def _check_key(key: bytes) -> None:
    assert isinstance(key, bytes), f"keys are bytes, not {type(key).__name__}"
    if not 0 < len(key) <= MAX_KEY_BYTES:
        raise StorageError(
            f"a key of {len(key)} bytes cannot be stored; keys must be 1 to "
            f"{MAX_KEY_BYTES} bytes, so hash long identifiers into the key"
        )


@dataclass(slots=True)
class WriteBatch:
    """Puts and deletes applied together by `KeyValueStore.write`.

    A later operation on a key replaces an earlier one in the same batch, so
    the batch holds at most one operation per key and `len()` counts keys.
    """

    # None marks a delete.  Kept private so backends alone decide the order in
    # which operations reach the engine.
    _ops: dict[bytes, bytes | None] = field(default_factory=dict, init=False, repr=False)

    def put(self, key: bytes, value: bytes) -> None:
        _check_key(key)
        assert isinstance(value, bytes), f"values are bytes, not {type(value).__name__}"
        self._ops[key] = value

    def delete(self, key: bytes) -> None:
        _check_key(key)
        self._ops[key] = None

    def __len__(self) -> int:
        return len(self._ops)


class KeyValueStore(ABC):
    """An ordered byte-string map with atomic batched writes.

    Methods may be called from several threads at once, but not concurrently
    with `close`.  Using a closed store raises `StorageError`.
    """

    @abstractmethod
    def get(self, key: bytes) -> bytes | None:
        """The value stored under `key`, or None."""

    @abstractmethod
    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        """Apply every operation of `batch`, or none of them.

        With `sync` the batch is on stable storage when this returns; without
        it a process crash still cannot lose it, but an OS crash or power
        loss may drop the latest batches (never part of one).  An empty
        batch writes nothing and syncs nothing.
        """

    @abstractmethod
    def iterate(
        self, prefix: bytes, *, reverse: bool = False, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs whose key starts with `prefix`, ordered by key.

        With `end`, only keys below it (exclusive) are yielded.  A reverse
        iteration then starts with one seek to just below `end` rather than
        walking down from the end of the prefix, which is what lets callers
        page through a long range ("the next 50 entries older than X")
        without reading the entries they have already seen.

        The pairs come from a snapshot taken when `iterate` is called: writes
        made while iterating are not seen.  Stop early by dropping or closing
        the iterator; an abandoned LMDB iterator pins old pages until then.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the files and the lock; calling it again does nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --- memory ------------------------------------------------------------------


class MemoryStore(KeyValueStore):
    """Dict-backed store for tests: same semantics, nothing persisted."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        # Sorted copy of the keys so prefix ranges are two bisections away.
        self._keys: list[bytes] = []
        self._lock = threading.Lock()
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the memory store is closed; open a new one with open_store()")

    def get(self, key: bytes) -> bytes | None:
        assert isinstance(key, bytes), f"keys are bytes, not {type(key).__name__}"
        self._check_open()
        return self._data.get(key)

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self._check_open()
        with self._lock:
            for key, value in batch._ops.items():
                if value is None:
                    if self._data.pop(key, None) is not None:
                        del self._keys[bisect.bisect_left(self._keys, key)]
                else:
                    if key not in self._data:
                        bisect.insort(self._keys, key)
                    self._data[key] = value

    def iterate(
        self, prefix: bytes, *, reverse: bool = False, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        assert isinstance(prefix, bytes), f"prefixes are bytes, not {type(prefix).__name__}"
        self._check_open()
        if _is_empty_range(prefix, end):
            return iter(())
        upper = _range_end(prefix, end)
        with self._lock:
            low = bisect.bisect_left(self._keys, prefix)
            high = len(self._keys) if upper is None else bisect.bisect_left(self._keys, upper)
            pairs = [(key, self._data[key]) for key in self._keys[low:high]]
        if reverse:
            pairs.reverse()
        return iter(pairs)

    def close(self) -> None:
        self._closed = True


# --- shared by the disk backends -------------------------------------------------


def _in_use_error(path: Path) -> StorageError:
    return StorageError(f"another gusu node is using {path}; stop it first")


def _lock_directory(path: Path) -> int:
    """Open and flock the store's lock file; return its descriptor.

    flock (not fcntl's record locks) because it also refuses a second open
    from inside the same process, and is dropped by the kernel when the
    holder dies, so a killed node never leaves a stale lock behind.
    """
    lock_path = path / LOCK_FILE_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StorageError(
            f"cannot open the lock file {lock_path}: {exc.strerror}; check that the directory is writable by this user"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise _in_use_error(path) from exc
        raise StorageError(
            f"cannot lock {lock_path}: {exc.strerror}; keep the ledger on a local file system that supports flock"
        ) from exc
    return fd


def _fsync_directory(path: Path) -> None:
    # A new file is only durable once the directory entry naming it is.
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prepare_directory(path: Path, backend: str) -> Path:
    """Create the store directory; return the engine's sub-directory."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise StorageError(f"{path} exists and is not a directory; give the store a directory path") from exc
    except OSError as exc:
        raise StorageError(
            f"cannot create the store directory {path}: {exc.strerror}; check the path and its permissions"
        ) from exc
    return path / backend


def _check_engine(path: Path, backend: str) -> None:
    for other in DISK_BACKENDS:
        if other != backend and (path / other).exists():
            raise StorageError(
                f"{path} holds a {other} store, not {backend}; open it with "
                f"backend={other!r}, or pick an empty directory for a new store"
            )


class _DiskStore(KeyValueStore):
    """Closing, locking and error translation common to the real engines."""

    backend = ""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self._path = path
        self._lock_fd: int | None = lock_fd
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"the {self.backend} store at {self._path} is closed; open it again with open_store()")

    @contextmanager
    def _engine_errors(self, action: str) -> Iterator[None]:
        """Turn the engine's own exceptions into StorageError."""
        try:
            yield
        except (GusuError, AssertionError):
            raise
        except Exception as exc:
            raise self._translate(exc, action) from exc

    def _translate(self, exc: Exception, action: str) -> StorageError:
        return StorageError(
            f"the {self.backend} store at {self._path} failed to {action}: {exc}; "
            "check free disk space and the disk's health, then restart the node"
        )

    def _iterate_checked(
        self, pairs: Iterator[tuple[bytes, bytes]], cleanup: Callable[[], None] | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield from an engine iterator, refusing to go on after close()."""
        try:
            with self._engine_errors("iterate"):
                for pair in pairs:
                    # Engine iterators must not outlive the engine handle.
                    if self._closed:
                        self._check_open()
                    yield pair
        finally:
            if cleanup is not None and not self._closed:
                cleanup()

    @abstractmethod
    def _close_engine(self) -> None: ...

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._close_engine()
        finally:
            # Unlock only after the engine has released its files.
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


# --- rocksdb -------------------------------------------------------------------


class _RocksStore(_DiskStore):
    backend = "rocksdb"

    def __init__(self, path: Path, lock_fd: int, settings: StoreSettings) -> None:
        super().__init__(path, lock_fd)
        import rocksdict

        self._rocksdict = rocksdict
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_background_jobs(settings.rocksdb_background_jobs)
        options.set_max_open_files(settings.max_open_files)
        options.set_write_buffer_size(settings.write_buffer_bytes)
        options.set_keep_log_file_num(settings.rocksdb_info_logs_kept)
        options.set_max_log_file_size(settings.rocksdb_info_log_bytes)
        # LZ4 on every level: zstd on the bottom level saved no space on the
        # benchmark's hash-like data and its compactions compete for the
        # node's two cores.
        options.set_compression_type(rocksdict.DBCompressionType.lz4())
        # After a crash, replay the log up to the last intact batch and drop
        # the torn tail: exactly "every acknowledged batch, none half-done".
        options.set_wal_recovery_mode(rocksdict.DBRecoveryMode.point_in_time())
        options.set_memtable_whole_key_filtering(True)
        options.set_memtable_prefix_bloom_ratio(settings.rocksdb_memtable_bloom_ratio)
        table = rocksdict.BlockBasedOptions()
        table.set_block_cache(rocksdict.Cache(settings.block_cache_bytes))
        table.set_bloom_filter(settings.bloom_bits_per_key, False)
        options.set_block_based_table_factory(table)
        try:
            # Naming the default column family matters: on reopen rocksdict
            # otherwise reloads the table options from the OPTIONS file,
            # which keeps no block cache or bloom filter, and silently runs
            # with an 8 MiB cache (reads got ten times slower).
            self._db = rocksdict.Rdict(str(path / self.backend), options, column_families={"default": options})
        except Exception as exc:
            if "lock" in str(exc).lower():
                raise _in_use_error(path) from exc
            raise StorageError(
                f"cannot open the rocksdb store at {path}: {exc}; if the files are "
                "damaged, restore the directory from a backup or resync the node"
            ) from exc
        self._async_options = rocksdict.WriteOptions()
        self._async_options.sync = False

    def get(self, key: bytes) -> bytes | None:
        assert isinstance(key, bytes), f"keys are bytes, not {type(key).__name__}"
        if self._closed:
            self._check_open()
        # Plain try rather than _engine_errors: point reads are the hot path
        # and a generator-based context manager would double their cost.
        try:
            value: bytes | None = self._db.get(key)
        except Exception as exc:
            raise self._translate(exc, "read") from exc
        return value

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self._check_open()
        if not batch._ops:
            return
        engine_batch = self._rocksdict.WriteBatch(raw_mode=True)
        for key, value in batch._ops.items():
            if value is None:
                engine_batch.delete(key)
            else:
                engine_batch.put(key, value)
        with self._engine_errors("write"):
            # rocksdict holds the GIL for all of `write`, fsync included (measured: a 4 ms synced write stops
            # every other thread for 4 ms), but not for `flush_wal`. So the batch goes to the log unsynced and
            # the log is synced after, with the GIL released: as durable when this returns (RocksDB's FlushWAL
            # with sync), and the node's event loop keeps serving while the disk syncs.
            self._db.write(engine_batch, self._async_options)
            if sync:
                self._db.flush_wal(True)

    def iterate(
        self, prefix: bytes, *, reverse: bool = False, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        assert isinstance(prefix, bytes), f"prefixes are bytes, not {type(prefix).__name__}"
        self._check_open()
        if _is_empty_range(prefix, end):
            return iter(())
        # rocksdict's iterate bounds do not round-trip raw keys, so the range
        # is enforced here: seek to one end, stop at the first foreign key.
        upper = _range_end(prefix, end)
        with self._engine_errors("iterate"):
            if not reverse:
                items = self._db.items(from_key=prefix if prefix else None)
                pairs = _within_prefix(items, prefix, None, upper)
            else:
                items = self._db.items(backwards=True, from_key=upper)
                pairs = _within_prefix(items, prefix, upper)
        return self._iterate_checked(pairs)

    def _close_engine(self) -> None:
        self._db.close()


def _within_prefix(
    items: Iterable[Any], prefix: bytes, skip: bytes | None, stop: bytes | None = None
) -> Iterator[tuple[bytes, bytes]]:
    """Pairs of `items` up to the first key outside `prefix` or at or past `stop`."""
    for key, value in items:
        if key == skip:
            # A reverse seek lands on the range's end key itself when it exists.
            continue
        if not key.startswith(prefix) or (stop is not None and key >= stop):
            return
        yield key, value


# --- leveldb -------------------------------------------------------------------


class _LevelStore(_DiskStore):
    backend = "leveldb"

    def __init__(self, path: Path, lock_fd: int, settings: StoreSettings) -> None:
        super().__init__(path, lock_fd)
        import plyvel

        self._plyvel: Any = plyvel
        try:
            self._db: Any = plyvel.DB(
                str(path / self.backend),
                create_if_missing=True,
                write_buffer_size=settings.write_buffer_bytes,
                max_open_files=settings.max_open_files,
                lru_cache_size=settings.block_cache_bytes,
                bloom_filter_bits=settings.bloom_bits_per_key,
            )
        except plyvel.Error as exc:
            if "lock" in str(exc).lower():
                raise _in_use_error(path) from exc
            raise StorageError(
                f"cannot open the leveldb store at {path}: {exc}; if the files are "
                "damaged, restore the directory from a backup or resync the node"
            ) from exc

    def get(self, key: bytes) -> bytes | None:
        assert isinstance(key, bytes), f"keys are bytes, not {type(key).__name__}"
        if self._closed:
            self._check_open()
        # Plain try rather than _engine_errors: point reads are the hot path
        # and a generator-based context manager would double their cost.
        try:
            value: bytes | None = self._db.get(key)
        except Exception as exc:
            raise self._translate(exc, "read") from exc
        return value

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self._check_open()
        if not batch._ops:
            return
        with self._engine_errors("write"):
            engine_batch = self._db.write_batch(sync=sync)
            for key, value in batch._ops.items():
                if value is None:
                    engine_batch.delete(key)
                else:
                    engine_batch.put(key, value)
            engine_batch.write()

    def iterate(
        self, prefix: bytes, *, reverse: bool = False, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        assert isinstance(prefix, bytes), f"prefixes are bytes, not {type(prefix).__name__}"
        self._check_open()
        if _is_empty_range(prefix, end):
            return iter(())
        upper = _range_end(prefix, end)
        with self._engine_errors("iterate"):
            if not reverse:
                pairs: Iterator[tuple[bytes, bytes]] = self._db.iterator(start=prefix if prefix else None, stop=upper)
            else:
                # plyvel 1.5's reverse iterator(start=, stop=) yields nothing
                # when the range holds one key and the stop key exists, so the
                # backward walk is done here on a raw iterator.
                raw = self._db.raw_iterator()
                if upper is not None:
                    raw.seek(upper)
                if upper is not None and raw.valid():
                    raw.prev()
                else:
                    raw.seek_to_last()
                pairs = _within_prefix(_leveldb_backwards(raw), prefix, None)
        return self._iterate_checked(pairs)

    def _close_engine(self) -> None:
        self._db.close()


def _leveldb_backwards(raw: Any) -> Iterator[tuple[bytes, bytes]]:
    while raw.valid():
        yield raw.key(), raw.value()
        raw.prev()


# --- lmdb ------------------------------------------------------------------------


class _LmdbStore(_DiskStore):
    """LMDB: one copy-on-write B+tree in a memory map.

    Every commit is synced (``sync=False`` has no effect): LMDB's no-sync
    mode can corrupt the whole file on power loss, not just drop the newest
    commits, which is a worse trade than the other engines offer.
    """

    backend = "lmdb"

    def __init__(self, path: Path, lock_fd: int, settings: StoreSettings) -> None:
        super().__init__(path, lock_fd)
        import lmdb

        self._lmdb = lmdb
        self._map_size = settings.lmdb_map_size_bytes
        try:
            self._env: lmdb.Environment = lmdb.open(
                str(path / self.backend),
                map_size=settings.lmdb_map_size_bytes,
                max_readers=settings.lmdb_max_readers,
                max_dbs=0,
                sync=True,
                metasync=True,
                # Read-ahead only wastes page cache on random point reads.
                readahead=False,
            )
        except lmdb.Error as exc:
            raise StorageError(
                f"cannot open the lmdb store at {path}: {exc}; if the files are "
                "damaged, restore the directory from a backup or resync the node"
            ) from exc

    def _translate(self, exc: Exception, action: str) -> StorageError:
        if isinstance(exc, self._lmdb.MapFullError):
            return StorageError(
                f"the lmdb store at {self._path} filled its map of {self._map_size} "
                "bytes; raise StoreSettings.lmdb_map_size_bytes and restart the node"
            )
        if isinstance(exc, self._lmdb.ReadersFullError):
            return StorageError(
                f"the lmdb store at {self._path} has too many open readers; close "
                "unused iterators or raise StoreSettings.lmdb_max_readers"
            )
        return super()._translate(exc, action)

    def get(self, key: bytes) -> bytes | None:
        assert isinstance(key, bytes), f"keys are bytes, not {type(key).__name__}"
        if self._closed:
            self._check_open()
        if not 0 < len(key) <= MAX_KEY_BYTES:
            # LMDB rejects such keys outright; none can be stored anyway.
            return None
        try:
            with self._env.begin() as txn:
                value = txn.get(key)
        except Exception as exc:
            raise self._translate(exc, "read") from exc
        assert value is None or isinstance(value, bytes)
        return value

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self._check_open()
        if not batch._ops:
            return
        # Sorted keys keep consecutive B+tree updates on neighbouring pages.
        keys = sorted(batch._ops)
        puts = [(key, value) for key in keys if (value := batch._ops[key]) is not None]
        with self._engine_errors("write"), self._env.begin(write=True) as txn:
            if puts:
                txn.cursor().putmulti(puts)
            for key in keys:
                if batch._ops[key] is None:
                    txn.delete(key)

    def iterate(
        self, prefix: bytes, *, reverse: bool = False, end: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        assert isinstance(prefix, bytes), f"prefixes are bytes, not {type(prefix).__name__}"
        self._check_open()
        if _is_empty_range(prefix, end):
            return iter(())
        with self._engine_errors("iterate"):
            txn = self._env.begin()
            try:
                pairs = self._position(txn.cursor(), prefix, reverse, _range_end(prefix, end))
            except BaseException:
                txn.abort()
                raise
        return self._iterate_checked(pairs, txn.abort)

    @staticmethod
    def _position(
        cursor: lmdb.Cursor, prefix: bytes, reverse: bool, upper: bytes | None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Place the cursor on the first pair to yield; iterate from there.

        `upper` is the exclusive end of the range (`_range_end`), None for
        the end of the key space.
        """
        if not reverse:
            # An unpositioned cursor would start from the first key, so an
            # empty range must be answered here rather than by the cursor.
            found = cursor.set_range(prefix) if prefix else cursor.first()
            if not found:
                return iter(())
            return _within_prefix(cursor.iternext(), prefix, None, upper)
        # Step back from the first key past the range, or from the very end.
        found = cursor.prev() if upper is not None and cursor.set_range(upper) else cursor.last()
        if not found:
            return iter(())
        return _within_prefix(cursor.iterprev(), prefix, None)

    def _close_engine(self) -> None:
        self._env.close()


# --- opening --------------------------------------------------------------------

_OPENERS: dict[str, Callable[[Path, int, StoreSettings], _DiskStore]] = {
    "rocksdb": _RocksStore,
    "leveldb": _LevelStore,
    "lmdb": _LmdbStore,
}

_PACKAGES = {"rocksdb": "rocksdict", "leveldb": "plyvel", "lmdb": "lmdb"}


def open_store(
    path: Path,
    backend: str = DEFAULT_BACKEND,
    *,
    settings: StoreSettings | None = None,
) -> KeyValueStore:
    """Open (creating if needed) the store in directory `path`.

    Raises StorageError when the backend is unknown, another process or
    handle already has the store open, or the files cannot be used.
    ``memory`` ignores `path`.
    """
    if backend not in BACKEND_NAMES:
        raise StorageError(f"unknown storage backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
    if backend == "memory":
        return MemoryStore()
    path = Path(path)
    engine_dir = _prepare_directory(path, backend)
    lock_fd = _lock_directory(path)
    try:
        _check_engine(path, backend)
        created = not engine_dir.exists()
        store = _OPENERS[backend](path, lock_fd, settings or StoreSettings())
    except ImportError as exc:
        os.close(lock_fd)
        raise StorageError(
            f"the {backend} backend needs the {_PACKAGES[backend]} package; install "
            f"it, or choose another backend (the default is {DEFAULT_BACKEND!r})"
        ) from exc
    except BaseException:
        os.close(lock_fd)
        raise
    # From here on the store owns the lock descriptor.
    if created:
        try:
            _fsync_directory(engine_dir)
            _fsync_directory(path)
        except OSError as exc:
            store.close()
            raise StorageError(
                f"cannot sync the new store directory {path}: {exc.strerror}; check the disk and its free space"
            ) from exc
    return store
