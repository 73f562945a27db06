"""End-to-end with real node processes: kill -9 under load, restart, nothing acknowledged is lost."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from node_helpers import (
    NodeProcess,
    get_free_port,
    load_dev_key,
    make_chain,
    spawn_node,
    stop_processes,
)

from gusu.crypto import PrivateKey
from gusu.errors import RemoteError
from gusu.ledger.types import Hash, Height
from gusu.sdk import Client
from gusu.sdk.transactions import build_transaction

pytestmark = pytest.mark.e2e

RECIPIENT = b"\x22" * 20


class LoadGenerator:
    """Sends batches of signed transfers until stopped; remembers what the node acknowledged."""

    def __init__(self, url: str, key: PrivateKey, chain_id: str, seed: int) -> None:
        self._client = Client(url, timeout_s=5.0, retries_max=0)
        self._key = key
        self._chain_id = chain_id
        self._random = random.Random(seed)
        self.acknowledged: list[Hash] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                height = self._client.block_number()
                batch = [
                    build_transaction(
                        self._key,
                        self._chain_id,
                        "account",
                        "transfer",
                        [RECIPIENT, self._random.randint(1, 1000)],
                        Height(height + 200),
                    )
                    for _ in range(20)
                ]
                results = self._client.send_raw_batch([item.raw for item in batch])
            except Exception:
                # The node was killed mid-request: whatever it did not answer was never acknowledged.
                self.errors += 1
                time.sleep(0.05)
                continue
            for item, result in zip(batch, results, strict=True):
                if not isinstance(result, RemoteError):
                    assert result == item.transaction_id
                    self.acknowledged.append(item.transaction_id)


def _wait_all_committed(client: Client, ids: list[Hash], timeout_s: float) -> dict[Hash, int]:
    deadline = time.monotonic() + timeout_s
    heights: dict[Hash, int] = {}
    remaining = list(ids)
    while remaining and time.monotonic() < deadline:
        still = []
        for transaction_id in remaining:
            try:
                heights[transaction_id] = int(client.get_receipt(transaction_id).height)
            except RemoteError as error:
                assert error.code == "not_found", error
                still.append(transaction_id)
        remaining = still
        if remaining:
            time.sleep(0.2)
    assert not remaining, f"{len(remaining)} acknowledged transactions never committed, e.g. {remaining[0].hex()}"
    return heights


def _record_block_hashes(client: Client, block_hashes: dict[int, bytes]) -> None:
    """Note the hash of every committed block not yet noted: each must survive every later crash."""
    tip = int(client.block_number())
    for height in range(len(block_hashes), tip + 1):
        block_hashes[height] = client.get_block(height).block_hash


def test_kill_9_under_load_loses_no_acknowledged_transaction(tmp_path: Path) -> None:
    port = get_free_port()
    layout = make_chain(tmp_path / "chain", api_port=port, workers=1)
    node_directory = layout.node_directories[0]
    key = load_dev_key(layout)
    url = f"http://127.0.0.1:{port}"
    seed = 20261127
    chooser = random.Random(seed)
    acknowledged: list[Hash] = []
    block_hashes: dict[int, bytes] = {}
    processes: list[NodeProcess] = []
    try:
        for cycle in range(3):
            node = spawn_node(node_directory)
            processes.append(node)
            client = Client(url, timeout_s=5.0)
            # Blocks seen before a crash must be the same blocks after it.
            for height, block_hash in block_hashes.items():
                assert client.get_block(height).block_hash == block_hash, f"block {height} changed after a crash"
            load = LoadGenerator(url, key, layout.genesis.chain_id, seed + cycle)
            load.start()
            deadline = time.monotonic() + 20
            while not load.acknowledged and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(chooser.random() * 1.5)
            _record_block_hashes(client, block_hashes)
            node.process.kill()  # SIGKILL at a random moment under load
            node.process.wait()
            load.stop()
            assert load.acknowledged, f"cycle {cycle}: the node acknowledged nothing before the kill"
            acknowledged.extend(load.acknowledged)
            client.close()

        node = spawn_node(node_directory)
        processes.append(node)
        client = Client(url, timeout_s=5.0)
        heights = _wait_all_committed(client, acknowledged, timeout_s=30.0)
        # Blocks reported before the last crash are unchanged too; and the check saw blocks from every cycle.
        assert len(block_hashes) >= 2, f"only blocks {sorted(block_hashes)} were seen before the crashes"
        for height, block_hash in block_hashes.items():
            assert client.get_block(height).block_hash == block_hash, f"block {height} changed after a crash"
        assert len(set(acknowledged)) == len(acknowledged)
        tip = int(client.block_number())
        assert max(heights.values()) <= tip
        # Every block links to its parent: the store is consistent after three crashes.
        previous = client.get_block(0)
        for height in range(1, tip + 1):
            block = client.get_block(height)
            assert block.header.parent_hash == previous.block_hash
            assert block.certificate is not None
            previous = block
        client.close()
    finally:
        stop_processes(processes)


def test_sigterm_stops_cleanly_and_restart_keeps_the_chain(tmp_path: Path) -> None:
    port = get_free_port()
    layout = make_chain(tmp_path / "chain", api_port=port)
    node_directory = layout.node_directories[0]
    key = load_dev_key(layout)
    node = spawn_node(node_directory)
    try:
        client = Client(f"http://127.0.0.1:{port}")
        receipt = client.send_and_wait(key, "account", "transfer", [RECIPIENT, 7])
        assert receipt.is_success
        before = client.status()
        client.close()
        node.process.terminate()
        assert node.process.wait(timeout=15) == 0
        assert not (node_directory / "node.pid").exists()
        node = spawn_node(node_directory)
        client = Client(f"http://127.0.0.1:{port}")
        after = client.status()
        assert after.height == before.height
        assert client.call("account", "balance", [RECIPIENT]) == 7
        client.close()
    finally:
        stop_processes([node])
