"""Four Raft members in one process over real TLS on loopback: they commit, survive the leader's stop, and the
stopped member catches up after a restart from its store and WAL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from node_helpers import TEST_SCRYPT_N
from test_node_bft_inprocess import _free_port_run

from gusu.codec import decode, encode
from gusu.consensus.raft import RaftEngine, Role
from gusu.consensus.raft_messages import verify_raft_certificate
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.genesis import CONSENSUS_RAFT
from gusu.ledger.types import Hash, Height
from gusu.node.chain import load_node
from gusu.node.network_init import NetworkLayout, initialize_network
from gusu.node.node import Node
from gusu.sdk.transactions import build_transaction

RECIPIENT = b"\x45" * 20


def _make_network(directory: Path) -> NetworkLayout:
    base = _free_port_run(8)
    return initialize_network(
        directory,
        organizations=4,
        suite_name="ecdsa",
        scrypt_n=TEST_SCRYPT_N,
        base_api_port=base,
        base_p2p_port=base + 4,
        verifier_workers=0,
        consensus=CONSENSUS_RAFT,
    )


async def _wait(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {timeout_s} s")


def _leader(nodes: list[Node | None]) -> int | None:
    for index, node in enumerate(nodes):
        if node is not None:
            engine = node._driver.engine
            assert isinstance(engine, RaftEngine)
            if engine.role is Role.LEADER:
                return index
    return None


def test_raft_members_commit_survive_the_leader_and_catch_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes: list[Node | None] = [load_node(directory) for directory in layout.node_directories]
        for node in nodes:
            assert node is not None
            await node.start()
        dev = decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())
        amounts = iter(range(1, 100))

        async def submit_and_wait(live: list[Node]) -> Hash:
            item = build_transaction(
                dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, next(amounts)], Height(50)
            )
            [outcome] = await live[-1].submit_transactions([item.raw])
            assert outcome.error is None, outcome.error
            await _wait(
                lambda: all(node.get_receipt(item.transaction_id) is not None for node in live),
                30,
                "a transaction was not committed on every live member",
            )
            return item.transaction_id

        try:
            await _wait(lambda: _leader(nodes) is not None, 20, "no leader was elected")
            live = [node for node in nodes if node is not None]
            await submit_and_wait(live)
            await submit_and_wait(live)
            leader = _leader(nodes)
            assert leader is not None
            stopped = nodes[leader]
            assert stopped is not None
            await stopped.stop()
            nodes[leader] = None
            live = [node for node in nodes if node is not None]
            await _wait(lambda: _leader(nodes) not in (None, leader), 20, "no new leader after the leader stopped")
            await submit_and_wait(live)
            restarted = load_node(layout.node_directories[leader])
            await restarted.start()
            nodes[leader] = restarted
            live = [node for node in nodes if node is not None]
            await submit_and_wait(live)
            await _wait(
                lambda: len({int(node.height) for node in live}) == 1, 20, "the restarted member did not catch up"
            )
            common = Height(min(int(node.height) for node in live))
            hashes = {node.get_block(common).block_hash for node in live}  # type: ignore[union-attr]
            assert len(hashes) == 1
            for node in live:
                assert decode(node.call("account", "balance", encode([RECIPIENT]), None).return_value) == 10
                for height in range(1, int(common) + 1):
                    record = node.get_block(Height(height))
                    assert record is not None and record.certificate is not None
                    members = node._validator_set
                    verify_raft_certificate(node.suite, layout.genesis.chain_id, members, record.certificate)
            assert restarted.get_status().consensus == "raft"
        finally:
            for node in nodes:
                if node is not None:
                    await node.stop()

    asyncio.run(scenario())
