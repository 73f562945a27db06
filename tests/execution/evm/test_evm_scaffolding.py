"""The engine's own versions of py-evm's per-transaction steps and of a few more opcodes give exactly py-evm's results.

`gusu.execution.evm.engine` replaces, for speed: the transaction executor's `finalize_computation` (refunds, fees,
self-destructs, EIP-161 clearing), the loop's memory growth (py-evm's `extend_memory`), and runs CALLER, CALLVALUE,
CALLDATASIZE, ADDRESS, ORIGIN and RETURN inline. Each is compared here with py-evm's own code, put back with
monkeypatch or run through py-evm's loop: on py-evm's own state (where the fee fields, self-destructs and calls
can be chosen freely) and through the executor with Gusu's state, at gas limits that stop the programs at many
places.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth.exceptions import OutOfGas
from eth.vm.forks.cancun.computation import CancunComputation
from eth.vm.forks.cancun.state import CancunState
from eth.vm.message import Message
from eth_typing import Address as EthAddress
from evm_helpers import apply_with_either_loop, describe_computation, encode_call, get_bytecode
from test_eth_apply import _chain, _chain_id, _nonce, sign_dynamic
from test_evm_dispatch import _wrap_runtime

from gusu.execution import TransactionInput
from gusu.execution.context import BlockContext
from gusu.execution.evm import bench, engine
from gusu.execution.evm.engine import (
    _GusuCancunComputation,
    _GusuCancunTransactionExecutor,
    _Transaction,
    compute_execution_context,
)
from gusu.execution.evm.inline import ENVIRONMENT, RETURN, get_inline_opcodes
from gusu.execution.evm.settings import EvmSettings
from gusu.ledger.ethtx import decode_eth_transaction
from gusu.ledger.types import Address, Height, ReceiptStatus

SENDER = EthAddress(b"\x11" * 20)
CONTRACT = EthAddress(b"\x22" * 20)
ORIGIN = EthAddress(b"\x44" * 20)
COINBASE = EthAddress(b"\x33" * 20)
EMPTY = EthAddress(b"\x55" * 20)
"""An account that does not exist: calls touch it (EIP-161 clears it again)."""
BENEFICIARY = EthAddress(b"\x66" * 20)
RIPEMD160 = EthAddress(bytes(19) + b"\x03")
SHA256 = EthAddress(bytes(19) + b"\x02")
CALL_DATA = bytes(3) + bytes(range(1, 34))


def _block() -> BlockContext:
    return BlockContext("scaffolding", Height(1), 1_700_000_000_000, Address(COINBASE))


# --- finalize_computation on py-evm's own state ---------------------------------------------------------------


class _State(CancunState):
    """py-evm's Cancun state with the engine's computation and transaction executor (its database is py-evm's)."""

    computation_class = _GusuCancunComputation
    transaction_executor_class = _GusuCancunTransactionExecutor


def _call(to: bytes, value: int = 0) -> bytes:
    """CALL `to` with all the gas left, `value` and no data, then POP its status."""
    return b"\x5f\x5f\x5f\x5f" + bytes([0x60, value]) + b"\x73" + to + b"\x5a\xf1\x50"


FINALIZED_CODES = {
    # Clears slot 1 (an EIP-3529 refund), calls an empty account (a child computation that touches it), stops.
    "clear a slot, call an empty account": b"\x5f\x60\x01\x55" + _call(EMPTY) + b"\x00",
    "write then revert": b"\x60\x05\x60\x02\x55\x5f\x5f\xfd",
    # A child call to the RIPEMD-160 precompile, then a revert: py-evm's special case keeps it touched.
    "call ripemd160 then revert": _call(RIPEMD160) + b"\x5f\x5f\xfd",
    "call the beneficiary with value, return a word": _call(BENEFICIARY, 1) + b"\x60\x2a\x5f\x52\x60\x20\x5f\xf3",
}
SELF_DESTRUCT = b"\x73" + BENEFICIARY + b"\xff"
"""Init code that self-destructs to BENEFICIARY: the new contract is deleted (EIP-6780: created in the transaction)."""

FEES = ((0, 0, 0), (7, 7, 0), (5, 10, 2), (5, 6, 3))
"""(base fee, max fee, max priority fee): no fee, Gusu's fixed price (no tip), a tip, a tip capped by the max fee."""


def _finalize_cases() -> list[tuple[str, bytes | None, bytes, int]]:
    """(name, to, data, value): calls of each code, a call of the precompile alone, creations."""
    cases: list[tuple[str, bytes | None, bytes, int]] = [(name, CONTRACT, name.encode(), 0) for name in FINALIZED_CODES]
    cases.append(("ripemd160 alone", RIPEMD160, b"\x01" * 100, 0))
    cases.append(("sha256 alone", SHA256, b"\x01" * 100, 0))
    cases.append(("an empty account with value 0", EMPTY, b"", 0))
    cases.append(("self-destructing creation", None, SELF_DESTRUCT, 0))
    cases.append(("self-destructing creation with value", None, SELF_DESTRUCT, 9))
    cases.append(("creation", None, _wrap_runtime(b"\x60\x01\x5f\x55\x00"), 0))
    return cases


def _finalize(name: str, to: bytes | None, data: bytes, value: int, gas: int, fees: tuple[int, int, int]) -> Any:
    base_fee, max_fee, priority_fee = fees
    state = _State(
        AtomicDB(), compute_execution_context(_block(), EvmSettings(evm_chain_id=1), base_fee), bench.EMPTY_ROOT
    )
    state.set_balance(SENDER, 10**18)
    # Two precompiles' addresses hold empty accounts (as pre-EIP-161 chains left some): a failed call clears the
    # RIPEMD-160 one only (py-evm's special case), a successful one both.
    state.touch_account(SHA256)
    state.touch_account(RIPEMD160)
    code = FINALIZED_CODES.get(name)
    if code is not None:
        state.set_code(CONTRACT, code)
        state.set_balance(CONTRACT, 5)
        state.set_storage(CONTRACT, 1, 0xABC)
    state.lock_changes()
    transaction: Any = _Transaction(SENDER, to or b"", value, data, gas, gas_price=max_fee)
    transaction.max_priority_fee_per_gas = priority_fee
    executor = state.get_transaction_executor()
    message = executor.build_evm_message(transaction)
    computation = executor.build_computation(message, transaction)
    deleted = len(computation.get_accounts_for_deletion())
    assert executor.finalize_computation(transaction, computation) is computation
    state.lock_changes()
    accounts = (SENDER, CONTRACT, COINBASE, EMPTY, BENEFICIARY, RIPEMD160, SHA256, message.storage_address)
    return (
        computation.is_success,
        repr(computation._error),
        computation.get_gas_remaining(),
        computation.get_gas_refund(),
        computation.data_floor_gas,
        deleted,
        [(state.account_exists(account), state.get_balance(account), state.get_nonce(account)) for account in accounts],
        state.make_state_root(),
    )


def _finalize_all() -> list[Any]:
    outcomes = []
    for name, to, data, value in _finalize_cases():
        intrinsic = _Transaction(SENDER, to or b"", value, data, 0).intrinsic_gas
        for fees, extra in itertools.product(FEES, (0, 1, 100, 700, 2_700, 9_000, 30_000, 60_000, 200_000)):
            outcomes.append((name, fees, extra, _finalize(name, to, data, value, intrinsic + extra, fees)))
    return outcomes


def test_finalize_matches_py_evm_on_its_own_state(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _finalize_all()
    monkeypatch.delattr(_GusuCancunTransactionExecutor, "finalize_computation")  # py-evm's Cancun one again
    assert fast == _finalize_all()
    # The cases reach what they test: failures and successes, refunds of storage, deletions, fees to the coinbase,
    # accounts touched and cleared (the empty account called never remains).
    assert {outcome[0] for *_, outcome in fast} == {True, False}
    assert any(outcome[3] > 0 for *_, outcome in fast)
    assert any(outcome[5] > 0 for *_, outcome in fast)
    assert any(outcome[6][2][1] > 0 for _, fees, _, outcome in fast if fees[2])
    assert not any(outcome[6][3][0] for *_, outcome in fast)
    assert any(outcome[6][4][1] for *_, outcome in fast)
    sha256_kept = {outcome[6][6][0] for name, _, _, outcome in fast if name == "sha256 alone"}
    assert sha256_kept == {True, False}  # kept after a failed call, cleared after a successful one


def test_finalize_through_the_executor_matches_py_evm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ethereum transactions with Gusu's fixed gas price (0, then 1): transfers out of gas at many places and
    successful, a reverted transfer and a creation, through `Executor.execute_block` and Gusu's state."""

    def run(gas_price: int) -> Any:
        chain = _chain(gas_price)
        token = chain.deploy_token()
        sender = chain.addresses[0]
        chain_id = _chain_id(chain)
        nonce = _nonce(chain, sender)
        transfer = encode_call("transfer(address,uint256)", bytes(range(1, 21)), 5)
        raws = [
            sign_dynamic(chain_id, nonce + index, token, transfer, gas=gas, max_fee=gas_price)
            for index, gas in enumerate(
                (22_000, 24_500, 27_000, 29_500, 32_000, 51_400, 51_500, 52_000, 60_000, 90_000)
            )
        ]
        too_much = encode_call("transfer(address,uint256)", bytes(range(1, 21)), 10**30)
        raws.append(sign_dynamic(chain_id, nonce + len(raws), token, too_much, gas=60_000, max_fee=gas_price))
        creation = get_bytecode("Reverter")
        raws.append(sign_dynamic(chain_id, nonce + len(raws), None, creation, gas=400_000, max_fee=gas_price))
        transactions = [decode_eth_transaction(raw, chain_id=None) for raw in raws]
        inputs = [TransactionInput(item, item.transaction_hash, item.sender) for item in transactions]
        result = chain.chain.run_block(*inputs)
        return result.receipts, result.writes, dict(chain.chain.state.items)

    for gas_price in (0, 1):
        fast = run(gas_price)
        with monkeypatch.context() as patch:
            patch.delattr(_GusuCancunTransactionExecutor, "finalize_computation")
            reference = run(gas_price)
        assert fast == reference
        codes = [receipt.error_code for receipt in fast[0]]
        assert codes.count("out_of_gas") > 3 and codes.count("") > 3 and "reverted" in codes, codes
        assert "eth_invalid" not in codes  # every one ran, its fee within the sender's funds
        assert fast[0][-1].status is ReceiptStatus.SUCCESS  # the creation


# --- CALLER, CALLVALUE, CALLDATASIZE, ADDRESS, ORIGIN and RETURN inline -----------------------------------------


def _run(code: bytes, gas: int, *, is_py_evm_loop: bool, value: int = 0, data: bytes = CALL_DATA) -> tuple[Any, ...]:
    state = CancunState(AtomicDB(), compute_execution_context(_block(), EvmSettings(evm_chain_id=1)), bench.EMPTY_ROOT)
    state.set_code(CONTRACT, code)
    message = Message(gas=gas, to=CONTRACT, sender=SENDER, value=value, data=data, code=code)
    context = state.get_transaction_context_class()(gas_price=0, origin=ORIGIN)
    computation = apply_with_either_loop(state, message, context, is_py_evm_loop=is_py_evm_loop)
    return (*describe_computation(computation), computation._output)


STORE_AND_RETURN_ALL = b"".join(bytes([0x60, 32 * index, 0x52]) for index in range(5)) + b"\x60\xa0\x5f\xf3"
"""MSTORE the five items on the stack at 0, 32, ..., 128 and RETURN the 160 bytes."""

FULL = b"\x5f" * 1024
"""1,024 PUSH0: the stack is full."""

CONTEXT_OPCODES = {"CALLER": 0x33, "CALLVALUE": 0x34, "CALLDATASIZE": 0x36, "ADDRESS": 0x30, "ORIGIN": 0x32}

SCAFFOLDING_PROGRAMS = {
    "the five context opcodes, returned": b"\x33\x34\x36\x30\x32" + STORE_AND_RETURN_ALL,
    "the five left on the stack": b"\x32\x30\x36\x34\x33",
    **{f"{name} onto a full stack": FULL + bytes([opcode]) for name, opcode in CONTEXT_OPCODES.items()},
    "CALLER onto 1,023 items": b"\x5f" * 1023 + b"\x33",
    "return nothing": b"\x5f\x5f\xf3",
    "return nothing at the largest offset": b"\x5f\x7f" + b"\xff" * 32 + b"\xf3",
    "return a word from memory not yet grown": b"\x60\x20\x60\x05\xf3",
    "return within memory": b"\x60\x2a\x5f\x52\x60\x03\x60\x1e\xf3",
    "return growing memory past a quadratic step": b"\x60\x2a\x5f\x52\x61\x20\x00\x5f\xf3",
    "return with offset and size as ints": b"\x60\x2a\x5f\x52\x60\x03\x5f\x01\x60\x1d\x5f\x01\xf3",
    "return beyond any gas": b"\x60\x01\x63\x01\x00\x00\x00\xf3",
    "return a huge size": b"\x7f" + b"\xff" * 32 + b"\x5f\xf3",
    "return with one item": b"\x60\x01\xf3",
    "return with no items": b"\xf3",
}


def test_scaffolding_opcodes_run_inline() -> None:
    """Else the programs below compare py-evm with itself."""
    table = get_inline_opcodes(CancunComputation.opcodes)
    assert {opcode: table[opcode].kind for opcode in (0x30, 0x32, 0x33, 0x34, 0x36, 0xF3)} == {
        0x30: ENVIRONMENT, 0x32: ENVIRONMENT, 0x33: ENVIRONMENT, 0x34: ENVIRONMENT, 0x36: ENVIRONMENT, 0xF3: RETURN
    }  # fmt: skip


@pytest.mark.parametrize("name", list(SCAFFOLDING_PROGRAMS))
@pytest.mark.parametrize(("value", "data"), [(0, CALL_DATA), (2**256 - 1, b""), (7, bytes(1000))])
def test_scaffolding_opcodes_match_py_evm_loop(name: str, value: int, data: bytes) -> None:
    code = SCAFFOLDING_PROGRAMS[name]
    enough = _run(code, 10_000_000, is_py_evm_loop=True, value=value, data=data)
    assert _run(code, 10_000_000, is_py_evm_loop=False, value=value, data=data) == enough
    # A failure takes all the gas: then up to a little more than the stack-limit programs need (2,050).
    used = 10_000_000 - enough[2] if enough[0] == "NoneType" else 2_100
    # Every limit for a short program (out of gas at each opcode); a spread and the last few for a long one.
    limits = set(range(used + 2)) if used < 600 else {*range(0, used, 97), *range(used - 40, used + 2)}
    for gas in sorted(limits):
        fast = _run(code, gas, is_py_evm_loop=False, value=value, data=data)
        assert fast == _run(code, gas, is_py_evm_loop=True, value=value, data=data), gas


def test_scaffolding_programs_reach_what_they_test() -> None:
    outcomes = {
        name: _run(code, 10_000_000, is_py_evm_loop=False, value=3) for name, code in SCAFFOLDING_PROGRAMS.items()
    }
    returned = outcomes["the five context opcodes, returned"]
    assert returned[0] == "NoneType"
    assert returned[3] == b"".join(
        item.rjust(32, b"\x00") for item in (ORIGIN, CONTRACT, len(CALL_DATA).to_bytes(1, "big"), b"\x03", SENDER)
    )
    assert outcomes["the five left on the stack"][4] == [
        ("bytes", ORIGIN), ("bytes", CONTRACT), ("int", len(CALL_DATA)), ("int", 3), ("bytes", SENDER)
    ]  # fmt: skip
    for name in SCAFFOLDING_PROGRAMS:
        if name.endswith("onto a full stack"):
            assert outcomes[name][:2] == ("FullStack", "Stack limit reached"), name
    assert outcomes["CALLER onto 1,023 items"][0] == "NoneType"
    assert outcomes["return a word from memory not yet grown"][3] == bytes(32)
    assert outcomes["return within memory"][3] == b"\x00\x2a\x00"
    assert outcomes["return nothing at the largest offset"][:4] == ("NoneType", "None", 10_000_000 - 5, b"")
    assert "Expanding memory" in outcomes["return beyond any gas"][1]
    assert outcomes["return with one item"][:2] == ("InsufficientStack", "Wanted 2 stack items, only had 1")
    grown = outcomes["return growing memory past a quadratic step"]
    assert len(grown[3]) == 0x2000 and len(grown[5]) == 0x2000


# --- memory growth -------------------------------------------------------------------------------------------


def test_memory_growth_matches_py_evm_extend_memory() -> None:
    """`_grow_memory` against py-evm's `computation.extend_memory`: the gas left, the out-of-gas message, the
    memory's length, from memories of several sizes, for offsets and sizes at and around word and cost edges."""
    state = CancunState(AtomicDB(), compute_execution_context(_block(), EvmSettings(evm_chain_id=1)), bench.EMPTY_ROOT)
    message = Message(gas=0, to=CONTRACT, sender=SENDER, value=0, data=b"", code=b"")
    context = state.get_transaction_context_class()(gas_price=0, origin=ORIGIN)
    compared = failed = 0
    for before, offset, size, gas in itertools.product(
        (0, 32, 96, 704, 736, 4096),
        (0, 1, 31, 32, 33, 700, 724, 5000, 2**256 - 1),
        (0, 1, 31, 32, 33, 64, 1000, 2**256 - 1),
        (0, 3, 6, 100, 5_000, 10**9),
    ):
        reference = _GusuCancunComputation(state, message, context)
        reference._memory.extend(0, before)
        reference._gas_meter.gas_remaining = gas
        try:
            reference.extend_memory(offset, size)
            expected: tuple[Any, ...] = ("ok", reference._gas_meter.gas_remaining, len(reference._memory._bytes))
        except OutOfGas as error:
            expected = ("OutOfGas", str(error), len(reference._memory._bytes))
            failed += 1
        memory = _GusuCancunComputation(state, message, context)._memory
        memory.extend(0, before)
        try:
            actual: tuple[Any, ...] = ("ok", engine._grow_memory(memory, gas, offset, size), len(memory._bytes))
        except OutOfGas as error:
            actual = ("OutOfGas", str(error), len(memory._bytes))
        assert actual == expected, (before, offset, size, gas)
        compared += 1
    assert failed > 100 and compared - failed > 100


# --- the execution context kept for a block ------------------------------------------------------------------


def _context_fields(context: Any) -> tuple[Any, ...]:
    return (
        context.coinbase,
        context.timestamp,
        context.block_number,
        context.difficulty,
        context.mix_hash,
        context.gas_limit,
        tuple(context.prev_hashes),
        context.chain_id,
        context.base_fee_per_gas,
        context.excess_blob_gas,
    )


def test_the_execution_context_is_kept_only_for_the_same_block_settings_and_price() -> None:
    block, settings = _block(), EvmSettings(evm_chain_id=1)
    first = engine.get_execution_context(block, settings, 0)
    assert engine.get_execution_context(block, settings, 0) is first
    later = BlockContext("scaffolding", Height(2), 1_700_000_001_000, Address(b"\x77" * 20))
    for asked in (
        (later, settings, 0),
        (block, EvmSettings(evm_chain_id=2, evm_gas_per_transaction_max=1_000_000), 0),
        (block, settings, 0),
        (block, settings, 7),
        (later, settings, 7),
        (BlockContext("scaffolding", Height(2), 1_700_000_001_000, Address(b"\x77" * 20)), settings, 7),
    ):
        context = engine.get_execution_context(*asked)
        assert _context_fields(context) == _context_fields(compute_execution_context(*asked)), asked
        assert engine.get_execution_context(*asked) is context
