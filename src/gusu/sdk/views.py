"""Typed results of the node API, and their parsing from JSON.

Each class is what one client method returns; each ``parse_*`` function
reads the JSON result of the matching JSON-RPC method (docs/api.md) and
raises CodecError when the node's answer does not have the documented shape.
The records inside (transactions, receipts, headers) are read with
`gusu.ledger.jsonview`, the same mapping the node writes with, so they
re-encode to the bytes the chain hashed and can be checked against proofs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from gusu.codec import Value
from gusu.errors import CodecError, RemoteError
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.genesis import VALIDATORS_MAX
from gusu.ledger.jsonview import (
    JSON,
    any_transaction_from_json,
    block_from_json,
    bytes_to_hex,
    expect_object,
    get_bool,
    get_field,
    get_hex,
    get_list,
    get_str,
    get_uint,
    hex_to_bytes,
    inclusion_proof_from_json,
    receipt_from_json,
    value_from_json,
)
from gusu.ledger.merkle import InclusionProof
from gusu.ledger.types import (
    ADDRESS_SIZE,
    BLOCK_TRANSACTIONS_MAX,
    CHAIN_ID_LENGTH_MAX,
    ERROR_MESSAGE_LENGTH_MAX,
    EVENTS_PER_RECEIPT_MAX,
    HASH_SIZE,
    NAME_LENGTH_MAX,
    Address,
    BlockHeader,
    CommitCertificate,
    Hash,
    Height,
    Receipt,
    Transaction,
)

TransactionStatus = Literal["pending", "committed", "dropped"]
TRANSACTION_STATUSES: tuple[TransactionStatus, ...] = ("pending", "committed", "dropped")
TEXT_LENGTH_MAX = 1024
"""Longest free-text field (version, consensus name, reasons) accepted from a node."""
VERSIONS_COUNT_MAX = 64
"""Most entries accepted in a status's `versions`."""
EvidenceKind = Literal["proposal", "prevote", "precommit"]
EVIDENCE_KINDS: tuple[EvidenceKind, ...] = ("proposal", "prevote", "precommit")
EVIDENCE_PAGE_MAX = 1000
"""Most records accepted in one evidence page, whatever limit was asked."""
SIGNED_MESSAGE_BYTES_MAX = 1024 * 1024
"""Largest signed consensus message accepted in an evidence record."""


@dataclass(frozen=True, slots=True)
class NodeStatus:
    chain_id: str
    suite: str
    """The chain's crypto suite, "sm" or "ecdsa": sign with a key of this suite."""
    height: Height
    latest_block_hash: Hash
    latest_block_time_ms: int
    node_address: Address
    consensus: str
    mempool_transactions: int
    mempool_bytes: int
    version: str
    transaction_window_blocks: int
    """How far past the current height a transaction's `valid_until_height` may lie."""
    versions: Mapping[str, str] = field(default_factory=dict)
    """Versions of what encodes, hashes or executes blocks (python, openssl, msgpack, ...); empty from older nodes."""


@dataclass(frozen=True, slots=True)
class EvidenceView:
    """A validator signed two different messages for one (height, round, kind)."""

    height: Height
    round: int
    kind: EvidenceKind
    validator: Address
    first: bytes
    """Canonical encoding of the first signed message."""
    second: bytes
    """Canonical encoding of the second, conflicting signed message."""
    recorded_at_height: Height


@dataclass(frozen=True, slots=True)
class EvidencePage:
    """One page of recorded equivocation evidence, newest height first.

    Pass `next_before_height` as `before_height` for the next, older page;
    it is None at the end.
    """

    evidence: tuple[EvidenceView, ...]
    next_before_height: Height | None


@dataclass(frozen=True, slots=True)
class PeerView:
    """A validator the node is connected to now, and the traffic of that connection."""

    address: Address
    """The peer's consensus (validator) address, bound in its TLS certificate."""
    organization: str
    endpoint: str
    """Remote host:port of the connection in use."""
    outbound: bool
    """True if the node that answered dialed the connection (False: the peer dialed it)."""
    connected_for_s: float
    rtt_ms: float | None
    """Round trip of the last answered ping; None until one is answered."""
    queued_messages: int
    queued_bytes: int
    messages_in: int
    messages_out: int
    bytes_in: int
    bytes_out: int
    gossip_dropped: int
    """Transaction gossip dropped because the peer's send queue was full."""


@dataclass(frozen=True, slots=True)
class TransactionView:
    """A transaction as one node knows it.

    `transaction` and `sender` are None only for a dropped transaction whose
    body the node no longer holds. `transaction` is an `EthTransaction` for an
    Ethereum transaction (``"kind": "ethereum"`` in the node's JSON; its id is
    the keccak hash and its sender is recovered from the raw bytes). `height` and `index` are set once
    committed; `reason` says why a dropped transaction was dropped.
    """

    transaction_id: Hash
    status: TransactionStatus
    transaction: Transaction | EthTransaction | None
    sender: Address | None
    height: Height | None
    index: int | None
    reason: str

    @property
    def is_committed(self) -> bool:
        return self.status == "committed"

    @property
    def is_dropped(self) -> bool:
        return self.status == "dropped"


@dataclass(frozen=True, slots=True)
class SenderTransactionsPage:
    """One page of the committed transactions an account sent, newest first.

    Pass `next` as `before` to fetch the next, older page; it is None once
    the history is exhausted. Pending transactions are never listed.
    """

    transactions: tuple[TransactionView, ...]
    next: tuple[Height, int] | None
    """(height, index) of the last transaction here when older ones exist, else None."""


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """A receipt with where its transaction committed."""

    receipt: Receipt
    height: Height
    index: int
    block_hash: Hash


@dataclass(frozen=True, slots=True)
class BlockView:
    """A block's header, hash, transaction ids and commit certificate.

    `transactions` holds the full transactions (in the order of
    `transaction_ids`) only when they were asked for; otherwise it is empty.
    """

    block_hash: Hash
    header: BlockHeader
    transaction_ids: tuple[Hash, ...]
    transactions: tuple[TransactionView, ...]
    certificate: CommitCertificate | None

    @property
    def height(self) -> Height:
        return self.header.height


@dataclass(frozen=True, slots=True)
class TransactionProof:
    """Evidence that a transaction id is leaf `proof.leaf_index` of a block's transactions root.

    `header` and `block_hash` are the node's word until checked: verify
    with `verify_block_hash` against a block hash you trust, then with
    `verify_transaction_proof`.
    """

    transaction_id: Hash
    height: Height
    block_hash: Hash
    header: BlockHeader
    proof: InclusionProof


@dataclass(frozen=True, slots=True)
class ReceiptProof:
    """Evidence that a receipt is leaf `proof.leaf_index` of a block's receipts root."""

    transaction_id: Hash
    height: Height
    block_hash: Hash
    header: BlockHeader
    proof: InclusionProof


@dataclass(frozen=True, slots=True)
class BlockNotification:
    """A ``newBlocks`` subscription message: a block has committed."""

    height: Height
    block_hash: Hash
    timestamp_ms: int
    transaction_count: int
    transaction_ids: tuple[Hash, ...]


@dataclass(frozen=True, slots=True)
class EventNotification:
    """An ``events`` subscription message: a committed transaction emitted an event."""

    height: Height
    transaction_id: Hash
    index: int
    """The transaction's position in its block."""
    contract: str
    name: str
    data: Value
    event_index: int | None = None
    """The event's position among its transaction's events, when the node reports it."""


@dataclass(frozen=True, slots=True)
class ContractEventView:
    """An event a committed transaction emitted (one item of ``gusu_getEvents``)."""

    height: Height
    block_hash: Hash
    transaction_id: Hash
    index: int
    """The transaction's position in its block."""
    event_index: int
    """The event's position among its transaction's events."""
    contract: str
    name: str
    data: Value
    """The event's value as the receipt holds it (the hex of its bytes if it is not a canonical encoding)."""


@dataclass(frozen=True, slots=True)
class ContractEventsView:
    """A contract's events in the blocks `from_height` to `to_height` (the blocks searched), oldest first.

    `to_height` is the node's tip when the range asked reached beyond it, and below `from_height` when the
    whole range was above the tip (nothing was searched).
    """

    contract: str
    name: str | None
    from_height: Height
    to_height: Height
    events: tuple[ContractEventView, ...]


# --- parsers ----------------------------------------------------------------------


def parse_status(data: JSON) -> NodeStatus:
    fields = expect_object(data, "status")
    mempool = expect_object(get_field(fields, "mempool", "status"), "status mempool")
    return NodeStatus(
        chain_id=get_str(fields, "chain_id", "status", CHAIN_ID_LENGTH_MAX),
        suite=get_str(fields, "suite", "status", NAME_LENGTH_MAX),
        height=Height(get_uint(fields, "height", "status")),
        latest_block_hash=Hash(get_hex(fields, "latest_block_hash", "status", size=HASH_SIZE)),
        latest_block_time_ms=get_uint(fields, "latest_block_time_ms", "status"),
        node_address=Address(get_hex(fields, "node_address", "status", size=ADDRESS_SIZE)),
        consensus=get_str(fields, "consensus", "status", TEXT_LENGTH_MAX),
        mempool_transactions=get_uint(mempool, "transactions", "status mempool"),
        mempool_bytes=get_uint(mempool, "bytes", "status mempool"),
        version=get_str(fields, "version", "status", TEXT_LENGTH_MAX),
        transaction_window_blocks=get_uint(fields, "transaction_window_blocks", "status"),
        versions=_parse_versions(fields.get("versions", {})),
    )


def _parse_versions(data: JSON) -> dict[str, str]:
    fields = expect_object(data, "status versions")
    if len(fields) > VERSIONS_COUNT_MAX:
        raise CodecError(f"status versions has {len(fields)} entries; at most {VERSIONS_COUNT_MAX} are accepted")
    versions: dict[str, str] = {}
    for name in fields:
        if len(name) > TEXT_LENGTH_MAX:
            raise CodecError(f"status versions names an entry of {len(name)} characters")
        versions[name] = get_str(fields, name, "status versions", TEXT_LENGTH_MAX)
    return versions


def parse_evidence_page(data: JSON, limit: int, before_height: Height | None) -> EvidencePage:
    """A ``gusu_evidence`` result for the page asked for.

    Beyond the shape: at most `limit` records, heights newest first and
    below `before_height`, and a `next_before_height` below the cursor of
    this request (so a client paging "until it is None" always ends).
    """
    fields = expect_object(data, "evidence page")
    items = get_list(fields, "evidence", "evidence page", min(limit, EVIDENCE_PAGE_MAX))
    views: list[EvidenceView] = []
    for item in items:
        view = parse_evidence(item)
        if before_height is not None and view.height >= before_height:
            raise CodecError(f"evidence at height {view.height} is not below the cursor {before_height}")
        if views and view.height > views[-1].height:
            raise CodecError("an evidence page must list heights newest first")
        views.append(view)
    following = get_field(fields, "next_before_height", "evidence page")
    cursor: Height | None = None
    if following is not None:
        cursor = Height(get_uint(fields, "next_before_height", "evidence page"))
        if not views or (before_height is not None and cursor >= before_height) or cursor > views[-1].height + 1:
            raise CodecError("an evidence page's next_before_height must move back past its records")
    return EvidencePage(evidence=tuple(views), next_before_height=cursor)


def parse_evidence(data: JSON) -> EvidenceView:
    fields = expect_object(data, "evidence")
    kind = get_str(fields, "kind", "evidence", NAME_LENGTH_MAX)
    for known in EVIDENCE_KINDS:
        if kind == known:
            break
    else:
        raise CodecError(f"evidence kind must be one of {', '.join(EVIDENCE_KINDS)}, found {kind!r}")
    return EvidenceView(
        height=Height(get_uint(fields, "height", "evidence")),
        round=get_uint(fields, "round", "evidence"),
        kind=known,
        validator=Address(get_hex(fields, "validator", "evidence", size=ADDRESS_SIZE)),
        first=get_hex(fields, "first", "evidence", size_max=SIGNED_MESSAGE_BYTES_MAX),
        second=get_hex(fields, "second", "evidence", size_max=SIGNED_MESSAGE_BYTES_MAX),
        recorded_at_height=Height(get_uint(fields, "recorded_at_height", "evidence")),
    )


def parse_peers(data: JSON) -> list[PeerView]:
    """A ``gusu_peers`` result: the connected validators, each once, in the order the node listed them."""
    fields = expect_object(data, "peers")
    items = get_list(fields, "peers", "peers", VALIDATORS_MAX)
    peers = [parse_peer(item) for item in items]
    addresses = {peer.address for peer in peers}
    if len(addresses) != len(peers):
        # One connection per pair of nodes: a repeated address would make counts of peers wrong.
        raise CodecError("the peers list names a validator more than once")
    return peers


def parse_peer(data: JSON) -> PeerView:
    fields = expect_object(data, "peer")
    rtt = get_field(fields, "rtt_ms", "peer")
    return PeerView(
        address=Address(get_hex(fields, "address", "peer", size=ADDRESS_SIZE)),
        organization=get_str(fields, "organization", "peer", TEXT_LENGTH_MAX),
        endpoint=get_str(fields, "endpoint", "peer", TEXT_LENGTH_MAX),
        outbound=get_bool(fields, "outbound", "peer"),
        connected_for_s=_get_duration(fields, "connected_for_s", "peer"),
        rtt_ms=None if rtt is None else _get_duration(fields, "rtt_ms", "peer"),
        queued_messages=get_uint(fields, "queued_messages", "peer"),
        queued_bytes=get_uint(fields, "queued_bytes", "peer"),
        messages_in=get_uint(fields, "messages_in", "peer"),
        messages_out=get_uint(fields, "messages_out", "peer"),
        bytes_in=get_uint(fields, "bytes_in", "peer"),
        bytes_out=get_uint(fields, "bytes_out", "peer"),
        gossip_dropped=get_uint(fields, "gossip_dropped", "peer"),
    )


def _get_duration(fields: Mapping[str, JSON], key: str, what: str) -> float:
    """A non-negative, finite JSON number (integer or not) as a float."""
    value = get_field(fields, key, what)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CodecError(f"{what} {key} must be a number, found {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise CodecError(f"{what} {key} must be a non-negative number, found {value!r}")
    return number


def parse_height(data: JSON) -> Height:
    if not isinstance(data, int) or isinstance(data, bool) or data < 0:
        raise CodecError(f"a block number must be a non-negative integer, found {data!r}")
    return Height(data)


def parse_transaction_id(data: JSON) -> Hash:
    """The ``{"id": "0x.."}`` acknowledgement of a submitted transaction."""
    fields = expect_object(data, "submission result")
    return Hash(get_hex(fields, "id", "submission result", size=HASH_SIZE))


def parse_submission_results(data: JSON, expected_count: int) -> list[Hash | RemoteError]:
    """One entry per submitted transaction: its id, or the node's reason for refusing it."""
    if not isinstance(data, list):
        raise CodecError("gusu_sendRawTransactions must answer with a JSON array")
    if len(data) != expected_count:
        raise CodecError(f"sent {expected_count} transactions but the node answered for {len(data)}")
    results: list[Hash | RemoteError] = []
    for item in data:
        fields = expect_object(item, "submission result")
        if "error" in fields:
            results.append(parse_error_object(fields["error"]))
        else:
            results.append(parse_transaction_id(item))
    return results


def parse_error_object(data: JSON) -> RemoteError:
    """A per-item ``{"code", "message", "retryable"}`` error (batch submissions, REST)."""
    fields = expect_object(data, "error")
    return RemoteError(
        get_str(fields, "code", "error", NAME_LENGTH_MAX),
        get_str(fields, "message", "error", ERROR_MESSAGE_LENGTH_MAX),
        get_bool(fields, "retryable", "error") if "retryable" in fields else False,
    )


def parse_transaction(data: JSON, transaction_id: Hash) -> TransactionView:
    """A ``gusu_getTransaction`` result for the transaction asked for as `transaction_id`."""
    fields = expect_object(data, "transaction record")
    status = _as_status(get_str(fields, "status", "transaction record", NAME_LENGTH_MAX))
    transaction: Transaction | EthTransaction | None = None
    sender: Address | None = None
    body = fields.get("transaction")
    if body is not None:
        transaction, stated_id, sender = any_transaction_from_json(body)
        if stated_id != transaction_id:
            raise CodecError(f"asked for transaction {bytes_to_hex(transaction_id)} but got {bytes_to_hex(stated_id)}")
    elif status != "dropped":
        raise CodecError(f"a {status} transaction record must include the transaction")
    height: Height | None = None
    index: int | None = None
    if status == "committed":
        height = Height(get_uint(fields, "height", "transaction record"))
        index = get_uint(fields, "index", "transaction record", maximum=BLOCK_TRANSACTIONS_MAX)
    reason = fields.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise CodecError("transaction record reason must be a string")
    return TransactionView(
        transaction_id=transaction_id,
        status=status,
        transaction=transaction,
        sender=sender,
        height=height,
        index=index,
        reason=(reason or "")[:TEXT_LENGTH_MAX],
    )


def parse_sender_transactions(
    data: JSON, sender: Address, limit: int, before: tuple[Height, int] | None
) -> SenderTransactionsPage:
    """A ``gusu_getTransactionsBySender`` result for the page asked for.

    Beyond the shape, the page must keep the method's promises: at most
    `limit` committed transactions of `sender`, strictly newest first and
    older than `before`, and a `next` cursor that moves back in the chain.
    The last one matters most: a cursor that did not move would make a
    client that pages "until next is None" loop forever.
    """
    fields = expect_object(data, "sender transactions")
    items = get_list(fields, "transactions", "sender transactions", limit)
    views: list[TransactionView] = []
    bound = before
    for item in items:
        record = expect_object(item, "sender transaction")
        transaction_id = Hash(get_hex(record, "id", "sender transaction", size=HASH_SIZE))
        view = parse_transaction(item, transaction_id)
        if not view.is_committed or view.height is None or view.index is None:
            raise CodecError(f"transaction {bytes_to_hex(transaction_id)} in a sender's history is {view.status}")
        if view.sender != sender:
            raise CodecError(f"transaction {bytes_to_hex(transaction_id)} was not sent by {bytes_to_hex(sender)}")
        position = (view.height, view.index)
        if bound is not None and position >= bound:
            raise CodecError("a sender's history must list transactions strictly newest first, before the cursor")
        bound = position
        views.append(view)
    following = get_field(fields, "next", "sender transactions")
    cursor: tuple[Height, int] | None = None
    if following is not None:
        next_fields = expect_object(following, "sender transactions next")
        cursor = (
            Height(get_uint(next_fields, "height", "sender transactions next")),
            get_uint(next_fields, "index", "sender transactions next", maximum=BLOCK_TRANSACTIONS_MAX),
        )
        if not views or (bound is not None and cursor > bound):
            raise CodecError("a sender history's next cursor must not lie after the page's last transaction")
    return SenderTransactionsPage(transactions=tuple(views), next=cursor)


def _as_status(status: str) -> TransactionStatus:
    for known in TRANSACTION_STATUSES:
        if status == known:
            return known
    raise CodecError(f"transaction status must be one of {', '.join(TRANSACTION_STATUSES)}, found {status!r}")


def parse_receipt(data: JSON) -> ReceiptView:
    receipt, location = receipt_from_json(data)
    if location is None:
        raise CodecError("a committed receipt must carry its height, index and block_hash")
    height, index, block_hash = location
    return ReceiptView(receipt=receipt, height=height, index=index, block_hash=block_hash)


def parse_block(data: JSON) -> BlockView:
    header, block_hash, ids, entries, certificate = block_from_json(data)
    if len(ids) != header.transaction_count:
        raise CodecError(f"block lists {len(ids)} transactions but its header counts {header.transaction_count}")
    transactions = tuple(
        TransactionView(
            transaction_id=transaction_id,
            status="committed",
            transaction=transaction,
            sender=sender,
            height=header.height,
            index=index,
            reason="",
        )
        for index, (transaction, transaction_id, sender) in enumerate(entries)
    )
    return BlockView(
        block_hash=block_hash,
        header=header,
        transaction_ids=ids,
        transactions=transactions,
        certificate=certificate,
    )


def parse_transaction_proof(data: JSON, transaction_id: Hash) -> TransactionProof:
    header, block_hash, proof = inclusion_proof_from_json(data, "transactions_root")
    return TransactionProof(
        transaction_id=transaction_id, height=header.height, block_hash=block_hash, header=header, proof=proof
    )


def parse_receipt_proof(data: JSON, transaction_id: Hash) -> ReceiptProof:
    header, block_hash, proof = inclusion_proof_from_json(data, "receipts_root")
    return ReceiptProof(
        transaction_id=transaction_id, height=header.height, block_hash=block_hash, header=header, proof=proof
    )


def parse_call_value(data: JSON) -> Value:
    """The return value of a ``gusu_call`` result (its gas and events are not kept)."""
    fields = expect_object(data, "call result")
    return value_from_json(get_field(fields, "return_value", "call result"))


def parse_block_notification(data: JSON) -> BlockNotification:
    fields = expect_object(data, "block notification")
    ids = get_list(fields, "transactions", "block notification", BLOCK_TRANSACTIONS_MAX)
    return BlockNotification(
        height=Height(get_uint(fields, "height", "block notification")),
        block_hash=Hash(get_hex(fields, "hash", "block notification", size=HASH_SIZE)),
        timestamp_ms=get_uint(fields, "timestamp_ms", "block notification"),
        transaction_count=get_uint(fields, "transaction_count", "block notification", maximum=BLOCK_TRANSACTIONS_MAX),
        transaction_ids=tuple(Hash(hex_to_bytes(item, HASH_SIZE, what="notified transaction id")) for item in ids),
    )


def parse_event_notification(data: JSON) -> EventNotification:
    fields = expect_object(data, "event notification")
    return EventNotification(
        height=Height(get_uint(fields, "height", "event notification")),
        transaction_id=Hash(get_hex(fields, "transaction_id", "event notification", size=HASH_SIZE)),
        index=get_uint(fields, "index", "event notification", maximum=BLOCK_TRANSACTIONS_MAX),
        contract=get_str(fields, "contract", "event notification", NAME_LENGTH_MAX),
        name=get_str(fields, "name", "event notification", NAME_LENGTH_MAX),
        data=value_from_json(get_field(fields, "data", "event notification")),
        event_index=get_uint(fields, "event_index", "event notification", maximum=EVENTS_PER_RECEIPT_MAX)
        if "event_index" in fields
        else None,
    )


CONTRACT_EVENTS_MAX = 10_000
"""Most events accepted in one ``gusu_getEvents`` answer: the node's default ``[api] events_results_max``."""


def parse_contract_events(data: JSON, contract: str, name: str | None) -> ContractEventsView:
    """A ``gusu_getEvents`` result for `contract` (and `name`): beyond the shape, every event is the contract's
    (and so named), inside the range searched, oldest first."""
    what = "contract events"
    fields = expect_object(data, what)
    from_height = Height(get_uint(fields, "from_height", what))
    to_height = Height(get_uint(fields, "to_height", what))
    events: list[ContractEventView] = []
    for item in get_list(fields, "events", what, CONTRACT_EVENTS_MAX):
        entry = expect_object(item, "contract event")
        event = ContractEventView(
            height=Height(get_uint(entry, "height", "contract event")),
            block_hash=Hash(get_hex(entry, "block_hash", "contract event", size=HASH_SIZE)),
            transaction_id=Hash(get_hex(entry, "transaction_id", "contract event", size=HASH_SIZE)),
            index=get_uint(entry, "index", "contract event", maximum=BLOCK_TRANSACTIONS_MAX),
            event_index=get_uint(entry, "event_index", "contract event", maximum=EVENTS_PER_RECEIPT_MAX),
            contract=get_str(entry, "contract", "contract event", NAME_LENGTH_MAX),
            name=get_str(entry, "name", "contract event", NAME_LENGTH_MAX),
            data=value_from_json(get_field(entry, "data", "contract event")),
        )
        if event.contract != contract or (name is not None and event.name != name):
            raise CodecError(f"the node listed an event of {event.contract}.{event.name} for {contract}")
        if not from_height <= event.height <= to_height:
            raise CodecError(f"the node listed an event of block {event.height}, outside the range it searched")
        position = (event.height, event.index, event.event_index)
        if events and position <= (events[-1].height, events[-1].index, events[-1].event_index):
            raise CodecError("the node must list events oldest first, each once")
        events.append(event)
    return ContractEventsView(contract, name, from_height, to_height, tuple(events))
