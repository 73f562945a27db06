"""Pruning of old state versions, and archiving of old block bodies to checksummed files.

Two retention windows, each counted back from the tip T:

* state versions: keep versions T - K + 1 .. T of the state tree (K =
  `state_versions_kept`). One step (`apply_state_pruning_step`) advances the
  oldest kept version by one: `compute_pruning_batch` deletes the nodes stale
  since that version (about as many as one block replaced), in one batch
  with the new mark `META_STATE_KEPT_FROM`. So each batch is bounded by one
  block's writes, and block commits go on between steps.
* block bodies: keep the bodies (transaction list, transactions, receipts,
  sender index entries) of heights T - M + 1 .. T (M = `block_bodies_kept`);
  older ones move to an archive file (`apply_body_archiving_step`). Headers,
  certificates and the block-hash index stay, so the hash chain, light
  clients and restores still verify from genesis.

Archive file `bodies-<first>-<last>.gba` (heights zero-padded to 12 digits):

    ARCHIVE_MAGIC (16 bytes) | first height (8) | last height (8)
    per height, in order: length (4, big-endian) | canonical
        [TAG_ARCHIVE_BLOCK, height, block hash, [raw transaction...], [encoded receipt...]]
    SHA-256 of every byte before it (32)

The file is written to a temporary name, fsynced and renamed before the
store deletes anything, so a crash leaves the bodies in the store, in the
archive, or both (a rerun overwrites the file with the same content).
`import_archive_file` checks the checksum, then every block against the
header the store kept (transactions root, receipts root, transaction ids),
and only then writes the bodies back, with exactly the keys and values
`BlockStore.commit_block` wrote.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gusu.codec import decode_list, encode, expect_bytes, expect_list, expect_uint
from gusu.crypto import CryptoSuite
from gusu.errors import BackupError, CodecError, NotFoundError
from gusu.ledger.ethtx import EthTransaction, decode_block_item
from gusu.ledger.kv import KeyValueStore, WriteBatch
from gusu.ledger.smt import compute_pruning_batch
from gusu.ledger.store import (
    PREFIX_BODY,
    PREFIX_HEADER,
    PREFIX_META,
    PREFIX_RECEIPT,
    PREFIX_SENDER,
    PREFIX_TRANSACTION,
    TAG_BODY,
    TAG_LOCATION,
    BlockStore,
    compute_receipts_root,
    compute_transactions_root,
)
from gusu.ledger.types import (
    BLOCK_TRANSACTIONS_MAX,
    HASH_SIZE,
    Hash,
    Height,
    compute_block_hash,
    compute_transaction_id,
    decode_header,
    decode_receipt,
    encode_receipt,
)

META_STATE_KEPT_FROM = PREFIX_META + b"state_kept_from"
"""The oldest state version still stored (absent: 0)."""
META_BODIES_KEPT_FROM = PREFIX_META + b"bodies_kept_from"
"""The first height whose body is still stored (absent: 0); lower ones were archived."""

ARCHIVE_MAGIC = b"GUSU-BODIES-v1\n\x00"
TAG_ARCHIVE_BLOCK = "gusu.archive.block.v1"
ARCHIVE_HEIGHTS_PER_FILE_MAX = 4096
ARCHIVE_FILE_BYTES_MAX = 1 << 34
_RECORD_LENGTH_BYTES = 4
_CHECKSUM_BYTES = 32


def _get_mark(kv: KeyValueStore, key: bytes) -> Height:
    raw = kv.get(key)
    return Height(0 if raw is None else int.from_bytes(raw, "big"))


def get_state_kept_from(kv: KeyValueStore) -> Height:
    return _get_mark(kv, META_STATE_KEPT_FROM)


def get_bodies_kept_from(kv: KeyValueStore) -> Height:
    return _get_mark(kv, META_BODIES_KEPT_FROM)


def apply_state_pruning_step(
    kv: KeyValueStore, tip: Height, state_versions_kept: int, keep_from_max: Height | None = None
) -> Height | None:
    """Prune one state version if the window has moved past it; the new oldest kept version, or None (nothing due).

    `state_versions_kept` 0 keeps every version. `keep_from_max`: never prune past this version (a snapshot
    the node offers for state sync must stay readable, `gusu.node.statesync`), so the versions from it on stay.
    """
    if state_versions_kept <= 0:
        return None
    target = tip - state_versions_kept + 1
    if keep_from_max is not None:
        target = min(target, keep_from_max)
    current = get_state_kept_from(kv)
    if current >= target:
        return None
    kept_from = Height(current + 1)
    # Versions up to `current` were pruned by earlier steps: read only the index of `kept_from`.
    batch = compute_pruning_batch(kv, kept_from, previously_kept_from=current)
    batch.put(META_STATE_KEPT_FROM, kept_from.to_bytes(8, "big"))
    kv.write(batch, sync=False)  # losing it in an OS crash loses no data: the step is redone
    return kept_from


# --- block bodies ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchivedBlock:
    height: Height
    block_hash: Hash
    raw_transactions: tuple[bytes, ...]
    receipts: tuple[bytes, ...]


def compute_archive_file_name(first: Height, last: Height) -> str:
    return f"bodies-{first:012d}-{last:012d}.gba"


def _read_archived_block(store: BlockStore, height: Height) -> ArchivedBlock | None:
    ids = store.get_transaction_ids(height)
    header = store.get_header(height)
    if ids is None or header is None:
        return None
    raws = []
    receipts = []
    for transaction_id in ids:
        stored = store.get_transaction(transaction_id)
        receipt = store.get_receipt(transaction_id)
        assert stored is not None and receipt is not None, f"block {height}'s body is incomplete in the store"
        raws.append(stored.raw)
        receipts.append(encode_receipt(receipt))
    return ArchivedBlock(height, compute_block_hash(store.suite, header), tuple(raws), tuple(receipts))


def _compute_body_writes(suite: CryptoSuite, block: ArchivedBlock) -> list[tuple[bytes, bytes]]:
    """The keys and values `BlockStore.commit_block` wrote for this body."""
    height_bytes = block.height.to_bytes(8, "big")
    ids: list[bytes] = []
    writes: list[tuple[bytes, bytes]] = []
    for index, (raw, receipt) in enumerate(zip(block.raw_transactions, block.receipts, strict=True)):
        # A block item is a Gusu transaction or an Ethereum one (`gusu.ledger.ethtx`): each has its own id and sender.
        transaction = decode_block_item(raw)
        if isinstance(transaction, EthTransaction):
            transaction_id: bytes = transaction.transaction_hash
            sender: bytes = transaction.sender
        else:
            transaction_id = compute_transaction_id(suite, transaction)
            sender = suite.compute_address(transaction.sender_public_key)
        ids.append(transaction_id)
        writes.append((PREFIX_TRANSACTION + transaction_id, encode([TAG_LOCATION, block.height, index, raw])))
        writes.append((PREFIX_RECEIPT + transaction_id, receipt))
        writes.append((PREFIX_SENDER + sender + height_bytes + index.to_bytes(4, "big"), transaction_id))
    writes.append((PREFIX_BODY + height_bytes, encode([TAG_BODY, list(ids)])))
    return writes


def write_archive_file(directory: Path, blocks: list[ArchivedBlock]) -> Path:
    """Write `blocks` (consecutive heights) durably to their archive file; its path."""
    assert blocks and len(blocks) <= ARCHIVE_HEIGHTS_PER_FILE_MAX
    first, last = blocks[0].height, blocks[-1].height
    assert last - first + 1 == len(blocks)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / compute_archive_file_name(first, last)
    temporary = path.with_suffix(".tmp")
    digest = hashlib.sha256()
    with open(temporary, "wb") as handle:

        def put(data: bytes) -> None:
            digest.update(data)
            handle.write(data)

        put(ARCHIVE_MAGIC + first.to_bytes(8, "big") + last.to_bytes(8, "big"))
        for block in blocks:
            record = encode(
                [TAG_ARCHIVE_BLOCK, block.height, block.block_hash, list(block.raw_transactions), list(block.receipts)]
            )
            put(len(record).to_bytes(_RECORD_LENGTH_BYTES, "big") + record)
        handle.write(digest.digest())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return path


def apply_body_archiving_step(
    store: BlockStore, kv: KeyValueStore, tip: Height, block_bodies_kept: int, directory: Path, heights_max: int
) -> tuple[Height, Height] | None:
    """Move the `heights_max` oldest bodies to one archive file once they are all outside the window; the range.

    None when nothing is due. `block_bodies_kept` 0 keeps every body.
    """
    assert 1 <= heights_max <= ARCHIVE_HEIGHTS_PER_FILE_MAX
    if block_bodies_kept <= 0:
        return None
    first = get_bodies_kept_from(kv)
    end = tip - block_bodies_kept + 1  # exclusive
    if end - first < heights_max:
        return None  # only whole files: one file per `heights_max` heights, not one per block
    last = Height(first + heights_max - 1)
    blocks = []
    for height in range(first, last + 1):
        block = _read_archived_block(store, Height(height))
        assert block is not None, f"block {height} has no body to archive"
        blocks.append(block)
    write_archive_file(directory, blocks)
    batch = WriteBatch()
    for block in blocks:
        for key, _ in _compute_body_writes(store.suite, block):
            batch.delete(key)
    batch.put(META_BODIES_KEPT_FROM, (last + 1).to_bytes(8, "big"))
    kv.write(batch, sync=True)
    return Height(first), last


def read_archive_file(path: Path) -> Iterator[ArchivedBlock]:
    """The blocks of an archive file, after checking its checksum; BackupError on any damage."""
    try:
        size = path.stat().st_size
        if size > ARCHIVE_FILE_BYTES_MAX:
            raise BackupError(f"{path} is larger than an archive file can be")
        data = path.read_bytes()
    except OSError as error:
        raise BackupError(f"cannot read archive file {path}: {error.strerror}") from error
    header_bytes = len(ARCHIVE_MAGIC) + 16
    if len(data) < header_bytes + _CHECKSUM_BYTES or not data.startswith(ARCHIVE_MAGIC):
        raise BackupError(f"{path} is not a Gusu block-body archive (or it is truncated)")
    if hashlib.sha256(data[:-_CHECKSUM_BYTES]).digest() != data[-_CHECKSUM_BYTES:]:
        raise BackupError(f"{path} does not match its checksum: the archive file is damaged or truncated")
    first = int.from_bytes(data[len(ARCHIVE_MAGIC) : len(ARCHIVE_MAGIC) + 8], "big")
    last = int.from_bytes(data[len(ARCHIVE_MAGIC) + 8 : header_bytes], "big")
    if not first <= last or last - first + 1 > ARCHIVE_HEIGHTS_PER_FILE_MAX:
        raise BackupError(f"{path} names an invalid height range {first}..{last}")
    position = header_bytes
    end = len(data) - _CHECKSUM_BYTES
    expected = first
    while position < end:
        length = int.from_bytes(data[position : position + _RECORD_LENGTH_BYTES], "big")
        position += _RECORD_LENGTH_BYTES
        if position + length > end:
            raise BackupError(f"{path} has a truncated record at height {expected}")
        try:
            fields = decode_list(data[position : position + length], TAG_ARCHIVE_BLOCK, 5)
            height = expect_uint(fields[1], "height")
            block_hash = Hash(expect_bytes(fields[2], "block hash", size=HASH_SIZE))
            raws = tuple(
                expect_bytes(item, "transaction")
                for item in expect_list(fields[3], "transactions", BLOCK_TRANSACTIONS_MAX)
            )
            receipts = tuple(
                expect_bytes(item, "receipt") for item in expect_list(fields[4], "receipts", BLOCK_TRANSACTIONS_MAX)
            )
        except CodecError as error:
            raise BackupError(f"{path} has a damaged record at height {expected}: {error}") from error
        if height != expected or len(raws) != len(receipts):
            raise BackupError(f"{path} has a record out of place at height {expected}")
        position += length
        expected += 1
        yield ArchivedBlock(Height(height), block_hash, raws, receipts)
    if expected != last + 1:
        raise BackupError(f"{path} ends at height {expected - 1}, not at {last}")


def import_archive_file(store: BlockStore, kv: KeyValueStore, path: Path) -> tuple[Height, Height]:
    """Verify an archive file against the headers in the store, then write its bodies back; the range imported.

    Nothing is written unless every block verifies. Bodies already in the store are written again unchanged.
    """
    suite = store.suite
    batch = WriteBatch()
    heights: list[Height] = []
    for block in read_archive_file(path):
        raw_header = kv.get(PREFIX_HEADER + block.height.to_bytes(8, "big"))
        if raw_header is None:
            raise NotFoundError(f"the store has no header at height {block.height}: the archive is not of this chain")
        header = decode_header(raw_header)
        if compute_block_hash(suite, header) != block.block_hash:
            raise BackupError(f"{path}: block {block.height} is not this chain's block at that height")
        try:
            writes = _compute_body_writes(suite, block)
            receipts = [decode_receipt(raw) for raw in block.receipts]
        except CodecError as error:
            raise BackupError(
                f"{path}: block {block.height} holds a damaged transaction or receipt: {error}"
            ) from error
        ids = [Hash(key[len(PREFIX_TRANSACTION) :]) for key, _ in writes if key.startswith(PREFIX_TRANSACTION)]
        if (
            len(ids) != header.transaction_count
            or compute_transactions_root(suite, ids) != header.transactions_root
            or compute_receipts_root(suite, receipts) != header.receipts_root
            or any(encode_receipt(receipt) != raw for receipt, raw in zip(receipts, block.receipts, strict=True))
        ):
            raise BackupError(f"{path}: block {block.height}'s body does not match its header's roots")
        for key, value in writes:
            batch.put(key, value)
        heights.append(block.height)
    assert heights, "read_archive_file yields at least one block"
    kv.write(batch, sync=True)
    return heights[0], heights[-1]
