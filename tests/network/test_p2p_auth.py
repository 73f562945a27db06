"""Who gets in: only nodes certified under the chain's root CA, on the same chain, as who they claim to be."""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

from p2p_helpers import (
    CHAIN_ID,
    ChainPki,
    Inbox,
    RoguePeer,
    make_network,
    run,
    start_mesh,
    stop_all,
    wait_until,
)

from gusu.ledger.types import Address, Hash
from gusu.network.messages import Bye, Hello
from gusu.network.transport import P2PNetwork


def _victim(pki: ChainPki, *extra_allowed: Address) -> tuple[P2PNetwork, set[Address]]:
    node = pki.node()
    allowed = {node.address, *extra_allowed}
    return make_network(node, allowed.__contains__), allowed


async def _still_serves(network: P2PNetwork, pki: ChainPki, allowed: set[Address]) -> None:
    """A fresh, honest peer can still connect and talk to `network`."""
    honest = pki.node("org1")
    allowed.add(honest.address)
    friend = make_network(honest, allowed.__contains__)
    inbox = Inbox()
    inbox.attach(network)
    await friend.start()
    friend.add_peer(network.listen_endpoint)
    try:
        await friend.wait_connected([network.address], 5)
        await friend.send(network.address, "consensus", b"still here")
        await inbox.wait_for(lambda: bool(inbox.received_by(network.address)))
    finally:
        await friend.stop()


def test_a_certificate_from_another_chains_ca_is_refused(pki: ChainPki, tmp_path: Path) -> None:
    stranger_pki = ChainPki(tmp_path / "other", chain_id=CHAIN_ID)  # same chain id, different root
    stranger = stranger_pki.node()

    async def scenario() -> None:
        victim, allowed = _victim(pki, stranger.address)
        intruder = make_network(stranger, allowed.__contains__)
        await victim.start()
        await intruder.start()
        intruder.add_peer(victim.listen_endpoint)  # it dials us ...
        victim.add_peer(intruder.listen_endpoint)  # ... and we dial it
        try:
            await wait_until(lambda: victim.metrics.disconnects["tls_failed"] >= 2, what="both directions refused")
            assert victim.connected_peers() == [] and intruder.connected_peers() == []
            await _still_serves(victim, pki, allowed)
        finally:
            await stop_all([victim, intruder])

    run(scenario())


def test_a_peer_claiming_another_address_is_refused(pki: ChainPki) -> None:
    impostor = pki.node()
    someone = pki.node()

    async def scenario() -> None:
        victim, allowed = _victim(pki, impostor.address, someone.address)
        await victim.start()
        try:
            rogue = await RoguePeer.connect(victim.listen_port, impostor.tls)
            rogue.send_hello(someone.address)  # the certificate says impostor.address
            assert isinstance(await rogue.read_control(), Hello)
            bye = await rogue.read_control()
            assert isinstance(bye, Bye) and bye.reason == "address_mismatch"
            assert await rogue.closed_by_peer()
            assert victim.metrics.disconnects["address_mismatch"] == 1
            assert not victim.is_connected(someone.address) and not victim.is_connected(impostor.address)
            await _still_serves(victim, pki, allowed)
        finally:
            await victim.stop()

    run(scenario())


def test_handshake_checks_chain_genesis_allowed_set_and_self(pki: ChainPki) -> None:
    outsider = pki.node()  # valid certificate, not in the allowed set

    async def scenario() -> None:
        member = pki.node()
        victim, _ = _victim(pki, member.address)
        await victim.start()
        cases = [
            (member, {"chain_id": "other-chain"}, "wrong_chain"),
            (member, {"genesis_hash": Hash(os.urandom(32))}, "wrong_genesis"),
            (outsider, {}, "not_allowed"),
        ]
        try:
            for files, hello_fields, reason in cases:
                rogue = await RoguePeer.connect(victim.listen_port, files.tls)
                rogue.send_hello(files.address, **hello_fields)  # type: ignore[arg-type]
                assert isinstance(await rogue.read_control(), Hello)
                bye = await rogue.read_control()
                assert isinstance(bye, Bye) and bye.reason == reason, bye
                assert await rogue.closed_by_peer()
                assert victim.metrics.disconnects[reason] == 1
            # Dialing itself is caught too.
            victim.add_peer(victim.listen_endpoint)
            await wait_until(lambda: victim.metrics.disconnects["self_connection"] >= 1, what="self connection")
            await asyncio.sleep(0.3)  # several backoff periods: the endpoint is not dialed again
            assert victim.metrics.disconnects["self_connection"] <= 2  # one per side of the single attempt
            assert victim.connected_peers() == []
        finally:
            await victim.stop()

    run(scenario())


def test_an_admin_certificate_is_not_a_node(pki: ChainPki) -> None:
    async def scenario() -> None:
        victim, _ = _victim(pki)
        await victim.start()
        try:
            rogue = await RoguePeer.connect(victim.listen_port, pki.admin())
            rogue.send_hello(victim.address)
            assert await rogue.closed_by_peer()
            assert victim.metrics.disconnects["bad_certificate"] == 1
        finally:
            await victim.stop()

    run(scenario())


def test_a_client_without_a_certificate_is_refused(pki: ChainPki) -> None:
    async def scenario() -> None:
        victim, allowed = _victim(pki)
        await victim.start()
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            reader, writer = await asyncio.open_connection("127.0.0.1", victim.listen_port, ssl=context)
            rogue = RoguePeer(reader, writer)
            assert await rogue.closed_by_peer()
            await wait_until(lambda: victim.metrics.disconnects["tls_failed"] == 1, what="refusal")
            await _still_serves(victim, pki, allowed)
        finally:
            await victim.stop()

    run(scenario())


def test_mesh_members_ignore_an_intruder_from_the_same_organisation_name(pki: ChainPki, tmp_path: Path) -> None:
    """An organisation CA of the same name under another root does not make its nodes members."""
    other = ChainPki(tmp_path / "other")
    intruder_files = other.node("org0")

    async def scenario() -> None:
        members = [pki.node("org0"), pki.node("org0")]
        allowed = {m.address for m in members} | {intruder_files.address}
        networks = [make_network(m, allowed.__contains__) for m in members]
        intruder = make_network(intruder_files, allowed.__contains__)
        await start_mesh(networks)
        await intruder.start()
        for network in networks:
            intruder.add_peer(network.listen_endpoint)
        try:
            await wait_until(
                lambda: all(n.metrics.disconnects["tls_failed"] >= 1 for n in networks), what="intruder refused"
            )
            assert all(len(n.connected_peers()) == 1 for n in networks)
        finally:
            await stop_all([*networks, intruder])

    run(scenario())
