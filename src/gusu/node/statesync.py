"""State sync: offering snapshots to peers, and joining a chain from a certified snapshot (docs/state.md).

Two parts, both free of I/O so tests drive them directly:

* `SnapshotServer` answers peers on the ``statesync`` channel: the offered
  snapshots (the heights `compute_snapshot_heights` keeps: multiples of
  `snapshot_interval_blocks`, the latest `snapshots_kept`), each with its
  header, commit certificate, plan hash and chunk count; a plan by height
  and hash; a chunk by plan index, produced on demand from the retained
  tree version. Each peer has a request budget (rate and chunks being
  produced at once); beyond it the answer is `busy`.
* `StateSyncCore` is the joining side, events in and actions out: it asks
  every peer for offers, keeps those it can certify (`certify`), picks the
  highest, fetches its plan from one provider and checks it (hash, cover),
  then asks the plan's chunks from every provider in parallel (bounded in
  total and per peer), checks each chunk on its own against the certified
  state root, and stages it (`StageChunk`). A peer that sends a bad chunk,
  a wrong plan or an uncertifiable offer is dropped (`DropPeer`) and never
  asked again; its requests go to another. A request unanswered within
  `request_timeout_s` is a strike: the peer is passed over for a penalty
  that doubles per strike. When every peer it reaches has been dropped, it
  fails with the reasons (`StateSyncFailed`). When every chunk is staged:
  `InstallSnapshot`.

Wire (``statesync`` channel, tagged canonical records):

    ["gusu.ssoffersreq.v1"]                                  which snapshots do you offer?
    ["gusu.ssoffers.v1", [[header, certificate, plan hash, chunk count], ...]]
    ["gusu.ssplanreq.v1", height, plan hash]
    ["gusu.ssplan.v1", height, plan hash, [path, ...]]
    ["gusu.sschunkreq.v1", height, plan hash, index]
    ["gusu.sschunk.v1", height, plan hash, index, status, chunk or nil]   status: ok, busy, unavailable
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

from gusu.codec import Value, decode, encode, expect_bytes, expect_list, expect_str, expect_uint
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, InvalidBlockError, InvalidStateProofError
from gusu.ledger.genesis import CONSENSUS_RAFT, GenesisValidator
from gusu.ledger.lightclient import verify_commit_signatures, verify_leader_signature
from gusu.ledger.snapshot import (
    SNAPSHOT_CHUNK_BYTES_MAX,
    compute_snapshot_plan_hash,
    decode_snapshot_chunk,
    validate_snapshot_chunk,
    validate_snapshot_plan,
)
from gusu.ledger.types import (
    HASH_SIZE,
    Address,
    BlockHeader,
    CommitCertificate,
    Hash,
    Height,
    compute_block_hash,
    decode_commit_certificate,
    decode_header,
    encode_commit_certificate,
    encode_header,
)
from gusu.ledger.validators import compute_validators_hash
from gusu.network.pacing import TokenBucket
from gusu.node.config import SNAPSHOTS_KEPT_MAX, StateSyncSettings

logger = logging.getLogger("gusu.node.statesync")

TAG_OFFERS_REQUEST = "gusu.ssoffersreq.v1"
TAG_OFFERS = "gusu.ssoffers.v1"
TAG_PLAN_REQUEST = "gusu.ssplanreq.v1"
TAG_PLAN = "gusu.ssplan.v1"
TAG_CHUNK_REQUEST = "gusu.sschunkreq.v1"
TAG_CHUNK = "gusu.sschunk.v1"

SNAPSHOT_CHUNKS_MAX = 1 << 18
"""Chunks in one plan a receiver accepts (a plan of 4,096-entry chunks covers about a billion entries)."""
HEADER_BYTES_MAX = 4096
CERTIFICATE_BYTES_MAX = 1 << 20
STATUS_OK = "ok"
STATUS_BUSY = "busy"
"""The peer's request budget is spent: ask again later (not a fault)."""
STATUS_UNAVAILABLE = "unavailable"
"""The peer no longer offers that snapshot (pruned, or a chunk above its `chunk_bytes_max`)."""
STATUSES = (STATUS_OK, STATUS_BUSY, STATUS_UNAVAILABLE)
BUSY_PAUSE_S = 0.5
"""How long a peer that answered `busy` is passed over (no strike)."""
PENALTY_MAX_S = 120.0
OFFERS_REFRESH_S = 5.0
"""While no snapshot is chosen, or the chosen one has no provider, offers are asked again this often."""
RETARGET_AFTER_S = 60.0
"""A chosen (or resumed) snapshot that no peer offers for this long is given up for a newer one."""


# --- messages -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotOffer:
    header: BlockHeader
    certificate: CommitCertificate
    plan_hash: Hash
    chunk_count: int

    @property
    def height(self) -> Height:
        return self.header.height


@dataclass(frozen=True, slots=True)
class OffersRequest:
    pass


@dataclass(frozen=True, slots=True)
class Offers:
    offers: tuple[SnapshotOffer, ...]


@dataclass(frozen=True, slots=True)
class PlanRequest:
    height: Height
    plan_hash: Hash


@dataclass(frozen=True, slots=True)
class Plan:
    height: Height
    plan_hash: Hash
    paths: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ChunkRequest:
    height: Height
    plan_hash: Hash
    index: int


@dataclass(frozen=True, slots=True)
class ChunkAnswer:
    height: Height
    plan_hash: Hash
    index: int
    status: str
    data: bytes | None


StateSyncMessage: TypeAlias = OffersRequest | Offers | PlanRequest | Plan | ChunkRequest | ChunkAnswer


def encode_state_sync_message(message: StateSyncMessage) -> bytes:
    if isinstance(message, OffersRequest):
        return encode([TAG_OFFERS_REQUEST])
    if isinstance(message, Offers):
        items: list[Value] = [
            [
                encode_header(offer.header),
                encode_commit_certificate(offer.certificate),
                offer.plan_hash,
                offer.chunk_count,
            ]
            for offer in message.offers
        ]
        return encode([TAG_OFFERS, items])
    if isinstance(message, PlanRequest):
        return encode([TAG_PLAN_REQUEST, message.height, message.plan_hash])
    if isinstance(message, Plan):
        return encode([TAG_PLAN, message.height, message.plan_hash, list(message.paths)])
    if isinstance(message, ChunkRequest):
        return encode([TAG_CHUNK_REQUEST, message.height, message.plan_hash, message.index])
    return encode([TAG_CHUNK, message.height, message.plan_hash, message.index, message.status, message.data])


_SHAPES = {TAG_OFFERS_REQUEST: 1, TAG_OFFERS: 2, TAG_PLAN_REQUEST: 3, TAG_PLAN: 4, TAG_CHUNK_REQUEST: 4, TAG_CHUNK: 6}


def decode_state_sync_message(body: bytes) -> StateSyncMessage:
    """A state-sync record, every field bounded; CodecError for anything else (the sender is disconnected)."""
    value = decode(body)
    if not isinstance(value, list) or not value or not isinstance(value[0], str) or value[0] not in _SHAPES:
        raise CodecError(f"expected one of {', '.join(sorted(_SHAPES))}")
    tag = value[0]
    if len(value) != _SHAPES[tag]:
        raise CodecError(f"a {tag} record has {_SHAPES[tag]} fields")
    if tag == TAG_OFFERS_REQUEST:
        return OffersRequest()
    if tag == TAG_OFFERS:
        offers = []
        for item in expect_list(value[1], "snapshot offers", SNAPSHOTS_KEPT_MAX):
            fields = expect_list(item, "snapshot offer", 4)
            if len(fields) != 4:
                raise CodecError("a snapshot offer is [header, certificate, plan hash, chunk count]")
            offers.append(
                SnapshotOffer(
                    decode_header(expect_bytes(fields[0], "offered header", size_max=HEADER_BYTES_MAX)),
                    decode_commit_certificate(
                        expect_bytes(fields[1], "offered certificate", size_max=CERTIFICATE_BYTES_MAX)
                    ),
                    Hash(expect_bytes(fields[2], "plan hash", size=HASH_SIZE)),
                    expect_uint(fields[3], "chunk count", SNAPSHOT_CHUNKS_MAX),
                )
            )
        return Offers(tuple(offers))
    height = Height(expect_uint(value[1], "snapshot height"))
    plan_hash = Hash(expect_bytes(value[2], "plan hash", size=HASH_SIZE))
    if tag == TAG_PLAN_REQUEST:
        return PlanRequest(height, plan_hash)
    if tag == TAG_PLAN:
        paths = tuple(
            expect_bytes(path, "plan path", size_max=2 * HASH_SIZE)
            for path in expect_list(value[3], "plan paths", SNAPSHOT_CHUNKS_MAX)
        )
        return Plan(height, plan_hash, paths)
    index = expect_uint(value[3], "chunk index", SNAPSHOT_CHUNKS_MAX - 1)
    if tag == TAG_CHUNK_REQUEST:
        return ChunkRequest(height, plan_hash, index)
    status = expect_str(value[4], "chunk status", 16)
    if status not in STATUSES:
        raise CodecError(f"chunk status {status!r} is not one of {', '.join(STATUSES)}")
    data = None if value[5] is None else expect_bytes(value[5], "chunk", size_max=SNAPSHOT_CHUNK_BYTES_MAX)
    if (status == STATUS_OK) != (data is not None):
        raise CodecError("a chunk answer carries the chunk exactly when its status is ok")
    return ChunkAnswer(height, plan_hash, index, status, data)


# --- which heights a node offers ------------------------------------------------------------------------


def compute_snapshot_heights(tip: Height, interval_blocks: int, kept: int, available_from: Height) -> list[Height]:
    """The snapshot heights a node keeps and offers, oldest first: the latest `kept` multiples of
    `interval_blocks` in [max(1, available_from), tip] (none when `interval_blocks` is 0)."""
    if interval_blocks <= 0 or tip < 1:
        return []
    last = tip - tip % interval_blocks
    heights: list[Height] = []
    height = last
    while height >= max(1, available_from) and len(heights) < kept:
        heights.append(Height(height))
        height -= interval_blocks
    return heights[::-1]


# --- which blocks a joining node trusts ---------------------------------------------------------------


def certify_snapshot_block(
    suite: CryptoSuite,
    chain_id: str,
    genesis_validators: Sequence[GenesisValidator],
    get_genesis_engine: Callable[[Height], str],
    settings: StateSyncSettings,
    header: BlockHeader,
    certificate: CommitCertificate,
) -> bool:
    """Whether an offered snapshot's block is certified (a `Certify` for `StateSyncCore`).

    Trusted are the genesis validators, or with `trust_height`/`trust_hash` that one block hash. A header
    whose validator set is not genesis's is certified only by the trust hash: a joining node cannot know a
    later set without following the chain header by header (docs/state.md, "What is verified"). False: not
    checkable here (or not the trusted height); InvalidBlockError: the offer is false.
    """
    if header.chain_id != chain_id:
        raise InvalidBlockError(f"the offered block belongs to chain {header.chain_id!r}")
    if certificate.height != header.height:
        raise InvalidBlockError(f"a certificate of height {certificate.height} came with block {header.height}")
    block_hash = compute_block_hash(suite, header)
    trusted = settings.trusted_block_hash
    if trusted is not None:
        if header.height != settings.trust_height:
            return False
        if block_hash != trusted:
            raise InvalidBlockError(f"its block {header.height} is {block_hash.hex()}, not the trusted {trusted.hex()}")
    if compute_validators_hash(suite, genesis_validators) != header.validators_hash:
        return trusted is not None
    if get_genesis_engine(header.height) == CONSENSUS_RAFT:
        verify_leader_signature(suite, chain_id, genesis_validators, certificate, expected_block_hash=block_hash)
    else:
        verify_commit_signatures(suite, chain_id, genesis_validators, certificate, block_hash)
    return True


# --- the serving side -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServedPlan:
    height: Height
    plan_hash: Hash
    paths: tuple[bytes, ...]


class SnapshotServer:
    """Request budgets for the serving side; the node produces offers, plans and chunks (in a thread)."""

    def __init__(self, settings: StateSyncSettings, clock_s: Callable[[], float]) -> None:
        self._settings = settings
        self._clock_s = clock_s
        self._budgets: dict[Address, TokenBucket] = {}
        self._in_flight: dict[Address, int] = {}
        self.requests_refused = 0

    def try_begin(self, peer: Address, *, is_chunk: bool) -> bool:
        """Whether to serve `peer`'s request now (call `end` after a chunk); False: answer busy."""
        budget = self._budgets.get(peer)
        if budget is None:
            if len(self._budgets) >= 4096:
                self._budgets.clear()  # bounded: forgetting budgets only grants a fresh burst
            budget = self._budgets[peer] = TokenBucket(self._settings.serve_requests_per_peer_per_s, 1.0, self._clock_s)
        busy = is_chunk and self._in_flight.get(peer, 0) >= self._settings.serve_in_flight_per_peer_max
        if busy or budget.delay_for(1.0) > 0:
            self.requests_refused += 1
            return False
        if is_chunk:
            self._in_flight[peer] = self._in_flight.get(peer, 0) + 1
        return True

    def end(self, peer: Address) -> None:
        count = self._in_flight.get(peer, 0) - 1
        if count > 0:
            self._in_flight[peer] = count
        else:
            self._in_flight.pop(peer, None)


# --- the joining side: actions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotTarget:
    """The snapshot being synced: its certified block, and the plan whose chunks make up its state."""

    header: BlockHeader
    block_hash: Hash
    certificate: CommitCertificate
    plan_hash: Hash
    paths: tuple[bytes, ...]

    @property
    def height(self) -> Height:
        return self.header.height


@dataclass(frozen=True, slots=True)
class SendRequest:
    peer: Address
    message: OffersRequest | PlanRequest | ChunkRequest


@dataclass(frozen=True, slots=True)
class DropPeer:
    peer: Address
    reason: str


@dataclass(frozen=True, slots=True)
class StageTarget:
    target: SnapshotTarget


@dataclass(frozen=True, slots=True)
class DiscardStaged:
    """The staged snapshot is given up (no peer offers it any more): delete its staged chunks."""


@dataclass(frozen=True, slots=True)
class StageChunk:
    index: int
    data: bytes


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    target: SnapshotTarget


@dataclass(frozen=True, slots=True)
class StateSyncFailed:
    message: str


StateSyncAction: TypeAlias = (
    SendRequest | DropPeer | StageTarget | DiscardStaged | StageChunk | InstallSnapshot | StateSyncFailed
)

Certify: TypeAlias = Callable[[BlockHeader, CommitCertificate], bool]
"""True: the header is certified; False: it cannot be checked here (not the peer's fault, e.g. the validator
set changed since genesis and no trust hash is configured); raises InvalidBlockError: the peer lied."""


@dataclass(slots=True)
class StateSyncProgress:
    phase: str = "discovering"
    """discovering, fetching, installing, done, failed."""
    height: Height | None = None
    chunks_total: int = 0
    chunks_done: int = 0
    peers_dropped: int = 0
    error: str = ""
    chunks_by_peer: dict[Address, int] = field(default_factory=dict)
    """Verified chunks each peer sent (this run)."""


@dataclass(slots=True)
class _PeerState:
    connected: bool = True
    offers: tuple[SnapshotOffer, ...] = ()
    strikes: int = 0
    penalised_until_s: float = 0.0
    in_flight: int = 0


@dataclass(slots=True)
class _PlanRequest:
    peer: Address
    offer: SnapshotOffer
    sent_s: float


@dataclass(slots=True)
class _Candidate:
    offer: SnapshotOffer
    providers: list[Address] = field(default_factory=list)


class StateSyncCore:
    """The joining node's state sync, events in, actions out (see the module docstring)."""

    def __init__(
        self,
        settings: StateSyncSettings,
        suite: CryptoSuite,
        certify: Certify,
        *,
        staged: tuple[SnapshotTarget, frozenset[int]] | None = None,
        now_s: float = 0.0,
    ) -> None:
        self._settings = settings
        self._suite = suite
        self._certify = certify
        self._peers: dict[Address, _PeerState] = {}
        self._dropped: dict[Address, str] = {}
        self._all_dropped_since_s: float | None = None
        self._uncertifiable: set[Height] = set()
        self._first_offer_s: float | None = None
        self._plan_request: _PlanRequest | None = None
        self._target: SnapshotTarget | None = None
        self._done: set[int] = set()
        self._in_flight: dict[int, tuple[Address, float]] = {}
        self._next_peer = 0
        self._offers_asked_s = now_s
        self._provider_seen_s = now_s
        self.progress = StateSyncProgress()
        if staged is not None:
            target, done = staged
            self._set_target(target, now_s)
            self._done = {index for index in done if 0 <= index < len(target.paths)}
            self.progress.chunks_done = len(self._done)

    @property
    def target(self) -> SnapshotTarget | None:
        return self._target

    @property
    def is_finished(self) -> bool:
        return self.progress.phase in ("installing", "done", "failed")

    def get_dropped_peers(self) -> dict[Address, str]:
        return dict(self._dropped)

    # --- events

    def on_start(self, now_s: float) -> list[StateSyncAction]:
        """After a resume every chunk may already be staged (a crash during the install)."""
        return self._advance(now_s)

    def on_peer_connected(self, peer: Address, now_s: float) -> list[StateSyncAction]:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _PeerState()
        state.connected = True
        if peer in self._dropped or self.is_finished:
            return []
        return [SendRequest(peer, OffersRequest())]

    def on_peer_disconnected(self, peer: Address, now_s: float) -> list[StateSyncAction]:
        state = self._peers.get(peer)
        if state is None:
            return []
        state.connected = False
        self._release_requests_of(peer)
        return self._advance(now_s)

    def on_offers(self, peer: Address, offers: Sequence[SnapshotOffer], now_s: float) -> list[StateSyncAction]:
        state = self._peers.get(peer)
        if state is None or peer in self._dropped or self.is_finished:
            return []
        trust_height = self._settings.trust_height
        certified: list[SnapshotOffer] = []
        for offer in offers:
            if trust_height and offer.height != trust_height:
                continue  # we sync only the trusted height
            if offer.chunk_count < 1 or offer.certificate.height != offer.height:
                return self._drop(peer, f"it offered a malformed snapshot at height {offer.height}", now_s)
            try:
                if not self._certify(offer.header, offer.certificate):
                    if len(self._uncertifiable) >= SNAPSHOTS_KEPT_MAX:
                        self._uncertifiable.clear()  # only for the log line: bounded, whatever peers offer
                    self._uncertifiable.add(offer.height)
                    continue
            except InvalidBlockError as error:
                return self._drop(peer, f"its snapshot at height {offer.height} is not certified: {error}", now_s)
            certified.append(offer)
        state.offers = tuple(certified)
        if certified and self._first_offer_s is None:
            self._first_offer_s = now_s
        return self._advance(now_s)

    def on_plan(self, peer: Address, plan: Plan, now_s: float) -> list[StateSyncAction]:
        request = self._plan_request
        if request is None or request.peer != peer:
            return []  # unsolicited: ignored
        offer = request.offer
        if plan.height != offer.height or plan.plan_hash != offer.plan_hash:
            return []  # an answer to an older request
        self._plan_request = None
        self._peer(peer).in_flight = 0
        if compute_snapshot_plan_hash(self._suite, plan.paths) != offer.plan_hash:
            return self._drop(peer, "it sent a plan that does not hash to the plan it offered", now_s)
        if len(plan.paths) != offer.chunk_count:
            return self._drop(
                peer, f"it sent a plan of {len(plan.paths)} chunks, having offered {offer.chunk_count}", now_s
            )
        try:
            validate_snapshot_plan(plan.paths)
        except InvalidStateProofError as error:
            return self._drop(peer, f"it sent a wrong plan: {error}", now_s)
        target = SnapshotTarget(
            offer.header, compute_block_hash(self._suite, offer.header), offer.certificate, offer.plan_hash, plan.paths
        )
        self._set_target(target, now_s)
        return [StageTarget(target), *self._advance(now_s)]

    def on_chunk(self, peer: Address, answer: ChunkAnswer, now_s: float) -> list[StateSyncAction]:
        target = self._target
        sent = self._in_flight.get(answer.index)
        if (
            target is None
            or sent is None
            or sent[0] != peer
            or answer.height != target.height
            or answer.plan_hash != target.plan_hash
        ):
            return []  # unsolicited or late: ignored, and it frees nothing
        del self._in_flight[answer.index]
        state = self._peer(peer)
        state.in_flight -= 1
        if answer.status == STATUS_BUSY:
            state.penalised_until_s = max(state.penalised_until_s, now_s + BUSY_PAUSE_S)
            return self._advance(now_s)
        if answer.status == STATUS_UNAVAILABLE or answer.data is None:
            state.offers = tuple(offer for offer in state.offers if not self._is_target_offer(offer))
            return self._advance(now_s)
        try:
            chunk = decode_snapshot_chunk(answer.data)
            if chunk.path != target.paths[answer.index]:
                raise InvalidStateProofError(
                    f"chunk {answer.index} is for path {chunk.path.hex()}, not {target.paths[answer.index].hex()}"
                )
            validate_snapshot_chunk(self._suite, target.header.state_root, chunk)
        except (CodecError, InvalidStateProofError) as error:
            return self._drop(peer, f"it sent a bad chunk {answer.index} of snapshot {target.height}: {error}", now_s)
        state.strikes = 0
        self._done.add(answer.index)
        self.progress.chunks_done = len(self._done)
        self.progress.chunks_by_peer[peer] = self.progress.chunks_by_peer.get(peer, 0) + 1
        return [StageChunk(answer.index, answer.data), *self._advance(now_s)]

    def on_tick(self, now_s: float) -> list[StateSyncAction]:
        """Time passes: expire requests (a strike each), ask for offers again if needed, send what is due."""
        timeout_s = self._settings.request_timeout_s
        actions: list[StateSyncAction] = []
        request = self._plan_request
        if request is not None and now_s - request.sent_s >= timeout_s:
            self._plan_request = None
            self._peer(request.peer).in_flight = 0
            self._strike(request.peer, now_s)
        for index, (peer, sent_s) in list(self._in_flight.items()):
            if now_s - sent_s >= timeout_s:
                del self._in_flight[index]
                self._peer(peer).in_flight -= 1
                self._strike(peer, now_s)
        if not self.is_finished and now_s - self._offers_asked_s >= OFFERS_REFRESH_S and not self._get_providers():
            self._offers_asked_s = now_s
            actions.extend(
                SendRequest(peer, OffersRequest())
                for peer, state in sorted(self._peers.items())
                if state.connected and peer not in self._dropped
            )
        return actions + self._advance(now_s)

    # --- internals

    def _peer(self, peer: Address) -> _PeerState:
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _PeerState(connected=False)
        return state

    def _set_target(self, target: SnapshotTarget, now_s: float) -> None:
        self._target = target
        self._provider_seen_s = now_s
        self.progress.phase = "fetching"
        self.progress.height = target.height
        self.progress.chunks_total = len(target.paths)

    def _is_target_offer(self, offer: SnapshotOffer) -> bool:
        target = self._target
        return (
            target is not None
            and offer.height == target.height
            and offer.plan_hash == target.plan_hash
            and compute_block_hash(self._suite, offer.header) == target.block_hash
        )

    def _get_providers(self) -> list[Address]:
        if self._target is None:
            return []
        return [
            peer
            for peer, state in sorted(self._peers.items())
            if state.connected and peer not in self._dropped and any(self._is_target_offer(o) for o in state.offers)
        ]

    def _strike(self, peer: Address, now_s: float) -> None:
        state = self._peer(peer)
        state.strikes += 1
        penalty = min(self._settings.request_timeout_s * 2 ** (state.strikes - 1), PENALTY_MAX_S)
        state.penalised_until_s = now_s + penalty
        logger.info("state sync: peer %s did not answer in time (strike %d)", peer.hex()[:12], state.strikes)

    def _release_requests_of(self, peer: Address) -> None:
        if self._plan_request is not None and self._plan_request.peer == peer:
            self._plan_request = None
        for index, (holder, _) in list(self._in_flight.items()):
            if holder == peer:
                del self._in_flight[index]
        self._peer(peer).in_flight = 0

    def _drop(self, peer: Address, reason: str, now_s: float) -> list[StateSyncAction]:
        self._dropped[peer] = reason
        self.progress.peers_dropped = len(self._dropped)
        self._release_requests_of(peer)
        self._peer(peer).offers = ()
        logger.warning("state sync: dropping peer %s: %s", peer.hex()[:12], reason)
        return [DropPeer(peer, reason), *self._advance(now_s)]

    def _fail_if_no_peer_left(self, now_s: float) -> list[StateSyncAction]:
        """Fail once every peer reached was dropped, and stayed so for `request_timeout_s` (others may yet come)."""
        connected = [peer for peer, state in self._peers.items() if state.connected]
        if not self._dropped or any(peer not in self._dropped for peer in connected):
            self._all_dropped_since_s = None
            return []
        if self._all_dropped_since_s is None:
            self._all_dropped_since_s = now_s
        if now_s - self._all_dropped_since_s < self._settings.request_timeout_s:
            return []
        reasons = "; ".join(f"{peer.hex()[:12]}: {reason}" for peer, reason in sorted(self._dropped.items()))
        message = (
            f"state sync failed: every peer this node reaches sent bad snapshot data ({reasons}). Check "
            "[p2p] peers and [state_sync] trust_height/trust_hash, or join from peers you trust"
        )
        self.progress.phase = "failed"
        self.progress.error = message
        return [StateSyncFailed(message)]

    def _advance(self, now_s: float) -> list[StateSyncAction]:
        if self.is_finished:
            return []
        failed = self._fail_if_no_peer_left(now_s)
        if failed:
            return failed
        target = self._target
        if target is None:
            return self._choose_target(now_s)
        if len(self._done) == len(target.paths):
            self.progress.phase = "installing"
            return [InstallSnapshot(target)]
        providers = self._get_providers()
        if providers:
            self._provider_seen_s = now_s
        elif now_s - self._provider_seen_s >= RETARGET_AFTER_S and self._has_other_offers():
            logger.warning("state sync: no peer offers snapshot %d any more; choosing another", target.height)
            self._target = None
            self._done.clear()
            self._in_flight.clear()
            for state in self._peers.values():
                state.in_flight = 0
            self.progress = StateSyncProgress(peers_dropped=len(self._dropped))
            return [DiscardStaged(), *self._choose_target(now_s)]
        return self._request_chunks(target, providers, now_s)

    def _has_other_offers(self) -> bool:
        return any(
            state.connected and peer not in self._dropped and state.offers for peer, state in self._peers.items()
        )

    def _request_chunks(self, target: SnapshotTarget, providers: list[Address], now_s: float) -> list[StateSyncAction]:
        settings = self._settings
        actions: list[StateSyncAction] = []
        pending = (
            index for index in range(len(target.paths)) if index not in self._done and index not in self._in_flight
        )
        while len(self._in_flight) < settings.fetch_in_flight_max:
            ready = [
                peer
                for peer in providers
                if self._peers[peer].in_flight < settings.fetch_in_flight_per_peer_max
                and self._peers[peer].penalised_until_s <= now_s
            ]
            if not ready:
                break
            index = next(pending, None)
            if index is None:
                break
            peer = ready[self._next_peer % len(ready)]
            self._next_peer += 1
            self._in_flight[index] = (peer, now_s)
            self._peers[peer].in_flight += 1
            actions.append(SendRequest(peer, ChunkRequest(target.height, target.plan_hash, index)))
        return actions

    def _choose_target(self, now_s: float) -> list[StateSyncAction]:
        if self._plan_request is not None or self._first_offer_s is None:
            return []
        if now_s - self._first_offer_s < self._settings.discovery_s:
            return []
        candidates: dict[tuple[Height, bytes, bytes], _Candidate] = {}
        for peer, state in sorted(self._peers.items()):
            if not state.connected or peer in self._dropped or state.penalised_until_s > now_s:
                continue
            for offer in state.offers:
                key = (offer.height, compute_block_hash(self._suite, offer.header), offer.plan_hash)
                candidates.setdefault(key, _Candidate(offer)).providers.append(peer)
        if not candidates:
            return []
        # The highest certified height; among its plans the one most peers offer (honest peers agree on it).
        best = max(candidates, key=lambda item: (item[0], len(candidates[item].providers), item[2]))
        candidate = candidates[best]
        peer = candidate.providers[self._next_peer % len(candidate.providers)]
        self._next_peer += 1
        self._plan_request = _PlanRequest(peer, candidate.offer, now_s)
        self._peers[peer].in_flight = 1
        return [SendRequest(peer, PlanRequest(candidate.offer.height, candidate.offer.plan_hash))]

    def describe_waiting(self) -> str:
        """Why nothing is happening (for the node's periodic log line)."""
        if self._uncertifiable and self._target is None:
            heights = ", ".join(str(height) for height in sorted(self._uncertifiable)[-3:])
            return (
                f"peers offer snapshots at heights {heights} whose validator set this node cannot check from "
                "genesis; set [state_sync] trust_height and trust_hash"
            )
        if self._target is None:
            return "waiting for peers to offer a snapshot"
        return f"snapshot {self._target.height}: {len(self._done)} of {len(self._target.paths)} chunks"
