"""What a contract method sees of the world: the `Context`.

A contract reaches state, events and the facts of its block only through the
context it is given. Every operation is charged to the transaction's gas
meter and checked against the execution limits before it takes effect.

Failures the runtime raises here (out of gas, a limit exceeded, a revert,
misuse) are final: the context records the first one as its `fault`, and the
executor fails the transaction with it even if the contract caught the
exception and carried on. Catching a failure can therefore never turn a
transaction that broke a rule into one that commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn, Protocol

from gusu.codec import Value
from gusu.errors import (
    CodecError,
    ContractRevertError,
    ExecutionError,
    OutOfGasError,
    StateLimitError,
)
from gusu.execution.encoding import decode_int, decode_value, encode_int, encode_value
from gusu.execution.errors import ContractError
from gusu.execution.limits import ExecutionLimits, GasSchedule
from gusu.execution.state import MISSING, StateReader, encode_key_suffix
from gusu.ledger.types import NAME_LENGTH_MAX, Address, Event, Hash, Height

# The encoded header of every byte string shorter than 256 bytes (bin 8),
# so the common state key is built with two concatenations.
_BIN8_HEADERS = tuple(b"\xc4" + bytes((size,)) for size in range(256))


@dataclass(frozen=True, slots=True)
class BlockContext:
    """The facts of the block a transaction executes in; the same on every node."""

    chain_id: str
    height: Height
    timestamp_ms: int
    proposer: Address


class GasMeter:
    """Gas left for one transaction; shared by the context and the line tracer."""

    __slots__ = ("limit", "remaining")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.remaining = limit

    def charge(self, amount: int) -> None:
        self.remaining -= amount
        if self.remaining < 0:
            raise create_out_of_gas_error(self.limit)

    def is_exhausted(self) -> bool:
        return self.remaining < 0

    def get_used(self) -> int:
        return self.limit if self.remaining < 0 else self.limit - self.remaining


def create_out_of_gas_error(limit: int) -> OutOfGasError:
    return OutOfGasError(f"the transaction ran out of gas: it needs more than gas_per_transaction_max = {limit}")


class Context:
    """The runtime a contract method is called with."""

    __slots__ = (
        "_events",
        "_key_bytes_max",
        "_limits",
        "_meter",
        "_prefix",
        "_schedule",
        "_state",
        "_write_bytes",
        "_writes",
        "block",
        "call_depth",
        "call_stack",
        "contract",
        "fault",
        "invoker",
        "memory_bytes_left",
        "method",
        "origin",
        "read_only",
        "sender",
        "transaction_id",
    )

    def __init__(
        self,
        sender: Address,
        block: BlockContext,
        transaction_id: Hash,
        contract: str,
        method: str,
        read_only: bool,
        key_prefix: bytes,
        state: StateReader,
        meter: GasMeter,
        limits: ExecutionLimits,
        schedule: GasSchedule,
    ) -> None:
        self.sender = sender
        self.origin = sender
        """The account that signed the transaction (`sender` is the calling contract's address in an inner call)."""
        self.call_stack: tuple[str, ...] = (contract,)
        """The contracts this call runs inside, outermost first, this one last (for the reentrancy rule)."""
        self.call_depth = 0
        """Frames of sandboxed contract code above this call (inner calls share one depth budget)."""
        self.invoker: ContractHost | None = None
        self.memory_bytes_left: int | None = None
        """Set by a sandboxed caller for the duration of a call: the memory it has left, which bounds the
        callee's (so nested contracts share one budget). None: the sandbox's own limit."""
        """How a sandboxed contract calls another contract (set by the executor), or None: it cannot."""
        self.block = block
        self.transaction_id = transaction_id
        self.contract = contract
        self.method = method
        self.read_only = read_only
        self.fault: ExecutionError | None = None
        """The first runtime failure of this call; it fails the transaction."""
        self._prefix = key_prefix
        self._state = state
        self._writes: dict[bytes, bytes | None] = {}
        self._events: list[Event] = []
        self._meter = meter
        self._limits = limits
        self._schedule = schedule
        self._write_bytes = 0
        self._key_bytes_max = limits.state_key_bytes_max

    # --- failures --------------------------------------------------------------

    def _fail(self, error: ExecutionError) -> NoReturn:
        if self.fault is None:
            self.fault = error
        raise error

    def _charge(self, amount: int) -> None:
        meter = self._meter
        meter.remaining -= amount
        if meter.remaining < 0:
            self._fail(create_out_of_gas_error(meter.limit))

    def charge(self, amount: int) -> None:
        """Charge `amount` gas to the transaction (the sandbox bills its instrumented steps here)."""
        self._charge(amount)

    @property
    def meter(self) -> GasMeter:
        return self._meter

    def get_gas_remaining(self) -> int:
        return max(self._meter.remaining, 0)

    def revert(self, message: str) -> NoReturn:
        """Refuse the call: the transaction fails with `message` and changes nothing."""
        self._fail(ContractRevertError(str(message)))

    # --- raw state ---------------------------------------------------------------

    def _compute_key(self, key: bytes) -> bytes:
        if type(key) is bytes and len(key) <= self._key_bytes_max:
            size = len(key)
            if size < 256:
                return self._prefix + _BIN8_HEADERS[size] + key
            return self._prefix + encode_key_suffix(key)
        if type(key) is not bytes:
            self._fail(ContractError(f"{self._label()}: a state key must be bytes, found {type(key).__name__}"))
        self._fail(
            StateLimitError(
                f"{self._label()}: a state key is {len(key)} bytes; "
                f"the limit is state_key_bytes_max = {self._key_bytes_max}"
            )
        )

    def get(self, key: bytes) -> bytes | None:
        """The value at `key` in this contract's namespace, or None if there is none."""
        # _compute_key's common case inlined: state access is the hot path.
        if type(key) is bytes and len(key) < 256 and len(key) <= self._key_bytes_max:
            full_key = self._prefix + _BIN8_HEADERS[len(key)] + key
        else:
            full_key = self._compute_key(key)
        value = self._writes.get(full_key, MISSING)
        if value is MISSING:
            value = self._state.get(full_key)
        meter = self._meter
        schedule = self._schedule
        if value is None:
            meter.remaining -= schedule.state_read
        else:
            meter.remaining -= schedule.state_read + schedule.state_read_byte * len(value)  # type: ignore[arg-type]
        if meter.remaining < 0:
            self._fail(create_out_of_gas_error(meter.limit))
        return value  # type: ignore[return-value]

    def set(self, key: bytes, value: bytes) -> None:
        """Store `value` at `key` in this contract's namespace."""
        if self.read_only:
            self._reject_write("set")
        if type(key) is bytes and len(key) < 256 and len(key) <= self._key_bytes_max:
            full_key = self._prefix + _BIN8_HEADERS[len(key)] + key
        else:
            full_key = self._compute_key(key)
        limits = self._limits
        if type(value) is not bytes or len(value) > limits.state_value_bytes_max:
            self._reject_value(value)
        size = len(key) + len(value)
        self._write_bytes += size
        if self._write_bytes > limits.transaction_write_bytes_max:
            self._reject_write_bytes()
        meter = self._meter
        meter.remaining -= self._schedule.state_write + self._schedule.state_write_byte * size
        if meter.remaining < 0:
            self._fail(create_out_of_gas_error(meter.limit))
        self._writes[full_key] = value

    def delete(self, key: bytes) -> None:
        """Remove `key` from this contract's namespace (nothing happens if it is absent)."""
        if self.read_only:
            self._reject_write("delete")
        full_key = self._compute_key(key)
        self._write_bytes += len(key)
        if self._write_bytes > self._limits.transaction_write_bytes_max:
            self._reject_write_bytes()
        self._charge(self._schedule.state_delete)
        self._writes[full_key] = None

    def _reject_value(self, value: object) -> NoReturn:
        if type(value) is not bytes:
            self._fail(ContractError(f"{self._label()}: a state value must be bytes, found {type(value).__name__}"))
        self._fail(
            StateLimitError(
                f"{self._label()}: a state value is {len(value)} bytes; "
                f"the limit is state_value_bytes_max = {self._limits.state_value_bytes_max}"
            )
        )

    def _reject_write_bytes(self) -> NoReturn:
        self._fail(
            StateLimitError(
                f"{self._label()}: the transaction writes more than "
                f"transaction_write_bytes_max = {self._limits.transaction_write_bytes_max} bytes"
            )
        )

    def _reject_write(self, operation: str) -> NoReturn:
        self._fail(ContractError(f"{self._label()} is a view and cannot {operation}: views only read state"))

    # --- typed state -------------------------------------------------------------

    def get_int(self, key: bytes, default: int = 0) -> int:
        """The integer stored at `key` (by `set_int`), or `default` if the key is absent."""
        raw = self.get(key)
        if raw is None:
            return default
        number = decode_int(raw)
        if number is not None:
            return number
        value = self._decode(raw, key)
        if type(value) is not int:
            self._fail(
                ContractError(f"{self._label()}: state key {key!r} holds a {type(value).__name__}, not an integer")
            )
        return value

    def set_int(self, key: bytes, value: int) -> None:
        try:
            raw = encode_int(value)
        except CodecError as error:
            self._fail(ContractError(f"{self._label()}: set_int cannot store {value!r}: {error}"))
        self.set(key, raw)

    def get_value(self, key: bytes) -> Value:
        """The canonical value stored at `key` (by `set_value`), or None if the key is absent."""
        raw = self.get(key)
        if raw is None:
            return None
        return self._decode(raw, key)

    def set_value(self, key: bytes, value: Value) -> None:
        self.set(key, self._encode(value, "state value"))

    def _encode(self, value: Value, what: str) -> bytes:
        try:
            return encode_value(value)
        except CodecError as error:
            self._fail(ContractError(f"{self._label()}: the {what} has no canonical encoding: {error}"))

    def _decode(self, raw: bytes, key: bytes) -> Value:
        try:
            return decode_value(raw)
        except CodecError as error:
            self._fail(ContractError(f"{self._label()}: state key {key!r} does not hold a canonical value: {error}"))

    # --- events ---------------------------------------------------------------------

    def emit(self, name: str, data: Value) -> None:
        """Record event `name` with `data` in the receipt (only if the transaction succeeds)."""
        if self.read_only:
            self._reject_write("emit events")
        if type(name) is not str or not name or len(name) > NAME_LENGTH_MAX:
            self._fail(
                ContractError(f"{self._label()}: an event name must be a string of 1 to {NAME_LENGTH_MAX} characters")
            )
        limits = self._limits
        if len(self._events) >= limits.events_per_transaction_max:
            self._fail(
                StateLimitError(
                    f"{self._label()}: the transaction emits more than "
                    f"events_per_transaction_max = {limits.events_per_transaction_max} events"
                )
            )
        encoded = self._encode(data, "event data")
        if len(encoded) > limits.event_data_bytes_max:
            self._fail(
                StateLimitError(
                    f"{self._label()}: event {name} carries {len(encoded)} bytes of data; "
                    f"the limit is event_data_bytes_max = {limits.event_data_bytes_max}"
                )
            )
        self._charge(self._schedule.event + self._schedule.event_byte * (len(name.encode()) + len(encoded)))
        self._events.append(Event(self.contract, name, encoded))

    # --- for the executor ---------------------------------------------------------------

    def _label(self) -> str:
        return f"{self.contract}.{self.method}"

    def get_writes(self) -> dict[bytes, bytes | None]:
        return self._writes

    def get_events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    # --- unmetered access (trusted engines that meter in their own units) ----------------------

    def get_unmetered(self, key: bytes) -> bytes | None:
        """The value at `key` in this namespace, charged nothing.

        For a trusted engine that charges its own gas for state access (the EVM prices SLOAD and
        SSTORE itself, so charging the Gusu schedule as well would bill the access twice).
        """
        full_key = self._compute_key(key)
        value = self._writes.get(full_key, MISSING)
        if value is MISSING:
            value = self._state.get(full_key)
        return value  # type: ignore[return-value]

    def set_unmetered(self, key: bytes, value: bytes | None) -> None:
        """Store `value` at `key` (None deletes it), charged nothing; the key, value and write-byte limits
        still apply. See `get_unmetered`."""
        if self.read_only:
            self._reject_write("set" if value is not None else "delete")
        full_key = self._compute_key(key)
        size = len(key)
        if value is not None:
            if type(value) is not bytes or len(value) > self._limits.state_value_bytes_max:
                self._reject_value(value)
            size += len(value)
        self._write_bytes += size
        if self._write_bytes > self._limits.transaction_write_bytes_max:
            self._reject_write_bytes()
        self._writes[full_key] = value

    def emit_encoded(self, name: str, encoded: bytes) -> None:
        """Record event `name` whose data is already canonically encoded; unmetered, limits apply.
        For a trusted engine that charges its own gas for events (the EVM's LOG opcodes)."""
        if self.read_only:
            self._reject_write("emit events")
        limits = self._limits
        if len(self._events) >= limits.events_per_transaction_max:
            self._fail(
                StateLimitError(
                    f"{self._label()}: the transaction emits more than "
                    f"events_per_transaction_max = {limits.events_per_transaction_max} events"
                )
            )
        if len(encoded) > limits.event_data_bytes_max:
            self._fail(
                StateLimitError(
                    f"{self._label()}: event {name} carries {len(encoded)} bytes of data; "
                    f"the limit is event_data_bytes_max = {limits.event_data_bytes_max}"
                )
            )
        self._events.append(Event(self.contract, name, encoded))

    # --- calls into another namespace (trusted runtime code only) ------------------------------

    def get_foreign(self, full_key: bytes) -> bytes | None:
        """The value at a *full* state key, in any namespace, as this call sees it; charged as a read.

        For the runtime's trusted contracts (the deployer reads governance's approvals and the code it
        stores); a sandboxed contract never holds a `Context`, so it cannot name another namespace.
        """
        value = self._writes.get(full_key, MISSING)
        if value is MISSING:
            value = self._state.get(full_key)
        size = len(value) if type(value) is bytes else 0
        self._charge(self._schedule.state_read + self._schedule.state_read_byte * size)
        return value  # type: ignore[return-value]

    def create_call(self, contract: str, method: str, key_prefix: bytes, *, read_only: bool) -> Context:
        """A context for a call into `contract`'s namespace made within this one.

        It shares this transaction's gas meter, limits and write budget, and sees this call's pending
        writes; what it writes and emits reaches this call only through `apply_call`, so a failed inner
        call is rolled back by dropping it.
        """
        child = Context(
            self.sender,
            self.block,
            self.transaction_id,
            contract,
            method,
            read_only or self.read_only,
            key_prefix,
            _PendingState(self._writes, self._state),
            self._meter,
            self._limits,
            self._schedule,
        )
        child._write_bytes = self._write_bytes
        child.origin = self.origin
        child.call_stack = (*self.call_stack, contract)
        child.invoker = self.invoker
        child.memory_bytes_left = self.memory_bytes_left
        return child

    def apply_call(self, child: Context) -> None:
        """Take in the writes and events of `child` (from `create_call`), which succeeded."""
        assert child.fault is None, "a failed inner call is dropped, never applied"
        self._writes.update(child._writes)
        self._events.extend(child._events)
        self._write_bytes = child._write_bytes
        if len(self._events) > self._limits.events_per_transaction_max:
            self._fail(
                StateLimitError(
                    f"{self._label()}: the transaction emits more than "
                    f"events_per_transaction_max = {self._limits.events_per_transaction_max} events"
                )
            )


class ContractHost(Protocol):
    """What the executor gives a sandboxed call so that it can reach other contracts."""

    def call(self, caller: Context, contract: str, method: str, args: bytes, read_only: bool, depth: int) -> bytes:
        """Run `contract.method` with canonical `args` inside `caller`; its canonical result.

        Raises the callee's failure; the callee's writes and events reach `caller` only if it succeeds.
        `depth` is the caller's frame depth, which the callee's frames continue.
        """
        ...

    def get_address(self, contract: str) -> Address:
        """The address contract `contract` acts as when it calls another (its callees' `sender`)."""
        ...


class _PendingState:
    """What an inner call reads: the outer call's pending writes, then the state the outer call reads."""

    __slots__ = ("_state", "_writes")

    def __init__(self, writes: dict[bytes, bytes | None], state: StateReader) -> None:
        self._writes = writes
        self._state = state

    def get(self, key: bytes) -> bytes | None:
        value = self._writes.get(key, MISSING)
        if value is MISSING:
            return self._state.get(key)
        return value  # type: ignore[return-value]
