"""The simulator on Raft clusters: a few seeds of every crash-fault scenario, exact replay, and checks that fail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gusu.consensus.raft import RaftEngine, RaftWalRecord, encode_raft_wal_record
from gusu.eval.simulation import LIVENESS_BOUND_MS, format_summary, run_campaign
from gusu.eval.simulation.campaign import format_replay_command, main, replay, run_seed
from gusu.eval.simulation.checkers import check_raft_votes
from gusu.eval.simulation.cluster import Simulation
from gusu.eval.simulation.scenarios import RAFT_SCENARIO_NAMES, ChurnStep, FaultPlan, Scenario, _plan, get_scenario

SEEDS = 7 * 4
"""Four seeds of each of the seven crash-fault scenarios."""


@pytest.mark.parametrize("validators", [3, 4])
def test_a_raft_campaign_finds_no_violation(validators: int) -> None:
    summary = run_campaign(SEEDS, (validators,), consensus="raft")
    assert summary.failures == [], format_summary(summary)
    assert {key.split("/")[0] for key in summary.per_scenario} == set(RAFT_SCENARIO_NAMES)
    for key, item in summary.per_scenario.items():
        assert item.liveness_runs == item.runs, key
        assert item.liveness_ms_max <= LIVENESS_BOUND_MS, key
        assert item.transactions_committed > 0, key
    assert summary.per_scenario[f"crash/n={validators}"].crashes > 0
    assert summary.transactions_dropped == 0
    assert 0 < summary.transactions_acknowledged_correct <= summary.transactions_committed


def test_a_raft_run_replays_exactly_and_names_its_engine() -> None:
    first = run_seed(3, "crash-chaos", 5, consensus="raft")
    again = replay(3, "crash-chaos", 5, consensus="raft")
    assert first.digest == again.digest and first.consensus == "raft"
    assert "--consensus raft" in format_replay_command(first)
    assert first.digest != run_seed(3, "crash-chaos", 5).digest  # the Tendermint run is another run


def test_the_cli_refuses_a_byzantine_scenario_for_raft(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--consensus", "raft", "--scenario", "twins", "--seeds", "1"])
    assert "crash faults only" in capsys.readouterr().err
    assert main(["--consensus", "raft", "--scenario", "partition", "--seeds", "2", "--quiet"]) == 0


def test_the_vote_checker_sees_two_votes_in_one_term() -> None:
    simulation = Simulation(1, get_scenario("happy"), 3, consensus="raft")
    simulation.run()
    node = simulation.honest[0]
    check_raft_votes(simulation)
    assert simulation.violations == []
    other = simulation.honest[1].address
    third = simulation.honest[2].address
    node.wal.append((0, encode_raft_wal_record(RaftWalRecord(term=99, voted_for=other))))
    node.wal.append((0, encode_raft_wal_record(RaftWalRecord(term=99, voted_for=third))))
    check_raft_votes(simulation)
    assert any("voted twice in term 99" in violation for violation in simulation.violations)


def test_the_checkers_catch_a_raft_engine_that_forgets_the_up_to_date_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A voter that grants any candidate lets a stale member lead and overwrite committed blocks (with the
    guard that keeps a member from acknowledging a block other than its stored one switched off too)."""
    monkeypatch.setattr(RaftEngine, "_is_up_to_date", lambda self, last_term, last_height: True)
    monkeypatch.setattr(RaftEngine, "_is_other_than_stored", lambda self, entry: False)
    failed = [result for seed in range(40) if not (result := run_seed(seed, "crash-chaos", 3, consensus="raft")).ok]
    assert failed, "no run caught the broken vote rule"
    assert any("agreement" in v or "state" in v or "validity" in v for r in failed for v in r.violations)


def test_sim_settings_make_a_valid_engine() -> None:
    simulation = Simulation(0, get_scenario("happy"), 4, consensus="raft")
    assert replace(simulation.raft_settings).heartbeat_interval_ms < simulation.raft_settings.election_timeout_ms


@pytest.mark.parametrize("validators", [4, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_raft_churn_runs_keep_every_property_and_change_the_members(seed: int, validators: int) -> None:
    result = run_seed(seed, "churn", validators, consensus="raft")
    assert result.ok, result.violations
    assert result.validator_sets >= 2, "no scheduled change took effect within the run"


def _replace_one(removed: int) -> Scenario:
    def make(rng: object, n: int) -> FaultPlan:
        """Member 3 joins at height 4, member `removed` leaves at height 7, with message loss."""
        assert n == 4
        leaving = tuple(0 if index == removed else 1 for index in range(4))
        return _plan(
            (1, 1, 1, 0),
            heal_ms=3_000,
            delay_ms=(1, 40),
            drop_probability=0.05,
            churn=(ChurnStep(2, 4, (1, 1, 1, 1)), ChurnStep(5, 7, leaving)),
            min_run_ms=8_000,
        )

    return Scenario(f"replace-{removed}", make)


def test_a_removed_raft_leader_steps_down_and_the_new_members_go_on() -> None:
    """Whichever member leads at the change is removed in one of the three runs; each run keeps every property,
    and no block from the removal on is certified by the member that left."""
    leader_removed = False
    for removed in (0, 1, 2):
        simulation = Simulation(2, _replace_one(removed), 4, consensus="raft")
        result = simulation.run()
        assert result.ok, result.violations
        leaving = simulation.nodes[removed].address
        store = simulation.honest[3].store
        assert len(store) >= 10, "the chain went on past the change"
        for stored in store:
            signer = stored.certificate.signatures[0].validator
            assert stored.height < 7 or signer != leaving
        leader_removed = leader_removed or store[5].certificate.signatures[0].validator == leaving
    assert leader_removed, "in no run did the leader of height 6 leave"


def test_a_leader_whose_kept_entries_have_a_gap_sends_the_run_before_it() -> None:
    """Found by the 20,000-run campaign: a member that stored heights through block sync keeps no entry for
    them, and as leader it indexed past that gap (KeyError) instead of leaving the rest to block sync."""
    result = run_seed(935, "crash-chaos", 3, "sim", "raft")
    assert result.ok, result


@pytest.mark.parametrize("seed", [78, 342, 910])
def test_a_transaction_acknowledged_by_a_removed_member_is_still_committed(seed: int) -> None:
    """Churn, 3 nodes: the node that acknowledged a transaction was removed from the members and, having
    restarted, knew no leader (a leader serves members only), so its pool was forwarded nowhere and the
    transaction was never committed. A node with no live leader now forwards to a member of the next height."""
    result = run_seed(seed, "churn", 3, consensus="raft")
    assert result.ok, result.violations
