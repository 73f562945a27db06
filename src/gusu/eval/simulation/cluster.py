"""The simulated cluster: real Tendermint engines on a simulated clock and network, driven by one seed.

Everything that happens is an entry in one priority queue ordered by
(simulated time, sequence number), and every random choice comes from the
run's `random.Random`, so a run is a pure function of (seed, scenario,
node count, crypto): `replay` reproduces it exactly, trace digest included.

Each simulated node plays the part of `gusu.node` for its engine, as
docs/bft.md specifies:

* timers per (height, round, kind), a new one replacing a pending one; on
  the node's own clock, which may be skewed;
* a trivial application: a block is the hash of (height, builder, round,
  a counter); building and executing take a few milliseconds; a block is
  valid unless its builder was told to build invalid ones, and its time
  must follow its parent's;
* messages travel encoded (`encode_message`), are decoded with bounds and
  their signatures verified before `MessageReceived`;
* `AppendWal` goes to a durable list; the store (blocks with their
  certificates) is durable; everything else is lost in a crash, including
  timers, in-flight replies and the rest of an action list being carried
  out ("torn" crashes);
* a restarted node starts from its store and WAL (`Start.wal_records`);
* block sync: a node that hears of a height more than one above its own,
  or of the next height while it has committed nothing for
  `SYNC_STALL_MS`, asks that peer for blocks with certificates, verifies
  each certificate (`verify_commit_certificate`) and the block, stores it
  and reports `BlockCommitted`. (A peer one height ahead normally sends
  the precommits itself, but not after a restart: the engine keeps the
  last certificate only in memory.)
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import deque
from dataclasses import dataclass, field

from gusu.consensus import (
    Action,
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    Event,
    MessageReceived,
    ProposalBuilt,
    ProposalValidated,
    ReportEvidence,
    ScheduleTimer,
    SendMessage,
    Start,
    TendermintEngine,
    TendermintSettings,
    TimerFired,
    ValidateProposal,
    Validator,
    ValidatorSet,
    decode_message,
    encode_message,
    verify_commit_certificate,
    verify_message,
)
from gusu.consensus.messages import Equivocation, Message, Proposal, Vote, get_signer_address
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, InvalidBlockError
from gusu.eval.simulation.crypto import SimIdentity, make_identities
from gusu.eval.simulation.scenarios import HEALED_DELAY_MS, FaultPlan, Scenario
from gusu.ledger.types import Address, CommitCertificate, Hash, Height, Round

CHAIN_ID = "gusu-sim"
GENESIS_TIME_MS = 1_700_000_000_000
CLOCK_START_MS = GENESIS_TIME_MS + 1_000
"""Sim time 0 on an unskewed node's clock."""
LIVENESS_BOUND_MS = 30_000
"""After the heal every honest node commits a new block within this much simulated time."""
BUILD_DELAY_MS = (1, 20)
VALIDATE_DELAY_MS = (1, 20)
SYNC_BLOCKS_MAX = 64
SYNC_RETRY_MS = 1_000
SYNC_STALL_MS = 1_000
TORN_CRASH_WAIT_MS = 300
"""A torn crash waits this long for an action list to tear; then the node crashes between events."""


def make_simulation_settings() -> TendermintSettings:
    """Timeouts scaled down from the production defaults so a campaign covers many heights."""
    return TendermintSettings(
        timeout_propose_ms=1_000,
        timeout_propose_delta_ms=200,
        timeout_prevote_ms=500,
        timeout_prevote_delta_ms=100,
        timeout_precommit_ms=500,
        timeout_precommit_delta_ms=100,
        timeout_commit_ms=200,
        rebroadcast_interval_ms=500,
    )


@dataclass(frozen=True, slots=True)
class BlockInfo:
    height: Height
    round: Round
    builder: int
    timestamp_ms: int
    is_valid: bool


@dataclass(frozen=True, slots=True)
class StoredBlock:
    height: Height
    block_hash: Hash
    timestamp_ms: int
    certificate: CommitCertificate
    committed_at_ms: int
    """Simulated time of the commit on this node."""


@dataclass(slots=True)
class SimNode:
    node_id: int
    validator_index: int
    identity: SimIdentity
    skew_ms: int
    is_byzantine: bool
    engine: TendermintEngine | None = None
    store: list[StoredBlock] = field(default_factory=list)
    """Durable: survives crashes."""
    wal: list[tuple[int, bytes]] = field(default_factory=list)
    """Durable: (height, record), never truncated here so the checker sees all of it."""
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


_Payload = _EngineEvent | _TimerDue | _Packet | _SyncRequest | _SyncResponse | _CrashDue | _TornDeadline | _Restart
_NETWORK = -1
"""Epoch of queue entries that outlive crashes (network traffic, crash and restart schedule)."""


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
    """SHA-256 over the run's commits and sends: equal digests mean identical runs."""

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def safety_violations(self) -> tuple[str, ...]:
        """Everything but liveness: agreement, validity, double signing, garbage on the wire."""
        return tuple(violation for violation in self.violations if not violation.startswith("liveness:"))

    @property
    def liveness_violations(self) -> tuple[str, ...]:
        return tuple(violation for violation in self.violations if violation.startswith("liveness:"))


class Simulation:
    """One seeded run; see the module docstring. `run()` once, then read the result."""

    def __init__(self, seed: int, scenario: Scenario, validators: int, crypto: str = "sim") -> None:
        self.seed = seed
        self.scenario = scenario
        self.crypto = crypto
        self.rng = random.Random(f"gusu-sim/{scenario.name}/{validators}/{seed}")
        self.plan: FaultPlan = scenario.make_plan(self.rng, validators)
        self.suite: CryptoSuite
        self.suite, identities = make_identities(crypto, seed, validators)
        self.validator_set = ValidatorSet(
            Validator(identity.address, identity.public_key, power)
            for identity, power in zip(identities, self.plan.powers, strict=True)
        )
        self.settings = make_simulation_settings()
        self.nodes = [
            SimNode(
                node_id=node_id,
                validator_index=validator_index,
                identity=identities[validator_index],
                skew_ms=self.plan.skews_ms[node_id],
                is_byzantine=self.plan.is_byzantine_node(node_id),
            )
            for node_id, validator_index in enumerate(self.plan.node_validators)
        ]
        self.nodes_by_address: dict[Address, list[int]] = {}
        for node in self.nodes:
            self.nodes_by_address.setdefault(node.address, []).append(node.node_id)
        self.honest = [node for node in self.nodes if not node.is_byzantine]
        self.honest_addresses = {node.address for node in self.honest}
        self.registry: dict[Hash, BlockInfo] = {}
        self.block_counter = 0
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

    def run(self) -> SimResult:
        plan = self.plan
        for node in self.nodes:
            self._push(0, node.node_id, _NETWORK, _Restart())
        for crash in plan.crashes:
            self._push(crash.at_ms, crash.node, _NETWORK, _CrashDue(crash.down_ms, crash.torn))
        deadline_ms = plan.heal_ms + LIVENESS_BOUND_MS
        stop_at_ms = max(plan.heal_ms, plan.min_run_ms)
        while self.queue:
            at_ms, _, node_id, epoch, payload = self.queue[0]
            if self.heal_height is None and at_ms >= plan.heal_ms:
                self._on_heal()
            if at_ms > deadline_ms:
                break
            heapq.heappop(self.queue)
            self.now_ms = at_ms
            self.events += 1
            self._dispatch(self.nodes[node_id], epoch, payload)
            if self.liveness_ms is not None and self.now_ms >= stop_at_ms:
                break
        if self.heal_height is None:
            self._on_heal()
        self._check_after_run(deadline_ms)
        return self._make_result()

    def _on_heal(self) -> None:
        self.heal_height = max(node.committed_height for node in self.honest)
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
        if isinstance(payload, _Restart):
            if not node.is_up:
                self._restart(node)
            return
        if isinstance(payload, _CrashDue):
            self._on_crash_due(node, payload)
            return
        if not node.is_up or (epoch != _NETWORK and epoch != node.epoch):
            if isinstance(payload, _Packet):
                self.messages_lost += 1
            return
        if isinstance(payload, _TornDeadline):
            if node.torn_after is not None:
                self._crash(node, node.torn_down_ms)
        elif isinstance(payload, _EngineEvent):
            self._feed(node, payload.event)
        elif isinstance(payload, _TimerDue):
            if node.timers.get(payload.key) == payload.token:
                del node.timers[payload.key]
                height, round_, timer_kind = payload.key
                self._feed(node, TimerFired(Height(height), Round(round_), timer_kind, self._local_ms(node)))
        elif isinstance(payload, _Packet):
            self._on_message(node, payload.sender, payload.data)
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
        node.epoch += 1
        node.timers.clear()
        node.sync_sent_at_ms = None
        node.torn_after = None
        node.crashes += 1
        self.trace.update(b"crash %d %d" % (node.node_id, self.now_ms))
        restart_ms = min(self.now_ms + down_ms, self.plan.heal_ms)
        self._push(max(restart_ms, self.now_ms + 1), node.node_id, _NETWORK, _Restart())

    def _restart(self, node: SimNode) -> None:
        engine = TendermintEngine(
            self.settings,
            self.validator_set,
            node.address,
            node.identity.signer,
            CHAIN_ID,
        )
        node.engine = engine
        node.timers.clear()
        node.progress_ms = self.now_ms
        height = node.committed_height + 1
        last_time_ms = node.store[-1].timestamp_ms if node.store else GENESIS_TIME_MS
        records = tuple(record for record_height, record in node.wal if record_height >= height)
        self._feed(node, Start(Height(height), self._local_ms(node), last_time_ms, records))

    # --- the node's side of the seam ----------------------------------------------------------------

    def _feed(self, node: SimNode, event: Event) -> None:
        """Hand `event` to the node's engine and carry out the actions, as gusu.node's driver does."""
        engine = node.engine
        assert engine is not None
        pending: deque[Action] = deque(engine.on_event(event))
        done = 0
        while pending:
            if node.torn_after is not None and done >= node.torn_after:
                self._crash(node, node.torn_down_ms)
                return
            action = pending.popleft()
            done += 1
            follow_up = self._apply(node, action)
            if follow_up is not None:
                if node.engine is None:
                    return
                pending.extend(engine.on_event(follow_up))

    def _apply(self, node: SimNode, action: Action) -> Event | None:
        if isinstance(action, ScheduleTimer):
            self.sequence += 1
            key = (int(action.height), int(action.round), action.kind)
            node.timers[key] = self.sequence
            self._push(self.now_ms + max(action.delay_ms, 0), node.node_id, node.epoch, _TimerDue(key, self.sequence))
        elif isinstance(action, Broadcast):
            self._broadcast(node, action.message)
        elif isinstance(action, SendMessage):
            data = encode_message(action.message)  # type: ignore[arg-type]
            for target in self.nodes_by_address.get(action.recipient, []):
                if target != node.node_id:
                    self._send(node.node_id, target, _Packet(node.node_id, data))
        elif isinstance(action, AppendWal):
            node.wal.append((int(action.height), action.record))
        elif isinstance(action, BuildProposal):
            self._build(node, action)
        elif isinstance(action, ValidateProposal):
            self._validate(node, action)
        elif isinstance(action, CommitBlock):
            return self._commit(node, action)
        elif isinstance(action, ReportEvidence):
            assert isinstance(action.evidence, Equivocation)
            self.evidence.append((node.node_id, action.evidence))
        return None

    def _broadcast(self, node: SimNode, message: object) -> None:
        assert isinstance(message, (Proposal, Vote))
        if not node.is_byzantine and get_signer_address(message) == node.address:
            self._record_honest_send(node, message)
        data = encode_message(message)
        for target in self.nodes:
            if target.node_id != node.node_id:
                self._send(node.node_id, target.node_id, _Packet(node.node_id, data))

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

    def _send(self, sender: int, receiver: int, payload: _Packet | _SyncRequest | _SyncResponse) -> None:
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
        try:
            message = decode_message(data)
        except CodecError as error:
            self._violate(f"node {sender} sent an undecodable message: {error}")
            return
        if not verify_message(self.suite, self.validator_set, message):
            self._violate(f"a message from node {sender} failed signature verification")
            return
        engine = node.engine
        assert engine is not None
        if message.height > engine.height + 1 or (
            message.height > engine.height and self.now_ms - node.progress_ms >= SYNC_STALL_MS
        ):
            self._request_sync(node, sender)
        self._feed(node, MessageReceived(self.nodes[sender].address, message))

    # --- the application --------------------------------------------------------------------------------

    def _build(self, node: SimNode, action: BuildProposal) -> None:
        self.block_counter += 1
        block_hash = Hash(
            hashlib.sha256(
                b"sim-block/%d/%d/%d/%d" % (action.height, node.node_id, action.round, self.block_counter)
            ).digest()
        )
        is_valid = not (
            node.node_id in self.plan.invalid_builders and self.rng.random() < self.plan.invalid_probability
        )
        self.registry[block_hash] = BlockInfo(action.height, action.round, node.node_id, action.timestamp_ms, is_valid)
        event = ProposalBuilt(action.height, action.round, block_hash, action.timestamp_ms, 0)
        self._push(self.now_ms + self.rng.randint(*BUILD_DELAY_MS), node.node_id, node.epoch, _EngineEvent(event))

    def _is_block_valid(self, node: SimNode, height: int, block_hash: Hash) -> bool:
        info = self.registry.get(block_hash)
        parent_time_ms = node.store[height - 2].timestamp_ms if height >= 2 else GENESIS_TIME_MS
        return (
            info is not None
            and info.is_valid
            and info.height == height
            and height == node.committed_height + 1
            and info.timestamp_ms > parent_time_ms
        )

    def _validate(self, node: SimNode, action: ValidateProposal) -> None:
        is_valid = self._is_block_valid(node, action.height, action.block_hash)
        event = ProposalValidated(action.height, action.round, action.block_hash, is_valid)
        self._push(self.now_ms + self.rng.randint(*VALIDATE_DELAY_MS), node.node_id, node.epoch, _EngineEvent(event))

    def _commit(self, node: SimNode, action: CommitBlock) -> Event | None:
        certificate = action.certificate
        if certificate is None:
            self._violate(f"node {node.node_id} committed height {action.height} without a certificate")
            return None
        if action.height != node.committed_height + 1:
            self._violate(f"node {node.node_id} committed height {action.height} on top of {node.committed_height}")
            return None
        if not self._store_block(node, action.height, action.block_hash, certificate, "commit"):
            return None
        return BlockCommitted(
            action.height, action.block_hash, self._local_ms(node), self.registry[action.block_hash].timestamp_ms
        )

    def _store_block(
        self, node: SimNode, height: Height, block_hash: Hash, certificate: CommitCertificate, how: str
    ) -> bool:
        try:
            verify_commit_certificate(self.suite, CHAIN_ID, self.validator_set, certificate, block_hash)
        except InvalidBlockError as error:
            self._violate(f"validity: node {node.node_id} {how} of height {height} with a bad certificate: {error}")
            return False
        if not self._is_block_valid(node, height, block_hash):
            self._violate(f"validity: node {node.node_id} {how} of an invalid block at height {height}")
            return False
        info = self.registry[block_hash]
        node.store.append(StoredBlock(height, block_hash, info.timestamp_ms, certificate, self.now_ms))
        node.progress_ms = self.now_ms
        self.trace.update(b"c %d %d %d " % (self.now_ms, node.node_id, height) + block_hash)
        if not node.is_byzantine:
            self._check_liveness()
        return True

    # --- block sync -------------------------------------------------------------------------------------

    def _request_sync(self, node: SimNode, peer: int) -> None:
        sent = node.sync_sent_at_ms
        if sent is not None and self.now_ms - sent < SYNC_RETRY_MS:
            return
        node.sync_sent_at_ms = self.now_ms
        self._send(node.node_id, peer, _SyncRequest(node.node_id, node.committed_height + 1))

    def _on_sync_response(self, node: SimNode, blocks: tuple[StoredBlock, ...]) -> None:
        node.sync_sent_at_ms = None
        for block in blocks:
            if node.engine is None:
                return
            if block.height != node.committed_height + 1:
                continue
            if not self._store_block(node, block.height, block.block_hash, block.certificate, "synced"):
                return
            self._feed(node, BlockCommitted(block.height, block.block_hash, self._local_ms(node), block.timestamp_ms))

    # --- checkers -------------------------------------------------------------------------------------

    def _check_after_run(self, deadline_ms: int) -> None:
        from gusu.eval.simulation.checkers import run_checkers

        run_checkers(self, deadline_ms)

    def _make_result(self) -> SimResult:
        heights = [node.committed_height for node in self.honest]
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
        )
