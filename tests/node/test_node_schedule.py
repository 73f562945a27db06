"""The node in-process follows the configuration schedule in its state: block limits change at their height.

The schedule is written where the governance contract writes it, by the test (`node_helpers.schedule_change`).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import load_dev_key, make_chain, schedule_change, sign_transfer, start_node, wait_for_receipt

from gusu.ledger.chainconfig import ChainConfig
from gusu.ledger.types import Height
from gusu.ledger.validators import compute_validators_hash

RECIPIENT = b"\x12" * 20
DECIDED_HEIGHT = Height(1)
EFFECTIVE_HEIGHT = Height(3)
SMALLER_BLOCKS = 2


def _smaller_blocks(config: ChainConfig) -> ChainConfig:
    parameters = dict(config.parameters)
    parameters["block_transactions_max"] = SMALLER_BLOCKS
    return replace(config, parameters=tuple(sorted(parameters.items())))


def test_block_limits_changed_by_the_schedule_apply_from_their_height(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain", suite_name="ecdsa")
        node = await start_node(layout)
        schedule_change(node, monkeypatch, DECIDED_HEIGHT, EFFECTIVE_HEIGHT, _smaller_blocks)
        try:
            dev = load_dev_key(layout)
            first = sign_transfer(node, dev, RECIPIENT, 1)
            await node.submit_transactions([first.raw])
            await wait_for_receipt(node, first.transaction_id)
            while node.height < 2:  # the change is decided in block 1; block 2 may hold a few more
                extra = sign_transfer(node, dev, RECIPIENT, 2)
                await node.submit_transactions([extra.raw])
                await wait_for_receipt(node, extra.transaction_id)
            batch = [sign_transfer(node, dev, RECIPIENT, 10 + index) for index in range(7)]
            await node.submit_transactions([signed.raw for signed in batch])
            # By the receipts' heights: a receipt is readable a moment before the node's tip moves.
            last_height = max([(await wait_for_receipt(node, signed.transaction_id)).height for signed in batch])
            heights = range(EFFECTIVE_HEIGHT, last_height + 1)
            assert len(heights) >= 4  # seven transactions, two a block
            for height in heights:
                block = node.get_block(Height(height))
                assert block is not None and block.header.transaction_count <= SMALLER_BLOCKS
            validators_hash = compute_validators_hash(node.suite, node._genesis.validators)
            for height in range(0, last_height + 1):
                block = node.get_block(Height(height))
                assert block is not None
                assert block.header.validators_hash == block.header.next_validators_hash == validators_hash
        finally:
            await node.stop()

    asyncio.run(scenario())
