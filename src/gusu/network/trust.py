"""Trust anchors per organisation, revocation by SHA-256, and certificate expiry.

Each organisation of a chain is its own root: the transport trusts exactly
the CA certificates of the organisations genesis lists (and later the ones
governance adds or removes), given as a mapping organisation name -> DER CA
certificate (`TrustedOrganizations`). A peer's node certificate must be
issued directly by the CA of the organisation its O= names: the TLS stack
accepts a chain to *any* trusted CA, so `is_issued_by_anchor` closes the
gap where one member's CA certifies a node in another member's name.

A revoked certificate is named by the SHA-256 of its DER encoding
(`compute_certificate_sha256`), the form the governance contract keeps on
chain; the transport asks an `IsRevoked` callable about the peer's
certificate and its organisation CA.

Expiry: `CertificateExpiry` records what the node watches (its own TLS
certificate, the trusted CAs, its peers' certificates), and
`get_expiry_warning_days` decides, once per threshold, when to warn.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from gusu.ledger.genesis import ORGANIZATION_PATTERN

TrustedOrganizations: TypeAlias = Mapping[str, bytes]
"""Organisation name -> the DER certificate of its CA (its own self-signed root)."""
GetTrustedOrganizations: TypeAlias = Callable[[], TrustedOrganizations]
"""Returns the organisations trusted now (from genesis, later from the chain's registry)."""
IsRevoked: TypeAlias = Callable[[bytes], bool]
"""True if the certificate with this SHA-256 (of its DER) is revoked on chain."""

EXPIRY_WARNING_DAYS = (30, 7, 1)
"""Days left at which the node logs a warning about a certificate, once each."""
DAY_S = 86_400
TRUSTED_ORGANIZATIONS_MAX = 256
"""More trust anchors than any consortium needs: a bound on what one refresh parses."""
CERTIFICATE_BYTES_MAX = 16_384


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """One trusted organisation: its name and its CA certificate."""

    organization: str
    certificate: x509.Certificate
    der: bytes
    sha256: bytes


@dataclass(frozen=True, slots=True)
class CertificateExpiry:
    """A certificate the node watches, and when it ends."""

    kind: str
    """``node`` (this node's TLS certificate), ``ca`` (a trusted organisation CA) or ``peer``."""
    subject: str
    """The certificate's subject (RFC 4514), e.g. ``CN=node0,O=org0``."""
    not_after_s: float
    """End of validity, seconds since the epoch (UTC)."""
    sha256: bytes

    def get_remaining_s(self, now_s: float) -> float:
        return self.not_after_s - now_s


def compute_certificate_sha256(der: bytes) -> bytes:
    """The SHA-256 of a DER certificate: how the chain names a certificate it revokes."""
    return hashlib.sha256(der).digest()


def get_organization_name(certificate: x509.Certificate) -> str | None:
    values = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def is_issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def validate_trust_anchor(name: str, der: bytes) -> TrustAnchor:
    """The anchor for organisation `name`; ValueError saying why `der` cannot be one.

    It must be a self-signed CA certificate of path length 0 whose O= is `name`.
    """
    if not isinstance(name, str) or not ORGANIZATION_PATTERN.fullmatch(name):
        raise ValueError(f"organisation name {name!r} is not valid")
    if not isinstance(der, bytes) or not 0 < len(der) <= CERTIFICATE_BYTES_MAX:
        raise ValueError(f"the CA certificate of {name} is not 1 to {CERTIFICATE_BYTES_MAX} DER bytes")
    certificate = x509.load_der_x509_certificate(der)
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise ValueError(f"the certificate given for {name} is not a CA certificate") from None
    if not constraints.ca or constraints.path_length != 0:
        raise ValueError(f"the certificate given for {name} is not an organisation CA (CA, path length 0)")
    if not is_issued_by(certificate, certificate):
        raise ValueError(f"the CA certificate of {name} is not self-signed (each organisation is its own root)")
    if get_organization_name(certificate) != name:
        raise ValueError(
            f"the CA certificate given for {name} names organisation {get_organization_name(certificate)!r}"
        )
    return TrustAnchor(name, certificate, der, compute_certificate_sha256(der))


def compute_trust_anchors(trusted: TrustedOrganizations) -> tuple[dict[str, TrustAnchor], list[str]]:
    """The valid anchors of `trusted`, and a problem line for each entry left out.

    Never raises for a bad entry: the mapping may come from chain state, and
    one bad certificate must not take the others' trust away.
    """
    anchors: dict[str, TrustAnchor] = {}
    problems: list[str] = []
    for position, (name, der) in enumerate(trusted.items()):
        if position >= TRUSTED_ORGANIZATIONS_MAX:
            problems.append(f"more than {TRUSTED_ORGANIZATIONS_MAX} trusted organisations; the rest are ignored")
            break
        try:
            anchors[name] = validate_trust_anchor(name, der)
        except ValueError as error:
            problems.append(str(error))
    return anchors, problems


def get_trusted_organizations_from_certificates(certificates: Iterable[x509.Certificate]) -> dict[str, bytes]:
    """Name -> DER for CA certificates read from a file (a chain whose genesis lists no organisation)."""
    trusted: dict[str, bytes] = {}
    for certificate in certificates:
        name = get_organization_name(certificate)
        if name is not None:
            trusted[name] = certificate.public_bytes(serialization.Encoding.DER)
    return trusted


def is_issued_by_anchor(certificate: x509.Certificate, anchors: Mapping[str, TrustAnchor]) -> bool:
    """True if the CA of the organisation the certificate's O= names issued it."""
    name = get_organization_name(certificate)
    anchor = anchors.get(name) if name is not None else None
    return anchor is not None and is_issued_by(certificate, anchor.certificate)


def get_certificate_expiry(kind: str, certificate: x509.Certificate) -> CertificateExpiry:
    return CertificateExpiry(
        kind=kind,
        subject=certificate.subject.rfc4514_string(),
        not_after_s=certificate.not_valid_after_utc.timestamp(),
        sha256=compute_certificate_sha256(certificate.public_bytes(serialization.Encoding.DER)),
    )


def get_expiry_warning_days(remaining_s: float, warned: frozenset[int]) -> int | None:
    """The threshold (days) to warn about now, or None.

    The smallest threshold already reached and not yet warned about: a
    certificate first seen with 5 days left warns once for 7 days (not for
    30 too), and later once for 1 day. The caller records each returned
    threshold and every larger one as warned.
    """
    reached = [days for days in EXPIRY_WARNING_DAYS if remaining_s <= days * DAY_S]
    if not reached:
        return None
    smallest = min(reached)
    return None if smallest in warned else smallest


def format_remaining(remaining_s: float) -> str:
    if remaining_s <= 0:
        return "expired"
    days = remaining_s / DAY_S
    return f"{days:.1f} days" if days < 10 else f"{int(days)} days"


def now_s() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()
