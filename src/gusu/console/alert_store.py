"""The alerts' tables in the console store: rules, the alert history, and the SMTP server for e-mail.

The schema is migration 2 of `gusu.console.store.compute_migrations` (the
statements are here, beside the queries that use them). `AlertStore` wraps a
`ConsoleStore`'s backend, so the same SQL runs on SQLite and PostgreSQL with
every value as a query parameter. The history keeps the newest
`history_max` events (older ones are deleted when a new one is added).
The SMTP password is kept in the store, since the console must present it to the
server; pages never show it back (docs/console.md). Migration 6
(`compute_alert_chain_migration`) gives rules and events their chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gusu.console.alerts import AlertRule, RuleInput

Row = tuple[Any, ...]


def compute_alert_migration(identity: str) -> list[str]:
    """Migration 2: the alert tables (`identity` is the dialect's identity column)."""
    return [
        f"CREATE TABLE alert_rules (rule_id {identity}, name TEXT NOT NULL, kind TEXT NOT NULL, "
        "threshold BIGINT NOT NULL, capacity BIGINT, webhook_url TEXT, email_to TEXT, "
        "enabled INTEGER NOT NULL DEFAULT 1, created_ms BIGINT NOT NULL)",
        f"CREATE TABLE alert_events (event_id {identity}, rule_id BIGINT NOT NULL, rule_name TEXT NOT NULL, "
        "kind TEXT NOT NULL, threshold BIGINT NOT NULL, status TEXT NOT NULL, observed TEXT NOT NULL, "
        "time_ms BIGINT NOT NULL, delivery TEXT NOT NULL DEFAULT '')",
        "CREATE INDEX alert_events_by_rule ON alert_events (rule_id, event_id)",
        "CREATE TABLE alert_smtp (smtp_id INTEGER PRIMARY KEY, host TEXT NOT NULL, port INTEGER NOT NULL, "
        "security TEXT NOT NULL, username TEXT, password TEXT, sender TEXT NOT NULL)",
    ]


def compute_alert_chain_migration() -> list[str]:
    """Migration 6: a rule's chain (NULL: every chain) and an event's chain (number and name when it fired).

    Rules made before it watched the console's own endpoint, the only chain the monitor looked at then, and
    keep doing so (chain 0); their events were about that chain too.
    """
    return [
        "ALTER TABLE alert_rules ADD COLUMN chain_id BIGINT",
        "UPDATE alert_rules SET chain_id = 0",
        "ALTER TABLE alert_events ADD COLUMN chain_id BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE alert_events ADD COLUMN chain_name TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX alert_events_by_rule_chain ON alert_events (rule_id, chain_id, event_id)",
    ]


@dataclass(frozen=True, slots=True)
class AlertEvent:
    event_id: int
    rule_id: int
    rule_name: str
    kind: str
    threshold: int
    status: str
    observed: str
    time_ms: int
    delivery: str
    """What the notifications did, e.g. ``webhook ok; email failed: ...``; empty when none was configured."""
    chain_id: int = 0
    """The chain it is about (0: the console's own endpoint)."""
    chain_name: str = ""
    """That chain's name when the event was recorded ('' for the console's endpoint)."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: str
    """``none``, ``starttls`` or ``tls`` (SMTPS)."""
    username: str | None
    password: str | None
    sender: str


SMTP_SECURITY: Final = ("starttls", "tls", "none")
_RULE_COLUMNS: Final = "rule_id, name, kind, threshold, capacity, webhook_url, email_to, enabled, chain_id"
_EVENT_COLUMNS: Final = (
    "event_id, rule_id, rule_name, kind, threshold, status, observed, time_ms, delivery, chain_id, chain_name"
)


def _rule(row: Row) -> AlertRule:
    return AlertRule(
        int(row[0]), row[1], row[2], int(row[3]), None if row[4] is None else int(row[4]), row[5], row[6],
        bool(row[7]), None if row[8] is None else int(row[8]),
    )  # fmt: skip


def _event(row: Row) -> AlertEvent:
    return AlertEvent(
        int(row[0]), int(row[1]), row[2], row[3], int(row[4]), row[5], row[6], int(row[7]), row[8], int(row[9]),
        row[10],
    )  # fmt: skip


class AlertStore:
    def __init__(self, backend: Any) -> None:
        self.backend = backend

    # rules

    async def create_rule(self, rule: RuleInput, now_ms: int) -> None:
        await self.backend.execute(
            "INSERT INTO alert_rules (name, kind, threshold, capacity, webhook_url, email_to, enabled, created_ms, "
            "chain_id) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (rule.name, rule.kind, rule.threshold, rule.capacity, rule.webhook_url, rule.email_to, now_ms,
             rule.chain_id),
        )  # fmt: skip

    async def count_rules(self) -> int:
        rows = await self.backend.fetch("SELECT COUNT(*) FROM alert_rules")
        return int(rows[0][0])

    async def list_rules(self) -> list[AlertRule]:
        rows = await self.backend.fetch(f"SELECT {_RULE_COLUMNS} FROM alert_rules ORDER BY rule_id")
        return [_rule(row) for row in rows]

    async def get_rule(self, rule_id: int) -> AlertRule | None:
        rows = await self.backend.fetch(f"SELECT {_RULE_COLUMNS} FROM alert_rules WHERE rule_id = ?", (rule_id,))
        return _rule(rows[0]) if rows else None

    async def apply_rule_enabled(self, rule_id: int, enabled: bool) -> bool:
        changed: int = await self.backend.execute(
            "UPDATE alert_rules SET enabled = ? WHERE rule_id = ?", (1 if enabled else 0, rule_id)
        )
        return changed == 1

    async def apply_rule_chain(self, rule_id: int, chain_id: int | None) -> bool:
        """Points the rule at one chain (None: every chain); the monitor uses it from its next look."""
        changed: int = await self.backend.execute(
            "UPDATE alert_rules SET chain_id = ? WHERE rule_id = ?", (chain_id, rule_id)
        )
        return changed == 1

    async def delete_rule(self, rule_id: int) -> bool:
        """Deletes the rule; its history stays (it names the rule)."""
        changed: int = await self.backend.execute("DELETE FROM alert_rules WHERE rule_id = ?", (rule_id,))
        return changed == 1

    # history

    async def append_event(
        self,
        rule: AlertRule,
        status: str,
        observed: str,
        time_ms: int,
        history_max: int,
        chain_id: int = 0,
        chain_name: str = "",
    ) -> int:
        """Adds an event about chain `chain_id` and drops the oldest beyond `history_max`; returns its id."""
        await self.backend.execute(
            "INSERT INTO alert_events (rule_id, rule_name, kind, threshold, status, observed, time_ms, chain_id, "
            "chain_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (rule.rule_id, rule.name, rule.kind, rule.threshold, status, observed, time_ms, chain_id, chain_name),
        )
        rows = await self.backend.fetch(
            "SELECT MAX(event_id) FROM alert_events WHERE rule_id = ? AND chain_id = ? AND time_ms = ?",
            (rule.rule_id, chain_id, time_ms),
        )
        event_id = int(rows[0][0])
        await self.backend.execute("DELETE FROM alert_events WHERE event_id <= ?", (event_id - history_max,))
        return event_id

    async def apply_delivery(self, event_id: int, delivery: str) -> None:
        await self.backend.execute("UPDATE alert_events SET delivery = ? WHERE event_id = ?", (delivery, event_id))

    async def list_events(self, before_id: int | None, limit: int) -> list[AlertEvent]:
        """Newest first: events with an id below `before_id` (all when None), at most `limit`."""
        bound = before_id if before_id is not None else 2**62
        rows = await self.backend.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE event_id < ? ORDER BY event_id DESC LIMIT ?",
            (bound, limit),
        )
        return [_event(row) for row in rows]

    async def list_firing_events(self) -> list[AlertEvent]:
        """The latest event of each existing rule on each chain it applies to whose latest event there is
        ``firing`` (when it started), newest first."""
        rows = await self.backend.fetch(
            f"SELECT {', '.join('e.' + column for column in _EVENT_COLUMNS.split(', '))} FROM alert_events e JOIN "
            "(SELECT rule_id, chain_id, MAX(event_id) AS newest FROM alert_events GROUP BY rule_id, chain_id) n "
            "ON e.event_id = n.newest JOIN alert_rules r ON r.rule_id = e.rule_id "
            # A rule moved to another chain no longer speaks for the chain it left.
            "WHERE e.status = 'firing' AND (r.chain_id IS NULL OR r.chain_id = e.chain_id) ORDER BY e.event_id DESC"
        )
        return [_event(row) for row in rows]

    async def list_firing_rule_ids(self) -> set[int]:
        """Rules whose latest event on some chain is ``firing``."""
        return {event.rule_id for event in await self.list_firing_events()}

    async def list_firing_keys(self) -> set[tuple[int, int]]:
        """(rule, chain) pairs whose latest event is ``firing``: after a console restart they are not announced
        again."""
        return {(event.rule_id, event.chain_id) for event in await self.list_firing_events()}

    # the SMTP server

    async def get_smtp(self) -> SmtpServer | None:
        rows = await self.backend.fetch(
            "SELECT host, port, security, username, password, sender FROM alert_smtp WHERE smtp_id = 1"
        )
        if not rows:
            return None
        row = rows[0]
        return SmtpServer(row[0], int(row[1]), row[2], row[3], row[4], row[5])

    async def apply_smtp(self, server: SmtpServer) -> None:
        await self.backend.run_transaction(
            [
                ("DELETE FROM alert_smtp WHERE smtp_id = 1", ()),
                (
                    "INSERT INTO alert_smtp (smtp_id, host, port, security, username, password, sender) "
                    "VALUES (1, ?, ?, ?, ?, ?, ?)",
                    (server.host, server.port, server.security, server.username, server.password, server.sender),
                ),
            ]
        )
