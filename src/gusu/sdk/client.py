"""Clients for a Gusu node's JSON-RPC API: `Client` (blocking) and `AsyncClient`.

Both offer the same methods with the same meaning; `AsyncClient` adds
WebSocket subscriptions. They speak JSON-RPC 2.0 over HTTP (docs/api.md):

* `Client` keeps one HTTP/1.1 connection alive (stdlib `http.client`, no
  extra dependency) and reconnects when the node has closed it; requests
  from several threads are serialised on it, so give each busy thread its
  own client;
* `AsyncClient` uses one aiohttp session, created on first use, and must be
  closed (``async with`` does it).

A node's refusal arrives as `RemoteError` with the node's stable code (such
as ``mempool_full``) and its `retryable` flag; a network failure as
`ClientError`; a wait that runs out as `TimeoutError_`. Sends retry
retryable refusals up to `retries_max` times with jittered exponential
backoff, which is safe because a refused transaction was not admitted and a
transaction id can commit at most once.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import aiohttp

from gusu.codec import Value
from gusu.crypto import PrivateKey
from gusu.errors import ClientError, CodecError, RemoteError, TimeoutError_
from gusu.ledger.jsonview import JSON, bytes_to_hex
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.ledger.types import Hash, Height, Receipt
from gusu.sdk import _rpc
from gusu.sdk._rpc import RpcCall
from gusu.sdk.transactions import SignedTransaction, build_transaction
from gusu.sdk.views import (
    BlockNotification,
    BlockView,
    ContractEventsView,
    EventNotification,
    EvidencePage,
    NodeStatus,
    PeerView,
    ReceiptProof,
    ReceiptView,
    SenderTransactionsPage,
    TransactionProof,
    TransactionView,
    parse_block_notification,
    parse_event_notification,
)

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

DEFAULT_URL = "http://127.0.0.1:8545"
TIMEOUT_S = 10.0
RESPONSE_BYTES_MAX = 64 * 1024 * 1024
"""Largest answer read from a node; a block with 100,000 full transactions fits."""
RETRIES_MAX = 5
RETRY_BACKOFF_S = 0.05
RETRY_BACKOFF_MAX_S = 2.0
BATCH_TRANSACTIONS_MAX = 5_000
"""Transactions per gusu_sendRawTransactions request: the node's default limit."""
VALID_FOR_BLOCKS = 100
SENDER_TRANSACTIONS_LIMIT = 50
EVIDENCE_LIMIT = 20
"""Default page size of `get_transactions_by_sender` (nodes allow up to 1,000 by default)."""
RECEIPT_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05
WEBSOCKET_HEARTBEAT_S = 30.0
READ_CHUNK_BYTES = 64 * 1024

_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "gusu-sdk-python"}
# Raised when a kept-alive connection was closed by the node between two requests.
_STALE_CONNECTION_ERRORS = (ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """The limits and timeouts a client applies; every one has a default above."""

    timeout_s: float = TIMEOUT_S
    """Longest wait for one HTTP request (connect, send and receive)."""
    response_bytes_max: int = RESPONSE_BYTES_MAX
    retries_max: int = RETRIES_MAX
    """Resends of a transaction the node refused with a retryable error."""
    retry_backoff_s: float = RETRY_BACKOFF_S
    retry_backoff_max_s: float = RETRY_BACKOFF_MAX_S
    batch_transactions_max: int = BATCH_TRANSACTIONS_MAX

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ClientError(f"timeout_s must be positive, found {self.timeout_s}")
        if self.response_bytes_max <= 0:
            raise ClientError(f"response_bytes_max must be positive, found {self.response_bytes_max}")
        if self.retries_max < 0:
            raise ClientError(f"retries_max must be zero or more, found {self.retries_max}")
        if self.retry_backoff_s < 0 or self.retry_backoff_max_s < 0:
            raise ClientError("retry backoffs must be zero or more")
        if self.batch_transactions_max <= 0:
            raise ClientError(f"batch_transactions_max must be positive, found {self.batch_transactions_max}")

    def compute_backoff_s(self, attempt: int) -> float:
        return _rpc.compute_backoff_s(attempt, self.retry_backoff_s, self.retry_backoff_max_s)


@dataclass(frozen=True, slots=True)
class _ChainInfo:
    chain_id: str
    suite: str


def _sign_for_chain(
    chain: _ChainInfo,
    height: Height,
    key: PrivateKey,
    contract: str,
    method: str,
    args: Sequence[Value],
    valid_for_blocks: int,
) -> SignedTransaction:
    if key.suite != chain.suite:
        raise ClientError(
            f"this is a {key.suite!r} key but chain {chain.chain_id!r} uses the {chain.suite!r} suite; "
            f"sign with a {chain.suite!r} key"
        )
    if valid_for_blocks < 1:
        raise ClientError(f"valid_for_blocks must be at least 1, found {valid_for_blocks}")
    return build_transaction(key, chain.chain_id, contract, method, args, Height(height + valid_for_blocks))


def _check_acknowledged(signed: SignedTransaction, acknowledged: Hash) -> Hash:
    if acknowledged != signed.transaction_id:
        raise ClientError(
            f"the node acknowledged {bytes_to_hex(acknowledged)} for transaction "
            f"{bytes_to_hex(signed.transaction_id)}; it may run another chain's rules"
        )
    return acknowledged


def _timeout_error(transaction_id: Hash, timeout_s: float) -> TimeoutError_:
    return TimeoutError_(
        f"no receipt for transaction {bytes_to_hex(transaction_id)} after {timeout_s:g}s; it may still "
        "commit until its valid_until_height, so wait again or check it with get_transaction"
    )


# --- blocking client -------------------------------------------------------------


class Client:
    """A blocking client for one node's JSON-RPC API.

    >>> with Client("http://127.0.0.1:8545") as client:  # doctest: +SKIP
    ...     print(client.block_number())
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        timeout_s: float = TIMEOUT_S,
        *,
        response_bytes_max: int = RESPONSE_BYTES_MAX,
        retries_max: int = RETRIES_MAX,
        retry_backoff_s: float = RETRY_BACKOFF_S,
        retry_backoff_max_s: float = RETRY_BACKOFF_MAX_S,
        batch_transactions_max: int = BATCH_TRANSACTIONS_MAX,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = _rpc.parse_endpoint(url)
        self.settings = ClientSettings(
            timeout_s=timeout_s,
            response_bytes_max=response_bytes_max,
            retries_max=retries_max,
            retry_backoff_s=retry_backoff_s,
            retry_backoff_max_s=retry_backoff_max_s,
            batch_transactions_max=batch_transactions_max,
        )
        self._ssl_context = ssl_context
        self._connection: http.client.HTTPConnection | None = None
        self._connection_uses = 0
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self._chain: _ChainInfo | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._drop_connection()

    # --- reads ---

    def status(self) -> NodeStatus:
        status = self._run(_rpc.status_call())
        self._chain = _ChainInfo(status.chain_id, status.suite)
        return status

    def block_number(self) -> Height:
        return self._run(_rpc.block_number_call())

    def peers(self) -> list[PeerView]:
        """The validators the node is connected to now, by address (none on a one-validator chain)."""
        return self._run(_rpc.peers_call())

    def evidence(self, limit: int = EVIDENCE_LIMIT, before_height: int | None = None) -> EvidencePage:
        """Equivocation evidence the node recorded, newest height first, at most `limit` records.

        Page back by passing the page's `next_before_height` as `before_height`
        until it is None. The node caps `limit` (evidence_records_max, 100 by default).
        """
        return self._run(_rpc.evidence_call(limit, before_height))

    def get_block(self, height_or_hash: int | bytes | str, full_transactions: bool = False) -> BlockView:
        return self._run(_rpc.block_call(height_or_hash, full_transactions))

    def get_transaction(self, transaction_id: bytes | str) -> TransactionView:
        return self._run(_rpc.transaction_call(transaction_id))

    def get_receipt(self, transaction_id: bytes | str) -> ReceiptView:
        return self._run(_rpc.receipt_call(transaction_id))

    def get_transactions_by_sender(
        self,
        address: bytes | str,
        limit: int = SENDER_TRANSACTIONS_LIMIT,
        before: tuple[int, int] | None = None,
    ) -> SenderTransactionsPage:
        """Committed transactions `address` sent, newest first, at most `limit`.

        Page back through the history by passing the page's `next` as
        `before` until it is None. Transactions still pending are not listed.
        """
        return self._run(_rpc.sender_transactions_call(address, limit, before))

    def get_events(
        self, contract: str, from_height: int | None = None, to_height: int | None = None, name: str | None = None
    ) -> ContractEventsView:
        """Events `contract` emitted in committed blocks `from_height` to `to_height`, oldest first; only those
        called `name` unless it is None.

        `to_height` None is the tip; `from_height` None the widest range the node allows ending there (1,000
        blocks by default). A wider range, or one holding more events than the node answers at once, is refused
        with a RemoteError whose code is ``request_too_large``: split the range.
        """
        return self._run(_rpc.contract_events_call(contract, from_height, to_height, name))

    def get_eth_logs(self, log_filter: dict[str, JSON]) -> list[JSON]:
        """eth_getLogs with an Ethereum filter object, the logs unparsed; `gusu.sdk.evm.EvmContracts.query_logs`
        builds the filter within the node's limits and decodes the answer."""
        return self._run(_rpc.eth_logs_call(log_filter))

    def get_transaction_proof(self, transaction_id: bytes | str) -> TransactionProof:
        return self._run(_rpc.transaction_proof_call(transaction_id))

    def get_receipt_proof(self, transaction_id: bytes | str) -> ReceiptProof:
        return self._run(_rpc.receipt_proof_call(transaction_id))

    def get_state_proof(self, contract: str, key: bytes | str, height: int | None = None) -> CertifiedStateProof:
        """`contract`'s `key` at `height` (None: the latest block) with its proof; check it with
        `verify_state_proof` or `verify_certified_state_proof` (gusu.sdk.state) before trusting it."""
        return self._run(_rpc.state_proof_call(contract, key, height))

    def call(self, contract: str, method: str, args: Sequence[Value], sender: bytes | str | None = None) -> Value:
        """Run a read-only method against the latest state and return its value; nothing is stored."""
        return self._run(_rpc.call_call(contract, method, args, sender))

    # --- writes ---

    def send_raw(self, raw: bytes) -> Hash:
        """Submit a signed, encoded transaction; its id once the node's pool holds it."""
        call = _rpc.send_raw_call(raw)
        for attempt in itertools.count():
            try:
                return self._run(call)
            except RemoteError as error:
                if not error.retryable or attempt >= self.settings.retries_max:
                    raise
            time.sleep(self.settings.compute_backoff_s(attempt))
        raise AssertionError("unreachable")

    def send_raw_batch(self, raws: Sequence[bytes]) -> list[Hash | RemoteError]:
        """Submit many transactions; per transaction, in order, its id or why the node refused it.

        Transactions go in requests of at most `batch_transactions_max`;
        those refused with a retryable error are sent again (up to
        `retries_max` rounds). Only a failure to reach the node raises.
        """
        results: list[Hash | RemoteError | None] = [None] * len(raws)
        for attempt in itertools.count():
            for chunk in _rpc.split_chunks(_rpc.get_retry_indexes(results), self.settings.batch_transactions_max):
                try:
                    answers = self._run(_rpc.send_raw_batch_call([raws[index] for index in chunk]))
                except RemoteError as error:
                    answers = [error] * len(chunk)
                for index, answer in zip(chunk, answers, strict=True):
                    results[index] = answer
            if not _rpc.get_retry_indexes(results) or attempt >= self.settings.retries_max:
                break
            time.sleep(self.settings.compute_backoff_s(attempt))
        return [result for result in results if result is not None]

    def send_transaction(
        self,
        key: PrivateKey,
        contract: str,
        method: str,
        args: Sequence[Value],
        *,
        valid_for_blocks: int = VALID_FOR_BLOCKS,
    ) -> Hash:
        """Sign `contract.method(*args)` with `key` and submit it; its id once acknowledged.

        The transaction may commit up to `valid_for_blocks` blocks past the
        current height. The chain id is fetched once and cached.
        """
        if self._chain is None:
            status = self.status()
            height = status.height
        else:
            height = self.block_number()
        assert self._chain is not None
        signed = _sign_for_chain(self._chain, height, key, contract, method, args, valid_for_blocks)
        return _check_acknowledged(signed, self.send_raw(signed.raw))

    def wait_for_receipt(
        self,
        transaction_id: bytes | str,
        timeout_s: float = RECEIPT_TIMEOUT_S,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> Receipt:
        """Poll until the transaction's receipt exists.

        Raises TimeoutError_ after `timeout_s`, and TransactionDroppedError
        (a ClientError, with the node's reason) once the node reports the
        transaction dropped.
        """
        tid = _rpc.to_hash(transaction_id)
        deadline = time.monotonic() + timeout_s
        while True:
            outcomes = self._run_pair(_rpc.receipt_call(tid), _rpc.transaction_call(tid))
            found = _rpc.get_poll_outcome(tid, *outcomes)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout_error(tid, timeout_s)
            time.sleep(min(poll_interval_s, remaining))

    def send_and_wait(
        self,
        key: PrivateKey,
        contract: str,
        method: str,
        args: Sequence[Value],
        *,
        valid_for_blocks: int = VALID_FOR_BLOCKS,
        timeout_s: float = RECEIPT_TIMEOUT_S,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> Receipt:
        """`send_transaction` then `wait_for_receipt`."""
        transaction_id = self.send_transaction(key, contract, method, args, valid_for_blocks=valid_for_blocks)
        return self.wait_for_receipt(transaction_id, timeout_s=timeout_s, poll_interval_s=poll_interval_s)

    # --- transport ---

    def _run(self, call: RpcCall[T]) -> T:
        request_id = next(self._request_ids)
        body = self._post(_rpc.dump_json(_rpc.encode_request(request_id, call)))
        return _rpc.read_result(_rpc.load_json(body), request_id, call)

    def _run_pair(self, first: RpcCall[A], second: RpcCall[B]) -> tuple[A | RemoteError, B | RemoteError]:
        # One JSON-RPC batch, so a poll costs one round trip.
        first_id, second_id = next(self._request_ids), next(self._request_ids)
        requests: list[JSON] = [_rpc.encode_request(first_id, first), _rpc.encode_request(second_id, second)]
        answers = _rpc.read_batch(_rpc.load_json(self._post(_rpc.dump_json(requests))), [first_id, second_id])
        return _rpc.read_outcome(answers[first_id], first), _rpc.read_outcome(answers[second_id], second)

    def _post(self, body: bytes) -> bytes:
        with self._lock:
            while True:
                connection = self._get_connection()
                is_reused = self._connection_uses > 0
                try:
                    connection.request("POST", self.endpoint.rpc_path, body=body, headers=_HEADERS)
                    response = connection.getresponse()
                    data = self._read_body(response)
                except TimeoutError as error:
                    self._drop_connection()
                    raise TimeoutError_(
                        f"node {self.endpoint.rpc_url} did not answer within {self.settings.timeout_s:g}s"
                    ) from error
                except _STALE_CONNECTION_ERRORS as error:
                    self._drop_connection()
                    if is_reused:
                        continue  # the node closed an idle connection: once more on a fresh one
                    raise ClientError(f"node {self.endpoint.rpc_url} closed the connection: {error}") from error
                except (OSError, http.client.HTTPException) as error:
                    self._drop_connection()
                    raise ClientError(f"cannot reach node {self.endpoint.rpc_url}: {error}") from error
                self._connection_uses += 1
                if response.will_close or not response.isclosed():
                    self._drop_connection()
                _rpc.check_http_status(response.status, data)
                return data

    def _read_body(self, response: http.client.HTTPResponse) -> bytes:
        limit = self.settings.response_bytes_max
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            self._drop_connection()
            raise ClientError(f"the node's answer is {length} bytes; response_bytes_max is {limit}")
        data = response.read(limit + 1)
        if len(data) > limit:
            self._drop_connection()
            raise ClientError(f"the node's answer exceeds response_bytes_max ({limit} bytes)")
        return data

    def _get_connection(self) -> http.client.HTTPConnection:
        if self._connection is None:
            endpoint = self.endpoint
            if endpoint.is_tls:
                self._connection = http.client.HTTPSConnection(
                    endpoint.host,
                    endpoint.port,
                    timeout=self.settings.timeout_s,
                    context=self._ssl_context or ssl.create_default_context(),
                )
            else:
                self._connection = http.client.HTTPConnection(
                    endpoint.host, endpoint.port, timeout=self.settings.timeout_s
                )
            self._connection_uses = 0
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
            self._connection_uses = 0


# --- asynchronous client -----------------------------------------------------------


class AsyncClient:
    """An asyncio client with the same methods as `Client`, plus subscriptions.

    >>> async with AsyncClient("http://127.0.0.1:8545") as client:  # doctest: +SKIP
    ...     async with client.subscribe_blocks() as blocks:
    ...         async for block in blocks:
    ...             print(block.height)
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        timeout_s: float = TIMEOUT_S,
        *,
        response_bytes_max: int = RESPONSE_BYTES_MAX,
        retries_max: int = RETRIES_MAX,
        retry_backoff_s: float = RETRY_BACKOFF_S,
        retry_backoff_max_s: float = RETRY_BACKOFF_MAX_S,
        batch_transactions_max: int = BATCH_TRANSACTIONS_MAX,
        websocket_heartbeat_s: float | None = WEBSOCKET_HEARTBEAT_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.endpoint = _rpc.parse_endpoint(url)
        self.settings = ClientSettings(
            timeout_s=timeout_s,
            response_bytes_max=response_bytes_max,
            retries_max=retries_max,
            retry_backoff_s=retry_backoff_s,
            retry_backoff_max_s=retry_backoff_max_s,
            batch_transactions_max=batch_transactions_max,
        )
        self._websocket_heartbeat_s = websocket_heartbeat_s
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None
        self._request_ids = itertools.count(1)
        self._chain: _ChainInfo | None = None
        self._subscriptions: set[Subscription[Any]] = set()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every open subscription, then the HTTP session."""
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- reads ---

    async def status(self) -> NodeStatus:
        status = await self._run(_rpc.status_call())
        self._chain = _ChainInfo(status.chain_id, status.suite)
        return status

    async def block_number(self) -> Height:
        return await self._run(_rpc.block_number_call())

    async def peers(self) -> list[PeerView]:
        """The validators the node is connected to now, by address (as `Client.peers`)."""
        return await self._run(_rpc.peers_call())

    async def evidence(self, limit: int = EVIDENCE_LIMIT, before_height: int | None = None) -> EvidencePage:
        """Equivocation evidence the node recorded, newest height first (as `Client.evidence`)."""
        return await self._run(_rpc.evidence_call(limit, before_height))

    async def get_block(self, height_or_hash: int | bytes | str, full_transactions: bool = False) -> BlockView:
        return await self._run(_rpc.block_call(height_or_hash, full_transactions))

    async def get_transaction(self, transaction_id: bytes | str) -> TransactionView:
        return await self._run(_rpc.transaction_call(transaction_id))

    async def get_receipt(self, transaction_id: bytes | str) -> ReceiptView:
        return await self._run(_rpc.receipt_call(transaction_id))

    async def get_transactions_by_sender(
        self,
        address: bytes | str,
        limit: int = SENDER_TRANSACTIONS_LIMIT,
        before: tuple[int, int] | None = None,
    ) -> SenderTransactionsPage:
        """Committed transactions `address` sent, newest first (as `Client.get_transactions_by_sender`)."""
        return await self._run(_rpc.sender_transactions_call(address, limit, before))

    async def get_events(
        self, contract: str, from_height: int | None = None, to_height: int | None = None, name: str | None = None
    ) -> ContractEventsView:
        """As `Client.get_events`."""
        return await self._run(_rpc.contract_events_call(contract, from_height, to_height, name))

    async def get_eth_logs(self, log_filter: dict[str, JSON]) -> list[JSON]:
        """As `Client.get_eth_logs`."""
        return await self._run(_rpc.eth_logs_call(log_filter))

    async def get_transaction_proof(self, transaction_id: bytes | str) -> TransactionProof:
        return await self._run(_rpc.transaction_proof_call(transaction_id))

    async def get_receipt_proof(self, transaction_id: bytes | str) -> ReceiptProof:
        return await self._run(_rpc.receipt_proof_call(transaction_id))

    async def get_state_proof(self, contract: str, key: bytes | str, height: int | None = None) -> CertifiedStateProof:
        """`contract`'s `key` at `height` (None: the latest block) with its proof; check it with
        `verify_state_proof` or `verify_certified_state_proof` (gusu.sdk.state) before trusting it."""
        return await self._run(_rpc.state_proof_call(contract, key, height))

    async def call(self, contract: str, method: str, args: Sequence[Value], sender: bytes | str | None = None) -> Value:
        """Run a read-only method against the latest state and return its value; nothing is stored."""
        return await self._run(_rpc.call_call(contract, method, args, sender))

    # --- writes ---

    async def send_raw(self, raw: bytes) -> Hash:
        """Submit a signed, encoded transaction; its id once the node's pool holds it."""
        call = _rpc.send_raw_call(raw)
        for attempt in itertools.count():
            try:
                return await self._run(call)
            except RemoteError as error:
                if not error.retryable or attempt >= self.settings.retries_max:
                    raise
            await asyncio.sleep(self.settings.compute_backoff_s(attempt))
        raise AssertionError("unreachable")

    async def send_raw_batch(self, raws: Sequence[bytes]) -> list[Hash | RemoteError]:
        """Submit many transactions; per transaction, in order, its id or why the node refused it.

        As `Client.send_raw_batch`: chunked, with retryable refusals resent.
        """
        results: list[Hash | RemoteError | None] = [None] * len(raws)
        for attempt in itertools.count():
            for chunk in _rpc.split_chunks(_rpc.get_retry_indexes(results), self.settings.batch_transactions_max):
                try:
                    answers = await self._run(_rpc.send_raw_batch_call([raws[index] for index in chunk]))
                except RemoteError as error:
                    answers = [error] * len(chunk)
                for index, answer in zip(chunk, answers, strict=True):
                    results[index] = answer
            if not _rpc.get_retry_indexes(results) or attempt >= self.settings.retries_max:
                break
            await asyncio.sleep(self.settings.compute_backoff_s(attempt))
        return [result for result in results if result is not None]

    async def send_transaction(
        self,
        key: PrivateKey,
        contract: str,
        method: str,
        args: Sequence[Value],
        *,
        valid_for_blocks: int = VALID_FOR_BLOCKS,
    ) -> Hash:
        """Sign `contract.method(*args)` with `key` and submit it; its id once acknowledged."""
        if self._chain is None:
            status = await self.status()
            height = status.height
        else:
            height = await self.block_number()
        assert self._chain is not None
        signed = _sign_for_chain(self._chain, height, key, contract, method, args, valid_for_blocks)
        return _check_acknowledged(signed, await self.send_raw(signed.raw))

    async def wait_for_receipt(
        self,
        transaction_id: bytes | str,
        timeout_s: float = RECEIPT_TIMEOUT_S,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> Receipt:
        """Poll until the transaction's receipt exists (as `Client.wait_for_receipt`)."""
        tid = _rpc.to_hash(transaction_id)
        deadline = time.monotonic() + timeout_s
        while True:
            outcomes = await self._run_pair(_rpc.receipt_call(tid), _rpc.transaction_call(tid))
            found = _rpc.get_poll_outcome(tid, *outcomes)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout_error(tid, timeout_s)
            await asyncio.sleep(min(poll_interval_s, remaining))

    async def send_and_wait(
        self,
        key: PrivateKey,
        contract: str,
        method: str,
        args: Sequence[Value],
        *,
        valid_for_blocks: int = VALID_FOR_BLOCKS,
        timeout_s: float = RECEIPT_TIMEOUT_S,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> Receipt:
        """`send_transaction` then `wait_for_receipt`."""
        transaction_id = await self.send_transaction(key, contract, method, args, valid_for_blocks=valid_for_blocks)
        return await self.wait_for_receipt(transaction_id, timeout_s=timeout_s, poll_interval_s=poll_interval_s)

    # --- subscriptions ---

    def subscribe_blocks(self) -> Subscription[BlockNotification]:
        """Each newly committed block, from now on.

        Use ``async with client.subscribe_blocks() as blocks: async for block
        in blocks: ...`` so the WebSocket closes when you leave the block.
        """
        return Subscription(self, ["newBlocks"], parse_block_notification)

    def subscribe_events(self, contract: str | None = None, name: str | None = None) -> Subscription[EventNotification]:
        """Each event committed from now on, optionally only from `contract` and/or called `name`."""
        event_filter: dict[str, JSON] = {}
        if contract is not None:
            event_filter["contract"] = contract
        if name is not None:
            event_filter["name"] = name
        return Subscription(self, ["events", event_filter], parse_event_notification)

    # --- transport ---

    async def _run(self, call: RpcCall[T]) -> T:
        request_id = next(self._request_ids)
        body = await self._post(_rpc.dump_json(_rpc.encode_request(request_id, call)))
        return _rpc.read_result(_rpc.load_json(body), request_id, call)

    async def _run_pair(self, first: RpcCall[A], second: RpcCall[B]) -> tuple[A | RemoteError, B | RemoteError]:
        first_id, second_id = next(self._request_ids), next(self._request_ids)
        requests: list[JSON] = [_rpc.encode_request(first_id, first), _rpc.encode_request(second_id, second)]
        answers = _rpc.read_batch(_rpc.load_json(await self._post(_rpc.dump_json(requests))), [first_id, second_id])
        return _rpc.read_outcome(answers[first_id], first), _rpc.read_outcome(answers[second_id], second)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _post(self, body: bytes) -> bytes:
        url = self.endpoint.rpc_url
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        try:
            async with self._get_session().post(
                url, data=body, headers=_HEADERS, timeout=timeout, ssl=self._ssl
            ) as response:
                data = await self._read_body(response)
                status = response.status
        except TimeoutError as error:
            raise TimeoutError_(f"node {url} did not answer within {self.settings.timeout_s:g}s") from error
        except aiohttp.ClientError as error:
            raise ClientError(f"cannot reach node {url}: {error}") from error
        _rpc.check_http_status(status, data)
        return data

    async def _read_body(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.settings.response_bytes_max
        if response.content_length is not None and response.content_length > limit:
            raise ClientError(f"the node's answer is {response.content_length} bytes; response_bytes_max is {limit}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(READ_CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise ClientError(f"the node's answer exceeds response_bytes_max ({limit} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _connect_websocket(self) -> aiohttp.ClientWebSocketResponse:
        url = self.endpoint.ws_url
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await self._get_session().ws_connect(
                    url,
                    max_msg_size=self.settings.response_bytes_max,
                    heartbeat=self._websocket_heartbeat_s,
                    ssl=self._ssl,
                )
        except TimeoutError as error:
            raise TimeoutError_(f"node {url} did not accept a WebSocket within {self.settings.timeout_s:g}s") from error
        except aiohttp.ClientError as error:
            raise ClientError(f"cannot open a WebSocket to node {url}: {error}") from error


# --- subscriptions -------------------------------------------------------------------


class Subscription(Generic[T]):
    """One subscription over its own WebSocket: an async iterator and an async context manager.

    The WebSocket opens on entering the ``async with`` (or on the first
    item) and closes on leaving it, on `aclose`, or when the client closes.
    If the node ends the subscription (it shuts down, or it disconnects a
    subscriber that cannot keep up, close code 1008), iteration raises
    ClientError saying so: a subscription never ends silently.
    """

    def __init__(self, client: AsyncClient, params: list[JSON], parse: Callable[[JSON], T]) -> None:
        self._client = client
        self._params = params
        self._parse = parse
        self._websocket: aiohttp.ClientWebSocketResponse | None = None
        self._subscription_id: str | None = None
        self._pending: deque[JSON] = deque()
        self._is_closed = False

    @property
    def subscription_id(self) -> str | None:
        """The node's id for this subscription, once open."""
        return self._subscription_id

    async def __aenter__(self) -> Subscription[T]:
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self._is_closed:
            raise StopAsyncIteration
        if self._websocket is None:
            await self._open()
        while not self._pending:
            await self._receive_into_pending()
        try:
            return self._parse(self._pending.popleft())
        except CodecError as error:
            raise ClientError(f"the node sent a malformed notification: {error}") from error

    async def aclose(self) -> None:
        """Unsubscribe and close the WebSocket; safe to call more than once."""
        self._is_closed = True
        self._client._subscriptions.discard(self)
        websocket, self._websocket = self._websocket, None
        if websocket is None or websocket.closed:
            return
        try:
            if self._subscription_id is not None:
                # Closing drops the subscription anyway; unsubscribing first lets the node free it at once.
                request: JSON = {
                    "jsonrpc": _rpc.JSONRPC_VERSION,
                    "id": next(self._client._request_ids),
                    "method": "gusu_unsubscribe",
                    "params": [self._subscription_id],
                }
                await websocket.send_str(_rpc.dump_json(request).decode())
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            pass
        finally:
            await websocket.close()

    async def _open(self) -> None:
        if self._websocket is not None:
            return
        if self._is_closed:
            raise ClientError("this subscription is closed; subscribe again")
        self._websocket = await self._client._connect_websocket()
        self._client._subscriptions.add(self)
        request_id = next(self._client._request_ids)
        request: JSON = {
            "jsonrpc": _rpc.JSONRPC_VERSION,
            "id": request_id,
            "method": "gusu_subscribe",
            "params": self._params,
        }
        early: list[tuple[JSON, JSON]] = []
        try:
            await self._websocket.send_str(_rpc.dump_json(request).decode())
            async with asyncio.timeout(self._client.settings.timeout_s):
                while True:
                    message = await self._receive_message()
                    if message.get("id") == request_id:
                        break
                    if message.get("method") == "gusu_subscription":
                        early.append(_get_notification(message))
        except TimeoutError as error:
            await self.aclose()
            raise TimeoutError_("the node did not confirm the subscription in time") from error
        except BaseException:
            await self.aclose()
            raise
        if message.get("error") is not None:
            await self.aclose()
            raise _rpc.parse_rpc_error(message["error"])
        subscription_id = message.get("result")
        if not isinstance(subscription_id, (str, int)) or isinstance(subscription_id, bool):
            await self.aclose()
            raise ClientError(f"the node answered gusu_subscribe with {subscription_id!r}, not a subscription id")
        self._subscription_id = str(subscription_id)
        self._pending.extend(result for target, result in early if str(target) == self._subscription_id)

    async def _receive_into_pending(self) -> None:
        message = await self._receive_message()
        if message.get("method") != "gusu_subscription":
            return  # an answer to our unsubscribe, or a message for someone else
        target, result = _get_notification(message)
        if str(target) == self._subscription_id:
            self._pending.append(result)

    async def _receive_message(self) -> dict[str, JSON]:
        websocket = self._websocket
        if websocket is None:
            raise ClientError("this subscription is closed")
        message = await websocket.receive()
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            document = _rpc.load_json(message.data, "notification")
            if not isinstance(document, dict):
                raise ClientError("the node sent a WebSocket message that is not a JSON object")
            return document
        code = websocket.close_code
        await self.aclose()
        if message.type == aiohttp.WSMsgType.ERROR:
            raise ClientError(f"the subscription's WebSocket failed: {websocket.exception()}")
        if code == aiohttp.WSCloseCode.POLICY_VIOLATION:
            raise ClientError(
                "the node ended the subscription because this client could not keep up (close code 1008); "
                "consume notifications faster or subscribe more narrowly"
            )
        raise ClientError(f"the node closed the subscription (close code {code})")


def _get_notification(message: dict[str, JSON]) -> tuple[JSON, JSON]:
    params = message.get("params")
    if not isinstance(params, dict) or "subscription" not in params or "result" not in params:
        raise ClientError("the node sent a gusu_subscription message without subscription and result")
    return params["subscription"], params["result"]
