"""Benchmark of the storage backends on the node's own workload.

The node commits one block as one synced batch of a few thousand small keys,
reads state and index entries by key, and walks key prefixes.  This module
measures exactly that through `gusu.ledger.kv`, so the engines are compared
with the settings and wrapper code the node really runs:

* durable batched writes: batches of `WRITE_BATCH_KEYS` keys, each written
  with ``sync=True`` (one fsync or more per batch), onto the loaded store;
* random point reads of present (and absent) keys on a warm store of
  `STORE_KEYS` keys;
* prefix scans of `SCAN_KEYS_PER_PREFIX` keys, and the one-step reverse
  lookup the ledger uses to find the newest entry under a prefix.

Run ``python -m gusu.ledger.kv_bench --help``; docs/storage.md has the
results and the command that produced them.  Put the store directory on the
disk the node will use: on tmpfs fsync costs nothing and the numbers lie.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gusu.ledger.kv import DISK_BACKENDS, KeyValueStore, WriteBatch, open_store

# Keys per committed block, the middle of the 1,000-5,000 the node sees.
WRITE_BATCH_KEYS = 2_000
# State keys loaded before reads are measured.
STORE_KEYS = 1_000_000
# Receipt-like groups for the prefix scans: PREFIXES x KEYS_PER_PREFIX keys.
SCAN_PREFIXES = 200
SCAN_KEYS_PER_PREFIX = 1_000
VALUE_MIN_BYTES = 30
VALUE_MAX_BYTES = 200
# Share of a committed batch that overwrites existing state; the rest is new
# keys (transactions, receipts, index entries).
UPDATE_SHARE = 0.5
# Keys drawn up front so that hashing is not part of the timed read loops.
READ_SAMPLE_KEYS = 200_000
FSYNC_PROBE_BYTES = 4096

STATE_PREFIX = b"s/"
TX_PREFIX = b"t/"
RECEIPT_PREFIX = b"r/"
HEADER_PREFIX = b"h/"

DEFAULT_SECONDS = 10.0
DEFAULT_DIRECTORY = Path("bench-results") / "kv-store"
DEFAULT_OUTPUT = Path("bench-results") / "kv_bench.json"


def _hashed_key(prefix: bytes, number: int) -> bytes:
    # State and transaction keys are hashes in practice: uniformly spread,
    # which is the hard case for B-trees and the common one for the ledger.
    return prefix + hashlib.blake2b(number.to_bytes(8, "big"), digest_size=32).digest()


def _state_key(number: int) -> bytes:
    return _hashed_key(STATE_PREFIX, number)


def _receipt_prefix(block: int) -> bytes:
    return RECEIPT_PREFIX + block.to_bytes(8, "big")


def _value(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(VALUE_MIN_BYTES, VALUE_MAX_BYTES))


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _timed_loop(seconds: float, step: Callable[[int], int]) -> tuple[int, int, float]:
    """Call step(i) until `seconds` pass; return (calls, items, elapsed)."""
    calls = items = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        items += step(calls)
        calls += 1
        # The clock is read every 64 calls: cheap steps would otherwise time
        # perf_counter itself.
        if calls % 64 == 0 and time.perf_counter() >= deadline:
            break
    return calls, items, time.perf_counter() - start


def _load(store: KeyValueStore, keys: int, rng: random.Random) -> dict[str, float]:
    start = time.perf_counter()
    for first in range(0, keys, WRITE_BATCH_KEYS):
        batch = WriteBatch()
        for number in range(first, min(first + WRITE_BATCH_KEYS, keys)):
            batch.put(_state_key(number), _value(rng))
        store.write(batch, sync=False)
    for block in range(SCAN_PREFIXES):
        batch = WriteBatch()
        prefix = _receipt_prefix(block)
        for index in range(SCAN_KEYS_PER_PREFIX):
            batch.put(prefix + index.to_bytes(4, "big"), _value(rng))
        store.write(batch, sync=False)
    # One synced batch makes everything before it durable too.
    marker = WriteBatch()
    marker.put(b"bench/loaded", b"1")
    store.write(marker, sync=True)
    elapsed = time.perf_counter() - start
    total = keys + SCAN_PREFIXES * SCAN_KEYS_PER_PREFIX
    return {"load_keys": total, "load_seconds": round(elapsed, 2), "load_keys_per_s": _rate(total, elapsed)}


def _durable_writes(store: KeyValueStore, seconds: float, keys: int, rng: random.Random) -> dict[str, float]:
    latencies: list[float] = []
    new_number = 0
    deadline = time.perf_counter() + seconds
    height = 0
    # At least one batch, however short the phase, so there is a latency.
    while height == 0 or time.perf_counter() < deadline:
        batch = WriteBatch()
        batch.put(HEADER_PREFIX + height.to_bytes(8, "big"), _value(rng))
        for _ in range(WRITE_BATCH_KEYS - 1):
            if rng.random() < UPDATE_SHARE:
                batch.put(_state_key(rng.randrange(keys)), _value(rng))
            else:
                batch.put(_hashed_key(TX_PREFIX, new_number), _value(rng))
                new_number += 1
        # Only the commit is timed: building the batch costs every backend
        # the same.
        start = time.perf_counter()
        store.write(batch, sync=True)
        latencies.append(time.perf_counter() - start)
        height += 1
    spent = sum(latencies)
    ordered = sorted(latencies)
    return {
        "durable_batches": len(latencies),
        "durable_batches_per_s": _rate(len(latencies), spent),
        "durable_keys_per_s": _rate(len(latencies) * WRITE_BATCH_KEYS, spent),
        "durable_batch_ms_p50": round(statistics.median(ordered) * 1000, 2),
        "durable_batch_ms_p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def _point_reads(store: KeyValueStore, seconds: float, keys: int, rng: random.Random) -> dict[str, float]:
    present = [_state_key(rng.randrange(keys)) for _ in range(READ_SAMPLE_KEYS)]
    absent = [_hashed_key(b"x/", number) for number in range(READ_SAMPLE_KEYS)]
    sample = len(present)

    def read_present(call: int) -> int:
        assert store.get(present[call % sample]) is not None
        return 1

    def read_absent(call: int) -> int:
        assert store.get(absent[call % sample]) is None
        return 1

    # Warm the engine's caches and the page cache before measuring.
    _timed_loop(seconds / 2, read_present)
    hits, _, hit_seconds = _timed_loop(seconds, read_present)
    misses, _, miss_seconds = _timed_loop(seconds / 2, read_absent)
    return {"point_reads_per_s": _rate(hits, hit_seconds), "point_misses_per_s": _rate(misses, miss_seconds)}


def _scans(store: KeyValueStore, seconds: float, rng: random.Random) -> dict[str, float]:
    blocks = [rng.randrange(SCAN_PREFIXES) for _ in range(1024)]

    def scan(call: int) -> int:
        count = sum(1 for _ in store.iterate(_receipt_prefix(blocks[call % 1024])))
        assert count == SCAN_KEYS_PER_PREFIX
        return count

    def latest(call: int) -> int:
        key, _ = next(store.iterate(_receipt_prefix(blocks[call % 1024]), reverse=True))
        assert key.endswith((SCAN_KEYS_PER_PREFIX - 1).to_bytes(4, "big"))
        return 1

    scans, scanned, scan_seconds = _timed_loop(seconds, scan)
    lookups, _, latest_seconds = _timed_loop(seconds / 2, latest)
    return {
        "prefix_scans_per_s": _rate(scans, scan_seconds),
        "prefix_scan_keys_per_s": _rate(scanned, scan_seconds),
        "latest_under_prefix_per_s": _rate(lookups, latest_seconds),
    }


def _disk_bytes(path: Path) -> int:
    # Allocated blocks, not apparent sizes: LMDB's map file is sparse.
    return sum(entry.stat().st_blocks * 512 for entry in path.rglob("*") if entry.is_file())


def _measure_backend(backend: str, path: Path, seconds: float, keys: int, round_number: int) -> dict[str, float]:
    rng = random.Random(f"gusu-kv-bench/{backend}/{round_number}")
    # Other work on the machine skews every number; the load shows how much.
    results: dict[str, float] = {"load_average_1m": round(os.getloadavg()[0], 2)}
    with open_store(path, backend) as store:
        results.update(_load(store, keys, rng))
        results.update(_durable_writes(store, seconds, keys, rng))
    # Reopening after the writes also shows how long start-up recovery takes.
    start = time.perf_counter()
    with open_store(path, backend) as store:
        results["reopen_seconds"] = round(time.perf_counter() - start, 3)
        results.update(_point_reads(store, seconds, keys, rng))
        results.update(_scans(store, seconds, rng))
    results["disk_bytes"] = _disk_bytes(path)
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return results


def _medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}


def _fsyncs_per_second(directory: Path, seconds: float) -> float:
    """How many 4 KiB append+fdatasync rounds the disk does: the floor under any durable write."""
    probe = directory / "fsync-probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        block = b"\0" * FSYNC_PROBE_BYTES

        def step(_: int) -> int:
            os.write(fd, block)
            os.fdatasync(fd)
            return 1

        calls, _, elapsed = _timed_loop(seconds, step)
    finally:
        os.close(fd)
        probe.unlink()
    return _rate(calls, elapsed)


def _file_system(directory: Path) -> str:
    """Type of the file system holding `directory`, from /proc/mounts."""
    best, kind = "", "unknown"
    target = str(directory.resolve())
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                point = fields[1]
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and len(point) > len(best):
                    best, kind = point, fields[2]
    except OSError:
        pass
    return kind


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("rocksdict", "plyvel", "lmdb"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def measure_backends(
    directory: Path,
    seconds: float,
    *,
    backends: Sequence[str] = DISK_BACKENDS,
    keys: int = STORE_KEYS,
    rounds: int = 1,
) -> dict[str, Any]:
    """Measure each backend in a fresh store under `directory`; return the results.

    Each timed phase runs about `seconds`; loading `keys` keys comes on top.
    With several `rounds` the backends take turns (in a rotating order, so
    none always runs first) and each metric is the median of the rounds;
    every round's figures are kept under ``runs``.  The stores are deleted
    afterwards.
    """
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kv-bench-", dir=directory))
    try:
        report: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "cpu_model": _cpu_model(),
                "memory_bytes": _memory_bytes(),
                "kernel": platform.release(),
                "file_system": _file_system(work),
                "fsyncs_per_s": _fsyncs_per_second(work, min(seconds, 3.0)),
            },
            "versions": _versions(),
            "workload": {
                "seconds": seconds,
                "store_keys": keys,
                "batch_keys": WRITE_BATCH_KEYS,
                "update_share": UPDATE_SHARE,
                "value_bytes": [VALUE_MIN_BYTES, VALUE_MAX_BYTES],
                "scan_keys_per_prefix": SCAN_KEYS_PER_PREFIX,
                "rounds": rounds,
            },
        }
        runs: dict[str, list[dict[str, float]]] = {backend: [] for backend in backends}
        for round_number in range(rounds):
            shift = round_number % len(backends)
            for backend in [*backends[shift:], *backends[:shift]]:
                print(f"round {round_number + 1}/{rounds}: measuring {backend} ...", file=sys.stderr, flush=True)
                path = work / backend
                runs[backend].append(_measure_backend(backend, path, seconds, keys, round_number))
                shutil.rmtree(path)
        report["backends"] = {backend: _medians(results) for backend, results in runs.items()}
        report["runs"] = runs
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


_COLUMNS = (
    ("durable_batches_per_s", "durable batches/s"),
    ("durable_keys_per_s", "durable keys/s"),
    ("durable_batch_ms_p50", "batch p50 ms"),
    ("durable_batch_ms_p99", "batch p99 ms"),
    ("point_reads_per_s", "point reads/s"),
    ("point_misses_per_s", "point misses/s"),
    ("prefix_scans_per_s", "1k-key scans/s"),
    ("prefix_scan_keys_per_s", "scanned keys/s"),
    ("latest_under_prefix_per_s", "latest-under-prefix/s"),
    ("load_keys_per_s", "bulk load keys/s"),
    ("reopen_seconds", "reopen s"),
    ("disk_bytes", "disk MiB"),
    ("load_average_1m", "machine load avg (1 min)"),
)


def format_table(report: dict[str, Any]) -> str:
    """The results as a Markdown table, one column per backend."""
    backends: dict[str, dict[str, float]] = report["backends"]
    names = list(backends)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in _COLUMNS:
        cells = []
        for name in names:
            value = backends[name][key]
            if key == "disk_bytes":
                cells.append(f"{value / (1 << 20):,.0f}")
            else:
                cells.append(f"{value:,.0f}" if value >= 100 else f"{value:,.3g}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure gusu's storage backends on the node's workload.")
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIRECTORY, help="where the stores go; must be on the node's disk"
    )
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="length of each timed phase")
    parser.add_argument("--keys", type=int, default=STORE_KEYS, help="state keys loaded before reading")
    parser.add_argument("--backends", default=",".join(DISK_BACKENDS), help="comma-separated backends to measure")
    parser.add_argument("--rounds", type=int, default=1, help="measure every backend this many times")
    parser.add_argument("--json", type=Path, default=DEFAULT_OUTPUT, help="file for the full results")
    args = parser.parse_args(argv)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(backends) - set(DISK_BACKENDS))
    if unknown:
        parser.error(f"unknown backends {', '.join(unknown)}; choose from {', '.join(DISK_BACKENDS)}")
    if args.rounds < 1 or args.seconds <= 0 or args.keys < 1:
        parser.error("--rounds, --seconds and --keys must be positive")
    report = measure_backends(args.dir, args.seconds, backends=backends, keys=args.keys, rounds=args.rounds)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    machine = report["machine"]
    print(
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_bytes'] / (1 << 30):.1f} GiB, "
        f"{machine['file_system']}, {machine['fsyncs_per_s']:,} fdatasync/s; versions {report['versions']}"
    )
    print(format_table(report))
    print(f"full results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
