"""Equivocation evidence, kept on disk: what a validator signed twice, for operators and governance.

The consensus engine reports a validator that signed two different messages
of one kind for one height and round (`ReportEvidence`). The node appends
each report here, fsynced, so it survives restarts, and serves it through the
API (`Node.get_evidence`). The log is bounded: past `records_max` records the
oldest are dropped when the log is compacted on open.

Record format: the canonical encoding of
``[TAG, recorded_at_height, height, round, kind, validator, first, second]``
with the two conflicting messages in their canonical message encoding
(`gusu.consensus.encode_message`), so anyone can check both signatures.
"""

from __future__ import annotations

from pathlib import Path

from gusu.codec import decode_list, encode, expect_bytes, expect_str, expect_uint
from gusu.consensus import encode_message
from gusu.consensus.messages import Equivocation, Proposal, Vote, VoteKind
from gusu.errors import CodecError
from gusu.ledger.types import Address, Height, Round
from gusu.node.journal import RecordLog, read_records
from gusu.node.service import EVIDENCE_KINDS, EvidenceKind, EvidenceRecord

EVIDENCE_FILE_NAME = "evidence.log"
TAG_EVIDENCE = "gusu.evidence.v1"
EVIDENCE_RECORDS_MAX = 10_000


def compute_stored_evidence(evidence: Equivocation, recorded_at_height: Height) -> EvidenceRecord:
    first = evidence.first
    kind: EvidenceKind
    if isinstance(first, Proposal):
        kind, validator = "proposal", first.proposer
    else:
        assert isinstance(first, Vote)
        kind = "prevote" if first.kind is VoteKind.PREVOTE else "precommit"
        validator = first.validator
    return EvidenceRecord(
        recorded_at_height=recorded_at_height,
        height=first.height,
        round=first.round,
        kind=kind,
        validator=validator,
        first=encode_message(evidence.first),
        second=encode_message(evidence.second),
    )


def encode_stored_evidence(item: EvidenceRecord) -> bytes:
    return encode(
        [
            TAG_EVIDENCE,
            item.recorded_at_height,
            item.height,
            item.round,
            item.kind,
            item.validator,
            item.first,
            item.second,
        ]
    )


def decode_stored_evidence(data: bytes) -> EvidenceRecord:
    fields = decode_list(data, TAG_EVIDENCE, 8)
    kind = expect_str(fields[4], "kind", 16)
    if kind not in EVIDENCE_KINDS:
        raise CodecError(f"unknown evidence kind {kind!r}")
    return EvidenceRecord(
        recorded_at_height=Height(expect_uint(fields[1], "recorded height")),
        height=Height(expect_uint(fields[2], "height")),
        round=Round(expect_uint(fields[3], "round")),
        kind=kind,
        validator=Address(expect_bytes(fields[5], "validator")),
        first=expect_bytes(fields[6], "first message"),
        second=expect_bytes(fields[7], "second message"),
    )


class EvidenceLog:
    """The evidence this node has seen, oldest first; append is durable when it returns."""

    def __init__(self, path: Path, records_max: int = EVIDENCE_RECORDS_MAX) -> None:
        self._records_max = records_max
        items: list[EvidenceRecord] = []
        for raw in read_records(path, "evidence log"):
            try:
                items.append(decode_stored_evidence(raw))
            except CodecError:
                continue  # only our own writes; nothing to gain from refusing to start
        self._items = items[-records_max:]
        self._log = RecordLog(path)
        if len(items) > len(self._items):
            self._log.compact(encode_stored_evidence(item) for item in self._items)

    def append(self, evidence: Equivocation, recorded_at_height: Height) -> EvidenceRecord:
        item = compute_stored_evidence(evidence, recorded_at_height)
        self._log.append([encode_stored_evidence(item)])
        self._items.append(item)
        if len(self._items) > 2 * self._records_max:
            self._items = self._items[-self._records_max :]
            self._log.compact(encode_stored_evidence(entry) for entry in self._items)
        return item

    def get_newest(self, limit: int, before_height: Height | None = None) -> list[EvidenceRecord]:
        """Up to `limit` records of heights below `before_height` (if given), newest height first."""
        positions = [
            position
            for position, item in enumerate(self._items)
            if before_height is None or item.height < before_height
        ]
        positions.sort(key=lambda position: (self._items[position].height, position), reverse=True)
        return [self._items[position] for position in positions[:limit]]

    def close(self) -> None:
        self._log.close()
