"""The block rules: one set of pure functions that the node and the simulator both call.

A block is valid on top of a parent when

1. its header follows the parent (`validate_next_header`): same chain, the
   next height, the parent's hash, the validator sets in force at its height
   (`validators_hash`) and at the next (`next_validators_hash`), a proposer
   that is a validator of its height, and a time after the parent's and
   before `BLOCK_TIME_MS_MAX`;
2. its body holds what its header says (`validate_block_body`): as many
   transactions as `transaction_count`, each canonical, of this chain, once,
   not committed before and inside its validity window; the block within the
   chain's transaction and byte limits;
3. every transaction's signature verifies (the caller does this, in worker
   processes, since it is the one costly step; the rules only say which);
4. re-executing the transactions on the parent's state (`build_block`, the
   same function a proposer builds with) gives exactly the header's
   transactions, receipts and state roots (`validate_execution`).

`start_block_check` applies rules 1 and 2 and lists the signatures to verify;
`finish_block_check` applies rules 3 and 4. The node, the simulator and the
conformance-vector checker all call these two, in this order.

Every limit and the validator set come from the chain configuration in force
at the block's height (`compute_block_rules`): the schedule of changes kept in
the parent's state (`get_config_schedule`, `gusu.ledger.chainconfig`), or the
genesis configuration while the state holds no schedule; never from a node's
own configuration: two nodes with different local settings must still agree
on which blocks are valid. A change decided in block ``H`` is in force from
``H + 2`` at the earliest, so the parent's state always knows the sets of the
block's height and of the next one. Nothing here reads a clock, the disk (beyond the
state reader handed in) or randomness, so the simulator runs these very
functions. Time bounds that depend on a validator's clock (is a proposal
timely?) are the consensus engine's, which takes the clock as an input.

Published conformance vectors for these rules are under `tests/vectors/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, GusuError, InvalidBlockError, StorageError
from gusu.execution import BlockContext, Executor, TransactionInput
from gusu.execution.governance.registry import CONFIG_SCHEDULE_KEY, SYSTEM_CONTRACT
from gusu.execution.state import StateReader, compute_state_key
from gusu.ledger.chainconfig import (
    ChainConfig,
    ConfigSchedule,
    compute_genesis_config_schedule,
    decode_config_schedule,
    get_config_at,
)
from gusu.ledger.ethtx import EthTransaction, decode_block_item
from gusu.ledger.genesis import BLOCK_GAS_MAX_PARAMETER, DEFAULT_PARAMETERS, Genesis, compute_genesis_hash
from gusu.ledger.kv import MemoryStore, WriteBatch
from gusu.ledger.smt import StateTree, apply_tree_update_to_batch, apply_tree_update_to_cache, compute_pruning_batch
from gusu.ledger.store import (
    CommittedBlock,
    compute_receipts_root,
    compute_state_update,
    compute_transactions_root,
)
from gusu.ledger.types import (
    Address,
    BlockHeader,
    Hash,
    Height,
    RawBlock,
    Transaction,
    compute_block_hash,
    encode_transaction_payload,
)
from gusu.ledger.validators import compute_validators_hash
from gusu.mempool import PoolTransaction

ZERO_ADDRESS = Address(bytes(20))
BLOCK_TIME_MS_MAX = 253_402_300_799_999
"""The last millisecond of the year 9999: far inside the codec's integers, so no honest clock gets near it and
no vote stamped after a block's time can overflow (a block stamped 2^53 ms once halted the chain for good)."""

CONFIG_SCHEDULE_CONTRACT = SYSTEM_CONTRACT
CONFIG_SCHEDULE_STATE_KEY = compute_state_key(CONFIG_SCHEDULE_CONTRACT, CONFIG_SCHEDULE_KEY)
"""Where the `system` contract keeps the chain configuration schedule (`gusu.ledger.chainconfig`)."""

FIRST_HEIGHT = Height(1)

_DEFAULTS = dict(DEFAULT_PARAMETERS)


@dataclass(frozen=True, slots=True)
class BlockRules:
    """What the block of one height must satisfy: the chain's identity, and the configuration of that height."""

    chain_id: str
    suite: CryptoSuite
    block_transactions_max: int
    block_bytes_max: int
    transaction_window_blocks: int
    """A transaction is valid in blocks ``valid_until_height - window < height <= valid_until_height``."""
    validators: frozenset[Address]
    """Who may be the block's proposer: the validators in force at `height`."""
    height: Height
    """The height these rules are for."""
    validators_hash: Hash
    """The hash of the set in force at `height`: the block's `validators_hash`."""
    next_validators_hash: Hash
    """The hash of the set in force at ``height + 1``: the block's `next_validators_hash`."""
    block_gas_max: int | None = None
    """The chain's `block_gas_max` in force at `height` (`gusu.ledger.genesis.BLOCK_GAS_MAX_PARAMETER`), or None."""


def get_genesis_parameter(genesis: Genesis, name: str) -> int:
    """A chain-wide parameter: the genesis value, else the default every node of this version shares."""
    value = genesis.get_parameter(name)
    if value is None:
        value = _DEFAULTS[name]
    return value


def get_config_parameter(config: ChainConfig, name: str) -> int:
    """A chain-wide parameter in force under `config`: its value, else the default every node shares."""
    value = config.get_parameter(name)
    if value is None:
        value = _DEFAULTS[name]
    return value


def get_config_schedule(genesis: Genesis, state: StateReader) -> ConfigSchedule:
    """The configuration schedule kept in `state`, or the genesis configuration if the state holds none.

    StorageError if the stored value cannot be read: only the system contract writes it, with
    `encode_config_schedule`, so an unreadable one means this node's state is damaged.
    """
    data = state.get(CONFIG_SCHEDULE_STATE_KEY)
    if data is None:
        return compute_genesis_config_schedule(genesis)
    try:
        return decode_config_schedule(data)
    except CodecError as error:
        raise StorageError(f"the chain configuration schedule in the state cannot be read: {error}") from error


def compute_block_rules(
    genesis: Genesis, suite: CryptoSuite, schedule: ConfigSchedule | None = None, height: Height = FIRST_HEIGHT
) -> BlockRules:
    """The rules of the block at `height` under `schedule` (the one in its parent's state; None: genesis's)."""
    if schedule is None:
        schedule = compute_genesis_config_schedule(genesis)
    config = get_config_at(schedule, height)
    next_config = get_config_at(schedule, Height(height + 1))
    return BlockRules(
        chain_id=genesis.chain_id,
        suite=suite,
        block_transactions_max=get_config_parameter(config, "block_transactions_max"),
        block_bytes_max=get_config_parameter(config, "block_bytes_max"),
        transaction_window_blocks=get_config_parameter(config, "transaction_window_blocks"),
        validators=frozenset(validator.address for validator in config.validators),
        height=height,
        validators_hash=compute_validators_hash(suite, config.validators),
        next_validators_hash=compute_validators_hash(suite, next_config.validators),
        block_gas_max=config.get_parameter(BLOCK_GAS_MAX_PARAMETER),
    )


def compute_next_block_rules(
    genesis: Genesis, suite: CryptoSuite, state: StateReader, parent: BlockHeader
) -> BlockRules:
    """The rules of the block after `parent`, from the schedule in `state` (the state after `parent`)."""
    return compute_block_rules(genesis, suite, get_config_schedule(genesis, state), Height(parent.height + 1))


def compute_genesis_block(
    suite: CryptoSuite, genesis: Genesis, writes: Sequence[tuple[bytes, bytes | None]]
) -> CommittedBlock:
    """Block 0: no transactions; its parent hash is the genesis document's hash.

    Its validator hashes come from the schedule the genesis writes hold, else from the genesis document.
    """
    genesis_state = {key: value for key, value in writes if value is not None}
    schedule = get_config_schedule(genesis, genesis_state)
    # From the empty tree: nothing is read.
    tree_update = compute_state_update(suite, StateTree(MemoryStore()), Height(0), writes)
    header = BlockHeader(
        chain_id=genesis.chain_id,
        height=Height(0),
        parent_hash=compute_genesis_hash(suite, genesis),
        timestamp_ms=genesis.timestamp_ms,
        proposer=ZERO_ADDRESS,
        transactions_root=compute_transactions_root(suite, []),
        receipts_root=compute_receipts_root(suite, []),
        state_root=tree_update.root,
        validators_hash=compute_validators_hash(suite, get_config_at(schedule, Height(0)).validators),
        next_validators_hash=compute_validators_hash(suite, get_config_at(schedule, Height(1)).validators),
        transaction_count=0,
    )
    return CommittedBlock(
        header=header,
        block_hash=compute_block_hash(suite, header),
        transaction_ids=(),
        raw_transactions=(),
        senders=(),
        receipts=(),
        writes=tuple(writes),
        certificate=None,
        tree_update=tree_update,
    )


def validate_next_header(rules: BlockRules, header: BlockHeader, parent: BlockHeader, parent_hash: Hash) -> None:
    """InvalidBlockError unless `header` can follow `parent` (whose hash is `parent_hash`)."""
    if header.chain_id != rules.chain_id:
        raise InvalidBlockError(f"the block belongs to chain {header.chain_id!r}, not {rules.chain_id!r}")
    if header.height != parent.height + 1:
        raise InvalidBlockError(f"block {header.height} does not follow our tip at height {parent.height}")
    if header.parent_hash != parent_hash:
        raise InvalidBlockError(f"block {header.height} names another parent than our block {parent.height}")
    assert header.height == rules.height, "the rules of another height"
    if header.validators_hash != rules.validators_hash:
        raise InvalidBlockError(f"block {header.height} names another validator set than the one in force there")
    if header.next_validators_hash != rules.next_validators_hash:
        raise InvalidBlockError(
            f"block {header.height} names another validator set for height {header.height + 1} than the one scheduled"
        )
    if header.proposer not in rules.validators:
        raise InvalidBlockError(
            f"block {header.height} names proposer 0x{header.proposer.hex()}, not a validator at that height"
        )
    if header.timestamp_ms <= parent.timestamp_ms:
        raise InvalidBlockError(f"block {header.height}'s time does not advance past its parent's")
    if header.timestamp_ms > BLOCK_TIME_MS_MAX:
        raise InvalidBlockError(f"block {header.height}'s time {header.timestamp_ms} is past the year 9999")


ETH_SUITE = "ecdsa"
"""Ethereum transactions are valid only on chains of this suite (their senders are secp256k1 keys)."""


def decode_block_transaction(rules: BlockRules, height: Height, position: int, raw: bytes) -> PoolTransaction:
    """A block's transaction from its item: decoded, its id and sender computed; a Gusu transaction's
    signature unchecked. An Ethereum transaction (`gusu.ledger.ethtx.decode_block_item`) is re-decoded
    here, its sender recovered from its signature (never taken from the wire) and its id its keccak hash."""
    try:
        transaction = decode_block_item(raw)
    except GusuError as error:  # CodecError, or the Ethereum decoder's TransactionError
        raise InvalidBlockError(f"transaction {position} of block {height} is malformed: {error}") from error
    if type(transaction) is EthTransaction:
        if rules.suite.name != ETH_SUITE:
            raise InvalidBlockError(
                f"transaction {position} of block {height} is an Ethereum transaction; this chain's suite "
                f"{rules.suite.name} takes none"
            )
        return PoolTransaction(transaction, transaction.transaction_hash, transaction.sender, raw)
    assert type(transaction) is Transaction
    transaction_id = Hash(rules.suite.hash(encode_transaction_payload(transaction)))
    try:
        rules.suite.validate_public_key(transaction.sender_public_key)
    except GusuError as error:
        raise InvalidBlockError(
            f"transaction {position} ({transaction_id.hex()}) has an invalid sender key: {error}"
        ) from error
    sender = Address(rules.suite.compute_address(transaction.sender_public_key))
    return PoolTransaction(transaction, transaction_id, sender, raw)


def get_signature_check(entry: PoolTransaction) -> tuple[bytes, Hash, bytes]:
    """(public key, transaction id, signature) to verify for an entry of `BlockCheck.unverified` (those are
    always Gusu transactions: an Ethereum transaction's signature is checked by recovering its sender)."""
    transaction = entry.transaction
    assert type(transaction) is Transaction, "only Gusu transactions are listed for signature verification"
    return transaction.sender_public_key, entry.transaction_id, transaction.signature


def validate_block_body(
    rules: BlockRules,
    header: BlockHeader,
    entries: Sequence[PoolTransaction],
    is_committed: Callable[[Hash], bool],
) -> None:
    """InvalidBlockError unless `entries` (the block's transactions, in order) may make block `header`."""
    height = header.height
    if header.transaction_count != len(entries):
        raise InvalidBlockError(
            f"block {height} says it holds {header.transaction_count} transactions but carries {len(entries)}"
        )
    block_bytes = sum(len(entry.raw) for entry in entries)
    if len(entries) > rules.block_transactions_max or block_bytes > rules.block_bytes_max:
        raise InvalidBlockError(
            f"block {height} holds {len(entries)} transactions of {block_bytes} bytes; the chain allows "
            f"{rules.block_transactions_max} and {rules.block_bytes_max}"
        )
    window = rules.transaction_window_blocks
    seen: set[Hash] = set()
    for position, entry in enumerate(entries):
        transaction = entry.transaction
        transaction_id = entry.transaction_id
        where = f"transaction {position} ({transaction_id.hex()})"
        if transaction_id in seen:
            raise InvalidBlockError(f"{where} appears twice in block {height}")
        seen.add(transaction_id)
        if type(transaction) is EthTransaction:
            # No window: the nonce is its replay guard (checked in execution); once on the chain is enough.
            if is_committed(transaction_id):
                raise InvalidBlockError(f"{where} is already committed (a replay)")
            continue
        assert type(transaction) is Transaction
        if transaction.chain_id != rules.chain_id:
            raise InvalidBlockError(f"{where} belongs to chain {transaction.chain_id!r}")
        if not height <= transaction.valid_until_height < height + window:
            raise InvalidBlockError(f"{where} is outside its validity window at height {height}")
        if is_committed(transaction_id):
            raise InvalidBlockError(f"{where} is already committed (a replay)")


def build_block(
    rules: BlockRules,
    executor: Executor,
    state: StateReader,
    state_tree: StateTree,
    parent: BlockHeader,
    parent_hash: Hash,
    timestamp_ms: int,
    proposer: Address,
    entries: Sequence[PoolTransaction],
    *,
    gas_max: int | None = None,
) -> CommittedBlock:
    """Execute `entries` on `state` (the state after `parent`): the block they make, and all it would commit.

    `state_tree` holds version `parent.height` of the state tree; the block's state root is version
    `parent.height + 1` (`compute_state_update`), returned in `tree_update` for the commit's batch.

    A proposer builds its block with this; a validator re-executes a proposed one with it and compares.
    A proposer passes `gas_max` (its `[consensus] proposal_gas_max`): the block then holds only the prefix of
    `entries` executed before the block's gas reached it, or the chain's `block_gas_max` if lower
    (`Executor.execute_block`). A validator re-executes exactly the transactions proposed, so it passes none:
    on a chain with a `block_gas_max` it stops where a proposer would have, and a block with transactions past
    that point is invalid (InvalidBlockError), which bounds what a lying proposer can make every validator run.
    """
    builder = BlockBuilder(rules, executor, state, state_tree, parent, parent_hash, timestamp_ms, proposer, gas_max)
    builder.add_each(entries)
    if gas_max is None and len(builder.entries) < len(entries):
        used = builder.gas_used
        raise InvalidBlockError(
            f"block {builder.height} holds {len(entries)} transactions, but its first {len(builder.entries)} used "
            f"{used} gas, which reached the chain's block_gas_max of {rules.block_gas_max}: no transaction may "
            "start after that"
        )
    return builder.finish()


class BlockBuilder:
    """`build_block` one transaction at a time: `add` each in block order, then `finish` (once).

    A proposer with early execution (`gusu.node.early`) adds the pool's transactions as they arrive and the
    rest when the proposal is due; with the state after `parent` unchanged in between, the block is the one
    `build_block` makes of the same transactions (`gusu.execution.executor.BlockExecution`)."""

    __slots__ = (
        "_execution",
        "_parent_hash",
        "_proposer",
        "_rules",
        "_state_tree",
        "_timestamp_ms",
        "entries",
        "height",
    )

    def __init__(
        self,
        rules: BlockRules,
        executor: Executor,
        state: StateReader,
        state_tree: StateTree,
        parent: BlockHeader,
        parent_hash: Hash,
        timestamp_ms: int,
        proposer: Address,
        gas_max: int | None = None,
    ) -> None:
        self.height = Height(parent.height + 1)
        assert self.height == rules.height, "the rules of another height"
        self._rules = rules
        self._state_tree = state_tree
        self._parent_hash = parent_hash
        self._timestamp_ms = timestamp_ms
        self._proposer = proposer
        context = BlockContext(
            chain_id=rules.chain_id, height=self.height, timestamp_ms=timestamp_ms, proposer=proposer
        )
        limits = [limit for limit in (gas_max, rules.block_gas_max) if limit is not None]
        self._execution = executor.start_block(state, context, gas_max=min(limits) if limits else None)
        self.entries: list[PoolTransaction] = []

    @property
    def gas_used(self) -> int:
        return self._execution.gas_used

    def add(self, entry: PoolTransaction) -> bool:
        """Execute `entry` into the block; False (nothing done) once the block's gas is used up."""
        if self._execution.is_full():
            return False
        self._execution.apply_transaction(TransactionInput(entry.transaction, entry.transaction_id, entry.sender))
        self.entries.append(entry)
        return True

    def add_each(self, entries: Sequence[PoolTransaction]) -> bool:
        """`add` each of `entries` in order; False once the block's gas is used up (the rest not added)."""
        return all(self.add(entry) for entry in entries)

    def finish(self) -> CommittedBlock:
        result = self._execution.finish()
        rules = self._rules
        suite = rules.suite
        entries = self.entries
        height = self.height
        tree_update = compute_state_update(suite, self._state_tree, height, result.writes)
        transaction_ids = tuple(entry.transaction_id for entry in entries)
        header = BlockHeader(
            chain_id=rules.chain_id,
            height=height,
            parent_hash=self._parent_hash,
            timestamp_ms=self._timestamp_ms,
            proposer=self._proposer,
            transactions_root=compute_transactions_root(suite, transaction_ids),
            receipts_root=compute_receipts_root(suite, result.receipts),
            state_root=tree_update.root,
            validators_hash=rules.validators_hash,
            next_validators_hash=rules.next_validators_hash,
            transaction_count=len(entries),
        )
        return CommittedBlock(
            header=header,
            block_hash=compute_block_hash(suite, header),
            transaction_ids=transaction_ids,
            raw_transactions=tuple(entry.raw for entry in entries),
            senders=tuple(entry.sender for entry in entries),
            receipts=result.receipts,
            writes=result.writes,
            certificate=None,
            tree_update=tree_update,
        )


def validate_execution(header: BlockHeader, built: CommittedBlock) -> None:
    """InvalidBlockError unless re-executing the block (`built`) gave exactly the proposed `header`."""
    for name in ("transactions_root", "receipts_root", "state_root"):
        if getattr(built.header, name) != getattr(header, name):
            raise InvalidBlockError(
                f"block {header.height}'s {name.replace('_', ' ')} does not match re-execution: the proposer "
                "computed a different result"
            )
    if built.header != header:
        raise InvalidBlockError(f"block {header.height}'s header does not match re-execution")


@dataclass(frozen=True, slots=True)
class BlockCheck:
    """A block past the checks that need no signature or execution (`start_block_check`)."""

    block: RawBlock
    entries: tuple[PoolTransaction, ...]
    unverified: tuple[int, ...]
    """Positions of the transactions whose signatures the caller must verify (the others it knew already)."""


def _at_stage(stage: str, error: InvalidBlockError) -> InvalidBlockError:
    error.stage = stage
    return error


def start_block_check(
    rules: BlockRules,
    parent: BlockHeader,
    parent_hash: Hash,
    block: RawBlock,
    is_committed: Callable[[Hash], bool],
    get_known: Callable[[bytes], PoolTransaction | None] = lambda raw: None,
) -> BlockCheck:
    """Rules 1 and 2 for `block` on top of `parent`: the header, each transaction decoded, the body.

    `get_known` returns a transaction the caller already holds verified (its pool), by encoding:
    it is neither decoded nor listed for signature verification. The caller then verifies the
    signatures at `BlockCheck.unverified` (rule 3; in worker processes, in the node) and calls
    `finish_block_check`. InvalidBlockError (with its `stage`) says which rule the block breaks.
    """
    header = block.header
    try:
        validate_next_header(rules, header, parent, parent_hash)
        if header.transaction_count != len(block.raw_transactions):
            raise InvalidBlockError(
                f"block {header.height} says it holds {header.transaction_count} transactions but carries "
                f"{len(block.raw_transactions)}"
            )
    except InvalidBlockError as error:
        raise _at_stage("header", error) from None
    entries: list[PoolTransaction] = []
    unverified: list[int] = []
    for position, raw in enumerate(block.raw_transactions):
        known = get_known(raw)
        if known is None:
            try:
                known = decode_block_transaction(rules, header.height, position, raw)
            except InvalidBlockError as error:
                raise _at_stage("transactions", error) from None
            if type(known.transaction) is not EthTransaction:  # its signature was checked by recovering its sender
                unverified.append(position)
        entries.append(known)
    try:
        validate_block_body(rules, header, entries, is_committed)
    except InvalidBlockError as error:
        raise _at_stage("body", error) from None
    return BlockCheck(block, tuple(entries), tuple(unverified))


def finish_block_check(
    rules: BlockRules,
    executor: Executor,
    state: StateReader,
    state_tree: StateTree,
    parent: BlockHeader,
    parent_hash: Hash,
    check: BlockCheck,
    verdicts: Mapping[int, bool],
) -> CommittedBlock:
    """Rules 3 and 4: every signature at `check.unverified` verified (`verdicts`), and re-execution on `state`
    (the state after `parent`) gives exactly the block's header. Returns all the block commits."""
    header = check.block.header
    invalid = [position for position in check.unverified if not verdicts.get(position, False)]
    if invalid:
        raise _at_stage(
            "signatures",
            InvalidBlockError(f"transaction {min(invalid)} of block {header.height} has an invalid signature"),
        )
    try:
        built = build_block(
            rules, executor, state, state_tree, parent, parent_hash, header.timestamp_ms, header.proposer, check.entries
        )
        validate_execution(header, built)
    except InvalidBlockError as error:
        raise _at_stage("execution", error) from None
    return built


def apply_block_writes(state: MutableMapping[bytes, bytes], block: CommittedBlock) -> None:
    """Apply a committed block's state writes to an in-memory state (the node's store does it in its batch)."""
    for key, value in block.writes:
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value


def apply_block_tree_update(state_tree: StateTree, block: CommittedBlock) -> None:
    """Store a committed block's version of the state tree in a store of its own (the in-memory chains'),
    dropping the versions before it: only the tip's is read to check the next block."""
    batch = WriteBatch()
    apply_tree_update_to_batch(batch, block.tree_update)
    state_tree.store.write(batch, sync=False)
    state_tree.store.write(compute_pruning_batch(state_tree.store, block.header.height), sync=False)
    apply_tree_update_to_cache(state_tree.cache, block.tree_update)
