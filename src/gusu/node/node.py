"""The node: wires store, executor, mempool, verifier and consensus engine together.

The consensus engine is a pure state machine; this module is its driver. It
feeds the engine events (start, timers, transactions available, proposal
built, block committed) and carries out the actions the engine returns
(schedule a timer, build a proposal, commit a block). The BFT engine of the
next milestone plugs in through the same loop; only `Broadcast` and
`MessageReceived` gain a transport.

Everything runs on one asyncio event loop. Signature verification is the
one heavy task and runs in worker processes (`SignatureVerifier`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gusu import __version__
from gusu.codec import Value, decode_list, encode, expect_bytes, expect_list
from gusu.consensus import (
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    ConsensusEngine,
    Event,
    PeersChanged,
    PrepareProposal,
    ProposalBuilt,
    ReportEvidence,
    RewriteWal,
    ScheduleTimer,
    SendMessage,
    SoloEngine,
    Start,
    TimerFired,
    TransactionsAvailable,
    ValidateProposal,
)
from gusu.consensus.certificate import verify_commit_certificate
from gusu.consensus.messages import Equivocation, Message, make_signer
from gusu.consensus.raft import RaftEngine
from gusu.consensus.raft_messages import verify_raft_certificate
from gusu.consensus.tendermint import TendermintEngine, TendermintSettings
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import (
    CodecError,
    ConfigError,
    GusuError,
    InvalidBlockError,
    InvalidStateProofError,
    NodeError,
    NotFoundError,
    StorageError,
    TransactionTooLargeError,
)
from gusu.execution import (
    CallResult,
    Executor,
    compute_chain_registry,
)
from gusu.execution.executor import ETH_CONTRACT
from gusu.ledger.chainconfig import ChainConfig, compute_genesis_config_schedule, get_config_at
from gusu.ledger.ethtx import ETH_TRANSACTION_BYTES_MAX, encode_eth_block_item
from gusu.ledger.genesis import (
    CONSENSUS_RAFT,
    CONSENSUS_TENDERMINT,
    Genesis,
    compute_genesis_hash,
    validate_python_version,
)
from gusu.ledger.kv import open_store
from gusu.ledger.pruning import apply_body_archiving_step, apply_state_pruning_step, get_state_kept_from
from gusu.ledger.snapshot import (
    compute_snapshot_plan,
    compute_snapshot_plan_hash,
    encode_snapshot_chunk,
    get_snapshot_chunk,
)
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.ledger.store import (
    BlockStore,
    CommittedBlock,
)
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Hash,
    Height,
    RawBlock,
    Round,
    compute_block_hash,
    decode_raw_block,
    encode_commit_vote,
    encode_raw_block,
)
from gusu.mempool import Mempool, PoolTransaction
from gusu.network.handshake import make_key_signer
from gusu.network.messages import (
    CHANNEL_CONSENSUS,
    CHANNEL_STATE_SYNC,
    CHANNEL_SYNC,
    CHANNEL_TRANSACTIONS,
    DEFAULT_CHANNELS,
)
from gusu.network.tls import TlsFiles
from gusu.network.transport import LocalIdentity, P2PNetwork, PeerInfo, get_certificate_expiry_seconds
from gusu.node.admission import TransactionAdmission
from gusu.node.backup import (
    BACKUP_POLL_INTERVAL_S,
    RESTORED_MARKER_FILE_NAME,
    run_backup_request,
    take_backup_request,
)
from gusu.node.blocks import (
    BlockBuilder,
    BlockRules,
    build_block,
    compute_block_rules,
    compute_genesis_block,
    finish_block_check,
    get_config_schedule,
    get_signature_check,
    start_block_check,
)
from gusu.node.config import NodeConfig
from gusu.node.debug import ReceivedMessageLog
from gusu.node.driver import EngineDriver
from gusu.node.early import EARLY_POOL_TRANSACTIONS_MAX, EarlyBlock
from gusu.node.evidence import EVIDENCE_FILE_NAME, EvidenceLog
from gusu.node.journal import GroupAppender, RecordLog, read_records
from gusu.node.metrics import HistogramRecorder, NodeCounters
from gusu.node.outbox import PeerOutbox
from gusu.node.proposals import ProposalExchange
from gusu.node.queries import ChainQueries
from gusu.node.raft_exchange import RaftExchange, compute_forward_target
from gusu.node.recent import RecentBlocks
from gusu.node.registry import get_registry_lookup, get_registry_trust, get_revocation_check, read_own_anchor
from gusu.node.schedule import ValidatorSchedule
from gusu.node.service import (
    BlockListener,
    BlockNotification,
    BlockRecord,
    EthReceiptRecord,
    EthTransactionRecord,
    EventScan,
    EvidenceRecord,
    NodeMetrics,
    NodeStatus,
    ProofRecord,
    ReceiptRecord,
    SubmitOutcome,
    TransactionRecord,
)
from gusu.node.settings import (
    BFT_TIMEOUT_PARAMETERS,
    compute_bft_settings,
    compute_chain_settings,
    compute_raft_settings,
)
from gusu.node.statesync import (
    STATUS_BUSY,
    STATUS_OK,
    STATUS_UNAVAILABLE,
    ChunkAnswer,
    ChunkRequest,
    DiscardStaged,
    DropPeer,
    InstallSnapshot,
    Offers,
    OffersRequest,
    Plan,
    PlanRequest,
    SendRequest,
    ServedPlan,
    SnapshotOffer,
    SnapshotServer,
    SnapshotTarget,
    StageChunk,
    StageTarget,
    StateSyncAction,
    StateSyncCore,
    StateSyncFailed,
    StateSyncMessage,
    StateSyncProgress,
    certify_snapshot_block,
    compute_snapshot_heights,
    decode_state_sync_message,
    encode_state_sync_message,
)
from gusu.node.statesync_stage import (
    STAGING_DIRECTORY_NAME,
    StateSyncStage,
    install_snapshot,
    remove_progress,
    write_progress,
)
from gusu.node.sync import BlockSync, SyncScheduler, SyncSettings
from gusu.node.verifier import SignatureVerifier
from gusu.node.wire import (
    BodyAnswer,
    BodyRequest,
    SyncRequest,
    SyncStatus,
    decode_sync_body,
    encode_status,
    is_raft_body,
)

if TYPE_CHECKING:  # py-evm loads only on chains with the evm contract
    from gusu.execution.evm.overrides import EthStateOverride

logger = logging.getLogger("gusu.node")

PRUNING_STEPS_PER_ROUND = 8
"""State versions pruned per block at most: catches up a backlog (pruning switched on late) 8 times faster than
the chain grows, while a block write never waits for more than one version's deletes."""

Clock = Callable[[], int]

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOURNAL_FILE_NAME = "transactions.journal"
TAG_TRANSACTION_GOSSIP = "gusu.txgossip.v1"
NETWORKED_ENGINES = (CONSENSUS_TENDERMINT, CONSENSUS_RAFT)
"""The engines a chain may switch between (solo runs without peers, WAL or block sync)."""
WAL_FILE_NAME = "consensus.wal"
RAFT_WAL_FILE_NAME = "raft.wal"
"""Raft's WAL (term, vote, log) has other records and another life than Tendermint's: a file of its own."""
PROPOSAL_BODIES_FILE_NAME = "proposals.log"
SYNC_STATUS_INTERVAL_S = 1.0
STATE_SYNC_TICK_S = 0.5
STATE_SYNC_LOG_INTERVAL_S = 5.0
RAFT_FORWARD_AGE_MS = 2_000
RAFT_FORWARD_MAX = 512
"""Raft: transactions a follower forwards to the leader per status interval (`Node._forward_pool_to_leader`)."""
OUTBOX_MESSAGES_MAX_PER_PEER = 10_000
"""Messages waiting for one peer (also bounded by `[p2p] send_queue_bytes_max`); the engine re-sends, so
overflow only delays."""
FAIL_STOP_EXIT_CODE = 75
"""The process exit status after a local fault (disk, WAL) stopped the node."""
GOSSIP_TRANSACTIONS_MAX = 5_000
"""Transactions in one gossip message; a peer sending more is disconnected."""
GOSSIP_ADMISSIONS_MAX = 64
"""Gossip messages being admitted at once; past that, new ones are dropped (see `_on_gossip_transactions`)."""


__all__ = ["BFT_TIMEOUT_PARAMETERS", "Node", "compute_bft_settings", "compute_chain_settings", "get_wall_clock_ms"]


def get_wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def _exit_on_fatal(error: BaseException) -> None:
    """Fail-stop for a node process: exit now, without running anything that might still send or sign."""
    logging.shutdown()
    os._exit(FAIL_STOP_EXIT_CODE)


def _log_compaction_failure(future: Future[None]) -> None:
    error = future.exception()
    if error is not None:
        logger.error("journal compaction failed: %s", error)


class Node:
    """A Gusu node: solo ordering for a one-validator chain, Tendermint BFT over P2P otherwise."""

    def __init__(
        self,
        config: NodeConfig,
        genesis: Genesis,
        key: PrivateKey,
        *,
        clock: Clock = get_wall_clock_ms,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        """`on_fatal` is called once when a local fault stops the node (default: exit the process)."""
        validate_python_version(genesis)
        self._config = config
        self._genesis = genesis
        self._suite = get_suite(genesis.suite)
        if key.suite != genesis.suite:
            raise NodeError(f"the node key is a {key.suite} key but the chain uses the {genesis.suite} suite")
        self._key = key
        self._address = Address(self._suite.compute_address(key.public_key))
        self._clock = clock
        self._genesis_hash = compute_genesis_hash(self._suite, genesis)
        self._solo_settings, mempool_limits, execution_limits = compute_chain_settings(genesis, config)
        self._mempool_limits = mempool_limits
        self._executor = Executor(compute_chain_registry(genesis.contracts), execution_limits)
        self._rules: BlockRules = compute_block_rules(genesis, self._suite)
        """The rules of the block after the tip (`_refresh_configuration` after each commit)."""
        self._schedule = ValidatorSchedule(compute_genesis_config_schedule(genesis), Height(0))
        """The validator sets around the tip, from the configuration schedule in the committed state."""
        self._engine_settings: TendermintSettings | None = None
        """The BFT engine's settings at the height after the tip, from its scheduled parameters."""
        self._engine_settings_config: ChainConfig | None = None
        self._mempool = Mempool(mempool_limits, genesis.chain_id)
        self._validator_set = ValidatorSet.from_genesis(genesis)
        self._is_networked = genesis.consensus in NETWORKED_ENGINES
        """Peers, a WAL, proposal bodies and block sync: every engine but solo (a chain never switches between
        solo and the others: docs/consensus.md, "Switching engines")."""
        self._on_fatal = on_fatal or _exit_on_fatal
        self._fatal: BaseException | None = None
        # The genesis engine; `start` replaces it if the schedule names another for the height after the tip.
        self._driver = EngineDriver(self._make_engine(genesis.consensus, self._validator_set, None), self)
        storage = config.storage
        recent_blocks_max = storage.recent_blocks_cached
        if storage.block_bodies_kept:
            # Never answer from memory for a block whose body the store has archived.
            recent_blocks_max = min(recent_blocks_max, storage.block_bodies_kept)
        self._recent_blocks = RecentBlocks(
            recent_blocks_max, storage.recent_transactions_cached_max, storage.recent_bytes_cached_max
        )
        self._queries = ChainQueries(
            self._suite,
            lambda: self.store,
            self._mempool,
            self._executor,
            self._get_tip_height_or_zero,
            self._recent_blocks,
        )

        self._verifier = SignatureVerifier(
            genesis.suite,
            workers=config.verifier.workers,
            batch_size_max=config.verifier.batch_size_max,
            batch_wait_ms=config.verifier.batch_wait_ms,
            queue_items_max=config.verifier.queue_items_max,
        )
        self._admission = TransactionAdmission(
            suite=self._suite,
            mempool=self._mempool,
            transaction_bytes_max=mempool_limits.transaction_bytes_max,
            verifier=self._verifier,
            get_store=lambda: self.store,
            get_next_height=lambda: Height(self.height + 1),
            clock=clock,
            on_admitted=self._on_admitted,
        )
        self._verifying = self._admission.verifying
        self._admitted_at_ms = self._admission.admitted_at_ms
        self._store: BlockStore | None = None
        self._tip_header: BlockHeader | None = None
        self._tip_hash = ZERO_HASH
        self._proposal: CommittedBlock | None = None
        self._early: EarlyBlock | None = None
        """The next block, executed while its transactions arrive (`gusu.node.early`)."""
        self._early_scheduled = False
        self._timers: dict[tuple[int, int, str], asyncio.TimerHandle] = {}
        self._listeners: list[BlockListener] = []
        self._counters = NodeCounters()
        self._block_commit_seconds = HistogramRecorder(LATENCY_BUCKETS_S)
        self._transaction_commit_seconds = HistogramRecorder(LATENCY_BUCKETS_S)
        self._running = False
        self._proposal_started_s = 0.0
        self._height_started_s = time.perf_counter()
        """When this node started deciding the current height (BFT: when it stored the block before)."""
        self._store_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gusu-store")
        """Writes committed blocks off the event loop (RocksDB releases the GIL while it writes)."""
        self._commit_in_flight: asyncio.Future[None] | None = None
        self._pruning_in_flight: asyncio.Future[None] | None = None
        self._silent_after_restore = False
        """Restored from a backup (gusu.node.backup): send no consensus message until caught up with the peers."""
        """One pruning round at a time, on the store's thread between block writes (`_schedule_pruning`)."""
        self._journal: RecordLog | None = None
        self._journal_executor: ThreadPoolExecutor | None = None
        self._journal_appender: GroupAppender | None = None
        self._network: P2PNetwork | None = None
        self._received_log: ReceivedMessageLog | None = None
        self._proposals = ProposalExchange(
            suite=self._suite,
            chain_id=genesis.chain_id,
            get_validator_set=self._schedule.get_validator_set,
            get_engine=lambda: self._driver.engine,
            get_height=lambda: self.height,
            is_running=lambda: self._running,
            validate_block=self.validate_block,
            on_event=self._on_engine_event,
            enqueue=lambda peer, channel, body: self._enqueue(peer, channel, body),
            spawn=self._spawn,
            on_local_fault=self._fail_stop,
            clock=clock,
            on_received=None if config.received_votes_path is None else self._record_received,
        )
        self._bodies = self._proposals.bodies
        self._raft_exchange = RaftExchange(
            suite=self._suite,
            chain_id=genesis.chain_id,
            get_validator_set=self._schedule.get_validator_set,
            bodies=self._bodies,
            get_height=lambda: self.height,
            get_stored_block=self._get_stored_block,
            persist_bodies=self._persist_proposal_bodies,
            is_running=lambda: self._running,
            on_event=self._on_engine_event,
            enqueue=lambda peer, channel, body: self._enqueue(peer, channel, body),
            on_local_fault=self._fail_stop,
            clock=clock,
            append_bytes_max=config.p2p.frame_bytes_max // 2,
        )
        self._wal: RecordLog | None = None
        self._proposal_bodies: RecordLog | None = None
        self._outboxes: dict[Address, PeerOutbox] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._block_sync = BlockSync(
            scheduler=SyncScheduler(SyncSettings()),
            get_height=lambda: self.height,
            get_raw_block=self.get_raw_block,
            verify_certificate=self._verify_synced_certificate,
            import_block=self.import_block,
            send=lambda peer, body: self._enqueue(peer, CHANNEL_SYNC, body),
            answer_bytes_max=config.p2p.frame_bytes_max // 2,
            on_local_fault=self._fail_stop,
            clock_s=time.monotonic,
        )
        self._evidence: EvidenceLog | None = None
        self._state_sync: StateSyncCore | None = None
        """The joining side of state sync, while this node fetches a snapshot (`_run_state_sync`)."""
        self._state_sync_stage: StateSyncStage | None = None
        self._last_state_sync_progress: StateSyncProgress | None = None
        self._state_sync_result: asyncio.Future[SnapshotTarget] | None = None
        self._snapshot_server = SnapshotServer(config.state_sync, time.monotonic)
        self._served_plans: dict[Height, asyncio.Future[ServedPlan | None]] = {}
        """Plans of the snapshots this node offers, computed once each in a thread (`_get_served_plan`)."""
        self._snapshot_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gusu-snapshot")
        """Reads snapshots (plans, chunks) and installs one; `stop` waits for it before the store closes."""
        self._gossip_admissions = 0
        self._forward_attempts = 0
        """Status ticks that looked for a forwarding target (`_forward_pool_to_leader`): picks the member."""
        self._reported_peers: frozenset[Address] | None = None
        self._raft_leader_logged: tuple[Address | None, int] = (None, 0)

    @property
    def _engine(self) -> ConsensusEngine:
        """The engine running now (a governance switch replaces it: `_switch_engine_if_scheduled`)."""
        return self._driver.engine

    @property
    def _is_raft(self) -> bool:
        return isinstance(self._driver.engine, RaftEngine)

    @property
    def _is_bft(self) -> bool:
        return isinstance(self._driver.engine, TendermintEngine)

    def _make_engine(
        self, consensus: str, validator_set: ValidatorSet, settings: TendermintSettings | None
    ) -> ConsensusEngine:
        if consensus == CONSENSUS_TENDERMINT:
            return TendermintEngine(
                settings or compute_bft_settings(self._genesis, self._solo_settings),
                validator_set,
                self._address,
                make_signer(self._suite, self._key),
                self._genesis.chain_id,
            )
        if consensus == CONSENSUS_RAFT:
            return RaftEngine(
                compute_raft_settings(self._genesis, self._solo_settings),
                validator_set,
                self._address,
                make_signer(self._suite, self._key),
                self._genesis.chain_id,
            )
        return SoloEngine(self._solo_settings)

    def _get_engine_name_at(self, height: Height) -> str:
        """The engine that decides `height` by the schedule in our state (the tip and the two heights after)."""
        config = self._schedule.get_config(height)
        assert config is not None, "the engine of a height far from the tip"
        return config.consensus

    def _get_wal_path(self) -> Path:
        return self._config.data_path / (RAFT_WAL_FILE_NAME if self._is_raft else WAL_FILE_NAME)

    def _validate_engine_switch(self, consensus: str) -> None:
        if consensus not in NETWORKED_ENGINES or not self._is_networked:
            raise NodeError(
                f"the configuration schedule switches this chain to {consensus} from {self._driver.engine.name}; a "
                "node switches only between tendermint and raft (solo has no peers, WAL or block sync to hand over "
                "to). Governance must schedule another engine; this node stops here"
            )

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        self._config.data_path.mkdir(parents=True, exist_ok=True)
        kv = open_store(self._config.data_path / "chain", self._config.storage.backend)
        storage_settings = self._config.storage
        store = BlockStore(
            kv,
            self._suite,
            state_cache_entries=storage_settings.state_cache_entries,
            state_cache_bytes_max=storage_settings.state_cache_bytes_max,
        )
        state_sync = self._config.state_sync
        try:
            store.initialize(self._genesis.chain_id, self._genesis_hash)
            is_joining = store.get_tip() is None and state_sync.enabled and self._is_networked
            if store.get_tip() is None and not is_joining:
                writes = self._executor.compute_genesis_writes(self._genesis)
                store.commit_block(compute_genesis_block(self._suite, self._genesis, writes))
                logger.info("created genesis block of chain %s", self._genesis.chain_id)
        except BaseException:
            store.close()
            raise
        self._store = store
        self._recent_blocks.clear()
        self._validate_retention()
        if state_sync.chunk_bytes_max + 1024 > self._config.p2p.frame_bytes_max:
            raise NodeError(
                f"[state_sync] chunk_bytes_max = {state_sync.chunk_bytes_max} does not fit in a frame of "
                f"[p2p] frame_bytes_max = {self._config.p2p.frame_bytes_max}; lower it or raise the frame limit"
            )
        await self._verifier.warm_up()
        if is_joining:
            await self._run_state_sync()
        tip = store.get_tip()
        assert tip is not None
        self._tip_hash = tip[1]
        self._tip_header = store.get_header(tip[0])
        assert self._tip_header is not None
        self._refresh_configuration()
        consensus = self._get_engine_name_at(Height(tip[0] + 1))
        if consensus != self._driver.engine.name:
            # The chain switched engines (governance) before this start: run the one in force now.
            self._validate_engine_switch(consensus)
            validators, _ = self._schedule.get_engine_sets(Height(tip[0] + 1))
            self._driver = EngineDriver(self._make_engine(consensus, validators, self._engine_settings), self)
        self._running = True
        logger.info("node %s at height %d, address %s", self._config.node.name, tip[0], self._address.hex())
        if self._config.node.transaction_journal:
            await self._open_journal()
        wal_records: tuple[bytes, ...] = ()
        if self._is_networked:
            self._silent_after_restore = (self._config.data_path / RESTORED_MARKER_FILE_NAME).exists()
            if self._silent_after_restore:
                logger.info(
                    "restored from a backup or joined by state sync: silent in consensus until caught up with the peers"
                )
            wal_path = self._get_wal_path()
            wal_records = tuple(read_records(wal_path, "consensus WAL"))
            self._wal = RecordLog(wal_path)
            self._evidence = EvidenceLog(self._config.data_path / EVIDENCE_FILE_NAME)
            self._restore_proposal_bodies()
            if self._config.received_votes_path is not None:
                self._received_log = ReceivedMessageLog(self._config.received_votes_path)
            if self._network is None:
                await self._start_network()
            self._spawn(self._run_sync_status())
        validators, next_validators = self._schedule.get_engine_sets(Height(tip[0] + 1))
        self._on_engine_event(
            Start(
                height=Height(tip[0] + 1),
                now_ms=self._clock(),
                last_block_time_ms=self._tip_header.timestamp_ms,
                wal_records=wal_records,
                pool_transaction_count=self._mempool.transaction_count,
                validators=validators,
                next_validators=next_validators,
                engine_settings=self._engine_settings,
                last_block_round=self._get_raft_term_of(Height(tip[0])),
            )
        )
        if self._mempool.transaction_count:
            self._on_engine_event(self.get_pool_event())
        if not self._is_networked:
            # One validator: no one else signs its heights, so a restore needs no silence.
            (self._config.data_path / RESTORED_MARKER_FILE_NAME).unlink(missing_ok=True)
        self._spawn(self._run_backup_requests())
        self._schedule_pruning()
        self._warm_snapshot_plans()

    def _validate_retention(self) -> None:
        """Bodies must outlive the transaction window: admission checks duplicates against the stored ones."""
        kept = self._config.storage.block_bodies_kept
        window = self._mempool_limits.transaction_window_blocks
        if kept and kept < window:
            raise NodeError(
                f"[storage] block_bodies_kept = {kept} is below the chain's transaction window of {window} blocks; "
                f"keep at least {window} (or 0: keep all), so duplicate transactions are still recognised"
            )

    async def _run_backup_requests(self) -> None:
        """Take the backups `gusu node backup` asks for (gusu.node.backup), in a thread: commits go on meanwhile."""
        directory = self._config.directory
        while self._running:
            await asyncio.sleep(BACKUP_POLL_INTERVAL_S)
            request = take_backup_request(directory)
            if request is not None:
                await asyncio.to_thread(run_backup_request, self.store, directory, request)

    def _schedule_pruning(self) -> None:
        """Start a pruning round on the store's thread, unless one runs or retention keeps everything."""
        storage = self._config.storage
        if self._pruning_in_flight is not None or not (storage.state_versions_kept or storage.block_bodies_kept):
            return
        future = asyncio.get_running_loop().run_in_executor(
            self._store_executor, self._apply_pruning_round, self.height
        )
        self._pruning_in_flight = future
        future.add_done_callback(self._on_pruning_done)

    def _apply_pruning_round(self, tip: Height) -> None:
        """Up to `PRUNING_STEPS_PER_ROUND` state versions and one archive file; each step its own bounded batch.

        Runs on the store's thread, so a block write waits at most for one step, never for the whole backlog.
        """
        storage = self._config.storage
        store = self.store
        snapshots = self._get_snapshot_heights(tip)
        keep_from_max = snapshots[0] if snapshots else None  # the snapshots offered stay readable
        for _ in range(PRUNING_STEPS_PER_ROUND):
            if apply_state_pruning_step(store.kv, tip, storage.state_versions_kept, keep_from_max) is None:
                break
        moved = apply_body_archiving_step(
            store, store.kv, tip, storage.block_bodies_kept, self._config.archive_path, storage.archive_heights_per_file
        )
        if moved is not None:
            logger.info("archived the bodies of blocks %d to %d in %s", moved[0], moved[1], self._config.archive_path)

    def _on_pruning_done(self, future: asyncio.Future[None]) -> None:
        self._pruning_in_flight = None
        if not future.cancelled() and future.exception() is not None:
            # The store stays consistent (each step is one batch); the next round tries again.
            logger.error("pruning failed; retrying after the next block", exc_info=future.exception())

    async def _open_journal(self) -> None:
        path = self._config.data_path / JOURNAL_FILE_NAME
        recorded = read_records(path, "transaction journal")
        self._journal = RecordLog(path)
        self._journal_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gusu-journal")
        self._journal_appender = GroupAppender(self._journal, self._journal_executor)
        if recorded:
            outcomes = await self._admit(recorded)
            restored = sum(1 for outcome in outcomes if outcome.error is None)
            logger.info("journal: restored %d of %d pending transactions", restored, len(recorded))
        self._journal.compact(self._mempool.iterate_raw())

    async def _start_network(self) -> None:
        # A peer is admitted only as a node the registry lists (genesis's validators, then governance's
        # validators and observers), with a certificate from its organisation's CA, not revoked, and a proof
        # that it holds the node's consensus key (docs/network.md); re-checked after each commit.
        tls_files = TlsFiles.from_settings(self._config.p2p, self._config.directory)
        network = P2PNetwork(
            self._config.p2p,
            local=LocalIdentity(self._genesis.chain_id, self._genesis_hash, self._address),
            tls=tls_files,
            suite=self._suite,
            sign=make_key_signer(self._suite, self._key),
            get_validator=get_registry_lookup(self.store, self._genesis, self._get_tip_height_or_zero),
            get_trusted_organizations=get_registry_trust(self.store, read_own_anchor(tls_files.certificate)),
            is_revoked=get_revocation_check(self.store),
            channels=DEFAULT_CHANNELS,
            # Only reconnection jitter draws from it: nothing that computes state.
            rng=random.Random(),
        )
        network.subscribe(CHANNEL_TRANSACTIONS, self._on_gossip_transactions)
        network.subscribe(CHANNEL_CONSENSUS, self._on_consensus_body)
        network.subscribe(CHANNEL_SYNC, self._on_sync_body)
        network.subscribe(CHANNEL_STATE_SYNC, self._on_state_sync_body)
        network.on_connected(self._on_peer_connected)
        await network.start()
        self._network = network

    @property
    def network(self) -> P2PNetwork | None:
        return self._network

    async def _on_consensus_body(self, peer: Address, body: bytes) -> None:
        """To the engine in force; a message of the other engine is a late one from before a switch (or a peer
        that has not switched yet): ignored, not held against the peer."""
        if self._tip_header is None:
            return  # joining by state sync: no engine runs yet
        if is_raft_body(body) != self._is_raft:
            kind = "Tendermint" if self._is_raft else "Raft"
            logger.debug("ignoring a %s message from %s: %s runs now", kind, peer.hex()[:12], self._driver.engine.name)
            return
        if self._is_raft:
            await self._raft_exchange.on_consensus_body(peer, body)
        else:
            await self._proposals.on_consensus_body(peer, body)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("node task failed", exc_info=task.exception())

    async def stop(self) -> None:
        self._running = False
        result = self._state_sync_result
        if result is not None and not result.done():
            # A join in progress ends here; its staged chunks stay for the next start.
            result.set_exception(NodeError("the node was stopped during state sync; start it again to resume"))
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._commit_in_flight is not None:
            # The store's write runs to its end (a half-written batch cannot exist): wait for it.
            await asyncio.gather(self._commit_in_flight, return_exceptions=True)
        self._store_executor.shutdown(wait=True)
        self._snapshot_executor.shutdown(wait=True, cancel_futures=True)
        if self._wal is not None:
            self._wal.close()
            self._wal = None
        if self._proposal_bodies is not None:
            self._proposal_bodies.close()
            self._proposal_bodies = None
        if self._evidence is not None:
            self._evidence.close()
            self._evidence = None
        if self._received_log is not None:
            self._received_log.close()
            self._received_log = None
        self._outboxes.clear()
        if self._network is not None:
            await self._network.stop()
            self._network = None
        self._journal_appender = None
        if self._journal_executor is not None:
            self._journal_executor.shutdown(wait=True)
            self._journal_executor = None
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._verifier.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- state sync (gusu.node.statesync; docs/state.md, "State sync") ----------------------------

    def _get_tip_height_or_zero(self) -> int:
        return 0 if self._tip_header is None else self._tip_header.height

    @property
    def state_sync_progress(self) -> StateSyncProgress | None:
        """How far the join by state sync is, while it runs (None otherwise)."""
        return None if self._state_sync is None else self._state_sync.progress

    @property
    def last_state_sync_progress(self) -> StateSyncProgress | None:
        """How the last join by state sync of this process went (None if there was none)."""
        return self._last_state_sync_progress

    async def _run_state_sync(self) -> None:
        """Join by state sync: fetch a certified snapshot from the peers, install it as the store's base.

        Returns once the store holds the snapshot's state and block (the rest of `start` then follows the
        chain from there by block sync and consensus); NodeError if every peer sent bad data.
        """
        store = self.store
        stage = StateSyncStage(self._config.data_path / STAGING_DIRECTORY_NAME, self._suite)
        staged = await asyncio.to_thread(stage.load)
        if staged is not None:
            logger.info(
                "state sync: resuming snapshot %d with %d of %d chunks staged",
                staged[0].height,
                len(staged[1]),
                len(staged[0].paths),
            )
        now_s = time.monotonic()
        started_s = now_s
        core = StateSyncCore(self._config.state_sync, self._suite, self._certify_snapshot, staged=staged, now_s=now_s)
        self._state_sync = core
        self._last_state_sync_progress = core.progress
        self._state_sync_stage = stage
        self._state_sync_result = asyncio.get_running_loop().create_future()
        self._apply_state_sync_actions(core.on_start(now_s))
        await self._start_network()
        ticker = asyncio.get_running_loop().create_task(self._run_state_sync_ticks(core))
        try:
            target = await self._state_sync_result
        except NodeError:
            write_progress(self._config.data_path, core.progress)  # the failure, for `gusu node status`
            raise
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        fetched_s = time.monotonic() - started_s
        served = ", ".join(
            f"{peer.hex()[:12]}: {count}" for peer, count in sorted(core.progress.chunks_by_peer.items())
        )
        logger.info(
            "state sync: all %d chunks of snapshot %d verified (chunks by peer: %s); installing",
            len(target.paths),
            target.height,
            served or "all staged before a restart",
        )
        loop = asyncio.get_running_loop()
        entries = await loop.run_in_executor(self._snapshot_executor, install_snapshot, store, stage, target)
        await asyncio.to_thread(stage.clear)
        # A validator whose disk was lost may have signed heights above the snapshot: as after a restore, it
        # stays silent in consensus until it has caught up with its peers.
        (self._config.data_path / RESTORED_MARKER_FILE_NAME).write_text(
            f'{{"height": {target.height}, "state_sync": true}}\n', encoding="utf-8"
        )
        core.progress.phase = "done"
        remove_progress(self._config.data_path)
        self._state_sync = None
        logger.info(
            "state sync: installed snapshot at height %d (%d tree nodes) in %.1f s (fetch %.1f s); no block "
            "below it was replayed",
            target.height,
            entries,
            time.monotonic() - started_s,
            fetched_s,
        )

    async def _run_state_sync_ticks(self, core: StateSyncCore) -> None:
        """Timeouts, re-asked offers, disconnections, and a progress line now and then."""
        known: set[Address] = set()
        logged_s = time.monotonic()
        while True:
            await asyncio.sleep(STATE_SYNC_TICK_S)
            now_s = time.monotonic()
            network = self._network
            connected = set() if network is None else {peer.address for peer in network.connected_peers()}
            for peer in sorted(known - connected):
                self._apply_state_sync_actions(core.on_peer_disconnected(peer, now_s))
            for peer in sorted(connected - known):
                self._apply_state_sync_actions(core.on_peer_connected(peer, now_s))
            known = connected
            self._apply_state_sync_actions(core.on_tick(now_s))
            try:
                write_progress(self._config.data_path, core.progress)
            except OSError as error:
                logger.debug("cannot record the state-sync progress: %s", error)
            if now_s - logged_s >= STATE_SYNC_LOG_INTERVAL_S:
                logged_s = now_s
                logger.info("state sync: %s (%d peers connected)", core.describe_waiting(), len(connected))

    def _apply_state_sync_actions(self, actions: Sequence[StateSyncAction]) -> list[DropPeer]:
        """Carry out the core's actions in order (staging writes are durable before the next action); the drops."""
        drops: list[DropPeer] = []
        stage = self._state_sync_stage
        result = self._state_sync_result
        for action in actions:
            if isinstance(action, SendRequest):
                self._enqueue(action.peer, CHANNEL_STATE_SYNC, encode_state_sync_message(action.message))
            elif isinstance(action, DropPeer):
                drops.append(action)
            elif isinstance(action, StageTarget):
                assert stage is not None
                stage.save_target(action.target)
                logger.info(
                    "state sync: chose snapshot %d (block %s), %d chunks",
                    action.target.height,
                    action.target.block_hash.hex(),
                    len(action.target.paths),
                )
            elif isinstance(action, DiscardStaged):
                assert stage is not None
                stage.clear()
            elif isinstance(action, StageChunk):
                assert stage is not None
                stage.save_chunk(action.index, action.data)
            elif isinstance(action, InstallSnapshot):
                if result is not None and not result.done():
                    result.set_result(action.target)
            elif isinstance(action, StateSyncFailed) and result is not None and not result.done():
                result.set_exception(NodeError(action.message))
        return drops

    def _certify_snapshot(self, header: BlockHeader, certificate: CommitCertificate) -> bool:
        """Whether an offered snapshot's block is certified, by the genesis validators or the trusted hash."""
        schedule = compute_genesis_config_schedule(self._genesis)
        return certify_snapshot_block(
            self._suite,
            self._genesis.chain_id,
            self._genesis.validators,
            lambda height: get_config_at(schedule, height).consensus,
            self._config.state_sync,
            header,
            certificate,
        )

    async def _on_state_sync_body(self, peer: Address, body: bytes) -> None:
        """Snapshot requests (answered from the store) and answers (to the joining side, while it runs)."""
        message = decode_state_sync_message(body)
        if isinstance(message, OffersRequest | PlanRequest | ChunkRequest):
            if self._begin_serving(peer, message):
                # In a task: producing a plan or chunk takes a while, and this peer's other messages go on.
                self._spawn(self._serve_state_sync(peer, message))
            return
        core = self._state_sync
        if core is None:
            return  # an answer after the sync ended: ignored
        now_s = time.monotonic()
        if isinstance(message, Offers):
            actions = core.on_offers(peer, message.offers, now_s)
        elif isinstance(message, Plan):
            actions = core.on_plan(peer, message, now_s)
        else:
            assert isinstance(message, ChunkAnswer)
            actions = core.on_chunk(peer, message, now_s)
        for drop in self._apply_state_sync_actions(actions):
            if drop.peer == peer:
                # The transport disconnects the sender; the core never asks it again.
                raise InvalidStateProofError(f"state sync: {drop.reason}")

    def _send_state_sync(self, peer: Address, message: StateSyncMessage) -> None:
        self._enqueue(peer, CHANNEL_STATE_SYNC, encode_state_sync_message(message))

    def _get_snapshot_heights(self, tip: Height) -> list[Height]:
        settings = self._config.state_sync
        store = self.store
        available_from = Height(max(get_state_kept_from(store.kv), store.get_base_height()))
        return compute_snapshot_heights(tip, settings.snapshot_interval_blocks, settings.snapshots_kept, available_from)

    def _begin_serving(self, peer: Address, message: OffersRequest | PlanRequest | ChunkRequest) -> bool:
        """Whether to serve a snapshot request (within the peer's budget); if not, the short answer is sent."""
        is_chunk = isinstance(message, ChunkRequest)
        is_ready = self._tip_header is not None and self._running
        if is_ready and self._snapshot_server.try_begin(peer, is_chunk=is_chunk):
            return True
        if isinstance(message, ChunkRequest):
            status = STATUS_UNAVAILABLE if self._tip_header is None else STATUS_BUSY
            self._send_state_sync(peer, ChunkAnswer(message.height, message.plan_hash, message.index, status, None))
        elif isinstance(message, OffersRequest):
            self._send_state_sync(peer, Offers(()))
        return False  # a plan request over budget goes unanswered: the asker times out and asks another

    async def _serve_state_sync(self, peer: Address, message: OffersRequest | PlanRequest | ChunkRequest) -> None:
        is_chunk = isinstance(message, ChunkRequest)
        try:
            heights = self._get_snapshot_heights(self.height)
            if isinstance(message, OffersRequest):
                offers: list[SnapshotOffer] = []
                for height in heights:
                    plan = await self._get_served_plan(height)
                    header = self.store.get_header(height)
                    certificate = self.store.get_certificate(height)
                    if plan is not None and header is not None and certificate is not None:
                        offers.append(SnapshotOffer(header, certificate, plan.plan_hash, len(plan.paths)))
                self._send_state_sync(peer, Offers(tuple(offers)))
                return
            plan = await self._get_served_plan(message.height) if message.height in heights else None
            if plan is None or plan.plan_hash != message.plan_hash:
                if isinstance(message, ChunkRequest):
                    answer = ChunkAnswer(message.height, message.plan_hash, message.index, STATUS_UNAVAILABLE, None)
                    self._send_state_sync(peer, answer)
                return
            if isinstance(message, PlanRequest):
                self._send_state_sync(peer, Plan(plan.height, plan.plan_hash, plan.paths))
                return
            data = None
            if message.index < len(plan.paths):
                data = await asyncio.get_running_loop().run_in_executor(
                    self._snapshot_executor, self._produce_chunk, plan.height, plan.paths[message.index]
                )
            status = STATUS_OK if data is not None else STATUS_UNAVAILABLE
            self._send_state_sync(peer, ChunkAnswer(message.height, message.plan_hash, message.index, status, data))
        finally:
            if is_chunk:
                self._snapshot_server.end(peer)

    def _produce_chunk(self, height: Height, path: bytes) -> bytes | None:
        """A chunk's encoding from the retained tree version (in a thread), or None if unavailable."""
        try:
            data = encode_snapshot_chunk(get_snapshot_chunk(self.store.kv, self._suite, height, path))
        except (NotFoundError, StorageError) as error:
            logger.info("snapshot %d: chunk %s unavailable: %s", height, path.hex(), error)
            return None
        if len(data) > self._config.state_sync.chunk_bytes_max:
            logger.warning(
                "snapshot %d: chunk %s is %d bytes, above [state_sync] chunk_bytes_max = %d; not served",
                height,
                path.hex(),
                len(data),
                self._config.state_sync.chunk_bytes_max,
            )
            return None
        return data

    def _warm_snapshot_plans(self) -> None:
        """Compute the plans of the offered snapshots now (in a thread), so a joining peer's first request for
        offers is answered at once instead of after a walk of every tree node of each snapshot."""
        if not self._is_networked or not self._config.state_sync.snapshot_interval_blocks:
            return
        for height in self._get_snapshot_heights(self.height):
            if height not in self._served_plans:
                self._spawn(self._warm_snapshot_plan(height))

    async def _warm_snapshot_plan(self, height: Height) -> None:
        plan = await self._get_served_plan(height)
        if plan is not None:
            logger.info("snapshot %d offered for state sync: %d chunks", height, len(plan.paths))

    async def _get_served_plan(self, height: Height) -> ServedPlan | None:
        """The plan of the snapshot at `height`, computed once (in a thread) and kept while it is offered."""
        future = self._served_plans.get(height)
        if future is None:
            offered = set(self._get_snapshot_heights(self.height))
            for old in [old for old in self._served_plans if old not in offered]:
                del self._served_plans[old]
            future = asyncio.get_running_loop().run_in_executor(
                self._snapshot_executor, self._compute_served_plan, height
            )
            self._served_plans[height] = future
        return await asyncio.shield(future)

    def _compute_served_plan(self, height: Height) -> ServedPlan | None:
        try:
            plan = compute_snapshot_plan(self.store.kv, height, self._config.state_sync.chunk_entries_max)
            paths = tuple(path for path, _ in plan)
        except (NotFoundError, StorageError) as error:
            logger.info("snapshot %d cannot be offered: %s", height, error)
            return None
        return ServedPlan(height, Hash(compute_snapshot_plan_hash(self._suite, paths)), paths)

    # --- properties --------------------------------------------------------------------

    @property
    def suite(self) -> CryptoSuite:
        return self._suite

    @property
    def chain_id(self) -> str:
        return self._genesis.chain_id

    @property
    def address(self) -> Address:
        return self._address

    @property
    def store(self) -> BlockStore:
        assert self._store is not None, "node not started"
        return self._store

    @property
    def height(self) -> Height:
        assert self._tip_header is not None, "node not started"
        return self._tip_header.height

    # --- engine driver ---------------------------------------------------------------

    def _on_engine_event(self, event: Event) -> None:
        self._driver.on_event(event)
        engine = self._driver.engine
        if isinstance(engine, RaftEngine) and (engine.leader, engine.term) != self._raft_leader_logged:
            self._raft_leader_logged = (engine.leader, engine.term)
            if engine.leader is not None:
                logger.info("raft: leader %s in term %d", engine.leader.hex(), engine.term)

    # --- the driver's action handler (`gusu.node.driver.ActionHandler`) ------------------

    def is_running(self) -> bool:
        return self._running

    def may_continue(self, applied: int) -> bool:
        return self._running

    def on_local_fault(self, error: BaseException) -> None:
        # The rest of the action list (votes that a failed WAL write should have backed, above
        # all) has not been and will not be carried out.
        self._fail_stop(error)

    def _fail_stop(self, error: BaseException) -> None:
        """A local fault (disk, WAL, memory): stop at once, sending nothing more (fail-stop).

        It never becomes a receipt, a vote, or a verdict about a peer: a node that cannot record what
        it signs must not sign, and one that cannot read its state must not judge blocks.
        """
        if self._fatal is not None:
            return
        self._fatal = error
        self._running = False
        for outbox in self._outboxes.values():
            outbox.clear()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        logger.critical("stopping: a local fault makes it unsafe to go on: %s", error)
        self._on_fatal(error)

    @property
    def fatal_error(self) -> BaseException | None:
        """The local fault that stopped the node, if one did."""
        return self._fatal

    def _on_admitted(self) -> None:
        self._on_engine_event(self.get_pool_event())
        self._schedule_early_execution()

    def get_pool_event(self) -> TransactionsAvailable:
        return TransactionsAvailable(self._mempool.transaction_count, self._mempool.byte_count, self._clock())

    def apply_append_wal(self, action: AppendWal) -> None:
        assert self._wal is not None, "only the BFT engine writes the WAL"
        self._wal.append([action.record])

    def apply_rewrite_wal(self, action: RewriteWal) -> None:
        assert self._wal is not None, "only the Raft engine rewrites the WAL"
        self._wal.compact(action.records)

    def _is_silent(self) -> bool:
        """Whether consensus messages are held back: after a restore, until the node has caught up.

        A validator whose WAL was lost may have signed heights above the backup's; once its height reaches
        the highest its peers report, the heights ahead are ones it never saw, and it speaks again.
        """
        if not self._silent_after_restore:
            return False
        highest = self._block_sync.scheduler.get_highest_peer_height()
        if highest is None or self.height < highest:
            return True
        self._silent_after_restore = False
        (self._config.data_path / RESTORED_MARKER_FILE_NAME).unlink(missing_ok=True)
        logger.info("caught up at height %d after the restore: taking part in consensus again", self.height)
        return False

    def apply_broadcast(self, action: Broadcast) -> None:
        if self._is_silent():
            return
        if self._is_raft:
            self._raft_exchange.send_message(None, action.message)
        else:
            self._proposals.send_message(None, action.message)

    def apply_send_message(self, action: SendMessage) -> None:
        if self._is_silent():
            return
        if self._is_raft:
            self._raft_exchange.send_message(action.recipient, action.message)
        else:
            self._proposals.send_message(action.recipient, action.message)

    def apply_validate_proposal(self, action: ValidateProposal) -> Event | None:
        return self._proposals.on_validate_proposal(action)

    def apply_report_evidence(self, action: ReportEvidence) -> None:
        logger.warning("equivocation by a validator: %s", action.evidence)
        if self._evidence is not None and isinstance(action.evidence, Equivocation):
            self._evidence.append(action.evidence, self.height)

    def apply_schedule_timer(self, action: ScheduleTimer) -> None:
        key = (int(action.height), int(action.round), action.kind)
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self._on_engine_event(TimerFired(action.height, action.round, action.kind, self._clock()))

        self._timers[key] = asyncio.get_running_loop().call_later(max(action.delay_ms, 0) / 1000, fire)

    def apply_build_proposal(self, action: BuildProposal) -> Event:
        self._proposal_started_s = time.perf_counter()
        block, proposal = self._build_block(action.height, action.timestamp_ms)
        self._proposal = proposal
        if self._is_networked:
            self._proposals.add_own(proposal.block_hash, block, proposal)
            # The engine will record (WAL) and may re-send this proposal after a crash;
            # its body must survive too, or the re-sent proposal would come without it.
            assert self._proposal_bodies is not None
            self._proposal_bodies.append([encode_raw_block(block)])
        return ProposalBuilt(
            height=action.height,
            round=action.round,
            block_hash=proposal.block_hash,
            timestamp_ms=proposal.header.timestamp_ms,
            transaction_count=proposal.header.transaction_count,
        )

    def _build_block(self, height: Height, timestamp_ms: int) -> tuple[RawBlock, CommittedBlock]:
        rules = self._rules  # the limits in force at this height, which governance may have changed
        entries = self._mempool.select(rules.block_transactions_max, rules.block_bytes_max, height)
        early, self._early = self._early, None
        if (
            early is not None
            and early.is_for(height, timestamp_ms, self._tip_hash, rules, self.store)
            and early.is_prefix_of(entries)
        ):
            builder = early.builder  # the block so far: execute the rest (`gusu.node.early`)
            self._counters.early_blocks += 1
            self._counters.early_transactions += len(builder.entries)
            builder.add_each(entries[len(builder.entries) :])
            outcome = builder.finish()
        else:
            if early is not None:
                self._counters.early_dropped += 1
            # Capped by gas too: a block heavier than a round can build, re-execute and store only costs rounds.
            gas_max = self._config.consensus.proposal_gas_max
            outcome = self._execute_block(height, timestamp_ms, self._address, entries, gas_max=gas_max)
        return RawBlock(outcome.header, outcome.raw_transactions), outcome

    def apply_prepare_proposal(self, action: PrepareProposal) -> None:
        """Start executing the block of `action.height` early (`gusu.node.early`)."""
        parent = self._tip_header
        if not self._config.consensus.early_execution or parent is None or action.height != parent.height + 1:
            return
        builder = BlockBuilder(
            self._rules,
            self._executor,
            self.store,
            self.store.state_tree,
            parent,
            self._tip_hash,
            action.timestamp_ms,
            self._address,
            self._config.consensus.proposal_gas_max,
        )
        self._early = EarlyBlock(action.height, action.timestamp_ms, self._tip_hash, self._rules, self.store, builder)
        self._schedule_early_execution()

    def _schedule_early_execution(self) -> None:
        if self._early is not None and not self._early_scheduled:
            self._early_scheduled = True
            asyncio.get_running_loop().call_soon(self._execute_early)

    def _execute_early(self) -> None:
        """One slice of early execution, between requests; then another, while the pool has more for the block."""
        self._early_scheduled = False
        early = self._early
        if early is None or not self._running:
            return
        rules = self._rules
        if not early.is_on(self._tip_hash, rules, self.store):
            self._early = None
            self._counters.early_dropped += 1
            return
        if self._mempool.transaction_count > EARLY_POOL_TRANSACTIONS_MAX:
            return
        selection = self._mempool.peek(rules.block_transactions_max, rules.block_bytes_max, early.height)
        if not early.is_prefix_of(selection):
            self._early = None  # the pool changed under it: the block will be built at once, as without
            self._counters.early_dropped += 1
            return
        try:
            if not early.builder.add_each(early.get_next_slice(selection)):
                return
        except (StorageError, MemoryError) as error:
            self._early = None
            self._fail_stop(error)
            return
        except BaseException:
            self._early = None  # a fault of ours: the block is built from scratch (and fails there too)
            raise
        if len(early.builder.entries) < len(selection):
            self._schedule_early_execution()

    def _execute_block(
        self,
        height: Height,
        timestamp_ms: int,
        proposer: Address,
        entries: Sequence[PoolTransaction],
        *,
        gas_max: int | None = None,
    ) -> CommittedBlock:
        """Execute `entries` on the tip's state: the block they make (with `gas_max`, of a prefix of them), and all
        it would commit."""
        parent = self._tip_header
        assert parent is not None and height == parent.height + 1
        return build_block(
            self._rules,
            self._executor,
            self.store,
            self.store.state_tree,
            parent,
            self._tip_hash,
            timestamp_ms,
            proposer,
            entries,
            gas_max=gas_max,
        )

    async def validate_block(self, block: RawBlock) -> CommittedBlock:
        """Check a block another node proposed on top of our tip, by the block rules (`gusu.node.blocks`).

        Returns everything the block commits (as `_execute_block` would have
        built it) or raises InvalidBlockError saying what is wrong. Any other
        error (the verifier is saturated, the disk failed) is not a verdict on
        the block. Transactions already in our pool are recognised by their
        encoding and cost neither decoding, hashing nor a signature check: the
        pool holds only canonical, verified, uncommitted transactions of this chain.
        """
        header = block.header
        parent = self._tip_header
        rules = self._rules
        assert parent is not None
        check = start_block_check(
            rules, parent, self._tip_hash, block, self.store.has_transaction, self._mempool.get_by_raw
        )
        unverified: list[int] = []
        shared: list[tuple[int, asyncio.Future[list[bool]], int]] = []
        """Positions whose signature an admission in progress is verifying: (position, its batch, index)."""
        for position in check.unverified:
            admission = self._verifying.get(block.raw_transactions[position])
            if admission is None:
                unverified.append(position)
            else:
                shared.append((position, *admission))
        entries = check.entries
        for batch in {id(batch): batch for _, batch, _ in shared}.values():
            self._verifier.expedite(batch)  # the whole network waits for this block's check
        verdicts = await self._verify_block_signatures(entries, unverified)
        retry: list[int] = []
        for position, batch, index in shared:
            try:
                # Shielded: this check must not cancel the admission it shares.
                verdicts[position] = (await asyncio.shield(batch))[index]
            except GusuError:
                retry.append(position)  # that admission failed: verify it here
            except asyncio.CancelledError:
                if not batch.cancelled():
                    raise  # we are cancelled ourselves
                retry.append(position)
        verdicts.update(await self._verify_block_signatures(entries, retry))
        if self._tip_header is not parent:
            raise InvalidBlockError(f"the tip moved while block {header.height} was being checked; check it again")
        return finish_block_check(
            rules, self._executor, self.store, self.store.state_tree, parent, self._tip_hash, check, verdicts
        )

    async def _verify_block_signatures(
        self, entries: Sequence[PoolTransaction], positions: list[int]
    ) -> dict[int, bool]:
        """Verify the signatures of `entries` at `positions`, ahead of the admission queue."""
        if not positions:
            return {}
        self._counters.block_signatures_verified += len(positions)
        items = [get_signature_check(entries[i]) for i in positions]
        return dict(zip(positions, await self._verifier.verify(items, urgent=True), strict=True))

    async def import_block(self, block: RawBlock, certificate: CommitCertificate) -> CommittedBlock:
        """Validate and commit a block decided elsewhere (block sync).

        The certificate is stored as given: checking it against the validator
        set is the caller's job (the BFT milestone's certificate verifier).
        """
        if self._proposal is not None and not self._is_networked:
            raise InvalidBlockError("a proposal of this node is in flight; import the block after it commits")
        if certificate.block_hash != compute_block_hash(self._suite, block.header):
            raise InvalidBlockError(f"the certificate of block {block.header.height} is for another block")
        if self._commit_in_flight is not None:
            raise NodeError("a block decided by consensus is being stored; import after it")
        self._proposal_started_s = time.perf_counter()
        outcome = await self.validate_block(block)
        if self._commit_in_flight is not None:
            raise NodeError("a block decided by consensus is being stored; import after it")
        committed = replace(outcome, certificate=certificate)
        self.store.commit_block(committed)
        self._on_block_stored(committed)
        if self._switch_engine_if_scheduled():
            return committed
        # The engine decides heights; tell it where the chain now stands, and what the block left pending.
        next_height = Height(committed.header.height + 1)
        validators, next_validators = self._schedule.get_engine_sets(next_height)
        self._on_engine_event(
            Start(
                height=next_height,
                now_ms=self._clock(),
                last_block_time_ms=committed.header.timestamp_ms,
                pool_transaction_count=self._mempool.transaction_count,
                validators=validators,
                next_validators=next_validators,
                engine_settings=self._engine_settings,
                last_block_round=self._get_raft_term_of(committed.header.height),
            )
        )
        return committed

    def _sign_certificate(self, height: Height, round_: Round, block_hash: Hash) -> CommitCertificate:
        timestamp_ms = self._clock()
        message = self._suite.hash(encode_commit_vote(self._genesis.chain_id, height, round_, block_hash, timestamp_ms))
        signature = self._suite.sign(self._key, message)
        return CommitCertificate(
            height=height,
            round=round_,
            block_hash=block_hash,
            signatures=(CommitSignature(self._address, timestamp_ms, signature),),
        )

    def apply_commit_block(self, action: CommitBlock) -> Event | None:
        """Write the block in the store's thread and answer `BlockCommitted` when it is durable.

        The write (one fsynced batch) takes 50-600 ms under load; on the event loop it held up every
        vote and admission meanwhile. The engine has decided and waits for `BlockCommitted`, and block
        sync waits too (`_commit_in_flight`), so nothing else can write a block in between. A solo node
        writes a small block on the loop instead (`_is_commit_inline`).
        """
        proposal = self._proposals.validated.get(action.block_hash)
        if proposal is None:
            proposal = self._proposal
        assert proposal is not None and proposal.block_hash == action.block_hash, "commit of an unvalidated block"
        self._proposal = None
        certificate = action.certificate or self._sign_certificate(action.height, action.round, action.block_hash)
        committed = CommittedBlock(
            header=proposal.header,
            block_hash=proposal.block_hash,
            transaction_ids=proposal.transaction_ids,
            raw_transactions=proposal.raw_transactions,
            senders=proposal.senders,
            receipts=proposal.receipts,
            writes=proposal.writes,
            certificate=certificate,
            tree_update=proposal.tree_update,
        )
        started_s = time.perf_counter()
        assert self._commit_in_flight is None, "the engine decided a height while the previous one was being stored"
        if self._is_commit_inline(committed):
            written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            try:
                self.store.commit_block(committed)
                written.set_result(None)
            except Exception as error:  # as the thread's future would carry it: `_on_commit_written` fail-stops
                written.set_exception(error)
            self._commit_in_flight = written
            # Next on the loop, before it reads any request that arrived meanwhile: those see the new tip.
            asyncio.get_running_loop().call_soon(self._on_commit_written, written, committed, action.round, started_s)
            return None
        self._commit_in_flight = asyncio.get_running_loop().run_in_executor(
            self._store_executor, self.store.commit_block, committed
        )
        self._commit_in_flight.add_done_callback(
            lambda future: self._on_commit_written(future, committed, action.round, started_s)
        )
        return None

    def _is_commit_inline(self, committed: CommittedBlock) -> bool:
        """Whether to write `committed` on the event loop rather than in the store's thread: a solo node's small
        block (`[storage] inline_commit_transactions_max`).

        Such a write takes a few milliseconds. In the thread it costs more than that: its Python parts wait for
        the interpreter lock while the loop serves requests, and the block becomes visible only on a later turn
        of the loop, after the requests that arrived while it was built have been answered from the old tip.
        A networked node keeps the thread: votes and peers' messages must not wait for a disk. So does a write
        while a pruning round runs in that thread: the loop would wait behind the round's batch and its sync."""
        return (
            not self._is_networked
            and self._pruning_in_flight is None
            and len(committed.transaction_ids) <= self._config.storage.inline_commit_transactions_max
        )

    def _on_commit_written(
        self, future: asyncio.Future[None], committed: CommittedBlock, round_: Round, started_s: float
    ) -> None:
        self._commit_in_flight = None
        if future.cancelled() or not self._running:
            return
        error = future.exception()
        if error is not None:
            self._fail_stop(error)  # the store could not write: a local fault, whatever it was
            return
        if self._is_networked:
            logger.info(
                "committed block %d (round %d, %d transactions) %.0f ms after its height started; stored in %.0f ms",
                committed.header.height,
                round_,
                len(committed.transaction_ids),
                (started_s - self._height_started_s) * 1000,
                (time.perf_counter() - started_s) * 1000,
            )
        self._on_block_stored(committed)
        if self._switch_engine_if_scheduled():
            return
        validators, next_validators = self._schedule.get_engine_sets(Height(committed.header.height + 1))
        self._on_engine_event(
            BlockCommitted(
                height=committed.header.height,
                block_hash=committed.block_hash,
                now_ms=self._clock(),
                timestamp_ms=committed.header.timestamp_ms,
                validators=validators,
                next_validators=next_validators,
                engine_settings=self._engine_settings,
            )
        )
        # What the commit left in the pool: the engine decides from it whether to go on.
        self._on_engine_event(self.get_pool_event())

    def _switch_engine_if_scheduled(self) -> bool:
        """After storing the tip: if the schedule names another engine for the next height, stop this one and
        start that one there (docs/consensus.md, "Switching engines"). True if it switched.

        The old engine never hears that its last height committed, so it neither builds nor votes beyond it;
        its timers are cancelled and its WAL closed (Tendermint's is empty after a commit; Raft's keeps its
        term and vote for a later Raft period, since a Raft member must never vote twice in one term). The new
        engine starts from its own WAL file, as after a restart.
        """
        assert self._tip_header is not None
        next_height = Height(self.height + 1)
        consensus = self._get_engine_name_at(next_height)
        old = self._driver.engine
        if consensus == old.name:
            return False
        try:
            self._validate_engine_switch(consensus)
        except NodeError as error:
            self._fail_stop(error)
            return True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._reported_peers = None  # the new engine hears which validators we reach at the next status tick
        validators, next_validators = self._schedule.get_engine_sets(next_height)
        self._driver = EngineDriver(self._make_engine(consensus, validators, self._engine_settings), self)
        wal_records: tuple[bytes, ...] = ()
        try:
            if self._wal is not None:
                self._wal.close()
            path = self._get_wal_path()
            wal_records = tuple(read_records(path, "consensus WAL"))
            self._wal = RecordLog(path)
        except (StorageError, CodecError) as error:
            self._fail_stop(error)
            return True
        logger.info("height %d: consensus switches from %s to %s", next_height, old.name, consensus)
        self._on_engine_event(
            Start(
                height=next_height,
                now_ms=self._clock(),
                last_block_time_ms=self._tip_header.timestamp_ms,
                wal_records=wal_records,
                pool_transaction_count=self._mempool.transaction_count,
                validators=validators,
                next_validators=next_validators,
                engine_settings=self._engine_settings,
                last_block_round=self._get_raft_term_of(self.height),
            )
        )
        self._on_engine_event(self.get_pool_event())
        return True

    def _on_block_stored(self, committed: CommittedBlock) -> None:
        header = committed.header
        self._tip_header = header
        self._tip_hash = committed.block_hash
        self._refresh_configuration()
        self._proposals.on_block_stored(header.height)
        if self._wal is not None and not self._is_raft:
            # The WAL guards the height being decided; a committed height needs no guard. (Raft's
            # records outlive heights; its engine rewrites them with `RewriteWal`.)
            self._wal.compact([])
        if self._proposal_bodies is not None:
            # Raft may hold an entry one height further, acknowledged to the leader: keep its body.
            kept = self._bodies.get_above(header.height) if self._is_raft else []
            self._proposal_bodies.compact([encode_raw_block(block) for block in kept])
        # The pool still holds the block's transactions, decoded: keep them with the block for the queries. Only an
        # entry of the very bytes the block holds: a Gusu transaction's id leaves out its signature, so the pool may
        # hold the same transaction signed again (SM2 signatures differ each time) while the block has the other.
        entries = [self._mempool.get(transaction_id) for transaction_id in committed.transaction_ids]
        self._recent_blocks.record(
            committed,
            [
                entry.transaction if entry is not None and entry.raw == raw else None
                for entry, raw in zip(entries, committed.raw_transactions, strict=True)
            ],
        )
        now_ms = self._clock()
        dropped = self._mempool.on_block_committed(
            header.height, committed.transaction_ids, self._get_eth_account_nonces(committed)
        )
        for transaction_id in committed.transaction_ids:
            admitted = self._admitted_at_ms.pop(transaction_id, None)
            if admitted is not None:
                self._transaction_commit_seconds.observe(max(now_ms - admitted, 0) / 1000)
        for item in dropped:
            self._admitted_at_ms.pop(item.transaction_id, None)
            logger.info("dropped transaction %s: %s", item.transaction_id.hex(), item.reason)
        self._height_started_s = time.perf_counter()
        self._counters.blocks_committed += 1
        self._counters.transactions_committed += header.transaction_count
        self._counters.transactions_failed += sum(1 for receipt in committed.receipts if not receipt.is_success)
        self._counters.transactions_dropped += len(dropped)
        self._block_commit_seconds.observe(time.perf_counter() - self._proposal_started_s)
        self._schedule_journal_compaction()
        self._schedule_pruning()
        interval = self._config.state_sync.snapshot_interval_blocks
        if self._is_networked and interval and header.height % interval == 0:
            self._warm_snapshot_plans()
        # Governance's registry as of this block: cut removed organisations and revoked certificates,
        # and tell the engine at once whom it lost (a cut proposer's round need not wait for the next report).
        if self._network is not None and self._network.enforce_trust():
            self._report_peers()
        notification = BlockNotification(header, committed.block_hash, committed.transaction_ids, committed.receipts)
        for listener in list(self._listeners):
            try:
                listener(notification)
            except Exception:
                logger.exception("a block listener failed; removing it")
                self._listeners.remove(listener)

    def _get_eth_account_nonces(self, committed: CommittedBlock) -> dict[Address, int] | None:
        """The EVM nonces after `committed` of its senders with pending Ethereum transactions (a Gusu
        `evm.call` moves the nonce too), so the pool drops what can no longer run; None if none."""
        senders = {sender: None for sender in committed.senders if self._mempool.has_eth_transactions(sender)}
        if not senders:
            return None
        from gusu.execution.evm.ethapply import read_eth_account

        return {sender: read_eth_account(self.store, sender)[0] for sender in senders}

    # --- BFT: proposals, votes, block sync ------------------------------------------------

    def _restore_proposal_bodies(self) -> None:
        """Reload the bodies of our own proposals at the height being decided (see `apply_build_proposal`)."""
        path = self._config.data_path / PROPOSAL_BODIES_FILE_NAME
        next_height = self.height + 1
        for raw in read_records(path, "proposal-body log"):
            try:
                block = decode_raw_block(raw)
            except CodecError:
                continue  # only ever our own writes; a torn one is simply not restored
            if block.header.height == next_height or (self._is_raft and block.header.height > next_height):
                self._proposals.add_own(compute_block_hash(self._suite, block.header), block)
        self._proposal_bodies = RecordLog(path)

    def _record_received(self, message: Message) -> None:
        """`[debug] received_votes_path`: keep every peer's proposal and vote (see `gusu.node.debug`)."""
        if self._received_log is not None:
            self._received_log.on_message(message)

    def _enqueue(self, recipient: Address | None, channel: str, body: bytes) -> None:
        """Queue `body` for `recipient` (None: every connected peer) without waiting.

        Each peer has its own queue, bounded in messages and bytes, and its own sender: a peer that
        stops reading fills only its own queue (what does not fit is dropped; the engine re-sends
        its current messages), and our votes to everyone else go on.
        """
        network = self._network
        if network is None or self._fatal is not None:
            return
        recipients = [peer.address for peer in network.connected_peers()] if recipient is None else [recipient]
        for peer in recipients:
            outbox = self._outboxes.get(peer)
            if outbox is None:
                outbox = self._outboxes[peer] = PeerOutbox(
                    OUTBOX_MESSAGES_MAX_PER_PEER, self._config.p2p.peer_queue_bytes_max
                )
                self._spawn(self._run_outbox(peer, outbox))
            if not outbox.push(channel, body):
                self._counters.outbox_dropped += 1
                logger.debug("outbox to %s full; dropping a %s message", peer.hex()[:12], channel)

    async def _run_outbox(self, peer: Address, outbox: PeerOutbox) -> None:
        """Send one peer's queue in order; waiting here holds up this peer only."""
        while True:
            channel, body = await outbox.pop()
            network = self._network
            if network is None or self._fatal is not None:
                continue
            try:
                await network.send(peer, channel, body)
            except GusuError as error:
                logger.debug("send to %s failed: %s", peer.hex()[:12], error)

    async def _run_sync_status(self) -> None:
        """Tell peers our height now and then, so whoever is behind asks for blocks."""
        while True:
            # Disconnections are noticed here, within a second; connections at once (`_on_peer_connected`).
            self._report_peers()
            if self._network is not None and self._tip_header is not None:
                try:
                    await self._network.broadcast(CHANNEL_SYNC, encode_status(self._tip_header.height))
                except GusuError as error:
                    logger.debug("status broadcast failed: %s", error)
                self._request_blocks_if_behind()
                self._forward_pool_to_leader()
            await asyncio.sleep(SYNC_STATUS_INTERVAL_S)

    def _forward_pool_to_leader(self) -> None:
        """Raft: send the leader the transactions that have waited here (`RAFT_FORWARD_AGE_MS`, at most
        `RAFT_FORWARD_MAX` a second). Gossip is sent once; Tendermint's rotating proposer eventually proposes
        what only this node holds, but a stable Raft leader never would if its copy was dropped (a full outbox).
        With no live leader known (an observer, a member removed by a configuration change, a restart) one
        member of the next height gets them instead, another each second (`compute_forward_target`)."""
        engine = self._driver.engine
        if not isinstance(engine, RaftEngine) or self._tip_header is None:
            return
        now_ms = self._clock()
        next_set = self._schedule.get_validator_set(Height(self._tip_header.height + 1))
        members = () if next_set is None else tuple(validator.address for validator in next_set.validators)
        self._forward_attempts += 1
        target = compute_forward_target(self._address, engine.get_live_leader(now_ms), members, self._forward_attempts)
        if target is None:
            return
        cutoff_ms = now_ms - RAFT_FORWARD_AGE_MS
        raws: list[Value] = []
        for raw in self._mempool.iterate_raw():
            entry = self._mempool.get_by_raw(raw)
            admitted_ms = None if entry is None else self._admitted_at_ms.get(entry.transaction_id)
            if admitted_ms is not None and admitted_ms <= cutoff_ms:
                raws.append(raw)
                if len(raws) >= RAFT_FORWARD_MAX:
                    break
        for start in range(0, len(raws), GOSSIP_TRANSACTIONS_MAX):
            body = encode([TAG_TRANSACTION_GOSSIP, raws[start : start + GOSSIP_TRANSACTIONS_MAX]])
            self._enqueue(target, CHANNEL_TRANSACTIONS, body)

    async def _on_sync_body(self, peer: Address, body: bytes) -> None:
        message = decode_sync_body(body)
        network = self._network
        if network is None or self._tip_header is None or not self._running:
            return
        if isinstance(message, SyncStatus):
            self._block_sync.on_status(peer, message.height)
        elif isinstance(message, SyncRequest):
            self._block_sync.answer_request(peer, message)
        elif isinstance(message, BodyRequest):
            self._proposals.answer_body_request(peer, message.block_hash)
        elif isinstance(message, BodyAnswer):
            self._proposals.on_body_answer(message.block)
        else:
            await self._block_sync.on_blocks(peer, message)

    def _request_blocks_if_behind(self) -> None:
        if self._network is not None and self._tip_header is not None:
            self._block_sync.request_if_behind()

    def _refresh_configuration(self) -> None:
        """Read the configuration schedule of the state after the tip: the next block's rules, the sets around."""
        header = self._tip_header
        assert header is not None
        schedule = get_config_schedule(self._genesis, self.store)
        self._schedule.update(schedule, header.height)
        self._rules = compute_block_rules(self._genesis, self._suite, schedule, Height(header.height + 1))
        config = get_config_at(schedule, Height(header.height + 1))
        if config.consensus == CONSENSUS_TENDERMINT and config != self._engine_settings_config:
            self._engine_settings_config = config
            try:
                self._engine_settings = compute_bft_settings(self._genesis, self._solo_settings, config)
            except ConfigError as error:
                # Governance validates parameters before a change passes; should one slip through, the
                # timeouts in force stay (they only pace rounds), and the operator hears of it.
                logger.error("height %d: %s; keeping the consensus timeouts in force", header.height + 1, error)

    def _get_raft_term_of(self, height: Height) -> Round | None:
        """The Raft term of the stored block at `height`: its certificate's round if Raft certified it (None
        for a block of another engine, whose round is no Raft term)."""
        if height == 0 or self._get_engine_name_at(height) != CONSENSUS_RAFT:
            return None
        certificate = self.store.get_certificate(height)
        return None if certificate is None else certificate.round

    def _get_stored_block(self, height: Height) -> tuple[Hash, RawBlock] | None:
        """A committed block with its hash, for a Raft leader re-sending committed entries."""
        raw = self.get_raw_block(height)
        if raw is None:
            return None
        block = decode_raw_block(raw[0])
        return compute_block_hash(self._suite, block.header), block

    def _persist_proposal_bodies(self, raws: list[bytes]) -> None:
        assert self._proposal_bodies is not None
        self._proposal_bodies.append(raws)

    def _verify_synced_certificate(self, block: RawBlock, certificate: CommitCertificate) -> None:
        if certificate.height != block.header.height:
            raise InvalidBlockError(
                f"a certificate for height {certificate.height} came with block {block.header.height}"
            )
        # The set in force at the certified height, by the schedule of our state: block sync crosses changes.
        validator_set = self._schedule.get_validator_set(block.header.height)
        if validator_set is None:
            raise InvalidBlockError(f"block {block.header.height} is too far ahead of our tip to check its certificate")
        if self._get_engine_name_at(block.header.height) == CONSENSUS_RAFT:
            # A Raft certificate is the signature of the leader that ordered the block (docs/consensus.md); each
            # block is checked by the engine in force at its height (a chain may switch engines).
            verify_raft_certificate(self._suite, self._genesis.chain_id, validator_set, certificate)
            if certificate.block_hash != compute_block_hash(self._suite, block.header):
                raise InvalidBlockError(f"the certificate of block {block.header.height} is for another block")
            return
        verify_commit_certificate(
            self._suite,
            self._genesis.chain_id,
            validator_set,
            certificate,
            expected_block_hash=compute_block_hash(self._suite, block.header),
        )

    def _schedule_journal_compaction(self) -> None:
        journal = self._journal
        if journal is None or self._journal_executor is None:
            return
        threshold = max(self._config.node.journal_compact_bytes_min, 4 * self._mempool.byte_count)
        if journal.size_bytes < threshold:
            return
        # Appends run on the same single thread, so the snapshot taken here
        # (which holds every admitted transaction) lands after any queued append.
        future = self._journal_executor.submit(journal.compact, list(self._mempool.iterate_raw()))
        future.add_done_callback(_log_compaction_failure)

    # --- admission -------------------------------------------------------------------

    async def submit_transactions(self, raws: Sequence[bytes]) -> list[SubmitOutcome]:
        """Admit a client's transactions; each one acknowledged with an id is durable (journaled)
        and will either commit or be reported dropped with a reason. Newly admitted ones go to
        every peer."""
        outcomes = await self._admit_and_record(raws)
        admitted = [raw for raw, outcome in zip(raws, outcomes, strict=True) if outcome.error is None]
        if admitted and self._network is not None:
            await self._network.broadcast(CHANNEL_TRANSACTIONS, encode([TAG_TRANSACTION_GOSSIP, list(admitted)]))
        return outcomes

    def _report_peers(self) -> None:
        """Tell the engine which validators we reach, when that changed (it shortens a dead proposer's turn)."""
        if self._network is None:
            return
        connected = frozenset(peer.address for peer in self._network.connected_peers())
        if connected != self._reported_peers:
            self._reported_peers = connected
            self._on_engine_event(PeersChanged(connected))

    def _on_peer_connected(self, peer: Address) -> None:
        """Hand a peer that (re)connected everything pending here: gossip is sent once and never
        relayed, so what it missed while cut off would otherwise wait for our turn to propose."""
        if self._state_sync is not None:
            self._apply_state_sync_actions(self._state_sync.on_peer_connected(peer, time.monotonic()))
        if self._tip_header is None:
            return  # joining by state sync: no engine, no pool yet
        self._report_peers()
        raws: list[Value] = list(self._mempool.iterate_raw())
        for start in range(0, len(raws), GOSSIP_TRANSACTIONS_MAX):
            body = encode([TAG_TRANSACTION_GOSSIP, raws[start : start + GOSSIP_TRANSACTIONS_MAX]])
            self._enqueue(peer, CHANNEL_TRANSACTIONS, body)

    async def _on_gossip_transactions(self, peer: Address, body: bytes) -> None:
        """Transactions a peer admitted from its clients. A malformed message disconnects the peer
        (CodecError); transactions we refuse (already known, expired here) are simply not admitted.

        They are neither journaled nor passed on. The admitting node journaled them and sent
        them to every validator directly (validators form a full mesh), so relaying would only
        hand each node the same transactions again, and each copy costs a decode and a hash
        before it is recognised. A transaction that misses a node (a link was down) still
        commits: the node that admitted it proposes it in its turn, and the others check it then.
        """
        fields = decode_list(body, TAG_TRANSACTION_GOSSIP, 2)
        raws = [
            expect_bytes(item, "gossiped transaction")
            for item in expect_list(fields[1], "gossip", GOSSIP_TRANSACTIONS_MAX)
        ]
        if not self._running:
            return
        fresh = [raw for raw in raws if self._mempool.get_by_raw(raw) is None]
        if not fresh:
            return
        if self._gossip_admissions >= GOSSIP_ADMISSIONS_MAX:
            # Gossip is lossy by design: a transaction dropped here is checked when a block brings it.
            self._counters.gossip_dropped += len(fresh)
            return
        # Not awaited: the transport reads this peer's next message (a vote, say) only once this
        # handler returns, and under load the signatures may wait seconds for the verifier.
        self._gossip_admissions += 1
        self._spawn(self._admit_gossip(fresh))

    async def _admit_gossip(self, raws: list[bytes]) -> None:
        try:
            await self._admit(raws)
        finally:
            self._gossip_admissions -= 1

    async def _admit_and_record(self, raws: Sequence[bytes]) -> list[SubmitOutcome]:
        outcomes = await self._admit(raws)
        self._counters.transactions_rejected += sum(1 for outcome in outcomes if outcome.error is not None)
        admitted = [raw for raw, outcome in zip(raws, outcomes, strict=True) if outcome.error is None]
        if admitted and self._journal_appender is not None:
            try:
                # Concurrent admissions share an fsync (group commit): one-transaction requests would
                # otherwise each wait for an fsync of their own.
                await self._journal_appender.append(admitted)
            except GusuError as error:
                self._fail_stop(error)  # a journal that cannot be written is a local fault like any other
                failure = NodeError(
                    f"the node could not record the transaction durably ({error}); it may still commit: "
                    "query it by id before sending it again"
                )
                return [SubmitOutcome(None, failure) if outcome.error is None else outcome for outcome in outcomes]
        return outcomes

    async def _admit(self, raws: Sequence[bytes]) -> list[SubmitOutcome]:
        return await self._admission.admit(raws)

    # --- queries ------------------------------------------------------------------------

    def get_status(self) -> NodeStatus:
        header = self._tip_header
        assert header is not None
        return NodeStatus(
            chain_id=self._genesis.chain_id,
            suite=self._genesis.suite,
            height=header.height,
            latest_block_hash=self._tip_hash,
            latest_block_time_ms=header.timestamp_ms,
            node_address=self._address,
            consensus=self._driver.engine.name,
            mempool_transactions=self._mempool.transaction_count,
            mempool_bytes=self._mempool.byte_count,
            version=__version__,
            transaction_window_blocks=self._mempool_limits.transaction_window_blocks,
        )

    def is_healthy(self) -> bool:
        return self._running and self._store is not None

    def get_peers(self) -> list[PeerInfo]:
        """The validators connected to this node now, by address (none on a one-validator chain)."""
        return [] if self._network is None else self._network.connected_peers()

    def get_evidence(self, limit: int, before_height: Height | None = None) -> list[EvidenceRecord]:
        """Equivocation evidence this node recorded, newest first (none on a one-validator chain)."""
        if self._evidence is None or limit <= 0:
            return []
        return self._evidence.get_newest(limit, before_height)

    def get_metrics(self) -> NodeMetrics:
        counters = self._counters
        return NodeMetrics(
            height=int(self.height),
            blocks_committed_total=counters.blocks_committed,
            transactions_committed_total=counters.transactions_committed,
            transactions_failed_total=counters.transactions_failed,
            transactions_rejected_total=counters.transactions_rejected,
            transactions_dropped_total=counters.transactions_dropped,
            mempool_transactions=self._mempool.transaction_count,
            mempool_bytes=self._mempool.byte_count,
            block_commit_seconds=self._block_commit_seconds.get_snapshot(),
            transaction_commit_seconds=self._transaction_commit_seconds.get_snapshot(),
            certificate_expiry_seconds=get_certificate_expiry_seconds(self._network),
            extra={
                "gusu_verifier_queue_items": float(self._verifier.queued_item_count),
                "gusu_journal_bytes": float(self._journal.size_bytes if self._journal is not None else 0),
                "gusu_block_signatures_verified_total": float(self._counters.block_signatures_verified),
                "gusu_gossip_transactions_dropped_total": float(self._counters.gossip_dropped),
                "gusu_outbox_messages_dropped_total": float(self._counters.outbox_dropped),
                "gusu_body_requests_refused_total": float(self._proposals.body_requests_refused),
                "gusu_early_blocks_total": float(self._counters.early_blocks),
                "gusu_early_transactions_total": float(self._counters.early_transactions),
                "gusu_early_blocks_dropped_total": float(self._counters.early_dropped),
            },
        )

    def get_block(self, height: Height) -> BlockRecord | None:
        return self._queries.get_block(height)

    def get_block_by_hash(self, block_hash: bytes) -> BlockRecord | None:
        return self._queries.get_block_by_hash(block_hash)

    def get_block_transactions(self, height: Height) -> list[TransactionRecord] | None:
        return self._queries.get_block_transactions(height)

    def get_raw_block(self, height: Height) -> tuple[bytes, bytes | None] | None:
        return self._queries.get_raw_block(height)

    def get_transaction(self, transaction_id: bytes) -> TransactionRecord | None:
        return self._queries.get_transaction(transaction_id)

    def get_sender_transactions(
        self, sender: Address, limit: int, before: tuple[Height, int] | None = None
    ) -> list[TransactionRecord]:
        return self._queries.get_sender_transactions(sender, limit, before)

    def get_receipt(self, transaction_id: bytes) -> ReceiptRecord | None:
        return self._queries.get_receipt(transaction_id)

    def get_events(
        self, contract: str, name: str | None, from_height: Height, to_height: Height, limit: int, receipts_max: int
    ) -> EventScan:
        return self._queries.get_events(contract, name, from_height, to_height, limit, receipts_max)

    def is_contract_known(self, contract: str) -> bool:
        return self._queries.is_contract_known(contract)

    # --- Ethereum transactions (docs/evm.md; the eth_* JSON-RPC calls these) ------------------------

    async def submit_eth_raw_transaction(self, raw: bytes) -> Hash:
        """Admit raw Ethereum transaction `raw` (eth_sendRawTransaction); its keccak hash once it is pooled
        and journaled. Raises the GusuError that says why not: an `sm` chain or one without the evm
        contract, wrong chain id, malformed, nonce too low (replay) or too high, underpriced, pool full..."""
        (outcome,) = await self.submit_eth_raw_transactions([raw])
        if isinstance(outcome, GusuError):
            raise outcome
        return outcome

    async def submit_eth_raw_transactions(self, raws: Sequence[bytes]) -> list[Hash | GusuError]:
        """Admit raw Ethereum transactions together (concurrent eth_sendRawTransaction requests a gateway handed
        over at once: one admission, one journal write); each one's hash, or the GusuError that refused it."""
        outcomes: list[Hash | GusuError | None] = [None] * len(raws)
        items: list[bytes] = []
        positions: list[int] = []
        for position, raw in enumerate(raws):
            if len(raw) > ETH_TRANSACTION_BYTES_MAX:
                outcomes[position] = TransactionTooLargeError(
                    f"the Ethereum transaction is {len(raw)} bytes; the limit is {ETH_TRANSACTION_BYTES_MAX}"
                )
            else:
                items.append(encode_eth_block_item(raw))
                positions.append(position)
        if items:
            for position, outcome in zip(positions, await self.submit_transactions(items), strict=True):
                if outcome.error is not None:
                    outcomes[position] = outcome.error
                else:
                    assert outcome.transaction_id is not None
                    outcomes[position] = outcome.transaction_id
        assert all(outcome is not None for outcome in outcomes)
        return cast(list[Hash | GusuError], outcomes)

    def get_eth_transaction(self, transaction_hash: bytes) -> EthTransactionRecord | None:
        """An Ethereum transaction by its keccak hash, committed (with its receipt record) or pending."""
        return self._queries.get_eth_transaction(transaction_hash)

    def get_eth_receipt(self, transaction_hash: bytes) -> EthReceiptRecord | None:
        """Ethereum's receipt fields of a committed Ethereum transaction (`gusu.execution.evm.ethreceipt`)
        and where it committed (height, index, block hash); None if not committed."""
        return self._queries.get_eth_receipt(transaction_hash)

    def get_eth_transaction_count(self, address: bytes, *, is_pending: bool = False) -> int:
        """eth_getTransactionCount: the committed EVM nonce, or with `is_pending` past the pooled ones."""
        return self._queries.get_eth_transaction_count(address, is_pending=is_pending)

    def call_at_height(
        self,
        height: Height,
        contract: str,
        method: str,
        args: bytes,
        sender: Address | None,
        state_overrides: Sequence[EthStateOverride] = (),
    ) -> CallResult:
        """Run a view on the state after block `height` (eth_call and friends at a past block), with
        `state_overrides` in front of it; NotFoundError when this node no longer keeps that state."""
        return self._queries.call_at_height(self.height, height, contract, method, args, sender, state_overrides)

    def get_eth_gas_price(self) -> int:
        """eth_gasPrice and every block's base fee: the chain's fee policy (genesis ``evm_gas_price``);
        0 on a chain without the evm contract (where py-evm is not even loaded)."""
        if ETH_CONTRACT not in self._genesis.contracts:
            return 0
        return self._queries.get_eth_gas_price()

    def get_transaction_proof(self, transaction_id: bytes) -> ProofRecord | None:
        return self._queries.get_proof(transaction_id, of_receipts=False)

    def get_receipt_proof(self, transaction_id: bytes) -> ProofRecord | None:
        return self._queries.get_proof(transaction_id, of_receipts=True)

    def get_state_proof(self, contract: str, key: bytes, height: Height | None = None) -> CertifiedStateProof:
        """`contract`'s `key` in the state after block `height` (None: the tip), proved (docs/state.md)."""
        return self._queries.get_state_proof(self.height, contract, key, height)

    def call(self, contract: str, method: str, args: bytes, sender: Address | None) -> CallResult:
        header = self._tip_header
        assert header is not None
        return self._queries.call(header, contract, method, args, sender)

    def add_block_listener(self, listener: BlockListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove
