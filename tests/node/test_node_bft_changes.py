"""Four BFT validators in one process over TLS: governance removes one and re-weights another mid-run.

The schedule is written as the governance contract writes it (`node_helpers.schedule_change`, the same change on
every node). From the effective height on, blocks name the new set and are certified by it alone; the removed
validator's node keeps following the chain as an observer.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import schedule_change
from test_node_bft_inprocess import RECIPIENT, _make_network, _wait_committed

from gusu.consensus import ValidatorSet, verify_commit_certificate
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.chainconfig import ChainConfig
from gusu.ledger.types import Height
from gusu.ledger.validators import compute_validators_hash
from gusu.node.chain import load_node
from gusu.sdk.transactions import build_transaction

DECIDED_HEIGHT = Height(1)
EFFECTIVE_HEIGHT = Height(3)


def test_a_validator_removed_by_governance_stops_certifying_and_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes = [load_node(directory) for directory in layout.node_directories]
        removed = nodes[3].address
        heavier = nodes[0].address

        def change(config: ChainConfig) -> ChainConfig:
            validators = tuple(
                replace(validator, power=validator.power * 2) if validator.address == heavier else validator
                for validator in config.validators
                if validator.address != removed
            )
            return replace(config, validators=validators)

        for node in nodes:
            schedule_change(node, monkeypatch, DECIDED_HEIGHT, EFFECTIVE_HEIGHT, change)
            await node.start()
        try:
            dev = decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())
            for amount in range(1, 7):
                signed = build_transaction(
                    dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, amount], Height(60)
                )
                [outcome] = await nodes[amount % 3].submit_transactions([signed.raw])
                assert outcome.error is None, outcome.error
                await _wait_committed(nodes, signed.transaction_id, timeout_s=30)
            top = min(int(node.height) for node in nodes)
            assert top >= EFFECTIVE_HEIGHT + 2
            suite = nodes[0].suite
            old = sorted(layout.genesis.validators, key=lambda validator: validator.address)
            new = change(ChainConfig(tuple(old), (), "tendermint")).validators
            old_hash, new_hash = compute_validators_hash(suite, old), compute_validators_hash(suite, new)
            new_set = ValidatorSet.from_genesis_validators(new, EFFECTIVE_HEIGHT)
            for node in nodes:  # the removed validator's node holds the same chain
                for height in range(1, top + 1):
                    block = node.get_block(Height(height))
                    assert block is not None and block.certificate is not None
                    header = block.header
                    expected = (old_hash, old_hash) if height < EFFECTIVE_HEIGHT - 1 else None
                    if height == EFFECTIVE_HEIGHT - 1:
                        expected = (old_hash, new_hash)  # announces the change
                    elif height >= EFFECTIVE_HEIGHT:
                        expected = (new_hash, new_hash)
                    assert (header.validators_hash, header.next_validators_hash) == expected, height
                    if height >= EFFECTIVE_HEIGHT:
                        signers = {entry.validator for entry in block.certificate.signatures}
                        assert removed not in signers and header.proposer != removed
                        verify_commit_certificate(suite, layout.genesis.chain_id, new_set, block.certificate)
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())
