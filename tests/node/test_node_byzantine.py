"""One Byzantine validator among four must not halt the chain or exhaust an honest node (issue 7's findings).

Four validators run in this process over real TLS on loopback (`byzantine_helpers`). The Byzantine one is
either a real node whose behaviour the test patches (it signs with its own key over its own TLS identity),
or frames it signed are handed to a victim's transport handlers, as the transport would hand them on.
Each test names the finding it covers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from byzantine_helpers import (
    feed_transactions,
    get_proposer_index,
    load_dev_key,
    load_nodes,
    make_network,
    make_tiny_proposal,
    sign_proposal,
    sign_vote,
    start_lone_proposer,
    stop_all,
    wait_for,
    wait_heights,
)

from gusu.codec import decode
from gusu.consensus import ProposalValidated
from gusu.consensus.messages import Proposal, Vote, VoteKind
from gusu.consensus.tendermint import TendermintEngine
from gusu.crypto import get_suite
from gusu.errors import InvalidBlockError, MempoolFullError, StorageError
from gusu.ledger.genesis import DEFAULT_PARAMETERS
from gusu.ledger.store import CommittedBlock
from gusu.ledger.types import (
    Address,
    BlockHeader,
    CommitCertificate,
    Hash,
    Height,
    RawBlock,
    Round,
    compute_block_hash,
)
from gusu.network.messages import CHANNEL_CONSENSUS, CHANNEL_SYNC
from gusu.node.journal import RecordLog
from gusu.node.node import Node
from gusu.node.wire import (
    TAG_BODY,
    ProposalWithBlock,
    decode_consensus_body,
    encode_blocks,
    encode_body_request,
    encode_proposal_body,
    encode_vote_body,
)
from gusu.sdk.transactions import build_transaction

PROPOSAL_BODIES_MAX = 32
"""The new cache's bound on other validators' bodies (the old one kept 16 in all)."""
BODY_ANSWERS_PER_PEER_MAX = 4

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# --- finding 1: block time -------------------------------------------------------------------------------

TIME_LIES: dict[str, Callable[[int, int], int]] = {
    # (parent's time, the honest time the engine asked for) -> the time the Byzantine proposer stamps
    "codec-limit": lambda parent_ms, honest_ms: 2**53 - 1,
    "an-hour-ahead": lambda parent_ms, honest_ms: honest_ms + HOUR_MS,
    # At height 1 the parent is a genesis stamped a day ago, so this is also "far in the past".
    "frozen-at-parent-plus-one": lambda parent_ms, honest_ms: parent_ms + 1,
}


@pytest.mark.parametrize("lie", sorted(TIME_LIES))
def test_a_proposer_lying_about_time_is_not_prevoted_and_the_chain_goes_on(tmp_path: Path, lie: str) -> None:
    """Finding 1. The proposer of heights 1 and 5 stamps its blocks with a lie; the honest three must not
    prevote them (the timely predicate), so those heights commit another block in a later round, every
    committed block's time lies near the wall clock, and the chain keeps committing. Before the fix the
    2^53 - 1 block was accepted and halted the chain, and the other lies were committed as they were."""

    async def scenario() -> None:
        started_ms = time.time_ns() // 1_000_000
        # Blocks a second apart and a tight timely window, so that "parent + 1" is stale when proposed.
        layout = make_network(
            tmp_path / "net",
            parameters={"block_interval_ms": 1000, "block_time_precision_ms": 100, "block_time_message_delay_ms": 400},
            timestamp_ms=started_ms - DAY_MS,
        )
        nodes = load_nodes(layout)
        byzantine = nodes[get_proposer_index(layout, nodes, 1)]
        honest = [node for node in nodes if node is not byzantine]
        build = byzantine._build_block
        stamped: list[int] = []

        def build_lying(height: Height, timestamp_ms: int) -> tuple[RawBlock, CommittedBlock]:
            parent = byzantine._tip_header
            assert parent is not None
            lie_ms = TIME_LIES[lie](parent.timestamp_ms, timestamp_ms)
            stamped.append(lie_ms)
            return build(height, lie_ms)

        byzantine._build_block = build_lying  # type: ignore[method-assign]
        for node in nodes:
            await node.start()
        feeder = asyncio.get_running_loop().create_task(feed_transactions(layout, honest))
        try:
            await wait_heights(honest, 7, timeout_s=60)
            blocks = [honest[0].get_block(Height(height)) for height in range(1, 8)]
        finally:
            feeder.cancel()
            await stop_all(nodes)
        assert len(stamped) >= 2, "the Byzantine validator never got to propose"
        finished_ms = time.time_ns() // 1_000_000
        for height, block in enumerate(blocks, start=1):
            assert block is not None
            assert block.header.timestamp_ms not in stamped, f"block {height} carries the lie"
            assert started_ms - 1000 <= block.header.timestamp_ms <= finished_ms + 1000, (
                f"block {height} is stamped {block.header.timestamp_ms - finished_ms} ms from the wall clock"
            )

    asyncio.run(scenario())


# --- finding 2: proposal-body cache -------------------------------------------------------------------------


def test_a_flood_of_tiny_self_signed_proposals_cannot_evict_a_body_the_engine_needs(tmp_path: Path) -> None:
    """Finding 2. A validator sends hundreds of tiny proposals it signed itself, for many rounds (mostly not
    its own) of this height and the next two. The victim's own proposal body, which it must re-send and
    may have to re-propose, stays; the cache stays bounded. Before the fix, 16 of them flushed it."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        victim, own_hash = await start_lone_proposer(layout, nodes)
        byzantine_index = (nodes.index(victim) + 1) % len(nodes)
        byzantine = nodes[byzantine_index]
        try:
            salt = 0
            for height in (1, 2, 3):
                for round_ in range(120):
                    salt += 1
                    body = make_tiny_proposal(
                        layout, layout.node_directories[byzantine_index], byzantine.address, height, round_, salt
                    )
                    await victim._proposals.on_consensus_body(byzantine.address, body)
                    assert len(victim._bodies) <= PROPOSAL_BODIES_MAX + 2
            assert own_hash in victim._bodies, "a Byzantine validator's proposals evicted our own proposal's body"
        finally:
            await stop_all([victim])

    asyncio.run(scenario())


# --- finding 3: body requests -------------------------------------------------------------------------------


def test_hundreds_of_body_requests_get_a_bounded_number_of_answers(tmp_path: Path) -> None:
    """Finding 3. A validator asks 500 times for the body of the victim's proposal and never
    reads: the victim queues only a few answers for it, not a copy per request.
    Before the fix every request queued a fresh copy."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        victim_index = get_proposer_index(layout, nodes, 1)
        victim = nodes[victim_index]
        byzantine = nodes[(victim_index + 1) % len(nodes)]
        answers: list[int] = []
        enqueue = victim._enqueue

        def count_answers(recipient: Address | None, channel: str, body: bytes) -> None:
            if recipient == byzantine.address and decode(body)[0] == TAG_BODY:  # type: ignore[index]
                answers.append(len(body))
            enqueue(recipient, channel, body)

        victim._enqueue = count_answers  # type: ignore[method-assign]
        victim, own_hash = await start_lone_proposer(layout, nodes)
        try:
            for _ in range(500):
                await victim._on_sync_body(byzantine.address, encode_body_request(own_hash))
            assert 1 <= len(answers) <= BODY_ANSWERS_PER_PEER_MAX, f"{len(answers)} answers queued for 500 requests"
        finally:
            await stop_all([victim])

    asyncio.run(scenario())


# --- finding 4: block sync ----------------------------------------------------------------------------------


def test_a_peer_answering_every_sync_request_with_nothing_cannot_starve_a_lagging_node(tmp_path: Path) -> None:
    """Finding 4. Three validators (one of them Byzantine only in that it answers every block request with
    an empty `sblocks`) commit while the fourth is down; the fourth then starts behind and must catch up from
    the two honest peers within a bound. Before the fix the empty answer freed the request slot and the same
    peer was asked again at once, so the lagging node could be starved."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        lagging, running = nodes[0], nodes[1:]
        # The scheduler asks peers in address order, starting from the lowest: make the Byzantine peer the
        # lowest, so that the lagging node's first request goes to it (with one block per request, below, its
        # turn also comes back while it catches up).
        byzantine = min(running, key=lambda node: bytes(node.address))
        empty_answers: list[Address] = []

        def answer_empty(peer: Address, request: object) -> None:
            empty_answers.append(peer)
            byzantine._enqueue(peer, CHANNEL_SYNC, encode_blocks([]))

        byzantine._block_sync.answer_request = answer_empty  # type: ignore[method-assign, assignment]
        # One block per request, so catching up takes several requests and the peers' turns must reach the
        # Byzantine one; with the default 32 the first honest peer asked can answer everything at once.
        from gusu.node.sync import SyncSettings

        lagging._block_sync.scheduler._settings = SyncSettings(blocks_per_request=1)
        # Under load the Byzantine peer's connection can come up after the honest ones have already served the
        # whole catch-up, and the scenario would not be exercised: the lagging node hears no honest status (they
        # come again every second) until it has heard the Byzantine peer's, so its first request goes there.
        heard_byzantine: list[bool] = []
        record_status = lagging._block_sync.on_status

        def on_status_byzantine_first(peer: Address, height: Height) -> None:
            if peer == byzantine.address:
                heard_byzantine.append(True)
            elif not heard_byzantine:
                return
            record_status(peer, height)

        lagging._block_sync.on_status = on_status_byzantine_first  # type: ignore[method-assign]
        for node in running:
            await node.start()
        honest = [node for node in running if node is not byzantine]
        feeder = asyncio.get_running_loop().create_task(feed_transactions(layout, honest))
        try:
            await wait_heights(running, 8, timeout_s=60)
            await lagging.start()
            target = min(int(node.height) for node in running)
            await wait_heights([lagging], target, timeout_s=25)
            assert empty_answers, "the lagging node never asked the Byzantine peer"
        finally:
            feeder.cancel()
            await stop_all(nodes)

    asyncio.run(scenario())


def test_unsolicited_or_useless_sync_answers_free_nothing() -> None:
    """Finding 4, the scheduler's rules: only the asked peer's answer frees the slot; an empty one or one at
    the wrong height is a strike (the peer is passed over), and peers take turns."""
    from gusu.node.sync import SyncScheduler, SyncSettings  # here: the module is new with the fix

    honest, byzantine = Address(b"\x02" * 20), Address(b"\x01" * 20)
    scheduler = SyncScheduler(SyncSettings(request_timeout_s=5.0, penalty_s=5.0))
    scheduler.on_status(honest, Height(100))
    scheduler.on_status(byzantine, Height(100))
    first = scheduler.choose_request(Height(10), now_s=0.0)
    assert first is not None and first[0] == byzantine  # lowest address first
    assert not scheduler.on_answer(honest, Height(10), [Height(11)], now_s=0.1)  # unsolicited: ignored
    assert scheduler.choose_request(Height(10), now_s=0.2) is None  # the slot is still the Byzantine peer's
    assert not scheduler.on_answer(byzantine, Height(10), [], now_s=0.3)  # empty: a strike
    second = scheduler.choose_request(Height(10), now_s=0.4)
    assert second is not None and second[0] == honest
    assert not scheduler.on_answer(honest, Height(10), [Height(12)], now_s=0.5)  # a gap: a strike too
    assert scheduler.choose_request(Height(10), now_s=0.6) is None  # both passed over for a while
    assert scheduler.get_penalty_until_s(byzantine) >= 5.0


# --- findings 6 and 8: local faults stop the node ---------------------------------------------------------


class _FatalRecorder:
    def __init__(self) -> None:
        self.errors: list[BaseException] = []

    def __call__(self, error: BaseException) -> None:
        self.errors.append(error)


def _record_outgoing(node: Node) -> list[tuple[float, str, object]]:
    """Everything `node` hands the engine's sender and the transport from now on, with when (monotonic)."""
    sent: list[tuple[float, str, object]] = []
    send_consensus = node._proposals.send_message
    network = node.network
    assert network is not None
    network_send = network.send

    def record_consensus(recipient: Address | None, message: object) -> None:
        sent.append((time.monotonic(), "engine", message))
        send_consensus(recipient, message)

    async def record_send(peer: Address, channel: str, body: bytes) -> None:
        sent.append((time.monotonic(), channel, body))
        await network_send(peer, channel, body)

    node._proposals.send_message = record_consensus  # type: ignore[method-assign]
    network.send = record_send  # type: ignore[method-assign]
    return sent


def test_a_failed_wal_write_stops_the_node_and_no_vote_goes_out_after_it(tmp_path: Path) -> None:
    """Finding 6. A validator's WAL append fails (disk full): the node stops through `on_fatal`, hands
    nothing more to the transport (above all no vote that no WAL record backs), and the other three go on.
    Before the fix the node kept running and re-sent votes the WAL never recorded."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        fatal = _FatalRecorder()
        nodes = load_nodes(layout, on_fatal=fatal)
        victim, others = nodes[2], [nodes[0], nodes[1], nodes[3]]
        for node in nodes:
            await node.start()
        feeder = asyncio.get_running_loop().create_task(feed_transactions(layout, others))
        try:
            await wait_heights(nodes, 2, timeout_s=30)
            sent = _record_outgoing(victim)
            wal = victim._wal
            assert wal is not None
            failed_at: list[float] = []

            def fail(records: object) -> None:
                failed_at.append(time.monotonic())
                raise StorageError("cannot append to the consensus WAL: no space left on device")

            wal.append = fail  # type: ignore[method-assign]
            reached = int(victim.height) + 4
            await wait_heights(others, reached, timeout_s=30)
            assert failed_at, "the victim never wrote its WAL"
            assert len(fatal.errors) == 1 and isinstance(fatal.errors[0], StorageError)
            assert victim.fatal_error is fatal.errors[0] and not victim.is_healthy()
            late = [item for item in sent if item[0] >= failed_at[0]]
            assert not late, f"the node sent {len(late)} messages after its WAL failed: {late[:3]}"
        finally:
            feeder.cancel()
            await stop_all(nodes)

    asyncio.run(scenario())


def test_a_wal_damaged_before_its_last_record_refuses_to_start(tmp_path: Path) -> None:
    """Finding 6. A bad checksum in the middle of the WAL is a disk fault, not a torn tail: the node must
    not start on it (it would forget votes it signed). Before the fix it read up to the damage and started."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        node = load_nodes(layout)[0]
        wal_path = node._config.data_path / "consensus.wal"
        wal_path.parent.mkdir(parents=True, exist_ok=True)
        log = RecordLog(wal_path)
        log.append([b"first record", b"second record", b"third record"])
        log.close()
        data = bytearray(wal_path.read_bytes())
        data[8] ^= 0xFF  # the first record's data: its checksum no longer holds, and two records follow
        wal_path.write_bytes(bytes(data))
        try:
            with pytest.raises(StorageError, match="damaged"):
                await node.start()
        finally:
            await stop_all([node])

    asyncio.run(scenario())


def test_a_storage_fault_while_checking_a_proposal_stops_the_node_without_a_verdict(tmp_path: Path) -> None:
    """Finding 8. The victim's store fails while it re-executes a proposed block: it stops through
    `on_fatal`, tells the engine nothing (no 'invalid' verdict blaming the proposer), commits no receipt,
    and the other three go on. Before the fix the fault became a failed receipt and the proposer was blamed."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        fatal = _FatalRecorder()
        nodes = load_nodes(layout, on_fatal=fatal)
        victim, others = nodes[1], [nodes[0], nodes[2], nodes[3]]
        for node in nodes:
            await node.start()
        feeder = asyncio.get_running_loop().create_task(feed_transactions(layout, others, interval_s=0.1))
        try:
            await wait_heights(nodes, 2, timeout_s=30)
            verdicts: list[ProposalValidated] = []
            on_event = victim._engine.on_event

            def record_verdicts(event: object) -> list[object]:
                if isinstance(event, ProposalValidated):
                    verdicts.append(event)
                return on_event(event)  # type: ignore[arg-type]

            victim._engine.on_event = record_verdicts  # type: ignore[method-assign, assignment]
            height_at_fault = victim.height
            store = victim.store

            def fail(key: bytes) -> bytes | None:
                raise StorageError("cannot read the chain store: input/output error")

            store.get = fail  # type: ignore[method-assign]
            await wait_heights(others, int(height_at_fault) + 4, timeout_s=30)
            assert len(fatal.errors) == 1 and isinstance(fatal.errors[0], StorageError), fatal.errors
            assert not any(not verdict.is_valid for verdict in verdicts), "a local fault became an 'invalid' verdict"
            assert victim.height == height_at_fault, "the victim committed a block it could not execute"
        finally:
            feeder.cancel()
            await stop_all(nodes)

    asyncio.run(scenario())


# --- finding 9: proposer, evidence, genesis-only parameters -----------------------------------------------


def test_a_block_whose_proposer_is_not_a_validator_is_invalid(tmp_path: Path) -> None:
    """Finding 9. A block otherwise correct (it re-executes to its own header) naming an outsider as its
    proposer is refused. Before the fix the header's proposer was never checked."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        node = load_nodes(layout)[0]
        await node.start()
        try:
            parent = node._tip_header
            assert parent is not None
            outsider = Address(b"\x99" * 20)
            built = node._execute_block(Height(1), parent.timestamp_ms + 1, outsider, [])
            with pytest.raises(InvalidBlockError, match="not a validator"):
                await node.validate_block(RawBlock(built.header, ()))
            honest = node._execute_block(Height(1), parent.timestamp_ms + 1, node.address, [])
            await node.validate_block(RawBlock(honest.header, ()))  # the same block from a validator is fine
        finally:
            await stop_all([node])

    asyncio.run(scenario())


def test_equivocation_evidence_survives_a_restart_and_is_served(tmp_path: Path) -> None:
    """Finding 9. A validator signs two different prevotes for one height and round; the victim records the
    evidence, and after a restart `Node.get_evidence` still returns it, with both signed messages.
    Before the fix evidence was only logged."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        victim, byzantine_index = nodes[0], 1
        byzantine = nodes[byzantine_index]
        await victim.start()
        try:
            for block_hash in (b"\x01" * 32, b"\x02" * 32):
                vote = Vote(
                    kind=VoteKind.PREVOTE,
                    chain_id=layout.genesis.chain_id,
                    height=Height(1),
                    round=Round(0),
                    block_hash=Hash(block_hash),
                    timestamp_ms=time.time_ns() // 1_000_000,
                    validator=byzantine.address,
                    signature=b"",
                )
                signed = sign_vote(layout.node_directories[byzantine_index], vote)
                await victim._proposals.on_consensus_body(byzantine.address, encode_vote_body(signed))
            assert [item.validator for item in victim.get_evidence(10)] == [byzantine.address]
        finally:
            await stop_all([victim])
        restarted = load_nodes(layout)[0]
        await restarted.start()
        try:
            [item] = restarted.get_evidence(10)
            assert (item.validator, item.height, item.round, item.kind) == (byzantine.address, 1, 0, "prevote")
            assert item.first != item.second
        finally:
            await stop_all([restarted])

    asyncio.run(scenario())


def test_the_transaction_window_comes_from_genesis_never_from_a_node_config(tmp_path: Path) -> None:
    """Finding 9. Genesis does not set `transaction_window_blocks`; two nodes configured with different local
    `[mempool] transaction_window_blocks` still use the same window (the shared default), so they agree on
    which blocks are valid. Before the fix each node fell back to its own config."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net", drop_parameters=("transaction_window_blocks",))
        for directory, window in zip(layout.node_directories[:2], (10, 5000), strict=True):
            config = directory / "config.toml"
            text = config.read_text().replace("[mempool]\n", f"[mempool]\ntransaction_window_blocks = {window}\n")
            config.write_text(text)
        nodes = load_nodes(layout)[:2]
        assert [node._config.mempool.transaction_window_blocks for node in nodes] == [10, 5000]
        for node in nodes:
            await node.start()
        try:
            windows = {node.get_status().transaction_window_blocks for node in nodes}
            assert windows == {dict(DEFAULT_PARAMETERS)["transaction_window_blocks"]}, windows
        finally:
            await stop_all(nodes)

    asyncio.run(scenario())


# --- finding 7: verifier back-pressure ----------------------------------------------------------------------


def test_a_saturated_verifier_never_makes_a_valid_block_invalid(tmp_path: Path) -> None:
    """Finding 7. The victim's verifier queue is full of admissions when a valid block with transactions it
    has never seen arrives: the block's check still runs (urgent) and finds it valid. Before the fix the
    refusal was read as a bad signature and the valid block judged invalid."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        config = layout.node_directories[0] / "config.toml"
        # One worker process (with none, signatures are checked inline and nothing ever queues).
        text = config.read_text().replace("workers = 0", "workers = 1")
        config.write_text(text.replace("[verifier]\n", "[verifier]\nqueue_items_max = 4\n"))
        victim, builder = load_nodes(layout)[:2]
        await victim.start()
        await builder.start()
        try:
            dev = load_dev_key(layout)
            items = [
                build_transaction(dev, layout.genesis.chain_id, "account", "transfer", [b"\x44" * 20, n], Height(50))
                for n in (1, 2, 3)
            ]
            outcomes = await builder.submit_transactions([item.raw for item in items])
            assert all(outcome.error is None for outcome in outcomes), outcomes
            parent = builder._tip_header
            assert parent is not None
            entries = builder._mempool.select(100, 1 << 20, Height(1))
            assert len(entries) == 3
            built = builder._execute_block(Height(1), parent.timestamp_ms + 1, builder.address, entries)
            block = RawBlock(built.header, built.raw_transactions)
            # The builder gossips the three transactions to the victim, whose admissions queue their signatures
            # too: let those drain first, so that the queue holds exactly the four below.
            for _ in range(500):
                if victim._verifier.queued_item_count == 0:
                    break
                await asyncio.sleep(0.01)
            assert victim._verifier.queued_item_count == 0
            # Saturate: four admissions' signatures wait in the victim's queue (its bound is four).
            tx = items[0].transaction
            filler = victim._verifier.submit([(tx.sender_public_key, items[0].transaction_id, tx.signature)] * 4)
            with pytest.raises(MempoolFullError):
                victim._verifier.submit([(tx.sender_public_key, items[0].transaction_id, tx.signature)])
            outcome = await victim.validate_block(block)
            assert outcome.block_hash == built.block_hash
            await filler
        finally:
            await stop_all([victim, builder])

    asyncio.run(scenario())


def test_block_sync_while_the_verifier_is_saturated_keeps_the_honest_peer_and_completes(tmp_path: Path) -> None:
    """Finding 7, block sync. A node that fell behind starts while its signature verifier's queue is kept full
    by admissions (clients get `mempool_full`). The blocks honest peers send it carry transactions it never saw,
    so each import verifies signatures. No honest peer is disconnected (a saturated verifier is never a verdict
    on a block), and once the load passes the node reaches the others' height. Seen red with the old behaviour
    put back (a refused verification read as a bad signature, on the admission queue)."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        config = layout.node_directories[0] / "config.toml"
        text = config.read_text().replace("workers = 0", "workers = 1")
        config.write_text(text.replace("[verifier]\n", "[verifier]\nqueue_items_max = 8\n"))
        nodes = load_nodes(layout)
        lagging, running = nodes[0], nodes[1:]
        for node in running:
            await node.start()
        feeder = asyncio.get_running_loop().create_task(feed_transactions(layout, running, interval_s=0.05))
        refused = 0
        saturating = True

        async def saturate() -> None:
            """Admissions that keep the lagging node's verifier queue at its bound."""
            nonlocal refused
            dev = load_dev_key(layout)
            item = build_transaction(dev, layout.genesis.chain_id, "account", "transfer", [b"\x45" * 20, 1], Height(9))
            signature = (item.transaction.sender_public_key, item.transaction_id, item.transaction.signature)
            pending: list[asyncio.Future[list[bool]]] = []
            while saturating:
                try:
                    pending.append(lagging._verifier.submit([signature] * 4))
                except MempoolFullError:
                    refused += 1
                pending = [future for future in pending if not future.done()]
                await asyncio.sleep(0.001)
            await asyncio.gather(*pending, return_exceptions=True)

        try:
            await wait_heights(running, 8, timeout_s=60)
            feeder.cancel()
            await lagging.start()
            saturator = asyncio.get_running_loop().create_task(saturate())
            await asyncio.sleep(4)  # block sync runs while the queue is full
            saturating = False
            await saturator
            assert refused > 100, f"the verifier refused only {refused} admissions: it was not saturated"
            target = max(int(node.height) for node in running)
            await wait_heights([lagging], target, timeout_s=30)
            network = lagging.network
            assert network is not None
            assert network.metrics.disconnects.get("invalid_message", 0) == 0, dict(network.metrics.disconnects)
            for node in running:
                assert node.network is not None
                assert node.network.metrics.disconnects.get("remote_closed", 0) == 0, (
                    f"the lagging node disconnected an honest peer: {dict(node.network.metrics.disconnects)}"
                )
            assert lagging._counters.block_signatures_verified > 0, "the synced blocks needed no signature check"
        finally:
            feeder.cancel()
            await stop_all(nodes)

    asyncio.run(scenario())


def test_a_locked_value_of_another_proposer_survives_a_flood_and_is_re_proposed(tmp_path: Path) -> None:
    """Finding 2, the locked value. The victim locks on another validator's block (it saw the proposal and
    prevotes for it from more than 2/3 of the power), the height does not commit, and a Byzantine validator
    floods it with tiny self-signed proposals whose block hashes are all below the locked one's (the cache
    evicts the highest first among equals). The locked block's body stays, since the engine's locked and
    valid values are pinned, and when the victim's turn to propose comes it re-proposes that block with its
    body (Algorithm 1, l. 16). Seen red with the pinning and the proposer filter removed."""

    async def scenario() -> None:
        layout = make_network(tmp_path / "net")
        nodes = load_nodes(layout)
        proposer_index = get_proposer_index(layout, nodes, 1, 0)
        others = [index for index in range(4) if index != proposer_index]
        victim_index, voter_index, byzantine_index = others
        victim, proposer, byzantine = nodes[victim_index], nodes[proposer_index], nodes[byzantine_index]
        await victim.start()
        try:
            # The proposer's block for height 1, round 0 (built on the victim's identical genesis state).
            now_ms = time.time_ns() // 1_000_000
            built = victim._execute_block(Height(1), now_ms, proposer.address, [])
            locked = built.block_hash
            proposal = Proposal(
                chain_id=layout.genesis.chain_id,
                height=Height(1),
                round=Round(0),
                block_hash=locked,
                pol_round=-1,
                timestamp_ms=now_ms,
                proposer=proposer.address,
                signature=b"",
            )
            signed = sign_proposal(layout.node_directories[proposer_index], proposal)
            await victim._proposals.on_consensus_body(
                proposer.address, encode_proposal_body(signed, RawBlock(built.header, ()))
            )

            async def vote(index: int, kind: VoteKind, round_: int, block_hash: Hash | None) -> None:
                unsigned = Vote(
                    kind=kind,
                    chain_id=layout.genesis.chain_id,
                    height=Height(1),
                    round=Round(round_),
                    block_hash=block_hash,
                    timestamp_ms=time.time_ns() // 1_000_000,
                    validator=nodes[index].address,
                    signature=b"",
                )
                body = encode_vote_body(sign_vote(layout.node_directories[index], unsigned))
                await victim._proposals.on_consensus_body(nodes[index].address, body)

            for index in (proposer_index, voter_index):
                await vote(index, VoteKind.PREVOTE, 0, locked)
            engine = victim._engine
            assert isinstance(engine, TendermintEngine)
            await wait_for(lambda: engine.locked_value == locked, 10, "the victim did not lock on the block")
            # The flood: tiny proposals signed by the Byzantine validator, each block hash below the locked one.
            suite = get_suite(layout.genesis.suite)
            salt, sent = 0, 0
            # Round 0 of many heights (the locked block's round: among equals the highest hash goes first), and
            # many rounds of the heights being decided.
            slots = [(height, 0) for height in range(1, 101)] + [(h, r) for h in (1, 2, 3) for r in range(1, 41)]
            for height, round_ in slots:
                while True:
                    salt += 1
                    body = make_tiny_proposal(
                        layout, layout.node_directories[byzantine_index], byzantine.address, height, round_, salt
                    )
                    decoded = decode_consensus_body(body)
                    assert isinstance(decoded, ProposalWithBlock)
                    if compute_block_hash(suite, decoded.block.header) < locked:
                        break
                await victim._proposals.on_consensus_body(byzantine.address, body)
                sent += 1
            assert locked in victim._bodies, f"{sent} tiny proposals evicted the locked block's body"
            # The victim's turn: two validators' messages of that round make it skip there (l. 55).
            turn = next(r for r in range(1, 50) if get_proposer_index(layout, nodes, 1, r) == victim_index)
            proposed: list[ProposalWithBlock] = []
            enqueue = victim._enqueue

            def record(recipient: Address | None, channel: str, body: bytes) -> None:
                if channel == CHANNEL_CONSENSUS:
                    decoded = decode_consensus_body(body)
                    if isinstance(decoded, ProposalWithBlock) and decoded.proposal.proposer == victim.address:
                        proposed.append(decoded)
                enqueue(recipient, channel, body)

            victim._enqueue = record  # type: ignore[method-assign]
            for index in (proposer_index, voter_index):
                await vote(index, VoteKind.PREVOTE, turn, None)
            await wait_for(lambda: bool(proposed), 10, f"the victim did not re-propose with its body in round {turn}")
            [again] = proposed[:1]
            assert (again.proposal.round, again.proposal.block_hash, again.proposal.pol_round) == (turn, locked, 0)
        finally:
            await stop_all([victim])

    asyncio.run(scenario())


def test_a_sync_answer_with_a_gap_is_refused_whole_before_any_import() -> None:
    """Block sync: an answer to our request whose heights skip one is the sender's fault (InvalidBlockError, so
    the transport drops it), and not even its first, genuine-looking block is imported. Before the fix the
    blocks before the gap were imported first (seen red in the real-process test too)."""
    from gusu.node.sync import BlockSync, SyncScheduler, SyncSettings
    from gusu.node.wire import SyncBlocks

    peer = Address(b"\x03" * 20)
    imported: list[int] = []

    async def import_block(block: RawBlock, certificate: object) -> None:
        imported.append(block.header.height)

    sync = BlockSync(
        scheduler=SyncScheduler(SyncSettings()),
        get_height=lambda: Height(5),
        get_raw_block=lambda height: None,
        verify_certificate=lambda block, certificate: None,
        import_block=import_block,
        send=lambda peer, body: None,
        answer_bytes_max=1 << 20,
        on_local_fault=lambda error: None,
        clock_s=time.monotonic,
    )
    sync.on_status(peer, Height(20))

    def block(height: int) -> tuple[RawBlock, CommitCertificate]:
        header = replace(_EMPTY_HEADER, height=Height(height))
        return RawBlock(header, ()), CommitCertificate(Height(height), Round(0), Hash(b"\x00" * 32), ())

    with pytest.raises(InvalidBlockError, match="without gaps"):
        asyncio.run(sync.on_blocks(peer, SyncBlocks((block(6), block(8)))))
    assert imported == []


_EMPTY_HEADER = BlockHeader(
    chain_id="sync-test",
    height=Height(1),
    parent_hash=Hash(b"\x00" * 32),
    timestamp_ms=1,
    proposer=Address(b"\x01" * 20),
    transactions_root=Hash(b"\x00" * 32),
    receipts_root=Hash(b"\x00" * 32),
    state_root=Hash(b"\x00" * 32),
    validators_hash=Hash(b"\x00" * 32),
    next_validators_hash=Hash(b"\x00" * 32),
    transaction_count=0,
)
