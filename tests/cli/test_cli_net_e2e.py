"""End to end: a four-validator network driven only through `python -m gusu.cli.main`.

net up --nodes 4 (waits for the validators to connect, not for a block: none is made without
transactions) -> net status (4 alive, agreeing, each connected to the 3 others, as the nodes report)
-> node peers -> tx send to node2 (makes the first block) -> kill -9 node3 -> net status says so -> net up
starts only node3 and waits until it is connected again -> all agree again -> net down.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gusu.eval.network import LocalNetwork, find_free_base_port

pytestmark = pytest.mark.e2e

COMMAND_TIMEOUT_S = 120
NODES = 4


class Gusu:
    """Runs the CLI in a subprocess with an isolated home and cheap key files."""

    def __init__(self, home: Path) -> None:
        self.env = {**os.environ, "GUSU_HOME": str(home), "GUSU_KEYFILE_SCRYPT_N": "1024"}
        for name in ("GUSU_PASSPHRASE", "GUSU_ENDPOINT"):
            self.env.pop(name, None)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if check:
            assert completed.returncode == 0, f"gusu {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}"
        assert "Traceback" not in completed.stderr, completed.stderr
        return completed

    def json(self, *args: str, check: bool = True) -> Any:
        return json.loads(self.run(*args, "--json", check=check).stdout)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[Gusu, Path, dict[str, Any]]]:
    gusu = Gusu(tmp_path / "home")
    directory = tmp_path / "net"
    base = find_free_base_port(NODES)
    try:
        up = gusu.json(
            "net", "up", "--nodes", str(NODES), "--suite", "ecdsa", "--base-port", str(base), "--dir", str(directory)
        )
        yield gusu, directory, up
    finally:
        # Whatever happened, no node outlives the test.
        gusu.run("net", "down", "--dir", str(directory), "--timeout", "5", check=False)


def test_network_round_trip(network: tuple[Gusu, Path, dict[str, Any]]) -> None:
    gusu, directory, up = network
    names = [f"node{index}" for index in range(NODES)]
    assert up["created"] is True and up["suite"] == "ecdsa" and up["height"] == 0
    assert sorted(up["started"]) == names
    assert all(node["pid"] for node in up["nodes"])
    # Ready means connected: every node reported the three others.
    assert up["peers"] == {name: [other for other in names if other != name] for name in names}

    status = gusu.json("net", "status", "--dir", str(directory))
    assert status["alive"] == NODES and status["reachable"] == NODES
    assert status["agree"] is True and status["healthy"] is True, status["verdict"]
    assert status["verdict"] == f"all {NODES} nodes agree at height 0"
    # The hash each node reported is the genesis block as a node itself serves it (not just one another's).
    genesis = gusu.json("node", "status", "--endpoint", up["nodes"][1]["api_url"])["latest_block_hash"]
    assert [node["common_block_hash"] for node in status["nodes"]] == [genesis] * NODES, status["nodes"]
    assert all(node["peers_connected"] == node["peers_expected"] == NODES - 1 for node in status["nodes"])
    assert all(node["peers_source"] == "rpc" for node in status["nodes"]), status["nodes"]
    table = gusu.run("net", "status", "--dir", str(directory))
    assert table.stdout.count(f"{NODES - 1}/{NODES - 1}") == NODES, table.stdout
    peers = gusu.json("node", "peers", "--endpoint", up["nodes"][0]["api_url"])
    addresses = {node["address"]: node["organization"] for node in up["nodes"][1:]}
    assert {peer["address"]: peer["organization"] for peer in peers["peers"]} == addresses

    # Any node takes transactions: send to node2 and read the receipt there.
    node2 = up["nodes"][2]["api_url"]
    recipient = "0x" + "42" * 20
    sent = gusu.json("tx", "send", "account", "transfer", recipient, "25", "--key", up["dev_key"], "--endpoint", node2)
    assert sent["receipt"]["status"] == "success", sent
    # The other nodes have the same state.
    balance = gusu.json("account", "balance", recipient, "--endpoint", up["nodes"][0]["api_url"])
    assert balance["balance"] == 25

    # kill -9 one of four: the status says which, and the three others keep committing what they are sent.
    LocalNetwork.open(directory).kill(3, signal.SIGKILL)
    degraded = gusu.run("net", "status", "--dir", str(directory), "--json", check=False)
    assert degraded.returncode == 1
    document = json.loads(degraded.stdout)
    assert document["alive"] == NODES - 1 and document["agree"] is True
    assert "node3 is not running" in document["verdict"] and "error: " in degraded.stderr
    assert document["disconnected"] == {}, "a node that is down is expected by no one"
    sent = gusu.json("tx", "send", "account", "transfer", recipient, "5", "--key", up["dev_key"], "--endpoint", node2)
    assert sent["receipt"]["status"] == "success", sent

    # `net up` on a running network starts only what is down, and waits until it is connected again.
    again = gusu.json("net", "up", "--dir", str(directory))
    assert again["created"] is False and again["started"] == ["node3"]
    assert sorted(again["already_running"]) == ["node0", "node1", "node2"]
    assert again["peers"]["node3"] == ["node0", "node1", "node2"]
    healed = gusu.json("net", "status", "--dir", str(directory))
    assert healed["healthy"] is True, healed["verdict"]

    down = gusu.json("net", "down", "--dir", str(directory))
    assert down["stopped"] == NODES and down["killed"] == 0
    assert all(not (Path(node["directory"]) / "node.pid").exists() for node in up["nodes"])
