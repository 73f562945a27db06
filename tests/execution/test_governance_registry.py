"""What governance decisions do: the configuration schedule, the validator-change safety rule,
permissions, freezes, revocations, and the reads other layers make without a contract call."""

from __future__ import annotations

import hashlib

from execution_helpers import (
    ALICE,
    ALICE_KEY,
    Chain,
    MemoryState,
    get_address,
    get_event_data,
    get_return,
    make_genesis,
    make_key,
    make_transaction,
)
from governance_helpers import (
    ADMIN_KEYS,
    CLIENT_KEY,
    OUTSIDER_KEY,
    VALIDATOR_KEYS,
    admin_of,
    decide,
    make_consortium,
    make_consortium_genesis,
    make_validator,
    propose,
)

from gusu.codec import encode
from gusu.execution import ContractRegistry
from gusu.execution.contracts import Account, Evidence
from gusu.execution.governance import (
    check_transaction_permission,
    get_account,
    get_organizations,
    is_certificate_revoked,
    read_config_schedule,
)
from gusu.execution.governance.proposals import validate_validator_change
from gusu.ledger.chainconfig import compute_genesis_config_schedule, get_config_at
from gusu.ledger.types import Height

ALL = ("org-a", "org-b", "org-c")
DOCUMENT = hashlib.sha256(b"a document").digest()
CLIENT = get_address(CLIENT_KEY)
OUTSIDER = get_address(OUTSIDER_KEY)
CLIENT_A_KEY = make_key(41)
CLIENT_A = get_address(CLIENT_A_KEY)


def record(key: object, nonce: int | None = None) -> object:
    return make_transaction("evidence", "record", [hashlib.sha256(repr(nonce).encode()).digest(), ""], sender=key)  # type: ignore[arg-type]


def run_record(chain: Chain, key: object) -> str:
    receipt = chain.run(record(key, chain.height))  # type: ignore[arg-type]
    return receipt.error_code


# --- the configuration schedule --------------------------------------------------------------------


def test_a_parameter_change_decided_at_h_is_in_force_at_h_plus_2() -> None:
    chain = make_consortium()
    propose(chain, ADMIN_KEYS["org-a"], "set_parameters", [[["block_interval_ms", 700], ["timeout_propose_ms", 4_000]]])
    ballot = chain.run(make_transaction("system", "vote", [1, True], sender=ADMIN_KEYS["org-b"]))
    decided = chain.height
    assert ("config_scheduled", [1, decided + 2]) in get_event_data(ballot)
    assert ("proposal_approved", [1, "set_parameters", decided, decided + 2]) in get_event_data(ballot)
    assert chain.view("system", "get_parameter", "block_interval_ms") == 200
    chain.run_block()  # H + 1: still the old value
    assert chain.view("system", "get_parameter", "block_interval_ms") == 200
    chain.run_block()  # H + 2
    assert chain.view("system", "get_parameter", "block_interval_ms") == 700
    assert chain.view("system", "get_parameter", "timeout_propose_ms") == 4_000
    schedule = read_config_schedule(chain.state)
    assert schedule is not None
    assert get_config_at(schedule, Height(decided + 1)).get_parameter("block_interval_ms") == 200
    assert get_config_at(schedule, Height(decided + 2)).get_parameter("block_interval_ms") == 700


def test_readers_over_committed_state() -> None:
    genesis = make_consortium_genesis()
    chain = Chain.create(genesis=genesis)
    assert read_config_schedule(chain.state) == compute_genesis_config_schedule(genesis)
    assert read_config_schedule(MemoryState()) is None
    assert [item.name for item in get_organizations(chain.state)] == ["org-a", "org-b", "org-c"]
    assert get_organizations(MemoryState()) == ()
    account = get_account(chain.state, admin_of("org-c"))
    assert account is not None and (account.organization, account.role, account.frozen) == ("org-c", "admin", False)
    assert get_account(chain.state, CLIENT) is None
    # A chain without governance state checks nothing.
    check_transaction_permission(MemoryState(), CLIENT, "evidence", "record")


def test_a_chain_without_the_system_contract_runs_unchecked() -> None:
    chain = Chain.create(registry=ContractRegistry([Account, Evidence]), genesis=make_consortium_genesis())
    assert read_config_schedule(chain.state) is None
    assert run_record(chain, OUTSIDER_KEY) == ""


# --- the validator-change safety rule ----------------------------------------------------------------


def test_a_validator_change_that_could_lose_the_quorum_is_refused() -> None:
    chain = make_consortium()  # org-a runs validators 0 and 3: half of the power
    removal = propose(chain, ADMIN_KEYS["org-a"], "remove_organization", ["org-a"])
    assert removal.error_code == "reverted" and "at most two" in removal.error_message
    validator_1 = make_validator(1, "org-b").address
    growth = propose(chain, ADMIN_KEYS["org-b"], "set_validator_power", [validator_1, 30])
    assert growth.error_code == "reverted" and "one third or more" in growth.error_message
    assert propose(chain, ADMIN_KEYS["org-b"], "set_validator_power", [validator_1, 14]).is_success


def test_changes_pending_for_the_same_height_are_checked_together() -> None:
    chain = make_consortium()
    decide(chain, "set_policy", ["add_node", "ANY", 0, 0], voters=ALL)
    for index in (4, 5):
        validator = make_validator(index, "org-c")
        args = [validator.name, validator.address, validator.public_key, "org-c", "validator", 10]
        receipt = chain.run_block(
            make_transaction(
                "system",
                "propose",
                ["add_node", encode(args), 500],
                sender=ADMIN_KEYS["org-c"],
            )
        ).receipts[0]
        # Decided in consecutive blocks, so for consecutive heights: each step alone adds less than a third.
        assert receipt.is_success, receipt.error_message
        if index == 4:
            first_height = chain.height
    schedule = read_config_schedule(chain.state)
    assert schedule is not None
    assert [change.effective_height for change in schedule[1:]] == [first_height + 2, first_height + 3]
    assert len(schedule[-1].config.validators) == 6


def test_two_validator_additions_decided_in_one_block_count_together() -> None:
    chain = make_consortium()
    decide(chain, "set_policy", ["add_node", "ANY", 0, 0], voters=ALL)
    transactions = []
    for nonce, index in enumerate((4, 5)):
        validator = make_validator(index, "org-c")
        args = [validator.name, validator.address, validator.public_key, "org-c", "validator", 10]
        transactions.append(
            make_transaction(
                "system", "propose", ["add_node", encode(args), 500], sender=ADMIN_KEYS["org-c"], nonce=100 + nonce
            )
        )
    first, second = chain.run_block(*transactions).receipts
    assert first.is_success
    assert second.error_code == "reverted" and "one third or more" in second.error_message


def test_an_added_node_must_own_its_address_and_the_last_validator_stays() -> None:
    chain = make_consortium(powers=(10,))
    validator = make_validator(4, "org-b")
    wrong = propose(
        chain,
        ADMIN_KEYS["org-b"],
        "add_node",
        ["v", validator.address, VALIDATOR_KEYS[5].public_key, "org-b", "observer", 0],
    )
    assert wrong.error_code == "reverted" and "does not belong to the public key" in wrong.error_message
    only = make_validator(0, "org-a").address
    removal = propose(chain, ADMIN_KEYS["org-a"], "remove_node", [only])
    assert removal.error_code == "reverted" and "no validator" in removal.error_message
    observer = decide(
        chain, "add_node", ["observer-4", validator.address, validator.public_key, "org-b", "observer", 0]
    )
    assert chain.view("system", "get_proposal", observer)[7] == "approved"  # type: ignore[index]
    nodes = chain.view("system", "get_nodes", b"", 256)
    assert [item[4] for item in nodes].count("observer") == 1  # type: ignore[union-attr]
    assert len(read_config_schedule(chain.state)[-1].config.validators) == 1  # type: ignore[index]


def test_an_engine_switch_survives_later_changes_and_solo_is_never_switched_to() -> None:
    chain = make_consortium(powers=(10,))
    target = chain.height + 30
    decide(chain, "set_consensus", ["raft", target], voters=ALL)
    only = make_validator(0, "org-a").address
    decide(chain, "set_validator_power", [only, 12])
    schedule = read_config_schedule(chain.state)
    assert schedule is not None
    power_height = chain.height + 2
    assert [(item.effective_height, item.config.consensus, item.config.validators[0].power) for item in schedule] == [
        (0, "tendermint", 10),
        (power_height, "tendermint", 12),
        (target, "raft", 12),
    ]
    # Solo has no peers, WAL or block sync to hand over: a switch to it is refused when proposed.
    refused = propose(chain, ADMIN_KEYS["org-a"], "set_consensus", ["solo", target + 10])
    assert refused.error_code == "reverted" and "solo orders alone" in refused.error_message


# --- permissions, freezes, revocations --------------------------------------------------------------


def test_a_frozen_account_is_refused_from_the_next_block() -> None:
    chain = make_consortium()
    propose(chain, ADMIN_KEYS["org-a"], "freeze_account", [CLIENT])
    vote_then_send = chain.run_block(
        make_transaction("system", "vote", [1, True], sender=ADMIN_KEYS["org-b"]),
        record(CLIENT_KEY, 1),  # type: ignore[arg-type]
    )
    assert [receipt.error_code for receipt in vote_then_send.receipts] == ["", ""]  # in force from H + 1
    receipt = chain.run(record(CLIENT_KEY, 2))  # type: ignore[arg-type]
    assert receipt.error_code == "account_frozen" and "unfreezes" in receipt.error_message
    assert chain.view("system", "get_account", CLIENT) == ["", "public", True]
    decide(chain, "unfreeze_account", [CLIENT])
    assert run_record(chain, CLIENT_KEY) == ""
    assert chain.view("system", "get_account", CLIENT) is None


def test_the_last_active_admin_of_an_organisation_cannot_be_frozen() -> None:
    chain = make_consortium()
    refused = propose(chain, ADMIN_KEYS["org-a"], "freeze_account", [admin_of("org-b")])
    assert refused.error_code == "reverted" and "last admin of org-b" in refused.error_message


def test_a_frozen_contract_is_refused() -> None:
    chain = make_consortium()
    decide(chain, "freeze_contract", ["evidence"])
    chain.run_block()
    assert run_record(chain, CLIENT_KEY) == "contract_frozen"
    transfer = chain.run(make_transaction("account", "transfer", [OUTSIDER, 1], sender=CLIENT_KEY))
    assert transfer.is_success
    decide(chain, "unfreeze_contract", ["evidence"])
    chain.run_block()
    assert run_record(chain, CLIENT_KEY) == ""


def test_permissions_by_role_and_by_organisation() -> None:
    chain = make_consortium()
    decide(chain, "set_account", [CLIENT, "org-b", "client"], voters=("org-b",))
    decide(chain, "set_account", [CLIENT_A, "org-a", "client"], voters=("org-a",))
    decide(chain, "set_permission", ["evidence", "*", ["client"], []])
    chain.run_block()
    assert run_record(chain, OUTSIDER_KEY) == "permission_denied"  # public
    assert run_record(chain, ADMIN_KEYS["org-a"]) == "permission_denied"  # an admin is not a client
    assert run_record(chain, CLIENT_KEY) == ""
    assert run_record(chain, CLIENT_A_KEY) == ""
    # A method's own entry takes precedence over the contract's "*" entry.
    decide(chain, "set_permission", ["evidence", "record", [], ["org-b"]])
    chain.run_block()
    assert run_record(chain, CLIENT_A_KEY) == "permission_denied"
    assert run_record(chain, CLIENT_KEY) == ""
    assert run_record(chain, ADMIN_KEYS["org-b"]) == ""
    denied = chain.run(record(OUTSIDER_KEY, 99))  # type: ignore[arg-type]
    assert "ask an organisation's admin" in denied.error_message
    assert chain.view("system", "get_permissions", "evidence") == [["*", ["client"], []], ["record", [], ["org-b"]]]
    # Other contracts stay open.
    assert chain.run(make_transaction("account", "transfer", [CLIENT, 1], sender=OUTSIDER_KEY)).is_success
    decide(chain, "set_permission", ["evidence", "record", [], []])
    decide(chain, "set_permission", ["evidence", "*", [], []])
    chain.run_block()
    assert run_record(chain, OUTSIDER_KEY) == ""
    assert chain.view("system", "get_permissions", "evidence") == []


def test_an_auditor_reads_but_sends_nothing() -> None:
    chain = make_consortium()
    decide(chain, "set_account", [CLIENT, "org-b", "auditor"], voters=("org-b",))
    chain.run_block()
    transfer = chain.run(make_transaction("account", "transfer", [OUTSIDER, 1], sender=CLIENT_KEY))
    assert transfer.error_code == "permission_denied" and "auditor" in transfer.error_message
    assert chain.call("account", "balance", [CLIENT], sender=CLIENT).return_value  # views still answer


def test_a_revoked_certificate() -> None:
    chain = make_consortium()
    digest = hashlib.sha256(b"a node certificate").digest()
    assert not is_certificate_revoked(chain.state, digest)
    proposal_id = decide(chain, "revoke_certificate", [digest, "key compromised"])
    height = chain.height
    assert is_certificate_revoked(chain.state, digest)
    assert not is_certificate_revoked(chain.state, bytes(32))
    assert chain.view("system", "get_revocations", b"", 256) == [[digest, "key compromised", height]]
    again = propose(chain, ADMIN_KEYS["org-a"], "revoke_certificate", [digest, "again"])
    assert again.error_code == "reverted" and "already revoked" in again.error_message
    assert get_return(chain.run(make_transaction("system", "get_proposal", [proposal_id]))) is not None


def test_the_safety_rule_at_its_exact_boundaries() -> None:
    three = tuple(make_validator(index, "org-a") for index in range(3))
    # The two that stay hold exactly two thirds of the old power: refused.
    assert "at most two thirds" in (validate_validator_change(three, three[:2]) or "")
    two = three[:2]
    # The added validator holds exactly one third of the new power: refused; a little less is fine.
    assert "one third or more" in (validate_validator_change(two, three) or "")
    smaller = (*two, make_validator(2, "org-a", power=9))
    assert validate_validator_change(two, smaller) is None
    assert validate_validator_change(three, ()) == "it would leave no validator"
    four = tuple(make_validator(index, "org-a") for index in range(4))
    assert validate_validator_change(four, four[:3]) is None


def test_the_last_organisation_cannot_be_removed() -> None:
    chain = Chain.create(genesis=make_genesis(admins=(ALICE,)))
    refused = propose(chain, ALICE_KEY, "remove_organization", ["org0"])
    assert refused.error_code == "reverted" and "last member" in refused.error_message
