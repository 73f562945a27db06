"""Tests of the key-value layer: every backend against one model, plus kill -9 crashes."""

from __future__ import annotations

import importlib.util
import itertools
import os
import random
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.errors import StorageError
from gusu.ledger import kv_bench
from gusu.ledger.kv import (
    BACKEND_NAMES,
    DEFAULT_BACKEND,
    LOCK_FILE_NAME,
    MAX_KEY_BYTES,
    KeyValueStore,
    MemoryStore,
    StoreSettings,
    WriteBatch,
    open_store,
)

DISK_BACKENDS = [name for name in BACKEND_NAMES if name != "memory"]
WRITER = Path(__file__).with_name("kv_crash_writer.py")
SRC = Path(__file__).resolve().parents[2] / "src"

CRASH_ROUNDS = 3
CRASH_MAX_ACKS = 30
# Generous: a healthy child acknowledges 30 batches in well under a second.
CHILD_DEADLINE_SECONDS = 20.0


def _load_writer() -> ModuleType:
    # Loaded by path so the test does not depend on how pytest sets sys.path.
    spec = importlib.util.spec_from_file_location("kv_crash_writer", WRITER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


writer = _load_writer()


@pytest.fixture(params=BACKEND_NAMES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    with open_store(tmp_path / "store", request.param) as opened:
        yield opened


def _batch(*ops: tuple[bytes, bytes | None]) -> WriteBatch:
    batch = WriteBatch()
    for key, value in ops:
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    return batch


# --- basic behaviour -------------------------------------------------------------


def test_default_backend_is_a_disk_backend() -> None:
    assert DEFAULT_BACKEND in DISK_BACKENDS


def test_put_get_delete(store: KeyValueStore) -> None:
    assert store.get(b"a") is None
    store.write(_batch((b"a", b"1"), (b"b", b"2")))
    assert store.get(b"a") == b"1"
    assert store.get(b"b") == b"2"
    store.write(_batch((b"a", None), (b"b", b"3")), sync=False)
    assert store.get(b"a") is None
    assert store.get(b"b") == b"3"
    # Deleting an absent key and writing an empty batch are harmless.
    store.write(_batch((b"never", None)))
    store.write(WriteBatch())
    assert store.get(b"never") is None
    store.write(_batch((b"empty", b"")))
    assert store.get(b"empty") == b""


def test_batch_later_operations_override_earlier(store: KeyValueStore) -> None:
    store.write(_batch((b"deleted-then-put", b"old")))
    batch = WriteBatch()
    batch.put(b"put-twice", b"first")
    batch.put(b"put-twice", b"second")
    batch.put(b"put-then-deleted", b"gone")
    batch.delete(b"put-then-deleted")
    batch.delete(b"deleted-then-put")
    batch.put(b"deleted-then-put", b"new")
    assert len(batch) == 3
    store.write(batch)
    assert store.get(b"put-twice") == b"second"
    assert store.get(b"put-then-deleted") is None
    assert store.get(b"deleted-then-put") == b"new"


def test_key_size_limits(store: KeyValueStore) -> None:
    batch = WriteBatch()
    with pytest.raises(StorageError, match="keys must be 1 to"):
        batch.put(b"", b"v")
    with pytest.raises(StorageError, match="keys must be 1 to"):
        batch.delete(b"k" * (MAX_KEY_BYTES + 1))
    batch.put(b"k" * MAX_KEY_BYTES, b"v")
    store.write(batch)
    assert store.get(b"k" * MAX_KEY_BYTES) == b"v"
    assert store.get(b"k" * (MAX_KEY_BYTES + 1)) is None
    assert store.get(b"") is None


def test_iterate_orders_by_key_bytes_with_0xff_edges(store: KeyValueStore) -> None:
    keys = [
        b"a",
        b"a\x00",
        b"a\xff",
        b"a\xff\x00",
        b"a\xff\xff",
        b"b",
        b"\xfe\xff",
        b"\xff",
        b"\xff\xff",
        b"\xff\xff\x01",
    ]
    store.write(_batch(*((key, key[::-1]) for key in reversed(keys))))

    def listed(prefix: bytes, reverse: bool = False) -> list[bytes]:
        return [key for key, _ in store.iterate(prefix, reverse=reverse)]

    assert listed(b"") == keys
    assert listed(b"", reverse=True) == keys[::-1]
    assert listed(b"a") == keys[:5]
    assert listed(b"a\xff") == [b"a\xff", b"a\xff\x00", b"a\xff\xff"]
    assert listed(b"a\xff", reverse=True) == [b"a\xff\xff", b"a\xff\x00", b"a\xff"]
    assert listed(b"a\xff\xff", reverse=True) == [b"a\xff\xff"]
    assert listed(b"\xff") == [b"\xff", b"\xff\xff", b"\xff\xff\x01"]
    assert listed(b"\xff", reverse=True) == [b"\xff\xff\x01", b"\xff\xff", b"\xff"]
    assert listed(b"\xfe", reverse=True) == [b"\xfe\xff"]
    assert listed(b"c") == []
    assert listed(b"c", reverse=True) == []
    assert listed(b"\x00", reverse=True) == []
    assert dict(store.iterate(b"b")) == {b"b": b"b"}


def test_latest_entry_under_prefix(store: KeyValueStore) -> None:
    # The ledger finds the newest height under a prefix with one reverse step.
    store.write(_batch(*((b"h/" + height.to_bytes(8, "big"), b"%d" % height) for height in range(300))))
    store.write(_batch((b"h0", b"after the range"), (b"h.", b"before the range")))
    key, value = next(store.iterate(b"h/", reverse=True))
    assert key == b"h/" + (299).to_bytes(8, "big")
    assert value == b"299"
    assert next(store.iterate(b"h/"))[1] == b"0"


def test_iterate_below_an_end_bound(store: KeyValueStore) -> None:
    keys = [b"a", b"a\x00", b"a\x01", b"a\x01\x00", b"a\x02", b"a\xff", b"a\xff\xff", b"b", b"\xff", b"\xff\x01"]
    store.write(_batch(*((key, key[::-1]) for key in keys)))

    def listed(prefix: bytes, end: bytes, reverse: bool) -> list[bytes]:
        return [key for key, _ in store.iterate(prefix, reverse=reverse, end=end)]

    cases = [
        (b"a", b"a\x01", [b"a", b"a\x00"]),  # an existing key: excluded
        (b"a", b"a\x01\x00\x00", [b"a", b"a\x00", b"a\x01", b"a\x01\x00"]),  # absent: seek lands between
        (b"a", b"a\xff\xff", keys[:6]),
        (b"a", b"a", []),  # at the prefix: nothing is below it
        (b"a", b"0", []),  # below the prefix
        (b"a", b"c", keys[:7]),  # past the prefix: the prefix still bounds
        (b"a\x01", b"a\x02", [b"a\x01", b"a\x01\x00"]),
        (b"\xff", b"\xff\x01", [b"\xff"]),  # a prefix with no end of its own
        (b"", b"a\x01", [b"a", b"a\x00"]),
    ]
    for prefix, end, expected in cases:
        assert listed(prefix, end, reverse=False) == expected, (prefix, end)
        assert listed(prefix, end, reverse=True) == expected[::-1], (prefix, end)
    # Paging newest first: each page starts strictly below the last key of the one before.
    pages: list[list[bytes]] = []
    end: bytes | None = None
    while True:
        page = [key for key, _ in itertools.islice(store.iterate(b"a", reverse=True, end=end), 2)]
        if not page:
            break
        pages.append(page)
        end = page[-1]
    assert [key for page in pages for key in page] == keys[:7][::-1]


def test_iteration_sees_the_snapshot_taken_when_called(store: KeyValueStore) -> None:
    store.write(_batch((b"p/1", b"1"), (b"p/2", b"2"), (b"p/3", b"3")))
    pairs = store.iterate(b"p/")
    assert next(pairs) == (b"p/1", b"1")
    store.write(_batch((b"p/2", None), (b"p/25", b"new"), (b"p/3", b"changed")))
    assert list(pairs) == [(b"p/2", b"2"), (b"p/3", b"3")]
    assert list(store.iterate(b"p/")) == [(b"p/1", b"1"), (b"p/25", b"new"), (b"p/3", b"changed")]


def test_concurrent_readers_and_writer(store: KeyValueStore) -> None:
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(200):
                values = [value for _, value in store.iterate(b"c/")]
                # Each batch rewrites every key, so a snapshot holds one batch's value.
                assert len(set(values)) <= 1
        except BaseException as exc:  # reported to the main thread below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in readers:
        thread.start()
    for round_number in range(100):
        store.write(_batch(*((b"c/%02d" % index, b"%d" % round_number) for index in range(20))), sync=False)
    for thread in readers:
        thread.join()
    assert errors == []


# --- the same answers as a dict ------------------------------------------------------

# A tiny alphabet around 0x00 and 0xff makes prefix edge cases common.
_keys = st.lists(st.sampled_from([0x00, 0x01, 0x61, 0xFE, 0xFF]), min_size=1, max_size=4).map(bytes)
_prefixes = st.lists(st.sampled_from([0x00, 0x01, 0x61, 0xFE, 0xFF]), max_size=3).map(bytes)
_operation = st.tuples(_keys, st.one_of(st.none(), st.binary(max_size=6)))
_batches = st.lists(st.lists(_operation, max_size=12), min_size=1, max_size=6)


@pytest.fixture(scope="module", params=BACKEND_NAMES)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyValueStore]:
    # One store per backend for all examples: opening an engine per example is slow.
    with open_store(tmp_path_factory.mktemp(request.param) / "store", request.param) as opened:
        yield opened


@settings(max_examples=60, deadline=None)
@given(batches=_batches, prefixes=st.lists(_prefixes, min_size=1, max_size=5), ends=st.lists(_keys, max_size=3))
def test_matches_dict_model(
    shared_store: KeyValueStore,
    batches: list[list[tuple[bytes, bytes | None]]],
    prefixes: list[bytes],
    ends: list[bytes],
) -> None:
    store = shared_store
    store.write(_batch(*((key, None) for key, _ in store.iterate(b""))))
    model: dict[bytes, bytes] = {}
    for operations in batches:
        store.write(_batch(*operations))
        for key, value in operations:
            if value is None:
                model.pop(key, None)
            else:
                model[key] = value
    for key in {key for operations in batches for key, _ in operations}:
        assert store.get(key) == model.get(key)
    for prefix in [*prefixes, b""]:
        expected = sorted((key, value) for key, value in model.items() if key.startswith(prefix))
        assert list(store.iterate(prefix)) == expected
        assert list(store.iterate(prefix, reverse=True)) == expected[::-1]
        for end in ends:
            bounded = [(key, value) for key, value in expected if key < end]
            assert list(store.iterate(prefix, end=end)) == bounded
            assert list(store.iterate(prefix, reverse=True, end=end)) == bounded[::-1]


# --- opening and closing -------------------------------------------------------------


def test_close_is_idempotent_and_later_use_raises(store: KeyValueStore) -> None:
    store.write(_batch((b"k", b"v")))
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.get(b"k")
    with pytest.raises(StorageError, match="closed"):
        store.write(_batch((b"k", b"w")))
    with pytest.raises(StorageError, match="closed"):
        store.iterate(b"")


def test_iterator_stops_when_store_closes(store: KeyValueStore) -> None:
    store.write(_batch(*((b"k%d" % index, b"v") for index in range(10))))
    pairs = store.iterate(b"k")
    next(pairs)
    store.close()
    if isinstance(store, MemoryStore):
        # The memory store's snapshot is a plain list and stays readable.
        assert len(list(pairs)) == 9
    else:
        with pytest.raises(StorageError, match="closed"):
            list(pairs)


@pytest.mark.parametrize("backend", DISK_BACKENDS)
def test_data_survives_reopen_and_lock_is_released(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "nested" / "store"
    with open_store(path, backend) as first:
        first.write(_batch((b"kept", b"yes"), (b"dropped", b"no")))
        first.write(_batch((b"dropped", None)))
    assert (path / LOCK_FILE_NAME).exists()
    with open_store(path, backend) as second:
        assert second.get(b"kept") == b"yes"
        assert second.get(b"dropped") is None


def test_rocksdb_keeps_its_settings_when_reopened(tmp_path: Path) -> None:
    # rocksdict drops the table options of an existing store unless told the
    # column families; the block cache then shrinks to 8 MiB.
    settings = StoreSettings(block_cache_bytes=96 << 20)
    for _ in range(2):
        with open_store(tmp_path / "store", "rocksdb", settings=settings) as store:
            capacity = store._db.property_int_value("rocksdb.block-cache-capacity")  # type: ignore[attr-defined]
            assert capacity == 96 << 20


@pytest.mark.parametrize("backend", DISK_BACKENDS)
def test_second_open_in_same_process_raises(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "store"
    with (
        open_store(path, backend),
        pytest.raises(StorageError, match=re.escape(f"another gusu node is using {path}; stop it first")),
    ):
        open_store(path, backend)
    # The failed attempt must not have broken the lock for the next owner.
    with open_store(path, backend) as again:
        assert again.get(b"missing") is None


def test_store_of_another_engine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store"
    open_store(path, "leveldb").close()
    with pytest.raises(StorageError, match="holds a leveldb store, not lmdb; open it with backend='leveldb'"):
        open_store(path, "lmdb")


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unknown storage backend 'sqlite'; choose one of rocksdb"):
        open_store(tmp_path, "sqlite")


def test_file_in_the_way_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store"
    path.write_bytes(b"")
    with pytest.raises(StorageError, match="not a directory"):
        open_store(path, DEFAULT_BACKEND)


def test_memory_store_ignores_path(tmp_path: Path) -> None:
    path = tmp_path / "not-created"
    with open_store(path, "memory") as first, open_store(path, "memory") as second:
        first.write(_batch((b"k", b"v")))
        assert second.get(b"k") is None
    assert not path.exists()


# --- kill -9 -----------------------------------------------------------------------------


def _start_writer(path: Path, backend: str, errors: Path) -> subprocess.Popen[str]:
    env = dict(os.environ)
    # The child must import this checkout's gusu, whatever the venv points at.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    # stderr goes to a file: an unread pipe could fill up and stall the child.
    with errors.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, str(WRITER), str(path), backend],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )


def _read_acks(child: subprocess.Popen[str], wanted: int | None) -> list[int]:
    """Acknowledged batch numbers, until `wanted` of them or end of output."""
    assert child.stdout is not None
    acks: list[int] = []
    while wanted is None or len(acks) < wanted:
        line = child.stdout.readline()
        if not line:
            break
        word, number = line.split()
        assert word == "ack"
        acks.append(int(number))
    return acks


def _check_after_crash(store: KeyValueStore, acked: int) -> int:
    """Assert the store holds exactly the batches 1..last, whole; return last."""
    raw_last = store.get(writer.LAST_KEY)
    assert raw_last is not None, "no batch survived, yet some were acknowledged"
    last = int(raw_last)
    assert last >= acked, f"batch {acked} was acknowledged but the store ends at {last}"
    counts: dict[int, int] = {}
    for key, value in store.iterate(b"batch/"):
        _, batch_text, index_text = key.split(b"/")
        batch_number, index = int(batch_text), int(index_text)
        assert value == writer.batch_value(batch_number, index)
        counts[batch_number] = counts.get(batch_number, 0) + 1
    torn = {number: count for number, count in counts.items() if count != writer.KEYS_PER_BATCH}
    assert torn == {}, f"batches only partly written: {torn}"
    assert sorted(counts) == list(range(1, last + 1)), "the complete batches are not exactly 1..last"
    for index in range(writer.COUNTERS):
        assert store.get(writer.counter_key(index)) == b"%d" % last
    assert [key for key, _ in store.iterate(b"marker/")] == [writer.marker_key(last)]
    return last


@pytest.mark.parametrize("backend", DISK_BACKENDS)
def test_kill_9_keeps_acknowledged_batches_whole(backend: str, tmp_path: Path) -> None:
    rng = random.Random(f"kill-9/{backend}")
    path = tmp_path / "store"
    acked = 0
    for round_number in range(CRASH_ROUNDS):
        errors = tmp_path / f"writer-{round_number}.err"
        child = _start_writer(path, backend, errors)
        # Never left running, whatever happens to the parent's reads.
        watchdog = threading.Timer(CHILD_DEADLINE_SECONDS, child.kill)
        watchdog.start()
        try:
            acks = _read_acks(child, 1)
            assert acks, f"the writer acknowledged nothing: {errors.read_text()}"
            if round_number == 0:
                # A live writer holds the store against every other process.
                with pytest.raises(StorageError, match="another gusu node is using"):
                    open_store(path, backend)
            acks += _read_acks(child, rng.randint(0, CRASH_MAX_ACKS - 1))
            # Let the kill land at a random point of the following batch.
            threading.Event().wait(rng.uniform(0.0, 0.005))
            child.send_signal(signal.SIGKILL)
            child.wait()
            # Acks already in the pipe were printed after their write returned.
            acks += _read_acks(child, None)
        finally:
            watchdog.cancel()
            child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        assert child.returncode == -signal.SIGKILL, f"the writer stopped by itself: {errors.read_text()}"
        assert acks == list(range(acked + 1, acked + 1 + len(acks))), "the writer did not resume after the last batch"
        acked = acks[-1]
        with open_store(path, backend) as store:
            acked = _check_after_crash(store, acked)


# --- the benchmark ---------------------------------------------------------------------


def test_benchmark_runs_on_a_tiny_workload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only checks that the benchmark runs and reports; docs/storage.md has real numbers.
    monkeypatch.setattr(kv_bench, "SCAN_PREFIXES", 2)
    monkeypatch.setattr(kv_bench, "READ_SAMPLE_KEYS", 500)
    report = kv_bench.measure_backends(tmp_path, 0.02, keys=3_000, rounds=2)
    assert set(report["backends"]) == set(DISK_BACKENDS)
    for results in report["backends"].values():
        assert results["durable_batches_per_s"] > 0
        assert results["point_reads_per_s"] > 0
        assert results["prefix_scan_keys_per_s"] > 0
    assert "| durable batches/s |" in kv_bench.format_table(report)
    assert list(tmp_path.iterdir()) == []
