"""Suite lookup by name, and batch verification for worker processes.

Suites are created on first use and then shared, so their key caches are
shared too; `verify_batch` is a plain module-level function so that a
`ProcessPoolExecutor` can pickle it by reference and each worker process
builds (and warms) its own suite.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from gusu.crypto.suite import SUITE_NAMES, CryptoSuite
from gusu.errors import UnknownSuiteError

_suites: dict[str, CryptoSuite] = {}
_lock = threading.Lock()


def get_suite(name: str) -> CryptoSuite:
    """The shared suite called `name` ("sm" or "ecdsa").

    Raises UnknownSuiteError for any other name, and CryptoError if the
    suite's native library is missing from this machine.
    """
    suite = _suites.get(name) if isinstance(name, str) else None
    if suite is not None:
        return suite
    if name not in SUITE_NAMES:
        raise UnknownSuiteError(f"unknown crypto suite {name!r}; choose one of: {', '.join(SUITE_NAMES)}")
    with _lock:
        suite = _suites.get(name)
        if suite is None:
            suite = _create(name)
            _suites[name] = suite
        return suite


def _create(name: str) -> CryptoSuite:
    # Imported here so a machine without libcrypto can still use "ecdsa".
    if name == "sm":
        from gusu.crypto.sm import SmSuite

        return SmSuite()
    from gusu.crypto.ecdsa import EcdsaSuite

    return EcdsaSuite()


def verify_batch(suite_name: str, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Verify (public_key, message, signature) triples; one bool per item.

    A malformed item (wrong shape or types) yields False like any other bad
    signature. An unknown `suite_name` raises UnknownSuiteError.
    """
    suite = get_suite(suite_name)
    results: list[bool] = []
    # Items come from peers via pickling: check their shape, not their hints.
    loose: Sequence[object] = items
    for item in loose:
        if isinstance(item, (tuple, list)) and len(item) == 3:
            results.append(suite.verify(item[0], item[1], item[2]))
        else:
            results.append(False)
    return results
