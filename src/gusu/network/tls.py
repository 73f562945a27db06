"""TLS 1.3 contexts with mutual authentication under the chain's root CA.

Both sides present a certificate; both verify the other's chain up to the
root CA in ``tls_ca`` (the only trust anchor: organisation CAs travel in
the peer's chain, so partial chains that stop at an organisation CA are not
accepted). Host names are not checked, because a node is named by the
``gusu://node/<address>`` URI in its certificate, which the transport
compares with the address the peer claims in its handshake.

Session tickets are switched off: a resumed TLS 1.3 session skips the
certificate exchange, and every connection must show its certificate.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from gusu.errors import ConfigError
from gusu.network.errors import PeerIdentityError
from gusu.network.identity import NodeIdentity, get_node_identity_from_certificate
from gusu.network.settings import P2PSettings


@dataclass(frozen=True, slots=True)
class TlsFiles:
    certificate: Path
    """PEM: the node certificate first, then its organisation CA certificate."""
    key: Path
    """PEM private key of the node certificate."""
    ca: Path
    """PEM of the chain's root CA."""
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


def _check_chain(files: TlsFiles) -> tuple[NodeIdentity, bytes]:
    """Fail at start-up, naming the files, where peers would otherwise refuse us one by one."""
    chain = _read_certificates(files.certificate, "TLS certificate")
    roots = _read_certificates(files.ca, "TLS CA certificate")
    if len(chain) < 2:
        raise ConfigError(
            f"{files.certificate} must hold the node certificate followed by its organisation CA certificate"
        )
    try:
        identity = get_node_identity_from_certificate(chain[0])
    except PeerIdentityError as error:
        raise ConfigError(f"{files.certificate} is not a node certificate: {error}") from error
    try:
        chain[0].verify_directly_issued_by(chain[1])
        if not any(_issued_by(chain[-1], root) for root in roots):
            raise ConfigError(
                f"the organisation CA in {files.certificate} is not issued by the root CA in {files.ca}; "
                "both must come from the same `gusu chain init`"
            )
    except (ValueError, TypeError, InvalidSignature) as error:
        raise ConfigError(
            f"the node certificate in {files.certificate} is not issued by the organisation CA after it: {error}"
        ) from error
    return identity, chain[0].public_bytes(serialization.Encoding.DER)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _base_context(protocol: int, files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    # Strict X.509 checks, and no VERIFY_X509_PARTIAL_CHAIN: only the root CA anchors trust.
    context.verify_flags = ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_TRUSTED_FIRST
    try:
        context.load_verify_locations(cafile=str(files.ca))
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"cannot load the TLS CA certificate {files.ca}: {error}") from error
    try:
        context.load_cert_chain(str(files.certificate), str(files.key), password=files.key_password)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"cannot load the TLS certificate {files.certificate} with key {files.key}: {error}; "
            "check that the key belongs to the certificate (and its passphrase, if encrypted)"
        ) from error
    return context


def build_tls_contexts(files: TlsFiles) -> TlsContexts:
    """Server and client contexts from the node's TLS files; ConfigError naming the file at fault."""
    identity, certificate_der = _check_chain(files)
    server = _base_context(ssl.PROTOCOL_TLS_SERVER, files)
    server.num_tickets = 0
    client = _base_context(ssl.PROTOCOL_TLS_CLIENT, files)
    client.check_hostname = False
    return TlsContexts(server=server, client=client, identity=identity, certificate_der=certificate_der)
