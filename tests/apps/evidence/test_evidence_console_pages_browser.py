"""The evidence service's logged-in console pages in Debian's Chromium, in zh-CN and en: a depositor records a
file hashed in the browser (signed with its console keystore key), sees it in its records and downloads the PDF
certificate; a witness, another console user, attests it on the witness page; the public page then shows the
witness. The admin (the deployer's key) sees the witness list and sets the threshold.

A node and `gusu console` run as processes, as a user starts them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from evidence_helpers import Gusu, free_port

from gusu.apps.evidence.records import PAGE_SIZE_MAX, compute_content_hashes, format_record_number
from gusu.apps.evidence.service import EvidenceService
from gusu.console.i18n import LANGUAGES, load_catalogues
from gusu.crypto.keyfile import decrypt_key_file, read_key_file_metadata
from gusu.ledger.types import Address
from gusu.sdk import Client

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
PASSPHRASE = "evidence pages passphrase"
NOTARY = "苏州市公证处 <Notary>"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="apt-get install chromium chromium-driver (Debian)"
    ),
]


@dataclass(frozen=True)
class Scene:
    url: str
    operator: tuple[str, str]
    work: Path
    depositor_key: Path
    witness_key: Path
    dev_key: Path
    dev_passphrase: str
    endpoint: str


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """A chain with the evidence service (threshold 1) and one notary witness; the console."""
    directory = tmp_path_factory.mktemp("evidence-pages")
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
        depositor = gusu.json("keys", "new", "alice", "--passphrase-file", str(passphrase_file))
        notary = gusu.json("keys", "new", "notary", "--passphrase-file", str(passphrase_file))
        gusu.json("evidence", "witness", "add", notary["address"], "--organization", NOTARY, "--kind", "notary",
                  "--key", dev)  # fmt: skip
        console_port = free_port()
        console = subprocess.Popen(
            [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(console_port), "--endpoint", gusu.endpoint,
             "--json"],
            env=gusu.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=work,
        )  # fmt: skip
        assert console.stdout is not None
        printed = json.loads(console.stdout.readline())
        first_run = printed["first_run"]
        yield Scene(
            printed["url"].rstrip("/"), (first_run["username"], first_run["password"]), work,
            Path(depositor["path"]), Path(notary["path"]), Path(dev),
            Path(layout["dev_passphrase_file"]).read_text().strip(), gusu.endpoint,
        )  # fmt: skip
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


def _submit(browser: Any, form_css: str) -> None:
    form = browser.find_element(By.CSS_SELECTOR, form_css)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))


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


def _get_with_session(browser: Any, url: str) -> tuple[str, bytes]:
    """GET `url` with the browser's session cookie: (content type, body)."""
    cookies = "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in browser.get_cookies())
    request = urllib.request.Request(url, headers={"Cookie": cookies})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.headers.get_content_type(), response.read()


@pytest.fixture(scope="module")
def witness_login(scene: Scene, browser: Any) -> tuple[str, str]:
    """The operator imports the depositor's key and creates the witness's console user, who imports the notary's."""
    _log_in(browser, scene.url, *scene.operator)
    _import_key(browser, scene.url, scene.depositor_key)
    browser.get(scene.url + "/users")
    _wait_for(browser, "#field-username").send_keys("notary-clerk")
    Select(browser.find_element(By.ID, "field-role")).select_by_value("developer")
    _submit(browser, "#create-user-form")
    password = _wait_for(browser, "#shown-password").text
    _log_in(browser, scene.url, "notary-clerk", password)
    _import_key(browser, scene.url, scene.witness_key)
    return "notary-clerk", password


@pytest.mark.parametrize("language", LANGUAGES)
def test_deposit_certificate_and_attestation(
    scene: Scene, browser: Any, witness_login: tuple[str, str], language: str, tmp_path: Path
) -> None:
    messages = load_catalogues()[language].messages
    # A long file in one language, a short one (salted automatically, as the CLI does) in the other.
    content = f"租赁合同 lease {language}\n".encode() * (200 if language == "en" else 1)
    assert (len(content) < 64) == (language != "en")
    document = scene.work / f"deposit-{language}.txt"
    document.write_bytes(content)

    _log_in(browser, scene.url, *scene.operator)
    browser.get(scene.url + "/evidence")
    _set_language(browser, language)
    assert browser.find_element(By.TAG_NAME, "h1").text == messages["evidence.deposit_title"]
    button = browser.find_element(By.ID, "evidence-submit")
    assert not button.is_enabled(), "nothing to submit before the file is hashed"
    browser.find_element(By.ID, "evidence-deposit-file").send_keys(str(document))
    _wait_for(browser, '#evidence-deposit-hashes[data-ready="true"]')
    salt_text = browser.find_element(By.ID, "evidence-salt-field").get_attribute("value")
    salt = bytes.fromhex(salt_text[2:]) if salt_text else b""
    assert (salt != b"") == (language != "en")
    expected = compute_content_hashes(content, salt)
    assert browser.find_element(By.ID, "evidence-sm3-field").get_attribute("value") == "0x" + expected.sm3.hex()
    assert browser.find_element(By.ID, "evidence-sha256-field").get_attribute("value") == "0x" + expected.sha256.hex()
    assert "0x" + expected.sm3.hex() in browser.find_element(By.ID, "evidence-deposit-hashes").text
    browser.find_element(By.ID, "evidence-description").send_keys(f"lease {language}")
    browser.find_element(By.ID, "evidence-metadata").send_keys("title=lease\nauthor=alice")
    browser.find_element(By.ID, "evidence-submit-passphrase").send_keys(PASSPHRASE)
    _submit(browser, "#evidence-submit-form")
    result = _wait_for(browser, "#evidence-result")
    assert "success" in (result.get_attribute("class") or ""), result.text
    record_id = result.text.split("EV-")[1][:8]
    record_id = "EV-" + record_id
    assert messages["evidence.recorded"].split("{record}")[0] in result.text
    if salt:
        assert browser.find_element(By.ID, "evidence-salt-value").text == salt_text
    row = browser.find_element(By.CSS_SELECTOR, f'#evidence-my-records tr[data-record="{record_id}"]')
    assert f"lease {language}" in row.text
    assert messages["evidence.status_pending"].replace("{count}", "0").replace("{threshold}", "1") in row.text
    _check_clean(browser, scene.url, f"/evidence ({language})")
    browser.save_screenshot(str(tmp_path / f"evidence-deposit-{language}.png"))

    # The PDF certificate of the record: a PDF, naming the record.
    href = row.find_element(By.CSS_SELECTOR, "a.evidence-pdf").get_attribute("href")
    content_type, body = _get_with_session(browser, href + (f"&salt={salt_text}" if salt else ""))
    assert content_type == "application/pdf" and body.startswith(b"%PDF-")
    content_type, body = _get_with_session(browser, href.replace("format=pdf", "format=json"))
    certificate = json.loads(body)
    assert content_type == "application/json" and certificate["record_id"] == record_id
    assert certificate["record"]["sm3_hash"] == "0x" + expected.sm3.hex()

    # Another console user, the notary's clerk, attests it on the witness page.
    _log_in(browser, scene.url, *witness_login)
    browser.get(scene.url + "/evidence/witness")
    _set_language(browser, language)
    assert NOTARY in _wait_for(browser, "#evidence-my-witnesses").text
    number = int(record_id[3:])
    form_css = f"#evidence-attest-{number}"
    _wait_for(browser, form_css)
    browser.find_element(By.CSS_SELECTOR, f"{form_css}-passphrase").send_keys(PASSPHRASE)
    _submit(browser, form_css)
    result = _wait_for(browser, "#evidence-result")
    assert "success" in (result.get_attribute("class") or ""), result.text
    assert browser.find_elements(By.CSS_SELECTOR, form_css) == [], "an attested record no longer waits"
    _check_clean(browser, scene.url, f"/evidence/witness ({language})")

    # The public page shows the witness, and the file (with its salt) matches.
    browser.get(scene.url + f"/evidence/verify?record={record_id}")
    assert NOTARY in _wait_for(browser, "#evidence-witnesses").text
    assert messages["evidence.kind.notary"] in browser.find_element(By.ID, "evidence-witnesses").text
    if salt:
        browser.find_element(By.ID, "evidence-salt").send_keys(salt_text)
    browser.find_element(By.ID, "evidence-file").send_keys(str(document))
    verdict = WebDriverWait(browser, WAIT_S, ignored_exceptions=_NAVIGATING).until(
        lambda driver: driver.find_element(By.CSS_SELECTOR, "#evidence-match[data-match]")
    )
    assert verdict.get_attribute("data-match") == "true"


def test_admin_sees_witnesses_and_sets_the_threshold(scene: Scene, browser: Any, witness_login: Any) -> None:
    messages = load_catalogues()["en"].messages
    _log_in(browser, scene.url, *scene.operator)
    _set_language(browser, "en")
    browser.get(scene.url + "/evidence/admin")
    assert _wait_for(browser, "#evidence-not-admin").text == messages["evidence.not_admin"]
    assert browser.find_elements(By.ID, "evidence-set-threshold") == []
    _import_key(browser, scene.url, scene.dev_key)
    browser.get(scene.url + "/evidence/admin")
    assert NOTARY in _wait_for(browser, "#evidence-witness-list").text
    field = browser.find_element(By.ID, "evidence-threshold-value")
    field.clear()
    field.send_keys("2")
    browser.find_element(By.ID, "evidence-set-threshold-passphrase").send_keys(scene.dev_passphrase)
    _submit(browser, "#evidence-set-threshold")
    result = _wait_for(browser, "#evidence-result")
    assert "success" in (result.get_attribute("class") or ""), result.text
    assert browser.find_element(By.ID, "evidence-threshold").text == "2"
    # Designate a court's account, see it listed, withdraw it.
    court = "0x" + "ab" * 20
    browser.find_element(By.ID, "evidence-witness-address").send_keys(court)
    browser.find_element(By.ID, "evidence-witness-organization").send_keys("姑苏区人民法院")
    Select(browser.find_element(By.ID, "evidence-witness-kind")).select_by_value("court")
    browser.find_element(By.ID, "evidence-add-witness-passphrase").send_keys(scene.dev_passphrase)
    _submit(browser, "#evidence-add-witness")
    assert "success" in (_wait_for(browser, "#evidence-result").get_attribute("class") or "")
    listed = browser.find_element(By.ID, "evidence-witness-list").text
    assert "姑苏区人民法院" in listed and court in listed and NOTARY in listed
    browser.find_element(By.ID, f"evidence-remove-{court}-passphrase").send_keys(scene.dev_passphrase)
    _submit(browser, f"#evidence-remove-{court}")
    assert "success" in (_wait_for(browser, "#evidence-result").get_attribute("class") or "")
    listed = browser.find_element(By.ID, "evidence-witness-list").text
    assert "姑苏区人民法院" not in listed and NOTARY in listed
    # A malformed threshold is refused before anything is signed.
    field = browser.find_element(By.ID, "evidence-threshold-value")
    browser.execute_script("arguments[0].removeAttribute('max')", field)
    field.clear()
    field.send_keys("99")
    browser.find_element(By.ID, "evidence-set-threshold-passphrase").send_keys(scene.dev_passphrase)
    _submit(browser, "#evidence-set-threshold")
    assert _wait_for(browser, "#evidence-result").text == messages["evidence.error.threshold"].replace("{limit}", "16")
    _check_clean(browser, scene.url, "/evidence/admin", ("400",))


def _rows(browser: Any, table_css: str) -> list[int]:
    return [
        int(row.get_attribute("data-record")[3:]) for row in browser.find_elements(By.CSS_SELECTOR, f"{table_css} tr")
    ]


def _follow(browser: Any, link_id: str) -> None:
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, link_id).click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(old_page))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_depositor_and_the_witness_page_through_every_record(
    scene: Scene, browser: Any, witness_login: tuple[str, str], language: str, tmp_path: Path
) -> None:
    """More records than a page: the depositor's list pages through all of them, newest first, and refuses
    another account's list; the witness's queue pages by record number."""
    messages = load_catalogues()[language].messages
    data = scene.depositor_key.read_bytes()
    key = decrypt_key_file(data, PASSPHRASE)
    alice = "0x" + bytes(read_key_file_metadata(data).address).hex()
    with Client(scene.endpoint) as client:
        service = EvidenceService(client)
        submitted = [
            service.submit(key, f"paged record {language} {n}\n".encode() * 8, {"n": str(n)}, f"p{n}").number
            for n in range(PAGE_SIZE_MAX + 2)
        ]
        listed = service.list_by_submitter(Address(read_key_file_metadata(data).address), 1, PAGE_SIZE_MAX)
    assert listed.total >= PAGE_SIZE_MAX + 2 and listed.records[0].number == submitted[-1]

    _log_in(browser, scene.url, *scene.operator)
    browser.get(scene.url + f"/evidence?submitter={alice}")
    _set_language(browser, language)
    pages = -(-listed.total // PAGE_SIZE_MAX)
    seen: list[int] = []
    for page in range(1, pages + 1):
        info = _wait_for(browser, "#evidence-page-info").text
        assert info == messages["evidence.page_of"].replace("{page}", str(page)).replace("{pages}", str(pages))
        rows = _rows(browser, "#evidence-my-records tbody")
        assert 1 <= len(rows) <= PAGE_SIZE_MAX and rows == sorted(rows, reverse=True)
        assert not seen or rows[0] < seen[-1], "pages continue where the newer one stopped"
        seen.extend(rows)
        if page == 1:
            assert rows[0] == submitted[-1]
            assert browser.find_elements(By.ID, "evidence-page-newer") == []
            browser.save_screenshot(str(tmp_path / f"evidence-paged-{language}.png"))
        if page < pages:
            _follow(browser, "evidence-page-older")
    assert browser.find_elements(By.ID, "evidence-page-older") == []
    assert len(seen) == listed.total and set(submitted) <= set(seen)
    _follow(browser, "evidence-page-newer")
    assert _wait_for(browser, "#evidence-page-info").text.startswith(messages["evidence.page_of"].split("{")[0])
    _check_clean(browser, scene.url, f"/evidence paged ({language})")

    # Hostile: another account's list (the notary's, whose key this user does not hold) and a malformed page.
    notary = "0x" + bytes(read_key_file_metadata(scene.witness_key.read_bytes()).address).hex()
    for query, text in (
        (f"submitter={notary}", messages["evidence.error.not_your_key"]),
        (f"submitter=0x{'00' * 20}", messages["evidence.error.not_your_key"]),
        ("page=0", messages["evidence.error.page"].replace("{limit}", "1000000")),
        ("page=99999999999999999999", messages["evidence.error.page"].replace("{limit}", "1000000")),
    ):
        browser.get(scene.url + f"/evidence?{query}")
        assert _wait_for(browser, "#evidence-page-error").text == text, query
        assert browser.find_elements(By.ID, "evidence-my-records") == []
    _check_clean(browser, scene.url, "/evidence refusals", ("400", "403"))

    # The witness's queue (threshold 2 since the admin's test, else 1: every record here waits for the notary).
    _log_in(browser, scene.url, *witness_login)
    browser.get(scene.url + "/evidence/witness")
    _set_language(browser, language)
    first = _rows(browser, "#evidence-awaiting tbody")
    assert len(first) == PAGE_SIZE_MAX
    assert browser.find_elements(By.ID, "evidence-awaiting-newest") == []
    _follow(browser, "evidence-awaiting-older")
    second = _rows(browser, "#evidence-awaiting tbody")
    assert first + second[:2] == submitted[::-1], "the queue goes on where the first page stopped"
    assert browser.find_element(By.ID, "evidence-awaiting-newest").text == messages["evidence.page_newest"]
    assert format_record_number(second[0]) in browser.find_element(By.ID, "evidence-awaiting").text
    _check_clean(browser, scene.url, f"/evidence/witness paged ({language})")


def _create_user(browser: Any, scene: Scene, username: str, role: str, organisation: str = "") -> tuple[str, str]:
    _log_in(browser, scene.url, *scene.operator)
    browser.get(scene.url + "/users")
    _wait_for(browser, "#field-username").send_keys(username)
    Select(browser.find_element(By.ID, "field-role")).select_by_value(role)
    if organisation:
        browser.find_element(By.ID, "field-organisation").send_keys(organisation)
    _submit(browser, "#create-user-form")
    return username, _wait_for(browser, "#shown-password").text


@pytest.fixture(scope="module")
def organisation_logins(scene: Scene, browser: Any) -> dict[str, tuple[str, str]]:
    """Console users: org0's admin (the dev key's organisation on this chain), org1's admin and an auditor."""
    return {
        "org0": _create_user(browser, scene, "org0-admin", "org_admin", "org0"),
        "org1": _create_user(browser, scene, "org1-admin", "org_admin", "org1"),
        "auditor": _create_user(browser, scene, "auditor-one", "auditor"),
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_organisation_admin_pages_through_its_organisations_records(
    scene: Scene,
    browser: Any,
    witness_login: tuple[str, str],
    organisation_logins: dict[str, tuple[str, str]],
    language: str,
    tmp_path: Path,
) -> None:
    """/evidence/organization: org0's admin pages through org0's records (the contract's `list_by_organization`),
    newest first, with their submitters; another organisation's admin and a developer get 403; the auditor may
    open any organisation's."""
    messages = load_catalogues()[language].messages
    data = scene.dev_key.read_bytes()
    key = decrypt_key_file(data, scene.dev_passphrase)
    dev = "0x" + bytes(read_key_file_metadata(data).address).hex()
    with Client(scene.endpoint) as client:
        service = EvidenceService(client)
        submitted = [
            service.submit(key, f"org0 record {language} {n}\n".encode() * 8, {"n": str(n)}, f"o{n}").number
            for n in range(PAGE_SIZE_MAX + 1)
        ]
        assert service.get_record(submitted[0]).organization == "org0"  # type: ignore[union-attr]
        listed = service.list_by_organization("org0", 1, PAGE_SIZE_MAX)
    assert listed.total >= PAGE_SIZE_MAX + 1 and listed.records[0].number == submitted[-1]
    pages = -(-listed.total // PAGE_SIZE_MAX)

    _log_in(browser, scene.url, *organisation_logins["org0"])
    browser.get(scene.url + "/evidence/organization")
    _set_language(browser, language)
    assert _wait_for(browser, "h1").text == messages["evidence.org_title"]
    total = messages["evidence.org_total"].replace("{count}", str(listed.total)).replace("{organization}", "org0")
    assert browser.find_element(By.ID, "evidence-org-total").text == total
    assert browser.find_elements(By.ID, "evidence-org-form") == [], "an organisation admin lists only its own"
    first = _rows(browser, "#evidence-org-records tbody")
    assert first == [item.number for item in listed.records]
    assert {element.text for element in browser.find_elements(By.CSS_SELECTOR, ".evidence-submitter")} == {dev}
    assert browser.find_elements(By.CSS_SELECTOR, "#evidence-org-records a.evidence-correct") == []
    info = messages["evidence.page_of"].replace("{page}", "1").replace("{pages}", str(pages))
    assert browser.find_element(By.ID, "evidence-page-info").text == info
    browser.save_screenshot(str(tmp_path / f"evidence-organisation-{language}.png"))
    _follow(browser, "evidence-page-older")
    second = _rows(browser, "#evidence-org-records tbody")
    assert second and second[0] < first[-1], "the older page goes on where the first stopped"
    assert first + second[:1] == sorted(submitted, reverse=True)[: len(first) + 1]
    _check_clean(browser, scene.url, f"/evidence/organization ({language})")

    # Hostile: another organisation's records, a malformed name.
    for query, text, table in (
        ("organization=org1", messages["evidence.error.org_other"], False),
        ("organization=org0/x", messages["evidence.error.organization"].replace("{limit}", "64"), False),
    ):
        browser.get(scene.url + f"/evidence/organization?{query}")
        assert _wait_for(browser, "#evidence-page-error").text == text, query
        assert (browser.find_elements(By.ID, "evidence-org-records") != []) == table
    # org1's admin may not read org0's records; its own organisation has none.
    _log_in(browser, scene.url, *organisation_logins["org1"])
    browser.get(scene.url + "/evidence/organization?organization=org0")
    _set_language(browser, language)
    assert _wait_for(browser, "#evidence-page-error").text == messages["evidence.error.org_other"]
    browser.get(scene.url + "/evidence/organization")
    assert _wait_for(browser, "#evidence-org-records-empty").text == messages["evidence.records_none"]
    # A developer (the notary's clerk) lists no organisation's records.
    _log_in(browser, scene.url, *witness_login)
    browser.get(scene.url + "/evidence/organization?organization=org0")
    _set_language(browser, language)
    assert _wait_for(browser, "#evidence-page-error").text == messages["evidence.error.org_role"]
    _check_clean(browser, scene.url, f"/evidence/organization refusals ({language})", ("400", "403"))

    # The auditor chooses any organisation.
    _log_in(browser, scene.url, *organisation_logins["auditor"])
    browser.get(scene.url + "/evidence/organization")
    _set_language(browser, language)
    assert _wait_for(browser, "#evidence-org-choose").text == messages["evidence.org_choose"]
    browser.find_element(By.ID, "evidence-org-name").send_keys("org0")
    _submit(browser, "#evidence-org-form")
    assert _rows(browser, "#evidence-org-records tbody") == first
    _check_clean(browser, scene.url, f"/evidence/organization auditor ({language})")
