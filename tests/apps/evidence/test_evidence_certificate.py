"""The offline verifier and the PDF, on a certificate a real node issued (data/, made by the e2e test's flow):
every check passes on the genuine certificate and each kind of tampering fails the check it should."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from evidence_helpers import require_tool

from gusu.apps.evidence.certificate import parse_certificate, verify_certificate
from gusu.apps.evidence.pdf import extract_certificate, load_certificate_file, render_certificate_pdf
from gusu.errors import ClientError
from gusu.ledger.genesis import load_genesis

DATA = Path(__file__).with_name("data")
CERTIFICATE: dict[str, Any] = parse_certificate((DATA / "certificate.json").read_text())
VALIDATORS = load_genesis(DATA / "genesis.json").validators
CONTENT = (DATA / "contract.txt").read_bytes()
BLOCK_HASH = bytes.fromhex(CERTIFICATE["proof"]["block_hash"][2:])


def _problems(document: dict[str, Any], **kwargs: Any) -> list[str]:
    verification = verify_certificate(document, **kwargs)
    return [f"{check.name}: {check.problem}" for check in verification.checks if check.problem is not None]


def test_the_genuine_certificate_verifies_against_block_hash_validators_and_content() -> None:
    verification = verify_certificate(
        CERTIFICATE, trusted_block_hash=BLOCK_HASH, validators=VALIDATORS, content=CONTENT
    )
    assert verification.is_valid, verification.checks
    assert len(verification.checks) == 5
    assert verification.record is not None and verification.record.number == 1
    assert [item.kind for item in verification.record.attestations] == ["notary", "court"]


def test_without_an_anchor_nothing_is_valid() -> None:
    verification = verify_certificate(CERTIFICATE, content=CONTENT)
    assert all(check.problem is None for check in verification.checks)
    assert not verification.is_valid


def test_another_file_does_not_match() -> None:
    problems = _problems(CERTIFICATE, validators=VALIDATORS, content=CONTENT + b" ")
    assert len(problems) == 1 and "not the recorded content" in problems[0]


def test_a_wrong_trusted_block_hash_is_caught() -> None:
    problems = _problems(CERTIFICATE, trusted_block_hash=bytes(32))
    assert len(problems) == 1 and "not the trusted block" in problems[0]


def test_edited_statements_are_caught() -> None:
    edited = copy.deepcopy(CERTIFICATE)
    edited["record"]["attestations"].append(dict(edited["record"]["attestations"][0], organization="Fake Court"))
    problems = _problems(edited, validators=VALIDATORS)
    assert len(problems) == 1 and "attestations" in problems[0]


def test_an_edited_proven_value_breaks_the_proof() -> None:
    edited = copy.deepcopy(CERTIFICATE)
    value = edited["proof"]["value"]
    edited["proof"]["value"] = value[:-2] + ("00" if value[-2:] != "00" else "01")
    problems = _problems(edited, trusted_block_hash=BLOCK_HASH, validators=VALIDATORS)
    assert any("trusted block" in problem for problem in problems)
    assert any("genesis validators" in problem for problem in problems)


def test_other_validators_do_not_certify_the_block() -> None:
    from gusu.crypto import get_suite
    from gusu.ledger.genesis import GenesisValidator
    from gusu.ledger.types import Address

    suite = get_suite("sm")
    stranger = suite.generate_private_key()
    address = Address(suite.compute_address(stranger.public_key))
    impostors = [GenesisValidator("x", address, stranger.public_key, 10, "org0")]
    problems = _problems(CERTIFICATE, validators=impostors)
    assert len(problems) == 1 and "genesis validators" in problems[0]


def test_a_proof_of_another_contract_or_key_is_refused() -> None:
    edited = copy.deepcopy(CERTIFICATE)
    edited["contract"] = "evidence"
    assert any("contract" in problem for problem in _problems(edited, trusted_block_hash=BLOCK_HASH))


def test_the_salted_certificate_needs_its_salt() -> None:
    salted = parse_certificate((DATA / "salted-certificate.json").read_text())
    phone = (DATA / "phone.txt").read_bytes()
    assert verify_certificate(salted, validators=VALIDATORS, content=phone).is_valid
    unsalted = dict(salted, salt=None)
    assert not verify_certificate(unsalted, validators=VALIDATORS, content=phone).is_valid


def test_parse_refuses_what_is_not_a_certificate() -> None:
    with pytest.raises(ClientError, match="not a Gusu evidence certificate"):
        parse_certificate(json.dumps({"format": "something"}))
    with pytest.raises(ClientError, match="not JSON"):
        parse_certificate("{")
    with pytest.raises(ClientError, match="carries no Gusu evidence certificate"):
        extract_certificate(b"%PDF-1.4 nothing here")


def test_the_pdf_carries_the_certificate_and_renders_with_a_readable_qr(tmp_path: Path) -> None:
    from PIL import Image

    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(render_certificate_pdf(CERTIFICATE))
    assert load_certificate_file(pdf) == CERTIFICATE
    pdftoppm = require_tool("pdftoppm")
    zbarimg = require_tool("zbarimg")
    subprocess.run([pdftoppm, "-png", "-r", "150", "-singlefile", str(pdf), str(tmp_path / "page")], check=True,
                   timeout=60)  # fmt: skip
    png = tmp_path / "page.png"
    with Image.open(png) as image:
        gray = image.convert("L")
        dark = sum(gray.histogram()[:128]) / (gray.width * gray.height)
        # The title's Chinese characters are drawn (not blank boxes): the title strip has ink.
        title = gray.crop((0, 0, gray.width, gray.height // 12))
        title_dark = sum(title.histogram()[:128]) / (title.width * title.height)
    assert 0.01 < dark < 0.5, f"the page is blank or black: {dark:.3f} dark"
    assert title_dark > 0.005
    decoded = subprocess.run([zbarimg, "--quiet", "--raw", str(png)], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    assert decoded.stdout.strip() == CERTIFICATE["verification_url"]
