"""A small in-memory chain for execution tests: keys, genesis, blocks, calls."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gusu.codec import Value, decode, encode
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.execution import (
    BlockContext,
    BlockExecutionResult,
    CallResult,
    ContractRegistry,
    ExecutionLimits,
    Executor,
    TransactionInput,
    get_default_registry,
)
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Allocation, Genesis, GenesisValidator
from gusu.ledger.types import Address, Height, Receipt, Transaction, compute_transaction_id

CHAIN_ID = "gusu-test"
SUITE_NAME = "sm"
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1_000


def get_test_suite() -> CryptoSuite:
    return get_suite(SUITE_NAME)


def make_key(index: int, suite: CryptoSuite | None = None) -> PrivateKey:
    """A fixed key per index, so tests (and golden hashes) never depend on randomness."""
    suite = suite or get_test_suite()
    return suite.load_private_key((1000 + index).to_bytes(32, "big"))


def get_address(key: PrivateKey, suite: CryptoSuite | None = None) -> Address:
    return Address((suite or get_test_suite()).compute_address(key.public_key))


ALICE_KEY = make_key(1)
BOB_KEY = make_key(2)
CAROL_KEY = make_key(3)
VALIDATOR_KEY = make_key(0)
ALICE = get_address(ALICE_KEY)
BOB = get_address(BOB_KEY)
CAROL = get_address(CAROL_KEY)
VALIDATOR = get_address(VALIDATOR_KEY)
ALICE_FUNDS = 1_000_000


def make_genesis(
    allocations: Sequence[tuple[Address, int]] = ((ALICE, ALICE_FUNDS),),
    admins: Sequence[Address] = (ALICE,),
    parameters: tuple[tuple[str, int], ...] = DEFAULT_PARAMETERS,
) -> Genesis:
    return Genesis(
        chain_id=CHAIN_ID,
        suite=SUITE_NAME,
        timestamp_ms=GENESIS_TIME_MS,
        validators=(GenesisValidator("validator-0", VALIDATOR, VALIDATOR_KEY.public_key, 10, "org0"),),
        allocations=tuple(Allocation(address, amount) for address, amount in allocations),
        parameters=parameters,
        admins=tuple(admins),
        python_version="3.11",
    )


_nonce = 0


def make_transaction(
    contract: str,
    method: str,
    args: Value | bytes,
    sender: PrivateKey = ALICE_KEY,
    nonce: int | None = None,
) -> TransactionInput:
    """A transaction input; `args` is a list of values, or raw bytes to send as they are."""
    global _nonce
    if nonce is None:
        _nonce += 1
        nonce = _nonce
    suite = get_test_suite()
    transaction = Transaction(
        chain_id=CHAIN_ID,
        nonce=nonce,
        valid_until_height=Height(1_000),
        sender_public_key=sender.public_key,
        contract=contract,
        method=method,
        args=args if isinstance(args, bytes) else encode(args),
        signature=bytes(64),
    )
    return TransactionInput(transaction, compute_transaction_id(suite, transaction), get_address(sender, suite))


class MemoryState:
    """Committed state in a dict: the StateReader the tests execute against."""

    def __init__(self, items: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.items: dict[bytes, bytes] = dict(items)
        self.reads = 0

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.items.get(key)

    def apply(self, writes: Sequence[tuple[bytes, bytes | None]]) -> None:
        for key, value in writes:
            if value is None:
                del self.items[key]
            else:
                self.items[key] = value


@dataclass
class Chain:
    """An executor over a MemoryState that commits each block it runs."""

    executor: Executor
    state: MemoryState
    height: int = 0

    @classmethod
    def create(
        cls,
        registry: ContractRegistry | None = None,
        limits: ExecutionLimits | None = None,
        genesis: Genesis | None = None,
    ) -> Chain:
        executor = Executor(registry or get_default_registry(), limits or ExecutionLimits())
        state = MemoryState(executor.compute_genesis_writes(genesis or make_genesis()))
        return cls(executor, state)

    def get_next_block(self) -> BlockContext:
        height = self.height + 1
        return BlockContext(CHAIN_ID, Height(height), GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS, VALIDATOR)

    def run_block(self, *transactions: TransactionInput) -> BlockExecutionResult:
        result = self.executor.execute_block(self.state, self.get_next_block(), transactions)
        self.state.apply(result.writes)
        self.height += 1
        return result

    def run(self, transaction: TransactionInput) -> Receipt:
        (receipt,) = self.run_block(transaction).receipts
        return receipt

    def call(self, contract: str, method: str, args: Value | bytes, sender: Address = ALICE) -> CallResult:
        raw = args if isinstance(args, bytes) else encode(args)
        block = BlockContext(CHAIN_ID, Height(self.height), GENESIS_TIME_MS, VALIDATOR)
        return self.executor.call(self.state, block, contract, method, raw, sender)

    def view(self, contract: str, method: str, *args: Value) -> Value:
        return decode(self.call(contract, method, list(args)).return_value)

    def get_balance(self, address: Address) -> int:
        value = self.view("account", "balance", address)
        assert isinstance(value, int)
        return value


def get_return(receipt: Receipt) -> Value:
    return decode(receipt.return_value)


def get_event_data(receipt: Receipt) -> list[tuple[str, Value]]:
    return [(event.name, decode(event.data)) for event in receipt.events]


def get_next_block_for(height: int) -> BlockContext:
    return BlockContext(CHAIN_ID, Height(height), GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS, VALIDATOR)
