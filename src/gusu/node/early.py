"""Early execution: a solo node executes its next block's transactions while they arrive.

On a node that is not busy all the time, most of a block's build time was spent after the block was due:
clients send together once they saw the previous block, the node admits their transactions, waits for the
block interval (or `block_gather_ms`), and only then executes them all. With ``[consensus] early_execution``
the solo engine fixes the next block's timestamp when the block is first expected (`PrepareProposal`), and the
node executes pool transactions into that block between requests, as they arrive; when the proposal is due
(`BuildProposal`, same height and timestamp) only the rest is left to execute.

The block is exactly the one building it at once would make, because it is built by the same steps
(`gusu.node.blocks.BlockBuilder`) on the same state and context: the block executed early is used only if

* the tip, the block rules and the store are the ones it started on (so is the committed state it read), and
  the proposal's height and timestamp are the prepared ones, and
* the transactions it executed are, in order, the first ones the pool selects for the block now
  (`Mempool.select`): a transaction replaced, evicted or expired since, or a selection in another order, and it
  is dropped and the block built from scratch, as without early execution.

It never executes more than a block could hold (the builder stops at the block's gas), and it works in slices of
`EARLY_TRANSACTIONS_PER_SLICE` so requests keep being served in between. Under load, when the pool holds more
than `EARLY_POOL_TRANSACTIONS_MAX` transactions, blocks are built back to back and full anyway: it stays idle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gusu.ledger.store import BlockStore
from gusu.ledger.types import Hash, Height
from gusu.mempool import PoolTransaction
from gusu.node.blocks import BlockBuilder, BlockRules

EARLY_TRANSACTIONS_PER_SLICE: Final = 8
"""Transactions executed in one turn of the event loop (about 2 ms of ERC-20 transfers)."""
EARLY_POOL_TRANSACTIONS_MAX: Final = 1_024
"""Above this many pooled transactions the next block is not executed early (selecting from a large pool again
for every slice would cost more than it saves, and such blocks are built back to back anyway)."""


@dataclass(slots=True)
class EarlyBlock:
    """The next block, executed so far as `builder.entries`."""

    height: Height
    timestamp_ms: int
    parent_hash: Hash
    rules: BlockRules
    store: BlockStore
    builder: BlockBuilder

    def is_on(self, parent_hash: Hash, rules: BlockRules, store: BlockStore) -> bool:
        """True if the tip, the block rules and the store are still the ones it started on."""
        return self.parent_hash == parent_hash and self.rules is rules and self.store is store

    def is_for(
        self, height: Height, timestamp_ms: int, parent_hash: Hash, rules: BlockRules, store: BlockStore
    ) -> bool:
        """True if this block can still become the proposal of `height` with `timestamp_ms` on that tip."""
        return self.height == height and self.timestamp_ms == timestamp_ms and self.is_on(parent_hash, rules, store)

    def is_prefix_of(self, selection: Sequence[PoolTransaction]) -> bool:
        """True if what was executed is, in order, the start of `selection` (the pool's choice for the block)."""
        executed = self.builder.entries
        if len(executed) > len(selection):
            return False
        return all(
            done.transaction_id == chosen.transaction_id and done.raw == chosen.raw
            for done, chosen in zip(executed, selection, strict=False)
        )

    def get_next_slice(self, selection: Sequence[PoolTransaction]) -> Sequence[PoolTransaction]:
        """The next transactions of `selection` to execute early (after `is_prefix_of`)."""
        start = len(self.builder.entries)
        return selection[start : start + EARLY_TRANSACTIONS_PER_SLICE]
