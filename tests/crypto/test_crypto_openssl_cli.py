"""Interoperability with the `openssl` command line, in both directions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gusu.crypto import _der, get_suite
from gusu.crypto.ecdsa import HALF_N
from gusu.crypto.ecdsa import N as SECP256K1_N
from gusu.crypto.keyfile import export_pem, import_pem
from gusu.errors import KeyFileError

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="the openssl command line tool is not on PATH")

DISTID = "distid:1234567812345678"


def openssl(*args: str, data: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *args], input=data, capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout


def public_point(pem_path: Path) -> bytes:
    """The uncompressed point of a key file, via `openssl pkey -pubout`."""
    der = openssl("pkey", "-in", str(pem_path), "-pubout", "-outform", "DER")
    return der[-65:]


def to_raw(der_signature: bytes) -> bytes:
    r, s = _der.decode_signature(der_signature)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def to_der(raw_signature: bytes) -> bytes:
    return _der.encode_signature(int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big"))


def test_import_openssl_genpkey_sm2(tmp_path: Path) -> None:
    pem = tmp_path / "sm2.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", str(pem))
    key = import_pem(pem.read_bytes(), "sm")
    assert key.suite == "sm"
    assert key.public_key == public_point(pem)


def test_import_openssl_ecparam_sm2(tmp_path: Path) -> None:
    pem = tmp_path / "sm2.pem"
    # Output starts with an "SM2 PARAMETERS" block that import must skip.
    pem.write_bytes(openssl("ecparam", "-name", "SM2", "-genkey"))
    key = import_pem(pem.read_bytes(), "sm")
    assert key.public_key == public_point(pem)


def test_openssl_sm2_signature_verifies_in_gusu(tmp_path: Path) -> None:
    pem = tmp_path / "sm2.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", str(pem))
    message = tmp_path / "msg"
    message.write_bytes(b"transfer 100 to alice")
    der = openssl(
        "pkeyutl",
        "-sign",
        "-rawin",
        "-digest",
        "sm3",
        "-inkey",
        str(pem),
        "-pkeyopt",
        DISTID,
        "-in",
        str(message),
    )
    suite = get_suite("sm")
    key = import_pem(pem.read_bytes(), "sm")
    assert suite.verify(key.public_key, b"transfer 100 to alice", to_raw(der))
    assert not suite.verify(key.public_key, b"transfer 900 to alice", to_raw(der))


def test_openssl_default_id_is_not_the_standard_one(tmp_path: Path) -> None:
    # Without distid, OpenSSL 3 hashes an empty ID into Z_A: such a
    # signature must not pass as a standard one.
    pem = tmp_path / "sm2.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", str(pem))
    message = tmp_path / "msg"
    message.write_bytes(b"hello")
    der = openssl("pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", str(pem), "-in", str(message))
    key = import_pem(pem.read_bytes(), "sm")
    assert not get_suite("sm").verify(key.public_key, b"hello", to_raw(der))


def test_gusu_sm2_signature_verifies_in_openssl(tmp_path: Path) -> None:
    suite = get_suite("sm")
    key = suite.generate_private_key()
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(export_pem(key))
    pub_pem = tmp_path / "pub.pem"
    openssl("pkey", "-in", str(key_pem), "-pubout", "-out", str(pub_pem))
    message = tmp_path / "msg"
    message.write_bytes(b"block 42")
    signature = tmp_path / "sig"
    signature.write_bytes(to_der(suite.sign(key, b"block 42")))
    out = openssl(
        "pkeyutl",
        "-verify",
        "-rawin",
        "-digest",
        "sm3",
        "-pubin",
        "-inkey",
        str(pub_pem),
        "-pkeyopt",
        DISTID,
        "-in",
        str(message),
        "-sigfile",
        str(signature),
    )
    assert b"Signature Verified Successfully" in out


def test_export_pem_loads_in_openssl(tmp_path: Path) -> None:
    for name, curve in (("sm", b"SM2"), ("ecdsa", b"secp256k1")):
        suite = get_suite(name)
        key = suite.generate_private_key()
        path = tmp_path / f"{name}.pem"
        path.write_bytes(export_pem(key))
        text = openssl("pkey", "-in", str(path), "-noout", "-text")
        assert b"ASN1 OID: " + curve in text
        point = public_point(path)
        assert suite.compute_address(key.public_key) == suite.hash(point[1:])[-20:]
        assert import_pem(path.read_bytes(), name) == key


def test_import_secp256k1_sec1_and_pkcs8(tmp_path: Path) -> None:
    sec1 = tmp_path / "k1.pem"
    sec1.write_bytes(openssl("ecparam", "-name", "secp256k1", "-genkey", "-noout"))
    key = import_pem(sec1.read_bytes(), "ecdsa")
    point = public_point(sec1)
    assert get_suite("ecdsa").compute_address(key.public_key) == get_suite("ecdsa").hash(point[1:])[-20:]
    pkcs8 = openssl("pkcs8", "-topk8", "-nocrypt", "-in", str(sec1))
    assert import_pem(pkcs8, "ecdsa") == key


def test_import_encrypted_pkcs8(tmp_path: Path) -> None:
    pem = tmp_path / "sm2.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", str(pem))
    encrypted = openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:s3cret", "-in", str(pem))
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    key = import_pem(encrypted, "sm", passphrase=b"s3cret")
    assert key == import_pem(pem.read_bytes(), "sm")
    with pytest.raises(KeyFileError, match="encrypted"):
        import_pem(encrypted, "sm")
    with pytest.raises(KeyFileError, match="passphrase"):
        import_pem(encrypted, "sm", passphrase=b"wrong")


def test_import_wrong_curve_is_explained(tmp_path: Path) -> None:
    sm2 = openssl("genpkey", "-algorithm", "SM2")
    k1 = openssl("ecparam", "-name", "secp256k1", "-genkey", "-noout")
    p256 = openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout")
    ed = openssl("genpkey", "-algorithm", "ED25519")
    with pytest.raises(KeyFileError, match=r"SM2.*secp256k1"):
        import_pem(sm2, "ecdsa")
    with pytest.raises(KeyFileError, match=r"secp256k1.*needs SM2"):
        import_pem(k1, "sm")
    with pytest.raises(KeyFileError, match="prime256v1"):
        import_pem(p256, "sm")
    with pytest.raises(KeyFileError, match="ED25519"):
        import_pem(ed, "ecdsa")


def test_openssl_secp256k1_signature_and_low_s(tmp_path: Path) -> None:
    suite = get_suite("ecdsa")
    sec1 = tmp_path / "k1.pem"
    sec1.write_bytes(openssl("ecparam", "-name", "secp256k1", "-genkey", "-noout"))
    key = import_pem(sec1.read_bytes(), "ecdsa")
    digest = suite.hash(b"payload")
    digest_file = tmp_path / "digest"
    digest_file.write_bytes(digest)
    # Without -rawin, pkeyutl signs its input as an already computed digest.
    raw = to_raw(openssl("pkeyutl", "-sign", "-inkey", str(sec1), "-in", str(digest_file)))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    low = r.to_bytes(32, "big") + min(s, SECP256K1_N - s).to_bytes(32, "big")
    high = r.to_bytes(32, "big") + max(s, SECP256K1_N - s).to_bytes(32, "big")
    assert int.from_bytes(high[32:], "big") > HALF_N
    assert suite.verify(key.public_key, digest, low)
    # OpenSSL does not normalise S; Gusu accepts only the low-S twin.
    assert not suite.verify(key.public_key, digest, high)


def test_gusu_secp256k1_signature_verifies_in_openssl(tmp_path: Path) -> None:
    suite = get_suite("ecdsa")
    key = suite.generate_private_key()
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(export_pem(key))
    digest = suite.hash(b"payload")
    digest_file = tmp_path / "digest"
    digest_file.write_bytes(digest)
    sig_file = tmp_path / "sig"
    sig_file.write_bytes(to_der(suite.sign(key, digest)))
    out = openssl(
        "pkeyutl",
        "-verify",
        "-inkey",
        str(key_pem),
        "-in",
        str(digest_file),
        "-sigfile",
        str(sig_file),
    )
    assert b"Signature Verified Successfully" in out
