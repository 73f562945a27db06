"""Micro-benchmark of the pool's hot path: admit, select, commit.

Run ``python -m gusu.mempool.bench``. It measures the pool alone, with
transactions built beforehand (no decoding, hashing or signature checks),
so the figure is the pool's share of a node's per-transaction budget:
at 6,000 transactions a second the whole node has about 166 µs for each.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import time
from dataclasses import dataclass
from typing import cast

from gusu.ledger.types import Address, Hash, Height, Transaction
from gusu.mempool.pool import Mempool, MempoolLimits, PoolTransaction

CHAIN_ID = "gusu-bench"
RAW_SIZE = 220
"""About the size of an encoded token transfer."""


@dataclass(frozen=True, slots=True)
class BenchResult:
    transaction_count: int
    sender_count: int
    block_transactions_max: int
    admit_us: float
    """validate_admission + add, per transaction."""
    select_us: float
    commit_us: float
    blocks: int

    @property
    def total_us(self) -> float:
        return self.admit_us + self.select_us + self.commit_us

    @property
    def transactions_per_second(self) -> float:
        return 1_000_000 / self.total_us


def make_transactions(count: int, sender_count: int, valid_until_height: Height) -> list[PoolTransaction]:
    """`count` distinct pool entries spread evenly over `sender_count` senders."""
    raw = bytes(RAW_SIZE)
    keys = [hashlib.sha256(b"key%d" % number).digest() + b"\x04" for number in range(sender_count)]
    addresses = [Address(key[:20]) for key in keys]
    entries = []
    for number in range(count):
        sender = number % sender_count
        tx = Transaction(
            chain_id=CHAIN_ID,
            nonce=number,
            valid_until_height=valid_until_height,
            sender_public_key=keys[sender],
            contract="account",
            method="transfer",
            args=b"",
            signature=bytes(64),
        )
        transaction_id = Hash(hashlib.sha256(number.to_bytes(8, "big")).digest())
        entries.append(PoolTransaction(tx, transaction_id, addresses[sender], raw))
    return entries


def run_bench(
    transaction_count: int = 100_000, sender_count: int = 1_000, block_transactions_max: int = 5_000
) -> BenchResult:
    """Admit `transaction_count` transactions, then drain the pool block by block."""
    limits = MempoolLimits(transactions_max=max(transaction_count, 1))
    pool = Mempool(limits, CHAIN_ID)
    next_height = Height(1)
    entries = make_transactions(transaction_count, sender_count, Height(next_height + 500))
    # Building the inputs allocated a lot; collect now so that collection is
    # not billed to the pool.
    gc.collect()

    started = time.perf_counter()
    for entry in entries:
        pool.validate_admission(cast(Transaction, entry.transaction), len(entry.raw), entry.transaction_id, next_height)
        pool.add(entry, next_height)
    admit_s = time.perf_counter() - started

    select_s = commit_s = 0.0
    blocks = 0
    while pool.transaction_count:
        started = time.perf_counter()
        chosen = pool.select(block_transactions_max, 8 * 1024 * 1024, next_height)
        selected_at = time.perf_counter()
        pool.on_block_committed(next_height, [entry.transaction_id for entry in chosen])
        committed_at = time.perf_counter()
        select_s += selected_at - started
        commit_s += committed_at - selected_at
        next_height = Height(next_height + 1)
        blocks += 1

    per_tx = 1_000_000 / max(transaction_count, 1)
    return BenchResult(
        transaction_count=transaction_count,
        sender_count=sender_count,
        block_transactions_max=block_transactions_max,
        admit_us=admit_s * per_tx,
        select_us=select_s * per_tx,
        commit_us=commit_s * per_tx,
        blocks=blocks,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=1_000)
    parser.add_argument("--block", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    # The best of a few runs: the others mostly measure the machine's noise.
    best = min(
        (run_bench(arguments.transactions, arguments.senders, arguments.block) for _ in range(arguments.repeat)),
        key=lambda result: result.total_us,
    )
    print(
        f"mempool: {best.transaction_count} transactions from {best.sender_count} senders, "
        f"blocks of {best.block_transactions_max} ({best.blocks} blocks)\n"
        f"  admit (validate_admission + add) {best.admit_us:6.2f} µs/tx\n"
        f"  select                           {best.select_us:6.2f} µs/tx\n"
        f"  commit (on_block_committed)      {best.commit_us:6.2f} µs/tx\n"
        f"  total                            {best.total_us:6.2f} µs/tx = "
        f"{best.transactions_per_second:,.0f} tx/s for the pool alone"
    )


if __name__ == "__main__":
    main()
