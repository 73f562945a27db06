"""Validator-set changes in the consensus layer: rotation from the effective height, the engine's set per height,
and certificates checked against the set of their height."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from gusu.consensus import (
    TIMER_COMMIT,
    TIMER_PROPOSE,
    Action,
    BlockCommitted,
    Broadcast,
    CommitBlock,
    MessageReceived,
    ProposalValidated,
    ScheduleTimer,
    Start,
    TendermintEngine,
    TendermintSettings,
    TimerFired,
    ValidateProposal,
    Validator,
    ValidatorSet,
    assemble_commit_certificate,
    verify_commit_certificate,
)
from gusu.consensus.messages import NO_ROUND, Message, Proposal, Vote, VoteKind, encode_signing_bytes
from gusu.errors import InvalidBlockError
from gusu.eval.simulation.crypto import make_identities
from gusu.ledger.types import Address, CommitCertificate, Hash, Height, Round

CHAIN = "gusu-test"
NOW = 1_700_000_005_000
X = Hash(b"\xee" * 32)
C = Hash(b"\xcc" * 32)
SUITE, IDENTITIES = make_identities("sim", 11, 5)


def _set(powers: Sequence[int], effective_height: int = 0) -> ValidatorSet:
    return ValidatorSet(
        (
            Validator(identity.address, identity.public_key, power)
            for identity, power in zip(IDENTITIES, powers, strict=True)
            if power > 0
        ),
        Height(effective_height),
    )


SET_A = _set((1, 1, 1, 1, 0))
SET_B = _set((0, 1, 1, 1, 1), 3)
"""In force from height 3: validator 0 removed, validator 4 added."""


def _address(index: int) -> Address:
    return IDENTITIES[index].address


def _sign(index: int, message: Message) -> Message:
    return replace(message, signature=IDENTITIES[index].signer(encode_signing_bytes(message)))


def _vote(index: int, kind: VoteKind, height: int, round_: int, block_hash: Hash | None) -> MessageReceived:
    vote = Vote(kind, CHAIN, Height(height), Round(round_), block_hash, NOW, _address(index), b"")
    return MessageReceived(_address(index), _sign(index, vote), NOW)


def _proposal(index: int, height: int, round_: int) -> MessageReceived:
    proposal = Proposal(CHAIN, Height(height), Round(round_), X, NO_ROUND, NOW - 1, _address(index), b"")
    return MessageReceived(_address(index), _sign(index, proposal), NOW)


def _engine(index: int | None, height: int, validators: ValidatorSet, following: ValidatorSet) -> TendermintEngine:
    address = None if index is None else _address(index)
    signer = None if index is None else IDENTITIES[index].signer
    engine = TendermintEngine(TendermintSettings(), SET_A, address, signer, CHAIN)
    engine.on_event(Start(Height(height), NOW, NOW - 1000, validators=validators, next_validators=following))
    return engine


def _index_of(validator_set: ValidatorSet, height: int, round_: int) -> int:
    address = validator_set.get_proposer(Height(height), Round(round_)).address
    return next(index for index, identity in enumerate(IDENTITIES) if identity.address == address)


# --- rotation -----------------------------------------------------------------------------------------


def test_the_genesis_set_keeps_todays_proposers() -> None:
    plain = ValidatorSet(SET_A.validators)
    for effective in (0, 1):
        explicit = ValidatorSet(SET_A.validators, Height(effective))
        for height in range(1, 30):
            for round_ in range(3):
                assert explicit.get_proposer(Height(height), Round(round_)) == plain.get_proposer(
                    Height(height), Round(round_)
                )


def test_a_changed_set_rotates_from_its_effective_height() -> None:
    fresh = ValidatorSet(SET_B.validators)  # the same validators as a genesis set
    for height in range(3, 40):
        for round_ in range(3):
            assert SET_B.get_proposer(Height(height), Round(round_)) == fresh.get_proposer(
                Height(height - 2), Round(round_)
            )
    with pytest.raises(ValueError, match="in force from 3"):
        SET_B.get_proposer(Height(2), Round(0))


# --- the engine's set per height ---------------------------------------------------------------------------


def _validations(actions: Sequence[Action]) -> list[ValidateProposal]:
    return [action for action in actions if isinstance(action, ValidateProposal)]


def test_a_proposal_from_a_validator_removed_at_that_height_is_ignored() -> None:
    # A round in which the old set would have had validator 0 propose height 3.
    round_ = next(r for r in range(50) if _index_of(SET_A, 3, r) == 0)
    engine = _engine(None, 3, SET_B, SET_B)
    assert _validations(engine.on_event(_proposal(0, 3, round_))) == []
    rightful = _index_of(SET_B, 3, 0)
    assert [action.block_hash for action in _validations(engine.on_event(_proposal(rightful, 3, 0)))] == [X]


def test_precommits_of_a_removed_validator_do_not_count() -> None:
    engine = _engine(None, 3, SET_B, SET_B)
    actions: list[Action] = []
    for index in (0, 2, 3):  # a quorum of the old set, only two of four in the new one
        actions += engine.on_event(_vote(index, VoteKind.PRECOMMIT, 3, 0, X))
    assert _validations(actions) == []
    actions = engine.on_event(_vote(4, VoteKind.PRECOMMIT, 3, 0, X))  # the new validator completes it
    assert [action.block_hash for action in _validations(actions)] == [X]


def test_the_next_height_buffer_takes_the_next_set() -> None:
    engine = _engine(None, 2, SET_A, SET_B)
    for index in (0, 2, 3, 4):  # 0 is removed at height 3, 4 added there
        engine.on_event(_vote(index, VoteKind.PRECOMMIT, 3, 0, X))
    assert engine.get_bookkeeping_sizes()["future_messages"] == 3
    actions = engine.on_event(BlockCommitted(Height(2), C, NOW, NOW - 1, validators=SET_B, next_validators=SET_B))
    # 2, 3 and 4 are three of the new set's four: the buffered precommits make a quorum at once.
    assert [action.block_hash for action in _validations(actions)] == [X]


def test_commit_moves_the_engine_to_the_set_of_the_next_height() -> None:
    engine = _engine(1, 2, SET_A, SET_B)
    actions: list[Action] = []
    for index in (0, 2, 3):
        actions += engine.on_event(_vote(index, VoteKind.PRECOMMIT, 2, 0, X))
    actions += engine.on_event(_validated(2, X))
    assert any(isinstance(action, CommitBlock) for action in actions)
    engine.on_event(BlockCommitted(Height(2), X, NOW, NOW - 1))  # no sets given: the announced one follows
    assert engine.validator_set is SET_B and engine.height == 3


def _validated(height: int, block_hash: Hash) -> ProposalValidated:
    return ProposalValidated(Height(height), Round(0), block_hash, True, timestamp_ms=NOW - 1, proposer=_address(1))


def _signed_votes(actions: Sequence[Action]) -> list[Vote]:
    return [action.message for action in actions if isinstance(action, Broadcast) and isinstance(action.message, Vote)]


def test_a_removed_validator_stops_signing_and_an_added_one_starts() -> None:
    removed = _engine(0, 3, SET_B, SET_B)
    added = _engine(4, 3, SET_B, SET_B)
    assert not removed.is_validator and added.is_validator
    round_ = removed.round
    timeout = TimerFired(Height(3), round_, TIMER_PROPOSE, NOW + 10_000)
    assert _signed_votes(removed.on_event(timeout)) == []
    assert [vote.validator for vote in _signed_votes(added.on_event(timeout))] == [_address(4)]


def test_an_engine_follows_sets_handed_in_with_each_commit() -> None:
    engine = _engine(4, 2, SET_A, SET_A)
    assert not engine.is_validator
    engine.on_event(BlockCommitted(Height(2), X, NOW, NOW - 1, validators=SET_B, next_validators=SET_B))
    assert engine.is_validator and engine.validator_set is SET_B


# --- certificates ------------------------------------------------------------------------------------------


def _certificate(height: int, signers: Sequence[int]) -> CommitCertificate:
    votes = []
    for index in signers:
        vote = Vote(VoteKind.PRECOMMIT, CHAIN, Height(height), Round(0), X, NOW, _address(index), b"")
        votes.append(_sign(index, vote))
    return assemble_commit_certificate(vote for vote in votes if isinstance(vote, Vote))


def test_a_certificate_of_the_old_set_does_not_prove_a_height_of_the_new_one() -> None:
    old_quorum = _certificate(3, (0, 1, 2))
    verify_commit_certificate(SUITE, CHAIN, SET_A, old_quorum, X)  # the old set's own height: fine
    with pytest.raises(InvalidBlockError, match="not a validator"):
        verify_commit_certificate(SUITE, CHAIN, SET_B, old_quorum, X)
    too_little = _certificate(3, (1, 2))  # both still validators, but two of four is no quorum
    with pytest.raises(InvalidBlockError, match="more than 2/3"):
        verify_commit_certificate(SUITE, CHAIN, SET_B, too_little, X)
    verify_commit_certificate(SUITE, CHAIN, SET_B, _certificate(3, (1, 2, 4)), X)


def test_timeouts_handed_in_with_a_commit_pace_the_next_height() -> None:
    engine = _engine(1, 2, SET_A, SET_A)
    faster = TendermintSettings(timeout_propose_ms=111, timeout_commit_ms=222)
    actions = engine.on_event(BlockCommitted(Height(2), X, NOW, NOW - 1, engine_settings=faster))
    commit_timers = [action for action in actions if isinstance(action, ScheduleTimer) and action.kind == TIMER_COMMIT]
    assert [timer.delay_ms for timer in commit_timers] == [222]
    actions = engine.on_event(TimerFired(Height(3), Round(0), TIMER_COMMIT, NOW + 300))
    propose = [action for action in actions if isinstance(action, ScheduleTimer) and action.kind == TIMER_PROPOSE]
    assert [timer.delay_ms for timer in propose] == [111]
