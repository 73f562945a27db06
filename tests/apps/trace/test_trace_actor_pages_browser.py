"""The traceability actors' console pages in Debian's Chromium, in zh-CN and in en.

A node and `gusu console` run as processes. The chain has the trace contract, brand `yangcheng` (its owner key
is also its packer) and a QC key, both imported by the console's operator, and a shop key (retailer) imported
by a second console user. Per language: the brand registers a product, issues a code set (the zip download:
codes.csv and a QR SVG per code) and packs a batch; QC passes it with a report file; the brand ships it to the
shop; the operator is neither shown the receive form nor allowed to receive; the shop's user receives it and
puts it on sale; the public /trace page shows the timeline. Then the regulator sees a mass-balance alert and
downloads a batch's GB/T 38154 export. Without Chromium the tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gusu.apps.trace import TraceClient, get_contract_source, issue_item_codes
from gusu.console.i18n import load_catalogues
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.types import Address
from gusu.sdk import Client, Contracts, Governance

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
WAIT_S = 30
COMMAND_TIMEOUT_S = 90
PASSPHRASE = "trace browser passphrase"
BRAND = "yangcheng"
REPORT = b"%PDF-1.4\nInspection report: all samples passed.\n"
_NAVIGATING = (NoSuchElementException, StaleElementReferenceException)
SPLIT_BATCHES = {"zh-CN": "MzhCN", "en": "Men"}
"""Per language, a batch of 6 eels in the brand's custody, split and merged in the console."""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="apt-get install chromium chromium-driver (Debian)",
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
    address: dict[str, str]
    endpoint: str
    directory: Path
    expired_payload: str
    """An item code of batch BX, expired by block time."""


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    directory = tmp_path_factory.mktemp("trace-actors")
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
        key_files: dict[str, Path] = {}
        keys: dict[str, PrivateKey] = {}
        for actor in ("brand", "qc", "shop"):
            key_files[actor] = Path(_gusu(environment, "keys", "new", actor, "--passphrase-file",
                                          str(passphrase_file))["path"])  # fmt: skip
            keys[actor] = decrypt_key_file(key_files[actor].read_bytes(), PASSPHRASE)
        suite = get_suite("sm")
        address = {actor: Address(suite.compute_address(key.public_key)) for actor, key in keys.items()}
        dev_key = Path(layout["dev_key"])
        operator = decrypt_key_file(dev_key.read_bytes(), Path(layout["dev_passphrase_file"]).read_text().strip())
        with Client(endpoint) as client:
            contracts = Contracts(client)
            trace = TraceClient(contracts)
            Governance(client).propose_approve_contract(operator, contracts.compute_code_hash(get_contract_source()))
            trace.deploy(operator)
            trace.register_brand(operator, BRAND, "阳澄湖大闸蟹 <Crab>", address["brand"], keys["brand"].public_key,
                                 "91320500MA1X")  # fmt: skip
            for role, actor in (("packer", "brand"), ("qc", "qc"), ("retailer", "shop")):
                trace.grant_role(keys["brand"], BRAND, role, address[actor])
            # Batch B0 sells more than it holds: the regulator's mass-balance alert.
            trace.register_product(keys["brand"], BRAND, "roe", "Crab roe", qc_level_required=1)
            trace.issue_codes(keys["brand"], issue_item_codes(keys["brand"], BRAND, "S0", 2))
            trace.pack(keys["brand"], "B0", "roe", "S0", 2)
            trace.inspect(keys["qc"], "B0", 1, True, suite.hash(b"report B0"))
            trace.ship(keys["brand"], "B0", address["shop"])
            trace.receive(keys["shop"], "B0")
            trace.put_on_sale(keys["shop"], "B0")
            trace.report_sales(keys["shop"], "B0", 3)
            # Product eel: batch BX on sale whose expiry the brand brought forward to the next block (so it
            # expires by the chain's block time within seconds), and one batch per language to split and merge.
            trace.register_product(keys["brand"], BRAND, "eel", "River eel", qc_level_required=1, shelf_life_days=30)
            expiring_codes = issue_item_codes(keys["brand"], BRAND, "SX", 2)
            trace.issue_codes(keys["brand"], expiring_codes)
            trace.pack(keys["brand"], "BX", "eel", "SX", 2, "2026-11-01")
            trace.inspect(keys["qc"], "BX", 1, True, suite.hash(b"report BX"))
            trace.ship(keys["brand"], "BX", address["shop"])
            trace.receive(keys["shop"], "BX")
            trace.put_on_sale(keys["shop"], "BX")
            for language in SPLIT_BATCHES:
                trace.issue_codes(keys["brand"], issue_item_codes(keys["brand"], BRAND, f"SM{language}", 6))
                trace.pack(keys["brand"], SPLIT_BATCHES[language], "eel", f"SM{language}", 6)
            trace.set_expiry(keys["brand"], "BX", client.status().latest_block_time_ms + 1)
            deadline = time.monotonic() + WAIT_S
            while not trace.is_expired("BX"):
                assert time.monotonic() < deadline, "no block after BX's expiry"
                time.sleep(0.5)
                trace.grant_role(keys["brand"], BRAND, "qc", address["qc"])  # a block, if the chain waits for one
        console_port = _free_port()
        console = subprocess.Popen(
            [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(console_port), "--endpoint", endpoint,
             "--json"],
            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert console.stdout is not None
        printed = json.loads(console.stdout.readline())
        first_run = printed["first_run"]
        yield Scene(printed["url"].rstrip("/"), (first_run["username"], first_run["password"]), key_files,
                    {actor: "0x" + bytes(value).hex() for actor, value in address.items()}, endpoint,
                    directory, expiring_codes[0].get_payload())  # fmt: skip
    finally:
        if console is not None:
            console.terminate()
            console.wait(timeout=10)
        subprocess.run([sys.executable, "-m", "gusu.cli.main", "node", "stop", "--dir", layout["node_directory"]],
                       env=environment, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-gpu", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for(browser: Any, css: str) -> Any:
    return WebDriverWait(browser, WAIT_S, ignored_exceptions=_NAVIGATING).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def _submit(browser: Any, form_css: str) -> None:
    form = browser.find_element(By.CSS_SELECTOR, form_css)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))


def _fill(browser: Any, form_id: str, values: dict[str, str]) -> None:
    for name, value in values.items():
        field = browser.find_element(By.ID, f"{form_id}-{name}")
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, f"{form_id}-passphrase").send_keys(PASSPHRASE)


def _sign(browser: Any, form_id: str, values: dict[str, str], key: str | None = None) -> str:
    """Fills and submits a write form; the success message's text."""
    _wait_for(browser, f"#{form_id}")
    if key is not None:
        Select(browser.find_element(By.ID, f"{form_id}-key")).select_by_value(key)
    _fill(browser, form_id, values)
    _submit(browser, f"#{form_id}")
    result = _wait_for(browser, "#tracex-result")
    assert "success" in (result.get_attribute("class") or ""), result.text
    text: str = result.text
    return text


def _check_clean(browser: Any, origin: str, page: str) -> None:
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == [], f"{page}: {errors}"
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert [name for name in resources if not name.startswith(origin + "/")] == [], page


def _log_in(browser: Any, url: str, username: str, password: str, language: str) -> None:
    browser.delete_all_cookies()
    browser.get(url + "/login")
    for css, text in (("#field-username", username), ("#field-password", password)):
        field = _wait_for(browser, css)
        field.clear()
        field.send_keys(text)
    _submit(browser, "#login-form")
    _wait_for(browser, "#account-link")
    _set_language(browser, language)


def _import_key(browser: Any, url: str, path: Path) -> None:
    browser.get(url + "/keys")
    _wait_for(browser, "#import-file").send_keys(str(path))
    _submit(browser, "#import-key-form")


def _wait_for_download(directory: Path, suffix: str) -> Path:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = [path for path in directory.iterdir() if path.name.endswith(suffix)]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"no {suffix} download in {directory}: {list(directory.iterdir())}")


def _clear(directory: Path) -> None:
    for path in directory.iterdir():
        path.unlink()


@pytest.fixture(scope="module")
def shop_user(scene: Scene, browser: Any) -> tuple[str, str]:
    """A second console user (developer) who holds the shop's key; the operator holds the brand's and QC's."""
    _log_in(browser, scene.url, *scene.credential, "en")
    for actor in ("brand", "qc"):
        _import_key(browser, scene.url, scene.key_files[actor])
    browser.get(scene.url + "/users")
    _wait_for(browser, "#field-username").send_keys("shop-clerk")
    Select(browser.find_element(By.ID, "field-role")).select_by_value("developer")
    _submit(browser, "#create-user-form")
    password: str = _wait_for(browser, "#shown-password").text
    _log_in(browser, scene.url, "shop-clerk", password, "en")
    _import_key(browser, scene.url, scene.key_files["shop"])
    return "shop-clerk", password


@pytest.mark.parametrize(("language", "batch", "code_set"), [("zh-CN", "B1", "S1"), ("en", "B2", "S2")])
def test_brand_qc_ship_receive_and_the_public_timeline(
    scene: Scene, browser: Any, downloads: Path, shop_user: tuple[str, str], language: str, batch: str,
    code_set: str,
) -> None:  # fmt: skip
    messages = load_catalogues()[language].messages
    product = f"crab-{language.lower()}"
    _log_in(browser, scene.url, *scene.credential, language)
    # The brand: its card, a product, a code set (downloaded with QR SVGs), a packed batch.
    browser.get(scene.url + f"/trace/brand?brand={BRAND}")
    assert "阳澄湖大闸蟹 <Crab>" in _wait_for(browser, "#tracex-brand").text
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == messages["tracex.brand_title"]
    fields = {"product": product, "name": "Hairy crab 500 g", "gtin": "06901234567892", "qc_level": "2",
              "shelf_life_days": "30"}  # fmt: skip
    text = _sign(browser, "tracex-product-form", fields)
    assert messages["tracex.done.product"].split("{product}")[0] in text and product in text
    _clear(downloads)
    _fill(browser, "tracex-codes-form", {"code_set": code_set, "count": "3", "url": scene.url + "/trace"})
    browser.find_element(By.CSS_SELECTOR, "#tracex-codes-form button[type=submit]").click()
    archive = zipfile.ZipFile(_wait_for_download(downloads, ".zip"))
    rows = list(csv.reader(io.StringIO(archive.read("codes.csv").decode("utf-8"))))
    assert rows[0] == ["index", "payload", "url"] and [row[0] for row in rows[1:]] == ["0", "1", "2"]
    assert sorted(name for name in archive.namelist() if name.startswith("qr/")) == [
        f"qr/{code_set}-{index}.svg" for index in range(3)
    ]
    assert archive.read(f"qr/{code_set}-0.svg").startswith(b"<svg")
    payload = rows[1][1]
    browser.get(scene.url + f"/trace/brand?brand={BRAND}")
    text = _sign(browser, "tracex-pack-form", {"batch": batch, "product": product, "code_set": code_set,
                                               "quantity": "3", "date": "2026-10-01"})  # fmt: skip
    assert batch in text
    _check_clean(browser, scene.url, f"/trace/brand ({language})")
    # QC and shipping on the operations page; the QC report is hashed by the console with the chain's hash.
    browser.get(scene.url + f"/trace/ops?batch={batch}")
    report = scene.directory / f"report-{language}.pdf"
    report.write_bytes(REPORT + language.encode())
    _wait_for(browser, "#tracex-qc-form-report").send_keys(str(report))
    text = _sign(browser, "tracex-qc-form", {"level": "2"})
    assert "0x" + get_suite("sm").hash(report.read_bytes()).hex() in text
    text = _sign(browser, "tracex-ship-form", {"consignee": scene.address["shop"]}, key=scene.address["brand"])
    assert scene.address["shop"] in text
    status = browser.find_element(By.ID, "tracex-batch").text
    assert messages["trace.status.in_transit"] in status
    assert browser.find_elements(By.ID, "tracex-receive-form") == []  # the operator holds no consignee key
    # A forged receive (the brand's key) is refused before the key is unlocked.
    token = browser.find_element(By.NAME, "csrf_token").get_attribute("value")
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/trace/ops/receive'; f.id = 'x';"
        "for (const [n, v] of Object.entries(arguments[0])) { const i = document.createElement('input');"
        "i.name = n; i.value = v; f.appendChild(i); } document.body.appendChild(f);",
        {"csrf_token": token, "batch": batch, "key": scene.address["brand"], "passphrase": PASSPHRASE},
    )
    _submit_raw = browser.find_element(By.ID, "x")
    browser.execute_script("arguments[0].submit()", _submit_raw)
    WebDriverWait(browser, WAIT_S).until(is_replaced(_submit_raw))
    assert _wait_for(browser, "#tracex-result").text == messages["tracex.error.not_consignee"]
    browser.get_log("browser")  # drop the refused POST's expected 400 from the log
    # The named consignee, another console user, receives and puts the batch on sale.
    _log_in(browser, scene.url, *shop_user, language)
    browser.get(scene.url + f"/trace/ops?batch={batch}")
    text = _sign(browser, "tracex-receive-form", {})
    assert messages["tracex.done.receive"].split("{batch}")[0] in text
    _sign(browser, "tracex-on-sale-form", {})
    assert messages["trace.status.on_sale"] in browser.find_element(By.ID, "tracex-batch").text
    assert browser.find_elements(By.ID, "tracex-regulator-link") == []  # a developer is no regulator
    _check_clean(browser, scene.url, f"/trace/ops ({language})")
    # The consumer's public page shows the whole timeline.
    browser.get(scene.url + "/trace?c=" + payload)
    timeline = _wait_for(browser, "#trace-timeline")
    kinds = [cell.get_attribute("data-event") for cell in timeline.find_elements(By.CSS_SELECTOR, "td[data-event]")]
    assert kinds == ["packed", "qc_passed", "shipped", "received", "on_sale"]
    assert messages["trace.event.received"] in timeline.text
    browser.save_screenshot(str(scene.directory / f"trace-ops-{language}.png"))


def test_the_regulator_sees_alerts_and_downloads_the_export(
    scene: Scene, browser: Any, downloads: Path, shop_user: tuple[str, str]
) -> None:
    messages = load_catalogues()["en"].messages
    _log_in(browser, scene.url, *scene.credential, "en")
    browser.get(scene.url + "/trace/regulator")
    alerts = _wait_for(browser, "#tracex-alerts")
    assert "B0" in alerts.text and messages["trace.event.mass_balance_alert"] in alerts.text
    _check_clean(browser, scene.url, "/trace/regulator")
    _clear(downloads)
    browser.get(scene.url + "/trace/regulator/export?batch=B0&format=json")
    document = json.loads(_wait_for_download(downloads, ".json").read_text(encoding="utf-8"))
    assert document["standard"] == "GB/T 38154-2019" and document["batch"] == "B0"
    assert [record["activity"] for record in document["records"]][:2] == ["production", "inspection"]
    browser.get(scene.url + "/trace/regulator/export?batch=nope&format=json")
    assert _wait_for(browser, "#tracex-result").text == messages["tracex.no_batch"]
    # The shop's user (a developer) is refused the regulator's page.
    _log_in(browser, scene.url, *shop_user, "en")
    browser.get(scene.url + "/trace/regulator")
    assert browser.find_elements(By.ID, "tracex-alerts") == []


def _refused(browser: Any, form_id: str, values: dict[str, str]) -> str:
    """Fills and submits a write form that must be refused; the error's text."""
    _fill(browser, form_id, values)
    _submit(browser, f"#{form_id}")
    result = _wait_for(browser, "#tracex-result")
    assert "error" in (result.get_attribute("class") or ""), result.text
    text: str = result.text
    browser.get_log("browser")  # drop the refused POST's expected 400 from the log
    return text


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_split_and_merge_in_the_console_and_the_lists(
    scene: Scene, browser: Any, shop_user: tuple[str, str], language: str
) -> None:
    messages = load_catalogues()[language].messages
    batch = SPLIT_BATCHES[language]
    _log_in(browser, scene.url, *scene.credential, language)
    browser.get(scene.url + f"/trace/ops?batch={batch}")
    _wait_for(browser, "#tracex-split-form")
    # Refused: quantities that do not add up (by the contract), a malformed list and one child (by the console).
    text = _refused(browser, "tracex-split-form", {"parts": f"{batch}-a=2, {batch}-b=3"})
    assert messages["tracex.refused"].split("{reason}")[0] in text and "children hold 5" in text
    text = _refused(browser, "tracex-split-form", {"parts": f"{batch}-a 2"})
    assert text == messages["tracex.error.parts"]
    text = _refused(browser, "tracex-split-form", {"parts": f"{batch}-a=6"})
    assert text == messages["tracex.error.parts_count"].replace("{limit}", "32")
    text = _sign(browser, "tracex-split-form", {"parts": f"{batch}-a=2, {batch}-b=4"})
    assert f"{batch}-a, {batch}-b" in text
    assert messages["trace.status.split"] in browser.find_element(By.ID, "tracex-batch").text
    assert browser.find_element(By.ID, "tracex-children").text == f"{batch}-a, {batch}-b"
    assert browser.find_elements(By.ID, "tracex-split-form") == [], "a split batch is closed"
    # Merge the two children back into one batch, from the first child's page.
    browser.find_element(By.LINK_TEXT, f"{batch}-a").click()
    _wait_for(browser, "#tracex-merge-form")
    assert browser.find_element(By.ID, "tracex-batch-title").text == messages["tracex.batch_of"].replace(
        "{batch}", f"{batch}-a"
    )
    text = _refused(browser, "tracex-merge-form", {"parents": "BX", "target": f"{batch}-m"})
    assert messages["tracex.refused"].split("{reason}")[0] in text
    text = _sign(browser, "tracex-merge-form", {"parents": f"{batch}-b", "target": f"{batch}-m"})
    assert f"{batch}-m" in text
    fields = browser.find_element(By.ID, "tracex-batch").text
    assert f"{batch}-m" in browser.find_element(By.ID, "tracex-batch-title").text and "6" in fields
    assert browser.find_element(By.ID, "tracex-parents").text == f"{batch}-a, {batch}-b"
    _check_clean(browser, scene.url, f"/trace/ops split and merge ({language})")
    # The brand page lists the brand's products and the product's batches, the expired one marked.
    browser.get(scene.url + f"/trace/brand?brand={BRAND}&product=eel")
    products = _wait_for(browser, "#tracex-products").text
    assert "eel" in products and "roe" in products
    batches = browser.find_element(By.ID, "tracex-batches")
    listed = [cell.text for cell in batches.find_elements(By.CSS_SELECTOR, "tbody tr td:first-child")]
    assert {"BX", batch, f"{batch}-a", f"{batch}-b", f"{batch}-m"} <= set(listed)
    expired = batches.find_element(By.XPATH, ".//tr[td[1]='BX']//span[@data-status]")
    assert expired.get_attribute("data-status") == "expired" and expired.text == messages["trace.status.expired"]
    browser.get(scene.url + "/trace/brand")
    assert BRAND in _wait_for(browser, "#tracex-brands").text
    browser.get(scene.url + f"/trace/brand?brand={BRAND}&batches_from=x")
    assert _wait_for(browser, "#tracex-result").text == messages["tracex.error.count"].replace("{low}", "0").replace(
        "{high}", "1000000000"
    )
    browser.get_log("browser")
    browser.save_screenshot(str(scene.directory / f"trace-split-merge-{language}.png"))


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_an_expired_batch_on_the_public_page_and_for_the_shop(
    scene: Scene, browser: Any, shop_user: tuple[str, str], language: str
) -> None:
    messages = load_catalogues()[language].messages
    browser.delete_all_cookies()
    browser.get(scene.url + "/trace")
    _set_language(browser, language)
    browser.get(scene.url + "/trace?c=" + scene.expired_payload)
    verdict = _wait_for(browser, "#trace-verdict")
    assert verdict.get_attribute("data-verdict") == "expired"
    expired = browser.find_element(By.ID, "trace-expired").text
    assert expired.startswith(messages["trace.expired"].split("{time}")[0])
    assert messages["trace.status.expired"] in browser.find_element(By.ID, "trace-fields").text
    kinds = [cell.get_attribute("data-event") for cell in browser.find_elements(By.CSS_SELECTOR, "td[data-event]")]
    assert kinds[-1] == "expiry_set"
    _check_clean(browser, scene.url, f"/trace expired ({language})")
    browser.save_screenshot(str(scene.directory / f"trace-expired-{language}.png"))
    # The shop, the batch's custodian, is offered no sale for it.
    _log_in(browser, scene.url, *shop_user, language)
    browser.get(scene.url + "/trace/ops?batch=BX")
    assert _wait_for(browser, "#tracex-expired").text == expired
    assert browser.find_elements(By.ID, "tracex-sales-form") == []
    assert messages["trace.status.expired"] in browser.find_element(By.ID, "tracex-batch").text
