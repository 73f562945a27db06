"""The RPC gateway's parts without processes (`gusu.api.gateway`): frames, the senders a gateway recovers,
the node trusting them (`gusu.ledger.ethtx.remember_recovered_sender`), the settings, both ends of the channel
over a real socketpair, and the gateway's HTTP application."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gusu.api.errors import RequestTimeoutError, ServerBusyError
from gusu.api.gateway import (
    ANSWER_FRAME_BYTES_MAX,
    FRAME_HEADER_BYTES,
    FrameReader,
    GatewayChannel,
    NodeChannel,
    compute_lone_send,
    compute_recovered_senders,
    create_gateway_app,
    encode_frame,
    iterate_raw_transactions,
)
from gusu.api.rpc import LoneSend, RequestContext, RpcDispatcher, RpcReply
from gusu.api.settings import GATEWAY_WORKERS_MAX, ApiSettings
from gusu.errors import ConfigError, TransactionError, WrongChainError
from gusu.eval.evmbench import sign_legacy_transaction
from gusu.ledger.ethtx import (
    ETH_TRANSACTION_BYTES_MAX,
    compute_eth_address,
    decode_eth_transaction,
    remember_recovered_sender,
)
from gusu.ledger.types import Address

CHAIN_ID = 4242
OTHER_CHAIN_ID = 4243
RECIPIENT = bytes(range(20))
CALL_TIMEOUT_S = 5.0

Client = TestClient[Any, Any]


# --- helpers ------------------------------------------------------------------------------------


def new_secret() -> bytes:
    """A fresh key for each test: decoded transactions are kept process-wide by their raw bytes, so every test
    signs transactions no other test has seen."""
    return secrets.token_bytes(32)


def sign(secret: bytes, nonce: int = 0, chain_id: int = CHAIN_ID) -> bytes:
    signed = sign_legacy_transaction(
        secret, chain_id=chain_id, nonce=nonce, gas_price=0, gas_limit=21_000, to=RECIPIENT, value=1, data=b""
    )
    return bytes.fromhex(signed.raw_hex.removeprefix("0x"))


def send_raw_call(raw: bytes | str, request_id: int = 1) -> dict[str, Any]:
    text = raw if isinstance(raw, str) else "0x" + raw.hex()
    return {"jsonrpc": "2.0", "id": request_id, "method": "eth_sendRawTransaction", "params": [text]}


@dataclass
class FakeDispatcher:
    """Answers every body with a reply naming it, after its gate (if any) opens; records what it was given."""

    seen: list[tuple[bytes, dict[bytes, Address]]] = field(default_factory=list)
    lone_batches: list[list[LoneSend]] = field(default_factory=list)
    gates: dict[bytes, asyncio.Event] = field(default_factory=dict)
    status: int = 200
    failure: Exception | None = None

    async def handle(self, body: bytes | str, context: RequestContext) -> RpcReply:
        payload = body if isinstance(body, bytes) else body.encode()
        self.seen.append((payload, dict(context.recovered_senders)))
        gate = self.gates.get(payload)
        if gate is not None:
            await gate.wait()
        if self.failure is not None:
            raise self.failure
        if payload == b"notification":
            return RpcReply(None, 204)
        return RpcReply(b'{"answer": "' + payload + b'"}', self.status)

    async def handle_lone_sends(self, sends: Sequence[LoneSend]) -> list[RpcReply]:
        self.lone_batches.append(list(sends))
        gate = self.gates.get(b"lone")
        if gate is not None:
            await gate.wait()
        if self.failure is not None:
            raise self.failure
        return [
            RpcReply(orjson.dumps({"id": request_id, "raw": raw.hex()}), self.status) for request_id, raw, _ in sends
        ]


@dataclass
class ChannelPair:
    node: NodeChannel
    gateway: GatewayChannel
    lost: asyncio.Event


@asynccontextmanager
async def connected_channels(
    dispatcher: FakeDispatcher, settings: ApiSettings | None = None
) -> AsyncIterator[ChannelPair]:
    """Both ends of a gateway's channel over a real socketpair, in the running loop."""
    loop = asyncio.get_running_loop()
    node_end, gateway_end = socket.socketpair()
    node = NodeChannel(cast(RpcDispatcher, dispatcher), settings or ApiSettings(port=0))
    await loop.create_unix_connection(lambda: node, sock=node_end)
    lost = asyncio.Event()
    gateway = GatewayChannel(lost.set)
    await loop.create_unix_connection(lambda: gateway, sock=gateway_end)
    try:
        yield ChannelPair(node, gateway, lost)
    finally:
        node.close()


@asynccontextmanager
async def node_end_with_plain_gateway(
    dispatcher: FakeDispatcher,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """The node's end, and a stream standing in for a gateway that may write anything."""
    loop = asyncio.get_running_loop()
    node_end, gateway_end = socket.socketpair()
    node = NodeChannel(cast(RpcDispatcher, dispatcher), ApiSettings(port=0))
    await loop.create_unix_connection(lambda: node, sock=node_end)
    reader, writer = await asyncio.open_unix_connection(sock=gateway_end)
    try:
        yield reader, writer
    finally:
        writer.close()
        node.close()


@asynccontextmanager
async def gateway_end_with_plain_node() -> AsyncIterator[
    tuple[GatewayChannel, asyncio.Event, asyncio.StreamReader, asyncio.StreamWriter]
]:
    """The gateway's end, and a stream standing in for a node that may answer anything."""
    loop = asyncio.get_running_loop()
    node_end, gateway_end = socket.socketpair()
    lost = asyncio.Event()
    gateway = GatewayChannel(lost.set)
    await loop.create_unix_connection(lambda: gateway, sock=gateway_end)
    reader, writer = await asyncio.open_unix_connection(sock=node_end)
    try:
        yield gateway, lost, reader, writer
    finally:
        writer.close()


async def read_frame(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(FRAME_HEADER_BYTES)
    return msgpack.unpackb(await reader.readexactly(int.from_bytes(header, "big")), raw=False)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(30):
            await scenario()

    asyncio.run(main())


# --- frames -------------------------------------------------------------------------------------


def test_encode_frame_is_a_length_prefix_and_msgpack_that_round_trips() -> None:
    items: list[Any] = [7, b"\x00body\xff", [[b"raw", b"s" * 20]], None, "text"]

    frame = encode_frame(items)

    length = int.from_bytes(frame[:FRAME_HEADER_BYTES], "big")
    assert length == len(frame) - FRAME_HEADER_BYTES
    assert msgpack.unpackb(frame[FRAME_HEADER_BYTES:], raw=False) == items
    assert FrameReader(1 << 20).feed(frame) == [frame[FRAME_HEADER_BYTES:]]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 7, 64, 1000])
def test_frame_reader_splits_a_stream_cut_anywhere(chunk_bytes: int) -> None:
    items = [[index, b"x" * (index * 13), "y" * index] for index in range(12)]
    stream = b"".join(encode_frame(item) for item in items)
    reader = FrameReader(1 << 20)

    payloads: list[bytes] = []
    for start in range(0, len(stream), chunk_bytes):
        payloads += reader.feed(stream[start : start + chunk_bytes])

    assert [msgpack.unpackb(payload, raw=False) for payload in payloads] == items


def test_frame_reader_returns_every_frame_of_one_chunk_and_keeps_the_rest() -> None:
    first, second, third = encode_frame([1]), encode_frame([2, b"two"]), encode_frame([3, "three"])
    reader = FrameReader(1024)

    assert reader.feed(first + second + third[:-2]) == [first[4:], second[4:]]
    assert reader.feed(b"") == []
    assert reader.feed(third[-2:]) == [third[4:]]
    assert reader.feed(b"") == []


def test_frame_reader_takes_a_frame_at_the_limit_and_refuses_one_over_it() -> None:
    at_limit = b"\x00" * 100
    assert FrameReader(100).feed(len(at_limit).to_bytes(4, "big") + at_limit) == [at_limit]

    # Refused from its header alone: the reader never buffers an oversized frame.
    with pytest.raises(ValueError, match="101 bytes is over the limit of 100"):
        FrameReader(100).feed((101).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="over the limit"):
        FrameReader(100).feed(encode_frame([b"\x00" * 200]))


# --- the senders a gateway recovers -------------------------------------------------------------


def test_iterate_raw_transactions_of_one_call() -> None:
    raw = sign(new_secret())
    assert list(iterate_raw_transactions(send_raw_call(raw), 10)) == [raw]
    upper = {**send_raw_call(raw), "params": ["0X" + raw.hex()]}
    assert list(iterate_raw_transactions(upper, 10)) == [raw]


def test_iterate_raw_transactions_of_a_batch_skips_other_methods_and_malformed_calls() -> None:
    first, second = sign(new_secret()), sign(new_secret())
    batch: list[Any] = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        send_raw_call(first, 2),
        {"jsonrpc": "2.0", "id": 3, "method": "gusu_sendRawTransaction", "params": ["0x" + first.hex()]},
        {"jsonrpc": "2.0", "id": 4, "method": "eth_call", "params": ["0x" + first.hex()]},
        send_raw_call("0xzz", 5),  # not hex
        send_raw_call("0xabc", 6),  # odd length
        send_raw_call(first.hex(), 7),  # no 0x
        {"jsonrpc": "2.0", "id": 8, "method": "eth_sendRawTransaction", "params": {"0": "0x" + first.hex()}},
        {"jsonrpc": "2.0", "id": 9, "method": "eth_sendRawTransaction", "params": []},
        {"jsonrpc": "2.0", "id": 10, "method": "eth_sendRawTransaction", "params": [12]},
        {"jsonrpc": "2.0", "id": 11, "method": "eth_sendRawTransaction"},
        "not a call",
        17,
        None,
        send_raw_call(second, 12),
    ]
    assert list(iterate_raw_transactions(batch, 100)) == [first, second]
    assert list(iterate_raw_transactions("eth_sendRawTransaction", 100)) == []
    assert list(iterate_raw_transactions(None, 100)) == []


def test_iterate_raw_transactions_skips_hex_longer_than_a_transaction_may_be() -> None:
    longest = "0x" + "ab" * ETH_TRANSACTION_BYTES_MAX
    too_long = "0x" + "ab" * (ETH_TRANSACTION_BYTES_MAX + 1)
    assert list(iterate_raw_transactions([send_raw_call(too_long), send_raw_call(longest)], 10)) == [
        b"\xab" * ETH_TRANSACTION_BYTES_MAX
    ]


def test_iterate_raw_transactions_stops_at_the_limit_counting_only_what_it_yields() -> None:
    raws = [bytes([index]) * 3 for index in range(1, 6)]
    calls = [send_raw_call("0xnothex"), *(send_raw_call(raw) for raw in raws)]
    assert list(iterate_raw_transactions(calls, 3)) == raws[:3]
    assert list(iterate_raw_transactions(calls, 5)) == raws
    assert list(iterate_raw_transactions(calls, 0)) == []


def test_the_recovered_sender_is_the_address_of_the_signing_key() -> None:
    secret = new_secret()
    raw = sign(secret)

    pairs = compute_recovered_senders(orjson.dumps(send_raw_call(raw)), ApiSettings(port=0))

    assert pairs == [[raw, bytes(compute_eth_address(secret))]]


def test_recovered_senders_of_a_batch_in_order_skipping_what_does_not_decode() -> None:
    first_secret, second_secret = new_secret(), new_secret()
    first, second = sign(first_secret, nonce=3), sign(second_secret, chain_id=OTHER_CHAIN_ID)
    body = orjson.dumps(
        [
            send_raw_call(first, 1),
            send_raw_call(b"\xc0", 2),  # an empty RLP list: not a transaction
            send_raw_call(first[:-1], 3),  # cut short
            {"jsonrpc": "2.0", "id": 4, "method": "eth_blockNumber"},
            send_raw_call(second, 5),  # another chain's: the node refuses it, the gateway only recovers
        ]
    )

    pairs = compute_recovered_senders(body, ApiSettings(port=0))

    assert pairs == [
        [first, bytes(compute_eth_address(first_secret))],
        [second, bytes(compute_eth_address(second_secret))],
    ]


def test_recovered_senders_stop_at_transactions_per_request_max() -> None:
    secrets_ = [new_secret() for _ in range(4)]
    body = orjson.dumps([send_raw_call(sign(secret), index) for index, secret in enumerate(secrets_)])

    pairs = compute_recovered_senders(body, ApiSettings(port=0, transactions_per_request_max=2))

    assert [sender for _, sender in pairs] == [bytes(compute_eth_address(secret)) for secret in secrets_[:2]]


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b'{"method": "eth_sendRawTransaction", "params": ["0x'])
def test_recovered_senders_of_a_body_that_is_not_json_are_none(body: bytes) -> None:
    assert compute_recovered_senders(body, ApiSettings(port=0)) == []


# --- the node trusting a recovered sender ---------------------------------------------------------


def test_a_remembered_sender_is_what_decoding_returns() -> None:
    secret = new_secret()
    raw = sign(secret)
    # Not the signer: shows the node takes the gateway's word instead of recovering.
    claimed = Address(b"\x5a" * 20)
    assert claimed != compute_eth_address(secret)

    assert remember_recovered_sender(raw, claimed) is True

    transaction = decode_eth_transaction(raw, chain_id=CHAIN_ID)
    assert transaction.sender == claimed
    assert transaction.raw == raw and transaction.chain_id == CHAIN_ID and transaction.nonce == 0
    # Already kept: nothing changes.
    assert remember_recovered_sender(raw, Address(b"\x01" * 20)) is False
    assert decode_eth_transaction(raw, chain_id=CHAIN_ID).sender == claimed


def test_a_transaction_decoded_before_is_not_remembered_again() -> None:
    secret = new_secret()
    raw = sign(secret)
    assert decode_eth_transaction(raw, chain_id=CHAIN_ID).sender == compute_eth_address(secret)

    assert remember_recovered_sender(raw, Address(b"\x5a" * 20)) is False
    assert decode_eth_transaction(raw, chain_id=CHAIN_ID).sender == compute_eth_address(secret)


@pytest.mark.parametrize("raw", [b"", b"\x01\x02", b"\xc0", b"\xff" * 40])
def test_a_malformed_raw_transaction_is_not_remembered(raw: bytes) -> None:
    assert remember_recovered_sender(raw, Address(b"\x5a" * 20)) is False
    with pytest.raises(TransactionError):
        decode_eth_transaction(raw, chain_id=CHAIN_ID)


def test_the_chain_id_is_still_checked_for_a_remembered_transaction() -> None:
    secret = new_secret()
    raw = sign(secret, chain_id=CHAIN_ID)
    assert remember_recovered_sender(raw, compute_eth_address(secret)) is True

    with pytest.raises(WrongChainError):
        decode_eth_transaction(raw, chain_id=OTHER_CHAIN_ID)
    assert decode_eth_transaction(raw, chain_id=CHAIN_ID).sender == compute_eth_address(secret)


# --- settings -----------------------------------------------------------------------------------


def test_gateway_settings_defaults() -> None:
    settings = ApiSettings()
    assert settings.gateway_workers == 0
    assert settings.gateway_port != settings.port
    assert settings.gateway_restarts_max >= 1


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"gateway_workers": -1}, "api.gateway_workers"),
        ({"gateway_workers": GATEWAY_WORKERS_MAX + 1}, "api.gateway_workers"),
        ({"gateway_workers": "2"}, "api.gateway_workers"),
        ({"gateway_workers": True}, "api.gateway_workers"),
        ({"gateway_workers": 1.0}, "api.gateway_workers"),
        ({"gateway_port": -1}, "api.gateway_port"),
        ({"gateway_port": 65536}, "api.gateway_port"),
        ({"gateway_port": "8547"}, "api.gateway_port"),
        ({"gateway_restarts_max": -1}, "api.gateway_restarts_max"),
        ({"gateway_restarts_max": None}, "api.gateway_restarts_max"),
        ({"gateway_workers": 2, "port": 9000, "gateway_port": 9000}, "api.gateway_port and api.port"),
    ],
)
def test_bad_gateway_settings_are_refused_by_name(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        ApiSettings(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"gateway_workers": GATEWAY_WORKERS_MAX, "gateway_port": 0, "gateway_restarts_max": 0},
        {"gateway_workers": 1, "port": 0, "gateway_port": 0},  # both free ports: different ones
        {"gateway_workers": 0, "port": 9000, "gateway_port": 9000},  # no gateway: its port is unused
        {"gateway_workers": 3, "port": 9000, "gateway_port": 9001},
    ],
)
def test_good_gateway_settings_are_taken(changes: dict[str, Any]) -> None:
    settings = ApiSettings(**changes)
    assert all(getattr(settings, name) == value for name, value in changes.items())


def test_gateway_settings_from_a_config_mapping() -> None:
    settings = ApiSettings.from_mapping({"gateway_workers": 2, "gateway_port": 0, "gateway_restarts_max": 3})
    assert (settings.gateway_workers, settings.gateway_port, settings.gateway_restarts_max) == (2, 0, 3)


# --- the channel ----------------------------------------------------------------------------------


def test_a_call_reaches_the_dispatcher_with_its_body_and_senders() -> None:
    dispatcher = FakeDispatcher()
    raw, sender = b"\xf8raw transaction", b"\x11" * 20

    async def scenario() -> None:
        async with connected_channels(dispatcher) as channels:
            answer = await channels.gateway.call(b"the body", [[raw, sender]], CALL_TIMEOUT_S)
            assert answer == (200, b'{"answer": "the body"}')
            assert dispatcher.seen == [(b"the body", {raw: Address(sender)})]
            assert channels.node.requests_total == 1
            assert await channels.gateway.call(b"notification", [], CALL_TIMEOUT_S) == (204, None)
            assert dispatcher.seen[-1] == (b"notification", {})

    run(scenario)


def test_lone_sends_of_one_read_are_answered_together_each_to_its_caller() -> None:
    """Frames the node reads at once: every lone send among them goes to the dispatcher in one batch (one
    admission), bodies each on their own; every answer reaches its caller."""
    dispatcher = FakeDispatcher()
    senders = [Address(bytes([index]) * 20) for index in range(5)]

    async def scenario() -> None:
        async with connected_channels(dispatcher) as channels:
            calls = [
                asyncio.create_task(
                    channels.gateway.call_lone_send((index, bytes([2, index]), senders[index]), CALL_TIMEOUT_S)
                )
                for index in range(5)
            ]
            body = asyncio.create_task(channels.gateway.call(b"the body", [], CALL_TIMEOUT_S))
            answers = await asyncio.gather(*calls)
            assert [orjson.loads(answer or b"") for _, answer in answers] == [
                {"id": index, "raw": bytes([2, index]).hex()} for index in range(5)
            ]
            assert await body == (200, b'{"answer": "the body"}')
            assert dispatcher.lone_batches == [[(index, bytes([2, index]), senders[index]) for index in range(5)]]
            assert dispatcher.seen == [(b"the body", {})]
            assert channels.node.requests_total == 6

    run(scenario)


def test_lone_sends_past_connections_max_are_answered_busy_and_a_failure_internal_each() -> None:
    dispatcher = FakeDispatcher(gates={b"lone": asyncio.Event()})

    async def scenario() -> None:
        async with connected_channels(dispatcher, ApiSettings(port=0, connections_max=1)) as channels:
            held = asyncio.create_task(channels.gateway.call_lone_send((1, b"\x02a", Address(bytes(20))), 5.0))
            while not dispatcher.lone_batches:
                await asyncio.sleep(0.01)
            status, body = await channels.gateway.call_lone_send((2, b"\x02b", Address(bytes(20))), CALL_TIMEOUT_S)
            assert status == 503 and orjson.loads(body or b"")["error"]["data"]["code"] == "server_busy"
            assert len(dispatcher.lone_batches) == 1
            dispatcher.failure = RuntimeError("a bug")
            dispatcher.gates[b"lone"].set()
            status, body = await held
            assert status == 500 and orjson.loads(body or b"")["error"]["code"] == -32603

    run(scenario)


def test_a_lone_send_is_one_answered_eth_send_raw_transaction_whose_sender_recovers() -> None:
    secret = new_secret()
    raw = sign(secret)
    sender = compute_eth_address(secret)
    call = send_raw_call("0x" + raw.hex(), request_id=5)
    assert compute_lone_send(call, 64) == (5, raw, sender)
    assert compute_lone_send({**call, "id": "five"}, 64) == ("five", raw, sender)
    assert compute_lone_send({**call, "id": None}, 64) == (None, raw, sender)
    assert compute_lone_send({**call, "params": ["0X" + raw.hex().upper()]}, 64) == (5, raw, sender)
    refused: list[object] = [
        [call],  # a batch goes as a body
        {key: value for key, value in call.items() if key != "id"},  # a notification is not answered
        {**call, "id": 1.5},
        {**call, "id": True},
        {**call, "jsonrpc": "1.0"},
        {**call, "method": "eth_call"},
        {**call, "params": ["0x" + raw.hex(), "extra"]},
        {**call, "params": {"rawTransaction": "0x" + raw.hex()}},
        {**call, "params": [raw.hex()]},  # no 0x
        {**call, "params": ["0x" + raw.hex() + "0"]},  # odd
        {**call, "params": ["0x " + raw.hex()]},  # bytes.fromhex would skip the space; the node refuses it
        {**call, "params": ["0x"]},
        {**call, "params": ["0x" + (b"\xc0" + raw).hex()]},  # does not decode
        {**call, "params": ["0x" + "00" * (ETH_TRANSACTION_BYTES_MAX + 1)]},
        "not an object",
        None,
    ]
    refused += [
        {**call, "extra": [[[[1]]]]},  # anything else in it goes as the body: the node checks its nesting
        {**call, "extra": 1},
    ]
    for document in refused:
        assert compute_lone_send(document, 64) is None, document
    assert compute_lone_send(call, 2) == (5, raw, sender)
    assert compute_lone_send(call, 1) is None  # the node's own parse refuses a send this deep


def test_the_dispatchers_status_comes_back() -> None:
    dispatcher = FakeDispatcher(status=429)

    async def scenario() -> None:
        async with connected_channels(dispatcher) as channels:
            assert await channels.gateway.call(b"busy", [], CALL_TIMEOUT_S) == (429, b'{"answer": "busy"}')

    run(scenario)


def test_answers_reach_their_callers_when_answered_out_of_order() -> None:
    bodies = [b"first", b"second", b"third", b"fourth"]
    dispatcher = FakeDispatcher(gates={body: asyncio.Event() for body in bodies})

    async def scenario() -> None:
        async with connected_channels(dispatcher) as channels:
            calls = {
                body: asyncio.create_task(channels.gateway.call(body, [[body, bytes(20)]], CALL_TIMEOUT_S))
                for body in bodies
            }
            while len(dispatcher.seen) < len(bodies):
                await asyncio.sleep(0.01)
            assert [body for body, _ in dispatcher.seen] == bodies
            assert all(senders == {body: Address(bytes(20))} for body, senders in dispatcher.seen)
            for opened, body in enumerate([b"third", b"first", b"fourth", b"second"], 1):
                dispatcher.gates[body].set()
                assert await calls[body] == (200, b'{"answer": "' + body + b'"}')
                assert sum(call.done() for call in calls.values()) == opened

    run(scenario)


def test_the_node_answers_busy_past_connections_max_in_flight() -> None:
    dispatcher = FakeDispatcher(gates={b"slow": asyncio.Event()})

    async def scenario() -> None:
        async with connected_channels(dispatcher, ApiSettings(port=0, connections_max=1)) as channels:
            slow = asyncio.create_task(channels.gateway.call(b"slow", [], CALL_TIMEOUT_S))
            while not dispatcher.seen:
                await asyncio.sleep(0.01)
            status, body = await channels.gateway.call(b"fast", [], CALL_TIMEOUT_S)
            assert status == 503 and body is not None
            assert orjson.loads(body)["error"]["data"]["code"] == "server_busy"
            assert [body for body, _ in dispatcher.seen] == [b"slow"]
            dispatcher.gates[b"slow"].set()
            assert (await slow)[0] == 200
            assert (await channels.gateway.call(b"fast", [], CALL_TIMEOUT_S))[0] == 200

    run(scenario)


def test_a_dispatcher_failure_answers_an_internal_error() -> None:
    dispatcher = FakeDispatcher(failure=RuntimeError("a bug"))

    async def scenario() -> None:
        async with connected_channels(dispatcher) as channels:
            status, body = await channels.gateway.call(b"body", [], CALL_TIMEOUT_S)
            assert status == 500 and body is not None and "a bug" not in body.decode()
            assert orjson.loads(body)["error"]["code"] == -32603
            assert not channels.lost.is_set()

    run(scenario)


def test_a_call_the_node_does_not_answer_in_time_times_out() -> None:
    dispatcher = FakeDispatcher(gates={b"never": asyncio.Event()})

    async def scenario() -> None:
        async with connected_channels(dispatcher) as channels:
            with pytest.raises(RequestTimeoutError):
                await channels.gateway.call(b"never", [], 0.05)

    run(scenario)


def test_when_the_channel_closes_waiting_calls_fail_busy_and_the_gateway_hears_it() -> None:
    dispatcher = FakeDispatcher(gates={b"one": asyncio.Event(), b"two": asyncio.Event()})

    async def scenario() -> None:
        async with connected_channels(dispatcher) as channels:
            waiting = [
                asyncio.create_task(channels.gateway.call(body, [], CALL_TIMEOUT_S)) for body in (b"one", b"two")
            ]
            while len(dispatcher.seen) < 2:
                await asyncio.sleep(0.01)
            assert not channels.lost.is_set()

            channels.node.close()

            for call in waiting:
                with pytest.raises(ServerBusyError):
                    await call
            await asyncio.wait_for(channels.lost.wait(), CALL_TIMEOUT_S)
            with pytest.raises(ServerBusyError):
                await channels.gateway.call(b"later", [], CALL_TIMEOUT_S)
            assert len(dispatcher.seen) == 2

    run(scenario)


@pytest.mark.parametrize(
    "frame",
    [
        encode_frame(["1", b"body", []]),  # the id is not an integer
        encode_frame([1, "body", []]),  # the body is not bytes
        encode_frame([1, b"body", {}]),  # the senders are not a list
        encode_frame([1, b"body"]),  # too short
        encode_frame([1, b"body", [[b"raw", b"short"]]]),  # a sender that is not 20 bytes
        encode_frame([1, b"body", [[b"raw"]]]),  # a pair without a sender
        encode_frame([1, b"body", [["raw", bytes(20)]]]),  # the raw transaction is not bytes
        encode_frame([1, 2, b"raw", b"short"]),  # a lone send whose sender is not 20 bytes
        encode_frame([1, 2, "raw", bytes(20)]),  # a lone send whose raw transaction is not bytes
        encode_frame([1, 2.5, b"raw", bytes(20)]),  # a lone send whose JSON-RPC id no request may have
        encode_frame(["1", 2, b"raw", bytes(20)]),  # a lone send whose frame id is not an integer
        encode_frame([1, 2, b"raw", bytes(20), 5]),  # too long
        (3).to_bytes(4, "big") + b"\xc1\xc1\xc1",  # not msgpack
        (1 << 31).to_bytes(4, "big"),  # over the limit
    ],
)
def test_a_malformed_request_frame_closes_the_channel(frame: bytes) -> None:
    dispatcher = FakeDispatcher()

    async def scenario() -> None:
        async with node_end_with_plain_gateway(dispatcher) as (reader, writer):
            writer.write(encode_frame([1, b"fine", []]))
            assert await read_frame(reader) == [1, 200, b'{"answer": "fine"}']

            writer.write(frame + encode_frame([2, b"after", []]))
            assert await asyncio.wait_for(reader.read(), CALL_TIMEOUT_S) == b""  # closed: end of stream
            assert [body for body, _ in dispatcher.seen] == [b"fine"]

    run(scenario)


def test_an_answer_frame_over_the_limit_closes_the_gateways_end() -> None:
    async def scenario() -> None:
        async with gateway_end_with_plain_node() as (gateway, lost, reader, writer):
            call = asyncio.create_task(gateway.call(b"body", [[b"raw", bytes(20)]], CALL_TIMEOUT_S))
            assert await read_frame(reader) == [0, b"body", [[b"raw", bytes(20)]]]

            writer.write((ANSWER_FRAME_BYTES_MAX + 1).to_bytes(4, "big"))

            with pytest.raises(ServerBusyError):
                await call
            await asyncio.wait_for(lost.wait(), CALL_TIMEOUT_S)
            assert await asyncio.wait_for(reader.read(), CALL_TIMEOUT_S) == b""

    run(scenario)


@pytest.mark.parametrize("answer", [["not", "an answer"], [0, "200", b"body"], [0, 200, "text"], [0, 200]])
def test_a_wrongly_shaped_answer_closes_the_gateways_end(answer: list[object]) -> None:
    async def scenario() -> None:
        async with gateway_end_with_plain_node() as (gateway, lost, reader, writer):
            call = asyncio.create_task(gateway.call(b"body", [], CALL_TIMEOUT_S))
            await read_frame(reader)
            writer.write(encode_frame(answer))
            with pytest.raises(ServerBusyError):
                await call
            await asyncio.wait_for(lost.wait(), CALL_TIMEOUT_S)

    run(scenario)


def test_an_answer_for_no_waiting_call_is_ignored() -> None:
    async def scenario() -> None:
        async with gateway_end_with_plain_node() as (gateway, lost, reader, writer):
            call = asyncio.create_task(gateway.call(b"body", [], CALL_TIMEOUT_S))
            request_id, _, _ = await read_frame(reader)
            writer.write(encode_frame([request_id + 100, 200, b"stray"]) + encode_frame([request_id, 200, b"mine"]))
            assert await call == (200, b"mine")
            assert not lost.is_set()

    run(scenario)


# --- the gateway's HTTP application -------------------------------------------------------------------


Scenario = Callable[[Client, ChannelPair], Awaitable[None]]


def run_gateway_app(scenario: Scenario, dispatcher: FakeDispatcher, settings: ApiSettings) -> None:
    async def main() -> None:
        async with connected_channels(dispatcher, settings) as channels:
            app = create_gateway_app(settings, channels.gateway)
            async with TestClient(TestServer(app)) as client:
                await scenario(client, channels)

    run(main)


def test_post_rpc_is_relayed_with_the_recovered_senders() -> None:
    dispatcher = FakeDispatcher()
    secret = new_secret()
    raw = sign(secret)
    body = orjson.dumps([send_raw_call(raw, 1), {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"}])

    async def scenario(client: Client, channels: ChannelPair) -> None:
        response = await client.post("/rpc", data=body)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.read() == b'{"answer": "' + body + b'"}'
        assert dispatcher.seen == [(body, {raw: compute_eth_address(secret)})]

        answered = await client.post("/rpc", data=b"notification")
        assert answered.status == 204 and await answered.read() == b""

    run_gateway_app(scenario, dispatcher, ApiSettings(port=0))


def test_other_paths_answer_404_naming_the_nodes_own_port() -> None:
    dispatcher = FakeDispatcher()

    async def scenario(client: Client, channels: ChannelPair) -> None:
        for method, path in (("GET", "/v1/status"), ("GET", "/rpc"), ("POST", "/ws"), ("GET", "/metrics")):
            response = await client.request(method, path)
            assert response.status == 404, (method, path)
            error = orjson.loads(await response.read())["error"]
            assert "api.port" in error["message"] and path in error["message"]
        assert dispatcher.seen == []

        health = await client.get("/health")
        assert health.status == 200 and orjson.loads(await health.read()) == {"healthy": True, "gateway": True}

    run_gateway_app(scenario, dispatcher, ApiSettings(port=0))


def test_a_body_over_body_bytes_max_answers_413_without_reaching_the_node() -> None:
    dispatcher = FakeDispatcher()
    settings = ApiSettings(port=0, body_bytes_max=1024)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 512

    async def scenario(client: Client, channels: ChannelPair) -> None:
        response = await client.post("/rpc", data=b" " * 1025)
        assert response.status == 413
        assert orjson.loads(await response.read())["error"]["data"]["code"] == "request_too_large"
        chunked = await client.post("/rpc", data=chunks())  # no length up front
        assert chunked.status == 413
        assert dispatcher.seen == []
        fits = await client.post("/rpc", data=b" " * 1024)
        assert fits.status == 200 and len(dispatcher.seen) == 1

    run_gateway_app(scenario, dispatcher, settings)


def test_post_rpc_answers_503_once_the_node_is_gone() -> None:
    dispatcher = FakeDispatcher()

    async def scenario(client: Client, channels: ChannelPair) -> None:
        assert (await client.post("/rpc", data=b"first")).status == 200
        channels.node.close()
        await asyncio.wait_for(channels.lost.wait(), CALL_TIMEOUT_S)

        response = await client.post("/rpc", data=b"second")

        assert response.status == 503 and response.headers.get("Retry-After") == "1"
        assert orjson.loads(await response.read())["error"]["data"]["code"] == "server_busy"
        assert [body for body, _ in dispatcher.seen] == [b"first"]

    run_gateway_app(scenario, dispatcher, ApiSettings(port=0))


def test_the_gateway_answers_cors_as_the_nodes_port_does() -> None:
    dispatcher = FakeDispatcher()
    origin = "https://app.example"

    async def scenario(client: Client, channels: ChannelPair) -> None:
        preflight = await client.options("/rpc", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Origin"] == origin
        answered = await client.post("/rpc", data=b"{}", headers={"Origin": origin})
        assert answered.headers["Access-Control-Allow-Origin"] == origin
        stranger = await client.post("/rpc", data=b"{}", headers={"Origin": "https://other.example"})
        assert "Access-Control-Allow-Origin" not in stranger.headers

    run_gateway_app(scenario, dispatcher, ApiSettings(port=0, cors_origins=(origin,)))


def test_a_gateway_started_with_unusable_settings_says_so() -> None:
    from gusu.api.gateway import main

    assert main(["--settings", "{not json", "--listen-fd", "0", "--channel-fd", "0"]) == 1
    assert main(["--settings", '{"connections_max": 0}', "--listen-fd", "0", "--channel-fd", "0"]) == 1
