"""`gusu bench --evm erc20`: ERC-20 transfers through ``eth_sendRawTransaction``, Gusu beside Hardhat (issue 10).

One client, the same for every node it drives (a throw-away Gusu `ecdsa` chain running the `evm` contract, one
node or a network, and Hardhat 2's own ``hardhat node`` from tests/eth/hardhat):

1. **setup**: deploy the ERC-20 of tests/execution/evm/fixtures/Token.json with a funded key (the Gusu chain's dev
   key; Hardhat's first default account), then give every sender tokens (and, where gas has a price, coin for
   the fee), each setup transaction committed with a success receipt;
2. **closed loop**: `in_flight` senders each keep one signed EIP-155 ``transfer`` (to a fresh recipient) in
   flight: send, wait until it is in a block with a success receipt, send the next. The sustained rate is the
   transactions committed inside the measured window divided by its length;
3. **open loop**: transfers at a fixed rate (half the sustained one unless given), each from an idle sender;
   latency is counted from the moment a transfer was due, so a client that falls behind shows as latency.

Commits are seen by polling the node's blocks (``eth_blockNumber``, then ``eth_getBlockByNumber`` of the new
ones) and every committed transfer's receipt is read (``eth_getTransactionReceipt``, status 1); both in JSON-RPC
batches. Latency is send to block seen, so it includes up to one poll interval (`COMMIT_POLL_INTERVAL_S`).
Each phase also reports how long ``eth_sendRawTransaction`` took to answer (`send_p50_ms`, `send_p99_ms`), part of
a closed-loop sender's round: Gusu answers once the transfer is journaled, Hardhat's automine once it is mined.

A run is a result only if no transaction was refused, failed or lost (`get_evm_bench_error`); the CLI then exits 1.
Senders keep one transaction in flight each, so a nonce never runs ahead of the chain: Hardhat's automine refuses
nonce gaps, and no node has to hold a queue of future nonces.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson

from gusu.crypto.ecdsa import keccak256
from gusu.eval.bench import (
    NODE_STOP_TIMEOUT_S,
    SCRYPT_N_THROWAWAY,
    THROWAWAY_CHAIN_ID,
    BenchConfig,
    BenchError,
    CpuMeter,
    Progress,
    ThrowawayNode,
    compute_percentile,
    find_free_port,
    get_hardware,
    launch_throwaway_node,
    stop_throwaway_node,
)
from gusu.eval.network import NODES_MAX, throwaway_network
from gusu.execution.evm.bench import load_token_init_code
from gusu.ledger.ethtx import SECP256K1_ORDER, compute_eth_address, encode_signed_legacy_transaction
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Genesis, load_genesis, save_genesis

EVM_LOADS: Final = ("erc20",)
DEFAULT_IN_FLIGHT: Final = 64
IN_FLIGHT_MAX: Final = 1024
ROUNDS_MAX: Final = 20
"""Rounds of one `gusu bench --evm` run (each runs every target once, a few minutes)."""
DEFAULT_EVM_SENDERS: Final = 256
"""Senders funded per target; the open loop needs rate x latency of them idle-or-busy at once."""
EVM_SENDERS_MAX: Final = 4096
DEFAULT_EVM_WARMUP_S: Final = 3.0
DEFAULT_EVM_DURATION_S: Final = 20.0
DEFAULT_EVM_DRAIN_TIMEOUT_S: Final = 30.0
"""How long one transaction may stay unseen in a block before it counts as lost."""
DURATION_S_MAX: Final = 3600.0
BLOCK_INTERVAL_MS_MAX: Final = 60_000
COMMIT_POLL_INTERVAL_S: Final = 0.01
WATCH_ERRORS_MAX: Final = 20
"""Failed block polls in a row after which the watcher gives up."""
BLOCKS_PER_POLL_MAX: Final = 200
"""Blocks fetched in one JSON-RPC batch (Gusu allows 1,000 requests in a batch)."""
RECEIPTS_PER_BATCH_MAX: Final = 500
FUNDING_CHUNK: Final = 32
"""Setup transactions sent (one after another, in nonce order) before waiting for their receipts."""
SETUP_TIMEOUT_S: Final = 120.0
HTTP_TIMEOUT_S: Final = 60.0
TRANSFER_GAS_LIMIT: Final = 100_000
"""An ERC-20 transfer to a fresh recipient uses about 51,000 gas."""
DEPLOY_GAS_LIMIT: Final = 3_000_000
TOKEN_SUPPLY: Final = 10**30
TOKENS_PER_SENDER: Final = 10**24
NATIVE_PER_SENDER_MAX: Final = 10**18
"""Coin given to each sender for fees where gas has a price (1 ether on Hardhat)."""
GAS_PRICE_FACTOR: Final = 2
"""Senders offer twice the node's eth_gasPrice: Hardhat's base fee may rise a little between blocks."""
CLOSED_PRESIGN_TPS: Final = 1_000
"""Closed loop: transfers signed before the phase per second of it (more are signed when needed)."""
PRESIGN_TOTAL_MAX: Final = 200_000
LATE_TOLERANCE_S: Final = 0.005
"""Open loop: a transfer sent later than this after it was due counts as late."""
HARDHAT_PROJECT: Final = Path(__file__).resolve().parents[3] / "tests" / "eth" / "hardhat"
HARDHAT_BOOTSTRAP: Final = Path("node_modules") / "hardhat" / "internal" / "cli" / "bootstrap.js"
HARDHAT_READY_TIMEOUT_S: Final = 90.0
HARDHAT_FUNDED_SECRET: Final = bytes.fromhex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
"""Account #0 of Hardhat's default development mnemonic (funded with 10,000 ether by `hardhat node`)."""
TRANSFER_SELECTOR: Final = bytes.fromhex("a9059cbb")
SENDER_SEED_TAG: Final = b"gusu bench evm sender"
RECIPIENT_TAG: Final = b"gusu bench evm recipient"
LOG_TAIL_LINES: Final = 30
GATHER_DEFAULT_LINE: Final = "block_gather_ms = 0\n"
"""How `gusu.node.config.render_config` writes the setting `--block-gather-ms` changes."""
API_SECTION_LINE: Final = "[api]\n"


class EvmBenchError(BenchError):
    code = "evm_bench"


# --- pure parts: pacing, accounting -----------------------------------------------------------------


def compute_due_offset_s(index: int, rate: float) -> float:
    """When the `index`-th (0-based) transfer of an open loop at `rate` per second is due, from its start."""
    assert index >= 0 and rate > 0
    return index / rate


def count_due(elapsed_s: float, rate: float) -> int:
    """Transfers due `elapsed_s` after an open loop at `rate` per second started (the first is due at 0)."""
    assert rate > 0
    if elapsed_s < 0:
        return 0
    return math.floor(elapsed_s * rate) + 1


def compute_open_loop_rate(sustained_tps: float, rate: float | None) -> float | None:
    """The open loop's rate: `rate` when given, else half the sustained rate (None when nothing was sustained)."""
    if rate is not None:
        return rate
    return sustained_tps / 2 if sustained_tps > 0 else None


@dataclass(frozen=True, slots=True)
class SendRecord:
    """One load transfer, times in seconds from its phase's start."""

    due_at_s: float
    """When it was due: the closed loop sends at once, so it is the send time there."""
    sent_at_s: float
    committed_at_s: float | None = None
    """When its block was seen; None if it never was."""
    is_success: bool | None = None
    """Its receipt's status; None without a receipt."""
    refusal: str | None = None
    """The node's error when it refused the transfer."""
    answered_at_s: float | None = None
    """When ``eth_sendRawTransaction`` answered (accepted or refused); None if the request itself failed."""

    @property
    def is_lost(self) -> bool:
        """Accepted by the node but never seen committed."""
        return self.refusal is None and self.committed_at_s is None


@dataclass(frozen=True, slots=True)
class PhaseResult:
    mode: str
    """closed or open."""
    window_s: float
    sent: int
    committed: int
    succeeded: int
    failed: int
    refused: int
    lost: int
    committed_in_window: int
    tps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    late: int = 0
    send_p50_ms: float | None = None
    """How long ``eth_sendRawTransaction`` took to answer, for the transfers due in the window: a node that
    answers once the transfer is durable (Gusu's journal) or committed (Hardhat's automine) shows it here."""
    send_p99_ms: float | None = None
    in_flight: int | None = None
    rate: float | None = None
    refusals: tuple[str, ...] = ()
    """The first few refusal messages."""

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "in_flight": self.in_flight,
            "rate": None if self.rate is None else round(self.rate, 1),
            "window_s": round(self.window_s, 3),
            "sent": self.sent,
            "committed": self.committed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "refused": self.refused,
            "lost": self.lost,
            "committed_in_window": self.committed_in_window,
            "tps": round(self.tps, 1),
            "p50_ms": _round_ms(self.p50_ms),
            "p95_ms": _round_ms(self.p95_ms),
            "p99_ms": _round_ms(self.p99_ms),
            "max_ms": _round_ms(self.max_ms),
            "send_p50_ms": _round_ms(self.send_p50_ms),
            "send_p99_ms": _round_ms(self.send_p99_ms),
            "late": self.late,
            "refusals": list(self.refusals),
        }


REFUSALS_KEPT: Final = 5


def _round_ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def compute_phase_result(
    records: Sequence[SendRecord],
    window_start_s: float,
    window_end_s: float,
    *,
    mode: str,
    late: int = 0,
    in_flight: int | None = None,
    rate: float | None = None,
) -> PhaseResult:
    """Account for a phase: every record lands in exactly one of succeeded, failed, refused or lost.

    Throughput counts the transfers whose block was seen inside [window_start_s, window_end_s); latency
    (from due to block seen) those due inside it, so warm-up and drain stay out of both figures.
    """
    assert window_end_s > window_start_s
    committed = [record for record in records if record.committed_at_s is not None]
    in_window = sum(
        1
        for record in committed
        if record.committed_at_s is not None and window_start_s <= record.committed_at_s < window_end_s
    )
    latencies = sorted(
        1000 * (record.committed_at_s - record.due_at_s)
        for record in committed
        if record.committed_at_s is not None and window_start_s <= record.due_at_s < window_end_s
    )
    answers = sorted(
        1000 * (record.answered_at_s - record.sent_at_s)
        for record in records
        if record.answered_at_s is not None and window_start_s <= record.due_at_s < window_end_s
    )
    refusals = [record.refusal for record in records if record.refusal is not None]
    return PhaseResult(
        mode=mode,
        window_s=window_end_s - window_start_s,
        sent=len(records),
        committed=len(committed),
        succeeded=sum(1 for record in committed if record.is_success is True),
        failed=sum(1 for record in committed if record.is_success is not True),
        refused=len(refusals),
        lost=sum(1 for record in records if record.is_lost),
        committed_in_window=in_window,
        tps=in_window / (window_end_s - window_start_s),
        p50_ms=compute_percentile(latencies, 0.50),
        p95_ms=compute_percentile(latencies, 0.95),
        p99_ms=compute_percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else None,
        late=late,
        send_p50_ms=compute_percentile(answers, 0.50),
        send_p99_ms=compute_percentile(answers, 0.99),
        in_flight=in_flight,
        rate=rate,
        refusals=tuple(refusals[:REFUSALS_KEPT]),
    )


def get_evm_bench_error(result: dict[str, Any]) -> str | None:
    """Why the run is not a result (a transfer refused, failed or lost, a target that did not run), or None."""
    problems: list[str] = []
    for target in result.get("targets", []):
        name = target.get("name", "?")
        if target.get("error"):
            problems.append(f"{name}: {target['error']}")
            continue
        for phase_name in ("closed", "open"):
            phase = target.get(phase_name)
            if not isinstance(phase, dict):
                continue
            counts = [f"{phase[kind]} {kind}" for kind in ("refused", "failed", "lost") if phase.get(kind)]
            if counts:
                first = f" (first: {phase['refusals'][0]})" if phase.get("refusals") else ""
                problems.append(f"{name}, {phase_name} loop: {', '.join(counts)}{first}")
    return "; ".join(problems) if problems else None


# --- Ethereum transactions: EIP-155 legacy, signed here -----------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedEthTransaction:
    transaction_hash: str
    """0x hex, lower case (keccak-256 of the raw transaction)."""
    raw_hex: str


def sign_legacy_transaction(
    secret: bytes,
    *,
    chain_id: int,
    nonce: int,
    gas_price: int,
    gas_limit: int,
    to: bytes | None,
    value: int,
    data: bytes,
) -> SignedEthTransaction:
    """An EIP-155 legacy transaction (v = chain_id x 2 + 35 + y parity), as every wallet signs one."""
    raw = encode_signed_legacy_transaction(
        secret, chain_id=chain_id, nonce=nonce, gas_price=gas_price, gas_limit=gas_limit, to=to, value=value, data=data
    )
    return SignedEthTransaction("0x" + keccak256(raw).hex(), "0x" + raw.hex())


def encode_transfer_call(to: bytes, amount: int) -> bytes:
    return TRANSFER_SELECTOR + to.rjust(32, b"\x00") + amount.to_bytes(32, "big")


def derive_sender_secret(run_tag: bytes, index: int) -> bytes:
    """A sender key of this run (any 32 bytes below the curve order, not zero)."""
    counter = 0
    while True:
        secret = keccak256(SENDER_SEED_TAG + run_tag + index.to_bytes(4, "big") + counter.to_bytes(4, "big"))
        if 0 < int.from_bytes(secret, "big") < SECP256K1_ORDER:
            return secret
        counter += 1


@dataclass(slots=True)
class EthSender:
    """A funded account sending ERC-20 transfers, one at a time, with consecutive nonces."""

    secret: bytes
    address: bytes
    chain_id: int
    gas_price: int
    token: bytes
    nonce: int = 0
    signed: deque[SignedEthTransaction] = field(default_factory=deque)
    """Transfers signed ahead, from `nonce` on."""
    signed_up_to: int = 0
    """The nonce after the last one signed."""

    def sign_ahead(self, count: int) -> None:
        start = max(self.nonce, self.signed_up_to)
        for nonce in range(start, start + count):
            recipient = keccak256(RECIPIENT_TAG + self.address + nonce.to_bytes(8, "big"))[:20]
            self.signed.append(
                sign_legacy_transaction(
                    self.secret,
                    chain_id=self.chain_id,
                    nonce=nonce,
                    gas_price=self.gas_price,
                    gas_limit=TRANSFER_GAS_LIMIT,
                    to=self.token,
                    value=0,
                    data=encode_transfer_call(recipient, 1),
                )
            )
        self.signed_up_to = start + count

    def take(self) -> SignedEthTransaction:
        """The transfer with the next nonce (signed now if none is left); the nonce counts as used."""
        if not self.signed:
            self.sign_ahead(1)
        self.nonce += 1
        return self.signed.popleft()


# --- JSON-RPC ---------------------------------------------------------------------------------------


class RpcError(EvmBenchError):
    pass


class EthRpc:
    """JSON-RPC 2.0 over one pooled aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self._session = session
        self.url = url
        self._next_id = 0

    async def _post(self, body: Any) -> Any:
        async with self._session.post(
            self.url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
        ) as answer:
            payload = await answer.read()
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise RpcError(f"{self.url} answered HTTP {answer.status}: {payload[:200]!r}") from None

    def _request(self, method: str, params: list[Any]) -> dict[str, Any]:
        self._next_id += 1
        return {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}

    async def call(self, method: str, params: list[Any]) -> Any:
        answer = await self._post(self._request(method, params))
        if not isinstance(answer, dict):
            raise RpcError(f"{method}: not a JSON-RPC answer: {str(answer)[:200]}")
        if "error" in answer:
            raise RpcError(f"{method}: {_error_text(answer['error'])}")
        return answer.get("result")

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """The results in order; RpcError if any request failed."""
        if not calls:
            return []
        requests = [self._request(method, params) for method, params in calls]
        answer = await self._post(requests)
        if not isinstance(answer, list):
            raise RpcError(f"a batch of {len(calls)} got no batch answer: {str(answer)[:200]}")
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        results = []
        for request in requests:
            item = by_id.get(request["id"])
            if item is None or "error" in item:
                detail = "no answer" if item is None else _error_text(item["error"])
                raise RpcError(f"{request['method']} in a batch: {detail}")
            results.append(item.get("result"))
        return results

    async def send_raw(self, raw_hex: str) -> str | None:
        """None when the node accepted the transaction, else its error message."""
        answer = await self._post(self._request("eth_sendRawTransaction", [raw_hex]))
        if isinstance(answer, dict) and "error" in answer:
            return _error_text(answer["error"])
        if not isinstance(answer, dict) or not isinstance(answer.get("result"), str):
            return f"not a JSON-RPC answer: {str(answer)[:200]}"
        return None


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return f"{error.get('message', '')} (code {error.get('code')})"[:500]
    return str(error)[:500]


# --- seeing commits ---------------------------------------------------------------------------------

Commit = tuple[float, bool]
"""(time the block was seen, receipt status 1)."""


class CommitWatcher:
    """Polls the node's new blocks; resolves the future of every expected transaction found in one."""

    def __init__(self, rpc: EthRpc, clock: Callable[[], float]) -> None:
        self._rpc = rpc
        self._clock = clock
        self._expected: dict[str, asyncio.Future[Commit]] = {}
        self._next_height = 0
        self.polls = 0

    async def start_at_tip(self) -> None:
        self._next_height = int(await self._rpc.call("eth_blockNumber", []), 16) + 1

    def expect(self, transaction_hash: str) -> asyncio.Future[Commit]:
        """Registered before the send: an automining node has the block before the send answers."""
        future: asyncio.Future[Commit] = asyncio.get_running_loop().create_future()
        self._expected[transaction_hash] = future
        return future

    def forget(self, transaction_hash: str) -> None:
        future = self._expected.pop(transaction_hash, None)
        if future is not None and not future.done():
            future.cancel()

    async def run(self) -> None:
        """Poll until cancelled; after WATCH_ERRORS_MAX failed polls in a row every waiting transfer fails."""
        failures = 0
        while True:
            try:
                await self.poll_once()
                failures = 0
            except (RpcError, aiohttp.ClientError, TimeoutError) as error:
                failures += 1
                if failures >= WATCH_ERRORS_MAX:
                    for future in self._expected.values():
                        if not future.done():
                            future.set_exception(EvmBenchError(f"watching the node's blocks failed: {error}"))
                    self._expected.clear()
                    raise
            await asyncio.sleep(COMMIT_POLL_INTERVAL_S)

    async def poll_once(self) -> None:
        self.polls += 1
        tip = int(await self._rpc.call("eth_blockNumber", []), 16)
        while self._next_height <= tip:
            last = min(tip, self._next_height + BLOCKS_PER_POLL_MAX - 1)
            blocks = await self._rpc.batch(
                [("eth_getBlockByNumber", [hex(height), False]) for height in range(self._next_height, last + 1)]
            )
            seen_at = self._clock()
            found: list[str] = []
            for block in blocks:
                if not isinstance(block, dict):
                    raise RpcError("eth_getBlockByNumber answered no block below the tip")
                for item in block.get("transactions", []):
                    transaction_hash = item if isinstance(item, str) else item.get("hash", "")
                    if transaction_hash.lower() in self._expected:
                        found.append(transaction_hash.lower())
            for start in range(0, len(found), RECEIPTS_PER_BATCH_MAX):
                chunk = found[start : start + RECEIPTS_PER_BATCH_MAX]
                receipts = await self._rpc.batch([("eth_getTransactionReceipt", [hash_]) for hash_ in chunk])
                for transaction_hash, receipt in zip(chunk, receipts, strict=True):
                    is_success = isinstance(receipt, dict) and receipt.get("status") == "0x1"
                    future = self._expected.pop(transaction_hash)
                    if not future.done():
                        future.set_result((seen_at, is_success))
            self._next_height = last + 1


# --- one target: setup and the two phases -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvmTarget:
    """A node (or network) to drive."""

    name: str
    rpc_urls: tuple[str, ...]
    """Senders are spread over these; blocks are watched on the first."""
    funder_secret: bytes
    pids: tuple[int, ...]
    """Processes whose CPU is measured (with their children)."""
    nodes: int = 1
    description: str = ""


@dataclass(frozen=True, slots=True)
class EvmRunSettings:
    in_flight: int = DEFAULT_IN_FLIGHT
    senders: int = DEFAULT_EVM_SENDERS
    rate: float | None = None
    """The open loop's rate; None is half the closed loop's sustained rate."""
    warmup_s: float = DEFAULT_EVM_WARMUP_S
    duration_s: float = DEFAULT_EVM_DURATION_S
    drain_timeout_s: float = DEFAULT_EVM_DRAIN_TIMEOUT_S
    is_open_loop_run: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.in_flight <= IN_FLIGHT_MAX:
            raise EvmBenchError(f"--in-flight must be between 1 and {IN_FLIGHT_MAX}")
        if not self.in_flight <= self.senders <= EVM_SENDERS_MAX:
            raise EvmBenchError(f"--senders must be between --in-flight ({self.in_flight}) and {EVM_SENDERS_MAX}")
        if self.rate is not None and not (0 < self.rate < 1e6 and math.isfinite(self.rate)):
            raise EvmBenchError("--rate must be a positive number of transactions per second below 1,000,000")
        if not 0 <= self.warmup_s <= DURATION_S_MAX or not 0 < self.duration_s <= DURATION_S_MAX:
            raise EvmBenchError(f"--warmup must be 0 to {DURATION_S_MAX:g} s and --duration above 0, at most that")
        if not 0 < self.drain_timeout_s <= DURATION_S_MAX:
            raise EvmBenchError(f"--drain-timeout must be above 0 and at most {DURATION_S_MAX:g} s")


class _Driver:
    """The client against one target."""

    def __init__(self, target: EvmTarget, settings: EvmRunSettings, session: aiohttp.ClientSession) -> None:
        self.target = target
        self.settings = settings
        self.rpcs = [EthRpc(session, url) for url in target.rpc_urls]
        self.rpc = self.rpcs[0]
        self.start = time.perf_counter()
        self.watcher = CommitWatcher(self.rpc, self.clock)
        self.chain_id = 0
        self.gas_price = 0
        self.senders: list[EthSender] = []
        self.token = b""
        self.cpu_closed: dict[str, Any] = {}
        self.cpu_open: dict[str, Any] = {}

    def clock(self) -> float:
        return time.perf_counter() - self.start

    def rpc_of(self, index: int) -> EthRpc:
        return self.rpcs[index % len(self.rpcs)]

    async def commit_all(self, sends: Sequence[tuple[EthRpc, SignedEthTransaction]], what: str) -> list[Any]:
        """Send in order, one after another, then wait for every receipt; their receipts (all status 1)."""
        futures = []
        for rpc, transaction in sends:
            futures.append(self.watcher.expect(transaction.transaction_hash))
            refusal = await rpc.send_raw(transaction.raw_hex)
            if refusal is not None:
                raise EvmBenchError(f"{self.target.name}: {what} was refused: {refusal}")
        try:
            commits = await asyncio.wait_for(asyncio.gather(*futures), SETUP_TIMEOUT_S)
        except TimeoutError:
            raise EvmBenchError(f"{self.target.name}: {what} did not commit within {SETUP_TIMEOUT_S:g} s") from None
        if not all(is_success for _, is_success in commits):
            raise EvmBenchError(f"{self.target.name}: {what} failed (a receipt with status 0)")
        return await self.rpc.batch(
            [("eth_getTransactionReceipt", [transaction.transaction_hash]) for _, transaction in sends]
        )

    async def setup(self, run_tag: bytes) -> dict[str, Any]:
        started = self.clock()
        self.chain_id = int(await self.rpc.call("eth_chainId", []), 16)
        self.gas_price = int(await self.rpc.call("eth_gasPrice", []), 16) * GAS_PRICE_FACTOR
        client_version = await self.rpc.call("web3_clientVersion", [])
        await self.watcher.start_at_tip()
        watching = asyncio.create_task(self.watcher.run())
        try:
            await self._deploy_and_fund(run_tag)
        finally:
            watching.cancel()
        return {
            "client_version": client_version,
            "chain_id": self.chain_id,
            "gas_price": self.gas_price,
            "token": "0x" + self.token.hex(),
            "setup_s": round(self.clock() - started, 2),
        }

    async def _deploy_and_fund(self, run_tag: bytes) -> None:
        funder = self.target.funder_secret
        funder_address = compute_eth_address(funder)
        nonce = int(await self.rpc.call("eth_getTransactionCount", ["0x" + funder_address.hex(), "pending"]), 16)

        def sign(to: bytes | None, value: int, data: bytes, gas_limit: int) -> SignedEthTransaction:
            nonlocal nonce
            nonce += 1
            return sign_legacy_transaction(
                funder,
                chain_id=self.chain_id,
                nonce=nonce - 1,
                gas_price=self.gas_price,
                gas_limit=gas_limit,
                to=to,
                value=value,
                data=data,
            )

        (receipt,) = await self.commit_all(
            [(self.rpc, sign(None, 0, load_token_init_code(TOKEN_SUPPLY), DEPLOY_GAS_LIMIT))], "deploying the token"
        )
        self.token = bytes.fromhex(str(receipt["contractAddress"])[2:])
        secrets_ = [derive_sender_secret(run_tag, index) for index in range(self.settings.senders)]
        self.senders = [
            EthSender(secret, compute_eth_address(secret), self.chain_id, self.gas_price, self.token)
            for secret in secrets_
        ]
        native = 0
        if self.gas_price > 0:
            balance = int(await self.rpc.call("eth_getBalance", ["0x" + funder_address.hex(), "latest"]), 16)
            native = min(NATIVE_PER_SENDER_MAX, balance // (2 * len(self.senders)))
        sends: list[tuple[EthRpc, SignedEthTransaction]] = []
        for sender in self.senders:
            sends.append(
                (self.rpc, sign(self.token, 0, encode_transfer_call(sender.address, TOKENS_PER_SENDER), 80_000))
            )
            if native:
                sends.append((self.rpc, sign(sender.address, native, b"", 21_000)))
        for start in range(0, len(sends), FUNDING_CHUNK):
            await self.commit_all(sends[start : start + FUNDING_CHUNK], "funding the senders")

    async def _send_one(self, index: int, sender: EthSender, due_at: float) -> SendRecord:
        transaction = sender.take()
        future = self.watcher.expect(transaction.transaction_hash)
        sent_at = self.clock()
        answered_at: float | None = None
        try:
            refusal = await self.rpc_of(index).send_raw(transaction.raw_hex)
            answered_at = self.clock()
        except (RpcError, aiohttp.ClientError, TimeoutError) as error:
            refusal = f"the request failed: {error!r}"[:500]
        if refusal is not None:
            self.watcher.forget(transaction.transaction_hash)
            sender.nonce -= 1  # not used: the next transfer must reuse it (signed again)
            sender.signed.clear()
            sender.signed_up_to = sender.nonce
            return SendRecord(due_at, sent_at, refusal=refusal, answered_at_s=answered_at)
        try:
            committed_at, is_success = await asyncio.wait_for(future, self.settings.drain_timeout_s)
        except (TimeoutError, EvmBenchError):  # never seen in a block: lost
            self.watcher.forget(transaction.transaction_hash)
            return SendRecord(due_at, sent_at, answered_at_s=answered_at)
        return SendRecord(due_at, sent_at, committed_at, is_success, answered_at_s=answered_at)

    async def run_closed(self, progress: Progress) -> PhaseResult:
        settings = self.settings
        active = self.senders[: settings.in_flight]
        per_sender = math.ceil(
            min(PRESIGN_TOTAL_MAX, CLOSED_PRESIGN_TPS * (settings.warmup_s + settings.duration_s)) / len(active)
        )
        for sender in active:
            sender.sign_ahead(per_sender)
        records: list[SendRecord] = []
        stop_at = 0.0

        async def loop(index: int, sender: EthSender) -> None:
            while self.clock() < stop_at:
                now = self.clock()
                record = await self._send_one(index, sender, now)
                records.append(record)
                if record.refusal is not None or record.committed_at_s is None:
                    return  # stop this sender: counted, and the run will not be a result

        progress.phase(f"{self.target.name}: closed loop, {settings.in_flight} in flight", None)
        window_start = self.clock() + settings.warmup_s
        stop_at = window_start + settings.duration_s
        meter = CpuMeter(list(self.target.pids))
        watching = asyncio.create_task(self.watcher.run())
        metering = asyncio.create_task(_meter_window(meter, window_start, stop_at, self.clock))
        try:
            await asyncio.gather(*(loop(index, sender) for index, sender in enumerate(active)))
            await metering
        finally:
            watching.cancel()
            metering.cancel()
        result = compute_phase_result(records, window_start, stop_at, mode="closed", in_flight=settings.in_flight)
        self.cpu_closed = meter.result()
        return result

    async def run_open(self, rate: float, progress: Progress) -> PhaseResult:
        settings = self.settings
        total_s = settings.warmup_s + settings.duration_s
        per_sender = math.ceil(min(PRESIGN_TOTAL_MAX, rate * total_s * 1.1) / len(self.senders)) + 1
        for sender in self.senders:
            sender.signed.clear()
            sender.signed_up_to = sender.nonce
            sender.sign_ahead(per_sender)
        idle: asyncio.Queue[tuple[int, EthSender]] = asyncio.Queue()
        for item in enumerate(self.senders):
            idle.put_nowait(item)
        records: list[SendRecord] = []
        late = 0
        tasks: set[asyncio.Task[None]] = set()

        async def one(index: int, sender: EthSender, due_at: float) -> None:
            record = await self._send_one(index, sender, due_at)
            records.append(record)
            if record.refusal is None and record.committed_at_s is not None:
                idle.put_nowait((index, sender))  # a sender with a lost transfer is not used again

        progress.phase(f"{self.target.name}: open loop at {rate:,.0f} transfers/s", None)
        start = self.clock()
        window_start, stop_at = start + settings.warmup_s, start + total_s
        meter = CpuMeter(list(self.target.pids))
        watching = asyncio.create_task(self.watcher.run())
        metering = asyncio.create_task(_meter_window(meter, window_start, stop_at, self.clock))
        try:
            index = 0
            while True:
                due_at = start + compute_due_offset_s(index, rate)
                if due_at >= stop_at:
                    break
                wait = due_at - self.clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                sender_index, sender = await idle.get()
                if self.clock() - due_at > LATE_TOLERANCE_S:
                    late += 1
                task = asyncio.create_task(one(sender_index, sender, due_at))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            if tasks:
                await asyncio.gather(*tasks)
            await metering
        finally:
            watching.cancel()
            metering.cancel()
        self.cpu_open = meter.result()
        return compute_phase_result(records, window_start, stop_at, mode="open", late=late, rate=rate)


async def _meter_window(meter: CpuMeter, start_s: float, stop_s: float, clock: Callable[[], float]) -> None:
    await asyncio.sleep(max(0.0, start_s - clock()))
    meter.start()
    await asyncio.sleep(max(0.0, stop_s - clock()))
    meter.stop()


async def drive_target(target: EvmTarget, settings: EvmRunSettings, progress: Progress) -> dict[str, Any]:
    """Setup, closed loop, open loop against `target`; the target's part of the result."""
    connector = aiohttp.TCPConnector(limit=settings.senders + 16)
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        driver = _Driver(target, settings, session)
        progress.phase(f"{target.name}: deploying the ERC-20, funding {settings.senders} senders", None)
        facts = await driver.setup(os.urandom(16))
        closed = await driver.run_closed(progress)
        document: dict[str, Any] = {
            "name": target.name,
            "description": target.description,
            "nodes": target.nodes,
            **facts,
            "closed": closed.to_json() | {"node_cpu": driver.cpu_closed},
        }
        rate = compute_open_loop_rate(closed.tps, settings.rate)
        if settings.is_open_loop_run and rate is not None:
            is_clean = not (closed.refused or closed.failed or closed.lost)
            if is_clean:
                opened = await driver.run_open(rate, progress)
                document["open"] = opened.to_json() | {"node_cpu": driver.cpu_open}
        document["polls"] = driver.watcher.polls
        return document


# --- the targets: Hardhat's node, a throw-away Gusu chain or network -----------------------------------


def find_hardhat() -> tuple[str, Path]:
    """(node executable, hardhat's CLI script); EvmBenchError saying how to install them when missing."""
    node = shutil.which("node")
    script = HARDHAT_PROJECT / HARDHAT_BOOTSTRAP
    if node is None:
        raise EvmBenchError("--against-hardhat needs Node.js: install it (Debian: apt-get install nodejs npm)")
    if not script.is_file():
        raise EvmBenchError(
            f"Hardhat is not installed: {script} is missing; run `npm ci` in {HARDHAT_PROJECT} "
            "(tests/eth/test_eth_hardhat.py does it on first use)"
        )
    return node, script


@contextmanager
def hardhat_node() -> Iterator[EvmTarget]:
    """Hardhat 2's own `hardhat node` (automine) from tests/eth/hardhat on a free port, stopped on leaving."""
    node, script = find_hardhat()
    port = find_free_port()
    directory = Path(tempfile.mkdtemp(prefix="gusu-bench-hardhat-"))
    log_path = directory / "hardhat.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [node, str(script), "node", "--hostname", "127.0.0.1", "--port", str(port)],
                cwd=HARDHAT_PROJECT,
                env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}/"
        asyncio.run(_wait_serving(url, process, log_path))
        version = _read_hardhat_version()
        yield EvmTarget("hardhat", (url,), HARDHAT_FUNDED_SECRET, (process.pid,), 1, f"hardhat {version} node")
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=NODE_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)


def _read_hardhat_version() -> str:
    try:
        document = orjson.loads((HARDHAT_PROJECT / "node_modules" / "hardhat" / "package.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return "?"
    return str(document.get("version", "?"))


async def _wait_serving(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + HARDHAT_READY_TIMEOUT_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        rpc = EthRpc(session, url)
        while True:
            try:
                await rpc.call("eth_chainId", [])
                return
            except (aiohttp.ClientError, RpcError, TimeoutError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
                state = f"exited with status {process.returncode}" if process.poll() is not None else "did not serve"
                raise EvmBenchError(f"the Hardhat node {state}:\n" + "\n".join(tail))
            await asyncio.sleep(0.2)


def enable_evm(genesis: Genesis, block_interval_ms: int | None = None) -> Genesis:
    """`genesis` with the evm contract, EVM code deployable without governance approval, and the block
    interval (genesis `block_interval_ms`: solo's pacing, Tendermint's timeout_commit) when given."""
    parameters = dict(DEFAULT_PARAMETERS) | dict(genesis.parameters) | {"contract_deploy_approval_required": 0}
    if block_interval_ms is not None:
        parameters["block_interval_ms"] = block_interval_ms
    return replace(
        genesis,
        contracts=tuple(sorted({*genesis.contracts, "evm"})),
        parameters=tuple(sorted(parameters.items())),
    )


def rewrite_genesis_files(directory: Path, block_interval_ms: int | None) -> None:
    """Enable the EVM in every genesis.json of a chain or network not yet started (all copies are equal)."""
    paths = sorted(directory.rglob("genesis.json"))
    assert paths, f"no genesis.json under {directory}"
    original = load_genesis(paths[0])
    changed = enable_evm(original, block_interval_ms)
    for path in paths:
        assert load_genesis(path) == original, "every copy of a fresh chain's genesis is the same"
        save_genesis(path, changed)


def rewrite_config_files(directory: Path, block_gather_ms: int | None) -> None:
    """Set `[consensus] block_gather_ms` in every node's config.toml of a chain or network not yet started."""
    if block_gather_ms is None:
        return
    paths = sorted(directory.rglob("config.toml"))
    assert paths, f"no config.toml under {directory}"
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert text.count(GATHER_DEFAULT_LINE) == 1, f"{path} was not written by render_config"
        path.write_text(text.replace(GATHER_DEFAULT_LINE, f"block_gather_ms = {block_gather_ms}\n"), encoding="utf-8")


def rewrite_gateway_settings(directory: Path, gateway_workers: int) -> None:
    """Give the one node's config.toml under `directory` `gateway_workers` RPC gateway processes on a free port."""
    (path,) = sorted(directory.rglob("config.toml"))
    text = path.read_text(encoding="utf-8")
    assert text.count(API_SECTION_LINE) == 1, f"{path} was not written by render_config"
    path.write_text(
        text.replace(API_SECTION_LINE, f"{API_SECTION_LINE}gateway_workers = {gateway_workers}\ngateway_port = 0\n"),
        encoding="utf-8",
    )


def _prepare_chain(
    directory: Path, block_interval_ms: int | None, block_gather_ms: int | None, gateway_workers: int = 0
) -> None:
    rewrite_genesis_files(directory, block_interval_ms)
    rewrite_config_files(directory, block_gather_ms)
    if gateway_workers:
        rewrite_gateway_settings(directory, gateway_workers)


@contextmanager
def gusu_target(
    nodes: int,
    workers: int,
    block_interval_ms: int | None,
    block_gather_ms: int | None = None,
    gateway_workers: int = 0,
) -> Iterator[EvmTarget]:
    """A throw-away `ecdsa` chain running the evm contract: one node, or a network of `nodes` validators.
    With `gateway_workers` (one node only) the client sends to the node's RPC gateway (`gusu.api.gateway`)."""
    if not 1 <= nodes <= NODES_MAX:
        raise EvmBenchError(f"--nodes must be between 1 and {NODES_MAX}")
    if gateway_workers and nodes != 1:
        raise EvmBenchError("--gateway-workers goes with one node")
    interval = block_interval_ms if block_interval_ms is not None else dict(DEFAULT_PARAMETERS)["block_interval_ms"]
    pacing = f"block_interval_ms {interval}" + (f", block_gather_ms {block_gather_ms}" if block_gather_ms else "")
    if gateway_workers:
        pacing += f", {gateway_workers} RPC gateway processes"
    if nodes == 1:
        node = ThrowawayNode(directory=Path(tempfile.mkdtemp(prefix="gusu-bench-evm-")))
        try:
            launch_throwaway_node(
                BenchConfig(suite="ecdsa", workers=workers),
                node,
                prepare=lambda layout: _prepare_chain(
                    layout.directory, block_interval_ms, block_gather_ms, gateway_workers
                ),
            )
            assert node.process is not None and node.dev_key is not None
            assert bool(node.rpc_gateway) == bool(gateway_workers), node.rpc_gateway
            yield EvmTarget(
                "gusu",
                (node.rpc_gateway or node.endpoint + "/rpc",),
                node.dev_key.secret,
                (node.process.pid,),
                1,
                f"gusu, one ecdsa node (solo), {pacing}, {workers} verifier workers",
            )
        finally:
            stop_throwaway_node(node)
            shutil.rmtree(node.directory, ignore_errors=True)
        return
    with throwaway_network(
        nodes,
        suite_name="ecdsa",
        verifier_workers=workers,
        chain_id=THROWAWAY_CHAIN_ID,
        scrypt_n=SCRYPT_N_THROWAWAY,
        start=False,
    ) as network:
        _prepare_chain(network.directory, block_interval_ms, block_gather_ms)
        network.start()
        pids = tuple(pid for node in network.nodes if (pid := network.pid(node)) is not None)
        yield EvmTarget(
            "gusu",
            tuple(node.rpc_url for node in network.nodes),
            network.load_dev_key().secret,
            pids,
            nodes,
            f"gusu, {nodes} ecdsa validators (tendermint), {pacing}, {workers} verifier workers each",
        )


def run_evm_bench(
    settings: EvmRunSettings,
    *,
    nodes: int = 1,
    workers: int = 2,
    against_hardhat: bool = False,
    block_interval_ms: int | None = None,
    block_gather_ms: int | None = None,
    gateway_workers: int = 0,
    rounds: int = 1,
    command: str = "",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole run: Hardhat first (when asked), then Gusu, one after the other on the same cores; `rounds`
    times over, alternating, since two runs of the same code on this shared machine differed by up to 15 %."""
    assert 1 <= rounds <= ROUNDS_MAX, rounds
    from gusu.eval.bench import _SilentProgress

    shown: Progress = progress if progress is not None else _SilentProgress()
    if against_hardhat:
        find_hardhat()  # before anything starts: say at once when it is missing
    result: dict[str, Any] = {
        "load": "evm-erc20",
        "command": command,
        "hardware": get_hardware(),
        "load_average_start": [round(value, 2) for value in os.getloadavg()],
        "settings": {
            "in_flight": settings.in_flight,
            "senders": settings.senders,
            "rate": settings.rate,
            "warmup_s": settings.warmup_s,
            "duration_s": settings.duration_s,
            "drain_timeout_s": settings.drain_timeout_s,
            "block_interval_ms": block_interval_ms,
            "block_gather_ms": block_gather_ms,
            "gateway_workers": gateway_workers,
            "rounds": rounds,
            "commit_poll_interval_s": COMMIT_POLL_INTERVAL_S,
            "transaction": "EIP-155 legacy: ERC-20 transfer(fresh recipient, 1), tests/execution/evm/fixtures/Token",
        },
        "targets": [],
    }
    runs: list[Callable[[], Any]] = []
    if against_hardhat:
        runs.append(hardhat_node)
    runs.append(lambda: gusu_target(nodes, workers, block_interval_ms, block_gather_ms, gateway_workers))
    for round_ in range(1, rounds + 1):
        for make in runs:
            with make() as target:
                shown.phase(f"{target.name}: starting" + (f" (round {round_} of {rounds})" if rounds > 1 else ""), None)
                try:
                    document = asyncio.run(drive_target(target, settings, shown))
                except (EvmBenchError, aiohttp.ClientError, TimeoutError) as error:
                    document = {"name": target.name, "description": target.description, "error": str(error)}
                document["round"] = round_
                result["targets"].append(document)
    result["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    result["comparison"] = compute_comparison(result["targets"])
    return result


def compute_comparison(targets: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Gusu against Hardhat, when both ran: the throughput ratio (issue 10's target: at least 1.5).

    With several rounds, each round's ratio, and the medians of both throughputs and of the ratios; a round in
    which either target failed counts in none of them."""
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for target in targets:
        if not target.get("error"):
            by_round.setdefault(int(target.get("round", 1)), {})[str(target.get("name"))] = target
    compared = []
    for round_, named in sorted(by_round.items()):
        gusu, hardhat = named.get("gusu"), named.get("hardhat")
        if gusu is None or hardhat is None:
            continue
        gusu_tps, hardhat_tps = gusu["closed"]["tps"], hardhat["closed"]["tps"]
        compared.append(
            {
                "round": round_,
                "gusu_tps": gusu_tps,
                "hardhat_tps": hardhat_tps,
                "tps_ratio": round(gusu_tps / hardhat_tps, 3) if hardhat_tps else None,
            }
        )
    if not compared:
        return None
    if len(compared) == 1:
        return {key: value for key, value in compared[0].items() if key != "round"}
    ratios = [item["tps_ratio"] for item in compared if item["tps_ratio"] is not None]
    return {
        "gusu_tps": statistics.median(item["gusu_tps"] for item in compared),
        "hardhat_tps": statistics.median(item["hardhat_tps"] for item in compared),
        "tps_ratio": round(statistics.median(ratios), 3) if ratios else None,
        "rounds": compared,
    }


SummaryRow = tuple[str, str]


def evm_summary_rows(result: dict[str, Any]) -> list[SummaryRow]:
    """The table `gusu bench --evm` prints."""
    rows: list[SummaryRow] = [
        ("load", "ERC-20 transfer via eth_sendRawTransaction"),
        ("load average", f"{result.get('load_average_start')} -> {result.get('load_average_end')}"),
    ]
    rounds = int((result.get("settings") or {}).get("rounds") or 1)
    for target in result.get("targets", []):
        name = target.get("name", "?")
        if rounds > 1:
            name = f"{name} (round {target.get('round')})"
        rows.append((name, target.get("description", "")))
        if target.get("error"):
            rows.append((f"  {name} error", str(target["error"])[:300]))
            continue
        for phase_name in ("closed", "open"):
            phase = target.get(phase_name)
            if not isinstance(phase, dict):
                continue
            how = f"{phase['in_flight']} in flight" if phase_name == "closed" else f"at {phase['rate']:,.0f}/s"
            cpu = (phase.get("node_cpu") or {}).get("node_cpu_percent")
            rows.append(
                (
                    f"  {phase_name} loop ({how})",
                    f"{phase['tps']:,.1f} tps, p50 {phase['p50_ms']} ms, p99 {phase['p99_ms']} ms "
                    f"(send answered: p50 {phase.get('send_p50_ms')} ms); "
                    f"{phase['succeeded']} ok / {phase['failed']} failed / {phase['refused']} refused / "
                    f"{phase['lost']} lost; node CPU {cpu}%"
                    + (f"; {phase['late']} sent late" if phase_name == "open" else ""),
                )
            )
    comparison = result.get("comparison")
    if comparison:
        if comparison.get("rounds"):
            each = ", ".join(str(item["tps_ratio"]) for item in comparison["rounds"])
            rows.append(("gusu / hardhat tps", f"{comparison['tps_ratio']} (median of the rounds: {each})"))
        else:
            rows.append(("gusu / hardhat tps", str(comparison["tps_ratio"])))
    return rows


__all__ = [
    "DEFAULT_IN_FLIGHT",
    "EVM_LOADS",
    "ROUNDS_MAX",
    "EvmBenchError",
    "EvmRunSettings",
    "PhaseResult",
    "SendRecord",
    "compute_due_offset_s",
    "compute_open_loop_rate",
    "compute_phase_result",
    "count_due",
    "evm_summary_rows",
    "get_evm_bench_error",
    "run_evm_bench",
    "sign_legacy_transaction",
]
