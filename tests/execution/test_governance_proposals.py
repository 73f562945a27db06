"""The system contract's proposal flow: who may propose and vote, how votes count, what a decision does."""

from __future__ import annotations

from execution_helpers import (
    ALICE,
    ALICE_KEY,
    Chain,
    get_address,
    get_return,
    make_genesis,
    make_key,
    make_transaction,
)
from governance_helpers import (
    ADMIN_KEYS,
    CERTIFICATE,
    CLIENT_KEY,
    OUTSIDER_KEY,
    SECOND_ADMIN_KEY,
    admin_of,
    decide,
    get_event_data,
    get_status,
    make_consortium,
    propose,
    vote,
)

from gusu.codec import encode

NEW_ADMIN = get_address(make_key(40))
NEW_ORGANIZATION = ["org-d", CERTIFICATE, [NEW_ADMIN], 1]


def test_genesis_writes_the_registry_and_default_policies() -> None:
    chain = make_consortium()
    organizations = chain.view("system", "get_organizations", "", 64)
    assert isinstance(organizations, list)
    assert [item[0] for item in organizations] == ["org-a", "org-b", "org-c"]
    assert all(item[4] == "active" for item in organizations)
    nodes = chain.view("system", "get_nodes", b"", 256)
    assert isinstance(nodes, list) and len(nodes) == 4 and {item[4] for item in nodes} == {"validator"}
    assert chain.view("system", "get_account", admin_of("org-b")) == ["org-b", "admin", False]
    assert chain.view("system", "get_account", get_address(SECOND_ADMIN_KEY)) == ["org-a", "admin", False]
    assert chain.view("system", "get_account", get_address(CLIENT_KEY)) is None
    policies = {item[0]: item[1:] for item in chain.view("system", "get_policies")}  # type: ignore[union-attr]
    assert policies["add_organization"] == ["MAJORITY", 0, 0]
    assert policies["set_policy"] == policies["set_consensus"] == policies["remove_organization"] == ["ALL", 0, 0]
    assert policies["set_account"] == ["SELF", 0, 0]
    [entry] = chain.view("system", "get_config_schedule")  # type: ignore[misc]
    assert entry[0] == 0 and entry[3] == "tendermint" and len(entry[1]) == 4


def test_a_majority_adds_an_organisation_with_its_events() -> None:
    chain = make_consortium()
    created = propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION)
    assert created.is_success, created.error_message
    proposal_id = get_return(created)
    assert proposal_id == 1
    assert get_event_data(created) == [
        ("proposal_created", [1, "add_organization", "org-a", admin_of("org-a"), chain.height + 100]),
        ("vote_cast", [1, "org-a", True]),
    ]
    assert get_status(chain, 1) == "pending"  # one of three organisations is not more than half
    ballot = vote(chain, ADMIN_KEYS["org-b"], 1)
    assert get_return(ballot) == "approved"
    height = chain.height
    assert get_event_data(ballot) == [
        ("vote_cast", [1, "org-b", True]),
        ("proposal_approved", [1, "add_organization", height, height + 1]),
    ]
    record = chain.view("system", "get_proposal", 1)
    assert isinstance(record, list)
    assert record[7:] == ["approved", [["org-a", True], ["org-b", True]], height, height + 1, ""]
    assert "org-d" in [item[0] for item in chain.view("system", "get_organizations", "", 64)]  # type: ignore[union-attr]
    assert chain.view("system", "get_account", NEW_ADMIN) == ["org-d", "admin", False]


def test_an_organisation_votes_once_whichever_admin_casts_it() -> None:
    chain = make_consortium()
    propose(chain, ADMIN_KEYS["org-b"], "add_organization", NEW_ORGANIZATION)
    first = vote(chain, ADMIN_KEYS["org-b"], 1)
    assert first.error_code == "reverted" and "org-b has already voted" in first.error_message
    vote(chain, ADMIN_KEYS["org-a"], 1, approve=False)
    second = vote(chain, SECOND_ADMIN_KEY, 1)  # the other admin of org-a
    assert second.error_code == "reverted" and "org-a has already voted" in second.error_message
    assert get_status(chain, 1) == "pending"


def test_a_vote_after_expiry_is_refused() -> None:
    chain = make_consortium()
    propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION, expiry_blocks=1)
    chain.run_block()  # the expiry height: votes still count
    chain.run_block()
    assert get_status(chain, 1) == "expired"
    late = vote(chain, ADMIN_KEYS["org-b"], 1)
    assert late.error_code == "reverted"
    assert "proposal 1 is expired" in late.error_message


def test_an_expiry_too_far_ahead_is_refused() -> None:
    chain = make_consortium()
    receipt = propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION, expiry_blocks=2_000_000)
    assert receipt.error_code == "reverted" and "governance_expiry_blocks_max" in receipt.error_message


def test_non_members_neither_propose_nor_vote() -> None:
    chain = make_consortium()
    for key in (OUTSIDER_KEY, CLIENT_KEY):
        refused = propose(chain, key, "add_organization", NEW_ORGANIZATION)
        assert refused.error_code == "reverted" and "is not an admin of an active member" in refused.error_message
    propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION)
    assert vote(chain, OUTSIDER_KEY, 1).error_code == "reverted"
    assert get_status(chain, 1) == "pending"


def test_a_removed_organisation_can_no_longer_vote() -> None:
    chain = make_consortium(powers=(10, 10, 10, 10))
    # org-c runs one validator of four: its removal keeps 3/4 of the power. ALL means all the other
    # organisations: org-c has no veto over its own removal.
    proposal_id = decide(chain, "remove_organization", ["org-c"], voters=("org-a",))
    assert get_status(chain, proposal_id) == "pending"
    assert get_return(vote(chain, ADMIN_KEYS["org-b"], proposal_id)) == "approved"
    propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION)
    refused = vote(chain, ADMIN_KEYS["org-c"], 1)
    assert refused.error_code == "reverted"
    assert chain.view("system", "get_account", admin_of("org-c")) is None


def test_a_rejection_when_the_policy_can_no_longer_be_met() -> None:
    chain = make_consortium()
    propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION)
    vote(chain, ADMIN_KEYS["org-b"], 1, approve=False)
    ballot = vote(chain, ADMIN_KEYS["org-c"], 1, approve=False)
    assert get_return(ballot) == "rejected"
    assert ("proposal_rejected", [1, "add_organization"]) in get_event_data(ballot)
    again = vote(chain, SECOND_ADMIN_KEY, 1)
    assert again.error_code == "reverted" and "proposal 1 is rejected" in again.error_message


def test_a_change_that_became_invalid_fails_with_the_reason() -> None:
    chain = make_consortium()
    propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION)
    propose(chain, ADMIN_KEYS["org-b"], "add_organization", NEW_ORGANIZATION)
    vote(chain, ADMIN_KEYS["org-b"], 1)
    # org-d is a member now: 3 of 4 organisations make the majority.
    assert get_return(vote(chain, ADMIN_KEYS["org-a"], 2)) == "pending"
    ballot = vote(chain, ADMIN_KEYS["org-c"], 2)
    assert ballot.is_success and get_return(ballot) == "failed"
    [_, (name, data)] = get_event_data(ballot)
    assert name == "proposal_failed" and data == [2, "add_organization", "organisation org-d is already a member"]
    record = chain.view("system", "get_proposal", 2)
    assert isinstance(record, list) and record[7] == "failed" and record[11] == data[2]


def test_an_invalid_change_is_refused_when_proposed() -> None:
    chain = make_consortium()
    cases = [
        ("add_organization", ["org-a", CERTIFICATE, [NEW_ADMIN], 1], "already a member"),
        ("add_organization", ["bad name", CERTIFICATE, [NEW_ADMIN], 1], "organisation name"),
        ("add_organization", ["org-d", CERTIFICATE, [NEW_ADMIN], 0], "weight"),
        ("add_organization", ["org-d", CERTIFICATE, [admin_of("org-b")], 1], "registered with organisation org-b"),
        ("freeze_contract", ["system"], "governance would lock itself out"),
        ("set_permission", ["system", "*", ["client"], []], "governance would lock itself out"),
        ("set_policy", ["set_policy", "FORBIDDEN", 0, 0], "could never change again"),
        ("set_policy", ["add_organization", "SELF", 0, 0], "SELF governs only"),
        ("set_policy", ["add_organization", "WEIGHTED", 0, 5000], "basis points"),
        ("set_parameters", [[["no_such_parameter", 1]]], "not a parameter this chain knows"),
        ("set_parameters", [[["timeout_propose_ms", 0]]], "must be between 1"),
        ("set_account", [get_address(CLIENT_KEY), "org-a", "admin"], "admin accounts come with"),
        ("no_such_kind", [], "unknown proposal kind"),
    ]
    for kind, args, expected in cases:
        receipt = propose(chain, ADMIN_KEYS["org-a"], kind, args)
        assert receipt.error_code == "reverted", kind
        assert expected in receipt.error_message, receipt.error_message
    garbage = chain.run(
        make_transaction(
            "system", "propose", ["add_organization", b"\xc1", chain.height + 10], sender=ADMIN_KEYS["org-a"]
        )
    )
    assert garbage.error_code == "reverted" and "not a canonical encoding" in garbage.error_message


def test_cancel_withdraws_only_ones_own_pending_proposal() -> None:
    chain = make_consortium()
    propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION)
    other = chain.run(make_transaction("system", "cancel", [1], sender=ADMIN_KEYS["org-b"]))
    assert other.error_code == "reverted" and "only that organisation may cancel" in other.error_message
    mine = chain.run(make_transaction("system", "cancel", [1], sender=SECOND_ADMIN_KEY))
    assert mine.is_success
    assert get_status(chain, 1) == "cancelled"
    assert vote(chain, ADMIN_KEYS["org-b"], 1).error_code == "reverted"


def test_set_policy_changes_how_a_kind_is_decided() -> None:
    chain = make_consortium()
    decide(chain, "set_policy", ["add_organization", "ANY", 0, 0], voters=("org-a", "org-b", "org-c"))
    created = propose(chain, ADMIN_KEYS["org-c"], "add_organization", NEW_ORGANIZATION)
    assert get_status(chain, get_return(created)) == "approved"  # type: ignore[arg-type]


def test_forbidden_kinds_are_rejected_at_once() -> None:
    chain = make_consortium()
    decide(chain, "set_policy", ["approve_contract", "FORBIDDEN", 0, 0], voters=("org-a", "org-b", "org-c"))
    created = propose(chain, ADMIN_KEYS["org-a"], "approve_contract", [b"\x01" * 32])
    assert created.is_success and get_status(chain, get_return(created)) == "rejected"  # type: ignore[arg-type]


def test_weighted_policy_counts_weights() -> None:
    chain = make_consortium(weights=(6, 3, 1))
    decide(chain, "set_policy", ["add_organization", "WEIGHTED", 5_000, 9_000], voters=("org-a", "org-b", "org-c"))
    # org-a alone: participation 60 % >= 50 %, approval 100 % >= 90 %.
    created = propose(chain, ADMIN_KEYS["org-a"], "add_organization", NEW_ORGANIZATION)
    assert get_status(chain, get_return(created)) == "approved"  # type: ignore[arg-type]
    chain2 = make_consortium(weights=(6, 3, 1))
    decide(chain2, "set_policy", ["add_organization", "WEIGHTED", 5_000, 9_000], voters=("org-a", "org-b", "org-c"))
    propose(chain2, ADMIN_KEYS["org-b"], "add_organization", NEW_ORGANIZATION)  # 30 % participation
    assert get_status(chain2, 2) == "pending"
    ballot = vote(chain2, ADMIN_KEYS["org-c"], 2, approve=False)  # 40 %: still too few
    assert get_return(ballot) == "pending"
    ballot = vote(chain2, ADMIN_KEYS["org-a"], 2)  # approvals 9 of 10 = 90 %
    assert get_return(ballot) == "approved"


def test_self_policy_lets_an_organisation_manage_its_own_accounts() -> None:
    chain = make_consortium()
    client = get_address(CLIENT_KEY)
    created = propose(chain, ADMIN_KEYS["org-b"], "set_account", [client, "org-b", "client"])
    assert get_status(chain, get_return(created)) == "approved"  # type: ignore[arg-type]
    assert chain.view("system", "get_account", client) == ["org-b", "client", False]
    # Another organisation cannot take it over, nor change it on org-b's behalf.
    takeover = propose(chain, ADMIN_KEYS["org-a"], "set_account", [client, "org-a", "client"])
    assert takeover.error_code == "reverted" and "belongs to organisation org-b" in takeover.error_message
    on_behalf = propose(chain, ADMIN_KEYS["org-a"], "set_account", [client, "org-b", "auditor"])
    assert on_behalf.is_success
    assert get_status(chain, get_return(on_behalf)) == "pending"  # type: ignore[arg-type]
    assert get_return(vote(chain, ADMIN_KEYS["org-c"], 2)) == "pending"  # not org-c's business either
    assert get_return(vote(chain, ADMIN_KEYS["org-b"], 2, approve=False)) == "rejected"


def test_a_single_operator_chain_is_governed_by_its_genesis_admins() -> None:
    chain = Chain.create(genesis=make_genesis(admins=(ALICE,)))
    organizations = chain.view("system", "get_organizations", "", 64)
    assert organizations == [["org0", b"", [ALICE], 1, "active"]]
    created = propose(chain, ALICE_KEY, "approve_contract", [b"\x02" * 32])
    assert get_status(chain, get_return(created)) == "approved"  # type: ignore[arg-type]


def test_the_same_inputs_give_the_same_writes() -> None:
    def run() -> list[object]:
        chain = make_consortium()
        results: list[object] = []
        for transaction_args in (
            ("org-a", "add_organization", NEW_ORGANIZATION),
            ("org-b", "set_parameters", [[["block_interval_ms", 400]]]),
        ):
            organization, kind, args = transaction_args
            block = chain.run_block(
                make_transaction(
                    "system",
                    "propose",
                    [kind, encode(args), chain.height + 50],
                    sender=ADMIN_KEYS[organization],
                    nonce=len(results),
                )
            )
            results.append(block)
        results.append(
            chain.run_block(make_transaction("system", "vote", [1, True], sender=ADMIN_KEYS["org-c"], nonce=9))
        )
        results.append(
            chain.run_block(make_transaction("system", "vote", [2, True], sender=ADMIN_KEYS["org-c"], nonce=10))
        )
        return results

    assert run() == run()


def test_list_proposals_pages_through_them() -> None:
    chain = make_consortium()
    for index in range(5):
        # About 7.4 KB of args each: a page holds four.
        organization = ["org-x" + str(index), CERTIFICATE * 120, [get_address(make_key(50 + index))], 1]
        assert propose(chain, ADMIN_KEYS["org-a"], "add_organization", organization).is_success
    listed = chain.view("system", "list_proposals", 1, 10)
    assert isinstance(listed, list) and [item[0] for item in listed] == [1, 2, 3, 4]  # type: ignore[index]
    assert [item[0] for item in chain.view("system", "list_proposals", 5, 10)] == [5]  # type: ignore[union-attr, index]
    assert [item[0] for item in chain.view("system", "list_proposals", 0, 2)] == [1, 2]  # type: ignore[union-attr, index]
    assert chain.view("system", "list_proposals", 6, 10) == []
    assert chain.view("system", "get_proposal", 6) is None


def test_one_organisation_may_not_flood_the_others_with_proposals() -> None:
    chain = make_consortium()
    for index in range(16):
        receipt = propose(chain, ADMIN_KEYS["org-c"], "approve_contract", [bytes([index]) * 32])
        assert receipt.is_success, receipt.error_message
    refused = propose(chain, ADMIN_KEYS["org-c"], "approve_contract", [b"\xff" * 32])
    assert refused.error_code == "reverted" and "16 pending proposals" in refused.error_message
    assert propose(chain, ADMIN_KEYS["org-b"], "approve_contract", [b"\xff" * 32]).is_success
    # A decided proposal frees its place.
    assert get_return(vote(chain, ADMIN_KEYS["org-a"], 1)) == "approved"
    assert propose(chain, ADMIN_KEYS["org-c"], "approve_contract", [b"\xfe" * 32]).is_success
