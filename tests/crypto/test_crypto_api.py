"""The public API's shape, its error messages, caches and threading."""

from __future__ import annotations

import ast
import concurrent.futures
import pickle
import threading
from pathlib import Path

import pytest

import gusu.crypto
from gusu.crypto import SUITE_NAMES, CryptoSuite, PrivateKey, _der, _openssl, get_suite, sm, verify_batch
from gusu.crypto import ecdsa as ecdsa_module
from gusu.crypto.bench import measure_rates
from gusu.errors import ConfigError, CryptoError, InvalidKeyError, UnknownSuiteError

SRC = Path(gusu.crypto.__file__).resolve().parents[1]


def test_suite_names_and_singletons() -> None:
    assert SUITE_NAMES == ("sm", "ecdsa")
    for name in SUITE_NAMES:
        suite = get_suite(name)
        assert suite is get_suite(name)
        assert isinstance(suite, CryptoSuite)
        assert suite.name == name


def test_suite_attributes() -> None:
    sm_suite, ec_suite = get_suite("sm"), get_suite("ecdsa")
    assert (sm_suite.hash_name, sm_suite.public_key_size, sm_suite.signature_size) == ("sm3", 65, 64)
    assert (ec_suite.hash_name, ec_suite.public_key_size, ec_suite.signature_size) == (
        "keccak256",
        33,
        64,
    )


@pytest.mark.parametrize("name", ["", "SM", "rsa", "ed25519", None, 3])
def test_unknown_suite(name: object) -> None:
    with pytest.raises(UnknownSuiteError, match="sm, ecdsa"):
        get_suite(name)  # type: ignore[arg-type]


def test_private_key_repr_hides_secret(suite: CryptoSuite) -> None:
    key = suite.generate_private_key()
    text = repr(key) + str(key)
    assert key.secret.hex() not in text
    assert repr(key.secret) not in text
    assert "secret" not in text


def test_private_key_is_frozen_and_picklable(key: PrivateKey) -> None:
    with pytest.raises(AttributeError):
        key.secret = bytes(32)  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(key)) == key


def test_generated_keys_differ(suite: CryptoSuite) -> None:
    assert suite.generate_private_key() != suite.generate_private_key()


def test_load_private_key_round_trip(suite: CryptoSuite, key: PrivateKey) -> None:
    assert suite.load_private_key(key.secret) == key


def test_load_private_key_rejects_bad_scalars(suite: CryptoSuite) -> None:
    n = sm.N if suite.name == "sm" else ecdsa_module.N
    bad = [b"", bytes(31), bytes(33), bytes(32), n.to_bytes(32, "big"), (2**256 - 1).to_bytes(32, "big")]
    for secret in bad:
        with pytest.raises(InvalidKeyError):
            suite.load_private_key(secret)
    with pytest.raises(InvalidKeyError):
        suite.load_private_key("00" * 32)  # type: ignore[arg-type]
    suite.load_private_key((suite.max_secret).to_bytes(32, "big"))


def test_sm2_rejects_n_minus_1() -> None:
    # (1 + d) must be invertible mod n for SM2 signing: d = n - 1 is not a key.
    with pytest.raises(InvalidKeyError):
        get_suite("sm").load_private_key((sm.N - 1).to_bytes(32, "big"))


def test_sm2_sign_refuses_hand_built_key_out_of_range() -> None:
    # OpenSSL 3.0 would loop forever signing with d = n - 1.
    public_key = get_suite("sm").generate_private_key().public_key
    for d in (sm.N - 1, sm.N, 0):
        key = PrivateKey(suite="sm", secret=d.to_bytes(32, "big"), public_key=public_key)
        with pytest.raises(InvalidKeyError):
            get_suite("sm").sign(key, b"m")
    ec_public = get_suite("ecdsa").generate_private_key().public_key
    for d in (ecdsa_module.N, 0):
        key = PrivateKey(suite="ecdsa", secret=d.to_bytes(32, "big"), public_key=ec_public)
        with pytest.raises(InvalidKeyError):
            get_suite("ecdsa").sign(key, bytes(32))


def test_ecdsa_accepts_n_minus_1() -> None:
    get_suite("ecdsa").load_private_key((ecdsa_module.N - 1).to_bytes(32, "big"))


def test_private_key_constructor_checks_shape() -> None:
    with pytest.raises(InvalidKeyError):
        PrivateKey(suite="rsa", secret=bytes(32), public_key=b"")
    with pytest.raises(InvalidKeyError):
        PrivateKey(suite="sm", secret=bytes(16), public_key=b"")


def test_sign_rejects_key_of_other_suite() -> None:
    sm_key = get_suite("sm").generate_private_key()
    with pytest.raises(InvalidKeyError, match="'sm' key"):
        get_suite("ecdsa").sign(sm_key, bytes(32))


def test_ecdsa_sign_needs_digest() -> None:
    suite = get_suite("ecdsa")
    key = suite.generate_private_key()
    with pytest.raises(CryptoError, match="32-byte digest"):
        suite.sign(key, b"not a digest")


def test_validate_public_key(suite: CryptoSuite, key: PrivateKey) -> None:
    suite.validate_public_key(key.public_key)
    size = suite.public_key_size
    bad = [b"", key.public_key[:-1], key.public_key + b"\x00", bytes(size)]
    if suite.name == "sm":
        # Same prefix, Y moved off the curve.
        bad.append(key.public_key[:-1] + bytes([key.public_key[-1] ^ 1]))
        bad.append(b"\x02" + key.public_key[1:33] + bytes(32))
        bad.append(b"\x04" + b"\xff" * 64)  # coordinates >= p
    else:
        bad.append(b"\x04" + key.public_key[1:])
        bad.append(b"\x02" + b"\xff" * 32)  # X >= p
        bad.append(b"\x03" + _secp256k1_x_off_curve().to_bytes(32, "big"))
    for public_key in bad:
        if public_key == key.public_key:
            continue
        with pytest.raises(InvalidKeyError):
            suite.validate_public_key(public_key)
        with pytest.raises(InvalidKeyError):
            suite.compute_address(public_key)


def _secp256k1_x_off_curve() -> int:
    """Smallest X for which x^3 + 7 has no square root mod p: no point there."""
    p = 2**256 - 2**32 - 977
    x = 1
    while pow(x**3 + 7, (p - 1) // 2, p) == 1:
        x += 1
    return x


def test_compute_address(suite: CryptoSuite, key: PrivateKey) -> None:
    address = suite.compute_address(key.public_key)
    assert len(address) == 20
    assert address == suite.compute_address(key.public_key)


def test_other_suites_public_key_is_rejected() -> None:
    sm_key = get_suite("sm").generate_private_key()
    ec_key = get_suite("ecdsa").generate_private_key()
    assert not get_suite("ecdsa").verify(sm_key.public_key, bytes(32), bytes(64))
    assert not get_suite("sm").verify(ec_key.public_key, b"m", bytes(64))


def test_verify_batch_mixed() -> None:
    suite = get_suite("sm")
    key = suite.generate_private_key()
    good = (key.public_key, b"a", suite.sign(key, b"a"))
    bad = (key.public_key, b"b", good[2])
    assert verify_batch("sm", [good, bad, good]) == [True, False, True]
    assert verify_batch("sm", []) == []
    with pytest.raises(UnknownSuiteError):
        verify_batch("nope", [good])


def test_verify_batch_in_process_pool() -> None:
    items = []
    for name in SUITE_NAMES:
        suite = get_suite(name)
        key = suite.generate_private_key()
        message = b"pool" if name == "sm" else suite.hash(b"pool")
        items.append((name, [(key.public_key, message, suite.sign(key, message))]))
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(verify_batch, name, batch) for name, batch in items]
        assert [f.result(timeout=60) for f in futures] == [[True], [True]]


def test_sm_public_key_cache_is_bounded() -> None:
    cache = sm._PkeyCache(capacity=3)
    suite = get_suite("sm")
    keys = [suite.generate_private_key().public_key for _ in range(5)]
    c = _openssl.lib()
    for public_key in keys:
        spki = _der.subject_public_key_info(_der.OID_SM2_CURVE, public_key)
        pkey = _openssl.d2i("d2i_PUBKEY", spki)
        assert pkey is not None
        c.EVP_PKEY_free(cache.insert(public_key, pkey))
    assert len(cache) == 3
    assert cache.acquire(keys[0]) is None
    held = cache.acquire(keys[4])
    assert held is not None
    cache.resize(1)
    assert len(cache) == 1
    assert cache.acquire(keys[3]) is None
    cache.clear()  # the held reference keeps the key alive after eviction
    assert len(cache) == 0
    c.EVP_PKEY_free(held)


def test_set_public_key_cache_size() -> None:
    with pytest.raises(ConfigError):
        sm.set_public_key_cache_size(0)
    sm.set_public_key_cache_size(sm.PUBLIC_KEY_CACHE_SIZE)


def test_sm_verify_after_cache_clear() -> None:
    suite = get_suite("sm")
    key = suite.generate_private_key()
    signature = suite.sign(key, b"m")
    sm.clear_caches()
    assert suite.verify(key.public_key, b"m", signature)
    assert suite.sign(key, b"m") != signature  # SM2 nonces are random
    assert len(sm._public_cache) == 1


def test_sm_threads_with_cache_churn(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny cache makes threads evict keys that other threads are using.
    monkeypatch.setattr(sm, "_public_cache", sm._PkeyCache(capacity=2))
    suite = get_suite("sm")
    signed = []
    for i in range(6):
        key = suite.generate_private_key()
        message = f"m{i}".encode()
        signed.append((key.public_key, message, suite.sign(key, message)))
    failures: list[object] = []

    def worker() -> None:
        for _ in range(15):
            for item in signed:
                if not suite.verify(*item):
                    failures.append(item)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    sm._public_cache.clear()


def test_openssl_version_is_3() -> None:
    assert _openssl.version_text().startswith("OpenSSL 3")


def test_measure_rates_shape() -> None:
    rates = measure_rates(0.01)
    assert set(rates) == set(SUITE_NAMES)
    for figures in rates.values():
        assert {"sign", "verify", "verify_uncached"} <= set(figures)
        assert all(value > 0 for value in figures.values())


def test_no_pure_python_sm_libraries_imported() -> None:
    banned = ("gmssl", "gmalg", "snowland")
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
                names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            for name in names:
                if name.split(".")[0].lower().startswith(banned):
                    offenders.append(f"{path}: {name}")
    assert offenders == []
