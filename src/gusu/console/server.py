"""The console's HTTP server: HTML shells, static files and the JSON API, with limits.

Pages are small server-rendered shells (navigation, language switch, search)
with the page's messages embedded as JSON data; ``static/app.js`` fills them
from the ``/api/`` endpoints. Every answer carries a strict
Content-Security-Policy (scripts, styles and connections to this origin
only, no inline script, no framing) and the other security headers; bodies
are capped, every request has a deadline, and inputs are validated before
any node call (docs/console.md).
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final
from urllib.parse import quote

from aiohttp import web

from gusu.console import chain
from gusu.console.access import CSRF_FIELD, LoginLimiter, LoginLimits, is_allowed
from gusu.console.accounts import (
    ACCESS_SETTINGS_KEY,
    LIMITER_KEY,
    RENDER_KEY,
    STORE_KEY,
    access_middleware,
    add_routes,
    ensure_first_operator,
    get_viewer,
)
from gusu.console.alert_pages import add_alert_routes
from gusu.console.app_evidence import add_evidence_routes
from gusu.console.app_scf import add_scf_routes
from gusu.console.app_scf_public import add_scf_public_routes
from gusu.console.app_trace import add_trace_routes
from gusu.console.app_trace_actors import add_trace_actor_routes
from gusu.console.certificates import add_certificate_routes
from gusu.console.chains import add_chain_routes, chain_middleware, get_client
from gusu.console.charts import add_chart_routes
from gusu.console.contracts import add_routes as add_contract_routes
from gusu.console.contracts_evm import ARTIFACT_UPLOAD_BYTES_MAX, add_evm_routes
from gusu.console.governance import add_routes as add_governance_routes
from gusu.console.i18n import DEFAULT_LANGUAGE, LANGUAGE_COOKIE, LANGUAGES, Catalogue, get_language, load_catalogues
from gusu.console.monitor import add_monitor
from gusu.console.proofs import add_proof_routes
from gusu.console.registry_pages import add_registry_routes
from gusu.console.settings import ConsoleSettings
from gusu.console.signing import add_routes as add_signing_routes
from gusu.console.store import ConsoleStore, open_store
from gusu.errors import ClientError, ConsoleInputError, GusuError, RemoteError, TimeoutError_
from gusu.ledger.jsonview import JSON
from gusu.ledger.types import Height
from gusu.sdk import AsyncClient

_log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC_FILES: Final = {
    "app.js": "text/javascript",
    "hash.js": "text/javascript",
    "evidence-verify.js": "text/javascript",
    "evidence-deposit.js": "text/javascript",
    "trace-check.js": "text/javascript",
    "proof.js": "text/javascript",
    "sigverify.js": "text/javascript",
    "console.css": "text/css",
    "favicon.svg": "image/svg+xml",
}
"""The only files served under /static/: an allow-list, so no path ever reaches the file system."""
LANGUAGE_COOKIE_MAX_AGE_S: Final = 365 * 24 * 3600
VERIFY_FILE_BYTES_MAX: Final = 1 << 30
"""Largest file the verification page hashes (as `gusu evidence`): the browser reads it in chunks."""
_EVIDENCE_SCRIPT: Final = '\n<script src="/static/evidence-verify.js" defer></script>'
_DEPOSIT_SCRIPT: Final = '\n<script src="/static/evidence-deposit.js" defer></script>'
_PAGE_SCRIPTS: Final = {"evidence_verify": _EVIDENCE_SCRIPT, "evidence": _DEPOSIT_SCRIPT}
"""The pages that load a script of their own (after app.js)."""
_CURRENT: Final = ' aria-current="page"'
_PRESSED: Final = ' aria-pressed="true"'
PAGES: Final = (
    "dashboard",
    "explorer",
    "block",
    "transaction",
    "account",
    "verify",
    "search",
    "login",
    "my_account",
    "users",
    "audit",
    "alerts",
    "alert_rules",
    "keys",
    "contracts",
    "contract",
    "governance",
    "chains",
    "chain",
    "registry",
    "evidence_verify",
    "trace",
    "scf",
    "scf_queue",
    "scf_regulator",
    "evidence",
    "evidence_witness",
    "evidence_admin",
    "evidence_org",
    "trace_brand",
    "trace_ops",
    "trace_regulator",
    "scf_verify",
)

CLIENT_KEY: Final = web.AppKey("client", AsyncClient)
SETTINGS_KEY: Final = web.AppKey("settings", ConsoleSettings)
CATALOGUES_KEY: Final = web.AppKey("catalogues", dict)
STATIC_KEY: Final = web.AppKey("static", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class _ErrorAnswer:
    status: int
    code: str
    message: str


def compute_error_answer(error: GusuError) -> _ErrorAnswer:
    """The HTTP status and stable code a failure is answered with; node messages are passed on."""
    if isinstance(error, ConsoleInputError):
        return _ErrorAnswer(400, error.code, str(error))
    if isinstance(error, RemoteError):
        if error.code == "not_found":
            return _ErrorAnswer(404, "not_found", str(error))
        if error.code in ("params_invalid", "request_invalid"):
            return _ErrorAnswer(400, "input_invalid", str(error))
        return _ErrorAnswer(502, error.code, str(error))
    if isinstance(error, TimeoutError_):
        return _ErrorAnswer(504, "timeout", str(error))
    if isinstance(error, ClientError):
        return _ErrorAnswer(502, "node_unreachable", str(error))
    return _ErrorAnswer(502, error.code, str(error))


def _json_response(document: JSON, status: int = 200) -> web.Response:
    return web.json_response(document, status=status, dumps=lambda value: json.dumps(value, ensure_ascii=False))


def _error_response(status: int, code: str, message: str) -> web.Response:
    return _json_response({"error": {"code": code, "message": message}}, status)


EVM_UPLOAD_PATH: Final = "/contracts/evm/upload"


def is_upload_path(path: str) -> bool:
    """The forms that upload a contract source (deploy, upgrade): the only bodies above `body_bytes_max`."""
    return path == "/contracts/deploy" or (
        path.startswith("/contracts/") and path.endswith("/upgrade") and path.count("/") == 3
    )


@web.middleware
async def _limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    body_limit = (
        settings.contract_source_bytes_max + settings.body_bytes_max
        if is_upload_path(request.path)
        else settings.body_bytes_max
    )
    if request.path == EVM_UPLOAD_PATH:  # a compiled artifact: larger than a Python source
        body_limit = ARTIFACT_UPLOAD_BYTES_MAX + settings.body_bytes_max
    if len(request.raw_path) > settings.query_length_max * 4:
        response: web.StreamResponse = _error_response(414, "input_invalid", "the URL is too long")
    elif (request.content_length or 0) > body_limit:
        # Only the deploy and upgrade forms carry a contract source; every other body keeps the small limit.
        response = _error_response(413, "input_invalid", f"the request body is larger than {body_limit} bytes")
    else:
        try:
            async with asyncio.timeout(settings.request_timeout_s):
                response = await handler(request)
        except TimeoutError:
            response = _error_response(504, "timeout", f"the request took longer than {settings.request_timeout_s:g}s")
        except web.HTTPException as error:
            if error.status >= 400:
                response = _error_response(
                    error.status, "not_found" if error.status == 404 else "http_error", error.reason
                )
            else:
                raise
        except GusuError as error:
            answer = compute_error_answer(error)
            response = _error_response(answer.status, answer.code, answer.message)
        except Exception:
            _log.exception("console request %s %s failed", request.method, request.path)
            response = _error_response(500, "internal_error", "the console failed; its log has the details")
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


# --- pages ---------------------------------------------------------------------------


def _get_catalogue(request: web.Request) -> Catalogue:
    catalogues: dict[str, Catalogue] = request.app[CATALOGUES_KEY]
    return catalogues[get_language(request.cookies.get(LANGUAGE_COOKIE))]


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who is logged in, for the page frame: their name, role and session's CSRF token (for the logout form)."""

    username: str
    role: str
    csrf_token: str


def compute_page(
    catalogue: Catalogue,
    page: str,
    argument: str,
    current_path: str,
    signed_in: SignedIn | None = None,
    content: str | None = None,
) -> str:
    """The HTML shell of `page`; `argument` (a height, hash or address, or a query) is escaped.

    `content` is server-rendered HTML (already escaped) for the pages that need no script (login, users...).
    """
    assert page in PAGES
    message = catalogue.get_message
    escape = html.escape
    messages_json = json.dumps(dict(catalogue.messages), ensure_ascii=False).replace("<", "\\u003c")
    nav = [
        ("/", "nav.dashboard", "dashboard"),
        ("/blocks", "nav.explorer", "explorer"),
        ("/verify", "nav.verify", "verify"),
        ("/evidence/verify", "nav.evidence_verify", "evidence_verify"),
        ("/trace", "nav.trace", "trace"),
        ("/scf/verify", "nav.scf_verify", "scf_verify"),
    ]
    if signed_in is not None:
        nav.append(("/contracts", "nav.contracts", "contracts"))
        nav.append(("/governance", "nav.governance", "governance"))
        if is_allowed(signed_in.role, "keys.own"):
            nav.append(("/keys", "nav.keys", "keys"))
        if is_allowed(signed_in.role, "users.manage"):
            nav.append(("/users", "nav.users", "users"))
        if is_allowed(signed_in.role, "audit.read"):
            nav.append(("/audit", "nav.audit", "audit"))
        if is_allowed(signed_in.role, "alerts.read"):
            nav.append(("/alerts", "nav.alerts", "alerts"))
        if is_allowed(signed_in.role, "chains.read"):
            nav.append(("/chains", "nav.chains", "chains"))
        if is_allowed(signed_in.role, "registry.read"):
            nav.append(("/organisations", "nav.registry", "registry"))
        nav.append(("/scf", "nav.scf", "scf"))
        nav.append(("/evidence", "nav.evidence", "evidence"))
        nav.append(("/trace/ops", "nav.trace_actors", "trace_ops"))
    explorer_pages = ("explorer", "block", "transaction", "account", "search")
    current_nav = "explorer" if page in explorer_pages else "contracts" if page == "contract" else page
    if page == "alert_rules":
        current_nav = "alerts"
    if page == "chain":
        current_nav = "chains"
    if page in ("scf_queue", "scf_regulator"):
        current_nav = "scf"
    if page in ("evidence_witness", "evidence_admin", "evidence_org"):
        current_nav = "evidence"
    if page in ("trace_brand", "trace_regulator"):
        current_nav = "trace_ops"
    links = "".join(
        f'<a href="{href}"{_CURRENT if name == current_nav else ""}>{escape(message(key))}</a>'
        for href, key, name in nav
    )
    languages = "".join(
        f'<button type="submit" name="language" value="{language}"{_PRESSED if language == catalogue.language else ""}>'
        f"{escape(message('language.' + language))}</button>"
        for language in LANGUAGES
    )
    if signed_in is None:
        session = f'<a class="session" id="login-link" href="/login">{escape(message("nav.login"))}</a>'
    else:
        session = (
            f'<form class="session" action="/logout" method="post">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(signed_in.csrf_token)}">'
            f'<a id="account-link" href="/account"{_CURRENT if page == "my_account" else ""}>'
            f"{escape(signed_in.username)}</a>"
            f'<button type="submit" id="logout">{escape(message("nav.logout"))}</button></form>'
        )
    main = f'<p class="loading">{escape(message("common.loading"))}</p>' if content is None else content
    # The dashboard lists firing alerts for those who may read them (the page itself is public).
    alerts = f'data-alerts="{1 if signed_in is not None and is_allowed(signed_in.role, "alerts.read") else 0}"'
    return f"""<!DOCTYPE html>
<html lang="{catalogue.language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(message("app.title"))}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/console.css">
<script type="application/json" id="gusu-messages">{messages_json}</script>
<script src="/static/hash.js" defer></script>
<script src="/static/proof.js" defer></script>
<script src="/static/sigverify.js" defer></script>
<script src="/static/app.js" defer></script>{_PAGE_SCRIPTS.get(page, "")}
</head>
<body>
<header>
<a class="brand" href="/">{escape(message("app.title"))}</a>
<nav aria-label="{escape(message("nav.main"))}">{links}</nav>
<form class="search" action="/search" method="get" role="search">
<label for="search-query" class="hidden">{escape(message("search.label"))}</label>
<input id="search-query" name="q" maxlength="200" placeholder="{escape(message("search.placeholder"))}">
<button type="submit">{escape(message("search.button"))}</button>
</form>
<form class="language" action="/language" method="post">
<input type="hidden" name="next" value="{escape(current_path)}">
<span>{escape(message("language.label"))}</span>{languages}
</form>
{session}
</header>
<div id="live" class="live" hidden></div>
<main id="app" data-page="{page}" data-argument="{escape(argument)}" data-file-bytes-max="{VERIFY_FILE_BYTES_MAX}"
 {alerts}>
{main}
</main>
</body>
</html>
"""


def _page_response(
    request: web.Request, page: str, argument: str = "", status: int = 200, content: str | None = None
) -> web.Response:
    viewer = get_viewer(request)
    signed_in = None if viewer is None else SignedIn(viewer.user.username, viewer.user.role, viewer.session.csrf_token)
    current = request.path_qs if request.method in ("GET", "HEAD") else compute_page_path(request.path)
    body = compute_page(_get_catalogue(request), page, argument, current, signed_in, content)
    return web.Response(text=body, content_type="text/html", charset="utf-8", status=status)


def compute_page_path(form_path: str) -> str:
    """The page a form posted to `form_path` belongs to: where switching the language goes back to (a GET of the
    form's own path would be 405). ``/contracts/x/call`` -> ``/contracts/x``, ``/governance/3/vote`` ->
    ``/governance``, ``/keys/import`` -> ``/keys``."""
    parts = form_path.split("/")
    if len(parts) > 3 and parts[1] == "contracts":
        return "/".join(parts[:3])
    return "/" + parts[1] if len(parts) > 1 else "/"


def _render_content(request: web.Request, page: str, content: str, status: int) -> web.Response:
    return _page_response(request, page, status=status, content=content)


def _page(page: str, validate: Callable[[str], object] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        argument = request.match_info.get("argument", "")
        if validate is not None:
            validate(argument)
        return _page_response(request, page, argument)

    return handler


def _redirect(target: str) -> web.Response:
    return web.Response(status=303, headers={"Location": target})


async def _search_page(request: web.Request) -> web.StreamResponse:
    """Redirects to what the query names; an unknown or malformed query shows the search page saying so."""
    query = request.query.get("q", "")[: request.app[SETTINGS_KEY].query_length_max]
    try:
        kind, reference = await chain.search(get_client(request), query)
    except (ConsoleInputError, RemoteError) as error:
        if isinstance(error, RemoteError) and error.code != "not_found":
            raise
        return _page_response(request, "search", query, status=404)
    paths = {"block": "/blocks/", "transaction": "/transactions/", "account": "/accounts/"}
    return _redirect(paths[kind] + quote(reference))


async def _set_language(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    language = form.get("language")
    if not isinstance(language, str) or language not in LANGUAGES:
        raise ConsoleInputError(f"language must be one of {', '.join(LANGUAGES)}")
    target = form.get("next")
    # Only a path on this site: "//host" or "/\host" would send the browser elsewhere.
    if not isinstance(target, str) or not target.startswith("/") or target[1:2] in ("/", "\\"):
        target = "/"
    response = _redirect(target)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=LANGUAGE_COOKIE_MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request.secure,
    )
    return response


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    files: dict[str, bytes] = request.app[STATIC_KEY]
    if name not in files:
        raise web.HTTPNotFound()
    response = web.Response(body=files[name], content_type=STATIC_FILES[name])
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- API -------------------------------------------------------------------------------


async def _api_status(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    return _json_response(await chain.get_status(get_client(request), settings.recent_blocks_count))


async def _api_blocks(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    before_text = request.query.get("before")
    before = None if before_text is None else chain.parse_height(before_text)
    limit = chain.parse_limit(request.query.get("limit"), 20, settings.blocks_page_max)
    return _json_response(await chain.get_block_page(get_client(request), before, limit))


async def _api_block(request: web.Request) -> web.StreamResponse:
    reference = chain.parse_block_reference(request.match_info["reference"])
    offset = chain.parse_offset(request.query.get("offset"))
    limit = chain.parse_limit(
        request.query.get("limit"), chain.BLOCK_TRANSACTIONS_PAGE_DEFAULT, chain.BLOCK_TRANSACTIONS_PAGE_MAX
    )
    return _json_response(await chain.get_block(get_client(request), reference, offset, limit))


async def _api_transaction(request: web.Request) -> web.StreamResponse:
    transaction_id = chain.parse_hash(request.match_info["transaction_id"])
    return _json_response(await chain.get_transaction(get_client(request), transaction_id))


async def _api_account(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    address = chain.parse_address(request.match_info["address"])
    limit = chain.parse_limit(request.query.get("limit"), 20, settings.account_page_max)
    before: tuple[Height, int] | None = None
    height_text, index_text = request.query.get("before_height"), request.query.get("before_index")
    if height_text is not None or index_text is not None:
        if height_text is None or index_text is None:
            raise ConsoleInputError("before_height and before_index go together")
        before = (chain.parse_height(height_text), chain.parse_height(index_text))
    return _json_response(await chain.get_account(get_client(request), address, limit, before))


async def _api_evidence(request: web.Request) -> web.StreamResponse:
    document_hash = chain.parse_hash(request.match_info["document_hash"])
    return _json_response(await chain.get_evidence(get_client(request), document_hash))


async def _api_search(request: web.Request) -> web.StreamResponse:
    query = request.query.get("q", "")[: request.app[SETTINGS_KEY].query_length_max]
    kind, reference = await chain.search(get_client(request), query)
    return _json_response({"kind": kind, "reference": reference})


async def _api_not_found(request: web.Request) -> web.StreamResponse:
    return _error_response(404, "not_found", f"no console API at {request.path[:100]}")


# --- the application ---------------------------------------------------------------------


def _load_static() -> dict[str, bytes]:
    folder = resources.files("gusu.console") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC_FILES}


def create_app(
    settings: ConsoleSettings, client: AsyncClient | None = None, store: ConsoleStore | None = None
) -> web.Application:
    """The console application; it closes the SDK client it made when it shuts down.

    Without `store` it opens the one `settings` names at startup (and closes it at cleanup).
    """
    app = web.Application(
        middlewares=[_limits_middleware, access_middleware, chain_middleware],
        client_max_size=settings.body_bytes_max + max(settings.contract_source_bytes_max, ARTIFACT_UPLOAD_BYTES_MAX),
    )
    app[SETTINGS_KEY] = settings
    app[CLIENT_KEY] = client or AsyncClient(settings.endpoint, timeout_s=settings.node_timeout_s, retries_max=0)
    app[CATALOGUES_KEY] = load_catalogues()
    app[STATIC_KEY] = _load_static()

    async def close_client(app: web.Application) -> None:
        await app[CLIENT_KEY].close()

    app.on_cleanup.append(close_client)
    app[ACCESS_SETTINGS_KEY] = settings
    app[RENDER_KEY] = _render_content
    app[LIMITER_KEY] = LoginLimiter(
        LoginLimits(
            failures_per_account_max=settings.login_failures_per_account_max,
            failures_per_address_max=settings.login_failures_per_address_max,
            window_s=settings.login_window_s,
            entries_max=settings.login_table_entries_max,
        )
    )
    if store is not None:
        app[STORE_KEY] = store
    else:

        async def store_context(app: web.Application) -> AsyncIterator[None]:
            app[STORE_KEY] = await open_store(settings.database, Path(settings.data_directory))
            yield
            await app[STORE_KEY].close()

        app.cleanup_ctx.append(store_context)
    add_routes(app)
    add_signing_routes(app, settings)
    add_evm_routes(app)  # before the Python contracts' /contracts/{name}
    add_contract_routes(app)
    add_governance_routes(app)
    add_alert_routes(app, settings)
    add_chain_routes(app, settings, app[CLIENT_KEY])
    add_registry_routes(app)
    add_evidence_routes(app)
    add_trace_routes(app)
    add_scf_routes(app)
    add_chart_routes(app, settings.chart_blocks_default, settings.chart_blocks_max, settings.chains_max)
    add_proof_routes(app)
    add_trace_actor_routes(app)
    add_scf_public_routes(app)
    add_certificate_routes(app)
    add_monitor(app, CLIENT_KEY)  # after the store's context, which it needs
    app.router.add_get("/", _page("dashboard"))
    app.router.add_get("/blocks", _page("explorer"))
    app.router.add_get("/blocks/{argument}", _page("block", chain.parse_block_reference))
    app.router.add_get("/transactions/{argument}", _page("transaction", chain.parse_hash))
    app.router.add_get("/accounts/{argument}", _page("account", chain.parse_address))
    app.router.add_get("/verify", _page("verify"))
    app.router.add_get("/search", _search_page)
    app.router.add_post("/language", _set_language)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/status", _api_status)
    app.router.add_get("/api/blocks", _api_blocks)
    app.router.add_get("/api/blocks/{reference}", _api_block)
    app.router.add_get("/api/transactions/{transaction_id}", _api_transaction)
    app.router.add_get("/api/accounts/{address}", _api_account)
    app.router.add_get("/api/evidence/{document_hash}", _api_evidence)
    app.router.add_get("/api/search", _api_search)
    app.router.add_route("*", "/api/{tail:.*}", _api_not_found)
    return app


async def start_console(settings: ConsoleSettings) -> tuple[web.AppRunner, str, tuple[str, str] | None]:
    """Start serving; returns the runner (``await runner.cleanup()`` stops it), the console's URL, and on
    first run the operator's name and random password, to be shown once."""
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    first_run = await ensure_first_operator(app[STORE_KEY], settings)
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    port = sockets[0].getsockname()[1] if sockets else settings.port
    host = settings.host if ":" not in settings.host else f"[{settings.host}]"
    return runner, f"http://{host}:{port}/", first_run


__all__ = ["DEFAULT_LANGUAGE", "compute_page", "create_app", "start_console"]
