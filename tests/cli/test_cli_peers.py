"""`gusu node peers` and the peers line of `gusu node status`, against a stub node answering JSON-RPC."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner

from gusu.cli.main import cli
from gusu.cli.render import format_duration_s

NODE_ADDRESS = "0x" + "11" * 20


class StubNode:
    """Answers gusu_status, gusu_peers (unless `knows_peers` is False) and /health."""

    def __init__(self) -> None:
        self.peers: list[dict[str, Any]] = []
        self.knows_peers = True
        self.methods: list[str] = []

    def answer(self, method: str) -> dict[str, Any]:
        self.methods.append(method)
        if method == "gusu_peers" and self.knows_peers:
            return {"result": {"peers": self.peers}}
        if method == "gusu_status":
            return {
                "result": {
                    "chain_id": "gusu-net",
                    "suite": "sm",
                    "height": 7,
                    "latest_block_hash": "0x" + "ab" * 32,
                    "latest_block_time_ms": 1_700_000_000_000,
                    "node_address": NODE_ADDRESS,
                    "consensus": "tendermint",
                    "mempool": {"transactions": 0, "bytes": 0},
                    "version": "stub",
                    "transaction_window_blocks": 100,
                }
            }
        return {"error": {"code": -32601, "message": f"no method {method}", "data": {"code": "method_not_found"}}}


def peer(address_byte: int, organization: str, *, outbound: bool = True, rtt_ms: float | None = 0.5) -> dict[str, Any]:
    return {
        "address": "0x" + f"{address_byte:02x}" * 20,
        "organization": organization,
        "endpoint": f"127.0.0.1:{8645 + address_byte}",
        "outbound": outbound,
        "connected_for_s": 125.5,
        "rtt_ms": rtt_ms,
        "queued_messages": 2,
        "queued_bytes": 300,
        "messages_in": 4_000,
        "messages_out": 5_000,
        "bytes_in": 600_000,
        "bytes_out": 700_000,
        "gossip_dropped": 9,
    }


@pytest.fixture
def stub() -> Iterator[tuple[StubNode, str]]:
    node = StubNode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self._send({"jsonrpc": "2.0", "id": request["id"], **node.answer(request["method"])})

        def do_GET(self) -> None:
            self._send({"ok": True, "height": 7})

        def _send(self, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield node, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_node_peers_json_is_the_api_document(runner: CliRunner, stub: tuple[StubNode, str]) -> None:
    node, endpoint = stub
    node.peers = [peer(2, "bank"), peer(3, "coop", outbound=False, rtt_ms=None)]
    result = runner.invoke(cli, ["node", "peers", "--endpoint", endpoint, "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document == {"endpoint": endpoint, "peers": node.peers}
    assert node.methods == ["gusu_peers"]


def test_node_peers_table(runner: CliRunner, stub: tuple[StubNode, str]) -> None:
    node, endpoint = stub
    node.peers = [peer(2, "bank"), peer(3, "coop", outbound=False, rtt_ms=None)]
    result = runner.invoke(cli, ["--endpoint", endpoint, "node", "peers"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"2 validator(s) connected to the node at {endpoint}" in result.stdout
    bank = next(line for line in lines if "bank" in line)
    assert "0x" + "02" * 20 in bank and "127.0.0.1:8647" in bank and " out " in bank and "0.50 ms" in bank
    assert "2m 05s" in bank and "4,000 / 5,000" in bank and "600,000 / 700,000" in bank
    coop = next(line for line in lines if "coop" in line)
    assert " in " in coop and "ms" not in coop
    node.peers = []
    alone = runner.invoke(cli, ["node", "peers", "--endpoint", endpoint])
    assert alone.exit_code == 0 and "no peer connected" in alone.stdout


def test_node_peers_of_a_node_without_the_method(runner: CliRunner, stub: tuple[StubNode, str]) -> None:
    node, endpoint = stub
    node.knows_peers = False
    result = runner.invoke(cli, ["node", "peers", "--endpoint", endpoint, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "node_error"
    assert "does not report its peers" in result.stderr and "upgrade it" in result.stderr


def test_node_peers_of_no_node(runner: CliRunner, stub: tuple[StubNode, str]) -> None:
    _, endpoint = stub
    result = runner.invoke(cli, ["node", "peers", "--endpoint", endpoint.rsplit(":", 1)[0] + ":1"])
    assert result.exit_code == 1 and result.stderr.startswith("error: no node answers at")


def test_node_status_shows_the_peers(runner: CliRunner, stub: tuple[StubNode, str]) -> None:
    node, endpoint = stub
    node.peers = [peer(2, "bank"), peer(3, "coop")]
    document = json.loads(runner.invoke(cli, ["node", "status", "--endpoint", endpoint, "--json"]).stdout)
    assert [item["organization"] for item in document["peers"]] == ["bank", "coop"]
    table = runner.invoke(cli, ["node", "status", "--endpoint", endpoint])
    assert table.exit_code == 0, table.output
    assert "2 connected: bank, coop" in table.stdout
    # A node from before gusu_peers still gets a status, without peers.
    node.knows_peers = False
    older = runner.invoke(cli, ["node", "status", "--endpoint", endpoint, "--json"])
    assert older.exit_code == 0 and json.loads(older.stdout)["peers"] is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0s"), (59.9, "59s"), (61, "1m 01s"), (3_600, "1h 00m"), (90_061, "1d 1h")],
)
def test_durations_are_shown_coarsely(seconds: float, text: str) -> None:
    assert format_duration_s(seconds) == text
