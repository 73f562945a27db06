"""How a native contract is written, and how the runtime reads its shape.

A contract is a subclass of `Contract` with a class attribute `name` and
methods marked `@method` (may change state) or `@view` (only reads; the
only kind a read-only call may run). Each marked method takes the call's
`Context` after `self`, then typed arguments::

    class Counter(Contract):
        name = "counter"

        @method
        def add(self, ctx: Context, amount: int) -> int:
            total = ctx.get_int(b"total") + amount
            ctx.set_int(b"total", total)
            return total

A transaction's `args` is the canonical encoding of the argument list. The
runtime checks the count and each argument's type against the method's type
hints before the method runs, so contract code can trust its arguments'
types (not their values: a contract still checks ranges itself). Supported
hints are int, str, bytes, bool, Address (20 bytes), Hash (32 bytes),
list[T] and T | None over those.

`trusted = True` marks a contract whose code the chain's operators vouch
for (the built-ins): it runs without line tracing. Any other contract is
metered per executed line, so a runaway loop ends with out_of_gas.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from inspect import Parameter, signature
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeVar, Union, get_args, get_origin, get_type_hints

from gusu.codec import Value
from gusu.errors import CodecError, ConfigError, InvalidArgumentsError
from gusu.execution.context import Context
from gusu.execution.encoding import decode_value
from gusu.execution.state import compute_state_key_prefix
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, NAME_LENGTH_MAX, Address, Hash

if TYPE_CHECKING:
    from gusu.ledger.genesis import Genesis

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
"""Contract and method names: lowercase identifiers, so they read the same everywhere."""

KIND_ATTRIBUTE = "__gusu_method_kind__"
KIND_METHOD = "method"
KIND_VIEW = "view"

F = TypeVar("F", bound=Callable[..., Any])


def method(function: F) -> F:
    """Mark `function` as a state-changing contract method."""
    setattr(function, KIND_ATTRIBUTE, KIND_METHOD)
    return function


def view(function: F) -> F:
    """Mark `function` as a read-only contract method (callable without a transaction)."""
    setattr(function, KIND_ATTRIBUTE, KIND_VIEW)
    return function


class Contract:
    """Base class of every native contract."""

    name: ClassVar[str] = ""
    trusted: ClassVar[bool] = False

    def on_genesis(self, ctx: Context, genesis: Genesis) -> None:
        """Write the contract's initial state when the chain is created.

        Runs once, in the genesis block, with unlimited write bytes and a
        zero sender. The default writes nothing.
        """


# --- argument checking ------------------------------------------------------------

Check = Callable[[Value], bool]


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    expected: str
    """What the argument must be, as a phrase: "a 20-byte address"."""
    check: Check


@dataclass(frozen=True, slots=True)
class MethodSpec:
    contract: str
    name: str
    is_view: bool
    parameters: tuple[ParameterSpec, ...]
    function: Callable[..., Any]
    checks: tuple[Check, ...]
    """The parameters' checks again, in a flat tuple for the hot path."""


@dataclass(frozen=True, slots=True)
class ContractSpec:
    name: str
    contract_class: type[Contract]
    trusted: bool
    methods: Mapping[str, MethodSpec]
    key_prefix: bytes
    """See `gusu.execution.state.compute_state_key_prefix`."""

    def get_method_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.methods))


def _is_int(value: Value) -> bool:
    return type(value) is int


def _is_bool(value: Value) -> bool:
    return type(value) is bool


def _is_str(value: Value) -> bool:
    return type(value) is str


def _is_bytes(value: Value) -> bool:
    return type(value) is bytes


def _is_address(value: Value) -> bool:
    return type(value) is bytes and len(value) == ADDRESS_SIZE


def _is_hash(value: Value) -> bool:
    return type(value) is bytes and len(value) == HASH_SIZE


_SIMPLE_CHECKS: tuple[tuple[object, Check, str], ...] = (
    (bool, _is_bool, "a boolean"),
    (int, _is_int, "an integer"),
    (str, _is_str, "a string"),
    (bytes, _is_bytes, "a byte string"),
    (Address, _is_address, f"a {ADDRESS_SIZE}-byte address"),
    (Hash, _is_hash, f"a {HASH_SIZE}-byte hash"),
)


def compute_check(hint: object, where: str) -> tuple[Check, str]:
    """The check and the description of what a parameter annotated `hint` accepts."""
    for simple_hint, check, expected in _SIMPLE_CHECKS:
        if hint is simple_hint:
            return check, expected
    origin = get_origin(hint)
    if origin is list:
        (item_hint,) = get_args(hint)
        item_check, item_expected = compute_check(item_hint, where)

        def check_list(value: Value) -> bool:
            return type(value) is list and all(item_check(item) for item in value)

        return check_list, f"a list of items that are each {item_expected}"
    if origin is Union or origin is types.UnionType:
        options = [option for option in get_args(hint) if option is not type(None)]
        if len(options) == 1 and len(get_args(hint)) == 2:
            inner_check, inner_expected = compute_check(options[0], where)

            def check_optional(value: Value) -> bool:
                return value is None or inner_check(value)

            return check_optional, f"None or {inner_expected}"
    raise ConfigError(
        f"{where} is annotated {hint!r}, which a contract argument cannot be; "
        "use int, str, bytes, bool, Address, Hash, list[...] or ... | None"
    )


def describe_value(value: Value) -> str:
    if value is None:
        return "None"
    if isinstance(value, (bytes, str, list)):
        return f"{type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__} {value!r}"


def decode_arguments(spec: MethodSpec, args: bytes) -> list[Value]:
    """Decode a transaction's `args` and check them against `spec`; InvalidArgumentsError if they do not fit."""
    try:
        values = decode_value(args)
    except CodecError as error:
        label = f"{spec.contract}.{spec.name}"
        raise InvalidArgumentsError(f"{label}: args are not a canonical encoding: {error}") from None
    checks = spec.checks
    if type(values) is not list or len(values) != len(checks):
        _reject_arguments(spec, values)
    for check, value in zip(checks, values, strict=True):
        if not check(value):
            _reject_arguments(spec, values)
    return values


def _reject_arguments(spec: MethodSpec, values: Value) -> NoReturn:
    label = f"{spec.contract}.{spec.name}"
    parameters = spec.parameters
    if type(values) is not list:
        raise InvalidArgumentsError(f"{label}: args must encode a list of arguments, found {describe_value(values)}")
    if len(values) != len(parameters):
        names = ", ".join(parameter.name for parameter in parameters)
        plural = "" if len(parameters) == 1 else "s"
        raise InvalidArgumentsError(f"{label} takes {len(parameters)} argument{plural} ({names}), found {len(values)}")
    for position, (parameter, value) in enumerate(zip(parameters, values, strict=True), start=1):
        if not parameter.check(value):
            raise InvalidArgumentsError(
                f"{label} argument {position} ({parameter.name}) must be {parameter.expected}, "
                f"found {describe_value(value)}"
            )
    raise AssertionError("_reject_arguments called with valid arguments")


# --- reading a contract class ------------------------------------------------------


def validate_name(name: object, what: str) -> str:
    if not isinstance(name, str) or len(name) > NAME_LENGTH_MAX or not NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"{what} {name!r} must be a lowercase identifier (a-z, 0-9, _) of at most {NAME_LENGTH_MAX} characters"
        )
    return name


def compute_method_spec(contract: str, name: str, function: Callable[..., Any]) -> MethodSpec:
    where = f"{contract}.{name}"
    validate_name(name, "method name")
    try:
        hints = get_type_hints(function)
    except Exception as error:  # any failure to resolve hints is the author's to fix
        raise ConfigError(f"{where}: its type hints cannot be resolved: {error}") from error
    parameters = list(signature(function).parameters.values())
    if len(parameters) < 2 or hints.get(parameters[1].name) is not Context:
        raise ConfigError(f"{where} must take (self, ctx: Context, ...), with the context annotated as Context")
    specs = []
    for parameter in parameters[2:]:
        if parameter.kind is not Parameter.POSITIONAL_OR_KEYWORD or parameter.default is not Parameter.empty:
            raise ConfigError(
                f"{where}: parameter {parameter.name} must be a plain positional parameter without a default"
            )
        if parameter.name not in hints:
            raise ConfigError(f"{where}: parameter {parameter.name} has no type hint")
        check, expected = compute_check(hints[parameter.name], f"{where} parameter {parameter.name}")
        specs.append(ParameterSpec(parameter.name, expected, check))
    return MethodSpec(
        contract=contract,
        name=name,
        is_view=getattr(function, KIND_ATTRIBUTE) == KIND_VIEW,
        parameters=tuple(specs),
        function=function,
        checks=tuple(spec.check for spec in specs),
    )


def compute_contract_spec(contract_class: type[Contract]) -> ContractSpec:
    """Read and check a contract class; ConfigError says what is wrong with it."""
    if not isinstance(contract_class, type) or not issubclass(contract_class, Contract):
        raise ConfigError(f"{contract_class!r} is not a subclass of Contract")
    name = validate_name(contract_class.name, f"the name of contract class {contract_class.__name__}")
    if not isinstance(contract_class.trusted, bool):
        raise ConfigError(f"contract {name}: trusted must be True or False")
    methods: dict[str, MethodSpec] = {}
    # dir() is sorted, so the methods are found in the same order everywhere.
    for attribute in dir(contract_class):
        function = getattr(contract_class, attribute)
        if callable(function) and hasattr(function, KIND_ATTRIBUTE):
            methods[attribute] = compute_method_spec(name, attribute, function)
    if not methods:
        raise ConfigError(f"contract {name} has no @method or @view methods")
    return ContractSpec(
        name=name,
        contract_class=contract_class,
        trusted=contract_class.trusted,
        methods=methods,
        key_prefix=compute_state_key_prefix(name),
    )
