"""`gusu node evidence` and the versions in `gusu node status`, against the SDK's fake node.

They live with the SDK tests because the fake node that serves them does.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from sdk_fake_node import FakeNode

from gusu.cli.main import cli

VALIDATOR_HEX = "0x" + "07" * 20


def _evidence_json(height: int) -> dict[str, Any]:
    return {
        "height": height,
        "round": 1,
        "kind": "prevote",
        "validator": VALIDATOR_HEX,
        "first": "0x0a0b",
        "second": "0x0a0c0d",
        "recorded_at_height": height + 2,
    }


def test_node_evidence_lists_records_and_the_next_page(node: FakeNode) -> None:
    node.evidence = [_evidence_json(height) for height in (4, 12, 8)]
    runner = CliRunner()
    result = runner.invoke(cli, ["node", "evidence", "--endpoint", node.url, "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [item["height"] for item in document["evidence"]] == [12, 8]
    assert document["evidence"][0] == _evidence_json(12)
    assert document["next_before_height"] == 8
    table = runner.invoke(cli, ["node", "evidence", "--endpoint", node.url, "--limit", "2"])
    assert table.exit_code == 0, table.output
    assert "prevote" in table.stdout and VALIDATOR_HEX in table.stdout
    assert "2 B / 3 B" in table.stdout
    assert "--before-height 8" in table.stdout
    last = runner.invoke(cli, ["node", "evidence", "--endpoint", node.url, "--before-height", "8", "--json"])
    assert [item["height"] for item in json.loads(last.stdout)["evidence"]] == [4]


def test_node_evidence_when_there_is_none_or_the_node_cannot_tell(node: FakeNode) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["node", "evidence", "--endpoint", node.url])
    assert result.exit_code == 0, result.output
    assert "no equivocation evidence recorded" in result.stdout
    node.evidence_answer = {"evidence": [], "next_before_height": 5}
    broken = runner.invoke(cli, ["node", "evidence", "--endpoint", node.url])
    assert broken.exit_code != 0
    assert "malformed" in broken.output


def test_node_status_shows_the_consensus_versions(node: FakeNode) -> None:
    runner = CliRunner()
    document = json.loads(runner.invoke(cli, ["node", "status", "--endpoint", node.url, "--json"]).stdout)
    assert document["versions"] == node.versions
    table = runner.invoke(cli, ["node", "status", "--endpoint", node.url])
    assert table.exit_code == 0, table.output
    assert "consensus versions" in table.stdout
    assert "openssl OpenSSL 3.0.0" in table.stdout and "python CPython 3.11.0" in table.stdout
