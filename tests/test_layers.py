"""The import direction of docs/architecture.md, enforced.

A module may import only from layers below its own (and from `gusu.errors`
and the package root). The SDK, which runs on clients, may use only crypto,
codec and ledger types, so it never drags node code into an application.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "gusu"

_CORE = ["crypto", "codec", "ledger", "execution", "mempool", "consensus", "network", "node", "api"]


def _below(layer: str) -> set[str]:
    return set(_CORE[: _CORE.index(layer)])


ALLOWED: dict[str, set[str]] = {
    "crypto": set(),
    "codec": {"crypto"},
    "ledger": {"crypto", "codec"},
    "execution": _below("execution"),
    # mempool and consensus are peers: neither imports the other.
    "mempool": _below("mempool"),
    "consensus": _below("mempool"),
    "network": _below("network"),
    "node": _below("node"),
    "api": _below("api"),
    "sdk": {"crypto", "codec", "ledger"},
    "apps": set(_CORE) | {"sdk"},
    "eval": set(_CORE) | {"sdk", "apps"},
    "console": set(_CORE) | {"sdk", "apps", "eval"},
    # devkit runs the executor in-process for contract tests; cli's `gusu contract` uses it.
    "devkit": set(_CORE) | {"sdk"},
    "cli": set(_CORE) | {"sdk", "apps", "eval", "console", "devkit"},
}
ALWAYS_ALLOWED = {"errors", "settings", ""}


def _imported_layers(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "gusu":
                found.add((parts[1] if len(parts) > 1 else "", node.lineno))
    return found


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_every_layer_is_known() -> None:
    packages = {path.name for path in SOURCE.iterdir() if path.is_dir() and not path.name.startswith("__")}
    assert packages <= set(ALLOWED), f"add {packages - set(ALLOWED)} to ALLOWED and docs/architecture.md"


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(SOURCE)))
def test_imports_point_down(path: Path) -> None:
    relative = path.relative_to(SOURCE)
    if len(relative.parts) == 1:
        return  # gusu/__init__.py, errors.py and settings.py sit below every layer
    layer = relative.parts[0]
    allowed = ALLOWED[layer] | ALWAYS_ALLOWED | {layer}
    wrong = sorted((imported, line) for imported, line in _imported_layers(path) if imported not in allowed)
    assert not wrong, f"{relative} imports from layer(s) above or beside it: {wrong}"


def test_root_modules_import_nothing_from_layers() -> None:
    for name in ("__init__.py", "errors.py", "settings.py"):
        assert {layer for layer, _ in _imported_layers(SOURCE / name)} <= {"", "errors"}, name
