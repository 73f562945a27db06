"""The chains wizard in a real browser: an operator creates a four-organisation network on this host,
watches its page (it reloads itself until the nodes run), shows the chain, reads its organisations, and
stops it. `gusu console` runs as a process, as a user starts it; Chromium and chromedriver as in
test_console_browser.py (screenshots into docs/console/ with GUSU_CONSOLE_SCREENSHOTS=1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import find_free_port
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from test_console_browser import _check_clean, _set_language, _wait_for, _wait_until, browser, pytestmark, screenshots

from browser_helpers import is_replaced
from gusu.console.i18n import load_catalogues
from gusu.eval.network import LocalNetwork, find_free_base_port

__all__ = ["browser", "pytestmark", "screenshots"]  # fixtures and marks shared with test_console_browser.py

NETWORK_WAIT_S = 120
"""Creating the key files and starting four nodes on a busy two-core machine."""


@pytest.fixture(scope="module")
def wizard_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """`gusu console` with a home of its own; yields its URL, the operator's password and the chains folder."""
    home = tmp_path_factory.mktemp("wizard") / "home"
    environment = {**os.environ, "GUSU_HOME": str(home), "GUSU_KEYFILE_SCRYPT_N": "1024"}
    environment.pop("GUSU_PASSPHRASE", None)
    port = find_free_port()
    closed = f"http://127.0.0.1:{find_free_port()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(port), "--endpoint", closed, "--json"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    chains = home / "console" / "chains"
    try:
        assert process.stdout is not None
        printed = json.loads(process.stdout.readline())
        yield printed["url"].rstrip("/"), printed["first_run"]["password"], chains
    finally:
        process.terminate()
        process.wait(timeout=10)
        for directory in chains.glob("*"):
            if LocalNetwork.exists(directory):
                LocalNetwork.open(directory).stop(timeout_s=5)


def _state(browser: Any) -> str:
    # The chain's page reloads itself while a job runs: an element found just before a reload goes stale.
    for _ in range(20):
        try:
            return str(browser.find_element(By.CSS_SELECTOR, "[data-state]").get_attribute("data-state"))
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError("the chain's page kept reloading under the test")


def test_the_wizard_creates_runs_and_stops_a_network(
    wizard_console: tuple[str, str, Path], browser: Any, screenshots: Path
) -> None:
    url, password, chains = wizard_console
    zh = load_catalogues()["zh-CN"].messages
    en = load_catalogues()["en"].messages
    browser.get(url + "/login")
    _set_language(browser, "zh-CN")
    browser.find_element(By.ID, "field-username").send_keys("admin")
    browser.find_element(By.ID, "field-password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    _wait_for(browser, "#account-username")

    browser.get(url + "/chains")
    form = _wait_for(browser, "#create-chain-form")
    assert browser.find_element(By.TAG_NAME, "h1").text == zh["chains.title"]
    form.find_element(By.ID, "field-name").send_keys("demo")
    base_port = form.find_element(By.ID, "field-base_port")
    base_port.clear()
    base_port.send_keys(str(find_free_base_port(4)))
    browser.execute_script("document.querySelector('#chains').scrollIntoView();")
    browser.save_screenshot(str(screenshots / "chains-wizard-zh.png"))
    _check_clean(browser, url, "/chains")
    form.find_element(By.CSS_SELECTOR, "button").click()

    # The chain's page reloads itself (app.js, data-refresh-s) until the job is done.
    _wait_for(browser, "[data-state]")
    assert _state(browser) in ("creating", "starting", "running")
    _wait_until(browser, NETWORK_WAIT_S, lambda driver: _state(driver) in ("running", "failed"))
    _wait_for(browser, "#chain-nodes")
    assert _state(browser) == "running", browser.find_element(By.TAG_NAME, "main").text
    processes = [
        row.get_attribute("data-process") for row in browser.find_elements(By.CSS_SELECTOR, "#chain-nodes tbody tr")
    ]
    assert processes == ["running"] * 4
    assert zh["chains.state.running"] in browser.find_element(By.TAG_NAME, "main").text
    browser.save_screenshot(str(screenshots / "chain-zh.png"))
    _check_clean(browser, url, "/chains/1")

    # Show this chain: the organisations page reads its registry.
    select = browser.find_element(By.CSS_SELECTOR, 'form[action="/chains/select"] button')
    select.click()
    WebDriverWait(browser, NETWORK_WAIT_S).until(is_replaced(select))  # the choice is saved
    _wait_for(browser, "#chains")
    browser.get(url + "/organisations")
    _wait_for(browser, "#organisations")
    organisations = browser.find_elements(By.CSS_SELECTOR, "#organisations tbody tr")
    assert [row.get_attribute("data-organisation") for row in organisations] == ["org0", "org1", "org2", "org3"]
    assert browser.find_element(By.TAG_NAME, "main").text.count(zh["registry.certificate.valid"]) >= 4
    browser.save_screenshot(str(screenshots / "organisations-zh.png"))
    _check_clean(browser, url, "/organisations")
    _set_language(browser, "en")
    _wait_for(browser, "#organisations")
    assert en["registry.title"] in browser.find_element(By.TAG_NAME, "h1").text
    browser.save_screenshot(str(screenshots / "organisations-en.png"))

    browser.get(url + "/chains/1")
    _wait_for(browser, "#chain-nodes")
    browser.save_screenshot(str(screenshots / "chain-en.png"))
    browser.find_element(By.ID, "chain-stop").click()
    _wait_until(browser, NETWORK_WAIT_S, lambda driver: _state(driver) in ("stopped", "failed"))
    assert _state(browser) == "stopped"
    assert en["chains.state.stopped"] in browser.find_element(By.TAG_NAME, "main").text
    _check_clean(browser, url, "/chains/1 (en)")
    assert LocalNetwork.open(chains / "demo").running_pids() == {}
