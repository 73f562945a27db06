"""The application each simulated node runs: real transactions, the real executor, real block headers.

A simulated node does with blocks what `gusu.node.node.Node` does, on the
same code: the pool is a real `gusu.mempool.Mempool`, blocks execute with
the real `gusu.execution.Executor` on the node's committed state (a dict,
which is all `Executor.execute_block` needs of a store: ``get(key)``), and a
block's hash is `compute_block_hash` of a real `BlockHeader` that commits
to the height, the parent, the transactions root, the receipts root and the
state root, the root of the node's state tree after the block
(`gusu.ledger.store.compute_state_update`, kept in a `StateTree` over a `MemoryStore`).
Validators re-execute a proposed block on their own state and compare
(`validate_block`, the same rules as `Node.validate_block`).

The chain is fixed for every run: `get_genesis` allocates balances to
`CLIENT_COUNT` client accounts, so the genesis state is computed once per
process. Its validator entry is a stand-in (an ecdsa key from a fixed
secret), because genesis validation checks validator keys against a real
suite while a run's validators may hold simulation keys. The run's own
validators go into its genesis state as the chain configuration schedule
(`make_genesis_writes`), where the node's block rules read the set of each
height (`compute_sim_rules`, `gusu.node.blocks.get_config_schedule`), as on
a real chain whose governance has written one.

Scheduled configuration changes (the "validator churn" scenario) are made
by `ScheduleExecutor`: the real executor, plus, in the blocks of the heights
a run's plan names, the write the governance contract makes when a proposal
passes (`gusu.ledger.chainconfig.compute_scheduled_change` on the schedule
in the state). It stands in for the governance contract, which the
simulation does not drive through votes; every node executes the same
blocks with it, so they all agree on the schedule as they agree on state.

Transaction ids are computed with the run's suite (`suite.hash` of the
payload), as the chain would; signatures are simulation signatures, which
neither the pool nor the executor checks.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from gusu.codec import encode
from gusu.crypto import CryptoSuite, get_suite
from gusu.errors import CodecError, InvalidBlockError
from gusu.eval.simulation.crypto import compute_sim_address, sign_sim_digest
from gusu.execution import (
    BlockContext,
    Executor,
    compute_execution_limits,
    compute_state_key,
    get_default_registry,
)
from gusu.execution.encoding import decode_int
from gusu.execution.executor import BlockExecution, BlockExecutionResult
from gusu.execution.state import StateReader
from gusu.ledger.chainconfig import (
    ChainConfig,
    ConfigChange,
    compute_scheduled_change,
    encode_config_schedule,
)
from gusu.ledger.genesis import (
    CONSENSUS_TENDERMINT,
    DEFAULT_PARAMETERS,
    Allocation,
    Genesis,
    GenesisValidator,
)
from gusu.ledger.kv import MemoryStore, WriteBatch
from gusu.ledger.smt import (
    StateTree,
    TreeUpdate,
    apply_tree_update_to_batch,
    apply_tree_update_to_cache,
    compute_pruning_batch,
)
from gusu.ledger.types import (
    Address,
    BlockHeader,
    Hash,
    Height,
    RawBlock,
    Receipt,
    Transaction,
    compute_block_hash,
    decode_transaction,
    encode_transaction,
    encode_transaction_payload,
)
from gusu.mempool import Mempool, MempoolLimits, PoolTransaction
from gusu.node.blocks import (
    CONFIG_SCHEDULE_STATE_KEY,
    BlockRules,
    apply_block_tree_update,
    build_block,
    compute_genesis_block,
    compute_next_block_rules,
    finish_block_check,
    get_config_schedule,
    start_block_check,
)

CHAIN_ID = "gusu-sim"
GENESIS_TIME_MS = 1_700_000_000_000
CLIENT_COUNT = 8
CLIENT_BALANCE = 10**12
TRANSACTION_WINDOW_BLOCKS = 1_000
"""The pool's window (`MempoolLimits.transaction_window_blocks`), which validators enforce too."""
CLIENT_VALIDITY_BLOCKS = 500
"""Clients sign ``valid_until_height = node height + 500``: a node up to 500 heights behind still admits
the transaction, and no run comes near 500 heights, so nothing expires unless a test shortens it."""
BLOCK_TRANSACTIONS_MAX = 32
BLOCK_BYTES_MAX = 64 * 1024
ACCOUNT_CONTRACT = "account"
BALANCE_PREFIX = b"balance/"


# --- the fixed chain ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimClient:
    """A client account, funded at genesis, holding a simulation key."""

    index: int
    public_key: bytes
    address: Address


@functools.cache
def get_clients() -> tuple[SimClient, ...]:
    clients = []
    for index in range(CLIENT_COUNT):
        public_key = hashlib.sha256(b"sim-client/%d" % index).digest()
        clients.append(SimClient(index, public_key, compute_sim_address(public_key)))
    return tuple(clients)


@functools.cache
def get_genesis() -> Genesis:
    stand_in = get_suite("ecdsa")
    key = stand_in.load_private_key(hashlib.sha256(b"sim-genesis-validator").digest())
    return Genesis(
        chain_id=CHAIN_ID,
        suite="ecdsa",
        timestamp_ms=GENESIS_TIME_MS,
        validators=(
            GenesisValidator("stand-in", Address(stand_in.compute_address(key.public_key)), key.public_key, 1, "org0"),
        ),
        allocations=tuple(Allocation(client.address, CLIENT_BALANCE) for client in get_clients()),
        parameters=tuple(
            sorted(
                {
                    **dict(DEFAULT_PARAMETERS),
                    "block_bytes_max": BLOCK_BYTES_MAX,
                    "block_transactions_max": BLOCK_TRANSACTIONS_MAX,
                    "transaction_window_blocks": TRANSACTION_WINDOW_BLOCKS,
                }.items()
            )
        ),
        admins=(),
    )


def compute_sim_rules(suite: CryptoSuite, state: StateReader, tip: ChainTip) -> BlockRules:
    """The block rules (`gusu.node.blocks`) of the block after `tip`, from the schedule in `state`."""
    return compute_next_block_rules(get_genesis(), suite, state, tip.header)


def make_sim_config(validators: Sequence[GenesisValidator], consensus: str = CONSENSUS_TENDERMINT) -> ChainConfig:
    """A configuration of the simulated chain: its genesis parameters with `validators` (any order) and the
    ordering engine `consensus`."""
    return ChainConfig(
        validators=tuple(sorted(validators, key=lambda validator: validator.address)),
        parameters=get_genesis().parameters,
        consensus=consensus,
    )


@functools.cache
def get_executor() -> Executor:
    """One executor serves every node: it is a pure function of state, block facts and transactions."""
    return Executor(get_default_registry(), compute_execution_limits(get_genesis().parameters))


class ScheduleExecutor(Executor):
    """The real executor, plus scheduled configuration changes written where governance would write them.

    `changes` maps a deciding height to (effective height, configuration): the block of that height
    ends with the schedule write a passed proposal makes (see the module docstring).
    """

    def __init__(self, changes: Mapping[Height, tuple[Height, ChainConfig]]) -> None:
        super().__init__(get_default_registry(), compute_execution_limits(get_genesis().parameters))
        self._changes = dict(changes)

    def start_block(self, state: StateReader, block: BlockContext, *, gas_max: int | None = None) -> BlockExecution:
        return _ScheduledBlockExecution(self, state, block, gas_max, self._changes.get(block.height))


class _ScheduledBlockExecution(BlockExecution):
    """A block's execution that ends with the schedule write of the change decided at its height, if any."""

    __slots__ = ("_change", "_height", "_state")

    def __init__(
        self,
        executor: Executor,
        state: StateReader,
        block: BlockContext,
        gas_max: int | None,
        change: tuple[Height, ChainConfig] | None,
    ) -> None:
        super().__init__(executor, state, block, gas_max)
        self._state = state
        self._height = block.height
        self._change = change

    def finish(self) -> BlockExecutionResult:
        result = super().finish()
        if self._change is None:
            return result
        effective_height, config = self._change
        schedule = compute_scheduled_change(
            get_config_schedule(get_genesis(), self._state), self._height, effective_height, config
        )
        writes = dict(result.writes)
        writes[CONFIG_SCHEDULE_STATE_KEY] = encode_config_schedule(schedule)
        return BlockExecutionResult(result.receipts, tuple(sorted(writes.items())))


@functools.cache
def get_genesis_writes() -> tuple[tuple[bytes, bytes], ...]:
    return get_executor().compute_genesis_writes(get_genesis())


def make_genesis_writes(
    validators: Sequence[GenesisValidator], consensus: str = CONSENSUS_TENDERMINT
) -> tuple[tuple[bytes, bytes], ...]:
    """The genesis state of a run: the chain's, plus the schedule holding the run's validators and engine."""
    schedule = (ConfigChange(Height(0), make_sim_config(validators, consensus)),)
    writes = dict(get_genesis_writes())
    writes[CONFIG_SCHEDULE_STATE_KEY] = encode_config_schedule(schedule)
    return tuple(sorted(writes.items()))


def make_genesis_state(writes: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return dict(writes)


def make_mempool() -> Mempool:
    return Mempool(MempoolLimits(transaction_window_blocks=TRANSACTION_WINDOW_BLOCKS), CHAIN_ID)


def get_balance_key(address: Address) -> bytes:
    return compute_state_key(ACCOUNT_CONTRACT, BALANCE_PREFIX + address)


def compute_client_balance_total(state: dict[bytes, bytes]) -> int:
    """Sum of the clients' balances in `state`; transfers move tokens only between clients."""
    total = 0
    for client in get_clients():
        value = state.get(get_balance_key(client.address))
        balance = None if value is None else decode_int(value)
        total += balance or 0
    return total


# --- blocks ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainTip:
    """The last committed block as a node sees it (height 0: the genesis block)."""

    header: BlockHeader
    block_hash: Hash


@dataclass(frozen=True, slots=True)
class SimBlock:
    """A block as it travels with a proposal or a sync reply: header, hash and transaction encodings."""

    header: BlockHeader
    block_hash: Hash
    raw_transactions: tuple[bytes, ...]

    @property
    def height(self) -> Height:
        return self.header.height

    @property
    def timestamp_ms(self) -> int:
        return self.header.timestamp_ms


@dataclass(frozen=True, slots=True)
class Execution:
    """What executing a block's transactions on one node's committed state gave."""

    header: BlockHeader
    """The header this node computes for the block (its roots are this node's)."""
    transaction_ids: tuple[Hash, ...]
    receipts: tuple[Receipt, ...]
    writes: tuple[tuple[bytes, bytes | None], ...]
    tree_update: TreeUpdate
    """The block's version of the state tree, stored when the block commits (`apply_tree_update`)."""


def make_genesis_tip(suite: CryptoSuite, writes: Sequence[tuple[bytes, bytes]]) -> ChainTip:
    block = compute_genesis_block(suite, get_genesis(), writes)
    return ChainTip(block.header, block.block_hash)


def make_genesis_state_tree(suite: CryptoSuite, writes: Sequence[tuple[bytes, bytes]]) -> StateTree:
    """A node's state tree at the genesis block (version 0), in memory like the rest of its state."""
    state_tree = StateTree(MemoryStore())
    apply_block_tree_update(state_tree, compute_genesis_block(suite, get_genesis(), writes))
    return state_tree


def apply_tree_update(state_tree: StateTree, execution: Execution) -> None:
    """Store a committed block's version of the state tree, dropping the versions before it."""
    batch = WriteBatch()
    apply_tree_update_to_batch(batch, execution.tree_update)
    state_tree.store.write(batch, sync=False)
    state_tree.store.write(compute_pruning_batch(state_tree.store, execution.header.height), sync=False)
    apply_tree_update_to_cache(state_tree.cache, execution.tree_update)


def execute_block(
    executor: Executor,
    rules: BlockRules,
    state: dict[bytes, bytes],
    state_tree: StateTree,
    tip: ChainTip,
    timestamp_ms: int,
    proposer: Address,
    entries: Iterable[PoolTransaction],
) -> Execution:
    """Execute `entries` on `state` (the state after `tip`): `gusu.node.blocks.build_block`, as the node builds."""
    built = build_block(
        rules, executor, state, state_tree, tip.header, tip.block_hash, timestamp_ms, proposer, tuple(entries)
    )
    return Execution(built.header, built.transaction_ids, built.receipts, built.writes, built.tree_update)


def make_block(suite: CryptoSuite, header: BlockHeader, entries: Iterable[PoolTransaction]) -> SimBlock:
    return SimBlock(header, compute_block_hash(suite, header), tuple(entry.raw for entry in entries))


def apply_writes(state: dict[bytes, bytes], writes: Iterable[tuple[bytes, bytes | None]]) -> None:
    for key, value in writes:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value


class TransactionDecoder:
    """Decode a transaction encoding into a pool entry: id with the chain's hash, sender from the key.

    Memoized per run: decoding is a pure function of the bytes, so every node
    that decodes the same encoding gets the same entry, and a campaign pays
    for each transaction's decoding and hashing once.
    """

    def __init__(self, suite: CryptoSuite) -> None:
        self._suite = suite
        self._entries: dict[bytes, PoolTransaction] = {}

    def decode(self, raw: bytes) -> PoolTransaction:
        """The pool entry for `raw`; CodecError if it is not a canonical transaction encoding."""
        entry = self._entries.get(raw)
        if entry is None:
            transaction = decode_transaction(raw)
            if len(transaction.sender_public_key) != 32:
                raise CodecError("a simulation client key is 32 bytes")
            transaction_id = Hash(self._suite.hash(encode_transaction_payload(transaction)))
            entry = PoolTransaction(
                transaction, transaction_id, compute_sim_address(transaction.sender_public_key), raw
            )
            self._entries[raw] = entry
        return entry


def make_transfer(
    suite: CryptoSuite, client: SimClient, to: Address, amount: int, nonce: int, valid_until_height: Height
) -> bytes:
    """A signed `account.transfer` from `client`, as `gusu.sdk.transactions.build_transaction` makes one."""
    unsigned = Transaction(
        chain_id=CHAIN_ID,
        nonce=nonce,
        valid_until_height=valid_until_height,
        sender_public_key=client.public_key,
        contract=ACCOUNT_CONTRACT,
        method="transfer",
        args=encode([to, amount]),
        signature=b"",
    )
    transaction_id = suite.hash(encode_transaction_payload(unsigned))
    return encode_transaction(replace(unsigned, signature=sign_sim_digest(client.public_key, transaction_id)))


def validate_block(
    executor: Executor,
    rules: BlockRules,
    decoder: TransactionDecoder,
    state: dict[bytes, bytes],
    state_tree: StateTree,
    tip: ChainTip,
    committed_ids: Container[Hash],
    block: SimBlock,
) -> Execution:
    """Check `block` on top of `tip` by the node's block rules; InvalidBlockError says what is wrong.

    The very functions `Node.validate_block` calls (`start_block_check`, `finish_block_check`), with
    the simulation's decoder standing in for the node's pool: transactions are recognised by their
    encoding and their simulation signatures are not checked (no verdict is needed for them).
    """
    if compute_block_hash(rules.suite, block.header) != block.block_hash:
        raise InvalidBlockError("the block's hash is not its header's")

    def get_known(raw: bytes) -> PoolTransaction | None:
        try:
            return decoder.decode(raw)
        except CodecError:
            return None  # the rules decode it themselves, and say why it is malformed

    raw_block = RawBlock(block.header, block.raw_transactions)
    check = start_block_check(rules, tip.header, tip.block_hash, raw_block, committed_ids.__contains__, get_known)
    built = finish_block_check(rules, executor, state, state_tree, tip.header, tip.block_hash, check, {})
    return Execution(built.header, built.transaction_ids, built.receipts, built.writes, built.tree_update)
