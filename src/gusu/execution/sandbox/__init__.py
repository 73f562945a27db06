"""Deployed Python contracts: an allow-listed, instrumented, deterministic sandbox.

`compile_contract(source, limits)` checks a contract's source against the
allow-list and instruments it into a `CompiledContract`; `run_method(compiled,
name, args, context)` runs one entry point in fresh globals against a
`Context`, so state keys, gas and limits are the executor's. docs/contracts.md
("Deployed contracts") describes the language subset, the metering and the
measurements behind the design.
"""

from gusu.execution.sandbox.compiler import (
    KIND_METHOD,
    KIND_MIGRATION,
    KIND_VIEW,
    CompiledContract,
    EventDeclaration,
    MethodDeclaration,
    ParameterDeclaration,
    compile_contract,
    describe_declarations,
)
from gusu.execution.sandbox.limits import DEFAULT_SANDBOX_LIMITS, SandboxLimits
from gusu.execution.sandbox.run import SandboxResult, decode_sandbox_arguments, run_method

__all__ = [
    "DEFAULT_SANDBOX_LIMITS",
    "KIND_METHOD",
    "KIND_MIGRATION",
    "KIND_VIEW",
    "CompiledContract",
    "EventDeclaration",
    "MethodDeclaration",
    "ParameterDeclaration",
    "SandboxLimits",
    "SandboxResult",
    "compile_contract",
    "decode_sandbox_arguments",
    "describe_declarations",
    "run_method",
]
