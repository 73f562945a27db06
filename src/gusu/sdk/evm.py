"""Solidity from Python on any Gusu chain: deploy and call EVM contracts with Gusu transactions.

`EvmContracts(client)` wraps a blocking `Client`, `AsyncEvmContracts(client)`
an `AsyncClient`; both have the same methods. They build ordinary Gusu
transactions to the native `evm` contract (``evm.deploy``, ``evm.call``),
signed with the caller's Gusu key, so they work on `sm` chains (SM2
signatures) as on `ecdsa` ones; reads go through the ``evm.call_static``
view. Arguments are ABI-encoded and results, logs and reverts ABI-decoded
with eth-abi from a compiled artifact (`load_artifact`: Hardhat or solc JSON
with ``abi`` and ``bytecode``). docs/evm.md, "Solidity through the SDK and
CLI", says what differs from Ethereum.

Values follow eth-abi: integers as int, ``address`` as a lower-case
``"0x..."`` string when decoded (a 20-byte bytes or a ``"0x..."`` string when
encoded), ``bytes``/``bytesN`` as bytes, ``string`` as str, tuples and arrays
as tuples. `parse_abi_argument` reads one argument from text (the CLI's
way). A revert raises `EvmRevertError` with the decoded reason, panic code or
custom error; any other failure of a transaction raises
`TransactionFailedError` as `Contracts` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_abi.grammar import parse as parse_abi_type

from gusu.codec import decode
from gusu.crypto import PrivateKey
from gusu.crypto.ecdsa import keccak256
from gusu.errors import ClientError, CodecError, GusuError, RemoteError, TransactionFailedError
from gusu.ledger.jsonview import JSON
from gusu.ledger.types import ADDRESS_SIZE, Address, Receipt
from gusu.sdk.client import AsyncClient, Client

EVM_CONTRACT = "evm"
"""The native contract that runs EVM code (docs/evm.md, "The `evm` contract")."""
LOG_EVENT = "Log"
"""The Gusu event name of an EVM log: data ``[address, [topic, ...], data]``."""
ARTIFACT_BYTES_MAX = 16 * 1024 * 1024
"""The largest artifact file `load_artifact` reads (solc's full output for one contract stays far below)."""
ABI_ENTRIES_MAX = 4_096
"""Functions, events and errors one ABI may list."""
ARGUMENT_TEXT_BYTES_MAX = 1024 * 1024
"""The longest text `parse_abi_argument` reads for one argument."""
TUPLE_DEPTH_MAX = 16
"""Tuples nested in tuples an ABI type may have (Solidity code rarely nests structs more than a few deep)."""
ERROR_SELECTOR = bytes.fromhex("08c379a0")
"""``Error(string)``: what ``require(cond, "reason")`` and ``revert("reason")`` return."""
PANIC_SELECTOR = bytes.fromhex("4e487b71")
"""``Panic(uint256)``: assertion failures, overflow, division by zero (the code says which)."""
_REVERT_DATA = re.compile(r"execution reverted \(data=0x([0-9a-f]*)(\.\.\.)?\)")
_HEX = re.compile(r"(?:0x)?([0-9a-fA-F]*)")
_ADDRESS_TEXT = re.compile(r"0x[0-9a-fA-F]{40}")


# --- artifacts and the ABI -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AbiParameter:
    name: str
    type: str
    """The canonical type: ``uint256``, ``address[]``, ``(uint256,bytes)`` for a tuple."""
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class AbiFunction:
    name: str
    inputs: tuple[AbiParameter, ...]
    outputs: tuple[AbiParameter, ...]
    state_mutability: str
    """``pure``, ``view``, ``nonpayable`` or ``payable``."""

    @property
    def signature(self) -> str:
        """``transfer(address,uint256)``."""
        return f"{self.name}({','.join(p.type for p in self.inputs)})"

    @property
    def selector(self) -> bytes:
        return keccak256(self.signature.encode())[:4]

    @property
    def is_view(self) -> bool:
        return self.state_mutability in ("view", "pure")


@dataclass(frozen=True, slots=True)
class AbiEvent:
    name: str
    inputs: tuple[AbiParameter, ...]
    anonymous: bool

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.inputs)})"

    @property
    def topic(self) -> bytes:
        """topics[0] of its logs (keccak-256 of the signature, on every suite)."""
        return keccak256(self.signature.encode())


@dataclass(frozen=True, slots=True)
class AbiError:
    name: str
    inputs: tuple[AbiParameter, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.inputs)})"

    @property
    def selector(self) -> bytes:
        return keccak256(self.signature.encode())[:4]


@dataclass(frozen=True, slots=True)
class EvmAbi:
    """A contract's ABI: its constructor's inputs, functions, events and custom errors."""

    constructor_inputs: tuple[AbiParameter, ...]
    constructor_payable: bool
    functions: tuple[AbiFunction, ...]
    events: tuple[AbiEvent, ...]
    errors: tuple[AbiError, ...]

    def get_function(self, name_or_signature: str, argument_count: int | None = None) -> AbiFunction:
        """The function named so (or by its signature ``name(type,...)`` when overloaded); ClientError if none."""
        if "(" in name_or_signature:
            found = [f for f in self.functions if f.signature == name_or_signature.replace(" ", "")]
        else:
            found = [f for f in self.functions if f.name == name_or_signature]
            if len(found) > 1 and argument_count is not None:
                found = [f for f in found if len(f.inputs) == argument_count]
        if len(found) == 1:
            return found[0]
        if not found:
            known = ", ".join(sorted({f.name for f in self.functions})) or "none"
            raise ClientError(f"the ABI has no function {name_or_signature!r} (it has: {known})")
        signatures = ", ".join(f.signature for f in found)
        raise ClientError(f"{name_or_signature!r} is overloaded ({signatures}); name one by its signature")

    def get_event(self, topic: bytes) -> AbiEvent | None:
        return next((e for e in self.events if not e.anonymous and e.topic == topic), None)

    def get_error(self, selector: bytes) -> AbiError | None:
        return next((e for e in self.errors if e.selector == selector), None)


@dataclass(frozen=True, slots=True)
class EvmArtifact:
    """A compiled contract: its name, ABI and creation bytecode (the deployed code when the artifact has it)."""

    name: str
    abi: EvmAbi
    bytecode: bytes
    """Init code, without constructor arguments (empty for an ABI-only artifact: it can call, not deploy)."""
    deployed_bytecode: bytes
    abi_json: tuple[Mapping[str, Any], ...] = field(repr=False)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ClientError(message)


def _canonical_type(entry: Mapping[str, Any], what: str, depth: int = 0) -> str:
    _check(depth <= TUPLE_DEPTH_MAX, f"{what} nests tuples more than {TUPLE_DEPTH_MAX} deep")
    _check(isinstance(entry, dict), f"{what} must be an object")
    kind = entry.get("type")
    _check(isinstance(kind, str) and 0 < len(kind) <= 256, f"{what} has no type")
    assert isinstance(kind, str)
    if kind.startswith("tuple"):
        components = entry.get("components")
        if not isinstance(components, list):
            raise ClientError(f"{what} is a tuple without components")
        inner = ",".join(_canonical_type(c, f"{what}'s component", depth + 1) for c in components)
        kind = f"({inner}){kind[len('tuple') :]}"
    try:
        parse_abi_type(kind).validate()
    except Exception as error:  # eth-abi raises several parse errors; all mean a bad type
        raise ClientError(f"{what} has an invalid ABI type {kind!r}: {error}") from None
    return kind


def _parameters(entry: Mapping[str, Any], key: str, what: str) -> tuple[AbiParameter, ...]:
    items = entry.get(key, [])
    _check(isinstance(items, list) and len(items) <= ABI_ENTRIES_MAX, f"{what}'s {key} must be a list")
    parameters = []
    for index, item in enumerate(items):
        _check(isinstance(item, dict), f"{what}'s {key}[{index}] must be an object")
        name = item.get("name") or ""
        _check(isinstance(name, str), f"{what}'s {key}[{index}] has a name that is not text")
        parameters.append(
            AbiParameter(name, _canonical_type(item, f"{what}'s {key}[{index}]"), item.get("indexed") is True)
        )
    return tuple(parameters)


def parse_abi(document: Any) -> EvmAbi:
    """The ABI from its JSON (a list of entries, as solc writes it); ClientError saying what is wrong."""
    _check(isinstance(document, list), 'an ABI must be a JSON list of entries (the artifact\'s "abi")')
    _check(len(document) <= ABI_ENTRIES_MAX, f"the ABI lists more than {ABI_ENTRIES_MAX} entries")
    constructor_inputs: tuple[AbiParameter, ...] = ()
    constructor_payable = False
    functions: list[AbiFunction] = []
    events: list[AbiEvent] = []
    errors: list[AbiError] = []
    for index, entry in enumerate(document):
        _check(isinstance(entry, dict), f"ABI entry {index} must be an object")
        kind = entry.get("type", "function")
        name = entry.get("name", "")
        what = f"ABI entry {index} ({name or kind})"
        if kind in ("function", "event", "error"):
            _check(isinstance(name, str) and bool(name), f"{what} has no name")
        if kind == "constructor":
            constructor_inputs = _parameters(entry, "inputs", what)
            constructor_payable = entry.get("stateMutability") == "payable" or entry.get("payable") is True
        elif kind == "function":
            mutability = entry.get("stateMutability") or ("view" if entry.get("constant") else "nonpayable")
            _check(mutability in ("pure", "view", "nonpayable", "payable"), f"{what} has an unknown stateMutability")
            functions.append(
                AbiFunction(name, _parameters(entry, "inputs", what), _parameters(entry, "outputs", what), mutability)
            )
        elif kind == "event":
            events.append(AbiEvent(name, _parameters(entry, "inputs", what), entry.get("anonymous") is True))
        elif kind == "error":
            errors.append(AbiError(name, _parameters(entry, "inputs", what)))
        else:
            _check(kind in ("fallback", "receive"), f"{what} has an unknown type {kind!r}")
    return EvmAbi(constructor_inputs, constructor_payable, tuple(functions), tuple(events), tuple(errors))


def _parse_bytecode(value: Any, what: str) -> bytes:
    if isinstance(value, dict):  # solc's standard JSON: {"object": "..."}
        value = value.get("object", "")
    _check(isinstance(value, str), f"the artifact's {what} must be hex text")
    assert isinstance(value, str)
    if "__" in value:
        raise ClientError(
            f"the artifact's {what} has unlinked library placeholders (__...__); deploy the libraries and "
            "link their addresses into the bytecode first (Hardhat's linkLibraries, solc --libraries)"
        )
    matched = _HEX.fullmatch(value)
    _check(matched is not None and len(matched.group(1)) % 2 == 0, f"the artifact's {what} is not hex bytes")
    assert matched is not None
    return bytes.fromhex(matched.group(1))


def parse_artifact(document: Any, name: str = "") -> EvmArtifact:
    """An artifact from its JSON: Hardhat's (``abi``, ``bytecode``, ``deployedBytecode``) or solc's output
    for one contract (``abi``, ``evm.bytecode.object``); a bare ABI list is an ABI-only artifact."""
    if isinstance(document, list):
        document = {"abi": document}
    _check(isinstance(document, dict), 'an artifact must be a JSON object with "abi" and "bytecode"')
    _check("abi" in document, 'the artifact has no "abi"; give the compiler\'s JSON output for one contract')
    abi_json = document["abi"]
    if isinstance(abi_json, str):  # solc --combined-json writes the ABI as a JSON string
        try:
            abi_json = json.loads(abi_json)
        except (ValueError, RecursionError):
            raise ClientError('the artifact\'s "abi" is text but not JSON') from None
    abi = parse_abi(abi_json)
    evm_section = document.get("evm") if isinstance(document.get("evm"), dict) else {}
    bytecode = _parse_bytecode(document.get("bytecode", evm_section.get("bytecode", "")), "bytecode")
    deployed = _parse_bytecode(
        document.get("deployedBytecode", evm_section.get("deployedBytecode", "")), "deployedBytecode"
    )
    contract_name = document.get("contractName") or name
    _check(isinstance(contract_name, str), "the artifact's contractName must be text")
    return EvmArtifact(str(contract_name), abi, bytecode, deployed, tuple(abi_json))


def load_artifact(path: str | Path) -> EvmArtifact:
    """Read a compiled contract's JSON file (`parse_artifact`), with messages naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(ARTIFACT_BYTES_MAX + 1)
    except OSError as error:
        raise ClientError(f"cannot read the artifact {path}: {error.strerror or error}") from None
    _check(len(raw) <= ARTIFACT_BYTES_MAX, f"{path} is larger than {ARTIFACT_BYTES_MAX} bytes; is it an artifact?")
    try:
        document = json.loads(raw)
    except RecursionError:
        raise ClientError(f"{path} nests JSON too deeply to be an artifact") from None
    except ValueError as error:
        raise ClientError(f"{path} is not JSON ({error}); give a compiled artifact (Hardhat or solc JSON)") from None
    try:
        return parse_artifact(document, path.stem)
    except ClientError as error:
        raise ClientError(f"{path}: {error}") from None


# --- encoding and decoding -------------------------------------------------------------------------


def _encode(parameters: Sequence[AbiParameter], args: Sequence[Any], what: str) -> bytes:
    if len(args) != len(parameters):
        raise ClientError(f"{what} takes {len(parameters)} argument(s), not {len(args)}")
    try:
        return abi_encode([p.type for p in parameters], list(args))
    except (EncodingError, TypeError, ValueError, OverflowError) as error:
        raise ClientError(f"the arguments of {what} do not fit its ABI types: {error}") from None


def _decode(parameters: Sequence[AbiParameter], data: bytes, what: str) -> tuple[Any, ...]:
    try:
        return tuple(abi_decode([p.type for p in parameters], data))
    except (DecodingError, ValueError, OverflowError) as error:
        raise CodecError(f"{what} does not decode with its ABI types: {error}") from None


def compute_runtime_code_hash(artifact: EvmArtifact) -> bytes:
    """keccak-256 of the artifact's deployed code: what a governed chain's `approve_contract` must name.

    Exact for contracts without ``immutable`` variables; the deployed code of one with them embeds
    constructor values, so its hash is known only after the constructor ran (the refusal names it).
    """
    if not artifact.deployed_bytecode:
        raise ClientError(f"the artifact {artifact.name} has no deployedBytecode; its code hash cannot be computed")
    return keccak256(artifact.deployed_bytecode)


def encode_constructor(artifact: EvmArtifact, args: Sequence[Any] = ()) -> bytes:
    """Init code: the artifact's bytecode followed by the ABI-encoded constructor arguments."""
    if not artifact.bytecode:
        raise ClientError(
            f"the artifact {artifact.name or ''} has no bytecode; it can call a contract but not deploy one"
        )
    what = f"the constructor of {artifact.name or 'the contract'}"
    return artifact.bytecode + _encode(artifact.abi.constructor_inputs, args, what)


def encode_call(function: AbiFunction, args: Sequence[Any] = ()) -> bytes:
    """Call data: the 4-byte selector followed by the ABI-encoded arguments."""
    return function.selector + _encode(function.inputs, args, function.signature)


def decode_result(function: AbiFunction, data: bytes) -> Any:
    """A function's return data: None without outputs, the value for one output, else a tuple."""
    values = _decode(function.outputs, data, f"the return data of {function.signature}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


@dataclass(frozen=True, slots=True)
class EvmLog:
    """One EVM log from a receipt's `evm.Log` events."""

    address: str
    """The emitting contract, lower-case ``0x`` hex."""
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class DecodedLog:
    log: EvmLog
    event: str | None
    """The event's name; None when no ABI given declares it (the log is then kept undecoded)."""
    args: Mapping[str, Any]
    """The event's values by parameter name (``arg0``, ... for unnamed ones); an indexed string, bytes
    or array is the keccak-256 hash the topic holds."""


def get_evm_logs(receipt: Receipt) -> list[EvmLog]:
    """The EVM logs of a receipt in execution order (its ``evm.Log`` events); CodecError if one is malformed."""
    logs = []
    for event in receipt.events:
        if event.contract != EVM_CONTRACT or event.name != LOG_EVENT:
            continue
        value = decode(event.data)
        if not isinstance(value, list) or len(value) != 3:
            raise CodecError("an evm.Log event must carry [address, [topic, ...], data]")
        address, topics, data = value
        if not isinstance(address, bytes) or len(address) != ADDRESS_SIZE or not isinstance(data, bytes):
            raise CodecError("an evm.Log event's address must be 20 bytes and its data bytes")
        if (
            not isinstance(topics, list)
            or len(topics) > 4
            or any(not isinstance(t, bytes) or len(t) != 32 for t in topics)
        ):
            raise CodecError("an evm.Log event's topics must be at most 4 hashes of 32 bytes")
        logs.append(EvmLog("0x" + address.hex(), tuple(t for t in topics if isinstance(t, bytes)), data))
    return logs


def decode_log(log: EvmLog, abi: EvmAbi) -> DecodedLog:
    """The log decoded by the event of `abi` its first topic names (undecoded when none does)."""
    event = abi.get_event(log.topics[0]) if log.topics else None
    if event is None:
        return DecodedLog(log, None, MappingProxyType({}))
    indexed = [p for p in event.inputs if p.indexed]
    if len(indexed) != len(log.topics) - 1:
        return DecodedLog(log, None, MappingProxyType({}))  # same signature, other indexing: not this event
    what = f"the log of {event.signature}"
    unindexed = iter(_decode([p for p in event.inputs if not p.indexed], log.data, what))
    topics = iter(log.topics[1:])
    args: dict[str, Any] = {}
    for index, parameter in enumerate(event.inputs):
        key = parameter.name or f"arg{index}"
        if not parameter.indexed:
            args[key] = next(unindexed)
        elif _is_hashed_when_indexed(parameter.type):
            args[key] = next(topics)
        else:
            args[key] = _decode([parameter], next(topics), what)[0]
    return DecodedLog(log, event.name, MappingProxyType(args))


def _is_hashed_when_indexed(abi_type: str) -> bool:
    return abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type.startswith("(")


def decode_logs(receipt: Receipt, abi: EvmAbi | None = None) -> list[DecodedLog]:
    """The receipt's EVM logs, decoded by `abi`'s events where it declares them."""
    empty: EvmAbi = abi or EvmAbi((), False, (), (), ())
    return [decode_log(log, empty) for log in get_evm_logs(receipt)]


# --- logs on the chain: eth_getLogs by address, block range and topics -----------------------------

LOGS_BLOCK_RANGE_MAX = 1_000
"""Blocks one `query_logs` spans by default: the node's default ``[eth] logs_block_range_max`` (a node
configured lower refuses a wider range with ``request_too_large``; pass its limit as `block_range_max`)."""
LOGS_BLOCK_RANGE_LIMIT = 1_000_000
"""The widest `block_range_max` accepted (the node's own setting cannot go higher)."""
LOG_TOPIC_POSITIONS_MAX = 4
"""Topic positions a filter may constrain (an EVM log has at most four topics)."""
LOG_TOPIC_CHOICES_MAX = 256
"""Alternatives one topic position may list: the node's default ``[eth] log_filter_topics_per_position_max``."""
_QUANTITY_DIGITS_MAX = 16

TopicChoice = bytes | str
"""A 32-byte topic, as bytes or ``0x`` + 64 hex digits."""
TopicPosition = TopicChoice | Sequence[TopicChoice] | None
"""One position of a topic filter: a topic, any of several (a list), or None for any."""


@dataclass(frozen=True, slots=True)
class ChainLog:
    """One EVM log `query_logs` found: where it is on the chain, and its event decoded by the ABI given."""

    block_height: int
    block_hash: bytes
    transaction_id: bytes
    """The Gusu transaction id (what eth_getLogs calls ``transactionHash``: the same 32 bytes)."""
    transaction_index: int
    log_index: int
    """The log's position among its block's logs (eth_getLogs' ``logIndex``)."""
    decoded: DecodedLog


def _topic_bytes(value: TopicChoice, what: str) -> bytes:
    if isinstance(value, bytes):
        _check(len(value) == 32, f"{what} must be 32 bytes, not {len(value)}")
        return value
    _check(isinstance(value, str), f"{what} must be 32 bytes or 0x + 64 hex digits")
    matched = _HEX.fullmatch(value)
    _check(
        value[:2].lower() == "0x" and matched is not None and len(matched.group(1)) == 64,
        f"{what} must be 0x and 64 hex digits, not {value[:70]!r}",
    )
    return bytes.fromhex(value[2:])


def compute_log_filter(
    address: str | bytes,
    from_height: int,
    to_height: int,
    topics: Sequence[TopicPosition] = (),
    *,
    block_range_max: int = LOGS_BLOCK_RANGE_MAX,
) -> dict[str, JSON]:
    """The eth_getLogs filter for `address`'s logs in blocks `from_height`..`to_height` (both included) whose
    topics match `topics` position by position; ClientError when it is outside the limits the node applies."""
    _check(
        type(block_range_max) is int and 1 <= block_range_max <= LOGS_BLOCK_RANGE_LIMIT,
        f"block_range_max must be a whole number from 1 to {LOGS_BLOCK_RANGE_LIMIT}",
    )
    for name, height in (("from_height", from_height), ("to_height", to_height)):
        _check(type(height) is int and 0 <= height < 2**63, f"{name} must be a block height, not {height!r}")
    _check(from_height <= to_height, f"from_height {from_height} is after to_height {to_height}")
    span = to_height - from_height + 1
    _check(
        span <= block_range_max,
        f"blocks {from_height} to {to_height} are {span} blocks; one query spans at most {block_range_max}: "
        "split the range",
    )
    _check(
        isinstance(topics, Sequence)
        and not isinstance(topics, (str, bytes))
        and len(topics) <= LOG_TOPIC_POSITIONS_MAX,
        f"topics is a list of at most {LOG_TOPIC_POSITIONS_MAX} positions",
    )
    topics_json: list[JSON] = []
    for position, choice in enumerate(topics):
        what = f"topics[{position}]"
        if choice is None:
            topics_json.append(None)
        elif isinstance(choice, (bytes, str)):
            topics_json.append("0x" + _topic_bytes(choice, what).hex())
        else:
            _check(
                isinstance(choice, Sequence) and 0 < len(choice) <= LOG_TOPIC_CHOICES_MAX,
                f"{what} lists 1 to {LOG_TOPIC_CHOICES_MAX} alternatives",
            )
            topics_json.append(["0x" + _topic_bytes(item, f"{what}'s alternative").hex() for item in choice])
    while topics_json and topics_json[-1] is None:
        topics_json.pop()  # a trailing "any" constrains nothing
    log_filter: dict[str, JSON] = {
        "address": "0x" + parse_address(address).hex(),
        "fromBlock": hex(from_height),
        "toBlock": hex(to_height),
    }
    if topics_json:
        log_filter["topics"] = topics_json
    return log_filter


def _quantity(fields: Mapping[str, JSON], key: str) -> int:
    value = fields.get(key)
    if (
        not isinstance(value, str)
        or value[:2] != "0x"
        or not 2 < len(value) <= 2 + _QUANTITY_DIGITS_MAX
        or _HEX.fullmatch(value) is None
    ):
        raise CodecError(f"an eth_getLogs log's {key} must be a hex quantity, not {str(value)[:40]!r}")
    return int(value, 16)


def _data(fields: Mapping[str, JSON], key: str, size: int | None = None) -> bytes:
    value = fields.get(key)
    matched = _HEX.fullmatch(value) if isinstance(value, str) and value[:2] == "0x" else None
    if matched is None or len(matched.group(1)) % 2:
        raise CodecError(f"an eth_getLogs log's {key} must be 0x hex bytes")
    data = bytes.fromhex(matched.group(1))
    if size is not None and len(data) != size:
        raise CodecError(f"an eth_getLogs log's {key} must be {size} bytes, not {len(data)}")
    return data


def _decode_or_keep(log: EvmLog, abi: EvmAbi) -> DecodedLog:
    """`decode_log`, but a log its event's types cannot read stays undecoded: one odd log (another contract
    reusing an event name with other types) must not hide a whole history."""
    try:
        return decode_log(log, abi)
    except CodecError:
        return DecodedLog(log, None, MappingProxyType({}))


def parse_chain_log(data: JSON, abi: EvmAbi | None = None) -> ChainLog:
    """One log object of an eth_getLogs answer, its event decoded by `abi`; CodecError if it is malformed."""
    if not isinstance(data, dict):
        raise CodecError("an eth_getLogs log must be an object")
    topics_json = data.get("topics")
    if not isinstance(topics_json, list) or len(topics_json) > LOG_TOPIC_POSITIONS_MAX:
        raise CodecError(f"an eth_getLogs log's topics must be a list of at most {LOG_TOPIC_POSITIONS_MAX}")
    topics = tuple(_data({"topic": topic}, "topic", 32) for topic in topics_json)
    log = EvmLog("0x" + _data(data, "address", ADDRESS_SIZE).hex(), topics, _data(data, "data"))
    return ChainLog(
        _quantity(data, "blockNumber"),
        _data(data, "blockHash", 32),
        _data(data, "transactionHash", 32),
        _quantity(data, "transactionIndex"),
        _quantity(data, "logIndex"),
        _decode_or_keep(log, abi or EvmAbi((), False, (), (), ())),
    )


def get_chain_logs(answer: Sequence[JSON], abi: EvmAbi | None = None) -> list[ChainLog]:
    """Every log of an eth_getLogs answer (`parse_chain_log`), in the node's order: oldest first."""
    return [parse_chain_log(item, abi) for item in answer]


class EvmRevertError(TransactionFailedError):
    """An EVM call reverted: a transaction (its `receipt` then set) or a `call` (receipt None).

    `data` is the revert data (cut at 400 bytes by the node's receipt message); `reason` the decoded
    ``Error(string)`` text, ``panic 0x11`` for a ``Panic(uint256)``, or the custom error as
    ``Name(value, ...)``; `error_name` and `error_args` the custom error when the ABI declares it.
    """

    code = "evm_reverted"

    def __init__(
        self,
        message: str,
        *,
        data: bytes,
        reason: str,
        error_name: str | None = None,
        error_args: Mapping[str, Any] | None = None,
        receipt: Receipt | None = None,
    ) -> None:
        super().__init__(message, "reverted")
        self.data = data
        self.reason = reason
        self.error_name = error_name
        self.error_args: Mapping[str, Any] = MappingProxyType(dict(error_args or {}))
        self.receipt = receipt


def describe_revert(data: bytes, abi: EvmAbi | None = None) -> tuple[str, str | None, dict[str, Any]]:
    """(reason, custom error name or None, custom error arguments) of revert data."""
    if not data:
        return "no reason given", None, {}
    if data[:4] == ERROR_SELECTOR:
        try:
            (text,) = abi_decode(["string"], data[4:])
            return str(text), None, {}
        except (DecodingError, ValueError, OverflowError):
            pass
    if data[:4] == PANIC_SELECTOR and len(data) == 36:
        return f"panic 0x{int.from_bytes(data[4:], 'big'):02x}", None, {}
    error = abi.get_error(data[:4]) if abi is not None else None
    if error is not None:
        try:
            values = abi_decode([p.type for p in error.inputs], data[4:])
        except (DecodingError, ValueError, OverflowError):
            values = None
        if values is not None:
            args = {p.name or f"arg{i}": v for i, (p, v) in enumerate(zip(error.inputs, values, strict=True))}
            shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
            return f"{error.name}({shown})", error.name, args
    return f"custom error 0x{data[:4].hex()} (not in the ABI)", None, {}


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def get_revert_data(message: str) -> bytes | None:
    """The revert data in a failed receipt's or refused view's message (``execution reverted (data=0x...)``)."""
    matched = _REVERT_DATA.search(message)
    return None if matched is None else bytes.fromhex(matched.group(1))


def _revert_error(what: str, message: str, abi: EvmAbi | None, receipt: Receipt | None) -> EvmRevertError | None:
    data = get_revert_data(message)
    if data is None:
        return None
    reason, name, args = describe_revert(data, abi)
    return EvmRevertError(
        f"{what} reverted: {reason}", data=data, reason=reason, error_name=name, error_args=args, receipt=receipt
    )


NOT_ENABLED_HINT = (
    '; this chain does not run the `evm` contract: only a chain whose genesis lists "evm" runs Solidity '
    "(a one-node chain: gusu chain init --evm)"
)
CONTRACT_UNKNOWN = "contract_unknown"


def check_receipt(receipt: Receipt, what: str, abi: EvmAbi | None = None) -> None:
    """Nothing for a successful receipt; EvmRevertError for a revert, TransactionFailedError otherwise."""
    if receipt.is_success:
        return
    if receipt.error_code == "reverted":
        error = _revert_error(what, receipt.error_message, abi, receipt)
        if error is not None:
            raise error
    hint = NOT_ENABLED_HINT if receipt.error_code == CONTRACT_UNKNOWN else ""
    raise TransactionFailedError(
        f"{what} failed: {receipt.error_code}: {receipt.error_message}{hint}", receipt.error_code
    )


def parse_address(value: str | bytes) -> Address:
    """A 20-byte address from bytes or ``0x`` + 40 hex digits."""
    if isinstance(value, bytes):
        _check(len(value) == ADDRESS_SIZE, f"an EVM address is {ADDRESS_SIZE} bytes, not {len(value)}")
        return Address(value)
    _check(
        isinstance(value, str) and _ADDRESS_TEXT.fullmatch(value) is not None,
        f"an EVM address is 0x and 40 hex digits, not {str(value)[:60]!r}",
    )
    return Address(bytes.fromhex(value[2:]))


# --- arguments from text ---------------------------------------------------------------------------


def parse_abi_argument(abi_type: str, text: str) -> Any:
    """One argument of ABI type `abi_type` from command-line text; ClientError saying what is expected.

    Integers in decimal or ``0x`` hex (``_`` separators allowed); ``address`` and ``bytes``/``bytesN``
    as ``0x`` hex; ``bool`` as true/false/1/0; ``string`` as is; arrays and tuples as JSON
    (``[1, 2]``, ``["0xab..", "5"]``), their items read by the same rules.
    """
    _check(len(text) <= ARGUMENT_TEXT_BYTES_MAX, f"an argument is longer than {ARGUMENT_TEXT_BYTES_MAX} bytes")
    parsed = parse_abi_type(abi_type)
    if parsed.is_array or abi_type.startswith("("):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            raise ClientError(f"a {abi_type} argument is JSON, e.g. '[1, 2]'; not {text[:60]!r}") from None
        return _from_json(abi_type, document)
    return _from_json(abi_type, text)


def _from_json(abi_type: str, value: Any) -> Any:
    parsed = parse_abi_type(abi_type)
    if parsed.is_array:
        _check(isinstance(value, list), f"a {abi_type} argument is a JSON list, not {json.dumps(value)[:60]}")
        item_type = abi_type[: abi_type.rindex("[")]
        size = abi_type[abi_type.rindex("[") + 1 : -1]
        _check(not size or len(value) == int(size), f"a {abi_type} argument has exactly {size} items")
        return [_from_json(item_type, item) for item in value]
    if abi_type.startswith("("):
        component_types = [component.to_type_str() for component in parsed.components]
        _check(
            isinstance(value, list) and len(value) == len(component_types),
            f"a {abi_type} argument is a JSON list of {len(component_types)} items",
        )
        return tuple(_from_json(t, item) for t, item in zip(component_types, value, strict=True))
    base = parsed.base
    if base in ("uint", "int"):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            _check(isinstance(value, str), f"a {abi_type} argument is an integer, not {json.dumps(value)[:60]}")
            digits = value.replace("_", "")
            try:
                if not digits.isascii():  # int() also reads other scripts' digits: a form must not
                    raise ValueError(digits)
                number = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
            except ValueError:
                raise ClientError(
                    f"a {abi_type} argument is an integer (decimal or 0x hex), not {value[:60]!r}"
                ) from None
        bits = parsed.sub or 256
        low, high = (0, 2**bits - 1) if base == "uint" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
        _check(low <= number <= high, f"a {abi_type} argument is between {low} and {high}, not {number}")
        return number
    if base == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).lower()
        _check(lowered in ("true", "false", "1", "0"), f"a bool argument is true or false, not {str(value)[:60]!r}")
        return lowered in ("true", "1")
    if base == "address":
        _check(isinstance(value, str), "an address argument is 0x and 40 hex digits")
        return parse_address(value)
    if base == "bytes":
        _check(isinstance(value, str) and value[:2].lower() == "0x", f"a {abi_type} argument is 0x-prefixed hex")
        try:
            data = bytes.fromhex(value[2:])
        except ValueError:
            raise ClientError(f"a {abi_type} argument is 0x-prefixed hex bytes, not {value[:60]!r}") from None
        size = parsed.sub
        _check(not size or len(data) == size, f"a {abi_type} argument is exactly {size} bytes, not {len(data)}")
        return data
    if base == "string":
        _check(isinstance(value, str), f"a string argument is text, not {json.dumps(value)[:60]}")
        return value
    raise ClientError(f"arguments of ABI type {abi_type} cannot be given as text; use the SDK")


def parse_abi_arguments(parameters: Sequence[AbiParameter], texts: Sequence[str], what: str) -> list[Any]:
    """Every argument of `what` from text (`parse_abi_argument`), errors naming the argument."""
    if len(texts) != len(parameters):
        expected = ", ".join(f"{p.type} {p.name}".strip() for p in parameters) or "none"
        raise ClientError(f"{what} takes {len(parameters)} argument(s) ({expected}), not {len(texts)}")
    values = []
    for index, (parameter, text) in enumerate(zip(parameters, texts, strict=True)):
        try:
            values.append(parse_abi_argument(parameter.type, text))
        except ClientError as error:
            raise ClientError(f"argument {index + 1} ({parameter.name or parameter.type}) of {what}: {error}") from None
    return values


def to_json_value(value: Any) -> Any:
    """A decoded ABI value as JSON: bytes as ``0x`` hex, tuples as lists (integers stay exact integers)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (tuple, list)):
        return [to_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    return value


# --- the clients -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvmDeployed:
    """A deployment that succeeded: the new contract's address, its receipt and the constructor's logs."""

    address: str
    """Lower-case ``0x`` hex (Ethereum's CREATE rule from the sender and its EVM nonce, on every suite)."""
    receipt: Receipt
    logs: tuple[DecodedLog, ...]


@dataclass(frozen=True, slots=True)
class EvmSent:
    """A state-changing call that succeeded: its receipt, decoded return value and decoded logs."""

    receipt: Receipt
    value: Any
    logs: tuple[DecodedLog, ...]


def _abi_of(source: EvmArtifact | EvmAbi) -> EvmAbi:
    return source.abi if isinstance(source, EvmArtifact) else source


def get_deployment(receipt: Receipt, artifact: EvmArtifact) -> EvmDeployed:
    """An ``evm.deploy`` receipt's outcome; EvmRevertError or TransactionFailedError when it failed."""
    check_receipt(receipt, f"deploying {artifact.name or 'the contract'}", artifact.abi)
    address = decode(receipt.return_value)
    if not isinstance(address, bytes) or len(address) != ADDRESS_SIZE:
        raise CodecError("evm.deploy must return a 20-byte address")
    return EvmDeployed("0x" + address.hex(), receipt, tuple(decode_logs(receipt, artifact.abi)))


def get_send_outcome(receipt: Receipt, function: AbiFunction, abi: EvmAbi, what: str) -> EvmSent:
    """An ``evm.call`` receipt's outcome, decoded; EvmRevertError or TransactionFailedError when it failed."""
    check_receipt(receipt, what, abi)
    output = decode(receipt.return_value)
    if not isinstance(output, bytes):
        raise CodecError("evm.call must return bytes")
    return EvmSent(receipt, decode_result(function, output), tuple(decode_logs(receipt, abi)))


def _call_error(error: RemoteError, what: str, abi: EvmAbi) -> GusuError:
    if error.code == "reverted":
        revert = _revert_error(what, str(error), abi, None)
        if revert is not None:
            return revert
    if error.code == CONTRACT_UNKNOWN:
        return RemoteError(error.code, f"{error}{NOT_ENABLED_HINT}", error.retryable)
    return error


def _static_output(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise CodecError("evm.call_static must return bytes")
    return value


def _check_value(value: int) -> None:
    _check(type(value) is int and value >= 0, "value must be a non-negative integer of native tokens")


class EvmContracts:
    """EVM contracts through a blocking `Client` and the chain's `evm` contract.

    >>> evm = EvmContracts(Client("http://127.0.0.1:8545"))  # doctest: +SKIP
    >>> token = load_artifact("artifacts/Token.json")  # doctest: +SKIP
    >>> address = evm.deploy(key, token, ["Gusu", "GSU", 10**24]).address  # doctest: +SKIP
    >>> evm.send(key, address, token, "transfer", [bob, 5]).logs[0].args  # doctest: +SKIP
    >>> evm.call(address, token, "balanceOf", [bob])  # doctest: +SKIP
    """

    def __init__(self, client: Client, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.timeout_s = timeout_s

    def deploy(
        self, key: PrivateKey, artifact: EvmArtifact, args: Sequence[Any] = (), *, value: int = 0
    ) -> EvmDeployed:
        """Deploy `artifact` with constructor `args` (and `value` native tokens), signed by `key`; wait."""
        _check_value(value)
        init_code = encode_constructor(artifact, args)
        receipt = self.client.send_and_wait(key, EVM_CONTRACT, "deploy", [init_code, value], timeout_s=self.timeout_s)
        return get_deployment(receipt, artifact)

    def send(
        self,
        key: PrivateKey,
        address: str | bytes,
        abi: EvmArtifact | EvmAbi,
        function: str,
        args: Sequence[Any] = (),
        *,
        value: int = 0,
    ) -> EvmSent:
        """Send `function(*args)` to `address` in a transaction signed by `key`; wait and decode."""
        _check_value(value)
        contract_abi = _abi_of(abi)
        entry = contract_abi.get_function(function, len(args))
        data = encode_call(entry, args)
        receipt = self.client.send_and_wait(
            key, EVM_CONTRACT, "call", [parse_address(address), data, value], timeout_s=self.timeout_s
        )
        return get_send_outcome(receipt, entry, contract_abi, entry.signature)

    def call(
        self,
        address: str | bytes,
        abi: EvmArtifact | EvmAbi,
        function: str,
        args: Sequence[Any] = (),
        *,
        sender: bytes | str | None = None,
    ) -> Any:
        """Run `function(*args)` against the latest state without a transaction (``evm.call_static``)."""
        contract_abi = _abi_of(abi)
        entry = contract_abi.get_function(function, len(args))
        try:
            output = self.client.call(
                EVM_CONTRACT, "call_static", [parse_address(address), encode_call(entry, args)], sender
            )
        except RemoteError as error:
            raise _call_error(error, entry.signature, contract_abi) from None
        return decode_result(entry, _static_output(output))

    def get_code(self, address: str | bytes) -> bytes:
        return _static_output(self.client.call(EVM_CONTRACT, "get_code", [parse_address(address)]))

    def get_nonce(self, address: str | bytes) -> int:
        nonce = self.client.call(EVM_CONTRACT, "get_nonce", [parse_address(address)])
        if type(nonce) is not int:
            raise CodecError("evm.get_nonce must return an integer")
        return nonce

    def get_logs(self, transaction_id: bytes | str, abi: EvmArtifact | EvmAbi | None = None) -> list[DecodedLog]:
        """A committed transaction's EVM logs, decoded by `abi` where it declares the event."""
        receipt = self.client.get_receipt(transaction_id).receipt
        return decode_logs(receipt, None if abi is None else _abi_of(abi))

    def query_logs(
        self,
        address: str | bytes,
        from_height: int,
        to_height: int,
        abi: EvmArtifact | EvmAbi | None = None,
        *,
        topics: Sequence[TopicPosition] = (),
        block_range_max: int = LOGS_BLOCK_RANGE_MAX,
    ) -> list[ChainLog]:
        """`address`'s logs in blocks `from_height`..`to_height` (at most `block_range_max` blocks, the node's
        eth_getLogs limit) matching `topics`, oldest first, decoded by `abi` where it declares the event.

        The node refuses an answer of more than its ``logs_results_max`` logs (10,000 by default) with
        RemoteError ``request_too_large``: query a narrower range. Page back through a long history by
        querying the windows below one another (docs/evm.md, "Reading logs").
        """
        log_filter = compute_log_filter(address, from_height, to_height, topics, block_range_max=block_range_max)
        return get_chain_logs(self.client.get_eth_logs(log_filter), None if abi is None else _abi_of(abi))


class AsyncEvmContracts:
    """EVM contracts through an `AsyncClient`: the methods of `EvmContracts`, awaitable."""

    def __init__(self, client: AsyncClient, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def deploy(
        self, key: PrivateKey, artifact: EvmArtifact, args: Sequence[Any] = (), *, value: int = 0
    ) -> EvmDeployed:
        _check_value(value)
        init_code = encode_constructor(artifact, args)
        receipt = await self.client.send_and_wait(
            key, EVM_CONTRACT, "deploy", [init_code, value], timeout_s=self.timeout_s
        )
        return get_deployment(receipt, artifact)

    async def send(
        self,
        key: PrivateKey,
        address: str | bytes,
        abi: EvmArtifact | EvmAbi,
        function: str,
        args: Sequence[Any] = (),
        *,
        value: int = 0,
    ) -> EvmSent:
        _check_value(value)
        contract_abi = _abi_of(abi)
        entry = contract_abi.get_function(function, len(args))
        data = encode_call(entry, args)
        receipt = await self.client.send_and_wait(
            key, EVM_CONTRACT, "call", [parse_address(address), data, value], timeout_s=self.timeout_s
        )
        return get_send_outcome(receipt, entry, contract_abi, entry.signature)

    async def call(
        self,
        address: str | bytes,
        abi: EvmArtifact | EvmAbi,
        function: str,
        args: Sequence[Any] = (),
        *,
        sender: bytes | str | None = None,
    ) -> Any:
        contract_abi = _abi_of(abi)
        entry = contract_abi.get_function(function, len(args))
        try:
            output = await self.client.call(
                EVM_CONTRACT, "call_static", [parse_address(address), encode_call(entry, args)], sender
            )
        except RemoteError as error:
            raise _call_error(error, entry.signature, contract_abi) from None
        return decode_result(entry, _static_output(output))

    async def get_code(self, address: str | bytes) -> bytes:
        return _static_output(await self.client.call(EVM_CONTRACT, "get_code", [parse_address(address)]))

    async def get_nonce(self, address: str | bytes) -> int:
        nonce = await self.client.call(EVM_CONTRACT, "get_nonce", [parse_address(address)])
        if type(nonce) is not int:
            raise CodecError("evm.get_nonce must return an integer")
        return nonce

    async def get_logs(self, transaction_id: bytes | str, abi: EvmArtifact | EvmAbi | None = None) -> list[DecodedLog]:
        receipt = (await self.client.get_receipt(transaction_id)).receipt
        return decode_logs(receipt, None if abi is None else _abi_of(abi))

    async def query_logs(
        self,
        address: str | bytes,
        from_height: int,
        to_height: int,
        abi: EvmArtifact | EvmAbi | None = None,
        *,
        topics: Sequence[TopicPosition] = (),
        block_range_max: int = LOGS_BLOCK_RANGE_MAX,
    ) -> list[ChainLog]:
        """As `EvmContracts.query_logs`."""
        log_filter = compute_log_filter(address, from_height, to_height, topics, block_range_max=block_range_max)
        return get_chain_logs(await self.client.get_eth_logs(log_filter), None if abi is None else _abi_of(abi))
