"""Shared helpers for the API tests: run a scenario against the app on a test server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp.test_utils import TestClient, TestServer
from fake_node import FakeNode

from gusu.api.server import create_app
from gusu.api.settings import ApiSettings

Client = TestClient[Any, Any]
Scenario = Callable[[Client, FakeNode], Awaitable[None]]

KNOWN_RPC_CODES = {-32700, -32600, -32601, -32602, -32603, -32000}


def run_api(scenario: Scenario, node: FakeNode | None = None, settings: ApiSettings | None = None) -> None:
    """Serve a fresh app for `node` and run `scenario` against it, in a new event loop."""

    async def main() -> None:
        fake = node or FakeNode()
        app = create_app(fake, settings or ApiSettings(port=0))
        async with TestClient(TestServer(app)) as client:
            await scenario(client, fake)

    asyncio.run(main())


async def rpc(client: Client, method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    """One JSON-RPC call over POST /rpc; returns the whole response object."""
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        request["params"] = params
    # The standard library writes integers beyond 64 bits, which some tests send.
    response = await client.post("/rpc", data=json.dumps(request))
    assert response.status == 200, await response.text()
    body: dict[str, Any] = orjson.loads(await response.read())
    return body


async def post_raw(client: Client, data: bytes | str) -> tuple[int, Any]:
    response = await client.post("/rpc", data=data)
    raw = await response.read()
    return response.status, (orjson.loads(raw) if raw else None)


def result_of(response: dict[str, Any]) -> Any:
    assert "error" not in response, response
    return response["result"]


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    assert "result" not in response, response
    error: dict[str, Any] = response["error"]
    assert_well_formed_error(error)
    return error


def assert_well_formed_error(error: Any) -> None:
    assert isinstance(error, dict), error
    assert set(error) == {"code", "message", "data"}, error
    assert error["code"] in KNOWN_RPC_CODES, error
    assert isinstance(error["message"], str) and error["message"], error
    assert "Traceback" not in error["message"], error
    data = error["data"]
    assert isinstance(data, dict) and set(data) == {"code", "retryable"}, error
    assert isinstance(data["code"], str) and data["code"], error
    assert isinstance(data["retryable"], bool), error


def assert_well_formed_response(response: Any) -> None:
    """A JSON-RPC 2.0 response object: a result or a well-formed error, never both."""
    assert isinstance(response, dict), response
    assert response.get("jsonrpc") == "2.0", response
    assert "id" in response, response
    assert ("result" in response) != ("error" in response), response
    if "error" in response:
        assert_well_formed_error(response["error"])


def hex_of(data: bytes) -> str:
    return "0x" + data.hex()
