"""Fixtures for the console tests: one real node with a few transactions, shared by the session.

The node is started through the CLI (`gusu chain init`, `gusu node start --detach`) like a
user would, then given a transfer, a failing transfer and an evidence record, so the
explorer and the verification page have something to show. Starting a node takes a
few seconds, so every console test reads the same one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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


def _gusu(environment: dict[str, str], *args: str, check: bool = True) -> Any:
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", *args, "--json"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check:
        assert completed.returncode == 0, f"gusu {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}"
    return json.loads(completed.stdout)


@pytest.fixture(scope="session")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    directory = tmp_path_factory.mktemp("console-chain")
    port = find_free_port()
    endpoint = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "GUSU_HOME": str(directory / "home"),
        "GUSU_ENDPOINT": endpoint,
        "GUSU_KEYFILE_SCRYPT_N": "1024",
    }
    environment.pop("GUSU_PASSPHRASE", None)
    layout = _gusu(
        environment, "chain", "init", "--dir", str(directory / "chain"), "--port", str(port), "--workers", "1"
    )
    node_directory = layout["node_directory"]
    _gusu(environment, "node", "start", "--dir", node_directory, "--detach")
    try:
        dev_key = layout["dev_key"]
        transfer = _gusu(environment, "account", "transfer", RECIPIENT, "25", "--key", dev_key)
        failed = _gusu(environment, "account", "transfer", RECIPIENT, str(2**63), "--key", dev_key, check=False)
        document = directory / "contract.txt"
        document.write_bytes(b"Gusu console test: a lease signed 2026-03-01\n" * 1000)
        recorded = _gusu(
            environment, "evidence", "record", str(document), "--metadata", "lease <b>2026</b>", "--key", dev_key
        )
        unrecorded = directory / "unrecorded.txt"
        unrecorded.write_text("never recorded", encoding="utf-8")
        yield Chain(
            endpoint=endpoint,
            dev_address=layout["dev_address"],
            transfer_id=transfer["id"],
            transfer_height=transfer["receipt"]["height"],
            failed_id=failed["id"],
            document=document,
            document_hash=recorded["document_hash"],
            evidence_height=recorded["receipt"]["height"],
            unrecorded=unrecorded,
            environment=environment,
        )
    finally:
        # Whatever happened, no node outlives the session.
        subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", "node", "stop", "--dir", node_directory],
            env=environment,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
