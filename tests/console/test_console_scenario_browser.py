"""Issue 11's full scenario in one browser session (Chromium through Selenium, as test_console_browser.py).

An operator logs in with the first-run credential, creates a four-organisation network in the chains
wizard and shows it; imports the developer's and three organisation admins' key files; deploys the
`basic` template (the chain asks for approval: org0's admin proposes, org1's and org2's vote until it
is approved), deploys it, calls `transfer`, opens the transaction in the explorer (its proofs verified
in the browser) and its block; then, logged out, verifies on the public page a file recorded on that
chain and looks the transaction up by id. About two minutes on the shared two-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import test_console_browser as shared
import test_console_chains_browser as chains_shared
from console_helpers import COMMAND_TIMEOUT_S, RECIPIENT, find_free_port
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from test_console_browser import _check_clean, _fill, _log_in, _set_language, _wait_for, _wait_until
from test_console_chains_browser import NETWORK_WAIT_S, _state

from browser_helpers import is_replaced
from gusu.console.i18n import load_catalogues
from gusu.crypto.keyfile import read_key_file_metadata
from gusu.eval.network import LocalNetwork, find_free_base_port
from gusu.ledger.jsonview import bytes_to_hex

pytestmark = shared.pytestmark

browser = shared.browser
screenshots = shared.screenshots
wizard_console = chains_shared.wizard_console


def _submit(browser: Any, css: str) -> None:
    """Click a form's submit button and wait for the posted form's page to go."""
    form = browser.find_element(By.CSS_SELECTOR, css)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, NETWORK_WAIT_S).until(is_replaced(form))


def _passphrase(key_file: Path) -> str:
    return key_file.with_suffix(".pass").read_text(encoding="utf-8").strip()


def test_wizard_deploy_call_explore_and_verify(
    wizard_console: tuple[str, str, Path], browser: Any, screenshots: Path, tmp_path: Path
) -> None:
    url, password, chains = wizard_console
    messages = load_catalogues()["en"].messages
    browser.delete_all_cookies()
    browser.get(url + "/login")
    _set_language(browser, "en")
    _log_in(browser, "admin", password)
    _wait_for(browser, "#account-username")

    # 1. The wizard: four organisations on this host.
    browser.get(url + "/chains")
    form = _wait_for(browser, "#create-chain-form")
    form.find_element(By.ID, "field-name").send_keys("scenario")
    base_port = form.find_element(By.ID, "field-base_port")
    base_port.clear()
    base_port.send_keys(str(find_free_base_port(4)))
    _submit(browser, "#create-chain-form")
    _wait_for(browser, "[data-state]")
    _wait_until(browser, NETWORK_WAIT_S, lambda driver: _state(driver) in ("running", "failed"))
    assert _state(browser) == "running", browser.find_element(By.TAG_NAME, "main").text
    _submit(browser, 'form[action="/chains/select"]')
    network = LocalNetwork.open(chains / "scenario")
    assert len(network.nodes) == 4

    # 2. The keys: the funded developer key and three organisation admins'.
    admins = [network.directory / "pki" / f"org{index}" / "admin_key.json" for index in range(3)]
    for key_file in (network.dev_key_path, *admins):
        browser.get(url + "/keys")
        _wait_for(browser, "#import-file").send_keys(str(key_file))
        _submit(browser, "#import-key-form")
    browser.get(url + "/keys")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#keys tr[data-address]")) == 4
    admin_addresses = [bytes_to_hex(read_key_file_metadata(key_file.read_bytes()).address) for key_file in admins]
    dev_address = network.dev_address
    dev_passphrase = network.dev_passphrase_path.read_text(encoding="utf-8").strip()

    # 3. Deploy the `basic` template: the chain asks for approval, org0 proposes, the others vote.
    name = "scenario_shop"

    def deploy() -> None:
        browser.get(url + "/contracts")
        _fill(browser, "#deploy-name", name)
        Select(browser.find_element(By.ID, "deploy-template")).select_by_value("basic")
        _fill(browser, "#deploy-args", "[1000]")
        Select(browser.find_element(By.ID, "deploy-key")).select_by_value(dev_address)
        _fill(browser, "#deploy-passphrase", dev_passphrase)
        _submit(browser, "#deploy-form")

    deploy()
    _wait_for(browser, "#approval-needed")
    browser.find_element(By.ID, "approval-link").click()
    _wait_for(browser, "#propose-form")
    Select(browser.find_element(By.ID, "propose-key")).select_by_value(admin_addresses[0])
    _fill(browser, "#propose-passphrase", _passphrase(admins[0]))
    _submit(browser, "#propose-form")
    assert _wait_for(browser, "#transaction-result").get_attribute("data-success") == "true"
    for round_, (admin, address) in enumerate(zip(admins[1:], admin_addresses[1:], strict=True)):
        browser.get(url + "/governance")
        pending = browser.find_elements(By.CSS_SELECTOR, 'tr[data-status="pending"]')
        assert pending or round_ > 0, "one organisation of four approved the deployment alone"
        if not pending:
            break
        proposal = pending[0].get_attribute("data-proposal")
        Select(browser.find_element(By.ID, f"vote-{proposal}-key")).select_by_value(address)
        _fill(browser, f"#vote-{proposal}-passphrase", _passphrase(admin))
        vote = browser.find_element(By.ID, f"vote-{proposal}")
        vote.find_element(By.CSS_SELECTOR, 'button[name="approve"][value="true"]').click()
        WebDriverWait(browser, NETWORK_WAIT_S).until(is_replaced(vote))
        assert _wait_for(browser, "#transaction-result").get_attribute("data-success") == "true"
    browser.get(url + "/governance")
    assert browser.find_elements(By.CSS_SELECTOR, 'tr[data-status="approved"]')
    assert not browser.find_elements(By.CSS_SELECTOR, 'tr[data-status="pending"]')

    deploy()
    assert _wait_for(browser, "#transaction-result").get_attribute("data-success") == "true"
    assert browser.find_element(By.TAG_NAME, "h1").text == messages["contract.title"].replace("{name}", name)

    # 4. Call it.
    _fill(browser, "#transfer-arg0", RECIPIENT)
    _fill(browser, "#transfer-arg1", "7")
    Select(browser.find_element(By.ID, "call-transfer-key")).select_by_value(dev_address)
    _fill(browser, "#call-transfer-passphrase", dev_passphrase)
    _submit(browser, "#call-transfer")
    result = _wait_for(browser, "#transaction-result")
    assert result.get_attribute("data-success") == "true" and "Transfer" in result.text
    transaction_id = browser.find_element(By.ID, "result-transaction").text

    # 5. The explorer: the transaction (its proofs checked here) and its block.
    browser.find_element(By.ID, "result-transaction").click()
    assert _wait_for(browser, "#receipt-status").text == messages["receipt.status.success"]
    assert _wait_for(browser, "#proof-verdict").get_attribute("data-verified") == "true"
    # The header too: the four validators' precommit signatures, verified in the browser (sigverify.js).
    header_verdict = _wait_for(browser, "#header-verdict")
    assert header_verdict.get_attribute("data-verified") == "true", header_verdict.text
    print("4-validator header check on the wizard's chain, ms:", header_verdict.get_attribute("data-elapsed-ms"))
    block_link = browser.find_element(By.CSS_SELECTOR, 'main a[href^="/blocks/"]')
    height = int(block_link.text)
    block_link.click()
    _wait_until(browser, NETWORK_WAIT_S, lambda driver: driver.current_url.endswith(f"/blocks/{height}"))
    _wait_for(browser, "#block-hash")
    assert transaction_id in browser.find_element(By.TAG_NAME, "main").text
    browser.save_screenshot(str(screenshots / "scenario-block-en.png"))
    _check_clean(browser, url, "scenario block")

    # 6. A document recorded on this chain (from the command line), then the public pages, logged out, of a
    # console reading this chain (a registered chain is shown only to those logged in).
    document = tmp_path / "agreement.txt"
    document.write_bytes(b"four organisations agree\n" * 100)
    endpoint = network.nodes[1].api_url
    environment = {**os.environ, "GUSU_HOME": str(tmp_path / "home"), "GUSU_KEYFILE_SCRYPT_N": "1024"}
    environment.pop("GUSU_PASSPHRASE", None)
    signing = ["--key", str(network.dev_key_path), "--endpoint", endpoint, "--json"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gusu.cli.main",
            "evidence",
            "record",
            str(document),
            "--metadata",
            "scenario",
            *signing,
        ],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    port = find_free_port()
    public = subprocess.Popen(
        [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(port), "--endpoint", endpoint, "--json"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert public.stdout is not None
        public_url = json.loads(public.stdout.readline())["url"].rstrip("/")
        browser.delete_all_cookies()
        browser.get(public_url + "/verify")
        _set_language(browser, "en")
        assert browser.find_elements(By.ID, "login-link")  # nobody is logged in
        _wait_for(browser, "#verify-file").send_keys(str(document))
        verdict = _wait_for(browser, "#verify-verdict")
        assert verdict.get_attribute("data-recorded") == "true"
        assert "scenario" in browser.find_element(By.ID, "verify-result").text
        _wait_for(browser, "#verify-tx-id").send_keys(transaction_id)
        browser.find_element(By.ID, "verify-tx-submit").click()
        assert _wait_for(browser, "#proof-verdict").get_attribute("data-verified") == "true"
        assert browser.find_element(By.ID, "header-verdict").get_attribute("data-verified") == "true"
        assert browser.find_element(By.ID, "verify-tx-status").text == messages["tx.status.committed"]
        browser.save_screenshot(str(screenshots / "scenario-verify-en.png"))
        _check_clean(browser, public_url, "scenario /verify")
    finally:
        public.terminate()
        public.wait(timeout=10)
