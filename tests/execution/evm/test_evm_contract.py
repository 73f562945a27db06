"""The evm contract on both suites: deploy an ERC-20, transfer, read it back, events, the address rule."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from evm_helpers import (
    EvmChain,
    compute_create_address,
    compute_transfer_topic,
    encode_call,
    encode_token_constructor,
    get_bytecode,
    get_runtime_code,
)

from gusu.codec import decode
from gusu.ledger.types import ReceiptStatus

SUITES = ("sm", "ecdsa")
TRANSFER = "transfer(address,uint256)"
SUPPLY = 10**24


@pytest.mark.parametrize("suite", SUITES)
def test_deploy_puts_the_token_at_the_ethereum_create_address(suite: str) -> None:
    chain = EvmChain.create(suite)
    alice = chain.addresses[0]
    assert chain.view("get_nonce", alice) == 0
    token = chain.deploy_token(SUPPLY)
    assert token == compute_create_address(alice, 0)
    assert chain.view("get_nonce", alice) == 1
    assert chain.view("get_nonce", token) == 1  # EIP-161: a new contract starts at nonce 1
    assert chain.view("get_code", token) == get_runtime_code("Token")
    # totalSupply is the third declared state variable: slot 2.
    assert chain.view("get_storage_at", token, (2).to_bytes(32, "big")) == SUPPLY.to_bytes(32, "big")
    second = chain.deploy_token(SUPPLY)
    assert second == compute_create_address(alice, 1)


@pytest.mark.parametrize("suite", SUITES)
def test_transfer_moves_tokens_and_logs_a_transfer_event(suite: str) -> None:
    chain = EvmChain.create(suite)
    alice, bob = chain.addresses[0], chain.addresses[1]
    token = chain.deploy_token(SUPPLY)
    receipt = chain.send(token, encode_call(TRANSFER, bob, 700))
    assert receipt.status is ReceiptStatus.SUCCESS, receipt.error_message
    assert int.from_bytes(decode(receipt.return_value), "big") == 1  # type: ignore[arg-type]
    assert chain.get_token_balance(token, bob) == 700
    assert chain.get_token_balance(token, alice) == SUPPLY - 700
    (event,) = receipt.events
    assert (event.contract, event.name) == ("evm", "Log")
    assert decode(event.data) == [
        token,
        [compute_transfer_topic(), alice.rjust(32, b"\x00"), bob.rjust(32, b"\x00")],
        (700).to_bytes(32, "big"),
    ]
    # Bob, whose address the suite derived, spends as the EVM's msg.sender.
    receipt = chain.send(token, encode_call(TRANSFER, chain.addresses[2], 200), sender=1)
    assert receipt.status is ReceiptStatus.SUCCESS, receipt.error_message
    assert chain.get_token_balance(token, bob) == 500
    assert chain.get_token_balance(token, chain.addresses[2]) == 200


@pytest.mark.parametrize("suite", SUITES)
def test_gas_used_is_the_evm_gas_plus_the_gusu_transaction_charge(suite: str) -> None:
    chain = EvmChain.create(suite)
    token = chain.deploy_token(SUPPLY)
    first = chain.send(token, encode_call(TRANSFER, chain.addresses[1], 1))
    second = chain.send(token, encode_call(TRANSFER, chain.addresses[1], 1))
    # The second transfer rewrites a non-zero balance (SSTORE 2,900 instead of 20,000 warm): Ethereum's
    # schedule, so exactly 17,100 less, whatever the fixed Gusu charge around it.
    assert first.gas_used - second.gas_used == 17_100
    assert 21_000 < second.gas_used < 60_000


@pytest.mark.parametrize("suite", SUITES)
def test_value_moves_native_balance(suite: str) -> None:
    chain = EvmChain.create(suite)
    alice, carol = chain.addresses[0], chain.addresses[2]
    before = chain.chain.view("account", "balance", alice)
    receipt = chain.send(carol, b"", value=250)
    assert receipt.status is ReceiptStatus.SUCCESS, receipt.error_message
    assert chain.chain.view("account", "balance", carol) == 250
    assert chain.chain.view("account", "balance", alice) == before - 250  # type: ignore[operator]
    # The token's constructor is not payable: sending value to it reverts and moves nothing.
    receipt = chain.deploy(get_bytecode("Token"), value=1)
    assert receipt.status is ReceiptStatus.FAILED
    assert chain.chain.view("account", "balance", alice) == before - 250  # type: ignore[operator]


def test_chain_id_comes_from_genesis() -> None:
    chain = EvmChain.create("ecdsa", parameters=(("contract_deploy_approval_required", 0), ("evm_chain_id", 4242)))
    assert chain.view("get_chain_id") == 4242
    code_hash = keccak(get_runtime_code("Token"))
    assert len(code_hash) == 32


def test_deploy_static_runs_a_deployment_and_keeps_nothing() -> None:
    chain = EvmChain.create("ecdsa")
    alice = chain.addresses[0]
    init = get_bytecode("Token") + encode_token_constructor("Gusu Token", "GST", SUPPLY)
    assert chain.view("deploy_static", init) == compute_create_address(alice, 0)
    assert chain.view("get_nonce", alice) == 0  # nothing kept: no nonce, no code
    assert chain.view("get_code", compute_create_address(alice, 0)) == b""
    assert chain.deploy_token(SUPPLY) == compute_create_address(alice, 0)
