"""Deployed contracts calling other contracts: results, rollback, senders, reentrancy, depth, permissions."""

from __future__ import annotations

from execution_helpers import ALICE, BOB, Chain, get_return, make_genesis, make_transaction
from governance_helpers import CLIENT_KEY, decide, make_consortium

from gusu.codec import encode
from gusu.execution.deployment import (
    APPROVAL_PARAMETER,
    CONTRACT_CALLS_DEPTH_MAX,
    compute_code_hash,
    compute_contract_address,
)
from gusu.ledger.genesis import DEFAULT_PARAMETERS
from gusu.ledger.types import Address

TOKEN = """
from gusu_contract import Map, method, view, require, sender, origin, emit, event, Address

balances = Map("balances")
Transfer = event("Transfer", "sender", "to", "amount")


@method
def mint(to: Address, amount: int) -> None:
    balances.set(to, balances.get(to, 0) + amount)


@method
def transfer(to: Address, amount: int) -> list:
    me = sender()
    balance = balances.get(me, 0)
    require(balance >= amount, "insufficient balance")
    balances.set(me, balance - amount)
    balances.set(to, balances.get(to, 0) + amount)
    emit(Transfer, me, to, amount)
    return [me, origin()]


@view
def balance(holder: Address) -> int:
    return balances.get(holder, 0)
"""

SHOP = """
from gusu_contract import Map, Counter, method, view, sender, call_contract, read_contract, try_call_contract
from gusu_contract import contract_address, Address

sales = Counter("sales")
failures = Counter("failures")


@method
def buy(amount: int) -> list:
    sales.add(1)
    return call_contract("token", "transfer", sender(), amount)


@method
def try_buy(amount: int) -> list:
    sales.add(1)
    outcome = try_call_contract("token", "transfer", sender(), amount)
    if not outcome[0]:
        failures.add(1)
    return outcome


@view
def stock() -> int:
    return read_contract("token", "balance", contract_address())


@view
def sneaky(amount: int) -> list:
    return call_contract("token", "transfer", sender(), amount)


@method
def pay_native(to: Address, amount: int) -> None:
    call_contract("account", "transfer", to, amount)


@view
def counts() -> list:
    return [sales.get(), failures.get()]
"""

RELAY = """
from gusu_contract import method, call_contract


@method
def hop(names: list[str]) -> int:
    if len(names) == 0:
        return 0
    return 1 + call_contract(names[0], "hop", names[1:])
"""


def _open_chain() -> Chain:
    parameters = tuple(sorted((*DEFAULT_PARAMETERS, (APPROVAL_PARAMETER, 0))))
    return Chain.create(genesis=make_genesis(parameters=parameters))


def _deploy(chain: Chain, name: str, source: str) -> None:
    receipt = chain.run(make_transaction("contracts", "deploy", [name, source, encode([])]))
    assert receipt.is_success, receipt.error_message


def _shop_chain(stock: int = 100) -> tuple[Chain, Address]:
    chain = _open_chain()
    _deploy(chain, "token", TOKEN)
    _deploy(chain, "shop", SHOP)
    shop = compute_contract_address("sm", "shop")
    assert chain.run(make_transaction("token", "mint", [shop, stock])).is_success
    return chain, shop


def test_a_contract_calls_another_as_itself_for_the_signer() -> None:
    chain, shop = _shop_chain()
    receipt = chain.run(make_transaction("shop", "buy", [30]))
    assert receipt.is_success, receipt.error_message
    assert get_return(receipt) == [shop, ALICE], "the callee sees the shop as sender, the signer as origin"
    assert [(event.contract, event.name) for event in receipt.events] == [("token", "Transfer")]
    assert chain.view("token", "balance", ALICE) == 30
    assert chain.view("shop", "stock") == 70
    assert chain.view("shop", "counts") == [1, 0]


def test_a_failed_inner_call_fails_the_caller_and_rolls_back_both() -> None:
    chain, _ = _shop_chain(stock=10)
    receipt = chain.run(make_transaction("shop", "buy", [11]))
    assert receipt.error_code == "reverted" and "insufficient balance" in receipt.error_message
    assert chain.view("shop", "counts") == [0, 0], "the caller's own write is rolled back too"


def test_try_call_rolls_back_only_the_inner_call() -> None:
    chain, _ = _shop_chain(stock=10)
    receipt = chain.run(make_transaction("shop", "try_buy", [11]))
    assert receipt.is_success, receipt.error_message
    assert get_return(receipt) == [False, "reverted"]
    assert receipt.events == ()
    assert chain.view("shop", "counts") == [1, 1]
    assert chain.view("shop", "stock") == 10


def test_a_view_cannot_make_a_state_changing_call() -> None:
    chain, _ = _shop_chain()
    result = chain.run(make_transaction("shop", "sneaky", [1]))
    assert not result.is_success
    assert chain.view("shop", "stock") == 100


def test_re_entering_a_running_contract_is_refused() -> None:
    chain = _open_chain()
    for name in ("relay_a", "relay_b"):
        _deploy(chain, name, RELAY)
    fine = chain.run(make_transaction("relay_a", "hop", [["relay_b"]]))
    assert fine.is_success and get_return(fine) == 1
    looped = chain.run(make_transaction("relay_a", "hop", [["relay_b", "relay_a"]]))
    assert not looped.is_success and "already running" in looped.error_message


def test_contract_calls_nest_at_most_the_limit() -> None:
    chain = _open_chain()
    names = [f"relay_{index}" for index in range(CONTRACT_CALLS_DEPTH_MAX + 1)]
    for name in names:
        _deploy(chain, name, RELAY)
    deepest = chain.run(make_transaction(names[0], "hop", [names[1:CONTRACT_CALLS_DEPTH_MAX]]))
    assert deepest.is_success, deepest.error_message
    assert get_return(deepest) == CONTRACT_CALLS_DEPTH_MAX - 1
    too_deep = chain.run(make_transaction(names[0], "hop", [names[1:]]))
    assert too_deep.error_code == "sandbox_limit" and "nest deeper" in too_deep.error_message


def test_a_contract_spends_its_own_native_balance() -> None:
    chain, shop = _shop_chain()
    assert chain.run(make_transaction("account", "transfer", [shop, 500])).is_success
    assert chain.run(make_transaction("shop", "pay_native", [BOB, 120])).is_success
    assert chain.get_balance(BOB) == 120 and chain.get_balance(shop) == 380
    overdraw = chain.run(make_transaction("shop", "pay_native", [BOB, 1_000]))
    assert overdraw.error_code == "reverted"


def test_governance_freezes_bind_calls_from_contracts() -> None:
    chain = make_consortium()
    for source in (TOKEN, SHOP):
        decide(chain, "approve_contract", [compute_code_hash("sm", source)])
    for name, source in (("token", TOKEN), ("shop", SHOP)):
        receipt = chain.run(make_transaction("contracts", "deploy", [name, source, encode([])], sender=CLIENT_KEY))
        assert receipt.is_success, receipt.error_message
    shop = compute_contract_address("sm", "shop")
    assert chain.run(make_transaction("token", "mint", [shop, 50], sender=CLIENT_KEY)).is_success
    decide(chain, "freeze_contract", ["token"])
    frozen = chain.run(make_transaction("shop", "buy", [5], sender=CLIENT_KEY))
    assert frozen.error_code == "contract_frozen"
