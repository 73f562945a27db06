"""Diagnostics behind `[debug]` settings, off by default: a record of the consensus messages a node received.

With `[debug] received_votes_path` set, the node appends every proposal and vote a peer sent it
(after the signature check, so each is really its signer's) to that file, in its canonical
encoding (`gusu.consensus.encode_message`), one record per message in the framing of
`gusu.node.journal` and flushed to the operating system at once: a process killed with SIGKILL
loses none. Tests read the files of every node to check, from outside the signer, that no
validator signed two different messages for one (height, round, kind), restarts included.

It costs a write per message received, so it is for tests and investigations only.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from gusu.consensus.messages import Message, encode_message
from gusu.errors import StorageError
from gusu.node.journal import HEADER, frame_record, read_records


class ReceivedMessageLog:
    """Append-only file of received consensus messages; a torn last record (a crash) is cut off on open."""

    def __init__(self, path: Path) -> None:
        self._path = path
        records = read_records(path, "received consensus messages")
        intact_bytes = sum(HEADER.size + len(record) for record in records)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO | None = path.open("ab")
            self._file.truncate(intact_bytes)
        except OSError as error:
            raise StorageError(f"cannot open [debug] received_votes_path {path}: {error}") from error

    @property
    def path(self) -> Path:
        return self._path

    def on_message(self, message: Message) -> None:
        if self._file is None:
            return
        raw = encode_message(message)
        try:
            self._file.write(frame_record(raw))
            self._file.flush()
        except OSError as error:
            raise StorageError(f"cannot append to [debug] received_votes_path {self._path}: {error}") from error

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_received_messages(path: Path) -> list[bytes]:
    """The canonical encodings recorded in a `ReceivedMessageLog` file, in the order received."""
    return read_records(path, "received consensus messages")
