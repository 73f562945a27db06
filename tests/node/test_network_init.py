"""`initialize_network`: a multi-organisation chain on disk, whose node directories form a TLS mesh."""

from __future__ import annotations

import asyncio
import random
import socket
import stat
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import ConfigError
from gusu.ledger.genesis import load_genesis
from gusu.ledger.types import Address
from gusu.network.settings import P2PSettings
from gusu.network.tls import TlsFiles, build_tls_contexts
from gusu.node.chain import load_node_key
from gusu.node.config import compute_settings, load_config
from gusu.node.network_init import build_p2p_network, initialize_network, load_p2p_settings
from gusu.node.pki import (
    get_node_identity,
    load_certificate,
    load_certificates,
    load_private_key,
    verify_certificate_chain,
)

TEST_SCRYPT_N = 2**10


def _free_base_port(count: int) -> int:
    """A base port with `count` free ports after it (then released: a small race we accept in tests)."""
    rng = random.Random()
    for _ in range(100):
        base = rng.randrange(20_000, 60_000)
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no free port range found")


def test_two_organisations_of_two_nodes(tmp_path: Path) -> None:
    layout = initialize_network(
        tmp_path / "chain",
        organizations=["acme", "bank"],
        nodes_per_organization=2,
        suite_name="ecdsa",
        chain_id="consortium",
        base_api_port=18_000,
        base_p2p_port=28_000,
        scrypt_n=TEST_SCRYPT_N,
    )
    genesis = load_genesis(layout.directory / "genesis.json")
    assert genesis == layout.genesis
    assert [v.name for v in genesis.validators] == ["node0", "node1", "node2", "node3"]
    assert all(v.power == 1 for v in genesis.validators)
    assert [node.organization for node in layout.nodes] == ["acme", "acme", "bank", "bank"]
    # Genesis records who runs each validator: the organisation whose CA certified its node.
    assert [v.organization for v in genesis.validators] == ["acme", "acme", "bank", "bank"]
    assert layout.api_ports == (18_000, 18_001, 18_002, 18_003)
    assert layout.p2p_ports == (28_000, 28_001, 28_002, 28_003)
    cas = {
        organization.name: load_certificate(organization.ca_certificate_path) for organization in layout.organizations
    }
    # Each organisation is its own root, listed in genesis with its CA and its admin account; no chain root.
    assert [(o.name, o.ca_certificate, o.admins) for o in genesis.organizations] == [
        (o.name, cas[o.name].public_bytes(serialization.Encoding.DER), (o.admin_address,)) for o in layout.organizations
    ]
    assert not (layout.directory / "pki" / "root-ca.key").exists()
    for node, validator in zip(layout.nodes, genesis.validators, strict=True):
        directory = node.directory
        assert node.address == validator.address
        for name in ("config.toml", "genesis.json", "node_key.json", "node_key.pass", "tls/ca.crt"):
            assert (directory / name).is_file(), name
        assert load_genesis(directory / "genesis.json") == genesis
        key = decrypt_key_file(
            (directory / "node_key.json").read_bytes(), (directory / "node_key.pass").read_text().strip()
        )
        assert key.public_key == validator.public_key
        # The node's certificate binds its consensus address and organisation, under its organisation's CA.
        chain = load_certificates(directory / "tls/node.crt")
        assert len(chain) == 2 and chain[1] == cas[node.organization]
        verify_certificate_chain(chain[0], chain[1])
        assert get_node_identity(chain[0]) == (node.organization, node.address)
        assert load_certificates(directory / "tls/ca.crt") == list(cas.values())
        for secret in ("node_key.json", "node_key.pass", "tls/node.key"):
            assert stat.S_IMODE((directory / secret).stat().st_mode) == 0o600, secret
        build_tls_contexts(TlsFiles(directory / "tls/node.crt", directory / "tls/node.key", directory / "tls/ca.crt"))
        # The config: [api] as before, and the new [p2p] section listing every other node.
        document = tomllib.loads((directory / "config.toml").read_text())
        assert document["api"]["port"] == node.api_port and document["node"]["name"] == node.name
        p2p = load_p2p_settings(directory)
        assert p2p.listen_port == node.p2p_port
        assert sorted(port for _, port in p2p.peer_endpoints) == sorted(set(layout.p2p_ports) - {node.p2p_port})
    for organization in layout.organizations:
        ca = load_certificate(organization.ca_certificate_path)
        admin_chain = load_certificates(organization.admin_certificate_path)
        verify_certificate_chain(admin_chain[0], ca)
        assert admin_chain[1] == ca
        passphrase = organization.admin_passphrase_path.read_text().strip().encode()
        assert load_private_key(organization.admin_key_path, passphrase).public_key() == admin_chain[0].public_key()
        for secret_path in (organization.ca_key_path, organization.ca_passphrase_path, organization.admin_key_path):
            assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(organization.admin_account_key_path.stat().st_mode) == 0o600
    assert genesis.admins == (layout.dev_address,)
    assert genesis.allocations[0].address == layout.dev_address


def test_organisations_by_count_and_refusals(tmp_path: Path) -> None:
    layout = initialize_network(tmp_path / "a", organizations=3, suite_name="ecdsa", scrypt_n=TEST_SCRYPT_N)
    assert [org.name for org in layout.organizations] == ["org0", "org1", "org2"]
    assert len(layout.nodes) == 3
    with pytest.raises(ConfigError, match="already holds a chain"):
        initialize_network(tmp_path / "a", organizations=1, suite_name="ecdsa", scrypt_n=TEST_SCRYPT_N)
    bad: list[tuple[dict[str, object], str]] = [
        ({"organizations": 0}, "between 1 and"),
        ({"organizations": ["acme", "ACME"]}, "must differ"),
        ({"organizations": ["a/b"]}, "organization name"),
        ({"organizations": "acme"}, "not one string"),
        ({"organizations": 2, "nodes_per_organization": 0}, "nodes_per_organization"),
        ({"organizations": 2, "base_api_port": 26_000, "base_p2p_port": 26_001}, "overlap"),
        ({"organizations": 2, "base_p2p_port": 65_535}, "base_p2p_port"),
        ({"organizations": 1, "validator_power": 0}, "validator_power"),
        ({"organizations": 1, "chain_id": "bad id"}, "chain_id"),
        ({"organizations": 1, "host": "bad host"}, "listen_host"),
        ({"organizations": 1, "scrypt_n": 1000}, "scrypt_n"),
    ]
    for arguments, message in bad:
        target = tmp_path / f"bad{len(message)}"
        with pytest.raises(ConfigError, match=message):
            initialize_network(target, **{"suite_name": "ecdsa", "scrypt_n": TEST_SCRYPT_N, **arguments})  # type: ignore[arg-type]
        assert not (target / "genesis.json").exists(), "nothing is written for invalid arguments"


def test_node_directories_form_a_tls_mesh(tmp_path: Path) -> None:
    base = _free_base_port(3)
    layout = initialize_network(
        tmp_path / "chain",
        organizations=["acme", "bank", "coop"],
        suite_name="sm",
        base_p2p_port=base,
        base_api_port=base + 100 if base + 103 < 65_535 else base - 100,
        scrypt_n=TEST_SCRYPT_N,
    )

    async def scenario() -> None:
        networks = [build_p2p_network(directory) for directory in layout.node_directories]
        received: list[tuple[Address, Address]] = []
        for network in networks:

            def record(sender: Address, _: bytes, me: Address = network.address) -> None:
                received.append((me, sender))

            network.subscribe("consensus", record)
        for network in networks:
            await network.start()
        try:
            for network, node in zip(networks, layout.nodes, strict=True):
                await network.wait_connected([n.address for n in layout.nodes if n is not node], 10)
                organizations = {info.organization for info in network.connected_peers()}
                assert organizations == {"acme", "bank", "coop"} - {node.organization}
            for network in networks:
                assert await network.broadcast("consensus", b"proposal") == 2
            async with asyncio.timeout(5):
                while len(received) < 6:
                    await asyncio.sleep(0.01)
        finally:
            await asyncio.gather(*(network.stop() for network in networks))

    asyncio.run(asyncio.wait_for(scenario(), 30))


def test_a_node_key_that_does_not_match_the_certificate_is_a_config_error(tmp_path: Path) -> None:
    layout = initialize_network(tmp_path / "chain", organizations=2, suite_name="ecdsa", scrypt_n=TEST_SCRYPT_N)
    other_key = load_node_key(load_config(layout.nodes[1].directory))
    with pytest.raises(ConfigError, match="TLS certificate names node"):
        build_p2p_network(layout.nodes[0].directory, key=other_key)
    (layout.nodes[0].directory / "tls/node.key").write_bytes((layout.nodes[1].directory / "tls/node.key").read_bytes())
    with pytest.raises(ConfigError, match="key belongs to the certificate"):
        build_p2p_network(layout.nodes[0].directory)


def test_the_p2p_section_fits_the_node_config_reader(tmp_path: Path) -> None:
    """node/config.py reads [p2p] with its generic settings reader, as it reads the other sections."""
    layout = initialize_network(tmp_path / "chain", organizations=2, suite_name="ecdsa", scrypt_n=TEST_SCRYPT_N)
    directory = layout.nodes[1].directory
    table = tomllib.loads((directory / "config.toml").read_text())["p2p"]
    assert compute_settings(P2PSettings, table, "p2p") == load_p2p_settings(directory)
    assert load_config(directory).p2p == load_p2p_settings(directory)


def test_the_one_node_chain_names_its_organisation(tmp_path: Path) -> None:
    from gusu.node.chain import SINGLE_NODE_ORGANIZATION, initialize_chain

    layout = initialize_chain(tmp_path / "solo", suite_name="ecdsa", scrypt_n=TEST_SCRYPT_N)
    assert [v.organization for v in layout.genesis.validators] == [SINGLE_NODE_ORGANIZATION]
    assert load_genesis(layout.directory / "genesis.json") == layout.genesis
    assert SINGLE_NODE_ORGANIZATION == "org0"  # the first name `--organizations N` uses
