"""`gusu.sdk.contracts` without a node: parsing the deployer's views, decoding events, handles, generated clients.

(The same calls against a real node: tests/cli/test_cli_contract.py.)
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import pytest

from gusu.codec import Value, encode
from gusu.crypto import PrivateKey, get_suite
from gusu.devkit import DevChain
from gusu.errors import ClientError, CodecError
from gusu.ledger.contractcode import compute_code_hash
from gusu.ledger.types import Event, Hash, Receipt, ReceiptStatus
from gusu.sdk.contracts import (
    CallOutcome,
    ContractHandle,
    ContractInterface,
    Contracts,
    MethodView,
    ParameterView,
    compute_python_annotation,
    decode_events,
    generate_client,
    parse_instance,
    parse_interface,
)

TOKEN = """
from gusu_contract import Map, method, view, migration, require, sender, emit, event, Address

balances = Map("balances")
Transfer = event("Transfer", "from", "to", "amount")


@migration
def setup(initial: int) -> None:
    balances.set(sender(), initial)


@method
def transfer(to: Address, amount: int) -> None:
    require(balances.get(sender(), 0) >= amount, "insufficient balance")
    balances.set(sender(), balances.get(sender(), 0) - amount)
    balances.set(to, balances.get(to, 0) + amount)
    emit(Transfer, sender(), to, amount)


@method
def tag(key: str, labels: list[str], note: str | None) -> None:
    pass


@view
def balance(holder: Address) -> int:
    return balances.get(holder, 0)
"""


@pytest.fixture(scope="module")
def deployed() -> tuple[DevChain, ContractInterface]:
    chain = DevChain()
    chain.deploy("token", TOKEN, 100)
    interface = chain.get_interface("token")
    assert interface is not None
    return chain, interface


def _receipt(*events: Event) -> Receipt:
    return Receipt(Hash(bytes(32)), ReceiptStatus.SUCCESS, encode(None), events, 1, "", "")


def test_the_interface_and_instance_views_parse(deployed: tuple[DevChain, ContractInterface]) -> None:
    chain, interface = deployed
    assert interface.migration == "setup"
    transfer = interface.get_method("transfer")
    assert transfer == MethodView(
        "transfer", "method", (ParameterView("to", "Address"), ParameterView("amount", "int"))
    )
    assert transfer.get_signature() == "transfer(to: Address, amount: int)"
    assert [m.name for m in interface.get_callable()] == ["balance", "tag", "transfer"]
    event = interface.get_event("Transfer")
    assert event is not None and event.fields == ("from", "to", "amount")
    instance = parse_instance("token", chain.view("contracts", "get_instance", "token"))
    assert instance is not None and instance.version == 1 and instance.owner == chain.address("alice")
    assert instance.code_hash == compute_code_hash("sm", TOKEN)
    assert parse_instance("nothing", None) is None


@pytest.mark.parametrize(
    "value",
    [
        None,
        [[], []],
        [[["transfer", "sudo", []]], [], None],
        [[["bad name", "method", []]], [], None],
        [[["transfer", "method", [["class", "int"]]]], [], None],
        [[], [["Transfer", ["a b"]]], None],
        [[], [], 5],
    ],
)
def test_malformed_interfaces_are_refused(value: Value) -> None:
    with pytest.raises(CodecError):
        parse_interface(value)


def test_malformed_instances_are_refused() -> None:
    with pytest.raises(CodecError):
        parse_instance("token", [b"short", bytes(20), 1, 1, 1, 10])


def test_decode_events_names_the_declared_fields(deployed: tuple[DevChain, ContractInterface]) -> None:
    _, interface = deployed
    sender, to = b"\x01" * 20, b"\x02" * 20
    receipt = _receipt(Event("token", "Transfer", encode([sender, to, 7])), Event("other", "Ping", encode([1])))
    transfer, ping = decode_events(receipt, interface)
    assert dict(transfer.fields) == {"from": sender, "to": to, "amount": 7}
    assert ping.fields == {} and ping.data == [1]
    by_contract = decode_events(receipt, {"other": interface})
    assert by_contract[0].fields == {}, "a mapping names only the events of the contracts it lists"
    assert decode_events(receipt)[0].data == [sender, to, 7]
    with pytest.raises(CodecError, match="declares 3 fields"):
        decode_events(_receipt(Event("token", "Transfer", encode([1, 2]))), interface)


class FakeContracts:
    """Records what a handle or a generated client asks of `Contracts`."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def view(self, name: str, method: str, args: Sequence[Value] = (), sender: bytes | None = None) -> Value:
        self.calls.append(("view", name, method, list(args)))
        return 42

    def call(
        self, key: PrivateKey, name: str, method: str, args: Sequence[Value] = (), interface: object = None
    ) -> CallOutcome:
        self.calls.append(("call", name, method, list(args), interface is not None))
        return CallOutcome(_receipt(), None, ())


def test_a_handle_sends_methods_and_calls_views(deployed: tuple[DevChain, ContractInterface]) -> None:
    _, interface = deployed
    fake = FakeContracts()
    handle = ContractHandle(fake, "token", interface)  # type: ignore[arg-type]
    key = get_suite("sm").generate_private_key()
    assert handle.balance(b"\x01" * 20) == 42
    handle.transfer(key, b"\x02" * 20, 5)
    assert fake.calls == [
        ("view", "token", "balance", [b"\x01" * 20]),
        ("call", "token", "transfer", [b"\x02" * 20, 5], True),
    ]
    with pytest.raises(ClientError, match=r"takes 2 argument\(s\), not 1"):
        handle.transfer(key, b"\x02" * 20)
    with pytest.raises(AttributeError, match="has no method or view 'mint'"):
        handle.mint(key, 5)
    with pytest.raises(AttributeError):
        handle.setup(key, 5)  # the migration runs only through deploy and upgrade
    assert "transfer" in dir(handle)


def test_the_generated_client_is_typed_and_calls_through_contracts(
    deployed: tuple[DevChain, ContractInterface],
) -> None:
    _, interface = deployed
    source = generate_client(interface, "token")
    namespace: dict[str, Any] = {}
    exec(compile(source, "token_client.py", "exec"), namespace)  # the generator's own output
    client_class = namespace["TokenClient"]
    transfer = inspect.signature(client_class.transfer)
    annotations = [(name, parameter.annotation) for name, parameter in transfer.parameters.items()]
    assert annotations == [("self", inspect.Parameter.empty), ("key", "PrivateKey"), ("to", "bytes"), ("amount", "int")]
    assert transfer.return_annotation == "CallOutcome"
    tag = inspect.signature(client_class.tag)
    assert list(tag.parameters) == ["self", "signing_key", "key", "labels", "note"], "no clash with a 'key' parameter"
    assert [tag.parameters[n].annotation for n in ("labels", "note")] == ["list[str]", "str | None"]
    assert not hasattr(client_class, "setup")
    assert namespace["INTERFACE"] == interface
    fake = FakeContracts()
    token = client_class(fake)
    key = get_suite("sm").generate_private_key()
    token.transfer(key, b"\x02" * 20, 5)
    assert token.balance(b"\x01" * 20) == 42
    assert fake.calls == [
        ("call", "token", "transfer", [b"\x02" * 20, 5], True),
        ("view", "token", "balance", [b"\x01" * 20]),
    ]


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("Address", "bytes"),
        ("list[Hash]", "list[bytes]"),
        ("int | None", "int | None"),
        ("os.system('x')", "Value"),
        ("int]); import os; (", "Value"),
        ("Evil", "Value"),
        ("", "Value"),
    ],
)
def test_annotations_from_the_chain_are_copied_only_when_they_are_contract_types(
    annotation: str, expected: str
) -> None:
    assert compute_python_annotation(annotation) == expected


def test_generate_client_refuses_a_bad_name(deployed: tuple[DevChain, ContractInterface]) -> None:
    with pytest.raises(ClientError):
        generate_client(deployed[1], "x; import os")


def test_contracts_refuses_an_empty_source() -> None:
    contracts = Contracts(None)  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="non-empty"):
        contracts.deploy(get_suite("sm").generate_private_key(), "token", "  ")
