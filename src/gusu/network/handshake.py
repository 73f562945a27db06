"""The consensus-key proof: what binds a TLS connection to a validator, beyond its certificate.

A node certificate says "organisation O vouches that this TLS key speaks for
validator address A". Two things can make that false: a CA of another
organisation issuing a certificate for A (every organisation CA is trusted
under the chain's root), and a certificate, however it was obtained, held by
someone without A's consensus key. The transport therefore checks, at every
handshake,

1. that O is the organisation genesis assigns to A (`ValidatorCredential`,
   looked up through the `ValidatorLookup` the node passes), and
2. that the peer holds A's consensus key: after the hellos each side signs
   a *key-proof statement* with its consensus key and verifies the other's
   signature against the genesis public key of the address it claims.

The statement (`encode_key_proof_statement`) is the canonical encoding of
``[tag, chain id, genesis hash, signer role, signer address, dialer nonce,
acceptor nonce, dialer certificate hash, acceptor certificate hash]``;
what is signed is its suite hash, as for votes (SM2 with the standard
signer ID on ``sm`` chains, secp256k1 on ``ecdsa`` chains). The nonces are
fresh random bytes each side sends in its hello, and the certificate hashes
are the suite hashes of the DER certificates each side presented in this
TLS handshake. docs/network.md gives the argument why replayed, relayed and
reflected proofs fail, and the one thing this binding does not cover (it
binds to certificates, not to TLS session keys: Python's ssl module has no
keying-material exporter, and tls-unique is undefined for TLS 1.3).

Nothing here reads genesis or key files: the node hands the transport a
`Signer` for its own key and a `ValidatorLookup` for everyone's
(`get_validator_lookup` builds the usual one from a genesis document).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from gusu.codec import encode
from gusu.crypto import CryptoSuite, PrivateKey
from gusu.ledger.genesis import Genesis
from gusu.ledger.types import Address, Hash

TAG_KEY_PROOF_STATEMENT = "gusu.p2p.keyproof.statement.v1"
"""Domain tag: no other signed object of the chain (vote, proposal, transaction) starts with it."""


class Role(enum.StrEnum):
    """Which end of the TCP connection a node is; the statement names the signer's."""

    DIALER = "dialer"
    ACCEPTOR = "acceptor"

    @property
    def other(self) -> Role:
        return Role.ACCEPTOR if self is Role.DIALER else Role.DIALER


@dataclass(frozen=True, slots=True)
class ValidatorCredential:
    """What genesis says about a validator address: who runs it, and the key that speaks for it."""

    organization: str
    """The O= its node certificate must carry (`GenesisValidator.organization`)."""
    public_key: bytes
    """Its consensus public key, in the chain suite's encoding (`GenesisValidator.public_key`)."""


ValidatorLookup: TypeAlias = Callable[[Address], ValidatorCredential | None]
"""The credential of a validator address, or None if that address may not connect."""
Signer: TypeAlias = Callable[[bytes], bytes]
"""Signs a 32-byte suite digest with this node's consensus key (what `CryptoSuite.sign` does)."""
NonceSource: TypeAlias = Callable[[int], bytes]
"""Returns that many random bytes; `secrets.token_bytes` unless a test injects another."""


@dataclass(frozen=True, slots=True)
class HandshakeTranscript:
    """Everything both ends of one connection know after the hellos, named by role, not by side.

    Both ends build the same transcript, so a signature made by one end
    verifies at the other only over this very exchange.
    """

    chain_id: str
    genesis_hash: Hash
    dialer_nonce: bytes
    acceptor_nonce: bytes
    dialer_certificate_hash: Hash
    acceptor_certificate_hash: Hash


def compute_certificate_hash(suite: CryptoSuite, certificate_der: bytes) -> Hash:
    """The suite hash of a DER certificate, as it travels in the TLS handshake."""
    return Hash(suite.hash(certificate_der))


def encode_key_proof_statement(transcript: HandshakeTranscript, role: Role, signer: Address) -> bytes:
    """The canonical bytes a key proof signs (after hashing); see the module docstring."""
    return encode(
        [
            TAG_KEY_PROOF_STATEMENT,
            transcript.chain_id,
            transcript.genesis_hash,
            role.value,
            signer,
            transcript.dialer_nonce,
            transcript.acceptor_nonce,
            transcript.dialer_certificate_hash,
            transcript.acceptor_certificate_hash,
        ]
    )


def compute_key_proof_digest(suite: CryptoSuite, transcript: HandshakeTranscript, role: Role, signer: Address) -> bytes:
    return suite.hash(encode_key_proof_statement(transcript, role, signer))


def create_key_proof(
    suite: CryptoSuite, sign: Signer, transcript: HandshakeTranscript, role: Role, signer: Address
) -> bytes:
    """This node's signature over the statement for `role` and its own address `signer`."""
    return sign(compute_key_proof_digest(suite, transcript, role, signer))


def is_valid_key_proof(
    suite: CryptoSuite,
    public_key: bytes,
    transcript: HandshakeTranscript,
    role: Role,
    signer: Address,
    signature: bytes,
) -> bool:
    """True only if `signature` is `public_key`'s over this transcript, role and signer. Never raises."""
    return suite.verify(public_key, compute_key_proof_digest(suite, transcript, role, signer), signature)


def make_key_signer(suite: CryptoSuite, key: PrivateKey) -> Signer:
    """The `Signer` of a node whose consensus key is loaded in this process."""

    def sign(digest: bytes) -> bytes:
        return suite.sign(key, digest)

    return sign


def get_genesis_trust(genesis: Genesis) -> Callable[[], dict[str, bytes]]:
    """The trusted organisations genesis lists (name -> DER CA), as `P2PNetwork` asks for them.

    Until the node reads them from chain state (governance adds and removes
    organisations), genesis's list is the chain's; an empty list (a
    single-operator chain) makes the transport trust its ``tls_ca`` file.
    """
    trusted = {organization.name: organization.ca_certificate for organization in genesis.organizations}

    def get_trusted() -> dict[str, bytes]:
        return dict(trusted)

    return get_trusted


def get_validator_lookup(genesis: Genesis) -> ValidatorLookup:
    """The lookup of genesis's validators: address -> (organisation, consensus public key)."""
    credentials = {
        validator.address: ValidatorCredential(validator.organization, validator.public_key)
        for validator in genesis.validators
    }
    return credentials.get
