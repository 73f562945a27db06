"""A committed transaction's inclusion proofs, for the browser to check (static/proof.js).

`GET /api/transactions/{id}/proof` relays what the node's documented API gives
(`gusu_getTransactionProof`, `gusu_getReceiptProof`, `gusu_getReceipt`): the block
header and hash, the Merkle paths to the header's transactions and receipts roots,
and the receipt in its canonical encoding (the receipts root's leaf is the hash of
those bytes). The console checks nothing on the browser's behalf: the page encodes
and hashes the header, walks both paths and decodes the receipt itself.

For the header itself the answer also carries the block's commit certificate
(`gusu_getBlockByHeight`) and the validator set in force at its height, taken from
the configuration schedule (the `system` contract's documented view
`get_config_schedule`, through `gusu_call`); static/sigverify.js checks that the set
hashes to the header's `validators_hash` and that members holding more than 2/3 of
its power signed this block's precommit. The set is null when the schedule no
longer reaches back to that height (the set changed since and the old one was
pruned): the page then says the header cannot be checked.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gusu.console import chain
from gusu.console.chains import get_client
from gusu.errors import RemoteError
from gusu.ledger.jsonview import JSONObject, bytes_to_hex, certificate_to_json, header_to_json
from gusu.ledger.merkle import InclusionProof
from gusu.ledger.types import Hash, Height, encode_receipt
from gusu.sdk import AsyncClient, AsyncGovernance
from gusu.sdk.governance import ConfigChangeView


def _path_json(proof: InclusionProof) -> JSONObject:
    return {
        "index": proof.leaf_index,
        "leaf_count": proof.leaf_count,
        "path": [bytes_to_hex(node) for node in proof.path],
    }


def get_validator_set_json(schedule: list[ConfigChangeView], height: Height) -> JSONObject | None:
    """The validators in force at `height` under `schedule` (its last change at or below `height`), or None
    when the schedule starts above `height`: then the set of that height is no longer known to the node."""
    in_force = [change for change in schedule if change.effective_height <= height]
    if not in_force:
        return None
    change = in_force[-1]
    return {
        "effective_height": change.effective_height,
        "consensus": change.engine,
        "validators": [
            {
                "name": validator.name,
                "address": bytes_to_hex(validator.address),
                "public_key": bytes_to_hex(validator.public_key),
                "power": validator.power,
                "organization": validator.organization,
            }
            for validator in change.validators
        ],
    }


async def get_transaction_proof(client: AsyncClient, transaction_id: Hash) -> JSONObject:
    """The proofs of committed transaction `transaction_id`; `not_found` while it is pending or unknown."""
    status, transaction_proof, receipt_proof, receipt = await asyncio.gather(
        client.status(),
        client.get_transaction_proof(transaction_id),
        client.get_receipt_proof(transaction_id),
        client.get_receipt(transaction_id),
    )
    if (
        transaction_proof.block_hash != receipt_proof.block_hash
        or receipt.block_hash != transaction_proof.block_hash
        or receipt.receipt.transaction_id != transaction_id
    ):
        # The node moved between the calls (it cannot: blocks are final) or answered inconsistently.
        raise RemoteError("node_answer_invalid", "the node's transaction and receipt proofs name different blocks")
    block, schedule = await asyncio.gather(
        client.get_block(transaction_proof.height), AsyncGovernance(client).get_config_schedule()
    )
    if block.block_hash != transaction_proof.block_hash:
        raise RemoteError("node_answer_invalid", "the node's block and its transaction proof name different blocks")
    receipt_path = _path_json(receipt_proof.proof)
    receipt_path["receipt"] = bytes_to_hex(encode_receipt(receipt.receipt))
    return {
        "transaction_id": bytes_to_hex(transaction_id),
        "suite": status.suite,
        "hash_name": chain.HASH_NAMES.get(status.suite, status.suite),
        "height": transaction_proof.height,
        "block_hash": bytes_to_hex(transaction_proof.block_hash),
        "header": header_to_json(transaction_proof.header),
        "transaction_proof": _path_json(transaction_proof.proof),
        "receipt_proof": receipt_path,
        "certificate": None if block.certificate is None else certificate_to_json(block.certificate),
        "validator_set": get_validator_set_json(schedule, transaction_proof.height),
    }


async def _api_transaction_proof(request: web.Request) -> web.StreamResponse:
    transaction_id = chain.parse_hash(request.match_info["transaction_id"])
    return web.json_response(await get_transaction_proof(get_client(request), transaction_id))


def add_proof_routes(app: web.Application) -> None:
    """`GET /api/transactions/{transaction_id}/proof`: public, like the explorer."""
    app.router.add_get("/api/transactions/{transaction_id}/proof", _api_transaction_proof)
