"""The simulator's transaction level: real pools and execution, and checkers that catch what breaks them."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from gusu.consensus import TransactionsAvailable
from gusu.errors import InvalidBlockError
from gusu.eval.simulation import cluster, get_transaction_bound_ms, main, run_seed
from gusu.eval.simulation.chain import (
    CLIENT_BALANCE,
    CLIENT_COUNT,
    ChainTip,
    Execution,
    SimBlock,
    TransactionDecoder,
    compute_client_balance_total,
    compute_sim_rules,
    execute_block,
    get_clients,
    get_executor,
    make_block,
    make_genesis_state,
    make_genesis_state_tree,
    make_genesis_tip,
    make_genesis_writes,
    make_transfer,
    validate_block,
)
from gusu.eval.simulation.cluster import Simulation
from gusu.eval.simulation.crypto import SIM_SUITE
from gusu.eval.simulation.scenarios import SCENARIOS, get_scenario
from gusu.eval.simulation.workload import POST_HEAL_LOAD_MS, make_workload
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.types import Address, Hash, Height
from gusu.mempool import DroppedTransaction, Mempool, PoolTransaction

PROPOSER = Address(bytes(range(20)))
GENESIS_WRITES = make_genesis_writes([GenesisValidator("proposer", PROPOSER, bytes(32), 1, "sim")])
GENESIS_TIP = make_genesis_tip(SIM_SUITE, GENESIS_WRITES)
RULES = compute_sim_rules(SIM_SUITE, make_genesis_state(GENESIS_WRITES), GENESIS_TIP)
EXECUTOR = get_executor()


def _genesis_state() -> dict[bytes, bytes]:
    return make_genesis_state(GENESIS_WRITES)


GENESIS_TREE = make_genesis_state_tree(SIM_SUITE, GENESIS_WRITES)
"""The state tree at the genesis block: only read by the checks below."""


def _run(seed: int, scenario: str, validators: int = 4) -> Simulation:
    simulation = Simulation(seed, get_scenario(scenario), validators)
    simulation.run()
    return simulation


def _kinds(violations: tuple[str, ...]) -> set[str]:
    return {violation.split(":")[0] for violation in violations}


def _find_violation(kind: str, scenario: str, seeds: int) -> tuple[int, tuple[str, ...]]:
    """The first seed of `scenario` (n=4) whose run shows a `kind` violation, and its violations.

    Searching a few seeds keeps these tests meaningful when the simulator changes what a given seed does;
    each broken node below is caught within the first seeds.
    """
    for seed in range(seeds):
        result = run_seed(seed, scenario, 4)
        if kind in _kinds(result.violations):
            return seed, result.violations
    raise AssertionError(f"no {scenario} seed below {seeds} shows a {kind!r} violation")


# --- the application rules ------------------------------------------------------------------------------


def _make_entries(decoder: TransactionDecoder, count: int, *, nonce: int = 0) -> list[PoolTransaction]:
    clients = get_clients()
    raws = [
        make_transfer(SIM_SUITE, clients[index % CLIENT_COUNT], clients[-1].address, 5, nonce + index, Height(100))
        for index in range(count)
    ]
    return [decoder.decode(raw) for raw in raws]


def _build_on_genesis(entries: list[PoolTransaction]) -> tuple[ChainTip, SimBlock, Execution]:
    tip = GENESIS_TIP
    execution = execute_block(
        EXECUTOR, RULES, _genesis_state(), GENESIS_TREE, tip, tip.header.timestamp_ms + 1, PROPOSER, entries
    )
    return tip, make_block(SIM_SUITE, execution.header, entries), execution


def test_a_validator_accepts_a_well_built_block_and_computes_the_same_state() -> None:
    decoder = TransactionDecoder(SIM_SUITE)
    tip, block, built = _build_on_genesis(_make_entries(decoder, 3))
    state = _genesis_state()
    checked = validate_block(EXECUTOR, RULES, decoder, state, GENESIS_TREE, tip, {}, block)
    assert checked == built
    assert checked.header.state_root != tip.header.state_root  # the transfers wrote something
    assert all(receipt.is_success for receipt in checked.receipts)
    assert state == _genesis_state()  # validating changes nothing


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("state-root", "state root does not match"),
        ("parent", "names another parent"),
        ("time", "does not advance"),
        ("duplicate", "appears twice"),
        ("replay", "already committed"),
        ("hash", "hash is not its header's"),
    ],
)
def test_a_validator_refuses_a_tampered_block(tamper: str, reason: str) -> None:
    decoder = TransactionDecoder(SIM_SUITE)
    entries = _make_entries(decoder, 2)
    tip, block, _ = _build_on_genesis(entries)
    committed: dict[Hash, Height] = {}
    header = block.header
    if tamper == "state-root":
        block = make_block(SIM_SUITE, replace(header, state_root=Hash(bytes(32))), entries)
    elif tamper == "parent":
        block = make_block(SIM_SUITE, replace(header, parent_hash=Hash(bytes(32))), entries)
    elif tamper == "time":
        block = make_block(SIM_SUITE, replace(header, timestamp_ms=tip.header.timestamp_ms), entries)
    elif tamper == "duplicate":
        _, block, _ = _build_on_genesis([*entries, entries[0]])
    elif tamper == "replay":
        committed[entries[1].transaction_id] = Height(1)
    else:
        block = SimBlock(header, Hash(bytes(32)), block.raw_transactions)
    with pytest.raises(InvalidBlockError, match=reason):
        validate_block(EXECUTOR, RULES, decoder, _genesis_state(), GENESIS_TREE, tip, committed, block)


def test_a_failing_transfer_commits_with_a_failed_receipt_and_moves_nothing() -> None:
    decoder = TransactionDecoder(SIM_SUITE)
    clients = get_clients()
    raw = make_transfer(SIM_SUITE, clients[0], clients[1].address, cluster.FAILING_AMOUNT, 7, Height(100))
    _, _, execution = _build_on_genesis([decoder.decode(raw)])
    assert [receipt.is_success for receipt in execution.receipts] == [False]
    assert execution.writes == ()
    assert execution.transaction_ids == (decoder.decode(raw).transaction_id,)


def test_workloads_mix_both_modes_and_always_load_past_the_heal() -> None:
    modes = []
    for seed in range(300):
        rng = random.Random(seed)
        plan = SCENARIOS[seed % len(SCENARIOS)].make_plan(rng, 4)
        workload = make_workload(rng, plan)
        modes.append(workload.wait_for_transactions)
        assert workload.load_end_ms == max(plan.heal_ms, plan.min_run_ms) + POST_HEAL_LOAD_MS
        assert workload.empty_block_interval_ms == 0 or workload.wait_for_transactions
        assert 1 <= workload.interval_ms[0] <= workload.interval_ms[1]
    assert 150 < sum(modes) < 250  # about two runs in three wait for transactions


# --- whole runs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "scenario"), [(2, "happy"), (0, "happy"), (5, "chaos"), (24, "crash"), (3, "invalid")]
)
def test_every_acknowledged_transaction_commits_once_and_honest_states_agree(seed: int, scenario: str) -> None:
    simulation = _run(seed, scenario)
    assert simulation.violations == []
    correct = [ack for ack in simulation.acknowledgements.values() if ack.correct_ms is not None]
    assert len(correct) >= 5
    for node in simulation.honest:
        committed = [transaction_id for block in node.store for transaction_id in block.transaction_ids]
        assert len(committed) == len(set(committed))
        assert all(ack.transaction_id in node.committed_ids for ack in correct)
        assert compute_client_balance_total(node.state) == CLIENT_BALANCE * CLIENT_COUNT
    tops = {(node.committed_height, node.tip.header.state_root) for node in simulation.honest}
    assert len({height for height, _ in tops}) == len(tops)  # one state root per height
    # The state really moved: client balances differ from their genesis amounts.
    assert any(node.state != make_genesis_state(simulation.genesis_writes) for node in simulation.honest)


def test_waiting_for_transactions_stops_making_blocks_once_they_are_committed() -> None:
    waiting = _run(2, "happy")
    assert waiting.workload.wait_for_transactions and waiting.workload.empty_block_interval_ms == 0
    assert waiting.is_quiet
    assert all(node.mempool is not None and node.mempool.transaction_count == 0 for node in waiting.nodes)
    # The chain went quiet: its newest block holds transactions, and nothing came in the quiet period.
    settled_ms = waiting.settled_since_ms
    assert settled_ms is not None and waiting.now_ms > settled_ms
    for node in waiting.honest:
        assert node.store[-1].transaction_ids
        assert node.store[-1].committed_at_ms <= settled_ms
    timed = _run(0, "happy")
    assert not timed.workload.wait_for_transactions
    assert any(not block.transaction_ids for block in timed.honest[0].store)


def test_transaction_latency_stays_within_its_bound() -> None:
    simulation = _run(108, "weighted", 7)
    bound_ms = get_transaction_bound_ms(simulation.validator_set.total_power)
    assert bound_ms == cluster.TRANSACTION_BOUND_BASE_MS + simulation.validator_set.total_power * 2_000
    latency_ms = simulation.transaction_latency_ms_max
    assert latency_ms is not None and 0 < latency_ms <= bound_ms
    assert simulation.violations == []


def test_expired_transactions_are_reported_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a two-block validity some transactions expire; the pool reports each, so nothing is lost.
    monkeypatch.setattr(cluster, "CLIENT_VALIDITY_BLOCKS", 2)
    result = run_seed(3, "lossy", 4)
    assert result.transactions_dropped > 0
    assert result.ok, result.violations


# --- checkers against broken nodes ------------------------------------------------------------------------


def test_checkers_catch_silently_dropped_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    on_block_committed = Mempool.on_block_committed

    def drop_silently(self: Mempool, height: Height, committed_ids: object) -> list[DroppedTransaction]:
        on_block_committed(self, height, committed_ids)  # type: ignore[arg-type]
        return []

    monkeypatch.setattr(cluster, "CLIENT_VALIDITY_BLOCKS", 2)
    monkeypatch.setattr(Mempool, "on_block_committed", drop_silently)
    result = run_seed(3, "lossy", 4)
    assert "lost" in _kinds(result.violations), result.violations


def test_checkers_catch_a_validator_that_skips_the_replay_check(monkeypatch: pytest.MonkeyPatch) -> None:
    def forgetful(*args: object) -> Execution:
        executor, rules, decoder, state, state_tree, tip, _, block = args
        return validate_block(executor, rules, decoder, state, state_tree, tip, {}, block)  # type: ignore[arg-type]

    monkeypatch.setattr(cluster, "validate_block", forgetful)
    _, violations = _find_violation("exactly once", "invalid", 10)  # faulty builders propose replays
    assert any("committed transaction" in violation for violation in violations)


def test_checkers_catch_a_validator_that_trusts_the_proposer(monkeypatch: pytest.MonkeyPatch) -> None:
    def trusting(*args: object) -> Execution:
        executor, rules, decoder, state, state_tree, tip, _, block = args
        assert isinstance(decoder, TransactionDecoder) and isinstance(block, SimBlock)
        entries = [decoder.decode(raw) for raw in block.raw_transactions]
        header = block.header
        return execute_block(
            executor,
            rules,
            state,
            state_tree,
            tip,
            header.timestamp_ms,
            header.proposer,
            entries,  # type: ignore[arg-type]
        )

    monkeypatch.setattr(cluster, "validate_block", trusting)
    _, violations = _find_violation("state", "invalid", 10)  # faulty builders propose wrong state roots
    assert any("its own execution gave" in violation for violation in violations)


def test_checkers_catch_a_node_that_forgets_its_journal(monkeypatch: pytest.MonkeyPatch) -> None:
    restart = Simulation._restart

    def restart_with_amnesia(self: Simulation, node: cluster.SimNode) -> None:
        node.journal = []
        restart(self, node)

    monkeypatch.setattr(Simulation, "_restart", restart_with_amnesia)
    _, violations = _find_violation("lost", "weighted", 20)  # crashes after gossip to peers was lost
    assert any("in no pool and on no honest chain" in violation for violation in violations)


def test_checkers_catch_a_node_that_never_tells_the_engine_about_its_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    def silent(self: Simulation, node: cluster.SimNode) -> TransactionsAvailable:
        return TransactionsAvailable(0, 0, self._local_ms(node))

    monkeypatch.setattr(Simulation, "_get_pool_event", silent)
    result = run_seed(2, "happy", 4)  # waits for transactions, with no empty-block interval
    assert result.max_height == 0
    assert any(violation.startswith("liveness: transaction") for violation in result.violations), result.violations
    assert any("had not reached height 1" in violation for violation in result.violations), result.violations


def test_checkers_catch_an_engine_that_makes_empty_blocks_while_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    make_settings = cluster.make_simulation_settings
    monkeypatch.setattr(cluster, "make_simulation_settings", lambda workload=None: make_settings(None))
    result = run_seed(2, "happy", 4)
    assert "idle" in _kinds(result.violations), result.violations


def test_a_failing_seed_prints_itself_and_replays_exactly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def forgetful(*args: object) -> Execution:
        executor, rules, decoder, state, state_tree, tip, _, block = args
        return validate_block(executor, rules, decoder, state, state_tree, tip, {}, block)  # type: ignore[arg-type]

    monkeypatch.setattr(cluster, "validate_block", forgetful)
    seed, _ = _find_violation("exactly once", "invalid", 10)
    assert main(["--seeds", "1", "--start", str(seed), "--scenario", "invalid", "--nodes", "4", "--quiet"]) == 1
    printed = capsys.readouterr().out
    command = f"python -m gusu.eval.simulation --replay {seed} --scenario invalid --nodes 4"
    assert f"FAIL seed {seed} invalid n=4: {command}" in printed
    assert "exactly once:" in printed
    assert main(["--replay", str(seed), "--scenario", "invalid", "--nodes", "4"]) == 1
    replayed = json.loads(capsys.readouterr().out)
    again = run_seed(seed, "invalid", 4)
    assert replayed["digest"] == again.digest
    assert tuple(replayed["violations"]) == again.violations
    assert any(violation.startswith("exactly once:") for violation in again.violations)
