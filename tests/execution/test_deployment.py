"""Deploying, calling and upgrading sandboxed contracts by transaction (`contracts` + the executor)."""

from __future__ import annotations

import pytest
from execution_helpers import (
    ALICE,
    ALICE_KEY,
    BOB,
    BOB_KEY,
    Chain,
    get_event_data,
    get_return,
    make_genesis,
    make_transaction,
)
from governance_helpers import CLIENT_KEY, decide, make_consortium

from gusu.codec import encode
from gusu.errors import UnknownContractError, UnknownMethodError
from gusu.execution.deployment import APPROVAL_PARAMETER, compute_code_hash
from gusu.ledger.genesis import DEFAULT_PARAMETERS
from gusu.ledger.types import Receipt

TOKEN_V1 = '''
"""A token with an owner who mints."""
from gusu_contract import Map, Counter, method, view, migration, require, sender, emit, event, Address

balances = Map("balances")
supply = Counter("supply")
owner = Map("owner")
Transfer = event("Transfer", "sender", "to", "amount")


@migration
def setup(initial: int) -> None:
    owner.set(0, sender())
    balances.set(sender(), initial)
    supply.add(initial)


@method
def transfer(to: Address, amount: int) -> None:
    require(amount > 0, "amount must be positive")
    me = sender()
    balance = balances.get(me, 0)
    require(balance >= amount, "insufficient balance")
    balances.set(me, balance - amount)
    balances.set(to, balances.get(to, 0) + amount)
    emit(Transfer, me, to, amount)


@view
def balance(holder: Address) -> int:
    return balances.get(holder, 0)
'''

TOKEN_V2 = (
    TOKEN_V1.replace("def setup(initial: int) -> None:", "def setup(bonus: int) -> None:")
    .replace(
        "    owner.set(0, sender())\n    balances.set(sender(), initial)\n    supply.add(initial)\n",
        "    balances.set(sender(), balances.get(sender(), 0) + bonus)\n    supply.add(bonus)\n",
    )
    .replace(
        """@view
def balance(holder: Address) -> int:""",
        """@view
def total() -> int:
    return supply.get()


@view
def balance(holder: Address) -> int:""",
    )
)


def _deploy(chain: Chain, name: str, source: str, args: list[object], key: object = ALICE_KEY) -> Receipt:
    return chain.run(make_transaction("contracts", "deploy", [name, source, encode(args)], sender=key))  # type: ignore[arg-type]


def _open_chain() -> Chain:
    """A chain whose genesis turns approval off (a developer's chain)."""
    parameters = tuple(sorted((*DEFAULT_PARAMETERS, (APPROVAL_PARAMETER, 0))))
    return Chain.create(genesis=make_genesis(parameters=parameters))


def test_deploy_call_and_view_a_contract() -> None:
    chain = _open_chain()
    deployed = _deploy(chain, "token", TOKEN_V1, [1_000])
    assert deployed.is_success, deployed.error_message
    code_hash = compute_code_hash("sm", TOKEN_V1)
    assert get_return(deployed) == code_hash
    assert get_event_data(deployed) == [("Deployed", ["token", code_hash, ALICE])]
    transfer = chain.run(make_transaction("token", "transfer", [BOB, 250]))
    assert transfer.is_success, transfer.error_message
    assert [(e.contract, e.name) for e in transfer.events] == [("token", "Transfer")]
    assert chain.view("token", "balance", ALICE) == 750
    assert chain.view("token", "balance", BOB) == 250
    instance = chain.view("contracts", "get_instance", "token")
    assert instance == [code_hash, ALICE, 1, 1, 1, len(TOKEN_V1.encode())]
    assert chain.view("contracts", "get_code", code_hash) == TOKEN_V1
    interface = chain.view("contracts", "get_interface", "token")
    assert isinstance(interface, list)
    assert ["transfer", "method", [["to", "Address"], ["amount", "int"]]] in interface[0]
    assert interface[1] == [["Transfer", ["sender", "to", "amount"]]]
    assert interface[2] == "setup"


def test_a_failed_call_changes_nothing_and_says_why() -> None:
    chain = _open_chain()
    _deploy(chain, "token", TOKEN_V1, [10])
    failed = chain.run(make_transaction("token", "transfer", [BOB, 11]))
    assert not failed.is_success and "insufficient balance" in failed.error_message
    assert chain.view("token", "balance", ALICE) == 10
    assert not chain.run(make_transaction("token", "setup", [5])).is_success, "a migration runs only on install"


def test_views_run_read_only_and_a_read_only_call_refuses_methods() -> None:
    chain = _open_chain()
    _deploy(chain, "token", TOKEN_V1, [10])
    with pytest.raises(UnknownMethodError, match="only a transaction"):
        chain.call("token", "transfer", [BOB, 1])
    with pytest.raises(UnknownContractError, match="none is deployed"):
        chain.call("nothing_here", "balance", [ALICE])
    missing = chain.run(make_transaction("nothing_here", "balance", [ALICE]))
    assert missing.error_code == "contract_unknown"


def test_a_refused_source_or_a_taken_name_deploys_nothing() -> None:
    chain = _open_chain()
    refused = _deploy(chain, "bad", "import os\n", [])
    assert not refused.is_success and "refused" in refused.error_message
    assert chain.view("contracts", "get_instance", "bad") is None
    for name in ("account", "system", "contracts", "Bad-Name", ""):
        taken = _deploy(chain, name, TOKEN_V1, [1])
        assert not taken.is_success, name
    assert _deploy(chain, "token", TOKEN_V1, [1]).is_success
    again = _deploy(chain, "token", TOKEN_V1, [1])
    assert not again.is_success and "already deployed" in again.error_message


def test_a_failing_migration_deploys_nothing() -> None:
    chain = _open_chain()
    failed = _deploy(chain, "token", TOKEN_V1, ["not an int"])
    assert not failed.is_success
    assert chain.view("contracts", "get_instance", "token") is None
    no_migration = TOKEN_V1.replace(
        "@migration\ndef setup(initial: int) -> None:", "@method\ndef setup(initial: int) -> None:"
    )
    refused = _deploy(chain, "plain", no_migration, [5])
    assert not refused.is_success and "no @migration" in refused.error_message
    assert _deploy(chain, "plain", no_migration, []).is_success


def test_upgrade_keeps_state_runs_the_migration_and_only_the_owner_may() -> None:
    chain = _open_chain()
    _deploy(chain, "token", TOKEN_V1, [100])
    chain.run(make_transaction("token", "transfer", [BOB, 40]))
    stranger = chain.run(make_transaction("contracts", "upgrade", ["token", TOKEN_V2, encode([5])], sender=BOB_KEY))
    assert not stranger.is_success and "only the owner" in stranger.error_message
    upgraded = chain.run(make_transaction("contracts", "upgrade", ["token", TOKEN_V2, encode([5])]))
    assert upgraded.is_success, upgraded.error_message
    old_hash, new_hash = compute_code_hash("sm", TOKEN_V1), compute_code_hash("sm", TOKEN_V2)
    assert get_event_data(upgraded) == [("Upgraded", ["token", old_hash, new_hash, 2])]
    assert chain.view("token", "balance", ALICE) == 65  # 60 kept + 5 from the migration
    assert chain.view("token", "balance", BOB) == 40
    assert chain.view("token", "total") == 105
    same = chain.run(make_transaction("contracts", "upgrade", ["token", TOKEN_V2, encode([5])]))
    assert not same.is_success and "already runs" in same.error_message


def test_a_governed_chain_deploys_only_approved_code() -> None:
    chain = make_consortium()
    assert chain.view("contracts", "is_approval_required") is True
    refused = _deploy(chain, "token", TOKEN_V1, [10], key=CLIENT_KEY)
    assert not refused.is_success and "not approved" in refused.error_message
    code_hash = compute_code_hash("sm", TOKEN_V1)
    assert chain.view("contracts", "is_code_approved", code_hash) is False
    decide(chain, "approve_contract", [code_hash])
    assert chain.view("contracts", "is_code_approved", code_hash) is True
    deployed = _deploy(chain, "token", TOKEN_V1, [10], key=CLIENT_KEY)
    assert deployed.is_success, deployed.error_message
    upgrade = chain.run(make_transaction("contracts", "upgrade", ["token", TOKEN_V2, encode([1])], sender=CLIENT_KEY))
    assert not upgrade.is_success and "not approved" in upgrade.error_message


def test_governance_freezes_a_deployed_contract() -> None:
    chain = make_consortium()
    decide(chain, "approve_contract", [compute_code_hash("sm", TOKEN_V1)])
    assert _deploy(chain, "token", TOKEN_V1, [10], key=CLIENT_KEY).is_success
    decide(chain, "freeze_contract", ["token"])
    frozen = chain.run(make_transaction("token", "transfer", [BOB, 1], sender=CLIENT_KEY))
    assert frozen.error_code == "contract_frozen"
    decide(chain, "unfreeze_contract", ["token"], voters=("org-b", "org-c"))
    assert chain.run(make_transaction("token", "transfer", [BOB, 1], sender=CLIENT_KEY)).is_success


def test_deployed_calls_give_the_same_writes_and_gas_twice() -> None:
    def run() -> tuple[object, ...]:
        chain = _open_chain()
        receipts = [_deploy(chain, "token", TOKEN_V1, [100])]
        for amount in (1, 2, 3):
            receipts.append(chain.run(make_transaction("token", "transfer", [BOB, amount], nonce=amount)))
        return tuple((r.gas_used, r.return_value, r.events) for r in receipts), tuple(sorted(chain.state.items.items()))

    assert run() == run()
