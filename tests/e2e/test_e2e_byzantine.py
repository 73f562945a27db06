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

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from e2e_helpers import E2ENetwork, LoadGenerator, check_network, create_network

from gusu.consensus.messages import Proposal, Vote, decode_message
from gusu.errors import GusuError
from gusu.ledger.kv import open_store
from gusu.ledger.store import BlockStore
from gusu.ledger.types import Address, CommitCertificate, Height, RawBlock
from gusu.network.messages import CHANNEL_SYNC
from gusu.node.config import load_config
from gusu.node.debug import read_received_messages
from gusu.node.journal import HEADER
from gusu.node.network_init import build_p2p_network
from gusu.node.wire import SyncRequest, decode_sync_body, encode_blocks, encode_status

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
        offset += HEADER.size + len(raw)  # the journal's frame: length and checksum
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
    network: E2ENetwork,
    *,
    delete_wal: bool,
    kills_max: int = KILLS,
    is_holding: Callable[[int], bool] = lambda cycle: cycle % 2 == 0,
    is_enough: Callable[[], bool] = lambda: False,
) -> tuple[list[Kill], dict[int, list[Received]]]:
    """Kill validator 2 up to `kills_max` times at random moments under load and restart it; every node's received
    messages.

    Validator 3 is down meanwhile, so that the other two cannot commit without the victim: each kill
    halts the chain mid-height, and the restarted victim resumes that very height from its WAL (with
    3 of 4 up the others would usually have moved on, and a restart would sign nothing again).
    `delete_wal` removes the WAL before each restart: what the check must catch. `is_holding(cycle)`
    says whether validator 1 is paused around that kill; the kills end early once `is_enough()`.
    """
    victim, bystander = 2, 3
    rng = random.Random(KILL_SEED)
    kills: list[Kill] = []
    with LoadGenerator(network, seed=11) as load:
        load.wait_for(20, timeout_s=20)
        network.wait_heights_at_least([0, 1, 2, 3], 2, timeout_s=30)
        network.kill(bystander)
        for cycle in range(kills_max):
            if is_enough():
                break
            reached = network.height(victim)
            network.wait_heights_at_least([0, 1, victim], reached + 1, timeout_s=30)
            time.sleep(rng.uniform(0.0, 0.5))
            # When holding, validator 1 is stopped first, which holds the height where it is, so that the
            # kill surely lands after the victim signed in it; otherwise the kill follows the victim's first
            # signature at a height as fast as the test sees it (and may come after the commit).
            holding = is_holding(cycle)
            if holding:
                network.pause(1)
            # Above node 0's height too: a victim slow to store the last block has signed in it already,
            # and would come back past it (block sync) with nothing signed where it resumes.
            network.wait_until(
                lambda: _has_signed_above(network, victim, max(network.height(0), network.height(victim))),
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
    """The control for the test above: the same kills, with the victim's WAL deleted before each restart. The
    restarted node no longer knows what it signed at the height it resumes and signs its first round again
    (another time, maybe another block); the files of the receivers show those double signatures.

    Every kill holds the height (validator 1 paused), so that the others stay in the round the victim signed
    in until it is back: unheld, they may have timed out of it, and the victim would join them in a round it
    never signed in (seen in CI). Kills stop at the first double signature, at most four."""
    with recording_network(tmp_path / "net") as network:

        def is_double_signed() -> bool:
            return bool(find_double_signatures({index: _read_received(network, index) for index in (0, 1)}))

        kills, received = run_kills(
            network, delete_wal=True, kills_max=4, is_holding=lambda cycle: True, is_enough=is_double_signed
        )
        victim = network.layout.nodes[2].address
    double = find_double_signatures(received)
    assert _count_mid_height_kills(kills, received, victim) >= 1
    assert double, "a validator restarted without its WAL never signed twice: the check cannot see a double signature"
    assert all(line.startswith(victim.hex()[:12]) for line in double), double


# --- 2. block sync from a lying peer ----------------------------------------------------------------------


def read_certified_blocks(network: E2ENetwork, index: int) -> dict[int, tuple[RawBlock, CommitCertificate]]:
    """Every block of node `index`'s store (its process must be down) with its commit certificate."""
    config = load_config(network.nodes[index].directory)
    store = BlockStore(open_store(config.data_path / "chain", config.storage.backend), network.suite)
    try:
        tip = store.get_tip()
        assert tip is not None
        blocks = {}
        for height in range(1, int(tip[0]) + 1):
            header = store.get_header(Height(height))
            certificate = store.get_certificate(Height(height))
            assert header is not None and certificate is not None
            raws = []
            for transaction_id in store.get_transaction_ids(Height(height)) or []:
                stored = store.get_transaction(transaction_id)
                assert stored is not None
                raws.append(stored.raw)
            blocks[height] = (RawBlock(header, tuple(raws)), certificate)
        return blocks
    finally:
        store.close()


def make_lies(
    blocks: dict[int, tuple[RawBlock, CommitCertificate]], first: int
) -> list[tuple[str, list[tuple[RawBlock, CommitCertificate]], str]]:
    """(name, sync answer, what the lagging node's log must say) for each lie, all starting at height `first`."""
    block, certificate = blocks[first]
    forged = replace(
        certificate,
        signatures=tuple(replace(entry, signature=bytes(64)) for entry in certificate.signatures),
    )
    weak = replace(certificate, signatures=certificate.signatures[:1])
    other_block = replace(block, header=replace(block.header, timestamp_ms=block.header.timestamp_ms + 1))
    return [
        ("a forged certificate", [(block, forged)], "does not verify"),
        ("a certificate with 1 of 4 voting power", [(block, weak)], "voting power"),
        ("a block whose hash is not the certified one", [(other_block, certificate)], "is for block"),
        # The first block is genuine: a node that imported it before looking at the rest would store it.
        ("a height gap", [blocks[first], blocks[first + 2]], "height"),
    ]


def _count_sync_drops(network: E2ENetwork, index: int, peer: bytes, fragment: str) -> int:
    """Lines of node `index`'s log saying it disconnected `peer` for an invalid sync message containing `fragment`."""
    text = network.nodes[index].log_path.read_text(encoding="utf-8", errors="replace")
    return sum(
        1
        for line in text.splitlines()
        if "p2p disconnected" in line
        and f"peer {peer.hex()[:12]}" in line
        and "invalid_message" in line
        and "'sync'" in line
        and fragment in line
    )


async def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(0.1)


async def serve_lies(
    network: E2ENetwork, lagging: int, impostor: int, blocks: dict[int, tuple[RawBlock, CommitCertificate]]
) -> None:
    """Start the lagging node with a fake peer in validator `impostor`'s place; feed it each lie, then the truth."""
    lagging_address = network.layout.nodes[lagging].address
    impostor_address = network.layout.nodes[impostor].address
    tip = max(blocks)
    # The impostor's own transport, built from its directory: its TLS files and its consensus key.
    fake = build_p2p_network(network.nodes[impostor].directory)
    answer: list[list[tuple[RawBlock, CommitCertificate]]] = [[]]
    requests: list[SyncRequest] = []

    async def on_sync(peer: Address, body: bytes) -> None:
        message = decode_sync_body(body)
        if isinstance(message, SyncRequest) and peer == lagging_address:
            requests.append(message)
            await fake.send(peer, CHANNEL_SYNC, encode_blocks(answer[0]))

    async def announce() -> None:
        while True:  # our claimed height, as a validator at the tip would tell it
            if fake.is_connected(lagging_address):
                with suppress(GusuError):
                    await fake.send(lagging_address, CHANNEL_SYNC, encode_status(Height(tip)))
            await asyncio.sleep(0.5)

    fake.subscribe(CHANNEL_SYNC, on_sync)
    await fake.start()
    announcer = asyncio.get_running_loop().create_task(announce())
    try:
        await asyncio.to_thread(network.start, lagging)
        lagging_height = await asyncio.to_thread(network.height, lagging)
        assert tip >= lagging_height + 3, f"the impostor's blocks end at {tip}, the lagging node is at {lagging_height}"
        for name, lie, fragment in make_lies(blocks, lagging_height + 1):
            answer[0] = lie
            drops = _count_sync_drops(network, lagging, impostor_address, fragment)
            await _wait(
                lambda: _count_sync_drops(network, lagging, impostor_address, fragment) > drops,  # noqa: B023
                timeout_s=20,
                what=f"the lagging node dropping the peer that sent {name}",
            )
            height = await asyncio.to_thread(network.height, lagging)
            assert height == lagging_height, f"the lagging node stored {name}: height {lagging_height} -> {height}"
        # The control: the same peer, now telling the truth, is heard (so the node did ask it, each time).
        lied_to = list(requests)
        answer[0] = [blocks[height] for height in range(lagging_height + 1, tip + 1)]
        await _wait(lambda: network.height(lagging) >= tip, timeout_s=30, what="the lagging node importing true blocks")
        assert len(lied_to) >= 4 and all(request.from_height == lagging_height + 1 for request in lied_to)
    finally:
        announcer.cancel()
        await fake.stop()


def test_block_sync_from_a_lying_peer_stores_nothing_and_drops_it(network: E2ENetwork) -> None:
    """A node that fell behind restarts with only one peer, a fake one in validator 3's place (the test's own
    transport with validator 3's TLS files and key, after validator 3's process is stopped), which claims a
    higher height and answers each of its block requests with a lie: a forged certificate, one with too little
    voting power, a block that is not the certified one, an answer with a height gap. Each time the lagging
    node stores nothing (its height stays) and disconnects the peer for an invalid message (its log says so,
    naming the reason). Fed the true blocks after that, it imports them: it did ask this peer all along."""
    lagging, impostor = 0, 3
    with LoadGenerator(network, seed=5) as load:
        load.wait_for(20, timeout_s=20)
        network.wait_heights_at_least([0, 1, 2, 3], 2, timeout_s=30)
        network.kill(lagging)
        others = [1, 2, 3]
        network.wait_heights_at_least(others, max(network.heights(others).values()) + 4, timeout_s=30)
    for index in others:
        network.kill(index)
    blocks = read_certified_blocks(network, impostor)
    asyncio.run(serve_lies(network, lagging, impostor, blocks))
