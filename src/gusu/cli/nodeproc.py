"""Running a node process in the background, finding it again, and stopping it.

A detached node is `python -m gusu.api.process NODE_DIR` with its output
appended to NODE_DIR/node.log; it announces itself with one JSON line
``{"ready": true, ...}`` there once its endpoints serve, and keeps its pid
in NODE_DIR/node.pid while it runs. The process primitives are shared with
`gusu net` (`gusu.eval.network`), which runs several such nodes at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gusu.errors import NodeError
from gusu.eval.network import (
    find_ready_record,
    parse_ready_line,
    read_log_tail,
    spawn_node_process,
)
from gusu.eval.network import (
    is_process_running as is_running,
)
from gusu.node.config import CONFIG_FILE_NAME, load_config

__all__ = [
    "READY_TIMEOUT_S",
    "STOP_TIMEOUT_S",
    "StopOutcome",
    "check_node_directory",
    "get_api_url",
    "get_running_pid",
    "is_running",
    "parse_ready_line",
    "read_log_tail",
    "start_detached",
    "stop_node",
    "stop_process",
]

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
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


def get_running_pid(directory: Path) -> int | None:
    """The pid in the directory's node.pid if that process still runs."""
    # Read here rather than with gusu.api.process.read_pid, which would load the whole API server.
    try:
        pid = int(load_config(directory).pid_path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and is_running(pid) else None


def start_detached(directory: Path, timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
    """Start the node of `directory` in the background; its ready record once it serves."""
    check_node_directory(directory)
    config = load_config(directory)
    running = get_running_pid(directory)
    if running is not None:
        raise NodeError(f"a node is already running from {directory} (pid {running}); stop it with `gusu node stop`")
    log_path = config.log_path
    offset = log_path.stat().st_size if log_path.exists() else 0
    # Its own session: closing this terminal or pressing Ctrl-C here must not stop it.
    process = spawn_node_process(directory, log_path)
    deadline = time.monotonic() + timeout_s
    while True:
        ready = find_ready_record(log_path, offset)
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
