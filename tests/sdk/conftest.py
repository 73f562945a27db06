"""Fixtures for the SDK tests: a fake node serving JSON-RPC, and keys for its suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_fake_node import FakeNode

from gusu.crypto import PrivateKey


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[FakeNode]:
    """A running fake node; parametrize indirectly with a suite name to change its suite."""
    fake = FakeNode(getattr(request, "param", "sm"))
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def key(node: FakeNode) -> PrivateKey:
    return node.suite.generate_private_key()
