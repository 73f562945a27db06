"""A full mesh of real transports on 127.0.0.1: broadcast, direct messages, one connection per pair."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import uvloop
from p2p_helpers import ChainPki, Inbox, fast_settings, make_network, run, start_mesh, stop_all, wait_until

from gusu.network.errors import MessageTooLargeError, PeerUnavailableError, UnknownChannelError
from gusu.network.transport import P2PNetwork


def _mesh(pki: ChainPki, count: int) -> list[P2PNetwork]:
    nodes = [pki.node(f"org{index % 2}") for index in range(count)]
    allowed = {node.address for node in nodes}.__contains__
    return [make_network(node, allowed) for node in nodes]


async def _exchange(networks: list[P2PNetwork]) -> None:
    inbox = Inbox()
    for network in networks:
        inbox.attach(network)
    await start_mesh(networks)
    try:
        for index, network in enumerate(networks):
            assert await network.broadcast("consensus", f"vote {index}".encode()) == len(networks) - 1
        first, last = networks[0], networks[-1]
        await first.send(last.address, "sync", b"direct")
        expected = (len(networks) - 1) * len(networks) + 1
        await inbox.wait_for(lambda: len(inbox.items) >= expected)
        await asyncio.sleep(0.05)
        assert len(inbox.items) == expected, "no message is delivered twice"
        for network in networks:
            votes = sorted(body for _, body in inbox.received_by(network.address, "consensus"))
            assert votes == sorted(f"vote {i}".encode() for i, other in enumerate(networks) if other is not network)
        assert inbox.received_by(last.address, "sync") == [(first.address, b"direct")]
        for network in networks:
            assert network.metrics.messages_in_by_channel["consensus"] == len(networks) - 1
    finally:
        await stop_all(networks)


def test_four_transports_form_a_full_mesh_and_exchange_messages(pki: ChainPki) -> None:
    run(_exchange(_mesh(pki, 4)))


def test_the_mesh_works_on_uvloop(pki: ChainPki) -> None:
    networks = _mesh(pki, 3)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(_exchange(networks), 20))


def test_one_connection_per_pair_dialed_by_the_lower_address(pki: ChainPki) -> None:
    """Every node dials every other: the tie-break keeps the lower address's dial on both sides."""

    async def scenario() -> None:
        networks = _mesh(pki, 4)
        await start_mesh(networks)
        try:

            def settled() -> bool:
                return all(
                    len(network._links) == 3
                    and all(info.outbound == (network.address < info.address) for info in network.connected_peers())
                    for network in networks
                )

            # Both sides of every pair dialed: wait for the tie-break to settle and the duplicates to close.
            await wait_until(settled, what="one connection per pair, dialed by the lower address")
            by_address = {network.address: network for network in networks}
            for network in networks:
                peers = network.connected_peers()
                assert len(peers) == 3
                for info in peers:
                    assert info.outbound == (network.address < info.address)
                    mirror = next(p for p in by_address[info.address].connected_peers() if p.address == network.address)
                    assert mirror.outbound != info.outbound
                    assert info.organization in {"org0", "org1"}
        finally:
            await stop_all(networks)

    run(scenario())


def test_messages_sent_while_duplicate_connections_are_resolved_arrive_once_in_order(pki: ChainPki) -> None:
    async def scenario() -> None:
        a, b = _mesh(pki, 2)
        inbox = Inbox()
        inbox.attach(a)
        inbox.attach(b)
        await a.start()
        await b.start()
        a.add_peer(b.listen_endpoint)
        b.add_peer(a.listen_endpoint)
        sent = 0
        try:
            # Send as fast as the link allows from the first moment either side sees the other.
            async with asyncio.timeout(5):
                while sent < 300:
                    if a.is_connected(b.address):
                        try:
                            await a.send(b.address, "consensus", sent.to_bytes(4, "big"))
                            sent += 1
                        except PeerUnavailableError:
                            pass
                    await asyncio.sleep(0)
            await inbox.wait_for(lambda: len(inbox.received_by(b.address)) >= 300)
            received = [int.from_bytes(body, "big") for _, body in inbox.received_by(b.address)]
            assert received == list(range(300))
        finally:
            await stop_all([a, b])

    run(scenario())


def test_ping_measures_round_trips(pki: ChainPki) -> None:
    async def scenario() -> None:
        networks = _mesh(pki, 2)
        await start_mesh(networks)
        try:
            await wait_until(lambda: all(p.rtt_ms is not None for n in networks for p in n.connected_peers()))
            info = networks[0].connected_peers()[0]
            assert info.rtt_ms is not None and 0 <= info.rtt_ms < 1000
            assert networks[0].metrics.messages_in_by_channel["p2p"] > 0
        finally:
            await stop_all(networks)

    run(scenario())


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda net: net.broadcast("nope", b""), UnknownChannelError),
        (lambda net: net.broadcast("consensus", b"x" * 70_000), MessageTooLargeError),
        (lambda net: net.send(b"\x01" * 20, "consensus", b""), PeerUnavailableError),
    ],
)
def test_local_misuse_raises_gusu_errors(
    pki: ChainPki, call: Callable[[P2PNetwork], object], error: type[Exception]
) -> None:
    async def scenario() -> None:
        node = pki.node()
        network = make_network(node, lambda _: True, fast_settings(frame_bytes_max=65_536, peer_queue_bytes_max=65_536))
        await network.start()
        try:
            with pytest.raises(error):
                await call(network)  # type: ignore[misc]
        finally:
            await network.stop()

    run(scenario())
