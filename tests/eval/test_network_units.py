"""The local-network helpers that need no running node: ports, peers, agreement, readiness, layout."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gusu.errors import NodeError
from gusu.eval.network import (
    P2P_PORT_OFFSET,
    LocalNetwork,
    NetworkNotConnectedError,
    NodeState,
    PortsInUseError,
    describe_verdict,
    find_free_base_port,
    find_missing_peers,
    find_taken_ports,
    judge_agreement,
    judge_connections,
    list_missing_peers,
    match_peers,
    name_peers,
    parse_ready_line,
    plan_ports,
)

TEST_SCRYPT_N = 1024


def test_plan_ports() -> None:
    assert plan_ports(3, 9000) == ([9000, 9001, 9002], [9100, 9101, 9102])
    with pytest.raises(NodeError, match="room for 4 nodes"):
        plan_ports(4, 65535 - P2P_PORT_OFFSET - 2)
    with pytest.raises(NodeError):
        plan_ports(0, 9000)


def test_taken_ports_are_named_with_their_purpose() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        taken = find_taken_ports({port: "API of node0"})
        assert [use.port for use in taken] == [port]
        assert taken[0].describe().startswith(f"{port} (API of node0)")
    assert find_taken_ports({port: "API of node0"}) == []


def test_free_base_port_leaves_room_for_every_node() -> None:
    base = find_free_base_port(4, seed=7)
    assert find_taken_ports({port: "x" for port in (*plan_ports(4, base)[0], *plan_ports(4, base)[1])}) == []


def test_match_peers_reads_dialed_and_accepted_connections() -> None:
    ports = {"node0": 9100, "node1": 9101, "node2": 9102}
    connections = {
        # node0 dialed node1; node2 dialed node0 (accepted on node0's P2P port).
        "node0": [(("127.0.0.1", 40001), ("127.0.0.1", 9101)), (("127.0.0.1", 9100), ("127.0.0.1", 40002))],
        "node1": [(("127.0.0.1", 9101), ("127.0.0.1", 40001)), (("127.0.0.1", 9001), ("127.0.0.1", 50000))],
        "node2": [(("127.0.0.1", 40002), ("127.0.0.1", 9100))],
    }
    assert match_peers(ports, connections) == {"node0": ["node1", "node2"], "node1": ["node0"], "node2": ["node0"]}


def test_peer_addresses_are_named_after_the_nodes() -> None:
    names = {"0x" + "aa" * 20: "node0", "0x" + "bb" * 20: "node1", "0x" + "cc" * 20: "node10"}
    addresses = ["0x" + "CC" * 20, "0x" + "aa" * 20, "0x" + "dd" * 20]
    # In node order (node10 after node0, not before node1), unknown addresses kept, case ignored.
    assert name_peers(addresses, names) == ("node0", "node10", "0x" + "dd" * 20)
    assert name_peers([], names) == ()


def test_missing_peers_are_found_from_each_side() -> None:
    names = ["node0", "node1", "node2"]
    full = {"node0": ["node1", "node2"], "node1": ["node0", "node2"], "node2": ["node0", "node1"]}
    assert find_missing_peers(names, full) == {}
    # Extra peers (a node outside the group asked about) do not matter.
    assert find_missing_peers(["node0", "node1"], full) == {}
    half = {**full, "node2": ["node0"], "node1": ["node0", "node2", "node3"]}
    assert find_missing_peers(names, half) == {"node2": ("node1",)}
    # A node that does not tell is connected to none.
    assert find_missing_peers(names, {**full, "node1": None}) == {"node1": ("node0", "node2")}
    assert find_missing_peers(names, {"node0": ["node1", "node2"]}) == {
        "node1": ("node0", "node2"),
        "node2": ("node0", "node1"),
    }
    assert find_missing_peers(["node0"], {}) == {}
    assert list_missing_peers({"node2": ("node1",), "node1": ("node0", "node2", "node3")}) == [
        "node1 is not connected to node0, node2 and node3",
        "node2 is not connected to node1",
    ]


def test_agreement_sides_with_the_majority() -> None:
    assert judge_agreement({"node0": "0xaa", "node1": "0xaa"}) == (True, ())
    assert judge_agreement({"node0": "0xaa", "node1": "0xaa", "node2": "0xbb"}) == (False, ("node2",))
    # No majority: every node is in doubt.
    assert judge_agreement({"node0": "0xaa", "node1": "0xbb"}) == (False, ("node0", "node1"))
    assert judge_agreement({}) == (True, ())


def _state(name: str, process: str = "running", block: str | None = "0xaa" * 16) -> NodeState:
    reachable = process == "running" and block is not None
    return NodeState(
        name=name,
        organization="org",
        api_url="http://127.0.0.1:1",
        p2p_endpoint="127.0.0.1:2",
        pid=1 if process != "not running" else None,
        process=process,
        reachable=reachable,
        height=5 if reachable else None,
        common_block_hash=block if reachable else None,
    )


def test_verdicts() -> None:
    nodes = [_state("node0"), _state("node1")]
    assert describe_verdict(nodes, 5, True, ()) == "all 2 nodes agree at height 5"
    some_down = [_state("node0"), _state("node1"), _state("node2", "not running"), _state("node3", "stopped")]
    assert describe_verdict(some_down, 5, True, ()) == (
        "2 of 4 nodes agree at height 5; node2 is not running, node3 is stopped (SIGSTOP)"
    )
    forked = [_state("node0"), _state("node1"), _state("node2", block="0xbb" * 16)]
    verdict = describe_verdict(forked, 5, False, ("node2",))
    assert verdict.startswith("DISAGREEMENT at height 5: node2 differ")
    assert describe_verdict([_state("node0", "not running")], None, True, ()) == "no node answers; node0 is not running"


def test_connections_are_judged_among_the_answering_nodes() -> None:
    nodes = [
        replace(_state("node0"), peers=("node1", "node2")),
        replace(_state("node1"), peers=("node0",)),
        replace(_state("node2"), peers=None),
        replace(_state("node3", "not running"), peers=()),
    ]
    # node1 lacks node2, which answers; nobody is expected to reach node3, which is down;
    # node2's own peers are unknown, so it is not judged.
    assert judge_connections(nodes) == {"node1": ("node2",)}
    verdict = describe_verdict(nodes, 5, True, (), judge_connections(nodes))
    assert verdict == "3 of 4 nodes agree at height 5; node3 is not running, node1 is not connected to node2"
    connected = [replace(_state("node0"), peers=("node1",)), replace(_state("node1"), peers=("node0",))]
    assert judge_connections(connected) == {}
    assert describe_verdict(connected, 5, True, (), {"node0": ("node1",)}) == (
        "all 2 nodes agree at height 5; node0 is not connected to node1"
    )


def test_ready_line() -> None:
    assert parse_ready_line('{"ready": true, "pid": 7}') == {"ready": True, "pid": 7}
    assert parse_ready_line('{"ready": false}') is None
    assert parse_ready_line("2026-01-01 INFO serving") is None
    assert parse_ready_line("{not json") is None


def test_create_open_and_status_of_a_stopped_network(tmp_path: Path) -> None:
    base = find_free_base_port(3, seed=11)
    network = LocalNetwork.create(
        tmp_path / "net",
        organizations=["acme", "bank", "coop"],
        suite_name="ecdsa",
        chain_id="units",
        base_port=base,
        verifier_workers=0,
        scrypt_n=TEST_SCRYPT_N,
    )
    assert [node.name for node in network.nodes] == ["node0", "node1", "node2"]
    assert [node.organization for node in network.nodes] == ["acme", "bank", "coop"]
    assert [node.api_port for node in network.nodes] == [base, base + 1, base + 2]
    assert [node.p2p_port for node in network.nodes] == [base + 100, base + 101, base + 102]
    assert network.dev_address.startswith("0x") and len(network.dev_address) == 42
    assert network.load_dev_key().suite == "ecdsa"
    reopened = LocalNetwork.open(tmp_path / "net")
    assert reopened.nodes == network.nodes and reopened.chain_id == "units" and reopened.suite == "ecdsa"
    assert network.node("node1") == network.node(1)
    with pytest.raises(NodeError, match="no node"):
        network.node(7)
    status = network.status()
    assert not status.healthy and status.common_height is None
    assert [node.process for node in status.nodes] == ["not running"] * 3
    assert status.verdict.startswith("no node answers")
    assert [record.outcome for record in network.stop()] == ["not running"] * 3
    with pytest.raises(NodeError, match="not running"):
        network.kill(0, signal.SIGKILL)
    with pytest.raises(NodeError, match="already holds a chain"):
        LocalNetwork.create(tmp_path / "net", organizations=2, base_port=base)


def test_create_refuses_taken_ports_before_writing(tmp_path: Path) -> None:
    base = find_free_base_port(2, seed=13)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", base + P2P_PORT_OFFSET + 1))
        listener.listen()
        with pytest.raises(PortsInUseError, match=r"P2P of node1") as caught:
            LocalNetwork.create(tmp_path / "net", organizations=2, base_port=base, scrypt_n=TEST_SCRYPT_N)
    assert [use.port for use in caught.value.taken] == [base + P2P_PORT_OFFSET + 1]
    assert not (tmp_path / "net").exists()


def test_open_without_a_network(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="no network"):
        LocalNetwork.open(tmp_path)


# --- networks of stub nodes: an HTTP server per node answering the JSON-RPC the network code asks ---------


class _StubNode:
    """What one stub node answers: its height, and its peers (None: it does not know gusu_peers)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.peers: list[str] | None = []


def _peer_document(address: str) -> dict[str, Any]:
    return {
        "address": address,
        "organization": "org",
        "endpoint": "127.0.0.1:1",
        "outbound": True,
        "connected_for_s": 1.5,
        "rtt_ms": 0.2,
        "queued_messages": 0,
        "queued_bytes": 0,
        "messages_in": 1,
        "messages_out": 1,
        "bytes_in": 10,
        "bytes_out": 10,
        "gossip_dropped": 0,
    }


def _answer(stub: _StubNode, method: str) -> dict[str, Any]:
    if method == "gusu_peers" and stub.peers is not None:
        return {"result": {"peers": [_peer_document(address) for address in stub.peers]}}
    if method == "gusu_blockNumber":
        return {"result": 3}
    if method == "gusu_status":
        status = {
            "chain_id": "units",
            "suite": "ecdsa",
            "height": 3,
            "latest_block_hash": "0x" + "ab" * 32,
            "latest_block_time_ms": 1,
            "node_address": stub.address,
            "consensus": "tendermint",
            "mempool": {"transactions": 0, "bytes": 0},
            "version": "stub",
            "transaction_window_blocks": 100,
        }
        return {"result": status}
    return {"error": {"code": -32601, "message": f"no method {method}", "data": {"code": "method_not_found"}}}


def _handler(stub: _StubNode) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps({"jsonrpc": "2.0", "id": request["id"], **_answer(stub, request["method"])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@contextmanager
def _stub_network(tmp_path: Path, count: int, seed: int) -> Iterator[tuple[LocalNetwork, list[_StubNode]]]:
    """A laid-out network whose nodes are stub servers on the API ports; "running" as this process."""
    network = LocalNetwork.create(
        tmp_path / "net",
        organizations=count,
        suite_name="ecdsa",
        chain_id="units",
        base_port=find_free_base_port(count, seed=seed),
        verifier_workers=0,
        scrypt_n=TEST_SCRYPT_N,
    )
    stubs = [_StubNode(node.address) for node in network.nodes]
    servers = [
        ThreadingHTTPServer(("127.0.0.1", node.api_port), _handler(stub))
        for node, stub in zip(network.nodes, stubs, strict=True)
    ]
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for server in servers
    ]
    for node, thread in zip(network.nodes, threads, strict=True):
        thread.start()
        node.pid_path.write_text(str(os.getpid()), encoding="utf-8")
    try:
        yield network, stubs
    finally:
        for node, server in zip(network.nodes, servers, strict=True):
            server.shutdown()
            server.server_close()
            node.pid_path.unlink(missing_ok=True)


def test_wait_connected_asks_every_node_for_its_peers(tmp_path: Path) -> None:
    with _stub_network(tmp_path, 3, seed=31) as (network, stubs):
        addresses = [node.address for node in network.nodes]
        stubs[0].peers = [addresses[1], addresses[2]]
        stubs[1].peers = [addresses[0], addresses[2]]
        stubs[2].peers = [addresses[0]]
        with pytest.raises(NetworkNotConnectedError, match="node2 is not connected to node1") as caught:
            network.wait_connected(timeout_s=0.3)
        assert "node0 is not connected" not in str(caught.value)
        assert "node1 is not connected" not in str(caught.value)
        assert f"last lines of {network.nodes[2].log_path}" in str(caught.value)
        assert f"last lines of {network.nodes[0].log_path}" not in str(caught.value)
        stubs[2].peers = [addresses[1], addresses[0]]
        assert network.wait_connected(timeout_s=5) == {
            "node0": ("node1", "node2"),
            "node1": ("node0", "node2"),
            "node2": ("node0", "node1"),
        }
        # Only the nodes asked about must reach each other.
        stubs[1].peers = None
        assert network.wait_connected([0, 2], timeout_s=5) == {"node0": ("node1", "node2"), "node2": ("node0", "node1")}
        with pytest.raises(NetworkNotConnectedError, match="node1 does not answer"):
            network.wait_connected(timeout_s=0.3)


def test_status_reports_peers_from_the_nodes_and_falls_back_to_sockets(tmp_path: Path) -> None:
    with _stub_network(tmp_path, 3, seed=33) as (network, stubs):
        addresses = [node.address for node in network.nodes]
        for index, stub in enumerate(stubs):
            stub.peers = [address for other, address in enumerate(addresses) if other != index]
        status = network.status()
        assert status.healthy, status.verdict
        assert [(node.peers, node.peers_source, node.peers_expected) for node in status.nodes] == [
            (("node1", "node2"), "rpc", 2),
            (("node0", "node2"), "rpc", 2),
            (("node0", "node1"), "rpc", 2),
        ]
        document = status.to_json()
        assert document["disconnected"] == {} and document["nodes"][0]["peers_connected"] == 2
        # node2 lost node1; node1 predates gusu_peers: its sockets are read (it has none on the P2P ports).
        stubs[2].peers = [addresses[0]]
        stubs[1].peers = None
        degraded = network.status()
        assert [(node.peers, node.peers_source) for node in degraded.nodes] == [
            (("node1", "node2"), "rpc"),
            ((), "os"),
            (("node0",), "rpc"),
        ]
        assert degraded.disconnected == {"node1": ("node0", "node2"), "node2": ("node1",)}
        assert not degraded.healthy and degraded.agree
        assert degraded.verdict == (
            "all 3 nodes agree at height 3; node1 is not connected to node0 and node2, node2 is not connected to node1"
        )
