"""Keys and signatures for simulated validators.

By default the simulator signs with `SimSuite`, a stand-in that computes a
"signature" as two SHA-256 digests over the public key and the message. It
is not a signature scheme (anyone who knows the public key can forge one),
but it is deterministic, fast (a campaign signs and checks millions of
votes) and goes through exactly the same code paths as a real suite: the
engine's `Signer`, `verify_message` on every received message and
`verify_commit_certificate` on every stored block. The simulated adversary
(twins) runs the honest code with a shared key and never forges.

``crypto="ecdsa"`` or ``"sm"`` uses the real suites with keys derived from
the seed (SM2 signatures are randomized, which must not change any
outcome: a replay of a seed is identical either way).

Simulated clients always use simulation keys (`compute_sim_address`,
`sign_sim_digest`), whatever the validators' suite: neither the mempool nor
the executor verifies a transaction's signature (the node does, before
admission), so a real suite would only cost time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gusu.consensus import Signer, make_signer
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import CryptoError, InvalidKeyError
from gusu.ledger.types import Address

CRYPTO_CHOICES = ("sim", "ecdsa", "sm")


def _sim_signature(public_key: bytes, digest: bytes) -> bytes:
    return (
        hashlib.sha256(b"sim-sig-a" + public_key + digest).digest()
        + hashlib.sha256(b"sim-sig-b" + digest + public_key).digest()
    )


def sign_sim_digest(public_key: bytes, digest: bytes) -> bytes:
    """A 64-byte simulation "signature" of `digest` (a transaction id) under `public_key`."""
    return _sim_signature(public_key, digest)


def compute_sim_address(public_key: bytes) -> Address:
    """The address of a simulation key (validators' under the sim suite, and every client's)."""
    return Address(hashlib.sha256(b"sim-address" + public_key).digest()[-20:])


class SimSuite(CryptoSuite):
    """A deterministic, insecure stand-in suite for simulations (see the module docstring)."""

    name = "sim"
    hash_name = "sha256"
    public_key_size = 32
    max_secret = 2**255

    def hash(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def load_private_key(self, secret: bytes) -> PrivateKey:
        raise CryptoError("the simulation suite has no private keys; use `make_sim_signer`")

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        raise CryptoError("the simulation suite signs through `make_sim_signer`")

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return (
            isinstance(public_key, bytes)
            and isinstance(message, bytes)
            and signature == _sim_signature(public_key, message)
        )

    def validate_public_key(self, public_key: bytes) -> None:
        if not isinstance(public_key, bytes) or len(public_key) != self.public_key_size:
            raise InvalidKeyError("a simulation public key is 32 bytes")

    def _point_xy(self, public_key: bytes) -> bytes:
        return public_key + public_key


SIM_SUITE = SimSuite()


def make_sim_signer(public_key: bytes) -> Signer:
    def sign(signing_bytes: bytes) -> bytes:
        return _sim_signature(public_key, SIM_SUITE.hash(signing_bytes))

    return sign


@dataclass(frozen=True, slots=True)
class SimIdentity:
    address: Address
    public_key: bytes
    signer: Signer


def make_identities(crypto: str, seed: int, count: int) -> tuple[CryptoSuite, list[SimIdentity]]:
    """`count` validator identities for `seed`, and the suite that verifies their signatures."""
    if crypto == "sim":
        identities = []
        for index in range(count):
            public_key = hashlib.sha256(b"sim-validator/%d/%d" % (seed, index)).digest()
            identities.append(SimIdentity(compute_sim_address(public_key), public_key, make_sim_signer(public_key)))
        return SIM_SUITE, identities
    if crypto not in CRYPTO_CHOICES:
        raise ValueError(f"crypto must be one of {', '.join(CRYPTO_CHOICES)}, not {crypto!r}")
    suite = get_suite(crypto)
    identities = []
    for index in range(count):
        secret = hashlib.sha256(b"sim-secret/%d/%d" % (seed, index)).digest()
        key = suite.load_private_key(secret)
        address = Address(suite.compute_address(key.public_key))
        identities.append(SimIdentity(address, key.public_key, make_signer(suite, key)))
    return suite, identities
