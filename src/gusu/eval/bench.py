"""`gusu bench`: sustained throughput and commit latency of a node or a network under signed transfer load.

What is measured, and how:

* load is ``account.transfer`` of 1 unit between benchmark accounts
  (``senders`` fresh keys funded from a dev/admin key), **signed before the
  run** on every core, so that signing never competes with the node while
  it is measured;
* transactions go in ``gusu_sendRawTransactions`` batches over a few
  concurrent HTTP connections, either **open loop** (a fixed ``rate``,
  whatever the node does: the way to check a latency target) or **closed
  loop** (keep ``window`` transactions outstanding: the way to find the
  sustained maximum);
* a transaction's latency runs from its submission (in open loop: the time
  the schedule says it should have been sent, so a slow client cannot hide
  queueing) to the moment the WebSocket ``newBlocks`` notification listing
  it arrives;
* TPS counts the benchmark's transactions committed inside the measured
  window (after ``warmup_s``); node CPU sums the node process and its child
  processes (the signature-verifier workers) over the same window;
* at the end every transaction the node acknowledged is accounted for:
  committed (success or failed, from its receipt), still pending, dropped
  (with the node's reason), or **lost**: acknowledged and then unknown to
  the node, which is a bug and is reported as such.

With no endpoint, a throw-away chain is created in a temporary directory,
its node run as a child process (``python -m gusu.api.process``), and both
removed afterwards, also on Ctrl-C or error. With ``nodes`` > 1 the
throw-away chain is a network of that many validators, one process each
(`gusu.eval.network`), or ``network_directory`` names an existing local
network; submissions are then spread round-robin over every live node's
API, blocks are watched on one of them, and each transaction is accounted
for by the node that acknowledged it (gossip to the others is best effort,
so only that node owes an answer). ``down_node`` SIGKILLs one validator
before the load starts, for the "one node down" figure.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import multiprocessing
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import aiohttp
import orjson
import psutil

from gusu.codec import Value, encode
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.bench import measure_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import GusuError
from gusu.eval.network import NODES_MAX, LocalNetwork, LocalNode, throwaway_network
from gusu.execution.bench import BENCH_TOKEN, BENCH_TOKEN_SOURCE
from gusu.execution.deployment import compute_code_hash
from gusu.ledger.jsonview import value_to_json
from gusu.ledger.types import Height
from gusu.node.chain import ChainLayout, initialize_chain
from gusu.node.config import load_config
from gusu.sdk import Client, Contracts, Governance, build_transaction

DEFAULT_SENDERS: Final = 500
DEFAULT_BATCH: Final = 200
DEFAULT_WINDOW: Final = 10_000
"""By Little's law a closed loop can reach at most window / latency; near saturation a
commit takes 1-1.5 s, so a window below ~10,000 caps the figure at the window, not the node."""
DEFAULT_CONNECTIONS: Final = 4
DEFAULT_WARMUP_S: Final = 3.0
DEFAULT_DURATION_S: Final = 20.0
DEFAULT_DRAIN_TIMEOUT_S: Final = 30.0
VERIFY_MEASURE_S: Final = 0.25
"""Per figure of `measure_suite`; about one second for the whole measurement."""
PRESIGN_MARGIN: Final = 1.2
PRESIGN_MAX: Final = 2_000_000
TRANSFER_AMOUNT: Final = 1
SCRYPT_N_THROWAWAY: Final = 1024
"""The throw-away chain's keys live for one run in a private temp dir: no need for a slow KDF."""
NODE_READY_TIMEOUT_S: Final = 30.0
NODE_STOP_TIMEOUT_S: Final = 15.0
NETWORK_READY_TIMEOUT_S: Final = 60.0
"""All nodes of a network start at once and share the cores."""
NETWORK_CONNECT_TIMEOUT_S: Final = 60.0
"""For a network's validators to connect to each other (the load, not this wait, makes the blocks)."""
THROWAWAY_CHAIN_ID: Final = "gusu-bench"
FUNDING_TIMEOUT_S: Final = 60.0
HTTP_TIMEOUT_S: Final = 60.0
RETRY_WAIT_S: Final = 0.02
RETRY_WAIT_MAX_S: Final = 0.5
TRANSPORT_ERRORS_MAX: Final = 50
"""Failed requests (connection refused, reset, timed out) after which the benchmark stops sending."""
RPC_BATCH_QUERIES: Final = 500
"""Queries per JSON-RPC batch when collecting receipts and statuses (the node allows 1,000)."""
LOG_TAIL_LINES: Final = 30
_RETRYABLE_CODES: Final = frozenset({"mempool_full", "sender_quota", "rate_limited", "unavailable", "server_busy"})


class BenchError(GusuError):
    """The benchmark could not run (node failed to start, funding failed, bad options...)."""

    code = "bench_failed"


class Progress(Protocol):
    """Where the benchmark reports what it is doing; the CLI draws progress bars from it."""

    def phase(self, name: str, total: float | None = None) -> None: ...

    def advance(self, completed: float, detail: str = "") -> None: ...

    def done(self) -> None: ...


class _SilentProgress:
    def phase(self, name: str, total: float | None = None) -> None:
        pass

    def advance(self, completed: float, detail: str = "") -> None:
        pass

    def done(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class BenchConfig:
    suite: str = "sm"
    """Suite of the throw-away chain (an existing node's own suite is used with `endpoint`)."""
    workers: int = 2
    """Signature-verifier processes of the throw-away node."""
    senders: int = DEFAULT_SENDERS
    rate: float | None = None
    """Open loop at this many transactions per second; None runs closed loop."""
    window: int = DEFAULT_WINDOW
    """Closed loop: transactions kept outstanding."""
    batch: int = DEFAULT_BATCH
    connections: int = DEFAULT_CONNECTIONS
    warmup_s: float = DEFAULT_WARMUP_S
    duration_s: float = DEFAULT_DURATION_S
    endpoint: str | None = None
    """An existing node; None creates a throw-away chain."""
    funding_key: PrivateKey | None = None
    """Pays the senders; required with `endpoint` (the throw-away chain's dev key otherwise)."""
    count: int | None = None
    """Transactions to pre-sign; None estimates it (rate x time, or the node's verification capacity)."""
    node_pid: int | None = None
    """Process whose CPU is measured when `endpoint` is set (found from the listening port if None)."""
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S
    command: str = ""
    """The command line, recorded in the result."""
    signing_processes: int = 0
    """Processes that pre-sign; 0 uses every core."""
    nodes: int = 1
    """Validators of the throw-away chain: more than one makes it a network of node processes."""
    network_directory: Path | None = None
    """An existing local network (`gusu net up`) to benchmark instead of a throw-away chain."""
    down_node: int | None = None
    """Index of a validator to SIGKILL before the load (network only)."""
    consensus: str = "tendermint"
    """Ordering of a throw-away network: tendermint or raft."""
    contract: bool = False
    """Load a deployed sandboxed token (`BENCH_TOKEN_SOURCE`) instead of the native `account.transfer`."""
    app: AppLoad | None = None
    """Load an application's main transaction instead (its adapter: `gusu.eval.appbench`)."""

    def __post_init__(self) -> None:
        if self.senders < 1:
            raise BenchError("--senders must be at least 1")
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise BenchError("--rate must be a positive number of transactions per second")
        if self.window < 1:
            raise BenchError("--window must be at least 1")
        if not 1 <= self.batch <= 5000:
            raise BenchError("--batch must be between 1 and 5000 (the node's per-request limit)")
        if not 1 <= self.connections <= 256:
            raise BenchError("--connections must be between 1 and 256")
        if self.warmup_s < 0 or self.duration_s <= 0:
            raise BenchError("--warmup must be >= 0 and --duration > 0 seconds")
        if self.count is not None and self.count < 1:
            raise BenchError("--count must be at least 1")
        if self.endpoint is not None and self.funding_key is None:
            raise BenchError("benchmarking an existing node needs --key: a funded account to pay the senders")
        if not 1 <= self.nodes <= NODES_MAX:
            raise BenchError(f"--nodes must be between 1 and {NODES_MAX}")
        if self.endpoint is not None and (self.nodes > 1 or self.network_directory is not None):
            raise BenchError("--endpoint benchmarks one node; --nodes and --dir a local network: choose one")
        if self.consensus not in ("tendermint", "raft"):
            raise BenchError("--consensus must be tendermint or raft")
        if self.consensus != "tendermint" and (self.nodes < 2 or self.network_directory is not None):
            raise BenchError("--consensus is for a throw-away network: --nodes 2 or more, without --dir")
        if self.app is not None and self.contract:
            raise BenchError("choose one load: --app or --contract")
        if self.down_node is not None:
            if not self.is_network:
                raise BenchError("--down-node needs a network: --nodes N (4 or more) or --dir")
            check_down_node(self.down_node, self.nodes, self.consensus)

    @property
    def is_network(self) -> bool:
        return self.nodes > 1 or self.network_directory is not None

    @property
    def mode(self) -> str:
        return "open" if self.rate is not None else "closed"


def check_down_node(down_node: int, nodes: int, consensus: str = "tendermint") -> None:
    """BenchError unless stopping validator `down_node` of `nodes` (equal power) leaves a quorum."""
    if not 0 <= down_node < nodes:
        raise BenchError(f"--down-node must name one of the {nodes} nodes: 0 to {nodes - 1}")
    if consensus == "raft":
        if 2 * (nodes - 1) <= nodes:
            raise BenchError(f"with one of {nodes} Raft members down the rest are no majority; use --nodes 3 or more")
        return
    # Tendermint commits with more than 2/3 of the power; every validator has the same power here.
    if 3 * (nodes - 1) <= 2 * nodes:
        raise BenchError(
            f"with one of {nodes} validators down the rest hold no more than 2/3 of the power and cannot commit; "
            "use --nodes 4 or more"
        )


# --- machine facts ------------------------------------------------------------------------


def get_hardware() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = int(psutil.virtual_memory().total)
    return {
        "cpu_model": model,
        "cores": os.cpu_count() or 1,
        "memory_bytes": memory,
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def measure_verify_rate(suite: str, seconds: float = VERIFY_MEASURE_S) -> float:
    """Single-core signature verifications per second for `suite` on this machine."""
    return float(measure_suite(suite, seconds)["verify"])


def compute_percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def plan_presign_count(config: BenchConfig, verify_rate: float, node_workers: int) -> int:
    """How many transfers to sign before the run.

    Open loop needs exactly the schedule (plus a margin). Closed loop needs
    as many as the node can take: it cannot verify faster than
    ``verify_rate`` per verifier core, so that bounds it.
    """
    if config.count is not None:
        return config.count
    seconds = config.warmup_s + config.duration_s
    if config.rate is not None:
        planned = config.rate * seconds * PRESIGN_MARGIN
    else:
        capacity = verify_rate * max(1, node_workers)
        planned = capacity * seconds * PRESIGN_MARGIN + config.window
    return int(min(PRESIGN_MAX, max(config.senders, math.ceil(planned))))


# --- pre-signing (in worker processes) ------------------------------------------------------


def sign_transfers(
    suite_name: str,
    chain_id: str,
    valid_until_height: int,
    jobs: Sequence[tuple[bytes, int, bytes]],
    contract: str = "account",
) -> list[list[tuple[str, str]]]:
    """For each (secret, count, recipient): `count` signed transfers as (id hex, raw hex).

    Module-level so that a process pool can run it; hex is computed here so
    the submitting process only joins strings.
    """
    suite = get_suite(suite_name)
    results: list[list[tuple[str, str]]] = []
    for secret, count, recipient in jobs:
        key = suite.load_private_key(secret)
        signed_list: list[tuple[str, str]] = []
        for _ in range(count):
            signed = build_transaction(
                key, chain_id, contract, "transfer", [recipient, TRANSFER_AMOUNT], Height(valid_until_height)
            )
            signed_list.append(("0x" + signed.transaction_id.hex(), "0x" + signed.raw.hex()))
        results.append(signed_list)
    return results


AppCall = tuple[str, str, list[Value]]
"""(contract, method, arguments) of one application transaction."""


class AppSetup:
    """What an application adapter may do before the load: deploy, view, commit setup transactions.

    Every setup transaction must commit with a success receipt, else the benchmark stops with `what`.
    """

    def __init__(
        self,
        rpc: RpcTransport,
        watcher: BlockWatcher,
        state: LoadState,
        funding_key: PrivateKey,
        chain_id: str,
        batch: int,
    ) -> None:
        self.rpc = rpc
        self.funding_key = funding_key
        self.chain_id = chain_id
        self._watcher = watcher
        self._state = state
        self._batch = batch

    async def get_height(self) -> int:
        return int(await self.rpc.call("gusu_blockNumber", []))

    async def view(self, contract: str, method: str, args: Sequence[Value] = ()) -> Any:
        """The view's answer as JSON (bytes as 0x-hex, as the node's API gives them)."""
        return await _call_view(self.rpc, contract, method, [value_to_json(arg) for arg in args])

    async def commit(self, calls: Sequence[tuple[PrivateKey, AppCall]], what: str) -> None:
        """Sign each (key, call), submit them all, and wait until every one has succeeded."""
        height = await self.get_height()
        raws = []
        for key, (contract, method, args) in calls:
            signed = build_transaction(key, self.chain_id, contract, method, args, Height(height + SETUP_VALID_BLOCKS))
            raws.append(("0x" + signed.transaction_id.hex(), "0x" + signed.raw.hex()))
        # An application's setup may hold thousands of transactions (item codes, vouchers): more time for more.
        timeout_s = FUNDING_TIMEOUT_S + SETUP_WAIT_S_PER_TRANSACTION * len(raws)
        await _commit_all(self.rpc, self._watcher, self._state, raws, self._batch, what, timeout_s)

    async def deploy(self, name: str, source: str, args: Sequence[Value] = ()) -> None:
        """Deploy `source` at `name` with the funding key, unless something is deployed there already
        (approving its code first where the chain asks for it, which only a chain whose governance the
        funding key decides alone allows)."""
        if await self.view("contracts", "get_instance", [name]):
            return
        key = self.funding_key
        code_hash = compute_code_hash(key.suite, source)
        # On a network `approve_app_code` had the organisations approve it before the load.
        if await self.view("contracts", "is_approval_required") and not await self.view(
            "contracts", "is_code_approved", [code_hash]
        ):
            expires = await self.get_height() + SETUP_VALID_BLOCKS
            await self.commit(
                [(key, ("system", "propose", ["approve_contract", encode([code_hash]), expires]))],
                f"proposing approval of the {name} contract",
            )
        await self.commit(
            [(key, ("contracts", "deploy", [name, source, encode(list(args))]))],
            f"deploying the {name} contract (on a governed chain, approve its code hash first: `gusu contract hash`)",
        )


class AppLoad(Protocol):
    """An application's main transaction as the benchmark's load; the adapters are in `gusu.eval.appbench`.

    The adapter is pickled to the signing processes, so it must be a plain (frozen) dataclass.
    """

    @property
    def name(self) -> str: ...

    @property
    def load(self) -> str:
        """What the result's "load" says, e.g. "evidence_service.submit"."""
        ...

    async def prepare(self, setup: AppSetup, senders: Sequence[PrivateKey], per_sender: Sequence[int]) -> list[Value]:
        """Deploy and set up the application and each (funded) sender; per sender, the context its calls need."""
        ...

    def get_sources(self) -> list[str]:
        """The sources of the contracts `prepare` deploys (a network's organisations approve them first)."""
        ...

    def compute_call(self, context: Value, sequence: int) -> AppCall:
        """The sender's `sequence`-th main transaction (0, 1, ...); each must succeed when committed in any order."""
        ...

    async def get_state_summary(self, setup: AppSetup, contexts: Sequence[Value]) -> dict[str, Any]:
        """After the run: what the application's state shows of the load (e.g. records stored), for the result."""
        ...


def load_admin_key(network: LocalNetwork, organization: str) -> PrivateKey:
    """An organisation's governance admin key from the network's pki directory."""
    directory = network.directory / "pki" / organization
    try:
        passphrase = (directory / "admin_key.pass").read_text(encoding="utf-8").strip()
        return decrypt_key_file((directory / "admin_key.json").read_bytes(), passphrase)
    except OSError as error:
        raise BenchError(f"cannot read {organization}'s admin key in {directory}: {error}") from error


def approve_app_code(network: LocalNetwork, endpoint: str, app: AppLoad) -> None:
    """Where the network's governance approves contract code, have its organisations approve the application's:
    the first organisation's admin proposes, the others vote until it is approved."""
    organizations = sorted({node.organization for node in network.nodes})
    with Client(endpoint, timeout_s=FUNDING_TIMEOUT_S) as client:
        contracts = Contracts(client, timeout_s=FUNDING_TIMEOUT_S)
        if not contracts.is_approval_required():
            return
        keys = [load_admin_key(network, organization) for organization in organizations]
        governance = Governance(client, timeout_s=FUNDING_TIMEOUT_S)
        for source in app.get_sources():
            code_hash = contracts.compute_code_hash(source)
            if contracts.is_code_approved(code_hash):
                continue
            proposal = governance.propose_approve_contract(keys[0], code_hash).proposal_id
            for key in keys[1:]:
                if contracts.is_code_approved(code_hash):
                    break
                governance.vote(key, proposal, True)
            if not contracts.is_code_approved(code_hash):
                raise BenchError(
                    f"the organisations' votes did not approve the {app.name} contract (proposal {proposal})"
                )


def sign_app_calls(
    app: AppLoad, suite_name: str, chain_id: str, valid_until_height: int, jobs: Sequence[tuple[bytes, int, Value]]
) -> list[list[tuple[str, str]]]:
    """For each (secret, count, context): `count` signed application transactions as (id hex, raw hex)."""
    suite = get_suite(suite_name)
    results: list[list[tuple[str, str]]] = []
    for secret, count, context in jobs:
        key = suite.load_private_key(secret)
        signed_list: list[tuple[str, str]] = []
        for sequence in range(count):
            contract, method, args = app.compute_call(context, sequence)
            signed = build_transaction(key, chain_id, contract, method, args, Height(valid_until_height))
            signed_list.append(("0x" + signed.transaction_id.hex(), "0x" + signed.raw.hex()))
        results.append(signed_list)
    return results


def interleave(per_sender: Sequence[Sequence[tuple[str, str]]]) -> list[tuple[str, str]]:
    """Round-robin over senders, so every batch carries many senders (the pool limits each one)."""
    ordered: list[tuple[str, str]] = []
    for group in itertools.zip_longest(*per_sender):
        ordered.extend(item for item in group if item is not None)
    return ordered


# --- the node under test ------------------------------------------------------------------------


@dataclass(slots=True)
class ThrowawayNode:
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    endpoint: str = ""
    rpc_gateway: str = ""
    """The RPC gateway's JSON-RPC URL, when the node runs one (``[api] gateway_workers``)."""
    dev_key: PrivateKey | None = None
    log_path: Path | None = None

    def log_tail(self) -> str:
        if self.log_path is None:
            return "(no log)"
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip("\n").splitlines()[-LOG_TAIL_LINES:]) or "(empty log)"


def find_free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def launch_throwaway_node(
    config: BenchConfig, node: ThrowawayNode, prepare: Callable[[ChainLayout], None] | None = None
) -> None:
    """Create a one-node chain in `node.directory` and start its node; returns once it serves.

    `prepare` may change the chain's files (its genesis, say) before the node first starts."""
    layout = initialize_chain(
        node.directory / "chain",
        suite_name=config.suite,
        chain_id=THROWAWAY_CHAIN_ID,
        api_port=find_free_port(),
        verifier_workers=config.workers,
        scrypt_n=SCRYPT_N_THROWAWAY,
    )
    if prepare is not None:
        prepare(layout)
    node_directory = layout.node_directories[0]
    node.log_path = load_config(node_directory).log_path
    node.dev_key = decrypt_key_file(
        layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text(encoding="utf-8").strip()
    )
    assert node.log_path is not None
    with node.log_path.open("ab") as log:
        node.process = subprocess.Popen(
            [sys.executable, "-m", "gusu.api.process", str(node_directory)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # Its own process group: Ctrl-C reaches the benchmark, which then stops the node in order.
            start_new_session=True,
        )
    deadline = time.monotonic() + NODE_READY_TIMEOUT_S
    while True:
        ready = _read_ready(node.log_path)
        if ready is not None:
            node.endpoint = str(ready["rpc"]).removesuffix("/rpc")
            node.rpc_gateway = str(ready.get("rpc_gateway", ""))
            return
        code = node.process.poll()
        if code is not None:
            raise BenchError(f"the benchmark node exited with status {code} before serving:\n{node.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(f"the benchmark node did not serve within {NODE_READY_TIMEOUT_S:g} s:\n{node.log_tail()}")
        time.sleep(0.05)


def _read_ready(log_path: Path) -> dict[str, Any] | None:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("{") and '"ready"' in stripped:
            try:
                document = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                continue
            if isinstance(document, dict) and document.get("ready") is True:
                return document
    return None


def stop_throwaway_node(node: ThrowawayNode) -> bool:
    """Stop the node; True when it needed SIGKILL."""
    process = node.process
    if process is None or process.poll() is not None:
        return False
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=NODE_STOP_TIMEOUT_S)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        return True


@contextmanager
def throwaway_chain(config: BenchConfig) -> Iterator[ThrowawayNode]:
    node = ThrowawayNode(directory=Path(tempfile.mkdtemp(prefix="gusu-bench-")))
    try:
        launch_throwaway_node(config, node)
        yield node
    finally:
        # Also after a failed or interrupted start: the process may exist without having served.
        stop_throwaway_node(node)
        shutil.rmtree(node.directory, ignore_errors=True)


def find_listening_pid(endpoint: str) -> int | None:
    """The pid listening on the endpoint's port on this machine, if it can be seen."""
    try:
        port = int(endpoint.rsplit(":", 1)[1].split("/", 1)[0])
        connections = psutil.net_connections(kind="tcp")
    except (ValueError, IndexError, psutil.AccessDenied, OSError):
        return None
    for connection in connections:
        if connection.status == psutil.CONN_LISTEN and connection.laddr and connection.laddr.port == port:
            pid = connection.pid
            return int(pid) if pid is not None else None
    return None


class CpuMeter:
    """CPU time of a process, or of several (and, by default, all their descendants), between `start` and `stop`.

    With several roots (the node processes of a network) the "main" figure
    is the sum of the roots and the "children" figure that of their
    descendants (the verifier workers).
    """

    def __init__(self, pid: int | Sequence[int] | None, *, include_children: bool = True) -> None:
        self._roots: tuple[int, ...] = () if pid is None else (pid,) if isinstance(pid, int) else tuple(pid)
        self._include_children = include_children
        self._start: dict[int, float] = {}
        self._started_at = 0.0
        self._stopped_at = 0.0
        self._end: dict[int, float] = {}

    def _sample(self) -> dict[int, float]:
        samples: dict[int, float] = {}
        processes = []
        for pid in self._roots:
            try:
                root = psutil.Process(pid)
                processes += [root, *root.children(recursive=True)] if self._include_children else [root]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        for process in processes:
            try:
                times = process.cpu_times()
                samples[process.pid] = float(times.user + times.system)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return samples

    def start(self) -> None:
        self._start = self._sample()
        self._started_at = time.perf_counter()

    def stop(self) -> None:
        self._end = self._sample()
        self._stopped_at = time.perf_counter()

    def result(self) -> dict[str, Any]:
        elapsed = self._stopped_at - self._started_at
        if not self._roots or not self._end or elapsed <= 0:
            return {"node_cpu_percent": None, "node_cpu_main_percent": None, "node_cpu_children_percent": None}
        # A process that appeared during the window counts from zero.
        deltas = {pid: used - self._start.get(pid, 0.0) for pid, used in self._end.items()}
        total = sum(deltas.values())
        main = sum(deltas.get(pid, 0.0) for pid in self._roots)
        return {
            "node_cpu_percent": round(100 * total / elapsed, 1),
            "node_cpu_main_percent": round(100 * main / elapsed, 1),
            "node_cpu_children_percent": round(100 * (total - main) / elapsed, 1),
            "node_processes": len(self._end),
        }


# --- talking to the node ---------------------------------------------------------------------


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """(rpc url, websocket url) of a node base URL such as http://127.0.0.1:8545."""
    base = endpoint.rstrip("/").removesuffix("/rpc")
    if base.startswith("https://"):
        return base + "/rpc", "wss://" + base[len("https://") :] + "/ws"
    if base.startswith("http://"):
        return base + "/rpc", "ws://" + base[len("http://") :] + "/ws"
    raise BenchError(f"endpoint {endpoint!r} must start with http:// or https://")


class RpcTransport:
    """JSON-RPC over a pooled aiohttp session (the benchmark's own, for full control of batching)."""

    def __init__(self, session: aiohttp.ClientSession, rpc_url: str) -> None:
        self._session = session
        self._url = rpc_url
        self._ids = itertools.count(1)

    async def post(self, body: bytes) -> Any:
        async with self._session.post(self._url, data=body, headers={"Content-Type": "application/json"}) as answer:
            payload = await answer.read()
            if answer.status != 200 and not payload.startswith((b"{", b"[")):
                raise _TransportError(
                    "unavailable" if answer.status in (429, 502, 503, 504) else f"http_{answer.status}",
                    f"HTTP {answer.status}: {payload[:200].decode('utf-8', 'replace')}",
                    answer.status in (429, 502, 503, 504),
                )
        return orjson.loads(payload)

    def request(self, method: str, params: list[Any]) -> tuple[int, bytes]:
        request_id = next(self._ids)
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id, body

    async def call(self, method: str, params: list[Any]) -> Any:
        _, body = self.request(method, params)
        answer = await self.post(body)
        if not isinstance(answer, dict):
            raise BenchError(f"the node answered {method} with {str(answer)[:200]}")
        if answer.get("error") is not None:
            code, message, retryable = read_error(answer["error"])
            raise _TransportError(code, f"{method}: {message}", retryable)
        return answer.get("result")

    async def call_batch(self, method: str, params_list: Sequence[list[Any]]) -> list[Any]:
        """Results (or error objects) of one JSON-RPC batch, in the order asked."""
        requests = []
        ids = []
        for params in params_list:
            request_id = next(self._ids)
            ids.append(request_id)
            requests.append({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        answer = await self.post(orjson.dumps(requests))
        if not isinstance(answer, list):
            error = answer.get("error") if isinstance(answer, dict) else None
            code, message, retryable = read_error(error)
            raise _TransportError(code, f"{method} batch: {message}", retryable)
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        return [by_id.get(request_id, {"error": {"message": "missing answer"}}) for request_id in ids]


class _TransportError(BenchError):
    def __init__(self, code: str, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def read_error(error: Any) -> tuple[str, str, bool]:
    """(gusu code, message, retryable) of a JSON-RPC error member or a per-item error object."""
    if not isinstance(error, dict):
        return "remote_error", str(error), False
    message = str(error.get("message", ""))
    data = error.get("data")
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        return str(data["code"]), message, data.get("retryable") is True
    code = error.get("code")
    if isinstance(code, str):
        return code, message, error.get("retryable") is True
    return f"rpc_{code}", message, False


# --- the load run ---------------------------------------------------------------------------------


@dataclass(slots=True)
class LoadState:
    """Every benchmark transaction's fate, and the raw timings."""

    pending: dict[str, float] = field(default_factory=dict)
    """Sent (or being retried) and not yet seen in a block: id -> submission time."""
    acknowledged: set[str] = field(default_factory=set)
    committed: dict[str, float] = field(default_factory=dict)
    """id -> commit notification time."""
    submitted_at: dict[str, float] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    """Non-retryable refusals by code."""
    rejected_ids: set[str] = field(default_factory=set)
    retryable_refusals: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0
    duplicates_after_retry: int = 0
    sent: int = 0
    commit_event: asyncio.Event = field(default_factory=asyncio.Event)
    blocks: list[tuple[float, int, int]] = field(default_factory=list)
    """(arrival time, height, transactions in the block) of every block seen during the run."""
    websocket_error: str = ""
    node_unreachable: bool = False
    submitted_to: dict[str, int] = field(default_factory=dict)
    """id -> index of the node it was sent to; kept only with several nodes (else it is always 0)."""
    acknowledged_by: Counter[int] = field(default_factory=Counter)
    """Acknowledgements per node index."""


class BlockWatcher:
    """Reads ``newBlocks`` notifications and marks the benchmark's transactions committed."""

    def __init__(self, session: aiohttp.ClientSession, ws_url: str, state: LoadState) -> None:
        self._session = session
        self._url = ws_url
        self._state = state
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.watched: set[str] = set()
        """Ids outside the load (funding) to note when they commit."""
        self.seen_watched: set[str] = set()

    async def start(self) -> None:
        self._ws = await self._session.ws_connect(self._url, max_msg_size=64 * 1024 * 1024, heartbeat=30)
        await self._ws.send_str(
            orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "gusu_subscribe", "params": ["newBlocks"]}).decode()
        )
        while True:
            message = await asyncio.wait_for(self._ws.receive(), timeout=10)
            if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise BenchError(f"the node closed the WebSocket while subscribing ({message.type.name})")
            document = orjson.loads(message.data)
            if isinstance(document, dict) and (document.get("id") == 1 or document.get("error") is not None):
                if document.get("error") is not None:
                    raise BenchError(f"cannot subscribe to newBlocks: {read_error(document['error'])[1]}")
                break
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._ws is not None
        state = self._state
        async for message in self._ws:
            if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                break
            now = time.perf_counter()
            document = orjson.loads(message.data)
            params = document.get("params") if isinstance(document, dict) else None
            result = params.get("result") if isinstance(params, dict) else None
            if not isinstance(result, dict):
                continue
            transactions = result.get("transactions") or []
            state.blocks.append((now, int(result.get("height", -1)), len(transactions)))
            pending = state.pending
            committed = state.committed
            for transaction_id in transactions:
                if pending.pop(transaction_id, None) is not None:
                    committed[transaction_id] = now
                elif transaction_id in self.watched:
                    self.seen_watched.add(transaction_id)
            state.commit_event.set()
        close_code = self._ws.close_code
        if close_code not in (None, 1000):
            state.websocket_error = f"the node closed the newBlocks subscription (code {close_code})"
            state.commit_event.set()

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, aiohttp.ClientError):
                await self._task


@dataclass(frozen=True, slots=True)
class Batch:
    items: list[tuple[str, str]]
    """(id, raw) pairs."""
    submitted_at: list[float]


class Submitter:
    """Sends batches over `connections` concurrent requests, retrying what may succeed later.

    With several nodes each batch goes to the next node in turn (and its
    retries to the same node, which is the one that owes an answer for it).
    """

    def __init__(self, rpc: RpcTransport | Sequence[RpcTransport], state: LoadState, connections: int) -> None:
        self._rpcs = [rpc] if isinstance(rpc, RpcTransport) else list(rpc)
        self._next_node = itertools.cycle(range(len(self._rpcs)))
        self._state = state
        self._queue: asyncio.Queue[tuple[Batch, int] | None] = asyncio.Queue()
        self._workers = [asyncio.create_task(self._work()) for _ in range(connections)]
        self.in_flight = 0

    def submit(self, batch: Batch) -> None:
        state = self._state
        node = next(self._next_node)
        for (transaction_id, _), at in zip(batch.items, batch.submitted_at, strict=True):
            state.pending[transaction_id] = at
            state.submitted_at[transaction_id] = at
        if len(self._rpcs) > 1:
            state.submitted_to.update((transaction_id, node) for transaction_id, _ in batch.items)
        state.sent += len(batch.items)
        self._queue.put_nowait((batch, node))

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        """Stop sending; what is still being retried stays pending and is resolved by the accounting."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            entry = await self._queue.get()
            if entry is None:
                return
            batch, node = entry
            self.in_flight += 1
            try:
                await self._send(batch.items, node)
            finally:
                self.in_flight -= 1

    async def _send(self, items: list[tuple[str, str]], node: int = 0) -> None:
        state = self._state
        rpc = self._rpcs[node]
        attempt = 0
        retried_transport = False
        while items:
            try:
                results = await rpc.call("gusu_sendRawTransactions", [[raw for _, raw in items]])
            except (TimeoutError, _TransportError, aiohttp.ClientError) as error:
                retryable = isinstance(error, _TransportError) and error.retryable
                if isinstance(error, _TransportError) and not retryable:
                    self._reject(items, error.code)
                    return
                if retryable:
                    assert isinstance(error, _TransportError)
                    state.retryable_refusals[error.code] += len(items)
                else:
                    # The node may have admitted some before the failure: a resend then says duplicate.
                    state.transport_errors += 1
                    retried_transport = True
                    if state.transport_errors > TRANSPORT_ERRORS_MAX:
                        # The node is gone; leave these pending for the accounting to look up.
                        state.node_unreachable = True
                        return
                await asyncio.sleep(min(RETRY_WAIT_MAX_S, RETRY_WAIT_S * 2**attempt))
                attempt += 1
                continue
            if not isinstance(results, list) or len(results) != len(items):
                self._reject(items, "malformed_answer")
                return
            retry: list[tuple[str, str]] = []
            for item, result in zip(items, results, strict=True):
                transaction_id = item[0]
                error_object = result.get("error") if isinstance(result, dict) else {"message": "malformed"}
                if error_object is None:
                    state.acknowledged.add(transaction_id)
                    state.acknowledged_by[node] += 1
                    continue
                code, _, retryable = read_error(error_object)
                if retryable or code in _RETRYABLE_CODES:
                    state.retryable_refusals[code] += 1
                    retry.append(item)
                elif code == "tx_duplicate" and (retried_transport or attempt > 0):
                    # Admitted by an earlier attempt whose answer was lost.
                    state.duplicates_after_retry += 1
                    state.acknowledged.add(transaction_id)
                    state.acknowledged_by[node] += 1
                else:
                    self._reject([item], code)
            items = retry
            if items:
                await asyncio.sleep(min(RETRY_WAIT_MAX_S, RETRY_WAIT_S * 2**attempt))
                attempt += 1

    def _reject(self, items: Sequence[tuple[str, str]], code: str) -> None:
        state = self._state
        for transaction_id, _ in items:
            state.rejected[code] += 1
            state.rejected_ids.add(transaction_id)
            if state.pending.pop(transaction_id, None) is not None:
                state.commit_event.set()


class LoadScenario(Protocol):
    """Something done to the network while the load runs (e.g. a validator-set change), and its figures.

    `run` starts with the load and must return by `window_end` (the load stops
    then, and without transactions the chain makes no blocks); `finish` runs
    after the drain and the accounting, and its result is merged into the
    benchmark's.
    """

    async def run(self, state: LoadState, window_start: float, window_end: float) -> None: ...

    async def finish(
        self, rpcs: Sequence[RpcTransport], state: LoadState, window_start: float, window_end: float
    ) -> dict[str, Any]: ...


class BatchSink(Protocol):
    """Takes batches to send (the `Submitter`, or a recorder in tests)."""

    def submit(self, batch: Batch) -> None: ...


async def run_open_loop(
    submitter: BatchSink, transactions: deque[tuple[str, str]], rate: float, batch: int, end: float, start: float
) -> None:
    """Submit at `rate` per second from `start` until `end`, whatever the node does."""
    # Ticks short enough that each carries about one batch, but not so short the loop spins.
    tick = min(0.1, max(0.005, batch / rate))
    scheduled = 0
    while transactions:
        now = time.perf_counter()
        if now >= end:
            break
        due = min(len(transactions), int((now - start) * rate) - scheduled)
        while due > 0:
            size = min(batch, due)
            items = [transactions.popleft() for _ in range(size)]
            times = [start + (scheduled + index) / rate for index in range(size)]
            submitter.submit(Batch(items, times))
            scheduled += size
            due -= size
        await asyncio.sleep(max(0.0, min(tick, end - time.perf_counter())))


async def run_closed_loop(
    submitter: BatchSink, state: LoadState, transactions: deque[tuple[str, str]], window: int, batch: int, end: float
) -> None:
    """Keep `window` transactions outstanding until `end`."""
    # Wait for a useful batch rather than trickling single transactions after every block.
    threshold = max(1, min(batch, window // 8))
    while transactions:
        now = time.perf_counter()
        if now >= end:
            break
        free = window - len(state.pending)
        if free >= threshold:
            size = min(batch, free, len(transactions))
            items = [transactions.popleft() for _ in range(size)]
            submitter.submit(Batch(items, [now] * size))
            continue
        state.commit_event.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(state.commit_event.wait(), timeout=min(0.05, max(0.001, end - now)))


async def fetch_receipt_outcomes(rpc: RpcTransport, ids: Sequence[str]) -> tuple[int, int, Counter[str], int]:
    """(success, failed, failure codes, not found) for committed transactions, via batched receipt queries."""
    success = failed = missing = 0
    codes: Counter[str] = Counter()
    for start in range(0, len(ids), RPC_BATCH_QUERIES):
        chunk = ids[start : start + RPC_BATCH_QUERIES]
        answers = await rpc.call_batch("gusu_getReceipt", [[transaction_id] for transaction_id in chunk])
        for answer in answers:
            result = answer.get("result") if isinstance(answer, dict) else None
            if not isinstance(result, dict):
                missing += 1
            elif result.get("status") == "success":
                success += 1
            else:
                failed += 1
                codes[str(result.get("error_code") or "unknown")] += 1
    return success, failed, codes, missing


async def fetch_statuses(rpc: RpcTransport, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """id -> (status, reason) from gusu_getTransaction; status "lost" when the node does not know it."""
    statuses: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), RPC_BATCH_QUERIES):
        chunk = ids[start : start + RPC_BATCH_QUERIES]
        answers = await rpc.call_batch("gusu_getTransaction", [[transaction_id] for transaction_id in chunk])
        for transaction_id, answer in zip(chunk, answers, strict=True):
            result = answer.get("result") if isinstance(answer, dict) else None
            if isinstance(result, dict):
                statuses[transaction_id] = (str(result.get("status")), str(result.get("reason") or ""))
            else:
                code, message, _ = read_error(answer.get("error") if isinstance(answer, dict) else None)
                statuses[transaction_id] = ("lost" if code == "not_found" else f"error:{code}", message)
    return statuses


@dataclass(slots=True)
class _Prepared:
    chain_id: str
    suite: str
    transactions: deque[tuple[str, str]]
    presigned: int
    presign_s: float
    funding_s: float
    valid_until_height: int
    app_setup: AppSetup | None = None
    app_contexts: list[Value] = field(default_factory=list)


async def _wait_for(ids: set[str], watcher: BlockWatcher, timeout_s: float, state: LoadState) -> None:
    deadline = time.perf_counter() + timeout_s
    while not ids <= watcher.seen_watched:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise BenchError(
                f"{len(ids - watcher.seen_watched)} funding transfers did not commit within {timeout_s:g} s"
            )
        state.commit_event.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(state.commit_event.wait(), timeout=min(0.5, remaining))
        if state.websocket_error:
            raise BenchError(state.websocket_error)


async def _submit_all(rpc: RpcTransport, raws: Sequence[str], batch: int) -> None:
    """Submit transactions outside the measurement (funding), retrying retryable refusals."""
    for start in range(0, len(raws), batch):
        chunk = list(raws[start : start + batch])
        for attempt in range(50):
            results = await rpc.call("gusu_sendRawTransactions", [chunk])
            retry = []
            for raw, result in zip(chunk, results, strict=True):
                error = result.get("error") if isinstance(result, dict) else None
                if error is None:
                    continue
                code, message, retryable = read_error(error)
                if not retryable:
                    raise BenchError(f"the node refused a funding transfer: {code}: {message}")
                retry.append(raw)
            if not retry:
                break
            chunk = retry
            await asyncio.sleep(min(RETRY_WAIT_MAX_S, RETRY_WAIT_S * 2**attempt))
        else:
            raise BenchError("the node kept refusing the funding transfers as busy")


BENCH_CONTRACT_NAME: Final = BENCH_TOKEN
SETUP_VALID_BLOCKS: Final = 100
SETUP_WAIT_S_PER_TRANSACTION: Final = 0.05
"""Setup transactions (deployment, approval, an application's preparation) may commit this many blocks ahead."""
BENCH_MINT_CHUNK: Final = 256
"""Holders per mint transaction: well under the sandbox's storage_writes_max of one call."""


async def _call_view(rpc: RpcTransport, contract: str, method: str, args: Sequence[Any] = ()) -> Any:
    result = await rpc.call("gusu_call", [{"contract": contract, "method": method, "args": list(args)}])
    return result.get("return_value") if isinstance(result, dict) else None


async def _commit_all(
    rpc: RpcTransport,
    watcher: BlockWatcher,
    state: LoadState,
    raws: Sequence[tuple[str, str]],
    batch: int,
    what: str,
    timeout_s: float = FUNDING_TIMEOUT_S,
) -> None:
    """Submit (id hex, raw hex) transactions, wait for them, and fail with `what` if any did not succeed."""
    ids = {transaction_id for transaction_id, _raw in raws}
    watcher.watched |= ids
    await _submit_all(rpc, [raw for _id, raw in raws], batch)
    await _wait_for(ids, watcher, timeout_s, state)
    _success, failed, codes, missing = await fetch_receipt_outcomes(rpc, sorted(ids))
    if failed or missing:
        detail = ", ".join(f"{code} x{number}" for code, number in codes.items()) or f"{missing} receipts missing"
        raise BenchError(f"{what} failed ({detail})")


async def deploy_bench_contract(
    rpc: RpcTransport,
    watcher: BlockWatcher,
    state: LoadState,
    funding_key: PrivateKey,
    chain_id: str,
    holders: Sequence[bytes],
    per_holder: Sequence[int],
    batch: int,
) -> None:
    """Deploy `BENCH_TOKEN_SOURCE` as `BENCH_CONTRACT_NAME` (approving its code first where the chain asks
    for it, which only a chain whose governance the funding key decides alone allows) and mint each holder
    enough for its transfers."""

    def sign(contract: str, method: str, args: list[Any], height: int) -> tuple[str, str]:
        signed = build_transaction(funding_key, chain_id, contract, method, args, Height(height + 100))
        return "0x" + signed.transaction_id.hex(), "0x" + signed.raw.hex()

    height = int(await rpc.call("gusu_blockNumber", []))
    if not await _call_view(rpc, "contracts", "get_instance", [BENCH_CONTRACT_NAME]):
        if await _call_view(rpc, "contracts", "is_approval_required"):
            code_hash = compute_code_hash(funding_key.suite, BENCH_TOKEN_SOURCE)
            proposal = sign("system", "propose", ["approve_contract", encode([code_hash]), height + 100], height)
            await _commit_all(rpc, watcher, state, [proposal], batch, "proposing approval of the benchmark contract")
        deploy = sign("contracts", "deploy", [BENCH_CONTRACT_NAME, BENCH_TOKEN_SOURCE, encode([])], height)
        await _commit_all(
            rpc, watcher, state, [deploy], batch,
            "deploying the benchmark contract (on a governed chain, approve its code hash first: `gusu contract hash`)",
        )  # fmt: skip
    mints = []
    for start in range(0, len(holders), BENCH_MINT_CHUNK):
        chunk = [bytes(holder) for holder in holders[start : start + BENCH_MINT_CHUNK]]
        amount = max(per_holder[start : start + BENCH_MINT_CHUNK], default=0) * TRANSFER_AMOUNT * 2 + 1_000
        mints.append(sign(BENCH_CONTRACT_NAME, "mint", [chunk, amount], height))
    await _commit_all(rpc, watcher, state, mints, batch, "minting benchmark tokens")


async def prepare_load(
    config: BenchConfig,
    rpc: RpcTransport,
    watcher: BlockWatcher,
    state: LoadState,
    funding_key: PrivateKey,
    verify_rate: float,
    node_workers: int,
    pool: ProcessPoolExecutor,
    progress: Progress,
) -> _Prepared:
    status = await rpc.call("gusu_status", [])
    chain_id = str(status["chain_id"])
    suite_name = str(status["suite"])
    window_blocks = int(status.get("transaction_window_blocks", 1000))
    if funding_key.suite != suite_name:
        raise BenchError(f"the funding key is a {funding_key.suite!r} key but the chain uses {suite_name!r}")
    suite = get_suite(suite_name)
    count = plan_presign_count(config, verify_rate, node_workers)
    senders = min(config.senders, count)
    per_sender = [count // senders + (1 if index < count % senders else 0) for index in range(senders)]

    # Funding: one transfer from the funding key to each sender, committed before signing the load.
    progress.phase(f"funding {senders} senders", senders)
    funding_started = time.perf_counter()
    keys = [suite.generate_private_key() for _ in range(senders)]
    addresses = [suite.compute_address(key.public_key) for key in keys]
    height = int(await rpc.call("gusu_blockNumber", []))
    funding_valid_until = height + min(window_blocks, 200) - 1
    funding_raws: list[str] = []
    for address, transfers in zip(addresses, per_sender, strict=True):
        # Transfers cost no fee today; the extra covers one if fees come, without draining an admin account.
        amount = transfers * TRANSFER_AMOUNT * 2 + 1_000
        signed = build_transaction(
            funding_key, chain_id, "account", "transfer", [address, amount], Height(funding_valid_until)
        )
        funding_raws.append("0x" + signed.raw.hex())
        watcher.watched.add("0x" + signed.transaction_id.hex())
    funding_ids = set(watcher.watched)
    await _submit_all(rpc, funding_raws, config.batch)
    await _wait_for(funding_ids, watcher, FUNDING_TIMEOUT_S, state)
    _success, failed, codes, missing = await fetch_receipt_outcomes(rpc, sorted(funding_ids))
    if failed or missing:
        detail = ", ".join(f"{code} x{number}" for code, number in codes.items()) or f"{missing} receipts missing"
        raise BenchError(f"{failed + missing} of {senders} funding transfers failed ({detail}); is --key funded?")
    progress.advance(senders)
    if config.contract:
        progress.phase(f"deploying {BENCH_CONTRACT_NAME} and minting to {senders} senders", None)
        await deploy_bench_contract(rpc, watcher, state, funding_key, chain_id, addresses, per_sender, config.batch)
    contexts: list[Value] = []
    setup: AppSetup | None = None
    if config.app is not None:
        progress.phase(f"setting up {config.app.name} for {senders} senders", None)
        setup = AppSetup(rpc, watcher, state, funding_key, chain_id, config.batch)
        contexts = await config.app.prepare(setup, keys, per_sender)
        assert len(contexts) == senders, "an app adapter returns one context per sender"
    funding_s = time.perf_counter() - funding_started

    # Pre-signing on every core, before any load reaches the node.
    progress.phase(f"signing {count:,} {'transactions' if config.app is not None else 'transfers'}", count)
    presign_started = time.perf_counter()
    height = int(await rpc.call("gusu_blockNumber", []))
    # The latest height a transaction may name is next height + window - 1; leave a few blocks of slack.
    valid_until = height + max(1, window_blocks - 2)
    processes = pool_size(config)
    jobs = [
        (key.secret, transfers, addresses[(index + 1) % senders])
        for index, (key, transfers) in enumerate(zip(keys, per_sender, strict=True))
    ]
    chunk_size = max(1, math.ceil(len(jobs) / (processes * 8)))
    chunks = [jobs[start : start + chunk_size] for start in range(0, len(jobs), chunk_size)]
    per_sender_signed: list[list[tuple[str, str]]] = []
    loop = asyncio.get_running_loop()
    contract = BENCH_CONTRACT_NAME if config.contract else "account"
    if config.app is not None:
        app_jobs = [
            (key.secret, calls, contexts[index])
            for index, (key, calls) in enumerate(zip(keys, per_sender, strict=True))
        ]
        app_chunks = [app_jobs[start : start + chunk_size] for start in range(0, len(app_jobs), chunk_size)]
        futures = [
            loop.run_in_executor(pool, sign_app_calls, config.app, suite_name, chain_id, valid_until, chunk)
            for chunk in app_chunks
        ]
    else:
        futures = [
            loop.run_in_executor(pool, sign_transfers, suite_name, chain_id, valid_until, chunk, contract)
            for chunk in chunks
        ]
    done = 0
    try:
        for future in asyncio.as_completed(futures):
            result = await future
            per_sender_signed.extend(result)
            done += sum(len(signed) for signed in result)
            progress.advance(done)
    except BrokenProcessPool as error:
        raise BenchError(f"a signing process died ({error}); is the machine out of memory?") from error
    random.shuffle(per_sender_signed)
    transactions = deque(interleave(per_sender_signed))
    return _Prepared(
        chain_id=chain_id,
        suite=suite_name,
        transactions=transactions,
        presigned=len(transactions),
        presign_s=time.perf_counter() - presign_started,
        funding_s=funding_s,
        valid_until_height=valid_until,
        app_setup=setup,
        app_contexts=contexts,
    )


async def run_load(
    config: BenchConfig,
    endpoint: str | Sequence[str],
    funding_key: PrivateKey,
    verify_rate: float,
    node_workers: int,
    node_pid: int | Sequence[int] | None,
    pool: ProcessPoolExecutor,
    progress: Progress,
    scenario: LoadScenario | None = None,
) -> dict[str, Any]:
    """Fund, pre-sign, run and account for the load; with several endpoints the first one is watched."""
    endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)
    try:
        return await _run_load(
            config, endpoints, funding_key, verify_rate, node_workers, node_pid, pool, progress, scenario
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        where = endpoints[0] if len(endpoints) == 1 else ", ".join(endpoints)
        raise BenchError(f"lost contact with the node at {where}: {error or type(error).__name__}") from error


async def _run_load(
    config: BenchConfig,
    endpoints: Sequence[str],
    funding_key: PrivateKey,
    verify_rate: float,
    node_workers: int,
    node_pid: int | Sequence[int] | None,
    pool: ProcessPoolExecutor,
    progress: Progress,
    scenario: LoadScenario | None = None,
) -> dict[str, Any]:
    rpc_urls = [split_endpoint(endpoint)[0] for endpoint in endpoints]
    ws_url = split_endpoint(endpoints[0])[1]
    state = LoadState()
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    # Room for every submitting connection plus the accounting's, whichever nodes they go to.
    connector = aiohttp.TCPConnector(limit=config.connections + len(endpoints) + 2)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        rpcs = [RpcTransport(session, url) for url in rpc_urls]
        rpc = rpcs[0]
        watcher = BlockWatcher(session, ws_url, state)
        try:
            await watcher.start()
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise BenchError(
                f"cannot subscribe to newBlocks at {ws_url} ({error or type(error).__name__}); is the node running?"
            ) from error
        try:
            prepared = await prepare_load(
                config, rpc, watcher, state, funding_key, verify_rate, node_workers, pool, progress
            )
            result = await _measure(config, rpcs, state, prepared, node_pid, progress, scenario)
            if config.app is not None and prepared.app_setup is not None:
                # After the accounting: every committed transaction's effect is in the state now.
                result["app_state"] = await config.app.get_state_summary(prepared.app_setup, prepared.app_contexts)
            return result
        finally:
            await watcher.stop()


async def _fetch_statuses_by_node(
    rpcs: Sequence[RpcTransport], state: LoadState, ids: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """Statuses asked of the node each transaction was sent to: only that node owes an answer for it."""
    groups: dict[int, list[str]] = {}
    for transaction_id in ids:
        groups.setdefault(state.submitted_to.get(transaction_id, 0), []).append(transaction_id)
    statuses: dict[str, tuple[str, str]] = {}
    for node, group in sorted(groups.items()):
        statuses.update(await fetch_statuses(rpcs[node], group))
    return statuses


async def _fetch_receipts_by_node(
    rpcs: Sequence[RpcTransport], state: LoadState, ids: Sequence[str]
) -> tuple[int, int, Counter[str], int]:
    groups: dict[int, list[str]] = {}
    for transaction_id in ids:
        groups.setdefault(state.submitted_to.get(transaction_id, 0), []).append(transaction_id)
    success = failed = missing = 0
    codes: Counter[str] = Counter()
    for node, group in sorted(groups.items()):
        node_success, node_failed, node_codes, node_missing = await fetch_receipt_outcomes(rpcs[node], group)
        success += node_success
        failed += node_failed
        codes.update(node_codes)
        missing += node_missing
    return success, failed, codes, missing


async def _measure(
    config: BenchConfig,
    rpcs: Sequence[RpcTransport],
    state: LoadState,
    prepared: _Prepared,
    node_pid: int | Sequence[int] | None,
    progress: Progress,
    scenario: LoadScenario | None = None,
) -> dict[str, Any]:
    transactions = prepared.transactions
    # Blocks are watched, and committed transactions' receipts read, on the first node.
    rpc = rpcs[0]
    submitter = Submitter(rpcs, state, config.connections)
    cpu = CpuMeter(node_pid)
    # Only this process: the throw-away node and the idle signing processes are its children.
    client_cpu = CpuMeter(os.getpid(), include_children=False)
    start = time.perf_counter()
    window_start = start + config.warmup_s
    window_end = window_start + config.duration_s
    blocks_before = len(state.blocks)

    exhausted_at: list[float] = []

    async def drive() -> None:
        if config.rate is not None:
            await run_open_loop(submitter, transactions, config.rate, config.batch, window_end, start)
        else:
            await run_closed_loop(submitter, state, transactions, config.window, config.batch, window_end)
        if not transactions and time.perf_counter() < window_end:
            exhausted_at.append(time.perf_counter())

    async def meter() -> None:
        progress.phase("warm-up", config.warmup_s)
        while time.perf_counter() < window_start:
            progress.advance(time.perf_counter() - start)
            await asyncio.sleep(0.1)
        cpu.start()
        client_cpu.start()
        progress.phase("measuring", config.duration_s)
        while (now := time.perf_counter()) < window_end:
            elapsed = now - window_start
            committed = sum(1 for at in state.committed.values() if at >= window_start)
            progress.advance(elapsed, f"{committed / max(elapsed, 1e-9):,.0f} tx/s")
            await asyncio.sleep(min(0.25, max(0.0, window_end - now)))
        cpu.stop()
        client_cpu.stop()

    driver = asyncio.create_task(drive())
    acting = None if scenario is None else asyncio.create_task(scenario.run(state, window_start, window_end))
    try:
        await meter()
        await driver
        if acting is not None:
            await acting
    except BaseException:
        driver.cancel()
        if acting is not None:
            acting.cancel()
        raise

    # Drain: whatever was sent gets its chance to commit before the accounting.
    progress.phase("draining", None)
    drain_deadline = time.perf_counter() + config.drain_timeout_s
    while (state.pending or submitter.in_flight or submitter.queued) and time.perf_counter() < drain_deadline:
        progress.advance(0, f"{len(state.pending):,} outstanding")
        state.commit_event.clear()
        with suppress(TimeoutError):
            await asyncio.wait_for(state.commit_event.wait(), timeout=0.25)
        if state.websocket_error or state.node_unreachable:
            break
    await submitter.close()
    drained_s = time.perf_counter() - window_end

    # Accounting.
    progress.phase("accounting", None)
    try:
        success, failed, failure_codes, receipts_missing = await fetch_receipt_outcomes(rpc, list(state.committed))
        unresolved = [transaction_id for transaction_id in state.pending if transaction_id not in state.rejected_ids]
        statuses = await _fetch_statuses_by_node(rpcs, state, unresolved)
        late_committed = [tid for tid, (status, _) in statuses.items() if status == "committed"]
        if late_committed:
            late_success, late_failed, late_codes, late_missing = await _fetch_receipts_by_node(
                rpcs, state, late_committed
            )
            success += late_success
            failed += late_failed
            failure_codes.update(late_codes)
            receipts_missing += late_missing
    except (aiohttp.ClientError, TimeoutError) as error:
        raise BenchError(f"the node stopped answering before every transaction was accounted for: {error!r}") from error
    status_counts = Counter(status for status, _ in statuses.values())
    dropped_reasons = Counter(reason or "unknown" for status, reason in statuses.values() if status == "dropped")
    lost_ids = sorted(tid for tid, (status, _) in statuses.items() if status == "lost" and tid in state.acknowledged)
    # Sent, never acknowledged (still being retried at the end, or the node went away) and unknown to the node.
    abandoned = sorted(
        tid for tid, (status, _) in statuses.items() if status == "lost" and tid not in state.acknowledged
    )
    progress.done()

    # Figures over the measured window.
    in_window = [at for at in state.committed.values() if window_start <= at < window_end]
    tps = len(in_window) / config.duration_s
    latencies = sorted(
        (committed_at - state.submitted_at[tid]) * 1000
        for tid, committed_at in state.committed.items()
        if window_start <= state.submitted_at[tid] < window_end
    )
    window_blocks = [block for block in state.blocks[blocks_before:] if window_start <= block[0] < window_end]
    committed_total = len(state.committed) + len(late_committed)
    result: dict[str, Any] = {
        "tps": round(tps, 1),
        "p50_ms": _round(compute_percentile(latencies, 0.50)),
        "p95_ms": _round(compute_percentile(latencies, 0.95)),
        "p99_ms": _round(compute_percentile(latencies, 0.99)),
        "max_ms": _round(latencies[-1] if latencies else None),
        "mean_ms": _round(statistics.fmean(latencies) if latencies else None),
        "latency_samples": len(latencies),
        "mode": config.mode,
        "rate": config.rate,
        "window": config.window if config.rate is None else None,
        "suite": prepared.suite,
        "load": _describe_load(config),
        "app": None if config.app is None else config.app.name,
        "chain_id": prepared.chain_id,
        "warmup_s": config.warmup_s,
        "duration_s": config.duration_s,
        "senders": config.senders,
        "batch": config.batch,
        "connections": config.connections,
        "presigned": prepared.presigned,
        "presign_s": round(prepared.presign_s, 2),
        "funding_s": round(prepared.funding_s, 2),
        "sent": state.sent,
        "submitted": state.sent,
        "acknowledged": len(state.acknowledged),
        "committed": committed_total,
        "committed_in_window": len(in_window),
        "succeeded": success,
        "failed": failed,
        "failure_codes": dict(failure_codes),
        "rejected": sum(state.rejected.values()),
        "rejected_codes": dict(state.rejected),
        "rejected_retryable": sum(state.retryable_refusals.values()),
        "rejected_retryable_codes": dict(state.retryable_refusals),
        "transport_errors": state.transport_errors,
        "pending": status_counts.get("pending", 0),
        "dropped": status_counts.get("dropped", 0),
        "dropped_reasons": dict(dropped_reasons),
        "lost": len(lost_ids),
        "lost_ids": lost_ids[:20],
        "abandoned": len(abandoned),
        "node_unreachable": state.node_unreachable,
        "receipts_missing": receipts_missing,
        "late_commits": len(late_committed),
        "blocks_in_window": len(window_blocks),
        "mean_block_transactions": round(statistics.fmean(b[2] for b in window_blocks), 1) if window_blocks else 0,
        "drain_s": round(drained_s, 2),
        "load_exhausted": bool(exhausted_at),
        "load_exhausted_after_s": round(exhausted_at[0] - window_start, 2) if exhausted_at else None,
        "websocket_error": state.websocket_error or None,
        "acknowledged_per_node": [state.acknowledged_by.get(index, 0) for index in range(len(rpcs))],
        **cpu.result(),
        "client_cpu_percent": client_cpu.result()["node_cpu_percent"],
    }
    if scenario is not None:
        result.update(await scenario.finish(rpcs, state, window_start, window_end))
    return result


def _describe_load(config: BenchConfig) -> str:
    if config.app is not None:
        return config.app.load
    return f"{BENCH_CONTRACT_NAME}.transfer (deployed)" if config.contract else "account.transfer"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def pool_size(config: BenchConfig) -> int:
    return config.signing_processes or (os.cpu_count() or 1)


def _warm_signer(suite_name: str) -> str:
    """Runs once in each signing process so that its imports happen while the node starts."""
    return get_suite(suite_name).name


@contextmanager
def signing_pool(config: BenchConfig, suite_name: str) -> Iterator[tuple[ProcessPoolExecutor, list[Future[str]]]]:
    """The pre-signing processes, started at once; the futures tell when they are ready."""
    # spawn, not fork: the benchmark later runs an event loop and aiohttp (and the CLI a
    # progress thread), which a forked child would inherit half-copied.
    pool = ProcessPoolExecutor(max_workers=pool_size(config), mp_context=multiprocessing.get_context("spawn"))
    try:
        # One task per process makes the pool start all of them now.
        warm = [pool.submit(_warm_signer, suite_name) for _ in range(pool_size(config))]
        yield pool, warm
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _wait_ready(warm: Sequence[Future[str]]) -> None:
    try:
        for future in warm:
            future.result(timeout=120)
    except (BrokenProcessPool, FutureTimeoutError) as error:
        raise BenchError(f"the signing processes did not start: {error!r}") from error


def run_bench(config: BenchConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Run the benchmark described by `config`; the result document (see the module docstring).

    The signing processes are started with "spawn", so a script calling this
    must guard its entry point with ``if __name__ == "__main__":``.
    """
    reporter: Progress = progress or _SilentProgress()
    hardware = get_hardware()
    if config.network_directory is not None:
        # The network's own suite; opening it also fails early if there is none.
        suite_name = LocalNetwork.open(config.network_directory).suite
    elif config.funding_key is not None:
        # An existing node's suite is the funding key's (checked against the node before any load).
        suite_name = config.funding_key.suite
    else:
        suite_name = config.suite
    network_facts: dict[str, Any] = {"nodes": 1, "nodes_live": 1, "down_node": None, "network_directory": None}
    with signing_pool(config, suite_name) as (pool, warm):
        if config.is_network:
            run = _run_on_network(config, suite_name, pool, warm, reporter)
            result, verify_rate, endpoint, network_facts = run.result, run.verify_rate, run.endpoint, run.facts
            node_workers: int | None = run.node_workers
        elif config.endpoint is None:
            reporter.phase("starting a throw-away node", None)
            with throwaway_chain(config) as node:
                assert node.dev_key is not None and node.process is not None
                _wait_ready(warm)
                # Measured with the node idle and the signers started, so neither disturbs it.
                reporter.phase(f"measuring {suite_name} verification rate", None)
                verify_rate = measure_verify_rate(suite_name)
                result = asyncio.run(
                    run_load(
                        config,
                        node.endpoint,
                        node.dev_key,
                        verify_rate,
                        config.workers,
                        node.process.pid,
                        pool,
                        reporter,
                    )
                )
                endpoint = node.endpoint
                node_workers = config.workers
        else:
            assert config.funding_key is not None
            _wait_ready(warm)
            reporter.phase(f"measuring {suite_name} verification rate", None)
            verify_rate = measure_verify_rate(suite_name)
            node_pid = config.node_pid if config.node_pid is not None else find_listening_pid(config.endpoint)
            result = asyncio.run(
                run_load(
                    config,
                    config.endpoint,
                    config.funding_key,
                    verify_rate,
                    os.cpu_count() or 1,
                    node_pid,
                    pool,
                    reporter,
                )
            )
            endpoint = config.endpoint
            node_workers = None
            # One node of a chain whose size the API does not tell.
            network_facts = {"nodes": None, "nodes_live": None, "down_node": None, "network_directory": None}
    result["verify_rate_per_core"] = round(verify_rate, 1)
    result["tps_to_verify_ratio"] = round(result["tps"] / verify_rate, 3) if verify_rate > 0 else None
    result["endpoint"] = endpoint
    result["throwaway_chain"] = config.endpoint is None and config.network_directory is None
    result["node_verifier_workers"] = node_workers
    result.update(network_facts)
    result["hardware"] = hardware
    result["command"] = config.command
    return result


@contextmanager
def _bench_network(config: BenchConfig, suite_name: str, progress: Progress) -> Iterator[LocalNetwork]:
    """The network under test, serving and connected: a throw-away one, or the one of `network_directory`.

    Nodes of an existing network that were not running are started, and
    stopped again at the end; the ones already running are left running
    (except a `down_node`, which stays down).
    """
    if config.network_directory is None:
        progress.phase(f"starting a throw-away network of {config.nodes} nodes", None)
        with throwaway_network(
            config.nodes,
            suite_name=suite_name,
            verifier_workers=config.workers,
            chain_id=THROWAWAY_CHAIN_ID,
            scrypt_n=SCRYPT_N_THROWAWAY,
            consensus=config.consensus,
        ) as network:
            yield network
        return
    network = LocalNetwork.open(config.network_directory)
    if config.down_node is not None:
        check_down_node(config.down_node, len(network.nodes), network.consensus)
    progress.phase(f"starting the network in {config.network_directory}", None)
    report = network.start(ready_timeout_s=NETWORK_READY_TIMEOUT_S, connect_timeout_s=NETWORK_CONNECT_TIMEOUT_S)
    try:
        yield network
    finally:
        network.stop(report.started, timeout_s=NODE_STOP_TIMEOUT_S)


@dataclass(frozen=True, slots=True)
class _NetworkRun:
    result: dict[str, Any]
    verify_rate: float
    endpoint: str
    """The node whose blocks were watched."""
    node_workers: int
    facts: dict[str, Any]
    """What the result says of the network: nodes, nodes_live, down_node, network_directory."""


def _run_on_network(
    config: BenchConfig,
    suite_name: str,
    pool: ProcessPoolExecutor,
    warm: Sequence[Future[str]],
    progress: Progress,
) -> _NetworkRun:
    """The load run against every live node of a local network."""
    with _bench_network(config, suite_name, progress) as network:
        live: list[LocalNode] = [node for node in network.nodes if node.index != config.down_node]
        down_name = None
        if config.down_node is not None:
            down = network.node(config.down_node)
            down_name = down.name
            progress.phase(f"stopping {down.name} (SIGKILL); checking that the others are connected", None)
            if network.is_running(down):
                network.kill(down, signal.SIGKILL)
            # The figure is meant for a network that commits without it: the others, more than 2/3
            # of the power (check_down_node), must serve and reach each other. No block is awaited:
            # the chain makes none without transactions, and the funding transfers that come next
            # must commit anyway (FUNDING_TIMEOUT_S), which shows that it does.
            network.wait_connected(live, NETWORK_CONNECT_TIMEOUT_S)
        pids = [pid for node in live if (pid := network.pid(node)) is not None]
        if len(pids) < len(live):
            stopped = [node.name for node in live if network.pid(node) is None]
            raise BenchError(f"{', '.join(stopped)} stopped before the load started; see their node.log")
        node_workers = load_config(live[0].directory).verifier.workers
        if config.app is not None:
            progress.phase(f"approving the {config.app.name} contract's code (every organisation's admin)", None)
            approve_app_code(network, live[0].api_url, config.app)
        _wait_ready(warm)
        # Measured with the nodes idle and the signers started, so neither disturbs it.
        progress.phase(f"measuring {suite_name} verification rate", None)
        verify_rate = measure_verify_rate(suite_name)
        result = asyncio.run(
            run_load(
                config,
                [node.api_url for node in live],
                network.load_dev_key(),
                verify_rate,
                node_workers,
                pids,
                pool,
                progress,
            )
        )
        result["endpoints"] = [node.api_url for node in live]
        facts = {
            "nodes": len(network.nodes),
            "consensus": network.consensus,
            "nodes_live": len(live),
            "down_node": down_name,
            "network_directory": None if config.network_directory is None else str(config.network_directory),
        }
        return _NetworkRun(result, verify_rate, live[0].api_url, node_workers, facts)


def describe_problems(result: dict[str, Any]) -> list[str]:
    """Warnings a reader of the result must not miss, most serious first."""
    problems: list[str] = []
    if result.get("lost"):
        problems.append(
            f"BUG: {result['lost']} acknowledged transaction(s) are unknown to the node (lost), "
            f"e.g. {', '.join(result.get('lost_ids', [])[:3])}"
        )
    if result.get("receipts_missing"):
        problems.append(f"{result['receipts_missing']} committed transaction(s) have no receipt")
    if result.get("node_unreachable"):
        problems.append("the node stopped accepting connections during the run")
    if result.get("websocket_error"):
        problems.append(str(result["websocket_error"]))
    if result.get("abandoned"):
        problems.append(f"{result['abandoned']} transaction(s) were still refused as busy when the run ended")
    if result.get("load_exhausted"):
        problems.append(
            f"the {result['presigned']:,} pre-signed transactions ran out before the window ended; "
            "TPS is understated: run again with a larger --count"
        )
    if result.get("pending"):
        problems.append(f"{result['pending']} transaction(s) were still pending after the drain")
    if result.get("dropped"):
        problems.append(f"{result['dropped']} transaction(s) were dropped: {result.get('dropped_reasons')}")
    if result.get("rejected"):
        problems.append(f"{result['rejected']} transaction(s) were refused: {result.get('rejected_codes')}")
    if "tx_expired" in (result.get("rejected_codes") or {}):
        problems.append(
            "pre-signed transactions expired: signing plus the run outlasted the chain's transaction window "
            "(transaction_window_blocks); use a shorter --duration or fewer --count"
        )
    if result.get("failed"):
        problems.append(f"{result['failed']} transaction(s) failed: {result.get('failure_codes')}")
    return problems


SummaryRow = tuple[str, str]


def _network_rows(result: dict[str, Any]) -> list[SummaryRow]:
    """The network row, for a benchmark of several nodes only."""
    nodes = result.get("nodes")
    if not isinstance(nodes, int) or nodes < 2:
        return []
    text = f"{nodes} validators, load spread over {result.get('nodes_live', nodes)}"
    if result.get("down_node"):
        text += f" ({result['down_node']} killed before the load)"
    per_node = result.get("acknowledged_per_node")
    if per_node:
        text += "; acknowledged per node " + " / ".join(f"{count:,}" for count in per_node)
    return [("network", text)]


def summary_rows(result: dict[str, Any]) -> list[SummaryRow]:
    """The human summary as (label, value) rows."""

    def number(value: Any, suffix: str = "") -> str:
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return f"{value:,.1f}{suffix}"
        return f"{value:,}{suffix}"

    mode = (
        f"open loop at {number(result['rate'])} tx/s"
        if result["mode"] == "open"
        else f"closed loop, window {number(result['window'])}"
    )
    hardware = result.get("hardware", {})
    verifiers = number(result.get("node_cpu_children_percent"), " %")
    memory = hardware.get("memory_gib", "?")
    ratio = "n/a" if result.get("tps_to_verify_ratio") is None else f"{result['tps_to_verify_ratio']:.3f}"
    return [
        ("mode", mode),
        ("suite", str(result["suite"])),
        ("load", str(result.get("load", "account.transfer"))),
        *_network_rows(result),
        ("throughput", f"{number(result['tps'])} tx/s over {result['duration_s']:g} s"),
        ("latency p50 / p95 / p99", " / ".join(number(result[k], " ms") for k in ("p50_ms", "p95_ms", "p99_ms"))),
        ("latency max", number(result["max_ms"], " ms")),
        ("node CPU", f"{number(result['node_cpu_percent'], ' %')} (verifiers {verifiers})"),
        ("client CPU", number(result.get("client_cpu_percent"), " %")),
        ("verify rate, one core", f"{number(result['verify_rate_per_core'])} /s"),
        ("TPS / verify rate", ratio),
        ("submitted / committed", f"{number(result['submitted'])} / {number(result['committed'])}"),
        ("succeeded / failed", f"{number(result['succeeded'])} / {number(result['failed'])}"),
        ("refused, retried", number(result["rejected_retryable"])),
        ("refused for good", number(result["rejected"])),
        ("pending / dropped / lost", f"{result['pending']} / {result['dropped']} / {result['lost']}"),
        ("blocks, mean size", f"{result['blocks_in_window']} blocks, {number(result['mean_block_transactions'])} tx"),
        ("pre-signed", f"{number(result['presigned'])} in {result['presign_s']:g} s"),
        ("machine", f"{hardware.get('cpu_model', '?')}, {hardware.get('cores', '?')} cores, {memory} GiB"),
    ]
