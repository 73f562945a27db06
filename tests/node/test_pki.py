"""The PKI: each organisation its own root; chains verify (here, with OpenSSL, and in TLS), misuse is refused."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gusu.errors import ConfigError
from gusu.ledger.types import Address
from gusu.node.pki import (
    CertifiedKey,
    PkiError,
    PkiSettings,
    create_organization_ca,
    get_node_identity,
    issue_admin_certificate,
    issue_node_certificate,
    load_certificate,
    load_certificates,
    load_certified_key,
    load_private_key,
    save_certificates,
    save_certified_key,
    save_private_key,
    verify_certificate_chain,
)

ADDRESS = Address(bytes.fromhex("00112233445566778899aabbccddeeff00112233"))


@pytest.fixture(scope="module")
def tree() -> tuple[CertifiedKey, CertifiedKey]:
    org = create_organization_ca("acme")
    node = issue_node_certificate(org, "node0", ADDRESS)
    return org, node


def test_the_chain_verifies_and_binds_the_node_identity(tree: tuple[CertifiedKey, CertifiedKey]) -> None:
    org, node = tree
    verify_certificate_chain(node.certificate, org.certificate)
    identity = get_node_identity(node.certificate)
    assert identity.organization == "acme" and identity.address == ADDRESS
    assert node.chain == (org.certificate,)
    # The organisation CA is its own root: self-issued, self-signed, no chain-wide CA above it.
    assert org.certificate.issuer == org.certificate.subject
    org.certificate.verify_directly_issued_by(org.certificate)
    uris = node.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [f"gusu://node/{ADDRESS.hex()}"]
    for certified in tree:
        key = certified.certificate.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    org_constraints = org.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert org_constraints.ca and org_constraints.path_length == 0
    assert not node.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not installed")
def test_openssl_verifies_the_chain_for_tls_use(tree: tuple[CertifiedKey, CertifiedKey], tmp_path: Path) -> None:
    org, node = tree
    admin = issue_admin_certificate(org)
    other = create_organization_ca("bank")
    save_certificates(tmp_path / "org.pem", (org.certificate,))
    save_certificates(tmp_path / "other.pem", (other.certificate,))
    save_certificates(tmp_path / "node.pem", (node.certificate,))
    save_certificates(tmp_path / "admin.pem", (admin.certificate,))

    def verify(leaf: str, purpose: str, anchor: str = "org.pem") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", str(tmp_path / anchor),
             str(tmp_path / leaf)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    assert verify("node.pem", "sslserver").returncode == 0
    assert verify("node.pem", "sslclient").returncode == 0
    assert verify("admin.pem", "sslclient").returncode == 0
    assert verify("admin.pem", "sslserver").returncode != 0  # an admin cannot act as a node's server
    assert verify("node.pem", "sslserver", "other.pem").returncode != 0  # another organisation's root


def test_another_organisation_ca_does_not_verify(tree: tuple[CertifiedKey, CertifiedKey]) -> None:
    _, node = tree
    same_name = create_organization_ca("acme")  # even with the same name
    with pytest.raises(PkiError, match="not signed"):
        verify_certificate_chain(node.certificate, same_name.certificate)
    bank = create_organization_ca("bank")
    with pytest.raises(PkiError, match="not signed"):
        verify_certificate_chain(node.certificate, bank.certificate)
    # A CA of one organisation certifying a node in another's name: the O= differs from its CA's.
    forged = issue_node_certificate(bank, "node9", ADDRESS)
    assert get_node_identity(forged.certificate).organization == "bank"


def test_issuers_are_checked(tree: tuple[CertifiedKey, CertifiedKey]) -> None:
    org, node = tree
    with pytest.raises(PkiError, match="organisation CA"):
        issue_node_certificate(node, "node1", ADDRESS)
    with pytest.raises(PkiError, match="20-byte"):
        issue_node_certificate(org, "node1", b"\x01" * 19)
    with pytest.raises(PkiError, match="node name"):
        issue_node_certificate(org, "bad name", ADDRESS)
    with pytest.raises(PkiError, match="organisation name"):
        create_organization_ca("a/b")


def test_admin_and_forged_certificates_are_not_nodes(tree: tuple[CertifiedKey, CertifiedKey]) -> None:
    org, _ = tree
    with pytest.raises(PkiError, match="gusu://node/"):
        get_node_identity(issue_admin_certificate(org, "alice").certificate)
    # A leaf claiming acme whose issuer is another organisation names no consistent organisation.
    bank = create_organization_ca("bank")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acme")]))
        .issuer_name(bank.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(f"gusu://node/{ADDRESS.hex()}")]), False
        )
        .sign(bank.private_key, hashes.SHA256())
    )
    with pytest.raises(PkiError, match="issued by"):
        get_node_identity(forged)


def test_serials_are_random_and_validity_follows_settings() -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    settings = PkiSettings(organization_validity_days=100, node_validity_days=10, backdate_s=60)
    org = create_organization_ca("o", settings=settings, now=now)
    nodes = [issue_node_certificate(org, f"n{i}", ADDRESS, settings=settings, now=now) for i in range(5)]
    long_lived = issue_node_certificate(org, "long", ADDRESS, settings=PkiSettings(node_validity_days=365), now=now)
    serials = {c.certificate.serial_number for c in [org, *nodes]}
    assert len(serials) == 6 and all(serial.bit_length() > 64 for serial in serials)
    assert org.certificate.not_valid_before_utc == now - datetime.timedelta(seconds=60)
    assert org.certificate.not_valid_after_utc == now + datetime.timedelta(days=100)
    # Never beyond the issuer: the node asked for 365 days and got the organisation CA's 100.
    assert long_lived.certificate.not_valid_after_utc == org.certificate.not_valid_after_utc
    assert nodes[0].certificate.not_valid_after_utc == now + datetime.timedelta(days=10)
    verify_certificate_chain(nodes[0].certificate, org.certificate, now=now)
    with pytest.raises(PkiError, match="not now"):
        verify_certificate_chain(nodes[0].certificate, org.certificate, now=now + datetime.timedelta(days=11))
    with pytest.raises(PkiError, match="expired"):
        issue_node_certificate(org, "late", ADDRESS, now=now + datetime.timedelta(days=101))


@pytest.mark.parametrize(
    ("overrides", "named"),
    [({"node_validity_days": 0}, "node_validity_days"), ({"backdate_s": -1}, "backdate_s")],
)
def test_invalid_pki_settings_name_the_setting(overrides: dict[str, int], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        PkiSettings(**overrides)


def test_pem_files_round_trip_with_private_modes(tree: tuple[CertifiedKey, CertifiedKey], tmp_path: Path) -> None:
    org, node = tree
    certificate_path, key_path = tmp_path / "node.crt", tmp_path / "node.key"
    key_path.write_text("old")
    os.chmod(key_path, 0o644)
    save_certified_key(certificate_path, key_path, node)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    loaded = load_certified_key(certificate_path, key_path)
    assert loaded.certificate == node.certificate and loaded.chain == (org.certificate,)
    assert load_certificates(certificate_path) == [node.certificate, org.certificate]
    assert load_certificate(certificate_path) == node.certificate

    encrypted = tmp_path / "org.key"
    save_private_key(encrypted, org.private_key, b"open sesame")
    assert stat.S_IMODE(encrypted.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in encrypted.read_bytes()
    assert load_private_key(encrypted, b"open sesame").public_key() == org.private_key.public_key()
    with pytest.raises(PkiError, match="passphrase"):
        load_private_key(encrypted)
    with pytest.raises(PkiError, match="wrong passphrase"):
        load_private_key(encrypted, b"guess")
    with pytest.raises(PkiError, match="does not belong"):
        load_certified_key(certificate_path, encrypted, b"open sesame")
    with pytest.raises(PkiError, match="cannot read"):
        load_certificates(tmp_path / "missing.crt")
    (tmp_path / "junk.crt").write_text("junk")
    with pytest.raises(PkiError, match="no PEM certificate"):
        load_certificates(tmp_path / "junk.crt")
    with pytest.raises(PkiError, match="empty passphrase"):
        save_private_key(tmp_path / "x.key", org.private_key, b"")
