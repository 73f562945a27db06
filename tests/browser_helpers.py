"""What every browser test shares, whatever package it tests (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

LANGUAGE_WAIT_S = 30
NAVIGATING = (NoSuchElementException, StaleElementReferenceException)
"""What a page that is being replaced may raise while a wait polls it."""


def set_language(browser: Any, language: str) -> None:
    """Switch the console's language and wait for the new page.

    Waits until the old page is gone first: when it already is in that language, its `lang` alone cannot tell
    the old page from the new one, and the caller's next find could land on the old one (a CI flake).
    """
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, f'form.language button[value="{language}"]').click()
    WebDriverWait(browser, LANGUAGE_WAIT_S).until(expected_conditions.staleness_of(old_page))
    WebDriverWait(browser, LANGUAGE_WAIT_S, ignored_exceptions=NAVIGATING).until(
        lambda driver: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    )


def recheck_proof(browser: Any, proof: dict[str, Any], verdict_id: str, wait_s: float) -> None:
    """Put `proof` in the page's proof box, as a user editing it would, check it again, and wait until the
    element `verdict_id` of the earlier check has been replaced."""
    editor = browser.find_element(By.ID, "proof-json")
    if not editor.is_displayed():
        browser.find_element(By.CSS_SELECTOR, "details.proof-edit summary").click()
    browser.execute_script("arguments[0].value = arguments[1];", editor, json.dumps(proof))
    old = browser.find_element(By.ID, verdict_id)
    browser.find_element(By.ID, "proof-recheck").click()
    WebDriverWait(browser, wait_s).until(expected_conditions.staleness_of(old))
