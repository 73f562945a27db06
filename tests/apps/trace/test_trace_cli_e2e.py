"""`gusu trace` for every actor against a real local chain (one node process), including the hostile paths."""

from __future__ import annotations

import csv
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
PASSPHRASE = "trace test passphrase"
ACTORS = ("brand", "packer", "qc", "carrier", "shop", "consumer", "mallory")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gusu:
    def __init__(self, home: Path, endpoint: str) -> None:
        self.env = {**os.environ, "GUSU_HOME": str(home), "GUSU_ENDPOINT": endpoint, "GUSU_KEYFILE_SCRYPT_N": "1024",
                    "GUSU_PASSPHRASE": PASSPHRASE}  # fmt: skip

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

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def refused(self, *args: str, match: str) -> None:
        completed = self.run(*args, check=False)
        assert completed.returncode == 1, completed.stdout
        assert match in completed.stderr, completed.stderr


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


def test_every_actor_through_the_cli(chain: tuple[Gusu, Path], tmp_path: Path) -> None:
    gusu, dev_key = chain
    dev = str(dev_key)
    for name in ACTORS:
        gusu.run("keys", "new", name)

    # Regulator: the contract is deployed from source once governance approved its code hash.
    gusu.refused("trace", "setup", "--key", dev, match="gusu gov propose approve-contract --code-hash")
    source = tmp_path / "trace.py"
    source.write_text(gusu.json("trace", "source")["source"], encoding="utf-8")
    code_hash = gusu.json("contract", "hash", str(source))["code_hash"]
    gusu.json("gov", "propose", "approve-contract", "--code-hash", code_hash, "--key", dev)
    assert gusu.json("trace", "setup", "--key", dev)["code_hash"] == code_hash
    gusu.json("trace", "brand", "register", "yangcheng", "--name", "阳澄湖大闸蟹", "--owner", "brand",
              "--credit-code", "91320500MA1XXXXXXX", "--key", dev)  # fmt: skip
    gusu.refused("trace", "brand", "register", "fake", "--name", "x", "--owner", "mallory", "--key", "mallory",
                 match="only a regulator")  # fmt: skip

    # Brand: roles, product, codes.
    for role, account in (("packer", "packer"), ("qc", "qc"), ("logistics", "carrier"), ("retailer", "shop")):
        gusu.json("trace", "role", "yangcheng", role, account, "--key", "brand")
    gusu.json("trace", "product", "register", "yangcheng", "crab", "--name", "Hairy crab", "--gtin", "06901234567892",
              "--qc-level", "2", "--shelf-life-days", "30", "--key", "brand")  # fmt: skip
    issued = gusu.json("trace", "codes", "issue", "yangcheng", "S1", "--count", "12", "--out", str(tmp_path / "codes"),
                       "--url", "http://console.example/trace", "--key", "brand")  # fmt: skip
    with open(issued["file"], encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 12 and len(list((tmp_path / "codes" / "qr").glob("*.svg"))) == 12
    assert issued["first_index"] == 0 and rows[0]["url"].startswith("http://console.example/trace?c=GT1.yangcheng.S1.")
    more = gusu.json("trace", "codes", "issue", "yangcheng", "S1", "--count", "2", "--out", str(tmp_path / "codes"),
                     "--key", "brand")  # fmt: skip
    with open(issued["file"], encoding="utf-8") as file:
        assert more["first_index"] == 12 and [row["index"] for row in csv.DictReader(file)][-2:] == ["12", "13"]
    payload = rows[0]["payload"]

    # Packer, QC, custody with both signatures.
    gusu.json("trace", "pack", "B1", "--product", "crab", "--code-set", "S1", "--quantity", "10", "--date",
              "2026-10-01", "--key", "packer")  # fmt: skip
    gusu.refused("trace", "ship", "B1", "--to", "carrier", "--key", "packer", match="after passing QC")
    report = tmp_path / "qc-report.pdf"
    report.write_bytes(b"%PDF-1.4 inspection: all crabs alive\n")
    gusu.json("trace", "qc", "B1", "--level", "2", "--pass", "--report", str(report), "--key", "qc")
    gusu.json("trace", "ship", "B1", "--to", "carrier", "--key", "packer")
    gusu.refused("trace", "receive", "B1", "--key", "mallory", match="not you")
    gusu.json("trace", "receive", "B1", "--key", "carrier")
    gusu.refused("trace", "split", "B1", "B1a:4", "B1b:5", "--key", "carrier", match="must conserve quantity")
    gusu.json("trace", "ship", "B1", "--to", "shop", "--key", "carrier")
    gusu.json("trace", "receive", "B1", "--key", "shop")
    gusu.json("trace", "on-sale", "B1", "--key", "shop")

    # Consumers: the first activating scan, then a copy of the label elsewhere.
    first = gusu.json("trace", "scan", payload, "--location", "Suzhou", "--activate", "--key", "consumer")
    assert first["queries"] == 1 and first["suspect"] is False
    copied = gusu.json("trace", "scan", payload, "--location", "Shenzhen", "--activate", "--key", "mallory")
    assert copied["queries"] == 2 and copied["suspect"] is True
    forged = payload[:-8] + ("00000000" if not payload.endswith("00000000") else "11111111")
    gusu.refused("trace", "scan", forged, "--location", "Suzhou", "--key", "consumer", match="forged")
    brand_key = gusu.json("keys", "show", "brand")["public_key"]
    assert gusu.json("trace", "verify", payload, "--public-key", brand_key)["authentic"] is True
    gusu.refused("trace", "verify", forged, "--public-key", brand_key, match="forged")

    looked_up = gusu.json("trace", "lookup", payload)
    assert looked_up["authentic"] and looked_up["suspect"] and looked_up["queries"] == 2
    assert [event["event"] for event in looked_up["timeline"]][:2] == ["packed", "qc_passed"]
    assert all(event["transaction_id"].startswith("0x") for event in looked_up["timeline"])
    assert [scan["location"] for scan in looked_up["scans"]] == ["Suzhou", "Shenzhen"]

    # Retailer: overselling raises the mass-balance alert; the regulator recalls; the export.
    sold = gusu.json("trace", "sales", "B1", "11", "--key", "shop")
    assert [event["name"] for event in sold["events"]] == ["MassBalanceAlert", "SalesReported"]
    alerts = gusu.json("trace", "alerts")["alerts"]
    assert [(alert["kind"], alert["batch"]) for alert in alerts] == [("suspect", "B1"), ("mass_balance", "B1")]
    gusu.refused("trace", "recall", "B1", "--reason", "x", "--key", "mallory", match="only the brand's owner")
    gusu.json("trace", "recall", "B1", "--reason", "temperature excursion", "--key", dev)
    assert gusu.json("trace", "lookup", payload)["recalled"] is True
    shown = gusu.json("trace", "batch", "B1")
    assert shown["recalled"] and shown["mass_balance_alert"] and shown["history"][-1]["event"] == "recalled"
    exported = gusu.json("trace", "export", "B1", "--format", "csv", "--output", str(tmp_path / "b1.csv"))
    assert exported["records"] == len(shown["history"])
    text = (tmp_path / "b1.csv").read_text(encoding="utf-8")
    assert text.startswith("trace_code/追溯码,") and "91320500MA1XXXXXXX" in text
    assert json.loads(gusu.run("trace", "export", "B1").stdout)["standard"] == "GB/T 38154-2019"

    # Lists and expiry: the product's batches; the brand brings B1's expiry forward to a past block time.
    listed = gusu.json("trace", "batches", "crab")
    assert listed["total"] == 1 and listed["batches"][0]["batch"] == "B1"
    assert listed["batches"][0]["status"] == "on_sale" and listed["batches"][0]["expires"] is not None
    gusu.refused("trace", "expiry", "B1", "--at", "1", "--key", "mallory", match="only the owner of brand")
    gusu.refused("trace", "expiry", "B1", "--at", "253402300799999", "--key", "brand", match="never pushed back")
    assert gusu.run("trace", "expiry", "B1", "--at", str(2**62), "--key", "brand", check=False).returncode == 2
    set_expiry = gusu.json("trace", "expiry", "B1", "--at", "1", "--key", "brand")
    assert [event["name"] for event in set_expiry["events"]] == ["ExpirySet"]
    expired = gusu.json("trace", "batches", "crab")["batches"][0]
    assert expired["status"] == "expired" and expired["stored_status"] == "on_sale"
    assert expired["expires"] == "1970-01-01T00:00:00.001Z"
    assert "EXPIRED" in gusu.run("trace", "batches", "crab").stdout
    assert gusu.json("trace", "batches", "crab", "--start", "5")["batches"] == []
    # The brands and a brand's products (`list_brands`, `list_products`), paged from --start.
    brands = gusu.json("trace", "brands")
    assert (brands["total"], brands["start"], len(brands["brands"])) == (1, 0, 1)
    listed_brand = brands["brands"][0]
    assert (listed_brand["brand"], listed_brand["name"], listed_brand["credit_code"]) == (
        "yangcheng", "阳澄湖大闸蟹", "91320500MA1XXXXXXX",
    )  # fmt: skip
    assert listed_brand["owner"] == gusu.json("keys", "show", "brand")["address"]
    brands_text = gusu.run("trace", "brands").stdout
    assert "1 brands" in brands_text and "yangcheng  阳澄湖大闸蟹" in brands_text
    assert gusu.json("trace", "brands", "--start", "1")["brands"] == []
    gusu.json("trace", "product", "register", "yangcheng", "roe", "--name", "Crab roe", "--key", "brand")
    products = gusu.json("trace", "products", "--brand", "yangcheng")
    assert products["total"] == 2 and [row["product"] for row in products["products"]] == ["crab", "roe"]
    assert products["products"][0] == {"product": "crab", "name": "Hairy crab", "gtin": "06901234567892",
                                       "qc_level_required": 2, "shelf_life_days": 30}  # fmt: skip
    second = gusu.json("trace", "products", "--brand", "yangcheng", "--start", "1")
    assert second["start"] == 1 and [row["product"] for row in second["products"]] == ["roe"]
    text = gusu.run("trace", "products", "--brand", "yangcheng").stdout
    assert "2 products of yangcheng" in text and "crab  Hairy crab  GTIN 06901234567892  QC level 2" in text
    assert gusu.json("trace", "products", "--brand", "nobody") == {"brand": "nobody", "total": 0, "start": 0,
                                                                    "products": []}  # fmt: skip
    assert gusu.run("trace", "products", check=False).returncode == 2, "--brand is required"
    assert gusu.run("trace", "brands", "--start", "-1", check=False).returncode == 2
