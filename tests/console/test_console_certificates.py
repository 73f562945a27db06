"""The dashboard's certificate expiry counter: the computation, `/api/certificates`, a real node, and
the dashboard in Chromium in both languages (fixtures shared with test_console_browser.py)."""

from __future__ import annotations

import asyncio
import datetime
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from console_helpers import Chain, find_free_port, serve_console_in_thread

from gusu.console.accounts import STORE_KEY, ensure_first_operator
from gusu.console.alerts import CertificateExpiry
from gusu.console.certificates import READER_KEY, CertificateSources, compute_expiry_counter
from gusu.console.registry_pages import CertificateInfo
from gusu.console.server import create_app
from gusu.console.settings import ConsoleSettings
from gusu.console.store import open_store

DAY_S = 86_400
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _organisation(days_left: int | None, status: str) -> CertificateInfo:
    not_after = None if days_left is None else datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    return CertificateInfo("CN=org" if days_left is not None else "", not_after, days_left, "0x00", status)


def test_the_nearest_expiry_across_organisations_and_the_node() -> None:
    organisations = [
        ("org1", _organisation(400, "valid")),
        ("org2", _organisation(20, "expiring")),
        ("org3", _organisation(5, "revoked")),  # revoked: counted apart, never the nearest
        ("org4", _organisation(None, "none")),  # no certificate
    ]
    node = [CertificateExpiry("node", "CN=node1", 90 * DAY_S), CertificateExpiry("peer", "CN=node2", 12.5 * DAY_S)]
    counter = compute_expiry_counter(organisations, node)
    assert counter["nearest"] == {
        "source": "peer",
        "name": "CN=node2",
        "subject": "CN=node2",
        "days_left": 12,
        "status": "expiring",
    }
    assert (counter["total"], counter["expiring"], counter["expired"], counter["revoked"]) == (4, 2, 0, 1)
    assert counter["node_metrics_readable"] is True

    expired = compute_expiry_counter(organisations, [CertificateExpiry("ca", "CN=old", -3 * DAY_S)])
    assert expired["nearest"] is not None and expired["nearest"]["status"] == "expired"
    assert expired["nearest"]["days_left"] == -3 and expired["expired"] == 1

    organisation_nearest = compute_expiry_counter(organisations, None)
    assert organisation_nearest["nearest"] is not None and organisation_nearest["nearest"]["name"] == "org2"
    assert organisation_nearest["node_metrics_readable"] is False
    assert compute_expiry_counter([], [])["nearest"] is None


STAND_IN = CertificateSources(
    (("org1", _organisation(400, "valid")), ("org2", _organisation(17, "expiring"))),
    (CertificateExpiry("node", "CN=node1", 200 * DAY_S),),
)


async def _stand_in_reader(request: web.Request) -> CertificateSources:
    return STAND_IN


def test_api_needs_a_login_and_answers_the_counter(tmp_path: Path) -> None:
    async def main() -> None:
        settings = ConsoleSettings(endpoint=f"http://127.0.0.1:{find_free_port()}", port=0, scrypt_log2_n=10)
        store = await open_store(None, tmp_path / "console")
        first = await ensure_first_operator(store, settings)
        assert first is not None
        app = create_app(settings, store=store)
        app[READER_KEY] = _stand_in_reader
        try:
            async with TestClient(TestServer(app)) as client:
                assert (await client.get("/api/certificates")).status == 401
                token = _TOKEN.findall(await (await client.get("/login")).text())[-1]
                await client.post("/login", data={"csrf_token": token, "username": first[0], "password": first[1]})
                response = await client.get("/api/certificates")
                assert response.status == 200, await response.text()
                found = await response.json()
                assert found["nearest"]["name"] == "org2" and found["nearest"]["days_left"] == 17
                assert found["nearest"]["status"] == "expiring" and found["total"] == 3 and found["expiring"] == 1
        finally:
            await store.close()

    asyncio.run(main())


def test_the_sources_read_from_a_real_node(chain: Chain) -> None:
    """The default reader against the session's node: its organisations and /metrics parse."""
    from gusu.console.certificates import get_certificate_sources

    async def main() -> None:
        with tempfile.TemporaryDirectory() as data_directory:
            settings = ConsoleSettings(endpoint=chain.endpoint, port=0, data_directory=data_directory)
            seen: list[CertificateSources] = []

            async def recording_reader(request: web.Request) -> CertificateSources:
                seen.append(await get_certificate_sources(request))
                return seen[-1]

            app = create_app(settings)
            app[READER_KEY] = recording_reader
            async with TestClient(TestServer(app)) as client:
                store = app[STORE_KEY]
                first = await ensure_first_operator(store, settings)
                assert first is not None
                token = _TOKEN.findall(await (await client.get("/login")).text())[-1]
                await client.post("/login", data={"csrf_token": token, "username": first[0], "password": first[1]})
                response = await client.get("/api/certificates")
                assert response.status == 200, await response.text()
                found = await response.json()
            assert len(seen) == 1 and seen[0].node_certificates is not None
            assert found["node_metrics_readable"] is True
            assert found["total"] == len(seen[0].node_certificates) + sum(
                info.status not in ("none", "revoked") for _, info in seen[0].organisations
            )

    asyncio.run(main())


# --- the dashboard in Chromium ---------------------------------------------------------------------------

selenium = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402
from test_console_browser import (  # noqa: E402
    WAIT_S,
    _fill,
    _set_language,
    _wait_for,
    browser,
    pytestmark,
    screenshots,
)

from browser_helpers import is_replaced  # noqa: E402
from gusu.console.i18n import LANGUAGES, load_catalogues  # noqa: E402

__all__ = ["browser", "pytestmark", "screenshots"]  # fixtures and marks shared with test_console_browser.py


@pytest.fixture(scope="module")
def certificate_console() -> Iterator[tuple[str, str, str]]:
    """The console with the stand-in reader, served from a thread; yields its URL and the operator's login."""
    port = find_free_port()

    async def start(data_directory: str) -> tuple[web.AppRunner, Any]:
        settings = ConsoleSettings(
            endpoint=f"http://127.0.0.1:{find_free_port()}", port=port, data_directory=data_directory, scrypt_log2_n=10
        )
        app = create_app(settings)
        app[READER_KEY] = _stand_in_reader
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        store = app[STORE_KEY]
        first = await ensure_first_operator(store, settings)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, first

    with serve_console_in_thread(start) as first:
        username, password = first
        yield f"http://127.0.0.1:{port}", username, password


@pytest.mark.parametrize("language", LANGUAGES)
def test_dashboard_shows_the_certificate_expiry_counter(
    certificate_console: tuple[str, str, str], browser: Any, screenshots: Path, language: str
) -> None:
    url, username, password = certificate_console
    messages = load_catalogues()[language].messages
    browser.delete_all_cookies()
    browser.get(f"{url}/")
    _set_language(browser, language)
    # Anonymous: no counter (the API needs a login, and the page does not ask for it).
    _wait_for(browser, "#height, .error, #live")
    assert browser.find_elements(By.ID, "certificate-expiry") == []
    browser.get(f"{url}/login")
    _fill(browser, "#field-username", username)
    _fill(browser, "#field-password", password)
    form = browser.find_element(By.ID, "login-form")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(is_replaced(form))
    browser.get(f"{url}/")
    counter = _wait_for(browser, "#certificate-expiry")
    assert counter.get_attribute("data-status") == "expiring" and counter.get_attribute("data-days") == "17"
    assert browser.find_element(By.ID, "certificate-days").text == "17"
    assert "certificate-expiring" in (counter.get_attribute("class") or "")
    assert counter.value_of_css_property("color") == "rgba(180, 83, 9, 1)"  # the warning colour
    source = messages["dashboard.certificate_source.organisation"]
    assert source in counter.text and "CN=org" in counter.text
    counts = browser.find_element(By.ID, "certificate-counts").text
    assert counts == messages["dashboard.certificate_counts"].format(total=3, expiring=1, expired=0, revoked=0)
    browser.save_screenshot(str(screenshots / f"dashboard-certificates-{language.split('-')[0]}.png"))
