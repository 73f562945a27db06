"""Users and access: login, sessions, CSRF, roles, limits and the audit log, including hostile requests.

No node is needed: these routes read only the console's store (SQLite in a temporary folder).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from console_helpers import find_free_port

from gusu.console.access import (
    SCRYPT_LOG2_N_DEFAULT,
    SESSION_COOKIE,
    compute_password_hash,
    is_password_correct,
)
from gusu.console.accounts import PUBLIC_ROUTES, STORE_KEY, ensure_first_operator
from gusu.console.server import CONTENT_SECURITY_POLICY, create_app
from gusu.console.settings import ConsoleSettings
from gusu.console.store import ConsoleStore, open_store

Client = TestClient[Any, Any]
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_SHOWN = re.compile(r'<code id="shown-password">([^<]+)</code>')


class Console:
    def __init__(self, client: Client, store: ConsoleStore, admin_password: str) -> None:
        self.client = client
        self.store = store
        self.admin_password = admin_password

    async def login(self, username: str, password: str, status: int = 303) -> str:
        page = await self.client.get("/login")
        token = _TOKEN.findall(await page.text())[-1]
        response = await self.client.post(
            "/login", data={"csrf_token": token, "username": username, "password": password}, allow_redirects=False
        )
        text = await response.text()
        assert response.status == status, text
        return text

    async def token(self, path: str = "/account") -> str:
        page = await self.client.get(path)
        assert page.status == 200, await page.text()
        return _TOKEN.findall(await page.text())[-1]

    async def create_user(self, username: str, role: str, organisation: str = "") -> str:
        token = await self.token("/users")
        response = await self.client.post(
            "/users", data={"csrf_token": token, "username": username, "role": role, "organisation": organisation}
        )
        text = await response.text()
        assert response.status == 200, text
        return _SHOWN.findall(text)[0]

    async def logout(self) -> None:
        token = await self.token()
        response = await self.client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
        assert response.status == 303


Scenario = Callable[[Console], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, **settings: Any) -> None:
    async def main() -> None:
        configured = ConsoleSettings(
            endpoint=f"http://127.0.0.1:{find_free_port()}", port=0, scrypt_log2_n=10, **settings
        )
        store = await open_store(None, tmp_path / "console")
        first = await ensure_first_operator(store, configured)
        assert first is not None and first[0] == "admin"
        app = create_app(configured, store=store)
        try:
            async with TestClient(TestServer(app)) as client:
                await scenario(Console(client, store, first[1]))
        finally:
            await store.close()

    asyncio.run(main())


def test_first_run_operator_has_a_random_password_stored_hashed(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        admin = await console.store.get_user("admin")
        assert admin is not None and admin.role == "operator"
        assert console.admin_password not in admin.password_hash and admin.password_hash.startswith("scrypt$10$8$1$")
        assert len(console.admin_password) >= 20
        assert await ensure_first_operator(console.store, ConsoleSettings(scrypt_log2_n=10)) is None  # once only
        await console.login("admin", console.admin_password)
        me = await (await console.client.get("/api/me")).json()
        assert me["username"] == "admin" and me["role"] == "operator"

    run(tmp_path, scenario)


def test_password_hash_parameters_and_checks() -> None:
    stored = compute_password_hash("correct horse battery", 10)
    assert is_password_correct("correct horse battery", stored)
    assert not is_password_correct("correct horse batterY", stored)
    assert not is_password_correct("x", "scrypt$99$8$1$AA$AA") and not is_password_correct("x", "plain")
    assert compute_password_hash("a", 10) != compute_password_hash("a", 10)  # salted
    assert SCRYPT_LOG2_N_DEFAULT == 15


def test_login_sets_a_new_strict_session_and_logout_ends_it(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        # A session id planted before login (fixation) is never adopted: login issues a new one.
        client.session.cookie_jar.update_cookies({SESSION_COOKIE: "planted-by-an-attacker"})
        page = await client.get("/login")
        token = _TOKEN.findall(await page.text())[-1]
        response = await client.post(
            "/login",
            data={"csrf_token": token, "username": "admin", "password": console.admin_password},
            allow_redirects=False,
        )
        assert response.status == 303
        cookie = response.headers.getall("Set-Cookie")
        session_cookie = next(line for line in cookie if line.startswith(SESSION_COOKIE + "="))
        assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie and "Path=/" in session_cookie
        value = session_cookie.split(";")[0].split("=", 1)[1]
        assert value != "planted-by-an-attacker" and len(value) >= 43
        assert await console.store.get_session(value) is None  # only its hash is stored
        # Logging in again changes the id again; the old one stops working.
        await console.login("admin", console.admin_password)
        assert (await client.get("/api/me")).status == 200
        await console.logout()
        assert (await client.get("/api/me")).status == 401
        assert (await client.get("/users", allow_redirects=False)).headers["Location"] == "/login"

    run(tmp_path, scenario)


def test_csrf_is_required_on_every_write(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        await console.login("admin", console.admin_password)
        for token in (None, "", "forged-token"):
            data = {"username": "mallory", "role": "operator"} | ({} if token is None else {"csrf_token": token})
            refused = await client.post("/users", data=data)
            assert refused.status == 403, token
            headers = {} if token is None else {"X-CSRF-Token": token}
            api = await client.post("/api/users", json={"username": "mallory", "role": "operator"}, headers=headers)
            assert api.status == 403 and (await api.json())["error"]["code"] == "csrf_invalid"
        assert await console.store.get_user("mallory") is None
        # With the session's token the same requests work.
        me = await (await client.get("/api/me")).json()
        created = await client.post(
            "/api/users", json={"username": "dev-1", "role": "developer"}, headers={"X-CSRF-Token": me["csrf_token"]}
        )
        assert created.status == 201 and len((await created.json())["password"]) >= 20
        # The login form has its own token, bound to a cookie.
        stolen = await client.post("/login", data={"csrf_token": "x", "username": "admin", "password": "y" * 12})
        assert stolen.status == 403
        entries = await (await client.get("/api/audit")).json()
        assert {"csrf.refused", "user.create"} <= {entry["action"] for entry in entries["entries"]}

    run(tmp_path, scenario)


def test_roles_are_checked_on_every_admin_route(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        await console.login("admin", console.admin_password)
        auditor_password = await console.create_user("audra", "auditor")
        developer_password = await console.create_user("dev", "developer")
        admin_password = await console.create_user("bank-a", "org_admin", "银行甲")
        await console.logout()
        await console.login("audra", auditor_password)
        token = await console.token()
        refused = await client.post("/users", data={"csrf_token": token, "username": "evil", "role": "operator"})
        assert refused.status == 403
        api = await client.post(
            "/api/users", json={"username": "evil", "role": "operator"}, headers={"X-CSRF-Token": token}
        )
        assert api.status == 403
        assert (await client.post("/users/dev/disable", data={"csrf_token": token})).status == 403
        assert await console.store.get_user("evil") is None
        assert (await client.get("/audit")).status == 200  # read-only access
        assert (await client.get("/users")).status == 403
        await console.logout()
        for name, password in (("dev", developer_password), ("bank-a", admin_password)):
            await console.login(name, password)
            assert (await client.get("/audit")).status == 403 and (await client.get("/users")).status == 403
            assert (await client.get("/account")).status == 200
            await console.logout()
        # The public pages stay public.
        for path in ("/verify", "/blocks", "/login"):
            assert (await client.get(path)).status == 200, path

    run(tmp_path, scenario)


def test_every_route_is_public_or_requires_a_permission(tmp_path: Path) -> None:
    app = create_app(ConsoleSettings(scrypt_log2_n=10), store=object())  # type: ignore[arg-type]
    assert app[STORE_KEY] is not None
    unmarked = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path in PUBLIC_ROUTES or route.method == "HEAD":
            continue
        if not hasattr(route.handler, "permission"):
            unmarked.append(f"{route.method} {path}")
    assert unmarked == []


def test_disabled_user_and_changed_password_end_sessions(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        client = console.client
        await console.login("admin", console.admin_password)
        password = await console.create_user("temp", "developer")
        admin_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
        # Log in as temp in a second browser.
        async with TestClient(TestServer(client.server.app)) as other:
            page = await other.get("/login")
            token = _TOKEN.findall(await page.text())[-1]
            await other.post("/login", data={"csrf_token": token, "username": "temp", "password": password})
            assert (await other.get("/api/me")).status == 200
            token = await console.token("/users")
            disabled = await client.post("/users/temp/disable", data={"csrf_token": token})
            assert (
                disabled.status == 200
                and client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value == admin_cookie
            )
            assert (await other.get("/api/me")).status == 401
            page = await other.get("/login")
            token = _TOKEN.findall(await page.text())[-1]
            again = await other.post("/login", data={"csrf_token": token, "username": "temp", "password": password})
            assert again.status == 401
        # Changing one's password: rules first, then every session of the user ends.
        token = await console.token()
        for new, confirm, key in (
            ("short", "short", "at least 12"),
            ("x" * 129, "x" * 129, "at most 128"),
            ("admin", "admin", "at least 12"),
            ("a good long passphrase", "a different one!!", "differ"),
        ):
            response = await client.post(
                "/account/password",
                data={"csrf_token": token, "current": console.admin_password, "new": new, "confirm": confirm},
                headers={"Cookie": "gusu_language=en"},
            )
            assert response.status == 400 and key in await response.text(), new
        changed = await client.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current": console.admin_password,
                "new": "a good long passphrase",
                "confirm": "a good long passphrase",
            },
            allow_redirects=False,
        )
        assert changed.status == 303
        assert (await client.get("/api/me")).status == 401
        await console.login("admin", console.admin_password, status=401)
        await console.login("admin", "a good long passphrase")

    run(tmp_path, scenario)


def test_login_brute_force_hits_the_limit_without_revealing_accounts(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        for _ in range(3):
            await console.login("admin", "wrong password!", status=401)
        locked = await console.login("admin", console.admin_password, status=429)  # even the right password
        for _ in range(3):
            await console.login("ghost", "wrong password!", status=401)
        ghost = await console.login("ghost", "wrong password!", status=429)
        strip = re.compile(r'name="csrf_token" value="[^"]+"')
        assert strip.sub("", locked) == strip.sub("", ghost)  # the same page whether the account exists or not
        # Per address: other names from the same address are locked once the address limit is reached.
        for index in range(2):
            await console.login(f"name-{index}", "wrong password!", status=401)
        await console.login("admin-2", "wrong password!", status=429)
        entries = await console.store.list_audit(None, 100)
        assert "limited" in {entry.outcome for entry in entries}

    run(tmp_path, scenario, login_failures_per_account_max=3, login_failures_per_address_max=8)


@pytest.mark.parametrize(
    ("username", "role", "organisation", "message"),
    [
        ("x'; DROP TABLE users; --", "developer", "", "user name must be"),
        ("' OR '1'='1", "developer", "", "user name must be"),
        ("a" * 33, "developer", "", "too long"),
        ("Robert", "developer", "", "user name must be"),
        ("ok-name", "superuser", "", "valid role"),
        ("ok-name", "org_admin", "", "organisation"),
        ("ok-name", "developer", "Bank A", "Only an organisation admin"),
        ("ok-name", "org_admin", "b" * 65, "at most 64"),
        ("u" * 300, "developer", "", "at most 256"),
    ],
)
def test_hostile_and_overlong_inputs_are_refused_with_a_message(
    tmp_path: Path, username: str, role: str, organisation: str, message: str
) -> None:
    async def scenario(console: Console) -> None:
        await console.login("admin", console.admin_password)
        token = await console.token("/users")
        response = await console.client.post(
            "/users",
            data={"csrf_token": token, "username": username, "role": role, "organisation": organisation},
            headers={"Cookie": "gusu_language=en"},
        )
        text = await response.text()
        assert response.status == 400 and message in text, text
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "DROP TABLE users" not in text or "&#x27;" in text
        assert [user.username for user in await console.store.list_users()] == ["admin"]
        # Login with a hostile name is an ordinary failure, not an error.
        await console.logout()
        await console.login(username[:200], "whatever password", status=401)

    run(tmp_path, scenario)


def test_names_are_escaped_and_the_audit_log_is_paged(tmp_path: Path) -> None:
    async def scenario(console: Console) -> None:
        await console.login("admin", console.admin_password)
        await console.create_user("bank-admin", "org_admin", '<script>alert("x")</script>')
        page = await (await console.client.get("/users")).text()
        assert "<script>alert" not in page and "&lt;script&gt;alert" in page
        for _ in range(3):
            await console.client.get("/users")  # reads are not audited; make entries with refused logins
        audit = await (await console.client.get("/audit")).text()
        assert "user.create" in audit and "login" in audit
        entries = (await (await console.client.get("/api/audit")).json())["entries"]
        assert entries[0]["actor"] == "admin" and entries[0]["address"] == "127.0.0.1"
        older = await (await console.client.get(f"/api/audit?before={entries[0]['id']}")).json()
        assert len(entries) == 2 and older["entries"][0]["id"] == entries[1]["id"]
        assert (await console.client.get("/api/audit?before=abc")).status == 400

    run(tmp_path, scenario, audit_page_max=2)
