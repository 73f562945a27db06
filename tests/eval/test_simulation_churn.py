"""The "churn" scenario: validators added, removed and re-weighted by scheduled changes during a run."""

from __future__ import annotations

import random

import pytest

from gusu.eval.simulation import run_seed
from gusu.eval.simulation.cluster import Simulation
from gusu.eval.simulation.scenarios import ChurnStep, Crash, FaultPlan, Scenario, _plan, get_scenario
from gusu.ledger.types import Height
from gusu.node.schedule import ValidatorSchedule


@pytest.mark.parametrize("validators", [4, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_churn_runs_keep_every_property_and_change_the_set(seed: int, validators: int) -> None:
    result = run_seed(seed, "churn", validators)
    assert result.ok, result.violations
    assert result.validator_sets >= 2, "no scheduled change took effect within the run"


def test_churn_plans_add_remove_and_reweight() -> None:
    kinds: set[str] = set()
    for seed in range(30):
        plan = get_scenario("churn").make_plan(random.Random(seed), 5)
        previous = plan.powers
        assert previous[-1] == 0  # the last identity starts as an observer
        for step in plan.churn:
            assert step.effective_height >= step.decided_height + 2
            for before, after in zip(previous, step.powers, strict=True):
                if before == 0 < after:
                    kinds.add("add")
                elif before > 0 == after:
                    kinds.add("remove")
                elif 0 < before != after > 0:
                    kinds.add("reweight")
            previous = step.powers
        decided = [step.decided_height for step in plan.churn]
        assert decided == sorted(set(decided))
    assert kinds == {"add", "remove", "reweight"}


def _two_changes_with_a_sleeper(rng: random.Random, n: int) -> FaultPlan:
    """Validator 4 joins at height 3, validator 0 leaves at height 6; node 1 is down from the start till the heal."""
    assert n == 5
    return _plan(
        (1, 1, 1, 1, 0),
        heal_ms=6_000,
        crashes=(Crash(node=1, at_ms=0, down_ms=6_000, torn=False),),
        churn=(ChurnStep(1, 3, (1, 1, 1, 1, 1)), ChurnStep(4, 6, (0, 1, 1, 1, 1))),
        min_run_ms=9_000,
    )


def test_a_node_down_since_genesis_syncs_through_two_changes() -> None:
    simulation = Simulation(1, Scenario("sleeper", _two_changes_with_a_sleeper), 5)
    result = simulation.run()
    assert result.ok, result.violations
    sleeper = simulation.nodes[1]
    assert sleeper.crashes == 1 and sleeper.synced_blocks >= 6  # both changes crossed by block sync
    hashes = [stored.block.header.validators_hash for stored in sleeper.store]
    assert len(dict.fromkeys(hashes)) == 3
    # Each synced block was checked against the set of its height: the ones after a change name the new set.
    for stored in sleeper.store:
        assert stored.validator_set.compute_validators_hash(simulation.suite) == stored.block.header.validators_hash
    joined, left = simulation.nodes[4].address, simulation.nodes[0].address
    for stored in sleeper.store:
        signers = {entry.validator for entry in stored.certificate.signatures}
        if stored.height < 3:
            assert joined not in signers
        if stored.height >= 6:
            assert left not in signers
    assert any(joined in {entry.validator for entry in stored.certificate.signatures} for stored in sleeper.store)
    assert any(stored.block.header.proposer == joined for stored in sleeper.store[5:])


def test_the_checkers_see_a_node_that_ignores_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    update = ValidatorSchedule.update

    def frozen(self: ValidatorSchedule, schedule: object, tip_height: Height) -> None:
        update(self, self.schedule if self.schedule else schedule, tip_height)  # type: ignore[arg-type]

    monkeypatch.setattr(ValidatorSchedule, "update", frozen)
    simulation = Simulation(1, Scenario("sleeper", _two_changes_with_a_sleeper), 5)
    result = simulation.run()
    assert any(violation.startswith("validator set:") for violation in result.violations), result.violations
