"""One Byzantine validator among four must not halt the chain or exhaust an honest node (issue 7's findings).

Four validators run in this process over real TLS on loopback (`byzantine_helpers`). The Byzantine one is
either a real node whose behaviour the test patches (it signs with its own key over its own TLS identity),
or frames it signed are handed to a victim's transport handlers, as the transport would hand them on.
Each test names the finding it covers.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Coroutine
from typing import Any
from pathlib import Path

import pytest
from byzantine_helpers import (
    feed_transactions,
    get_proposer_index,
    load_nodes,
    make_network,
    make_tiny_proposal,
    start_lone_proposer,
    stop_all,
    wait_heights,
)

from gusu.codec import decode
from gusu.ledger.store import CommittedBlock
from gusu.ledger.types import Address, Height, RawBlock
from gusu.network.messages import CHANNEL_SYNC
from gusu.node.node import Node
from gusu.node.wire import TAG_BODY, encode_blocks, encode_body_request

PROPOSAL_BODIES_MAX = 32
"""The new cache's bound on other validators' bodies (the old one kept 16 in all)."""
BODY_ANSWERS_PER_PEER_MAX = 4

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# --- finding 1: block time -------------------------------------------------------------------------------

TIME_LIES: dict[str, Callable[[int, int], int]] = {
    # (parent's time, the honest time the engine asked for) -> the time the Byzantine proposer stamps
    "codec-limit": lambda parent_ms, honest_ms: 2**53 - 1,
    "an-hour-ahead": lambda parent_ms, honest_ms: honest_ms + HOUR_MS,
    # At height 1 the parent is a genesis stamped a day ago, so this is also "far in the past".
    "frozen-at-parent-plus-one": lambda parent_ms, honest_ms: parent_ms + 1,
}


@pytest.mark.parametrize("lie", sorted(TIME_LIES))
def test_a_proposer_lying_about_time_is_not_prevoted_and_the_chain_goes_on(tmp_path: Path, lie: str) -> None:
    """Finding 1. The proposer of heights 1 and 5 stamps its blocks with a lie; the honest three must not
    prevote them (the timely predicate), so those heights commit another block in a later round, every
    committed block's time lies near the wall clock, and the chain keeps committing. Before the fix the
    2^53 - 1 block was accepted and halted the chain, and the other lies were committed as they were."""

    async def scenario() -> None:
        started_ms = time.time_ns() // 1_000_000
        # Blocks a second apart and a tight timely window, so that "parent + 1" is stale when proposed.
        layout = make_network(
            tmp_path / "net",
            parameters={"block_interval_ms": 1000, "block_time_precision_ms": 100, "block_time_message_delay_ms": 400},
            timestamp_ms=started_ms - DAY_MS,
        )
        nodes = load_nodes(layout)
        byzantine = nodes[get_proposer_index(layout, nodes, 1)]
        honest = [node for node in nodes if node is not byzantine]
        build = byzantine._build_block
        stamped: list[int] = []

        def build_lying(height: Height, timestamp_ms: int) -> tuple[RawBlock, CommittedBlock]:
            parent = byzantine._tip_header
            assert parent is not None
            lie_ms = TIME_LIES[lie](parent.timestamp_ms, timestamp_ms)
            stamped.append(lie_ms)
            return build(height, lie_ms)

        byzantine._build_block = build_lying  # type: ignore[method-assign]
        for node in nodes:
            await node.start()
        feeder = asyncio.get_running_loop().create_task(feed_transactions(layout, honest))
        try:
            await wait_heights(honest, 7, timeout_s=60)
            blocks = [honest[0].get_block(Height(height)) for height in range(1, 8)]
        finally:
            feeder.cancel()
            await stop_all(nodes)
        assert len(stamped) >= 2, "the Byzantine validator never got to propose"
        finished_ms = time.time_ns() // 1_000_000
        for height, block in enumerate(blocks, start=1):
            assert block is not None
            assert block.header.timestamp_ms not in stamped, f"block {height} carries the lie"
            assert started_ms - 1000 <= block.header.timestamp_ms <= finished_ms + 1000, (
                f"block {height} is stamped {block.header.timestamp_ms - finished_ms} ms from the wall clock"
            )

    asyncio.run(scenario())


# --- finding 2: proposal-body cache -------------------------------------------------------------------------


def test_a_flood_of_tiny_self_signed_proposals_cannot_evict_a_body_the_engine_needs(tmp_path: Path) -> None:
    """Finding 2. A validator sends hundreds of tiny proposals it signed itself, for many rounds (mostly not
    its own) of this height and the next two. The victim's own proposal body, which it must re-send and
    may have to re-propose, stays; the cache stays bounded. Before the fix, 16 of them flushed it."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        victim, own_hash = await start_lone_proposer(layout, nodes)
        byzantine_index = (nodes.index(victim) + 1) % len(nodes)
        byzantine = nodes[byzantine_index]
        try:
            salt = 0
            for height in (1, 2, 3):
                for round_ in range(120):
                    salt += 1
                    body = make_tiny_proposal(
                        layout, layout.node_directories[byzantine_index], byzantine.address, height, round_, salt
                    )
                    await victim._on_consensus_body(byzantine.address, body)
                    assert len(victim._bodies) <= PROPOSAL_BODIES_MAX + 2
            assert own_hash in victim._bodies, "a Byzantine validator's proposals evicted our own proposal's body"
        finally:
            await stop_all([victim])

    asyncio.run(scenario())


# --- finding 3: body requests -------------------------------------------------------------------------------


def test_hundreds_of_body_requests_get_a_bounded_number_of_answers(tmp_path: Path) -> None:
    """Finding 3. A validator asks 500 times for the body of the victim's proposal and never reads: the victim queues only a few answers for it, not a copy per request.
    Before the fix every request queued a fresh copy."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        victim_index = get_proposer_index(layout, nodes, 1)
        victim = nodes[victim_index]
        byzantine = nodes[(victim_index + 1) % len(nodes)]
        answers: list[int] = []
        enqueue = victim._enqueue

        def count_answers(recipient: Address | None, channel: str, body: bytes) -> None:
            if recipient == byzantine.address and decode(body)[0] == TAG_BODY:  # type: ignore[index]
                answers.append(len(body))
            enqueue(recipient, channel, body)

        victim._enqueue = count_answers  # type: ignore[method-assign]
        victim, own_hash = await start_lone_proposer(layout, nodes)
        try:
            for _ in range(500):
                await victim._on_sync_body(byzantine.address, encode_body_request(own_hash))
            assert 1 <= len(answers) <= BODY_ANSWERS_PER_PEER_MAX, f"{len(answers)} answers queued for 500 requests"
        finally:
            await stop_all([victim])

    asyncio.run(scenario())


# --- finding 4: block sync ----------------------------------------------------------------------------------


def test_a_peer_answering_every_sync_request_with_nothing_cannot_starve_a_lagging_node(tmp_path: Path) -> None:
    """Finding 4. Three validators (one of them Byzantine only in that it answers every block request with
    an empty `sblocks`) commit while the fourth is down; the fourth then starts behind and must catch up from
    the two honest peers within a bound. Before the fix the empty answer freed the request slot and the same
    peer was asked again at once, so the lagging node could be starved."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        lagging, byzantine = nodes[0], nodes[1]
        running = nodes[1:]
        empty_answers: list[Address] = []

        def answer_empty(peer: Address, request: object) -> Coroutine[Any, Any, None] | None:
            empty_answers.append(peer)
            if inspect.iscoroutinefunction(Node._answer_block_request):  # the code before the fix awaited it
                network = byzantine.network
                assert network is not None
                return network.send(peer, CHANNEL_SYNC, encode_blocks([]))
            byzantine._enqueue(peer, CHANNEL_SYNC, encode_blocks([]))
            return None

        byzantine._answer_block_request = answer_empty  # type: ignore[method-assign, assignment]
        for node in running:
            await node.start()
        feeder = asyncio.get_running_loop().create_task(feed_transactions(layout, running[1:]))
        try:
            await wait_heights(running, 8, timeout_s=60)
            await lagging.start()
            target = min(int(node.height) for node in running)
            await wait_heights([lagging], target, timeout_s=25)
            assert empty_answers, "the lagging node never asked the Byzantine peer"
        finally:
            feeder.cancel()
            await stop_all(nodes)

    asyncio.run(scenario())


def test_unsolicited_or_useless_sync_answers_free_nothing() -> None:
    """Finding 4, the scheduler's rules: only the asked peer's answer frees the slot; an empty one or one at
    the wrong height is a strike (the peer is passed over), and peers take turns."""
    from gusu.node.sync import SyncScheduler, SyncSettings  # here: the module is new with the fix

    honest, byzantine = Address(b"\x02" * 20), Address(b"\x01" * 20)
    scheduler = SyncScheduler(SyncSettings(request_timeout_s=5.0, penalty_s=5.0))
    scheduler.on_status(honest, Height(100))
    scheduler.on_status(byzantine, Height(100))
    first = scheduler.choose_request(Height(10), now_s=0.0)
    assert first is not None and first[0] == byzantine  # lowest address first
    assert not scheduler.on_answer(honest, Height(10), [Height(11)], now_s=0.1)  # unsolicited: ignored
    assert scheduler.choose_request(Height(10), now_s=0.2) is None  # the slot is still the Byzantine peer's
    assert not scheduler.on_answer(byzantine, Height(10), [], now_s=0.3)  # empty: a strike
    second = scheduler.choose_request(Height(10), now_s=0.4)
    assert second is not None and second[0] == honest
    assert not scheduler.on_answer(honest, Height(10), [Height(12)], now_s=0.5)  # a gap: a strike too
    assert scheduler.choose_request(Height(10), now_s=0.6) is None  # both passed over for a while
    assert scheduler.get_penalty_until_s(byzantine) >= 5.0
