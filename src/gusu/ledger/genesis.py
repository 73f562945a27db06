"""The genesis document: everything a chain starts from.

A chain is its genesis: the chain id, the crypto suite, the first
validators (each with the organisation that runs it), the initial
balances, the chain parameters, the admins and the CPython minor version
every node must run. Its hash (in the suite's hash
function, over the canonical encoding below) names the chain, so two nodes
with different genesis documents never accept each other's blocks.

The document is kept as JSON for people, with byte strings as 0x-hex and
parameters as an object; `genesis_from_json` accepts exactly what
`genesis_to_json` produces and says precisely what is wrong with anything
else.

Why the Python version: untrusted contracts are metered per executed line,
and how many lines CPython reports for the same code changes between minor
versions, so nodes on 3.11 and 3.12 would compute different gas, different
receipts, and split the chain. See docs/contracts.md.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gusu.codec import Value, encode
from gusu.codec.canonical import UINT_MAX
from gusu.crypto import CryptoSuite, get_suite
from gusu.errors import ConfigError, CryptoError
from gusu.ledger.types import (
    ADDRESS_SIZE,
    CHAIN_ID_LENGTH_MAX,
    NAME_LENGTH_MAX,
    PUBLIC_KEY_SIZE_MAX,
    Address,
    Hash,
)

TAG_GENESIS = "gusu.genesis.v1"

SUITES = ("ecdsa", "sm")
CONSENSUS_SOLO = "solo"
CONSENSUS_TENDERMINT = "tendermint"
CONSENSUS_RAFT = "raft"
"""Crash-fault ordering for members that trust each other's honesty (docs/consensus.md, "Raft")."""
CONSENSUS_ENGINES = (CONSENSUS_SOLO, CONSENSUS_TENDERMINT, CONSENSUS_RAFT)
"""The ordering engines a chain can choose; every node of the chain runs the one its genesis names."""
DEFAULT_CONTRACTS = ("account", "contracts", "evidence", "system")
"""The built-in contracts a chain runs unless its genesis lists others."""
CONTRACTS_MAX = 64
CONTRACT_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
PYTHON_VERSION = "3.11"
"""The CPython minor version a new chain pins by default."""

VALIDATORS_MAX = 256
"""Small enough for the whole set to fit in one state value of the system contract."""
ALLOCATIONS_MAX = 1_000_000
ADMINS_MAX = 1024
PARAMETERS_MAX = 256
VALIDATOR_POWER_MAX = 2**40
"""Keeps the total voting power of any validator set far inside 64 bits."""
ORGANIZATIONS_MAX = 64
"""Member organisations of one consortium chain."""
ORGANIZATION_ADMINS_MAX = 16
"""Admin accounts of one organisation (the accounts that vote for it)."""
ORGANIZATION_WEIGHT_MAX = 2**20
"""An organisation's weight in weighted governance votes."""
CA_CERTIFICATE_BYTES_MAX = 8192
"""A DER X.509 CA certificate; real ones are under 1 KiB."""

CHAIN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PARAMETER_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
PYTHON_VERSION_PATTERN = re.compile(r"3\.[0-9]{1,3}")
ORGANIZATION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""Organisation names: 1 to 64 letters, digits, '.', '_' and '-' (they appear in paths and certificates too)."""

DEFAULT_PARAMETERS: tuple[tuple[str, int], ...] = (
    ("block_bytes_max", 8 * 1024 * 1024),
    ("block_interval_ms", 200),
    ("block_time_message_delay_ms", 3_000),
    ("block_time_precision_ms", 500),
    ("block_transactions_max", 5_000),
    ("gas_per_transaction_max", 10_000_000),
    ("timeout_precommit_delta_ms", 500),
    ("timeout_precommit_ms", 1_000),
    ("timeout_prevote_delta_ms", 500),
    ("timeout_prevote_ms", 1_000),
    ("timeout_propose_delta_ms", 500),
    ("timeout_propose_ms", 3_000),
    ("transaction_window_blocks", 600),
)
"""Parameters a new chain starts with unless its genesis says otherwise."""

BLOCK_GAS_MAX_PARAMETER = "block_gas_max"
"""An optional chain-wide bound on a block's gas (absent: none, as before it existed). A block whose transactions
reached it before its last one is invalid, so validators stop re-executing a block there: a proposer that lies
cannot make them execute more than this much gas plus one transaction (`gusu.node.blocks.build_block`). Not in
`DEFAULT_PARAMETERS`: genesis documents list every default, and an existing chain's would change."""
BLOCK_GAS_MAX_LIMIT = 2**62


@dataclass(frozen=True, slots=True)
class GenesisValidator:
    name: str
    address: Address
    public_key: bytes
    power: int
    organization: str
    """The member organisation that runs this validator: the O= its node certificate must carry.

    The transport refuses a peer claiming this address with a certificate of
    any other organisation, so one organisation's CA cannot speak for
    another's validator (docs/network.md).
    """


@dataclass(frozen=True, slots=True)
class GenesisOrganization:
    """A founding member organisation: its trust anchor and the accounts that act for it.

    Genesis for a consortium is assembled from each founder's public parts
    only (`gusu org init` writes them), so no one ever holds another
    organisation's private keys.
    """

    name: str
    """The O= of every certificate the organisation issues (ORGANIZATION_PATTERN)."""
    ca_certificate: bytes
    """The DER X.509 certificate of the organisation's own CA, the root the transport trusts for its nodes."""
    admins: tuple[Address, ...]
    """Accounts that propose and vote for the organisation (1 to ORGANIZATION_ADMINS_MAX, sorted, no repeats)."""
    weight: int = 1
    """The organisation's weight in weighted governance votes (1 to ORGANIZATION_WEIGHT_MAX)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    address: Address
    amount: int


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: str
    suite: str
    """"sm" (SM2/SM3) or "ecdsa" (secp256k1/keccak-256)."""
    timestamp_ms: int
    validators: tuple[GenesisValidator, ...]
    allocations: tuple[Allocation, ...]
    """Initial balances of the account contract."""
    parameters: tuple[tuple[str, int], ...]
    """(name, value) pairs sorted by name, for example ("block_interval_ms", 1000)."""
    admins: tuple[Address, ...]
    """Addresses allowed to administer the chain (for example to mint)."""
    python_version: str = PYTHON_VERSION
    """The CPython minor version ("3.11") every node of the chain runs."""
    consensus: str = CONSENSUS_TENDERMINT
    """The ordering engine: "solo" (exactly one validator) or "tendermint" (BFT)."""
    contracts: tuple[str, ...] = DEFAULT_CONTRACTS
    """The contracts the chain runs, by name, sorted; the node refuses a name it does not implement."""
    organizations: tuple[GenesisOrganization, ...] = ()
    """The founding member organisations, sorted by name. Empty only for a chain run by a single operator
    (a local development chain); otherwise every validator's organisation is listed here."""

    def get_parameter(self, name: str) -> int | None:
        for parameter_name, value in self.parameters:
            if parameter_name == name:
                return value
        return None


# --- canonical encoding -----------------------------------------------------------


def _genesis_value(genesis: Genesis) -> list[Value]:
    return [
        TAG_GENESIS,
        genesis.chain_id,
        genesis.suite,
        genesis.timestamp_ms,
        [[item.name, item.address, item.public_key, item.power, item.organization] for item in genesis.validators],
        [[item.address, item.amount] for item in genesis.allocations],
        [[name, value] for name, value in genesis.parameters],
        list(genesis.admins),
        genesis.python_version,
        genesis.consensus,
        list(genesis.contracts),
        [[item.name, item.ca_certificate, list(item.admins), item.weight] for item in genesis.organizations],
    ]


def encode_genesis(genesis: Genesis) -> bytes:
    return encode(_genesis_value(genesis))


def compute_genesis_hash(suite: CryptoSuite, genesis: Genesis) -> Hash:
    """The chain's identity: the suite's hash (`get_suite(genesis.suite)`) of the canonical encoding."""
    return Hash(suite.hash(encode_genesis(genesis)))


# --- validation -------------------------------------------------------------------


def _is_uint(value: object, maximum: int = UINT_MAX) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


def _validate_address(value: object, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != ADDRESS_SIZE:
        raise ConfigError(f"genesis {what} must be a {ADDRESS_SIZE}-byte address")


def validate_genesis(genesis: Genesis) -> None:
    """Check every rule a genesis document must follow; ConfigError names the first broken one.

    Validator addresses are checked against their public keys with the
    genesis suite, so a typo in either is caught before the chain starts.
    """
    if not isinstance(genesis.chain_id, str) or not (
        len(genesis.chain_id) <= CHAIN_ID_LENGTH_MAX and CHAIN_ID_PATTERN.fullmatch(genesis.chain_id)
    ):
        raise ConfigError(
            f"genesis chain_id {genesis.chain_id!r} must be 1 to {CHAIN_ID_LENGTH_MAX} characters "
            "of letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    if genesis.suite not in SUITES:
        raise ConfigError(f"genesis suite {genesis.suite!r} must be one of: {', '.join(SUITES)}")
    if not _is_uint(genesis.timestamp_ms):
        raise ConfigError("genesis timestamp_ms must be a non-negative integer (milliseconds since 1970)")
    if not isinstance(genesis.python_version, str) or not PYTHON_VERSION_PATTERN.fullmatch(genesis.python_version):
        raise ConfigError(
            f"genesis python_version {genesis.python_version!r} must be a CPython minor version such as '3.11'"
        )
    _validate_validators(genesis)
    _validate_engine_and_contracts(genesis)
    _validate_organizations(genesis)
    _validate_allocations(genesis)
    _validate_parameters(genesis.parameters)
    if len(genesis.admins) > ADMINS_MAX:
        raise ConfigError(f"genesis lists {len(genesis.admins)} admins; the limit is {ADMINS_MAX}")
    for admin in genesis.admins:
        _validate_address(admin, "admin")
    if len(set(genesis.admins)) != len(genesis.admins):
        raise ConfigError("genesis lists an admin more than once")
    try:
        encode_genesis(genesis)
    except Exception as error:  # anything unencodable is a malformed document
        raise ConfigError(f"genesis cannot be encoded: {error}") from error


def _validate_validators(genesis: Genesis) -> None:
    validators = genesis.validators
    if not 1 <= len(validators) <= VALIDATORS_MAX:
        raise ConfigError(f"genesis must list 1 to {VALIDATORS_MAX} validators, found {len(validators)}")
    suite = get_suite(genesis.suite)
    names: set[str] = set()
    addresses: set[bytes] = set()
    keys: set[bytes] = set()
    for validator in validators:
        if not isinstance(validator.name, str) or not 1 <= len(validator.name) <= NAME_LENGTH_MAX:
            raise ConfigError(f"genesis validator name {validator.name!r} must be 1 to {NAME_LENGTH_MAX} characters")
        what = f"validator {validator.name!r}"
        _validate_address(validator.address, f"{what} address")
        if not isinstance(validator.public_key, bytes) or not 1 <= len(validator.public_key) <= PUBLIC_KEY_SIZE_MAX:
            raise ConfigError(f"genesis {what} public_key must be 1 to {PUBLIC_KEY_SIZE_MAX} bytes")
        if not _is_uint(validator.power, VALIDATOR_POWER_MAX) or validator.power == 0:
            raise ConfigError(f"genesis {what} power must be between 1 and {VALIDATOR_POWER_MAX}")
        if not isinstance(validator.organization, str) or not ORGANIZATION_PATTERN.fullmatch(validator.organization):
            raise ConfigError(
                f"genesis {what} organization {validator.organization!r} must be 1 to 64 letters, digits, "
                "'.', '_' or '-', starting with a letter or digit (the O= of its node certificate)"
            )
        if validator.name in names or validator.address in addresses or validator.public_key in keys:
            raise ConfigError(f"genesis {what} repeats the name, address or public key of another validator")
        names.add(validator.name)
        addresses.add(validator.address)
        keys.add(validator.public_key)
        try:
            derived = suite.compute_address(validator.public_key)
        except CryptoError as error:
            raise ConfigError(f"genesis {what} public_key is not a valid {genesis.suite} key: {error}") from error
        if derived != validator.address:
            raise ConfigError(
                f"genesis {what} address 0x{validator.address.hex()} does not belong to its public key, "
                f"whose {genesis.suite} address is 0x{bytes(derived).hex()}"
            )


def _validate_engine_and_contracts(genesis: Genesis) -> None:
    if genesis.consensus not in CONSENSUS_ENGINES:
        raise ConfigError(f"genesis consensus {genesis.consensus!r} must be one of: {', '.join(CONSENSUS_ENGINES)}")
    if genesis.consensus == CONSENSUS_SOLO and len(genesis.validators) != 1:
        raise ConfigError(
            f"genesis consensus 'solo' orders blocks with exactly one validator; this genesis lists "
            f"{len(genesis.validators)}: choose 'tendermint' for several"
        )
    # Raft runs with any member count `_validate_validators` allows (1 or more); it survives the crash of
    # a minority only, so 3 or more members are needed to tolerate one (docs/consensus.md).
    contracts = genesis.contracts
    if not isinstance(contracts, tuple) or not 1 <= len(contracts) <= CONTRACTS_MAX:
        raise ConfigError(f"genesis contracts must list 1 to {CONTRACTS_MAX} contract names")
    for name in contracts:
        if not isinstance(name, str) or not CONTRACT_NAME_PATTERN.fullmatch(name):
            raise ConfigError(f"genesis contract name {name!r} must be a lowercase identifier of at most 64 characters")
    if list(contracts) != sorted(set(contracts)):
        raise ConfigError("genesis contracts must be sorted by name without repeats")


def _validate_organizations(genesis: Genesis) -> None:
    organizations = genesis.organizations
    if not isinstance(organizations, tuple) or len(organizations) > ORGANIZATIONS_MAX:
        raise ConfigError(f"genesis may list at most {ORGANIZATIONS_MAX} organizations")
    previous = ""
    for organization in organizations:
        if not isinstance(organization, GenesisOrganization):
            raise ConfigError("genesis organizations must be GenesisOrganization records")
        name = organization.name
        if not isinstance(name, str) or not ORGANIZATION_PATTERN.fullmatch(name):
            raise ConfigError(
                f"genesis organization name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if name <= previous:
            raise ConfigError(f"genesis organizations must be sorted by name without repeats; {name!r} is out of place")
        previous = name
        certificate = organization.ca_certificate
        if not isinstance(certificate, bytes) or not 1 <= len(certificate) <= CA_CERTIFICATE_BYTES_MAX:
            raise ConfigError(
                f"genesis organization {name} ca_certificate must be a DER certificate of 1 to "
                f"{CA_CERTIFICATE_BYTES_MAX} bytes"
            )
        admins = organization.admins
        if not isinstance(admins, tuple) or not 1 <= len(admins) <= ORGANIZATION_ADMINS_MAX:
            raise ConfigError(f"genesis organization {name} must list 1 to {ORGANIZATION_ADMINS_MAX} admins")
        for admin in admins:
            _validate_address(admin, f"organization {name} admin")
        if list(admins) != sorted(set(admins)):
            raise ConfigError(f"genesis organization {name} admins must be sorted without repeats")
        if not _is_uint(organization.weight, ORGANIZATION_WEIGHT_MAX) or organization.weight == 0:
            raise ConfigError(f"genesis organization {name} weight must be between 1 and {ORGANIZATION_WEIGHT_MAX}")
    if organizations:
        names = {organization.name for organization in organizations}
        for validator in genesis.validators:
            if validator.organization not in names:
                raise ConfigError(
                    f"genesis validator {validator.name!r} belongs to organization {validator.organization!r}, "
                    f"which genesis does not list (organizations: {', '.join(sorted(names))})"
                )


def _validate_allocations(genesis: Genesis) -> None:
    allocations = genesis.allocations
    if len(allocations) > ALLOCATIONS_MAX:
        raise ConfigError(f"genesis lists {len(allocations)} allocations; the limit is {ALLOCATIONS_MAX}")
    seen: set[bytes] = set()
    total = 0
    for allocation in allocations:
        _validate_address(allocation.address, "allocation address")
        if allocation.address in seen:
            raise ConfigError(f"genesis allocates to 0x{allocation.address.hex()} more than once")
        seen.add(allocation.address)
        if not _is_uint(allocation.amount) or allocation.amount == 0:
            raise ConfigError(f"genesis allocation to 0x{allocation.address.hex()} must be between 1 and {UINT_MAX}")
        total += allocation.amount
    if total > UINT_MAX:
        raise ConfigError(f"genesis allocations add up to {total}, above the largest supply, {UINT_MAX}")


def _validate_parameters(parameters: tuple[tuple[str, int], ...]) -> None:
    if len(parameters) > PARAMETERS_MAX:
        raise ConfigError(f"genesis lists {len(parameters)} parameters; the limit is {PARAMETERS_MAX}")
    previous = ""
    for entry in parameters:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise ConfigError("genesis parameters must be (name, value) pairs")
        name, value = entry
        if not isinstance(name, str) or len(name) > NAME_LENGTH_MAX or not PARAMETER_NAME_PATTERN.fullmatch(name):
            raise ConfigError(
                f"genesis parameter name {name!r} must be a lowercase identifier "
                f"of at most {NAME_LENGTH_MAX} characters"
            )
        if name <= previous:
            raise ConfigError(f"genesis parameters must be sorted by name without repeats; {name!r} is out of place")
        if not _is_uint(value):
            raise ConfigError(f"genesis parameter {name} must be an integer between 0 and {UINT_MAX}")
        if name == BLOCK_GAS_MAX_PARAMETER and not 1 <= value <= BLOCK_GAS_MAX_LIMIT:
            raise ConfigError(f"genesis parameter {name} must be between 1 and {BLOCK_GAS_MAX_LIMIT}, found {value}")
        previous = name


def get_running_python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def validate_python_version(genesis: Genesis) -> None:
    """ConfigError unless this process is the CPython minor version the chain pins."""
    running = get_running_python_version()
    if sys.implementation.name != "cpython" or running != genesis.python_version:
        raise ConfigError(
            f"chain {genesis.chain_id} runs on CPython {genesis.python_version}, but this node is "
            f"{sys.implementation.name} {running}: contract gas is metered per executed line, which "
            f"differs between interpreter versions, so this node would disagree with its peers"
        )


# --- JSON --------------------------------------------------------------------------------

_TOP_KEYS = (
    "chain_id",
    "suite",
    "timestamp_ms",
    "python_version",
    "consensus",
    "contracts",
    "validators",
    "allocations",
    "parameters",
    "admins",
)
_OPTIONAL_TOP_KEYS = ("organizations",)
"""Top-level keys a document may leave out: a single-operator chain lists no organisations."""
_ORGANIZATION_KEYS = ("name", "ca_certificate", "admins", "weight")
_VALIDATOR_KEYS = ("name", "address", "public_key", "power", "organization")
_ALLOCATION_KEYS = ("address", "amount")


def _to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def genesis_to_json(genesis: Genesis) -> dict[str, Any]:
    """The JSON form of `genesis` (a dict ready for `json.dumps`)."""
    return {
        "chain_id": genesis.chain_id,
        "suite": genesis.suite,
        "timestamp_ms": genesis.timestamp_ms,
        "python_version": genesis.python_version,
        "consensus": genesis.consensus,
        "contracts": list(genesis.contracts),
        "validators": [
            {
                "name": item.name,
                "address": _to_hex(item.address),
                "public_key": _to_hex(item.public_key),
                "power": item.power,
                "organization": item.organization,
            }
            for item in genesis.validators
        ],
        "allocations": [{"address": _to_hex(item.address), "amount": item.amount} for item in genesis.allocations],
        "parameters": dict(genesis.parameters),
        "admins": [_to_hex(admin) for admin in genesis.admins],
        "organizations": [
            {
                "name": item.name,
                "ca_certificate": _to_hex(item.ca_certificate),
                "admins": [_to_hex(admin) for admin in item.admins],
                "weight": item.weight,
            }
            for item in genesis.organizations
        ],
    }


def _expect_object(
    value: object, what: str, keys: tuple[str, ...], optional_keys: tuple[str, ...] = ()
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"genesis {what} must be a JSON object")
    missing = [key for key in keys if key not in value]
    if missing:
        hint = ""
        if what == "document" and {"consensus", "contracts"} & set(missing):
            hint = (
                "; the chain was created by an older Gusu, whose chains this version cannot run: "
                "create it again (`gusu chain init` or `gusu net up`)"
            )
        raise ConfigError(f"genesis {what} lacks {', '.join(missing)}{hint}")
    unknown = sorted(str(key) for key in value if key not in keys and key not in optional_keys)
    if unknown:
        expected = ", ".join(keys + optional_keys)
        raise ConfigError(f"genesis {what} has unknown fields: {', '.join(unknown)} (expected: {expected})")
    return value


def _expect_json_list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"genesis {what} must be a JSON array")
    return value


def _expect_json_str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"genesis {what} must be a string")
    return value


def _expect_json_int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(f"genesis {what} must be an integer, found {value!r}")
    return value


def _expect_hex(value: object, what: str) -> bytes:
    text = _expect_json_str(value, what)
    if not text.startswith("0x"):
        raise ConfigError(f"genesis {what} must be 0x-prefixed hex, found {text!r}")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise ConfigError(f"genesis {what} is not valid hex: {text!r}") from None


def genesis_from_json(document: object) -> Genesis:
    """Read a genesis document from its JSON form and validate it; ConfigError on bad input."""
    top = _expect_object(document, "document", _TOP_KEYS, _OPTIONAL_TOP_KEYS)
    validators = []
    for position, raw in enumerate(_expect_json_list(top["validators"], "validators")):
        item = _expect_object(raw, f"validators[{position}]", _VALIDATOR_KEYS)
        validators.append(
            GenesisValidator(
                name=_expect_json_str(item["name"], f"validators[{position}].name"),
                address=Address(_expect_hex(item["address"], f"validators[{position}].address")),
                public_key=_expect_hex(item["public_key"], f"validators[{position}].public_key"),
                power=_expect_json_int(item["power"], f"validators[{position}].power"),
                organization=_expect_json_str(item["organization"], f"validators[{position}].organization"),
            )
        )
    allocations = []
    for position, raw in enumerate(_expect_json_list(top["allocations"], "allocations")):
        item = _expect_object(raw, f"allocations[{position}]", _ALLOCATION_KEYS)
        allocations.append(
            Allocation(
                address=Address(_expect_hex(item["address"], f"allocations[{position}].address")),
                amount=_expect_json_int(item["amount"], f"allocations[{position}].amount"),
            )
        )
    organizations = []
    for position, raw in enumerate(_expect_json_list(top.get("organizations", []), "organizations")):
        item = _expect_object(raw, f"organizations[{position}]", _ORGANIZATION_KEYS)
        organizations.append(
            GenesisOrganization(
                name=_expect_json_str(item["name"], f"organizations[{position}].name"),
                ca_certificate=_expect_hex(item["ca_certificate"], f"organizations[{position}].ca_certificate"),
                admins=tuple(
                    Address(_expect_hex(admin, f"organizations[{position}].admins[{index}]"))
                    for index, admin in enumerate(
                        _expect_json_list(item["admins"], f"organizations[{position}].admins")
                    )
                ),
                weight=_expect_json_int(item["weight"], f"organizations[{position}].weight"),
            )
        )
    raw_parameters = top["parameters"]
    if not isinstance(raw_parameters, dict):
        raise ConfigError("genesis parameters must be a JSON object of name: integer")
    parameters = tuple(
        sorted((str(name), _expect_json_int(value, f"parameter {name}")) for name, value in raw_parameters.items())
    )
    genesis = Genesis(
        chain_id=_expect_json_str(top["chain_id"], "chain_id"),
        suite=_expect_json_str(top["suite"], "suite"),
        timestamp_ms=_expect_json_int(top["timestamp_ms"], "timestamp_ms"),
        validators=tuple(validators),
        allocations=tuple(allocations),
        parameters=parameters,
        admins=tuple(
            Address(_expect_hex(raw, f"admins[{position}]"))
            for position, raw in enumerate(_expect_json_list(top["admins"], "admins"))
        ),
        python_version=_expect_json_str(top["python_version"], "python_version"),
        consensus=_expect_json_str(top["consensus"], "consensus"),
        contracts=tuple(
            _expect_json_str(raw, f"contracts[{position}]")
            for position, raw in enumerate(_expect_json_list(top["contracts"], "contracts"))
        ),
        organizations=tuple(organizations),
    )
    validate_genesis(genesis)
    return genesis


def _reject_float(text: str) -> object:
    raise ConfigError(f"genesis numbers must be integers, found {text}")


def _reject_constant(text: str) -> object:
    raise ConfigError(f"genesis numbers must be integers, found {text}")


def parse_genesis(text: str) -> Genesis:
    """Parse and validate a genesis document from JSON text."""
    try:
        document = json.loads(text, parse_float=_reject_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ConfigError(f"genesis is not valid JSON: {error}") from None
    return genesis_from_json(document)


def format_genesis(genesis: Genesis) -> str:
    """The JSON text of `genesis`, indented for people to read."""
    return json.dumps(genesis_to_json(genesis), indent=2) + "\n"


def load_genesis(path: Path | str) -> Genesis:
    """Read and validate the genesis file at `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read genesis file {path}: {error}") from None
    try:
        return parse_genesis(text)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def save_genesis(path: Path | str, genesis: Genesis) -> None:
    """Validate `genesis` and write it to `path` as JSON."""
    validate_genesis(genesis)
    target = Path(path)
    # Written beside the target and renamed, so a crash never leaves half a genesis file.
    temporary = target.with_name(target.name + ".tmp")
    try:
        temporary.write_text(format_genesis(genesis), encoding="utf-8")
        temporary.replace(target)
    except OSError as error:
        raise ConfigError(f"cannot write genesis file {path}: {error}") from None
