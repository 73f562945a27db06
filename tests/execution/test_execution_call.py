"""Read-only calls: views only, nothing written, failures raised as ExecutionError subclasses."""

from __future__ import annotations

import pytest
from execution_contracts import Probe
from execution_helpers import ALICE, BOB, CHAIN_ID, Chain, get_return, make_transaction

from gusu.codec import decode, encode
from gusu.errors import (
    ContractRevertError,
    ExecutionError,
    InvalidArgumentsError,
    OutOfGasError,
    UnknownContractError,
    UnknownMethodError,
)
from gusu.execution import ContractError, ExecutionLimits, get_default_registry
from gusu.ledger.types import ZERO_HASH


def make_chain(limits: ExecutionLimits | None = None) -> Chain:
    registry = get_default_registry()
    registry.register(Probe)
    return Chain.create(registry, limits)


def test_call_runs_a_view_and_reports_gas() -> None:
    chain = make_chain()
    result = chain.call("account", "balance", [ALICE])
    assert decode(result.return_value) == 1_000_000
    assert result.gas_used > 2_000
    assert result.events == ()


def test_call_refuses_state_changing_methods() -> None:
    chain = make_chain()
    with pytest.raises(UnknownMethodError) as caught:
        chain.call("account", "transfer", [BOB, 1])
    message = str(caught.value)
    assert "account.transfer changes state, so only a transaction can run it" in message
    assert "(balance, is_admin, total_supply)" in message
    assert chain.get_balance(BOB) == 0


def test_call_raises_the_failure() -> None:
    chain = make_chain(ExecutionLimits(gas_per_transaction_max=50_000))
    with pytest.raises(UnknownContractError):
        chain.call("nosuch", "balance", [ALICE])
    with pytest.raises(UnknownMethodError):
        chain.call("account", "nosuch", [ALICE])
    with pytest.raises(InvalidArgumentsError):
        chain.call("account", "balance", [1])
    with pytest.raises(InvalidArgumentsError):
        chain.call("account", "balance", b"\xff\xff")
    with pytest.raises(ContractRevertError):
        chain.call("system", "get_parameter", ["nope"])
    with pytest.raises(ContractError) as caught:
        chain.call("probe", "sneaky_write", [])
    assert str(caught.value) == "probe.sneaky_write is a view and cannot set: views only read state"
    assert isinstance(caught.value, ExecutionError)
    assert caught.value.code == "contract_error"


def test_a_view_that_writes_fails_in_a_transaction_too() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("probe", "sneaky_write", []))
    assert receipt.error_code == "contract_error"


def test_a_view_cannot_loop_forever() -> None:
    chain = make_chain(ExecutionLimits(gas_per_transaction_max=50_000))
    with pytest.raises(OutOfGasError):
        chain.executor.call(chain.state, chain.get_next_block(), "probe", "spin_view", encode([]), ALICE)


def test_call_sees_committed_state_and_writes_nothing() -> None:
    chain = make_chain()
    chain.run(make_transaction("probe", "store", [b"k", 2]))
    reads_before = dict(chain.state.items)
    assert chain.view("probe", "read", b"k") == b"xx"
    assert chain.view("probe", "read", b"absent") is None
    assert chain.state.items == reads_before


def test_the_context_carries_the_block_and_sender() -> None:
    chain = make_chain()
    facts = chain.view("probe", "context_facts")
    assert facts == [ALICE, 0, 1_700_000_000_000, CHAIN_ID, ZERO_HASH]
    transaction = make_transaction("probe", "context_facts", [])
    receipt = chain.run(transaction)
    assert get_return(receipt) == [ALICE, 1, 1_700_000_001_000, CHAIN_ID, transaction.transaction_id]
