"""EVM state in Gusu's state: the key layout, determinism, and governance's approval of code."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_hash.auto import keccak
from evm_helpers import EVM_CONTRACTS, EvmChain, encode_call, encode_token_constructor, get_bytecode, get_runtime_code
from execution_helpers import Chain, MemoryState, make_transaction
from governance_helpers import CLIENT_KEY, decide, make_consortium_genesis

from gusu.codec import decode, encode
from gusu.execution import ExecutionLimits, Executor, compute_chain_registry, compute_state_key
from gusu.execution.evm.world import compute_account_key, compute_code_key, compute_storage_key
from gusu.ledger.types import ReceiptStatus

SUITES = ("sm", "ecdsa")


@pytest.mark.parametrize("suite", SUITES)
def test_accounts_code_and_storage_use_the_documented_keys(suite: str) -> None:
    chain = EvmChain.create(suite)
    alice = chain.addresses[0]
    token = chain.deploy_token(1000)
    items = chain.chain.state.items
    code_hash = keccak(get_runtime_code("Token"))
    assert decode(items[compute_state_key("evm", compute_account_key(alice))]) == [1, keccak(b"")]
    assert decode(items[compute_state_key("evm", compute_account_key(token))]) == [1, code_hash]
    assert items[compute_state_key("evm", compute_code_key(code_hash))] == get_runtime_code("Token")
    assert items[compute_state_key("evm", compute_storage_key(token, 2))] == (1000).to_bytes(2, "big")
    # A zero slot is no key at all: the token's decimals are a constant, slot 5 was never written.
    assert compute_state_key("evm", compute_storage_key(token, 5)) not in items
    # balanceOf[alice] is at keccak(pad(alice) . pad(3)) (mapping in slot 3).
    slot = int.from_bytes(keccak(alice.rjust(32, b"\x00") + (3).to_bytes(32, "big")), "big")
    assert items[compute_state_key("evm", compute_storage_key(token, slot))] == (1000).to_bytes(2, "big")


@pytest.mark.parametrize("suite", SUITES)
def test_the_same_blocks_give_the_same_writes_and_receipts(suite: str) -> None:
    def run() -> list[object]:
        chain = EvmChain.create(suite)
        token = chain.deploy_token(10**6)
        transfer = "transfer(address,uint256)"
        transactions = [
            chain.make_transaction("evm", "call", [token, encode_call(transfer, chain.addresses[i % 3], i), 0])
            for i in range(1, 8)
        ]
        result = chain.chain.run_block(*transactions)
        return [result.writes, result.receipts, sorted(chain.chain.state.items.items())]

    first, second = run(), run()
    assert first == second
    assert first[0]  # the block wrote something


def test_governed_chain_deploys_only_approved_runtime_code() -> None:
    genesis = replace(make_consortium_genesis(), contracts=EVM_CONTRACTS)
    executor = Executor(compute_chain_registry(genesis.contracts), ExecutionLimits())
    chain = Chain(executor, MemoryState(executor.compute_genesis_writes(genesis)))
    init_code = get_bytecode("Token") + encode_token_constructor("T", "T", 5)
    code_hash = keccak(get_runtime_code("Token"))

    refused = chain.run(make_transaction("evm", "deploy", [init_code, 0], sender=CLIENT_KEY))
    assert refused.status is ReceiptStatus.FAILED
    assert refused.error_code == "reverted"
    assert f"EVM code 0x{code_hash.hex()}" in refused.error_message
    assert "approve-contract" in refused.error_message

    decide(chain, "approve_contract", [code_hash])
    deployed = chain.run(make_transaction("evm", "deploy", [init_code, 0], sender=CLIENT_KEY))
    assert deployed.status is ReceiptStatus.SUCCESS, deployed.error_message
    # The approval is of the runtime code, so other constructor arguments need no new approval.
    other = get_bytecode("Token") + encode_token_constructor("Other", "O", 7)
    again = chain.run(make_transaction("evm", "deploy", [other, 0], sender=CLIENT_KEY))
    assert again.status is ReceiptStatus.SUCCESS, again.error_message
    assert encode(None) != deployed.return_value


@pytest.mark.parametrize("suite", SUITES)
def test_the_evm_sees_the_gusu_block(suite: str) -> None:
    chain = EvmChain.create(suite, parameters=(("contract_deploy_approval_required", 0), ("evm_chain_id", 777)))
    receipt = chain.deploy(get_bytecode("Reverter"))
    reverter = decode(receipt.return_value)
    assert isinstance(reverter, bytes)
    block = chain.chain.get_next_block()
    assert chain.send(reverter, encode_call("stamp()")).status is ReceiptStatus.SUCCESS  # type: ignore[arg-type]

    def slot(index: int) -> int:
        return int.from_bytes(chain.view("get_storage_at", reverter, index.to_bytes(32, "big")), "big")  # type: ignore[arg-type]

    assert slot(1) == block.timestamp_ms // 1000
    assert slot(2) == block.height
    assert slot(3) == int.from_bytes(block.proposer, "big")
    assert slot(4) == 777
