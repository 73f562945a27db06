"""The validator-change benchmark's arithmetic and verdicts, without a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from gusu.crypto import get_suite
from gusu.eval.bench import BenchConfig, BenchError, LoadState
from gusu.eval.network import LocalNode
from gusu.eval.valset_bench import (
    ChangeRecord,
    HeightRecord,
    ValidatorChangePlan,
    ValidatorChangeScenario,
    compute_change_report,
    compute_dip_percent,
    compute_throughput_windows,
    count_occurrences,
    describe_change_problems,
    find_set_changes,
    find_windows_overlapping,
    validate_change_config,
)


def test_throughput_windows_count_whole_windows_only() -> None:
    times = [10.0, 10.5, 10.99, 11.0, 12.2, 12.9, 13.5, 9.9]
    # From 10 to 13.5: three whole windows; 13.5 (the partial fourth) and 9.9 (before) are left out.
    assert compute_throughput_windows(times, 10.0, 13.5, 1.0) == [3, 1, 2]
    assert compute_throughput_windows(times, 10.0, 14.0, 2.0) == [4, 3]


def test_windows_overlapping_a_span() -> None:
    assert find_windows_overlapping(5, 1.0, 1.5, 2.5) == [1, 2]
    assert find_windows_overlapping(5, 1.0, 2.0, 3.0) == [2]
    assert find_windows_overlapping(5, 1.0, 4.5, 9.0) == [4]
    assert find_windows_overlapping(5, 1.0, 6.0, 9.0) == []


def test_dip_percent() -> None:
    assert compute_dip_percent(100.0, 75.0) == 25.0
    assert compute_dip_percent(100.0, 120.0) == -20.0
    assert compute_dip_percent(0.0, 10.0) is None


def _height(height: int, validators_hash: str, round_: int = 0, arrived_s: float | None = None) -> HeightRecord:
    return HeightRecord(height, round_, validators_hash, "0x00", 3, 1, arrived_s)


def test_set_changes_and_occurrences() -> None:
    records = [_height(1, "a"), _height(2, "a"), _height(3, "b"), _height(4, "b"), _height(5, "c")]
    assert find_set_changes(records) == [3, 5]
    counts = count_occurrences([["x", "y"], ["y", "z"], []], {"x", "y", "w"})
    assert counts == {"x": 1, "y": 2}


def _node(index: int) -> LocalNode:
    return LocalNode(index, f"node{index}", f"org{index}", Path("/x"), "0x" + "11" * 20, "127.0.0.1", 1, 2)


def _scenario(changes: list[ChangeRecord]) -> ValidatorChangeScenario:
    key = get_suite("ecdsa").generate_private_key()
    scenario = ValidatorChangeScenario(
        "http://127.0.0.1:1", key, (key,), _node(4), _node(3), ValidatorChangePlan(), duration_s=10.0
    )
    scenario.changes.extend(changes)
    return scenario


def test_change_report_judges_heights_dips_and_losses() -> None:
    start = 1000.0
    state = LoadState()
    # 10 tx/s for 10 s, but only 4 in the window from 6 to 7 s.
    for second in range(10):
        per_second = 4 if second == 6 else 10
        for index in range(per_second):
            state.committed[f"t{second}-{index}"] = start + second + index / 20
    state.acknowledged.update(state.committed)
    state.acknowledged.add("never-committed")
    add = ChangeRecord("add", "set_validator_power", "node4", 1)
    add.started_at, add.decided_at, add.in_force_at = start + 3.0, start + 3.4, start + 3.9
    add.proposal_id, add.decided_height, add.effective_height = 1, 10, 12
    remove = ChangeRecord("remove", "remove_node", "node3", 0)
    remove.started_at, remove.decided_at, remove.in_force_at = start + 6.2, start + 6.5, start + 6.8
    remove.proposal_id, remove.decided_height, remove.effective_height = 2, 20, 22
    hashes = {height: "a" if height < 12 else "b" if height < 23 else "c" for height in range(1, 30)}
    records = [_height(height, hashes[height], 1 if height == 21 else 0, height * 0.3) for height in range(1, 30)]
    blocks = [[f"t{second}-{index}" for index in range(10)] for second in range(10)]
    blocks.append(["t0-0"])  # committed twice
    report = compute_change_report(_scenario([add, remove]), records, blocks, state, start, start + 10.0)[
        "validator_change"
    ]
    assert report["throughput_tps"] == [10.0] * 6 + [4.0] + [10.0] * 3
    assert report["baseline_windows"] == 3 and report["baseline_median_tps"] == 10.0
    first, second = report["changes"]
    assert first["took_effect_at_decided_plus_2"] is True and first["set_changed_at_height"] == 12
    assert first["dip_percent"] == 0.0
    # Effective at 22 but the hash changed at 23: reported, not hidden.
    assert second["set_changed_at_height"] == 23 and second["took_effect_at_decided_plus_2"] is False
    assert second["dip_percent"] == 60.0 and second["max_rounds_around"] == 2
    assert report["max_dip_percent"] == 60.0 and report["dip_target_met"] is False
    assert report["max_rounds"] == 2 and report["rounds_target_met"] is True
    assert report["transactions_lost"] == 1 and report["lost_ids"] == ["never-committed"]
    assert report["committed_more_than_once"] == 1 and report["repeated_ids"] == ["t0-0"]
    problems = describe_change_problems({"validator_change": report})
    assert any("in no block" in problem for problem in problems)
    assert any("more than one block" in problem for problem in problems)
    assert any("took effect at 23, not at 22" in problem for problem in problems)


def test_plan_and_config_are_checked() -> None:
    with pytest.raises(BenchError, match="removal"):
        ValidatorChangePlan(removal="unplug")
    with pytest.raises(BenchError, match="change points"):
        ValidatorChangePlan(add_at_fraction=0.7, remove_at_fraction=0.5)
    with pytest.raises(BenchError, match="throughput-window"):
        ValidatorChangePlan(throughput_window_s=0.0)
    plan = ValidatorChangePlan()
    validate_change_config(BenchConfig(nodes=4, rate=100.0, duration_s=60.0), plan)
    with pytest.raises(BenchError, match="--rate"):
        validate_change_config(BenchConfig(nodes=4, duration_s=60.0), plan)
    with pytest.raises(BenchError, match="--nodes 4"):
        validate_change_config(BenchConfig(nodes=3, rate=100.0, duration_s=60.0), plan)
    with pytest.raises(BenchError, match="too short"):
        validate_change_config(BenchConfig(nodes=4, rate=100.0, duration_s=2.0), plan)
