"""The transport's trust from the governance registry (`gusu.node.registry`), over a state written by hand."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from gusu.crypto import get_suite
from gusu.execution.encoding import encode_value
from gusu.execution.governance.registry import (
    CONFIG_SCHEDULE_KEY,
    NODE_PREFIX,
    NODES_KEY,
    ORGANIZATION_PREFIX,
    ORGANIZATIONS_KEY,
    REVOKED_PREFIX,
    SYSTEM_CONTRACT,
    Node,
    Organization,
    encode_node,
    encode_organization,
)
from gusu.execution.state import compute_state_key
from gusu.ledger.chainconfig import ChainConfig, ConfigChange, encode_config_schedule
from gusu.ledger.genesis import Genesis, GenesisValidator
from gusu.ledger.types import Address, Height
from gusu.network.handshake import ValidatorCredential
from gusu.node.pki import create_organization_ca, issue_node_certificate, save_certified_key
from gusu.node.registry import (
    compute_registry_trust,
    get_registry_lookup,
    get_revocation_check,
    read_own_anchor,
)


class DictReader:
    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.values.get(key)

    def put(self, key: bytes, value: object) -> None:
        self.values[compute_state_key(SYSTEM_CONTRACT, key)] = encode_value(value)  # type: ignore[arg-type]


def _organizations(reader: DictReader, *organizations: Organization) -> None:
    reader.put(ORGANIZATIONS_KEY, sorted(item.name for item in organizations))
    for item in organizations:
        reader.put(ORGANIZATION_PREFIX + item.name.encode(), encode_organization(item))


def test_the_implicit_organisation_vouches_for_nothing_and_members_are_trusted() -> None:
    reader = DictReader()
    assert compute_registry_trust(reader, ("own", b"own-ca")) == {}  # no governance state: tls_ca as before
    _organizations(reader, Organization("org0", b"", (Address(b"\x01" * 20),), 1))
    # A single-operator chain: its implicit organisation has no CA, so the node keeps its tls_ca file.
    assert compute_registry_trust(reader, ("org0", b"own-ca")) == {}
    _organizations(
        reader,
        Organization("acme", b"acme-ca", (Address(b"\x01" * 20),), 1),
        Organization("bank", b"bank-ca", (Address(b"\x02" * 20),), 1),
        Organization("gone", b"gone-ca", (Address(b"\x03" * 20),), 1, "removed"),
    )
    assert compute_registry_trust(reader, None) == {"acme": b"acme-ca", "bank": b"bank-ca"}
    # A node whose organisation is not a member yet keeps its own CA (to start and dial); a member's is the chain's.
    assert compute_registry_trust(reader, ("zeta", b"zeta-ca"))["zeta"] == b"zeta-ca"
    assert compute_registry_trust(reader, ("acme", b"other"))["acme"] == b"acme-ca"


def test_peers_are_the_registered_nodes_and_revocations_are_read_from_state() -> None:
    suite = get_suite("sm")
    key = suite.generate_private_key()
    address = Address(suite.compute_address(key.public_key))
    genesis_only = Address(b"\x09" * 20)
    genesis = Genesis(
        chain_id="c", suite="sm", timestamp_ms=0,
        validators=(GenesisValidator("v", genesis_only, key.public_key, 1, "acme"),), allocations=(),
        parameters=(), admins=(),
    )  # fmt: skip
    reader = DictReader()
    lookup = get_registry_lookup(reader, genesis)
    assert lookup(genesis_only) == ValidatorCredential("acme", key.public_key)  # no governance state: genesis's
    reader.put(NODES_KEY, [address])
    reader.put(NODE_PREFIX + address, encode_node(Node("n", address, key.public_key, "zeta", "observer", 0)))
    assert lookup(address) == ValidatorCredential("zeta", key.public_key)  # an observer may connect
    assert lookup(genesis_only) is None  # the registry decides once it exists (a removed node is cut)
    assert lookup(Address(b"\x01" * 3)) is None
    revoked = get_revocation_check(reader)
    digest = hashlib.sha256(b"certificate").digest()
    assert not revoked(digest)
    reader.put(REVOKED_PREFIX + digest, ["lost", 5])
    assert revoked(digest) and not revoked(digest[:31])


def test_the_own_anchor_comes_from_the_node_certificate_file(tmp_path: Path) -> None:
    ca = create_organization_ca("zeta")
    certified = issue_node_certificate(ca, "zeta-n0", b"\x04" * 20)
    save_certified_key(tmp_path / "node.crt", tmp_path / "node.key", certified)
    assert read_own_anchor(tmp_path / "node.crt") == ("zeta", ca.certificate.public_bytes(serialization.Encoding.DER))
    assert read_own_anchor(tmp_path / "missing.crt") is None


def test_a_deregistered_validator_may_stay_connected_while_it_still_validates() -> None:
    """`remove_node` deregisters at H + 1 but the set changes at H + 2: the node still votes at H + 1."""
    suite = get_suite("sm")
    key = suite.generate_private_key()
    leaving = Address(suite.compute_address(key.public_key))
    staying_key = suite.generate_private_key()
    staying = Address(suite.compute_address(staying_key.public_key))
    before = ChainConfig(
        validators=tuple(
            sorted(
                (
                    GenesisValidator("leaving", leaving, key.public_key, 1, "acme"),
                    GenesisValidator("staying", staying, staying_key.public_key, 1, "bank"),
                ),
                key=lambda validator: validator.address,
            )
        ),
        parameters=(),
        consensus="tendermint",
    )
    after = replace(before, validators=tuple(item for item in before.validators if item.address != leaving))
    genesis = Genesis(
        chain_id="c", suite="sm", timestamp_ms=0, validators=before.validators, allocations=(), parameters=(),
        admins=(),
    )  # fmt: skip
    reader = DictReader()
    reader.put(NODES_KEY, [staying])  # `leaving` was deregistered by the block that decided its removal (10)
    reader.values[compute_state_key(SYSTEM_CONTRACT, CONFIG_SCHEDULE_KEY)] = encode_config_schedule(
        (ConfigChange(Height(0), before), ConfigChange(Height(12), after))
    )
    tip = [10]
    lookup = get_registry_lookup(reader, genesis, lambda: tip[0])
    assert lookup(leaving) == ValidatorCredential("acme", key.public_key)  # it validates at 11
    tip[0] = 11
    assert lookup(leaving) is None  # from 12 on it does not: cut at 11's commit
    assert get_registry_lookup(reader, genesis)(leaving) is None  # without the tip, the registry alone decides
