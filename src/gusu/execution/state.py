"""Contract state: namespaced keys and the overlays a block executes in.

World state is one flat map from byte keys to byte values. A contract never
sees a full key: it names a key inside its own namespace and the runtime
prefixes it, so no contract can read or overwrite another's data. The full
key is the canonical encoding of ``["gusu.state.v1", contract, key]``; the
length prefixes of the encoding keep two (contract, key) pairs from ever
producing the same full key.

Writes go through two overlays. Each transaction writes into its own dict,
which merges into the block's dict only if the transaction succeeds, so a
failed transaction leaves no trace. The block's dict, minus entries equal to
the committed state, is the block's net change set.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

from gusu.codec import encode
from gusu.errors import StorageError
from gusu.ledger.statekey import TAG_STATE_KEY as TAG_STATE_KEY
from gusu.ledger.statekey import compute_state_key as compute_state_key

MISSING: object = object()
"""Sentinel for "not in this overlay", distinct from None ("deleted")."""


class StateReader(Protocol):
    """Committed state as of the parent block, addressed by full keys."""

    def get(self, key: bytes) -> bytes | None: ...


@functools.lru_cache(maxsize=4096)
def compute_state_key_prefix(contract: str) -> bytes:
    """The bytes every full key of `contract` starts with (cached: a pure function of the name).

    A canonical three-item list is the one-byte header 0x93 followed by the
    items' encodings, so the full key is this prefix plus `encode_key_suffix`;
    the runtime builds keys that way to avoid encoding the tag on every access.
    """
    full = encode([TAG_STATE_KEY, contract, b""])
    return full[: -len(encode(b""))]


def encode_key_suffix(key: bytes) -> bytes:
    """The canonical encoding of a byte string (MessagePack bin 8/16/32)."""
    size = len(key)
    if size < 0x100:
        return b"\xc4" + size.to_bytes(1, "big") + key
    if size < 0x10000:
        return b"\xc5" + size.to_bytes(2, "big") + key
    return b"\xc6" + size.to_bytes(4, "big") + key


class BlockState:
    """The state one block executes against: committed state plus the block's writes."""

    __slots__ = ("_committed", "_reader", "storage_failure", "writes")

    def __init__(self, reader: StateReader) -> None:
        self._reader = reader
        self.storage_failure: StorageError | None = None
        """The first failure of the committed-state reader: a local fault, which must stop the node
        (`Executor` re-raises it after the transaction, even if a contract caught it)."""
        # Committed state cannot change while a block executes, so each key is
        # read from the (possibly disk-backed) reader at most once per block.
        self._committed: dict[bytes, bytes | None] = {}
        self.writes: dict[bytes, bytes | None] = {}
        """Writes of the block's successful transactions so far; None = deleted."""

    def get_committed(self, key: bytes) -> bytes | None:
        value = self._committed.get(key, MISSING)
        if value is MISSING:
            value = self._read(key)
            self._committed[key] = value
        return value  # type: ignore[return-value]

    def _read(self, key: bytes) -> bytes | None:
        try:
            return self._reader.get(key)
        except StorageError as error:
            if self.storage_failure is None:
                self.storage_failure = error
            raise

    def get(self, key: bytes) -> bytes | None:
        # get_committed inlined: this runs for every state read of every transaction.
        value = self.writes.get(key, MISSING)
        if value is MISSING:
            value = self._committed.get(key, MISSING)
            if value is MISSING:
                value = self._read(key)
                self._committed[key] = value
        return value  # type: ignore[return-value]

    def apply_writes(self, writes: dict[bytes, bytes | None]) -> None:
        self.writes.update(writes)

    def compute_net_writes(self) -> tuple[tuple[bytes, bytes | None], ...]:
        """The block's writes sorted by key, without those that change nothing."""
        writes = self.writes
        net = []
        for key in sorted(writes):
            value = writes[key]
            if value != self.get_committed(key):
                net.append((key, value))
        return tuple(net)


class CommittedReader:
    """The committed state of a `BlockState`, without the block's writes, read through its cache.

    Governance checks read this: a registry change made in block H is in force from H + 1.
    """

    __slots__ = ("get",)

    get: Callable[[bytes], bytes | None]

    def __init__(self, state: BlockState) -> None:
        # The bound method itself, not a wrapper: this runs for every transaction.
        self.get = state.get_committed
