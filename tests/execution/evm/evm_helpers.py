"""EVM test helpers: the compiled fixtures, a little ABI encoding, and chains on either suite."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak
from execution_helpers import CHAIN_ID, GENESIS_TIME_MS, Chain, MemoryState

from gusu.codec import Value, decode, encode
from gusu.crypto import PrivateKey, get_suite
from gusu.execution import ExecutionLimits, Executor, TransactionInput, compute_chain_registry
from gusu.execution.context import BlockContext
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, Allocation, Genesis, GenesisValidator
from gusu.ledger.types import Address, Height, Receipt, Transaction, compute_transaction_id

FIXTURES = Path(__file__).parent / "fixtures"
EVM_CONTRACTS = tuple(sorted((*DEFAULT_CONTRACTS, "evm")))
FUNDS = 1_000_000
NO_APPROVAL_PARAMETERS = tuple(sorted((*DEFAULT_PARAMETERS, ("contract_deploy_approval_required", 0))))
"""Most tests deploy freely; tests/execution/evm/test_evm_governance.py covers approval."""


def load_artifact(name: str) -> dict[str, Any]:
    artifact: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return artifact


def get_bytecode(name: str) -> bytes:
    return bytes.fromhex(load_artifact(name)["bytecode"][2:])


def get_runtime_code(name: str) -> bytes:
    return bytes.fromhex(load_artifact(name)["deployedBytecode"][2:])


# --- ABI (just what the fixtures need) --------------------------------------------------------


def compute_selector(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def encode_word(value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return value.rjust(32, b"\x00")
    return value.to_bytes(32, "big")


def encode_string_tail(text: str) -> bytes:
    raw = text.encode()
    return encode_word(len(raw)) + raw + bytes(-len(raw) % 32)


def encode_call(signature: str, *words: int | bytes) -> bytes:
    return compute_selector(signature) + b"".join(encode_word(word) for word in words)


def encode_call_with_string(signature: str, text: str) -> bytes:
    return compute_selector(signature) + encode_word(32) + encode_string_tail(text)


def encode_token_constructor(name: str, symbol: str, supply: int) -> bytes:
    first = encode_string_tail(name)
    return encode_word(96) + encode_word(96 + len(first)) + encode_word(supply) + first + encode_string_tail(symbol)


def compute_transfer_topic() -> bytes:
    return keccak(b"Transfer(address,address,uint256)")


# --- chains ---------------------------------------------------------------------------------


@dataclass
class EvmChain:
    """A chain of `suite` whose genesis lists the evm contract; transactions signed-by-shape only."""

    suite_name: str
    chain: Chain
    keys: list[PrivateKey]
    addresses: list[Address]
    nonce: int = 0
    deployed: dict[str, Address] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        suite_name: str,
        parameters: tuple[tuple[str, int], ...] = NO_APPROVAL_PARAMETERS,
        contracts: tuple[str, ...] = EVM_CONTRACTS,
        limits: ExecutionLimits | None = None,
    ) -> EvmChain:
        suite = get_suite(suite_name)
        keys = [suite.load_private_key((5000 + index).to_bytes(32, "big")) for index in range(4)]
        addresses = [Address(suite.compute_address(key.public_key)) for key in keys]
        genesis = Genesis(
            chain_id=CHAIN_ID,
            suite=suite_name,
            timestamp_ms=GENESIS_TIME_MS,
            validators=(GenesisValidator("validator-0", addresses[3], keys[3].public_key, 10, "org0"),),
            allocations=(Allocation(addresses[0], FUNDS),),
            parameters=parameters,
            admins=(addresses[0],),
            python_version="3.11",
            contracts=contracts,
        )
        executor = Executor(compute_chain_registry(genesis.contracts), limits or ExecutionLimits())
        chain = Chain(executor, MemoryState(executor.compute_genesis_writes(genesis)))
        return cls(suite_name, chain, keys, addresses)

    def make_transaction(self, contract: str, method: str, args: list[Value], sender: int = 0) -> TransactionInput:
        self.nonce += 1
        suite = get_suite(self.suite_name)
        transaction = Transaction(
            chain_id=CHAIN_ID,
            nonce=self.nonce,
            valid_until_height=Height(1_000),
            sender_public_key=self.keys[sender].public_key,
            contract=contract,
            method=method,
            args=encode(args),
            signature=bytes(64),
        )
        return TransactionInput(transaction, compute_transaction_id(suite, transaction), self.addresses[sender])

    def run(self, contract: str, method: str, args: list[Value], sender: int = 0) -> Receipt:
        return self.chain.run(self.make_transaction(contract, method, args, sender))

    def deploy(self, bytecode: bytes, value: int = 0, sender: int = 0) -> Receipt:
        return self.run("evm", "deploy", [bytecode, value], sender)

    def send(self, to: Address, data: bytes, value: int = 0, sender: int = 0) -> Receipt:
        return self.run("evm", "call", [to, data, value], sender)

    def view(self, method: str, *args: Value, sender: int = 0) -> Value:
        block = BlockContext(CHAIN_ID, Height(self.chain.height), GENESIS_TIME_MS, self.addresses[3])
        executor = self.chain.executor
        result = executor.call(self.chain.state, block, "evm", method, encode(list(args)), self.addresses[sender])
        return decode(result.return_value)

    def call_static(self, to: Address, data: bytes, sender: int = 0) -> bytes:
        value = self.view("call_static", to, data, sender=sender)
        assert isinstance(value, bytes)
        return value

    def deploy_token(self, supply: int = 10**24) -> Address:
        receipt = self.deploy(get_bytecode("Token") + encode_token_constructor("Gusu Token", "GST", supply))
        assert receipt.status.name == "SUCCESS", receipt.error_message
        address = decode(receipt.return_value)
        assert isinstance(address, bytes)
        return Address(address)

    def get_token_balance(self, token: Address, holder: Address) -> int:
        return int.from_bytes(self.call_static(token, encode_call("balanceOf(address)", holder)), "big")


def compute_create_address(sender: bytes, nonce: int) -> bytes:
    """Ethereum's CREATE address, computed here independently: keccak(rlp([sender, nonce]))[12:]."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes((nonce,))
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes((0x80 + len(raw),)) + raw
    payload = b"\x94" + sender + encoded_nonce
    return keccak(bytes((0xC0 + len(payload),)) + payload)[12:]


def apply_with_either_loop(state: Any, message: Any, context: Any, *, is_py_evm_loop: bool) -> Any:
    """The computation of `message` run by the engine's loop, or by py-evm's own `apply_computation` on the engine's
    computation class (the reference the inline opcodes are compared with)."""
    from eth.vm.computation import BaseComputation

    from gusu.execution.evm.engine import _GusuCancunComputation

    if is_py_evm_loop:
        return BaseComputation.__dict__["apply_computation"].__func__(_GusuCancunComputation, state, message, context)
    return _GusuCancunComputation.apply_computation(state, message, context)


def describe_computation(computation: Any) -> tuple[Any, ...]:
    """What a finished computation shows, for comparing two loops: its error (type and message), gas left, output,
    stack (types included: ints and bytes of each length must match too), memory and program counter."""
    error = computation._error
    return (
        type(error).__name__,
        str(error),
        computation.get_gas_remaining(),
        bytes(computation.output),
        [(type(value).__name__, value) for value in computation._stack.values],
        bytes(computation._memory._bytes),
        computation.code.program_counter,
    )
