"""Property tests: the canonical encoding round-trips, is unique, and rejects everything else."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gusu.codec import decode, decode_list, encode, expect_bytes, expect_str, expect_uint
from gusu.errors import CodecError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(max_size=300)
    | st.text(max_size=100)
)
values = st.recursive(scalars, lambda children: st.lists(children, max_size=6), max_leaves=30)


@given(values)
def test_round_trip(value: object) -> None:
    encoded = encode(value)  # type: ignore[arg-type]
    assert decode(encoded) == value
    assert encode(decode(encoded)) == encoded


@given(values, values)
def test_equal_encodings_mean_equal_values(first: object, second: object) -> None:
    if encode(first) == encode(second):  # type: ignore[arg-type]
        assert first == second


@given(st.lists(st.binary(max_size=20), max_size=5), st.lists(st.binary(max_size=20), max_size=5))
def test_concatenation_is_not_ambiguous(first: list[bytes], second: list[bytes]) -> None:
    # The classic pitfall: ["ab", "c"] and ["a", "bc"] must not encode alike.
    if first != second:
        assert encode(first) != encode(second)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_non_minimal_integer_encodings_are_rejected(number: int) -> None:
    wide = b"\xce" + number.to_bytes(4, "big")  # uint32 form
    if wide == msgpack.packb(number):
        return
    with pytest.raises(CodecError):
        decode(wide)


@given(st.binary(max_size=200))
def test_garbage_never_escapes_as_another_exception(data: bytes) -> None:
    try:
        value = decode(data)
    except CodecError:
        return
    assert encode(value) == data


@pytest.mark.parametrize(
    "value",
    [1.5, {"a": 1}, (1, 2), 2**64, -(2**63) - 1, {1, 2}, bytearray(b"x"), [1.0], [[{}]]],
)
def test_non_canonical_values_cannot_be_encoded(value: object) -> None:
    with pytest.raises(CodecError):
        encode(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb({"a": 1}),
        msgpack.packb(1.5),
        msgpack.packb(msgpack.ExtType(1, b"x")),
        msgpack.packb("x", use_bin_type=True) + b"\x00",
        b"\xc1",
        b"\xd9\x01\xff",  # str8 with invalid UTF-8
        b"\xc4\x05ab",  # truncated bin
        b"\x91" * 100 + b"\xc0",  # deeper than the nesting limit
    ],
)
def test_non_canonical_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)


def test_tagged_records() -> None:
    data = encode(["gusu.test.v1", 1, b"x"])
    assert decode_list(data, "gusu.test.v1", 3)[2] == b"x"
    with pytest.raises(CodecError, match=r"gusu\.other\.v1"):
        decode_list(data, "gusu.other.v1", 3)
    with pytest.raises(CodecError, match=r"4 fields"):
        decode_list(data, "gusu.test.v1", 4)


def test_expect_helpers_reject_wrong_types_and_sizes() -> None:
    with pytest.raises(CodecError):
        expect_uint(True, "flag")
    with pytest.raises(CodecError):
        expect_uint(-1, "amount")
    with pytest.raises(CodecError):
        expect_bytes(b"abc", "hash", size=32)
    with pytest.raises(CodecError):
        expect_str("x" * 10, "name", 5)
    assert expect_uint(5, "n") == 5
