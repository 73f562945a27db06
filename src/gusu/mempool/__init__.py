"""The transaction pool: a pure, deterministic core (see `gusu.mempool.pool` and docs/mempool.md)."""

from gusu.mempool.pool import (
    DroppedTransaction,
    Mempool,
    MempoolLimits,
    PoolTransaction,
    get_window,
    is_within_window,
    validate_window,
)

__all__ = [
    "DroppedTransaction",
    "Mempool",
    "MempoolLimits",
    "PoolTransaction",
    "get_window",
    "is_within_window",
    "validate_window",
]
