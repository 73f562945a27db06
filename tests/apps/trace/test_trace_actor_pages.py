"""The trace actor pages' pure parts: the code-set download and the form parsers (no node, no browser)."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest

from gusu.console.access import AccessInputError
from gusu.console.app_trace_actors import (
    compute_codes_download,
    parse_address,
    parse_batch_list,
    parse_count,
    parse_identifier,
    parse_split_parts,
    parse_start,
)


def test_the_download_is_the_cli_csv_or_a_zip_with_one_qr_per_code() -> None:
    body, content_type, name = compute_codes_download("yangcheng", "S1", 7, ["GT1.a", "GT1.b"], "")
    assert content_type.startswith("text/csv") and name == "yangcheng-S1-codes.csv"
    assert list(csv.reader(io.StringIO(body.decode()))) == [["index", "payload", "url"], ["7", "GT1.a", ""],
                                                            ["8", "GT1.b", ""]]  # fmt: skip
    body, content_type, name = compute_codes_download("yangcheng", "S1", 7, ["GT1.a", "GT1.b"], "https://c/trace")
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert content_type == "application/zip" and name.endswith(".zip")
    assert sorted(archive.namelist()) == ["codes.csv", "qr/S1-7.svg", "qr/S1-8.svg"]
    assert "https://c/trace?c=GT1.b" in archive.read("codes.csv").decode()


@pytest.mark.parametrize("text", ["", "a.b", "x" * 65, "批次", "a b"])
def test_an_id_outside_the_contracts_alphabet_is_refused(text: str) -> None:
    with pytest.raises(AccessInputError):
        parse_identifier(text, "batch")


def test_counts_and_addresses_are_checked() -> None:
    assert parse_count(" 12 ", 1, 12) == 12
    for text in ("0", "13", "-1", "1e3", "１", "9" * 14):
        with pytest.raises(AccessInputError):
            parse_count(text, 1, 12)
    assert parse_address("0x" + "ab" * 20) == bytes([0xAB] * 20)
    for text in ("0x" + "ab" * 19, "ab" * 21, "0x" + "zz" * 20):
        with pytest.raises(AccessInputError):
            parse_address(text)


def test_split_parts_merge_lists_and_list_positions_are_checked() -> None:
    assert parse_split_parts(" B1-a=2,\nB1-b = 4 ,") == [("B1-a", 2), ("B1-b", 4)]
    for text, key in (
        ("B1-a=2", "tracex.error.parts_count"),  # one child
        (",".join(f"C{n}=1" for n in range(33)), "tracex.error.parts_count"),
        ("B1-a 2, B1-b=4", "tracex.error.parts"),
        ("B1-a=0, B1-b=4", "tracex.error.count"),
        ("B1-a=x, B1-b=4", "tracex.error.count"),
        ("B/1=2, B1-b=4", "tracex.error.id"),
        ("", "tracex.error.parts_count"),
    ):
        with pytest.raises(AccessInputError) as raised:
            parse_split_parts(text)
        assert raised.value.key == key, text
    assert parse_batch_list("B1, B2 B3") == ["B1", "B2", "B3"]
    with pytest.raises(AccessInputError):
        parse_batch_list(" ".join(f"B{n}" for n in range(33)))
    with pytest.raises(AccessInputError):
        parse_batch_list("B1, 批次")
    assert parse_start("") == 0 and parse_start(" 40 ") == 40
    for text in ("-1", "x", "1e3", "9" * 11):
        with pytest.raises(AccessInputError):
            parse_start(text)
