"""The application each simulated node runs: real transactions, the real executor, real block headers.

A simulated node does with blocks what `gusu.node.node.Node` does, on the
same code: the pool is a real `gusu.mempool.Mempool`, blocks execute with
the real `gusu.execution.Executor` on the node's committed state (a dict,
which is all `Executor.execute_block` needs of a store: ``get(key)``), and a
block's hash is `compute_block_hash` of a real `BlockHeader` that commits
to the height, the parent, the transactions root, the receipts root and the
state root, the last chained from the parent's by `compute_state_root`.
Validators re-execute a proposed block on their own state and compare
(`validate_block`, the same rules as `Node.validate_block`).

The chain is fixed for every run: `get_genesis` allocates balances to
`CLIENT_COUNT` client accounts, so the genesis state is computed once per
process. Its validator entry is a stand-in (an ecdsa key from a fixed
secret), because genesis validation checks validator keys against a real
suite while a run's validators may hold simulation keys; consensus uses the
run's own validator set and no contract reads the genesis list during a run.

Transaction ids are computed with the run's suite (`suite.hash` of the
payload), as the chain would; signatures are simulation signatures, which
neither the pool nor the executor checks.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Container, Iterable
from dataclasses import dataclass, replace

from gusu.codec import encode
from gusu.crypto import CryptoSuite, get_suite
from gusu.errors import CodecError, InvalidBlockError
from gusu.eval.simulation.crypto import compute_sim_address, sign_sim_digest
from gusu.execution import (
    BlockContext,
    Executor,
    TransactionInput,
    compute_execution_limits,
    compute_state_key,
    get_default_registry,
)
from gusu.execution.encoding import decode_int
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Allocation, Genesis, GenesisValidator
from gusu.ledger.store import compute_receipts_root, compute_state_root, compute_transactions_root
from gusu.ledger.types import (
    Address,
    BlockHeader,
    Hash,
    Height,
    Receipt,
    Transaction,
    compute_block_hash,
    decode_transaction,
    encode_transaction,
    encode_transaction_payload,
)
from gusu.mempool import Mempool, MempoolLimits, PoolTransaction
from gusu.node.node import compute_genesis_block, validate_next_header

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
        parameters=DEFAULT_PARAMETERS,
        admins=(),
    )


@functools.cache
def get_executor() -> Executor:
    """One executor serves every node: it is a pure function of state, block facts and transactions."""
    return Executor(get_default_registry(), compute_execution_limits(get_genesis().parameters))


@functools.cache
def get_genesis_writes() -> tuple[tuple[bytes, bytes], ...]:
    return get_executor().compute_genesis_writes(get_genesis())


def make_genesis_state() -> dict[bytes, bytes]:
    return dict(get_genesis_writes())


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


def make_genesis_tip(suite: CryptoSuite) -> ChainTip:
    block = compute_genesis_block(suite, get_genesis(), get_genesis_writes())
    return ChainTip(block.header, block.block_hash)


def execute_block(
    suite: CryptoSuite,
    state: dict[bytes, bytes],
    tip: ChainTip,
    timestamp_ms: int,
    proposer: Address,
    entries: Iterable[PoolTransaction],
) -> Execution:
    """Execute `entries` on `state` (the state after `tip`), as `Node._execute_block` does."""
    chosen = tuple(entries)
    height = Height(tip.header.height + 1)
    context = BlockContext(chain_id=CHAIN_ID, height=height, timestamp_ms=timestamp_ms, proposer=proposer)
    result = get_executor().execute_block(
        state,
        context,
        [TransactionInput(entry.transaction, entry.transaction_id, entry.sender) for entry in chosen],
    )
    transaction_ids = tuple(entry.transaction_id for entry in chosen)
    header = BlockHeader(
        chain_id=CHAIN_ID,
        height=height,
        parent_hash=tip.block_hash,
        timestamp_ms=timestamp_ms,
        proposer=proposer,
        transactions_root=compute_transactions_root(suite, transaction_ids),
        receipts_root=compute_receipts_root(suite, result.receipts),
        state_root=compute_state_root(suite, tip.header.state_root, result.writes),
        validators_hash=tip.header.validators_hash,
        transaction_count=len(chosen),
    )
    return Execution(header, transaction_ids, result.receipts, result.writes)


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
    suite: CryptoSuite,
    decoder: TransactionDecoder,
    state: dict[bytes, bytes],
    tip: ChainTip,
    committed_ids: Container[Hash],
    block: SimBlock,
) -> Execution:
    """Check `block` on top of `tip` by re-executing it on `state`; InvalidBlockError says what is wrong.

    The rules of `Node.validate_block`: the block's hash is its header's;
    chain, height, parent, validator set and a time after the parent's; no
    transaction twice, none already committed, each within its validity
    window; the block limits; and re-execution gives exactly this header
    (transactions, receipts and state roots).
    """
    header = block.header
    parent = tip.header
    if compute_block_hash(suite, header) != block.block_hash:
        raise InvalidBlockError("the block's hash is not its header's")
    validate_next_header(CHAIN_ID, header, parent, tip.block_hash)
    if header.transaction_count != len(block.raw_transactions):
        raise InvalidBlockError(f"block {header.height}'s transaction count does not match its body")
    entries: list[PoolTransaction] = []
    seen: set[Hash] = set()
    block_bytes = 0
    for position, raw in enumerate(block.raw_transactions):
        block_bytes += len(raw)
        try:
            entry = decoder.decode(raw)
        except CodecError as error:
            raise InvalidBlockError(f"transaction {position} of block {header.height} is malformed: {error}") from error
        transaction_id = entry.transaction_id
        where = f"transaction {position} ({transaction_id.hex()[:16]})"
        if transaction_id in seen:
            raise InvalidBlockError(f"{where} appears twice in block {header.height}")
        seen.add(transaction_id)
        if entry.transaction.chain_id != CHAIN_ID:
            raise InvalidBlockError(f"{where} belongs to chain {entry.transaction.chain_id!r}")
        if transaction_id in committed_ids:
            raise InvalidBlockError(f"{where} is already committed (a replay)")
        if not header.height <= entry.transaction.valid_until_height < header.height + TRANSACTION_WINDOW_BLOCKS:
            raise InvalidBlockError(f"{where} is outside its validity window at height {header.height}")
        entries.append(entry)
    if len(entries) > BLOCK_TRANSACTIONS_MAX or block_bytes > BLOCK_BYTES_MAX:
        raise InvalidBlockError(f"block {header.height} holds {len(entries)} transactions of {block_bytes} bytes")
    execution = execute_block(suite, state, tip, header.timestamp_ms, header.proposer, entries)
    for name in ("transactions_root", "receipts_root", "state_root"):
        if getattr(execution.header, name) != getattr(header, name):
            raise InvalidBlockError(f"block {header.height}'s {name.replace('_', ' ')} does not match re-execution")
    if execution.header != header:
        raise InvalidBlockError(f"block {header.height}'s header does not match re-execution")
    return execution
