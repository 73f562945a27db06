"""Creating a chain on disk: genesis, node keys and ready-to-run node directories.

`initialize_chain` lays out a directory that `gusu node start` can run
at once, on embedded defaults (no external server):

    <directory>/genesis.json
    <directory>/node0/   config.toml, genesis.json, node_key.json, node_key.pass, data/
    <directory>/keys/    dev.json + dev.pass: a funded developer account and genesis admin

The multi-organisation layout (a CA per organisation, TLS certificates)
comes with the BFT milestone and extends this function.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file, encrypt_key_file
from gusu.crypto.secretfile import write_secret_file
from gusu.crypto.selfcheck import validate_suite_support
from gusu.errors import ConfigError
from gusu.ledger.genesis import (
    CONSENSUS_SOLO,
    DEFAULT_CONTRACTS,
    DEFAULT_PARAMETERS,
    Allocation,
    Genesis,
    GenesisValidator,
    get_running_python_version,
    load_genesis,
    save_genesis,
)
from gusu.ledger.kv import DEFAULT_BACKEND
from gusu.ledger.types import Address
from gusu.node.config import (
    CONFIG_FILE_NAME,
    GENESIS_FILE_NAME,
    NODE_KEY_FILE_NAME,
    NODE_PASSPHRASE_FILE_NAME,
    NodeConfig,
    get_node_passphrase,
    load_config,
    render_config,
)
from gusu.node.node import Node

DEFAULT_CHAIN_ID = "gusu-local"
DEFAULT_ALLOCATION = 10**15
DEV_KEY_NAME = "dev"
SINGLE_NODE_ORGANIZATION = "org0"
"""The organisation genesis names for the one validator of `initialize_chain` (the first of `--organizations N`)."""


@dataclass(frozen=True, slots=True)
class ChainLayout:
    directory: Path
    genesis: Genesis
    node_directories: tuple[Path, ...]
    dev_key_path: Path
    dev_passphrase_path: Path
    dev_address: Address
    api_ports: tuple[int, ...]


def write_encrypted_key(path: Path, key: PrivateKey, scrypt_n: int | None) -> str:
    """Seal `key` under a fresh random passphrase into `path` (0600, atomically); the passphrase.

    `scrypt_n` None keeps the key files' strong default cost; a smaller n is
    the throwaway cost of tests and benchmarks (an sm key file then gets the
    same discount on its PBKDF2 iterations, see `compute_pbkdf2_iterations`).
    """
    passphrase = secrets.token_urlsafe(24)
    document = (
        encrypt_key_file(key, passphrase) if scrypt_n is None else encrypt_key_file(key, passphrase, scrypt_n=scrypt_n)
    )
    write_secret_file(path, document)
    return passphrase


def initialize_chain(
    directory: Path,
    *,
    suite_name: str = "sm",
    chain_id: str = DEFAULT_CHAIN_ID,
    api_port: int = 8545,
    verifier_workers: int = 2,
    allocation: int = DEFAULT_ALLOCATION,
    timestamp_ms: int = 0,
    scrypt_n: int | None = None,
    storage_backend: str | None = None,
    contracts: tuple[str, ...] = DEFAULT_CONTRACTS,
) -> ChainLayout:
    """Create a one-node chain in `directory` (which must not already hold one), running `contracts`."""
    if (directory / GENESIS_FILE_NAME).exists():
        raise ConfigError(f"{directory} already holds a chain; choose another directory or remove it")
    validate_suite_support(suite_name)
    suite = get_suite(suite_name)
    directory.mkdir(parents=True, exist_ok=True)
    keys_directory = directory / "keys"
    keys_directory.mkdir(exist_ok=True)
    node_directory = directory / "node0"
    node_directory.mkdir(exist_ok=True)

    node_key = suite.generate_private_key()
    dev_key = suite.generate_private_key()
    node_address = Address(suite.compute_address(node_key.public_key))
    dev_address = Address(suite.compute_address(dev_key.public_key))
    genesis = Genesis(
        chain_id=chain_id,
        suite=suite_name,
        timestamp_ms=timestamp_ms,
        validators=(
            GenesisValidator(
                name="node0",
                address=node_address,
                public_key=node_key.public_key,
                power=1,
                organization=SINGLE_NODE_ORGANIZATION,
            ),
        ),
        allocations=(Allocation(address=dev_address, amount=allocation),),
        parameters=DEFAULT_PARAMETERS,
        admins=(dev_address,),
        python_version=get_running_python_version(),
        consensus=CONSENSUS_SOLO,
        contracts=tuple(sorted(contracts)),
    )
    save_genesis(directory / GENESIS_FILE_NAME, genesis)
    save_genesis(node_directory / GENESIS_FILE_NAME, genesis)
    node_passphrase = write_encrypted_key(node_directory / NODE_KEY_FILE_NAME, node_key, scrypt_n)
    write_secret_file(node_directory / NODE_PASSPHRASE_FILE_NAME, (node_passphrase + "\n").encode())
    config_text = render_config(
        name="node0", api_port=api_port, verifier_workers=verifier_workers, backend=storage_backend or DEFAULT_BACKEND
    )
    (node_directory / CONFIG_FILE_NAME).write_text(config_text, encoding="utf-8")
    dev_key_path = keys_directory / f"{DEV_KEY_NAME}.json"
    dev_passphrase = write_encrypted_key(dev_key_path, dev_key, scrypt_n)
    dev_passphrase_path = keys_directory / f"{DEV_KEY_NAME}.pass"
    write_secret_file(dev_passphrase_path, (dev_passphrase + "\n").encode())
    return ChainLayout(
        directory=directory,
        genesis=genesis,
        node_directories=(node_directory,),
        dev_key_path=dev_key_path,
        dev_passphrase_path=dev_passphrase_path,
        dev_address=dev_address,
        api_ports=(api_port,),
    )


def load_node_key(config: NodeConfig) -> PrivateKey:
    try:
        document = config.key_path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read the node key {config.key_path}: {error}") from error
    return decrypt_key_file(document, get_node_passphrase(config))


def load_node(directory: Path) -> Node:
    """Build (not start) the node configured in `directory`.

    Raises CryptoError, naming what is missing, if this machine cannot run
    the chain's crypto suite (e.g. an OpenSSL built without SM2): better
    than a node that starts and then rejects every signature.
    """
    config = load_config(directory)
    genesis = load_genesis(config.genesis_path)
    validate_suite_support(genesis.suite)
    return Node(config, genesis, load_node_key(config))
