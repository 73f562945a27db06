"""Which of py-evm's opcodes the engine's loop runs inline, and the word arithmetic it runs them with.

`gusu.execution.evm.engine`'s loop looks each opcode up once in `get_inline_opcodes`' table and, for
the opcodes found there, charges the fixed gas and does the work on the stack's list itself instead of
through py-evm's chain of calls (opcode, computation, gas meter, stack, validation). An opcode is in the
table only if py-evm implements it with one of the logic functions named here (found by identity), so an
opcode that py-evm or a later fork implements differently simply runs as py-evm runs it.

The formulas are py-evm's (eth.vm.logic.arithmetic and .comparison) written on two or one plain
integers; tests/execution/evm/test_evm_dispatch.py compares them with py-evm's own functions on edge
values and whole programs with py-evm's loop (test_evm_scaffolding.py does the same for the context
opcodes and RETURN).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import Any, NamedTuple

from eth.constants import GAS_SHA3WORD
from eth.vm.forks.berlin import logic as berlin_logic
from eth.vm.forks.berlin.constants import COLD_SLOAD_COST, WARM_STORAGE_READ_COST
from eth.vm.logic import arithmetic, comparison, context, flow, logging, memory, sha3, system
from eth.vm.logic import duplication as duplication_logic
from eth.vm.logic import stack as stack_logic
from eth.vm.logic import swap as swap_logic
from eth.vm.logic.storage import NetSStoreGasSchedule
from eth.vm.opcode import _FastOpcode

WORD_MAX = 2**256 - 1
SIGNED_WORD_MAX = 2**255 - 1
WORD_CEILING = 2**256

# The kinds, roughly in the order of how often an ERC-20 transfer runs them (the loop tests them in turn).
PUSH, DUP, SWAP, POP, JUMPDEST, JUMP, JUMPI, BINARY, UNARY, CALLDATALOAD, SHA3, SLOAD, MSTORE, MLOAD, SSTORE, LOG = (
    range(16)
)
# Negative, because gusu.execution.evm.segments numbers its own step kinds after the sixteen above (the loop tells
# them apart with one `kind >= SEGMENT` test) and the engine's OTHER (py-evm's function runs the opcode) is -1.
ENVIRONMENT, RETURN = -2, -3


class InlineOpcode(NamedTuple):
    kind: int
    argument: Any
    """PUSHn's n, DUPn's and SWAPn's position, a BINARY or UNARY opcode's formula, SHA3's gas per word of
    input, SLOAD's (cold, warm) gas (EIP-2929), SSTORE's net gas schedule (EIP-2200 with EIP-2929's and
    EIP-3529's figures), LOGn's n, an ENVIRONMENT opcode's reader; otherwise None."""
    gas_cost: int
    mnemonic: str


def _to_signed(value: int) -> int:
    return value if value <= SIGNED_WORD_MAX else value - WORD_CEILING


# Binary formulas take (top, second): py-evm's stack_pop_ints(2) gives the top first.
def compute_add(left: int, right: int) -> int:
    return (left + right) & WORD_MAX


def compute_sub(left: int, right: int) -> int:
    return (left - right) & WORD_MAX


def compute_mul(left: int, right: int) -> int:
    return (left * right) & WORD_MAX


def compute_div(numerator: int, denominator: int) -> int:
    return 0 if denominator == 0 else (numerator // denominator) & WORD_MAX


def compute_mod(value: int, modulus: int) -> int:
    return 0 if modulus == 0 else value % modulus


def compute_lt(left: int, right: int) -> int:
    return 1 if left < right else 0


def compute_gt(left: int, right: int) -> int:
    return 1 if left > right else 0


def compute_slt(left: int, right: int) -> int:
    return 1 if _to_signed(left) < _to_signed(right) else 0


def compute_sgt(left: int, right: int) -> int:
    return 1 if _to_signed(left) > _to_signed(right) else 0


def compute_eq(left: int, right: int) -> int:
    return 1 if left == right else 0


def compute_and(left: int, right: int) -> int:
    return left & right


def compute_or(left: int, right: int) -> int:
    return left | right


def compute_xor(left: int, right: int) -> int:
    return left ^ right


def compute_byte(position: int, value: int) -> int:
    return 0 if position >= 32 else (value >> (8 * (31 - position))) & 0xFF


def compute_shl(shift: int, value: int) -> int:
    return 0 if shift >= 256 else (value << shift) & WORD_MAX


def compute_shr(shift: int, value: int) -> int:
    return 0 if shift >= 256 else (value >> shift) & WORD_MAX


def compute_iszero(value: int) -> int:
    return 1 if value == 0 else 0


def compute_not(value: int) -> int:
    return WORD_MAX - value


# What py-evm's context opcodes push, read from the computation as they read it: the message's sender, value,
# call data's length and storage address, the transaction's origin. Each pushes an int where py-evm's function
# calls stack_push_int, bytes where it calls stack_push_bytes (whose checks of the type and range cannot fail on
# these values: py-evm's Message and transaction context validated them when they were made).
ENVIRONMENT_READERS: dict[Callable[..., None], Callable[[Any], int | bytes]] = {
    context.caller: attrgetter("msg.sender"),
    context.callvalue: attrgetter("msg.value"),
    context.calldatasize: lambda computation: len(computation.msg.data),
    context.address: attrgetter("msg.storage_address"),
    context.origin: attrgetter("transaction_context.origin"),
}
"""py-evm's logic function of each ENVIRONMENT opcode, and what it pushes."""

BINARY_FORMULAS: dict[Callable[..., None], Callable[[int, int], int]] = {
    arithmetic.add: compute_add,
    arithmetic.sub: compute_sub,
    arithmetic.mul: compute_mul,
    arithmetic.div: compute_div,
    arithmetic.mod: compute_mod,
    arithmetic.shl: compute_shl,
    arithmetic.shr: compute_shr,
    comparison.lt: compute_lt,
    comparison.gt: compute_gt,
    comparison.slt: compute_slt,
    comparison.sgt: compute_sgt,
    comparison.eq: compute_eq,
    comparison.and_op: compute_and,
    comparison.or_op: compute_or,
    comparison.xor: compute_xor,
    comparison.byte_op: compute_byte,
}
"""py-evm's logic function of each binary opcode run inline, and its formula."""

UNARY_FORMULAS: dict[Callable[..., None], Callable[[int], int]] = {
    comparison.iszero: compute_iszero,
    comparison.not_op: compute_not,
}


def _compute_kinds() -> dict[Callable[..., None], tuple[int, Any]]:
    kinds: dict[Callable[..., None], tuple[int, Any]] = {stack_logic.pop: (POP, None)}
    for size in range(33):
        kinds[getattr(stack_logic, f"push{size}")] = (PUSH, size)
    for position in range(1, 17):
        kinds[getattr(duplication_logic, f"dup{position}")] = (DUP, position)
        kinds[getattr(swap_logic, f"swap{position}")] = (SWAP, position)
    kinds.update({function: (BINARY, formula) for function, formula in BINARY_FORMULAS.items()})
    kinds.update({function: (UNARY, formula) for function, formula in UNARY_FORMULAS.items()})
    kinds[flow.jumpdest] = (JUMPDEST, None)
    kinds[flow.jump] = (JUMP, None)
    kinds[flow.jumpi] = (JUMPI, None)
    kinds[memory.mstore] = (MSTORE, None)
    kinds[memory.mload] = (MLOAD, None)
    kinds[context.calldataload] = (CALLDATALOAD, None)
    kinds[sha3.sha3] = (SHA3, GAS_SHA3WORD)
    kinds.update({function: (ENVIRONMENT, reader) for function, reader in ENVIRONMENT_READERS.items()})
    kinds[system.return_op] = (RETURN, None)
    kinds[berlin_logic.sload_eip2929] = (SLOAD, (COLD_SLOAD_COST, WARM_STORAGE_READ_COST))
    return kinds


_KINDS = _compute_kinds()

_inline_opcodes_by_table: dict[int, tuple[Any, dict[int, InlineOpcode]]] = {}


def compute_sstore_gas(
    schedule: NetSStoreGasSchedule, original_value: int, current_value: int, value: int
) -> tuple[int, int]:
    """An SSTORE's (gas cost, refund) by EIP-2200's net metering, as py-evm's `net_sstore` computes them: the
    refund may be negative (taking back a refund an earlier SSTORE of the transaction earned)."""
    if current_value == value:
        return schedule.sload_gas, 0
    if original_value == current_value:
        if original_value == 0:
            return schedule.sstore_set_gas, 0
        return schedule.sstore_reset_gas, schedule.sstore_clears_schedule if value == 0 else 0
    refund = 0
    if original_value != 0:
        if current_value == 0:
            refund -= schedule.sstore_clears_schedule
        if value == 0:
            refund += schedule.sstore_clears_schedule
    if original_value == value:
        if original_value == 0:
            refund += schedule.sstore_set_gas - schedule.sload_gas
        else:
            refund += schedule.sstore_reset_gas - schedule.sload_gas
    return schedule.sload_gas, refund


def _get_static_guarded(logic: Callable[..., Any]) -> Any:
    """What `logic` runs if it is py-evm's static-call guard (`ensure_no_static(function)`), else None."""
    if getattr(logic, "__qualname__", None) != "ensure_no_static.<locals>.inner":
        return None
    return getattr(logic, "__wrapped__", None)


def get_sstore_schedule(logic: Callable[..., Any]) -> NetSStoreGasSchedule | None:
    """The net gas schedule of `logic` if it is py-evm's EIP-2929 SSTORE behind its static-call guard
    (`ensure_no_static(partial(sstore_eip2929_generic, schedule))`, what Berlin to Cancun run), else None."""
    wrapped = _get_static_guarded(logic)
    if not isinstance(wrapped, partial):
        return None
    if wrapped.func is not berlin_logic.sstore_eip2929_generic or wrapped.keywords or len(wrapped.args) != 1:
        return None
    schedule = wrapped.args[0]
    return schedule if isinstance(schedule, NetSStoreGasSchedule) else None


def get_inline_opcodes(opcode_table: Any) -> dict[int, InlineOpcode]:
    """The opcodes of `opcode_table` the engine runs inline: py-evm's simple opcodes (`_FastOpcode`, a fixed
    gas cost then the logic) whose logic function is one of those above, with that fixed cost."""
    cached = _inline_opcodes_by_table.get(id(opcode_table))
    if cached is not None and cached[0] is opcode_table:
        return cached[1]
    found: dict[int, InlineOpcode] = {}
    for opcode, function in opcode_table.items():
        if type(function) is not _FastOpcode:
            continue
        if function.logic_fn in _KINDS:
            kind, argument = _KINDS[function.logic_fn]
            found[opcode] = InlineOpcode(kind, argument, function.gas_cost, function.mnemonic)
        else:
            schedule = get_sstore_schedule(function.logic_fn)
            if schedule is not None:
                found[opcode] = InlineOpcode(SSTORE, schedule, function.gas_cost, function.mnemonic)
            topic_count = get_log_topic_count(function.logic_fn)
            if topic_count is not None:
                found[opcode] = InlineOpcode(LOG, topic_count, function.gas_cost, function.mnemonic)
    # The table is kept with its entry so that its id is not reused by another table while cached.
    _inline_opcodes_by_table[id(opcode_table)] = (opcode_table, found)
    return found


_LOG_TOPIC_COUNTS = {logging.log0: 0, logging.log1: 1, logging.log2: 2, logging.log3: 3, logging.log4: 4}


def get_log_topic_count(logic: Callable[..., Any]) -> int | None:
    """n if `logic` is py-evm's LOGn behind its static-call guard (`ensure_no_static(logn)`, Byzantium to
    Cancun), else None."""
    wrapped = _get_static_guarded(logic)
    return None if wrapped is None else _LOG_TOPIC_COUNTS.get(wrapped)
