"""Transaction admission: from a client's (or a peer's) bytes to a verified transaction in the pool.

A transaction is admitted when it is at most `transaction_bytes_max` bytes,
canonically encoded, signed by a valid key of the chain's suite, allowed by the
consortium's permissions (`check_transaction_permission`), not committed and
acceptable to the pool (chain, window, per-sender share, room), and its
signature verifies. Signatures are verified in batches by the
`SignatureVerifier` worker processes; while a batch is out, `verifying`
records which batch holds each transaction, so a proposal that holds the same
transaction shares that verification instead of repeating it
(`Node.validate_block`).

An Ethereum transaction arrives as its block item (`gusu.ledger.ethtx.encode_eth_block_item`), from
`Node.submit_eth_raw_transaction`, a peer's gossip or the journal. It is admitted on an `ecdsa` chain
running the `evm` contract only: decoded for the chain's `evm_chain_id` (its sender recovered from
the signature, so no verifier batch), allowed by the permissions (as `evm.deploy` or `evm.call`), not
committed, its gas limit between its intrinsic gas and `evm_gas_per_transaction_max`, the sender's
committed balance covering ``gas_limit * evm_gas_price + value``, then the pool's (sender, nonce)
rules (`Mempool.add_eth`) against the sender's committed EVM nonce.

Journaling what was admitted (so that an acknowledged transaction survives
a crash) and telling peers are the node's: this part only decides and pools.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gusu.crypto import CryptoSuite
from gusu.errors import (
    CodecError,
    DuplicateTransactionError,
    GusuError,
    InvalidSignatureError,
    NodeError,
    TransactionError,
    TransactionTooLargeError,
)
from gusu.execution.governance import check_transaction_permission
from gusu.ledger.ethtx import (
    EthTransaction,
    decode_eth_block_item,
    decode_eth_transaction,
    is_eth_block_item,
    validate_eth_intrinsic_gas,
)
from gusu.ledger.store import BlockStore
from gusu.ledger.types import Address, Hash, Height, Transaction, decode_transaction, encode_transaction_payload
from gusu.mempool import Mempool, PoolTransaction
from gusu.node.blocks import ETH_SUITE
from gusu.node.service import SubmitOutcome
from gusu.node.verifier import SignatureVerifier

logger = logging.getLogger("gusu.node")

if TYPE_CHECKING:  # py-evm loads only on chains with the evm contract
    from gusu.execution.evm.settings import EvmSettings


class TransactionAdmission:
    def __init__(
        self,
        *,
        suite: CryptoSuite,
        mempool: Mempool,
        transaction_bytes_max: int,
        verifier: SignatureVerifier,
        get_store: Callable[[], BlockStore],
        get_next_height: Callable[[], Height],
        clock: Callable[[], int],
        on_admitted: Callable[[], None],
    ) -> None:
        self._suite = suite
        self._mempool = mempool
        self._transaction_bytes_max = transaction_bytes_max
        self._verifier = verifier
        self._get_store = get_store
        self._get_next_height = get_next_height
        self._clock = clock
        self._on_admitted = on_admitted
        self.verifying: dict[bytes, tuple[asyncio.Future[list[bool]], int]] = {}
        """Transactions whose admission awaits the verifier, by encoding: (that batch, position in it)."""
        self.admitted_at_ms: dict[Hash, int] = {}
        """When each pooled transaction was admitted (for the commit-latency histogram)."""

    @property
    def store(self) -> BlockStore:
        return self._get_store()

    async def admit(self, raws: Sequence[bytes]) -> list[SubmitOutcome]:
        """Check, verify and pool `raws`; one outcome each, in order (journaling is the caller's)."""
        outcomes: list[SubmitOutcome | None] = [None] * len(raws)
        candidates: list[tuple[int, Transaction, Hash, bytes]] = []
        next_height = self._get_next_height()
        for position, raw in enumerate(raws):
            if is_eth_block_item(raw):
                outcomes[position] = self._admit_eth(raw, next_height)
                continue
            try:
                transaction, transaction_id = self.check_transaction(raw, next_height)
            except GusuError as error:
                outcomes[position] = SubmitOutcome(None, error)
                continue
            candidates.append((position, transaction, transaction_id, raw))
        if candidates:
            batch: asyncio.Future[list[bool]] | None = None
            try:
                batch = self._verifier.submit(
                    [(tx.sender_public_key, transaction_id, tx.signature) for _, tx, transaction_id, _ in candidates]
                )
                # A proposal holding these transactions may arrive before this verification ends;
                # its check then waits for this one instead of verifying the signatures again.
                for index, (_, _, _, raw) in enumerate(candidates):
                    self.verifying.setdefault(raw, (batch, index))
                verdicts = await batch
            except GusuError as error:
                verdicts = []
                for position, _, _, _ in candidates:
                    outcomes[position] = SubmitOutcome(None, error)
            finally:
                if batch is not None:
                    for _, _, _, raw in candidates:
                        if self.verifying.get(raw, (None, 0))[0] is batch:
                            del self.verifying[raw]
            now_ms = self._clock()
            next_height = self._get_next_height()
            for (position, tx, transaction_id, raw), is_valid in zip(candidates, verdicts, strict=False):
                if not is_valid:
                    outcomes[position] = SubmitOutcome(
                        None,
                        InvalidSignatureError(
                            "the signature does not verify for this transaction and public key; sign the "
                            "transaction id with the sender's key"
                        ),
                    )
                    continue
                try:
                    if self.store.has_transaction(transaction_id):
                        raise DuplicateTransactionError("this transaction is already committed")
                    sender = Address(self._suite.compute_address(tx.sender_public_key))
                    self._mempool.add(PoolTransaction(tx, transaction_id, sender, raw), next_height)
                except GusuError as error:
                    outcomes[position] = SubmitOutcome(None, error)
                    continue
                self.admitted_at_ms[transaction_id] = now_ms
                outcomes[position] = SubmitOutcome(transaction_id, None)
        rejected = sum(1 for outcome in outcomes if outcome is not None and outcome.error is not None)
        # Gusu or Ethereum, an admission wakes the engine (Ethereum ones never reach the batch above).
        if len(raws) > rejected:
            self._on_admitted()
        return [
            outcome if outcome is not None else SubmitOutcome(None, NodeError("not processed")) for outcome in outcomes
        ]

    def _admit_eth(self, item: bytes, next_height: Height) -> SubmitOutcome:
        """Check and pool an Ethereum transaction's block item (see the module docstring)."""
        try:
            transaction, settings = self.check_eth_transaction(item)
            from gusu.execution.evm.ethapply import read_eth_account

            nonce, balance = read_eth_account(self.store, transaction.sender)
            cost = transaction.gas_limit * settings.evm_gas_price + transaction.value
            if balance < cost:
                raise TransactionError(
                    f"insufficient funds: 0x{transaction.sender.hex()} holds {balance}; the transaction may cost "
                    f"{cost} (gas limit x gas price {settings.evm_gas_price} + value)"
                )
            entry = PoolTransaction(transaction, transaction.transaction_hash, transaction.sender, item)
            replaced = self._mempool.add_eth(entry, next_height, nonce, settings.evm_gas_price)
        except GusuError as error:
            return SubmitOutcome(None, error)
        except MemoryError:
            raise
        except Exception:
            # A fault of ours on this transaction: it alone is refused, and the others admitted with it (a gateway's
            # concurrent requests, taken together) are still journaled and answered with their own outcomes.
            logger.exception("checking an Ethereum transaction failed unexpectedly")
            return SubmitOutcome(
                None, NodeError("the node failed to check this transaction (an internal fault, logged); report it")
            )
        if replaced is not None:
            self.admitted_at_ms.pop(replaced.transaction_id, None)
        self.admitted_at_ms[transaction.transaction_hash] = self._clock()
        return SubmitOutcome(transaction.transaction_hash, None)

    def check_eth_transaction(self, item: bytes) -> tuple[EthTransaction, EvmSettings]:
        """The Ethereum transaction block item `item` carries, if this chain may take it: decoded for this
        chain, permitted, not committed, its gas limit within bounds; with the chain's EVM settings it was checked
        against. Raises the GusuError that says why not."""
        if len(item) > self._transaction_bytes_max:
            raise TransactionTooLargeError(
                f"the transaction is {len(item)} bytes; this node accepts at most {self._transaction_bytes_max}"
            )
        if self._suite.name != ETH_SUITE:
            raise TransactionError(
                f"this chain's suite is {self._suite.name}: it takes no Ethereum transactions (they are for "
                f"{ETH_SUITE} chains); send a Gusu transaction to evm.deploy or evm.call signed with the "
                f"chain's {self._suite.name} key instead"
            )
        from gusu.execution.evm.ethapply import read_evm_settings

        settings = read_evm_settings(self.store)
        if settings is None:
            raise TransactionError("this chain does not run the evm contract, so it takes no Ethereum transactions")
        try:
            raw = decode_eth_block_item(item)
        except CodecError as error:
            raise CodecError(f"the Ethereum transaction item is malformed: {error}") from error
        transaction = decode_eth_transaction(raw, chain_id=settings.evm_chain_id)
        check_transaction_permission(
            self.store, transaction.sender, "evm", "deploy" if transaction.to is None else "call"
        )
        if self.store.has_transaction(transaction.transaction_hash):
            raise DuplicateTransactionError("this transaction is already committed")
        validate_eth_intrinsic_gas(transaction)
        if transaction.gas_limit > settings.evm_gas_per_transaction_max:
            raise TransactionError(
                f"the gas limit {transaction.gas_limit} is above this chain's evm_gas_per_transaction_max "
                f"{settings.evm_gas_per_transaction_max}"
            )
        return transaction, settings

    def _validate_after_base(self, transaction: Transaction) -> None:
        """A node that joined by state sync at height B has no block below B, so it cannot tell whether a
        transaction was committed there. One that could have been (its window reaches below B + 1: a block at
        height h takes only transactions with valid_until_height < h + window) is refused, so this node never
        pools or proposes a transaction that may be a replay; any other node, with the whole window, takes it."""
        base = self.store.get_base_height()
        window = self._mempool.limits.transaction_window_blocks
        if base > 0 and transaction.valid_until_height < base + window:
            raise DuplicateTransactionError(
                f"this node joined the chain by state sync at height {base} and cannot tell whether this "
                f"transaction was committed before that (its valid_until_height {transaction.valid_until_height} "
                f"is below {base + window}); send it to another node, or sign it with a later valid_until_height"
            )

    def check_transaction(self, raw: bytes, next_height: Height) -> tuple[Transaction, Hash]:
        if len(raw) > self._transaction_bytes_max:
            raise TransactionTooLargeError(
                f"the transaction is {len(raw)} bytes; this node accepts at most {self._transaction_bytes_max}"
            )
        try:
            transaction = decode_transaction(raw)
        except CodecError as error:
            raise CodecError(f"the transaction is not canonically encoded: {error}") from error
        self._suite.validate_public_key(transaction.sender_public_key)
        # The consortium's permissions, frozen accounts and contracts, over the committed state; execution
        # checks again, since governance may change them before the transaction is ordered.
        sender = Address(self._suite.compute_address(transaction.sender_public_key))
        check_transaction_permission(self.store, sender, transaction.contract, transaction.method)
        transaction_id = Hash(self._suite.hash(encode_transaction_payload(transaction)))
        if self.store.has_transaction(transaction_id):
            raise DuplicateTransactionError(
                "this transaction is already committed; to repeat the operation sign a new transaction"
            )
        self._validate_after_base(transaction)
        self._mempool.validate_admission(transaction, len(raw), transaction_id, next_height)
        return transaction, transaction_id
