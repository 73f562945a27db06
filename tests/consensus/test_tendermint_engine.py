"""The Tendermint engine driven by hand: one engine, the other validators played by the test.

Each test feeds events and reads the actions, following Algorithm 1 of
"The latest gossip on BFT consensus" line by line where it can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gusu.consensus import (
    TIMER_COMMIT,
    TIMER_PRECOMMIT,
    TIMER_PREVOTE,
    TIMER_PROPOSE,
    Action,
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    Event,
    MessageReceived,
    PeersChanged,
    ProposalBuilt,
    ProposalValidated,
    ReportEvidence,
    ScheduleTimer,
    SendMessage,
    Start,
    TendermintEngine,
    TendermintSettings,
    TimerFired,
    TransactionsAvailable,
    ValidateProposal,
    Validator,
    ValidatorSet,
    verify_commit_certificate,
)
from gusu.consensus.messages import (
    NO_ROUND,
    Equivocation,
    Message,
    Proposal,
    Vote,
    VoteKind,
    encode_signing_bytes,
    get_signer_address,
    validate_message,
)
from gusu.consensus.tendermint import Phase, Step
from gusu.consensus.tendermint_wal import WalKind, decode_wal_record
from gusu.errors import CodecError, ConfigError
from gusu.eval.simulation.crypto import make_identities
from gusu.ledger.types import Address, Hash, Height, Round

CHAIN = "gusu-test"
GENESIS_MS = 1_700_000_000_000
NOW = GENESIS_MS + 5_000
SETTINGS = TendermintSettings()
B = Hash(b"\xbb" * 32)
C = Hash(b"\xcc" * 32)
D = Hash(b"\xdd" * 32)

PREVOTE = VoteKind.PREVOTE
PRECOMMIT = VoteKind.PRECOMMIT


class Committee:
    """Validators with simulation keys; makes signed messages for any of them, and engines."""

    def __init__(self, powers: Sequence[int] = (1, 1, 1, 1), crypto: str = "sim") -> None:
        self.suite, self.identities = make_identities(crypto, 7, len(powers))
        self.validators = ValidatorSet(
            Validator(identity.address, identity.public_key, power)
            for identity, power in zip(self.identities, powers, strict=True)
        )
        self.index = {identity.address: position for position, identity in enumerate(self.identities)}

    def address(self, index: int) -> Address:
        return self.identities[index].address

    def proposer(self, height: int, round_: int) -> int:
        return self.index[self.validators.get_proposer(Height(height), Round(round_)).address]

    def others(self, index: int) -> list[int]:
        return [other for other in range(len(self.identities)) if other != index]

    def _sign(self, index: int, message: Message) -> Message:
        return replace(message, signature=self.identities[index].signer(encode_signing_bytes(message)))

    def vote(
        self, index: int, kind: VoteKind, height: int, round_: int, block_hash: Hash | None, time_ms: int = NOW
    ) -> MessageReceived:
        vote = Vote(kind, CHAIN, Height(height), Round(round_), block_hash, time_ms, self.address(index), b"")
        return MessageReceived(self.address(index), self._sign(index, vote), NOW)

    def proposal(
        self,
        height: int,
        round_: int,
        block_hash: Hash,
        pol_round: int = NO_ROUND,
        index: int | None = None,
        *,
        time_ms: int = NOW - 1,
        received_ms: int = NOW,
    ) -> MessageReceived:
        proposer = self.proposer(height, round_) if index is None else index
        proposal = Proposal(
            CHAIN, Height(height), Round(round_), block_hash, pol_round, time_ms, self.address(proposer), b""
        )
        return MessageReceived(self.address(proposer), self._sign(proposer, proposal), received_ms)

    def validated(
        self,
        height: int,
        round_: int,
        block_hash: Hash,
        is_valid: bool = True,
        *,
        time_ms: int = NOW - 1,
        proposer: int | None = None,
    ) -> ProposalValidated:
        """The node's verdict on a block proposed fresh in `round_` (by default by that round's proposer, at
        the time `proposal` stamps)."""
        index = self.proposer(height, round_) if proposer is None else proposer
        return ProposalValidated(
            Height(height), Round(round_), block_hash, is_valid, timestamp_ms=time_ms, proposer=self.address(index)
        )

    def engine(self, index: int | None, settings: TendermintSettings = SETTINGS) -> TendermintEngine:
        if index is None:
            return TendermintEngine(settings, self.validators, None, None, CHAIN)
        identity = self.identities[index]
        return TendermintEngine(settings, self.validators, identity.address, identity.signer, CHAIN)


class Driver:
    """One engine and everything it did; checks the WAL-before-broadcast rule on every action list."""

    def __init__(self, committee: Committee, index: int | None, settings: TendermintSettings = SETTINGS) -> None:
        self.committee = committee
        self.index = index
        self.engine = committee.engine(index, settings)
        self.wal: list[bytes] = []
        self.sent: list[Message] = []
        self.logged: list[Message] = []
        """Our own signed messages with a WAL record, in the order the records were appended."""

    def feed(self, *events: Event) -> list[Action]:
        actions: list[Action] = []
        for event in events:
            for action in self.engine.on_event(event):
                if isinstance(action, AppendWal):
                    self.wal.append(action.record)
                    record = decode_wal_record(action.record)
                    if record.kind in (WalKind.PROPOSAL, WalKind.VOTE) and record.message is not None:
                        self.logged.append(record.message)
                elif isinstance(action, Broadcast):
                    message = action.message
                    assert isinstance(message, (Proposal, Vote))
                    if get_signer_address(message) == self.own_address:
                        # The rule that makes restarts safe: durable before it leaves.
                        assert message in self.logged, f"{message} broadcast before its WAL record"
                    self.sent.append(message)
                actions.append(action)
        return actions

    def start(self, height: int = 1, wal: Sequence[bytes] = ()) -> list[Action]:
        for raw in wal:
            record = decode_wal_record(raw)
            if record.kind in (WalKind.PROPOSAL, WalKind.VOTE) and record.message is not None:
                self.logged.append(record.message)
        return self.feed(Start(Height(height), NOW, GENESIS_MS, tuple(wal)))

    def fire(self, kind: str, height: int = 1, round_: int | None = None) -> list[Action]:
        round_number = self.engine.round if round_ is None else round_
        return self.feed(TimerFired(Height(height), Round(round_number), kind, NOW + 10))

    def votes(
        self, kind: VoteKind, height: int, round_: int, block_hash: Hash | None, voters: Sequence[int]
    ) -> list[Action]:
        return self.feed(*(self.committee.vote(voter, kind, height, round_, block_hash) for voter in voters))

    def own_votes(self, kind: VoteKind, round_: int | None = None) -> list[Hash | None]:
        return [
            message.block_hash
            for message in self.sent
            if isinstance(message, Vote)
            and message.kind is kind
            and (round_ is None or message.round == round_)
            and message.validator == self.own_address
        ]

    @property
    def own_address(self) -> Address | None:
        return None if self.index is None else self.committee.address(self.index)


T = TypeVar("T")


def get_phase(driver: Driver) -> Phase:
    return driver.engine.phase


def of_type(actions: Sequence[Action], kind: type[T]) -> list[T]:
    return [action for action in actions if isinstance(action, kind)]


def timers(actions: Sequence[Action]) -> dict[str, int]:
    return {action.kind: action.delay_ms for action in of_type(actions, ScheduleTimer)}


def broadcast_votes(actions: Sequence[Action], kind: VoteKind) -> list[Hash | None]:
    return [
        action.message.block_hash
        for action in of_type(actions, Broadcast)
        if isinstance(action.message, Vote) and action.message.kind is kind
    ]


def make_driver() -> Driver:
    """Four equal validators, driving the one that proposes none of the rounds 0-2 of height 1."""
    committee = Committee()
    return Driver(committee, committee.proposer(1, 3))


# --- the happy path ------------------------------------------------------------------------------------


def test_the_proposer_builds_proposes_and_commits_in_round_zero() -> None:
    committee = Committee()
    me = committee.proposer(1, 0)
    driver = Driver(committee, me)
    started = driver.start()
    assert of_type(started, BuildProposal) == [BuildProposal(Height(1), Round(0), NOW)]
    assert timers(started)[TIMER_PROPOSE] == SETTINGS.timeout_propose_ms
    assert decode_wal_record(of_type(started, AppendWal)[0].record).kind is WalKind.ROUND

    built = driver.feed(ProposalBuilt(Height(1), Round(0), B, NOW, 3))
    proposals = [action.message for action in of_type(built, Broadcast) if isinstance(action.message, Proposal)]
    assert [(p.block_hash, p.pol_round, p.timestamp_ms) for p in proposals] == [(B, NO_ROUND, NOW)]
    assert broadcast_votes(built, PREVOTE) == [B]  # l. 22: its own valid proposal
    assert not of_type(built, ValidateProposal)  # it built the block: valid by construction

    others = committee.others(me)
    locked = driver.votes(PREVOTE, 1, 0, B, others[:2])
    assert broadcast_votes(locked, PRECOMMIT) == [B]  # l. 36
    assert (driver.engine.locked_value, driver.engine.locked_round) == (B, 0)
    assert (driver.engine.valid_value, driver.engine.valid_round) == (B, 0)
    kinds = [decode_wal_record(action.record).kind for action in of_type(locked, AppendWal)]
    assert kinds == [WalKind.LOCK, WalKind.VALID, WalKind.VOTE]

    decided = driver.votes(PRECOMMIT, 1, 0, B, others[:2])
    (commit,) = of_type(decided, CommitBlock)
    assert (commit.height, commit.round, commit.block_hash) == (1, 0, B)
    assert commit.certificate is not None and len(commit.certificate.signatures) == 3
    verify_commit_certificate(committee.suite, CHAIN, committee.validators, commit.certificate, B)
    assert get_phase(driver) is Phase.DECIDED

    after = driver.feed(BlockCommitted(Height(1), B, NOW + 50, NOW))
    assert timers(after) == {TIMER_COMMIT: SETTINGS.timeout_commit_ms}
    assert (driver.engine.height, get_phase(driver)) == (2, Phase.WAITING)
    next_round = driver.fire(TIMER_COMMIT, height=2, round_=0)
    assert get_phase(driver) is Phase.RUNNING
    assert TIMER_PROPOSE in timers(next_round)


def test_a_validator_asks_for_validation_then_prevotes_the_proposal() -> None:
    driver = make_driver()
    driver.start()
    received = driver.feed(driver.committee.proposal(1, 0, B))
    assert of_type(received, ValidateProposal) == [ValidateProposal(Height(1), Round(0), B)]
    assert not broadcast_votes(received, PREVOTE)  # valid(v) is not known yet
    validated = driver.feed(driver.committee.validated(1, 0, B))
    assert broadcast_votes(validated, PREVOTE) == [B]
    assert driver.engine.step is Step.PREVOTE


def test_an_invalid_proposal_gets_a_nil_prevote() -> None:
    driver = make_driver()
    driver.start()
    driver.feed(driver.committee.proposal(1, 0, B))
    validated = driver.feed(driver.committee.validated(1, 0, B, False))
    assert broadcast_votes(validated, PREVOTE) == [None]


def test_a_proposal_from_anyone_but_the_proposer_is_ignored() -> None:
    driver = make_driver()
    driver.start()
    impostor = driver.committee.others(driver.committee.proposer(1, 0))[1]
    assert not driver.feed(driver.committee.proposal(1, 0, B, index=impostor))


def test_a_non_validator_follows_and_commits_without_signing() -> None:
    committee = Committee()
    driver = Driver(committee, None)
    actions = driver.start()
    actions += driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    actions += driver.votes(PREVOTE, 1, 0, B, [0, 1, 2])
    actions += driver.votes(PRECOMMIT, 1, 0, B, [0, 1, 2])
    assert not of_type(actions, AppendWal) and not of_type(actions, Broadcast)
    (commit,) = of_type(actions, CommitBlock)
    assert commit.block_hash == B


def test_a_decided_block_commits_even_if_its_proposal_was_lost() -> None:
    driver = make_driver()
    driver.start()
    requested = driver.votes(PRECOMMIT, 1, 0, B, driver.committee.others(driver.index or 0))
    assert of_type(requested, ValidateProposal) == [ValidateProposal(Height(1), Round(0), B)]
    (commit,) = of_type(driver.feed(driver.committee.validated(1, 0, B)), CommitBlock)
    assert commit.block_hash == B


# --- timeouts ---------------------------------------------------------------------------------------------


def test_timeouts_drive_a_round_without_a_proposal_and_grow_with_the_round() -> None:
    driver = make_driver()
    driver.start()
    others = driver.committee.others(driver.index or 0)
    assert broadcast_votes(driver.fire(TIMER_PROPOSE), PREVOTE) == [None]  # l. 57
    # l. 34: more than 2/3 prevotes for different things start the prevote timeout.
    split = driver.votes(PREVOTE, 1, 0, B, others[:1]) + driver.votes(PREVOTE, 1, 0, C, others[1:2])
    assert timers(split) == {TIMER_PREVOTE: SETTINGS.timeout_prevote_ms}
    assert broadcast_votes(driver.fire(TIMER_PREVOTE), PRECOMMIT) == [None]  # l. 61
    # l. 47: more than 2/3 precommits for anything start the precommit timeout.
    waiting = driver.votes(PRECOMMIT, 1, 0, None, others[:1]) + driver.votes(PRECOMMIT, 1, 0, B, others[1:2])
    assert timers(waiting) == {TIMER_PRECOMMIT: SETTINGS.timeout_precommit_ms}
    next_round = driver.fire(TIMER_PRECOMMIT)  # l. 65
    assert driver.engine.round == 1 and driver.engine.step is Step.PROPOSE
    assert timers(next_round)[TIMER_PROPOSE] == SETTINGS.timeout_propose_ms + SETTINGS.timeout_propose_delta_ms
    # Stale timers of the previous round change nothing.
    assert not driver.fire(TIMER_PROPOSE, round_=0)


def test_the_propose_timeout_does_not_cut_short_the_check_of_an_arrived_proposal() -> None:
    driver = make_driver()
    driver.start()
    driver.feed(driver.committee.proposal(1, 0, B))
    extended = driver.fire(TIMER_PROPOSE)
    assert not broadcast_votes(extended, PREVOTE)  # B is still being checked: one more timeout for it
    assert timers(extended) == {TIMER_PROPOSE: SETTINGS.timeout_propose_ms}
    assert driver.engine.step is Step.PROPOSE
    assert broadcast_votes(driver.feed(driver.committee.validated(1, 0, B)), PREVOTE) == [B]


def test_a_check_that_never_ends_costs_two_propose_timeouts_then_a_nil_prevote() -> None:
    driver = make_driver()
    driver.start()
    driver.feed(driver.committee.proposal(1, 0, B))  # its body never comes, say
    assert not broadcast_votes(driver.fire(TIMER_PROPOSE), PREVOTE)
    assert broadcast_votes(driver.fire(TIMER_PROPOSE), PREVOTE) == [None]


def test_the_propose_timeout_still_ends_the_wait_for_a_missing_proof_of_lock() -> None:
    driver = make_driver()
    driver.start()
    driver.votes(PREVOTE, 1, 0, None, driver.committee.others(driver.index)[:3])
    driver.votes(PRECOMMIT, 1, 0, None, driver.committee.others(driver.index)[:3])
    driver.fire(TIMER_PRECOMMIT, round_=0)
    assert driver.engine.round == 1
    driver.feed(driver.committee.proposal(1, 1, B, pol_round=0))  # no prevotes for B in round 0
    assert broadcast_votes(driver.fire(TIMER_PROPOSE, round_=1), PREVOTE) == [None]


def test_an_unreachable_proposer_gets_a_short_propose_timeout() -> None:
    driver = make_driver()
    committee = driver.committee
    reachable = frozenset(committee.address(index) for index in committee.others(driver.index))
    proposer_1 = committee.address(committee.proposer(1, 1))
    driver.feed(PeersChanged(reachable - {proposer_1}))  # before Start: remembered
    started = driver.start()
    assert timers(started)[TIMER_PROPOSE] == SETTINGS.timeout_propose_ms  # round 0's proposer is reachable
    # Round 0's proposer goes away while we wait for its proposal: the wait is cut to the short timeout.
    proposer_0 = committee.address(committee.proposer(1, 0))
    cut = driver.feed(PeersChanged(reachable - {proposer_0, proposer_1}))
    assert timers(cut) == {TIMER_PROPOSE: SETTINGS.timeout_propose_unreachable_ms}
    driver.fire(TIMER_PROPOSE)
    driver.votes(PREVOTE, 1, 0, None, committee.others(driver.index))
    driver.votes(PRECOMMIT, 1, 0, None, committee.others(driver.index))
    next_round = driver.fire(TIMER_PRECOMMIT, round_=0)
    assert driver.engine.round == 1
    assert timers(next_round)[TIMER_PROPOSE] == SETTINGS.timeout_propose_unreachable_ms
    # Once a proposal is here, nothing is cut short.
    driver.feed(committee.proposal(1, 1, B))
    assert not driver.feed(PeersChanged(frozenset()))


def test_nil_prevotes_of_a_quorum_make_a_nil_precommit() -> None:
    driver = make_driver()
    driver.start()
    driver.fire(TIMER_PROPOSE)
    actions = driver.votes(PREVOTE, 1, 0, None, driver.committee.others(driver.index or 0)[:2])
    assert broadcast_votes(actions, PRECOMMIT) == [None]  # l. 44


def test_settings_are_validated_by_name() -> None:
    with pytest.raises(ConfigError, match="timeout_propose_ms"):
        TendermintSettings(timeout_propose_ms=0)
    with pytest.raises(ConfigError, match="timeout_commit_ms"):
        TendermintSettings(timeout_commit_ms=-1)
    with pytest.raises(ConfigError, match="rounds_ahead_max"):
        TendermintSettings(rounds_ahead_max=0)
    with pytest.raises(ConfigError, match="timeout_prevote_delta_ms"):
        TendermintSettings(timeout_prevote_delta_ms=True)
    assert SETTINGS.get_timeout_precommit_ms(Round(3)) == 1000 + 3 * 500


# --- locks ---------------------------------------------------------------------------------------------------


def _lock_on_b_in_round_zero(driver: Driver) -> list[int]:
    committee = driver.committee
    others = committee.others(driver.index or 0)
    driver.start()
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    driver.votes(PREVOTE, 1, 0, B, others[:2])
    assert (driver.engine.locked_value, driver.engine.locked_round) == (B, 0)
    driver.votes(PRECOMMIT, 1, 0, None, others)
    driver.fire(TIMER_PRECOMMIT)
    assert driver.engine.round == 1
    return others


def test_a_locked_validator_prevotes_nil_for_another_block() -> None:
    driver = make_driver()
    _lock_on_b_in_round_zero(driver)
    committee = driver.committee
    actions = driver.feed(committee.proposal(1, 1, C), committee.validated(1, 1, C))
    assert broadcast_votes(actions, PREVOTE) == [None]  # l. 22: lockedValue != v
    assert driver.engine.locked_value == B


def test_a_locked_validator_accepts_a_newer_proof_of_lock() -> None:
    driver = make_driver()
    others = _lock_on_b_in_round_zero(driver)
    committee = driver.committee
    # Round 1: the others prevote C (we prevote nil, locked on B), then everyone precommits nil.
    driver.fire(TIMER_PROPOSE)
    driver.votes(PREVOTE, 1, 1, C, others)
    driver.votes(PRECOMMIT, 1, 1, None, others)
    driver.fire(TIMER_PRECOMMIT)
    assert driver.engine.round == 2
    # l. 28: C with a proof of lock from round 1 > our locked round 0: prevote C.
    actions = driver.feed(committee.proposal(1, 2, C, pol_round=1), committee.validated(1, 2, C))
    assert broadcast_votes(actions, PREVOTE) == [C]


def test_a_proof_of_lock_must_be_complete() -> None:
    driver = make_driver()
    others = _lock_on_b_in_round_zero(driver)
    committee = driver.committee
    driver.fire(TIMER_PROPOSE)
    driver.votes(PREVOTE, 1, 1, C, others[:1])  # one prevote: no proof of lock for round 1
    driver.votes(PRECOMMIT, 1, 1, None, others)
    driver.fire(TIMER_PRECOMMIT)
    actions = driver.feed(committee.proposal(1, 2, C, pol_round=1), committee.validated(1, 2, C))
    assert not broadcast_votes(actions, PREVOTE)  # waits for the proof; the propose timeout bounds the wait
    assert broadcast_votes(driver.fire(TIMER_PROPOSE), PREVOTE) == [None]


def test_a_locked_proposer_proposes_its_valid_value_with_its_proof() -> None:
    committee = Committee()
    me = committee.proposer(1, 1)
    driver = Driver(committee, me)
    driver.start()
    others = committee.others(me)
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    driver.votes(PREVOTE, 1, 0, B, others[:2])
    driver.votes(PRECOMMIT, 1, 0, None, others)
    actions = driver.fire(TIMER_PRECOMMIT)
    assert not of_type(actions, BuildProposal)
    proposals = [action.message for action in of_type(actions, Broadcast) if isinstance(action.message, Proposal)]
    assert [(p.round, p.block_hash, p.pol_round) for p in proposals] == [(1, B, 0)]
    relayed = [action.message for action in of_type(actions, Broadcast) if isinstance(action.message, Vote)]
    assert len([vote for vote in relayed if vote.kind is PREVOTE and vote.round == 0 and vote.block_hash == B]) == 3


# --- round skipping ------------------------------------------------------------------------------------------


def test_messages_from_more_than_a_third_skip_to_their_round() -> None:
    driver = make_driver()
    driver.start()
    others = driver.committee.others(driver.index or 0)
    driver.votes(PREVOTE, 1, 3, None, others[:1])
    assert driver.engine.round == 0  # 1 of 4: not more than 1/3
    skipped = driver.votes(PRECOMMIT, 1, 3, None, others[1:2])
    assert driver.engine.round == 3  # l. 55
    assert timers(skipped)[TIMER_PROPOSE] == SETTINGS.timeout_propose_ms + 3 * SETTINGS.timeout_propose_delta_ms


def test_round_skipping_counts_power_not_validators() -> None:
    committee = Committee((1, 1, 1, 5))  # total 8: more than 1/3 is 3
    heavy = 3
    light = [index for index in range(3) if index != committee.proposer(1, 0)]
    driver = Driver(committee, light[0])
    driver.start()
    driver.votes(PREVOTE, 1, 2, None, [light[1]])
    assert driver.engine.round == 0
    driver.votes(PREVOTE, 1, 4, None, [heavy])
    assert driver.engine.round == 4


def test_rounds_too_far_ahead_are_ignored() -> None:
    driver = Driver(Committee(), 1, replace(SETTINGS, rounds_ahead_max=2))
    driver.start()
    driver.votes(PREVOTE, 1, 3, None, [0, 2, 3])
    assert driver.engine.round == 0
    driver.votes(PREVOTE, 1, 2, None, [0, 2])
    assert driver.engine.round == 2


# --- bookkeeping ------------------------------------------------------------------------------------------------


def test_duplicate_votes_count_once() -> None:
    driver = make_driver()
    driver.start()
    voter = driver.committee.others(driver.index or 0)[0]
    vote = driver.committee.vote(voter, PREVOTE, 1, 0, None)
    driver.fire(TIMER_PROPOSE)
    assert not driver.feed(vote, vote, vote)  # with our own nil prevote: 2 of 4, not 3


def test_equivocation_is_reported_once_and_both_votes_count() -> None:
    committee = Committee()
    me = committee.others(committee.proposer(1, 0))[0]
    driver = Driver(committee, me)
    driver.start()
    twin, *honest = committee.others(me)
    first = committee.vote(twin, PREVOTE, 1, 0, B)
    second = committee.vote(twin, PREVOTE, 1, 0, C)
    actions = driver.feed(first, second, second, committee.vote(twin, PREVOTE, 1, 0, D))
    reports = of_type(actions, ReportEvidence)
    assert len(reports) == 1
    evidence = reports[0].evidence
    assert isinstance(evidence, Equivocation) and evidence.first.block_hash == B
    assert driver.engine.evidence == (evidence,)
    # The equivocator's vote for C counts toward C, so a quorum for C forms with two honest votes.
    driver.feed(committee.proposal(1, 0, C), committee.validated(1, 0, C))
    locked = driver.votes(PREVOTE, 1, 0, C, honest[:1])
    assert broadcast_votes(locked, PRECOMMIT) == [C]


def test_messages_for_the_next_height_wait_and_are_bounded() -> None:
    committee = Committee()
    me = committee.proposer(1, 3)
    driver = Driver(committee, me, replace(SETTINGS, future_messages_max=2))
    driver.start()
    others = committee.others(me)
    driver.votes(PREVOTE, 2, 0, None, others)  # three messages; two are kept
    driver.votes(PREVOTE, 5, 0, None, others)  # far heights: dropped
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    driver.votes(PREVOTE, 1, 0, B, others[:2])
    driver.votes(PRECOMMIT, 1, 0, B, others[:2])
    driver.feed(BlockCommitted(Height(1), B, NOW, NOW))
    tally = driver.engine._log.get_tally(Round(0), PREVOTE)
    assert tally is not None and len(tally.first) == 2
    assert driver.engine.round == 0  # counted, but acted on only once round 0 starts


def test_one_validator_flooding_the_next_height_crowds_out_only_itself() -> None:
    # Finding 9: duplicates and one validator's flood used to fill the buffer for everyone.
    committee = Committee()
    me = committee.proposer(1, 3)
    settings = replace(SETTINGS, future_messages_max=40, future_messages_per_validator_max=8)
    driver = Driver(committee, me, settings)
    driver.start()
    others = committee.others(me)
    flooder, honest = others[0], others[1:]
    for _ in range(5):
        driver.votes(PREVOTE, 2, 0, None, [flooder])  # duplicates
    for round_ in range(settings.rounds_ahead_max + 50):  # every round, both kinds, conflicting values
        driver.feed(
            committee.vote(flooder, PREVOTE, 2, round_, B),
            committee.vote(flooder, PREVOTE, 2, round_, C),
            committee.vote(flooder, PRECOMMIT, 2, round_, D),
        )
    driver.votes(PREVOTE, 2, 0, C, honest)
    sizes = driver.engine.get_bookkeeping_sizes()
    assert sizes["future_messages"] == settings.future_messages_per_validator_max + len(honest)
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    driver.votes(PRECOMMIT, 1, 0, B, others)
    driver.feed(BlockCommitted(Height(1), B, NOW, NOW))
    tally = driver.engine._log.get_tally(Round(0), PREVOTE)
    assert tally is not None
    assert {committee.index[address] for address in tally.voters_by_value.get(C, {})} == set(honest)
    assert driver.engine.get_bookkeeping_sizes()["future_messages"] == 0


def test_the_next_height_buffer_is_bounded_overall() -> None:
    committee = Committee()
    me = committee.proposer(1, 3)
    settings = replace(SETTINGS, future_messages_max=5, future_messages_per_validator_max=4)
    driver = Driver(committee, me, settings)
    driver.start()
    for other in committee.others(me):
        for round_ in range(4):
            driver.votes(PREVOTE, 2, round_, None, [other])
    assert driver.engine.get_bookkeeping_sizes()["future_messages"] == 5


def test_a_peer_one_height_behind_gets_the_precommits() -> None:
    committee = Committee()
    me = committee.proposer(1, 0)
    driver = Driver(committee, me)
    driver.start()
    driver.feed(ProposalBuilt(Height(1), Round(0), B, NOW, 0))
    others = committee.others(me)
    driver.votes(PREVOTE, 1, 0, B, others[:2])
    driver.votes(PRECOMMIT, 1, 0, B, others[:2])
    driver.feed(BlockCommitted(Height(1), B, NOW, NOW))
    laggard = others[2]
    sent = driver.votes(PREVOTE, 1, 3, None, [laggard])
    messages = of_type(sent, SendMessage)
    assert {action.recipient for action in messages} == {committee.address(laggard)}
    assert len(messages) == 3 and all(isinstance(action.message, Vote) for action in messages)
    assert not of_type(driver.votes(PREVOTE, 1, 4, None, [laggard]), SendMessage)  # once per rebroadcast interval


def test_the_proposer_stamps_a_fresh_block_with_its_own_clock_after_the_parent() -> None:
    # PBTS: the proposer's clock, not a median of others' votes; never at or before the parent's time.
    committee = Committee()
    me = committee.proposer(1, 0)
    driver = Driver(committee, me)
    assert of_type(driver.start(), BuildProposal) == [BuildProposal(Height(1), Round(0), NOW)]
    ahead = Driver(committee, me)
    parent_ms = NOW + 60_000
    started = ahead.feed(Start(Height(1), NOW, parent_ms, ()))
    assert of_type(started, BuildProposal) == [BuildProposal(Height(1), Round(0), parent_ms + 1)]


# --- proposer-based timestamps: the timely predicate -----------------------------------------------------------

PRECISION = SETTINGS.block_time_precision_ms
DELAY = SETTINGS.block_time_message_delay_ms


@pytest.mark.parametrize(
    ("offset_ms", "is_prevoted"),
    [
        (-1, True),
        (PRECISION, True),
        (PRECISION + 1, False),
        (-PRECISION - DELAY, True),
        (-PRECISION - DELAY - 1, False),
        (3_600_000, False),
        (-3_600_000, False),
    ],
)
def test_a_fresh_proposal_is_prevoted_only_if_timely_when_it_arrived(offset_ms: int, is_prevoted: bool) -> None:
    # received - PRECISION - MSGDELAY <= time <= received + PRECISION, on our clock at the arrival.
    driver = make_driver()
    driver.start()
    committee = driver.committee
    time_ms = NOW + offset_ms
    driver.feed(committee.proposal(1, 0, B, time_ms=time_ms, received_ms=NOW))
    actions = driver.feed(committee.validated(1, 0, B, time_ms=time_ms))
    assert broadcast_votes(actions, PREVOTE) == [B if is_prevoted else None]


def test_a_proposal_for_a_block_stamped_at_the_end_of_time_is_prevoted_nil() -> None:
    # The attack of finding 1: a timely proposal message for a block whose header says 2^53.
    driver = make_driver()
    driver.start()
    committee = driver.committee
    driver.feed(committee.proposal(1, 0, B))
    actions = driver.feed(committee.validated(1, 0, B, time_ms=2**53))
    assert broadcast_votes(actions, PREVOTE) == [None]


def test_a_proposal_whose_block_names_another_proposer_is_prevoted_nil() -> None:
    driver = make_driver()
    driver.start()
    committee = driver.committee
    other = committee.proposer(1, 1)
    driver.feed(committee.proposal(1, 0, B))
    assert broadcast_votes(driver.feed(committee.validated(1, 0, B, proposer=other)), PREVOTE) == [None]


def test_an_untimely_proposal_is_still_prevoted_once_locked_by_the_network() -> None:
    # l. 28: a re-proposal with a proof of lock keeps its block's old time; > 2/3 found it timely before.
    driver = make_driver()
    driver.start()
    committee = driver.committee
    others = committee.others(driver.index or 0)
    old_ms = NOW - 3_600_000
    driver.fire(TIMER_PROPOSE)
    driver.votes(PREVOTE, 1, 0, B, others)
    driver.votes(PRECOMMIT, 1, 0, None, others)
    driver.fire(TIMER_PRECOMMIT)
    assert driver.engine.round == 1
    driver.feed(committee.proposal(1, 1, B, pol_round=0, time_ms=old_ms))
    actions = driver.feed(committee.validated(1, 1, B, time_ms=old_ms, proposer=committee.proposer(1, 0)))
    assert broadcast_votes(actions, PREVOTE) == [B]


def test_the_message_delay_grows_ten_percent_per_round() -> None:
    assert [SETTINGS.get_block_time_message_delay_ms(Round(r)) for r in (0, 1, 2)] == [DELAY, DELAY * 11 // 10, 3630]
    assert SETTINGS.get_block_time_message_delay_ms(Round(100_000)) <= 2**53
    # So a proposal that a round-0 validator finds too old is timely in a later round.
    driver = make_driver()
    driver.start()
    committee = driver.committee
    others = committee.others(driver.index or 0)
    for round_ in (0, 1):
        driver.fire(TIMER_PROPOSE)
        driver.votes(PREVOTE, 1, round_, None, others)
        driver.votes(PRECOMMIT, 1, round_, None, others)
        driver.fire(TIMER_PRECOMMIT)
    assert driver.engine.round == 2
    time_ms = NOW - PRECISION - DELAY - 600  # within 3,630 ms of delay, not within 3,000
    driver.feed(committee.proposal(1, 2, B, time_ms=time_ms))
    assert broadcast_votes(driver.feed(committee.validated(1, 2, B, time_ms=time_ms)), PREVOTE) == [B]


def test_a_next_height_proposal_is_judged_by_its_arrival_time() -> None:
    committee = Committee()
    me = committee.others(committee.proposer(2, 0))[0]
    driver = Driver(committee, me)
    driver.start()
    # Height 2's proposal arrives early and waits; its time is judged against its arrival, not the commit.
    driver.feed(committee.proposal(2, 0, C, time_ms=NOW + 100, received_ms=NOW))
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    others = committee.others(me)
    driver.votes(PRECOMMIT, 1, 0, B, others)
    driver.feed(BlockCommitted(Height(1), B, NOW + 10_000, NOW - 1))
    driver.fire(TIMER_COMMIT, height=2, round_=0)
    actions = driver.feed(committee.validated(2, 0, C, time_ms=NOW + 100))
    assert broadcast_votes(actions, PREVOTE) == [C]


def test_no_vote_is_stamped_past_what_the_codec_takes() -> None:
    # A chain whose tip is stamped 2^53 (imported before this rule): our votes must still decode.
    committee = Committee()
    me = committee.proposer(1, 0)
    driver = Driver(committee, me)
    started = driver.feed(Start(Height(1), NOW, 2**53, ()))
    assert not of_type(started, BuildProposal)  # no later block can be encoded: the round times out
    driver.fire(TIMER_PROPOSE)
    others = committee.others(me)
    driver.votes(PREVOTE, 1, 0, None, others)
    for message in driver.sent:
        validate_message(message)
        assert message.timestamp_ms == 2**53
    # And a precommit for a block stamped at the limit (its own, say) is capped too.
    locked = Driver(committee, me)
    locked.start()
    locked.feed(ProposalBuilt(Height(1), Round(0), B, 2**53, 0))
    locked.votes(PREVOTE, 1, 0, B, others[:2])
    precommits = [m for m in locked.sent if isinstance(m, Vote) and m.kind is PRECOMMIT]
    assert [m.timestamp_ms for m in precommits] == [2**53]
    validate_message(precommits[0])


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("block_time_precision_ms", -1),
        ("block_time_message_delay_ms", 0),
        ("block_time_precision_ms", 86_400_001),
        ("future_messages_per_validator_max", -1),
    ],
)
def test_block_time_settings_are_validated(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=name):
        TendermintSettings(**{name: value})  # type: ignore[arg-type]


def test_transactions_available_only_moves_the_clock() -> None:
    driver = make_driver()
    driver.start()
    assert not driver.feed(TransactionsAvailable(10, 1000, NOW + 99))


# --- waiting for transactions (no empty blocks) ---------------------------------------------------------------

WAITING = TendermintSettings(wait_for_transactions=True)


def test_a_waiting_proposer_builds_only_once_transactions_arrive() -> None:
    committee = Committee()
    driver = Driver(committee, committee.proposer(1, 0), WAITING)
    started = driver.start()
    assert get_phase(driver) is Phase.IDLE
    assert not of_type(started, BuildProposal) and TIMER_PROPOSE not in timers(started)
    assert not driver.feed(TransactionsAvailable(0, 0, NOW + 1))  # still nothing to decide
    woken = driver.feed(TransactionsAvailable(3, 300, NOW + 2))
    assert get_phase(driver) is Phase.RUNNING
    assert of_type(woken, BuildProposal) == [BuildProposal(Height(1), Round(0), NOW + 2)]
    assert TIMER_PROPOSE in timers(woken)


def test_pending_transactions_before_start_skip_the_wait() -> None:
    committee = Committee()
    driver = Driver(committee, committee.proposer(1, 0), WAITING)
    driver.feed(TransactionsAvailable(1, 100, NOW))  # before Start: remembered
    assert of_type(driver.start(), BuildProposal)


def test_a_start_after_a_synced_block_takes_the_pool_figure_it_carries() -> None:
    committee = Committee()
    driver = Driver(committee, committee.proposer(2, 0), WAITING)
    driver.feed(TransactionsAvailable(5, 500, NOW))  # pending before the synced block took them
    started = driver.feed(Start(Height(2), NOW, GENESIS_MS, (), pool_transaction_count=0))
    assert get_phase(driver) is Phase.IDLE and not of_type(started, BuildProposal)


def test_a_peer_message_of_the_height_wakes_a_waiting_validator() -> None:
    driver = make_driver()
    driver = Driver(driver.committee, driver.index, WAITING)
    driver.start()
    assert get_phase(driver) is Phase.IDLE
    woken = driver.feed(driver.committee.proposal(1, 0, B))
    assert get_phase(driver) is Phase.RUNNING
    assert TIMER_PROPOSE in timers(woken)
    assert of_type(woken, ValidateProposal) == [ValidateProposal(Height(1), Round(0), B)]
    assert broadcast_votes(driver.feed(driver.committee.validated(1, 0, B)), PREVOTE) == [B]


def test_messages_of_other_heights_do_not_wake_a_waiting_validator() -> None:
    driver = make_driver()
    driver = Driver(driver.committee, driver.index, WAITING)
    driver.start(height=2)
    driver.feed(driver.committee.vote(0, PREVOTE, 3, 0, B), driver.committee.vote(0, PREVOTE, 1, 0, B))
    assert get_phase(driver) is Phase.IDLE


def test_after_a_commit_the_next_height_waits_for_transactions() -> None:
    committee = Committee()
    me = committee.proposer(2, 0)
    driver = Driver(committee, me, WAITING)
    driver.feed(TransactionsAvailable(2, 200, NOW))
    driver.start()
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    driver.votes(PREVOTE, 1, 0, B, committee.others(me))
    driver.votes(PRECOMMIT, 1, 0, B, committee.others(me))
    driver.feed(BlockCommitted(Height(1), B, NOW + 50, NOW), TransactionsAvailable(0, 0, NOW + 50))
    assert not of_type(driver.fire(TIMER_COMMIT, height=2, round_=0), BuildProposal)
    assert get_phase(driver) is Phase.IDLE
    assert of_type(driver.feed(TransactionsAvailable(1, 100, NOW + 60)), BuildProposal)


def test_a_full_pool_starts_the_next_height_without_the_commit_wait() -> None:
    committee = Committee()
    me = committee.proposer(2, 0)
    driver = Driver(committee, me, replace(WAITING, full_block_transactions=100))
    driver.feed(TransactionsAvailable(150, 15_000, NOW))
    driver.start()
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    driver.votes(PREVOTE, 1, 0, B, committee.others(me))
    driver.votes(PRECOMMIT, 1, 0, B, committee.others(me))
    driver.feed(BlockCommitted(Height(1), B, NOW + 50, NOW))
    assert get_phase(driver) is Phase.WAITING
    assert not of_type(driver.feed(TransactionsAvailable(99, 9_900, NOW + 51)), BuildProposal)  # not a full block
    started = driver.feed(TransactionsAvailable(100, 10_000, NOW + 52))
    assert get_phase(driver) is Phase.RUNNING and of_type(started, BuildProposal)
    assert not driver.fire(TIMER_COMMIT, height=2, round_=0)  # the commit timer finds the height running


def test_the_empty_block_interval_starts_a_height_without_transactions() -> None:
    committee = Committee()
    settings = replace(WAITING, empty_block_interval_ms=10_000)
    driver = Driver(committee, committee.proposer(1, 0), settings)
    started = driver.start()  # the last block (genesis) is 5 s old: 5 s to go
    assert get_phase(driver) is Phase.IDLE
    assert timers(started) == {"empty-block": GENESIS_MS + 10_000 - NOW}
    assert of_type(driver.fire("empty-block", round_=0), BuildProposal)
    assert get_phase(driver) is Phase.RUNNING

    overdue = Driver(committee, committee.proposer(1, 0), replace(WAITING, empty_block_interval_ms=1_000))
    assert of_type(overdue.start(), BuildProposal)  # already 5 s since the last block


def test_the_empty_block_interval_counts_from_the_local_commit_not_the_block_time() -> None:
    """BFT time stamps a block with when the height before it was decided, which lags the commit."""
    committee = Committee()
    me = committee.proposer(2, 0)
    driver = Driver(committee, me, replace(WAITING, empty_block_interval_ms=1_000))
    driver.feed(TransactionsAvailable(1, 100, NOW))
    driver.start()
    driver.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    driver.votes(PREVOTE, 1, 0, B, committee.others(me))
    driver.votes(PRECOMMIT, 1, 0, B, committee.others(me))
    committed_ms = NOW + 3_000
    driver.feed(TransactionsAvailable(0, 0, committed_ms), BlockCommitted(Height(1), B, committed_ms, NOW - 1))
    idle = driver.feed(TimerFired(Height(2), Round(0), TIMER_COMMIT, committed_ms + 200))
    assert get_phase(driver) is Phase.IDLE
    assert timers(idle) == {"empty-block": 800}


def test_a_restart_inside_a_started_height_does_not_wait() -> None:
    committee = Committee()
    me = committee.others(committee.proposer(1, 0))[0]
    before = Driver(committee, me, WAITING)
    before.feed(TransactionsAvailable(1, 100, NOW))
    before.start()
    before.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    assert before.own_votes(PREVOTE) == [B]
    after = Driver(committee, me, WAITING)
    restarted = after.start(wal=before.wal)  # its pool is empty now, but it voted at this height
    assert get_phase(after) is Phase.RUNNING
    assert broadcast_votes(restarted, PREVOTE) == [B]


# --- restarts and the WAL ------------------------------------------------------------------------------------


def test_a_restarted_validator_resends_its_prevote_and_signs_nothing_new() -> None:
    committee = Committee()
    me = committee.others(committee.proposer(1, 0))[0]
    before = Driver(committee, me)
    before.start()
    before.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    assert before.own_votes(PREVOTE) == [B]

    after = Driver(committee, me)
    restarted = after.start(wal=before.wal)
    assert broadcast_votes(restarted, PREVOTE) == [B]  # the same signed prevote, sent again
    assert not [
        action for action in of_type(restarted, AppendWal) if decode_wal_record(action.record).kind is WalKind.VOTE
    ]
    assert after.engine.step is Step.PREVOTE and after.engine.round == 0
    # Whatever comes now, no second prevote for round 0.
    later = after.fire(TIMER_PROPOSE) + after.feed(committee.proposal(1, 0, C), committee.validated(1, 0, C))
    assert not broadcast_votes(later, PREVOTE)
    original = [m for m in before.sent if isinstance(m, Vote) and m.validator == committee.address(me)]
    assert [m for m in after.sent if isinstance(m, Vote) and m.validator == committee.address(me)] == original


def test_a_restarted_validator_keeps_its_lock() -> None:
    committee = Committee()
    me = committee.proposer(1, 3)
    before = Driver(committee, me)
    _lock_on_b_in_round_zero(before)

    after = Driver(committee, me)
    after.start(wal=before.wal)
    assert (after.engine.locked_value, after.engine.locked_round) == (B, 0)
    assert (after.engine.valid_value, after.engine.valid_round) == (B, 0)
    assert after.engine.round == 1  # the round it had reached
    actions = after.feed(committee.proposal(1, 1, C), committee.validated(1, 1, C))
    assert broadcast_votes(actions, PREVOTE) == [None]


def test_a_restarted_validator_that_prevoted_nil_never_prevotes_a_block_in_that_round() -> None:
    committee = Committee()
    me = committee.others(committee.proposer(1, 0))[0]
    before = Driver(committee, me)
    before.start()
    before.fire(TIMER_PROPOSE)
    assert before.own_votes(PREVOTE) == [None]
    after = Driver(committee, me)
    after.start(wal=before.wal[:])
    actions = after.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    assert broadcast_votes(actions, PREVOTE) == []
    assert after.own_votes(PREVOTE) == [None]


def test_a_restarted_proposer_resends_its_proposal() -> None:
    committee = Committee()
    me = committee.proposer(1, 0)
    before = Driver(committee, me)
    before.start()
    before.feed(ProposalBuilt(Height(1), Round(0), B, NOW, 0))
    after = Driver(committee, me)
    restarted = after.start(wal=before.wal)
    assert not of_type(restarted, BuildProposal)
    proposals = [action.message for action in of_type(restarted, Broadcast) if isinstance(action.message, Proposal)]
    assert proposals == [message for message in before.sent if isinstance(message, Proposal)]


def test_records_of_committed_heights_are_ignored_and_corrupt_ones_refused() -> None:
    committee = Committee()
    me = committee.others(committee.proposer(1, 0))[0]
    before = Driver(committee, me)
    before.start()
    before.fire(TIMER_PROPOSE)
    after = Driver(committee, me)
    after.start(height=2, wal=before.wal)  # height 1 is committed: its records no longer matter
    assert after.engine.height == 2 and after.engine.step is Step.PROPOSE
    with pytest.raises(CodecError, match="WAL record 0 cannot be read"):
        committee.engine(me).on_event(Start(Height(1), NOW, GENESIS_MS, (b"\x00garbage",)))


# --- a property: no double signing whatever arrives ----------------------------------------------------------


PROPERTY_COMMITTEE = Committee()
RESTART = "restart"
"""Stands for a crash and a restart from the WAL in a generated sequence of events."""

heights_under_test = st.integers(1, 2)
rounds_under_test = st.integers(0, 3)
events_under_test: st.SearchStrategy[Event | str] = st.one_of(
    st.builds(
        PROPERTY_COMMITTEE.vote,
        st.integers(0, 3),
        st.sampled_from(VoteKind),
        heights_under_test,
        rounds_under_test,
        st.sampled_from([B, C, None]),
    ),
    rounds_under_test.flatmap(
        lambda round_: st.builds(
            PROPERTY_COMMITTEE.proposal,
            heights_under_test,
            st.just(round_),
            st.sampled_from([B, C]),
            st.integers(NO_ROUND, round_ - 1),
        )
    ),
    st.builds(
        lambda kind, height, round_: TimerFired(Height(height), Round(round_), kind, NOW),
        st.sampled_from([TIMER_PROPOSE, TIMER_PREVOTE, TIMER_PRECOMMIT, TIMER_COMMIT]),
        heights_under_test,
        rounds_under_test,
    ),
    st.builds(
        lambda height, value, is_valid: PROPERTY_COMMITTEE.validated(height, 0, value, is_valid),
        heights_under_test,
        st.sampled_from([B, C]),
        st.booleans(),
    ),
    st.builds(
        lambda height, round_, value: ProposalBuilt(Height(height), Round(round_), value, NOW, 0),
        heights_under_test,
        rounds_under_test,
        st.sampled_from([B, C, D]),
    ),
    st.builds(
        lambda value: BlockCommitted(Height(1), value, NOW, NOW),
        st.sampled_from([B, C]),
    ),
    st.just(RESTART),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 3), st.lists(events_under_test, max_size=60))
def test_no_sequence_of_events_makes_an_engine_sign_twice(me: int, steps: list[Event | str]) -> None:
    committee = PROPERTY_COMMITTEE
    driver = Driver(committee, me)
    driver.start()
    for step in steps:
        if isinstance(step, str):
            # Crash and restart from the WAL, at the height the engine had reached.
            restarted = Driver(committee, me)
            restarted.sent = driver.sent
            restarted.wal = driver.wal
            restarted.start(height=int(driver.engine.height), wal=[*driver.wal])
            driver = restarted
        else:
            driver.feed(step)  # the WAL-before-broadcast rule is checked on every action
    signed: dict[tuple[int, int, str], Message] = {}
    address = committee.address(me)
    for message in driver.sent:
        if get_signer_address(message) != address:
            continue
        kind = message.kind.name if isinstance(message, Vote) else "PROPOSAL"
        slot = (int(message.height), int(message.round), kind)
        assert signed.setdefault(slot, message) == message, f"two different messages for {slot}"


def test_a_restarted_locked_proposer_still_proves_its_lock() -> None:
    # The WAL keeps the prevotes behind a lock: without them the others could never accept the re-proposal.
    committee = Committee()
    me = committee.proposer(1, 1)
    before = Driver(committee, me)
    before.start()
    others = committee.others(me)
    before.feed(committee.proposal(1, 0, B), committee.validated(1, 0, B))
    before.votes(PREVOTE, 1, 0, B, others[:2])
    assert before.engine.locked_value == B
    before.votes(PRECOMMIT, 1, 0, None, others)
    after = Driver(committee, me)
    after.start(wal=before.wal)  # crashed before its precommit timeout: back in round 0
    after.votes(PRECOMMIT, 1, 0, None, others)
    actions = after.fire(TIMER_PRECOMMIT)
    proposals = [action.message for action in of_type(actions, Broadcast) if isinstance(action.message, Proposal)]
    assert [(p.round, p.block_hash, p.pol_round) for p in proposals] == [(1, B, 0)]
    proof = [
        action.message
        for action in of_type(actions, Broadcast)
        if isinstance(action.message, Vote) and action.message.round == 0 and action.message.kind is PREVOTE
    ]
    assert {vote.validator for vote in proof} == {committee.address(index) for index in [me, *others[:2]]}


def test_a_peer_left_in_an_earlier_round_gets_its_precommits() -> None:
    driver = make_driver()
    driver.start()
    others = driver.committee.others(driver.index or 0)
    driver.fire(TIMER_PROPOSE)
    driver.votes(PREVOTE, 1, 0, None, others[:2])  # our nil precommit follows (l. 44)
    driver.votes(PRECOMMIT, 1, 0, None, others[:2])
    driver.fire(TIMER_PRECOMMIT)
    assert driver.engine.round == 1
    laggard = others[2]
    sent = of_type(driver.votes(PREVOTE, 1, 0, None, [laggard]), SendMessage)
    assert {action.recipient for action in sent} == {driver.committee.address(laggard)}
    precommits = [action.message for action in sent if isinstance(action.message, Vote)]
    assert len(precommits) == 3 and all(vote.kind is PRECOMMIT and vote.round == 0 for vote in precommits)
