"""The sandbox benchmark runs, and a sandboxed transfer stays within a loose bound of native (CI machines vary)."""

from __future__ import annotations

from gusu.execution.sandbox import bench


def test_bench_figures_are_measurable_and_the_transfer_is_not_far_from_native() -> None:
    native, sandboxed = bench.measure_transfers_us(300)
    assert 0 < native < sandboxed < native * 6, (native, sandboxed)
    plain, metered, steps = bench.measure_step_overhead(1_000)
    assert steps > 1_000 * 5 and metered > plain > 0
    assert bench.measure_compile_us(2) > 0
