"""Early execution (`gusu.node.early`): a solo node executes its next block's transactions as they arrive; the
blocks are the ones re-execution makes, a pool that changed under it falls back to building at once, and a local
fault during it stops the node."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from collections.abc import Sequence
from pathlib import Path

from node_helpers import load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.crypto import PrivateKey
from gusu.errors import StorageError
from gusu.ledger.genesis import load_genesis
from gusu.ledger.types import Height, decode_commit_certificate, decode_raw_block
from gusu.mempool import PoolTransaction
from gusu.node.chain import load_node, load_node_key
from gusu.node.config import load_config
from gusu.node.node import Node

RECIPIENT = b"\x46" * 20
EARLY_BLOCKS = "gusu_early_blocks_total"
EARLY_TRANSACTIONS = "gusu_early_transactions_total"


def _early_counts(node: Node) -> tuple[float, float]:
    extra = node.get_metrics().extra
    return extra[EARLY_BLOCKS], extra[EARLY_TRANSACTIONS]


def _early_dropped(node: Node) -> float:
    return node.get_metrics().extra["gusu_early_blocks_dropped_total"]


def _set_early_execution(directory: Path, enabled: bool) -> None:
    config = directory / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert "[consensus]\n" in text
    setting = "true" if enabled else "false"
    config.write_text(text.replace("[consensus]\n", f"[consensus]\nearly_execution = {setting}\n"), encoding="utf-8")


async def _commit_one(node: Node, key: PrivateKey) -> None:
    """A block of one transfer: the next block is then due only an interval later."""
    first = sign_transfer(node, key, RECIPIENT, 1)
    await node.submit_transactions([first.raw])
    await wait_for_receipt(node, first.transaction_id)


async def _send_spread(node: Node, raws: Sequence[bytes]) -> None:
    """One admission per turn of the loop, as clients' requests arrive, so the block is executed between them."""
    for raw in raws:
        (outcome,) = await node.submit_transactions([raw])
        assert outcome.error is None, outcome.error
        await asyncio.sleep(0.005)


def test_blocks_executed_early_are_the_blocks_a_follower_re_executes(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        leader = await start_node(layout)
        follower_directory = tmp_path / "follower"
        shutil.copytree(layout.node_directories[0], follower_directory, ignore=shutil.ignore_patterns("data", "*.pid"))
        follower = load_node(follower_directory)
        await follower.start()
        try:
            key = load_dev_key(layout)
            await _commit_one(leader, key)
            # Sent right after a block: the next is due only an interval later, and is executed meanwhile.
            wave = [sign_transfer(leader, key, RECIPIENT, amount) for amount in range(2, 12)]
            await _send_spread(leader, [signed.raw for signed in wave])
            records = [await wait_for_receipt(leader, signed.transaction_id) for signed in wave]
            blocks, transactions = _early_counts(leader)
            assert blocks >= 1 and transactions >= 1, (blocks, transactions)
            assert all(record.receipt.is_success for record in records)
            for height in range(1, int(leader.height) + 1):
                raw = leader.get_raw_block(Height(height))
                assert raw is not None and raw[1] is not None
                committed = await follower.import_block(decode_raw_block(raw[0]), decode_commit_certificate(raw[1]))
                leader_block = leader.get_block(Height(height))
                assert leader_block is not None and committed.block_hash == leader_block.block_hash
        finally:
            await leader.stop()
            await follower.stop()

    asyncio.run(scenario())


def test_a_pool_that_changed_under_it_builds_the_block_at_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            key = load_dev_key(layout)
            await _commit_one(node, key)
            # Once some are executed early, the pool selects in another order: what ran early is not a prefix.
            select = node._mempool.select

            def reversed_select(transactions_max: int, bytes_max: int, height: Height) -> list[PoolTransaction]:
                return list(reversed(select(transactions_max, bytes_max, height)))

            wave = [sign_transfer(node, key, RECIPIENT, amount) for amount in range(2, 8)]
            await _send_spread(node, [signed.raw for signed in wave[:3]])
            node._mempool.select = reversed_select  # type: ignore[method-assign]
            await _send_spread(node, [signed.raw for signed in wave[3:]])
            records = [await wait_for_receipt(node, signed.transaction_id) for signed in wave]
            assert all(record.receipt.is_success for record in records)
            assert _early_counts(node) == (0, 0) and _early_dropped(node) >= 1
            # The block holds the pool's (reversed) order: it was built from scratch, not from the early prefix.
            last = max(records, key=lambda record: record.height)
            block = node.get_block(last.height)
            assert block is not None and block.header.transaction_count >= 2
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_without_early_execution_nothing_is_executed_before_the_proposal(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        _set_early_execution(layout.node_directories[0], False)
        node = await start_node(layout)
        try:
            key = load_dev_key(layout)
            await _commit_one(node, key)
            wave = [sign_transfer(node, key, RECIPIENT, amount) for amount in range(2, 6)]
            await _send_spread(node, [signed.raw for signed in wave])
            for signed in wave:
                await wait_for_receipt(node, signed.transaction_id)
            assert _early_counts(node) == (0, 0) and _early_dropped(node) == 0
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_a_storage_fault_during_early_execution_stops_the_node(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        config = load_config(layout.node_directories[0])
        fatal: list[BaseException] = []
        node = Node(config, load_genesis(config.genesis_path), load_node_key(config), on_fatal=fatal.append)
        await node.start()
        try:
            key = load_dev_key(layout)
            await _commit_one(node, key)
            height = node.height
            store = node.store
            original_get = store.get

            raised: list[StorageError] = []

            def failing_get(key: bytes) -> bytes | None:
                if any(frame.function == "_execute_early" for frame in inspect.stack()):
                    raised.append(StorageError("cannot read the chain store: input/output error"))
                    raise raised[-1]
                return original_get(key)

            store.get = failing_get  # type: ignore[method-assign]
            signed = sign_transfer(node, key, RECIPIENT, 2)
            await node.submit_transactions([signed.raw])
            for _ in range(200):
                if node.fatal_error is not None:
                    break
                await asyncio.sleep(0.01)
            assert raised and node.fatal_error is raised[0] and not node.is_healthy()
            assert fatal == [node.fatal_error]
            assert node.height == height and node.get_receipt(signed.transaction_id) is None
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_looking_ahead_keeps_the_pools_order_and_rotation(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            a = load_dev_key(layout)
            b = node.suite.generate_private_key()
            await _commit_one(node, a)
            a1, a2 = sign_transfer(node, a, RECIPIENT, 2), sign_transfer(node, a, RECIPIENT, 3)
            b1 = sign_transfer(node, b, RECIPIENT, 4)
            outcomes = await node.submit_transactions([a1.raw, a2.raw, b1.raw])
            assert all(outcome.error is None for outcome in outcomes), outcomes
            records = [await wait_for_receipt(node, signed.transaction_id) for signed in (a1, a2, b1)]
            assert len({record.height for record in records}) == 1
            block = node.get_block_transactions(records[0].height)
            assert block is not None
            # Round robin over senders, as a node building at once orders it; and nothing was executed twice.
            assert [item.transaction_id for item in block] == [a1.transaction_id, b1.transaction_id, a2.transaction_id]
            assert _early_counts(node) == (1, 3) and _early_dropped(node) == 0
        finally:
            await node.stop()

    asyncio.run(scenario())
