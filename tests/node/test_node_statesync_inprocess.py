"""State sync between real nodes in one process (TLS on loopback): hostile servers are dropped and disconnected,
and a node whose every peer lies stops with an error naming them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import TEST_SCRYPT_N
from test_node_bft_inprocess import RECIPIENT, _free_port_run

from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import NodeError
from gusu.ledger.snapshot import decode_snapshot_chunk, encode_snapshot_chunk
from gusu.ledger.types import Height
from gusu.node.chain import load_node
from gusu.node.network_init import NetworkLayout, initialize_network
from gusu.node.node import Node

SERVERS = [0, 1, 2, 3]
JOINER = 4


def _make_network(directory: Path) -> NetworkLayout:
    base = _free_port_run(10)
    layout = initialize_network(
        directory,
        organizations=5,
        suite_name="ecdsa",
        scrypt_n=TEST_SCRYPT_N,
        base_api_port=base,
        base_p2p_port=base + 5,
        verifier_workers=0,
    )
    for index in SERVERS:
        config = layout.node_directories[index] / "config.toml"
        config.write_text(config.read_text() + "\n[state_sync]\nsnapshot_interval_blocks = 2\nchunk_entries_max = 1\n")
    config = layout.node_directories[JOINER] / "config.toml"
    config.write_text(
        config.read_text() + "\n[state_sync]\nenabled = true\ndiscovery_s = 0.5\nrequest_timeout_s = 1.0\n"
    )
    return layout


def _lie(node: Node) -> None:
    """Make `node` serve every chunk with an altered entry (or a forged one in an empty chunk)."""
    produce = node._produce_chunk

    def tampered(height: Height, path: bytes) -> bytes | None:
        data = produce(height, path)
        if data is None:
            return None
        chunk = decode_snapshot_chunk(data)
        if chunk.entries:
            first = chunk.entries[0]
            entries = (replace(first, value=first.value + b"!"), *chunk.entries[1:])
        else:
            entries = ()
            chunk = replace(chunk, siblings=tuple(b"\x07" * 32 for _ in chunk.siblings))
        return encode_snapshot_chunk(replace(chunk, entries=entries))

    node._produce_chunk = tampered  # type: ignore[method-assign]


async def _grow(layout: NetworkLayout, nodes: list[Node], blocks: int) -> None:
    dev = decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())
    from gusu.sdk.transactions import build_transaction

    start = int(nodes[0].height)
    amount = 0
    while int(nodes[0].height) < start + blocks:
        amount += 1
        item = build_transaction(dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, amount], Height(500))
        [outcome] = await nodes[0].submit_transactions([item.raw])
        assert outcome.error is None, outcome.error
        deadline = time.monotonic() + 20
        while nodes[0].get_receipt(item.transaction_id) is None:
            assert time.monotonic() < deadline, "the chain does not commit"
            await asyncio.sleep(0.05)


def test_a_lying_server_is_dropped_and_the_join_completes_from_the_honest_ones(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes = [load_node(directory) for directory in layout.node_directories]
        liar = nodes[1]
        _lie(liar)
        try:
            for index in SERVERS:
                await nodes[index].start()
            await _grow(layout, nodes, 5)
            joiner = nodes[JOINER]
            await asyncio.wait_for(joiner.start(), timeout=60)
            base = joiner.store.get_base_height()
            assert base >= 2 and base % 2 == 0
            assert joiner.store.get_header(Height(base - 1)) is None
            header = joiner.store.get_header(base)
            assert header is not None and header == nodes[0].store.get_header(base)
            progress = joiner.last_state_sync_progress
            assert progress is not None and progress.peers_dropped == 1
            assert liar.address not in progress.chunks_by_peer  # nothing it sent was taken
            assert len(progress.chunks_by_peer) >= 2  # several honest peers served
            network = joiner.network
            assert network is not None
            assert network.metrics.snapshot().get("disconnects.invalid_message", 0) >= 1
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())


def test_when_every_server_lies_the_joining_node_stops_with_an_error_naming_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes = [load_node(directory) for directory in layout.node_directories]
        for index in SERVERS:
            _lie(nodes[index])
        try:
            for index in SERVERS:
                await nodes[index].start()
            await _grow(layout, nodes, 3)
            joiner = nodes[JOINER]
            with pytest.raises(NodeError, match="every peer this node reaches sent bad snapshot data") as raised:
                await asyncio.wait_for(joiner.start(), timeout=60)
            for index in SERVERS:
                assert nodes[index].address.hex()[:12] in str(raised.value)
            assert joiner.store.get_tip() is None  # nothing was installed
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())


def test_a_node_stopped_while_it_waits_for_offers_ends_its_start_with_an_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        joiner = load_node(layout.node_directories[JOINER])  # no peer runs: nobody offers anything
        starting = asyncio.get_running_loop().create_task(joiner.start())
        await asyncio.sleep(1.0)
        assert not starting.done()
        progress = joiner.state_sync_progress
        assert progress is not None and progress.phase == "discovering"
        await joiner.stop()
        with pytest.raises(NodeError, match="stopped during state sync"):
            await asyncio.wait_for(starting, timeout=10)

    asyncio.run(scenario())
