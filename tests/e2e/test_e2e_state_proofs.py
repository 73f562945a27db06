"""Proof-backed reads on a real four-organisation chain: a citizen checks one node's answer against another's.

A transfer and an evidence record commit; node0 (one organisation's node) is asked for Bob's balance and
the document's evidence record with state proofs, and each is checked two ways, as a client that trusts
nothing node0 says would: against the block hash node1 (another organisation) reports for that height, and
against the genesis validators through the block's commit certificate. The record's absence one block
before it was made is proved too (an exclusion proof), an answer whose value was changed is refused, and
the REST form of the same read carries the same proof.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace

import pytest
from click.testing import CliRunner
from e2e_helpers import E2ENetwork, load_dev_key

from gusu.cli.main import cli
from gusu.codec import encode
from gusu.errors import RemoteError
from gusu.ledger.jsonview import state_proof_from_json
from gusu.ledger.types import Address, Height
from gusu.sdk import (
    compute_balance_key,
    compute_evidence_key,
    read_balance,
    read_evidence,
    verify_certified_state_proof,
    verify_state_proof,
)
from gusu.sdk.transactions import build_transaction

pytestmark = pytest.mark.e2e

BOB = b"\x42" * 20
DOCUMENT = bytes(range(32))


def test_balances_and_evidence_are_proved_against_another_organisations_block(network: E2ENetwork) -> None:
    suite, chain_id = network.suite, network.chain_id
    key = load_dev_key(network.layout)
    submitter = Address(suite.compute_address(key.public_key))
    validators = network.layout.genesis.validators
    with network.nodes[0].client() as node0, network.nodes[1].client() as node1:
        valid_until = Height(int(node0.block_number()) + 500)
        transfer = node0.send_raw(build_transaction(key, chain_id, "account", "transfer", [BOB, 5], valid_until).raw)
        assert node0.wait_for_receipt(transfer, timeout_s=30).is_success
        transferred = node0.get_receipt(transfer)
        record = build_transaction(key, chain_id, "evidence", "record", [DOCUMENT, "deed of sale"], valid_until)
        record_id = node0.send_raw(record.raw)
        assert node0.wait_for_receipt(record_id, timeout_s=30).is_success
        recorded = node0.get_receipt(record_id)
        height = recorded.height
        assert height > transferred.height

        trusted = node1.get_block(height).block_hash  # another organisation's word for the block
        balance = node0.get_state_proof("account", compute_balance_key(BOB), height)
        assert verify_state_proof(suite, balance, trusted)
        assert verify_certified_state_proof(suite, balance, validators)
        assert read_balance(balance) == 5 == node0.call("account", "balance", [BOB])

        evidence = node0.get_state_proof("evidence", compute_evidence_key(DOCUMENT), height)
        assert verify_state_proof(suite, evidence, trusted)
        assert verify_certified_state_proof(suite, evidence, validators)
        proven = read_evidence(evidence)
        assert proven is not None
        assert (proven.submitter, proven.height, proven.metadata) == (submitter, height, "deed of sale")

        # One block earlier the document was not recorded: proved absent against that block.
        before = node0.get_state_proof("evidence", compute_evidence_key(DOCUMENT), height - 1)
        assert before.value is None and read_evidence(before) is None
        assert verify_state_proof(suite, before, node1.get_block(height - 1).block_hash)

        # A node that lies about the value is caught, whichever trust anchor the client holds.
        forged = replace(balance, value=encode(5_000_000))
        assert not verify_state_proof(suite, forged, trusted)
        assert not verify_certified_state_proof(suite, forged, validators)

        # A height the chain has not reached is refused with a message, not answered.
        with pytest.raises(RemoteError, match="not committed yet"):
            node0.get_state_proof("account", compute_balance_key(BOB), int(node0.block_number()) + 10)

    url = f"{network.nodes[2].api_url}/v1/state/evidence/0x{compute_evidence_key(DOCUMENT).hex()}/proof?height={height}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        over_rest = state_proof_from_json(json.loads(answer.read()))
    assert over_rest.value == evidence.value and verify_state_proof(suite, over_rest, trusted)

    # The CLI does the same checks: against node1's block hash and the genesis validators, and refuses
    # when the trusted hash is another block's.
    genesis = network.layout.directory / "genesis.json"
    key_hex = "0x" + compute_evidence_key(DOCUMENT).hex()
    common = ["--endpoint", network.nodes[0].api_url, "--json", "state", "proof", "evidence", key_hex]
    checked = CliRunner().invoke(
        cli, [*common, "--height", str(height), "--block-hash", "0x" + trusted.hex(), "--genesis", str(genesis)]
    )
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["valid"] is True and len(report["checks"]) == 2
    assert report["answer"]["value_decoded"][3] == "deed of sale"
    refused = CliRunner().invoke(cli, [*common, "--height", str(height - 1), "--block-hash", "0x" + trusted.hex()])
    assert refused.exit_code == 1 and json.loads(refused.stdout)["valid"] is False
