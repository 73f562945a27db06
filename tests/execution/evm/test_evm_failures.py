"""EVM failures: reverts with reasons and custom errors, out of gas, limits; a failed transaction leaves nothing."""

from __future__ import annotations

import pytest
from evm_helpers import (
    NO_APPROVAL_PARAMETERS,
    EvmChain,
    encode_call,
    encode_call_with_string,
    get_bytecode,
)

from gusu.codec import decode
from gusu.execution import ExecutionLimits
from gusu.execution.evm.contract import compute_revert_message
from gusu.ledger.types import Address, ReceiptStatus

SUITES = ("sm", "ecdsa")
ERROR_STRING_SELECTOR = "08c379a0"


def deploy_reverter(chain: EvmChain) -> Address:
    receipt = chain.deploy(get_bytecode("Reverter"))
    assert receipt.status is ReceiptStatus.SUCCESS, receipt.error_message
    address = decode(receipt.return_value)
    assert isinstance(address, bytes)
    return Address(address)


def get_counter(chain: EvmChain, reverter: Address) -> int:
    return int.from_bytes(chain.view("get_storage_at", reverter, bytes(32)), "big")  # type: ignore[arg-type]


@pytest.mark.parametrize("suite", SUITES)
def test_revert_with_a_reason_fails_with_the_reason_and_the_revert_data(suite: str) -> None:
    chain = EvmChain.create(suite)
    reverter = deploy_reverter(chain)
    nonce = chain.view("get_nonce", chain.addresses[0])
    receipt = chain.send(reverter, encode_call_with_string("fail(string)", "not today"))
    assert receipt.status is ReceiptStatus.FAILED
    assert receipt.error_code == "reverted"
    assert receipt.error_message.startswith(f"execution reverted (data=0x{ERROR_STRING_SELECTOR}")
    assert receipt.error_message.endswith("): not today")
    # The data in the message is the complete ABI-encoded Error(string), ready for ethers/web3 to decode.
    data = bytes.fromhex(receipt.error_message.split("data=0x")[1].split(")")[0])
    assert data[4:].rstrip(b"\x00").endswith(b"not today")
    assert receipt.events == ()
    # The counter the method incremented before reverting, and the sender's EVM nonce, are unchanged.
    assert get_counter(chain, reverter) == 0
    assert chain.view("get_nonce", chain.addresses[0]) == nonce


@pytest.mark.parametrize("suite", SUITES)
def test_a_custom_error_is_named_by_its_selector(suite: str) -> None:
    chain = EvmChain.create(suite)
    token = chain.deploy_token(100)
    receipt = chain.send(token, encode_call("transfer(address,uint256)", chain.addresses[2], 1), sender=1)
    assert receipt.status is ReceiptStatus.FAILED
    assert receipt.error_code == "reverted"
    # InsufficientBalance(address,uint256,uint256) = 0xdb42144d
    assert receipt.error_message.startswith("execution reverted (data=0xdb42144d")
    assert receipt.error_message.endswith("custom error 0xdb42144d")


def test_revert_messages_put_the_data_first_and_cut_long_data() -> None:
    assert compute_revert_message(b"") == "execution reverted (data=0x): no reason given"
    panic = bytes.fromhex("4e487b71") + (0x11).to_bytes(32, "big")
    assert compute_revert_message(panic).endswith("): panic 0x11")
    message = compute_revert_message(b"\xab" * 1000)
    assert len(message) < 1024
    assert "..." in message


@pytest.mark.parametrize("suite", SUITES)
def test_out_of_gas_fails_the_transaction_and_keeps_nothing(suite: str) -> None:
    # A small EVM limit keeps the endless loop short; the Gusu meter's own limit is tested below.
    parameters = tuple(sorted((*NO_APPROVAL_PARAMETERS, ("evm_gas_per_transaction_max", 500_000))))
    chain = EvmChain.create(suite, parameters=parameters)
    reverter = deploy_reverter(chain)
    receipt = chain.send(reverter, encode_call("spin()"))
    assert receipt.status is ReceiptStatus.FAILED
    assert receipt.error_code == "out_of_gas"
    assert 500_000 <= receipt.gas_used < 510_000  # all of the EVM's gas, and the Gusu transaction charge
    assert get_counter(chain, reverter) == 0


def test_the_gusu_gas_meter_bounds_the_evm_gas() -> None:
    chain = EvmChain.create("sm", limits=ExecutionLimits(gas_per_transaction_max=800_000))
    reverter = deploy_reverter(chain)
    receipt = chain.send(reverter, encode_call("spin()"))
    assert receipt.error_code == "out_of_gas"
    assert receipt.gas_used == 800_000
    assert get_counter(chain, reverter) == 0


def test_the_evm_gas_limit_setting_bounds_a_call() -> None:
    parameters = tuple(sorted((*NO_APPROVAL_PARAMETERS, ("evm_gas_per_transaction_max", 40_000))))
    chain = EvmChain.create("sm", parameters=parameters)
    receipt = chain.deploy(get_bytecode("Reverter"))  # a deployment needs far more than 40,000 gas
    assert receipt.status is ReceiptStatus.FAILED
    assert receipt.error_code == "out_of_gas"
    assert "evm_gas_per_transaction_max = 40000" in receipt.error_message


def test_size_limits_refuse_large_code_and_call_data() -> None:
    parameters = tuple(
        sorted((*NO_APPROVAL_PARAMETERS, ("evm_call_data_bytes_max", 100), ("evm_init_code_bytes_max", 1000)))
    )
    chain = EvmChain.create("sm", parameters=parameters)
    receipt = chain.deploy(get_bytecode("Token"))
    assert receipt.error_code == "state_limit", receipt.error_message
    assert "evm_init_code_bytes_max = 1000" in receipt.error_message
    receipt = chain.send(chain.addresses[1], bytes(101))
    assert "evm_call_data_bytes_max = 100" in receipt.error_message
    parameters = tuple(sorted((*NO_APPROVAL_PARAMETERS, ("evm_code_bytes_max", 500))))
    chain = EvmChain.create("sm", parameters=parameters)
    receipt = chain.deploy(get_bytecode("Reverter"))  # its runtime code is larger than 500 bytes
    assert "evm_code_bytes_max = 500" in receipt.error_message


@pytest.mark.parametrize("suite", SUITES)
def test_a_failed_transaction_between_two_good_ones_leaves_no_write(suite: str) -> None:
    def run(with_failure: bool) -> tuple[tuple[bytes, bytes | None], ...]:
        chain = EvmChain.create(suite)
        token = chain.deploy_token(1000)
        transfer = "transfer(address,uint256)"
        good = [chain.make_transaction("evm", "call", [token, encode_call(transfer, chain.addresses[1], 10), 0])]
        bad = chain.make_transaction("evm", "call", [token, encode_call(transfer, chain.addresses[2], 10**9), 0])
        good.append(chain.make_transaction("evm", "call", [token, encode_call(transfer, chain.addresses[2], 5), 0]))
        transactions = [good[0], bad, good[1]] if with_failure else good
        result = chain.chain.run_block(*transactions)
        assert [receipt.status for receipt in result.receipts].count(ReceiptStatus.FAILED) == int(with_failure)
        return result.writes

    assert run(with_failure=True) == run(with_failure=False)


def test_a_chain_without_evm_in_its_genesis_has_no_evm() -> None:
    chain = EvmChain.create("sm", contracts=("account", "contracts", "evidence", "system"))
    receipt = chain.deploy(get_bytecode("Token"))
    assert receipt.error_code == "contract_unknown"


@pytest.mark.parametrize("suite", SUITES)
def test_a_reverted_inner_call_is_rolled_back_and_the_outer_call_commits(suite: str) -> None:
    chain = EvmChain.create(suite)
    reverter = deploy_reverter(chain)
    receipt = chain.send(reverter, encode_call("tryBump()"))
    assert receipt.status is ReceiptStatus.SUCCESS, receipt.error_message
    assert int.from_bytes(decode(receipt.return_value)[-32:], "big") == 1  # type: ignore[index]
    assert get_counter(chain, reverter) == 1  # the inner call's +10 is gone
