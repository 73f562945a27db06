"""The storage helpers' fast paths give exactly the bytes and values of the general canonical path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gusu.codec.canonical import INT_MIN, UINT_MAX
from gusu.execution.encoding import decode_value, encode_value
from gusu.execution.sandbox.limits import DEFAULT_SANDBOX_LIMITS
from gusu.execution.sandbox.runtime import BYTES_PER_STEP, Runtime, _encode_key, _read, _write


def _runtime() -> Runtime:
    return Runtime(None, DEFAULT_SANDBOX_LIMITS, 10**9, gas_bound=False)  # type: ignore[arg-type]


@given(st.one_of(st.binary(max_size=300), st.integers(min_value=INT_MIN, max_value=UINT_MAX), st.text(max_size=40)))
def test_a_storage_key_is_its_canonical_encoding(key: bytes | int | str) -> None:
    runtime = _runtime()
    assert _encode_key(runtime, key) == encode_value(key)


@given(st.binary(max_size=300))
def test_a_bytes_key_costs_by_its_length_on_either_path(key: bytes) -> None:
    runtime = _runtime()
    _encode_key(runtime, key)
    assert runtime.steps_budget - runtime.steps_left == 1 + len(key) // BYTES_PER_STEP


class _Store:
    """The two `Context` calls the storage helpers make."""

    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.values.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.values[key] = value


_VALUES = st.one_of(
    st.integers(min_value=INT_MIN, max_value=UINT_MAX),
    st.binary(max_size=20),
    st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=3),
)


@given(_VALUES)
def test_values_are_stored_and_read_as_the_canonical_path_does(value: object) -> None:
    runtime = _runtime()
    store = _Store()
    runtime.context = store  # type: ignore[assignment]
    _write(runtime, b"k", value)
    assert store.values[b"k"] == encode_value(value)  # type: ignore[arg-type]
    assert _read(runtime, b"k") == decode_value(store.values[b"k"]) == value
