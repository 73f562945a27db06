"""The evidence service through a node (存证, 取证): set up, submit, attest, supersede, read with a state proof.

`EvidenceService(client)` wraps the deployed contract (`records.CONTRACT_NAME` unless told otherwise).
Submitting hashes the content on this machine; only hashes leave it. `get_proven_record` reads a record
with the state proof of its key at a block the validators have certified, which is what a certificate
carries (gusu.apps.evidence.certificate).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gusu.apps.evidence.records import (
    CONTRACT_NAME,
    DESCRIPTION_LENGTH_MAX,
    PAGE_SIZE_MAX,
    WITNESS_KINDS,
    ContentHashes,
    EvidenceRecord,
    PendingPage,
    RecordPage,
    compute_content_hashes,
    compute_metadata_hash,
    compute_record_key,
    load_contract_source,
    parse_pending_page,
    parse_record,
    parse_record_page,
    parse_stored_record,
    validate_page,
)
from gusu.codec import Value
from gusu.crypto import PrivateKey
from gusu.errors import ClientError
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.ledger.types import Address, Hash
from gusu.sdk import Client, Contracts, Governance
from gusu.sdk.contracts import CallOutcome

PROOF_WAIT_S_MAX = 60.0
"""How long `get_proven_record` waits for the block after the record's last change to be certified."""
POLL_INTERVAL_S = 0.2


@dataclass(frozen=True, slots=True)
class SetupResult:
    contract: str
    code_hash: Hash
    approved_by_proposal: int | None
    """The approve_contract proposal this setup made (None: approval was not needed or already given)."""


@dataclass(frozen=True, slots=True)
class Submission:
    number: int
    is_new: bool
    """False when the content was already recorded: `number` is the existing record."""
    hashes: ContentHashes
    metadata_hash: Hash
    outcome: CallOutcome


@dataclass(frozen=True, slots=True)
class ProvenRecord:
    record: EvidenceRecord
    proof: CertifiedStateProof
    inclusion_block_hash: Hash
    """The hash of the block at the record's height (as the node reports it; the proof's block is what is checked)."""


def validate_description(description: str) -> None:
    if len(description) > DESCRIPTION_LENGTH_MAX:
        raise ClientError(f"the description is {len(description)} characters; at most {DESCRIPTION_LENGTH_MAX}")


class EvidenceService:
    """The evidence contract through a blocking `Client`."""

    def __init__(self, client: Client, contract: str = CONTRACT_NAME, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.contract = contract
        self.contracts = Contracts(client, timeout_s=timeout_s)

    def is_deployed(self) -> bool:
        return self.contracts.get_instance(self.contract) is not None

    def setup(self, key: PrivateKey, threshold: int) -> SetupResult:
        """Deploy the contract from its source (approving its code hash first where governance requires it,
        which the key's organisation decides alone only on a one-organisation chain)."""
        source = load_contract_source()
        code_hash = self.contracts.compute_code_hash(source)
        proposal: int | None = None
        if self.contracts.is_approval_required() and not self.contracts.is_code_approved(code_hash):
            submitted = Governance(self.client).propose_approve_contract(key, code_hash)
            proposal = submitted.proposal_id
            if not self.contracts.is_code_approved(code_hash):
                raise ClientError(
                    f"proposal {proposal} to approve the evidence contract (code hash 0x{code_hash.hex()}) "
                    "needs the other organisations' votes (gusu gov vote); run setup again once it is approved"
                )
        self.contracts.deploy(key, self.contract, source, [threshold])
        return SetupResult(self.contract, code_hash, proposal)

    def submit(
        self,
        key: PrivateKey,
        content: bytes,
        metadata: dict[str, str],
        description: str = "",
        salt: bytes = b"",
    ) -> Submission:
        """Record `content` (hashed here, salted with `salt` if given); the same content returns its record."""
        validate_description(description)
        hashes = compute_content_hashes(content, salt)
        metadata_hash = compute_metadata_hash(metadata)
        existing = self.find(hashes.sm3)
        outcome = self._call(key, "submit", [hashes.sm3, hashes.sha256, metadata_hash, description])
        number = outcome.value
        if type(number) is not int:
            raise ClientError("the evidence contract's submit did not return a record number")
        return Submission(number, existing == 0, hashes, metadata_hash, outcome)

    def supersede(
        self,
        key: PrivateKey,
        old_number: int,
        content: bytes,
        metadata: dict[str, str],
        description: str = "",
        salt: bytes = b"",
    ) -> Submission:
        """Record a corrected version of the key's own record `old_number`; the old record stays, linked."""
        validate_description(description)
        hashes = compute_content_hashes(content, salt)
        metadata_hash = compute_metadata_hash(metadata)
        outcome = self._call(key, "supersede", [old_number, hashes.sm3, hashes.sha256, metadata_hash, description])
        number = outcome.value
        if type(number) is not int:
            raise ClientError("the evidence contract's supersede did not return a record number")
        return Submission(number, True, hashes, metadata_hash, outcome)

    def attest(self, key: PrivateKey, number: int) -> int:
        """The key's witness organisation attests record `number`; the number of attestations it has now."""
        value = self._call(key, "attest", [number]).value
        if type(value) is not int:
            raise ClientError("the evidence contract's attest did not return a count")
        return value

    def add_witness(self, key: PrivateKey, witness: Address, organization: str, kind: str) -> None:
        if kind not in WITNESS_KINDS:
            raise ClientError(f"a witness kind is one of {', '.join(WITNESS_KINDS)}, not {kind!r}")
        self._call(key, "add_witness", [bytes(witness), organization, kind])

    def remove_witness(self, key: PrivateKey, witness: Address) -> None:
        self._call(key, "remove_witness", [bytes(witness)])

    def set_threshold(self, key: PrivateKey, threshold: int) -> None:
        self._call(key, "set_threshold", [threshold])

    def find(self, content_hash: bytes) -> int:
        """The record of an SM3 or SHA-256 content hash; 0 when there is none."""
        value = self.contracts.view(self.contract, "find", [bytes(content_hash)])
        if type(value) is not int:
            raise ClientError("the evidence contract's find did not return a record number")
        return value

    def get_record(self, number: int) -> EvidenceRecord | None:
        """Record `number` as the node reports it (unproven: use `get_proven_record` to check it)."""
        value = self.contracts.view(self.contract, "get_record", [number])
        return None if value is None else parse_record(number, value)

    def get_latest(self, number: int) -> int:
        value = self.contracts.view(self.contract, "get_latest", [number])
        if type(value) is not int:
            raise ClientError("the evidence contract's get_latest did not return a record number")
        return value

    def get_settings(self) -> tuple[Address | None, int, int]:
        """(admin, threshold, number of records)."""
        value = self.contracts.view(self.contract, "get_settings", [])
        match value:
            case [bytes() | None as admin, int() as threshold, int() as count]:
                return (None if admin is None else Address(admin)), threshold, count
        raise ClientError("the evidence contract's get_settings answered in an unknown shape")

    def list_by_submitter(self, submitter: Address, page: int = 1, page_size: int = PAGE_SIZE_MAX) -> RecordPage:
        """`submitter`'s records, newest first: page `page` (from 1) of `page_size` (at most PAGE_SIZE_MAX)."""
        validate_page(page, page_size)
        value = self.contracts.view(self.contract, "list_by_submitter", [bytes(submitter), page, page_size])
        return parse_record_page(page, page_size, value)

    def list_by_organization(self, organization: str, page: int = 1, page_size: int = PAGE_SIZE_MAX) -> RecordPage:
        """The records of `organization`'s accounts, newest first."""
        validate_page(page, page_size)
        value = self.contracts.view(self.contract, "list_by_organization", [organization, page, page_size])
        return parse_record_page(page, page_size, value)

    def list_pending(self, before: int = 0, limit: int = PAGE_SIZE_MAX, witness: Address | None = None) -> PendingPage:
        """Records below number `before` (0: from the newest) still short of the threshold, newest first; with
        `witness`, those that witness may still attest."""
        validate_page(1, limit)
        args: list[Value] = [before, limit, None if witness is None else bytes(witness)]
        return parse_pending_page(limit, self.contracts.view(self.contract, "list_pending", args))

    def get_index_status(self) -> tuple[int, int]:
        """(records indexed, records): the lists miss the records in between until they are indexed."""
        match self.contracts.view(self.contract, "get_index_status", []):
            case [int() as indexed, int() as count]:
                return indexed, count
        raise ClientError("the evidence contract's get_index_status answered in an unknown shape")

    def index_pending(self, key: PrivateKey, limit: int) -> int:
        """Index up to `limit` records stored before the index existed; returns how many were indexed."""
        value = self._call(key, "index_pending", [limit]).value
        return value if type(value) is int else 0

    def get_witness(self, witness: Address) -> tuple[str, str] | None:
        match self.contracts.view(self.contract, "get_witness", [bytes(witness)]):
            case None:
                return None
            case [str() as organization, str() as kind]:
                return organization, kind
        raise ClientError("the evidence contract's get_witness answered in an unknown shape")

    def get_proven_record(self, number: int, *, wait_s: float = PROOF_WAIT_S_MAX) -> ProvenRecord:
        """Record `number` with the state proof of its key at a block whose commit certificate exists.

        A node may hold the tip's certificate only once the next block commits, so this proves at the tip when
        its certificate is in, else at the block before, waiting (up to `wait_s`) for one at or after the
        record's last change.
        """
        key = compute_record_key(number)
        current = self.get_record(number)
        if current is None:
            raise ClientError(f"there is no record {number} in {self.contract}")
        needed = max([int(current.height), *(int(item.height) for item in current.attestations)])
        deadline = time.monotonic() + wait_s
        answer: CertifiedStateProof | None = None
        while answer is None:
            tip = int(self.client.block_number())
            # The newest certified height at or after the last change: the tip if its certificate is in, else the
            # block before it.
            for height in (tip, tip - 1):
                if height >= needed:
                    candidate = self.client.get_state_proof(self.contract, key, height)
                    if candidate.certificate is not None and candidate.value is not None:
                        answer = candidate
                        break
            if answer is not None:
                break
            if time.monotonic() > deadline:
                raise ClientError(
                    f"the chain has not certified a block after record {number}'s last change (height {needed}) "
                    f"within {wait_s:.0f} s; try again when the chain has moved on"
                )
            time.sleep(POLL_INTERVAL_S)
        assert answer.value is not None
        record = parse_stored_record(number, answer.value)
        inclusion = self.client.get_block(int(record.height))
        return ProvenRecord(record, answer, inclusion.block_hash)

    def _call(self, key: PrivateKey, method: str, args: list[Value]) -> CallOutcome:
        return self.contracts.call(key, self.contract, method, list(args))
