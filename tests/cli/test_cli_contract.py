"""`gusu contract` end to end against a real node process (a single-operator governed development chain):
new -> test -> hash -> deploy (refused until approved, naming the proposal) -> approve -> deploy -> call ->
view -> show -> client -> upgrade; and the generated client and `Contracts` on the same node.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gusu.crypto import PrivateKey
from gusu.crypto.keyfile import decrypt_key_file
from gusu.sdk import Client, Contracts

pytestmark = pytest.mark.e2e

COMMAND_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gusu:
    def __init__(self, home: Path, endpoint: str) -> None:
        self.endpoint = endpoint
        self.env = {**os.environ, "GUSU_HOME": str(home), "GUSU_ENDPOINT": endpoint, "GUSU_KEYFILE_SCRYPT_N": "1024"}
        self.env.pop("GUSU_PASSPHRASE", None)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", *args],
            env=self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL,
            check=False,
        )  # fmt: skip
        if check:
            assert completed.returncode == 0, f"gusu {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
        assert "Traceback" not in completed.stderr, completed.stderr
        return completed

    def json(self, *args: str, check: bool = True) -> Any:
        return json.loads(self.run(*args, "--json", check=check).stdout)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Gusu, Path]]:
    port = _free_port()
    gusu = Gusu(tmp_path / "home", f"http://127.0.0.1:{port}")
    layout = gusu.json("chain", "init", "--dir", str(tmp_path / "chain"), "--port", str(port), "--workers", "0")
    gusu.json("node", "start", "--dir", layout["node_directory"], "--detach")
    try:
        yield gusu, Path(layout["dev_key"])
    finally:
        gusu.run("node", "stop", "--dir", layout["node_directory"], check=False)


def _open_key(path: Path) -> PrivateKey:
    return decrypt_key_file(path.read_bytes(), path.with_suffix(".pass").read_text().strip())


def test_contract_from_new_to_upgrade(chain: tuple[Gusu, Path], tmp_path: Path) -> None:
    gusu, dev_key = chain
    created = gusu.json("contract", "new", "coin", "--dir", str(tmp_path))
    source_file = Path(created["directory"]) / "contract.py"
    tested = gusu.json("contract", "test", created["directory"])
    assert tested["passed"] is True and "3 passed" in tested["output"]

    # A governed chain: the code must be approved first, and deploy says how.
    refused = gusu.run("contract", "deploy", "coin", str(source_file), "--args", "[1000]", "--key", str(dev_key),
                       check=False)  # fmt: skip
    code_hash = gusu.json("contract", "hash", str(source_file))["code_hash"]
    assert refused.returncode == 1
    assert f"gusu gov propose approve-contract --code-hash {code_hash} --key" in refused.stderr
    assert gusu.json("contract", "hash", str(source_file), "--suite", "sm")["code_hash"] == code_hash
    approved = gusu.json("gov", "propose", "approve-contract", "--code-hash", code_hash, "--key", str(dev_key))
    assert approved["status"] == "approved"

    deployed = gusu.json("contract", "deploy", "coin", str(source_file), "--args", "[1000]", "--key", str(dev_key))
    assert deployed["success"] is True and deployed["code_hash"] == code_hash
    assert deployed["events"][0]["name"] == "Deployed" and deployed["events"][0]["fields"]["name"] == "coin"

    bob = "0x" + "0b" * 20
    sent = gusu.json("contract", "call", "coin", "transfer", bob, "250", "--key", str(dev_key))
    [event] = sent["events"]
    assert event["name"] == "Transfer" and event["fields"]["amount"] == 250 and event["fields"]["to"] == {"hex": bob}
    assert gusu.json("contract", "view", "coin", "balance", bob)["return_value"] == 250
    failed = gusu.run("contract", "call", "coin", "transfer", bob, "999999", "--key", str(dev_key), check=False)
    assert failed.returncode == 1 and "insufficient balance" in failed.stderr

    # The contract's event history from the node: the failed transfer's event was rolled back.
    history = gusu.json("contract", "events", "coin", "--from", "0")
    assert history["from_height"] == 0 and history["to_height"] >= 1
    assert [(e["name"], e["transaction_id"]) for e in history["events"] if e["name"] == "Transfer"] == [
        ("Transfer", sent["id"])
    ]
    [transfer] = gusu.json("contract", "events", "coin", "--from", "0", "--event", "Transfer")["events"]
    assert transfer["fields"]["amount"] == 250 and transfer["contract"] == "coin"
    assert "Transfer" in gusu.run("contract", "events", "coin", "--from", "0").stdout
    unknown = gusu.run("contract", "events", "no_such_coin", check=False)
    assert unknown.returncode != 0 and "no contract named 'no_such_coin'" in unknown.stderr

    shown = gusu.json("contract", "show", "coin")
    assert shown["version"] == 1 and shown["code_hash"] == code_hash
    assert {m["name"] for m in shown["interface"]["methods"]} == {"setup", "transfer", "balance", "total_supply"}
    assert "code hash" in gusu.run("contract", "show", "coin").stdout

    # The generated typed client, used through the SDK against the same node.
    client_file = tmp_path / "coin_client.py"
    gusu.run("contract", "client", "coin", "--output", str(client_file))
    spec = importlib.util.spec_from_file_location("coin_client", client_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    key = _open_key(dev_key)
    with Client(gusu.endpoint) as client:
        contracts = Contracts(client)
        coin = module.CoinClient(contracts)
        outcome = coin.transfer(key, bytes.fromhex("0c" * 20), 5)
        assert outcome.events[0].fields["amount"] == 5
        assert coin.balance(bytes.fromhex("0c" * 20)) == 5
        assert contracts.at("coin").total_supply() == 1_000

    upgraded_source = source_file.read_text().replace("return supply.get()", "return supply.get() + 0  # v2")
    source_file.write_text(upgraded_source)
    refused = gusu.run("contract", "upgrade", "coin", str(source_file), "--args", "[0]", "--key", str(dev_key),
                       check=False)  # fmt: skip
    assert refused.returncode == 1 and "approve-contract" in refused.stderr
    new_hash = gusu.json("contract", "hash", str(source_file))["code_hash"]
    gusu.json("gov", "propose", "approve-contract", "--code-hash", new_hash, "--key", str(dev_key))
    upgraded = gusu.json("contract", "upgrade", "coin", str(source_file), "--args", "[0]", "--key", str(dev_key))
    assert upgraded["events"][0]["fields"]["version"] == 2
    shown = gusu.json("contract", "show", "coin")
    assert shown["version"] == 2 and shown["code_hash"] == new_hash
    assert gusu.json("contract", "view", "coin", "balance", bob)["return_value"] == 250, "the state was kept"
