"""The local-network helpers that need no running node: ports, peers, agreement, readiness, layout."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from gusu.errors import NodeError
from gusu.eval.network import (
    P2P_PORT_OFFSET,
    LocalNetwork,
    NodeState,
    PortsInUseError,
    describe_verdict,
    find_free_base_port,
    find_taken_ports,
    judge_agreement,
    match_peers,
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
