"""The node's newest committed blocks, kept in memory as they were committed, for the queries about them.

Clients ask most about what just committed: a wallet polls for its receipt, an Ethereum tool reads the newest
block (`eth_getBlockByNumber`) and then the receipts of its transactions, an explorer shows the tip. From the
store each such answer reads and decodes the transaction's location, its receipt and its block's header, and
hashes the header again. At commit the node holds all of it already (`CommittedBlock`, and the pool's decoded
transactions), so it keeps the newest blocks here and `gusu.node.queries` answers from them first; anything
older, or not here, comes from the store as before, with the same answer.

Invariants:

* only blocks at or below the node's tip: a block is recorded once the tip has moved to it, so a query never
  sees a block the store would still call pending (`gusu.node.queries`);
* consecutive heights ending at the newest recorded one: a block that does not follow the newest clears the
  rest first (the node joined by state sync, or restarted);
* at most `blocks_max` blocks, `transactions_max` transactions and `bytes_max` bytes (of raw transactions and
  receipts: `compute_recent_block_bytes`), the oldest blocks dropped first; a block over either bound alone is not
  kept at all;
* never more than the store serves: the node keeps at most `[storage] block_bodies_kept` blocks here when
  that is set, so no body the store has archived is answered from memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from gusu.ledger.ethtx import EthTransaction, decode_block_item
from gusu.ledger.store import CommittedBlock
from gusu.ledger.types import Address, BlockHeader, CommitCertificate, Hash, Height, Receipt, Transaction

RECENT_BLOCKS_MAX = 1024
RECENT_TRANSACTIONS_MAX = 1_000_000
RECENT_BYTES_MAX = 1 << 36


def compute_recent_block_bytes(committed: CommittedBlock) -> int:
    """What a block kept here holds, for the byte bound: its raw transactions and its receipts' variable parts
    (return values, messages, event data; a receipt may carry far more than its transaction)."""
    total = sum(len(raw) for raw in committed.raw_transactions)
    for receipt in committed.receipts:
        total += len(receipt.return_value) + len(receipt.error_message)
        total += sum(len(event.data) + len(event.name) + len(event.contract) for event in receipt.events)
    return total


@dataclass(slots=True)
class RecentBlock:
    """One committed block as the node committed it: the fields of its `CommittedBlock` that queries read, not its
    state writes and tree nodes, which would hold many times the memory and no query needs."""

    header: BlockHeader
    block_hash: Hash
    transaction_ids: tuple[Hash, ...]
    raw_transactions: tuple[bytes, ...]
    senders: tuple[Address, ...]
    receipts: tuple[Receipt, ...]
    certificate: CommitCertificate | None
    transactions: list[Transaction | EthTransaction | None] = field(default_factory=list)
    """Decoded, where the pool still held them at commit; the rest are decoded when first asked for."""

    @property
    def height(self) -> Height:
        return self.header.height

    def get_transaction(self, index: int) -> Transaction | EthTransaction:
        """The decoded transaction at `index` (decoded from its block item the first time, if need be)."""
        found = self.transactions[index]
        if found is None:
            # The block rules decoded this item before it was committed: it decodes.
            found = decode_block_item(self.raw_transactions[index])
            self.transactions[index] = found
        return found


class RecentBlocks:
    """The newest committed blocks, bounded (module docstring)."""

    def __init__(self, blocks_max: int, transactions_max: int, bytes_max: int = RECENT_BYTES_MAX) -> None:
        assert 0 <= blocks_max <= RECENT_BLOCKS_MAX and 0 <= transactions_max <= RECENT_TRANSACTIONS_MAX
        assert 0 <= bytes_max <= RECENT_BYTES_MAX
        self._blocks_max = blocks_max
        self._transactions_max = transactions_max
        self._bytes_max = bytes_max
        self._sizes: dict[Height, int] = {}
        """`compute_recent_block_bytes` of each block held."""
        self._byte_count = 0
        self._blocks: OrderedDict[Height, RecentBlock] = OrderedDict()
        """Oldest first."""
        self._positions: dict[bytes, tuple[Height, int]] = {}
        """Transaction id -> (height, index) of every transaction of the blocks held."""
        self._transaction_count = 0

    @property
    def block_count(self) -> int:
        return len(self._blocks)

    @property
    def transaction_count(self) -> int:
        return self._transaction_count

    @property
    def byte_count(self) -> int:
        return self._byte_count

    def clear(self) -> None:
        self._blocks.clear()
        self._positions.clear()
        self._sizes.clear()
        self._transaction_count = 0
        self._byte_count = 0

    def record(self, committed: CommittedBlock, transactions: Sequence[Transaction | EthTransaction | None]) -> None:
        """Keep `committed`, the block the tip just moved to; `transactions` its decoded transactions, None
        where the caller has none at hand."""
        count = len(committed.transaction_ids)
        assert len(transactions) == count == len(committed.raw_transactions) == len(committed.receipts)
        height = committed.header.height
        if self._blocks and next(reversed(self._blocks)) != height - 1:
            self.clear()
        size = compute_recent_block_bytes(committed)
        if self._blocks_max == 0 or count > self._transactions_max or size > self._bytes_max:
            self.clear()  # kept blocks must stay consecutive up to the tip
            return
        block = RecentBlock(
            header=committed.header,
            block_hash=committed.block_hash,
            transaction_ids=committed.transaction_ids,
            raw_transactions=committed.raw_transactions,
            senders=committed.senders,
            receipts=committed.receipts,
            certificate=committed.certificate,
            transactions=list(transactions),
        )
        while self._blocks and (
            len(self._blocks) >= self._blocks_max
            or self._transaction_count + count > self._transactions_max
            or self._byte_count + size > self._bytes_max
        ):
            self._drop_oldest()
        self._blocks[height] = block
        self._sizes[height] = size
        self._transaction_count += count
        self._byte_count += size
        for index, transaction_id in enumerate(committed.transaction_ids):
            self._positions[transaction_id] = (height, index)

    def _drop_oldest(self) -> None:
        height, block = self._blocks.popitem(last=False)
        self._transaction_count -= len(block.transaction_ids)
        self._byte_count -= self._sizes.pop(height)
        for transaction_id in block.transaction_ids:
            # A transaction id commits once (the replay guard), so no newer block holds it.
            del self._positions[transaction_id]

    def get_block(self, height: int) -> RecentBlock | None:
        return self._blocks.get(Height(height))

    def find_transaction(self, transaction_id: bytes) -> tuple[RecentBlock, int] | None:
        """The block holding committed transaction `transaction_id` and its index there, if held."""
        position = self._positions.get(transaction_id)
        if position is None:
            return None
        return self._blocks[position[0]], position[1]

    def find_visible_transaction(self, transaction_id: bytes, tip: int) -> tuple[RecentBlock, int] | None:
        """`find_transaction`, for a block at or below `tip` only (every block held is, by the invariant; the
        check costs one comparison and keeps a query from ever seeing past the tip)."""
        found = self.find_transaction(transaction_id)
        if found is None or found[0].height > tip:
            return None
        return found
