"""A contract's past events: gusu_getEvents and GET /v1/contracts/{contract}/events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from api_helpers import Client, error_of, hex_of, result_of, rpc, run_api
from fake_node import FakeNode

from gusu.api.settings import ApiSettings
from gusu.codec import encode
from gusu.errors import ConfigError
from gusu.ledger.types import Event, Hash

METHOD = "gusu_getEvents"


async def _build_chain(node: FakeNode) -> list[tuple[int, Hash]]:
    """Blocks 1 to 3: block 1 holds nonces 1 and 2, block 2 nonce 3 (failed), block 3 nonce 4.

    Nonce 2's transaction emits a Transfer and a Minted event, the others one Transfer each (the fake's
    default). Returns (height, id) of each transaction in order.
    """
    key = node.new_key()
    node.events_by_nonce[2] = (
        Event("account", "Transfer", encode(["second", 2])),
        Event("account", "Minted", encode([7])),
    )
    placed: list[tuple[int, Hash]] = []
    for nonces, failed in (((1, 2), ()), ((3,), (0,)), ((4,), ())):
        for nonce in nonces:
            raw, transaction_id = node.make_transaction(key, nonce=nonce)
            [outcome] = await node.submit_transactions([raw])
            assert outcome.error is None
            placed.append((node.height + 1, transaction_id))
        node.commit_block(fail_indices=failed)
    return placed


def test_lists_the_events_of_a_range_oldest_first_with_where_each_is() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        placed = await _build_chain(node)
        answer = result_of(await rpc(client, METHOD, ["account", 0, 3]))
        assert (answer["contract"], answer["name"], answer["from_height"], answer["to_height"]) == (
            "account",
            None,
            0,
            3,
        )
        rows = [
            (item["height"], item["transaction_id"], item["index"], item["event_index"]) for item in answer["events"]
        ]
        # Nonce 3's transaction failed: its event was rolled back and is not listed.
        assert rows == [
            (1, hex_of(placed[0][1]), 0, 0),
            (1, hex_of(placed[1][1]), 1, 0),
            (1, hex_of(placed[1][1]), 1, 1),
            (3, hex_of(placed[3][1]), 0, 0),
        ]
        minted = answer["events"][2]
        assert (minted["contract"], minted["name"], minted["data"]) == ("account", "Minted", [7])
        block = node.get_block(node.height)
        assert block is not None and answer["events"][3]["block_hash"] == hex_of(block.block_hash)
        assert answer["events"][1]["data"] == ["second", 2]

        named = result_of(await rpc(client, METHOD, ["account", 0, 3, "Minted"]))
        assert [item["name"] for item in named["events"]] == ["Minted"] and named["name"] == "Minted"
        later = result_of(await rpc(client, METHOD, ["account", 2, 3]))
        assert [item["height"] for item in later["events"]] == [3]

    run_api(scenario)


def test_the_range_defaults_to_the_widest_allowed_ending_at_the_tip_and_stops_there() -> None:
    settings = ApiSettings(port=0, events_block_range_max=2)

    async def scenario(client: Client, node: FakeNode) -> None:
        await _build_chain(node)
        answer = result_of(await rpc(client, METHOD, ["account"]))
        assert (answer["from_height"], answer["to_height"]) == (2, 3)
        assert [item["height"] for item in answer["events"]] == [3]
        # A range reaching beyond the tip is searched up to the tip only, and says so.
        beyond = result_of(await rpc(client, METHOD, ["account", 3, 4]))
        assert (beyond["to_height"], len(beyond["events"])) == (3, 1)
        assert node.event_queries[-1][2:4] == (3, 3)
        # A range wholly above the tip is empty, and the node is not asked.
        asked = len(node.event_queries)
        above = result_of(await rpc(client, METHOD, ["account", 10, 11]))
        assert above["events"] == [] and above["to_height"] == 3
        only_from = result_of(await rpc(client, METHOD, ["account", 10]))
        assert only_from["events"] == []
        assert len(node.event_queries) == asked

    run_api(scenario, settings=settings)


def test_a_range_or_an_answer_beyond_the_limits_is_refused_with_request_too_large() -> None:
    settings = ApiSettings(port=0, events_block_range_max=3, events_results_max=2)

    async def scenario(client: Client, node: FakeNode) -> None:
        await _build_chain(node)
        wide = error_of(await rpc(client, METHOD, ["account", 0, 3]))
        assert (wide["code"], wide["data"]["code"]) == (-32602, "request_too_large")
        assert "4 blocks" in wide["message"] and "events_block_range_max" in wide["message"]
        many = error_of(await rpc(client, METHOD, ["account", 0, 2]))
        assert (many["code"], many["data"]["code"]) == (-32602, "request_too_large")
        assert "more than 2" in many["message"] and "narrow" in many["message"]
        # The node is asked for one event more than the limit, so it stops scanning early.
        assert node.event_queries[-1][4:] == (3, ApiSettings().events_receipts_max)
        assert len(result_of(await rpc(client, METHOD, ["account", 1, 2, "Minted"]))["events"]) == 1
        assert len(result_of(await rpc(client, METHOD, ["account", 2, 3]))["events"]) == 1

    run_api(scenario, settings=settings)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ([], "takes 1 to 4 params"),
        ({"contract": "account"}, "by position"),
        (["account", 0, 1, "Transfer", 5], "takes 1 to 4 params"),
        ([7], "must be a string"),
        ([""], "must not be empty"),
        (["x" * 1000], "the limit is"),
        (["no_such_contract"], "no contract named 'no_such_contract'"),
        (["account", -1], "between 0 and"),
        (["account", "1"], "must be an integer"),
        (["account", 1.5], "must be an integer"),
        (["account", True], "must be an integer"),
        (["account", 2**70], "must be an integer"),
        (["account", 0, 2**63], "between 0 and"),
        (["account", 5, 2], "from_height 5 is above to_height 2"),
        (["account", 0, 2**62], "split the range"),
        (["account", 0, 1, 5], "must be a string"),
        (["account", 0, 1, ""], "must not be empty"),
    ],
)
def test_hostile_params_are_invalid_params_with_a_message(params: Any, fragment: str) -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        error = error_of(await rpc(client, METHOD, params))
        assert error["code"] == -32602, error
        assert fragment in error["message"], error
        assert node.event_queries == []

    run_api(scenario)


def test_refusals_of_well_formed_params_say_what_went_wrong_in_their_code() -> None:
    settings = ApiSettings(port=0, events_block_range_max=10)

    async def scenario(client: Client, node: FakeNode) -> None:
        for params, code in (
            (["no_such_contract"], "contract_unknown"),
            (["account", 5, 2], "range_invalid"),
            (["account", 0, 10], "request_too_large"),
            (["account", 3, 1_000], "request_too_large"),
        ):
            error = error_of(await rpc(client, METHOD, params))
            assert (error["code"], error["data"]["code"]) == (-32602, code), (params, error)

    run_api(scenario, settings=settings)


def test_rest_route_answers_as_the_rpc_method() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        await _build_chain(node)
        expected = result_of(await rpc(client, METHOD, ["account", 1, 3, "Transfer"]))
        response = await client.get("/v1/contracts/account/events?from_height=1&to_height=3&name=Transfer")
        assert response.status == 200
        assert orjson.loads(await response.read()) == expected
        everything = await client.get("/v1/contracts/account/events")
        assert len(orjson.loads(await everything.read())["events"]) == 4

    run_api(scenario)


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/v1/contracts/no_such_contract/events", 404, "no contract named"),
        ("/v1/contracts/account/events?from_height=-1", 400, "non-negative integer"),
        ("/v1/contracts/account/events?from_height=1e3", 400, "non-negative integer"),
        ("/v1/contracts/account/events?to_height=99999999999999999999999", 400, "non-negative integer"),
        ("/v1/contracts/account/events?from_height=3&to_height=1", 400, "above to_height"),
        ("/v1/contracts/account/events?from_height=0&to_height=5000", 400, "split the range"),
        ("/v1/contracts/account/events?form_height=1", 400, "unknown query parameter"),
        ("/v1/contracts/account/events?name=", 400, "must not be empty"),
    ],
)
def test_rest_route_errors(path: str, status: int, fragment: str) -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        response = await client.get(path)
        body = orjson.loads(await response.read())
        assert response.status == status, body
        assert fragment in body["error"]["message"], body
        expected = {404: "contract_unknown", 413: "request_too_large"}.get(status)
        if "split the range" in fragment:
            expected = "request_too_large"
        elif "above to_height" in fragment:
            expected = "range_invalid"
        if expected is not None:
            assert body["error"]["code"] == expected, body

    run_api(scenario)


def test_a_range_holding_more_receipts_than_the_limit_is_refused() -> None:
    settings = ApiSettings(port=0)
    # Validation keeps the limit at a full block's transactions or more; a tiny one shows the refusal here.
    object.__setattr__(settings, "events_receipts_max", 2)

    async def scenario(client: Client, node: FakeNode) -> None:
        await _build_chain(node)  # block 1 holds two transactions, blocks 2 and 3 one each
        assert len(result_of(await rpc(client, METHOD, ["account", 1, 1]))["events"]) == 3
        refused = error_of(await rpc(client, METHOD, ["account", 1, 2]))
        assert (refused["code"], refused["data"]["code"]) == (-32602, "request_too_large")
        assert "more than 2 transactions" in refused["message"] and "events_receipts_max" in refused["message"]
        assert len(result_of(await rpc(client, METHOD, ["account", 2, 3]))["events"]) == 1

    run_api(scenario, settings=settings)


def test_the_receipt_limit_covers_a_full_block() -> None:
    with pytest.raises(ConfigError, match=r"api\.events_receipts_max must be at least 100000"):
        ApiSettings(events_receipts_max=99_999)


@pytest.mark.parametrize("name", ["events_block_range_max", "events_results_max", "events_receipts_max"])
@pytest.mark.parametrize("value", [0, -1, "10", 1.5, True])
def test_the_settings_are_validated(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"api.{name}"):
        ApiSettings(**{name: value})  # type: ignore[arg-type]
