"""Per-block commit cost on top of a generated chain's state (`gusu bench generate`).

    PYTHONPATH=src python scripts/stategen_commit.py GENERATED_DIR STORE_DIR [--blocks 1000]

STORE_DIR is a copy of node0's store (`.../node0/data/chain`, e.g. the one `scripts/stategen_footprint.py`
leaves in its work directory): it is extended by `--blocks` more blocks of the generator's kind (10 transfers
to new accounts each, by default), built and committed exactly as the generator does (the node's
`compute_next_block_rules`, `decode_block_transaction`, `build_block`, `BlockStore.commit_block` unsynced),
and the thread CPU time of each part is recorded: the state tree update alone
(`gusu.ledger.store.compute_state_update`, timed by wrapping it), the rest of `build_block` (execution,
roots, header), and the store write. Prints medians and 90th percentiles as one JSON document. A measurement
script, not part of the node; it writes only to STORE_DIR.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import gusu.node.blocks as blocks_module
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import get_suite
from gusu.eval.stategen import (
    BLOCK_INTERVAL_MS,
    GENESIS_TIMESTAMP_MS,
    GenerateSettings,
    TransferSigner,
    certify_block,
    compute_seed_key,
    load_manifest,
)
from gusu.execution import Executor, compute_chain_registry
from gusu.ledger.genesis import load_genesis
from gusu.ledger.kv import open_store
from gusu.ledger.store import BlockStore
from gusu.ledger.types import Height, Round
from gusu.node.blocks import build_block, compute_next_block_rules, decode_block_transaction
from gusu.node.config import load_config
from gusu.node.settings import compute_chain_settings

tree_cpu_s: list[float] = []
_original_update = blocks_module.compute_state_update


def _timed_update(*arguments: Any) -> Any:
    started = time.thread_time()
    result = _original_update(*arguments)
    tree_cpu_s.append(time.thread_time() - started)
    return result


def summarize(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(1000 * statistics.median(ordered), 3),
        "p90_ms": round(1000 * ordered[int(0.9 * (len(ordered) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generated", type=Path)
    parser.add_argument("store", type=Path)
    parser.add_argument("--blocks", type=int, default=1000)
    arguments = parser.parse_args()
    blocks_module.compute_state_update = _timed_update  # the build_block the node runs, with a stopwatch
    manifest = load_manifest(arguments.generated)
    settings = GenerateSettings(**{**manifest["settings"], "workers": 0})
    genesis = load_genesis(arguments.generated / "genesis.json")
    suite = get_suite(genesis.suite)
    config = load_config(arguments.generated / "node0")
    _solo, _mempool, limits = compute_chain_settings(genesis, config)
    executor = Executor(compute_chain_registry(genesis.contracts), limits)
    signer = TransferSigner(settings)
    validator_key = compute_seed_key(suite, settings.seed, "validator", 0)
    validator_set = ValidatorSet.from_genesis(genesis)
    build_cpu_s: list[float] = []
    write_cpu_s: list[float] = []
    with open_store(arguments.store, "rocksdb") as kv:
        store = BlockStore(kv, suite)
        tip_height, tip_hash = store.get_tip() or (Height(0), b"")
        tip = store.get_header(tip_height)
        assert tip is not None
        for height in range(tip_height + 1, tip_height + 1 + arguments.blocks):
            transactions = signer.sign_block(height)
            started = time.thread_time()
            rules = compute_next_block_rules(genesis, suite, store, tip)
            entries = [decode_block_transaction(rules, Height(height), i, raw) for i, raw in enumerate(transactions)]
            block = build_block(
                rules,
                executor,
                store,
                store.state_tree,
                tip,
                tip_hash,  # type: ignore[arg-type]
                GENESIS_TIMESTAMP_MS + height * BLOCK_INTERVAL_MS,
                validator_set.get_proposer(Height(height), Round(0)).address,
                entries,
            )
            built = time.thread_time()
            store.commit_block(replace(block, certificate=certify_block(suite, validator_key, block)), sync=False)
            written = time.thread_time()
            build_cpu_s.append(built - started)
            write_cpu_s.append(written - built)
            tip, tip_hash = block.header, block.block_hash
    total = [build + write for build, write in zip(build_cpu_s, write_cpu_s, strict=True)]
    rest = [build - tree for build, tree in zip(build_cpu_s, tree_cpu_s, strict=True)]
    print(
        json.dumps(
            {
                "start_height": tip_height,
                "blocks": arguments.blocks,
                "transactions_per_block": len(signer.sign_block(tip_height + 1)),
                "state_tree_update": summarize(tree_cpu_s),
                "execution_and_rest_of_build_block": summarize(rest),
                "certificate_and_store_write": summarize(write_cpu_s),
                "total": summarize(total),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
