"""A proposer caps its block by gas (`[consensus] proposal_gas_max`, `build_block(gas_max=...)`).

Issue 12's four-validator evidence overload: blocks of 5,000 evidence submissions (74,500 gas each, about 2 s of
building, re-execution and storing per node) outgrew a round on a busy host, so heights went to further rounds and
each new proposer built another such block. A proposer now stops adding transactions once its block used
`proposal_gas_max` gas; validators re-execute exactly what it proposed. These run the node's own block functions
on the simulator's in-memory chain (no timing).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.crypto import get_suite
from gusu.errors import ConfigError, InvalidBlockError
from gusu.eval.simulation.chain import (
    ChainTip,
    TransactionDecoder,
    compute_sim_rules,
    get_clients,
    get_executor,
    get_genesis,
    make_block,
    make_genesis_state,
    make_genesis_state_tree,
    make_genesis_tip,
    make_genesis_writes,
    make_transfer,
    validate_block,
)
from gusu.ledger.smt import StateTree
from gusu.ledger.types import Height
from gusu.mempool import PoolTransaction
from gusu.node.blocks import BlockRules, build_block, compute_block_rules
from gusu.node.config import PROPOSAL_GAS_MAX_DEFAULT, ConsensusSettings, load_config

SUITE = get_suite(get_genesis().suite)
TRANSFERS = 10


def _setup() -> tuple[dict[bytes, bytes], ChainTip, StateTree, list[PoolTransaction], TransactionDecoder]:
    writes = make_genesis_writes(get_genesis().validators)
    state = make_genesis_state(writes)
    tip = make_genesis_tip(SUITE, writes)
    tree = make_genesis_state_tree(SUITE, writes)
    decoder = TransactionDecoder(SUITE)
    sender, recipient = get_clients()[0], get_clients()[1]
    entries = [
        decoder.decode(make_transfer(SUITE, sender, recipient.address, 1, nonce, Height(100)))
        for nonce in range(TRANSFERS)
    ]
    return state, tip, tree, entries, decoder


def _build(gas_max: int | None, block_gas_max: int | None = None) -> tuple[int, int, bool]:
    """(transactions in the block, gas per transfer, whether a validator accepts the block), on a chain whose
    `block_gas_max` is `block_gas_max`."""
    state, tip, tree, entries, decoder = _setup()
    rules = replace(compute_sim_rules(SUITE, state, tip), block_gas_max=block_gas_max)
    built = build_block(
        rules, get_executor(), state, tree, tip.header, tip.block_hash, tip.header.timestamp_ms + 1,
        get_genesis().validators[0].address, entries, gas_max=gas_max,
    )  # fmt: skip
    assert built.transaction_ids == tuple(entry.transaction_id for entry in entries[: len(built.transaction_ids)])
    block = make_block(SUITE, built.header, entries[: built.header.transaction_count])
    # A validator with its own copy of the state re-executes the proposed transactions, uncapped.
    state2, tip2, tree2, _, _ = _setup()
    checked = validate_block(get_executor(), rules, decoder, state2, tree2, tip2, set(), block)
    return built.header.transaction_count, built.receipts[0].gas_used, checked.header == built.header


def test_without_a_cap_the_block_takes_every_selected_transaction() -> None:
    count, _, accepted = _build(None)
    assert count == TRANSFERS and accepted


def test_a_block_stops_taking_transactions_once_it_used_the_gas_cap() -> None:
    _, gas, _ = _build(None)
    # Exactly three transfers' gas: the block stops after the third (the cap is reached, not passed).
    count, _, accepted = _build(3 * gas)
    assert count == 3 and accepted
    # One unit more: the fourth starts below the cap and may pass it.
    count, _, accepted = _build(3 * gas + 1)
    assert count == 4 and accepted


def test_a_cap_below_one_transaction_still_makes_progress() -> None:
    count, _, accepted = _build(1)
    assert count == 1 and accepted


def test_the_gas_cap_is_a_validated_node_setting(tmp_path: Path) -> None:
    assert ConsensusSettings().proposal_gas_max == PROPOSAL_GAS_MAX_DEFAULT
    with pytest.raises(ConfigError, match="proposal_gas_max"):
        ConsensusSettings(proposal_gas_max=0)
    layout = make_chain(tmp_path / "chain")
    config = load_config(layout.node_directories[0])
    assert config.consensus.proposal_gas_max == PROPOSAL_GAS_MAX_DEFAULT  # the template writes it


def test_a_node_builds_its_blocks_within_its_gas_cap(tmp_path: Path) -> None:
    """With `proposal_gas_max = 1` every block holds one transaction, however many wait in the pool."""

    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        config_path = layout.node_directories[0] / "config.toml"
        text = config_path.read_text()
        assert f"proposal_gas_max = {PROPOSAL_GAS_MAX_DEFAULT}" in text
        config_path.write_text(text.replace(f"proposal_gas_max = {PROPOSAL_GAS_MAX_DEFAULT}", "proposal_gas_max = 1"))
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            signed = [sign_transfer(node, dev, bytes([0x22]) * 20, 1 + index) for index in range(6)]
            outcomes = await node.submit_transactions([item.raw for item in signed])
            assert all(outcome.error is None for outcome in outcomes)
            heights = {(await wait_for_receipt(node, item.transaction_id)).height for item in signed}
            assert len(heights) == len(signed)  # one block each
            for height in heights:
                block = node.get_block(height)
                assert block is not None and len(block.transaction_ids) == 1
        finally:
            await node.stop()

    asyncio.run(scenario())


# --- the chain-wide bound: `block_gas_max` (a genesis or governance parameter), checked by validators --------


def test_a_proposer_stops_at_the_chains_block_gas_max_below_its_own_cap() -> None:
    _, gas, _ = _build(None)
    count, _, accepted = _build(PROPOSAL_GAS_MAX_DEFAULT, block_gas_max=3 * gas)
    assert count == 3 and accepted
    count, _, accepted = _build(2 * gas, block_gas_max=3 * gas)  # its own cap is lower: that one holds
    assert count == 2 and accepted


class _CountingExecutor:
    """The simulator's executor, counting the transactions it runs."""

    def __init__(self) -> None:
        self.inner = get_executor()
        self.executed = 0
        original = self.inner._execute_transaction

        def execute(*args: object) -> object:
            self.executed += 1
            return original(*args)  # type: ignore[arg-type]

        self.inner._execute_transaction = execute  # type: ignore[method-assign,assignment]


def test_a_block_past_the_chains_block_gas_max_is_invalid_and_its_check_stops_there() -> None:
    """A proposer that ignores the bound (here: one that builds as if the chain had none) proposes all ten
    transfers; a validator under the chain's rules finds the block invalid after executing only the transfers
    before the bound was reached (and the one that reached it), not the whole block."""
    _, gas, _ = _build(None)
    state, tip, tree, entries, decoder = _setup()
    unbounded = compute_sim_rules(SUITE, state, tip)
    assert unbounded.block_gas_max is None  # the simulated genesis sets none
    built = build_block(
        unbounded, get_executor(), state, tree, tip.header, tip.block_hash, tip.header.timestamp_ms + 1,
        get_genesis().validators[0].address, entries,
    )  # fmt: skip
    assert built.header.transaction_count == TRANSFERS
    block = make_block(SUITE, built.header, entries)
    bounded: BlockRules = replace(unbounded, block_gas_max=3 * gas)
    state2, tip2, tree2, _, _ = _setup()
    counting = _CountingExecutor()
    with pytest.raises(InvalidBlockError, match="block_gas_max of") as raised:
        validate_block(counting.inner, bounded, decoder, state2, tree2, tip2, set(), block)
    assert raised.value.stage == "execution"
    assert counting.executed == 3
    # The control: the block a proposer makes under the bound (its three first transfers) is accepted.
    count, _, accepted = _build(PROPOSAL_GAS_MAX_DEFAULT, block_gas_max=3 * gas)
    assert count == 3 and accepted


def test_block_gas_max_comes_from_genesis_and_is_validated_there() -> None:
    genesis = get_genesis()
    assert compute_block_rules(genesis, SUITE).block_gas_max is None
    parameters = tuple(sorted({**dict(genesis.parameters), "block_gas_max": 5_000_000}.items()))
    bounded = replace(genesis, parameters=parameters)
    assert compute_block_rules(bounded, SUITE).block_gas_max == 5_000_000
    from gusu.ledger.genesis import validate_genesis

    validate_genesis(bounded)
    with pytest.raises(ConfigError, match="block_gas_max must be between 1"):
        validate_genesis(
            replace(genesis, parameters=tuple(sorted({**dict(genesis.parameters), "block_gas_max": 0}.items())))
        )


def test_governance_may_set_block_gas_max_on_a_chain_whose_genesis_has_none() -> None:
    from gusu.execution.governance.proposals import SCHEDULE_PARAMETER_NAMES

    assert "block_gas_max" in SCHEDULE_PARAMETER_NAMES
