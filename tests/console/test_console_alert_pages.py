"""The monitoring pages and the monitor in-process: rules, roles, validation, audit, history and notifications.

The monitor's looks are triggered by the test (`Monitor.on_tick`), not waited for: the
console runs with a one-hour interval. A node that does not answer is a closed port; the
real node of the session (`chain`) answers for the peers rule.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from console_helpers import Chain, find_free_port
from test_console_access import Console

from gusu.console.access import AccessInputError
from gusu.console.accounts import ensure_first_operator
from gusu.console.alert_pages import compute_shown_url, parse_smtp_form
from gusu.console.alert_store import AlertStore, SmtpServer
from gusu.console.monitor import Monitor, get_monitor
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings
from gusu.console.store import open_store
from gusu.errors import ConfigError

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_ERROR = re.compile(r'<p class="error" role="alert">([^<]+)</p>')


def _run(tmp_path: Path, scenario: Any, endpoint: str | None = None, **overrides: Any) -> None:
    async def main() -> None:
        settings = ConsoleSettings(
            endpoint=endpoint or f"http://127.0.0.1:{find_free_port()}",
            port=0,
            scrypt_log2_n=10,
            alert_interval_s=3600,
            notify_timeout_s=2,
            notify_retries_max=1,
            notify_retry_delay_s=0.05,
            **overrides,
        )
        store = await open_store(None, tmp_path / "console")
        first = await ensure_first_operator(store, settings)
        assert first is not None
        try:
            async with TestClient(TestServer(create_app(settings, store=store))) as client:
                console = Console(client, store, first[1])
                await console.login("admin", first[1])
                await scenario(console, get_monitor(client.server.app))
        finally:
            await store.close()

    asyncio.run(main())


async def _create_rule(console: Console, status: int = 200, **fields: str) -> str:
    token = await console.token("/alerts/rules")
    response = await console.client.post("/alerts/rules", data={"csrf_token": token, **fields})
    text = await response.text()
    assert response.status == status, text
    return text


async def _audit_actions(console: Console) -> list[tuple[str, str | None, str]]:
    return [(entry.action, entry.target, entry.outcome) for entry in await console.store.list_audit(None, 100)]


def test_operator_creates_rules_and_the_monitor_fires_once_and_notifies(tmp_path: Path) -> None:
    received: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    async def scenario(console: Console, monitor: Monitor) -> None:
        receiver = web.Application()
        receiver.router.add_post("/hook", hook)
        async with TestServer(receiver) as server:
            url = str(server.make_url("/hook"))
            await _create_rule(console, name="节点宕机 <b>", kind="node_down", threshold="0", webhook_url=url)
            await _create_rule(console, name="stalled", kind="height_stalled", threshold="1")
            page = await (await console.client.get("/alerts/rules")).text()
            assert "节点宕机 &lt;b&gt;" in page and "<b>" not in page.split("<main")[1]
            assert url in page  # the operator sees the whole URL
            first = await monitor.on_tick()  # the endpoint is a closed port: the node is down
            assert [(t.rule.name, t.status) for t in first] == [("节点宕机 <b>", "firing")]
            await asyncio.sleep(1.1)
            second = await monitor.on_tick()
            assert [(t.rule.name, t.status) for t in second] == [("stalled", "firing")]
            assert await monitor.on_tick() == []  # no duplicates while firing
            await monitor.wait_deliveries()
        assert [(body["rule"], body["status"], body["kind"]) for body in received] == [
            ("节点宕机 <b>", "firing", "node_down")
        ]
        history = await (await console.client.get("/alerts")).text()
        assert history.count('data-status="firing"') == 2 and "webhook ok" in history
        assert "节点宕机" in history and "出块停滞" in history  # zh-CN kind names, the default language
        console.client.session.cookie_jar.update_cookies({"gusu_language": "en"})
        english = await (await console.client.get("/alerts")).text()
        assert "Node down" in english and "Height stalled" in english and "Firing" in english
        events = (await (await console.client.get("/api/alerts")).json())["events"]
        assert [(event["rule"], event["status"]) for event in events] == [
            ("stalled", "firing"),
            ("节点宕机 <b>", "firing"),
        ]
        actions = await _audit_actions(console)
        assert ("alert_rule.create", "stalled (height_stalled 1)", "ok") in actions
        firing = (await (await console.client.get("/api/alerts/firing")).json())["firing"]
        assert [(item["rule"], item["kind"]) for item in firing] == [
            ("stalled", "height_stalled"),
            ("节点宕机 <b>", "node_down"),
        ]
        # The dashboard shell asks the script to show them to a logged-in viewer only.
        assert 'data-alerts="1"' in await (await console.client.get("/")).text()
        await console.logout()
        assert 'data-alerts="0"' in await (await console.client.get("/")).text()
        assert (await console.client.get("/api/alerts/firing")).status == 401

    _run(tmp_path, scenario)


def test_the_monitor_reads_a_real_node_and_resolves(tmp_path: Path, chain: Chain) -> None:
    async def scenario(console: Console, monitor: Monitor) -> None:
        await _create_rule(console, name="peers", kind="peers_below", threshold="1")
        await _create_rule(console, name="pool", kind="mempool_full", threshold="50", capacity="10")
        await _create_rule(console, name="down", kind="node_down", threshold="0")
        await _create_rule(console, name="certificates", kind="certificate_expiring", threshold="30")
        transitions = await monitor.on_tick()
        # A one-node chain has no peers, an empty pool, and the node answers.
        assert [(t.rule.name, t.status, t.observed) for t in transitions] == [("peers", "firing", "0")]
        rules = (await (await console.client.get("/api/alerts/rules")).json())["rules"]
        assert [(rule["name"], rule["firing"]) for rule in rules] == [
            ("peers", True),
            ("pool", False),
            ("down", False),
            ("certificates", False),
        ]
        # Disabling a firing rule forgets it; enabling it again is a new incident.
        alerts = AlertStore(console.store.backend)
        peers = (await alerts.list_rules())[0]
        token = await console.token("/alerts/rules")
        response = await console.client.post(f"/alerts/rules/{peers.rule_id}/disable", data={"csrf_token": token})
        assert response.status == 200
        assert await monitor.on_tick() == []
        token = await console.token("/alerts/rules")
        await console.client.post(f"/alerts/rules/{peers.rule_id}/delete", data={"csrf_token": token})
        assert [rule.name for rule in await alerts.list_rules()] == ["pool", "down", "certificates"]
        actions = [action for action, _, _ in await _audit_actions(console)]
        assert "alert_rule.disable" in actions and "alert_rule.delete" in actions

    _run(tmp_path, scenario, chain.endpoint)


def test_rule_inputs_are_validated_with_translated_messages_and_audited(tmp_path: Path) -> None:
    async def scenario(console: Console, monitor: Monitor) -> None:
        text = await _create_rule(console, 400, name="x", kind="mempool_full", threshold="150")
        assert _ERROR.findall(text) == ["此类规则的阈值须为 1 到 100 之间的整数。"]
        assert 'value="x"' in text  # the form keeps what was typed
        text = await _create_rule(console, 400, name="x", kind="node_down", threshold="0", webhook_url="file:///etc")
        assert "Webhook 地址须使用 http 或 https 协议" in _ERROR.findall(text)[0]
        console.client.session.cookie_jar.update_cookies({"gusu_language": "en"})
        text = await _create_rule(console, 400, name="", kind="node_down", threshold="0")
        assert _ERROR.findall(text) == ["The rule name must have 1 to 64 characters and no control characters."]
        text = await _create_rule(console, 400, name="x", kind="node_down", threshold="0", email_to="a@b")
        assert _ERROR.findall(text) == ["The e-mail address must look like name@example.com."]
        assert [outcome for action, _, outcome in await _audit_actions(console) if action == "alert_rule.create"] == [
            "refused"
        ] * 4
        assert await AlertStore(console.store.backend).list_rules() == []
        token = await console.token("/alerts/rules")
        missing = await console.client.post("/alerts/rules/99/delete", data={"csrf_token": token})
        assert missing.status == 404
        forged = await console.client.post("/alerts/rules", data={"name": "x", "kind": "node_down", "threshold": "0"})
        assert forged.status == 403  # no CSRF token

    _run(tmp_path, scenario)


def test_rules_max_is_enforced(tmp_path: Path) -> None:
    async def scenario(console: Console, monitor: Monitor) -> None:
        for index in range(3):
            await _create_rule(console, name=f"r{index}", kind="node_down", threshold="0")
        text = await _create_rule(console, 400, name="r3", kind="node_down", threshold="0")
        assert _ERROR.findall(text) == ["规则已达上限 3 条：请先删除一条。"]

    _run(tmp_path, scenario, alert_rules_max=3)


def test_other_roles_read_only_and_secrets_are_never_shown(tmp_path: Path) -> None:
    async def scenario(console: Console, monitor: Monitor) -> None:
        secret_url = "https://oapi.example.com/robot/send?access_token=TOKEN123"
        await _create_rule(console, name="down", kind="node_down", threshold="0", webhook_url=secret_url)
        token = await console.token("/alerts/rules")
        smtp = {"host": "127.0.0.1", "port": "2525", "security": "none", "username": "ops", "sender": "g@ops.test"}
        saved = await console.client.post(
            "/alerts/smtp", data={"csrf_token": token, **smtp, "password": "SMTP-SECRET-pw"}
        )
        text = await saved.text()
        assert saved.status == 200 and "SMTP 服务器已保存。" in text and "SMTP-SECRET-pw" not in text
        assert "已设置密码" in text
        # Saving again with an empty password keeps the stored one.
        token = _TOKEN.findall(text)[-1]
        await console.client.post("/alerts/smtp", data={"csrf_token": token, **smtp, "password": ""})
        server = await AlertStore(console.store.backend).get_smtp()
        assert server is not None and server.password == "SMTP-SECRET-pw"
        audit = await _audit_actions(console)
        assert ("alert_smtp.update", "127.0.0.1:2525 (none)", "ok") in audit
        assert not any("SMTP-SECRET" in str(entry) for entry in audit)

        password = await console.create_user("watcher", "auditor")
        await console.logout()
        await console.login("watcher", password)
        page = await console.client.get("/alerts/rules")
        text = await page.text()
        assert page.status == 200 and "只有平台运营者可以修改告警规则。" in text
        assert "TOKEN123" not in text and "https://oapi.example.com/…" in text
        assert "create-rule-form" not in text and "smtp-form" not in text and "SMTP-SECRET" not in text
        rules = await (await console.client.get("/api/alerts/rules")).json()
        assert rules["rules"][0]["webhook_url"] == "https://oapi.example.com/…"
        assert (await console.client.get("/alerts")).status == 200
        token = await console.token("/account")
        refused = await console.client.post(
            "/alerts/rules", data={"csrf_token": token, "name": "x", "kind": "node_down", "threshold": "0"}
        )
        assert refused.status == 403
        assert (await console.client.post("/alerts/smtp", data={"csrf_token": token, **smtp})).status == 403

    _run(tmp_path, scenario)


def test_email_without_smtp_server_is_recorded_not_raised(tmp_path: Path) -> None:
    async def scenario(console: Console, monitor: Monitor) -> None:
        await _create_rule(console, name="down", kind="node_down", threshold="0", email_to="ops@bank.test")
        assert len(await monitor.on_tick()) == 1
        await monitor.wait_deliveries()
        [event] = await AlertStore(console.store.backend).list_events(None, 10)
        assert event.delivery == "email not sent: no SMTP server is set"

    _run(tmp_path, scenario)


def test_a_restarted_monitor_does_not_announce_a_firing_rule_again(tmp_path: Path) -> None:
    async def scenario(console: Console, monitor: Monitor) -> None:
        await _create_rule(console, name="down", kind="node_down", threshold="0")
        assert len(await monitor.on_tick()) == 1
        fresh = Monitor(monitor.store, monitor.client, monitor.settings, monitor.session)
        await fresh.on_start()
        assert await fresh.on_tick() == []

    _run(tmp_path, scenario)


def test_shown_url() -> None:
    assert compute_shown_url("https://h.example:8443/a?token=1", False) == "https://h.example:8443/…"
    assert compute_shown_url("https://h.example/a?token=1", True) == "https://h.example/a?token=1"


@pytest.mark.parametrize(
    "settings",
    [
        {"alert_interval_s": 0.5},
        {"alert_interval_s": 7200},
        {"alert_rules_max": 0},
        {"alert_history_max": 0},
        {"alert_page_max": 2_000_000},
        {"notify_timeout_s": 0},
        {"notify_timeout_s": 61},
        {"notify_retries_max": 11},
        {"notify_retry_delay_s": -1},
    ],
)
def test_alert_settings_are_validated(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ConsoleSettings(**settings)


def test_smtp_form_is_validated() -> None:
    good = {"host": "smtp.example.com", "port": "465", "security": "tls", "username": "ops", "sender": "g@x.test"}
    current = SmtpServer("old", 25, "none", "ops", "kept-secret", "g@x.test")
    assert parse_smtp_form({**good, "password": ""}, current).password == "kept-secret"
    assert parse_smtp_form({**good, "password": "new"}, current).password == "new"
    assert parse_smtp_form({**good, "username": ""}, current).password is None  # no login, no password kept
    bad = [
        ({"host": ""}, "error.smtp_host_invalid"),
        ({"host": "a b"}, "error.smtp_host_invalid"),
        ({"host": "x\r\nRCPT TO:<y>"}, "error.smtp_host_invalid"),
        ({"port": "0"}, "error.smtp_port_invalid"),
        ({"port": "65536"}, "error.smtp_port_invalid"),
        ({"port": "0000080"}, "error.smtp_port_invalid"),
        ({"port": "２５"}, "error.smtp_port_invalid"),
        ({"security": "ssl"}, "error.smtp_security_invalid"),
        ({"username": "a\x00"}, "error.smtp_username_invalid"),
        ({"sender": "nobody"}, "error.smtp_sender_invalid"),
        ({"sender": "a@b.test\r\nBcc: c@d.test"}, "error.smtp_sender_invalid"),
    ]
    for change, key in bad:
        with pytest.raises(AccessInputError) as raised:
            parse_smtp_form({**good, **change}, current)
        assert raised.value.key == key, change
