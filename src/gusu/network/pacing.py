"""Timing rules of the transport: redial backoff and per-peer receive rate limits.

Both take their time and randomness from the caller, so tests (and a
simulator) can drive them deterministically.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def compute_backoff_ms(failures: int, minimum_ms: int, maximum_ms: int, rng: random.Random) -> float:
    """Delay before the next dial after `failures` consecutive failures (0 after a clean disconnect).

    The ceiling doubles per failure up to `maximum_ms`; the delay is half the
    ceiling plus a random part of the other half ("equal jitter"), so nodes
    that lost a peer at the same moment do not all redial in step, while the
    delay still grows reliably.
    """
    ceiling = min(float(maximum_ms), minimum_ms * 2.0 ** min(max(failures, 0), 40))
    return ceiling / 2 + rng.random() * ceiling / 2


class TokenBucket:
    """A rate with a burst allowance: `delay_for(cost)` says how long to wait before spending `cost`.

    Debt is allowed (a single message larger than the burst still passes,
    followed by a proportional pause), so a legitimate large frame is never
    refused, only paced.
    """

    __slots__ = ("_capacity", "_clock", "_rate", "_tokens", "_updated")

    def __init__(self, rate_per_s: float, burst_s: float, clock: Callable[[], float]) -> None:
        self._rate = float(rate_per_s)
        self._capacity = self._rate * burst_s
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()

    def delay_for(self, cost: float) -> float:
        """Spend `cost` now and return the seconds to wait before the next spend is within the rate."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        self._tokens -= cost
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate
