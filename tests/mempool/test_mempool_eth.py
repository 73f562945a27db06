"""Ethereum transactions in the mempool: keyed by (sender, nonce), replays, bounded gaps, replacement,
selection in nonce order, and leaving the pool (commit, a used nonce, the window)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from test_mempool_pool import make_entry

from gusu.errors import (
    ConfigError,
    DuplicateTransactionError,
    MempoolFullError,
    NonceTooHighError,
    NonceTooLowError,
    ReplacementRefusedError,
    SenderQuotaError,
    TransactionError,
    TransactionTooLargeError,
)
from gusu.ledger.ethtx import EthTransaction, EthTransactionType, encode_eth_block_item
from gusu.ledger.types import Address, Hash, Height
from gusu.mempool import Mempool, MempoolLimits, PoolTransaction

CHAIN = "gusu-test"
H1 = Height(1)
ALICE = Address(b"\xaa" * 20)
BOB = Address(b"\xbb" * 20)


def make_eth(sender: Address, nonce: int, max_fee: int = 0, size: int = 0) -> PoolTransaction:
    raw = b"%s/%d/%d" % (sender, nonce, max_fee) + bytes(size)
    transaction = EthTransaction(
        transaction_type=EthTransactionType.DYNAMIC_FEE,
        chain_id=1,
        nonce=nonce,
        max_priority_fee_per_gas=0,
        max_fee_per_gas=max_fee,
        gas_limit=21_000,
        to=BOB,
        value=0,
        data=b"",
        access_list=(),
        y_parity=0,
        r=1,
        s=1,
        sender=sender,
        transaction_hash=Hash(hashlib.sha256(raw).digest()),
        raw=raw,
    )
    return PoolTransaction(transaction, transaction.transaction_hash, sender, encode_eth_block_item(raw))


def new_pool(**limits: int) -> Mempool:
    return Mempool(MempoolLimits(**limits), CHAIN)


def add(pool: Mempool, entry: PoolTransaction, account_nonce: int = 0, gas_price: int = 0) -> None:
    pool.validate_eth_admission(entry, H1, account_nonce, gas_price)
    pool.add_eth(entry, H1, account_nonce, gas_price)


def test_setting_is_validated() -> None:
    assert MempoolLimits().eth_future_nonces_max == 64
    MempoolLimits(eth_future_nonces_max=0)
    for bad in (-1, 10_001):
        with pytest.raises(ConfigError, match="eth_future_nonces_max"):
            MempoolLimits(eth_future_nonces_max=bad)


def test_replay_below_the_account_nonce_is_refused() -> None:
    pool = new_pool()
    with pytest.raises(NonceTooLowError, match="nonce too low"):
        add(pool, make_eth(ALICE, 4), account_nonce=5)
    assert pool.transaction_count == 0


def test_gaps_are_held_up_to_the_bound() -> None:
    pool = new_pool(eth_future_nonces_max=3)
    add(pool, make_eth(ALICE, 13), account_nonce=10)
    with pytest.raises(NonceTooHighError, match="eth_future_nonces_max"):
        add(pool, make_eth(ALICE, 14), account_nonce=10)
    # Held but not selectable while nonces 10-12 are missing.
    assert pool.select(100, 1 << 20, H1) == []
    for nonce in (11, 10):
        add(pool, make_eth(ALICE, nonce), account_nonce=10)
    assert [entry.transaction.nonce for entry in pool.select(100, 1 << 20, H1)] == [10, 11]  # type: ignore[union-attr]
    add(pool, make_eth(ALICE, 12), account_nonce=10)
    assert [entry.transaction.nonce for entry in pool.select(100, 1 << 20, H1)] == [10, 11, 12, 13]  # type: ignore[union-attr]


def test_duplicate_and_replacement_rules() -> None:
    pool = new_pool()
    first = make_eth(ALICE, 0)
    add(pool, first)
    with pytest.raises(DuplicateTransactionError):
        add(pool, first)
    # At price 0 every transaction pays the same: no replacement at all.
    with pytest.raises(ReplacementRefusedError, match="cannot be replaced"):
        add(pool, make_eth(ALICE, 0, max_fee=100))
    priced = new_pool()
    cheap = make_eth(ALICE, 0, max_fee=5)
    add(priced, cheap, gas_price=5)
    with pytest.raises(ReplacementRefusedError, match="underpriced"):
        add(priced, make_eth(ALICE, 0, max_fee=5, size=1), gas_price=5)
    better = make_eth(ALICE, 0, max_fee=6)
    replaced = priced.add_eth(better, H1, 0, 5)
    assert replaced is not None and replaced.transaction_id == cheap.transaction_id
    assert priced.get_dropped(cheap.transaction_id) == replaced and "replaced by" in replaced.reason
    assert not priced.contains(cheap.transaction_id) and priced.contains(better.transaction_id)
    assert priced.transaction_count == 1 and priced.byte_count == len(better.raw)
    assert priced.select(10, 1 << 20, H1) == [better]


def test_underpriced_and_oversize_are_refused() -> None:
    pool = new_pool(transaction_bytes_max=200)
    with pytest.raises(TransactionError, match="gas price is 3"):
        add(pool, make_eth(ALICE, 0, max_fee=2), gas_price=3)
    with pytest.raises(TransactionTooLargeError):
        add(pool, make_eth(ALICE, 0, size=300))


def test_capacity_and_sender_quota_count_both_kinds() -> None:
    pool = new_pool(sender_transactions_max=2)
    add(pool, make_eth(ALICE, 0))
    add(pool, make_eth(ALICE, 1))
    with pytest.raises(SenderQuotaError):
        add(pool, make_eth(ALICE, 2))
    assert pool.get_sender_transaction_count(ALICE) == 2
    full = new_pool(transactions_max=1)
    add(full, make_eth(ALICE, 0))
    with pytest.raises(MempoolFullError):
        add(full, make_eth(BOB, 0))


def test_commit_removes_committed_and_used_nonces() -> None:
    pool = new_pool()
    entries = [make_eth(ALICE, nonce) for nonce in range(3)]
    for entry in entries:
        add(pool, entry)
    other = make_eth(ALICE, 1, size=5)  # the same nonce, committed from another node's pool
    assert pool.has_eth_transactions(ALICE)
    dropped = pool.on_block_committed(H1, [entries[0].transaction_id, other.transaction_id], {ALICE: 2})
    assert [record.transaction_id for record in dropped] == [entries[1].transaction_id]
    assert "nonce 1 was used" in dropped[0].reason
    assert pool.transaction_count == 1 and pool.select(10, 1 << 20, Height(2)) == [entries[2]]
    assert pool.get_eth_pending_nonce(ALICE, 2) == 3 and pool.get_eth_pending_nonce(BOB, 7) == 7


def test_pending_too_long_is_dropped_with_a_reason() -> None:
    pool = new_pool(transaction_window_blocks=3)
    waiting = make_eth(ALICE, 1)
    add(pool, waiting)  # nonce 0 never arrives
    assert pool.on_block_committed(Height(2), []) == []
    (record,) = pool.on_block_committed(Height(3), [])
    assert record.transaction_id == waiting.transaction_id and "not included within 3 blocks" in record.reason
    assert pool.transaction_count == 0 and pool.sender_count == 0 and pool.byte_count == 0


def test_a_senders_ethereum_transactions_precede_its_gusu_ones() -> None:
    pool = new_pool()
    gusu = make_entry(1, 1)
    pool.add(gusu, H1)
    eth = make_eth(gusu.sender, 0)  # the same account sends both kinds
    add(pool, eth)
    assert pool.select(10, 1 << 20, H1) == [eth, gusu]


def test_both_kinds_share_the_rotation() -> None:
    pool = new_pool()
    gusu = make_entry(1, 1)
    pool.add(gusu, H1)
    eth = [make_eth(ALICE, nonce) for nonce in range(2)]
    for entry in eth:
        add(pool, entry)
    selected = pool.select(10, 1 << 20, H1)
    assert set(entry.transaction_id for entry in selected) == {gusu.transaction_id, *(e.transaction_id for e in eth)}
    assert pool.get_by_raw(eth[0].raw) == eth[0]
    assert list(pool.iterate_raw()) == [gusu.raw, eth[0].raw, eth[1].raw]


# --- a model-based state machine ---------------------------------------------------------------

ETH_LIMITS = MempoolLimits(
    transactions_max=10,
    bytes_max=1 << 20,
    sender_transactions_max=5,
    transaction_window_blocks=4,
    eth_future_nonces_max=3,
)
PRICE = 1
SENDERS = [Address(bytes([index]) * 20) for index in range(3)]


class EthMempoolMachine(RuleBasedStateMachine):
    """Admit, replace, select and commit Ethereum transactions against a simple model: every outcome
    predicted, selection contiguous per sender, and nothing leaves the pool without a trace."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = Mempool(ETH_LIMITS, CHAIN)
        self.next_height = Height(1)
        self.account_nonces = {sender: 0 for sender in SENDERS}
        self.pending: dict[Hash, tuple[PoolTransaction, int]] = {}
        """id -> (entry, the height its window ends)."""
        self.gone: set[Hash] = set()
        self.committed: set[Hash] = set()
        self.selection: list[PoolTransaction] = []

    def _find(self, sender: Address, nonce: int) -> PoolTransaction | None:
        for entry, _ in self.pending.values():
            if entry.sender == sender and entry.transaction.nonce == nonce:  # type: ignore[union-attr]
                return entry
        return None

    def _expected(self, entry: PoolTransaction) -> type[Exception] | None:
        transaction = entry.transaction
        assert isinstance(transaction, EthTransaction)
        account = self.account_nonces[entry.sender]
        if entry.transaction_id in self.pending:
            return DuplicateTransactionError
        if transaction.nonce < account:
            return NonceTooLowError
        if transaction.nonce > account + ETH_LIMITS.eth_future_nonces_max:
            return NonceTooHighError
        if transaction.max_fee_per_gas < PRICE:
            return TransactionError
        existing = self._find(entry.sender, transaction.nonce)
        if existing is not None:
            offered = existing.transaction.max_fee_per_gas  # type: ignore[union-attr]
            return None if transaction.max_fee_per_gas > offered else ReplacementRefusedError
        if len(self.pending) >= ETH_LIMITS.transactions_max:
            return MempoolFullError
        if sum(1 for entry_, _ in self.pending.values() if entry_.sender == entry.sender) >= 5:
            return SenderQuotaError
        return None

    @rule(sender=st.sampled_from(SENDERS), offset=st.integers(-1, 4), fee=st.integers(0, 3))
    def submit(self, sender: Address, offset: int, fee: int) -> None:
        nonce = self.account_nonces[sender] + offset
        if nonce < 0:
            return
        entry = make_eth(sender, nonce, max_fee=fee)
        expected = self._expected(entry)
        existing = self._find(sender, nonce)
        try:
            replaced = self.pool.add_eth(entry, self.next_height, self.account_nonces[sender], PRICE)
        except Exception as error:
            assert expected is not None and isinstance(error, expected), (error, expected)
            return
        assert expected is None, f"admitted although {expected.__name__} was expected"
        if existing is not None:
            assert replaced is not None and replaced.transaction_id == existing.transaction_id
            del self.pending[existing.transaction_id]
            self.gone.add(existing.transaction_id)
        else:
            assert replaced is None
        self.gone.discard(entry.transaction_id)  # an Ethereum transaction dropped for its window may come back
        self.pending[entry.transaction_id] = (entry, self.next_height + ETH_LIMITS.transaction_window_blocks - 1)

    @rule(transactions_max=st.integers(0, 12))
    def select(self, transactions_max: int) -> None:
        chosen = self.pool.select(transactions_max, 1 << 20, self.next_height)
        assert len(chosen) <= transactions_max
        following = dict(self.account_nonces)
        for entry in chosen:
            assert entry.transaction_id in self.pending
            nonce = entry.transaction.nonce  # type: ignore[union-attr]
            assert nonce == following[entry.sender], "a sender's transactions run in nonce order without gaps"
            following[entry.sender] += 1
        self.selection = chosen

    @rule(data=st.data(), external=st.sampled_from([None, *SENDERS]))
    def commit(self, data: st.DataObject, external: Address | None) -> None:
        """Commit a prefix of the last selection; `external`: that sender's nonce also moves by one
        (another node's transaction, or a Gusu evm.call)."""
        count = data.draw(st.integers(0, len(self.selection)))
        committed = [entry for entry in self.selection[:count] if entry.transaction_id in self.pending]
        nonces = dict(self.account_nonces)
        for entry in committed:
            nonces[entry.sender] = entry.transaction.nonce + 1  # type: ignore[union-attr]
        if external is not None:
            nonces[external] += 1
        height = self.next_height
        dropped = self.pool.on_block_committed(height, [entry.transaction_id for entry in committed], nonces)
        for entry in committed:
            del self.pending[entry.transaction_id]
            self.committed.add(entry.transaction_id)
        self.account_nonces = nonces
        expected = {
            transaction_id
            for transaction_id, (entry, expiry) in self.pending.items()
            if entry.transaction.nonce < nonces[entry.sender] or expiry <= height  # type: ignore[union-attr]
        }
        assert {record.transaction_id for record in dropped} == expected
        for record in dropped:
            assert record.reason
            del self.pending[record.transaction_id]
            self.gone.add(record.transaction_id)
        self.next_height = Height(height + 1)
        self.selection = []

    @invariant()
    def nothing_disappears_silently(self) -> None:
        for transaction_id, (entry, _) in self.pending.items():
            assert self.pool.get(transaction_id) == entry and self.pool.get_by_raw(entry.raw) == entry
        for transaction_id in self.gone:
            record = self.pool.get_dropped(transaction_id)
            assert not self.pool.contains(transaction_id) and record is not None and record.reason
        for transaction_id in self.committed:
            assert not self.pool.contains(transaction_id)

    @invariant()
    def counts_match(self) -> None:
        assert self.pool.transaction_count == len(self.pending)
        assert self.pool.byte_count == sum(len(entry.raw) for entry, _ in self.pending.values())
        assert self.pool.sender_count == len({entry.sender for entry, _ in self.pending.values()})


EthMempoolMachine.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
TestEthMempoolMachine = EthMempoolMachine.TestCase
