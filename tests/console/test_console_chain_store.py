"""The chains table of the console store (migration 4), against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from test_console_store import open_database, run

from gusu.console.alert_store import AlertStore
from gusu.console.alerts import DEFAULT_CHAIN_ID
from gusu.console.chain_store import ChainStore, NewChain
from gusu.console.store import ConsoleStore, SqliteBackend, compute_migrations

__all__ = ["open_database"]  # the fixture, shared with test_console_store.py

Opener = Callable[[], Awaitable[ConsoleStore]]


def _local(name: str) -> NewChain:
    return NewChain(
        name, "local", "http://127.0.0.1:9545", None, "/d", "127.0.0.1", 9545, 2, "a,b", "raft", "c", "sm", "creating"
    )


def test_chains_are_stored_and_updated(open_database: Opener) -> None:
    async def scenario(store: ConsoleStore) -> None:
        chains = ChainStore(store.backend)
        local = await chains.create_chain(_local("lab'; DROP TABLE chains; --"), 5)
        remote = await chains.create_chain(
            NewChain(
                "far", "remote", "https://x", "PEM", None, None, None, 0, "", "", "gusu-far", "ecdsa", "registered"
            ),
            6,
        )
        assert [(chain.name, chain.kind, chain.base_port) for chain in await chains.list_chains()] == [
            ("lab'; DROP TABLE chains; --", "local", 9545),
            ("far", "remote", None),
        ]
        assert local.organisation_names == "a,b" and local.consensus == "raft" and local.created_ms == 5
        assert remote.ca_certificate == "PEM" and remote.directory is None
        await chains.apply_state(local.chain_id, "failed", "node1 exited: 错误", 9)
        failed = await chains.get_chain(local.chain_id)
        assert failed is not None and (failed.state, failed.message, failed.updated_ms) == (
            "failed",
            "node1 exited: 错误",
            9,
        )
        assert await chains.count_chains() == 2 and await chains.get_chain(999) is None
        assert await chains.get_chain_by_name("far") == remote
        with pytest.raises(Exception):  # the name is unique  # noqa: B017
            await chains.create_chain(_local("far"), 7)

    run(open_database, scenario)


def test_a_version_2_store_is_migrated_and_keeps_its_alert_rules(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = SqliteBackend(tmp_path / "old.sqlite3")
        migrations = compute_migrations("sqlite")
        await backend.run_transaction(
            [
                ("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)", ()),
                *[(sql, ()) for version, statements in migrations[:2] for sql in statements],
                ("INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 0)", ()),
                ("INSERT INTO schema_migrations (version, applied_ms) VALUES (2, 0)", ()),
            ]
        )
        # A rule as a version-2 console wrote it (no chain: it watched the console's endpoint, the only chain).
        await backend.execute(
            "INSERT INTO alert_rules (name, kind, threshold, capacity, webhook_url, email_to, enabled, created_ms) "
            "VALUES ('down', 'node_down', 0, NULL, NULL, NULL, 1, 1)"
        )
        store = ConsoleStore(backend)
        assert await store.apply_migrations() == migrations[-1][0]
        [rule] = await AlertStore(backend).list_rules()
        assert rule.name == "down" and rule.chain_id == DEFAULT_CHAIN_ID, "it keeps watching the console's endpoint"
        assert await ChainStore(backend).list_chains() == []
        await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_chains_table_is_migration_4(dialect: str) -> None:
    migrations = compute_migrations(dialect)
    assert migrations[3][0] == 4 and any("CREATE TABLE chains" in sql for sql in migrations[3][1])
