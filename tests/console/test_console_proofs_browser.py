"""Proofs checked in a real browser (Chromium through Selenium, as test_console_browser.py).

`static/proof.js` re-implements Gusu's canonical encoding, the block hash and the Merkle inclusion
check in the browser. It is held to the repository's vectors (tests/vectors/blocks-*.json,
transactions-*.json) and to Python's `gusu.ledger.merkle` on valid and altered proofs; then the
explorer's transaction page and the public verification page check a real transaction's proofs,
and proofs altered by hand in the page fail.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_console_browser as shared
from console_helpers import Chain
from console_process import run_console_process
from test_console_browser import WAIT_S, _check_clean, _set_language, _wait_for, _wait_until

from browser_helpers import recheck_proof
from gusu.codec import decode
from gusu.console.i18n import load_catalogues
from gusu.crypto import get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import CodecError
from gusu.ledger.merkle import InclusionProof, compute_inclusion_proof, compute_root, is_valid_inclusion
from gusu.sdk import Client

pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.webdriver.common.by import By

pytestmark = [pytest.mark.e2e, *shared.pytestmark[1:]]

browser = shared.browser
screenshots = shared.screenshots

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
HASH_NAMES = {"sm": "SM3", "ecdsa": "keccak-256"}

PAYEE = "0x" + "43" * 20
"""Where these tests send money: not the session chain's RECIPIENT, whose balance other tests assert."""


@pytest.fixture(scope="module")
def console(chain: Chain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A console of this module's own (its own home: the session home's first-run credential is not used up)."""
    with run_console_process(chain.endpoint, chain.environment, tmp_path_factory.mktemp("console-home")) as url:
        yield url


@pytest.fixture(scope="module")
def shared_block(chain: Chain) -> list[str]:
    """Three transfers sent at once, so that (at least two of) them share a block: their proofs have paths."""
    key = decrypt_key_file(chain.dev_key.read_bytes(), chain.dev_passphrase)
    with Client(chain.endpoint) as client:
        ids = [client.send_transaction(key, "account", "transfer", [bytes.fromhex(PAYEE[2:]), 1]) for _ in range(3)]
        for transaction_id in ids:
            client.wait_for_receipt(transaction_id, timeout_s=60)
        heights = [client.get_receipt(transaction_id).height for transaction_id in ids]
    assert len(set(heights)) < 3, f"the three transfers went into three blocks: {heights}"
    shared_height = max(set(heights), key=heights.count)
    return [
        "0x" + transaction_id.hex()
        for transaction_id, height in zip(ids, heights, strict=True)
        if height == shared_height
    ]


def _run(browser: Any, script: str, *arguments: Any) -> Any:
    return browser.execute_script(script, *arguments)


def test_proof_code_matches_the_vectors_and_python(console: str, browser: Any) -> None:
    browser.get(console + "/verify")
    _wait_for(browser, "#verify-file")
    for suite_name, hash_name in HASH_NAMES.items():
        suite = get_suite(suite_name)
        blocks = json.loads((VECTORS / f"blocks-{suite_name}.json").read_text(encoding="utf-8"))
        valid = [candidate for candidate in blocks["candidates"] if candidate["verdict"] == "valid"]
        assert valid
        computed = _run(
            browser,
            """
            const [candidates, hashName] = arguments;
            const P = GusuProof, hex = P.toHex;
            return candidates.map((c) => {
              const f = P.decode(P.decode(P.fromHex(c.raw_block))[1]);
              const header = {chain_id: f[1], height: f[2], parent_hash: hex(f[3]), timestamp_ms: f[4],
                proposer: hex(f[5]), transactions_root: hex(f[6]), receipts_root: hex(f[7]), state_root: hex(f[8]),
                validators_hash: hex(f[9]), next_validators_hash: hex(f[10]), transaction_count: f[11]};
              const digest = (bytes) => GusuHash.create(hashName).update(bytes).digest();
              const receipts = c.expected.receipts.map((r) => P.fromHex(r.encoding));
              return {
                block_hash: hex(digest(P.encodeHeader(header))),
                transactions_root: hex(P.computeRoot(hashName, c.expected.transaction_ids.map((id) => P.fromHex(id)))),
                receipts_root: hex(P.computeRoot(hashName, receipts.map(digest))),
                leaf_hashes: receipts.map((bytes) => hex(digest(bytes))),
                receipts: receipts.map((bytes) => P.decodeReceipt(bytes)),
              };
            });
            """,
            valid,
            hash_name,
        )
        for candidate, result in zip(valid, computed, strict=True):
            expected = candidate["expected"]
            assert result["block_hash"] == expected["block_hash"], candidate["name"]
            assert result["transactions_root"] == expected["transactions_root"]
            assert result["receipts_root"] == expected["receipts_root"]
            assert result["leaf_hashes"] == [receipt["leaf_hash"] for receipt in expected["receipts"]]
            for receipt, decoded in zip(expected["receipts"], result["receipts"], strict=True):
                assert decoded["status"] == ("success" if receipt["status"] == 0 else "failed")
                assert (decoded["gas_used"], decoded["error_code"]) == (receipt["gas_used"], receipt["error_code"])
        # The decoder accepts exactly the canonical encodings Python's accepts (array16 headers, wide
        # integers, trailing bytes and truncations are in the transaction vectors).
        transactions = json.loads((VECTORS / f"transactions-{suite_name}.json").read_text(encoding="utf-8"))
        raws = [vector["raw"] for vector in transactions["vectors"]]
        accepted = _run(
            browser,
            "return arguments[0].map((raw) => { try { GusuProof.decode(GusuProof.fromHex(raw)); return true; }"
            " catch (e) { return false; } });",
            raws,
        )
        expected_accepted = []
        for raw in raws:
            try:
                decode(bytes.fromhex(raw[2:]))
                expected_accepted.append(True)
            except CodecError:
                expected_accepted.append(False)
        assert accepted == expected_accepted and False in accepted
        # Inclusion proofs: JavaScript and Python agree on valid proofs and on altered ones.
        generator = random.Random(11)
        cases = []
        for count in [*range(1, 18), 31, 32, 33, 100]:
            items = [generator.randbytes(32) for _ in range(count)]
            root = compute_root(suite.hash, items)
            for index in sorted({0, count - 1, generator.randrange(count)}):
                proof = compute_inclusion_proof(suite.hash, items, index)
                path = list(proof.path)
                variants = [(index, count, path, items[index])]
                variants.append((index, count, path, items[(index + 1) % count] if count > 1 else b"\x01" * 32))
                variants.append(((index + 1) % (count + 1), count, path, items[index]))
                variants.append((index, count + 1, path, items[index]))
                if path:
                    flipped = bytearray(path[-1])
                    flipped[0] ^= 1
                    variants.append((index, count, [*path[:-1], bytes(flipped)], items[index]))
                    variants.append((index, count, path[:-1], items[index]))
                variants.append((index, count, [*path, b"\x00" * 32], items[index]))
                for variant_index, variant_count, variant_path, item in variants:
                    expected = is_valid_inclusion(
                        suite.hash,
                        root,
                        item,
                        InclusionProof(variant_index, variant_count, tuple(variant_path)),
                    )
                    cases.append(
                        {
                            "root": "0x" + root.hex(),
                            "item": "0x" + item.hex(),
                            "index": variant_index,
                            "count": variant_count,
                            "path": ["0x" + node.hex() for node in variant_path],
                            "expected": expected,
                        }
                    )
        verdicts = _run(
            browser,
            """
            const [cases, hashName] = arguments;
            const P = GusuProof;
            return cases.map((c) => P.isValidInclusion(hashName, P.fromHex(c.root), P.fromHex(c.item), c.index, c.count,
              c.path.map((node) => P.fromHex(node))));
            """,
            cases,
            hash_name,
        )
        assert verdicts == [case["expected"] for case in cases]
        assert sum(verdicts) >= 60 and verdicts.count(False) >= 60  # both kinds were exercised
    _check_clean(browser, console, "/verify (proof code)")


def _verdict(browser: Any) -> tuple[str, str]:
    verdict = _wait_for(browser, "#proof-verdict")
    return verdict.get_attribute("data-verified") or "", verdict.text


def _rows(browser: Any) -> dict[str, str]:
    return {
        name: browser.find_element(By.ID, f"proof-{name}").get_attribute("data-ok") or ""
        for name in ("header", "transaction", "receipt")
    }


def _because(messages: dict[str, str], key: str) -> str:
    return messages["proof.error"].replace("{message}", messages[key])


def _reason(browser: Any, row: str) -> tuple[str, str]:
    """Why a check could not be made: the code, and the translated reason the page shows."""
    reason = browser.find_element(By.CSS_SELECTOR, f"#proof-{row} [data-reason]")
    return reason.get_attribute("data-reason") or "", reason.text


def _recheck(browser: Any, proof: dict[str, Any]) -> None:
    recheck_proof(browser, proof, "proof-verdict", WAIT_S)


def _tampered(browser: Any) -> dict[str, Any]:
    proof: dict[str, Any] = json.loads(browser.find_element(By.ID, "proof-json").get_attribute("value"))
    return proof


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_transaction_page_checks_its_proofs(
    console: str, browser: Any, shared_block: list[str], screenshots: Path, language: str
) -> None:
    messages = load_catalogues()[language].messages
    browser.get(console + "/")
    _set_language(browser, language)
    transaction_id = shared_block[-1]
    browser.get(console + "/transactions/" + transaction_id)
    verified, text = _verdict(browser)
    assert verified == "true", text
    assert _rows(browser) == {"header": "true", "transaction": "true", "receipt": "true"}
    answer = _tampered(browser)  # the proof as received, each alteration below starts from it
    assert answer["transaction_id"] == transaction_id and answer["transaction_proof"]["path"] != []
    height = answer["height"]
    assert text == messages["proof.verified"].replace("{height}", str(height))
    assert messages["proof.title"] in browser.find_element(By.ID, "proof").text
    _check_clean(browser, console, "/transactions (proof)")
    suffix = "zh" if language == "zh-CN" else "en"
    browser.save_screenshot(str(screenshots / f"proof-verified-{suffix}.png"))

    # A path node altered: the transaction's check fails, the others hold.
    altered = copy.deepcopy(answer)
    node = altered["transaction_proof"]["path"][0]
    altered["transaction_proof"]["path"][0] = node[:-1] + ("0" if node[-1] != "0" else "1")
    _recheck(browser, altered)
    assert _verdict(browser) == ("false", messages["proof.failed"])
    assert _rows(browser) == {"header": "true", "transaction": "false", "receipt": "true"}
    if language == "en":
        browser.save_screenshot(str(screenshots / "proof-failed-en.png"))
    # The receipt said to be "success" is altered (its status byte): the receipts root no longer matches.
    altered = copy.deepcopy(answer)
    encoding = altered["receipt_proof"]["receipt"]
    tag_end = 2 + 2 * (1 + 1 + len("gusu.receipt.v1")) + 2 * (2 + 32)  # array, tag, transaction id
    assert encoding[tag_end : tag_end + 2] == "00"
    altered["receipt_proof"]["receipt"] = encoding[:tag_end] + "01" + encoding[tag_end + 2 :]
    _recheck(browser, altered)
    assert _verdict(browser)[0] == "false"
    assert _rows(browser) == {"header": "true", "transaction": "true", "receipt": "false"}
    assert messages["receipt.status.failed"] in browser.find_element(By.ID, "proof-receipt").text
    # Another transaction's receipt, with its own valid path: it is not this transaction's.
    other = shared_block[0]
    altered = copy.deepcopy(answer)
    altered["transaction_id"] = other
    _recheck(browser, altered)
    assert _rows(browser)["transaction"] == "false" and _rows(browser)["receipt"] == "false"
    assert _reason(browser, "receipt") == ("receipt_other", _because(messages, "proof.reason.receipt_other"))
    # Malformed rather than wrong: a path node that is not hex, a proof missing its receipt part.
    altered = copy.deepcopy(answer)
    altered["transaction_proof"]["path"][0] = "0x" + "zz" * 32
    del altered["receipt_proof"]
    _recheck(browser, altered)
    assert _rows(browser) == {"header": "true", "transaction": "false", "receipt": "false"}
    assert _reason(browser, "transaction") == ("hex_invalid", _because(messages, "proof.reason.hex_invalid"))
    assert _reason(browser, "receipt") == ("proof_incomplete", _because(messages, "proof.reason.proof_incomplete"))
    # The header's time changed: it no longer hashes to the block hash.
    altered = copy.deepcopy(answer)
    altered["header"]["timestamp_ms"] += 1
    _recheck(browser, altered)
    assert _rows(browser) == {"header": "false", "transaction": "true", "receipt": "true"}
    # Not JSON at all.
    browser.execute_script("arguments[0].value = '{';", browser.find_element(By.ID, "proof-json"))
    browser.find_element(By.ID, "proof-recheck").click()
    _wait_until(
        browser, WAIT_S, lambda driver: driver.find_element(By.ID, "proof-verdict").text == messages["proof.not_json"]
    )
    _check_clean(browser, console, "/transactions (altered proofs)")


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_public_page_looks_up_a_transaction_and_checks_it(
    console: str, browser: Any, chain: Chain, shared_block: list[str], screenshots: Path, language: str
) -> None:
    messages = load_catalogues()[language].messages
    browser.get(console + "/verify")
    _set_language(browser, language)
    assert browser.find_elements(By.ID, "login-link")  # nobody is logged in
    box = _wait_for(browser, "#verify-tx-id")
    box.send_keys("0x1234")
    browser.find_element(By.ID, "verify-tx-submit").click()
    assert _wait_for(browser, "#verify-tx-error").text == messages["verify.lookup_invalid"]
    box.clear()
    box.send_keys("0x" + "ab" * 32)
    browser.find_element(By.ID, "verify-tx-submit").click()
    _wait_until(
        browser,
        WAIT_S,
        lambda driver: driver.find_element(By.ID, "verify-tx-error").text == messages["verify.lookup_not_found"],
    )
    box.clear()
    box.send_keys(chain.failed_id.upper().replace("0X", "0x"))
    browser.find_element(By.ID, "verify-tx-submit").click()
    verified, text = _verdict(browser)
    assert verified == "true", text
    assert _rows(browser) == {"header": "true", "transaction": "true", "receipt": "true"}
    assert browser.find_element(By.ID, "verify-tx-status").text == messages["tx.status.committed"]
    # The proof is of a failed transfer, and says so.
    assert messages["receipt.status.failed"] in browser.find_element(By.ID, "proof-receipt").text
    suffix = "zh" if language == "zh-CN" else "en"
    browser.save_screenshot(str(screenshots / f"verify-transaction-{suffix}.png"))
    altered = _tampered(browser)
    altered["receipt_proof"]["index"] = altered["receipt_proof"]["leaf_count"]
    _recheck(browser, altered)
    assert _verdict(browser) == ("false", messages["proof.failed"])
    assert _rows(browser)["receipt"] == "false"
    shared._check_clean_except_404(browser, console)  # the unknown transaction was answered 404 on purpose
