"""Child process of the kill -9 test in test_kv.py: commit numbered batches until killed.

Usage: ``python kv_crash_writer.py STORE_DIR BACKEND``

Batch ``i`` (counting on from the ``last`` key a previous run left) writes, as
one synced batch:

* ``KEYS_PER_BATCH`` keys ``batch/<i>/<j>`` with values `batch_value(i, j)`;
* every ``counter/<c>`` key set to ``i`` (overwrites of existing keys);
* ``marker/<i>`` put and ``marker/<i-1>`` deleted (a delete in the batch);
* ``last`` = ``i``.

After `write` returns it prints ``ack <i>``: from then on batch ``i`` must
survive any crash.  The layout helpers are imported by the test to check what
it finds after the kill.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gusu.ledger.kv import WriteBatch, open_store

KEYS_PER_BATCH = 200
COUNTERS = 50
# Keeps a runaway child from filling the disk if the parent never kills it.
MAX_BATCHES = 100_000

LAST_KEY = b"last"


def batch_key(batch: int, index: int) -> bytes:
    return b"batch/%08d/%04d" % (batch, index)


def batch_value(batch: int, index: int) -> bytes:
    # Long enough to look like real records, unique to (batch, index).
    return (b"value-%d-%d-" % (batch, index)).ljust(96, b"x")


def counter_key(index: int) -> bytes:
    return b"counter/%04d" % index


def marker_key(batch: int) -> bytes:
    return b"marker/%08d" % batch


def main(argv: list[str]) -> int:
    path, backend = Path(argv[1]), argv[2]
    with open_store(path, backend) as store:
        raw_last = store.get(LAST_KEY)
        first = 1 if raw_last is None else int(raw_last) + 1
        for batch_number in range(first, first + MAX_BATCHES):
            batch = WriteBatch()
            for index in range(KEYS_PER_BATCH):
                batch.put(batch_key(batch_number, index), batch_value(batch_number, index))
            for index in range(COUNTERS):
                batch.put(counter_key(index), b"%d" % batch_number)
            batch.put(marker_key(batch_number), b"")
            batch.delete(marker_key(batch_number - 1))
            batch.put(LAST_KEY, b"%d" % batch_number)
            store.write(batch, sync=True)
            print(f"ack {batch_number}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
