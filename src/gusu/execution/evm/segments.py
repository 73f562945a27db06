"""Straight runs of stack opcodes compiled into one Python function each: the engine's fast path.

An ERC-20 transfer is about 290 opcodes, and most of them are runs of PUSH, DUP, SWAP, POP, JUMPDEST and
word arithmetic, often ending in a JUMP or JUMPI: a Solidity function's stack shuffling. The engine's loop
(`gusu.execution.evm.engine`) pays for each of them a list index, a tuple unpack, a gas check and a chain of
kind tests before the work itself. A *segment* is such a run compiled once into a Python function over the
stack's list: the run is executed symbolically at compile time (which item is where, which results are known
constants), so the function only loads the items the run reads, computes what it must, and writes the stack's
new top in one slice assignment; PUSH arguments consumed by arithmetic are converted to integers at compile
time, and arithmetic on two known values is folded.

Invariants (tests/execution/evm/test_evm_segments.py checks them against py-evm's own loop):

* A segment runs only when none of its opcodes can fail: the gas left covers all their fixed costs, the
  stack holds the items the run reads (`stack_needed`), and no push in it can overflow the stack
  (`stack_growth_max`). Otherwise the loop runs the segment's first opcode alone (`first`), and the next
  position's own step decides again, so a failure happens at the same opcode, with the same gas, stack,
  program counter and message as without segments.
* The stack a segment leaves is the one the opcodes leave one by one, types included: a PUSH leaves its
  bytes, arithmetic leaves an int, a DUP leaves the very item it copied.
* A terminal JUMP or JUMPI is part of the run: the function returns the destination (or -1 to fall through),
  and the loop checks it exactly as it checks a lone jump.
* The opcodes' gas is charged as a sum; no opcode in a segment has a cost that depends on anything but the
  opcode, so the sum is what the opcodes charge one by one.

Compiling costs far more than running a run once, so the engine compiles a run only after it has run
`SEGMENT_RUNS_BEFORE_COMPILE` times through the loop, and keeps the compiled opcodes within a bound
(`gusu.execution.evm.engine`): a contract cannot make a node spend more on compiling than it paid for in
gas by running the same code. Nothing in here is a consensus rule: a node that never compiles computes the
same results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gusu.execution.evm.inline import (
    BINARY,
    CALLDATALOAD,
    DUP,
    JUMP,
    JUMPDEST,
    JUMPI,
    MLOAD,
    MSTORE,
    POP,
    PUSH,
    SWAP,
    UNARY,
    WORD_MAX,
    InlineOpcode,
    compute_add,
    compute_and,
    compute_eq,
    compute_gt,
    compute_iszero,
    compute_lt,
    compute_mul,
    compute_not,
    compute_or,
    compute_shl,
    compute_shr,
    compute_sub,
    compute_xor,
)

SEGMENT, SEGMENT_CANDIDATE = 16, 17
"""Step kinds (after `gusu.execution.evm.inline`'s): a compiled segment, and a run not compiled yet."""

SEGMENT_KINDS = frozenset({PUSH, DUP, SWAP, POP, JUMPDEST, BINARY, UNARY, CALLDATALOAD, MLOAD, MSTORE})
"""Opcode kinds a segment is made of: fixed gas, and work on the stack, the call data and memory that is
already there (a segment stops before MLOAD or MSTORE where memory must grow: `Segment.bails`)."""

SEGMENT_OPCODES_MAX = 256
"""Opcodes in one segment (a longer run is cut): bounds the source compiled at once."""

SEGMENT_RUNS_BEFORE_COMPILE = 64
"""Times the loop runs a run opcode by opcode before compiling it. Compiling takes about 30 times as long
per opcode as running one, so at 64 runs the compiling stays below the cost of those runs."""

NO_JUMP = -1

BINARY_EXPRESSIONS: dict[Callable[[int, int], int], str] = {
    compute_add: "({0} + {1}) & M",
    compute_sub: "({0} - {1}) & M",
    compute_mul: "({0} * {1}) & M",
    compute_lt: "1 if {0} < {1} else 0",
    compute_gt: "1 if {0} > {1} else 0",
    compute_eq: "1 if {0} == {1} else 0",
    compute_and: "{0} & {1}",
    compute_or: "{0} | {1}",
    compute_xor: "{0} ^ {1}",
    compute_shl: "0 if {0} >= 256 else ({1} << {0}) & M",
    compute_shr: "0 if {0} >= 256 else ({1} >> {0}) & M",
}
"""Binary formulas written inline, (top, second) as {0}, {1}; the others are called. Each is its formula's
body (gusu.execution.evm.inline), and a test runs both on edge values."""

UNARY_EXPRESSIONS: dict[Callable[[int], int], str] = {
    compute_iszero: "1 if {0} == 0 else 0",
    compute_not: "M - {0}",
}


@dataclass(slots=True)
class Segment:
    """A compiled run: `run(values, memory, call_data)` does its opcodes' work on the stack's list, the
    memory's bytes and the call data, and returns the jump's destination, NO_JUMP when the loop goes on at
    `end`, or -2 - k when it stopped before a memory opcode that must grow memory (`bails[k]`)."""

    run: Callable[[list[Any], bytearray, bytes], int]
    gas: int
    """The fixed gas of all its opcodes."""
    stack_needed: int
    stack_growth_max: int
    end: int
    bails: tuple[tuple[int, int], ...]
    """For a result of -2 - k: the position the loop goes on at and the gas it gets back
    (`_Compiler.bail_unless_in_memory`)."""
    first: InlineOpcode
    opcode_count: int
    source: str


@dataclass(slots=True)
class SegmentCandidate:
    """A run the loop has met `runs` times; its first opcode's own step is `first`."""

    runs: int
    first: InlineOpcode


def find_run(
    position: int, code_length: int, decode: Callable[[int], InlineOpcode]
) -> tuple[list[tuple[int, InlineOpcode]], int]:
    """The opcodes of the run that starts at `position`, each with its position (`decode` gives the step at
    a position), and the position after the run. The run stops before the first opcode that is not of
    `SEGMENT_KINDS`, after a JUMP or JUMPI, at the end of the code, or at `SEGMENT_OPCODES_MAX` opcodes."""
    opcodes: list[tuple[int, InlineOpcode]] = []
    while position < code_length and len(opcodes) < SEGMENT_OPCODES_MAX:
        step = decode(position)
        if step.kind not in SEGMENT_KINDS and step.kind not in (JUMP, JUMPI):
            break
        opcodes.append((position, step))
        position += 1 + (len(step.argument) if step.kind == PUSH else 0)
        if step.kind in (JUMP, JUMPI):
            break
    return opcodes, position


class _Compiler:
    """Runs the opcodes on a symbolic stack and writes the function's source.

    An entry of the symbolic stack is ("o", depth) for the item at that depth of the stack the run started
    with (1 is the top), ("c", index) for a PUSH's bytes, ("n", value) for an int known when compiling,
    ("t", index) for an int computed by the function, or ("b", index) for bytes it read (MLOAD,
    CALLDATALOAD)."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, int]] = []
        self.depth_read = 0  # the deepest item of the starting stack the run reaches
        self.growth_max = 0
        self.lines: list[str] = []
        self.loaded: set[int] = set()
        self.converted: set[str] = set()
        self.constants: list[bytes] = []
        self.functions: list[Callable[..., int]] = []
        self.temporaries = 0
        self.bails: list[tuple[int, int]] = []  # (position, gas of the opcodes from there to the end)

    def reach(self, count: int) -> None:
        while len(self.stack) < count:
            self.depth_read += 1
            self.stack.insert(0, ("o", self.depth_read))

    def push(self, entry: tuple[str, int]) -> None:
        self.stack.append(entry)
        self.growth_max = max(self.growth_max, len(self.stack) - self.depth_read)

    def load(self, depth: int) -> str:
        if depth not in self.loaded:
            self.loaded.add(depth)
            self.lines.append(f"o{depth} = values[-{depth}]")
        return f"o{depth}"

    def constant(self, value: bytes) -> str:
        self.constants.append(value)
        return f"c{len(self.constants) - 1}"

    def new_index(self) -> int:
        """A number for a name the function assigns once (t1, b2, ...)."""
        self.temporaries += 1
        return self.temporaries

    def known(self, entry: tuple[str, int]) -> int | None:
        tag, payload = entry
        if tag == "c":
            return int.from_bytes(self.constants[payload], "big")
        if tag == "n":
            return payload
        return None

    def as_int(self, entry: tuple[str, int]) -> str:
        tag, payload = entry
        value = self.known(entry)
        if value is not None:
            return repr(value)
        if tag == "t":
            return f"t{payload}"
        name = self.as_object(entry)  # o<depth> (bytes or an int) or b<index> (read bytes)
        converted = "i" + name
        if converted not in self.converted:
            self.converted.add(converted)
            if tag == "b":
                self.lines.append(f'{converted} = from_bytes({name}, "big")')
            else:
                self.lines.append(f'{converted} = from_bytes({name}, "big") if type({name}) is bytes else {name}')
        return converted

    def as_object(self, entry: tuple[str, int]) -> str:
        tag, payload = entry
        if tag == "o":
            return self.load(payload)
        if tag == "n":
            return repr(payload)
        return f"{tag}{payload}"

    def as_word(self, entry: tuple[str, int]) -> str:
        """An expression of the 32 bytes MSTORE writes for `entry`: bytes padded on the left, an int's 32
        big-endian bytes (as the loop and py-evm's MSTORE make them)."""
        tag, payload = entry
        if tag == "c":
            return self.constant(self.constants[payload].rjust(32, b"\x00"))
        if tag == "n":
            return self.constant(payload.to_bytes(32, "big"))
        if tag == "t":
            return f't{payload}.to_bytes(32, "big")'
        if tag == "b":
            return f'b{payload}.rjust(32, b"\\x00")'
        name = self.load(payload)
        return f'({name}.rjust(32, b"\\x00") if type({name}) is bytes else {name}.to_bytes(32, "big"))'

    def write_stack(self) -> list[str]:
        """Lines that make the stack's list what the symbolic stack is now. The items they name are loaded
        here, before any branch, so that both sides of a branch find them."""
        kept = 0
        while kept < len(self.stack) and self.stack[kept] == ("o", self.depth_read - kept):
            kept += 1
        replaced = self.depth_read - kept
        new = [self.as_object(entry) for entry in self.stack[kept:]]
        if replaced:
            return [f"values[-{replaced}:] = [{', '.join(new)}]"]
        if len(new) == 1:
            return [f"values.append({new[0]})"]
        if new:
            return [f"values.extend(({', '.join(new)},))"]
        return []

    def bail_unless_in_memory(self, offset: str, position: int, gas_left: int) -> None:
        """Where memory would have to grow (its cost depends on the state): the stack as it is before this
        opcode, and the loop goes on at its position, with the gas of the opcodes from here on given back."""
        code = -2 - len(self.bails)
        self.bails.append((position, gas_left))
        written = self.write_stack()
        self.lines.append(f"if {offset} + 32 > len(memory):")
        self.lines.extend(f"    {line}" for line in [*written, f"return {code}"])

    def compute(self, formula: Callable[..., int], expression: str | None, operands: list[tuple[str, int]]) -> None:
        values = [self.known(operand) for operand in operands]
        if all(value is not None for value in values):
            self.push(("n", formula(*values)))
            return
        arguments = [self.as_int(operand) for operand in operands]
        if expression is None:
            self.functions.append(formula)
            expression = f"f{len(self.functions) - 1}(" + ", ".join(f"{{{i}}}" for i in range(len(operands))) + ")"
        index = self.new_index()
        self.lines.append(f"t{index} = " + expression.format(*arguments))
        self.push(("t", index))

    def add(self, step: InlineOpcode, position: int, gas_left: int) -> None:
        """`gas_left`: the fixed gas of this opcode and the ones after it in the run."""
        kind, argument = step.kind, step.argument
        if kind == PUSH:
            self.constant(argument)
            self.push(("c", len(self.constants) - 1))
        elif kind == DUP:
            self.reach(argument)
            self.push(self.stack[-argument])
        elif kind == SWAP:
            self.reach(argument + 1)
            self.stack[-1], self.stack[-argument - 1] = self.stack[-argument - 1], self.stack[-1]
        elif kind == POP:
            self.reach(1)
            self.stack.pop()
        elif kind == BINARY:
            self.reach(2)
            top = self.stack.pop()
            second = self.stack.pop()
            self.compute(argument, BINARY_EXPRESSIONS.get(argument), [top, second])
        elif kind == UNARY:
            self.reach(1)
            self.compute(argument, UNARY_EXPRESSIONS.get(argument), [self.stack.pop()])
        elif kind == CALLDATALOAD:
            self.reach(1)
            offset = self.as_int(self.stack.pop())
            index = self.new_index()
            self.lines.append(f'b{index} = call_data[{offset}:{offset} + 32].ljust(32, b"\\x00").lstrip(b"\\x00")')
            self.push(("b", index))
        elif kind == MLOAD:
            self.reach(1)
            offset = self.as_int(self.stack[-1])
            self.bail_unless_in_memory(offset, position, gas_left)
            self.stack.pop()
            index = self.new_index()
            self.lines.append(f"b{index} = bytes(memory[{offset}:{offset} + 32])")
            self.push(("b", index))
        elif kind == MSTORE:
            self.reach(2)
            offset = self.as_int(self.stack[-1])
            word = self.as_word(self.stack[-2])
            self.bail_unless_in_memory(offset, position, gas_left)
            del self.stack[-2:]
            self.lines.append(f"memory[{offset}:{offset} + 32] = {word}")
        else:
            assert kind == JUMPDEST, kind

    def finish(self, jump: InlineOpcode | None) -> str:
        """The lines that write the new top of the stack and return; a jump's operands are popped first."""
        returned = str(NO_JUMP)
        if jump is not None:
            self.reach(2 if jump.kind == JUMPI else 1)
            destination = self.as_int(self.stack.pop())
            if jump.kind == JUMP:
                returned = destination
            else:
                condition_entry = self.stack.pop()
                condition = self.known(condition_entry)
                if condition is None:
                    returned = f"{destination} if {self.as_int(condition_entry)} else {NO_JUMP}"
                elif condition:
                    returned = destination
        self.lines.extend(self.write_stack())
        self.lines.append(f"return {returned}")
        parameters = ["values", "memory", "call_data", "from_bytes=from_bytes", "M=M"]
        parameters += [f"c{index}=c{index}" for index in range(len(self.constants))]
        parameters += [f"f{index}=f{index}" for index in range(len(self.functions))]
        body = "".join(f"    {line}\n" for line in self.lines)
        return f"def run({', '.join(parameters)}):\n{body}"


def compile_segment(run: Sequence[tuple[int, InlineOpcode]], end: int) -> Segment:
    """The segment of `run` (from `find_run`: positions and steps), which ends at position `end`."""
    assert run, "a segment has opcodes"
    opcodes = [step for _, step in run]
    # A bail before its own first opcode would send the loop back to the segment's start, for ever.
    assert opcodes[0].kind not in (MLOAD, MSTORE), "a segment never starts at a memory opcode"
    jump = opcodes[-1] if opcodes[-1].kind in (JUMP, JUMPI) else None
    compiler = _Compiler()
    gas = gas_left = sum(step.gas_cost for step in opcodes)
    for position, step in run if jump is None else run[:-1]:
        compiler.add(step, position, gas_left)
        gas_left -= step.gas_cost
    source = compiler.finish(jump)
    namespace: dict[str, Any] = {"from_bytes": int.from_bytes, "M": WORD_MAX}
    namespace.update({f"c{index}": constant for index, constant in enumerate(compiler.constants)})
    namespace.update({f"f{index}": function for index, function in enumerate(compiler.functions)})
    # The source is made here from opcode kinds, stack depths and integer literals; a contract's bytes
    # reach it only as values bound to names (c0, c1, ...), never as text.
    exec(compile(source, "<evm segment>", "exec"), namespace)
    return Segment(
        run=namespace["run"],
        gas=gas,
        stack_needed=compiler.depth_read,
        stack_growth_max=compiler.growth_max,
        end=end,
        bails=tuple(compiler.bails),
        first=opcodes[0],
        opcode_count=len(opcodes),
        source=source,
    )
