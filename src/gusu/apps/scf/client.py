"""The SDK side of the scf application: one object per chain, a method per actor's action.

`ScfApp(Contracts(client))` (blocking) and `AsyncScfApp(AsyncContracts(client))`
(for the console) sign with the actor's key and wait for the receipt; a refused
transaction raises `TransactionFailedError` carrying the contract's reason.
Reads return the typed records of `gusu.apps.scf.views`.

Trade documents are hashed here, on the client: only their hashes go on chain.
The invoice key is the chain suite's hash of the invoice's code and number
(not of a scanned file, whose bytes change with every scan), so the same invoice
presented by two funders gives the same key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gusu.apps.scf.contract import CONTRACT_NAME, TERM_HARD_MAX_DAYS, get_contract_source
from gusu.apps.scf.views import (
    Enterprise,
    FinancingOffer,
    IssuerStats,
    Payment,
    Settlement,
    TradeDocuments,
    Voucher,
    parse_enterprises,
    parse_issuer_table,
    parse_offer,
    parse_payments,
    parse_settlement,
    parse_voucher,
    parse_vouchers,
)
from gusu.codec import Value, encode
from gusu.crypto import PrivateKey, get_suite
from gusu.errors import ClientError, CodecError
from gusu.ledger.types import Hash
from gusu.sdk.contracts import AsyncContracts, CallOutcome, Contracts
from gusu.sdk.governance import Governance

__all__ = [
    "AccountRole",
    "AsyncScfApp",
    "ScfApp",
    "SetupResult",
    "TradeDocuments",
    "compute_document_hash",
    "compute_invoice_key",
    "read_document_hash",
]

INVOICE_TAG = "gusu.scf.invoice.v1"
DOCUMENT_BYTES_MAX = 1024 * 1024 * 1024
INVOICE_PART_LENGTH_MAX = 32
PAGE_MAX = 100
"""Entries the contract's list views return at most per call (its PAGE_MAX)."""
PAGES_MAX = 64
"""Pages a list is read in at most: more than the contract's 4,096 entries per index need."""


@dataclass(frozen=True, slots=True)
class SetupResult:
    """What `setup` did: deployed (with the code hash), or is waiting for governance to approve the code."""

    name: str
    code_hash: Hash
    deployed: bool
    already_deployed: bool
    proposal_id: int | None
    """The approve_contract proposal made, when the chain requires approval."""


@dataclass(frozen=True, slots=True)
class AccountRole:
    enterprise: str
    role: str


def compute_invoice_key(suite: str, invoice_code: str, invoice_number: str) -> Hash:
    """The invoice-uniqueness key: the suite hash of the canonical ["gusu.scf.invoice.v1", code, number].

    Code and number are the 发票代码 and 发票号码 (an all-electronic invoice has a 20-digit number and an
    empty code), stripped of spaces. The key is deterministic so every funder computes the same one; it is
    therefore not secret: anyone who can guess an invoice number can test it against the chain.
    """
    code, number = invoice_code.strip(), invoice_number.strip()
    for part, what in ((code, "invoice code"), (number, "invoice number")):
        readable = not part or (part.isascii() and part.replace("-", "").isalnum())
        if len(part) > INVOICE_PART_LENGTH_MAX or not readable:
            raise ClientError(f"the {what} is at most {INVOICE_PART_LENGTH_MAX} letters and digits, not {part!r}")
    if not number:
        raise ClientError("give the invoice number (发票号码)")
    return Hash(get_suite(suite).hash(encode([INVOICE_TAG, code, number])))


def compute_document_hash(suite: str, data: bytes) -> Hash:
    """A trade document's hash (the chain suite's hash of the file's bytes, as `gusu evidence` uses)."""
    return Hash(get_suite(suite).hash(data))


def read_document_hash(suite: str, path: Path) -> Hash:
    size = path.stat().st_size
    if size > DOCUMENT_BYTES_MAX:
        raise ClientError(f"{path} is larger than {DOCUMENT_BYTES_MAX} bytes; hash it yourself and pass the hash")
    return compute_document_hash(suite, path.read_bytes())


def _documents(documents: TradeDocuments) -> list[Value]:
    for value in (documents.contract_hash, documents.invoice_hash, documents.delivery_hash):
        if len(value) != 32:
            raise ClientError("a trade document hash is 32 bytes")
    return [documents.contract_hash, documents.invoice_hash, documents.delivery_hash]


def _int(value: Value, what: str) -> int:
    if type(value) is not int:
        raise CodecError(f"{what} must be an integer")
    return value


def _page(value: Value, method: str) -> list[Value]:
    if not isinstance(value, list) or len(value) > PAGE_MAX:
        raise CodecError(f"{method} returns a list of at most {PAGE_MAX} entries")
    return value


def _account(value: Value) -> AccountRole | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(item, str) for item in value):
        raise CodecError("an account record is [enterprise, role]")
    enterprise, role = value
    assert isinstance(enterprise, str) and isinstance(role, str)
    return AccountRole(enterprise, role)


class ScfApp:
    """Receivable vouchers through a blocking `Contracts`; `name` is where the contract is deployed."""

    def __init__(self, contracts: Contracts, name: str = CONTRACT_NAME) -> None:
        self.contracts = contracts
        self.name = name

    # --- set-up ---

    def setup(self, key: PrivateKey, term_max_days: int = 0) -> SetupResult:
        """Deploy the contract from its source; on a governed chain propose its approval first.

        Idempotent: if the same code is already deployed at `name`, nothing is sent. When the approval
        is still pending (other organisations must vote), returns `deployed=False` with the proposal id:
        run setup again once it is approved.
        """
        if not 0 <= term_max_days <= TERM_HARD_MAX_DAYS:
            raise ClientError(f"the term cap is 1 to {TERM_HARD_MAX_DAYS} days (0: the default, 183)")
        source = get_contract_source()
        code_hash = self.contracts.compute_code_hash(source)
        instance = self.contracts.get_instance(self.name)
        if instance is not None:
            if instance.code_hash != code_hash:
                raise ClientError(
                    f"another contract is deployed at {self.name!r}; choose another name for the scf application"
                )
            return SetupResult(self.name, code_hash, True, True, None)
        proposal_id = None
        if self.contracts.is_approval_required() and not self.contracts.is_code_approved(code_hash):
            submitted = Governance(self.contracts.client).propose_approve_contract(key, code_hash)
            proposal_id = submitted.proposal_id
            if not self.contracts.is_code_approved(code_hash):
                return SetupResult(self.name, code_hash, False, False, proposal_id)
        self.contracts.deploy(key, self.name, source, [term_max_days])
        return SetupResult(self.name, code_hash, True, False, proposal_id)

    def _call(self, key: PrivateKey, method: str, args: Sequence[Value]) -> CallOutcome:
        return self.contracts.call(key, self.name, method, args)

    def _view(self, method: str, args: Sequence[Value] = ()) -> Value:
        return self.contracts.view(self.name, method, args)

    def _read_pages(self, method: str, key: Value = None) -> list[Value]:
        """Every entry of a paged list view (keyed by `key`, or not when None), page by page."""
        entries: list[Value] = []
        for page_number in range(PAGES_MAX):
            keys = [] if key is None else [key]
            page = _page(self._view(method, [*keys, page_number * PAGE_MAX, PAGE_MAX]), method)
            entries += page
            if len(page) < PAGE_MAX:
                return entries
        raise CodecError(f"{method} lists more than {PAGES_MAX * PAGE_MAX} entries, more than the contract keeps")

    # --- operator ---

    def admit_enterprise(self, key: PrivateKey, enterprise: str, kind: str, name: str) -> CallOutcome:
        return self._call(key, "admit_enterprise", [enterprise, kind, name])

    def set_enterprise_status(self, key: PrivateKey, enterprise: str, status: str) -> CallOutcome:
        return self._call(key, "set_enterprise_status", [enterprise, status])

    def set_account(self, key: PrivateKey, account: bytes, enterprise: str, role: str) -> CallOutcome:
        return self._call(key, "set_account", [account, enterprise, role])

    def set_term_max_days(self, key: PrivateKey, days: int) -> CallOutcome:
        return self._call(key, "set_term_max_days", [days])

    # --- issuer: maker, checker ---

    def draft(
        self,
        key: PrivateKey,
        supplier: str,
        face_fen: int,
        maturity_ms: int,
        receivable_fen: int,
        documents: TradeDocuments,
    ) -> int:
        outcome = self._call(key, "draft", [supplier, face_fen, maturity_ms, receivable_fen, *_documents(documents)])
        return _int(outcome.value, "the voucher id")

    def approve(self, key: PrivateKey, voucher_id: int) -> CallOutcome:
        return self._call(key, "approve", [voucher_id])

    def cancel(self, key: PrivateKey, voucher_id: int) -> CallOutcome:
        return self._call(key, "cancel", [voucher_id])

    def settle(self, key: PrivateKey, root_id: int, payment_reference: str) -> list[Payment]:
        """Settle a root voucher at maturity; what each current holder is paid."""
        return parse_payments(self._call(key, "settle", [root_id, payment_reference]).value)

    # --- holder ---

    def accept(self, key: PrivateKey, voucher_id: int) -> CallOutcome:
        return self._call(key, "accept", [voucher_id])

    def refuse(self, key: PrivateKey, voucher_id: int) -> CallOutcome:
        return self._call(key, "refuse", [voucher_id])

    def transfer(self, key: PrivateKey, voucher_id: int, to: str, amount_fen: int, documents: TradeDocuments) -> int:
        outcome = self._call(key, "transfer", [voucher_id, to, amount_fen, *_documents(documents)])
        return _int(outcome.value, "the new voucher id")

    def split(self, key: PrivateKey, voucher_id: int, amounts_fen: Sequence[int]) -> list[int]:
        outcome = self._call(key, "split", [voucher_id, list(amounts_fen)])
        if not isinstance(outcome.value, list):
            raise CodecError("split returns the new voucher ids")
        return [_int(item, "a voucher id") for item in outcome.value]

    def accept_financing(self, key: PrivateKey, offer_id: int, total_cost_fen: int) -> int:
        """Accept an offer whose all-in cost is `total_cost_fen` (what the holder was shown; the chain checks)."""
        outcome = self._call(key, "accept_financing", [offer_id, total_cost_fen])
        return _int(outcome.value, "the financed part's id")

    def close_offer(self, key: PrivateKey, offer_id: int) -> CallOutcome:
        return self._call(key, "close_offer", [offer_id])

    # --- funder ---

    def offer_financing(self, key: PrivateKey, voucher_id: int, amount_fen: int, rate_bp: int, fees_fen: int) -> int:
        outcome = self._call(key, "offer_financing", [voucher_id, amount_fen, rate_bp, fees_fen])
        return _int(outcome.value, "the offer id")

    def register_financing(self, key: PrivateKey, offer_id: int, registration_number: str) -> CallOutcome:
        return self._call(key, "register_financing", [offer_id, registration_number])

    # --- anyone (the regulator, a holder) ---

    def mark_overdue(self, key: PrivateKey, root_id: int) -> CallOutcome:
        return self._call(key, "mark_overdue", [root_id])

    # --- reads ---

    def get_voucher(self, voucher_id: int) -> Voucher | None:
        value = self._view("get_voucher_record", [voucher_id])
        return None if value is None else parse_voucher(value)

    def get_lineage(self, voucher_id: int) -> list[Voucher]:
        """Root first, down to the voucher, then every part split off it; not other holders' branches."""
        return parse_vouchers(self._view("get_lineage", [voucher_id]))

    def get_tree(self, root_id: int) -> list[Voucher]:
        return parse_vouchers(self._view("get_tree", [root_id]))

    def list_holdings(self, enterprise: str) -> list[Voucher]:
        return parse_vouchers(self._read_pages("list_holdings", enterprise))

    def list_issued(self, issuer: str) -> list[Voucher]:
        return parse_vouchers(self._read_pages("list_issued", issuer))

    def list_review_queue(self, issuer: str) -> list[Voucher]:
        return parse_vouchers(self._read_pages("list_review_queue", issuer))

    def get_offer(self, offer_id: int) -> FinancingOffer | None:
        value = self._view("get_offer_record", [offer_id])
        return None if value is None else parse_offer(value)

    def list_offers(self, voucher_id: int) -> list[FinancingOffer]:
        return [parse_offer(item) for item in self._read_pages("list_offers", voucher_id)]

    def get_settlement(self, voucher_id: int) -> Settlement | None:
        return parse_settlement(voucher_id, self._view("get_settlement", [voucher_id]))

    def list_issuer_stats(self) -> list[IssuerStats]:
        return parse_issuer_table(self._read_pages("list_issuer_stats"))

    def list_enterprises(self) -> list[Enterprise]:
        return parse_enterprises(self._read_pages("list_enterprises"))

    def get_account(self, account: bytes) -> AccountRole | None:
        return _account(self._view("get_account", [account]))

    def get_term_max_days(self) -> int:
        value = self._view("get_config")
        if not isinstance(value, list) or not value:
            raise CodecError("get_config returns [term_max_days, hard cap]")
        return _int(value[0], "the term cap")

    def list_my_vouchers(self, account: bytes) -> list[Voucher]:
        """The vouchers held by the enterprise `account` acts for (empty for an unregistered account)."""
        role = self.get_account(account)
        return [] if role is None else self.list_holdings(role.enterprise)


class AsyncScfApp:
    """The reads and the issuer's approval of `ScfApp`, awaitable (what the console needs)."""

    def __init__(self, contracts: AsyncContracts, name: str = CONTRACT_NAME) -> None:
        self.contracts = contracts
        self.name = name

    async def _view(self, method: str, args: Sequence[Value] = ()) -> Value:
        return await self.contracts.view(self.name, method, args)

    async def _read_pages(self, method: str, key: Value = None) -> list[Value]:
        entries: list[Value] = []
        for page_number in range(PAGES_MAX):
            keys = [] if key is None else [key]
            page = _page(await self._view(method, [*keys, page_number * PAGE_MAX, PAGE_MAX]), method)
            entries += page
            if len(page) < PAGE_MAX:
                return entries
        raise CodecError(f"{method} lists more than {PAGES_MAX * PAGE_MAX} entries, more than the contract keeps")

    async def is_deployed(self) -> bool:
        return await self.contracts.get_instance(self.name) is not None

    async def approve(self, key: PrivateKey, voucher_id: int) -> CallOutcome:
        return await self.contracts.call(key, self.name, "approve", [voucher_id])

    async def get_account(self, account: bytes) -> AccountRole | None:
        return _account(await self._view("get_account", [account]))

    async def get_voucher(self, voucher_id: int) -> Voucher | None:
        value = await self._view("get_voucher_record", [voucher_id])
        return None if value is None else parse_voucher(value)

    async def get_lineage(self, voucher_id: int) -> list[Voucher]:
        return parse_vouchers(await self._view("get_lineage", [voucher_id]))

    async def get_tree(self, root_id: int) -> list[Voucher]:
        return parse_vouchers(await self._view("get_tree", [root_id]))

    async def list_holdings(self, enterprise: str) -> list[Voucher]:
        return parse_vouchers(await self._read_pages("list_holdings", enterprise))

    async def list_review_queue(self, issuer: str) -> list[Voucher]:
        return parse_vouchers(await self._read_pages("list_review_queue", issuer))

    async def list_offers(self, voucher_id: int) -> list[FinancingOffer]:
        return [parse_offer(item) for item in await self._read_pages("list_offers", voucher_id)]

    async def list_issuer_stats(self) -> list[IssuerStats]:
        return parse_issuer_table(await self._read_pages("list_issuer_stats"))

    async def list_enterprises(self) -> list[Enterprise]:
        return parse_enterprises(await self._read_pages("list_enterprises"))
