"""Compiled runs of stack opcodes (`gusu.execution.evm.segments`) give exactly what py-evm's loop gives.

Every program runs at every gas limit (or a spread and every place the stopping opcode changes) with the
runs compiled at once, and is compared with py-evm's own loop: error, message, gas left, stack with its
types, memory, program counter, refunds, storage, logs. The programs put the runs' edges where a segment
could differ from the opcodes one by one: out of gas inside a run, too few items part-way, the stack limit
reached inside a run, jumps whose destination or condition comes from before the run, arithmetic on items
from before the run (the inline expressions) and on pushed constants (folded when compiling).
"""

from __future__ import annotations

import itertools
import signal
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import pytest
from eth.vm.computation import BaseComputation
from test_evm_dispatch import (
    BINARY_OPCODES,
    CALL_DATA,
    CONTRACT,
    INLINE_PROGRAMS,
    SENDER,
    UNARY_OPCODES,
    WORDS,
    _push,
    _run_program,
    run_block,
)

from gusu.execution.evm import engine, segments
from gusu.execution.evm.bench import EMPTY_ROOT, _block, build_transfer_chain
from gusu.execution.evm.engine import _GusuCancunComputation
from gusu.execution.evm.inline import BINARY_FORMULAS, MLOAD, MSTORE, PUSH, UNARY_FORMULAS, WORD_MAX

BARRIER = b"\x36\x50"
"""CALLDATASIZE (not an opcode segments compile, so it ends a run) then POP: the stack is as before, and the items
below it were pushed before the run that starts at the POP, which reads them as items it did not push."""

CALL_DATA_WORD = b"\x5f\x35"
"""PUSH0, CALLDATALOAD: the call data's first word (bytes with its leading zeros stripped) on the stack."""
CALL_DATA_WORD_VALUE = CALL_DATA[:32]


def _binary_from_before(opcode: int) -> bytes:
    parts = []
    for index, (left, right) in enumerate(itertools.product(WORDS, WORDS)):
        parts.append(_push(right, is_full_width=index % 2 == 0) + _push(left) + BARRIER + bytes([opcode]))
    return b"".join(parts)


SEGMENT_PROGRAMS: dict[str, bytes] = {
    **{f"{name} on items from before the run": _binary_from_before(code) for name, code in BINARY_OPCODES.items()},
    **{
        f"{name} on items from before the run": b"".join(_push(value) + BARRIER + bytes([code]) for value in WORDS)
        for name, code in UNARY_OPCODES.items()
    },
    # (3 + 4) * 5, PUSH1 7, DUP1, SWAP2, SWAP1, PUSH2 9, PUSH32 1, AND: 7, 35, 7, 1.
    "folded arithmetic kept as ints, pushes kept as bytes": (
        b"\x60\x03\x60\x04\x01\x60\x05\x02\x60\x07\x80\x91\x90\x61\x00\x09\x7f" + bytes(31) + b"\x01\x16"
    ),
    # DUP4, DUP4, ADD, SWAP3, POP, ISZERO, NOT on (word, 1, 2, 3).
    "deep items from before the run": CALL_DATA_WORD
    + b"\x60\x01\x60\x02\x60\x03"
    + BARRIER
    + b"\x83\x83\x01\x92\x50\x15\x19",
    "dup and swap of items from before the run, then pops below them": CALL_DATA_WORD
    + b"\x60\x02"
    + BARRIER
    + b"\x81\x81\x91\x50\x50\x60\x09",
    "items from before the run reordered": CALL_DATA_WORD + b"\x60\x02\x60\x03" + BARRIER + b"\x91\x60\x01",
    "too few items part-way through a run": CALL_DATA_WORD + BARRIER + b"\x60\x01\x01\x01\x01\x60\x02",
    "a run that pops everything it was given": CALL_DATA_WORD + b"\x60\x05" + BARRIER + b"\x50\x50",
    "a run whose items are all replaced": CALL_DATA_WORD + b"\x60\x05" + BARRIER + b"\x01\x60\x01",
    "the stack limit reached inside a run": b"\x60\x01" * 1020 + BARRIER + b"\x80\x80\x80\x80\x80",
    "the stack full at the start of a run": b"\x60\x01" * 1023 + BARRIER + b"\x60\x02\x50",
    "jump to a destination from before the run": b"\x60\x09" + BARRIER + b"\x60\x00\x50\x56\x00\x5b\x60\x01",
    "jump to an invalid destination from before the run": b"\x60\x07" + BARRIER + b"\x60\x00\x50\x56",
    "jumpi on a condition from before the run, taken": CALL_DATA_WORD
    + BARRIER
    + b"\x60\x0d\x57\x00\x00\x5b\x60\x01\x00\x5b\x60\x02",
    "jumpi on a zero condition from before the run": b"\x5f" + BARRIER + b"\x60\x09\x57\x60\x03\x00\x5b",
    "jumpi on a folded true condition": b"\x60\x01\x60\x00\x01\x60\x09\x57\x00\x5b\x60\x04",
    "jumpi on a folded false condition to nowhere": b"\x60\x00\x60\x00\x01\x60\xff\x57\x60\x04",
    "jumpi on a folded condition to an invalid place": b"\x60\x01\x60\x01\x01\x60\xff\x57",
    "jumpi with a destination from before the run": b"\x60\x09" + BARRIER + b"\x60\x01\x90\x57\x00\x5b\x60\x07",
    "a run that only jumps": b"\x60\x05\x56\x00\x00\x5b\x5b\x60\x0a\x56\x5b\x60\x01",
    "a run cut by the end of the code": b"\x60\x01\x60\x02\x01\x62\x01",
    "a run longer than a segment": b"\x60\x01" + b"\x60\x01\x01" * 300,
    # PUSH1 0x80, PUSH1 0x40, MSTORE (memory grows: the run stops there), then loads and stores in place.
    "memory opcodes inside a run, memory growing first": (
        b"\x60\x80\x60\x40\x52\x60\x40\x51\x60\x01\x01\x60\x20\x52\x60\x20\x51\x60\x40\x51\x60\x21\x51"
    ),
    # Memory grown to 96 bytes, then MSTORE of: an item from before the run (short bytes), a folded int, a
    # PUSH's bytes, a computed int, an MLOAD's bytes, a CALLDATALOAD's bytes (leading zeros stripped); each
    # read back.
    "mstore of every kind of item": (
        b"\x60\x01\x60\x40\x52"
        + b"\x60\x07"
        + BARRIER
        + b"\x60\x00\x52"  # item from before (bytes 07) at 0
        + b"\x60\x02\x60\x03\x01\x60\x20\x52"  # folded int 5 at 32
        + b"\x61\xab\xcd\x60\x01\x52"  # PUSH2 bytes at 1 (unaligned)
        + b"\x60\x40\x51\x60\x02\x02\x60\x21\x52"  # computed int at 33
        + b"\x60\x20\x51\x60\x05\x52"  # an MLOAD's bytes at 5
        + CALL_DATA_WORD
        + b"\x60\x0a\x52"  # a CALLDATALOAD's bytes at 10
        + b"\x5f\x51\x60\x20\x51\x60\x40\x51"
    ),
    "calldataload at offsets in, across and past the call data": (
        b"\x5f\x35\x60\x04\x35\x60\x14\x35\x60\x24\x35\x60\x40\x35\x7f" + bytes([0xFF]) * 32 + b"\x35"
    ),
    "calldataload at offsets from before the run": b"\x60\x04\x60\x23" + BARRIER + b"\x35\x90\x35\x01",
    "memory grows after the stack was reordered in the run": CALL_DATA_WORD
    + b"\x60\x02\x60\x03"
    + BARRIER
    + b"\x91\x82\x61\x01\x00\x52\x60\x01",
    "mload beyond any gas inside a run": b"\x60\x01\x60\x02\x01\x64\x01\x00\x00\x00\x00\x51\x60\x01",
    "mstore with too few items inside a run": b"\x60\x01\x60\x02\x01\x52\x60\x01",
    # Runs that start at a memory opcode which must grow memory (found by review: a segment starting there sent
    # the loop back to its own start for ever): after CALLDATASIZE, after an MSTORE, after a JUMPI not taken,
    # after a JUMPDEST and CALLDATASIZE.
    "mload growing memory after an opcode py-evm runs": bytes.fromhex("3651600100"),
    "mload growing memory after an mstore": bytes.fromhex("60405f5f52515000"),
    "mstore growing memory after a jumpi not taken": bytes.fromhex("600760205f5f5752600100"),
    "mload growing memory after a jumpdest": bytes.fromhex("5b3651600100"),
    # MSTORE of an int item from before the run (2 + 3 computed before CALLDATASIZE).
    "mstore of an int from before the run": bytes.fromhex("600161010052600260030136506000525f51"),
    "a loop of runs": (
        b"\x60\x14"  # counter = 20
        b"\x5b"  # 2: JUMPDEST
        b"\x60\x01\x90\x03"  # counter - 1
        b"\x80\x60\x02\x57"  # DUP1, PUSH1 2, JUMPI while nonzero
        b"\x60\x2a"
    ),
}


@pytest.fixture(autouse=True)
def _no_endless_loop() -> Iterator[None]:
    """A program that makes the loop go round for ever fails its test instead of hanging the suite."""

    def stop(_signal: int, _frame: object) -> None:
        raise TimeoutError("the EVM loop did not finish within 120 s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def compile_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs compiled the first time the loop meets them, with a code cache of this test's own."""
    monkeypatch.setattr(segments, "SEGMENT_RUNS_BEFORE_COMPILE", 0)
    monkeypatch.setattr(engine, "_code_analyses", OrderedDict())
    monkeypatch.setattr(engine, "_code_analyses_bytes", [0])
    monkeypatch.setattr(engine, "_segment_opcodes_kept", [0])
    yield


def _compare_at_every_limit(code: bytes) -> None:
    enough = _run_program(code, 10_000_000, is_py_evm_loop=True)
    assert _run_program(code, 10_000_000, is_py_evm_loop=False) == enough
    used = 10_000_000 - enough[2]
    limits = range(used + 2) if used < 600 else range(0, used + 2, max(1, used // 300))
    for gas in limits:
        assert _run_program(code, gas, is_py_evm_loop=False) == _run_program(code, gas, is_py_evm_loop=True), gas


@pytest.mark.parametrize("name", list(SEGMENT_PROGRAMS))
def test_segments_match_py_evm_loop(name: str, compile_at_once: None) -> None:
    _compare_at_every_limit(SEGMENT_PROGRAMS[name])


@pytest.mark.parametrize("name", [name for name in INLINE_PROGRAMS if not name.startswith(("sstore", "log"))])
def test_inline_programs_with_segments_match_py_evm_loop(name: str, compile_at_once: None) -> None:
    _compare_at_every_limit(INLINE_PROGRAMS[name])


def _segments_of(code: bytes) -> list[segments.Segment]:
    analysis = engine._code_analyses[code]
    return [step.argument for step in analysis.steps if step is not None and step.kind == segments.SEGMENT]


def test_segment_programs_reach_what_they_test(compile_at_once: None) -> None:
    """The programs run through segments and fail where they are meant to (else they would compare nothing)."""
    outcomes = {name: _run_program(code, 10_000_000, is_py_evm_loop=False) for name, code in SEGMENT_PROGRAMS.items()}
    for name, code in SEGMENT_PROGRAMS.items():
        assert _segments_of(code) or "growing memory after" in name, name  # those test that none starts there
    folded = outcomes["folded arithmetic kept as ints, pushes kept as bytes"]
    assert folded[0] == "NoneType"
    assert folded[4] == [("bytes", b"\x07"), ("int", 35), ("bytes", b"\x07"), ("int", 1)]
    assert outcomes["deep items from before the run"][4][1:] == [
        ("int", 1 + int.from_bytes(CALL_DATA_WORD_VALUE, "big")),
        ("bytes", b"\x02"),
        ("int", WORD_MAX),
    ]
    word = ("bytes", CALL_DATA_WORD_VALUE.lstrip(b"\x00"))
    assert outcomes["items from before the run reordered"][4] == [
        ("bytes", b"\x03"),
        ("bytes", b"\x02"),
        word,
        ("bytes", b"\x01"),
    ]
    assert outcomes["too few items part-way through a run"][:2] == (
        "InsufficientStack",
        "Wanted 2 stack items, only had 1",
    )
    assert outcomes["the stack limit reached inside a run"][:2] == ("FullStack", "Stack limit reached")
    assert outcomes["the stack full at the start of a run"][0] == "NoneType"
    assert outcomes["jump to an invalid destination from before the run"][0] == "InvalidJumpDestination"
    assert outcomes["jumpi on a folded condition to an invalid place"][0] == "InvalidJumpDestination"
    assert outcomes["jumpi on a condition from before the run, taken"][4] == [("bytes", b"\x02")]
    assert outcomes["jump to a destination from before the run"][4] == [("bytes", b"\x01")]
    assert outcomes["jumpi on a folded true condition"][4] == [("bytes", b"\x04")]
    assert outcomes["jumpi with a destination from before the run"][4] == [("bytes", b"\x07")]
    assert outcomes["a run that only jumps"][4] == [("bytes", b"\x01")]
    assert outcomes["jumpi on a zero condition from before the run"][4] == [("bytes", b"\x03")]
    assert outcomes["jumpi on a folded false condition to nowhere"][4] == [("bytes", b"\x04")]
    assert outcomes["a run longer than a segment"][4] == [("int", 301)]
    assert outcomes["a loop of runs"][4] == [("int", 0), ("bytes", b"\x2a")]
    grown = outcomes["memory opcodes inside a run, memory growing first"]
    assert grown[0] == "NoneType" and len(grown[5]) == 96
    assert grown[4] == [
        ("bytes", (0x81).to_bytes(32, "big")),
        ("bytes", (0x80).to_bytes(32, "big")),
        ("bytes", (0x81).to_bytes(32, "big")[1:] + (0x80).to_bytes(32, "big")[:1]),
    ]
    words = outcomes["mstore of every kind of item"]
    assert words[0] == "NoneType" and len(words[4]) == 3
    call_data_word = CALL_DATA_WORD_VALUE.lstrip(b"\x00").rjust(32, b"\x00")
    memory = bytearray(64) + (1).to_bytes(32, "big")
    for offset, word in (
        (0, (7).to_bytes(32, "big")),
        (32, (5).to_bytes(32, "big")),
        (1, (0xABCD).to_bytes(32, "big")),
    ):
        memory[offset : offset + 32] = word
    memory[33:65] = (int.from_bytes(bytes(memory[64:96]), "big") * 2).to_bytes(32, "big")
    memory[5:37] = bytes(memory[32:64])
    memory[10:42] = call_data_word
    assert words[5] == bytes(memory)
    loads = outcomes["calldataload at offsets in, across and past the call data"][4]
    assert [value for _, value in loads] == [
        (CALL_DATA + bytes(64))[offset : offset + 32].lstrip(b"\x00") for offset in (0, 4, 20, 36, 64)
    ] + [b""]
    assert outcomes["mload beyond any gas inside a run"][0] == "OutOfGas"
    assert outcomes["mstore with too few items inside a run"][:2] == (
        "InsufficientStack",
        "Wanted 1 stack item, had none",
    )
    reordered = outcomes["memory grows after the stack was reordered in the run"]
    assert reordered[0] == "NoneType" and reordered[4][-1] == ("bytes", b"\x01") and len(reordered[5]) == 0x120
    assert any(segment.bails for segment in _segments_of(SEGMENT_PROGRAMS["mstore of every kind of item"]))
    deep = _segments_of(SEGMENT_PROGRAMS["deep items from before the run"])
    assert max(segment.stack_needed for segment in deep) == 5  # the POP of the barrier, then DUP4
    longest = max(_segments_of(SEGMENT_PROGRAMS["a run longer than a segment"]), key=lambda s: s.opcode_count)
    assert longest.opcode_count == segments.SEGMENT_OPCODES_MAX
    # The binary programs use the inline expressions (items from before the run), not only folding.
    sources = "".join(segment.source for segment in _segments_of(SEGMENT_PROGRAMS["SHL on items from before the run"]))
    assert "<<" in sources and "from_bytes" in sources


def test_the_inline_expressions_are_their_formulas() -> None:
    """Each formula written inline gives what its function gives, on every pair of edge words."""
    for formula, expression in segments.BINARY_EXPRESSIONS.items():
        assert formula in BINARY_FORMULAS.values()
        for top, second in itertools.product(WORDS, WORDS):
            assert eval(expression.format(top, second), {"M": WORD_MAX}) == formula(top, second), (formula, top)
    for unary, expression in segments.UNARY_EXPRESSIONS.items():
        assert unary in UNARY_FORMULAS.values()
        for value in WORDS:
            assert eval(expression.format(value), {"M": WORD_MAX}) == unary(value)


def test_an_erc20_block_with_segments_matches_py_evm_loop(
    compile_at_once: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transfers out of gas at many places and successful ones: receipts and writes as py-evm's loop gives."""
    fast = run_block()
    assert any(_segments_of(code) for code in engine._code_analyses)
    original: Any = BaseComputation.__dict__["apply_computation"]
    monkeypatch.setattr(_GusuCancunComputation, "apply_computation", original)
    reference = run_block()
    assert fast.receipts == reference.receipts
    assert fast.writes == reference.writes


def test_a_run_is_compiled_after_the_loop_has_run_it_often_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments, "SEGMENT_RUNS_BEFORE_COMPILE", 3)
    monkeypatch.setattr(engine, "_code_analyses", OrderedDict())
    monkeypatch.setattr(engine, "_segment_opcodes_kept", [0])
    code = SEGMENT_PROGRAMS["folded arithmetic kept as ints, pushes kept as bytes"]
    expected = _run_program(code, 10_000_000, is_py_evm_loop=True)
    kinds = []
    for _ in range(4):
        assert _run_program(code, 10_000_000, is_py_evm_loop=False) == expected
        step = engine._code_analyses[code].steps[0]
        assert step is not None
        kinds.append(step.kind)
    assert kinds == [segments.SEGMENT_CANDIDATE, segments.SEGMENT_CANDIDATE, segments.SEGMENT, segments.SEGMENT]
    assert engine._segment_opcodes_kept == [12]


def test_compiled_opcodes_stay_within_their_bound(compile_at_once: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SEGMENT_OPCODES_KEPT_MAX nothing more is compiled (the loop still runs the code, with the same
    results); dropping a code from the cache gives its compiled opcodes back."""
    monkeypatch.setattr(engine, "SEGMENT_OPCODES_KEPT_MAX", 20)
    monkeypatch.setattr(engine, "CODE_ANALYSIS_ENTRIES_MAX", 2)
    first, second, third = (bytes([0x60, index]) + b"\x60\x01\x01" * 5 for index in (1, 2, 3))  # 11 opcodes each
    for code in (first, second):
        assert _run_program(code, 10_000_000, is_py_evm_loop=False) == _run_program(
            code, 10_000_000, is_py_evm_loop=True
        )
    assert engine._segment_opcodes_kept == [_compiled_in_cache()] == [11]  # the refused run is not compiled piecemeal
    assert len(_segments_of(first)) == 1 and _segments_of(first)[0].opcode_count == 11
    refused = engine._code_analyses[second].steps[0]
    assert refused is not None and refused.kind == PUSH  # the opcode's own step, no longer a candidate
    _run_program(third, 10_000_000, is_py_evm_loop=False)  # a third code: the first is dropped
    assert first not in engine._code_analyses
    assert engine._segment_opcodes_kept == [_compiled_in_cache()] <= [20]
    assert max(segment.opcode_count for segment in _segments_of(third)) == 11


def _compiled_in_cache() -> int:
    return sum(analysis.segment_opcodes for analysis in engine._code_analyses.values())


def test_the_transfer_benchmark_runs_through_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ERC-20 token's transfer runs mostly in segments once compiled (what the speed-up rests on)."""
    monkeypatch.setattr(engine, "_code_analyses", OrderedDict())
    monkeypatch.setattr(engine, "_segment_opcodes_kept", [0])
    executor, state, _, transfers = build_transfer_chain(segments.SEGMENT_RUNS_BEFORE_COMPILE + 2, is_eth=True)
    result = executor.execute_block(state, _block(3), transfers)
    assert all(receipt.is_success for receipt in result.receipts)
    compiled = [_segments_of(code) for code in engine._code_analyses]
    assert max(sum(segment.opcode_count for segment in found) for found in compiled) > 100


@pytest.mark.parametrize("name", [name for name in SEGMENT_PROGRAMS if "growing memory" in name])
def test_memory_opcodes_at_a_runs_start_with_the_real_threshold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same code called again and again in one process, with runs compiled after 64 visits as on a node:
    before, on, and after the call that compiles, and with memory fresh each call."""
    monkeypatch.setattr(segments, "SEGMENT_RUNS_BEFORE_COMPILE", 64)
    monkeypatch.setattr(engine, "_code_analyses", OrderedDict())
    monkeypatch.setattr(engine, "_segment_opcodes_kept", [0])
    code = SEGMENT_PROGRAMS[name]
    expected = _run_program(code, 100_000, is_py_evm_loop=True)
    for _ in range(70):
        assert _run_program(code, 100_000, is_py_evm_loop=False) == expected
    analysis = engine._code_analyses[code]
    assert all(
        step is None or step.kind != segments.SEGMENT or step.argument.first.kind not in (MLOAD, MSTORE)
        for step in analysis.steps
    )


def test_a_new_codes_first_run_decodes_each_position_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: deciding at each JUMPDEST whether a run starts there scanned up to 256 opcodes ahead, so
    a code of JUMPDESTs cost its gas once but its length times 256 in decoding. Each position is now decoded
    once when the loop first arrives (and again only when a run is compiled)."""
    monkeypatch.setattr(segments, "SEGMENT_RUNS_BEFORE_COMPILE", 64)
    monkeypatch.setattr(engine, "_code_analyses", OrderedDict())
    decoded = [0]
    original = engine.decode_step

    def counting(*arguments: Any) -> Any:
        decoded[0] += 1
        return original(*arguments)

    monkeypatch.setattr(engine, "decode_step", counting)
    code = b"\x5b" * 4_096
    assert _run_program(code, 10_000_000, is_py_evm_loop=False)[0] == "NoneType"
    assert decoded[0] == 4_096


def test_compiled_opcodes_are_counted_for_cached_codes_only(
    compile_at_once: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: a frame whose code the cache dropped meanwhile (a call inside it brought in another code)
    compiled on, and those opcodes were counted but never given back. Nothing is compiled for such a frame now,
    and the count is always what the cached codes hold."""
    from eth.db.atomic import AtomicDB
    from eth.vm.forks.cancun.state import CancunState
    from eth.vm.message import Message

    from gusu.execution.context import BlockContext
    from gusu.execution.evm.engine import compute_execution_context
    from gusu.execution.evm.settings import EvmSettings
    from gusu.ledger.types import Address, Height

    monkeypatch.setattr(engine, "CODE_ANALYSIS_ENTRIES_MAX", 1)
    callee = b"\x44" * 20
    call_callee = b"\x5f\x5f\x5f\x5f\x5f\x73" + callee + b"\x5a\xf1"  # CALL(gas, callee, 0, 0, 0, 0, 0)
    caller_code = b"\x60\x01\x60\x02\x01\x50" + call_callee + b"\x50\x60\x03\x60\x04\x01\x50\x00"
    block = BlockContext("segments", Height(1), 1_700_000_000_000, Address(b"\x33" * 20))
    state = CancunState(AtomicDB(), compute_execution_context(block, EvmSettings(evm_chain_id=1)), EMPTY_ROOT)
    state.set_code(CONTRACT, caller_code)
    state.set_code(callee, b"\x60\x01\x60\x02\x01\x00")
    state.lock_changes()
    message = Message(gas=1_000_000, to=CONTRACT, sender=SENDER, value=0, data=b"", code=caller_code)
    context = state.get_transaction_context_class()(gas_price=0, origin=SENDER)
    computation = _GusuCancunComputation.apply_computation(state, message, context)
    assert computation.is_success
    assert list(engine._code_analyses) == [b"\x60\x01\x60\x02\x01\x00"]  # the caller's code was dropped
    assert engine._segment_opcodes_kept == [_compiled_in_cache()] == [3]
    engine.get_code_analysis(b"\x00")  # another code: the callee's is dropped too
    assert engine._segment_opcodes_kept == [0]


@pytest.mark.parametrize("threshold", [0, 64])
def test_a_run_that_cannot_run_whole_is_not_compiled_again_from_each_position(
    threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: when a freshly compiled segment cannot run whole (here too little gas), the loop takes its
    opcodes one by one; each later position then reached the threshold in turn and compiled the rest of the run
    again (n²/2 opcodes for a run of n). The later positions now get their own steps when the run is compiled."""
    monkeypatch.setattr(segments, "SEGMENT_RUNS_BEFORE_COMPILE", threshold)
    monkeypatch.setattr(engine, "_code_analyses", OrderedDict())
    monkeypatch.setattr(engine, "_segment_opcodes_kept", [0])
    code = b"\x60\x01\x50" * 120 + b"\x00"  # PUSH1 1, POP, 120 times: one run of 240 opcodes, 600 gas
    for _ in range(max(threshold - 1, 0)):
        assert _run_program(code, 100_000, is_py_evm_loop=False) == _run_program(code, 100_000, is_py_evm_loop=True)
    short = _run_program(code, 599, is_py_evm_loop=False)
    assert short == _run_program(code, 599, is_py_evm_loop=True) and short[0] == "OutOfGas"
    assert engine._segment_opcodes_kept == [240]  # one segment, compiled once
    assert len(_segments_of(code)) == 1


def test_a_run_of_jumpdests_that_cannot_run_whole_is_not_compiled_again_from_each_jumpdest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same with JUMPDESTs, which keep their candidates (a jump may land on them): while the loop takes the
    run one by one, they do not count."""
    monkeypatch.setattr(segments, "SEGMENT_RUNS_BEFORE_COMPILE", 64)
    monkeypatch.setattr(engine, "_code_analyses", OrderedDict())
    monkeypatch.setattr(engine, "_segment_opcodes_kept", [0])
    code = b"\x5b" * 200 + b"\x00"  # one run of 200 JUMPDESTs, 200 gas
    for _ in range(63):
        assert _run_program(code, 100_000, is_py_evm_loop=False) == _run_program(code, 100_000, is_py_evm_loop=True)
    for _ in range(3):
        short = _run_program(code, 150, is_py_evm_loop=False)
        assert short == _run_program(code, 150, is_py_evm_loop=True) and short[0] == "OutOfGas"
    assert engine._segment_opcodes_kept == [200] and len(_segments_of(code)) == 1
