"""The EVM benchmark runs, and every transfer it times succeeds and moves the token."""

from __future__ import annotations

from evm_helpers import encode_call

from gusu.codec import decode, encode
from gusu.execution.evm import bench


def test_the_benchmark_block_transfers_to_every_recipient() -> None:
    executor, state, token, transfers = bench.build_transfer_chain(20)
    result = executor.execute_block(state, bench._block(3), transfers)
    assert all(receipt.is_success for receipt in result.receipts)
    state.apply(result.writes)
    recipient = bench._address(b"to", 7)
    call = executor.call(
        state,
        bench._block(4),
        "evm",
        "call_static",
        encode([token, encode_call("balanceOf(address)", recipient)]),
        token,
    )
    assert int.from_bytes(decode(call.return_value), "big") == 1  # type: ignore[arg-type]


def test_the_measurements_run() -> None:
    assert 0 < bench.measure_pyevm_alone(3) < 1
    assert 0 < bench.measure_executor(3) < 1
    assert 0 < bench.measure_executor(3, is_eth=True) < 1
    assert 0 < bench.measure_eth_decoding(3) < 1


def test_the_ethereum_transfers_succeed_and_move_the_token() -> None:
    executor, state, token, transfers = bench.build_transfer_chain(5, is_eth=True)
    result = executor.execute_block(state, bench._block(3), transfers)
    assert all(receipt.is_success for receipt in result.receipts), [r.error_message for r in result.receipts]
    state.apply(result.writes)
    call = executor.call(
        state,
        bench._block(4),
        "evm",
        "call_static",
        encode([token, encode_call("balanceOf(address)", bench._address(b"to", 4))]),
        token,
    )
    assert int.from_bytes(decode(call.return_value), "big") == 1  # type: ignore[arg-type]
