"""TLS 1.3 contexts with mutual authentication under the organisations' own CAs.

Both sides present a certificate; both verify the other's against the
trusted organisation CAs (`gusu.network.trust`): those genesis or
governance lists, passed as name -> DER, or for a chain whose genesis lists
no organisation the CA certificates in ``tls_ca``. TLS accepts a chain to
any trusted CA; the transport then requires the CA of the organisation the
certificate names (`is_issued_by_anchor`). Host names are not checked,
because a node is named by the ``gusu://node/<address>`` URI in its
certificate, which the transport compares with the address the peer claims
in its handshake.

Session tickets are switched off: a resumed TLS 1.3 session skips the
certificate exchange, and every connection must show its certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gusu.errors import ConfigError
from gusu.network.errors import PeerIdentityError
from gusu.network.identity import NodeIdentity, get_node_identity_from_certificate
from gusu.network.settings import P2PSettings
from gusu.network.trust import (
    TrustAnchor,
    TrustedOrganizations,
    compute_trust_anchors,
    get_trusted_organizations_from_certificates,
    is_issued_by,
)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    certificate: Path
    """PEM: the node certificate first, then its organisation CA certificate."""
    key: Path
    """PEM private key of the node certificate."""
    ca: Path
    """PEM of trusted organisation CAs: used only when the trusted organisations are not given (no genesis list)."""
    key_password: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: P2PSettings, directory: Path, key_password: bytes | None = None) -> TlsFiles:
        """Resolve the ``[p2p]`` paths against the node directory."""
        return cls(
            certificate=directory / settings.tls_certificate,
            key=directory / settings.tls_key,
            ca=directory / settings.tls_ca,
            key_password=key_password,
        )


@dataclass(frozen=True, slots=True)
class TlsContexts:
    server: ssl.SSLContext
    client: ssl.SSLContext
    identity: NodeIdentity
    """What this node's own certificate says about it."""
    certificate_der: bytes
    """This node's certificate as TLS presents it (DER); the key proof signs its hash."""
    certificate: x509.Certificate
    anchors: Mapping[str, TrustAnchor]
    """The trusted organisations these contexts verify peers against."""


def _read_certificates(path: Path, what: str) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read the {what} {path}: {error}") from error
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise ConfigError(f"the {what} {path} holds no PEM certificate: {error}") from error
    return certificates


def _check_chain(files: TlsFiles, anchors: Mapping[str, TrustAnchor]) -> tuple[NodeIdentity, x509.Certificate]:
    """Fail at start-up, naming the files, where peers would otherwise refuse us one by one."""
    chain = _read_certificates(files.certificate, "TLS certificate")
    try:
        identity = get_node_identity_from_certificate(chain[0])
    except PeerIdentityError as error:
        raise ConfigError(f"{files.certificate} is not a node certificate: {error}") from error
    anchor = anchors.get(identity.organization)
    if anchor is None:
        raise ConfigError(
            f"the node certificate in {files.certificate} is of organisation {identity.organization!r}, "
            f"which is not a trusted organisation of this chain ({', '.join(sorted(anchors)) or 'none'})"
        )
    if not is_issued_by(chain[0], anchor.certificate):
        raise ConfigError(
            f"the node certificate in {files.certificate} is not issued by the CA the chain lists for "
            f"{identity.organization!r}; issue it with that organisation's CA (`gusu node init --org`)"
        )
    return identity, chain[0]


def get_trust_anchors(files: TlsFiles, trusted: TrustedOrganizations | None) -> dict[str, TrustAnchor]:
    """The anchors of `trusted`, or of the CA file when `trusted` is None or empty; ConfigError if none."""
    if not trusted:
        trusted = get_trusted_organizations_from_certificates(_read_certificates(files.ca, "TLS CA certificate"))
    anchors, problems = compute_trust_anchors(trusted)
    if not anchors:
        detail = "; ".join(problems) or "none given"
        raise ConfigError(f"no trusted organisation CA ({detail}); check genesis organizations or {files.ca}")
    return anchors


def _base_context(protocol: int, files: TlsFiles, anchors: Mapping[str, TrustAnchor]) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    # Strict X.509 checks; the organisation CAs are roots, so no partial-chain flag is needed.
    context.verify_flags = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_TRUSTED_FIRST
    try:
        context.load_verify_locations(cadata=b"".join(anchor.der for anchor in anchors.values()))
    except ssl.SSLError as error:
        raise ConfigError(f"cannot load the trusted organisation CAs: {error}") from error
    try:
        context.load_cert_chain(str(files.certificate), str(files.key), password=files.key_password)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"cannot load the TLS certificate {files.certificate} with key {files.key}: {error}; "
            "check that the key belongs to the certificate (and its passphrase, if encrypted)"
        ) from error
    return context


def build_tls_contexts(files: TlsFiles, trusted: TrustedOrganizations | None = None) -> TlsContexts:
    """Server and client contexts from the node's TLS files; ConfigError naming the file at fault.

    `trusted` (organisation -> DER CA) is whom peers must be certified by;
    None (or empty: a chain whose genesis lists no organisation) trusts the
    CA certificates in ``files.ca``.
    """
    anchors = get_trust_anchors(files, trusted)
    identity, certificate = _check_chain(files, anchors)
    server = _base_context(ssl.PROTOCOL_TLS_SERVER, files, anchors)
    server.num_tickets = 0
    client = _base_context(ssl.PROTOCOL_TLS_CLIENT, files, anchors)
    client.check_hostname = False
    return TlsContexts(
        server=server,
        client=client,
        identity=identity,
        certificate_der=certificate.public_bytes(serialization.Encoding.DER),
        certificate=certificate,
        anchors=anchors,
    )
