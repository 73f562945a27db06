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
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from gusu.codec import ENCODED_BYTES_MAX
from gusu.errors import (
    ConfigError,
    DuplicateTransactionError,
    ExpiredTransactionError,
    MempoolFullError,
    SenderQuotaError,
    TransactionTooLargeError,
    WrongChainError,
)
from gusu.ledger.types import Address, Hash, Height, Transaction
from gusu.settings import validate_int_setting

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

TRANSACTIONS_MAX_LIMIT = 10_000_000
BYTES_MAX_LIMIT = 64 * GIB
WINDOW_BLOCKS_LIMIT = 1_000_000
DROPPED_RECORDS_MAX_LIMIT = 10_000_000


# --- records ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolTransaction:
    """An admitted transaction; the caller has verified its signature already."""

    transaction: Transaction
    transaction_id: Hash
    sender: Address
    raw: bytes
    """Its canonical encoding; the transaction's size is ``len(raw)``."""


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

    def __post_init__(self) -> None:
        _check_setting("transactions_max", self.transactions_max, 1, TRANSACTIONS_MAX_LIMIT)
        _check_setting("bytes_max", self.bytes_max, 1, BYTES_MAX_LIMIT)
        # May exceed transactions_max: then the pool's own limit binds first.
        _check_setting("sender_transactions_max", self.sender_transactions_max, 1, TRANSACTIONS_MAX_LIMIT)
        # A transaction must fit the pool and the codec, or it could never be admitted.
        _check_setting("transaction_bytes_max", self.transaction_bytes_max, 1, min(self.bytes_max, ENCODED_BYTES_MAX))
        _check_setting("transaction_window_blocks", self.transaction_window_blocks, 1, WINDOW_BLOCKS_LIMIT)
        _check_setting("dropped_records_max", self.dropped_records_max, 1, DROPPED_RECORDS_MAX_LIMIT)


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
    """One sender's pending transactions, oldest first."""

    __slots__ = ("entries", "public_keys")

    def __init__(self) -> None:
        self.entries: dict[Hash, PoolTransaction] = {}
        # Every key encoding seen for this sender, so the map from keys to
        # senders can be cleaned when the queue empties.
        self.public_keys: dict[bytes, None] = {}


def _next_includable(entries: Iterator[PoolTransaction], height: Height) -> PoolTransaction | None:
    for entry in entries:
        if entry.transaction.valid_until_height >= height:
            return entry
    return None


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
        return 0 if queue is None else len(queue.entries)

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
        expiry = int(tx.valid_until_height)
        bucket = self._expiry_buckets.get(expiry)
        if bucket is None:
            bucket = {}
            self._expiry_buckets[expiry] = bucket
            heapq.heappush(self._expiry_heights, expiry)
        bucket[transaction_id] = None

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
            if queue is not None and len(queue.entries) >= limits.sender_transactions_max:
                raise SenderQuotaError(
                    f"this sender already has {limits.sender_transactions_max} pending transactions, its limit; "
                    "retry once some of them commit"
                )

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
        selected: list[PoolTransaction] = []
        if transactions_max <= 0 or bytes_max <= 0 or not self._entries:
            return selected
        bytes_left = bytes_max
        last_served: Address | None = None
        is_full = False
        # Round one walks the rotation lazily, so a small block does not
        # visit every sender of a large pool.
        active: list[tuple[Address, Iterator[PoolTransaction]]] = []
        for address, queue in self._senders.items():
            entries = iter(queue.entries.values())
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
        if last_served is not None:
            self._rotate_past(last_served)
        return selected

    def _rotate_past(self, address: Address) -> None:
        """Move every sender up to and including `address` to the end of the rotation."""
        senders = self._senders
        while True:
            moved, queue = senders.popitem(last=False)
            senders[moved] = queue
            if moved == address:
                return

    # --- commit ------------------------------------------------------------------------

    def on_block_committed(self, height: Height, committed_ids: Collection[Hash]) -> list[DroppedTransaction]:
        """Forget the committed transactions and drop those that can no longer be included.

        After block `height` the next block is ``height + 1``, so every
        pending transaction with ``valid_until_height <= height`` is dropped,
        returned with its reason, and remembered for `get_dropped`. Ids not
        in the pool (transactions admitted by other nodes) are ignored.
        """
        entries = self._entries
        for transaction_id in committed_ids:
            entry = entries.pop(transaction_id, None)
            if entry is not None:
                self._unlink(entry)
                bucket = self._expiry_buckets.get(int(entry.transaction.valid_until_height))
                if bucket is not None:
                    bucket.pop(transaction_id, None)
        dropped: list[DroppedTransaction] = []
        heights = self._expiry_heights
        while heights and heights[0] <= height:
            expiry = heapq.heappop(heights)
            bucket = self._expiry_buckets.pop(expiry, None)
            if not bucket:
                continue
            for transaction_id in bucket:
                entry = entries.pop(transaction_id)
                self._unlink(entry)
                record = DroppedTransaction(
                    transaction_id,
                    f"expired at height {expiry} before it could be included (block {height} is committed); "
                    "sign a new transaction with a later valid_until_height if it is still wanted",
                )
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
        del queue.entries[entry.transaction_id]
        if not queue.entries:
            del self._senders[entry.sender]
            for public_key in queue.public_keys:
                self._key_senders.pop(public_key, None)

    def _remember_dropped(self, record: DroppedTransaction) -> None:
        self._dropped[record.transaction_id] = record
        if len(self._dropped) > self._limits.dropped_records_max:
            self._dropped.popitem(last=False)
