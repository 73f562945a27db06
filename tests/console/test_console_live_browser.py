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
from test_console_browser import WAIT_S, _check_clean, _set_language, _wait_for, _wait_until

from gusu.console.i18n import load_catalogues

pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.webdriver.common.by import By

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


SNAPSHOT_SCRIPT = """
const chart = (id) => {
  const svg = document.getElementById(id);
  if (!svg) return null;
  const last = svg.getAttribute("data-last-height");
  return {
    last_height: last ? Number(last) : -1,
    points: Number(svg.getAttribute("data-points")),
    circles: Array.from(svg.querySelectorAll("circle")).map((dot) => [
      Number(dot.getAttribute("data-height")), Number(dot.getAttribute("data-value")), Number(dot.getAttribute("cx"))]),
  };
};
const height = document.getElementById("height");
return {tps: chart("chart-tps"), interval: chart("chart-interval"),
        height: height ? Number(height.textContent.replace(/,/g, "")) : -1};
"""
"""Both charts and the height as one picture: the page redraws the charts on each refresh, so elements
found one call apart may belong to two drawings (a stale element, or two different last heights)."""


def _snapshot(driver: Any) -> dict[str, Any]:
    found: dict[str, Any] = driver.execute_script(SNAPSHOT_SCRIPT)
    return found


def _last_height(snapshot: dict[str, Any]) -> int:
    tps = snapshot["tps"]
    return -1 if tps is None else int(tps["last_height"])


def _is_in_step(snapshot: dict[str, Any]) -> bool:
    return _last_height(snapshot) >= 0 and _last_height(snapshot) == snapshot["height"]


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
    # The dashboard's height and the chart's last block agree once both are drawn from the same refresh.
    _wait_until(browser, WAIT_S, lambda driver: _is_in_step(_snapshot(driver)))
    first = _last_height(_snapshot(browser))
    assert first >= 0

    _transfer(chain)  # a block the open page has not seen

    _wait_until(browser, WAIT_S, lambda driver: _last_height(_snapshot(driver)) > first)
    snapshot = _snapshot(browser)
    newest = _last_height(snapshot)
    assert snapshot["interval"]["last_height"] == newest
    # The new block is a point of both charts (its parent is in the window, so it is timed), with a value.
    values = {key: {height: value for height, value, _ in snapshot[key]["circles"]} for key in ("tps", "interval")}
    assert values["interval"][newest] > 0
    assert values["tps"][newest] > 0  # the block holds the transfer
    assert all(value >= 0 for chart in values.values() for value in chart.values())
    circles = snapshot["interval"]["circles"]
    assert len(circles) == snapshot["interval"]["points"] >= 1
    # Heights increase left to right.
    assert [x for _, _, x in sorted(circles)] == sorted(x for _, _, x in circles)
    assert browser.find_element(By.ID, "live").text == messages["live.connected"]
    _check_clean(browser, console, "/ (charts)")
    suffix = "zh" if language == "zh-CN" else "en"
    browser.save_screenshot(str(screenshots / f"dashboard-charts-{suffix}.png"))
