"""The alert monitor: a background task of the console server that looks at the node on an interval.

Each look (`Monitor.on_tick`) reads the enabled rules from the store, gathers
one `Observation` through the node's documented API (``gusu_status``,
``gusu_peers``, and ``GET /metrics`` only when a certificate rule needs it),
evaluates the rules (`compute_evaluation`, pure), appends each transition to
the alert history and sends its notifications in a separate task, so a slow
receiver never delays the next look. With no enabled rule it makes no node call.
States live in memory; at start a rule whose latest event is ``firing`` is taken
as firing, so a console restart does not announce an incident again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Final

import aiohttp
from aiohttp import web

from gusu.console.accounts import ACCESS_SETTINGS_KEY, STORE_KEY
from gusu.console.alert_store import AlertStore
from gusu.console.alerts import (
    Observation,
    RuleState,
    Transition,
    compute_certificates,
    compute_evaluation,
    is_metrics_needed,
)
from gusu.console.notify import DeliveryLimits, Notification, send_email, send_webhook
from gusu.console.settings import ConsoleSettings
from gusu.errors import GusuError
from gusu.sdk import AsyncClient

_log = logging.getLogger(__name__)

METRICS_BYTES_MAX: Final = 4 * 1024 * 1024
"""Largest /metrics page read (a node with many peers has one line per certificate)."""
DELIVERIES_MAX: Final = 100
"""Most notification tasks under way at once; beyond it a transition is recorded but not sent."""


def _now_ms() -> int:
    return int(time.time() * 1000)


async def get_observation(
    client: AsyncClient, session: aiohttp.ClientSession, endpoint: str, with_metrics: bool, timeout_s: float
) -> Observation:
    """One look at the node; an unreachable node is an observation too (``reachable=False``)."""
    now_ms = _now_ms()
    try:
        status = await client.status()
        peers = await client.peers()
    except (GusuError, aiohttp.ClientError, OSError, TimeoutError):
        return Observation(now_ms, False)
    certificates = None
    if with_metrics:
        try:
            async with asyncio.timeout(timeout_s), session.get(f"{endpoint}/metrics") as response:
                if response.status == 200:
                    body = await response.content.read(METRICS_BYTES_MAX)
                    certificates = compute_certificates(body.decode("utf-8", errors="replace"))
        except (aiohttp.ClientError, OSError, TimeoutError):
            certificates = None
    return Observation(now_ms, True, status.height, len(peers), status.mempool_transactions, certificates)


class Monitor:
    def __init__(
        self, store: AlertStore, client: AsyncClient, settings: ConsoleSettings, session: aiohttp.ClientSession
    ) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.session = session
        self.states: dict[int, RuleState] = {}
        self.limits = DeliveryLimits(
            settings.notify_timeout_s, settings.notify_retries_max, settings.notify_retry_delay_s
        )
        self._deliveries: set[asyncio.Task[None]] = set()
        self.ticks = 0

    async def on_start(self) -> None:
        for rule_id in await self.store.list_firing_rule_ids():
            self.states[rule_id] = RuleState(firing=True)

    async def on_tick(self) -> list[Transition]:
        """One look and evaluation; returns the transitions it recorded."""
        self.ticks += 1
        rules = await self.store.list_rules()
        if not any(rule.enabled for rule in rules):
            self.states = {}
            return []
        observation = await get_observation(
            self.client, self.session, self.settings.endpoint, is_metrics_needed(rules), self.settings.node_timeout_s
        )
        self.states, transitions = compute_evaluation(rules, self.states, observation)
        for transition in transitions:
            event_id = await self.store.append_event(
                transition.rule,
                transition.status,
                transition.observed,
                transition.time_ms,
                self.settings.alert_history_max,
            )
            if (transition.rule.webhook_url or transition.rule.email_to) and len(self._deliveries) < DELIVERIES_MAX:
                task = asyncio.create_task(self.on_deliver(event_id, transition))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
        return transitions

    async def on_deliver(self, event_id: int, transition: Transition) -> None:
        rule = transition.rule
        notification = Notification(
            rule.rule_id,
            rule.name,
            rule.kind,
            transition.status,
            rule.threshold,
            transition.observed,
            transition.time_ms,
            self.settings.endpoint,
        )
        outcomes = []
        if rule.webhook_url:
            outcomes.append("webhook " + await send_webhook(self.session, rule.webhook_url, notification, self.limits))
        if rule.email_to:
            server = await self.store.get_smtp()
            if server is None:
                outcomes.append("email not sent: no SMTP server is set")
            else:
                outcomes.append("email " + await send_email(server, rule.email_to, notification, self.limits))
        await self.store.apply_delivery(event_id, "; ".join(outcomes))

    async def wait_deliveries(self) -> None:
        """Waits for the notifications under way (tests)."""
        while self._deliveries:
            await asyncio.gather(*list(self._deliveries), return_exceptions=True)

    async def run(self) -> None:
        await self.on_start()
        while True:
            try:
                await self.on_tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The store or the node answered something unexpected: log it and look again next time.
                _log.exception("alert monitor look failed")
            await asyncio.sleep(self.settings.alert_interval_s)

    async def close(self) -> None:
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*list(self._deliveries), return_exceptions=True)


class MonitorSlot:
    """Holds the running monitor: it is made at startup (it needs the open store), after the app is frozen."""

    monitor: Monitor | None = None


MONITOR_KEY: Final = web.AppKey("alert_monitor", MonitorSlot)


def get_monitor(app: web.Application) -> Monitor:
    monitor = app[MONITOR_KEY].monitor
    assert monitor is not None, "the console application is not running"
    return monitor


def add_monitor(app: web.Application, client_key: web.AppKey[AsyncClient]) -> None:
    """Runs the monitor while the application runs (append it after the store's context: it needs the store)."""

    app[MONITOR_KEY] = MonitorSlot()

    async def monitor_context(app: web.Application) -> AsyncIterator[None]:
        settings = app[ACCESS_SETTINGS_KEY]
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.notify_timeout_s))
        monitor = Monitor(AlertStore(app[STORE_KEY].backend), app[client_key], settings, session)
        app[MONITOR_KEY].monitor = monitor
        task = asyncio.create_task(monitor.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await monitor.close()
        await session.close()
        app[MONITOR_KEY].monitor = None

    app.cleanup_ctx.append(monitor_context)
