"""Shared by the console tests (a uniquely named module: a bare `conftest` import would find another
directory's conftest when the whole suite runs in one session)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT_S = 90
RECIPIENT = "0x" + "42" * 20


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Chain:
    endpoint: str
    dev_address: str
    transfer_id: str
    transfer_height: int
    failed_id: str
    document: Path
    document_hash: str
    evidence_height: int
    unrecorded: Path
    environment: dict[str, str]
