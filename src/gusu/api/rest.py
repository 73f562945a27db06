"""The REST routes under /v1 (see docs/api.md and /openapi.json).

Handlers only translate: path, query and body in; `NodeApi` answers out.
They raise `GusuError`s, which the server's error middleware turns into
``{"error": {...}}`` answers with the matching HTTP status.
"""

from __future__ import annotations

import asyncio
from typing import Final

import orjson
from aiohttp import web

from gusu.api.errors import InvalidParamsError, RequestTimeoutError
from gusu.api.events import get_events_json, parse_event_query_text
from gusu.api.jsonio import parse_json
from gusu.api.methods import NodeApi
from gusu.api.params import (
    EVIDENCE_RECORDS_DEFAULT,
    HEIGHT_MAX,
    expect_flag,
    expect_height_text,
    expect_hex,
    expect_name,
    expect_object,
    expect_page_limit,
    expect_raw_transaction,
    expect_uint_text,
    parse_call_request,
)
from gusu.api.settings import ApiSettings
from gusu.errors import RequestTooLargeError
from gusu.ledger.jsonview import JSON
from gusu.ledger.stateproof import STATE_PROOF_KEY_BYTES_MAX
from gusu.ledger.types import ADDRESS_SIZE, BLOCK_TRANSACTIONS_MAX, HASH_SIZE, Address, Height

JSON_CONTENT_TYPE: Final = "application/json"


def json_response(document: JSON, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document), status=status, content_type=JSON_CONTENT_TYPE)


async def read_body(request: web.Request, settings: ApiSettings) -> bytes:
    """The request body, refused with request_too_large beyond `body_bytes_max`."""
    limit = settings.body_bytes_max
    if request.content_length is not None and request.content_length > limit:
        raise RequestTooLargeError(
            f"the request body is {request.content_length} bytes; the limit is {limit}, so send less per request"
        )
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as error:
        # A chunked body has no length up front; aiohttp stops it at client_max_size.
        raise RequestTooLargeError(
            f"the request body exceeds the limit of {limit} bytes; send less per request"
        ) from error


async def read_rpc_body(request: web.Request, settings: ApiSettings) -> bytes:
    """A JSON-RPC request's body (`read_body`) within `request_timeout_s`: POST /rpc has no handler timeout
    around it (each call keeps its own deadline), so a client that sends slowly must be cut off here."""
    try:
        async with asyncio.timeout(settings.request_timeout_s):
            return await read_body(request, settings)
    except TimeoutError as error:
        raise RequestTimeoutError(
            f"the request body took longer than {settings.request_timeout_s:g} s to arrive"
        ) from error


def parse_json_body(body: bytes, settings: ApiSettings) -> JSON:
    return parse_json(body, settings.json_depth_max, "the request body", "a JSON object")


class RestHandlers:
    __slots__ = ("_api", "_settings")

    def __init__(self, api: NodeApi, settings: ApiSettings) -> None:
        self._api = api
        self._settings = settings

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/status", self.status)
        app.router.add_get("/v1/peers", self.peers)
        # "latest" first: the {height} route would otherwise claim it.
        app.router.add_get("/v1/blocks/latest", self.latest_block)
        app.router.add_get("/v1/blocks/{height}", self.block_by_height)
        app.router.add_get("/v1/blocks/hash/{hash}", self.block_by_hash)
        app.router.add_get("/v1/transactions/{id}", self.transaction)
        app.router.add_get("/v1/transactions/{id}/receipt", self.receipt)
        app.router.add_get("/v1/transactions/{id}/proof", self.transaction_proof)
        app.router.add_get("/v1/transactions/{id}/receipt/proof", self.receipt_proof)
        app.router.add_post("/v1/transactions", self.submit)
        app.router.add_get("/v1/accounts/{address}/transactions", self.sender_transactions)
        app.router.add_post("/v1/call", self.call)
        app.router.add_get("/v1/state/{contract}/{key}/proof", self.state_proof)
        app.router.add_get("/v1/evidence", self.evidence)
        app.router.add_get("/v1/contracts/{contract}/events", self.events)

    async def status(self, _request: web.Request) -> web.Response:
        return json_response(self._api.status())

    async def peers(self, _request: web.Request) -> web.Response:
        return json_response(self._api.peers())

    async def latest_block(self, request: web.Request) -> web.Response:
        return json_response(self._api.latest_block(_full(request)))

    async def block_by_height(self, request: web.Request) -> web.Response:
        height = expect_height_text(request.match_info["height"], "the path's height")
        return json_response(self._api.block_by_height(height, _full(request)))

    async def block_by_hash(self, request: web.Request) -> web.Response:
        block_hash = expect_hex(request.match_info["hash"], "the path's block hash", HASH_SIZE)
        return json_response(self._api.block_by_hash(block_hash, _full(request)))

    async def transaction(self, request: web.Request) -> web.Response:
        return json_response(self._api.transaction(_transaction_id(request)))

    async def receipt(self, request: web.Request) -> web.Response:
        return json_response(self._api.receipt(_transaction_id(request)))

    async def transaction_proof(self, request: web.Request) -> web.Response:
        return json_response(self._api.transaction_proof(_transaction_id(request)))

    async def receipt_proof(self, request: web.Request) -> web.Response:
        return json_response(self._api.receipt_proof(_transaction_id(request)))

    async def state_proof(self, request: web.Request) -> web.Response:
        contract = expect_name(request.match_info["contract"], "the path's contract")
        key = expect_hex(request.match_info["key"], "the path's key", size_max=STATE_PROOF_KEY_BYTES_MAX)
        height_text = request.query.get("height")
        height = None if height_text is None else Height(expect_height_text(height_text, "the query parameter height"))
        return json_response(self._api.state_proof(contract, key, height))

    async def sender_transactions(self, request: web.Request) -> web.Response:
        sender = Address(expect_hex(request.match_info["address"], "the path's address", ADDRESS_SIZE))
        query = request.query
        limit_text = query.get("limit")
        limit = expect_page_limit(
            None if limit_text is None else expect_uint_text(limit_text, "the query parameter limit"),
            "the query parameter limit",
            self._settings.sender_transactions_max,
        )
        height_text, index_text = query.get("before_height"), query.get("before_index")
        before: tuple[Height, int] | None = None
        if (height_text is None) != (index_text is None):
            # Half a cursor would silently page from the wrong place.
            raise InvalidParamsError(
                "give before_height and before_index together (the next cursor of the previous page), or neither"
            )
        if height_text is not None and index_text is not None:
            before = (
                Height(expect_uint_text(height_text, "the query parameter before_height", HEIGHT_MAX)),
                expect_uint_text(index_text, "the query parameter before_index", BLOCK_TRANSACTIONS_MAX),
            )
        return json_response(self._api.transactions_by_sender(sender, limit, before))

    async def evidence(self, request: web.Request) -> web.Response:
        query = request.query
        limit_text, height_text = query.get("limit"), query.get("before_height")
        limit = expect_page_limit(
            None if limit_text is None else expect_uint_text(limit_text, "the query parameter limit"),
            "the query parameter limit",
            self._settings.evidence_records_max,
            EVIDENCE_RECORDS_DEFAULT,
        )
        before_height = (
            None
            if height_text is None
            else Height(expect_uint_text(height_text, "the query parameter before_height", HEIGHT_MAX))
        )
        return json_response(self._api.evidence(limit, before_height))

    async def events(self, request: web.Request) -> web.Response:
        query = parse_event_query_text(request.match_info["contract"], request.query)
        return json_response(get_events_json(self._api.node, self._settings, query, Height(self._api.height())))

    async def submit(self, request: web.Request) -> web.Response:
        body = parse_json_body(await read_body(request, self._settings), self._settings)
        fields = expect_object(body, "the request body", required=("raw",), optional=())
        raw = fields["raw"]
        if isinstance(raw, list):
            limit = self._settings.transactions_per_request_max
            if len(raw) > limit:
                raise RequestTooLargeError(
                    f"the request submits {len(raw)} transactions; the limit is {limit} per request, "
                    "so send them in several requests"
                )
            raws = [expect_raw_transaction(item, f"the body's raw item {index}") for index, item in enumerate(raw)]
            return json_response(await self._api.submit_many(raws))
        # Accepted into the pool, not yet committed: 202.
        return json_response(
            await self._api.submit_one(
                expect_raw_transaction(raw, "the body's raw (a signed transaction, or an array of them)")
            ),
            status=202,
        )

    async def call(self, request: web.Request) -> web.Response:
        body = parse_json_body(await read_body(request, self._settings), self._settings)
        return json_response(self._api.call(parse_call_request(body, "the request body")))


def _full(request: web.Request) -> bool:
    return expect_flag(request.query.get("full"), "the query parameter full")


def _transaction_id(request: web.Request) -> bytes:
    return expect_hex(request.match_info["id"], "the path's transaction id", HASH_SIZE)
