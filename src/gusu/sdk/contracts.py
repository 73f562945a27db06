"""Deployed contracts from Python: deploy, upgrade, call, read, decode events, generate typed clients.

`Contracts(client)` wraps a blocking `Client`, `AsyncContracts(client)` an
`AsyncClient`; both have the same methods (docs/contracts.md, "Deploying and
the developer kit"). Writes sign a transaction, wait for its receipt and
raise `TransactionFailedError` (with the contract's reason) if it failed;
reads call views. The `contracts` contract's answers become frozen
dataclasses (`InstanceView`, `ContractInterface`); an answer of the wrong
shape raises CodecError.

Two ways to call a contract by its methods' names:

* `contracts.at("token")` returns a `ContractHandle` that reads the
  contract's interface once and then offers its entry points as attributes:
  ``handle.transfer(key, to, 5)`` sends a transaction (the key first),
  ``handle.balance(owner)`` calls a view;
* `generate_client(interface, "token")` writes the Python source of a class
  with one typed method per entry point (`gusu contract client token`), for
  code that wants its editor and mypy to know the contract's signatures.

`decode_events(receipt, interface)` turns a receipt's events into dicts keyed
by the fields the contract declared with ``event("Name", "field", ...)``.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gusu.codec import Value, decode, encode
from gusu.crypto import PrivateKey
from gusu.errors import ClientError, CodecError, TransactionFailedError
from gusu.ledger.contractcode import compute_code_hash
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, Address, Hash, Height, Receipt
from gusu.sdk.client import AsyncClient, Client

DEPLOYER_CONTRACT = "contracts"
"""The native contract that deploys, upgrades and describes deployed contracts."""
METHOD_KINDS = ("method", "view", "migration")
INTERFACE_ENTRIES_MAX = 1_024
"""Methods or events one interface may list: more than any contract the sandbox compiles declares."""
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,63}", re.IGNORECASE)
_ANNOTATION_TOKEN = re.compile(r"[A-Za-z]+|[\[\]|, ]")
_ANNOTATION_TYPES = {"int": "int", "str": "str", "bytes": "bytes", "bool": "bool", "Address": "bytes", "Hash": "bytes"}
_ANNOTATION_SYNTAX = {"list", "None", "[", "]", "|", ",", " "}


# --- typed records --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParameterView:
    name: str
    annotation: str
    """As written in the contract: ``int``, ``Address``, ``list[int]``, ``str | None``, ..."""


@dataclass(frozen=True, slots=True)
class MethodView:
    name: str
    kind: str
    """"method" (a transaction: may write), "view" (read-only, called without a transaction) or "migration"
    (run only by deploy and upgrade: no client calls it)."""
    parameters: tuple[ParameterView, ...]

    @property
    def is_view(self) -> bool:
        return self.kind == "view"

    def get_signature(self) -> str:
        """``transfer(to: Address, amount: int)``."""
        return f"{self.name}({', '.join(f'{p.name}: {p.annotation}' for p in self.parameters)})"


@dataclass(frozen=True, slots=True)
class EventSchema:
    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContractInterface:
    """A deployed contract's entry points and declared events (the `contracts.get_interface` view)."""

    methods: tuple[MethodView, ...]
    events: tuple[EventSchema, ...]
    migration: str | None
    """The function run at deployment and at each upgrade, or None."""

    def get_method(self, name: str) -> MethodView | None:
        return next((item for item in self.methods if item.name == name), None)

    def get_callable(self) -> tuple[MethodView, ...]:
        """The methods and views: what a client may call (not the migration)."""
        return tuple(item for item in self.methods if item.kind != "migration")

    def get_event(self, name: str) -> EventSchema | None:
        return next((item for item in self.events if item.name == name), None)


@dataclass(frozen=True, slots=True)
class InstanceView:
    """A contract deployed at a name (the `contracts.get_instance` view)."""

    name: str
    code_hash: Hash
    owner: Address
    """The account that deployed it: the only one that may upgrade it."""
    deployed_height: Height
    upgraded_height: Height
    version: int
    """1 at deployment, one more at each upgrade."""
    code_bytes: int


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    contract: str
    name: str
    data: Value
    """The event's decoded value: the list of values `emit` was given."""
    fields: Mapping[str, Value]
    """The values by the declared field names; empty when no interface declares this event."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """A contract transaction that succeeded: its receipt, its decoded return value and events."""

    receipt: Receipt
    value: Value
    events: tuple[DecodedEvent, ...]


@dataclass(frozen=True, slots=True)
class Deployed:
    """A deployment or upgrade that succeeded."""

    name: str
    code_hash: Hash
    receipt: Receipt


DEPLOYER_INTERFACE = ContractInterface(
    methods=(),
    events=(
        EventSchema("Deployed", ("name", "code_hash", "owner")),
        EventSchema("Upgraded", ("name", "old_code_hash", "new_code_hash", "version")),
    ),
    migration=None,
)
"""The events of the native `contracts` contract, for `decode_events`."""


# --- parsing --------------------------------------------------------------------------------------


def _fields(value: Value, count: int, what: str) -> list[Value]:
    if not isinstance(value, list) or len(value) != count:
        raise CodecError(f"a {what} must be a list of {count} fields")
    return value


def _entries(value: Value, what: str) -> list[Value]:
    if not isinstance(value, list) or len(value) > INTERFACE_ENTRIES_MAX:
        raise CodecError(f"the {what} must be a list of at most {INTERFACE_ENTRIES_MAX} entries")
    return value


def _identifier(value: Value, what: str) -> str:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value) or keyword.iskeyword(value):
        raise CodecError(f"{what} must be a Python identifier, not {value!r}")
    return value


def _event_name(value: Value, what: str) -> str:
    # Event names and fields are only keys of the decoded dict, so Python keywords ("from") are fine.
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise CodecError(f"{what} must be a name of letters, digits and underscores, not {value!r}")
    return value


def _uint(value: Value, what: str) -> int:
    if type(value) is not int or value < 0:
        raise CodecError(f"{what} must be a non-negative integer")
    return value


def _bytes(value: Value, size: int, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise CodecError(f"{what} must be {size} bytes")
    return value


def parse_interface(value: Value) -> ContractInterface:
    """The interface from the `get_interface` view's value."""
    methods_value, events_value, migration = _fields(value, 3, "contract interface")
    methods: list[MethodView] = []
    for item in _entries(methods_value, "interface's methods"):
        name, kind, parameters_value = _fields(item, 3, "method description")
        if kind not in METHOD_KINDS:
            raise CodecError(f"a method's kind is one of {', '.join(METHOD_KINDS)}, not {kind!r}")
        parameters = []
        for parameter in _entries(parameters_value, "method's parameters"):
            parameter_name, annotation = _fields(parameter, 2, "parameter")
            if not isinstance(annotation, str):
                raise CodecError("a parameter's annotation must be a string")
            parameters.append(ParameterView(_identifier(parameter_name, "a parameter name"), annotation))
        methods.append(MethodView(_identifier(name, "a method name"), str(kind), tuple(parameters)))
    events: list[EventSchema] = []
    for item in _entries(events_value, "interface's events"):
        name, fields_value = _fields(item, 2, "event description")
        fields = tuple(_event_name(field, "an event field") for field in _entries(fields_value, "event's fields"))
        events.append(EventSchema(_event_name(name, "an event name"), fields))
    if migration is not None:
        migration = _identifier(migration, "the migration's name")
    return ContractInterface(tuple(methods), tuple(events), migration)


def parse_instance(name: str, value: Value) -> InstanceView | None:
    """The instance from the `get_instance` view's value (None: nothing is deployed at `name`)."""
    if value is None:
        return None
    code_hash, owner, deployed, upgraded, version, size = _fields(value, 6, "contract instance")
    return InstanceView(
        name=name,
        code_hash=Hash(_bytes(code_hash, HASH_SIZE, "a code hash")),
        owner=Address(_bytes(owner, ADDRESS_SIZE, "an owner address")),
        deployed_height=Height(_uint(deployed, "the deployed height")),
        upgraded_height=Height(_uint(upgraded, "the upgraded height")),
        version=_uint(version, "the version"),
        code_bytes=_uint(size, "the code size"),
    )


def decode_events(
    receipt: Receipt, interface: ContractInterface | Mapping[str, ContractInterface] | None = None
) -> list[DecodedEvent]:
    """The receipt's events, decoded; their fields named by `interface`.

    Give one interface (it names the events it declares, whichever contract
    emitted them) or a mapping of contract name to interface (for a
    transaction whose calls reach several contracts). An event of a declared
    name whose value does not match its fields raises CodecError.
    """
    decoded: list[DecodedEvent] = []
    for event in receipt.events:
        data = decode(event.data)
        schema_source = interface.get(event.contract) if isinstance(interface, Mapping) else interface
        schema = None if schema_source is None else schema_source.get_event(event.name)
        fields: dict[str, Value] = {}
        if schema is not None:
            if not isinstance(data, list) or len(data) != len(schema.fields):
                raise CodecError(
                    f"event {event.contract}.{event.name} declares {len(schema.fields)} fields "
                    f"({', '.join(schema.fields)}) but carries {data!r}"
                )
            fields = dict(zip(schema.fields, data, strict=True))
        decoded.append(DecodedEvent(event.contract, event.name, data, MappingProxyType(fields)))
    return decoded


def get_outcome(receipt: Receipt, what: str, interface: ContractInterface | None = None) -> CallOutcome:
    """A successful receipt's outcome; TransactionFailedError (with the contract's reason) otherwise."""
    if not receipt.is_success:
        raise TransactionFailedError(
            f"{what} failed: {receipt.error_code}: {receipt.error_message}", receipt.error_code
        )
    return CallOutcome(receipt, decode(receipt.return_value), tuple(decode_events(receipt, interface)))


def _deployed(name: str, receipt: Receipt, what: str) -> Deployed:
    value = get_outcome(receipt, what).value
    return Deployed(name, Hash(_bytes(value, HASH_SIZE, "the returned code hash")), receipt)


def _deploy_args(name: str, source: str, args: Sequence[Value]) -> list[Value]:
    if not isinstance(source, str) or not source.strip():
        raise ClientError("a contract's source must be non-empty text (the module's Python code)")
    return [name, source, encode(list(args))]


def _check_arguments(method: MethodView, args: Sequence[Value], contract: str) -> None:
    if len(args) != len(method.parameters):
        raise ClientError(
            f"{contract}.{method.get_signature()} takes {len(method.parameters)} argument(s), not {len(args)}"
        )


# --- the clients -----------------------------------------------------------------------------------


class Contracts:
    """Deployed contracts through a blocking `Client`.

    >>> contracts = Contracts(Client("http://127.0.0.1:8545"))  # doctest: +SKIP
    >>> contracts.deploy(key, "token", Path("contract.py").read_text(), [1_000])  # doctest: +SKIP
    >>> contracts.at("token").transfer(key, bob, 5).events  # doctest: +SKIP
    """

    def __init__(self, client: Client, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self._suite: str | None = None

    def get_suite(self) -> str:
        """The chain's crypto suite (asked once)."""
        if self._suite is None:
            self._suite = self.client.status().suite
        return self._suite

    def compute_code_hash(self, source: str) -> Hash:
        """The code hash of `source` on this chain: what an `approve_contract` proposal names."""
        return compute_code_hash(self.get_suite(), source)

    def is_approval_required(self) -> bool:
        return self.client.call(DEPLOYER_CONTRACT, "is_approval_required", []) is True

    def is_code_approved(self, code_hash: bytes) -> bool:
        """Whether governance approved `code_hash` for deployment (irrelevant where approval is not required)."""
        return self.client.call(DEPLOYER_CONTRACT, "is_code_approved", [bytes(code_hash)]) is True

    def deploy(self, key: PrivateKey, name: str, source: str, args: Sequence[Value] = ()) -> Deployed:
        """Deploy `source` at `name`, running its migration with `args`; the code hash and receipt."""
        receipt = self._send(key, DEPLOYER_CONTRACT, "deploy", _deploy_args(name, source, args))
        return _deployed(name, receipt, f"deploying {name}")

    def upgrade(self, key: PrivateKey, name: str, source: str, args: Sequence[Value] = ()) -> Deployed:
        """Point `name` at new code (owner only), keeping its state and running the new migration."""
        receipt = self._send(key, DEPLOYER_CONTRACT, "upgrade", _deploy_args(name, source, args))
        return _deployed(name, receipt, f"upgrading {name}")

    def call(
        self,
        key: PrivateKey,
        name: str,
        method: str,
        args: Sequence[Value] = (),
        interface: ContractInterface | None = None,
    ) -> CallOutcome:
        """Send `name.method(*args)` signed by `key` and wait; events named by `interface` when given."""
        receipt = self._send(key, name, method, list(args))
        return get_outcome(receipt, f"{name}.{method}", interface)

    def view(self, name: str, method: str, args: Sequence[Value] = (), sender: bytes | None = None) -> Value:
        """Call a view of `name` against the latest state."""
        return self.client.call(name, method, list(args), sender)

    def get_instance(self, name: str) -> InstanceView | None:
        return parse_instance(name, self.client.call(DEPLOYER_CONTRACT, "get_instance", [name]))

    def get_interface(self, name: str) -> ContractInterface | None:
        value = self.client.call(DEPLOYER_CONTRACT, "get_interface", [name])
        return None if value is None else parse_interface(value)

    def get_code(self, code_hash: bytes) -> str | None:
        value = self.client.call(DEPLOYER_CONTRACT, "get_code", [bytes(code_hash)])
        if value is not None and not isinstance(value, str):
            raise CodecError("the get_code view must return text or null")
        return value

    def at(self, name: str) -> ContractHandle:
        """A handle whose attributes are `name`'s entry points (reads its interface now)."""
        interface = self.get_interface(name)
        if interface is None:
            raise ClientError(f"no contract named {name!r} is deployed; deploy it first (gusu contract deploy)")
        return ContractHandle(self, name, interface)

    def _send(self, key: PrivateKey, contract: str, method: str, args: list[Value]) -> Receipt:
        return self.client.send_and_wait(key, contract, method, args, timeout_s=self.timeout_s)


class AsyncContracts:
    """Deployed contracts through an `AsyncClient`: the methods of `Contracts`, awaitable."""

    def __init__(self, client: AsyncClient, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self._suite: str | None = None

    async def get_suite(self) -> str:
        if self._suite is None:
            self._suite = (await self.client.status()).suite
        return self._suite

    async def compute_code_hash(self, source: str) -> Hash:
        return compute_code_hash(await self.get_suite(), source)

    async def is_approval_required(self) -> bool:
        return await self.client.call(DEPLOYER_CONTRACT, "is_approval_required", []) is True

    async def is_code_approved(self, code_hash: bytes) -> bool:
        return await self.client.call(DEPLOYER_CONTRACT, "is_code_approved", [bytes(code_hash)]) is True

    async def deploy(self, key: PrivateKey, name: str, source: str, args: Sequence[Value] = ()) -> Deployed:
        receipt = await self._send(key, DEPLOYER_CONTRACT, "deploy", _deploy_args(name, source, args))
        return _deployed(name, receipt, f"deploying {name}")

    async def upgrade(self, key: PrivateKey, name: str, source: str, args: Sequence[Value] = ()) -> Deployed:
        receipt = await self._send(key, DEPLOYER_CONTRACT, "upgrade", _deploy_args(name, source, args))
        return _deployed(name, receipt, f"upgrading {name}")

    async def call(
        self,
        key: PrivateKey,
        name: str,
        method: str,
        args: Sequence[Value] = (),
        interface: ContractInterface | None = None,
    ) -> CallOutcome:
        receipt = await self._send(key, name, method, list(args))
        return get_outcome(receipt, f"{name}.{method}", interface)

    async def view(self, name: str, method: str, args: Sequence[Value] = (), sender: bytes | None = None) -> Value:
        return await self.client.call(name, method, list(args), sender)

    async def get_instance(self, name: str) -> InstanceView | None:
        return parse_instance(name, await self.client.call(DEPLOYER_CONTRACT, "get_instance", [name]))

    async def get_interface(self, name: str) -> ContractInterface | None:
        value = await self.client.call(DEPLOYER_CONTRACT, "get_interface", [name])
        return None if value is None else parse_interface(value)

    async def get_code(self, code_hash: bytes) -> str | None:
        value = await self.client.call(DEPLOYER_CONTRACT, "get_code", [bytes(code_hash)])
        if value is not None and not isinstance(value, str):
            raise CodecError("the get_code view must return text or null")
        return value

    async def at(self, name: str) -> AsyncContractHandle:
        interface = await self.get_interface(name)
        if interface is None:
            raise ClientError(f"no contract named {name!r} is deployed; deploy it first (gusu contract deploy)")
        return AsyncContractHandle(self, name, interface)

    async def _send(self, key: PrivateKey, contract: str, method: str, args: list[Value]) -> Receipt:
        return await self.client.send_and_wait(key, contract, method, args, timeout_s=self.timeout_s)


class _Handle:
    """The entry points of one deployed contract as attributes (shared by both handles)."""

    def __init__(self, name: str, interface: ContractInterface) -> None:
        self.name = name
        self.interface = interface

    def _get_method(self, attribute: str) -> MethodView:
        method = self.interface.get_method(attribute)
        if method is None or method.kind == "migration":
            known = ", ".join(item.name for item in self.interface.get_callable()) or "none"
            raise AttributeError(f"contract {self.name} has no method or view {attribute!r} (it has: {known})")
        return method

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *(item.name for item in self.interface.get_callable())})


class ContractHandle(_Handle):
    """``handle.METHOD(key, *args)`` sends a transaction and returns its `CallOutcome`;
    ``handle.VIEW(*args)`` returns the view's value. Arguments are counted against the interface."""

    def __init__(self, contracts: Contracts, name: str, interface: ContractInterface) -> None:
        super().__init__(name, interface)
        self.contracts = contracts

    def __getattr__(self, attribute: str) -> Callable[..., Any]:
        method = self._get_method(attribute)
        if method.is_view:

            def call_view(*args: Value) -> Value:
                _check_arguments(method, args, self.name)
                return self.contracts.view(self.name, method.name, args)

            return call_view

        def send(key: PrivateKey, *args: Value) -> CallOutcome:
            _check_arguments(method, args, self.name)
            return self.contracts.call(key, self.name, method.name, args, self.interface)

        return send


class AsyncContractHandle(_Handle):
    """The `ContractHandle` of `AsyncContracts`: each entry point returns an awaitable."""

    def __init__(self, contracts: AsyncContracts, name: str, interface: ContractInterface) -> None:
        super().__init__(name, interface)
        self.contracts = contracts

    def __getattr__(self, attribute: str) -> Callable[..., Awaitable[Any]]:
        method = self._get_method(attribute)
        if method.is_view:

            async def call_view(*args: Value) -> Value:
                _check_arguments(method, args, self.name)
                return await self.contracts.view(self.name, method.name, args)

            return call_view

        async def send(key: PrivateKey, *args: Value) -> CallOutcome:
            _check_arguments(method, args, self.name)
            return await self.contracts.call(key, self.name, method.name, args, self.interface)

        return send


# --- the typed client generator --------------------------------------------------------------------


def compute_python_annotation(annotation: str) -> str:
    """The Python type of a contract annotation (``Address`` is bytes); ``Value`` for anything unknown.

    The annotation comes from the chain, so only contract type names and
    ``list[...]`` / ``| None`` syntax are copied into generated code.
    """
    tokens = _ANNOTATION_TOKEN.findall(annotation)
    if "".join(tokens) != annotation or not tokens:
        return "Value"
    parts: list[str] = []
    for token in tokens:
        if token in _ANNOTATION_TYPES:
            parts.append(_ANNOTATION_TYPES[token])
        elif token in _ANNOTATION_SYNTAX:
            parts.append(token)
        else:
            return "Value"
    return "".join(parts)


def compute_class_name(name: str) -> str:
    """``land_registry`` -> ``LandRegistryClient``."""
    return "".join(part.capitalize() for part in name.split("_") if part) + "Client"


def generate_client(interface: ContractInterface, name: str) -> str:
    """Python source of a class calling contract `name` through `Contracts`, one typed method per entry point.

    A method sends a transaction (``key`` first) and returns a `CallOutcome`;
    a view returns its value. The generated module imports only `gusu.sdk`
    and the codec, so it ships with an application.
    """
    if not IDENTIFIER.fullmatch(name):
        raise ClientError(f"contract name {name!r} is not a contract name")
    class_name = compute_class_name(name)
    lines = [
        f'"""Typed client of the deployed contract `{name}` (generated by `gusu contract client {name}`)."""',
        "",
        "from __future__ import annotations",
        "",
        "from gusu.codec import Value",
        "from gusu.crypto import PrivateKey",
        "from gusu.sdk.contracts import CallOutcome, ContractInterface, Contracts, parse_interface",
        "",
        f"INTERFACE: ContractInterface = parse_interface({_interface_literal(interface)!r})",
        "",
        "",
        f"class {class_name}:",
        f'    """Contract `{name}`: {len(interface.get_callable())} entry point(s), events: '
        f'{", ".join(event.name for event in interface.events) or "none"}."""',
        "",
        f'    def __init__(self, contracts: Contracts, name: str = "{name}") -> None:',
        "        self._contracts = contracts",
        "        self._name = name",
    ]
    for method in interface.get_callable():
        names = [parameter.name for parameter in method.parameters]
        key_name = "key" if "key" not in names else "signing_key"
        typed = [f"{p.name}: {compute_python_annotation(p.annotation)}" for p in method.parameters]
        arguments = "[" + ", ".join(names) + "]"
        lines.append("")
        if method.is_view:
            lines.append(f"    def {method.name}({', '.join(['self', *typed])}) -> Value:")
            lines.append(f'        """view {method.get_signature()}"""')
            lines.append(f'        return self._contracts.view(self._name, "{method.name}", {arguments})')
        else:
            signature = ", ".join(["self", f"{key_name}: PrivateKey", *typed])
            lines.append(f"    def {method.name}({signature}) -> CallOutcome:")
            lines.append(f'        """method {method.get_signature()}: a transaction signed by `{key_name}`."""')
            lines.append(
                f'        return self._contracts.call({key_name}, self._name, "{method.name}", {arguments}, INTERFACE)'
            )
    return "\n".join(lines) + "\n"


def _interface_literal(interface: ContractInterface) -> list[object]:
    return [
        [[m.name, m.kind, [[p.name, p.annotation] for p in m.parameters]] for m in interface.methods],
        [[e.name, list(e.fields)] for e in interface.events],
        interface.migration,
    ]
