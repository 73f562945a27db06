"""Voting policies: pure vote counting, integers only.

A proposal's outcome is a function of its kind's policy, the organisations
active when the vote is counted (name and weight), and the votes cast so far
(organisation -> approve). It is `approved` when the policy is met, `rejected`
when no way of casting the remaining votes could still meet it, and `pending`
otherwise. Votes of organisations that are no longer active do not count.

WEIGHTED compares basis points by cross-multiplication, so no division and no
floating point ever decides a vote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

RULE_ANY = "ANY"
RULE_ALL = "ALL"
RULE_MAJORITY = "MAJORITY"
RULE_N_OF_M = "N_OF_M"
RULE_WEIGHTED = "WEIGHTED"
RULE_SELF = "SELF"
RULE_FORBIDDEN = "FORBIDDEN"
RULES = (RULE_ANY, RULE_ALL, RULE_MAJORITY, RULE_N_OF_M, RULE_WEIGHTED, RULE_SELF, RULE_FORBIDDEN)

BASIS_POINTS = 10_000
"""100 %, in basis points (WEIGHTED thresholds)."""
N_OF_M_MAX = 64
"""The largest N of an N_OF_M policy (ORGANIZATIONS_MAX)."""

OUTCOME_PENDING = "pending"
OUTCOME_APPROVED = "approved"
OUTCOME_REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Policy:
    rule: str
    threshold_a: int = 0
    """N of N_OF_M; the participation basis points of WEIGHTED; 0 otherwise."""
    threshold_b: int = 0
    """The approval basis points of WEIGHTED; 0 otherwise."""


def validate_policy(policy: Policy) -> str | None:
    """Why `policy` is not a valid policy, or None if it is."""
    rule, a, b = policy.rule, policy.threshold_a, policy.threshold_b
    if rule not in RULES:
        return f"unknown voting rule {rule!r}; rules: {', '.join(RULES)}"
    if rule == RULE_N_OF_M:
        if not 1 <= a <= N_OF_M_MAX or b != 0:
            return f"N_OF_M takes threshold_a = N between 1 and {N_OF_M_MAX} and threshold_b = 0"
    elif rule == RULE_WEIGHTED:
        if not (1 <= a <= BASIS_POINTS and 1 <= b <= BASIS_POINTS):
            return (
                f"WEIGHTED takes threshold_a (participation) and threshold_b (approval) in basis points, "
                f"each between 1 and {BASIS_POINTS}"
            )
    elif a != 0 or b != 0:
        return f"{rule} takes no thresholds: set threshold_a and threshold_b to 0"
    return None


def compute_outcome(
    policy: Policy,
    organizations: Sequence[tuple[str, int]],
    votes: Mapping[str, bool],
    subject: str | None = None,
) -> str:
    """The outcome of a vote: OUTCOME_APPROVED, OUTCOME_REJECTED or OUTCOME_PENDING.

    `organizations` are the active organisations as (name, weight), `votes`
    maps an organisation to its vote, and `subject` is the organisation a
    change concerns (the only one whose vote counts under SELF).
    """
    rule = policy.rule
    count = len(organizations)
    approvals = rejections = 0
    approve_weight = reject_weight = total_weight = 0
    for name, weight in organizations:
        total_weight += weight
        vote = votes.get(name)
        if vote is True:
            approvals += 1
            approve_weight += weight
        elif vote is False:
            rejections += 1
            reject_weight += weight
    undecided = count - approvals - rejections
    if count == 0 or rule == RULE_FORBIDDEN:
        return OUTCOME_REJECTED
    if rule == RULE_SELF:
        if subject is None or subject not in {name for name, _ in organizations}:
            return OUTCOME_REJECTED
        vote = votes.get(subject)
        return OUTCOME_PENDING if vote is None else OUTCOME_APPROVED if vote else OUTCOME_REJECTED
    if rule == RULE_WEIGHTED:
        return _compute_weighted(policy, total_weight, approve_weight, reject_weight)
    needed = {
        RULE_ANY: 1,
        RULE_ALL: count,
        RULE_MAJORITY: count // 2 + 1,
        RULE_N_OF_M: policy.threshold_a,
    }[rule]
    if approvals >= needed:
        return OUTCOME_APPROVED
    if approvals + undecided < needed:
        return OUTCOME_REJECTED
    return OUTCOME_PENDING


def is_weighted_met(policy: Policy, total_weight: int, approve_weight: int, voted_weight: int) -> bool:
    """Participation and approval thresholds of WEIGHTED, compared in integers."""
    return (
        voted_weight * BASIS_POINTS >= policy.threshold_a * total_weight
        and approve_weight * BASIS_POINTS >= policy.threshold_b * voted_weight
    )


def _compute_weighted(policy: Policy, total_weight: int, approve_weight: int, reject_weight: int) -> str:
    if is_weighted_met(policy, total_weight, approve_weight, approve_weight + reject_weight):
        return OUTCOME_APPROVED
    # Every further approval raises both participation and the approving share,
    # so if the remaining organisations all approving cannot meet the policy, nothing can.
    undecided_weight = total_weight - approve_weight - reject_weight
    best_approve = approve_weight + undecided_weight
    if not is_weighted_met(policy, total_weight, best_approve, best_approve + reject_weight):
        return OUTCOME_REJECTED
    return OUTCOME_PENDING
