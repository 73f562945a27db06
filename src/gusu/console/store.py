"""The console's metadata store: users, sessions, the audit log, signing keys and contract history, in SQLite or
PostgreSQL.

One repository (`ConsoleStore`) runs the same SQL on either database through a
small backend: SQLite (the default, a file in the console's data directory,
the standard library's ``sqlite3`` run in a worker thread so the event loop
never waits on the disk) or PostgreSQL (``psycopg`` 3, asynchronous). The
schema is one list of versioned migrations, applied in order and recorded in
``schema_migrations``; only the identity column is spelled per database.
Every value goes through query parameters, never into the SQL text. The audit
log is append-only: triggers in both databases refuse UPDATE and DELETE.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from gusu.errors import ConfigError

Row = tuple[Any, ...]
Parameters = Sequence[object]

ROLES: Final = ("operator", "org_admin", "developer", "auditor")
"""platform operator, organisation admin (bound to an organisation), developer, auditor (read-only)."""


@dataclass(frozen=True, slots=True)
class User:
    user_id: int
    username: str
    role: str
    organisation: str | None
    password_hash: str
    disabled: bool
    created_ms: int
    password_changed_ms: int


@dataclass(frozen=True, slots=True)
class Session:
    session_hash: str
    user_id: int
    csrf_token: str
    address: str
    created_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    entry_id: int
    time_ms: int
    actor: str | None
    action: str
    target: str | None
    address: str
    outcome: str


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A console user's signing key, kept only as a passphrase-encrypted Gusu key file (docs/console.md)."""

    user_id: int
    address: str
    """0x-hex, lower case."""
    suite: str
    key_file: str
    """The key file's JSON (SM4-GCM under a key derived from the passphrase): never a plaintext key."""
    created_ms: int


@dataclass(frozen=True, slots=True)
class ContractTransaction:
    """A contract transaction sent through the console (deploy or call), with its outcome and decoded events."""

    entry_id: int
    time_ms: int
    actor: str
    contract: str
    method: str
    transaction_id: str
    height: int
    success: bool
    events: str
    """JSON list of {"name", "fields"} as decoded when the receipt came."""


# --- schema --------------------------------------------------------------------------

_IDENTITY: Final = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
}

_APPEND_ONLY: Final = {
    "sqlite": [
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN "
        "SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN "
        "SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_refuse()",
    ],
}


def compute_migrations(dialect: str) -> list[tuple[int, list[str]]]:
    """The schema as numbered steps; a new step gets the next number and is never edited once released."""
    from gusu.console.alert_store import (  # here: alert_store's imports reach this module
        compute_alert_chain_migration,
        compute_alert_migration,
    )
    from gusu.console.chain_store import compute_chain_migration
    from gusu.console.evm_store import compute_evm_migration

    identity = _IDENTITY[dialect]
    return [
        (
            1,
            [
                f"CREATE TABLE users (user_id {identity}, username TEXT NOT NULL UNIQUE, role TEXT NOT NULL, "
                "organisation TEXT, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, "
                "created_ms BIGINT NOT NULL, password_changed_ms BIGINT NOT NULL)",
                "CREATE TABLE sessions (session_hash TEXT PRIMARY KEY, "
                "user_id BIGINT NOT NULL REFERENCES users(user_id), csrf_token TEXT NOT NULL, "
                "address TEXT NOT NULL, created_ms BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL)",
                "CREATE INDEX sessions_by_user ON sessions (user_id)",
                f"CREATE TABLE audit_log (entry_id {identity}, time_ms BIGINT NOT NULL, actor TEXT, "
                "action TEXT NOT NULL, target TEXT, address TEXT NOT NULL, outcome TEXT NOT NULL)",
                *_APPEND_ONLY[dialect],
            ],
        ),
        (2, compute_alert_migration(identity)),  # alert rules, history, SMTP server (console/alert_store.py)
        (
            3,
            [
                f"CREATE TABLE signing_keys (key_id {identity}, user_id BIGINT NOT NULL REFERENCES users(user_id), "
                "address TEXT NOT NULL, suite TEXT NOT NULL, key_file TEXT NOT NULL, created_ms BIGINT NOT NULL, "
                "UNIQUE (user_id, address))",
                f"CREATE TABLE contract_transactions (entry_id {identity}, time_ms BIGINT NOT NULL, "
                "actor TEXT NOT NULL, contract TEXT NOT NULL, method TEXT NOT NULL, transaction_id TEXT NOT NULL, "
                "height BIGINT NOT NULL, success INTEGER NOT NULL, events TEXT NOT NULL)",
                "CREATE INDEX contract_transactions_by_contract ON contract_transactions (contract, entry_id)",
            ],
        ),
        (4, compute_chain_migration(identity)),  # local and remote chains (console/chain_store.py)
        (5, compute_evm_migration(identity)),  # EVM artifacts and contracts (console/evm_store.py)
        (6, compute_alert_chain_migration()),  # alert rules and events per chain (console/alert_store.py)
    ]


# --- backends ------------------------------------------------------------------------


class Backend(Protocol):
    dialect: str

    async def fetch(self, sql: str, parameters: Parameters = ()) -> list[Row]: ...

    async def execute(self, sql: str, parameters: Parameters = ()) -> int:
        """Runs one statement; returns the rows it changed."""
        ...

    async def run_transaction(self, statements: Sequence[tuple[str, Parameters]]) -> None: ...

    async def close(self) -> None: ...


class SqliteBackend:
    """One connection used by one worker thread at a time (a lock), in autocommit mode."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA foreign_keys = ON")
        self._connection.execute("PRAGMA journal_mode = WAL")
        self._lock = asyncio.Lock()
        # The asyncio lock is released when the awaiting task is cancelled (a request dropped, the monitor
        # stopped at shutdown) while its worker thread still uses the connection; this one is held by the
        # thread itself, so `close` never closes the connection under a running statement (which crashes
        # the process inside SQLite).
        self._thread_lock = threading.Lock()

    def _fetch(self, sql: str, parameters: Parameters) -> list[Row]:
        with self._thread_lock:
            return self._connection.execute(sql, tuple(parameters)).fetchall()

    def _execute(self, sql: str, parameters: Parameters) -> int:
        with self._thread_lock:
            return self._connection.execute(sql, tuple(parameters)).rowcount

    def _transaction(self, statements: Sequence[tuple[str, Parameters]]) -> None:
        with self._thread_lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                for sql, parameters in statements:
                    self._connection.execute(sql, tuple(parameters))
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def _close(self) -> None:
        with self._thread_lock:
            self._connection.close()

    async def fetch(self, sql: str, parameters: Parameters = ()) -> list[Row]:
        async with self._lock:
            return await asyncio.to_thread(self._fetch, sql, parameters)

    async def execute(self, sql: str, parameters: Parameters = ()) -> int:
        async with self._lock:
            return await asyncio.to_thread(self._execute, sql, parameters)

    async def run_transaction(self, statements: Sequence[tuple[str, Parameters]]) -> None:
        async with self._lock:
            await asyncio.to_thread(self._transaction, statements)

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._close)


class PostgresBackend:
    """One asynchronous psycopg connection, one statement at a time (a lock), in autocommit mode."""

    dialect = "postgresql"

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str, timeout_s: float) -> PostgresBackend:
        import psycopg  # imported here: only a PostgreSQL store needs it

        try:
            connection = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=int(timeout_s))
        except psycopg.OperationalError as error:
            raise ConfigError(f"cannot connect to the console database: {error}; check --database") from error
        return cls(connection)

    @staticmethod
    def _sql(sql: str) -> str:
        # The repository writes SQLite's "?" placeholders; psycopg takes "%s". No SQL here contains "%" or "?".
        return sql.replace("?", "%s")

    async def fetch(self, sql: str, parameters: Parameters = ()) -> list[Row]:
        async with self._lock, self._connection.cursor() as cursor:
            await cursor.execute(self._sql(sql), tuple(parameters))
            rows: list[Row] = await cursor.fetchall()
            return rows

    async def execute(self, sql: str, parameters: Parameters = ()) -> int:
        async with self._lock, self._connection.cursor() as cursor:
            await cursor.execute(self._sql(sql), tuple(parameters))
            count: int = cursor.rowcount
            return count

    async def run_transaction(self, statements: Sequence[tuple[str, Parameters]]) -> None:
        async with self._lock, self._connection.transaction(), self._connection.cursor() as cursor:
            for sql, parameters in statements:
                if parameters:
                    await cursor.execute(self._sql(sql), tuple(parameters))
                else:
                    await cursor.execute(sql)

    async def close(self) -> None:
        async with self._lock:
            await self._connection.close()


# --- the repository ------------------------------------------------------------------

_USER_COLUMNS: Final = "user_id, username, role, organisation, password_hash, disabled, created_ms, password_changed_ms"
_SESSION_COLUMNS: Final = "session_hash, user_id, csrf_token, address, created_ms, last_seen_ms"
_AUDIT_COLUMNS: Final = "entry_id, time_ms, actor, action, target, address, outcome"


_KEY_COLUMNS: Final = "user_id, address, suite, key_file, created_ms"
_CONTRACT_TX_COLUMNS: Final = "entry_id, time_ms, actor, contract, method, transaction_id, height, success, events"


def _stored_key(row: Row) -> StoredKey:
    return StoredKey(int(row[0]), row[1], row[2], row[3], int(row[4]))


def _contract_transaction(row: Row) -> ContractTransaction:
    return ContractTransaction(
        int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], int(row[6]), bool(row[7]), row[8]
    )


def _user(row: Row) -> User:
    return User(int(row[0]), row[1], row[2], row[3], row[4], bool(row[5]), int(row[6]), int(row[7]))


def _session(row: Row) -> Session:
    return Session(row[0], int(row[1]), row[2], row[3], int(row[4]), int(row[5]))


def _audit(row: Row) -> AuditEntry:
    return AuditEntry(int(row[0]), int(row[1]), row[2], row[3], row[4], row[5], row[6])


class UsernameTakenError(ConfigError):
    """A user with that name exists already."""

    code = "username_taken"


class ConsoleStore:
    """Users, sessions and the audit log; the same methods and SQL on SQLite and PostgreSQL."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @property
    def dialect(self) -> str:
        return self.backend.dialect

    async def apply_migrations(self) -> int:
        """Brings the schema to the newest version; returns that version."""
        await self.backend.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)"
        )
        rows = await self.backend.fetch("SELECT MAX(version) FROM schema_migrations")
        current = int(rows[0][0] or 0)
        migrations = compute_migrations(self.dialect)
        for version, statements in migrations:
            if version > current:
                steps: list[tuple[str, Parameters]] = [(sql, ()) for sql in statements]
                applied_ms = int(time.time() * 1000)
                steps.append(
                    ("INSERT INTO schema_migrations (version, applied_ms) VALUES (?, ?)", (version, applied_ms))
                )
                await self.backend.run_transaction(steps)
        return max(current, migrations[-1][0])

    async def get_schema_version(self) -> int:
        rows = await self.backend.fetch("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    # users

    async def count_users(self) -> int:
        rows = await self.backend.fetch("SELECT COUNT(*) FROM users")
        return int(rows[0][0])

    async def create_user(
        self, username: str, role: str, organisation: str | None, password_hash: str, now_ms: int
    ) -> User:
        assert role in ROLES
        if await self.get_user(username) is not None:
            raise UsernameTakenError(f"a user named {username!r} exists already; choose another name")
        await self.backend.execute(
            "INSERT INTO users (username, role, organisation, password_hash, disabled, created_ms, "
            "password_changed_ms) VALUES (?, ?, ?, ?, 0, ?, ?)",
            (username, role, organisation, password_hash, now_ms, now_ms),
        )
        user = await self.get_user(username)
        assert user is not None
        return user

    async def get_user(self, username: str) -> User | None:
        rows = await self.backend.fetch(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return _user(rows[0]) if rows else None

    async def get_user_by_id(self, user_id: int) -> User | None:
        rows = await self.backend.fetch(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    async def list_users(self) -> list[User]:
        rows = await self.backend.fetch(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")
        return [_user(row) for row in rows]

    async def apply_password(self, user_id: int, password_hash: str, now_ms: int) -> None:
        """Sets a new password hash and ends the user's sessions (a changed password logs everyone out)."""
        await self.backend.run_transaction(
            [
                (
                    "UPDATE users SET password_hash = ?, password_changed_ms = ? WHERE user_id = ?",
                    (password_hash, now_ms, user_id),
                ),
                ("DELETE FROM sessions WHERE user_id = ?", (user_id,)),
            ]
        )

    async def apply_disabled(self, user_id: int, disabled: bool) -> None:
        """Disables (and logs out) or enables a user."""
        steps: list[tuple[str, Parameters]] = [
            ("UPDATE users SET disabled = ? WHERE user_id = ?", (1 if disabled else 0, user_id))
        ]
        if disabled:
            steps.append(("DELETE FROM sessions WHERE user_id = ?", (user_id,)))
        await self.backend.run_transaction(steps)

    # sessions

    async def create_session(self, session: Session) -> None:
        await self.backend.execute(
            f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                session.session_hash,
                session.user_id,
                session.csrf_token,
                session.address,
                session.created_ms,
                session.last_seen_ms,
            ),
        )

    async def get_session(self, session_hash: str) -> Session | None:
        rows = await self.backend.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_hash = ?", (session_hash,)
        )
        return _session(rows[0]) if rows else None

    async def apply_session_seen(self, session_hash: str, now_ms: int) -> None:
        await self.backend.execute(
            "UPDATE sessions SET last_seen_ms = ? WHERE session_hash = ?", (now_ms, session_hash)
        )

    async def delete_session(self, session_hash: str) -> None:
        await self.backend.execute("DELETE FROM sessions WHERE session_hash = ?", (session_hash,))

    async def delete_expired_sessions(self, idle_before_ms: int, created_before_ms: int) -> int:
        return await self.backend.execute(
            "DELETE FROM sessions WHERE last_seen_ms < ? OR created_ms < ?", (idle_before_ms, created_before_ms)
        )

    # audit log

    async def append_audit(
        self, time_ms: int, actor: str | None, action: str, target: str | None, address: str, outcome: str
    ) -> None:
        await self.backend.execute(
            "INSERT INTO audit_log (time_ms, actor, action, target, address, outcome) VALUES (?, ?, ?, ?, ?, ?)",
            (time_ms, actor, action, target, address, outcome),
        )

    async def list_audit(self, before_id: int | None, limit: int) -> list[AuditEntry]:
        """Newest first: entries with an id below `before_id` (all when None), at most `limit`."""
        bound = before_id if before_id is not None else 2**62
        rows = await self.backend.fetch(
            f"SELECT {_AUDIT_COLUMNS} FROM audit_log WHERE entry_id < ? ORDER BY entry_id DESC LIMIT ?",
            (bound, limit),
        )
        return [_audit(row) for row in rows]

    # signing keys (encrypted key files only)

    async def add_signing_key(self, key: StoredKey) -> None:
        await self.backend.execute(
            "INSERT INTO signing_keys (user_id, address, suite, key_file, created_ms) VALUES (?, ?, ?, ?, ?)",
            (key.user_id, key.address, key.suite, key.key_file, key.created_ms),
        )

    async def list_signing_keys(self, user_id: int) -> list[StoredKey]:
        rows = await self.backend.fetch(
            f"SELECT {_KEY_COLUMNS} FROM signing_keys WHERE user_id = ? ORDER BY created_ms, address", (user_id,)
        )
        return [_stored_key(row) for row in rows]

    async def get_signing_key(self, user_id: int, address: str) -> StoredKey | None:
        rows = await self.backend.fetch(
            f"SELECT {_KEY_COLUMNS} FROM signing_keys WHERE user_id = ? AND address = ?", (user_id, address)
        )
        return _stored_key(rows[0]) if rows else None

    async def delete_signing_key(self, user_id: int, address: str) -> int:
        return await self.backend.execute(
            "DELETE FROM signing_keys WHERE user_id = ? AND address = ?", (user_id, address)
        )

    # contract transactions sent through the console

    async def append_contract_transaction(
        self,
        time_ms: int,
        actor: str,
        contract: str,
        method: str,
        transaction_id: str,
        height: int,
        success: bool,
        events: str,
    ) -> None:
        await self.backend.execute(
            "INSERT INTO contract_transactions (time_ms, actor, contract, method, transaction_id, height, success, "
            "events) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time_ms, actor, contract, method, transaction_id, height, 1 if success else 0, events),
        )

    async def list_contract_transactions(self, contract: str, limit: int) -> list[ContractTransaction]:
        """Newest first, at most `limit`."""
        rows = await self.backend.fetch(
            f"SELECT {_CONTRACT_TX_COLUMNS} FROM contract_transactions WHERE contract = ? "
            "ORDER BY entry_id DESC LIMIT ?",
            (contract, limit),
        )
        return [_contract_transaction(row) for row in rows]

    async def list_contract_transactions_before(
        self, contract: str, before_id: int | None, limit: int
    ) -> list[ContractTransaction]:
        """Newest first: entries with an id below `before_id` (all when None), at most `limit` (a page)."""
        bound = before_id if before_id is not None else 2**62
        rows = await self.backend.fetch(
            f"SELECT {_CONTRACT_TX_COLUMNS} FROM contract_transactions WHERE contract = ? AND entry_id < ? "
            "ORDER BY entry_id DESC LIMIT ?",
            (contract, bound, limit),
        )
        return [_contract_transaction(row) for row in rows]

    async def list_deployed_contracts(self, limit: int) -> list[str]:
        """Names deployed successfully through the console, most recent first, at most `limit`."""
        rows = await self.backend.fetch(
            "SELECT contract, MAX(entry_id) AS latest FROM contract_transactions WHERE method = ? AND success = 1 "
            "GROUP BY contract ORDER BY latest DESC LIMIT ?",
            ("deploy", limit),
        )
        return [str(row[0]) for row in rows]

    async def close(self) -> None:
        await self.backend.close()


DATABASE_FILE: Final = "console.sqlite3"


async def open_store(database: str | None, data_directory: Path, timeout_s: float = 10.0) -> ConsoleStore:
    """The store a ``--database`` names (``postgresql://...``), else SQLite in `data_directory`; migrated."""
    if database is None or database == "sqlite":
        data_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        backend: Backend = SqliteBackend(data_directory / DATABASE_FILE)
    elif database.startswith(("postgresql://", "postgres://")):
        backend = await PostgresBackend.connect(database, timeout_s)
    else:
        raise ConfigError("--database must be a postgresql:// URL (or omitted for SQLite in the data directory)")
    store = ConsoleStore(backend)
    await store.apply_migrations()
    return store
