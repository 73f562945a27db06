"""Item codes: random, signed, parsed from the QR payload and verified offline; and the GB/T 38154 export."""

from __future__ import annotations

import csv
import io
import json

import pytest

from gusu.apps.trace import ForgedCodeError, TraceError, issue_item_codes, parse_payload, validate_code_authentic
from gusu.apps.trace.codes import compute_qr_svg, is_code_authentic
from gusu.crypto import get_suite


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_a_code_round_trips_through_its_payload_and_verifies_offline(suite_name: str) -> None:
    key = get_suite(suite_name).generate_private_key()
    (code,) = issue_item_codes(key, "brand-1", "S1", 1)
    parsed = parse_payload(code.get_payload())
    assert parsed == code
    assert parse_payload("https://console.example/trace?c=" + code.get_payload()) == code
    validate_code_authentic(parsed, suite_name, key.public_key)


def test_codes_are_random_not_derived_from_a_serial_number() -> None:
    key = get_suite("sm").generate_private_key()
    codes = issue_item_codes(key, "b", "S1", 200)
    assert len({code.code for code in codes}) == 200
    again = issue_item_codes(key, "b", "S1", 1)[0]
    assert again.code not in {code.code for code in codes}


def test_a_forged_signature_or_an_altered_code_is_detected() -> None:
    key = get_suite("sm").generate_private_key()
    forger = get_suite("sm").generate_private_key()
    (genuine,) = issue_item_codes(key, "b", "S1", 1)
    (forged,) = issue_item_codes(forger, "b", "S1", 1)
    with pytest.raises(ForgedCodeError, match="forged"):
        validate_code_authentic(forged, "sm", key.public_key)
    altered = parse_payload(genuine.get_payload().replace(genuine.code.hex(), bytes(16).hex()))
    assert not is_code_authentic(altered, "sm", key.public_key)
    moved = parse_payload(genuine.get_payload().replace(".S1.", ".S2."))
    assert not is_code_authentic(moved, "sm", key.public_key), "the signature binds the code set too"
    assert not is_code_authentic(genuine, "sm", b"\x04" + bytes(64)), "garbage keys never verify, never raise"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("hello", "not a Gusu item code"),
        ("GT1.b.S1.zz.00", "hexadecimal"),
        ("GT1.b.S1." + "00" * 15 + "." + "00" * 64, "16-byte code"),
        ("GT1.b c.S1." + "00" * 16 + "." + "00" * 64, "brand id"),
        ("GT1." + "b" * 400, "at most"),
    ],
)
def test_malformed_payloads_are_refused_with_a_reason(payload: str, match: str) -> None:
    with pytest.raises(TraceError, match=match):
        parse_payload(payload)


def test_the_qr_code_is_an_svg() -> None:
    key = get_suite("sm").generate_private_key()
    (code,) = issue_item_codes(key, "b", "S1", 1)
    svg = compute_qr_svg("https://console.example/trace?c=" + code.get_payload())
    assert svg.startswith("<svg") and "path" in svg


def test_the_export_carries_the_core_metadata_elements() -> None:
    from trace_helpers import bring_on_sale, make_world

    from gusu.apps.trace.client import parse_batch, parse_brand, parse_events, parse_product
    from gusu.apps.trace.export import ELEMENTS, compute_batch_export

    world = make_world()
    bring_on_sale(world)
    chain = world.chain
    batch = parse_batch("B1", chain.view("trace", "get_batch", "B1"))
    brand = parse_brand("yangcheng", chain.view("trace", "get_brand", "yangcheng"))
    product = parse_product("crab-500g", chain.view("trace", "get_product", "crab-500g"))
    assert batch is not None and brand is not None and product is not None
    events = parse_events("B1", chain.view("trace", "get_history", "B1", 0, 100))
    export = compute_batch_export(batch, [], brand, product, events)
    document = json.loads(export.to_json())
    assert document["standard"] == "GB/T 38154-2019" and len(document["records"]) == 7
    first = document["records"][0]
    assert first["subject_code"] == "91320500MA1XXXXXXX" and first["product_code"] == "06901234567892"
    assert first["activity"] == "production" and first["trace_code"] == "S2026A[0:10]"
    assert document["records"][1]["inspection"].startswith("level 2 report 0x0001")
    rows = list(csv.reader(io.StringIO(export.to_csv())))
    assert rows[0][0] == "trace_code/追溯码" and len(rows) == 8 and all(len(row) == len(ELEMENTS) for row in rows)


def test_times_outside_the_calendar_are_written_as_milliseconds() -> None:
    from gusu.apps.trace.export import TIME_MS_MAX, format_time

    assert format_time(1) == "1970-01-01T00:00:00.001Z"
    assert format_time(TIME_MS_MAX) == "9999-12-31T23:59:59.999Z"
    assert format_time(TIME_MS_MAX + 1) == f"{TIME_MS_MAX + 1} ms" and format_time(-1) == "-1 ms"
