"""Helpers of the evidence application's end-to-end tests: the `gusu` command line in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

COMMAND_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Gusu:
    def __init__(self, home: Path, endpoint: str, cwd: Path) -> None:
        self.endpoint = endpoint
        self.cwd = cwd
        self.env = {**os.environ, "GUSU_HOME": str(home), "GUSU_ENDPOINT": endpoint, "GUSU_KEYFILE_SCRYPT_N": "1024"}
        self.env.pop("GUSU_PASSPHRASE", None)
        if "PYTHONPATH" in self.env:  # the commands run in `cwd`: a relative path would point elsewhere
            parts = self.env["PYTHONPATH"].split(os.pathsep)
            self.env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(part) for part in parts if part)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", *args],
            env=self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL,
            check=False, cwd=self.cwd,
        )  # fmt: skip
        if check:
            assert completed.returncode == 0, f"gusu {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
        assert "Traceback" not in completed.stderr, completed.stderr
        return completed

    def json(self, *args: str, check: bool = True) -> Any:
        return json.loads(self.run(*args, "--json", check=check).stdout)


def require_tool(name: str) -> str:
    """The tool's path; skips without it, except under CI=true, where a missing tool fails the test."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing (scripts/bootstrap.sh test installs it)")
        pytest.skip(f"{name} is not installed")
    return path
