"""The chains the console knows, in the console store: local networks it created and remote chains registered.

The schema is migration 4 of `gusu.console.store.compute_migrations` (the
statements are here, beside the queries that use them). `ChainStore` wraps a
`ConsoleStore`'s backend, so the same SQL runs on SQLite and PostgreSQL with
every value as a query parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

Row = tuple[Any, ...]

CHAIN_KINDS: Final = ("local", "remote")
CHAIN_STATES: Final = ("creating", "starting", "running", "stopping", "stopped", "failed", "registered")
"""A local chain moves through creating/starting/running/stopping/stopped (failed: the last step failed);
a remote chain is registered (the console does not run it)."""


def compute_chain_migration(identity: str) -> list[str]:
    """Migration 3: the chains table (`identity` is the dialect's identity column)."""
    return [
        f"CREATE TABLE chains (chain_id {identity}, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
        "endpoint TEXT NOT NULL, ca_certificate TEXT, directory TEXT, host TEXT, base_port INTEGER, "
        "organisations INTEGER NOT NULL DEFAULT 0, organisation_names TEXT NOT NULL DEFAULT '', "
        "consensus TEXT NOT NULL DEFAULT '', network_chain_id TEXT NOT NULL DEFAULT '', "
        "suite TEXT NOT NULL DEFAULT '', state TEXT NOT NULL, message TEXT NOT NULL DEFAULT '', "
        "created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL)",
    ]


@dataclass(frozen=True, slots=True)
class ChainRecord:
    chain_id: int
    """The console's number for the chain (not the chain's own id, which is `network_chain_id`)."""
    name: str
    kind: str
    endpoint: str
    """The API URL the console reads (a local network's node0)."""
    ca_certificate: str | None
    """PEM of the CA that signs an https endpoint's certificate (remote chains), else None."""
    directory: str | None
    """A local network's directory."""
    host: str | None
    base_port: int | None
    organisations: int
    organisation_names: str
    """A local network's organisations, comma-separated (as planned; the genesis keeps them once created)."""
    consensus: str
    network_chain_id: str
    suite: str
    state: str
    message: str
    """What the last operation said (an error's text for `failed`)."""
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class NewChain:
    name: str
    kind: str
    endpoint: str
    ca_certificate: str | None
    directory: str | None
    host: str | None
    base_port: int | None
    organisations: int
    organisation_names: str
    consensus: str
    network_chain_id: str
    suite: str
    state: str


_COLUMNS: Final = (
    "chain_id, name, kind, endpoint, ca_certificate, directory, host, base_port, organisations, "
    "organisation_names, consensus, network_chain_id, suite, state, message, created_ms, updated_ms"
)


def _chain(row: Row) -> ChainRecord:
    return ChainRecord(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        None if row[7] is None else int(row[7]),
        int(row[8]),
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        row[14],
        int(row[15]),
        int(row[16]),
    )


class ChainStore:
    def __init__(self, backend: Any) -> None:
        self.backend = backend

    async def create_chain(self, chain: NewChain, now_ms: int) -> ChainRecord:
        assert chain.kind in CHAIN_KINDS and chain.state in CHAIN_STATES
        await self.backend.execute(
            f"INSERT INTO chains ({_COLUMNS.split(', ', 1)[1]}) VALUES ({', '.join(['?'] * 16)})",
            (
                chain.name,
                chain.kind,
                chain.endpoint,
                chain.ca_certificate,
                chain.directory,
                chain.host,
                chain.base_port,
                chain.organisations,
                chain.organisation_names,
                chain.consensus,
                chain.network_chain_id,
                chain.suite,
                chain.state,
                "",
                now_ms,
                now_ms,
            ),
        )
        created = await self.get_chain_by_name(chain.name)
        assert created is not None
        return created

    async def count_chains(self) -> int:
        rows = await self.backend.fetch("SELECT COUNT(*) FROM chains")
        return int(rows[0][0])

    async def list_chains(self) -> list[ChainRecord]:
        rows = await self.backend.fetch(f"SELECT {_COLUMNS} FROM chains ORDER BY chain_id")
        return [_chain(row) for row in rows]

    async def get_chain(self, chain_id: int) -> ChainRecord | None:
        rows = await self.backend.fetch(f"SELECT {_COLUMNS} FROM chains WHERE chain_id = ?", (chain_id,))
        return _chain(rows[0]) if rows else None

    async def get_chain_by_name(self, name: str) -> ChainRecord | None:
        rows = await self.backend.fetch(f"SELECT {_COLUMNS} FROM chains WHERE name = ?", (name,))
        return _chain(rows[0]) if rows else None

    async def apply_state(self, chain_id: int, state: str, message: str, now_ms: int) -> None:
        assert state in CHAIN_STATES
        await self.backend.execute(
            "UPDATE chains SET state = ?, message = ?, updated_ms = ? WHERE chain_id = ?",
            (state, message, now_ms, chain_id),
        )

    async def apply_network(self, chain_id: int, network_chain_id: str, suite: str, now_ms: int) -> None:
        await self.backend.execute(
            "UPDATE chains SET network_chain_id = ?, suite = ?, updated_ms = ? WHERE chain_id = ?",
            (network_chain_id, suite, now_ms, chain_id),
        )

    async def apply_endpoint(self, chain_id: int, endpoint: str, ca_certificate: str | None, now_ms: int) -> None:
        """A registered chain's node moved: its new address (and the CA of an https one)."""
        await self.backend.execute(
            "UPDATE chains SET endpoint = ?, ca_certificate = ?, updated_ms = ? WHERE chain_id = ?",
            (endpoint, ca_certificate, now_ms, chain_id),
        )
