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

from gusu.execution.evm import bench
from gusu.execution.evm.engine import _GusuCancunComputation
from gusu.execution.evm.settings import compute_default_evm_chain_id
from gusu.execution.executor import BlockExecutionResult, TransactionInput
from gusu.ledger.ethtx import decode_eth_transaction, encode_signed_legacy_transaction

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
