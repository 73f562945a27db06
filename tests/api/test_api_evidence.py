"""Equivocation evidence (gusu_evidence, GET /v1/evidence) and the consensus versions in the status."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Client, error_of, result_of, rpc, run_api
from fake_node import FakeNode

from gusu.api.settings import ApiSettings
from gusu.ledger.types import Address, Height, Round
from gusu.node.service import EvidenceRecord
from gusu.node.versions import CONSENSUS_VERSION_KEYS, compute_consensus_versions

VALIDATOR = Address(b"\x07" * 20)


def _record(height: int, kind: str = "prevote", round_number: int = 0) -> EvidenceRecord:
    return EvidenceRecord(
        height=Height(height),
        round=Round(round_number),
        kind=kind,  # type: ignore[arg-type]
        validator=VALIDATOR,
        first=bytes([height % 256, 1]),
        second=bytes([height % 256, 2]),
        recorded_at_height=Height(height + 1),
    )


def _node(heights: list[int]) -> FakeNode:
    node = FakeNode()
    node.evidence = [_record(height, round_number=index) for index, height in enumerate(heights)]
    return node


async def _rest(client: Client, query: str = "", status: int = 200) -> Any:
    response = await client.get(f"/v1/evidence{query}")
    assert response.status == status, await response.text()
    return await response.json()


def test_evidence_is_served_in_full_newest_first_by_rpc_and_rest() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        by_rpc = result_of(await rpc(client, "gusu_evidence", []))
        by_rest = await _rest(client)
        assert by_rpc == by_rest
        assert [item["height"] for item in by_rest["evidence"]] == [9, 5, 2]
        assert by_rest["next_before_height"] is None
        assert by_rest["evidence"][0] == {
            "height": 9,
            "round": 1,
            "kind": "prevote",
            "validator": "0x" + "07" * 20,
            "first": "0x0901",
            "second": "0x0902",
            "recorded_at_height": 10,
        }

    run_api(scenario, _node([2, 9, 5]))


def test_evidence_pages_follow_the_cursor_to_the_end() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        first = await _rest(client, "?limit=2")
        assert [item["height"] for item in first["evidence"]] == [8, 6]
        assert first["next_before_height"] == 6
        second = result_of(await rpc(client, "gusu_evidence", [2, first["next_before_height"]]))
        assert [item["height"] for item in second["evidence"]] == [4, 1]
        assert second["next_before_height"] is None
        # One record more than the page is asked for, so `next` is null exactly at the end.
        assert node.evidence_queries == [(3, None), (3, Height(6))]

    run_api(scenario, _node([1, 4, 6, 8]))


def test_a_page_never_splits_the_records_of_one_height() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        # Heights 7, 5, 5, 5, 3: a page of 3 would end inside height 5, so it stops before it.
        first = await _rest(client, "?limit=3")
        assert [item["height"] for item in first["evidence"]] == [7]
        assert first["next_before_height"] == 6
        second = await _rest(client, f"?limit=3&before_height={first['next_before_height']}")
        assert [item["height"] for item in second["evidence"]] == [5, 5, 5]
        assert second["next_before_height"] == 5
        third = await _rest(client, f"?limit=3&before_height={second['next_before_height']}")
        assert [item["height"] for item in third["evidence"]] == [3]
        assert third["next_before_height"] is None

    run_api(scenario, _node([7, 5, 5, 5, 3]))


def test_default_page_size_and_limits() -> None:
    async def scenario(client: Client, node: FakeNode) -> None:
        page = await _rest(client)
        assert len(page["evidence"]) == 20
        assert page["next_before_height"] == 30 - 20 + 1
        assert node.evidence_queries[-1] == (21, None)
        assert len((await _rest(client, "?limit=25"))["evidence"]) == 25
        body = await _rest(client, "?limit=26", status=400)
        assert body["error"]["code"] == "params_invalid"
        assert "between 1 and 25" in body["error"]["message"]
        error = error_of(await rpc(client, "gusu_evidence", [26]))
        assert "between 1 and 25" in error["message"]

    run_api(scenario, _node(list(range(1, 31))), ApiSettings(port=0, evidence_records_max=25))


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("?limit=0", "between 1 and"),
        ("?limit=x", "non-negative integer"),
        ("?before_height=-1", "non-negative integer"),
        ("?before_height=9223372036854775808", "before_height must be"),
    ],
)
def test_bad_evidence_queries_are_refused(query: str, fragment: str) -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        body = await _rest(client, query, status=400)
        assert body["error"]["code"] == "params_invalid"
        assert fragment in body["error"]["message"], body

    run_api(scenario, _node([1]))


def test_bad_evidence_params_by_rpc() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        assert "found the string" in error_of(await rpc(client, "gusu_evidence", ["5"]))["message"]
        assert "must be between 0" in error_of(await rpc(client, "gusu_evidence", [5, -1]))["message"]
        assert "takes 0 to 2 params" in error_of(await rpc(client, "gusu_evidence", [1, 2, 3]))["message"]

    run_api(scenario, _node([1]))


class _NodeWithoutEvidence(FakeNode):
    def __getattribute__(self, name: str) -> Any:
        if name == "get_evidence":
            raise AttributeError(name)
        return super().__getattribute__(name)


def test_a_node_without_evidence_says_so() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        body = await _rest(client, status=501)
        assert body["error"]["code"] == "unsupported"
        assert "upgrade" in body["error"]["message"]
        error = error_of(await rpc(client, "gusu_evidence", []))
        assert error["data"]["code"] == "unsupported"

    run_api(scenario, _NodeWithoutEvidence())


def test_status_reports_the_versions_that_matter_to_consensus() -> None:
    async def scenario(client: Client, _node: FakeNode) -> None:
        status = result_of(await rpc(client, "gusu_status"))
        versions = status["versions"]
        assert tuple(sorted(versions)) == tuple(sorted(CONSENSUS_VERSION_KEYS))
        assert versions == compute_consensus_versions()
        response = await client.get("/v1/status")
        assert (await response.json())["versions"] == versions

    run_api(scenario)


def test_consensus_versions_are_the_installed_ones() -> None:
    import platform
    import ssl  # noqa: F401 - only to show the reported OpenSSL is cryptography's, checked below

    import cryptography
    import msgpack
    from cryptography.hazmat.backends.openssl import backend

    import gusu

    versions = compute_consensus_versions()
    assert versions["gusu"] == gusu.__version__
    assert versions["python"].endswith(platform.python_version())
    assert versions["cryptography"] == cryptography.__version__
    assert versions["msgpack"] == ".".join(str(part) for part in msgpack.version)
    assert versions["openssl"] == backend.openssl_version_text()
    assert versions["openssl"].startswith("OpenSSL ")
    for key in ("coincurve", "safe-pysha3", "rocksdict"):
        assert versions[key][0].isdigit(), versions
    # A fresh dict each time: a caller may not change what the next status reports.
    versions["gusu"] = "changed"
    assert compute_consensus_versions()["gusu"] == gusu.__version__
