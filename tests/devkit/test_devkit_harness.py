"""The developer kit's in-memory chain: accounts, deploy, calls with decoded events, time, reverts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gusu.devkit import DevChain, assert_reverted
from gusu.errors import ConfigError, TransactionFailedError, UnknownMethodError

CLOCK = '''
"""Records the block's height and time; an owner-only counter."""
from gusu_contract import Map, Counter, method, view, migration, require, sender, emit, event
from gusu_contract import block_height, block_timestamp_ms

owner = Map("owner")
ticks = Counter("ticks")
Ticked = event("Ticked", "by", "height", "time_ms")


@migration
def setup(start: int) -> None:
    owner.set(0, sender())
    ticks.set(start)


@method
def tick() -> int:
    require(sender() == owner.get(0), "only the owner ticks")
    ticks.add(1)
    emit(Ticked, sender(), block_height(), block_timestamp_ms())
    return ticks.get()


@view
def count() -> int:
    return ticks.get()


@view
def now() -> list[int]:
    return [block_height(), block_timestamp_ms()]
'''


@pytest.fixture
def chain() -> DevChain:
    return DevChain()


def test_accounts_are_named_funded_and_stable(chain: DevChain) -> None:
    assert chain.get_balance("alice") == chain.balance > 0
    assert chain.get_balance("bob") == chain.balance
    assert chain.get_balance("zed") == 0, "an account made after genesis holds nothing"
    assert DevChain().address("alice") == chain.address("alice") != chain.address("bob")
    assert len(chain.address("alice")) == 20
    assert DevChain(suite="ecdsa").address("alice") != chain.address("alice")


def test_deploy_call_events_and_views(chain: DevChain, tmp_path: Path) -> None:
    path = tmp_path / "contract.py"
    path.write_text(CLOCK, encoding="utf-8")
    deployed = chain.deploy_file("clock", path, 41)
    assert deployed.value == chain.compute_code_hash(CLOCK)
    [event] = deployed.get_events("Deployed")
    assert event.fields == {"name": "clock", "code_hash": deployed.value, "owner": chain.address("alice")}
    ticked = chain.call("clock", "tick")
    assert ticked.value == 42 and ticked.is_success and ticked.gas_used > 0
    [event] = ticked.events
    assert (event.contract, event.name) == ("clock", "Ticked")
    assert event.fields == {"by": chain.address("alice"), "height": ticked.height, "time_ms": chain.time_ms}
    assert chain.view("clock", "count") == 42
    interface = chain.get_interface("clock")
    assert interface is not None and interface.migration == "setup"


def test_reverts_are_asserted_and_unexpected_failures_raise(chain: DevChain) -> None:
    chain.deploy("clock", CLOCK, 0)
    failed = chain.expect_revert("clock", "tick", sender="bob", match="only the owner", code="reverted")
    assert not failed.is_success and failed.value is None
    with pytest.raises(AssertionError, match="expected a failure mentioning"):
        chain.expect_revert("clock", "tick", sender="bob", match="something else")
    with pytest.raises(AssertionError, match="succeeded"):
        chain.expect_revert("clock", "tick")
    with pytest.raises(AssertionError, match="expected error code"):
        assert_reverted(failed, code="out_of_gas")
    with pytest.raises(TransactionFailedError, match="only the owner"):
        chain.call("clock", "tick", sender="bob")
    assert chain.view("clock", "count") == 1, "the failed calls changed nothing"


def test_time_and_height_advance(chain: DevChain) -> None:
    chain.deploy("clock", CLOCK, 0)
    height, time_ms = chain.height, chain.time_ms
    assert chain.view("clock", "now") == [height, time_ms]
    assert chain.advance(5) == height + 5
    chain.advance_time(3_600_000)
    ticked = chain.call("clock", "tick")
    assert ticked.height == height + 6
    assert ticked.events[0].fields["time_ms"] == time_ms + 6 * chain.block_interval_ms + 3_600_000
    with pytest.raises(ConfigError):
        chain.advance_time(-1)


def test_a_governed_chain_deploys_only_approved_code() -> None:
    chain = DevChain(approval_required=True)
    with pytest.raises(TransactionFailedError, match="gusu gov propose approve-contract --code-hash 0x"):
        chain.deploy("clock", CLOCK, 0)
    assert chain.approve(CLOCK).is_success
    assert chain.deploy("clock", CLOCK, 0).is_success


def test_upgrade_keeps_state(chain: DevChain) -> None:
    chain.deploy("clock", CLOCK, 7)
    newer = CLOCK.replace("return ticks.get()\n\n\n@view\ndef now", "return ticks.get() * 10\n\n\n@view\ndef now")
    assert newer != CLOCK
    upgraded = chain.upgrade("clock", newer, 0)
    assert upgraded.get_events("Upgraded")[0].fields["version"] == 2
    assert chain.view("clock", "count") == 0, "the new migration ran"
    with pytest.raises(UnknownMethodError, match="only a transaction"):
        chain.view("clock", "tick")


def test_missing_contract_file_says_what_to_do(chain: DevChain, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gusu contract new"):
        chain.deploy_file("clock", tmp_path / "missing.py")


def test_a_chain_and_a_few_calls_take_well_under_a_second() -> None:
    DevChain()  # imports and caches warmed
    started = time.perf_counter()
    chain = DevChain()
    chain.deploy("clock", CLOCK, 0)
    for _ in range(10):
        chain.call("clock", "tick")
    assert time.perf_counter() - started < 0.5
