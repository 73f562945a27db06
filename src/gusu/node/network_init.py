"""Creating a local chain of several organisations in one place: genesis, their CAs, a directory per node.

`initialize_network` extends the one-node `initialize_chain` (whose
building blocks it reuses) to N organisations with M nodes each. It is a
development convenience: it creates every organisation's keys on one
machine. A real consortium has each organisation create its own
(`gusu.node.orgdir`: `gusu org init`, `gusu node init`, `gusu chain
genesis`); the chain is the same either way, each organisation its own
root CA listed in `Genesis.organizations`, and no chain-wide root:

    <directory>/genesis.json
    <directory>/pki/<org>/ca.crt, ca.key, ca.pass
                                      the organisation's CA (its own self-signed root)
    <directory>/pki/<org>/admin.crt, admin.key, admin.pass
                                      the organisation's admin TLS client (certificate + organisation CA)
    <directory>/pki/<org>/admin_key.json, admin_key.pass
                                      the organisation's governance admin account (genesis lists its address)
    <directory>/node<i>/              config.toml (with [p2p]), genesis.json, node_key.json,
                                      node_key.pass, data/, tls/node.crt (node + organisation CA),
                                      tls/node.key, tls/ca.crt (every organisation CA; the node trusts
                                      genesis's list, this file only on chains that list none)
    <directory>/keys/dev.json, dev.pass
                                      a funded developer account, also the genesis admin

Every node is a validator of power `validator_power`. Node i listens for
the API on ``base_api_port + i`` and for peers on ``base_p2p_port + i``,
and lists every other node as a peer. CA and admin keys are PEM encrypted
under a random passphrase kept beside them (mode 0600), like the node and
dev key files; node TLS keys are unencrypted (mode 0600), because a node
must start unattended and its key-file passphrase already sits beside it.

The node's config loader does not know ``[p2p]`` yet (docs/network.md
says what the node wiring must add); `load_p2p_settings` and
`build_p2p_network` read a node directory for it meanwhile.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import MAX_SCRYPT_N, MIN_SCRYPT_N
from gusu.crypto.secretfile import write_secret_file
from gusu.errors import ConfigError
from gusu.ledger.genesis import (
    CONSENSUS_TENDERMINT,
    DEFAULT_PARAMETERS,
    ORGANIZATION_PATTERN,
    VALIDATOR_POWER_MAX,
    VALIDATORS_MAX,
    Allocation,
    Genesis,
    GenesisOrganization,
    GenesisValidator,
    compute_genesis_hash,
    get_running_python_version,
    load_genesis,
    save_genesis,
    validate_genesis,
)
from gusu.ledger.kv import DEFAULT_BACKEND
from gusu.ledger.types import Address, Hash
from gusu.network.handshake import ValidatorLookup, get_genesis_trust, get_validator_lookup, make_key_signer
from gusu.network.messages import DEFAULT_CHANNELS, ChannelSpec
from gusu.network.settings import PORT_MAX, P2PSettings, format_endpoint, render_p2p_section
from gusu.network.tls import TlsFiles
from gusu.network.transport import LocalIdentity, P2PNetwork
from gusu.node.chain import (
    DEFAULT_ALLOCATION,
    DEFAULT_CHAIN_ID,
    DEV_KEY_NAME,
    load_node_key,
    write_encrypted_key,
)
from gusu.node.config import (
    CONFIG_FILE_NAME,
    GENESIS_FILE_NAME,
    NODE_KEY_FILE_NAME,
    NODE_PASSPHRASE_FILE_NAME,
    load_config,
    render_config,
)
from gusu.node.pki import (
    DEFAULT_PKI_SETTINGS,
    CertifiedKey,
    PkiSettings,
    create_organization_ca,
    issue_admin_certificate,
    issue_node_certificate,
    save_certificates,
    save_certified_key,
)

PKI_DIRECTORY = "pki"
TLS_DIRECTORY = "tls"
ORGANIZATIONS_MAX = 64
DEFAULT_BASE_API_PORT = 8545
DEFAULT_BASE_P2P_PORT = 26656


@dataclass(frozen=True, slots=True)
class OrganizationLayout:
    name: str
    ca_certificate_path: Path
    ca_key_path: Path
    ca_passphrase_path: Path
    admin_certificate_path: Path
    """The admin certificate followed by the organisation CA's (a TLS client chain)."""
    admin_key_path: Path
    admin_passphrase_path: Path
    admin_account_key_path: Path
    """The governance admin account's key file (the chain's suite); its passphrase is beside it (.pass)."""
    admin_address: Address


@dataclass(frozen=True, slots=True)
class NetworkNode:
    name: str
    organization: str
    directory: Path
    address: Address
    """The consensus (validator) address, also bound in the node's TLS certificate."""
    api_port: int
    p2p_port: int


@dataclass(frozen=True, slots=True)
class NetworkLayout:
    directory: Path
    genesis: Genesis
    genesis_hash: Hash
    organizations: tuple[OrganizationLayout, ...]
    nodes: tuple[NetworkNode, ...]
    dev_key_path: Path
    dev_passphrase_path: Path
    dev_address: Address

    @property
    def node_directories(self) -> tuple[Path, ...]:
        return tuple(node.directory for node in self.nodes)

    @property
    def api_ports(self) -> tuple[int, ...]:
        return tuple(node.api_port for node in self.nodes)

    @property
    def p2p_ports(self) -> tuple[int, ...]:
        return tuple(node.p2p_port for node in self.nodes)


def _organization_names(organizations: Sequence[str] | int) -> tuple[str, ...]:
    if isinstance(organizations, bool):
        raise ConfigError("organizations is a count or a list of names, not a boolean")
    if isinstance(organizations, int):
        if not 1 <= organizations <= ORGANIZATIONS_MAX:
            raise ConfigError(f"the number of organizations must be between 1 and {ORGANIZATIONS_MAX}")
        return tuple(f"org{index}" for index in range(organizations))
    if isinstance(organizations, str):
        raise ConfigError("organizations is a list of names (['acme', 'bank']) or a count, not one string")
    names = tuple(organizations)
    if not 1 <= len(names) <= ORGANIZATIONS_MAX:
        raise ConfigError(f"name 1 to {ORGANIZATIONS_MAX} organizations")
    for name in names:
        if not isinstance(name, str) or not ORGANIZATION_PATTERN.fullmatch(name):
            raise ConfigError(
                f"organization name {name!r} must be 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
    if len({name.lower() for name in names}) != len(names):
        raise ConfigError("organization names must differ (ignoring case: they name directories)")
    return names


def _check_ports(what: str, base: int, count: int) -> None:
    if not isinstance(base, int) or isinstance(base, bool) or not 1 <= base <= PORT_MAX - count + 1:
        raise ConfigError(
            f"{what} must leave room for {count} consecutive ports: between 1 and {PORT_MAX - count + 1}, not {base!r}"
        )


def _save_ca_key(directory: Path, stem: str, certified: CertifiedKey) -> tuple[Path, Path, Path]:
    passphrase = secrets.token_urlsafe(24)
    certificate_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    passphrase_path = directory / f"{stem}.pass"
    save_certified_key(certificate_path, key_path, certified, passphrase.encode())
    write_secret_file(passphrase_path, (passphrase + "\n").encode())
    return certificate_path, key_path, passphrase_path


def initialize_network(
    directory: Path,
    *,
    organizations: Sequence[str] | int,
    nodes_per_organization: int = 1,
    suite_name: str = "sm",
    chain_id: str = DEFAULT_CHAIN_ID,
    base_api_port: int = DEFAULT_BASE_API_PORT,
    base_p2p_port: int = DEFAULT_BASE_P2P_PORT,
    scrypt_n: int | None = None,
    validator_power: int = 1,
    host: str = "127.0.0.1",
    verifier_workers: int = 2,
    allocation: int = DEFAULT_ALLOCATION,
    timestamp_ms: int = 0,
    storage_backend: str | None = None,
    pki_settings: PkiSettings = DEFAULT_PKI_SETTINGS,
    consensus: str = CONSENSUS_TENDERMINT,
) -> NetworkLayout:
    """Create a chain of `organizations` × `nodes_per_organization` validators in `directory`.

    `directory` must not already hold a chain. `host` is where every node
    listens and where the others reach it: keep 127.0.0.1 for a local
    network, and edit each config.toml's [api]/[p2p] hosts for machines
    of their own. ConfigError names the argument at fault.
    """
    if (directory / GENESIS_FILE_NAME).exists():
        raise ConfigError(f"{directory} already holds a chain; choose another directory or remove it")
    names = _organization_names(organizations)
    if not isinstance(nodes_per_organization, int) or isinstance(nodes_per_organization, bool):
        raise ConfigError("nodes_per_organization must be a whole number")
    count = len(names) * nodes_per_organization
    if nodes_per_organization < 1 or count > VALIDATORS_MAX:
        raise ConfigError(
            f"nodes_per_organization must be at least 1, and the chain at most {VALIDATORS_MAX} validators "
            f"({len(names)} organizations × {nodes_per_organization} = {count})"
        )
    if not isinstance(validator_power, int) or isinstance(validator_power, bool):
        raise ConfigError("validator_power must be a whole number")
    if not 1 <= validator_power <= VALIDATOR_POWER_MAX:
        raise ConfigError(f"validator_power must be between 1 and {VALIDATOR_POWER_MAX}")
    _check_ports("base_api_port", base_api_port, count)
    _check_ports("base_p2p_port", base_p2p_port, count)
    if abs(base_api_port - base_p2p_port) < count:
        raise ConfigError(
            f"the API ports ({base_api_port}…) and P2P ports ({base_p2p_port}…) of {count} nodes overlap; "
            "move one base port"
        )
    if scrypt_n is not None and (
        not isinstance(scrypt_n, int) or not MIN_SCRYPT_N <= scrypt_n <= MAX_SCRYPT_N or scrypt_n & (scrypt_n - 1)
    ):
        raise ConfigError(f"scrypt_n must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_N}, or None")
    # Validates host the way every node will read it back, before anything is written.
    P2PSettings(listen_host=host)
    suite = get_suite(suite_name)

    # Keys and the genesis document first: nothing is written until the genesis is known valid.
    plan = [(names[index // nodes_per_organization], f"node{index}") for index in range(count)]
    node_keys = [suite.generate_private_key() for _ in plan]
    addresses = [Address(suite.compute_address(key.public_key)) for key in node_keys]
    dev_key = suite.generate_private_key()
    dev_address = Address(suite.compute_address(dev_key.public_key))
    organization_cas = {name: create_organization_ca(name, settings=pki_settings) for name in names}
    admin_keys = {name: suite.generate_private_key() for name in names}
    admin_addresses = {name: Address(suite.compute_address(key.public_key)) for name, key in admin_keys.items()}
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite_name,
        timestamp_ms=timestamp_ms,
        validators=tuple(
            GenesisValidator(
                name=node_name,
                address=address,
                public_key=key.public_key,
                power=validator_power,
                organization=organization,
            )
            for (organization, node_name), address, key in zip(plan, addresses, node_keys, strict=True)
        ),
        allocations=(Allocation(address=dev_address, amount=allocation),),
        parameters=DEFAULT_PARAMETERS,
        admins=(dev_address,),
        python_version=get_running_python_version(),
        organizations=tuple(
            GenesisOrganization(
                name=name,
                ca_certificate=organization_cas[name].certificate.public_bytes(serialization.Encoding.DER),
                admins=(admin_addresses[name],),
            )
            for name in sorted(names)
        ),
        consensus=consensus,
    )
    validate_genesis(genesis)

    directory.mkdir(parents=True, exist_ok=True)
    save_genesis(directory / GENESIS_FILE_NAME, genesis)
    pki_directory = directory / PKI_DIRECTORY
    pki_directory.mkdir(exist_ok=True)

    organization_layouts = []
    for name in names:
        org_directory = pki_directory / name
        org_directory.mkdir(exist_ok=True)
        org_ca = organization_cas[name]
        ca_paths = _save_ca_key(org_directory, "ca", org_ca)
        admin_paths = _save_ca_key(org_directory, "admin", issue_admin_certificate(org_ca, settings=pki_settings))
        account_path = org_directory / "admin_key.json"
        account_passphrase = write_encrypted_key(account_path, admin_keys[name], scrypt_n)
        write_secret_file(org_directory / "admin_key.pass", (account_passphrase + "\n").encode())
        organization_layouts.append(
            OrganizationLayout(name, *ca_paths, *admin_paths, account_path, admin_addresses[name])
        )
    every_ca = [organization_cas[name].certificate for name in names]

    endpoints = [format_endpoint(host, base_p2p_port + index) for index in range(count)]
    nodes = []
    for index, ((organization, node_name), address, key) in enumerate(zip(plan, addresses, node_keys, strict=True)):
        node_directory = directory / node_name
        tls_directory = node_directory / TLS_DIRECTORY
        tls_directory.mkdir(parents=True, exist_ok=True)
        save_genesis(node_directory / GENESIS_FILE_NAME, genesis)
        passphrase = write_encrypted_key(node_directory / NODE_KEY_FILE_NAME, key, scrypt_n)
        write_secret_file(node_directory / NODE_PASSPHRASE_FILE_NAME, (passphrase + "\n").encode())
        certified = issue_node_certificate(organization_cas[organization], node_name, address, settings=pki_settings)
        save_certified_key(tls_directory / "node.crt", tls_directory / "node.key", certified)
        save_certificates(tls_directory / "ca.crt", every_ca)
        p2p = P2PSettings(
            listen_host=host,
            listen_port=base_p2p_port + index,
            peers=tuple(endpoint for other, endpoint in enumerate(endpoints) if other != index),
            tls_certificate=f"{TLS_DIRECTORY}/node.crt",
            tls_key=f"{TLS_DIRECTORY}/node.key",
            tls_ca=f"{TLS_DIRECTORY}/ca.crt",
        )
        config_text = render_config(
            name=node_name,
            api_port=base_api_port + index,
            api_host=host,
            verifier_workers=verifier_workers,
            backend=storage_backend or DEFAULT_BACKEND,
        )
        (node_directory / CONFIG_FILE_NAME).write_text(config_text + "\n" + render_p2p_section(p2p), encoding="utf-8")
        nodes.append(
            NetworkNode(
                name=node_name,
                organization=organization,
                directory=node_directory,
                address=address,
                api_port=base_api_port + index,
                p2p_port=base_p2p_port + index,
            )
        )

    keys_directory = directory / "keys"
    keys_directory.mkdir(exist_ok=True)
    dev_key_path = keys_directory / f"{DEV_KEY_NAME}.json"
    dev_passphrase = write_encrypted_key(dev_key_path, dev_key, scrypt_n)
    dev_passphrase_path = keys_directory / f"{DEV_KEY_NAME}.pass"
    write_secret_file(dev_passphrase_path, (dev_passphrase + "\n").encode())
    return NetworkLayout(
        directory=directory,
        genesis=genesis,
        genesis_hash=compute_genesis_hash(suite, genesis),
        organizations=tuple(organization_layouts),
        nodes=tuple(nodes),
        dev_key_path=dev_key_path,
        dev_passphrase_path=dev_passphrase_path,
        dev_address=dev_address,
    )


def load_p2p_settings(node_directory: Path) -> P2PSettings:
    """The validated ``[p2p]`` section of a node's config.toml (defaults if it has none)."""
    return load_config(node_directory).p2p


def build_p2p_network(
    node_directory: Path,
    *,
    key: PrivateKey | None = None,
    get_validator: ValidatorLookup | None = None,
    settings: P2PSettings | None = None,
    channels: dict[str, ChannelSpec] | None = None,
    rng: random.Random | None = None,
) -> P2PNetwork:
    """The transport of the node in `node_directory`, as the node wiring would build it.

    `key` is the node's consensus key (the node passes its loaded key); by
    default node_key.json is decrypted with the node's passphrase. Its
    address is the node's, which `P2PNetwork` checks against the TLS
    certificate, and it signs the handshake key proofs. `get_validator`
    defaults to genesis's validators (organisation and public key).
    """
    genesis = load_genesis(node_directory / GENESIS_FILE_NAME)
    suite = get_suite(genesis.suite)
    if key is None:
        key = load_node_key(load_config(node_directory))
    address = Address(suite.compute_address(key.public_key))
    p2p = settings if settings is not None else load_p2p_settings(node_directory)
    return P2PNetwork(
        p2p,
        local=LocalIdentity(genesis.chain_id, compute_genesis_hash(suite, genesis), address),
        tls=TlsFiles.from_settings(p2p, node_directory),
        suite=suite,
        sign=make_key_signer(suite, key),
        get_validator=get_validator if get_validator is not None else get_validator_lookup(genesis),
        channels=channels if channels is not None else DEFAULT_CHANNELS,
        rng=rng,
        get_trusted_organizations=get_genesis_trust(genesis),
    )
