"""Full state keys: where a contract's key lives in the one flat state (and in the state tree).

A contract names keys inside its own namespace; the full key is the canonical
encoding of ``["gusu.state.v1", contract, key]``, whose length prefixes keep
two (contract, key) pairs from ever producing the same full key. It lives in
the ledger layer so that clients (the SDK, light clients) compute the key a
state proof is about with the executor's own function.
"""

from __future__ import annotations

from gusu.codec import encode

TAG_STATE_KEY = "gusu.state.v1"


def compute_state_key(contract: str, key: bytes) -> bytes:
    """The full state key of `key` in `contract`'s namespace."""
    return encode([TAG_STATE_KEY, contract, key])
