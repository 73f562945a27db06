"""The evidence service end to end against a real node process, through `gusu evidence ...`:
setup -> witnesses -> submit (and again: the same record) -> attest to the threshold -> show -> certificate
(PDF rendered to an image: not blank, its QR code decodes to the verification URL) -> offline verification
(trusted block hash, genesis validators, the file; tampering caught) -> evidence package -> supersede.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from evidence_helpers import COMMAND_TIMEOUT_S, Gusu, free_port, require_tool

from gusu.apps.evidence.package import check_manifest
from gusu.apps.evidence.pdf import extract_certificate

pytestmark = pytest.mark.e2e

PASSPHRASE = "witness passphrase"


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Gusu, dict[str, str]]]:
    port = free_port()
    work = tmp_path / "work"
    work.mkdir()
    gusu = Gusu(tmp_path / "home", f"http://127.0.0.1:{port}", work)
    layout = gusu.json("chain", "init", "--dir", str(tmp_path / "chain"), "--port", str(port), "--workers", "0")
    gusu.json("node", "start", "--dir", layout["node_directory"], "--detach")
    try:
        yield gusu, layout
    finally:
        gusu.run("node", "stop", "--dir", layout["node_directory"], check=False)


def check_pdf_renders(pdf: Path, expected_url: str) -> None:
    """Render the PDF's page to PNG with poppler: the page is not blank and its QR code reads `expected_url`."""
    from PIL import Image

    pdftoppm = require_tool("pdftoppm")
    zbarimg = require_tool("zbarimg")
    prefix = pdf.with_suffix("")
    subprocess.run([pdftoppm, "-png", "-r", "150", "-singlefile", str(pdf), str(prefix)], check=True, timeout=60)
    png = prefix.with_suffix(".png")
    with Image.open(png) as image:
        gray = image.convert("L")
        histogram = gray.histogram()
        dark = sum(histogram[:128])
        total = gray.width * gray.height
    assert 0.01 < dark / total < 0.5, f"the rendered certificate is blank or black: {dark / total:.3f} dark"
    decoded = subprocess.run([zbarimg, "--quiet", "--raw", str(png)], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.strip() == expected_url


def test_evidence_service_end_to_end(chain: tuple[Gusu, dict[str, str]], tmp_path: Path) -> None:
    gusu, layout = chain
    dev = layout["dev_key"]
    passphrase_file = tmp_path / "pass.txt"
    passphrase_file.write_text(PASSPHRASE + "\n")
    pf = ["--passphrase-file", str(passphrase_file)]

    # Setup on a governed chain: the contract's code hash is approved by the dev organisation's proposal.
    setup = gusu.json("evidence", "setup", "--threshold", "2", "--key", dev)
    assert setup["contract"] == "evidence_service" and setup["approval_proposal"] is not None
    witnesses = {}
    for name, organization, kind in (
        ("notary", "苏州公证处", "notary"),
        ("court", "Suzhou Internet Court", "court"),
        ("mallory", "", ""),
    ):
        witnesses[name] = gusu.json("keys", "new", name, *pf)["address"]
        if kind:
            gusu.json("evidence", "witness", "add", witnesses[name], "--organization", organization, "--kind", kind,
                      "--key", dev)  # fmt: skip

    # 存证
    document = gusu.cwd / "contract.txt"
    document.write_text("租赁合同 lease agreement, signed 2026-03-01, between A and B; monthly rent 5,000 yuan.\n")
    submitted = gusu.json("evidence", "submit", str(document), "--title", "lease", "--description", "lease scan",
                          "--key", dev)  # fmt: skip
    assert submitted["record_id"] == "EV-00000001" and submitted["new"] is True and submitted["salt_file"] is None
    again = gusu.json("evidence", "submit", str(document), "--key", dev)
    assert again["record"] == 1 and again["new"] is False

    # A short, guessable text is salted by default.
    phone = gusu.cwd / "phone.txt"
    phone.write_text("13800138000")
    salted = gusu.json("evidence", "submit", str(phone), "--key", dev)
    assert salted["record"] == 2 and salted["salt_file"] == str(phone) + ".salt"

    # Witnesses: a non-witness is refused; two organisations reach the threshold.
    refused = gusu.run("evidence", "attest", "EV-00000001", "--key", "mallory", *pf, check=False)
    assert refused.returncode == 1 and "not a designated witness" in refused.stderr
    first = gusu.json("evidence", "attest", "1", "--key", "notary", *pf)
    assert first == {"record": 1, "attestations": 1, "witnessed": False}
    twice = gusu.run("evidence", "attest", "1", "--key", "notary", *pf, check=False)
    assert twice.returncode == 1 and "already attested" in twice.stderr
    assert gusu.json("evidence", "attest", "1", "--key", "court", *pf)["witnessed"] is True

    # 取证
    shown = gusu.json("evidence", "show", "EV-00000001")
    assert shown["found"] is True and shown["witnessed_height"] > 0 and shown["description"] == "lease scan"
    assert [item["organization"] for item in shown["attestations"]] == ["苏州公证处", "Suzhou Internet Court"]
    assert gusu.json("evidence", "show", "--file", str(document))["number"] == 1
    assert gusu.run("evidence", "show", "99", check=False).returncode == 1

    # 出证
    pdf = gusu.cwd / "cert.pdf"
    made = gusu.json(
        "evidence", "certificate", "1", "--output", str(pdf), "--verify-base-url", "https://verify.example"
    )
    certificate = json.loads((gusu.cwd / "cert.json").read_text())
    assert certificate["record"]["attestations"][1]["kind"] == "court"
    assert extract_certificate(pdf.read_bytes()) == certificate
    url = "https://verify.example/evidence/verify?record=EV-00000001"
    assert certificate["verification_url"] == url
    check_pdf_renders(pdf, url)

    # 核验, offline: against the block hash from the node's block listing (what another member would give).
    block = gusu.json("block", "show", str(made["proof_height"]))
    block_hash = block["hash"] if "hash" in block else block["block_hash"]
    assert block_hash == made["proof_block_hash"]
    offline = gusu.env | {"GUSU_ENDPOINT": "http://127.0.0.1:9"}  # no node: the verifier must not need one
    for target in (pdf, gusu.cwd / "cert.json"):
        completed = subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", "evidence", "verify-certificate", str(target), "--file",
             str(document), "--block-hash", block_hash, "--genesis", layout["genesis"], "--json"],
            env=offline, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout + completed.stderr
        assert json.loads(completed.stdout)["valid"] is True
    # The wrong file, a wrong block hash, no anchor, and a certificate whose stated record was edited: all refused.
    assert gusu.run("evidence", "verify-certificate", str(pdf), "--file", str(phone), "--genesis", layout["genesis"],
                    check=False).returncode == 1  # fmt: skip
    wrong = gusu.run("evidence", "verify-certificate", str(pdf), "--block-hash", "0x" + "11" * 32, check=False)
    assert wrong.returncode == 1 and "not the trusted block" in wrong.stdout
    assert gusu.run("evidence", "verify-certificate", str(pdf), check=False).returncode == 1
    edited = dict(certificate, record=dict(certificate["record"], organization="Someone Else"))
    edited_path = gusu.cwd / "edited.json"
    edited_path.write_text(json.dumps(edited))
    tampered = gusu.json("evidence", "verify-certificate", str(edited_path), "--genesis", layout["genesis"],
                         check=False)  # fmt: skip
    assert tampered["valid"] is False and any("organization" in (c["problem"] or "") for c in tampered["checks"])

    # The salted record verifies with its salt, which the certificate carries.
    gusu.json("evidence", "certificate", "2", "--output", str(gusu.cwd / "phone-cert.pdf"),
              "--salt-file", salted["salt_file"])  # fmt: skip
    verified = gusu.json("evidence", "verify-certificate", str(gusu.cwd / "phone-cert.json"), "--file", str(phone),
                         "--genesis", layout["genesis"])  # fmt: skip
    assert verified["valid"] is True

    # The package for a court.
    package = gusu.json("evidence", "export-package", "1", "--output", str(gusu.cwd / "package"),
                        "--genesis", layout["genesis"])  # fmt: skip
    assert {"certificate.pdf", "proofs/state-proof.json", "proofs/transaction-proof.json", "chain/genesis.json",
            "chain/organizations.json", "manifest.json"} <= set(package["files"])  # fmt: skip
    assert Path(package["archive"]).is_file()
    assert check_manifest(gusu.cwd / "package") == []
    (gusu.cwd / "package" / "record.json").write_text("{}")
    assert check_manifest(gusu.cwd / "package") == ["record.json differs from the manifest"]

    # A correction supersedes; someone else cannot supersede the record.
    corrected = gusu.cwd / "contract-v2.txt"
    corrected.write_text(document.read_text() + "Amendment: rent 4,800 yuan.\n")
    foreign = gusu.run("evidence", "supersede", "1", str(corrected), "--key", "mallory", *pf, check=False)
    assert foreign.returncode == 1 and "only the record's submitter" in foreign.stderr
    superseding = gusu.json("evidence", "supersede", "1", str(corrected), "--key", dev)
    assert superseding == {"record": 3, "record_id": "EV-00000003", "supersedes": 1}
    old = gusu.json("evidence", "show", "1")
    assert old["superseded_by"] == 3 and old["latest"] == 3
    assert gusu.json("evidence", "show", "3")["supersedes"] == 1

    # 取证 by submitter: `gusu evidence list` pages the dev key's three records, newest first.
    listed = gusu.json("evidence", "list", "--submitter", dev, "--page-size", "2")
    assert (listed["total"], listed["page"], listed["pages"]) == (3, 1, 2)
    assert [item["record_id"] for item in listed["records"]] == ["EV-00000003", "EV-00000002"]
    assert listed["indexed"] == listed["records_on_chain"] == 3
    older = gusu.json("evidence", "list", "--submitter", dev, "--page-size", "2", "--page", "2")
    assert [item["number"] for item in older["records"]] == [1] and older["records"][0]["superseded_by"] == 3
    assert gusu.json("evidence", "list", "--submitter", dev, "--page", "9")["records"] == []
    text = gusu.run("evidence", "list", "--submitter", dev).stdout
    assert "3 records, page 1 of 1" in text and "EV-00000001" in text and "superseded by EV-00000003" in text
    organization = gusu.json("evidence", "list", "--organization", shown["organization"])
    assert organization["total"] == (3 if shown["organization"] else 0)
    assert gusu.json("evidence", "list", "--submitter", witnesses["mallory"])["total"] == 0
    # Refused before any request: no owner, both owners, a page out of range, a page too large.
    for bad in (
        (),
        ("--submitter", dev, "--organization", "x"),
        ("--submitter", dev, "--page", "0"),
        ("--submitter", dev, "--page-size", "9"),
        ("--submitter", "not-a-key"),
    ):
        completed = gusu.run("evidence", "list", *bad, check=False)
        assert completed.returncode in (1, 2) and "error" in completed.stderr.lower(), (bad, completed.stderr)
