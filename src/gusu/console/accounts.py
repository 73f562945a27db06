"""The console's users and access: login, logout, users, my account, the audit log, and the checks on every request.

`access_middleware` loads the session named by the cookie (ending it when idle,
too old, or its user is disabled) and refuses every state-changing request that
does not carry the session's CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``). `requires` marks a route with the permission it needs and
checks the user's role; a test checks that every route is either public or
marked. Every action, allowed or refused, is written to the audit log.
Pages are rendered here (forms need no script); every value is escaped.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from gusu.console.access import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AccessInputError,
    LoginLimiter,
    compute_csrf_token,
    compute_dummy_hash,
    compute_generated_password,
    compute_new_session,
    compute_password_hash,
    compute_session_hash,
    is_allowed,
    is_password_correct,
    is_session_current,
    is_token_equal,
    validate_password,
    validate_role,
    validate_username,
)
from gusu.console.i18n import Catalogue
from gusu.console.settings import ConsoleSettings
from gusu.console.store import ROLES, ConsoleStore, Session, User, UsernameTakenError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PageRenderer = Callable[[web.Request, str, str, int], web.Response]
"""(request, page, content HTML, status) -> the page; set by the server (it owns the frame)."""

STORE_KEY: Final = web.AppKey("store", ConsoleStore)
LIMITER_KEY: Final = web.AppKey("limiter", LoginLimiter)
RENDER_KEY: Final = web.AppKey("render", object)
ACCESS_SETTINGS_KEY: Final = web.AppKey("access_settings", ConsoleSettings)
VIEWER_KEY: Final = web.RequestKey("viewer", object)
FIRST_OPERATOR: Final = "admin"

CSRF_EXEMPT: Final = frozenset({"/login", "/language"})
"""POSTs that need no session: login has its own token (a cookie it must match), the language is a preference."""
PUBLIC_ROUTES: Final = frozenset(
    {
        "/",
        "/blocks",
        "/blocks/{argument}",
        "/transactions/{argument}",
        "/accounts/{argument}",
        "/verify",
        "/evidence/verify",
        "/scf/verify",
        "/trace",
        "/search",
        "/language",
        "/static/{name}",
        "/login",
        "/logout",
        "/api/status",
        "/api/blocks",
        "/api/blocks/{reference}",
        "/api/transactions/{transaction_id}",
        "/api/accounts/{address}",
        "/api/evidence/{document_hash}",
        "/api/search",
        "/api/chart",
        "/api/transactions/{transaction_id}/proof",
        "/api/{tail}",
    }
)
"""Routes open without login: the read-only chain pages, /verify, login itself. Every other route uses `requires`."""


@dataclass(frozen=True, slots=True)
class Viewer:
    user: User
    session: Session


def _now_ms() -> int:
    return int(time.time() * 1000)


def get_viewer(request: web.Request) -> Viewer | None:
    viewer = request.get(VIEWER_KEY)
    assert viewer is None or isinstance(viewer, Viewer)
    return viewer


def get_address(request: web.Request) -> str:
    # The peer's address as seen by this server; a proxy in front would need its own trusted header rule.
    return (request.remote or "unknown")[:64]


async def record(request: web.Request, action: str, target: str | None, outcome: str, actor: str | None = None) -> None:
    viewer = get_viewer(request)
    name = actor if actor is not None else (viewer.user.username if viewer else None)
    await request.app[STORE_KEY].append_audit(_now_ms(), name, action, target, get_address(request), outcome)


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _refuse(request: web.Request, status: int, code: str, message: str) -> web.StreamResponse:
    if _is_api(request):
        return web.json_response({"error": {"code": code, "message": message}}, status=status)
    if status == 401:
        return web.Response(status=303, headers={"Location": "/login"})
    return web.Response(status=status, text=message)


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    store = request.app[STORE_KEY]
    settings = request.app[ACCESS_SETTINGS_KEY]
    cookie = request.cookies.get(SESSION_COOKIE)
    ended = False
    if cookie is not None and len(cookie) <= 64:
        session_hash = compute_session_hash(cookie)
        session = await store.get_session(session_hash)
        if session is not None:
            now_ms = _now_ms()
            user = await store.get_user_by_id(session.user_id)
            current = is_session_current(
                session.created_ms, session.last_seen_ms, now_ms, settings.session_idle_s, settings.session_absolute_s
            )
            if user is None or user.disabled or not current:
                await store.delete_session(session_hash)
                ended = True
            else:
                await store.apply_session_seen(session_hash, now_ms)
                request[VIEWER_KEY] = Viewer(user, session)
        else:
            ended = True
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.path not in CSRF_EXEMPT:
        viewer = get_viewer(request)
        if viewer is None:
            return _refuse(request, 401, "login_required", "log in first")
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                field = (await request.post()).get(CSRF_FIELD)
            except ValueError:  # a malformed multipart body
                return _refuse(request, 400, "input_invalid", "the form is malformed")
            given = field if isinstance(field, str) else None
        if not is_token_equal(viewer.session.csrf_token, given):
            await record(request, "csrf.refused", request.path[:100], "denied")
            return _refuse(request, 403, "csrf_invalid", "the form is out of date or forged: reload the page and retry")
    response = await handler(request)
    if ended and SESSION_COOKIE not in response.cookies:
        response.del_cookie(SESSION_COOKIE, path="/")
    return response


def requires(permission: str) -> Callable[[Handler], Handler]:
    """Marks a route with the permission it needs: no login answers 401 (pages: to /login), a wrong role 403."""

    def decorate(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            viewer = get_viewer(request)
            if viewer is None:
                return _refuse(request, 401, "login_required", "log in first")
            if not is_allowed(viewer.user.role, permission):
                await record(request, "access.refused", request.path[:100], "denied")
                return _refuse(request, 403, "forbidden", f"the role {viewer.user.role} may not do this")
            return await handler(request)

        checked.permission = permission  # type: ignore[attr-defined]
        return checked

    return decorate


# --- rendering ------------------------------------------------------------------------------

_e = html.escape


def _catalogue(request: web.Request) -> Catalogue:
    from gusu.console.server import _get_catalogue

    return _get_catalogue(request)


def _render(request: web.Request, page: str, content: str, status: int = 200) -> web.Response:
    renderer = request.app[RENDER_KEY]
    assert callable(renderer)
    response: web.Response = renderer(request, page, content, status)
    return response


def _error_html(catalogue: Catalogue, error: AccessInputError | None, key: str | None = None) -> str:
    if error is not None:
        text = catalogue.get_message(error.key, **error.params)
    elif key is not None:
        text = catalogue.get_message(key)
    else:
        return ""
    return f'<p class="error" role="alert">{_e(text)}</p>'


def _csrf_input(token: str) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(token)}">'


def _field(catalogue: Catalogue, name: str, key: str, kind: str = "text", extra: str = "") -> str:
    return (
        f'<label for="field-{name}">{_e(catalogue.get_message(key))}</label>'
        f'<input id="field-{name}" name="{name}" type="{kind}" maxlength="256" {extra}>'
    )


async def _form(request: web.Request) -> dict[str, str]:
    """The posted fields; an overlong one is refused with a message naming the limit."""
    limit = request.app[ACCESS_SETTINGS_KEY].form_field_length_max
    form = await request.post()
    fields: dict[str, str] = {}
    for name, value in form.items():
        if isinstance(value, str):
            if len(value) > limit:
                raise AccessInputError(
                    "error.field_long", f"a form field is longer than {limit} characters", count=limit
                )
            fields[name] = value
    return fields


# --- login and logout ---------------------------------------------------------------------------


def _login_page(request: web.Request, error_key: str | None = None, status: int = 200) -> web.Response:
    catalogue = _catalogue(request)
    token = compute_csrf_token()
    minutes = max(1, round(request.app[ACCESS_SETTINGS_KEY].login_window_s / 60))
    error = (
        ""
        if error_key is None
        else f'<p class="error" role="alert">{_e(catalogue.get_message(error_key, minutes=minutes))}</p>'
    )
    content = (
        f"<h1>{_e(catalogue.get_message('login.title'))}</h1>"
        f"{error}"
        f'<form class="stack" id="login-form" action="/login" method="post">{_csrf_input(token)}'
        f"{_field(catalogue, 'username', 'login.username', extra='autocomplete=username required')}"
        f"{_field(catalogue, 'password', 'login.password', 'password', 'autocomplete=current-password required')}"
        f'<button type="submit">{_e(catalogue.get_message("login.submit"))}</button></form>'
    )
    response = _render(request, "login", content, status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path="/login", httponly=True, samesite="Strict", secure=request.secure
    )
    return response


async def _login_get(request: web.Request) -> web.StreamResponse:
    # Shown to a logged-in user too: logging in again (as someone else) replaces the session.
    return _login_page(request)


async def _login_post(request: web.Request) -> web.StreamResponse:
    settings = request.app[ACCESS_SETTINGS_KEY]
    store = request.app[STORE_KEY]
    limiter = request.app[LIMITER_KEY]
    try:
        form = await _form(request)
    except AccessInputError:
        return _login_page(request, "login.failed", 400)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if expected is None or not is_token_equal(expected, form.get(CSRF_FIELD)):
        await record(request, "login", None, "csrf_refused")
        return _login_page(request, "login.expired", 403)
    username = form.get("username", "").strip().lower()[:32]
    password = form.get("password", "")
    address = get_address(request)
    now_s = time.monotonic()
    if limiter.is_locked(username, address, now_s):
        await record(request, "login", username, "limited", actor=username)
        # The same answer whether or not the account exists.
        return _login_page(request, "login.locked", 429)
    user = await store.get_user(username)
    stored = user.password_hash if user is not None else compute_dummy_hash(settings.scrypt_log2_n)
    correct = await asyncio.to_thread(is_password_correct, password, stored)
    if user is None or not correct or user.disabled:
        limiter.on_failure(username, address, now_s)
        await record(request, "login", username, "failed", actor=username)
        return _login_page(request, "login.failed", 401)
    limiter.on_success(username)
    # A new session id at every login (never one the browser brought), and the old one ended: no fixation.
    old_cookie = request.cookies.get(SESSION_COOKIE)
    if old_cookie is not None and len(old_cookie) <= 64:
        await store.delete_session(compute_session_hash(old_cookie))
    new = compute_new_session()
    now_ms = _now_ms()
    await store.create_session(Session(new.session_hash, user.user_id, new.csrf_token, address, now_ms, now_ms))
    await record(request, "login", username, "ok", actor=username)
    response = web.Response(status=303, headers={"Location": "/account"})
    response.set_cookie(
        SESSION_COOKIE, new.cookie_value, path="/", httponly=True, samesite="Strict", secure=request.secure
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def _logout(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    if viewer is not None:
        await request.app[STORE_KEY].delete_session(viewer.session.session_hash)
        await record(request, "logout", None, "ok")
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- my account ---------------------------------------------------------------------------------


def _account_page(
    request: web.Request, notice_key: str | None = None, error: AccessInputError | None = None
) -> web.Response:
    catalogue = _catalogue(request)
    viewer = get_viewer(request)
    assert viewer is not None
    user = viewer.user
    notice = f'<p class="notice" role="status">{_e(catalogue.get_message(notice_key))}</p>' if notice_key else ""
    content = (
        f"<h1>{_e(catalogue.get_message('me.title'))}</h1>{notice}{_error_html(catalogue, error)}"
        f'<dl><dt>{_e(catalogue.get_message("users.username"))}</dt><dd id="account-username">{_e(user.username)}</dd>'
        f'<dt>{_e(catalogue.get_message("users.role"))}</dt><dd id="account-role">'
        f"{_e(catalogue.get_message('role.' + user.role))}</dd>"
        f"<dt>{_e(catalogue.get_message('users.organisation'))}</dt><dd>{_e(user.organisation or '—')}</dd></dl>"
        f"<h2>{_e(catalogue.get_message('me.change_password'))}</h2>"
        f'<form class="stack" id="password-form" action="/account/password" method="post">'
        f"{_csrf_input(viewer.session.csrf_token)}"
        f"{_field(catalogue, 'current', 'me.current', 'password', 'autocomplete=current-password required')}"
        f"{_field(catalogue, 'new', 'me.new', 'password', 'autocomplete=new-password required')}"
        f"{_field(catalogue, 'confirm', 'me.confirm', 'password', 'autocomplete=new-password required')}"
        f'<button type="submit">{_e(catalogue.get_message("me.submit"))}</button></form>'
    )
    return _render(request, "my_account", content, 400 if error else 200)


@requires("account.own")
async def _account_get(request: web.Request) -> web.StreamResponse:
    return _account_page(request)


@requires("account.own")
async def _account_password(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    settings = request.app[ACCESS_SETTINGS_KEY]
    try:
        form = await _form(request)
        if not await asyncio.to_thread(is_password_correct, form.get("current", ""), viewer.user.password_hash):
            raise AccessInputError("error.password_wrong", "the current password is wrong")
        new = form.get("new", "")
        validate_password(new, viewer.user.username)
        if new != form.get("confirm"):
            raise AccessInputError("error.password_mismatch", "the new password and its confirmation differ")
    except AccessInputError as error:
        await record(request, "password.change", viewer.user.username, "refused")
        return _account_page(request, error=error)
    password_hash = await asyncio.to_thread(compute_password_hash, new, settings.scrypt_log2_n)
    await request.app[STORE_KEY].apply_password(viewer.user.user_id, password_hash, _now_ms())
    await record(request, "password.change", viewer.user.username, "ok")
    # Every session of the user ended with the change, this one too: log in again with the new password.
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- users (operator) -----------------------------------------------------------------------------


def _users_html(
    request: web.Request, users: list[User], shown: tuple[str, str] | None, error: AccessInputError | None
) -> str:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    viewer = get_viewer(request)
    assert viewer is not None
    token = _csrf_input(viewer.session.csrf_token)
    shown_html = ""
    if shown is not None:
        shown_html = (
            f'<p class="notice" role="status">{_e(message("users.password_shown", username=shown[0]))} '
            f'<code id="shown-password">{_e(shown[1])}</code></p>'
        )
    rows = []
    for user in users:
        status = message("users.disabled") if user.disabled else message("users.active")
        toggle = "enable" if user.disabled else "disable"
        path = f"/users/{_e(user.username)}"
        rows.append(
            f'<tr data-username="{_e(user.username)}"><td>{_e(user.username)}</td>'
            f"<td>{_e(message('role.' + user.role))}</td><td>{_e(user.organisation or '')}</td><td>{_e(status)}</td>"
            f'<td><form action="{path}/{toggle}" method="post">{token}'
            f'<button type="submit">{_e(message("users." + toggle))}</button></form>'
            f'<form action="{path}/reset-password" method="post">{token}'
            f'<button type="submit">{_e(message("users.reset_password"))}</button></form></td></tr>'
        )
    roles = "".join(f'<option value="{role}">{_e(message("role." + role))}</option>' for role in ROLES)
    return (
        f"<h1>{_e(message('users.title'))}</h1>{shown_html}{_error_html(catalogue, error)}"
        f"<table><thead><tr><th>{_e(message('users.username'))}</th><th>{_e(message('users.role'))}</th>"
        f"<th>{_e(message('users.organisation'))}</th><th>{_e(message('users.status'))}</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<h2>{_e(message('users.create'))}</h2>"
        f'<form class="stack" id="create-user-form" action="/users" method="post">{token}'
        f"{_field(catalogue, 'username', 'users.username', extra='required')}"
        f'<label for="field-role">{_e(message("users.role"))}</label>'
        f'<select id="field-role" name="role">{roles}</select>'
        f"{_field(catalogue, 'organisation', 'users.organisation')}"
        f'<button type="submit">{_e(message("users.create_submit"))}</button></form>'
    )


async def _users_page(
    request: web.Request, shown: tuple[str, str] | None = None, error: AccessInputError | None = None
) -> web.Response:
    users = await request.app[STORE_KEY].list_users()
    return _render(request, "users", _users_html(request, users, shown, error), 400 if error else 200)


@requires("users.manage")
async def _users_get(request: web.Request) -> web.StreamResponse:
    return await _users_page(request)


async def create_user(store: ConsoleStore, settings: ConsoleSettings, form: dict[str, str]) -> tuple[User, str]:
    """Validates and creates a user with a random password; returns it and the password (shown once)."""
    username = form.get("username", "").strip()
    role = form.get("role", "")
    organisation = form.get("organisation", "").strip() or None
    validate_username(username)
    validate_role(role, organisation)
    password = compute_generated_password()
    password_hash = await asyncio.to_thread(compute_password_hash, password, settings.scrypt_log2_n)
    try:
        user = await store.create_user(username, role, organisation, password_hash, _now_ms())
    except UsernameTakenError as error:
        raise AccessInputError("error.username_taken", str(error)) from error
    return user, password


@requires("users.manage")
async def _users_create(request: web.Request) -> web.StreamResponse:
    try:
        form = await _form(request)
        user, password = await create_user(request.app[STORE_KEY], request.app[ACCESS_SETTINGS_KEY], form)
    except AccessInputError as error:
        await record(request, "user.create", None, "refused")
        return await _users_page(request, error=error)
    await record(request, "user.create", f"{user.username} ({user.role})", "ok")
    return await _users_page(request, shown=(user.username, password))


async def _target_user(request: web.Request) -> User:
    user = await request.app[STORE_KEY].get_user(request.match_info["username"][:64])
    if user is None:
        raise web.HTTPNotFound()
    return user


def _user_action(action: str) -> Handler:
    @requires("users.manage")
    async def handler(request: web.Request) -> web.StreamResponse:
        viewer = get_viewer(request)
        assert viewer is not None
        user = await _target_user(request)
        store = request.app[STORE_KEY]
        if action in ("disable", "enable"):
            if user.user_id == viewer.user.user_id:
                await record(request, f"user.{action}", user.username, "refused")
                error = AccessInputError("error.self_disable", "you cannot disable your own account")
                return await _users_page(request, error=error)
            await store.apply_disabled(user.user_id, action == "disable")
            await record(request, f"user.{action}", user.username, "ok")
            return web.Response(status=303, headers={"Location": "/users"})
        password = compute_generated_password()
        settings = request.app[ACCESS_SETTINGS_KEY]
        password_hash = await asyncio.to_thread(compute_password_hash, password, settings.scrypt_log2_n)
        await store.apply_password(user.user_id, password_hash, _now_ms())
        await record(request, "user.reset_password", user.username, "ok")
        return await _users_page(request, shown=(user.username, password))

    return handler


# --- audit log (operator, auditor) ------------------------------------------------------------------


@requires("audit.read")
async def _audit_get(request: web.Request) -> web.StreamResponse:
    catalogue = _catalogue(request)
    message = catalogue.get_message
    before = _parse_before(request)
    limit = request.app[ACCESS_SETTINGS_KEY].audit_page_max
    entries = await request.app[STORE_KEY].list_audit(before, limit)
    rows = "".join(
        f"<tr><td>{_e(time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(entry.time_ms / 1000)))} UTC</td>"
        f"<td>{_e(entry.actor or '—')}</td><td>{_e(entry.action)}</td><td>{_e(entry.target or '')}</td>"
        f"<td>{_e(entry.address)}</td><td>{_e(entry.outcome)}</td></tr>"
        for entry in entries
    )
    older = (
        f'<a href="/audit?before={entries[-1].entry_id}">{_e(message("audit.older"))}</a>'
        if len(entries) == limit
        else ""
    )
    content = (
        f'<h1>{_e(message("audit.title"))}</h1><table id="audit"><thead><tr><th>{_e(message("audit.time"))}</th>'
        f"<th>{_e(message('audit.actor'))}</th><th>{_e(message('audit.action'))}</th>"
        f"<th>{_e(message('audit.target'))}</th><th>{_e(message('audit.address'))}</th>"
        f"<th>{_e(message('audit.outcome'))}</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<nav class="pager">{older}</nav>'
    )
    return _render(request, "audit", content)


def _parse_before(request: web.Request) -> int | None:
    text = request.query.get("before")
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise AccessInputError("error.cursor_invalid", "before must be an audit entry number")
    return int(text)


# --- JSON API ------------------------------------------------------------------------------------


def _user_json(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "role": user.role,
        "organisation": user.organisation,
        "disabled": user.disabled,
        "created_ms": user.created_ms,
    }


@requires("account.own")
async def _api_me(request: web.Request) -> web.StreamResponse:
    viewer = get_viewer(request)
    assert viewer is not None
    return web.json_response({**_user_json(viewer.user), "csrf_token": viewer.session.csrf_token})


@requires("users.manage")
async def _api_users(request: web.Request) -> web.StreamResponse:
    return web.json_response({"users": [_user_json(user) for user in await request.app[STORE_KEY].list_users()]})


@requires("users.manage")
async def _api_users_create(request: web.Request) -> web.StreamResponse:
    limit = request.app[ACCESS_SETTINGS_KEY].form_field_length_max
    try:
        document = await request.json()
        if not isinstance(document, dict) or not all(
            isinstance(value, str) and len(value) <= limit for value in document.values()
        ):
            raise AccessInputError(
                "error.field_long", f"fields must be strings of at most {limit} characters", count=limit
            )
        user, password = await create_user(request.app[STORE_KEY], request.app[ACCESS_SETTINGS_KEY], document)
    except ValueError:
        await record(request, "user.create", None, "refused")
        return web.json_response({"error": {"code": "input_invalid", "message": "the body must be JSON"}}, status=400)
    except AccessInputError as error:
        await record(request, "user.create", None, "refused")
        return web.json_response({"error": {"code": "input_invalid", "message": str(error)}}, status=400)
    await record(request, "user.create", f"{user.username} ({user.role})", "ok")
    return web.json_response({**_user_json(user), "password": password}, status=201)


@requires("audit.read")
async def _api_audit(request: web.Request) -> web.StreamResponse:
    entries = await request.app[STORE_KEY].list_audit(
        _parse_before(request), request.app[ACCESS_SETTINGS_KEY].audit_page_max
    )
    return web.json_response(
        {
            "entries": [
                {
                    "id": entry.entry_id,
                    "time_ms": entry.time_ms,
                    "actor": entry.actor,
                    "action": entry.action,
                    "target": entry.target,
                    "address": entry.address,
                    "outcome": entry.outcome,
                }
                for entry in entries
            ]
        }
    )


# --- setup --------------------------------------------------------------------------------------------


async def ensure_first_operator(store: ConsoleStore, settings: ConsoleSettings) -> tuple[str, str] | None:
    """On first run (no user at all) creates the operator ``admin`` with a random password, returned once.

    The caller prints it; it is stored only as its scrypt hash and never logged.
    """
    if await store.count_users() > 0:
        return None
    password = compute_generated_password()
    password_hash = await asyncio.to_thread(compute_password_hash, password, settings.scrypt_log2_n)
    await store.create_user(FIRST_OPERATOR, "operator", None, password_hash, _now_ms())
    await store.append_audit(_now_ms(), None, "user.create", f"{FIRST_OPERATOR} (operator, first run)", "console", "ok")
    return FIRST_OPERATOR, password


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/login", _login_get)
    router.add_post("/login", _login_post)
    router.add_post("/logout", _logout)
    router.add_get("/account", _account_get)
    router.add_post("/account/password", _account_password)
    router.add_get("/users", _users_get)
    router.add_post("/users", _users_create)
    for action in ("disable", "enable", "reset-password"):
        router.add_post(f"/users/{{username}}/{action}", _user_action(action))
    router.add_get("/audit", _audit_get)
    router.add_get("/api/me", _api_me)
    router.add_get("/api/users", _api_users)
    router.add_post("/api/users", _api_users_create)
    router.add_get("/api/audit", _api_audit)
