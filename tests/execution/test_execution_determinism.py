"""Same inputs, same outputs: receipts and writes never depend on anything but the inputs."""

from __future__ import annotations

import hashlib

from execution_contracts import Probe
from execution_helpers import (
    ALICE_KEY,
    BOB,
    BOB_KEY,
    CAROL,
    Chain,
    MemoryState,
    get_next_block_for,
    make_genesis,
    make_transaction,
)

from gusu.execution import ExecutionLimits, Executor, TransactionInput, get_default_registry
from gusu.ledger.types import encode_receipt


def build_block() -> list[TransactionInput]:
    return [
        make_transaction("account", "transfer", [BOB, 10], nonce=1),
        make_transaction("account", "transfer", [CAROL, 3], sender=BOB_KEY, nonce=2),
        make_transaction("account", "transfer", [CAROL, 10**9], nonce=3),
        make_transaction("evidence", "record", [hashlib.sha256(b"d").digest(), "m"], nonce=4),
        make_transaction("probe", "count", [50], nonce=5),
        make_transaction("probe", "spin", [], nonce=6),
        make_transaction("probe", "store_then_fail", [b"x"], nonce=7),
        make_transaction("probe", "fail_with_object", [], nonce=8),
        make_transaction("account", "mint", [CAROL, 7], sender=ALICE_KEY, nonce=9),
    ]


def run_once() -> tuple[list[bytes], tuple[tuple[bytes, bytes | None], ...], tuple[tuple[bytes, bytes], ...]]:
    registry = get_default_registry()
    registry.register(Probe)
    executor = Executor(registry, ExecutionLimits(gas_per_transaction_max=300_000))
    genesis_writes = executor.compute_genesis_writes(make_genesis())
    state = MemoryState(genesis_writes)
    result = executor.execute_block(state, get_next_block_for(1), build_block())
    return [encode_receipt(receipt) for receipt in result.receipts], result.writes, genesis_writes


def test_the_same_block_twice_gives_identical_receipts_and_writes() -> None:
    first = run_once()
    second = run_once()
    assert first == second
    receipts, writes, _ = first
    assert len(receipts) == 9
    assert writes


def test_genesis_writes_are_sorted_and_stable() -> None:
    _, _, genesis_writes = run_once()
    keys = [key for key, _ in genesis_writes]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_a_block_reads_each_committed_key_once() -> None:
    chain = Chain.create()
    chain.state.reads = 0
    chain.run_block(*(make_transaction("account", "transfer", [BOB, 1]) for _ in range(20)))
    # Alice's and Bob's balances, the governance gate and Alice's account record (the permission
    # check), each read from committed state once, then cached.
    assert chain.state.reads == 4
