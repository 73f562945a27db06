"""The traceability application's console pages for its actors (docs/apps/trace.md), logged in:

- ``/trace/brand``: the brands (paged list), a brand's card and its products (paged), a product's batches (paged,
  EXPIRED ones marked); register a product, issue a code set (the response is the codes' CSV, or a zip of the
  CSV and one QR SVG per code, as `gusu trace codes issue` writes), pack a batch, recall a batch;
- ``/trace/ops``: one batch and what the user's keys may do to it now: QC result, ship to a named consignee,
  receive (offered only to the key the batch was shipped to, and refused for any other before signing),
  put on sale, report sales, split it into child batches, merge it with others of the same product;
- ``/trace/regulator``: the contract's alerts (mass balance, suspect codes) and a batch's GB/T 38154 export.

Server-rendered, no script. Every write names one of the user's keystore keys and its passphrase
(console/signing.py), signs one transaction and appends the audit log. The contract checks every role
itself; the page only hides the actions a key cannot take, so that a user is not asked for a passphrase in
vain. Lists come from the contract's paged list views (list_brands, list_products, list_batches); whether a
batch has expired comes from its `is_expired` view, so the chain's block time decides, never the console's
clock.
"""

from __future__ import annotations

import csv
import html
import io
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from gusu.apps.trace.client import (
    CODES_PER_TRANSACTION_MAX,
    CONTRACT_NAME,
    HISTORY_PAGE,
    LINEAGE_DEPTH_MAX,
    LIST_PAGE_MAX,
    AlertView,
    BatchEvent,
    BatchSummary,
    BatchView,
    BrandView,
    ListPage,
    ProductView,
    parse_alerts,
    parse_batch,
    parse_batch_page,
    parse_brand,
    parse_brand_page,
    parse_events,
    parse_product,
    parse_product_page,
)
from gusu.apps.trace.codes import IDENTIFIER, TraceError, compute_qr_svg, issue_item_codes
from gusu.apps.trace.export import BatchExport, compute_batch_export, format_time
from gusu.codec import Value, decode
from gusu.console.access import CSRF_FIELD, AccessInputError, is_allowed
from gusu.console.accounts import STORE_KEY, Viewer, _catalogue, _render, get_viewer, record, requires
from gusu.console.app_trace import CLOSED, EVENT_MESSAGES, compute_status_text
from gusu.console.chains import get_client
from gusu.console.signing import Form, key_fields_html, read_form, send_transaction, unlock_key
from gusu.console.store import StoredKey
from gusu.crypto import PrivateKey, get_suite
from gusu.errors import CodecError, GusuError
from gusu.ledger.jsonview import bytes_to_hex
from gusu.sdk.contracts import AsyncContracts

_e = html.escape

CODES_PER_CONSOLE_ISSUE_MAX: Final = 5_000
"""Codes one console request issues (ten transactions); a larger run is several requests, or the CLI."""
QR_CODES_PER_CONSOLE_ISSUE_MAX: Final = 1_000
"""QR SVGs one request renders (about 20 ms each on the console's thread)."""
REPORT_FILE_BYTES_MAX: Final = 16 * 1024 * 1024
"""Largest QC report the ops page hashes (the console reads uploads into memory)."""
ALERTS_SHOWN_MAX: Final = 100
SALES_QUANTITY_MAX: Final = 10**12
QC_LEVEL_MAX: Final = 9
SPLIT_CHILDREN_MAX: Final = 32
MERGE_PARENTS_MAX: Final = 32
"""The contract's limits on one split and one merge."""
PARTS_TEXT_LENGTH_MAX: Final = 32 * 80
LONG_FIELDS: Final = {"reason": 500, "url": 500, "parts": PARTS_TEXT_LENGTH_MAX, "parents": PARTS_TEXT_LENGTH_MAX}
LIST_START_MAX: Final = 10**9
"""Highest list position a query string may name."""
SEES_ALL_PERMISSION: Final = "audit.read"
"""The regulator's page: the operator and the auditor (the regulator's console role), as for scf."""


def _contracts(request: web.Request) -> AsyncContracts:
    return AsyncContracts(get_client(request))


async def _view(request: web.Request, method: str, args: list[Value]) -> Value:
    return await _contracts(request).view(CONTRACT_NAME, method, args)


async def get_brand(request: web.Request, brand: str) -> BrandView | None:
    return parse_brand(brand, await _view(request, "get_brand", [brand]))


async def get_product(request: web.Request, product: str) -> ProductView | None:
    return parse_product(product, await _view(request, "get_product", [product]))


async def get_batch(request: web.Request, batch: str) -> BatchView | None:
    return parse_batch(batch, await _view(request, "get_batch", [batch]))


async def get_history(request: web.Request, view: BatchView) -> list[BatchEvent]:
    events: list[BatchEvent] = []
    for start in range(0, view.events_count, HISTORY_PAGE):
        events.extend(parse_events(view.batch, await _view(request, "get_history", [view.batch, start, HISTORY_PAGE])))
    return events


async def read_batch_export(request: web.Request, view: BatchView) -> BatchExport:
    """The GB/T 38154 export of `view` and the batches it came from (as `TraceClient.export_batch`)."""
    seen: dict[str, BatchView] = {}
    frontier = [view]
    for _ in range(LINEAGE_DEPTH_MAX + 1):
        next_frontier: list[BatchView] = []
        for current in frontier:
            for parent in current.parents:
                if parent not in seen:
                    parent_view = await get_batch(request, parent)
                    if parent_view is None:
                        raise TraceError(f"batch {current.batch} names an unknown parent {parent}")
                    seen[parent] = parent_view
                    next_frontier.append(parent_view)
        frontier = next_frontier
        if not frontier:
            break
    lineage = sorted(seen.values(), key=lambda item: (item.created_height, item.batch))
    brand = await get_brand(request, view.brand)
    product = await get_product(request, view.product)
    if brand is None or product is None:
        raise TraceError(f"batch {view.batch} names a brand or product the contract does not know")
    events: list[BatchEvent] = []
    for source in (*lineage, view):
        events.extend(await get_history(request, source))
    return compute_batch_export(view, lineage, brand, product, events)


async def is_expired(request: web.Request, batch: str) -> bool:
    return await _view(request, "is_expired", [batch]) is True


async def list_brands(request: web.Request, start: int) -> ListPage[BrandView]:
    return parse_brand_page(start, await _view(request, "list_brands", [start, LIST_PAGE_MAX]))


async def list_products(request: web.Request, brand: str, start: int) -> ListPage[ProductView]:
    return parse_product_page(start, await _view(request, "list_products", [brand, start, LIST_PAGE_MAX]))


async def list_batches(request: web.Request, product: str, start: int) -> ListPage[BatchSummary]:
    return parse_batch_page(start, await _view(request, "list_batches", [product, start, LIST_PAGE_MAX]))


async def has_role(request: web.Request, brand: str, role: str, address: str) -> bool:
    return await _view(request, "has_brand_role", [brand, role, bytes.fromhex(address[2:])]) is True


async def is_regulator_key(request: web.Request, address: str) -> bool:
    return await _view(request, "is_regulator_account", [bytes.fromhex(address[2:])]) is True


async def _keys(request: web.Request, viewer: Viewer) -> list[StoredKey]:
    return list(await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id))


def parse_identifier(text: str, what_key: str) -> str:
    """An id from a form or the query: 1 to 64 letters, digits, '_' or '-' (the contract's rule)."""
    text = text.strip()
    if not IDENTIFIER.fullmatch(text):
        raise AccessInputError("tracex.error.id", f"a {what_key} id is 1 to 64 letters, digits, '_' or '-'")
    return text


def parse_count(text: str, low: int, high: int) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 13 or not low <= int(text) <= high:
        raise AccessInputError("tracex.error.count", f"give a whole number from {low} to {high}", low=low, high=high)
    return int(text)


def parse_start(text: str) -> int:
    """A list position from the query string (0 when absent)."""
    text = text.strip()[:12]
    return parse_count(text, 0, LIST_START_MAX) if text else 0


def parse_split_parts(text: str) -> list[tuple[str, int]]:
    """ "B1-a=300, B1-b=300" (commas or new lines) -> [(child id, quantity), ...]."""
    parts: list[tuple[str, int]] = []
    for piece in text.replace("\n", ",").split(","):
        piece = piece.strip()
        if not piece:
            continue
        child, separator, quantity = piece.partition("=")
        if not separator:
            raise AccessInputError("tracex.error.parts", "write each child batch as ID=QUANTITY")
        parts.append((parse_identifier(child, "batch"), parse_count(quantity, 1, 10**7)))
    if not 2 <= len(parts) <= SPLIT_CHILDREN_MAX:
        raise AccessInputError("tracex.error.parts_count", "split into 2 to 32 batches", limit=SPLIT_CHILDREN_MAX)
    return parts


def parse_batch_list(text: str) -> list[str]:
    """Batch ids separated by commas or spaces."""
    found = [parse_identifier(item, "batch") for item in text.replace(",", " ").split()]
    if len(found) > MERGE_PARENTS_MAX:
        raise AccessInputError("tracex.error.parts_count", "merge 2 to 32 batches", limit=MERGE_PARENTS_MAX)
    return found


def parse_address(text: str) -> bytes:
    text = text.strip()
    if len(text) != 42 or not text.startswith(("0x", "0X")):
        raise AccessInputError("tracex.error.address", "an account address is 0x and 40 hexadecimal digits")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise AccessInputError("tracex.error.address", "an account address is 0x and 40 hexadecimal digits") from None


# --- rendering -------------------------------------------------------------------------------------


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """`rows` hold HTML already escaped."""
    if not rows:
        return f'<p class="empty" id="{table_id}-empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _result(text: str, success: bool) -> str:
    if success:
        return f'<p class="success" role="status" id="tracex-result">{_e(text)}</p>'
    return f'<p class="error" role="alert" id="tracex-result">{_e(text)}</p>'


def _links(request: web.Request, viewer: Viewer) -> str:
    message = _catalogue(request).get_message
    links = [("/trace/brand", "tracex.brand_title", "tracex-brand-link"),
             ("/trace/ops", "tracex.ops_title", "tracex-ops-link")]  # fmt: skip
    if is_allowed(viewer.user.role, SEES_ALL_PERMISSION):
        links.append(("/trace/regulator", "tracex.regulator_title", "tracex-regulator-link"))
    links.append(("/trace", "tracex.public_page", "tracex-public-link"))
    return '<p class="links">' + " · ".join(
        f'<a id="{link_id}" href="{href}">{_e(message(key))}</a>' for href, key, link_id in links
    ) + "</p>"  # fmt: skip


def _lookup_form(request: web.Request, action: str, name: str, label_key: str, value: str) -> str:
    message = _catalogue(request).get_message
    return (
        f'<form method="get" action="{action}" id="tracex-lookup-{name}" class="trace-form">'
        f'<label for="tracex-find-{name}">{_e(message(label_key))}</label>'
        f'<input id="tracex-find-{name}" name="{name}" maxlength="64" value="{_e(value)}">'
        f'<button type="submit">{_e(message("tracex.show"))}</button></form>'
    )


def _write_form(request: web.Request, viewer: Viewer, form_id: str, action: str, title_key: str, fields: str,
                keys: Sequence[StoredKey], button_key: str, multipart: bool = False) -> str:  # fmt: skip
    message = _catalogue(request).get_message
    encoding = ' enctype="multipart/form-data"' if multipart else ""
    return (
        f'<form method="post" action="{action}" id="{form_id}" class="tracex-write"{encoding}>'
        f"<h3>{_e(message(title_key))}</h3>"
        f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(viewer.session.csrf_token)}">'
        + fields
        + key_fields_html(request, keys, form_id)
        + (f'<button type="submit">{_e(message(button_key))}</button>' if keys else "")
        + "</form>"
    )


def _input(form_id: str, name: str, label: str, extra: str = 'maxlength="64" required') -> str:
    return f'<label for="{form_id}-{name}">{_e(label)}</label><input id="{form_id}-{name}" name="{name}" {extra}>'


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{name}" value="{_e(value)}">'


def compute_batch_html(
    request: web.Request, view: BatchView, events: Sequence[BatchEvent], expired: bool = False
) -> str:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    status = compute_status_text(catalogue, view.status, expired)
    rows = [
        ("trace.batch", view.batch), ("trace.brand", view.brand), ("trace.product", view.product),
        ("tracex.quantity", str(view.quantity)), ("trace.status", status), ("trace.qc_level", str(view.qc_level)),
        ("tracex.custodian", bytes_to_hex(view.custodian)),
        ("tracex.consignee", "-" if view.consignee is None else bytes_to_hex(view.consignee)),
        ("tracex.codes", " ".join(f"{s.code_set}[{s.first_index}:{s.end_index}]" for s in view.segments)),
        ("tracex.sold", str(view.sold)), ("trace.production_date", view.production_date or "-"),
        ("trace.expires", format_time(view.expires_ms) if view.expires_ms else "-"),
    ]  # fmt: skip
    fields = "".join(f"<dt>{_e(message(key))}</dt><dd>{_e(value)}</dd>" for key, value in rows)
    for key, linked, element_id in (("tracex.parents", view.parents, "tracex-parents"),
                                    ("tracex.children", view.children, "tracex-children")):  # fmt: skip
        if linked:
            links = ", ".join(f'<a href="/trace/ops?batch={_e(item)}">{_e(item)}</a>' for item in linked)
            fields += f'<dt>{_e(message(key))}</dt><dd id="{element_id}">{links}</dd>'
    warnings = ""
    if expired:
        warnings += (
            f'<p class="error" id="tracex-expired">'
            f"{_e(message('trace.expired', time=format_time(view.expires_ms)))}</p>"
        )
    if view.recalled or view.hold is not None:
        warnings += f'<p class="error" id="tracex-recalled">{_e(message("trace.recalled"))}</p>'
    if view.alert:
        warnings += f'<p class="error" id="tracex-alert">{_e(message("trace.event.mass_balance_alert"))}</p>'
    history = [
        [_e(format_time(event.timestamp_ms)),
         f'<span data-event="{_e(event.kind)}">{_e(message(EVENT_MESSAGES.get(event.kind, "trace.event")))}</span>',
         f'<span class="mono">{_e(bytes_to_hex(event.actor))}</span>', _e(event.detail),
         f'<a class="mono" href="/transactions/{bytes_to_hex(event.transaction_id)}">'
         f"{_e(bytes_to_hex(event.transaction_id)[:18])}…</a>"]
        for event in events
    ]  # fmt: skip
    headers = [message("trace.time"), message("trace.event"), message("trace.actor"), message("tracex.detail"),
               message("trace.transaction")]  # fmt: skip
    return (
        f'<h2 id="tracex-batch-title">{_e(message("tracex.batch_of", batch=view.batch))}</h2>{warnings}'
        f'<dl class="fields" id="tracex-batch">{fields}</dl>'
        + _table("tracex-history", headers, history, message("tracex.none"))
    )


def _unavailable(request: web.Request, page: str, title_key: str, error: GusuError, viewer: Viewer) -> web.Response:
    message = _catalogue(request).get_message
    content = (
        f"<h1>{_e(message(title_key))}</h1>{_links(request, viewer)}"
        f'<p class="error" role="alert" id="tracex-unreachable">'
        f"{_e(message('tracex.unreachable', reason=str(error)[:300]))}</p>"
    )
    return _render(request, page, content, 502)


async def _is_deployed(request: web.Request) -> bool:
    instance = await _contracts(request).get_instance(CONTRACT_NAME)
    return instance is not None


def _not_deployed(request: web.Request, page: str, title_key: str, viewer: Viewer) -> web.Response:
    message = _catalogue(request).get_message
    content = (
        f"<h1>{_e(message(title_key))}</h1>{_links(request, viewer)}"
        f'<p class="notice" id="tracex-not-deployed">{_e(message("trace.no_app"))}</p>'
    )
    return _render(request, page, content)


# --- sending ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    text: str
    success: bool


async def _send(request: web.Request, key: PrivateKey, method: str, args: list[Value]) -> tuple[bool, str, Value]:
    """Signs and sends one call; audits it; (success, transaction id or the contract's refusal, return value)."""
    sent = await send_transaction(request, key, CONTRACT_NAME, method, args)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.call", f"{CONTRACT_NAME}.{method} {sent.transaction_id}", outcome)
    if not sent.receipt.is_success:
        return False, sent.receipt.error_message[:300], None
    try:
        value = decode(sent.receipt.return_value) if sent.receipt.return_value else None
    except CodecError:
        value = None
    return True, sent.transaction_id, value


async def _act(request: web.Request, viewer: Viewer, form: Form, method: str, args: list[Value],
               done_key: str, **params: object) -> Outcome:  # fmt: skip
    message = _catalogue(request).get_message
    key = await unlock_key(request, viewer, form)
    success, text, _ = await _send(request, key, method, args)
    if success:
        return Outcome(message(done_key, transaction=text, **params), True)
    return Outcome(message("tracex.refused", reason=text), False)


# --- the brand page ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListStarts:
    """Where each list of the brand page starts (query parameters brands_from, products_from, batches_from)."""

    brands: int = 0
    products: int = 0
    batches: int = 0


def compute_list_pager(request: web.Request, element_id: str, href: str, total: int, start: int) -> str:
    """ "entries a-b of n" with links to the previous and next LIST_PAGE_MAX entries; `href` ends with "name="."""
    message = _catalogue(request).get_message
    if total == 0:
        return ""
    last = min(total, start + LIST_PAGE_MAX)
    info = message("tracex.list_range", first=min(start + 1, total), last=last, total=total)
    parts = [f'<span class="pager-info">{_e(info)}</span>']
    if start > 0:
        parts.insert(0, f'<a class="pager-previous" href="{_e(href)}{max(0, start - LIST_PAGE_MAX)}">'
                        f"{_e(message('tracex.list_previous'))}</a>")  # fmt: skip
    if last < total:
        parts.append(f'<a class="pager-next" href="{_e(href)}{last}">{_e(message("tracex.list_next"))}</a>')
    return f'<p class="pager" id="{element_id}">{" · ".join(parts)}</p>'


async def compute_brand_list_html(request: web.Request, start: int) -> str:
    message = _catalogue(request).get_message
    found = await list_brands(request, start)
    rows = [[f'<a href="/trace/brand?brand={_e(item.brand)}">{_e(item.brand)}</a>', _e(item.name),
             f'<span class="mono">{_e(bytes_to_hex(item.owner))}</span>'] for item in found.entries]  # fmt: skip
    headers = [message("trace.brand"), message("tracex.name"), message("tracex.owner")]
    return (
        f"<h2>{_e(message('tracex.brands'))}</h2>"
        + _table("tracex-brands", headers, rows, message("tracex.none"))
        + compute_list_pager(request, "tracex-brands-pager", "/trace/brand?brands_from=", found.total, start)
    )


async def compute_product_list_html(request: web.Request, brand: str, start: int) -> str:
    message = _catalogue(request).get_message
    found = await list_products(request, brand, start)
    rows = [
        [f'<a href="/trace/brand?brand={_e(brand)}&amp;product={_e(item.product)}">{_e(item.product)}</a>',
         _e(item.name), _e(item.gtin or "-"), _e(str(item.shelf_life_days))]
        for item in found.entries
    ]  # fmt: skip
    headers = [message("trace.product"), message("tracex.name"), message("trace.gtin"), message("tracex.shelf_life")]
    return _table("tracex-products", headers, rows, message("tracex.none")) + compute_list_pager(
        request, "tracex-products-pager", f"/trace/brand?brand={brand}&products_from=", found.total, start
    )


async def compute_batch_list_html(request: web.Request, brand: str, product: str, start: int) -> str:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    found = await list_batches(request, product, start)
    rows = [
        [f'<a href="/trace/ops?batch={_e(row.batch)}">{_e(row.batch)}</a>', _e(str(row.quantity)),
         f'<span data-status="{"expired" if row.expired and row.status not in CLOSED else _e(row.status)}">'
         f"{_e(compute_status_text(catalogue, row.status, row.expired))}</span>",
         _e(format_time(row.expires_ms) if row.expires_ms else "-")]
        for row in found.entries
    ]  # fmt: skip
    headers = [message("trace.batch"), message("tracex.quantity"), message("trace.status"), message("trace.expires")]
    href = f"/trace/brand?brand={brand}&product={product}&batches_from="
    return (
        f"<h3>{_e(message('tracex.batches_of', product=product))}</h3>"
        + _table("tracex-batches", headers, rows, message("tracex.none"))
        + compute_list_pager(request, "tracex-batches-pager", href, found.total, start)
    )


async def _brand_page(request: web.Request, viewer: Viewer, brand_id: str, product_id: str,
                      outcome: Outcome | None = None, status: int = 200,
                      starts: ListStarts = ListStarts()) -> web.Response:  # fmt: skip
    catalogue = _catalogue(request)
    message = catalogue.get_message
    sections = [f"<h1>{_e(message('tracex.brand_title'))}</h1>", _links(request, viewer)]
    if outcome is not None:
        sections.append(_result(outcome.text, outcome.success))
    sections.append(f'<p class="hint">{_e(message("tracex.brand_hint"))}</p>')
    sections.append(_lookup_form(request, "/trace/brand", "brand", "trace.brand", brand_id))
    try:
        if not await _is_deployed(request):
            return _not_deployed(request, "trace_brand", "tracex.brand_title", viewer)
        if not brand_id:
            sections.append(await compute_brand_list_html(request, starts.brands))
            return _render(request, "trace_brand", "".join(sections), status)
        brand = await get_brand(request, brand_id)
        if brand is None:
            sections.append(f'<p class="error" id="tracex-no-brand">{_e(message("tracex.no_brand"))}</p>')
            return _render(request, "trace_brand", "".join(sections), 404 if status == 200 else status)
        keys = await _keys(request, viewer)
        owner = bytes_to_hex(brand.owner)
        owner_keys = [key for key in keys if key.address == owner]
        packer_keys = [key for key in keys if await has_role(request, brand_id, "packer", key.address)]
        regulator_keys = [key for key in keys if await is_regulator_key(request, key.address)]
        rows = [("trace.brand", f"{brand.name} ({brand.brand})"), ("tracex.owner", owner),
                ("tracex.credit_code", brand.credit_code or "-"),
                ("tracex.public_key", "0x" + brand.public_key.hex())]  # fmt: skip
        sections.append(
            '<dl class="fields" id="tracex-brand">'
            + "".join(f"<dt>{_e(message(key))}</dt><dd>{_e(value)}</dd>" for key, value in rows)
            + "</dl>"
        )
        if not owner_keys:
            sections.append(f'<p class="notice" id="tracex-not-owner">{_e(message("tracex.not_owner"))}</p>')
        sections.append(f"<h2>{_e(message('tracex.products'))}</h2>")
        sections.append(await compute_product_list_html(request, brand_id, starts.products))
        sections.append(_lookup_form(request, "/trace/brand", "product", "trace.product", product_id)
                        .replace("</form>", _hidden("brand", brand_id) + "</form>"))  # fmt: skip
        if product_id:
            product = await get_product(request, product_id)
            if product is None or product.brand != brand_id:
                sections.append(f'<p class="error" id="tracex-no-product">{_e(message("tracex.no_product"))}</p>')
            else:
                sections.append(_table(
                    "tracex-product",
                    [message("trace.product"), message("tracex.name"), message("trace.gtin"),
                     message("tracex.qc_required"), message("tracex.shelf_life")],
                    [[_e(product.product), _e(product.name), _e(product.gtin or "-"),
                      _e(str(product.qc_level_required)), _e(str(product.shelf_life_days))]],
                    message("tracex.none"),
                ))  # fmt: skip
                sections.append(await compute_batch_list_html(request, brand_id, product_id, starts.batches))
        can_sign = is_allowed(viewer.user.role, "contracts.write")
        if can_sign:
            brand_field = _hidden("brand", brand_id)
            f = "tracex-product-form"
            sections.append(_write_form(
                request, viewer, f, "/trace/brand/product", "tracex.register_product",
                brand_field + _input(f, "product", message("trace.product"))
                + _input(f, "name", message("tracex.name"), 'maxlength="128" required')
                + _input(f, "gtin", message("trace.gtin"), 'maxlength="14" inputmode="numeric"')
                + _input(f, "qc_level", message("tracex.qc_required"), 'value="1" inputmode="numeric" maxlength="1"')
                + _input(f, "shelf_life_days", message("tracex.shelf_life"),
                         'value="0" inputmode="numeric" maxlength="5"'),
                owner_keys, "tracex.register"))  # fmt: skip
            f = "tracex-codes-form"
            sections.append(_write_form(
                request, viewer, f, "/trace/brand/codes", "tracex.issue_codes",
                brand_field + f'<p class="hint">{_e(message("tracex.codes_hint"))}</p>'
                + _input(f, "code_set", message("tracex.code_set"))
                + _input(f, "count", message("tracex.count"), 'inputmode="numeric" maxlength="5" required')
                + _input(f, "url", message("tracex.page_url"), 'maxlength="500" type="url"'),
                owner_keys, "tracex.issue"))  # fmt: skip
            f = "tracex-pack-form"
            sections.append(_write_form(
                request, viewer, f, "/trace/brand/pack", "tracex.pack",
                brand_field + _input(f, "batch", message("trace.batch"))
                + _input(f, "product", message("trace.product")) + _input(f, "code_set", message("tracex.code_set"))
                + _input(f, "quantity", message("tracex.quantity"), 'inputmode="numeric" maxlength="7" required')
                + _input(f, "date", message("trace.production_date"), 'maxlength="32"'),
                packer_keys, "tracex.pack_button"))  # fmt: skip
            f = "tracex-recall-form"
            recall_keys = owner_keys + [key for key in regulator_keys if key not in owner_keys]
            sections.append(_write_form(
                request, viewer, f, "/trace/brand/recall", "tracex.recall",
                brand_field + _input(f, "batch", message("trace.batch"))
                + _input(f, "reason", message("tracex.reason"), 'maxlength="500" required'),
                recall_keys, "tracex.recall_button"))  # fmt: skip
    except GusuError as error:
        return _unavailable(request, "trace_brand", "tracex.brand_title", error, viewer)
    return _render(request, "trace_brand", "".join(sections), status)


@requires("contracts.read")
async def _brand_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        brand_id = parse_identifier(request.query["brand"], "brand") if request.query.get("brand") else ""
        product_id = parse_identifier(request.query["product"], "product") if request.query.get("product") else ""
        starts = ListStarts(parse_start(request.query.get("brands_from", "")),
                            parse_start(request.query.get("products_from", "")),
                            parse_start(request.query.get("batches_from", "")))  # fmt: skip
    except AccessInputError as error:
        text = _catalogue(request).get_message(error.key, **error.params)
        return await _brand_page(request, viewer, "", "", Outcome(text, False), 400)
    return await _brand_page(request, viewer, brand_id, product_id, starts=starts)


async def _brand_write(request: web.Request, action: str) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    brand_id = ""
    try:
        form = await read_form(request, LONG_FIELDS)
        brand_id = parse_identifier(form.get("brand"), "brand")
        if action == "product":
            product = parse_identifier(form.get("product"), "product")
            name = form.get("name").strip()
            if not name:
                raise AccessInputError("tracex.error.name", "give the product's name")
            args: list[Value] = [brand_id, product, name, form.get("gtin").strip(),
                                 parse_count(form.get("qc_level", "1"), 1, QC_LEVEL_MAX),
                                 parse_count(form.get("shelf_life_days", "0"), 0, 36500)]  # fmt: skip
            outcome = await _act(request, viewer, form, "register_product", args, "tracex.done.product",
                                 product=product)  # fmt: skip
        elif action == "pack":
            batch = parse_identifier(form.get("batch"), "batch")
            args = [batch, parse_identifier(form.get("product"), "product"),
                    parse_identifier(form.get("code_set"), "code set"),
                    parse_count(form.get("quantity"), 1, 10**7), form.get("date").strip()[:32]]  # fmt: skip
            outcome = await _act(request, viewer, form, "pack", args, "tracex.done.pack", batch=batch)
        else:
            batch = parse_identifier(form.get("batch"), "batch")
            reason = form.get("reason").strip()
            if not reason:
                raise AccessInputError("tracex.error.reason", "say why the batch is recalled")
            outcome = await _act(request, viewer, form, "recall", [batch, reason], "tracex.done.recall", batch=batch)
    except AccessInputError as error:
        if not brand_id:
            await record(request, "contract.call", f"{CONTRACT_NAME}.{action}", "refused")
        outcome = Outcome(message(error.key, **error.params), False)
    return await _brand_page(request, viewer, brand_id, "", outcome, 200 if outcome.success else 400)


@requires("contracts.write")
async def _brand_product(request: web.Request) -> web.StreamResponse:
    return await _brand_write(request, "product")


@requires("contracts.write")
async def _brand_pack(request: web.Request) -> web.StreamResponse:
    return await _brand_write(request, "pack")


@requires("contracts.write")
async def _brand_recall(request: web.Request) -> web.StreamResponse:
    return await _brand_write(request, "recall")


def compute_codes_download(brand: str, code_set: str, first_index: int, payloads: Sequence[str],
                           page_url: str) -> tuple[bytes, str, str]:  # fmt: skip
    """(body, content type, file name): codes.csv as the CLI writes it, or a zip with it and qr/<set>-<i>.svg."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "payload", "url"])
    urls = [f"{page_url}?c={payload}" if page_url else "" for payload in payloads]
    for offset, (payload, url) in enumerate(zip(payloads, urls, strict=True)):
        writer.writerow([first_index + offset, payload, url])
    table = buffer.getvalue().encode("utf-8")
    if not page_url:
        return table, "text/csv; charset=utf-8", f"{brand}-{code_set}-codes.csv"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("codes.csv", table)
        for offset, url in enumerate(urls):
            bundle.writestr(f"qr/{code_set}-{first_index + offset}.svg", compute_qr_svg(url))
    return archive.getvalue(), "application/zip", f"{brand}-{code_set}-codes.zip"


@requires("contracts.write")
async def _brand_codes(request: web.Request) -> web.StreamResponse:
    """Issue a code set: sign the codes with the brand's key, register their leaves, answer the download."""
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    brand_id = ""
    try:
        form = await read_form(request, LONG_FIELDS)
        brand_id = parse_identifier(form.get("brand"), "brand")
        code_set = parse_identifier(form.get("code_set"), "code set")
        page_url = form.get("url").strip()
        if page_url and not page_url.startswith(("https://", "http://")):
            raise AccessInputError("tracex.error.url", "the page address starts with https:// or http://")
        count = parse_count(form.get("count"), 1,
                            QR_CODES_PER_CONSOLE_ISSUE_MAX if page_url else CODES_PER_CONSOLE_ISSUE_MAX)  # fmt: skip
        key = await unlock_key(request, viewer, form)
        codes = issue_item_codes(key, brand_id, code_set, count)
        first_index: int | None = None
        for start in range(0, count, CODES_PER_TRANSACTION_MAX):
            leaves: list[Value] = [code.get_leaf() for code in codes[start : start + CODES_PER_TRANSACTION_MAX]]
            success, text, value = await _send(request, key, "issue_codes", [brand_id, code_set, leaves])
            if not success:
                # Earlier chunks stay registered; their codes are lost with this response, so say so.
                reason = text if start == 0 else f"{text} ({start} codes were registered and must be re-issued)"
                raise AccessInputError("tracex.refused", reason, reason=reason)
            if first_index is None:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise AccessInputError("tracex.refused", "no index", reason="issue_codes returned no index")
                first_index = value
    except (AccessInputError, TraceError) as error:
        if isinstance(error, TraceError):
            text = message("tracex.refused", reason=str(error)[:300])
        else:
            text = message(error.key, **error.params)
        return await _brand_page(request, viewer, brand_id, "", Outcome(text, False), 400)
    except GusuError as error:
        return _unavailable(request, "trace_brand", "tracex.brand_title", error, viewer)
    assert first_index is not None
    body, content_type, name = compute_codes_download(brand_id, code_set, first_index,
                                                      [code.get_payload() for code in codes], page_url)  # fmt: skip
    return web.Response(body=body, headers={
        "Content-Type": content_type, "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})  # fmt: skip


# --- the operations page ------------------------------------------------------------------------------


async def _ops_page(request: web.Request, viewer: Viewer, batch_id: str, outcome: Outcome | None = None,
                    status: int = 200) -> web.Response:  # fmt: skip
    message = _catalogue(request).get_message
    sections = [f"<h1>{_e(message('tracex.ops_title'))}</h1>", _links(request, viewer)]
    if outcome is not None:
        sections.append(_result(outcome.text, outcome.success))
    sections.append(f'<p class="hint">{_e(message("tracex.ops_hint"))}</p>')
    sections.append(_lookup_form(request, "/trace/ops", "batch", "trace.batch", batch_id))
    try:
        if not await _is_deployed(request):
            return _not_deployed(request, "trace_ops", "tracex.ops_title", viewer)
        if not batch_id:
            return _render(request, "trace_ops", "".join(sections), status)
        view = await get_batch(request, batch_id)
        if view is None:
            sections.append(f'<p class="error" id="tracex-no-batch">{_e(message("tracex.no_batch"))}</p>')
            return _render(request, "trace_ops", "".join(sections), 404 if status == 200 else status)
        expired = await is_expired(request, batch_id)
        sections.append(compute_batch_html(request, view, await get_history(request, view), expired))
        if not is_allowed(viewer.user.role, "contracts.write"):
            return _render(request, "trace_ops", "".join(sections), status)
        keys = await _keys(request, viewer)
        custodian = bytes_to_hex(view.custodian)
        consignee = None if view.consignee is None else bytes_to_hex(view.consignee)
        custodian_keys = [key for key in keys if key.address == custodian]
        consignee_keys = [key for key in keys if key.address == consignee]
        qc_keys = [key for key in keys if await has_role(request, view.brand, "qc", key.address)]
        batch_field = _hidden("batch", batch_id)
        forms: list[str] = []
        active = not view.recalled and view.hold is None and view.status not in ("split", "merged")
        if active and view.status in ("packed", "qc_passed", "qc_blocked", "received"):
            f = "tracex-qc-form"
            forms.append(_write_form(
                request, viewer, f, "/trace/ops/qc", "tracex.qc", batch_field
                + _input(f, "level", message("trace.qc_level"), 'inputmode="numeric" maxlength="1" required')
                + f'<label for="{f}-result">{_e(message("tracex.qc_result"))}</label>'
                f'<select id="{f}-result" name="result"><option value="pass">{_e(message("tracex.qc_pass"))}</option>'
                f'<option value="block">{_e(message("tracex.qc_block"))}</option></select>'
                f'<label for="{f}-report">{_e(message("trace.qc_title"))}</label>'
                f'<input id="{f}-report" name="report" type="file" required>',
                qc_keys, "tracex.qc_button", multipart=True))  # fmt: skip
        if active and view.status in ("qc_passed", "received"):
            f = "tracex-ship-form"
            forms.append(_write_form(
                request, viewer, f, "/trace/ops/ship", "tracex.ship",
                batch_field + _input(f, "consignee", message("tracex.consignee"), 'maxlength="42" required'),
                custodian_keys, "tracex.ship_button"))  # fmt: skip
        if active and view.status == "in_transit" and consignee_keys:
            # Only the named consignee's key is offered; the server checks it again before signing.
            f = "tracex-receive-form"
            forms.append(_write_form(request, viewer, f, "/trace/ops/receive", "tracex.receive", batch_field,
                                     consignee_keys, "tracex.receive_button"))  # fmt: skip
        if active and view.status == "received" and not expired:
            f = "tracex-on-sale-form"
            forms.append(_write_form(request, viewer, f, "/trace/ops/on-sale", "tracex.on_sale", batch_field,
                                     custodian_keys, "tracex.on_sale_button"))  # fmt: skip
        if active and view.status == "on_sale" and not expired:
            f = "tracex-sales-form"
            forms.append(_write_form(
                request, viewer, f, "/trace/ops/sales", "tracex.sales",
                batch_field + _input(f, "quantity", message("tracex.quantity"),
                                     'inputmode="numeric" maxlength="13" required'),
                custodian_keys, "tracex.sales_button"))  # fmt: skip
        if active and view.status != "in_transit" and view.sold == 0 and view.activated == 0:
            f = "tracex-split-form"
            forms.append(_write_form(
                request, viewer, f, "/trace/ops/split", "tracex.split", batch_field
                + f'<p class="hint">{_e(message("tracex.split_hint", quantity=view.quantity))}</p>'
                + _input(f, "parts", message("tracex.split_parts"),
                         f'maxlength="{PARTS_TEXT_LENGTH_MAX}" placeholder="{_e(batch_id)}-a=1, {_e(batch_id)}-b=1" '
                         "required"),
                custodian_keys, "tracex.split_button"))  # fmt: skip
            f = "tracex-merge-form"
            forms.append(_write_form(
                request, viewer, f, "/trace/ops/merge", "tracex.merge", batch_field
                + f'<p class="hint">{_e(message("tracex.merge_hint"))}</p>'
                + _input(f, "parents", message("tracex.merge_with"), f'maxlength="{PARTS_TEXT_LENGTH_MAX}" required')
                + _input(f, "target", message("tracex.merge_into")),
                custodian_keys, "tracex.merge_button"))  # fmt: skip
        if not forms:
            forms.append(f'<p class="notice" id="tracex-no-action">{_e(message("tracex.no_action"))}</p>')
        sections.extend(forms)
    except GusuError as error:
        return _unavailable(request, "trace_ops", "tracex.ops_title", error, viewer)
    return _render(request, "trace_ops", "".join(sections), status)


@requires("contracts.read")
async def _ops_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    try:
        batch_id = parse_identifier(request.query["batch"], "batch") if request.query.get("batch") else ""
    except AccessInputError as error:
        text = _catalogue(request).get_message(error.key, **error.params)
        return await _ops_page(request, viewer, "", Outcome(text, False), 400)
    return await _ops_page(request, viewer, batch_id)


async def _ops_write(request: web.Request, action: str) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    batch_id = ""
    try:
        form = await read_form(request, LONG_FIELDS, REPORT_FILE_BYTES_MAX if action == "qc" else 0)
        batch_id = parse_identifier(form.get("batch"), "batch")
        if action == "qc":
            level = parse_count(form.get("level"), 0, QC_LEVEL_MAX)
            report = form.files.get("report")
            if report is None:
                raise AccessInputError("tracex.error.report", "choose the inspection report file")
            suite = (await get_client(request).status()).suite
            report_hash = get_suite(suite).hash(report)
            passed = form.get("result") == "pass"
            outcome = await _act(request, viewer, form, "inspect", [batch_id, level, passed, report_hash],
                                 "tracex.done.qc", batch=batch_id, hash="0x" + report_hash.hex())  # fmt: skip
        elif action == "ship":
            consignee = parse_address(form.get("consignee"))
            outcome = await _act(request, viewer, form, "ship", [batch_id, consignee], "tracex.done.ship",
                                 batch=batch_id, consignee="0x" + consignee.hex())  # fmt: skip
        elif action == "receive":
            view = await get_batch(request, batch_id)
            named = None if view is None or view.consignee is None else bytes_to_hex(view.consignee)
            if named is None or form.get("key").strip().lower() != named:
                # Refused before the passphrase is tried: the contract would refuse it anyway.
                raise AccessInputError("tracex.error.not_consignee", "only the named consignee's key receives")
            outcome = await _act(request, viewer, form, "receive", [batch_id], "tracex.done.receive", batch=batch_id)
        elif action == "split":
            parts = parse_split_parts(form.get("parts"))
            split_args: list[Value] = [batch_id, [c for c, _ in parts], [q for _, q in parts]]
            children = ", ".join(c for c, _ in parts)
            outcome = await _act(request, viewer, form, "split", split_args, "tracex.done.split", batch=batch_id,
                                 children=children)  # fmt: skip
        elif action == "merge":
            others = [item for item in parse_batch_list(form.get("parents")) if item != batch_id]
            if not others:
                raise AccessInputError("tracex.error.parts_count", "merge 2 to 32 batches", limit=MERGE_PARENTS_MAX)
            target = parse_identifier(form.get("target"), "batch")
            outcome = await _act(request, viewer, form, "merge", [[batch_id, *others], target], "tracex.done.merge",
                                 batch=target)  # fmt: skip
            if outcome.success:
                batch_id = target  # show the merged batch
        elif action == "on-sale":
            outcome = await _act(request, viewer, form, "put_on_sale", [batch_id], "tracex.done.on_sale",
                                 batch=batch_id)  # fmt: skip
        else:
            quantity = parse_count(form.get("quantity"), 1, SALES_QUANTITY_MAX)
            outcome = await _act(request, viewer, form, "report_sales", [batch_id, quantity], "tracex.done.sales",
                                 batch=batch_id, quantity=quantity)  # fmt: skip
    except AccessInputError as error:
        await record(request, "contract.call", f"{CONTRACT_NAME}.{action}", "refused")
        outcome = Outcome(message(error.key, **error.params), False)
    except GusuError as error:
        return _unavailable(request, "trace_ops", "tracex.ops_title", error, viewer)
    return await _ops_page(request, viewer, batch_id, outcome, 200 if outcome.success else 400)


def _ops_handler(action: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @requires("contracts.write")
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _ops_write(request, action)

    return handler


# --- the regulator's page -----------------------------------------------------------------------------


def compute_alerts_html(request: web.Request, alerts: Sequence[AlertView]) -> str:
    message = _catalogue(request).get_message
    kinds = {"mass_balance": "trace.event.mass_balance_alert", "suspect": "tracex.alert.suspect"}
    rows = [
        [_e(str(alert.number)), _e(format_time(alert.timestamp_ms)),
         f'<span data-kind="{_e(alert.kind)}">{_e(message(kinds[alert.kind]) if alert.kind in kinds else alert.kind)}'
         "</span>",
         _e(alert.batch or "-"), _e(alert.detail),
         f'<a class="mono" href="/transactions/{bytes_to_hex(alert.transaction_id)}">'
         f"{_e(bytes_to_hex(alert.transaction_id)[:18])}…</a>"]
        for alert in alerts
    ]  # fmt: skip
    headers = [message("tracex.number"), message("trace.time"), message("trace.kind"), message("trace.batch"),
               message("tracex.detail"), message("trace.transaction")]  # fmt: skip
    return _table("tracex-alerts", headers, rows, message("tracex.no_alerts"))


@requires(SEES_ALL_PERMISSION)
async def _regulator_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    sections = [f"<h1>{_e(message('tracex.regulator_title'))}</h1>", _links(request, viewer)]
    try:
        if not await _is_deployed(request):
            return _not_deployed(request, "trace_regulator", "tracex.regulator_title", viewer)
        alerts = parse_alerts(0, await _view(request, "get_alerts", [0, ALERTS_SHOWN_MAX]))
        sections.append(f"<h2>{_e(message('tracex.alerts'))}</h2>")
        sections.append(f'<p class="hint">{_e(message("tracex.alerts_hint"))}</p>')
        sections.append(compute_alerts_html(request, alerts))
        sections.append(
            f'<h2>{_e(message("tracex.export"))}</h2><p class="hint">{_e(message("tracex.export_hint"))}</p>'
            '<form method="get" action="/trace/regulator/export" id="tracex-export-form" class="trace-form">'
            f'<label for="tracex-export-batch">{_e(message("trace.batch"))}</label>'
            '<input id="tracex-export-batch" name="batch" maxlength="64" required>'
            f'<label for="tracex-export-format">{_e(message("tracex.format"))}</label>'
            '<select id="tracex-export-format" name="format"><option value="json">JSON</option>'
            '<option value="csv">CSV</option></select>'
            f'<button type="submit">{_e(message("tracex.download"))}</button></form>'
        )
    except GusuError as error:
        return _unavailable(request, "trace_regulator", "tracex.regulator_title", error, viewer)
    return _render(request, "trace_regulator", "".join(sections))


@requires(SEES_ALL_PERMISSION)
async def _regulator_export(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    output_format = request.query.get("format", "json")
    try:
        batch_id = parse_identifier(request.query.get("batch", ""), "batch")
        if output_format not in ("json", "csv"):
            raise AccessInputError("tracex.error.format", "the format is json or csv")
        view = await get_batch(request, batch_id)
        if view is None:
            raise AccessInputError("tracex.no_batch", "no such batch")
        export = await read_batch_export(request, view)
    except AccessInputError as error:
        content = (
            f"<h1>{_e(message('tracex.regulator_title'))}</h1>{_links(request, viewer)}"
            f'<p class="error" role="alert" id="tracex-result">{_e(message(error.key, **error.params))}</p>'
        )
        return _render(request, "trace_regulator", content, 400)
    except GusuError as error:
        return _unavailable(request, "trace_regulator", "tracex.regulator_title", error, viewer)
    await record(request, "batch.export", f"{CONTRACT_NAME} {batch_id}", "ok")
    if output_format == "json":
        body, content_type = export.to_json(), "application/json; charset=utf-8"
    else:
        body, content_type = export.to_csv(), "text/csv; charset=utf-8"
    return web.Response(body=body.encode("utf-8"), headers={
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{batch_id}-gbt38154.{output_format}"'})  # fmt: skip


def add_trace_actor_routes(app: web.Application) -> None:
    app.router.add_get("/trace/brand", _brand_get)
    app.router.add_post("/trace/brand/product", _brand_product)
    app.router.add_post("/trace/brand/codes", _brand_codes)
    app.router.add_post("/trace/brand/pack", _brand_pack)
    app.router.add_post("/trace/brand/recall", _brand_recall)
    app.router.add_get("/trace/ops", _ops_get)
    for action in ("qc", "ship", "receive", "on-sale", "sales", "split", "merge"):
        app.router.add_post(f"/trace/ops/{action}", _ops_handler(action))
    app.router.add_get("/trace/regulator", _regulator_get)
    app.router.add_get("/trace/regulator/export", _regulator_export)
