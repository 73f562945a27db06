"""The engine's inline opcode dispatch gives exactly what py-evm's own interpreter loop gives.

`_GusuCancunComputation.apply_computation` charges simple opcodes' fixed gas inline instead of through
py-evm's three calls (gusu.execution.evm.engine). The same block of ERC-20 transfers, with gas limits
from too little for anything to plenty, runs once with it and once with py-evm's `apply_computation`:
receipts (status, gas used, out-of-gas messages naming the opcode) and writes must be identical.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth.vm.computation import BaseComputation
from evm_helpers import EvmChain

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
