"""What a sandboxed call runs against: the meter, the guarded operations and the `gusu_contract` library.

One `Runtime` exists per call. The instrumented code object reaches it only
through names that start with ``__gusu_``, which contract source can never
spell (the compiler refuses every name that starts with ``_``). Every guard
here charges *before* it does work whose cost grows with its operands, so
a single expression cannot run unmetered, and every count is computed from
the values themselves, never from the host (no RSS, no clock), so every node
stops a call at the same step.

The stop signal is `Abort`, a BaseException; contract code has no `try`
statement, so nothing in a contract can catch it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, NoReturn

from gusu.codec import Value
from gusu.codec.canonical import INT_MIN, UINT_MAX
from gusu.errors import CodecError, ContractRevertError, GusuError, OutOfGasError, SandboxLimitError
from gusu.execution.context import Context
from gusu.execution.encoding import decode_int, decode_value, encode_int, encode_value
from gusu.execution.errors import Abort, ContractError
from gusu.execution.sandbox.limits import SandboxLimits
from gusu.ledger.types import NAME_LENGTH_MAX

NoneType = type(None)
SCALAR_TYPES: frozenset[type] = frozenset({int, bool, str, bytes, NoneType})
SEQUENCE_TYPES: frozenset[type] = frozenset({list, tuple, str, bytes, range, dict})
BYTES_PER_STEP = 64
"""Byte-wise work (comparing, copying, hashing a string) costs one step per this many bytes."""
ITEM_BYTES = 8
"""Memory charged per container slot (a pointer)."""
CONTAINER_BYTES = 64
"""Memory charged per container created."""
DICT_ENTRY_BYTES = 48
VALUE_NESTING_MAX = 64
"""Lists, tuples and dicts nested deeper than this are refused before any deep operation (a consensus rule).

Python compares nested lists by recursing in C, and the recursion limit counts the frames already on the
host's stack, so past some depth the same comparison succeeds on one node and raises RecursionError on
another (catch-up and consensus reach execute_block from different depths). Twice the codec's nesting
limit, far below the interpreter's: every frame a transaction can stack up leaves room for it."""
DICT_VIEW_TYPES: frozenset[type] = frozenset({type({}.keys()), type({}.values()), type({}.items())})
"""What `dict.keys()`, `values()` and `items()` return: comparing or searching one walks every entry."""

_COMPARE = (
    operator.eq,
    operator.ne,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    lambda a, b: a in b,
    lambda a, b: a not in b,
    operator.is_,
    operator.is_not,
)
"""Indexed by the compiler's comparison codes (see `COMPARE_CODES` in instrument.py)."""


def describe_type(value: object) -> str:
    return "None" if value is None else type(value).__name__


class Runtime:
    """The meter and the guards of one sandboxed call."""

    __slots__ = (
        "context",
        "depth",
        "gas_bound",
        "limits",
        "memory_left",
        "steps_billed",
        "steps_budget",
        "steps_left",
        "writes",
    )

    def __init__(self, context: Context, limits: SandboxLimits, steps_budget: int, gas_bound: bool) -> None:
        self.context = context
        self.limits = limits
        self.steps_budget = steps_budget
        self.steps_left = steps_budget
        self.gas_bound = gas_bound
        """True if the gas left, not steps_max, set the step budget: running out is then out_of_gas."""
        self.memory_left = limits.memory_bytes_max
        self.writes = 0
        self.depth = 0
        self.steps_billed = 0
        """Steps already charged to the transaction's gas (before a call into another contract)."""

    # --- the meter ---------------------------------------------------------------------

    def get_steps_used(self) -> int:
        return self.steps_budget - max(self.steps_left, 0)

    def bill_steps(self) -> None:
        """Charge the steps used so far and not yet billed to the transaction's gas (OutOfGasError if it
        cannot pay): done before calling another contract, so that the callee's budget is what is left."""
        unbilled = self.get_steps_used() - self.steps_billed
        self.context.charge(unbilled * self.limits.gas_per_step)
        self.steps_billed += unbilled

    def fit_to_gas(self) -> None:
        """After a call into another contract: no more steps left than the gas that remains can pay for."""
        affordable = self.context.get_gas_remaining() // self.limits.gas_per_step
        if self.steps_left > affordable:
            surplus = self.steps_left - affordable
            self.steps_budget -= surplus  # steps used (budget - left) stay what they were
            self.steps_left = affordable
            self.gas_bound = True

    def stop(self, error: GusuError) -> NoReturn:
        raise Abort(error)

    def _stop_steps(self) -> NoReturn:
        if self.gas_bound:
            self.stop(OutOfGasError(f"the contract ran out of gas after {self.steps_budget} steps"))
        self.stop(SandboxLimitError(f"the call takes more than steps_max = {self.limits.steps_max} steps"))

    def _stop_memory(self) -> NoReturn:
        self.stop(
            SandboxLimitError(f"the call allocates more than memory_bytes_max = {self.limits.memory_bytes_max} bytes")
        )

    def step(self, steps: int, memory: int = 0) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            self._stop_steps()
        if memory:
            self.memory_left -= memory
            if self.memory_left < 0:
                self._stop_memory()

    def each(self, steps: int, memory: int) -> bool:
        """One element of a comprehension: always true, so it can sit in the comprehension's `if`."""
        self.steps_left -= steps
        if self.steps_left < 0:
            self._stop_steps()
        self.memory_left -= memory
        if self.memory_left < 0:
            self._stop_memory()
        return True

    def allocate(self, memory: int) -> None:
        self.memory_left -= memory
        if self.memory_left < 0:
            self._stop_memory()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.call_depth_max:
            self.stop(SandboxLimitError(f"calls nest deeper than call_depth_max = {self.limits.call_depth_max}"))
        self.steps_left -= 1
        if self.steps_left < 0:
            self._stop_steps()

    def leave(self) -> None:
        self.depth -= 1

    def count_write(self) -> None:
        self.writes += 1
        if self.writes > self.limits.storage_writes_max:
            self.stop(
                SandboxLimitError(
                    f"the call writes storage more than storage_writes_max = {self.limits.storage_writes_max} times"
                )
            )

    def weigh(self, value: object) -> int:
        """Walk `value` charging one step per item and per BYTES_PER_STEP bytes; returns the items counted.

        Shared sub-lists make a structure's deep size exponential in the steps
        that built it; walking it before a deep operation (==, sorting, hashing,
        encoding) bills that size, and the walk stops when the steps run out.
        """
        kind = type(value)
        if kind in SCALAR_TYPES:
            if kind is str or kind is bytes:
                self.step(1 + len(value) // BYTES_PER_STEP)  # type: ignore[arg-type]
            return 1
        counted = 0
        pending: list[tuple[Any, int]] = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            kind = type(item)
            counted += 1
            self.steps_left -= 1
            if kind is list or kind is tuple or kind is dict or kind in DICT_VIEW_TYPES:
                if depth >= VALUE_NESTING_MAX:
                    self.stop(SandboxLimitError(f"a value nests deeper than VALUE_NESTING_MAX = {VALUE_NESTING_MAX}"))
                depth += 1
                if kind is dict:
                    pending.extend([(key, depth) for key in item])
                    pending.extend([(child, depth) for child in item.values()])
                else:
                    pending.extend([(child, depth) for child in item])
            elif kind is str or kind is bytes:
                self.steps_left -= len(item) // BYTES_PER_STEP
            if self.steps_left < 0:
                self._stop_steps()
        return counted

    # --- integers ----------------------------------------------------------------------

    def check_int(self, value: int) -> int:
        if value.bit_length() > self.limits.integer_bits_max:
            self._refuse_bits(value.bit_length())
        return value

    def _refuse_bits(self, bits: int) -> NoReturn:
        self.stop(
            SandboxLimitError(f"an integer of {bits} bits exceeds integer_bits_max = {self.limits.integer_bits_max}")
        )

    def _int_work(self, a: int, b: int) -> None:
        # Schoolbook cost of a product or a division of the operands' 64-bit words.
        words = (a.bit_length() >> 6) * (b.bit_length() >> 6)
        if words:
            self.step(words >> 4)

    # --- binary operators --------------------------------------------------------------

    def _ints(self, a: object, b: object, symbol: str) -> None:
        if type(a) not in (int, bool) or type(b) not in (int, bool):
            self.stop(
                ContractError(f"operator {symbol} takes integers, found {describe_type(a)} and {describe_type(b)}")
            )

    def add(self, a: Any, b: Any) -> Any:
        kind = type(a)
        if kind is int and type(b) is int:
            result = a + b
            if result.bit_length() > self.limits.integer_bits_max:
                self._refuse_bits(result.bit_length())
            return result
        if kind in (str, bytes, list, tuple) and type(b) is kind:
            size = len(a) + len(b)
            self.step(1 + size // BYTES_PER_STEP, size * (1 if kind in (str, bytes) else ITEM_BYTES))
            return a + b
        if kind is bool or type(b) is bool:
            self._ints(a, b, "+")
            return a + b
        self.stop(ContractError(f"operator + cannot add {describe_type(a)} and {describe_type(b)}"))

    def sub(self, a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            result = a - b
            if result.bit_length() > self.limits.integer_bits_max:
                self._refuse_bits(result.bit_length())
            return result
        self._ints(a, b, "-")
        return a - b

    def mul(self, a: Any, b: Any) -> Any:
        kind_a, kind_b = type(a), type(b)
        if kind_a in (int, bool) and kind_b in (int, bool):
            bits = a.bit_length() + b.bit_length()
            if bits > self.limits.integer_bits_max + 1:
                self._refuse_bits(bits)
            self._int_work(a, b)
            return self.check_int(a * b)
        if kind_a in (int, bool):
            a, b, kind_a, kind_b = b, a, kind_b, kind_a
        if kind_a in (str, bytes, list, tuple) and kind_b in (int, bool):
            count = max(b, 0)
            if count and len(a) > self.memory_left // count:
                self._stop_memory()
            size = len(a) * count
            self.step(1 + size // BYTES_PER_STEP, size * (1 if kind_a in (str, bytes) else ITEM_BYTES))
            return a * b
        self.stop(ContractError(f"operator * cannot multiply {describe_type(a)} and {describe_type(b)}"))

    def floordiv(self, a: Any, b: Any) -> Any:
        self._ints(a, b, "//")
        self._int_work(a, b)
        return a // b

    def mod(self, a: Any, b: Any) -> Any:
        # Only integers: str % args is printf-style formatting, whose width fields allocate without bound.
        self._ints(a, b, "%")
        self._int_work(a, b)
        return a % b

    def pow(self, a: Any, b: Any) -> Any:
        self._ints(a, b, "**")
        if b < 0:
            self.stop(ContractError("operator ** takes a non-negative exponent (negative powers are fractions)"))
        if a in (0, 1, -1) or b == 0:
            return a**b
        bits = (abs(a).bit_length() - 1) * b + 1
        if b > self.limits.integer_bits_max or bits > self.limits.integer_bits_max:
            self._refuse_bits(max(bits, b))
        self.step(1 + (bits >> 6) * max(1, b.bit_length()) // 4)
        return self.check_int(a**b)

    def lshift(self, a: Any, b: Any) -> Any:
        self._ints(a, b, "<<")
        if b > self.limits.integer_bits_max:
            self._refuse_bits(b)
        return self.check_int(a << b)

    def rshift(self, a: Any, b: Any) -> Any:
        self._ints(a, b, ">>")
        return a >> b

    def bit_and(self, a: Any, b: Any) -> Any:
        self._ints(a, b, "&")
        return a & b

    def bit_or(self, a: Any, b: Any) -> Any:
        self._ints(a, b, "|")
        return a | b

    def bit_xor(self, a: Any, b: Any) -> Any:
        self._ints(a, b, "^")
        return a ^ b

    # --- comparisons -------------------------------------------------------------------

    def compare(self, a: Any, b: Any, code: int) -> bool:
        kind_a, kind_b = type(a), type(b)
        if (kind_a is int or kind_a is bool or a is None) and (kind_b is int or kind_b is bool or b is None):
            return bool(_COMPARE[code](a, b))
        if code < 8:  # identity (is / is not) costs nothing whatever the operands
            if kind_b is range and code >= 6 and kind_a is not int and kind_a is not bool:
                # Only an integer is found in a range by arithmetic; anything else makes Python scan every item.
                self.stop(ContractError(f"`in range(...)` takes an integer, found {describe_type(a)}"))
            if kind_b is dict and code >= 6:
                self.check_key(a)
                self.weigh(a)
            else:
                self.weigh(a)
                self.weigh(b)
        return bool(_COMPARE[code](a, b))

    # --- items and slices --------------------------------------------------------------

    def check_key(self, key: object) -> object:
        """Refuse dict keys whose hash is not a flat, cheap computation."""
        kind = type(key)
        if kind in SCALAR_TYPES:
            return key
        if kind is tuple and all(type(item) in SCALAR_TYPES for item in key):  # type: ignore[attr-defined]
            self.step(1 + len(key))  # type: ignore[arg-type]
            return key
        self.stop(
            ContractError(
                f"a dict key must be int, str, bytes, bool, None or a flat tuple of them, found {describe_type(key)}"
            )
        )

    def getitem(self, container: Any, key: Any) -> Any:
        kind = type(container)
        if kind is dict:
            if type(key) not in SCALAR_TYPES:
                self.check_key(key)
            return container[key]
        if kind in (list, tuple, str, bytes) and type(key) in (int, bool):
            return container[key]
        self.stop(ContractError(f"cannot index a {describe_type(container)} with a {describe_type(key)}"))

    def setitem(self, container: Any, key: Any, value: Any) -> None:
        kind = type(container)
        if kind is dict:
            if type(key) not in SCALAR_TYPES:
                self.check_key(key)
            if key not in container:
                self.allocate(DICT_ENTRY_BYTES)
            container[key] = value
        elif kind is list and type(key) in (int, bool):
            container[key] = value
        else:
            self.stop(ContractError(f"cannot assign an item of a {describe_type(container)}"))

    def delitem(self, container: Any, key: Any) -> None:
        kind = type(container)
        if kind is dict:
            self.check_key(key)
            del container[key]
        elif kind is list and type(key) in (int, bool):
            self.step(1 + len(container) // BYTES_PER_STEP)
            del container[key]
        else:
            self.stop(ContractError(f"cannot delete an item of a {describe_type(container)}"))

    def slice(self, container: Any, lower: Any, upper: Any, stride: Any) -> Any:
        kind = type(container)
        if kind not in (list, tuple, str, bytes):
            self.stop(ContractError(f"cannot slice a {describe_type(container)}"))
        for bound in (lower, upper, stride):
            if bound is not None and type(bound) not in (int, bool):
                self.stop(ContractError(f"slice bounds must be integers or None, found {describe_type(bound)}"))
        size = len(container)
        self.step(1 + size // BYTES_PER_STEP, size * (1 if kind in (str, bytes) else ITEM_BYTES))
        return container[lower:upper:stride]

    # --- f-strings ---------------------------------------------------------------------

    def format_value(self, value: Any) -> str:
        """The text of one f-string field: scalars only, no format spec (the spec is refused at compile time)."""
        kind = type(value)
        if kind is str:
            # The f-string copies the field into its result: f"{s}{s}" doubles s at a few steps a time.
            self.step(1 + len(value) // BYTES_PER_STEP, len(value))
            return value  # type: ignore[no-any-return]
        if kind not in SCALAR_TYPES:
            self.stop(
                ContractError(f"an f-string field must be int, str, bytes, bool or None, found {describe_type(value)}")
            )
        text = str(value)
        self.step(1 + len(text) // BYTES_PER_STEP, len(text))
        return text

    # --- attributes --------------------------------------------------------------------

    def getattr(self, value: Any, name: str) -> Any:
        kind = type(value)
        table = ATTRIBUTE_TABLES.get(kind)
        if table is not None:
            cost = table.get(name)
            if cost is not None:
                bound = getattr(value, name)
                if cost is _FREE:
                    return bound
                return _Metered(self, value, bound, cost)
        elif isinstance(value, LibraryObject) and name in value.sandbox_attributes:
            return getattr(value, name)
        self.stop(ContractError(f"a {describe_type(value)} has no attribute {name!r} that a contract may use"))


# --- attributes of builtin values ----------------------------------------------------------------

Cost = Callable[[Runtime, Any, tuple[Any, ...]], None]


def _free(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    raise AssertionError("free methods are returned unwrapped")


_FREE: Cost = _free


UNICODE_CASE_GROWTH_MAX = 3
"""Case mapping can lengthen a string up to three times ("ΐ".upper() is three code points): memory is charged
for the longest result."""


def _utf8(memory_per_unit: int) -> Cost:
    """`str.encode` / `bytes.decode` with the default codec only (UTF-8, strict): no codec name, so no
    codec whose speed or output depends on the host's codec registry."""
    linear = _linear(memory_per_unit)

    def cost(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
        if arguments:
            runtime.stop(ContractError("encode() and decode() take no arguments: text is always UTF-8"))
        linear(runtime, value, arguments)

    return cost


def _linear(memory_per_unit: int) -> Cost:
    """Work proportional to the receiver and arguments; memory up to `memory_per_unit` per unit of that size."""

    def cost(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
        size = len(value)
        for argument in arguments:
            kind = type(argument)
            if kind in (str, bytes, list, tuple, dict, range) or kind in DICT_VIEW_TYPES:
                # A range or a dict view has no items of its own, but list.extend copies every one.
                try:
                    size += len(argument)
                except OverflowError:
                    runtime.stop(ContractError("a range too long to count was given to a method"))
        runtime.step(1 + size // BYTES_PER_STEP, size * memory_per_unit)

    return cost


def _affix(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    """startswith/endswith: a tuple of affixes compares each one, so each is charged by its length."""
    size = len(value)
    if arguments and type(arguments[0]) is tuple:
        for affix in arguments[0]:
            size += len(affix) if type(affix) in (str, bytes) else 1
    elif arguments and type(arguments[0]) in (str, bytes):
        size += len(arguments[0])
    runtime.step(1 + size // BYTES_PER_STEP)


def _search(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    runtime.weigh(value)
    for argument in arguments:
        runtime.weigh(argument)


def _join(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    if len(arguments) != 1 or type(arguments[0]) not in (list, tuple):
        runtime.stop(ContractError("join takes one list of strings"))
    size = len(value) * len(arguments[0])
    for item in arguments[0]:
        if type(item) is not type(value):
            runtime.stop(ContractError(f"join takes a list of {describe_type(value)}, found a {describe_type(item)}"))
        size += len(item)
    runtime.step(1 + len(arguments[0]) + size // BYTES_PER_STEP, size)


def _append(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    runtime.allocate(ITEM_BYTES)


def _list_pop(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    # Popping the last item is O(1); popping at an index moves the items after it, as `del items[i]` does.
    if arguments:
        runtime.step(1 + len(value) // BYTES_PER_STEP)


def _dict_key(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    if arguments:
        runtime.check_key(arguments[0])
    runtime.allocate(DICT_ENTRY_BYTES)


def _to_bytes(runtime: Runtime, value: Any, arguments: tuple[Any, ...]) -> None:
    length = arguments[0] if arguments else 1
    if type(length) is not int or length < 0 or length > runtime.limits.integer_bits_max // 8 + 1:
        runtime.stop(ContractError(f"to_bytes takes a length of 0 to {runtime.limits.integer_bits_max // 8 + 1} bytes"))
    runtime.allocate(length)


ATTRIBUTE_TABLES: dict[type, dict[str, Cost]] = {
    list: {
        "append": _append,
        "pop": _list_pop,
        "insert": _linear(ITEM_BYTES),
        "extend": _linear(ITEM_BYTES),
        "index": _search,
        "count": _search,
        "reverse": _linear(0),
        "copy": _linear(ITEM_BYTES),
        "clear": _FREE,
    },
    dict: {
        "get": _dict_key,
        "pop": _dict_key,
        "setdefault": _dict_key,
        "keys": _FREE,
        "values": _FREE,
        "items": _FREE,
        "copy": _linear(DICT_ENTRY_BYTES),
        "clear": _FREE,
    },
    str: {
        "startswith": _affix,
        "endswith": _affix,
        "find": _linear(0),
        "count": _linear(0),
        "lower": _linear(UNICODE_CASE_GROWTH_MAX),
        "upper": _linear(UNICODE_CASE_GROWTH_MAX),
        "strip": _linear(1),
        "lstrip": _linear(1),
        "rstrip": _linear(1),
        "split": _linear(CONTAINER_BYTES),
        "join": _join,
        "encode": _utf8(4),
        "isdigit": _linear(0),
        "isalpha": _linear(0),
    },
    bytes: {
        "startswith": _affix,
        "endswith": _affix,
        "find": _linear(0),
        "count": _linear(0),
        "split": _linear(CONTAINER_BYTES),
        "join": _join,
        "hex": _linear(2),
        "decode": _utf8(4),
    },
    int: {"bit_length": _FREE, "to_bytes": _to_bytes},
}
"""The attributes of builtin values a contract may use, with what each costs before it runs.

An allow-list, so `format`, `format_map`, `mro` or anything a future Python
adds stays out of reach."""


class _Metered:
    """A bound method of a builtin value that charges its cost before it runs."""

    __slots__ = ("bound", "cost", "runtime", "value")

    def __init__(self, runtime: Runtime, value: Any, bound: Callable[..., Any], cost: Cost) -> None:
        self.runtime = runtime
        self.value = value
        self.bound = bound
        self.cost = cost

    def __call__(self, *arguments: Any) -> Any:
        self.cost(self.runtime, self.value, arguments)
        return self.bound(*arguments)


class LibraryObject:
    """Base of the objects `gusu_contract` hands to contracts; only `sandbox_attributes` are reachable."""

    __slots__ = ()
    sandbox_attributes: frozenset[str] = frozenset()


# --- typed storage --------------------------------------------------------------------------------


def _validate_storage_name(runtime: Runtime, name: object, kind: str) -> bytes:
    if type(name) is not str or not name or len(name) > NAME_LENGTH_MAX or "/" in name:
        runtime.stop(ContractError(f"a {kind} name must be a string of 1 to {NAME_LENGTH_MAX} characters without '/'"))
    return name.encode()


_BIN8_HEADERS = tuple(b"\xc4" + bytes((size,)) for size in range(256))
"""The canonical header of a byte string shorter than 256 bytes (msgpack bin 8)."""


def _encode_key(runtime: Runtime, key: object) -> bytes:
    kind = type(key)
    # Fast paths with the same bytes `encode_value` gives (tests/execution/sandbox checks it): addresses,
    # hashes and small integers are nearly every key a contract uses.
    if kind is bytes and len(key) < 256:  # type: ignore[arg-type]
        runtime.step(1 + len(key) // BYTES_PER_STEP)  # type: ignore[arg-type]
        return _BIN8_HEADERS[len(key)] + key  # type: ignore[arg-type, operator]
    if kind is int and INT_MIN <= key <= UINT_MAX:  # type: ignore[operator]
        runtime.step(1)
        return encode_int(key)  # type: ignore[arg-type]
    if type(key) not in SCALAR_TYPES or key is None:
        runtime.stop(ContractError(f"a storage key must be int, str, bytes or bool, found {describe_type(key)}"))
    runtime.step(1 + (len(key) if type(key) in (str, bytes) else 0) // BYTES_PER_STEP)  # type: ignore[arg-type]
    try:
        return encode_value(key)  # type: ignore[arg-type]
    except CodecError as error:
        runtime.stop(ContractError(f"a storage key cannot be encoded: {error}"))


def _read(runtime: Runtime, key: bytes) -> Value:
    raw = runtime.context.get(key)
    if raw is None:
        return None
    runtime.step(1 + len(raw) // BYTES_PER_STEP, len(raw) * 2)
    if len(raw) <= 9:  # a balance or a counter: the integer fast path (None if it is not one)
        number = decode_int(raw)
        if number is not None:
            return number
    try:
        return decode_value(raw)
    except CodecError as error:
        runtime.stop(ContractError(f"storage key {key!r} does not hold a canonical value: {error}"))


def _write(runtime: Runtime, key: bytes, value: object) -> None:
    runtime.count_write()
    if type(value) is int and INT_MIN <= value <= UINT_MAX:
        runtime.context.set(key, encode_int(value))  # weighing a scalar charges nothing
        return
    runtime.weigh(value)
    if type(value) is tuple:
        runtime.stop(ContractError("storage holds lists, not tuples: convert with list(...)"))
    try:
        encoded = encode_value(value)  # type: ignore[arg-type]
    except CodecError as error:
        runtime.stop(ContractError(f"the value has no canonical encoding: {error}"))
    runtime.context.set(key, encoded)


class Map(LibraryObject):
    """A persistent map from scalar keys to canonical values; each operation costs the state access it makes."""

    __slots__ = ("_prefix", "_runtime")
    sandbox_attributes = frozenset({"get", "set", "delete", "has"})

    def __init__(self, runtime: Runtime, name: object) -> None:
        self._runtime = runtime
        self._prefix = b"m/" + _validate_storage_name(runtime, name, "Map") + b"/"

    def get(self, key: object, default: Value = None) -> Value:
        value = _read(self._runtime, self._prefix + _encode_key(self._runtime, key))
        return default if value is None else value

    def has(self, key: object) -> bool:
        return self._runtime.context.get(self._prefix + _encode_key(self._runtime, key)) is not None

    def set(self, key: object, value: Value) -> None:
        _write(self._runtime, self._prefix + _encode_key(self._runtime, key), value)

    def delete(self, key: object) -> None:
        self._runtime.count_write()
        self._runtime.context.delete(self._prefix + _encode_key(self._runtime, key))


class Counter(LibraryObject):
    """A persistent integer (starts at 0)."""

    __slots__ = ("_key", "_runtime")
    sandbox_attributes = frozenset({"get", "add", "set"})

    def __init__(self, runtime: Runtime, name: object) -> None:
        self._runtime = runtime
        self._key = b"c/" + _validate_storage_name(runtime, name, "Counter")

    def get(self) -> int:
        value = _read(self._runtime, self._key)
        return value if type(value) is int else 0

    def set(self, value: int) -> None:
        if type(value) is not int:
            self._runtime.stop(ContractError(f"a Counter holds integers, found {describe_type(value)}"))
        _write(self._runtime, self._key, value)

    def add(self, amount: int) -> int:
        if type(amount) is not int:
            self._runtime.stop(ContractError(f"Counter.add takes an integer, found {describe_type(amount)}"))
        total = self.get() + amount
        self.set(total)
        return total


class Array(LibraryObject):
    """A persistent list: its length and one key per item, so each access costs only the item it touches."""

    __slots__ = ("_prefix", "_runtime")
    sandbox_attributes = frozenset({"get", "set", "push", "pop", "length"})

    def __init__(self, runtime: Runtime, name: object) -> None:
        self._runtime = runtime
        self._prefix = b"a/" + _validate_storage_name(runtime, name, "Array") + b"/"

    def length(self) -> int:
        value = _read(self._runtime, self._prefix + b"n")
        return value if type(value) is int else 0

    def _item_key(self, index: object) -> bytes:
        length = self.length()
        if type(index) is not int:
            # Never the index's repr: a list of shared sub-lists prints 2**60 items.
            self._runtime.stop(ContractError(f"an Array index must be an integer, found {describe_type(index)}"))
        if not 0 <= index < length:
            self._runtime.stop(ContractError(f"Array index {index} is out of range (length {length})"))
        return self._prefix + b"i" + encode_value(index)

    def get(self, index: object) -> Value:
        return _read(self._runtime, self._item_key(index))

    def set(self, index: object, value: Value) -> None:
        _write(self._runtime, self._item_key(index), value)

    def push(self, value: Value) -> int:
        length = self.length()
        _write(self._runtime, self._prefix + b"i" + encode_value(length), value)
        _write(self._runtime, self._prefix + b"n", length + 1)
        return length + 1

    def pop(self) -> Value:
        length = self.length()
        if length == 0:
            self._runtime.stop(ContractError("pop from an empty Array"))
        key = self._prefix + b"i" + encode_value(length - 1)
        value = _read(self._runtime, key)
        self._runtime.count_write()
        self._runtime.context.delete(key)
        _write(self._runtime, self._prefix + b"n", length - 1)
        return value


class EventType(LibraryObject):
    """An event a contract declared at module level with `event(name, field, ...)`."""

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: tuple[str, ...]) -> None:
        self.name = name
        self.fields = fields


def raise_revert(runtime: Runtime, message: object) -> NoReturn:
    text = message if type(message) is str else describe_type(message)
    runtime.stop(ContractRevertError(text))
