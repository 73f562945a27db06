"""Counters of the transport, for the node's metrics endpoint and for tests.

Plain integers mutated on the event loop thread only, so no locking; read a
consistent copy with `NetworkMetrics.snapshot`.
"""

from __future__ import annotations

from collections import Counter


class NetworkMetrics:
    """Totals since the transport was built."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "connections_accepted",
        "connections_dialed",
        "disconnects",
        "gossip_dropped",
        "handler_errors",
        "handshakes_completed",
        "messages_discarded",
        "messages_in",
        "messages_in_by_channel",
        "messages_out",
        "messages_out_by_channel",
        "receive_throttled_s",
    )

    def __init__(self) -> None:
        self.bytes_in = 0
        """Frame bytes (length prefix included) received after the handshake."""
        self.bytes_out = 0
        self.messages_in = 0
        self.messages_out = 0
        self.messages_in_by_channel: Counter[str] = Counter()
        self.messages_out_by_channel: Counter[str] = Counter()
        self.connections_accepted = 0
        """TCP connections accepted (before any handshake)."""
        self.connections_dialed = 0
        self.handshakes_completed = 0
        self.disconnects: Counter[str] = Counter()
        """Connections ended, by `DisconnectReason` value (failed handshakes included)."""
        self.gossip_dropped = 0
        """Drop-oldest channel messages dropped because a peer's queue was full."""
        self.messages_discarded = 0
        """Queued messages thrown away because their peer disconnected before they were sent."""
        self.handler_errors = 0
        """Handler failures not blamed on the sender: a bug (logged with its traceback) or a NetworkError."""
        self.receive_throttled_s = 0.0
        """Total time reading from peers was paused by the receive rate limits."""

    def snapshot(self) -> dict[str, float]:
        """Flat name → value, with ``disconnects.<reason>`` and ``messages_in.<channel>`` entries."""
        values: dict[str, float] = {
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "connections_accepted": self.connections_accepted,
            "connections_dialed": self.connections_dialed,
            "handshakes_completed": self.handshakes_completed,
            "gossip_dropped": self.gossip_dropped,
            "messages_discarded": self.messages_discarded,
            "handler_errors": self.handler_errors,
            "receive_throttled_s": self.receive_throttled_s,
        }
        values.update({f"disconnects.{reason}": count for reason, count in sorted(self.disconnects.items())})
        values.update({f"messages_in.{name}": count for name, count in sorted(self.messages_in_by_channel.items())})
        values.update({f"messages_out.{name}": count for name, count in sorted(self.messages_out_by_channel.items())})
        return values
