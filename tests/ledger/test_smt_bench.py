"""The state-tree benchmark (docs/state.md) still runs end to end, on a tiny size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gusu.ledger.smt_bench import main


def test_bench_runs_on_a_tiny_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--sizes", "300", "--blocks", "2", "--block-writes", "40", "--proofs", "20", "--load-batch", "100"]
    assert main([*arguments, "--directory", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["entries"] == 300
    assert 0 < result["proof_bytes_mean"] <= result["proof_bytes_max"] < 1_000
    assert result["tree_nodes"] > 300 + 2 * 10  # every leaf, and the internal nodes above them
    assert result["disk_bytes"] > 0


def test_bench_refuses_absurd_sizes() -> None:
    with pytest.raises(SystemExit):
        main(["--sizes", "0"])
