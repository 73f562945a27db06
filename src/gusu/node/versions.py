"""The versions of what encodes, hashes or executes blocks, as a node reports them in its status.

Two validators that encode, hash or execute with different library
versions can disagree about a block, so operators (and `gusu node status`)
must be able to compare them across organisations at a glance. The set is
every library on a consensus path: the interpreter (contracts run on it),
msgpack (the canonical codec), cryptography and the OpenSSL library it is
linked with (SM2, SM3, SM4, TLS), coincurve and safe-pysha3 (the ecdsa
suite), the storage backends' libraries, and gusu itself.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import gusu

NOT_INSTALLED: Final = "not installed"

CONSENSUS_DISTRIBUTIONS: Final[tuple[str, ...]] = ("msgpack", "cryptography", "coincurve", "safe-pysha3")
"""Python distributions on the encode, hash and sign paths of every node."""

STORAGE_DISTRIBUTIONS: Final[Mapping[str, str]] = MappingProxyType(
    {"rocksdb": "rocksdict", "leveldb": "plyvel", "lmdb": "lmdb"}
)
"""Each disk backend's library (docs/storage.md): it writes the state a node reads back."""

CONSENSUS_VERSION_KEYS: Final[tuple[str, ...]] = (
    "gusu",
    "python",
    "openssl",
    *CONSENSUS_DISTRIBUTIONS,
    *STORAGE_DISTRIBUTIONS.values(),
)
"""The keys `compute_consensus_versions` always returns."""


def get_distribution_version(name: str) -> str:
    """An installed distribution's version, or NOT_INSTALLED."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def get_openssl_version() -> str:
    """The OpenSSL library that cryptography is linked with (not Python's own ssl module's)."""
    try:
        from cryptography.hazmat.backends.openssl import backend
    except ImportError:
        return NOT_INSTALLED
    return str(backend.openssl_version_text())


@functools.cache
def _compute_versions() -> Mapping[str, str]:
    versions: dict[str, str] = {
        "gusu": gusu.__version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssl": get_openssl_version(),
    }
    for name in CONSENSUS_DISTRIBUTIONS:
        versions[name] = get_distribution_version(name)
    for distribution in STORAGE_DISTRIBUTIONS.values():
        versions[distribution] = get_distribution_version(distribution)
    assert tuple(versions) == CONSENSUS_VERSION_KEYS
    return MappingProxyType(versions)


def compute_consensus_versions() -> dict[str, str]:
    """Name to version of everything on a consensus path (computed once per process; a fresh dict).

    Keys: gusu, python, openssl, msgpack, cryptography, coincurve,
    safe-pysha3, and the storage libraries rocksdict, plyvel and lmdb (a
    library that is not installed reads "not installed").
    """
    return dict(_compute_versions())
