"""REST routes, /openapi.json, /metrics, /health and CORS."""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
import pytest
from api_helpers import Client, hex_of, rpc, run_api
from fake_node import FakeNode

from gusu.api.server import create_app
from gusu.api.settings import ApiSettings
from gusu.errors import MempoolFullError, SenderQuotaError
from gusu.ledger.jsonview import block_from_json, inclusion_proof_from_json, receipt_from_json
from gusu.ledger.types import Address
from gusu.network.transport import PeerInfo


async def _json(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, (path, response.status, await response.text())
    assert response.content_type == "application/json"
    return await response.json()


async def _commit(client: Client, node: FakeNode) -> str:
    raw, transaction_id = node.make_transaction()
    response = await client.post("/v1/transactions", data=orjson.dumps({"raw": hex_of(raw)}))
    assert response.status == 202
    assert await response.json() == {"id": hex_of(transaction_id)}
    node.commit_block()
    return hex_of(transaction_id)


def test_read_routes_answer_as_the_rpc_methods() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        id_hex = await _commit(client, node)
        assert await _json(client, "/v1/status") == (await rpc(client, "gusu_status", []))["result"]
        latest = await _json(client, "/v1/blocks/latest")
        assert latest == await _json(client, "/v1/blocks/1")
        assert latest["transactions"] == [id_hex]
        assert latest == await _json(client, f"/v1/blocks/hash/{latest['hash']}")
        full = await _json(client, "/v1/blocks/1?full=true")
        _, _, ids, entries, _ = block_from_json(full)
        assert len(entries) == 1 and hex_of(ids[0]) == id_hex
        assert (await _json(client, "/v1/blocks/1?full=0"))["transactions"] == [id_hex]
        assert (await _json(client, f"/v1/transactions/{id_hex}"))["status"] == "committed"
        receipt, location = receipt_from_json(await _json(client, f"/v1/transactions/{id_hex}/receipt"))
        assert location is not None and location[0] == 1
        proof = await _json(client, f"/v1/transactions/{id_hex}/proof")
        inclusion_proof_from_json(proof, "transactions_root")
        proof = await _json(client, f"/v1/transactions/{id_hex}/receipt/proof")
        inclusion_proof_from_json(proof, "receipts_root")
        assert receipt.is_success

    run_api(scenario)


def test_peers_route_answers_as_gusu_peers() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        assert await _json(client, "/v1/peers") == {"peers": []}
        node.peers = [
            PeerInfo(
                address=Address(b"\x07" * 20),
                organization="acme",
                endpoint="10.0.0.7:8646",
                outbound=True,
                connected_for_s=3.0,
                rtt_ms=1.25,
                queued_messages=0,
                queued_bytes=0,
                messages_in=5,
                messages_out=6,
                bytes_in=700,
                bytes_out=800,
                gossip_dropped=0,
            )
        ]
        listed = await _json(client, "/v1/peers")
        assert listed == (await rpc(client, "gusu_peers", []))["result"]
        assert [(peer["address"], peer["organization"], peer["rtt_ms"]) for peer in listed["peers"]] == [
            ("0x" + "07" * 20, "acme", 1.25)
        ]

    run_api(scenario)


@pytest.mark.parametrize(
    ("path", "status", "code", "fragment"),
    [
        ("/v1/blocks/7", 404, "not_found", "no block at height 7"),
        ("/v1/blocks/-1", 400, "params_invalid", "height"),
        ("/v1/blocks/abc", 400, "params_invalid", "non-negative integer"),
        ("/v1/blocks/99999999999999999999999", 400, "params_invalid", "height"),
        ("/v1/blocks/1?full=maybe", 400, "params_invalid", "full must be true or false"),
        # Exactly the spellings /openapi.json lists: not empty, not another case.
        ("/v1/blocks/1?full=", 400, "params_invalid", "full must be true or false"),
        ("/v1/blocks/1?full=TRUE", 400, "params_invalid", "full must be true or false"),
        ("/v1/blocks/9223372036854775808", 400, "params_invalid", "height"),
        ("/v1/blocks/hash/0x00", 400, "params_invalid", "32 bytes"),
        ("/v1/blocks/hash/" + "0x" + "00" * 32, 404, "not_found", "no committed block"),
        ("/v1/transactions/0x" + "11" * 32, 404, "not_found", "unknown to this node"),
        ("/v1/transactions/0x" + "11" * 32 + "/receipt", 404, "not_found", "no receipt"),
        ("/v1/transactions/0x" + "11" * 32 + "/proof", 404, "not_found", "not committed"),
        ("/v1/transactions/0x" + "11" * 32 + "/receipt/proof", 404, "not_found", "not committed"),
        ("/v1/transactions/xyz", 400, "params_invalid", "transaction id"),
        ("/v1/nothing", 404, "not_found", "no route GET /v1/nothing"),
        ("/", 404, "not_found", "openapi.json"),
    ],
)
def test_read_route_errors(path: str, status: int, code: str, fragment: str) -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        await _commit(client, node)
        body = await _json(client, path, status)
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "retryable"}
        assert body["error"]["code"] == code
        assert fragment in body["error"]["message"], body

    run_api(scenario)


def test_submit_route() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        first, first_id = node.make_transaction(nonce=1)
        second, second_id = node.make_transaction(nonce=2)
        response = await client.post("/v1/transactions", data=orjson.dumps({"raw": [hex_of(first), hex_of(second)]}))
        assert response.status == 200
        assert await response.json() == [{"id": hex_of(first_id)}, {"id": hex_of(second_id)}]

        response = await client.post("/v1/transactions", data=orjson.dumps({"raw": hex_of(first)}))
        assert response.status == 400
        assert (await response.json())["error"] == {
            "code": "tx_duplicate",
            "message": "this transaction was already submitted; do not send it twice",
            "retryable": False,
        }
        for error in (MempoolFullError("the pool is full"), SenderQuotaError("wait for some to commit")):
            node.refusals.append(error)
            third, _ = node.make_transaction(nonce=3)
            response = await client.post("/v1/transactions", data=orjson.dumps({"raw": hex_of(third)}))
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"
            assert (await response.json())["error"]["retryable"] is True

        for body, status, fragment in (
            (b"", 400, "empty"),
            (b"{", 400, "not valid UTF-8 JSON"),
            (b"[]", 400, "must be an object"),
            (b"{}", 400, "lacks the field(s) raw"),
            (b'{"raw": "0x00", "extra": 1}', 400, "unknown field(s) 'extra'"),
            (b'{"raw": 5}', 400, "raw"),
            (b'{"raw": ["0x00", "zz"]}', 400, "raw item 1"),
            (b'{"raw": "0x"}', 400, "raw (a signed transaction, or an array of them) is empty"),
            (b'{"raw": ["0x00", "0x"]}', 400, "raw item 1 is empty"),
            (b'{"raw": "0x00"}', 400, "gusu.tx.v1 record"),
        ):
            response = await client.post("/v1/transactions", data=body)
            assert response.status == status, body
            error = (await response.json())["error"]
            assert fragment in error["message"], (body, error)

    run_api(scenario)


def test_call_route() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        call = {"contract": "account", "method": "balance", "args": [{"hex": "0x01"}]}
        response = await client.post("/v1/call", data=orjson.dumps(call))
        assert response.status == 200
        assert (await response.json())["return_value"] == 100
        response = await client.post("/v1/call", data=orjson.dumps({**call, "method": "revert"}))
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "reverted"
        response = await client.post("/v1/call", data=orjson.dumps({**call, "args": [0.5]}))
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "params_invalid"

    run_api(scenario)


def test_method_not_allowed_is_json() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        response = await client.delete("/v1/status")
        assert response.status == 405
        assert "GET" in response.headers["Allow"]
        assert (await response.json())["error"]["code"] == "request_invalid"
        response = await client.get("/v1/call")
        assert response.status == 405

    run_api(scenario)


def test_internal_failure_on_rest_is_500_without_details() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        node.fail_with = KeyError("secret")
        body = await _json(client, "/v1/status", 500)
        assert body["error"]["code"] == "internal_error"
        assert "secret" not in body["error"]["message"]

    run_api(scenario)


def test_health() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        assert await _json(client, "/health") == {"ok": True, "height": 0}
        node.healthy = False
        assert await _json(client, "/health", 503) == {"ok": False, "height": 0}

    run_api(scenario)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse_exposition(text: str) -> dict[str, float]:
    """Samples by 'name{labels}', checking every line's syntax on the way."""
    samples: dict[str, float] = {}
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert parts[1] in ("HELP", "TYPE"), line
            if parts[1] == "TYPE":
                assert parts[3] in ("gauge", "counter", "histogram", "summary", "untyped"), line
                typed[parts[2]] = parts[3]
            continue
        match = _SAMPLE.match(line)
        assert match is not None, f"not a sample line: {line!r}"
        value = float(match.group(4).replace("+Inf", "inf"))
        samples[line.rsplit(" ", 1)[0]] = value
        name = match.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or base in typed, f"{name} has no TYPE line"
    return samples


def test_metrics_exposition() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        await _commit(client, node)
        node.extra_metrics["peers connected"] = 3
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
        samples = parse_exposition(text)
        assert samples["gusu_height"] == 1
        assert samples["gusu_blocks_committed_total"] == 2
        assert samples["gusu_transactions_committed_total"] == 1
        for name in (
            "gusu_mempool_transactions",
            "gusu_mempool_bytes",
            "gusu_transactions_failed_total",
            "gusu_transactions_rejected_total",
            "gusu_transactions_dropped_total",
        ):
            assert name in samples
        assert samples['gusu_block_commit_seconds_bucket{le="0.005"}'] == 1
        assert samples['gusu_block_commit_seconds_bucket{le="1.0"}'] == 3
        assert samples['gusu_block_commit_seconds_bucket{le="+Inf"}'] == 3
        assert samples["gusu_block_commit_seconds_sum"] == 0.0125
        assert samples["gusu_block_commit_seconds_count"] == 3
        # A +Inf bound in the node's histogram is not written twice.
        assert text.count('gusu_transaction_commit_seconds_bucket{le="+Inf"}') == 1
        assert samples['gusu_transaction_commit_seconds_bucket{le="+Inf"}'] == 5
        assert samples["gusu_peers_connected"] == 3
        assert "# TYPE gusu_height gauge" in text
        assert "# TYPE gusu_blocks_committed_total counter" in text
        assert "# TYPE gusu_block_commit_seconds histogram" in text
        assert "# HELP gusu_height " in text
        assert samples["gusu_api_connections"] == 1
        assert not any(math.isnan(value) for value in samples.values())

    run_api(scenario)


def _rest_routes() -> set[tuple[str, str]]:
    app = create_app(FakeNode(), ApiSettings(port=0))
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in ("GET", "POST") and path not in ("/rpc", "/ws", "/openapi.json"):
            routes.add((route.method.lower(), path))
    return routes


def test_openapi_describes_every_rest_route() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        document = await _json(client, "/openapi.json")
        assert document["openapi"].startswith("3.1")
        assert document["info"]["title"] and document["info"]["version"]
        routes = _rest_routes()
        assert ("get", "/v1/transactions/{id}/receipt") in routes
        assert ("get", "/v1/peers") in routes
        peer = document["components"]["schemas"]["Peer"]
        assert peer["required"] == list(peer["properties"]), "every field of a peer is always present"
        for method, path in routes:
            assert path in document["paths"], path
            assert method in document["paths"][path], (method, path)
            operation = document["paths"][path][method]
            assert operation["responses"]
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
        for path in document["paths"]:
            assert any(path == route for _, route in routes), f"documented but not served: {path}"
        _check_refs(document, document)

    run_api(scenario)


def _check_refs(document: dict[str, Any], node: Any) -> None:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if reference is not None:
            target: Any = document
            for part in reference.removeprefix("#/").split("/"):
                assert part in target, f"dangling $ref {reference}"
                target = target[part]
        for value in node.values():
            _check_refs(document, value)
    elif isinstance(node, list):
        for value in node:
            _check_refs(document, value)


def test_cors() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        response = await client.options(
            "/rpc",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        response = await client.get("/v1/status", headers={"Origin": "https://app.example"})
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        response = await client.get("/v1/blocks/9", headers={"Origin": "https://app.example"})
        assert response.status == 404
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        response = await client.get("/v1/status", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in response.headers

    run_api(scenario, settings=ApiSettings(port=0, cors_origins=("https://app.example",)))


def test_no_cors_headers_by_default() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        response = await client.get("/v1/status", headers={"Origin": "https://app.example"})
        assert "Access-Control-Allow-Origin" not in response.headers

    run_api(scenario)
