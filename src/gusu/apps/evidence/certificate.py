"""出证 and 核验: the evidence certificate as a JSON document, and its offline verifier.

A certificate holds the record (as JSON), the salt if the content was salted, the block the record was
included in, and the state proof of the record's key at a certified block (the proof's header, its block
hash and the validators' commit certificate). `verify_certificate` trusts nothing in it: it recomputes
everything from the proof and checks the proof against what the verifier trusts, a block hash obtained
elsewhere (another organisation's node, a court's record) or the chain's genesis validators. No node is
asked anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gusu.apps.evidence.records import (
    SALT_BYTES_MAX,
    EvidenceRecord,
    compute_content_hashes,
    compute_record_key,
    format_record_number,
    get_record_number,
    parse_stored_record,
    record_to_json,
)
from gusu.apps.evidence.service import ProvenRecord
from gusu.crypto import get_suite
from gusu.errors import ClientError, CodecError, CryptoError, GusuError, InvalidStateProofError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.jsonview import state_proof_from_json, state_proof_to_json
from gusu.ledger.stateproof import (
    CertifiedStateProof,
    validate_certified_state_proof,
    validate_state_proof_in_block,
)

CERTIFICATE_FORMAT = "gusu.evidence.certificate.v1"
CERTIFICATE_BYTES_MAX = 1024 * 1024
"""A certificate file larger than this is refused before parsing (a proof is a few KiB)."""
URL_LENGTH_MAX = 512


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    problem: str | None
    """None when the check passed."""


@dataclass(frozen=True, slots=True)
class Verification:
    """What `verify_certificate` found: every check, and the record the proof shows (None if it does not)."""

    checks: tuple[Check, ...]
    record: EvidenceRecord | None
    anchored: bool
    """Whether the proof was checked against something the verifier trusts (a block hash or validators)."""

    @property
    def is_valid(self) -> bool:
        return self.anchored and all(check.problem is None for check in self.checks)


def compute_verification_url(base_url: str, number: int) -> str:
    """The public page that shows record `number` (the certificate's QR code opens it)."""
    url = f"{base_url.rstrip('/')}/evidence/verify?record={format_record_number(number)}"
    if len(url) > URL_LENGTH_MAX:
        raise ClientError(f"the verification URL is longer than {URL_LENGTH_MAX} characters; shorten the base URL")
    return url


def build_certificate(
    proven: ProvenRecord,
    *,
    chain_id: str,
    suite: str,
    contract: str,
    issued_at_ms: int,
    verification_url: str = "",
    salt: bytes = b"",
) -> dict[str, Any]:
    """The certificate document of a proven record."""
    return {
        "format": CERTIFICATE_FORMAT,
        "chain_id": chain_id,
        "suite": suite,
        "contract": contract,
        "record_id": format_record_number(proven.record.number),
        "record": record_to_json(proven.record),
        "salt": "0x" + salt.hex() if salt else None,
        "inclusion_block": {"height": int(proven.record.height), "hash": "0x" + proven.inclusion_block_hash.hex()},
        "proof": state_proof_to_json(proven.proof),
        "verification_url": verification_url,
        "issued_at_ms": issued_at_ms,
    }


def format_certificate(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def parse_certificate(text: str | bytes) -> dict[str, Any]:
    """The certificate document from its JSON text; ClientError if it is not one (nothing is verified yet)."""
    if len(text) > CERTIFICATE_BYTES_MAX:
        raise ClientError(f"the certificate is larger than {CERTIFICATE_BYTES_MAX} bytes")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ClientError(f"the certificate is not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != CERTIFICATE_FORMAT:
        raise ClientError(f"the file is not a Gusu evidence certificate (format {CERTIFICATE_FORMAT})")
    return document


def get_proof(document: dict[str, Any]) -> CertifiedStateProof:
    try:
        return state_proof_from_json(document.get("proof"))
    except (CodecError, GusuError) as error:
        raise ClientError(f"the certificate's proof is malformed: {error}") from error


def _salt(document: dict[str, Any]) -> bytes:
    text = document.get("salt")
    if text is None:
        return b""
    if not isinstance(text, str) or not text.startswith("0x") or len(text) > 2 + 2 * SALT_BYTES_MAX:
        raise ClientError(f"the certificate's salt is not 0x hex of at most {SALT_BYTES_MAX} bytes")
    try:
        return bytes.fromhex(text[2:])
    except ValueError as error:
        raise ClientError("the certificate's salt is not hex") from error


def verify_certificate(
    document: dict[str, Any],
    *,
    trusted_block_hash: bytes | None = None,
    validators: Sequence[GenesisValidator] | None = None,
    content: bytes | None = None,
) -> Verification:
    """Check a certificate without any node: the proof against `trusted_block_hash` and/or the commit
    certificate against `validators`, the record it proves against what the certificate states, and, given
    the content, the content's hashes against the proven record."""
    checks: list[Check] = []
    suite_name = document.get("suite")
    try:
        suite = get_suite(suite_name if isinstance(suite_name, str) else "")
    except (CryptoError, GusuError) as error:
        return Verification((Check("the chain's crypto suite", str(error)),), None, False)
    proof = get_proof(document)
    contract = document.get("contract")
    structure_problem: str | None = None
    number = 0
    if proof.contract != contract:
        structure_problem = f"the proof is of contract {proof.contract!r}, the certificate names {contract!r}"
    else:
        try:
            number = get_record_number(proof.key)
        except ClientError as error:
            structure_problem = str(error)
    if structure_problem is None and proof.value is None:
        structure_problem = f"the proof shows that record {number} does not exist at height {proof.height}"
    checks.append(Check("the proof is of an evidence record", structure_problem))
    if trusted_block_hash is not None:
        try:
            validate_state_proof_in_block(suite, proof, trusted_block_hash)
            problem = None
        except InvalidStateProofError as error:
            problem = str(error)
        checks.append(Check(f"the proof leads to the trusted block 0x{bytes(trusted_block_hash).hex()}", problem))
    if validators is not None:
        try:
            validate_certified_state_proof(suite, proof, validators)
            problem = None
        except InvalidStateProofError as error:
            problem = str(error)
        checks.append(Check(f"the block at height {proof.height} is certified by the genesis validators", problem))
    record: EvidenceRecord | None = None
    if structure_problem is None:
        assert proof.value is not None
        try:
            record = parse_stored_record(number, proof.value)
        except ClientError as error:
            checks.append(Check("the proven value is an evidence record", str(error)))
    if record is not None:
        stated = document.get("record")
        proven_json = record_to_json(record)
        problem = None
        if stated != proven_json:
            differing = sorted(
                key for key in proven_json if not isinstance(stated, dict) or stated.get(key) != proven_json[key]
            )
            problem = f"the certificate states other values than the proof shows: {', '.join(differing)}"
        if compute_record_key(record.number) != proof.key:
            problem = "the record key is not canonical"
        name = f"the certificate's record {format_record_number(record.number)} is the proven one"
        checks.append(Check(name, problem))
        if content is not None:
            hashes = compute_content_hashes(content, _salt(document))
            problem = None
            if hashes.sm3 != record.sm3_hash:
                problem = "the file's SM3 hash differs from the record's: this is not the recorded content"
            elif hashes.sha256 != record.sha256_hash:
                problem = "the file's SHA-256 hash differs from the record's"
            checks.append(Check("the file's SM3 and SHA-256 hashes match the record", problem))
    anchored = trusted_block_hash is not None or validators is not None
    return Verification(tuple(checks), record, anchored)
