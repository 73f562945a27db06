"""The monitoring pages: the alert history and the alert rules (with the SMTP server for e-mail).

Any logged-in role reads them (``alerts.read``); only a platform operator
creates, enables, disables or deletes rules and sets the SMTP server
(``alerts.manage``). Pages are rendered on the server like the users page
(plain forms, no script), every value escaped, every input validated with a
message from the catalogues, every change written to the audit log. Secrets
are not shown back: the SMTP password never appears in a page or answer, and
webhook URLs (which often carry an access token in their query) are shown in
full to operators only, to other roles as their scheme and host. A rule applies
to every chain or to one (the console's own endpoint or a chain of the chains
page), chosen when it is made and changed in its row; the history names the
chain of each event.
"""

from __future__ import annotations

import html
import time
import unicodedata
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web

from gusu.console.access import AccessInputError, is_allowed
from gusu.console.accounts import (
    STORE_KEY,
    Handler,
    _catalogue,
    _csrf_input,
    _error_html,
    _field,
    _form,
    _render,
    get_viewer,
    record,
    requires,
)
from gusu.console.alert_store import SMTP_SECURITY, AlertEvent, AlertStore, SmtpServer
from gusu.console.alerts import (
    ALL_CHAINS,
    DEFAULT_CHAIN_ID,
    RULE_KINDS,
    AlertRule,
    parse_rule_chain,
    parse_rule_form,
    validate_email,
)
from gusu.console.chain_store import ChainStore
from gusu.console.i18n import Catalogue
from gusu.console.settings import ConsoleSettings

_e = html.escape
SETTINGS_KEY: Final = web.AppKey("alert_pages_settings", ConsoleSettings)

KIND_KEYS: Final = {
    "node_down": ("alerts.kind.node_down", "alerts.condition.node_down", "alerts.observed.node_down"),
    "height_stalled": (
        "alerts.kind.height_stalled",
        "alerts.condition.height_stalled",
        "alerts.observed.height_stalled",
    ),
    "peers_below": ("alerts.kind.peers_below", "alerts.condition.peers_below", "alerts.observed.peers_below"),
    "mempool_full": ("alerts.kind.mempool_full", "alerts.condition.mempool_full", "alerts.observed.mempool_full"),
    "certificate_expiring": (
        "alerts.kind.certificate_expiring",
        "alerts.condition.certificate_expiring",
        "alerts.observed.certificate_expiring",
    ),
}
"""Per kind: its name, its condition (with the threshold), what was observed."""
STATUS_KEYS: Final = {"firing": "alerts.status.firing", "resolved": "alerts.status.resolved"}
SECURITY_KEYS: Final = {"starttls": "smtp.security.starttls", "tls": "smtp.security.tls", "none": "smtp.security.none"}
SMTP_HOST_LENGTH_MAX: Final = 253


def _store(request: web.Request) -> AlertStore:
    return AlertStore(request.app[STORE_KEY].backend)


def _settings(request: web.Request) -> ConsoleSettings:
    return request.app[SETTINGS_KEY]


def _time(time_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time_ms / 1000)) + " UTC"


def _can_manage(request: web.Request) -> bool:
    viewer = get_viewer(request)
    return viewer is not None and is_allowed(viewer.user.role, "alerts.manage")


def compute_shown_url(url: str, full: bool) -> str:
    """The webhook URL as shown: in full to operators, else only scheme and host (a query may hold a token)."""
    if full:
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


async def _chain_names(request: web.Request) -> dict[int, str]:
    """Every chain a rule can name, by number: the console's endpoint first, then the chains page's chains."""
    chains = await ChainStore(request.app[STORE_KEY].backend).list_chains()
    message = _catalogue(request).get_message
    return {DEFAULT_CHAIN_ID: message("chains.default")} | {chain.chain_id: chain.name for chain in chains}


def compute_chain_label(catalogue: Catalogue, chain_id: int | None, names: Mapping[int, str]) -> str:
    """How a page names a rule's or an event's chain (a chain no longer known by its number)."""
    if chain_id is None:
        return catalogue.get_message("rules.all_chains")
    if chain_id in names:
        return names[chain_id]
    return catalogue.get_message("rules.chain_unknown", id=chain_id)


def _chain_options(catalogue: Catalogue, names: Mapping[int, str], chosen: str) -> str:
    choices = [(ALL_CHAINS, catalogue.get_message("rules.all_chains"))] + [
        (str(chain_id), name) for chain_id, name in names.items()
    ]
    return "".join(
        f'<option value="{_e(value)}"{" selected" if value == chosen else ""}>{_e(label)}</option>'
        for value, label in choices
    )


def _chain_value(chain_id: int | None) -> str:
    return ALL_CHAINS if chain_id is None else str(chain_id)


def _condition(message: Catalogue, kind: str, threshold: int, capacity: int | None) -> str:
    return message.get_message(KIND_KEYS[kind][1], threshold=threshold, capacity=capacity or "")


def _nav(message: Catalogue, current: str) -> str:
    links = [("/alerts", "alerts.history_link", "history"), ("/alerts/rules", "alerts.rules_link", "rules")]
    return (
        '<nav class="pager">'
        + "".join(
            f'<a href="{href}"{" aria-current=page" if name == current else ""}>{_e(message.get_message(key))}</a>'
            for href, key, name in links
        )
        + "</nav>"
    )


# --- history ---------------------------------------------------------------------------------


def _event_row(catalogue: Catalogue, event: AlertEvent, names: Mapping[int, str]) -> str:
    message = catalogue.get_message
    # The name the chain had when the event fired; the console's endpoint by its label.
    chain = event.chain_name or compute_chain_label(catalogue, event.chain_id, names)
    keys = KIND_KEYS.get(event.kind)
    kind = message(keys[0]) if keys else event.kind
    observed = message(keys[2], observed=event.observed) if keys else event.observed
    status = message(STATUS_KEYS[event.status]) if event.status in STATUS_KEYS else event.status
    return (
        f'<tr class="alert-{_e(event.status)}" data-rule="{event.rule_id}" data-status="{_e(event.status)}" '
        f'data-chain="{event.chain_id}">'
        f"<td>{_e(_time(event.time_ms))}</td><td>{_e(event.rule_name)}</td><td>{_e(kind)}</td>"
        f'<td><span class="status-{_e(event.status)}">{_e(status)}</span></td><td>{_e(observed)}</td>'
        f'<td>{_e(event.delivery or "—")}</td><td class="alert-chain">{_e(chain)}</td></tr>'
    )


def _parse_before(request: web.Request) -> int | None:
    text = request.query.get("before")
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise AccessInputError("error.cursor_invalid", "before must be an alert event number")
    return int(text)


@requires("alerts.read")
async def _history(request: web.Request) -> web.StreamResponse:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    limit = _settings(request).alert_page_max
    events = await _store(request).list_events(_parse_before(request), limit)
    names = await _chain_names(request)
    rows = "".join(_event_row(catalogue, event, names) for event in events)
    older = (
        f'<a class="pager-older" href="/alerts?before={events[-1].event_id}">{_e(message("alerts.older"))}</a>'
        if len(events) == limit
        else ""
    )
    body = (
        f'<p id="alerts-empty">{_e(message("alerts.empty"))}</p>'
        if not events
        else (
            f'<table id="alert-history"><thead><tr><th>{_e(message("alerts.time"))}</th>'
            f"<th>{_e(message('alerts.rule'))}</th><th>{_e(message('rules.kind'))}</th>"
            f"<th>{_e(message('alerts.status'))}</th><th>{_e(message('alerts.observed'))}</th>"
            f"<th>{_e(message('alerts.delivery'))}</th><th>{_e(message('rules.chain'))}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    )
    content = (
        f'<h1>{_e(message("alerts.title"))}</h1>{_nav(catalogue, "history")}{body}<nav class="pager">{older}</nav>'
    )
    return _render(request, "alerts", content)


# --- rules -------------------------------------------------------------------------------------


def _rule_row(
    catalogue: Catalogue, rule: AlertRule, token: str | None, full_urls: bool, firing: bool, names: Mapping[int, str]
) -> str:
    message = catalogue.get_message
    chain = f'<span class="rule-chain">{_e(compute_chain_label(catalogue, rule.chain_id, names))}</span>'
    if token is not None:
        # Operators change the chain in place: the rule's state starts afresh on its new chain(s).
        chain = (
            f'<form class="rule-chain-form" id="rule-chain-{rule.rule_id}" action="/alerts/rules/{rule.rule_id}/chain" '
            f'method="post">{token}<label class="hidden" for="rule-chain-{rule.rule_id}-field">'
            f"{_e(message('rules.chain'))}</label>"
            f'<select id="rule-chain-{rule.rule_id}-field" name="chain">'
            f"{_chain_options(catalogue, names, _chain_value(rule.chain_id))}</select>"
            f'<button type="submit">{_e(message("rules.chain_submit"))}</button></form>'
        )
    notify = []
    if rule.webhook_url:
        notify.append(f"{message('rules.webhook_url')}: {compute_shown_url(rule.webhook_url, full_urls)}")
    if rule.email_to:
        notify.append(f"{message('rules.email_to')}: {rule.email_to}")
    state = (
        message("alerts.status.firing")
        if firing
        else (message("rules.enabled") if rule.enabled else message("rules.disabled"))
    )
    actions = ""
    if token is not None:
        toggle = "disable" if rule.enabled else "enable"
        toggle_key = "rules.disable" if rule.enabled else "rules.enable"
        path = f"/alerts/rules/{rule.rule_id}"
        actions = (
            f'<form action="{path}/{toggle}" method="post">{token}'
            f'<button type="submit">{_e(message(toggle_key))}</button></form>'
            f'<form action="{path}/delete" method="post">{token}'
            f'<button type="submit" class="danger">{_e(message("rules.delete"))}</button></form>'
        )
    return (
        f'<tr data-rule="{rule.rule_id}" data-chain="{_e(_chain_value(rule.chain_id))}"><td>{_e(rule.name)}</td>'
        f"<td>{chain}</td><td>{_e(message(KIND_KEYS[rule.kind][0]))}</td>"
        f"<td>{_e(_condition(catalogue, rule.kind, rule.threshold, rule.capacity))}</td>"
        f"<td>{_e('; '.join(notify) or '—')}</td><td>{_e(state)}</td><td>{actions}</td></tr>"
    )


def _rule_form(catalogue: Catalogue, token: str, form: Mapping[str, str], names: Mapping[int, str]) -> str:
    message = catalogue.get_message
    chains = _chain_options(catalogue, names, form.get("chain", ALL_CHAINS))
    kinds = "".join(
        f'<option value="{kind}"{" selected" if form.get("kind") == kind else ""}>{_e(message(keys[0]))}</option>'
        for kind, keys in KIND_KEYS.items()
    )

    def value(name: str) -> str:
        return f'value="{_e(form.get(name, ""))}"'

    return (
        f"<h2>{_e(message('rules.create'))}</h2>"
        f'<form class="stack" id="create-rule-form" action="/alerts/rules" method="post">{token}'
        f"{_field(catalogue, 'name', 'rules.name', extra='required ' + value('name'))}"
        f'<label for="field-kind">{_e(message("rules.kind"))}</label>'
        f'<select id="field-kind" name="kind">{kinds}</select>'
        f'<label for="field-chain">{_e(message("rules.chain"))}</label>'
        f'<select id="field-chain" name="chain">{chains}</select>'
        f"{_field(catalogue, 'threshold', 'rules.threshold', extra='required inputmode=numeric ' + value('threshold'))}"
        f"{_field(catalogue, 'capacity', 'rules.capacity', extra='inputmode=numeric ' + value('capacity'))}"
        f"{_field(catalogue, 'webhook_url', 'rules.webhook_url', 'url', value('webhook_url'))}"
        f"{_field(catalogue, 'email_to', 'rules.email_to', 'email', value('email_to'))}"
        f'<button type="submit">{_e(message("rules.create_submit"))}</button></form>'
    )


def _smtp_form(catalogue: Catalogue, token: str, server: SmtpServer | None) -> str:
    message = catalogue.get_message
    current = server or SmtpServer("", 587, "starttls", None, None, "")
    securities = "".join(
        f'<option value="{security}"{" selected" if security == current.security else ""}>'
        f"{_e(message(SECURITY_KEYS[security]))}</option>"
        for security in SMTP_SECURITY
    )
    # The password is never written into the page: only whether one is set.
    password_note = message("smtp.password_set") if current.password else message("smtp.password_unset")
    host = f'value="{_e(current.host)}"'
    port = f'inputmode=numeric value="{current.port}"'
    username = f'value="{_e(current.username or "")}"'
    sender = f'value="{_e(current.sender)}"'
    none = "" if server else f'<p id="smtp-none">{_e(message("smtp.none"))}</p>'
    return (
        f"<h2>{_e(message('smtp.title'))}</h2>{none}"
        f'<form class="stack" id="smtp-form" action="/alerts/smtp" method="post">{token}'
        f"{_field(catalogue, 'host', 'smtp.host', extra=host)}"
        f"{_field(catalogue, 'port', 'smtp.port', extra=port)}"
        f'<label for="field-security">{_e(message("smtp.security"))}</label>'
        f'<select id="field-security" name="security">{securities}</select>'
        f"{_field(catalogue, 'username', 'smtp.username', extra=username)}"
        f"{_field(catalogue, 'password', 'smtp.password', 'password', 'autocomplete=new-password')}"
        f'<p class="hint" id="smtp-password-note">{_e(password_note)}</p>'
        f"{_field(catalogue, 'sender', 'smtp.sender', 'email', sender)}"
        f'<button type="submit">{_e(message("smtp.submit"))}</button></form>'
    )


async def _rules_page(
    request: web.Request,
    error: AccessInputError | None = None,
    form: Mapping[str, str] | None = None,
    notice_key: str | None = None,
) -> web.Response:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    store = _store(request)
    manage = _can_manage(request)
    viewer = get_viewer(request)
    assert viewer is not None
    token = _csrf_input(viewer.session.csrf_token) if manage else None
    rules = await store.list_rules()
    firing = await store.list_firing_rule_ids()
    names = await _chain_names(request)
    rows = "".join(
        _rule_row(catalogue, rule, token, manage, rule.rule_id in firing and rule.enabled, names) for rule in rules
    )
    table = (
        f'<p id="rules-empty">{_e(message("rules.empty"))}</p>'
        if not rules
        else (
            f'<table id="alert-rules"><thead><tr><th>{_e(message("rules.name"))}</th>'
            f"<th>{_e(message('rules.chain'))}</th><th>{_e(message('rules.kind'))}</th><th>{_e(message('rules.condition'))}</th>"
            f"<th>{_e(message('rules.notify'))}</th><th>{_e(message('rules.state'))}</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    )
    notice = f'<p class="notice" role="status">{_e(message(notice_key))}</p>' if notice_key else ""
    content = f"<h1>{_e(message('rules.title'))}</h1>{_nav(catalogue, 'rules')}{notice}{_error_html(catalogue, error)}"
    content += table
    interval = _settings(request).alert_interval_s
    content += f'<p class="hint">{_e(message("rules.interval", seconds=f"{interval:g}"))}</p>'
    if token is not None:
        content += _rule_form(catalogue, token, form or {}, names)
        content += _smtp_form(catalogue, token, await store.get_smtp())
    else:
        content += f'<p id="rules-read-only">{_e(message("rules.read_only"))}</p>'
    return _render(request, "alert_rules", content, 400 if error else 200)


@requires("alerts.read")
async def _rules_get(request: web.Request) -> web.StreamResponse:
    return await _rules_page(request)


@requires("alerts.manage")
async def _rules_create(request: web.Request) -> web.StreamResponse:
    form: dict[str, str] = {}
    try:
        form = await _form(request)
        rule = parse_rule_form(form, set(await _chain_names(request)))
        store = _store(request)
        rules_max = _settings(request).alert_rules_max
        if await store.count_rules() >= rules_max:
            raise AccessInputError(
                "error.alert_rules_max", f"there are {rules_max} rules already, the most allowed", count=rules_max
            )
    except AccessInputError as error:
        await record(request, "alert_rule.create", form.get("name", "")[:64] or None, "refused")
        return await _rules_page(request, error=error, form=form)
    now_ms = int(time.time() * 1000)
    await store.create_rule(rule, now_ms)
    target = f"{rule.name} ({rule.kind} {rule.threshold})" + (
        "" if rule.chain_id is None else f" chain {rule.chain_id}"
    )
    await record(request, "alert_rule.create", target, "ok")
    return web.Response(status=303, headers={"Location": "/alerts/rules"})


def _rule_action(action: str) -> Handler:
    @requires("alerts.manage")
    async def handler(request: web.Request) -> web.StreamResponse:
        text = request.match_info["rule_id"]
        rule = None
        if text.isascii() and text.isdigit() and len(text) <= 18:
            rule = await _store(request).get_rule(int(text))
        if rule is None:
            raise web.HTTPNotFound()
        store = _store(request)
        if action == "delete":
            await store.delete_rule(rule.rule_id)
        else:
            await store.apply_rule_enabled(rule.rule_id, action == "enable")
        await record(request, f"alert_rule.{action}", f"{rule.rule_id} {rule.name}", "ok")
        return web.Response(status=303, headers={"Location": "/alerts/rules"})

    return handler


@requires("alerts.manage")
async def _rule_chain(request: web.Request) -> web.StreamResponse:
    """Points a rule at another chain, or at every chain."""
    text = request.match_info["rule_id"]
    store = _store(request)
    rule = await store.get_rule(int(text)) if text.isascii() and text.isdigit() and len(text) <= 18 else None
    if rule is None:
        raise web.HTTPNotFound()
    try:
        form = await _form(request)
        chain_id = parse_rule_chain(form.get("chain", ""), set(await _chain_names(request)))
    except AccessInputError as error:
        await record(request, "alert_rule.chain", f"{rule.rule_id} {rule.name}", "refused")
        return await _rules_page(request, error=error)
    await store.apply_rule_chain(rule.rule_id, chain_id)
    await record(request, "alert_rule.chain", f"{rule.rule_id} {rule.name}: chain {_chain_value(chain_id)}", "ok")
    return web.Response(status=303, headers={"Location": "/alerts/rules"})


def parse_smtp_form(form: Mapping[str, str], current: SmtpServer | None) -> SmtpServer:
    """Validates the SMTP form; an empty password keeps the one set (the page never holds it)."""
    host = form.get("host", "").strip()
    if (
        not host
        or len(host) > SMTP_HOST_LENGTH_MAX
        or any(character.isspace() or unicodedata.category(character).startswith("C") for character in host)
    ):
        raise AccessInputError("error.smtp_host_invalid", "the SMTP host must be a host name or address")
    port_text = form.get("port", "").strip()
    if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5 or not 1 <= int(port_text) <= 65535:
        raise AccessInputError("error.smtp_port_invalid", "the SMTP port must be a whole number from 1 to 65535")
    security = form.get("security", "")
    if security not in SMTP_SECURITY:
        raise AccessInputError("error.smtp_security_invalid", "choose starttls, tls or none")
    username = form.get("username", "").strip() or None
    if username is not None and any(unicodedata.category(character).startswith("C") for character in username):
        raise AccessInputError("error.smtp_username_invalid", "the SMTP user name must not contain control characters")
    password = form.get("password", "") or (current.password if current is not None else None)
    if username is None:
        password = None
    sender = form.get("sender", "").strip()
    try:
        validate_email(sender)
    except AccessInputError as error:
        raise AccessInputError("error.smtp_sender_invalid", "the sender must be an e-mail address") from error
    return SmtpServer(host, int(port_text), security, username, password, sender)


@requires("alerts.manage")
async def _smtp_set(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    try:
        form = await _form(request)
        server = parse_smtp_form(form, await store.get_smtp())
    except AccessInputError as error:
        await record(request, "alert_smtp.update", None, "refused")
        return await _rules_page(request, error=error)
    await store.apply_smtp(server)
    # The audit entry names the server, never the password.
    await record(request, "alert_smtp.update", f"{server.host}:{server.port} ({server.security})", "ok")
    return await _rules_page(request, notice_key="smtp.saved")


# --- JSON API ------------------------------------------------------------------------------------


@requires("alerts.read")
async def _api_events(request: web.Request) -> web.StreamResponse:
    events = await _store(request).list_events(_parse_before(request), _settings(request).alert_page_max)
    return web.json_response(
        {
            "events": [
                {
                    "id": event.event_id,
                    "rule_id": event.rule_id,
                    "rule": event.rule_name,
                    "kind": event.kind,
                    "threshold": event.threshold,
                    "status": event.status,
                    "observed": event.observed,
                    "time_ms": event.time_ms,
                    "delivery": event.delivery,
                    "chain_id": event.chain_id,
                    "chain": event.chain_name,
                }
                for event in events
            ]
        }
    )


@requires("alerts.read")
async def _api_rules(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    full = _can_manage(request)
    firing = await store.list_firing_rule_ids()
    return web.json_response(
        {
            "rules": [
                {
                    "id": rule.rule_id,
                    "name": rule.name,
                    "kind": rule.kind,
                    "threshold": rule.threshold,
                    "capacity": rule.capacity,
                    "webhook_url": None if rule.webhook_url is None else compute_shown_url(rule.webhook_url, full),
                    "email_to": rule.email_to,
                    "enabled": rule.enabled,
                    "firing": rule.enabled and rule.rule_id in firing,
                    "chain_id": rule.chain_id,
                }
                for rule in await store.list_rules()
            ]
        }
    )


@requires("alerts.read")
async def _api_firing(request: web.Request) -> web.StreamResponse:
    """What is firing now (enabled rules only), for the dashboard."""
    store = _store(request)
    enabled = {rule.rule_id for rule in await store.list_rules() if rule.enabled}
    return web.json_response(
        {
            "firing": [
                {
                    "rule_id": event.rule_id,
                    "rule": event.rule_name,
                    "kind": event.kind,
                    "observed": event.observed,
                    "since_ms": event.time_ms,
                    "chain_id": event.chain_id,
                    "chain": event.chain_name,
                }
                for event in await store.list_firing_events()
                if event.rule_id in enabled
            ]
        }
    )


def add_alert_routes(app: web.Application, settings: ConsoleSettings) -> None:
    app[SETTINGS_KEY] = settings
    router = app.router
    router.add_get("/alerts", _history)
    router.add_get("/alerts/rules", _rules_get)
    router.add_post("/alerts/rules", _rules_create)
    for action in ("enable", "disable", "delete"):
        router.add_post(f"/alerts/rules/{{rule_id}}/{action}", _rule_action(action))
    router.add_post("/alerts/rules/{rule_id}/chain", _rule_chain)
    router.add_post("/alerts/smtp", _smtp_set)
    router.add_get("/api/alerts", _api_events)
    router.add_get("/api/alerts/rules", _api_rules)
    router.add_get("/api/alerts/firing", _api_firing)


assert set(KIND_KEYS) == set(RULE_KINDS)
