"""A misbehaving peer is disconnected, counted and logged, and the rest of the mesh keeps working."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from p2p_helpers import (
    ChainPki,
    Inbox,
    NodeFiles,
    RoguePeer,
    fast_settings,
    make_network,
    run,
    start_mesh,
    stop_all,
    wait_until,
)

from gusu.errors import CodecError
from gusu.ledger.types import Address
from gusu.network.errors import MessageTooLargeError
from gusu.network.messages import DEFAULT_CHANNELS, ChannelSpec, Delivery, encode_message, frame
from gusu.network.transport import P2PNetwork

LIMITED = {"frame_bytes_max": 64 * 1024, "peer_queue_bytes_max": 256 * 1024}


class Mesh:
    """Three honest nodes plus the certificate of a fourth, allowed peer that will misbehave."""

    def __init__(self, pki: ChainPki, **settings: object) -> None:
        self.honest_files = [pki.node("org0"), pki.node("org1"), pki.node("org1")]
        self.rogue_files: NodeFiles = pki.node("org2")
        self.allowed = {files.address for files in self.honest_files} | {self.rogue_files.address}
        self.networks = [
            make_network(files, self.allowed.__contains__, fast_settings(**{**LIMITED, **settings}))
            for files in self.honest_files
        ]
        self.inbox = Inbox()
        for network in self.networks:
            self.inbox.attach(network)

    @property
    def victim(self) -> P2PNetwork:
        return self.networks[0]

    async def start(self) -> None:
        await start_mesh(self.networks)

    async def authenticated_rogue(self) -> RoguePeer:
        """A peer that passes TLS and the handshake, as the mesh's victim sees it."""
        rogue = await RoguePeer.connect(self.victim.listen_port, self.rogue_files.tls)
        await rogue.handshake(self.rogue_files)
        await wait_until(lambda: self.victim.is_connected(self.rogue_files.address), what="rogue admitted")
        return rogue

    async def assert_still_working(self) -> None:
        """Every honest node still reaches every other."""
        # After a reconnect the acceptor is connected before the dialer (which finishes the
        # handshake last), and a broadcast goes only to peers connected at that moment: one
        # side's view alone does not make the mesh whole.
        await self.wait_whole()
        before = len(self.inbox.items)
        for network in self.networks:
            await network.broadcast("consensus", b"alive")
        await self.inbox.wait_for(lambda: len(self.inbox.items) >= before + 6)
        # Still whole: a peer may be between two connections for an instant (the duplicate of a
        # redial being retired), so the mesh is awaited, not sampled.
        await self.wait_whole()

    async def wait_whole(self) -> None:
        """Every honest node connected to every other, as each of them sees it."""
        for network in self.networks:
            await network.wait_connected([other.address for other in self.networks if other is not network], 5)

    async def stop(self) -> None:
        await stop_all(self.networks)


def _abuse(pki: ChainPki, attack: bytes, reason: str) -> None:
    async def scenario() -> None:
        mesh = Mesh(pki)
        await mesh.start()
        try:
            rogue = await mesh.authenticated_rogue()
            rogue.send(attack)
            assert await rogue.closed_by_peer()
            await wait_until(lambda: mesh.victim.metrics.disconnects[reason] == 1, what=reason)
            assert not mesh.victim.is_connected(mesh.rogue_files.address)
            await mesh.assert_still_working()
        finally:
            await mesh.stop()

    run(scenario())


def test_garbage_after_the_handshake_disconnects(pki: ChainPki) -> None:
    _abuse(pki, b"\x00\x00\x00\x10" + b"\xc1 not msgpack at all", "malformed_message")


def test_an_oversized_frame_disconnects_before_it_is_read(pki: ChainPki) -> None:
    # Only the 4-byte prefix is sent: the announcement alone is enough to cut the peer off.
    _abuse(pki, (64 * 1024 + 1).to_bytes(4, "big"), "frame_too_large")


def test_a_non_canonical_message_disconnects(pki: ChainPki) -> None:
    canonical = encode_message("consensus", b"x")
    assert canonical[0] == 0x92  # fixarray of 2
    # The same value with a 16-bit array header: valid MessagePack, not the canonical encoding.
    longhand = b"\xdc\x00\x02" + canonical[1:]
    _abuse(pki, frame(longhand), "malformed_message")


def test_a_message_on_an_unknown_channel_disconnects(pki: ChainPki) -> None:
    _abuse(pki, frame(encode_message("secret", b"x")), "unknown_channel")


def test_a_zero_length_frame_disconnects(pki: ChainPki) -> None:
    _abuse(pki, b"\x00\x00\x00\x00", "malformed_message")


def test_garbage_instead_of_tls_is_refused(pki: ChainPki) -> None:
    async def scenario() -> None:
        mesh = Mesh(pki)
        await mesh.start()
        try:
            rogue = await RoguePeer.connect(mesh.victim.listen_port, None)  # plain TCP
            rogue.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)))
            assert await rogue.closed_by_peer()
            await wait_until(lambda: mesh.victim.metrics.disconnects["tls_failed"] == 1, what="tls_failed")
            await mesh.assert_still_working()
        finally:
            await mesh.stop()

    run(scenario())


def test_slowloris_handshakes_time_out(pki: ChainPki) -> None:
    async def scenario() -> None:
        mesh = Mesh(pki, handshake_timeout_s=0.5)
        await mesh.start()
        try:

            async def trickle(rogue: RoguePeer) -> None:
                for byte in b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 10:
                    rogue.send(bytes([byte]))
                    await asyncio.sleep(0.05)

            tcp = await RoguePeer.connect(mesh.victim.listen_port, None)
            trickler = asyncio.create_task(trickle(tcp))
            # Authenticated by TLS, then silent: the hello never comes.
            silent = await RoguePeer.connect(mesh.victim.listen_port, mesh.rogue_files.tls)
            started = asyncio.get_running_loop().time()
            assert await tcp.closed_by_peer(3) and await silent.closed_by_peer(3)
            assert asyncio.get_running_loop().time() - started < 2
            trickler.cancel()
            await wait_until(lambda: mesh.victim.metrics.disconnects["handshake_timeout"] == 2, what="timeouts")
            await mesh.assert_still_working()
        finally:
            await mesh.stop()

    run(scenario())


def test_too_many_pending_handshakes_are_cut(pki: ChainPki) -> None:
    async def scenario() -> None:
        mesh = Mesh(pki, handshakes_max=2, handshake_timeout_s=2.0)
        await mesh.start()
        try:
            idle = [await RoguePeer.connect(mesh.victim.listen_port, None) for _ in range(4)]
            await wait_until(lambda: mesh.victim.metrics.disconnects["too_many_handshakes"] == 2, what="cap")
            for rogue in idle:
                await rogue.close()
            await mesh.assert_still_working()
        finally:
            await mesh.stop()

    run(scenario())


def test_a_silent_peer_times_out(pki: ChainPki) -> None:
    async def scenario() -> None:
        mesh = Mesh(pki, ping_interval_s=0.1, peer_timeout_s=0.4)
        await mesh.start()
        try:
            rogue = await mesh.authenticated_rogue()  # never answers pings, never sends anything
            assert await rogue.closed_by_peer(3)
            assert mesh.victim.metrics.disconnects["peer_timeout"] == 1
            await mesh.assert_still_working()
        finally:
            await mesh.stop()

    run(scenario())


def test_handler_verdicts(pki: ChainPki, caplog: pytest.LogCaptureFixture) -> None:
    """A GusuError from a handler convicts the sender; any other exception is our bug and is only logged."""

    async def scenario() -> None:
        mesh = Mesh(pki)
        victim = mesh.victim

        def judge(sender: Address, body: bytes) -> None:
            if body == b"invalid":
                raise CodecError("a vote that does not decode")
            if body == b"bug":
                raise RuntimeError("handler bug")

        victim.subscribe("sync", judge)
        await mesh.start()
        try:
            sender = mesh.networks[1]
            await sender.send(victim.address, "sync", b"bug")
            await wait_until(lambda: victim.metrics.handler_errors == 1, what="bug counted")
            assert victim.is_connected(sender.address)
            await sender.send(victim.address, "sync", b"invalid")
            await wait_until(lambda: victim.metrics.disconnects["invalid_message"] == 1, what="conviction")
            # The convicted peer redials; the mesh heals.
            await victim.wait_connected([sender.address], 5)
            await mesh.assert_still_working()
        finally:
            await mesh.stop()

    with caplog.at_level(logging.WARNING, logger="gusu.network"):
        run(scenario())
    assert any("invalid_message" in record.getMessage() for record in caplog.records)
    assert any("handler bug" in (record.exc_text or "") or record.exc_info for record in caplog.records)


def test_random_frames_never_hurt_the_node(pki: ChainPki) -> None:
    """Seeded random payloads in well-formed frames: each gets its sender cut off, nothing else changes."""

    async def scenario() -> None:
        mesh = Mesh(pki)
        await mesh.start()
        rng = random.Random(2024)
        try:
            for _ in range(15):
                rogue = await mesh.authenticated_rogue()
                rogue.send(frame(rng.randbytes(rng.randrange(1, 300))))
                assert await rogue.closed_by_peer()
                await wait_until(lambda: not mesh.victim.is_connected(mesh.rogue_files.address), what="dropped")
            assert mesh.victim.metrics.disconnects["malformed_message"] == 15
            await mesh.assert_still_working()
        finally:
            await mesh.stop()

    run(scenario())


def test_a_body_above_the_channel_limit_disconnects(pki: ChainPki) -> None:
    async def scenario() -> None:
        sender_files, receiver_files = pki.node(), pki.node()
        allowed = {sender_files.address, receiver_files.address}.__contains__
        receiver = make_network(
            receiver_files,
            allowed,
            channels={**DEFAULT_CHANNELS, "consensus": ChannelSpec(Delivery.RELIABLE, body_bytes_max=100)},
        )
        sender = make_network(sender_files, allowed)
        await start_mesh([receiver, sender])
        try:
            await sender.send(receiver.address, "consensus", bytes(101))
            await wait_until(lambda: receiver.metrics.disconnects["body_too_large"] == 1, what="body_too_large")
            with pytest.raises(MessageTooLargeError):
                await receiver.broadcast("consensus", bytes(101))  # the limit holds for sending too
        finally:
            await stop_all([receiver, sender])

    run(scenario())


def test_peers_beyond_the_limit_and_no_longer_allowed_peers_are_cut(pki: ChainPki) -> None:
    async def scenario() -> None:
        hub_files, first_files, second_files = pki.node(), pki.node(), pki.node()
        allowed = {hub_files.address, first_files.address, second_files.address}
        hub = make_network(hub_files, allowed.__contains__, fast_settings(peers_max=1))
        first = make_network(first_files, allowed.__contains__)
        second = make_network(second_files, allowed.__contains__)
        for network in (hub, first, second):
            await network.start()
        try:
            first.add_peer(hub.listen_endpoint)
            await hub.wait_connected([first.address], 5)
            second.add_peer(hub.listen_endpoint)
            await wait_until(lambda: hub.metrics.disconnects["too_many_peers"] >= 1, what="too_many_peers")
            assert [info.address for info in hub.connected_peers()] == [first.address]
            allowed.discard(first.address)  # say, removed from the validator set
            assert hub.enforce_allowed() == 1
            assert hub.metrics.disconnects["not_allowed"] == 1
            await second.wait_connected([hub.address], 5)  # the freed slot is taken by the redialing peer
        finally:
            await stop_all([hub, first, second])

    run(scenario())
