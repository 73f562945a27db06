"""Vote counting: each rule's arithmetic, and WEIGHTED and N_OF_M against a brute-force reference."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.execution.governance.policies import (
    OUTCOME_APPROVED,
    OUTCOME_PENDING,
    OUTCOME_REJECTED,
    Policy,
    compute_outcome,
    validate_policy,
)

THREE = [("a", 1), ("b", 1), ("c", 1)]
FOUR = [*THREE, ("d", 1)]


def test_any_all_and_majority() -> None:
    assert compute_outcome(Policy("ANY"), THREE, {"a": True}) == OUTCOME_APPROVED
    assert compute_outcome(Policy("ANY"), THREE, {"a": False, "b": False}) == OUTCOME_PENDING
    assert compute_outcome(Policy("ANY"), THREE, {"a": False, "b": False, "c": False}) == OUTCOME_REJECTED
    assert compute_outcome(Policy("ALL"), THREE, {"a": True, "b": True}) == OUTCOME_PENDING
    assert compute_outcome(Policy("ALL"), THREE, {"a": True, "b": True, "c": True}) == OUTCOME_APPROVED
    assert compute_outcome(Policy("ALL"), THREE, {"a": True, "c": False}) == OUTCOME_REJECTED
    assert compute_outcome(Policy("MAJORITY"), THREE, {"a": True}) == OUTCOME_PENDING
    assert compute_outcome(Policy("MAJORITY"), THREE, {"a": True, "b": True}) == OUTCOME_APPROVED
    assert compute_outcome(Policy("MAJORITY"), THREE, {"a": False, "b": False}) == OUTCOME_REJECTED
    # Exactly half is not more than half.
    assert compute_outcome(Policy("MAJORITY"), FOUR, {"a": True, "b": True}) == OUTCOME_PENDING
    assert compute_outcome(Policy("MAJORITY"), FOUR, {"a": True, "b": True, "c": False, "d": False}) == (
        OUTCOME_REJECTED
    )
    assert compute_outcome(Policy("MAJORITY"), FOUR, {"a": True, "b": True, "c": True}) == OUTCOME_APPROVED


def test_votes_of_organisations_no_longer_active_do_not_count() -> None:
    assert compute_outcome(Policy("MAJORITY"), THREE, {"a": True, "gone": True, "x": True}) == OUTCOME_PENDING
    assert compute_outcome(Policy("ANY"), [], {"a": True}) == OUTCOME_REJECTED


def test_self_and_forbidden() -> None:
    assert compute_outcome(Policy("SELF"), THREE, {"a": True}, subject="b") == OUTCOME_PENDING
    assert compute_outcome(Policy("SELF"), THREE, {"a": True, "b": True}, subject="b") == OUTCOME_APPROVED
    assert compute_outcome(Policy("SELF"), THREE, {"b": False}, subject="b") == OUTCOME_REJECTED
    assert compute_outcome(Policy("SELF"), THREE, {"a": True}, subject=None) == OUTCOME_REJECTED
    assert compute_outcome(Policy("SELF"), THREE, {"a": True}, subject="gone") == OUTCOME_REJECTED
    assert compute_outcome(Policy("FORBIDDEN"), THREE, {"a": True, "b": True, "c": True}) == OUTCOME_REJECTED


def test_policy_validation() -> None:
    assert validate_policy(Policy("MAJORITY")) is None
    assert validate_policy(Policy("N_OF_M", 2)) is None
    assert validate_policy(Policy("WEIGHTED", 5_000, 6_667)) is None
    for bad in (
        Policy("MOST"),
        Policy("MAJORITY", 1),
        Policy("N_OF_M", 0),
        Policy("N_OF_M", 65),
        Policy("N_OF_M", 2, 1),
        Policy("WEIGHTED", 0, 5_000),
        Policy("WEIGHTED", 5_000, 10_001),
    ):
        assert validate_policy(bad) is not None, bad


# --- brute-force references ----------------------------------------------------------------------


def _weighted_met(policy: Policy, organizations: list[tuple[str, int]], votes: dict[str, bool]) -> bool:
    total = sum(weight for _, weight in organizations)
    voted = sum(weight for name, weight in organizations if name in votes)
    approving = sum(weight for name, weight in organizations if votes.get(name) is True)
    participation = Fraction(voted, total) >= Fraction(policy.threshold_a, 10_000)
    approval = voted == 0 or Fraction(approving, voted) >= Fraction(policy.threshold_b, 10_000)
    return participation and approval


def _n_of_m_met(policy: Policy, organizations: list[tuple[str, int]], votes: dict[str, bool]) -> bool:
    return sum(1 for name, _ in organizations if votes.get(name) is True) >= policy.threshold_a


def _reference(
    met: object, policy: Policy, organizations: list[tuple[str, int]], votes: dict[str, bool], choices: tuple
) -> str:
    assert callable(met)
    if met(policy, organizations, votes):
        return OUTCOME_APPROVED
    undecided = [name for name, _ in organizations if name not in votes]
    for completion in itertools.product(choices, repeat=len(undecided)):
        completed = dict(votes)
        for name, choice in zip(undecided, completion, strict=True):
            if choice is not None:
                completed[name] = choice
        if met(policy, organizations, completed):
            return OUTCOME_PENDING
    return OUTCOME_REJECTED


_organizations = st.lists(st.integers(min_value=1, max_value=2**20), min_size=1, max_size=6).map(
    lambda weights: [(f"org{index}", weight) for index, weight in enumerate(weights)]
)


@st.composite
def _ballots(draw: st.DrawFn) -> tuple[list[tuple[str, int]], dict[str, bool]]:
    organizations = draw(_organizations)
    votes: dict[str, bool] = {}
    for name, _ in organizations:
        choice = draw(st.sampled_from([None, True, False]))
        if choice is not None:
            votes[name] = choice
    return organizations, votes


@settings(max_examples=400, deadline=None)
@given(
    _ballots(),
    st.integers(min_value=1, max_value=10_000),
    st.integers(min_value=1, max_value=10_000),
)
def test_weighted_matches_the_brute_force_reference(
    ballots: tuple[list[tuple[str, int]], dict[str, bool]], participation: int, approval: int
) -> None:
    organizations, votes = ballots
    policy = Policy("WEIGHTED", participation, approval)
    # An undecided organisation may approve, reject or never vote.
    expected = _reference(_weighted_met, policy, organizations, votes, (True, False, None))
    assert compute_outcome(policy, organizations, votes) == expected


@settings(max_examples=300, deadline=None)
@given(_ballots(), st.integers(min_value=1, max_value=8))
def test_n_of_m_matches_the_brute_force_reference(
    ballots: tuple[list[tuple[str, int]], dict[str, bool]], needed: int
) -> None:
    organizations, votes = ballots
    policy = Policy("N_OF_M", needed)
    expected = _reference(_n_of_m_met, policy, organizations, votes, (True, False))
    assert compute_outcome(policy, organizations, votes) == expected


def test_weighted_boundaries_are_exact() -> None:
    organizations = [("a", 2), ("b", 1)]
    # 2/3 participation is 6666.67 basis points: 6,666 is met, 6,667 is not.
    assert compute_outcome(Policy("WEIGHTED", 6_666, 10_000), organizations, {"a": True}) == OUTCOME_APPROVED
    assert compute_outcome(Policy("WEIGHTED", 6_667, 10_000), organizations, {"a": True}) == OUTCOME_PENDING
    assert compute_outcome(Policy("WEIGHTED", 10_000, 6_666), organizations, {"a": True, "b": False}) == (
        OUTCOME_APPROVED
    )
    assert compute_outcome(Policy("WEIGHTED", 10_000, 6_667), organizations, {"a": True, "b": False}) == (
        OUTCOME_REJECTED
    )
