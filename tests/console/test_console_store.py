"""The console's metadata store: one suite, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from gusu.console.evm_store import EvmStore
from gusu.console.store import (
    ConsoleStore,
    Session,
    SqliteBackend,
    StoredKey,
    UsernameTakenError,
    compute_migrations,
    open_store,
)

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


def test_signing_keys_and_contract_transactions(open_database: Callable[[], Awaitable[ConsoleStore]]) -> None:
    async def scenario(store: ConsoleStore) -> None:
        alice = await store.create_user("alice", "developer", None, "scrypt$hash-a", 1000)
        bob = await store.create_user("bob", "developer", None, "scrypt$hash-b", 1000)
        address = "0x" + "ab" * 20
        await store.add_signing_key(StoredKey(alice.user_id, address, "sm", '{"cipher": "sm4-gcm"}', 5))
        await store.add_signing_key(StoredKey(bob.user_id, address, "sm", '{"cipher": "sm4-gcm", "b": 1}', 6))
        with pytest.raises(Exception):  # noqa: B017 (each driver raises its own integrity error)
            await store.add_signing_key(StoredKey(alice.user_id, address, "sm", "{}", 7))
        assert [key.key_file for key in await store.list_signing_keys(alice.user_id)] == ['{"cipher": "sm4-gcm"}']
        assert await store.get_signing_key(bob.user_id, "0x" + "cd" * 20) is None
        # One user's key is never another's: deleting is per user.
        assert await store.delete_signing_key(alice.user_id, address) == 1
        assert await store.get_signing_key(alice.user_id, address) is None
        assert await store.get_signing_key(bob.user_id, address) is not None
        for entry, (contract, method, success) in enumerate(
            [("coin", "deploy", True), ("coin", "transfer", True), ("shop", "deploy", False), ("bank", "deploy", True)]
        ):
            await store.append_contract_transaction(
                10 + entry, "alice", contract, method, f"0x{entry:064x}", 3 + entry, success, "[]"
            )
        history = await store.list_contract_transactions("coin", 10)
        assert [item.method for item in history] == ["transfer", "deploy"] and history[0].height == 4
        assert len(await store.list_contract_transactions("coin", 1)) == 1
        assert await store.list_deployed_contracts(10) == ["bank", "coin"]  # the failed deployment is not listed

    run(open_database, scenario)


def test_contract_history_pages_and_evm_contracts(open_database: Callable[[], Awaitable[ConsoleStore]]) -> None:
    async def scenario(store: ConsoleStore) -> None:
        for entry in range(5):
            await store.append_contract_transaction(entry, "alice", "evm:0xab", f"m{entry}", f"0x{entry:064x}", 1,
                                                    True, "[]")  # fmt: skip
        await store.append_contract_transaction(9, "alice", "other", "m", "0x" + "00" * 32, 1, True, "[]")
        first = await store.list_contract_transactions_before("evm:0xab", None, 2)
        assert [item.method for item in first] == ["m4", "m3"]
        second = await store.list_contract_transactions_before("evm:0xab", first[-1].entry_id, 2)
        assert [item.method for item in second] == ["m2", "m1"]
        last = await store.list_contract_transactions_before("evm:0xab", second[-1].entry_id, 2)
        assert [item.method for item in last] == ["m0"]
        # EVM artifacts and the contracts whose ABI the console keeps (migration 5).
        evm = EvmStore(store.backend)
        token = await evm.add_artifact("Token", "0x" + "11" * 32, '{"abi": []}', "alice", 100)
        other = await evm.add_artifact("Other'; DROP TABLE evm_contracts; --", "", '{"abi": []}', "bob", 101)
        assert token != other and (await evm.get_artifact(token)) is not None
        assert await evm.get_artifact(other + 1000) is None
        address = "0x" + "ab" * 20
        await evm.put_contract(address, token, "0x" + "22" * 32, "alice", 200)
        found = await evm.get_contract(address)
        assert found is not None and found[0].name == "Token" and found[1].code_hash == "0x" + "11" * 32
        await evm.put_contract(address, other, None, "bob", 300)  # registered again: re-pointed, not duplicated
        found = await evm.get_contract(address)
        assert found is not None and found[0].transaction_id is None and found[1].name.startswith("Other'")
        assert [contract.address for contract in await evm.list_contracts(10)] == [address]
        assert await evm.get_contract("0x" + "cd" * 20) is None

    run(open_database, scenario)


def test_closing_while_a_cancelled_query_still_runs_waits_for_it(tmp_path: Path) -> None:
    """Found by CI (a segfault at console shutdown): cancelling the task awaiting a query released the asyncio
    lock while its worker thread was still inside SQLite, and `close` closed the connection under it."""

    async def scenario() -> None:
        backend = SqliteBackend(tmp_path / "slow.sqlite3")
        slow = (
            "WITH RECURSIVE counter(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM counter WHERE x < 2000000) "
            "SELECT x FROM counter"
        )
        finished = threading.Event()
        fetch = backend._fetch

        def fetch_and_mark(sql: str, parameters: Sequence[object]) -> list[tuple[object, ...]]:
            try:
                return fetch(sql, parameters)
            finally:
                finished.set()

        backend._fetch = fetch_and_mark  # type: ignore[method-assign]
        query = asyncio.create_task(backend.fetch(slow))
        await asyncio.sleep(0.05)  # the worker thread is stepping through the rows now
        query.cancel()
        with pytest.raises(asyncio.CancelledError):
            await query
        await backend.close()
        # close waited for the statement; before the fix it closed the connection under it.
        assert finished.is_set()

    asyncio.run(scenario())
