"""The sandbox's limits: named, validated, frozen settings (consensus rules, like `ExecutionLimits`)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from gusu.errors import ConfigError
from gusu.execution.limits import DEFAULT_GAS_SCHEDULE, KIB, LIMIT_VALUE_MAX, MIB


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Bounds on one deployed contract: its source (checked by `compile_contract`) and each call (`run_method`)."""

    source_bytes_max: int = 64 * KIB
    """UTF-8 size of a contract's source."""
    ast_nodes_max: int = 20_000
    """Syntax-tree nodes in a contract's source."""
    ast_depth_max: int = 48
    """Nesting of the syntax tree (an expression `a+a+...+a` nests one level per operator)."""
    steps_max: int = 1_000_000
    """Instrumented steps per call (see docs/contracts.md for what a step is)."""
    memory_bytes_max: int = 16 * MIB
    """Bytes a call may allocate in total, as the instrumentation counts them (never the process's RSS)."""
    storage_writes_max: int = 1_024
    """Storage writes and deletes per call."""
    call_depth_max: int = 64
    """Nesting of the contract's own function calls."""
    integer_bits_max: int = 4_096
    """No integer a contract computes may be wider than this (checked before `*`, `**`, `<<` run)."""
    gas_per_step: int = DEFAULT_GAS_SCHEDULE.line
    """Gas charged to the transaction per instrumented step."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"sandbox limit {field.name} must be an integer, found {value!r}")
            if value < 1 or value > LIMIT_VALUE_MAX:
                raise ConfigError(f"sandbox limit {field.name} must be between 1 and {LIMIT_VALUE_MAX}, found {value}")
        if self.call_depth_max > 200:
            raise ConfigError(
                "sandbox limit call_depth_max must stay well below the interpreter's recursion limit (200)"
            )
        if self.ast_depth_max > 200:
            raise ConfigError("sandbox limit ast_depth_max must be at most 200, or compiling could exhaust the stack")
        if self.integer_bits_max > 1 << 20:
            raise ConfigError("sandbox limit integer_bits_max must be at most 1,048,576")


DEFAULT_SANDBOX_LIMITS = SandboxLimits()
