"""Every limit of ApiSettings is enforced, with an answer that says which and what to do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
from api_helpers import Client, error_of, hex_of, post_raw, rpc, run_api
from fake_node import FakeNode

from gusu.api.settings import ApiSettings


def test_oversized_body_is_refused_with_413() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        body = orjson.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "gusu_sendRawTransaction", "params": ["0x" + "00" * 600]}
        )
        status, response = await post_raw(client, body)
        assert status == 413
        error = error_of(response)
        assert error["code"] == -32600
        assert error["data"] == {"code": "request_too_large", "retryable": False}
        assert "limit is 1024" in error["message"]

        response_rest = await client.post("/v1/transactions", data=orjson.dumps({"raw": "0x" + "00" * 600}))
        assert response_rest.status == 413
        body_rest = await response_rest.json()
        assert body_rest["error"]["code"] == "request_too_large"

    run_api(scenario, settings=ApiSettings(port=0, body_bytes_max=1024))


def test_oversized_chunked_body_is_refused_with_413() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 512

        response = await client.post("/rpc", data=chunks())
        assert response.status == 413
        body = await response.json()
        assert body["error"]["data"]["code"] == "request_too_large"

    run_api(scenario, settings=ApiSettings(port=0, body_bytes_max=1024))


def test_batch_longer_than_the_limit_is_refused_whole() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        batch = [{"jsonrpc": "2.0", "id": index, "method": "gusu_blockNumber"} for index in range(6)]
        status, response = await post_raw(client, orjson.dumps(batch))
        assert status == 413
        assert isinstance(response, dict)
        error = error_of(response)
        assert error["code"] == -32600
        assert error["data"]["code"] == "request_too_large"
        assert "6 requests; the limit is 5" in error["message"]
        status, response = await post_raw(client, orjson.dumps(batch[:5]))
        assert status == 200 and len(response) == 5

    run_api(scenario, settings=ApiSettings(port=0, batch_requests_max=5))


def test_transactions_per_request_limit() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        raws = [hex_of(node.make_transaction(nonce=index)[0]) for index in range(4)]
        single = {"jsonrpc": "2.0", "id": 1, "method": "gusu_sendRawTransactions", "params": [raws]}
        status, response = await post_raw(client, orjson.dumps(single))
        assert status == 413
        error = error_of(response)
        assert response["id"] == 1
        assert error["data"]["code"] == "request_too_large"
        assert "4 transactions; the limit is 3" in error["message"]
        # Across a batch the total counts, and nothing is submitted.
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "gusu_sendRawTransactions", "params": [raws[:2]]},
            {"jsonrpc": "2.0", "id": 2, "method": "gusu_sendRawTransaction", "params": [raws[2]]},
            {"jsonrpc": "2.0", "id": 3, "method": "gusu_sendRawTransaction", "params": [raws[3]]},
        ]
        status, response = await post_raw(client, orjson.dumps(batch))
        assert status == 413
        assert error_of(response)["data"]["code"] == "request_too_large"
        assert node.submitted == []
        response_rest = await client.post("/v1/transactions", data=orjson.dumps({"raw": raws}))
        assert response_rest.status == 413
        result = await rpc(client, "gusu_sendRawTransactions", [raws[:3]])
        assert len(result["result"]) == 3

    run_api(scenario, settings=ApiSettings(port=0, transactions_per_request_max=3))


def test_connections_beyond_the_limit_get_503() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        gate = asyncio.Event()
        node.submit_gate = gate
        raw, _ = node.make_transaction()
        held = [
            asyncio.create_task(rpc(client, "gusu_sendRawTransaction", [hex_of(raw)], request_id=i)) for i in range(2)
        ]
        await asyncio.sleep(0.2)
        status, response = await post_raw(client, orjson.dumps({"jsonrpc": "2.0", "id": 9, "method": "gusu_status"}))
        assert status == 503
        error = error_of(response)
        assert error["data"] == {"code": "server_busy", "retryable": True}
        rest = await client.get("/v1/status")
        assert rest.status == 503
        assert rest.headers["Retry-After"] == "1"
        assert (await rest.json())["error"]["code"] == "server_busy"
        gate.set()
        await asyncio.gather(*held)
        metrics = await (await client.get("/metrics")).text()
        assert "gusu_api_requests_refused_total 2" in metrics
        status, _ = await post_raw(client, orjson.dumps({"jsonrpc": "2.0", "id": 9, "method": "gusu_status"}))
        assert status == 200

    run_api(scenario, settings=ApiSettings(port=0, connections_max=2))


def test_websockets_count_as_connections() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async with client.ws_connect("/ws"):
            response = await client.get("/health")
            assert response.status == 503
            assert (await response.json())["error"]["code"] == "server_busy"
        await asyncio.sleep(0.1)
        assert (await client.get("/health")).status == 200

    run_api(scenario, settings=ApiSettings(port=0, connections_max=1))


def test_request_timeout() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        node.submit_gate = asyncio.Event()
        raw, _ = node.make_transaction()
        error = error_of(await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)]))
        assert error["code"] == -32000
        assert error["data"] == {"code": "request_timeout", "retryable": True}
        # In a batch only the slow call times out.
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "gusu_sendRawTransaction", "params": [hex_of(raw)]},
            {"jsonrpc": "2.0", "id": 2, "method": "gusu_blockNumber"},
        ]
        status, responses = await post_raw(client, orjson.dumps(batch))
        assert status == 200
        assert responses[0]["error"]["data"]["code"] == "request_timeout"
        assert responses[1]["result"] == 0
        response = await client.post("/v1/transactions", data=orjson.dumps({"raw": hex_of(raw)}))
        assert response.status == 504
        assert (await response.json())["error"]["code"] == "request_timeout"

    run_api(scenario, settings=ApiSettings(port=0, request_timeout_s=0.2))


def test_deep_nesting_is_refused_before_any_work() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        nested: object = 1
        for _ in range(12):
            nested = [nested]
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "gusu_call",
            "params": [{"contract": "a", "method": "b", "args": [nested]}],
        }
        status, response = await post_raw(client, orjson.dumps(request))
        assert status == 413
        assert "deeper than 10 levels" in error_of(response)["message"]

    run_api(scenario, settings=ApiSettings(port=0, json_depth_max=10))
