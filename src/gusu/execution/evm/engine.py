"""Running one EVM message with py-evm's Cancun rules over an `EvmWorld`.

The engine is py-evm (docs/evm.md says why): its `CancunState` with the account database swapped
for `EvmWorld`, and its own transaction executor's steps (nonce, warm addresses, the message,
refunds, EIP-161 clearing). What differs from an Ethereum transaction: there is no fee (the gas
price is zero, so nothing is bought or refunded in balance), no signature or nonce check (the
Gusu transaction was verified and its replay guard checked before execution), and the block's
facts come from Gusu's block (see `compute_execution_context`).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth._utils.address import generate_contract_address
from eth.constants import (
    CREATE_CONTRACT_ADDRESS,
    GAS_LOGDATA,
    GAS_LOGTOPIC,
    GAS_MEMORY,
    GAS_MEMORY_QUADRATIC_DENOMINATOR,
)
from eth.exceptions import (
    FullStack,
    Halt,
    InsufficientStack,
    InvalidInstruction,
    InvalidJumpDestination,
    OutOfGas,
    Revert,
    WriteProtection,
)
from eth.vm.code_stream import CodeStream
from eth.vm.computation import NO_RESULT
from eth.vm.execution_context import ExecutionContext
from eth.vm.forks.berlin.constants import COLD_SLOAD_COST
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.constants import BLOB_TX_TYPE
from eth.vm.forks.cancun.state import CancunState, CancunTransactionExecutor
from eth.vm.forks.spurious_dragon._utils import THREE as RIPEMD160_ADDRESS
from eth.vm.forks.spurious_dragon._utils import collect_touched_accounts
from eth.vm.gas_meter import GasMeter
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory
from eth.vm.message import Message
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack
from eth_hash.auto import keccak as eth_hash_keccak
from eth_typing import Address, BlockNumber, Hash32
from eth_utils.hexadecimal import encode_hex
from eth_utils.logging import get_extended_debug_logger

from gusu.crypto.ecdsa import keccak256
from gusu.execution.context import BlockContext
from gusu.execution.evm import segments
from gusu.execution.evm.inline import (
    BINARY,
    CALLDATALOAD,
    DUP,
    ENVIRONMENT,
    JUMP,
    JUMPDEST,
    JUMPI,
    LOG,
    MLOAD,
    MSTORE,
    POP,
    PUSH,
    RETURN,
    SHA3,
    SLOAD,
    SSTORE,
    SWAP,
    UNARY,
    InlineOpcode,
    compute_sstore_gas,
    get_inline_opcodes,
)
from gusu.execution.evm.segments import NO_JUMP, SEGMENT, SEGMENT_CANDIDATE
from gusu.execution.evm.settings import EvmSettings
from gusu.execution.evm.world import BLANK_ROOT, EvmWorld
from gusu.execution.recursion import bounded_recursion

TRANSACTION_GAS = 21_000
CREATE_GAS = 32_000
DATA_ZERO_BYTE_GAS = 4
DATA_NONZERO_BYTE_GAS = 16

EVM_PYTHON_FRAMES_MAX = 13_000
"""Python frames an EVM call may nest above the frame that starts it: py-evm needs about 12 per
EVM call level to reach Ethereum's 1,024 levels. The bound is relative to where the call starts, so
a call that is too deep fails at the same EVM depth on every node, whatever the node's own stack."""


def _use_gusu_keccak() -> None:
    """py-evm hashes (SHA3 opcode, code hashes, CREATE addresses) through eth_hash, whose automatic backend
    here is pycryptodome's binding (7-27 µs a hash); Gusu's keccak256 (safe-pysha3's C code, about 1 µs)
    computes the same digests, so eth_hash is pointed at it for the whole process."""
    if eth_hash_keccak.hasher is not keccak256:
        assert keccak256(b"") == EMPTY_KECCAK256 and eth_hash_keccak(b"") == EMPTY_KECCAK256
        eth_hash_keccak.hasher = cast(Any, keccak256)  # safe-pysha3 hashes bytearray as well


EMPTY_KECCAK256 = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")

_use_gusu_keccak()


def _use_world(db: Any, state_root: bytes) -> Any:
    """py-evm builds its account database from (db, root); the world is passed as the db itself."""
    return db


CODE_ANALYSIS_ENTRIES_MAX = 1024
"""Codes whose analysis (jump destinations, decoded steps) a process keeps."""

CODE_ANALYSIS_CODE_BYTES_MAX = 4 * 1024 * 1024
"""Their total length: a decoded program holds one list slot per byte of code (8 bytes each) and the steps the
code has run, so the cache stays within a few tens of MB whatever codes a chain runs."""

OTHER = -1
"""A step's kind when py-evm's own opcode function runs it (its argument is that function, or None)."""


@dataclass(slots=True)
class CodeAnalysis:
    """What depends on a code alone, shared by every execution of it.

    `valid_positions` and `invalid_positions` are py-evm's jump-destination analysis, which it works out
    lazily per execution (about a fifth of an ERC-20 transfer). `steps[position]` is the opcode at that
    position decoded for the engine's loop, filled the first time the loop reaches it: an `InlineOpcode`
    (a PUSH's argument is the pushed bytes, padded as py-evm pads them) or an (OTHER, py-evm's function,
    0, "") step; `steps_table` is the inline table they were decoded with.
    """

    valid_positions: set[int]
    invalid_positions: set[int]
    steps: list[InlineOpcode | None]
    steps_table: dict[int, InlineOpcode] | None = None
    segment_opcodes: int = 0
    """Opcodes in the segments compiled for this code (`gusu.execution.evm.segments`)."""
    is_kept: bool = False
    """In the cache: its compiled opcodes count against SEGMENT_OPCODES_KEPT_MAX. A frame may go on with an
    analysis the cache has dropped (a call inside it brought in other codes); nothing more is compiled for it."""


SEGMENT_OPCODES_KEPT_MAX = 131_072
"""Opcodes in the compiled segments of all the codes kept (a compiled opcode is a few hundred bytes of code
object): past it, runs are no longer compiled until codes are dropped."""

_code_analyses: OrderedDict[bytes, CodeAnalysis] = OrderedDict()
_code_analyses_bytes = [0]
_segment_opcodes_kept = [0]


def get_code_analysis(code: bytes) -> CodeAnalysis:
    """The analysis of `code` this process keeps (least recently used codes dropped past the bounds above).
    Sharing it changes speed, not results: everything in it depends on the code alone."""
    analysis = _code_analyses.get(code)
    if analysis is not None:
        _code_analyses.move_to_end(code)
        return analysis
    analysis = CodeAnalysis(set(), set(), [None] * len(code), is_kept=True)
    _code_analyses[code] = analysis
    _code_analyses_bytes[0] += len(code)
    while len(_code_analyses) > 1 and (
        len(_code_analyses) > CODE_ANALYSIS_ENTRIES_MAX or _code_analyses_bytes[0] > CODE_ANALYSIS_CODE_BYTES_MAX
    ):
        dropped, dropped_analysis = _code_analyses.popitem(last=False)
        _code_analyses_bytes[0] -= len(dropped)
        forget_segments(dropped_analysis)
        dropped_analysis.is_kept = False
    return analysis


def forget_segments(analysis: CodeAnalysis) -> None:
    """Before `analysis.steps` is replaced: its compiled segments no longer count against the bound."""
    if analysis.is_kept:
        _segment_opcodes_kept[0] -= analysis.segment_opcodes
    analysis.segment_opcodes = 0


def decode_step(raw_code: bytes, position: int, inline_opcodes: dict[int, InlineOpcode], opcode_lookup: Any) -> Any:
    """The step for the opcode at `position` (within the code): see `CodeAnalysis`. The loop calls
    `decode_loop_step`, which may start a segment there."""
    opcode = raw_code[position]
    inline = inline_opcodes.get(opcode)
    if inline is None:
        return InlineOpcode(OTHER, opcode_lookup.get(opcode), 0, "")
    if inline.kind == PUSH:
        size = inline.argument
        pushed = raw_code[position + 1 : position + 1 + size]
        return inline._replace(argument=pushed.ljust(size, b"\x00"))
    return inline


def decode_loop_step(
    analysis: CodeAnalysis, raw_code: bytes, position: int, inline_opcodes: dict[int, InlineOpcode], opcode_lookup: Any
) -> Any:
    """The step the loop keeps at `position`, where it has arrived: the opcode's own step, or, where a run of stack
    opcodes may start (`gusu.execution.evm.segments`), a candidate that counts the loop's visits (a compiled
    segment at once if `SEGMENT_RUNS_BEFORE_COMPILE` is 0). Constant time: the run is looked at only when compiled.

    A run never starts at an MLOAD or MSTORE: a segment stops before one that must grow memory and the loop takes
    it, so a segment starting there would send the loop back to its own start, for ever. While a candidate's run
    goes opcode by opcode, its later positions become candidates too; compiling the run gives them their own steps
    (`compile_loop_step`), and the loop runs the segment in the very visit that compiled it."""
    step = decode_step(raw_code, position, inline_opcodes, opcode_lookup)
    if step.kind not in segments.SEGMENT_KINDS or step.kind in (MLOAD, MSTORE):
        return step
    if segments.SEGMENT_RUNS_BEFORE_COMPILE == 0:
        return compile_loop_step(analysis, raw_code, position, step, inline_opcodes, opcode_lookup)
    return InlineOpcode(segments.SEGMENT_CANDIDATE, segments.SegmentCandidate(0, step), 0, step.mnemonic)


def compile_loop_step(
    analysis: CodeAnalysis,
    raw_code: bytes,
    position: int,
    first: InlineOpcode,
    inline_opcodes: dict[int, InlineOpcode],
    opcode_lookup: Any,
) -> Any:
    """The step that replaces a candidate the loop has run often enough (`first`: the opcode's own step): its
    segment, or `first` if the run is a single opcode or the compiled opcodes are at their bound.

    The run's later positions get their own steps (unless something else is there already): a JUMPDEST, which a
    jump may reach, and the opcode after an MLOAD or MSTORE, where the loop goes on after a segment stopped to
    grow memory, stay free to start runs. Otherwise, whenever the segment cannot run whole (too little gas, too
    few items) and the loop takes its opcodes one by one, each later position would reach the threshold in turn
    and compile the rest of the run again: a run of n opcodes, n²/2 compiled (found by review)."""
    run, end = segments.find_run(
        position, len(raw_code), lambda at: decode_step(raw_code, at, inline_opcodes, opcode_lookup)
    )
    steps = analysis.steps
    for (_, previous), (later_position, later_step) in itertools.pairwise(run):
        current = steps[later_position]
        is_free = later_step.kind == JUMPDEST or previous.kind in (MLOAD, MSTORE)
        if not is_free and (current is None or current.kind == SEGMENT_CANDIDATE):
            steps[later_position] = later_step
    opcodes = [step for _, step in run]
    if len(opcodes) < 2 or not analysis.is_kept or _segment_opcodes_kept[0] + len(opcodes) > SEGMENT_OPCODES_KEPT_MAX:
        return first
    segment = segments.compile_segment(run, end)
    analysis.segment_opcodes += len(opcodes)
    _segment_opcodes_kept[0] += len(opcodes)
    return InlineOpcode(segments.SEGMENT, segment, segment.gas, first.mnemonic)


JUMPDEST_OPCODE = 0x5B
STOP_OPCODE = 0x00

SSTORE_SENTRY_GAS = 2300
"""EIP-2200: a net-metered SSTORE fails with this much gas left or less."""

STACK_ITEMS_MAX = 1024
"""The EVM's stack depth (py-evm's Stack refuses a push onto 1,024 items)."""


def _pop_two_ints(values: list[Any]) -> tuple[int, int]:
    """py-evm's ``stack_pop_ints(2)`` on the stack's list: (top, second), with its InsufficientStack message."""
    if len(values) < 2:
        raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
    top = values.pop()
    second = values.pop()
    return (
        int.from_bytes(top, "big") if type(top) is bytes else top,
        int.from_bytes(second, "big") if type(second) is bytes else second,
    )


def _grow_memory(memory: Memory, gas: int, offset: int, size: int) -> int:
    """py-evm's ``computation.extend_memory(offset, size)`` for a loop that keeps the gas left in a local: the gas
    left after it. Its steps without its calls (validation, cost function, gas meter, debug-log checks): the cost
    of memory (GAS_MEMORY per word plus words² / GAS_MEMORY_QUADRATIC_DENOMINATOR) after growth less before, charged
    with the gas meter's OutOfGas message if it rises (nothing charged if it cannot be paid), then py-evm's own
    `Memory.extend`. The offset and size are stack items, always within py-evm's uint256 checks."""
    if size:
        before_words = (len(memory._bytes) + 31) // 32
        after_words = (offset + size + 31) // 32
        fee = (
            after_words * GAS_MEMORY
            + after_words**2 // GAS_MEMORY_QUADRATIC_DENOMINATOR
            - before_words * GAS_MEMORY
            - before_words**2 // GAS_MEMORY_QUADRATIC_DENOMINATOR
        )
        if fee > 0:
            if fee > gas:
                raise OutOfGas(
                    f"Out of gas: Needed {fee} - Remaining {gas} - "
                    f"Reason: Expanding memory {before_words * 32} -> {after_words * 32}"
                )
            gas -= fee
        memory.extend(offset, size)
    return gas


class _GusuCancunComputation(CancunComputation):
    _analysis: CodeAnalysis | None = None

    def __init__(self, state: Any, message: Any, transaction_context: Any) -> None:
        super().__init__(state, message, transaction_context)
        code = self.code
        if isinstance(code, CodeStream):
            self._analysis = analysis = get_code_analysis(bytes(message.code))
            code.valid_positions, code.invalid_positions = analysis.valid_positions, analysis.invalid_positions

    @classmethod
    def apply_computation(
        cls,
        state: Any,
        message: Any,
        transaction_context: Any,
        parent_computation: Any = None,
    ) -> Any:
        """py-evm's `BaseComputation.apply_computation` step for step, with a cheaper opcode dispatch.

        py-evm runs each simple opcode (a `_FastOpcode`: a fixed gas cost, then its logic) through three
        Python calls before the logic: the opcode's ``__call__``, the computation's ``consume_gas`` and
        the gas meter's, which also checks a debug-log flag; the logic then pops and pushes through the
        stack's methods, each converting and validating. Here the fixed cost is taken from the meter
        inline, with the same check and the same OutOfGas message (a `GasMeter`'s ``consume_gas`` does
        only this; the costs are non-negative constants). The opcodes of `get_inline_opcodes` (stack,
        jumps, word arithmetic and comparisons, MLOAD, MSTORE, CALLDATALOAD, SHA3, SLOAD, SSTORE, LOG0-LOG4, CALLER,
        CALLVALUE, CALLDATASIZE, ADDRESS, ORIGIN and RETURN: every opcode of an ERC-20 transfer) then run on the
        stack's list with py-evm's values (an int where py-evm pushes an int, bytes where it pushes bytes), limits and
        error messages; memory grows by py-evm's ``extend_memory`` steps (`_grow_memory`). Other simple opcodes' logic
        is called directly, and every other opcode runs exactly as py-evm runs it. Each code's opcodes are decoded
        once per position (`CodeAnalysis`), and the program counter and gas left are kept in locals.
        tests/execution/evm/test_evm_dispatch.py and test_evm_scaffolding.py compare both loops' results.
        """
        with cls(state, message, transaction_context) as computation:
            if computation.is_origin_computation:
                computation.contracts_created = []
                if message.is_create:
                    cls.consume_initcode_gas_cost(computation)
            if parent_computation is not None:
                computation.contracts_created = parent_computation.contracts_created
            if message.is_create:
                computation.contracts_created.append(message.storage_address)
            precompile = computation.precompiles.get(message.code_address, NO_RESULT)
            if precompile is not NO_RESULT:
                if not message.is_delegation:
                    precompile(computation)
                return computation
            meter = computation._gas_meter
            assert type(meter) is GasMeter, "the inline gas charge is GasMeter.consume_gas's"
            opcode_lookup = computation.opcodes
            inline_opcodes = get_inline_opcodes(opcode_lookup)
            code = computation.code
            memory = computation._memory
            assert type(code) is CodeStream and type(computation._stack) is Stack and type(memory) is Memory, (
                "the inline opcodes' types"
            )
            raw_code = code._raw_code_bytes
            code_length = len(raw_code)
            analysis = cast(_GusuCancunComputation, computation)._analysis
            if analysis is None or len(analysis.steps) != code_length:  # a code not from message.code
                analysis = CodeAnalysis(code.valid_positions, code.invalid_positions, [None] * code_length)
            if analysis.steps_table is not inline_opcodes:
                forget_segments(analysis)
                analysis.steps = [None] * code_length
                analysis.steps_table = inline_opcodes
            steps = analysis.steps
            valid_positions = code.valid_positions
            values = computation._stack.values
            push = values.append
            pop = values.pop
            call_data = message.data_as_bytes
            assert STOP_OPCODE not in inline_opcodes, "the loop ends after the STOP past the end of the code"
            # The program counter and the gas left live in locals; `code.program_counter` and the meter's
            # `gas_remaining` are brought up to date before anything else reads or changes them (py-evm's
            # opcodes, memory growth) and when the loop ends, however it ends (the `finally` below).
            program_counter = code.program_counter
            gas = meter.gas_remaining
            # The run of the last segment that could not run whole: its positions' candidates do not count the
            # loop's steps through it (else each would compile the rest of the run in turn).
            walked_from = walked_to = 0
            try:
                while True:
                    # CodeStream.__iter__'s steps without its generator: the opcode at the program counter
                    # (which the previous opcode may have moved), and once past the end, one STOP.
                    try:
                        step = steps[program_counter]
                    except IndexError:
                        code.program_counter = program_counter
                        meter.gas_remaining = gas
                        opcode_lookup[STOP_OPCODE](computation=computation)
                        break
                    if step is None:
                        step = steps[program_counter] = decode_loop_step(
                            analysis, raw_code, program_counter, inline_opcodes, opcode_lookup
                        )
                    kind, argument, cost, mnemonic = step
                    program_counter += 1
                    if kind >= SEGMENT:
                        if kind == SEGMENT_CANDIDATE:
                            # Inside a segment's run the loop takes one by one (below) a candidate is not visited
                            # on its own: it does not count.
                            is_walked = walked_from < program_counter - 1 < walked_to
                            if not is_walked:
                                argument.runs += 1
                            if is_walked or argument.runs < segments.SEGMENT_RUNS_BEFORE_COMPILE:
                                kind, argument, cost, mnemonic = argument.first
                            else:  # compiled now, and run at once (decode_loop_step says why)
                                step = steps[program_counter - 1] = compile_loop_step(
                                    analysis,
                                    raw_code,
                                    program_counter - 1,
                                    argument.first,
                                    inline_opcodes,
                                    opcode_lookup,
                                )
                                kind, argument, cost, mnemonic = step
                        if kind == SEGMENT:
                            # The whole run at once when none of its opcodes can fail (segments' docstring);
                            # otherwise its first opcode alone, below, and the next position decides again.
                            depth = len(values)
                            if (
                                cost <= gas
                                and argument.stack_needed <= depth
                                and depth + argument.stack_growth_max <= STACK_ITEMS_MAX
                            ):
                                gas -= cost
                                destination = argument.run(values, memory._bytes, call_data)
                                if destination < 0:
                                    if destination == NO_JUMP:
                                        program_counter = argument.end
                                    else:  # stopped before a memory opcode that grows memory: the loop takes it
                                        program_counter, unspent = argument.bails[-2 - destination]
                                        gas += unspent
                                    continue
                                program_counter = destination
                                if destination >= code_length or raw_code[destination] != JUMPDEST_OPCODE:
                                    raise InvalidJumpDestination("Invalid Jump Destination")
                                if destination not in valid_positions and not code.is_valid_opcode(destination):
                                    raise InvalidInstruction("Jump resulted in invalid instruction")
                                continue
                            walked_from, walked_to = program_counter - 1, argument.end
                            kind, argument, cost, mnemonic = argument.first
                    if kind == OTHER:
                        code.program_counter = program_counter
                        meter.gas_remaining = gas
                        try:
                            if type(argument) is _FastOpcode:
                                cost = argument.gas_cost
                                if cost > gas:
                                    raise OutOfGas(
                                        f"Out of gas: Needed {cost} - Remaining {gas} - Reason: {argument.mnemonic}"
                                    )
                                meter.gas_remaining = gas - cost
                                argument.logic_fn(computation)
                            elif argument is None:
                                InvalidOpcode(raw_code[program_counter - 1])(computation=computation)
                            else:
                                argument(computation=computation)
                        finally:
                            program_counter = code.program_counter
                            gas = meter.gas_remaining
                        continue
                    if cost > gas:
                        raise OutOfGas(f"Out of gas: Needed {cost} - Remaining {gas} - Reason: {mnemonic}")
                    gas -= cost
                    # Each kind as py-evm's logic and Stack methods do it (same values, limits and errors),
                    # without their calls. A pop that leaves room makes the following push's FullStack check
                    # unreachable, so only pushes onto an unpopped stack check it.
                    if kind == PUSH:
                        program_counter += len(argument)
                        if len(values) > STACK_ITEMS_MAX - 1:
                            raise FullStack("Stack limit reached")
                        push(argument)
                    elif kind == DUP:
                        if len(values) > STACK_ITEMS_MAX - 1:
                            raise FullStack("Stack limit reached")
                        try:
                            push(values[-argument])
                        except IndexError:
                            raise InsufficientStack(f"Insufficient stack items for DUP{argument}") from None
                    elif kind == SWAP:
                        other = -argument - 1
                        try:
                            values[-1], values[other] = values[other], values[-1]
                        except IndexError:
                            raise InsufficientStack(f"Insufficient stack items for SWAP{argument}") from None
                    elif kind == POP:
                        try:
                            pop()
                        except IndexError:
                            raise InsufficientStack("Wanted 1 stack item, had none") from None
                    elif kind == JUMPDEST:
                        pass
                    elif kind == BINARY:
                        if len(values) < 2:
                            raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                        left = pop()
                        right = pop()
                        push(
                            argument(
                                int.from_bytes(left, "big") if type(left) is bytes else left,
                                int.from_bytes(right, "big") if type(right) is bytes else right,
                            )
                        )
                    elif kind in (JUMP, JUMPI):
                        if kind == JUMP:
                            if not values:
                                raise InsufficientStack("Wanted 1 stack item, had none")
                            item = pop()
                            is_jump = True
                        else:
                            if len(values) < 2:
                                raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                            item = pop()
                            condition = pop()
                            is_jump = bool(int.from_bytes(condition, "big") if type(condition) is bytes else condition)
                        if is_jump:
                            destination = int.from_bytes(item, "big") if type(item) is bytes else cast(int, item)
                            program_counter = destination
                            if destination >= code_length or raw_code[destination] != JUMPDEST_OPCODE:
                                raise InvalidJumpDestination("Invalid Jump Destination")
                            if destination not in valid_positions and not code.is_valid_opcode(destination):
                                raise InvalidInstruction("Jump resulted in invalid instruction")
                    elif kind == UNARY:
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        value = pop()
                        push(argument(int.from_bytes(value, "big") if type(value) is bytes else value))
                    elif kind == CALLDATALOAD:
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        item = pop()
                        offset = int.from_bytes(item, "big") if type(item) is bytes else cast(int, item)
                        push(call_data[offset : offset + 32].ljust(32, b"\x00").lstrip(b"\x00"))
                    elif kind == SHA3:
                        offset, size = _pop_two_ints(values)
                        # As for MSTORE below; a size of 0 neither grows memory nor costs gas.
                        if size and (offset + size + 31) & ~31 > len(memory._bytes):
                            gas = _grow_memory(memory, gas, offset, size)
                        hashed = bytes(memory._bytes[offset : offset + size])
                        cost = argument * ((len(hashed) + 31) // 32)
                        if cost > gas:
                            raise OutOfGas(f"Out of gas: Needed {cost} - Remaining {gas} - Reason: SHA3: word gas cost")
                        gas -= cost
                        push(keccak256(hashed))
                    elif kind == SLOAD:
                        # berlin's sload_eip2929: the slot's EIP-2929 cost (cold the first time in the
                        # transaction, which warms it), then the value read through the same state calls.
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        item = pop()
                        slot = int.from_bytes(item, "big") if type(item) is bytes else cast(int, item)
                        storage_address = message.storage_address
                        if state.is_storage_warm(storage_address, slot):
                            cost = argument[1]
                        else:
                            state.mark_storage_warm(storage_address, slot)
                            cost = argument[0]
                        if cost > gas:
                            raise OutOfGas(f"Out of gas: Needed {cost} - Remaining {gas} - Reason: {mnemonic}")
                        gas -= cost
                        push(state.get_storage(address=storage_address, slot=slot))
                    elif kind == SSTORE:
                        # London's sstore_eip3529 behind ensure_no_static, step for step: the static-call
                        # guard, EIP-2200's 2,300-gas sentry, the net cost and refund from the current and
                        # original values (net_sstore), the write, then EIP-2929's cold surcharge.
                        if message.is_static:
                            raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
                        if gas <= SSTORE_SENTRY_GAS:
                            raise OutOfGas("Net-metered SSTORE always fails below 2300 gas, per EIP-2200", gas)
                        slot, value = _pop_two_ints(values)
                        storage_address = message.storage_address
                        current_value = state.get_storage(address=storage_address, slot=slot)
                        original_value = state.get_storage(address=storage_address, slot=slot, from_journal=False)
                        cost, refund = compute_sstore_gas(argument, original_value, current_value, value)
                        if cost > gas:
                            raise OutOfGas(
                                f"Out of gas: Needed {cost} - Remaining {gas} - Reason: SSTORE: "
                                f"{encode_hex(storage_address)}[{slot}] -> {value} (current: {current_value} / "
                                f"original: {original_value})"
                            )
                        gas -= cost
                        if refund:
                            meter.refund_gas(refund)
                        state.set_storage(address=storage_address, slot=slot, value=value)
                        if not state.is_storage_warm(storage_address, slot):
                            state.mark_storage_warm(storage_address, slot)
                            if gas < COLD_SLOAD_COST:
                                raise OutOfGas(
                                    f"Out of gas: Needed {COLD_SLOAD_COST} - Remaining {gas} - "
                                    "Reason: Implicit SLOAD during SSTORE"
                                )
                            gas -= COLD_SLOAD_COST
                    elif kind == LOG:
                        # Byzantium's ensure_no_static around log_XX, step for step: the static-call guard, the
                        # memory offset and size, the n topics (the top first), their gas and the data's, memory
                        # growth, then the entry through the computation (which numbers it in the transaction).
                        if message.is_static:
                            raise WriteProtection("Cannot modify state while inside of a STATICCALL context")
                        offset, size = _pop_two_ints(values)
                        if argument == 1:
                            if not values:
                                raise InsufficientStack("Wanted 1 stack item, had none")
                            item = pop()
                            topics: tuple[int, ...] = (
                                int.from_bytes(item, "big") if type(item) is bytes else cast(int, item),
                            )
                        elif argument:
                            if argument > len(values):
                                raise InsufficientStack(f"Wanted {argument} stack items, only had {len(values)}")
                            topics = tuple(
                                int.from_bytes(item, "big") if type(item) is bytes else cast(int, item)
                                for item in reversed(values[-argument:])
                            )
                            del values[-argument:]
                        else:
                            topics = ()
                        cost = GAS_LOGDATA * size + GAS_LOGTOPIC * argument
                        if cost > gas:
                            raise OutOfGas(
                                f"Out of gas: Needed {cost} - Remaining {gas} - Reason: Log topic and data gas cost"
                            )
                        gas -= cost
                        if size and (offset + size + 31) & ~31 > len(memory._bytes):
                            gas = _grow_memory(memory, gas, offset, size)
                        computation.add_log_entry(
                            account=message.storage_address,
                            topics=topics,
                            data=bytes(memory._bytes[offset : offset + size]),
                        )
                    elif kind == ENVIRONMENT:
                        # py-evm's caller, callvalue, calldatasize, address and origin: the value, then the push
                        # with Stack's FullStack check.
                        item = argument(computation)
                        if len(values) > STACK_ITEMS_MAX - 1:
                            raise FullStack("Stack limit reached")
                        push(item)
                    elif kind == RETURN:
                        # py-evm's return_op: the offset and size, memory growth (as for SHA3), the output, Halt.
                        offset, size = _pop_two_ints(values)
                        if size and (offset + size + 31) & ~31 > len(memory._bytes):
                            gas = _grow_memory(memory, gas, offset, size)
                        computation.output = bytes(memory._bytes[offset : offset + size])
                        raise Halt("RETURN")
                    else:  # MSTORE, MLOAD
                        if not values:
                            raise InsufficientStack("Wanted 1 stack item, had none")
                        item = pop()
                        offset = int.from_bytes(item, "big") if type(item) is bytes else cast(int, item)
                        if kind == MSTORE:
                            if not values:
                                raise InsufficientStack("Wanted 1 stack item, had none")
                            item = pop()
                            # py-evm's to_bytes then rjust: an int's 32 big-endian bytes, bytes padded on the left.
                            word = item.rjust(32, b"\x00") if isinstance(item, bytes) else item.to_bytes(32, "big")
                        # Memory below ceil32(start + 32) needs no growth and costs nothing more (py-evm's
                        # extend_memory then charges 0 and its Memory.extend returns at once).
                        if (offset + 63) & ~31 > len(memory._bytes):
                            gas = _grow_memory(memory, gas, offset, 32)
                        if kind == MSTORE:
                            memory._bytes[offset : offset + 32] = word
                        else:
                            push(bytes(memory._bytes[offset : offset + 32]))
            except Halt:
                pass
            finally:
                code.program_counter = program_counter
                meter.gas_remaining = gas
        return computation


class _GusuCancunTransactionExecutor(CancunTransactionExecutor):
    def build_evm_message(self, transaction: Any) -> Any:
        """py-evm's `CancunTransactionExecutor.build_evm_message` step for step without its debug-log line,
        whose message py-evm builds on every transaction whether or not anything is logged: the hex of the
        whole contract code, a keccak of the call data and the transaction's repr (about a tenth of an ERC-20
        transfer's executor time). The state it changes and the message it returns are the same."""
        state = self.vm_state
        london_gas_fee = transaction.gas * state.get_gas_price(transaction)
        blob_data_fee = self.calc_data_fee(transaction) if transaction.type_id == BLOB_TX_TYPE else 0
        state.delta_balance(transaction.sender, -1 * (london_gas_fee + blob_data_fee))
        state.increment_nonce(transaction.sender)
        msg_refund = self.calc_message_refund(transaction)
        message_gas = transaction.gas - transaction.intrinsic_gas
        if transaction.to == CREATE_CONTRACT_ADDRESS:
            contract_address = generate_contract_address(transaction.sender, state.get_nonce(transaction.sender) - 1)
            data = b""
            code = transaction.data
            is_delegation = False
        else:
            contract_address = None
            data = transaction.data
            code, delegation_address = self.get_code_at_address(transaction.to)
            is_delegation = delegation_address is not None
        return Message(
            gas=message_gas,
            to=transaction.to,
            sender=transaction.sender,
            value=transaction.value,
            data=data,
            code=code,
            create_address=cast(Any, contract_address),  # py-evm's own default is None too
            refund=msg_refund,
            is_delegation=is_delegation,
        )

    def finalize_computation(self, transaction: Any, computation: Any) -> Any:
        """py-evm's Cancun finalisation (Frontier's `finalize_computation`, then Spurious Dragon's EIP-161
        clearing) step for step, with the same state calls in the same order, without what it spends on nothing:
        its debug-log lines (the hex of the coinbase is built on every transaction whether or not anything is
        logged) and a second transaction context, built and validated only to read its gas price (about a tenth
        of a transfer's executor time in all). tests/execution/evm/test_evm_scaffolding.py compares it with
        py-evm's own."""
        state = self.vm_state
        # build_computation built the context with the same get_transaction_context(transaction): the same price.
        gas_price = computation.transaction_context.gas_price
        gas_remaining = computation.get_gas_remaining()
        gas_used = transaction.gas - gas_remaining
        gas_refund = self.calculate_gas_refund(computation, gas_used)
        data_floor_gas = computation.data_floor_gas = self.calc_data_floor_gas(transaction, gas_used, gas_refund)
        gas_refund_amount = (gas_refund + gas_remaining - data_floor_gas) * gas_price
        if gas_refund_amount:
            state.delta_balance(computation.msg.sender, gas_refund_amount)
        # EIP-161: the coinbase is touched even when the fee is zero (py-evm's comment on the same call).
        transaction_fee = (transaction.gas - gas_remaining - gas_refund + data_floor_gas) * state.get_tip(transaction)
        state.delta_balance(state.coinbase, transaction_fee)
        for account in computation.get_accounts_for_deletion():
            state.delete_account(account)
        for account in _collect_touched_accounts(computation):
            if state.account_exists(account) and state.account_is_empty(account):
                state.delete_account(account)
        return computation


def _collect_touched_accounts(computation: Any) -> set[Address]:
    """Spurious Dragon's `collect_touched_accounts(computation)`: the same set, built in the same order (so
    iterated in the same order). For a computation that called nothing and destroyed nothing (every ERC-20
    transfer) it is the coinbase and the account called, skipped after an error unless it is the RIPEMD-160
    precompile (py-evm's special case for geth's and parity's bug); otherwise py-evm's own function."""
    if computation.children or computation.beneficiaries:
        return collect_touched_accounts(computation)
    to = computation.msg.to
    if to == CREATE_CONTRACT_ADDRESS or (computation.is_error and to != RIPEMD160_ADDRESS):
        return {computation.state.coinbase}
    return {computation.state.coinbase, to}


_STATE_LOGGER = get_extended_debug_logger("eth.vm.state._GusuCancunState")


class _GusuCancunState(CancunState):
    account_db_class = _use_world  # type: ignore[assignment]
    computation_class = _GusuCancunComputation
    transaction_executor_class = _GusuCancunTransactionExecutor

    @property
    def logger(self) -> Any:
        """The logger py-evm's property looks up (by this class's name) on every use, looked up once."""
        return _STATE_LOGGER

    def set_system_contracts(self) -> None:
        pass  # Gusu installs no system contracts (no beacon roots: there is no beacon chain)


class _Transaction:
    """The fields of an Ethereum transaction py-evm's executor reads (see the module docstring)."""

    __slots__ = (
        "access_list",
        "data",
        "gas",
        "gas_price",
        "intrinsic_gas",
        "max_fee_per_gas",
        "max_priority_fee_per_gas",
        "sender",
        "to",
        "value",
    )

    type_id = None
    blob_versioned_hashes: tuple[bytes, ...] = ()
    nonce = 0

    def __init__(
        self,
        sender: bytes,
        to: bytes,
        value: int,
        data: bytes,
        gas: int,
        *,
        gas_price: int = 0,
        access_list: tuple[tuple[bytes, tuple[int, ...]], ...] = (),
        intrinsic_gas: int | None = None,
    ) -> None:
        self.sender = sender
        self.to = to
        self.value = value
        self.data = data
        self.gas = gas
        # Base fee = gas price and no tip: py-evm buys gas_limit x price, refunds what is unused and
        # pays the coinbase nothing, so the fee is burned (docs/evm.md, fee policy).
        self.gas_price = self.max_fee_per_gas = gas_price
        self.max_priority_fee_per_gas = 0
        self.access_list = access_list
        self.intrinsic_gas = (
            compute_intrinsic_gas(data, is_create=to == CREATE_CONTRACT_ADDRESS)
            if intrinsic_gas is None
            else intrinsic_gas
        )


def compute_intrinsic_gas(data: bytes, *, is_create: bool) -> int:
    """Ethereum's intrinsic gas of a transaction without an access list (EIP-2028 data costs)."""
    zero_bytes = data.count(0)
    return (
        TRANSACTION_GAS
        + (CREATE_GAS if is_create else 0)
        + DATA_ZERO_BYTE_GAS * zero_bytes
        + DATA_NONZERO_BYTE_GAS * (len(data) - zero_bytes)
    )


@dataclass(frozen=True, slots=True)
class EvmLog:
    address: bytes
    topics: tuple[bytes, ...]
    """32 bytes each."""
    data: bytes


@dataclass(frozen=True, slots=True)
class EvmOutcome:
    is_success: bool
    output: bytes
    """The return data, or the revert data of a revert."""
    gas_used: int
    """EVM gas, after refunds, intrinsic gas included (Ethereum's receipt gasUsed)."""
    logs: tuple[EvmLog, ...]
    created_address: bytes | None
    """The new contract's address, for a successful creation."""
    is_revert: bool
    is_out_of_gas: bool
    error: str
    """Why it failed ("" on success)."""


def compute_execution_context(block: BlockContext, settings: EvmSettings, gas_price: int = 0) -> ExecutionContext:
    """The block as the EVM sees it: NUMBER = height, TIMESTAMP = seconds, COINBASE = proposer,
    GASLIMIT = the per-transaction gas limit, PREVRANDAO = 0, BASEFEE = `gas_price` (the chain's
    evm_gas_price for an Ethereum transaction, 0 for a Gusu one), BLOBBASEFEE = minimum,
    BLOCKHASH = 0 (Gusu's block facts carry no ancestor hashes yet)."""
    return ExecutionContext(
        coinbase=Address(bytes(block.proposer)),
        timestamp=block.timestamp_ms // 1000,
        block_number=BlockNumber(int(block.height)),
        difficulty=0,
        mix_hash=Hash32(bytes(32)),
        gas_limit=settings.evm_gas_per_transaction_max,
        prev_hashes=(),
        chain_id=settings.evm_chain_id,
        base_fee_per_gas=gas_price,
        excess_blob_gas=0,
    )


_last_execution_context: list[tuple[BlockContext, EvmSettings, int, ExecutionContext]] = []


def get_execution_context(block: BlockContext, settings: EvmSettings, gas_price: int) -> ExecutionContext:
    """`compute_execution_context(block, settings, gas_price)`, kept for the last block, settings and price asked
    for, since a block's transactions all ask for the same one (building it is about 1 % of a transfer). Sharing it
    changes nothing: py-evm's ExecutionContext has no setters, and the block and settings are frozen dataclasses of
    immutable values; they are held with the context, so `is` cannot match another object at a reused address."""
    if _last_execution_context:
        cached_block, cached_settings, cached_gas_price, context = _last_execution_context[0]
        if cached_block is block and cached_settings is settings and cached_gas_price == gas_price:
            return context
    context = compute_execution_context(block, settings, gas_price)
    _last_execution_context[:] = [(block, settings, gas_price, context)]
    return context


def run_message(
    world: EvmWorld,
    block: BlockContext,
    settings: EvmSettings,
    sender: bytes,
    to: bytes | None,
    data: bytes,
    value: int,
    gas: int,
    *,
    gas_price: int = 0,
    access_list: tuple[tuple[bytes, tuple[int, ...]], ...] = (),
    intrinsic_gas: int | None = None,
) -> EvmOutcome:
    """Run a call to `to` (or a creation with init code `data` when `to` is None) as an Ethereum
    transaction would, with `gas` as its gas limit; the caller checked that `gas` covers the intrinsic gas
    and that the sender can pay ``gas * gas_price + value``.

    For an Ethereum transaction, `gas_price` is the chain's price (bought, refunded and burned as
    described in `_Transaction`), `access_list` is pre-warmed (EIP-2930) and `intrinsic_gas` its
    intrinsic gas (access list and init-code words included). py-evm increments the sender's nonce
    and buys the gas before the message runs and reverts only the message on failure, so after a
    failed message the world holds exactly the nonce and the fee, as Ethereum has it."""
    # The world and the transaction implement what py-evm reads of its database and transaction
    # interfaces, not the whole of them (no trie, no signature): hence the casts.
    state = _GusuCancunState(cast(Any, world), get_execution_context(block, settings, gas_price), Hash32(BLANK_ROOT))
    transaction = cast(
        Any,
        _Transaction(
            sender,
            CREATE_CONTRACT_ADDRESS if to is None else to,
            value,
            data,
            gas,
            gas_price=gas_price,
            access_list=access_list,
            intrinsic_gas=intrinsic_gas,
        ),
    )
    executor = state.get_transaction_executor()
    # The recursion limit is the interpreter's, not the thread's (gusu.execution.recursion).
    with bounded_recursion(EVM_PYTHON_FRAMES_MAX):
        message = executor.build_evm_message(transaction)
        computation = executor.build_computation(message, transaction)
        executor.finalize_computation(transaction, computation)
    state.clear_transient_storage()
    gas_used = (
        gas
        - computation.get_gas_remaining()
        - min(computation.get_gas_refund(), (gas - computation.get_gas_remaining()) // 5)
    )
    if computation.is_success:
        logs = _compute_logs(computation.get_log_entries())
        created = bytes(message.storage_address) if to is None else None
        return EvmOutcome(True, bytes(computation.output), gas_used, logs, created, False, False, "")
    error = computation.error
    return EvmOutcome(
        False,
        bytes(computation.output) if isinstance(error, Revert) else b"",
        gas_used,
        (),
        None,
        isinstance(error, Revert),
        isinstance(error, OutOfGas),
        type(error).__name__ + (f": {error}" if str(error) else ""),
    )


def _compute_logs(entries: Sequence[tuple[bytes, Sequence[int], bytes]]) -> tuple[EvmLog, ...]:
    return tuple(
        EvmLog(bytes(address), tuple(topic.to_bytes(32, "big") for topic in topics), bytes(data))
        for address, topics, data in entries
    )
