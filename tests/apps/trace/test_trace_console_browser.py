"""The traceability application through the SDK on a real node, then its consumer page in a real browser.

The module's chain is set up with `TraceClient` only (deploy after governance approval, brand, roles,
product, codes, packing, QC, two-signature custody, shelf, consumer scans), so it is also the SDK's end to
end test. The consumer page is then checked in Chromium, in zh-CN and in en: the verdict, the timeline with
transaction links, the scan counter, the suspect warning, a forged label, and the QC report hashed in the
browser against the hash on chain. Without Chromium the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gusu.apps.trace import ForgedCodeError, ItemCode, TraceClient, TraceError, issue_item_codes
from gusu.console.i18n import LANGUAGES, load_catalogues
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import TransactionFailedError
from gusu.sdk import Client, Contracts, Governance

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

from browser_helpers import is_replaced  # noqa: E402
from browser_helpers import set_language as _set_language  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 20
COMMAND_TIMEOUT_S = 90
BRAND = "yangcheng"
REPORT = b"%PDF-1.4\nInspection report: batch B1, level 2, all samples passed.\n"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="apt-get install chromium chromium-driver (Debian)"
    ),
]
_NAVIGATING = (NoSuchElementException, StaleElementReferenceException)


@dataclass(frozen=True)
class TraceChain:
    endpoint: str
    environment: dict[str, str]
    codes: list[ItemCode]
    forged: ItemCode
    report: Path
    other_file: Path


def _gusu(environment: dict[str, str], *args: str) -> Any:
    completed = subprocess.run([sys.executable, "-m", "gusu.cli.main", *args, "--json"], env=environment,
                               capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _set_up_with_the_sdk(endpoint: str, dev: PrivateKey, directory: Path) -> TraceChain:
    suite = get_suite("sm")
    names = ("brand", "packer", "qc", "carrier", "shop", "buyer", "copy")
    keys = {name: suite.generate_private_key() for name in names}
    address = {name: suite.compute_address(key.public_key) for name, key in keys.items()}
    with Client(endpoint) as client:
        contracts = Contracts(client)
        trace = TraceClient(contracts)
        with pytest.raises(TransactionFailedError, match="approve"):
            trace.deploy(dev)
        from gusu.apps.trace import get_contract_source

        Governance(client).propose_approve_contract(dev, contracts.compute_code_hash(get_contract_source()))
        trace.deploy(dev)
        trace.register_brand(dev, BRAND, "阳澄湖大闸蟹", address["brand"], keys["brand"].public_key, "91320500MA1X")
        for role, name in (("packer", "packer"), ("qc", "qc"), ("logistics", "carrier"), ("retailer", "shop")):
            trace.grant_role(keys["brand"], BRAND, role, address[name])
        trace.register_product(keys["brand"], BRAND, "crab", "Hairy crab 500 g", gtin="06901234567892",
                               qc_level_required=2)  # fmt: skip
        codes = issue_item_codes(keys["brand"], BRAND, "S1", 5)
        trace.issue_codes(keys["brand"], codes)
        trace.pack(keys["packer"], "B1", "crab", "S1", 5, "2026-10-01")
        trace.inspect(keys["qc"], "B1", 2, True, suite.hash(REPORT))
        trace.ship(keys["packer"], "B1", address["carrier"])
        with pytest.raises(TransactionFailedError, match="not you"):
            trace.receive(keys["shop"], "B1")
        trace.receive(keys["carrier"], "B1")
        trace.ship(keys["carrier"], "B1", address["shop"])
        trace.receive(keys["shop"], "B1")
        trace.put_on_sale(keys["shop"], "B1")
        assert trace.scan(keys["buyer"], codes[0], "苏州", activate=True).suspect is False
        assert trace.scan(keys["copy"], codes[0], "Shenzhen", activate=True).suspect is True
        assert trace.scan(keys["buyer"], codes[1], "苏州", activate=True).queries == 1
        forged = issue_item_codes(keys["copy"], BRAND, "S1", 1)[0]
        with pytest.raises(ForgedCodeError):
            trace.scan(keys["buyer"], forged, "苏州")
        with pytest.raises(TraceError, match="no brand"):
            trace.scan(keys["buyer"], issue_item_codes(keys["copy"], "nobody", "S1", 1)[0], "苏州")
        report = trace.get_item_report(codes[1])
        assert report.authentic and report.issued and not report.suspect and report.queries == 1
        assert [view.batch for view in report.path] == ["B1"] and report.timeline[0].kind == "packed"
        assert trace.get_item_report(codes[0]).suspect and not trace.get_item_report(forged).authentic
        assert json.loads(trace.export_batch("B1").to_json())["records"][-1]["activity"] == "sale"
    report_file, other_file = directory / "report.pdf", directory / "other.pdf"
    report_file.write_bytes(REPORT)
    other_file.write_bytes(REPORT.replace(b"passed", b"failed"))
    return TraceChain(endpoint, {}, codes, forged, report_file, other_file)


@pytest.fixture(scope="module")
def trace_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TraceChain]:
    directory = tmp_path_factory.mktemp("trace-chain")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "GUSU_HOME": str(directory / "home"), "GUSU_ENDPOINT": endpoint,
                   "GUSU_KEYFILE_SCRYPT_N": "1024"}  # fmt: skip
    environment.pop("GUSU_PASSPHRASE", None)
    layout = _gusu(environment, "chain", "init", "--dir", str(directory / "chain"), "--port", str(port),
                   "--workers", "0")  # fmt: skip
    _gusu(environment, "node", "start", "--dir", layout["node_directory"], "--detach")
    try:
        dev_path = Path(layout["dev_key"])
        dev = decrypt_key_file(dev_path.read_bytes(), dev_path.with_suffix(".pass").read_text().strip())
        chain = _set_up_with_the_sdk(endpoint, dev, directory)
        yield TraceChain(endpoint, environment, chain.codes, chain.forged, chain.report, chain.other_file)
    finally:
        subprocess.run([sys.executable, "-m", "gusu.cli.main", "node", "stop", "--dir", layout["node_directory"]],
                       env=environment, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def console(trace_chain: TraceChain) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(port), "--endpoint", trace_chain.endpoint,
         "--json"],
        env=trace_chain.environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())["url"].rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-gpu", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for(browser: Any, css: str) -> Any:
    return WebDriverWait(browser, WAIT_S, ignored_exceptions=_NAVIGATING).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def _check_clean(browser: Any, origin: str, page: str, allowed_statuses: tuple[str, ...] = ()) -> None:
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    errors = [entry for entry in errors if not any(f"status of {s}" in entry["message"] for s in allowed_statuses)]
    assert errors == [], f"{page}: {errors}"
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [name for name in resources if not name.startswith(origin + "/")] == [], page


def _submit_code(browser: Any, payload: str) -> None:
    form = browser.find_element(By.CSS_SELECTOR, "form.trace-form")
    field = browser.find_element(By.ID, "trace-code")
    field.clear()
    field.send_keys(payload)
    browser.find_element(By.ID, "trace-submit").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_consumer_page_without_login(console: str, browser: Any, trace_chain: TraceChain, language: str,
                                         tmp_path: Path) -> None:  # fmt: skip
    messages = load_catalogues()[language].messages
    browser.get(console + "/trace")
    _set_language(browser, language)
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == messages["trace.title"]
    assert browser.find_element(By.CSS_SELECTOR, 'nav a[href="/trace"]').text == messages["nav.trace"]

    # A genuine code scanned once: the verdict, the counter, the timeline with its transaction links.
    _submit_code(browser, trace_chain.codes[1].get_payload())
    verdict = _wait_for(browser, "#trace-verdict")
    assert verdict.get_attribute("data-verdict") == "genuine"
    assert verdict.text == messages["trace.genuine"].replace("{brand}", "阳澄湖大闸蟹")
    assert browser.find_elements(By.ID, "trace-suspect") == []
    queries = browser.find_element(By.ID, "trace-queries").text
    assert queries.startswith(messages["trace.queried"].split("{")[0]) and "苏州" in queries and "1" in queries
    cells = browser.find_elements(By.CSS_SELECTOR, "#trace-timeline td[data-event]")
    events = [cell.get_attribute("data-event") for cell in cells]
    assert events == ["packed", "qc_passed", "shipped", "received", "shipped", "received", "on_sale"]
    first_event = browser.find_element(By.CSS_SELECTOR, "#trace-timeline td[data-event]").text
    assert first_event == messages["trace.event.packed"]
    links = browser.find_elements(By.CSS_SELECTOR, '#trace-timeline a[href^="/transactions/0x"]')
    assert len(links) == 7
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trace-scans tbody tr")) == 1

    # The QC report, hashed in the browser: the real one matches, another file does not.
    browser.find_element(By.ID, "trace-report-file").send_keys(str(trace_chain.report))
    WebDriverWait(browser, WAIT_S).until(
        lambda driver: driver.find_element(By.ID, "trace-report-result").get_attribute("data-matches") == "true"
    )
    assert browser.find_element(By.ID, "trace-report-result").text.startswith(messages["trace.qc_match"])
    browser.find_element(By.ID, "trace-report-file").send_keys(str(trace_chain.other_file))
    WebDriverWait(browser, WAIT_S).until(
        lambda driver: driver.find_element(By.ID, "trace-report-result").get_attribute("data-matches") == "false"
    )
    browser.save_screenshot(str(tmp_path / f"trace-{language}.png"))
    _check_clean(browser, console, "trace genuine")

    # The code copied to a second place: suspect, with both scans listed.
    _submit_code(browser, trace_chain.codes[0].get_payload())
    assert _wait_for(browser, "#trace-verdict").get_attribute("data-verdict") == "suspect"
    assert browser.find_element(By.ID, "trace-suspect").text == messages["trace.suspect"]
    places = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#trace-scans tbody tr td:nth-child(2)")]
    assert places == ["苏州", "Shenzhen"]
    _check_clean(browser, console, "trace suspect")

    # A label signed by someone else: forged, and nothing else shown. Garbage: a clear message.
    _submit_code(browser, trace_chain.forged.get_payload())
    assert _wait_for(browser, "#trace-verdict").get_attribute("data-verdict") == "forged"
    assert browser.find_elements(By.ID, "trace-timeline") == []
    _submit_code(browser, "not a code")
    assert _wait_for(browser, "#trace-error").text.startswith(messages["trace.invalid"])
    _check_clean(browser, console, "trace invalid", allowed_statuses=("400",))
