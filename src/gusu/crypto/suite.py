"""The crypto-suite contract every other package codes against.

A chain picks one suite at genesis ("sm" for the Chinese national
algorithms, "ecdsa" for secp256k1/keccak); everything above this layer only
sees `CryptoSuite` and `PrivateKey` and never a library type, so a suite's
backing library can change without touching the ledger or the network.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from gusu.errors import InvalidKeyError

SUITE_NAMES: tuple[str, ...] = ("sm", "ecdsa")

SECRET_SIZE = 32
SIGNATURE_SIZE = 64
ADDRESS_SIZE = 20


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A suite's private key with its public key precomputed.

    Build one with `CryptoSuite.load_private_key` or `generate_private_key`
    rather than directly, so the public key is known to match the secret.
    The secret is left out of `repr` so it cannot leak into logs.
    """

    suite: str
    secret: bytes = field(repr=False)
    public_key: bytes

    def __post_init__(self) -> None:
        if self.suite not in SUITE_NAMES:
            raise InvalidKeyError(
                f"unknown suite {self.suite!r} for a private key; use one of {', '.join(SUITE_NAMES)}"
            )
        if not isinstance(self.secret, bytes) or len(self.secret) != SECRET_SIZE:
            raise InvalidKeyError(f"a private key secret is exactly {SECRET_SIZE} bytes")
        if not isinstance(self.public_key, bytes):
            raise InvalidKeyError("a private key's public key must be bytes")


class CryptoSuite(ABC):
    """Hashing, signing, verification and addresses for one chain.

    Instances are stateless apart from caches and are shared: obtain them
    with `gusu.crypto.get_suite(name)`.
    """

    name: ClassVar[str]
    hash_name: ClassVar[str]
    public_key_size: ClassVar[int]
    signature_size: ClassVar[int] = SIGNATURE_SIZE
    #: Largest valid private scalar; secrets are drawn from [1, max_secret].
    max_secret: ClassVar[int]

    @abstractmethod
    def hash(self, data: bytes) -> bytes:
        """The suite's 32-byte digest of `data`."""

    def generate_private_key(self) -> PrivateKey:
        """A fresh key drawn from the operating system's CSPRNG."""
        scalar = secrets.randbelow(self.max_secret) + 1
        return self.load_private_key(scalar.to_bytes(SECRET_SIZE, "big"))

    @abstractmethod
    def load_private_key(self, secret: bytes) -> PrivateKey:
        """Rebuild a key from its 32-byte big-endian scalar.

        Raises InvalidKeyError if `secret` is not 32 bytes or out of range.
        """

    @abstractmethod
    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        """A 64-byte r||s signature of `message` by `key`."""

    @abstractmethod
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True only for a valid canonical signature; False for anything else.

        Never raises, whatever the inputs, so a peer's garbage cannot crash
        the caller.
        """

    @abstractmethod
    def validate_public_key(self, public_key: bytes) -> None:
        """Raise InvalidKeyError unless `public_key` is a canonical point."""

    @abstractmethod
    def _point_xy(self, public_key: bytes) -> bytes:
        """The 64-byte X||Y of an already validated public key."""

    def compute_address(self, public_key: bytes) -> bytes:
        """Last 20 bytes of hash(X||Y): Ethereum's rule, with the suite's hash."""
        self.validate_public_key(public_key)
        return self.hash(self._point_xy(public_key))[-ADDRESS_SIZE:]

    def _check_key(self, key: PrivateKey) -> None:
        if not isinstance(key, PrivateKey):
            raise InvalidKeyError(f"expected a PrivateKey, got {type(key).__name__}")
        if key.suite != self.name:
            raise InvalidKeyError(
                f"this is a {key.suite!r} key but the chain uses the {self.name!r} suite; "
                f"load or generate a {self.name!r} key"
            )

    def _check_secret(self, secret: bytes) -> int:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != SECRET_SIZE:
            raise InvalidKeyError(f"a {self.name} private key is exactly {SECRET_SIZE} bytes (a big-endian scalar)")
        scalar = int.from_bytes(secret, "big")
        if not 1 <= scalar <= self.max_secret:
            raise InvalidKeyError(
                f"a {self.name} private key must lie in [1, {self.max_secret:#x}]; "
                "this one does not, so it is not a key of this suite"
            )
        return scalar

    def __repr__(self) -> str:
        return f"<CryptoSuite {self.name}>"


def as_bytes(value: object) -> bytes | None:
    """`value` as bytes if it is bytes-like, else None (never raises)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        try:
            return bytes(value)
        except (TypeError, ValueError, BufferError):
            return None
    return None
