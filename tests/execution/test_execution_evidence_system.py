"""The evidence (存证) and system contracts."""

from __future__ import annotations

import hashlib

import pytest
from execution_helpers import (
    ALICE,
    BOB,
    BOB_KEY,
    GENESIS_TIME_MS,
    VALIDATOR,
    VALIDATOR_KEY,
    Chain,
    get_event_data,
    make_genesis,
    make_transaction,
)

from gusu.errors import ContractRevertError, InvalidArgumentsError
from gusu.ledger.genesis import DEFAULT_PARAMETERS

DOCUMENT = hashlib.sha256(b"contract of sale, 2024-05-01").digest()
OTHER = hashlib.sha256(b"another document").digest()


def test_record_stores_who_when_and_metadata() -> None:
    chain = Chain.create()
    receipt = chain.run(make_transaction("evidence", "record", [DOCUMENT, "sale contract"]))
    assert receipt.is_success, receipt.error_message
    assert get_event_data(receipt) == [("Recorded", [DOCUMENT, ALICE, 1])]
    assert chain.view("evidence", "get", DOCUMENT) == [ALICE, 1, GENESIS_TIME_MS + 1_000, "sale contract"]
    assert chain.view("evidence", "get", OTHER) is None


def test_verify_checks_the_submitter() -> None:
    chain = Chain.create()
    chain.run(make_transaction("evidence", "record", [DOCUMENT, ""]))
    assert chain.view("evidence", "verify", DOCUMENT, ALICE) is True
    assert chain.view("evidence", "verify", DOCUMENT, BOB) is False
    assert chain.view("evidence", "verify", OTHER, ALICE) is False


def test_recording_a_hash_twice_reverts_and_the_first_record_stands() -> None:
    chain = Chain.create()
    chain.run(make_transaction("evidence", "record", [DOCUMENT, "first"]))
    chain.run_block()
    receipt = chain.run(make_transaction("evidence", "record", [DOCUMENT, "second"], sender=BOB_KEY))
    assert receipt.error_code == "reverted"
    assert receipt.error_message == f"document 0x{DOCUMENT.hex()} is already recorded at height 1 by 0x{ALICE.hex()}"
    assert chain.view("evidence", "get", DOCUMENT) == [ALICE, 1, GENESIS_TIME_MS + 1_000, "first"]


def test_the_same_hash_twice_in_one_block_records_once() -> None:
    chain = Chain.create()
    result = chain.run_block(
        make_transaction("evidence", "record", [DOCUMENT, "a"]),
        make_transaction("evidence", "record", [DOCUMENT, "b"], sender=BOB_KEY),
    )
    assert [receipt.error_code for receipt in result.receipts] == ["", "reverted"]


def test_record_checks_its_arguments() -> None:
    chain = Chain.create()
    short = chain.run(make_transaction("evidence", "record", [DOCUMENT[:31], "x"]))
    assert short.error_code == "arguments_invalid"
    assert "must be a 32-byte hash" in short.error_message
    long = chain.run(make_transaction("evidence", "record", [DOCUMENT, "m" * 4_097]))
    assert long.error_code == "arguments_invalid"
    assert "metadata is 4097 characters; the limit is 4096" in long.error_message
    assert chain.run(make_transaction("evidence", "record", [DOCUMENT, "文" * 4_096])).is_success


def test_system_reports_the_genesis_parameters() -> None:
    chain = Chain.create()
    for name, value in DEFAULT_PARAMETERS:
        assert chain.view("system", "get_parameter", name) == value
    assert chain.view("system", "get_parameters") == [[name, value] for name, value in DEFAULT_PARAMETERS]


def test_an_unknown_parameter_reverts_and_names_the_known_ones() -> None:
    chain = Chain.create(genesis=make_genesis(parameters=(("block_interval_ms", 500),)))
    with pytest.raises(ContractRevertError) as caught:
        chain.view("system", "get_parameter", "no_such_thing")
    assert str(caught.value) == "this chain has no parameter 'no_such_thing' (parameters: block_interval_ms)"
    with pytest.raises(ContractRevertError):
        chain.view("system", "get_parameter", "")
    with pytest.raises(ContractRevertError):
        chain.view("system", "get_parameter", "x" * 300)
    with pytest.raises(InvalidArgumentsError):
        chain.view("system", "get_parameter", 5)


def test_system_reports_validators_and_admins() -> None:
    chain = Chain.create(genesis=make_genesis(admins=(ALICE, BOB)))
    assert chain.view("system", "get_validators") == [["validator-0", VALIDATOR, VALIDATOR_KEY.public_key, 10]]
    assert chain.view("system", "get_admins") == [ALICE, BOB]


def test_a_system_view_run_as_a_transaction_changes_nothing() -> None:
    chain = Chain.create()
    receipt = chain.run(make_transaction("system", "get_parameters", []))
    # A view may run in a transaction too; it simply changes nothing.
    assert receipt.is_success
    assert not chain.run_block(make_transaction("system", "get_admins", [])).writes
