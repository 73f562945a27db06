"""`run_method`: one call of a compiled contract, in fresh globals, against a `Context`.

Nothing survives a call but what it wrote through the context: the module
is executed anew in a new globals dict each time (so a contract's module
variables never carry over from one transaction to the next), and the
builtins the code sees are only the wrappers it was compiled to use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gusu.codec import Value
from gusu.errors import (
    CodecError,
    ExecutionError,
    GusuError,
    InvalidArgumentsError,
    OutOfGasError,
    StorageError,
    UnknownMethodError,
)
from gusu.execution.context import Context
from gusu.execution.contract import describe_value
from gusu.execution.encoding import decode_value, encode_value
from gusu.execution.errors import Abort, ContractError
from gusu.execution.sandbox.compiler import KIND_MIGRATION, CompiledContract, MethodDeclaration
from gusu.execution.sandbox.library import Builtins, Library
from gusu.execution.sandbox.names import BUILTIN_NAMES, HOOK_PREFIX, LIBRARY_NAMES
from gusu.execution.sandbox.runtime import Runtime

_MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_ENVIRONMENT_FAILURES = (MemoryError, KeyboardInterrupt, StorageError)


@dataclass(frozen=True, slots=True)
class SandboxResult:
    return_value: bytes
    """The canonical encoding of what the method returned (the executor checks its size and charges for it)."""
    steps_used: int
    memory_bytes_used: int
    storage_writes: int


_FROM_RUNTIME, _FROM_BUILTINS, _FROM_LIBRARY = 0, 1, 2


@functools.lru_cache(maxsize=1024)
def _compute_binding_plan(bindings: tuple[str, ...]) -> tuple[tuple[str, int, str], ...]:
    """(global name, which object, attribute) for each name the code uses; computed once per contract."""
    plan: list[tuple[str, int, str]] = []
    for name in bindings:
        if name.startswith(HOOK_PREFIX):
            plan.append((name, _FROM_RUNTIME, name[len(HOOK_PREFIX) :]))
        elif name in BUILTIN_NAMES:
            plan.append((name, _FROM_BUILTINS, "call_" + name))
        else:
            assert name in LIBRARY_NAMES, name
            plan.append((name, _FROM_LIBRARY, name))
    return tuple(plan)


def create_globals(compiled: CompiledContract, runtime: Runtime) -> dict[str, Any]:
    """A new globals dict for one execution: an empty `__builtins__` and exactly the names the code uses."""
    sources = (runtime, Builtins(runtime), Library(runtime))
    namespace: dict[str, Any] = {"__builtins__": {}}
    for name, source, attribute in _compute_binding_plan(compiled.bindings):
        namespace[name] = getattr(sources[source], attribute)
    return namespace


def decode_sandbox_arguments(declaration: MethodDeclaration, arguments: bytes) -> list[Value]:
    """Decode and type-check a call's canonical argument list; InvalidArgumentsError says what is wrong."""
    try:
        values = decode_value(arguments)
    except CodecError as error:
        raise InvalidArgumentsError(f"{declaration.name}: args are not a canonical encoding: {error}") from None
    parameters = declaration.parameters
    if type(values) is not list:
        raise InvalidArgumentsError(f"{declaration.name}: args must encode a list, found {describe_value(values)}")
    if len(values) != len(parameters):
        names = ", ".join(parameter.name for parameter in parameters)
        raise InvalidArgumentsError(
            f"{declaration.name} takes {len(parameters)} arguments ({names}), found {len(values)}"
        )
    for position, (parameter, value) in enumerate(zip(parameters, values, strict=True), start=1):
        if not parameter.check(value):
            raise InvalidArgumentsError(
                f"{declaration.name} argument {position} ({parameter.name}) must be {parameter.expected}, "
                f"found {describe_value(value)}"
            )
    return values


def run_method(
    compiled: CompiledContract,
    method_name: str,
    arguments: bytes,
    context: Context,
    *,
    allow_migration: bool = False,
) -> SandboxResult:
    """Run entry point `method_name` of `compiled` with canonical `arguments` against `context`.

    Steps are billed to the context's gas at `limits.gas_per_step` each,
    whether the call succeeds or fails. Raises the ExecutionError subclass
    that says why the call failed (OutOfGasError, SandboxLimitError,
    ContractRevertError, ContractError, InvalidArgumentsError, ...); the
    caller drops the context's writes then. A migration runs only with
    `allow_migration` (the upgrade path).
    """
    declaration = compiled.methods.get(method_name)
    if declaration is None or (declaration.kind == KIND_MIGRATION and not allow_migration):
        known = ", ".join(compiled.get_method_names())
        raise UnknownMethodError(f"the contract has no method {method_name!r} (methods: {known})")
    values = decode_sandbox_arguments(declaration, arguments)
    limits = compiled.limits
    gas_steps = context.get_gas_remaining() // limits.gas_per_step
    runtime = Runtime(context, limits, min(limits.steps_max, gas_steps), gas_bound=gas_steps < limits.steps_max)
    runtime.depth = context.call_depth  # an inner call spends the caller's frame budget, not a fresh one
    if context.memory_bytes_left is not None:  # and the memory its callers left, not a fresh budget
        runtime.memory_left = min(runtime.memory_left, context.memory_bytes_left)
    memory_start = runtime.memory_left
    runtime.allocate(len(arguments) * 2)
    failure: GusuError | None = None
    result: object = None
    try:
        namespace = create_globals(compiled, runtime)
        exec(compiled.code, namespace)
        function: Callable[..., Any] = namespace[method_name]
        result = function(*values)
    except Abort as abort:
        failure = abort.error
    except _ENVIRONMENT_FAILURES:
        raise
    except ExecutionError as error:
        failure = error
    except RecursionError:
        failure = ContractError(f"{method_name} nests too deeply for the interpreter")
    except Exception as error:
        failure = ContractError(f"{method_name} failed with {type(error).__name__}: {_describe(error)}")
    steps_used = runtime.get_steps_used()
    try:
        context.charge((steps_used - runtime.steps_billed) * limits.gas_per_step)
    except OutOfGasError as error:
        failure = failure or error
    if failure is None:
        try:
            runtime.weigh(result)
            encoded = encode_value(result)  # type: ignore[arg-type]
        except Abort as abort:
            failure = abort.error
        except CodecError as error:
            failure = ContractError(f"{method_name} returned a value with no canonical encoding: {error}")
    if failure is not None:
        raise failure
    return SandboxResult(
        return_value=encoded,
        steps_used=steps_used,
        memory_bytes_used=memory_start - max(runtime.memory_left, 0),
        storage_writes=runtime.writes,
    )


def _describe(error: BaseException) -> str:
    try:
        text = str(error)
    except Exception:
        return "(no message)"
    return _MEMORY_ADDRESS.sub("", text)[:200] or "(no message)"
