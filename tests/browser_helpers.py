"""What every browser test shares, whatever package it tests (tests/ is on sys.path through tests/conftest.py)."""

from __future__ import annotations

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
