"""A local storage fault while executing stops the node; it never becomes a receipt (issue 7, finding 8)."""

from __future__ import annotations

import pytest
from execution_contracts import Probe
from execution_helpers import ALICE, BOB, Chain, make_transaction

from gusu.errors import StorageError
from gusu.execution import get_default_registry


class FailingReads:
    """A committed-state reader whose disk fails for every key not yet read."""

    def __init__(self, items: dict[bytes, bytes]) -> None:
        self.items = items
        self.failing = False

    def get(self, key: bytes) -> bytes | None:
        if self.failing:
            raise StorageError("cannot read the chain store: input/output error")
        return self.items.get(key)


def make_chain() -> tuple[Chain, FailingReads]:
    registry = get_default_registry()
    registry.register(Probe)
    chain = Chain.create(registry)
    reader = FailingReads(chain.state.items)
    return chain, reader


def test_a_read_failure_raises_out_of_the_block_instead_of_failing_the_transaction() -> None:
    chain, reader = make_chain()
    reader.failing = True
    with pytest.raises(StorageError, match="input/output error"):
        transfer = make_transaction("account", "transfer", [BOB, 1])
        chain.executor.execute_block(reader, chain.get_next_block(), [transfer])


def test_a_contract_that_swallows_the_read_failure_cannot_turn_it_into_a_result() -> None:
    chain, reader = make_chain()
    transaction = make_transaction("probe", "read_swallowing", [b"some key"])
    reader.failing = True
    with pytest.raises(StorageError):
        chain.executor.execute_block(reader, chain.get_next_block(), [transaction])


def test_the_same_transactions_execute_normally_when_the_disk_works() -> None:
    chain, reader = make_chain()
    result = chain.executor.execute_block(
        reader,
        chain.get_next_block(),
        [make_transaction("probe", "read_swallowing", [b"some key"]), make_transaction("account", "balance", [ALICE])],
    )
    assert [receipt.is_success for receipt in result.receipts] == [True, True]


def test_a_view_call_reports_the_storage_fault_as_a_storage_error() -> None:
    chain, reader = make_chain()
    reader.failing = True
    with pytest.raises(StorageError):
        chain.executor.call(reader, chain.get_next_block(), "account", "balance", b"\x91\xc4\x14" + ALICE, ALICE)
