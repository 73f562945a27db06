"""Measure the state tree: load rate, commit time per block, proof size and verification time, footprint.

    PYTHONPATH=src python -m gusu.ledger.smt_bench --sizes 10000,100000 --blocks 5

For each size it fills a fresh store (the real backend, RocksDB by default)
with that many entries in batches of `--load-batch` writes (one tree
version per batch), prunes the loading versions, then commits `--blocks`
blocks of `--block-writes` writes each (a quarter new keys, the rest
updates of existing keys), each as one synced batch like a block commit.
Then it proves `--proofs` present and as many absent keys and verifies
each proof as a light client would (decode, then validate). Keys look like
contract state keys (gusu.execution.state: a namespaced 20-byte account);
values are 32 bytes. docs/state.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from gusu.codec import encode
from gusu.crypto import SUITE_NAMES, get_suite
from gusu.ledger.kv import BACKEND_NAMES, DEFAULT_BACKEND, KeyValueStore, WriteBatch, open_store
from gusu.ledger.smt import (
    PREFIX_STALE,
    PREFIX_TREE_NODE,
    TreeNodeCache,
    apply_tree_update_to_batch,
    apply_tree_update_to_cache,
    apply_tree_updates,
    compute_pruning_batch,
    decode_state_proof,
    encode_state_proof,
    get_state_proof,
    validate_state_proof,
)

SIZES_MAX = 10_000_000
"""A guard against a typo filling the disk."""


@dataclass(frozen=True, slots=True)
class SizeResult:
    entries: int
    load_seconds: float
    load_entries_per_second: float
    commit_ms_median: float
    commit_ms_max: float
    commit_tree_ms_median: float
    commit_tree_cpu_ms_median: float
    nodes_written_per_block: float
    stale_nodes_per_block: float
    proof_bytes_mean: float
    proof_bytes_max: int
    proof_siblings_mean: float
    exclusion_proof_bytes_mean: float
    proof_read_ms_median: float
    verify_ms_median: float
    tree_nodes: int
    tree_bytes: int
    tree_bytes_per_entry: float
    disk_bytes: int


def _state_key(index: int) -> bytes:
    """A key shaped like a token balance: the namespaced state key of a 20-byte account."""
    account = index.to_bytes(20, "big")
    return encode(["gusu.state.v1", "token", b"b" + account])


def _value(index: int, generation: int) -> bytes:
    return (index * 7919 + generation).to_bytes(32, "big")


def _directory_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def _tree_bytes(store: KeyValueStore) -> tuple[int, int]:
    count = 0
    size = 0
    for key, value in store.iterate(PREFIX_TREE_NODE):
        count += 1
        size += len(key) + len(value)
    return count, size


def measure_size(
    entries: int,
    *,
    suite_name: str,
    backend: str,
    directory: Path,
    load_batch: int,
    blocks: int,
    block_writes: int,
    proofs: int,
    seed: int,
) -> SizeResult:
    suite = get_suite(suite_name)
    random_source = random.Random(seed)
    store_path = directory / f"smt-{entries}"
    shutil.rmtree(store_path, ignore_errors=True)
    store = open_store(store_path, backend)
    try:
        version = -1
        started = time.perf_counter()
        for start in range(0, entries, load_batch):
            writes: dict[bytes, bytes | None] = {
                _state_key(index): _value(index, 0) for index in range(start, min(entries, start + load_batch))
            }
            update = apply_tree_updates(store, suite, version + 1, None if version < 0 else version, writes)
            batch = WriteBatch()
            apply_tree_update_to_batch(batch, update)
            store.write(batch, sync=False)
            version += 1
            print(f"  loaded {min(entries, start + load_batch):,} entries", file=sys.stderr, flush=True)
        load_seconds = time.perf_counter() - started
        store.write(compute_pruning_batch(store, version), sync=True)

        total = entries
        generations: dict[int, int] = {}
        commit_ms: list[float] = []
        tree_ms: list[float] = []
        tree_cpu_ms: list[float] = []
        # As a node keeps it: the top levels of the tip's version decoded in memory, filled by each commit.
        cache = TreeNodeCache()
        nodes_written: list[int] = []
        stale: list[int] = []
        for block in range(blocks):
            writes = {}
            for _ in range(block_writes * 3 // 4):
                index = random_source.randrange(total)
                writes[_state_key(index)] = _value(index, block + 1)
                generations[index] = block + 1
            for index in range(total, total + block_writes - len(writes)):
                writes[_state_key(index)] = _value(index, block + 1)
                generations[index] = block + 1
            total += block_writes - block_writes * 3 // 4
            started = time.perf_counter()
            started_cpu = time.process_time()
            update = apply_tree_updates(store, suite, version + 1, version, writes, cache)
            computed_cpu = time.process_time()
            computed = time.perf_counter()
            batch = WriteBatch()
            apply_tree_update_to_batch(batch, update)
            store.write(batch, sync=True)
            apply_tree_update_to_cache(cache, update)
            finished = time.perf_counter()
            version += 1
            root = update.root
            commit_ms.append((finished - started) * 1000)
            tree_ms.append((computed - started) * 1000)
            tree_cpu_ms.append((computed_cpu - started_cpu) * 1000)
            nodes_written.append(len(update.nodes))
            stale.append(len(update.stale))
        store.write(compute_pruning_batch(store, version), sync=True)

        sizes: list[int] = []
        siblings: list[int] = []
        read_ms: list[float] = []
        verify_ms: list[float] = []
        for _ in range(proofs):
            index = random_source.randrange(entries)
            key = _state_key(index)
            started = time.perf_counter()
            proof = get_state_proof(store, suite, version, key)
            raw = encode_state_proof(proof)
            read = time.perf_counter()
            # What a light client does with a proof it received: decode it, then check it against the root.
            validate_state_proof(suite, root, key, _value(index, generations.get(index, 0)), decode_state_proof(raw))
            verified = time.perf_counter()
            read_ms.append((read - started) * 1000)
            verify_ms.append((verified - read) * 1000)
            sizes.append(len(raw))
            siblings.append(len(proof.siblings))
        exclusion_sizes = []
        for index in range(proofs):
            key = _state_key(SIZES_MAX * 2 + index)
            proof = get_state_proof(store, suite, version, key)
            raw = encode_state_proof(proof)
            validate_state_proof(suite, root, key, None, decode_state_proof(raw))
            exclusion_sizes.append(len(raw))
        tree_nodes, tree_bytes = _tree_bytes(store)
        assert not any(True for _ in store.iterate(PREFIX_STALE))
    finally:
        store.close()
    return SizeResult(
        entries=entries,
        load_seconds=round(load_seconds, 1),
        load_entries_per_second=round(entries / load_seconds),
        commit_ms_median=round(statistics.median(commit_ms), 1),
        commit_ms_max=round(max(commit_ms), 1),
        commit_tree_ms_median=round(statistics.median(tree_ms), 1),
        commit_tree_cpu_ms_median=round(statistics.median(tree_cpu_ms), 1),
        nodes_written_per_block=round(statistics.mean(nodes_written), 1),
        stale_nodes_per_block=round(statistics.mean(stale), 1),
        proof_bytes_mean=round(statistics.mean(sizes), 1),
        proof_bytes_max=max(sizes),
        proof_siblings_mean=round(statistics.mean(siblings), 2),
        exclusion_proof_bytes_mean=round(statistics.mean(exclusion_sizes), 1),
        proof_read_ms_median=round(statistics.median(read_ms), 3),
        verify_ms_median=round(statistics.median(verify_ms), 3),
        tree_nodes=tree_nodes,
        tree_bytes=tree_bytes,
        tree_bytes_per_entry=round(tree_bytes / total, 1),
        disk_bytes=_directory_bytes(store_path),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gusu.ledger.smt_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated entry counts")
    parser.add_argument("--suite", choices=SUITE_NAMES, default="sm")
    parser.add_argument("--backend", choices=BACKEND_NAMES, default=DEFAULT_BACKEND)
    parser.add_argument("--directory", type=Path, default=None, help="where the stores go (default: a temp dir)")
    parser.add_argument("--load-batch", type=int, default=50_000)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--block-writes", type=int, default=1_000)
    parser.add_argument("--proofs", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args(argv)
    sizes = [int(item) for item in arguments.sizes.split(",")]
    if any(not 1 <= size <= SIZES_MAX for size in sizes):
        parser.error(f"sizes must lie between 1 and {SIZES_MAX:,}")
    if arguments.load_batch < 1 or arguments.blocks < 1 or arguments.block_writes < 4 or arguments.proofs < 1:
        parser.error("--load-batch, --blocks and --proofs must be positive, --block-writes at least 4")
    owned = arguments.directory is None
    directory = Path(tempfile.mkdtemp(prefix="gusu-smt-bench-")) if owned else arguments.directory
    directory.mkdir(parents=True, exist_ok=True)
    try:
        for size in sizes:
            result = measure_size(
                size,
                suite_name=arguments.suite,
                backend=arguments.backend,
                directory=directory,
                load_batch=arguments.load_batch,
                blocks=arguments.blocks,
                block_writes=arguments.block_writes,
                proofs=arguments.proofs,
                seed=arguments.seed,
            )
            print(json.dumps(asdict(result)), flush=True)
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
