"""Shared by the console tests (a uniquely named module: a bare `conftest` import would find another
directory's conftest when the whole suite runs in one session)."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")

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
    dev_key: Path
    """The chain's dev key file (the admin of its one organisation), encrypted; its passphrase below."""
    dev_passphrase: str


@contextmanager
def serve_console_in_thread(
    start: Callable[[str], Awaitable[tuple[web.AppRunner, T]]], ready_timeout_s: float = 30
) -> Iterator[T]:
    """Run `start(data_directory)` (which builds the console app, sets it up and starts its site, returning its
    runner and whatever the test wants back) on an event loop in a thread of this process, in a temporary data
    directory; yield what it returned, and stop and clean up the console afterwards."""
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    started: list[tuple[web.AppRunner, T]] = []

    def serve(data_directory: str) -> None:
        asyncio.set_event_loop(loop)
        started.append(loop.run_until_complete(start(data_directory)))
        ready.set()
        loop.run_forever()
        loop.run_until_complete(started[0][0].cleanup())
        loop.close()

    with tempfile.TemporaryDirectory() as data_directory:
        thread = threading.Thread(target=serve, args=(data_directory,), daemon=True)
        thread.start()
        assert ready.wait(ready_timeout_s)
        try:
            yield started[0][1]
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(30)
