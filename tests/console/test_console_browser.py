"""The console in a real browser: Debian's Chromium driven by Selenium through chromium-driver.

`scripts/bootstrap.sh test` installs both (apt: chromium, chromium-driver); Selenium never
downloads a browser of its own here (the driver path is given). Without them the tests
skip locally and fail under CI=true (tests/conftest.py).

Every page is loaded in both languages and must log no console error (a CSP violation
is one) and request nothing from another origin. Screenshots go to a temporary
folder, or to docs/console/ with GUSU_CONSOLE_SCREENSHOTS=1 (how docs/console.md's are made).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from console_helpers import RECIPIENT, Chain, find_free_port

from gusu.console.i18n import LANGUAGES, load_catalogues
from gusu.crypto import get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.sdk import Client, Contracts

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

from browser_helpers import set_language as _set_language  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 20
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="apt-get install chromium chromium-driver (Debian)"
    ),
]


@dataclass(frozen=True)
class RunningConsole:
    url: str
    first_run: tuple[str, str] | None
    """The operator's one-time credential the console printed on its first start."""


@pytest.fixture(scope="module")
def console_process(chain: Chain) -> Iterator[RunningConsole]:
    """`gusu console` in its own process, as a user starts it; the URL and credential it printed."""
    port = find_free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(port), "--endpoint", chain.endpoint, "--json"],
        env=chain.environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = json.loads(process.stdout.readline())
        assert (printed["url"], printed["endpoint"]) == (f"http://127.0.0.1:{port}/", chain.endpoint)
        first_run = printed.get("first_run")  # the operator's one-time credential, on the console's first start
        assert first_run is None or (first_run["username"] == "admin" and len(first_run["password"]) >= 12)
        credential = None if first_run is None else (first_run["username"], first_run["password"])
        yield RunningConsole(printed["url"].rstrip("/"), credential)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def console(console_process: RunningConsole) -> str:
    return console_process.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--disable-gpu",
        "--no-first-run",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("GUSU_CONSOLE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


_NAVIGATING = (NoSuchElementException, StaleElementReferenceException)
"""What a page that is being replaced may raise while a wait polls it."""


def _wait_until(browser: Any, timeout_s: float, condition: Any) -> Any:
    """Wait until `condition(browser)` holds, reading again when what it read was replaced meanwhile (the dashboard
    redraws itself every poll, a check replaces its verdict): a stale element is a race, not an answer."""
    return WebDriverWait(browser, timeout_s, ignored_exceptions=_NAVIGATING).until(condition)


def _wait_for(browser: Any, css: str) -> Any:
    return _wait_until(browser, WAIT_S, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def _check_clean(browser: Any, origin: str, page: str) -> None:
    """No console errors, and every resource the page loaded came from the console itself."""
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == [], f"{page}: {errors}"
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    foreign = [name for name in resources if not name.startswith(origin + "/")]
    assert foreign == [], f"{page} requested {foreign}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_load_in_both_languages(
    console: str, browser: Any, chain: Chain, screenshots: Path, language: str
) -> None:
    messages = load_catalogues()[language].messages
    browser.get(console + "/")
    _set_language(browser, language)
    suffix = "zh" if language == "zh-CN" else "en"
    pages = [
        ("/", "#height", "dashboard"),
        ("/blocks", "table tbody tr", "explorer"),
        (f"/blocks/{chain.transfer_height}", "#block-hash", "block"),
        (f"/transactions/{chain.transfer_id}", "#receipt-status", "transaction"),
        (f"/accounts/{RECIPIENT}", "#balance", "account"),
        ("/verify", "#verify-file", "verify"),
    ]
    for path, ready, name in pages:
        browser.get(console + path)
        _wait_for(browser, ready)
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        labels = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "nav a")]
        for key in ("nav.dashboard", "nav.explorer", "nav.verify"):
            assert messages[key] in labels, (key, labels)
        _check_clean(browser, console, path)
        browser.save_screenshot(str(screenshots / f"{name}-{suffix}.png"))
    browser.get(console + "/")
    _wait_for(browser, "#height")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == messages["dashboard.title"]
    assert browser.find_element(By.ID, "chain-id").text == "gusu-local"
    assert browser.find_element(By.ID, "live").text == messages["live.connected"]
    browser.get(console + f"/transactions/{chain.transfer_id}")
    assert _wait_for(browser, "#receipt-status").text == messages["receipt.status.success"]
    browser.get(console + f"/accounts/{RECIPIENT}")
    assert _wait_for(browser, "#balance").text == "25"


def test_search_finds_a_block(console: str, browser: Any, chain: Chain) -> None:
    browser.get(console + "/blocks")
    _wait_for(browser, "table tbody tr")
    box = browser.find_element(By.ID, "search-query")
    box.send_keys(str(chain.transfer_height))
    box.submit()
    _wait_until(browser, WAIT_S, lambda driver: driver.current_url.endswith(f"/blocks/{chain.transfer_height}"))
    block_hash = _wait_for(browser, "#block-hash").text
    assert block_hash.startswith("0x") and len(block_hash) == 66
    assert chain.transfer_id in browser.find_element(By.TAG_NAME, "main").text
    # By hash too, and an unknown query says it found nothing.
    browser.get(console + "/search?q=" + block_hash)
    assert _wait_for(browser, "#block-hash").text == block_hash
    browser.get(console + "/search?q=0x" + "cd" * 32)
    assert "0x" + "cd" * 32 in _wait_for(browser, "#search-not-found").text
    _check_clean_except_404(browser, console)


def _check_clean_except_404(browser: Any, origin: str) -> None:
    # The not-found search page is answered 404 on purpose, which Chromium logs once.
    entries = [entry for entry in browser.get_log("browser") if "404" not in entry["message"]]
    assert [entry for entry in entries if entry["level"] == "SEVERE"] == []


def test_verification_page_hashes_in_the_browser(console: str, browser: Any, chain: Chain, screenshots: Path) -> None:
    browser.get(console + "/verify")
    upload = _wait_for(browser, "#verify-file")
    upload.send_keys(str(chain.document))
    verdict = _wait_for(browser, "#verify-verdict")
    assert verdict.get_attribute("data-recorded") == "true"
    assert browser.find_element(By.ID, "verify-hash").text == chain.document_hash
    result = browser.find_element(By.ID, "verify-result").text
    assert chain.dev_address in result and "lease <b>2026</b>" in result
    browser.save_screenshot(str(screenshots / "verify-recorded.png"))
    browser.get(console + "/verify")
    upload = _wait_for(browser, "#verify-file")
    upload.send_keys(str(chain.unrecorded))
    verdict = _wait_for(browser, "#verify-verdict")
    assert verdict.get_attribute("data-recorded") == "false"
    expected = "0x" + hashlib.new("sm3", chain.unrecorded.read_bytes()).hexdigest()
    assert browser.find_element(By.ID, "verify-hash").text == expected
    _check_clean(browser, console, "/verify")


def test_browser_hashes_match_the_standards_and_python(console: str, browser: Any) -> None:
    browser.get(console + "/verify")
    _wait_for(browser, "#verify-file")
    vectors = {
        # GB/T 32905-2016, appendix A.
        ("SM3", b"abc"): "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
        ("SM3", b"abcd" * 16): "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
        ("keccak-256", b""): "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
        ("keccak-256", b"abc"): "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
    }
    generator = random.Random(32905)
    keccak = get_suite("ecdsa")
    # Lengths around both block sizes (64 and 136 bytes) and their padding boundaries.
    for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 135, 136, 137, 271, 272, 1000, 5000]:
        data = bytes(generator.getrandbits(8) for _ in range(length))
        vectors[("SM3", data)] = hashlib.new("sm3", data).hexdigest()
        vectors[("keccak-256", data)] = keccak.hash(data).hex()
    script = """
        const [name, hex, splits] = arguments;
        const bytes = new Uint8Array(hex.length / 2).map((_, i) => parseInt(hex.substr(2 * i, 2), 16));
        const whole = GusuHash.digestHex(name, bytes);
        const hasher = GusuHash.create(name);
        let start = 0;
        for (const end of splits) { hasher.update(bytes.subarray(start, end)); start = end; }
        hasher.update(bytes.subarray(start));
        return [whole, GusuHash.toHex(hasher.digest())];
    """
    for (name, data), expected in vectors.items():
        splits = sorted(generator.randrange(len(data) + 1) for _ in range(3))
        whole, pieces = browser.execute_script(script, name, data.hex(), splits)
        assert whole == expected, (name, len(data))
        assert pieces == expected, (name, len(data), splits)


# --- logging in, and the writes: keys, deploy after approval, query, call --------------------------------


def _check_clean_except(browser: Any, statuses: tuple[str, ...]) -> None:
    """No console error but the answers these statuses give on purpose (a failed login is 401)."""
    entries = [
        entry
        for entry in browser.get_log("browser")
        if not any(f"status of {status}" in entry["message"] for status in statuses)
    ]
    assert [entry for entry in entries if entry["level"] == "SEVERE"] == [], entries


def _fill(browser: Any, css: str, text: str) -> None:
    field = browser.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text)


def _log_in(browser: Any, username: str, password: str) -> None:
    _fill(browser, "#field-username", username)
    _fill(browser, "#field-password", password)
    browser.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()


def test_login_in_both_languages_with_the_first_run_credential(
    console_process: RunningConsole, browser: Any, screenshots: Path
) -> None:
    if console_process.first_run is None:
        pytest.fail("the console did not start on an empty store: no first-run credential to log in with")
    username, password = console_process.first_run
    catalogues = load_catalogues()
    url = console_process.url
    browser.delete_all_cookies()
    browser.get(url + "/login")
    # Chinese first, by default: the page and a failed login's message.
    assert _wait_for(browser, "html").get_attribute("lang") == "zh-CN"
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == catalogues["zh-CN"].messages["login.title"]
    _log_in(browser, username, "not-the-password")
    error = _wait_for(browser, "main .error")
    assert error.text == catalogues["zh-CN"].messages["login.failed"]
    browser.save_screenshot(str(screenshots / "login-failed-zh.png"))
    # English once switched: the same failure, translated.
    _set_language(browser, "en")
    _wait_for(browser, "#login-form")
    assert browser.find_element(By.CSS_SELECTOR, "main h1").text == catalogues["en"].messages["login.title"]
    _log_in(browser, username, password + "x")
    assert _wait_for(browser, "main .error").text == catalogues["en"].messages["login.failed"]
    browser.save_screenshot(str(screenshots / "login-failed-en.png"))
    # The printed credential logs in.
    _log_in(browser, username, password)
    assert _wait_for(browser, "#account-username").text == "admin"
    assert browser.find_element(By.ID, "account-role").text == catalogues["en"].messages["role.operator"]
    _check_clean_except(browser, ("401",))


def test_deploy_a_template_call_it_and_see_it_in_the_explorer(
    console_process: RunningConsole, browser: Any, chain: Chain, screenshots: Path
) -> None:
    if console_process.first_run is None:
        pytest.fail("the console did not start on an empty store: no first-run credential to log in with")
    url = console_process.url
    messages = load_catalogues()["en"].messages
    browser.delete_all_cookies()
    browser.get(url + "/login")
    _set_language(browser, "en")
    _log_in(browser, *console_process.first_run)
    _wait_for(browser, "#account-username")
    # The dev key, imported from its key file into the encrypted keystore.
    browser.get(url + "/keys")
    if chain.dev_address not in browser.find_element(By.ID, "keys").text:
        _wait_for(browser, "#import-file").send_keys(str(chain.dev_key))
        browser.find_element(By.CSS_SELECTOR, "#import-key-form button").click()
    assert chain.dev_address in _wait_for(browser, f'tr[data-address="{chain.dev_address}"]').text
    browser.save_screenshot(str(screenshots / "keys-en.png"))

    def deploy(name: str) -> None:
        browser.get(url + "/contracts")
        _fill(browser, "#deploy-name", name)
        Select(browser.find_element(By.ID, "deploy-template")).select_by_value("basic")
        _fill(browser, "#deploy-args", "[1000]")
        _fill(browser, "#deploy-passphrase", chain.dev_passphrase)
        browser.find_element(By.CSS_SELECTOR, "#deploy-form button[type=submit]").click()

    name = f"shop_{random.randrange(1 << 30)}"
    deploy(name)
    # The chain requires approval first: the page says so and links to the filled-in proposal.
    assert name in _wait_for(browser, "#approval-needed").text
    browser.save_screenshot(str(screenshots / "contracts-en.png"))
    browser.find_element(By.ID, "approval-link").click()
    _wait_for(browser, "#propose-form")
    kind = Select(browser.find_element(By.ID, "propose-kind")).first_selected_option.get_attribute("value")
    assert kind == "approve_contract"
    _fill(browser, "#propose-passphrase", chain.dev_passphrase)
    browser.find_element(By.CSS_SELECTOR, "#propose-form button[type=submit]").click()
    assert _wait_for(browser, "#transaction-result").get_attribute("data-success") == "true"
    assert browser.find_elements(By.CSS_SELECTOR, 'tr[data-status="approved"]')
    browser.save_screenshot(str(screenshots / "governance-en.png"))
    # Deployed now: the contract's page with its receipt and the generated forms.
    deploy(name)
    assert _wait_for(browser, "#transaction-result").get_attribute("data-success") == "true"
    assert browser.find_element(By.TAG_NAME, "h1").text == messages["contract.title"].replace("{name}", name)
    _fill(browser, "#balance-arg0", chain.dev_address)
    browser.find_element(By.CSS_SELECTOR, "#view-balance button").click()
    assert _wait_for(browser, "#query-value").text == "1000"
    _fill(browser, "#transfer-arg0", RECIPIENT)
    _fill(browser, "#transfer-arg1", "7")
    _fill(browser, "#call-transfer-passphrase", chain.dev_passphrase)
    browser.find_element(By.CSS_SELECTOR, "#call-transfer button[type=submit]").click()
    result = _wait_for(browser, "#transaction-result")
    assert result.get_attribute("data-success") == "true" and "Transfer" in result.text
    browser.save_screenshot(str(screenshots / "contract-en.png"))
    transaction_id = browser.find_element(By.ID, "result-transaction").text
    _check_clean(browser, url, "contract page")
    # The transaction in the explorer.
    browser.find_element(By.ID, "result-transaction").click()
    assert _wait_for(browser, "#receipt-status").text == messages["receipt.status.success"]
    main = browser.find_element(By.TAG_NAME, "main").text
    assert transaction_id in main and name in main and "transfer" in main
    # A transfer sent with the SDK, not through the console: the contract's event history (from the node) has it.
    key = decrypt_key_file(chain.dev_key.read_bytes(), chain.dev_passphrase)
    with Client(chain.endpoint) as client:
        outcome = Contracts(client).at(name).transfer(key, bytes.fromhex(RECIPIENT.removeprefix("0x")), 3)
    sdk_id = "0x" + outcome.receipt.transaction_id.hex()
    browser.get(f"{url}/contracts/{name}#events")
    _wait_for(browser, "#event-history")
    assert browser.find_element(By.CSS_SELECTOR, "h2#events").text == messages["events.history"]
    row = browser.find_element(By.CSS_SELECTOR, f'tr.chain-event[data-transaction="{sdk_id}"]')
    assert row.find_element(By.CLASS_NAME, "event-name").text == "Transfer"
    assert '"amount": 3' in row.find_element(By.CLASS_NAME, "event-fields").text
    first = browser.find_elements(By.CSS_SELECTOR, "tr.chain-event")[0]
    assert first.get_attribute("data-transaction") == sdk_id, "newest first"
    assert browser.find_elements(By.CSS_SELECTOR, f'tr.chain-event[data-transaction="{transaction_id}"]')
    _check_clean(browser, url, "contract event history")
    browser.save_screenshot(str(screenshots / "contract-events-en.png"))
    # The same pages in Chinese, for the screenshots.
    _set_language(browser, "zh-CN")
    chinese = load_catalogues()["zh-CN"].messages
    for path, ready, shot in (
        ("/keys", "#keys", "keys-zh.png"),
        ("/contracts", "#templates", "contracts-zh.png"),
        (f"/contracts/{name}", "#contract-history", "contract-zh.png"),
        ("/governance", "#proposals", "governance-zh.png"),
    ):
        browser.get(url + path)
        _wait_for(browser, ready)
        assert chinese["nav.contracts"] in browser.find_element(By.TAG_NAME, "nav").text
        if ready == "#contract-history":
            assert browser.find_element(By.CSS_SELECTOR, "h2#events").text == chinese["events.history"]
            assert browser.find_elements(By.CSS_SELECTOR, f'tr.chain-event[data-transaction="{sdk_id}"]')
        _check_clean(browser, url, path)
        browser.save_screenshot(str(screenshots / shot))
