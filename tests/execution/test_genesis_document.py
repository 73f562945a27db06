"""The genesis document: typed fields, JSON round trip, validation, a stable hash."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from execution_helpers import ALICE, BOB, VALIDATOR, make_genesis

from gusu.crypto import get_suite
from gusu.errors import ConfigError
from gusu.ledger.genesis import (
    DEFAULT_PARAMETERS,
    Allocation,
    Genesis,
    GenesisOrganization,
    GenesisValidator,
    compute_genesis_hash,
    encode_genesis,
    genesis_from_json,
    genesis_to_json,
    get_running_python_version,
    load_genesis,
    parse_genesis,
    save_genesis,
    validate_genesis,
    validate_python_version,
)
from gusu.ledger.types import Address

DOCUMENT: dict[str, Any] = {
    "chain_id": "gusu-test",
    "suite": "sm",
    "timestamp_ms": 1700000000000,
    "python_version": "3.11",
    "consensus": "tendermint",
    "contracts": ["account", "contracts", "evidence", "system"],
    "validators": [
        {
            "name": "validator-0",
            "address": "0x894604c70f7147e9f237d827ef41d1e69ae5e52c",
            "public_key": "0x04e4bb405ee9995c2a86f0061bcd280c1fb11558a30140f855c422448bab7a7fdb267aab355e2a5963f2f"
            "06c3bf650788cb5c9cae9c308332107363b0d12dde698",
            "power": 10,
            "organization": "org0",
        }
    ],
    "allocations": [{"address": "0x1a97425f6dcc1681f822b46f851e413e8b177ea1", "amount": 1000000}],
    "parameters": {
        "block_bytes_max": 8388608,
        "block_interval_ms": 200,
        "block_time_message_delay_ms": 3000,
        "block_time_precision_ms": 500,
        "block_transactions_max": 5000,
        "gas_per_transaction_max": 10000000,
        "timeout_precommit_delta_ms": 500,
        "timeout_precommit_ms": 1000,
        "timeout_prevote_delta_ms": 500,
        "timeout_prevote_ms": 1000,
        "timeout_propose_delta_ms": 500,
        "timeout_propose_ms": 3000,
        "transaction_window_blocks": 600,
    },
    "admins": ["0x1a97425f6dcc1681f822b46f851e413e8b177ea1"],
    "organizations": [],
}

# Golden values: if one changes, every existing chain's identity changes with it. (Last changed when the
# validators gained their organisation, and genesis the consensus engine, the contract set and the
# block-time parameters, then the founding organisations.)
SM_HASH = "6530366ba4955bb4aee3566c58f4377c759513ef101960819c3cb01d1060e80b"
ECDSA_HASH = "0145c53465ac094f040dfa0bade6747f66e043e12625e85c09688876349a00ce"


def test_json_round_trip() -> None:
    genesis = make_genesis()
    document = genesis_to_json(genesis)
    assert document == DOCUMENT
    assert genesis_from_json(json.loads(json.dumps(document))) == genesis
    assert parse_genesis(json.dumps(document)) == genesis


def test_hash_is_stable() -> None:
    genesis = genesis_from_json(DOCUMENT)
    assert compute_genesis_hash(get_suite("sm"), genesis).hex() == SM_HASH
    assert compute_genesis_hash(get_suite("ecdsa"), genesis).hex() == ECDSA_HASH
    assert encode_genesis(genesis) == encode_genesis(make_genesis())


def test_any_field_changes_the_hash() -> None:
    suite = get_suite("sm")
    genesis = make_genesis()
    variants = [
        replace(genesis, chain_id="gusu-other"),
        replace(genesis, timestamp_ms=genesis.timestamp_ms + 1),
        replace(genesis, allocations=(Allocation(ALICE, 999_999),)),
        replace(genesis, parameters=(("block_interval_ms", 1_000),)),
        replace(genesis, admins=()),
        replace(genesis, python_version="3.12"),
        replace(genesis, validators=(replace(genesis.validators[0], organization="org1"),)),
    ]
    hashes = {compute_genesis_hash(suite, variant) for variant in [genesis, *variants]}
    assert len(hashes) == len(variants) + 1


def test_file_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    save_genesis(path, make_genesis())
    assert load_genesis(path) == make_genesis()
    assert json.loads(path.read_text()) == DOCUMENT
    assert not (tmp_path / "genesis.json.tmp").exists()


def test_load_reports_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="cannot read genesis file"):
        load_genesis(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match=r"broken\.json: genesis is not valid JSON"):
        load_genesis(broken)


def edited(path: list[str | int], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (["chain_id"], KeyError, "genesis document lacks chain_id"),
        (["extra"], 1, "genesis document has unknown fields: extra"),
        (["chain_id"], "", "chain_id '' must be 1 to 64 characters"),
        (["chain_id"], "has space", "must be 1 to 64 characters"),
        (["suite"], "rsa", "suite 'rsa' must be one of: ecdsa, sm"),
        (["timestamp_ms"], -1, "timestamp_ms must be a non-negative integer"),
        (["timestamp_ms"], "0", "timestamp_ms must be an integer"),
        (["timestamp_ms"], True, "timestamp_ms must be an integer"),
        (["python_version"], "3", "python_version '3' must be a CPython minor version"),
        (["validators"], [], "must list 1 to 256 validators"),
        (["validators", 0, "power"], 0, "power must be between 1 and"),
        (["validators", 0, "address"], "894604c70f7147e9f237d827ef41d1e69ae5e52c", "must be 0x-prefixed hex"),
        (["validators", 0, "address"], "0xzz", "is not valid hex"),
        (["validators", 0, "address"], "0x" + "11" * 20, "does not belong to its public key"),
        (["validators", 0, "address"], "0x" + "11" * 19, "must be a 20-byte address"),
        (["validators", 0, "public_key"], "0x04" + "00" * 64, "public_key is not a valid sm key"),
        (["validators", 0, "surname"], "x", "validators[0] has unknown fields: surname"),
        (["validators", 0, "organization"], KeyError, "validators[0] lacks organization"),
        (["validators", 0, "organization"], 7, "validators[0].organization must be a string"),
        (["validators", 0, "organization"], "", "organization '' must be 1 to 64 letters"),
        (["validators", 0, "organization"], "-org", "organization '-org' must be 1 to 64 letters"),
        (["validators", 0, "organization"], "o" * 65, "must be 1 to 64 letters"),
        (["validators", 0, "organization"], "acme corp", "organization 'acme corp' must be 1 to 64 letters"),
        (["allocations", 0, "amount"], 0, "must be between 1 and 18446744073709551615"),
        (["allocations", 0, "amount"], 2**64, "must be between 1 and 18446744073709551615"),
        (["allocations", 0, "amount"], 1.5, "must be an integer"),
        (["parameters"], [], "parameters must be a JSON object"),
        (["parameters", "Bad"], 1, "parameter name 'Bad' must be a lowercase identifier"),
        (["parameters", "x"], -1, "parameter x must be an integer between 0 and"),
        (["admins"], ["0x" + "22" * 20, "0x" + "22" * 20], "lists an admin more than once"),
        (["admins"], "0x00", "admins must be a JSON array"),
    ],
)
def test_bad_documents_are_rejected_with_a_clear_message(path: list[str | int], value: Any, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        genesis_from_json(edited(path, value))
    assert fragment in str(caught.value)


def test_floats_in_json_text_are_rejected() -> None:
    text = json.dumps(DOCUMENT).replace("1700000000000", "1.7e12")
    with pytest.raises(ConfigError, match=r"numbers must be integers, found 1\.7e12"):
        parse_genesis(text)


def test_validation_of_typed_genesis() -> None:
    genesis = make_genesis()
    validate_genesis(genesis)
    with pytest.raises(ConfigError, match=r"allocates to 0x[0-9a-f]+ more than once"):
        validate_genesis(replace(genesis, allocations=(Allocation(BOB, 1), Allocation(BOB, 2))))
    with pytest.raises(ConfigError, match="add up to"):
        validate_genesis(replace(genesis, allocations=(Allocation(BOB, 2**63), Allocation(ALICE, 2**63))))
    with pytest.raises(ConfigError, match="sorted by name"):
        validate_genesis(replace(genesis, parameters=(("b", 1), ("a", 2))))
    with pytest.raises(ConfigError, match="sorted by name"):
        validate_genesis(replace(genesis, parameters=(("a", 1), ("a", 2))))
    twin = GenesisValidator("validator-0", VALIDATOR, genesis.validators[0].public_key, 1, "org1")
    with pytest.raises(ConfigError, match="repeats the name, address or public key"):
        validate_genesis(replace(genesis, validators=(genesis.validators[0], twin)))


def test_parameter_lookup() -> None:
    genesis = make_genesis()
    assert genesis.get_parameter("block_interval_ms") == 200
    assert genesis.get_parameter("nothing") is None
    assert dict(DEFAULT_PARAMETERS)["gas_per_transaction_max"] == 10_000_000


def test_python_version_pin() -> None:
    genesis = make_genesis()
    running = get_running_python_version()
    validate_python_version(replace(genesis, python_version=running))
    other = "3.99" if running != "3.99" else "3.98"
    with pytest.raises(ConfigError, match="contract gas is metered per executed line"):
        validate_python_version(replace(genesis, python_version=other))


def test_ecdsa_genesis_validates_with_its_own_addresses() -> None:
    suite = get_suite("ecdsa")
    key = suite.load_private_key((77).to_bytes(32, "big"))
    address = Address(suite.compute_address(key.public_key))
    genesis = Genesis(
        chain_id="gusu-ecdsa",
        suite="ecdsa",
        timestamp_ms=0,
        validators=(GenesisValidator("v", address, key.public_key, 1, "acme.bank-1_x"),),
        allocations=(),
        parameters=(),
        admins=(),
    )
    validate_genesis(genesis)
    assert genesis.python_version == "3.11"
    with pytest.raises(ConfigError, match="public_key is not a valid sm key"):
        validate_genesis(replace(genesis, suite="sm"))


def _with_organizations(*organizations: GenesisOrganization) -> Genesis:
    genesis = make_genesis()
    return replace(genesis, organizations=organizations)


def test_organizations_round_trip_and_change_the_hash() -> None:
    organization = GenesisOrganization(
        name=make_genesis().validators[0].organization, ca_certificate=b"\x30\x03der", admins=(ALICE,), weight=3
    )
    genesis = _with_organizations(organization)
    validate_genesis(genesis)
    assert genesis_from_json(json.loads(json.dumps(genesis_to_json(genesis)))) == genesis
    suite = get_suite("sm")
    assert compute_genesis_hash(suite, genesis) != compute_genesis_hash(suite, make_genesis())
    heavier = _with_organizations(replace(organization, weight=4))
    assert compute_genesis_hash(suite, heavier) != compute_genesis_hash(suite, genesis)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"name": "other"}, "which genesis does not list"),
        ({"ca_certificate": b""}, "ca_certificate must be a DER certificate"),
        ({"admins": ()}, "1 to 16 admins"),
        ({"admins": (ALICE, ALICE)}, "sorted without repeats"),
        ({"weight": 0}, "weight must be between 1"),
        ({"name": "bad name"}, "organization name"),
    ],
)
def test_bad_organizations_are_refused(change: dict[str, Any], fragment: str) -> None:
    organization = GenesisOrganization(
        name=make_genesis().validators[0].organization, ca_certificate=b"\x30\x03der", admins=(ALICE,)
    )
    with pytest.raises(ConfigError, match=fragment):
        validate_genesis(_with_organizations(replace(organization, **change)))


def test_organizations_must_be_sorted() -> None:
    first = GenesisOrganization(
        name=make_genesis().validators[0].organization, ca_certificate=b"\x30\x03der", admins=(ALICE,)
    )
    with pytest.raises(ConfigError, match="sorted by name"):
        validate_genesis(_with_organizations(replace(first, name="zzz"), first))
