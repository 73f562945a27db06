"""Fixtures for the console tests: one real node with a few transactions, shared by the session.

The node is started through the CLI (`gusu chain init`, `gusu node start --detach`) like a
user would, then given a transfer, a failing transfer and an evidence record, so the
explorer and the verification page have something to show. Starting a node takes a
few seconds, so every console test reads the same one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_helpers import COMMAND_TIMEOUT_S, RECIPIENT, Chain, find_free_port


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


# --- a throw-away PostgreSQL server for the console's metadata store -------------------------


def _find_postgres_bin() -> Path:
    """$GUSU_POSTGRES_BIN, else the newest of Debian's /usr/lib/postgresql/<version>/bin."""
    if "GUSU_POSTGRES_BIN" in os.environ:
        return Path(os.environ["GUSU_POSTGRES_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


POSTGRES_BIN = _find_postgres_bin()
POSTGRES_START_TIMEOUT_S = 60


def _as_cluster_owner(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; as root, run them as Debian's unprivileged "postgres" user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A new cluster in a temporary folder, listening on a unix socket only; removed afterwards.

    Skips when PostgreSQL is not installed (apt `postgresql`, scripts/bootstrap.sh test), which
    fails the test under CI=true. It never touches a system cluster.
    """
    import shutil
    import tempfile

    if not (POSTGRES_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL is not installed ({POSTGRES_BIN}/initdb): apt install postgresql")
    directory = Path(tempfile.mkdtemp(prefix="gusu-console-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        data = directory / "data"
        subprocess.run(
            _as_cluster_owner(
                [str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "gusu", "--auth=trust", "-E", "UTF8"]
            ),
            capture_output=True,
            check=True,
            timeout=POSTGRES_START_TIMEOUT_S,
        )
        port = find_free_port()
        options = f"-c listen_addresses='' -k {directory} -p {port} -c fsync=off"
        subprocess.run(
            _as_cluster_owner(
                [
                    str(POSTGRES_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(directory / "log"),
                    "-w",
                    "start",
                ]
            ),
            capture_output=True,
            check=True,
            timeout=POSTGRES_START_TIMEOUT_S,
        )
        try:
            yield f"postgresql://gusu@/postgres?host={directory}&port={port}"
        finally:
            subprocess.run(
                _as_cluster_owner([str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                check=False,
                timeout=POSTGRES_START_TIMEOUT_S,
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
