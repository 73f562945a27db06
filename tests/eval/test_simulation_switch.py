"""The "switch" scenario: governance switches the ordering engine (Tendermint <-> Raft) and back during a run."""

from __future__ import annotations

import pytest

from gusu.consensus.messages import Vote, VoteKind, encode_message
from gusu.eval.simulation import run_seed
from gusu.eval.simulation.chain import CHAIN_ID
from gusu.eval.simulation.cluster import Simulation
from gusu.eval.simulation.scenarios import get_scenario
from gusu.ledger.types import Height, Round


@pytest.mark.parametrize("consensus", ["tendermint", "raft"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_switch_runs_keep_every_property_across_both_switches(seed: int, consensus: str) -> None:
    simulation = Simulation(seed, get_scenario("switch"), 4, consensus=consensus)
    result = simulation.run()
    assert result.ok, result.violations
    other = "raft" if consensus == "tendermint" else "tendermint"
    assert [engine for _, engine in simulation.planned_engines] == [consensus, other, consensus]
    second = simulation.planned_engines[2][0]
    assert min(node.committed_height for node in simulation.honest) > second, "the run ended before the second switch"
    # Each block was certified by the engine of its height (`checkers.check_engines` held every node to it).
    signatures = {len(stored.certificate.signatures) for stored in simulation.honest[0].store}
    assert 1 in signatures and max(signatures) >= 3
    assert any(node.switches == 2 for node in simulation.honest)


def test_the_engine_checker_sees_nodes_that_ignore_a_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Simulation, "_get_engine_name", lambda self, node, height: "tendermint")
    result = run_seed(0, "switch", 4)
    assert any(violation.startswith("engine:") for violation in result.violations), result.violations


def test_a_late_message_of_the_old_engine_is_ignored_not_judged() -> None:
    simulation = Simulation(1, get_scenario("switch"), 4, consensus="raft")
    simulation.run()
    assert simulation.violations == []
    node = simulation.honest[0]
    assert node.engine is not None and node.engine.name == "raft"
    # A Tendermint prevote of a height before the switch back to Raft, arriving now.
    late = encode_message(
        Vote(VoteKind.PREVOTE, CHAIN_ID, Height(1), Round(0), None, 0, simulation.honest[1].address, bytes(64))
    )
    simulation._on_message(node, 1, late)
    assert simulation.violations == []


def test_raft_entries_kept_from_an_earlier_raft_period_leave_no_gap_to_send() -> None:
    """Seed 120 (5 nodes): a leader kept entries of the first Raft period, the Tendermint heights in between were
    not entries, and a follower's retry asked for one of the old ones; sending a run of entries across the gap
    crashed the engine. Entries are now dropped when the tip is not one of them, and a run stops at a gap."""
    result = run_seed(120, "switch", 5, consensus="raft")
    assert result.ok, result.violations


def test_a_member_asleep_through_a_tendermint_period_cannot_lead_a_second_block_at_a_stored_height() -> None:
    """Seed 1119 (7 nodes): node 2 crashed at tip 2 during the first Raft period and came back running Raft
    for height 3 with an entry of term 1, while the others had switched to Tendermint at 5 and back to Raft at 8.
    Their tip 7, decided by Tendermint, has no Raft term (last term 0), so by the last-term comparison alone
    they voted for node 2, which then ordered another block 3 and block 4. A voter now refuses a log shorter
    than what it knows committed."""
    result = run_seed(1119, "switch", 7, consensus="raft")
    assert result.ok, result.violations
