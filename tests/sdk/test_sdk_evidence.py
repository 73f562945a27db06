"""The SDK's view of equivocation evidence (`evidence()`) and of the status's versions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sdk_fake_node import FakeNode

from gusu.errors import ClientError
from gusu.ledger.jsonview import bytes_to_hex
from gusu.sdk import AsyncClient, Client, EvidencePage

VALIDATOR = b"\x07" * 20


@pytest.fixture
def client(node: FakeNode) -> Iterator[Client]:
    with Client(node.url, retry_backoff_s=0.001, retry_backoff_max_s=0.005) as client:
        yield client


def _evidence_json(height: int, kind: str = "precommit") -> dict[str, Any]:
    return {
        "height": height,
        "round": 2,
        "kind": kind,
        "validator": bytes_to_hex(VALIDATOR),
        "first": "0x0a01",
        "second": "0x0a02",
        "recorded_at_height": height + 3,
    }


def test_evidence_pages_to_the_end(node: FakeNode, client: Client) -> None:
    assert client.evidence() == EvidencePage(evidence=(), next_before_height=None)
    node.evidence = [_evidence_json(height) for height in (3, 9, 6)]
    first = client.evidence(limit=2)
    assert [(view.height, view.kind, view.round) for view in first.evidence] == [
        (9, "precommit", 2),
        (6, "precommit", 2),
    ]
    assert first.evidence[0].validator == VALIDATOR
    assert (first.evidence[0].first, first.evidence[0].second) == (b"\x0a\x01", b"\x0a\x02")
    assert first.evidence[0].recorded_at_height == 12
    assert first.next_before_height == 6
    second = client.evidence(limit=2, before_height=first.next_before_height)
    assert [view.height for view in second.evidence] == [3]
    assert second.next_before_height is None


def test_async_evidence(node: FakeNode) -> None:
    node.evidence = [_evidence_json(4, "proposal")]

    async def main() -> EvidencePage:
        async with AsyncClient(node.url, retry_backoff_s=0.001) as client:
            return await client.evidence()

    page = asyncio.run(main())
    assert [(view.height, view.kind) for view in page.evidence] == [(4, "proposal")]


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        ({"evidence": [_evidence_json(5, "vote")], "next_before_height": None}, "kind must be one of"),
        ({"evidence": [_evidence_json(3), _evidence_json(5)], "next_before_height": None}, "newest first"),
        ({"evidence": [_evidence_json(50)], "next_before_height": None}, "not below the cursor"),
        # A cursor that does not move back would make a client paging "until None" loop forever.
        ({"evidence": [_evidence_json(5)], "next_before_height": 10}, "must move back"),
        ({"evidence": [], "next_before_height": 3}, "must move back"),
        ({"evidence": [_evidence_json(i) for i in (8, 7, 6)], "next_before_height": 6}, "the limit is 2"),
        ({"evidence": [{**_evidence_json(5), "validator": "0x07"}], "next_before_height": None}, "20 bytes"),
        ({"evidence": []}, "next_before_height"),
    ],
)
def test_malformed_evidence_pages_are_refused(node: FakeNode, client: Client, answer: Any, fragment: str) -> None:
    node.evidence_answer = answer
    with pytest.raises(ClientError, match="answer to gusu_evidence is malformed") as caught:
        client.evidence(limit=2, before_height=10)
    assert fragment in str(caught.value), caught.value


def test_bad_evidence_arguments_fail_before_sending(node: FakeNode, client: Client) -> None:
    for limit, before in ((0, None), (True, None), (5, -1)):
        with pytest.raises(ClientError, match="must be"):
            client.evidence(limit=limit, before_height=before)
    assert "gusu_evidence" not in node.methods


def test_status_versions(node: FakeNode, client: Client) -> None:
    assert client.status().versions == {"gusu": "0.1.0-fake", "python": "CPython 3.11.0", "openssl": "OpenSSL 3.0.0"}
    node.versions = {"python": 3}
    with pytest.raises(ClientError, match="status versions python must be a string"):
        client.status()
    node.versions = {f"library{index}": "1" for index in range(65)}
    with pytest.raises(ClientError, match="at most 64"):
        client.status()
