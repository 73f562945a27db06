"""How fast `account.transfer` runs through `Executor.execute_block`.

Run ``python -m gusu.execution.bench [count]``. Only execution is timed:
building transactions, signature checks and storage are other layers'
costs. Senders are spread over many accounts and recipients are fresh, as
in a real payment load, so both balance reads miss the block's overlay.
"""

from __future__ import annotations

import hashlib
import sys
import time

from gusu.codec import encode
from gusu.execution.context import BlockContext
from gusu.execution.executor import Executor, TransactionInput
from gusu.execution.limits import ExecutionLimits
from gusu.execution.registry import get_default_registry
from gusu.execution.state import compute_state_key
from gusu.ledger.types import Address, Hash, Height, Transaction

SENDERS = 1_000
CHAIN_ID = "gusu-bench"


def _address(kind: bytes, index: int) -> Address:
    return Address(hashlib.sha256(kind + index.to_bytes(8, "big")).digest()[:20])


def build_transfers(count: int) -> tuple[dict[bytes, bytes], list[TransactionInput]]:
    """Committed state with funded senders, and `count` transfers between accounts."""
    senders = [_address(b"sender", index) for index in range(SENDERS)]
    state = {compute_state_key("account", b"balance/" + sender): encode(10**12) for sender in senders}
    transactions = []
    for index in range(count):
        transaction = Transaction(
            chain_id=CHAIN_ID,
            nonce=index,
            valid_until_height=Height(100),
            sender_public_key=b"\x02" * 33,
            contract="account",
            method="transfer",
            args=encode([_address(b"recipient", index), 1 + index % 1000]),
            signature=bytes(64),
        )
        transaction_id = Hash(hashlib.sha256(index.to_bytes(8, "big")).digest())
        transactions.append(TransactionInput(transaction, transaction_id, senders[index % SENDERS]))
    return state, transactions


def measure_transfer_rate(count: int) -> float:
    """Transfers per second of one `execute_block` over `count` transfers (best of three, wall clock)."""
    return _measure(count)[0]


def _measure(count: int) -> tuple[float, float]:
    """(transfers per wall-clock second, transfers per CPU second), each the best of three runs.

    CPU time is reported too because on a shared machine other processes
    stretch wall-clock time but not the CPU time the executor itself used.
    """
    state, transactions = build_transfers(count)
    executor = Executor(get_default_registry(), ExecutionLimits())
    block = BlockContext(
        chain_id=CHAIN_ID, height=Height(1), timestamp_ms=1_700_000_000_000, proposer=_address(b"proposer", 0)
    )
    best_wall = best_cpu = float("inf")
    for _ in range(3):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        result = executor.execute_block(state, block, transactions)
        best_wall = min(best_wall, time.perf_counter() - wall_started)
        best_cpu = min(best_cpu, time.process_time() - cpu_started)
        if not all(receipt.is_success for receipt in result.receipts):
            raise RuntimeError("a benchmark transfer failed; the benchmark is broken")
    return count / best_wall, count / max(best_cpu, 1e-9)


def main(arguments: list[str]) -> None:
    count = int(arguments[0]) if arguments else 20_000
    wall_rate, cpu_rate = _measure(count)
    print(f"account.transfer through Executor.execute_block, {count} transfers in one block, best of 3:")
    print(f"  wall clock: {wall_rate:,.0f} transfers/s ({1e6 / wall_rate:.1f} µs each)")
    print(f"  CPU time:   {cpu_rate:,.0f} transfers/s ({1e6 / cpu_rate:.1f} µs each)")


if __name__ == "__main__":
    main(sys.argv[1:])
