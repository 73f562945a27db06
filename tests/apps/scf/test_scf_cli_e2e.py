"""`gusu scf` end to end on a real local chain (a node process), every actor through the CLI, plus the SDK.

The chain is `gusu chain init`'s governed one-organisation chain: `gusu scf setup` proposes the code's
approval (decided at once by the only organisation) and deploys the contract from its source.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gusu.apps.scf.client import ScfApp, TradeDocuments, compute_invoice_key
from gusu.crypto import get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.sdk import Client, Contracts

pytestmark = pytest.mark.e2e

COMMAND_TIMEOUT_S = 90
ACTORS = ("mia", "chen", "tom", "tina", "ben", "rex")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gusu:
    def __init__(self, home: Path, endpoint: str, passphrase_file: Path) -> None:
        self.endpoint = endpoint
        self.passphrase_file = passphrase_file
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

    def scf(self, actor: str, *args: str, app: str = "scf") -> Any:
        """`gusu scf --app APP ARGS --key ACTOR --json`."""
        return self.json("scf", "--app", app, *args, "--key", actor, "--passphrase-file", str(self.passphrase_file))

    def refused(self, actor: str, *args: str, app: str = "scf") -> str:
        key = ["--key", actor, "--passphrase-file", str(self.passphrase_file)]
        completed = self.run("scf", "--app", app, *args, *key, check=False)
        assert completed.returncode == 1, completed.stdout
        return completed.stderr


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gusu, Path]]:
    """One node for the module (starting one takes seconds); each test deploys its own scf instance."""
    tmp_path = tmp_path_factory.mktemp("scf-e2e")
    port = _free_port()
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("scf actors passphrase\n")
    gusu = Gusu(tmp_path / "home", f"http://127.0.0.1:{port}", passphrase)
    layout = gusu.json("chain", "init", "--dir", str(tmp_path / "chain"), "--port", str(port), "--workers", "0")
    gusu.json("node", "start", "--dir", layout["node_directory"], "--detach")
    try:
        for actor in ACTORS:
            gusu.json("keys", "new", actor, "--passphrase-file", str(gusu.passphrase_file))
        yield gusu, Path(layout["dev_key"])
    finally:
        gusu.run("node", "stop", "--dir", layout["node_directory"], check=False)


def test_every_actor_through_the_cli(chain: tuple[Gusu, Path], tmp_path: Path) -> None:
    gusu, dev_key = chain
    operator = str(dev_key)
    dev_pass = dev_key.with_suffix(".pass")

    def op(*args: str) -> Any:
        return gusu.json("scf", *args, "--key", operator, "--passphrase-file", str(dev_pass))

    setup = op("setup")
    # The chain's one organisation proposes the code's approval and its own vote decides it at once.
    assert setup["deployed"] is True and setup["already_deployed"] is False
    assert op("setup")["already_deployed"] is True
    for enterprise, kind in [("acme", "core"), ("tier1", "supplier"), ("tier2", "supplier"), ("bank", "funder"),
                             ("cbirc", "regulator")]:  # fmt: skip
        op("admit", enterprise, "--kind", kind, "--name", f"{enterprise} 有限公司")
    roles = [("mia", "acme", "maker"), ("chen", "acme", "checker"), ("tom", "tier1", "user"),
             ("tina", "tier2", "user"), ("ben", "bank", "user"), ("rex", "cbirc", "user")]  # fmt: skip
    for actor, enterprise, role in roles:
        op("account", actor, enterprise, "--role", role)
    members = gusu.json("scf", "members")["members"]
    assert [m["enterprise"] for m in members] == ["acme", "tier1", "tier2", "bank", "cbirc"]

    contract_file = tmp_path / "purchase-contract.pdf"
    contract_file.write_bytes(b"%PDF purchase contract acme/tier1")
    delivery_file = tmp_path / "goods-receipt.pdf"
    delivery_file.write_bytes(b"%PDF goods receipt")
    docs = ["--contract", str(contract_file), "--delivery", str(delivery_file)]

    # Issuer: the maker drafts, the maker cannot approve, the checker does; a term over the cap is refused.
    assert "exceeds 183 days" in gusu.refused("mia", "draft", "tier1", "--face", "1000", "--receivable", "1000",
                                              "--days", "200", "--invoice", "044002:00000001", *docs)  # fmt: skip
    drafted = gusu.scf("mia", "draft", "tier1", "--face", "1,000,000.00", "--receivable", "1200000", "--days", "90",
                       "--invoice", "044002:00000001", *docs)  # fmt: skip
    root = drafted["voucher_id"]
    assert [v["voucher_id"] for v in gusu.json("scf", "queue", "acme")["vouchers"]] == [root]
    assert "maker cannot approve" in gusu.refused("mia", "approve", str(root))
    gusu.scf("chen", "approve", str(root))
    gusu.scf("tom", "accept", str(root))
    assert "irrevocable" in gusu.refused("mia", "cancel", str(root))

    # Holder: transfer down a tier against its own invoice; to a non-member refused; split conserving.
    assert "not an admitted member" in gusu.refused("tom", "transfer", str(root), "nobody", "--amount", "1",
                                                    "--invoice", "044002:00000099", *docs)  # fmt: skip
    assert "only the holder" in gusu.refused("tina", "transfer", str(root), "tier2", "--amount", "1",
                                             "--invoice", "044002:00000098", *docs)  # fmt: skip
    moved = gusu.scf("tom", "transfer", str(root), "tier2", "--amount", "300000.50", "--invoice", "044002:00000002",
                     *docs)  # fmt: skip
    child = moved["child_id"]
    assert "more than the" in gusu.refused("tina", "split", str(child), "--amount", "300000", "--amount", "1")
    parts = gusu.scf("tina", "split", str(child), "--amount", "100000", "--amount", "50000")["child_ids"]
    lineage = gusu.json("scf", "lineage", str(parts[0]))["vouchers"]
    assert [v["voucher_id"] for v in lineage] == [root, child, parts[0]]
    assert gusu.json("scf", "show", str(root))["available_fen"] == 1_000_000_00 - 300_000_50

    # Funder: offer (cost fixed on chain), the holder sees and accepts it, the 中登网 number is recorded.
    offer = gusu.scf("ben", "offer", str(root), "--amount", "600000", "--rate", "4.50", "--fees", "1000")
    assert offer["interest_fen"] == 665_753 and offer["total_cost_fen"] == 665_753 + 1000_00
    assert "exceeds the" in gusu.refused("ben", "offer", str(root), "--amount", "800000", "--rate", "4")
    shown = gusu.json("scf", "offers", str(root))["offers"]
    assert shown[0]["net_fen"] == 600_000_00 - offer["total_cost_fen"]
    assert "read it again" in gusu.refused("tom", "accept-offer", str(offer["offer_id"]), "--cost", "1.00")
    preview = gusu.json("scf", "cost", "--amount", "600000", "--rate", "4.5", "--days", "90", "--fees", "1000")
    assert preview["total_cost_fen"] == offer["total_cost_fen"]
    accepted = gusu.scf("tom", "accept-offer", str(offer["offer_id"]), "--cost", "7657.53")
    gusu.scf("ben", "register", str(offer["offer_id"]), "04552611000123456789")
    financed = gusu.json("scf", "show", str(accepted["financed_voucher_id"]))
    assert financed["holder"] == "bank" and financed["status"] == "held"
    # The same invoice cannot be financed twice.
    assert "重复融资" in gusu.refused("ben", "offer", str(root), "--amount", "1", "--rate", "4")

    # The regulator's view: one outstanding voucher of acme, 90 days.
    issuers = gusu.json("scf", "issuers")["issuers"]
    assert issuers[0]["issuer"] == "acme" and issuers[0]["outstanding_face_fen"] == 1_000_000_00
    assert issuers[0]["average_term_days"] == 90
    mine = gusu.json("scf", "mine", "--account", "tina")["vouchers"]
    assert {v["voucher_id"] for v in mine} == {child, *parts}
    human = gusu.run("scf", "issuers").stdout
    assert "acme" in human and "1,000,000.00" in human


def test_settlement_through_the_sdk_and_cli(chain: tuple[Gusu, Path], tmp_path: Path) -> None:
    """A voucher with a three-second term, issued by the SDK, settled by the CLI; transfer after it refused."""
    gusu, dev_key = chain
    operator = decrypt_key_file(dev_key.read_bytes(), dev_key.with_suffix(".pass").read_text().strip())
    keys = {}
    for actor in ("mia", "chen", "tom", "tina"):
        path = Path(gusu.env["GUSU_HOME"]) / "keys" / f"{actor}.json"
        keys[actor] = decrypt_key_file(path.read_bytes(), gusu.passphrase_file.read_text().strip())
    with Client(gusu.endpoint) as client:
        app = ScfApp(Contracts(client), "scf_settle")  # its own instance: this test does not depend on the other
        crypto = get_suite(client.status().suite)
        assert app.setup(operator).deployed
        for enterprise, kind in [("acme", "core"), ("tier1", "supplier"), ("tier2", "supplier")]:
            app.admit_enterprise(operator, enterprise, kind, enterprise)
        for actor, enterprise, role in [("mia", "acme", "maker"), ("chen", "acme", "checker"),
                                        ("tom", "tier1", "user"), ("tina", "tier2", "user")]:  # fmt: skip
            app.set_account(operator, crypto.compute_address(keys[actor].public_key), enterprise, role)
        suite = app.contracts.get_suite()
        documents = TradeDocuments(b"\x01" * 32, compute_invoice_key(suite, "", "25322000000012345678"), b"\x02" * 32)
        maturity = client.status().latest_block_time_ms + 3_000
        root = app.draft(keys["mia"], "tier1", 500_00, maturity, 500_00, documents)
        app.approve(keys["chen"], root)
        app.accept(keys["tom"], root)
        child = app.transfer(
            keys["tom"], root, "tier2", 200_00, TradeDocuments(b"\x03" * 32, b"\x04" * 32, b"\x05" * 32)
        )
        assert [v.voucher_id for v in app.get_lineage(child)] == [root, child]
        deadline = time.monotonic() + 30
        while client.status().latest_block_time_ms < maturity and time.monotonic() < deadline:
            time.sleep(0.5)
    settled = gusu.scf("mia", "settle", str(root), "--reference", "CMB-2026-000123", app="scf_settle")
    assert {(p["holder"], p["amount_fen"]) for p in settled["paid"]} == {("tier1", 300_00), ("tier2", 200_00)}
    shown = gusu.json("scf", "--app", "scf_settle", "show", str(child))
    assert shown["settlement"]["payment_reference"] == "CMB-2026-000123"
    hashes = ["--contract", "0x" + "06" * 32, "--delivery", "0x" + "07" * 32]
    assert "settled" in gusu.refused(
        "tina", "transfer", str(child), "tier1", "--amount", "1", "--invoice", "1", *hashes, app="scf_settle"
    )
    # The public check, offline from proofs: against the genesis validators, and against a trusted block hash.
    genesis = Path(gusu.env["GUSU_HOME"]).parent / "chain" / "genesis.json"
    verify = ["scf", "--app", "scf_settle", "verify", str(child), "--face-value", "200.00"]
    checked = gusu.json(*verify, "--holder", "tier2", "--genesis", str(genesis))
    assert checked["valid"] and checked["match"], checked
    assert (checked["issuer"], checked["issuer_name"], checked["status"]) == ("acme", "acme", "settled")
    assert checked["checked_against"] == "genesis validators"
    with Client(gusu.endpoint) as client:
        trusted = "0x" + client.get_block(checked["height"]).block_hash.hex()
    by_hash = gusu.json(*verify, "--block-hash", trusted)
    assert by_hash["match"] and by_hash["height"] == checked["height"] and by_hash["block_hash"] == trusted
    for wrong in (["--face-value", "200.01"], ["--holder", "tier1"]):
        missed = gusu.json(*verify, *wrong, "--genesis", str(genesis), check=False)
        assert missed == {"valid": True, "match": False, "voucher": child, "height": missed["height"],
                          "block_hash": missed["block_hash"], "checked_against": "genesis validators"}  # fmt: skip
    forged = gusu.json(*verify, "--block-hash", "0x" + "ab" * 32, check=False)
    assert forged.get("match") is not True


def test_accept_offer_shows_the_cost_and_asks(chain: tuple[Gusu, Path], tmp_path: Path) -> None:
    """Without --cost, `accept-offer` prints the all-in cost and accepts only on a yes."""
    gusu, dev_key = chain
    operator = decrypt_key_file(dev_key.read_bytes(), dev_key.with_suffix(".pass").read_text().strip())
    keys = {}
    for actor in ("mia", "chen", "tom", "ben"):
        path = Path(gusu.env["GUSU_HOME"]) / "keys" / f"{actor}.json"
        keys[actor] = decrypt_key_file(path.read_bytes(), gusu.passphrase_file.read_text().strip())
    with Client(gusu.endpoint) as client:
        app = ScfApp(Contracts(client), "scf_offer")
        crypto = get_suite(client.status().suite)
        app.setup(operator)
        for enterprise, kind in [("acme", "core"), ("tier1", "supplier"), ("bank", "funder")]:
            app.admit_enterprise(operator, enterprise, kind, enterprise)
        for actor, enterprise, role in [("mia", "acme", "maker"), ("chen", "acme", "checker"),
                                        ("tom", "tier1", "user"), ("ben", "bank", "user")]:  # fmt: skip
            app.set_account(operator, crypto.compute_address(keys[actor].public_key), enterprise, role)
        maturity = client.status().latest_block_time_ms + 30 * 86_400_000
        root = app.draft(keys["mia"], "tier1", 100_000_00, maturity, 100_000_00,
                         TradeDocuments(b"\x11" * 32, b"\x12" * 32, b"\x13" * 32))  # fmt: skip
        app.approve(keys["chen"], root)
        app.accept(keys["tom"], root)
        offer_id = app.offer_financing(keys["ben"], root, 50_000_00, 600, 200_00)
        offer = app.get_offer(offer_id)
        assert offer is not None and offer.status == "offered"

    def answer(reply: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", "scf", "--app", "scf_offer", "accept-offer", str(offer_id),
             "--key", "tom", "--passphrase-file", str(gusu.passphrase_file)],
            env=gusu.env, input=reply, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip

    declined = answer("n\n")
    total = f"{offer.total_cost_fen // 100:,}.{offer.total_cost_fen % 100:02d}"
    assert declined.returncode == 1 and total in declined.stdout and "all-in cost" in declined.stdout
    with Client(gusu.endpoint) as client:
        assert ScfApp(Contracts(client), "scf_offer").get_offer(offer_id).status == "offered"  # type: ignore[union-attr]
    accepted = answer("y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert f"accepted offer {offer_id}" in accepted.stdout
