"""Four organisations on four "hosts" (network namespaces), each with only its own keys, run one chain.

Each organisation, inside its own namespace and directory, runs the real
CLI: ``gusu org init`` (its CA and admin account), ``gusu org export`` (its
public bundle) and ``gusu node init`` (its validator's keys and TLS
certificate). Only public files (bundles, node records) are copied to the
assembler, which runs ``gusu chain genesis``; the genesis is copied back to
each organisation. The four nodes then start, one per namespace, reach each
other only over the namespaces' bridge (`test_e2e_partition.NamespaceLab`),
and commit a transfer signed by one organisation's admin. At the end no
directory holds another organisation's private key.

Then the certificate lifecycle with real processes: node0's organisation
renews its TLS certificate (``gusu node renew-cert``) while it runs; node0
picks it up within ``certificate_check_interval_s`` (a file watch), its
existing connections stay up, a restarted peer connects to it anew, and the
chain keeps committing. ``/metrics`` reports every certificate's expiry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from e2e_helpers import E2E_SCRYPT_N, NODE_COUNT, REPOSITORY, find_free_port_range
from test_e2e_partition import NamespaceLab, get_unavailable_reason, namespace_lab

from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import ClientError, RemoteError
from gusu.ledger.types import Hash, Height
from gusu.sdk import Client
from gusu.sdk.transactions import build_transaction

pytestmark = pytest.mark.e2e

CHAIN_ID = "orgs-e2e"
SECRET_SUFFIXES = (".key", ".pass", "_key.json")
READY_TIMEOUT_S = 30.0


@dataclass
class Member:
    """One organisation's machine: its namespace, its directory, its node process."""

    index: int
    namespace: tuple[str, ...]
    machine: Path
    api_host: str
    api_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    record: dict[str, object] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"org{self.index}"

    @property
    def org_dir(self) -> Path:
        return self.machine / "org"

    @property
    def node_dir(self) -> Path:
        return self.machine / "node"

    def client(self) -> Client:
        return Client(f"http://{self.api_host}:{self.api_port}", timeout_s=5.0, retries_max=0)

    def gusu(self, *arguments: str) -> str:
        """Run the CLI on this organisation's machine (in its namespace); its stdout."""
        environment = {**os.environ, "GUSU_KEYFILE_SCRYPT_N": str(E2E_SCRYPT_N), "GUSU_HOME": str(self.machine)}
        result = subprocess.run(
            [*self.namespace, sys.executable, "-m", "gusu.cli.main", *arguments],
            capture_output=True, text=True, timeout=60, env=environment, cwd=REPOSITORY, check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"gusu {' '.join(arguments)}: {result.stderr}"
        return result.stdout

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        with (self.node_dir / "stdout.log").open("ab") as out, (self.node_dir / "node.log").open("ab") as err:
            self.process = subprocess.Popen(
                [*self.namespace, sys.executable, "-m", "gusu.api.process", str(self.node_dir)],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=REPOSITORY,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in (self.node_dir / "stdout.log").read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("ready") and record.get("pid") == self.process.pid:
                    return
            assert self.process.poll() is None, f"{self.name}'s node exited: {self.log_tail()}"
            time.sleep(0.05)
        raise AssertionError(f"{self.name}'s node not ready: {self.log_tail()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        try:
            return (self.node_dir / "node.log").read_text(errors="replace")[-2_000:]
        except OSError:
            return "(no log)"


def get_secrets(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in directory.rglob("*") if p.is_file() and p.name.endswith(SECRET_SUFFIXES)}


def assert_holds_no_secret_of(directory: Path, secrets: dict[Path, bytes]) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret_path, secret in secrets.items():
                assert secret.strip() not in content, f"{path} holds {secret_path}'s private content"


def wait_until(condition: object, timeout_s: float, what: str, members: list[Member]) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except (OSError, ClientError):
            pass
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {m.name}:\n{m.log_tail()}" for m in members)
            raise AssertionError(f"{what}: not within {timeout_s} s\n{logs}")
        time.sleep(0.1)


@contextmanager
def running(members: list[Member]) -> Iterator[list[Member]]:
    try:
        for member in members:
            member.start()
        for member in members:
            member.wait_ready()
        yield members
    finally:
        for member in members:
            member.kill()


def connected(member: Member, count: int) -> bool:
    with member.client() as client:
        return len(client.peers()) >= count


def send_transfer(member: Member, admin_key_path: Path, amount: int) -> Hash:
    key = decrypt_key_file(admin_key_path.read_bytes(), admin_key_path.with_suffix(".pass").read_text().strip())
    with member.client() as client:
        height = int(client.block_number())
        transaction = build_transaction(
            key, CHAIN_ID, "account", "transfer", [b"\x5e" * 20, amount], Height(height + 100)
        )
        return client.send_raw(transaction.raw)


def has_receipt(member: Member, transaction_id: Hash) -> bool:
    with member.client() as client:
        try:
            client.get_receipt(transaction_id)
        except RemoteError as error:
            if error.code == "not_found":
                return False
            raise
    return True


def read_metrics(member: Member) -> str:
    with urllib.request.urlopen(f"http://{member.api_host}:{member.api_port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def set_check_interval(node_dir: Path, seconds: float) -> None:
    path = node_dir / "config.toml"
    text = path.read_text()
    assert "# certificate_check_interval_s = 5.0" in text
    path.write_text(text.replace("# certificate_check_interval_s = 5.0", f"certificate_check_interval_s = {seconds}"))


def test_four_organisations_on_separate_hosts_each_with_only_its_own_keys(tmp_path: Path) -> None:
    reason = get_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    base = find_free_port_range(2 * NODE_COUNT)
    with namespace_lab() as lab:
        members = _set_up_organisations(lab, tmp_path, base)
        with running(members):
            _run_chain(members, tmp_path)


def _set_up_organisations(lab: NamespaceLab, tmp_path: Path, base: int) -> list[Member]:
    members = [
        Member(i, lab.specs[i].command_prefix, tmp_path / f"machine{i}", lab.api_host(i), base + i)
        for i in range(NODE_COUNT)
    ]
    p2p = [f"{lab.p2p_host(i)}:{base + NODE_COUNT + i}" for i in range(NODE_COUNT)]
    public = tmp_path / "public"
    public.mkdir()
    for member in members:
        member.gusu("org", "init", member.name, "--dir", str(member.org_dir), "--suite", "ecdsa", "--json")
        (public / f"{member.name}.org.json").write_text(member.gusu("org", "export", "--dir", str(member.org_dir)))
        peers = [argument for other in p2p if other != p2p[member.index] for argument in ("--peer", other)]
        node_arguments = [
            "node", "init", "--org", str(member.org_dir), "--name", f"node{member.index}",
            "--dir", str(member.node_dir), "--p2p-host", lab.p2p_host(member.index),
            "--p2p-port", str(base + NODE_COUNT + member.index), "--api-host", member.api_host,
            "--api-port", str(member.api_port), "--workers", "0", *peers, "--json",
        ]  # fmt: skip
        member.record = json.loads(member.gusu(*node_arguments))
        (public / f"{member.name}.node.json").write_text((member.node_dir / "node.json").read_text())
        set_check_interval(member.node_dir, 0.5)
    # The assembler: public files only.
    org0_admin = json.loads((public / "org0.org.json").read_text())["admins"][0]
    arguments = ["chain", "genesis", "--chain-id", CHAIN_ID, "--out", str(public / "genesis.json")]
    for member in members:
        arguments += ["--org", str(public / f"{member.name}.org.json")]
        arguments += ["--validator", str(public / f"{member.name}.node.json")]
    arguments += ["--allocate", f"{org0_admin}=1000000", "--json"]
    assembled = json.loads(members[0].gusu(*arguments))
    assert assembled["organizations"] == [m.name for m in members]
    for member in members:
        (member.node_dir / "genesis.json").write_bytes((public / "genesis.json").read_bytes())
    assert get_secrets(public) == {}
    return members


def _run_chain(members: list[Member], tmp_path: Path) -> None:
    for member in members:
        wait_until(lambda m=member: connected(m, NODE_COUNT - 1), 30, f"{member.name} connecting", members)
    admin_key = members[0].org_dir / "admin_key.json"
    first = send_transfer(members[0], admin_key, 7)
    for member in members:
        wait_until(lambda m=member: has_receipt(m, first), 30, f"{member.name} committing", members)
    with members[1].client() as client:
        assert int(client.block_number()) >= 1

    # No organisation's directory holds another's private key (and each holds its own).
    secrets = {member.name: get_secrets(member.machine) for member in members}
    assert all(len(found) == 7 for found in secrets.values()), secrets
    for member in members:
        for other in members:
            if other is not member:
                assert_holds_no_secret_of(member.machine, secrets[other.name])

    # The expiry metric: the node's own certificate, the four CAs, its three peers.
    metrics = read_metrics(members[0])
    lines = [line for line in metrics.splitlines() if line.startswith("gusu_certificate_expiry_seconds{")]
    kinds = sorted(line.split('kind="')[1].split('"')[0] for line in lines)
    assert kinds == ["ca"] * 4 + ["node"] + ["peer"] * 3, lines
    # Node certificates live 365 days, organisation CAs 1825 (PkiSettings).
    assert all(300 * 86_400 < float(line.rsplit(" ", 1)[1]) < 1826 * 86_400 for line in lines), lines

    # Renewal without downtime: node0's organisation renews while node0 runs.
    renewed = json.loads(
        members[0].gusu("node", "renew-cert", "--org", str(members[0].org_dir), "--dir", str(members[0].node_dir),
                        "--json")
    )  # fmt: skip
    renewed_at = time.monotonic()
    wait_until(lambda: "new TLS certificate" in members[0].log_tail(), 10, "node0 using the new certificate", members)
    # Existing connections stayed up: node0's peers have been connected since before the renewal.
    elapsed = time.monotonic() - renewed_at
    with members[0].client() as client:
        peers = client.peers()
    assert len(peers) == NODE_COUNT - 1
    assert all(peer.connected_for_s > elapsed for peer in peers), peers
    # A peer that restarts makes a new connection to node0, which now presents the new certificate.
    members[1].kill()
    members[1].start()
    members[1].wait_ready()
    wait_until(lambda: connected(members[1], NODE_COUNT - 1), 30, "node1 reconnecting", members)
    peer_subjects = [line for line in read_metrics(members[1]).splitlines() if 'kind="peer",subject="CN=node0' in line]
    assert len(peer_subjects) == 1, peer_subjects
    second = send_transfer(members[2], members[0].org_dir / "admin_key.json", 9)
    for member in members:
        wait_until(lambda m=member: has_receipt(m, second), 30, f"{member.name} committing after renewal", members)
    assert renewed["sha256"] and "certificate_revoked" not in members[0].log_tail()
