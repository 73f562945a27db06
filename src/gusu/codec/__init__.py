"""Canonical binary encoding for everything Gusu hashes or signs."""

from gusu.codec.canonical import (
    ENCODED_BYTES_MAX,
    Value,
    decode,
    decode_list,
    encode,
    expect_bytes,
    expect_int,
    expect_list,
    expect_str,
    expect_uint,
)

__all__ = [
    "ENCODED_BYTES_MAX",
    "Value",
    "decode",
    "decode_list",
    "encode",
    "expect_bytes",
    "expect_int",
    "expect_list",
    "expect_str",
    "expect_uint",
]
