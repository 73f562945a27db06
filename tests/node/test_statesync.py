"""State sync's pure core and its staging: offers, plans, chunks from several peers, hostile and stalling peers,
the durable stage and the resume after a crash, and the install into an empty store."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from gusu.crypto import get_suite
from gusu.errors import CodecError, ConfigError, InvalidBlockError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.kv import MemoryStore, WriteBatch
from gusu.ledger.smt import apply_tree_update_to_batch, apply_tree_updates
from gusu.ledger.snapshot import (
    SnapshotEntry,
    compute_snapshot_plan,
    compute_snapshot_plan_hash,
    decode_snapshot_chunk,
    encode_snapshot_chunk,
    get_snapshot_chunk,
)
from gusu.ledger.store import BlockStore
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Hash,
    Height,
    Round,
    compute_block_hash,
    encode_commit_vote,
)
from gusu.ledger.validators import compute_validators_hash
from gusu.node.config import StateSyncSettings, compute_settings
from gusu.node.statesync import (
    STATUS_BUSY,
    STATUS_OK,
    STATUS_UNAVAILABLE,
    ChunkAnswer,
    ChunkRequest,
    DropPeer,
    InstallSnapshot,
    Offers,
    OffersRequest,
    Plan,
    PlanRequest,
    SendRequest,
    SnapshotOffer,
    SnapshotServer,
    StageChunk,
    StageTarget,
    StateSyncAction,
    StateSyncCore,
    StateSyncFailed,
    certify_snapshot_block,
    compute_snapshot_heights,
    decode_state_sync_message,
    encode_state_sync_message,
)
from gusu.node.statesync_stage import StateSyncStage, install_snapshot

SUITE = get_suite("ecdsa")
HEIGHT = Height(20)
PEERS = [Address(bytes([index]) * 20) for index in range(1, 5)]
SETTINGS = StateSyncSettings(
    enabled=True, fetch_in_flight_max=4, fetch_in_flight_per_peer_max=2, request_timeout_s=5.0, discovery_s=1.0
)


@dataclass(frozen=True)
class Snapshot:
    header: BlockHeader
    certificate: CommitCertificate
    paths: tuple[bytes, ...]
    plan_hash: Hash
    chunks: tuple[bytes, ...]
    state: dict[bytes, bytes]

    @property
    def offer(self) -> SnapshotOffer:
        return SnapshotOffer(self.header, self.certificate, self.plan_hash, len(self.paths))

    def answer(self, index: int) -> ChunkAnswer:
        return ChunkAnswer(self.header.height, self.plan_hash, index, STATUS_OK, self.chunks[index])


def _make_snapshot(count: int = 300, seed: int = 0, height: Height = HEIGHT) -> Snapshot:
    state = {f"key-{seed}-{index}".encode(): f"value-{index}".encode() * 3 for index in range(count)}
    store = MemoryStore()
    update = apply_tree_updates(store, SUITE, height, None, dict(state))
    batch = WriteBatch()
    apply_tree_update_to_batch(batch, update)
    store.write(batch)
    paths = tuple(path for path, _ in compute_snapshot_plan(store, height, 40))
    chunks = tuple(encode_snapshot_chunk(get_snapshot_chunk(store, SUITE, height, path)) for path in paths)
    header = BlockHeader(
        chain_id="test",
        height=height,
        parent_hash=Hash(b"\x01" * 32),
        timestamp_ms=1,
        proposer=PEERS[0],
        transactions_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        state_root=update.root,
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
        transaction_count=0,
    )
    certificate = CommitCertificate(height, 0, compute_block_hash(SUITE, header), ())
    plan_hash = Hash(compute_snapshot_plan_hash(SUITE, paths))
    return Snapshot(header, certificate, paths, plan_hash, chunks, state)


GOOD = _make_snapshot()


def _certify_good(header: BlockHeader, certificate: CommitCertificate) -> bool:
    """Stands in for the certificate check: only GOOD's block (and another height's test block) is certified."""
    if compute_block_hash(SUITE, header) == compute_block_hash(SUITE, GOOD.header):
        return True
    if header.state_root == GOOD.header.state_root or header.height == HEIGHT:
        raise InvalidBlockError("the certificate does not carry a quorum")
    return True


def _core(staged: tuple[object, frozenset[int]] | None = None) -> StateSyncCore:
    return StateSyncCore(SETTINGS, SUITE, _certify_good, staged=staged)  # type: ignore[arg-type]


def _requests(actions: list[StateSyncAction]) -> list[SendRequest]:
    return [action for action in actions if isinstance(action, SendRequest)]


def _chosen(core: StateSyncCore, snapshot: Snapshot = GOOD, peers: list[Address] = PEERS) -> list[StateSyncAction]:
    """Connect `peers`, each offering `snapshot`, and let discovery end: the plan request goes out."""
    for peer in peers:
        assert _requests(core.on_peer_connected(peer, 0.0))[0].message == OffersRequest()
        core.on_offers(peer, [snapshot.offer], 0.0)
    return core.on_tick(SETTINGS.discovery_s)


def _fetching(core: StateSyncCore, snapshot: Snapshot = GOOD) -> list[StateSyncAction]:
    [request] = _requests(_chosen(core, snapshot))
    assert request.message == PlanRequest(snapshot.header.height, snapshot.plan_hash)
    actions = core.on_plan(request.peer, Plan(snapshot.header.height, snapshot.plan_hash, snapshot.paths), 2.0)
    assert isinstance(actions[0], StageTarget)
    return actions


def _serve_all(
    core: StateSyncCore, actions: list[StateSyncAction], now_s: float = 2.0, bad: dict | None = None
) -> list[StateSyncAction]:  # type: ignore[type-arg]
    """Answer every chunk request (`bad`: peer -> function making its answer) until nothing is asked; all actions."""
    seen: list[StateSyncAction] = list(actions)
    pending = _requests(actions)
    while pending:
        request = pending.pop(0)
        message = request.message
        assert isinstance(message, ChunkRequest)
        answer = GOOD.answer(message.index)
        if bad and request.peer in bad:
            answer = bad[request.peer](answer)
        new = core.on_chunk(request.peer, answer, now_s)
        seen.extend(new)
        pending.extend(_requests(new))
    return seen


def test_messages_round_trip_and_hostile_encodings_are_refused() -> None:
    messages = [
        OffersRequest(),
        Offers((GOOD.offer,)),
        PlanRequest(HEIGHT, GOOD.plan_hash),
        Plan(HEIGHT, GOOD.plan_hash, GOOD.paths),
        ChunkRequest(HEIGHT, GOOD.plan_hash, 3),
        GOOD.answer(3),
        ChunkAnswer(HEIGHT, GOOD.plan_hash, 3, STATUS_BUSY, None),
    ]
    for message in messages:
        assert decode_state_sync_message(encode_state_sync_message(message)) == message
    with pytest.raises(CodecError, match="exactly when its status is ok"):
        decode_state_sync_message(
            encode_state_sync_message(ChunkAnswer(HEIGHT, GOOD.plan_hash, 3, STATUS_UNAVAILABLE, b"x"))
        )
    with pytest.raises(CodecError):
        decode_state_sync_message(encode_state_sync_message(ChunkAnswer(HEIGHT, GOOD.plan_hash, 3, "maybe", None)))
    with pytest.raises(CodecError):
        decode_state_sync_message(b"\x93\xa1x\x01\x02")


def test_snapshot_heights_are_the_latest_multiples_still_available() -> None:
    assert compute_snapshot_heights(Height(95), 10, 3, Height(0)) == [70, 80, 90]
    assert compute_snapshot_heights(Height(95), 10, 3, Height(75)) == [80, 90]
    assert compute_snapshot_heights(Height(9), 10, 3, Height(0)) == []
    assert compute_snapshot_heights(Height(95), 0, 3, Height(0)) == []


def test_chunks_come_from_several_peers_in_parallel_within_bounds_and_make_the_state() -> None:
    core = _core()
    actions = _fetching(core)
    requests = _requests(actions)
    assert len(requests) == SETTINGS.fetch_in_flight_max  # bounded in total
    per_peer: dict[Address, int] = {}
    for request in requests:
        per_peer[request.peer] = per_peer.get(request.peer, 0) + 1
    assert len(per_peer) > 1 and max(per_peer.values()) <= SETTINGS.fetch_in_flight_per_peer_max
    seen = _serve_all(core, actions)
    staged = {action.index: action.data for action in seen if isinstance(action, StageChunk)}
    assert sorted(staged) == list(range(len(GOOD.paths)))
    assert isinstance(seen[-1], InstallSnapshot) and seen[-1].target.header == GOOD.header
    assembled = {entry.key: entry.value for data in staged.values() for entry in decode_snapshot_chunk(data).entries}
    assert assembled == GOOD.state


def _tampered(answer: ChunkAnswer) -> ChunkAnswer:
    chunk = decode_snapshot_chunk(answer.data or b"")
    entries = chunk.entries or (SnapshotEntry(b"forged", b"x"),)
    entries = (replace(entries[0], value=entries[0].value + b"!"), *entries[1:])
    return replace(answer, data=encode_snapshot_chunk(replace(chunk, entries=entries)))


def _other_root(answer: ChunkAnswer) -> ChunkAnswer:
    """A chunk of the same path, honestly produced, but from another state (another root)."""
    other = _make_snapshot(seed=1)
    chunk = decode_snapshot_chunk(answer.data or b"")
    store = MemoryStore()
    update = apply_tree_updates(store, SUITE, HEIGHT, None, dict(other.state))
    batch = WriteBatch()
    apply_tree_update_to_batch(batch, update)
    store.write(batch)
    return replace(answer, data=encode_snapshot_chunk(get_snapshot_chunk(store, SUITE, HEIGHT, chunk.path)))


def _wrong_path(answer: ChunkAnswer) -> ChunkAnswer:
    return replace(answer, data=GOOD.chunks[(answer.index + 1) % len(GOOD.chunks)])


def _garbage(answer: ChunkAnswer) -> ChunkAnswer:
    return replace(answer, data=b"\x00garbage")


@pytest.mark.parametrize("make_bad", [_tampered, _other_root, _wrong_path, _garbage])
def test_a_peer_sending_a_bad_chunk_is_dropped_and_another_peer_serves_it(make_bad) -> None:  # type: ignore[no-untyped-def]
    core = _core()
    liar = PEERS[1]
    seen = _serve_all(core, _fetching(core), bad={liar: make_bad})
    drops = [action for action in seen if isinstance(action, DropPeer)]
    assert [drop.peer for drop in drops] == [liar]
    assert "bad chunk" in drops[0].reason
    # Nothing the liar sent was staged, every chunk came from an honest peer, and the liar was not asked again.
    staged = [action for action in seen if isinstance(action, StageChunk)]
    assert sorted(action.index for action in staged) == list(range(len(GOOD.paths)))
    assert all(action.data == GOOD.chunks[action.index] for action in staged)
    drop_position = seen.index(drops[0])
    assert not [a for a in _requests(seen[drop_position:]) if a.peer == liar]
    assert isinstance(seen[-1], InstallSnapshot)
    assert core.get_dropped_peers().keys() == {liar}


def test_a_wrong_plan_drops_the_peer_and_the_plan_is_asked_of_another() -> None:
    core = _core()
    [request] = _requests(_chosen(core))
    liar = request.peer
    bad_plans = [
        Plan(HEIGHT, GOOD.plan_hash, GOOD.paths[:-1]),  # does not hash to the plan offered
    ]
    actions = core.on_plan(liar, bad_plans[0], 2.0)
    assert isinstance(actions[0], DropPeer) and actions[0].peer == liar and "does not hash" in actions[0].reason
    [again] = _requests(actions)
    assert again.peer != liar and isinstance(again.message, PlanRequest)
    # A plan that hashes to what its sender offered but does not cover the key space: dropped too.
    gap = GOOD.paths[1:]
    liar_offer = SnapshotOffer(GOOD.header, GOOD.certificate, Hash(compute_snapshot_plan_hash(SUITE, gap)), len(gap))
    core2 = _core()
    core2.on_peer_connected(PEERS[0], 0.0)
    core2.on_offers(PEERS[0], [liar_offer], 0.0)
    assert _requests(core2.on_tick(SETTINGS.discovery_s))
    actions2 = core2.on_plan(PEERS[0], Plan(HEIGHT, liar_offer.plan_hash, gap), 2.0)
    assert isinstance(actions2[0], DropPeer) and "wrong plan" in actions2[0].reason


def test_an_offer_that_is_not_certified_drops_the_peer() -> None:
    core = _core()
    forged = replace(GOOD.header, timestamp_ms=2)  # same height, another block: its certificate cannot be right
    core.on_peer_connected(PEERS[0], 0.0)
    offer = SnapshotOffer(
        forged, replace(GOOD.certificate, block_hash=compute_block_hash(SUITE, forged)), GOOD.plan_hash, 3
    )
    actions = core.on_offers(PEERS[0], [offer], 0.0)
    assert isinstance(actions[0], DropPeer) and "not certified" in actions[0].reason


def test_a_stalling_peer_times_out_is_passed_over_and_its_chunks_go_to_others() -> None:
    core = _core()
    staller = PEERS[0]
    actions = _fetching(core)
    stalled = [r for r in _requests(actions) if r.peer == staller]
    assert stalled
    answered = [r for r in _requests(actions) if r.peer != staller]
    seen: list[StateSyncAction] = []
    for request in answered:
        assert isinstance(request.message, ChunkRequest)
        seen.extend(core.on_chunk(request.peer, GOOD.answer(request.message.index), 2.5))
    # Before the timeout the staller keeps its requests; after it, they go to the others, never to it.
    assert not [r for r in _requests(core.on_tick(2.0 + SETTINGS.request_timeout_s - 0.1)) if r.peer == staller]
    retried = core.on_tick(2.0 + SETTINGS.request_timeout_s)
    done = _serve_all(core, seen + retried, now_s=8.0)
    assert all(request.peer != staller for request in _requests(retried + done))
    indexes_retried = {r.message.index for r in _requests(retried + done) if isinstance(r.message, ChunkRequest)}
    assert {r.message.index for r in stalled if isinstance(r.message, ChunkRequest)} <= indexes_retried
    assert isinstance(done[-1], InstallSnapshot)
    assert staller not in core.get_dropped_peers()  # slow is not lying: it is only passed over


def test_when_every_peer_sends_bad_data_the_sync_fails_with_a_clear_error() -> None:
    core = _core()
    actions = _fetching(core)
    bad = {peer: _tampered for peer in PEERS}
    seen = _serve_all(core, actions, bad=bad)
    assert {a.peer for a in seen if isinstance(a, DropPeer)} == set(PEERS)
    assert not [a for a in seen if isinstance(a, StateSyncFailed)]  # others may still connect: not yet
    for peer in PEERS:
        core.on_peer_disconnected(peer, 3.0)
    failed = [a for a in core.on_tick(3.0 + SETTINGS.request_timeout_s) if isinstance(a, StateSyncFailed)]
    assert failed and "every peer this node reaches sent bad snapshot data" in failed[0].message
    assert all(peer.hex()[:12] in failed[0].message for peer in PEERS)
    assert core.progress.phase == "failed"


def test_busy_and_unavailable_answers_are_not_faults() -> None:
    core = _core()
    actions = _fetching(core)
    first = _requests(actions)[0]
    assert isinstance(first.message, ChunkRequest)
    busy = ChunkAnswer(HEIGHT, GOOD.plan_hash, first.message.index, STATUS_BUSY, None)
    assert not [a for a in core.on_chunk(first.peer, busy, 2.0) if isinstance(a, DropPeer)]
    gone = ChunkAnswer(HEIGHT, GOOD.plan_hash, _requests(actions)[1].message.index, STATUS_UNAVAILABLE, None)  # type: ignore[union-attr]
    assert not [a for a in core.on_chunk(_requests(actions)[1].peer, gone, 2.0) if isinstance(a, DropPeer)]
    # An answer nobody asked for is ignored and frees nothing.
    assert core.on_chunk(PEERS[3], GOOD.answer(len(GOOD.paths) - 1), 2.0) == []
    assert not core.get_dropped_peers()


def test_staged_chunks_survive_a_crash_and_the_sync_resumes_where_it_stopped(tmp_path: Path) -> None:
    stage = StateSyncStage(tmp_path / "statesync", SUITE)
    core = _core()
    actions = _fetching(core)
    target = next(a.target for a in actions if isinstance(a, StageTarget))
    stage.save_target(target)
    staged_before_crash: set[int] = set()
    for request in _requests(actions)[:3]:
        assert isinstance(request.message, ChunkRequest)
        for action in core.on_chunk(request.peer, GOOD.answer(request.message.index), 2.0):
            if isinstance(action, StageChunk):
                stage.save_chunk(action.index, action.data)
                staged_before_crash.add(action.index)
    # A damaged staged file is not trusted: it is fetched again (torn, or a well-formed chunk of another state).
    damaged, foreign = sorted(staged_before_crash)[:2]
    (tmp_path / "statesync" / f"chunk-{damaged:08d}.bin").write_bytes(b"torn")
    foreign_data = _other_root(GOOD.answer(foreign)).data
    assert foreign_data is not None and foreign_data != GOOD.chunks[foreign]
    (tmp_path / "statesync" / f"chunk-{foreign:08d}.bin").write_bytes(foreign_data)
    # The process dies; a new one loads the stage.
    loaded = StateSyncStage(tmp_path / "statesync", SUITE).load()
    assert loaded is not None
    assert loaded[0] == target and loaded[1] == frozenset(staged_before_crash - {damaged, foreign})
    resumed = _core(staged=loaded)  # type: ignore[arg-type]
    first: list[StateSyncAction] = []
    for peer in PEERS:
        resumed.on_peer_connected(peer, 0.0)
        first += resumed.on_offers(peer, [GOOD.offer], 0.0)
    assert not [r for r in _requests(first) if isinstance(r.message, PlanRequest)]  # no new plan: it resumes
    everything = _serve_all(resumed, first)
    fetched = {a.index for a in everything if isinstance(a, StageChunk)}
    assert fetched.isdisjoint(staged_before_crash - {damaged, foreign})  # what was staged is not fetched again
    assert {damaged, foreign} <= fetched
    assert fetched | staged_before_crash == set(range(len(GOOD.paths)))
    assert isinstance(everything[-1], InstallSnapshot)


def test_the_install_writes_the_state_and_tree_and_makes_the_snapshot_the_stores_base(tmp_path: Path) -> None:
    stage = StateSyncStage(tmp_path / "statesync", SUITE)
    core = _core()
    seen = _serve_all(core, _fetching(core))
    target = next(a.target for a in seen if isinstance(a, InstallSnapshot))
    stage.save_target(target)
    for action in seen:
        if isinstance(action, StageChunk):
            stage.save_chunk(action.index, action.data)
    store = BlockStore(MemoryStore(), SUITE)
    store.initialize("test", Hash(b"\x02" * 32))
    for key in GOOD.state:
        assert store.get(key) is None  # read (and cached as absent) while joining
    install_snapshot(store, stage, target)
    assert store.get_tip() == (HEIGHT, target.block_hash)
    assert store.get_base_height() == HEIGHT
    assert store.get_header(Height(HEIGHT - 1)) is None
    for key, value in GOOD.state.items():
        assert store.get(key) == value
        assert store.get_state_value(HEIGHT, key) == value
    assert store.get_state_proof(HEIGHT, b"absent") is not None
    # A stage whose entries do not make the certified root is refused (and cleared).
    store2 = BlockStore(MemoryStore(), SUITE)
    store2.initialize("test", Hash(b"\x02" * 32))
    wrong = replace(target, header=replace(target.header, state_root=Hash(b"\x09" * 32)))
    with pytest.raises(Exception, match="does not make its certified state root"):
        install_snapshot(store2, stage, wrong)
    assert store2.get_tip() is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"trust_height": 5}, "needs trust_hash"),
        ({"trust_hash": "ab" * 32}, "needs trust_height"),
        ({"trust_height": 5, "trust_hash": "xyz"}, "64-hex-digit hash"),
        ({"trust_hash": "xyz"}, "needs trust_height"),
        ({"snapshots_kept": 0}, "snapshots_kept"),
        ({"chunk_entries_max": 0}, "chunk_entries_max"),
        ({"chunk_bytes_max": 10}, "chunk_bytes_max"),
        ({"fetch_in_flight_max": 2, "fetch_in_flight_per_peer_max": 3}, "fetch_in_flight_per_peer_max"),
        ({"request_timeout_s": 0}, "request_timeout_s"),
        ({"unknown": 1}, "unknown setting"),
    ],
)
def test_state_sync_settings_are_validated(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compute_settings(StateSyncSettings, table, "state_sync")


def test_state_sync_settings_read_a_trusted_block() -> None:
    settings = compute_settings(StateSyncSettings, {"trust_height": 7, "trust_hash": "0x" + "Ab" * 32}, "state_sync")
    assert settings.trusted_block_hash == bytes.fromhex("ab" * 32)
    assert compute_settings(StateSyncSettings, {}, "state_sync").trusted_block_hash is None


def test_the_server_bounds_each_peer_in_rate_and_in_chunks_being_produced() -> None:
    now = [0.0]
    settings = StateSyncSettings(serve_requests_per_peer_per_s=4.0, serve_in_flight_per_peer_max=2)
    server = SnapshotServer(settings, lambda: now[0])
    peer, other = PEERS[0], PEERS[1]
    assert server.try_begin(peer, is_chunk=True) and server.try_begin(peer, is_chunk=True)
    assert not server.try_begin(peer, is_chunk=True)  # two chunks are being produced for it already
    assert server.try_begin(other, is_chunk=True)  # another peer has its own budget
    server.end(peer)
    assert server.try_begin(peer, is_chunk=True)
    assert server.try_begin(peer, is_chunk=False)  # a refusal for chunks in production spent no budget
    assert not server.try_begin(peer, is_chunk=False)  # its 4 requests of this second are spent
    now[0] = 1.0
    assert server.try_begin(peer, is_chunk=False)
    assert server.requests_refused == 2


def test_an_install_cut_short_by_a_crash_runs_again_from_the_stage(tmp_path: Path) -> None:
    stage = StateSyncStage(tmp_path / "statesync", SUITE)
    core = _core()
    seen = _serve_all(core, _fetching(core))
    target = next(a.target for a in seen if isinstance(a, InstallSnapshot))
    stage.save_target(target)
    for action in seen:
        if isinstance(action, StageChunk):
            stage.save_chunk(action.index, action.data)
    kv = MemoryStore()
    store = BlockStore(kv, SUITE)
    store.initialize("test", Hash(b"\x02" * 32))

    def crash(*_: object) -> None:
        raise OSError("killed")

    store.commit_base = crash  # type: ignore[method-assign]
    with pytest.raises(OSError):
        install_snapshot(store, stage, target)  # the state and tree are written, the base is not
    assert store.get_tip() is None
    restarted = BlockStore(kv, SUITE)
    loaded = stage.load()
    assert loaded is not None and loaded[1] == frozenset(range(len(GOOD.paths)))
    install_snapshot(restarted, stage, loaded[0])
    assert restarted.get_tip() == (HEIGHT, target.block_hash)
    assert all(restarted.get_state_value(HEIGHT, key) == value for key, value in GOOD.state.items())


class Signers:
    """Four genesis validators (power 1 each) and a fifth key that is not one, signing precommits of a header."""

    def __init__(self) -> None:
        self.keys = [SUITE.generate_private_key() for _ in range(5)]
        self.genesis = [
            GenesisValidator(f"v{index}", self.address(index), self.keys[index].public_key, 1, "org")
            for index in range(4)
        ]

    def address(self, index: int) -> Address:
        return Address(SUITE.compute_address(self.keys[index].public_key))

    def header(self, validators_hash: Hash | None = None) -> BlockHeader:
        return replace(
            GOOD.header,
            validators_hash=validators_hash or compute_validators_hash(SUITE, self.genesis),
        )

    def certificate(self, header: BlockHeader, signers: list[int]) -> CommitCertificate:
        block_hash = compute_block_hash(SUITE, header)
        entries = []
        for index in sorted(signers, key=self.address):
            digest = SUITE.hash(encode_commit_vote(header.chain_id, header.height, Round(0), block_hash, 5))
            entries.append(CommitSignature(self.address(index), 5, SUITE.sign(self.keys[index], digest)))
        return CommitCertificate(header.height, Round(0), block_hash, tuple(entries))


def _certify(signers: Signers, header: BlockHeader, certificate: CommitCertificate, **settings: object) -> bool:
    return certify_snapshot_block(
        SUITE,
        GOOD.header.chain_id,
        signers.genesis,
        lambda _height: "tendermint",
        StateSyncSettings(**settings),  # type: ignore[arg-type]
        header,
        certificate,
    )


def test_a_snapshot_block_is_certified_by_a_quorum_of_the_genesis_set_or_by_the_trusted_hash() -> None:
    signers = Signers()
    header = signers.header()
    assert _certify(signers, header, signers.certificate(header, [0, 1, 2]))
    with pytest.raises(InvalidBlockError, match="voting power"):
        _certify(signers, header, signers.certificate(header, [0, 1]))  # no quorum
    with pytest.raises(InvalidBlockError, match="not a validator"):
        _certify(signers, header, signers.certificate(header, [0, 1, 4]))  # a stranger signed
    other = replace(header, timestamp_ms=9)
    with pytest.raises(InvalidBlockError):
        _certify(
            signers, other, replace(signers.certificate(header, [0, 1, 2]), block_hash=compute_block_hash(SUITE, other))
        )
    with pytest.raises(InvalidBlockError, match="belongs to chain"):
        _certify(signers, replace(header, chain_id="other"), signers.certificate(header, [0, 1, 2]))
    # The set changed since genesis: not checkable without a trusted hash (not the peer's fault) ...
    changed = signers.header(validators_hash=Hash(b"\x05" * 32))
    assert not _certify(signers, changed, signers.certificate(changed, [0, 1, 2]))
    # ... and with one, exactly the trusted block at the trusted height passes, another block there is a lie.
    trusted = compute_block_hash(SUITE, changed).hex()
    assert _certify(signers, changed, signers.certificate(changed, []), trust_height=HEIGHT, trust_hash=trusted)
    assert not _certify(
        signers, header, signers.certificate(header, [0, 1, 2]), trust_height=HEIGHT + 1, trust_hash=trusted
    )
    with pytest.raises(InvalidBlockError, match="not the trusted"):
        _certify(signers, header, signers.certificate(header, [0, 1, 2]), trust_height=HEIGHT, trust_hash=trusted)
    # A trusted block that names the genesis set must still carry its quorum.
    trusted_genesis = compute_block_hash(SUITE, header).hex()
    with pytest.raises(InvalidBlockError, match="voting power"):
        _certify(signers, header, signers.certificate(header, [0]), trust_height=HEIGHT, trust_hash=trusted_genesis)


def test_offers_this_node_cannot_certify_are_skipped_without_blaming_the_peer() -> None:
    core = StateSyncCore(SETTINGS, SUITE, lambda _header, _certificate: False)
    core.on_peer_connected(PEERS[0], 0.0)
    actions = core.on_offers(PEERS[0], [GOOD.offer], 0.0) + core.on_tick(SETTINGS.discovery_s + 1)
    assert not [a for a in actions if isinstance(a, DropPeer)]
    assert not [r for r in _requests(actions) if isinstance(r.message, PlanRequest)]
    assert "set [state_sync] trust_height and trust_hash" in core.describe_waiting()
    assert core.target is None and not core.get_dropped_peers()
