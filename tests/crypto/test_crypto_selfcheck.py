"""The start-up self-check: a machine whose crypto lacks SM2 or SM4 refuses to start, and says why."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers import algorithms

from gusu.crypto import _openssl, ecdsa, sm, validate_suite_support
from gusu.errors import CryptoError, UnknownSuiteError


class _LibcryptoWithout:
    """The real libcrypto, except that the named functions fail as they do in a no-sm2 build."""

    def __init__(self, real: Any, failing: dict[str, Callable[..., Any]]) -> None:
        self._real = real
        self._failing = failing

    def __getattr__(self, name: str) -> Any:
        return self._failing.get(name) or getattr(self._real, name)


@pytest.fixture
def openssl_without_sm2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # An OpenSSL built with no-sm2 does not know the SM2 key type: parsing an
    # SM2 key (public or private) fails. Cached keys would hide that; drop them.
    real = _openssl.lib()
    sm.clear_caches()
    broken = _LibcryptoWithout(real, {"d2i_PUBKEY": lambda *args: None, "d2i_AutoPrivateKey": lambda *args: None})
    monkeypatch.setattr(_openssl, "lib", lambda: broken)
    yield
    monkeypatch.undo()
    sm.clear_caches()


@pytest.fixture
def cryptography_without_sm4(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sm4(key: bytes) -> None:
        raise UnsupportedAlgorithm("sm4 is not supported by this backend")

    monkeypatch.setattr(algorithms, "SM4", no_sm4)


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_a_complete_machine_passes(suite_name: str) -> None:
    validate_suite_support(suite_name)


def test_unknown_suite_is_refused() -> None:
    with pytest.raises(UnknownSuiteError):
        validate_suite_support("rsa")


@pytest.mark.usefixtures("openssl_without_sm2")
def test_missing_sm2_is_named_with_the_fix() -> None:
    with pytest.raises(CryptoError) as caught:
        validate_suite_support("sm")
    message = str(caught.value)
    assert "SM2" in message
    assert "no-sm2" in message and "OpenSSL 3" in message
    # An ecdsa chain does not need SM2 and still starts.
    validate_suite_support("ecdsa")


def test_sm2_verification_giving_wrong_answers_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # A libcrypto that "verifies" nothing (the symptom operators saw) is caught too.
    real = _openssl.lib()
    sm.clear_caches()
    broken = _LibcryptoWithout(real, {"EVP_DigestVerify": lambda *args: 0})
    monkeypatch.setattr(_openssl, "lib", lambda: broken)
    with pytest.raises(CryptoError, match=r"SM2 signature verification .* gives wrong results"):
        validate_suite_support("sm")


@pytest.mark.usefixtures("cryptography_without_sm4")
@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_missing_sm4_is_named_for_both_suites(suite_name: str) -> None:
    # Key files of both suites are sealed with SM4-GCM.
    with pytest.raises(CryptoError, match=r"SM4 \(GB/T 32907\) is not available.*cryptography"):
        validate_suite_support(suite_name)


def test_wrong_keccak_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ecdsa, "keccak256", lambda data: bytes(32))
    with pytest.raises(CryptoError, match="keccak-256"):
        validate_suite_support("ecdsa")


def test_node_without_sm2_refuses_to_start(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from gusu.node.chain import initialize_chain, load_node

    layout = initialize_chain(tmp_path / "chain", suite_name="sm", scrypt_n=1024)
    request.getfixturevalue("openssl_without_sm2")
    with pytest.raises(CryptoError, match=r"SM2 .*not available on this machine.*no-sm2"):
        load_node(layout.node_directories[0])


@pytest.mark.usefixtures("openssl_without_sm2")
def test_chain_init_without_sm2_refuses(tmp_path: Path) -> None:
    from gusu.node.chain import initialize_chain

    with pytest.raises(CryptoError, match="no-sm2"):
        initialize_chain(tmp_path / "chain", suite_name="sm", scrypt_n=1024)
    assert not (tmp_path / "chain" / "genesis.json").exists()
