"""Solidity in the console, in a real browser, against a one-node chain of its own from `gusu chain init --evm`.

A developer uploads the compiled ERC-20 fixture (tests/execution/evm/fixtures/Token.json: the console
compiles nothing), fills the constructor form generated from its ABI, is refused because the chain's
governance has not approved the code hash, follows the link to the filled-in approve_contract proposal,
deploys, reads balanceOf, sends transfer (signed with the keystore key) and sees the decoded Transfer event,
the balances and the event history; a malformed address is refused with a message naming the argument.
A transfer sent outside the console (the SDK, with the same key) appears at the top of the contract's event
history, which the console reads from the node's eth_getLogs; its transaction link opens the explorer.
The pages are then read in Chinese. Chromium and chromedriver as in test_console_browser.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from console_helpers import COMMAND_TIMEOUT_S, find_free_port
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from test_console_browser import (
    WAIT_S,
    _check_clean,
    _set_language,
    _wait_for,
    _wait_until,
    browser,
    pytestmark,
    screenshots,
)

from browser_helpers import is_replaced
from gusu.console.i18n import load_catalogues
from gusu.crypto.keyfile import decrypt_key_file
from gusu.sdk import Client
from gusu.sdk.evm import EvmContracts, compute_runtime_code_hash, load_artifact

__all__ = ["browser", "pytestmark", "screenshots"]  # fixtures and marks shared with test_console_browser.py

TOKEN = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures" / "Token.json"
BOB = "0x" + "0b" * 20
CAROL = "0x" + "0c" * 20


def _send_outside_the_console(chain: EvmChain, address: str) -> str:
    """transfer(carol, 5) through the SDK with the dev key, as a program would; the transaction id."""
    key = decrypt_key_file(Path(chain.dev_key).read_bytes(), chain.dev_passphrase)
    with Client(chain.endpoint) as client:
        sent = EvmContracts(client).send(key, address, load_artifact(TOKEN), "transfer", [CAROL, 5])
    return "0x" + bytes(sent.receipt.transaction_id).hex()


@dataclass(frozen=True)
class EvmChain:
    url: str
    endpoint: str
    """The node's API (the console's is `url`)."""
    password: str
    dev_key: str
    dev_address: str
    dev_passphrase: str


def _gusu(environment: dict[str, str], *args: str) -> Any:
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", *args, "--json"],
        env=environment, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, f"gusu {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
    return json.loads(completed.stdout) if completed.stdout.strip() else None


@pytest.fixture(scope="module")
def evm_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvmChain]:
    """A governed `sm` chain running `evm` (gusu chain init --evm) and a console of its own for it."""
    directory = tmp_path_factory.mktemp("evm-chain")
    port = find_free_port()
    endpoint = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "GUSU_HOME": str(directory / "home"), "GUSU_ENDPOINT": endpoint,
                   "GUSU_KEYFILE_SCRYPT_N": "1024"}  # fmt: skip
    environment.pop("GUSU_PASSPHRASE", None)
    layout = _gusu(environment, "chain", "init", "--dir", str(directory / "chain"), "--port", str(port),
                   "--workers", "0", "--evm")  # fmt: skip
    assert "evm" in layout["contracts"]
    node_directory = layout["node_directory"]
    _gusu(environment, "node", "start", "--dir", node_directory, "--detach")
    console_port = find_free_port()
    console = subprocess.Popen(
        [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(console_port), "--endpoint", endpoint,
         "--json"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert console.stdout is not None
        printed = json.loads(console.stdout.readline())
        yield EvmChain(
            printed["url"].rstrip("/"),
            endpoint,
            printed["first_run"]["password"],
            layout["dev_key"],
            layout["dev_address"],
            Path(layout["dev_passphrase_file"]).read_text(encoding="utf-8").rstrip("\r\n"),
        )
    finally:
        console.terminate()
        console.wait(timeout=10)
        subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", "node", "stop", "--dir", node_directory],
            env=environment, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip


def _fill(browser: Any, css: str, text: str) -> None:
    field = _wait_for(browser, css)
    field.clear()
    field.send_keys(text)


def _check_clean_but_refusals(browser: Any, origin: str, page: str) -> None:
    """`_check_clean`, but for the 400 answers of the form posts refused on purpose above."""
    entries = browser.get_log("browser")
    unexpected = [
        entry
        for entry in entries
        if entry["level"] in ("SEVERE", "WARNING")
        and not ("status of 400" in entry["message"] and entry["message"].startswith(origin + "/contracts/evm/"))
    ]
    assert unexpected == [], f"{page}: {unexpected}"
    _check_clean(browser, origin, page)


def _submit(browser: Any, form_css: str) -> None:
    """Clicks the form's submit button and waits for the next page to replace this one."""
    form = browser.find_element(By.CSS_SELECTOR, form_css)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))


def test_upload_approve_deploy_call_and_see_events_in_both_languages(
    evm_chain: EvmChain, browser: Any, screenshots: Path
) -> None:
    en = load_catalogues()["en"].messages
    zh = load_catalogues()["zh-CN"].messages
    url = evm_chain.url
    browser.delete_all_cookies()
    browser.get(url + "/login")
    _set_language(browser, "en")
    _fill(browser, "#field-username", "admin")
    _fill(browser, "#field-password", evm_chain.password)
    _submit(browser, "#login-form")
    _wait_for(browser, "#account-username")
    browser.get(url + "/keys")
    _wait_for(browser, "#import-file").send_keys(evm_chain.dev_key)
    _submit(browser, "#import-key-form")
    _wait_for(browser, f'tr[data-address="{evm_chain.dev_address}"]')

    # From the contracts page to the EVM page; upload the compiled token.
    browser.get(url + "/contracts")
    _wait_for(browser, "#evm-contracts-link").click()
    _wait_for(browser, "#evm-artifact").send_keys(str(TOKEN))
    _submit(browser, "#evm-upload-form")
    code_hash = "0x" + compute_runtime_code_hash(load_artifact(TOKEN)).hex()
    assert _wait_for(browser, "#evm-code-hash").text == code_hash
    assert code_hash in _wait_for(browser, "#approval-needed").text, "the page says approval is needed up front"
    # The constructor form from the ABI: string name_, string symbol_, uint256 supply. A bad supply first.
    _fill(browser, "#constructor-arg0", "Gusu Token")
    _fill(browser, "#constructor-arg1", "GSU")
    _fill(browser, "#constructor-arg2", "-5")
    _fill(browser, "#evm-deploy-passphrase", evm_chain.dev_passphrase)
    _submit(browser, "#evm-deploy-form")
    error = _wait_for(browser, "main .error").text
    assert "supply" in error and "uint256" in error and "between 0 and" in error
    _fill(browser, "#constructor-arg2", "1000000")
    _fill(browser, "#evm-deploy-passphrase", evm_chain.dev_passphrase)
    _submit(browser, "#evm-deploy-form")
    # Refused: not approved. The link opens the governance form with the proposal filled in.
    assert code_hash in _wait_for(browser, "#approval-needed").text
    assert not browser.find_elements(By.ID, "transaction-result")
    browser.save_screenshot(str(screenshots / "evm-approval-en.png"))
    artifact_page = browser.current_url.removesuffix("/deploy")  # the refusal answered the POST
    browser.find_element(By.ID, "approval-link").click()
    _wait_for(browser, "#propose-form")
    kind = Select(browser.find_element(By.ID, "propose-kind")).first_selected_option.get_attribute("value")
    assert kind == "approve_contract" and code_hash in browser.find_element(By.ID, "propose-args").get_attribute(
        "value"
    )
    _fill(browser, "#propose-passphrase", evm_chain.dev_passphrase)
    _submit(browser, "#propose-form")
    assert _wait_for(browser, "#transaction-result").get_attribute("data-success") == "true"
    assert browser.find_elements(By.CSS_SELECTOR, 'tr[data-status="approved"]')

    # Approved: deploy. The contract's page shows the receipt and the constructor's Transfer (the mint).
    browser.get(artifact_page)
    assert not browser.find_elements(By.ID, "approval-needed")
    _fill(browser, "#constructor-arg0", "Gusu Token")
    _fill(browser, "#constructor-arg1", "GSU")
    _fill(browser, "#constructor-arg2", "1000000")
    _fill(browser, "#evm-deploy-passphrase", evm_chain.dev_passphrase)
    _submit(browser, "#evm-deploy-form")
    result = _wait_for(browser, "#transaction-result")
    assert result.get_attribute("data-success") == "true" and "Transfer" in result.text
    assert browser.find_element(By.TAG_NAME, "h1").text == en["evm.contract_title"].replace("{name}", "Token")
    address = browser.find_element(By.ID, "evm-address").text
    assert address.startswith("0x") and len(address) == 42

    def balance_of(account: str) -> str:
        _fill(browser, "#view-balanceOf input[name=arg0]", account)
        _submit(browser, "#view-balanceOf")
        return str(_wait_for(browser, "#query-value").text)

    assert balance_of(evm_chain.dev_address) == "1000000"
    # A malformed address is refused before anything is signed, naming the argument.
    _fill(browser, "#send-transfer input[name=arg0]", "0x12")
    _fill(browser, "#send-transfer input[name=arg1]", "250")
    _fill(browser, "#send-transfer-passphrase", evm_chain.dev_passphrase)
    _submit(browser, "#send-transfer")
    assert "to (address)" in _wait_for(browser, "main .error").text
    # transfer(bob, 250): signed with the keystore key; the decoded return value and Transfer event.
    _fill(browser, "#send-transfer input[name=arg0]", BOB)
    _fill(browser, "#send-transfer input[name=arg1]", "250")
    _fill(browser, "#send-transfer-passphrase", evm_chain.dev_passphrase)
    _submit(browser, "#send-transfer")
    result = _wait_for(browser, "#transaction-result")
    assert result.get_attribute("data-success") == "true"
    assert browser.find_element(By.ID, "result-value").text == "true"
    logs = [row.text for row in result.find_elements(By.CSS_SELECTOR, "tr.evm-log")]
    assert len(logs) == 1 and "Transfer" in logs[0] and BOB in logs[0] and '"value": 250' in logs[0]
    history = browser.find_element(By.ID, "event-history").text
    assert history.count("Transfer") == 2 and BOB in history, "the mint and the transfer, decoded"
    browser.save_screenshot(str(screenshots / "evm-contract-en.png"))
    assert balance_of(BOB) == "250"
    assert balance_of(evm_chain.dev_address) == "999750"
    _check_clean_but_refusals(browser, url, "EVM contract page")

    # A transfer the console never saw: sent with the SDK. The history, read from the chain, has it on top.
    contract_page = f"{url}/contracts/evm/{address}"
    outside = _send_outside_the_console(evm_chain, address)
    browser.get(contract_page)
    rows = _wait_for(browser, "#event-history").find_elements(By.CSS_SELECTOR, "tr.chain-log")
    assert [row.get_attribute("data-transaction") for row in rows][:1] == [outside] and len(rows) == 3
    newest = rows[0].text
    assert "Transfer" in newest and CAROL in newest and '"value": 5' in newest and evm_chain.dev_address in newest
    # Newest first, searched down to the deployment's block (the console deployed it: it knows where to stop).
    heights = [int(row.get_attribute("data-block") or -1) for row in rows]
    assert heights == sorted(heights, reverse=True) and rows[0].text.startswith(str(heights[0]))
    searched = en["events.searched"].replace("{low}", str(heights[-1])).split("{high}")[0]
    assert browser.find_element(By.ID, "events-searched").text.startswith(searched), "down to the deployment"
    browser.find_element(By.ID, "events").location_once_scrolled_into_view  # noqa: B018 (the screenshot shows it)
    browser.save_screenshot(str(screenshots / "evm-events-en.png"))
    rows[0].find_element(By.CSS_SELECTOR, "a.log-transaction").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(rows[0]))
    # The explorer's page of the transaction (its script fills the page from the console's API).
    _wait_until(browser, WAIT_S, lambda driver: outside in driver.find_element(By.TAG_NAME, "main").text)
    browser.get(contract_page)
    _wait_for(browser, "#event-history")
    _check_clean(browser, url, "EVM event history")

    # The same pages in Chinese: headings, the event history and a refusal's message.
    _set_language(browser, "zh-CN")
    assert browser.find_element(By.TAG_NAME, "h1").text == zh["evm.contract_title"].replace("{name}", "Token")
    assert browser.find_element(By.ID, "events").text == zh["events.history"]
    zh_rows = browser.find_elements(By.CSS_SELECTOR, "#event-history tr.chain-log")
    assert zh_rows[0].get_attribute("data-transaction") == outside and CAROL in zh_rows[0].text
    headings = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#event-history thead th")]
    assert headings == [zh["tx.block"], zh["tx.id"], zh["event.name"], zh["event.arguments"]]
    assert browser.find_element(By.ID, "events-searched").text.startswith(zh["events.searched"].split("{")[0])
    browser.find_element(By.ID, "events").location_once_scrolled_into_view  # noqa: B018
    browser.save_screenshot(str(screenshots / "evm-events-zh.png"))
    _fill(browser, "#send-transfer input[name=arg0]", BOB)
    _fill(browser, "#send-transfer input[name=arg1]", "1e3")
    _fill(browser, "#send-transfer-passphrase", evm_chain.dev_passphrase)
    _submit(browser, "#send-transfer")
    assert _wait_for(browser, "main .error").text.startswith("参数 value（uint256）无效")
    browser.save_screenshot(str(screenshots / "evm-contract-zh.png"))
    browser.get(url + "/contracts/evm")
    assert _wait_for(browser, "h1").text == zh["evm.title"]
    assert browser.find_element(By.CSS_SELECTOR, f'tr[data-address="{address}"]')
    _check_clean_but_refusals(browser, url, "EVM contracts list")
