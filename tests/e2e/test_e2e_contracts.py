"""A Python contract deployed, called and upgraded on a live four-organisation chain, under governance.

Four organisations on four "hosts" (network namespaces, as in
test_e2e_organizations) run one `ecdsa` chain. Deploying code the consortium
has not approved is refused; the organisations approve its code hash with
``gusu gov`` (MAJORITY: three of four), a client deploys it, calls it and
reads it back from every node; then a new version is approved the same way
and the owner upgrades, keeping the contract's state and running its
migration. Every node ends with the same state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import NODE_COUNT, find_free_port_range
from test_e2e_governance import _gov, _vote_through
from test_e2e_organizations import CHAIN_ID, Member, _set_up_organisations, connected, running, wait_until
from test_e2e_partition import get_unavailable_reason, namespace_lab

from gusu.codec import encode
from gusu.crypto import PrivateKey
from gusu.crypto.keyfile import decrypt_key_file
from gusu.errors import RemoteError
from gusu.execution.deployment import compute_code_hash
from gusu.ledger.types import Hash, Height, Receipt
from gusu.sdk.transactions import build_transaction

pytestmark = pytest.mark.e2e

REGISTRY_V1 = '''
"""A certificate registry: the owner issues, anyone verifies."""
from gusu_contract import Map, Counter, method, view, migration, require, sender, emit, event

owner = Map("owner")
certificates = Map("certificates")
issued = Counter("issued")
Issued = event("Issued", "number", "holder")


@migration
def setup() -> None:
    owner.set("owner", sender())


@method
def issue(number: str, holder: str) -> None:
    require(sender() == owner.get("owner", b""), "only the owner issues certificates")
    require(certificates.get(number, "") == "", "that certificate number is taken")
    certificates.set(number, holder)
    issued.add(1)
    emit(Issued, number, holder)


@view
def holder_of(number: str) -> str:
    return certificates.get(number, "")
'''

REGISTRY_V2 = (
    REGISTRY_V1.replace(
        '@migration\ndef setup() -> None:\n    owner.set("owner", sender())\n',
        '@migration\ndef setup(note: str) -> None:\n    owner.set("note", note)\n',
    )
    + """

@view
def count() -> int:
    return issued.get()


@view
def note() -> str:
    return owner.get("note", "")
"""
)


def _admin_key(member: Member) -> PrivateKey:
    path = member.org_dir / "admin_key.json"
    return decrypt_key_file(path.read_bytes(), path.with_suffix(".pass").read_text().strip())


def _send(member: Member, key: PrivateKey, contract: str, method: str, args: list[Any]) -> Hash:
    with member.client() as client:
        height = int(client.block_number())
        transaction = build_transaction(key, CHAIN_ID, contract, method, args, Height(height + 100))
        return client.send_raw(transaction.raw)


def _receipt(member: Member, transaction_id: Hash, everyone: list[Member]) -> Receipt:
    found: list[Receipt] = []

    def committed() -> bool:
        with member.client() as client:
            try:
                found.append(client.get_receipt(transaction_id).receipt)
            except RemoteError as error:
                if error.code == "not_found":
                    return False
                raise
        return True

    wait_until(committed, 30, f"transaction 0x{transaction_id.hex()} committing", everyone)
    return found[-1]


def _approve(founders: list[Member], source: str) -> None:
    code_hash = "0x" + compute_code_hash("ecdsa", source).hex()
    proposal = _gov(founders[0], "gov", "propose", "approve-contract", "--code-hash", code_hash,
                    "--org", str(founders[0].org_dir))  # fmt: skip
    outcome = _vote_through(founders, proposal["id"], range(1, 3))
    assert outcome["status"] == "approved", outcome


def test_a_contract_is_approved_deployed_called_and_upgraded_on_four_organisations(tmp_path: Path) -> None:
    reason = get_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    base = find_free_port_range(2 * NODE_COUNT)
    with namespace_lab() as lab:
        founders = _set_up_organisations(lab, tmp_path, base)
        with running(founders):
            for member in founders:
                wait_until(lambda m=member: connected(m, NODE_COUNT - 1), 30, f"{member.name} connecting", founders)
            owner = _admin_key(founders[1])
            # Unapproved code is refused, with the command that approves it in the message.
            refused = _receipt(
                founders[1], _send(founders[1], owner, "contracts", "deploy", ["certs", REGISTRY_V1, encode([])]),
                founders,
            )  # fmt: skip
            assert not refused.is_success and "gusu gov propose approve-contract" in refused.error_message
            _approve(founders, REGISTRY_V1)
            deployed = _receipt(
                founders[1], _send(founders[1], owner, "contracts", "deploy", ["certs", REGISTRY_V1, encode([])]),
                founders,
            )  # fmt: skip
            assert deployed.is_success, deployed.error_message
            issued = _receipt(
                founders[2], _send(founders[2], owner, "certs", "issue", ["C-001", "Zhang San"]), founders
            )
            assert issued.is_success, issued.error_message
            stranger = _receipt(
                founders[3], _send(founders[3], _admin_key(founders[3]), "certs", "issue", ["C-002", "Li Si"]),
                founders,
            )  # fmt: skip
            assert not stranger.is_success and "only the owner" in stranger.error_message
            # Every node serves the same answer.
            for member in founders:
                wait_until(lambda m=member: _view(m, "certs", "holder_of", ["C-001"]) == "Zhang San", 30,
                           f"{member.name} serving the certificate", founders)  # fmt: skip
            # Upgrade: approved first, by the owner only; the state stays and the migration runs.
            _approve(founders, REGISTRY_V2)
            upgraded = _receipt(
                founders[0],
                _send(founders[0], owner, "contracts", "upgrade", ["certs", REGISTRY_V2, encode(["v2 live"])]),
                founders,
            )
            assert upgraded.is_success, upgraded.error_message
            for member in founders:
                wait_until(lambda m=member: _view(m, "certs", "count", []) == 1, 30, f"{member.name} upgraded",
                           founders)  # fmt: skip
                assert _view(member, "certs", "holder_of", ["C-001"]) == "Zhang San"
                assert _view(member, "certs", "note", []) == "v2 live"
            instance = _view(founders[3], "contracts", "get_instance", ["certs"])
            assert isinstance(instance, list) and instance[4] == 2, instance


def _view(member: Member, contract: str, method: str, args: list[Any]) -> Any:
    with member.client() as client:
        try:
            return client.call(contract, method, args)
        except RemoteError:
            return None
