"""Argument decoding and checking, unknown contracts and methods, and contract registration."""

from __future__ import annotations

import pytest
from execution_contracts import Probe, Typed
from execution_helpers import ALICE, BOB, Chain, get_return, make_transaction

from gusu.codec import Value, encode
from gusu.errors import ConfigError
from gusu.execution import Context, Contract, ContractRegistry, get_default_registry, method, view
from gusu.ledger.types import ReceiptStatus


def make_chain() -> Chain:
    registry = get_default_registry()
    registry.register(Typed)
    return Chain.create(registry)


def test_valid_arguments_of_every_type_reach_the_method() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("typed", "scalars", [-5, "文字", b"\x00\x01", True]))
    assert receipt.is_success, receipt.error_message
    assert get_return(receipt) == [-5, "文字", b"\x00\x01", True]
    digest = bytes(range(32))
    assert get_return(chain.run(make_transaction("typed", "identities", [ALICE, digest]))) == [ALICE, digest]
    assert get_return(chain.run(make_transaction("typed", "nested", [[[1, 2], []], None]))) == [[[1, 2], []], None]
    assert get_return(chain.run(make_transaction("typed", "nested", [[], "x"]))) == [[], "x"]


@pytest.mark.parametrize(
    ("method", "args", "fragment"),
    [
        ("scalars", [1, "a", b"b"], "takes 4 arguments (number, text, data, flag), found 3"),
        ("scalars", [1, "a", b"b", True, 5], "takes 4 arguments (number, text, data, flag), found 5"),
        ("scalars", ["1", "a", b"b", True], "argument 1 (number) must be an integer, found str of length 1"),
        ("scalars", [True, "a", b"b", True], "argument 1 (number) must be an integer, found bool True"),
        ("scalars", [1, b"a", b"b", True], "argument 2 (text) must be a string, found bytes of length 1"),
        ("scalars", [1, "a", "b", True], "argument 3 (data) must be a byte string"),
        ("scalars", [1, "a", b"b", 1], "argument 4 (flag) must be a boolean, found int 1"),
        ("identities", [b"\x01" * 19, bytes(32)], "argument 1 (address) must be a 20-byte address, found bytes of len"),
        ("identities", [ALICE, bytes(31)], "argument 2 (digest) must be a 32-byte hash"),
        ("nested", [[[1, "2"]], None], "argument 1 (rows) must be a list of items that are each a list of items"),
        ("nested", [[1], None], "argument 1 (rows) must be a list"),
        ("nested", [[], 5], "argument 2 (maybe) must be None or a string, found int 5"),
    ],
)
def test_wrong_arguments_fail_with_a_message_naming_the_argument(method: str, args: list[Value], fragment: str) -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("typed", method, args))
    assert receipt.status == ReceiptStatus.FAILED
    assert receipt.error_code == "arguments_invalid"
    assert fragment in receipt.error_message
    assert receipt.gas_used > 0
    assert get_return(receipt) is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "not a canonical encoding"),
        (b"\xcd\x00\x01", "not a canonical encoding"),  # 1 in a longer form than needed
        (encode(5), "must encode a list of arguments, found int 5"),
        (b"\x81\xa1a\x01", "not a canonical encoding"),  # a map
        (b"\x91\xcb" + bytes(8), "not a canonical encoding"),  # [0.0]
        (encode([ALICE, 1]) + b"\x00", "not a canonical encoding"),  # trailing bytes
    ],
)
def test_undecodable_arguments_fail(raw: bytes, fragment: str) -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("account", "transfer", raw))
    assert receipt.error_code == "arguments_invalid"
    assert fragment in receipt.error_message


def test_unknown_contract_and_method_fail_and_the_chain_goes_on() -> None:
    chain = make_chain()
    result = chain.run_block(
        make_transaction("nosuch", "transfer", [BOB, 1]),
        make_transaction("account", "steal", [BOB, 1]),
        make_transaction("account", "on_genesis", []),
        make_transaction("account", "_private", []),
        make_transaction("account", "transfer", [BOB, 7]),
    )
    codes = [receipt.error_code for receipt in result.receipts]
    assert codes == ["contract_unknown", "method_unknown", "method_unknown", "method_unknown", ""]
    assert "no contract named 'nosuch'" in result.receipts[0].error_message
    message = result.receipts[0].error_message
    assert "(built-in: account, contracts, evidence, system, typed; none is deployed" in message
    assert "contract account has no method 'steal'" in result.receipts[1].error_message
    assert "transfer" in result.receipts[1].error_message
    assert chain.get_balance(BOB) == 7


def test_every_failed_receipt_charges_at_least_the_transaction_base() -> None:
    chain = make_chain()
    receipt = chain.run(make_transaction("nosuch", "x", []))
    # 2,000 for the transaction plus 2 per byte of args (encode([]) is one byte), plus one state read (200):
    # the lookup of a contract deployed under that name.
    assert receipt.gas_used == 2_202


# --- registration ----------------------------------------------------------------------


class Unannotated(Contract):
    name = "unannotated"

    @method
    def run(self, ctx: Context, amount) -> None:  # type: ignore[no-untyped-def]
        pass


class FloatArgument(Contract):
    name = "floaty"

    @method
    def run(self, ctx: Context, amount: float) -> None:
        pass


class NoContext(Contract):
    name = "no_context"

    @method
    def run(self, amount: int) -> None:
        pass


class Defaulted(Contract):
    name = "defaulted"

    @method
    def run(self, ctx: Context, amount: int = 3) -> None:
        pass


class BadName(Contract):
    name = "Bad-Name"

    @view
    def run(self, ctx: Context) -> None:
        pass


class Empty(Contract):
    name = "empty"


class Impostor(Contract):
    name = "account"

    @view
    def run(self, ctx: Context) -> None:
        pass


@pytest.mark.parametrize(
    ("contract", "fragment"),
    [
        (Unannotated, "parameter amount has no type hint"),
        (FloatArgument, "annotated <class 'float'>, which a contract argument cannot be"),
        (NoContext, "must take (self, ctx: Context, ...)"),
        (Defaulted, "without a default"),
        (BadName, "must be a lowercase identifier"),
        (Empty, "has no @method or @view methods"),
        (Impostor, "a contract named 'account' is already registered"),
    ],
)
def test_registration_rejects_malformed_contracts(contract: type[Contract], fragment: str) -> None:
    registry = get_default_registry()
    with pytest.raises(ConfigError) as caught:
        registry.register(contract)
    assert fragment in str(caught.value)


def test_registry_lists_contracts_and_rejects_duplicates() -> None:
    registry = ContractRegistry([Probe])
    assert registry.get_names() == ("probe",)
    assert "probe" in registry and len(registry) == 1
    with pytest.raises(ConfigError):
        registry.register(Probe)
    assert get_default_registry().get_names() == ("account", "contracts", "evidence", "system")


def test_executor_keeps_the_registry_it_was_built_with() -> None:
    registry = get_default_registry()
    chain = Chain.create(registry)
    registry.register(Typed)
    assert chain.run(make_transaction("typed", "nothing", [])).error_code == "contract_unknown"
