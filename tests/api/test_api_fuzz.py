"""Random and hostile input at /rpc and /ws: always a well-formed JSON-RPC answer, never a crash.

One server (in its own thread and event loop) takes every example, so the
test also shows that it stays up and keeps answering after all of them.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, WSMsgType
from api_helpers import assert_well_formed_response
from fake_node import FakeNode
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gusu.api.server import ApiServer, start_api
from gusu.api.settings import ApiSettings

METHODS = [
    "gusu_sendRawTransaction",
    "gusu_sendRawTransactions",
    "gusu_getTransaction",
    "gusu_getReceipt",
    "gusu_getTransactionProof",
    "gusu_getReceiptProof",
    "gusu_getTransactionsBySender",
    "gusu_getBlockByHeight",
    "gusu_getBlockByHash",
    "gusu_getRawBlock",
    "gusu_blockNumber",
    "gusu_call",
    "gusu_status",
    "gusu_health",
    "gusu_peers",
    "gusu_evidence",
    "gusu_subscribe",
    "gusu_unsubscribe",
]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_hex = st.binary(max_size=40).map(lambda data: "0x" + data.hex())
_hash = st.binary(min_size=32, max_size=32).map(lambda data: "0x" + data.hex())
_values = st.recursive(
    _scalars | _hex,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["hex", "contract", "name", "x"]) | st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=16,
)
_call = st.fixed_dictionaries(
    {
        "contract": st.sampled_from(["account", "bank"]) | _scalars,
        "method": st.sampled_from(["balance", "revert", "burn", "garbage"]) | _scalars,
        "args": _values,
    },
    optional={"sender": _hex | _scalars},
)
_address = st.binary(min_size=20, max_size=20).map(lambda data: "0x" + data.hex())
_position = st.fixed_dictionaries(
    {"height": st.integers(min_value=-1, max_value=2**64) | _scalars, "index": st.integers(min_value=-1) | _scalars}
)
_param = (
    _values
    | _hex
    | _hash
    | _address
    | _position
    | st.integers(min_value=-2, max_value=5)
    | _call
    | st.lists(_hex, max_size=3)
)
_params = st.lists(_param, max_size=3) | _values
_id = st.none() | st.integers(min_value=-5, max_value=2**40) | st.text(max_size=8)
# Mostly well-formed calls of real methods with plausible params, so that the
# fuzzing reaches the param checks and the methods, not only the envelope checks.
_call_request = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": st.sampled_from(METHODS), "id": _id},
    optional={"params": st.lists(_param, max_size=3)},
)
_wild_request = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0") | _scalars, "method": st.sampled_from(METHODS) | _scalars},
    optional={"id": _id | _values, "params": _params},
)
_request = _call_request | _call_request | _wild_request
_documents = _request | st.lists(_request, max_size=6) | _values


def _dump(document: object) -> str:
    # Not orjson: it refuses integers beyond 64 bits, and those are among the inputs to try.
    return json.dumps(document, separators=(",", ":"))


_payloads = (
    _documents.map(lambda document: _dump(document).encode())
    | st.binary(max_size=200)
    | st.text(max_size=60).map(str.encode)
)


class _LiveServer:
    """start_api on a thread of its own, so each example can use a fresh client loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        settings_ = ApiSettings(port=0, request_timeout_s=5)
        future = asyncio.run_coroutine_threadsafe(self._start(settings_), self.loop)
        self.server: ApiServer = future.result(timeout=30)

    async def _start(self, settings_: ApiSettings) -> ApiServer:
        return await start_api(FakeNode(), settings_)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@pytest.fixture(scope="module")
def live() -> Iterator[_LiveServer]:
    server = _LiveServer()
    try:
        yield server
    finally:
        server.stop()


def _is_notification_only(payload: bytes) -> bool:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    items = document if isinstance(document, list) and document else [document]
    return all(isinstance(item, dict) and "id" not in item for item in items)


def _check_answer(answer: Any) -> None:
    items = answer if isinstance(answer, list) else [answer]
    assert items, answer
    for item in items:
        assert_well_formed_response(item)
        event(f"error {item['error']['data']['code']}" if "error" in item else "result")
        if "error" in item:
            # -32603 would mean an exception escaped the checks.
            assert item["error"]["code"] != -32603, item


async def _post(url: str, payload: bytes) -> tuple[int, bytes]:
    async with ClientSession() as session, session.post(url + "/rpc", data=payload) as response:
        return response.status, await response.read()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_payloads)
def test_rpc_answers_any_input(live: _LiveServer, payload: bytes) -> None:
    status, body = asyncio.run(_post(live.server.url, payload))
    if status == 204:
        assert body == b""
        assert _is_notification_only(payload), payload
        return
    assert status in (200, 413), (status, body)
    _check_answer(orjson.loads(body))


async def _websocket_exchange(url: str, frames: list[bytes | str]) -> list[Any]:
    sentinel = "sentinel"
    answers: list[Any] = []
    async with ClientSession() as session, session.ws_connect(url) as ws:
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        await ws.send_str(orjson.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "gusu_blockNumber"}).decode())
        while True:
            message = await ws.receive(timeout=10)
            assert message.type is WSMsgType.TEXT, (message, frames)
            answer = orjson.loads(message.data)
            if isinstance(answer, dict) and answer.get("id") == sentinel:
                assert answer["result"] == 0
                return answers
            answers.append(answer)


_frames = st.lists(
    _documents.map(_dump) | st.text(max_size=60) | st.binary(min_size=1, max_size=60),
    min_size=1,
    max_size=6,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=_frames)
def test_websocket_answers_any_input(live: _LiveServer, frames: list[bytes | str]) -> None:
    answers = asyncio.run(_websocket_exchange(live.server.ws_url, frames))
    assert len(answers) <= len(frames)
    for answer in answers:
        _check_answer(answer)


def test_server_is_still_up_after_the_fuzzing(live: _LiveServer) -> None:
    payload = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "gusu_health"})
    status, body = asyncio.run(_post(live.server.url, payload))
    assert status == 200
    assert orjson.loads(body) == {"jsonrpc": "2.0", "id": 1, "result": {"ok": True, "height": 0}}
