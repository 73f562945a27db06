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
    Address,
    CommitCertificate,
    Hash,
    Height,
    RawBlock,
    decode_commit_certificate,
    decode_raw_block,
    decode_transaction,
    encode_transaction,
)
from gusu.mempool import PoolTransaction
from gusu.node.chain import load_node
from gusu.node.driver import EngineDriver
from gusu.node.node import Node

RECIPIENT = b"\x33" * 20


def _raw_block(node: Node, height: int) -> tuple[RawBlock, CommitCertificate]:
    raw = node.get_raw_block(Height(height))
    assert raw is not None and raw[1] is not None
    return decode_raw_block(raw[0]), decode_commit_certificate(raw[1])


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
            records = [
                await wait_for_receipt(leader, failing.transaction_id),
                await wait_for_receipt(leader, funded.transaction_id),
            ]
            # A receipt is answered only once its block is the tip (gusu.node.queries), so the tip holds it.
            last = max(int(record.height) for record in records)
            assert int(leader.height) >= last

            for height in range(1, last + 1):
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
            assert block.raw_transactions
            first = decode_transaction(block.raw_transactions[0])

            def forged_header(**changes: object) -> RawBlock:
                return replace(block, header=replace(block.header, **changes))  # type: ignore[arg-type]

            def with_first(raw: bytes) -> RawBlock:
                return replace(block, raw_transactions=(raw, *block.raw_transactions[1:]))

            cases: list[tuple[RawBlock, str]] = [
                (forged_header(state_root=Hash(bytes(32))), "state root"),
                (forged_header(receipts_root=Hash(bytes(32))), "receipts root"),
                (forged_header(height=Height(2)), "does not follow"),
                (forged_header(parent_hash=Hash(bytes(32))), "another parent"),
                (forged_header(chain_id="elsewhere"), "chain"),
                (forged_header(timestamp_ms=0), "time"),
                (with_first(encode_transaction(replace(first, signature=bytes(64)))), "signature"),
                (with_first(encode_transaction(replace(first, chain_id="elsewhere"))), "belongs to chain"),
                (with_first(block.raw_transactions[0][:-1]), "malformed"),
                (with_first(block.raw_transactions[1]), "twice"),
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


def test_pooled_transactions_of_a_proposal_are_not_verified_again(tmp_path: Path) -> None:
    """A proposed block's transactions that the node already admitted (and verified) are
    recognised by their encoding; only the ones it never saw reach the signature verifier."""

    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        leader = await start_node(layout)
        follower = load_node(_copy_node_directory(layout.node_directories[0], tmp_path / "follower"))
        await follower.start()
        try:
            dev = load_dev_key(layout)
            signed = [sign_transfer(leader, dev, RECIPIENT, amount) for amount in (1, 2, 3)]
            await leader.submit_transactions([item.raw for item in signed])
            for item in signed:
                await wait_for_receipt(leader, item.transaction_id)
            block, certificate = _raw_block(leader, 1)
            assert len(block.raw_transactions) == 3
            # The follower holds the first two in its pool, as gossip would have left them. (Put
            # there directly: the follower is a one-validator chain and would commit them itself.)
            dev_address = Address(follower.suite.compute_address(dev.public_key))
            for item in signed[:2]:
                entry = PoolTransaction(decode_transaction(item.raw), Hash(item.transaction_id), dev_address, item.raw)
                follower._mempool.add(entry, Height(1))
            committed = await follower.import_block(block, certificate)
            assert follower.get_metrics().extra["gusu_block_signatures_verified_total"] == 1  # the third only
            assert committed.transaction_ids == tuple(item.transaction_id for item in signed)
            # Committing removed them from the follower's pool, by id and by encoding.
            assert follower.get_status().mempool_transactions == 0
        finally:
            await leader.stop()
            await follower.stop()

    asyncio.run(scenario())


class _InertEngine:
    """Takes every event and does nothing: keeps the follower's own solo engine from committing."""

    name = "inert"

    def on_event(self, event: object) -> list[object]:
        return []


def test_a_proposal_waits_for_admissions_in_progress_instead_of_verifying_again(tmp_path: Path) -> None:
    """Under load a proposal often arrives while its transactions' gossip admission still waits for
    the verifier; the block's check shares that verification rather than repeating it."""

    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        leader = await start_node(layout)
        follower = load_node(_copy_node_directory(layout.node_directories[0], tmp_path / "follower"))
        await follower.start()
        follower._driver = EngineDriver(_InertEngine(), follower)  # type: ignore[arg-type]
        try:
            dev = load_dev_key(layout)
            signed = [sign_transfer(leader, dev, RECIPIENT, amount) for amount in (1, 2)]
            await leader.submit_transactions([item.raw for item in signed])
            for item in signed:
                await wait_for_receipt(leader, item.transaction_id)
            block, _ = _raw_block(leader, 1)
            # The admission starts and parks on the verifier (inline here: it runs once we yield).
            admission = asyncio.ensure_future(follower.submit_transactions([item.raw for item in signed]))
            await asyncio.sleep(0)
            assert set(follower._verifying) == {item.raw for item in signed}
            committed = await follower.validate_block(block)
            assert committed.transaction_ids == tuple(item.transaction_id for item in signed)
            assert follower.get_metrics().extra["gusu_block_signatures_verified_total"] == 0
            assert all(outcome.error is None for outcome in await admission)
            assert not follower._verifying

            # A forged copy in a block is still caught: its admission fails, and so does the block.
            forged = encode_transaction(replace(decode_transaction(signed[0].raw), signature=bytes(64)))
            admission = asyncio.ensure_future(follower.submit_transactions([forged]))
            await asyncio.sleep(0)
            with pytest.raises(InvalidBlockError, match="signature"):
                await follower.validate_block(replace(block, raw_transactions=(forged, block.raw_transactions[1])))
            assert (await admission)[0].error is not None
        finally:
            await leader.stop()
            await follower.stop()

    asyncio.run(scenario())
