"""Published test vectors for SM3, SM4, SM2, keccak-256 and addresses."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from gusu.crypto import ecdsa, get_suite, sm
from gusu.crypto.sm import sm2_verify, z_digest

# GB/T 32905-2016 Appendix A.
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM3_ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"

# GM/T 0003.5-2012 (GB/T 32918.5) Annex A: signature on the recommended curve
# with the default signer ID 1234567812345678 and message "message digest".
SM2_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
SM2_PUBLIC = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
SM2_ZA = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
SM2_E = bytes.fromhex("F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
SM2_SIGNATURE = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)
SM2_MESSAGE = b"message digest"


def test_sm3_published_examples() -> None:
    suite = get_suite("sm")
    assert suite.hash(b"abc").hex() == SM3_ABC
    assert suite.hash(b"abcd" * 16).hex() == SM3_ABCD16


def test_sm3_libcrypto_fallback_matches() -> None:
    # The EVP path is only used where hashlib lacks SM3; keep it honest.
    assert sm._sm3_evp(b"abc").hex() == SM3_ABC
    assert sm._sm3_evp(b"abcd" * 16).hex() == SM3_ABCD16
    assert sm._sm3_evp(b"") == sm.sm3(b"")


def test_sm4_block_cipher_published_example() -> None:
    # GB/T 32907-2016 Appendix A, example 1.
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    out = encryptor.update(key) + encryptor.finalize()
    assert out.hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm2_public_key_from_published_private_key() -> None:
    key = get_suite("sm").load_private_key(SM2_D)
    assert key.public_key == SM2_PUBLIC


def test_sm2_published_z_and_digest() -> None:
    za = z_digest(SM2_PUBLIC)
    assert za == SM2_ZA
    assert sm.sm3(za + SM2_MESSAGE) == SM2_E


def test_sm2_published_signature_verifies() -> None:
    suite = get_suite("sm")
    assert suite.verify(SM2_PUBLIC, SM2_MESSAGE, SM2_SIGNATURE)
    assert sm2_verify(SM2_PUBLIC, SM2_MESSAGE, SM2_SIGNATURE, b"1234567812345678")


def test_sm2_published_signature_depends_on_signer_id() -> None:
    assert not sm2_verify(SM2_PUBLIC, SM2_MESSAGE, SM2_SIGNATURE, b"ALICE123@YAHOO.COM")
    assert not get_suite("sm").verify(SM2_PUBLIC, b"message digesT", SM2_SIGNATURE)


def test_keccak256_empty() -> None:
    suite = get_suite("ecdsa")
    assert suite.hash_name == "keccak256"
    expected = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert suite.hash(b"").hex() == expected


@given(data=st.binary(max_size=300))
def test_keccak256_matches_pycryptodome(data: bytes) -> None:
    keccak = pytest.importorskip("Crypto.Hash.keccak")
    assert ecdsa.keccak256(data) == keccak.new(digest_bits=256, data=data).digest()


def test_ethereum_address_of_private_key_one() -> None:
    suite = get_suite("ecdsa")
    key = suite.load_private_key((1).to_bytes(32, "big"))
    # The generator point G, compressed.
    assert key.public_key.hex() == ("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    assert suite.compute_address(key.public_key).hex() == "7e5f4552091a69125d5dfcb7b8c2659029395bdf"


def test_sm_address_is_last_20_bytes_of_sm3_of_xy() -> None:
    suite = get_suite("sm")
    assert suite.compute_address(SM2_PUBLIC) == sm.sm3(SM2_PUBLIC[1:])[-20:]
