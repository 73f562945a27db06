"""A model-based state machine over the mempool: admit, resend, select, commit, skip heights.

The invariant under test: once `add` returns, a transaction is pending,
committed, or reported by `get_dropped` with a reason -- never gone without
a trace. Alongside it, every admission outcome is predicted by a simple
model, so a wrong rejection fails as surely as a wrong acceptance.
"""

from __future__ import annotations

import hashlib

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gusu.errors import (
    DuplicateTransactionError,
    ExpiredTransactionError,
    GusuError,
    MempoolFullError,
    SenderQuotaError,
    TransactionTooLargeError,
)
from gusu.ledger.types import Address, Hash, Height, Transaction
from gusu.mempool import Mempool, MempoolLimits, PoolTransaction

CHAIN = "gusu-test"
LIMITS = MempoolLimits(
    transactions_max=12,
    bytes_max=3_000,
    sender_transactions_max=4,
    transaction_bytes_max=600,
    transaction_window_blocks=5,
    dropped_records_max=100_000,
)


def _entry(sender: int, nonce: int, valid_until: int, size: int) -> PoolTransaction:
    public_key = b"\x03" + hashlib.sha256(b"sender%d" % sender).digest()
    tx = Transaction(
        chain_id=CHAIN,
        nonce=nonce,
        valid_until_height=Height(valid_until),
        sender_public_key=public_key,
        contract="c",
        method="m",
        args=b"",
        signature=bytes(64),
    )
    # Distinct per transaction, as a canonical encoding is; its length is what the limits see.
    raw = (b"%d:" % nonce).ljust(size, b"\x00")
    return PoolTransaction(tx, Hash(hashlib.sha256(b"%d" % nonce).digest()), Address(public_key[1:21]), raw)


class MempoolMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pool = Mempool(LIMITS, CHAIN)
        self.next_height = Height(1)
        self.nonce = 0
        self.pending: dict[Hash, PoolTransaction] = {}
        self.committed: set[Hash] = set()
        self.dropped: set[Hash] = set()
        self.last_selection: list[PoolTransaction] = []
        self.gone: dict[Hash, bytes] = {}
        """Encodings of transactions that left the pool (committed or dropped)."""

    def _expected_error(self, entry: PoolTransaction) -> type[GusuError] | None:
        valid_until = entry.transaction.valid_until_height
        if len(entry.raw) > LIMITS.transaction_bytes_max:
            return TransactionTooLargeError
        if not self.next_height <= valid_until <= self.next_height + LIMITS.transaction_window_blocks - 1:
            return ExpiredTransactionError
        if entry.transaction_id in self.pending:
            return DuplicateTransactionError
        if len(self.pending) >= LIMITS.transactions_max:
            return MempoolFullError
        if sum(len(item.raw) for item in self.pending.values()) + len(entry.raw) > LIMITS.bytes_max:
            return MempoolFullError
        if sum(1 for item in self.pending.values() if item.sender == entry.sender) >= LIMITS.sender_transactions_max:
            return SenderQuotaError
        return None

    def _submit(self, entry: PoolTransaction) -> None:
        expected = self._expected_error(entry)
        try:
            self.pool.validate_admission(entry.transaction, len(entry.raw), entry.transaction_id, self.next_height)
            self.pool.add(entry, self.next_height)
        except GusuError as error:
            assert expected is not None and isinstance(error, expected), (error, expected)
            return
        assert expected is None, f"admitted although {expected.__name__} was expected"
        self.pending[entry.transaction_id] = entry

    @rule(
        sender=st.integers(min_value=0, max_value=4),
        valid_offset=st.integers(min_value=-2, max_value=6),
        size=st.integers(min_value=50, max_value=650),
    )
    def submit(self, sender: int, valid_offset: int, size: int) -> None:
        self.nonce += 1
        self._submit(_entry(sender, self.nonce, self.next_height + valid_offset, size))

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data())
    def resubmit_pending(self, data: st.DataObject) -> None:
        entry = data.draw(st.sampled_from(sorted(self.pending.values(), key=lambda item: item.transaction_id)))
        self._submit(entry)

    @rule(transactions_max=st.integers(min_value=0, max_value=15), bytes_max=st.integers(min_value=0, max_value=4000))
    def select(self, transactions_max: int, bytes_max: int) -> None:
        chosen = self.pool.select(transactions_max, bytes_max, self.next_height)
        ids = [entry.transaction_id for entry in chosen]
        assert len(ids) == len(set(ids))
        assert len(chosen) <= transactions_max
        assert sum(len(entry.raw) for entry in chosen) <= bytes_max
        for entry in chosen:
            assert self.pending[entry.transaction_id] == entry
            assert entry.transaction.valid_until_height >= self.next_height
        self.last_selection = chosen

    @rule(data=st.data(), foreign=st.booleans(), skip=st.integers(min_value=0, max_value=3))
    def commit(self, data: st.DataObject, foreign: bool, skip: int) -> None:
        """Commit block `next_height + skip` with part of the last selection (skip > 0: heights went by)."""
        candidates = [entry.transaction_id for entry in self.last_selection if entry.transaction_id in self.pending]
        committed = data.draw(st.lists(st.sampled_from(candidates), unique=True)) if candidates else []
        if foreign:
            committed.append(Hash(hashlib.sha256(b"foreign%d" % self.nonce).digest()))
        height = Height(self.next_height + skip)
        dropped = self.pool.on_block_committed(height, committed)
        for transaction_id in committed:
            entry = self.pending.pop(transaction_id, None)
            if entry is not None:
                self.committed.add(transaction_id)
                self.gone[transaction_id] = entry.raw
        expected_drops = {
            transaction_id
            for transaction_id, entry in self.pending.items()
            if entry.transaction.valid_until_height <= height
        }
        assert {item.transaction_id for item in dropped} == expected_drops
        for item in dropped:
            assert item.reason
            self.gone[item.transaction_id] = self.pending.pop(item.transaction_id).raw
            self.dropped.add(item.transaction_id)
        self.next_height = Height(height + 1)
        self.last_selection = []

    @invariant()
    def nothing_disappears_silently(self) -> None:
        for transaction_id in self.pending:
            assert self.pool.contains(transaction_id)
            assert self.pool.get_dropped(transaction_id) is None
        for transaction_id in self.committed:
            assert not self.pool.contains(transaction_id)
        for transaction_id in self.dropped:
            assert not self.pool.contains(transaction_id)
            record = self.pool.get_dropped(transaction_id)
            assert record is not None and record.reason

    @invariant()
    def pending_transactions_are_found_by_encoding(self) -> None:
        for entry in self.pending.values():
            assert self.pool.get_by_raw(entry.raw) == entry
        for raw in self.gone.values():
            assert self.pool.get_by_raw(raw) is None

    @invariant()
    def counts_match(self) -> None:
        assert self.pool.transaction_count == len(self.pending)
        assert self.pool.byte_count == sum(len(entry.raw) for entry in self.pending.values())
        assert self.pool.sender_count == len({entry.sender for entry in self.pending.values()})

    @invariant()
    def nothing_pending_has_expired(self) -> None:
        for entry in self.pending.values():
            assert entry.transaction.valid_until_height >= self.next_height


MempoolMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestMempoolMachine = MempoolMachine.TestCase
