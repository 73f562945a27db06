"""Every contract template's own tests pass against the in-memory chain, as `gusu contract new` writes them."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

from gusu.devkit import DevChain
from gusu.devkit.templates import TEMPLATES, render_template
from gusu.errors import ConfigError

TESTS_PER_TEMPLATE_MIN = 3


def _load_tests(directory: Path, module_name: str) -> object:
    spec = importlib.util.spec_from_file_location(module_name, directory / "test_contract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[module_name]
    return module


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_template_tests_pass(kind: str, tmp_path: Path) -> None:
    name = f"my_{kind}"
    rendered = render_template(kind, name)
    assert "{{" not in rendered.contract_source + rendered.test_source
    (tmp_path / "contract.py").write_text(rendered.contract_source, encoding="utf-8")
    (tmp_path / "test_contract.py").write_text(rendered.test_source, encoding="utf-8")
    module = _load_tests(tmp_path, f"template_{kind}_tests")
    tests = [(n, f) for n, f in vars(module).items() if n.startswith("test_") and inspect.isfunction(f)]
    assert len(tests) >= TESTS_PER_TEMPLATE_MIN, f"template {kind} needs at least {TESTS_PER_TEMPLATE_MIN} tests"
    fixture = getattr(module, "chain", None)
    for test_name, test in tests:
        arguments = {}
        if "chain" in inspect.signature(test).parameters:
            assert fixture is not None, f"{kind}.{test_name} wants the chain fixture"
            arguments["chain"] = fixture.__wrapped__()
        test(**arguments)


def test_a_template_deploys_under_its_given_name() -> None:
    chain = DevChain()
    chain.deploy("ledger_one", render_template("basic", "ledger_one").contract_source, 5)
    assert chain.view("ledger_one", "total_supply") == 5


def test_unknown_templates_and_bad_names_say_what_to_choose() -> None:
    with pytest.raises(ConfigError, match="choose one of: basic"):
        render_template("nope", "x")
    with pytest.raises(ConfigError, match="lowercase letters"):
        render_template("basic", "Bad-Name")
