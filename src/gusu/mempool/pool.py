"""The transaction pool: a pure, deterministic core of admitted transactions.

Events in, answers out: no clock, no I/O, no threads, no randomness. Heights
come in as arguments, so a seeded simulator can drive the very code a node
runs.

Admission happens in two steps around the expensive signature check:

1. `validate_admission` runs the cheap checks (chain id, size, validity
   window, duplicate in the pool, room in the pool and for the sender)
   *before* the node spends a signature verification on the transaction;
2. `add` repeats every check, because blocks may have committed and other
   transactions may have been admitted while the signature was verified,
   and then admits the transaction.

Replay against *committed* transactions is the node's job, not the pool's:
the node looks the id up in its committed-transaction index before both
steps (in the same synchronous step as `add`, so no commit can slip in
between). The pool only rejects a second copy of a transaction that is
still pending.

Validity window. A transaction admitted while `next_height` is the height
of the next block to be decided must satisfy::

    next_height <= valid_until_height <= next_height + transaction_window_blocks - 1

so it can be included in at most `transaction_window_blocks` blocks. Below
the window it has expired; above it, it would live longer than the window
the committed-id index must cover. A pending transaction stays includable
at `height` while ``valid_until_height >= height``; the upper bound only
matters at admission, since it moves up as the chain grows.

No silent loss. Once `add` returns, the transaction leaves the pool only in
`on_block_committed`: either because its id is among the committed ones, or
because it can no longer be included, in which case it is returned as a
`DroppedTransaction` and remembered (in a bounded record) so that a client
can learn why through `get_dropped`. A full pool refuses new transactions
with a retryable error; it never evicts one it has acknowledged.

Fairness. `select` goes round-robin over senders, first-in first-out within
a sender, and the rotation carries on from one call to the next, so a
sender flooding the pool gets one slot per round like everybody else and
no sender waits more than one full rotation.

Determinism. Every collection that is iterated is an insertion-ordered dict,
never a set: iteration order of a set of bytes depends on the process's
hash seed, and the order of `select` and of dropped transactions must not.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from gusu.codec import ENCODED_BYTES_MAX
from gusu.errors import (
    ConfigError,
    DuplicateTransactionError,
    ExpiredTransactionError,
    MempoolFullError,
    NonceTooHighError,
    NonceTooLowError,
    ReplacementRefusedError,
    SenderQuotaError,
    TransactionError,
    TransactionTooLargeError,
    WrongChainError,
)
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.types import Address, Hash, Height, Transaction
from gusu.settings import validate_int_setting

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

TRANSACTIONS_MAX_LIMIT = 10_000_000
BYTES_MAX_LIMIT = 64 * GIB
WINDOW_BLOCKS_LIMIT = 1_000_000
DROPPED_RECORDS_MAX_LIMIT = 10_000_000
ETH_FUTURE_NONCES_LIMIT = 10_000


# --- records ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolTransaction:
    """An admitted transaction; the caller has verified its signature already."""

    transaction: Transaction | EthTransaction
    transaction_id: Hash
    """A Gusu transaction's id, or an Ethereum transaction's keccak hash."""
    sender: Address
    raw: bytes
    """Its canonical encoding (its block item, for an Ethereum transaction); its size is ``len(raw)``."""


@dataclass(frozen=True, slots=True)
class DroppedTransaction:
    """Why an acknowledged transaction left the pool without committing."""

    transaction_id: Hash
    reason: str


def _check_setting(name: str, value: int, low: int, high: int) -> None:
    validate_int_setting("mempool", name, value, low, high)


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    """Every bound of the pool; all are settings of the ``[mempool]`` section."""

    transactions_max: int = 200_000
    bytes_max: int = 256 * MIB
    sender_transactions_max: int = 10_000
    """Per sender, so one client cannot fill the whole pool."""
    transaction_bytes_max: int = 128 * KIB
    transaction_window_blocks: int = 1_000
    """How many blocks a transaction may stay includable (see the module docstring)."""
    dropped_records_max: int = 100_000
    """How many dropped transactions `get_dropped` remembers; the oldest go first."""
    eth_future_nonces_max: int = 64
    """How far above a sender's account nonce an Ethereum transaction's nonce may be and still be held."""

    def __post_init__(self) -> None:
        _check_setting("transactions_max", self.transactions_max, 1, TRANSACTIONS_MAX_LIMIT)
        _check_setting("bytes_max", self.bytes_max, 1, BYTES_MAX_LIMIT)
        # May exceed transactions_max: then the pool's own limit binds first.
        _check_setting("sender_transactions_max", self.sender_transactions_max, 1, TRANSACTIONS_MAX_LIMIT)
        # A transaction must fit the pool and the codec, or it could never be admitted.
        _check_setting("transaction_bytes_max", self.transaction_bytes_max, 1, min(self.bytes_max, ENCODED_BYTES_MAX))
        _check_setting("transaction_window_blocks", self.transaction_window_blocks, 1, WINDOW_BLOCKS_LIMIT)
        _check_setting("dropped_records_max", self.dropped_records_max, 1, DROPPED_RECORDS_MAX_LIMIT)
        _check_setting("eth_future_nonces_max", self.eth_future_nonces_max, 0, ETH_FUTURE_NONCES_LIMIT)


# --- the validity window -------------------------------------------------------------


def get_window(next_height: Height, window_blocks: int) -> tuple[Height, Height]:
    """The lowest and highest `valid_until_height` admissible while `next_height` is next."""
    return next_height, Height(next_height + window_blocks - 1)


def is_within_window(valid_until_height: Height, next_height: Height, window_blocks: int) -> bool:
    low, high = get_window(next_height, window_blocks)
    return low <= valid_until_height <= high


def validate_window(valid_until_height: Height, next_height: Height, window_blocks: int) -> None:
    """Raise ExpiredTransactionError unless the transaction is admissible at `next_height`."""
    low, high = get_window(next_height, window_blocks)
    if valid_until_height < low:
        raise ExpiredTransactionError(
            f"the transaction expired: its valid_until_height {valid_until_height} is below the next block "
            f"height {next_height}; sign a new transaction with valid_until_height between {low} and {high}"
        )
    if valid_until_height > high:
        raise ExpiredTransactionError(
            f"the transaction's valid_until_height {valid_until_height} is too far ahead: a transaction may stay "
            f"valid for at most {window_blocks} blocks; sign it with valid_until_height between {low} and {high}"
        )


# --- the pool ----------------------------------------------------------------------------


class _SenderQueue:
    """One sender's pending transactions: Gusu ones oldest first, Ethereum ones by nonce."""

    __slots__ = ("account_nonce", "entries", "eth_entries", "public_keys")

    def __init__(self) -> None:
        self.entries: dict[Hash, PoolTransaction] = {}
        self.eth_entries: dict[int, PoolTransaction] = {}
        """Ethereum transactions by nonce."""
        self.account_nonce = 0
        """The sender's EVM nonce as last handed in (`add_eth`, `on_block_committed`)."""
        # Every key encoding seen for this sender, so the map from keys to
        # senders can be cleaned when the queue empties.
        self.public_keys: dict[bytes, None] = {}


def _next_includable(entries: Iterator[PoolTransaction], height: Height) -> PoolTransaction | None:
    for entry in entries:
        transaction = entry.transaction
        if type(transaction) is EthTransaction or transaction.valid_until_height >= height:  # type: ignore[union-attr]
            return entry
    return None


def _iterate_selectable(queue: _SenderQueue) -> Iterator[PoolTransaction]:
    """A sender's candidates: its Ethereum transactions from its account nonce up to the first gap (a
    later nonce cannot run before the missing one), then its Gusu ones oldest first. Ethereum ones come
    first because a Gusu `evm.call` or `evm.deploy` moves the same nonce: after it, they could not run."""
    nonce = queue.account_nonce
    eth_entries = queue.eth_entries
    while (entry := eth_entries.get(nonce)) is not None:
        yield entry
        nonce += 1
    yield from queue.entries.values()


class Mempool:
    """Pending transactions of one chain, bounded by `MempoolLimits`."""

    def __init__(self, limits: MempoolLimits, chain_id: str) -> None:
        if not chain_id:
            raise ConfigError("the mempool needs the chain id of the chain it serves")
        self._limits = limits
        self._chain_id = chain_id
        self._entries: dict[Hash, PoolTransaction] = {}
        # By canonical encoding, so a node can recognise a transaction it already holds (gossiped
        # again, or inside a proposed block) without decoding or hashing it. The keys are the very
        # bytes objects the entries hold.
        self._ids_by_raw: dict[bytes, Hash] = {}
        self._byte_count = 0
        # Rotation order of senders: `select` starts with the first one and
        # moves the senders it served to the end.
        self._senders: OrderedDict[Address, _SenderQueue] = OrderedDict()
        # The sender's address is derived from its key by the crypto suite,
        # which the pool does not hold; remembering the mapping for senders
        # with pending transactions lets `validate_admission` apply the
        # sender quota before the signature is verified.
        self._key_senders: dict[bytes, Address] = {}
        # valid_until_height -> ids, and a heap of those heights, so a commit
        # finds what expired without scanning the pool. Buckets emptied by
        # commits stay until their height passes, which bounds the heap by
        # the window instead of by the number of admissions.
        self._expiry_buckets: dict[int, dict[Hash, None]] = {}
        self._expiry_heights: list[int] = []
        self._dropped: OrderedDict[Hash, DroppedTransaction] = OrderedDict()
        # An Ethereum transaction has no valid_until_height: the height its admission window ends.
        self._eth_expiry: dict[Hash, int] = {}

    # --- queries ------------------------------------------------------------------

    @property
    def limits(self) -> MempoolLimits:
        return self._limits

    @property
    def transaction_count(self) -> int:
        return len(self._entries)

    @property
    def byte_count(self) -> int:
        return self._byte_count

    @property
    def sender_count(self) -> int:
        return len(self._senders)

    def contains(self, transaction_id: Hash) -> bool:
        return transaction_id in self._entries

    def get(self, transaction_id: Hash) -> PoolTransaction | None:
        return self._entries.get(transaction_id)

    def get_by_raw(self, raw: bytes) -> PoolTransaction | None:
        """The pending transaction whose canonical encoding is `raw`, if any."""
        transaction_id = self._ids_by_raw.get(raw)
        return None if transaction_id is None else self._entries[transaction_id]

    def get_dropped(self, transaction_id: Hash) -> DroppedTransaction | None:
        """Why `transaction_id` left the pool uncommitted, if it did and is still remembered."""
        return self._dropped.get(transaction_id)

    def iterate_raw(self) -> Iterator[bytes]:
        """Every pending transaction's encoding, in admission order (for the node's journal)."""
        return (entry.raw for entry in self._entries.values())

    def get_sender_transaction_count(self, sender: Address) -> int:
        queue = self._senders.get(sender)
        return 0 if queue is None else len(queue.entries) + len(queue.eth_entries)

    def has_eth_transactions(self, sender: Address) -> bool:
        """Whether `sender` has pending Ethereum transactions (so a commit should tell its account nonce)."""
        queue = self._senders.get(sender)
        return queue is not None and bool(queue.eth_entries)

    def get_eth_pending_nonce(self, sender: Address, account_nonce: int) -> int:
        """The nonce after `sender`'s pending Ethereum transactions that follow `account_nonce` without a gap
        (eth_getTransactionCount with "pending")."""
        queue = self._senders.get(sender)
        nonce = account_nonce
        if queue is not None:
            while nonce in queue.eth_entries:
                nonce += 1
        return nonce

    # --- admission --------------------------------------------------------------------

    def validate_admission(self, tx: Transaction, raw_size: int, transaction_id: Hash, next_height: Height) -> None:
        """The cheap checks to run before verifying the signature.

        `next_height` is the height of the next block to be decided. Raises
        WrongChainError, TransactionTooLargeError, ExpiredTransactionError,
        DuplicateTransactionError, MempoolFullError or SenderQuotaError (the
        last two retryable), each with a message telling the client what to
        do. The sender quota is checked here only for a sender whose key the
        pool has already seen; `add` checks it for everyone.
        """
        self._validate(tx, raw_size, transaction_id, next_height, self._key_senders.get(tx.sender_public_key))

    def add(self, entry: PoolTransaction, next_height: Height) -> None:
        """Admit `entry`, whose signature the caller has verified.

        Repeats every check of `validate_admission`, since the chain and the
        pool may have moved on while the signature was being verified, and
        raises the same errors. Once this returns, the transaction either
        commits or is reported by `on_block_committed` and `get_dropped`.
        """
        tx = entry.transaction
        assert type(tx) is Transaction, "an Ethereum transaction is admitted with add_eth"
        self._validate(tx, len(entry.raw), entry.transaction_id, next_height, entry.sender)
        transaction_id = entry.transaction_id
        self._entries[transaction_id] = entry
        self._ids_by_raw.setdefault(entry.raw, transaction_id)
        self._byte_count += len(entry.raw)
        queue = self._senders.get(entry.sender)
        if queue is None:
            queue = _SenderQueue()
            self._senders[entry.sender] = queue
        queue.entries[transaction_id] = entry
        if tx.sender_public_key not in queue.public_keys:
            queue.public_keys[tx.sender_public_key] = None
            self._key_senders[tx.sender_public_key] = entry.sender
        self._add_expiry(int(tx.valid_until_height), transaction_id)

    def _validate(
        self, tx: Transaction, raw_size: int, transaction_id: Hash, next_height: Height, sender: Address | None
    ) -> None:
        limits = self._limits
        if tx.chain_id != self._chain_id:
            raise WrongChainError(
                f"the transaction is for chain {tx.chain_id!r} but this node serves chain {self._chain_id!r}; "
                f"sign it for {self._chain_id!r}"
            )
        if raw_size > limits.transaction_bytes_max:
            raise TransactionTooLargeError(
                f"the transaction is {raw_size} bytes; the pool accepts at most {limits.transaction_bytes_max} "
                "(mempool.transaction_bytes_max): split the work into smaller transactions"
            )
        validate_window(tx.valid_until_height, next_height, limits.transaction_window_blocks)
        # Before the capacity checks: a client resending a pending
        # transaction must learn that it is pending, not that the pool is full.
        if transaction_id in self._entries:
            raise DuplicateTransactionError(
                "this transaction is already pending in the pool; wait for its receipt instead of resending it"
            )
        if len(self._entries) >= limits.transactions_max:
            raise MempoolFullError(
                f"the transaction pool is full ({limits.transactions_max} transactions); "
                "retry the same transaction after some blocks commit"
            )
        if self._byte_count + raw_size > limits.bytes_max:
            raise MempoolFullError(
                f"the transaction pool is full ({self._byte_count} of {limits.bytes_max} bytes used); "
                "retry the same transaction after some blocks commit"
            )
        if sender is not None:
            queue = self._senders.get(sender)
            if queue is not None and len(queue.entries) + len(queue.eth_entries) >= limits.sender_transactions_max:
                raise SenderQuotaError(
                    f"this sender already has {limits.sender_transactions_max} pending transactions, its limit; "
                    "retry once some of them commit"
                )

    # --- Ethereum transactions -------------------------------------------------------------

    def validate_eth_admission(
        self, entry: PoolTransaction, next_height: Height, account_nonce: int, gas_price: int
    ) -> None:
        """The checks of `add_eth`, without admitting (see `add_eth`)."""
        self._validate_eth(entry, account_nonce, gas_price)

    def add_eth(
        self, entry: PoolTransaction, next_height: Height, account_nonce: int, gas_price: int
    ) -> DroppedTransaction | None:
        """Admit Ethereum transaction `entry` (decoded, its sender recovered by the caller).

        `account_nonce` is the sender's EVM nonce in the committed state and `gas_price` the chain's
        evm_gas_price; the caller checked the chain id and that the chain takes Ethereum transactions.
        Raises TransactionTooLargeError, DuplicateTransactionError, NonceTooLowError (a replay: the
        nonce is used), NonceTooHighError (more than `eth_future_nonces_max` ahead), ReplacementRefusedError,
        TransactionError (offers less than `gas_price`), MempoolFullError or SenderQuotaError. Returns
        the transaction it replaced (remembered by `get_dropped`), if any. Once this returns, the
        transaction commits, is replaced, or is reported by `on_block_committed` and `get_dropped`.
        """
        transaction = entry.transaction
        assert type(transaction) is EthTransaction and entry.sender == transaction.sender
        replaced = self._validate_eth(entry, account_nonce, gas_price)
        record: DroppedTransaction | None = None
        if replaced is not None:
            self._entries.pop(replaced.transaction_id)
            self._unlink(replaced)
            self._forget_expiry(replaced)
            record = DroppedTransaction(
                replaced.transaction_id,
                f"replaced by transaction 0x{entry.transaction_id.hex()} with the same sender and nonce "
                "and a higher fee",
            )
            self._remember_dropped(record)
        transaction_id = entry.transaction_id
        self._entries[transaction_id] = entry
        self._ids_by_raw.setdefault(entry.raw, transaction_id)
        self._byte_count += len(entry.raw)
        queue = self._senders.get(entry.sender)
        if queue is None:
            queue = _SenderQueue()
            self._senders[entry.sender] = queue
        queue.account_nonce = account_nonce
        queue.eth_entries[transaction.nonce] = entry
        expiry = int(next_height) + self._limits.transaction_window_blocks - 1
        self._eth_expiry[transaction_id] = expiry
        self._add_expiry(expiry, transaction_id)
        return record

    def _validate_eth(self, entry: PoolTransaction, account_nonce: int, gas_price: int) -> PoolTransaction | None:
        """Every admission check of `add_eth`; the pending transaction the entry would replace, if any."""
        transaction = entry.transaction
        assert type(transaction) is EthTransaction
        limits = self._limits
        size = len(entry.raw)
        if size > limits.transaction_bytes_max:
            raise TransactionTooLargeError(
                f"the transaction is {size} bytes; the pool accepts at most {limits.transaction_bytes_max} "
                "(mempool.transaction_bytes_max)"
            )
        if entry.transaction_id in self._entries:
            raise DuplicateTransactionError(
                "this transaction is already pending in the pool; wait for its receipt instead of resending it"
            )
        nonce = transaction.nonce
        if nonce < account_nonce:
            raise NonceTooLowError(
                f"nonce too low: the transaction's nonce is {nonce} but the sender's next nonce is {account_nonce} "
                "(that nonce is used: this is a replay or an old transaction); sign it with the next nonce"
            )
        if nonce > account_nonce + limits.eth_future_nonces_max:
            raise NonceTooHighError(
                f"nonce too high: the transaction's nonce is {nonce} but the sender's next nonce is {account_nonce}; "
                f"the pool holds at most {limits.eth_future_nonces_max} nonces ahead "
                "(mempool.eth_future_nonces_max): send the missing nonces first"
            )
        if transaction.max_fee_per_gas < gas_price:
            raise TransactionError(
                f"the transaction offers {transaction.max_fee_per_gas} per gas; this chain's gas price is "
                f"{gas_price} (eth_gasPrice): offer at least that"
            )
        queue = self._senders.get(entry.sender)
        pending = None if queue is None else queue.eth_entries.get(nonce)
        if pending is not None:
            offered = pending.transaction.max_fee_per_gas  # type: ignore[union-attr]
            if gas_price == 0:
                raise ReplacementRefusedError(
                    f"a transaction with nonce {nonce} from this sender is already pending "
                    f"(0x{pending.transaction_id.hex()}); on this chain every transaction pays the same price (0), "
                    "so it cannot be replaced: wait for it to commit, then use the next nonce"
                )
            if transaction.max_fee_per_gas <= offered:
                raise ReplacementRefusedError(
                    f"replacement transaction underpriced: a transaction with nonce {nonce} is pending "
                    f"(0x{pending.transaction_id.hex()}) offering {offered} per gas; a replacement must offer more"
                )
            return pending  # a replacement takes its place: no room or quota needed beyond it
        if len(self._entries) >= limits.transactions_max:
            raise MempoolFullError(
                f"the transaction pool is full ({limits.transactions_max} transactions); "
                "retry the same transaction after some blocks commit"
            )
        if self._byte_count + size > limits.bytes_max:
            raise MempoolFullError(
                f"the transaction pool is full ({self._byte_count} of {limits.bytes_max} bytes used); "
                "retry the same transaction after some blocks commit"
            )
        if queue is not None and len(queue.entries) + len(queue.eth_entries) >= limits.sender_transactions_max:
            raise SenderQuotaError(
                f"this sender already has {limits.sender_transactions_max} pending transactions, its limit; "
                "retry once some of them commit"
            )
        return None

    def _add_expiry(self, expiry: int, transaction_id: Hash) -> None:
        bucket = self._expiry_buckets.get(expiry)
        if bucket is None:
            bucket = {}
            self._expiry_buckets[expiry] = bucket
            heapq.heappush(self._expiry_heights, expiry)
        bucket[transaction_id] = None

    def _get_expiry(self, entry: PoolTransaction) -> int:
        transaction = entry.transaction
        if type(transaction) is EthTransaction:
            return self._eth_expiry[entry.transaction_id]
        return int(transaction.valid_until_height)  # type: ignore[union-attr]

    def _forget_expiry(self, entry: PoolTransaction) -> None:
        bucket = self._expiry_buckets.get(self._get_expiry(entry))
        if bucket is not None:
            bucket.pop(entry.transaction_id, None)
        self._eth_expiry.pop(entry.transaction_id, None)

    # --- proposal ------------------------------------------------------------------------

    def select(self, transactions_max: int, bytes_max: int, height: Height) -> list[PoolTransaction]:
        """Up to `transactions_max` transactions totalling at most `bytes_max` for block `height`.

        Does not remove anything. Round-robin over senders (one transaction
        per sender per round), oldest first within a sender; a sender whose
        next transaction does not fit the remaining bytes sits out the rest
        of this call rather than jump its own queue. Entries expired for
        `height` are skipped. The rotation continues on the next call after
        the last sender served, so no sender starves however small blocks are.
        """
        selected, last_served = self._select(transactions_max, bytes_max, height)
        if last_served is not None:
            self._rotate_past(last_served)
        return selected

    def peek(self, transactions_max: int, bytes_max: int, height: Height) -> list[PoolTransaction]:
        """What `select` would return now, without moving the rotation on: a look ahead (a proposer executing
        its next block early, `gusu.node.early`) must not change which senders the next block serves first."""
        selected, _ = self._select(transactions_max, bytes_max, height)
        return selected

    def _select(
        self, transactions_max: int, bytes_max: int, height: Height
    ) -> tuple[list[PoolTransaction], Address | None]:
        selected: list[PoolTransaction] = []
        if transactions_max <= 0 or bytes_max <= 0 or not self._entries:
            return selected, None
        bytes_left = bytes_max
        last_served: Address | None = None
        is_full = False
        # Round one walks the rotation lazily, so a small block does not
        # visit every sender of a large pool.
        active: list[tuple[Address, Iterator[PoolTransaction]]] = []
        for address, queue in self._senders.items():
            entries = _iterate_selectable(queue) if queue.eth_entries else iter(queue.entries.values())
            entry = _next_includable(entries, height)
            if entry is None:
                continue
            size = len(entry.raw)
            if size > bytes_left:
                continue
            selected.append(entry)
            bytes_left -= size
            last_served = address
            active.append((address, entries))
            if len(selected) >= transactions_max or bytes_left <= 0:
                is_full = True
                break
        while active and not is_full:
            current, active = active, []
            for address, entries in current:
                entry = _next_includable(entries, height)
                if entry is None:
                    continue
                size = len(entry.raw)
                if size > bytes_left:
                    continue
                selected.append(entry)
                bytes_left -= size
                last_served = address
                active.append((address, entries))
                if len(selected) >= transactions_max or bytes_left <= 0:
                    is_full = True
                    break
        return selected, last_served

    def _rotate_past(self, address: Address) -> None:
        """Move every sender up to and including `address` to the end of the rotation."""
        senders = self._senders
        while True:
            moved, queue = senders.popitem(last=False)
            senders[moved] = queue
            if moved == address:
                return

    # --- commit ------------------------------------------------------------------------

    def on_block_committed(
        self,
        height: Height,
        committed_ids: Collection[Hash],
        eth_account_nonces: Mapping[Address, int] | None = None,
    ) -> list[DroppedTransaction]:
        """Forget the committed transactions and drop those that can no longer be included.

        After block `height` the next block is ``height + 1``, so every
        pending transaction with ``valid_until_height <= height`` is dropped,
        returned with its reason, and remembered for `get_dropped`. Ids not
        in the pool (transactions admitted by other nodes) are ignored.
        `eth_account_nonces` gives the EVM nonce after this block of senders
        with pending Ethereum transactions (`has_eth_transactions`) whose nonce
        the block may have moved; their pending transactions below it are
        dropped (the nonce is used), and selection continues from it.
        """
        entries = self._entries
        for transaction_id in committed_ids:
            entry = entries.pop(transaction_id, None)
            if entry is not None:
                self._unlink(entry)
                transaction = entry.transaction
                if type(transaction) is EthTransaction:
                    self._forget_expiry(entry)
                else:  # inline: this runs once per committed transaction
                    bucket = self._expiry_buckets.get(int(transaction.valid_until_height))  # type: ignore[union-attr]
                    if bucket is not None:
                        bucket.pop(transaction_id, None)
        dropped: list[DroppedTransaction] = []
        for sender, account_nonce in (eth_account_nonces or {}).items():
            queue = self._senders.get(sender)
            if queue is None:
                continue
            queue.account_nonce = account_nonce
            for nonce, entry in list(queue.eth_entries.items()):
                if nonce < account_nonce:
                    entries.pop(entry.transaction_id)
                    self._unlink(entry)
                    self._forget_expiry(entry)
                    record = DroppedTransaction(
                        entry.transaction_id,
                        f"nonce {nonce} was used by another transaction of the sender (its next nonce is "
                        f"{account_nonce} after block {height})",
                    )
                    dropped.append(record)
                    self._remember_dropped(record)
        heights = self._expiry_heights
        while heights and heights[0] <= height:
            expiry = heapq.heappop(heights)
            bucket = self._expiry_buckets.pop(expiry, None)
            if not bucket:
                continue
            for transaction_id in bucket:
                entry = entries.pop(transaction_id)
                self._unlink(entry)
                if self._eth_expiry.pop(transaction_id, None) is not None:
                    reason = (
                        f"not included within {self._limits.transaction_window_blocks} blocks of its admission "
                        f"(mempool.transaction_window_blocks; block {height} is committed): its nonce may be "
                        "missing a predecessor; send it again if it is still wanted"
                    )
                else:
                    reason = (
                        f"expired at height {expiry} before it could be included (block {height} is committed); "
                        "sign a new transaction with a later valid_until_height if it is still wanted"
                    )
                record = DroppedTransaction(transaction_id, reason)
                dropped.append(record)
                self._remember_dropped(record)
        return dropped

    def _unlink(self, entry: PoolTransaction) -> None:
        """Remove `entry` from the sender queues and byte count (not from the expiry index)."""
        self._byte_count -= len(entry.raw)
        # A canonical encoding determines its id, but the pool does not decode to check that: a
        # caller that admits two ids under one encoding keeps the index of the first.
        if self._ids_by_raw.get(entry.raw) == entry.transaction_id:
            del self._ids_by_raw[entry.raw]
        queue = self._senders[entry.sender]
        transaction = entry.transaction
        if type(transaction) is EthTransaction:
            del queue.eth_entries[transaction.nonce]
        else:
            del queue.entries[entry.transaction_id]
        if not queue.entries and not queue.eth_entries:
            del self._senders[entry.sender]
            for public_key in queue.public_keys:
                self._key_senders.pop(public_key, None)

    def _remember_dropped(self, record: DroppedTransaction) -> None:
        self._dropped[record.transaction_id] = record
        if len(self._dropped) > self._limits.dropped_records_max:
            self._dropped.popitem(last=False)
