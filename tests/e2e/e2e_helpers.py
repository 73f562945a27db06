"""Shared machinery for the end-to-end fault tests: real node processes of a 4-validator chain.

* `create_network` lays out a chain of four organisations (ecdsa suite, one
  validator each, no verifier worker processes) whose nodes listen on
  loopback ports checked to be free; `NodeSpec` lets a test place nodes
  elsewhere (the partition test puts each in a network namespace).
* `E2ENetwork` runs ``python -m gusu.api.process NODE_DIR`` per node and
  kills (SIGKILL), pauses (SIGSTOP), resumes and restarts them;
  `running_network` is the fixture's body: create, spawn all, wait until
  every node reports (``gusu_peers``) a connection to every other, and
  always kill everything at the end. It does not wait for a block: the
  chain makes blocks only when there are transactions.
* `LoadGenerator` is a thread that submits signed transfers round-robin to
  the live nodes and records every id a node acknowledged. Since blocks
  come only from transactions, every "the chain commits / halts / resumes"
  check runs under its load, and says so with transactions:
  `assert_not_committed` (submitted, acknowledged, yet no receipt) and
  `wait_committed` (every one has a receipt on every node asked).
* `check_network` is the final verdict on every live node: every
  acknowledged id has a receipt, every height up to the common minimum has
  one block hash everywhere (no fork), blocks link to their parents, and
  each block's commit certificate verifies with more than 2/3 of the power.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from gusu.consensus.certificate import verify_commit_certificate
from gusu.consensus.raft_messages import verify_raft_certificate
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import ClientError, RemoteError
from gusu.ledger.genesis import CONSENSUS_RAFT, CONSENSUS_TENDERMINT
from gusu.ledger.types import Hash, Height
from gusu.node.network_init import NetworkLayout, initialize_network
from gusu.sdk import Client
from gusu.sdk.transactions import build_transaction

REPOSITORY = Path(__file__).resolve().parents[2]
E2E_SCRYPT_N = 2**10
NODE_COUNT = 4
SUITE_NAME = "ecdsa"
RECIPIENT = b"\x5e" * 20
READY_TIMEOUT_S = 30.0
STDOUT_FILE_NAME = "e2e-stdout.log"
STDERR_FILE_NAME = "e2e-node.log"


# --- ports and layout ---------------------------------------------------------------------


def _is_port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_port_range(count: int, *, host: str = "127.0.0.1", rng: random.Random | None = None) -> int:
    """The first of `count` consecutive ports that are free now (below the ephemeral range when possible)."""
    chooser = rng or random.Random()
    for _ in range(200):
        base = chooser.randrange(20_000, 32_000 - count)
        if all(_is_port_free(host, base + offset) for offset in range(count)):
            return base
    raise AssertionError(f"no {count} consecutive free ports found on {host}")


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """Where one node runs: a command prefix (e.g. ``ip netns exec NS``) and its hosts."""

    command_prefix: tuple[str, ...] = ()
    api_host: str = "127.0.0.1"
    p2p_host: str = "127.0.0.1"


def _rewrite_hosts(layout: NetworkLayout, specs: Sequence[NodeSpec]) -> None:
    """Point every node's [api] host, [p2p] listen_host and peer list at the hosts of `specs`."""
    endpoints = [f"{spec.p2p_host}:{node.p2p_port}" for spec, node in zip(specs, layout.nodes, strict=True)]
    for index, (spec, node) in enumerate(zip(specs, layout.nodes, strict=True)):
        path = node.directory / "config.toml"
        lines = []
        section = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                section = stripped
            if section == "[api]" and stripped.startswith("host ="):
                line = f'host = "{spec.api_host}"'
            elif section == "[p2p]" and stripped.startswith("listen_host ="):
                line = f'listen_host = "{spec.p2p_host}"'
            elif section == "[p2p]" and stripped.startswith("peers ="):
                peers = [endpoint for other, endpoint in enumerate(endpoints) if other != index]
                line = "peers = " + json.dumps(peers)
            lines.append(line)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def create_network(
    directory: Path, specs: Sequence[NodeSpec] | None = None, consensus: str = CONSENSUS_TENDERMINT
) -> NetworkLayout:
    """A chain of NODE_COUNT organisations with one validator (power 1) each, ready to spawn."""
    specs = list(specs) if specs is not None else [NodeSpec()] * NODE_COUNT
    assert len(specs) == NODE_COUNT
    base = find_free_port_range(2 * NODE_COUNT)
    layout = initialize_network(
        directory,
        organizations=NODE_COUNT,
        suite_name=SUITE_NAME,
        scrypt_n=E2E_SCRYPT_N,
        base_api_port=base,
        base_p2p_port=base + NODE_COUNT,
        verifier_workers=0,
        consensus=consensus,
    )
    if any(spec != NodeSpec() for spec in specs):
        _rewrite_hosts(layout, specs)
    return layout


def load_dev_key(layout: NetworkLayout) -> PrivateKey:
    return decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())


# --- processes ------------------------------------------------------------------------------


@dataclass
class NodeHandle:
    """One validator's process (if running) and where to reach its API."""

    index: int
    directory: Path
    api_url: str
    spec: NodeSpec
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False
    starts: int = 0
    ready: dict[str, object] | None = None
    """The ready record the running process printed (its height at start, its pid, its URLs)."""

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def is_live(self) -> bool:
        """Running and not stopped: it should answer requests."""
        return self.is_running and not self.paused

    @property
    def stdout_path(self) -> Path:
        return self.directory / STDOUT_FILE_NAME

    @property
    def log_path(self) -> Path:
        return self.directory / STDERR_FILE_NAME

    def client(self, timeout_s: float = 5.0) -> Client:
        return Client(self.api_url, timeout_s=timeout_s, retries_max=0)

    def log_tail(self, characters: int = 2_000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-characters:]
        except OSError:
            return "(no log)"


class E2ENetwork:
    """The processes of one chain's nodes. Every method is called from the test's thread;
    `live_indexes` is also read by the load generator's thread."""

    def __init__(self, layout: NetworkLayout, specs: Sequence[NodeSpec] | None = None) -> None:
        self.layout = layout
        specs = list(specs) if specs is not None else [NodeSpec()] * len(layout.nodes)
        self.nodes = [
            NodeHandle(index, node.directory, f"http://{spec.api_host}:{node.api_port}", spec)
            for index, (node, spec) in enumerate(zip(layout.nodes, specs, strict=True))
        ]
        self.suite = get_suite(layout.genesis.suite)
        self.validator_set = ValidatorSet.from_genesis(layout.genesis)
        self.is_raft = layout.genesis.consensus == CONSENSUS_RAFT
        self.raft_heights: Callable[[int], bool] | None = None
        """If the chain switches engines: whether Raft certified a height (else every height is genesis's engine)."""
        self.total_power = sum(validator.power for validator in layout.genesis.validators)
        self.dev_key = load_dev_key(layout)

    @property
    def chain_id(self) -> str:
        return self.layout.genesis.chain_id

    # --- lifecycle

    def spawn(self, index: int) -> None:
        """Start node `index` without waiting for it (see `wait_ready`)."""
        node = self.nodes[index]
        assert not node.is_running, f"node{index} is already running"
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with node.stdout_path.open("ab") as stdout, node.log_path.open("ab") as stderr:
            node.process = subprocess.Popen(
                [*node.spec.command_prefix, sys.executable, "-m", "gusu.api.process", str(node.directory)],
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                env=environment,
                cwd=REPOSITORY,
            )
        node.paused = False
        node.ready = None
        node.starts += 1

    def wait_ready(self, index: int, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Until node `index` printed its ready record (its API accepts requests)."""
        node = self.nodes[index]
        assert node.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in node.stdout_path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and record.get("ready") and record.get("pid") == node.process.pid:
                    node.ready = record
                    return
            if node.process.poll() is not None:
                raise AssertionError(f"node{index} exited with {node.process.returncode}: {node.log_tail()}")
            time.sleep(0.05)
        raise AssertionError(f"node{index} not ready within {timeout_s} s: {node.log_tail()}")

    def start(self, index: int, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Spawn node `index` and wait until its API answers; the seconds that took."""
        started = time.monotonic()
        self.spawn(index)
        self.wait_ready(index, timeout_s)
        return time.monotonic() - started

    def start_all(self) -> None:
        for index in range(len(self.nodes)):
            self.spawn(index)
        for index in range(len(self.nodes)):
            self.wait_ready(index)

    def kill(self, index: int) -> None:
        """kill -9: no chance to flush or say goodbye."""
        node = self.nodes[index]
        assert node.process is not None and node.is_running, f"node{index} is not running"
        node.process.kill()
        node.process.wait(timeout=10)
        node.paused = False

    def pause(self, index: int) -> None:
        node = self.nodes[index]
        assert node.process is not None and node.is_running
        node.paused = True  # first, so that the load generator stops picking it
        node.process.send_signal(signal.SIGSTOP)

    def resume(self, index: int) -> None:
        node = self.nodes[index]
        assert node.process is not None
        node.process.send_signal(signal.SIGCONT)
        node.paused = False

    def stop_all(self) -> None:
        """Kill every process this network started; safe to call more than once."""
        for node in self.nodes:
            process = node.process
            if process is None or process.poll() is not None:
                continue
            try:
                process.send_signal(signal.SIGCONT)  # a stopped process only dies once resumed
                process.kill()
            except ProcessLookupError:
                pass
        for node in self.nodes:
            if node.process is not None:
                with suppress(subprocess.TimeoutExpired):
                    node.process.wait(timeout=10)
            node.paused = False

    # --- observation

    def live_indexes(self) -> list[int]:
        return [node.index for node in self.nodes if node.is_live]

    def height(self, index: int) -> int:
        with self.nodes[index].client(timeout_s=3.0) as client:
            return int(client.block_number())

    def heights(self, indexes: Sequence[int] | None = None) -> dict[int, int]:
        return {index: self.height(index) for index in (self.live_indexes() if indexes is None else indexes)}

    def try_height(self, index: int) -> int | None:
        try:
            return self.height(index)
        except Exception:
            return None

    def peers(self, index: int) -> list[int]:
        """The nodes that node `index` reports being connected to (gusu_peers), by index."""
        by_address = {node.address: node_index for node_index, node in enumerate(self.layout.nodes)}
        with self.nodes[index].client(timeout_s=3.0) as client:
            reported = client.peers()
        assert all(peer.address in by_address for peer in reported), f"node{index} lists a peer outside the chain"
        return sorted(by_address[peer.address] for peer in reported)

    def try_peers(self, index: int) -> list[int] | None:
        try:
            return self.peers(index)
        except Exception:
            return None

    def describe(self) -> str:
        """Heights, peers and log tails: what a failure message needs."""
        parts = []
        for node in self.nodes:
            state = "paused" if node.paused else "running" if node.is_running else "down"
            height = self.try_height(node.index) if node.is_live else None
            peers = self.try_peers(node.index) if node.is_live else None
            parts.append(f"--- node{node.index} ({state}, height {height}, peers {peers}):\n{node.log_tail(1_500)}")
        return "\n".join(parts)

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Poll `condition` until true; the seconds it took. AssertionError naming `what` otherwise."""
        started = time.monotonic()
        deadline = started + timeout_s
        while True:
            try:
                if condition():
                    return time.monotonic() - started
            except (OSError, ClientError):
                pass  # a node between restarts; try again
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what}: not within {timeout_s} s\n{self.describe()}")
            time.sleep(0.1)

    def wait_connected(self, indexes: Sequence[int], timeout_s: float) -> float:
        """Until each node of `indexes` reports a connection to every other one of them."""
        chosen = list(indexes)

        def connected() -> bool:
            return all(set(chosen) - {index} <= set(self.peers(index)) for index in chosen)

        return self.wait_until(connected, timeout_s, f"nodes {chosen} connecting to each other")

    def wait_heights_at_least(self, indexes: Sequence[int], height: int, timeout_s: float) -> float:
        return self.wait_until(
            lambda: all(self.height(index) >= height for index in indexes),
            timeout_s,
            f"nodes {list(indexes)} reaching height {height}",
        )

    def wait_caught_up(self, index: int, others: Sequence[int], timeout_s: float) -> float:
        """Until node `index` is at least as high as the lowest of `others` (the chain keeps moving)."""

        def caught_up() -> bool:
            return self.height(index) >= min(self.height(other) for other in others)

        return self.wait_until(caught_up, timeout_s, f"node{index} catching up with nodes {list(others)}")


@contextmanager
def running_network(
    directory: Path,
    specs: Sequence[NodeSpec] | None = None,
    *,
    connect_timeout_s: float = 30.0,
    consensus: str = CONSENSUS_TENDERMINT,
) -> Iterator[E2ENetwork]:
    """A 4-validator chain with every node serving and connected to every other; every process is killed on exit.

    No block is waited for: the chain makes none until it is sent transactions.
    """
    network = E2ENetwork(create_network(directory, specs, consensus), specs)
    try:
        network.start_all()
        network.wait_connected(range(len(network.nodes)), connect_timeout_s)
        yield network
    finally:
        network.stop_all()


# --- load ----------------------------------------------------------------------------------


class LoadGenerator:
    """A thread that sends batches of signed transfers round-robin to the live nodes.

    Only ids a node answered with are recorded (with the node that
    acknowledged them): a request cut by a kill acknowledged nothing.
    """

    def __init__(
        self,
        network: E2ENetwork,
        *,
        batch_size: int = 5,
        pause_s: float = 0.05,
        validity_blocks: int = 400,
        seed: int = 0,
    ) -> None:
        self._network = network
        self._batch_size = batch_size
        self._pause_s = pause_s
        self._validity_blocks = validity_blocks
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._acknowledged: dict[Hash, int] = {}
        self.refused = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="e2e-load", daemon=True)
        self._clients: dict[int, Client] = {}
        self._height = 0

    def __enter__(self) -> LoadGenerator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "the load generator did not stop"
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    @property
    def acknowledged(self) -> dict[Hash, int]:
        """Acknowledged transaction id -> index of the node that acknowledged it."""
        with self._lock:
            return dict(self._acknowledged)

    def acknowledged_since(self, before: Collection[Hash], *, by: Collection[int] | None = None) -> list[Hash]:
        """Ids acknowledged that are not in `before` (a snapshot of `acknowledged`), optionally only by nodes `by`."""
        return [
            transaction_id
            for transaction_id, index in self.acknowledged.items()
            if transaction_id not in before and (by is None or index in by)
        ]

    def count(self, by: int | None = None) -> int:
        with self._lock:
            if by is None:
                return len(self._acknowledged)
            return sum(1 for index in self._acknowledged.values() if index == by)

    def wait_for(self, count: int, timeout_s: float, *, by: int | None = None) -> None:
        """Until `count` more transactions (acknowledged by node `by`, if given) were acknowledged."""
        target = self.count(by) + count
        deadline = time.monotonic() + timeout_s
        while self.count(by) < target:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"load: fewer than {count} new acknowledgements{'' if by is None else f' by node{by}'} in "
                    f"{timeout_s} s (refused {self.refused}, failures {self.failures})"
                )
            time.sleep(0.02)

    def _client(self, index: int) -> Client:
        client = self._clients.get(index)
        if client is None:
            client = self._network.nodes[index].client(timeout_s=3.0)
            self._clients[index] = client
        return client

    def _drop_client(self, index: int) -> None:
        client = self._clients.pop(index, None)
        if client is not None:
            client.close()

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            live = self._network.live_indexes()
            if not live:
                time.sleep(0.05)
                continue
            index = live[turn % len(live)]
            turn += 1
            try:
                client = self._client(index)
                if turn % 20 == 1 or self._height == 0:
                    self._height = max(self._height, int(client.block_number()))
                batch = [
                    build_transaction(
                        self._network.dev_key,
                        self._network.chain_id,
                        "account",
                        "transfer",
                        [RECIPIENT, self._random.randint(1, 1_000)],
                        Height(self._height + self._validity_blocks),
                    )
                    for _ in range(self._batch_size)
                ]
                results = client.send_raw_batch([item.raw for item in batch])
            except Exception:
                # Killed or stopped mid-request: nothing of this batch was acknowledged.
                self.failures += 1
                self._drop_client(index)
                time.sleep(0.05)
                continue
            with self._lock:
                for item, result in zip(batch, results, strict=True):
                    if isinstance(result, RemoteError):
                        self.refused += 1
                    else:
                        assert result == item.transaction_id, "a node acknowledged another id than the one sent"
                        self._acknowledged[item.transaction_id] = index
            self._stop.wait(self._pause_s)


# --- the final check ---------------------------------------------------------------------


@dataclass
class CheckSummary:
    nodes: list[int]
    common_height: int
    heights: dict[int, int]
    acknowledged: int
    committed_transactions: int
    seconds: float
    receipt_heights: dict[Hash, int] = field(default_factory=dict)


def _wait_receipts(client: Client, ids: Sequence[Hash], deadline: float) -> tuple[dict[Hash, tuple[int, Hash]], int]:
    """Receipt (height, block hash) of each id; also how many were still missing at the deadline."""
    found: dict[Hash, tuple[int, Hash]] = {}
    remaining = list(ids)
    while True:
        still = []
        for transaction_id in remaining:
            try:
                receipt = client.get_receipt(transaction_id)
            except RemoteError as error:
                if error.code != "not_found":
                    raise
                still.append(transaction_id)
            else:
                found[transaction_id] = (int(receipt.height), receipt.block_hash)
        remaining = still
        if not remaining or time.monotonic() >= deadline:
            return found, len(remaining)
        time.sleep(0.25)


def assert_not_committed(network: E2ENetwork, indexes: Sequence[int], ids: Sequence[Hash]) -> None:
    """None of `ids` has a receipt on any node of `indexes`: submitted and acknowledged, yet not committed."""
    assert ids, "no transaction to check: the test must submit some"
    for index in indexes:
        with network.nodes[index].client() as client:
            for transaction_id in ids:
                try:
                    receipt = client.get_receipt(transaction_id)
                except RemoteError as error:
                    assert error.code == "not_found", error
                    continue
                raise AssertionError(
                    f"node{index} committed {transaction_id.hex()} at height {receipt.height}, while it should not "
                    f"commit anything\n{network.describe()}"
                )


def wait_committed(network: E2ENetwork, indexes: Sequence[int], ids: Sequence[Hash], timeout_s: float) -> float:
    """Until every one of `ids` has a receipt on every node of `indexes`; the seconds it took."""
    assert ids, "no transaction to wait for: the test must submit some"
    started = time.monotonic()
    deadline = started + timeout_s
    for index in indexes:
        with network.nodes[index].client(timeout_s=10.0) as client:
            _, missing = _wait_receipts(client, ids, deadline)
        if missing:
            raise AssertionError(
                f"node{index}: {missing} of {len(ids)} transactions have no receipt after {timeout_s} s\n"
                f"{network.describe()}"
            )
    return time.monotonic() - started


def _read_chain(network: E2ENetwork, index: int, up_to: int) -> list[tuple[Hash, Hash, tuple[Hash, ...]]]:
    """(block hash, parent hash, transaction ids) of heights 1..up_to on node `index`; certificates checked."""
    blocks = []
    with network.nodes[index].client(timeout_s=10.0) as client:
        for height in range(1, up_to + 1):
            block = client.get_block(height)
            where = f"node{index} block {height}"
            assert int(block.height) == height, where
            certificate = block.certificate
            assert certificate is not None, f"{where} has no commit certificate"
            assert certificate.block_hash == block.block_hash and int(certificate.height) == height, where
            is_raft = network.is_raft if network.raft_heights is None else network.raft_heights(height)
            if is_raft:
                # One leader signature with the entry's term (docs/consensus.md, "Raft").
                verify_raft_certificate(network.suite, network.chain_id, network.validator_set, certificate)
                blocks.append((block.block_hash, block.header.parent_hash, block.transaction_ids))
                continue
            signers = {entry.validator for entry in certificate.signatures}
            power = sum(network.validator_set.get_power(address) for address in signers)
            assert 3 * power > 2 * network.total_power, (
                f"{where}: certificate power {power} of {network.total_power} is not more than 2/3"
            )
            verify_commit_certificate(
                network.suite,
                network.chain_id,
                network.validator_set,
                certificate,
                expected_block_hash=block.block_hash,
            )
            blocks.append((block.block_hash, block.header.parent_hash, block.transaction_ids))
    return blocks


def check_network(
    network: E2ENetwork,
    acknowledged: Mapping[Hash, int] | Sequence[Hash],
    *,
    indexes: Sequence[int] | None = None,
    timeout_s: float = 60.0,
) -> CheckSummary:
    """Assert, on every live node (or `indexes`): no acknowledged transaction lost, no fork, and
    every block up to the common height certified by more than 2/3 of the voting power."""
    started = time.monotonic()
    nodes = list(network.live_indexes() if indexes is None else indexes)
    assert nodes, "no live node to check"
    ids = list(acknowledged)
    deadline = started + timeout_s
    receipts: dict[int, dict[Hash, tuple[int, Hash]]] = {}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = {}
        for index in nodes:
            client = network.nodes[index].client(timeout_s=10.0)
            futures[index] = (client, pool.submit(_wait_receipts, client, ids, deadline))
        for index, (client, future) in futures.items():
            found, missing = future.result()
            client.close()
            receipts[index] = found
            if missing:
                lost = [transaction_id for transaction_id in ids if transaction_id not in found]
                by = acknowledged[lost[0]] if isinstance(acknowledged, Mapping) else None
                raise AssertionError(
                    f"node{index}: {missing} of {len(ids)} acknowledged transactions have no receipt after "
                    f"{timeout_s} s, e.g. {lost[0].hex()} (acknowledged by node{by})\n{network.describe()}"
                )
        heights = {index: network.height(index) for index in nodes}
        common = min(heights.values())
        needed = max((height for height, _ in receipts[nodes[0]].values()), default=0)
        assert common >= needed, f"a receipt names height {needed} above the common height {common}"
        chains = dict(zip(nodes, pool.map(lambda index: _read_chain(network, index, common), nodes), strict=True))
    reference = chains[nodes[0]]
    for index in nodes[1:]:
        for height, (ours, theirs) in enumerate(zip(reference, chains[index], strict=True), start=1):
            assert ours[0] == theirs[0], (
                f"fork at height {height}: node{nodes[0]} has {ours[0].hex()}, node{index} has {theirs[0].hex()}"
            )
    with network.nodes[nodes[0]].client() as client:
        previous = client.get_block(0).block_hash
    committed: dict[Hash, int] = {}
    for height, (block_hash, parent_hash, transaction_ids) in enumerate(reference, start=1):
        assert parent_hash == previous, f"block {height} does not link to block {height - 1}"
        previous = block_hash
        for transaction_id in transaction_ids:
            assert transaction_id not in committed, (
                f"transaction {transaction_id.hex()} committed twice (heights {committed[transaction_id]}, {height})"
            )
            committed[transaction_id] = height
    for index in nodes:
        for transaction_id, (height, block_hash) in receipts[index].items():
            assert committed.get(transaction_id) == height, (
                f"node{index}: the receipt of {transaction_id.hex()} names height {height}, the chain says "
                f"{committed.get(transaction_id)}"
            )
            assert block_hash == reference[height - 1][0], f"node{index}: a receipt names another block hash"
    return CheckSummary(
        nodes=nodes,
        common_height=common,
        heights=heights,
        acknowledged=len(ids),
        committed_transactions=len(committed),
        seconds=time.monotonic() - started,
        receipt_heights={transaction_id: height for transaction_id, (height, _) in receipts[nodes[0]].items()},
    )


def assert_agree_up_to(network: E2ENetwork, indexes: Sequence[int], height: int) -> None:
    """The nodes `indexes` hold one block hash per height in 1..height (a cheap fork check mid-test)."""
    clients = [network.nodes[index].client() for index in indexes]
    try:
        for h in range(1, height + 1):
            hashes = {client.get_block(h).block_hash for client in clients}
            assert len(hashes) == 1, f"fork at height {h} among nodes {list(indexes)}"
    finally:
        for client in clients:
            client.close()
