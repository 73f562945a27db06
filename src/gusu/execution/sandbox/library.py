"""The restricted builtins and the `gusu_contract` library, bound to one call's `Runtime`.

Each builtin a contract may use is a wrapper that checks its arguments'
types and charges its work (by length, never by time) before calling the
real builtin. Iterator-returning builtins (`enumerate`, `zip`, `reversed`)
return lists instead, so the memory they take is counted up front.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from gusu.codec import Value
from gusu.crypto import get_suite
from gusu.errors import CodecError, CryptoError, GusuError, OutOfGasError
from gusu.execution.context import ContractHost
from gusu.execution.encoding import decode_value, encode_value
from gusu.execution.errors import Abort, ContractError
from gusu.execution.sandbox.runtime import (
    BYTES_PER_STEP,
    CONTAINER_BYTES,
    DICT_ENTRY_BYTES,
    ITEM_BYTES,
    SCALAR_TYPES,
    Array,
    Counter,
    EventType,
    Map,
    Runtime,
    describe_type,
    raise_revert,
)
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE

_SIZED = (list, tuple, str, bytes, range, dict)


def _sized(runtime: Runtime, value: Any, function: str) -> int:
    if type(value) not in _SIZED:
        runtime.stop(
            ContractError(f"{function}() takes a list, tuple, dict, range, str or bytes, found {describe_type(value)}")
        )
    try:
        return len(value)
    except OverflowError:
        runtime.stop(ContractError(f"{function}() was given a range too long to count"))


def _items(runtime: Runtime, value: Any, function: str) -> list[Any]:
    """`value`'s items as a list, charged per item (deeply, for the comparisons that usually follow)."""
    size = _sized(runtime, value, function)
    runtime.step(1 + size, ITEM_BYTES * size + CONTAINER_BYTES)
    items = list(value)
    if type(value) is not range:
        for item in items:
            if type(item) not in SCALAR_TYPES:
                runtime.weigh(item)
            elif type(item) is str or type(item) is bytes:
                runtime.step(len(item) // BYTES_PER_STEP)
    return items


class Builtins:
    """The builtins of one call."""

    __slots__ = ("runtime",)

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def call_abs(self, value: Any) -> int:
        self._int(value, "abs")
        return abs(value)  # type: ignore[no-any-return]

    def _int(self, value: object, function: str) -> None:
        if type(value) not in (int, bool):
            self.runtime.stop(ContractError(f"{function}() takes an integer, found {describe_type(value)}"))

    def call_len(self, value: Any) -> int:
        return _sized(self.runtime, value, "len")

    def call_range(self, *arguments: Any) -> range:
        if not 1 <= len(arguments) <= 3:
            self.runtime.stop(ContractError("range() takes 1 to 3 integers"))
        for argument in arguments:
            self._int(argument, "range")
        return range(*arguments)

    def call_bool(self, value: Any = False) -> bool:
        if type(value) not in SCALAR_TYPES and type(value) not in _SIZED:
            self.runtime.stop(ContractError(f"bool() of a {describe_type(value)} is not allowed"))
        return bool(value)

    def call_int(self, value: Any = 0, base: Any = None) -> int:
        kind = type(value)
        if kind in (int, bool) and base is None:
            return int(value)
        if kind in (str, bytes):
            digits_max = self.runtime.limits.integer_bits_max // 3 + 2
            if len(value) > digits_max:
                self.runtime.stop(ContractError(f"int() reads at most {digits_max} characters"))
            self.runtime.step(1 + len(value) // 8)
            try:
                return self.runtime.check_int(int(value) if base is None else int(value, base))
            except (ValueError, TypeError):
                self.runtime.stop(ContractError(f"int() cannot read {value!r}"))
        self.runtime.stop(ContractError(f"int() takes an integer or a string, found {describe_type(value)}"))

    def call_str(self, value: Any = "") -> str:
        if type(value) not in SCALAR_TYPES:
            self.runtime.stop(ContractError(f"str() takes int, str, bytes, bool or None, found {describe_type(value)}"))
        return self.runtime.format_value(value)

    def call_bytes(self, value: Any = b"") -> bytes:
        kind = type(value)
        if kind is bytes:
            return value  # type: ignore[no-any-return]
        if kind is int:
            if value < 0:
                self.runtime.stop(ContractError("bytes() of a negative size"))
            self.runtime.allocate(value)
            self.runtime.step(1 + value // BYTES_PER_STEP)
            return bytes(value)
        if kind is list:
            items = _items(self.runtime, value, "bytes")
            try:
                return bytes(items)
            except (ValueError, TypeError):
                self.runtime.stop(ContractError("bytes() takes a list of integers 0 to 255"))
        self.runtime.stop(
            ContractError(f"bytes() takes bytes, a size or a list of integers, found {describe_type(value)}")
        )

    def call_chr(self, value: Any) -> str:
        self._int(value, "chr")
        if not 0 <= value <= 0x10FFFF:
            self.runtime.stop(ContractError("chr() takes a code point from 0 to 0x10FFFF"))
        return chr(value)

    def call_ord(self, value: Any) -> int:
        if type(value) not in (str, bytes) or len(value) != 1:
            self.runtime.stop(ContractError("ord() takes one character"))
        return ord(value)

    def call_divmod(self, a: Any, b: Any) -> tuple[int, int]:
        return (self.runtime.floordiv(a, b), self.runtime.mod(a, b))

    def call_isinstance(self, value: Any, kinds: Any) -> bool:
        options = kinds if type(kinds) is tuple else (kinds,)
        types = []
        for option in options:
            kind = _TYPE_WRAPPERS.get(getattr(option, "__func__", None))
            if kind is None or getattr(option, "__self__", None) is not self:
                self.runtime.stop(ContractError("isinstance() takes int, bool, str, bytes, list, dict or tuple"))
            types.append(kind)
        # Exact types: a bool is not an int here, so the answer never depends on subclassing rules.
        return type(value) in types

    def call_list(self, value: Any = ()) -> list[Any]:
        return _items(self.runtime, value, "list")

    def call_tuple(self, value: Any = ()) -> tuple[Any, ...]:
        return tuple(_items(self.runtime, value, "tuple"))

    def call_dict(self, value: Any = ()) -> dict[Any, Any]:
        if type(value) is dict:
            size = len(value)
            self.runtime.step(1 + size, DICT_ENTRY_BYTES * size + CONTAINER_BYTES)
            return dict(value)
        pairs = _items(self.runtime, value, "dict")
        result: dict[Any, Any] = {}
        self.runtime.allocate(DICT_ENTRY_BYTES * len(pairs))
        for pair in pairs:
            if type(pair) not in (list, tuple) or len(pair) != 2:
                self.runtime.stop(ContractError("dict() takes a list of [key, value] pairs"))
            result[self.runtime.check_key(pair[0])] = pair[1]
        return result

    def call_enumerate(self, value: Any, start: Any = 0) -> list[tuple[int, Any]]:
        self._int(start, "enumerate")
        items = _items(self.runtime, value, "enumerate")
        self.runtime.allocate((CONTAINER_BYTES + 2 * ITEM_BYTES) * len(items))
        return list(enumerate(items, start))

    def call_zip(self, *values: Any) -> list[tuple[Any, ...]]:
        lists = [_items(self.runtime, value, "zip") for value in values]
        length = min((len(items) for items in lists), default=0)
        self.runtime.allocate((CONTAINER_BYTES + ITEM_BYTES * len(lists)) * length)
        return list(zip(*lists, strict=False))

    def call_reversed(self, value: Any) -> list[Any]:
        return _items(self.runtime, value, "reversed")[::-1]

    def call_sorted(self, value: Any, reverse: Any = False) -> list[Any]:
        items = _items(self.runtime, value, "sorted")
        self.runtime.step(len(items) * max(1, len(items).bit_length()))
        try:
            return sorted(items, reverse=bool(reverse))
        except TypeError:
            self.runtime.stop(ContractError("sorted() needs items of one comparable type"))

    def call_min(self, *values: Any) -> Any:
        items = _items(self.runtime, values[0], "min") if len(values) == 1 else _items(self.runtime, values, "min")
        if not items:
            self.runtime.stop(ContractError("min() of an empty sequence"))
        try:
            return min(items)
        except TypeError:
            self.runtime.stop(ContractError("min() needs items of one comparable type"))

    def call_max(self, *values: Any) -> Any:
        items = _items(self.runtime, values[0], "max") if len(values) == 1 else _items(self.runtime, values, "max")
        if not items:
            self.runtime.stop(ContractError("max() of an empty sequence"))
        try:
            return max(items)
        except TypeError:
            self.runtime.stop(ContractError("max() needs items of one comparable type"))

    def call_sum(self, value: Any, start: Any = 0) -> int:
        size = _sized(self.runtime, value, "sum")
        self.runtime.step(1 + size)  # charged before the first item is touched: sum(range(10**12)) stops here
        self._int(start, "sum")
        total = start
        for item in value:
            total = (
                self.runtime.add(total, item)
                if type(item) is int
                else self.runtime.stop(ContractError(f"sum() adds integers, found {describe_type(item)}"))
            )
        return total  # type: ignore[no-any-return]

    def call_any(self, value: Any) -> bool:
        return any(_items(self.runtime, value, "any"))

    def call_all(self, value: Any) -> bool:
        return all(_items(self.runtime, value, "all"))


class Library:
    """`gusu_contract` of one call."""

    __slots__ = ("runtime",)

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @staticmethod
    def method(function: Callable[..., Any]) -> Callable[..., Any]:
        return function

    view = method
    migration = method

    def event(self, name: str, *fields: str) -> EventType:
        return EventType(name, fields)

    def emit(self, event: Any, *values: Any) -> None:
        if type(event) is not EventType:
            self.runtime.stop(ContractError("emit() takes an event declared with event(...) and its field values"))
        if len(values) != len(event.fields):
            self.runtime.stop(
                ContractError(f"event {event.name} has {len(event.fields)} fields, emit() was given {len(values)}")
            )
        for value in values:
            self.runtime.weigh(value)
        self.runtime.context.emit(event.name, list(values))

    def require(self, condition: Any, message: Any = "requirement failed") -> None:
        if not condition:
            raise_revert(self.runtime, message)

    def abort(self, message: Any = "aborted") -> None:
        raise_revert(self.runtime, message)

    def sender(self) -> bytes:
        return self.runtime.context.sender

    def contract_name(self) -> str:
        return self.runtime.context.contract

    def block_height(self) -> int:
        return self.runtime.context.block.height

    def block_timestamp_ms(self) -> int:
        return self.runtime.context.block.timestamp_ms

    def chain_id(self) -> str:
        return self.runtime.context.block.chain_id

    def transaction_id(self) -> bytes:
        return self.runtime.context.transaction_id

    def origin(self) -> bytes:
        """The account that signed the transaction (in an inner call, `sender()` is the calling contract)."""
        return self.runtime.context.origin

    def contract_address(self) -> bytes:
        """This contract's own address: what a contract it calls sees as `sender()`."""
        return self._get_host().get_address(self.runtime.context.contract)

    def call_contract(self, contract: Any, method: Any, *arguments: Any) -> Value:
        """Call `contract.method(*arguments)`; its failure fails this call too (and rolls back both)."""
        try:
            return self._invoke_host(contract, method, list(arguments), read_only=False)
        except CalleeFailed as failed:
            self.runtime.stop(failed.error)

    def read_contract(self, contract: Any, method: Any, *arguments: Any) -> Value:
        """Call view `contract.method(*arguments)`: it may read, never write."""
        try:
            return self._invoke_host(contract, method, list(arguments), read_only=True)
        except CalleeFailed as failed:
            self.runtime.stop(failed.error)

    def try_call_contract(self, contract: Any, method: Any, *arguments: Any) -> list[Value]:
        """Call `contract.method(*arguments)`; [True, result], or [False, error code] with the inner call
        rolled back and this call going on. Running out of gas is never caught."""
        try:
            return [True, self._invoke_host(contract, method, list(arguments), read_only=False)]
        except CalleeFailed as failed:
            return [False, failed.error.code]

    def _get_host(self) -> ContractHost:
        host = self.runtime.context.invoker
        if host is None:
            self.runtime.stop(ContractError("this contract cannot call other contracts here"))
        return host

    def _invoke_host(self, contract: Any, method: Any, arguments: list[Any], *, read_only: bool) -> Value:
        runtime = self.runtime
        host = self._get_host()
        if type(contract) is not str or type(method) is not str:
            runtime.stop(ContractError("call_contract() takes a contract name and a method name (strings)"))
        runtime.weigh(arguments)
        try:
            encoded = encode_value(arguments)
        except CodecError as error:
            runtime.stop(ContractError(f"the arguments to {contract}.{method} have no canonical encoding: {error}"))
        runtime.step(CONTRACT_CALL_STEPS, len(encoded) * 2)
        context = runtime.context
        # The callee is paid from the gas that is really left, and lives in the memory this call has left.
        runtime.bill_steps()
        context.memory_bytes_left = runtime.memory_left
        try:
            result = host.call(context, contract, method, encoded, read_only, runtime.depth)
        except Abort as abort:
            raise_callee_failure(runtime, abort.error)
        except GusuError as error:  # the callee's failure, or the consortium refusing the call (frozen, denied)
            raise_callee_failure(runtime, error)
        finally:
            context.memory_bytes_left = None
            runtime.fit_to_gas()
        runtime.step(1 + len(result) // BYTES_PER_STEP, len(result) * 8)
        return decode_value(result)

    def Map(self, name: Any) -> Map:  # noqa: N802 - the library's name for it
        return Map(self.runtime, name)

    def Array(self, name: Any) -> Array:  # noqa: N802
        return Array(self.runtime, name)

    def Counter(self, name: Any) -> Counter:  # noqa: N802
        return Counter(self.runtime, name)

    def _hash(self, suite: str, data: Any) -> bytes:
        if type(data) is not bytes:
            self.runtime.stop(ContractError(f"hashing takes bytes, found {describe_type(data)}"))
        self.runtime.step(10 + len(data) // BYTES_PER_STEP)
        try:
            return get_suite(suite).hash(data)
        except CryptoError as error:  # a node built without the ecdsa suite
            self.runtime.stop(ContractError(f"hash {suite} is not available: {error}"))

    def sm3(self, data: Any) -> bytes:
        return self._hash("sm", data)

    def keccak256(self, data: Any) -> bytes:
        return self._hash("ecdsa", data)

    def encode(self, value: Any) -> bytes:
        self.runtime.weigh(value)
        try:
            encoded = encode_value(value)
        except CodecError as error:
            self.runtime.stop(ContractError(f"encode(): {error}"))
        self.runtime.allocate(len(encoded))
        return encoded

    def decode(self, data: Any) -> Value:
        if type(data) is not bytes:
            self.runtime.stop(ContractError(f"decode() takes bytes, found {describe_type(data)}"))
        self.runtime.step(1 + len(data) // 8, len(data) * 8)
        try:
            return decode_value(data)
        except CodecError as error:
            self.runtime.stop(ContractError(f"decode(): {error}"))

    def _decimals(self, decimals: Any) -> int:
        if type(decimals) is not int or not 0 <= decimals <= 36:
            self.runtime.stop(ContractError("decimals must be an integer from 0 to 36"))
        return 10**decimals  # type: ignore[no-any-return]

    def fixed_mul(self, a: Any, b: Any, decimals: Any) -> int:
        """a × b for fixed-point integers with `decimals` places, rounded half to even."""
        scale = self._decimals(decimals)
        return self._round_div(self.runtime.mul(a, b), scale)

    def fixed_div(self, a: Any, b: Any, decimals: Any) -> int:
        """a ÷ b for fixed-point integers with `decimals` places, rounded half to even."""
        scale = self._decimals(decimals)
        if b == 0:
            self.runtime.stop(ContractError("fixed_div() by zero"))
        return self._round_div(self.runtime.mul(a, scale), b)

    def _round_div(self, numerator: Any, denominator: int) -> int:
        quotient, remainder = divmod(numerator, denominator)
        twice = 2 * remainder
        if denominator < 0:
            twice, denominator = -twice, -denominator
        if twice > denominator or (twice == denominator and quotient % 2 == 1):
            quotient += 1
        return quotient  # type: ignore[no-any-return]

    def fixed_text(self, amount: Any, decimals: Any) -> str:
        """The fixed-point integer as text with `decimals` places: fixed_text(12345, 2) == "123.45"."""
        scale = self._decimals(decimals)
        if type(amount) is not int:
            self.runtime.stop(ContractError(f"fixed_text() takes an integer, found {describe_type(amount)}"))
        sign = "-" if amount < 0 else ""
        whole, fraction = divmod(abs(amount), scale)
        text = f"{sign}{whole}" if decimals == 0 else f"{sign}{whole}.{fraction:0{decimals}d}"
        self.runtime.step(1 + len(text) // BYTES_PER_STEP, len(text))
        return text

    # Annotation names, importable so that a contract can annotate with them; called, they check a length.
    def Address(self, value: Any) -> bytes:  # noqa: N802
        if type(value) is not bytes or len(value) != ADDRESS_SIZE:
            self.runtime.stop(ContractError(f"an Address is {ADDRESS_SIZE} bytes"))
        return value

    def Hash(self, value: Any) -> bytes:  # noqa: N802
        if type(value) is not bytes or len(value) != HASH_SIZE:
            self.runtime.stop(ContractError(f"a Hash is {HASH_SIZE} bytes"))
        return value


_TYPE_WRAPPERS: dict[object, type] = {
    Builtins.call_int: int,
    Builtins.call_bool: bool,
    Builtins.call_str: str,
    Builtins.call_bytes: bytes,
    Builtins.call_list: list,
    Builtins.call_dict: dict,
    Builtins.call_tuple: tuple,
}
"""In a contract `int` is the wrapper `Builtins.int`; isinstance() maps it back to the type."""


CONTRACT_CALL_STEPS = 50
"""Steps one call into another contract costs the caller, beyond the callee's own gas."""


class CalleeFailed(Exception):
    """An inner call failed in a way the caller may handle (`try_call_contract`); never a contract's to see."""

    def __init__(self, error: GusuError) -> None:
        super().__init__(str(error))
        self.error = error


def raise_callee_failure(runtime: Runtime, error: GusuError) -> NoReturn:
    """An inner call failed: out of gas ends the caller too; anything else `try_call_contract` may catch,
    and `call_contract` turns into this call's own failure."""
    if isinstance(error, OutOfGasError) or runtime.context.meter.is_exhausted():
        runtime.stop(error)
    raise CalleeFailed(error)
