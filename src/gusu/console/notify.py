"""Alert notifications: a JSON POST to a webhook, and e-mail through an SMTP server.

Both are bounded: each attempt has a timeout, failures are retried a fixed
number of times with a fixed pause, and the outcome is a short text recorded
in the alert history (never an exception: a failing receiver must not stop the
monitor). Webhooks do not follow redirects, so a receiver cannot send the
console's POST somewhere the operator did not name. E-mail uses the standard
library (`smtplib`, `email`) in a worker thread.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiohttp

from gusu.console.alert_store import SmtpServer
from gusu.ledger.jsonview import JSONObject

OUTCOME_LENGTH_MAX = 200
"""Longest failure text kept in the history."""


@dataclass(frozen=True, slots=True)
class DeliveryLimits:
    timeout_s: float = 5.0
    """Longest one attempt may take."""
    retries_max: int = 2
    """Attempts after the first failed one."""
    retry_delay_s: float = 1.0
    """Pause before each retry."""


@dataclass(frozen=True, slots=True)
class Notification:
    rule_id: int
    rule_name: str
    kind: str
    status: str
    """``firing`` or ``resolved``."""
    threshold: int
    observed: str
    time_ms: int
    endpoint: str
    """The node of the chain the event is about."""
    chain_id: int = 0
    """That chain's number in the console (0: the console's own endpoint)."""
    chain_name: str = ""
    """That chain's name ('' for the console's own endpoint)."""


def compute_webhook_body(notification: Notification) -> JSONObject:
    return {
        "source": "gusu-console",
        "rule_id": notification.rule_id,
        "rule": notification.rule_name,
        "kind": notification.kind,
        "status": notification.status,
        "threshold": notification.threshold,
        "observed": notification.observed,
        "time_ms": notification.time_ms,
        "endpoint": notification.endpoint,
        "chain_id": notification.chain_id,
        "chain": notification.chain_name,
    }


_STATUS_ZH = {"firing": "告警", "resolved": "恢复"}


def compute_email(notification: Notification, sender: str, recipient: str) -> EmailMessage:
    """A plain-text message in Chinese and English (the rule name is checked free of control characters)."""
    message = EmailMessage()
    status_zh = _STATUS_ZH.get(notification.status, notification.status)
    message["Subject"] = f"[Gusu] {status_zh} / {notification.status}: {notification.rule_name}"
    message["From"] = sender
    message["To"] = recipient
    message["Date"] = formatdate(notification.time_ms / 1000, usegmt=True)
    message["Message-ID"] = make_msgid(domain="gusu.console")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(notification.time_ms / 1000))
    message.set_content(
        f"规则 / Rule: {notification.rule_name} ({notification.kind})\n"
        f"状态 / Status: {status_zh} / {notification.status}\n"
        f"阈值 / Threshold: {notification.threshold}\n"
        f"观测值 / Observed: {notification.observed}\n"
        f"时间 / Time: {when}\n"
        f"节点 / Node: {notification.endpoint}\n"
        f"链 / Chain: {notification.chain_name or '默认节点 / default node'} (#{notification.chain_id})\n"
    )
    return message


class _FinalFailure(Exception):
    """A failure that a retry cannot mend (the receiver refused the request itself)."""


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text[:OUTCOME_LENGTH_MAX]


async def _with_retries(attempt: Callable[[], Awaitable[str | None]], limits: DeliveryLimits) -> str:
    """Runs `attempt` (None: delivered, else why not) up to 1 + retries_max times; "ok" or the last reason."""
    reason = "not attempted"
    for number in range(limits.retries_max + 1):
        if number:
            await asyncio.sleep(limits.retry_delay_s)
        try:
            async with asyncio.timeout(limits.timeout_s):
                failed = await attempt()
        except _FinalFailure as error:
            return f"failed: {error}"
        except TimeoutError:
            failed = f"timed out after {limits.timeout_s:g}s"
        except (aiohttp.ClientError, OSError, smtplib.SMTPException, ValueError) as error:
            failed = _short(error)
        if failed is None:
            return "ok"
        reason = failed
    return f"failed after {limits.retries_max + 1} attempts: {reason}"[:OUTCOME_LENGTH_MAX]


async def send_webhook(
    session: aiohttp.ClientSession, url: str, notification: Notification, limits: DeliveryLimits
) -> str:
    """POSTs the JSON body; a 2xx answer is delivered, a 5xx or a network failure is retried, a 4xx is final."""
    body = compute_webhook_body(notification)

    async def attempt() -> str | None:
        async with session.post(url, json=body, allow_redirects=False) as response:
            if 200 <= response.status < 300:
                return None
            if response.status < 500:
                raise _FinalFailure(f"HTTP {response.status}")
            return f"HTTP {response.status}"

    return await _with_retries(attempt, limits)


def _send_email_blocking(server: SmtpServer, message: EmailMessage, timeout_s: float) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.security == "tls":
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout_s)
    with smtp:
        if server.security == "starttls":
            smtp.starttls(context=context)
        if server.username:
            smtp.login(server.username, server.password or "")
        smtp.send_message(message)


async def send_email(server: SmtpServer, recipient: str, notification: Notification, limits: DeliveryLimits) -> str:
    message = compute_email(notification, server.sender, recipient)

    async def attempt() -> str | None:
        # The thread cannot be cancelled; smtplib's own socket timeout bounds it as well.
        await asyncio.to_thread(_send_email_blocking, server, message, limits.timeout_s)
        return None

    return await _with_retries(attempt, limits)
