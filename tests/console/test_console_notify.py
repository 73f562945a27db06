"""Alert notifications against real local receivers: an aiohttp webhook server and an aiosmtpd SMTP server."""

from __future__ import annotations

import asyncio
import email
import json
import time
from collections.abc import Iterator
from email.message import Message
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from console_helpers import find_free_port

from gusu.console.alert_store import SmtpServer
from gusu.console.notify import DeliveryLimits, Notification, send_email, send_webhook

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="pip install aiosmtpd (the test extra)")
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

NOTIFICATION = Notification(
    7, "出块停滞 <stalled>", "height_stalled", "firing", 30, "31", 1_700_000_000_000, "http://n", 3, "远程链"
)
FAST = DeliveryLimits(timeout_s=1.0, retries_max=2, retry_delay_s=0.05)


class Receiver:
    """A webhook receiver whose answers are scripted: a list of statuses (or "slow") used in turn."""

    def __init__(self, answers: list[int | str]) -> None:
        self.answers = answers
        self.bodies: list[Any] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.bodies.append(await request.json())
        answer = self.answers[min(len(self.bodies), len(self.answers)) - 1]
        if answer == "slow":
            await asyncio.sleep(5)
            return web.Response(status=200)
        if answer == "redirect":
            return web.Response(status=307, headers={"Location": "/elsewhere"})
        assert isinstance(answer, int)
        return web.Response(status=answer)


async def _deliver(answers: list[int | str], limits: DeliveryLimits = FAST) -> tuple[str, Receiver, float]:
    receiver = Receiver(answers)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    app.router.add_post("/elsewhere", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = find_free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            outcome = await send_webhook(session, f"http://127.0.0.1:{port}/hook", NOTIFICATION, limits)
            return outcome, receiver, time.monotonic() - started
    finally:
        await runner.cleanup()


def test_webhook_posts_the_alert_as_json() -> None:
    outcome, receiver, _ = asyncio.run(_deliver([204]))
    assert outcome == "ok"
    assert receiver.bodies == [
        {
            "source": "gusu-console",
            "rule_id": 7,
            "rule": "出块停滞 <stalled>",
            "kind": "height_stalled",
            "status": "firing",
            "threshold": 30,
            "observed": "31",
            "time_ms": 1_700_000_000_000,
            "endpoint": "http://n",
            "chain_id": 3,
            "chain": "远程链",
        }
    ]


def test_webhook_retries_server_errors_then_delivers() -> None:
    outcome, receiver, _ = asyncio.run(_deliver([503, 500, 200]))
    assert outcome == "ok" and len(receiver.bodies) == 3


def test_webhook_gives_up_after_its_retries() -> None:
    outcome, receiver, _ = asyncio.run(_deliver([500]))
    assert outcome == "failed after 3 attempts: HTTP 500" and len(receiver.bodies) == 3


def test_webhook_does_not_retry_a_refusal_nor_follow_a_redirect() -> None:
    outcome, receiver, _ = asyncio.run(_deliver([400]))
    assert outcome == "failed: HTTP 400" and len(receiver.bodies) == 1
    outcome, receiver, _ = asyncio.run(_deliver(["redirect"]))
    assert outcome == "failed: HTTP 307" and len(receiver.bodies) == 1


def test_webhook_attempts_are_bounded_by_the_timeout() -> None:
    limits = DeliveryLimits(timeout_s=0.3, retries_max=1, retry_delay_s=0.05)
    outcome, receiver, elapsed = asyncio.run(_deliver(["slow"], limits))
    assert outcome == "failed after 2 attempts: timed out after 0.3s" and len(receiver.bodies) == 2
    assert elapsed < 2


def test_webhook_to_a_closed_port_fails_without_raising() -> None:
    async def main() -> str:
        async with aiohttp.ClientSession() as session:
            return await send_webhook(session, f"http://127.0.0.1:{find_free_port()}/", NOTIFICATION, FAST)

    outcome = asyncio.run(main())
    assert outcome.startswith("failed after 3 attempts: ClientConnectorError")


# --- e-mail -----------------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    good = isinstance(data, LoginPassword) and (data.login, data.password) == (b"ops", b"s3cret-pass")
    return AuthResult(success=good, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = find_free_port()
    controller = aiosmtpd_controller.Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,  # a local test server without a certificate; production uses starttls or tls
    )
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


def test_email_is_sent_with_login(smtp_server: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp_server
    server = SmtpServer("127.0.0.1", port, "none", "ops", "s3cret-pass", "gusu@console.test")
    assert asyncio.run(send_email(server, "ops@bank-a.test", NOTIFICATION, FAST)) == "ok"
    [(sender, recipients, message)] = mailbox.messages
    assert (sender, recipients) == ("gusu@console.test", ["ops@bank-a.test"])
    subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
    assert subject == "[Gusu] 告警 / firing: 出块停滞 <stalled>"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode("utf-8")
    assert "height_stalled" in text and "观测值 / Observed: 31" in text and "s3cret" not in text
    assert "链 / Chain: 远程链 (#3)" in text


def test_email_with_a_wrong_password_fails_after_retries(smtp_server: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp_server
    server = SmtpServer("127.0.0.1", port, "none", "ops", "wrong", "gusu@console.test")
    outcome = asyncio.run(send_email(server, "ops@bank-a.test", NOTIFICATION, FAST))
    assert outcome.startswith("failed after 3 attempts: SMTPAuthenticationError") and mailbox.messages == []


def test_email_to_a_closed_port_fails_without_raising() -> None:
    server = SmtpServer("127.0.0.1", find_free_port(), "starttls", None, None, "gusu@console.test")
    outcome = asyncio.run(send_email(server, "ops@bank-a.test", NOTIFICATION, FAST))
    assert outcome.startswith("failed after 3 attempts: ConnectionRefusedError")


def test_webhook_body_is_json_serialisable() -> None:
    from gusu.console.notify import compute_webhook_body

    assert json.loads(json.dumps(compute_webhook_body(NOTIFICATION)))["status"] == "firing"
