"""The simulated cluster: real Tendermint engines, mempools and executors on a simulated clock and network.

Everything that happens is an entry in one priority queue ordered by
(simulated time, sequence number), and every random choice comes from the
run's seeded generators (one for faults and the network, one for the
clients), so a run is a pure function of (seed, scenario, node count,
crypto): `replay` reproduces it exactly, trace digest included.

Each simulated node plays the part of `gusu.node` for its engine, as
docs/bft.md specifies:

* timers per (height, round, kind), a new one replacing a pending one; on
  the node's own clock, which may be skewed;
* the application of `chain`: a real `Mempool`, blocks built from
  `Mempool.select` and executed with the real `Executor` on the node's
  committed state, real headers and block hashes; a validator re-executes
  a proposed block on its own state and answers `ProposalValidated`
  honestly; building and validating take a few milliseconds; a node told
  to build invalid blocks tampers with some (a wrong state root, a
  transaction twice, a replay of a committed one);
* clients (`workload`) submit transfers to nodes; a node admits them to
  its pool, journals what it admitted *before* acknowledging it (the
  journal is durable), then sends the admitted transactions once to every
  peer; a receiver admits them but neither journals nor relays them. The
  engine hears `TransactionsAvailable` after every admission and after
  every commit;
* messages travel encoded (`encode_message`), are decoded with bounds and
  their signatures verified before `MessageReceived`, which carries the
  receiving node's (skewed) clock; `ProposalValidated` carries the checked
  header's time and proposer;
* Byzantine validators run the real engine but lie about the time of the
  blocks they build (`_lie_about_time`), or flood their peers with signed
  proposals and votes (`_spam`); every honest engine's bookkeeping sizes
  are sampled (`_sample_bookkeeping`) against bounds that depend only on
  the settings, the validator count and the round reached;
* `AppendWal` goes to a durable list; the store (blocks with their
  certificates), the committed state and the transaction index are
  durable and change together, atomically, at each commit; everything else
  is lost in a crash (pool, timers, executed proposals, in-flight replies,
  the rest of an action list being carried out: "torn" crashes);
* a restarted node re-admits its journal (as `Node._open_journal` does),
  then starts from its store and WAL (`Start.wal_records`);
* block sync: every node tells its peers its height every
  `SYNC_STATUS_INTERVAL_MS` (as `Node._run_sync_status` does; in wait mode
  an idle chain sends nothing else, so this is how a node left behind
  learns it). A node that hears of a height above its own in a status, of
  a height more than one above its own in a consensus message, or of the
  next height while it has committed nothing for `SYNC_STALL_MS`, asks
  that peer for blocks with certificates, verifies
  each certificate (`verify_commit_certificate`), re-executes the block,
  stores it and reports `BlockCommitted`. (A peer one height ahead
  normally sends the precommits itself, but not after a restart: the
  engine keeps the last certificate only in memory.)
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field, replace
from typing import cast

from gusu.codec import decode
from gusu.consensus import (
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    Event,
    MessageReceived,
    PeersChanged,
    PrepareProposal,
    ProposalBuilt,
    ProposalValidated,
    ReportEvidence,
    RewriteWal,
    ScheduleTimer,
    SendMessage,
    Start,
    TendermintEngine,
    TendermintSettings,
    TimerFired,
    TransactionsAvailable,
    ValidateProposal,
    Validator,
    ValidatorSet,
    decode_message,
    encode_message,
    verify_commit_certificate,
    verify_message,
)
from gusu.consensus.messages import (
    NO_ROUND,
    ROUND_MAX,
    TIMESTAMP_MS_MAX,
    Equivocation,
    Message,
    Proposal,
    Vote,
    VoteKind,
    encode_signing_bytes,
    get_signer_address,
)
from gusu.consensus.raft import RaftEngine, RaftSettings, Role
from gusu.consensus.raft_messages import (
    TAG_APPEND_ENTRIES,
    TAG_APPEND_REPLY,
    TAG_REQUEST_VOTE,
    TAG_VOTE_REPLY,
    AppendEntries,
    AppendReply,
    RaftMessage,
    RequestVote,
    VoteReply,
    decode_raft_message,
    encode_raft_message,
    is_sender_bound,
    verify_entry,
    verify_raft_certificate,
)
from gusu.consensus.solo import SoloSettings
from gusu.consensus.tendermint import HELD_VOTES_MAX
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, GusuError, InvalidBlockError
from gusu.eval.simulation.chain import (
    BLOCK_BYTES_MAX,
    BLOCK_TRANSACTIONS_MAX,
    CHAIN_ID,
    CLIENT_BALANCE,
    CLIENT_COUNT,
    CLIENT_VALIDITY_BLOCKS,
    GENESIS_TIME_MS,
    ChainTip,
    Execution,
    ScheduleExecutor,
    SimBlock,
    TransactionDecoder,
    apply_tree_update,
    apply_writes,
    compute_sim_rules,
    execute_block,
    get_clients,
    get_genesis,
    make_block,
    make_genesis_state,
    make_genesis_state_tree,
    make_genesis_tip,
    make_genesis_writes,
    make_mempool,
    make_sim_config,
    make_transfer,
    validate_block,
)
from gusu.eval.simulation.crypto import SimIdentity, make_identities
from gusu.eval.simulation.scenarios import (
    CLOCK_MESSAGE_DELAY_MS,
    CLOCK_PRECISION_MS,
    HEALED_DELAY_MS,
    FaultPlan,
    Scenario,
)
from gusu.eval.simulation.workload import Workload, make_workload
from gusu.ledger.chainconfig import ChainConfig
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.smt import StateTree
from gusu.ledger.types import Address, CommitCertificate, Hash, Height, Round, Transaction
from gusu.ledger.validators import compute_validators_hash
from gusu.mempool import Mempool, PoolTransaction
from gusu.node.blocks import BlockRules, get_config_schedule
from gusu.node.driver import EngineDriver
from gusu.node.raft_exchange import compute_forward_target
from gusu.node.schedule import ValidatorSchedule

CLOCK_START_MS = GENESIS_TIME_MS + 1_000
"""Sim time 0 on an unskewed node's clock."""
LIVENESS_BOUND_MS = 30_000
"""After the heal every honest node commits a new block within this much simulated time."""
TRANSACTION_BOUND_BASE_MS = 30_000
TRANSACTION_BOUND_PER_POWER_MS = 2_000
"""A transaction acknowledged by a correct node is committed on every honest node within
``TRANSACTION_BOUND_BASE_MS + total voting power * TRANSACTION_BOUND_PER_POWER_MS`` of its acknowledgement, or of
the heal if it was acknowledged before (`get_transaction_bound_ms`).

Why it grows with the power: a node sends a client's transaction to each peer once and receivers do not relay
it, so a transaction whose copies were lost (a partition, a drop, a crash of a receiver) is held by its
acknowledging node alone and commits when that node proposes. Over any `total power` consecutive proposer runs
a validator proposes `power` times, so it waits at most one rotation; in wait mode each run of that wait costs
about `timeout_commit_ms` + `timeout_propose_ms` (1.2 s here), since the holder, not being the proposer, says
nothing until its propose timeout prevotes nil and wakes the others."""
QUIET_MS = 2_000
"""Wait mode: once every acknowledged transaction has committed, the run goes on this long (to see the chain
stop making blocks)."""
BUILD_DELAY_MS = (1, 20)
VALIDATE_DELAY_MS = (1, 20)
SYNC_BLOCKS_MAX = 64
SYNC_RETRY_MS = 1_000
SYNC_STALL_MS = 1_000
SYNC_STATUS_INTERVAL_MS = 1_000
TORN_CRASH_WAIT_MS = 300
"""A torn crash waits this long for an action list to tear; then the node crashes between events."""
FAILING_AMOUNT = CLIENT_BALANCE * CLIENT_COUNT + 1
"""More than the whole supply: such a transfer commits with a failed receipt."""
TAMPERINGS = ("state-root", "duplicate", "replay")
SPAM_INTERVAL_MS = 200
SPAM_BURST = 40
"""A spammer sends every peer this many signed messages every `SPAM_INTERVAL_MS` until the heal (some twice)."""
HEADER_TIME_LIE_MS = 2**62
"""The largest header time a liar writes when its proposal message says something else."""


def make_simulation_settings(workload: Workload | None = None) -> TendermintSettings:
    """Timeouts scaled down from the production defaults so a campaign covers many heights."""
    wait = workload is not None and workload.wait_for_transactions
    return TendermintSettings(
        timeout_propose_ms=1_000,
        timeout_propose_delta_ms=200,
        timeout_prevote_ms=500,
        timeout_prevote_delta_ms=100,
        timeout_precommit_ms=500,
        timeout_precommit_delta_ms=100,
        timeout_commit_ms=200,
        rebroadcast_interval_ms=500,
        wait_for_transactions=wait,
        empty_block_interval_ms=workload.empty_block_interval_ms if workload is not None and wait else 0,
        block_time_precision_ms=CLOCK_PRECISION_MS,
        block_time_message_delay_ms=CLOCK_MESSAGE_DELAY_MS,
    )


CONSENSUS_CHOICES = ("tendermint", "raft")
RAFT_FORWARD_AGE_MS = 1_000
RAFT_FORWARD_MAX = 512
"""Raft: each status tick a follower sends the leader at most this many of its pool's transactions older than
`RAFT_FORWARD_AGE_MS` (as `Node._forward_pool_to_leader`): a stable leader does not rotate as Tendermint's
proposer does, so a transaction whose one sending to the leader was lost would otherwise never be proposed."""


_RAFT_MESSAGE_TAGS = frozenset((TAG_REQUEST_VOTE, TAG_VOTE_REPLY, TAG_APPEND_ENTRIES, TAG_APPEND_REPLY))


def _is_raft_data(data: bytes) -> bool:
    """A Raft message's encoding (else Tendermint's, or garbage, which the engine's decoder judges)."""
    try:
        value = decode(data)
    except CodecError:
        return False
    return isinstance(value, list) and bool(value) and value[0] in _RAFT_MESSAGE_TAGS


def make_raft_simulation_settings(workload: Workload | None = None) -> RaftSettings:
    """Raft timing scaled down like the Tendermint timeouts; blocks paced as the Tendermint runs are."""
    wait = workload is not None and workload.wait_for_transactions
    empty_ms = (workload.empty_block_interval_ms if workload is not None else 0) if wait else 200
    return RaftSettings(
        election_timeout_ms=500,
        election_timeout_spread_ms=500,
        heartbeat_interval_ms=50,
        pacing=SoloSettings(
            block_interval_ms=200,
            block_transactions_max=BLOCK_TRANSACTIONS_MAX,
            block_bytes_max=BLOCK_BYTES_MAX,
            empty_block_interval_ms=empty_ms,
        ),
    )


def compute_raft_bookkeeping_bounds(settings: RaftSettings, validator_count: int) -> dict[str, int]:
    """The most an honest Raft node may hold (`RaftEngine.get_bookkeeping_sizes`, plus executions and timers)."""
    return {
        "entries": settings.retained_entries_max + 2,
        "votes": validator_count,
        "followers": validator_count,
        "executions": 4,
        "timers": 3,
    }


def compute_bookkeeping_bounds(settings: TendermintSettings, validator_count: int, round_: int) -> dict[str, int]:
    """The most an honest node may hold of each kind (`TendermintEngine.get_bookkeeping_sizes`, plus the simulated
    node's executions and timers) while its engine is in round `round_` of a height.

    Everything the engine keeps per height is per round it can hear of (at most `rounds_ahead_max` past the
    current one) and per validator; what it keeps across heights has a setting of its own. So one validator's
    flood can fill its own share and nothing else, and the bounds hold whatever it sends.
    """
    n = validator_count
    rounds = round_ + settings.rounds_ahead_max + 1
    tallies = 2 * rounds
    return {
        "future_messages": min(settings.future_messages_max, n * settings.future_messages_per_validator_max),
        "proposals": rounds,
        "tally_rounds": tallies,
        "tally_votes": tallies * n * (n + 1),
        "held_votes": tallies * n * HELD_VOTES_MAX,
        "round_senders": rounds * n,
        "verdicts": 2 * (2 * rounds + 1),
        "reported": 3 * rounds * n,
        "evidence": settings.evidence_max,
        "signed": 3 * (round_ + 1),
        "catch_up_served": n * (rounds + 1),
        "executions": 2 * rounds + 1,
        "timers": 6 * rounds,
    }


def get_transaction_bound_ms(total_power: int) -> int:
    """How long a correct node's client transaction may take to commit everywhere (see the constants)."""
    return TRANSACTION_BOUND_BASE_MS + total_power * TRANSACTION_BOUND_PER_POWER_MS


@dataclass(frozen=True, slots=True)
class StoredBlock:
    block: SimBlock
    certificate: CommitCertificate
    validator_set: ValidatorSet
    """The set in force at the block's height, which its certificate was checked against."""
    transaction_ids: tuple[Hash, ...]
    """As the node decoded them from the block's encodings."""
    state_root: Hash
    """The root of the state the node holds after applying its own execution of the block."""
    committed_at_ms: int
    """Simulated time of the commit on this node."""

    @property
    def height(self) -> Height:
        return self.block.height

    @property
    def block_hash(self) -> Hash:
        return self.block.block_hash

    @property
    def timestamp_ms(self) -> int:
        return self.block.timestamp_ms


@dataclass(slots=True)
class Acknowledgement:
    """A transaction some node acknowledged to a client (admitted and journaled)."""

    transaction_id: Hash
    valid_until_height: Height
    nodes: list[int]
    """Every node that acknowledged it, in order (a client may send it through several)."""
    correct_ms: int | None = None
    """When a correct node first acknowledged it (None: only faulty nodes did)."""


@dataclass(slots=True)
class SimNode:
    node_id: int
    validator_index: int
    identity: SimIdentity
    skew_ms: int
    is_byzantine: bool
    is_correct: bool
    """Honest and with a sound application: what it acknowledges must commit."""
    tip: ChainTip
    """Durable, like everything down to `journal`: the last stored block."""
    state: dict[bytes, bytes]
    """The committed state after `tip`."""
    state_tree: StateTree
    """The state tree at `tip`'s version (the next block's state root is computed from it)."""
    schedule: ValidatorSchedule
    """The validator sets around `tip`, from the configuration schedule in `state` (as `Node` keeps them)."""
    rules: BlockRules
    """The block rules of the height after `tip`, from the same schedule."""
    store: list[StoredBlock] = field(default_factory=list)
    committed_ids: dict[Hash, Height] = field(default_factory=dict)
    """The committed-transaction index: id -> height of its first commit."""
    wal: list[tuple[int, bytes]] = field(default_factory=list)
    """(height, record), never truncated here so the checker sees all of it."""
    journal: list[bytes] = field(default_factory=list)
    """Transactions acknowledged to clients, journaled before the acknowledgement."""
    engine: TendermintEngine | RaftEngine | None = None
    raft_wal: list[bytes] = field(default_factory=list)
    """Raft: the WAL file as it stands (rewrites replace it); `wal` keeps every record ever appended."""
    admitted_ms: dict[Hash, int] = field(default_factory=dict)
    """Raft: when each pool transaction was admitted here (for forwarding to the leader)."""
    driver: EngineDriver | None = None
    """The node's own engine driver (`gusu.node.driver`), made with the engine at each (re)start."""
    is_switch_due: bool = False
    """The block just stored ends its engine's period (`Simulation._switch_engine`, as the node's
    `_switch_engine_if_scheduled`)."""
    mempool: Mempool | None = None
    executions: dict[Hash, Execution] = field(default_factory=dict)
    """Blocks of the current height this node built or validated, with what they gave."""
    epoch: int = 0
    """Bumped on each crash: replies and timers of an earlier life are discarded."""
    timers: dict[tuple[int, int, str], int] = field(default_factory=dict)
    sync_sent_at_ms: int | None = None
    torn_after: int | None = None
    """Armed torn crash: crash after carrying out this many actions of the next list."""
    torn_down_ms: int = 0
    crashes: int = 0
    progress_ms: int = 0
    """Simulated time of the node's last start or commit."""
    reported_peers: frozenset[Address] | None = None
    """What the node last told its engine about its connections (`PeersChanged`); None after a restart."""
    clock_is_good: bool = True
    """Within the chain's clock precision of every other good clock (not one of the plan's `bad_clocks`)."""
    synced_blocks: int = 0
    """Blocks this node stored from block sync (not decided by its own engine)."""
    forward_attempts: int = 0
    """Status ticks that looked for a Raft forwarding target (`Simulation._forward_pool_to_leader`)."""
    switches: int = 0
    """Engine switches this node made while running (`Simulation._switch_engine`)."""

    @property
    def address(self) -> Address:
        return self.identity.address

    @property
    def is_up(self) -> bool:
        return self.engine is not None

    @property
    def committed_height(self) -> int:
        return len(self.store)


# --- what the queue holds ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _EngineEvent:
    """A reply the node's own work produces (built, validated), lost if the node crashes first."""

    event: Event


@dataclass(frozen=True, slots=True)
class _TimerDue:
    key: tuple[int, int, str]
    token: int


@dataclass(frozen=True, slots=True)
class _Packet:
    sender: int
    data: bytes


@dataclass(frozen=True, slots=True)
class _Gossip:
    """Transactions a node admitted from its clients, sent once to each peer."""

    sender: int
    raws: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class _Submission:
    """A client calls the node's API with transactions (no network faults; a node that is down refuses)."""

    raws: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class _ClientTick:
    """Time for the next client submission; `forced` is the one just after the heal, to a correct node."""

    forced: bool


@dataclass(frozen=True, slots=True)
class _StatusDue:
    """Time for the node to tell its peers its height."""


@dataclass(frozen=True, slots=True)
class _SyncStatus:
    sender: int
    height: int


@dataclass(frozen=True, slots=True)
class _SyncRequest:
    sender: int
    from_height: int


@dataclass(frozen=True, slots=True)
class _SyncResponse:
    blocks: tuple[StoredBlock, ...]


@dataclass(frozen=True, slots=True)
class _CrashDue:
    down_ms: int
    torn: bool


@dataclass(frozen=True, slots=True)
class _TornDeadline:
    pass


@dataclass(frozen=True, slots=True)
class _Restart:
    pass


@dataclass(frozen=True, slots=True)
class _SpamDue:
    """Time for a spammer's next burst."""


_Payload = (
    _EngineEvent
    | _TimerDue
    | _Packet
    | _Gossip
    | _Submission
    | _ClientTick
    | _StatusDue
    | _SyncStatus
    | _SyncRequest
    | _SyncResponse
    | _CrashDue
    | _TornDeadline
    | _Restart
    | _SpamDue
)
_NETWORK = -1
"""Epoch of queue entries that outlive crashes (network traffic, clients, crash and restart schedule)."""


@dataclass(frozen=True, slots=True)
class SimResult:
    seed: int
    scenario: str
    validators: int
    nodes: int
    crypto: str
    violations: tuple[str, ...]
    heal_ms: int
    liveness_ms: int | None
    """Simulated time from the heal until every honest node had committed a new block."""
    min_height: int
    max_height: int
    sim_ms: int
    events: int
    messages_sent: int
    messages_lost: int
    evidence_reported: int
    crashes: int
    digest: str
    """SHA-256 over the run's commits, sends and acknowledgements: equal digests mean identical runs."""
    wait_for_transactions: bool = False
    transactions_acknowledged: int = 0
    """Distinct transactions some node acknowledged to a client."""
    transactions_acknowledged_correct: int = 0
    """Of those, the ones a correct node acknowledged: each must commit on every honest node."""
    transactions_committed: int = 0
    """Distinct transactions on the longest honest chain."""
    transactions_dropped: int = 0
    """Drops the nodes reported (expiry); none are expected with the clients' validity window."""
    empty_blocks: int = 0
    """Blocks without transactions on the longest honest chain."""
    transaction_latency_ms_max: int | None = None
    """The longest time, over transactions acknowledged by correct nodes, from the acknowledgement (or the
    heal, if later) until every honest node had committed the transaction."""
    transaction_bound_ms: int = 0
    """The bound `transaction_latency_ms_max` was held to (`get_transaction_bound_ms`)."""
    bookkeeping_peaks: tuple[tuple[str, int], ...] = ()
    """The largest size of each kind of engine bookkeeping seen on any honest node (`_sample_bookkeeping`)."""
    spam_messages: int = 0
    """Signed messages spammers sent (each counted once, not per peer)."""
    time_lies: int = 0
    """Blocks time liars built with a lie."""
    validator_sets: int = 1
    """Distinct validator sets that certified blocks of the longest honest chain (more than 1: churn took effect)."""
    consensus: str = "tendermint"
    """The engine the run drove: tendermint or raft."""

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def safety_violations(self) -> tuple[str, ...]:
        """Everything but liveness, memory and idle: agreement, validity, exactly once, state, double signing,
        block time, garbage."""
        return tuple(
            violation for violation in self.violations if not violation.startswith(("liveness:", "memory:", "idle:"))
        )

    @property
    def idle_violations(self) -> tuple[str, ...]:
        """Empty blocks made while nothing was pending: a cost (disk, bandwidth), not a safety failure."""
        return tuple(violation for violation in self.violations if violation.startswith("idle:"))

    @property
    def memory_violations(self) -> tuple[str, ...]:
        return tuple(violation for violation in self.violations if violation.startswith("memory:"))

    @property
    def liveness_violations(self) -> tuple[str, ...]:
        return tuple(violation for violation in self.violations if violation.startswith("liveness:"))


class _SimActions:
    """A simulated node's side of the consensus seam (`gusu.node.driver.ActionHandler`).

    The driver that sequences the actions is the node's own; this says what each action does on the
    simulated clock, network and store, as `gusu.node.node.Node` does on real ones.
    """

    def __init__(self, simulation: Simulation, node: SimNode) -> None:
        self._simulation = simulation
        self._node = node

    def is_running(self) -> bool:
        return self._node.engine is not None

    def may_continue(self, applied: int) -> bool:
        node = self._node
        if node.engine is None:
            return False
        if node.torn_after is not None and applied >= node.torn_after:
            self._simulation._crash(node, node.torn_down_ms)  # a crash in the middle of the list
            return False
        return True

    def on_local_fault(self, error: BaseException) -> None:
        raise AssertionError(f"a simulated node has no local faults: {error}")

    def get_pool_event(self) -> TransactionsAvailable:
        return self._simulation._get_pool_event(self._node)

    def apply_schedule_timer(self, action: ScheduleTimer) -> None:
        simulation, node = self._simulation, self._node
        simulation.sequence += 1
        key = (int(action.height), int(action.round), action.kind)
        node.timers[key] = simulation.sequence
        simulation._push(
            simulation.now_ms + max(action.delay_ms, 0), node.node_id, node.epoch, _TimerDue(key, simulation.sequence)
        )

    def apply_build_proposal(self, action: BuildProposal) -> Event | None:
        self._simulation._build(self._node, action)
        return None

    def apply_prepare_proposal(self, action: PrepareProposal) -> None:
        pass  # the simulated nodes build their blocks when proposing, without early execution

    def apply_validate_proposal(self, action: ValidateProposal) -> Event | None:
        self._simulation._validate(self._node, action)
        return None

    def apply_commit_block(self, action: CommitBlock) -> Event | None:
        return self._simulation._commit(self._node, action)

    def apply_append_wal(self, action: AppendWal) -> None:
        self._node.wal.append((int(action.height), action.record))
        if isinstance(self._node.engine, RaftEngine):
            self._node.raft_wal.append(action.record)  # raft.wal; Tendermint's records go to consensus.wal only

    def apply_rewrite_wal(self, action: RewriteWal) -> None:
        self._node.raft_wal = list(action.records)

    def apply_broadcast(self, action: Broadcast) -> None:
        self._simulation._broadcast(self._node, action.message)

    def apply_send_message(self, action: SendMessage) -> None:
        simulation, node = self._simulation, self._node
        data = simulation._encode(action.message)
        for target in simulation.nodes_by_address.get(action.recipient, []):
            if target != node.node_id:
                simulation._send(node.node_id, target, _Packet(node.node_id, data))

    def apply_report_evidence(self, action: ReportEvidence) -> None:
        assert isinstance(action.evidence, Equivocation)
        self._simulation.evidence.append((self._node.node_id, action.evidence))


class Simulation:
    """One seeded run; see the module docstring. `run()` once, then read the result."""

    def __init__(
        self, seed: int, scenario: Scenario, validators: int, crypto: str = "sim", consensus: str = "tendermint"
    ) -> None:
        assert consensus in CONSENSUS_CHOICES, consensus
        self.consensus = consensus
        self.is_raft = consensus == "raft"
        self.raft_leaders: dict[int, int] = {}
        """Raft: term -> the validator that led it (election safety: one per term)."""
        self.seed = seed
        self.scenario = scenario
        self.crypto = crypto
        self.rng = random.Random(f"gusu-sim/{scenario.name}/{validators}/{seed}")
        self.plan: FaultPlan = scenario.make_plan(self.rng, validators)
        # The clients draw from their own generator, so the load does not depend on network events.
        self.client_rng = random.Random(f"gusu-sim-clients/{scenario.name}/{validators}/{seed}")
        self.workload: Workload = make_workload(self.client_rng, self.plan)
        self.suite: CryptoSuite
        self.suite, identities = make_identities(crypto, seed, validators)

        def make_validators(powers: tuple[int, ...]) -> list[GenesisValidator]:
            # Power 0: not a validator in that configuration (its node follows the chain as an observer).
            return [
                GenesisValidator(f"validator-{index}", identity.address, identity.public_key, power, "sim")
                for index, (identity, power) in enumerate(zip(identities, powers, strict=True))
                if power > 0
            ]

        self.validator_set = ValidatorSet(
            Validator(validator.address, validator.public_key, validator.power)
            for validator in make_validators(self.plan.powers)
        )
        """The genesis set; each node follows the sets its state schedules (`SimNode.schedule`)."""
        engine = consensus
        engines: list[tuple[int, str]] = [(0, consensus)]
        changes: dict[Height, tuple[Height, ChainConfig]] = {}
        for step in self.plan.churn:  # in deciding order: each step's engine follows from the one before
            if step.switches_engine:
                engine = "tendermint" if engine == "raft" else "raft"
                engines.append((step.effective_height, engine))
            changes[Height(step.decided_height)] = (
                Height(step.effective_height),
                make_sim_config(make_validators(step.powers), engine),
            )
        self.executor = ScheduleExecutor(changes)
        """The real executor, plus the plan's scheduled configuration changes (`chain.ScheduleExecutor`)."""
        self.planned_validators_hashes: tuple[tuple[int, Hash], ...] = (
            (0, compute_validators_hash(self.suite, make_validators(self.plan.powers))),
            *(
                (step.effective_height, compute_validators_hash(self.suite, make_validators(step.powers)))
                for step in self.plan.churn
            ),
        )
        """(first height, hash of the set) by the plan alone: what `checkers.check_validator_sets` holds blocks to."""
        self.planned_engines: tuple[tuple[int, str], ...] = tuple(engines)
        """(first height, engine) by the plan alone: what `checkers.check_engines` holds certificates to."""
        self.uses_raft = any(name == "raft" for _, name in engines)
        self.uses_tendermint = any(name == "tendermint" for _, name in engines)
        self.settings = make_simulation_settings(self.workload)
        total_power_max = max([self.validator_set.total_power, *(sum(step.powers) for step in self.plan.churn)])
        self.transaction_bound_ms = get_transaction_bound_ms(total_power_max)
        self.raft_settings = make_raft_simulation_settings(self.workload)
        self.decoder = TransactionDecoder(self.suite)
        genesis_writes = make_genesis_writes(make_validators(self.plan.powers), consensus)
        self.genesis_writes = genesis_writes
        """The run's genesis state: the chain's, with the run's validators as its configuration schedule."""
        self.genesis_tip = make_genesis_tip(self.suite, genesis_writes)
        self.nodes = []
        for node_id, validator_index in enumerate(self.plan.node_validators):
            state = make_genesis_state(genesis_writes)
            self.nodes.append(
                SimNode(
                    node_id=node_id,
                    validator_index=validator_index,
                    identity=identities[validator_index],
                    skew_ms=self.plan.skews_ms[node_id],
                    is_byzantine=self.plan.is_byzantine_node(node_id),
                    is_correct=not self.plan.is_byzantine_node(node_id) and node_id not in self.plan.invalid_builders,
                    tip=self.genesis_tip,
                    state=state,
                    state_tree=make_genesis_state_tree(self.suite, genesis_writes),
                    schedule=ValidatorSchedule(get_config_schedule(get_genesis(), state), Height(0)),
                    rules=compute_sim_rules(self.suite, state, self.genesis_tip),
                    clock_is_good=validator_index not in self.plan.bad_clocks,
                )
            )
        self.nodes_by_address: dict[Address, list[int]] = {}
        for node in self.nodes:
            self.nodes_by_address.setdefault(node.address, []).append(node.node_id)
        self.honest = [node for node in self.nodes if not node.is_byzantine]
        self.honest_addresses = {node.address for node in self.honest}
        self.blocks: dict[Hash, SimBlock] = {}
        """Every block built, by hash: the body a node fetches to validate a proposal."""
        self.queue: list[tuple[int, int, int, int, _Payload]] = []
        self.sequence = 0
        self.now_ms = 0
        self.violations: list[str] = []
        self.sent_by_honest: dict[tuple[Address, int, int, str], Message] = {}
        self.double_signed: set[tuple[Address, int, int, str]] = set()
        self.trace = hashlib.sha256()
        self.events = 0
        self.messages_sent = 0
        self.messages_lost = 0
        self.evidence: list[tuple[int, Equivocation]] = []
        self.heal_height: int | None = None
        self.liveness_ms: int | None = None
        self.acknowledgements: dict[Hash, Acknowledgement] = {}
        self.honest_commits: dict[Hash, int] = {}
        """How many honest nodes have committed each transaction."""
        self.pending_correct = 0
        """Transactions acknowledged by a correct node and not yet committed on every honest node."""
        self.blocks_demanded = not self.workload.wait_for_transactions
        """Liveness asks for blocks after the heal: always, or in wait mode if a correct node's client
        transaction was pending at the heal or acknowledged after it."""
        self.transaction_latency_ms_max: int | None = None
        self.reported_drops: dict[tuple[int, Hash], str] = {}
        """(node, transaction) -> the reason the node's pool gave when it dropped the transaction."""
        self.first_seen_ms: dict[Hash, int] = {}
        """When a good-clock honest node first received (or sent) a fresh proposal of each block hash."""
        self.bookkeeping_peaks: dict[str, int] = {}
        self.bookkeeping_exceeded: set[str] = set()
        self.spam_messages = 0
        self.spam_woken_height = 0
        """The highest height a spammer's message could have started on an honest node: one for the height the
        node was deciding or the next (held in its buffer until that height starts); `checkers.check_idle`
        allows empty blocks up to it."""
        self.time_lies = 0
        self.settled_since_ms: int | None = None
        self.is_quiet = False
        """The run ended after `QUIET_MS` (wait mode) with every acknowledged transaction committed."""

    # --- the queue ----------------------------------------------------------------------------

    def _push(self, at_ms: int, node_id: int, epoch: int, payload: _Payload) -> None:
        self.sequence += 1
        heapq.heappush(self.queue, (at_ms, self.sequence, node_id, epoch, payload))

    def _local_ms(self, node: SimNode) -> int:
        return CLOCK_START_MS + self.now_ms + node.skew_ms

    def _violate(self, text: str) -> None:
        if len(self.violations) < 50:
            self.violations.append(f"{text} [t={self.now_ms} ms]")

    # --- running --------------------------------------------------------------------------------

    @property
    def deadline_ms(self) -> int:
        return max(self.plan.heal_ms + LIVENESS_BOUND_MS, self.workload.load_end_ms + self.transaction_bound_ms)

    def run(self) -> SimResult:
        plan = self.plan
        workload = self.workload
        for node in self.nodes:
            self._push(0, node.node_id, _NETWORK, _Restart())
        for crash in plan.crashes:
            self._push(crash.at_ms, crash.node, _NETWORK, _CrashDue(crash.down_ms, crash.torn))
        self._push(self.client_rng.randint(*workload.interval_ms), 0, _NETWORK, _ClientTick(forced=False))
        self._push(plan.heal_ms + 1, 0, _NETWORK, _ClientTick(forced=True))
        deadline_ms = self.deadline_ms
        quiet_ms = QUIET_MS if workload.wait_for_transactions else 0
        while self.queue:
            at_ms, _, node_id, epoch, payload = self.queue[0]
            if self.heal_height is None and at_ms >= plan.heal_ms:
                self._on_heal()
            if self.settled_since_ms is not None and at_ms >= self.settled_since_ms + quiet_ms:
                self.is_quiet = True
                break
            if at_ms > deadline_ms:
                break
            heapq.heappop(self.queue)
            self.now_ms = at_ms
            self.events += 1
            self._dispatch(self.nodes[node_id], epoch, payload)
            if self._is_settled():
                if self.settled_since_ms is None:
                    self.settled_since_ms = self.now_ms
            else:
                self.settled_since_ms = None
        else:
            # Nothing left to happen (every engine idle in wait mode): as quiet as it gets.
            self.is_quiet = self.settled_since_ms is not None
        if self.heal_height is None:
            self._on_heal()
        self._check_after_run(deadline_ms)
        return self._make_result()

    def _is_settled(self) -> bool:
        """The load is over, liveness is shown (if blocks were demanded) and every acknowledgement honoured."""
        return (
            self.now_ms >= self.workload.load_end_ms
            and (self.liveness_ms is not None or not self.blocks_demanded)
            and self.pending_correct == 0
        )

    def _on_heal(self) -> None:
        self.heal_height = max(node.committed_height for node in self.honest)
        if self.pending_correct > 0:
            self.blocks_demanded = True
        for node in self.nodes:
            node.torn_after = None
            if not node.is_up:
                self._push(self.plan.heal_ms, node.node_id, _NETWORK, _Restart())
        self._check_liveness()

    def _check_liveness(self) -> None:
        if self.liveness_ms is not None or self.heal_height is None:
            return
        target = self.heal_height + 1
        if all(node.committed_height >= target for node in self.honest):
            self.liveness_ms = max(self.now_ms - self.plan.heal_ms, 0)

    def _dispatch(self, node: SimNode, epoch: int, payload: _Payload) -> None:
        if isinstance(payload, _ClientTick):
            self._on_client_tick(payload.forced)
            return
        if isinstance(payload, _Restart):
            if not node.is_up:
                self._restart(node)
            return
        if isinstance(payload, _CrashDue):
            self._on_crash_due(node, payload)
            return
        if not node.is_up or (epoch != _NETWORK and epoch != node.epoch):
            if isinstance(payload, (_Packet, _Gossip, _SyncStatus)):
                self.messages_lost += 1
            return
        if isinstance(payload, _TornDeadline):
            if node.torn_after is not None:
                self._crash(node, node.torn_down_ms)
        elif isinstance(payload, _SpamDue):
            self._spam(node)
        elif isinstance(payload, _EngineEvent):
            self._feed(node, payload.event)
        elif isinstance(payload, _TimerDue):
            if node.timers.get(payload.key) == payload.token:
                del node.timers[payload.key]
                height, round_, timer_kind = payload.key
                self._feed(node, TimerFired(Height(height), Round(round_), timer_kind, self._local_ms(node)))
        elif isinstance(payload, _Packet):
            self._on_message(node, payload.sender, payload.data)
        elif isinstance(payload, _Submission):
            self._on_submission(node, payload.raws)
        elif isinstance(payload, _Gossip):
            self._admit(node, payload.raws)
        elif isinstance(payload, _StatusDue):
            self._broadcast_status(node)
        elif isinstance(payload, _SyncStatus):
            if payload.height > node.committed_height:
                self._request_sync(node, payload.sender)
        elif isinstance(payload, _SyncRequest):
            start = payload.from_height - 1
            blocks = tuple(node.store[start : start + SYNC_BLOCKS_MAX])
            if blocks:
                self._send(node.node_id, payload.sender, _SyncResponse(blocks))
        elif isinstance(payload, _SyncResponse):
            self._on_sync_response(node, payload.blocks)

    # --- crashes ---------------------------------------------------------------------------------

    def _on_crash_due(self, node: SimNode, crash: _CrashDue) -> None:
        if self.now_ms >= self.plan.heal_ms or not node.is_up:
            return
        if crash.torn:
            # Tear the next action list after a few actions (WAL appended, broadcast not yet...).
            node.torn_after = self.rng.randint(0, 3)
            node.torn_down_ms = crash.down_ms
            self._push(self.now_ms + TORN_CRASH_WAIT_MS, node.node_id, node.epoch, _TornDeadline())
            return
        self._crash(node, crash.down_ms)

    def _crash(self, node: SimNode, down_ms: int) -> None:
        node.engine = None
        node.driver = None
        node.mempool = None
        node.executions = {}
        node.epoch += 1
        node.timers.clear()
        node.sync_sent_at_ms = None
        node.torn_after = None
        node.reported_peers = None
        node.forward_attempts = 0  # a restarted node counts afresh
        node.crashes += 1
        self.trace.update(b"crash %d %d" % (node.node_id, self.now_ms))
        restart_ms = min(self.now_ms + down_ms, self.plan.heal_ms)
        self._push(max(restart_ms, self.now_ms + 1), node.node_id, _NETWORK, _Restart())

    def get_planned_engine(self, height: int) -> str:
        found = self.planned_engines[0][1]
        for first, name in self.planned_engines:
            if first <= height:
                found = name
        return found

    def _get_engine_name(self, node: SimNode, height: int) -> str:
        """The engine deciding `height` by the node's schedule (a chain may switch: `Node._get_engine_name_at`)."""
        config = node.schedule.get_config(Height(height))
        assert config is not None, "the engine of a height far from the tip"
        return config.consensus

    def _make_engine(self, node: SimNode, height: int) -> TendermintEngine | RaftEngine:
        validators, _ = node.schedule.get_engine_sets(Height(height))
        if self._get_engine_name(node, height) == "raft":
            return RaftEngine(self.raft_settings, validators, node.address, node.identity.signer, CHAIN_ID)
        return TendermintEngine(self.settings, validators, node.address, node.identity.signer, CHAIN_ID)

    def _get_wal_records(self, node: SimNode, height: int) -> tuple[bytes, ...]:
        if isinstance(node.engine, RaftEngine):
            # Raft's WAL outlives heights: all of it comes back (`Node.start` reads the whole file).
            return tuple(node.raft_wal)
        return tuple(record for record_height, record in node.wal if record_height >= height)

    def _switch_engine(self, node: SimNode) -> None:
        """`Node._switch_engine_if_scheduled`: the old engine never hears that its last height committed; its
        timers go, and the engine the schedule names starts at the next height from its own WAL."""
        node.is_switch_due = False
        if node.engine is None:
            return  # crashed meanwhile: the restart starts the engine in force
        height = node.committed_height + 1
        engine = self._make_engine(node, height)
        node.engine = engine
        node.driver = EngineDriver(engine, _SimActions(self, node))
        node.timers.clear()
        node.switches += 1
        self.trace.update(b"switch %d %d" % (node.node_id, height))
        validators, next_validators = node.schedule.get_engine_sets(Height(height))
        mempool = node.mempool
        assert mempool is not None
        self._feed(
            node,
            Start(
                Height(height),
                self._local_ms(node),
                node.tip.header.timestamp_ms,
                self._get_wal_records(node, height),
                pool_transaction_count=mempool.transaction_count,
                validators=validators,
                next_validators=next_validators,
                last_block_round=self._get_raft_term_of(node),
            ),
        )
        if node.engine is not None:
            self._feed(node, self._get_pool_event(node))

    def _get_raft_term_of(self, node: SimNode) -> Round | None:
        """The round of the tip's certificate if Raft made it (a Tendermint round is no Raft term)."""
        if not node.store or self._get_engine_name(node, node.committed_height) != "raft":
            return None
        return node.store[-1].certificate.round

    def _restart(self, node: SimNode) -> None:
        height = node.committed_height + 1
        validators, next_validators = node.schedule.get_engine_sets(Height(height))
        engine = self._make_engine(node, height)
        node.engine = engine
        node.is_switch_due = False
        node.driver = EngineDriver(engine, _SimActions(self, node))
        node.mempool = make_mempool()
        node.executions = {}
        node.timers.clear()
        node.progress_ms = self.now_ms
        # Node._open_journal: what was acknowledged comes back before the engine starts (which only notes
        # the pool's size then), and the journal is rewritten with what the pool took back.
        if node.journal:
            self._admit(node, node.journal)
            node.journal = list(node.mempool.iterate_raw())
        records = self._get_wal_records(node, height)
        last_round = self._get_raft_term_of(node)
        self._feed(
            node,
            Start(
                Height(height),
                self._local_ms(node),
                node.tip.header.timestamp_ms,
                records,
                validators=validators,
                next_validators=next_validators,
                last_block_round=last_round,
            ),
        )
        if node.engine is not None and node.mempool.transaction_count:
            self._feed(node, self._get_pool_event(node))
        if node.engine is not None:
            phase_ms = self.rng.randint(1, SYNC_STATUS_INTERVAL_MS)
            self._push(self.now_ms + phase_ms, node.node_id, node.epoch, _StatusDue())
            if node.validator_index in self.plan.spammers and self.now_ms < self.plan.heal_ms:
                self._push(self.now_ms + self.rng.randint(1, SPAM_INTERVAL_MS), node.node_id, node.epoch, _SpamDue())

    # --- clients and the pool ---------------------------------------------------------------------------

    def _on_client_tick(self, forced: bool) -> None:
        rng = self.client_rng
        workload = self.workload
        target = rng.choice([node for node in self.nodes if node.is_correct] if forced else self.nodes)
        raws = tuple(self._make_transfer(target) for _ in range(rng.randint(1, workload.batch_max)))
        if target.is_up:
            self._on_submission(target, raws)
        if rng.random() < workload.resend_probability:
            other = rng.choice([node for node in self.nodes if node is not target])
            at_ms = self.now_ms + rng.randint(*workload.resend_delay_ms)
            if at_ms < workload.load_end_ms:
                self._push(at_ms, other.node_id, _NETWORK, _Submission(raws))
        if not forced:
            next_ms = self.now_ms + rng.randint(*workload.interval_ms)
            if next_ms < workload.load_end_ms:
                self._push(next_ms, 0, _NETWORK, _ClientTick(forced=False))

    def _make_transfer(self, target: SimNode) -> bytes:
        rng = self.client_rng
        clients = get_clients()
        sender = rng.choice(clients)
        recipient = rng.choice([client for client in clients if client is not sender])
        amount = FAILING_AMOUNT if rng.random() < self.workload.failing_probability else rng.randint(1, 1_000)
        valid_until = Height(target.committed_height + CLIENT_VALIDITY_BLOCKS)
        return make_transfer(self.suite, sender, recipient.address, amount, rng.getrandbits(64), valid_until)

    def _on_submission(self, node: SimNode, raws: tuple[bytes, ...]) -> None:
        """The node's API: admit, journal, acknowledge, then send the new transactions to every peer."""
        admitted = self._admit(node, raws)
        if not admitted or node.mempool is None:
            return  # refused, or a torn crash while the engine took the news: no acknowledgement
        node.journal.extend(entry.raw for entry in admitted)
        for entry in admitted:
            self._acknowledge(node, entry)
        gossip = _Gossip(node.node_id, tuple(entry.raw for entry in admitted))
        for target in self.nodes:
            if target.node_id != node.node_id:
                self._send(node.node_id, target.node_id, gossip)

    def _admit(self, node: SimNode, raws: list[bytes] | tuple[bytes, ...]) -> list[PoolTransaction]:
        """`Node._admit`: decode, refuse what is committed, add to the pool; tell the engine if any got in."""
        mempool = node.mempool
        assert mempool is not None
        next_height = Height(node.committed_height + 1)
        admitted = []
        for raw in raws:
            try:
                entry = self.decoder.decode(raw)
                if entry.transaction_id in node.committed_ids:
                    continue
                mempool.add(entry, next_height)
            except GusuError:
                continue  # malformed, a duplicate, expired, or no room: not admitted
            admitted.append(entry)
        if admitted:
            self._feed(node, self._get_pool_event(node))
        return admitted

    def _acknowledge(self, node: SimNode, entry: PoolTransaction) -> None:
        transaction_id = entry.transaction_id
        self.trace.update(b"a %d %d " % (self.now_ms, node.node_id) + transaction_id)
        acknowledgement = self.acknowledgements.get(transaction_id)
        if acknowledgement is None:
            acknowledgement = Acknowledgement(
                transaction_id, cast(Transaction, entry.transaction).valid_until_height, []
            )
            self.acknowledgements[transaction_id] = acknowledgement
        acknowledgement.nodes.append(node.node_id)
        if node.is_correct and acknowledgement.correct_ms is None:
            acknowledgement.correct_ms = self.now_ms
            # An honest node acknowledges only what it has not committed, so some honest node lacks it.
            self.pending_correct += 1
            if self.now_ms >= self.plan.heal_ms:
                self.blocks_demanded = True

    def _get_pool_event(self, node: SimNode) -> TransactionsAvailable:
        mempool = node.mempool
        assert mempool is not None
        return TransactionsAvailable(mempool.transaction_count, mempool.byte_count, self._local_ms(node))

    # --- the node's side of the seam ----------------------------------------------------------------

    def _feed(self, node: SimNode, event: Event) -> None:
        """Hand `event` to the node's engine through the node's own driver (`gusu.node.driver.EngineDriver`)."""
        assert node.driver is not None
        node.driver.on_event(event)
        if node.is_switch_due:
            self._switch_engine(node)  # after the old engine's action list, as the node's commit callback runs
        engine = node.engine
        if isinstance(engine, RaftEngine) and engine.role is Role.LEADER and not node.is_byzantine:
            leader = self.raft_leaders.setdefault(engine.term, node.validator_index)
            if leader != node.validator_index:
                self._violate(
                    f"election safety: validators {leader} and {node.validator_index} both led term {engine.term}"
                )

    def _encode(self, message: object) -> bytes:
        if isinstance(message, (RequestVote, VoteReply, AppendEntries, AppendReply)):
            return encode_raft_message(message)
        assert isinstance(message, (Proposal, Vote))
        return encode_message(message)

    def _broadcast(self, node: SimNode, message: object) -> None:
        if isinstance(message, (RequestVote, VoteReply, AppendEntries, AppendReply)):
            data = self._encode(message)
            for target in self.nodes:
                if target.node_id != node.node_id:
                    self._send(node.node_id, target.node_id, _Packet(node.node_id, data))
            return
        assert isinstance(message, (Proposal, Vote))
        if not node.is_byzantine and get_signer_address(message) == node.address:
            self._record_honest_send(node, message)
            self._note_fresh_proposal(node, message)
        data = encode_message(message)
        for target in self.nodes:
            if target.node_id != node.node_id:
                self._send(node.node_id, target.node_id, _Packet(node.node_id, data))

    def _note_fresh_proposal(self, node: SimNode, message: Message) -> None:
        """For the block-time checker: when a good-clock honest node first had a fresh proposal of a block."""
        if (
            isinstance(message, Proposal)
            and message.pol_round == NO_ROUND
            and node.clock_is_good
            and not node.is_byzantine
        ):
            self.first_seen_ms.setdefault(message.block_hash, self.now_ms)

    def _record_honest_send(self, node: SimNode, message: Message) -> None:
        kind = "proposal" if isinstance(message, Proposal) else message.kind.name.lower()
        key = (node.address, int(message.height), int(message.round), kind)
        first = self.sent_by_honest.setdefault(key, message)
        if first != message and key not in self.double_signed:
            self.double_signed.add(key)
            self._violate(
                f"double signing: honest node {node.node_id} sent two different {kind}s at height "
                f"{message.height} round {message.round}"
            )

    def _send(
        self, sender: int, receiver: int, payload: _Packet | _Gossip | _SyncStatus | _SyncRequest | _SyncResponse
    ) -> None:
        self.messages_sent += 1
        plan = self.plan
        if self.now_ms >= plan.heal_ms:
            delays = [self.rng.randint(*HEALED_DELAY_MS)]
        else:
            for partition in plan.partitions:
                if partition.start_ms <= self.now_ms < partition.end_ms and (sender, receiver) in partition.blocked:
                    self.messages_lost += 1
                    return
            if self.rng.random() < plan.drop_probability:
                self.messages_lost += 1
                return
            delays = [self.rng.randint(*plan.delay_ms)]
            if self.rng.random() < plan.duplicate_probability:
                delays.append(self.rng.randint(*plan.delay_ms))
        for delay in delays:
            self.trace.update(b"s %d %d %d %d" % (self.now_ms, sender, receiver, delay))
            self._push(self.now_ms + delay, receiver, _NETWORK, payload)

    def _on_message(self, node: SimNode, sender: int, data: bytes) -> None:
        is_raft_node = isinstance(node.engine, RaftEngine)
        if _is_raft_data(data) != is_raft_node:
            return  # `Node._on_consensus_body`: a late message of the engine before a switch is ignored
        if is_raft_node:
            self._on_raft_message(node, sender, data)
            return
        try:
            message = decode_message(data)
        except CodecError as error:
            self._violate(f"node {sender} sent an undecodable message: {error}")
            return
        # Checked against the set of the message's height, as `ProposalExchange.on_consensus_body` does.
        validator_set = node.schedule.get_validator_set(message.height)
        is_member = validator_set is not None and validator_set.contains(get_signer_address(message))
        if validator_set is not None and is_member and not verify_message(self.suite, validator_set, message):
            self._violate(f"a message from node {sender} failed signature verification")
            return
        engine = node.engine
        assert isinstance(engine, TendermintEngine)
        if message.height > engine.height + 1 or (
            message.height > engine.height and self.now_ms - node.progress_ms >= SYNC_STALL_MS
        ):
            self._request_sync(node, sender)
        if not is_member:
            return  # a height whose set is not known yet, or a signer outside it: nothing to count
        self._note_fresh_proposal(node, message)
        is_spam = self.nodes[sender].validator_index in self.plan.spammers and not node.is_byzantine
        if is_spam and engine.height <= message.height <= engine.height + 1:
            self.spam_woken_height = max(self.spam_woken_height, int(message.height))
        self._feed(node, MessageReceived(self.nodes[sender].address, message, self._local_ms(node)))

    def _on_raft_message(self, node: SimNode, sender: int, data: bytes) -> None:
        """As `gusu.node.raft_exchange.RaftExchange.on_consensus_body`: bounds, sender binding, entry signatures."""
        address = self.nodes[sender].address
        try:
            message: RaftMessage = decode_raft_message(data)
        except CodecError as error:
            self._violate(f"node {sender} sent an undecodable Raft message: {error}")
            return
        if not is_sender_bound(message, address):
            self._violate(f"node {sender} sent a Raft message in another member's name")
            return
        tip = node.committed_height
        around = [node.schedule.get_validator_set(Height(height)) for height in range(tip, tip + 3)]
        if not any(validator_set is not None and validator_set.contains(address) for validator_set in around):
            return  # not a member of the heights this node decides: dropped, not a fault
        if isinstance(message, AppendEntries):
            kept = 0
            for entry in message.entries:
                validator_set = node.schedule.get_validator_set(entry.height)
                if validator_set is None:
                    if entry.height <= tip:
                        kept += 1  # stored already: the engine skips it
                        continue
                    break  # members not known yet: cut here
                if not verify_entry(self.suite, CHAIN_ID, validator_set, entry):
                    self._violate(f"node {sender} sent a Raft entry not signed by a member of its height")
                    return
                kept += 1
            if kept < len(message.entries):
                message = replace(message, entries=message.entries[:kept])
        self._feed(node, MessageReceived(address, message, self._local_ms(node)))

    def _forward_pool_to_leader(self, node: SimNode) -> None:
        """Raft: hand the leader what has waited in our pool (see `RAFT_FORWARD_MAX`), or with no live leader
        known, one member of the next height (`compute_forward_target`, as `Node._forward_pool_to_leader`)."""
        engine = node.engine
        if not isinstance(engine, RaftEngine):
            return
        next_set = node.schedule.get_validator_set(Height(node.committed_height + 1))
        members = () if next_set is None else tuple(validator.address for validator in next_set.validators)
        node.forward_attempts += 1
        target = compute_forward_target(
            node.address, engine.get_live_leader(self._local_ms(node)), members, node.forward_attempts
        )
        if target is None:
            return
        mempool = node.mempool
        assert mempool is not None
        raws = []
        for raw in mempool.iterate_raw():
            entry = self.decoder.decode(raw)
            admitted_ms = node.admitted_ms.setdefault(entry.transaction_id, self.now_ms)
            if self.now_ms - admitted_ms >= RAFT_FORWARD_AGE_MS:
                raws.append(raw)
                if len(raws) >= RAFT_FORWARD_MAX:
                    break
        if raws:
            for target_id in self.nodes_by_address.get(target, []):
                self._send(node.node_id, target_id, _Gossip(node.node_id, tuple(raws)))

    # --- the application --------------------------------------------------------------------------------

    def _build(self, node: SimNode, action: BuildProposal) -> None:
        """`Node._build_block`: select from the pool, execute on the tip; a faulty builder may tamper."""
        mempool = node.mempool
        assert mempool is not None
        if action.height != node.committed_height + 1:
            return  # cannot happen: the engine's height follows the store's; the round would time out
        entries = mempool.select(node.rules.block_transactions_max, node.rules.block_bytes_max, action.height)
        tampering = None
        if node.node_id in self.plan.invalid_builders and self.rng.random() < self.plan.invalid_probability:
            tampering = self._choose_tampering(node, entries)
            if tampering == "duplicate":
                entries.append(entries[self.rng.randrange(len(entries))])
            elif tampering == "replay":
                entries.append(self._pick_committed_entry(node))
        header_ms = message_ms = action.timestamp_ms
        if node.validator_index in self.plan.time_liars:
            header_ms, message_ms = self._lie_about_time(node, action)
        execution = execute_block(
            self.executor, node.rules, node.state, node.state_tree, node.tip, header_ms, node.address, entries
        )
        header = execution.header
        if tampering == "state-root":
            header = replace(header, state_root=Hash(hashlib.sha256(b"tampered" + header.state_root).digest()))
        block = make_block(self.suite, header, entries)
        self.blocks.setdefault(block.block_hash, block)
        node.executions[block.block_hash] = execution
        event = ProposalBuilt(action.height, action.round, block.block_hash, message_ms, len(entries))
        self._push(self.now_ms + self.rng.randint(*BUILD_DELAY_MS), node.node_id, node.epoch, _EngineEvent(event))

    def _lie_about_time(self, node: SimNode, action: BuildProposal) -> tuple[int, int]:
        """A time liar's (header time, proposal message time) for the block it builds now (`TIME_LIES`).

        The header must still follow its parent (or honest nodes would refuse the block as invalid, which the
        invalid scenario covers); the lie is in how far from the clocks it is. ``end-of-time-header`` is the
        attack of issue 7's finding 1 in its sharpest form: a timely proposal message for a block whose header
        says the end of time.
        """
        rng = self.rng
        local_ms = self._local_ms(node)
        parent_ms = node.tip.header.timestamp_ms
        lie = rng.choice(self.plan.time_lies)
        self.time_lies += 1
        if lie == "future":
            lie_ms = max(local_ms + rng.randint(CLOCK_PRECISION_MS + 1, 3_600_000), parent_ms + 1)
            return lie_ms, lie_ms
        if lie == "end-of-time":
            lie_ms = max(rng.choice((TIMESTAMP_MS_MAX - 1, TIMESTAMP_MS_MAX)), parent_ms + 1)
            return lie_ms, min(lie_ms, TIMESTAMP_MS_MAX)
        if lie == "end-of-time-header":
            header_ms = max(rng.choice((TIMESTAMP_MS_MAX - 1, TIMESTAMP_MS_MAX, HEADER_TIME_LIE_MS)), parent_ms + 1)
            return header_ms, action.timestamp_ms
        if lie == "past":
            lie_ms = max(
                local_ms - rng.randint(CLOCK_PRECISION_MS + CLOCK_MESSAGE_DELAY_MS + 1, 3_600_000), parent_ms + 1
            )
            return lie_ms, lie_ms
        assert lie == "frozen", lie
        return parent_ms + 1, parent_ms + 1

    def _spam(self, node: SimNode) -> None:
        """A spammer's burst: signed proposals and votes of many rounds and heights, conflicting, some twice.

        They are all well-formed and correctly signed (garbage would be refused by the decoder before the
        engine), so they reach every honest engine: for the current height, the next (the buffer), one and
        fifty ahead (dropped; they make the node ask the spammer for blocks), and the previous one; for the
        current round, the next, any round up to `rounds_ahead_max` past it and any round at all; for random
        blocks, nil, and blocks that exist.
        """
        engine = node.engine
        if not isinstance(engine, TendermintEngine) or self.now_ms >= self.plan.heal_ms:
            return
        rng = self.rng
        height, round_ = int(engine.height), int(engine.round)
        ahead = self.settings.rounds_ahead_max
        known = list(node.executions)
        for _ in range(SPAM_BURST):
            message_height = Height(max(1, height + rng.choice((0, 0, 0, 1, 1, 2, 50, -1))))
            message_round = Round(
                min(
                    rng.choice((round_, round_ + 1, rng.randint(0, round_ + ahead + 10), rng.randint(0, ROUND_MAX))),
                    ROUND_MAX,
                )
            )
            block_hash = rng.choice(known) if known and rng.random() < 0.2 else Hash(rng.randbytes(32))
            unsigned: Message
            if rng.random() < 0.3:
                unsigned = Proposal(
                    chain_id=CHAIN_ID,
                    height=message_height,
                    round=message_round,
                    block_hash=block_hash,
                    pol_round=rng.randint(NO_ROUND, message_round - 1),
                    timestamp_ms=self._local_ms(node),
                    proposer=node.address,
                    signature=b"",
                )
            else:
                unsigned = Vote(
                    kind=rng.choice((VoteKind.PREVOTE, VoteKind.PRECOMMIT)),
                    chain_id=CHAIN_ID,
                    height=message_height,
                    round=message_round,
                    block_hash=None if rng.random() < 0.2 else block_hash,
                    timestamp_ms=self._local_ms(node),
                    validator=node.address,
                    signature=b"",
                )
            signed = replace(unsigned, signature=node.identity.signer(encode_signing_bytes(unsigned)))
            data = encode_message(signed)
            self.spam_messages += 1
            for target in self.nodes:
                if target.node_id != node.node_id:
                    for _ in range(2 if rng.random() < 0.2 else 1):
                        self._send(node.node_id, target.node_id, _Packet(node.node_id, data))
        for target in self.honest:
            self._sample_bookkeeping(target)
        self._push(self.now_ms + SPAM_INTERVAL_MS, node.node_id, node.epoch, _SpamDue())

    def _sample_bookkeeping(self, node: SimNode) -> None:
        """Check an honest node's bookkeeping against `compute_bookkeeping_bounds`; keep the peaks."""
        engine = node.engine
        if engine is None or node.is_byzantine:
            return
        if isinstance(engine, RaftEngine):
            sizes = engine.get_bookkeeping_sizes()
            sizes["executions"] = len(node.executions)
            sizes["timers"] = len(node.timers)
            raft_bounds = compute_raft_bookkeeping_bounds(self.raft_settings, self.plan.validator_count)
            for kind, size in sizes.items():
                self.bookkeeping_peaks[kind] = max(self.bookkeeping_peaks.get(kind, 0), size)
                if size > raft_bounds[kind] and kind not in self.bookkeeping_exceeded:
                    self.bookkeeping_exceeded.add(kind)
                    self._violate(f"memory: node {node.node_id} holds {size} {kind} (bound {raft_bounds[kind]})")
            return
        sizes = engine.get_bookkeeping_sizes()
        sizes["executions"] = len(node.executions)
        sizes["timers"] = len(node.timers)
        bounds = compute_bookkeeping_bounds(self.settings, self.plan.validator_count, int(engine.round))
        for kind, size in sizes.items():
            if size > self.bookkeeping_peaks.get(kind, 0):
                self.bookkeeping_peaks[kind] = size
            if size > bounds[kind] and kind not in self.bookkeeping_exceeded:
                self.bookkeeping_exceeded.add(kind)
                self._violate(
                    f"memory: node {node.node_id} holds {size} {kind.replace('_', ' ')} in round {engine.round} of "
                    f"height {engine.height} (bound {bounds[kind]})"
                )

    def _choose_tampering(self, node: SimNode, entries: list[PoolTransaction]) -> str:
        choices = ["state-root"]
        if entries:
            choices.append("duplicate")
        if any(stored.transaction_ids for stored in node.store):
            choices.append("replay")
        return self.rng.choice(choices)

    def _pick_committed_entry(self, node: SimNode) -> PoolTransaction:
        candidates = [stored for stored in node.store if stored.transaction_ids]
        stored = candidates[self.rng.randrange(len(candidates))]
        raws = stored.block.raw_transactions
        return self.decoder.decode(raws[self.rng.randrange(len(raws))])

    def _validate(self, node: SimNode, action: ValidateProposal) -> None:
        """`Node.validate_block`: re-execute the proposed block on our own state and compare."""
        block = self.blocks.get(action.block_hash)
        if block is None:
            return  # a body nobody built cannot be had: never answer rather than call it invalid
        try:
            execution = validate_block(
                self.executor,
                node.rules,
                self.decoder,
                node.state,
                node.state_tree,
                node.tip,
                node.committed_ids,
                block,
            )
        except InvalidBlockError:
            is_valid = False
        else:
            is_valid = True
            node.executions[action.block_hash] = execution
        header = block.header
        event = ProposalValidated(
            action.height,
            action.round,
            action.block_hash,
            is_valid,
            timestamp_ms=header.timestamp_ms,
            proposer=header.proposer,
        )
        self._push(self.now_ms + self.rng.randint(*VALIDATE_DELAY_MS), node.node_id, node.epoch, _EngineEvent(event))

    def _commit(self, node: SimNode, action: CommitBlock) -> Event | None:
        certificate = action.certificate
        if certificate is None:
            self._violate(f"node {node.node_id} committed height {action.height} without a certificate")
            return None
        if action.height != node.committed_height + 1:
            self._violate(f"node {node.node_id} committed height {action.height} on top of {node.committed_height}")
            return None
        block = self.blocks.get(action.block_hash)
        execution = node.executions.get(action.block_hash)
        if block is None or execution is None:
            self._violate(f"validity: node {node.node_id} committed block {action.height} that it never executed")
            return None
        if not self._store_block(node, block, execution, certificate, "commit"):
            return None
        if node.is_switch_due:
            return None  # the old engine never hears of it; `_feed` switches once its action list is done
        return self._make_block_committed(node, block)

    def _make_block_committed(self, node: SimNode, block: SimBlock) -> BlockCommitted:
        """`BlockCommitted` with the sets of the next two heights, from the state the block left."""
        validators, next_validators = node.schedule.get_engine_sets(Height(block.height + 1))
        return BlockCommitted(
            block.height,
            block.block_hash,
            self._local_ms(node),
            block.timestamp_ms,
            validators=validators,
            next_validators=next_validators,
        )

    def _store_block(
        self, node: SimNode, block: SimBlock, execution: Execution, certificate: CommitCertificate, how: str
    ) -> bool:
        """`BlockStore.commit_block` and `Mempool.on_block_committed`: block, state and index change at once."""
        height = block.height
        # The set in force at the certified height, by this node's state: block sync crosses changes.
        validator_set = node.schedule.get_validator_set(height)
        if validator_set is None:
            self._violate(f"validity: node {node.node_id} {how} of height {height}, whose validators it cannot know")
            return False
        try:
            if self._get_engine_name(node, height) == "raft":  # the engine in force at the certified height
                verify_raft_certificate(self.suite, CHAIN_ID, validator_set, certificate)
                if certificate.block_hash != block.block_hash:
                    raise InvalidBlockError("the certificate is for another block")
            else:
                verify_commit_certificate(self.suite, CHAIN_ID, validator_set, certificate, block.block_hash)
        except InvalidBlockError as error:
            self._violate(f"validity: node {node.node_id} {how} of height {height} with a bad certificate: {error}")
            return False
        if height != node.committed_height + 1 or block.header.parent_hash != node.tip.block_hash:
            self._violate(f"validity: node {node.node_id} {how} of block {height}, which does not extend its chain")
            return False
        apply_writes(node.state, execution.writes)
        apply_tree_update(node.state_tree, execution)
        node.tip = ChainTip(block.header, block.block_hash)
        node.schedule.update(get_config_schedule(get_genesis(), node.state), Height(height))
        node.rules = compute_sim_rules(self.suite, node.state, node.tip)
        engine = node.engine
        node.is_switch_due = engine is not None and self._get_engine_name(node, height + 1) != engine.name
        node.store.append(
            StoredBlock(
                block, certificate, validator_set, execution.transaction_ids, execution.header.state_root, self.now_ms
            )
        )
        fresh = [
            transaction_id
            for transaction_id in dict.fromkeys(execution.transaction_ids)
            if transaction_id not in node.committed_ids
        ]
        for transaction_id in fresh:
            node.committed_ids[transaction_id] = height
        node.executions = {}
        mempool = node.mempool
        assert mempool is not None
        for dropped in mempool.on_block_committed(height, execution.transaction_ids):
            self.reported_drops[(node.node_id, dropped.transaction_id)] = dropped.reason
        node.progress_ms = self.now_ms
        self.trace.update(b"c %d %d %d " % (self.now_ms, node.node_id, height) + block.block_hash)
        if not node.is_byzantine:
            self._count_honest_commits(fresh)
            self._check_liveness()
        return True

    def _count_honest_commits(self, transaction_ids: list[Hash]) -> None:
        honest_count = len(self.honest)
        for transaction_id in transaction_ids:
            count = self.honest_commits.get(transaction_id, 0) + 1
            self.honest_commits[transaction_id] = count
            acknowledgement = self.acknowledgements.get(transaction_id)
            if count != honest_count or acknowledgement is None or acknowledgement.correct_ms is None:
                continue
            self.pending_correct -= 1
            latency_ms = self.now_ms - max(acknowledgement.correct_ms, self.plan.heal_ms)
            if self.transaction_latency_ms_max is None or latency_ms > self.transaction_latency_ms_max:
                self.transaction_latency_ms_max = latency_ms
            if latency_ms > self.transaction_bound_ms:
                self._violate(
                    f"liveness: transaction {transaction_id.hex()[:16]} acknowledged by node "
                    f"{acknowledgement.nodes[0]} at {acknowledgement.correct_ms} ms took {latency_ms} ms to commit "
                    f"on every honest node (bound {self.transaction_bound_ms} ms from the acknowledgement or the heal)"
                )

    # --- block sync -------------------------------------------------------------------------------------

    def _broadcast_status(self, node: SimNode) -> None:
        self._sample_bookkeeping(node)
        if isinstance(node.engine, RaftEngine):
            self._forward_pool_to_leader(node)
        status = _SyncStatus(node.node_id, node.committed_height)
        for target in self.nodes:
            if target.node_id != node.node_id:
                self._send(node.node_id, target.node_id, status)
        self._push(self.now_ms + SYNC_STATUS_INTERVAL_MS, node.node_id, node.epoch, _StatusDue())
        self._report_peers(node)

    def _report_peers(self, node: SimNode) -> None:
        """As `Node._report_peers` each second: the validators the node has a connection to, when that changed.

        A connection needs both directions, so a peer that is down or cut off either way is not connected.
        """
        connected = frozenset(
            target.address
            for target in self.nodes
            if target.node_id != node.node_id and target.is_up and self._is_linked(node.node_id, target.node_id)
        )
        if connected != node.reported_peers and node.engine is not None:
            node.reported_peers = connected
            self._feed(node, PeersChanged(connected))

    def _is_linked(self, first: int, second: int) -> bool:
        if self.now_ms >= self.plan.heal_ms:
            return True
        return not any(
            partition.start_ms <= self.now_ms < partition.end_ms
            and ((first, second) in partition.blocked or (second, first) in partition.blocked)
            for partition in self.plan.partitions
        )

    def _request_sync(self, node: SimNode, peer: int) -> None:
        sent = node.sync_sent_at_ms
        if sent is not None and self.now_ms - sent < SYNC_RETRY_MS:
            return
        node.sync_sent_at_ms = self.now_ms
        self._send(node.node_id, peer, _SyncRequest(node.node_id, node.committed_height + 1))

    def _on_sync_response(self, node: SimNode, blocks: tuple[StoredBlock, ...]) -> None:
        node.sync_sent_at_ms = None
        for stored in blocks:
            if node.engine is None:
                return
            if stored.height != node.committed_height + 1:
                continue
            block = stored.block
            try:
                execution = validate_block(
                    self.executor,
                    node.rules,
                    self.decoder,
                    node.state,
                    node.state_tree,
                    node.tip,
                    node.committed_ids,
                    block,
                )
            except InvalidBlockError as error:
                self._violate(
                    f"validity: node {node.node_id} was sent certified block {block.height}, which does not apply "
                    f"to its chain: {error}"
                )
                return
            if not self._store_block(node, block, execution, stored.certificate, "synced"):
                return
            node.synced_blocks += 1
            if node.is_switch_due:
                self._switch_engine(node)
            elif isinstance(node.engine, RaftEngine):
                # `Node.import_block`: the engine hears where the chain stands now, with the block's term.
                mempool = node.mempool
                assert mempool is not None
                validators, next_validators = node.schedule.get_engine_sets(Height(block.height + 1))
                start = Start(
                    Height(block.height + 1),
                    self._local_ms(node),
                    block.timestamp_ms,
                    pool_transaction_count=mempool.transaction_count,
                    validators=validators,
                    next_validators=next_validators,
                    last_block_round=self._get_raft_term_of(node),
                )
                self._feed(node, start)
            else:
                self._feed(node, self._make_block_committed(node, block))
            if node.engine is not None:
                self._feed(node, self._get_pool_event(node))

    # --- checkers -------------------------------------------------------------------------------------

    def _check_after_run(self, deadline_ms: int) -> None:
        from gusu.eval.simulation.checkers import run_checkers

        for node in self.honest:
            self._sample_bookkeeping(node)
        run_checkers(self, deadline_ms)

    def _make_result(self) -> SimResult:
        heights = [node.committed_height for node in self.honest]
        longest = max(self.honest, key=lambda node: node.committed_height)
        return SimResult(
            seed=self.seed,
            scenario=self.scenario.name,
            validators=self.plan.validator_count,
            nodes=self.plan.node_count,
            crypto=self.crypto,
            violations=tuple(self.violations),
            heal_ms=self.plan.heal_ms,
            liveness_ms=self.liveness_ms,
            min_height=min(heights),
            max_height=max(heights),
            sim_ms=self.now_ms,
            events=self.events,
            messages_sent=self.messages_sent,
            messages_lost=self.messages_lost,
            evidence_reported=len(self.evidence),
            crashes=sum(node.crashes for node in self.nodes),
            digest=self.trace.hexdigest(),
            wait_for_transactions=self.workload.wait_for_transactions,
            transactions_acknowledged=len(self.acknowledgements),
            transactions_acknowledged_correct=sum(
                1 for acknowledgement in self.acknowledgements.values() if acknowledgement.correct_ms is not None
            ),
            transactions_committed=len(longest.committed_ids),
            transactions_dropped=len(self.reported_drops),
            empty_blocks=sum(1 for stored in longest.store if not stored.transaction_ids),
            transaction_latency_ms_max=self.transaction_latency_ms_max,
            transaction_bound_ms=self.transaction_bound_ms,
            bookkeeping_peaks=tuple(sorted(self.bookkeeping_peaks.items())),
            spam_messages=self.spam_messages,
            time_lies=self.time_lies,
            validator_sets=len(dict.fromkeys(stored.block.header.validators_hash for stored in longest.store)),
            consensus=self.consensus,
        )
