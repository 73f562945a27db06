"""Block bodies of the heights being decided: bounded, one per proposal slot, our own and locked ones pinned.

A proposal names its block by hash; the block itself (the body) travels with
the proposal's first sending, or is fetched by hash. Bodies are kept until
their height commits, so that a validator can check a proposal, commit a
decided block, answer a peer's request, and re-propose its locked or valid
value in a later round (Algorithm 1, l. 16), which only works if that body
is still here.

What a Byzantine validator could do with such a cache, and why it cannot:

* flush it with bodies of its own: a body is admitted only under its proposal
  slot (height, round, proposer), the first one per slot wins, and the node
  admits only the round's own proposer (`Node._is_body_wanted`) for rounds
  near the current one, so one validator fills at most the few slots of the
  rounds it leads;
* make it evict a body we need: our own bodies, and the engine's locked and
  valid values, are pinned and never evicted; when the cache is full, the
  unpinned body of the highest round goes first (the one least likely to be
  decided soon).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gusu.ledger.types import Address, Hash, Height, RawBlock, Round

OWN_ROUND = Round(-1)


@dataclass(slots=True)
class _Body:
    block: RawBlock
    height: Height
    round: Round
    slot: tuple[Height, Round, Address] | None
    is_own: bool


class ProposalBodies:
    """Bodies by block hash, at most `entries_max` of them besides the pinned ones."""

    def __init__(self, entries_max: int) -> None:
        assert entries_max > 0
        self._entries_max = entries_max
        self._by_hash: dict[Hash, _Body] = {}
        self._slots: dict[tuple[Height, Round, Address], Hash] = {}

    def __contains__(self, block_hash: object) -> bool:
        return block_hash in self._by_hash

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, block_hash: Hash) -> RawBlock | None:
        body = self._by_hash.get(block_hash)
        return None if body is None else body.block

    def add_own(self, block_hash: Hash, block: RawBlock) -> None:
        """A body we built: pinned until its height commits."""
        self._by_hash[block_hash] = _Body(block, block.header.height, OWN_ROUND, None, True)

    def add_proposed(
        self,
        block_hash: Hash,
        block: RawBlock,
        height: Height,
        round_: Round,
        proposer: Address,
        pinned: Iterable[Hash] = (),
    ) -> bool:
        """Keep the body of `proposer`'s proposal for (height, round); False if that slot holds another body
        (the proposer equivocated: the engine keeps the evidence) or nothing could be evicted for it."""
        if block_hash in self._by_hash:
            return True
        slot = (height, round_, proposer)
        if slot in self._slots:
            return False
        if not self._make_room(frozenset(pinned), round_):
            return False
        self._by_hash[block_hash] = _Body(block, height, round_, slot, False)
        self._slots[slot] = block_hash
        return True

    def add_requested(self, block_hash: Hash, block: RawBlock, height: Height, round_: Round) -> bool:
        """A body we asked for by hash (the engine needs it); kept like a proposal of `round_`."""
        if block_hash in self._by_hash:
            return True
        if not self._make_room(frozenset(), round_):
            return False
        self._by_hash[block_hash] = _Body(block, height, round_, None, False)
        return True

    def get_above(self, committed_height: Height) -> list[RawBlock]:
        """Every body of a height above `committed_height`, lowest first (Raft keeps these across a commit)."""
        kept = [body for body in self._by_hash.values() if body.height > committed_height]
        return [body.block for body in sorted(kept, key=lambda body: body.height)]

    def prune(self, committed_height: Height) -> None:
        """Forget every body of a height up to `committed_height`."""
        for block_hash in [key for key, body in self._by_hash.items() if body.height <= committed_height]:
            self._remove(block_hash)

    def _make_room(self, pinned: frozenset[Hash], round_: Round) -> bool:
        unpinned = [
            (body.round, block_hash)
            for block_hash, body in self._by_hash.items()
            if not body.is_own and block_hash not in pinned
        ]
        if len(unpinned) < self._entries_max:
            return True
        highest_round, victim = max(unpinned)
        if highest_round < round_:
            return False  # everything kept is of an earlier round than the newcomer: keep them
        self._remove(victim)
        return True

    def _remove(self, block_hash: Hash) -> None:
        body = self._by_hash.pop(block_hash)
        if body.slot is not None and self._slots.get(body.slot) == block_hash:
            del self._slots[body.slot]
