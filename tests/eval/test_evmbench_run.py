"""A short real `gusu bench --evm erc20`: one Gusu node, and Hardhat's own node beside it.

The Hardhat run needs Node.js and tests/eth/hardhat's node_modules (installed here as
tests/eth/test_eth_hardhat.py does); without them it skips locally and fails under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gusu.eval.evmbench import HARDHAT_PROJECT

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eth"))
from eth_tool_helpers import install_npm_project, require_node_and_npm  # noqa: E402

BENCH_TIMEOUT_S = 300


def run_evm_bench(*options: str) -> tuple[int, dict[str, Any] | None, str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("GUSU_ENDPOINT", "GUSU_HOME")}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "gusu.cli.main",
            "bench",
            "--evm",
            "erc20",
            "--warmup",
            "0.5",
            "--duration",
            "3",
            "--in-flight",
            "8",
            "--senders",
            "16",
            *options,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=BENCH_TIMEOUT_S,
        env=environment,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    result = json.loads(completed.stdout) if completed.stdout.strip().startswith("{") else None
    return completed.returncode, result, completed.stderr


def check_target(target: dict[str, Any], name: str) -> None:
    assert target["name"] == name and "error" not in target, target
    assert target["token"].startswith("0x") and target["chain_id"] > 0
    for phase_name in ("closed", "open"):
        phase = target[phase_name]
        assert phase["committed"] > 0 and phase["tps"] > 0, phase
        assert phase["refused"] == phase["failed"] == phase["lost"] == 0, phase
        assert phase["succeeded"] == phase["sent"], phase
        assert phase["p50_ms"] <= phase["p95_ms"] <= phase["p99_ms"] <= phase["max_ms"]
        assert phase["node_cpu"]["node_cpu_percent"] is not None
    assert target["closed"]["in_flight"] == 8
    # The open loop runs at half the closed loop's sustained rate.
    assert target["open"]["rate"] == pytest.approx(target["closed"]["tps"] / 2, rel=0.01)


def test_evm_bench_against_one_gusu_node_twice() -> None:
    code, result, stderr = run_evm_bench("--rounds", "2")
    assert code == 0, stderr
    assert result is not None and result["load"] == "evm-erc20"
    assert result["settings"]["rounds"] == 2
    first, second = result["targets"]
    for target, round_ in ((first, 1), (second, 2)):
        check_target(target, "gusu")
        assert target["nodes"] == 1 and target["gas_price"] == 0 and target["round"] == round_
    assert result["comparison"] is None
    assert len(result["load_average_start"]) == 3 and result["hardware"]["cores"] >= 1


def test_evm_bench_against_hardhat_side_by_side() -> None:
    _, npm = require_node_and_npm()
    install_npm_project(HARDHAT_PROJECT, npm)
    code, result, stderr = run_evm_bench("--against-hardhat")
    assert code == 0, stderr
    assert result is not None
    hardhat, gusu = result["targets"]
    check_target(hardhat, "hardhat")
    check_target(gusu, "gusu")
    assert hardhat["chain_id"] == 31337 and hardhat["gas_price"] > 0
    assert result["comparison"]["tps_ratio"] == pytest.approx(
        gusu["closed"]["tps"] / hardhat["closed"]["tps"], rel=0.01
    )


def test_rounds_go_with_the_evm_load_only() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", "bench", "--rounds", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert completed.returncode != 0
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "usage_invalid" and "--rounds" in error["message"]


def test_evm_bench_refuses_options_of_the_other_loads() -> None:
    code, result, _ = run_evm_bench("--app", "evidence")
    assert code != 0 and result is not None  # with --json the error is the JSON document
    assert result["error"]["code"] == "usage_invalid"
    assert "these options do not apply: --app" in result["error"]["message"]
