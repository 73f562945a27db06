"""The block store: blocks, receipts, indices and world state in one key-value store.

A block, its receipts, its index entries, its state changes and the new tip
are written in ONE atomic, fsynced batch (`commit_block`). After a crash at
any moment the store is therefore at the last committed height with
everything that block implied, or at the one before it; never in between.
A transaction the node reported as committed was in a batch that returned.

Key layout (one-byte family, then fixed-size binary fields so that keys sort
by height and no two families can collide):

    b"m" + name                          metadata (chain id, genesis hash, tip, base; the pruning marks of
                                         gusu.ledger.pruning: state_kept_from, bodies_kept_from)
    b"h" + height(8)                     encoded header
    b"c" + height(8)                     encoded commit certificate
    b"b" + height(8)                     the block's transaction ids, in order
    b"x" + block hash(32)                height of that block
    b"t" + transaction id                [height, index, raw transaction]
    b"r" + transaction id                encoded receipt
    b"a" + sender(20) + height(8) + index(4)   transaction id (sender index)
    b"s" + state key                     state value
    b"j" + version(8) + path             state tree node (gusu.ledger.smt; version = height)
    b"J" + version(8) + node key         state tree nodes stale since that version

The state root of block H is the root of version H of the state tree
(`compute_state_update`); the block's batch carries that version's nodes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass

from gusu.codec import decode_list, encode, expect_bytes, expect_list, expect_uint
from gusu.crypto import CryptoSuite
from gusu.errors import InvalidBlockError, StorageError
from gusu.ledger.ethtx import EthTransaction, decode_block_item
from gusu.ledger.kv import KeyValueStore, WriteBatch
from gusu.ledger.merkle import compute_root
from gusu.ledger.smt import (
    StateProof,
    StateTree,
    TreeUpdate,
    apply_tree_update_to_batch,
    apply_tree_update_to_cache,
    apply_tree_updates,
    get_state_proof,
    get_tree_value,
)
from gusu.ledger.types import (
    ADDRESS_SIZE,
    BLOCK_TRANSACTIONS_MAX,
    HASH_SIZE,
    ZERO_HASH,
    Address,
    BlockHeader,
    CommitCertificate,
    Hash,
    Height,
    Receipt,
    Transaction,
    decode_commit_certificate,
    decode_header,
    decode_receipt,
    encode_commit_certificate,
    encode_header,
    encode_receipt,
)

PREFIX_META = b"m"
PREFIX_HEADER = b"h"
PREFIX_CERTIFICATE = b"c"
PREFIX_BODY = b"b"
PREFIX_BLOCK_HASH = b"x"
PREFIX_TRANSACTION = b"t"
PREFIX_RECEIPT = b"r"
PREFIX_SENDER = b"a"
PREFIX_STATE = b"s"

META_CHAIN_ID = PREFIX_META + b"chain_id"
META_GENESIS_HASH = PREFIX_META + b"genesis_hash"
META_SUITE = PREFIX_META + b"suite"
META_TIP = PREFIX_META + b"tip"
META_FORMAT = PREFIX_META + b"format"
META_BASE = PREFIX_META + b"base"
"""The lowest height whose header the store holds (absent: 0). A node that joined by state sync starts at
the snapshot's height: no block below it was ever stored or replayed."""
STORE_FORMAT = b"2"
"""2: the state root is the state tree's (gusu.ledger.smt), whose nodes a format-1 store lacks."""

_HEIGHT_FIELD_BYTES = 8
_INDEX_FIELD_BYTES = 4
_HEIGHT_FIELD_MAX = (1 << (8 * _HEIGHT_FIELD_BYTES)) - 1
_INDEX_FIELD_MAX = (1 << (8 * _INDEX_FIELD_BYTES)) - 1

TAG_TIP = "gusu.tip.v1"
TAG_LOCATION = "gusu.txloc.v1"
TAG_BODY = "gusu.body.v1"


def _height_key(prefix: bytes, height: int) -> bytes:
    return prefix + height.to_bytes(8, "big")


def _position_bytes(height: int, index: int) -> bytes:
    """(height, index) as the sender index's key suffix; positions beyond the fields' range clamp.

    Clamping keeps "everything before position X" meaningful for any X a
    caller may pass: nothing stored can sit at or beyond the largest suffix.
    """
    if height < 0 or index < 0:
        raise ValueError(f"a chain position is non-negative, found height {height}, index {index}")
    if height > _HEIGHT_FIELD_MAX:
        return b"\xff" * (_HEIGHT_FIELD_BYTES + _INDEX_FIELD_BYTES)
    index_bytes = min(index, _INDEX_FIELD_MAX).to_bytes(_INDEX_FIELD_BYTES, "big")
    return height.to_bytes(_HEIGHT_FIELD_BYTES, "big") + index_bytes


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    height: Height
    index: int
    raw: bytes
    """Its block item: a Gusu transaction's encoding or an Ethereum transaction's (`gusu.ledger.ethtx`)."""
    transaction: Transaction | EthTransaction


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    """Everything one block commits, as handed to `BlockStore.commit_block`."""

    header: BlockHeader
    block_hash: Hash
    transaction_ids: tuple[Hash, ...]
    raw_transactions: tuple[bytes, ...]
    senders: tuple[Address, ...]
    receipts: tuple[Receipt, ...]
    writes: tuple[tuple[bytes, bytes | None], ...]
    certificate: CommitCertificate | None
    tree_update: TreeUpdate
    """Version `header.height` of the state tree, whose root is `header.state_root`."""


def compute_state_update(
    suite: CryptoSuite, state_tree: StateTree, height: Height, writes: Sequence[tuple[bytes, bytes | None]]
) -> TreeUpdate:
    """Version `height` of the state tree: the parent's version (height - 1) with this block's writes.

    Its root is the block's state root: a commitment to the whole state after
    the block (not only to its writes), against which any key can be proven
    present or absent (`gusu.ledger.smt`). `state_tree` holds the parent's
    version and is only read; block 0 starts from the empty tree.
    """
    parent_version = None if height == 0 else height - 1
    return apply_tree_updates(state_tree.store, suite, height, parent_version, dict(writes), state_tree.cache)


def compute_transactions_root(suite: CryptoSuite, transaction_ids: Sequence[Hash]) -> Hash:
    return Hash(compute_root(suite.hash, transaction_ids))


def compute_receipt_leaf(suite: CryptoSuite, receipt: Receipt) -> bytes:
    return suite.hash(encode_receipt(receipt))


def compute_receipts_root(suite: CryptoSuite, receipts: Sequence[Receipt]) -> Hash:
    return Hash(compute_root(suite.hash, [compute_receipt_leaf(suite, receipt) for receipt in receipts]))


STATE_CACHE_ENTRIES_DEFAULT = 65_536
STATE_CACHE_ENTRIES_MAX = 16_777_216
STATE_CACHE_BYTES_DEFAULT = 64 * 1024 * 1024
STATE_CACHE_BYTES_MAX = 1 << 36
"""Bounds of `StateCache` (a node's `[storage] state_cache_entries` and `state_cache_bytes_max`): the entries and
the bytes of their keys and values (Python's own objects add about 150 bytes an entry)."""

_ABSENT = object()


class StateCache:
    """The latest committed values of recently read or written state keys (None: the key is absent), in front of
    the key-value store's point reads.

    A committed state read costs 1-4 µs in RocksDB (more with fresh levels to look through) and a node reads the
    same few keys again and again: the chain's settings and permissions and its busy accounts at every admission,
    execution and query. Oldest entries go first past `entries_max` or `bytes_max` (keys and values; a written key
    is inserted again, and a value over 1/64 of the bytes is never kept, so any block's writes leave the cache
    within its bounds). Reads take no lock; a read that missed stores its value only if no block was applied since
    it looked (`generation`), so a value read from the store before a commit can never be kept after it:
    `apply_writes` sets or drops every key a block wrote, then counts the generation, both after the block is
    durable.
    """

    def __init__(self, entries_max: int, bytes_max: int = STATE_CACHE_BYTES_DEFAULT) -> None:
        assert 1 <= entries_max <= STATE_CACHE_ENTRIES_MAX and 1 <= bytes_max <= STATE_CACHE_BYTES_MAX
        self._entries: OrderedDict[bytes, bytes | None] = OrderedDict()
        self._entries_max = entries_max
        self._bytes_max = bytes_max
        self._bytes = 0
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key: bytes) -> object:
        """The cached value of `key` (None: absent from the state), or `_ABSENT` if it is not cached."""
        return self._entries.get(key, _ABSENT)

    def put(self, key: bytes, value: bytes | None, generation: int) -> None:
        """Keep `value`, read from the store while the generation was `generation`, unless a block came since."""
        with self._lock:
            if generation == self.generation:
                self._insert(key, value)

    def apply_writes(self, writes: Iterable[tuple[bytes, bytes | None]]) -> None:
        """A durable block's writes (None deletes)."""
        with self._lock:
            for key, value in writes:
                self._insert(key, value)
            self.generation += 1

    def clear(self) -> None:
        """Forget everything: the state was written another way (a snapshot installed)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.generation += 1

    @property
    def byte_count(self) -> int:
        return self._bytes

    def _insert(self, key: bytes, value: bytes | None) -> None:
        entries = self._entries
        previous = entries.pop(key, _ABSENT)
        if previous is not _ABSENT:
            self._bytes -= len(key) + len(previous or b"")  # type: ignore[arg-type]
        size = len(key) + len(value or b"")
        if size > self._bytes_max // 64:
            return  # too big to keep: dropped above, so the store answers it
        entries[key] = value
        self._bytes += size
        while len(entries) > self._entries_max or self._bytes > self._bytes_max:
            evicted, evicted_value = entries.popitem(last=False)
            self._bytes -= len(evicted) + len(evicted_value or b"")

    def __len__(self) -> int:
        return len(self._entries)


class BlockStore:
    """Typed access to one chain's blocks, receipts, indices and state.

    The node reads it on its event loop and writes blocks and pruning rounds in its store's thread, one at a time,
    except that a solo node writes a small block on the loop, never while a pruning round runs
    (`Node._is_commit_inline`); the key-value backends take concurrent readers. Committed state reads go through
    a `StateCache` of `state_cache_entries` and `state_cache_bytes_max` (either 0: none); whatever writes state
    keys other than `commit_block` calls `forget_cached_state`.
    """

    def __init__(
        self,
        kv: KeyValueStore,
        suite: CryptoSuite,
        *,
        state_cache_entries: int = STATE_CACHE_ENTRIES_DEFAULT,
        state_cache_bytes_max: int = STATE_CACHE_BYTES_DEFAULT,
    ) -> None:
        self._kv = kv
        self._state_tree = StateTree(kv)
        self._suite = suite
        self._state_cache = (
            StateCache(state_cache_entries, state_cache_bytes_max)
            if state_cache_entries and state_cache_bytes_max
            else None
        )

    # --- chain identity ---------------------------------------------------------

    def initialize(self, chain_id: str, genesis_hash: Hash) -> None:
        """Bind an empty store to a chain, or check that it already belongs to it."""
        existing = self._kv.get(META_CHAIN_ID)
        if existing is None:
            batch = WriteBatch()
            batch.put(META_CHAIN_ID, chain_id.encode())
            batch.put(META_GENESIS_HASH, genesis_hash)
            batch.put(META_SUITE, self._suite.name.encode())
            batch.put(META_FORMAT, STORE_FORMAT)
            self._kv.write(batch, sync=True)
            return
        if existing.decode() != chain_id or self._kv.get(META_GENESIS_HASH) != genesis_hash:
            raise StorageError(
                f"this data directory holds chain {existing.decode()!r} with another genesis; "
                "point the node at its own data directory or remove this one"
            )
        if self._kv.get(META_FORMAT) != STORE_FORMAT:
            raise StorageError("this data directory was written by an incompatible Gusu version")

    # --- reads ---------------------------------------------------------------------

    def get_tip(self) -> tuple[Height, Hash] | None:
        raw = self._kv.get(META_TIP)
        if raw is None:
            return None
        fields = decode_list(raw, TAG_TIP, 3)
        return Height(expect_uint(fields[1], "tip height")), Hash(expect_bytes(fields[2], "tip hash", size=HASH_SIZE))

    def get_base_height(self) -> Height:
        """The lowest stored height: 0, or the snapshot height a state-synced node started from."""
        raw = self._kv.get(META_BASE)
        return Height(0 if raw is None else int.from_bytes(raw, "big"))

    def get_header(self, height: Height) -> BlockHeader | None:
        raw = self._kv.get(_height_key(PREFIX_HEADER, height))
        return None if raw is None else decode_header(raw)

    def get_certificate(self, height: Height) -> CommitCertificate | None:
        raw = self._kv.get(_height_key(PREFIX_CERTIFICATE, height))
        return None if raw is None else decode_commit_certificate(raw)

    def get_height_by_hash(self, block_hash: bytes) -> Height | None:
        raw = self._kv.get(PREFIX_BLOCK_HASH + block_hash)
        return None if raw is None else Height(int.from_bytes(raw, "big"))

    def get_transaction_ids(self, height: Height) -> list[Hash] | None:
        raw = self._kv.get(_height_key(PREFIX_BODY, height))
        if raw is None:
            return None
        fields = decode_list(raw, TAG_BODY, 2)
        ids = expect_list(fields[1], "block body", BLOCK_TRANSACTIONS_MAX)
        return [Hash(expect_bytes(item, "transaction id", size=HASH_SIZE)) for item in ids]

    def has_transaction(self, transaction_id: bytes) -> bool:
        return self._kv.get(PREFIX_TRANSACTION + transaction_id) is not None

    def get_transaction(self, transaction_id: bytes) -> StoredTransaction | None:
        raw = self._kv.get(PREFIX_TRANSACTION + transaction_id)
        if raw is None:
            return None
        fields = decode_list(raw, TAG_LOCATION, 4)
        transaction_raw = expect_bytes(fields[3], "transaction")
        return StoredTransaction(
            height=Height(expect_uint(fields[1], "height")),
            index=expect_uint(fields[2], "index"),
            raw=transaction_raw,
            transaction=decode_block_item(transaction_raw),
        )

    def get_receipt(self, transaction_id: bytes) -> Receipt | None:
        raw = self._kv.get(PREFIX_RECEIPT + transaction_id)
        return None if raw is None else decode_receipt(raw)

    def get_receipts(self, height: Height) -> list[Receipt]:
        ids = self.get_transaction_ids(height) or []
        receipts = []
        for transaction_id in ids:
            receipt = self.get_receipt(transaction_id)
            if receipt is None:
                raise StorageError(
                    f"receipt of {transaction_id.hex()} at height {height} is missing: the store is corrupt"
                )
            receipts.append(receipt)
        return receipts

    def iterate_sender_transactions(
        self,
        sender: Address,
        *,
        newest_first: bool = True,
        before: tuple[int, int] | None = None,
    ) -> Generator[Hash, None, None]:
        """Ids of the committed transactions `sender` signed, in chain order or (default) newest first.

        With `before` = (height, index), only transactions strictly earlier
        than that position. The bound becomes the key range's end, so a page
        deep in a long history costs one seek, not a walk over the newer
        entries. Close the iterator (or exhaust it) when done early.
        """
        assert len(sender) == ADDRESS_SIZE, "a sender index key holds a 20-byte address"
        prefix = PREFIX_SENDER + sender
        end = None if before is None else prefix + _position_bytes(*before)
        for _key, value in self._kv.iterate(prefix, reverse=newest_first, end=end):
            yield Hash(value)

    def get(self, key: bytes) -> bytes | None:
        """Committed state by full state key (the executor's StateReader)."""
        cache = self._state_cache
        if cache is None:
            return self._kv.get(PREFIX_STATE + key)
        cached = cache.get(key)
        if cached is not _ABSENT:
            return cached  # type: ignore[return-value]
        generation = cache.generation
        value = self._kv.get(PREFIX_STATE + key)
        cache.put(key, value, generation)
        return value

    def forget_cached_state(self) -> None:
        """After state keys were written into the key-value store directly (`install_snapshot`)."""
        if self._state_cache is not None:
            self._state_cache.clear()

    @property
    def suite(self) -> CryptoSuite:
        return self._suite

    @property
    def kv(self) -> KeyValueStore:
        """The key-value store underneath (backups and the pruner read and write it directly)."""
        return self._kv

    @property
    def state_tree(self) -> StateTree:
        """Where the state tree's versions live (`compute_state_update` reads the parent's from here)."""
        return self._state_tree

    def get_state_proof(self, height: Height, key: bytes) -> StateProof:
        """Proof of `key`'s value (or absence) in the state after block `height`, against its header's state root.

        NotFoundError when that height's state was never stored or was pruned.
        """
        return get_state_proof(self._kv, self._suite, height, key)

    def get_state_value(self, height: Height, key: bytes) -> bytes | None:
        """`key`'s value (None: absent) in the state after block `height`, read from the state tree.

        NotFoundError when that height's state was never stored or was pruned.
        """
        return get_tree_value(self._kv, self._suite, height, key)

    # --- the one write ----------------------------------------------------------------

    def validate_next(self, header: BlockHeader, block_hash: Hash) -> None:
        tip = self.get_tip()
        if tip is None:
            if header.height != 0:
                raise InvalidBlockError(f"the first block must have height 0, not {header.height}")
            return
        tip_height, tip_hash = tip
        if header.height != tip_height + 1:
            raise InvalidBlockError(f"block {header.height} does not follow the tip at height {tip_height}")
        if header.parent_hash != tip_hash:
            raise InvalidBlockError(f"block {header.height} names parent {header.parent_hash.hex()}, not the tip")
        assert block_hash != ZERO_HASH

    def commit_base(
        self, header: BlockHeader, block_hash: Hash, certificate: CommitCertificate, marks: Mapping[bytes, int]
    ) -> None:
        """Make a verified snapshot's block the first one of an empty store (state sync), durably.

        The state and the tree version `header.height` must already be written (`gusu.node.statesync`);
        this writes the header, its certificate and hash index, the base and the tip in one synced batch,
        and `marks` (metadata key -> height, e.g. the pruning marks) with them. The block's
        body is not stored: nothing below or at the base is served as a block.
        """
        assert self.get_tip() is None, "a base starts an empty store"
        assert certificate.block_hash == block_hash and certificate.height == header.height
        height_bytes = header.height.to_bytes(8, "big")
        batch = WriteBatch()
        batch.put(PREFIX_HEADER + height_bytes, encode_header(header))
        batch.put(PREFIX_CERTIFICATE + height_bytes, encode_commit_certificate(certificate))
        batch.put(PREFIX_BLOCK_HASH + block_hash, height_bytes)
        batch.put(META_BASE, height_bytes)
        for mark, mark_height in marks.items():
            assert mark.startswith(PREFIX_META)
            batch.put(mark, mark_height.to_bytes(8, "big"))
        batch.put(META_TIP, encode([TAG_TIP, header.height, block_hash]))
        self._kv.write(batch, sync=True)

    def commit_block(self, block: CommittedBlock, *, sync: bool = True) -> None:
        """Write a block and everything it implies atomically and durably.

        `sync` False leaves the batch to the engine's next sync (atomic still, but a power loss may drop
        the latest blocks): only for bulk writers that sync once at the end (`gusu.eval.stategen`), never a node.
        """
        header = block.header
        self.validate_next(header, block.block_hash)
        count = len(block.transaction_ids)
        assert count == len(block.raw_transactions) == len(block.receipts) == len(block.senders)
        assert count == header.transaction_count
        height = header.height
        batch = WriteBatch()
        height_bytes = height.to_bytes(8, "big")
        batch.put(PREFIX_HEADER + height_bytes, encode_header(header))
        if block.certificate is not None:
            batch.put(PREFIX_CERTIFICATE + height_bytes, encode_commit_certificate(block.certificate))
        batch.put(PREFIX_BODY + height_bytes, encode([TAG_BODY, list(block.transaction_ids)]))
        batch.put(PREFIX_BLOCK_HASH + block.block_hash, height_bytes)
        for index, (transaction_id, raw, sender, receipt) in enumerate(
            zip(block.transaction_ids, block.raw_transactions, block.senders, block.receipts, strict=True)
        ):
            batch.put(PREFIX_TRANSACTION + transaction_id, encode([TAG_LOCATION, height, index, raw]))
            batch.put(PREFIX_RECEIPT + transaction_id, encode_receipt(receipt))
            batch.put(PREFIX_SENDER + sender + height_bytes + index.to_bytes(4, "big"), transaction_id)
        for key, value in block.writes:
            if value is None:
                batch.delete(PREFIX_STATE + key)
            else:
                batch.put(PREFIX_STATE + key, value)
        assert block.tree_update.version == height and block.tree_update.root == header.state_root
        apply_tree_update_to_batch(batch, block.tree_update)
        batch.put(META_TIP, encode([TAG_TIP, height, block.block_hash]))
        self._kv.write(batch, sync=sync)
        apply_tree_update_to_cache(self._state_tree.cache, block.tree_update)  # only once it is stored
        if self._state_cache is not None:
            self._state_cache.apply_writes(block.writes)

    def close(self) -> None:
        self._kv.close()
