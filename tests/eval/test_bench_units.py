"""The benchmark's arithmetic and bookkeeping, without a node."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from typing import Any

import pytest

from gusu.crypto import get_suite
from gusu.eval.bench import (
    Batch,
    BenchConfig,
    BenchError,
    CpuMeter,
    LoadState,
    compute_percentile,
    describe_problems,
    get_hardware,
    interleave,
    plan_presign_count,
    read_error,
    run_closed_loop,
    run_open_loop,
    sign_transfers,
    split_endpoint,
    summary_rows,
)
from gusu.ledger.types import decode_transaction


def test_percentiles_are_nearest_rank() -> None:
    values = [float(number) for number in range(1, 101)]
    assert compute_percentile(values, 0.50) == 50.0
    assert compute_percentile(values, 0.95) == 95.0
    assert compute_percentile(values, 0.99) == 99.0
    assert compute_percentile(values, 1.0) == 100.0
    assert compute_percentile([7.0], 0.99) == 7.0
    assert compute_percentile([], 0.5) is None


def test_presign_count() -> None:
    open_loop = BenchConfig(rate=100, warmup_s=1, duration_s=9, senders=10)
    assert plan_presign_count(open_loop, verify_rate=1000, node_workers=2) == 1200
    closed = BenchConfig(window=500, warmup_s=1, duration_s=4, senders=10)
    assert plan_presign_count(closed, verify_rate=1000, node_workers=2) == 2000 * 5 * 1.2 + 500
    # Never fewer than one transaction per sender, and an explicit count wins.
    assert plan_presign_count(BenchConfig(rate=1, duration_s=1, warmup_s=0, senders=50), 10, 1) == 50
    assert plan_presign_count(BenchConfig(count=77), 1000, 2) == 77


@pytest.mark.parametrize(
    "options",
    [
        {"senders": 0},
        {"rate": 0},
        {"rate": float("inf")},
        {"window": 0},
        {"batch": 0},
        {"batch": 5001},
        {"duration_s": 0},
        {"endpoint": "http://127.0.0.1:8545"},  # without a funding key
    ],
)
def test_config_rejects(options: dict[str, Any]) -> None:
    with pytest.raises(BenchError):
        BenchConfig(**options)


def test_mode() -> None:
    assert BenchConfig().mode == "closed"
    assert BenchConfig(rate=10).mode == "open"


def test_interleave_round_robins_senders() -> None:
    per_sender = [[("a1", ""), ("a2", ""), ("a3", "")], [("b1", "")], [("c1", ""), ("c2", "")]]
    assert [item[0] for item in interleave(per_sender)] == ["a1", "b1", "c1", "a2", "c2", "a3"]


def test_sign_transfers_builds_valid_transactions() -> None:
    suite = get_suite("ecdsa")
    key = suite.generate_private_key()
    recipient = b"\x01" * 20
    [signed] = sign_transfers("ecdsa", "bench-chain", 77, [(key.secret, 3, recipient)])
    assert len(signed) == 3 and len({transaction_id for transaction_id, _ in signed}) == 3
    transaction = decode_transaction(bytes.fromhex(signed[0][1][2:]))
    assert (transaction.chain_id, transaction.contract, transaction.method) == ("bench-chain", "account", "transfer")
    assert transaction.valid_until_height == 77 and transaction.sender_public_key == key.public_key


def test_read_error() -> None:
    rpc_error = {"code": -32000, "message": "pool full", "data": {"code": "mempool_full", "retryable": True}}
    assert read_error(rpc_error) == ("mempool_full", "pool full", True)
    assert read_error({"code": "tx_duplicate", "message": "again", "retryable": False}) == (
        "tx_duplicate",
        "again",
        False,
    )
    assert read_error({"code": -32601, "message": "nope"}) == ("rpc_-32601", "nope", False)
    assert read_error("garbage")[0] == "remote_error"


def test_split_endpoint() -> None:
    assert split_endpoint("http://127.0.0.1:8545") == ("http://127.0.0.1:8545/rpc", "ws://127.0.0.1:8545/ws")
    assert split_endpoint("https://node.example/rpc") == ("https://node.example/rpc", "wss://node.example/ws")
    with pytest.raises(BenchError):
        split_endpoint("ftp://node")


class _RecordingSubmitter:
    def __init__(self, state: LoadState) -> None:
        self.batches: list[Batch] = []
        self.state = state

    def submit(self, batch: Batch) -> None:
        self.batches.append(batch)
        for (transaction_id, _), at in zip(batch.items, batch.submitted_at, strict=True):
            self.state.pending[transaction_id] = at


def _transactions(count: int) -> deque[tuple[str, str]]:
    return deque((f"id{index}", f"raw{index}") for index in range(count))


def test_open_loop_keeps_the_schedule() -> None:
    state = LoadState()
    submitter = _RecordingSubmitter(state)
    rate = 400.0

    async def run() -> float:
        start = time.perf_counter()
        await run_open_loop(submitter, _transactions(10_000), rate, 50, start + 0.5, start)
        return start

    start = asyncio.run(run())
    sent = sum(len(batch.items) for batch in submitter.batches)
    assert 0.8 * rate * 0.5 <= sent <= rate * 0.5 + 50
    assert all(len(batch.items) <= 50 for batch in submitter.batches)
    # Latency is measured from the scheduled time: item n is due at start + n / rate.
    times = [at for batch in submitter.batches for at in batch.submitted_at]
    assert times == pytest.approx([start + index / rate for index in range(sent)])


def test_closed_loop_keeps_the_window() -> None:
    state = LoadState()
    submitter = _RecordingSubmitter(state)
    window = 100

    async def commit_some() -> None:
        # Plays the node: commits the oldest 40 outstanding transactions every 20 ms.
        for _ in range(10):
            await asyncio.sleep(0.02)
            for transaction_id in list(state.pending)[:40]:
                del state.pending[transaction_id]
                state.committed[transaction_id] = time.perf_counter()
            state.commit_event.set()
            assert len(state.pending) <= window

    async def run() -> None:
        end = time.perf_counter() + 0.3
        await asyncio.gather(
            run_closed_loop(submitter, state, _transactions(10_000), window, 25, end),
            commit_some(),
        )

    asyncio.run(run())
    sent = sum(len(batch.items) for batch in submitter.batches)
    assert sent >= window + 300  # refilled as commits freed room
    assert len(state.pending) <= window


def test_cpu_meter_counts_this_process() -> None:
    meter = CpuMeter(None)
    meter.start()
    meter.stop()
    assert meter.result()["node_cpu_percent"] is None
    own = CpuMeter(os.getpid())
    own.start()
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        pass
    own.stop()
    # A busy loop uses a core, unless other work on the machine takes most of it.
    assert 0 < own.result()["node_cpu_percent"] <= 110


def test_hardware_facts() -> None:
    hardware = get_hardware()
    assert hardware["cores"] >= 1 and hardware["memory_bytes"] > 0 and hardware["cpu_model"]


def _result(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "tps": 100.0,
        "p50_ms": 10.0,
        "p95_ms": 20.0,
        "p99_ms": 30.0,
        "max_ms": 40.0,
        "mode": "closed",
        "rate": None,
        "window": 10,
        "suite": "sm",
        "duration_s": 2.0,
        "node_cpu_percent": 50.0,
        "verify_rate_per_core": 1000.0,
        "tps_to_verify_ratio": 0.1,
        "submitted": 10,
        "committed": 10,
        "succeeded": 10,
        "failed": 0,
        "rejected_retryable": 0,
        "rejected": 0,
        "pending": 0,
        "dropped": 0,
        "lost": 0,
        "blocks_in_window": 3,
        "mean_block_transactions": 3.3,
        "presigned": 12,
        "presign_s": 0.5,
        "hardware": {"cpu_model": "cpu", "cores": 2, "memory_gib": 4.0},
    }
    result.update(changes)
    return result


def test_problems_put_lost_transactions_first() -> None:
    assert describe_problems(_result()) == []
    problems = describe_problems(_result(lost=2, lost_ids=["0xaa", "0xbb"], pending=1, load_exhausted=True))
    assert problems[0].startswith("BUG: 2 acknowledged")
    assert any("pre-signed" in problem for problem in problems)


def test_summary_rows_render_every_figure() -> None:
    rows = dict(summary_rows(_result()))
    assert rows["throughput"] == "100.0 tx/s over 2 s"
    assert rows["latency p50 / p95 / p99"] == "10.0 ms / 20.0 ms / 30.0 ms"
    assert rows["TPS / verify rate"] == "0.100"
