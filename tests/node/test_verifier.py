"""Tests of the batched signature verifier (inline and with worker processes) and its cache."""

from __future__ import annotations

import asyncio
import time

import pytest

from gusu.crypto import get_suite
from gusu.errors import ConfigError, MempoolFullError, NodeError, UnknownSuiteError
from gusu.ledger.types import Hash
from gusu.node.verifier import SignatureVerifier, VerifiedSignatures

SUITE = "ecdsa"

Item = tuple[bytes, bytes, bytes]


def make_items(count: int, *, bad_every: int = 3) -> tuple[list[Item], list[bool]]:
    """`count` triples, every `bad_every`-th with a corrupted signature."""
    suite = get_suite(SUITE)
    key = suite.generate_private_key()
    items: list[Item] = []
    expected: list[bool] = []
    for number in range(count):
        message = suite.hash(b"message %d" % number)
        signature = suite.sign(key, message)
        is_good = number % bad_every != 0
        if not is_good:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        items.append((key.public_key, message, signature))
        expected.append(is_good)
    return items, expected


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"workers": -1}, "workers"),
        ({"workers": 65}, "workers"),
        ({"workers": 0, "batch_size_max": 0}, "batch_size_max"),
        ({"workers": 0, "batch_wait_ms": -1.0}, "batch_wait_ms"),
        ({"workers": 0, "queue_items_max": 0}, "queue_items_max"),
    ],
)
def test_invalid_settings_are_named(options: dict[str, int | float], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        SignatureVerifier(SUITE, **options)  # type: ignore[arg-type]


def test_unknown_suite_fails_at_construction() -> None:
    with pytest.raises(UnknownSuiteError):
        SignatureVerifier("rsa", workers=0)


# --- inline ------------------------------------------------------------------------------------


def test_inline_verification() -> None:
    items, expected = make_items(20)

    async def run() -> None:
        verifier = SignatureVerifier(SUITE, workers=0, batch_size_max=7)
        assert await verifier.verify([]) == []
        assert await verifier.verify(items) == expected
        assert await verifier.verify(items[:1]) == expected[:1]
        verifier.close()
        with pytest.raises(NodeError, match="closed"):
            await verifier.verify(items)
        verifier.close()  # closing twice is harmless

    asyncio.run(run())


def test_inline_malformed_items_are_false() -> None:
    async def run() -> list[bool]:
        verifier = SignatureVerifier(SUITE, workers=0)
        return await verifier.verify([(b"not a key", b"m" * 32, bytes(64)), (b"", b"", b"")])

    assert asyncio.run(run()) == [False, False]


# --- worker processes ---------------------------------------------------------------------------


@pytest.mark.slow
def test_process_pool_batches_concurrent_callers() -> None:
    """Two workers; kept to about a second (mostly process start-up)."""
    items, expected = make_items(300)

    async def run() -> None:
        verifier = SignatureVerifier(SUITE, workers=2, batch_size_max=64, batch_wait_ms=2.0, queue_items_max=1_000)
        try:
            # Many small concurrent callers share batches; results stay in order per caller.
            slices = [(start, min(start + 7, len(items))) for start in range(0, len(items), 7)]
            results = await asyncio.gather(*(verifier.verify(items[start:end]) for start, end in slices))
            for (start, end), result in zip(slices, results, strict=True):
                assert result == expected[start:end]
            # One large call is split across batches (and so across both workers).
            assert await verifier.verify(items) == expected
            assert verifier.queued_item_count == 0

            # Bounded queue: a call that would overflow it is refused, retryably.
            first = asyncio.ensure_future(verifier.verify(items * 3))
            await asyncio.sleep(0)
            with pytest.raises(MempoolFullError) as caught:
                await verifier.verify(items)
            assert caught.value.retryable
            assert await first == expected * 3

            # A cancelled caller does not disturb the others.
            doomed = asyncio.ensure_future(verifier.verify(items[:50]))
            kept = asyncio.ensure_future(verifier.verify(items[50:100]))
            await asyncio.sleep(0)
            doomed.cancel()
            assert await kept == expected[50:100]
            assert verifier.queued_item_count == 0
        finally:
            verifier.close()
        with pytest.raises(NodeError):
            await verifier.verify(items[:1])

    started = time.monotonic()
    asyncio.run(run())
    assert time.monotonic() - started < 10


def test_urgent_items_overtake_waiting_ones() -> None:
    """A block's signatures go ahead of a long admission queue (not of batches already in flight)."""
    items, expected = make_items(400)

    async def run() -> None:
        verifier = SignatureVerifier(SUITE, workers=1, batch_size_max=20, batch_wait_ms=2.0, queue_items_max=1_000)
        try:
            await verifier.warm_up()
            finished: list[str] = []

            async def tracked(name: str, batch: list[Item], urgent: bool) -> list[bool]:
                result = await verifier.verify(batch, urgent=urgent)
                finished.append(name)
                return result

            backlog = asyncio.ensure_future(tracked("backlog", items, False))
            await asyncio.sleep(0)
            block = asyncio.ensure_future(tracked("block", items[:5], True))
            assert await block == expected[:5]
            assert await backlog == expected
            assert finished == ["block", "backlog"]

            # A request already waiting can be moved up too (an admission a proposal now waits for).
            backlog = asyncio.ensure_future(verifier.verify(items))
            await asyncio.sleep(0)
            queued = verifier.submit(items[:5])
            verifier.expedite(queued)
            assert await queued == expected[:5]
            assert not backlog.done()
            assert await backlog == expected
        finally:
            verifier.close()

    asyncio.run(run())


@pytest.mark.slow
def test_reuse_across_event_loops_and_oversized_calls() -> None:
    items, expected = make_items(12)
    verifier = SignatureVerifier(SUITE, workers=1, batch_size_max=4, batch_wait_ms=200.0, queue_items_max=10)

    async def fill_a_batch() -> tuple[list[bool], list[bool]]:
        # The first call arms the batch-wait timer; the second fills the
        # batch, which leaves at once: the loop ends with the timer pending.
        return await asyncio.gather(verifier.verify(items[:2]), verifier.verify(items[2:4]))

    async def run(count: int) -> list[bool]:
        return await verifier.verify(items[:count])

    try:
        # A full batch leaves at once: this starts the worker without a timer.
        assert asyncio.run(run(4)) == expected[:4]
        assert list(asyncio.run(fill_a_batch())) == [expected[:2], expected[2:4]]
        # A partial batch on a new loop needs a timer of that loop.
        assert asyncio.run(asyncio.wait_for(run(3), timeout=5)) == expected[:3]
        with pytest.raises(MempoolFullError, match="smaller batches"):
            asyncio.run(run(11))
    finally:
        verifier.close()


@pytest.mark.slow
def test_close_fails_waiting_requests() -> None:
    items, _ = make_items(10)

    async def run() -> None:
        # A long batch wait keeps the request queued until close().
        verifier = SignatureVerifier(SUITE, workers=1, batch_size_max=512, batch_wait_ms=1_000.0)
        waiting = asyncio.ensure_future(verifier.verify(items))
        await asyncio.sleep(0)
        verifier.close()
        with pytest.raises(NodeError, match="closed"):
            await waiting

    asyncio.run(run())


# --- the cache of verified signatures ------------------------------------------------------------


def test_verified_signatures_cache() -> None:
    cache = VerifiedSignatures(capacity=2)
    first, second, third = (Hash(bytes([n]) * 32) for n in (1, 2, 3))
    signature = b"s" * 64
    assert not cache.is_verified(first, signature)
    cache.add(first, signature)
    assert cache.is_verified(first, signature)
    # The id covers the unsigned payload only: other signature bytes are not vouched for.
    assert not cache.is_verified(first, b"t" * 64)
    cache.add(second, signature)
    assert cache.is_verified(first, signature)  # refreshes `first`
    cache.add(third, signature)  # evicts the least recently used: `second`
    assert len(cache) == 2
    assert cache.is_verified(first, signature)
    assert not cache.is_verified(second, signature)
    assert cache.is_verified(third, signature)
    assert cache.capacity == 2


def test_verified_signatures_capacity_is_validated() -> None:
    with pytest.raises(ConfigError):
        VerifiedSignatures(capacity=0)


@pytest.mark.slow
def test_a_saturated_verifier_still_checks_blocks() -> None:
    """Issue 7, finding 7: when admissions fill the queue, a block's check is not refused (which the node
    would have taken as the block being invalid); it goes ahead of the queue instead."""
    items, expected = make_items(300)

    async def run() -> None:
        verifier = SignatureVerifier(SUITE, workers=1, batch_size_max=64, batch_wait_ms=2.0, queue_items_max=600)
        try:
            admissions = asyncio.ensure_future(verifier.verify(items * 2))
            await asyncio.sleep(0)
            with pytest.raises(MempoolFullError):
                await verifier.verify(items[:10])  # an admission is refused, retryably
            assert await verifier.verify(items[:10], urgent=True) == expected[:10]
            # More than the whole queue's worth at once, as a large block may hold.
            assert await verifier.verify(items * 3, urgent=True) == expected * 3
            assert await admissions == expected * 2
        finally:
            verifier.close()

    asyncio.run(run())
