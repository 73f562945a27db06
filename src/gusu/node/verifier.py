"""Signature verification in worker processes, batched across concurrent callers.

Verifying a signature is the heaviest per-transaction cost of a node and
the GIL keeps it to one core inside the event-loop process, so
`SignatureVerifier` ships batches of (public key, message, signature)
triples to a `ProcessPoolExecutor` running `gusu.crypto.verify_batch`.

Batching. Items of concurrent `verify` calls share batches: a batch leaves
as soon as `batch_size_max` items are waiting, or once the oldest waiting
item has waited `batch_wait_ms`. A large call is split across batches, so
all workers work on it at once. At most two batches per worker are in
flight; the rest wait here, where later items can still join them, which
makes batches grow under load instead of the pool's queue.

Priority. A caller on the critical path (a node checking a proposed
block, on which every validator waits) passes ``urgent=True``: its items
go ahead of everything still waiting here, though not of batches already
in flight.

Bounds. At most `queue_items_max` items are waiting or in flight; past that
`verify` raises MempoolFullError, which is retryable: the node is
saturated, not the transaction wrong.

Processes are started with "spawn", never by forking the event-loop
process, whose threads and loop state a forked child would inherit
half-copied; they are the node's own children and die with it, even on
`kill -9` (PR_SET_PDEATHSIG plus a parent-watching thread). ``workers=0``
verifies on the calling thread instead, for tests and one-core machines.

`VerifiedSignatures` is a bounded LRU memory of signatures already checked,
so that a transaction seen again (in a peer's proposal, say) is not
verified twice.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from gusu.crypto import get_suite, verify_batch
from gusu.errors import ConfigError, MempoolFullError, NodeError, TemporarilyUnavailableError
from gusu.ledger.types import Hash

Item = tuple[bytes, bytes, bytes]
"""(public key, message, signature)."""

WORKERS_LIMIT = 64
BATCH_SIZE_LIMIT = 65_536
BATCH_WAIT_MS_LIMIT = 1_000.0
QUEUE_ITEMS_LIMIT = 10_000_000
BATCHES_IN_FLIGHT_PER_WORKER = 2
"""One running and one queued per worker keeps every worker busy between batches."""


PR_SET_PDEATHSIG = 1
PARENT_POLL_INTERVAL_S = 1.0


def _exit_with_parent(parent_pid: int) -> None:
    """Make this worker die with the node, even when the node is killed with SIGKILL.

    Without this, `kill -9` of a node leaves its verifier processes running
    forever. On Linux the kernel delivers SIGKILL when the parent dies; a
    polling thread covers other systems and the window before prctl.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(PARENT_POLL_INTERVAL_S)

    threading.Thread(target=watch, name="gusu-parent-watch", daemon=True).start()


def _warm_worker(suite_name: str, parent_pid: int) -> None:
    """Worker initializer: die with the node, build the suite once, leave Ctrl-C to the parent."""
    _exit_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    get_suite(suite_name)


def _get_process_context() -> multiprocessing.context.BaseContext:
    # "spawn", not "forkserver": workers must be children of the node itself so
    # that they can die with it; not "fork", which is unsafe in an asyncio process.
    return multiprocessing.get_context("spawn")


class _Request:
    """One `verify` call: its items, the results so far and the caller's future."""

    __slots__ = ("dispatched", "enqueued_s", "future", "items", "remaining", "results")

    def __init__(self, items: list[Item], future: asyncio.Future[list[bool]], enqueued_s: float) -> None:
        self.items = items
        self.future = future
        self.enqueued_s = enqueued_s
        self.dispatched = 0
        """Items before this index have been sent to a worker."""
        self.remaining = len(items)
        """Items whose result has not come back yet."""
        self.results: list[bool] = [False] * len(items)


_Part = tuple[_Request, int, int]
"""A slice [start, end) of one request's items within a batch."""


class SignatureVerifier:
    """Verifies signatures of the chain's suite in `workers` processes (0: inline)."""

    def __init__(
        self,
        suite_name: str,
        workers: int,
        batch_size_max: int = 512,
        batch_wait_ms: float = 2.0,
        queue_items_max: int = 100_000,
    ) -> None:
        if not isinstance(workers, int) or not 0 <= workers <= WORKERS_LIMIT:
            raise ConfigError(f"[verifier] workers must be between 0 and {WORKERS_LIMIT}, not {workers!r}")
        if not isinstance(batch_size_max, int) or not 1 <= batch_size_max <= BATCH_SIZE_LIMIT:
            raise ConfigError(
                f"[verifier] batch_size_max must be between 1 and {BATCH_SIZE_LIMIT}, not {batch_size_max!r}"
            )
        if not 0 <= batch_wait_ms <= BATCH_WAIT_MS_LIMIT:
            raise ConfigError(
                f"[verifier] batch_wait_ms must be between 0 and {BATCH_WAIT_MS_LIMIT:g}, not {batch_wait_ms!r}"
            )
        if not isinstance(queue_items_max, int) or not 1 <= queue_items_max <= QUEUE_ITEMS_LIMIT:
            raise ConfigError(
                f"[verifier] queue_items_max must be between 1 and {QUEUE_ITEMS_LIMIT}, not {queue_items_max!r}"
            )
        get_suite(suite_name)  # fail now, in the parent, on an unknown suite
        self._suite_name = suite_name
        self._workers = workers
        self._batch_size_max = batch_size_max
        self._batch_wait_s = batch_wait_ms / 1000
        self._queue_items_max = queue_items_max
        self._batches_in_flight_max = workers * BATCHES_IN_FLIGHT_PER_WORKER
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0
        """Bumped when a broken pool is replaced, so its other failures do not replace the new one."""
        if workers > 0:
            self._executor = self._create_executor()
        self._pending: deque[_Request] = deque()
        self._pending_items = 0
        self._in_flight_items = 0
        self._batches_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def _create_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=_get_process_context(),
            initializer=_warm_worker,
            initargs=(self._suite_name, os.getpid()),
        )

    async def warm_up(self) -> None:
        """Start the worker processes now, so the first transactions don't wait for them to boot."""
        if self._workers == 0 or self._closed:
            return
        if self._executor is None:
            self._executor = self._create_executor()
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, verify_batch, self._suite_name, []) for _ in range(self._workers))
        )

    # --- queries ------------------------------------------------------------------------

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def queued_item_count(self) -> int:
        """Items waiting or being verified: what `queue_items_max` bounds."""
        return self._pending_items + self._in_flight_items

    # --- verification -------------------------------------------------------------------

    async def verify(self, items: Sequence[Item], *, urgent: bool = False) -> list[bool]:
        """One bool per (public key, message, signature), in order; `urgent` items jump the queue.

        Raises MempoolFullError (retryable) when `queue_items_max` items are
        already waiting (also for a single call of more items than that,
        which must be split), except for `urgent` items, and NodeError if the verifier is closed or a
        worker process died while verifying these items. With ``workers=0``
        the items are verified here, between yields to the event loop, and
        nothing is queued.
        """
        if not items:
            if self._closed:
                raise NodeError("the signature verifier is closed; the node is shutting down")
            return []
        return await self.submit(items, urgent=urgent)

    def submit(self, items: Sequence[Item], *, urgent: bool = False) -> asyncio.Future[list[bool]]:
        """Queue `items` and return the future of their results (see `verify`, which awaits it).

        The future can be handed to `expedite` later, and awaited by several
        callers; cancelling it withdraws whatever of it is still waiting.
        """
        if self._closed:
            raise NodeError("the signature verifier is closed; the node is shutting down")
        if self._executor is None:
            return asyncio.ensure_future(self._verify_inline(items))
        # Urgent work (checking a proposed or synced block) is never refused for lack of room: a block's
        # validity must not depend on how loaded this node is. Its size is bounded by the block limits.
        if not urgent and len(items) > self._queue_items_max:
            raise MempoolFullError(
                f"{len(items)} signatures are more than the verifier holds at once "
                f"({self._queue_items_max}, verifier.queue_items_max); send them in smaller batches"
            )
        if not urgent and self.queued_item_count + len(items) > self._queue_items_max:
            raise MempoolFullError(
                f"signature verification is saturated ({self.queued_item_count} signatures waiting, limit "
                f"{self._queue_items_max}); retry shortly"
            )
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A timer handle of another (likely closed) loop would never fire
            # and would leave partial batches waiting forever.
            if self.queued_item_count:
                raise NodeError("the signature verifier is busy on another event loop")
            self._loop = loop
            self._timer = None
        request = _Request(list(items), loop.create_future(), loop.time())
        if not items:
            request.future.set_result([])
            return request.future
        self._pending_items += len(request.items)
        if urgent:
            self._put_first(request)
        else:
            self._pending.append(request)
        self._dispatch()
        return request.future

    def expedite(self, future: asyncio.Future[list[bool]]) -> None:
        """Move what still waits of the request behind `future` (from `submit`) to the front of the queue."""
        for request in self._pending:
            if request.future is future:
                self._pending.remove(request)
                self._put_first(request)
                self._dispatch()
                return

    def _put_first(self, request: _Request) -> None:
        # A partly dispatched request keeps track of its own items, so any place in the queue works;
        # and an urgent request does not wait for company.
        request.enqueued_s = min(
            request.enqueued_s, (self._loop or asyncio.get_running_loop()).time() - self._batch_wait_s
        )
        self._pending.appendleft(request)

    async def _verify_inline(self, items: Sequence[Item]) -> list[bool]:
        results: list[bool] = []
        for start in range(0, len(items), self._batch_size_max):
            if start:
                # Let other tasks run between batches of a large call.
                await asyncio.sleep(0)
            results.extend(verify_batch(self._suite_name, items[start : start + self._batch_size_max]))
        return results

    def _dispatch(self) -> None:
        """Send every batch that is due, then arrange to come back for a partial one."""
        if self._closed or self._executor is None:
            return
        loop = asyncio.get_running_loop()
        while self._pending and self._batches_in_flight < self._batches_in_flight_max:
            waited_s = loop.time() - self._pending[0].enqueued_s
            if self._pending_items < self._batch_size_max and waited_s < self._batch_wait_s:
                break
            self._send_batch(loop)
        if self._pending and self._timer is None and self._batches_in_flight < self._batches_in_flight_max:
            # With every slot busy a completing batch calls back here; only
            # a partial batch waiting for company needs the timer.
            delay_s = max(self._pending[0].enqueued_s + self._batch_wait_s - loop.time(), 0.0)
            self._timer = loop.call_later(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def _send_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self._executor is not None
        parts: list[_Part] = []
        items: list[Item] = []
        space = self._batch_size_max
        while self._pending and space > 0:
            request = self._pending[0]
            start = request.dispatched
            if request.future.done():
                # Cancelled, or failed with an earlier batch: skip its rest.
                self._pending.popleft()
                self._pending_items -= len(request.items) - start
                continue
            end = min(len(request.items), start + space)
            parts.append((request, start, end))
            items.extend(request.items[start:end])
            request.dispatched = end
            space -= end - start
            self._pending_items -= end - start
            if end == len(request.items):
                self._pending.popleft()
        if not items:
            return
        self._batches_in_flight += 1
        self._in_flight_items += len(items)
        generation = self._generation
        future = loop.run_in_executor(self._executor, verify_batch, self._suite_name, items)
        future.add_done_callback(lambda done: self._on_batch_done(parts, len(items), generation, done))

    def _on_batch_done(
        self, parts: list[_Part], item_count: int, generation: int, done: asyncio.Future[list[bool]]
    ) -> None:
        self._batches_in_flight -= 1
        self._in_flight_items -= item_count
        error = self._get_batch_error(done, item_count, generation)
        if error is not None:
            for request, _, _ in parts:
                if not request.future.done():
                    request.future.set_exception(error)
        else:
            results = done.result()
            offset = 0
            for request, start, end in parts:
                count = end - start
                request.results[start:end] = results[offset : offset + count]
                offset += count
                request.remaining -= count
                if request.remaining == 0 and not request.future.done():
                    request.future.set_result(request.results)
        self._dispatch()

    def _get_batch_error(self, done: asyncio.Future[list[bool]], item_count: int, generation: int) -> Exception | None:
        if done.cancelled():
            return TemporarilyUnavailableError("the signature verifier closed before verifying these signatures; retry")
        error = done.exception()
        if error is None:
            if len(done.result()) != item_count:
                return NodeError("a signature worker returned the wrong number of results")
            return None
        if isinstance(error, BrokenProcessPool):
            # A worker died (killed, out of memory). Replace the pool once,
            # so later requests are served again.
            if generation == self._generation and not self._closed:
                self._replace_executor()
            return TemporarilyUnavailableError("a signature-verification worker process died; retry the request")
        if isinstance(error, Exception):
            return NodeError(f"signature verification failed: {error}")
        return NodeError(f"signature verification was interrupted: {error!r}")

    def _replace_executor(self) -> None:
        broken = self._executor
        self._generation += 1
        self._executor = self._create_executor()
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)

    # --- shutdown --------------------------------------------------------------------------

    def close(self) -> None:
        """Fail the requests still waiting and stop the worker processes.

        Batches already running finish first (shutdown waits for them);
        their callers get their results as usual.
        """
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        error = NodeError("the signature verifier closed before verifying these signatures; retry")
        while self._pending:
            request = self._pending.popleft()
            if not request.future.done() and not request.future.get_loop().is_closed():
                request.future.set_exception(error)
        self._pending_items = 0
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


class VerifiedSignatures:
    """A bounded LRU memory of transactions whose signature verified.

    Keyed by transaction id, but the value is the signature that verified:
    the id covers the unsigned payload only, so a second copy of the same
    transaction may carry different signature bytes, and those must be
    verified on their own rather than inherit the first copy's verdict.
    Only successes are remembered; a failure is cheap to repeat and must
    not block a correctly signed copy.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ConfigError(f"the verified-signature cache capacity must be a positive integer, not {capacity!r}")
        self._capacity = capacity
        self._signatures: OrderedDict[Hash, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._signatures)

    @property
    def capacity(self) -> int:
        return self._capacity

    def is_verified(self, transaction_id: Hash, signature: bytes) -> bool:
        """True if exactly this signature of this transaction verified before."""
        known = self._signatures.get(transaction_id)
        if known is None or known != signature:
            return False
        self._signatures.move_to_end(transaction_id)
        return True

    def add(self, transaction_id: Hash, signature: bytes) -> None:
        """Remember that `signature` verified for `transaction_id`, evicting the least recently used."""
        self._signatures[transaction_id] = signature
        self._signatures.move_to_end(transaction_id)
        if len(self._signatures) > self._capacity:
            self._signatures.popitem(last=False)
