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

Journaling what was admitted (so that an acknowledged transaction survives
a crash) and telling peers are the node's: this part only decides and pools.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from gusu.crypto import CryptoSuite
from gusu.errors import (
    CodecError,
    DuplicateTransactionError,
    GusuError,
    InvalidSignatureError,
    NodeError,
    TransactionTooLargeError,
)
from gusu.execution.governance import check_transaction_permission
from gusu.ledger.store import BlockStore
from gusu.ledger.types import Address, Hash, Height, Transaction, decode_transaction, encode_transaction_payload
from gusu.mempool import Mempool, PoolTransaction
from gusu.node.service import SubmitOutcome
from gusu.node.verifier import SignatureVerifier


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
        if len(raws) > rejected:
            self._on_admitted()
        return [
            outcome if outcome is not None else SubmitOutcome(None, NodeError("not processed")) for outcome in outcomes
        ]

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
        self._mempool.validate_admission(transaction, len(raw), transaction_id, next_height)
        return transaction, transaction_id
