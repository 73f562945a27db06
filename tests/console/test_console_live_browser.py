"""The dashboard's live charts in a real browser (Chromium through Selenium, as test_console_browser.py).

The charts are SVG drawn by app.js from /api/chart; a transaction committed while the page is open
must appear as a new point without reloading the page.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_console_browser as shared
from console_helpers import COMMAND_TIMEOUT_S, Chain
from console_process import run_console_process
from test_console_browser import WAIT_S, _check_clean, _set_language, _wait_for

from gusu.console.i18n import load_catalogues

pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

pytestmark = [pytest.mark.e2e, *shared.pytestmark[1:]]

# The browser tests' fixtures: `gusu console` as a process, Chromium, the screenshots folder.
browser = shared.browser
screenshots = shared.screenshots

PAYEE = "0x" + "43" * 20
"""Where these tests send money: not the session chain's RECIPIENT, whose balance other tests assert."""


@pytest.fixture(scope="module")
def console(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A console of this module's own (its own home: the session home's first-run credential is not used up)."""
    with run_console_process(chain.endpoint, chain.environment, tmp_path_factory.mktemp("console-home")) as url:
        yield url


def _transfer(chain: Chain) -> None:
    subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", "account", "transfer", PAYEE, "1", "--key", str(chain.dev_key)],
        env=chain.environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def _last_height(driver: Any, chart_id: str) -> int:
    text = driver.find_element(By.ID, chart_id).get_attribute("data-last-height")
    return int(text) if text else -1


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_charts_follow_new_blocks(console: str, browser: Any, chain: Chain, screenshots: Path, language: str) -> None:
    messages = load_catalogues()[language].messages
    browser.get(console + "/")
    _set_language(browser, language)
    _wait_for(browser, "#chart-tps")
    _wait_for(browser, "#chart-interval")
    captions = browser.find_element(By.ID, "live-charts").text
    assert "null" not in captions and "undefined" not in captions
    assert messages["dashboard.chart_tps"] in captions and messages["dashboard.chart_interval"] in captions
    first = _last_height(browser, "chart-tps")
    assert first == int(browser.find_element(By.ID, "height").text.replace(",", ""))

    _transfer(chain)  # a block the open page has not seen

    WebDriverWait(browser, WAIT_S).until(lambda driver: _last_height(driver, "chart-tps") > first)
    newest = _last_height(browser, "chart-tps")
    assert _last_height(browser, "chart-interval") == newest
    # The new block is a point of both charts (its parent is in the window, so it is timed), with a value.
    for chart_id in ("chart-tps", "chart-interval"):
        point = browser.find_element(By.CSS_SELECTOR, f'#{chart_id} circle[data-height="{newest}"]')
        assert float(point.get_attribute("data-value")) >= 0
    interval = browser.find_element(By.CSS_SELECTOR, f'#chart-interval circle[data-height="{newest}"]')
    assert float(interval.get_attribute("data-value")) > 0
    tps = browser.find_element(By.CSS_SELECTOR, f'#chart-tps circle[data-height="{newest}"]')
    assert float(tps.get_attribute("data-value")) > 0  # the block holds the transfer
    points = browser.find_elements(By.CSS_SELECTOR, "#chart-interval circle")
    assert len(points) == int(browser.find_element(By.ID, "chart-interval").get_attribute("data-points")) >= 1
    # Heights increase left to right.
    xs = [(int(p.get_attribute("data-height")), float(p.get_attribute("cx"))) for p in points]
    assert [x for _, x in sorted(xs)] == sorted(x for _, x in xs)
    assert browser.find_element(By.ID, "live").text == messages["live.connected"]
    _check_clean(browser, console, "/ (charts)")
    suffix = "zh" if language == "zh-CN" else "en"
    browser.save_screenshot(str(screenshots / f"dashboard-charts-{suffix}.png"))
