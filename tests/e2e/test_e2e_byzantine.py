"""What only real node processes show about a faulty or Byzantine validator (issue 7, item 7).

* A BFT validator killed with SIGKILL at random moments under load, and restarted from its WAL,
  never signs two different messages for one (height, round, kind). This is checked from outside
  the signer: every node records every proposal and vote it receives (`[debug]
  received_votes_path`, `gusu.node.debug`), and the test reads all those files at the end.
* Block sync fed, by a fake peer holding a real validator's identity, a forged certificate, a
  certificate with too little voting power, a block whose hash is not the certified one, and an
  answer with a height gap: the lagging node process stores nothing and drops that peer.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_helpers import E2ENetwork, LoadGenerator, check_network, create_network

from gusu.consensus.messages import Proposal, Vote, decode_message
from gusu.node.debug import read_received_messages

pytestmark = pytest.mark.e2e

RECEIVED_FILE_NAME = "received-consensus.log"
KILLS = 4
"""How many times the victim is killed."""
KILL_SEED = 7
"""Seeds the moments of the kills (printed, so a failure can be replayed)."""


@contextmanager
def recording_network(directory: Path) -> Iterator[E2ENetwork]:
    """The fixture's four validators, each recording what it receives (`[debug] received_votes_path`)."""
    layout = create_network(directory)
    for node in layout.nodes:
        config = node.directory / "config.toml"
        config.write_text(config.read_text() + f'\n[debug]\nreceived_votes_path = "{RECEIVED_FILE_NAME}"\n')
    network = E2ENetwork(layout)
    try:
        network.start_all()
        network.wait_connected(range(len(network.nodes)), 30)
        yield network
    finally:
        network.stop_all()


# --- 1. kill -9 and the WAL: no second signature for one step -------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """One recorded message: who signed it for which step, its canonical encoding, and who received it."""

    signer: bytes
    height: int
    round: int
    kind: str
    encoding: bytes
    receiver: int
    end_offset: int
    """Where its record ends in the receiver's file (to tell what arrived before a kill)."""


def _read_received(network: E2ENetwork, index: int) -> list[Received]:
    path = network.nodes[index].directory / RECEIVED_FILE_NAME
    messages = []
    offset = 0
    for raw in read_received_messages(path):
        offset += 8 + len(raw)  # the journal's frame: length and checksum, 4 bytes each
        message = decode_message(raw)
        if isinstance(message, Proposal):
            signer, kind = message.proposer, "proposal"
        else:
            assert isinstance(message, Vote)
            signer, kind = message.validator, message.kind.name.lower()
        messages.append(Received(signer, message.height, message.round, kind, raw, index, offset))
    return messages


def _received_size(network: E2ENetwork, index: int) -> int:
    path = network.nodes[index].directory / RECEIVED_FILE_NAME
    return path.stat().st_size if path.exists() else 0


def _has_signed_above(network: E2ENetwork, victim: int, height: int) -> bool:
    """Whether node 0 or 1 received a message the victim signed above `height`."""
    address = network.layout.nodes[victim].address
    return any(
        message.signer == address and message.height > height
        for index in (0, 1)
        for message in _read_received(network, index)
    )


@dataclass
class Kill:
    restarted_at_height: int
    """The victim's committed height when it came back (it resumes deciding the next one)."""
    sizes: dict[int, int]
    """Each other running node's received file size at the kill."""


def run_kills(
    network: E2ENetwork, *, delete_wal: bool, kills_max: int = KILLS
) -> tuple[list[Kill], dict[int, list[Received]]]:
    """Kill validator 2 `kills_max` times at random moments under load and restart it; every node's received messages.

    Validator 3 is down meanwhile, so that the other two cannot commit without the victim: each kill
    halts the chain mid-height, and the restarted victim resumes that very height from its WAL (with
    3 of 4 up the others would usually have moved on, and a restart would sign nothing again).
    `delete_wal` removes the WAL before each restart: what the check must catch.
    """
    victim, bystander = 2, 3
    rng = random.Random(KILL_SEED)
    kills: list[Kill] = []
    with LoadGenerator(network, seed=11) as load:
        load.wait_for(20, timeout_s=20)
        network.wait_heights_at_least([0, 1, 2, 3], 2, timeout_s=30)
        network.kill(bystander)
        for cycle in range(kills_max):
            reached = network.height(victim)
            network.wait_heights_at_least([0, 1, victim], reached + 1, timeout_s=30)
            time.sleep(rng.uniform(0.0, 0.5))
            # Every other kill, validator 1 is stopped first, which holds the height where it is, so that
            # the kill surely lands after the victim signed in it; otherwise the kill follows the victim's
            # first signature at a height as fast as the test sees it (and may come after the commit).
            holding = cycle % 2 == 0
            if holding:
                network.pause(1)
            network.wait_until(
                lambda: _has_signed_above(network, victim, network.height(victim)),
                timeout_s=30,
                what="the victim signing at the height it decides",
            )
            if holding:
                time.sleep(rng.uniform(0.0, 1.0))
            network.kill(victim)
            sizes = {index: _received_size(network, index) for index in (0, 1)}
            if delete_wal:
                (network.nodes[victim].directory / "data" / "consensus.wal").unlink(missing_ok=True)
            if holding:
                network.resume(1)
            time.sleep(rng.uniform(0.1, 1.0))
            network.start(victim)
            ready = network.nodes[victim].ready
            assert ready is not None
            kills.append(Kill(int(str(ready["height"])), sizes))
        network.start(bystander)
        network.wait_caught_up(bystander, [0, 1, victim], timeout_s=60)
        load.wait_for(10, timeout_s=20)
    check_network(network, load.acknowledged)
    network.stop_all()  # SIGKILL: what the nodes received is already in their files (flushed per message)
    return kills, {index: _read_received(network, index) for index in range(len(network.nodes))}


def find_double_signatures(received: dict[int, list[Received]]) -> list[str]:
    """Every (signer, height, round, kind) for which the nodes together received two different messages."""
    by_step: dict[tuple[bytes, int, int, str], set[bytes]] = defaultdict(set)
    for messages in received.values():
        for message in messages:
            by_step[(message.signer, message.height, message.round, message.kind)].add(message.encoding)
    return [
        f"{signer.hex()[:12]} signed {len(encodings)} different {kind}s at height {height} round {round_}"
        for (signer, height, round_, kind), encodings in sorted(by_step.items())
        if len(encodings) > 1
    ]


def _count_mid_height_kills(kills: list[Kill], received: dict[int, list[Received]], victim: bytes) -> int:
    """Kills that came after the others received a message the victim signed at the height it then resumed."""
    return sum(
        1
        for kill in kills
        if any(
            message.signer == victim
            and message.height == kill.restarted_at_height + 1
            and message.end_offset <= kill.sizes[message.receiver]
            for index in (0, 1)
            for message in received[index]
        )
    )


def test_a_validator_killed_mid_height_and_restarted_from_its_wal_never_signs_twice(tmp_path: Path) -> None:
    """Kill -9 a validator four times at random moments under load (see `run_kills`), restart it each time from
    its WAL, and read what every node received: no validator ever signed two different proposals, prevotes or
    precommits for one height and round. The next test shows that the same check catches a restart without
    the WAL."""
    with recording_network(tmp_path / "net") as network:
        kills, received = run_kills(network, delete_wal=False)
        victim = network.layout.nodes[2].address
    double = find_double_signatures(received)
    assert not double, "\n".join(double)
    # The check saw something: the victim's messages reached the others, and kills landed mid-height,
    # after the victim had signed at the height it then resumed.
    by_others = [message for index in (0, 1, 3) for message in received[index] if message.signer == victim]
    assert len(by_others) > 20, f"the others received only {len(by_others)} of the victim's messages"
    mid_height = _count_mid_height_kills(kills, received, victim)
    print(f"\n{len(kills)} kills (seed {KILL_SEED}), {mid_height} after the victim had signed in the height it resumed")
    assert mid_height >= 2, f"only {mid_height} of {len(kills)} kills came after a signature at the height"


def test_without_its_wal_a_restarted_validator_signs_twice_and_the_check_sees_it(tmp_path: Path) -> None:
    """The control for the test above: the same kills (two), with the victim's WAL deleted before each restart. The
    restarted node no longer knows what it signed at the height it resumes and signs its first round again
    (another time, maybe another block); the files of the receivers show those double signatures."""
    with recording_network(tmp_path / "net") as network:
        kills, received = run_kills(network, delete_wal=True, kills_max=2)
        victim = network.layout.nodes[2].address
    double = find_double_signatures(received)
    assert _count_mid_height_kills(kills, received, victim) >= 1
    assert double, "a validator restarted without its WAL never signed twice: the check cannot see a double signature"
    assert all(line.startswith(victim.hex()[:12]) for line in double), double
