"""The `network` fixture: four validator processes on loopback, all connected to each other, always killed at the end.

It waits for connections, not for a block: the chain makes blocks only when it is sent transactions,
so the tests drive every commit with their load generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import E2ENetwork, running_network


@pytest.fixture
def network(tmp_path: Path) -> Iterator[E2ENetwork]:
    with running_network(tmp_path / "net") as started:
        yield started
