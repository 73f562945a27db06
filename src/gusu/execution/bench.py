"""How fast `account.transfer` runs through `Executor.execute_block`, and the same transfer in a deployed contract.

Run ``python -m gusu.execution.bench [count]``. Only execution is timed:
building transactions, signature checks and storage are other layers'
costs. Senders are spread over many accounts and recipients are fresh, as
in a real payment load, so both balance reads miss the block's overlay.
The second figure runs the same load against `BENCH_TOKEN_SOURCE` (the
token `gusu bench --contract` deploys) through the sandbox.
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time

from gusu.codec import Value, encode
from gusu.execution.context import BlockContext
from gusu.execution.deployment import Instance, compute_code_hash, compute_code_key, compute_instance_key
from gusu.execution.executor import Executor, TransactionInput
from gusu.execution.limits import ExecutionLimits
from gusu.execution.registry import get_default_registry
from gusu.execution.state import compute_state_key
from gusu.ledger.types import Address, Hash, Height, Transaction

SENDERS = 1_000
CHAIN_ID = "gusu-bench"
BENCH_TOKEN = "bench_token"
BENCH_TOKEN_SOURCE = '''"""The benchmark's token: account.transfer's work, as a deployed sandboxed contract."""
from gusu_contract import Map, method, view, require, sender, emit, event, Address

balances = Map("balances")
Transfer = event("Transfer", "sender", "to", "amount")


@method
def mint(holders: list[Address], amount: int) -> None:
    for holder in holders:
        balances.set(holder, balances.get(holder, 0) + amount)


@method
def transfer(to: Address, amount: int) -> None:
    require(amount > 0, "amount must be positive")
    me = sender()
    balance = balances.get(me, 0)
    require(balance >= amount, "insufficient balance")
    if to != me:
        balances.set(me, balance - amount)
        balances.set(to, balances.get(to, 0) + amount)
    emit(Transfer, me, to, amount)


@view
def balance(holder: Address) -> int:
    return balances.get(holder, 0)
'''
"""The token `gusu bench --contract` deploys and loads."""


def _address(kind: bytes, index: int) -> Address:
    return Address(hashlib.sha256(kind + index.to_bytes(8, "big")).digest()[:20])


def build_transfers(count: int) -> tuple[dict[bytes, bytes], list[TransactionInput]]:
    """Committed state with funded senders, and `count` transfers between accounts."""
    senders = [_address(b"sender", index) for index in range(SENDERS)]
    state = {compute_state_key("account", b"balance/" + sender): encode(10**12) for sender in senders}
    transactions = [
        _make_input(
            "account", "transfer", [_address(b"recipient", index), 1 + index % 1000], senders[index % SENDERS], index
        )
        for index in range(count)
    ]
    return state, transactions


def build_deployed_transfers(count: int) -> tuple[dict[bytes, bytes], list[TransactionInput]]:
    """Committed state with the benchmark token deployed and the senders minted, and `count` token transfers."""
    source = BENCH_TOKEN_SOURCE
    code_hash = compute_code_hash("sm", source)
    deployer = _address(b"deployer", 0)
    instance = Instance(BENCH_TOKEN, code_hash, deployer, Height(1), Height(1), 1, len(source.encode()))
    state: dict[bytes, bytes] = {
        compute_instance_key(BENCH_TOKEN): encode(instance.to_value()),  # type: ignore[arg-type]
        compute_code_key(code_hash): source.encode(),
    }
    senders = [_address(b"sender", index) for index in range(SENDERS)]
    executor = Executor(get_default_registry(), ExecutionLimits())
    mints = [
        _make_input(BENCH_TOKEN, "mint", [list(senders[start : start + 200]), 10**12], deployer, index)
        for index, start in enumerate(range(0, SENDERS, 200))
    ]
    result = executor.execute_block(state, _block(), mints)
    if not all(receipt.is_success for receipt in result.receipts):
        raise RuntimeError(f"minting the benchmark token failed: {result.receipts[0].error_message}")
    for key, value in result.writes:
        assert value is not None
        state[key] = value
    transactions = [
        _make_input(BENCH_TOKEN, "transfer", [_address(b"recipient", i), 1 + i % 1000], senders[i % SENDERS], i)
        for i in range(count)
    ]
    return state, transactions


def _make_input(contract: str, method: str, args: list[Value], sender: Address, index: int) -> TransactionInput:
    transaction = Transaction(
        chain_id=CHAIN_ID,
        nonce=index,
        valid_until_height=Height(100),
        sender_public_key=b"\x02" * 33,
        contract=contract,
        method=method,
        args=encode(args),
        signature=bytes(64),
    )
    transaction_id = Hash(hashlib.sha256(contract.encode() + index.to_bytes(8, "big")).digest())
    return TransactionInput(transaction, transaction_id, sender)


def _block() -> BlockContext:
    return BlockContext(
        chain_id=CHAIN_ID, height=Height(1), timestamp_ms=1_700_000_000_000, proposer=_address(b"proposer", 0)
    )


def measure_deployed_transfer_rate(count: int) -> float:
    """Like `measure_transfer_rate`, for the deployed benchmark token."""
    return _measure(count, deployed=True)[0]


def measure_transfer_rate(count: int) -> float:
    """Transfers per second of one `execute_block` over `count` transfers (best of three, wall clock)."""
    return _measure(count)[0]


def _measure(count: int, deployed: bool = False) -> tuple[float, float]:
    """(transfers per wall-clock second, transfers per CPU second), each the best of three runs.

    CPU time is reported too because on a shared machine other processes
    stretch wall-clock time but not the CPU time the executor itself used.
    """
    state, transactions = build_deployed_transfers(count) if deployed else build_transfers(count)
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
    deployed_wall, deployed_cpu = _measure(count, deployed=True)
    print(f"{BENCH_TOKEN}.transfer (deployed, sandboxed) through Executor.execute_block, same load:")
    print(f"  wall clock: {deployed_wall:,.0f} transfers/s ({1e6 / deployed_wall:.1f} µs each)")
    print(f"  CPU time:   {deployed_cpu:,.0f} transfers/s ({1e6 / deployed_cpu:.1f} µs each)")
    print(f"  deployed / native, CPU time per transfer: {cpu_rate / deployed_cpu:.2f}x (best of 3 each)")
    ratios = compute_interleaved_ratios(min(count, 4_000), ROUNDS)
    print(
        f"  interleaved, {ROUNDS} rounds of one native and one deployed block each: ratio median "
        f"{statistics.median(ratios):.2f}x, range {min(ratios):.2f}x to {max(ratios):.2f}x"
    )


ROUNDS = 12
"""Rounds of the interleaved comparison: other load on a shared machine hits both sides of a round alike."""


def compute_interleaved_ratios(count: int, rounds: int) -> list[float]:
    """Per round, deployed CPU time over native CPU time for one block of `count` transfers each."""
    sides = []
    for builder in (build_transfers, build_deployed_transfers):
        state, transactions = builder(count)
        executor = Executor(get_default_registry(), ExecutionLimits())
        executor.execute_block(state, _block(), transactions)  # warm: caches, compiled code
        sides.append((executor, state, transactions))
    ratios = []
    for _ in range(rounds):
        seconds = []
        for executor, state, transactions in sides:
            started = time.process_time()
            executor.execute_block(state, _block(), transactions)
            seconds.append(max(time.process_time() - started, 1e-9))
        ratios.append(seconds[1] / seconds[0])
    return ratios


if __name__ == "__main__":
    main(sys.argv[1:])
