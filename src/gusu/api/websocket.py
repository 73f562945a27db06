"""JSON-RPC over WebSocket (/ws), with newBlocks and events subscriptions.

Each connection has one bounded send queue drained by one writer task.
Replies wait for room in it, which pauses reading from that client: a
client that floods requests without reading is slowed down, not buffered
without end. Notifications never wait: they come from the node's commit
callback, which must not block, so a subscriber whose queue is full is
disconnected with close code 1008 and can reconnect and catch up from the
block height it last saw.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from gusu.api.errors import SubscriptionLimitError
from gusu.api.methods import encoded_value_to_json
from gusu.api.rpc import RequestContext, RpcDispatcher, SubscriptionKind, SubscriptionRender
from gusu.api.settings import ApiSettings
from gusu.errors import InvalidRequestError
from gusu.ledger.jsonview import JSONObject, bytes_to_hex
from gusu.ledger.types import Event, Hash
from gusu.node.service import BlockNotification, NodeService

logger = logging.getLogger("gusu.api")

SUBSCRIPTION_ID_BYTES: Final = 16
_CLOSE_REASON_BYTES_MAX: Final = 123
"""RFC 6455: a close frame's payload is at most 125 bytes, two of them the code."""
_NOTIFICATION_HEAD: Final = b'{"jsonrpc":"2.0","method":"gusu_subscription","params":{"subscription":'
_ETH_NOTIFICATION_HEAD: Final = b'{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":'


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    kind: SubscriptionKind
    contract: str | None = None
    name: str | None = None
    render: SubscriptionRender | None = None


def notification_bytes(subscription_id: str, result: bytes, head: bytes = _NOTIFICATION_HEAD) -> bytes:
    """A gusu_subscription notification around an already serialised result.

    Splicing bytes lets one block's result be serialised once and shared
    by every subscriber, whose messages differ only in the id.
    """
    return head + orjson.dumps(subscription_id) + b',"result":' + result + b"}}"


class WebSocketSession:
    """One client connection: its subscriptions and its send queue."""

    def __init__(self, ws: web.WebSocketResponse, settings: ApiSettings) -> None:
        self._ws = ws
        self._settings = settings
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=settings.websocket_queue_messages_max)
        self._active: dict[str, Subscription] = {}
        self._pending: dict[str, Subscription] = {}
        self._closing = False
        self._writer: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def has_subscriptions(self) -> bool:
        return bool(self._active)

    def active_subscriptions(self) -> list[Subscription]:
        return list(self._active.values())

    @property
    def subscription_count(self) -> int:
        return len(self._active) + len(self._pending)

    # --- the rpc.Session protocol --------------------------------------------------------

    def subscribe(
        self,
        kind: SubscriptionKind,
        contract: str | None,
        name: str | None,
        render: SubscriptionRender | None = None,
    ) -> tuple[str, Callable[[], None]]:
        limit = self._settings.websocket_subscriptions_max
        if self.subscription_count >= limit:
            raise SubscriptionLimitError(
                f"this connection already has {limit} subscriptions, the limit; "
                "gusu_unsubscribe (or eth_unsubscribe) some, or open another connection"
            )
        subscription_id = "0x" + secrets.token_hex(SUBSCRIPTION_ID_BYTES)
        assert (kind == "eth") == (render is not None), "eth subscriptions, and only they, render themselves"
        subscription = Subscription(subscription_id, kind, contract, name, render)
        self._pending[subscription_id] = subscription

        def activate() -> None:
            if self._pending.pop(subscription_id, None) is not None:
                self._active[subscription_id] = subscription

        return subscription_id, activate

    def unsubscribe(self, subscription_id: str) -> bool:
        found = self._active.pop(subscription_id, None) or self._pending.pop(subscription_id, None)
        return found is not None

    # --- sending ---------------------------------------------------------------------------

    def start_writer(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def _write_loop(self) -> None:
        try:
            while True:
                message = await self._queue.get()
                await self._ws.send_frame(message, WSMsgType.TEXT)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The peer went away mid-send; the reading side notices and cleans up.
            logger.debug("websocket send failed: %s", error)
            self._closing = True

    async def reply(self, message: bytes) -> None:
        if not self._closing:
            await self._queue.put(message)

    def notify(self, message: bytes) -> bool:
        """Queue a notification without waiting; False if the session is (now) closing."""
        if self._closing:
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            logger.warning(
                "disconnecting a websocket subscriber that fell %d messages behind",
                self._settings.websocket_queue_messages_max,
            )
            self.close_soon(
                WSCloseCode.POLICY_VIOLATION,
                f"too slow: {self._settings.websocket_queue_messages_max} messages queued; "
                "reconnect, read faster or subscribe to less",
            )
            return False
        return True

    def close_soon(self, code: int, reason: str) -> None:
        """Start closing from synchronous code (such as the node's commit callback)."""
        if self._close_task is not None:
            return
        self._closing = True
        self._close_task = asyncio.get_running_loop().create_task(self.close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        self._closing = True
        if self._writer is not None:
            self._writer.cancel()
        message = reason.encode()[:_CLOSE_REASON_BYTES_MAX]
        try:
            async with asyncio.timeout(self._settings.websocket_close_timeout_s):
                await self._ws.close(code=code, message=message)
        except TimeoutError:
            logger.debug("websocket peer did not complete the close in time")
        except Exception as error:
            logger.debug("websocket close failed: %s", error)

    async def stop(self) -> None:
        """Release everything once the connection is over."""
        self._closing = True
        self._active.clear()
        self._pending.clear()
        tasks = [task for task in (self._writer, self._close_task) if task is not None]
        if self._writer is not None:
            self._writer.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if not self._ws.closed:
            await self.close(WSCloseCode.OK, "")


class WebSocketHub:
    """Serves /ws and fans committed blocks out to the subscribers."""

    def __init__(self, dispatcher: RpcDispatcher, settings: ApiSettings) -> None:
        self._dispatcher = dispatcher
        self._settings = settings
        self._sessions: set[WebSocketSession] = set()
        self._remove_listener: Callable[[], None] | None = None

    def listen(self, node: NodeService) -> None:
        """Start receiving the node's commits (once; the server calls this on startup)."""
        if self._remove_listener is None:
            self._remove_listener = node.add_block_listener(self.on_block)

    def stop_listening(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None

    @property
    def connection_count(self) -> int:
        return len(self._sessions)

    @property
    def subscription_count(self) -> int:
        return sum(session.subscription_count for session in self._sessions)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            max_msg_size=self._settings.body_bytes_max,
            heartbeat=self._settings.websocket_heartbeat_s,
            timeout=self._settings.websocket_close_timeout_s,
            # Per-message deflate costs more CPU than the bandwidth it saves on a LAN.
            compress=False,
        )
        if not ws.can_prepare(request).ok:
            raise InvalidRequestError(
                "GET /ws is the WebSocket endpoint: connect with a WebSocket client; "
                "for plain HTTP use POST /rpc or the REST routes"
            )
        await ws.prepare(request)
        session = WebSocketSession(ws, self._settings)
        session.start_writer()
        self._sessions.add(session)
        in_flight = asyncio.Semaphore(self._settings.websocket_requests_in_flight_max)
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for message in ws:
                if session.closing:
                    break
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    # Binary frames carry the same UTF-8 JSON: web3.py's WebSocketProvider sends them.
                    # Waiting here stops reading: the client's own requests pace it.
                    await in_flight.acquire()
                    task = asyncio.create_task(self._answer(session, message.data, in_flight))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif message.type is WSMsgType.ERROR:
                    # aiohttp has already closed with the matching code (1009 too big, 1007 bad UTF-8, ...).
                    logger.debug("websocket protocol error: %s", ws.exception())
                    break
        finally:
            self._sessions.discard(session)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await session.stop()
        return ws

    async def _answer(self, session: WebSocketSession, payload: str | bytes, in_flight: asyncio.Semaphore) -> None:
        try:
            context = RequestContext(session=session)
            reply = await self._dispatcher.handle(payload, context)
            if reply.body is not None:
                await session.reply(reply.body)
            for activate in context.after_reply:
                activate()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("websocket request failed unexpectedly")
        finally:
            in_flight.release()

    async def close_all(self, code: int, reason: str) -> None:
        sessions = list(self._sessions)
        if sessions:
            await asyncio.gather(*(session.close(code, reason) for session in sessions), return_exceptions=True)

    # --- publishing ---------------------------------------------------------------------

    def on_block(self, notification: BlockNotification) -> None:
        """The node's commit callback; never raises back into the node."""
        try:
            self._publish(notification)
        except Exception:
            logger.exception("could not publish block %d to websocket subscribers", notification.header.height)

    def _publish(self, notification: BlockNotification) -> None:
        targets = [session for session in self._sessions if session.has_subscriptions and not session.closing]
        if not targets:
            return
        block_result: bytes | None = None
        events = _BlockEvents(notification)
        for session in targets:
            for subscription in session.active_subscriptions():
                if subscription.kind == "newBlocks":
                    if block_result is None:
                        block_result = orjson.dumps(_block_result(notification))
                    delivered = session.notify(notification_bytes(subscription.subscription_id, block_result))
                elif subscription.render is not None:
                    delivered = all(
                        session.notify(
                            notification_bytes(subscription.subscription_id, payload, _ETH_NOTIFICATION_HEAD)
                        )
                        for payload in subscription.render(notification)
                    )
                else:
                    delivered = all(
                        session.notify(notification_bytes(subscription.subscription_id, payload))
                        for payload in events.matching(subscription)
                    )
                if not delivered:
                    break


def _block_result(notification: BlockNotification) -> JSONObject:
    header = notification.header
    return {
        "height": header.height,
        "hash": bytes_to_hex(notification.block_hash),
        "timestamp_ms": header.timestamp_ms,
        "transaction_count": header.transaction_count,
        "transactions": [bytes_to_hex(transaction_id) for transaction_id in notification.transaction_ids],
    }


@dataclass(frozen=True, slots=True)
class _EventSite:
    transaction_id: Hash
    index: int
    event_index: int
    event: Event


class _BlockEvents:
    """One block's events, each serialised at most once however many subscribers match it.

    Nothing is computed until an events subscription asks: most blocks reach
    only newBlocks subscribers.
    """

    def __init__(self, notification: BlockNotification) -> None:
        self._notification = notification
        self._height = int(notification.header.height)
        self._sites: list[_EventSite] | None = None
        self._by_filter: dict[tuple[str | None, str | None], list[int]] = {}
        self._payloads: dict[int, bytes] = {}

    def matching(self, subscription: Subscription) -> list[bytes]:
        return [self._payload(position) for position in self._positions(subscription.contract, subscription.name)]

    def _positions(self, contract: str | None, name: str | None) -> list[int]:
        if self._sites is None:
            # Events of a failed transaction were rolled back with the rest of its effects.
            self._sites = [
                _EventSite(receipt.transaction_id, index, event_index, event)
                for index, receipt in enumerate(self._notification.receipts)
                if receipt.is_success
                for event_index, event in enumerate(receipt.events)
            ]
            # Index once by every filter shape, so each subscriber's lookup is a dict hit.
            for position, site in enumerate(self._sites):
                event = site.event
                for key in ((None, None), (event.contract, None), (None, event.name), (event.contract, event.name)):
                    self._by_filter.setdefault(key, []).append(position)
        return self._by_filter.get((contract, name), [])

    def _payload(self, position: int) -> bytes:
        payload = self._payloads.get(position)
        if payload is None:
            assert self._sites is not None
            site = self._sites[position]
            payload = orjson.dumps(
                {
                    "height": self._height,
                    "transaction_id": bytes_to_hex(site.transaction_id),
                    "index": site.index,
                    "event_index": site.event_index,
                    "contract": site.event.contract,
                    "name": site.event.name,
                    "data": encoded_value_to_json(site.event.data),
                }
            )
            self._payloads[position] = payload
        return payload
