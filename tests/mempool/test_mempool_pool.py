"""Tests of the mempool: limits, admission checks, selection fairness and commits."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.errors import (
    ConfigError,
    DuplicateTransactionError,
    ExpiredTransactionError,
    GusuError,
    MempoolFullError,
    SenderQuotaError,
    TransactionTooLargeError,
    WrongChainError,
)
from gusu.ledger.types import Address, Hash, Height, Transaction
from gusu.mempool import Mempool, MempoolLimits, PoolTransaction, get_window, is_within_window
from gusu.mempool.bench import run_bench

CHAIN = "gusu-test"
H1 = Height(1)


def make_entry(
    sender: int, nonce: int, valid_until: int = 100, size: int = 100, chain_id: str = CHAIN
) -> PoolTransaction:
    public_key = b"\x02" + hashlib.sha256(b"key%d" % sender).digest()
    tx = Transaction(
        chain_id=chain_id,
        nonce=nonce,
        valid_until_height=Height(valid_until),
        sender_public_key=public_key,
        contract="account",
        method="transfer",
        args=b"",
        signature=bytes(64),
    )
    transaction_id = Hash(hashlib.sha256(b"tx%d/%d/%d" % (sender, nonce, valid_until)).digest())
    return PoolTransaction(tx, transaction_id, Address(public_key[1:21]), bytes(size))


def admit(pool: Mempool, entry: PoolTransaction, next_height: Height = H1) -> None:
    pool.validate_admission(entry.transaction, len(entry.raw), entry.transaction_id, next_height)
    pool.add(entry, next_height)


def new_pool(**limits: int) -> Mempool:
    return Mempool(MempoolLimits(**limits), CHAIN)


# --- settings ---------------------------------------------------------------------------


def test_default_limits_are_valid() -> None:
    limits = MempoolLimits()
    assert limits.transactions_max == 200_000
    assert limits.bytes_max == 256 * 1024 * 1024
    assert limits.transaction_bytes_max == 128 * 1024
    assert limits.transaction_window_blocks == 1_000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("transactions_max", 0),
        ("bytes_max", -1),
        ("sender_transactions_max", 0),
        ("transaction_bytes_max", 0),
        ("transaction_window_blocks", 0),
        ("dropped_records_max", 0),
        ("transactions_max", True),
    ],
)
def test_invalid_limit_names_the_setting(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=name):
        MempoolLimits(**{name: value})


def test_limits_must_be_consistent() -> None:
    with pytest.raises(ConfigError, match="transaction_bytes_max"):
        MempoolLimits(bytes_max=1000, transaction_bytes_max=1001)


def test_empty_chain_id_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Mempool(MempoolLimits(), "")


# --- admission ----------------------------------------------------------------------------


def test_admit_and_query() -> None:
    pool = new_pool()
    entry = make_entry(1, 1, size=150)
    admit(pool, entry)
    assert pool.contains(entry.transaction_id)
    assert pool.get(entry.transaction_id) == entry
    assert pool.transaction_count == 1
    assert pool.byte_count == 150
    assert pool.sender_count == 1
    assert pool.get_sender_transaction_count(entry.sender) == 1
    assert pool.get(Hash(bytes(32))) is None


def test_wrong_chain_is_rejected() -> None:
    pool = new_pool()
    entry = make_entry(1, 1, chain_id="other-chain")
    with pytest.raises(WrongChainError, match="gusu-test"):
        admit(pool, entry)
    with pytest.raises(WrongChainError):
        pool.add(entry, H1)


def test_too_large_is_rejected() -> None:
    pool = new_pool(transaction_bytes_max=1000)
    admit(pool, make_entry(1, 1, size=1000))
    with pytest.raises(TransactionTooLargeError, match="1000"):
        admit(pool, make_entry(1, 2, size=1001))


def test_duplicate_pending_is_rejected_before_capacity() -> None:
    pool = new_pool(transactions_max=1, sender_transactions_max=1)
    entry = make_entry(1, 1)
    admit(pool, entry)
    # The pool is full too, but the client must hear that it is pending.
    with pytest.raises(DuplicateTransactionError, match="already pending"):
        admit(pool, entry)
    with pytest.raises(DuplicateTransactionError):
        pool.add(entry, H1)
    assert pool.transaction_count == 1


def test_window_bounds() -> None:
    window = 10
    pool = new_pool(transaction_window_blocks=window)
    next_height = Height(50)
    assert get_window(next_height, window) == (50, 59)
    assert is_within_window(Height(50), next_height, window)
    assert is_within_window(Height(59), next_height, window)
    assert not is_within_window(Height(49), next_height, window)
    assert not is_within_window(Height(60), next_height, window)
    admit(pool, make_entry(1, 1, valid_until=50), next_height)
    admit(pool, make_entry(1, 2, valid_until=59), next_height)
    with pytest.raises(ExpiredTransactionError, match=r"expired.*between 50 and 59"):
        admit(pool, make_entry(1, 3, valid_until=49), next_height)
    with pytest.raises(ExpiredTransactionError, match=r"too far ahead.*between 50 and 59"):
        admit(pool, make_entry(1, 4, valid_until=60), next_height)


def test_add_rechecks_after_the_chain_moved() -> None:
    pool = new_pool()
    entry = make_entry(1, 1, valid_until=5)
    pool.validate_admission(entry.transaction, len(entry.raw), entry.transaction_id, Height(5))
    # Block 5 committed while the signature was being verified.
    with pytest.raises(ExpiredTransactionError):
        pool.add(entry, Height(6))
    assert pool.transaction_count == 0


def test_full_pool_raises_retryable_and_evicts_nothing() -> None:
    pool = new_pool(transactions_max=3, sender_transactions_max=3)
    entries = [make_entry(sender, 1) for sender in range(3)]
    for entry in entries:
        admit(pool, entry)
    late = make_entry(9, 1)
    with pytest.raises(MempoolFullError) as caught:
        admit(pool, late)
    assert caught.value.retryable
    with pytest.raises(MempoolFullError):
        pool.add(late, H1)
    assert all(pool.contains(entry.transaction_id) for entry in entries)
    # Room frees up after a commit, and the same transaction is accepted.
    pool.on_block_committed(H1, [entries[0].transaction_id])
    admit(pool, late, Height(2))
    assert pool.contains(late.transaction_id)


def test_byte_limit_raises_retryable() -> None:
    pool = new_pool(bytes_max=1000, transaction_bytes_max=600)
    admit(pool, make_entry(1, 1, size=600))
    with pytest.raises(MempoolFullError, match="bytes") as caught:
        admit(pool, make_entry(2, 1, size=401))
    assert caught.value.retryable
    admit(pool, make_entry(2, 2, size=400))
    assert pool.byte_count == 1000


def test_sender_quota_is_retryable_and_checked_before_verification() -> None:
    pool = new_pool(sender_transactions_max=2)
    admit(pool, make_entry(1, 1))
    admit(pool, make_entry(1, 2))
    third = make_entry(1, 3)
    # The pool learned this sender's key, so the cheap check catches it.
    with pytest.raises(SenderQuotaError) as caught:
        pool.validate_admission(third.transaction, len(third.raw), third.transaction_id, H1)
    assert caught.value.retryable
    with pytest.raises(SenderQuotaError):
        pool.add(third, H1)
    admit(pool, make_entry(2, 1))  # other senders are unaffected


def test_errors_are_gusu_errors_with_stable_codes() -> None:
    pool = new_pool(transactions_max=1, sender_transactions_max=1)
    admit(pool, make_entry(1, 1))
    with pytest.raises(GusuError) as caught:
        admit(pool, make_entry(2, 1))
    assert caught.value.code == "mempool_full"


# --- commit and drop --------------------------------------------------------------------


def test_commit_removes_committed_and_ignores_unknown_ids() -> None:
    pool = new_pool()
    first, second = make_entry(1, 1), make_entry(2, 1)
    admit(pool, first)
    admit(pool, second)
    dropped = pool.on_block_committed(H1, [first.transaction_id, Hash(bytes(32))])
    assert dropped == []
    assert not pool.contains(first.transaction_id)
    assert pool.contains(second.transaction_id)
    assert pool.transaction_count == 1
    assert pool.byte_count == len(second.raw)
    assert pool.get_dropped(first.transaction_id) is None


def test_expired_transactions_are_dropped_with_a_reason() -> None:
    pool = new_pool()
    short, long = make_entry(1, 1, valid_until=2), make_entry(1, 2, valid_until=3)
    admit(pool, short)
    admit(pool, long)
    assert pool.on_block_committed(H1, []) == []
    dropped = pool.on_block_committed(Height(2), [])
    assert [item.transaction_id for item in dropped] == [short.transaction_id]
    assert "expired at height 2" in dropped[0].reason
    assert pool.get_dropped(short.transaction_id) == dropped[0]
    assert pool.contains(long.transaction_id)
    assert pool.transaction_count == 1
    # The sender's queue and key mapping went with its last transaction.
    pool.on_block_committed(Height(3), [])
    assert pool.transaction_count == 0
    assert pool.sender_count == 0
    assert pool.byte_count == 0


def test_heights_can_jump() -> None:
    pool = new_pool()
    entries = [make_entry(1, nonce, valid_until=nonce + 1) for nonce in range(1, 6)]
    for entry in entries:
        admit(pool, entry)
    dropped = pool.on_block_committed(Height(100), [])
    assert sorted(item.transaction_id for item in dropped) == sorted(entry.transaction_id for entry in entries)


def test_dropped_record_is_bounded_oldest_first() -> None:
    pool = new_pool(dropped_records_max=2)
    entries = [make_entry(sender, 1, valid_until=1) for sender in range(3)]
    for entry in entries:
        admit(pool, entry)
    assert len(pool.on_block_committed(H1, [])) == 3
    assert pool.get_dropped(entries[0].transaction_id) is None
    assert pool.get_dropped(entries[1].transaction_id) is not None
    assert pool.get_dropped(entries[2].transaction_id) is not None


def test_expired_but_not_yet_dropped_entries_are_not_selected() -> None:
    pool = new_pool()
    stale, fresh = make_entry(1, 1, valid_until=3), make_entry(1, 2, valid_until=9)
    admit(pool, stale)
    admit(pool, fresh)
    assert pool.select(10, 10_000, Height(4)) == [fresh]
    assert pool.transaction_count == 2  # select removes nothing


# --- selection ----------------------------------------------------------------------------


def test_select_respects_limits() -> None:
    pool = new_pool()
    for nonce in range(10):
        admit(pool, make_entry(1, nonce, size=100))
    assert len(pool.select(4, 10_000, H1)) == 4
    assert len(pool.select(10, 350, H1)) == 3
    assert pool.select(0, 10_000, H1) == []
    assert pool.select(10, 0, H1) == []
    assert new_pool().select(10, 10_000, H1) == []


def test_select_is_fifo_within_a_sender() -> None:
    pool = new_pool()
    entries = [make_entry(1, nonce) for nonce in range(20)]
    for entry in entries:
        admit(pool, entry)
    assert pool.select(20, 1 << 20, H1) == entries


def test_select_round_robins_over_senders() -> None:
    pool = new_pool()
    for nonce in range(3):
        for sender in range(3):
            admit(pool, make_entry(sender, nonce))
    chosen = pool.select(9, 1 << 20, H1)
    senders = [entry.sender for entry in chosen]
    first_round = senders[:3]
    assert len(set(first_round)) == 3
    assert senders == first_round * 3


def test_a_sender_that_does_not_fit_sits_out_without_reordering() -> None:
    pool = new_pool()
    big, small = make_entry(1, 1, size=900), make_entry(1, 2, size=10)
    other = make_entry(2, 1, size=10)
    for entry in (big, small, other):
        admit(pool, entry)
    # Sender 1's oldest does not fit: its younger one must not jump ahead.
    assert pool.select(10, 500, H1) == [other]


def test_rotation_continues_across_calls() -> None:
    pool = new_pool()
    senders = 10
    for sender in range(senders):
        for nonce in range(5):
            admit(pool, make_entry(sender, nonce))
    served: list[Address] = []
    for _ in range(5):
        served.extend(entry.sender for entry in pool.select(2, 1 << 20, H1))
    # Without commits, five calls of two still reach ten distinct senders.
    assert len(set(served)) == senders


def test_peek_is_what_select_returns_and_moves_no_rotation() -> None:
    pool = new_pool()
    for sender in range(6):
        for nonce in range(2):
            admit(pool, make_entry(sender, nonce))
    peeked = [pool.peek(2, 1 << 20, H1) for _ in range(3)]
    assert peeked[0] == peeked[1] == peeked[2]  # looking ahead, however often, serves no one
    assert pool.select(2, 1 << 20, H1) == peeked[0]
    # The select moved the rotation on: the next look ahead starts after the senders it served.
    after = pool.peek(2, 1 << 20, H1)
    assert {entry.sender for entry in after}.isdisjoint(entry.sender for entry in peeked[0])
    assert pool.select(2, 1 << 20, H1) == after


@settings(max_examples=60, deadline=None)
@given(
    flood=st.integers(min_value=50, max_value=400),
    others=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=30),
    block=st.integers(min_value=1, max_value=40),
)
def test_a_flooding_sender_does_not_starve_others(flood: int, others: list[int], block: int) -> None:
    """Every sender gets a transaction into a block within one rotation of the senders."""
    pool = new_pool(transactions_max=10_000, sender_transactions_max=10_000)
    for nonce in range(flood):
        admit(pool, make_entry(0, nonce))
    for sender, count in enumerate(others, start=1):
        for nonce in range(count):
            admit(pool, make_entry(sender, nonce))
    sender_total = 1 + len(others)
    rounds_needed = -(-sender_total // block)  # ceil: one rotation of the senders
    waiting = {make_entry(sender, 0).sender for sender in range(1, sender_total)}
    height = H1
    for _ in range(rounds_needed):
        chosen = pool.select(block, 1 << 30, height)
        assert len(chosen) == min(block, pool.transaction_count)
        per_sender: dict[Address, int] = {}
        for entry in chosen:
            per_sender[entry.sender] = per_sender.get(entry.sender, 0) + 1
        # Round-robin: a sender left with pending transactions got at most
        # one fewer slot than the best-served sender of this block.
        best = max(per_sender.values())
        for address, share in per_sender.items():
            if pool.get_sender_transaction_count(address) > share:
                assert share >= best - 1
        waiting -= set(per_sender)
        pool.on_block_committed(height, [entry.transaction_id for entry in chosen])
        height = Height(height + 1)
    assert waiting == set()


def test_bench_runs_and_reports() -> None:
    result = run_bench(transaction_count=2_000, sender_count=50, block_transactions_max=500)
    assert result.blocks == 4
    assert result.total_us > 0
    assert result.transactions_per_second > 0
