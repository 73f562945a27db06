"""What a running node offers the layers above it (API server, CLI, tools).

`NodeService` is the seam between the node and its interfaces: the API
server is written against this protocol, not against the node's insides,
so it can be tested with a fake and so the node can change underneath.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from gusu.crypto import CryptoSuite
from gusu.errors import GusuError
from gusu.execution import CallResult
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.ledger.types import (
    Address,
    BlockHeader,
    CommitCertificate,
    Event,
    Hash,
    Height,
    Receipt,
    Round,
    Transaction,
)
from gusu.network.transport import PeerInfo
from gusu.node.versions import compute_consensus_versions

if TYPE_CHECKING:  # py-evm loads only on chains that run the evm contract
    from gusu.execution.evm.ethreceipt import EthReceiptFields

TransactionStatus = Literal["pending", "committed", "dropped"]
EvidenceKind = Literal["proposal", "prevote", "precommit"]
EVIDENCE_KINDS: tuple[EvidenceKind, ...] = ("proposal", "prevote", "precommit")


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """One transaction's admission result: an id (acknowledged) or an error."""

    transaction_id: Hash | None
    error: GusuError | None


@dataclass(frozen=True, slots=True)
class NodeStatus:
    chain_id: str
    suite: str
    height: Height
    latest_block_hash: Hash
    latest_block_time_ms: int
    node_address: Address
    consensus: str
    mempool_transactions: int
    mempool_bytes: int
    version: str
    transaction_window_blocks: int
    versions: dict[str, str] = field(default_factory=compute_consensus_versions)
    """Name to version of what encodes, hashes or executes blocks (see gusu.node.versions)."""


@dataclass(frozen=True, slots=True)
class EvidenceRecord:
    """Proof that a validator signed two different messages for one (height, round, kind).

    `first` and `second` are the two signed messages' canonical encodings,
    so anyone can check both signatures against the validator's key.
    """

    height: Height
    round: Round
    kind: EvidenceKind
    validator: Address
    first: bytes
    second: bytes
    recorded_at_height: Height
    """The node's committed height when it recorded the evidence."""


@dataclass(frozen=True, slots=True)
class BlockRecord:
    header: BlockHeader
    block_hash: Hash
    transaction_ids: tuple[Hash, ...]
    certificate: CommitCertificate | None


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    status: TransactionStatus
    transaction_id: Hash
    transaction: Transaction | EthTransaction | None
    """None only for a dropped transaction whose body is no longer held; an `EthTransaction` for an
    Ethereum transaction (its id is its keccak hash)."""
    sender: Address | None
    height: Height | None = None
    index: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    receipt: Receipt
    height: Height
    index: int
    block_hash: Hash


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event a committed transaction emitted, and where: `gusu_getEvents` answers a list of them."""

    height: Height
    block_hash: Hash
    transaction_id: Hash
    index: int
    """The transaction's position in its block."""
    event_index: int
    """The event's position among its transaction's events (as ``events`` subscriptions number them)."""
    event: Event


@dataclass(frozen=True, slots=True)
class EventScan:
    """What `NodeService.get_events` found, and whether it stopped before the end of the range."""

    events: tuple[EventRecord, ...]
    is_cut_short: bool
    """True if it stopped at its event limit or its receipt limit with blocks of the range left unread."""


@dataclass(frozen=True, slots=True)
class EthTransactionRecord:
    """An Ethereum transaction found by its keccak hash (`Node.get_eth_transaction`)."""

    status: Literal["pending", "committed"]
    transaction: EthTransaction
    """Decoded from its raw bytes (`transaction.raw`), its sender recovered."""
    receipt: ReceiptRecord | None
    """Where it committed and its Gusu receipt; None while pending. Read Ethereum's receipt fields from
    it with `Node.get_eth_receipt`."""


@dataclass(frozen=True, slots=True)
class EthReceiptRecord:
    """A committed Ethereum transaction's receipt (`Node.get_eth_receipt`): Ethereum's transaction-level
    receipt fields and where it committed. What depends on the rest of the block (cumulativeGasUsed,
    each log's logIndex) is the caller's to compute over the block."""

    fields: EthReceiptFields
    """`gusu.execution.evm.ethreceipt.compute_eth_receipt_fields` of the stored receipt: status, gasUsed
    (Ethereum's), effectiveGasPrice, contractAddress, logs, bloom, revert data."""
    receipt: ReceiptRecord
    """The Gusu receipt, its height, index in the block and block hash."""


@dataclass(frozen=True, slots=True)
class ProofRecord:
    """An inclusion proof for a transaction id or a receipt leaf in one block."""

    height: Height
    index: int
    leaf_count: int
    path: tuple[bytes, ...]
    root: Hash
    header: BlockHeader
    block_hash: Hash


@dataclass(frozen=True, slots=True)
class BlockNotification:
    """Sent to subscribers once a block is durably committed."""

    header: BlockHeader
    block_hash: Hash
    transaction_ids: tuple[Hash, ...]
    receipts: tuple[Receipt, ...]


@dataclass(frozen=True, slots=True)
class Histogram:
    """A cumulative histogram in Prometheus' shape."""

    bucket_bounds: tuple[float, ...]
    bucket_counts: tuple[int, ...]
    """Cumulative counts, one per bound."""
    total: float
    count: int


@dataclass(frozen=True, slots=True)
class NodeMetrics:
    height: int
    blocks_committed_total: int
    transactions_committed_total: int
    transactions_failed_total: int
    transactions_rejected_total: int
    transactions_dropped_total: int
    mempool_transactions: int
    mempool_bytes: int
    block_commit_seconds: Histogram
    """Time to build, execute and durably write one block."""
    transaction_commit_seconds: Histogram
    """From admission to the pool to durable commit."""
    extra: dict[str, float] = field(default_factory=dict)
    certificate_expiry_seconds: tuple[tuple[str, str, float], ...] = ()
    """(kind, subject, seconds until the certificate expires; negative once expired) of every certificate
    the node depends on: kind ``node`` (its TLS certificate), ``ca`` (a trusted organisation CA), ``peer``."""


BlockListener = Callable[[BlockNotification], None]


class NodeService(Protocol):
    @property
    def suite(self) -> CryptoSuite: ...

    @property
    def chain_id(self) -> str: ...

    async def submit_transactions(self, raws: Sequence[bytes]) -> list[SubmitOutcome]:
        """Decode, check, verify (in parallel) and admit; one outcome per input, in order."""
        ...

    def get_status(self) -> NodeStatus: ...

    def is_healthy(self) -> bool: ...

    def get_peers(self) -> list[PeerInfo]:
        """Connected peer validators (an empty list on a one-validator chain)."""
        ...

    def get_metrics(self) -> NodeMetrics: ...

    def get_block(self, height: Height) -> BlockRecord | None: ...

    def get_block_by_hash(self, block_hash: bytes) -> BlockRecord | None: ...

    def get_block_transactions(self, height: Height) -> list[TransactionRecord] | None: ...

    def get_raw_block(self, height: Height) -> tuple[bytes, bytes | None] | None:
        """(encode_block bytes, encoded certificate or None)."""
        ...

    def get_transaction(self, transaction_id: bytes) -> TransactionRecord | None: ...

    def get_sender_transactions(
        self, sender: Address, limit: int, before: tuple[Height, int] | None = None
    ) -> list[TransactionRecord]:
        """Committed transactions signed by `sender`, newest first, at most `limit`.

        With `before` = (height, index), only those strictly older than that
        position, so a caller pages by passing the position of the last
        record it got. Every record is committed (height and index set);
        pending transactions of the sender are not included.
        """
        ...

    def get_receipt(self, transaction_id: bytes) -> ReceiptRecord | None: ...

    def get_events(
        self, contract: str, name: str | None, from_height: Height, to_height: Height, limit: int, receipts_max: int
    ) -> EventScan:
        """Events `contract` emitted (only those called `name`, unless None) in committed blocks `from_height`
        to `to_height`, oldest first; the caller bounds the range.

        Stops (`is_cut_short`) once it has `limit` events, or before reading more than `receipts_max`
        receipts, so one request's work is bounded whatever the blocks hold. Blocks above the tip are not
        searched; events of failed transactions are not listed (they were rolled back). NotFoundError if a
        block of the range is committed but its transactions are not kept here.
        """
        ...

    def is_contract_known(self, contract: str) -> bool:
        """True if `contract` runs on this chain now: a built-in contract, or one deployed by transaction."""
        ...

    def get_evidence(self, limit: int, before_height: Height | None) -> list[EvidenceRecord]:
        """Persisted equivocation evidence, newest (highest `height`) first, at most `limit` records.

        With `before_height`, only records whose height is strictly below it.
        """
        ...

    def get_transaction_proof(self, transaction_id: bytes) -> ProofRecord | None: ...

    def get_receipt_proof(self, transaction_id: bytes) -> ProofRecord | None: ...

    def get_state_proof(self, contract: str, key: bytes, height: Height | None = None) -> CertifiedStateProof:
        """A contract key's value at `height` (None: the tip) with its state proof; NotFoundError past the
        tip or for a pruned height."""
        ...

    def call(self, contract: str, method: str, args: bytes, sender: Address | None) -> CallResult:
        """Run a view method against the latest state; raises an ExecutionError on failure."""
        ...

    def add_block_listener(self, listener: BlockListener) -> Callable[[], None]:
        """Call `listener` after each commit (on the event loop); returns the remover."""
        ...
