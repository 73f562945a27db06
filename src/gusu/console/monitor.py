"""The alert monitor: a background task of the console server that looks at the chains on an interval.

Each look (`Monitor.on_tick`) reads the enabled rules from the store and the
chains to watch (`get_targets`: the console's own endpoint, and every chain of
the chains page that is running or registered), gathers one `Observation` per
chain that some enabled rule applies to, all at once, through the node's
documented API (``gusu_status``, ``gusu_peers``, and ``GET /metrics`` only when
a certificate rule of that chain needs it), evaluates that chain's rules
(`compute_evaluation`, pure), appends each transition to the alert history with
the chain's number and name, and sends its notifications in a separate task, so
a slow receiver never delays the next look. With no enabled rule it makes no
node call. States live in memory per (chain, rule); at start a pair whose latest
event is ``firing`` is taken as firing, so a console restart does not announce
an incident again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import web

from gusu.console.accounts import ACCESS_SETTINGS_KEY, STORE_KEY
from gusu.console.alert_store import AlertStore
from gusu.console.alerts import (
    DEFAULT_CHAIN_ID,
    AlertRule,
    Observation,
    RuleState,
    Transition,
    compute_certificates,
    compute_evaluation,
    is_metrics_needed,
    is_rule_for_chain,
)
from gusu.console.chain_store import ChainRecord, ChainStore
from gusu.console.notify import DeliveryLimits, Notification, send_email, send_webhook
from gusu.console.settings import ConsoleSettings
from gusu.errors import GusuError
from gusu.sdk import AsyncClient

_log = logging.getLogger(__name__)

METRICS_BYTES_MAX: Final = 4 * 1024 * 1024
"""Largest /metrics page read (a node with many peers has one line per certificate)."""
DELIVERIES_MAX: Final = 100
"""Most notification tasks under way at once; beyond it a transition is recorded but not sent."""
WATCHED_CHAIN_STATES: Final = ("running", "registered")
"""Chains of the chains page the monitor looks at: a local chain being created, started, stopped or failed is
the chains page's business (it shows why), not an incident."""
WATCHED_CHAINS_MAX: Final = 100
"""Most chains of the chains page one look observes (the console's own endpoint comes on top); the lowest
numbers first."""


@dataclass(frozen=True, slots=True)
class MonitorTarget:
    """A chain the monitor looks at: its number (`DEFAULT_CHAIN_ID` for the console's endpoint), name, endpoint."""

    chain_id: int
    name: str
    """'' for the console's endpoint (pages show it as the default node)."""
    endpoint: str
    ca_certificate: str | None = None


def compute_targets(default_endpoint: str, chains: Sequence[ChainRecord]) -> list[MonitorTarget]:
    """The console's endpoint, then the watched chains of the chains page, by number, at most WATCHED_CHAINS_MAX."""
    watched = sorted((c for c in chains if c.state in WATCHED_CHAIN_STATES), key=lambda chain: chain.chain_id)
    return [MonitorTarget(DEFAULT_CHAIN_ID, "", default_endpoint)] + [
        MonitorTarget(chain.chain_id, chain.name, chain.endpoint, chain.ca_certificate)
        for chain in watched[:WATCHED_CHAINS_MAX]
    ]


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
        self,
        store: AlertStore,
        client: AsyncClient,
        settings: ConsoleSettings,
        session: aiohttp.ClientSession,
        chains: ChainStore | None = None,
    ) -> None:
        """`client` reads the console's endpoint; `chains` (None: watch only that endpoint) lists the others."""
        self.store = store
        self.client = client
        self.settings = settings
        self.session = session
        self.chains = chains
        self.states: dict[int, dict[int, RuleState]] = {}
        """Per chain number, per rule."""
        self.limits = DeliveryLimits(
            settings.notify_timeout_s, settings.notify_retries_max, settings.notify_retry_delay_s
        )
        self._deliveries: set[asyncio.Task[None]] = set()
        self._clients: dict[tuple[int, str, str | None], AsyncClient] = {}
        self.ticks = 0

    async def on_start(self) -> None:
        for rule_id, chain_id in await self.store.list_firing_keys():
            self.states.setdefault(chain_id, {})[rule_id] = RuleState(firing=True)

    async def get_targets(self) -> list[MonitorTarget]:
        chains = await self.chains.list_chains() if self.chains is not None else []
        return compute_targets(self.settings.endpoint, chains)

    def _get_client(self, target: MonitorTarget) -> AsyncClient:
        if target.chain_id == DEFAULT_CHAIN_ID:
            return self.client
        key = (target.chain_id, target.endpoint, target.ca_certificate)
        client = self._clients.get(key)
        if client is None:
            ca = target.ca_certificate
            context = None if ca is None else ssl.create_default_context(cadata=ca)
            client = self._clients[key] = AsyncClient(
                target.endpoint, timeout_s=self.settings.node_timeout_s, retries_max=0, ssl_context=context
            )
        return client

    async def _drop_clients(self, keep: set[tuple[int, str, str | None]]) -> None:
        """Closes the clients of chains no longer watched (or whose endpoint changed)."""
        for key in [key for key in self._clients if key not in keep]:
            await self._clients.pop(key).close()

    async def on_tick(self) -> list[Transition]:
        """One look at every watched chain and evaluation; returns the transitions it recorded."""
        self.ticks += 1
        rules = [rule for rule in await self.store.list_rules() if rule.enabled]
        if not rules:
            self.states = {}
            return []
        targets = [
            (target, chain_rules)
            for target in await self.get_targets()
            if (chain_rules := [rule for rule in rules if is_rule_for_chain(rule, target.chain_id)])
        ]
        await self._drop_clients({(t.chain_id, t.endpoint, t.ca_certificate) for t, _ in targets})
        observations = await asyncio.gather(
            *(
                get_observation(
                    self._get_client(target),
                    self.session,
                    self.settings.endpoint if target.chain_id == DEFAULT_CHAIN_ID else target.endpoint,
                    is_metrics_needed(chain_rules),
                    self.settings.node_timeout_s,
                )
                for target, chain_rules in targets
            )
        )
        new_states: dict[int, dict[int, RuleState]] = {}
        recorded: list[Transition] = []
        for (target, chain_rules), observation in zip(targets, observations, strict=True):
            states, transitions = compute_evaluation(chain_rules, self.states.get(target.chain_id, {}), observation)
            new_states[target.chain_id] = states
            for transition in transitions:
                await self._on_transition(target, transition)
            recorded.extend(transitions)
        self.states = new_states
        return recorded

    async def _on_transition(self, target: MonitorTarget, transition: Transition) -> None:
        event_id = await self.store.append_event(
            transition.rule,
            transition.status,
            transition.observed,
            transition.time_ms,
            self.settings.alert_history_max,
            target.chain_id,
            target.name,
        )
        rule: AlertRule = transition.rule
        if (rule.webhook_url or rule.email_to) and len(self._deliveries) < DELIVERIES_MAX:
            task = asyncio.create_task(self.on_deliver(event_id, transition, target))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def on_deliver(self, event_id: int, transition: Transition, target: MonitorTarget | None = None) -> None:
        rule = transition.rule
        notification = Notification(
            rule.rule_id,
            rule.name,
            rule.kind,
            transition.status,
            rule.threshold,
            transition.observed,
            transition.time_ms,
            self.settings.endpoint if target is None or target.chain_id == DEFAULT_CHAIN_ID else target.endpoint,
            DEFAULT_CHAIN_ID if target is None else target.chain_id,
            "" if target is None else target.name,
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
        await self._drop_clients(set())


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
        backend = app[STORE_KEY].backend
        monitor = Monitor(AlertStore(backend), app[client_key], settings, session, ChainStore(backend))
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
