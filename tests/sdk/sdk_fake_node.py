"""A small stand-in for a Gusu node's API, for testing the SDK without a node.

It speaks JSON-RPC over HTTP (``/rpc``) and WebSocket (``/ws``) as
docs/api.md describes, for the handful of methods the SDK uses, and keeps a
real little chain: transactions are decoded and their signatures checked,
blocks are cut every `block_interval_s` with true Merkle roots and block
hashes, so the SDK's proof checks run against genuine data. It renders
records with `gusu.ledger.jsonview`, as the node does.

Contracts it "executes":

* ``account.transfer(to: bytes, amount: int)`` -> ``True``, event ``Transfer [from, to, amount]``;
* ``evidence.record(document_hash: bytes, metadata: str)`` -> ``None``, event
  ``Recorded [document_hash, sender, height]`` (as the real contract);
* ``doomed.*``: never commits; dropped at the next block with reason "expired";
* anything else commits as a failed receipt (``method_unknown``).

Tests steer it through attributes: `refusals` (errors for the next
submitted transactions, one each), `http_failures` (raw HTTP answers for the
next requests), `close_subscribers_with` (a WebSocket close code) and
`peers` (the JSON items ``gusu_peers`` answers with, malformed ones included),
`evidence` (the JSON records ``gusu_evidence`` pages through), `evidence_answer`
(a whole ``gusu_evidence`` result, to send malformed ones), `versions`
(the status's versions object), `events_range_max` (the widest range ``gusu_getEvents`` searches) and
`events_answer` (a whole ``gusu_getEvents`` result, to send malformed ones).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from gusu.codec import decode, encode
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import (
    CodecError,
    DuplicateTransactionError,
    ExpiredTransactionError,
    GusuError,
    InvalidSignatureError,
    NotFoundError,
    RequestTooLargeError,
    UnknownMethodError,
    WrongChainError,
)
from gusu.ledger.jsonview import (
    JSON,
    block_to_json,
    bytes_to_hex,
    hex_to_bytes,
    inclusion_proof_to_json,
    receipt_to_json,
    transaction_to_json,
    value_from_json,
    value_to_json,
)
from gusu.ledger.merkle import compute_inclusion_proof, compute_root
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Event,
    Hash,
    Height,
    Receipt,
    ReceiptStatus,
    Round,
    Transaction,
    compute_block_hash,
    compute_transaction_id,
    decode_transaction,
    encode_commit_vote,
    encode_receipt,
)

CHAIN_ID = "gusu-test"
WINDOW_BLOCKS = 1000


@dataclass
class FakeBlock:
    header: BlockHeader
    block_hash: Hash
    entries: list[tuple[Transaction, Hash, Address]]
    receipts: list[Receipt]
    certificate: CommitCertificate


@dataclass
class FakeSubscriber:
    socket: web.WebSocketResponse
    subscriptions: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


class FakeNode:
    def __init__(
        self, suite_name: str = "sm", block_interval_s: float = 0.02, keepalive_timeout_s: float = 75.0
    ) -> None:
        self.suite: CryptoSuite = get_suite(suite_name)
        self.key: PrivateKey = self.suite.generate_private_key()
        self.address = Address(self.suite.compute_address(self.key.public_key))
        self.block_interval_s = block_interval_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.blocks: list[FakeBlock] = []
        self.pending: dict[Hash, tuple[Transaction, Address]] = {}
        self.dropped: dict[Hash, tuple[Transaction, Address]] = {}
        self.locations: dict[Hash, tuple[int, int]] = {}
        self.refusals: deque[GusuError] = deque()
        self.http_failures: deque[tuple[int, bytes]] = deque()
        self.close_subscribers_with: int | None = None
        self.peers: list[JSON] = []
        self.evidence: list[dict[str, Any]] = []
        self.evidence_answer: JSON | None = None
        self.versions: JSON = {"gusu": "0.1.0-fake", "python": "CPython 3.11.0", "openssl": "OpenSSL 3.0.0"}
        self.events_range_max = 1_000
        self.events_answer: JSON | None = None
        self.methods: list[str] = []
        self.submissions = 0
        self.unsubscribed: list[str] = []
        self.subscribers: list[FakeSubscriber] = []
        self._commit_block(force=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._producer: asyncio.Task[None] | None = None
        self.url = ""

    # --- lifecycle (called from the test thread) ---

    def start(self) -> str:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def run(self, function: Callable[[], Any]) -> Any:
        """Run `function` on the node's loop, so that it sees a consistent state."""

        async def call() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    @property
    def height(self) -> int:
        return len(self.blocks) - 1

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/rpc", self._handle_rpc)
        app.router.add_get("/ws", self._handle_ws)
        app.router.add_get("/health", self._handle_health)
        self._runner = web.AppRunner(app, keepalive_timeout=self.keepalive_timeout_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._producer = asyncio.get_running_loop().create_task(self._produce())
        return f"http://{host}:{port}"

    async def _handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "height": self.height})

    async def _stop(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
        for subscriber in list(self.subscribers):
            await subscriber.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- the chain ---

    async def _produce(self) -> None:
        while True:
            await asyncio.sleep(self.block_interval_s)
            block = self._commit_block()
            if block is not None:
                await self._notify(block)

    def _commit_block(self, force: bool = False) -> FakeBlock | None:
        if not self.pending and not force:
            return None
        height = len(self.blocks)
        entries: list[tuple[Transaction, Hash, Address]] = []
        for transaction_id, (tx, sender) in list(self.pending.items()):
            del self.pending[transaction_id]
            if tx.contract == "doomed":
                self.dropped[transaction_id] = (tx, sender)
            else:
                entries.append((tx, transaction_id, sender))
        receipts = [self._execute(tx, transaction_id, sender) for tx, transaction_id, sender in entries]
        ids = [transaction_id for _, transaction_id, _ in entries]
        header = BlockHeader(
            chain_id=CHAIN_ID,
            height=Height(height),
            parent_hash=self.blocks[-1].block_hash if self.blocks else ZERO_HASH,
            timestamp_ms=int(time.time() * 1000),
            proposer=self.address,
            transactions_root=Hash(compute_root(self.suite.hash, ids)),
            receipts_root=Hash(compute_root(self.suite.hash, [self._receipt_leaf(r) for r in receipts])),
            state_root=ZERO_HASH,
            validators_hash=ZERO_HASH,
            next_validators_hash=ZERO_HASH,
            transaction_count=len(entries),
        )
        block_hash = compute_block_hash(self.suite, header)
        vote = encode_commit_vote(CHAIN_ID, header.height, Round(0), block_hash, header.timestamp_ms)
        certificate = CommitCertificate(
            header.height,
            Round(0),
            block_hash,
            (CommitSignature(self.address, header.timestamp_ms, self.suite.sign(self.key, self.suite.hash(vote))),),
        )
        block = FakeBlock(header, block_hash, entries, receipts, certificate)
        self.blocks.append(block)
        for index, transaction_id in enumerate(ids):
            self.locations[transaction_id] = (height, index)
        return block

    def _receipt_leaf(self, receipt: Receipt) -> bytes:
        return self.suite.hash(encode_receipt(receipt))

    def _execute(self, tx: Transaction, transaction_id: Hash, sender: Address) -> Receipt:
        args = decode(tx.args)
        assert isinstance(args, list)
        if (tx.contract, tx.method) == ("account", "transfer"):
            to, amount = args
            return self._success(transaction_id, True, [Event("account", "Transfer", encode([sender, to, amount]))])
        if (tx.contract, tx.method) == ("evidence", "record"):
            digest, _metadata = args
            event = Event("evidence", "Recorded", encode([digest, sender, len(self.blocks)]))
            return self._success(transaction_id, None, [event])
        return Receipt(
            transaction_id,
            ReceiptStatus.FAILED,
            encode(None),
            (),
            100,
            "method_unknown",
            f"{tx.contract}.{tx.method} does not exist",
        )

    def _success(self, transaction_id: Hash, value: Any, events: list[Event]) -> Receipt:
        return Receipt(transaction_id, ReceiptStatus.SUCCESS, encode(value), tuple(events), 2100, "", "")

    def _submit(self, raw_hex: JSON) -> Hash:
        self.submissions += 1
        if self.refusals:
            raise self.refusals.popleft()
        tx = decode_transaction(hex_to_bytes(raw_hex))
        if tx.chain_id != CHAIN_ID:
            raise WrongChainError(f"transaction is for chain {tx.chain_id!r}, this is {CHAIN_ID!r}")
        if not self.height < tx.valid_until_height <= self.height + WINDOW_BLOCKS:
            raise ExpiredTransactionError("valid_until_height is outside the window")
        transaction_id = compute_transaction_id(self.suite, tx)
        if not self.suite.verify(tx.sender_public_key, transaction_id, tx.signature):
            raise InvalidSignatureError("the signature does not verify")
        if transaction_id in self.pending or transaction_id in self.locations:
            raise DuplicateTransactionError("this transaction is already known")
        self.pending[transaction_id] = (tx, Address(self.suite.compute_address(tx.sender_public_key)))
        return transaction_id

    def _find_committed(self, transaction_id: Hash) -> tuple[FakeBlock, int]:
        location = self.locations.get(transaction_id)
        if location is None:
            raise NotFoundError(f"transaction {bytes_to_hex(transaction_id)} is not committed")
        height, index = location
        return self.blocks[height], index

    # --- JSON-RPC ---

    async def _handle_rpc(self, request: web.Request) -> web.Response:
        if self.http_failures:
            status, body = self.http_failures.popleft()
            return web.Response(status=status, body=body)
        document = orjson.loads(await request.read())
        if isinstance(document, list):
            answer: Any = [self._answer(item) for item in document]
        else:
            answer = self._answer(document)
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method = request["method"]
        self.methods.append(method)
        head = {"jsonrpc": "2.0", "id": request.get("id")}
        try:
            handler = getattr(self, "_rpc_" + method.removeprefix("gusu_"), None)
            if handler is None:
                return {**head, "error": {"code": -32601, "message": f"no method {method}"}}
            return {**head, "result": handler(*request.get("params", []))}
        except CodecError as error:
            return {**head, "error": _error(-32602, error)}
        except GusuError as error:
            return {**head, "error": _error(-32000, error)}

    def _rpc_status(self) -> JSON:
        latest = self.blocks[-1]
        return {
            "chain_id": CHAIN_ID,
            "suite": self.suite.name,
            "height": self.height,
            "latest_block_hash": bytes_to_hex(latest.block_hash),
            "latest_block_time_ms": latest.header.timestamp_ms,
            "node_address": bytes_to_hex(self.address),
            "consensus": "solo",
            "mempool": {"transactions": len(self.pending), "bytes": 0},
            "version": "0.1.0-fake",
            "transaction_window_blocks": WINDOW_BLOCKS,
            "versions": self.versions,
        }

    def _rpc_peers(self) -> JSON:
        return {"peers": list(self.peers)}

    def _rpc_evidence(self, limit: int = 20, before_height: int | None = None) -> JSON:
        """Pages through `evidence` (JSON records) by height, newest first; `evidence_answer` overrides."""
        if self.evidence_answer is not None:
            return self.evidence_answer
        older = [item for item in self.evidence if before_height is None or item["height"] < before_height]
        older.sort(key=lambda item: int(item["height"]), reverse=True)
        page = older[:limit]
        following = page[-1]["height"] if len(older) > limit else None
        return {"evidence": page, "next_before_height": following}

    def _rpc_getEvents(  # noqa: N802 - named after the JSON-RPC method
        self, contract: str, from_height: int | None = None, to_height: int | None = None, name: str | None = None
    ) -> JSON:
        """As the node: `contract`'s events of successful transactions, oldest first, up to the tip."""
        if self.events_answer is not None:
            return self.events_answer
        last = self.height if to_height is None else to_height
        first = max(0, last - self.events_range_max + 1) if from_height is None else from_height
        if last - first + 1 > self.events_range_max:
            raise RequestTooLargeError(f"blocks {first} to {last}: split the range")
        searched_to = min(last, self.height)
        events: list[JSON] = []
        for block in self.blocks[first : searched_to + 1]:
            for index, receipt in enumerate(block.receipts):
                for event_index, event in enumerate(receipt.events if receipt.is_success else ()):
                    if event.contract == contract and name in (None, event.name):
                        events.append(
                            {
                                "height": block.header.height,
                                "block_hash": bytes_to_hex(block.block_hash),
                                "transaction_id": bytes_to_hex(receipt.transaction_id),
                                "index": index,
                                "event_index": event_index,
                                "contract": event.contract,
                                "name": event.name,
                                "data": value_to_json(decode(event.data)),
                            }
                        )
        return {"contract": contract, "name": name, "from_height": first, "to_height": searched_to, "events": events}

    def _rpc_blockNumber(self) -> JSON:  # noqa: N802 - named after the JSON-RPC method
        return self.height

    def _rpc_sendRawTransaction(self, raw_hex: JSON) -> JSON:  # noqa: N802
        return {"id": bytes_to_hex(self._submit(raw_hex))}

    def _rpc_sendRawTransactions(self, raws: list[JSON]) -> JSON:  # noqa: N802
        results: list[JSON] = []
        for raw_hex in raws:
            try:
                results.append({"id": bytes_to_hex(self._submit(raw_hex))})
            except GusuError as error:
                results.append({"error": {"code": error.code, "message": str(error), "retryable": error.retryable}})
        return results

    def _rpc_getTransaction(self, id_hex: JSON) -> JSON:  # noqa: N802
        transaction_id = Hash(hex_to_bytes(id_hex, 32))
        if transaction_id in self.locations:
            block, index = self._find_committed(transaction_id)
            tx, _, sender = block.entries[index]
            return {
                "id": bytes_to_hex(transaction_id),
                "status": "committed",
                "transaction": transaction_to_json(tx, transaction_id, sender),
                "height": block.header.height,
                "index": index,
            }
        for status, table in (("pending", self.pending), ("dropped", self.dropped)):
            if transaction_id in table:
                tx, sender = table[transaction_id]
                answer: dict[str, JSON] = {
                    "id": bytes_to_hex(transaction_id),
                    "status": status,
                    "transaction": transaction_to_json(tx, transaction_id, sender),
                }
                if status == "dropped":
                    answer["reason"] = "expired: valid_until_height passed"
                return answer
        raise NotFoundError(f"transaction {bytes_to_hex(transaction_id)} is unknown")

    def _rpc_getTransactionsBySender(  # noqa: N802
        self, address_hex: JSON, limit: int | None = None, before: dict[str, int] | None = None
    ) -> JSON:
        sender = Address(hex_to_bytes(address_hex, 20))
        limit = 50 if limit is None else limit
        cursor = None if before is None else (before["height"], before["index"])
        history = [
            (block.header.height, index, tx, transaction_id)
            for block in reversed(self.blocks)
            for index, (tx, transaction_id, tx_sender) in reversed(list(enumerate(block.entries)))
            if tx_sender == sender and (cursor is None or (block.header.height, index) < cursor)
        ]
        page = history[:limit]
        return {
            "transactions": [
                {
                    "id": bytes_to_hex(transaction_id),
                    "status": "committed",
                    "transaction": transaction_to_json(tx, transaction_id, sender),
                    "height": height,
                    "index": index,
                }
                for height, index, tx, transaction_id in page
            ],
            "next": {"height": page[-1][0], "index": page[-1][1]} if len(history) > limit else None,
        }

    def _rpc_getReceipt(self, id_hex: JSON) -> JSON:  # noqa: N802
        block, index = self._find_committed(Hash(hex_to_bytes(id_hex, 32)))
        return receipt_to_json(block.receipts[index], (block.header.height, index, block.block_hash))

    def _rpc_getTransactionProof(self, id_hex: JSON) -> JSON:  # noqa: N802
        block, index = self._find_committed(Hash(hex_to_bytes(id_hex, 32)))
        ids = [transaction_id for _, transaction_id, _ in block.entries]
        proof = compute_inclusion_proof(self.suite.hash, ids, index)
        return inclusion_proof_to_json(block.header, block.block_hash, proof, "transactions_root")

    def _rpc_getReceiptProof(self, id_hex: JSON) -> JSON:  # noqa: N802
        block, index = self._find_committed(Hash(hex_to_bytes(id_hex, 32)))
        leaves = [self._receipt_leaf(receipt) for receipt in block.receipts]
        proof = compute_inclusion_proof(self.suite.hash, leaves, index)
        return inclusion_proof_to_json(block.header, block.block_hash, proof, "receipts_root")

    def _rpc_getBlockByHeight(self, height: int, full: bool = False) -> JSON:  # noqa: N802
        if not 0 <= height < len(self.blocks):
            raise NotFoundError(f"no block at height {height}")
        return self._block_json(self.blocks[height], full)

    def _rpc_getBlockByHash(self, hash_hex: JSON, full: bool = False) -> JSON:  # noqa: N802
        wanted = hex_to_bytes(hash_hex, 32)
        for block in self.blocks:
            if block.block_hash == wanted:
                return self._block_json(block, full)
        raise NotFoundError("no block has this hash")

    def _block_json(self, block: FakeBlock, full: bool) -> JSON:
        if full:
            return block_to_json(block.header, block.block_hash, block.entries, block.certificate)
        ids = [transaction_id for _, transaction_id, _ in block.entries]
        return block_to_json(block.header, block.block_hash, ids, block.certificate)

    def _rpc_call(self, request: dict[str, JSON]) -> JSON:
        args = value_from_json(request["args"])
        if (request["contract"], request["method"]) == ("account", "balance"):
            assert isinstance(args, list)
            sender = request.get("sender")
            owner = args[0] if args else hex_to_bytes(sender)
            assert isinstance(owner, bytes)
            return {"return_value": value_to_json(1000 + len(owner)), "gas_used": 50, "events": []}
        if (request["contract"], request["method"]) == ("echo", "echo"):
            return {"return_value": value_to_json(args), "gas_used": 50, "events": []}
        raise UnknownMethodError(f"{request['contract']}.{request['method']} does not exist")

    # --- WebSocket ---

    async def _handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        subscriber = FakeSubscriber(socket)
        self.subscribers.append(subscriber)
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                document = orjson.loads(message.data)
                head = {"jsonrpc": "2.0", "id": document.get("id")}
                if document["method"] == "gusu_subscribe":
                    params = document["params"]
                    if params[0] not in ("newBlocks", "events"):
                        error = {"code": -32602, "message": "unknown subscription", "data": {"code": "params_invalid"}}
                        await socket.send_str(orjson.dumps({**head, "error": error}).decode())
                        continue
                    subscription_id = "0x" + secrets.token_hex(8)
                    subscriber.subscriptions[subscription_id] = (params[0], params[1] if len(params) > 1 else {})
                    await socket.send_str(orjson.dumps({**head, "result": subscription_id}).decode())
                elif document["method"] == "gusu_unsubscribe":
                    found = subscriber.subscriptions.pop(document["params"][0], None) is not None
                    self.unsubscribed.append(document["params"][0])
                    await socket.send_str(orjson.dumps({**head, "result": found}).decode())
        finally:
            self.subscribers.remove(subscriber)
        return socket

    async def _notify(self, block: FakeBlock) -> None:
        for subscriber in list(self.subscribers):
            if self.close_subscribers_with is not None:
                await subscriber.socket.close(code=self.close_subscribers_with, message=b"cannot keep up")
                continue
            for subscription_id, (kind, event_filter) in list(subscriber.subscriptions.items()):
                for result in self._results(block, kind, event_filter):
                    notification = {
                        "jsonrpc": "2.0",
                        "method": "gusu_subscription",
                        "params": {"subscription": subscription_id, "result": result},
                    }
                    await subscriber.socket.send_str(orjson.dumps(notification).decode())

    def _results(self, block: FakeBlock, kind: str, event_filter: dict[str, Any]) -> list[JSON]:
        if kind == "newBlocks":
            return [
                {
                    "height": block.header.height,
                    "hash": bytes_to_hex(block.block_hash),
                    "timestamp_ms": block.header.timestamp_ms,
                    "transaction_count": block.header.transaction_count,
                    "transactions": [bytes_to_hex(transaction_id) for _, transaction_id, _ in block.entries],
                }
            ]
        results: list[JSON] = []
        for index, receipt in enumerate(block.receipts):
            for event_index, event in enumerate(receipt.events):
                if event_filter.get("contract", event.contract) != event.contract:
                    continue
                if event_filter.get("name", event.name) != event.name:
                    continue
                results.append(
                    {
                        "height": block.header.height,
                        "transaction_id": bytes_to_hex(receipt.transaction_id),
                        "index": index,
                        "event_index": event_index,
                        "contract": event.contract,
                        "name": event.name,
                        "data": value_to_json(decode(event.data)),
                    }
                )
        return results


def _error(number: int, error: GusuError) -> dict[str, Any]:
    return {"code": number, "message": str(error), "data": {"code": error.code, "retryable": error.retryable}}
