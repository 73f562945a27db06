"""The published state-tree vectors (tests/vectors/statetree-*.json) hold for this code and cover every case."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gusu.crypto import SUITE_NAMES
from gusu.eval.statetree_vectors import KIND
from gusu.eval.vectors import check_document, check_vector_file, get_file_name
from gusu.ledger.smt import EMPTY_ROOT

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _load(suite_name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / get_file_name(KIND, suite_name)).read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("suite_name", SUITE_NAMES)
def test_statetree_vectors_conform(suite_name: str) -> None:
    problems = check_vector_file(VECTORS, KIND, suite_name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("suite_name", SUITE_NAMES)
def test_statetree_vectors_cover_every_case(suite_name: str) -> None:
    document = _load(suite_name)
    assert {proof["kind"] for proof in document["proofs"]} == {"inclusion", "exclusion_empty", "exclusion_other_leaf"}
    sizes = [len(version["state"]) for version in document["versions"]]
    assert 0 in sizes and 1 in sizes and max(sizes) > 10
    assert "0x" + EMPTY_ROOT.hex() in {version["root"] for version in document["versions"]}
    assert len(document["invalid_proofs"]) >= 8


@pytest.mark.parametrize("suite_name", SUITE_NAMES)
def test_a_changed_vector_is_reported(suite_name: str) -> None:
    document = _load(suite_name)
    wrong_root = copy.deepcopy(document)
    wrong_root["versions"][1]["root"] = "0x" + "11" * 32
    assert any("version 1: root" in problem for problem in check_document(KIND, suite_name, wrong_root))
    wrong_proof = copy.deepcopy(document)
    wrong_proof["proofs"][3]["value"] = "0x00"
    assert any("proof of" in problem for problem in check_document(KIND, suite_name, wrong_proof))
    accepted = copy.deepcopy(document)
    accepted["invalid_proofs"][0] = dict(
        document["proofs"][0], name="actually valid", root=document["versions"][0]["root"]
    )
    assert any("accepts it" in problem for problem in check_document(KIND, suite_name, accepted))
