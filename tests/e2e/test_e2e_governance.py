"""Four organisations admit a fifth by on-chain governance, with the real CLI on five "hosts" (namespaces).

The four founders set up as in test_e2e_organizations (each its own
directory and namespace, genesis from public files). A fifth organisation
runs ``gusu org init`` and ``gusu node init`` on its own machine and hands
over only its public bundle and node record. A founder runs ``gusu node
join`` on those files to see the proposals, then the founders vote with
``gusu gov`` (a second vote by the proposer and a non-member's proposal are
refused). The fifth node starts as an observer, connects (its organisation's
CA is now trusted, its record registered) and syncs. Finally its
certificate is revoked by proposal: the founders cut it at the commit of
the deciding block, and it cannot reconnect.

docs/governance.md's worked example is this test's sequence of commands.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import NODE_COUNT, find_free_port_range
from test_e2e_organizations import (
    Member,
    _set_up_organisations,
    connected,
    has_receipt,
    running,
    send_transfer,
    set_check_interval,
    wait_until,
)
from test_e2e_partition import NamespaceLab, get_unavailable_reason, namespace_lab

pytestmark = pytest.mark.e2e


def _gov(member: Member, *arguments: str) -> Any:
    endpoint = f"http://{member.api_host}:{member.api_port}"
    return json.loads(member.gusu(*arguments, "--endpoint", endpoint, "--json"))


def _gov_refused(member: Member, *arguments: str) -> str:
    """Run a command expected to fail; its stderr."""
    try:
        member.gusu(*arguments, "--endpoint", f"http://{member.api_host}:{member.api_port}")
    except AssertionError as error:
        return str(error)
    raise AssertionError(f"gusu {' '.join(arguments)} succeeded but should have been refused")


def _prepare_newcomer(lab: NamespaceLab, tmp_path: Path, base: int, founders: list[Member]) -> Member:
    """The fifth organisation, on its own machine: org init, export, node init (public files to `public`)."""
    index = NODE_COUNT
    newcomer = Member(index, lab.specs[index].command_prefix, tmp_path / f"machine{index}", lab.api_host(index),
                      base + 2 * NODE_COUNT)  # fmt: skip
    public = tmp_path / "public"
    newcomer.gusu("org", "init", newcomer.name, "--dir", str(newcomer.org_dir), "--suite", "ecdsa", "--json")
    (public / f"{newcomer.name}.org.json").write_text(newcomer.gusu("org", "export", "--dir", str(newcomer.org_dir)))
    endpoints = [f"{lab.p2p_host(f.index)}:{base + NODE_COUNT + f.index}" for f in founders]
    peers = [argument for endpoint in endpoints for argument in ("--peer", endpoint)]
    newcomer.gusu(
        "node", "init", "--org", str(newcomer.org_dir), "--name", "node4", "--dir", str(newcomer.node_dir),
        "--p2p-host", lab.p2p_host(index), "--p2p-port", str(base + 2 * NODE_COUNT + 1),
        "--api-host", newcomer.api_host, "--api-port", str(newcomer.api_port), "--workers", "0", *peers, "--json",
    )  # fmt: skip
    set_check_interval(newcomer.node_dir, 0.5)
    shutil.copy(newcomer.node_dir / "node.json", public / "node4.node.json")
    shutil.copy(newcomer.node_dir / "tls" / "node.crt", public / "node4.crt")  # a certificate is public
    shutil.copy(public / "genesis.json", newcomer.node_dir / "genesis.json")
    return newcomer


def _vote_through(founders: list[Member], proposal_id: int, voters: range) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    for index in voters:
        directory = str(founders[index].org_dir)
        outcome = _gov(founders[index], "gov", "vote", str(proposal_id), "--approve", "--org", directory)
    return outcome


def _admit_observer(founders: list[Member], newcomer: Member, public: Path) -> None:
    founder = founders[0]
    bundle, record_file = str(public / "org4.org.json"), str(public / "node4.node.json")
    plan = _gov(founder, "node", "join", "--org", bundle, "--node", record_file)
    assert [proposal[0] for proposal in plan["proposals"]] == ["add_organization", "add_node"], plan
    assert plan["role"] == "observer"

    # A non-member cannot propose: the fifth organisation's admin is nobody yet.
    refused = _gov_refused(founder, "gov", "propose", "add-organization", "--bundle", str(public / "org4.org.json"),
                           "--key", str(newcomer.org_dir / "admin_key.json"))  # fmt: skip
    assert "admin" in refused, refused
    proposal = _gov(founder, "gov", "propose", "add-organization", "--bundle", str(public / "org4.org.json"),
                    "--org", str(founder.org_dir))  # fmt: skip
    assert proposal["status"] == "pending" and proposal["votes"] == {"org0": True}
    # One organisation, one vote: the proposer's second vote is refused.
    again = _gov_refused(founder, "gov", "vote", str(proposal["id"]), "--approve", "--org", str(founder.org_dir))
    assert "voted" in again, again
    # MAJORITY of four: three approvals.
    assert _vote_through(founders, proposal["id"], range(1, 3))["status"] == "approved"
    assert "org4" in [item["name"] for item in _gov(founders[3], "org", "list")["organizations"]]

    node = _gov(founder, "gov", "propose", "add-node", "--record", str(public / "node4.node.json"), "--power", "0",
                "--org", str(founder.org_dir))  # fmt: skip
    assert _vote_through(founders, node["id"], range(1, 3))["status"] == "approved"
    [record] = [item for item in _gov(founders[2], "node", "list")["nodes"] if item["name"] == "node4"]
    assert (record["organization"], record["role"], record["power"]) == ("org4", "observer", 0)


@contextmanager
def _consortium_with_observer(tmp_path: Path) -> Iterator[tuple[list[Member], Member, Path, list[Member]]]:
    """Four founders running and connected, the fifth organisation admitted and its node started as an observer:
    (founders, newcomer, public files, everyone). Skips where namespaces are unavailable."""
    reason = get_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    base = find_free_port_range(2 * NODE_COUNT + 2)
    public = tmp_path / "public"
    with namespace_lab(NODE_COUNT + 1) as lab:
        founders = _set_up_organisations(lab, tmp_path, base)
        newcomer = _prepare_newcomer(lab, tmp_path, base, founders)
        with running(founders):
            for member in founders:
                wait_until(lambda m=member: connected(m, NODE_COUNT - 1), 30, f"{member.name} connecting", founders)
            _admit_observer(founders, newcomer, public)
            newcomer.start()
            try:
                newcomer.wait_ready()
                yield founders, newcomer, public, [*founders, newcomer]
            finally:
                newcomer.kill()


def _height(member: Member) -> int:
    with member.client() as client:
        return int(client.block_number())


def _is_peer(member: Member, address: str) -> bool:
    with member.client() as client:
        return any("0x" + bytes(peer.address).hex() == address for peer in client.peers())


def test_four_organisations_admit_a_fifth_observer_then_revoke_its_certificate(tmp_path: Path) -> None:
    with _consortium_with_observer(tmp_path) as (founders, newcomer, public, everyone):
        address = json.loads((public / "node4.node.json").read_text())["address"]
        wait_until(lambda: _is_peer(founders[0], address), 30, "the observer connecting", everyone)
        wait_until(lambda: _height(newcomer) >= _height(founders[0]), 30, "the observer syncing", everyone)
        transfer = send_transfer(founders[1], founders[0].org_dir / "admin_key.json", 3)
        wait_until(lambda: has_receipt(newcomer, transfer), 30, "the observer following", everyone)

        # Revocation: decided in block H, the founders cut node4 at H's commit; it stays out.
        revoke = _gov(founders[1], "gov", "propose", "revoke-certificate", "--certificate",
                      str(public / "node4.crt"), "--reason", "key compromised", "--org",
                      str(founders[1].org_dir))  # fmt: skip
        _gov(founders[2], "gov", "vote", str(revoke["id"]), "--approve", "--org", str(founders[2].org_dir))
        decided = _gov(founders[3], "gov", "vote", str(revoke["id"]), "--approve", "--org",
                       str(founders[3].org_dir))  # fmt: skip
        voted_at = time.monotonic()
        assert decided["status"] == "approved"
        decided_height = decided["decided_height"]
        wait_until(lambda: not any(_is_peer(m, address) for m in founders), 10, "node4 cut", everyone)
        cut_after_s = time.monotonic() - voted_at
        heights = [_height(m) for m in founders]
        blocks_after = max(heights) - decided_height
        print(f"revocation decided at height {decided_height}; node4 disconnected by every founder "
              f"{cut_after_s:.2f} s after the deciding vote's receipt, at height {max(heights)} "
              f"({blocks_after} blocks later)")  # fmt: skip
        assert blocks_after <= 1
        assert [item["sha256"] for item in _gov(founders[0], "gov", "revocations")["revocations"]]
        # It cannot reconnect: its dials are refused while the chain goes on without it.
        later = send_transfer(founders[0], founders[0].org_dir / "admin_key.json", 4)
        wait_until(lambda: has_receipt(founders[3], later), 30, "committing without node4", everyone)
        time.sleep(2.0)
        assert not any(_is_peer(m, address) for m in founders)
        assert not has_receipt(newcomer, later)
        assert "revoked" in founders[0].log_tail() + founders[1].log_tail() + founders[2].log_tail()


def test_the_fifth_organisation_observer_is_voted_in_as_a_validator(tmp_path: Path) -> None:
    with _consortium_with_observer(tmp_path) as (founders, newcomer, public, everyone):
        wait_until(lambda: _height(newcomer) >= _height(founders[0]), 30, "the observer syncing", everyone)
        record_file = str(public / "node4.node.json")
        power = _gov(founders[0], "gov", "propose", "set-validator-power", "--record", record_file,
                     "--power", "1", "--org", str(founders[0].org_dir))  # fmt: skip
        decided = _vote_through(founders, power["id"], range(1, 3))
        assert decided["status"] == "approved"
        # In force from decided + 2. A certificate carries the precommits that made the quorum (4 of 5),
        # so a slower node4 may be left out of any one of them; but with five validators in rotation
        # node4 proposes one height in five. Keep committing until node4 has proposed or signed.
        [entry] = [e for e in _gov(founders[0], "gov", "config")["schedule"] if len(e["validators"]) == 5]
        assert entry["effective_height"] == decided["decided_height"] + 2
        address = bytes.fromhex(json.loads((public / "node4.node.json").read_text())["address"][2:])
        checked = [entry["effective_height"]]

        def node4_took_part() -> bool:
            transfer = send_transfer(founders[0], founders[0].org_dir / "admin_key.json", 5 + checked[0])
            wait_until(lambda: has_receipt(newcomer, transfer), 30, "committing with node4", everyone)
            with founders[0].client() as client:
                tip = int(client.block_number())
                for height in range(checked[0], tip + 1):
                    block = client.get_block(height)
                    certificate = block.certificate
                    assert certificate is not None
                    signers = {bytes(signature.validator) for signature in certificate.signatures}
                    if address in signers or bytes(block.header.proposer) == address:
                        return True
                checked[0] = max(checked[0], tip + 1)
            return False

        wait_until(node4_took_part, 60, "node4 proposing or signing a block", everyone)
