"""The dashboard's chains and nodes, with health, height, mempool and peers, in Chromium in both languages.

The console runs in a thread of this process; its store lists the session's chain (its folder is a
network of one node, running), a chain laid out with `gusu chain init` and never started (its node is
down), and a registered remote chain. Chromium and chromedriver as in test_console_browser.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from console_helpers import COMMAND_TIMEOUT_S, Chain, find_free_port, serve_console_in_thread
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait
from test_console_browser import WAIT_S, _fill, _set_language, _wait_for, browser, pytestmark, screenshots

from browser_helpers import is_replaced
from gusu.console.accounts import STORE_KEY, ensure_first_operator
from gusu.console.chain_store import ChainStore, NewChain
from gusu.console.i18n import LANGUAGES, load_catalogues
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings

__all__ = ["browser", "pytestmark", "screenshots"]  # fixtures and marks shared with test_console_browser.py


def _local(name: str, directory: Path, endpoint: str, state: str) -> NewChain:
    return NewChain(
        name, "local", endpoint, None, str(directory), "127.0.0.1", 1, 1, "-", "", "gusu-local", "sm", state
    )


@pytest.fixture(scope="module")
def chains_console(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    stopped = tmp_path_factory.mktemp("stopped-chain") / "chain"
    stopped_port = find_free_port()
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "gusu.cli.main",
            "chain",
            "init",
            "--dir",
            str(stopped),
            "--port",
            str(stopped_port),
            "--json",
        ],
        env={**chain.environment, "GUSU_HOME": str(stopped.parent / "home")},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["directory"] == str(stopped)
    port = find_free_port()

    async def start(data_directory: str) -> tuple[web.AppRunner, Any]:
        settings = ConsoleSettings(
            endpoint=chain.endpoint, port=port, data_directory=data_directory, scrypt_log2_n=10, alert_interval_s=3600
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        first = await ensure_first_operator(app[STORE_KEY], settings)
        chains = ChainStore(app[STORE_KEY].backend)
        await chains.create_chain(_local("session", chain.dev_key.parent.parent, chain.endpoint, "running"), 1)
        await chains.create_chain(_local("parked", stopped, f"http://127.0.0.1:{stopped_port}", "stopped"), 1)
        remote = NewChain(
            "far",
            "remote",
            f"http://127.0.0.1:{find_free_port()}",
            None,
            None,
            None,
            None,
            0,
            "",
            "",
            "gusu-far",
            "sm",
            "registered",
        )
        await chains.create_chain(remote, 1)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, first

    with serve_console_in_thread(start) as first:
        username, password = first
        yield f"http://127.0.0.1:{port}", username, password


@pytest.mark.parametrize("language", LANGUAGES)
def test_dashboard_lists_chains_and_nodes_with_health(
    chains_console: tuple[str, str, str], browser: Any, chain: Chain, screenshots: Path, language: str
) -> None:
    url, username, password = chains_console
    messages = load_catalogues()[language].messages
    browser.delete_all_cookies()
    browser.get(url + "/")
    _wait_for(browser, "#height")
    assert (
        browser.find_elements(By.ID, "dashboard-chains") == []
        or not browser.find_element(By.ID, "dashboard-chains").text
    )  # anonymous: not shown
    browser.get(url + "/login")
    _fill(browser, "#field-username", username)
    _fill(browser, "#field-password", password)
    form = browser.find_element(By.ID, "login-form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))
    _set_language(browser, language)
    browser.get(url + "/")
    _wait_for(browser, "#dashboard-chains table")
    up = _wait_for(browser, '#dashboard-chains [data-node="node0"][data-health="up"]')
    assert up.text == messages["dashboard.node_up"]
    down = browser.find_elements(By.CSS_SELECTOR, '#dashboard-chains [data-health="down"]')
    assert [item.text for item in down] == [messages["dashboard.node_down"]]
    rows = browser.find_elements(By.CSS_SELECTOR, "#dashboard-chains tbody tr")
    texts = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [row[0] for row in texts] == ["session", "parked", "far"]
    session = texts[0]
    assert int(session[4].replace(",", "")) >= chain.evidence_height  # height
    assert session[5] != ""  # mempool
    assert texts[2][1] == messages["chains.state.registered"] and texts[2][2] == ""
    assert up.value_of_css_property("color") != down[0].value_of_css_property("color")  # health colours
    browser.save_screenshot(str(screenshots / f"dashboard-chains-{language.split('-')[0]}.png"))
