"""Micro-benchmark of both suites: signatures per second on this machine.

Run ``python -m gusu.crypto.bench [seconds]`` or call `measure_rates` (the
`gusu bench` command does). After a warm-up, `sign`, `verify` and
`verify_uncached` count operations per second of CPU time of the measuring
thread: a per-core rate that other load on a shared machine barely moves.
`verify_<k>_threads` is wall-clock throughput of k threads sharing one suite
(libcrypto releases the GIL), so it does depend on what else is running.
`verify_uncached` drops the parsed-key caches before every call, the cost of
a key seen for the first time.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from gusu.crypto.registry import get_suite
from gusu.crypto.suite import SUITE_NAMES, CryptoSuite


def _rate(op: Callable[[], object], seconds: float) -> float:
    op()  # warm caches and lazy initialisation outside the window
    count = 0
    start = time.thread_time()
    deadline = start + seconds
    now = start
    while now < deadline or count == 0:
        op()
        count += 1
        now = time.thread_time()
    return count / max(now - start, 1e-9)


def _threaded_rate(op: Callable[[], object], seconds: float, threads: int) -> float:
    op()
    counts = [0] * threads
    stop = threading.Event()

    def worker(index: int) -> None:
        while not stop.is_set():
            op()
            counts[index] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for thread in pool:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.perf_counter() - start)


def _clear_caches(suite: CryptoSuite) -> None:
    if suite.name == "sm":
        from gusu.crypto import sm

        sm.clear_caches()
    else:
        from gusu.crypto import ecdsa

        ecdsa.clear_caches()


def measure_suite(name: str, seconds: float = 2.0) -> dict[str, float]:
    """Rates (operations per second) for one suite."""
    suite = get_suite(name)
    key = suite.generate_private_key()
    message = suite.hash(b"gusu bench payload")
    signature = suite.sign(key, message)
    assert suite.verify(key.public_key, message, signature)

    def verify() -> bool:
        return suite.verify(key.public_key, message, signature)

    def verify_uncached() -> bool:
        _clear_caches(suite)
        return suite.verify(key.public_key, message, signature)

    threads = os.cpu_count() or 1
    return {
        "sign": _rate(lambda: suite.sign(key, message), seconds),
        "verify": _rate(verify, seconds),
        "verify_uncached": _rate(verify_uncached, seconds),
        f"verify_{threads}_threads": _threaded_rate(verify, seconds, threads),
    }


def measure_rates(seconds: float = 2.0) -> dict[str, dict[str, float]]:
    """Rates for every suite: {suite: {operation: per second}}."""
    return {name: measure_suite(name, seconds) for name in SUITE_NAMES}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        seconds = float(args[0]) if args else 2.0
    except ValueError:
        print("usage: python -m gusu.crypto.bench [seconds-per-measurement]", file=sys.stderr)
        return 2
    print(f"cpus: {os.cpu_count()}  seconds per figure: {seconds:g}")
    print("per CPU-second of one thread, except verify_<k>_threads (wall clock)")
    for suite, rates in measure_rates(seconds).items():
        for operation, rate in rates.items():
            print(f"{suite:6} {operation:18} {rate:10,.0f} /s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
