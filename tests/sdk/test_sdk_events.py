"""`get_events` (blocking and async) against the fake node, and the checks on its answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sdk_fake_node import CHAIN_ID, FakeNode

from gusu.crypto import PrivateKey
from gusu.errors import ClientError, CodecError, RemoteError
from gusu.ledger.jsonview import bytes_to_hex
from gusu.ledger.types import Address, Hash, Height
from gusu.sdk import AsyncClient, Client, ContractEventsView, build_transaction

RECIPIENT = b"\x01" * 20
WAIT_S = 5.0


@pytest.fixture
def client(node: FakeNode) -> Iterator[Client]:
    with Client(node.url) as client:
        yield client


def _transfer(node: FakeNode, client: Client, key: PrivateKey, amount: int) -> Hash:
    raw = build_transaction(key, CHAIN_ID, "account", "transfer", [RECIPIENT, amount], Height(node.height + 50)).raw
    transaction_id = client.send_raw(raw)
    client.wait_for_receipt(transaction_id, timeout_s=WAIT_S)
    return transaction_id


def test_lists_a_contracts_events_with_where_each_is(node: FakeNode, client: Client, key: PrivateKey) -> None:
    sent = [_transfer(node, client, key, amount) for amount in (3, 4)]
    sender = Address(node.suite.compute_address(key.public_key))
    answer = client.get_events("account", 0)
    assert answer.contract == "account" and answer.name is None and answer.from_height == 0
    assert [event.transaction_id for event in answer.events] == sent
    for event, amount in zip(answer.events, (3, 4), strict=True):
        receipt = client.get_receipt(event.transaction_id)
        assert (event.height, event.index, event.event_index) == (receipt.height, receipt.index, 0)
        assert event.block_hash == client.get_block(int(event.height)).block_hash
        assert (event.contract, event.name, event.data) == ("account", "Transfer", [sender, RECIPIENT, amount])
    assert answer.to_height >= answer.events[-1].height
    assert client.get_events("account", 0, name="Minted").events == ()
    first = answer.events[0].height
    single = client.get_events("account", first, first)
    assert single.events == tuple(event for event in answer.events if event.height == first)
    assert (single.from_height, single.to_height) == (first, first)
    assert node.methods.count("gusu_getEvents") >= 3


def test_async_client_answers_the_same(node: FakeNode, client: Client, key: PrivateKey) -> None:
    _transfer(node, client, key, 5)
    blocking = client.get_events("account", 0, node.height, "Transfer")

    async def main() -> ContractEventsView:
        async with AsyncClient(node.url) as async_client:
            return await async_client.get_events("account", 0, blocking.to_height, "Transfer")

    assert asyncio.run(main()) == blocking and len(blocking.events) == 1


def test_a_refused_range_is_a_remote_error_with_request_too_large(node: FakeNode, client: Client) -> None:
    node.events_range_max = 2
    with pytest.raises(RemoteError) as raised:
        client.get_events("account", 0, 5)
    assert raised.value.code == "request_too_large"


def test_bad_arguments_fail_before_sending(node: FakeNode, client: Client) -> None:
    for arguments in [
        ("", None, None, None),
        (7, None, None, None),
        ("account", -1, None, None),
        ("account", True, None, None),
        ("account", None, "9", None),
        ("account", 5, 2, None),
        ("account", None, None, ""),
    ]:
        with pytest.raises(ClientError):
            client.get_events(*arguments)  # type: ignore[arg-type]
    assert "gusu_getEvents" not in node.methods


def _event(height: int, index: int = 0, event_index: int = 0, contract: str = "account") -> dict[str, Any]:
    return {
        "height": height,
        "block_hash": bytes_to_hex(b"\x11" * 32),
        "transaction_id": bytes_to_hex(b"\x22" * 32),
        "index": index,
        "event_index": event_index,
        "contract": contract,
        "name": "Transfer",
        "data": [1],
    }


@pytest.mark.parametrize(
    "events",
    [
        [_event(3, contract="other")],
        [_event(12)],
        [_event(4, 1), _event(4, 0)],
        [_event(4, 1, 1), _event(4, 1, 1)],
        [{**_event(4), "block_hash": "0x12"}],
        [{**_event(4), "data": 1.5}],
    ],
)
def test_answers_that_break_the_promises_are_refused(node: FakeNode, client: Client, events: list[Any]) -> None:
    node.events_answer = {"contract": "account", "name": None, "from_height": 1, "to_height": 10, "events": events}
    with pytest.raises(ClientError, match="malformed") as raised:
        client.get_events("account", 1, 10)
    assert isinstance(raised.value.__cause__, CodecError)
