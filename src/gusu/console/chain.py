"""What the console's JSON API answers, read from a node through the SDK.

Each ``get_*`` function makes the node calls one console request needs and
returns a JSON-ready dict. Inputs come from browsers, so `parse_*` functions
validate them first and raise `ConsoleInputError` with what a valid one looks like.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from gusu.errors import ConsoleInputError, RemoteError
from gusu.ledger.jsonview import JSON, JSONObject, bytes_to_hex, header_to_json, receipt_to_json, transaction_to_json
from gusu.ledger.types import Address, Hash, Height
from gusu.sdk import AsyncClient, BlockView, TransactionView

HEIGHT_MAX = (1 << 63) - 1
"""Heights above this are refused before asking the node."""
_HASH_PATTERN = re.compile(r"0[xX][0-9a-fA-F]{64}")
_ADDRESS_PATTERN = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HEIGHT_PATTERN = re.compile(r"[0-9]{1,19}")
BLOCK_TRANSACTIONS_PAGE_DEFAULT = 50
"""Transactions a block page shows at once: a block of thousands is paged, never read whole."""
BLOCK_TRANSACTIONS_PAGE_MAX = 200
"""Largest `limit` of a block's transaction page: each one is one node read (`gusu_getTransaction`)."""
BLOCK_TRANSACTIONS_OFFSET_MAX = 100_000
"""Largest `offset` of a block's transaction page: the most transactions a block holds (docs/api.md)."""
HASH_NAMES = {"sm": "SM3", "ecdsa": "keccak-256"}
"""The evidence rule: a document is hashed with its chain's suite hash (as `gusu evidence record` does)."""

SearchKind = Literal["block", "transaction", "account"]


def parse_height(text: str) -> Height:
    if not _HEIGHT_PATTERN.fullmatch(text) or int(text) > HEIGHT_MAX:
        raise ConsoleInputError(f"a height is a whole number from 0 to {HEIGHT_MAX}, found {text[:80]!r}")
    return Height(int(text))


def parse_hash(text: str) -> Hash:
    if not _HASH_PATTERN.fullmatch(text):
        raise ConsoleInputError(f"a hash is 0x and 64 hex digits, found {text[:80]!r}")
    return Hash(bytes.fromhex(text[2:]))


def parse_address(text: str) -> Address:
    if not _ADDRESS_PATTERN.fullmatch(text):
        raise ConsoleInputError(f"an address is 0x and 40 hex digits, found {text[:80]!r}")
    return Address(bytes.fromhex(text[2:]))


def parse_block_reference(text: str) -> Height | Hash:
    return parse_height(text) if _HEIGHT_PATTERN.fullmatch(text) else parse_hash(text)


def parse_limit(text: str | None, default: int, maximum: int) -> int:
    if text is None:
        return default
    if not _HEIGHT_PATTERN.fullmatch(text) or not 1 <= int(text) <= maximum:
        raise ConsoleInputError(f"limit must be a whole number from 1 to {maximum}, found {text[:80]!r}")
    return int(text)


def parse_offset(text: str | None) -> int:
    """A position in a block's transactions (0 when absent)."""
    if text is None:
        return 0
    if not _HEIGHT_PATTERN.fullmatch(text) or int(text) > BLOCK_TRANSACTIONS_OFFSET_MAX:
        raise ConsoleInputError(
            f"offset must be a whole number from 0 to {BLOCK_TRANSACTIONS_OFFSET_MAX}, found {text[:80]!r}"
        )
    return int(text)


def compute_block_summary(block: BlockView) -> JSONObject:
    header = block.header
    return {
        "height": header.height,
        "hash": bytes_to_hex(block.block_hash),
        "timestamp_ms": header.timestamp_ms,
        "transaction_count": header.transaction_count,
        "proposer": bytes_to_hex(header.proposer),
    }


def compute_tps(blocks: list[BlockView]) -> float:
    """Transactions per second over `blocks` (any order): those after the oldest, over the time they span."""
    # Genesis has no real time (timestamp 0), so it never bounds the span.
    ordered = sorted((block for block in blocks if block.header.height > 0), key=lambda block: block.header.height)
    if len(ordered) < 2:
        return 0.0
    span_ms = ordered[-1].header.timestamp_ms - ordered[0].header.timestamp_ms
    if span_ms <= 0:
        return 0.0
    transactions = sum(block.header.transaction_count for block in ordered[1:])
    return round(transactions * 1000 / span_ms, 2)


async def get_blocks(client: AsyncClient, top: Height, count: int) -> list[BlockView]:
    """Blocks `top`, `top - 1`, ... (at most `count`, down to genesis), newest first."""
    heights = range(top, max(-1, top - count), -1)
    return list(await asyncio.gather(*(client.get_block(height) for height in heights)))


async def get_status(client: AsyncClient, recent_count: int) -> JSONObject:
    status = await client.status()
    peers, blocks = await asyncio.gather(client.peers(), get_blocks(client, status.height, recent_count))
    return {
        "chain_id": status.chain_id,
        "suite": status.suite,
        "hash_name": HASH_NAMES.get(status.suite, status.suite),
        "height": status.height,
        "latest_block_hash": bytes_to_hex(status.latest_block_hash),
        "latest_block_time_ms": status.latest_block_time_ms,
        "consensus": status.consensus,
        "mempool": {"transactions": status.mempool_transactions, "bytes": status.mempool_bytes},
        "peers": len(peers),
        "node_version": status.version,
        "tps": compute_tps(blocks),
        "recent_blocks": [compute_block_summary(block) for block in blocks],
    }


async def get_block_page(client: AsyncClient, before: Height | None, limit: int) -> JSONObject:
    top = await client.block_number() if before is None else Height(before - 1)
    blocks = [] if top < 0 else await get_blocks(client, top, limit)
    last = blocks[-1].header.height if blocks else 0
    return {
        "blocks": [compute_block_summary(block) for block in blocks],
        "next_before": last if last > 0 else None,
    }


def _transaction_summary(view: TransactionView) -> JSONObject:
    result: JSONObject = {"id": bytes_to_hex(view.transaction_id), "status": view.status}
    if view.transaction is not None and view.sender is not None:
        result["transaction"] = transaction_to_json(view.transaction, view.transaction_id, view.sender)
    else:
        result["transaction"] = None
    if view.height is not None:
        result["height"] = view.height
        result["index"] = view.index
    if view.reason:
        result["reason"] = view.reason
    return result


async def get_block(
    client: AsyncClient, reference: Height | Hash, offset: int = 0, limit: int = BLOCK_TRANSACTIONS_PAGE_DEFAULT
) -> JSONObject:
    """A block and one page of its transactions: positions `offset` to `offset + limit - 1`.

    The block is read with its transaction ids only (32 bytes each), and only the page's transactions
    are read in full, so a block of thousands of transactions costs `limit` transaction reads a page.
    """
    assert 1 <= limit <= BLOCK_TRANSACTIONS_PAGE_MAX, limit
    block = await client.get_block(reference, full_transactions=False)
    count = len(block.transaction_ids)
    if offset > 0 and offset >= count:
        raise ConsoleInputError(f"offset {offset} is past the block's {count} transactions")
    page_ids = block.transaction_ids[offset : offset + limit]
    views: tuple[TransactionView, ...] | list[TransactionView]
    if offset == 0 and count <= limit:
        # The whole block fits the page: one read of it in full costs less than one read per transaction.
        views = (await client.get_block(reference, full_transactions=True)).transactions
    else:
        views = await asyncio.gather(*(client.get_transaction(transaction_id) for transaction_id in page_ids))
    end = offset + len(page_ids)
    document: JSONObject = {
        "hash": bytes_to_hex(block.block_hash),
        "header": header_to_json(block.header),
        "transactions": [_transaction_summary(view) for view in views],
        "transactions_offset": offset,
        "transactions_next_offset": end if end < count else None,
        "transactions_previous_offset": max(0, offset - limit) if offset > 0 else None,
        "signatures": 0 if block.certificate is None else len(block.certificate.signatures),
    }
    return document


async def get_transaction(client: AsyncClient, transaction_id: Hash) -> JSONObject:
    view = await client.get_transaction(transaction_id)
    document = _transaction_summary(view)
    receipt: JSON = None
    if view.is_committed:
        receipt_view = await client.get_receipt(transaction_id)
        receipt = receipt_to_json(
            receipt_view.receipt, (receipt_view.height, receipt_view.index, receipt_view.block_hash)
        )
    document["receipt"] = receipt
    return document


async def get_account(
    client: AsyncClient, address: Address, limit: int, before: tuple[Height, int] | None
) -> JSONObject:
    balance, page = await asyncio.gather(
        client.call("account", "balance", [address]),
        client.get_transactions_by_sender(address, limit, before),
    )
    if not isinstance(balance, int) or isinstance(balance, bool):
        raise RemoteError("node_answer_invalid", f"the node answered account.balance with {balance!r}")
    return {
        "address": bytes_to_hex(address),
        "balance": balance,
        "transactions": [_transaction_summary(view) for view in page.transactions],
        "next": None if page.next is None else {"height": page.next[0], "index": page.next[1]},
    }


async def get_evidence(client: AsyncClient, document_hash: Hash) -> JSONObject:
    record = await client.call("evidence", "get", [document_hash])
    document: JSONObject = {"document_hash": bytes_to_hex(document_hash), "recorded": record is not None}
    if record is None:
        return document
    match record:
        case [bytes() as submitter, int() as height, int() as timestamp_ms, str() as metadata]:
            document.update(
                {
                    "submitter": bytes_to_hex(submitter),
                    "height": height,
                    "timestamp_ms": timestamp_ms,
                    "metadata": metadata,
                }
            )
            return document
    raise RemoteError("node_answer_invalid", "the node answered evidence.get with a record of an unknown shape")


async def search(client: AsyncClient, query: str) -> tuple[SearchKind, str]:
    """(kind, canonical reference) of what `query` names: a height, block hash, transaction id or address."""
    text = query.strip()
    if _HEIGHT_PATTERN.fullmatch(text):
        height = parse_height(text)
        await client.get_block(height)
        return "block", str(height)
    if _ADDRESS_PATTERN.fullmatch(text):
        return "account", bytes_to_hex(parse_address(text))
    hash_value = parse_hash(text)
    try:
        block = await client.get_block(hash_value)
        return "block", str(block.header.height)
    except RemoteError as error:
        if error.code != "not_found":
            raise
    await client.get_transaction(hash_value)
    return "transaction", bytes_to_hex(hash_value)
