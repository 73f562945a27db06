"""Measure what one gusu_getEvents costs the node: its receipt scan (docs/benchmarks.md, "Past events").

Starts a one-node development chain in a temporary directory, commits ROUNDS blocks of BATCH transfers
(each emits one `account` event), then times `Node.get_events` over the whole chain: once listing every
event (each receipt read and its event kept) and once with a name that matches nothing (each receipt read
only). Run from a worktree: ``PYTHONPATH=src python scripts/measure_events_scan.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "node"))

from node_helpers import load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.ledger.types import BLOCK_TRANSACTIONS_MAX, Height

RESULTS_MAX = 10_001


async def measure(rounds: int, batch: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        layout = make_chain(Path(directory) / "chain")
        node = await start_node(layout)
        try:
            key = load_dev_key(layout)
            committed = 0
            contract = ""
            for round_index in range(rounds):
                signed = [sign_transfer(node, key, bytes([round_index % 250 + 1]) * 20, 1) for _ in range(batch)]
                outcomes = await node.submit_transactions([item.raw for item in signed])
                accepted = [item for item, outcome in zip(signed, outcomes, strict=True) if outcome.error is None]
                assert accepted, outcomes[0].error
                committed += len(accepted)
                record = await wait_for_receipt(node, accepted[-1].transaction_id, 60)
                contract = record.receipt.events[0].contract
            tip = Height(node.height)
            for label, name in (("every event listed", None), ("no event matches", "NoSuchEvent")):
                timings = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    scan = node.get_events(contract, name, Height(0), tip, RESULTS_MAX, BLOCK_TRANSACTIONS_MAX)
                    timings.append(time.perf_counter() - start)
                best, median = min(timings), sorted(timings)[len(timings) // 2]
                print(
                    f"{label}: blocks 0-{tip}, {committed} receipts, {len(scan.events)} events: "
                    f"median {median * 1000:.1f} ms ({median / committed * 1e6:.1f} µs a receipt), "
                    f"best {best * 1000:.1f} ms"
                )
        finally:
            await node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="blocks of transfers to commit")
    parser.add_argument("--batch", type=int, default=250, help="transfers a block")
    parser.add_argument("--repeats", type=int, default=5, help="timed scans of each kind")
    arguments = parser.parse_args()
    asyncio.run(measure(arguments.rounds, arguments.batch, arguments.repeats))


if __name__ == "__main__":
    main()
