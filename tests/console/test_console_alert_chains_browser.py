"""A per-chain alert rule in Chromium, in Chinese then English.

The console (in a thread of this process, looking every second) watches its own endpoint, the session's
chain, which answers, and a registered remote chain whose node is a closed port. An operator creates one
node-down rule for the remote chain and one for the console's endpoint: only the first fires, and the
history names the remote chain. Moved to the remote chain from its row's chain form, the second rule fires
there too. Chromium and chromedriver as in test_console_browser.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from console_helpers import Chain, find_free_port, serve_console_in_thread
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from test_console_browser import (
    WAIT_S,
    _check_clean,
    _fill,
    _set_language,
    _wait_for,
    _wait_until,
    browser,
    pytestmark,
    screenshots,
)

from browser_helpers import is_replaced
from gusu.console.accounts import STORE_KEY, ensure_first_operator
from gusu.console.chain_store import ChainStore, NewChain
from gusu.console.i18n import load_catalogues
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings

__all__ = ["browser", "pytestmark", "screenshots"]  # fixtures and marks shared with test_console_browser.py

REMOTE = "远程链"
FIRE_WAIT_S = 30
"""The monitor looks every second; a closed port answers at once."""


@pytest.fixture(scope="module")
def alert_chains_console(chain: Chain) -> Iterator[tuple[str, str, int]]:
    """The console with a registered remote chain that does not answer; (URL, operator password, its number)."""
    port = find_free_port()

    async def start(data_directory: str) -> tuple[web.AppRunner, Any]:
        settings = ConsoleSettings(
            endpoint=chain.endpoint, port=port, data_directory=data_directory, scrypt_log2_n=10, alert_interval_s=1
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        first = await ensure_first_operator(app[STORE_KEY], settings)
        remote = await ChainStore(app[STORE_KEY].backend).create_chain(
            NewChain(REMOTE, "remote", f"http://127.0.0.1:{find_free_port()}", None, None, None, None, 0, "", "",
                     "gusu-far", "sm", "registered"),
            1,
        )  # fmt: skip
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, (first, remote.chain_id)

    with serve_console_in_thread(start, ready_timeout_s=60) as (first, remote_chain_id):
        yield f"http://127.0.0.1:{port}", first[1], remote_chain_id


def _submit(browser: Any, form: Any) -> None:
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))


def _history(browser: Any, url: str) -> list[tuple[str, str, str, str]]:
    """(rule, status, chain number, chain cell) of each history row, after reloading the page."""
    browser.get(url + "/alerts")
    _wait_for(browser, "h1")
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#alert-history tbody tr')].map(row =>"
        " [row.cells[1].textContent, row.dataset.status, row.dataset.chain,"
        "  row.querySelector('td.alert-chain').textContent]);"
    )
    return [tuple(row) for row in rows]


def _wait_history(browser: Any, url: str, wanted: tuple[str, str, str, str]) -> list[tuple[str, str, str, str]]:
    deadline = time.monotonic() + FIRE_WAIT_S
    while wanted not in (rows := _history(browser, url)) and time.monotonic() < deadline:
        time.sleep(1)
    assert wanted in rows, rows
    return rows


def test_a_rule_for_one_chain_fires_only_there_in_both_languages(
    alert_chains_console: tuple[str, str, int], browser: Any, screenshots: Path
) -> None:
    url, password, remote_id = alert_chains_console
    zh = load_catalogues()["zh-CN"].messages
    en = load_catalogues()["en"].messages
    browser.delete_all_cookies()
    browser.get(url + "/login")
    _set_language(browser, "zh-CN")
    _fill(browser, "#field-username", "admin")
    _fill(browser, "#field-password", password)
    _submit(browser, browser.find_element(By.ID, "login-form"))
    _wait_for(browser, "#account-username")

    # Two node-down rules: one for the remote chain, one for the console's own endpoint (which answers).
    browser.get(url + "/alerts/rules")
    for name, chain_label in (("远程宕机", REMOTE), ("本地宕机", zh["chains.default"])):
        form = _wait_for(browser, "#create-rule-form")
        chains = Select(form.find_element(By.ID, "field-chain"))
        assert [option.text for option in chains.options] == [zh["rules.all_chains"], zh["chains.default"], REMOTE]
        assert chains.first_selected_option.text == zh["rules.all_chains"], "every chain unless one is chosen"
        form.find_element(By.ID, "field-name").send_keys(name)
        Select(form.find_element(By.ID, "field-kind")).select_by_value("node_down")
        form.find_element(By.ID, "field-threshold").send_keys("0")
        chains.select_by_visible_text(chain_label)
        _submit(browser, form)
    table = _wait_for(browser, "#alert-rules")
    chosen = [
        Select(select).first_selected_option.text
        for select in table.find_elements(By.CSS_SELECTOR, "form.rule-chain-form select")
    ]
    assert chosen == [REMOTE, zh["chains.default"]]
    heading = [cell.text for cell in table.find_elements(By.CSS_SELECTOR, "thead th")]
    assert heading[1] == zh["rules.chain"]

    remote = str(remote_id)
    rows = _wait_history(browser, url, ("远程宕机", "firing", remote, REMOTE))
    time.sleep(2)  # two more looks: the console's own endpoint answers, so its rule stays quiet
    rows = _history(browser, url)
    assert [row for row in rows if row[0] == "本地宕机"] == [], rows
    assert browser.find_element(By.CSS_SELECTOR, "#alert-history thead th:last-child").text == zh["rules.chain"]
    browser.save_screenshot(str(screenshots / "alert-chains-zh.png"))
    _check_clean(browser, url, "/alerts (zh-CN)")

    # Moved to the remote chain in its row: it fires there.
    browser.get(url + "/alerts/rules")
    row = _wait_for(browser, "#alert-rules tbody tr:nth-child(2)")
    assert row.find_element(By.CSS_SELECTOR, "td:first-child").text == "本地宕机"
    Select(row.find_element(By.CSS_SELECTOR, "form.rule-chain-form select")).select_by_visible_text(REMOTE)
    _submit(browser, row.find_element(By.CSS_SELECTOR, "form.rule-chain-form"))
    _wait_for(browser, "#alert-rules")
    assert (
        browser.find_element(By.CSS_SELECTOR, "#alert-rules tbody tr:nth-child(2)").get_attribute("data-chain")
        == remote
    )
    _wait_history(browser, url, ("本地宕机", "firing", remote, REMOTE))
    # The dashboard lists what fires, with the chain.
    browser.get(url + "/")
    _wait_until(browser, FIRE_WAIT_S, lambda driver: "本地宕机" in driver.find_element(By.ID, "dashboard-alerts").text)
    firing = browser.execute_script(
        "return [...document.querySelectorAll('#dashboard-alerts tbody tr')].map(row =>"
        " [row.cells[0].textContent, row.cells[4].textContent]);"
    )
    assert sorted(tuple(row) for row in firing) == [("本地宕机", REMOTE), ("远程宕机", REMOTE)]

    # The same pages in English.
    browser.get(url + "/alerts")
    _wait_for(browser, "#alert-history")
    _set_language(browser, "en")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert en["alerts.title"] in main and REMOTE in main
    assert browser.find_element(By.CSS_SELECTOR, "#alert-history thead th:last-child").text == en["rules.chain"]
    browser.save_screenshot(str(screenshots / "alert-chains-en.png"))
    browser.get(url + "/alerts/rules")
    form = _wait_for(browser, "#create-rule-form")
    options = [option.text for option in Select(form.find_element(By.ID, "field-chain")).options]
    assert options == [en["rules.all_chains"], en["chains.default"], REMOTE]
    assert browser.find_element(By.CSS_SELECTOR, "#alert-rules thead th:nth-child(2)").text == en["rules.chain"]
    apply_buttons = browser.find_elements(By.CSS_SELECTOR, "form.rule-chain-form button")
    assert [button.text for button in apply_buttons] == [en["rules.chain_submit"]] * 2
    browser.save_screenshot(str(screenshots / "alert-rules-chains-en.png"))
    _check_clean(browser, url, "/alerts/rules (en)")
