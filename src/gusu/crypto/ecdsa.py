"""The "ecdsa" suite: secp256k1 signatures and keccak-256, as on Ethereum.

Signing and verification use libsecp256k1 (through coincurve), the
constant-time library Bitcoin Core maintains; keccak-256 comes from
safe-pysha3's C implementation (about 1 µs a hash; pycryptodome's binding
costs 7–27 µs, which made hashing a third of a block's work). Note keccak-256 is the original Keccak submission, not the
padded FIPS SHA3-256 that hashlib offers: addresses would not match
Ethereum's with the latter.

Here `message` is always a 32-byte digest that the caller computed (usually
`suite.hash(payload)`); it is signed as is.

ECDSA signatures are malleable: (r, s) and (r, n - s) both verify. Gusu
signs with low S only (libsecp256k1 always does) and `verify` refuses high
S outright, so a third party cannot re-encode a valid signature into a
second valid one.
"""

from __future__ import annotations

import functools
from typing import ClassVar

import coincurve
import sha3

from gusu.crypto import _der
from gusu.crypto.suite import SIGNATURE_SIZE, CryptoSuite, PrivateKey, as_bytes
from gusu.errors import CryptoError, InvalidKeyError

#: Order of the secp256k1 group.
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = N // 2

PUBLIC_KEY_SIZE = 33
DIGEST_SIZE = 32
PUBLIC_KEY_CACHE_SIZE = 65_536
PRIVATE_KEY_CACHE_SIZE = 1_024


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's hash) of `data`."""
    return sha3.keccak_256(data).digest()  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=PUBLIC_KEY_CACHE_SIZE)
def _parse_public(public_key: bytes) -> coincurve.PublicKey | None:
    # Parsing costs a square root in the field; hot keys (validators,
    # busy senders) are cached. lru_cache is bounded and thread-safe.
    if len(public_key) != PUBLIC_KEY_SIZE or public_key[0] not in (2, 3):
        return None
    try:
        return coincurve.PublicKey(public_key)
    except ValueError:
        return None


@functools.lru_cache(maxsize=PRIVATE_KEY_CACHE_SIZE)
def _signer(secret: bytes) -> coincurve.PrivateKey:
    # Building a coincurve key derives its public keys: cache per secret.
    return coincurve.PrivateKey(secret)


def clear_caches() -> None:
    _parse_public.cache_clear()
    _signer.cache_clear()


def is_low_s(signature: bytes) -> bool:
    return 0 < int.from_bytes(signature[32:64], "big") <= HALF_N


class EcdsaSuite(CryptoSuite):
    """secp256k1 ECDSA over 32-byte digests, keccak-256, Ethereum addresses."""

    name: ClassVar[str] = "ecdsa"
    hash_name: ClassVar[str] = "keccak256"
    public_key_size: ClassVar[int] = PUBLIC_KEY_SIZE
    max_secret: ClassVar[int] = N - 1

    def hash(self, data: bytes) -> bytes:
        return keccak256(data)

    def load_private_key(self, secret: bytes) -> PrivateKey:
        self._check_secret(secret)
        raw = bytes(secret)
        public = _signer(raw).public_key.format(compressed=True)
        return PrivateKey(suite=self.name, secret=raw, public_key=public)

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        self._check_key(key)
        digest = as_bytes(message)
        if digest is None or len(digest) != DIGEST_SIZE:
            raise CryptoError("the ecdsa suite signs a 32-byte digest; hash the payload with suite.hash() first")
        try:
            recoverable = _signer(key.secret).sign_recoverable(digest, hasher=None)
        except ValueError as exc:
            raise InvalidKeyError(f"secp256k1 refused to sign with this key: {exc}") from exc
        r = int.from_bytes(recoverable[:32], "big")
        s = int.from_bytes(recoverable[32:64], "big")
        if s > HALF_N:
            # libsecp256k1 never does this; normalise anyway so we can never
            # emit a signature our own verify would refuse.
            s = N - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            return self._verify(public_key, message, signature)
        except Exception:  # the contract is "False, never raise"
            return False

    def _verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        pub = as_bytes(public_key)
        digest = as_bytes(message)
        sig = as_bytes(signature)
        if pub is None or digest is None or sig is None:
            return False
        if len(digest) != DIGEST_SIZE or len(sig) != SIGNATURE_SIZE:
            return False
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:], "big")
        # Explicit range and low-S checks, so canonical form does not rest
        # on what one library version happens to enforce.
        if not (0 < r < N and 0 < s <= HALF_N):
            return False
        parsed = _parse_public(pub)
        if parsed is None:
            return False
        return parsed.verify(_der.encode_signature(r, s), digest, hasher=None)

    def validate_public_key(self, public_key: bytes) -> None:
        raw = as_bytes(public_key)
        if raw is None or len(raw) != PUBLIC_KEY_SIZE or raw[0] not in (2, 3):
            raise InvalidKeyError("an ecdsa public key is 33 bytes: a compressed secp256k1 point starting 0x02 or 0x03")
        if _parse_public(raw) is None:
            raise InvalidKeyError("this ecdsa public key is not a point on secp256k1")

    def _point_xy(self, public_key: bytes) -> bytes:
        parsed = _parse_public(bytes(public_key))
        if parsed is None:
            raise InvalidKeyError("this ecdsa public key is not a point on secp256k1")
        return parsed.format(compressed=False)[1:]
