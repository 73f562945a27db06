"""A second node re-executes and imports the first node's blocks: same state, and forgeries refused."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.codec import decode, encode
from gusu.errors import InvalidBlockError
from gusu.ledger.types import (
    Block,
    CommitCertificate,
    Hash,
    Height,
    decode_block,
    decode_commit_certificate,
)
from gusu.node.chain import load_node
from gusu.node.node import Node

RECIPIENT = b"\x33" * 20


def _raw_block(node: Node, height: int) -> tuple[Block, CommitCertificate]:
    raw = node.get_raw_block(Height(height))
    assert raw is not None and raw[1] is not None
    return decode_block(raw[0]), decode_commit_certificate(raw[1])


def _copy_node_directory(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("data", "node.pid", "*.log"))
    return target


def test_follower_imports_blocks_and_reaches_the_same_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        leader = await start_node(layout)
        follower_directory = _copy_node_directory(layout.node_directories[0], tmp_path / "follower")
        follower = load_node(follower_directory)
        await follower.start()
        try:
            dev = load_dev_key(layout)
            poor = leader.suite.generate_private_key()
            poor_address = leader.suite.compute_address(poor.public_key)
            for amount in (5, 6, 7):
                signed = sign_transfer(leader, dev, RECIPIENT, amount)
                await leader.submit_transactions([signed.raw])
                await wait_for_receipt(leader, signed.transaction_id)
            failing = sign_transfer(leader, poor, RECIPIENT, 1)  # no balance: a failed receipt
            funded = sign_transfer(leader, dev, poor_address, 3)
            await leader.submit_transactions([failing.raw, funded.raw])
            await wait_for_receipt(leader, failing.transaction_id)
            await wait_for_receipt(leader, funded.transaction_id)

            for height in range(1, int(leader.height) + 1):
                block, certificate = _raw_block(leader, height)
                committed = await follower.import_block(block, certificate)
                leader_block = leader.get_block(Height(height))
                assert leader_block is not None
                assert committed.block_hash == leader_block.block_hash
            assert follower.get_status().latest_block_hash == leader.get_status().latest_block_hash
            follower_receipt = follower.get_receipt(failing.transaction_id)
            leader_receipt = leader.get_receipt(failing.transaction_id)
            assert follower_receipt is not None and leader_receipt is not None
            assert follower_receipt.receipt == leader_receipt.receipt
            balance = follower.call("account", "balance", encode([RECIPIENT]), None)
            assert decode(balance.return_value) == 18
        finally:
            await leader.stop()
            await follower.stop()

    asyncio.run(scenario())


def test_forged_blocks_are_refused_with_the_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        leader = await start_node(layout)
        follower = load_node(_copy_node_directory(layout.node_directories[0], tmp_path / "follower"))
        await follower.start()
        try:
            dev = load_dev_key(layout)
            signed = [sign_transfer(leader, dev, RECIPIENT, amount) for amount in (1, 2)]
            await leader.submit_transactions([item.raw for item in signed])
            for item in signed:
                await wait_for_receipt(leader, item.transaction_id)
            block, certificate = _raw_block(leader, 1)
            assert block.transactions

            def forged_header(**changes: object) -> Block:
                return replace(block, header=replace(block.header, **changes))  # type: ignore[arg-type]

            cases: list[tuple[Block, str]] = [
                (forged_header(state_root=Hash(bytes(32))), "state root"),
                (forged_header(receipts_root=Hash(bytes(32))), "receipts root"),
                (forged_header(height=Height(2)), "does not follow"),
                (forged_header(parent_hash=Hash(bytes(32))), "another parent"),
                (forged_header(chain_id="elsewhere"), "chain"),
                (forged_header(timestamp_ms=0), "time"),
                (
                    replace(block, transactions=(replace(block.transactions[0], signature=bytes(64)),)),
                    "signature",
                ),
            ]
            for forged, reason in cases:
                with pytest.raises(InvalidBlockError, match=reason):
                    await follower.validate_block(forged)
            with pytest.raises(InvalidBlockError, match="another block"):
                await follower.import_block(forged_header(state_root=Hash(bytes(32))), certificate)
            # The genuine block still imports after all that.
            await follower.import_block(block, certificate)
            # Replaying its transactions in a later block is refused.
            replay = replace(
                block,
                header=replace(
                    block.header,
                    height=Height(2),
                    parent_hash=certificate.block_hash,
                    timestamp_ms=block.header.timestamp_ms + 1,
                ),
            )
            with pytest.raises(InvalidBlockError, match="already committed"):
                await follower.validate_block(replay)
        finally:
            await leader.stop()
            await follower.stop()

    asyncio.run(scenario())
