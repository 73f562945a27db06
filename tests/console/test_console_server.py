"""The console server's routes, limits and headers, against a real node (tests/console/conftest.py)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from console_helpers import RECIPIENT, Chain, find_free_port

from gusu.console.server import CONTENT_SECURITY_POLICY, create_app
from gusu.console.settings import ConsoleSettings
from gusu.errors import ConfigError

Client = TestClient[Any, Any]
Scenario = Callable[[Client], Awaitable[None]]


def run_console(endpoint: str, scenario: Scenario, **settings: Any) -> None:
    async def main() -> None:
        with tempfile.TemporaryDirectory() as data_directory:
            app = create_app(ConsoleSettings(endpoint=endpoint, port=0, data_directory=data_directory, **settings))
            async with TestClient(TestServer(app)) as client:
                await scenario(client)

    asyncio.run(main())


async def get_json(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    return await response.json()


def test_status_and_block_pages(chain: Chain) -> None:
    async def scenario(client: Client) -> None:
        status = await get_json(client, "/api/status")
        assert status["chain_id"] == "gusu-local" and status["suite"] == "sm" and status["hash_name"] == "SM3"
        assert status["height"] >= chain.evidence_height and status["peers"] == 0
        assert [block["height"] for block in status["recent_blocks"]] == list(range(status["height"], -1, -1))[:20]
        assert status["tps"] >= 0
        page = await get_json(client, f"/api/blocks?before={status['height']}&limit=2")
        assert [block["height"] for block in page["blocks"]] == [status["height"] - 1, status["height"] - 2][
            : len(page["blocks"])
        ]
        last = await get_json(client, "/api/blocks?before=1")
        assert [block["height"] for block in last["blocks"]] == [0] and last["next_before"] is None
        by_height = await get_json(client, f"/api/blocks/{chain.transfer_height}")
        assert chain.transfer_id in [item["id"] for item in by_height["transactions"]]
        by_hash = await get_json(client, f"/api/blocks/{by_height['hash']}")
        assert by_hash == by_height
        assert by_height["transactions"][0]["transaction"]["method"] == "transfer"

    run_console(chain.endpoint, scenario)


def test_transaction_account_and_evidence(chain: Chain) -> None:
    async def scenario(client: Client) -> None:
        found = await get_json(client, f"/api/transactions/{chain.transfer_id}")
        assert found["status"] == "committed" and found["height"] == chain.transfer_height
        assert found["receipt"]["status"] == "success"
        assert found["receipt"]["events"][0]["name"] == "Transfer"
        failed = await get_json(client, f"/api/transactions/{chain.failed_id}")
        assert failed["receipt"]["status"] == "failed" and failed["receipt"]["error_code"] == "reverted"
        account = await get_json(client, f"/api/accounts/{RECIPIENT}")
        assert account == {"address": RECIPIENT, "balance": 25, "transactions": [], "next": None}
        dev = await get_json(client, f"/api/accounts/{chain.dev_address}?limit=1")
        assert len(dev["transactions"]) == 1 and dev["next"] is not None
        cursor = dev["next"]
        older = await get_json(
            client,
            f"/api/accounts/{chain.dev_address}?before_height={cursor['height']}&before_index={cursor['index']}",
        )
        assert chain.transfer_id in [item["id"] for item in older["transactions"]]
        recorded = await get_json(client, f"/api/evidence/{chain.document_hash}")
        assert recorded["recorded"] is True and recorded["submitter"] == chain.dev_address
        assert recorded["height"] == chain.evidence_height and recorded["metadata"] == "lease <b>2026</b>"
        missing = await get_json(client, "/api/evidence/0x" + "ab" * 32)
        assert missing == {"document_hash": "0x" + "ab" * 32, "recorded": False}

    run_console(chain.endpoint, scenario)


def test_search_finds_blocks_transactions_and_accounts(chain: Chain) -> None:
    async def scenario(client: Client) -> None:
        block = await get_json(client, f"/api/blocks/{chain.transfer_height}")
        cases = {
            str(chain.transfer_height): ("block", str(chain.transfer_height)),
            f" {block['hash'].upper().replace('0X', '0x')} ": ("block", str(chain.transfer_height)),
            chain.transfer_id: ("transaction", chain.transfer_id),
            RECIPIENT: ("account", RECIPIENT),
        }
        for query, (kind, reference) in cases.items():
            assert await get_json(client, "/api/search?q=" + query) == {"kind": kind, "reference": reference}
        redirect = await client.get(f"/search?q={chain.transfer_id}", allow_redirects=False)
        assert redirect.status == 303 and redirect.headers["Location"] == f"/transactions/{chain.transfer_id}"
        for unknown in ("999999999", "0x" + "cd" * 32):
            error = await get_json(client, "/api/search?q=" + unknown, status=404)
            assert error["error"]["code"] == "not_found"
        page = await client.get("/search?q=<script>alert(1)</script>")
        assert page.status == 404
        text = await page.text()
        assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text

    run_console(chain.endpoint, scenario)


@pytest.mark.parametrize(
    "path",
    [
        "/api/blocks/abc",
        "/api/blocks/0x12",
        "/api/blocks/99999999999999999999",
        "/api/blocks?before=-1",
        "/api/blocks?limit=0",
        "/api/blocks?limit=51",
        "/api/transactions/0x12",
        "/api/accounts/0x" + "zz" * 20,
        "/api/accounts/0x" + "11" * 20 + "?before_height=3",
        "/api/evidence/" + "ab" * 32,
        "/api/search?q=hello",
    ],
)
def test_malformed_input_is_refused_before_the_node(chain: Chain, path: str) -> None:
    async def scenario(client: Client) -> None:
        error = await get_json(client, path, status=400)
        assert error["error"]["code"] == "input_invalid" and error["error"]["message"]

    run_console(chain.endpoint, scenario)


def test_pages_headers_static_files_and_limits(chain: Chain) -> None:
    async def scenario(client: Client) -> None:
        for path in (
            "/",
            "/blocks",
            f"/blocks/{chain.transfer_height}",
            f"/transactions/{chain.transfer_id}",
            f"/accounts/{RECIPIENT}",
            "/verify",
        ):
            response = await client.get(path)
            assert response.status == 200, path
            assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            assert (
                "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY
            )
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            text = await response.text()
            assert '<html lang="zh-CN">' in text and "仪表盘" in text
            # No inline script: the only scripts are files of this origin and the messages (JSON data).
            assert text.count("<script") == 5 and "http://" not in text and "https://" not in text
        assert (await client.get("/blocks/not-a-block")).status == 400
        for name, kind in (
            ("app.js", "text/javascript"),
            ("hash.js", "text/javascript"),
            ("proof.js", "text/javascript"),
            ("sigverify.js", "text/javascript"),
            ("console.css", "text/css"),
        ):
            response = await client.get(f"/static/{name}")
            assert response.status == 200 and response.content_type == kind
        for name in ("../settings.py", "i18n/en.json", "server.py", "%2e%2e%2fserver.py"):
            assert (await client.get(f"/static/{name}")).status == 404, name
        too_large = await client.post("/language", data={"language": "en", "next": "/" + "a" * 20_000})
        assert too_large.status == 413
        assert (await get_json(client, "/api/nothing", status=404))["error"]["code"] == "not_found"
        wrong_method = await client.post("/api/status")
        assert wrong_method.status in (401, 404, 405)  # an anonymous write is refused before routing

    run_console(chain.endpoint, scenario)


def test_language_cookie(chain: Chain) -> None:
    async def scenario(client: Client) -> None:
        switched = await client.post(
            "/language", data={"language": "en", "next": "/blocks?before=3"}, allow_redirects=False
        )
        assert switched.status == 303 and switched.headers["Location"] == "/blocks?before=3"
        cookie = switched.headers["Set-Cookie"]
        assert "gusu_language=en" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        english = await (await client.get("/")).text()
        assert '<html lang="en">' in english and "Dashboard" in english and "仪表盘" not in english
        for target in ("//evil.example/", "/\\evil.example", "https://evil.example/"):
            away = await client.post("/language", data={"language": "zh-CN", "next": target}, allow_redirects=False)
            assert away.headers["Location"] == "/", target
        refused = await client.post("/language", data={"language": "fr", "next": "/"}, allow_redirects=False)
        assert refused.status == 400

    run_console(chain.endpoint, scenario)


def test_a_stopped_node_is_reported_not_crashed() -> None:
    endpoint = f"http://127.0.0.1:{find_free_port()}"

    async def scenario(client: Client) -> None:
        error = await get_json(client, "/api/status", status=502)
        assert error["error"]["code"] == "node_unreachable"
        assert (await client.get("/")).status == 200  # the shell still loads and says the node is down

    run_console(endpoint, scenario)


def test_request_deadline(chain: Chain) -> None:
    """A node slower than the console's deadline is answered 504, not waited on forever."""

    async def scenario(client: Client) -> None:
        error = await get_json(client, "/api/status", status=504)
        assert error["error"]["code"] == "timeout"

    # 1 ms is less than any real round trip to the node and the 20 block reads of the dashboard.
    run_console(chain.endpoint, scenario, request_timeout_s=0.001, node_timeout_s=0.001)


@pytest.mark.parametrize(
    "settings",
    [
        {"endpoint": "ftp://x"},
        {"port": 70000},
        {"body_bytes_max": 0},
        {"node_timeout_s": 20.0},
        {"request_timeout_s": 0},
    ],
)
def test_settings_are_validated(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ConsoleSettings(**settings)


def test_tps_ignores_genesis_and_needs_two_blocks() -> None:
    from gusu.console.chain import compute_tps
    from gusu.ledger.types import BlockHeader
    from gusu.sdk import BlockView

    def block(height: int, timestamp_ms: int, count: int) -> BlockView:
        header = BlockHeader(
            chain_id="c",
            height=height,
            parent_hash=b"\0" * 32,
            timestamp_ms=timestamp_ms,
            proposer=b"\0" * 20,
            transactions_root=b"\0" * 32,
            receipts_root=b"\0" * 32,
            state_root=b"\0" * 32,
            validators_hash=b"\0" * 32,
            next_validators_hash=b"\0" * 32,
            transaction_count=count,
        )
        return BlockView(block_hash=b"\0" * 32, header=header, transaction_ids=(), transactions=(), certificate=None)

    assert compute_tps([block(0, 0, 0), block(1, 5000, 10)]) == 0.0
    # Blocks 2 and 3 committed 30 transactions in the 2 s after block 1.
    assert compute_tps([block(3, 7000, 20), block(1, 5000, 10), block(2, 6000, 10), block(0, 0, 0)]) == 15.0
