"""Raft membership follows the configuration schedule (gusu.consensus.raft, "Membership" rules R1-R3)."""

from __future__ import annotations

from raft_cluster import CHAIN, GENESIS_MS, SETTINGS, RaftCluster, block_hash_for

from gusu.consensus import Broadcast, MessageReceived, SendMessage, Start, TimerFired, Validator, ValidatorSet
from gusu.consensus.raft import TIMER_ELECTION, RaftEngine, Role
from gusu.consensus.raft_messages import AppendEntries, AppendReply, RequestVote, VoteReply, make_entry
from gusu.eval.simulation.crypto import make_identities
from gusu.ledger.types import Height, Round


def test_election_and_commit_cross_a_change_and_the_removed_leader_steps_down() -> None:
    changes: dict[int, set[int]] = {}

    def members_at(height: int) -> set[int]:
        found = {0, 1, 2}
        for effective in sorted(changes):
            if effective <= height:
                found = changes[effective]
        return found

    cluster = RaftCluster(4, pool=3, members_at=members_at)
    cluster.advance(3_000)
    (leader,) = cluster.leaders()
    first_term = cluster.members[leader].engine.term
    tip = max(len(m.chain) for m in cluster.members)
    assert tip == 3
    # Decided now, in force two heights after anything any engine knows: the leader leaves, 3 joins.
    effective = tip + 3
    changes[effective] = {0, 1, 2, 3} - {leader}
    cluster.add_transactions(6)
    cluster.advance(6_000)
    new_leaders = cluster.leaders()
    assert len(new_leaders) == 1 and new_leaders[0] != leader
    assert cluster.members[leader].engine.role is not Role.LEADER
    newcomer = cluster.members[3]
    assert len(newcomer.chain) == tip + 6, "the added member stores every block"
    for height, (_, certificate) in enumerate(newcomer.chain, start=1):
        signer = certificate.signatures[0].validator
        expected = changes[effective] if height >= effective else {0, 1, 2}
        assert signer in {cluster.members[i].address for i in expected}, f"height {height} signed by a non-member"
    # The removed leader stored its last height, then stepped down and led no later term.
    assert len(cluster.members[leader].chain) >= effective - 1
    assert all(leader not in leaders for term, leaders in cluster.leaders_by_term.items() if term > first_term)
    cluster.check_safety()


def _engines(count: int) -> tuple[list[RaftEngine], list[ValidatorSet]]:
    """Five identities; heights 1: {0, 1, 2}; 2 and later: {2, 3, 4} (member 2 is in both)."""
    _, identities = make_identities("sim", 11, count)
    old = ValidatorSet(Validator(i.address, i.public_key, 1) for i in identities[:3])
    new = ValidatorSet(Validator(i.address, i.public_key, 1) for i in identities[2:5])
    engines = [RaftEngine(SETTINGS, old, i.address, i.signer, CHAIN) for i in identities]
    now = GENESIS_MS + 10_000
    for engine in engines:
        engine.on_event(Start(Height(1), now, GENESIS_MS, validators=old, next_validators=new))
    return engines, [old, new]


def test_a_majority_of_the_next_height_alone_cannot_elect_across_a_boundary() -> None:
    """A candidate with an uncommitted entry at height 1 needs majorities of M(1) and M(2) (R2)."""
    engines, _ = _engines(5)
    _, identities = make_identities("sim", 11, 5)
    candidate = engines[2]
    now = GENESIS_MS + 10_000
    # Member 0 led term 1 and appended height 1 to member 2; nobody knows it committed.
    entry = make_entry(
        identities[0].signer,
        CHAIN,
        identities[0].address,
        Height(1),
        1,
        block_hash_for(1, 1, identities[0].address),
        GENESIS_MS + 1,
    )
    append = AppendEntries(1, identities[0].address, Height(0), 0, (entry,), Height(0))
    candidate.on_event(MessageReceived(identities[0].address, append, now))
    assert candidate.last_height == 1 and candidate.commit_height == 0
    now += 3_000  # the leader went silent: member 2 stands
    actions = candidate.on_event(TimerFired(Height(0), Round(0), TIMER_ELECTION, now))
    assert any(isinstance(a, Broadcast) and isinstance(a.message, RequestVote) for a in actions)
    assert candidate.role is Role.PRE_CANDIDATE
    # Pre-votes from 3 and 4: a majority of M(2) = {2, 3, 4}, but one of three of M(1) = {0, 1, 2}.
    for voter in (3, 4):
        candidate.on_event(
            MessageReceived(identities[voter].address, VoteReply(2, identities[voter].address, True, True), now)
        )
    assert candidate.role is Role.PRE_CANDIDATE, "a disjoint majority must not suffice"
    candidate.on_event(MessageReceived(identities[1].address, VoteReply(2, identities[1].address, True, True), now))
    assert candidate.role is Role.CANDIDATE and candidate.term == 2
    for voter in (3, 4):
        candidate.on_event(
            MessageReceived(identities[voter].address, VoteReply(2, identities[voter].address, False, True), now)
        )
    assert candidate.role is Role.CANDIDATE, "real votes: still only the new set's majority"
    actions = candidate.on_event(
        MessageReceived(identities[1].address, VoteReply(2, identities[1].address, False, True), now)
    )
    assert candidate.role is Role.LEADER
    # It re-stamps the uncommitted entry; the commit needs a majority of M(1) (R1), not of M(2).
    assert candidate.get_entry(Height(1)) is not None and candidate.get_entry(Height(1)).term == 2  # type: ignore[union-attr]
    for follower in (3, 4):
        ack = AppendReply(2, identities[follower].address, True, Height(1))
        candidate.on_event(MessageReceived(identities[follower].address, ack, now))
    assert candidate.commit_height == 0, "stored by a majority of M(2) only: not committed"
    ack = AppendReply(2, identities[1].address, True, Height(1))
    candidate.on_event(MessageReceived(identities[1].address, ack, now))
    assert candidate.commit_height == 1


def test_a_member_outside_the_next_two_heights_does_not_vote_or_stand() -> None:
    engines, (_old, new) = _engines(5)
    _, identities = make_identities("sim", 11, 5)
    now = GENESIS_MS + 10_000
    # Member 0 stores height 1: its next heights 2 and 3 are the new set's, without it.
    leaver = engines[0]
    leaver.on_event(Start(Height(2), now, GENESIS_MS + 1, validators=new, next_validators=new))
    request = RequestVote(5, identities[3].address, Height(1), 1, False)
    assert leaver.on_event(MessageReceived(identities[3].address, request, now)) == []
    assert leaver.on_event(TimerFired(Height(0), Round(0), TIMER_ELECTION, now + 5_000)) != []
    assert leaver.role is Role.FOLLOWER and leaver.term == 0, "it does not stand either"
    # Member 3 (added at height 2) votes already at tip 0: it is a member of tip + 2.
    joiner = engines[3]
    replies = joiner.on_event(
        MessageReceived(identities[2].address, RequestVote(1, identities[2].address, Height(0), 0, False), now)
    )
    assert any(
        isinstance(a, SendMessage) and isinstance(a.message, VoteReply) and a.message.is_granted for a in replies
    )
