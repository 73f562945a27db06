"""The deterministic simulator: a CI-sized campaign, exact replay, and checkers that do catch bugs."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gusu.consensus.tendermint import TendermintEngine
from gusu.consensus.validator_set import ValidatorSet
from gusu.eval.simulation import (
    LIVENESS_BOUND_MS,
    SCENARIO_NAMES,
    SCENARIOS,
    format_summary,
    main,
    replay,
    run_campaign,
    run_seed,
)
from gusu.eval.simulation.cluster import Simulation
from gusu.eval.simulation.scenarios import BYZANTINE_SCENARIO_NAMES
from gusu.ledger import lightclient
from gusu.node import blocks

CI_SEEDS = {4: 14 * 20, 7: 14 * 12}
"""Twenty seeds of every scenario with four validators, twelve with seven: 480 runs."""


@pytest.mark.parametrize("validators", sorted(CI_SEEDS))
def test_a_ci_campaign_finds_no_violation(validators: int) -> None:
    summary = run_campaign(CI_SEEDS[validators], (validators,))
    assert summary.failures == [], format_summary(summary)
    assert summary.safety_failures == 0 and summary.liveness_failures == 0 and summary.memory_failures == 0
    assert {key.split("/")[0] for key in summary.per_scenario} == set(SCENARIO_NAMES)
    for key, item in summary.per_scenario.items():
        assert item.liveness_runs == item.runs, key
        assert item.liveness_ms_max <= LIVENESS_BOUND_MS, key
        assert item.transactions_committed > 0, key
    # The faults were real: twins equivocated and were caught, nodes crashed, blocks committed.
    assert summary.per_scenario[f"twins/n={validators}"].evidence_reported > 0
    assert summary.per_scenario[f"crash/n={validators}"].crashes > 0
    for name in BYZANTINE_SCENARIO_NAMES:
        if name != "bad-clock":  # not Byzantine: its clock is just wrong
            assert summary.per_scenario[f"{name}/n={validators}"].byzantine_messages > 0, name
    assert summary.per_scenario[f"spam/n={validators}"].evidence_reported > 0  # spam equivocates
    assert summary.bookkeeping_peaks["future_messages"] > 0 and summary.bookkeeping_peaks["held_votes"] > 0
    happy_heights = summary.per_scenario[f"happy/n={validators}"].heights_min
    assert happy_heights is not None and happy_heights >= 3
    # Both consensus modes ran, and every transaction acknowledged was committed (none expired).
    assert 0 < summary.wait_runs < summary.runs
    assert summary.transactions_dropped == 0
    assert 0 < summary.transactions_acknowledged_correct <= summary.transactions_committed
    assert summary.transactions_committed <= summary.transactions_acknowledged
    # Waiting for transactions makes fewer empty blocks than the timer does.
    timed_runs = summary.runs - summary.wait_runs
    assert summary.empty_blocks_waiting / summary.wait_runs < (
        summary.empty_blocks - summary.empty_blocks_waiting
    ) / max(timed_runs, 1)


@pytest.mark.parametrize("scenario", ["chaos", "twins", "crash"])
def test_a_seed_replays_exactly(scenario: str) -> None:
    first = run_seed(11, scenario, 4)
    again = replay(11, scenario, 4)
    assert first == again
    assert first.digest == again.digest
    assert run_seed(12, scenario, 4).digest != first.digest


@pytest.mark.parametrize(("crypto", "scenario"), [("ecdsa", "twins"), ("sm", "crash")])
def test_real_signatures_change_nothing(crypto: str, scenario: str) -> None:
    # SM2 signatures are randomized: the run must be identical anyway, signatures never steer the engine.
    result = run_seed(3, scenario, 4, crypto)
    assert result.ok, result.violations
    assert replay(3, scenario, 4, crypto).digest == result.digest


def test_checkers_catch_a_quorum_of_a_simple_majority(monkeypatch: pytest.MonkeyPatch) -> None:
    # With "more than half" instead of "more than two thirds", twins fork the chain, and the state with it.
    monkeypatch.setattr(ValidatorSet, "is_quorum", lambda self, power: 2 * power > self.total_power)
    # Certificates are counted by the ledger's check (shared with light clients): the same broken rule there.
    monkeypatch.setattr(lightclient, "is_quorum_power", lambda power, total: 2 * power > total)
    kinds: set[str] = set()
    for seed in range(10):
        kinds |= {violation.split(":")[0] for violation in run_seed(seed, "twins", 7).violations}
        if {"agreement", "state"} <= kinds:
            return
    raise AssertionError(f"no twins seed below 10 forked with a simple-majority quorum: {kinds}")


def test_checkers_catch_a_node_that_forgets_its_wal(monkeypatch: pytest.MonkeyPatch) -> None:
    restart = Simulation._restart

    def restart_with_amnesia(self: Simulation, node: object) -> None:
        wal = node.wal  # type: ignore[attr-defined]
        node.wal = []  # type: ignore[attr-defined]
        try:
            restart(self, node)  # type: ignore[arg-type]
        finally:
            node.wal = wal + node.wal  # type: ignore[attr-defined]

    monkeypatch.setattr(Simulation, "_restart", restart_with_amnesia)
    # Amnesia signs twice only if the node restarts in a round it had voted in; some crash seed does.
    for seed in range(57, 97):
        result = run_seed(seed, "crash", 4)
        if any(violation.startswith("double signing:") for violation in result.violations):
            return
    raise AssertionError("no crash seed in 57..96 caught a node that forgets its WAL")


def test_fault_plans_keep_byzantine_power_below_a_third() -> None:
    for scenario in SCENARIOS:
        for seed in range(40):
            for validators in (4, 7):
                plan = scenario.make_plan(random.Random(seed), validators)
                faulty = plan.faulty_validators
                assert 3 * sum(plan.powers[index] for index in faulty) < sum(plan.powers)
                good = [skew for node, skew in enumerate(plan.skews_ms) if plan.node_validators[node] not in faulty]
                assert max(good) - min(good) <= 1_000, "good clocks within the chain's precision"
                assert all(crash.at_ms < max(plan.heal_ms, 1) for crash in plan.crashes)
                assert all(partition.end_ms <= plan.heal_ms for partition in plan.partitions)
                assert len(plan.skews_ms) == plan.node_count


def test_the_command_line_runs_a_campaign_and_writes_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary_path = tmp_path / "summary.json"
    count = len(SCENARIO_NAMES)
    assert main(["--seeds", str(count), "--nodes", "4", "--summary", str(summary_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"simulation campaign: {count} runs" in printed
    assert "safety violations: 0 run(s); liveness violations: 0 run(s); memory violations: 0 run(s)" in printed
    assert "idle violations (empty blocks with nothing pending): 0 run(s)" in printed
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["runs"] == count and summary["failures"] == [] and summary["safety_failures"] == 0
    assert set(summary["per_scenario"]) == {f"{name}/n=4" for name in SCENARIO_NAMES}


def test_the_command_line_replays_one_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--replay", "4", "--scenario", "partition", "--nodes", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["seed"] == 4 and result["scenario"] == "partition" and result["violations"] == []
    assert result["digest"] == run_seed(4, "partition", 4).digest


def test_the_command_line_refuses_a_replay_without_a_scenario() -> None:
    with pytest.raises(SystemExit):
        main(["--replay", "4"])


# --- the Byzantine scenarios can fail ----------------------------------------------------------------------------


def _violation_kinds(scenario: str, seeds: int) -> set[str]:
    kinds: set[str] = set()
    for seed in range(seeds):
        kinds |= {violation.split(":")[0] for violation in run_seed(seed, scenario, 4).violations}
    return kinds


def test_checkers_catch_an_engine_that_prevotes_untimely_proposals(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the timely predicate a liar's block stamped far ahead commits: chain time leaves the clocks.
    monkeypatch.setattr(TendermintEngine, "_is_acceptable_fresh_proposal", lambda self, proposal: True)
    result = run_seed(0, "time-future", 4)
    assert any(violation.startswith("block time:") for violation in result.violations), result.violations


def test_without_either_time_bound_an_end_of_time_block_halts_the_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    # Finding 1 as found: with neither the timely predicate nor the block rules' BLOCK_TIME_MS_MAX, a block
    # stamped at the end of the codec's time commits, no later block can be encoded, and the chain halts.
    # Each defence alone prevents the halt (the test above, and the block rule, tested in the vectors).
    monkeypatch.setattr(TendermintEngine, "_is_acceptable_fresh_proposal", lambda self, proposal: True)
    monkeypatch.setattr(blocks, "BLOCK_TIME_MS_MAX", 2**64)
    kinds = _violation_kinds("time-future", 4)
    assert "liveness" in kinds, kinds
    # Blocks seconds apart: a frozen or past time lags the clocks by more than precision + message delay.
    assert "block time" in _violation_kinds("time-frozen", 4)
    assert "block time" in _violation_kinds("time-past", 6)
    # A validator whose clock is a minute ahead gets its blocks in, stamped a minute ahead.
    assert "block time" in _violation_kinds("bad-clock", 6)


def test_checkers_catch_a_next_height_buffer_that_keeps_duplicates(monkeypatch: pytest.MonkeyPatch) -> None:
    def buffer_everything(self: TendermintEngine, message: object, received_ms: int) -> None:
        future = self._future  # type: ignore[attr-defined]
        if len(future) < self.settings.future_messages_max:
            future[(len(future),)] = (message, received_ms)

    monkeypatch.setattr(TendermintEngine, "_buffer_future_message", buffer_everything)
    result = run_seed(0, "spam", 4)
    assert any(violation.startswith("memory:") for violation in result.violations), result.violations
