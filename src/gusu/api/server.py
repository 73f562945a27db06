"""The node's HTTP server: JSON-RPC, WebSocket, REST, OpenAPI, metrics and health on one port.

`create_app` assembles an aiohttp application around a `NodeService`;
`start_api` runs it. Three middlewares wrap every route, outermost first:

* CORS (only when origins are configured), so that error answers carry
  the headers a browser needs to read them;
* errors: any failure becomes a JSON answer in the route's format
  (JSON-RPC for /rpc, ``{"error": ...}`` elsewhere), never a traceback;
  it also bounds REST handlers by `request_timeout_s`;
* the connection limit: requests in progress plus open WebSockets never
  exceed `connections_max`; beyond it the answer is 503 at once, which is
  cheaper for everyone than queueing work the node cannot keep up with.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

import orjson
from aiohttp import WSCloseCode, web
from aiohttp.typedefs import Handler, Middleware

from gusu.api.errors import (
    INTERNAL_MESSAGE,
    InternalApiError,
    RequestTimeoutError,
    ServerBusyError,
    http_status_of,
    rest_error_object,
)
from gusu.api.eth import EthRpc, EthSettings
from gusu.api.methods import NodeApi
from gusu.api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from gusu.api.metrics import render_metrics
from gusu.api.openapi import build_openapi
from gusu.api.rest import RestHandlers, json_response, read_rpc_body
from gusu.api.rpc import RequestContext, RpcDispatcher, error_response_bytes
from gusu.api.settings import ApiSettings
from gusu.api.websocket import WebSocketHub
from gusu.errors import ConfigError, GusuError, InvalidRequestError, NotFoundError, RequestTooLargeError
from gusu.node.service import NodeService

logger = logging.getLogger("gusu.api")

RPC_PATH: Final = "/rpc"
WS_PATH: Final = "/ws"
_CORS_MAX_AGE_S: Final = 600
_PATH_PREVIEW_LENGTH: Final = 200


class ConnectionLimiter:
    """Counts requests in progress and open WebSockets (one event loop: no lock needed)."""

    __slots__ = ("limit", "open", "refused_total")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused_total = 0


@dataclass(frozen=True, slots=True)
class ApiState:
    """What one application holds; reachable as ``app[API_STATE]`` (for metrics and tests)."""

    node: NodeService
    settings: ApiSettings
    api: NodeApi
    dispatcher: RpcDispatcher
    hub: WebSocketHub
    limiter: ConnectionLimiter
    openapi: bytes


API_STATE: Final = web.AppKey("gusu_api_state", ApiState)


# --- middlewares ------------------------------------------------------------------------


def _error_answer(request: web.Request, error: GusuError) -> web.Response:
    status = http_status_of(error)
    headers = {"Retry-After": "1"} if error.retryable and status in (429, 503) else None
    if request.path == RPC_PATH:
        return web.Response(
            body=error_response_bytes(error), status=status, content_type="application/json", headers=headers
        )
    return web.Response(
        body=orjson.dumps({"error": rest_error_object(error)}),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _from_http_exception(request: web.Request, exception: web.HTTPException) -> GusuError:
    if isinstance(exception, web.HTTPNotFound):
        return NotFoundError(
            f"there is no route {request.method} {request.path[:_PATH_PREVIEW_LENGTH]}; "
            "the routes are listed in /openapi.json"
        )
    if isinstance(exception, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exception.allowed_methods))
        return InvalidRequestError(
            f"{request.method} is not allowed on {request.path[:_PATH_PREVIEW_LENGTH]}; use {allowed}"
        )
    if isinstance(exception, web.HTTPRequestEntityTooLarge):
        return RequestTooLargeError(f"the request body is too large: {exception.text}")
    return InvalidRequestError(exception.text or exception.reason)


def errors_middleware(settings: ApiSettings) -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            # /rpc keeps per-call deadlines itself and /ws lives as long as the client wants.
            if request.path in (RPC_PATH, WS_PATH):
                return await handler(request)
            return await _with_timeout(request, handler, settings.request_timeout_s)
        except GusuError as error:
            return _error_answer(request, error)
        except web.HTTPException as exception:
            if exception.status < 400:
                raise
            answer = _error_answer(request, _from_http_exception(request, exception))
            answer.set_status(exception.status)
            if isinstance(exception, web.HTTPMethodNotAllowed):
                answer.headers["Allow"] = ", ".join(sorted(exception.allowed_methods))
            return answer
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("unexpected failure handling %s %s", request.method, request.path)
            return _error_answer(request, InternalApiError(INTERNAL_MESSAGE))

    return errors


async def _with_timeout(request: web.Request, handler: Handler, timeout_s: float) -> web.StreamResponse:
    try:
        async with asyncio.timeout(timeout_s) as scope:
            return await handler(request)
    except TimeoutError as error:
        if scope.expired():
            raise RequestTimeoutError(f"the request took longer than {timeout_s:g} s; try again") from error
        raise


def limit_middleware(limiter: ConnectionLimiter) -> Middleware:
    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if limiter.open >= limiter.limit:
            limiter.refused_total += 1
            raise ServerBusyError(
                f"the server is handling {limiter.limit} requests and connections, its limit; retry shortly"
            )
        limiter.open += 1
        try:
            return await handler(request)
        finally:
            limiter.open -= 1

    return limit


def cors_middleware(origins: tuple[str, ...]) -> Middleware:
    any_origin = "*" in origins

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and (any_origin or origin in origins)
        if allowed and request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": "*" if any_origin else str(origin),
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": request.headers.get(
                        "Access-Control-Request-Headers", "Content-Type"
                    ),
                    "Access-Control-Max-Age": str(_CORS_MAX_AGE_S),
                    "Vary": "Origin",
                },
            )
        response = await handler(request)
        if allowed and not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = "*" if any_origin else str(origin)
            response.headers["Vary"] = "Origin"
        return response

    return cors


# --- handlers -------------------------------------------------------------------------------


class _Handlers:
    __slots__ = ("_state",)

    def __init__(self, state: ApiState) -> None:
        self._state = state

    async def rpc(self, request: web.Request) -> web.StreamResponse:
        settings = self._state.settings
        body = await read_rpc_body(request, settings)
        reply = await self._state.dispatcher.handle(body, RequestContext())
        if reply.body is None:
            return web.Response(status=204)
        return web.Response(body=reply.body, status=reply.status, content_type="application/json")

    async def health(self, _request: web.Request) -> web.Response:
        healthy, document = self._state.api.health()
        return json_response(document, status=200 if healthy else 503)

    async def metrics(self, _request: web.Request) -> web.Response:
        state = self._state
        text = render_metrics(
            state.node.get_metrics(),
            api_gauges={
                "gusu_api_connections": ("Requests in progress plus open WebSockets.", state.limiter.open),
                "gusu_api_websocket_connections": ("Open WebSocket connections.", state.hub.connection_count),
                "gusu_api_websocket_subscriptions": ("Active WebSocket subscriptions.", state.hub.subscription_count),
            },
            api_counters={
                "gusu_api_requests_refused_total": (
                    "Requests refused because connections_max was reached.",
                    state.limiter.refused_total,
                ),
            },
        )
        return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._state.openapi, content_type="application/json")


# --- assembly --------------------------------------------------------------------------------


def create_app(node: NodeService, settings: ApiSettings, eth_settings: EthSettings | None = None) -> web.Application:
    """The API as an aiohttp application; it listens to the node's commits while running."""
    api = NodeApi(node)
    eth = EthRpc(node, eth_settings)
    dispatcher = RpcDispatcher(api, settings, eth.get_method_specs(), answer_lone_sends=eth.answer_lone_sends)
    state = ApiState(
        node=node,
        settings=settings,
        api=api,
        dispatcher=dispatcher,
        hub=WebSocketHub(dispatcher, settings),
        limiter=ConnectionLimiter(settings.connections_max),
        openapi=orjson.dumps(build_openapi(settings)),
    )
    middlewares: list[Middleware] = []
    if settings.cors_origins:
        middlewares.append(cors_middleware(settings.cors_origins))
    middlewares += [errors_middleware(settings), limit_middleware(state.limiter)]
    app = web.Application(client_max_size=settings.body_bytes_max, middlewares=middlewares)
    app[API_STATE] = state

    handlers = _Handlers(state)
    app.router.add_post(RPC_PATH, handlers.rpc)
    app.router.add_get(WS_PATH, state.hub.handle)
    RestHandlers(api, settings).add_routes(app)
    app.router.add_get("/openapi.json", handlers.openapi)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/health", handlers.health)

    app.on_startup.append(_start_listening)
    app.on_shutdown.append(_close_websockets)
    app.on_cleanup.append(_stop_listening)
    return app


async def _start_listening(app: web.Application) -> None:
    state = app[API_STATE]
    state.hub.listen(state.node)


async def _close_websockets(app: web.Application) -> None:
    await app[API_STATE].hub.close_all(WSCloseCode.GOING_AWAY, "the node is shutting down")


async def _stop_listening(app: web.Application) -> None:
    app[API_STATE].hub.stop_listening()


@dataclass(frozen=True, slots=True)
class ApiServer:
    """A running API server."""

    url: str
    """``http://host:port``"""
    ws_url: str
    """``ws://host:port/ws``"""
    runner: web.AppRunner

    @property
    def dispatcher(self) -> RpcDispatcher:
        """What answers POST /rpc (the RPC gateway's requests too)."""
        return self.runner.app[API_STATE].dispatcher

    async def close(self) -> None:
        """Close WebSockets, finish requests in progress (within shutdown_timeout_s) and stop listening."""
        await self.runner.cleanup()


async def start_api(node: NodeService, settings: ApiSettings, eth_settings: EthSettings | None = None) -> ApiServer:
    """Serve the API for `node` on `settings.host`:`settings.port` until `close()`; the Ethereum JSON-RPC
    with `eth_settings` (the defaults when None)."""
    app = create_app(node, settings, eth_settings)
    # No access log: at thousands of requests a second it would cost more than the requests.
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=settings.shutdown_timeout_s)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=min(settings.connections_max, _BACKLOG_MAX))
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise ConfigError(
            f"the API cannot listen on {settings.host}:{settings.port} ({error}); "
            "choose another api.host or api.port, or stop the process using it"
        ) from error
    port = _bound_port(runner, settings.port)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    server = ApiServer(url=f"http://{host}:{port}", ws_url=f"ws://{host}:{port}{WS_PATH}", runner=runner)
    logger.info("API listening on %s (JSON-RPC %s, WebSocket %s)", server.url, RPC_PATH, server.ws_url)
    return server


_BACKLOG_MAX: Final = 4096


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
            return address[1]
    return configured


__all__ = ["API_STATE", "ApiServer", "ApiSettings", "create_app", "start_api"]
