"""An in-memory chain for a contract's tests: the node's executor, no network, no disk.

`DevChain()` runs the same `Executor` a node runs, over a dict, one block per
transaction, with named test accounts that hold balances from genesis::

    chain = DevChain()
    chain.deploy_file("token", "contract.py", 1_000)
    result = chain.call("token", "transfer", chain.address("bob"), 5)
    assert result.events[0].fields["amount"] == 5
    chain.expect_revert("token", "transfer", chain.address("bob"), 10**9, match="insufficient")
    assert chain.view("token", "balance", chain.address("bob")) == 5

Accounts are named; their keys derive from the name, so a test's addresses
and hashes never change between runs. `advance(blocks)` and
`advance_time(ms)` move the chain's height and clock for contracts that read
`block_height()` or `block_timestamp_ms()`. A chain made with
``approval_required=True`` behaves like a governed chain: deploy only what
`approve(source)` approved first.

`gusu contract test` runs a contract's pytest files, which use this module;
each test builds its chain in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gusu.codec import Value, decode, encode
from gusu.crypto import PrivateKey, get_suite
from gusu.errors import ConfigError, TransactionFailedError
from gusu.execution import BlockContext, Executor, TransactionInput, compute_chain_registry, compute_execution_limits
from gusu.execution.deployment import APPROVAL_PARAMETER, DEPLOYER_CONTRACT
from gusu.ledger.contractcode import compute_code_hash
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Allocation, Genesis, GenesisValidator, get_running_python_version
from gusu.ledger.types import Address, Hash, Height, Receipt, Transaction, compute_transaction_id
from gusu.sdk.contracts import DEPLOYER_INTERFACE, ContractInterface, DecodedEvent, decode_events, parse_interface

CHAIN_ID = "gusu-devkit"
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1_000
DEFAULT_ACCOUNTS = ("alice", "bob", "carol", "dave")
"""The accounts a `DevChain` funds at genesis unless told otherwise; the first one is its admin."""
ACCOUNT_BALANCE = 1_000_000_000
ACCOUNTS_MAX = 256
"""Funded accounts one chain may have at genesis (each costs a key derivation)."""
ADVANCE_BLOCKS_MAX = 100_000
"""Empty blocks one `advance` may run (each executes a block)."""
VALID_FOR_BLOCKS = 100
TAG_ACCOUNT_KEY = b"gusu.devkit.account.v1"
SOURCE_BYTES_MAX = 1024 * 1024
"""Largest contract file `deploy_file` reads."""


@dataclass(frozen=True, slots=True)
class DevAccount:
    name: str
    key: PrivateKey
    address: Address


@dataclass(frozen=True, slots=True)
class Result:
    """A transaction's outcome: its receipt, its return value and its events, decoded."""

    receipt: Receipt
    value: Value
    """The method's decoded return value (None when it failed)."""
    events: tuple[DecodedEvent, ...]
    height: Height

    @property
    def is_success(self) -> bool:
        return self.receipt.is_success

    @property
    def error_code(self) -> str:
        return self.receipt.error_code

    @property
    def error_message(self) -> str:
        return self.receipt.error_message

    @property
    def gas_used(self) -> int:
        return self.receipt.gas_used

    def get_events(self, name: str) -> list[DecodedEvent]:
        """The events called `name`, in the order they were emitted."""
        return [event for event in self.events if event.name == name]


class _MemoryState:
    """Committed state in a dict (the executor's StateReader)."""

    def __init__(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        self.items: dict[bytes, bytes] = dict(items)

    def get(self, key: bytes) -> bytes | None:
        return self.items.get(key)

    def apply(self, writes: Sequence[tuple[bytes, bytes | None]]) -> None:
        for key, value in writes:
            if value is None:
                self.items.pop(key, None)
            else:
                self.items[key] = value


def _derive_secret(suite: str, name: str) -> bytes:
    # A leading zero byte keeps the scalar below either curve's order; the hash makes it non-zero.
    return b"\x00" + get_suite(suite).hash(TAG_ACCOUNT_KEY + name.encode())[1:]


@dataclass
class DevChain:
    """A one-validator chain in memory; every `call` runs and commits one block."""

    suite: str = "sm"
    accounts: Sequence[str] = DEFAULT_ACCOUNTS
    balance: int = ACCOUNT_BALANCE
    approval_required: bool = False
    """True: deploying needs the admin's `approve` first, as on a governed chain."""
    genesis_time_ms: int = GENESIS_TIME_MS
    block_interval_ms: int = BLOCK_INTERVAL_MS
    parameters: Sequence[tuple[str, int]] = ()
    """Genesis parameters beyond the defaults, e.g. (("gas_per_transaction_max", 50_000_000),)."""
    height: Height = field(default=Height(0), init=False)
    time_ms: int = field(default=0, init=False)
    """The timestamp of the last block (the genesis time at height 0)."""
    _known: dict[str, DevAccount] = field(default_factory=dict, init=False, repr=False)
    _interfaces: dict[str, ContractInterface] = field(default_factory=dict, init=False, repr=False)
    _time_skip_ms: int = field(default=0, init=False, repr=False)
    _nonce: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= len(self.accounts) <= ACCOUNTS_MAX or len(set(self.accounts)) != len(self.accounts):
            raise ConfigError(f"give 1 to {ACCOUNTS_MAX} distinct account names")
        if self.balance < 0 or self.block_interval_ms < 1:
            raise ConfigError("balances are 0 or more and the block interval at least 1 ms")
        self._validator = self.get_account("validator")
        funded = [self.get_account(name) for name in self.accounts]
        overrides = dict(self.parameters)
        overrides[APPROVAL_PARAMETER] = 1 if self.approval_required else 0
        parameters = tuple(sorted({**dict(DEFAULT_PARAMETERS), **overrides}.items()))
        self.genesis = Genesis(
            chain_id=CHAIN_ID,
            suite=self.suite,
            timestamp_ms=self.genesis_time_ms,
            validators=(
                GenesisValidator("validator", self._validator.address, self._validator.key.public_key, 1, "org0"),
            ),
            allocations=tuple(sorted((Allocation(a.address, self.balance) for a in funded), key=lambda a: a.address)),
            parameters=parameters,
            admins=(funded[0].address,),
            python_version=get_running_python_version(),
            consensus="solo",
        )
        self.executor = Executor(compute_chain_registry(self.genesis.contracts), compute_execution_limits(parameters))
        self.state = _MemoryState(self.executor.compute_genesis_writes(self.genesis))
        self.time_ms = self.genesis_time_ms

    # --- accounts ---

    def get_account(self, name: str) -> DevAccount:
        """The account called `name` (made on first use; only genesis accounts hold a balance)."""
        account = self._known.get(name)
        if account is None:
            suite = get_suite(self.suite)
            key = suite.load_private_key(_derive_secret(self.suite, name))
            account = DevAccount(name, key, Address(suite.compute_address(key.public_key)))
            self._known[name] = account
        return account

    def address(self, name: str) -> Address:
        return self.get_account(name).address

    def get_balance(self, who: str | bytes) -> int:
        address = self.address(who) if isinstance(who, str) else who
        value = self.view("account", "balance", address)
        assert isinstance(value, int)
        return value

    # --- time ---

    def advance(self, blocks: int = 1) -> Height:
        """Run `blocks` empty blocks; the new height."""
        if not 0 <= blocks <= ADVANCE_BLOCKS_MAX:
            raise ConfigError(f"advance by 0 to {ADVANCE_BLOCKS_MAX} blocks at a time")
        for _ in range(blocks):
            self._run_block([])
        return self.height

    def advance_time(self, milliseconds: int) -> None:
        """Make the next block's timestamp `milliseconds` later than it would be."""
        if milliseconds < 0:
            raise ConfigError("time only moves forward")
        self._time_skip_ms += milliseconds

    # --- deploying ---

    def compute_code_hash(self, source: str) -> Hash:
        return compute_code_hash(self.suite, source)

    def approve(self, source: str) -> Result:
        """Approve `source`'s code hash by a governance proposal of the admin (decided by its own vote)."""
        expiry = self.height + 1 + VALID_FOR_BLOCKS
        proposal = encode([self.compute_code_hash(source)])
        return self.call("system", "propose", "approve_contract", proposal, expiry, sender=self.accounts[0])

    def deploy(self, name: str, source: str, *args: Value, sender: str = "") -> Result:
        """Deploy `source` at `name` (its migration gets `args`); TransactionFailedError if refused."""
        result = self.call(DEPLOYER_CONTRACT, "deploy", name, source, encode(list(args)), sender=sender)
        self._interfaces.pop(name, None)
        return result

    def upgrade(self, name: str, source: str, *args: Value, sender: str = "") -> Result:
        result = self.call(DEPLOYER_CONTRACT, "upgrade", name, source, encode(list(args)), sender=sender)
        self._interfaces.pop(name, None)
        return result

    def deploy_file(self, name: str, path: str | Path, *args: Value, sender: str = "") -> Result:
        return self.deploy(name, read_source(path), *args, sender=sender)

    def upgrade_file(self, name: str, path: str | Path, *args: Value, sender: str = "") -> Result:
        return self.upgrade(name, read_source(path), *args, sender=sender)

    def get_interface(self, name: str) -> ContractInterface | None:
        if name not in self._interfaces:
            value = self.view(DEPLOYER_CONTRACT, "get_interface", name)
            if value is None:
                return None
            self._interfaces[name] = parse_interface(value)
        return self._interfaces[name]

    # --- calls ---

    def send(self, contract: str, method: str, *args: Value, sender: str = "") -> Result:
        """Run `contract.method(*args)` as a transaction of `sender` in a new block, whatever its outcome."""
        account = self.get_account(sender or self.accounts[0])
        self._nonce += 1
        suite = get_suite(self.suite)
        transaction = Transaction(
            chain_id=CHAIN_ID,
            nonce=self._nonce,
            valid_until_height=Height(self.height + VALID_FOR_BLOCKS),
            sender_public_key=account.key.public_key,
            contract=contract,
            method=method,
            args=encode(list(args)),
            signature=b"",  # the executor trusts its caller to have checked signatures; nothing to check here
        )
        entry = TransactionInput(transaction, compute_transaction_id(suite, transaction), account.address)
        (receipt,) = self._run_block([entry])
        value = decode(receipt.return_value) if receipt.is_success else None
        interfaces = {name: item for name in {e.contract for e in receipt.events} if (item := self._lookup(name))}
        return Result(receipt, value, tuple(decode_events(receipt, interfaces)), self.height)

    def call(self, contract: str, method: str, *args: Value, sender: str = "") -> Result:
        """`send`, and raise TransactionFailedError (with the contract's reason) if it failed."""
        result = self.send(contract, method, *args, sender=sender)
        if not result.is_success:
            raise TransactionFailedError(
                f"{contract}.{method} failed: {result.error_code}: {result.error_message}", result.error_code
            )
        return result

    def expect_revert(
        self, contract: str, method: str, *args: Value, sender: str = "", match: str = "", code: str = ""
    ) -> Result:
        """`send`, and fail the test unless it failed (with `match` in its message and error `code`, if given)."""
        result = self.send(contract, method, *args, sender=sender)
        assert_reverted(result, match=match, code=code)
        return result

    def view(self, contract: str, method: str, *args: Value, sender: str = "") -> Value:
        """Call a view against the latest state (as `sender`, the first account if not given).

        Raises the ExecutionError of a failure (a `require` that does not hold raises ContractRevertError).
        """
        address = self.address(sender or self.accounts[0])
        block = BlockContext(CHAIN_ID, self.height, self.time_ms, self._validator.address)
        result = self.executor.call(self.state, block, contract, method, encode(list(args)), address)
        return decode(result.return_value)

    def _lookup(self, contract: str) -> ContractInterface | None:
        if contract == DEPLOYER_CONTRACT:
            return DEPLOYER_INTERFACE
        if contract in self.genesis.contracts:
            return None
        return self.get_interface(contract)

    def _run_block(self, transactions: list[TransactionInput]) -> tuple[Receipt, ...]:
        height = Height(self.height + 1)
        timestamp_ms = self.time_ms + self.block_interval_ms + self._time_skip_ms
        block = BlockContext(CHAIN_ID, height, timestamp_ms, self._validator.address)
        result = self.executor.execute_block(self.state, block, transactions)
        self.state.apply(result.writes)
        self.height, self.time_ms, self._time_skip_ms = height, timestamp_ms, 0
        return result.receipts


def assert_reverted(result: Result, *, match: str = "", code: str = "") -> None:
    """Fail (AssertionError) unless `result` failed, with `match` in its message and error `code` if given."""
    if result.is_success:
        raise AssertionError(f"expected the transaction to fail, but it succeeded and returned {result.value!r}")
    if match and match not in result.error_message:
        raise AssertionError(
            f"expected a failure mentioning {match!r}, got {result.error_code}: {result.error_message}"
        )
    if code and code != result.error_code:
        raise AssertionError(f"expected error code {code!r}, got {result.error_code}: {result.error_message}")


def read_source(path: str | Path) -> str:
    """A contract file's text; ConfigError if it is missing, too large or not UTF-8."""
    file = Path(path)
    try:
        if file.stat().st_size > SOURCE_BYTES_MAX:
            raise ConfigError(f"{file} is larger than {SOURCE_BYTES_MAX} bytes; a contract is one small module")
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no contract file {file}; create one with `gusu contract new NAME`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read contract file {file}: {error}") from None
