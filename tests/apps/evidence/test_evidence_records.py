"""The client-side helpers of the evidence service: hashing, salting, metadata, record numbers and keys."""

from __future__ import annotations

import hashlib

import pytest

from gusu.apps.evidence.records import (
    METADATA_BYTES_MAX,
    SALT_BYTES,
    SALT_BYTES_MAX,
    compute_content_hashes,
    compute_metadata_hash,
    compute_record_key,
    format_record_number,
    generate_salt,
    get_record_number,
    parse_record,
    parse_record_number,
)
from gusu.codec import Value, encode
from gusu.crypto import get_suite
from gusu.errors import ClientError


def test_content_hashes_are_sm3_and_sha256_of_salt_then_content() -> None:
    hashes = compute_content_hashes(b"abc")
    # GB/T 32905-2016's example: SM3("abc").
    assert hashes.sm3.hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert hashes.sha256 == hashlib.sha256(b"abc").digest() and hashes.salt == b""
    salt = b"\x01" * SALT_BYTES
    salted = compute_content_hashes(b"abc", salt)
    assert salted.sm3 == get_suite("sm").hash(salt + b"abc") and salted.sha256 == hashlib.sha256(salt + b"abc").digest()


def test_salts_are_random_and_bounded() -> None:
    assert len(generate_salt()) == SALT_BYTES and generate_salt() != generate_salt()
    with pytest.raises(ClientError, match="at most 64 bytes"):
        compute_content_hashes(b"x", b"s" * (SALT_BYTES_MAX + 1))


def test_metadata_hash_ignores_key_order_and_is_bounded() -> None:
    assert compute_metadata_hash({"a": "1", "b": "2"}) == compute_metadata_hash({"b": "2", "a": "1"})
    assert compute_metadata_hash({"a": "1"}) != compute_metadata_hash({"a": "2"})
    with pytest.raises(ClientError, match="metadata"):
        compute_metadata_hash({"big": "x" * METADATA_BYTES_MAX})


def test_record_numbers_and_keys() -> None:
    assert format_record_number(12) == "EV-00000012"
    assert parse_record_number("EV-00000012") == parse_record_number(" ev-12 ") == parse_record_number("12") == 12
    for text in ("EV-0", "0", "-3", "EV-x", "", "1" * 19):
        with pytest.raises(ClientError, match="not a record number"):
            parse_record_number(text)
    assert compute_record_key(7) == b"m/records/" + encode(7)
    assert get_record_number(compute_record_key(300)) == 300
    with pytest.raises(ClientError):
        compute_record_key(0)
    with pytest.raises(ClientError):
        get_record_number(b"m/other/" + encode(1))


def test_parse_record_refuses_other_shapes() -> None:
    with pytest.raises(ClientError, match="13 fields"):
        parse_record(1, [b"x"])
    hashes: list[Value] = [b"\x01" * 32, b"\x02" * 32, b"\x03" * 32]
    good: list[Value] = [*hashes, b"\x04" * 20, "org", 5, 6, b"\x05" * 32, "d", 0, 0, [], 0]
    assert parse_record(1, good).organization == "org"
    attestation: list[Value] = ["org", "court", b"x", 1, 2]
    replacements: list[tuple[int, Value]] = [(0, b"short"), (3, b"\x04" * 19), (5, -1), (11, [attestation])]
    for index, bad in replacements:
        broken: list[Value] = list(good)
        broken[index] = bad
        with pytest.raises(ClientError):
            parse_record(1, broken)
