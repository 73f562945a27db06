"""Crash and stall faults on a real 4-validator network: kill -9, two kills, SIGSTOP.

Every scenario runs under load and ends with `check_network`: every
acknowledged transaction committed on every live node, one block hash per
height everywhere, and certificates of more than 2/3 of the power.

The chain makes blocks only when there are transactions, so each claim
about progress is made with transactions: those acknowledged while a
fault lasts commit (or, without a quorum, do not) on the nodes concerned.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from e2e_helpers import (
    E2ENetwork,
    LoadGenerator,
    assert_agree_up_to,
    assert_not_committed,
    check_network,
    wait_committed,
)

pytestmark = pytest.mark.e2e

OUTAGE_S = 10.0
"""How long the killed validator stays down before its restart."""
HALT_OBSERVED_S = 5.0
"""How long the two survivors of two kills are watched not committing."""
PAUSE_S = 10.0
"""How long the stopped validator stays stopped."""


def _advance(network: E2ENetwork, indexes: list[int], blocks: int, timeout_s: float) -> None:
    """The nodes `indexes` all commit `blocks` more blocks (beyond the highest of them now); needs load."""
    start = max(network.heights(indexes).values())
    network.wait_heights_at_least(indexes, start + blocks, timeout_s)


def test_kill_9_one_of_four_keeps_committing_and_the_restarted_node_catches_up(
    network: E2ENetwork, record_property: Callable[[str, object], None]
) -> None:
    victim, others = 2, [0, 1, 3]
    with LoadGenerator(network, seed=1) as load:
        load.wait_for(40, timeout_s=20)
        load.wait_for(5, timeout_s=20, by=victim)  # it must have acknowledged some to lose them
        network.kill(victim)
        killed_s = time.monotonic()
        # What it acknowledged may be only in its journal (gossip is best effort): it must all commit.
        before_kill = load.acknowledged
        # The other three, 3/4 of the power, keep committing, under load: what they take commits.
        _advance(network, others, 5, timeout_s=20)
        load.wait_for(30, timeout_s=20)
        taken_without_victim = load.acknowledged_since(before_kill, by=others)
        assert len(taken_without_victim) >= 30
        wait_committed(network, others, taken_without_victim, timeout_s=30)
        time.sleep(max(0.0, killed_s + OUTAGE_S - time.monotonic()))  # let it fall behind
        tip_at_restart = max(network.heights(others).values())
        ready_s = network.start(victim)
        ready = network.nodes[victim].ready
        assert ready is not None
        behind = tip_at_restart - int(str(ready["height"]))
        catch_up_s = network.wait_caught_up(victim, others, timeout_s=60)
        # It takes transactions again once restarted.
        load.wait_for(10, timeout_s=20, by=victim)
    tip_s = ready_s + catch_up_s
    record_property("restart_rpc_ready_s", round(ready_s, 2))
    record_property("restart_reached_tip_s", round(tip_s, 2))
    record_property("restart_blocks_behind", behind)
    print(f"\nkill -9 one of four: {behind} blocks behind; RPC after {ready_s:.2f} s, tip after {tip_s:.2f} s")
    # check_network fails if any acknowledged transaction (those only the victim journaled included)
    # has no receipt on any of the four, so it alone says that nothing was lost.
    summary = check_network(network, load.acknowledged)
    assert summary.nodes == [0, 1, 2, 3]
    # It restarts from its own blocks, and the others moved on 5 blocks past the highest at the kill
    # (it may have been one ahead of them): it really had to catch up.
    assert int(str(ready["height"])) >= 1 and behind >= 4, f"restarted at {ready['height']}, {behind} behind"
    assert tip_s < 60


def test_kill_9_two_of_four_halts_without_forking_and_resumes_when_one_returns(network: E2ENetwork) -> None:
    victims, survivors = [2, 3], [0, 1]
    with LoadGenerator(network, seed=2) as load:
        load.wait_for(40, timeout_s=20)
        for victim in victims:
            load.wait_for(3, timeout_s=20, by=victim)
        for victim in victims:
            network.kill(victim)
        # A block whose precommits were already out when the kills landed may still commit
        # (and a survivor one height behind may still fetch it from the other).
        time.sleep(1.5)
        halted = max(network.heights(survivors).values())
        before_halt = load.acknowledged
        # The survivors still accept transactions, and do not commit them: half of the power is no quorum.
        load.wait_for(10, timeout_s=20)
        time.sleep(HALT_OBSERVED_S)
        stalled = load.acknowledged_since(before_halt, by=survivors)
        assert len(stalled) >= 10
        assert_not_committed(network, survivors, stalled)
        survivor_heights = network.heights(survivors)
        assert max(survivor_heights.values()) == halted, "half of the power committed a block"
        # Both stopped at the same block: one that was behind fetched it from the other.
        assert set(survivor_heights.values()) == {halted}, f"the survivors stopped at {survivor_heights}"
        assert_agree_up_to(network, survivors, halted)
        # They commit once a third validator is back: the ones held up first of all.
        network.start(victims[0])
        resumed = [*survivors, victims[0]]
        resumed_s = wait_committed(network, resumed, stalled, timeout_s=60)
        network.wait_heights_at_least(resumed, halted + 3, timeout_s=60)
        load.wait_for(20, timeout_s=20)
        # The last one back brings what only its journal held.
        network.start(victims[1])
        network.wait_caught_up(victims[1], resumed, timeout_s=60)
    print(
        f"\nkill -9 two of four: {len(stalled)} transactions held at height {halted}; committed {resumed_s:.2f} s after"
    )
    # check_network also covers the stalled transactions: each committed, once, above `halted`
    # (assert_not_committed saw none of them at or below it).
    summary = check_network(network, load.acknowledged)
    assert summary.nodes == [0, 1, 2, 3]


def test_sigstop_one_for_10_s_the_others_commit_and_it_catches_up(network: E2ENetwork) -> None:
    victim, others = 1, [0, 2, 3]
    with LoadGenerator(network, seed=3) as load:
        load.wait_for(40, timeout_s=20)
        network.pause(victim)
        paused_s = time.monotonic()
        paused_at = max(network.heights(others).values())
        before_pause = load.acknowledged
        load.wait_for(20, timeout_s=9)
        # What the others take while it is stopped commits on them without it.
        taken_while_paused = load.acknowledged_since(before_pause, by=others)
        assert len(taken_while_paused) >= 20
        wait_committed(network, others, taken_while_paused, timeout_s=PAUSE_S)
        time.sleep(max(0.0, paused_s + PAUSE_S - time.monotonic()))
        before_resume = min(network.heights(others).values())
        # Every fourth height the stopped node is the round-0 proposer and the others wait out
        # the propose timeout (3 s) before round 1: about four blocks per five seconds.
        assert before_resume - paused_at >= 3, f"only {before_resume - paused_at} blocks in {PAUSE_S} s"
        network.resume(victim)
        catch_up_s = network.wait_caught_up(victim, others, timeout_s=60)
        # What it holds now is the others' chain (check_network below checks every height again).
        assert_agree_up_to(network, [victim, *others], before_resume)
        load.wait_for(10, timeout_s=20, by=victim)
    print(
        f"\nSIGSTOP {PAUSE_S:g} s: the others went from {paused_at} to {before_resume}; "
        f"caught up {catch_up_s:.2f} s after SIGCONT"
    )
    summary = check_network(network, load.acknowledged)
    assert summary.nodes == [0, 1, 2, 3]
