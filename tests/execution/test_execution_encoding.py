"""The execution layer's codec fast paths agree exactly with gusu.codec; state keys; limits."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.codec import Value, decode, encode
from gusu.errors import CodecError, ConfigError
from gusu.execution import ExecutionLimits, GasSchedule, compute_execution_limits, compute_state_key
from gusu.execution.encoding import decode_int, decode_value, encode_int, encode_value
from gusu.execution.state import compute_state_key_prefix, encode_key_suffix
from gusu.ledger.types import EVENTS_PER_RECEIPT_MAX

canonical_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(max_size=300)
    | st.text(max_size=50)
)
# Also things with no canonical form: floats, tuples, dicts, out-of-range ints, deep nesting.
any_scalars: st.SearchStrategy[object] = (
    canonical_scalars | st.floats(allow_nan=False) | st.integers() | st.just(()) | st.just({})
)
any_values = st.recursive(any_scalars, lambda children: st.lists(children, max_size=4), max_leaves=20)


def nest(depth: int) -> Value:
    value: Value = 1
    for _ in range(depth):
        value = [value]
    return value


def outcome(function: object, argument: object) -> object:
    try:
        return ("ok", function(argument))  # type: ignore[operator]
    except CodecError:
        return ("error",)


# deadline=None throughout: a busy shared CI machine must not turn slowness into failures.
@settings(deadline=None)
@given(any_values)
def test_encode_value_agrees_with_the_codec(value: object) -> None:
    assert outcome(encode_value, value) == outcome(encode, value)


@pytest.mark.parametrize("depth", [31, 32, 33, 34])
def test_nesting_limit_agrees_with_the_codec(depth: int) -> None:
    assert outcome(encode_value, nest(depth)) == outcome(encode, nest(depth))
    data = msgpack.packb(nest(depth))
    assert outcome(decode_value, data) == outcome(decode, data)


@settings(deadline=None)
@given(st.binary(max_size=40))
def test_decode_value_agrees_with_the_codec_on_random_bytes(data: bytes) -> None:
    assert outcome(decode_value, data) == outcome(decode, data)


@settings(deadline=None)
@given(any_values)
def test_decode_value_agrees_with_the_codec_on_msgpack_of_anything(value: object) -> None:
    try:
        data = msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return
    assert outcome(decode_value, data) == outcome(decode, data)


@settings(deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_int_fast_paths(number: int) -> None:
    assert encode_int(number) == encode(number)
    assert decode_int(encode(number)) == number


def test_int_fast_paths_reject_what_they_must() -> None:
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(CodecError):
            encode_int(bad)
    with pytest.raises(CodecError):
        encode_int(True)
    assert decode_int(b"\xcd\x00\x01") is None  # non-shortest form
    assert decode_int(encode("1")) is None
    assert decode_int(encode(True)) is None
    assert decode_int(b"") is None
    assert decode_int(b"\x01\x02") is None


@settings(deadline=None)
@given(st.text(min_size=1, max_size=64), st.binary(max_size=70_000))
def test_state_keys_built_from_the_prefix_equal_the_canonical_encoding(contract: str, key: bytes) -> None:
    assert compute_state_key_prefix(contract) + encode_key_suffix(key) == compute_state_key(contract, key)


def test_state_keys_of_different_contracts_never_collide() -> None:
    assert compute_state_key("ab", b"c") != compute_state_key("a", b"bc")
    assert compute_state_key("account", b"x") == encode(["gusu.state.v1", "account", b"x"])


def test_limits_are_validated() -> None:
    ExecutionLimits()
    with pytest.raises(ConfigError, match="gas_per_transaction_max must be between 1"):
        ExecutionLimits(gas_per_transaction_max=0)
    with pytest.raises(ConfigError, match="must be an integer"):
        ExecutionLimits(state_key_bytes_max=True)
    with pytest.raises(ConfigError, match="the most a receipt can hold"):
        ExecutionLimits(events_per_transaction_max=EVENTS_PER_RECEIPT_MAX + 1)
    with pytest.raises(ConfigError, match="recursion limit"):
        ExecutionLimits(call_depth_max=1_000)
    with pytest.raises(ConfigError, match="non-negative"):
        GasSchedule(line=-1)


def test_genesis_parameters_override_limits() -> None:
    limits = compute_execution_limits([("block_interval_ms", 5), ("gas_per_transaction_max", 123_456)])
    assert limits.gas_per_transaction_max == 123_456
    assert limits.state_key_bytes_max == ExecutionLimits().state_key_bytes_max
    with pytest.raises(ConfigError):
        compute_execution_limits([("state_value_bytes_max", 0)])
