"""Identity end to end: a peer is the genesis validator it claims only with that validator's organisation and key.

A certificate is not enough: every organisation CA is trusted under the
chain's root, so the certificate of one organisation for another's validator
address, or a certificate held by someone without the validator's consensus
key, must be refused at the handshake, and must never take over the real
validator's connection.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from p2p_helpers import (
    CHAIN_ID,
    GENESIS_HASH,
    ChainPki,
    Inbox,
    RoguePeer,
    fixed_nonces,
    make_network,
    run,
    start_mesh,
    stop_all,
    wait_until,
)

from gusu.codec import encode
from gusu.crypto import get_suite
from gusu.errors import CodecError, ConfigError
from gusu.ledger.types import Address, Hash
from gusu.network.handshake import (
    HandshakeTranscript,
    Role,
    ValidatorCredential,
    create_key_proof,
    encode_key_proof_statement,
    is_valid_key_proof,
    make_key_signer,
)
from gusu.network.messages import (
    TAG_HELLO_V1,
    Bye,
    Hello,
    KeyProof,
    decode_control,
    encode_control,
    encode_message,
    frame,
)
from gusu.network.transport import P2PNetwork, PeerInfo


def _everyone(_: Address) -> bool:
    return True


async def _settled(networks: list[P2PNetwork]) -> None:
    """Start a mesh and wait until the tie-break has retired every duplicate connection.

    Each node dials every other, so each completes two handshakes per peer
    (the one it dialed, the one it accepted) before its connections are final.
    """
    await start_mesh(networks)
    handshakes = 2 * (len(networks) - 1)
    await wait_until(
        lambda: all(
            network.metrics.handshakes_completed >= handshakes and len(network._links) == len(network.connected_peers())
            for network in networks
        ),
        what="duplicate connections retired",
    )


def _admissions(network: P2PNetwork) -> tuple[int, int, int]:
    """Handshakes `network` completed, and how often it switched a peer's connection (replaced, duplicate)."""
    metrics = network.metrics
    return metrics.handshakes_completed, metrics.disconnects["replaced"], metrics.disconnects["duplicate"]


async def _assert_connection_kept(
    victim: P2PNetwork, peer: P2PNetwork, inbox: Inbox, before: PeerInfo, admissions: tuple[int, int, int]
) -> None:
    """`victim` still talks to the real `peer` over the connection it had (`before`), in both directions."""
    [info] = [info for info in victim.connected_peers() if info.address == peer.address]
    assert (info.endpoint, info.outbound) == (before.endpoint, before.outbound), "the real validator was replaced"
    assert info.connected_for_s > before.connected_for_s
    assert _admissions(victim) == admissions, "the victim admitted the impostor, or its connections flapped"
    before = len(inbox.items)
    await victim.send(peer.address, "consensus", b"to the real one")
    await peer.send(victim.address, "consensus", b"from the real one")
    await inbox.wait_for(lambda: len(inbox.items) >= before + 2)
    assert (victim.address, b"to the real one") in inbox.received_by(peer.address)
    assert (peer.address, b"from the real one") in inbox.received_by(victim.address)


# --- (a) another organisation's certificate for a validator address -------------------------------


def test_a_certificate_from_another_organisation_for_a_validator_is_refused_and_takes_nothing_over(
    pki: ChainPki, caplog: pytest.LogCaptureFixture
) -> None:
    """Organisation "bank" certifies "acme"'s validator address; even holding that validator's key it gets nowhere."""
    acme = pki.node("acme")
    victim_files = pki.node("coop")
    # The worst case: the impostor even holds acme's consensus key, so only the organisation check stands.
    forged = pki.certify(acme.address, "bank", acme.key)
    impostor_view = {**pki.genesis, acme.address: ValidatorCredential("bank", acme.key.public_key)}

    async def scenario() -> None:
        victim = make_network(victim_files, _everyone)
        real = make_network(acme, _everyone)
        impostor = make_network(forged, _everyone, genesis=impostor_view)
        inbox = Inbox()
        for network in (victim, real):
            inbox.attach(network)
        impostor_inbox = Inbox()
        impostor_inbox.attach(impostor)
        await _settled([victim, real])
        [before] = victim.connected_peers()
        admissions = _admissions(victim)
        await impostor.start()
        try:
            impostor.add_peer(victim.listen_endpoint)  # it dials the victim ...
            victim.add_peer(impostor.listen_endpoint)  # ... and the victim dials it (say, a poisoned peer list)
            await wait_until(
                lambda: victim.metrics.disconnects["wrong_organization"] >= 4, what="the impostor refused repeatedly"
            )
            await _assert_connection_kept(victim, real, inbox, before, admissions)
            assert impostor_inbox.items == []
            # A sender the victim would deliver as acme's is only ever the real acme.
            assert {sender for receiver, sender, _, _ in inbox.items if receiver == victim.address} == {acme.address}
        finally:
            await stop_all([victim, real, impostor])

    with caplog.at_level(logging.WARNING, logger="gusu.network"):
        run(scenario())
    lines = [record.getMessage() for record in caplog.records if "wrong_organization" in record.getMessage()]
    assert lines, "the refusal is logged"
    assert all("'bank'" in line and "'acme'" in line for line in lines), lines[0]


# --- (b) the right certificate, the wrong key -----------------------------------------------------


def test_a_valid_certificate_without_the_validators_consensus_key_is_refused(pki: ChainPki) -> None:
    acme = pki.node("acme")
    victim_files = pki.node("coop")
    other_key = pki.suite.generate_private_key()
    # acme's own CA issued it (say, to a machine acme retired, or its CA was compromised): a perfect certificate.
    stolen = pki.certify(acme.address, "acme", other_key)
    thief_view = {**pki.genesis, acme.address: ValidatorCredential("acme", other_key.public_key)}

    async def scenario() -> None:
        victim = make_network(victim_files, _everyone)
        real = make_network(acme, _everyone)
        thief = make_network(stolen, _everyone, genesis=thief_view)
        inbox = Inbox()
        for network in (victim, real):
            inbox.attach(network)
        await _settled([victim, real])
        [before] = victim.connected_peers()
        admissions = _admissions(victim)
        await thief.start()
        try:
            thief.add_peer(victim.listen_endpoint)
            victim.add_peer(thief.listen_endpoint)
            await wait_until(lambda: victim.metrics.disconnects["bad_key_proof"] >= 4, what="the thief refused")
            assert victim.metrics.disconnects["wrong_organization"] == 0  # the certificate itself was fine
            await _assert_connection_kept(victim, real, inbox, before, admissions)
        finally:
            await stop_all([victim, real, thief])

    run(scenario())


def test_a_rogue_that_signs_with_another_key_gets_a_bye(pki: ChainPki) -> None:
    acme = pki.node("acme")
    victim_files = pki.node("coop")
    stolen = pki.certify(acme.address, "acme", pki.suite.generate_private_key())

    async def scenario() -> None:
        victim = make_network(victim_files, _everyone)
        await victim.start()
        try:
            rogue = await RoguePeer.connect(victim.listen_port, stolen.tls)
            nonce = rogue.send_hello(acme.address)
            hello = await rogue.read_control()
            assert isinstance(hello, Hello)
            transcript = rogue.transcript(stolen, nonce, hello.nonce)
            signature = create_key_proof(
                stolen.suite, make_key_signer(stolen.suite, stolen.key), transcript, Role.DIALER, acme.address
            )
            rogue.send(frame(encode_control(KeyProof(signature))))
            bye = await rogue.read_control()  # the acceptor signs nothing for a dialer that failed its proof
            assert isinstance(bye, Bye) and bye.reason == "bad_key_proof", bye
            assert await rogue.closed_by_peer()
            assert victim.metrics.disconnects["bad_key_proof"] == 1
            assert victim.connected_peers() == []
        finally:
            await victim.stop()

    run(scenario())


# --- (c) replay ---------------------------------------------------------------------------------


def _replay(pki: ChainPki, **victim_options: object) -> tuple[bool, int]:
    """Record acme's handshake with the victim, then replay it; (replay accepted, bad_key_proof count)."""
    acme = pki.node("acme")
    victim_files = pki.node("coop")

    async def scenario() -> tuple[bool, int]:
        victim = make_network(victim_files, _everyone, **victim_options)
        await victim.start()
        try:
            honest = await RoguePeer.connect(victim.listen_port, acme.tls)
            nonce, signature = await honest.handshake(acme)
            await wait_until(lambda: victim.is_connected(acme.address), what="the recorded handshake")
            await honest.close()
            await wait_until(lambda: not victim.is_connected(acme.address), what="the victim notices")
            # The attacker: acme's certificate and everything acme sent, but not acme's key.
            replayer = await RoguePeer.connect(victim.listen_port, acme.tls)
            replayer.send_hello(acme.address, nonce=nonce)
            assert isinstance(await replayer.read_control(), Hello)
            replayer.send(frame(encode_control(KeyProof(signature))))
            answer = await replayer.read_control()
            accepted = isinstance(answer, KeyProof)
            if accepted:
                await wait_until(lambda: victim.is_connected(acme.address), what="the replay accepted")
            await replayer.close()
            return accepted, victim.metrics.disconnects["bad_key_proof"]
        finally:
            await victim.stop()

    return run(scenario())


def test_a_replayed_key_proof_is_refused(pki: ChainPki) -> None:
    accepted, refusals = _replay(pki)
    assert not accepted and refusals == 1


def test_the_replay_test_would_see_a_node_without_fresh_nonces(pki: ChainPki) -> None:
    """The control of the test above: a victim whose nonce never changes does accept the replay."""
    accepted, refusals = _replay(pki, nonce_source=fixed_nonces(bytes(range(32))))
    assert accepted and refusals == 0


# --- (d) the happy path, on both suites ---------------------------------------------------------


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_validators_of_several_organisations_connect_on_either_suite(tmp_path: Path, suite_name: str) -> None:
    pki = ChainPki(tmp_path / "pki", suite_name=suite_name)
    files = [pki.node("acme"), pki.node("acme"), pki.node("bank")]

    async def scenario() -> None:
        networks = [make_network(f, _everyone) for f in files]
        inbox = Inbox()
        for network in networks:
            inbox.attach(network)
        await start_mesh(networks)
        try:
            for network, own in zip(networks, files, strict=True):
                organizations = sorted(info.organization for info in network.connected_peers())
                assert organizations == sorted(f.organization for f in files if f is not own)
            for network in networks:
                assert await network.broadcast("consensus", b"hi") == 2
            await inbox.wait_for(lambda: len(inbox.items) == 6)
            assert all(network.metrics.disconnects["bad_key_proof"] == 0 for network in networks)
        finally:
            await stop_all(networks)

    run(scenario())


# --- the statement itself -----------------------------------------------------------------------


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_a_key_proof_verifies_only_for_its_own_transcript_role_and_signer(suite_name: str) -> None:
    suite = get_suite(suite_name)
    key = suite.generate_private_key()
    signer = Address(suite.compute_address(key.public_key))
    transcript = HandshakeTranscript(CHAIN_ID, GENESIS_HASH, b"d" * 32, b"a" * 32, Hash(b"D" * 32), Hash(b"A" * 32))
    signature = create_key_proof(suite, make_key_signer(suite, key), transcript, Role.DIALER, signer)
    assert is_valid_key_proof(suite, key.public_key, transcript, Role.DIALER, signer, signature)
    other_key = suite.generate_private_key()
    refused = [
        # reflection: the same proof offered back as the other role
        (key.public_key, transcript, Role.ACCEPTOR, signer),
        # relay: the same nonces, but a connection with another certificate on either end
        (key.public_key, replace(transcript, acceptor_certificate_hash=Hash(b"M" * 32)), Role.DIALER, signer),
        (key.public_key, replace(transcript, dialer_certificate_hash=Hash(b"M" * 32)), Role.DIALER, signer),
        # replay: a fresh nonce from the verifier
        (key.public_key, replace(transcript, acceptor_nonce=b"b" * 32), Role.DIALER, signer),
        (key.public_key, replace(transcript, dialer_nonce=b"e" * 32), Role.DIALER, signer),
        # another chain, or another genesis of the same name
        (key.public_key, replace(transcript, chain_id="other"), Role.DIALER, signer),
        (key.public_key, replace(transcript, genesis_hash=Hash(bytes(32))), Role.DIALER, signer),
        # another signer address claimed, or another key
        (key.public_key, transcript, Role.DIALER, Address(bytes(20))),
        (other_key.public_key, transcript, Role.DIALER, signer),
    ]
    for public_key, variant, role, address in refused:
        assert not is_valid_key_proof(suite, public_key, variant, role, address, signature), (variant, role)
    assert not is_valid_key_proof(suite, key.public_key, transcript, Role.DIALER, signer, b"\x00" * 64)
    assert not is_valid_key_proof(suite, key.public_key, transcript, Role.DIALER, signer, b"")


def test_the_statement_is_domain_tagged_and_canonical() -> None:
    transcript = HandshakeTranscript("c", GENESIS_HASH, b"d" * 32, b"a" * 32, Hash(b"D" * 32), Hash(b"A" * 32))
    statement = encode_key_proof_statement(transcript, Role.ACCEPTOR, Address(b"\x01" * 20))
    assert statement == encode(
        [
            "gusu.p2p.keyproof.statement.v1",
            "c",
            GENESIS_HASH,
            "acceptor",
            Address(b"\x01" * 20),
            b"d" * 32,
            b"a" * 32,
            Hash(b"D" * 32),
            Hash(b"A" * 32),
        ]
    )


def test_a_version_1_hello_is_refused_with_a_reason() -> None:
    body = encode([TAG_HELLO_V1, 1, "chain", bytes(32), bytes(20)])
    with pytest.raises(CodecError, match="protocol version 1 hello"):
        decode_control(body)
    assert encode_message("p2p", body)  # what an old node sends: refused as bad_hello at the handshake


# --- start-up checks and validator-set changes ----------------------------------------------------


def test_a_node_whose_certificate_or_key_disagrees_with_genesis_does_not_start(pki: ChainPki) -> None:
    acme = pki.node("acme")
    wrong_org = pki.certify(acme.address, "bank", acme.key)
    with pytest.raises(ConfigError, match="names organisation 'bank' but genesis assigns validator"):
        make_network(wrong_org, _everyone)
    wrong_key = pki.certify(acme.address, "acme", pki.suite.generate_private_key())
    with pytest.raises(ConfigError, match="consensus key does not sign as validator"):
        make_network(wrong_key, _everyone)

    async def build() -> None:
        make_network(acme, _everyone)  # the genuine one starts

    asyncio.run(build())


def test_a_peer_whose_genesis_key_changes_is_cut(pki: ChainPki) -> None:
    acme, coop = pki.node("acme"), pki.node("coop")

    async def scenario() -> None:
        networks = [make_network(acme, _everyone), make_network(coop, _everyone)]
        await start_mesh(networks)
        try:
            assert networks[1].enforce_allowed() == 0
            pki.genesis[acme.address] = ValidatorCredential("acme", pki.suite.generate_private_key().public_key)
            assert networks[1].enforce_allowed() == 1
            assert networks[1].metrics.disconnects["not_allowed"] == 1
            # acme cannot prove the new key, so it stays out.
            await wait_until(lambda: networks[1].metrics.disconnects["bad_key_proof"] >= 1, what="redial refused")
            assert not networks[1].is_connected(acme.address)
        finally:
            await stop_all(networks)

    run(scenario())
