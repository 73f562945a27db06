"""What every browser test shares, whatever package it tests (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import (
    JavascriptException,
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

LANGUAGE_WAIT_S = 30
NAVIGATING = (NoSuchElementException, StaleElementReferenceException)
"""What a page that is being replaced may raise while a wait polls it."""


def is_replaced(element: Any) -> Callable[[Any], bool]:
    """A wait predicate: true once `element` no longer belongs to the page (it was removed or the page was
    replaced). Selenium's `staleness_of` lets through the "unhandled inspector error ... does not belong to the
    document" that Chromium may give for an element of a page being replaced, which is the same answer."""

    def predicate(_driver: Any) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in str(error):
                return True
            raise
        return False

    return predicate


def set_language(browser: Any, language: str) -> None:
    """Switch the console's language and wait for the new page.

    Waits until the old page is gone first: when it already is in that language, its `lang` alone cannot tell
    the old page from the new one, and the caller's next find could land on the old one (a CI flake). The old
    page is told apart by a mark set on its `window`, which a new document does not have: selenium's
    `staleness_of` asks the old element, and Chromium may answer that with an "unhandled inspector error" while
    the page is being replaced (another CI flake).
    """
    browser.execute_script("window.gusuOldPage = true;")
    browser.find_element(By.CSS_SELECTOR, f'form.language button[value="{language}"]').click()
    WebDriverWait(browser, LANGUAGE_WAIT_S, ignored_exceptions=(JavascriptException, WebDriverException)).until(
        lambda driver: driver.execute_script("return window.gusuOldPage !== true;") is True
    )
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
    WebDriverWait(browser, wait_s).until(is_replaced(old))
