"""An in-memory `NodeService` for testing the API server without a node.

It keeps a real little chain: submitted transactions are decoded (so bad
bytes get the node's codec errors), ids and senders are computed with the
suite, and `commit_block` cuts a block with true Merkle roots, receipts
and proofs, so the tests can check what the API serves against genuine
data. Tests steer it through plain attributes:

* `refusals`: errors for the next submitted transactions, one each;
* `submit_gate`: an event `submit_transactions` waits for (slow node);
* `fail_with`: an exception every read method raises (a broken node);
* `healthy`: what `is_healthy` answers;
* `peers`: what `get_peers` answers (none by default, as on a one-validator chain);
* `evidence`: the equivocation evidence `get_evidence` pages through.

`sender_queries` records what the API asked `get_sender_transactions`.

Contracts it "calls": ``account.balance(address)`` returns 100 with one
``Queried`` event; ``account.revert`` raises ContractRevertError;
``account.burn`` raises OutOfGasError; ``account.garbage`` returns bytes
that are not a canonical encoding; any other contract is unknown.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from gusu.codec import Value, decode, encode
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import (
    ContractRevertError,
    DuplicateTransactionError,
    GusuError,
    InvalidSignatureError,
    OutOfGasError,
    UnknownContractError,
    UnknownMethodError,
)
from gusu.execution import CallResult
from gusu.ledger.merkle import compute_inclusion_proof, compute_root
from gusu.ledger.store import compute_receipt_leaf
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    Block,
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
    encode_block,
    encode_commit_certificate,
    encode_transaction,
    encode_transaction_payload,
)
from gusu.network.transport import PeerInfo
from gusu.node.service import (
    BlockListener,
    BlockNotification,
    BlockRecord,
    EventRecord,
    EventScan,
    EvidenceRecord,
    Histogram,
    NodeMetrics,
    NodeStatus,
    ProofRecord,
    ReceiptRecord,
    SubmitOutcome,
    TransactionRecord,
)

CHAIN_ID = "gusu-test"
SUITE = "sm"


@dataclass
class _StoredBlock:
    record: BlockRecord
    transactions: list[Transaction]
    receipts: list[Receipt]
    raw: bytes
    raw_certificate: bytes | None


@dataclass
class FakeNode:
    suite_name: str = SUITE
    refusals: deque[GusuError] = field(default_factory=deque)
    submit_gate: asyncio.Event | None = None
    fail_with: Exception | None = None
    healthy: bool = True
    peers: list[PeerInfo] = field(default_factory=list)
    submitted: list[bytes] = field(default_factory=list)
    listeners: list[BlockListener] = field(default_factory=list)
    extra_metrics: dict[str, float] = field(default_factory=dict)
    sender_queries: list[tuple[Address, int, tuple[Height, int] | None]] = field(default_factory=list)
    """Every get_sender_transactions call: (sender, limit, before)."""
    submits_waiting: int = 0
    """submit_transactions calls waiting for `submit_gate` now; `submits_waiting_peak`: the most at once."""
    submits_waiting_peak: int = 0
    evidence: list[EvidenceRecord] = field(default_factory=list)
    """What get_evidence serves, in any order (it sorts newest height first)."""
    evidence_queries: list[tuple[int, Height | None]] = field(default_factory=list)
    """Every get_evidence call: (limit, before_height)."""
    event_queries: list[tuple[str, str | None, Height, Height, int, int]] = field(default_factory=list)
    """Every get_events call: (contract, name, from_height, to_height, limit, receipts_max)."""
    events_by_nonce: dict[int, tuple[Event, ...]] = field(default_factory=dict)
    """The events `commit_block` gives the receipt of a transaction with this nonce (default: one Transfer)."""

    def __post_init__(self) -> None:
        self._suite = get_suite(self.suite_name)
        self._validator = self._suite.generate_private_key()
        self._blocks: list[_StoredBlock] = []
        self._transactions: dict[bytes, TransactionRecord] = {}
        self._receipts: dict[bytes, ReceiptRecord] = {}
        self._pending: list[tuple[Hash, Transaction]] = []
        self.rejected_total = 0
        self.commit_block()  # genesis, height 0

    # --- NodeService ----------------------------------------------------------------

    @property
    def suite(self) -> CryptoSuite:
        return self._suite

    @property
    def chain_id(self) -> str:
        return CHAIN_ID

    async def submit_transactions(self, raws: Sequence[bytes]) -> list[SubmitOutcome]:
        if self.submit_gate is not None:
            self.submits_waiting += 1
            self.submits_waiting_peak = max(self.submits_waiting_peak, self.submits_waiting)
            try:
                await self.submit_gate.wait()
            finally:
                self.submits_waiting -= 1
        outcomes: list[SubmitOutcome] = []
        for raw in raws:
            self.submitted.append(raw)
            try:
                outcomes.append(SubmitOutcome(self._admit(raw), None))
            except GusuError as error:
                self.rejected_total += 1
                outcomes.append(SubmitOutcome(None, error))
        return outcomes

    def _admit(self, raw: bytes) -> Hash:
        if self.refusals:
            raise self.refusals.popleft()
        tx = decode_transaction(raw)
        transaction_id = compute_transaction_id(self._suite, tx)
        if transaction_id in self._transactions:
            raise DuplicateTransactionError("this transaction was already submitted; do not send it twice")
        if not self._suite.verify(tx.sender_public_key, transaction_id, tx.signature):
            raise InvalidSignatureError("the signature does not verify for this transaction's sender key")
        self._pending.append((transaction_id, tx))
        self._transactions[transaction_id] = TransactionRecord(
            status="pending", transaction_id=transaction_id, transaction=tx, sender=self._sender(tx)
        )
        return transaction_id

    def get_evidence(self, limit: int, before_height: Height | None) -> list[EvidenceRecord]:
        self._maybe_fail()
        self.evidence_queries.append((limit, before_height))
        older = [record for record in self.evidence if before_height is None or record.height < before_height]
        older.sort(key=lambda record: record.height, reverse=True)
        return older[:limit]

    def get_status(self) -> NodeStatus:
        self._maybe_fail()
        tip = self._blocks[-1].record
        return NodeStatus(
            chain_id=CHAIN_ID,
            suite=self.suite_name,
            height=tip.header.height,
            latest_block_hash=tip.block_hash,
            latest_block_time_ms=tip.header.timestamp_ms,
            node_address=Address(self._suite.compute_address(self._validator.public_key)),
            consensus="solo",
            mempool_transactions=len(self._pending),
            mempool_bytes=sum(len(encode_transaction_payload(tx)) for _, tx in self._pending),
            version="0.1.0",
            transaction_window_blocks=1000,
        )

    def is_healthy(self) -> bool:
        return self.healthy

    def get_peers(self) -> list[PeerInfo]:
        self._maybe_fail()
        return list(self.peers)

    def get_metrics(self) -> NodeMetrics:
        self._maybe_fail()
        committed = sum(len(block.transactions) for block in self._blocks)
        return NodeMetrics(
            height=self.height,
            blocks_committed_total=len(self._blocks),
            transactions_committed_total=committed,
            transactions_failed_total=0,
            transactions_rejected_total=self.rejected_total,
            transactions_dropped_total=0,
            mempool_transactions=len(self._pending),
            mempool_bytes=0,
            block_commit_seconds=Histogram((0.005, 0.01, 0.1, 1.0), (1, 2, 3, 3), 0.0125, 3),
            transaction_commit_seconds=Histogram((0.1, 0.5, float("inf")), (0, 4, 5), 2.75, 5),
            extra=dict(self.extra_metrics),
        )

    def get_block(self, height: Height) -> BlockRecord | None:
        self._maybe_fail()
        return self._blocks[height].record if 0 <= height < len(self._blocks) else None

    def get_block_by_hash(self, block_hash: bytes) -> BlockRecord | None:
        self._maybe_fail()
        for block in self._blocks:
            if block.record.block_hash == block_hash:
                return block.record
        return None

    def get_block_transactions(self, height: Height) -> list[TransactionRecord] | None:
        self._maybe_fail()
        if not 0 <= height < len(self._blocks):
            return None
        return [self._transactions[item] for item in self._blocks[height].record.transaction_ids]

    def get_raw_block(self, height: Height) -> tuple[bytes, bytes | None] | None:
        self._maybe_fail()
        if not 0 <= height < len(self._blocks):
            return None
        return self._blocks[height].raw, self._blocks[height].raw_certificate

    def get_transaction(self, transaction_id: bytes) -> TransactionRecord | None:
        self._maybe_fail()
        return self._transactions.get(transaction_id)

    def get_receipt(self, transaction_id: bytes) -> ReceiptRecord | None:
        self._maybe_fail()
        return self._receipts.get(transaction_id)

    def get_sender_transactions(
        self, sender: Address, limit: int, before: tuple[Height, int] | None = None
    ) -> list[TransactionRecord]:
        self._maybe_fail()
        self.sender_queries.append((sender, limit, before))
        committed = [
            record for record in self._transactions.values() if record.status == "committed" and record.sender == sender
        ]
        committed.sort(key=_position, reverse=True)
        if before is not None:
            committed = [record for record in committed if _position(record) < before]
        return committed[: max(limit, 0)]

    def get_events(
        self, contract: str, name: str | None, from_height: Height, to_height: Height, limit: int, receipts_max: int
    ) -> EventScan:
        self._maybe_fail()
        self.event_queries.append((contract, name, from_height, to_height, limit, receipts_max))
        found: list[EventRecord] = []
        receipts_read = 0
        for block in self._blocks[from_height : min(to_height, self.height) + 1]:
            if receipts_read + len(block.receipts) > receipts_max:
                return EventScan(tuple(found), is_cut_short=True)
            receipts_read += len(block.receipts)
            for index, receipt in enumerate(block.receipts):
                if not receipt.is_success:
                    continue
                for event_index, event in enumerate(receipt.events):
                    if event.contract == contract and name in (None, event.name):
                        record = block.record
                        found.append(
                            EventRecord(
                                record.header.height,
                                record.block_hash,
                                receipt.transaction_id,
                                index,
                                event_index,
                                event,
                            )
                        )
                        if len(found) >= limit:
                            return EventScan(tuple(found), is_cut_short=True)
        return EventScan(tuple(found), is_cut_short=False)

    def is_contract_known(self, contract: str) -> bool:
        self._maybe_fail()
        return contract == "account"

    def get_transaction_proof(self, transaction_id: bytes) -> ProofRecord | None:
        return self._proof(transaction_id, receipts=False)

    def get_receipt_proof(self, transaction_id: bytes) -> ProofRecord | None:
        return self._proof(transaction_id, receipts=True)

    def call(self, contract: str, method: str, args: bytes, sender: Address | None) -> CallResult:
        self._maybe_fail()
        if contract != "account":
            raise UnknownContractError(f"no contract named {contract!r}")
        if method == "balance":
            return CallResult(
                return_value=encode(100),
                gas_used=21,
                events=(Event("account", "Queried", encode([decode(args), sender or b""])),),
            )
        if method == "revert":
            raise ContractRevertError("insufficient balance: top up the account first")
        if method == "burn":
            raise OutOfGasError("the call used more than its gas budget")
        if method == "garbage":
            return CallResult(return_value=b"\xc1", gas_used=1, events=())
        raise UnknownMethodError(f"account has no method {method!r}")

    def add_block_listener(self, listener: BlockListener) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    # --- test helpers -------------------------------------------------------------------

    @property
    def height(self) -> int:
        return len(self._blocks) - 1

    def new_key(self) -> PrivateKey:
        return self._suite.generate_private_key()

    def make_transaction(
        self, key: PrivateKey | None = None, nonce: int = 1, method: str = "transfer", args: list[Value] | None = None
    ) -> tuple[bytes, Hash]:
        """A signed, encoded transaction and its id."""
        key = key or self.new_key()
        unsigned = Transaction(
            chain_id=CHAIN_ID,
            nonce=nonce,
            valid_until_height=Height(1000),
            sender_public_key=key.public_key,
            contract="account",
            method=method,
            args=encode(args if args is not None else [b"\x01" * 20, 5]),
            signature=b"",
        )
        transaction_id = compute_transaction_id(self._suite, unsigned)
        signature = self._suite.sign(key, transaction_id)
        return encode_transaction(replace(unsigned, signature=signature)), transaction_id

    def commit_block(self, fail_indices: Sequence[int] = ()) -> BlockNotification:
        """Commit every pending transaction into a new block and tell the listeners."""
        pending, self._pending = self._pending, []
        height = Height(len(self._blocks))
        ids = [transaction_id for transaction_id, _ in pending]
        receipts = [
            Receipt(
                transaction_id=transaction_id,
                status=ReceiptStatus.FAILED if index in fail_indices else ReceiptStatus.SUCCESS,
                return_value=encode(True),
                events=self.events_by_nonce.get(
                    tx.nonce, (Event("account", "Transfer", encode([self._sender(tx), tx.nonce])),)
                ),
                gas_used=2100,
                error_code="reverted" if index in fail_indices else "",
                error_message="refused" if index in fail_indices else "",
            )
            for index, (transaction_id, tx) in enumerate(pending)
        ]
        header = BlockHeader(
            chain_id=CHAIN_ID,
            height=height,
            parent_hash=self._blocks[-1].record.block_hash if self._blocks else ZERO_HASH,
            timestamp_ms=1_700_000_000_000 + height * 1000,
            proposer=Address(self._suite.compute_address(self._validator.public_key)),
            transactions_root=Hash(compute_root(self._suite.hash, ids)),
            receipts_root=Hash(
                compute_root(self._suite.hash, [compute_receipt_leaf(self._suite, item) for item in receipts])
            ),
            state_root=Hash(self._suite.hash(b"state %d" % height)),
            validators_hash=Hash(self._suite.hash(b"validators")),
            next_validators_hash=Hash(self._suite.hash(b"validators")),
            transaction_count=len(pending),
        )
        block_hash = compute_block_hash(self._suite, header)
        certificate = (
            None
            if height == 0
            else CommitCertificate(
                height=height,
                round=Round(0),
                block_hash=block_hash,
                signatures=(
                    CommitSignature(
                        validator=Address(self._suite.compute_address(self._validator.public_key)),
                        timestamp_ms=header.timestamp_ms,
                        signature=self._suite.sign(self._validator, block_hash),
                    ),
                ),
            )
        )
        record = BlockRecord(header=header, block_hash=block_hash, transaction_ids=tuple(ids), certificate=certificate)
        self._blocks.append(
            _StoredBlock(
                record=record,
                transactions=[tx for _, tx in pending],
                receipts=receipts,
                raw=encode_block(Block(header, tuple(tx for _, tx in pending))),
                raw_certificate=None if certificate is None else encode_commit_certificate(certificate),
            )
        )
        for index, ((transaction_id, tx), receipt) in enumerate(zip(pending, receipts, strict=True)):
            self._transactions[transaction_id] = TransactionRecord(
                status="committed",
                transaction_id=transaction_id,
                transaction=tx,
                sender=self._sender(tx),
                height=height,
                index=index,
            )
            self._receipts[transaction_id] = ReceiptRecord(receipt, height, index, block_hash)
        notification = BlockNotification(header, block_hash, tuple(ids), tuple(receipts))
        for listener in list(self.listeners):
            listener(notification)
        return notification

    def drop(self, transaction_id: Hash, reason: str, keep_body: bool) -> None:
        """Mark a pending transaction dropped (the real pool does so when it expires)."""
        self._pending = [item for item in self._pending if item[0] != transaction_id]
        previous = self._transactions[transaction_id]
        self._transactions[transaction_id] = TransactionRecord(
            status="dropped",
            transaction_id=transaction_id,
            transaction=previous.transaction if keep_body else None,
            sender=previous.sender,
            reason=reason,
        )

    def block_receipts(self, height: int) -> list[Receipt]:
        return list(self._blocks[height].receipts)

    # --- internals --------------------------------------------------------------------------

    def _sender(self, tx: Transaction) -> Address:
        return Address(self._suite.compute_address(tx.sender_public_key))

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _proof(self, transaction_id: bytes, receipts: bool) -> ProofRecord | None:
        self._maybe_fail()
        found = self._receipts.get(transaction_id)
        if found is None:
            return None
        block = self._blocks[found.height]
        if receipts:
            leaves = [compute_receipt_leaf(self._suite, item) for item in block.receipts]
            root = block.record.header.receipts_root
        else:
            leaves = list(block.record.transaction_ids)
            root = block.record.header.transactions_root
        proof = compute_inclusion_proof(self._suite.hash, leaves, found.index)
        return ProofRecord(
            height=found.height,
            index=found.index,
            leaf_count=proof.leaf_count,
            path=proof.path,
            root=root,
            header=block.record.header,
            block_hash=block.record.block_hash,
        )


def _position(record: TransactionRecord) -> tuple[Height, int]:
    assert record.height is not None and record.index is not None
    return record.height, record.index
