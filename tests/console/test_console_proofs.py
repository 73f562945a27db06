"""`/api/transactions/{id}/proof`: what the browser checks, relayed from the node; checked here in Python too."""

from __future__ import annotations

from typing import Any

from console_helpers import Chain
from test_console_server import Client, get_json, run_console

from gusu.crypto import get_suite
from gusu.ledger.jsonview import header_from_json
from gusu.ledger.merkle import InclusionProof, is_valid_inclusion
from gusu.ledger.types import compute_block_hash, decode_receipt


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
        transaction = await get_json(client, f"/api/transactions/{chain.transfer_id}")
        assert (
            transaction["height"] == (await get_json(client, f"/api/transactions/{chain.transfer_id}/proof"))["height"]
        )
        unknown = await get_json(client, "/api/transactions/0x" + "ab" * 32 + "/proof", status=404)
        assert unknown["error"]["code"] == "not_found"
        malformed = await get_json(client, "/api/transactions/0x12/proof", status=400)
        assert malformed["error"]["code"] == "input_invalid"

    run_console(chain.endpoint, scenario)
