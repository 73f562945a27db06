"""The Raft engine's rules (Ongaro & Ousterhout 2014; thesis §9.6 PreVote, §6.2 CheckQuorum) on a small cluster.

Each test drives real `RaftEngine`s through `RaftCluster` (messages cross
the wire encoding; every commit is checked against every other member's
chain and against one leader per term).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from raft_cluster import CHAIN, GENESIS_MS, SETTINGS, RaftCluster

from gusu.consensus import AppendWal, MessageReceived, SendMessage, SoloSettings, Start, TimerFired
from gusu.consensus.raft import (
    TIMER_ELECTION,
    RaftEngine,
    RaftSettings,
    RaftWalRecord,
    Role,
    compute_election_timeout_ms,
    decode_raft_wal_record,
    encode_raft_wal_record,
)
from gusu.consensus.raft_messages import AppendEntries, AppendReply, RaftEntry, RequestVote, VoteReply
from gusu.errors import ConfigError
from gusu.ledger.types import Hash, Height, Round
from gusu.node.raft_exchange import compute_forward_target


def _elect(cluster: RaftCluster) -> int:
    cluster.advance(3_000)
    leaders = cluster.leaders()
    assert len(leaders) == 1
    return leaders[0]


def test_single_member_leads_at_once_and_commits() -> None:
    cluster = RaftCluster(1)
    assert cluster.leaders() == [0]
    cluster.advance(1_000)
    assert len(cluster.members[0].chain) == 5


def test_a_leader_gathers_a_burst_into_one_block() -> None:
    pacing = SoloSettings(block_interval_ms=0, block_gather_ms=50)
    cluster = RaftCluster(1, replace(SETTINGS, pacing=pacing), pool=0)
    cluster.advance(100)
    assert cluster.members[0].chain == []
    cluster.add_transactions(1)
    cluster.advance(40, step_ms=1)
    assert cluster.members[0].chain == [], "proposed while gathering"
    cluster.advance(20, step_ms=1)
    assert cluster.members[0].chain, "the gathered block never came"


def test_three_members_elect_one_leader_and_commit_the_same_blocks() -> None:
    cluster = RaftCluster(3)
    leader = _elect(cluster)
    cluster.advance(2_000)
    chains = [[block for block, _ in m.chain] for m in cluster.members]
    assert len(chains[0]) == 5 and chains[0] == chains[1] == chains[2]
    # The certificate is the leader's signature over the entry, round = term.
    certificate = cluster.members[1].chain[0][1]
    assert certificate.signatures[0].validator == cluster.members[leader].address
    assert certificate.round == cluster.members[leader].engine.term


def test_election_timeouts_are_derived_spread_and_change_with_the_attempt() -> None:
    cluster = RaftCluster(4)
    values = {compute_election_timeout_ms(SETTINGS, m.address, 1, 1) for m in cluster.members}
    assert len(values) == 4
    assert all(SETTINGS.election_timeout_ms <= v <= SETTINGS.election_timeout_ms + 1_000 for v in values)
    address = cluster.members[0].address
    assert compute_election_timeout_ms(SETTINGS, address, 1, 1) != compute_election_timeout_ms(SETTINGS, address, 1, 2)


def test_a_crashed_leader_is_replaced_and_no_committed_block_is_lost() -> None:
    cluster = RaftCluster(5)
    leader = _elect(cluster)
    cluster.advance(1_000)
    committed = len(cluster.members[leader].chain)
    cluster.crash(leader)
    cluster.add_transactions(3)
    cluster.advance(5_000)
    new_leader = cluster.leaders()
    assert len(new_leader) == 1 and new_leader[0] != leader
    survivor = cluster.members[new_leader[0]]
    assert len(survivor.chain) >= committed + 3
    cluster.restart(leader)
    cluster.advance(3_000)
    assert [b for b, _ in cluster.members[leader].chain] == [b for b, _ in survivor.chain]


def test_an_uncommitted_entry_is_restamped_by_the_next_leader_and_committed_once() -> None:
    """Leader completeness: the entry a majority might hold is kept, under the new leader's term."""
    cluster = RaftCluster(3, pool=0)
    leader = _elect(cluster)
    followers = [i for i in range(3) if i != leader]
    # The entry reaches the first follower, but its acknowledgement never returns; the other hears nothing.
    cluster.partition({leader, followers[0]}, {followers[1]})
    cluster.one_way_cut.add((followers[0], leader))
    cluster.add_transactions(1)
    cluster.advance(60, step_ms=1)
    entry = cluster.members[followers[0]].engine.get_entry(Height(1))
    assert entry is not None
    cluster.crash(leader)
    cluster.heal()
    cluster.advance(5_000)
    new_leader = cluster.leaders()
    assert new_leader == [followers[0]], "the member with the longer log wins (§5.4.1)"
    for index in followers:
        chain = cluster.members[index].chain
        assert chain[0][0] == entry.block_hash
        assert chain[0][1].round == cluster.members[new_leader[0]].engine.term > entry.term


def test_a_stale_log_gets_no_vote() -> None:
    """§5.4.1: a voter refuses a candidate whose log is less up to date than its own."""
    cluster = RaftCluster(3)
    _elect(cluster)
    cluster.advance(1_000)
    voter = cluster.members[1].engine
    stale = RequestVote(voter.term + 5, cluster.members[2].address, Height(0), 0, False)
    # Past the leader lease so the request is heard at all.
    cluster.crash(0)
    cluster.crash(2)
    cluster.now_ms += 5_000
    actions = voter.on_event(_received(cluster, 2, stale))
    replies = [a.message for a in actions if isinstance(a, SendMessage)]
    assert replies and isinstance(replies[0], VoteReply) and not replies[0].is_granted
    assert voter.term == stale.term and voter.voted_for is None


def test_one_vote_per_term_survives_a_restart() -> None:
    cluster = RaftCluster(3)
    cluster.crash(0)
    cluster.crash(2)
    member = cluster.members[1]
    engine = member.engine
    cluster.now_ms += 5_000
    first = RequestVote(7, cluster.members[0].address, Height(0), 0, False)
    actions = engine.on_event(_received(cluster, 0, first))
    assert isinstance(actions[-1], SendMessage) and _granted(actions[-1])
    wal_index = next(i for i, a in enumerate(actions) if isinstance(a, AppendWal))
    assert wal_index < len(actions) - 1, "the vote is durable before it is revealed"
    for action in actions:
        if isinstance(action, AppendWal):
            member.wal.append(action.record)
    restarted = RaftEngine(SETTINGS, cluster.validators, member.address, cluster.identities[1].signer, CHAIN)
    restarted.on_event(Start(Height(1), cluster.now_ms, GENESIS_MS, tuple(member.wal)))
    assert (restarted.term, restarted.voted_for) == (7, cluster.members[0].address)
    second = RequestVote(7, cluster.members[2].address, Height(0), 0, False)
    again = restarted.on_event(_received(cluster, 2, second))
    assert not _granted(again[-1])


def test_prevote_keeps_a_partitioned_member_from_raising_its_term_and_disrupting() -> None:
    cluster = RaftCluster(3)
    leader = _elect(cluster)
    term = cluster.members[leader].engine.term
    isolated = next(i for i in range(3) if i != leader)
    cluster.partition({isolated}, {i for i in range(3) if i != isolated})
    cluster.advance(10_000)
    assert cluster.members[isolated].engine.term == term, "pre-votes never reached a majority"
    assert cluster.members[isolated].engine.role is Role.PRE_CANDIDATE
    cluster.heal()
    cluster.add_transactions(2)
    cluster.advance(3_000)
    assert cluster.leaders() == [leader] and cluster.members[leader].engine.term == term
    assert len(cluster.members[isolated].chain) == len(cluster.members[leader].chain)


def test_prevote_is_refused_while_the_leader_lease_holds() -> None:
    cluster = RaftCluster(3)
    leader = _elect(cluster)
    follower = next(i for i in range(3) if i != leader)
    engine = cluster.members[follower].engine
    other = next(i for i in range(3) if i not in (leader, follower))
    request = RequestVote(engine.term + 1, cluster.members[other].address, engine.last_height, engine.last_term, True)
    actions = engine.on_event(_received(cluster, other, request))
    assert not _granted(actions[0])
    # A real vote request with a higher term is ignored outright during the lease (thesis §4.2.3).
    vote = RequestVote(engine.term + 1, cluster.members[other].address, engine.last_height, engine.last_term, False)
    assert engine.on_event(_received(cluster, other, vote)) == []


def test_check_quorum_steps_a_leader_down_without_a_majority() -> None:
    cluster = RaftCluster(3)
    leader = _elect(cluster)
    others = {i for i in range(3) if i != leader}
    cluster.partition({leader}, others)
    cluster.advance(SETTINGS.election_timeout_ms * 2 + 2 * SETTINGS.heartbeat_interval_ms)
    assert cluster.members[leader].engine.role is not Role.LEADER
    cluster.advance(3_000)
    assert len(cluster.leaders()) == 1 and cluster.leaders()[0] in others


def test_a_lagging_follower_catches_up_by_append_and_a_divergent_entry_is_replaced() -> None:
    """Log matching (§5.3): a follower's conflicting uncommitted entry is truncated and replaced."""
    cluster = RaftCluster(3, pool=0)
    leader = _elect(cluster)
    followers = [i for i in range(3) if i != leader]
    cluster.partition({leader}, set(followers))
    cluster.add_transactions(1)
    cluster.advance(60, step_ms=1)
    stranded = cluster.members[leader].engine.get_entry(Height(1))
    assert stranded is not None  # on the old leader only
    cluster.advance(5_000)
    cluster.heal()
    cluster.advance(3_000)
    chains = [[b for b, _ in m.chain] for m in cluster.members]
    assert chains[0] == chains[1] == chains[2] and len(chains[0]) >= 1
    assert chains[0][0] != stranded.block_hash


def test_wal_records_round_trip_and_a_restarted_member_rejoins() -> None:
    cluster = RaftCluster(3)
    _elect(cluster)
    cluster.advance(1_000)
    member = cluster.members[2]
    for raw in member.wal:
        decode_raft_wal_record(raw)
    cluster.crash(2)
    cluster.add_transactions(2)
    cluster.advance(1_000)
    cluster.restart(2)
    cluster.advance(2_000)
    assert [b for b, _ in cluster.members[2].chain] == [b for b, _ in cluster.members[0].chain]


def test_message_loss_is_repaired_by_heartbeats() -> None:
    cluster = RaftCluster(3)
    leader = _elect(cluster)
    cluster.add_transactions(3)
    dropped = 0
    for _ in range(400):
        cluster.now_ms += 5
        if cluster.queue and dropped < 30:
            cluster.queue.popleft()
            dropped += 1
        cluster.advance(5, step_ms=5)
    cluster.advance(3_000)
    assert leader in range(3)
    lengths = {len(m.chain) for m in cluster.members}
    assert lengths == {8}


def test_stale_timer_and_foreign_messages_are_ignored() -> None:
    cluster = RaftCluster(3)
    leader = _elect(cluster)
    engine = cluster.members[leader].engine
    assert engine.on_event(TimerFired(Height(0), Round(0), TIMER_ELECTION, cluster.now_ms)) == []
    # A message naming another sender than the authenticated peer is dropped.
    forged = AppendEntries(engine.term + 3, cluster.members[(leader + 1) % 3].address, Height(0), 0, (), Height(0))
    assert engine.on_event(_received(cluster, (leader + 2) % 3, forged)) == []
    assert engine.role is Role.LEADER


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError):
        RaftSettings(heartbeat_interval_ms=600, election_timeout_ms=1_000)
    with pytest.raises(ConfigError):
        RaftSettings(entries_per_append_max=0)


def test_handover_height_stops_ordering() -> None:
    cluster = RaftCluster(1, settings=RaftSettings(last_height=Height(3)), pool=10)
    cluster.advance(3_000)
    assert len(cluster.members[0].chain) == 3


def _received(cluster: RaftCluster, index: int, message: object) -> MessageReceived:
    return MessageReceived(cluster.members[index].address, message, cluster.now_ms)


def _granted(action: object) -> bool:
    assert isinstance(action, SendMessage) and isinstance(action.message, VoteReply)
    return action.message.is_granted


def test_a_rewritten_wal_restores_term_vote_and_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gusu.consensus.raft.WAL_REWRITE_RECORDS", 4)
    cluster = RaftCluster(3, pool=20)
    _elect(cluster)
    cluster.advance(3_000)
    member = cluster.members[1]
    assert len(member.wal) <= 6, "the WAL was rewritten as a snapshot"
    term, voted_for = member.engine.term, member.engine.voted_for
    cluster.crash(1)
    cluster.restart(1)
    assert (cluster.members[1].engine.term, cluster.members[1].engine.voted_for) == (term, voted_for)
    cluster.add_transactions(3)
    cluster.advance(2_000)
    assert [b for b, _ in cluster.members[1].chain] == [b for b, _ in cluster.members[0].chain]
    assert len(cluster.members[0].chain) == 23


def test_a_candidate_short_of_a_tip_from_another_engine_gets_no_vote() -> None:
    """A tip decided by another engine carries no Raft term, so the last-term comparison alone would let a
    member whose log ended in an earlier Raft period (an entry of term 1 at height 3) beat a voter that
    stored height 7 through a Tendermint period: the voter also refuses a log short of what it knows
    committed. Found by the simulator (switch, raft, seed 1119, 7 nodes)."""
    cluster = RaftCluster(3)
    voter_identity, candidate_identity = cluster.identities[0], cluster.identities[1]
    voter = RaftEngine(SETTINGS, cluster.validators, voter_identity.address, voter_identity.signer, CHAIN)
    term_record = encode_raft_wal_record(RaftWalRecord(term=1, voted_for=None))
    start = Start(Height(8), GENESIS_MS + 10_000, GENESIS_MS + 9_000, (term_record,), last_block_round=None)
    voter.on_event(start)
    assert (voter.term, voter.last_term, voter.commit_height) == (1, 0, 7)
    now_ms = GENESIS_MS + 20_000
    for is_prevote in (True, False):
        stale = RequestVote(2, candidate_identity.address, Height(3), 1, is_prevote)
        actions = voter.on_event(MessageReceived(candidate_identity.address, stale, now_ms))
        assert len(actions) >= 1 and not _granted(actions[-1])
    assert voter.voted_for is None
    caught_up = RequestVote(2, candidate_identity.address, Height(7), 0, False)
    actions = voter.on_event(MessageReceived(candidate_identity.address, caught_up, now_ms))
    assert _granted(actions[-1]) and voter.voted_for == candidate_identity.address


def test_the_live_leader_goes_stale_without_contact_and_forwarding_falls_back_to_a_member() -> None:
    cluster = RaftCluster(3)
    leader = _elect(cluster)
    follower = cluster.members[(leader + 1) % 3]
    leader_address = cluster.members[leader].address
    assert cluster.members[leader].engine.get_live_leader(cluster.now_ms) == leader_address
    assert follower.engine.get_live_leader(cluster.now_ms) == leader_address
    assert follower.engine.leader == leader_address
    # Heard nothing for an election timeout (removed from the members, or the leader is gone): not live.
    later_ms = cluster.now_ms + SETTINGS.election_timeout_ms
    assert follower.engine.leader == leader_address and follower.engine.get_live_leader(later_ms) is None
    members = tuple(member.address for member in cluster.members)
    assert compute_forward_target(follower.address, leader_address, members, 5) == leader_address
    assert compute_forward_target(leader_address, leader_address, members, 5) is None
    others = sorted(address for address in members if address != follower.address)
    picked = {compute_forward_target(follower.address, None, members, attempt) for attempt in range(4)}
    assert picked == set(others), "without a live leader each member of the next height is tried in turn"
    assert compute_forward_target(follower.address, None, (follower.address,), 1) is None


def _follower_appends_then_restarts(stored: int, last_block_round: Round | None) -> RaftEngine:
    """A follower whose tip is `stored` takes the entry at `stored + 1` from a leader, and restarts."""
    cluster = RaftCluster(3)
    leader, follower = cluster.identities[0], cluster.identities[1]
    engine = RaftEngine(SETTINGS, cluster.validators, follower.address, follower.signer, CHAIN)
    wal: list[bytes] = []
    start = Start(Height(stored + 1), GENESIS_MS + 1_000, GENESIS_MS, (), last_block_round=last_block_round)
    for action in engine.on_event(start):
        if isinstance(action, AppendWal):
            wal.append(action.record)
    entry = RaftEntry(Height(stored + 1), 4, Hash(b"\x17" * 32), GENESIS_MS + 900, leader.address, b"\x01" * 64)
    append = AppendEntries(4, leader.address, Height(stored), 0, (entry,), Height(stored))
    actions = engine.on_event(MessageReceived(leader.address, append, GENESIS_MS + 1_100))
    wal += [action.record for action in actions if isinstance(action, AppendWal)]
    [reply] = [a.message for a in actions if isinstance(a, SendMessage) and isinstance(a.message, AppendReply)]
    assert reply.is_success and reply.match_height == stored + 1, "acknowledged: a leader may count it"
    restarted = RaftEngine(SETTINGS, cluster.validators, follower.address, follower.signer, CHAIN)
    restarted.on_event(
        Start(Height(stored + 1), GENESIS_MS + 9_000, GENESIS_MS, tuple(wal), last_block_round=last_block_round)
    )
    return restarted


@pytest.mark.parametrize(("stored", "last_block_round"), [(0, None), (6, Round(2))])
def test_an_acknowledged_entry_past_the_tip_survives_a_restart(stored: int, last_block_round: Round | None) -> None:
    """§5.4: an entry a follower acknowledged may be committed by the leader's count, so after a restart the
    follower still holds it and refuses its vote to a candidate without it. The restart used to drop an entry
    on top of a tip with no entry of its own (the genesis, or a tip stored by block sync), so a candidate
    with a shorter log won and ordered another block at a committed height. Found by the simulator
    (crash-chaos, raft, seed 1893, 3 nodes: a fork at height 1)."""
    restarted = _follower_appends_then_restarts(stored, last_block_round)
    assert (restarted.last_height, restarted.last_term) == (stored + 1, 4)
    candidate = RaftCluster(3).identities[2].address
    now_ms = GENESIS_MS + 30_000
    for is_prevote in (True, False):
        shorter = RequestVote(9, candidate, Height(stored), last_block_round or 0, is_prevote)
        actions = restarted.on_event(MessageReceived(candidate, shorter, now_ms))
        assert actions and not _granted(actions[-1])
    complete = RequestVote(9, candidate, Height(stored + 1), 4, False)
    assert _granted(restarted.on_event(MessageReceived(candidate, complete, now_ms))[-1])


def test_a_member_never_acknowledges_another_block_at_a_height_it_stored() -> None:
    cluster = RaftCluster(3, pool=5)
    leader = _elect(cluster)
    cluster.advance(2_000)
    follower = cluster.members[(leader + 1) % 3]
    assert len(follower.chain) >= 2
    engine = follower.engine
    stored_hash = follower.chain[0][0]
    other = cluster.members[(leader + 2) % 3]
    forged = RaftEntry(Height(1), engine.term + 1, Hash(b"\x66" * 32), GENESIS_MS + 1, other.address, b"\x01" * 64)
    assert forged.block_hash != stored_hash
    append = AppendEntries(engine.term + 1, other.address, Height(0), 0, (forged,), Height(0))
    actions = engine.on_event(MessageReceived(other.address, append, cluster.now_ms))
    [reply] = [a.message for a in actions if isinstance(a, SendMessage) and isinstance(a.message, AppendReply)]
    assert not reply.is_success
