"""A real 4-validator chain (four processes) switches engines under load: every organisation's admin votes
`set_consensus` through the `system` contract over the API, Tendermint -> Raft, then (under Raft) back to
Tendermint. `check_network` then finds every acknowledged transaction committed once, one block per height
everywhere, and each certificate of the kind of its height's engine."""

from __future__ import annotations

import pytest
from e2e_helpers import E2ENetwork, LoadGenerator, check_network

from gusu.codec import decode, encode
from gusu.crypto import PrivateKey
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.types import Height, ReceiptStatus
from gusu.sdk.transactions import build_transaction

pytestmark = pytest.mark.e2e

SWITCH_AHEAD_BLOCKS = 12
"""The effective height is this far past the tip when proposing: time for four organisations' votes."""


def _admin_keys(network: E2ENetwork) -> list[PrivateKey]:
    return [
        decrypt_key_file(
            organization.admin_account_key_path.read_bytes(),
            organization.admin_account_key_path.with_suffix(".pass").read_text().strip(),
        )
        for organization in network.layout.organizations
    ]


def _run(network: E2ENetwork, key: PrivateKey, method: str, args: list[object]) -> object:
    with network.nodes[0].client(timeout_s=10.0) as client:
        height = client.block_number()
        signed = build_transaction(key, network.chain_id, "system", method, args, Height(height + 200))  # type: ignore[arg-type]
        client.send_raw(signed.raw)
        receipt = client.wait_for_receipt(signed.transaction_id, timeout_s=60)
    assert receipt.status == ReceiptStatus.SUCCESS, receipt.error_message
    return decode(receipt.return_value)


def _switch(network: E2ENetwork, admins: list[PrivateKey], engine: str) -> int:
    effective = network.height(0) + SWITCH_AHEAD_BLOCKS
    proposal_id = _run(network, admins[0], "propose", ["set_consensus", encode([engine, effective]), effective])
    for admin in admins[1:]:
        _run(network, admin, "vote", [proposal_id, True])
    assert network.height(0) + 2 <= effective, "the votes took longer than the proposal allowed for"

    def switched() -> bool:
        for node in network.nodes:
            with node.client() as client:
                if client.status().consensus != engine:
                    return False
        return True

    network.wait_until(switched, timeout_s=60, what=f"every node runs {engine}")
    return effective


def test_a_governance_switch_to_raft_and_back_under_load(network: E2ENetwork) -> None:
    admins = _admin_keys(network)
    with LoadGenerator(network, seed=11) as load:
        load.wait_for(20, timeout_s=30)
        to_raft = _switch(network, admins, "raft")
        load.wait_for(load.count() + 40, timeout_s=60)
        to_tendermint = _switch(network, admins, "tendermint")
        load.wait_for(load.count() + 40, timeout_s=60)
    network.raft_heights = lambda height: to_raft <= height < to_tendermint
    summary = check_network(network, load.acknowledged)
    assert summary.nodes == [0, 1, 2, 3] and summary.common_height >= to_tendermint
