"""Property tests: round trips, tampering, malformed input, malleability."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gusu.crypto import CryptoSuite, PrivateKey, get_suite, verify_batch
from gusu.crypto import ecdsa as ecdsa_module
from gusu.crypto import sm as sm_module
from gusu.crypto.cipher import sm4_gcm_decrypt, sm4_gcm_encrypt
from gusu.crypto.keyfile import (
    decrypt_key_file,
    encrypt_key_file,
    import_pem,
    read_key_file_metadata,
)
from gusu.errors import DecryptionError, GusuError, KeyFileError

SUITES = ("sm", "ecdsa")
ORDERS = {"sm": sm_module.N, "ecdsa": ecdsa_module.N}
FAST_N = 1024  # scrypt work factor for tests only


def message_for(suite: CryptoSuite, payload: bytes) -> bytes:
    """What `sign` takes: the raw message for sm, a 32-byte digest for ecdsa."""
    return payload if suite.name == "sm" else suite.hash(payload)


@st.composite
def keys(draw: st.DrawFn, suite_name: str | None = None) -> PrivateKey:
    name = suite_name or draw(st.sampled_from(SUITES))
    suite = get_suite(name)
    scalar = draw(st.integers(min_value=1, max_value=suite.max_secret))
    return suite.load_private_key(scalar.to_bytes(32, "big"))


def flip_bit(data: bytes, index: int) -> bytes:
    index %= len(data) * 8
    mutable = bytearray(data)
    mutable[index // 8] ^= 1 << (index % 8)
    return bytes(mutable)


@given(key=keys(), payload=st.binary(max_size=300))
def test_sign_verify_round_trip(key: PrivateKey, payload: bytes) -> None:
    suite = get_suite(key.suite)
    message = message_for(suite, payload)
    signature = suite.sign(key, message)
    assert len(signature) == suite.signature_size == 64
    assert len(key.public_key) == suite.public_key_size
    assert suite.verify(key.public_key, message, signature)
    assert verify_batch(suite.name, [(key.public_key, message, signature)]) == [True]


@given(key=keys(), payload=st.binary(max_size=100), bit=st.integers(min_value=0))
def test_tampered_message_fails(key: PrivateKey, payload: bytes, bit: int) -> None:
    suite = get_suite(key.suite)
    message = message_for(suite, payload)
    signature = suite.sign(key, message)
    tampered = flip_bit(message, bit) if message else b"\x00"
    assert not suite.verify(key.public_key, tampered, signature)


@given(key=keys(), payload=st.binary(max_size=100), bit=st.integers(min_value=0))
def test_tampered_signature_fails(key: PrivateKey, payload: bytes, bit: int) -> None:
    suite = get_suite(key.suite)
    message = message_for(suite, payload)
    signature = suite.sign(key, message)
    assert not suite.verify(key.public_key, message, flip_bit(signature, bit))


@given(data=st.data(), payload=st.binary(max_size=100))
def test_wrong_key_fails(data: st.DataObject, payload: bytes) -> None:
    name = data.draw(st.sampled_from(SUITES))
    signer = data.draw(keys(name))
    other = data.draw(keys(name))
    suite = get_suite(name)
    message = message_for(suite, payload)
    signature = suite.sign(signer, message)
    if other.public_key != signer.public_key:
        assert not suite.verify(other.public_key, message, signature)


junk = st.one_of(
    st.binary(max_size=130),
    st.binary(min_size=64, max_size=64),
    st.binary(min_size=65, max_size=65),
    st.binary(min_size=33, max_size=33),
    st.binary(min_size=32, max_size=32),
    st.none(),
    st.integers(),
    st.text(max_size=70),
    st.lists(st.integers(), max_size=3),
    st.builds(bytearray, st.binary(max_size=70)),
)


@given(name=st.sampled_from(SUITES), public_key=junk, message=junk, signature=junk)
def test_verify_never_raises_on_garbage(name: str, public_key: object, message: object, signature: object) -> None:
    suite = get_suite(name)
    result = suite.verify(public_key, message, signature)  # type: ignore[arg-type]
    assert result is False or result is True


@given(key=keys(), payload=st.binary(max_size=100), junk_sig=st.binary(min_size=64, max_size=64))
def test_random_signature_does_not_verify(key: PrivateKey, payload: bytes, junk_sig: bytes) -> None:
    suite = get_suite(key.suite)
    assert not suite.verify(key.public_key, message_for(suite, payload), junk_sig)


@given(name=st.sampled_from(SUITES), items=st.lists(st.tuples(junk, junk, junk), max_size=5))
def test_verify_batch_never_raises(name: str, items: list[tuple[object, object, object]]) -> None:
    assert verify_batch(name, items) == [False] * len(items)  # type: ignore[arg-type]


@given(key=keys("ecdsa"), payload=st.binary(max_size=100))
def test_ecdsa_high_s_rejected(key: PrivateKey, payload: bytes) -> None:
    suite = get_suite("ecdsa")
    digest = suite.hash(payload)
    signature = suite.sign(key, digest)
    s = int.from_bytes(signature[32:], "big")
    assert s <= ecdsa_module.HALF_N, "signing must produce low S"
    twin = signature[:32] + (ecdsa_module.N - s).to_bytes(32, "big")
    assert not suite.verify(key.public_key, digest, twin)


@given(key=keys("sm"), payload=st.binary(max_size=100))
def test_sm2_negated_s_rejected(key: PrivateKey, payload: bytes) -> None:
    suite = get_suite("sm")
    signature = suite.sign(key, payload)
    s = int.from_bytes(signature[32:], "big")
    twin = signature[:32] + (sm_module.N - s).to_bytes(32, "big")
    assert not suite.verify(key.public_key, payload, twin)


@pytest.mark.parametrize("name", SUITES)
@pytest.mark.parametrize("which", ["r", "s"])
@pytest.mark.parametrize("value", ["zero", "n", "n+1", "max"])
def test_out_of_range_r_s_rejected(name: str, which: str, value: str) -> None:
    suite = get_suite(name)
    key = suite.generate_private_key()
    message = message_for(suite, b"range")
    signature = suite.sign(key, message)
    n = ORDERS[name]
    bad = {"zero": 0, "n": n, "n+1": n + 1, "max": 2**256 - 1}[value].to_bytes(32, "big")
    forged = bad + signature[32:] if which == "r" else signature[:32] + bad
    assert not suite.verify(key.public_key, message, forged)


@given(payload=st.binary(min_size=0, max_size=100).filter(lambda b: len(b) != 32))
def test_ecdsa_verify_needs_32_byte_digest(payload: bytes) -> None:
    suite = get_suite("ecdsa")
    key = suite.load_private_key((7).to_bytes(32, "big"))
    digest = suite.hash(payload)
    signature = suite.sign(key, digest)
    assert not suite.verify(key.public_key, payload, signature)


# --- key files ------------------------------------------------------------------------

passphrases = st.text(min_size=1, max_size=40)


@settings(max_examples=25, deadline=None)
@given(key=keys(), passphrase=passphrases)
def test_key_file_round_trip(key: PrivateKey, passphrase: str) -> None:
    data = encrypt_key_file(key, passphrase, scrypt_n=FAST_N)
    assert decrypt_key_file(data, passphrase) == key
    meta = read_key_file_metadata(data)
    suite = get_suite(key.suite)
    assert (meta.suite, meta.public_key) == (key.suite, key.public_key)
    assert meta.address == suite.compute_address(key.public_key)
    assert key.secret.hex() not in data.decode()


@settings(max_examples=25, deadline=None)
@given(key=keys(), passphrase=passphrases, wrong=passphrases)
def test_key_file_wrong_passphrase(key: PrivateKey, passphrase: str, wrong: str) -> None:
    data = encrypt_key_file(key, passphrase, scrypt_n=FAST_N)
    if wrong != passphrase:
        with pytest.raises(KeyFileError, match="wrong passphrase"):
            decrypt_key_file(data, wrong)


@pytest.mark.parametrize("name", SUITES)
@pytest.mark.parametrize(
    "field",
    ["address", "public_key", "salt", "cost", "ciphertext", "suite"],
)
def test_key_file_tampered_metadata_fails(name: str, field: str) -> None:
    suite = get_suite(name)
    key = suite.generate_private_key()
    doc = json.loads(encrypt_key_file(key, "pw", scrypt_n=FAST_N))
    other = suite.generate_private_key()
    if field == "address":
        doc["address"] = suite.compute_address(other.public_key).hex()
    elif field == "public_key":
        doc["public_key"] = other.public_key.hex()
        doc["address"] = suite.compute_address(other.public_key).hex()
    elif field == "salt":
        doc["kdf_params"]["salt"] = "00" * 16
    elif field == "cost":
        cost_name = "c" if name == "sm" else "n"  # PBKDF2 iterations, or scrypt's n
        doc["kdf_params"][cost_name] *= 2
    elif field == "ciphertext":
        doc["ciphertext"] = flip_bit(bytes.fromhex(doc["ciphertext"]), 99).hex()
    else:
        doc["suite"] = "ecdsa" if name == "sm" else "sm"
    with pytest.raises(KeyFileError):
        decrypt_key_file(json.dumps(doc).encode(), "pw")


def test_key_file_default_work_factor_round_trip() -> None:
    suite = get_suite("ecdsa")
    key = suite.generate_private_key()
    data = encrypt_key_file(key, "correct horse battery staple")
    assert json.loads(data)["kdf"] == "scrypt"
    assert json.loads(data)["kdf_params"] == {
        "n": 2**14,
        "r": 8,
        "p": 1,
        "salt": json.loads(data)["kdf_params"]["salt"],
    }
    assert decrypt_key_file(data, "correct horse battery staple") == key


def test_key_file_passphrase_is_unicode_normalised() -> None:
    key = get_suite("ecdsa").generate_private_key()
    data = encrypt_key_file(key, "caf\u00e9", scrypt_n=FAST_N)
    assert decrypt_key_file(data, "cafe\u0301") == key


def test_key_file_rejects_empty_passphrase_and_bad_n() -> None:
    key = get_suite("sm").generate_private_key()
    with pytest.raises(KeyFileError, match="non-empty"):
        encrypt_key_file(key, "")
    for n in (1000, 2**9, 2**30, 0, -1):
        with pytest.raises(KeyFileError, match="power of two"):
            encrypt_key_file(key, "pw", scrypt_n=n)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@given(data=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_key_file_garbage_raises_only_key_file_error(data: bytes) -> None:
    with pytest.raises(KeyFileError):
        read_key_file_metadata(data)
    with pytest.raises(KeyFileError):
        decrypt_key_file(data, "pw")


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_key_file_field_mutations_raise_only_key_file_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(SUITES))
    key = data.draw(keys(name))
    doc = json.loads(encrypt_key_file(key, "pw", scrypt_n=FAST_N))
    target = doc["kdf_params"] if data.draw(st.booleans()) else doc
    field = data.draw(st.sampled_from(sorted(target)))
    target[field] = data.draw(json_values)
    with contextlib.suppress(KeyFileError):
        decrypt_key_file(json.dumps(doc).encode(), "pw")


@given(pem=st.binary(max_size=300), name=st.sampled_from(SUITES))
def test_import_pem_garbage_raises_only_key_file_error(pem: bytes, name: str) -> None:
    with pytest.raises(KeyFileError):
        import_pem(pem, name)


@given(body=st.binary(max_size=200), name=st.sampled_from(SUITES))
def test_import_pem_garbage_body_raises_only_key_file_error(body: bytes, name: str) -> None:
    import base64

    pem = b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(body) + b"-----END PRIVATE KEY-----\n"
    with pytest.raises(KeyFileError):
        import_pem(pem, name)


# --- SM4-GCM ------------------------------------------------------------------------

sm4_keys = st.binary(min_size=16, max_size=16)


@given(key=sm4_keys, plaintext=st.binary(max_size=500), aad=st.binary(max_size=50))
def test_sm4_gcm_round_trip(key: bytes, plaintext: bytes, aad: bytes) -> None:
    blob = sm4_gcm_encrypt(key, plaintext, aad)
    assert len(blob) == 12 + len(plaintext) + 16
    assert sm4_gcm_decrypt(key, blob, aad) == plaintext


@given(
    key=sm4_keys,
    plaintext=st.binary(max_size=200),
    aad=st.binary(max_size=50),
    bit=st.integers(min_value=0),
)
def test_sm4_gcm_tamper_detected(key: bytes, plaintext: bytes, aad: bytes, bit: int) -> None:
    blob = sm4_gcm_encrypt(key, plaintext, aad)
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(key, flip_bit(blob, bit), aad)
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(key, blob, aad + b"x")
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(flip_bit(key, bit), blob, aad)


@given(key=sm4_keys, blob=st.binary(max_size=80))
def test_sm4_gcm_garbage_raises_decryption_error(key: bytes, blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(key, blob)


def test_sm4_gcm_nonces_differ() -> None:
    key = bytes(16)
    assert sm4_gcm_encrypt(key, b"same") != sm4_gcm_encrypt(key, b"same")


def test_errors_are_gusu_errors() -> None:
    assert issubclass(KeyFileError, GusuError)
    assert issubclass(DecryptionError, GusuError)
