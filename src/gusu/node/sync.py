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

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import pairwise

from gusu.errors import GusuError, InvalidBlockError, StorageError
from gusu.ledger.types import (
    Address,
    CommitCertificate,
    Height,
    RawBlock,
    decode_commit_certificate,
    decode_raw_block,
)
from gusu.network.pacing import TokenBucket
from gusu.node.wire import SyncBlocks, SyncRequest, encode_blocks, encode_request

logger = logging.getLogger("gusu.node.sync")


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

    @property
    def settings(self) -> SyncSettings:
        return self._settings

    def get_peer_height(self, peer: Address) -> Height | None:
        return self._heights.get(peer)

    def get_highest_peer_height(self) -> Height | None:
        """The highest tip a peer reported, or None before any report."""
        return max(self._heights.values(), default=None)

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


class BlockSync:
    """Block sync for one node: answers peers' requests and imports certified blocks from the peers ahead.

    Everything it needs from the node is injected (the tip, the store's raw blocks, the import,
    the certificate check, the outbox, the clock), so it runs the same in the node and in tests.
    Whatever a peer sends that breaks the rules raises (the transport then drops that peer); our
    own local faults go to `on_local_fault`; a saturated verifier only pauses the import.
    """

    def __init__(
        self,
        *,
        scheduler: SyncScheduler,
        get_height: Callable[[], Height],
        get_raw_block: Callable[[Height], tuple[bytes, bytes | None] | None],
        verify_certificate: Callable[[RawBlock, CommitCertificate], None],
        import_block: Callable[[RawBlock, CommitCertificate], Awaitable[object]],
        send: Callable[[Address, bytes], None],
        answer_bytes_max: int,
        on_local_fault: Callable[[BaseException], None],
        clock_s: Callable[[], float],
        requests_per_peer_per_s: float = 10.0,
    ) -> None:
        self._scheduler = scheduler
        self._get_height = get_height
        self._get_raw_block = get_raw_block
        self._verify_certificate = verify_certificate
        self._import_block = import_block
        self._send = send
        self._answer_bytes_max = answer_bytes_max
        self._on_local_fault = on_local_fault
        self._clock_s = clock_s
        self._requests_per_peer_per_s = requests_per_peer_per_s
        self._request_budgets: dict[Address, TokenBucket] = {}
        self.requests_refused = 0

    @property
    def scheduler(self) -> SyncScheduler:
        return self._scheduler

    def on_status(self, peer: Address, height: Height) -> None:
        self._scheduler.on_status(peer, height)
        self.request_if_behind()

    def request_if_behind(self) -> None:
        """Ask one peer that is ahead for the next blocks, peers taking turns (see `SyncScheduler`)."""
        our_height = self._get_height()
        choice = self._scheduler.choose_request(our_height, self._clock_s())
        if choice is not None:
            peer, count = choice
            self._send(peer, encode_request(Height(our_height + 1), count))

    def answer_request(self, peer: Address, request: SyncRequest) -> None:
        """Send the blocks asked for (at most `blocks_per_request`, about `answer_bytes_max`), empty if we
        have none, so the asker learns at once; a peer asking more often than its budget gets nothing."""
        budget = self._request_budgets.get(peer)
        if budget is None:
            budget = self._request_budgets[peer] = TokenBucket(self._requests_per_peer_per_s, 1.0, self._clock_s)
        if budget.delay_for(1.0) > 0:
            self.requests_refused += 1
            return
        blocks: list[tuple[RawBlock, CommitCertificate]] = []
        size = 0
        last = request.from_height + min(request.count, self._scheduler.settings.blocks_per_request)
        for height in range(request.from_height, last):
            raw = self._get_raw_block(Height(height))
            if raw is None or raw[1] is None:
                break
            size += len(raw[0]) + len(raw[1])
            if blocks and size > self._answer_bytes_max:
                break
            blocks.append((decode_raw_block(raw[0]), decode_commit_certificate(raw[1])))
        self._send(peer, encode_blocks(blocks))

    async def on_blocks(self, peer: Address, message: SyncBlocks) -> None:
        """Import a peer's answer, if it answers our request to it; InvalidBlockError blames the peer."""
        heights = [block.header.height for block, _ in message.blocks]
        if not self._scheduler.on_answer(peer, self._get_height(), heights, self._clock_s()):
            return  # not an answer to a request of ours to this peer, or it served nothing new
        if any(later != earlier + 1 for earlier, later in pairwise(heights)):
            # Checked before anything is imported: an answer that breaks the rules is refused whole.
            raise InvalidBlockError("a sync answer's blocks must follow each other in height order, without gaps")
        for block, certificate in message.blocks:
            height = block.header.height
            if height <= self._get_height():
                continue  # consensus got there first
            if height != self._get_height() + 1:
                raise InvalidBlockError("sync blocks must continue from our tip in height order")
            self._verify_certificate(block, certificate)
            try:
                await self._import_block(block, certificate)
            except InvalidBlockError as error:
                if height <= self._get_height():
                    continue  # committed by consensus while we were checking it
                raise InvalidBlockError(
                    f"peer {peer.hex()} sent a certified block that does not apply: {error}"
                ) from error
            except StorageError as error:
                self._on_local_fault(error)
                return
            except GusuError as error:
                # Our verifier is saturated: not the peer's fault. Ask again on the next status round.
                logger.info("block sync paused at height %d: %s", height, error)
                return
        self.request_if_behind()
