"""The `network` fixture: four validator processes on loopback, all at height >= 1, always killed at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import E2ENetwork, running_network


@pytest.fixture
def network(tmp_path: Path) -> Iterator[E2ENetwork]:
    with running_network(tmp_path / "net") as started:
        yield started
