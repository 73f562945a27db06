"""The EVM contracts the console knows: artifacts uploaded for deployment and deployed or registered contracts.

The schema is migration 5 of `gusu.console.store.compute_migrations` (the
statements are here, beside the queries that use them). A contract's page
needs its ABI, which the chain does not keep (only the runtime code), so the
console keeps the artifact's ABI for every contract it deployed or a user
registered by address. `EvmStore` wraps a `ConsoleStore`'s backend: the same
SQL on SQLite and PostgreSQL, every value a query parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Row = tuple[Any, ...]


def compute_evm_migration(identity: str) -> list[str]:
    """Migration 5: uploaded artifacts and known contracts (`identity` is the dialect's identity column)."""
    return [
        f"CREATE TABLE evm_artifacts (artifact_id {identity}, name TEXT NOT NULL, code_hash TEXT NOT NULL, "
        "artifact TEXT NOT NULL, actor TEXT NOT NULL, created_ms BIGINT NOT NULL)",
        "CREATE TABLE evm_contracts (address TEXT PRIMARY KEY, artifact_id BIGINT NOT NULL "
        "REFERENCES evm_artifacts(artifact_id), transaction_id TEXT, actor TEXT NOT NULL, created_ms BIGINT NOT NULL)",
    ]


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    artifact_id: int
    name: str
    code_hash: str
    """0x-hex keccak-256 of the runtime code ('' when the artifact has none)."""
    artifact: str
    """JSON {"contractName", "abi", "bytecode", "deployedBytecode"}: what `gusu.sdk.evm.parse_artifact` reads."""
    actor: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class StoredEvmContract:
    address: str
    """0x-hex, lower case."""
    artifact_id: int
    name: str
    transaction_id: str | None
    """The deployment's transaction, None for a contract registered by address."""
    actor: str
    created_ms: int


_ARTIFACT_COLUMNS = "artifact_id, name, code_hash, artifact, actor, created_ms"


def _artifact(row: Row) -> StoredArtifact:
    return StoredArtifact(int(row[0]), row[1], row[2], row[3], row[4], int(row[5]))


def _contract(row: Row) -> StoredEvmContract:
    return StoredEvmContract(row[0], int(row[1]), row[2], row[3], row[4], int(row[5]))


class EvmStore:
    def __init__(self, backend: Any) -> None:
        self.backend = backend

    async def add_artifact(self, name: str, code_hash: str, artifact: str, actor: str, now_ms: int) -> int:
        """Keeps an artifact; its id."""
        await self.backend.execute(
            "INSERT INTO evm_artifacts (name, code_hash, artifact, actor, created_ms) VALUES (?, ?, ?, ?, ?)",
            (name, code_hash, artifact, actor, now_ms),
        )
        rows = await self.backend.fetch(
            "SELECT MAX(artifact_id) FROM evm_artifacts WHERE actor = ? AND created_ms = ?", (actor, now_ms)
        )
        return int(rows[0][0])

    async def get_artifact(self, artifact_id: int) -> StoredArtifact | None:
        rows = await self.backend.fetch(
            f"SELECT {_ARTIFACT_COLUMNS} FROM evm_artifacts WHERE artifact_id = ?", (artifact_id,)
        )
        return _artifact(rows[0]) if rows else None

    async def put_contract(
        self, address: str, artifact_id: int, transaction_id: str | None, actor: str, now_ms: int
    ) -> None:
        """Records (or, registered again, re-points) the contract at `address` to an artifact's ABI."""
        await self.backend.run_transaction(
            [
                ("DELETE FROM evm_contracts WHERE address = ?", (address,)),
                (
                    "INSERT INTO evm_contracts (address, artifact_id, transaction_id, actor, created_ms) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (address, artifact_id, transaction_id, actor, now_ms),
                ),
            ]
        )

    async def get_contract(self, address: str) -> tuple[StoredEvmContract, StoredArtifact] | None:
        rows = await self.backend.fetch(
            "SELECT c.address, c.artifact_id, a.name, c.transaction_id, c.actor, c.created_ms "
            "FROM evm_contracts c JOIN evm_artifacts a ON a.artifact_id = c.artifact_id WHERE c.address = ?",
            (address,),
        )
        if not rows:
            return None
        artifact = await self.get_artifact(int(rows[0][1]))
        assert artifact is not None
        return _contract(rows[0]), artifact

    async def list_contracts(self, limit: int) -> list[StoredEvmContract]:
        """Newest first, at most `limit`."""
        rows = await self.backend.fetch(
            "SELECT c.address, c.artifact_id, a.name, c.transaction_id, c.actor, c.created_ms "
            "FROM evm_contracts c JOIN evm_artifacts a ON a.artifact_id = c.artifact_id "
            "ORDER BY c.created_ms DESC, c.address LIMIT ?",
            (limit,),
        )
        return [_contract(row) for row in rows]
