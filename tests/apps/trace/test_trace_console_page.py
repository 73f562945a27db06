"""The consumer page's HTML: every value from the chain is escaped (a scan's place is anyone's text)."""

from __future__ import annotations

import asyncio

import pytest

from gusu.apps.trace import ItemReport, issue_item_codes, parse_payload
from gusu.apps.trace.client import BatchEvent, BatchView, BrandView, ProductView, ScanView
from gusu.console.app_trace import compute_trace_content, compute_trace_form, compute_trace_report
from gusu.console.i18n import load_catalogues
from gusu.crypto import get_suite
from gusu.errors import RemoteError
from gusu.ledger.types import Address, Hash

HOSTILE = '<script>alert("x")</script>'


def _report(*, suspect: bool) -> ItemReport:
    key = get_suite("sm").generate_private_key()
    (code,) = issue_item_codes(key, "b", "S1", 1)
    batch = BatchView("B<1>", "b", "p", 1, (), Address(bytes(20)), None, "on_sale", 2, Hash(bytes(32)), 1, (), (),
                      0, 0, False, False, 0, HOSTILE, 1, None)  # fmt: skip
    event = BatchEvent("B<1>", "packed", Address(bytes(20)), 1, 0, Hash(bytes(32)), HOSTILE)
    scan = ScanView(2, 0, HOSTILE, Hash(bytes(32)), True)
    return ItemReport(code, True, True, BrandView("b", HOSTILE, Address(bytes(20)), key.public_key, "", 1),
                      ProductView("p", "b", HOSTILE, HOSTILE, 2, 0), (batch,), (event,), 1, 0, HOSTILE, 0, HOSTILE,
                      suspect, False, (scan,), 0)  # fmt: skip


def test_every_value_is_escaped_and_the_warnings_show() -> None:
    catalogue = load_catalogues()["en"]
    page = compute_trace_report(catalogue, _report(suspect=True), "SM3") + compute_trace_form(catalogue, HOSTILE)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'data-verdict="suspect"' in page and 'id="trace-suspect"' in page
    assert 'data-expected="0x' + "00" * 32 + '"' in page and 'data-hash-name="SM3"' in page


def test_a_genuine_item_has_no_warning() -> None:
    page = compute_trace_report(load_catalogues()["zh-CN"], _report(suspect=False), "SM3")
    assert 'data-verdict="genuine"' in page and "trace-suspect" not in page and "已被查询 1 次" in page


@pytest.mark.parametrize("code", ["contract_unknown", "method_unknown", "not_found"])
def test_a_chain_without_the_application_says_so(code: str) -> None:
    (item,) = issue_item_codes(get_suite("sm").generate_private_key(), "b", "S1", 1)

    async def read(payload: str) -> tuple[ItemReport, str]:
        raise RemoteError(code, "no contract named trace")

    catalogue = load_catalogues()["en"]
    page, status = asyncio.run(compute_trace_content(catalogue, item.get_payload(), read))
    assert status == 404 and catalogue.get_message("trace.no_app") in page


def test_a_malformed_payload_is_a_400_and_other_node_errors_propagate() -> None:
    async def read(payload: str) -> tuple[ItemReport, str]:
        parse_payload(payload)
        raise RemoteError("unavailable", "the node is starting")

    catalogue = load_catalogues()["zh-CN"]
    page, status = asyncio.run(compute_trace_content(catalogue, HOSTILE, read))
    assert status == 400 and "&lt;script&gt;" in page and "<script>" not in page
    form, status = asyncio.run(compute_trace_content(catalogue, "", read))
    assert status == 200 and 'id="trace-code"' in form and "trace-error" not in form
    (item,) = issue_item_codes(get_suite("sm").generate_private_key(), "b", "S1", 1)
    with pytest.raises(RemoteError, match="starting"):
        asyncio.run(compute_trace_content(catalogue, item.get_payload(), read))
