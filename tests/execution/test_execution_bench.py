"""The transfer benchmark runs and every transfer in it succeeds."""

from __future__ import annotations

from gusu.execution.bench import measure_deployed_transfer_rate, measure_transfer_rate


def test_measure_transfer_rate_runs() -> None:
    assert measure_transfer_rate(300) > 0


def test_measure_deployed_transfer_rate_runs() -> None:
    assert measure_deployed_transfer_rate(300) > 0
