"""Failed transactions: no state change, the right code, gas still reported, the block goes on."""

from __future__ import annotations

import time

from execution_contracts import Probe, Trusted
from execution_helpers import BOB, Chain, get_return, make_transaction

from gusu.codec import encode
from gusu.execution import ExecutionLimits, compute_state_key, get_default_registry
from gusu.ledger.types import ERROR_MESSAGE_LENGTH_MAX, ReceiptStatus, decode_receipt, encode_receipt


def make_chain(limits: ExecutionLimits | None = None) -> Chain:
    registry = get_default_registry()
    registry.register(Probe)
    registry.register(Trusted)
    return Chain.create(registry, limits)


def probe_key(key: bytes) -> bytes:
    return compute_state_key("probe", key)


def test_a_failed_transaction_changes_nothing_while_later_ones_apply() -> None:
    chain = make_chain()
    result = chain.run_block(
        make_transaction("probe", "store", [b"kept-before", 3]),
        make_transaction("probe", "store_then_fail", [b"lost-1"]),
        make_transaction("probe", "store_then_revert", [b"lost-2"]),
        make_transaction("account", "transfer", [BOB, 10**12]),  # more than Alice has
        make_transaction("probe", "store", [b"kept-after", 4]),
        make_transaction("account", "transfer", [BOB, 5]),
    )
    statuses = [receipt.status for receipt in result.receipts]
    assert statuses == [
        ReceiptStatus.SUCCESS,
        ReceiptStatus.FAILED,
        ReceiptStatus.FAILED,
        ReceiptStatus.FAILED,
        ReceiptStatus.SUCCESS,
        ReceiptStatus.SUCCESS,
    ]
    written = dict(result.writes)
    assert written[probe_key(b"kept-before")] == b"xxx"
    assert written[probe_key(b"kept-after")] == b"xxxx"
    assert probe_key(b"lost-1") not in written
    assert probe_key(b"lost-2") not in written
    assert chain.get_balance(BOB) == 5
    for receipt in result.receipts:
        assert receipt.gas_used > 0
        if not receipt.is_success:
            assert receipt.events == ()
            assert get_return(receipt) is None


def test_a_later_transaction_sees_the_writes_of_earlier_ones_in_the_block() -> None:
    chain = make_chain()
    result = chain.run_block(
        make_transaction("account", "transfer", [BOB, 100]),
        make_transaction("account", "transfer", [BOB, 50]),
    )
    assert all(receipt.is_success for receipt in result.receipts)
    assert chain.get_balance(BOB) == 150


def test_writes_are_sorted_and_net() -> None:
    chain = make_chain()
    result = chain.run_block(
        make_transaction("probe", "store", [b"b", 1]),
        make_transaction("probe", "store", [b"a", 1]),
        make_transaction("probe", "set_and_delete", [b"gone"]),  # never existed: no net change
        make_transaction("probe", "delete", [b"never-there"]),
    )
    keys = [key for key, _ in result.writes]
    assert keys == sorted(keys)
    assert keys == [probe_key(b"a"), probe_key(b"b")]
    result = chain.run_block(
        make_transaction("probe", "delete", [b"a"]),
        make_transaction("probe", "store", [b"b", 1]),  # same value as committed: no net change
    )
    assert result.writes == ((probe_key(b"a"), None),)


def test_a_python_exception_in_a_contract_is_a_contract_error_receipt() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "store_then_fail", [b"k"]))
    assert receipt.error_code == "contract_error"
    expected = "probe.store_then_fail failed with ZeroDivisionError: division by zero in the contract"
    assert receipt.error_message == expected
    assert "Traceback" not in receipt.error_message


def test_memory_addresses_never_reach_a_receipt() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "fail_with_object", []))
    assert receipt.error_code == "contract_error"
    assert receipt.error_message == "probe.fail_with_object failed with ValueError: <object object>"


def test_system_exit_in_a_contract_does_not_stop_the_node() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "exit", []))
    assert receipt.error_code == "contract_error"
    assert "SystemExit" in receipt.error_message


def test_revert_is_final_even_when_the_contract_catches_it() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "swallow_revert", []))
    assert receipt.error_code == "reverted"
    assert receipt.error_message == "first refusal"


def test_a_limit_is_final_even_when_the_contract_catches_it() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "swallow_limit", [70_000]))
    assert receipt.error_code == "state_limit"


def test_a_value_above_the_limit_fails_with_state_limit() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "store", [b"big", 64 * 1024 + 1]))
    assert receipt.error_code == "state_limit"
    assert "state_value_bytes_max = 65536" in receipt.error_message
    assert chain.run(make_transaction("probe", "store", [b"big", 64 * 1024])).is_success


def test_a_key_above_the_limit_fails_with_state_limit() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "store", [b"k" * 257, 1]))
    assert receipt.error_code == "state_limit"
    assert "state_key_bytes_max = 256" in receipt.error_message
    assert chain.run(make_transaction("probe", "store", [b"k" * 256, 1])).is_success


def test_total_writes_above_the_limit_fail_with_state_limit() -> None:
    limits = ExecutionLimits(transaction_write_bytes_max=10_000)
    chain = make_chain(limits)
    receipt = chain.run(make_transaction("probe", "store_many", [3, 4_000]))
    assert receipt.error_code == "state_limit"
    assert "transaction_write_bytes_max = 10000" in receipt.error_message
    assert chain.run(make_transaction("probe", "store_many", [2, 4_000])).is_success


def test_event_limits() -> None:
    chain = make_chain(ExecutionLimits(events_per_transaction_max=3, event_data_bytes_max=100))
    assert chain.run(make_transaction("probe", "emit_many", [3, 10])).is_success
    too_many = chain.run(make_transaction("probe", "emit_many", [4, 10]))
    assert too_many.error_code == "state_limit"
    assert "events_per_transaction_max = 3" in too_many.error_message
    too_big = chain.run(make_transaction("probe", "emit_many", [1, 100]))
    assert too_big.error_code == "state_limit"
    assert "event_data_bytes_max = 100" in too_big.error_message


def test_return_value_limit() -> None:
    chain = make_chain(ExecutionLimits(return_value_bytes_max=1_000))
    assert chain.run(make_transaction("probe", "give_back", [990])).is_success
    receipt = chain.run(make_transaction("probe", "give_back", [1_000]))
    assert receipt.error_code == "state_limit"
    assert "return_value_bytes_max = 1000" in receipt.error_message


def test_a_return_value_without_canonical_encoding_is_a_contract_error() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "bad_return", []))
    assert receipt.error_code == "contract_error"
    assert "no canonical encoding" in receipt.error_message


def test_error_messages_are_truncated_to_what_a_receipt_holds() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "fail_long", []))
    assert receipt.error_code == "contract_error"
    assert len(receipt.error_message) == ERROR_MESSAGE_LENGTH_MAX
    assert receipt.error_message.startswith("probe.fail_long failed with ValueError: xxx")
    assert receipt.error_message.endswith("x...")
    decode_receipt(encode_receipt(receipt))  # still a valid receipt


def test_a_contract_may_fail_with_its_own_code() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "fail_custom", []))
    assert receipt.error_code == "quota_exceeded"
    assert receipt.error_message == "this member's monthly quota is used up"


# --- metering --------------------------------------------------------------------------------


def test_a_runaway_loop_runs_out_of_gas_quickly() -> None:
    chain = make_chain(ExecutionLimits(gas_per_transaction_max=200_000))
    started = time.monotonic()
    result = chain.run_block(
        make_transaction("probe", "spin", []),
        make_transaction("account", "transfer", [BOB, 1]),
    )
    assert time.monotonic() - started < 5
    spin, transfer = result.receipts
    assert spin.error_code == "out_of_gas"
    assert spin.gas_used == 200_000
    assert "gas_per_transaction_max = 200000" in spin.error_message
    assert transfer.is_success


def test_a_loop_that_catches_exception_still_runs_out_of_gas() -> None:
    chain = make_chain(ExecutionLimits(gas_per_transaction_max=100_000))
    receipt = chain.run(make_transaction("probe", "spin_swallowing", []))
    assert receipt.error_code == "out_of_gas"


def test_the_default_gas_limit_stops_a_runaway_loop() -> None:
    chain = make_chain()
    started = time.monotonic()
    receipt = chain.run(make_transaction("probe", "spin", []))
    assert receipt.error_code == "out_of_gas"
    assert time.monotonic() - started < 30


def test_gas_grows_with_executed_lines_and_is_exact() -> None:
    chain = make_chain()
    small = chain.run(make_transaction("probe", "count", [10]))
    large = chain.run(make_transaction("probe", "count", [110]))
    assert small.is_success and large.is_success
    assert get_return(large) == sum(range(110))
    # Each loop iteration executes two lines ("for" and the addition), 20 gas
    # each; the larger result also takes two more bytes to return, 2 gas each.
    return_bytes = len(large.return_value) - len(small.return_value)
    assert large.gas_used - small.gas_used == 100 * 2 * 20 + 2 * return_bytes


def test_runtime_code_is_not_metered_as_contract_lines() -> None:
    chain = make_chain()
    transaction = make_transaction("probe", "store", [b"key", 10])
    receipt = chain.run(transaction)
    # Probe.store is one line; Context.set and everything it calls charge only the write.
    args_gas = 2 * len(transaction.transaction.args)
    assert receipt.gas_used == 2_000 + args_gas + 20 * 1 + (1_000 + 10 * (3 + 10)) + 2 * 1


def test_trusted_contracts_are_not_metered_per_line() -> None:
    chain = make_chain()
    untrusted = chain.run(make_transaction("probe", "count", [1_000]))
    trusted = chain.run(make_transaction("trusted_probe", "count", [1_000]))
    assert trusted.is_success
    assert trusted.gas_used < untrusted.gas_used
    assert trusted.gas_used == 2_000 + 2 * len(encode([1_000])) + 2 * len(encode(sum(range(1_000))))


def test_deep_recursion_fails_the_same_way_on_every_node() -> None:
    chain = make_chain()
    assert chain.run(make_transaction("probe", "recurse", [50])).is_success
    receipt = chain.run(make_transaction("probe", "recurse", [100]))
    assert receipt.error_code == "contract_error"
    assert "call_depth_max = 64" in receipt.error_message


def test_a_stopped_call_fails_even_if_the_contract_catches_base_exception() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "recurse_swallowing", [100]))
    assert receipt.error_code == "contract_error"
    assert "call_depth_max = 64" in receipt.error_message


def test_metering_restores_an_existing_tracer() -> None:
    import sys

    calls: list[str] = []

    def tracer(frame: object, event: str, argument: object) -> None:
        calls.append(event)

    chain = make_chain()
    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        chain.run(make_transaction("probe", "count", [3]))
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(previous)


def test_a_collection_during_a_call_is_not_charged_to_it() -> None:
    """Python that a garbage collection runs (a `gc.callbacks` entry, as Hypothesis registers) must not count as
    the contract's lines: the gas, and the receipt, would depend on when the process last collected."""
    import gc

    from gusu.execution.context import GasMeter
    from gusu.execution.metering import invoke_metered

    def allocate() -> int:
        items = []
        for index in range(500):
            items.append([index])
        return len(items)

    def measure() -> int:
        meter = GasMeter(10**12)
        invoke_metered(allocate, (), meter, 1, 64)
        return meter.limit - meter.remaining

    quiet = measure()
    collections: list[str] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        collections.append(phase)
        collections.append(phase)

    threshold = gc.get_threshold()
    gc.callbacks.append(callback)
    gc.set_threshold(10, 1, 1)
    try:
        assert measure() == quiet
        assert measure() == quiet
        assert gc.isenabled()
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(callback)
    assert collections, "no collection ran at all: the test shows nothing"
