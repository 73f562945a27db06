"""The traceability application's client: one method per actor's action, typed views, the consumer report.

`TraceClient` (blocking, over `gusu.sdk.Contracts`) serves the brand, packer, QC inspector, shipper,
consignee/retailer, consumer and regulator; `get_item_report` and `get_item_report_async` build what the
consumer page shows from the chain's views, checking the code's signature offline first. The field
positions of the contract's records are mirrored here (B_*, I_* in contract.py.src).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Generic, TypeVar

from gusu.apps.trace.codes import (
    CODE_BYTES,
    ItemCode,
    TraceError,
    compute_leaf,
    is_code_authentic,
    validate_code_authentic,
    validate_identifier,
)
from gusu.codec import Value
from gusu.crypto import PrivateKey
from gusu.ledger.types import Address, Hash
from gusu.sdk.contracts import CallOutcome, Contracts, Deployed

if TYPE_CHECKING:
    from gusu.apps.trace.export import BatchExport

CONTRACT_NAME = "trace"
CONTRACT_FILE = "contract.py.src"
CODES_PER_TRANSACTION_MAX = 500
"""Leaves per `issue_codes` transaction (the contract's limit; storage writes per call are capped at 1,024)."""
HISTORY_PAGE = 100
SCAN_HISTORY_MAX = 64
ROLES = ("packer", "qc", "logistics", "distributor", "retailer")
LINEAGE_DEPTH_MAX = 16
LIST_PAGE_MAX = 20
"""Entries per page of list_brands / list_products / list_batches (the contract's LIST_PAGE_MAX)."""


def get_contract_source() -> str:
    """The contract's source, deployed by `TraceClient.deploy` (`gusu trace setup`)."""
    return (resources.files("gusu.apps.trace") / CONTRACT_FILE).read_text(encoding="utf-8")


# --- views -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrandView:
    brand: str
    name: str
    owner: Address
    public_key: bytes
    credit_code: str
    registered_height: int


@dataclass(frozen=True, slots=True)
class ProductView:
    product: str
    brand: str
    name: str
    gtin: str
    qc_level_required: int
    shelf_life_days: int


@dataclass(frozen=True, slots=True)
class Segment:
    code_set: str
    first_index: int
    end_index: int


@dataclass(frozen=True, slots=True)
class BatchView:
    batch: str
    brand: str
    product: str
    quantity: int
    segments: tuple[Segment, ...]
    custodian: Address
    consignee: Address | None
    status: str
    qc_level: int
    qc_report_hash: Hash | None
    events_count: int
    parents: tuple[str, ...]
    children: tuple[str, ...]
    sold: int
    activated: int
    recalled: bool
    alert: bool
    depth: int
    production_date: str
    created_height: int
    hold: str | None
    """The recalled ancestor whose recall put this batch on hold, if any."""
    expires_ms: int = 0
    """Block time at which the batch expires (packing time plus the product's shelf life); 0: never."""

    def is_expired_at(self, block_time_ms: int) -> bool:
        """Whether the batch has expired at a block time (the chain's time, never a local clock)."""
        return self.expires_ms != 0 and block_time_ms >= self.expires_ms


@dataclass(frozen=True, slots=True)
class BatchEvent:
    batch: str
    kind: str
    actor: Address
    height: int
    timestamp_ms: int
    transaction_id: Hash
    detail: str


@dataclass(frozen=True, slots=True)
class ScanView:
    height: int
    timestamp_ms: int
    location: str
    transaction_id: Hash
    activate: bool


@dataclass(frozen=True, slots=True)
class AlertView:
    """An entry of the regulator's list: a mass-balance violation or a suspect code."""

    number: int
    kind: str
    batch: str | None
    detail: str
    height: int
    timestamp_ms: int
    transaction_id: Hash


@dataclass(frozen=True, slots=True)
class ScanResult:
    queries: int
    first_timestamp_ms: int
    first_location: str
    suspect: bool
    recalled: bool
    transaction_id: Hash
    expired: bool = False


@dataclass(frozen=True, slots=True)
class ItemReport:
    """Everything the consumer page shows for one scanned code."""

    code: ItemCode
    authentic: bool
    """The brand's signature on the code verifies (False: a forged label; nothing else is looked up)."""
    issued: bool
    """The chain knows the code (False with `authentic`: the brand signed it but never registered it)."""
    brand: BrandView | None
    product: ProductView | None
    path: tuple[BatchView, ...]
    """The batches the item went through, origin first, current last."""
    timeline: tuple[BatchEvent, ...]
    queries: int
    first_timestamp_ms: int | None
    first_location: str | None
    activated_timestamp_ms: int | None
    activated_location: str | None
    suspect: bool
    recalled: bool
    scans: tuple[ScanView, ...]
    code_index: int | None = None
    expired: bool = False
    """The item's current batch has expired at the latest block's time (the contract's `get_item`)."""


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """A row of `list_batches`: what a list shows; `get_batch` reads the whole record."""

    batch: str
    quantity: int
    status: str
    custodian: Address
    expires_ms: int
    expired: bool
    """At the latest block's time."""
    recalled: bool
    hold: str | None


@dataclass(frozen=True, slots=True)
class ListPage(Generic[T]):
    """One page of a contract list: `total` entries in all, `entries` from position `start`."""

    total: int
    start: int
    entries: tuple[T, ...]


def _text(value: Value, what: str) -> str:
    if not isinstance(value, str):
        raise TraceError(f"the trace contract returned a malformed {what}")
    return value


def _int(value: Value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TraceError(f"the trace contract returned a malformed {what}")
    return value


def _bytes(value: Value, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise TraceError(f"the trace contract returned a malformed {what}")
    return value


def _list(value: Value, length: int, what: str) -> list[Value]:
    if not isinstance(value, list) or len(value) < length:
        raise TraceError(f"the trace contract returned a malformed {what}")
    return value


def parse_brand(brand: str, value: Value) -> BrandView | None:
    if value is None:
        return None
    fields = _list(value, 5, "brand")
    return BrandView(brand, _text(fields[0], "brand"), Address(_bytes(fields[1], "brand")),
                     _bytes(fields[2], "brand"), _text(fields[3], "brand"), _int(fields[4], "brand"))  # fmt: skip


def parse_product(product: str, value: Value) -> ProductView | None:
    if value is None:
        return None
    fields = _list(value, 5, "product")
    return ProductView(product, _text(fields[0], "product"), _text(fields[1], "product"),
                       _text(fields[2], "product"), _int(fields[3], "product"), _int(fields[4], "product"))  # fmt: skip


def _strings(value: Value, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TraceError(f"the trace contract returned a malformed {what}")
    return tuple(_text(item, what) for item in value)


def parse_batch(batch: str, value: Value) -> BatchView | None:
    if value is None:
        return None
    f = _list(value, 20, "batch")
    segments = []
    for item in _list(f[3], 0, "batch"):
        segment = _list(item, 3, "batch segment")
        segments.append(Segment(_text(segment[0], "segment"), _int(segment[1], "segment"), _int(segment[2], "segment")))
    consignee = None if f[5] is None else Address(_bytes(f[5], "batch"))
    report = None if f[8] is None else Hash(_bytes(f[8], "batch"))
    return BatchView(
        batch=batch,
        brand=_text(f[0], "batch"),
        product=_text(f[1], "batch"),
        quantity=_int(f[2], "batch"),
        segments=tuple(segments),
        custodian=Address(_bytes(f[4], "batch")),
        consignee=consignee,
        status=_text(f[6], "batch"),
        qc_level=_int(f[7], "batch"),
        qc_report_hash=report,
        events_count=_int(f[9], "batch"),
        parents=_strings(f[10], "batch"),
        children=_strings(f[11], "batch"),
        sold=_int(f[12], "batch"),
        activated=_int(f[13], "batch"),
        recalled=f[14] is True,
        alert=f[15] is True,
        depth=_int(f[16], "batch"),
        production_date=_text(f[17], "batch"),
        created_height=_int(f[18], "batch"),
        hold=None if f[19] is None else _text(f[19], "batch"),
        expires_ms=_int(f[20], "batch") if len(f) > 20 else 0,
    )


def _list_page(value: Value, what: str) -> tuple[int, list[list[Value]]]:
    f = _list(value, 2, what)
    rows = _list(f[1], 0, what)
    if len(rows) > LIST_PAGE_MAX:
        raise TraceError(f"the trace contract returned more than {LIST_PAGE_MAX} entries in a {what}")
    return _int(f[0], what), [_list(row, 2, what) for row in rows]


def parse_brand_page(start: int, value: Value) -> ListPage[BrandView]:
    total, rows = _list_page(value, "brand list")
    found = [parse_brand(_text(row[0], "brand list"), row[1]) for row in rows]
    return ListPage(total, start, tuple(item for item in found if item is not None))


def parse_product_page(start: int, value: Value) -> ListPage[ProductView]:
    total, rows = _list_page(value, "product list")
    found = [parse_product(_text(row[0], "product list"), row[1]) for row in rows]
    return ListPage(total, start, tuple(item for item in found if item is not None))


def parse_batch_page(start: int, value: Value) -> ListPage[BatchSummary]:
    """One page of `list_batches`."""
    total, rows = _list_page(value, "batch list")
    found = []
    for row in rows:
        f = _list(row, 8, "batch list")
        found.append(BatchSummary(
            batch=_text(f[0], "batch list"), quantity=_int(f[1], "batch list"), status=_text(f[2], "batch list"),
            custodian=Address(_bytes(f[3], "batch list")), expires_ms=_int(f[4], "batch list"), expired=f[5] is True,
            recalled=f[6] is True, hold=None if f[7] is None else _text(f[7], "batch list"),
        ))  # fmt: skip
    return ListPage(total, start, tuple(found))


def validate_list_page(start: int, limit: int) -> None:
    if start < 0 or not 1 <= limit <= LIST_PAGE_MAX:
        raise TraceError(f"a list page starts at 0 or later and holds 1 to {LIST_PAGE_MAX} entries")


def parse_events(batch: str, value: Value) -> list[BatchEvent]:
    events = []
    for item in _list(value, 0, "history"):
        f = _list(item, 6, "history entry")
        events.append(BatchEvent(batch, _text(f[0], "event"), Address(_bytes(f[1], "event")), _int(f[2], "event"),
                                 _int(f[3], "event"), Hash(_bytes(f[4], "event")), _text(f[5], "event")))  # fmt: skip
    return events


def parse_alerts(start: int, value: Value) -> list[AlertView]:
    result = []
    for offset, item in enumerate(_list(value, 0, "alerts")):
        f = _list(item, 6, "alert")
        batch = None if f[1] is None else _text(f[1], "alert")
        result.append(AlertView(start + offset, _text(f[0], "alert"), batch, _text(f[2], "alert"),
                                _int(f[3], "alert"), _int(f[4], "alert"), Hash(_bytes(f[5], "alert"))))  # fmt: skip
    return result


def parse_scans(value: Value) -> list[ScanView]:
    result = []
    for item in _list(value, 0, "scans"):
        f = _list(item, 5, "scan")
        result.append(ScanView(_int(f[0], "scan"), _int(f[1], "scan"), _text(f[2], "scan"),
                               Hash(_bytes(f[3], "scan")), f[4] is True))  # fmt: skip
    return result


# --- the consumer report: one plan, run by a blocking or an asynchronous reader -----------------

ViewRequest = tuple[str, list[Value]]
ReportPlan = Generator[ViewRequest, Value, ItemReport]


def plan_item_report(code: ItemCode, suite: str) -> ReportPlan:
    """The views to read for `code`'s report, in order; send each view's value back into the generator."""
    brand = parse_brand(code.brand, (yield ("get_brand", [code.brand])))
    authentic = brand is not None and is_code_authentic(code, suite, brand.public_key)
    empty = ItemReport(code, authentic, False, brand, None, (), (), 0, None, None, None, None, False, False, ())
    if not authentic:
        return empty
    entry = yield ("get_item", [compute_leaf(code.code)])
    if entry is None:
        return empty
    fields = _list(entry, 5, "item")
    code_set = _text(fields[0], "item")
    if code_set != code.code_set:
        # The brand signed the code for another set than the one it registered it in: refuse to guess.
        return empty
    path_ids = _strings(fields[2], "item")[: LINEAGE_DEPTH_MAX + 1]
    path: list[BatchView] = []
    timeline: list[BatchEvent] = []
    for batch_id in path_ids:
        batch = parse_batch(batch_id, (yield ("get_batch", [batch_id])))
        if batch is None:
            raise TraceError(f"the trace contract names batch {batch_id} but does not know it")
        path.append(batch)
        for start in range(0, batch.events_count, HISTORY_PAGE):
            timeline.extend(parse_events(batch_id, (yield ("get_history", [batch_id, start, HISTORY_PAGE]))))
    product = None
    if path:
        product = parse_product(path[0].product, (yield ("get_product", [path[0].product])))
    item = fields[3]
    scans: list[ScanView] = []
    queries, first_time, first_location, activated_time, activated_location, suspect = 0, None, None, None, None, False
    if item is not None:
        record = _list(item, 7, "item record")
        queries = _int(record[0], "item")
        first_time = _int(record[1], "item")
        first_location = _text(record[2], "item")
        activated_time = None if record[4] is None else _int(record[4], "item")
        activated_location = None if record[5] is None else _text(record[5], "item")
        suspect = record[6] is True
        scans = parse_scans((yield ("get_scans", [compute_leaf(code.code), 0, SCAN_HISTORY_MAX])))
    timeline.sort(key=lambda event: (event.height, event.timestamp_ms))
    return ItemReport(
        code=code,
        authentic=True,
        issued=True,
        brand=brand,
        product=product,
        path=tuple(path),
        timeline=tuple(timeline),
        queries=queries,
        first_timestamp_ms=first_time,
        first_location=first_location,
        activated_timestamp_ms=activated_time,
        activated_location=activated_location,
        suspect=suspect,
        recalled=fields[4] is True,
        scans=tuple(scans),
        code_index=_int(fields[1], "item"),
        expired=len(fields) > 5 and fields[5] is True,
    )


def run_report_plan(plan: ReportPlan, view: Callable[[str, list[Value]], Value]) -> ItemReport:
    try:
        request = next(plan)
        while True:
            request = plan.send(view(*request))
    except StopIteration as stop:
        report: ItemReport = stop.value
        return report


async def run_report_plan_async(plan: ReportPlan, view: Callable[[str, list[Value]], Awaitable[Value]]) -> ItemReport:
    try:
        request = next(plan)
        while True:
            request = plan.send(await view(*request))
    except StopIteration as stop:
        report: ItemReport = stop.value
        return report


# --- the blocking client -------------------------------------------------------------------------


class TraceClient:
    """The trace contract through a blocking `Contracts`; methods take the signing key first."""

    def __init__(self, contracts: Contracts, name: str = CONTRACT_NAME) -> None:
        self.contracts = contracts
        self.name = name

    def _call(self, key: PrivateKey, method: str, args: Sequence[Value]) -> CallOutcome:
        return self.contracts.call(key, self.name, method, list(args))

    def _view(self, method: str, args: Sequence[Value]) -> Value:
        return self.contracts.view(self.name, method, list(args))

    # regulator / operator
    def deploy(self, key: PrivateKey, regulators: Sequence[Address] = ()) -> Deployed:
        """Deploy the contract from its source; the deployer and `regulators` become regulators."""
        return self.contracts.deploy(key, self.name, get_contract_source(), [[bytes(r) for r in regulators]])

    def register_brand(self, key: PrivateKey, brand: str, name: str, owner: Address, public_key: bytes,
                       credit_code: str = "") -> CallOutcome:  # fmt: skip
        validate_identifier(brand, "brand")
        return self._call(key, "register_brand", [brand, name, bytes(owner), public_key, credit_code])

    def recall(self, key: PrivateKey, batch: str, reason: str) -> CallOutcome:
        return self._call(key, "recall", [batch, reason])

    # brand
    def grant_role(self, key: PrivateKey, brand: str, role: str, account: Address, granted: bool = True) -> CallOutcome:
        if role not in ROLES:
            raise TraceError(f"role must be one of {', '.join(ROLES)}")
        return self._call(key, "grant_role", [brand, role, bytes(account), granted])

    def register_product(self, key: PrivateKey, brand: str, product: str, name: str, *, gtin: str = "",
                         qc_level_required: int = 1, shelf_life_days: int = 0) -> CallOutcome:  # fmt: skip
        validate_identifier(product, "product")
        return self._call(key, "register_product", [brand, product, name, gtin, qc_level_required, shelf_life_days])

    def issue_codes(self, key: PrivateKey, codes: Sequence[ItemCode]) -> list[CallOutcome]:
        """Register the codes' leaves, 500 per transaction, in order (their indexes follow the order)."""
        if not codes:
            raise TraceError("give at least one code")
        brand, code_set = codes[0].brand, codes[0].code_set
        if any(code.brand != brand or code.code_set != code_set for code in codes):
            raise TraceError("all codes of one issue belong to one brand and code set")
        outcomes = []
        for start in range(0, len(codes), CODES_PER_TRANSACTION_MAX):
            leaves: list[Value] = [code.get_leaf() for code in codes[start : start + CODES_PER_TRANSACTION_MAX]]
            outcomes.append(self._call(key, "issue_codes", [brand, code_set, leaves]))
        return outcomes

    # packer, QC, custody
    def pack(self, key: PrivateKey, batch: str, product: str, code_set: str, quantity: int,
             production_date: str = "") -> CallOutcome:  # fmt: skip
        validate_identifier(batch, "batch")
        return self._call(key, "pack", [batch, product, code_set, quantity, production_date])

    def inspect(self, key: PrivateKey, batch: str, level: int, passed: bool, report_hash: bytes) -> CallOutcome:
        return self._call(key, "inspect", [batch, level, passed, report_hash])

    def ship(self, key: PrivateKey, batch: str, consignee: Address) -> CallOutcome:
        return self._call(key, "ship", [batch, bytes(consignee)])

    def receive(self, key: PrivateKey, batch: str) -> CallOutcome:
        return self._call(key, "receive", [batch])

    def put_on_sale(self, key: PrivateKey, batch: str) -> CallOutcome:
        return self._call(key, "put_on_sale", [batch])

    def report_sales(self, key: PrivateKey, batch: str, quantity: int) -> CallOutcome:
        return self._call(key, "report_sales", [batch, quantity])

    def split(self, key: PrivateKey, batch: str, children: Sequence[tuple[str, int]]) -> CallOutcome:
        for child, _ in children:
            validate_identifier(child, "batch")
        return self._call(key, "split", [batch, [c for c, _ in children], [q for _, q in children]])

    def set_expiry(self, key: PrivateKey, batch: str, expires_ms: int) -> CallOutcome:
        """The brand's owner brings `batch`'s expiry (block time, ms) forward; never back."""
        return self._call(key, "set_expiry", [batch, expires_ms])

    def merge(self, key: PrivateKey, parents: Sequence[str], batch: str) -> CallOutcome:
        validate_identifier(batch, "batch")
        return self._call(key, "merge", [list(parents), batch])

    # consumer
    def scan(self, key: PrivateKey, code: ItemCode, location: str, *, activate: bool = False,
             nonce: bytes | None = None) -> ScanResult:  # fmt: skip
        """Record a scan of `code` (checked offline against the brand's key first: a forged code is refused)."""
        brand = self.get_brand(code.brand)
        if brand is None:
            raise TraceError(f"no brand {code.brand} is registered on this chain: the code is not genuine")
        validate_code_authentic(code, self.contracts.get_suite(), brand.public_key)
        nonce = secrets.token_bytes(CODE_BYTES) if nonce is None else nonce
        outcome = self._call(key, "scan", [code.code, location, nonce, activate])
        f = _list(outcome.value, 5, "scan result")
        return ScanResult(_int(f[0], "scan"), _int(f[1], "scan"), _text(f[2], "scan"), f[3] is True, f[4] is True,
                          outcome.receipt.transaction_id, len(f) > 5 and f[5] is True)  # fmt: skip

    # views
    def get_brand(self, brand: str) -> BrandView | None:
        return parse_brand(brand, self._view("get_brand", [brand]))

    def get_product(self, product: str) -> ProductView | None:
        return parse_product(product, self._view("get_product", [product]))

    def get_batch(self, batch: str) -> BatchView | None:
        return parse_batch(batch, self._view("get_batch", [batch]))

    def get_history(self, batch: str) -> list[BatchEvent]:
        record = self.get_batch(batch)
        if record is None:
            return []
        events: list[BatchEvent] = []
        for start in range(0, record.events_count, HISTORY_PAGE):
            events.extend(parse_events(batch, self._view("get_history", [batch, start, HISTORY_PAGE])))
        return events

    def is_expired(self, batch: str) -> bool:
        """Whether `batch` has expired at the latest block's time."""
        return self._view("is_expired", [batch]) is True

    def list_brands(self, start: int = 0, limit: int = LIST_PAGE_MAX) -> ListPage[BrandView]:
        validate_list_page(start, limit)
        return parse_brand_page(start, self._view("list_brands", [start, limit]))

    def list_products(self, brand: str, start: int = 0, limit: int = LIST_PAGE_MAX) -> ListPage[ProductView]:
        validate_list_page(start, limit)
        return parse_product_page(start, self._view("list_products", [brand, start, limit]))

    def list_batches(self, product: str, start: int = 0, limit: int = LIST_PAGE_MAX) -> ListPage[BatchSummary]:
        validate_list_page(start, limit)
        return parse_batch_page(start, self._view("list_batches", [product, start, limit]))

    def index_existing(self, key: PrivateKey, kind: str, entries: Sequence[str]) -> CallOutcome:
        """List brands, products or batches created before the contract kept lists (docs/apps/trace.md)."""
        return self._call(key, "index_existing", [kind, list(entries)])

    def get_alerts(self, start: int = 0, limit: int = HISTORY_PAGE) -> list[AlertView]:
        """The regulator's list of mass-balance violations and suspect codes, from alert number `start`."""
        return parse_alerts(start, self._view("get_alerts", [start, limit]))

    def has_role(self, brand: str, role: str, account: Address) -> bool:
        return self._view("has_brand_role", [brand, role, bytes(account)]) is True

    def get_item_report(self, code: ItemCode) -> ItemReport:
        return run_report_plan(plan_item_report(code, self.contracts.get_suite()), self._view)

    def get_lineage(self, batch: str) -> list[BatchView]:
        """The batches `batch` came from (parents, their parents...), oldest first, without `batch` itself."""
        seen: dict[str, BatchView] = {}
        frontier = [batch]
        for _ in range(LINEAGE_DEPTH_MAX + 1):
            next_frontier: list[str] = []
            for batch_id in frontier:
                view = self.get_batch(batch_id)
                if view is None:
                    raise TraceError(f"no batch {batch_id} on this chain")
                for parent in view.parents:
                    if parent not in seen:
                        parent_view = self.get_batch(parent)
                        if parent_view is None:
                            raise TraceError(f"batch {batch_id} names an unknown parent {parent}")
                        seen[parent] = parent_view
                        next_frontier.append(parent)
            frontier = next_frontier
            if not frontier:
                break
        return sorted(seen.values(), key=lambda view: (view.created_height, view.batch))

    def export_batch(self, batch: str) -> BatchExport:
        """`batch`'s records (and its ancestors') in the GB/T 38154 core-metadata form."""
        from gusu.apps.trace.export import compute_batch_export

        view = self.get_batch(batch)
        if view is None:
            raise TraceError(f"no batch {batch} on this chain; check the id (gusu trace batch show)")
        lineage = self.get_lineage(batch)
        brand = self.get_brand(view.brand)
        product = self.get_product(view.product)
        if brand is None or product is None:
            raise TraceError(f"batch {batch} names a brand or product the contract does not know")
        events: list[BatchEvent] = []
        for source in (*lineage, view):
            events.extend(self.get_history(source.batch))
        return compute_batch_export(view, lineage, brand, product, events)
