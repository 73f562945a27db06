"""RPC gateway processes: the node's JSON-RPC over HTTP served from other cores.

One node is one Python process, so everything its API does shares one core with its execution. Under a
stream of `eth_sendRawTransaction` most of the API's work is per request and needs nothing of the node's
state: HTTP, reading the body, and recovering each transaction's sender (secp256k1, most of decoding). With
``[api] gateway_workers`` = N the node starts N gateway processes (`GatewaySupervisor`) that share one
listening socket on ``[api] gateway_port`` and do that work on the other cores; each hands the node the
request body and the senders it recovered over a private channel (a socketpair the node created: nothing else
can write to it), and the node answers the body with the same dispatcher as POST /rpc on its own port
(`gusu.api.rpc`), trusting those senders (`gusu.ledger.ethtx.remember_recovered_sender`: the gateway is the
node's own code, started by the node). So the answers are the node's, byte for byte.

The gateway serves POST /rpc only (and GET /health); REST, WebSocket subscriptions and metrics stay on the
node's own port. It enforces the same body, batch, connection and time limits as the node's server.

The channel carries length-prefixed msgpack frames: a request ``[id, body, [[raw, sender], ...]]`` and its
answer ``[id, http_status, body or nil]``, any number in flight. A request that is one eth_sendRawTransaction
alone, whose transaction decodes, goes as ``[id, json_rpc_id, raw, sender]`` instead: the node takes every such
request that one read of the channel brings as one admission and one journal write
(`RpcDispatcher.handle_lone_sends`), and answers each exactly as it would answer its body. A gateway whose
channel closes (the node stopped or died) exits; a gateway that exits while the node runs is started again, at
most ``gateway_restarts_max`` times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final, NamedTuple, cast

import msgpack
import orjson
from aiohttp import web

from gusu.api.errors import INTERNAL_MESSAGE, InternalApiError, RequestTimeoutError, ServerBusyError
from gusu.api.eth import parse_data
from gusu.api.rest import json_response, read_rpc_body
from gusu.api.rpc import (
    JSONRPC_VERSION,
    SEND_RAW_METHOD,
    LoneSend,
    RequestContext,
    RpcDispatcher,
    error_response_bytes,
    is_valid_request_id,
)
from gusu.api.server import RPC_PATH, ConnectionLimiter, cors_middleware, errors_middleware, limit_middleware
from gusu.api.settings import ApiSettings
from gusu.errors import GusuError, NodeError, NotFoundError
from gusu.ledger.ethtx import ETH_TRANSACTION_BYTES_MAX, decode_eth_transaction
from gusu.ledger.types import ADDRESS_SIZE, Address

logger = logging.getLogger("gusu.gateway")

FRAME_HEADER_BYTES: Final = 4
ANSWER_FRAME_BYTES_MAX: Final = 1 << 30
"""Largest answer the node may send a gateway (its own process: a bound against a fault, not a peer)."""
RESTART_DELAY_S: Final = 1.0
"""Wait before starting a gateway again, so one that dies at start does not spin."""
HEALTHY_RUN_S: Final = 60.0
"""A gateway that ran this long before it exited starts with a fresh count of restarts."""
CHANNEL_GRACE_S: Final = 5.0
"""A gateway waits for the node's answer this long beyond `request_timeout_s` (the node enforces that one)."""


def compute_request_frame_bytes_max(settings: ApiSettings) -> int:
    """Largest request frame: the body, and at most the body's size again in recovered senders (each raw
    transaction appears in the body as hex, twice its size, so its bytes and sender take less), plus framing."""
    return 2 * settings.body_bytes_max + 64 * 1024


def encode_frame(items: list[Any]) -> bytes:
    payload: bytes = msgpack.packb(items, use_bin_type=True)
    return len(payload).to_bytes(FRAME_HEADER_BYTES, "big") + payload


class FrameReader:
    """Splits a byte stream into frames; `feed` returns the complete payloads, raises ValueError past `bytes_max`."""

    __slots__ = ("_buffer", "_bytes_max")

    def __init__(self, bytes_max: int) -> None:
        self._buffer = bytearray()
        self._bytes_max = bytes_max

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        payloads: list[bytes] = []
        start = 0
        while len(buffer) - start >= FRAME_HEADER_BYTES:
            length = int.from_bytes(buffer[start : start + FRAME_HEADER_BYTES], "big")
            if length > self._bytes_max:
                raise ValueError(f"a frame of {length} bytes is over the limit of {self._bytes_max}")
            end = start + FRAME_HEADER_BYTES + length
            if len(buffer) < end:
                break
            payloads.append(bytes(buffer[start + FRAME_HEADER_BYTES : end]))
            start = end
        if start:
            del buffer[:start]
        return payloads


# --- the node's end ---------------------------------------------------------------------------


class NodeChannel(asyncio.Protocol):
    """The node's end of one gateway's channel: answers each request frame with `dispatcher`."""

    def __init__(self, dispatcher: RpcDispatcher, settings: ApiSettings) -> None:
        self._dispatcher = dispatcher
        self._settings = settings
        self._reader = FrameReader(compute_request_frame_bytes_max(settings))
        self._transport: asyncio.Transport | None = None
        self._answering: set[asyncio.Task[None]] = set()
        self.requests_total = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            sends: list[tuple[int, LoneSend]] = []
            for payload in self._reader.feed(data):
                request = _decode_request(payload)
                self.requests_total += 1
                if isinstance(request, _BodyRequest):
                    self._start(self._answer(*request), (request.request_id,))
                else:
                    sends.append(request)
            if sends:
                self._start(self._answer_sends(sends), [request_id for request_id, _ in sends])
        except ValueError as error:
            # Only the node's own gateway writes here: a bad frame is a fault in it; restart it clean.
            logger.error("closing a gateway's channel: %s", error)
            self.close()

    def _start(self, answering: Coroutine[Any, Any, None], request_ids: Sequence[int]) -> None:
        if len(self._answering) >= self._settings.connections_max:
            answering.close()
            busy = ServerBusyError(
                f"the node is answering {self._settings.connections_max} gateway requests, its limit; retry shortly"
            )
            for request_id in request_ids:
                self._send(request_id, 503, error_response_bytes(busy))
            return
        task = asyncio.get_running_loop().create_task(answering)
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer_sends(self, sends: list[tuple[int, LoneSend]]) -> None:
        try:
            replies = await self._dispatcher.handle_lone_sends([send for _, send in sends])
        except Exception:  # the dispatcher answers every failure itself; anything else is a bug
            logger.exception("unexpected failure answering a gateway's transactions")
            for request_id, _ in sends:
                self._send(request_id, 500, error_response_bytes(InternalApiError(INTERNAL_MESSAGE)))
            return
        for (request_id, _), reply in zip(sends, replies, strict=True):
            self._send(request_id, reply.status, reply.body)

    async def _answer(self, request_id: int, body: bytes, senders: dict[bytes, Address]) -> None:
        try:
            reply = await self._dispatcher.handle(body, RequestContext(recovered_senders=senders))
        except Exception:  # the dispatcher answers every GusuError itself; anything else is a bug
            logger.exception("unexpected failure answering a gateway request")
            self._send(request_id, 500, error_response_bytes(InternalApiError(INTERNAL_MESSAGE)))
            return
        self._send(request_id, reply.status, reply.body)

    def _send(self, request_id: int, status: int, body: bytes | None) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_frame([request_id, status, body]))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _BodyRequest(NamedTuple):
    request_id: int
    body: bytes
    senders: dict[bytes, Address]


def _decode_request(payload: bytes) -> _BodyRequest | tuple[int, LoneSend]:
    """A request frame: a body with its recovered senders, or (id, a lone eth_sendRawTransaction)."""
    try:
        items = msgpack.unpackb(payload, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise ValueError(f"a request frame is not msgpack: {error}") from None
    if isinstance(items, list) and len(items) == 4:
        request_id, json_id, raw, sender = items
        if not isinstance(request_id, int) or not is_valid_request_id(json_id) or not isinstance(raw, bytes):
            raise ValueError("a transaction frame is not [id, JSON-RPC id, raw, sender]")
        if not (isinstance(sender, bytes) and len(sender) == ADDRESS_SIZE):
            raise ValueError("a recovered sender is not a 20-byte address")
        return request_id, (json_id, raw, Address(sender))
    if not (isinstance(items, list) and len(items) == 3):
        raise ValueError("a request frame is not [id, body, senders] or [id, JSON-RPC id, raw, sender]")
    request_id, body, pairs = items
    if not isinstance(request_id, int) or not isinstance(body, bytes) or not isinstance(pairs, list):
        raise ValueError("a request frame is not [id, body, senders]")
    senders: dict[bytes, Address] = {}
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], bytes)):
            raise ValueError("a recovered sender is not [raw, sender]")
        if not (isinstance(pair[1], bytes) and len(pair[1]) == ADDRESS_SIZE):
            raise ValueError("a recovered sender is not a 20-byte address")
        senders[pair[0]] = Address(pair[1])
    return _BodyRequest(request_id, body, senders)


@dataclass(slots=True)
class _Worker:
    index: int
    process: asyncio.subprocess.Process | None = None
    channel: NodeChannel | None = None
    restarts: int = 0
    started_s: float = 0.0


@dataclass(slots=True)
class GatewaySupervisor:
    """Starts the gateways on one listening socket, starts one again when it exits, stops them all."""

    settings: ApiSettings
    dispatcher: RpcDispatcher
    log_level: str = "info"
    listener: socket.socket | None = None
    url: str = ""
    workers: list[_Worker] = field(default_factory=list)
    _watchers: list[asyncio.Task[None]] = field(default_factory=list)
    _stop_requested: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        settings = self.settings
        try:
            listener = socket.create_server(
                (settings.host, settings.gateway_port),
                family=socket.AF_INET6 if ":" in settings.host else socket.AF_INET,
                backlog=min(settings.connections_max, 4096),
            )
        except OSError as error:
            raise NodeError(
                f"the RPC gateway cannot listen on {settings.host}:{settings.gateway_port} ({error}); choose "
                "another api.gateway_port, or stop the process using it"
            ) from error
        self.listener = listener
        port = listener.getsockname()[1]
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        self.url = f"http://{host}:{port}"
        for index in range(settings.gateway_workers):
            worker = _Worker(index)
            self.workers.append(worker)
            await self._spawn(worker)
            self._watchers.append(asyncio.get_running_loop().create_task(self._watch(worker)))
        logger.info("RPC gateway listening on %s (%d processes)", self.url, settings.gateway_workers)

    async def _spawn(self, worker: _Worker) -> None:
        assert self.listener is not None
        node_end, gateway_end = socket.socketpair()
        try:
            worker.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gusu.api.gateway",
                # The node's settings, not config.toml again: a file edited since must not make a gateway take
                # requests the node's channel refuses.
                "--settings",
                orjson.dumps(asdict(self.settings)).decode(),
                "--log-level",
                self.log_level,
                "--listen-fd",
                str(self.listener.fileno()),
                "--channel-fd",
                str(gateway_end.fileno()),
                pass_fds=(self.listener.fileno(), gateway_end.fileno()),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            node_end.close()
            raise
        finally:
            gateway_end.close()
        channel = NodeChannel(self.dispatcher, self.settings)
        try:
            await asyncio.get_running_loop().create_unix_connection(lambda: channel, sock=node_end)
        except BaseException:
            node_end.close()
            raise
        worker.channel = channel
        worker.started_s = asyncio.get_running_loop().time()

    async def _watch(self, worker: _Worker) -> None:
        while True:
            code = None if worker.process is None else await worker.process.wait()
            if worker.channel is not None:
                worker.channel.close()
            if self._stop_requested.is_set():
                return
            if asyncio.get_running_loop().time() - worker.started_s >= HEALTHY_RUN_S:
                worker.restarts = 0  # it served a good while: a new fault, not the same one again
            if worker.restarts >= self.settings.gateway_restarts_max:
                logger.error(
                    "RPC gateway %d exited (code %s) and was restarted %d times, api.gateway_restarts_max: not "
                    "starting it again; the node's own port still serves; see the log above for its error",
                    worker.index,
                    code,
                    worker.restarts,
                )
                worker.process = None
                self._close_listener_if_unserved()
                return
            worker.restarts += 1
            logger.error("RPC gateway %d exited (code %s); starting it again", worker.index, code)
            await asyncio.sleep(RESTART_DELAY_S)
            if self._stop_requested.is_set() or self.listener is None:
                return
            try:
                await self._spawn(worker)
            except OSError as error:  # out of processes or descriptors: a try of its own, as if it had exited
                logger.error("RPC gateway %d could not be started: %s", worker.index, error)
                worker.process = None

    def _close_listener_if_unserved(self) -> None:
        """With no gateway left, stop listening: clients then get "connection refused" rather than a request
        the kernel accepted and nobody will answer."""
        if all(worker.process is None for worker in self.workers) and self.listener is not None:
            logger.error("no RPC gateway is left; closing %s", self.url)
            self.listener.close()
            self.listener = None

    async def close(self) -> None:
        """Stop the gateways (they finish the requests they hold within shutdown_timeout_s) and stop listening."""
        self._stop_requested.set()
        for watcher in self._watchers:
            watcher.cancel()
        processes = [worker.process for worker in self.workers if worker.process is not None]
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), self.settings.shutdown_timeout_s + CHANNEL_GRACE_S)
            except TimeoutError:
                logger.error("RPC gateway process %d did not stop; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for worker in self.workers:
            if worker.channel is not None:
                worker.channel.close()
        if self.listener is not None:
            self.listener.close()


async def start_gateways(settings: ApiSettings, dispatcher: RpcDispatcher, log_level: str) -> GatewaySupervisor:
    supervisor = GatewaySupervisor(settings, dispatcher, log_level)
    try:
        await supervisor.start()
    except BaseException:
        await supervisor.close()
        raise
    return supervisor


# --- the gateway's end --------------------------------------------------------------------------


def iterate_raw_transactions(document: Any, limit: int) -> Iterator[bytes]:
    """The raw transactions of the eth_sendRawTransaction calls in a parsed JSON-RPC body, at most `limit`;
    anything malformed is skipped (the node answers it)."""
    calls = document if isinstance(document, list) else [document]
    count = 0
    for call in calls:
        if count >= limit:
            return
        if not isinstance(call, dict) or call.get("method") != SEND_RAW_METHOD:
            continue
        params = call.get("params")
        text = params[0] if isinstance(params, list) and params else None
        if not isinstance(text, str) or not text.startswith(("0x", "0X")):
            continue
        if len(text) > 2 + 2 * ETH_TRANSACTION_BYTES_MAX:
            continue
        try:
            raw = bytes.fromhex(text[2:])
        except ValueError:
            continue
        count += 1
        yield raw


def compute_recovered_senders(body: bytes, settings: ApiSettings) -> list[list[bytes]]:
    """[raw, sender] of each raw transaction the body submits whose sender recovers."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    return compute_document_senders(document, settings)


LONE_SEND_KEYS: Final = frozenset(("jsonrpc", "id", "method", "params"))
LONE_SEND_DEPTH: Final = 2
"""How deep a lone send nests: the request object, then its params array."""


def compute_lone_send(document: Any, depth_max: int) -> LoneSend | None:
    """(JSON-RPC id, raw, sender) if `document` is one eth_sendRawTransaction request alone, answered (not a
    notification), with nothing else in it (so it nests exactly `LONE_SEND_DEPTH` levels, within the node's
    `depth_max` = `json_depth_max`, as the node's own parse would check), whose raw transaction the node's
    dispatcher would take as its parameter and whose sender recovers; else None (the body goes to the node as it
    is, and the node answers it)."""
    if not isinstance(document, dict) or document.get("method") != SEND_RAW_METHOD:
        return None
    if depth_max < LONE_SEND_DEPTH or not document.keys() <= LONE_SEND_KEYS:
        return None
    if document.get("jsonrpc") != JSONRPC_VERSION or "id" not in document:
        return None
    request_id = document["id"]
    params = document.get("params")
    if not is_valid_request_id(request_id) or not isinstance(params, list) or len(params) != 1:
        return None
    text = params[0]
    if not isinstance(text, str) or len(text) > 2 + 2 * ETH_TRANSACTION_BYTES_MAX:
        return None
    try:
        raw = parse_data(text, "rawTransaction")
        transaction = decode_eth_transaction(raw, chain_id=None, is_unprotected_allowed=True)
    except GusuError:
        return None
    return request_id, raw, transaction.sender


def compute_document_senders(document: Any, settings: ApiSettings) -> list[list[bytes]]:
    """`compute_recovered_senders` of a parsed body."""
    pairs: list[list[bytes]] = []
    for raw in iterate_raw_transactions(document, settings.transactions_per_request_max):
        try:
            transaction = decode_eth_transaction(raw, chain_id=None, is_unprotected_allowed=True)
        except GusuError:
            continue
        pairs.append([raw, bytes(transaction.sender)])
    return pairs


class GatewayChannel(asyncio.Protocol):
    """The gateway's end of its channel: sends request frames, resolves each answer's future."""

    def __init__(self, on_lost: Callable[[], None]) -> None:
        self._reader = FrameReader(ANSWER_FRAME_BYTES_MAX)
        self._transport: asyncio.Transport | None = None
        self._waiting: dict[int, asyncio.Future[tuple[int, bytes | None]]] = {}
        self._next_id = 0
        self._on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ServerBusyError("the node is stopping; retry on its restart"))
        self._waiting.clear()
        self._on_lost()

    def data_received(self, data: bytes) -> None:
        try:
            payloads = self._reader.feed(data)
        except ValueError as error:
            logger.error("the node's answer is malformed: %s", error)
            assert self._transport is not None
            self._transport.close()
            return
        for payload in payloads:
            try:
                request_id, status, body = msgpack.unpackb(payload, raw=False)
                if not isinstance(status, int) or not (body is None or isinstance(body, bytes)):
                    raise ValueError("not [id, status, body]")
            except (ValueError, TypeError, msgpack.UnpackException) as error:
                logger.error("the node's answer is malformed: %s", error)
                assert self._transport is not None
                self._transport.close()
                return
            future = self._waiting.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result((status, body))

    async def call(self, body: bytes, senders: list[list[bytes]], timeout_s: float) -> tuple[int, bytes | None]:
        """The node's answer to `body`: (HTTP status, body or None)."""
        return await self._ask(lambda request_id: [request_id, body, senders], timeout_s)

    async def call_lone_send(self, send: LoneSend, timeout_s: float) -> tuple[int, bytes | None]:
        """The node's answer to a body that is `send` alone (`compute_lone_send`)."""
        json_id, raw, sender = send
        return await self._ask(lambda request_id: [request_id, json_id, raw, bytes(sender)], timeout_s)

    async def _ask(self, frame: Callable[[int], list[Any]], timeout_s: float) -> tuple[int, bytes | None]:
        if self._transport is None or self._transport.is_closing():
            raise ServerBusyError("the node is stopping; retry on its restart")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[tuple[int, bytes | None]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self._transport.write(encode_frame(frame(request_id)))
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise RequestTimeoutError(f"the node did not answer within {timeout_s:g} s; try again") from None
        finally:
            self._waiting.pop(request_id, None)


def create_gateway_app(settings: ApiSettings, channel: GatewayChannel) -> web.Application:
    limiter = ConnectionLimiter(settings.connections_max)
    middlewares = [errors_middleware(settings), limit_middleware(limiter)]
    if settings.cors_origins:
        middlewares.insert(0, cors_middleware(settings.cors_origins))
    app = web.Application(client_max_size=settings.body_bytes_max, middlewares=middlewares)
    answer_timeout_s = settings.request_timeout_s + CHANNEL_GRACE_S

    async def rpc(request: web.Request) -> web.StreamResponse:
        body = await read_rpc_body(request, settings)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None  # the node answers what is wrong with it
        send = compute_lone_send(document, settings.json_depth_max)
        if send is not None:
            status, reply = await channel.call_lone_send(send, answer_timeout_s)
        else:
            status, reply = await channel.call(body, compute_document_senders(document, settings), answer_timeout_s)
        if reply is None:
            return web.Response(status=204)
        return web.Response(body=reply, status=status, content_type="application/json")

    async def health(_request: web.Request) -> web.Response:
        return json_response({"healthy": True, "gateway": True})

    async def elsewhere(request: web.Request) -> web.Response:
        raise NotFoundError(
            f"this is the node's RPC gateway: it serves POST {RPC_PATH} and GET /health only; "
            f"{request.method} {request.path[:200]} is on the node's own API port (api.port)"
        )

    app.router.add_post(RPC_PATH, rpc)
    app.router.add_get("/health", health)
    app.router.add_route("*", "/{tail:.*}", elsewhere)
    return app


async def serve_gateway(settings: ApiSettings, listener: socket.socket, channel_socket: socket.socket) -> None:
    """Serve on `listener` until the channel to the node closes or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    channel = GatewayChannel(stop.set)
    await loop.create_unix_connection(lambda: channel, sock=channel_socket)
    runner = web.AppRunner(
        create_gateway_app(settings, channel),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout_s,
    )
    await runner.setup()
    await web.SockSite(runner, listener).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gusu.api.gateway", description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", required=True, help="the node's [api] settings, as JSON")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--channel-fd", type=int, required=True)
    arguments = parser.parse_args(argv)
    from gusu.api.process import configure_logging

    try:
        configure_logging(arguments.log_level)
        settings = ApiSettings.from_mapping(orjson.loads(arguments.settings))
    except (GusuError, orjson.JSONDecodeError, AttributeError, TypeError) as error:
        print(f"error: the node passed unusable settings: {error}", file=sys.stderr)
        return 1
    listener = socket.socket(fileno=arguments.listen_fd)
    channel_socket = socket.socket(fileno=arguments.channel_fd)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(serve_gateway(settings, listener, channel_socket))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
