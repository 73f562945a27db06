"""The fsynced record log behind the transaction journal: torn tails, corruption, compaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.errors import StorageError
from gusu.node.journal import GROUP_RECORDS_MAX, GroupAppender, RecordLog, read_records


def test_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_records(tmp_path / "absent") == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=200), max_size=20), st.integers(min_value=1, max_value=50))
def test_a_torn_tail_loses_only_the_torn_record(records: list[bytes], cut: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log"
        log = RecordLog(path)
        log.append(records)
        log.close()
        assert read_records(path) == records
        data = path.read_bytes()
        if not data:
            return
        kept_bytes = max(len(data) - cut, 0)
        path.write_bytes(data[:kept_bytes])
        # Exactly the records whose whole frame (8-byte header + body) lies before the cut survive.
        ends = []
        position = 0
        for record in records:
            position += 8 + len(record)
            ends.append(position)
        expected = [record for record, end in zip(records, ends, strict=True) if end <= kept_bytes]
        assert read_records(path) == expected


def test_a_corrupt_record_before_the_tail_refuses_the_whole_log(tmp_path: Path) -> None:
    # A crash tears only the last record; damage with intact records after it is a disk fault, and
    # reading up to it would silently drop "third" (a journaled transaction, or a WAL vote record).
    path = tmp_path / "log"
    log = RecordLog(path)
    log.append([b"first", b"second", b"third"])
    log.close()
    data = bytearray(path.read_bytes())
    data[8 + 5 + 8] ^= 0xFF  # first byte of "second"
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="damaged at byte 13 of 40"):
        read_records(path, "consensus WAL")


def test_a_corrupt_last_record_is_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = RecordLog(path)
    log.append([b"first", b"second"])
    log.close()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert read_records(path) == [b"first"]


def test_a_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    # An append that extended the file but whose data never reached the disk reads back as zeros.
    path = tmp_path / "log"
    log = RecordLog(path)
    log.append([b"first"])
    log.close()
    path.write_bytes(path.read_bytes() + bytes(64))
    assert read_records(path) == [b"first"]


def test_compaction_replaces_the_contents_and_appends_continue(tmp_path: Path) -> None:
    path = tmp_path / "log"
    log = RecordLog(path)
    log.append([b"a", b"b", b"c"])
    log.compact([b"b"])
    log.append([b"d"])
    assert log.size_bytes == path.stat().st_size
    log.close()
    assert read_records(path) == [b"b", b"d"]
    assert not (tmp_path / "log.tmp").exists()


def test_appends_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "log"
    first = RecordLog(path)
    first.append([b"x"])
    first.close()
    second = RecordLog(path)
    second.append([b"y"])
    second.close()
    assert read_records(path) == [b"x", b"y"]


class _CountingLog(RecordLog):
    """A RecordLog that counts its appends and can be made to fail or to block the writer thread."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[int] = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def append(self, raws: Sequence[bytes]) -> None:
        self.gate.wait(5)
        self.calls.append(len(raws))
        if self.fail:
            raise StorageError("disk full")
        super().append(raws)


def test_concurrent_appends_share_fsyncs_and_each_returns_once_its_records_are_written(tmp_path: Path) -> None:
    async def main() -> None:
        log = _CountingLog(tmp_path / "log")
        with ThreadPoolExecutor(max_workers=1) as executor:
            appender = GroupAppender(log, executor)
            log.gate.clear()  # the first append blocks in the writer while 49 more arrive
            first = asyncio.create_task(appender.append([b"r0"]))
            await asyncio.sleep(0.05)
            rest = [asyncio.create_task(appender.append([f"r{index}".encode()])) for index in range(1, 50)]
            await asyncio.sleep(0.05)
            assert not any(task.done() for task in [first, *rest])  # nothing acknowledged before its fsync
            log.gate.set()
            await asyncio.gather(first, *rest)
        assert log.calls == [1, 49]  # two fsyncs for fifty one-record appends
        assert appender.appends == 2
        log.close()
        assert sorted(read_records(tmp_path / "log")) == sorted(f"r{index}".encode() for index in range(50))

    asyncio.run(main())


def test_a_failed_group_append_fails_every_caller_of_the_batch(tmp_path: Path) -> None:
    async def main() -> None:
        log = _CountingLog(tmp_path / "log")
        log.fail = True
        with ThreadPoolExecutor(max_workers=1) as executor:
            appender = GroupAppender(log, executor)
            results = await asyncio.gather(*(appender.append([b"x"]) for _ in range(3)), return_exceptions=True)
            assert all(isinstance(result, StorageError) for result in results)
            log.fail = False
            await appender.append([b"y"])  # the appender carries on after a failure
        log.close()
        assert read_records(tmp_path / "log") == [b"y"]

    asyncio.run(main())


def test_a_group_append_is_bounded(tmp_path: Path) -> None:
    async def main() -> None:
        log = _CountingLog(tmp_path / "log")
        with ThreadPoolExecutor(max_workers=1) as executor:
            appender = GroupAppender(log, executor)
            size = GROUP_RECORDS_MAX // 2 + 1
            await asyncio.gather(*(appender.append([b"z"] * size) for _ in range(3)))
        log.close()
        assert all(count <= GROUP_RECORDS_MAX for count in log.calls)
        assert sum(log.calls) == 3 * size

    asyncio.run(main())
