"""Typed records of the scf contract's views, and the pure helpers around them.

The contract answers with canonical lists; these functions give their fields
names and check their shape (CodecError for anything else, since a view's
answer comes from a node the client need not trust to be well-formed).
"""

from __future__ import annotations

from dataclasses import dataclass

from gusu.apps.scf.contract import AMOUNT_MAX_FEN, DAY_MS
from gusu.codec import Value
from gusu.errors import ClientError, CodecError

VOUCHER_FIELDS = 16
OFFER_FIELDS = 15
STATS_FIELDS = 9
YUAN_TEXT_LENGTH_MAX = 24
RATE_TEXT_LENGTH_MAX = 8


@dataclass(frozen=True, slots=True)
class TradeDocuments:
    """Hashes of the trade background; the documents themselves stay off chain."""

    contract_hash: bytes
    invoice_hash: bytes
    delivery_hash: bytes


@dataclass(frozen=True, slots=True)
class Voucher:
    """One node of a voucher tree: the root as issued, or a part split off by transfer, split or financing."""

    voucher_id: int
    root_id: int
    parent_id: int
    """0 for a root."""
    issuer: str
    holder: str
    face_fen: int
    available_fen: int
    """What the holder still holds: face minus the parts split off."""
    issue_ms: int
    """Block time of the checker's approval (0 while in review)."""
    maturity_ms: int
    status: str
    """review, pending_accept, held, finance_pending, refused, cancelled, settled or overdue."""
    documents: TradeDocuments
    origin: str
    """issue, transfer, split or finance."""
    maker: bytes
    checker: bytes
    created_ms: int
    settled_ms: int

    @property
    def is_root(self) -> bool:
        return self.parent_id == 0

    def get_term_days(self) -> int:
        """The term from issue to maturity, in whole days rounded up (0 before issuance)."""
        if self.issue_ms == 0:
            return 0
        return -(-(self.maturity_ms - self.issue_ms) // DAY_MS)


@dataclass(frozen=True, slots=True)
class FinancingOffer:
    offer_id: int
    voucher_id: int
    funder: str
    amount_fen: int
    rate_bp: int
    """Annual rate in basis points (450 = 4.50 %)."""
    fees_fen: int
    days: int
    interest_fen: int
    total_cost_fen: int
    """interest + fees: the all-in cost the holder confirms when accepting."""
    net_fen: int
    """What the holder receives: amount − total cost."""
    status: str
    """offered, accepted, financed, withdrawn or declined."""
    registration_number: str
    """The 中登网 registration number, once the funder recorded it."""
    child_id: int
    created_ms: int
    offered_by: bytes


@dataclass(frozen=True, slots=True)
class IssuerStats:
    """The regulator's figures for one core enterprise."""

    issuer: str
    name: str
    issued_count: int
    issued_face_fen: int
    outstanding_count: int
    outstanding_face_fen: int
    outstanding_term_ms_sum: int
    overdue_count: int
    overdue_face_fen: int
    settled_count: int
    settled_late_count: int

    def get_average_term_days(self) -> int:
        """Average term of the outstanding vouchers, whole days rounded to nearest (0 when none)."""
        if self.outstanding_count == 0:
            return 0
        return (self.outstanding_term_ms_sum // self.outstanding_count + DAY_MS // 2) // DAY_MS


@dataclass(frozen=True, slots=True)
class Enterprise:
    enterprise: str
    name: str
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class Settlement:
    voucher_id: int
    holder: str
    amount_fen: int
    time_ms: int
    payment_reference: str
    late: bool


@dataclass(frozen=True, slots=True)
class Payment:
    """What a settlement pays one current holder (the money moves off chain, by the payment reference)."""

    voucher_id: int
    holder: str
    amount_fen: int


def parse_payments(value: Value) -> list[Payment]:
    if not isinstance(value, list):
        raise CodecError("settle returns a list of payments")
    payments = []
    for item in value:
        voucher_id, holder, amount = _list(item, 3, "a payment")
        payments.append(Payment(_int(voucher_id, "voucher id"), _str(holder, "holder"), _int(amount, "amount")))
    return payments


def _list(value: Value, count: int, what: str) -> list[Value]:
    if not isinstance(value, list) or len(value) != count:
        raise CodecError(f"{what} must be a list of {count} fields, found {type(value).__name__}")
    return value


def _int(value: Value, what: str) -> int:
    if type(value) is not int:
        raise CodecError(f"{what} must be an integer")
    return value


def _str(value: Value, what: str) -> str:
    if not isinstance(value, str):
        raise CodecError(f"{what} must be text")
    return value


def _bytes(value: Value, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise CodecError(f"{what} must be bytes")
    return value


def parse_voucher(value: Value) -> Voucher:
    fields = _list(value, VOUCHER_FIELDS, "a voucher record")
    documents = _list(fields[10], 3, "a voucher's trade documents")
    return Voucher(
        voucher_id=_int(fields[0], "voucher id"),
        root_id=_int(fields[1], "root id"),
        parent_id=_int(fields[2], "parent id"),
        issuer=_str(fields[3], "issuer"),
        holder=_str(fields[4], "holder"),
        face_fen=_int(fields[5], "face value"),
        available_fen=_int(fields[6], "available amount"),
        issue_ms=_int(fields[7], "issue time"),
        maturity_ms=_int(fields[8], "maturity"),
        status=_str(fields[9], "status"),
        documents=TradeDocuments(*(_bytes(item, "a document hash") for item in documents)),
        origin=_str(fields[11], "origin"),
        maker=_bytes(fields[12], "maker"),
        checker=_bytes(fields[13], "checker"),
        created_ms=_int(fields[14], "creation time"),
        settled_ms=_int(fields[15], "settlement time"),
    )


def parse_vouchers(value: Value) -> list[Voucher]:
    if not isinstance(value, list):
        raise CodecError("a voucher list must be a list")
    return [parse_voucher(item) for item in value]


def parse_offer(value: Value) -> FinancingOffer:
    f = _list(value, OFFER_FIELDS, "a financing offer")
    return FinancingOffer(
        offer_id=_int(f[0], "offer id"),
        voucher_id=_int(f[1], "voucher id"),
        funder=_str(f[2], "funder"),
        amount_fen=_int(f[3], "amount"),
        rate_bp=_int(f[4], "rate"),
        fees_fen=_int(f[5], "fees"),
        days=_int(f[6], "days"),
        interest_fen=_int(f[7], "interest"),
        total_cost_fen=_int(f[8], "total cost"),
        net_fen=_int(f[9], "net amount"),
        status=_str(f[10], "status"),
        registration_number=_str(f[11], "registration number"),
        child_id=_int(f[12], "financed part"),
        created_ms=_int(f[13], "offer time"),
        offered_by=_bytes(f[14], "offering account"),
    )


def parse_issuer_stats(issuer: str, name: str, value: Value) -> IssuerStats:
    f = [_int(item, "an issuer figure") for item in _list(value, STATS_FIELDS, "issuer figures")]
    return IssuerStats(issuer, name, *f)


def parse_issuer_table(value: Value) -> list[IssuerStats]:
    if not isinstance(value, list):
        raise CodecError("the issuer table must be a list")
    rows = []
    for row in value:
        issuer, name, stats = _list(row, 3, "an issuer row")
        rows.append(parse_issuer_stats(_str(issuer, "issuer"), _str(name, "issuer name"), stats))
    return rows


def parse_enterprises(value: Value) -> list[Enterprise]:
    if not isinstance(value, list):
        raise CodecError("the member list must be a list")
    found = []
    for row in value:
        enterprise, record = _list(row, 2, "a member row")
        name, kind, status = _list(record, 3, "a member record")
        found.append(Enterprise(_str(enterprise, "id"), _str(name, "name"), _str(kind, "kind"), _str(status, "status")))
    return found


def parse_settlement(voucher_id: int, value: Value) -> Settlement | None:
    if value is None:
        return None
    holder, amount, time_ms, reference, late = _list(value, 5, "a settlement")
    if not isinstance(late, bool):
        raise CodecError("a settlement's late flag must be a boolean")
    return Settlement(
        voucher_id, _str(holder, "holder"), _int(amount, "amount"), _int(time_ms, "time"), _str(reference, "ref"), late
    )


# --- money as text ------------------------------------------------------------------------------------


def parse_yuan(text: str) -> int:
    """ "1234.56" (yuan, at most two decimals; commas allowed) → 123456 fen, exactly; never a float."""
    cleaned = text.strip().replace(",", "")
    if not cleaned or len(cleaned) > YUAN_TEXT_LENGTH_MAX:
        raise ClientError(f"give an amount in yuan such as 1234.56, not {text!r}")
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() or not whole.isascii() or (fraction and not (fraction.isdigit() and fraction.isascii())):
        raise ClientError(f"give an amount in yuan such as 1234.56, not {text!r}")
    if len(fraction) > 2:
        raise ClientError(f"{text!r} has more than two decimals: the smallest unit is 0.01 yuan (1 fen)")
    fen = int(whole) * 100 + int(fraction.ljust(2, "0") or "0")
    if not 0 < fen <= AMOUNT_MAX_FEN:
        raise ClientError(f"an amount is between 0.01 yuan and {format_yuan(AMOUNT_MAX_FEN)} yuan")
    return fen


def format_yuan(fen: int) -> str:
    """123456 → "1,234.56"."""
    sign = "-" if fen < 0 else ""
    whole, fraction = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{fraction:02d}"


def parse_rate(text: str) -> int:
    """ "4.50" (percent a year, at most two decimals; a trailing % allowed) → 450 basis points."""
    cleaned = text.strip().removesuffix("%")
    whole, _, fraction = cleaned.partition(".")
    valid = whole.isdigit() and whole.isascii() and (not fraction or (fraction.isdigit() and fraction.isascii()))
    if not valid or len(cleaned) > RATE_TEXT_LENGTH_MAX or len(fraction) > 2:
        raise ClientError(f"give the annual rate in percent with at most two decimals, e.g. 4.50, not {text!r}")
    return int(whole) * 100 + int(fraction.ljust(2, "0") or "0")


def format_rate(rate_bp: int) -> str:
    """450 → "4.50%"."""
    whole, fraction = divmod(rate_bp, 100)
    return f"{whole}.{fraction:02d}%"
