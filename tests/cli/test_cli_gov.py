"""`gusu gov`, `gusu org list`, `gusu node list` and `gusu node join` against a real node process.

A single-operator development chain: its dev key governs alone until the
test admits a second organisation with `gusu gov propose add-organization`;
from then on a MAJORITY proposal needs the other's `gusu gov vote`.
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gusu:
    def __init__(self, home: Path, endpoint: str) -> None:
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


def test_gov_commands_from_proposal_to_vote(chain: tuple[Gusu, Path], tmp_path: Path) -> None:
    gusu, dev_key = chain
    [operator] = gusu.json("org", "list")["organizations"]
    assert operator["ca_certificate_sha256"] is None
    [node] = gusu.json("node", "list")["nodes"]
    assert node["role"] == "validator" and node["organization"] == operator["name"]

    gusu.json("org", "init", "acme", "--dir", str(tmp_path / "acme"))
    bundle = tmp_path / "acme.org.json"
    bundle.write_text(gusu.run("org", "export", "--dir", str(tmp_path / "acme")).stdout)
    added = gusu.json("gov", "propose", "add-organization", "--bundle", str(bundle), "--key", str(dev_key))
    assert added["status"] == "approved" and added["kind"] == "add_organization"
    assert added["votes"] == {operator["name"]: True}
    assert [item["name"] for item in gusu.json("org", "list")["organizations"]] == sorted(["acme", operator["name"]])

    # Two members: a MAJORITY proposal waits for acme's vote; a second vote by the proposer is refused.
    pending = gusu.json("gov", "propose", "freeze-contract", "--contract", "evidence", "--key", str(dev_key))
    assert pending["status"] == "pending"
    again = gusu.run("gov", "vote", str(pending["id"]), "--approve", "--key", str(dev_key), check=False)
    assert again.returncode == 1 and "voted" in again.stderr
    voted = gusu.json("gov", "vote", str(pending["id"]), "--approve", "--org", str(tmp_path / "acme"))
    assert voted["status"] == "approved" and voted["votes"] == {"acme": True, operator["name"]: True}

    # A non-member's proposal is refused; naming two keys is a usage error.
    gusu.json("keys", "new", "stranger", "--suite", "sm", "--passphrase-file", str(_passphrase(tmp_path)))
    outsider = gusu.run(
        "gov", "propose", "freeze-contract", "--contract", "account", "--key", "stranger",
        "--passphrase-file", str(_passphrase(tmp_path)), check=False,
    )  # fmt: skip
    assert outsider.returncode == 1 and "admin" in outsider.stderr
    both = gusu.run("gov", "cancel", "1", "--key", str(dev_key), "--org", str(tmp_path / "acme"), check=False)
    assert both.returncode == 1 and "exactly one of --org" in both.stderr

    # Revocation by certificate file, then cancelled by its proposer.
    certificate = tmp_path / "acme" / "ca.crt"
    revoke = gusu.json(
        "gov", "propose", "revoke-certificate", "--certificate", str(certificate), "--reason", "test",
        "--org", str(tmp_path / "acme"),
    )  # fmt: skip
    assert revoke["status"] == "pending" and revoke["args"][1] == "test" and len(revoke["args"][0]["hex"]) == 66
    cancelled = gusu.json("gov", "cancel", str(revoke["id"]), "--org", str(tmp_path / "acme"))
    assert cancelled["status"] == "cancelled"
    listing = gusu.json("gov", "list")
    assert [item["status"] for item in listing["proposals"]] == ["approved", "approved", "cancelled"]
    assert listing["next_start"] is None
    assert gusu.json("gov", "list", "--pending")["proposals"] == []
    shown = gusu.run("gov", "show", str(pending["id"])).stdout
    assert "freeze_contract" in shown and "approved" in shown
    assert gusu.run("gov", "show", "99", check=False).returncode == 1
    policies = {item["kind"]: item["rule"] for item in gusu.json("gov", "policies")["policies"]}
    assert policies["remove_organization"] == "ALL"
    [entry] = gusu.json("gov", "config")["schedule"]
    assert entry["validators"][0]["address"] == node["address"]
    assert gusu.json("gov", "revocations")["revocations"] == []
    assert "validators" in gusu.run("gov", "config").stdout

    # A third organisation's node: join prints the two proposals, then submits the first (it needs votes).
    gusu.json("org", "init", "zeta", "--dir", str(tmp_path / "zeta"))
    gusu.json("node", "init", "--org", str(tmp_path / "zeta"), "--name", "zeta-n0", "--dir", str(tmp_path / "zn"))
    plan = gusu.json("node", "join", "--org", str(tmp_path / "zeta"), "--node", str(tmp_path / "zn"))
    assert [proposal[0] for proposal in plan["proposals"]] == ["add_organization", "add_node"]
    assert plan["role"] == "observer" and plan["submitted"] == []
    assert "gusu gov propose add-node" in gusu.run("node", "join", "--org", str(tmp_path / "zeta"),
                                                     "--node", str(tmp_path / "zn")).stdout  # fmt: skip
    submitted = gusu.json(
        "node", "join", "--org", str(tmp_path / "zeta"), "--node", str(tmp_path / "zn"), "--validator",
        "--submit", "--key", str(dev_key),
    )  # fmt: skip
    assert [item["kind"] for item in submitted["submitted"]] == ["add_organization"]
    assert submitted["submitted"][0]["status"] == "pending" and submitted["power"] == 1

    # acme's weight changes only with acme's own approval, on top of the majority.
    update = gusu.json(
        "gov", "propose", "update-organization", "--bundle", str(bundle), "--weight", "2", "--key", str(dev_key)
    )  # fmt: skip
    assert update["status"] == "pending" and update["kind"] == "update_organization" and update["args"][3] == 2
    assert gusu.json("gov", "vote", str(update["id"]), "--approve", "--org", str(tmp_path / "acme"))["status"] == (
        "approved"
    )
    weights = {item["name"]: item["weight"] for item in gusu.json("org", "list")["organizations"]}
    assert weights["acme"] == 2
    # Without --weight the chain's weight is kept: the same bundle again changes nothing and is refused.
    same = gusu.run("gov", "propose", "update-organization", "--bundle", str(bundle), "--key", str(dev_key),
                    check=False)  # fmt: skip
    assert same.returncode == 1 and "changes nothing" in same.stderr


def _passphrase(tmp_path: Path) -> Path:
    path = tmp_path / "stranger.pass"
    path.write_text("correct horse battery staple\n")
    return path
