"""web3.py, unchanged, against a real one-node `ecdsa` chain with the evm contract.

The read methods are exercised over a token deployed and moved with Gusu transactions (`evm.deploy`,
`evm.call`); then web3.py signs raw Ethereum transactions with local accounts (eth-account, which comes
with web3) and sends them, EIP-1559 and legacy, under both fee policies (price 0 and a fixed price).
web3.py's synchronous HTTPProvider runs in a worker thread so the node keeps committing on the event
loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

web3 = pytest.importorskip("web3", reason="pip install web3 (the test extra)")
from eth_account import Account  # noqa: E402
from eth_account.signers.local import LocalAccount  # noqa: E402
from web3 import AsyncWeb3, Web3, WebSocketProvider  # noqa: E402
from web3.exceptions import (  # noqa: E402
    BlockNotFound,
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)

from gusu.api.eth import EthSettings  # noqa: E402
from gusu.api.server import ApiServer, start_api  # noqa: E402
from gusu.api.settings import ApiSettings  # noqa: E402
from gusu.codec import decode, encode  # noqa: E402
from gusu.crypto import PrivateKey  # noqa: E402
from gusu.crypto.ecdsa import keccak256  # noqa: E402
from gusu.crypto.keyfile import decrypt_key_file  # noqa: E402
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, load_genesis, save_genesis  # noqa: E402
from gusu.ledger.types import Hash, Height  # noqa: E402
from gusu.node.chain import initialize_chain, load_node  # noqa: E402
from gusu.node.node import Node  # noqa: E402
from gusu.sdk.transactions import build_transaction  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures"
SUPPLY = 10**24
T = TypeVar("T")


def _load_token() -> dict[str, Any]:
    artifact: dict[str, Any] = json.loads((FIXTURES / "Token.json").read_text())
    return artifact


def _make_evm_chain(directory: Path, evm_gas_price: int = 0) -> Path:
    layout = initialize_chain(directory, suite_name="ecdsa", api_port=0, verifier_workers=0, scrypt_n=2**10)
    parameters = dict(DEFAULT_PARAMETERS) | {"contract_deploy_approval_required": 0}
    if evm_gas_price:
        parameters["evm_gas_price"] = evm_gas_price
    genesis = dataclasses.replace(
        layout.genesis,
        contracts=tuple(sorted((*DEFAULT_CONTRACTS, "evm"))),
        parameters=tuple(sorted(parameters.items())),
    )
    for path in (directory / "genesis.json", layout.node_directories[0] / "genesis.json"):
        assert load_genesis(path) == layout.genesis
        save_genesis(path, genesis)
    return directory


async def _wait_for_receipt(node: Node, transaction_id: Hash) -> None:
    deadline = time.monotonic() + 20
    while node.get_receipt(transaction_id) is None:
        assert time.monotonic() < deadline, "the transaction did not commit"
        await asyncio.sleep(0.02)
    record = node.get_receipt(transaction_id)
    assert record is not None and record.receipt.is_success, record


@dataclasses.dataclass
class Running:
    node: Node
    server: ApiServer
    key: PrivateKey

    async def send(self, contract: str, method: str, args: list[Any]) -> Hash:
        node = self.node
        signed = build_transaction(self.key, node.chain_id, contract, method, args, Height(node.height + 100))
        (outcome,) = await node.submit_transactions([signed.raw])
        assert outcome.error is None, outcome.error
        await _wait_for_receipt(node, signed.transaction_id)
        return signed.transaction_id

    async def deploy_token(self) -> bytes:
        token = _load_token()
        init_code = Web3().eth.contract(abi=token["abi"], bytecode=token["bytecode"]).constructor("Gusu", "GSU", SUPPLY)
        deploy_id = await self.send("evm", "deploy", [bytes.fromhex(init_code.data_in_transaction[2:]), 0])
        record = self.node.get_receipt(deploy_id)
        assert record is not None
        address = decode(record.receipt.return_value)
        assert isinstance(address, bytes)
        return address


@asynccontextmanager
async def running_chain(
    directory: Path, evm_gas_price: int = 0, eth_settings: EthSettings | None = None
) -> AsyncIterator[Running]:
    _make_evm_chain(directory, evm_gas_price)
    key = decrypt_key_file(
        (directory / "keys" / "dev.json").read_bytes(), (directory / "keys" / "dev.pass").read_text().strip()
    )
    node = load_node(directory / "node0")
    await node.start()
    try:
        server = await start_api(node, ApiSettings(port=0), eth_settings)
        try:
            yield Running(node, server, key)
        finally:
            await server.close()
    finally:
        await node.stop()


def test_web3_filters_and_subscriptions(tmp_path: Path) -> None:
    abi = _load_token()["abi"]

    async def main() -> None:
        async with running_chain(tmp_path / "chain") as running:
            w3 = Web3(Web3.HTTPProvider(running.server.url + "/rpc"))
            token = Web3.to_checksum_address(await running.deploy_token())
            contract = w3.eth.contract(address=token, abi=abi)
            log_filter = await asyncio.to_thread(lambda: contract.events.Transfer.create_filter(from_block="latest"))
            block_filter = await asyncio.to_thread(lambda: w3.eth.filter("latest"))
            data = contract.encode_abi("transfer", args=[Web3.to_checksum_address("0x" + "42" * 20), 3])
            async with AsyncWeb3(WebSocketProvider(running.server.ws_url)) as aw3:
                heads = await aw3.eth.subscribe("newHeads")
                logs = await aw3.eth.subscribe("logs", {"address": token})
                transfer_id = await running.send("evm", "call", [bytes.fromhex(token[2:]), bytes.fromhex(data[2:]), 0])
                seen: dict[Any, Any] = {}
                async with asyncio.timeout(10):
                    async for message in aw3.socket.process_subscriptions():
                        seen.setdefault(message["subscription"], message["result"])
                        if heads in seen and logs in seen:
                            break
                assert seen[logs]["transactionHash"] == transfer_id
                assert seen[heads]["number"] >= seen[logs]["blockNumber"]
            entries = await asyncio.to_thread(log_filter.get_new_entries)
            assert [(entry["args"]["value"], entry["transactionHash"]) for entry in entries] == [(3, transfer_id)]
            assert await asyncio.to_thread(log_filter.get_new_entries) == []
            hashes = await asyncio.to_thread(block_filter.get_new_entries)
            assert hashes and all(len(block_hash) == 32 for block_hash in hashes)

    asyncio.run(main())


def test_web3_reads_a_gusu_evm_chain(tmp_path: Path) -> None:
    directory = _make_evm_chain(tmp_path / "chain")
    dev_key = decrypt_key_file(
        (directory / "keys" / "dev.json").read_bytes(), (directory / "keys" / "dev.pass").read_text().strip()
    )
    token = _load_token()

    async def main() -> None:
        node = load_node(directory / "node0")
        await node.start()
        server = await start_api(node, ApiSettings(port=0))
        w3 = Web3(Web3.HTTPProvider(server.url + "/rpc"))

        async def ask(function: Callable[[], T]) -> T:
            return await asyncio.to_thread(function)

        async def send(contract: str, method: str, args: list[Any]) -> Hash:
            signed = build_transaction(dev_key, node.chain_id, contract, method, args, Height(node.height + 100))
            (outcome,) = await node.submit_transactions([signed.raw])
            assert outcome.error is None, outcome.error
            await _wait_for_receipt(node, signed.transaction_id)
            return signed.transaction_id

        try:
            dev = Web3.to_checksum_address(node.suite.compute_address(dev_key.public_key))
            evm_chain_id = decode(node.call("evm", "get_chain_id", encode([]), None).return_value)
            assert await ask(lambda: w3.eth.chain_id) == evm_chain_id
            assert await ask(lambda: w3.net.version) == str(evm_chain_id)
            assert (await ask(lambda: w3.client_version)).startswith("Gusu/")
            assert await ask(lambda: w3.eth.get_balance(dev)) > 0
            assert await ask(lambda: w3.eth.gas_price) == 0
            assert await ask(lambda: w3.eth.max_priority_fee) == 0
            history = await ask(lambda: w3.eth.fee_history(2, "latest", [10, 90]))
            assert history["baseFeePerGas"] == [0] * (len(history["gasUsedRatio"]) + 1)
            assert history["reward"] == [[0, 0]] * len(history["gasUsedRatio"])
            assert 1 <= len(history["gasUsedRatio"]) <= 2 and history["oldestBlock"] >= 0

            # Deploy the token with a Gusu evm.deploy transaction: constructor (name, symbol, supply).
            constructor = w3.eth.contract(abi=token["abi"], bytecode=token["bytecode"]).constructor(
                "Gusu", "GSU", SUPPLY
            )
            init_code = bytes.fromhex(constructor.data_in_transaction[2:])
            deploy_id = await send("evm", "deploy", [init_code, 0])
            receipt = await ask(lambda: w3.eth.get_transaction_receipt(deploy_id))
            assert receipt["status"] == 1
            address = receipt["contractAddress"]
            assert address is not None
            assert receipt["from"] == dev
            assert len(receipt["logs"]) == 1
            deployed_at = receipt["blockNumber"]
            deployment = await ask(lambda: w3.eth.get_transaction(deploy_id))
            assert deployment["to"] is None
            assert deployment["from"] == dev
            assert deployment["input"] == init_code

            tip = await ask(lambda: w3.eth.block_number)
            assert tip == node.height
            block = await ask(lambda: w3.eth.get_block(deployed_at))
            assert block["hash"] == receipt["blockHash"]
            assert deploy_id in block["transactions"]
            parent = await ask(lambda: w3.eth.get_block(deployed_at - 1))
            assert block["parentHash"] == parent["hash"]
            assert block["timestamp"] >= parent["timestamp"]
            assert block["gasUsed"] > 0
            full = await ask(lambda: w3.eth.get_block(deployed_at, full_transactions=True))
            assert full["transactions"][0]["hash"] == deploy_id
            assert full["transactions"][0]["to"] is None
            with pytest.raises(BlockNotFound):
                await ask(lambda: w3.eth.get_block(tip + 1000))

            code = await ask(lambda: w3.eth.get_code(address))
            assert code.hex() == token["deployedBytecode"][2:]
            total_supply_slot = 2  # name, symbol, totalSupply
            stored = await ask(lambda: w3.eth.get_storage_at(address, total_supply_slot))
            assert int.from_bytes(stored, "big") == SUPPLY
            assert await ask(lambda: w3.eth.get_transaction_count(dev)) == 1

            contract = w3.eth.contract(address=address, abi=token["abi"])
            assert await ask(lambda: contract.functions.totalSupply().call()) == SUPPLY
            assert await ask(lambda: contract.functions.symbol().call()) == "GSU"
            other = Web3.to_checksum_address("0x" + "42" * 20)
            estimate = await ask(lambda: contract.functions.transfer(other, 5).estimate_gas({"from": dev}))
            assert 21_000 < estimate < 200_000
            with pytest.raises(ContractCustomError):
                await ask(lambda: contract.functions.transfer(dev, 1).call({"from": other}))
            with pytest.raises(ContractLogicError, match="Token: allowance exceeded"):
                await ask(lambda: contract.functions.transferFrom(dev, other, 1).estimate_gas({"from": other}))
            # State overrides (the third parameter of eth_call and eth_estimateGas), as web3.py sends them.
            rich = Web3.to_checksum_address("0x" + "43" * 20)
            balance_slot = keccak256(bytes(12) + bytes.fromhex(rich[2:]) + (3).to_bytes(32, "big"))  # balanceOf: slot 3
            diff: Any = {address: {"stateDiff": {"0x" + balance_slot.hex(): "0x" + (10**6).to_bytes(32, "big").hex()}}}
            assert await ask(lambda: contract.functions.balanceOf(rich).call(state_override=diff)) == 10**6
            assert await ask(lambda: contract.functions.balanceOf(rich).call()) == 0  # nothing was written
            moved = await ask(
                lambda: contract.functions.transfer(other, 7).estimate_gas({"from": rich}, state_override=diff)
            )
            assert 21_000 < moved < 200_000
            with pytest.raises(ContractCustomError):  # the same transfer without the override: no balance
                await ask(lambda: contract.functions.transfer(other, 7).estimate_gas({"from": rich}))
            probe = Web3.to_checksum_address("0x" + "44" * 20)
            reads_balance = "0x33315f5260205ff3"  # CALLER BALANCE PUSH0 MSTORE PUSH1 32 PUSH0 RETURN
            given: Any = {probe: {"code": reads_balance}, rich: {"balance": 12_345}}
            seen_balance = await ask(lambda: w3.eth.call({"from": rich, "to": probe}, "latest", given))
            assert int.from_bytes(seen_balance, "big") == 12_345
            assert await ask(lambda: w3.eth.get_code(probe)) == b""
            with pytest.raises(ContractLogicError, match="give the slots to change in stateDiff"):
                await ask(lambda: w3.eth.call({"to": probe}, "latest", {probe: {"state": {}}}))
            # A malformed raw transaction is refused with the decoder's reason, under -32000.
            with pytest.raises(Web3RPCError, match="not canonical RLP"):
                await ask(lambda: w3.eth.send_raw_transaction(b"\x02\xf8"))

            transfer = contract.functions.transfer(other, 5).build_transaction(
                {"from": dev, "gas": 100_000, "gasPrice": 0, "nonce": 0, "chainId": evm_chain_id}
            )
            transfer_id = await send(
                "evm", "call", [bytes.fromhex(address[2:]), bytes.fromhex(transfer["data"][2:]), 0]
            )
            transfer_receipt = await ask(lambda: w3.eth.get_transaction_receipt(transfer_id))
            assert 40_000 < transfer_receipt["gasUsed"] <= estimate  # an ERC-20 transfer to a new holder: ~51,700
            assert await ask(lambda: contract.functions.balanceOf(other).call()) == 5

            logs = await ask(lambda: contract.events.Transfer.get_logs(from_block=0))
            assert [(log["args"]["to"], log["args"]["value"]) for log in logs] == [(dev, SUPPLY), (other, 5)]
            to_other = await ask(
                lambda: w3.eth.get_logs(
                    {"fromBlock": 0, "address": address, "topics": [None, None, "0x" + "00" * 12 + "42" * 20]}
                )
            )
            assert [log["transactionHash"] for log in to_other] == [transfer_id]
            # A range beyond the tip ends at the tip, as on Ethereum nodes.
            everything = await ask(lambda: w3.eth.get_logs({"fromBlock": 0, "toBlock": tip + 100}))
            assert len(everything) == 2
        finally:
            await server.close()
            await node.stop()

    asyncio.run(main())


# --- raw Ethereum transactions signed by web3.py's local accounts ------------------------------------


def _sign_and_send(w3: Web3, account: LocalAccount, transaction: Any) -> Any:
    """Sign locally as a wallet does and send with eth_sendRawTransaction; the signed transaction."""
    signed = account.sign_transaction(transaction)
    sent = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert sent == signed.hash  # the keccak hash of the raw bytes, as Ethereum defines it
    return signed


def _rpc_error_code(error: Web3RPCError) -> int:
    assert error.rpc_response is not None
    code: int = error.rpc_response["error"]["code"]
    return code


def _wait(w3: Web3, transaction_hash: bytes) -> Any:
    return w3.eth.wait_for_transaction_receipt(transaction_hash, timeout=20, poll_latency=0.05)


def test_web3_signs_and_sends_raw_transactions(tmp_path: Path) -> None:
    artifact = _load_token()

    async def main() -> None:
        async with running_chain(tmp_path / "chain") as running:
            w3 = Web3(Web3.HTTPProvider(running.server.url + "/rpc"))
            node = running.node
            dev: LocalAccount = Account.from_key(running.key.secret)
            assert dev.address == Web3.to_checksum_address(node.suite.compute_address(running.key.public_key))
            chain_id = await asyncio.to_thread(lambda: w3.eth.chain_id)
            other = Web3.to_checksum_address("0x" + "42" * 20)

            def run_scenario() -> None:
                assert w3.eth.get_transaction_count(dev.address, "pending") == 0
                # Deploy the token with an EIP-1559 transaction; web3 estimates the creation's gas.
                deploy = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
                    "Gusu", "GSU", SUPPLY
                )
                deploy_tx = deploy.build_transaction(
                    {"from": dev.address, "nonce": 0, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "chainId": chain_id}
                )
                signed_deploy = _sign_and_send(w3, dev, deploy_tx)
                assert w3.eth.get_transaction_count(dev.address, "pending") == 1
                receipt = _wait(w3, signed_deploy.hash)
                assert receipt["status"] == 1 and receipt["type"] == 2
                assert receipt["from"] == dev.address and receipt["to"] is None
                token_address = receipt["contractAddress"]
                # Ethereum's CREATE address: keccak(rlp([sender, 0]))[12:]
                create_rlp = bytes([0xD6, 0x94]) + bytes.fromhex(dev.address[2:]) + bytes([0x80])
                assert token_address == Web3.to_checksum_address(Web3.keccak(create_rlp)[12:])
                assert 300_000 < receipt["gasUsed"] <= deploy_tx["gas"] < receipt["gasUsed"] * 3 // 2
                assert receipt["cumulativeGasUsed"] == receipt["gasUsed"]  # alone in its block
                assert receipt["effectiveGasPrice"] == 0
                token = w3.eth.contract(address=token_address, abi=artifact["abi"])
                (minted,) = token.events.Transfer().process_receipt(receipt)
                assert minted["args"]["to"] == dev.address and minted["args"]["value"] == SUPPLY
                assert w3.eth.get_code(token_address).hex() == artifact["deployedBytecode"][2:]
                sent = w3.eth.get_transaction(signed_deploy.hash)
                assert (sent["type"], sent["nonce"], sent["from"], sent["to"]) == (2, 0, dev.address, None)
                assert (sent["r"], sent["s"], sent["v"]) == (
                    signed_deploy.r.to_bytes(32, "big"),
                    signed_deploy.s.to_bytes(32, "big"),
                    signed_deploy.v,
                )
                assert sent["blockNumber"] == receipt["blockNumber"] and sent["transactionIndex"] == 0
                block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
                assert block["transactions"][0]["hash"] == signed_deploy.hash
                assert block["gasUsed"] == receipt["gasUsed"]

                # A legacy (EIP-155) transfer; web3 estimates its gas through eth_estimateGas.
                transfer_tx = token.functions.transfer(other, 5).build_transaction(
                    {"from": dev.address, "nonce": 1, "gasPrice": 0, "chainId": chain_id}
                )
                assert "maxFeePerGas" not in transfer_tx
                signed_transfer = _sign_and_send(w3, dev, transfer_tx)
                assert w3.eth.get_transaction_count(dev.address, "pending") == 2
                assert w3.eth.get_transaction_count(dev.address, "latest") in (1, 2)
                transfer_receipt = _wait(w3, signed_transfer.hash)
                assert transfer_receipt["status"] == 1 and transfer_receipt["type"] == 0
                assert 40_000 < transfer_receipt["gasUsed"] <= transfer_tx["gas"]
                assert w3.eth.get_transaction_count(dev.address, "latest") == 2
                (moved,) = token.events.Transfer().process_receipt(transfer_receipt)
                assert (moved["args"]["from"], moved["args"]["to"], moved["args"]["value"]) == (dev.address, other, 5)
                assert moved["logIndex"] == 0 and moved["transactionHash"] == signed_transfer.hash
                assert token.functions.balanceOf(other).call() == 5
                legacy = w3.eth.get_transaction(signed_transfer.hash)
                assert legacy["type"] == 0 and legacy["v"] == signed_transfer.v
                assert legacy["v"] in (chain_id * 2 + 35, chain_id * 2 + 36)  # EIP-155
                assert legacy["gasPrice"] == 0 and legacy["nonce"] == 1

                # A revert with a reason through a raw transaction: status 0, the nonce is used, no change.
                refused_tx = token.functions.transferFrom(dev.address, other, 1).build_transaction(
                    {"from": dev.address, "nonce": 2, "gas": 100_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
                )
                signed_refused = _sign_and_send(w3, dev, refused_tx)
                refused = _wait(w3, signed_refused.hash)
                assert refused["status"] == 0 and refused["logs"] == []
                assert 21_000 < refused["gasUsed"] < 100_000  # a revert returns the gas it did not use
                assert w3.eth.get_transaction_count(dev.address) == 3
                assert token.functions.balanceOf(other).call() == 5
                # The reason, as tools get it: replaying the call; and in Gusu's own receipt.
                with pytest.raises(ContractLogicError, match="Token: allowance exceeded"):
                    w3.eth.call({"from": dev.address, "to": token_address, "data": refused_tx["data"]})
                gusu_receipt = node.get_receipt(Hash(signed_refused.hash))
                assert gusu_receipt is not None
                assert "Token: allowance exceeded" in gusu_receipt.receipt.error_message

                # A wallet key that is no Gusu account yet: funded by a plain value transfer, it sends its own.
                fresh: LocalAccount = Account.create()
                value_tx: dict[str, Any] = {
                    "from": dev.address,
                    "to": fresh.address,
                    "value": 12_345,
                    "nonce": 3,
                    "maxFeePerGas": 0,
                    "maxPriorityFeePerGas": 0,
                    "chainId": chain_id,
                }
                value_tx["gas"] = w3.eth.estimate_gas(value_tx)  # type: ignore[arg-type]
                assert value_tx["gas"] == 21_000
                assert _wait(w3, _sign_and_send(w3, dev, value_tx).hash)["gasUsed"] == 21_000
                assert w3.eth.get_balance(fresh.address) == 12_345
                custom_tx = token.functions.transfer(dev.address, 1).build_transaction(
                    {"from": fresh.address, "nonce": 0, "gas": 60_000, "gasPrice": 0, "chainId": chain_id}
                )
                assert _wait(w3, _sign_and_send(w3, fresh, custom_tx).hash)["status"] == 0  # a custom error
                with pytest.raises(ContractCustomError):
                    w3.eth.call({"from": fresh.address, "to": token_address, "data": custom_tx["data"]})

                # Refusals: -32000 with a message saying what to do.
                with pytest.raises(Web3RPCError, match="already committed") as duplicate:
                    w3.eth.send_raw_transaction(signed_transfer.raw_transaction)
                assert _rpc_error_code(duplicate.value) == -32000
                stale = dict(transfer_tx, gas=transfer_tx["gas"] + 1)  # other bytes, a used nonce
                with pytest.raises(Web3RPCError, match=r"nonce too low.*sign it with the next nonce") as too_low:
                    _sign_and_send(w3, dev, stale)
                assert _rpc_error_code(too_low.value) == -32000
                # A nonce ahead is held; another transaction for that nonce cannot replace it at price 0.
                held_tx = dict(value_tx, nonce=5)
                signed_held = _sign_and_send(w3, dev, held_tx)
                assert w3.eth.get_transaction(signed_held.hash)["blockNumber"] is None  # pending
                with pytest.raises(Web3RPCError, match="cannot be replaced") as replaced:
                    _sign_and_send(w3, dev, dict(held_tx, value=1))
                assert _rpc_error_code(replaced.value) == -32000
                with pytest.raises(Web3RPCError, match="already pending"):
                    w3.eth.send_raw_transaction(signed_held.raw_transaction)
                assert w3.eth.get_transaction_count(dev.address, "pending") == 4  # up to the gap at nonce 4
                gap = _sign_and_send(w3, dev, dict(held_tx, nonce=4))
                assert _wait(w3, gap.hash)["status"] == 1
                assert _wait(w3, signed_held.hash)["status"] == 1
                assert w3.eth.get_balance(fresh.address) == 3 * 12_345

            await asyncio.to_thread(run_scenario)

    asyncio.run(main())


def test_web3_under_a_fixed_gas_price(tmp_path: Path) -> None:
    """A chain whose fee policy is a price of 7 per gas: web3 fills the fee fields itself (from
    eth_maxPriorityFeePerGas and the block's base fee), and the sender pays gasUsed × 7."""
    artifact = _load_token()
    price = 7

    async def main() -> None:
        async with running_chain(tmp_path / "chain", evm_gas_price=price) as running:
            w3 = Web3(Web3.HTTPProvider(running.server.url + "/rpc"))
            dev: LocalAccount = Account.from_key(running.key.secret)
            token_address = Web3.to_checksum_address(await running.deploy_token())  # a Gusu evm.deploy: no fee
            token = w3.eth.contract(address=token_address, abi=artifact["abi"])
            other = Web3.to_checksum_address("0x" + "43" * 20)

            def run_scenario() -> None:
                assert w3.eth.gas_price == price
                assert w3.eth.get_block("latest")["baseFeePerGas"] == price
                nonce = w3.eth.get_transaction_count(dev.address, "pending")
                before = w3.eth.get_balance(dev.address)
                transfer_tx = token.functions.transfer(other, 9).build_transaction(
                    {"from": dev.address, "nonce": nonce}
                )
                assert transfer_tx["maxFeePerGas"] >= price  # web3's own rule: 2 × base fee + tip
                signed = _sign_and_send(w3, dev, transfer_tx)
                receipt = _wait(w3, signed.hash)
                assert receipt["status"] == 1 and receipt["effectiveGasPrice"] == price
                assert w3.eth.get_balance(dev.address) == before - receipt["gasUsed"] * price
                assert w3.eth.get_transaction(signed.hash)["gasPrice"] == price

                # Under a price, a replacement must offer more per gas than the transaction it replaces.
                held = dict(transfer_tx, nonce=nonce + 2, maxFeePerGas=price, maxPriorityFeePerGas=0)
                signed_held = _sign_and_send(w3, dev, held)
                with pytest.raises(Web3RPCError, match="replacement transaction underpriced") as underpriced:
                    _sign_and_send(w3, dev, dict(held, gas=held["gas"] + 1))
                assert _rpc_error_code(underpriced.value) == -32000
                replacement = _sign_and_send(w3, dev, dict(held, maxFeePerGas=price + 1))
                with pytest.raises(Web3RPCError, match="offer at least that"):
                    _sign_and_send(w3, dev, dict(held, nonce=nonce + 3, maxFeePerGas=price - 1))
                gap = _sign_and_send(w3, dev, dict(held, nonce=nonce + 1))
                for transaction in (gap, replacement):
                    done = _wait(w3, transaction.hash)
                    assert done["status"] == 1 and done["effectiveGasPrice"] == price
                with pytest.raises(TransactionNotFound):  # the replaced transaction is gone, as on Ethereum
                    w3.eth.get_transaction(signed_held.hash)
                assert token.functions.balanceOf(other).call() == 3 * 9

            await asyncio.to_thread(run_scenario)

    asyncio.run(main())


def test_web3_with_sends_that_wait_for_the_commit_and_the_state_of_past_blocks(tmp_path: Path) -> None:
    """[eth] send_waits_for_commit (as Hardhat's automine): the receipt is there as soon as the send answers;
    and eth_call / eth_getBalance / eth_getTransactionCount at recent past blocks read that block's state."""
    artifact = _load_token()
    settings = EthSettings(send_waits_for_commit=True, send_commit_timeout_ms=300, state_history_blocks=3)

    async def main() -> None:
        async with running_chain(tmp_path / "chain", eth_settings=settings) as running:
            w3 = Web3(Web3.HTTPProvider(running.server.url + "/rpc"))
            dev: LocalAccount = Account.from_key(running.key.secret)
            chain_id = await asyncio.to_thread(lambda: w3.eth.chain_id)
            other = Web3.to_checksum_address("0x" + "42" * 20)
            fees = {"maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "chainId": chain_id}

            def run_scenario() -> None:
                deploy = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"]).constructor(
                    "Gusu", "GSU", SUPPLY
                )
                signed = _sign_and_send(w3, dev, deploy.build_transaction({"from": dev.address, "nonce": 0, **fees}))
                receipt = w3.eth.get_transaction_receipt(signed.hash)  # no waiting: the send answered after the commit
                assert receipt["status"] == 1
                token = w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
                deployed_at = receipt["blockNumber"]
                for nonce, amount in ((1, 5), (2, 7)):
                    transfer = token.functions.transfer(other, amount).build_transaction(
                        {"from": dev.address, "nonce": nonce, **fees}
                    )
                    sent = _sign_and_send(w3, dev, transfer)
                    assert w3.eth.get_transaction_receipt(sent.hash)["status"] == 1
                tip = w3.eth.block_number
                assert tip == deployed_at + 2
                balance_of = token.functions.balanceOf(other)
                assert [balance_of.call(block_identifier=height) for height in (tip, tip - 1, "latest")] == [12, 5, 12]
                assert balance_of.call(block_identifier=deployed_at) == 0
                assert w3.eth.get_transaction_count(dev.address, deployed_at) == 1
                assert w3.eth.get_transaction_count(dev.address, tip - 1) == 2
                assert w3.eth.get_code(token.address, deployed_at - 1) == b""  # before the deployment
                assert w3.eth.get_balance(dev.address, tip - 1) == w3.eth.get_balance(dev.address)
                # One more block: the one before the deployment leaves the window of 3 blocks.
                again = token.functions.transfer(other, 1).build_transaction({"from": dev.address, "nonce": 3, **fees})
                assert w3.eth.get_transaction_receipt(_sign_and_send(w3, dev, again).hash)["blockNumber"] == tip + 1
                with pytest.raises(Web3RPCError, match="historical state is not available") as refused:
                    w3.eth.get_code(token.address, deployed_at - 1)
                assert _rpc_error_code(refused.value) == -32000
                assert balance_of.call(block_identifier=deployed_at) == 0
                # A nonce gap never commits: the send answers after the timeout, with the hash.
                gap = token.functions.transfer(other, 1).build_transaction({"from": dev.address, "nonce": 9, **fees})
                started = time.monotonic()
                gapped = _sign_and_send(w3, dev, gap)
                assert time.monotonic() - started >= 0.3
                with pytest.raises(TransactionNotFound):
                    w3.eth.get_transaction_receipt(gapped.hash)

            await asyncio.to_thread(run_scenario)

    asyncio.run(main())
