"""The scf console pages in Debian's Chromium: a holder's vouchers and lineage in both languages, the issuer's
approval queue (a checker approves in the browser), the regulator's table, a non-holder refused a lineage, and
the public voucher check without login (match, no match, the per-address limit).

A node and `gusu console` run as processes, as a user starts them; the vouchers are made with the SDK.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gusu.apps.scf.client import ScfApp, TradeDocuments
from gusu.apps.scf.contract import DAY_MS
from gusu.console.i18n import load_catalogues
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.sdk import Client, Contracts

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

from browser_helpers import is_replaced  # noqa: E402
from browser_helpers import set_language as _set_language  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 20
COMMAND_TIMEOUT_S = 90
PASSPHRASE = "scf browser passphrase"
PUBLIC_LOOKUPS_MAX = 8
"""The console's public-check limit per address here: the public tests below make 6 lookups before the limit's."""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="apt-get install chromium chromium-driver (Debian)"
    ),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gusu(environment: dict[str, str], *args: str) -> Any:
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", *args, "--json"],
        env=environment, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, f"gusu {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
    return json.loads(completed.stdout)


@dataclass(frozen=True)
class Scene:
    url: str
    credential: tuple[str, str]
    key_files: dict[str, Path]
    root: int
    child: int
    draft: int
    endpoint: str


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    directory = tmp_path_factory.mktemp("scf-console")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "GUSU_HOME": str(directory / "home"), "GUSU_ENDPOINT": endpoint,
                   "GUSU_KEYFILE_SCRYPT_N": "1024"}  # fmt: skip
    environment.pop("GUSU_PASSPHRASE", None)
    layout = _gusu(environment, "chain", "init", "--dir", str(directory / "chain"), "--port", str(port),
                   "--workers", "0")  # fmt: skip
    _gusu(environment, "node", "start", "--dir", layout["node_directory"], "--detach")
    console = None
    try:
        passphrase_file = directory / "pass.txt"
        passphrase_file.write_text(PASSPHRASE)
        key_files = {}
        keys: dict[str, PrivateKey] = {}
        for actor in ("mia", "chen", "tom", "tina", "ben"):
            key_files[actor] = Path(_gusu(environment, "keys", "new", actor, "--passphrase-file",
                                          str(passphrase_file))["path"])  # fmt: skip
            keys[actor] = decrypt_key_file(key_files[actor].read_bytes(), PASSPHRASE)
        dev_key = Path(layout["dev_key"])
        operator = decrypt_key_file(dev_key.read_bytes(), Path(layout["dev_passphrase_file"]).read_text().strip())
        with Client(endpoint) as client:
            app = ScfApp(Contracts(client))
            suite = get_suite(client.status().suite)
            app.setup(operator)
            for enterprise, kind, name in [("acme", "core", "苏州重工 <Acme>"), ("tier1", "supplier", "Tier-1"),
                                           ("tier2", "supplier", "Tier-2"), ("bank", "funder", "Bank")]:  # fmt: skip
                app.admit_enterprise(operator, enterprise, kind, name)
            for actor, enterprise, role in [("mia", "acme", "maker"), ("chen", "acme", "checker"),
                                            ("tom", "tier1", "user"), ("tina", "tier2", "user"),
                                            ("ben", "bank", "user")]:  # fmt: skip
                app.set_account(operator, suite.compute_address(keys[actor].public_key), enterprise, role)

            def documents(tag: str) -> TradeDocuments:
                return TradeDocuments(*(suite.hash(f"{kind}-{tag}".encode()) for kind in ("c", "i", "d")))

            maturity = client.status().latest_block_time_ms + 90 * DAY_MS
            root = app.draft(keys["mia"], "tier1", 1_000_000_00, maturity, 1_000_000_00, documents("root"))
            app.approve(keys["chen"], root)
            app.accept(keys["tom"], root)
            child = app.transfer(keys["tom"], root, "tier2", 300_000_00, documents("tier2"))
            app.offer_financing(keys["ben"], root, 500_000_00, 450, 1_000_00)
            draft = app.draft(keys["mia"], "tier1", 20_000_00, maturity, 20_000_00, documents("queued"))
        console_port = _free_port()
        console = subprocess.Popen(
            [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(console_port), "--endpoint", endpoint,
             "--scf-verify-lookups", str(PUBLIC_LOOKUPS_MAX), "--json"],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert console.stdout is not None
        printed = json.loads(console.stdout.readline())
        first_run = printed["first_run"]
        yield Scene(printed["url"].rstrip("/"), (first_run["username"], first_run["password"]), key_files, root,
                    child, draft, endpoint)  # fmt: skip
    finally:
        if console is not None:
            console.terminate()
            console.wait(timeout=10)
        subprocess.run([sys.executable, "-m", "gusu.cli.main", "node", "stop", "--dir", layout["node_directory"]],
                       env=environment, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip


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


_NAVIGATING = (NoSuchElementException, StaleElementReferenceException)


def _wait_for(browser: Any, css: str) -> Any:
    return WebDriverWait(browser, WAIT_S, ignored_exceptions=_NAVIGATING).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def _submit(browser: Any, form_css: str) -> None:
    form = browser.find_element(By.CSS_SELECTOR, form_css)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))


def _check_clean(browser: Any, origin: str, page: str) -> None:
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == [], f"{page}: {errors}"
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [name for name in resources if not name.startswith(origin + "/")] == [], page


def _log_in(browser: Any, url: str, username: str, password: str) -> None:
    browser.delete_all_cookies()
    browser.get(url + "/login")
    for css, text in (("#field-username", username), ("#field-password", password)):
        field = _wait_for(browser, css)
        field.clear()
        field.send_keys(text)
    _submit(browser, "#login-form")
    _wait_for(browser, "#account-link")


def _import_key(browser: Any, url: str, path: Path) -> None:
    browser.get(url + "/keys")
    _wait_for(browser, "#import-file").send_keys(str(path))
    _submit(browser, "#import-key-form")


def _screenshots(tmp_path: Path) -> Path:
    """docs/apps/ with GUSU_CONSOLE_SCREENSHOTS=1 (for docs/apps/scf.md), else a temporary folder."""
    if os.environ.get("GUSU_CONSOLE_SCREENSHOTS") == "1":
        return Path(__file__).resolve().parents[3] / "docs" / "apps"
    return tmp_path


def test_holder_sees_its_vouchers_and_lineage_in_both_languages(scene: Scene, browser: Any, tmp_path: Path) -> None:
    catalogues = load_catalogues()
    _log_in(browser, scene.url, *scene.credential)
    _import_key(browser, scene.url, scene.key_files["tom"])
    browser.get(scene.url + "/scf")
    for language in ("zh-CN", "en"):
        messages = catalogues[language].messages
        _set_language(browser, language)
        held = _wait_for(browser, "#scf-held-tier1")
        assert (
            messages["scf.held_by"].replace("{enterprise}", "tier1") in browser.find_element(By.TAG_NAME, "main").text
        )
        rows = held.find_elements(By.CSS_SELECTOR, "tbody tr")
        assert [row.find_element(By.TAG_NAME, "td").text for row in rows] == [str(scene.root)]
        assert "1,000,000.00" in rows[0].text and "700,000.00" in rows[0].text
        assert messages["scf.status.held"] in rows[0].text
        rows[0].find_element(By.CSS_SELECTOR, f'a[href="/scf?voucher={scene.root}"]').click()
        lineage = _wait_for(browser, "#scf-lineage")
        title = browser.find_element(By.ID, "scf-lineage-title").text
        assert title == messages["scf.lineage"].replace("{voucher}", str(scene.root))
        ids = [row.find_element(By.TAG_NAME, "td").text for row in lineage.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert ids == [str(scene.root), str(scene.child)]
        offers = browser.find_element(By.ID, "scf-offers").text
        assert "6,547.95" in offers and "493,452.05" in offers  # the all-in cost and the net, shown before accepting
        _check_clean(browser, scene.url, f"/scf ({language})")
        browser.save_screenshot(str(_screenshots(tmp_path) / f"scf-holder-{language}.png"))
        browser.get(scene.url + "/scf")


def test_checker_approves_in_the_queue_and_the_regulator_sees_the_issuer(scene: Scene, browser: Any) -> None:
    messages = load_catalogues()["en"].messages
    _log_in(browser, scene.url, *scene.credential)
    _set_language(browser, "en")
    _import_key(browser, scene.url, scene.key_files["chen"])
    browser.get(scene.url + "/scf/queue")
    form_css = f"#scf-approve-{scene.draft}"
    _wait_for(browser, form_css)
    browser.find_element(By.CSS_SELECTOR, f"#scf-approve-{scene.draft}-passphrase").send_keys(PASSPHRASE)
    _submit(browser, form_css)
    result = _wait_for(browser, "#scf-result")
    assert "success" in (result.get_attribute("class") or ""), result.text
    assert messages["scf.approved"].split("{voucher}")[0] in result.text
    with Client(scene.endpoint) as client:
        voucher = ScfApp(Contracts(client)).get_voucher(scene.draft)
    assert voucher is not None and voucher.status == "pending_accept"
    _check_clean(browser, scene.url, "/scf/queue")
    browser.get(scene.url + "/audit")
    assert "scf.approve 0x" in _wait_for(browser, "#audit").text  # the approval is in the console audit log
    browser.get(scene.url + "/scf/regulator")
    table = _wait_for(browser, "#scf-issuers").text
    assert "acme" in table and "苏州重工 <Acme>" in table and "1,000,000.00" in table
    browser.get(scene.url + f"/scf/regulator?root={scene.root}")
    assert str(scene.child) in _wait_for(browser, "#scf-tree").text
    browser.get(scene.url + "/scf/regulator?root=x")
    assert _wait_for(browser, "#scf-input").text == messages["scf.error.voucher_id"]


def test_a_holder_sees_only_its_own_lineage(scene: Scene, browser: Any) -> None:
    """A developer whose key acts for tier2 sees the part it holds and its path from the root, but not the root's
    page (tier1's holding) nor the regulator's view."""
    messages = load_catalogues()["en"].messages
    _log_in(browser, scene.url, *scene.credential)
    _set_language(browser, "en")
    browser.get(scene.url + "/users")
    _wait_for(browser, "#field-username").send_keys("tier2-clerk")
    Select(browser.find_element(By.ID, "field-role")).select_by_value("developer")
    _submit(browser, "#create-user-form")
    password = _wait_for(browser, "#shown-password").text
    _log_in(browser, scene.url, "tier2-clerk", password)
    _set_language(browser, "en")
    _import_key(browser, scene.url, scene.key_files["tina"])
    browser.get(scene.url + "/scf")
    rows = _wait_for(browser, "#scf-held-tier2").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [row.find_element(By.TAG_NAME, "td").text for row in rows] == [str(scene.child)]
    assert browser.find_elements(By.ID, "scf-regulator-link") == []
    browser.get(scene.url + f"/scf?voucher={scene.child}")
    lineage = _wait_for(browser, "#scf-lineage")
    assert [row.find_element(By.TAG_NAME, "td").text for row in lineage.find_elements(By.CSS_SELECTOR, "tbody tr")] == [
        str(scene.root),
        str(scene.child),
    ]
    browser.get(scene.url + f"/scf?voucher={scene.root}")
    assert _wait_for(browser, "#scf-forbidden").text == messages["scf.forbidden"]
    assert browser.find_elements(By.ID, "scf-lineage") == []
    browser.get(scene.url + "/scf/regulator")
    assert browser.find_elements(By.ID, "scf-issuers") == []


def _public_check(browser: Any, voucher: int, face: str, holder: str = "") -> Any:
    """Fill the public check's form as a visitor types it, submit, and return the result (or limit) element."""
    fields = (("#scf-verify-voucher", str(voucher)), ("#scf-verify-face", face), ("#scf-verify-holder", holder))
    for css, text in fields:
        field = _wait_for(browser, css)
        field.clear()
        field.send_keys(text)
    _submit(browser, "#scf-verify-form")
    return _wait_for(browser, "#scf-verify-result, #scf-verify-limited")


def test_public_check_answers_match_or_no_match_in_both_languages(scene: Scene, browser: Any, tmp_path: Path) -> None:
    catalogues = load_catalogues()
    for language in ("zh-CN", "en"):
        messages = catalogues[language].messages
        browser.delete_all_cookies()  # a visitor: no session
        browser.get(scene.url + "/scf/verify")
        _set_language(browser, language)
        assert browser.find_elements(By.ID, "account-link") == []
        # Reading the log empties it: the earlier tests' expected 400/403 pages (and the favicon's 404 they
        # caused) are not the pages checked here.
        browser.get_log("browser")
        result = _public_check(browser, scene.root, "1,000,000.00")
        assert result.get_attribute("data-match") == "true", result.text
        assert messages["scf.public.match"] in result.text
        assert browser.find_element(By.ID, "scf-verify-issuer").text == "acme (苏州重工 <Acme>)"
        assert browser.find_element(By.ID, "scf-verify-status").text == messages["scf.public.status.accepted"]
        assert len(browser.find_element(By.ID, "scf-verify-maturity").text) == len("2026-01-01")
        assert browser.find_element(By.ID, "scf-verify-proof").get_attribute("data-valid") == "true"
        for hidden in ("tier1", "700,000.00", "300,000.00", "bank"):  # holder, held amount, parts: not revealed
            assert hidden not in result.text
        _check_clean(browser, scene.url, f"/scf/verify match ({language})")
        browser.save_screenshot(str(_screenshots(tmp_path) / f"scf-verify-{language}.png"))
        result = _public_check(browser, scene.root, "999999.99")
        assert result.get_attribute("data-match") == "false"
        assert result.text == messages["scf.public.no_match"]
        assert "acme" not in browser.find_element(By.TAG_NAME, "main").text
        _check_clean(browser, scene.url, f"/scf/verify no match ({language})")
    # The holder as told: its registered name matches; another member's id does not.
    result = _public_check(browser, scene.child, "300000", "Tier-2")
    assert result.get_attribute("data-match") == "true"
    result = _public_check(browser, scene.child, "300000", "tier1")
    assert result.get_attribute("data-match") == "false"


def test_public_check_is_limited_per_address(scene: Scene, browser: Any) -> None:
    """Guesses from one address stop being answered at the limit, and then even the right facts get no answer."""
    messages = load_catalogues()["en"].messages
    browser.delete_all_cookies()
    browser.get(scene.url + "/scf/verify")
    _set_language(browser, "en")
    answered = 0
    for guess in range(PUBLIC_LOOKUPS_MAX + 1):
        result = _public_check(browser, scene.root, f"{guess + 1}.00")
        if result.get_attribute("id") == "scf-verify-limited":
            break
        answered += 1
        assert result.get_attribute("data-match") == "false"
    assert result.get_attribute("id") == "scf-verify-limited", "the limit was never reached"
    assert answered <= PUBLIC_LOOKUPS_MAX
    expected = messages["scf.public.limited"].replace("{count}", str(PUBLIC_LOOKUPS_MAX)).replace("{minutes}", "10")
    assert result.text == expected
    result = _public_check(browser, scene.root, "1000000")
    assert result.get_attribute("id") == "scf-verify-limited"
    assert browser.find_elements(By.ID, "scf-verify-result") == []
