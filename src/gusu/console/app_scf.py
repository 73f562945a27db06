"""The supply-chain finance pages: a holder's vouchers and their lineage, the issuer's approval queue and the
regulator's view (docs/apps/scf.md).

Server-rendered, no script, like the registry page. Who a user acts for comes from the chain: each of the
user's signing keys (the console keystore) whose address the scf contract registered as an account of a member
enterprise. A holder sees the vouchers of the enterprises its keys act for and the lineage of those vouchers;
the regulator (the console's auditor role) and the operator see every voucher and the issuer table. This is
the console's rule, not a secret: everything on chain is readable through the node's API (docs/apps/scf.md,
"What a node operator can read").
"""

from __future__ import annotations

import datetime
import html
from typing import Final

from aiohttp import web

from gusu.apps.scf.client import AccountRole, AsyncScfApp
from gusu.apps.scf.contract import CONTRACT_NAME
from gusu.apps.scf.views import FinancingOffer, IssuerStats, Voucher, format_rate, format_yuan
from gusu.console.access import CSRF_FIELD, AccessInputError, is_allowed
from gusu.console.accounts import STORE_KEY, Viewer, _catalogue, _render, get_viewer, record, requires
from gusu.console.chains import get_client
from gusu.console.i18n import Catalogue
from gusu.console.signing import key_fields_html, read_form, send_transaction, unlock_key
from gusu.errors import GusuError
from gusu.ledger.jsonview import bytes_to_hex
from gusu.sdk.contracts import AsyncContracts

_e = html.escape

CHINA_TIME: Final = datetime.timezone(datetime.timedelta(hours=8))
VOUCHER_ID_DIGITS_MAX: Final = 18
STATUS_KEYS: Final = {
    "review": "scf.status.review",
    "pending_accept": "scf.status.pending_accept",
    "held": "scf.status.held",
    "finance_pending": "scf.status.finance_pending",
    "refused": "scf.status.refused",
    "cancelled": "scf.status.cancelled",
    "settled": "scf.status.settled",
    "overdue": "scf.status.overdue",
}
OFFER_STATUS_KEYS: Final = {
    "offered": "scf.offer.offered",
    "accepted": "scf.offer.accepted",
    "financed": "scf.offer.financed",
    "withdrawn": "scf.offer.withdrawn",
    "declined": "scf.offer.declined",
}
ORIGIN_KEYS: Final = {
    "issue": "scf.origin.issue",
    "transfer": "scf.origin.transfer",
    "split": "scf.origin.split",
    "finance": "scf.origin.finance",
}
SEES_ALL_PERMISSION: Final = "audit.read"
"""The operator and the auditor (the regulator's console role) see every voucher."""


def _app(request: web.Request) -> AsyncScfApp:
    return AsyncScfApp(AsyncContracts(get_client(request)), CONTRACT_NAME)


def _date(time_ms: int) -> str:
    if time_ms == 0:
        return "-"
    return datetime.datetime.fromtimestamp(time_ms // 1000, CHINA_TIME).strftime("%Y-%m-%d")


def parse_voucher_id(text: str) -> int:
    """A voucher number from the query: 1 to 18 ASCII digits."""
    if not text.isascii() or not text.isdigit() or len(text) > VOUCHER_ID_DIGITS_MAX or int(text) == 0:
        raise AccessInputError("scf.error.voucher_id", "a voucher number is a positive whole number")
    return int(text)


def _status(catalogue: Catalogue, status: str) -> str:
    key = STATUS_KEYS.get(status)
    return status if key is None else catalogue.get_message(key)


def _table(table_id: str, headers: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty" id="{table_id}-empty">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _cells(values: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{value}</td>" for value in values) + "</tr>"


def compute_vouchers_html(catalogue: Catalogue, table_id: str, vouchers: list[Voucher], link: bool) -> str:
    """A table of voucher nodes; every chain-held text is escaped."""
    message = catalogue.get_message
    rows = []
    for voucher in vouchers:
        number = _e(str(voucher.voucher_id))
        first = f'<a href="/scf?voucher={number}">{number}</a>' if link else number
        rows.append(_cells([
            first, _e(str(voucher.parent_id or "-")), _e(voucher.issuer), _e(voucher.holder),
            _e(format_yuan(voucher.face_fen)), _e(format_yuan(voucher.available_fen)),
            _e(_date(voucher.maturity_ms)), _e(message(ORIGIN_KEYS.get(voucher.origin, "scf.origin.issue"))),
            f'<span class="status-{_e(voucher.status)}">{_e(_status(catalogue, voucher.status))}</span>',
        ]))  # fmt: skip
    headers = [
        message("scf.voucher"), message("scf.parent"), message("scf.issuer"), message("scf.holder"),
        message("scf.face"), message("scf.available"), message("scf.maturity"), message("scf.origin"),
        message("scf.status"),
    ]  # fmt: skip
    return _table(table_id, headers, rows, message("scf.none"))


def compute_offers_html(catalogue: Catalogue, offers: list[FinancingOffer]) -> str:
    message = catalogue.get_message
    rows = [
        _cells(
            [
                _e(str(offer.offer_id)),
                _e(offer.funder),
                _e(format_yuan(offer.amount_fen)),
                _e(f"{format_rate(offer.rate_bp)} × {offer.days}"),
                _e(format_yuan(offer.interest_fen)),
                _e(format_yuan(offer.fees_fen)),
                f"<strong>{_e(format_yuan(offer.total_cost_fen))}</strong>",
                _e(format_yuan(offer.net_fen)),
                _e(message(OFFER_STATUS_KEYS.get(offer.status, "scf.offer.offered"))),
                _e(offer.registration_number or "-"),
            ]
        )
        for offer in offers
    ]
    headers = [
        message("scf.offer"), message("scf.funder"), message("scf.amount"), message("scf.rate_days"),
        message("scf.interest"), message("scf.fees"), message("scf.total_cost"), message("scf.net"),
        message("scf.status"), message("scf.registration"),
    ]  # fmt: skip
    return _table("scf-offers", headers, rows, message("scf.offers_none"))


def compute_issuers_html(catalogue: Catalogue, issuers: list[IssuerStats]) -> str:
    message = catalogue.get_message
    rows = [
        _cells(
            [
                _e(row.issuer),
                _e(row.name),
                _e(str(row.outstanding_count)),
                _e(format_yuan(row.outstanding_face_fen)),
                _e(str(row.get_average_term_days())),
                _e(str(row.overdue_count)),
                _e(format_yuan(row.overdue_face_fen)),
                _e(str(row.settled_count)),
                _e(str(row.settled_late_count)),
            ]
        )
        for row in issuers
    ]
    headers = [
        message("scf.issuer"), message("scf.name"), message("scf.outstanding_count"),
        message("scf.outstanding_face"), message("scf.average_term"), message("scf.overdue_count"),
        message("scf.overdue_face"), message("scf.settled_count"), message("scf.settled_late"),
    ]  # fmt: skip
    return _table("scf-issuers", headers, rows, message("scf.none"))


async def get_roles(request: web.Request, viewer: Viewer, app: AsyncScfApp) -> list[tuple[str, AccountRole]]:
    """(address, role) for each of the user's signing keys that the scf contract registered."""
    keys = await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)
    found = []
    for key in keys:
        role = await app.get_account(bytes.fromhex(key.address[2:]))
        if role is not None:
            found.append((key.address, role))
    return found


def _unavailable(request: web.Request, page: str, error: GusuError) -> web.Response:
    message = _catalogue(request).get_message
    content = (
        f"<h1>{_e(message('scf.title'))}</h1>"
        f'<p class="error" role="alert" id="scf-unreachable">'
        f"{_e(message('scf.unreachable', reason=str(error)[:300]))}</p>"
    )
    return _render(request, page, content, 502)


def _bad_input(request: web.Request, page: str, title_key: str, error: AccessInputError) -> web.Response:
    message = _catalogue(request).get_message
    text = message(error.key, **error.params)
    content = f'<h1>{_e(message(title_key))}</h1><p class="error" role="alert" id="scf-input">{_e(text)}</p>'
    return _render(request, page, content, 400)


def _not_deployed(request: web.Request, page: str, title_key: str) -> web.Response:
    message = _catalogue(request).get_message
    notice = message("scf.not_deployed")
    content = f'<h1>{_e(message(title_key))}</h1><p class="notice" id="scf-not-deployed">{_e(notice)}</p>'
    return _render(request, page, content)


@requires("contracts.read")
async def _holder_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    catalogue = _catalogue(request)
    message = catalogue.get_message
    app = _app(request)
    try:
        voucher_id = parse_voucher_id(request.query["voucher"]) if "voucher" in request.query else 0
    except AccessInputError as error:
        return _bad_input(request, "scf", "scf.title", error)
    try:
        if not await app.is_deployed():
            return _not_deployed(request, "scf", "scf.title")
        roles = await get_roles(request, viewer, app)
        enterprises = sorted({role.enterprise for _, role in roles})
        links = f'<a id="scf-queue-link" href="/scf/queue">{_e(message("scf.link_queue"))}</a>'
        if is_allowed(viewer.user.role, SEES_ALL_PERMISSION):
            links += f' · <a id="scf-regulator-link" href="/scf/regulator">{_e(message("scf.link_regulator"))}</a>'
        sections = [f"<h1>{_e(message('scf.title'))}</h1>", f'<p class="links">{links}</p>']
        held: dict[int, Voucher] = {}
        if not enterprises:
            sections.append(f'<p class="notice" id="scf-no-account">{_e(message("scf.no_account"))}</p>')
        for enterprise in enterprises:
            vouchers = await app.list_holdings(enterprise)
            held.update({voucher.voucher_id: voucher for voucher in vouchers})
            sections.append(f"<h2>{_e(message('scf.held_by', enterprise=enterprise))}</h2>")
            sections.append(compute_vouchers_html(catalogue, f"scf-held-{_e(enterprise)}", vouchers, True))
        if voucher_id:
            sees_all = is_allowed(viewer.user.role, SEES_ALL_PERMISSION)
            if voucher_id not in held and not sees_all:
                sections.append(f'<p class="error" role="alert" id="scf-forbidden">{_e(message("scf.forbidden"))}</p>')
                return _render(request, "scf", "".join(sections), 403)
            lineage = await app.get_lineage(voucher_id)
            sections.append(f'<h2 id="scf-lineage-title">{_e(message("scf.lineage", voucher=voucher_id))}</h2>')
            sections.append(f'<p class="hint">{_e(message("scf.lineage_hint"))}</p>')
            sections.append(compute_vouchers_html(catalogue, "scf-lineage", lineage, False))
            sections.append(f"<h2>{_e(message('scf.offers'))}</h2>")
            sections.append(compute_offers_html(catalogue, await app.list_offers(voucher_id)))
    except GusuError as error:
        return _unavailable(request, "scf", error)
    return _render(request, "scf", "".join(sections))


async def _queue_page(request: web.Request, viewer: Viewer, notice: str = "", status: int = 200) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    app = _app(request)
    try:
        if not await app.is_deployed():
            return _not_deployed(request, "scf_queue", "scf.queue_title")
        roles = await get_roles(request, viewer, app)
        issuers = sorted({role.enterprise for _, role in roles if role.role in ("maker", "checker")})
        checker_keys = {address for address, role in roles if role.role == "checker"}
        keys = [
            key
            for key in await request.app[STORE_KEY].list_signing_keys(viewer.user.user_id)
            if key.address in checker_keys
        ]
        sections = [f"<h1>{_e(message('scf.queue_title'))}</h1>", notice]
        if not issuers:
            sections.append(f'<p class="notice" id="scf-no-issuer">{_e(message("scf.no_issuer"))}</p>')
        can_sign = is_allowed(viewer.user.role, "contracts.write")
        for issuer in issuers:
            drafts = await app.list_review_queue(issuer)
            sections.append(f"<h2>{_e(message('scf.queue_of', issuer=issuer))}</h2>")
            sections.append(compute_vouchers_html(catalogue, f"scf-queue-{_e(issuer)}", drafts, False))
            for draft in drafts:
                maker = bytes_to_hex(draft.maker)
                sections.append(
                    f'<p class="hint">{_e(message("scf.drafted_by", voucher=draft.voucher_id, maker=maker))}</p>'
                )
                if can_sign and keys:
                    sections.append(
                        f'<form method="post" action="/scf/queue/approve" class="scf-approve" '
                        f'id="scf-approve-{draft.voucher_id}">'
                        f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(viewer.session.csrf_token)}">'
                        f'<input type="hidden" name="voucher" value="{draft.voucher_id}">'
                        + key_fields_html(request, keys, f"scf-approve-{draft.voucher_id}")
                        + f'<button type="submit">{_e(message("scf.approve", voucher=draft.voucher_id))}</button>'
                        "</form>"
                    )
        if issuers and can_sign and not keys:
            sections.append(f'<p class="notice" id="scf-no-checker">{_e(message("scf.no_checker"))}</p>')
    except GusuError as error:
        return _unavailable(request, "scf_queue", error)
    return _render(request, "scf_queue", "".join(sections), status)


@requires("contracts.read")
async def _queue_get(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    return await _queue_page(request, viewer)


@requires("contracts.write")
async def _queue_approve(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    message = _catalogue(request).get_message
    try:
        form = await read_form(request, {})
        voucher_id = parse_voucher_id(form.get("voucher"))
        key = await unlock_key(request, viewer, form)
        sent = await send_transaction(request, key, CONTRACT_NAME, "approve", [voucher_id])
    except AccessInputError as error:
        await record(request, "contract.call", f"{CONTRACT_NAME}.approve", "refused")
        text = message(error.key, **error.params)
        return await _queue_page(request, viewer, f'<p class="error" role="alert" id="scf-result">{_e(text)}</p>', 400)
    outcome = "ok" if sent.receipt.is_success else "failed"
    await record(request, "contract.call", f"{CONTRACT_NAME}.approve {sent.transaction_id}", outcome)
    if sent.receipt.is_success:
        text = message("scf.approved", voucher=voucher_id, transaction=sent.transaction_id)
        return await _queue_page(request, viewer, f'<p class="success" role="status" id="scf-result">{_e(text)}</p>')
    text = message("scf.refused", reason=sent.receipt.error_message[:300])
    return await _queue_page(request, viewer, f'<p class="error" role="alert" id="scf-result">{_e(text)}</p>', 400)


@requires(SEES_ALL_PERMISSION)
async def _regulator_get(request: web.Request) -> web.StreamResponse:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    app = _app(request)
    try:
        root_id = parse_voucher_id(request.query["root"]) if "root" in request.query else 0
    except AccessInputError as error:
        return _bad_input(request, "scf_regulator", "scf.regulator_title", error)
    try:
        if not await app.is_deployed():
            return _not_deployed(request, "scf_regulator", "scf.regulator_title")
        sections = [
            f"<h1>{_e(message('scf.regulator_title'))}</h1>",
            f'<p class="hint">{_e(message("scf.regulator_hint"))}</p>',
            compute_issuers_html(catalogue, await app.list_issuer_stats()),
            f'<form method="get" action="/scf/regulator" id="scf-tree-form"><label for="scf-root">'
            f'{_e(message("scf.root"))}</label><input id="scf-root" name="root" inputmode="numeric" maxlength="18">'
            f'<button type="submit">{_e(message("scf.show_tree"))}</button></form>',
        ]
        if root_id:
            sections.append(f'<h2 id="scf-tree-title">{_e(message("scf.tree", voucher=root_id))}</h2>')
            sections.append(compute_vouchers_html(catalogue, "scf-tree", await app.get_tree(root_id), True))
    except GusuError as error:
        return _unavailable(request, "scf_regulator", error)
    return _render(request, "scf_regulator", "".join(sections))


def add_scf_routes(app: web.Application) -> None:
    app.router.add_get("/scf", _holder_get)
    app.router.add_get("/scf/queue", _queue_get)
    app.router.add_post("/scf/queue/approve", _queue_approve)
    app.router.add_get("/scf/regulator", _regulator_get)
