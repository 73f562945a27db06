"""The block header's commit certificate checked in a real browser (Chromium through Selenium).

static/sigverify.js verifies the validators' precommit signatures (SM2 or secp256k1 ECDSA) in the
page. Here it is held, in Chromium, to the known answers of sigverify_cases.py and timed on a
4-validator certificate of each suite (docs/console.md quotes the figure); then a real transaction's
page shows its header verified, and a node whose certificates are tampered with in transit (a fake
endpoint in front of the real node) makes the page say the header is NOT verified.
"""

from __future__ import annotations

import copy
import http.client
import json
import statistics
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
import test_console_browser as shared
from console_helpers import Chain, find_free_port
from console_process import run_console_process
from sigverify_cases import SUITES, make_certificate_cases, make_verify_cases
from test_console_browser import WAIT_S, _check_clean, _set_language, _wait_for

from browser_helpers import recheck_proof
from gusu.console.i18n import load_catalogues

pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.e2e, *shared.pytestmark[1:]]

browser = shared.browser
screenshots = shared.screenshots

HEADER_ROWS = ("validators", "certificate", "quorum", "signatures")
SIGNATURE_FAILED = {"validators": "true", "certificate": "true", "quorum": "true", "signatures": "false"}
TIMING_RUNS = 5
FOUR_VALIDATORS_MS_MAX = 5_000
"""A generous bound on one 4-validator check, so a slow shared machine cannot make it flaky."""
PROXY_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def console(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with run_console_process(chain.endpoint, chain.environment, tmp_path_factory.mktemp("console-home")) as url:
        yield url


def _tamper_certificates(value: Any) -> int:
    """Flip one bit of the first signature of every commit certificate in a JSON-RPC answer; how many."""
    count = 0
    if isinstance(value, dict):
        certificate = value.get("certificate")
        if isinstance(certificate, dict) and certificate.get("signatures"):
            signature = certificate["signatures"][0]["signature"]
            certificate["signatures"][0]["signature"] = signature[:-1] + ("0" if signature[-1] != "0" else "1")
            count += 1
        for key, item in value.items():
            if key != "certificate":
                count += _tamper_certificates(item)
    elif isinstance(value, list):
        count += sum(_tamper_certificates(item) for item in value)
    return count


class _TamperingProxy(BaseHTTPRequestHandler):
    """Relays every request to the real node, and alters the commit certificates in its answers."""

    target: ClassVar[tuple[str, int]] = ("127.0.0.1", 0)
    tampered: ClassVar[list[int]] = []

    def _relay(self, body: bytes | None) -> None:
        connection = http.client.HTTPConnection(*self.target, timeout=PROXY_TIMEOUT_S)
        try:
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            status, content_type = answer.status, answer.getheader("Content-Type", "application/json")
        finally:
            connection.close()
        if content_type.startswith("application/json"):
            try:
                document = json.loads(data)
            except ValueError:
                document = None
            if document is not None:
                count = _tamper_certificates(document)
                if count:
                    self.tampered.append(count)
                    data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._relay(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def do_GET(self) -> None:
        self._relay(None)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tampering_endpoint(chain: Chain) -> Iterator[tuple[str, list[int]]]:
    """A fake node endpoint: the real node's answers with every commit certificate's first signature altered."""
    parts = urlsplit(chain.endpoint)
    tampered: list[int] = []
    handler = type("Proxy", (_TamperingProxy,), {"target": (parts.hostname, parts.port), "tampered": tampered})
    server = ThreadingHTTPServer(("127.0.0.1", find_free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tampered
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _run(browser: Any, script: str, *arguments: Any) -> Any:
    return browser.execute_script(script, *arguments)


def test_sigverify_in_chromium_matches_python_and_is_timed(console: str, browser: Any) -> None:
    timings: dict[str, float] = {}
    for suite_name in SUITES:
        # Timed first, each on a freshly loaded page: a citizen's page checks one certificate, cold.
        browser.get(console + "/verify")
        _wait_for(browser, "#verify-file")
        cases = make_certificate_cases(suite_name)
        four = next(case["answer"] for case in cases if case["name"].endswith("all four"))
        elapsed = _run(
            browser,
            "const [answer, runs] = arguments; const out = [];"
            " for (let i = 0; i < runs; i++) { const r = GusuSig.checkCommitCertificate(answer);"
            " if (!r.ok) return null; out.push(r.elapsed_ms); } return out;",
            four,
            TIMING_RUNS,
        )
        assert elapsed is not None
        timings[suite_name + " first"] = round(elapsed[0], 1)  # nothing compiled yet
        timings[suite_name + " median"] = round(statistics.median(elapsed), 1)
        assert max(elapsed) < FOUR_VALIDATORS_MS_MAX
        outcomes = _run(
            browser,
            "return arguments[0].map((a) => GusuSig.checkCommitCertificate(a).ok);",
            [case["answer"] for case in cases],
        )
        assert outcomes == [case["expected"] for case in cases]
    verify_cases = make_verify_cases()
    verdicts = _run(
        browser,
        "const P = GusuProof; return arguments[0].map((c) => GusuSig.verify(c.suite, P.fromHex(c.public_key),"
        " P.fromHex(c.message), P.fromHex(c.signature)));",
        verify_cases,
    )
    assert verdicts == [case["expected"] for case in verify_cases]
    print("4-validator certificate checked in Chromium, ms:", json.dumps(timings))
    _check_clean(browser, console, "/verify (sigverify)")


def _show_header_check(browser: Any) -> None:
    browser.execute_script("document.getElementById('proof-header-check').scrollIntoView();")


def _header_verdict(browser: Any) -> tuple[str, str]:
    verdict = _wait_for(browser, "#header-verdict")
    return verdict.get_attribute("data-verified") or "", verdict.text


def _header_rows(browser: Any) -> dict[str, str]:
    return {name: browser.find_element(By.ID, f"proof-{name}").get_attribute("data-ok") or "" for name in HEADER_ROWS}


def _reason(browser: Any, row: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, f"#proof-{row} [data-reason]").get_attribute("data-reason") or ""


def _recheck(browser: Any, proof: dict[str, Any]) -> None:
    recheck_proof(browser, proof, "header-verdict", WAIT_S)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_real_block_header_is_verified(
    console: str, browser: Any, chain: Chain, screenshots: Path, language: str
) -> None:
    messages = load_catalogues()[language].messages
    browser.get(console + "/")
    _set_language(browser, language)
    browser.get(console + "/transactions/" + chain.transfer_id)
    verified, text = _header_verdict(browser)
    assert verified == "true", text
    assert _header_rows(browser) == dict.fromkeys(HEADER_ROWS, "true")
    answer: dict[str, Any] = json.loads(browser.find_element(By.ID, "proof-json").get_attribute("value"))
    assert browser.find_element(By.ID, "proof-verdict").get_attribute("data-verified") == "true"
    validators_hash = answer["header"]["validators_hash"]
    total = sum(member["power"] for member in answer["validator_set"]["validators"])
    assert text == messages["proof.header_verified"].format(height=answer["height"], power=total, total=total)
    # Trust is rooted in the set: its hash is shown, with how to compare it.
    assert browser.find_element(By.ID, "proof-trust").text == messages["proof.trust"].replace("{hash}", validators_hash)
    assert messages["proof.reason.signature_invalid"] not in browser.find_element(By.ID, "proof").text
    assert browser.find_element(By.CSS_SELECTOR, "#proof > p.hint").text == messages["proof.scope"]
    suffix = "zh" if language == "zh-CN" else "en"
    _show_header_check(browser)
    browser.save_screenshot(str(screenshots / f"header-verified-{suffix}.png"))
    _check_clean(browser, console, "/transactions (header)")

    # Edited in the page: a signature altered, the set removed, a signer's power lowered below the quorum.
    altered = copy.deepcopy(answer)
    signature = altered["certificate"]["signatures"][0]["signature"]
    altered["certificate"]["signatures"][0]["signature"] = signature[:-2] + ("00" if signature[-2:] != "00" else "01")
    _recheck(browser, altered)
    assert _header_verdict(browser) == ("false", messages["proof.header_not_verified"])
    assert _header_rows(browser) == SIGNATURE_FAILED
    assert _reason(browser, "signatures") == "signature_invalid"
    assert browser.find_element(By.ID, "proof-verdict").get_attribute("data-verified") == "true"  # Merkle part holds
    altered = copy.deepcopy(answer)
    altered["validator_set"] = None
    _recheck(browser, altered)
    assert _header_verdict(browser)[0] == "false" and _reason(browser, "validators") == "validators_unknown"
    altered = copy.deepcopy(answer)
    altered["certificate"]["signatures"] = []
    _recheck(browser, altered)
    assert _header_verdict(browser)[0] == "false" and _reason(browser, "quorum") == "quorum_short"
    # The block page shows the header's validators hash, to compare with one from a trusted source.
    browser.get(console + f"/blocks/{answer['height']}")
    assert _wait_for(browser, "#block-validators-hash").text == validators_hash
    _check_clean(browser, console, "/blocks (validators hash)")


def test_a_tampered_certificate_from_the_node_is_not_verified(
    chain: Chain,
    browser: Any,
    screenshots: Path,
    tampering_endpoint: tuple[str, list[int]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    endpoint, tampered = tampering_endpoint
    messages = load_catalogues()["en"].messages
    home = tmp_path_factory.mktemp("tampered-console-home")
    with run_console_process(endpoint, chain.environment, home) as console:
        browser.get(console + "/verify")
        _set_language(browser, "en")
        box = _wait_for(browser, "#verify-tx-id")
        box.send_keys(chain.transfer_id)
        browser.find_element(By.ID, "verify-tx-submit").click()
        assert _header_verdict(browser) == ("false", messages["proof.header_not_verified"])
        assert tampered, "the fake endpoint altered no certificate"
        assert _header_rows(browser) == SIGNATURE_FAILED
        assert _reason(browser, "signatures") == "signature_invalid"
        # The inclusion proofs still lead to the header: it is the header that cannot be trusted.
        assert browser.find_element(By.ID, "proof-verdict").get_attribute("data-verified") == "true"
        _show_header_check(browser)
        browser.save_screenshot(str(screenshots / "header-not-verified-en.png"))
