"""Validator sets: quorum arithmetic by power, and CometBFT's weighted proposer rotation."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.consensus.validator_set import (
    Validator,
    ValidatorSet,
    apply_proposer_selection,
    compute_one_third_plus_power,
    compute_quorum_power,
)
from gusu.crypto import get_suite
from gusu.errors import ConfigError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.types import Address, Height, Round
from gusu.ledger.validators import compute_validators_hash


def address(index: int) -> Address:
    return Address(bytes([index + 1]) * 20)


def make_set(powers: list[int]) -> ValidatorSet:
    return ValidatorSet(Validator(address(index), b"key%d" % index, power) for index, power in enumerate(powers))


# --- quorum arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "quorum", "one_third_plus"),
    [(1, 1, 1), (2, 2, 1), (3, 3, 2), (4, 3, 2), (6, 5, 3), (7, 5, 3), (10, 7, 4), (100, 67, 34), (300, 201, 101)],
)
def test_quorum_is_more_than_two_thirds_of_the_power(total: int, quorum: int, one_third_plus: int) -> None:
    assert compute_quorum_power(total) == quorum
    assert compute_one_third_plus_power(total) == one_third_plus


@given(st.integers(min_value=1, max_value=2**48))
def test_quorum_power_is_the_least_power_above_two_thirds(total: int) -> None:
    quorum = compute_quorum_power(total)
    assert 3 * quorum > 2 * total
    assert not 3 * (quorum - 1) > 2 * total
    third = compute_one_third_plus_power(total)
    assert 3 * third > total
    assert not 3 * (third - 1) > total


def test_quorums_count_power_not_validators() -> None:
    validators = make_set([5, 1, 1, 1])  # total 8: a quorum needs 6
    assert validators.total_power == 8
    assert validators.quorum_power == 6
    light = [address(1), address(2), address(3)]
    assert validators.compute_power(light) == 3
    assert not validators.is_quorum(validators.compute_power(light))  # three of four validators, not a quorum
    assert validators.is_quorum(validators.compute_power([address(0), address(1)]))  # two of four, a quorum
    assert validators.is_one_third_plus(validators.get_power(address(0)))  # one heavy validator alone
    assert not validators.is_one_third_plus(validators.compute_power([address(1), address(2)]))


def test_power_lookup_and_membership() -> None:
    validators = make_set([3, 2])
    assert validators.get_power(address(0)) == 3
    assert validators.get_power(Address(bytes(20))) == 0
    assert validators.contains(address(1))
    assert not validators.contains(Address(bytes(20)))
    assert validators.compute_power([address(0), address(0)]) == 3  # each validator counts once
    validator = validators.get_validator(address(1))
    assert validator is not None and validator.power == 2


@pytest.mark.parametrize(
    ("powers", "message"),
    [([], "1 to"), ([1, 0], "positive"), ([1, -2], "positive")],
)
def test_invalid_sets_are_rejected(powers: list[int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_set(powers)


def test_duplicate_addresses_are_rejected() -> None:
    with pytest.raises(ConfigError, match="twice"):
        ValidatorSet([Validator(address(0), b"a", 1), Validator(address(0), b"b", 1)])


def test_validators_hash_matches_the_ledger() -> None:
    suite = get_suite("ecdsa")
    genesis_validators = [
        GenesisValidator(f"v{index}", address(index), b"key%d" % index, index + 1, "org0") for index in (2, 0, 1)
    ]
    validators = ValidatorSet.from_genesis_validators(genesis_validators)
    assert validators.compute_validators_hash(suite) == compute_validators_hash(suite, genesis_validators)


# --- proposer rotation ----------------------------------------------------------------------------


def test_rotation_follows_the_cometbft_example() -> None:
    # spec/consensus/proposer-selection.md: powers p1=1, p2=3 elect p2, p1, p2, p2 and repeat.
    validators = make_set([1, 3])
    sequence = [validators.get_proposer(Height(height), Round(0)).address for height in range(1, 9)]
    p1, p2 = address(0), address(1)
    assert sequence == [p2, p1, p2, p2, p2, p1, p2, p2]


def test_round_r_of_height_h_is_run_h_plus_r() -> None:
    validators = make_set([1, 2, 3, 4])
    for height in range(1, 20):
        for round_ in range(0, 5):
            assert validators.get_proposer(Height(height), Round(round_)) == validators.get_proposer(
                Height(height + round_), Round(0)
            )


def test_equal_powers_rotate_round_robin() -> None:
    validators = make_set([1, 1, 1, 1])
    proposers = [validators.get_proposer(Height(height), Round(0)).address for height in range(1, 13)]
    assert proposers == [address(index % 4) for index in range(12)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=8))
def test_frequency_is_proportional_to_power(powers: list[int]) -> None:
    validators = make_set(powers)
    total = validators.total_power
    cycles = 3
    counts = collections.Counter(
        validators.get_proposer(Height(height), Round(0)).address for height in range(1, cycles * total + 1)
    )
    for index, power in enumerate(powers):
        assert counts[address(index)] == cycles * power


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(min_value=1, max_value=3000), st.integers(min_value=0, max_value=20)), max_size=30),
)
def test_rotation_is_deterministic_whatever_the_query_order(powers: list[int], queries: list[tuple[int, int]]) -> None:
    first = make_set(powers)
    second = make_set(powers)
    answers = [first.get_proposer(Height(h), Round(r)).address for h, r in queries]
    backwards = [second.get_proposer(Height(h), Round(r)).address for h, r in reversed(queries)]
    assert answers == list(reversed(backwards))


def test_listing_order_does_not_matter() -> None:
    members = [Validator(address(index), b"k", power) for index, power in enumerate([3, 1, 4, 1, 5])]
    forward = ValidatorSet(members)
    backward = ValidatorSet(reversed(members))
    for height in range(1, 60):
        assert forward.get_proposer(Height(height), Round(1)) == backward.get_proposer(Height(height), Round(1))


def test_huge_powers_are_walked_without_a_cached_period() -> None:
    # The period (the total power) is far beyond the cache: the set walks from a cursor instead.
    validators = make_set([2**40, 3, 1])
    fresh = make_set([2**40, 3, 1])
    far = validators.get_proposer(Height(70_000), Round(0))
    near = validators.get_proposer(Height(5), Round(0))  # behind the cursor: recomputed from zero
    assert fresh.get_proposer(Height(5), Round(0)) == near
    assert make_set([2**40, 3, 1]).get_proposer(Height(70_000), Round(0)) == far
    assert far.address == address(0)


def test_scaling_keeps_priorities_within_the_window() -> None:
    # Priorities far apart (as after set changes) are scaled into 2 * total, then centered.
    priorities, proposer = apply_proposer_selection(
        [10_000, -10_000, 0], [1, 1, 1], [address(0), address(1), address(2)]
    )
    assert proposer == 0
    assert max(priorities) - min(priorities) <= 2 * 3 + 3
    assert abs(sum(priorities)) < 3


def test_ties_go_to_the_lowest_address() -> None:
    _, proposer = apply_proposer_selection([0, 0], [1, 1], [address(5), address(2)])
    assert proposer == 1


def test_no_proposer_before_height_one() -> None:
    with pytest.raises(ValueError):
        make_set([1]).get_proposer(Height(0), Round(0))
