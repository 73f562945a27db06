"""The block rules: one set of pure functions that the node and the simulator both call.

A block is valid on top of a parent when

1. its header follows the parent (`validate_next_header`): same chain, the
   next height, the parent's hash, the same validator set, a proposer that is
   a validator, and a time after the parent's and before `BLOCK_TIME_MS_MAX`;
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

Every limit comes from genesis (`compute_block_rules`), never from a node's
own configuration: two nodes with different local settings must still agree
on which blocks are valid. Nothing here reads a clock, the disk (beyond the
state reader handed in) or randomness, so the simulator runs these very
functions. Time bounds that depend on a validator's clock (is a proposal
timely?) are the consensus engine's, which takes the clock as an input.

Published conformance vectors for these rules are under `tests/vectors/`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, GusuError, InvalidBlockError
from gusu.execution import BlockContext, Executor, TransactionInput
from gusu.execution.state import StateReader
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Genesis, compute_genesis_hash
from gusu.ledger.store import (
    CommittedBlock,
    compute_receipts_root,
    compute_state_root,
    compute_transactions_root,
)
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    Hash,
    Height,
    RawBlock,
    Transaction,
    compute_block_hash,
    decode_transaction,
    encode_transaction_payload,
)
from gusu.ledger.validators import compute_validators_hash
from gusu.mempool import PoolTransaction

ZERO_ADDRESS = Address(bytes(20))
BLOCK_TIME_MS_MAX = 253_402_300_799_999
"""The last millisecond of the year 9999: far inside the codec's integers, so no honest clock gets near it and
no vote stamped after a block's time can overflow (a block stamped 2^53 ms once halted the chain for good)."""

_DEFAULTS = dict(DEFAULT_PARAMETERS)


@dataclass(frozen=True, slots=True)
class BlockRules:
    """What a chain's blocks must satisfy, all of it from the chain's genesis."""

    chain_id: str
    suite: CryptoSuite
    block_transactions_max: int
    block_bytes_max: int
    transaction_window_blocks: int
    """A transaction is valid in blocks ``valid_until_height - window < height <= valid_until_height``."""
    validators: frozenset[Address]
    """Who may be a block's proposer."""


def get_genesis_parameter(genesis: Genesis, name: str) -> int:
    """A chain-wide parameter: the genesis value, else the default every node of this version shares."""
    value = genesis.get_parameter(name)
    if value is None:
        value = _DEFAULTS[name]
    return value


def compute_block_rules(genesis: Genesis, suite: CryptoSuite) -> BlockRules:
    return BlockRules(
        chain_id=genesis.chain_id,
        suite=suite,
        block_transactions_max=get_genesis_parameter(genesis, "block_transactions_max"),
        block_bytes_max=get_genesis_parameter(genesis, "block_bytes_max"),
        transaction_window_blocks=get_genesis_parameter(genesis, "transaction_window_blocks"),
        validators=frozenset(validator.address for validator in genesis.validators),
    )


def compute_genesis_block(
    suite: CryptoSuite, genesis: Genesis, writes: Sequence[tuple[bytes, bytes | None]]
) -> CommittedBlock:
    """Block 0: no transactions; its parent hash is the genesis document's hash."""
    header = BlockHeader(
        chain_id=genesis.chain_id,
        height=Height(0),
        parent_hash=compute_genesis_hash(suite, genesis),
        timestamp_ms=genesis.timestamp_ms,
        proposer=ZERO_ADDRESS,
        transactions_root=compute_transactions_root(suite, []),
        receipts_root=compute_receipts_root(suite, []),
        state_root=compute_state_root(suite, ZERO_HASH, writes),
        validators_hash=compute_validators_hash(suite, genesis.validators),
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
    )


def validate_next_header(rules: BlockRules, header: BlockHeader, parent: BlockHeader, parent_hash: Hash) -> None:
    """InvalidBlockError unless `header` can follow `parent` (whose hash is `parent_hash`)."""
    if header.chain_id != rules.chain_id:
        raise InvalidBlockError(f"the block belongs to chain {header.chain_id!r}, not {rules.chain_id!r}")
    if header.height != parent.height + 1:
        raise InvalidBlockError(f"block {header.height} does not follow our tip at height {parent.height}")
    if header.parent_hash != parent_hash:
        raise InvalidBlockError(f"block {header.height} names another parent than our block {parent.height}")
    if header.validators_hash != parent.validators_hash:
        raise InvalidBlockError(f"block {header.height} names another validator set")
    if header.proposer not in rules.validators:
        raise InvalidBlockError(f"block {header.height} names proposer 0x{header.proposer.hex()}, not a validator")
    if header.timestamp_ms <= parent.timestamp_ms:
        raise InvalidBlockError(f"block {header.height}'s time does not advance past its parent's")
    if header.timestamp_ms > BLOCK_TIME_MS_MAX:
        raise InvalidBlockError(f"block {header.height}'s time {header.timestamp_ms} is past the year 9999")


def decode_block_transaction(rules: BlockRules, height: Height, position: int, raw: bytes) -> PoolTransaction:
    """A block's transaction from its encoding: decoded, its id and sender computed; signature unchecked."""
    try:
        transaction = decode_transaction(raw)
    except CodecError as error:
        raise InvalidBlockError(f"transaction {position} of block {height} is malformed: {error}") from error
    transaction_id = Hash(rules.suite.hash(encode_transaction_payload(transaction)))
    try:
        rules.suite.validate_public_key(transaction.sender_public_key)
    except GusuError as error:
        raise InvalidBlockError(
            f"transaction {position} ({transaction_id.hex()}) has an invalid sender key: {error}"
        ) from error
    sender = Address(rules.suite.compute_address(transaction.sender_public_key))
    return PoolTransaction(transaction, transaction_id, sender, raw)


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
        transaction: Transaction = entry.transaction
        transaction_id = entry.transaction_id
        where = f"transaction {position} ({transaction_id.hex()})"
        if transaction_id in seen:
            raise InvalidBlockError(f"{where} appears twice in block {height}")
        seen.add(transaction_id)
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
    parent: BlockHeader,
    parent_hash: Hash,
    timestamp_ms: int,
    proposer: Address,
    entries: Sequence[PoolTransaction],
) -> CommittedBlock:
    """Execute `entries` on `state` (the state after `parent`): the block they make, and all it would commit.

    A proposer builds its block with this; a validator re-executes a proposed one with it and compares.
    """
    height = Height(parent.height + 1)
    context = BlockContext(chain_id=rules.chain_id, height=height, timestamp_ms=timestamp_ms, proposer=proposer)
    result = executor.execute_block(
        state, context, [TransactionInput(entry.transaction, entry.transaction_id, entry.sender) for entry in entries]
    )
    suite = rules.suite
    transaction_ids = tuple(entry.transaction_id for entry in entries)
    header = BlockHeader(
        chain_id=rules.chain_id,
        height=height,
        parent_hash=parent_hash,
        timestamp_ms=timestamp_ms,
        proposer=proposer,
        transactions_root=compute_transactions_root(suite, transaction_ids),
        receipts_root=compute_receipts_root(suite, result.receipts),
        state_root=compute_state_root(suite, parent.state_root, result.writes),
        validators_hash=parent.validators_hash,
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
    built = build_block(
        rules, executor, state, parent, parent_hash, header.timestamp_ms, header.proposer, check.entries
    )
    try:
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
