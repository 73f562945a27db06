"""The node's metrics: counters and latency histograms, read by `Node.get_metrics`."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from gusu.node.service import Histogram


class HistogramRecorder:
    """A Prometheus-style histogram: counts per bucket bound, the sum and the count."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._total = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._total += value
        self._count += 1

    def get_snapshot(self) -> Histogram:
        cumulative = []
        running = 0
        for count in self._counts[:-1]:
            running += count
            cumulative.append(running)
        return Histogram(self._bounds, tuple(cumulative), self._total, self._count)


@dataclass(slots=True)
class NodeCounters:
    """The node's monotonic counters (exported as `*_total` metrics)."""

    blocks_committed: int = 0
    transactions_committed: int = 0
    transactions_failed: int = 0
    transactions_rejected: int = 0
    transactions_dropped: int = 0
    block_signatures_verified: int = 0
    """Signatures of proposed or synced blocks' transactions this node had not admitted itself."""
    gossip_dropped: int = 0
    """Gossiped transactions not admitted because too many gossip admissions were under way."""
    outbox_dropped: int = 0
    """Messages not queued because a peer's outbox was full (it reads too slowly, or not at all)."""
    body_requests_refused: int = 0
    """Block-body requests not answered because the peer asked too often."""
    early_blocks: int = 0
    """Own blocks that used what early execution had executed (`gusu.node.early`)."""
    early_transactions: int = 0
    """Transactions those blocks had executed before their proposal was due."""
    early_dropped: int = 0
    """Blocks executed early but dropped: the pool, the tip or the rules changed under them (built anew)."""
