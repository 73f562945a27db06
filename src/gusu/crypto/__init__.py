"""Gusu's crypto layer: pluggable signature suites, hashing and SM4 at rest.

Two suites exist, chosen per chain at genesis:

* ``"sm"``: SM2 signatures (signer ID 1234567812345678) and SM3 hashes, via
  OpenSSL 3's libcrypto.
* ``"ecdsa"``: secp256k1 ECDSA (low-S only) and keccak-256, via
  libsecp256k1 and safe-pysha3.

Everything else in Gusu talks to `CryptoSuite` and `PrivateKey` only. Key
files live in `gusu.crypto.keyfile`, SM4-GCM in `gusu.crypto.cipher`, and a
micro-benchmark in `gusu.crypto.bench`,
`validate_suite_support` (start-up self-check against published vectors) in
`gusu.crypto.selfcheck`, and atomic 0600 secret writes in `gusu.crypto.secretfile`. See docs/crypto.md.
"""

from __future__ import annotations

from gusu.crypto.registry import get_suite, verify_batch
from gusu.crypto.selfcheck import validate_suite_support
from gusu.crypto.suite import SUITE_NAMES, CryptoSuite, PrivateKey

__all__ = [
    "SUITE_NAMES",
    "CryptoSuite",
    "PrivateKey",
    "get_suite",
    "validate_suite_support",
    "verify_batch",
]
