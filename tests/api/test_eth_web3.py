"""web3.py, unchanged, against a real one-node `ecdsa` chain with the evm contract: the eth_* read methods.

The token is deployed and moved with Gusu transactions (`evm.deploy`, `evm.call`); raw Ethereum
transactions are item 2's. web3.py's synchronous HTTPProvider runs in a worker thread so the node
keeps committing on the event loop.
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
from web3 import AsyncWeb3, Web3, WebSocketProvider  # noqa: E402
from web3.exceptions import BlockNotFound, ContractCustomError, ContractLogicError, Web3RPCError  # noqa: E402

from gusu.api.server import ApiServer, start_api  # noqa: E402
from gusu.api.settings import ApiSettings  # noqa: E402
from gusu.codec import decode, encode  # noqa: E402
from gusu.crypto import PrivateKey  # noqa: E402
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


def _make_evm_chain(directory: Path) -> Path:
    layout = initialize_chain(directory, suite_name="ecdsa", api_port=0, verifier_workers=0, scrypt_n=2**10)
    genesis = dataclasses.replace(
        layout.genesis,
        contracts=tuple(sorted((*DEFAULT_CONTRACTS, "evm"))),
        parameters=tuple(sorted((*DEFAULT_PARAMETERS, ("contract_deploy_approval_required", 0)))),
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
async def running_chain(directory: Path) -> AsyncIterator[Running]:
    _make_evm_chain(directory)
    key = decrypt_key_file(
        (directory / "keys" / "dev.json").read_bytes(), (directory / "keys" / "dev.pass").read_text().strip()
    )
    node = load_node(directory / "node0")
    await node.start()
    try:
        server = await start_api(node, ApiSettings(port=0))
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
