"""Fixtures for the CLI tests: an isolated home and environment for every test.

Key files are written with a small scrypt cost (GUSU_KEYFILE_SCRYPT_N) so
the tests stay fast; the production default is untouched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

TEST_SCRYPT_N = "1024"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "home"
    monkeypatch.setenv("GUSU_HOME", str(directory))
    monkeypatch.setenv("GUSU_KEYFILE_SCRYPT_N", TEST_SCRYPT_N)
    monkeypatch.delenv("GUSU_PASSPHRASE", raising=False)
    monkeypatch.delenv("GUSU_ENDPOINT", raising=False)
    return directory


@pytest.fixture
def runner(home: Path) -> CliRunner:
    # stderr kept apart so that tests can check stdout holds only the JSON document.
    return CliRunner()


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    path = tmp_path / "passphrase.txt"
    path.write_text("correct horse battery staple\n", encoding="utf-8")
    return path
