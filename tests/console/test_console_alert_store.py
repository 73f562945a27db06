"""The alert tables of the console store, against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from test_console_store import open_database, run

from gusu.console.alert_store import AlertStore, SmtpServer
from gusu.console.alerts import RuleInput
from gusu.console.store import ConsoleStore, SqliteBackend, compute_migrations

__all__ = ["open_database"]  # the fixture, shared with test_console_store.py

Opener = Callable[[], Awaitable[ConsoleStore]]


def test_rules(open_database: Opener) -> None:
    async def scenario(store: ConsoleStore) -> None:
        alerts = AlertStore(store.backend)
        await alerts.create_rule(RuleInput("停滞", "height_stalled", 30, None, "http://127.0.0.1:1/h", None), 1)
        await alerts.create_rule(
            RuleInput("pool'; DROP TABLE alert_rules; --", "mempool_full", 80, 5000, None, "a@b.c"), 2
        )
        rules = await alerts.list_rules()
        assert [(r.name, r.kind, r.threshold, r.capacity, r.enabled) for r in rules] == [
            ("停滞", "height_stalled", 30, None, True),
            ("pool'; DROP TABLE alert_rules; --", "mempool_full", 80, 5000, True),
        ]
        assert rules[0].webhook_url == "http://127.0.0.1:1/h" and rules[1].email_to == "a@b.c"
        assert await alerts.count_rules() == 2
        assert await alerts.apply_rule_enabled(rules[0].rule_id, False)
        disabled = await alerts.get_rule(rules[0].rule_id)
        assert disabled is not None and not disabled.enabled
        assert await alerts.delete_rule(rules[1].rule_id)
        assert not await alerts.delete_rule(rules[1].rule_id)
        assert await alerts.get_rule(rules[1].rule_id) is None
        assert not await alerts.apply_rule_enabled(999, True)

    run(open_database, scenario)


def test_history_is_bounded_paged_and_remembers_what_fires(open_database: Opener) -> None:
    async def scenario(store: ConsoleStore) -> None:
        alerts = AlertStore(store.backend)
        await alerts.create_rule(RuleInput("down", "node_down", 0, None, None, None), 1)
        await alerts.create_rule(RuleInput("peers", "peers_below", 2, None, None, None), 1)
        down, peers = await alerts.list_rules()
        ids = []
        for index in range(6):
            ids.append(await alerts.append_event(down, "firing" if index % 2 == 0 else "resolved", "0", index, 5))
        ids.append(await alerts.append_event(peers, "firing", "1", 10, 5))
        events = await alerts.list_events(None, 100)
        assert [event.event_id for event in events] == ids[::-1][:5]  # only the newest 5 kept
        assert (events[0].rule_name, events[0].status, events[0].observed, events[0].threshold) == (
            "peers",
            "firing",
            "1",
            2,
        )
        page = await alerts.list_events(events[1].event_id, 2)
        assert [event.event_id for event in page] == [ids[4], ids[3]]
        await alerts.apply_delivery(ids[-1], "webhook ok")
        assert (await alerts.list_events(None, 1))[0].delivery == "webhook ok"
        assert await alerts.list_firing_rule_ids() == {peers.rule_id}  # down's latest event resolved it
        [firing] = await alerts.list_firing_events()
        assert (firing.rule_id, firing.time_ms, firing.observed) == (peers.rule_id, 10, "1")
        await alerts.delete_rule(peers.rule_id)
        assert await alerts.list_firing_events() == []  # a deleted rule fires no more

    run(open_database, scenario)


def test_smtp_server_is_one_row(open_database: Opener) -> None:
    async def scenario(store: ConsoleStore) -> None:
        alerts = AlertStore(store.backend)
        assert await alerts.get_smtp() is None
        first = SmtpServer("mail.example.com", 587, "starttls", "ops", "secret", "gusu@example.com")
        await alerts.apply_smtp(first)
        await alerts.apply_smtp(SmtpServer("127.0.0.1", 2525, "none", None, None, "gusu@localhost"))
        assert await alerts.get_smtp() == SmtpServer("127.0.0.1", 2525, "none", None, None, "gusu@localhost")

    run(open_database, scenario)


def test_a_version_1_store_is_migrated_and_keeps_its_users(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = SqliteBackend(tmp_path / "old.sqlite3")
        version_1 = compute_migrations("sqlite")[0][1]
        await backend.run_transaction(
            [
                ("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)", ()),
                *[(sql, ()) for sql in version_1],
                ("INSERT INTO schema_migrations (version, applied_ms) VALUES (1, 0)", ()),
            ]
        )
        store = ConsoleStore(backend)
        await store.create_user("alice", "operator", None, "h", 0)
        assert await store.apply_migrations() == compute_migrations("sqlite")[-1][0]  # the newest version
        assert await store.get_user("alice") is not None
        assert await AlertStore(backend).list_rules() == []
        await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_alert_tables_are_migration_2(dialect: str) -> None:
    migrations = compute_migrations(dialect)
    assert migrations[1][0] == 2 and any("alert_rules" in sql for sql in migrations[1][1])
