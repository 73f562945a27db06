"""Shared setup for the execution tests.

If `gusu` is not installed into the virtualenv, the tests import it from the
src/ tree; the helpers module beside this file is importable by name.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("gusu") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
