"""Each organisation keeps its own keys: organisation and node directories, public bundles, genesis from them.

An organisation works on its own machine, in its own directory:

    <org>/org.json                   name, suite, weight, admin addresses (public)
    <org>/ca.crt                     its CA certificate: its own self-signed root (public)
    <org>/ca.key, ca.pass            the CA key, PEM encrypted under the passphrase beside it (0600)
    <org>/admin_key.json, .pass      its governance admin account (the chain's suite; 0600)
    <org>/issued/<node>.crt          every node certificate it issued, newest per node (public; `org status`)

    <node>/node.json                 the public node record: name, organisation, address, public key, power
    <node>/node_key.json, .pass      the node's consensus key (0600)
    <node>/tls/node.crt, node.key    its TLS certificate (+ the organisation CA) and key (0600)
    <node>/tls/ca.crt                its organisation's CA (the node trusts genesis's list, not this file)
    <node>/config.toml               [node], [api], [p2p]; genesis.json is copied in once assembled

What leaves the machine is public: the organisation bundle
(`export_organization`: name, CA certificate, admins, weight) and the node
record. `assemble_genesis` builds the chain's genesis from those alone, so
no directory ever holds another organisation's private key.
`renew_node_certificate` issues a node a new TLS certificate from its
organisation's CA, replacing the files atomically; a running node picks it
up for new connections (`P2PNetwork.check_certificates`).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gusu.crypto import get_suite
from gusu.crypto.secretfile import write_secret_file
from gusu.errors import ConfigError
from gusu.ledger.genesis import (
    DEFAULT_PARAMETERS,
    ORGANIZATION_PATTERN,
    ORGANIZATION_WEIGHT_MAX,
    VALIDATOR_POWER_MAX,
    Allocation,
    Genesis,
    GenesisOrganization,
    GenesisValidator,
    get_running_python_version,
    validate_genesis,
)
from gusu.ledger.types import Address
from gusu.network.settings import P2PSettings, format_endpoint, render_p2p_section
from gusu.network.trust import CertificateExpiry, get_certificate_expiry, validate_trust_anchor
from gusu.node.chain import write_encrypted_key
from gusu.node.config import CONFIG_FILE_NAME, NODE_KEY_FILE_NAME, NODE_PASSPHRASE_FILE_NAME, render_config
from gusu.node.pki import (
    DEFAULT_PKI_SETTINGS,
    NAME_PATTERN,
    CertifiedKey,
    PkiSettings,
    create_organization_ca,
    issue_node_certificate,
    load_certificate,
    load_certificates,
    load_certified_key,
    save_certificates,
    save_certified_key,
)

ORGANIZATION_FILE_NAME = "org.json"
NODE_RECORD_FILE_NAME = "node.json"
ORGANIZATION_BUNDLE_KIND = "gusu.organization.v1"
NODE_RECORD_KIND = "gusu.node.v1"
ISSUED_DIRECTORY = "issued"
TLS_DIRECTORY = "tls"
BUNDLE_BYTES_MAX = 64 * 1024
"""A bundle or node record larger than this is not one (it is read from files others hand over)."""


@dataclass(frozen=True, slots=True)
class OrganizationInfo:
    """The public parts of an organisation directory."""

    directory: Path
    name: str
    suite: str
    weight: int
    admins: tuple[Address, ...]
    ca_certificate: x509.Certificate

    @property
    def ca_der(self) -> bytes:
        return self.ca_certificate.public_bytes(serialization.Encoding.DER)

    def to_bundle(self) -> dict[str, Any]:
        """The public bundle another organisation (or whoever assembles genesis) receives."""
        return {
            "kind": ORGANIZATION_BUNDLE_KIND,
            "name": self.name,
            "suite": self.suite,
            "ca_certificate": "0x" + self.ca_der.hex(),
            "admins": ["0x" + bytes(admin).hex() for admin in self.admins],
            "weight": self.weight,
        }


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """The public record of a node: what genesis needs to make it a validator."""

    name: str
    organization: str
    address: Address
    public_key: bytes
    power: int
    suite: str
    p2p_endpoint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": NODE_RECORD_KIND,
            "name": self.name,
            "organization": self.organization,
            "suite": self.suite,
            "address": "0x" + bytes(self.address).hex(),
            "public_key": "0x" + self.public_key.hex(),
            "power": self.power,
            "p2p_endpoint": self.p2p_endpoint,
        }


def _check_name(value: str, what: str, pattern: Any) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{what} {value!r} must be 1 to 64 letters, digits, '.', '_' or '-', starting with one")
    return value


def _check_new_directory(directory: Path, marker: str) -> None:
    if (directory / marker).exists():
        raise ConfigError(f"{directory} already holds a {marker}; choose another directory or remove it")


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read the {what} {path}: {error}") from None
    if len(data) > BUNDLE_BYTES_MAX:
        raise ConfigError(f"{path} is larger than any {what} ({BUNDLE_BYTES_MAX} bytes)")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not a JSON {what}: {error}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path} is not a JSON {what} (an object)")
    return document


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ConfigError(f"{what} must be a 0x-prefixed hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConfigError(f"{what} is not valid hex") from None


def _save_encrypted_ca(directory: Path, certified: CertifiedKey) -> None:
    passphrase = secrets.token_urlsafe(24)
    save_certified_key(directory / "ca.crt", directory / "ca.key", certified, passphrase.encode())
    write_secret_file(directory / "ca.pass", (passphrase + "\n").encode())


def initialize_organization(
    directory: Path,
    name: str,
    *,
    suite_name: str = "sm",
    weight: int = 1,
    scrypt_n: int | None = None,
    pki_settings: PkiSettings = DEFAULT_PKI_SETTINGS,
) -> OrganizationInfo:
    """Create organisation `name`'s CA and admin account in `directory` (on the organisation's machine)."""
    _check_name(name, "organisation name", ORGANIZATION_PATTERN)
    if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= ORGANIZATION_WEIGHT_MAX:
        raise ConfigError(f"the organisation weight must be between 1 and {ORGANIZATION_WEIGHT_MAX}")
    suite = get_suite(suite_name)
    _check_new_directory(directory, ORGANIZATION_FILE_NAME)
    directory.mkdir(parents=True, exist_ok=True)
    ca = create_organization_ca(name, settings=pki_settings)
    _save_encrypted_ca(directory, ca)
    admin_key = suite.generate_private_key()
    admin_passphrase = write_encrypted_key(directory / "admin_key.json", admin_key, scrypt_n)
    write_secret_file(directory / "admin_key.pass", (admin_passphrase + "\n").encode())
    admin = Address(suite.compute_address(admin_key.public_key))
    _write_json(
        directory / ORGANIZATION_FILE_NAME,
        {"name": name, "suite": suite_name, "weight": weight, "admins": ["0x" + bytes(admin).hex()]},
    )
    return load_organization(directory)


def load_organization(directory: Path) -> OrganizationInfo:
    """The public parts of the organisation directory `directory`."""
    document = _read_json(directory / ORGANIZATION_FILE_NAME, "organisation file")
    name = _check_name(document.get("name", ""), "organisation name", ORGANIZATION_PATTERN)
    admins = document.get("admins")
    if not isinstance(admins, list) or not admins:
        raise ConfigError(f"{directory / ORGANIZATION_FILE_NAME} lists no admin")
    return OrganizationInfo(
        directory=directory,
        name=name,
        suite=str(document.get("suite", "sm")),
        weight=int(document.get("weight", 1)),
        admins=tuple(sorted(Address(_hex(admin, "an admin address")) for admin in admins)),
        ca_certificate=load_certificate(directory / "ca.crt"),
    )


def load_organization_ca(directory: Path) -> CertifiedKey:
    """The organisation's CA with its private key (decrypted with the passphrase beside it)."""
    passphrase = (directory / "ca.pass").read_text(encoding="utf-8").strip().encode()
    return load_certified_key(directory / "ca.crt", directory / "ca.key", passphrase)


def read_organization_bundle(path: Path) -> GenesisOrganization:
    """A bundle `gusu org export` wrote, checked, as genesis lists it."""
    document = _read_json(path, "organisation bundle")
    if document.get("kind") != ORGANIZATION_BUNDLE_KIND:
        raise ConfigError(f"{path} is not an organisation bundle (kind {ORGANIZATION_BUNDLE_KIND!r})")
    name = _check_name(document.get("name", ""), f"{path}: organisation name", ORGANIZATION_PATTERN)
    der = _hex(document.get("ca_certificate"), f"{path}: ca_certificate")
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise ConfigError(f"{path}: ca_certificate is not a DER certificate: {error}") from None
    try:
        validate_trust_anchor(name, certificate.public_bytes(serialization.Encoding.DER))
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    admins = document.get("admins")
    if not isinstance(admins, list):
        raise ConfigError(f"{path}: admins must be a list of addresses")
    weight = document.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool):
        raise ConfigError(f"{path}: weight must be a whole number")
    return GenesisOrganization(
        name=name,
        ca_certificate=der,
        admins=tuple(sorted(Address(_hex(admin, f"{path}: admin")) for admin in admins)),
        weight=weight,
    )


def read_node_record(path: Path) -> NodeRecord:
    document = _read_json(path, "node record")
    if document.get("kind") != NODE_RECORD_KIND:
        raise ConfigError(f"{path} is not a node record (kind {NODE_RECORD_KIND!r})")
    power = document.get("power", 1)
    if not isinstance(power, int) or isinstance(power, bool) or not 0 <= power <= VALIDATOR_POWER_MAX:
        raise ConfigError(f"{path}: power must be between 0 and {VALIDATOR_POWER_MAX}")
    return NodeRecord(
        name=_check_name(document.get("name", ""), f"{path}: node name", NAME_PATTERN),
        organization=_check_name(document.get("organization", ""), f"{path}: organisation", ORGANIZATION_PATTERN),
        address=Address(_hex(document.get("address"), f"{path}: address")),
        public_key=_hex(document.get("public_key"), f"{path}: public_key"),
        power=power,
        suite=str(document.get("suite", "")),
        p2p_endpoint=str(document.get("p2p_endpoint", "")),
    )


def _write_node_certificate(organization: Path, node_directory: Path, certified: CertifiedKey, node_name: str) -> None:
    """Replace the node's TLS files atomically (a watching node never reads half a file) and file a public copy."""
    tls = node_directory / TLS_DIRECTORY
    tls.mkdir(parents=True, exist_ok=True)
    staged_certificate, staged_key = tls / "node.crt.new", tls / "node.key.new"
    save_certified_key(staged_certificate, staged_key, certified)
    # Key first: until the certificate follows, the pair mismatches and the node keeps the old one.
    os.replace(staged_key, tls / "node.key")
    os.replace(staged_certificate, tls / "node.crt")
    issued = organization / ISSUED_DIRECTORY
    issued.mkdir(exist_ok=True)
    save_certificates(issued / f"{node_name}.crt", (certified.certificate,))


def initialize_org_node(
    organization: Path,
    node_directory: Path,
    name: str,
    *,
    listen_host: str = "127.0.0.1",
    p2p_port: int = 26656,
    api_host: str = "127.0.0.1",
    api_port: int = 8545,
    peers: Sequence[str] = (),
    power: int = 1,
    scrypt_n: int | None = None,
    verifier_workers: int = 2,
    pki_settings: PkiSettings = DEFAULT_PKI_SETTINGS,
) -> NodeRecord:
    """A node of the organisation in `organization`: consensus key, TLS files from its CA, config, record."""
    _check_name(name, "node name", NAME_PATTERN)
    info = load_organization(organization)
    ca = load_organization_ca(organization)
    _check_new_directory(node_directory, NODE_RECORD_FILE_NAME)
    p2p = P2PSettings(
        listen_host=listen_host,
        listen_port=p2p_port,
        peers=tuple(peers),
        tls_certificate=f"{TLS_DIRECTORY}/node.crt",
        tls_key=f"{TLS_DIRECTORY}/node.key",
        tls_ca=f"{TLS_DIRECTORY}/ca.crt",
    )
    suite = get_suite(info.suite)
    key = suite.generate_private_key()
    address = Address(suite.compute_address(key.public_key))
    node_directory.mkdir(parents=True, exist_ok=True)
    passphrase = write_encrypted_key(node_directory / NODE_KEY_FILE_NAME, key, scrypt_n)
    write_secret_file(node_directory / NODE_PASSPHRASE_FILE_NAME, (passphrase + "\n").encode())
    certified = issue_node_certificate(ca, name, address, settings=pki_settings)
    _write_node_certificate(organization, node_directory, certified, name)
    save_certificates(node_directory / TLS_DIRECTORY / "ca.crt", (ca.certificate,))
    config = render_config(name=name, api_port=api_port, api_host=api_host, verifier_workers=verifier_workers)
    (node_directory / CONFIG_FILE_NAME).write_text(config + "\n" + render_p2p_section(p2p), encoding="utf-8")
    record = NodeRecord(
        name=name,
        organization=info.name,
        address=address,
        public_key=key.public_key,
        power=power,
        suite=info.suite,
        p2p_endpoint=format_endpoint(listen_host, p2p_port),
    )
    _write_json(node_directory / NODE_RECORD_FILE_NAME, record.to_json())
    return record


def renew_node_certificate(
    organization: Path, node_directory: Path, *, pki_settings: PkiSettings = DEFAULT_PKI_SETTINGS
) -> CertifiedKey:
    """Issue the node in `node_directory` a new TLS certificate (and key) from the organisation's CA."""
    record = read_node_record(node_directory / NODE_RECORD_FILE_NAME)
    info = load_organization(organization)
    if record.organization != info.name:
        raise ConfigError(
            f"the node in {node_directory} belongs to {record.organization!r}; renew it with that organisation's "
            f"directory, not {info.name!r}'s"
        )
    certified = issue_node_certificate(
        load_organization_ca(organization), record.name, record.address, settings=pki_settings
    )
    _write_node_certificate(organization, node_directory, certified, record.name)
    return certified


def get_organization_expiries(organization: Path) -> list[CertificateExpiry]:
    """The organisation's CA and every node certificate it issued (newest per node)."""
    info = load_organization(organization)
    expiries = [get_certificate_expiry("ca", info.ca_certificate)]
    issued = organization / ISSUED_DIRECTORY
    if issued.is_dir():
        for path in sorted(issued.glob("*.crt")):
            expiries.append(get_certificate_expiry("node", load_certificates(path)[0]))
    return expiries


def assemble_genesis(
    *,
    chain_id: str,
    organizations: Sequence[GenesisOrganization],
    validators: Sequence[NodeRecord],
    suite_name: str,
    allocations: Sequence[tuple[Address, int]] = (),
    timestamp_ms: int = 0,
) -> Genesis:
    """Genesis from public parts only: organisation bundles and node records. ConfigError names the problem."""
    names = {organization.name for organization in organizations}
    if len(names) != len(organizations):
        raise ConfigError("an organisation bundle is given twice")
    for record in validators:
        if record.organization not in names:
            raise ConfigError(
                f"node {record.name!r} belongs to {record.organization!r}, whose bundle is not given (--org)"
            )
        if record.suite and record.suite != suite_name:
            raise ConfigError(f"node {record.name!r} has a {record.suite} key; the chain's suite is {suite_name}")
        suite = get_suite(suite_name)
        if Address(suite.compute_address(record.public_key)) != record.address:
            raise ConfigError(f"node {record.name!r}: its address is not its public key's")
    admins = sorted({admin for organization in organizations for admin in organization.admins})
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite_name,
        timestamp_ms=timestamp_ms,
        validators=tuple(
            GenesisValidator(
                name=record.name,
                address=record.address,
                public_key=record.public_key,
                power=record.power,
                organization=record.organization,
            )
            for record in validators
        ),
        allocations=tuple(Allocation(address=address, amount=amount) for address, amount in allocations),
        parameters=DEFAULT_PARAMETERS,
        admins=tuple(admins),
        python_version=get_running_python_version(),
        organizations=tuple(sorted(organizations, key=lambda organization: organization.name)),
    )
    validate_genesis(genesis)
    return genesis
