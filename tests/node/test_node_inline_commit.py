"""A solo node writes a small block on its event loop, a bigger one in the store's thread (`Node._is_commit_inline`),
and a failed write stops the node either way (fail-stop)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from node_helpers import load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.errors import StorageError
from gusu.ledger.genesis import load_genesis
from gusu.ledger.store import CommittedBlock
from gusu.node.chain import load_node_key
from gusu.node.config import load_config
from gusu.node.node import Node

RECIPIENT = b"\x45" * 20


def _set_inline_max(layout_directory: Path, value: int) -> None:
    config = layout_directory / "config.toml"
    text = config.read_text(encoding="utf-8")
    assert "[storage]\n" in text
    config.write_text(text.replace("[storage]\n", f"[storage]\ninline_commit_transactions_max = {value}\n"))


def _record_writer_threads(node: Node) -> list[tuple[str, int]]:
    """(thread name, transaction count) of every block write from now on."""
    writes: list[tuple[str, int]] = []
    original = node.store.commit_block

    def recording(block: CommittedBlock, *, sync: bool = True) -> None:
        writes.append((threading.current_thread().name, len(block.transaction_ids)))
        original(block, sync=sync)

    node.store.commit_block = recording  # type: ignore[method-assign]
    return writes


def test_a_small_block_is_written_on_the_loop_a_bigger_one_in_the_thread(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        _set_inline_max(layout.node_directories[0], 1)
        node = await start_node(layout)
        try:
            writes = _record_writer_threads(node)
            key = load_dev_key(layout)
            one = sign_transfer(node, key, RECIPIENT, 1)
            await node.submit_transactions([one.raw])
            record = await wait_for_receipt(node, one.transaction_id)
            # The block is the tip at once: no turn of the loop passes between its write and the tip's move
            # that a query could see.
            assert node.height >= record.height
            two = [sign_transfer(node, key, RECIPIENT, amount) for amount in (2, 3)]
            await node.submit_transactions([signed.raw for signed in two])
            for signed in two:
                await wait_for_receipt(node, signed.transaction_id)
            main = threading.current_thread().name
            assert (main, 1) in writes, writes
            assert any(name != main and count == 2 for name, count in writes), writes
            assert all((name == main) == (count <= 1) for name, count in writes), writes
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_a_failed_inline_write_stops_the_node(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        directory = layout.node_directories[0]
        config = load_config(directory)
        fatal: list[BaseException] = []
        node = Node(config, load_genesis(config.genesis_path), load_node_key(config), on_fatal=fatal.append)
        await node.start()
        try:
            height = node.height

            def failing(block: CommittedBlock, *, sync: bool = True) -> None:
                assert threading.current_thread() is threading.main_thread()
                raise StorageError("cannot write the chain store: no space left on device")

            node.store.commit_block = failing  # type: ignore[method-assign]
            signed = sign_transfer(node, load_dev_key(layout), RECIPIENT, 1)
            await node.submit_transactions([signed.raw])
            for _ in range(200):
                if node.fatal_error is not None:
                    break
                await asyncio.sleep(0.01)
            assert isinstance(node.fatal_error, StorageError) and not node.is_healthy()
            assert fatal == [node.fatal_error]
            assert node.height == height and node.get_receipt(signed.transaction_id) is None
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_no_block_is_written_on_the_loop_while_a_pruning_round_runs(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            writes = _record_writer_threads(node)
            # A round in the store's thread: a block written on the loop would wait behind its batch and sync.
            node._pruning_in_flight = asyncio.get_running_loop().create_future()
            signed = sign_transfer(node, load_dev_key(layout), RECIPIENT, 1)
            await node.submit_transactions([signed.raw])
            await wait_for_receipt(node, signed.transaction_id)
            assert writes and all(name != threading.current_thread().name for name, _ in writes), writes
            node._pruning_in_flight.set_result(None)
            node._pruning_in_flight = None
        finally:
            await node.stop()

    asyncio.run(scenario())
