"""The fsynced record log behind the transaction journal: torn tails, corruption, compaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.errors import StorageError
from gusu.node.journal import RecordLog, read_records


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
