"""Page-load time of the console's dashboard and explorer block page against a (long) running chain.

Issue 11 asks for the dashboard and the explorer's block page to load in under 1 s with a chain of
100,000 blocks. This script starts `gusu console` against a node's endpoint and measures, for each
page:

* **server**: the console's answer to every request the page makes (the HTML shell, then the JSON API
  calls its script makes), timed from this process with a keep-alive HTTP client;
* **browser**: Chromium (through Selenium, as the browser tests) navigating to the page until the page
  shows its data: the `gusu-page-ready` User Timing mark app.js sets after its first render, with the
  Navigation Timing figures (response end, DOMContentLoaded, load event) beside it.

Each page is loaded `--runs` times (the first, cold, reported apart). Prints one JSON document and,
with `--markdown`, a table for docs/benchmarks.md. Nothing is asserted.

    PYTHONPATH=src python scripts/measure_console_load.py --endpoint http://127.0.0.1:18745 --runs 10 --markdown

Requires Debian's chromium and chromium-driver and the `selenium` package (scripts/bootstrap.sh test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

READY_MARK = "gusu-page-ready"
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    api_paths: tuple[str, ...]
    """The JSON calls the page's script makes (timed one after the other, as the server sees them)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
    return (time.perf_counter() - started) * 1000, body


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def measure_server(base: str, page: Page, runs: int) -> dict[str, Any]:
    """Each run: the shell, then the page's API calls in turn; the total is what the page waits for at most."""
    totals: list[float] = []
    parts: dict[str, list[float]] = {page.path: [], **{path: [] for path in page.api_paths}}
    for _ in range(runs + 1):
        total = 0.0
        for path in (page.path, *page.api_paths):
            elapsed, _body = _get(base + path)
            parts[path].append(elapsed)
            total += elapsed
        totals.append(total)
    return {
        "cold_total_ms": round(totals[0], 1),
        "total": _summary(totals[1:]),
        "requests": {path: _summary(values[1:]) for path, values in parts.items()},
    }


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        raise SystemExit("apt-get install chromium chromium-driver (Debian)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver_path))


_TIMING_SCRIPT = """
const done = arguments[arguments.length - 1];
const mark = arguments[1];
const deadline = performance.now() + arguments[0];
(function poll() {
  const ready = performance.getEntriesByName(mark);
  if (ready.length || performance.now() > deadline) {
    const navigation = performance.getEntriesByType("navigation")[0];
    done({ready_ms: ready.length ? ready[0].startTime : null, response_end_ms: navigation.responseEnd,
      dom_content_loaded_ms: navigation.domContentLoadedEventEnd, load_ms: navigation.loadEventEnd});
  } else {
    setTimeout(poll, 5);
  }
})();
"""


def measure_browser(driver: Any, base: str, page: Page, runs: int) -> dict[str, Any]:
    samples: list[dict[str, float]] = []
    for _ in range(runs + 1):
        driver.get("about:blank")
        driver.get(base + page.path)
        timing = driver.execute_async_script(_TIMING_SCRIPT, READY_TIMEOUT_S * 1000, READY_MARK)
        if timing["ready_ms"] is None:
            raise SystemExit(f"{page.path} did not show its data within {READY_TIMEOUT_S:g} s")
        samples.append(timing)
    return {
        "cold_ready_ms": round(samples[0]["ready_ms"], 1),
        **{key: _summary([sample[key] for sample in samples[1:]]) for key in samples[0]},
    }


def _hardware() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kib = int(Path("/proc/meminfo").read_text(encoding="utf-8").split()[1])
    except OSError:
        memory_kib = 0
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="The node's API, e.g. http://127.0.0.1:8545")
    parser.add_argument("--runs", type=int, default=10, help="Warm loads per page (after one cold load).")
    parser.add_argument("--markdown", action="store_true", help="Also print a table for docs/benchmarks.md.")
    arguments = parser.parse_args()
    if not 1 <= arguments.runs <= 1000:
        raise SystemExit("--runs must be between 1 and 1000")
    port = _free_port()
    with tempfile.TemporaryDirectory() as home:
        environment = {**os.environ, "GUSU_HOME": home}
        endpoint_option = ["--endpoint", arguments.endpoint]
        console = subprocess.Popen(
            [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(port), "--json", *endpoint_option],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert console.stdout is not None
            base = json.loads(console.stdout.readline())["url"].rstrip("/")
            _elapsed, body = _get(base + "/api/status")
            status = json.loads(body)
            tip = int(status["height"])
            middle = tip // 2
            pages = [
                Page("dashboard", "/", ("/api/status", "/api/chart")),
                Page(f"block {middle:,} (middle of the chain)", f"/blocks/{middle}", (f"/api/blocks/{middle}",)),
                Page(f"block {tip:,} (the tip)", f"/blocks/{tip}", (f"/api/blocks/{tip}",)),
                Page("explorer (newest blocks)", "/blocks", ("/api/blocks",)),
            ]
            driver = _browser()
            try:
                results = []
                for page in pages:
                    server = measure_server(base, page, arguments.runs)
                    browser = measure_browser(driver, base, page, arguments.runs)
                    results.append({"page": page.name, "path": page.path, "server": server, "browser": browser})
            finally:
                driver.quit()
        finally:
            console.terminate()
            console.wait(timeout=10)
    document = {
        "chain": {"chain_id": status["chain_id"], "suite": status["suite"], "height": tip},
        "runs": arguments.runs,
        "hardware": _hardware(),
        "pages": results,
    }
    print(json.dumps(document, indent=1))
    if arguments.markdown:
        print()
        print(
            "| page | server: shell + API, median (p90) ms | browser: data shown, median (p90) ms"
            " | cold ms | load event ms |"
        )
        print("|---|---:|---:|---:|---:|")
        for result in results:
            server, browser = result["server"], result["browser"]
            print(
                f"| {result['page']} | {server['total']['median_ms']:,} ({server['total']['p90_ms']:,})"
                f" | **{browser['ready_ms']['median_ms']:,}** ({browser['ready_ms']['p90_ms']:,})"
                f" | {browser['cold_ready_ms']:,} | {browser['load_ms']['median_ms']:,} |"
            )


if __name__ == "__main__":
    main()
