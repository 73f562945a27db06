"""JSON-RPC over POST /rpc: every method, batches, notifications, and error mapping."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import orjson
import pytest
from api_helpers import Client, error_of, hex_of, post_raw, result_of, rpc, run_api
from fake_node import CHAIN_ID, FakeNode

from gusu.errors import MempoolFullError, StorageError
from gusu.ledger.jsonview import (
    block_from_json,
    hex_to_bytes,
    inclusion_proof_from_json,
    receipt_from_json,
    transaction_from_json,
)
from gusu.ledger.merkle import is_valid_inclusion
from gusu.ledger.store import compute_receipt_leaf
from gusu.ledger.types import Address, decode_block, decode_commit_certificate
from gusu.network.transport import PeerInfo


async def _commit_one(client: Client, node: FakeNode) -> bytes:
    raw, transaction_id = node.make_transaction()
    result = result_of(await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)]))
    assert result == {"id": hex_of(transaction_id)}
    node.commit_block()
    return transaction_id


def test_send_raw_transaction_acknowledges_with_the_id() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        raw, transaction_id = node.make_transaction()
        response = await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)], request_id="abc")
        assert response == {"jsonrpc": "2.0", "id": "abc", "result": {"id": hex_of(transaction_id)}}
        lookup = result_of(await rpc(client, "gusu_getTransaction", [hex_of(transaction_id)]))
        assert lookup["status"] == "pending"
        assert "height" not in lookup
        tx, stated_id, _sender = transaction_from_json(lookup["transaction"])
        assert stated_id == transaction_id
        assert tx.chain_id == CHAIN_ID

    run_api(scenario)


def test_send_raw_transactions_reports_each_in_order() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        first, first_id = node.make_transaction(nonce=1)
        second, second_id = node.make_transaction(nonce=2)
        node.refusals.extend([MempoolFullError("the pool is full; retry in a moment")])
        refused, _ = node.make_transaction(nonce=3)
        result = result_of(
            await rpc(
                client,
                "gusu_sendRawTransactions",
                [[hex_of(refused), hex_of(first), hex_of(second), hex_of(first), "0x00"]],
            )
        )
        assert result[0] == {
            "error": {"code": "mempool_full", "message": "the pool is full; retry in a moment", "retryable": True}
        }
        assert result[1] == {"id": hex_of(first_id)}
        assert result[2] == {"id": hex_of(second_id)}
        assert result[3]["error"]["code"] == "tx_duplicate"
        assert result[3]["error"]["retryable"] is False
        assert result[4]["error"]["code"] == "codec_invalid"
        assert result_of(await rpc(client, "gusu_sendRawTransactions", [[]])) == []

    run_api(scenario)


def test_submission_errors_map_to_gusu_codes() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        node.refusals.append(MempoolFullError("the pool is full; retry in a moment"))
        raw, _ = node.make_transaction()
        error = error_of(await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)]))
        assert error == {
            "code": -32000,
            "message": "the pool is full; retry in a moment",
            "data": {"code": "mempool_full", "retryable": True},
        }
        assert result_of(await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)]))
        error = error_of(await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)]))
        assert error["code"] == -32000
        assert error["data"] == {"code": "tx_duplicate", "retryable": False}
        error = error_of(await rpc(client, "gusu_sendRawTransaction", ["0xdeadbeef"]))
        assert error["data"]["code"] == "codec_invalid"

    run_api(scenario)


def test_transaction_receipt_and_proofs_of_a_committed_transaction() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        await _commit_one(client, node)
        transaction_id = await _commit_one(client, node)
        id_hex = hex_of(transaction_id)

        lookup = result_of(await rpc(client, "gusu_getTransaction", [id_hex]))
        assert (lookup["status"], lookup["height"], lookup["index"]) == ("committed", 2, 0)

        receipt_json = result_of(await rpc(client, "gusu_getReceipt", [id_hex]))
        receipt, location = receipt_from_json(receipt_json)
        assert receipt == node.block_receipts(2)[0]
        assert location is not None and location[0] == 2
        assert receipt_json["status"] == "success"
        assert receipt_json["events"][0]["name"] == "Transfer"

        proof_json = result_of(await rpc(client, "gusu_getTransactionProof", [id_hex]))
        header, _, proof = inclusion_proof_from_json(proof_json, "transactions_root")
        assert is_valid_inclusion(node.suite.hash, header.transactions_root, transaction_id, proof)

        proof_json = result_of(await rpc(client, "gusu_getReceiptProof", [id_hex]))
        header, _, proof = inclusion_proof_from_json(proof_json, "receipts_root")
        leaf = compute_receipt_leaf(node.suite, receipt)
        assert is_valid_inclusion(node.suite.hash, header.receipts_root, leaf, proof)

    run_api(scenario)


def test_unknown_and_pending_transactions_are_not_found() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        unknown = "0x" + "ab" * 32
        for method in ("gusu_getTransaction", "gusu_getReceipt", "gusu_getTransactionProof", "gusu_getReceiptProof"):
            error = error_of(await rpc(client, method, [unknown]))
            assert error["code"] == -32000
            assert error["data"] == {"code": "not_found", "retryable": False}
        raw, transaction_id = node.make_transaction()
        await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)])
        error = error_of(await rpc(client, "gusu_getReceipt", [hex_of(transaction_id)]))
        assert error["data"]["code"] == "not_found"
        assert "pending" in error["message"]

    run_api(scenario)


def test_dropped_transaction_shows_its_reason() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        raw, transaction_id = node.make_transaction()
        await rpc(client, "gusu_sendRawTransaction", [hex_of(raw)])
        node.drop(transaction_id, "expired", keep_body=False)
        lookup = result_of(await rpc(client, "gusu_getTransaction", [hex_of(transaction_id)]))
        assert lookup == {"id": hex_of(transaction_id), "status": "dropped", "transaction": None, "reason": "expired"}

    run_api(scenario)


def test_blocks_by_height_and_hash() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        transaction_id = await _commit_one(client, node)
        assert result_of(await rpc(client, "gusu_blockNumber", [])) == 1
        assert result_of(await rpc(client, "gusu_blockNumber")) == 1

        block = result_of(await rpc(client, "gusu_getBlockByHeight", [1]))
        header, block_hash, ids, entries, certificate = block_from_json(block)
        assert header.height == 1 and ids == (transaction_id,) and entries == ()
        assert certificate is not None and certificate.block_hash == block_hash

        full = result_of(await rpc(client, "gusu_getBlockByHeight", [1, True]))
        _, _, ids, entries, _ = block_from_json(full)
        assert [entry[1] for entry in entries] == [transaction_id]

        by_hash = result_of(await rpc(client, "gusu_getBlockByHash", [hex_of(block_hash), False]))
        assert by_hash == block
        genesis = result_of(await rpc(client, "gusu_getBlockByHeight", [0, None]))
        assert genesis["certificate"] is None and genesis["transactions"] == []

        error = error_of(await rpc(client, "gusu_getBlockByHeight", [5]))
        assert error["data"]["code"] == "not_found"
        assert "latest is 1" in error["message"]
        error = error_of(await rpc(client, "gusu_getBlockByHash", ["0x" + "00" * 32]))
        assert error["data"]["code"] == "not_found"

    run_api(scenario)


def test_raw_block_decodes() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        transaction_id = await _commit_one(client, node)
        raw = result_of(await rpc(client, "gusu_getRawBlock", [1]))
        block = decode_block(hex_to_bytes(raw["block"]))
        assert block.header.height == 1 and len(block.transactions) == 1
        certificate = decode_commit_certificate(hex_to_bytes(raw["certificate"]))
        assert certificate.height == 1
        assert result_of(await rpc(client, "gusu_getRawBlock", [0]))["certificate"] is None
        assert transaction_id
        assert error_of(await rpc(client, "gusu_getRawBlock", [9]))["data"]["code"] == "not_found"

    run_api(scenario)


def test_call_maps_values_and_execution_errors() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        address = "0x" + "11" * 20
        result = result_of(
            await rpc(
                client,
                "gusu_call",
                [{"contract": "account", "method": "balance", "args": [{"hex": address}, [1, "x"]], "sender": address}],
            )
        )
        assert result == {
            "return_value": 100,
            "gas_used": 21,
            "events": [
                {
                    "contract": "account",
                    "name": "Queried",
                    "data": [[{"hex": address}, [1, "x"]], {"hex": address}],
                }
            ],
        }
        for method, code in (("revert", "reverted"), ("burn", "out_of_gas"), ("nope", "method_unknown")):
            error = error_of(await rpc(client, "gusu_call", [{"contract": "account", "method": method, "args": []}]))
            assert error["code"] == -32000
            assert error["data"] == {"code": code, "retryable": False}
        error = error_of(await rpc(client, "gusu_call", [{"contract": "bank", "method": "x", "args": []}]))
        assert error["data"]["code"] == "contract_unknown"
        garbage = result_of(await rpc(client, "gusu_call", [{"contract": "account", "method": "garbage", "args": []}]))
        assert garbage["return_value"] == "0xc1"

    run_api(scenario)


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        ({"contract": "account", "method": "balance"}, "lacks the field(s) args"),
        ({"contract": "account", "method": "balance", "args": [1.5]}, "floats are not canonical"),
        ({"contract": "account", "method": "balance", "args": [2**64]}, "floats are not canonical"),
        ({"contract": "account", "method": "balance", "args": [{"x": 1}]}, '{"hex": "0x.."}'),
        ({"contract": "account", "method": "balance", "args": [{"hex": "zz"}]}, "hex"),
        ({"contract": "account", "method": "balance", "args": "x"}, "field args must be an array"),
        ({"contract": "", "method": "balance", "args": []}, "contract must not be empty"),
        ({"contract": 5, "method": "balance", "args": []}, "contract must be a string"),
        ({"contract": "account", "method": "balance", "args": [], "sender": "0x00"}, "must be 20 bytes"),
        ({"contract": "account", "method": "balance", "args": [], "gas": 1}, "unknown field(s) 'gas'"),
        ("account.balance", "must be an object"),
    ],
)
def test_call_params_are_checked(call: Any, fragment: str) -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        error = error_of(await rpc(client, "gusu_call", [call]))
        assert error["code"] == -32602
        assert error["data"]["code"] == "params_invalid"
        assert fragment in error["message"]
        assert "gusu_call param 0 (call)" in error["message"]

    run_api(scenario)


def test_status_and_health() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        status = result_of(await rpc(client, "gusu_status", []))
        assert status["chain_id"] == CHAIN_ID
        assert status["suite"] == "sm"
        assert status["height"] == 0
        assert set(status) == {
            "chain_id",
            "suite",
            "height",
            "latest_block_hash",
            "latest_block_time_ms",
            "node_address",
            "consensus",
            "mempool",
            "version",
            "transaction_window_blocks",
            "versions",
        }
        assert set(status["mempool"]) == {"transactions", "bytes"}
        assert result_of(await rpc(client, "gusu_health", [])) == {"ok": True, "height": 0}
        node.healthy = False
        assert result_of(await rpc(client, "gusu_health", [])) == {"ok": False, "height": 0}

    run_api(scenario)


def _peer(address_byte: int, *, rtt_ms: float | None, connected_for_s: float = 12.3456789) -> PeerInfo:
    return PeerInfo(
        address=Address(bytes([address_byte]) * 20),
        organization=f"org{address_byte}",
        endpoint=f"127.0.0.1:{9000 + address_byte}",
        outbound=address_byte % 2 == 0,
        connected_for_s=connected_for_s,
        rtt_ms=rtt_ms,
        queued_messages=address_byte,
        queued_bytes=10 * address_byte,
        messages_in=100 + address_byte,
        messages_out=200 + address_byte,
        bytes_in=1_000 + address_byte,
        bytes_out=2_000 + address_byte,
        gossip_dropped=address_byte - 1,
    )


def test_peers_lists_connected_validators_by_address() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        assert result_of(await rpc(client, "gusu_peers", [])) == {"peers": []}
        # Given out of order: the answer is sorted by address whatever the node's order.
        node.peers = [_peer(3, rtt_ms=0.4567891), _peer(2, rtt_ms=None, connected_for_s=-0.001)]
        answer = result_of(await rpc(client, "gusu_peers"))
        assert answer == {
            "peers": [
                {
                    "address": "0x" + "02" * 20,
                    "organization": "org2",
                    "endpoint": "127.0.0.1:9002",
                    "outbound": True,
                    "connected_for_s": 0.0,
                    "rtt_ms": None,
                    "queued_messages": 2,
                    "queued_bytes": 20,
                    "messages_in": 102,
                    "messages_out": 202,
                    "bytes_in": 1_002,
                    "bytes_out": 2_002,
                    "gossip_dropped": 1,
                },
                {
                    "address": "0x" + "03" * 20,
                    "organization": "org3",
                    "endpoint": "127.0.0.1:9003",
                    "outbound": False,
                    "connected_for_s": 12.346,
                    "rtt_ms": 0.457,
                    "queued_messages": 3,
                    "queued_bytes": 30,
                    "messages_in": 103,
                    "messages_out": 203,
                    "bytes_in": 1_003,
                    "bytes_out": 2_003,
                    "gossip_dropped": 2,
                },
            ]
        }
        # Every field the transport reports is served, so a new one is not silently left out.
        assert all(set(peer) == {field.name for field in dataclasses.fields(PeerInfo)} for peer in answer["peers"])
        error = error_of(await rpc(client, "gusu_peers", [1]))
        assert error["code"] == -32602 and "gusu_peers takes 0 params []; found 1" in error["message"]

    run_api(scenario)


def test_peers_of_a_failing_node_is_an_internal_error() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        node.fail_with = RuntimeError("the transport's table is corrupt")
        error = error_of(await rpc(client, "gusu_peers", []))
        assert error["code"] == -32603 and "corrupt" not in error["message"]

    run_api(scenario)


@pytest.mark.parametrize(
    ("method", "params", "fragment"),
    [
        ("gusu_getBlockByHeight", [], "takes 1 to 2 params [height, full_transactions?]; found 0"),
        ("gusu_getBlockByHeight", [1, True, 3], "found 3"),
        ("gusu_getBlockByHeight", ["1"], "param 0 (height) must be an integer, found the string '1'"),
        ("gusu_getBlockByHeight", [-1], "must be between 0 and"),
        ("gusu_getBlockByHeight", [1.5], "not an integer"),
        ("gusu_getBlockByHeight", [True], "found a boolean"),
        ("gusu_getBlockByHeight", [1, "yes"], "param 1 (full_transactions) must be true or false"),
        ("gusu_getBlockByHeight", {"height": 1}, "by position"),
        ("gusu_getTransaction", ["abc"], "'0x' followed by an even number of hex digits"),
        ("gusu_sendRawTransaction", ["0x"], "param 0 (raw_transaction) is empty"),
        ("gusu_sendRawTransactions", [["0x"]], "param 0 (raw_transactions) item 0 is empty"),
        ("gusu_getTransaction", ["0x12"], "must be 32 bytes, found 1"),
        ("gusu_getTransaction", ["0x" + "g" * 64], "hex digits"),
        ("gusu_getTransaction", [" 0x" + "00" * 32], "hex digits"),
        ("gusu_getBlockByHash", [None], "must be a 0x-prefixed hex string"),
        ("gusu_sendRawTransaction", [5], "param 0 (raw_transaction) must be a 0x-prefixed hex string"),
        ("gusu_sendRawTransactions", ["0x00"], "param 0 (raw_transactions) must be an array"),
        ("gusu_sendRawTransactions", [["0x00", 7]], "item 1 must be a 0x-prefixed hex string"),
        ("gusu_blockNumber", [1], "takes 0 params []; found 1"),
        ("gusu_getRawBlock", [2**70], "not an integer"),
    ],
)
def test_invalid_params_say_which_and_what(method: str, params: Any, fragment: str) -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        error = error_of(await rpc(client, method, params))
        assert error["code"] == -32602, error
        assert error["data"] == {"code": "params_invalid", "retryable": False}
        assert fragment in error["message"], error["message"]

    run_api(scenario)


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"", -32700, "empty"),
        (b"   ", -32700, "empty"),
        (b"{", -32700, "not valid UTF-8 JSON"),
        (b'{"jsonrpc": "2.0", "method": "gusu_status", "id": 1', -32700, "not valid"),
        (b'"\xff\xfe"', -32700, "not valid UTF-8"),
        (b"NaN", -32700, "not valid"),
        (b"1e400", -32700, "not valid"),
        (b"[" * 5000 + b"]" * 5000, -32600, "deeper than 64 levels"),
        (b"[" * 70 + b"]" * 70, -32600, "deeper than 64 levels"),
        (b"[]", -32600, "batch is empty"),
        (b"42", -32600, "found the integer 42"),
        (b'"gusu_status"', -32600, "must be an object"),
        (b'{"method": "gusu_status", "id": 1}', -32600, 'jsonrpc must be "2.0"'),
        (b'{"jsonrpc": "1.0", "method": "gusu_status", "id": 1}', -32600, 'jsonrpc must be "2.0"'),
        (b'{"jsonrpc": "2.0", "id": 1}', -32600, "method must be a string"),
        (b'{"jsonrpc": "2.0", "method": 5, "id": 1}', -32600, "method must be a string"),
        (b'{"jsonrpc": "2.0", "method": "gusu_status", "params": "x", "id": 1}', -32600, "params must be an array"),
        (b'{"jsonrpc": "2.0", "method": "gusu_status", "id": [1]}', -32600, "id must be"),
        (b'{"jsonrpc": "2.0", "method": "gusu_status", "id": 1.5}', -32600, "id must be"),
        (b'{"jsonrpc": "2.0", "method": "gusu_status", "id": true}', -32600, "id must be"),
        (b'{"jsonrpc": "2.0", "method": "eth_mining", "id": 1}', -32601, "no method 'eth_mining'"),
        (b'{"jsonrpc": "2.0", "method": "gusu_subscribe", "params": ["newBlocks"], "id": 1}', -32601, "/ws"),
    ],
)
def test_malformed_requests_get_errors_that_say_what_is_wrong(body: bytes, code: int, fragment: str) -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        status, response = await post_raw(client, body)
        assert status in (200, 413)
        assert response["jsonrpc"] == "2.0"
        error = error_of(response)
        assert error["code"] == code, error
        assert fragment in error["message"], error["message"]

    run_api(scenario)


def test_error_keeps_a_valid_id() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        _, response = await post_raw(client, b'{"jsonrpc": "2.0", "method": "nope", "id": "k"}')
        assert response["id"] == "k"
        _, response = await post_raw(client, b'{"jsonrpc": "2.0", "method": "gusu_status", "id": {"a": 1}}')
        assert response["id"] is None
        _, response = await post_raw(client, b'{"jsonrpc": "2.0", "method": "gusu_status", "id": null}')
        assert response == {"jsonrpc": "2.0", "id": None, "result": response["result"]}
        big = 2**64 - 1
        _, response = await post_raw(client, b'{"jsonrpc": "2.0", "method": "gusu_blockNumber", "id": %d}' % big)
        assert response["id"] == big

    run_api(scenario)


def test_batch_answers_in_order_and_skips_notifications() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        raw, transaction_id = node.make_transaction()
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "gusu_blockNumber"},
            {"jsonrpc": "2.0", "method": "gusu_sendRawTransaction", "params": [hex_of(raw)]},
            {"jsonrpc": "2.0", "id": 2, "method": "gusu_nope"},
            5,
            {"jsonrpc": "2.0", "id": 3, "method": "gusu_getTransaction", "params": [hex_of(transaction_id)]},
            {"jsonrpc": "2.0", "method": "gusu_nope"},
            {"foo": "bar"},
        ]
        status, responses = await post_raw(client, orjson.dumps(batch))
        assert status == 200
        assert [response["id"] for response in responses] == [1, 2, None, 3, None]
        assert responses[0]["result"] == 0
        assert responses[1]["error"]["code"] == -32601
        assert responses[2]["error"]["code"] == -32600
        # The notification ran, even though it got no answer.
        assert responses[3]["result"]["status"] == "pending"
        assert responses[4]["error"]["code"] == -32600

    run_api(scenario)


def test_notifications_get_no_response() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        raw, _ = node.make_transaction()
        notification = {"jsonrpc": "2.0", "method": "gusu_sendRawTransaction", "params": [hex_of(raw)]}
        response = await client.post("/rpc", data=orjson.dumps(notification))
        assert response.status == 204
        assert await response.read() == b""
        assert node.submitted == [raw]
        failing = {"jsonrpc": "2.0", "method": "gusu_getBlockByHeight", "params": ["x"]}
        unknown = {"jsonrpc": "2.0", "method": "gusu_nope"}
        response = await client.post("/rpc", data=orjson.dumps([notification, failing, unknown]))
        assert response.status == 204
        assert await response.read() == b""

    run_api(scenario)


def test_unexpected_exceptions_become_internal_errors_without_details(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        node.fail_with = RuntimeError("secret internal detail")
        with caplog.at_level(logging.ERROR, logger="gusu.api"):
            error = error_of(await rpc(client, "gusu_getBlockByHeight", [0]))
        assert error["code"] == -32603
        assert error["data"] == {"code": "internal_error", "retryable": False}
        assert "secret" not in error["message"]
        assert any("secret internal detail" in record.getMessage() or record.exc_info for record in caplog.records)
        node.fail_with = StorageError("the block store is unreadable: check the disk")
        error = error_of(await rpc(client, "gusu_status", []))
        assert error["code"] == -32000
        assert error["data"]["code"] == "storage_error"
        node.fail_with = None
        assert result_of(await rpc(client, "gusu_blockNumber", [])) == 0

    run_api(scenario)


def test_get_is_not_allowed_on_rpc() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        response = await client.get("/rpc")
        assert response.status == 405
        body = await response.json()
        assert body["error"]["code"] == -32600
        assert "POST" in body["error"]["message"]

    run_api(scenario)
