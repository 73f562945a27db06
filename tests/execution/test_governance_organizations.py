"""An organisation's life after admission: updating its admins, CA and weight, its removal taking its accounts
and proposals with it, the paged registry views, and the approved-code reader."""

from __future__ import annotations

import hashlib

import pytest
from execution_helpers import MemoryState, get_address, get_event_data, get_return, make_key, make_transaction
from governance_helpers import (
    ADMIN_KEYS,
    CERTIFICATE,
    CLIENT_KEY,
    OUTSIDER_KEY,
    SECOND_ADMIN_KEY,
    admin_of,
    decide,
    get_status,
    make_consortium,
    propose,
    vote,
)

from gusu.execution.contracts.system import PAGE_BYTES_MAX
from gusu.execution.governance import get_organizations, is_contract_code_approved, proposals

NEW_ADMIN_KEY = make_key(42)
NEW_ADMIN = get_address(NEW_ADMIN_KEY)
THIEF_ADMIN = get_address(make_key(43))
SECOND_ADMIN = get_address(SECOND_ADMIN_KEY)
CLIENT = get_address(CLIENT_KEY)
OUTSIDER = get_address(OUTSIDER_KEY)
NEW_CERTIFICATE = CERTIFICATE + b"renewed"


def org_a_update(admins: list[bytes], certificate: bytes = CERTIFICATE + b"org-a", weight: int = 1) -> list[object]:
    return ["org-a", certificate, sorted(admins), weight]


def test_an_update_rotates_admins_ca_and_weight() -> None:
    chain = make_consortium()
    args = org_a_update([admin_of("org-a"), NEW_ADMIN], NEW_CERTIFICATE, weight=3)
    proposal_id = decide(chain, "update_organization", args)  # org-a proposes, org-b makes the majority
    assert get_status(chain, proposal_id) == "approved"
    [org_a] = [item for item in get_organizations(chain.state) if item.name == "org-a"]
    assert (org_a.ca_certificate, org_a.admins, org_a.weight) == (
        NEW_CERTIFICATE, tuple(sorted([admin_of("org-a"), NEW_ADMIN])), 3,
    )  # fmt: skip
    assert chain.view("system", "get_account", NEW_ADMIN) == ["org-a", "admin", False]
    assert chain.view("system", "get_account", SECOND_ADMIN) is None  # the dropped admin is public again
    dropped = propose(chain, SECOND_ADMIN_KEY, "approve_contract", [b"\x01" * 32])
    assert dropped.error_code == "reverted" and "not an admin" in dropped.error_message
    assert propose(chain, NEW_ADMIN_KEY, "approve_contract", [b"\x01" * 32]).is_success


def test_a_stolen_admin_key_cannot_lock_its_organisation_out_alone() -> None:
    chain = make_consortium()
    policies = {item[0]: item[1] for item in chain.view("system", "get_policies")}  # type: ignore[union-attr, index]
    assert policies["update_organization"] == "MAJORITY"
    # SELF would let the stolen key decide alone: it is not allowed for this kind.
    selfish = propose(chain, ADMIN_KEYS["org-a"], "set_policy", ["update_organization", "SELF", 0, 0])
    assert selfish.error_code == "reverted" and "SELF governs only" in selfish.error_message
    # The thief (org-a's second admin) drops the honest admin: the proposal waits for the others ...
    stolen = propose(chain, SECOND_ADMIN_KEY, "update_organization", org_a_update([SECOND_ADMIN, THIEF_ADMIN]))
    assert stolen.is_success and get_status(chain, get_return(stolen)) == "pending"  # type: ignore[arg-type]
    # ... and the honest admin, seeing it, withdraws it for its organisation.
    cancelled = chain.run(make_transaction("system", "cancel", [get_return(stolen)], sender=ADMIN_KEYS["org-a"]))
    assert cancelled.is_success
    assert get_status(chain, get_return(stolen)) == "cancelled"  # type: ignore[arg-type]
    assert chain.view("system", "get_account", admin_of("org-a")) == ["org-a", "admin", False]


def test_the_other_members_cannot_take_an_organisation_over() -> None:
    chain = make_consortium()
    takeover = ["org-c", CERTIFICATE + b"forged", [NEW_ADMIN], 1]
    proposal_id = decide(chain, "update_organization", takeover, voters=("org-b", "org-a"))
    assert get_status(chain, proposal_id) == "pending"  # a majority, but org-c has not consented
    assert get_return(vote(chain, ADMIN_KEYS["org-c"], proposal_id, approve=False)) == "rejected"
    assert chain.view("system", "get_account", NEW_ADMIN) is None
    assert chain.view("system", "get_account", admin_of("org-c")) == ["org-c", "admin", False]
    # Even under ANY (a decision of ALL), the concerned organisation must approve.
    decide(chain, "set_policy", ["update_organization", "ANY", 0, 0], voters=("org-a", "org-b", "org-c"))
    again = propose(chain, ADMIN_KEYS["org-b"], "update_organization", takeover)
    assert get_status(chain, get_return(again)) == "pending"  # type: ignore[arg-type]
    assert get_return(vote(chain, ADMIN_KEYS["org-c"], get_return(again), approve=True)) == "approved"  # type: ignore[arg-type]


def test_invalid_updates_are_refused() -> None:
    chain = make_consortium()
    current = CERTIFICATE + b"org-a"
    cases = [
        (org_a_update([]), "its last admin cannot be removed"),
        (org_a_update([SECOND_ADMIN, admin_of("org-b")]), "registered with organisation org-b"),
        (org_a_update([SECOND_ADMIN, admin_of("org-a")], current, 1), "changes nothing"),
        (org_a_update([admin_of("org-a")], b""), "not an empty one"),
        (org_a_update([admin_of("org-a")], current, 0), "weight"),
        (["org-z", current, [NEW_ADMIN], 1], "not an active member"),
        (["org-a", "not bytes", [NEW_ADMIN], 1], "argument 2"),
        (["org-a", b"\x01" * 9000, [NEW_ADMIN], 1], "argument 2"),
    ]
    for args, expected in cases:
        receipt = propose(chain, ADMIN_KEYS["org-a"], "update_organization", args)
        assert receipt.error_code == "reverted", args
        assert expected in receipt.error_message, receipt.error_message
    # Every admin it would keep is frozen: the organisation's vote would be silenced.
    decide(chain, "freeze_account", [SECOND_ADMIN])
    chain.run_block()
    silenced = propose(chain, ADMIN_KEYS["org-a"], "update_organization", org_a_update([SECOND_ADMIN]))
    assert silenced.error_code == "reverted" and "is frozen" in silenced.error_message


def test_a_client_promoted_to_admin_and_a_dropped_admin_that_is_frozen() -> None:
    chain = make_consortium()
    created = propose(chain, ADMIN_KEYS["org-c"], "set_account", [CLIENT, "org-c", "client"])
    assert get_status(chain, get_return(created)) == "approved"  # type: ignore[arg-type]
    decide(chain, "update_organization", ["org-c", CERTIFICATE + b"org-c", sorted([admin_of("org-c"), CLIENT]), 1],
           voters=("org-c", "org-a"))  # fmt: skip
    assert chain.view("system", "get_account", CLIENT) == ["org-c", "admin", False]
    assert propose(chain, CLIENT_KEY, "approve_contract", [b"\x03" * 32]).is_success
    # A dropped admin that was frozen stays frozen, unaffiliated.
    decide(chain, "freeze_account", [SECOND_ADMIN])
    decide(chain, "update_organization", org_a_update([admin_of("org-a")]))
    assert chain.view("system", "get_account", SECOND_ADMIN) == ["", "public", True]
    # The promoted client left org-c's account index: removing org-c deregisters it once, as an admin.
    decide(chain, "remove_organization", ["org-c"], voters=("org-a", "org-b"))
    assert chain.view("system", "get_account", CLIENT) is None


def test_a_removed_organisation_takes_its_accounts_and_pending_proposals_with_it() -> None:
    chain = make_consortium()
    for address, role in ((CLIENT, "client"), (OUTSIDER, "auditor")):
        assert (
            get_status(chain, get_return(propose(chain, ADMIN_KEYS["org-c"], "set_account", [address, "org-c", role])))
            == "approved"
        )  # type: ignore[arg-type]
    decide(chain, "freeze_account", [CLIENT])
    pending_ids = [
        get_return(propose(chain, ADMIN_KEYS["org-c"], "approve_contract", [b"\x07" * 32])),
        get_return(propose(chain, ADMIN_KEYS["org-c"], "add_organization", ["org-d", CERTIFICATE, [NEW_ADMIN], 1])),
    ]
    other = get_return(propose(chain, ADMIN_KEYS["org-b"], "approve_contract", [b"\x08" * 32]))
    removal = decide(chain, "remove_organization", ["org-c"], voters=("org-a",))
    ballot = vote(chain, ADMIN_KEYS["org-b"], removal)
    assert get_return(ballot) == "approved"
    events = get_event_data(ballot)
    for proposal_id in pending_ids:
        assert get_status(chain, proposal_id) == "cancelled"  # type: ignore[arg-type]
        assert ("proposal_cancelled", [proposal_id, get_kind(chain, proposal_id)]) in events  # type: ignore[arg-type]
    assert get_status(chain, other) == "pending"  # type: ignore[arg-type]
    assert chain.view("system", "get_account", OUTSIDER) is None
    assert chain.view("system", "get_account", CLIENT) == ["", "public", True]  # still frozen, no longer org-c's
    # Nothing of org-c is left to vote or be voted on.
    assert vote(chain, ADMIN_KEYS["org-a"], pending_ids[0]).error_code == "reverted"  # type: ignore[arg-type]


def test_an_organisation_removing_itself_keeps_its_removal_approved() -> None:
    chain = make_consortium()
    removal = decide(chain, "remove_organization", ["org-c"], voters=("org-c", "org-a", "org-b"))
    assert get_status(chain, removal) == "approved"


def get_kind(chain: object, proposal_id: int) -> str:
    record = chain.view("system", "get_proposal", proposal_id)  # type: ignore[attr-defined]
    kind: str = record[1]
    return kind


# --- paged views -------------------------------------------------------------------------------------


def test_registry_views_page_by_count_and_by_size() -> None:
    chain = make_consortium()
    for kind in ("add_organization", "revoke_certificate"):
        decide(chain, "set_policy", [kind, "ANY", 0, 0], voters=("org-a", "org-b", "org-c"))
    for index in range(5):
        # About 7.4 KB of CA each: eight organisations would be 60 KB, near the 64 KiB return limit.
        organization = [f"org-x{index}", CERTIFICATE * 120, [get_address(make_key(60 + index))], 1]
        decide(chain, "add_organization", organization, voters=("org-a",))
    names: list[str] = []
    after = ""
    pages = 0
    while True:
        page = chain.view("system", "get_organizations", after, 64)
        assert isinstance(page, list)
        if not page:
            break
        pages += 1
        assert sum(len(item[1]) for item in page) <= PAGE_BYTES_MAX + 8 * 1024  # type: ignore[index, arg-type]
        names += [item[0] for item in page]  # type: ignore[index, misc]
        after = names[-1]
    assert names == sorted(["org-a", "org-b", "org-c", *[f"org-x{index}" for index in range(5)]])
    assert pages >= 2
    assert [item[0] for item in chain.view("system", "get_organizations", "org-b", 1)] == ["org-c"]  # type: ignore[union-attr, index]

    nodes = chain.view("system", "get_nodes", b"", 2)
    assert isinstance(nodes, list) and len(nodes) == 2
    rest = chain.view("system", "get_nodes", nodes[-1][1], 256)  # type: ignore[index]
    assert isinstance(rest, list) and len(rest) == 2 and rest[0][1] > nodes[-1][1]  # type: ignore[index, operator]

    digests = sorted(hashlib.sha256(bytes([index])).digest() for index in range(3))
    for digest in digests:
        decide(chain, "revoke_certificate", [digest, "x" * 256], voters=("org-a",))
    first = chain.view("system", "get_revocations", b"", 2)
    assert [item[0] for item in first] == digests[:2]  # type: ignore[union-attr, index]
    assert [item[0] for item in chain.view("system", "get_revocations", digests[1], 2)] == digests[2:]  # type: ignore[union-attr, index]
    assert chain.view("system", "get_revocations", digests[2], 2) == []
    assert chain.view("system", "get_nodes", b"", 0) == []
    for method, start, limit in (("get_organizations", "", 65), ("get_nodes", b"", 257), ("get_revocations", b"", -1)):
        receipt = chain.run(make_transaction("system", method, [start, limit]))
        assert receipt.error_code == "reverted" and "limit must be between 0" in receipt.error_message


# --- approved contract code ------------------------------------------------------------------------


def test_is_contract_code_approved() -> None:
    chain = make_consortium()
    code_hash = hashlib.sha256(b"contract code").digest()
    assert not is_contract_code_approved(chain.state, code_hash)
    decide(chain, "approve_contract", [code_hash])
    assert is_contract_code_approved(chain.state, code_hash)
    assert not is_contract_code_approved(chain.state, bytes(32))
    assert not is_contract_code_approved(chain.state, code_hash[:31])
    assert not is_contract_code_approved(MemoryState(), code_hash)


def test_an_organisation_registers_a_bounded_number_of_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proposals, "ORGANIZATION_ACCOUNTS_MAX", 2)
    chain = make_consortium()
    for index in range(2):
        created = propose(
            chain, ADMIN_KEYS["org-b"], "set_account", [get_address(make_key(70 + index)), "org-b", "client"]
        )
        assert get_status(chain, get_return(created)) == "approved"  # type: ignore[arg-type]
    refused = propose(chain, ADMIN_KEYS["org-b"], "set_account", [get_address(make_key(72)), "org-b", "client"])
    assert refused.error_code == "reverted" and "2 client and auditor accounts" in refused.error_message
    # Changing the role of one it has is not a new registration.
    changed = propose(chain, ADMIN_KEYS["org-b"], "set_account", [get_address(make_key(70)), "org-b", "auditor"])
    assert get_status(chain, get_return(changed)) == "approved"  # type: ignore[arg-type]
