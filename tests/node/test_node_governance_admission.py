"""Admission refuses what the consortium's governance forbids, before it enters the pool."""

from __future__ import annotations

import asyncio
from pathlib import Path

from node_helpers import address_of, load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.codec import decode, encode
from gusu.errors import AccountFrozenError, PermissionDeniedError
from gusu.ledger.types import Height, ReceiptStatus
from gusu.sdk.transactions import build_transaction

RECIPIENT = b"\x22" * 20


def test_admission_refuses_a_frozen_account_and_an_auditor(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            frozen_key = node.suite.generate_private_key()
            auditor_key = node.suite.generate_private_key()
            [organization] = decode(node.call("system", "get_organizations", encode(["", 64]), None).return_value)
            # The dev key is a genesis admin, so it governs the single-operator chain alone.
            for kind, args in (
                ("freeze_account", [address_of(node, frozen_key)]),
                ("set_account", [address_of(node, auditor_key), organization[0], "auditor"]),
            ):
                proposal = build_transaction(
                    dev,
                    node.chain_id,
                    "system",
                    "propose",
                    [kind, encode(args), node.height + 100],
                    Height(node.height + 100),
                )
                [outcome] = await node.submit_transactions([proposal.raw])
                assert outcome.error is None
                record = await wait_for_receipt(node, proposal.transaction_id)
                assert record.receipt.status == ReceiptStatus.SUCCESS, record.receipt.error_message
            # In force from the block after the decision: commit one more block.
            later = sign_transfer(node, dev, RECIPIENT, 1)
            await node.submit_transactions([later.raw])
            await wait_for_receipt(node, later.transaction_id)
            [frozen, auditor, free] = await node.submit_transactions(
                [
                    sign_transfer(node, frozen_key, RECIPIENT, 1).raw,
                    sign_transfer(node, auditor_key, RECIPIENT, 1).raw,
                    sign_transfer(node, dev, RECIPIENT, 1).raw,
                ]
            )
            assert isinstance(frozen.error, AccountFrozenError)
            assert frozen.error.code == "account_frozen" and "unfreezes" in str(frozen.error)
            assert isinstance(auditor.error, PermissionDeniedError)
            assert "auditor" in str(auditor.error)
            assert free.error is None
        finally:
            await node.stop()

    asyncio.run(scenario())
