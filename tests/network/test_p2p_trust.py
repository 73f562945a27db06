"""Trust per organisation: the listed CAs only, changes applied to live peers, revocation, renewal, expiry."""

from __future__ import annotations

import asyncio
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from p2p_helpers import ChainPki, NodeFiles, make_network, run, start_mesh, stop_all, wait_until

from gusu.errors import ConfigError
from gusu.network.tls import build_tls_contexts
from gusu.network.transport import P2PNetwork
from gusu.network.trust import (
    DAY_S,
    compute_certificate_sha256,
    compute_trust_anchors,
    get_expiry_warning_days,
)
from gusu.node.pki import create_organization_ca, issue_node_certificate, load_certificate, save_certified_key


def _sha256_of(files: NodeFiles) -> bytes:
    return compute_certificate_sha256(load_certificate(files.tls.certificate).public_bytes(serialization.Encoding.DER))


def _network(files: NodeFiles, trusted: dict[str, bytes], revoked: set[bytes] | None = None) -> P2PNetwork:
    return make_network(
        files,
        lambda _: True,
        get_trusted_organizations=lambda: dict(trusted),
        is_revoked=(revoked if revoked is not None else set()).__contains__,
    )


def test_only_the_listed_organisations_are_trusted(pki: ChainPki) -> None:
    trusted = {name: der for name, der in pki.trusted().items() if name in ("org0", "org1")}
    member, friend, outsider = pki.node("org0"), pki.node("org1"), pki.node("org2")

    async def scenario() -> None:
        victim = _network(member, trusted)
        ok = _network(friend, trusted)
        # The outsider is a genesis validator and trusts everyone, but its organisation is not listed.
        stranger = _network(outsider, pki.trusted())
        await start_mesh([victim, ok])
        await stranger.start()
        stranger.add_peer(victim.listen_endpoint)
        try:
            await wait_until(lambda: stranger.metrics.disconnects["tls_failed"] >= 1, what="outsider refused")
            assert not victim.is_connected(outsider.address)
            assert victim.is_connected(friend.address)
        finally:
            await stop_all([victim, ok, stranger])

    run(scenario())


def test_a_node_certificate_must_come_from_its_own_organisations_listed_ca(pki: ChainPki) -> None:
    """The CA file may hold a CA of the same name that the chain does not list: it does not count."""
    member = pki.node("org0")
    impostor_ca = create_organization_ca("org0")
    anchors, problems = compute_trust_anchors({"org0": pki.trusted()["org0"], "org1": b"junk"})
    assert list(anchors) == ["org0"] and len(problems) == 1
    save_certified_key(
        member.tls.certificate, member.tls.key, issue_node_certificate(impostor_ca, "node0", member.address)
    )
    with pytest.raises(ConfigError, match="not issued by the CA the chain lists"):
        build_tls_contexts(member.tls, pki.trusted())
    with pytest.raises(ConfigError, match="not a trusted organisation"):
        build_tls_contexts(member.tls, {"org1": pki.trusted()["org1"]})


def test_removing_an_organisation_cuts_its_peers_and_adding_one_admits_them(pki: ChainPki) -> None:
    trusted = {name: pki.trusted()[name] for name in ("org0", "org1")}
    a, b, c = pki.node("org0"), pki.node("org1"), pki.node("org2")

    async def scenario() -> None:
        everyone = dict(pki.trusted())
        hub = _network(a, trusted)
        leaving = _network(b, everyone)
        joining = _network(c, everyone)
        await start_mesh([hub, leaving])
        await joining.start()
        joining.add_peer(hub.listen_endpoint)
        try:
            await wait_until(lambda: joining.metrics.disconnects["tls_failed"] >= 1, what="org2 refused")
            del trusted["org1"]
            trusted["org2"] = everyone["org2"]
            assert hub.enforce_trust() == 1  # org1's peer, cut at once
            assert not hub.is_connected(b.address)
            assert hub.metrics.disconnects["untrusted_certificate"] == 1
            await hub.wait_connected([c.address], 5)  # org2 is admitted on its next dial
            # org1 keeps dialing and is refused by TLS now.
            before = leaving.metrics.disconnects["tls_failed"]
            await wait_until(lambda: leaving.metrics.disconnects["tls_failed"] > before, what="org1 refused again")
            assert not hub.is_connected(b.address)
        finally:
            await stop_all([hub, leaving, joining])

    run(scenario())


def test_a_revoked_certificate_is_cut_at_once_and_refused_after(pki: ChainPki) -> None:
    a, b, c = pki.node("org0"), pki.node("org1"), pki.node("org1")
    trusted = pki.trusted()
    revoked: set[bytes] = set()

    async def scenario() -> None:
        hub = _network(a, trusted, revoked)
        others = [_network(b, trusted), _network(c, trusted)]
        await start_mesh([hub, *others])
        try:
            assert hub.enforce_trust() == 0
            revoked.add(_sha256_of(b))
            assert hub.enforce_trust() == 1
            assert not hub.is_connected(b.address) and hub.is_connected(c.address)
            # A new connection with the revoked certificate is refused at the handshake.
            again = _network(b, trusted)
            await again.start()
            again.add_peer(hub.listen_endpoint)
            try:
                await wait_until(
                    lambda: hub.metrics.disconnects["certificate_revoked"] >= 2, what="new connection refused"
                )
            finally:
                await again.stop()
            assert not hub.is_connected(b.address)
            # Revoking the organisation CA cuts every node it certified.
            revoked.add(compute_certificate_sha256(trusted["org1"]))
            assert hub.enforce_trust() == 1
            assert hub.connected_peers() == []
        finally:
            await stop_all([hub, *others])

    run(scenario())


def test_a_failing_revocation_lookup_does_not_cut_peers(pki: ChainPki, caplog: pytest.LogCaptureFixture) -> None:
    a, b = pki.node("org0"), pki.node("org1")

    def broken(_: bytes) -> bool:
        raise RuntimeError("state unreadable")

    async def scenario() -> None:
        hub = make_network(a, lambda _: True, is_revoked=broken)
        other = make_network(b, lambda _: True)
        await start_mesh([hub, other])
        try:
            assert hub.enforce_trust() == 0 and hub.is_connected(b.address)
        finally:
            await stop_all([hub, other])

    with caplog.at_level(logging.ERROR, "gusu.network"):
        run(scenario())
    assert "revocation lookup failed" in caplog.text


def test_a_renewed_certificate_serves_new_connections_while_old_ones_stay(pki: ChainPki) -> None:
    a, b, c = pki.node("org0"), pki.node("org1"), pki.node("org1")
    old_sha256 = _sha256_of(a)

    async def scenario() -> None:
        renewing, first, later = (make_network(files, lambda _: True) for files in (a, b, c))
        await start_mesh([renewing, first])
        await asyncio.sleep(0.3)  # the simultaneous dials settle on one connection
        handshakes = first.metrics.handshakes_completed
        (before,) = first.connected_peers()
        try:
            renewed = issue_node_certificate(pki.organization("org0"), "node0", a.address)
            save_certified_key(a.tls.certificate, a.tls.key, renewed)
            renewing.check_certificates()  # what the periodic check does
            new_sha256 = _sha256_of(a)
            assert new_sha256 != old_sha256
            # The existing connection is untouched and still carries traffic both ways.
            assert renewing.is_connected(b.address)
            await first.send(a.address, "consensus", b"after renewal")
            await renewing.send(b.address, "consensus", b"after renewal")
            # A new connection gets the new certificate.
            await later.start()
            later.add_peer(renewing.listen_endpoint)
            await later.wait_connected([a.address], 5)
            seen = [e.sha256 for e in later.get_certificate_expiries() if e.kind == "peer"]
            assert seen == [new_sha256]
            assert [e.sha256 for e in first.get_certificate_expiries() if e.kind == "peer"] == [old_sha256]
            assert renewing.is_connected(b.address) and renewing.is_connected(c.address)
            assert first.metrics.handshakes_completed == handshakes  # its connection was never remade
            (after,) = first.connected_peers()
            assert after.endpoint == before.endpoint and after.connected_for_s > before.connected_for_s
        finally:
            await stop_all([renewing, first, later])

    run(scenario())


def test_a_renewal_naming_another_node_is_not_used(pki: ChainPki, caplog: pytest.LogCaptureFixture) -> None:
    a, b = pki.node("org0"), pki.node("org0")
    old_sha256 = _sha256_of(a)
    network = make_network(a, lambda _: True)
    save_certified_key(
        a.tls.certificate, a.tls.key, issue_node_certificate(pki.organization("org0"), "nodeX", b.address)
    )
    with caplog.at_level(logging.ERROR, "gusu.network"):
        assert network.reload_certificate() is False
    assert "not this node" in caplog.text
    assert [e.sha256 for e in network.get_certificate_expiries() if e.kind == "node"] == [old_sha256]


def test_expiry_warnings_once_per_threshold(pki: ChainPki, caplog: pytest.LogCaptureFixture) -> None:
    assert get_expiry_warning_days(31 * DAY_S, frozenset()) is None
    assert get_expiry_warning_days(29 * DAY_S, frozenset()) == 30
    assert get_expiry_warning_days(29 * DAY_S, frozenset({30})) is None
    assert get_expiry_warning_days(5 * DAY_S, frozenset()) == 7  # first seen late: one warning, not two
    assert get_expiry_warning_days(0.5 * DAY_S, frozenset({30, 7})) == 1
    network = make_network(pki.node("org0"), lambda _: True)
    node_end = next(e for e in network.get_certificate_expiries() if e.kind == "node").not_after_s
    with caplog.at_level(logging.WARNING, "gusu.network"):
        warned = network.check_certificates(now=node_end - 20 * DAY_S)
        assert [(e.kind, days) for e, days in warned] == [("node", 30)]
        assert network.check_certificates(now=node_end - 19 * DAY_S) == []
        assert [(e.kind, days) for e, days in network.check_certificates(now=node_end - 3 * DAY_S)] == [("node", 7)]
        assert [(e.kind, d) for e, d in network.check_certificates(now=node_end - 100)] == [("node", 1)]
        assert network.check_certificates(now=node_end - 50) == []
    assert caplog.text.count("node certificate") == 3


def test_a_certificate_revoked_while_its_handshake_runs_is_refused(
    pki: ChainPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handshake awaits the peer after checking the certificate; a revocation applied meanwhile still counts."""
    a, b = pki.node("org0"), pki.node("org1")
    trusted = pki.trusted()
    revoked: set[bytes] = set()
    original = P2PNetwork._exchange_key_proofs

    async def revoke_midway(self: P2PNetwork, *args: object, **kwargs: object) -> None:
        await original(self, *args, **kwargs)  # type: ignore[arg-type]
        revoked.add(_sha256_of(b))  # as `enforce_trust` after a commit that lands during this handshake

    monkeypatch.setattr(P2PNetwork, "_exchange_key_proofs", revoke_midway)

    async def scenario() -> None:
        hub = _network(a, trusted, revoked)
        other = _network(b, trusted)
        await hub.start()
        await other.start()
        try:
            other.add_peer(hub.listen_endpoint)
            await wait_until(lambda: hub.metrics.disconnects["certificate_revoked"] >= 1, what="refused")
            await asyncio.sleep(0.2)
            assert not hub.is_connected(b.address)
        finally:
            await stop_all([hub, other])

    run(scenario())
