"""static/sigverify.js under node, held to known answers made by Gusu's Python side.

The console's browser crypto (hash.js's SM3 and keccak-256, sigverify.js's SM2 and secp256k1 ECDSA
verification, the precommit and validator-set encodings, the certificate check) runs in node v20
through tests/console/sigverify_driver.js on vectors from sigverify_cases.py: the standards' hash
vectors, signatures made by gusu.crypto (valid and altered, verdicts from `suite.verify`), and
4-validator commit certificates (verdicts from `verify_commit_signatures`). Without node the test skips,
which fails under CI=true (tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sigverify_cases import (
    HASH_NAMES,
    SUITES,
    make_certificate_cases,
    make_hash_cases,
    make_malformed_answers,
    make_validators,
    make_verify_cases,
    make_z_cases,
)

from gusu.crypto import get_suite
from gusu.ledger.types import Hash, Height, Round, encode_commit_vote
from gusu.ledger.validators import compute_validators_hash

STATIC = Path(__file__).resolve().parents[2] / "src" / "gusu" / "console" / "static"
DRIVER = Path(__file__).resolve().parent / "sigverify_driver.js"
NODE_TIMEOUT_S = 300
STEPS = ("validators", "block", "quorum", "signatures")


def _run_node(cases: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt install nodejs)")
    completed = subprocess.run(
        [node, str(DRIVER)],
        input=json.dumps({"static": str(STATIC), "cases": cases}),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _empty_cases() -> dict[str, Any]:
    return {name: [] for name in ("hashes", "sm2_z", "verify", "commit_votes", "validators_hashes", "certificates")}


def test_hashes_z_and_signatures_match_python() -> None:
    hashes, z_cases, verify_cases = make_hash_cases(), make_z_cases(), make_verify_cases()
    result = _run_node({**_empty_cases(), "hashes": hashes, "sm2_z": z_cases, "verify": verify_cases})
    assert result["hashes"] == [case["expected"] for case in hashes]
    assert result["sm2_z"] == ["0x" + case["expected"] for case in z_cases]
    mismatches = [
        (case["suite"], index, case["expected"])
        for index, (case, verdict) in enumerate(zip(verify_cases, result["verify"], strict=True))
        if verdict != case["expected"]
    ]
    assert mismatches == []
    for suite_name in SUITES:
        verdicts = [case["expected"] for case in verify_cases if case["suite"] == suite_name]
        assert verdicts.count(True) >= 3 and verdicts.count(False) >= 30, suite_name  # both kinds exercised


def test_vote_and_validator_set_encodings_match_python() -> None:
    votes = [
        {"chain_id": "gusu-local", "height": 1, "round": 0, "block_hash": "0x" + "11" * 32, "timestamp_ms": 0},
        {
            "chain_id": "链" * 20,
            "height": 2**40,
            "round": 300,
            "block_hash": "0x" + "ab" * 32,
            "timestamp_ms": 1_764_806_400_123,
        },
    ]
    expected_votes = [
        "0x"
        + encode_commit_vote(
            vote["chain_id"],
            Height(vote["height"]),
            Round(vote["round"]),
            Hash(bytes.fromhex(vote["block_hash"][2:])),
            vote["timestamp_ms"],
        ).hex()
        for vote in votes
    ]
    sets = []
    expected_sets = []
    for suite_name in SUITES:
        for count, powers in ((1, None), (4, [1, 2**40, 300, 5]), (7, None)):
            _, validators = make_validators(suite_name, count, powers)
            sets.append(
                {
                    "hash_name": HASH_NAMES[suite_name],
                    "validators": [
                        {"address": "0x" + v.address.hex(), "public_key": "0x" + v.public_key.hex(), "power": v.power}
                        for v in reversed(validators)  # the encoding sorts them by address
                    ],
                }
            )
            expected_sets.append(compute_validators_hash(get_suite(suite_name), validators).hex())
    result = _run_node({**_empty_cases(), "commit_votes": votes, "validators_hashes": sets})
    assert result["commit_votes"] == expected_votes
    assert result["validators_hashes"] == expected_sets


def test_commit_certificates_match_python() -> None:
    cases = [case for suite_name in SUITES for case in make_certificate_cases(suite_name)]
    malformed = [answer for suite_name in SUITES for answer in make_malformed_answers(suite_name)]
    result = _run_node({**_empty_cases(), "certificates": [case["answer"] for case in cases] + malformed})
    checked = result["certificates"]
    for case, outcome in zip(cases, checked, strict=False):
        assert outcome["ok"] == case["expected"], case["name"]
        assert outcome["ok"] == (case["failing"] is None), case["name"]
        if case["failing"] is not None:
            failing = STEPS.index(case["failing"])
            assert not outcome["steps"][case["failing"]]["ok"], case["name"]
            assert all(outcome["steps"][step]["ok"] for step in STEPS[:failing]), (case["name"], outcome)
            assert outcome["steps"][case["failing"]]["code"], case["name"]
    assert sum(case["expected"] for case in cases) == 6  # three passing certificates per suite
    # Malformed answers fail, each with a reason, and never throw.
    for answer, outcome in zip(malformed, checked[len(cases) :], strict=True):
        assert outcome["ok"] is False, answer
        assert any(step["code"] for step in outcome["steps"].values()), outcome
    timings = {case["name"]: round(outcome["elapsed_ms"], 1) for case, outcome in zip(cases, checked, strict=False)}
    print("sigverify under node, ms:", json.dumps(timings, ensure_ascii=False))
