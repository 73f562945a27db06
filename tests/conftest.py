"""Suite-wide rules: under CI=true a skipped test is a failed test; EVM code runs compiled from its first run.

Locally a test may skip when a tool it drives is missing (the openssl
command, iproute2's `ip`, root for network namespaces, an optional Python
package); in CI that would hide a test that never ran, so the same skip
fails, with its reason. `scripts/bootstrap.sh test` installs the Debian
packages these tests need. A test that may legitimately skip even in CI
says so with ``@pytest.mark.ci_may_skip("why")``.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

CI_VARIABLE = "CI"


def is_ci() -> bool:
    return os.environ.get(CI_VARIABLE, "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(autouse=True)
def _evm_segments_compiled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every EVM execution in a test process runs its runs of stack opcodes compiled from the first time
    (`gusu.execution.evm.segments`; a node compiles a run once it has run 64 times), so that every contract the
    tests run, OpenZeppelin's through ethers, web3.py and Hardhat included, goes through the compiled path;
    test_evm_segments.py tests the counting itself. Node processes the tests start run with the default."""
    from gusu.execution.evm import segments

    monkeypatch.setattr(segments, "SEGMENT_RUNS_BEFORE_COMPILE", 0)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ci_may_skip(reason): this test may skip even under CI=true")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_message(reason: str) -> str:
    return (
        f"skipped under {CI_VARIABLE}=true: {reason}. In CI every test must run: install what it needs "
        "(scripts/bootstrap.sh test installs openssl, iproute2, chromium, chromium-driver, nodejs and npm), "
        "or mark it ci_may_skip with a reason."
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail") or not is_ci():
        return
    if item.get_closest_marker("ci_may_skip") is not None:
        return
    report.outcome = "failed"
    report.longrepr = _fail_message(_skip_reason(report))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, None, None]:
    """A whole module skipped at import (pytest.importorskip, allow_module_level skips) fails too."""
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if report.skipped and is_ci():
        report.outcome = "failed"
        report.longrepr = _fail_message(_skip_reason(report))
