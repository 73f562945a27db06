"""One Byzantine validator among four must not halt the chain or exhaust an honest node (issue 7's findings).

Four validators run in this process over real TLS on loopback (`byzantine_helpers`). The Byzantine one is
either a real node whose behaviour the test patches (it signs with its own key over its own TLS identity),
or frames it signed are handed to a victim's transport handlers, as the transport would hand them on.
Each test names the finding it covers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from byzantine_helpers import (
    feed_transactions,
    get_proposer_index,
    load_nodes,
    make_network,
    stop_all,
    wait_heights,
)

from gusu.ledger.store import CommittedBlock
from gusu.ledger.types import Height, RawBlock
from gusu.node.node import Node

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
