"""A real 4-member Raft chain (four processes): it commits under load, survives kill -9 of its leader, and the
restarted leader catches up; `check_network` then finds every acknowledged transaction committed once, one block
per height everywhere, and every certificate a member's Raft signature."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import E2ENetwork, LoadGenerator, check_network, running_network, wait_committed

from gusu.ledger.genesis import CONSENSUS_RAFT

pytestmark = pytest.mark.e2e

LEADER_LINE = re.compile(r"raft: leader ([0-9a-f]{40}) in term (\d+)")


@pytest.fixture
def raft_network(tmp_path: Path) -> Iterator[E2ENetwork]:
    with running_network(tmp_path / "net", consensus=CONSENSUS_RAFT) as started:
        yield started


def _find_leader(network: E2ENetwork, timeout_s: float = 30.0) -> int:
    """The member the live nodes' logs last named leader, in the highest term (waiting for one to be named)."""
    addresses = [validator.address.hex() for validator in network.layout.genesis.validators]
    deadline = time.monotonic() + timeout_s
    while True:
        best: tuple[int, str] | None = None
        for index in network.live_indexes():
            log = network.nodes[index].log_path.read_text(encoding="utf-8", errors="replace")
            for match in LEADER_LINE.finditer(log):
                candidate = (int(match.group(2)), match.group(1))
                best = candidate if best is None or candidate > best else best
        if best is not None:
            return addresses.index(best[1])
        assert time.monotonic() < deadline, f"no node logged a Raft leader\n{network.describe()}"
        time.sleep(0.2)


def test_raft_survives_kill_9_of_the_leader_and_the_restarted_node_catches_up(raft_network: E2ENetwork) -> None:
    network = raft_network
    with LoadGenerator(network, seed=7) as load:
        load.wait_for(40, timeout_s=30)
        network.wait_heights_at_least(list(range(4)), 2, timeout_s=30)  # a leader is committing
        leader = _find_leader(network)
        others = [index for index in range(4) if index != leader]
        network.kill(leader)
        killed_s = time.monotonic()
        before = load.acknowledged
        load.wait_for(30, timeout_s=30)
        taken = load.acknowledged_since(before, by=others)
        assert len(taken) >= 20
        # A new leader among the three commits what they take.
        wait_committed(network, others, taken, timeout_s=30)
        new_leader = _find_leader(network)
        assert new_leader != leader
        start = max(network.heights(others).values())
        network.wait_heights_at_least(others, start + 3, timeout_s=30)
        time.sleep(max(0.0, killed_s + 5.0 - time.monotonic()))
        network.start(leader)
        network.wait_caught_up(leader, others, timeout_s=60)
        load.wait_for(10, timeout_s=30, by=leader)
    summary = check_network(network, load.acknowledged)
    assert summary.nodes == [0, 1, 2, 3]
