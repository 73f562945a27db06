"""The block rules across scheduled configuration changes: validator hashes, proposers and limits of each height.

The chain is the simulator's (real executor, real headers); its `ScheduleExecutor` writes the configuration
schedule where the governance contract writes it when a proposal passes, in the block of the deciding height.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from gusu.errors import InvalidBlockError, StorageError
from gusu.eval.simulation.chain import (
    ChainTip,
    ScheduleExecutor,
    apply_tree_update,
    apply_writes,
    compute_sim_rules,
    execute_block,
    get_genesis,
    make_genesis_state,
    make_genesis_state_tree,
    make_genesis_tip,
    make_genesis_writes,
    make_sim_config,
)
from gusu.eval.simulation.crypto import SIM_SUITE, make_identities
from gusu.ledger.chainconfig import ChainConfig, compute_genesis_config_schedule
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.types import Address, Height, compute_block_hash
from gusu.ledger.validators import compute_validators_hash
from gusu.node.blocks import (
    CONFIG_SCHEDULE_STATE_KEY,
    compute_block_rules,
    get_config_schedule,
    validate_next_header,
)
from gusu.node.schedule import ValidatorSchedule

_, IDENTITIES = make_identities("sim", 3, 5)


def _validators(*powers: int) -> list[GenesisValidator]:
    return [
        GenesisValidator(f"v{index}", identity.address, identity.public_key, power, "sim")
        for index, (identity, power) in enumerate(zip(IDENTITIES, powers, strict=True))
        if power > 0
    ]


SET_A = _validators(1, 1, 1, 1, 0)
SET_B = _validators(0, 1, 1, 1, 1)
"""Validator 0 leaves, validator 4 joins."""
SET_C = _validators(0, 2, 1, 1, 1)


def _address(index: int) -> Address:
    return IDENTITIES[index].address


class Chain:
    """Blocks 1, 2, ... built with the block rules of their height, on a chain whose genesis set is A."""

    def __init__(self, changes: dict[int, tuple[int, ChainConfig]]) -> None:
        writes = make_genesis_writes(SET_A)
        self.state = make_genesis_state(writes)
        self.tip: ChainTip = make_genesis_tip(SIM_SUITE, writes)
        self.state_tree = make_genesis_state_tree(SIM_SUITE, writes)
        self.executor = ScheduleExecutor(
            {Height(decided): (Height(effective), config) for decided, (effective, config) in changes.items()}
        )

    def build_next(self, proposer: Address) -> ChainTip:
        rules = compute_sim_rules(SIM_SUITE, self.state, self.tip)
        execution = execute_block(
            self.executor, rules, self.state, self.state_tree, self.tip, self.tip.header.timestamp_ms + 1, proposer, []
        )
        apply_writes(self.state, execution.writes)
        apply_tree_update(self.state_tree, execution)
        self.tip = ChainTip(execution.header, compute_block_hash(SIM_SUITE, execution.header))
        return self.tip


def _hash(validators: list[GenesisValidator]) -> bytes:
    return compute_validators_hash(SIM_SUITE, validators)


def test_headers_name_the_set_of_their_height_and_announce_the_next() -> None:
    # Decided in block 1, in force from height 3; a second change decided in 4, in force from 6.
    chain = Chain({1: (3, make_sim_config(SET_B)), 4: (6, make_sim_config(SET_C))})
    expected = {
        1: (SET_A, SET_A),
        2: (SET_A, SET_B),  # the header before the change announces it
        3: (SET_B, SET_B),
        4: (SET_B, SET_B),
        5: (SET_B, SET_C),
        6: (SET_C, SET_C),
    }
    for height in range(1, 7):
        header = chain.build_next(_address(1)).header
        current, following = expected[height]
        assert (header.validators_hash, header.next_validators_hash) == (_hash(current), _hash(following)), height


def test_a_genesis_without_a_schedule_keeps_its_validators() -> None:
    genesis = get_genesis()
    assert get_config_schedule(genesis, {}) == compute_genesis_config_schedule(genesis)
    rules = compute_block_rules(genesis, SIM_SUITE, None, Height(7))
    assert rules.validators_hash == rules.next_validators_hash == _hash(list(genesis.validators))


def test_an_unreadable_schedule_is_a_local_fault() -> None:
    with pytest.raises(StorageError, match="schedule"):
        get_config_schedule(get_genesis(), {CONFIG_SCHEDULE_STATE_KEY: b"\x01"})


class TestHostileHeaders:
    """A header must name the sets the parent's state schedules, and a proposer of its own height."""

    def setup_method(self) -> None:
        self.chain = Chain({1: (3, make_sim_config(SET_B))})
        self.chain.build_next(_address(1))  # block 1 decides the change

    def _check(self, height_builder: Address, **changes: object) -> None:
        chain = self.chain
        parent = chain.tip
        rules = compute_sim_rules(SIM_SUITE, chain.state, parent)
        built = execute_block(
            chain.executor,
            rules,
            dict(chain.state),
            chain.state_tree,
            parent,
            parent.header.timestamp_ms + 1,
            height_builder,
            [],
        )
        header = replace(built.header, **changes)  # type: ignore[arg-type]
        validate_next_header(rules, header, parent.header, parent.block_hash)

    def test_block_2_must_announce_the_change(self) -> None:
        self._check(_address(0))
        with pytest.raises(InvalidBlockError, match="another validator set for height 3"):
            self._check(_address(0), next_validators_hash=_hash(SET_A))

    def test_block_3_must_name_the_new_set(self) -> None:
        self.chain.build_next(_address(1))
        self._check(_address(4))
        with pytest.raises(InvalidBlockError, match="another validator set than the one in force"):
            self._check(_address(4), validators_hash=_hash(SET_A))

    def test_a_validator_removed_at_a_height_cannot_propose_there(self) -> None:
        self._check(_address(0))  # still a validator at height 2
        self.chain.build_next(_address(0))
        with pytest.raises(InvalidBlockError, match="not a validator at that height"):
            self._check(_address(0))

    def test_a_validator_added_at_a_height_cannot_propose_before(self) -> None:
        with pytest.raises(InvalidBlockError, match="not a validator at that height"):
            self._check(_address(4))


def test_block_limits_follow_the_schedule() -> None:
    genesis = get_genesis()
    smaller = replace(
        make_sim_config(SET_A),
        parameters=tuple(
            (name, 3 if name == "block_transactions_max" else value) for name, value in genesis.parameters
        ),
    )
    chain = Chain({1: (3, smaller)})
    chain.build_next(_address(1))
    schedule = get_config_schedule(genesis, chain.state)
    before = compute_block_rules(genesis, SIM_SUITE, schedule, Height(2))
    after = compute_block_rules(genesis, SIM_SUITE, schedule, Height(3))
    assert before.block_transactions_max != 3 and after.block_transactions_max == 3


def test_the_schedule_view_knows_two_heights_ahead_and_keeps_one_set_per_entry() -> None:
    chain = Chain({1: (3, make_sim_config(SET_B))})
    chain.build_next(_address(1))
    view = ValidatorSchedule(get_config_schedule(get_genesis(), chain.state), Height(1))
    assert view.get_validator_set(Height(4)) is None  # a change decided in block 2 could still land at 4
    current, following = view.get_engine_sets(Height(2))
    assert current.effective_height == 0 and following.effective_height == 3
    assert {validator.address for validator in following.validators} == {item.address for item in SET_B}
    assert view.get_validator_set(Height(3)) is following  # built once, its rotation cache kept
