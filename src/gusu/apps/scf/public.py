"""The public voucher check (no login): does what a third party was shown match the chain?

A bank or a supplier down the chain who was shown a voucher gives its number, its face value and, if it
was told, the holder (enterprise id or registered name). The answer is "no match" (for a voucher that does
not exist, is not yet issued, or differs in any given fact) or "match" with only the issuer, a public
status and the maturity date, each read from a state-proved voucher record. Nothing else of the record
(holder, amounts held or split off, trade document hashes, makers, checkers, lineage) is revealed to a
visitor; docs/apps/scf.md ("The public check") says why, and that a node operator reads all of it anyway.

Pure functions: the console page (gusu.console.app_scf_public) and `gusu scf verify` fetch the proofs;
`validate_public_proof` checks one against a trust anchor (a block hash, or the validators of a genesis)
without trusting the node that served it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gusu.apps.scf.contract import AMOUNT_MAX_FEN
from gusu.apps.scf.views import Voucher, parse_voucher, parse_yuan
from gusu.codec import decode, encode
from gusu.crypto import CryptoSuite
from gusu.errors import ClientError, CodecError, InvalidStateProofError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.stateproof import (
    CertifiedStateProof,
    validate_certified_state_proof,
    validate_state_proof_in_block,
)

VOUCHERS_PREFIX: Final = b"m/vouchers/"
"""The contract's `Map("vouchers")` keys: the sandbox stores a Map entry at m/<name>/<canonical key>."""
ENTERPRISES_PREFIX: Final = b"m/enterprises/"
VOUCHER_TEXT_LENGTH_MAX: Final = 18
HOLDER_TEXT_LENGTH_MAX: Final = 128
"""An enterprise's registered name is at most 128 characters (the contract's NAME_LENGTH_MAX)."""
PUBLIC_STATUSES: Final = ("pending_accept", "refused", "accepted", "financed", "settled", "overdue")
"""What the public page may say about a matching voucher."""
UNISSUED_STATUSES: Final = ("review", "cancelled")
"""A draft the issuer's checker has not approved (or cancelled) was never a claim: it answers "no match"."""


@dataclass(frozen=True, slots=True)
class PublicClaim:
    """What the visitor was shown: a voucher number and face value, and optionally the holder."""

    voucher_id: int
    face_fen: int
    holder: str
    """Enterprise id or registered name; empty when not given."""


@dataclass(frozen=True, slots=True)
class PublicAnswer:
    """Everything the public check reveals about a matching voucher."""

    issuer: str
    issuer_name: str
    status: str
    """One of PUBLIC_STATUSES."""
    maturity_ms: int


def parse_claim(voucher_text: str, face_text: str, holder_text: str) -> PublicClaim:
    """The visitor's input; ClientError saying what to type for anything malformed."""
    voucher = voucher_text.strip()
    if not voucher.isascii() or not voucher.isdigit() or len(voucher) > VOUCHER_TEXT_LENGTH_MAX or int(voucher) < 1:
        raise ClientError(f"a voucher number is 1 to {VOUCHER_TEXT_LENGTH_MAX} digits, not {voucher_text[:40]!r}")
    face_fen = parse_yuan(face_text)
    holder = holder_text.strip()
    if len(holder) > HOLDER_TEXT_LENGTH_MAX:
        raise ClientError(f"the holder is at most {HOLDER_TEXT_LENGTH_MAX} characters")
    assert face_fen <= AMOUNT_MAX_FEN
    return PublicClaim(int(voucher), face_fen, holder)


def compute_voucher_key(voucher_id: int) -> bytes:
    """The contract-relative state key of voucher `voucher_id` (what a state proof names)."""
    if voucher_id < 1:
        raise ClientError(f"voucher numbers start at 1, found {voucher_id}")
    return VOUCHERS_PREFIX + encode(voucher_id)


def compute_enterprise_key(enterprise: str) -> bytes:
    return ENTERPRISES_PREFIX + encode(enterprise)


def parse_stored_voucher(stored: bytes) -> Voucher:
    """The voucher record from the canonical bytes a state proof carries."""
    try:
        return parse_voucher(decode(stored))
    except CodecError as error:
        raise ClientError(f"the stored voucher record is malformed: {error}") from error


def parse_stored_enterprise_name(stored: bytes | None) -> str:
    """A member's registered name from its stored [name, kind, status] record ("" when absent or malformed)."""
    if stored is None:
        return ""
    try:
        value = decode(stored)
    except CodecError:
        return ""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return value[0]
    return ""


def compute_public_status(voucher: Voucher) -> str | None:
    """The status the public page shows, or None for a draft that was never issued."""
    if voucher.status in UNISSUED_STATUSES:
        return None
    if voucher.status == "finance_pending" or (voucher.status == "held" and voucher.origin == "finance"):
        return "financed"
    if voucher.status == "held":
        return "accepted"
    if voucher.status in PUBLIC_STATUSES:
        return voucher.status
    return None


def is_holder_matching(claimed: str, holder: str, holder_name: str) -> bool:
    """The claimed holder names the voucher's holder: its enterprise id (any case) or its exact registered name."""
    text = claimed.strip()
    return text.lower() == holder.lower() or (holder_name != "" and text == holder_name.strip())


def is_claim_matching(claim: PublicClaim, voucher: Voucher | None, holder_name: str) -> bool:
    """Whether every fact the visitor gave matches the proved record (None: no such voucher)."""
    if voucher is None or voucher.voucher_id != claim.voucher_id or compute_public_status(voucher) is None:
        return False
    if voucher.face_fen != claim.face_fen:
        return False
    return not claim.holder or is_holder_matching(claim.holder, voucher.holder, holder_name)


def compute_public_answer(voucher: Voucher, issuer_name: str) -> PublicAnswer:
    status = compute_public_status(voucher)
    assert status is not None, "only a matching (issued) voucher is answered"
    return PublicAnswer(voucher.issuer, issuer_name, status, voucher.maturity_ms)


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """What a proof is checked against: a block hash the checker trusts, or a validator set (or both)."""

    block_hash: bytes | None
    validators: Sequence[GenesisValidator] | None

    def __post_init__(self) -> None:
        assert self.block_hash is not None or self.validators is not None, "a proof needs something to check against"


def validate_public_proof(
    suite: CryptoSuite, proof: CertifiedStateProof, contract: str, key: bytes, anchor: TrustAnchor
) -> None:
    """Raises InvalidStateProofError unless `proof` proves `contract`'s `key` (value or absence) under `anchor`."""
    if proof.contract != contract or proof.key != key:
        # A node could answer with a proof of another key: valid in itself, but not about this voucher.
        raise InvalidStateProofError(f"the node proved {proof.contract}:{proof.key.hex()}, not the key asked for")
    if anchor.block_hash is not None:
        validate_state_proof_in_block(suite, proof, anchor.block_hash)
    if anchor.validators is not None:
        validate_certified_state_proof(suite, proof, anchor.validators)
