"""End to end: a real chain and node driven only through `python -m gusu.cli.main`.

chain init -> node start --detach -> transfer -> tx show/proof -> block show
-> account balance -> evidence record/verify -> account history -> node status/peers -> node stop.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

COMMAND_TIMEOUT_S = 90


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gusu:
    """Runs the CLI in a subprocess with an isolated home."""

    def __init__(self, home: Path, endpoint: str) -> None:
        self.env = {
            **os.environ,
            "GUSU_HOME": str(home),
            "GUSU_ENDPOINT": endpoint,
            "GUSU_KEYFILE_SCRYPT_N": "1024",
        }
        self.env.pop("GUSU_PASSPHRASE", None)

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
        completed = self.run(*args, "--json", check=check)
        return json.loads(completed.stdout)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Gusu, dict[str, Any]]]:
    port = find_free_port()
    gusu = Gusu(tmp_path / "home", f"http://127.0.0.1:{port}")
    layout = gusu.json("chain", "init", "--dir", str(tmp_path / "chain"), "--port", str(port), "--workers", "1")
    node_directory = layout["node_directory"]
    started = gusu.json("node", "start", "--dir", node_directory, "--detach")
    try:
        assert started["ready"] is True and started["rpc"] == f"http://127.0.0.1:{port}/rpc"
        yield gusu, layout
    finally:
        # Whatever happened, no node outlives the test.
        gusu.run("node", "stop", "--dir", node_directory, check=False)


def test_chain_round_trip(chain: tuple[Gusu, dict[str, Any]], tmp_path: Path) -> None:
    gusu, layout = chain
    dev_key = layout["dev_key"]
    node_directory = layout["node_directory"]
    recipient = "0x" + "42" * 20

    sent = gusu.json("tx", "send", "account", "transfer", recipient, "25", "--key", dev_key)
    receipt = sent["receipt"]
    assert receipt["status"] == "success", receipt
    assert receipt["events"][0]["name"] == "Transfer"
    transaction_id = sent["id"]

    shown = gusu.json("tx", "show", transaction_id)
    assert shown["status"] == "committed"
    assert shown["transaction"]["sender"] == layout["dev_address"]
    assert shown["receipt"]["height"] == receipt["height"]

    proof = gusu.json("tx", "proof", transaction_id)
    assert proof["valid"] is True and proof["height"] == receipt["height"]

    block = gusu.json("block", "show", str(receipt["height"]))
    assert transaction_id in block["transactions"]
    assert block["hash"] == receipt["block_hash"]
    latest = gusu.json("block", "show", "latest", "--full")
    assert latest["header"]["height"] >= receipt["height"]

    balance = gusu.json("account", "balance", recipient)
    assert balance == {"address": recipient, "balance": 25}

    # A transfer that cannot succeed: the receipt says why and the exit status is 1.
    failed = gusu.run("account", "transfer", recipient, str(2**63), "--key", dev_key, "--json", check=False)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["receipt"]["error_code"] == "reverted"
    assert "insufficient balance" in failed.stderr

    document = tmp_path / "contract.pdf"
    document.write_bytes(b"%PDF-1.7 pretend contract\n")
    recorded = gusu.json("evidence", "record", str(document), "--metadata", "lease 2026", "--key", dev_key)
    assert recorded["receipt"]["status"] == "success"
    verified = gusu.json("evidence", "verify", str(document), "--submitter", layout["dev_address"])
    assert verified["recorded"] is True and verified["submitter_matches"] is True
    assert verified["submitter"] == layout["dev_address"]
    assert verified["document_hash"] == recorded["document_hash"]
    assert verified["height"] == recorded["receipt"]["height"] and verified["metadata"] == "lease 2026"
    other = tmp_path / "other.txt"
    other.write_text("never recorded", encoding="utf-8")
    assert gusu.run("evidence", "verify", str(other), check=False).returncode == 1

    # The dev account's history, newest first: the evidence record, the failed and the good transfer.
    history = gusu.json("account", "history", layout["dev_address"])
    listed = [item["id"] for item in history["transactions"]]
    failed_id = json.loads(failed.stdout)["id"]
    assert listed[:3] == [recorded["id"], failed_id, transaction_id] and history["next"] is None
    assert all(item["status"] == "committed" for item in history["transactions"])
    newest = gusu.json("account", "history", layout["dev_address"], "--limit", "1")
    assert [item["id"] for item in newest["transactions"]] == [recorded["id"]]
    cursor = newest["next"]
    older = gusu.json("account", "history", layout["dev_address"], "--before", f"{cursor['height']}:{cursor['index']}")
    assert [item["id"] for item in older["transactions"]] == listed[1:]
    table = gusu.run("account", "history", layout["dev_address"], "--limit", "2")
    assert transaction_id not in table.stdout and failed_id in table.stdout and "evidence.record" in table.stdout
    assert "--before" in table.stderr

    status = gusu.json("node", "status", "--dir", node_directory)
    assert status["healthy"] is True and status["running"] is True
    assert status["chain_id"] == "gusu-local" and status["suite"] == "sm"
    assert status["height"] >= recorded["receipt"]["height"]
    assert status["peers"] == [] and "transactions" in status["mempool"]
    # A one-validator chain has no peers to list.
    peers = gusu.json("node", "peers", "--dir", node_directory)
    assert peers == {"endpoint": status["endpoint"], "peers": []}

    stopped = gusu.json("node", "stop", "--dir", node_directory)
    assert stopped["stopped"] is True and stopped["killed"] is False
    down = gusu.run("node", "status", "--dir", node_directory, "--json", check=False)
    assert down.returncode == 1
    assert json.loads(down.stdout)["reachable"] is False
    assert down.stderr.startswith("error: ")
