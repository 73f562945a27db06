"""Ethereum transactions through a running node: raw EIP-1559 and legacy transactions signed as a
wallet signs them deploy an ERC-20 and transfer; lookups by keccak hash; hostile submissions."""

from __future__ import annotations

# py-evm's import raises the process's recursion limit (py_ecc); gusu.execution.evm imports it first and
# restores the limit, which later tests (the sandbox's) rely on.
import gusu.execution.evm  # noqa: F401

# isort: split
import asyncio
import json
from dataclasses import replace
from pathlib import Path

import pytest
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_hash.auto import keccak
from eth_keys import keys
from node_helpers import assert_recent_answers_match_store, load_dev_key, make_chain, start_node, wait_for_receipt

from gusu.codec import decode, encode
from gusu.errors import (
    DuplicateTransactionError,
    NodeError,
    NonceTooHighError,
    NonceTooLowError,
    TransactionError,
    TransactionTooLargeError,
    WrongChainError,
)
from gusu.ledger.ethtx import ETH_TRANSACTION_BYTES_MAX, EthTransaction
from gusu.ledger.genesis import save_genesis
from gusu.ledger.types import Address, Hash, Height
from gusu.node.chain import ChainLayout
from gusu.node.config import GENESIS_FILE_NAME
from gusu.node.eth_service import EthTransactionService
from gusu.node.node import Node
from gusu.sdk.transactions import build_transaction

RECIPIENT = Address(bytes(range(40, 60)))
FIXTURES = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures"


def get_bytecode(name: str) -> bytes:
    return bytes.fromhex(json.loads((FIXTURES / f"{name}.json").read_text())["bytecode"][2:])


def encode_call(signature: str, *words: bytes | int) -> bytes:
    encoded = [word.rjust(32, b"\x00") if isinstance(word, bytes) else word.to_bytes(32, "big") for word in words]
    return keccak(signature.encode())[:4] + b"".join(encoded)


def encode_token_constructor(name: str, symbol: str, supply: int) -> bytes:
    def tail(text: str) -> bytes:
        raw = text.encode()
        return len(raw).to_bytes(32, "big") + raw + bytes(-len(raw) % 32)

    first = tail(name)
    head = (96).to_bytes(32, "big") + (96 + len(first)).to_bytes(32, "big") + supply.to_bytes(32, "big")
    return head + first + tail(symbol)


def make_evm_chain(directory: Path, suite_name: str = "ecdsa") -> ChainLayout:
    layout = make_chain(directory, suite_name=suite_name)
    genesis = layout.genesis
    parameters = dict(genesis.parameters) | {"contract_deploy_approval_required": 0}
    genesis = replace(
        genesis, contracts=tuple(sorted((*genesis.contracts, "evm"))), parameters=tuple(sorted(parameters.items()))
    )
    for path in (directory / GENESIS_FILE_NAME, *(node / GENESIS_FILE_NAME for node in layout.node_directories)):
        save_genesis(path, genesis)
    return replace(layout, genesis=genesis)


def get_chain_id(node: Node) -> int:
    value = decode(node.call("evm", "get_chain_id", encode([]), None).return_value)
    assert isinstance(value, int)
    return value


def sign_value_transfer(wallet: keys.PrivateKey, chain_id: int, nonce: int, value: int = 1) -> bytes:
    """A wallet's signed EIP-1559 transfer of `value` wei to RECIPIENT, without a fee."""
    raw: bytes = (
        CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
            chain_id, nonce, 0, 0, 21_000, RECIPIENT, value, b"", ()
        )
        .as_signed_transaction(wallet)
        .encode()
    )
    return raw


def token_balance(node: Node, token: bytes, holder: bytes) -> int:
    data = encode_call("balanceOf(address)", holder)
    output = decode(node.call("evm", "call_static", encode([token, data]), None).return_value)
    assert isinstance(output, bytes)
    return int.from_bytes(output, "big")


def test_wallet_transactions_deploy_and_transfer_an_erc20(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_evm_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            dev = load_dev_key(layout)
            wallet = keys.PrivateKey(dev.secret)  # the same secp256k1 key an Ethereum wallet would hold
            sender = Address(wallet.public_key.to_canonical_address())
            assert sender == layout.dev_address
            chain_id = get_chain_id(node)

            init = get_bytecode("Token") + encode_token_constructor("Gusu Token", "GST", 10**24)
            deploy = CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
                chain_id, 0, 0, 0, 3_000_000, b"", 0, init, ()
            ).as_signed_transaction(wallet)
            deploy_hash = await node.submit_eth_raw_transaction(deploy.encode())
            assert deploy_hash == deploy.hash
            assert node.get_eth_transaction_count(sender, is_pending=True) == 1
            assert node.get_eth_transaction_count(sender) in (0, 1)  # the solo node may have committed it already
            pending = node.get_eth_transaction(deploy_hash)
            assert pending is not None and pending.status in ("pending", "committed")
            await wait_for_receipt(node, Hash(deploy_hash))
            found = node.get_eth_receipt(deploy_hash)
            assert found is not None
            fields = found.fields
            assert fields.status == 1 and fields.contract_address is not None and fields.transaction_type == 2
            token = fields.contract_address
            assert token_balance(node, token, sender) == 10**24

            transfer = CancunTransactionBuilder.create_unsigned_transaction(
                nonce=1,
                gas_price=0,
                gas=100_000,
                to=token,
                value=0,
                data=encode_call("transfer(address,uint256)", RECIPIENT, 777),
            ).as_signed_transaction(wallet, chain_id=chain_id)
            transfer_hash = await node.submit_eth_raw_transaction(transfer.encode())
            record = await wait_for_receipt(node, Hash(transfer_hash))
            assert record.receipt.is_success, record.receipt.error_message
            assert token_balance(node, token, RECIPIENT) == 777
            assert token_balance(node, token, sender) == 10**24 - 777
            found = node.get_eth_receipt(transfer_hash)
            assert found is not None
            fields, where = found.fields, found.receipt
            assert fields.transaction_type == 0 and len(fields.logs) == 1 and where.height == record.height
            committed = node.get_eth_transaction(transfer_hash)
            assert committed is not None and committed.status == "committed"
            # Its receipt record, read alongside the transaction, is the one the receipt query gives.
            assert committed.receipt is not None and committed.receipt == node.get_receipt(transfer_hash)
            assert committed.receipt.height == record.height
            assert committed.transaction.raw == transfer.encode() and committed.transaction.sender == sender
            assert node.get_eth_transaction_count(sender) == 2
            assert node.get_eth_gas_price() == 0
            assert isinstance(node, EthTransactionService)  # what the eth_* JSON-RPC needs of it

            # Gusu's own views list the block and its Ethereum transaction.
            listed = node.get_block_transactions(record.height)
            assert listed is not None and any(
                isinstance(item.transaction, EthTransaction) and item.sender == sender for item in listed
            )

            # Hostile submissions, each refused with its reason and no state change.
            with pytest.raises(DuplicateTransactionError, match="already committed"):
                await node.submit_eth_raw_transaction(transfer.encode())

            def signed(nonce: int, chain: int = chain_id) -> bytes:
                return sign_value_transfer(wallet, chain, nonce)

            with pytest.raises(NonceTooLowError, match="nonce too low"):
                await node.submit_eth_raw_transaction(signed(1))
            with pytest.raises(WrongChainError, match="chain id"):
                await node.submit_eth_raw_transaction(signed(2, chain_id + 1))
            with pytest.raises(NonceTooHighError, match="eth_future_nonces_max"):
                await node.submit_eth_raw_transaction(signed(2 + 65))
            with pytest.raises(TransactionTooLargeError):
                await node.submit_eth_raw_transaction(b"\x02" + bytes(ETH_TRANSACTION_BYTES_MAX))
            with pytest.raises(TransactionError):
                await node.submit_eth_raw_transaction(b"\x02\xc0")
            assert node.get_eth_transaction_count(sender, is_pending=True) == 2
            # Several at once (a gateway's concurrent requests): each its own hash or refusal, in order.
            outcomes = await node.submit_eth_raw_transactions(
                [signed(1), b"\x02" + bytes(ETH_TRANSACTION_BYTES_MAX), signed(2, chain_id + 1), b"\x02\xc0"]
            )
            assert [type(outcome) for outcome in outcomes] == [
                NonceTooLowError,
                TransactionTooLargeError,
                WrongChainError,
                TransactionError,
            ]
            assert node.get_eth_transaction_count(sender, is_pending=True) == 2

            # A nonce ahead is held; a Gusu evm.call moves the EVM nonce too, and once it commits the pool
            # learns the new account nonce and the held transaction runs.
            held_hash = await node.submit_eth_raw_transaction(signed(3))
            assert node.get_eth_transaction_count(sender, is_pending=True) == 2
            gusu = build_transaction(dev, node.chain_id, "evm", "call", [RECIPIENT, b"", 0], Height(node.height + 50))
            [outcome] = await node.submit_transactions([gusu.raw])
            assert outcome.error is None
            await wait_for_receipt(node, gusu.transaction_id)
            held = await wait_for_receipt(node, Hash(held_hash))
            assert held.receipt.is_success, held.receipt.error_message
            assert node.get_eth_transaction_count(sender) == 4
            # Queries about the newest blocks come from memory: the same answers as from the store.
            assert assert_recent_answers_match_store(node) > 0
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_an_sm_chain_refuses_ethereum_transactions(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_evm_chain(tmp_path / "chain", suite_name="sm")
        node = await start_node(layout)
        try:
            wallet = keys.PrivateKey(bytes([9]) * 32)
            raw = (
                CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
                    get_chain_id(node), 0, 0, 0, 21_000, RECIPIENT, 0, b"", ()
                )
                .as_signed_transaction(wallet)
                .encode()
            )
            with pytest.raises(TransactionError, match="takes no Ethereum transactions"):
                await node.submit_eth_raw_transaction(raw)
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_a_held_transaction_survives_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = make_evm_chain(tmp_path / "chain")
        node = await start_node(layout)
        wallet = keys.PrivateKey(load_dev_key(layout).secret)
        chain_id = get_chain_id(node)

        def signed(nonce: int) -> bytes:
            return sign_value_transfer(wallet, chain_id, nonce, 5)

        try:
            held = await node.submit_eth_raw_transaction(signed(1))  # nonce 0 not sent yet: held, journaled
        finally:
            await node.stop()
        restarted = await start_node(layout)
        try:
            record = restarted.get_eth_transaction(held)
            assert record is not None and record.status == "pending" and record.receipt is None
            first = await restarted.submit_eth_raw_transaction(signed(0))
            for transaction_hash in (first, held):
                receipt = await wait_for_receipt(restarted, Hash(transaction_hash))
                assert receipt.receipt.is_success, receipt.receipt.error_message
            balance = restarted.call("account", "balance", encode([RECIPIENT]), None)
            assert decode(balance.return_value) == 10
        finally:
            await restarted.stop()

    asyncio.run(scenario())


def test_a_fault_on_one_transaction_of_a_group_refuses_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transactions admitted together (a gateway's concurrent requests): a fault of the node's own while checking
    one refuses that one, logged; the others are pooled, journaled and answered with their hashes."""
    from gusu.mempool import Mempool

    async def scenario() -> None:
        layout = make_evm_chain(tmp_path / "chain")
        node = await start_node(layout)
        try:
            wallet = keys.PrivateKey(load_dev_key(layout).secret)
            chain_id = get_chain_id(node)

            def signed(nonce: int) -> bytes:
                return sign_value_transfer(wallet, chain_id, nonce)

            first, faulty, third = signed(0), signed(1), signed(1)[:-1] + b"\x00"
            real_add = Mempool.add_eth

            def add_eth(pool: Mempool, entry: object, *args: object) -> object:
                if getattr(entry, "raw", None) is not None and faulty in entry.raw:  # type: ignore[attr-defined]
                    raise RuntimeError("a bug")
                return real_add(pool, entry, *args)  # type: ignore[arg-type]

            monkeypatch.setattr(Mempool, "add_eth", add_eth)
            outcomes = await node.submit_eth_raw_transactions([first, faulty, third])
            assert isinstance(outcomes[0], bytes) and outcomes[0] == keccak(first)
            assert isinstance(outcomes[1], NodeError) and "internal fault" in str(outcomes[1])
            assert not isinstance(outcomes[2], bytes)  # its signature was cut: refused for itself
            await wait_for_receipt(node, Hash(outcomes[0]))
        finally:
            await node.stop()

    asyncio.run(scenario())
