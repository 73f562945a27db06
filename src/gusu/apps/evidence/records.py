"""What the evidence service stores, as typed values: records, hashes of content and metadata, state keys.

Pure functions only (no node): the SDK-side service, the certificate and its offline verifier all read
records through `parse_record`, so one decoder decides what a stored record means.

Salting (docs/apps/evidence.md): a short or guessable content (an ID number, a one-line statement) can be
found from its hash by trying candidates. `compute_content_hashes(content, salt)` hashes `salt || content`
instead; the salt (random, `SALT_BYTES` bytes from `generate_salt`) stays with the depositor and goes into
the certificate, so whoever holds the certificate and the content can check it, and nobody else can guess.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from importlib import resources

from gusu.codec import Value, decode, encode
from gusu.crypto import get_suite
from gusu.errors import ClientError, CodecError
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address, Hash, Height

CONTRACT_NAME = "evidence_service"
"""The name `gusu evidence setup` deploys the contract under (the node's native `evidence` is the demo)."""
CONTRACT_SOURCE_FILE = "contract.py.src"
SALT_BYTES = 16
SALT_BYTES_MAX = 64
DESCRIPTION_LENGTH_MAX = 256
"""Must equal the contract's DESCRIPTION_LENGTH_MAX (a test checks it)."""
METADATA_BYTES_MAX = 16 * 1024
"""Encoded metadata the client hashes; only the hash goes on chain."""
CONTENT_BYTES_MAX = 1024 * 1024 * 1024
"""Largest file the client hashes (1 GiB): a limit, so a typo cannot hash a disk."""
RECORDS_PREFIX = b"m/records/"
"""The sandbox's key prefix of the contract's `Map("records")` (gusu.execution.sandbox.runtime.Map)."""
WITNESS_KINDS = ("notary", "arbitration", "court", "forensic")
RECORD_FIELDS = 13
PAGE_SIZE_MAX = 8
"""Records per page of the contract's list views; must equal the contract's PAGE_SIZE_MAX (a test checks it)."""
PAGES_MAX = 1_000_000
"""Highest page number a client asks for (a limit on what a URL or a command line can name)."""


@dataclass(frozen=True, slots=True)
class ContentHashes:
    """SM3 (the record's key hash) and SHA-256 (for tools outside the SM world) of `salt || content`."""

    sm3: Hash
    sha256: Hash
    salt: bytes


@dataclass(frozen=True, slots=True)
class Attestation:
    organization: str
    kind: str
    witness: Address
    height: Height
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """One record as the contract stores it (record numbers start at 1; 0 means none)."""

    number: int
    sm3_hash: Hash
    sha256_hash: Hash
    metadata_hash: Hash
    submitter: Address
    organization: str
    """The submitter's governance organisation at submission ("" on a chain without governance)."""
    height: Height
    timestamp_ms: int
    transaction_id: Hash
    description: str
    supersedes: int
    superseded_by: int
    attestations: tuple[Attestation, ...]
    witnessed_height: Height
    """The height at which the attestations reached the threshold; 0 while they have not."""

    @property
    def is_witnessed(self) -> bool:
        return self.witnessed_height > 0

    @property
    def is_superseded(self) -> bool:
        return self.superseded_by != 0


def generate_salt() -> bytes:
    """A fresh random salt for low-entropy content."""
    return secrets.token_bytes(SALT_BYTES)


def validate_salt(salt: bytes) -> None:
    if len(salt) > SALT_BYTES_MAX:
        raise ClientError(f"a salt is at most {SALT_BYTES_MAX} bytes, found {len(salt)}")


def compute_content_hashes(content: bytes, salt: bytes = b"") -> ContentHashes:
    """The hashes the chain records for `content` (salted when `salt` is not empty)."""
    validate_salt(salt)
    if len(content) > CONTENT_BYTES_MAX:
        raise ClientError(f"the content is {len(content)} bytes; the client hashes at most {CONTENT_BYTES_MAX}")
    data = salt + content
    return ContentHashes(Hash(get_suite("sm").hash(data)), Hash(hashlib.sha256(data).digest()), salt)


def compute_metadata_bytes(metadata: dict[str, str]) -> bytes:
    """The canonical bytes of the metadata (title, author, capture environment...): sorted compact JSON."""
    encoded = json.dumps(metadata, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    if len(encoded) > METADATA_BYTES_MAX:
        raise ClientError(f"the metadata is {len(encoded)} bytes encoded; at most {METADATA_BYTES_MAX}")
    return encoded


def compute_metadata_hash(metadata: dict[str, str]) -> Hash:
    """SM3 of `compute_metadata_bytes(metadata)`: what the record's metadata hash is."""
    return Hash(get_suite("sm").hash(compute_metadata_bytes(metadata)))


def compute_record_key(number: int) -> bytes:
    """The contract-relative state key of record `number` (what a state proof names)."""
    if number < 1:
        raise ClientError(f"record numbers start at 1, found {number}")
    return RECORDS_PREFIX + encode(number)


def get_record_number(key: bytes) -> int:
    if not key.startswith(RECORDS_PREFIX):
        raise ClientError("the state key is not an evidence record's key")
    try:
        number = decode(key[len(RECORDS_PREFIX) :])
    except CodecError as error:
        raise ClientError(f"the evidence record key is not canonical: {error}") from error
    if type(number) is not int or number < 1:
        raise ClientError("the evidence record key does not hold a record number")
    return number


def format_record_number(number: int) -> str:
    """The 存证编号 shown to people: EV- and the record number, zero-padded to 8 digits."""
    return f"EV-{number:08d}"


def parse_record_number(text: str) -> int:
    """A record number from "EV-00000012", "ev-12" or "12"."""
    cleaned = text.strip().upper()
    if cleaned.startswith("EV-"):
        cleaned = cleaned[3:]
    if not cleaned.isdigit() or len(cleaned) > 18 or int(cleaned) < 1:
        raise ClientError(f"{text!r} is not a record number; give EV-00000012 or 12")
    return int(cleaned)


def _hash(value: Value, what: str) -> Hash:
    if type(value) is not bytes or len(value) != HASH_SIZE:
        raise ClientError(f"the record's {what} is not a 32-byte hash")
    return Hash(value)


def _address(value: Value, what: str) -> Address:
    if type(value) is not bytes or len(value) != ADDRESS_SIZE:
        raise ClientError(f"the record's {what} is not a 20-byte address")
    return Address(value)


def _uint(value: Value, what: str) -> int:
    if type(value) is not int or value < 0:
        raise ClientError(f"the record's {what} is not a non-negative integer")
    return value


def _text(value: Value, what: str) -> str:
    if type(value) is not str:
        raise ClientError(f"the record's {what} is not text")
    return value


def parse_attestation(value: Value) -> Attestation:
    if not isinstance(value, list) or len(value) != 5:
        raise ClientError("an attestation is not [organization, kind, witness, height, time]")
    organization, kind, witness, height, timestamp_ms = value
    return Attestation(
        _text(organization, "witness organisation"),
        _text(kind, "witness kind"),
        _address(witness, "witness"),
        Height(_uint(height, "attestation height")),
        _uint(timestamp_ms, "attestation time"),
    )


def parse_record(number: int, value: Value) -> EvidenceRecord:
    """Record `number` from its stored value; ClientError for anything the contract would not store."""
    if not isinstance(value, list) or len(value) != RECORD_FIELDS:
        raise ClientError(f"record {number} does not have the evidence service's {RECORD_FIELDS} fields")
    attestations = value[11]
    if not isinstance(attestations, list):
        raise ClientError(f"record {number}'s attestations are not a list")
    return EvidenceRecord(
        number=number,
        sm3_hash=_hash(value[0], "SM3 hash"),
        sha256_hash=_hash(value[1], "SHA-256 hash"),
        metadata_hash=_hash(value[2], "metadata hash"),
        submitter=_address(value[3], "submitter"),
        organization=_text(value[4], "organisation"),
        height=Height(_uint(value[5], "height")),
        timestamp_ms=_uint(value[6], "time"),
        transaction_id=_hash(value[7], "transaction id"),
        description=_text(value[8], "description"),
        supersedes=_uint(value[9], "supersedes link"),
        superseded_by=_uint(value[10], "superseded-by link"),
        attestations=tuple(parse_attestation(item) for item in attestations),
        witnessed_height=Height(_uint(value[12], "witnessed height")),
    )


@dataclass(frozen=True, slots=True)
class RecordPage:
    """One page of a submitter's or an organisation's records, newest first (`list_by_submitter`)."""

    total: int
    page: int
    page_size: int
    records: tuple[EvidenceRecord, ...]

    @property
    def pages(self) -> int:
        """Number of pages (at least 1, so an empty list still has its page 1)."""
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True, slots=True)
class PendingPage:
    """Records awaiting attestation, newest first (`list_pending`); `next_before` 0: no older ones."""

    next_before: int
    records: tuple[EvidenceRecord, ...]


def validate_page(page: int, page_size: int) -> None:
    if not 1 <= page <= PAGES_MAX:
        raise ClientError(f"the page is 1 to {PAGES_MAX}")
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ClientError(f"a page holds 1 to {PAGE_SIZE_MAX} records")


def _numbered_records(value: Value, limit: int, what: str) -> tuple[EvidenceRecord, ...]:
    if not isinstance(value, list) or len(value) > limit:
        raise ClientError(f"the evidence contract's {what} is not a list of at most {limit} records")
    found = []
    for row in value:
        if not isinstance(row, list) or len(row) != 2 or type(row[0]) is not int or row[0] < 1:
            raise ClientError(f"the evidence contract's {what} holds a row that is not [number, record]")
        found.append(parse_record(row[0], row[1]))
    return tuple(found)


def parse_record_page(page: int, page_size: int, value: Value) -> RecordPage:
    """A `list_by_submitter` / `list_by_organization` answer; ClientError for any other shape."""
    if not isinstance(value, list) or len(value) != 2 or type(value[0]) is not int or value[0] < 0:
        raise ClientError("the evidence contract's record list answered in an unknown shape")
    return RecordPage(value[0], page, page_size, _numbered_records(value[1], page_size, "record list"))


def parse_pending_page(limit: int, value: Value) -> PendingPage:
    """A `list_pending` answer; ClientError for any other shape."""
    if not isinstance(value, list) or len(value) != 2 or type(value[0]) is not int or value[0] < 0:
        raise ClientError("the evidence contract's pending list answered in an unknown shape")
    return PendingPage(value[0], _numbered_records(value[1], limit, "pending list"))


def parse_stored_record(number: int, stored: bytes) -> EvidenceRecord:
    """Record `number` from the canonical bytes a state proof carries."""
    try:
        value = decode(stored)
    except CodecError as error:
        raise ClientError(f"record {number} is not a canonical encoding: {error}") from error
    return parse_record(number, value)


def record_to_json(record: EvidenceRecord) -> dict[str, object]:
    """The record as JSON (0x hex for bytes), for certificates, the CLI's --json and the console."""
    return {
        "number": record.number,
        "record_id": format_record_number(record.number),
        "sm3_hash": "0x" + record.sm3_hash.hex(),
        "sha256_hash": "0x" + record.sha256_hash.hex(),
        "metadata_hash": "0x" + record.metadata_hash.hex(),
        "submitter": "0x" + record.submitter.hex(),
        "organization": record.organization,
        "height": int(record.height),
        "timestamp_ms": record.timestamp_ms,
        "transaction_id": "0x" + record.transaction_id.hex(),
        "description": record.description,
        "supersedes": record.supersedes,
        "superseded_by": record.superseded_by,
        "witnessed_height": int(record.witnessed_height),
        "attestations": [
            {
                "organization": item.organization,
                "kind": item.kind,
                "witness": "0x" + item.witness.hex(),
                "height": int(item.height),
                "timestamp_ms": item.timestamp_ms,
            }
            for item in record.attestations
        ],
    }


def load_contract_source() -> str:
    """The evidence service's contract, as `gusu evidence setup` deploys it."""
    return resources.files(__package__).joinpath(CONTRACT_SOURCE_FILE).read_text(encoding="utf-8")
