"""Key-file KDFs: PBKDF2-HMAC-SM3 for new sm files, scrypt for ecdsa and older sm files."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gusu.crypto import get_suite, sm
from gusu.crypto.keyfile import (
    DEFAULT_PBKDF2_ITERATIONS,
    DEFAULT_SCRYPT_N,
    MAX_PBKDF2_ITERATIONS,
    MIN_PBKDF2_ITERATIONS,
    MIN_SCRYPT_N,
    THROWAWAY_PBKDF2_ITERATIONS,
    compute_pbkdf2_iterations,
    decrypt_key_file,
    encrypt_key_file,
)
from gusu.errors import KeyFileError

GETH_PBKDF2_ITERATIONS = 262_144  # go-ethereum keystore's PBKDF2 cost (c)


def _sm3() -> hashlib._Hash:
    return hashlib.new("sm3")


def _pbkdf2_by_the_book(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    # RFC 8018 section 5.2, written out with the hmac module: an independent
    # check of the construction OpenSSL runs for us.
    blocks = []
    for index in range(1, -(-length // 32) + 1):
        u = hmac.new(password, salt + index.to_bytes(4, "big"), _sm3).digest()
        t = int.from_bytes(u, "big")
        for _ in range(iterations - 1):
            u = hmac.new(password, u, _sm3).digest()
            t ^= int.from_bytes(u, "big")
        blocks.append(t.to_bytes(32, "big"))
    return b"".join(blocks)[:length]


def test_pbkdf2_hmac_sm3_follows_rfc8018() -> None:
    for iterations, length in ((1, 16), (3, 16), (5, 40)):
        expected = _pbkdf2_by_the_book(b"passphrase", b"salt-salt", iterations, length)
        assert sm.pbkdf2_hmac_sm3(b"passphrase", b"salt-salt", iterations, length) == expected
        assert sm._pbkdf2_evp(b"passphrase", b"salt-salt", iterations, length) == expected


def test_pbkdf2_hmac_sm3_is_not_sha256() -> None:
    assert sm.pbkdf2_hmac_sm3(b"p", b"salt-salt", 2, 16) != hashlib.pbkdf2_hmac("sha256", b"p", b"salt-salt", 2, 16)


def test_default_cost_is_no_weaker_than_geth() -> None:
    assert DEFAULT_PBKDF2_ITERATIONS >= GETH_PBKDF2_ITERATIONS
    assert compute_pbkdf2_iterations(DEFAULT_SCRYPT_N) == DEFAULT_PBKDF2_ITERATIONS
    assert compute_pbkdf2_iterations(MIN_SCRYPT_N) == MIN_PBKDF2_ITERATIONS == THROWAWAY_PBKDF2_ITERATIONS


def test_new_sm_key_file_uses_pbkdf2_hmac_sm3_at_the_default_cost() -> None:
    key = get_suite("sm").generate_private_key()
    data = encrypt_key_file(key, "correct horse battery staple")
    doc = json.loads(data)
    assert doc["kdf"] == "pbkdf2"
    assert doc["kdf_params"]["prf"] == "hmac-sm3"
    assert doc["kdf_params"]["c"] == DEFAULT_PBKDF2_ITERATIONS
    assert len(bytes.fromhex(doc["kdf_params"]["salt"])) == 16
    assert decrypt_key_file(data, "correct horse battery staple") == key


def test_ecdsa_key_file_keeps_scrypt() -> None:
    key = get_suite("ecdsa").generate_private_key()
    doc = json.loads(encrypt_key_file(key, "pw", scrypt_n=MIN_SCRYPT_N))
    assert doc["kdf"] == "scrypt"
    assert doc["kdf_params"]["n"] == MIN_SCRYPT_N


def test_cheap_costs_are_explicit() -> None:
    key = get_suite("sm").generate_private_key()
    by_iterations = json.loads(encrypt_key_file(key, "pw", pbkdf2_iterations=THROWAWAY_PBKDF2_ITERATIONS))
    assert by_iterations["kdf_params"]["c"] == THROWAWAY_PBKDF2_ITERATIONS
    # The scrypt_n knob that tests and throwaway chains already pass discounts PBKDF2 alike.
    by_scrypt_n = json.loads(encrypt_key_file(key, "pw", scrypt_n=MIN_SCRYPT_N * 2))
    assert by_scrypt_n["kdf_params"]["c"] == MIN_PBKDF2_ITERATIONS * 2


def test_wrong_passphrase_is_refused() -> None:
    key = get_suite("sm").generate_private_key()
    data = encrypt_key_file(key, "pw", pbkdf2_iterations=THROWAWAY_PBKDF2_ITERATIONS)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        decrypt_key_file(data, "Pw")


@pytest.mark.parametrize("iterations", [MIN_PBKDF2_ITERATIONS - 1, MAX_PBKDF2_ITERATIONS + 1, 0, 1])
def test_writing_a_cost_out_of_bounds_is_refused(iterations: int) -> None:
    key = get_suite("sm").generate_private_key()
    with pytest.raises(KeyFileError, match="PBKDF2 iterations"):
        encrypt_key_file(key, "pw", pbkdf2_iterations=iterations)


def _sm_document() -> dict[str, object]:
    key = get_suite("sm").generate_private_key()
    doc: dict[str, object] = json.loads(encrypt_key_file(key, "pw", pbkdf2_iterations=THROWAWAY_PBKDF2_ITERATIONS))
    return doc


@pytest.mark.parametrize("iterations", [1, 1000, MIN_PBKDF2_ITERATIONS - 1])
def test_a_planted_cheap_file_is_refused_before_any_derivation(iterations: int) -> None:
    doc = _sm_document()
    params = doc["kdf_params"]
    assert isinstance(params, dict)
    params["c"] = iterations
    with pytest.raises(KeyFileError, match="floor"):
        decrypt_key_file(json.dumps(doc).encode(), "pw")


@pytest.mark.parametrize("iterations", [MAX_PBKDF2_ITERATIONS + 1, 2**40, "262144", 262144.0, True, None])
def test_an_absurd_or_mistyped_cost_is_refused(iterations: object) -> None:
    doc = _sm_document()
    params = doc["kdf_params"]
    assert isinstance(params, dict)
    params["c"] = iterations
    with pytest.raises(KeyFileError, match="PBKDF2 iterations"):
        decrypt_key_file(json.dumps(doc).encode(), "pw")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("c", THROWAWAY_PBKDF2_ITERATIONS + 1, "wrong passphrase or corrupt"),  # in bounds: caught by GCM's AAD
        ("salt", "00" * 16, "wrong passphrase or corrupt"),
        ("prf", "hmac-sha256", "prf"),
    ],
)
def test_tampered_parameters_are_refused(field: str, value: object, message: str) -> None:
    doc = _sm_document()
    params = doc["kdf_params"]
    assert isinstance(params, dict)
    params[field] = value
    with pytest.raises(KeyFileError, match=message):
        decrypt_key_file(json.dumps(doc).encode(), "pw")


def test_an_sm_file_relabelled_scrypt_is_refused() -> None:
    doc = _sm_document()
    doc["kdf"] = "scrypt"
    with pytest.raises(KeyFileError):
        decrypt_key_file(json.dumps(doc).encode(), "pw")


def test_pbkdf2_is_refused_for_ecdsa_files() -> None:
    key = get_suite("ecdsa").generate_private_key()
    doc = json.loads(encrypt_key_file(key, "pw", scrypt_n=MIN_SCRYPT_N))
    doc["kdf"] = "pbkdf2"
    doc["kdf_params"] = {"prf": "hmac-sm3", "c": DEFAULT_PBKDF2_ITERATIONS, "salt": "00" * 16}
    with pytest.raises(KeyFileError, match="only for the sm suite"):
        decrypt_key_file(json.dumps(doc).encode(), "pw")
