"""The console's metadata store: one suite, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from gusu.console.store import ConsoleStore, Session, UsernameTakenError, compute_migrations, open_store

Scenario = Callable[[ConsoleStore], Awaitable[None]]
_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def open_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Awaitable[ConsoleStore]]:
    """Opens a fresh, migrated store: a file in a temporary folder, or a new database on the test server."""
    if request.param == "sqlite":
        return lambda: open_store(None, tmp_path / "console")
    server: str = request.getfixturevalue("postgres_url")
    name = f"console_test_{next(_databases)}"

    async def open_postgres() -> ConsoleStore:
        import psycopg

        async with await psycopg.AsyncConnection.connect(server, autocommit=True) as connection:
            await connection.execute(f"CREATE DATABASE {name}")
        return await open_store(server.replace("/postgres?", f"/{name}?"), tmp_path)

    return open_postgres


def run(open_database: Callable[[], Awaitable[ConsoleStore]], scenario: Scenario) -> None:
    async def main() -> None:
        store = await open_database()
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_migrations_are_versioned_and_idempotent(open_database: Callable[[], Awaitable[ConsoleStore]]) -> None:
    async def scenario(store: ConsoleStore) -> None:
        newest = compute_migrations(store.dialect)[-1][0]
        assert await store.get_schema_version() == newest
        assert await store.apply_migrations() == newest  # a second run changes nothing
        assert await store.count_users() == 0

    run(open_database, scenario)


def test_users(open_database: Callable[[], Awaitable[ConsoleStore]]) -> None:
    async def scenario(store: ConsoleStore) -> None:
        alice = await store.create_user("alice", "operator", None, "scrypt$hash-a", 1000)
        bob = await store.create_user("bob", "org_admin", "银行甲", "scrypt$hash-b", 2000)
        assert alice.user_id != bob.user_id and not alice.disabled
        assert await store.get_user("bob") == bob and bob.organisation == "银行甲"
        assert await store.get_user_by_id(alice.user_id) == alice
        assert [user.username for user in await store.list_users()] == ["alice", "bob"]
        with pytest.raises(UsernameTakenError):
            await store.create_user("alice", "developer", None, "x", 3000)
        await store.apply_password(bob.user_id, "scrypt$new", 5000)
        changed = await store.get_user("bob")
        assert changed is not None and changed.password_hash == "scrypt$new" and changed.password_changed_ms == 5000
        await store.apply_disabled(bob.user_id, True)
        disabled = await store.get_user("bob")
        assert disabled is not None and disabled.disabled
        assert await store.get_user("nobody") is None

    run(open_database, scenario)


def test_hostile_names_are_data_not_sql(open_database: Callable[[], Awaitable[ConsoleStore]]) -> None:
    """The store itself never builds SQL from values (the console also refuses such names before it)."""

    async def scenario(store: ConsoleStore) -> None:
        hostile = ["x'; DROP TABLE users; --", "' OR '1'='1", 'a" OR 1=1 --', "%s?%(x)s", "名字\\"]
        for index, name in enumerate(hostile):
            await store.create_user(name, "developer", None, f"hash{index}", index)
        for index, name in enumerate(hostile):
            found = await store.get_user(name)
            assert found is not None and found.password_hash == f"hash{index}"
        assert await store.get_user("' OR '1'='1' --") is None
        assert await store.count_users() == len(hostile)

    run(open_database, scenario)


def test_sessions_end_with_password_change_and_disable(open_database: Callable[[], Awaitable[ConsoleStore]]) -> None:
    async def scenario(store: ConsoleStore) -> None:
        user = await store.create_user("carol", "developer", None, "h", 0)
        first = Session("a" * 64, user.user_id, "csrf-1", "127.0.0.1", 1000, 1000)
        await store.create_session(first)
        assert await store.get_session("a" * 64) == first
        await store.apply_session_seen("a" * 64, 2000)
        seen = await store.get_session("a" * 64)
        assert seen is not None and seen.last_seen_ms == 2000
        await store.apply_password(user.user_id, "h2", 3000)
        assert await store.get_session("a" * 64) is None
        await store.create_session(Session("b" * 64, user.user_id, "csrf-2", "::1", 4000, 4000))
        await store.apply_disabled(user.user_id, True)
        assert await store.get_session("b" * 64) is None
        await store.apply_disabled(user.user_id, False)
        await store.create_session(Session("c" * 64, user.user_id, "csrf-3", "::1", 4000, 9000))
        await store.create_session(Session("d" * 64, user.user_id, "csrf-4", "::1", 100, 100))
        assert await store.delete_expired_sessions(idle_before_ms=5000, created_before_ms=0) == 1
        assert await store.get_session("c" * 64) is not None
        await store.delete_session("c" * 64)
        assert await store.get_session("c" * 64) is None

    run(open_database, scenario)


def test_audit_log_is_paged_and_append_only(open_database: Callable[[], Awaitable[ConsoleStore]]) -> None:
    async def scenario(store: ConsoleStore) -> None:
        for index in range(7):
            await store.append_audit(index, "alice" if index else None, "login", None, "127.0.0.1", "ok")
        first = await store.list_audit(None, 3)
        assert [entry.time_ms for entry in first] == [6, 5, 4]
        rest = await store.list_audit(first[-1].entry_id, 10)
        assert [entry.time_ms for entry in rest] == [3, 2, 1, 0] and rest[-1].actor is None
        with pytest.raises(Exception, match="append-only"):
            await store.backend.execute("UPDATE audit_log SET outcome = 'forged'")
        with pytest.raises(Exception, match="append-only"):
            await store.backend.execute("DELETE FROM audit_log")
        assert len(await store.list_audit(None, 100)) == 7

    run(open_database, scenario)
