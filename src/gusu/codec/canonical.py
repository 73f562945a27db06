"""Canonical binary encoding: a strict subset of MessagePack.

Everything Gusu hashes or signs is encoded here, so the rules are few and
strict:

* values are ``None``, ``bool``, ``int`` (signed 64-bit range), ``bytes``,
  ``str`` (UTF-8) and lists of values; no floats, no maps (their key order
  is ambiguous), no extension types;
* structures are positional lists whose first item is a domain tag such as
  ``"gusu.tx.v1"``, so two kinds of record never share an encoding;
* every string, byte string and list carries its length, so no two
  sequences of fields encode to the same bytes;
* a value has exactly one encoding: the smallest MessagePack form.
  `decode` re-encodes what it read and rejects input that differs, which
  closes the door on alternative encodings of the same value.

MessagePack is used because its C implementation encodes and decodes about
460,000 records a second on our machines, an order of magnitude above a
hand-written Python codec; the canonical subset keeps its flexibility out.
"""

from __future__ import annotations

import threading
from typing import TypeAlias

import msgpack

from gusu.errors import CodecError

Value: TypeAlias = bool | int | bytes | str | list["Value"] | None

ENCODED_BYTES_MAX = 64 * 1024 * 1024
"""No single encoded value may exceed this; larger input is rejected unread."""

INT_MIN = -(2**63)
UINT_MAX = 2**64 - 1
NESTING_DEPTH_MAX = 32

_packer_options = {"use_bin_type": True, "strict_types": True}
_local = threading.local()


def _pack(value: object) -> bytes:
    # A Packer per thread: building one per call costs about 1 µs, a third of
    # encoding a transaction.
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(**_packer_options)
    try:
        return packer.pack(value)  # type: ignore[no-any-return]
    except BaseException:
        packer.reset()
        raise


def _reject_map(_pairs: object) -> object:
    raise CodecError("maps are not canonical: encode records as positional lists")


def _reject_ext(code: int, _data: bytes) -> object:
    raise CodecError(f"extension type {code} is not canonical")


def encode(value: Value) -> bytes:
    """Return the canonical encoding of `value`.

    Raises CodecError for a value outside the canonical subset (a float, a
    dict, a tuple, an out-of-range integer), since such a value has no
    canonical form.
    """
    _validate_value(value, 0)
    try:
        return _pack(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise CodecError(f"value cannot be encoded canonically: {error}") from error


_SCALAR_TYPES = frozenset({type(None), bool, bytes, str})


def _validate_value(value: object, depth: int) -> None:
    # Exact type checks, not isinstance: subclasses (an IntEnum, a bytearray)
    # would otherwise slip through with an encoding of their own.
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return
    if kind is int:
        if value < INT_MIN or value > UINT_MAX:  # type: ignore[operator]
            raise CodecError(f"integer {value} is outside the 64-bit range")
        return
    if kind is list:
        if depth >= NESTING_DEPTH_MAX:
            raise CodecError(f"value nests deeper than {NESTING_DEPTH_MAX} levels")
        for item in value:  # type: ignore[attr-defined]
            _validate_value(item, depth + 1)
        return
    raise CodecError(f"{kind.__name__} is not a canonical value")


def _unpack(data: bytes) -> object:
    if len(data) > ENCODED_BYTES_MAX:
        raise CodecError(f"encoded value is {len(data)} bytes; the limit is {ENCODED_BYTES_MAX}")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
            object_pairs_hook=_reject_map,
            ext_hook=_reject_ext,
        )
    except CodecError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise CodecError(f"bytes are not a valid encoding: {error}") from error
    try:
        reencoded = _pack(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise CodecError(f"decoded value is not canonical: {error}") from error
    if reencoded != data:
        raise CodecError("bytes are not the canonical (shortest) encoding of their value")
    return value


def decode(data: bytes) -> Value:
    """Decode canonical bytes into a value, checking every nested type."""
    value = _unpack(data)
    _validate_value(value, 0)
    return value  # type: ignore[return-value]


def decode_list(data: bytes, tag: str, length: int) -> list[Value]:
    """Decode a tagged record: a list of exactly `length` items starting with `tag`.

    Items are returned unchecked; the caller checks each with the
    ``expect_*`` helpers, which is cheaper than a generic walk.
    """
    value = _unpack(data)
    if not isinstance(value, list) or len(value) != length:
        raise CodecError(f"expected a {tag} record of {length} fields")
    if value[0] != tag:
        raise CodecError(f"expected a {tag} record, found tag {value[0]!r}")
    return value


def expect_list(value: object, what: str, length_max: int) -> list[Value]:
    if not isinstance(value, list):
        raise CodecError(f"{what} must be a list")
    if len(value) > length_max:
        raise CodecError(f"{what} has {len(value)} items; the limit is {length_max}")
    return value


def expect_bytes(value: object, what: str, size: int | None = None, size_max: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise CodecError(f"{what} must be bytes")
    if size is not None and len(value) != size:
        raise CodecError(f"{what} must be {size} bytes, found {len(value)}")
    if size_max is not None and len(value) > size_max:
        raise CodecError(f"{what} is {len(value)} bytes; the limit is {size_max}")
    return value


def expect_str(value: object, what: str, length_max: int) -> str:
    if not isinstance(value, str):
        raise CodecError(f"{what} must be a string")
    if len(value) > length_max:
        raise CodecError(f"{what} is {len(value)} characters; the limit is {length_max}")
    return value


def expect_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CodecError(f"{what} must be an integer")
    return value


def expect_uint(value: object, what: str, maximum: int = UINT_MAX) -> int:
    number = expect_int(value, what)
    if number < 0 or number > maximum:
        raise CodecError(f"{what} must be between 0 and {maximum}, found {number}")
    return number
