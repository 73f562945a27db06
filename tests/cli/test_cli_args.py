"""How command-line text becomes contract arguments, hashes, block references and chain positions."""

from __future__ import annotations

import pytest

from gusu.cli.args import (
    parse_address_hex,
    parse_argument,
    parse_arguments,
    parse_block_reference,
    parse_hash,
    parse_position,
)
from gusu.cli.context import CliUsageError

ADDRESS = "0x" + "ab" * 20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("0", 0),
        ('"quoted text"', "quoted text"),
        ('"42"', "42"),
        ("alice", "alice"),
        ("hello world", "hello world"),
        ("", ""),
        ("007", "007"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2, [3]]", [1, 2, [3]]),
        ('["a", {"hex": "0x0102"}]', ["a", b"\x01\x02"]),
        ('{"hex": "0xff"}', b"\xff"),
        ("0x", b""),
        ("0x0102ab", b"\x01\x02\xab"),
        ("0XABCD", b"\xab\xcd"),
        (ADDRESS, bytes.fromhex("ab" * 20)),
        ("{not json", "{not json"),
    ],
)
def test_parse_argument(text: str, expected: object) -> None:
    assert parse_argument(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0x123",  # odd number of digits: probably a mistyped address
        "0xzz",
        "1.5",  # floats have no canonical form
        '{"a": 1}',  # the only object is {"hex": ...}
        '{"hex": "1234"}',  # hex needs its 0x
        str(2**64),  # beyond 64 bits
    ],
)
def test_parse_argument_rejects(text: str) -> None:
    with pytest.raises(CliUsageError):
        parse_argument(text)


def test_parse_arguments_keeps_order() -> None:
    assert parse_arguments([ADDRESS, "10"]) == [bytes.fromhex("ab" * 20), 10]


def test_parse_address_hex() -> None:
    assert parse_address_hex(ADDRESS) == bytes.fromhex("ab" * 20)
    assert parse_address_hex("0x" + "ab" * 19) is None
    assert parse_address_hex("alice") is None


def test_parse_hash() -> None:
    digest = "cd" * 32
    assert parse_hash("0x" + digest, "id") == bytes.fromhex(digest)
    assert parse_hash(digest, "id") == bytes.fromhex(digest)
    for bad in ("0x" + "cd" * 31, "0x" + "zz" * 32, "latest"):
        with pytest.raises(CliUsageError):
            parse_hash(bad, "id")


def test_parse_block_reference() -> None:
    assert parse_block_reference("latest") is None
    assert parse_block_reference("LATEST") is None
    assert parse_block_reference("0") == 0
    assert parse_block_reference("12345") == 12345
    assert parse_block_reference("0x" + "01" * 32) == b"\x01" * 32
    with pytest.raises(CliUsageError):
        parse_block_reference("-1")


def test_parse_position() -> None:
    assert parse_position("120:3") == (120, 3)
    assert parse_position("0:0") == (0, 0)
    for bad in ("120", "120:", ":3", "-1:0", "1:-1", "a:b", "1:2:3", " 1:2"):
        with pytest.raises(CliUsageError, match="HEIGHT:INDEX"):
            parse_position(bad)
