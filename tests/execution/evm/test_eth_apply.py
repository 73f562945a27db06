"""Ethereum transactions executed (gusu.execution.evm.ethapply): validity, nonces, failures that still
consume the nonce and the fee, the fee policy, and the receipt fields eth_getTransactionReceipt reads."""

from __future__ import annotations

# py-evm's import raises the process's recursion limit (py_ecc); gusu.execution.evm imports it first and
# restores the limit, which later tests (the sandbox's) rely on.
import gusu.execution.evm  # noqa: F401

# isort: split
from typing import Any

import pytest
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_hash.auto import keccak
from eth_keys import keys
from evm_helpers import (
    FUNDS,
    NO_APPROVAL_PARAMETERS,
    EvmChain,
    compute_create_address,
    compute_transfer_topic,
    encode_call,
    encode_call_with_string,
    encode_token_constructor,
    get_bytecode,
)

from gusu.codec import decode, encode
from gusu.errors import ConfigError, ContractError
from gusu.execution import TransactionInput
from gusu.execution.evm.ethreceipt import compute_eth_receipt_fields, compute_logs_bloom
from gusu.execution.evm.settings import EvmSettings, decode_evm_settings, encode_evm_settings
from gusu.ledger.ethtx import EthTransaction, decode_eth_transaction
from gusu.ledger.types import Address, Hash, Receipt

KEY = keys.PrivateKey((5000).to_bytes(32, "big"))
"""The ecdsa key of EvmChain's funded account 0: the same secp256k1 key and address as Ethereum's."""
POOR_KEY = keys.PrivateKey((5001).to_bytes(32, "big"))
OTHER = Address(bytes(range(1, 21)))


def _chain(gas_price: int = 0) -> EvmChain:
    parameters = tuple(sorted((*NO_APPROVAL_PARAMETERS, ("evm_gas_price", gas_price))))
    return EvmChain.create("ecdsa", parameters=parameters)


def _chain_id(chain: EvmChain) -> int:
    value = chain.view("get_chain_id")
    assert isinstance(value, int)
    return value


def sign_dynamic(
    chain_id: int,
    nonce: int,
    to: bytes | None,
    data: bytes = b"",
    value: int = 0,
    gas: int = 1_000_000,
    max_fee: int = 0,
    key: Any = KEY,
) -> bytes:
    unsigned = CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id, nonce, 0, max_fee, gas, to or b"", value, data, ()
    )
    raw: bytes = unsigned.as_signed_transaction(key).encode()
    return raw


def sign_legacy(
    chain_id: int,
    nonce: int,
    to: bytes | None,
    data: bytes = b"",
    value: int = 0,
    gas: int = 1_000_000,
    gas_price: int = 0,
    key: Any = KEY,
) -> bytes:
    unsigned = CancunTransactionBuilder.create_unsigned_transaction(
        nonce=nonce, gas_price=gas_price, gas=gas, to=to or b"", value=value, data=data
    )
    raw: bytes = unsigned.as_signed_transaction(key, chain_id=chain_id).encode()
    return raw


def run_eth(chain: EvmChain, raw: bytes) -> tuple[EthTransaction, Receipt]:
    transaction = decode_eth_transaction(raw, chain_id=None)
    receipt = chain.chain.run(TransactionInput(transaction, transaction.transaction_hash, transaction.sender))
    return transaction, receipt


def _nonce(chain: EvmChain, address: bytes) -> int:
    value = chain.view("get_nonce", address)
    assert isinstance(value, int)
    return value


def _deploy_token(chain: EvmChain, nonce: int = 0) -> Address:
    init = get_bytecode("Token") + encode_token_constructor("Gusu Token", "GST", 10**24)
    transaction, receipt = run_eth(chain, sign_dynamic(_chain_id(chain), nonce, None, init, gas=3_000_000))
    assert receipt.is_success, receipt.error_message
    fields = compute_eth_receipt_fields(receipt, transaction, 0)
    assert fields.contract_address is not None
    return fields.contract_address


def test_deploy_and_transfer_with_both_kinds() -> None:
    chain = _chain()
    sender = chain.addresses[0]
    token = _deploy_token(chain)
    assert token == compute_create_address(sender, 0)
    assert _nonce(chain, sender) == 1
    data = encode_call("transfer(address,uint256)", OTHER, 1234)
    transaction, receipt = run_eth(chain, sign_legacy(_chain_id(chain), 1, token, data, gas=100_000))
    assert receipt.is_success, receipt.error_message
    assert chain.get_token_balance(token, Address(OTHER)) == 1234
    assert _nonce(chain, sender) == 2
    fields = compute_eth_receipt_fields(receipt, transaction, 0)
    assert fields.status == 1 and fields.contract_address is None and fields.transaction_type == 0
    assert 21_000 < fields.gas_used == receipt.gas_used < 100_000
    (log,) = fields.logs
    assert log.address == token and log.topics[0] == compute_transfer_topic()
    assert log.topics[2] == OTHER.rjust(32, b"\x00") and int.from_bytes(log.data, "big") == 1234
    assert fields.logs_bloom == compute_logs_bloom(fields.logs) and any(fields.logs_bloom)
    # The same logs reach Gusu's own APIs as `Log` events of contract evm.
    assert [(event.contract, event.name) for event in receipt.events] == [("evm", "Log")]


def test_logs_bloom_matches_py_evm() -> None:
    from eth.rlp.logs import Log
    from eth.rlp.receipts import Receipt as PyEvmReceipt

    chain = _chain()
    token = _deploy_token(chain)
    data = encode_call("transfer(address,uint256)", OTHER, 5)
    transaction, receipt = run_eth(chain, sign_dynamic(_chain_id(chain), 1, token, data))
    fields = compute_eth_receipt_fields(receipt, transaction, 0)
    expected = PyEvmReceipt(
        1,
        fields.gas_used,
        [Log(log.address, [int.from_bytes(t, "big") for t in log.topics], log.data) for log in fields.logs],
    ).bloom
    assert fields.logs_bloom == expected.to_bytes(256, "big")


def test_revert_consumes_nonce_keeps_no_change_and_reports_data() -> None:
    chain = _chain()
    chain_id = _chain_id(chain)
    _, receipt = run_eth(chain, sign_dynamic(chain_id, 0, None, get_bytecode("Reverter")))
    assert receipt.is_success
    reverter = compute_create_address(chain.addresses[0], 0)
    transaction, receipt = run_eth(
        chain, sign_dynamic(chain_id, 1, reverter, encode_call_with_string("fail(string)", "no way"))
    )
    assert not receipt.is_success and receipt.error_code == "reverted"
    assert "no way" in receipt.error_message and receipt.events == ()
    fields = compute_eth_receipt_fields(receipt, transaction, 0)
    assert fields.status == 0 and fields.gas_used == receipt.gas_used > 21_000
    assert fields.revert_data[:4] == bytes.fromhex("08c379a0") and b"no way" in fields.revert_data
    assert _nonce(chain, chain.addresses[0]) == 2  # consumed although it failed
    assert int.from_bytes(chain.call_static(reverter, encode_call("counter()")), "big") == 0
    # The same nonce again is refused as invalid: nothing changes, no gas.
    _, again = run_eth(chain, sign_dynamic(chain_id, 1, reverter, encode_call("bump()")))
    assert again.error_code == "eth_invalid" and "nonce" in again.error_message and again.gas_used == 0
    assert _nonce(chain, chain.addresses[0]) == 2


def test_out_of_gas_consumes_nonce_and_all_gas() -> None:
    chain = _chain(gas_price=1)
    chain_id = _chain_id(chain)
    sender = chain.addresses[0]
    _, deployed = run_eth(chain, sign_dynamic(chain_id, 0, None, get_bytecode("Reverter"), gas=600_000, max_fee=1))
    assert deployed.is_success, deployed.error_message
    reverter = compute_create_address(sender, 0)
    before = chain.chain.get_balance(sender)
    _, receipt = run_eth(chain, sign_dynamic(chain_id, 1, reverter, encode_call("spin()"), gas=60_000, max_fee=1))
    assert receipt.error_code == "out_of_gas", receipt.error_message
    assert receipt.gas_used == 60_000
    assert chain.chain.get_balance(sender) == before - 60_000
    assert _nonce(chain, sender) == 2


def test_fee_policy_charges_exactly_the_price_and_burns_it() -> None:
    chain = _chain(gas_price=2)
    chain_id = _chain_id(chain)
    sender = chain.addresses[0]
    supply_before = chain.chain.get_balance(sender) + chain.chain.get_balance(OTHER)
    # A generous offer pays only the chain's price.
    _, receipt = run_eth(chain, sign_dynamic(chain_id, 0, OTHER, value=100, gas=21_000, max_fee=50))
    assert receipt.is_success and receipt.gas_used == 21_000
    assert chain.chain.get_balance(OTHER) == 100
    assert chain.chain.get_balance(sender) == FUNDS - 100 - 21_000 * 2
    # Burned: nobody (not the proposer) received the fee.
    assert chain.chain.get_balance(sender) + chain.chain.get_balance(OTHER) == supply_before - 21_000 * 2
    assert chain.chain.get_balance(chain.addresses[3]) == 0
    # Offering less than the price is refused, with nothing charged.
    _, low = run_eth(chain, sign_legacy(chain_id, 1, OTHER, gas=21_000, gas_price=1))
    assert low.error_code == "eth_invalid" and "evm_gas_price" in low.error_message
    assert _nonce(chain, sender) == 1


def test_validity_rules_change_nothing() -> None:
    chain = _chain(gas_price=1)
    chain_id = _chain_id(chain)
    sender = chain.addresses[0]
    cases = {
        "nonce": sign_dynamic(chain_id, 5, OTHER, gas=21_000, max_fee=1),
        "intrinsic": sign_dynamic(chain_id, 0, OTHER, b"\x01" * 10, gas=21_000, max_fee=1),
        "evm_gas_per_transaction_max": sign_dynamic(chain_id, 0, OTHER, gas=30_000_001, max_fee=1),
        "insufficient funds": sign_dynamic(chain_id, 0, OTHER, value=FUNDS, gas=21_000, max_fee=1),
        "chain id": sign_dynamic(chain_id + 1, 0, OTHER, gas=21_000, max_fee=1),
        "holds 0": sign_dynamic(chain_id, 0, OTHER, gas=21_000, max_fee=1, key=POOR_KEY),
    }
    for needle, raw in cases.items():
        _, receipt = run_eth(chain, raw)
        assert receipt.error_code == "eth_invalid", needle
        assert needle in receipt.error_message, (needle, receipt.error_message)
        assert receipt.gas_used == 0 and decode(receipt.return_value) is None
    assert _nonce(chain, sender) == 0 and chain.chain.get_balance(sender) == FUNDS


def test_access_list_is_prewarmed() -> None:
    chain = _chain()
    chain_id = _chain_id(chain)
    token = _deploy_token(chain)
    data = encode_call("transfer(address,uint256)", OTHER, 1)
    run_eth(chain, sign_dynamic(chain_id, 1, token, data))  # OTHER's slot goes from zero to non-zero
    # balanceOf is the token's slot 3: the sender's balance is at keccak(sender, 3).
    balance_slot = int.from_bytes(keccak(chain.addresses[0].rjust(32, b"\x00") + (3).to_bytes(32, "big")), "big")
    plain = run_eth(chain, sign_dynamic(chain_id, 2, token, data))
    unsigned = CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id, 3, 0, 0, 1_000_000, token, 0, data, ((token, (balance_slot,)),)
    )
    warmed = run_eth(chain, unsigned.as_signed_transaction(KEY).encode())
    assert plain[1].is_success and warmed[1].is_success
    # Listing the called address costs 2,400 up front and saves nothing (it is warm anyway); listing the
    # sender's balance slot costs 1,900 and saves its cold access (2,100 becomes 100): net 2,300.
    # Without pre-warming the slot it would be 4,300.
    assert warmed[1].gas_used - plain[1].gas_used == 2_400 + 1_900 - 2_000


def test_code_over_the_chain_limit_fails_after_the_evm_and_uses_all_gas() -> None:
    parameters = tuple(sorted((*NO_APPROVAL_PARAMETERS, ("evm_code_bytes_max", 100))))
    chain = EvmChain.create("ecdsa", parameters=parameters)
    init = get_bytecode("Token") + encode_token_constructor("T", "T", 1)
    _, receipt = run_eth(chain, sign_dynamic(_chain_id(chain), 0, None, init, gas=2_000_000))
    assert receipt.error_code == "state_limit" and receipt.gas_used == 2_000_000
    assert _nonce(chain, chain.addresses[0]) == 1
    assert chain.view("get_code", compute_create_address(chain.addresses[0], 0)) == b""


def test_settings_record_without_gas_price_decodes_as_zero() -> None:
    settings = EvmSettings(evm_chain_id=7, evm_gas_price=5)
    assert decode_evm_settings(encode_evm_settings(settings)) == settings
    older = encode(decode(encode_evm_settings(EvmSettings(evm_chain_id=7)))[:-1])  # type: ignore[index]
    assert decode_evm_settings(older).evm_gas_price == 0
    with pytest.raises(ContractError):
        decode_evm_settings(encode([7]))
    with pytest.raises(ConfigError, match="evm_gas_price"):
        EvmSettings(evm_chain_id=7, evm_gas_price=-1)


def test_gas_price_is_what_the_evm_sees() -> None:
    chain = _chain(gas_price=7)
    chain_id = _chain_id(chain)
    # GASPRICE (0x3a) and BASEFEE (0x48) stored at slots 0 and 1: init code that stores them, returns nothing.
    init = bytes.fromhex("3a6000554860015500")
    _, receipt = run_eth(chain, sign_dynamic(chain_id, 0, None, init, gas=100_000, max_fee=7))
    assert receipt.is_success, receipt.error_message
    created = compute_create_address(chain.addresses[0], 0)
    assert int.from_bytes(chain.view("get_storage_at", created, (0).to_bytes(32, "big")), "big") == 7  # type: ignore[arg-type]
    assert int.from_bytes(chain.view("get_storage_at", created, (1).to_bytes(32, "big")), "big") == 7  # type: ignore[arg-type]


def test_receipt_of_another_transaction_is_refused() -> None:
    from gusu.errors import CodecError

    chain = _chain()
    transaction, receipt = run_eth(chain, sign_dynamic(_chain_id(chain), 0, OTHER, gas=21_000))
    other = Receipt(Hash(bytes(32)), receipt.status, receipt.return_value, (), 0, "", "")
    with pytest.raises(CodecError):
        compute_eth_receipt_fields(other, transaction, 0)
