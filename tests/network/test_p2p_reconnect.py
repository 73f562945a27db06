"""Peers that go away come back: capped, jittered redials until the peer listens again."""

from __future__ import annotations

import random

from p2p_helpers import ChainPki, Inbox, fast_settings, make_network, run, stop_all, wait_until

from gusu.network.transport import P2PNetwork


def test_reconnects_after_a_peer_restarts(pki: ChainPki) -> None:
    a_files, b_files = pki.node("org0"), pki.node("org1")
    allowed = {a_files.address, b_files.address}.__contains__

    async def scenario() -> None:
        b = make_network(b_files, allowed)
        await b.start()
        port = b.listen_port
        a = make_network(a_files, allowed, fast_settings(peers=(f"127.0.0.1:{port}",)), rng=random.Random(7))
        inbox = Inbox()
        inbox.attach(a)
        connected: list[bytes] = []
        a.on_connected(connected.append)
        await a.start()
        restarted: P2PNetwork | None = None
        try:
            await a.wait_connected([b.address], 5)
            assert connected == [b.address]  # the node re-sends its pending transactions from here
            await b.stop()  # an orderly restart: A hears a goodbye, then redials
            await wait_until(lambda: not a.is_connected(b.address), what="A notices")
            assert a.metrics.disconnects["remote_closed"] == 1
            restarted = make_network(b_files, allowed, fast_settings(listen_port=port))
            await restarted.start()
            await a.wait_connected([b.address], 5)
            assert connected == [b.address, b.address]
            await restarted.send(a.address, "consensus", b"back")
            await inbox.wait_for(lambda: inbox.received_by(a.address) == [(b.address, b"back")])
        finally:
            await stop_all([a, *([restarted] if restarted else [])])

    run(scenario())


def test_reconnects_after_a_peer_vanishes_without_a_goodbye(pki: ChainPki) -> None:
    a_files, b_files = pki.node("org0"), pki.node("org1")
    allowed = {a_files.address, b_files.address}.__contains__

    async def scenario() -> None:
        b = make_network(b_files, allowed)
        await b.start()
        port = b.listen_port
        a = make_network(a_files, allowed, fast_settings(peers=(f"127.0.0.1:{port}",)))
        await a.start()
        restarted: P2PNetwork | None = None
        try:
            await a.wait_connected([b.address], 5)
            # A crash: sockets cut, listener gone, no goodbye.
            assert b._server is not None
            b._server.close()
            for link in list(b._links):
                link.protocol.abort()
            await wait_until(lambda: not a.is_connected(b.address), what="A notices the loss")
            assert a.metrics.disconnects["connection_lost"] == 1
            await b.stop()
            dials_before = a.metrics.connections_dialed
            await wait_until(lambda: a.metrics.connections_dialed >= dials_before + 3, what="redials")
            restarted = make_network(b_files, allowed, fast_settings(listen_port=port))
            await restarted.start()
            await a.wait_connected([b.address], 5)
        finally:
            await stop_all([a, *([restarted] if restarted else [])])

    run(scenario())
