"""Disk footprint of a generated chain (`gusu bench generate`) with and without pruning.

    PYTHONPATH=src python scripts/stategen_footprint.py GENERATED_DIR WORK_DIR --state-versions-kept N \
        --block-bodies-kept M

Copies node0's store to WORK_DIR, measures it, then applies the node's own pruning steps
(`gusu.ledger.pruning.apply_state_pruning_step`, `apply_body_archiving_step`: what a node with these
`[storage]` settings does after each block) until nothing is left to prune, and measures it again: as
RocksDB left it, and after a full manual compaction (RocksDB reclaims deleted keys' space only when it
compacts their files, which a running node's background compactions do over time; the unpruned copy is
measured as copied and after the same compaction, for a like-for-like comparison). Prints one JSON
document. A measurement script, not part of the node.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from gusu.crypto import get_suite
from gusu.ledger.genesis import load_genesis
from gusu.ledger.kv import open_store
from gusu.ledger.pruning import apply_body_archiving_step, apply_state_pruning_step
from gusu.ledger.store import BlockStore


def get_directory_bytes(path: Path) -> int:
    return sum((Path(root) / name).stat().st_size for root, _, files in os.walk(path) for name in files)


def count_keys(kv, prefix: bytes) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for _ in kv.iterate(prefix))


def compact(target: Path) -> float:
    """RocksDB's own full compaction of the store (for the measurement only); seconds it took."""
    import rocksdict

    database = rocksdict.Rdict(str(target / "rocksdb"))
    started = time.perf_counter()
    database.compact_range(None, None)
    database.close()
    return round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generated", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--state-versions-kept", type=int, required=True)
    parser.add_argument("--block-bodies-kept", type=int, required=True)
    parser.add_argument("--resume", action="store_true", help="Go on pruning the copy already in WORK_DIR.")
    arguments = parser.parse_args()
    source = arguments.generated / "node0" / "data" / "chain"
    target = arguments.work / "chain"
    archive = arguments.work / "archive"
    result: dict[str, object] = {}
    if not arguments.resume:
        if arguments.work.exists():
            shutil.rmtree(arguments.work)
        arguments.work.mkdir(parents=True)
        shutil.copytree(source, target)
        result["unpruned_bytes"] = get_directory_bytes(target)
        result["unpruned_compaction_s"] = compact(target)
        result["unpruned_bytes_after_compaction"] = get_directory_bytes(target)
    suite = get_suite(load_genesis(arguments.generated / "genesis.json").suite)
    kv = open_store(target, "rocksdb")
    try:
        store = BlockStore(kv, suite)
        tip = store.get_tip()
        assert tip is not None
        result["tip_height"] = tip[0]
        result["tree_nodes_before"] = count_keys(kv, b"j")
        started = time.perf_counter()
        steps = 0
        while apply_state_pruning_step(kv, tip[0], arguments.state_versions_kept) is not None:
            steps += 1
        result["state_pruning_steps"] = steps
        result["state_pruning_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        files = 0
        while apply_body_archiving_step(store, kv, tip[0], arguments.block_bodies_kept, archive, 256) is not None:
            files += 1
        result["archive_files"] = files
        result["body_archiving_s"] = round(time.perf_counter() - started, 1)
        result["tree_nodes_after"] = count_keys(kv, b"j")
    finally:
        kv.close()
    result["pruned_bytes_before_compaction"] = get_directory_bytes(target)
    result["compaction_s"] = compact(target)
    result["pruned_bytes_after_compaction"] = get_directory_bytes(target)
    result["archive_bytes"] = get_directory_bytes(archive) if archive.exists() else 0
    result["settings"] = {
        "state_versions_kept": arguments.state_versions_kept,
        "block_bodies_kept": arguments.block_bodies_kept,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
