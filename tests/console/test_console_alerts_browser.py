"""Monitoring in a real browser, against a node of its own that the test stops and starts again.

An operator logs in, creates a "node down" and a "height stalled" rule on the rules page;
the dashboard stays open while the node is stopped (the red banner) and started again (the
green one, without reloading the page: live updates reconnect by themselves); the alert
history then shows the node-down alert fired and resolved and the stalled alert firing, in
Chinese and in English. Chromium and chromedriver as in test_console_browser.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from console_helpers import COMMAND_TIMEOUT_S, find_free_port
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from test_console_browser import _check_clean, _set_language, _wait_for, _wait_until, browser, pytestmark, screenshots

from browser_helpers import is_replaced
from gusu.console.i18n import load_catalogues

__all__ = ["browser", "pytestmark", "screenshots"]  # fixtures and marks shared with test_console_browser.py

RECONNECT_WAIT_S = 60
"""The dashboard backs off up to 15 s between polls, and a node takes a few seconds to start."""


@dataclass(frozen=True)
class OwnNode:
    environment: dict[str, str]
    node_directory: str
    endpoint: str

    def gusu(self, *args: str) -> Any:
        completed = subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", *args, "--json"],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert completed.returncode == 0, f"gusu {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
        return json.loads(completed.stdout) if completed.stdout.strip() else None

    def start(self) -> None:
        self.gusu("node", "start", "--dir", self.node_directory, "--detach")

    def stop(self) -> None:
        self.gusu("node", "stop", "--dir", self.node_directory)


@pytest.fixture(scope="module")
def own_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnNode]:
    directory = tmp_path_factory.mktemp("alerts-chain")
    port = find_free_port()
    environment = {
        **os.environ,
        "GUSU_HOME": str(directory / "home"),
        "GUSU_ENDPOINT": f"http://127.0.0.1:{port}",
        "GUSU_KEYFILE_SCRYPT_N": "1024",
    }
    environment.pop("GUSU_PASSPHRASE", None)
    bootstrap = OwnNode(environment, "", f"http://127.0.0.1:{port}")
    layout = bootstrap.gusu("chain", "init", "--dir", str(directory / "chain"), "--port", str(port), "--workers", "1")
    node = OwnNode(environment, layout["node_directory"], bootstrap.endpoint)
    node.start()
    try:
        yield node
    finally:
        subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", "node", "stop", "--dir", node.node_directory],
            env=environment,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


@pytest.fixture(scope="module")
def alert_console(own_node: OwnNode) -> Iterator[tuple[str, str]]:
    """`gusu console --alert-interval 1` for the node; yields its URL and the first-run operator's password."""
    port = find_free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gusu.cli.main", "console", "--port", str(port),
            "--endpoint", own_node.endpoint, "--alert-interval", "1", "--json",
        ],
        env=own_node.environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        printed = json.loads(process.stdout.readline())
        yield printed["url"].rstrip("/"), printed["first_run"]["password"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def _history_rows(browser: Any, url: str) -> list[tuple[str, str, str]]:
    """(rule name, kind text, status) of each history row, after reloading the page."""
    browser.get(url + "/alerts")
    _wait_for(browser, "h1")
    # Read in one script: nothing can go stale between finding a row and reading it.
    rows = browser.execute_script(
        "return [...document.querySelectorAll('#alert-history tbody tr')].map(row =>"
        " [row.cells[1].textContent, row.cells[2].textContent, row.dataset.status]);"
    )
    return [(name, kind, status) for name, kind, status in rows]


def test_rules_fire_and_the_dashboard_reconnects_after_a_node_restart(
    alert_console: tuple[str, str], own_node: OwnNode, browser: Any, screenshots: Path
) -> None:
    url, password = alert_console
    zh = load_catalogues()["zh-CN"].messages
    en = load_catalogues()["en"].messages
    browser.get(url + "/login")
    _set_language(browser, "zh-CN")
    browser.find_element(By.ID, "field-username").send_keys("admin")
    browser.find_element(By.ID, "field-password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    _wait_for(browser, "#account-username")

    # Create the rules in the rules page's form; a bad threshold is refused with a Chinese message.
    browser.get(url + "/alerts/rules")
    for name, kind, threshold in (
        ("阈值错", "mempool_full", "250"),
        ("节点宕机", "node_down", "0"),
        ("出块停滞", "height_stalled", "3"),
    ):
        form = _wait_for(browser, "#create-rule-form")
        form.find_element(By.ID, "field-name").send_keys(name)
        Select(form.find_element(By.ID, "field-kind")).select_by_value(kind)
        form.find_element(By.ID, "field-threshold").send_keys(threshold)
        form.find_element(By.CSS_SELECTOR, "button").click()
        # The form posts and the answer is a new page: wait until the old one has gone, or the
        # next round finds the old form and it goes stale under it (a CI flake).
        WebDriverWait(browser, RECONNECT_WAIT_S).until(is_replaced(form))
        if kind == "mempool_full":
            error = _wait_for(browser, "p.error")
            assert error.text == zh["error.alert_threshold_invalid"].format(low=1, high=100)
            browser.get_log("browser")  # drops the expected 400 of the refused form
            browser.get(url + "/alerts/rules")
    _wait_for(browser, "#alert-rules")
    names = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#alert-rules tbody tr td:first-child")]
    assert names == ["节点宕机", "出块停滞"]
    browser.save_screenshot(str(screenshots / "alert-rules-zh.png"))
    _check_clean(browser, url, "/alerts/rules")

    # The dashboard stays open (no reload) while the node stops and starts again.
    browser.get(url + "/")
    _wait_for(browser, "#live.ok")
    browser.execute_script("window.gusuSamePage = true;")
    own_node.stop()
    _wait_until(
        browser,
        RECONNECT_WAIT_S,
        lambda driver: driver.find_element(By.ID, "live").get_attribute("class") == "live down",
    )
    assert browser.find_element(By.ID, "live").text == zh["live.unreachable"]
    # The monitor sees the node down within its one-second interval.
    deadline = time.monotonic() + RECONNECT_WAIT_S
    while time.monotonic() < deadline:
        rows = set(_history_rows(browser, url))
        if ("节点宕机", zh["alerts.kind.node_down"], "firing") in rows:
            break
        time.sleep(1)
    else:
        pytest.fail(f"no node-down alert in the history: {rows}")
    browser.get(url + "/")
    _wait_for(browser, "#live.down")
    browser.execute_script("window.gusuSamePage = true;")
    own_node.start()
    _wait_until(
        browser, RECONNECT_WAIT_S, lambda driver: driver.find_element(By.ID, "live").get_attribute("class") == "live ok"
    )
    assert browser.execute_script("return window.gusuSamePage === true;"), "the page reloaded instead of reconnecting"
    assert browser.find_element(By.ID, "live").text == zh["live.connected"]
    _wait_for(browser, "#height")
    # The dashboard lists what fires (the idle chain's height has stalled), refreshed with the status.
    _wait_until(
        browser, RECONNECT_WAIT_S, lambda driver: "出块停滞" in driver.find_element(By.ID, "dashboard-alerts").text
    )
    browser.save_screenshot(str(screenshots / "dashboard-alerts-zh.png"))
    browser.get_log("browser")  # drops the expected 502s of the polls while the node was down

    # The history: node down fired and resolved, the (idle) chain's height stalled.
    deadline = time.monotonic() + RECONNECT_WAIT_S
    wanted = {
        ("节点宕机", zh["alerts.kind.node_down"], "firing"),
        ("节点宕机", zh["alerts.kind.node_down"], "resolved"),
        ("出块停滞", zh["alerts.kind.height_stalled"], "firing"),
    }
    while not wanted <= set(rows := _history_rows(browser, url)) and time.monotonic() < deadline:
        time.sleep(1)
    assert wanted <= set(rows), rows
    assert rows.count(("节点宕机", zh["alerts.kind.node_down"], "firing")) == 1  # once per incident
    main = browser.find_element(By.TAG_NAME, "main").text
    assert zh["alerts.status.firing"] in main and zh["alerts.status.resolved"] in main
    browser.save_screenshot(str(screenshots / "alerts-zh.png"))
    _check_clean(browser, url, "/alerts")

    _set_language(browser, "en")
    main = browser.find_element(By.TAG_NAME, "main").text
    for text in (
        en["alerts.title"],
        en["alerts.kind.node_down"],
        en["alerts.status.resolved"],
        en["alerts.status.firing"],
    ):
        assert text in main, text
    browser.save_screenshot(str(screenshots / "alerts-en.png"))
    browser.get(url + "/alerts/rules")
    _wait_for(browser, "#alert-rules")
    assert en["alerts.condition.height_stalled"].format(threshold=3) in browser.find_element(By.TAG_NAME, "main").text
    browser.save_screenshot(str(screenshots / "alert-rules-en.png"))
    _check_clean(browser, url, "/alerts/rules (en)")
