"""Fixtures of the transport tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from p2p_helpers import ChainPki


@pytest.fixture
def pki(tmp_path: Path) -> ChainPki:
    return ChainPki(tmp_path / "pki")
