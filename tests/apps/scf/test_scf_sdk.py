"""The SDK side without a node: money as text, the invoice key, record parsing, paged reads."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gusu.apps.scf.client import PAGE_MAX, ScfApp, compute_invoice_key
from gusu.apps.scf.views import format_rate, format_yuan, parse_rate, parse_voucher, parse_yuan
from gusu.codec import Value
from gusu.errors import ClientError, CodecError


@pytest.mark.parametrize(
    ("text", "fen"),
    [("1", 100), ("0.01", 1), ("1,000,000.00", 100_000_000), ("300000.5", 30_000_050), (" 12.30 ", 1_230)],
)
def test_yuan_text_becomes_exact_fen(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen
    assert parse_yuan(format_yuan(fen)) == fen


@pytest.mark.parametrize("text", ["", "0", "0.00", "1.001", "-5", "1e3", "１２", "1.2.3", "abc", "1" * 30, "nan"])
def test_bad_yuan_text_is_refused(text: str) -> None:
    with pytest.raises(ClientError):
        parse_yuan(text)


def test_rates_and_formatting() -> None:
    assert parse_rate("4.50") == 450 and parse_rate("4.5%") == 450 and parse_rate("12") == 1_200
    assert format_rate(450) == "4.50%" and format_yuan(-123_456) == "-1,234.56"
    for bad in ("4.555", "-1", "x", "１"):
        with pytest.raises(ClientError):
            parse_rate(bad)


def test_the_invoice_key_depends_on_code_and_number_only() -> None:
    key = compute_invoice_key("sm", "044002", "00000001")
    assert key == compute_invoice_key("sm", " 044002 ", "00000001 ")
    assert key != compute_invoice_key("sm", "044002", "00000002")
    assert key != compute_invoice_key("ecdsa", "044002", "00000001")
    assert len(compute_invoice_key("sm", "", "25322000000012345678")) == 32
    for code, number in (("", ""), ("04<4", "1"), ("1", "２")):
        with pytest.raises(ClientError):
            compute_invoice_key("sm", code, number)


def test_a_malformed_voucher_record_is_refused() -> None:
    with pytest.raises(CodecError):
        parse_voucher([1, 2, 3])
    with pytest.raises(CodecError):
        parse_voucher([1] * 16)


class PagedContracts:
    """A stand-in for `Contracts` whose list view holds `count` entries."""

    def __init__(self, count: int) -> None:
        self.entries = list(range(count))
        self.calls = 0

    def view(self, name: str, method: str, args: Sequence[Value] = (), sender: bytes | None = None) -> Value:
        self.calls += 1
        key, start, limit = args
        assert key == "tier1" and isinstance(start, int) and isinstance(limit, int) and limit == PAGE_MAX
        return list(self.entries[start : start + limit])


@pytest.mark.parametrize("count", [0, 1, PAGE_MAX, PAGE_MAX + 1, 3 * PAGE_MAX + 7])
def test_paged_reads_collect_every_page(count: int) -> None:
    contracts = PagedContracts(count)
    app = ScfApp(contracts)  # type: ignore[arg-type]
    assert app._read_pages("list_holdings", "tier1") == list(range(count))
    assert contracts.calls == count // PAGE_MAX + 1


def test_a_page_larger_than_asked_is_refused() -> None:
    contracts = PagedContracts(0)
    contracts.view = lambda *args, **kwargs: list(range(PAGE_MAX + 1))  # type: ignore[method-assign]
    with pytest.raises(CodecError, match="at most 100"):
        ScfApp(contracts)._read_pages("list_holdings", "tier1")  # type: ignore[arg-type]
