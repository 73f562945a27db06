"""The consumer page's HTML: every value from the chain is escaped (a scan's place is anyone's text)."""

from __future__ import annotations

from gusu.apps.trace import ItemReport, issue_item_codes
from gusu.apps.trace.client import BatchEvent, BatchView, BrandView, ProductView, ScanView
from gusu.console.app_trace import compute_trace_form, compute_trace_report
from gusu.console.i18n import load_catalogues
from gusu.crypto import get_suite
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
