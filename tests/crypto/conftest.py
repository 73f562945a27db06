"""Shared fixtures for the crypto tests.

If `gusu` is not installed into the virtualenv (yet), the tests import it
from the src/ tree next to them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("gusu") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import pytest

from gusu.crypto import CryptoSuite, PrivateKey, get_suite


@pytest.fixture(params=["sm", "ecdsa"])
def suite(request: pytest.FixtureRequest) -> CryptoSuite:
    return get_suite(str(request.param))


@pytest.fixture
def key(suite: CryptoSuite) -> PrivateKey:
    return suite.generate_private_key()
