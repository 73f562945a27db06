"""An account's transactions: gusu_getTransactionsBySender and GET /v1/accounts/{address}/transactions."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Client, error_of, hex_of, result_of, rpc, run_api
from fake_node import FakeNode

from gusu.api.settings import ApiSettings
from gusu.crypto import PrivateKey
from gusu.errors import ConfigError
from gusu.ledger.types import Address, Hash

METHOD = "gusu_getTransactionsBySender"
UNKNOWN_ADDRESS = "0x" + "99" * 20


async def _build_history(node: FakeNode) -> tuple[str, list[Hash], Hash]:
    """Blocks holding 3, 1 and 2 of one account's transactions (with another account's mixed in).

    Returns the account's address, its committed ids newest first, and the
    id of one more transaction left pending.
    """
    alice, bob = node.new_key(), node.new_key()
    committed: list[Hash] = []
    nonce = 0

    async def submit(key: PrivateKey) -> Hash:
        nonlocal nonce
        nonce += 1
        raw, transaction_id = node.make_transaction(key, nonce=nonce)
        [outcome] = await node.submit_transactions([raw])
        assert outcome.error is None
        return transaction_id

    for alice_count in (3, 1, 2):
        await submit(bob)
        block = [await submit(alice) for _ in range(alice_count)]
        node.commit_block()
        committed = block[::-1] + committed
    await submit(bob)
    node.commit_block()
    pending = await submit(alice)
    address = hex_of(node.suite.compute_address(alice.public_key))
    return address, committed, pending


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["transactions"]]


def test_pages_newest_first_across_blocks_until_next_is_null() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        address, committed, pending = await _build_history(node)
        everything = result_of(await rpc(client, METHOD, [address]))
        assert _ids(everything) == [hex_of(item) for item in committed]
        assert everything["next"] is None
        assert hex_of(pending) not in _ids(everything)
        # Each record is exactly what gusu_getTransaction says of it.
        for item in everything["transactions"]:
            assert item == result_of(await rpc(client, "gusu_getTransaction", [item["id"]]))
            assert item["status"] == "committed" and item["transaction"]["sender"] == address
        positions = [(item["height"], item["index"]) for item in everything["transactions"]]
        assert positions == [(3, 2), (3, 1), (2, 1), (1, 3), (1, 2), (1, 1)]

        # Pages of 4 and of 2 cross block boundaries (3|2|1 transactions per block).
        for limit in (1, 2, 4, 5, 6):
            seen: list[str] = []
            params: list[Any] = [address, limit]
            while True:
                page = result_of(await rpc(client, METHOD, params))
                assert 1 <= len(page["transactions"]) <= limit
                seen += _ids(page)
                if page["next"] is None:
                    break
                last = page["transactions"][-1]
                assert page["next"] == {"height": last["height"], "index": last["index"]}
                params = [address, limit, page["next"]]
            assert seen == _ids(everything), limit

        # The cursor is strict and may be any position.
        after_newest = result_of(await rpc(client, METHOD, [address, 10, {"height": 3, "index": 2}]))
        assert _ids(after_newest) == _ids(everything)[1:]
        block_one = result_of(await rpc(client, METHOD, [address, None, {"height": 2, "index": 0}]))
        assert _ids(block_one) == _ids(everything)[3:]
        assert result_of(await rpc(client, METHOD, [address, 10, {"height": 1, "index": 0}])) == {
            "transactions": [],
            "next": None,
        }
        assert result_of(await rpc(client, METHOD, [UNKNOWN_ADDRESS])) == {"transactions": [], "next": None}

    run_api(scenario)


def test_limit_defaults_to_fifty_and_is_capped_by_the_setting() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        address, _, _ = await _build_history(node)
        await rpc(client, METHOD, [address])
        await rpc(client, METHOD, [address, None, None])
        # One record more than the page is asked for, to know whether `next` exists.
        assert [limit for _, limit, _ in node.sender_queries] == [51, 51]
        assert node.sender_queries[0][0] == Address(bytes.fromhex(address[2:]))

    run_api(scenario)

    async def capped(client: Client, node: FakeNode) -> None:
        address, committed, _ = await _build_history(node)
        page = result_of(await rpc(client, METHOD, [address]))  # the default (50) is capped too
        assert _ids(page) == [hex_of(item) for item in committed[:4]]
        assert page["next"] == {"height": 1, "index": 3}
        assert len(result_of(await rpc(client, METHOD, [address, 4]))["transactions"]) == 4
        error = error_of(await rpc(client, METHOD, [address, 5]))
        assert error["data"]["code"] == "params_invalid"
        assert "param 1 (limit) must be between 1 and 4, found 5" in error["message"]
        body = await (await client.get(f"/v1/accounts/{address}/transactions?limit=5")).json()
        assert body["error"]["code"] == "params_invalid"

    run_api(capped, settings=ApiSettings(port=0, sender_transactions_max=4))


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ([], "takes 1 to 3 params [address, limit?, before?]; found 0"),
        (["0x1234"], "param 0 (address) must be 20 bytes, found 2"),
        ([UNKNOWN_ADDRESS, 0], "param 1 (limit) must be between 1 and 1000, found 0"),
        ([UNKNOWN_ADDRESS, 1001], "param 1 (limit) must be between 1 and 1000, found 1001"),
        ([UNKNOWN_ADDRESS, "10"], "param 1 (limit) must be an integer"),
        ([UNKNOWN_ADDRESS, 10, [3, 1]], "param 2 (before) must be an object"),
        ([UNKNOWN_ADDRESS, 10, {"height": 3}], "param 2 (before) lacks the field(s) index"),
        ([UNKNOWN_ADDRESS, 10, {"height": 3, "index": 0, "x": 1}], "unknown field(s) 'x'"),
        ([UNKNOWN_ADDRESS, 10, {"height": -1, "index": 0}], "before) field height must be between 0 and"),
        ([UNKNOWN_ADDRESS, 10, {"height": 1, "index": 10**6}], "field index must be between 0 and 100000"),
        ([UNKNOWN_ADDRESS, 10, {"height": 1, "index": 0}, 4], "found 4"),
    ],
)
def test_invalid_params_say_which_and_what(params: Any, fragment: str) -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        error = error_of(await rpc(client, METHOD, params))
        assert error["code"] == -32602 and error["data"]["code"] == "params_invalid", error
        assert fragment in error["message"], error["message"]

    run_api(scenario)


def test_rest_route_answers_as_the_rpc_method() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        address, committed, _ = await _build_history(node)
        path = f"/v1/accounts/{address}/transactions"
        for query, params in [
            ("", [address]),
            ("?limit=2", [address, 2]),
            ("?limit=2&before_height=1&before_index=3", [address, 2, {"height": 1, "index": 3}]),
            ("?before_height=3&before_index=0", [address, None, {"height": 3, "index": 0}]),
        ]:
            response = await client.get(path + query)
            assert response.status == 200, await response.text()
            assert await response.json() == result_of(await rpc(client, METHOD, params)), query
        upper = await (await client.get(f"/v1/accounts/0x{address[2:].upper()}/transactions")).json()
        assert _ids(upper) == [hex_of(item) for item in committed]

    run_api(scenario)


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/v1/accounts/0x12/transactions", "the path's address must be 20 bytes"),
        (f"/v1/accounts/{UNKNOWN_ADDRESS}/transactions?limit=0", "limit must be between 1 and 1000"),
        (f"/v1/accounts/{UNKNOWN_ADDRESS}/transactions?limit=-1", "limit must be a non-negative integer"),
        (f"/v1/accounts/{UNKNOWN_ADDRESS}/transactions?limit=ten", "limit must be a non-negative integer"),
        (f"/v1/accounts/{UNKNOWN_ADDRESS}/transactions?before_height=3", "before_height and before_index together"),
        (f"/v1/accounts/{UNKNOWN_ADDRESS}/transactions?before_index=0", "before_height and before_index together"),
        (
            f"/v1/accounts/{UNKNOWN_ADDRESS}/transactions?before_height=1&before_index=100001",
            "before_index must be between 0 and 100000",
        ),
        (
            f"/v1/accounts/{UNKNOWN_ADDRESS}/transactions?before_height=99999999999999999999&before_index=0",
            "before_height must be",
        ),
    ],
)
def test_rest_route_errors(path: str, fragment: str) -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        response = await client.get(path)
        assert response.status == 400
        body = await response.json()
        assert body["error"]["code"] == "params_invalid"
        assert fragment in body["error"]["message"], body

    run_api(scenario)


def test_the_setting_is_validated() -> None:
    assert ApiSettings().sender_transactions_max == 1000
    with pytest.raises(ConfigError, match=r"api\.sender_transactions_max"):
        ApiSettings(sender_transactions_max=0)
