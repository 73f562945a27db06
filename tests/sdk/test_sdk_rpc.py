"""The clients' shared JSON-RPC plumbing: error mapping, answers, backoff, polling."""

from __future__ import annotations

import pytest

from gusu.errors import ClientError, CodecError, RemoteError
from gusu.ledger.jsonview import JSON
from gusu.ledger.types import Hash
from gusu.sdk import _rpc
from gusu.sdk.views import PeerView, parse_event_notification, parse_peers, parse_status, parse_transaction

TRANSACTION_ID = Hash(b"\x05" * 32)


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        (
            {"code": -32000, "message": "pool full", "data": {"code": "mempool_full", "retryable": True}},
            "mempool_full",
            True,
        ),
        (
            {"code": -32000, "message": "dup", "data": {"code": "tx_duplicate", "retryable": False}},
            "tx_duplicate",
            False,
        ),
        ({"code": -32000, "message": "odd", "data": {"code": "x", "retryable": "yes"}}, "x", False),
        ({"code": -32601, "message": "no such method"}, "method_not_found", False),
        ({"code": -32602, "message": "bad params", "data": None}, "params_invalid", False),
        ({"code": -1, "message": "?"}, "remote_error", False),
        ("garbage", "remote_error", False),
    ],
)
def test_rpc_errors_carry_the_gusu_code(error: JSON, code: str, retryable: bool) -> None:
    mapped = _rpc.parse_rpc_error(error)
    assert isinstance(mapped, RemoteError) and isinstance(mapped, ClientError)
    assert (mapped.code, mapped.retryable) == (code, retryable)


def test_the_node_message_is_kept() -> None:
    error: JSON = {"code": -32000, "message": "the pool is full; retry in a second", "data": {"code": "mempool_full"}}
    assert str(_rpc.parse_rpc_error(error)) == "the pool is full; retry in a second"


def test_read_result_parses_or_raises() -> None:
    call = _rpc.block_number_call()
    assert _rpc.read_result({"jsonrpc": "2.0", "id": 3, "result": 17}, 3, call) == 17
    with pytest.raises(RemoteError, match="nope"):
        _rpc.read_result({"jsonrpc": "2.0", "id": 3, "error": {"code": -32000, "message": "nope"}}, 3, call)
    with pytest.raises(ClientError, match="malformed"):
        _rpc.read_result({"jsonrpc": "2.0", "id": 3, "result": -1}, 3, call)
    with pytest.raises(ClientError, match="neither result nor error"):
        _rpc.read_result({"jsonrpc": "2.0", "id": 3}, 3, call)
    with pytest.raises(ClientError, match="answered request 4 when 3 was asked"):
        _rpc.read_result({"jsonrpc": "2.0", "id": 4, "result": 1}, 3, call)


def test_batch_answers_may_come_in_any_order() -> None:
    answers = _rpc.read_batch([{"id": 2, "result": 1}, {"id": 1, "result": 0}], [1, 2])
    assert answers[1]["result"] == 0 and answers[2]["result"] == 1
    with pytest.raises(ClientError, match="lacks requests"):
        _rpc.read_batch([{"id": 2, "result": 1}], [1, 2])
    with pytest.raises(RemoteError) as caught:
        _rpc.read_batch({"id": None, "error": {"code": -32600, "message": "batch too long"}}, [1, 2])
    assert caught.value.code == "request_invalid"


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (503, b"starting", "unavailable", True),
        (502, b"", "http_502", True),
        (413, b"too big", "request_too_large", False),
        (404, b"<html>", "http_404", False),
        (429, b'{"error": {"code": "mempool_full", "message": "full", "retryable": true}}', "mempool_full", True),
        (400, b'{"error": {"code": "codec_invalid", "message": "bad"}}', "codec_invalid", False),
    ],
)
def test_http_failures(status: int, body: bytes, code: str, retryable: bool) -> None:
    with pytest.raises(RemoteError) as caught:
        _rpc.check_http_status(status, body)
    assert (caught.value.code, caught.value.retryable) == (code, retryable)


def test_json_rpc_answers_with_an_error_status_are_left_to_read_result() -> None:
    _rpc.check_http_status(200, b"anything")
    _rpc.check_http_status(400, b'{"jsonrpc": "2.0", "id": 1, "error": {"code": -32600, "message": "bad"}}')
    _rpc.check_http_status(400, b"[]")


def test_backoff_grows_with_jitter_up_to_the_maximum() -> None:
    for attempt in range(12):
        delay = _rpc.compute_backoff_s(attempt, 0.05, 2.0)
        ceiling = min(2.0, 0.05 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling


def test_polling_outcomes() -> None:
    not_found = RemoteError("not_found", "no receipt yet")
    dropped = parse_transaction({"status": "dropped", "transaction": None, "reason": "expired"}, TRANSACTION_ID)
    with pytest.raises(_rpc.TransactionDroppedError, match="expired"):
        _rpc.get_poll_outcome(TRANSACTION_ID, not_found, dropped)
    assert _rpc.get_poll_outcome(TRANSACTION_ID, not_found, RemoteError("not_found", "unknown")) is None
    assert _rpc.get_poll_outcome(TRANSACTION_ID, RemoteError("rate_limited", "slow", True), not_found) is None
    with pytest.raises(RemoteError, match="boom"):
        _rpc.get_poll_outcome(TRANSACTION_ID, RemoteError("internal_error", "boom"), not_found)
    with pytest.raises(RemoteError, match="bad"):
        _rpc.get_poll_outcome(TRANSACTION_ID, not_found, RemoteError("params_invalid", "bad"))


def test_transaction_records_are_checked() -> None:
    with pytest.raises(CodecError, match="must include the transaction"):
        parse_transaction({"status": "pending", "transaction": None}, TRANSACTION_ID)
    with pytest.raises(CodecError, match="transaction status must be one of"):
        parse_transaction({"status": "lost", "transaction": None}, TRANSACTION_ID)


def test_status_and_notifications_have_the_documented_shape() -> None:
    status = parse_status(
        {
            "chain_id": "gusu-local",
            "suite": "sm",
            "height": 4,
            "latest_block_hash": "0x" + "11" * 32,
            "latest_block_time_ms": 1,
            "node_address": "0x" + "22" * 20,
            "consensus": "bft",
            "mempool": {"transactions": 3, "bytes": 900},
            "version": "0.1.0",
            "transaction_window_blocks": 1000,
        }
    )
    assert (status.height, status.mempool_transactions, status.mempool_bytes) == (4, 3, 900)
    event = parse_event_notification(
        {
            "height": 4,
            "transaction_id": "0x" + "33" * 32,
            "index": 2,
            "contract": "account",
            "name": "Transfer",
            "data": [{"hex": "0x01"}, 5],
        }
    )
    assert (event.index, event.event_index, event.data) == (2, None, [b"\x01", 5])


def _peer_json(address_byte: int, **changes: JSON) -> dict[str, JSON]:
    peer: dict[str, JSON] = {
        "address": "0x" + f"{address_byte:02x}" * 20,
        "organization": "acme",
        "endpoint": "127.0.0.1:8646",
        "outbound": True,
        "connected_for_s": 12,
        "rtt_ms": 0.25,
        "queued_messages": 1,
        "queued_bytes": 2,
        "messages_in": 3,
        "messages_out": 4,
        "bytes_in": 5,
        "bytes_out": 6,
        "gossip_dropped": 7,
    }
    peer.update(changes)
    return peer


def test_peers_are_parsed_into_typed_records() -> None:
    (peer, silent) = parse_peers({"peers": [_peer_json(1), _peer_json(2, rtt_ms=None, outbound=False)]})
    assert peer == PeerView(
        address=b"\x01" * 20,
        organization="acme",
        endpoint="127.0.0.1:8646",
        outbound=True,
        connected_for_s=12.0,
        rtt_ms=0.25,
        queued_messages=1,
        queued_bytes=2,
        messages_in=3,
        messages_out=4,
        bytes_in=5,
        bytes_out=6,
        gossip_dropped=7,
    )
    assert isinstance(peer.connected_for_s, float)
    assert (silent.rtt_ms, silent.outbound) == (None, False)
    assert parse_peers({"peers": []}) == []


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ([], "peers must be a JSON object"),
        ({}, "lacks the field 'peers'"),
        ({"peers": [_peer_json(1)] * 2}, "more than once"),
        ({"peers": [_peer_json(1)] * 257}, "the limit is 256"),
        ({"peers": [_peer_json(1, address="0x01")]}, "20 bytes"),
        ({"peers": [_peer_json(1, connected_for_s=-1)]}, "non-negative number"),
        ({"peers": [_peer_json(1, rtt_ms="fast")]}, "rtt_ms must be a number"),
        ({"peers": [_peer_json(1, connected_for_s=True)]}, "must be a number"),
        ({"peers": [_peer_json(1, messages_in=-3)]}, "messages_in must be between 0"),
        ({"peers": [_peer_json(1, organization="x" * 2000)]}, "the limit is 1024"),
        ({"peers": [{k: v for k, v in _peer_json(1).items() if k != "rtt_ms"}]}, "lacks the field 'rtt_ms'"),
    ],
)
def test_malformed_peer_answers_are_refused(answer: JSON, fragment: str) -> None:
    with pytest.raises(CodecError, match=fragment):
        parse_peers(answer)
