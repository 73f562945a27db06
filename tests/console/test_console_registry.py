"""The registry page's pure parts: certificate status (valid, expiring, expired, revoked, none), join requests,
and escaping of what the chain holds (revocation reasons are free text written by any member)."""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from gusu.codec import Value
from gusu.console.alerts import CertificateExpiry
from gusu.console.i18n import load_catalogues
from gusu.console.registry_pages import (
    Registry,
    compute_certificate_info,
    compute_join_subject,
    compute_registry_html,
    is_join_request,
)
from gusu.ledger.types import Address, Height
from gusu.sdk.governance import NodeRecordView, OrganizationView, ProposalView, RevocationView

NOW = datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)


def _ca_der(days_left: float, start_days: float = -10) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "acme CA"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acme")]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW + datetime.timedelta(days=start_days))
        .not_valid_after(NOW + datetime.timedelta(days=days_left))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.DER)


def _proposal(proposal_id: int, kind: str, args: list[Value], status: str = "pending") -> ProposalView:
    return ProposalView(
        proposal_id, kind, args, "org0", Address(b"\x01" * 20), Height(1), Height(99), status,
        (("org0", True),), Height(0), Height(0), "",
    )  # fmt: skip


def test_certificate_status() -> None:
    valid, expiring, expired = _ca_der(400), _ca_der(10.5), _ca_der(-1, -30)
    assert compute_certificate_info(valid, frozenset(), NOW).status == "valid"
    info = compute_certificate_info(expiring, frozenset(), NOW)
    assert (info.status, info.days_left, info.subject) == ("expiring", 10, "O=acme,CN=acme CA")
    assert compute_certificate_info(expired, frozenset(), NOW).status == "expired"
    revoked = compute_certificate_info(valid, frozenset({hashlib.sha256(valid).digest()}), NOW)
    assert revoked.status == "revoked" and revoked.sha256 == "0x" + hashlib.sha256(valid).hexdigest()
    assert compute_certificate_info(b"", frozenset(), NOW).status == "none"
    assert compute_certificate_info(b"not DER", frozenset(), NOW).status == "expired"


def test_join_requests_are_pending_additions() -> None:
    organisation = _proposal(1, "add_organization", ["bank", b"", [], 1])
    node = _proposal(2, "add_node", ["n9", b"\x02" * 20, b"", "bank", "observer", 0])
    assert is_join_request(organisation) and is_join_request(node)
    assert not is_join_request(_proposal(3, "add_node", ["n9"], status="approved"))
    assert not is_join_request(_proposal(4, "set_parameters", []))
    assert compute_join_subject(organisation) == "bank" and compute_join_subject(node) == "n9 (bank, observer)"
    assert compute_join_subject(_proposal(5, "add_node", [1, 2])) == "?"


def test_the_page_escapes_what_the_chain_holds() -> None:
    der = _ca_der(400)
    registry = Registry(
        organisations=[OrganizationView("acme", der, (Address(b"\x03" * 20),), 1, "active")],
        nodes=[NodeRecordView("<img src=x>", Address(b"\x04" * 20), b"", "acme", "validator", 1)],
        revocations=[RevocationView(b"\x05" * 32, "<script>alert(1)</script>", Height(7))],
        joins=[_proposal(6, "add_node", ['"><b>', b"", b"", "acme", "observer", 0])],
        height=12,
    )
    certificates = (CertificateExpiry("node", "<i>node0</i>", 5 * 86400.0),)
    for language in ("zh-CN", "en"):
        page = compute_registry_html(load_catalogues()[language], registry, certificates, NOW)
        assert "<script>" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x&gt;" in page
        assert 'data-certificate="valid"' in page and 'data-certificate="expiring"' in page
        assert 'data-proposal="6"' in page
        # A join request links to its vote form on the governance page (whose list starts at that proposal).
        assert '<a class="join-vote" href="/governance?start=6#vote-6">' in page
        assert load_catalogues()[language].get_message("registry.join.vote") in page
