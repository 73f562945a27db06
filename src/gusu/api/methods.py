"""What the API can do, independent of transport.

`NodeApi` turns `NodeService` answers into the JSON documents that
docs/api.md specifies. JSON-RPC (HTTP and WebSocket) and REST are thin
shells around it, so each answer has one shape whichever way it is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gusu.api.errors import InternalApiError, UnsupportedError, rest_error_object
from gusu.api.params import CallRequest
from gusu.codec import decode
from gusu.errors import CodecError, NotFoundError
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.jsonview import (
    JSON,
    AnyTransactionEntry,
    JSONObject,
    ProofRoot,
    block_to_json,
    bytes_to_hex,
    inclusion_proof_to_json,
    receipt_to_json,
    state_proof_to_json,
    transaction_to_json,
    value_to_json,
)
from gusu.ledger.merkle import InclusionProof
from gusu.ledger.types import Address, Height, Transaction
from gusu.network.transport import PeerInfo
from gusu.node.service import (
    BlockRecord,
    EvidenceRecord,
    NodeService,
    ProofRecord,
    SubmitOutcome,
    TransactionRecord,
)

logger = logging.getLogger("gusu.api")


def encoded_value_to_json(data: bytes) -> JSON:
    """The JSON form of a canonical encoding, or the hex of the bytes if they are not one.

    Used where one undecodable payload (say, an event from a buggy contract)
    must not stop the delivery of everything around it.
    """
    try:
        return value_to_json(decode(data))
    except CodecError:
        return bytes_to_hex(data)


class NodeApi:
    """The API's operations on one node; every method returns JSON-ready data or raises a GusuError."""

    __slots__ = ("_node",)

    def __init__(self, node: NodeService) -> None:
        self._node = node

    @property
    def node(self) -> NodeService:
        return self._node

    # --- submission ------------------------------------------------------------

    async def submit(self, raws: Sequence[bytes]) -> list[SubmitOutcome]:
        if not raws:
            return []
        outcomes = await self._node.submit_transactions(raws)
        if len(outcomes) != len(raws):
            logger.error("node returned %d outcomes for %d transactions", len(outcomes), len(raws))
            raise InternalApiError("the node did not report on every transaction submitted")
        return outcomes

    async def submit_one(self, raw: bytes) -> JSONObject:
        (outcome,) = await self.submit([raw])
        if outcome.error is not None:
            raise outcome.error
        return {"id": _outcome_id(outcome)}

    async def submit_many(self, raws: Sequence[bytes]) -> list[JSON]:
        results: list[JSON] = []
        for outcome in await self.submit(raws):
            if outcome.error is not None:
                results.append({"error": rest_error_object(outcome.error)})
            else:
                results.append({"id": _outcome_id(outcome)})
        return results

    # --- node --------------------------------------------------------------------

    def status(self) -> JSONObject:
        status = self._node.get_status()
        return {
            "chain_id": status.chain_id,
            "suite": status.suite,
            "height": status.height,
            "latest_block_hash": bytes_to_hex(status.latest_block_hash),
            "latest_block_time_ms": status.latest_block_time_ms,
            "node_address": bytes_to_hex(status.node_address),
            "consensus": status.consensus,
            "mempool": {"transactions": status.mempool_transactions, "bytes": status.mempool_bytes},
            "version": status.version,
            "transaction_window_blocks": status.transaction_window_blocks,
            "versions": dict(sorted(status.versions.items())),
        }

    def height(self) -> int:
        return int(self._node.get_status().height)

    def peers(self) -> JSONObject:
        """The validators this node is connected to now, by address.

        Bounded without a limit of its own: the transport admits only the
        chain's validators, one connection each, and a genesis lists at most
        `VALIDATORS_MAX` of them.
        """
        peers = sorted(self._node.get_peers(), key=lambda peer: peer.address)
        return {"peers": [_peer_json(peer) for peer in peers]}

    def health(self) -> tuple[bool, JSONObject]:
        healthy = self._node.is_healthy()
        return healthy, {"ok": healthy, "height": self.height()}

    # --- blocks ----------------------------------------------------------------------

    def block_by_height(self, height: int, full: bool) -> JSONObject:
        record = self._node.get_block(Height(height))
        if record is None:
            raise NotFoundError(
                f"no block at height {height}; the latest is {self.height()} (gusu_blockNumber tells the tip)"
            )
        return self._block_json(record, full)

    def block_by_hash(self, block_hash: bytes, full: bool) -> JSONObject:
        record = self._node.get_block_by_hash(block_hash)
        if record is None:
            raise NotFoundError(f"no committed block has the hash {bytes_to_hex(block_hash)}")
        return self._block_json(record, full)

    def latest_block(self, full: bool) -> JSONObject:
        return self.block_by_height(self.height(), full)

    def raw_block(self, height: int) -> JSONObject:
        found = self._node.get_raw_block(Height(height))
        if found is None:
            raise NotFoundError(f"no block at height {height}; the latest is {self.height()}")
        block, certificate = found
        return {"block": bytes_to_hex(block), "certificate": None if certificate is None else bytes_to_hex(certificate)}

    def _block_json(self, record: BlockRecord, full: bool) -> JSONObject:
        if not full:
            return block_to_json(record.header, record.block_hash, record.transaction_ids, record.certificate)
        records = self._node.get_block_transactions(record.header.height)
        if records is None:
            raise NotFoundError(f"the transactions of block {record.header.height} are not available")
        entries = [self._entry(item) for item in records]
        return block_to_json(record.header, record.block_hash, entries, record.certificate)

    def _entry(self, record: TransactionRecord) -> AnyTransactionEntry:
        if record.transaction is None:
            logger.error("committed transaction %s has no body", bytes_to_hex(record.transaction_id))
            raise InternalApiError("the node lacks the body of a committed transaction")
        return record.transaction, record.transaction_id, self._sender(record)

    def _sender(self, record: TransactionRecord) -> Address:
        if record.sender is not None:
            return record.sender
        transaction = record.transaction
        if type(transaction) is EthTransaction:
            return transaction.sender
        assert type(transaction) is Transaction
        return Address(self._node.suite.compute_address(transaction.sender_public_key))

    # --- transactions, receipts, proofs --------------------------------------------

    def transaction(self, transaction_id: bytes) -> JSONObject:
        record = self._node.get_transaction(transaction_id)
        if record is None:
            raise NotFoundError(
                f"transaction {bytes_to_hex(transaction_id)} is unknown to this node: it was never "
                "submitted here, or it was rejected when it was"
            )
        return self._transaction_record_json(record)

    def transactions_by_sender(self, sender: Address, limit: int, before: tuple[Height, int] | None) -> JSONObject:
        """One page of `sender`'s committed transactions, newest first, and the cursor of the next page.

        One record more than the page is asked of the node, so that `next`
        is null exactly when no older transaction exists: a client never
        has to fetch an empty page to learn that the history has ended.
        """
        assert limit >= 1, "the transports check the page size"
        records = self._node.get_sender_transactions(sender, limit + 1, before)
        page = records[:limit]
        transactions: list[JSON] = []
        for record in page:
            if record.status != "committed" or record.height is None or record.index is None:
                logger.error("sender history holds %s, which is not committed", bytes_to_hex(record.transaction_id))
                raise InternalApiError("the node listed a transaction that is not committed in an account's history")
            transactions.append(self._transaction_record_json(record))
        following: JSON = None
        if len(records) > limit:
            last = page[-1]
            following = {"height": last.height, "index": last.index}
        return {"transactions": transactions, "next": following}

    def _transaction_record_json(self, record: TransactionRecord) -> JSONObject:
        result: JSONObject = {
            "id": bytes_to_hex(record.transaction_id),
            "status": record.status,
            "transaction": None
            if record.transaction is None
            else transaction_to_json(record.transaction, record.transaction_id, self._sender(record)),
        }
        if record.height is not None:
            result["height"] = record.height
        if record.index is not None:
            result["index"] = record.index
        if record.reason:
            result["reason"] = record.reason
        return result

    def receipt(self, transaction_id: bytes) -> JSONObject:
        record = self._node.get_receipt(transaction_id)
        if record is None:
            raise NotFoundError(
                f"no receipt for transaction {bytes_to_hex(transaction_id)} yet: it is pending, "
                "dropped or unknown (gusu_getTransaction tells which); ask again after it commits"
            )
        return receipt_to_json(record.receipt, (record.height, record.index, record.block_hash))

    def transaction_proof(self, transaction_id: bytes) -> JSONObject:
        record = self._node.get_transaction_proof(transaction_id)
        if record is None:
            raise NotFoundError(f"transaction {bytes_to_hex(transaction_id)} is not committed, so it has no proof")
        return _proof_json(record, "transactions_root")

    def receipt_proof(self, transaction_id: bytes) -> JSONObject:
        record = self._node.get_receipt_proof(transaction_id)
        if record is None:
            raise NotFoundError(
                f"transaction {bytes_to_hex(transaction_id)} is not committed, so its receipt has no proof"
            )
        return _proof_json(record, "receipts_root")

    def state_proof(self, contract: str, key: bytes, height: Height | None) -> JSONObject:
        """`contract`'s `key` at `height` (None: the tip) with its state proof (docs/state.md, "Proofs")."""
        return state_proof_to_json(self._node.get_state_proof(contract, key, height))

    # --- evidence ------------------------------------------------------------------

    def evidence(self, limit: int, before_height: Height | None) -> JSONObject:
        """One page of equivocation evidence, newest height first, and the cursor of the next page.

        Records at one height are never split across pages (a cursor is a
        height, so the rest of a split height would be skipped): a page that
        would end inside a height ends before it instead. Only when a single
        height holds more than `limit` records is that height cut short.
        """
        assert limit >= 1, "the transports check the page size"
        # Nodes from before persisted evidence lack the method (issue 7 adds it to Node).
        get_evidence = getattr(self._node, "get_evidence", None)
        if get_evidence is None:
            raise UnsupportedError("this node does not keep equivocation evidence; upgrade it to a release that does")
        records: list[EvidenceRecord] = get_evidence(limit + 1, before_height)
        page = records[:limit]
        following: JSON = None
        if len(records) > limit:
            last_height = page[-1].height
            whole = [record for record in page if record.height != last_height]
            if records[limit].height != last_height:
                following = int(last_height)
            elif whole:
                # Heights above last_height exist on this page, so last_height + 1 is below the
                # request's own cursor: the next page always moves on.
                page, following = whole, int(last_height) + 1
            else:
                # One height holds more than `limit` records: the rest of that height is skipped.
                following = int(last_height)
        return {"evidence": [_evidence_json(record) for record in page], "next_before_height": following}

    # --- calls ---------------------------------------------------------------------

    def call(self, request: CallRequest) -> JSONObject:
        result = self._node.call(request.contract, request.method, request.args, request.sender)
        return {
            "return_value": encoded_value_to_json(result.return_value),
            "gas_used": result.gas_used,
            "events": [_event_json(event.contract, event.name, event.data) for event in result.events],
        }


def _peer_json(peer: PeerInfo) -> JSONObject:
    return {
        "address": bytes_to_hex(peer.address),
        "organization": peer.organization,
        "endpoint": peer.endpoint,
        "outbound": peer.outbound,
        # Milliseconds' precision is all a reader of durations needs; fewer digits, smaller answers.
        "connected_for_s": round(max(peer.connected_for_s, 0.0), 3),
        "rtt_ms": None if peer.rtt_ms is None else round(max(peer.rtt_ms, 0.0), 3),
        "queued_messages": peer.queued_messages,
        "queued_bytes": peer.queued_bytes,
        "messages_in": peer.messages_in,
        "messages_out": peer.messages_out,
        "bytes_in": peer.bytes_in,
        "bytes_out": peer.bytes_out,
        "gossip_dropped": peer.gossip_dropped,
    }


def _evidence_json(record: EvidenceRecord) -> JSONObject:
    return {
        "height": record.height,
        "round": record.round,
        "kind": record.kind,
        "validator": bytes_to_hex(record.validator),
        "first": bytes_to_hex(record.first),
        "second": bytes_to_hex(record.second),
        "recorded_at_height": record.recorded_at_height,
    }


def _event_json(contract: str, name: str, data: bytes) -> JSONObject:
    return {"contract": contract, "name": name, "data": encoded_value_to_json(data)}


def _outcome_id(outcome: SubmitOutcome) -> str:
    if outcome.transaction_id is None:
        logger.error("node returned a submission outcome with neither id nor error")
        raise InternalApiError("the node reported neither an id nor an error for a transaction")
    return bytes_to_hex(outcome.transaction_id)


def _proof_json(record: ProofRecord, root: ProofRoot) -> JSONObject:
    proof = InclusionProof(leaf_index=record.index, leaf_count=record.leaf_count, path=record.path)
    return inclusion_proof_to_json(record.header, record.block_hash, proof, root)
