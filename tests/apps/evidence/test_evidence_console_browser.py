"""The evidence service's public verification page in a real browser (Debian's Chromium through Selenium),
in zh-CN and en, without logging in: look a record up by number, see its witnesses, supersession and proof
check, and drop the file (hashed in the browser) to see whether it is the recorded content."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from evidence_helpers import Gusu, free_port

from gusu.apps.evidence.records import compute_content_hashes
from gusu.console.i18n import LANGUAGES, load_catalogues

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
PASSPHRASE = "witness passphrase"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="apt-get install chromium chromium-driver (Debian)"
    ),
]


@dataclass(frozen=True)
class Site:
    url: str
    document: Path
    corrected: Path
    other: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A chain with the evidence service: record 1 attested by a notary and superseded by record 2; the console."""
    directory = tmp_path_factory.mktemp("evidence-console")
    port = free_port()
    work = directory / "work"
    work.mkdir()
    gusu = Gusu(directory / "home", f"http://127.0.0.1:{port}", work)
    layout = gusu.json("chain", "init", "--dir", str(directory / "chain"), "--port", str(port), "--workers", "0")
    gusu.json("node", "start", "--dir", layout["node_directory"], "--detach")
    console: subprocess.Popen[str] | None = None
    try:
        dev = layout["dev_key"]
        passphrase_file = directory / "pass.txt"
        passphrase_file.write_text(PASSPHRASE + "\n")
        gusu.json("evidence", "setup", "--threshold", "1", "--key", dev)
        notary = gusu.json("keys", "new", "notary", "--passphrase-file", str(passphrase_file))["address"]
        gusu.json("evidence", "witness", "add", notary, "--organization", "苏州市公证处", "--kind", "notary",
                  "--key", dev)  # fmt: skip
        document = work / "contract.txt"
        document.write_bytes("租赁合同 lease, signed 2026-03-01\n".encode() * 200)
        corrected = work / "contract-v2.txt"
        corrected.write_bytes(document.read_bytes() + b"amended\n")
        other = work / "other.txt"
        other.write_bytes(b"not the recorded content\n" * 10)
        gusu.json("evidence", "submit", str(document), "--description", "lease", "--key", dev)
        gusu.json("evidence", "attest", "1", "--key", "notary", "--passphrase-file", str(passphrase_file))
        gusu.json("evidence", "supersede", "1", str(corrected), "--key", dev)
        console_port = free_port()
        console = subprocess.Popen(
            [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(console_port), "--endpoint", gusu.endpoint,
             "--json"],
            env=gusu.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
        )  # fmt: skip
        assert console.stdout is not None
        printed = json.loads(console.stdout.readline())
        yield Site(printed["url"].rstrip("/"), document, corrected, other)
    finally:
        if console is not None:
            console.terminate()
            console.wait(timeout=10)
        gusu.run("node", "stop", "--dir", layout["node_directory"], check=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--disable-gpu", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


_NAVIGATING = (NoSuchElementException, StaleElementReferenceException)


def _wait_for(browser: Any, css: str) -> Any:
    return WebDriverWait(browser, WAIT_S, ignored_exceptions=_NAVIGATING).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def _check_clean(browser: Any, origin: str, page: str, allowed_statuses: tuple[str, ...] = ()) -> None:
    errors = [
        entry
        for entry in browser.get_log("browser")
        if entry["level"] in ("SEVERE", "WARNING")
        and not any(status in entry["message"] for status in allowed_statuses)
    ]
    assert errors == [], f"{page}: {errors}"
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [name for name in resources if not name.startswith(origin + "/")] == [], page


def _match_verdict(browser: Any, path: Path) -> Any:
    upload = _wait_for(browser, "#evidence-file")
    upload.send_keys(str(path))
    return WebDriverWait(browser, WAIT_S, ignored_exceptions=_NAVIGATING).until(
        lambda driver: driver.find_element(By.CSS_SELECTOR, "#evidence-match[data-match]")
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_public_verification_page(site: Site, browser: Any, language: str, tmp_path: Path) -> None:
    messages = load_catalogues()[language].messages
    browser.get(site.url + "/evidence/verify")
    _set_language(browser, language)
    assert browser.find_element(By.TAG_NAME, "h1").text == messages["evidence.title"]
    assert browser.find_elements(By.ID, "login-link"), "the page is public: nobody is signed in"

    # Enter the record number as printed on the certificate and look it up.
    form = browser.find_element(By.ID, "evidence-form")
    field = browser.find_element(By.ID, "evidence-record-input")
    field.clear()
    field.send_keys("EV-00000001")
    browser.find_element(By.ID, "evidence-lookup").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))
    assert _wait_for(browser, "#evidence-record-id").text == "EV-00000001"
    recorded = compute_content_hashes(site.document.read_bytes())
    assert browser.find_element(By.ID, "evidence-sm3").text == "0x" + recorded.sm3.hex()
    proof = browser.find_element(By.ID, "evidence-proof")
    assert proof.get_attribute("data-valid") == "true"
    witnesses = browser.find_element(By.ID, "evidence-witnesses").text
    assert "苏州市公证处" in witnesses and messages["evidence.kind.notary"] in witnesses
    witnessed = messages["evidence.witnessed"].split("{")[0].strip()
    assert witnessed in browser.find_element(By.ID, "evidence-witnessed").text
    supersession = browser.find_element(By.ID, "evidence-supersession")
    assert messages["evidence.superseded_by"] in supersession.text and "EV-00000002" in supersession.text

    # The recorded file matches (hashed in the browser), another file does not.
    verdict = _match_verdict(browser, site.document)
    assert verdict.get_attribute("data-match") == "true" and verdict.text == messages["evidence.match"]
    assert "0x" + recorded.sm3.hex() in browser.find_element(By.ID, "evidence-file-result").text
    assert "0x" + recorded.sha256.hex() in browser.find_element(By.ID, "evidence-file-result").text
    browser.save_screenshot(str(tmp_path / f"evidence-verify-{language}.png"))
    verdict = _match_verdict(browser, site.other)
    assert verdict.get_attribute("data-match") == "false" and verdict.text == messages["evidence.mismatch"]
    _check_clean(browser, site.url, "/evidence/verify")

    # The corrected record links back; the QR code's address opens the record directly.
    browser.get(site.url + "/evidence/verify?record=EV-00000002")
    assert messages["evidence.supersedes"] in _wait_for(browser, "#evidence-supersession").text
    assert _match_verdict(browser, site.corrected).get_attribute("data-match") == "true"

    # An unknown record and a malformed number say so.
    browser.get(site.url + "/evidence/verify?record=EV-00000099")
    not_found = messages["evidence.not_found"].replace("{record}", "EV-00000099")
    assert _wait_for(browser, "#evidence-error").text == not_found
    browser.get(site.url + "/evidence/verify?record=nonsense")
    assert _wait_for(browser, "#evidence-error").text == messages["evidence.bad_number"]
    _check_clean(browser, site.url, "/evidence/verify (errors)", ("404", "400"))
