"""The node's read side: blocks, transactions, receipts and proofs, from the store and the pool.

Nothing here changes state or takes part in consensus; the API layer reaches
it through `gusu.node.node.Node`, which delegates its query methods here.

Every answer is as of the node's tip. The store writes a block in a worker thread and the node moves its tip
when that write returns, so for a moment the store holds a block above the tip: blocks, transactions,
receipts and proofs at such a height are answered as if the block were not committed yet (a transaction
is "pending"), so that no client sees a receipt in a block above the height it is told (an Ethereum client
counting confirmations from `eth_blockNumber` would otherwise count none, and wait for a block that a
chain without empty blocks may never make).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from contextlib import closing
from typing import TYPE_CHECKING

from gusu.crypto import CryptoSuite
from gusu.errors import NotFoundError
from gusu.execution import BlockContext, CallResult, Executor
from gusu.execution.state import StateReader
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.merkle import compute_inclusion_proof
from gusu.ledger.pruning import get_state_kept_from
from gusu.ledger.statekey import compute_state_key
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.ledger.store import BlockStore, StoredTransaction, compute_receipt_leaf
from gusu.ledger.types import (
    Address,
    BlockHeader,
    Hash,
    Height,
    RawBlock,
    Transaction,
    compute_block_hash,
    encode_commit_certificate,
    encode_raw_block,
)
from gusu.mempool import Mempool
from gusu.node.blocks import ZERO_ADDRESS
from gusu.node.recent import RecentBlock, RecentBlocks
from gusu.node.service import (
    BlockRecord,
    EthReceiptRecord,
    EthTransactionRecord,
    EventRecord,
    EventScan,
    ProofRecord,
    ReceiptRecord,
    TransactionRecord,
)

if TYPE_CHECKING:  # py-evm loads only on chains with the evm contract
    from gusu.execution.evm.overrides import EthStateOverride


def compute_committed_record(transaction_id: Hash, stored: StoredTransaction, sender: Address) -> TransactionRecord:
    return TransactionRecord(
        status="committed",
        transaction_id=transaction_id,
        transaction=stored.transaction,
        sender=sender,
        height=stored.height,
        index=stored.index,
    )


def _get_recent_record(block: RecentBlock, index: int) -> TransactionRecord:
    return TransactionRecord(
        status="committed",
        transaction_id=block.transaction_ids[index],
        transaction=block.get_transaction(index),
        sender=block.senders[index],
        height=block.height,
        index=index,
    )


def _get_recent_receipt(block: RecentBlock, index: int) -> ReceiptRecord:
    return ReceiptRecord(block.receipts[index], block.height, index, block.block_hash)


class ChainQueries:
    """Queries over a store (`get_store`: the node's, once started) and the pool."""

    def __init__(
        self,
        suite: CryptoSuite,
        get_store: Callable[[], BlockStore],
        mempool: Mempool,
        executor: Executor,
        get_tip_height: Callable[[], int],
        recent: RecentBlocks | None = None,
    ) -> None:
        self._suite = suite
        self._get_store = get_store
        self._get_tip_height = get_tip_height
        self._mempool = mempool
        self._executor = executor
        self._recent = RecentBlocks(0, 0) if recent is None else recent
        """The newest blocks as committed: answered from before the store (`gusu.node.recent`)."""

    @property
    def store(self) -> BlockStore:
        return self._get_store()

    def _get_visible_transaction(self, transaction_id: bytes) -> StoredTransaction | None:
        """The stored transaction, unless its block is above the tip (written, not yet the node's tip)."""
        stored = self.store.get_transaction(transaction_id)
        if stored is None or stored.height > self._get_tip_height():
            return None
        return stored

    def _compute_sender(self, transaction: Transaction | EthTransaction) -> Address:
        if type(transaction) is EthTransaction:
            return transaction.sender
        assert type(transaction) is Transaction
        return Address(self._suite.compute_address(transaction.sender_public_key))

    def get_block(self, height: Height) -> BlockRecord | None:
        if height > self._get_tip_height():
            return None
        recent = self._recent.get_block(height)
        if recent is not None:
            return BlockRecord(recent.header, recent.block_hash, recent.transaction_ids, recent.certificate)
        header = self.store.get_header(height)
        if header is None:
            base = self.store.get_base_height()
            if height < base:
                raise NotFoundError(
                    f"block {height} is below this node's first block {base}: it joined the chain by state sync "
                    f"at height {base} and holds no earlier blocks; ask a node that keeps the whole chain"
                )
            return None
        ids = self.store.get_transaction_ids(height)
        if ids is None and height == self.store.get_base_height() and height > 0:
            raise NotFoundError(
                f"block {height} is where this node joined the chain by state sync: it holds that block's header, "
                "certificate and state (proofs at that height work), not its transactions; ask a node that keeps "
                "the whole chain"
            )
        return BlockRecord(
            header=header,
            block_hash=compute_block_hash(self._suite, header),
            transaction_ids=tuple(ids or ()),
            certificate=self.store.get_certificate(height),
        )

    def get_block_by_hash(self, block_hash: bytes) -> BlockRecord | None:
        height = self.store.get_height_by_hash(block_hash)
        return None if height is None else self.get_block(height)

    def get_block_transactions(self, height: Height) -> list[TransactionRecord] | None:
        if height > self._get_tip_height():
            return None
        recent = self._recent.get_block(height)
        if recent is not None:
            return [_get_recent_record(recent, index) for index in range(len(recent.transaction_ids))]
        ids = self.store.get_transaction_ids(height)
        if ids is None:
            return None
        records = []
        for transaction_id in ids:
            record = self.get_transaction(transaction_id)
            assert record is not None, "a committed transaction is missing from the index"
            records.append(record)
        return records

    def get_raw_block(self, height: Height) -> tuple[bytes, bytes | None] | None:
        if height > self._get_tip_height():
            return None
        recent = self._recent.get_block(height)
        if recent is not None:
            certificate = recent.certificate
            return (
                encode_raw_block(RawBlock(recent.header, recent.raw_transactions)),
                None if certificate is None else encode_commit_certificate(certificate),
            )
        header = self.store.get_header(height)
        ids = self.store.get_transaction_ids(height)
        if header is None or ids is None:
            # No body: an archived height ([storage] block_bodies_kept). Serving its header with no
            # transactions would hand a syncing peer a block that does not match its own header.
            return None
        transactions = []
        for transaction_id in ids:
            stored = self.store.get_transaction(transaction_id)
            assert stored is not None
            transactions.append(stored.raw)
        certificate = self.store.get_certificate(height)
        return (
            encode_raw_block(RawBlock(header, tuple(transactions))),
            None if certificate is None else encode_commit_certificate(certificate),
        )

    def get_transaction(self, transaction_id: bytes) -> TransactionRecord | None:
        found = self._recent.find_visible_transaction(transaction_id, self._get_tip_height())
        if found is not None:
            return _get_recent_record(*found)
        stored = self.store.get_transaction(transaction_id)
        if stored is not None:
            sender = self._compute_sender(stored.transaction)
            if stored.height > self._get_tip_height():
                # Written, but its block is not the tip yet: still pending to a client (module docstring).
                return TransactionRecord("pending", Hash(transaction_id), stored.transaction, sender)
            return compute_committed_record(Hash(transaction_id), stored, sender)
        entry = self._mempool.get(Hash(transaction_id))
        if entry is not None:
            return TransactionRecord("pending", entry.transaction_id, entry.transaction, entry.sender)
        dropped = self._mempool.get_dropped(Hash(transaction_id))
        if dropped is not None:
            return TransactionRecord("dropped", Hash(transaction_id), None, None, reason=dropped.reason)
        return None

    def get_sender_transactions(
        self, sender: Address, limit: int, before: tuple[Height, int] | None = None
    ) -> list[TransactionRecord]:
        if limit <= 0:
            return []
        records = []
        tip = self._get_tip_height()
        if before is None or before[0] > tip:
            # Start at the tip: the index may already hold the block being written above it.
            before = (Height(tip + 1), 0)
        # closing(): a page usually stops before the index runs out, and an
        # open LMDB iterator would pin a read transaction until collected.
        with closing(self.store.iterate_sender_transactions(sender, before=before)) as ids:
            for transaction_id in itertools.islice(ids, limit):
                stored = self.store.get_transaction(transaction_id)
                assert stored is not None, "the sender index names a transaction the store lacks"
                # The index is keyed by sender, so the address need not be derived again.
                records.append(compute_committed_record(transaction_id, stored, sender))
        return records

    def get_receipt(self, transaction_id: bytes) -> ReceiptRecord | None:
        found = self._recent.find_visible_transaction(transaction_id, self._get_tip_height())
        if found is not None:
            return _get_recent_receipt(*found)
        stored = self._get_visible_transaction(transaction_id)
        if stored is None:
            return None
        return self._get_stored_receipt(transaction_id, stored)

    def _get_stored_receipt(self, transaction_id: bytes, stored: StoredTransaction) -> ReceiptRecord:
        """The receipt of `stored`, a transaction the caller read and found at or below the tip."""
        receipt = self.store.get_receipt(transaction_id)
        header = self.store.get_header(stored.height)
        assert receipt is not None and header is not None, "the store lost a receipt or header"
        return ReceiptRecord(receipt, stored.height, stored.index, compute_block_hash(self._suite, header))

    def get_events(
        self, contract: str, name: str | None, from_height: Height, to_height: Height, limit: int, receipts_max: int
    ) -> EventScan:
        """Events of `contract` (called `name`, unless None) in blocks `from_height` to `to_height` up to the
        tip, oldest first (`NodeService.get_events`)."""
        found: list[EventRecord] = []
        store = self.store
        last = min(int(to_height), self._get_tip_height())
        receipts_read = 0
        for height in range(int(from_height), last + 1):
            ids = store.get_transaction_ids(Height(height))
            if ids is None:
                raise NotFoundError(
                    f"the transactions of block {height} are not kept on this node (it joined by state sync "
                    f"at height {store.get_base_height()}, or [storage] block_bodies_kept archived them); ask "
                    "for later blocks, or ask a node that keeps the whole chain"
                )
            if receipts_read + len(ids) > receipts_max:
                return EventScan(tuple(found), is_cut_short=True)
            receipts_read += len(ids)
            # Block hash only for blocks with a match: most blocks of a range hold none of the contract's events.
            block_hash: Hash | None = None
            for index, transaction_id in enumerate(ids):
                receipt = store.get_receipt(transaction_id)
                assert receipt is not None, "the store lost the receipt of a committed transaction"
                if not receipt.is_success:
                    continue  # its events were rolled back with the rest of its effects
                for event_index, event in enumerate(receipt.events):
                    if event.contract != contract or (name is not None and event.name != name):
                        continue
                    if block_hash is None:
                        header = store.get_header(Height(height))
                        assert header is not None, "the store holds a block body without its header"
                        block_hash = compute_block_hash(self._suite, header)
                    found.append(EventRecord(Height(height), block_hash, transaction_id, index, event_index, event))
                    if len(found) >= limit:
                        return EventScan(tuple(found), is_cut_short=True)
        return EventScan(tuple(found), is_cut_short=False)

    def is_contract_known(self, contract: str) -> bool:
        return self._executor.is_contract_known(self.store, contract)

    # --- Ethereum transactions -------------------------------------------------------------

    def get_eth_transaction(self, transaction_hash: bytes) -> EthTransactionRecord | None:
        """The Ethereum transaction whose keccak hash is `transaction_hash`, committed or pending; None if
        unknown here (or if the hash is a Gusu transaction's id)."""
        found = self._recent.find_visible_transaction(transaction_hash, self._get_tip_height())
        if found is not None:
            block, index = found
            transaction = block.get_transaction(index)
            if type(transaction) is not EthTransaction:
                return None
            return EthTransactionRecord("committed", transaction, _get_recent_receipt(block, index))
        stored = self.store.get_transaction(transaction_hash)
        if stored is not None:
            if type(stored.transaction) is not EthTransaction:
                return None
            if stored.height > self._get_tip_height():  # written above the tip: pending (module docstring)
                return EthTransactionRecord("pending", stored.transaction, None)
            # The transaction was just read: its receipt needs only the receipt and header reads.
            return EthTransactionRecord(
                "committed", stored.transaction, self._get_stored_receipt(transaction_hash, stored)
            )
        entry = self._mempool.get(Hash(transaction_hash))
        if entry is not None and type(entry.transaction) is EthTransaction:
            return EthTransactionRecord("pending", entry.transaction, None)
        return None

    def get_eth_receipt(self, transaction_hash: bytes) -> EthReceiptRecord | None:
        """Ethereum's receipt fields of a committed Ethereum transaction, and where it committed."""
        record = self.get_eth_transaction(transaction_hash)
        if record is None or record.receipt is None:
            return None
        from gusu.execution.evm.ethapply import read_evm_settings
        from gusu.execution.evm.ethreceipt import compute_eth_receipt_fields

        settings = read_evm_settings(self.store)
        assert settings is not None, "an Ethereum transaction committed on a chain without the evm contract"
        fields = compute_eth_receipt_fields(record.receipt.receipt, record.transaction, settings.evm_gas_price)
        return EthReceiptRecord(fields, record.receipt)

    def get_eth_gas_price(self) -> int:
        """The fee policy's price per gas (genesis ``evm_gas_price``), for a chain that runs the evm contract."""
        from gusu.execution.evm.ethapply import read_evm_settings

        settings = read_evm_settings(self.store)
        return 0 if settings is None else settings.evm_gas_price

    def get_eth_transaction_count(self, address: bytes, *, is_pending: bool) -> int:
        """The EVM nonce of `address` in the committed state; with `is_pending`, past its pending Ethereum
        transactions that follow it without a gap (eth_getTransactionCount "latest" / "pending")."""
        from gusu.execution.evm.ethapply import read_eth_account

        nonce, _ = read_eth_account(self.store, address)
        return self._mempool.get_eth_pending_nonce(Address(address), nonce) if is_pending else nonce

    def get_proof(self, transaction_id: bytes, *, of_receipts: bool) -> ProofRecord | None:
        """An inclusion proof of the transaction (or, `of_receipts`, of its receipt) in its block."""
        stored = self._get_visible_transaction(transaction_id)
        if stored is None:
            return None
        header = self.store.get_header(stored.height)
        ids = self.store.get_transaction_ids(stored.height)
        assert header is not None and ids is not None
        if of_receipts:
            leaves = [compute_receipt_leaf(self._suite, receipt) for receipt in self.store.get_receipts(stored.height)]
            root = header.receipts_root
        else:
            leaves = list(ids)
            root = header.transactions_root
        proof = compute_inclusion_proof(self._suite.hash, leaves, stored.index)
        return ProofRecord(
            height=stored.height,
            index=stored.index,
            leaf_count=proof.leaf_count,
            path=proof.path,
            root=root,
            header=header,
            block_hash=compute_block_hash(self._suite, header),
        )

    def get_state_proof(self, tip: Height, contract: str, key: bytes, height: Height | None) -> CertifiedStateProof:
        """`contract`'s `key` at `height` (None: the tip), with its proof, header and certificate.

        NotFoundError for a height past the tip or one whose state is no longer kept.
        """
        at = tip if height is None else height
        if at > tip:
            raise NotFoundError(f"block {at} is not committed yet (the tip is {tip}); ask for height {tip} or below")
        store = self.store
        header = store.get_header(at)
        if header is None:
            raise NotFoundError(f"block {at} is not stored on this node (pruned, or the node joined after it)")
        kept_from = get_state_kept_from(store.kv)
        if at < kept_from:
            raise NotFoundError(
                f"the state at height {at} was pruned on this node: it keeps the state from height {kept_from} "
                f"([storage] state_versions_kept); ask for height {kept_from} or above, or an archive node"
            )
        state_key = compute_state_key(contract, key)
        # Both reads raise NotFoundError if this version of the tree was pruned meanwhile.
        proof = store.get_state_proof(at, state_key)
        value = store.get_state_value(at, state_key)
        return CertifiedStateProof(
            contract=contract,
            key=key,
            value=value,
            proof=proof,
            header=header,
            block_hash=compute_block_hash(self._suite, header),
            certificate=store.get_certificate(at),
        )

    def call_at_height(
        self,
        tip: Height,
        height: Height,
        contract: str,
        method: str,
        args: bytes,
        sender: Address | None,
        state_overrides: Sequence[EthStateOverride] = (),
    ) -> CallResult:
        """Run a view on the committed state after block `height`, read from that version of the state tree,
        with `state_overrides` in front of it for this call (eth_call's third parameter).

        NotFoundError for a height past the tip, or one whose state this node no longer keeps.
        """
        if height > tip:
            raise NotFoundError(f"block {height} is not committed yet (the tip is {tip})")
        store = self.store
        header = store.get_header(height)
        kept_from = get_state_kept_from(store.kv)
        if header is None or height < kept_from:
            raise NotFoundError(
                f"the state at height {height} is no longer kept on this node: it keeps the state from height "
                f"{max(kept_from, 0)} ([storage] state_versions_kept); ask for a later block"
            )
        # Every read goes to the tree's version (it raises NotFoundError if a pruning step removes it meanwhile).
        state: StateReader = _TreeStateReader(store, height)
        if state_overrides:
            from gusu.execution.evm.overrides import OverlayStateReader, compute_state_override_writes

            state = OverlayStateReader(state, compute_state_override_writes(state, state_overrides))
        return self.call(header, contract, method, args, sender, state=state)

    def call(
        self,
        header: BlockHeader,
        contract: str,
        method: str,
        args: bytes,
        sender: Address | None,
        *,
        state: StateReader | None = None,
    ) -> CallResult:
        """Run a view on the committed state after `header` (the tip)."""
        context = BlockContext(
            chain_id=header.chain_id,
            height=header.height,
            timestamp_ms=header.timestamp_ms,
            proposer=header.proposer,
        )
        reader = self.store if state is None else state
        return self._executor.call(reader, context, contract, method, args, sender or ZERO_ADDRESS)


class _TreeStateReader:
    """The committed state after one block, read from its version of the state tree (a `StateReader`)."""

    __slots__ = ("_height", "_store")

    def __init__(self, store: BlockStore, height: Height) -> None:
        self._store = store
        self._height = height

    def get(self, key: bytes) -> bytes | None:
        return self._store.get_state_value(self._height, key)
