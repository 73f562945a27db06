"""Per-kind proposal forms in Chromium, in both languages: choose a kind, see its fields labelled in the
page's language, be refused for a bad field (named, values kept), then propose from the typed fields and
see the chain approve it. The console runs in a thread of this process against the session's node;
Chromium and chromedriver as in test_console_browser.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from console_helpers import Chain, find_free_port, serve_console_in_thread
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait
from test_console_browser import WAIT_S, _fill, _set_language, _wait_for, browser, pytestmark, screenshots

from browser_helpers import is_replaced
from gusu.console.accounts import STORE_KEY, ensure_first_operator
from gusu.console.i18n import LANGUAGES, load_catalogues
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings

__all__ = ["browser", "pytestmark", "screenshots"]  # fixtures and marks shared with test_console_browser.py


@pytest.fixture(scope="module")
def governance_console(chain: Chain) -> Iterator[tuple[str, str, str]]:
    """The console on the session's node, served from a thread; yields its URL and the operator's login."""
    port = find_free_port()

    async def start(data_directory: str) -> tuple[web.AppRunner, Any]:
        settings = ConsoleSettings(
            endpoint=chain.endpoint,
            port=port,
            data_directory=data_directory,
            scrypt_log2_n=10,
            keystore_scrypt_n=1024,
            alert_interval_s=3600,
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        first = await ensure_first_operator(app[STORE_KEY], settings)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, first

    with serve_console_in_thread(start) as first:
        username, password = first
        yield f"http://127.0.0.1:{port}", username, password


def _submit(browser: Any, form_css: str, button_css: str = "button[type=submit]") -> None:
    form = browser.find_element(By.CSS_SELECTOR, form_css)
    form.find_element(By.CSS_SELECTOR, button_css).click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))


@pytest.mark.parametrize("language", LANGUAGES)
def test_propose_from_a_kinds_form(
    governance_console: tuple[str, str, str], browser: Any, chain: Chain, screenshots: Path, language: str
) -> None:
    url, username, password = governance_console
    messages = load_catalogues()[language].messages
    browser.delete_all_cookies()
    browser.get(url + "/login")
    _fill(browser, "#field-username", username)
    _fill(browser, "#field-password", password)
    _submit(browser, "#login-form")
    _set_language(browser, language)
    browser.get(url + "/keys")
    if chain.dev_address not in browser.find_element(By.TAG_NAME, "main").text:
        _wait_for(browser, "#import-file").send_keys(str(chain.dev_key))
        _submit(browser, "#import-key-form")

    browser.get(url + "/governance")
    Select(_wait_for(browser, "#kind-pick")).select_by_value("approve_contract")
    _submit(browser, "#kind-form")
    fields = _wait_for(browser, "#proposal-fields")
    assert fields.get_attribute("data-kind") == "approve_contract"
    label = browser.find_element(By.CSS_SELECTOR, 'label[for="field-arg_code_hash"]').text
    assert label == messages["governance.field.code_hash"]
    assert Select(browser.find_element(By.ID, "propose-kind")).first_selected_option.get_attribute("value") == (
        "approve_contract"
    )

    _fill(browser, "#field-arg_code_hash", "0x12")
    _fill(browser, "#propose-passphrase", chain.dev_passphrase)
    _submit(browser, "#propose-form")
    error = _wait_for(browser, "main p.error[role=alert]").text
    assert error == messages["error.proposal_field_hash"].format(field=messages["governance.field.code_hash"])
    assert browser.find_element(By.ID, "field-arg_code_hash").get_attribute("value") == "0x12"

    code_hash = "0x" + secrets.token_hex(32)
    _fill(browser, "#field-arg_code_hash", code_hash)
    _fill(browser, "#propose-passphrase", chain.dev_passphrase)
    _submit(browser, "#propose-form")
    result = _wait_for(browser, "[data-success]")
    assert result.get_attribute("data-success") == "true"
    browser.get(url + "/governance?kind=set_policy")
    _wait_for(browser, "#proposal-fields")
    browser.save_screenshot(str(screenshots / f"governance-proposal-form-{language.split('-')[0]}.png"))
