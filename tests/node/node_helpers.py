"""Shared helpers for node tests: a chain on disk, a dev key, waiting for commits."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest

from gusu.crypto import PrivateKey
from gusu.crypto.keyfile import decrypt_key_file
from gusu.execution import BlockContext, TransactionInput
from gusu.execution.executor import BlockExecution, BlockExecutionResult
from gusu.execution.state import StateReader
from gusu.ledger.chainconfig import ChainConfig, compute_scheduled_change, encode_config_schedule, get_config_at
from gusu.ledger.types import Address, Hash, Height, Receipt
from gusu.node.blocks import CONFIG_SCHEDULE_STATE_KEY, get_config_schedule
from gusu.node.chain import ChainLayout, initialize_chain, load_node
from gusu.node.node import Node
from gusu.node.service import ReceiptRecord
from gusu.sdk.transactions import SignedTransaction, build_transaction

TEST_SCRYPT_N = 2**10
REPOSITORY = Path(__file__).resolve().parents[2]


def make_chain(directory: Path, *, suite_name: str = "sm", api_port: int = 0, workers: int = 0) -> ChainLayout:
    return initialize_chain(
        directory,
        suite_name=suite_name,
        api_port=api_port,
        verifier_workers=workers,
        scrypt_n=TEST_SCRYPT_N,
    )


def load_dev_key(layout: ChainLayout) -> PrivateKey:
    return decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())


async def start_node(layout: ChainLayout) -> Node:
    node = load_node(layout.node_directories[0])
    await node.start()
    return node


def sign_transfer(node: Node, key: PrivateKey, to: bytes, amount: int, *, window: int = 100) -> SignedTransaction:
    return build_transaction(key, node.chain_id, "account", "transfer", [to, amount], Height(node.height + window))


async def wait_for_receipt(node: Node, transaction_id: Hash, timeout_s: float = 10.0) -> ReceiptRecord:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = node.get_receipt(transaction_id)
        if record is not None:
            return record
        await asyncio.sleep(0.02)
    raise AssertionError(f"transaction {transaction_id.hex()} did not commit within {timeout_s} s")


def address_of(node: Node, key: PrivateKey) -> Address:
    return Address(node.suite.compute_address(key.public_key))


def get_free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NodeProcess:
    """A real node process (python -m gusu.api.process) and its endpoints."""

    process: subprocess.Popen[str]
    ready: dict[str, object]
    log_path: Path

    @property
    def rpc_base(self) -> str:
        rpc = str(self.ready["rpc"])
        return rpc.removesuffix("/rpc")


def spawn_node(
    node_directory: Path, *, timeout_s: float = 30.0, extra_env: dict[str, str] | None = None
) -> NodeProcess:
    log_path = node_directory / "test-node.log"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    log = log_path.open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "gusu.api.process", str(node_directory)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=environment,
        cwd=REPOSITORY,
    )
    log.close()
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise AssertionError(f"node exited with {process.returncode}: {log_path.read_text()[-3000:]}")
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("ready"):
            return NodeProcess(process, record, log_path)
    process.kill()
    raise AssertionError(f"node not ready within {timeout_s} s: {log_path.read_text()[-3000:]}")


def stop_processes(processes: Sequence[NodeProcess]) -> None:
    for item in processes:
        if item.process.poll() is None:
            item.process.terminate()
    for item in processes:
        try:
            item.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            item.process.kill()
            item.process.wait()


def schedule_change(
    node: Node,
    monkeypatch: pytest.MonkeyPatch,
    decided_height: Height,
    effective_height: Height,
    change: Callable[[ChainConfig], ChainConfig],
) -> None:
    """Make `node` execute block `decided_height` with the schedule write a passed governance proposal makes:
    `change` of the configuration then in force, from `effective_height` (every node of a chain must get it)."""
    executor = node._executor
    start_block = executor.start_block  # itself patched when a test schedules several changes
    genesis = node._genesis

    class GovernedExecution:
        """The block's execution as `start_block` makes it, ending with the schedule write at `decided_height`."""

        def __init__(self, inner: BlockExecution, state: StateReader, height: Height) -> None:
            self._inner = inner
            self._state = state
            self._height = height

        @property
        def gas_used(self) -> int:
            return self._inner.gas_used

        def is_full(self) -> bool:
            return self._inner.is_full()

        def apply_transaction(self, item: TransactionInput) -> Receipt:
            return self._inner.apply_transaction(item)

        def finish(self) -> BlockExecutionResult:
            result = self._inner.finish()
            if self._height != decided_height:
                return result
            schedule = get_config_schedule(genesis, self._state)
            new = compute_scheduled_change(
                schedule, self._height, effective_height, change(get_config_at(schedule, self._height))
            )
            writes = dict(result.writes)
            writes[CONFIG_SCHEDULE_STATE_KEY] = encode_config_schedule(new)
            return BlockExecutionResult(result.receipts, tuple(sorted(writes.items())))

    def start_with_governance(state: StateReader, block: BlockContext, *, gas_max: int | None = None) -> BlockExecution:
        inner = start_block(state, block, gas_max=gas_max)
        return cast(BlockExecution, GovernedExecution(inner, state, block.height))

    # Every block, built at once, early or re-executed, runs through `Executor.start_block`.
    monkeypatch.setattr(executor, "start_block", start_with_governance)


def assert_recent_answers_match_store(node: Node) -> int:
    """Every query the node answers from its newest blocks in memory (`gusu.node.recent`) equals the store's
    answer, for every height up to the tip and every transaction in them; returns how many blocks were in memory
    (a test asserts some were, or it compared nothing)."""
    from gusu.node.queries import ChainQueries

    tip = node.height
    from_store = ChainQueries(node.suite, lambda: node.store, node._mempool, node._executor, lambda: tip)
    in_memory = node._recent_blocks.block_count
    for height in range(tip + 1):
        at = Height(height)
        assert node.get_block(at) == from_store.get_block(at), height
        assert node.get_block_transactions(at) == from_store.get_block_transactions(at), height
        assert node.get_raw_block(at) == from_store.get_raw_block(at), height
        block = from_store.get_block(at)
        assert block is not None
        for transaction_id in block.transaction_ids:
            assert node.get_transaction(transaction_id) == from_store.get_transaction(transaction_id)
            assert node.get_receipt(transaction_id) == from_store.get_receipt(transaction_id)
            assert node.get_eth_transaction(transaction_id) == from_store.get_eth_transaction(transaction_id)
            assert node.get_eth_receipt(transaction_id) == from_store.get_eth_receipt(transaction_id)
    assert node.get_block(Height(tip + 1)) is None
    return in_memory
