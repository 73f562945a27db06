"""`/api/transactions/{id}/proof`: what the browser checks, relayed from the node; checked here in Python too."""

from __future__ import annotations

from typing import Any

from console_helpers import Chain
from test_console_server import Client, get_json, run_console

from gusu.console.proofs import get_validator_set_json
from gusu.crypto import get_suite
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.jsonview import certificate_from_json, header_from_json
from gusu.ledger.lightclient import verify_commit_signatures
from gusu.ledger.merkle import InclusionProof, is_valid_inclusion
from gusu.ledger.types import Address, Height, compute_block_hash, decode_receipt
from gusu.ledger.validators import compute_validators_hash
from gusu.sdk.governance import ConfigChangeView, ScheduledValidator


def _inclusion(proof: dict[str, Any]) -> InclusionProof:
    return InclusionProof(proof["index"], proof["leaf_count"], tuple(bytes.fromhex(node[2:]) for node in proof["path"]))


def test_the_proof_answer_holds_against_its_header(chain: Chain) -> None:
    async def scenario(client: Client) -> None:
        for transaction_id in (chain.transfer_id, chain.failed_id):
            answer = await get_json(client, f"/api/transactions/{transaction_id}/proof")
            assert answer["transaction_id"] == transaction_id and answer["hash_name"] == "SM3"
            suite = get_suite(answer["suite"])
            header = header_from_json(answer["header"])
            assert answer["height"] == header.height
            assert compute_block_hash(suite, header).hex() == answer["block_hash"][2:]
            leaf = bytes.fromhex(transaction_id[2:])
            assert is_valid_inclusion(
                suite.hash, header.transactions_root, leaf, _inclusion(answer["transaction_proof"])
            )
            encoding = bytes.fromhex(answer["receipt_proof"]["receipt"][2:])
            assert decode_receipt(encoding).transaction_id.hex() == transaction_id[2:]
            assert is_valid_inclusion(
                suite.hash, header.receipts_root, suite.hash(encoding), _inclusion(answer["receipt_proof"])
            )
            # The header's commit certificate and the set of its height: enough for the page to check the header.
            validator_set = answer["validator_set"]
            assert validator_set["consensus"] == "solo" and validator_set["effective_height"] <= header.height
            validators = [
                GenesisValidator(
                    item["name"],
                    Address(bytes.fromhex(item["address"][2:])),
                    bytes.fromhex(item["public_key"][2:]),
                    item["power"],
                    item["organization"],
                )
                for item in validator_set["validators"]
            ]
            assert compute_validators_hash(suite, validators) == header.validators_hash
            certificate = certificate_from_json(answer["certificate"])
            verify_commit_signatures(suite, header.chain_id, validators, certificate, compute_block_hash(suite, header))
        transaction = await get_json(client, f"/api/transactions/{chain.transfer_id}")
        assert (
            transaction["height"] == (await get_json(client, f"/api/transactions/{chain.transfer_id}/proof"))["height"]
        )
        unknown = await get_json(client, "/api/transactions/0x" + "ab" * 32 + "/proof", status=404)
        assert unknown["error"]["code"] == "not_found"
        malformed = await get_json(client, "/api/transactions/0x12/proof", status=400)
        assert malformed["error"]["code"] == "input_invalid"

    run_console(chain.endpoint, scenario)


def test_the_validator_set_is_the_one_in_force_at_the_height() -> None:
    def change(effective_height: int, power: int) -> ConfigChangeView:
        member = ScheduledValidator("node0", Address(b"\x01" * 20), b"\x04" + b"\x02" * 64, power, "org")
        return ConfigChangeView(Height(effective_height), (member,), (), "tendermint")

    schedule = [change(5, 1), change(10, 2)]
    assert get_validator_set_json(schedule, Height(4)) is None  # the set of height 4 was pruned from the schedule
    for height, power in ((5, 1), (9, 1), (10, 2), (1000, 2)):
        found = get_validator_set_json(schedule, Height(height))
        assert found is not None and found["validators"][0]["power"] == power, height
    assert found["effective_height"] == 10 and found["consensus"] == "tendermint"
    assert found["validators"][0]["address"] == "0x" + "01" * 20
