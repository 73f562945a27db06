"""A committed transaction's inclusion proofs, for the browser to check (static/proof.js).

`GET /api/transactions/{id}/proof` relays what the node's documented API gives
(`gusu_getTransactionProof`, `gusu_getReceiptProof`, `gusu_getReceipt`): the block
header and hash, the Merkle paths to the header's transactions and receipts roots,
and the receipt in its canonical encoding (the receipts root's leaf is the hash of
those bytes). The console checks nothing on the browser's behalf: the page encodes
and hashes the header, walks both paths and decodes the receipt itself.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gusu.console import chain
from gusu.console.chains import get_client
from gusu.errors import RemoteError
from gusu.ledger.jsonview import JSONObject, bytes_to_hex, header_to_json
from gusu.ledger.merkle import InclusionProof
from gusu.ledger.types import Hash, encode_receipt
from gusu.sdk import AsyncClient


def _path_json(proof: InclusionProof) -> JSONObject:
    return {
        "index": proof.leaf_index,
        "leaf_count": proof.leaf_count,
        "path": [bytes_to_hex(node) for node in proof.path],
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
    }


async def _api_transaction_proof(request: web.Request) -> web.StreamResponse:
    transaction_id = chain.parse_hash(request.match_info["transaction_id"])
    return web.json_response(await get_transaction_proof(get_client(request), transaction_id))


def add_proof_routes(app: web.Application) -> None:
    """`GET /api/transactions/{transaction_id}/proof`: public, like the explorer."""
    app.router.add_get("/api/transactions/{transaction_id}/proof", _api_transaction_proof)
