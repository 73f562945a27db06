"""Slow receivers: bounded queues, gossip dropped oldest-first, consensus never dropped silently."""

from __future__ import annotations

import asyncio

import pytest
from p2p_helpers import ChainPki, Inbox, fast_settings, make_network, run, start_mesh, stop_all, wait_until

from gusu.ledger.types import Address
from gusu.network.errors import PeerUnavailableError
from gusu.network.transport import P2PNetwork

KIB = 1024
SMALL = {
    "frame_bytes_max": 16 * KIB,
    "peer_queue_messages_max": 50,
    "peer_queue_bytes_max": 64 * KIB,
    "receive_buffer_bytes_max": 8 * KIB,
    "send_timeout_s": 0.5,
}


def _trio(pki: ChainPki, **settings: object) -> list[P2PNetwork]:
    files = [pki.node("org0"), pki.node("org1"), pki.node("org2")]
    allowed = {f.address for f in files}.__contains__
    return [make_network(f, allowed, fast_settings(**{**SMALL, **settings})) for f in files]


def test_a_stuck_receiver_is_bounded_then_disconnected_while_others_carry_on(pki: ChainPki) -> None:
    async def scenario() -> None:
        sender, stuck, bystander = networks = _trio(pki)
        release = asyncio.Event()

        async def stall(_: Address, __: bytes) -> None:
            await release.wait()

        stuck.subscribe("tx", stall)
        stuck.subscribe("consensus", stall)
        inbox = Inbox()
        inbox.attach(bystander)
        await start_mesh(networks)
        try:
            # Gossip: megabytes offered, the queue stays bounded and the oldest gossip gives way.
            for _ in range(2000):
                await sender.send(stuck.address, "tx", b"g" * (8 * KIB))
                await asyncio.sleep(0)
            info = next(p for p in sender.connected_peers() if p.address == stuck.address)
            assert info.queued_messages <= 50 and info.queued_bytes <= 64 * KIB
            assert info.gossip_dropped > 0 and sender.metrics.gossip_dropped == info.gossip_dropped
            link = stuck._peers[sender.address].active
            assert link is not None
            assert link.protocol.buffered_bytes <= 8 * KIB + 16 * KIB + 256 * KIB
            # Consensus: the sender waits for room, and the peer that never makes room is cut off.
            with pytest.raises(PeerUnavailableError, match="send_timeout_s"):
                for index in range(10_000):
                    await sender.send(stuck.address, "consensus", index.to_bytes(4, "big") * 1024)
                    # Meanwhile the bystander is served as usual.
                    if index % 50 == 0:
                        await sender.send(bystander.address, "consensus", b"for you")
            assert sender.metrics.disconnects["send_timeout"] == 1
            assert not sender.is_connected(stuck.address)
            assert sender.metrics.messages_discarded > 0  # counted, not silent
            assert inbox.received_by(bystander.address, "consensus")
            assert bystander.is_connected(sender.address)
        finally:
            release.set()
            await stop_all(networks)

    run(scenario())


def test_a_slow_receiver_gets_every_consensus_message_in_order(pki: ChainPki) -> None:
    async def scenario() -> None:
        sender, slow, _ = networks = _trio(pki, peer_queue_messages_max=10, send_timeout_s=2.0)
        received: list[int] = []

        async def slowly(_: Address, body: bytes) -> None:
            received.append(int.from_bytes(body[:4], "big"))
            if len(received) % 20 == 0:
                await asyncio.sleep(0.01)

        slow.subscribe("consensus", slowly)
        await start_mesh(networks)
        try:
            for index in range(600):
                await sender.send(slow.address, "consensus", index.to_bytes(4, "big") + b"v" * 2000)
            await wait_until(lambda: len(received) == 600, what="all consensus messages")
            assert received == list(range(600))
            assert sender.metrics.gossip_dropped == 0
            # Only the tie-break of the simultaneous dials closed anything.
            assert set(sender.metrics.disconnects) <= {"duplicate", "replaced"}
            assert sender.is_connected(slow.address)
        finally:
            await stop_all(networks)

    run(scenario())


def test_broadcast_of_gossip_never_waits(pki: ChainPki) -> None:
    async def scenario() -> None:
        sender, stuck, other = networks = _trio(pki)
        release = asyncio.Event()

        async def stall(_: Address, __: bytes) -> None:
            await release.wait()

        stuck.subscribe("tx", stall)
        await start_mesh(networks)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(500):
                await sender.broadcast("tx", b"t" * (8 * KIB))
            assert loop.time() - started < 2.0  # never blocked by the stuck peer
            assert sender.is_connected(stuck.address) and sender.is_connected(other.address)
        finally:
            release.set()
            await stop_all(networks)

    run(scenario())


def test_receive_rate_limits_pace_a_flooding_peer(pki: ChainPki) -> None:
    async def scenario() -> None:
        flooder_files, receiver_files = pki.node(), pki.node()
        allowed = {flooder_files.address, receiver_files.address}.__contains__
        receiver = make_network(receiver_files, allowed, fast_settings(receive_messages_per_s=100, receive_burst_s=0.1))
        flooder = make_network(flooder_files, allowed)
        got: list[bytes] = []
        receiver.subscribe("tx", lambda _, body: got.append(body))
        await start_mesh([receiver, flooder])
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for index in range(60):
                await flooder.send(receiver.address, "tx", index.to_bytes(2, "big"))
            await wait_until(lambda: len(got) == 60, what="all 60 messages")
            # 60 messages (plus pings) at 100/s after a burst of 10: about half a second, not instant.
            assert loop.time() - started >= 0.35
            assert receiver.metrics.receive_throttled_s > 0
            assert receiver.is_connected(flooder.address)  # paced, not punished
        finally:
            await stop_all([receiver, flooder])

    run(scenario())
