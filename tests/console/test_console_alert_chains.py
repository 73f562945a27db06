"""Alert rules per chain: a rule watches one chain (the console's own endpoint or a chain of the chains page)
or every chain; the monitor evaluates it only there, keeps its state per chain, and the history, the API and
the notifications name the chain. The store's part runs on SQLite and PostgreSQL (migration 6).

Nodes that do not answer are closed ports, so the node-down rules fire at the first look; the monitor's
looks are triggered by the test (`Monitor.on_tick`).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from console_helpers import find_free_port
from test_console_access import Console
from test_console_alert_pages import _create_rule, _run
from test_console_store import open_database, run
from test_console_writes import _main

from gusu.console.access import AccessInputError
from gusu.console.alert_store import AlertStore
from gusu.console.alerts import (
    DEFAULT_CHAIN_ID,
    AlertRule,
    RuleInput,
    is_rule_for_chain,
    parse_rule_chain,
    parse_rule_form,
)
from gusu.console.chain_store import ChainStore, NewChain
from gusu.console.i18n import load_catalogues
from gusu.console.monitor import Monitor, compute_targets
from gusu.console.store import ConsoleStore

__all__ = ["open_database"]  # the fixture, shared with test_console_store.py

_ROW_CHAIN = re.compile(r'<tr class="alert-firing" data-rule="(\d+)" data-status="firing" data-chain="(\d+)">.*?'
                        r'<td class="alert-chain">([^<]*)</td></tr>')  # fmt: skip


def _remote(name: str, endpoint: str, state: str = "registered") -> NewChain:
    return NewChain(name, "remote", endpoint, None, None, None, None, 0, "", "", "", "", state)


def _rule(rule_id: int, chain_id: int | None) -> AlertRule:
    return AlertRule(rule_id, f"r{rule_id}", "node_down", 0, None, None, None, True, chain_id)


def test_a_rule_applies_to_its_chain_or_to_all() -> None:
    assert is_rule_for_chain(_rule(1, None), 0) and is_rule_for_chain(_rule(1, None), 7)
    assert is_rule_for_chain(_rule(1, 7), 7) and not is_rule_for_chain(_rule(1, 7), 0)
    assert is_rule_for_chain(_rule(1, DEFAULT_CHAIN_ID), 0) and not is_rule_for_chain(_rule(1, 0), 7)


def test_the_rule_form_names_all_chains_or_a_known_one() -> None:
    form = {"name": "down", "kind": "node_down", "threshold": "0"}
    assert parse_rule_form(form).chain_id is None, "no chain field: every chain"
    assert parse_rule_form({**form, "chain": "all"}, {3}).chain_id is None
    assert parse_rule_form({**form, "chain": "0"}, {3}).chain_id == DEFAULT_CHAIN_ID
    assert parse_rule_form({**form, "chain": "3"}, {3}).chain_id == 3
    for bad in ("4", "-1", "x", "３", "9" * 19, "1.0"):
        with pytest.raises(AccessInputError) as caught:
            parse_rule_chain(bad, {3})
        assert caught.value.key == "error.alert_chain_invalid"


def test_the_monitor_watches_running_and_registered_chains() -> None:
    from gusu.console.chain_store import ChainRecord

    def record(chain_id: int, state: str) -> ChainRecord:
        return ChainRecord(chain_id, f"c{chain_id}", "local", f"http://h{chain_id}", None, None, None, None, 0, "",
                           "", "", "", state, "", 0, 0)  # fmt: skip

    chains = [record(4, "running"), record(2, "registered"), record(3, "stopped"), record(5, "failed")]
    targets = compute_targets("http://default", chains)
    assert [(t.chain_id, t.name, t.endpoint) for t in targets] == [
        (0, "", "http://default"), (2, "c2", "http://h2"), (4, "c4", "http://h4")
    ]  # fmt: skip


def test_rules_and_events_keep_their_chain(open_database: Any) -> None:
    async def scenario(store: ConsoleStore) -> None:
        alerts = AlertStore(store.backend)
        await alerts.create_rule(RuleInput("all", "node_down", 0, None, None, None), 1)
        await alerts.create_rule(RuleInput("here", "node_down", 0, None, None, None, DEFAULT_CHAIN_ID), 1)
        await alerts.create_rule(RuleInput("there", "peers_below", 2, None, None, None, 5), 1)
        everywhere, here, there = await alerts.list_rules()
        assert (everywhere.chain_id, here.chain_id, there.chain_id) == (None, 0, 5)
        # The same rule on two chains: firing on one, resolved on the other.
        await alerts.append_event(everywhere, "firing", "0", 10, 100, 0, "")
        await alerts.append_event(everywhere, "firing", "0", 11, 100, 5, "remote")
        await alerts.append_event(everywhere, "resolved", "0", 12, 100, 0, "")
        await alerts.append_event(there, "firing", "1", 13, 100, 5, "remote")
        assert await alerts.list_firing_keys() == {(everywhere.rule_id, 5), (there.rule_id, 5)}
        events = await alerts.list_events(None, 10)
        assert [(e.rule_name, e.status, e.chain_id, e.chain_name) for e in events] == [
            ("there", "firing", 5, "remote"),
            ("all", "resolved", 0, ""),
            ("all", "firing", 5, "remote"),
            ("all", "firing", 0, ""),
        ]
        # Moved to another chain, a rule no longer speaks for the one it left.
        assert await alerts.apply_rule_chain(there.rule_id, 6)
        assert (await alerts.get_rule(there.rule_id)) == AlertRule(
            there.rule_id, "there", "peers_below", 2, None, None, None, True, 6
        )
        assert await alerts.list_firing_keys() == {(everywhere.rule_id, 5)}
        assert await alerts.apply_rule_chain(there.rule_id, None)
        assert await alerts.list_firing_keys() == {(everywhere.rule_id, 5), (there.rule_id, 5)}
        assert not await alerts.apply_rule_chain(999, None)

    run(open_database, scenario)


def test_each_rule_fires_only_for_its_chain_and_the_pages_show_which(tmp_path: Path) -> None:
    messages = load_catalogues()["zh-CN"].messages

    async def scenario(console: Console, monitor: Monitor) -> None:
        chains = ChainStore(console.store.backend)
        remote = await chains.create_chain(_remote("远程链", f"http://127.0.0.1:{find_free_port()}"), 1)
        await chains.create_chain(_remote("stopped", f"http://127.0.0.1:{find_free_port()}", "stopped"), 1)
        # The form lists every chain: all, the console's endpoint, each chain of the chains page.
        page = await (await console.client.get("/alerts/rules")).text()
        assert re.search(r'<select id="field-chain" name="chain"><option value="all" selected>', page)
        assert f'<option value="{remote.chain_id}">远程链</option>' in page
        await _create_rule(console, name="here", kind="node_down", threshold="0", chain="0")
        await _create_rule(console, name="there", kind="node_down", threshold="0", chain=str(remote.chain_id))
        await _create_rule(console, name="everywhere", kind="node_down", threshold="0", chain="all")
        refused = await _create_rule(console, 400, name="nowhere", kind="node_down", threshold="0", chain="999")
        assert html.escape(messages["error.alert_chain_invalid"]) in _main(refused)
        here, there, everywhere = await AlertStore(console.store.backend).list_rules()

        fired = await monitor.on_tick()  # every endpoint is a closed port; the stopped chain is not watched
        assert sorted((t.rule.name, t.status) for t in fired) == [
            ("everywhere", "firing"), ("everywhere", "firing"), ("here", "firing"), ("there", "firing")
        ]  # fmt: skip
        assert await monitor.on_tick() == [], "once per rule and chain"
        history = await (await console.client.get("/alerts")).text()
        shown = {(int(rule), int(chain), name) for rule, chain, name in _ROW_CHAIN.findall(history)}
        assert shown == {
            (here.rule_id, 0, messages["chains.default"]),
            (there.rule_id, remote.chain_id, "远程链"),
            (everywhere.rule_id, 0, messages["chains.default"]),
            (everywhere.rule_id, remote.chain_id, "远程链"),
        }
        api = await (await console.client.get("/api/alerts")).json()
        assert {(e["rule"], e["chain_id"], e["chain"]) for e in api["events"]} >= {("there", remote.chain_id, "远程链")}
        rules_api = await (await console.client.get("/api/alerts/rules")).json()
        assert [rule["chain_id"] for rule in rules_api["rules"]] == [0, remote.chain_id, None]

        # Moved from the console's endpoint to the remote chain: it fires there, and no longer counts here.
        token = await console.token("/alerts/rules")
        moved = await console.client.post(
            f"/alerts/rules/{here.rule_id}/chain", data={"csrf_token": token, "chain": str(remote.chain_id)},
            allow_redirects=False,
        )  # fmt: skip
        assert moved.status == 303
        assert (await AlertStore(console.store.backend).get_rule(here.rule_id)).chain_id == remote.chain_id  # type: ignore[union-attr]
        page = await (await console.client.get("/alerts/rules")).text()
        assert re.search(
            rf'<tr data-rule="{here.rule_id}" data-chain="{remote.chain_id}">.*?'
            rf'<option value="{remote.chain_id}" selected>远程链</option>', page, re.DOTALL
        )  # fmt: skip
        fired = await monitor.on_tick()
        assert [(t.rule.name, t.status) for t in fired] == [("here", "firing")]
        firing = await (await console.client.get("/api/alerts/firing")).json()
        assert sorted((f["rule"], f["chain_id"]) for f in firing["firing"]) == sorted(
            [("here", remote.chain_id), ("there", remote.chain_id), ("everywhere", 0),
             ("everywhere", remote.chain_id)]
        )  # fmt: skip
        bad = await console.client.post(
            f"/alerts/rules/{here.rule_id}/chain", data={"csrf_token": token, "chain": "12345"}
        )
        assert bad.status == 400 and html.escape(messages["error.alert_chain_invalid"]) in _main(await bad.text())
        missing = await console.client.post("/alerts/rules/999/chain", data={"csrf_token": token, "chain": "all"})
        assert missing.status == 404
        audit = [(entry.action, entry.outcome) for entry in await console.store.list_audit(None, 100)]
        assert ("alert_rule.chain", "ok") in audit and ("alert_rule.chain", "refused") in audit

        # An auditor sees the chains but cannot change them.
        password = await console.create_user("audra_chains", "auditor")
        await console.logout()
        await console.login("audra_chains", password)
        page = await (await console.client.get("/alerts/rules")).text()
        assert 'class="rule-chain">远程链</span>' in page and "rule-chain-form" not in page
        token = await console.token("/alerts/rules")
        denied = await console.client.post(
            f"/alerts/rules/{here.rule_id}/chain", data={"csrf_token": token, "chain": "all"}
        )
        assert denied.status == 403

    _run(tmp_path, scenario)
