"""The eth_* JSON-RPC methods against a fake node: shapes, Ethereum error codes, hostile params, limits,
filters, subscriptions and the raw-transaction interface (docs/api.md, "Ethereum JSON-RPC")."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from fake_node import FakeNode
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.api.errors import InvalidParamsError
from gusu.api.eth import EthRpc, EthSettings, compute_bloom, compute_gas_estimate
from gusu.api.methods import NodeApi
from gusu.api.rpc import RequestContext, RpcDispatcher
from gusu.api.server import create_app
from gusu.api.settings import ApiSettings
from gusu.codec import decode, encode
from gusu.crypto.ecdsa import keccak256
from gusu.errors import (
    ConfigError,
    ContractRevertError,
    GusuError,
    NotFoundError,
    OutOfGasError,
    TransactionError,
    TransactionTooLargeError,
)
from gusu.execution import CallResult
from gusu.execution.evm.contract import compute_revert_message
from gusu.execution.evm.ethreceipt import compute_eth_receipt_fields
from gusu.execution.evm.overrides import EthStateOverride
from gusu.execution.limits import DEFAULT_GAS_SCHEDULE
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.types import Address, Event, Hash, Height, Receipt, ReceiptStatus, Transaction
from gusu.node.eth_service import EthTransactionService
from gusu.node.service import EthReceiptRecord

EVM_CHAIN_ID = 4242
TOKEN = b"\x7a" * 20
HOLDER = b"\x11" * 20
TRANSFER_TOPIC = keccak256(b"Transfer(address,address,uint256)")
APPROVAL_TOPIC = keccak256(b"Approval(address,address,uint256)")
CALL_GAS = 30_000
DEPLOY_GAS = 400_000
ERROR_STRING = bytes.fromhex("08c379a0") + (32).to_bytes(32, "big") + (4).to_bytes(32, "big") + b"nope".ljust(32, b"\0")
CUSTOM_ERROR = bytes.fromhex("cf479181") + b"\x01" * 32


def log_event(address: bytes, topics: list[bytes], data: bytes = b"") -> Event:
    return Event("evm", "Log", encode([address, topics, data]))


@dataclass
class EvmFakeNode(FakeNode):
    """The fake node with the evm contract's views."""

    codes: dict[bytes, bytes] = field(default_factory=dict)

    def call(self, contract: str, method: str, args: bytes, sender: Address | None) -> CallResult:
        values = decode(args)
        assert isinstance(values, list)
        if contract != "evm":
            return super().call(contract, method, args, sender)
        if method == "get_chain_id":
            return CallResult(encode(EVM_CHAIN_ID), 1, ())
        if method == "get_code":
            return CallResult(encode(self.codes.get(values[0], b"")), 1, ())  # type: ignore[arg-type]
        if method == "get_storage_at":
            return CallResult(encode(values[1]), 1, ())
        if method == "get_nonce":
            return CallResult(encode(7), 1, ())
        if method == "deploy_static":
            output = encode(b"\x99" * 20)
            fixed = DEFAULT_GAS_SCHEDULE.transaction + DEFAULT_GAS_SCHEDULE.argument_byte * len(args)
            return CallResult(output, fixed + DEFAULT_GAS_SCHEDULE.return_byte * len(output) + DEPLOY_GAS, ())
        assert method == "call_static"
        data = values[1]
        if data == b"error":
            raise ContractRevertError(compute_revert_message(ERROR_STRING))
        if data == b"custom":
            raise ContractRevertError(compute_revert_message(CUSTOM_ERROR))
        if data == b"burn":
            raise OutOfGasError("the EVM ran out of gas")
        output = encode(b"\x01" * 32)
        fixed = DEFAULT_GAS_SCHEDULE.transaction + DEFAULT_GAS_SCHEDULE.argument_byte * len(args)
        return CallResult(output, fixed + DEFAULT_GAS_SCHEDULE.return_byte * len(output) + CALL_GAS, ())


def make_eth_transaction(nonce: int, transaction_hash: Hash) -> EthTransaction:
    return EthTransaction(
        transaction_type=2,
        chain_id=EVM_CHAIN_ID,
        nonce=nonce,
        max_priority_fee_per_gas=0,
        max_fee_per_gas=0,
        gas_limit=50_000,
        to=Address(TOKEN),
        value=0,
        data=b"\xa9\x05\x9c\xbb",
        access_list=(),
        y_parity=1,
        r=5,
        s=6,
        sender=Address(HOLDER),
        transaction_hash=transaction_hash,
        raw=b"\x02raw",
    )


GAS_PRICE = 7


@dataclass
class EthFakeNode(EvmFakeNode):
    """Also implements gusu.node.eth_service.EthTransactionService, and can commit a block that mixes an
    account.transfer, a Gusu evm.call and a raw Ethereum transaction (`commit_mixed_block`)."""

    raws: list[bytes] = field(default_factory=list)
    refuse_with: Exception | None = None
    past_calls: list[tuple[int, str, str]] = field(default_factory=list)
    overrides_seen: list[tuple[EthStateOverride, ...]] = field(default_factory=list)

    async def submit_eth_raw_transaction(self, raw: bytes) -> Hash:
        if self.refuse_with is not None:
            raise self.refuse_with
        self.raws.append(raw)
        return Hash(keccak256(raw))

    async def submit_eth_raw_transactions(self, raws: Sequence[bytes]) -> list[Hash | GusuError]:
        outcomes: list[Hash | GusuError] = []
        for raw in raws:
            try:
                outcomes.append(await self.submit_eth_raw_transaction(raw))
            except GusuError as error:
                outcomes.append(error)
        return outcomes

    def get_eth_receipt(self, transaction_hash: bytes) -> EthReceiptRecord | None:
        found = self.get_transaction(transaction_hash)
        where = self.get_receipt(transaction_hash)
        if found is None or where is None or not isinstance(found.transaction, EthTransaction):
            return None
        return EthReceiptRecord(compute_eth_receipt_fields(where.receipt, found.transaction, GAS_PRICE), where)

    def get_eth_transaction_count(self, address: bytes, *, is_pending: bool = False) -> int:
        return 9 if is_pending else 7

    def get_eth_gas_price(self) -> int:
        return GAS_PRICE

    def call_at_height(
        self,
        height: Height,
        contract: str,
        method: str,
        args: bytes,
        sender: Address | None,
        state_overrides: Sequence[EthStateOverride] = (),
    ) -> CallResult:
        """The state after a past block: the account's balance is its height, state before 2 is pruned."""
        self.past_calls.append((int(height), contract, method))
        self.overrides_seen.append(tuple(state_overrides))
        if height < 2:
            raise NotFoundError(f"the state at height {height} is no longer kept on this node")
        if contract == "account" and method == "balance":
            return CallResult(encode(int(height)), 1, ())
        return self.call(contract, method, args, sender)

    def commit_mixed_block(self) -> tuple[Hash, Hash, Hash]:
        """A block of (account.transfer, evm.call with one log and 30,000 EVM gas, an EIP-1559 Ethereum
        transaction with two logs and 25,000 gas); their ids."""
        commit_logs(self, [(log_event(TOKEN, [APPROVAL_TOPIC]),), (log_event(TOKEN, [APPROVAL_TOPIC]),), ()])
        record = self.get_block(Height(self.height))
        assert record is not None
        transfer_id, call_id, eth_id = record.transaction_ids
        call = self._transactions[call_id]
        assert isinstance(call.transaction, Transaction)
        args = encode([TOKEN, b"\x01\x02", 0])
        self._transactions[call_id] = replace(
            call, transaction=replace(call.transaction, contract="evm", method="call", args=args)
        )
        where = self._receipts[call_id]
        fixed = DEFAULT_GAS_SCHEDULE.transaction + DEFAULT_GAS_SCHEDULE.argument_byte * len(args)
        fixed += DEFAULT_GAS_SCHEDULE.return_byte * len(where.receipt.return_value)
        self._receipts[call_id] = replace(where, receipt=replace(where.receipt, gas_used=fixed + 30_000))
        self._transactions[eth_id] = replace(
            self._transactions[eth_id], transaction=make_eth_transaction(3, eth_id), sender=Address(HOLDER)
        )
        logs = (log_event(TOKEN, [TRANSFER_TOPIC]), log_event(TOKEN, [TRANSFER_TOPIC, b"\x22" * 32]))
        receipt = Receipt(eth_id, ReceiptStatus.SUCCESS, encode([b"", b""]), logs, 25_000, "", "")
        self._receipts[eth_id] = replace(self._receipts[eth_id], receipt=receipt)
        return transfer_id, call_id, eth_id


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Ask = Callable[..., Awaitable[dict[str, Any]]]


def run(
    scenario: Callable[[Ask, EvmFakeNode, Clock], Awaitable[None]],
    node: EvmFakeNode | None = None,
    settings: EthSettings | None = None,
) -> None:
    async def main() -> None:
        fake = node or EvmFakeNode()
        clock = Clock()
        eth = EthRpc(fake, settings or EthSettings(), clock)
        dispatcher = RpcDispatcher(NodeApi(fake), ApiSettings(port=0), eth.get_method_specs())

        async def ask(method: str, *params: Any) -> dict[str, Any]:
            request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
            reply = await dispatcher.handle(request, RequestContext())
            assert reply.body is not None
            body: dict[str, Any] = orjson.loads(reply.body)
            return body

        await scenario(ask, fake, clock)

    asyncio.run(main())


def result(response: dict[str, Any]) -> Any:
    assert "error" not in response, response
    return response["result"]


def error(response: dict[str, Any], code: int, text: str = "") -> dict[str, Any]:
    assert "result" not in response, response
    found: dict[str, Any] = response["error"]
    assert found["code"] == code, found
    assert text in found["message"], found
    return found


def commit_logs(node: EvmFakeNode, events_per_transaction: list[tuple[Event, ...]]) -> None:
    """One block with a transaction per entry, each with these events in its receipt."""
    key = node.new_key()
    for nonce, events in enumerate(events_per_transaction, start=100 + node.height * 10):
        node.events_by_nonce[nonce] = events
        raw, _ = node.make_transaction(key, nonce=nonce)
        node._admit(raw)
    node.commit_block()


# --- chain facts ---------------------------------------------------------------------------------


def test_chain_facts() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        assert result(await ask("eth_chainId")) == hex(EVM_CHAIN_ID)
        assert result(await ask("net_version")) == str(EVM_CHAIN_ID)
        assert result(await ask("web3_clientVersion")).startswith("Gusu/v")
        node.commit_block()
        assert result(await ask("eth_blockNumber")) == "0x1"
        assert result(await ask("eth_syncing")) is False
        assert result(await ask("eth_accounts")) == []
        assert result(await ask("eth_gasPrice")) == "0x0"
        assert result(await ask("eth_maxPriorityFeePerGas")) == "0x0"
        history = result(await ask("eth_feeHistory", "0x4", "latest", [25, 75]))
        assert history["oldestBlock"] == "0x0"
        assert history["baseFeePerGas"] == ["0x0"] * 3
        assert history["reward"] == [["0x0", "0x0"]] * 2
        error(await ask("eth_feeHistory", "0x0", "latest"), -32602, "from 1 to 1024")
        error(await ask("eth_feeHistory", "0x2", "latest", [50, 10]), -32602, "monotonically")
        error(await ask("eth_feeHistory", "0x2", "latest", list(range(101))), -32602, "at most 100")

    run(scenario)


def test_batch_mixes_eth_and_gusu_methods() -> None:
    async def main() -> None:
        app = create_app(EvmFakeNode(), ApiSettings(port=0))
        async with TestClient(TestServer(app)) as client:
            batch = [
                {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                {"jsonrpc": "2.0", "id": 2, "method": "gusu_blockNumber"},
                {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": ["0x12"]},
            ]
            response = await client.post("/rpc", data=json.dumps(batch))
            answers = {item["id"]: item for item in await response.json()}
            assert answers[1]["result"] == hex(EVM_CHAIN_ID)
            assert answers[2]["result"] == 0
            assert answers[3]["error"]["code"] == -32602

    asyncio.run(main())


def test_a_chain_without_the_evm_says_so() -> None:
    async def scenario(ask: Ask, _node: EvmFakeNode, _clock: Clock) -> None:
        error(await ask("eth_chainId"), -32004, "does not run the evm contract")
        error(await ask("eth_getCode", "0x" + "11" * 20), -32004, "does not run the evm contract")

    run(scenario, FakeNode())  # type: ignore[arg-type]


# --- blocks ----------------------------------------------------------------------------------------


def test_blocks_are_ethereum_shaped() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        commit_logs(node, [(log_event(TOKEN, [TRANSFER_TOPIC]),), ()])
        block = result(await ask("eth_getBlockByNumber", "latest", False))
        record = node.get_block(Height(1))
        assert record is not None
        assert block["number"] == "0x1"
        assert block["hash"] == "0x" + record.block_hash.hex()
        assert block["parentHash"] == "0x" + record.header.parent_hash.hex()
        assert block["timestamp"] == hex(record.header.timestamp_ms // 1000)
        assert block["gasUsed"] == "0x0"  # account.transfer is no Ethereum transaction: Gusu gas is not counted
        assert block["baseFeePerGas"] == "0x0"
        assert block["transactions"] == ["0x" + transaction_id.hex() for transaction_id in record.transaction_ids]
        assert block["logsBloom"] == "0x" + compute_bloom([(TOKEN, [TRANSFER_TOPIC])]).hex()
        assert block == result(await ask("eth_getBlockByHash", block["hash"], False))
        full = result(await ask("eth_getBlockByNumber", "0x1", True))
        assert [item["hash"] for item in full["transactions"]] == block["transactions"]
        assert full["transactions"][0]["to"] is None  # account.transfer is not an EVM call
        assert result(await ask("eth_getBlockByNumber", "earliest"))["number"] == "0x0"
        assert result(await ask("eth_getBlockByNumber", "0x5")) is None
        assert result(await ask("eth_getBlockByHash", "0x" + "00" * 32)) is None
        assert result(await ask("eth_getBlockTransactionCountByNumber", "0x1")) == "0x2"
        for bad in ("0xzz", "12", 12, "0x", "latests", None, "0x" + "f" * 65, "0x10000000000000000"):
            error(await ask("eth_getBlockByNumber", bad, False), -32602)
        error(await ask("eth_getBlockByHash", "0x1234", False), -32602, "32 bytes")
        error(await ask("eth_getBlockByNumber", "latest", "yes"), -32602)

    run(scenario)


def test_the_bloom_is_ethereums() -> None:
    # The bloom of one log from the yellow paper's rule, checked bit by bit.
    bloom = int.from_bytes(compute_bloom([(TOKEN, [])]), "big")
    digest = keccak256(TOKEN)
    expected = 0
    for pair in (0, 2, 4):
        expected |= 1 << (int.from_bytes(digest[pair : pair + 2], "big") % 2048)
    assert bloom == expected
    assert compute_bloom([]) == bytes(256)


# --- state ----------------------------------------------------------------------------------------


def test_state_reads_and_block_tags() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        node.codes[TOKEN] = b"\x60\x00"
        node.commit_block()
        address = "0x" + TOKEN.hex().upper()  # checksummed addresses mix cases
        assert result(await ask("eth_getBalance", address, "latest")) == hex(100)
        assert result(await ask("eth_getCode", address)) == "0x6000"
        assert result(await ask("eth_getCode", "0x" + "22" * 20, "pending")) == "0x"
        assert result(await ask("eth_getStorageAt", address, "0x2", "latest")) == "0x" + "00" * 31 + "02"
        assert result(await ask("eth_getTransactionCount", address, "latest")) == "0x7"
        assert result(await ask("eth_getTransactionCount", address, "0x1")) == "0x7"
        assert result(await ask("eth_getTransactionCount", address, {"blockNumber": "0x1"})) == "0x7"
        # A node without the pending pool's view answers the latest nonce.
        assert result(await ask("eth_getTransactionCount", address, "pending")) == "0x7"
        error(await ask("eth_getBalance", address, "earliest"), -32000, "historical state is not available")
        error(await ask("eth_getBalance", address, "0x9"), -32000, "beyond the latest")
        error(await ask("eth_getBalance", address, {"blockHash": "0x" + "00" * 32}), -32000, "header not found")
        error(await ask("eth_getBalance", "0x1234"), -32602, "20 bytes")
        error(await ask("eth_getBalance", "0x" + "zz" * 20), -32602)
        error(await ask("eth_getStorageAt", address, "0x" + "1" * 65), -32602)
        error(await ask("eth_getStorageAt", address), -32602)

    run(scenario)


def test_state_of_recent_blocks_is_read_from_the_node_within_the_window() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        assert isinstance(node, EthFakeNode)
        for _ in range(6):
            node.commit_block()
        address = "0x" + HOLDER.hex()
        assert result(await ask("eth_getBalance", address, "latest")) == hex(100)  # the latest: node.call
        assert result(await ask("eth_getBalance", address, "0x5")) == hex(5)
        assert result(await ask("eth_getBalance", address, {"blockNumber": "0x3"})) == hex(3)
        tip = node.get_block(Height(6))
        assert tip is not None
        assert result(await ask("eth_getBalance", address, {"blockHash": "0x" + tip.block_hash.hex()})) == hex(100)
        call = {"to": "0x" + TOKEN.hex(), "data": "0x1234"}
        assert result(await ask("eth_call", call, "0x4")) == "0x" + "01" * 32
        assert result(await ask("eth_getTransactionCount", address, "0x4")) == "0x7"
        assert node.past_calls == [
            (5, "account", "balance"),
            (3, "account", "balance"),
            (4, "evm", "call_static"),
            (4, "evm", "get_nonce"),
        ]
        # Beyond the window (tip 6 and the 3 before it), and pruned by the node.
        error(await ask("eth_getBalance", address, "0x2"), -32000, "historical state is not available")
        error(await ask("eth_getBalance", address, "earliest"), -32000, "state_history_blocks")
        assert len(node.past_calls) == 4

    async def pruned(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        for _ in range(3):
            node.commit_block()
        error(await ask("eth_getBalance", "0x" + HOLDER.hex(), "0x1"), -32000, "no longer kept")
        error(await ask("eth_getBalance", "0x" + HOLDER.hex(), "0x0"), -32000, "no longer kept")

    run(scenario, EthFakeNode(), EthSettings(state_history_blocks=3))
    run(pruned, EthFakeNode())


def test_pending_nonce_and_fee_policy_come_from_the_node() -> None:
    async def scenario(ask: Ask, _node: EvmFakeNode, _clock: Clock) -> None:
        assert result(await ask("eth_getTransactionCount", "0x" + "11" * 20, "pending")) == "0x9"
        assert result(await ask("eth_gasPrice")) == "0x7"
        assert result(await ask("eth_maxPriorityFeePerGas")) == "0x0"
        assert result(await ask("eth_getBlockByNumber", "latest"))["baseFeePerGas"] == "0x7"
        assert result(await ask("eth_feeHistory", "0x1", "latest"))["baseFeePerGas"] == ["0x7", "0x7"]

    run(scenario, EthFakeNode())


# --- calls ----------------------------------------------------------------------------------------


def test_call_and_estimate() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        node.codes[TOKEN] = b"\x60\x00"
        to = "0x" + TOKEN.hex()
        call = {"from": "0x" + HOLDER.hex(), "to": to, "data": "0x1234"}
        assert result(await ask("eth_call", call, "latest")) == "0x" + "01" * 32
        assert result(await ask("eth_call", {"to": to, "input": "0x1234", "gasPrice": "0x0"})) == "0x" + "01" * 32
        assert result(await ask("eth_estimateGas", call)) == hex(compute_gas_estimate(CALL_GAS, 21_000))
        # A plain transfer costs exactly the intrinsic gas, as wallets expect.
        transfer = {"from": "0x" + HOLDER.hex(), "to": "0x" + "33" * 20, "value": "0x5"}
        assert result(await ask("eth_estimateGas", transfer)) == hex(21_000)
        error(await ask("eth_estimateGas", {**transfer, "value": "0x1000"}), -32000, "insufficient funds")
        error(await ask("eth_call", {**call, "gas": "0x100"}), -32000, "out of gas")
        error(await ask("eth_estimateGas", {**call, "gas": "0x5208"}), -32000, "gas required exceeds allowance")

        reverted = error(
            await ask("eth_call", {"to": to, "data": "0x" + b"error".hex()}), 3, "execution reverted: nope"
        )
        assert reverted["data"] == "0x" + ERROR_STRING.hex()
        custom = error(await ask("eth_estimateGas", {"to": to, "data": "0x" + b"custom".hex()}), 3)
        assert custom["message"] == "execution reverted"
        assert custom["data"] == "0x" + CUSTOM_ERROR.hex()
        error(await ask("eth_call", {"to": to, "data": "0x" + b"burn".hex()}), -32000, "out of gas")

        error(await ask("eth_call", {"data": "0x60"}), -32004, "eth_call of a contract creation")
        # A creation's estimate runs it through evm.deploy_static (EVM gas = the view's gas minus Gusu's charges).
        assert result(await ask("eth_estimateGas", {"data": "0x6000"})) == hex(compute_gas_estimate(DEPLOY_GAS, 0))
        error(await ask("eth_estimateGas", {"data": "0x60", "value": "0x1"}), -32004, "send value")
        error(await ask("eth_call", {**call, "value": "0x1"}), -32004, "send value to a contract")
        error(await ask("eth_call", call, "latest", {to: {"balance": "0x1"}}), -32000, "Ethereum service")
        error(await ask("eth_call", {**call, "input": "0x99"}), -32602, "differ")
        error(await ask("eth_call", {**call, "data": "0x123"}), -32602, "even number")
        error(await ask("eth_call", {**call, "value": "-0x1"}), -32602)
        error(await ask("eth_call", {**call, "frm": "0x00"}), -32602, "unknown field")
        error(await ask("eth_call", "0x1234"), -32602, "call object")
        node.commit_block()
        error(await ask("eth_call", call, "earliest"), -32000, "historical state")

    run(scenario)


def test_call_state_overrides_are_parsed_bounded_and_passed_to_the_node() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        assert isinstance(node, EthFakeNode)
        node.codes[TOKEN] = b"\x60\x00"
        to = "0x" + TOKEN.hex()
        call = {"from": "0x" + HOLDER.hex(), "to": to, "data": "0x1234"}
        node.commit_block()
        node.commit_block()
        # State overrides reach the node parsed (a real node's are tested with web3.py, test_eth_web3.py).
        holder = "0x" + HOLDER.hex()
        overrides = {
            to: {
                "balance": "0x1",
                "nonce": "0x2",
                "code": "0x6001",
                "stateDiff": {"0x" + "00" * 31 + "05": "0x" + "00" * 31 + "07"},
            },
            holder: {"balance": "0x9"},
        }
        assert result(await ask("eth_call", call, "latest", overrides)) == "0x" + "01" * 32
        seen = node.overrides_seen[-1]
        assert [(item.address, item.balance, item.nonce, item.code, item.state_diff) for item in seen] == [
            (TOKEN, 1, 2, b"\x60\x01", ((5, 7),)),
            (HOLDER, 9, None, None, ()),
        ]
        assert result(await ask("eth_estimateGas", call, "latest", {to: {"code": "0x"}})) == hex(
            compute_gas_estimate(CALL_GAS, 21_000)
        )
        assert node.overrides_seen[-1][0].code == b""
        assert result(await ask("eth_call", call, "latest", {})) == "0x" + "01" * 32
        error(
            await ask("eth_call", call, "latest", {to: {"state": {}}}), -32602, "give the slots to change in stateDiff"
        )
        error(await ask("eth_call", call, "latest", {to: {"balanse": "0x1"}}), -32602, "unknown field")
        error(await ask("eth_call", call, "latest", {to: {"balance": hex(2**64)}}), -32602)
        error(await ask("eth_call", call, "latest", {to: {"stateDiff": {"0x05": "0x07"}}}), -32602, "32 bytes")
        error(await ask("eth_call", call, "latest", {to: {}, to.upper().replace("0X", "0x"): {}}), -32602, "twice")
        error(await ask("eth_call", call, "latest", [to]), -32602, "state override object")
        many = {"0x" + index.to_bytes(20, "big").hex(): {} for index in range(65)}
        error(await ask("eth_call", call, "latest", many), -32005, "call_state_override_accounts_max")
        slots = {"0x" + index.to_bytes(32, "big").hex(): "0x" + "00" * 32 for index in range(1_025)}
        error(
            await ask("eth_call", call, "latest", {to: {"stateDiff": slots}}), -32005, "call_state_override_slots_max"
        )
        error(await ask("eth_call", call, "latest", {to: {"code": "0x" + "00" * 65_537}}), -32005, "code_bytes_max")

    run(scenario, EthFakeNode())


def test_gas_estimate_covers_refunds_and_withheld_gas() -> None:
    assert compute_gas_estimate(21_000, 21_000) == 21_000
    used = 40_000
    estimate = compute_gas_estimate(used, 21_000)
    assert estimate >= used * 5 // 4 * 64 // 63
    assert estimate < used * 2


# --- logs and filters --------------------------------------------------------------------------------


def topic(value: bytes) -> str:
    return "0x" + value.hex()


def test_get_logs_filters_by_address_and_topics() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        other = b"\x7b" * 20
        holder_topic = HOLDER.rjust(32, b"\0")
        commit_logs(
            node,
            [
                (log_event(TOKEN, [TRANSFER_TOPIC, holder_topic], b"\x05"), log_event(other, [APPROVAL_TOPIC])),
                (Event("account", "Transfer", encode([])),),
            ],
        )
        commit_logs(node, [(log_event(TOKEN, [APPROVAL_TOPIC, holder_topic]),)])
        everything = result(await ask("eth_getLogs", {"fromBlock": "earliest", "toBlock": "latest"}))
        assert [(log["blockNumber"], log["logIndex"], log["transactionIndex"]) for log in everything] == [
            ("0x1", "0x0", "0x0"),
            ("0x1", "0x1", "0x0"),
            ("0x2", "0x0", "0x0"),
        ]
        first = everything[0]
        assert first["address"] == "0x" + TOKEN.hex()
        assert first["topics"] == [topic(TRANSFER_TOPIC), topic(holder_topic)]
        assert first["data"] == "0x05"
        assert first["removed"] is False
        record = node.get_block(Height(1))
        assert record is not None
        assert first["blockHash"] == "0x" + record.block_hash.hex()
        assert first["transactionHash"] == "0x" + record.transaction_ids[0].hex()

        by_token = await ask("eth_getLogs", {"fromBlock": "0x0", "address": "0x" + TOKEN.hex()})
        assert len(result(by_token)) == 2
        either = await ask("eth_getLogs", {"fromBlock": "0x0", "address": ["0x" + TOKEN.hex(), "0x" + other.hex()]})
        assert len(result(either)) == 3
        transfers = await ask("eth_getLogs", {"fromBlock": "0x0", "topics": [topic(TRANSFER_TOPIC)]})
        assert len(result(transfers)) == 1
        second = await ask("eth_getLogs", {"fromBlock": "0x0", "topics": [None, topic(holder_topic)]})
        assert len(result(second)) == 2
        any_of = await ask(
            "eth_getLogs", {"fromBlock": "0x0", "topics": [[topic(TRANSFER_TOPIC), topic(APPROVAL_TOPIC)]]}
        )
        assert len(result(any_of)) == 3
        too_many_positions = [None, None, topic(holder_topic)]
        assert result(await ask("eth_getLogs", {"fromBlock": "0x0", "topics": too_many_positions})) == []
        assert len(result(await ask("eth_getLogs", {"blockHash": first["blockHash"]}))) == 2
        assert result(await ask("eth_getLogs", {"fromBlock": "0x9"})) == []
        # Only the latest block by default.
        assert len(result(await ask("eth_getLogs", {}))) == 1

        error(await ask("eth_getLogs", {"fromBlock": "0x2", "toBlock": "0x1"}), -32602, "after toBlock")
        error(
            await ask("eth_getLogs", {"blockHash": first["blockHash"], "fromBlock": "0x0"}), -32602, "one or the other"
        )
        error(await ask("eth_getLogs", {"blockHash": "0x" + "00" * 32}), -32000, "unknown block")
        error(await ask("eth_getLogs", {"topics": [None] * 5}), -32602, "at most 4")
        error(await ask("eth_getLogs", {"topics": ["0x12"]}), -32602, "32 bytes")
        error(await ask("eth_getLogs", {"address": "0x12"}), -32602, "20 bytes")
        error(await ask("eth_getLogs", {"fromblock": "0x0"}), -32602, "unknown field")
        error(await ask("eth_getLogs", {"address": ["0x" + "11" * 20] * 257}), -32005, "the limit is 256")
        error(await ask("eth_getLogs", {"topics": [["0x" + "11" * 32] * 257]}), -32005, "the limit is 256")
        error(await ask("eth_getLogs", "0x0"), -32602, "filter object")

    run(scenario)


def test_get_logs_range_and_result_limits() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        for _ in range(3):
            commit_logs(node, [(log_event(TOKEN, [TRANSFER_TOPIC]), log_event(TOKEN, [TRANSFER_TOPIC]))])
        error(await ask("eth_getLogs", {"fromBlock": "0x0", "toBlock": "0x3"}), -32005, "at most 3")
        error(await ask("eth_getLogs", {"fromBlock": "0x0", "toBlock": "0xffffffffffffffff"}), -32005, "at most 3")
        error(await ask("eth_getLogs", {"fromBlock": "0x1", "toBlock": "0x3"}), -32005, "more than 5 results")
        assert len(result(await ask("eth_getLogs", {"fromBlock": "0x2", "toBlock": "0x3"}))) == 4

    run(scenario, settings=EthSettings(logs_block_range_max=3, logs_results_max=5))


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="logs_block_range_max"):
        EthSettings(logs_block_range_max=0)
    with pytest.raises(ConfigError, match="filters_max"):
        EthSettings(filters_max=True)
    with pytest.raises(ConfigError, match="send_commit_timeout_ms"):
        EthSettings(send_commit_timeout_ms=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="send_waits_for_commit"):
        EthSettings(send_waits_for_commit=1)  # type: ignore[arg-type]
    assert EthSettings(state_history_blocks=0).state_history_blocks == 0


def test_filters_follow_new_blocks_and_logs() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, clock: Clock) -> None:
        log_filter = result(await ask("eth_newFilter", {"address": "0x" + TOKEN.hex()}))
        block_filter = result(await ask("eth_newBlockFilter"))
        assert result(await ask("eth_getFilterChanges", log_filter)) == []  # the tip (genesis) has no logs
        assert result(await ask("eth_getFilterChanges", block_filter)) == []
        commit_logs(node, [(log_event(TOKEN, [TRANSFER_TOPIC]), log_event(b"\x01" * 20, []))])
        commit_logs(node, [(log_event(TOKEN, [APPROVAL_TOPIC]),)])
        changes = result(await ask("eth_getFilterChanges", log_filter))
        assert [log["topics"] for log in changes] == [[topic(TRANSFER_TOPIC)], [topic(APPROVAL_TOPIC)]]
        assert result(await ask("eth_getFilterChanges", log_filter)) == []
        assert len(result(await ask("eth_getFilterLogs", log_filter))) == 2
        late = result(await ask("eth_newFilter", {"fromBlock": "0x1", "address": "0x" + TOKEN.hex()}))
        assert result(await ask("eth_getFilterChanges", late)) == []  # only what commits after installing
        assert len(result(await ask("eth_getFilterLogs", late))) == 2
        assert result(await ask("eth_uninstallFilter", late)) is True
        hashes = result(await ask("eth_getFilterChanges", block_filter))
        assert hashes == [result(await ask("eth_getBlockByNumber", hex(height)))["hash"] for height in (1, 2)]
        assert result(await ask("eth_getFilterChanges", block_filter)) == []
        error(await ask("eth_getFilterLogs", block_filter), -32602, "block filter")

        assert result(await ask("eth_uninstallFilter", block_filter)) is True
        assert result(await ask("eth_uninstallFilter", block_filter)) is False
        error(await ask("eth_getFilterChanges", block_filter), -32000, "filter not found")
        error(await ask("eth_getFilterChanges", 5), -32000, "filter not found")
        error(await ask("eth_newPendingTransactionFilter"), -32004, "not supported")

        # Idle filters expire; polled ones do not.
        clock.now += 200
        assert result(await ask("eth_getFilterChanges", log_filter)) == []
        other = result(await ask("eth_newBlockFilter"))
        clock.now += 200
        assert result(await ask("eth_getFilterChanges", other)) == []
        clock.now += 200
        error(await ask("eth_getFilterChanges", log_filter), -32000, "expired")

    run(scenario)


def test_too_many_filters_are_refused() -> None:
    async def scenario(ask: Ask, _node: EvmFakeNode, clock: Clock) -> None:
        for _ in range(3):
            result(await ask("eth_newBlockFilter"))
        error(await ask("eth_newFilter", {}), -32005, "already has 3 filters")
        clock.now += 301
        result(await ask("eth_newFilter", {}))

    run(scenario, settings=EthSettings(filters_max=3))


def test_a_filter_far_behind_catches_up_in_bounded_polls() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        log_filter = result(await ask("eth_newFilter", {"fromBlock": "0x1"}))
        block_filter = result(await ask("eth_newBlockFilter"))
        for _ in range(5):
            commit_logs(node, [(log_event(TOKEN, [TRANSFER_TOPIC]),)])
        assert len(result(await ask("eth_getFilterChanges", log_filter))) == 2
        assert len(result(await ask("eth_getFilterChanges", log_filter))) == 2
        assert len(result(await ask("eth_getFilterChanges", log_filter))) == 1
        assert len(result(await ask("eth_getFilterChanges", block_filter))) == 2

    run(scenario, settings=EthSettings(logs_block_range_max=2, block_filter_hashes_max=2))


# --- raw Ethereum transactions -----------------------------------------------------------------------


def test_raw_transaction_methods_need_a_node_that_has_them() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        error(await ask("eth_sendRawTransaction", "0x02f8"), -32004, "not supported on this node")
        error(await ask("eth_getTransactionByHash", "0x" + "ee" * 32), -32004, "not supported on this node")
        error(await ask("eth_getTransactionReceipt", "0x" + "ee" * 32), -32004, "not supported on this node")
        # A Gusu transaction the node knows is answered without the interface: null while pending.
        raw, transaction_id = node.make_transaction()
        node._admit(raw)
        assert result(await ask("eth_getTransactionReceipt", "0x" + transaction_id.hex())) is None
        assert result(await ask("eth_getTransactionByHash", "0x" + transaction_id.hex())) is None  # not an EVM call

    run(scenario)


def test_raw_transaction_methods_through_the_node_interface() -> None:
    node = EthFakeNode()
    assert isinstance(node, EthTransactionService) and not isinstance(EvmFakeNode(), EthTransactionService)

    async def scenario(ask: Ask, _node: EvmFakeNode, _clock: Clock) -> None:
        assert result(await ask("eth_sendRawTransaction", "0x02f8aa")) == "0x" + keccak256(b"\x02\xf8\xaa").hex()
        assert node.raws == [b"\x02\xf8\xaa"]
        error(await ask("eth_sendRawTransaction", "0x"), -32602, "empty")
        error(await ask("eth_sendRawTransaction", "0x2"), -32602)
        node.refuse_with = TransactionError("nonce too low: the account's nonce is 4")
        error(await ask("eth_sendRawTransaction", "0x02f8aa"), -32000, "nonce too low")
        assert result(await ask("eth_getTransactionByHash", "0x" + "01" * 32)) is None
        assert result(await ask("eth_getTransactionReceipt", "0x" + "01" * 32)) is None
        error(await ask("eth_getTransactionReceipt", "0x01"), -32602, "32 bytes")

    run(scenario, node)


@dataclass
class BatchCountingFakeNode(EthFakeNode):
    """Refuses the raw transactions in `refused` (by its own error each) and counts the admissions it was asked for."""

    refused: dict[bytes, Exception] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def submit_eth_raw_transaction(self, raw: bytes) -> Hash:
        if raw in self.refused:
            raise self.refused[raw]
        return await super().submit_eth_raw_transaction(raw)

    async def submit_eth_raw_transactions(self, raws: Sequence[bytes]) -> list[Hash | GusuError]:
        self.batches.append(len(raws))
        if self.hold is not None:
            await self.hold.wait()
        return await super().submit_eth_raw_transactions(raws)


LONE_SEND_REFUSALS: dict[bytes, Exception] = {
    b"\x02low": TransactionError("nonce too low: the account's nonce is 4"),
    b"\x02big": TransactionTooLargeError("the Ethereum transaction is 200000 bytes; the limit is 131072"),
    b"\x02odd": InvalidParamsError("rawTransaction is odd"),
    b"\x02bug": RuntimeError("a fault of the node's"),
}


def _lone_send_body(request_id: object, raw: bytes) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
    )


@pytest.mark.parametrize("waits_for_commit", [False, True])
def test_lone_sends_taken_together_answer_what_each_body_answers_alone(waits_for_commit: bool) -> None:
    """The gateway's lone eth_sendRawTransaction requests (`RpcDispatcher.handle_lone_sends`) are admitted in one
    call, and each reply is byte for byte the dispatcher's to that request's body: results, refusals of the node
    (as -32000), the API's own errors, and a fault (an internal error)."""

    async def main() -> None:
        sends: list[tuple[Any, bytes, Address]] = [
            (7, b"\x02ok1", Address(b"\x01" * 20)),
            ("text-id", b"\x02low", Address(b"\x02" * 20)),
            (None, b"\x02ok2", Address(b"\x03" * 20)),
            (2**40, b"\x02big", Address(b"\x04" * 20)),
            (9, b"\x02odd", Address(b"\x05" * 20)),
        ]
        expected = []
        for request_id, raw, sender in sends:
            node = BatchCountingFakeNode(refused=LONE_SEND_REFUSALS)
            eth = EthRpc(node, EthSettings(send_waits_for_commit=waits_for_commit, send_commit_timeout_ms=10))
            dispatcher = RpcDispatcher(NodeApi(node), ApiSettings(port=0), eth.get_method_specs())
            expected.append(
                await dispatcher.handle(
                    _lone_send_body(request_id, raw), RequestContext(recovered_senders={raw: sender})
                )
            )
        node = BatchCountingFakeNode(refused=LONE_SEND_REFUSALS)
        eth = EthRpc(node, EthSettings(send_waits_for_commit=waits_for_commit, send_commit_timeout_ms=10))
        dispatcher = RpcDispatcher(
            NodeApi(node), ApiSettings(port=0), eth.get_method_specs(), answer_lone_sends=eth.answer_lone_sends
        )
        replies = await dispatcher.handle_lone_sends(sends)
        assert replies == expected
        assert [orjson.loads(reply.body or b"").get("result") is not None for reply in replies] == [
            True,
            False,
            True,
            False,
            False,
        ]
        # Waiting for each commit is the dispatcher's, request by request; otherwise one admission for all.
        assert node.batches == ([] if waits_for_commit else [len(sends)])
        assert node.raws == [b"\x02ok1", b"\x02ok2"]
        fault = await dispatcher.handle_lone_sends([(3, b"\x02bug", Address(b"\x06" * 20))])
        assert fault == [await dispatcher.handle(_lone_send_body(3, b"\x02bug"), RequestContext(recovered_senders={}))]
        assert orjson.loads(fault[0].body or b"")["error"]["code"] == -32603

    asyncio.run(main())


def test_lone_sends_past_the_request_timeout_answer_the_timeout_each() -> None:
    async def main() -> None:
        node = BatchCountingFakeNode(hold=asyncio.Event())
        eth = EthRpc(node, EthSettings())
        dispatcher = RpcDispatcher(
            NodeApi(node),
            ApiSettings(port=0, request_timeout_s=0.05),
            eth.get_method_specs(),
            answer_lone_sends=eth.answer_lone_sends,
        )
        async with asyncio.timeout(10):  # a node that never answers must not hold the reply
            replies = await dispatcher.handle_lone_sends(
                [(1, b"\x02a", Address(bytes(20))), (2, b"\x02b", Address(bytes(20)))]
            )
        bodies = [orjson.loads(reply.body or b"") for reply in replies]
        assert [body["id"] for body in bodies] == [1, 2]
        assert all("took longer than 0.05 s" in body["error"]["message"] for body in bodies)

    asyncio.run(main())


@dataclass
class CommittingFakeNode(EthFakeNode):
    """Admits each raw transaction as a pending transaction of the fake, which commits on `commit_block`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.key = self.new_key()

    async def submit_eth_raw_transaction(self, raw: bytes) -> Hash:
        transaction, _ = self.make_transaction(self.key, nonce=len(self.raws))
        self.raws.append(raw)
        return self._admit(transaction)


def test_send_waits_for_the_commit_when_asked_and_within_its_timeout() -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        sending = asyncio.ensure_future(ask("eth_sendRawTransaction", "0x02f8aa"))
        await asyncio.sleep(0.05)
        assert not sending.done() and len(node.listeners) == 1  # waiting for the block
        (transaction_id,) = node.commit_block().transaction_ids
        assert result(await sending) == "0x" + transaction_id.hex()
        assert node.listeners == []  # the listener goes with the last waiter
        # Never committed: the hash comes after the timeout all the same.
        started = time.monotonic()
        assert result(await ask("eth_sendRawTransaction", "0x02f8ab")).startswith("0x")
        assert time.monotonic() - started >= 0.2 and node.listeners == []

    async def without_waiting(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        assert result(await asyncio.wait_for(ask("eth_sendRawTransaction", "0x02f8aa"), 0.5)).startswith("0x")
        assert node.listeners == []

    run(scenario, CommittingFakeNode(), EthSettings(send_waits_for_commit=True, send_commit_timeout_ms=200))
    run(without_waiting, CommittingFakeNode())


def test_a_block_mixing_gusu_and_ethereum_transactions() -> None:
    node = EthFakeNode()

    async def scenario(ask: Ask, _node: EvmFakeNode, _clock: Clock) -> None:
        transfer_id, call_id, eth_id = node.commit_mixed_block()
        record = node.get_block(Height(node.height))
        assert record is not None
        block = result(await ask("eth_getBlockByNumber", "latest", True))
        # Ethereum gas only: the evm.call's EVM part and the Ethereum transaction's gas, not Gusu gas.
        assert block["gasUsed"] == hex(30_000 + 25_000)
        assert block["baseFeePerGas"] == hex(GAS_PRICE)
        listed = block["transactions"]
        assert [item["hash"] for item in listed] == ["0x" + item.hex() for item in (transfer_id, call_id, eth_id)]
        assert listed[0]["to"] is None and listed[0]["input"] == "0x"
        assert listed[1]["to"] == "0x" + TOKEN.hex() and listed[1]["input"] == "0x0102"
        eth = listed[2]
        assert eth == result(await ask("eth_getTransactionByHash", "0x" + eth_id.hex()))
        assert eth["from"] == "0x" + HOLDER.hex()
        assert eth["to"] == "0x" + TOKEN.hex()
        assert (eth["type"], eth["nonce"], eth["chainId"]) == ("0x2", "0x3", hex(EVM_CHAIN_ID))
        assert (eth["v"], eth["yParity"], eth["r"], eth["s"]) == ("0x1", "0x1", "0x5", "0x6")
        assert (eth["gas"], eth["maxFeePerGas"], eth["maxPriorityFeePerGas"]) == (hex(50_000), "0x0", "0x0")
        assert eth["gasPrice"] == hex(GAS_PRICE)  # mined: the price paid, the fee policy's
        assert eth["accessList"] == []
        assert (eth["blockHash"], eth["blockNumber"], eth["transactionIndex"]) == (
            "0x" + record.block_hash.hex(),
            hex(node.height),
            "0x2",
        )
        assert eth["input"] == "0xa9059cbb"

        call_receipt = result(await ask("eth_getTransactionReceipt", "0x" + call_id.hex()))
        assert (call_receipt["gasUsed"], call_receipt["cumulativeGasUsed"]) == (hex(30_000), hex(30_000))
        assert [log["logIndex"] for log in call_receipt["logs"]] == ["0x1"]  # after the transfer's log
        receipt = result(await ask("eth_getTransactionReceipt", "0x" + eth_id.hex()))
        assert receipt["status"] == "0x1"
        assert receipt["gasUsed"] == hex(25_000)
        assert receipt["cumulativeGasUsed"] == hex(55_000)
        assert receipt["effectiveGasPrice"] == hex(GAS_PRICE)
        assert receipt["contractAddress"] is None
        assert (receipt["type"], receipt["transactionIndex"]) == ("0x2", "0x2")
        assert receipt["from"] == "0x" + HOLDER.hex()
        assert [log["logIndex"] for log in receipt["logs"]] == ["0x2", "0x3"]
        assert all(log["transactionHash"] == "0x" + eth_id.hex() for log in receipt["logs"])
        assert receipt["logsBloom"] == "0x" + compute_bloom([(TOKEN, [TRANSFER_TOPIC, b"\x22" * 32])]).hex()
        # account.transfer has no Ethereum receipt.
        assert result(await ask("eth_getTransactionReceipt", "0x" + transfer_id.hex())) is None
        logs = result(await ask("eth_getLogs", {"fromBlock": "latest", "topics": [topic(TRANSFER_TOPIC)]}))
        assert [log["logIndex"] for log in logs] == ["0x2", "0x3"]

    run(scenario, node)


def test_receipts_of_one_block_read_the_block_once_and_match_a_cold_read() -> None:
    node = EthFakeNode()
    block_reads: list[Height] = []
    get_block = node.get_block

    def counting_get_block(height: Height) -> Any:
        block_reads.append(height)
        return get_block(height)

    node.get_block = counting_get_block  # type: ignore[method-assign]

    async def scenario(ask: Ask, _node: EvmFakeNode, _clock: Clock) -> None:
        _, call_id, eth_id = node.commit_mixed_block()
        mixed_height = node.height
        block_reads.clear()  # the fake node reads its block while committing it
        warm = [result(await ask("eth_getTransactionReceipt", "0x" + item.hex())) for item in (call_id, eth_id)]
        assert block_reads == [mixed_height]  # the second receipt used the block seen for the first
        assert [receipt["cumulativeGasUsed"] for receipt in warm] == [hex(30_000), hex(55_000)]
        node.commit_mixed_block()
        block_reads.clear()
        later = result(await ask("eth_getTransactionReceipt", "0x" + eth_id.hex()))
        assert later == warm[1] and block_reads == []
        # A receipt read with nothing cached is the same: the cache changes speed, not answers.
        cold_eth = EthRpc(node, EthSettings(), Clock())
        cold_dispatcher = RpcDispatcher(NodeApi(node), ApiSettings(port=0), cold_eth.get_method_specs())
        request = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt", "params": ["0x" + eth_id.hex()]}
        )
        reply = await cold_dispatcher.handle(request, RequestContext())
        assert reply.body is not None
        assert orjson.loads(reply.body)["result"] == warm[1]
        assert block_reads == [mixed_height]

    run(scenario, node)


# --- subscriptions ----------------------------------------------------------------------------------


def test_subscriptions_over_the_websocket() -> None:
    async def main() -> None:
        node = EvmFakeNode()
        app = create_app(node, ApiSettings(port=0))
        async with TestClient(TestServer(app)) as client:
            response = await client.post(
                "/rpc", data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
            )
            assert (await response.json())["error"]["code"] == -32601
            async with client.ws_connect("/ws") as ws:

                async def ask(request_id: int, method: str, *params: Any) -> dict[str, Any]:
                    await ws.send_str(
                        json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)})
                    )
                    answer: dict[str, Any] = await ws.receive_json(timeout=5)
                    return answer

                heads = result(await ask(1, "eth_subscribe", "newHeads"))
                logs = result(await ask(2, "eth_subscribe", "logs", {"topics": [topic(APPROVAL_TOPIC)]}))
                error(await ask(3, "eth_subscribe", "newPendingTransactions"), -32602, "newHeads")
                error(await ask(4, "eth_subscribe", "logs", {"fromBlock": "0x0"}), -32602, "only address and topics")
                error(await ask(5, "eth_subscribe", "logs", {"address": "0x12"}), -32602, "20 bytes")
                commit_logs(node, [(log_event(TOKEN, [TRANSFER_TOPIC]), log_event(TOKEN, [APPROVAL_TOPIC]))])
                received = [await ws.receive_json(timeout=5) for _ in range(2)]
                by_id = {item["params"]["subscription"]: item for item in received}
                assert {item["method"] for item in received} == {"eth_subscription"}
                head = by_id[heads]["params"]["result"]
                record = node.get_block(Height(1))
                assert record is not None
                assert head["number"] == "0x1"
                assert head["hash"] == "0x" + record.block_hash.hex()
                log = by_id[logs]["params"]["result"]
                assert log["topics"] == [topic(APPROVAL_TOPIC)]
                assert log["logIndex"] == "0x1"
                assert result(await ask(6, "eth_unsubscribe", logs)) is True
                assert result(await ask(7, "eth_unsubscribe", logs)) is False

    asyncio.run(main())


# --- hostile params ---------------------------------------------------------------------------------

_ETH_METHODS = [spec.name for spec in EthRpc(EvmFakeNode()).get_method_specs()]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["latest", "earliest", "pending", "0x", "0x0", "0x1", "0xzz", "0x" + "f" * 70, "newHeads", "logs"]),
    st.binary(max_size=40).map(lambda data: "0x" + data.hex()),
    st.text(max_size=12),
)
_params = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "from",
                    "to",
                    "data",
                    "input",
                    "value",
                    "gas",
                    "fromBlock",
                    "toBlock",
                    "address",
                    "topics",
                    "blockHash",
                    "blockNumber",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(_ETH_METHODS), params=st.lists(_params, max_size=4))
def test_hostile_params_never_make_an_internal_error(method: str, params: list[Any]) -> None:
    async def scenario(ask: Ask, node: EvmFakeNode, _clock: Clock) -> None:
        node.codes[TOKEN] = b"\x60\x00"
        answer = await ask(method, *params)
        if "error" in answer:
            assert answer["error"]["code"] in {3, -32000, -32004, -32005, -32601, -32602}, answer
            assert answer["error"]["message"]

    run(scenario)


def test_immediate_methods_run_without_a_timer_or_a_task_and_answer_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The eth_* reads never wait, so they run with no timer of their own and a batch of only them in turn (no task
    each); a batch with a method that may wait still runs its requests concurrently."""
    import gusu.api.rpc as rpc_module

    async def main() -> None:
        node = EthFakeNode()
        eth = EthRpc(node, EthSettings())
        dispatcher = RpcDispatcher(NodeApi(node), ApiSettings(port=0), eth.get_method_specs())
        reads = orjson.dumps(
            [
                {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
                {"jsonrpc": "2.0", "id": 3, "method": "eth_getTransactionReceipt", "params": ["0x01"]},
                {"jsonrpc": "2.0", "id": 4, "method": "no_such_method", "params": []},
                "not a request",
            ]
        )
        expected = await dispatcher.handle(reads, RequestContext())
        gathered: list[int] = []
        real_gather = asyncio.gather

        def counting_gather(*awaitables: Any) -> Any:
            gathered.append(len(awaitables))
            return real_gather(*awaitables)

        def no_timer(_when: float) -> Any:
            raise AssertionError("an immediate method got a timer")

        monkeypatch.setattr(rpc_module.asyncio, "gather", counting_gather)
        monkeypatch.setattr(rpc_module.asyncio, "timeout_at", no_timer)
        assert await dispatcher.handle(reads, RequestContext()) == expected
        answers = orjson.loads(expected.body or b"")
        assert [answer.get("id") for answer in answers] == [1, 2, 3, 4, None]
        assert "result" in answers[0] and answers[2]["error"]["code"] == -32602
        assert gathered == []
        monkeypatch.undo()
        mixed = orjson.dumps(
            [
                {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": ["0x02f8"]},
            ]
        )
        monkeypatch.setattr(rpc_module.asyncio, "gather", counting_gather)
        reply = orjson.loads((await dispatcher.handle(mixed, RequestContext())).body or b"")
        assert [answer["id"] for answer in reply] == [1, 2] and "result" in reply[1]
        assert gathered == [2]

    asyncio.run(main())
