"""Execution limits and the gas schedule.

Both are consensus rules: every node of a chain must use the same values, or
the nodes compute different receipts and the chain splits. The defaults are
what a chain gets unless its genesis parameters override a limit (see
`compute_execution_limits`); the gas schedule is fixed per software version.

Gas exists to bound the work of one transaction, not to price it: a
consortium chain charges no fees, so gas is never converted into a balance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

from gusu.errors import ConfigError
from gusu.ledger.types import EVENT_DATA_BYTES_MAX, EVENTS_PER_RECEIPT_MAX, RETURN_VALUE_BYTES_MAX

KIB = 1024
MIB = 1024 * KIB

# Limits that also bound what one receipt may hold cannot exceed what a
# receipt can encode, or a node could produce a receipt no peer can decode.
_LEDGER_MAXIMA: dict[str, int] = {
    "events_per_transaction_max": EVENTS_PER_RECEIPT_MAX,
    "event_data_bytes_max": EVENT_DATA_BYTES_MAX,
    "return_value_bytes_max": RETURN_VALUE_BYTES_MAX,
}

LIMIT_VALUE_MAX = 2**62
"""No limit may exceed this, which keeps every gas sum inside 64 bits."""


@dataclass(frozen=True, slots=True)
class ExecutionLimits:
    """Per-transaction bounds; exceeding one fails the transaction."""

    gas_per_transaction_max: int = 10_000_000
    state_key_bytes_max: int = 256
    """Length of the key a contract passes, before namespacing."""
    state_value_bytes_max: int = 64 * KIB
    transaction_write_bytes_max: int = 1 * MIB
    """Sum over every write of a transaction of key bytes plus value bytes."""
    events_per_transaction_max: int = 256
    event_data_bytes_max: int = 16 * KIB
    return_value_bytes_max: int = 64 * KIB
    call_depth_max: int = 64
    """Nesting of Python calls inside an untrusted contract method.

    Bounding it below the interpreter's own recursion limit makes deep
    recursion fail the same way on every node, whatever the depth of the
    node's own stack when it calls the executor.
    """

    def __post_init__(self) -> None:
        validate_execution_limits(self)


def validate_execution_limits(limits: ExecutionLimits) -> None:
    for field in fields(limits):
        value = getattr(limits, field.name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"execution limit {field.name} must be an integer, found {value!r}")
        if value < 1 or value > LIMIT_VALUE_MAX:
            raise ConfigError(f"execution limit {field.name} must be between 1 and {LIMIT_VALUE_MAX}, found {value}")
        ledger_maximum = _LEDGER_MAXIMA.get(field.name)
        if ledger_maximum is not None and value > ledger_maximum:
            raise ConfigError(
                f"execution limit {field.name} is {value}, above {ledger_maximum}, the most a receipt can hold"
            )
    if limits.call_depth_max > 500:
        raise ConfigError(
            "execution limit call_depth_max must stay well below the interpreter's recursion limit (500 at most)"
        )


def get_limit_names() -> tuple[str, ...]:
    return tuple(field.name for field in fields(ExecutionLimits))


def compute_execution_limits(
    parameters: Iterable[tuple[str, int]], base: ExecutionLimits | None = None
) -> ExecutionLimits:
    """The limits of a chain: `base` (the defaults) overridden by genesis parameters.

    A genesis parameter whose name is an `ExecutionLimits` field (for example
    ``gas_per_transaction_max``) sets that limit; other parameters belong to
    other layers and are ignored here.
    """
    names = set(get_limit_names())
    overrides = {name: value for name, value in parameters if name in names}
    return replace(base if base is not None else ExecutionLimits(), **overrides)


@dataclass(frozen=True, slots=True)
class GasSchedule:
    """What each operation costs. docs/contracts.md carries the same table."""

    transaction: int = 2_000
    """Every transaction or read-only call, before anything runs."""
    argument_byte: int = 2
    """Per byte of the encoded argument list."""
    state_read: int = 200
    state_read_byte: int = 1
    """Per byte of the value read (nothing when the key is absent)."""
    state_write: int = 1_000
    state_write_byte: int = 10
    """Per byte of key plus value written."""
    state_delete: int = 500
    event: int = 500
    event_byte: int = 5
    """Per byte of event name plus encoded data."""
    return_byte: int = 2
    """Per byte of the encoded return value."""
    line: int = 20
    """Per executed line of an untrusted contract (trusted ones are not traced)."""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"gas cost {field.name} must be a non-negative integer, found {value!r}")


DEFAULT_GAS_SCHEDULE = GasSchedule()
