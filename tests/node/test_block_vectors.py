"""The published conformance vectors (tests/vectors/*.json) still hold for this code.

Each file is only CHECKED here, never regenerated: SM2 signatures are
randomized, and a vector that the test rewrote could never fail. The check
replays the file's chain through the real block rules, executor,
certificate verifier and suite, and compares every verdict, stage, hash and
root. When an encoding or the genesis format changes on purpose, the failure
says to run `python -m gusu.eval.vectors write tests/vectors`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gusu.crypto import SUITE_NAMES
from gusu.eval.vectors import (
    KINDS,
    WRITE_COMMAND,
    check_document,
    check_vector_file,
    get_file_name,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _load(kind: str, suite_name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / get_file_name(kind, suite_name)).read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("suite_name", SUITE_NAMES)
@pytest.mark.parametrize("kind", KINDS)
def test_vector_file_conforms(kind: str, suite_name: str) -> None:
    problems = check_vector_file(VECTORS, kind, suite_name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("suite_name", SUITE_NAMES)
def test_vectors_cover_every_rule(suite_name: str) -> None:
    """The files hold what docs/vectors.md promises: each broken rule once, and valid cases of each kind."""
    blocks = _load("blocks", suite_name)
    names = {candidate["name"] for candidate in blocks["candidates"]}
    assert {
        "valid",
        "wrong_chain",
        "wrong_height",
        "wrong_parent",
        "wrong_validators_hash",
        "proposer_not_validator",
        "time_not_after_parent",
        "time_past_max",
        "transaction_count_mismatch",
        "duplicate_transaction",
        "replayed_transaction",
        "transaction_expired",
        "transaction_too_far_ahead",
        "wrong_chain_transaction",
        "too_many_transactions",
        "too_many_bytes",
        "malformed_transaction",
        "invalid_signature",
        "wrong_transactions_root",
        "wrong_receipts_root",
        "wrong_state_root",
    } <= names
    assert len(blocks["chain"]) >= 3
    receipts = [receipt for block in blocks["chain"] for receipt in block["expected"]["receipts"]]
    assert {receipt["status"] for receipt in receipts} == {0, 1}, "the chain needs succeeding and failing transactions"
    transactions = {vector["verdict"] for vector in _load("transactions", suite_name)["vectors"]}
    assert {"valid", "malformed", "bad_signature", "wrong_chain"} <= transactions
    certificates = {vector["name"] for vector in _load("certificates", suite_name)["vectors"]}
    assert {
        "valid_all",
        "forged_signature",
        "signer_not_validator",
        "duplicate_signer",
        "too_little_power",
        "wrong_block_hash",
        "signature_wrong_round",
        "signature_wrong_height",
    } <= certificates
    for kind in KINDS:
        assert _load(kind, suite_name)["generated_by"] == WRITE_COMMAND


def test_a_tampered_root_is_reported() -> None:
    """The checker itself can fail: a changed state root in the file is named."""
    document = _load("blocks", "ecdsa")
    expected = document["chain"][0]["expected"]
    expected["state_root"] = "0x" + "00" * 32
    problems = check_document("blocks", "ecdsa", document)
    assert any("chain block 1.state_root" in problem for problem in problems), problems


def test_a_flipped_verdict_is_reported() -> None:
    document = _load("certificates", "sm")
    vector = next(item for item in document["vectors"] if item["name"] == "too_little_power")
    vector["verdict"], vector["error"] = "valid", ""
    problems = check_document("certificates", "sm", document)
    assert any("certificate too_little_power.verdict" in problem for problem in problems), problems


def test_a_changed_genesis_says_to_regenerate(tmp_path: Path) -> None:
    """What the lead sees after changing the genesis format: the file is stale, and the command to fix it."""
    document = _load("transactions", "sm")
    document["genesis"]["validators"][0]["name"] = "renamed"
    (tmp_path / get_file_name("transactions", "sm")).write_text(json.dumps(document), encoding="utf-8")
    problems = check_vector_file(tmp_path, "transactions", "sm")
    assert "genesis" in problems[0] and WRITE_COMMAND in problems[-1]


def test_a_missing_file_fails_with_the_command(tmp_path: Path) -> None:
    problems = check_vector_file(tmp_path, "blocks", "ecdsa")
    assert "missing" in problems[0] and WRITE_COMMAND in problems[-1]
