"""Running a node process in the background, finding it again, and stopping it.

A detached node is `python -m gusu.api.process NODE_DIR` with its output
appended to NODE_DIR/node.log; it announces itself with one JSON line
``{"ready": true, ...}`` there once its endpoints serve, and keeps its pid
in NODE_DIR/node.pid while it runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from gusu.errors import NodeError
from gusu.node.config import CONFIG_FILE_NAME, load_config

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 20
_POLL_INTERVAL_S = 0.05


@dataclass(frozen=True, slots=True)
class StopOutcome:
    pid: int
    killed: bool
    """True when the node ignored SIGTERM for too long and was sent SIGKILL."""
    waited_s: float


def check_node_directory(directory: Path) -> None:
    if not (directory / CONFIG_FILE_NAME).is_file():
        raise NodeError(
            f"{directory} is not a node directory (no {CONFIG_FILE_NAME}); "
            "create a chain with `gusu chain init` or pass --dir NODE_DIR"
        )


def get_api_url(directory: Path) -> str:
    """The http://host:port a node directory's configuration serves on."""
    api = load_config(directory).api
    host = str(api.get("host", "127.0.0.1"))
    port = api.get("port", 8545)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def is_running(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as stopped."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def get_running_pid(directory: Path) -> int | None:
    """The pid in the directory's node.pid if that process still runs."""
    # Read here rather than with gusu.api.process.read_pid, which would load the whole API server.
    try:
        pid = int(load_config(directory).pid_path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and is_running(pid) else None


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES, start: int = 0) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read()
    except OSError:
        return "(no log)"
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def parse_ready_line(line: str) -> dict[str, Any] | None:
    """The ready record if `line` is one, else None."""
    stripped = line.strip()
    if not stripped.startswith("{"):
        return None
    try:
        document = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("ready") is True:
        return document
    return None


def start_detached(directory: Path, timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
    """Start the node of `directory` in the background; its ready record once it serves."""
    check_node_directory(directory)
    config = load_config(directory)
    running = get_running_pid(directory)
    if running is not None:
        raise NodeError(f"a node is already running from {directory} (pid {running}); stop it with `gusu node stop`")
    log_path = config.log_path
    with log_path.open("ab") as log:
        offset = log.tell()
        process = subprocess.Popen(
            [sys.executable, "-m", "gusu.api.process", str(directory)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # Its own session: closing this terminal or pressing Ctrl-C here must not stop it.
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout_s
    while True:
        ready = _find_ready(log_path, offset)
        if ready is not None:
            return ready
        code = process.poll()
        if code is not None:
            raise NodeError(
                f"the node exited with status {code} before serving; last lines of {log_path}:\n"
                + read_log_tail(log_path, start=offset)
            )
        if time.monotonic() > deadline:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
            raise NodeError(
                f"the node did not report ready within {timeout_s:g} s and was stopped; last lines of {log_path}:\n"
                + read_log_tail(log_path, start=offset)
            )
        time.sleep(_POLL_INTERVAL_S)


def _find_ready(log_path: Path, offset: int) -> dict[str, Any] | None:
    try:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return None
    for raw_line in data.decode("utf-8", "replace").splitlines():
        ready = parse_ready_line(raw_line)
        if ready is not None:
            return ready
    return None


def stop_process(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> StopOutcome:
    """SIGTERM `pid`, wait for it to exit, and SIGKILL it if it has not after `timeout_s`."""
    started = time.monotonic()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return StopOutcome(pid=pid, killed=False, waited_s=0.0)
    except PermissionError as error:
        raise NodeError(f"not allowed to stop process {pid}: {error}") from error
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid):
            return StopOutcome(pid=pid, killed=False, waited_s=time.monotonic() - started)
        time.sleep(_POLL_INTERVAL_S)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return StopOutcome(pid=pid, killed=False, waited_s=time.monotonic() - started)
    kill_deadline = time.monotonic() + 5.0
    while is_running(pid) and time.monotonic() < kill_deadline:
        time.sleep(_POLL_INTERVAL_S)
    return StopOutcome(pid=pid, killed=True, waited_s=time.monotonic() - started)


def stop_node(directory: Path, timeout_s: float = STOP_TIMEOUT_S) -> StopOutcome:
    check_node_directory(directory)
    config = load_config(directory)
    pid = get_running_pid(directory)
    if pid is None:
        raise NodeError(f"no node is running from {directory} (no live process in {config.pid_path})")
    outcome = stop_process(pid, timeout_s)
    if outcome.killed:
        # A killed node cannot remove its own pid file.
        config.pid_path.unlink(missing_ok=True)
    return outcome
