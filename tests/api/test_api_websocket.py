"""JSON-RPC over WebSocket (/ws): methods, subscriptions, limits and misbehaving clients."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
import pytest
from aiohttp import ClientWebSocketResponse, WSCloseCode, WSMessage, WSMsgType
from api_helpers import Client, assert_well_formed_response, error_of, hex_of, result_of, run_api
from fake_node import FakeNode

from gusu.api.settings import ApiSettings
from gusu.ledger.types import Hash, Height
from gusu.node.service import BlockNotification

RECEIVE_TIMEOUT_S = 5.0


async def _request(ws: ClientWebSocketResponse, method: str, params: Any = None, request_id: Any = 1) -> dict[str, Any]:
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        request["params"] = params
    await ws.send_str(orjson.dumps(request).decode())
    return await _receive(ws)


async def _receive(ws: ClientWebSocketResponse) -> dict[str, Any]:
    document = await _receive_any(ws)
    assert isinstance(document, dict), document
    return document


async def _receive_any(ws: ClientWebSocketResponse) -> Any:
    message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
    assert message.type is WSMsgType.TEXT, message
    return orjson.loads(message.data)


async def _subscribe(ws: ClientWebSocketResponse, *params: Any) -> str:
    subscription_id = result_of(await _request(ws, "gusu_subscribe", list(params)))
    assert isinstance(subscription_id, str)
    return subscription_id


def test_methods_work_over_websocket() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        raw, transaction_id = node.make_transaction()
        async with client.ws_connect("/ws") as ws:
            assert result_of(await _request(ws, "gusu_blockNumber")) == 0
            assert result_of(await _request(ws, "gusu_sendRawTransaction", [hex_of(raw)])) == {
                "id": hex_of(transaction_id)
            }
            error = error_of(await _request(ws, "gusu_getBlockByHeight", ["one"], request_id="x"))
            assert error["code"] == -32602
            await ws.send_str(
                orjson.dumps(
                    [
                        {"jsonrpc": "2.0", "id": 1, "method": "gusu_status"},
                        {"jsonrpc": "2.0", "method": "gusu_status"},
                        {"jsonrpc": "2.0", "id": 2, "method": "gusu_health"},
                    ]
                ).decode()
            )
            batch = await _receive_any(ws)
            assert [item["id"] for item in batch] == [1, 2]

    run_api(scenario)


def test_new_blocks_subscription_and_unsubscribe() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            subscription_id = await _subscribe(ws, "newBlocks")
            raw, transaction_id = node.make_transaction()
            assert result_of(await _request(ws, "gusu_sendRawTransaction", [hex_of(raw)]))
            notification = node.commit_block()
            message = await _receive(ws)
            assert message == {
                "jsonrpc": "2.0",
                "method": "gusu_subscription",
                "params": {
                    "subscription": subscription_id,
                    "result": {
                        "height": 1,
                        "hash": hex_of(notification.block_hash),
                        "timestamp_ms": notification.header.timestamp_ms,
                        "transaction_count": 1,
                        "transactions": [hex_of(transaction_id)],
                    },
                },
            }
            assert result_of(await _request(ws, "gusu_unsubscribe", [subscription_id])) is True
            node.commit_block()
            # Nothing more arrives for the cancelled subscription: the next message is this answer.
            assert result_of(await _request(ws, "gusu_blockNumber", request_id=9)) == 2
            error = error_of(await _request(ws, "gusu_unsubscribe", [subscription_id]))
            assert error["data"]["code"] == "not_found"
            error = error_of(await _request(ws, "gusu_unsubscribe", [5]))
            assert error["code"] == -32602

    run_api(scenario)


def test_events_subscription_filters_by_contract_and_name() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            every = await _subscribe(ws, "events")
            transfers = await _subscribe(ws, "events", {"contract": "account", "name": "Transfer"})
            other = await _subscribe(ws, "events", {"contract": "evidence"})
            by_name = await _subscribe(ws, "events", {"name": "Transfer", "contract": None})
            key = node.new_key()
            first, first_id = node.make_transaction(key, nonce=1)
            failing, _ = node.make_transaction(key, nonce=2)
            for raw in (first, failing):
                assert result_of(await _request(ws, "gusu_sendRawTransaction", [hex_of(raw)]))
            node.commit_block(fail_indices=[1])
            received = [await _receive(ws) for _ in range(3)]
            ids = sorted(message["params"]["subscription"] for message in received)
            assert ids == sorted([every, transfers, by_name])
            assert other not in ids
            sender = hex_of(node.suite.compute_address(key.public_key))
            for message in received:
                assert message["method"] == "gusu_subscription"
                assert message["params"]["result"] == {
                    "height": 1,
                    "transaction_id": hex_of(first_id),
                    "index": 0,
                    "event_index": 0,
                    "contract": "account",
                    "name": "Transfer",
                    "data": [{"hex": sender}, 1],
                }
            # The failed transaction's event was not delivered: next is this answer.
            assert result_of(await _request(ws, "gusu_blockNumber", request_id=7)) == 1

    run_api(scenario)


def test_subscribe_params_are_checked() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            for params, fragment in (
                (["blocks"], 'must be "newBlocks" or "events"'),
                ([], "takes 1 to 2 params"),
                (["newBlocks", {"contract": "a"}], "newBlocks takes no filter"),
                (["events", {"topic": "a"}], "unknown field(s) 'topic'"),
                (["events", {"contract": 5}], "field contract must be a string"),
                (["events", "account"], "must be an object"),
            ):
                error = error_of(await _request(ws, "gusu_subscribe", params))
                assert error["code"] == -32602
                assert fragment in error["message"], error["message"]

    run_api(scenario)


def test_subscription_limit_per_connection() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            first = await _subscribe(ws, "newBlocks")
            await _subscribe(ws, "events")
            error = error_of(await _request(ws, "gusu_subscribe", ["newBlocks"]))
            assert error["code"] == -32000
            assert error["data"] == {"code": "subscriptions_exceeded", "retryable": False}
            assert result_of(await _request(ws, "gusu_unsubscribe", [first]))
            await _subscribe(ws, "newBlocks")
        async with client.ws_connect("/ws") as other:
            await _subscribe(other, "newBlocks")

    run_api(scenario, settings=ApiSettings(port=0, websocket_subscriptions_max=2))


def test_full_notification_queue_closes_with_1008() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            await _subscribe(ws, "newBlocks")
            # Commits arrive with no await in between, so the writer gets no
            # turn: the queue bound alone decides.
            for _ in range(8):
                node.commit_block()
            closing = await _receive_until_closed(ws)
            assert ws.close_code == WSCloseCode.POLICY_VIOLATION
            assert "too slow" in str(closing.extra)
        async with client.ws_connect("/ws") as ws:
            assert result_of(await _request(ws, "gusu_blockNumber")) == 8

    run_api(scenario, settings=ApiSettings(port=0, websocket_queue_messages_max=4))


def test_slow_consumer_is_disconnected_and_a_fast_one_is_not() -> None:
    big = 20_000
    notifications = 40

    async def scenario(client: Client, node: FakeNode) -> None:
        template = node.commit_block()
        async with client.ws_connect("/ws", max_msg_size=0) as slow, client.ws_connect("/ws", max_msg_size=0) as fast:
            await _subscribe(slow, "newBlocks")
            await _subscribe(fast, "newBlocks")

            async def read_fast() -> int:
                count = 0
                while count < notifications:
                    message = await fast.receive(timeout=RECEIVE_TIMEOUT_S)
                    assert message.type is WSMsgType.TEXT, message
                    count += 1
                return count

            reader = asyncio.create_task(read_fast())
            (listener,) = node.listeners
            for height in range(notifications):
                # A block listing many ids makes each message about 1.4 MB,
                # enough to fill the socket buffers of a client that stops reading.
                listener(
                    BlockNotification(
                        replace(template.header, height=Height(height + 2)),
                        template.block_hash,
                        tuple(Hash(height.to_bytes(4, "big") + index.to_bytes(28, "big")) for index in range(big)),
                        (),
                    )
                )
                await asyncio.sleep(0.02)
            assert await reader == notifications
            assert not fast.closed
            closing = await _receive_until_closed(slow, messages_max=notifications)
            assert slow.close_code == WSCloseCode.POLICY_VIOLATION, closing
            assert result_of(await _request(fast, "gusu_blockNumber")) == 1

    run_api(scenario, settings=ApiSettings(port=0, websocket_queue_messages_max=8, body_bytes_max=64 * 1024 * 1024))


async def _receive_until_closed(ws: ClientWebSocketResponse, messages_max: int = 20) -> WSMessage:
    for _ in range(messages_max + 1):
        message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
            return message
    raise AssertionError("the connection was not closed")


def test_binary_frames_are_json_too_and_garbage_gets_errors_and_the_connection_stays() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            await ws.send_bytes(b'{"jsonrpc":"2.0","id":7,"method":"gusu_blockNumber"}')
            assert result_of(await _receive(ws)) == 0
            await ws.send_bytes(b"\x00\x01\x02")
            error = error_of(await _receive(ws))
            assert error["code"] == -32700
            await ws.send_bytes(b'"\xff"')
            assert error_of(await _receive(ws))["code"] == -32700
            for garbage in ("", "{", "nonsense", "[]", "[1]", '{"jsonrpc":"2.0","method":"x","id":1}', "[" * 3000):
                await ws.send_str(garbage)
                response = await _receive_any(ws)
                if isinstance(response, list):
                    for item in response:
                        assert_well_formed_response(item)
                else:
                    assert_well_formed_response(response)
                    assert "error" in response
            assert result_of(await _request(ws, "gusu_blockNumber")) == 0

    run_api(scenario)


def test_oversized_message_closes_with_1009() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            await ws.send_str('["' + "a" * 5000 + '"]')
            message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
            assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            assert ws.close_code == WSCloseCode.MESSAGE_TOO_BIG

    run_api(scenario, settings=ApiSettings(port=0, body_bytes_max=1024))


def test_invalid_utf8_text_frame_closes_with_1007() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            await ws.send_frame(b'{"a": "\xff"}', WSMsgType.TEXT)
            message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
            assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            assert ws.close_code == WSCloseCode.INVALID_TEXT
        # The server is still fine.
        async with client.ws_connect("/ws") as ws:
            assert result_of(await _request(ws, "gusu_blockNumber")) == 0

    run_api(scenario)


def test_listener_is_registered_once_and_removed_on_cleanup() -> None:
    node = FakeNode()

    async def scenario(client: Client, fake: FakeNode) -> None:
        assert len(fake.listeners) == 1
        async with client.ws_connect("/ws"), client.ws_connect("/ws"):
            assert len(fake.listeners) == 1

    run_api(scenario, node=node)
    assert node.listeners == []


def test_many_requests_in_flight_all_answered() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        async with client.ws_connect("/ws") as ws:
            for index in range(50):
                await ws.send_str(orjson.dumps({"jsonrpc": "2.0", "id": index, "method": "gusu_blockNumber"}).decode())
            answers = [await _receive(ws) for _ in range(50)]
            assert sorted(answer["id"] for answer in answers) == list(range(50))

    run_api(scenario, settings=ApiSettings(port=0, websocket_requests_in_flight_max=4))


def test_the_in_flight_limit_holds_requests_back_until_one_finishes() -> None:
    """With 3 requests stuck in the node, a 4th is not even read: nothing more reaches the node or is answered."""
    in_flight_max = 3

    async def scenario(client: Client, node: FakeNode) -> None:
        gate = asyncio.Event()
        node.submit_gate = gate
        raw_hex = hex_of(node.make_transaction()[0])
        async with client.ws_connect("/ws") as ws:
            for index in range(8):
                request = {"jsonrpc": "2.0", "id": index, "method": "gusu_sendRawTransaction", "params": [raw_hex]}
                await ws.send_str(orjson.dumps(request).decode())
            await ws.send_str(orjson.dumps({"jsonrpc": "2.0", "id": "height", "method": "gusu_blockNumber"}).decode())
            for _ in range(200):
                if node.submits_waiting >= in_flight_max:
                    break
                await asyncio.sleep(0.01)
            assert node.submits_waiting == in_flight_max
            # Time for more to arrive if the limit leaked; none may, and the cheap request waits too.
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.3)
            assert node.submits_waiting == in_flight_max
            assert node.submits_waiting_peak == in_flight_max
            gate.set()
            answers = [await _receive(ws) for _ in range(9)]
            assert sorted(str(answer["id"]) for answer in answers) == sorted([*map(str, range(8)), "height"])
            assert node.submits_waiting_peak == in_flight_max

    run_api(scenario, settings=ApiSettings(port=0, websocket_requests_in_flight_max=in_flight_max))


def test_server_shutdown_closes_websockets_with_going_away() -> None:
    async def main() -> None:
        from aiohttp import ClientSession

        from gusu.api.server import start_api

        node = FakeNode()
        server = await start_api(node, ApiSettings(port=0))
        async with ClientSession() as session, session.ws_connect(server.ws_url) as ws:
            assert result_of(await _request(ws, "gusu_blockNumber")) == 0
            closing = asyncio.create_task(server.close())
            message = await ws.receive(timeout=RECEIVE_TIMEOUT_S)
            assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
            assert ws.close_code == WSCloseCode.GOING_AWAY
            await closing
        assert node.listeners == []

    asyncio.run(main())
