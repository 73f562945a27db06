"""Reading contract arguments, addresses and block references from the command line.

A shell gives every argument as text, while contracts take canonical
values. The rules, in order:

* ``0x`` followed by 40 hex digits is an address (20 bytes);
* any other ``0x`` hex is a byte string;
* text that parses as JSON is that JSON value, mapped as the node maps it
  (numbers, ``"quoted strings"``, ``true``/``false``/``null``, arrays and
  ``{"hex": "0x.."}`` for bytes); floats and other objects are refused;
* anything else is a plain string, so ``alice`` needs no quotes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from gusu.cli.context import CliUsageError
from gusu.codec import Value
from gusu.errors import CodecError
from gusu.ledger.jsonview import value_from_json
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE

_HEX = re.compile(r"0[xX]([0-9a-fA-F]*)")
_HEIGHT = re.compile(r"[0-9]+")
_POSITION = re.compile(r"([0-9]+):([0-9]+)")


def parse_argument(text: str) -> Value:
    """One contract argument as typed on the command line (see the module docstring)."""
    match = _HEX.fullmatch(text)
    if match is not None:
        digits = match.group(1)
        if len(digits) % 2:
            # A typo in an address must not silently become a string argument.
            raise CliUsageError(f"argument {text!r} looks like hex but has an odd number of digits")
        return bytes.fromhex(digits)
    if text.startswith(("0x", "0X")):
        raise CliUsageError(f"argument {text!r} starts with 0x but is not hex; quote it as JSON to pass a string")
    try:
        document = json.loads(text)
    except ValueError:
        return text
    try:
        return value_from_json(document)
    except CodecError as error:
        raise CliUsageError(f"argument {text!r}: {error}") from error


def parse_arguments(texts: Sequence[str]) -> list[Value]:
    return [parse_argument(text) for text in texts]


def parse_address_hex(text: str) -> bytes | None:
    """The 20 bytes of a ``0x`` address, or None when `text` is not one."""
    match = _HEX.fullmatch(text)
    if match is None or len(match.group(1)) != 2 * ADDRESS_SIZE:
        return None
    return bytes.fromhex(match.group(1))


def parse_hash(text: str, what: str) -> bytes:
    """A 32-byte hash given as ``0x`` hex (the prefix may be left out)."""
    digits = text[2:] if text.startswith(("0x", "0X")) else text
    if len(digits) != 2 * HASH_SIZE or re.fullmatch(r"[0-9a-fA-F]*", digits) is None:
        raise CliUsageError(f"{what} must be {HASH_SIZE} bytes of hex (0x followed by 64 hex digits), not {text!r}")
    return bytes.fromhex(digits)


def parse_position(text: str) -> tuple[int, int]:
    """A place in the chain written ``HEIGHT:INDEX`` (as `gusu account history` prints its cursor)."""
    match = _POSITION.fullmatch(text)
    if match is None:
        raise CliUsageError(f"a position is HEIGHT:INDEX, e.g. 120:3, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def parse_block_reference(text: str) -> int | bytes | None:
    """A height, a block hash, or None for ``latest``."""
    if text.lower() == "latest":
        return None
    if _HEIGHT.fullmatch(text):
        return int(text)
    return parse_hash(text, "a block hash")
