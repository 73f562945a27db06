"""`gusu org` / `node init` / `chain genesis` / `node renew-cert`: separate organisations, public parts only."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from gusu.cli.main import cli
from gusu.ledger.genesis import load_genesis
from gusu.network.tls import TlsFiles, build_tls_contexts
from gusu.network.trust import compute_certificate_sha256
from gusu.node.pki import load_certificates, verify_certificate_chain

SECRET_SUFFIXES = (".key", ".pass", "_key.json")


def invoke(runner: CliRunner, *arguments: str) -> dict[str, object]:
    result = runner.invoke(cli, [*arguments, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def get_secrets(directory: Path) -> dict[Path, bytes]:
    """Every private file under `directory`: key files and their passphrases."""
    return {
        path: path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file() and path.name.endswith(SECRET_SUFFIXES)
    }


def assert_holds_no_secret_of(directory: Path, secrets: dict[Path, bytes]) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret_path, secret in secrets.items():
                assert secret.strip() not in content, f"{path} holds {secret_path}'s private content"


def test_separate_organisations_assemble_a_genesis_from_public_parts(runner: CliRunner, tmp_path: Path) -> None:
    names = ["acme", "bank"]
    machines = {name: tmp_path / name for name in names}  # one "machine" per organisation
    records = []
    for index, name in enumerate(names):
        created = invoke(runner, "org", "init", name, "--dir", str(machines[name] / "org"), "--suite", "ecdsa")
        assert created["name"] == name and created["kind"] == "gusu.organization.v1"
        bundle = runner.invoke(cli, ["org", "export", "--dir", str(machines[name] / "org")], catch_exceptions=False)
        (tmp_path / f"{name}.org.json").write_text(bundle.stdout)
        node = invoke(
            runner, "node", "init", "--org", str(machines[name] / "org"), "--name", f"{name}-n0",
            "--dir", str(machines[name] / "node"), "--p2p-port", str(27000 + index), "--api-port", str(18600 + index),
        )  # fmt: skip
        assert node["organization"] == name
        records.append(machines[name] / "node" / "node.json")
    # The assembler sees public files only.
    public = tmp_path / "public"
    public.mkdir()
    for name in names:
        (public / f"{name}.org.json").write_text((tmp_path / f"{name}.org.json").read_text())
    for record in records:
        (public / f"{record.parent.parent.name}.node.json").write_text(record.read_text())
    genesis_document = invoke(
        runner, "chain", "genesis", "--chain-id", "consortium",
        "--org", str(public / "acme.org.json"), "--org", str(public / "bank.org.json"),
        "--validator", str(public / "acme.node.json"), "--validator", str(public / "bank.node.json"),
        "--out", str(public / "genesis.json"),
    )  # fmt: skip
    assert genesis_document["organizations"] == names
    genesis = load_genesis(public / "genesis.json")
    assert [v.organization for v in genesis.validators] == names
    for name, organization in zip(names, genesis.organizations, strict=True):
        ca = load_certificates(machines[name] / "org" / "ca.crt")[0]
        assert organization.ca_certificate == ca.public_bytes(serialization.Encoding.DER)
        chain = load_certificates(machines[name] / "node" / "tls" / "node.crt")
        verify_certificate_chain(chain[0], ca)
        # The node's TLS contexts build against genesis's list of organisations.
        node_dir = machines[name] / "node"
        trusted = {o.name: o.ca_certificate for o in genesis.organizations}
        build_tls_contexts(
            TlsFiles(node_dir / "tls/node.crt", node_dir / "tls/node.key", node_dir / "tls/ca.crt"), trusted
        )
    # No directory holds another organisation's private key; the public one holds none at all.
    secrets = {name: get_secrets(machines[name]) for name in names}
    assert all(len(found) == 7 for found in secrets.values()), secrets  # CA, admin, node, TLS
    for name in names:
        for other in names:
            if other != name:
                assert_holds_no_secret_of(machines[name], secrets[other])
        assert_holds_no_secret_of(public, secrets[name])
    assert get_secrets(public) == {}


def test_org_status_shows_every_certificate_and_renewal_replaces_the_node_certificate(
    runner: CliRunner, tmp_path: Path
) -> None:
    org, node = tmp_path / "org", tmp_path / "node"
    invoke(runner, "org", "init", "acme", "--dir", str(org))
    invoke(runner, "node", "init", "--org", str(org), "--name", "n0", "--dir", str(node))
    status = invoke(runner, "org", "status", "--dir", str(org))
    certificates = status["certificates"]
    assert isinstance(certificates, list)
    assert [(c["kind"], c["subject"]) for c in certificates] == [("ca", "CN=acme CA,O=acme"), ("node", "CN=n0,O=acme")]
    assert all(c["warning"] is None and c["remaining_s"] > 300 * 86_400 for c in certificates)
    before = load_certificates(node / "tls" / "node.crt")[0]
    renewed = invoke(runner, "node", "renew-cert", "--org", str(org), "--dir", str(node))
    after = load_certificates(node / "tls" / "node.crt")[0]
    assert after != before and after.subject == before.subject
    assert renewed["sha256"] == compute_certificate_sha256(after.public_bytes(serialization.Encoding.DER)).hex()
    assert not list((node / "tls").glob("*.new"))
    status = invoke(runner, "org", "status", "--dir", str(org))
    assert [c["sha256"] for c in status["certificates"] if c["kind"] == "node"] == [renewed["sha256"]]  # type: ignore[index, union-attr]
    table = runner.invoke(cli, ["org", "status", "--dir", str(org)], catch_exceptions=False)
    assert "CN=n0,O=acme" in table.stdout and "days" in table.stdout
    # Another organisation's directory cannot renew this node.
    invoke(runner, "org", "init", "bank", "--dir", str(tmp_path / "bank"))
    refused = runner.invoke(cli, ["node", "renew-cert", "--org", str(tmp_path / "bank"), "--dir", str(node)])
    assert refused.exit_code == 1 and "belongs to 'acme'" in refused.stderr
