"""The `evidence` contract (存证): timestamped proof that a document existed.

A client records a document's hash (never the document) with short
metadata. The chain keeps who recorded it, at which height and block time;
anyone can later check a hash against a claimed submitter. A hash is
recorded once: the first record stands and later attempts revert.

State: ``record/<32-byte hash>`` -> [submitter, height, timestamp_ms, metadata].
"""

from __future__ import annotations

from dataclasses import dataclass

from gusu.codec import Value
from gusu.errors import InvalidArgumentsError
from gusu.execution.context import Context
from gusu.execution.contract import Contract, method, view
from gusu.execution.errors import ContractError
from gusu.ledger.types import Address, Hash, Height

METADATA_LENGTH_MAX = 4096
"""Characters of metadata per record: enough for a title and references, not for the document."""

RECORD_PREFIX = b"record/"


class Evidence(Contract):
    name = "evidence"
    trusted = True

    @method
    def record(self, ctx: Context, document_hash: Hash, metadata: str) -> None:
        """Record `document_hash`; emits Recorded [document_hash, submitter, height]."""
        if len(metadata) > METADATA_LENGTH_MAX:
            raise InvalidArgumentsError(f"metadata is {len(metadata)} characters; the limit is {METADATA_LENGTH_MAX}")
        existing = get_record(ctx, document_hash)
        if existing is not None:
            ctx.revert(
                f"document 0x{document_hash.hex()} is already recorded "
                f"at height {existing.height} by 0x{existing.submitter.hex()}"
            )
        ctx.set_value(RECORD_PREFIX + document_hash, [ctx.sender, ctx.block.height, ctx.block.timestamp_ms, metadata])
        ctx.emit("Recorded", [document_hash, ctx.sender, ctx.block.height])

    @view
    def get(self, ctx: Context, document_hash: Hash) -> Value:
        """[submitter, height, timestamp_ms, metadata], or None if the hash was never recorded."""
        return ctx.get_value(RECORD_PREFIX + document_hash)

    @view
    def verify(self, ctx: Context, document_hash: Hash, submitter: Address) -> bool:
        """Whether `submitter` recorded `document_hash`."""
        existing = get_record(ctx, document_hash)
        return existing is not None and existing.submitter == submitter


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    submitter: Address
    height: Height
    timestamp_ms: int
    metadata: str


def get_record(ctx: Context, document_hash: Hash) -> EvidenceRecord | None:
    value = ctx.get_value(RECORD_PREFIX + document_hash)
    if value is None:
        return None
    match value:
        case [bytes() as submitter, int() as height, int() as timestamp_ms, str() as metadata]:
            return EvidenceRecord(Address(submitter), Height(height), timestamp_ms, metadata)
    # Only this contract writes these keys, so another shape is a bug, not user input.
    raise ContractError(f"evidence record of 0x{document_hash.hex()} is malformed: {value!r}")
