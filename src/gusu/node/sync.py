"""Which peer to ask for blocks next: fair turns, one request at a time, timeouts and penalties.

A node that is behind asks a peer that reported a greater height for the
next blocks. A Byzantine peer must not be able to starve it, so:

* only an answer from the peer that was asked, to the request that was sent,
  frees the request slot; anything else is ignored;
* an answer that brings nothing new (empty, or not starting at the height
  asked for) or no answer within `request_timeout_s` is a strike: the peer is
  passed over for `penalty_s`, doubling with each strike up to
  `penalty_max_s`; a useful answer clears its strikes;
* peers take turns (round robin in address order), so even a peer that
  answers usefully but slowly cannot keep the slot for itself.

Pure bookkeeping: the caller passes the time (`now_s`) and sends the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from gusu.ledger.types import Address, Height


@dataclass(frozen=True, slots=True)
class SyncSettings:
    blocks_per_request: int = 32
    request_timeout_s: float = 5.0
    penalty_s: float = 5.0
    penalty_max_s: float = 300.0
    peers_max: int = 1_024


@dataclass(slots=True)
class _Request:
    peer: Address
    from_height: Height
    sent_s: float


class SyncScheduler:
    def __init__(self, settings: SyncSettings) -> None:
        self._settings = settings
        self._heights: dict[Address, Height] = {}
        self._strikes: dict[Address, int] = {}
        self._penalised_until_s: dict[Address, float] = {}
        self._request: _Request | None = None
        self._last_peer: Address | None = None

    def get_peer_height(self, peer: Address) -> Height | None:
        return self._heights.get(peer)

    def get_penalty_until_s(self, peer: Address) -> float:
        return self._penalised_until_s.get(peer, 0.0)

    def on_status(self, peer: Address, height: Height) -> None:
        if peer in self._heights or len(self._heights) < self._settings.peers_max:
            self._heights[peer] = height

    def on_disconnected(self, peer: Address) -> None:
        self._heights.pop(peer, None)

    def choose_request(self, our_height: Height, now_s: float) -> tuple[Address, int] | None:
        """The peer to ask now and how many blocks, or None (nobody is ahead, or a request is in flight)."""
        request = self._request
        if request is not None:
            if now_s - request.sent_s < self._settings.request_timeout_s:
                return None
            self._strike(request.peer, now_s)
            self._request = None
        candidates = sorted(
            peer
            for peer, height in self._heights.items()
            if height > our_height and self._penalised_until_s.get(peer, 0.0) <= now_s
        )
        if not candidates:
            return None
        after = [peer for peer in candidates if self._last_peer is not None and peer > self._last_peer]
        peer = (after or candidates)[0]
        self._last_peer = peer
        self._request = _Request(peer, Height(our_height + 1), now_s)
        count = min(int(self._heights[peer] - our_height), self._settings.blocks_per_request)
        return peer, count

    def on_answer(self, peer: Address, our_height: Height, heights: list[Height], now_s: float = 0.0) -> bool:
        """Record `peer`'s answer (the heights of the blocks it sent); True if they are worth importing."""
        request = self._request
        if request is None or request.peer != peer:
            return False  # unsolicited: ignored, and it frees nothing
        self._request = None
        if not heights or heights[0] != request.from_height or heights[-1] <= our_height:
            self._strike(peer, max(now_s, request.sent_s))
            return False
        self._strikes.pop(peer, None)
        return True

    def _strike(self, peer: Address, now_s: float) -> None:
        strikes = self._strikes.get(peer, 0) + 1
        self._strikes[peer] = strikes
        penalty = min(self._settings.penalty_s * 2 ** (strikes - 1), self._settings.penalty_max_s)
        self._penalised_until_s[peer] = now_s + penalty
