"""The consumer page of the traceability application (溯源): ``GET /trace?c=<QR payload>``, no login.

The QR on an item opens this page with its payload. The page checks the brand's signature on the code
(offline, against the public key the chain stores for the brand), then shows the product, the batches
the item went through with every event and its transaction id, "queried N times, first at T", the scan
history, a suspect or recall warning, and a check of the QC report: the consumer drops the report file
and ``static/trace-check.js`` hashes it in the browser (static/hash.js) and compares it with the hash the
inspector put on chain. Rendered on the server (no script needed except for the file check).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from gusu.apps.trace import (
    CONTRACT_NAME,
    ItemReport,
    TraceError,
    parse_payload,
    plan_item_report,
    run_report_plan_async,
)
from gusu.apps.trace.export import format_time
from gusu.codec import Value
from gusu.console.accounts import RENDER_KEY
from gusu.console.chain import HASH_NAMES
from gusu.console.chains import get_client
from gusu.console.i18n import LANGUAGE_COOKIE, Catalogue, get_language, load_catalogues
from gusu.errors import RemoteError
from gusu.sdk import AsyncClient, AsyncContracts

PAYLOAD_QUERY_MAX: Final = 600
"""Longest ``c`` parameter read (a payload is about 250 characters; a URL around it is cut off)."""
EVENT_MESSAGES: Final = {
    "packed": "trace.event.packed",
    "qc_passed": "trace.event.qc_passed",
    "qc_blocked": "trace.event.qc_blocked",
    "shipped": "trace.event.shipped",
    "received": "trace.event.received",
    "on_sale": "trace.event.on_sale",
    "sold": "trace.event.sold",
    "split_from": "trace.event.split_from",
    "split": "trace.event.split",
    "merged_from": "trace.event.merged_from",
    "merged": "trace.event.merged",
    "recalled": "trace.event.recalled",
    "on_hold": "trace.event.on_hold",
    "mass_balance_alert": "trace.event.mass_balance_alert",
    "expiry_set": "trace.event.expiry_set",
}
"""Event kind -> its message (spelled out so the catalogue check sees every key)."""
STATUS_MESSAGES: Final = {
    "packed": "trace.status.packed",
    "qc_passed": "trace.status.qc_passed",
    "qc_blocked": "trace.status.qc_blocked",
    "in_transit": "trace.status.in_transit",
    "received": "trace.status.received",
    "on_sale": "trace.status.on_sale",
    "split": "trace.status.split",
    "merged": "trace.status.merged",
}
Render = Callable[[web.Request, str, str, int], web.Response]


def _short(value: bytes) -> str:
    text = "0x" + value.hex()
    return text[:10] + "…" + text[-6:]


def compute_trace_form(catalogue: Catalogue, payload: str) -> str:
    m, e = catalogue.get_message, html.escape
    return (
        f"<h1>{e(m('trace.title'))}</h1><p>{e(m('trace.intro'))}</p>"
        f'<form class="trace-form" action="/trace" method="get">'
        f'<label for="trace-code">{e(m("trace.code_label"))}</label> '
        f'<input id="trace-code" name="c" maxlength="{PAYLOAD_QUERY_MAX}" size="60" value="{e(payload)}">'
        f'<button type="submit" id="trace-submit">{e(m("trace.check"))}</button></form>'
    )


CLOSED: Final = ("split", "merged")
"""Statuses of a batch whose items moved on: expiry is shown on the batches that hold them."""


def compute_status_text(catalogue: Catalogue, status: str, expired: bool) -> str:
    """A batch's status as shown: EXPIRED (by the chain's block time) overrides the open states."""
    if expired and status not in CLOSED:
        return catalogue.get_message("trace.status.expired")
    return catalogue.get_message(STATUS_MESSAGES[status]) if status in STATUS_MESSAGES else status


def compute_trace_report(catalogue: Catalogue, report: ItemReport, hash_name: str) -> str:
    """The report's HTML, every value escaped."""
    m, e = catalogue.get_message, html.escape
    if not report.authentic:
        return f'<p id="trace-verdict" class="error" data-verdict="forged">{e(m("trace.forged"))}</p>'
    if not report.issued:
        return f'<p id="trace-verdict" class="error" data-verdict="unknown">{e(m("trace.not_issued"))}</p>'
    verdict = (
        "recalled" if report.recalled else "suspect" if report.suspect else "expired" if report.expired else "genuine"
    )
    parts = [
        f'<p id="trace-verdict" class="{"error" if verdict != "genuine" else "recorded"}" data-verdict="{verdict}">'
        f"{e(m('trace.genuine', brand=report.brand.name if report.brand else report.code.brand))}</p>"
    ]
    if report.suspect:
        parts.append(f'<p id="trace-suspect" class="error">{e(m("trace.suspect"))}</p>')
    if report.recalled:
        parts.append(f'<p id="trace-recalled" class="error">{e(m("trace.recalled"))}</p>')
    current = report.path[-1] if report.path else None
    if report.expired and current is not None:
        parts.append(
            f'<p id="trace-expired" class="error">{e(m("trace.expired", time=format_time(current.expires_ms)))}</p>'
        )
    if report.queries == 0 or report.first_timestamp_ms is None:
        queries = m("trace.never_queried")
    else:
        queries = m("trace.queried", count=report.queries, time=format_time(report.first_timestamp_ms),
                    location=report.first_location or "")  # fmt: skip
    rows = [
        ("trace.brand", f"{report.brand.name} ({report.code.brand})" if report.brand else report.code.brand),
        ("trace.product", report.product.name if report.product else ""),
        ("trace.gtin", report.product.gtin if report.product else ""),
        ("trace.batch", " → ".join(view.batch for view in report.path)),
        ("trace.code", f"{report.code.code_set} #{report.code_index}"),
        ("trace.production_date", current.production_date if current else ""),
        ("trace.status", compute_status_text(catalogue, current.status, report.expired) if current else ""),
        ("trace.expires", format_time(current.expires_ms) if current and current.expires_ms else "-"),
        ("trace.qc_level", str(current.qc_level) if current else ""),
    ]
    fields = "".join(f"<dt>{e(m(key))}</dt><dd>{e(value)}</dd>" for key, value in rows)
    fields += f'<dt>{e(m("trace.queries"))}</dt><dd id="trace-queries">{e(queries)}</dd>'
    parts.append(f'<dl class="fields" id="trace-fields">{fields}</dl>')
    report_hash = current.qc_report_hash if current else None
    if report_hash is not None:
        parts.append(
            f"<h2>{e(m('trace.qc_title'))}</h2>"
            f'<div class="drop" id="trace-report" data-expected="0x{report_hash.hex()}" data-hash-name="{e(hash_name)}"'
            f' data-match="{e(m("trace.qc_match"))}" data-mismatch="{e(m("trace.qc_mismatch"))}">'
            f'<p>{e(m("trace.qc_expected"))} <span class="mono">0x{report_hash.hex()}</span></p>'
            f'<label for="trace-report-file">{e(m("trace.qc_choose"))}</label> '
            f'<input type="file" id="trace-report-file"><p id="trace-report-result" aria-live="polite"></p></div>'
        )

    def event_name(kind: str) -> str:
        return m(EVENT_MESSAGES[kind]) if kind in EVENT_MESSAGES else kind

    timeline = "".join(
        f"<tr><td>{e(format_time(event.timestamp_ms))}</td><td>{e(event.batch)}</td>"
        f'<td data-event="{e(event.kind)}">{e(event_name(event.kind))}'
        f'</td><td class="mono">{e(_short(event.actor))}</td>'
        f'<td class="mono"><a href="/transactions/0x{event.transaction_id.hex()}">{e(_short(event.transaction_id))}'
        f"</a></td></tr>"
        for event in report.timeline
    )
    parts.append(
        f'<h2>{e(m("trace.timeline"))}</h2><table id="trace-timeline"><thead><tr><th>{e(m("trace.time"))}</th>'
        f"<th>{e(m('trace.batch'))}</th><th>{e(m('trace.event'))}</th><th>{e(m('trace.actor'))}</th>"
        f"<th>{e(m('trace.transaction'))}</th></tr></thead><tbody>{timeline}</tbody></table>"
    )
    scans = "".join(
        f"<tr><td>{e(format_time(scan.timestamp_ms))}</td><td>{e(scan.location)}</td>"
        f"<td>{e(m('trace.activation') if scan.activate else m('trace.query'))}</td>"
        f'<td class="mono"><a href="/transactions/0x{scan.transaction_id.hex()}">{e(_short(scan.transaction_id))}'
        f"</a></td></tr>"
        for scan in report.scans
    )
    parts.append(
        f'<h2>{e(m("trace.scans"))}</h2><table id="trace-scans"><thead><tr><th>{e(m("trace.time"))}</th>'
        f"<th>{e(m('trace.location'))}</th><th>{e(m('trace.kind'))}</th><th>{e(m('trace.transaction'))}</th></tr>"
        f"</thead><tbody>{scans}</tbody></table>"
    )
    return "".join(parts)


NO_APPLICATION_CODES: Final = frozenset({"not_found", "contract_unknown", "method_unknown", "arguments_invalid"})
"""Node answers meaning the chain has no trace contract (or another contract under its name)."""
ReportReader = Callable[[str], Awaitable[tuple[ItemReport, str]]]


def make_report_reader(client: AsyncClient) -> ReportReader:
    """Reads a payload's report (and the chain's hash name) through `client`'s views."""

    async def read(payload: str) -> tuple[ItemReport, str]:
        code = parse_payload(payload)  # a malformed payload costs no node call
        status = await client.status()
        contracts = AsyncContracts(client)

        async def view(method: str, args: list[Value]) -> Value:
            return await contracts.view(CONTRACT_NAME, method, args)

        report = await run_report_plan_async(plan_item_report(code, status.suite), view)
        return report, HASH_NAMES.get(status.suite, status.suite)

    return read


async def compute_trace_content(catalogue: Catalogue, payload: str, read: ReportReader) -> tuple[str, int]:
    """The page's HTML and HTTP status for `payload` (empty: the form alone)."""
    e = html.escape
    content = compute_trace_form(catalogue, payload)
    if not payload:
        return content, 200
    try:
        report, hash_name = await read(payload)
    except TraceError as error:
        message = f"{e(catalogue.get_message('trace.invalid'))} ({e(str(error))})"
        return content + f'<p id="trace-error" class="error">{message}</p>', 400
    except RemoteError as error:
        if error.code not in NO_APPLICATION_CODES:
            raise
        return content + f'<p id="trace-error" class="error">{e(catalogue.get_message("trace.no_app"))}</p>', 404
    return content + compute_trace_report(catalogue, report, hash_name), 200


async def trace_page(request: web.Request, catalogues: dict[str, Catalogue]) -> web.StreamResponse:
    catalogue = catalogues[get_language(request.cookies.get(LANGUAGE_COOKIE))]
    payload = request.query.get("c", "")[:PAYLOAD_QUERY_MAX]
    content, status = await compute_trace_content(catalogue, payload, make_report_reader(get_client(request)))
    content += '<script src="/static/trace-check.js" defer></script>'
    render: Render = request.app[RENDER_KEY]  # type: ignore[assignment]
    return render(request, "trace", content, status)


def add_trace_routes(app: web.Application) -> None:
    """``GET /trace``: public, like /verify."""
    catalogues = load_catalogues()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await trace_page(request, catalogues)

    app.router.add_get("/trace", handler)
