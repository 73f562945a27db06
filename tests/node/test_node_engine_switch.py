"""Four validators in one process over TLS switch engines on a live chain: Tendermint, then Raft, then Tendermint.

The schedule is written as the governance contract writes it (`node_helpers.schedule_change`, the same changes
on every node): decided in block 1, Raft from height 4; decided in block 6, Tendermint again from height 9.
Every acknowledged transaction commits exactly once, each block is certified by the engine of its height, and a
node restarted inside the Raft period comes back running Raft.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import schedule_change
from test_node_bft_inprocess import RECIPIENT, _make_network, _wait_committed

from gusu.codec import decode, encode
from gusu.consensus import ValidatorSet, verify_commit_certificate
from gusu.consensus.raft_messages import verify_raft_certificate
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.chainconfig import ChainConfig
from gusu.ledger.lightclient import start_light_client, verify_next_header
from gusu.ledger.types import Hash, Height
from gusu.node.chain import load_node
from gusu.node.node import Node
from gusu.sdk.transactions import build_transaction

TO_RAFT = (Height(1), Height(4))
TO_TENDERMINT = (Height(6), Height(9))
TRANSFERS = 14


async def _wait_stored(nodes: list[Node], acknowledged: list[Hash]) -> int:
    """The height every node has reached once each holds the block of every acknowledged transaction (a receipt is
    readable as soon as the store has the block, a moment before the node moves its tip)."""
    needed = 0
    for transaction_id in acknowledged:
        record = nodes[0].get_receipt(transaction_id)
        assert record is not None
        needed = max(needed, int(record.height))
    for _ in range(200):
        if min(int(node.height) for node in nodes) >= needed:
            break
        await asyncio.sleep(0.05)
    return min(int(node.height) for node in nodes)


def _engine_of(height: int) -> str:
    return "raft" if TO_RAFT[1] <= height < TO_TENDERMINT[1] else "tendermint"


def test_tendermint_to_raft_to_tendermint_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes: list[Node] = [load_node(directory) for directory in layout.node_directories]

        def to(engine: str) -> object:
            def change(config: ChainConfig) -> ChainConfig:
                return replace(config, consensus=engine)

            return change

        def prepare(node: Node) -> None:
            schedule_change(node, monkeypatch, *TO_RAFT, to("raft"))  # type: ignore[arg-type]
            schedule_change(node, monkeypatch, *TO_TENDERMINT, to("tendermint"))  # type: ignore[arg-type]

        for node in nodes:
            prepare(node)
            await node.start()
        acknowledged: list[Hash] = []
        try:
            dev = decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())
            seen_engines: set[str] = set()
            restarted = False
            for amount in range(1, TRANSFERS + 1):
                signed = build_transaction(
                    dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, amount], Height(200)
                )
                [outcome] = await nodes[amount % 4].submit_transactions([signed.raw])
                assert outcome.error is None, outcome.error
                acknowledged.append(signed.transaction_id)
                await _wait_committed(nodes, signed.transaction_id, timeout_s=30)
                seen_engines.add(nodes[0].get_status().consensus)
                if not restarted and nodes[1].get_status().consensus == "raft" and nodes[1].height <= 6:
                    # A restart inside the Raft period: the node starts the engine in force, from raft.wal.
                    await nodes[1].stop()
                    nodes[1] = load_node(layout.node_directories[1])
                    prepare(nodes[1])
                    await nodes[1].start()
                    assert nodes[1].get_status().consensus == "raft"
                    restarted = True
            assert seen_engines == {"tendermint", "raft"} and restarted
            top = await _wait_stored(nodes, acknowledged)
            assert top >= TO_TENDERMINT[1] + 1, f"the chain did not reach the second switch: {top}"
            assert all(node.get_status().consensus == "tendermint" for node in nodes)
            suite = nodes[0].suite
            chain_id = layout.genesis.chain_id
            validator_set = ValidatorSet.from_genesis(layout.genesis)
            committed: list[Hash] = []
            for height in range(1, top + 1):
                blocks = [node.get_block(Height(height)) for node in nodes]
                assert all(block is not None and block.certificate is not None for block in blocks)
                assert len({block.block_hash for block in blocks if block is not None}) == 1, f"fork at {height}"
                block = blocks[0]
                assert block is not None and block.certificate is not None
                if _engine_of(height) == "raft":
                    verify_raft_certificate(suite, chain_id, validator_set, block.certificate)
                    assert len(block.certificate.signatures) == 1
                else:
                    verify_commit_certificate(suite, chain_id, validator_set, block.certificate)
                committed.extend(block.transaction_ids)
            # Lost: none; doubled: none.
            assert sorted(committed) == sorted(acknowledged)
            # A light client walks from genesis across both switches, told each height's engine.
            members = sorted(layout.genesis.validators, key=lambda validator: validator.address)
            genesis_block = nodes[2].get_block(Height(0))
            assert genesis_block is not None
            trusted = start_light_client(suite, genesis_block.header, genesis_block.block_hash, members)
            for height in range(1, top + 1):
                record = nodes[2].get_block(Height(height))
                assert record is not None and record.certificate is not None
                trusted = verify_next_header(
                    suite, trusted, record.header, record.certificate, members, _engine_of(height)
                )
            assert trusted.header.height == top
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())


def test_set_consensus_proposals_voted_through_the_system_contract_switch_and_switch_back(tmp_path: Path) -> None:
    """No schedule written by hand: every organisation's admin votes `set_consensus` (policy ALL) through the real
    `system` contract, to Raft and, under Raft, back to Tendermint."""

    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes: list[Node] = [load_node(directory) for directory in layout.node_directories]
        for node in nodes:
            await node.start()
        admins = [
            decrypt_key_file(
                organization.admin_account_key_path.read_bytes(),
                organization.admin_account_key_path.with_suffix(".pass").read_text().strip(),
            )
            for organization in layout.organizations
        ]
        dev = decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())
        chain_id = layout.genesis.chain_id
        acknowledged: list[Hash] = []

        async def run(key: object, contract: str, method: str, args: list[object]) -> bytes:
            signed = build_transaction(key, chain_id, contract, method, args, Height(nodes[0].height + 100))  # type: ignore[arg-type]
            [outcome] = await nodes[len(acknowledged) % 4].submit_transactions([signed.raw])
            assert outcome.error is None, outcome.error
            acknowledged.append(signed.transaction_id)
            await _wait_committed(nodes, signed.transaction_id, timeout_s=30)
            record = nodes[0].get_receipt(signed.transaction_id)
            assert record is not None and record.receipt.is_success, record
            return record.receipt.return_value

        async def switch_to(engine: str) -> int:
            effective = int(nodes[0].height) + 8  # four blocks of votes, then at least two more
            returned = await run(
                admins[0], "system", "propose", ["set_consensus", encode([engine, effective]), effective]
            )
            proposal_id = decode(returned)
            for admin in admins[1:]:
                await run(admin, "system", "vote", [proposal_id, True])
            schedule = decode(nodes[0].call("system", "get_config_schedule", encode([]), None).return_value)
            assert isinstance(schedule, list) and schedule[-1][0] == effective and schedule[-1][3] == engine
            amount = 1
            while min(int(node.height) for node in nodes) < effective:
                await run(dev, "account", "transfer", [RECIPIENT, amount])
                amount += 1
            return effective

        try:
            to_raft = await switch_to("raft")
            assert all(node.get_status().consensus == "raft" for node in nodes)
            to_tendermint = await switch_to("tendermint")
            assert all(node.get_status().consensus == "tendermint" for node in nodes)
            await run(dev, "account", "transfer", [RECIPIENT, 99])
            top = await _wait_stored(nodes, acknowledged)
            committed: list[Hash] = []
            for height in range(1, top + 1):
                block = nodes[0].get_block(Height(height))
                assert block is not None and block.certificate is not None
                is_raft = to_raft <= height < to_tendermint
                assert (len(block.certificate.signatures) == 1) == is_raft, height
                committed.extend(block.transaction_ids)
            assert sorted(committed) == sorted(acknowledged)
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())
