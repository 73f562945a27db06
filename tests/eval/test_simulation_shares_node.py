"""The simulator runs the node's own block rules and engine driver, not a copy of them (issue 7)."""

from __future__ import annotations

from collections import Counter

import pytest

from gusu.errors import InvalidBlockError
from gusu.eval.simulation import chain as sim_chain
from gusu.eval.simulation import cluster, run_seed
from gusu.node import blocks, driver
from gusu.node import node as node_module


def test_the_node_and_the_simulator_import_the_same_rules_and_driver() -> None:
    for name in ("build_block", "compute_genesis_block", "start_block_check", "finish_block_check"):
        assert getattr(sim_chain, name) is getattr(blocks, name), name
    for name in ("build_block", "start_block_check", "finish_block_check"):
        assert getattr(node_module, name) is getattr(blocks, name), name
    assert cluster.EngineDriver is driver.EngineDriver is node_module.EngineDriver


def test_a_simulated_run_goes_through_the_node_rules_and_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: Counter[str] = Counter()

    def spy(module: object, name: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    # The rules the two-step check calls from inside gusu.node.blocks, and the driver's entry point.
    spy(blocks, "validate_next_header")
    spy(blocks, "validate_block_body")
    spy(blocks, "validate_execution")
    on_event = driver.EngineDriver.on_event

    def counting_on_event(self: driver.EngineDriver, event: object) -> None:
        calls["driver"] += 1
        on_event(self, event)  # type: ignore[arg-type]

    monkeypatch.setattr(driver.EngineDriver, "on_event", counting_on_event)
    result = run_seed(1, "happy", 4)
    assert result.ok, result.violations
    assert result.max_height >= 3
    assert calls["driver"] > 100
    for name in ("validate_next_header", "validate_block_body", "validate_execution"):
        assert calls[name] >= result.max_height, (name, calls)


def test_breaking_a_node_rule_breaks_the_simulated_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    # A rule that refuses every non-empty block: no transaction can commit, which the checkers report.
    validate_block_body = blocks.validate_block_body

    def refuse_transactions(rules: object, header: object, entries: object, is_committed: object) -> None:
        if entries:
            raise InvalidBlockError("refused by a broken rule")
        validate_block_body(rules, header, entries, is_committed)  # type: ignore[arg-type]

    monkeypatch.setattr(blocks, "validate_block_body", refuse_transactions)
    result = run_seed(1, "happy", 4)
    assert any(violation.startswith("liveness") for violation in result.violations), result.violations
