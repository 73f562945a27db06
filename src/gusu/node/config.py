"""Node configuration: one TOML file per node, validated completely when it loads.

A node directory, as `gusu chain init` lays it out:

    config.toml        this file's settings
    genesis.json       the chain's genesis (identical on every node)
    node_key.json      the node's signing key, encrypted
    node_key.pass      the passphrase for it (mode 0600), unless
                       GUSU_NODE_PASSPHRASE is set
    data/              the block store

Every setting has a default, so an empty file is a valid configuration.
Settings every node of a chain must share (block limits, gas, the
transaction window) are not here: they are genesis parameters.
Unknown sections and keys are rejected (a typo must not silently leave a
default in force), and so is a value of the wrong type or out of range.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gusu.errors import ConfigError
from gusu.ledger.kv import BACKEND_NAMES, DEFAULT_BACKEND
from gusu.ledger.pruning import ARCHIVE_HEIGHTS_PER_FILE_MAX
from gusu.ledger.snapshot import SNAPSHOT_ENTRIES_PER_CHUNK_DEFAULT, SNAPSHOT_ENTRIES_PER_CHUNK_MAX
from gusu.ledger.store import (
    STATE_CACHE_BYTES_DEFAULT,
    STATE_CACHE_BYTES_MAX,
    STATE_CACHE_ENTRIES_DEFAULT,
    STATE_CACHE_ENTRIES_MAX,
)
from gusu.ledger.types import BLOCK_TRANSACTIONS_MAX
from gusu.mempool import MempoolLimits
from gusu.network.settings import P2PSettings
from gusu.node.recent import RECENT_BLOCKS_MAX, RECENT_BYTES_MAX, RECENT_TRANSACTIONS_MAX

CONFIG_FILE_NAME = "config.toml"
GENESIS_FILE_NAME = "genesis.json"
NODE_KEY_FILE_NAME = "node_key.json"
NODE_PASSPHRASE_FILE_NAME = "node_key.pass"
PASSPHRASE_ENVIRONMENT_VARIABLE = "GUSU_NODE_PASSPHRASE"
LOG_LEVELS = ("debug", "info", "warning", "error")

SettingsT = TypeVar("SettingsT")
DEBUG_PATH_CHARACTERS_MAX = 4096


@dataclass(frozen=True, slots=True)
class NodeSettings:
    name: str = "node0"
    data_dir: str = "data"
    log_level: str = "info"
    transaction_journal: bool = True
    """Fsync admitted transactions before acknowledging them, so a crash loses none."""
    journal_compact_bytes_min: int = 64 * 1024 * 1024
    """Compact the journal once it is this large and four times the pool's bytes."""

    def __post_init__(self) -> None:
        if not 1024 <= self.journal_compact_bytes_min <= 1 << 40:
            raise ConfigError("[node] journal_compact_bytes_min must be between 1024 and 2^40")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"[node] log_level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if not self.name or len(self.name) > 64:
            raise ConfigError("[node] name must be 1 to 64 characters")


RETENTION_MAX = 1 << 40
STATE_VERSIONS_KEPT_MIN = 2
"""The tip's version builds the next block; one more keeps the block before it provable while that happens."""


@dataclass(frozen=True, slots=True)
class StorageSettings:
    backend: str = DEFAULT_BACKEND
    state_versions_kept: int = 0
    """0: keep every state version. Otherwise keep the last N (proofs answer for those heights only)."""
    block_bodies_kept: int = 0
    """0: keep every block body. Otherwise keep the last M heights' bodies; older ones move to `archive_dir`.
    Must cover the chain's transaction window (checked when the node starts)."""
    archive_dir: str = "archive"
    """Where archived block bodies go, relative to the node directory (or absolute)."""
    archive_heights_per_file: int = 256
    recent_blocks_cached: int = 16
    """The newest blocks the node keeps in memory as committed, to answer queries about them without reading
    the store (`gusu.node.recent`); 0 reads every answer from the store. At most `block_bodies_kept` when set."""
    recent_transactions_cached_max: int = 8192
    """Transactions those blocks hold at most (the oldest blocks go first; a bigger block is not kept)."""
    recent_bytes_cached_max: int = 64 * 1024 * 1024
    """Bytes of raw transactions and receipts those blocks hold at most (the same way)."""
    state_cache_entries: int = STATE_CACHE_ENTRIES_DEFAULT
    """Committed state keys whose latest values the node keeps in memory in front of the store's reads
    (`gusu.ledger.store.StateCache`); 0 reads every one from the store."""
    state_cache_bytes_max: int = STATE_CACHE_BYTES_DEFAULT
    """Bytes of keys and values that cache holds at most (a value over 1/64 of it is not kept); 0: no cache."""
    inline_commit_transactions_max: int = 256
    """A solo node writes a block of at most this many transactions on its event loop, visible the moment it is
    durable; bigger blocks, and every block of a networked node, are written in the store's thread (0: only empty
    blocks are written on the loop)."""

    def __post_init__(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise ConfigError(f"[storage] backend must be one of {', '.join(BACKEND_NAMES)}, not {self.backend!r}")
        if self.state_versions_kept != 0 and not STATE_VERSIONS_KEPT_MIN <= self.state_versions_kept <= RETENTION_MAX:
            raise ConfigError(
                f"[storage] state_versions_kept must be 0 (keep all) or between {STATE_VERSIONS_KEPT_MIN} and 2^40"
            )
        if not 0 <= self.block_bodies_kept <= RETENTION_MAX:
            raise ConfigError("[storage] block_bodies_kept must be 0 (keep all) or between 1 and 2^40")
        if not self.archive_dir or len(self.archive_dir) > DEBUG_PATH_CHARACTERS_MAX or "\x00" in self.archive_dir:
            raise ConfigError(
                f"[storage] archive_dir must be a directory path of 1 to {DEBUG_PATH_CHARACTERS_MAX} characters"
            )
        if not 1 <= self.archive_heights_per_file <= ARCHIVE_HEIGHTS_PER_FILE_MAX:
            raise ConfigError(
                f"[storage] archive_heights_per_file must be between 1 and {ARCHIVE_HEIGHTS_PER_FILE_MAX}"
            )
        if not 0 <= self.inline_commit_transactions_max <= BLOCK_TRANSACTIONS_MAX:
            raise ConfigError(
                f"[storage] inline_commit_transactions_max must be between 0 and {BLOCK_TRANSACTIONS_MAX}"
            )
        if not 0 <= self.state_cache_entries <= STATE_CACHE_ENTRIES_MAX:
            raise ConfigError(f"[storage] state_cache_entries must be between 0 and {STATE_CACHE_ENTRIES_MAX:,}")
        if not 0 <= self.state_cache_bytes_max <= STATE_CACHE_BYTES_MAX:
            raise ConfigError(f"[storage] state_cache_bytes_max must be between 0 and {STATE_CACHE_BYTES_MAX:,}")
        if not 0 <= self.recent_blocks_cached <= RECENT_BLOCKS_MAX:
            raise ConfigError(f"[storage] recent_blocks_cached must be between 0 and {RECENT_BLOCKS_MAX}")
        if not 0 <= self.recent_bytes_cached_max <= RECENT_BYTES_MAX:
            raise ConfigError(f"[storage] recent_bytes_cached_max must be between 0 and {RECENT_BYTES_MAX}")
        if not 0 <= self.recent_transactions_cached_max <= RECENT_TRANSACTIONS_MAX:
            raise ConfigError(
                f"[storage] recent_transactions_cached_max must be between 0 and {RECENT_TRANSACTIONS_MAX}"
            )


@dataclass(frozen=True, slots=True)
class VerifierSettings:
    workers: int = 2
    """Processes verifying signatures; 0 verifies on the event loop (small machines, tests)."""
    batch_size_max: int = 512
    batch_wait_ms: float = 2.0
    queue_items_max: int = 100_000

    def __post_init__(self) -> None:
        if not 0 <= self.workers <= 64:
            raise ConfigError("[verifier] workers must be between 0 and 64")
        if not 1 <= self.batch_size_max <= 65_536:
            raise ConfigError("[verifier] batch_size_max must be between 1 and 65536")
        if not 0 <= self.batch_wait_ms <= 1_000:
            raise ConfigError("[verifier] batch_wait_ms must be between 0 and 1000")
        if not 1 <= self.queue_items_max <= 10_000_000:
            raise ConfigError("[verifier] queue_items_max must be between 1 and 10000000")


PROPOSAL_GAS_MAX_DEFAULT = 100_000_000
"""About 0.2 s of execution on the reference host (~2 µs per 1,000 gas): 1,340 evidence submissions (74,500
gas each) or every one of 5,000 transfers (5,890 each), see docs/bft.md, "Block building under load"."""
PROPOSAL_GAS_MAX_MIN = 1
PROPOSAL_GAS_MAX_LIMIT = 2**53


@dataclass(frozen=True, slots=True)
class ConsensusSettings:
    """Node-local consensus settings. Chain-wide ones (block size, interval) are genesis parameters."""

    empty_block_interval_ms: int = 0
    """0: make no empty blocks; otherwise make one when the pool stays empty this long."""
    block_gather_ms: int = 0
    """Solo and a Raft leader: a block waits at least this long after the first transaction no block has taken
    arrived, so that transactions sent together go in one block (`gusu.consensus.solo`); 0: propose as soon as
    the block interval allows. Tendermint gathers by its timeout_commit (genesis `block_interval_ms`) instead."""
    early_execution: bool = True
    """Solo: execute the next block's transactions while they arrive, before the block is due (`gusu.node.early`);
    the block is the same, it is only ready sooner."""
    proposal_gas_max: int = PROPOSAL_GAS_MAX_DEFAULT
    """This node's own blocks stop taking transactions once they used this much gas (the last one may pass it).

    Gas follows execution cost, so this bounds how long the proposer takes to build its block and every
    validator to re-execute and store it: a round must finish inside the chain's propose timeout and its
    proposal be timely (`block_time_message_delay_ms`), or the height goes to another round and its proposer
    builds again (docs/bft.md, "Block building under load")."""

    def __post_init__(self) -> None:
        if not 0 <= self.empty_block_interval_ms <= 3_600_000:
            raise ConfigError("[consensus] empty_block_interval_ms must be between 0 and 3600000")
        if not 0 <= self.block_gather_ms <= 3_600_000:
            raise ConfigError("[consensus] block_gather_ms must be between 0 and 3600000")
        if not isinstance(self.early_execution, bool):
            raise ConfigError("[consensus] early_execution must be true or false")
        if not PROPOSAL_GAS_MAX_MIN <= self.proposal_gas_max <= PROPOSAL_GAS_MAX_LIMIT:
            raise ConfigError(
                f"[consensus] proposal_gas_max must be between {PROPOSAL_GAS_MAX_MIN} and {PROPOSAL_GAS_MAX_LIMIT}"
            )


SNAPSHOTS_KEPT_MAX = 16
STATE_SYNC_CHUNK_BYTES_MIN = 64 * 1024
STATE_SYNC_CHUNK_BYTES_MAX = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StateSyncSettings:
    """`[state_sync]`: offering snapshots to peers, and joining a chain from one (docs/state.md, "State sync")."""

    enabled: bool = False
    """Join by state sync: a node whose store is empty fetches a certified snapshot from its peers instead of
    starting from genesis and replaying every block. Ignored once the store holds a chain."""
    trust_height: int = 0
    """0: trust the genesis validator set (any offered height certified by it). Otherwise sync exactly this
    height, whose block hash must be `trust_hash` (needed once the validator set has changed since genesis)."""
    trust_hash: str = ""
    """The block hash (hex) of `trust_height`, taken from a source the operator trusts."""
    snapshot_interval_blocks: int = 0
    """0: offer no snapshots. Otherwise keep (from pruning) and offer the state at every height that is a
    multiple of this."""
    snapshots_kept: int = 2
    """How many of the latest such heights are kept and offered."""
    chunk_entries_max: int = SNAPSHOT_ENTRIES_PER_CHUNK_DEFAULT
    """Entries per chunk when this node cuts its snapshots into a plan. Peers with the same value offer the same
    plan (a joining node fetches from the peers of the plan most of them offer): keep it equal across a chain."""
    chunk_bytes_max: int = 8 * 1024 * 1024
    """Largest chunk served (must fit in a `[p2p] frame_bytes_max` frame); a larger one is refused."""
    serve_requests_per_peer_per_s: float = 50.0
    """Snapshot requests one peer may make per second; more are answered `busy`."""
    serve_in_flight_per_peer_max: int = 4
    """Chunks being produced for one peer at once; more are answered `busy`."""
    fetch_in_flight_max: int = 8
    """Chunk requests outstanding while syncing, over all peers."""
    fetch_in_flight_per_peer_max: int = 2
    """Chunk requests outstanding to one peer while syncing."""
    request_timeout_s: float = 15.0
    """A plan or chunk request unanswered this long is a strike against the peer (it is passed over for a while)."""
    discovery_s: float = 2.0
    """How long to collect offers after the first one before choosing a snapshot."""

    def __post_init__(self) -> None:
        if not 0 <= self.trust_height <= 1 << 62:
            raise ConfigError("[state_sync] trust_height must be between 0 and 2^62")
        if self.trust_height and not _is_hash_hex(self.trust_hash):
            raise ConfigError("[state_sync] trust_height needs trust_hash: the 64-hex-digit hash of that block")
        if self.trust_hash and not self.trust_height:
            raise ConfigError("[state_sync] trust_hash needs trust_height: the height of that block")
        if self.trust_hash and not _is_hash_hex(self.trust_hash):
            raise ConfigError("[state_sync] trust_hash must be a block hash of 64 hex digits")
        if not 0 <= self.snapshot_interval_blocks <= 1 << 40:
            raise ConfigError("[state_sync] snapshot_interval_blocks must be 0 (off) or between 1 and 2^40")
        if not 1 <= self.snapshots_kept <= SNAPSHOTS_KEPT_MAX:
            raise ConfigError(f"[state_sync] snapshots_kept must be between 1 and {SNAPSHOTS_KEPT_MAX}")
        if not 1 <= self.chunk_entries_max <= SNAPSHOT_ENTRIES_PER_CHUNK_MAX:
            raise ConfigError(f"[state_sync] chunk_entries_max must be between 1 and {SNAPSHOT_ENTRIES_PER_CHUNK_MAX}")
        if not STATE_SYNC_CHUNK_BYTES_MIN <= self.chunk_bytes_max <= STATE_SYNC_CHUNK_BYTES_MAX:
            raise ConfigError(
                f"[state_sync] chunk_bytes_max must be between {STATE_SYNC_CHUNK_BYTES_MIN} and "
                f"{STATE_SYNC_CHUNK_BYTES_MAX}"
            )
        if not 0.1 <= self.serve_requests_per_peer_per_s <= 10_000:
            raise ConfigError("[state_sync] serve_requests_per_peer_per_s must be between 0.1 and 10000")
        if not 1 <= self.serve_in_flight_per_peer_max <= 64:
            raise ConfigError("[state_sync] serve_in_flight_per_peer_max must be between 1 and 64")
        if not 1 <= self.fetch_in_flight_max <= 256:
            raise ConfigError("[state_sync] fetch_in_flight_max must be between 1 and 256")
        if not 1 <= self.fetch_in_flight_per_peer_max <= self.fetch_in_flight_max:
            raise ConfigError("[state_sync] fetch_in_flight_per_peer_max must be between 1 and fetch_in_flight_max")
        if not 0.1 <= self.request_timeout_s <= 3_600:
            raise ConfigError("[state_sync] request_timeout_s must be between 0.1 and 3600")
        if not 0 <= self.discovery_s <= 600:
            raise ConfigError("[state_sync] discovery_s must be between 0 and 600")

    @property
    def trusted_block_hash(self) -> bytes | None:
        return bytes.fromhex(self.trust_hash.removeprefix("0x")) if self.trust_height else None


def _is_hash_hex(text: str) -> bool:
    digits = text.removeprefix("0x")
    return len(digits) == 64 and all(character in "0123456789abcdefABCDEF" for character in digits)


@dataclass(frozen=True, slots=True)
class DebugSettings:
    """Diagnostics for tests and investigations; off by default, never needed in production."""

    received_votes_path: str = ""
    """"": off. Otherwise a file (relative to the node directory, or absolute) to which the node appends
    every consensus proposal and vote it receives, as fsynced records (`gusu.node.debug`)."""

    def __post_init__(self) -> None:
        if len(self.received_votes_path) > DEBUG_PATH_CHARACTERS_MAX or "\x00" in self.received_votes_path:
            raise ConfigError(
                f"[debug] received_votes_path must be a file path of at most {DEBUG_PATH_CHARACTERS_MAX} characters"
            )


@dataclass(frozen=True, slots=True)
class NodeConfig:
    directory: Path
    node: NodeSettings = field(default_factory=NodeSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    mempool: MempoolLimits = field(default_factory=MempoolLimits)
    consensus: ConsensusSettings = field(default_factory=ConsensusSettings)
    verifier: VerifierSettings = field(default_factory=VerifierSettings)
    p2p: P2PSettings = field(default_factory=P2PSettings)
    """Peer-to-peer transport; used when the chain has more than one validator."""
    state_sync: StateSyncSettings = field(default_factory=StateSyncSettings)
    debug: DebugSettings = field(default_factory=DebugSettings)
    api: Mapping[str, Any] = field(default_factory=dict)
    """Raw [api] table: the API layer validates it into its own settings."""
    eth: Mapping[str, Any] = field(default_factory=dict)
    """Raw [eth] table (the Ethereum JSON-RPC's settings): the API layer validates it into `EthSettings`."""

    @property
    def data_path(self) -> Path:
        return self.directory / self.node.data_dir

    @property
    def genesis_path(self) -> Path:
        return self.directory / GENESIS_FILE_NAME

    @property
    def key_path(self) -> Path:
        return self.directory / NODE_KEY_FILE_NAME

    @property
    def received_votes_path(self) -> Path | None:
        """Where to record received consensus messages (`[debug] received_votes_path`), or None: off."""
        if not self.debug.received_votes_path:
            return None
        return self.directory / self.debug.received_votes_path

    @property
    def archive_path(self) -> Path:
        return self.directory / self.storage.archive_dir

    @property
    def chain_store_path(self) -> Path:
        return self.data_path / "chain"

    @property
    def pid_path(self) -> Path:
        return self.directory / "node.pid"

    @property
    def log_path(self) -> Path:
        return self.directory / "node.log"


def _is_instance(value: object, annotation: object) -> bool:
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    origin = typing.get_origin(annotation)
    if origin is tuple:
        arguments = typing.get_args(annotation)
        item_type = arguments[0] if arguments else object
        return isinstance(value, list) and all(_is_instance(item, item_type) for item in value)
    if origin in (typing.Union, types.UnionType):
        return any(_is_instance(value, option) for option in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def compute_settings(settings_class: type[SettingsT], table: object, section: str) -> SettingsT:
    """Build a settings dataclass from a TOML table, rejecting unknown keys and wrong types."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}] must be a table")
    hints = typing.get_type_hints(settings_class)
    known = {item.name for item in dataclasses.fields(settings_class)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"[{section}] has unknown setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for name, value in table.items():
        annotation = hints[name]
        if not _is_instance(value, annotation):
            raise ConfigError(f"[{section}] {name} = {value!r} has the wrong type; expected {annotation}")
        values[name] = tuple(value) if isinstance(value, list) else value
    try:
        return settings_class(**values)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[{section}] is invalid: {error}") from error


def load_config(directory: Path) -> NodeConfig:
    """Read and validate `directory/config.toml` (a missing file means all defaults)."""
    path = directory / CONFIG_FILE_NAME
    document: dict[str, Any] = {}
    if path.exists():
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read {path}: {error}") from error
    sections: dict[str, type[Any]] = {
        "node": NodeSettings,
        "storage": StorageSettings,
        "mempool": MempoolLimits,
        "consensus": ConsensusSettings,
        "verifier": VerifierSettings,
        "p2p": P2PSettings,
        "state_sync": StateSyncSettings,
        "debug": DebugSettings,
    }
    unknown = sorted(set(document) - set(sections) - {"api", "eth"})
    if unknown:
        raise ConfigError(f"{path} has unknown section(s): {', '.join(unknown)}")
    parsed = {name: compute_settings(cls, document.get(name, {}), name) for name, cls in sections.items()}
    for name in ("api", "eth"):
        if not isinstance(document.get(name, {}), dict):
            raise ConfigError(f"[{name}] must be a table")
    return NodeConfig(directory=directory, api=document.get("api", {}), eth=document.get("eth", {}), **parsed)


def get_node_passphrase(config: NodeConfig) -> str:
    """The node key's passphrase: from the environment, or the passphrase file beside the key."""
    from_environment = os.environ.get(PASSPHRASE_ENVIRONMENT_VARIABLE)
    if from_environment:
        return from_environment
    path = config.directory / NODE_PASSPHRASE_FILE_NAME
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(
            f"no passphrase for the node key: set {PASSPHRASE_ENVIRONMENT_VARIABLE} or create {path}"
        ) from error


def render_config(
    *, name: str, api_port: int, api_host: str = "127.0.0.1", verifier_workers: int = 2, backend: str = DEFAULT_BACKEND
) -> str:
    """The commented config.toml that `gusu chain init` writes."""
    return f"""# Gusu node configuration. Every setting has a default; see docs/operations.md.

[node]
name = "{name}"
data_dir = "data"
log_level = "info"

[api]
host = "{api_host}"
port = {api_port}

[storage]
backend = "{backend}"

[verifier]
# Signature-verification processes; set to the number of cores the node may use.
workers = {verifier_workers}

[mempool]
transactions_max = 200000

# Block size, block interval, gas and the transaction window are chain-wide:
# they are genesis parameters, not node settings.
[consensus]
empty_block_interval_ms = 0
# Solo and Raft: how long a block waits after the first transaction it will take arrived (0: no wait).
block_gather_ms = 0
# Gas at which this node's own blocks stop taking transactions, so that a block is built, re-executed and
# stored within a round's timeout (docs/bft.md, "Block building under load").
proposal_gas_max = 100000000
"""
