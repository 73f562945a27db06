"""`gusu console` as a process with a home of its own, for the browser test modules that need no first-run
credential: sharing the session chain's home would use up the credential test_console_browser.py logs in with
(the first console started on an empty store prints it, later ones do not)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from console_helpers import find_free_port


@contextmanager
def run_console_process(endpoint: str, environment: dict[str, str], home: Path) -> Iterator[str]:
    """Start `gusu console --endpoint endpoint` with GUSU_HOME=`home`; yields its URL (no trailing slash)."""
    port = find_free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gusu.cli.main", "console", "--port", str(port), "--endpoint", endpoint, "--json"],
        env={**environment, "GUSU_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield str(json.loads(process.stdout.readline())["url"]).rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=10)
