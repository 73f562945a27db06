"""The engine's inline opcode dispatch gives exactly what py-evm's own interpreter loop gives.

`_GusuCancunComputation.apply_computation` charges simple opcodes' fixed gas inline instead of through
py-evm's three calls (gusu.execution.evm.engine). The same block of ERC-20 transfers, with gas limits
from too little for anything to plenty, runs once with it and once with py-evm's `apply_computation`:
receipts (status, gas used, out-of-gas messages naming the opcode) and writes must be identical.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from eth.vm.computation import BaseComputation
from eth_hash.auto import keccak
from eth_typing import Address as EthAddress
from evm_helpers import EvmChain, apply_with_either_loop, describe_computation

from gusu.codec import decode
from gusu.execution.evm import bench
from gusu.execution.evm.engine import _GusuCancunComputation
from gusu.execution.evm.settings import compute_default_evm_chain_id
from gusu.execution.executor import BlockExecutionResult, TransactionInput
from gusu.ledger.ethtx import decode_eth_transaction, encode_signed_legacy_transaction
from gusu.ledger.types import Address, ReceiptStatus

GAS_LIMITS = range(21_700, 62_000, 270)
"""From below the first opcode's cost, through running out at many different opcodes, to success."""


def run_block() -> BlockExecutionResult:
    executor, state, token, _ = bench.build_transfer_chain(1, is_eth=True)
    chain_id = compute_default_evm_chain_id("sm", bench.CHAIN_ID)
    inputs = []
    for index, gas_limit in enumerate(GAS_LIMITS):
        raw = encode_signed_legacy_transaction(
            bench._holder_secret(index),
            chain_id=chain_id,
            nonce=0,
            gas_price=0,
            gas_limit=gas_limit,
            to=token,
            value=0,
            data=bench.encode_transfer(bench._address(b"to", index), 1),
        )
        transaction = decode_eth_transaction(raw, chain_id=chain_id)
        inputs.append(TransactionInput(transaction, transaction.transaction_hash, transaction.sender))
    return executor.execute_block(state, bench._block(3), inputs)


def test_inline_dispatch_matches_py_evm_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(GAS_LIMITS) <= bench.HOLDERS  # one holder per transaction, each at nonce 0
    fast = run_block()
    original: Any = BaseComputation.__dict__["apply_computation"]
    monkeypatch.setattr(_GusuCancunComputation, "apply_computation", original)
    reference = run_block()
    assert fast.receipts == reference.receipts
    assert fast.writes == reference.writes
    codes = [receipt.error_code for receipt in fast.receipts]
    # The block is a real test: transfers that ran out of gas at many places, and ones that succeeded.
    out_of_gas = {receipt.error_message for receipt in fast.receipts if receipt.error_code == "out_of_gas"}
    assert len(out_of_gas) > 20, out_of_gas
    assert any("Reason: " in message for message in out_of_gas)
    assert codes.count("") > 10


def test_message_building_without_the_debug_log_matches_py_evm(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_GusuCancunTransactionExecutor.build_evm_message` is py-evm's without the log line: a creation (the
    token's deployment) and a block of calls, some out of gas, leave the same state and receipts."""
    from eth.vm.forks.cancun.state import CancunTransactionExecutor

    from gusu.execution.evm.engine import _GusuCancunState, _GusuCancunTransactionExecutor

    def build() -> tuple[dict[bytes, bytes], BlockExecutionResult]:
        _, state, _, _ = bench.build_transfer_chain(1, is_eth=True)
        return dict(state.items), run_block()

    assert _GusuCancunState.transaction_executor_class is _GusuCancunTransactionExecutor
    fast_state, fast = build()
    monkeypatch.setattr(
        _GusuCancunTransactionExecutor, "build_evm_message", CancunTransactionExecutor.build_evm_message
    )
    reference_state, reference = build()
    assert fast_state == reference_state
    assert fast.receipts == reference.receipts and fast.writes == reference.writes


def test_py_evm_hashes_with_gusu_keccak_and_the_same_digests() -> None:
    from Crypto.Hash import keccak as pycryptodome_keccak
    from eth_hash.auto import keccak

    from gusu.crypto.ecdsa import keccak256

    assert keccak.hasher is keccak256  # installed when the engine is imported
    for data in (b"", b"abc", bytes(range(256)) * 5, bytearray(b"transfer(address,uint256)")):
        expected = pycryptodome_keccak.new(data=bytes(data), digest_bits=256).digest()
        assert keccak(data) == expected == keccak256(data)


def _wrap_runtime(runtime: bytes) -> bytes:
    """Init code that deploys `runtime` as it is: CODECOPY it from behind the 15-byte prefix, RETURN it."""
    size = len(runtime).to_bytes(2, "big")
    prefix = b"\x61" + size + b"\x61\x00\x0f" + b"\x60\x00" + b"\x39" + b"\x61" + size + b"\x60\x00" + b"\xf3"
    assert len(prefix) == 15
    return prefix + runtime


RETURN_TOP = b"\x60\x00\x52\x60\x20\x60\x00\xf3"
"""MSTORE the top of the stack at 0 and RETURN those 32 bytes."""

STACK_PROGRAMS = {
    "dup on an empty stack": b"\x80",
    "swap2 with one item": b"\x60\x01\x91",
    "pop on an empty stack": b"\x50",
    "1,025 pushes": b"\x60\x01" * 1025,
    "1,024 pushes then dup1": b"\x60\x01" * 1024 + b"\x80",
    "push, swap, dup, pop": b"\x60\x02\x60\x03\x90\x81\x50" + RETURN_TOP,
    "push0 and push32": b"\x5f\x50\x7f" + bytes(range(1, 33)) + RETURN_TOP,
    "dup16 and swap16": b"".join(bytes([0x60, index]) for index in range(17)) + b"\x8f\x9f" + RETURN_TOP,
    "push2 cut by the end of the code": b"\x61\x01",
}


def _run_programs() -> list[tuple[str, Any, Any, Any, bytes]]:
    chain = EvmChain.create("ecdsa")
    outcomes = []
    for name, runtime in STACK_PROGRAMS.items():
        deployed = chain.deploy(_wrap_runtime(runtime))
        assert deployed.status is ReceiptStatus.SUCCESS, (name, deployed.error_message)
        address = decode(deployed.return_value)
        assert isinstance(address, bytes)
        receipt = chain.send(Address(address), b"")
        outcomes.append((name, receipt.status, receipt.error_code, receipt.error_message, receipt.return_value))
    return outcomes


def test_inline_stack_opcodes_fail_and_succeed_as_py_evm_does(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _run_programs()
    original: Any = BaseComputation.__dict__["apply_computation"]
    monkeypatch.setattr(_GusuCancunComputation, "apply_computation", original)
    assert fast == _run_programs()
    by_name = {name: (status, message) for name, status, _, message, _ in fast}
    assert "Insufficient stack items for DUP1" in by_name["dup on an empty stack"][1]
    assert "Insufficient stack items for SWAP2" in by_name["swap2 with one item"][1]
    assert "Wanted 1 stack item, had none" in by_name["pop on an empty stack"][1]
    assert "Stack limit reached" in by_name["1,025 pushes"][1]
    assert "Stack limit reached" in by_name["1,024 pushes then dup1"][1]
    for name in ("push, swap, dup, pop", "push0 and push32", "dup16 and swap16", "push2 cut by the end of the code"):
        assert by_name[name][0] is ReceiptStatus.SUCCESS, (name, by_name[name])
    returned = {name: decode(value) for name, _, _, _, value in fast}
    assert returned["push, swap, dup, pop"] == (2).to_bytes(32, "big")
    assert returned["push0 and push32"] == bytes(range(1, 33))
    # 17 items 0..16; DUP16 copies item 1 on top; SWAP16 swaps it with item 1: the top is then 1.
    assert returned["dup16 and swap16"] == (1).to_bytes(32, "big")


# --- every inline opcode against py-evm's loop, on py-evm's own state ---------------------------

SENDER = EthAddress(b"\x11" * 20)
CONTRACT = EthAddress(b"\x22" * 20)
WORDS = (0, 1, 2, 0x1F, 0x20, 0xFF, 0x100, 2**255 - 1, 2**255, 2**256 - 1, 0x0123456789ABCDEF << 100)
"""Edge values for the word arithmetic: zero, small, byte and shift bounds, the sign bit, the largest word."""

CALL_DATA = bytes(3) + bytes(range(1, 34))
"""36 bytes that start with zeros (CALLDATALOAD strips them) and end one byte after a word."""


def _push(value: int, *, is_full_width: bool = False) -> bytes:
    """PUSH0, the shortest PUSHn, or PUSH32 with leading zeros: the stack then holds bytes of other lengths."""
    if is_full_width:
        return b"\x7f" + value.to_bytes(32, "big")
    if value == 0:
        return b"\x5f"
    size = (value.bit_length() + 7) // 8
    return bytes([0x5F + size]) + value.to_bytes(size, "big")


def _as_int(value: int) -> bytes:
    """Push `value` as an int on py-evm's stack (the result of an ADD with 0), not as pushed bytes."""
    return _push(value) + b"\x5f\x01"


def _binary_program(opcode: int) -> bytes:
    parts = []
    for index, left in enumerate(WORDS):
        for right in WORDS:
            # Mix the stack's representations: pushed bytes (short or full width) and ints.
            push_right = _as_int(right) if index % 3 == 0 else _push(right, is_full_width=index % 3 == 1)
            parts.append(push_right + _push(left, is_full_width=index % 2 == 0) + bytes([opcode]))
    return b"".join(parts)


def _unary_program(opcode: int) -> bytes:
    return b"".join(
        (_as_int(value) if index % 2 else _push(value, is_full_width=index % 3 == 0)) + bytes([opcode])
        for index, value in enumerate(WORDS)
    )


BINARY_OPCODES = {
    "ADD": 0x01, "MUL": 0x02, "SUB": 0x03, "DIV": 0x04, "MOD": 0x06, "LT": 0x10, "GT": 0x11, "SLT": 0x12,
    "SGT": 0x13, "EQ": 0x14, "AND": 0x16, "OR": 0x17, "XOR": 0x18, "BYTE": 0x1A, "SHL": 0x1B, "SHR": 0x1C,
}  # fmt: skip
UNARY_OPCODES = {"ISZERO": 0x15, "NOT": 0x19}

JUMPDEST_AT_5 = b"\x60\x05\x56\x00\x00\x5b"
"""PUSH1 5, JUMP, STOP, STOP, JUMPDEST."""

INLINE_PROGRAMS: dict[str, bytes] = {
    **{f"{name} on edge words": _binary_program(opcode) for name, opcode in BINARY_OPCODES.items()},
    **{f"{name} on edge words": _unary_program(opcode) for name, opcode in UNARY_OPCODES.items()},
    **{f"{name} with no items": bytes([opcode]) for name, opcode in BINARY_OPCODES.items()},
    **{f"{name} with one item": b"\x60\x07" + bytes([opcode]) for name, opcode in BINARY_OPCODES.items()},
    **{f"{name} with no items": bytes([opcode]) for name, opcode in UNARY_OPCODES.items()},
    "jump to a jumpdest": JUMPDEST_AT_5 + b"\x60\x01",
    "jump to a jumpdest pushed full width": b"\x7f" + (36).to_bytes(32, "big") + b"\x56\x00\x5b\x60\x01",
    "jump to a jumpdest pushed as an int": b"\x60\x07\x5f\x01\x56\x00\x00\x5b\x60\x01",
    "jump to a non-jumpdest": b"\x60\x03\x56\x00",
    "jump into push data": b"\x60\x04\x56\x60\x5b\x00",
    "jump past the end of the code": b"\x60\x40\x56",
    "jump to the largest word": b"\x7f" + bytes([0xFF]) * 32 + b"\x56",
    "jump with no items": b"\x56",
    "jumpi taken": b"\x60\x01\x60\x07\x57\x00\x00\x5b\x60\x02",
    "jumpi with a zero byte condition": b"\x60\x00\x60\x07\x57\x60\x03\x00",
    "jumpi with a full-width zero condition": b"\x7f" + bytes(32) + b"\x60\x03\x57\x60\x04",
    "jumpi with a bytes condition that has leading zeros": b"\x61\x00\x01\x60\x08\x57\x00\x00\x5b\x60\x02",
    "jumpi not taken to an invalid destination": b"\x5f\x60\x40\x57\x60\x05",
    "jumpi taken to an invalid destination": b"\x60\x01\x60\x40\x57",
    "jumpi taken into push data": b"\x60\x01\x60\x06\x57\x61\x5b\x5b\x00",
    "jumpi with one item": b"\x60\x01\x57",
    "jumpi with no items": b"\x57",
    "a loop of ten jumps": (
        b"\x60\x0a"  # counter = 10
        b"\x5b"  # 2: JUMPDEST
        b"\x60\x01\x90\x03"  # counter - 1
        b"\x80\x60\x02\x57"  # DUP1, PUSH1 2, JUMPI while nonzero
        b"\x60\x2a"
    ),
    "mstore and mload words": (
        _push(0xAABB)
        + b"\x5f\x52"  # MSTORE pushed bytes at 0
        + _as_int(2**256 - 1)
        + b"\x60\x21\x52"  # MSTORE an int at 33 (memory grows to 96)
        + _push(0, is_full_width=True)
        + b"\x60\x40\x52"  # MSTORE 32 zero bytes at 64
        + b"\x5f\x51\x60\x01\x51\x60\x1f\x51\x60\x40\x51"  # MLOAD at 0, 1, 31, 64
        + b"\x61\x01\x00\x51"  # MLOAD at 256 grows memory by reading
        + b"\x7f"
        + (2**255).to_bytes(32, "big")
        + b"\x60\x20\x52"  # MSTORE the sign bit at 32
        + b"\x60\x20\x51"
    ),
    "unaligned mstore and mload each growing memory by a word": b"\x60\x01\x5f\x52\x60\x02\x60\x01\x52\x60\x21\x51",
    "mstore at the largest word": b"\x60\x01\x7f" + bytes([0xFF]) * 32 + b"\x52",
    "mstore beyond any gas": b"\x60\x01\x63\x01\x00\x00\x00\x52",
    "mload beyond any gas": b"\x64\x01\x00\x00\x00\x00\x51",
    "mload at the largest word": b"\x7f" + bytes([0xFF]) * 32 + b"\x51",
    "mstore with one item": b"\x60\x01\x52",
    "mstore with no items": b"\x52",
    "mload with no items": b"\x51",
    "calldataload at many offsets": b"".join(
        _push(offset, is_full_width=offset == 4) + b"\x35" for offset in (0, 1, 3, 4, 5, 30, 35, 36, 100, 2**256 - 1)
    ),
    "calldataload with no items": b"\x35",
    "sha3 of memory ranges": (
        _push(0x1234)
        + b"\x5f\x52"  # a word at 0
        + b"\x5f\x5f\x20"  # SHA3 of nothing at 0
        + b"\x5f\x7f"
        + bytes([0xFF]) * 32
        + b"\x20"  # SHA3 of nothing at the largest offset
        + b"\x60\x20\x5f\x20"  # SHA3 of the word
        + b"\x60\x05\x60\x1d\x20"  # five bytes across the word's end: memory grows
        + b"\x61\x01\x00\x60\x40\x20"  # 256 bytes from 64: memory grows, eight words of gas
        + _as_int(33)
        + _as_int(3)
        + b"\x20"  # offset and size as ints
    ),
    "sha3 beyond any gas": b"\x63\x01\x00\x00\x00\x5f\x20",
    "sha3 with one item": b"\x60\x01\x20",
    "sha3 with no items": b"\x20",
    "sload cold, warm, another slot, the same slot pushed full width": (
        b"\x60\x01\x54\x60\x01\x54\x60\x02\x54" + _push(1, is_full_width=True) + b"\x54" + _as_int(2) + b"\x54"
    ),
    "sload with no items": b"\x54",
    "push4 cut by the end of the code": b"\x60\x01\x63\xaa\xbb",
    "every kind then a return": (b"\x60\x04\x35\x60\x05\x01\x80\x15\x15\x90\x5f\x52\x60\x20\x5f\xf3"),
    # Slot 1 holds 0xABC before the call (its original value), slots 2 and 3 are empty.
    "sstore a fresh slot, change it, clear it, set it back": (
        b"\x60\x05\x60\x02\x55"  # set: 20,000 + cold 2,100
        b"\x60\x06\x60\x02\x55"  # dirty: 100
        b"\x5f\x60\x02\x55"  # back to its original 0: refund set - sload
        b"\x60\x07\x60\x02\x55"  # clean again (back at its original 0): a full set, the refund kept
        b"\x60\x07\x60\x02\x55"  # the same value: 100
    ),
    "sstore an existing slot, clear it, restore it, clear it again": (
        b"\x61\x0d\xef\x60\x01\x55"  # reset: 2,900 + cold 2,100
        b"\x5f\x60\x01\x55"  # clear a dirty slot whose original is not 0: clears refund
        b"\x61\x0a\xbc\x60\x01\x55"  # back to the original from 0: clears refund taken back, reset refund
        b"\x5f\x60\x01\x55"  # clear the (now clean-valued) slot again
    ),
    "sstore an existing slot to zero at once": b"\x5f\x60\x01\x55\x60\x01\x54",
    "sstore the value a slot already holds": b"\x61\x0a\xbc\x60\x01\x55\x5f\x60\x03\x55",
    "sstore keys and values pushed full width and as ints": (
        _push(9, is_full_width=True) + _push(3, is_full_width=True) + b"\x55" + _as_int(8) + _as_int(3) + b"\x55"
    ),
    "sstore at the largest slot": b"\x60\x01\x7f" + bytes([0xFF]) * 32 + b"\x55",
    "sstore with one item": b"\x60\x01\x55",
    "sstore with no items": b"\x55",
    # Memory holds a word at 0 first; then LOG0..LOG4 over ranges that do and do not grow memory.
    "log0 to log4 with data from memory": (
        _push(0x1234)
        + b"\x5f\x52"  # MSTORE at 0
        + b"\x5f\x5f\xa0"  # LOG0 of nothing
        + b"\x60\x20\x5f\xa0"  # LOG0 of the word
        + _push(7, is_full_width=True)
        + b"\x60\x05\x60\x1d\xa1"  # LOG1 of five bytes across the word's end: memory grows
        + _as_int(9)
        + _push(8)
        + b"\x60\x02\x60\x03\xa2"  # LOG2, topics as an int and as bytes
        + b"\x60\x01\x60\x02\x60\x03\x61\x01\x00\x60\x40\xa3"  # LOG3 of 256 bytes from 64
        + b"\x60\x01\x60\x02\x60\x03\x60\x04\x5f\x7f"
        + bytes([0xFF]) * 32
        + b"\xa4"  # LOG4 of nothing at the largest offset
        + _as_int(3)
        + _as_int(1)
        + b"\xa0"  # offset and size as ints
    ),
    "log1 beyond any gas": b"\x60\x01\x63\x01\x00\x00\x00\x5f\xa1",
    "log0 growing memory beyond any gas": b"\x60\x01\x64\x01\x00\x00\x00\x00\xa0",
    "log3 with two topics": b"\x60\x01\x60\x02\x60\x03\x5f\xa3",
    "log1 with no topic": b"\x60\x01\x5f\xa1",
    "log0 with one item": b"\x60\x01\xa0",
    "log0 with no items": b"\xa0",
}

STATIC_PROGRAMS = {"sstore in a static call": b"\x60\x01\x60\x02\x55", "log0 in a static call": b"\x5f\x5f\xa0"}
"""Run with the message static (inside a STATICCALL)."""


def _run_program(code: bytes, gas: int, *, is_py_evm_loop: bool, is_static: bool = False) -> tuple[Any, ...]:
    from eth.db.atomic import AtomicDB
    from eth.vm.forks.cancun.state import CancunState
    from eth.vm.message import Message

    from gusu.execution.context import BlockContext
    from gusu.execution.evm.engine import compute_execution_context
    from gusu.execution.evm.settings import EvmSettings
    from gusu.ledger.types import Height

    block = BlockContext("dispatch", Height(1), 1_700_000_000_000, Address(b"\x33" * 20))
    state = CancunState(AtomicDB(), compute_execution_context(block, EvmSettings(evm_chain_id=1)), bench.EMPTY_ROOT)
    state.set_code(CONTRACT, code)
    state.set_storage(CONTRACT, 1, 0xABC)
    state.lock_changes()  # 0xABC is slot 1's original value (before the transaction), as SSTORE's metering reads it
    message = Message(gas=gas, to=CONTRACT, sender=SENDER, value=0, data=CALL_DATA, code=code, is_static=is_static)
    context = state.get_transaction_context_class()(gas_price=0, origin=SENDER)
    computation = apply_with_either_loop(state, message, context, is_py_evm_loop=is_py_evm_loop)
    return (
        *describe_computation(computation),
        computation._gas_meter.gas_refunded,
        # What the journal holds after the call (a failed call's writes are the caller's to revert).
        [state.get_storage(CONTRACT, slot) for slot in (1, 2, 3, 2**256 - 1)],
        [state.is_storage_warm(CONTRACT, slot) for slot in (1, 2, 3)],
        # The log entries as the computation holds them: (number in the transaction, address, topics, data).
        list(computation._log_entries),
    )


@pytest.mark.parametrize("name", [*INLINE_PROGRAMS, *STATIC_PROGRAMS])
def test_inline_opcodes_match_py_evm_loop(name: str) -> None:
    is_static = name in STATIC_PROGRAMS
    code = STATIC_PROGRAMS[name] if is_static else INLINE_PROGRAMS[name]
    enough = _run_program(code, 10_000_000, is_py_evm_loop=True, is_static=is_static)
    assert _run_program(code, 10_000_000, is_py_evm_loop=False, is_static=is_static) == enough
    used = 10_000_000 - enough[2]
    # Every gas limit up to what the program needs when it is short (out of gas at each of its opcodes); for a
    # long one a spread of limits, and then every place where the opcode it stops at changes, found by bisection
    # between two limits of the spread, with one gas either side (SSTORE's costs are thousands: its sentry, its
    # net cost and its cold surcharge each make such a place).
    limits = set(range(used + 2) if used < 400 else range(0, used + 2, max(1, used // 200)))
    limits |= {2299, 2300, 2301, 2302}

    def stop_of(gas: int) -> tuple[Any, ...]:
        outcome = _run_program(code, gas, is_py_evm_loop=False, is_static=is_static)
        return outcome[0], outcome[6]  # the error's type and the program counter it stopped at

    spread = sorted(limits) if name.startswith(("sstore", "log")) else []
    stops = [stop_of(gas) for gas in spread]
    for (low, low_stop), (high, high_stop) in itertools.pairwise(zip(spread, stops, strict=True)):
        if high - low > 1 and low_stop != high_stop:
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if stop_of(middle) == low_stop else (low, middle)
            limits |= {high - 1, high, high + 1}
    for gas in sorted(limits):
        fast = _run_program(code, gas, is_py_evm_loop=False, is_static=is_static)
        assert fast == _run_program(code, gas, is_py_evm_loop=True, is_static=is_static), gas


def test_inline_programs_reach_what_they_test() -> None:
    """The programs above fail and succeed where they are meant to (a wrong program would compare nothing)."""
    outcomes = {name: _run_program(code, 10_000_000, is_py_evm_loop=False) for name, code in INLINE_PROGRAMS.items()}
    assert outcomes["ADD with one item"][:2] == ("InsufficientStack", "Wanted 2 stack items, only had 1")
    assert outcomes["ISZERO with no items"][:2] == ("InsufficientStack", "Wanted 1 stack item, had none")
    assert outcomes["jump to a non-jumpdest"][:2] == ("InvalidJumpDestination", "Invalid Jump Destination")
    assert outcomes["jump into push data"][:2] == ("InvalidInstruction", "Jump resulted in invalid instruction")
    assert outcomes["jumpi taken into push data"][0] == "InvalidInstruction"
    assert outcomes["mstore beyond any gas"][0] == "OutOfGas"
    assert "Expanding memory" in outcomes["mstore beyond any gas"][1]
    assert outcomes["mstore with one item"][:2] == ("InsufficientStack", "Wanted 1 stack item, had none")
    for name in (
        "jump to a jumpdest",
        "jumpi with a zero byte condition",
        "a loop of ten jumps",
        "mstore and mload words",
    ):
        assert outcomes[name][0] == "NoneType", (name, outcomes[name])
    assert outcomes["jumpi with a zero byte condition"][4] == [("bytes", b"\x03")]  # not taken: the PUSH1 3 ran
    # CALLDATALOAD at 4, plus 5, stored and returned; ISZERO twice of it left 1 below.
    returned = outcomes["every kind then a return"]
    assert returned[3] == (int.from_bytes(CALL_DATA[4:36], "big") + 5).to_bytes(32, "big")
    assert returned[4] == [("int", 1)]
    assert len(outcomes["ADD on edge words"][4]) == len(WORDS) ** 2
    hashes = outcomes["sha3 of memory ranges"]
    assert hashes[0] == "NoneType"
    assert hashes[4][:3] == [
        ("bytes", keccak(b"")),
        ("bytes", keccak(b"")),
        ("bytes", keccak((0x1234).to_bytes(32, "big"))),
    ]
    assert outcomes["sha3 beyond any gas"][:2] == ("OutOfGas", outcomes["sha3 beyond any gas"][1])
    assert "Expanding memory" in outcomes["sha3 beyond any gas"][1]
    assert outcomes["sha3 with one item"][:2] == ("InsufficientStack", "Wanted 2 stack items, only had 1")
    code = INLINE_PROGRAMS["sha3 of memory ranges"]
    used = 10_000_000 - hashes[2]
    messages = {_run_program(code, gas, is_py_evm_loop=False)[1] for gas in range(used)}
    assert any(message.endswith("Reason: SHA3: word gas cost") for message in messages)
    assert any(message.endswith("Reason: SHA3") for message in messages)  # the fixed cost
    loads = outcomes["sload cold, warm, another slot, the same slot pushed full width"]
    assert loads[4] == [("int", 0xABC), ("int", 0xABC), ("int", 0), ("int", 0xABC), ("int", 0)]
    # Two cold reads (2,100 each), three warm ones (100 each), five pushes and an ADD (3 each), a PUSH0 (2).
    assert 10_000_000 - loads[2] == 2 * 2_100 + 3 * 100 + 6 * 3 + 2
    assert outcomes["sload with no items"][:2] == ("InsufficientStack", "Wanted 1 stack item, had none")
    fresh = outcomes["sstore a fresh slot, change it, clear it, set it back"]
    assert fresh[0] == "NoneType" and fresh[8][1] == 7 and fresh[9][1] is True
    # Set (20,000 + cold 2,100), two dirty writes (100), a set of the clean slot (20,000), the same value (100);
    # nine PUSH1 (3) and a PUSH0 (2). Going back to the original 0 earned set - sload, which stays.
    assert 10_000_000 - fresh[2] == 20_000 + 2_100 + 100 + 100 + 20_000 + 100 + 9 * 3 + 2
    assert fresh[7] == 20_000 - 100
    existing = outcomes["sstore an existing slot, clear it, restore it, clear it again"]
    assert existing[0] == "NoneType" and existing[8][0] == 0 and existing[7] > 0
    assert outcomes["sstore an existing slot to zero at once"][7] == 4_800  # EIP-3529's clear refund
    same = outcomes["sstore the value a slot already holds"]
    assert same[8][:3] == [0xABC, 0, 0] and same[7] == 0
    assert outcomes["sstore with one item"][:2] == ("InsufficientStack", "Wanted 2 stack items, only had 1")
    static = _run_program(STATIC_PROGRAMS["sstore in a static call"], 10_000_000, is_py_evm_loop=False, is_static=True)
    assert static[:2] == ("WriteProtection", "Cannot modify state while inside of a STATICCALL context")
    sentry = _run_program(INLINE_PROGRAMS["sstore with one item"], 2_303, is_py_evm_loop=False)
    assert sentry[0] == "OutOfGas" and "2300" in sentry[1]  # 2,300 left after the push: the sentry, before the pop
    logs = outcomes["log0 to log4 with data from memory"]
    assert logs[0] == "NoneType"
    word = (0x1234).to_bytes(32, "big")
    contract = bytes(CONTRACT)
    assert [entry[1:] for entry in logs[10]] == [
        (contract, (), b""),
        (contract, (), word),
        (contract, (7,), word[29:] + bytes(2)),
        (contract, (8, 9), bytes(2)),
        (contract, (3, 2, 1), bytes(256)),  # the top first
        (contract, (4, 3, 2, 1), b""),
        (contract, (), bytes(3)),
    ]
    assert [entry[0] for entry in logs[10]] == list(range(7))
    assert outcomes["log1 beyond any gas"][0] == "OutOfGas"
    assert outcomes["log1 beyond any gas"][1].endswith("Reason: Log topic and data gas cost")
    assert "Expanding memory" in outcomes["log0 growing memory beyond any gas"][1]
    assert outcomes["log3 with two topics"][:2] == ("InsufficientStack", "Wanted 3 stack items, only had 2")
    assert outcomes["log1 with no topic"][:2] == ("InsufficientStack", "Wanted 1 stack item, had none")
    assert outcomes["log0 with one item"][:2] == ("InsufficientStack", "Wanted 2 stack items, only had 1")
    assert outcomes["log0 with no items"][10] == []
    static_log = _run_program(
        STATIC_PROGRAMS["log0 in a static call"], 10_000_000, is_py_evm_loop=False, is_static=True
    )
    assert static_log[:2] == ("WriteProtection", "Cannot modify state while inside of a STATICCALL context")


def test_log_opcodes_run_inline() -> None:
    """LOG0 to LOG4 are in the inline table with their topic counts (else the programs above test py-evm alone)."""
    from eth.vm.forks.cancun.computation import CancunComputation

    from gusu.execution.evm.inline import LOG, get_inline_opcodes

    table = get_inline_opcodes(CancunComputation.opcodes)
    assert {opcode: (table[opcode].kind, table[opcode].argument) for opcode in range(0xA0, 0xA5)} == {
        0xA0 + count: (LOG, count) for count in range(5)
    }


def test_a_push_cut_by_the_end_of_the_code_pushes_zero_padded_bytes() -> None:
    cut = _run_program(INLINE_PROGRAMS["push4 cut by the end of the code"], 10_000_000, is_py_evm_loop=False)
    assert cut[0] == "NoneType" and cut[4] == [("bytes", b"\x01"), ("bytes", b"\xaa\xbb\x00\x00")]
    assert cut[6] == 7  # past the end by the two missing bytes, as py-evm's CodeStream.read leaves it


def test_the_code_analysis_cache_keeps_within_its_entries_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Least recently used codes are dropped once either bound is passed; one code larger than the byte bound
    is still analysed (and kept alone), so every execution gets its analysis."""
    from gusu.execution.evm import engine

    monkeypatch.setattr(engine, "_code_analyses", type(engine._code_analyses)())
    monkeypatch.setattr(engine, "_code_analyses_bytes", [0])
    monkeypatch.setattr(engine, "CODE_ANALYSIS_CODE_BYTES_MAX", 1_000)
    monkeypatch.setattr(engine, "CODE_ANALYSIS_ENTRIES_MAX", 3)
    codes = [bytes([index]) * 300 for index in range(4)]
    first = engine.get_code_analysis(codes[0])
    assert engine.get_code_analysis(codes[0]) is first and len(first.steps) == 300
    for code in codes[1:3]:
        engine.get_code_analysis(code)
    engine.get_code_analysis(codes[0])  # used again: codes[1] is now the least recently used
    engine.get_code_analysis(codes[3])  # 1,200 bytes: one code must go
    assert list(engine._code_analyses) == [codes[2], codes[0], codes[3]]
    assert engine._code_analyses_bytes == [900]
    engine.get_code_analysis(bytes(100))
    engine.get_code_analysis(bytes(101))  # a fourth entry: past the entry bound
    assert len(engine._code_analyses) == 3 and engine._code_analyses_bytes[0] <= 1_000
    huge = engine.get_code_analysis(b"\x01" * 5_000)
    assert len(huge.steps) == 5_000 and list(engine._code_analyses) == [b"\x01" * 5_000]
    assert engine._code_analyses_bytes == [5_000]
