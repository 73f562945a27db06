"""The chain's X.509 PKI: each organisation its own root CA, issuing its node and admin certificates.

    organisation CA  (O=<org>, CN=<org> CA; self-signed; path length 0)
      ├─ node certificate  (O=<org>, CN=<node>; SAN gusu://node/<consensus address hex>;
      │                     TLS server and client)
      └─ admin certificate (O=<org>, CN=<admin>; SAN gusu://admin/<org>/<admin>; TLS client)

No chain-wide root CA exists: nobody holds a key that could certify
another organisation's nodes. The transport trusts exactly the CA
certificates of the organisations genesis (later, governance) lists, and
requires a node certificate to be issued by the CA of the organisation its
O= names (`gusu.network.trust`). An organisation creates its CA on its own
machine (`gusu.node.orgdir`, `gusu org init`) and hands out only the
certificate.

Every key here is ECDSA P-256 with SHA-256 signatures: the TLS 1.3 stacks
nodes run (OpenSSL through Python's ssl) authenticate with it, while SM2
certificates would need TLCP (GB/T 38636), a different protocol that
OpenSSL does not speak (docs/network.md). TLS keys are therefore separate
from a node's consensus key (SM2 or secp256k1); the node certificate binds
the two by carrying the consensus address, which the transport compares
with the address the peer claims (`gusu.network.identity`). The
certificate's organisation must also be the one genesis assigns to that
address, and the peer must prove it holds the consensus key at every
handshake (`gusu.network.handshake`), so a certificate alone, even one
another organisation's CA issued, speaks for no validator.

Serial numbers are random (159 bits); validity periods are `PkiSettings`.
A certificate never outlives its issuer: its end is clipped to the
issuer's. Revocation lists are not used: governance revokes a certificate
by its SHA-256 on chain, which the transport checks at every handshake and
after every block (`P2PNetwork.enforce_trust`), and removes a node by
taking it out of the validator set.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gusu.crypto.secretfile import write_secret_file
from gusu.errors import ConfigError, CryptoError
from gusu.ledger.genesis import ORGANIZATION_PATTERN
from gusu.ledger.types import ADDRESS_SIZE
from gusu.network.errors import PeerIdentityError
from gusu.network.identity import (
    ADMIN_URI_PREFIX,
    NodeIdentity,
    get_node_identity_from_certificate,
    node_uri,
)

CURVE = ec.SECP256R1()
"""ECDSA P-256: what every TLS 1.3 implementation supports for certificates."""
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Node and admin names: they become certificate CNs, URIs and file names."""
DAY_S = 86_400


class PkiError(CryptoError):
    """A certificate or TLS key cannot be issued, read or trusted."""

    code = "pki_invalid"


@dataclass(frozen=True, slots=True)
class PkiSettings:
    organization_validity_days: int = 1825
    """Lifetime of an organisation CA (its own root)."""
    node_validity_days: int = 365
    """Lifetime of a node's TLS certificate; reissue with `issue_node_certificate` before it ends."""
    admin_validity_days: int = 365
    """Lifetime of an organisation admin certificate."""
    backdate_s: int = 300
    """Certificates start this long before issuance, so peers whose clocks lag a little accept them."""

    def __post_init__(self) -> None:
        for name in ("organization_validity_days", "node_validity_days", "admin_validity_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 36_500:
                raise ConfigError(f"[pki] {name} must be a whole number of days between 1 and 36500, not {value!r}")
        if (
            not isinstance(self.backdate_s, int)
            or isinstance(self.backdate_s, bool)
            or not 0 <= self.backdate_s <= DAY_S
        ):
            raise ConfigError(f"[pki] backdate_s must be between 0 and {DAY_S} seconds, not {self.backdate_s!r}")


DEFAULT_PKI_SETTINGS = PkiSettings()


@dataclass(frozen=True, slots=True)
class CertifiedKey:
    """A certificate with its private key and its issuing CA certificate."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()
    """The issuing organisation CA (empty for the CA itself): what TLS presents after the leaf."""

    @property
    def common_name(self) -> str:
        return _attribute(self.certificate.subject, NameOID.COMMON_NAME) or ""

    @property
    def organization(self) -> str | None:
        return _attribute(self.certificate.subject, NameOID.ORGANIZATION_NAME)


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    value = values[0].value if values else None
    return value if isinstance(value, str) else None


def _now(now: datetime.datetime | None) -> datetime.datetime:
    if now is None:
        return datetime.datetime.now(datetime.UTC)
    if now.tzinfo is None:
        raise PkiError("pass an aware datetime (with tzinfo=datetime.UTC) as `now`")
    return now


def _check_name(value: object, what: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise PkiError(
            f"{what} {value!r} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
    days: int,
    settings: PkiSettings,
    issuer_certificate: x509.Certificate | None,
) -> x509.CertificateBuilder:
    not_before = now - datetime.timedelta(seconds=settings.backdate_s)
    not_after = now + datetime.timedelta(days=days)
    if issuer_certificate is not None:
        issuer_end = issuer_certificate.not_valid_after_utc
        if issuer_end <= now:
            raise PkiError(
                f"the issuing CA {issuer_certificate.subject.rfc4514_string()} expired on {issuer_end:%Y-%m-%d}; "
                "issue from a valid CA"
            )
        not_after = min(not_after, issuer_end)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _authority_key_identifier(issuer: CertifiedKey) -> x509.AuthorityKeyIdentifier:
    ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
_LEAF_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def _check_issuer(issuer: CertifiedKey, what: str) -> None:
    if not isinstance(issuer, CertifiedKey):
        raise PkiError(f"{what} is issued by a CertifiedKey (the organisation CA certificate with its private key)")
    try:
        constraints = issuer.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca or constraints.path_length != 0:
        raise PkiError(f"{what} must be issued by an organisation CA (create_organization_ca)")


def create_organization_ca(
    name: str,
    *,
    settings: PkiSettings = DEFAULT_PKI_SETTINGS,
    now: datetime.datetime | None = None,
) -> CertifiedKey:
    """A new organisation CA: its own self-signed root, signing node and admin certificates only (path length 0)."""
    organization = _check_name(name, "organisation name", ORGANIZATION_PATTERN)
    moment = _now(now)
    key = ec.generate_private_key(CURVE)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} CA"),
        ]
    )
    builder = (
        _builder(subject, subject, key.public_key(), moment, settings.organization_validity_days, settings, None)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
    )
    return CertifiedKey(builder.sign(key, hashes.SHA256()), key)


def _issue_leaf(
    org_ca: CertifiedKey,
    common_name: str,
    uri: str,
    usages: Sequence[x509.ObjectIdentifier],
    days: int,
    settings: PkiSettings,
    now: datetime.datetime | None,
) -> CertifiedKey:
    organization = org_ca.organization
    if organization is None:
        raise PkiError("the issuing CA has no organisation (O=); issue leaves from create_organization_ca's result")
    moment = _now(now)
    key = ec.generate_private_key(CURVE)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    builder = (
        _builder(subject, org_ca.certificate.subject, key.public_key(), moment, days, settings, org_ca.certificate)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_LEAF_KEY_USAGE, critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
        .add_extension(_authority_key_identifier(org_ca), critical=False)
    )
    return CertifiedKey(builder.sign(org_ca.private_key, hashes.SHA256()), key, (org_ca.certificate,))


def issue_node_certificate(
    org_ca: CertifiedKey,
    node_name: str,
    consensus_address: bytes,
    *,
    settings: PkiSettings = DEFAULT_PKI_SETTINGS,
    now: datetime.datetime | None = None,
) -> CertifiedKey:
    """A node's TLS certificate (server and client), binding its organisation and consensus address."""
    _check_issuer(org_ca, "a node certificate")
    name = _check_name(node_name, "node name", NAME_PATTERN)
    if not isinstance(consensus_address, bytes) or len(consensus_address) != ADDRESS_SIZE:
        raise PkiError(
            f"the consensus address is the {ADDRESS_SIZE}-byte address of the node's signing key "
            "(suite.compute_address(public_key))"
        )
    return _issue_leaf(
        org_ca,
        name,
        node_uri(consensus_address),
        (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        settings.node_validity_days,
        settings,
        now,
    )


def issue_admin_certificate(
    org_ca: CertifiedKey,
    admin_name: str = "admin",
    *,
    settings: PkiSettings = DEFAULT_PKI_SETTINGS,
    now: datetime.datetime | None = None,
) -> CertifiedKey:
    """An organisation administrator's certificate (TLS client only; never admitted as a peer node)."""
    _check_issuer(org_ca, "an admin certificate")
    name = _check_name(admin_name, "admin name", NAME_PATTERN)
    organization = org_ca.organization or ""
    return _issue_leaf(
        org_ca,
        name,
        f"{ADMIN_URI_PREFIX}{organization}/{name}",
        (ExtendedKeyUsageOID.CLIENT_AUTH,),
        settings.admin_validity_days,
        settings,
        now,
    )


def get_node_identity(certificate: x509.Certificate) -> NodeIdentity:
    """``(organization, address)`` bound by a node certificate; PkiError if it is not one.

    Reads the certificate only; `verify_certificate_chain` checks who signed it.
    """
    try:
        return get_node_identity_from_certificate(certificate)
    except PeerIdentityError as error:
        raise PkiError(str(error)) from None


def verify_certificate_chain(
    certificate: x509.Certificate,
    organization_ca: x509.Certificate,
    *,
    now: datetime.datetime | None = None,
) -> None:
    """Check leaf → organisation CA (self-signed): signatures, validity periods, CA flags, same O=.

    The checks the transport makes at every handshake (`gusu.network.trust`),
    for tools and tests that hold certificates outside a connection.
    PkiError says which link fails.
    """
    moment = _now(now)
    links = (
        (certificate, organization_ca, "the certificate"),
        (organization_ca, organization_ca, "the organisation CA"),
    )
    for child, parent, what in links:
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise PkiError(f"{what} is not signed by {parent.subject.rfc4514_string()}: {error}") from None
    for cert, what in ((certificate, "certificate"), (organization_ca, "organisation CA")):
        if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
            raise PkiError(
                f"the {what} is valid from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} "
                f"to {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now"
            )
    try:
        constraints = organization_ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise PkiError("the organisation CA is not a CA certificate") from None
    if not constraints.ca or constraints.path_length != 0:
        raise PkiError("the organisation CA is not a CA certificate of path length 0")
    organization = _attribute(organization_ca.subject, NameOID.ORGANIZATION_NAME)
    if organization is None or _attribute(certificate.subject, NameOID.ORGANIZATION_NAME) != organization:
        raise PkiError(f"the certificate's organisation (O=) is not its CA's, {organization!r}")


# --- PEM files ---------------------------------------------------------------------------------


def save_certificates(path: Path, certificates: Sequence[x509.Certificate]) -> None:
    """Write `certificates` as concatenated PEM (a TLS chain file: leaf first)."""
    if not certificates:
        raise PkiError("no certificate to save")
    path.write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates))


def load_certificates(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PkiError(f"cannot read the certificate file {path}: {error}") from None
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise PkiError(f"{path} holds no PEM certificate: {error}") from None


def load_certificate(path: Path) -> x509.Certificate:
    """The first certificate in a PEM file."""
    return load_certificates(path)[0]


def save_private_key(path: Path, key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> None:
    """PKCS#8 PEM, mode 0600; encrypted with `passphrase` if given (OpenSSL and Python's ssl read both)."""
    if passphrase is not None and not passphrase:
        raise PkiError("an empty passphrase protects nothing; pass None to write the key unencrypted")
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    write_secret_file(path, pem)


def load_private_key(path: Path, passphrase: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PkiError(f"cannot read the private key {path}: {error}") from None
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError as error:  # encrypted without a passphrase, or a passphrase for a plain key
        raise PkiError(f"{path}: {error}; pass the key's passphrase (or none for an unencrypted key)") from None
    except ValueError as error:
        raise PkiError(f"cannot read the private key {path} (wrong passphrase or not a PEM key): {error}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError(f"{path} is not an ECDSA P-256 key, which Gusu's TLS certificates use")
    return key


def save_certified_key(
    certificate_path: Path, key_path: Path, certified: CertifiedKey, passphrase: bytes | None = None
) -> None:
    """The certificate followed by its chain (what TLS presents), and the key (0600)."""
    save_certificates(certificate_path, (certified.certificate, *certified.chain))
    save_private_key(key_path, certified.private_key, passphrase)


def load_certified_key(certificate_path: Path, key_path: Path, passphrase: bytes | None = None) -> CertifiedKey:
    """Read back what `save_certified_key` wrote; PkiError if the key does not match the certificate."""
    certificates = load_certificates(certificate_path)
    key = load_private_key(key_path, passphrase)
    if certificates[0].public_key() != key.public_key():
        raise PkiError(f"the key in {key_path} does not belong to the certificate in {certificate_path}")
    return CertifiedKey(certificates[0], key, tuple(certificates[1:]))
