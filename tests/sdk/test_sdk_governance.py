"""`gusu.sdk.governance` against a real node process: propose, vote, cancel, and the typed views.

The chain is a single-operator development chain (`gusu chain init`): its
dev key is the one admin of the implicit organisation, so its proposals pass
alone until the test adds a second organisation; from then on a MAJORITY
kind needs both, which exercises votes, refusals and cancellation.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gusu.codec import Value, encode
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import ClientError, CodecError, TransactionFailedError
from gusu.node.orgdir import initialize_organization
from gusu.sdk import AsyncClient, AsyncGovernance, Client, Governance
from gusu.sdk.governance import (
    make_add_node,
    make_proposal,
    make_revoke_certificate,
    make_update_organization,
    parse_config_change,
    parse_organization,
    parse_proposal,
)

SCRYPT_N = "1024"
COMMAND_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gusu(home: Path, *args: str) -> str:
    environment = {**os.environ, "GUSU_HOME": str(home), "GUSU_KEYFILE_SCRYPT_N": SCRYPT_N}
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", *args],
        env=environment, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def _open_key(path: Path) -> PrivateKey:
    return decrypt_key_file(path.read_bytes(), path.with_suffix(".pass").read_text().strip())


@dataclass
class DevChain:
    url: str
    dev: PrivateKey
    directory: Path


@pytest.fixture
def dev_chain(tmp_path: Path) -> Iterator[DevChain]:
    port = _free_port()
    home = tmp_path / "home"
    _gusu(home, "chain", "init", "--dir", str(tmp_path / "chain"), "--port", str(port), "--workers", "0")
    node_directory = tmp_path / "chain" / "node0"
    _gusu(home, "node", "start", "--dir", str(node_directory), "--detach")
    try:
        yield DevChain(f"http://127.0.0.1:{port}", _open_key(tmp_path / "chain" / "keys" / "dev.json"), tmp_path)
    finally:
        subprocess.run(
            [sys.executable, "-m", "gusu.cli.main", "node", "stop", "--dir", str(node_directory)],
            env={**os.environ, "GUSU_HOME": str(home)}, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False,
        )  # fmt: skip


def test_propose_vote_cancel_and_views(dev_chain: DevChain) -> None:
    os.environ["GUSU_KEYFILE_SCRYPT_N"] = SCRYPT_N
    acme = initialize_organization(dev_chain.directory / "acme", "acme", suite_name="sm", scrypt_n=1024)
    acme_admin = _open_key(dev_chain.directory / "acme" / "admin_key.json")
    with Client(dev_chain.url) as client:
        governance = Governance(client)
        [operator] = governance.get_organizations()
        assert operator.ca_certificate == b"" and operator.status == "active"
        # The implicit organisation decides alone: approved in the proposing transaction.
        added = governance.propose_add_organization(dev_chain.dev, "acme", acme.ca_der, list(acme.admins))
        proposal = governance.get_proposal(added.proposal_id)
        assert proposal is not None and proposal.status == "approved" and proposal.kind == "add_organization"
        assert proposal.args == ["acme", acme.ca_der, [bytes(acme.admins[0])], 1]
        assert proposal.votes == ((operator.name, True),) and proposal.decided_height >= 1
        assert [item.name for item in governance.get_organizations()] == sorted(["acme", operator.name])
        account = governance.get_account(acme.admins[0])
        assert account is not None and (account.organization, account.role, account.frozen) == ("acme", "admin", False)
        assert governance.get_account(b"\x01" * 20) is None

        # Two members now: a MAJORITY kind waits for the second.
        pending = governance.propose_freeze_contract(dev_chain.dev, "evidence")
        view = governance.get_proposal(pending.proposal_id)
        assert view is not None and view.status == "pending" and view.get_vote("acme") is None
        with pytest.raises(TransactionFailedError, match="voted"):
            governance.vote(dev_chain.dev, pending.proposal_id, True)
        stranger = get_suite(client.status().suite).generate_private_key()
        with pytest.raises(TransactionFailedError, match="admin"):
            governance.propose_freeze_contract(stranger, "evidence")
        cast = governance.vote(acme_admin, pending.proposal_id, True)
        assert cast.status == "approved" and cast.receipt.is_success

        # Cancelled by its proposer; a revocation listed once approved.
        revocation = governance.propose_revoke_certificate(acme_admin, b"\x0a" * 32, "key lost")
        governance.cancel(acme_admin, revocation.proposal_id)
        cancelled = governance.get_proposal(revocation.proposal_id)
        assert cancelled is not None and cancelled.status == "cancelled"
        assert governance.get_revocations() == []
        listed = governance.list_proposals()
        assert [item.id for item in listed] == [1, 2, 3]
        assert [item.status for item in listed] == ["approved", "approved", "cancelled"]
        assert governance.list_proposals(start_id=3, limit=1)[0].kind == "revoke_certificate"

        policies = {item.kind: item.rule for item in governance.get_policies()}
        assert policies["add_organization"] == "MAJORITY" and policies["set_account"] == "SELF"
        assert len(policies) == 17 and policies["update_organization"] == "MAJORITY"
        [node] = governance.get_nodes()
        assert node.role == "validator" and node.power >= 1 and node.organization == operator.name
        [entry] = governance.get_config_schedule()
        assert entry.effective_height == 0 and [v.address for v in entry.validators] == [node.address]
        assert governance.get_permissions("evidence") == []

    async def use_async() -> None:
        async with AsyncClient(dev_chain.url) as client:
            governance = AsyncGovernance(client)
            assert len(await governance.get_organizations()) == 2
            submitted = await governance.propose_set_permission(acme_admin, "evidence", "record", ["admin"])
            assert (await governance.get_proposal(submitted.proposal_id)) is not None
            cast = await governance.vote(dev_chain.dev, submitted.proposal_id, True)
            assert cast.status == "approved"
            [permission] = await governance.get_permissions("evidence")
            assert (permission.method, permission.roles, permission.organizations) == ("record", ("admin",), ())
            assert [item.status for item in await governance.list_proposals(start_id=4)] == ["approved"]

    asyncio.run(use_async())


def test_builders_check_before_signing_and_parsers_refuse_wrong_shapes() -> None:
    with pytest.raises(ClientError, match="unknown proposal kind"):
        make_proposal("add_everything", [])
    with pytest.raises(ClientError, match="32 bytes"):
        make_revoke_certificate(b"\x01" * 31, "short")
    with pytest.raises(ClientError, match="20-byte address"):
        make_add_node("n", b"\x01" * 19, b"key", "acme")
    request = make_add_node("n", b"\x01" * 20, b"key", "acme", power=2)
    assert request.kind == "add_node" and request.args == encode(["n", b"\x01" * 20, b"key", "acme", "validator", 2])
    with pytest.raises(CodecError):
        parse_proposal([1, "add_node"])
    with pytest.raises(CodecError):
        parse_organization(["acme", b"", [b"short"], 1, "active"])
    with pytest.raises(CodecError):
        parse_config_change([0, [], [["x", -1]], "solo"])


class _PagedNode:
    """A stand-in client answering the registry views from a list, page by page (or hostile: always page one)."""

    def __init__(self, nodes: list[Value], repeat_first_page: bool = False) -> None:
        self.nodes = nodes
        self.repeat_first_page = repeat_first_page
        self.calls: list[list[Value]] = []

    def call(self, contract: str, method: str, args: list[Value]) -> Value:
        assert contract == "system" and method == "get_nodes"
        self.calls.append(list(args))
        after, limit = args
        assert isinstance(after, bytes) and isinstance(limit, int)
        if self.repeat_first_page:
            after = b""
        return [node for node in self.nodes if node[1] > after][:2]  # type: ignore[index, operator]


def _node_record(index: int) -> Value:
    return [f"n{index}", bytes([index]) * 20, b"key", "acme", "validator", 1]


def test_registry_listings_are_read_page_by_page_and_a_node_that_never_ends_them_is_refused() -> None:
    node = _PagedNode([_node_record(index) for index in range(1, 6)])
    nodes = Governance(node).get_nodes()  # type: ignore[arg-type]
    assert [item.name for item in nodes] == ["n1", "n2", "n3", "n4", "n5"]
    assert [call[0] for call in node.calls] == [b"", b"\x02" * 20, b"\x04" * 20, b"\x05" * 20]
    with pytest.raises(CodecError, match="not sorted after its cursor"):
        Governance(_PagedNode([_node_record(1), _node_record(2)], repeat_first_page=True)).get_nodes()  # type: ignore[arg-type]


def test_update_organization_builder() -> None:
    request = make_update_organization("acme", b"\x30\x01", [b"\x02" * 20, b"\x01" * 20], 2)
    assert request.kind == "update_organization"
    assert request.args == encode(["acme", b"\x30\x01", [b"\x01" * 20, b"\x02" * 20], 2])
    with pytest.raises(ClientError, match="at least one admin"):
        make_update_organization("acme", b"\x30\x01", [], 1)
