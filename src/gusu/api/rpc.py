"""JSON-RPC 2.0 for both POST /rpc and the WebSocket: parsing, limits, dispatch, errors.

`RpcDispatcher.handle` takes the raw bytes (or text) of one HTTP body or
WebSocket message and returns what to send back. It never raises for
anything a client can send: every failure becomes a JSON-RPC error whose
message says what was wrong, and an unexpected exception becomes -32603
with the details in the log only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

import orjson

from gusu.api.errors import (
    INTERNAL_MESSAGE,
    InternalApiError,
    InvalidParamsError,
    MethodNotFoundError,
    RequestTimeoutError,
    rpc_error_object,
)
from gusu.api.events import get_events_json, parse_event_query_params
from gusu.api.jsonio import parse_json
from gusu.api.methods import NodeApi
from gusu.api.params import (
    EVIDENCE_RECORDS_DEFAULT,
    Params,
    describe,
    expect_list,
    expect_name,
    expect_object,
    expect_page_limit,
    expect_position,
    expect_raw_transaction,
    parse_call_request,
)
from gusu.api.settings import ApiSettings
from gusu.errors import GusuError, InvalidRequestError, NotFoundError, RequestTooLargeError
from gusu.ledger.jsonview import JSON, JSONObject
from gusu.ledger.stateproof import STATE_PROOF_KEY_BYTES_MAX
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address, Height
from gusu.node.service import BlockNotification

logger = logging.getLogger("gusu.api")

JSONRPC_VERSION: Final = "2.0"
SEND_RAW_METHOD: Final = "eth_sendRawTransaction"

SubscriptionKind = Literal["newBlocks", "events", "eth"]

SubscriptionRender = Callable[[BlockNotification], list[bytes]]
"""An "eth" subscription's results for one committed block, each already serialised (gusu.api.eth)."""


class Session(Protocol):
    """A WebSocket connection as the subscription methods see it."""

    def subscribe(
        self,
        kind: SubscriptionKind,
        contract: str | None,
        name: str | None,
        render: SubscriptionRender | None = None,
    ) -> tuple[str, Callable[[], None]]:
        """Register a subscription; returns its id and a callable that starts its delivery.

        Kind "eth" (eth_subscribe) needs `render` and is notified as ``eth_subscription``.

        Delivery starts only once the reply carrying the id is queued, so a
        client never receives a notification for an id it does not know yet.
        """
        ...

    def unsubscribe(self, subscription_id: str) -> bool: ...


@dataclass(slots=True)
class RequestContext:
    """One HTTP body or WebSocket message being answered."""

    session: Session | None = None
    after_reply: list[Callable[[], None]] = field(default_factory=list)
    """Run once the reply is queued for sending (or dropped, for notifications)."""
    recovered_senders: Mapping[bytes, Address] = field(default_factory=dict)
    """Senders the node's RPC gateway recovered, by raw Ethereum transaction (`gusu.api.gateway`)."""


@dataclass(frozen=True, slots=True)
class RpcReply:
    body: bytes | None
    """None when there is nothing to send back: the message held only notifications."""
    status: int
    """The HTTP status, for POST /rpc."""


MethodHandler = Callable[[Params, RequestContext], Awaitable[JSON]]


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    handler: MethodHandler
    param_names: tuple[str, ...]
    required_count: int
    is_immediate: bool = False
    """The handler never suspends (it awaits nothing): no deadline can pass while it runs, so it runs without a
    timer of its own, and a batch of only such requests runs them in turn rather than as a task each."""


_NAME_PREVIEW_LENGTH: Final = 64


LoneSend = tuple[JSON, bytes, Address]
"""A request that is one eth_sendRawTransaction alone: (its JSON-RPC id, the raw transaction, the sender the node's
RPC gateway recovered; `gusu.api.gateway`)."""

LoneSendsAnswer = Callable[[Sequence[LoneSend]], Awaitable[list[bytes] | None]]


class RpcDispatcher:
    __slots__ = ("_answer_lone_sends", "_api", "_methods", "_settings")

    def __init__(
        self,
        api: NodeApi,
        settings: ApiSettings,
        extra_methods: Sequence[MethodSpec] = (),
        *,
        answer_lone_sends: LoneSendsAnswer | None = None,
    ) -> None:
        self._api = api
        self._settings = settings
        self._answer_lone_sends = answer_lone_sends
        specs = (
            MethodSpec("gusu_sendRawTransaction", self._send_raw_transaction, ("raw_transaction",), 1),
            MethodSpec("gusu_sendRawTransactions", self._send_raw_transactions, ("raw_transactions",), 1),
            MethodSpec("gusu_getTransaction", self._get_transaction, ("transaction_id",), 1),
            MethodSpec("gusu_getReceipt", self._get_receipt, ("transaction_id",), 1),
            MethodSpec("gusu_getTransactionProof", self._get_transaction_proof, ("transaction_id",), 1),
            MethodSpec("gusu_getReceiptProof", self._get_receipt_proof, ("transaction_id",), 1),
            MethodSpec("gusu_getStateProof", self._get_state_proof, ("contract", "key", "height"), 2),
            MethodSpec(
                "gusu_getTransactionsBySender", self._get_transactions_by_sender, ("address", "limit", "before"), 1
            ),
            MethodSpec("gusu_getBlockByHeight", self._get_block_by_height, ("height", "full_transactions"), 1),
            MethodSpec("gusu_getBlockByHash", self._get_block_by_hash, ("block_hash", "full_transactions"), 1),
            MethodSpec("gusu_getRawBlock", self._get_raw_block, ("height",), 1),
            MethodSpec("gusu_blockNumber", self._block_number, (), 0),
            MethodSpec("gusu_call", self._call, ("call",), 1),
            MethodSpec("gusu_status", self._status, (), 0),
            MethodSpec("gusu_health", self._health, (), 0),
            MethodSpec("gusu_peers", self._peers, (), 0),
            MethodSpec("gusu_evidence", self._evidence, ("limit", "before_height"), 0),
            MethodSpec("gusu_getEvents", self._get_events, ("contract", "from_height", "to_height", "name"), 1),
            MethodSpec("gusu_subscribe", self._subscribe, ("kind", "filter"), 1),
            MethodSpec("gusu_unsubscribe", self._unsubscribe, ("subscription_id",), 1),
            *extra_methods,
        )
        self._methods = {spec.name: spec for spec in specs}

    # --- entry point ------------------------------------------------------------

    async def handle(self, payload: bytes | str, context: RequestContext) -> RpcReply:
        """Answer one HTTP body or WebSocket message."""
        try:
            document = self._parse(payload)
        except GusuError as parse_error:
            return self._reply_single(_error_response(None, parse_error), parse_error)
        deadline = asyncio.get_running_loop().time() + self._settings.request_timeout_s
        if not isinstance(document, list):
            response, error = await self._handle_request(document, deadline, context)
            return self._reply_single(response, error)
        try:
            self._check_batch(document)
        except GusuError as batch_error:
            return self._reply_single(_error_response(None, batch_error), batch_error)
        if all(self._is_immediate(item) for item in document):
            # Nothing in it waits: in turn, the answers come the same and sooner than from a task each.
            outcomes = [await self._handle_request(item, deadline, context) for item in document]
        else:
            # Run concurrently so one slow submission does not hold up the rest;
            # gather keeps the answers in request order.
            outcomes = await asyncio.gather(*(self._handle_request(item, deadline, context) for item in document))
        responses: list[JSON] = [response for response, _ in outcomes if response is not None]
        if not responses:
            return RpcReply(None, 204)
        return RpcReply(self._dump(responses), 200)

    async def handle_lone_sends(self, sends: Sequence[LoneSend]) -> list[RpcReply]:
        """The replies to requests that are each one eth_sendRawTransaction alone, in order: admitted together by
        the Ethereum methods (`EthRpc.answer_lone_sends`) where they can, else each answered as its body would be.
        Either way each reply is the one `handle` gives that request's body, within the same time limit."""
        if self._answer_lone_sends is not None:
            error: GusuError
            try:
                async with asyncio.timeout(self._settings.request_timeout_s):
                    bodies = await self._answer_lone_sends(sends)
            except TimeoutError:
                error = compute_request_timeout_error(self._settings.request_timeout_s)
            except GusuError as failure:  # the node's own failure to take them at all (it is stopping)
                error = failure
            except Exception:
                logger.exception("JSON-RPC method failed unexpectedly")
                error = InternalApiError(INTERNAL_MESSAGE)
            else:
                if bodies is None:
                    return await self._handle_sends_one_by_one(sends)
                return [RpcReply(body, 200) for body in bodies]
            return [RpcReply(error_response_bytes(error, request_id), 200) for request_id, _, _ in sends]
        return await self._handle_sends_one_by_one(sends)

    async def _handle_sends_one_by_one(self, sends: Sequence[LoneSend]) -> list[RpcReply]:
        """Each lone send answered through `handle`, as the body it stands for."""
        return list(
            await asyncio.gather(
                *(
                    self.handle(
                        orjson.dumps(
                            {
                                "jsonrpc": JSONRPC_VERSION,
                                "id": request_id,
                                "method": SEND_RAW_METHOD,
                                "params": ["0x" + raw.hex()],
                            }
                        ),
                        RequestContext(recovered_senders={raw: sender}),
                    )
                    for request_id, raw, sender in sends
                )
            )
        )

    def _is_immediate(self, request: JSON) -> bool:
        """Whether answering `request` cannot wait: an immediate method's, or one refused before any method runs."""
        if not isinstance(request, dict):
            return True
        method = request.get("method")
        spec = self._methods.get(method) if isinstance(method, str) else None
        return spec is None or spec.is_immediate

    def _reply_single(self, response: JSONObject | None, error: GusuError | None) -> RpcReply:
        if response is None:
            return RpcReply(None, 204)
        # JSON-RPC over HTTP answers 200 even for errors, except where the
        # HTTP layer has a status for the very problem (a request too large).
        status = 413 if isinstance(error, RequestTooLargeError) else 200
        return RpcReply(self._dump(response), status)

    def _dump(self, document: JSON) -> bytes:
        try:
            return orjson.dumps(document)
        except (TypeError, orjson.JSONEncodeError):
            logger.exception("could not serialise a JSON-RPC response")
            return orjson.dumps(_error_response(None, InternalApiError(INTERNAL_MESSAGE)))

    # --- parsing and limits ------------------------------------------------------------

    def _parse(self, payload: bytes | str) -> JSON:
        return parse_json(
            payload,
            self._settings.json_depth_max,
            "the request",
            "a JSON-RPC 2.0 request object or an array of them",
        )

    def _check_batch(self, batch: list[JSON]) -> None:
        if not batch:
            raise InvalidRequestError("the batch is empty; send at least one request in the array")
        limit = self._settings.batch_requests_max
        if len(batch) > limit:
            raise RequestTooLargeError(
                f"the batch holds {len(batch)} requests; the limit is {limit}, so split it into smaller batches"
            )
        # Checked up front so that a batch is refused whole rather than half submitted.
        total = sum(_transaction_count(item) for item in batch)
        if total > self._settings.transactions_per_request_max:
            raise RequestTooLargeError(self._too_many_transactions(total))

    def _too_many_transactions(self, count: int) -> str:
        return (
            f"the request submits {count} transactions; the limit is "
            f"{self._settings.transactions_per_request_max} per request, so send them in several requests"
        )

    # --- one request -----------------------------------------------------------------

    async def _handle_request(
        self, request: JSON, deadline: float, context: RequestContext
    ) -> tuple[JSONObject | None, GusuError | None]:
        """The response to one request object (None for a notification) and the error it carries."""
        if not isinstance(request, dict):
            error: GusuError = InvalidRequestError(
                f"a request must be an object with jsonrpc, method, params and id; found {describe(request)}"
            )
            return _error_response(None, error), error
        request_id = request.get("id")
        if not is_valid_request_id(request_id):
            error = InvalidRequestError(f"id must be a string, an integer or null; found {describe(request_id)}")
            return _error_response(None, error), error
        is_notification = "id" not in request
        try:
            spec, params = self._check_request(request)
        except MethodNotFoundError as error:
            # A well-formed notification is never answered, even for an unknown method;
            # a malformed request is, since the client may not have meant it as one.
            return (None if is_notification else _error_response(request_id, error)), error
        except GusuError as error:
            return _error_response(request_id, error), error
        try:
            result = await self._run(spec, params, deadline, context)
        except GusuError as error:
            if is_notification:
                return None, error
            return _error_response(request_id, error), error
        if is_notification:
            return None, None
        return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result}, None

    def _check_request(self, request: JSONObject) -> tuple[MethodSpec, JSON]:
        version = request.get("jsonrpc")
        if version != JSONRPC_VERSION:
            raise InvalidRequestError(f'jsonrpc must be "2.0"; found {describe(version)}')
        method = request.get("method")
        if not isinstance(method, str):
            raise InvalidRequestError(f"method must be a string such as gusu_status; found {describe(method)}")
        params = request.get("params", [])
        if not isinstance(params, (list, dict)):
            raise InvalidRequestError(f"params must be an array; found {describe(params)}")
        spec = self._methods.get(method)
        if spec is None:
            raise MethodNotFoundError(
                f"there is no method {method[:_NAME_PREVIEW_LENGTH]!r}; the methods are " + ", ".join(self._methods)
            )
        return spec, params

    async def _run(self, spec: MethodSpec, params_json: JSON, deadline: float, context: RequestContext) -> JSON:
        if spec.is_immediate:
            try:
                return await spec.handler(
                    Params(spec.name, params_json, spec.param_names, spec.required_count), context
                )
            except GusuError:
                raise
            except Exception as error:
                logger.exception("JSON-RPC method failed unexpectedly")
                raise InternalApiError(INTERNAL_MESSAGE) from error
        try:
            async with asyncio.timeout_at(deadline) as scope:
                params = Params(spec.name, params_json, spec.param_names, spec.required_count)
                return await spec.handler(params, context)
        except GusuError:
            raise
        except TimeoutError as error:
            if scope.expired():
                raise compute_request_timeout_error(self._settings.request_timeout_s) from error
            logger.exception("timeout inside a JSON-RPC method")
            raise InternalApiError(INTERNAL_MESSAGE) from error
        except Exception as error:
            logger.exception("JSON-RPC method failed unexpectedly")
            raise InternalApiError(INTERNAL_MESSAGE) from error

    # --- methods -----------------------------------------------------------------------

    async def _send_raw_transaction(self, params: Params, _context: RequestContext) -> JSON:
        return await self._api.submit_one(expect_raw_transaction(params.raw(0), params.what(0)))

    async def _send_raw_transactions(self, params: Params, _context: RequestContext) -> JSON:
        items = expect_list(params.raw(0), params.what(0))
        if len(items) > self._settings.transactions_per_request_max:
            raise RequestTooLargeError(self._too_many_transactions(len(items)))
        what = params.what(0)
        raws = [expect_raw_transaction(item, f"{what} item {index}") for index, item in enumerate(items)]
        return await self._api.submit_many(raws)

    async def _get_transaction(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.transaction(params.hex(0, HASH_SIZE))

    async def _get_receipt(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.receipt(params.hex(0, HASH_SIZE))

    async def _get_transaction_proof(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.transaction_proof(params.hex(0, HASH_SIZE))

    async def _get_receipt_proof(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.receipt_proof(params.hex(0, HASH_SIZE))

    async def _get_state_proof(self, params: Params, _context: RequestContext) -> JSON:
        contract = expect_name(params.raw(0), params.what(0))
        key = params.hex(1, size_max=STATE_PROOF_KEY_BYTES_MAX)
        height = Height(params.uint(2)) if params.has(2) else None
        return self._api.state_proof(contract, key, height)

    async def _get_transactions_by_sender(self, params: Params, _context: RequestContext) -> JSON:
        sender = Address(params.hex(0, ADDRESS_SIZE))
        limit_json = params.raw(1) if params.has(1) else None
        limit = expect_page_limit(limit_json, params.what(1), self._settings.sender_transactions_max)
        before = expect_position(params.raw(2), params.what(2)) if params.has(2) else None
        return self._api.transactions_by_sender(sender, limit, before)

    async def _get_block_by_height(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.block_by_height(params.uint(0), params.flag(1))

    async def _get_block_by_hash(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.block_by_hash(params.hex(0, HASH_SIZE), params.flag(1))

    async def _get_raw_block(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.raw_block(params.uint(0))

    async def _block_number(self, _params: Params, _context: RequestContext) -> JSON:
        return self._api.height()

    async def _call(self, params: Params, _context: RequestContext) -> JSON:
        return self._api.call(parse_call_request(params.raw(0), params.what(0)))

    async def _status(self, _params: Params, _context: RequestContext) -> JSON:
        return self._api.status()

    async def _health(self, _params: Params, _context: RequestContext) -> JSON:
        _, health = self._api.health()
        return health

    async def _evidence(self, params: Params, _context: RequestContext) -> JSON:
        limit = expect_page_limit(
            params.raw(0) if params.has(0) else None,
            params.what(0),
            self._settings.evidence_records_max,
            EVIDENCE_RECORDS_DEFAULT,
        )
        before_height = Height(params.uint(1)) if params.has(1) else None
        return self._api.evidence(limit, before_height)

    async def _get_events(self, params: Params, _context: RequestContext) -> JSON:
        query = parse_event_query_params(params)
        return get_events_json(self._api.node, self._settings, query, Height(self._api.height()))

    async def _peers(self, _params: Params, _context: RequestContext) -> JSON:
        return self._api.peers()

    async def _subscribe(self, params: Params, context: RequestContext) -> JSON:
        session = _require_session(context, "gusu_subscribe")
        kind_json = params.raw(0)
        kind: SubscriptionKind
        contract: str | None = None
        name: str | None = None
        if kind_json == "newBlocks":
            kind = "newBlocks"
            if params.has(1):
                raise InvalidParamsError(f"{params.what(1)}: newBlocks takes no filter")
        elif kind_json == "events":
            kind = "events"
            if params.has(1):
                what = params.what(1)
                event_filter = expect_object(params.raw(1), what, required=(), optional=("contract", "name"))
                if event_filter.get("contract") is not None:
                    contract = expect_name(event_filter["contract"], f"{what} field contract")
                if event_filter.get("name") is not None:
                    name = expect_name(event_filter["name"], f"{what} field name")
        else:
            raise InvalidParamsError(f'{params.what(0)} must be "newBlocks" or "events"; found {describe(kind_json)}')
        subscription_id, activate = session.subscribe(kind, contract, name)
        context.after_reply.append(activate)
        return subscription_id

    async def _unsubscribe(self, params: Params, context: RequestContext) -> JSON:
        session = _require_session(context, "gusu_unsubscribe")
        subscription_id = params.raw(0)
        if not isinstance(subscription_id, str):
            raise InvalidParamsError(
                f"{params.what(0)} must be the string gusu_subscribe returned; found {describe(subscription_id)}"
            )
        if not session.unsubscribe(subscription_id):
            raise NotFoundError(f"this connection has no subscription {describe(subscription_id)}")
        return True


def _require_session(context: RequestContext, method: str) -> Session:
    if context.session is None:
        raise MethodNotFoundError(f"{method} works only over the WebSocket endpoint /ws, not over POST /rpc")
    return context.session


def compute_request_timeout_error(timeout_s: float) -> RequestTimeoutError:
    """What a request that ran past `[api] request_timeout_s` answers."""
    return RequestTimeoutError(f"the request took longer than {timeout_s:g} s; try again, or send less per request")


def compute_result_response_bytes(request_id: JSON, result: JSON) -> bytes:
    """A serialised JSON-RPC success response (what the dispatcher answers a request whose method returned)."""
    return orjson.dumps({"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result})


def _error_response(request_id: JSON, error: GusuError) -> JSONObject:
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": rpc_error_object(error)}


def error_response_bytes(error: GusuError, request_id: JSON = None) -> bytes:
    """A serialised JSON-RPC error response, for failures outside any request (HTTP limits, frames)."""
    return orjson.dumps(_error_response(request_id, error))


def is_valid_request_id(value: JSON) -> bool:
    # JSON-RPC allows numbers, but fractional ids (and bools) are a client bug.
    return value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _transaction_count(request: JSON) -> int:
    if not isinstance(request, dict):
        return 0
    method = request.get("method")
    if method in ("gusu_sendRawTransaction", "eth_sendRawTransaction"):
        return 1
    params = request.get("params")
    if method == "gusu_sendRawTransactions" and isinstance(params, list) and params and isinstance(params[0], list):
        return len(params[0])
    return 0
