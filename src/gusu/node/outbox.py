"""A peer's outbox: what the node has to send to one peer, bounded in messages and bytes.

The node never waits to hand a message on: the consensus engine's actions are
carried out at once, and each peer's sender task drains its own outbox into
the transport. A peer that reads slowly, or not at all, fills only its own
outbox; what does not fit is dropped and counted (the engine re-sends its
current messages each rebroadcast interval, block sync and body requests are
asked again), so it can neither delay our votes to the other validators nor
make us hold more than `bytes_max` for it.
"""

from __future__ import annotations

import asyncio
from collections import deque


class PeerOutbox:
    """A bounded FIFO of (channel, body) with an awaitable `pop`."""

    def __init__(self, messages_max: int, bytes_max: int) -> None:
        assert messages_max > 0 and bytes_max > 0
        self._messages_max = messages_max
        self._bytes_max = bytes_max
        self._queue: deque[tuple[str, bytes]] = deque()
        self._size_bytes = 0
        self._ready = asyncio.Event()

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, channel: str, body: bytes) -> bool:
        """Queue a message; False (nothing queued) if it would pass either bound."""
        if len(self._queue) >= self._messages_max or self._size_bytes + len(body) > self._bytes_max:
            return False
        self._queue.append((channel, body))
        self._size_bytes += len(body)
        self._ready.set()
        return True

    async def pop(self) -> tuple[str, bytes]:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        channel, body = self._queue.popleft()
        self._size_bytes -= len(body)
        return channel, body

    def clear(self) -> None:
        self._queue.clear()
        self._size_bytes = 0
