"""The canonical codec's hot path, for the execution layer.

`encode_value` and `decode_value` produce and accept exactly what
`gusu.codec.encode` and `gusu.codec.decode` do (tests compare them on
random values and random bytes); they differ only in speed. The shared
codec builds a new MessagePack packer on every call, and a transfer encodes
and decodes about six small values, so those microseconds decided whether
execution keeps up with the chain's throughput target. Here each thread
reuses one packer, and type checks compare exact types instead of walking
`isinstance` chains.
"""

from __future__ import annotations

import threading

import msgpack

from gusu.codec import ENCODED_BYTES_MAX, Value
from gusu.codec.canonical import INT_MIN, NESTING_DEPTH_MAX, UINT_MAX
from gusu.errors import CodecError

_SCALAR_TYPES = frozenset({type(None), bool, int, bytes, str})

_local = threading.local()


def _get_packer() -> msgpack.Packer:
    # One packer per thread: a packer keeps an internal buffer, and the
    # executor may serve read-only calls on other threads while a block runs.
    try:
        return _local.packer
    except AttributeError:
        packer = msgpack.Packer(use_bin_type=True, strict_types=True)
        _local.packer = packer
        return packer


def _check_types(value: object, depth: int) -> None:
    if depth > NESTING_DEPTH_MAX:
        raise CodecError(f"value nests deeper than {NESTING_DEPTH_MAX} levels")
    if type(value) is list:
        for item in value:
            if type(item) is list or depth >= NESTING_DEPTH_MAX:
                _check_types(item, depth + 1)
            elif type(item) not in _SCALAR_TYPES:
                raise CodecError(f"{type(item).__name__} is not a canonical value")
    elif type(value) not in _SCALAR_TYPES:
        raise CodecError(f"{type(value).__name__} is not a canonical value")


def encode_value(value: Value) -> bytes:
    """The canonical encoding of `value`; CodecError if it has none."""
    _check_types(value, 0)
    try:
        return _get_packer().pack(value)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as error:
        raise CodecError(f"value cannot be encoded canonically: {error}") from error


def encode_int(value: int) -> bytes:
    """The canonical encoding of an int; CodecError outside the 64-bit range."""
    if type(value) is not int:
        raise CodecError(f"{type(value).__name__} is not an integer")
    if value < INT_MIN or value > UINT_MAX:
        raise CodecError(f"integer {value} is outside the 64-bit range")
    return _get_packer().pack(value)  # type: ignore[no-any-return]


def decode_value(data: bytes) -> Value:
    """Decode canonical bytes; CodecError for anything else."""
    if len(data) > ENCODED_BYTES_MAX:
        raise CodecError(f"encoded value is {len(data)} bytes; the limit is {ENCODED_BYTES_MAX}")
    try:
        # Maps, extension types and floats decode here but fail the type
        # check below, which is cheaper than the unpacker's hooks.
        value = msgpack.unpackb(data)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise CodecError(f"bytes are not a valid encoding: {error}") from error
    _check_types(value, 0)
    if _get_packer().pack(value) != data:
        raise CodecError("bytes are not the canonical (shortest) encoding of their value")
    return value  # type: ignore[no-any-return]


def decode_int(data: bytes) -> int | None:
    """The int that `data` canonically encodes, or None if it encodes anything else or nothing.

    The fast path of reading a counter or a balance; callers fall back to
    `decode_value` to report what is wrong with a None.
    """
    try:
        value = msgpack.unpackb(data)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    if type(value) is not int or _get_packer().pack(value) != data:
        return None
    return value
