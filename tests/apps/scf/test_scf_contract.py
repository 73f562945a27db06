"""The scf contract's state machine and every guard, on the devkit's in-memory chain.

Actors: alice deploys (the platform operator); core enterprise "acme" acts through mia (maker) and
chen (checker); suppliers "tier1" (tom), "tier2" (tina), "tier3" (tess); funder "bank" (ben); a second
funder "factor" (fay); regulator "cbirc" (rex); "outsider" has no account.
"""

from __future__ import annotations

import hashlib

import pytest

from gusu.apps.scf.contract import AMOUNT_MAX_FEN, CONTRACT_NAME, DAY_MS, compute_interest_fen, get_contract_source
from gusu.codec import encode
from gusu.devkit import DevChain

SCF = CONTRACT_NAME
ACCOUNTS = ("alice", "mia", "chen", "tom", "tina", "tess", "ben", "fay", "rex", "mallory")


def h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def docs(tag: str) -> list[bytes]:
    return [h(f"contract-{tag}"), h(f"invoice-{tag}"), h(f"delivery-{tag}")]


@pytest.fixture
def chain() -> DevChain:
    chain = DevChain(accounts=ACCOUNTS)
    chain.deploy(SCF, get_contract_source(), 0)
    for enterprise, kind, name in [
        ("acme", "core", "Acme Heavy Industry 核心企业"),
        ("tier1", "supplier", "Tier-1 Steel"),
        ("tier2", "supplier", "Tier-2 Parts"),
        ("tier3", "supplier", "Tier-3 Bolts"),
        ("bank", "funder", "Suzhou Bank"),
        ("factor", "funder", "Factor Co"),
        ("cbirc", "regulator", "Regulator"),
    ]:
        chain.call(SCF, "admit_enterprise", enterprise, kind, name)
    for account, enterprise, role in [
        ("mia", "acme", "maker"),
        ("chen", "acme", "checker"),
        ("tom", "tier1", "user"),
        ("tina", "tier2", "user"),
        ("tess", "tier3", "user"),
        ("ben", "bank", "user"),
        ("fay", "factor", "user"),
        ("rex", "cbirc", "user"),
    ]:
        chain.call(SCF, "set_account", chain.address(account), enterprise, role)
    return chain


def issue(chain: DevChain, face: int = 1_000_000_00, days: int = 90, tag: str = "root", accept: bool = True) -> int:
    """Draft (mia), approve (chen) and, by default, accept (tom): a held voucher of `face` fen to tier1."""
    maturity = chain.time_ms + days * DAY_MS
    voucher_id = chain.call(SCF, "draft", "tier1", face, maturity, face, *docs(tag), sender="mia").value
    assert isinstance(voucher_id, int)
    chain.call(SCF, "approve", voucher_id, sender="chen")
    if accept:
        chain.call(SCF, "accept", voucher_id, sender="tom")
    return voucher_id


def record(chain: DevChain, voucher_id: int) -> list:
    value = chain.view(SCF, "get_voucher_record", voucher_id)
    assert isinstance(value, list)
    return value


def cost(chain: DevChain, offer_id: int) -> int:
    offer = chain.view(SCF, "get_offer_record", offer_id)
    assert isinstance(offer, list) and isinstance(offer[8], int)
    return offer[8]


def assert_conserved(chain: DevChain, root_id: int) -> None:
    tree = chain.view(SCF, "get_tree", root_id)
    assert isinstance(tree, list)
    by_id = {node[0]: node for node in tree}
    for node in tree:
        parts = sum(child[5] for child in tree if child[2] == node[0])
        assert parts + node[6] == node[5], f"voucher {node[0]} does not conserve"
    assert set(by_id) == {node[0] for node in tree}


# --- issuance ---------------------------------------------------------------------------------------


def test_issue_approve_accept_and_irrevocable(chain: DevChain) -> None:
    maturity = chain.time_ms + 90 * DAY_MS
    drafted = chain.call(SCF, "draft", "tier1", 500_000_00, maturity, 600_000_00, *docs("a"), sender="mia")
    voucher_id = drafted.value
    assert drafted.get_events("Drafted")[0].fields["face_fen"] == 500_000_00
    assert [v[0] for v in chain.view(SCF, "list_review_queue", "acme", 0, 100)] == [voucher_id]  # type: ignore[union-attr]
    assert record(chain, voucher_id)[9] == "review"
    chain.expect_revert(SCF, "accept", voucher_id, sender="tom", match="not waiting for acceptance")
    chain.call(SCF, "approve", voucher_id, sender="chen")
    assert chain.view(SCF, "list_review_queue", "acme", 0, 100) == []
    issued = record(chain, voucher_id)
    assert issued[9] == "pending_accept" and issued[13] == chain.address("chen") and issued[7] == chain.time_ms
    chain.expect_revert(SCF, "accept", voucher_id, sender="tina", match="only the named supplier")
    chain.call(SCF, "accept", voucher_id, sender="tom")
    assert record(chain, voucher_id)[9] == "held"
    # Irrevocable once accepted: neither maker nor checker can cancel or refuse it now.
    chain.expect_revert(SCF, "cancel", voucher_id, sender="mia", match="irrevocable")
    chain.expect_revert(SCF, "cancel", voucher_id, sender="chen", match="irrevocable")
    chain.expect_revert(SCF, "refuse", voucher_id, sender="tom", match="not waiting for acceptance")
    stats = chain.view(SCF, "get_issuer_stats", "acme")
    assert stats == [1, 500_000_00, 1, 500_000_00, maturity - issued[7], 0, 0, 0, 0]


def test_maker_cannot_approve_own_draft(chain: DevChain) -> None:
    voucher_id = chain.call(SCF, "draft", "tier1", 100, chain.time_ms + DAY_MS, 100, *docs("m"), sender="mia").value
    chain.expect_revert(SCF, "approve", voucher_id, sender="mia", match="maker cannot approve its own draft")
    # A second maker account is not a checker either, and another enterprise's users approve nothing.
    chain.call(SCF, "set_account", chain.address("mallory"), "acme", "maker")
    chain.expect_revert(SCF, "approve", voucher_id, sender="mallory", match="checker role")
    chain.expect_revert(SCF, "approve", voucher_id, sender="tom", match="only the issuer's checker")
    assert record(chain, voucher_id)[9] == "review"


def test_only_makers_of_core_enterprises_draft(chain: DevChain) -> None:
    args = ("tier2", 100, chain.time_ms + DAY_MS, 100, *docs("x"))
    chain.expect_revert(SCF, "draft", *args, sender="chen", match="maker role")
    chain.expect_revert(SCF, "draft", *args, sender="tom", match="only a core enterprise")
    chain.expect_revert(SCF, "draft", *args, sender="mallory", match="not a registered account")
    chain.expect_revert(SCF, "draft", "acme", 100, chain.time_ms + DAY_MS, 100, *docs("y"), sender="mia",
                        match="to itself")  # fmt: skip
    chain.expect_revert(SCF, "draft", "bank", 100, chain.time_ms + DAY_MS, 100, *docs("y"), sender="mia",
                        match="not an active supplier")  # fmt: skip
    chain.expect_revert(SCF, "draft", "nobody", 100, chain.time_ms + DAY_MS, 100, *docs("y"), sender="mia",
                        match="not a member")  # fmt: skip


def test_face_value_at_most_the_verified_receivable_and_documents_present(chain: DevChain) -> None:
    maturity = chain.time_ms + DAY_MS
    chain.expect_revert(SCF, "draft", "tier1", 101, maturity, 100, *docs("r"), sender="mia", match="exceeds the")
    chain.expect_revert(SCF, "draft", "tier1", 0, maturity, 100, *docs("r"), sender="mia", match="between 1 fen")
    chain.expect_revert(SCF, "draft", "tier1", -5, maturity, 100, *docs("r"), sender="mia", match="between 1 fen")
    too_much = AMOUNT_MAX_FEN + 1
    chain.expect_revert(SCF, "draft", "tier1", too_much, maturity, too_much, *docs("r"), sender="mia",
                        match="between 1 fen")  # fmt: skip
    chain.call(SCF, "draft", "tier1", AMOUNT_MAX_FEN, maturity, AMOUNT_MAX_FEN, *docs("max"), sender="mia")
    contract, invoice, delivery = docs("r")
    chain.expect_revert(SCF, "draft", "tier1", 100, maturity, 100, contract, bytes(32), delivery, sender="mia",
                        match="invoice hash is missing")  # fmt: skip
    chain.expect_revert(SCF, "draft", "tier1", 100, maturity, 100, contract, invoice, bytes(32), sender="mia",
                        match="delivery")  # fmt: skip


def test_one_invoice_backs_one_voucher_until_refused(chain: DevChain) -> None:
    first = issue(chain, tag="dup", accept=False)
    chain.expect_revert(SCF, "draft", "tier1", 5, chain.time_ms + DAY_MS, 5, *docs("dup"), sender="mia",
                        match=f"already backs voucher {first}")  # fmt: skip
    chain.call(SCF, "refuse", first, sender="tom")
    assert record(chain, first)[9] == "refused"
    again = chain.call(SCF, "draft", "tier1", 5, chain.time_ms + DAY_MS, 5, *docs("dup"), sender="mia").value
    chain.call(SCF, "cancel", again, sender="mia")
    assert record(chain, again)[9] == "cancelled"
    chain.expect_revert(SCF, "approve", again, sender="chen", match="not waiting for review")


def test_term_caps(chain: DevChain) -> None:
    now = chain.time_ms
    chain.expect_revert(SCF, "draft", "tier1", 100, now + 200 * DAY_MS, 100, *docs("t"), sender="mia",
                        match="exceeds 183 days")  # fmt: skip
    chain.expect_revert(SCF, "draft", "tier1", 100, now + 366 * DAY_MS, 100, *docs("t"), sender="mia",
                        match="never over 1 year")  # fmt: skip
    chain.expect_revert(SCF, "draft", "tier1", 100, now, 100, *docs("t"), sender="mia", match="after the issue")
    # The operator may lengthen the cap to a year, never beyond.
    chain.expect_revert(SCF, "set_term_max_days", 366, match="never more than 1 year")
    chain.expect_revert(SCF, "set_term_max_days", 300, sender="mia", match="operator")
    chain.call(SCF, "set_term_max_days", 365)
    assert chain.view(SCF, "get_config") == [365, 365]
    chain.expect_revert(SCF, "draft", "tier1", 100, chain.time_ms + 365 * DAY_MS + 2_000, 100, *docs("t"),
                        sender="mia", match="exceeds 365 days")  # fmt: skip
    voucher_id = chain.call(SCF, "draft", "tier1", 100, chain.time_ms + 300 * DAY_MS, 100, *docs("t"),
                            sender="mia").value  # fmt: skip
    # Checked again at issuance: a draft approved late, when the cap was lowered, is refused then.
    chain.call(SCF, "set_term_max_days", 183)
    chain.expect_revert(SCF, "approve", voucher_id, sender="chen", match="exceeds 183 days")


def test_deployment_refuses_a_term_cap_over_one_year() -> None:
    chain = DevChain(accounts=ACCOUNTS)
    chain.expect_revert("contracts", "deploy", SCF, get_contract_source(), encode([400]), match="1 to 365")


# --- split and transfer -----------------------------------------------------------------------------


def test_split_and_transfer_down_three_tiers_conserve(chain: DevChain) -> None:
    root = issue(chain, face=1_000_000)
    to_tier2 = chain.call(SCF, "transfer", root, "tier2", 400_000, *docs("t2"), sender="tom").value
    parts = chain.call(SCF, "split", to_tier2, [100_000, 50_000], sender="tina").value
    assert isinstance(parts, list) and len(parts) == 2
    to_tier3 = chain.call(SCF, "transfer", parts[0], "tier3", 100_000, *docs("t3"), sender="tina").value
    assert record(chain, root)[6] == 600_000
    assert record(chain, to_tier2)[6] == 250_000
    assert record(chain, parts[0])[6] == 0 and record(chain, to_tier3)[4] == "tier3"
    assert_conserved(chain, root)
    # tier3 sees its lineage: the path from the root, not tier1's other business.
    lineage = chain.view(SCF, "get_lineage", to_tier3)
    assert [node[0] for node in lineage] == [root, to_tier2, parts[0], to_tier3]  # type: ignore[union-attr]
    holdings = chain.view(SCF, "list_holdings", "tier2", 0, 100)
    assert sorted(node[0] for node in holdings) == sorted([to_tier2, *parts])  # type: ignore[union-attr]


def test_split_that_does_not_conserve_is_refused(chain: DevChain) -> None:
    root = issue(chain, face=1_000)
    chain.expect_revert(SCF, "split", root, [600, 401], sender="tom", match="more than the 1000 fen available")
    chain.expect_revert(SCF, "split", root, [0], sender="tom", match="between 1 fen")
    chain.expect_revert(SCF, "split", root, [1_200, -200], sender="tom", match="between 1 fen")
    chain.expect_revert(SCF, "split", root, [], sender="tom", match="1 to 16 parts")
    chain.expect_revert(SCF, "transfer", root, "tier2", 1_001, *docs("o"), sender="tom", match="exceeds the 1000 fen")
    chain.call(SCF, "split", root, [600, 400], sender="tom")
    chain.expect_revert(SCF, "split", root, [1], sender="tom", match="more than the 0 fen")
    assert_conserved(chain, root)


def test_transfer_to_a_non_member_or_a_funder_is_refused(chain: DevChain) -> None:
    root = issue(chain, face=1_000)
    chain.expect_revert(SCF, "transfer", root, "outsider", 10, *docs("n"), sender="tom", match="not an admitted member")
    chain.expect_revert(SCF, "transfer", root, "bank", 10, *docs("n"), sender="tom", match="is a funder")
    chain.call(SCF, "set_enterprise_status", "tier2", "suspended")
    chain.expect_revert(SCF, "transfer", root, "tier2", 10, *docs("n"), sender="tom", match="suspended")
    chain.expect_revert(SCF, "transfer", root, "tier1", 10, *docs("n"), sender="tom", match="another enterprise")
    chain.expect_revert(SCF, "transfer", root, "acme", 10, *docs("n"), sender="tom", match="back to its issuer")
    assert record(chain, root)[6] == 1_000


def test_only_the_holder_moves_a_voucher(chain: DevChain) -> None:
    root = issue(chain, face=1_000)
    chain.expect_revert(SCF, "transfer", root, "tier3", 10, *docs("h"), sender="tina", match="only the holder")
    chain.expect_revert(SCF, "transfer", root, "tier3", 10, *docs("h"), sender="mia", match="only the holder")
    chain.expect_revert(SCF, "split", root, [10], sender="tess", match="only the holder")
    chain.expect_revert(SCF, "transfer", root, "tier3", 10, *docs("h"), sender="mallory", match="not a registered")
    # A holder suspended by the operator cannot move its vouchers either.
    chain.call(SCF, "set_enterprise_status", "tier1", "suspended")
    chain.expect_revert(SCF, "transfer", root, "tier3", 10, *docs("h"), sender="tom", match="tier1 is suspended")


def test_an_invoice_is_used_once_across_tiers(chain: DevChain) -> None:
    root = issue(chain, face=1_000, tag="inv")
    chain.expect_revert(SCF, "transfer", root, "tier2", 10, *docs("inv"), sender="tom", match="already backs")


# --- financing --------------------------------------------------------------------------------------


def test_financing_cost_is_shown_then_accepted_then_registered(chain: DevChain) -> None:
    root = issue(chain, face=1_000_000_00, days=90)
    offered = chain.call(SCF, "offer_financing", root, 600_000_00, 450, 1_000_00, sender="ben")
    offer_id = offered.value
    offer = chain.view(SCF, "get_offer_record", offer_id)
    assert isinstance(offer, list)
    days = offer[6]
    assert days == 90
    interest = compute_interest_fen(600_000_00, 450, days)
    assert offer[7] == interest == 665_753  # 600,000.00 yuan × 4.5 % × 90/365 = 6,657.53 yuan
    assert offer[8] == interest + 1_000_00 and offer[9] == 600_000_00 - offer[8]
    chain.expect_revert(SCF, "accept_financing", offer_id, offer[8] - 1, sender="tom", match="read it again")
    chain.expect_revert(SCF, "accept_financing", offer_id, offer[8], sender="tina", match="only the holder")
    accepted = chain.call(SCF, "accept_financing", offer_id, offer[8], sender="tom")
    child_id = accepted.value
    assert record(chain, child_id)[4] == "bank" and record(chain, child_id)[9] == "finance_pending"
    chain.expect_revert(SCF, "transfer", child_id, "tier2", 1, *docs("f"), sender="ben", match="finance_pending")
    chain.expect_revert(SCF, "register_financing", offer_id, "中登", sender="ben", match="letters, digits")
    chain.expect_revert(SCF, "register_financing", offer_id, "0123", sender="fay", match="only the funder")
    chain.call(SCF, "register_financing", offer_id, "04552611000123456789", sender="ben")
    financed = chain.view(SCF, "get_offer_record", offer_id)
    assert financed[10] == "financed" and financed[11] == "04552611000123456789"  # type: ignore[index]
    assert record(chain, child_id)[9] == "held"
    assert record(chain, root)[6] == 400_000_00
    assert_conserved(chain, root)


def test_over_financing_is_refused(chain: DevChain) -> None:
    root = issue(chain, face=1_000)
    chain.expect_revert(SCF, "offer_financing", root, 1_001, 300, 0, sender="ben", match="exceeds the 1000 fen")
    chain.call(SCF, "transfer", root, "tier2", 900, *docs("o2"), sender="tom")
    chain.expect_revert(SCF, "offer_financing", root, 101, 300, 0, sender="ben", match="exceeds the 100 fen")
    offer_id = chain.call(SCF, "offer_financing", root, 100, 300, 0, sender="ben").value
    chain.call(SCF, "split", root, [50], sender="tom")
    # The holder's available part shrank after the offer: accepting it now would over-finance.
    cost = chain.view(SCF, "get_offer_record", offer_id)[8]  # type: ignore[index]
    chain.expect_revert(SCF, "accept_financing", offer_id, cost, sender="tom", match="exceeds the 50 fen")
    chain.expect_revert(SCF, "offer_financing", root, 10, 10_001, 0, sender="ben", match="basis points")
    chain.expect_revert(SCF, "offer_financing", root, 10, 100, 11, sender="ben", match="not above the amount")
    chain.expect_revert(SCF, "offer_financing", root, 10, 0, 10, sender="ben", match="whole amount")


def test_only_whitelisted_funders_finance(chain: DevChain) -> None:
    root = issue(chain, face=1_000)
    chain.expect_revert(SCF, "offer_financing", root, 10, 300, 0, sender="tina", match="whitelisted funder")
    chain.expect_revert(SCF, "offer_financing", root, 10, 300, 0, sender="mallory", match="not a registered")
    offer_id = chain.call(SCF, "offer_financing", root, 10, 300, 0, sender="fay").value
    chain.call(SCF, "set_enterprise_status", "factor", "suspended")
    chain.expect_revert(SCF, "offer_financing", root, 10, 300, 0, sender="fay", match="suspended")
    chain.expect_revert(SCF, "accept_financing", offer_id, cost(chain, offer_id), sender="tom",
                        match="no longer whitelisted")  # fmt: skip


def test_second_financing_of_one_invoice_is_refused(chain: DevChain) -> None:
    root = issue(chain, face=1_000, tag="once")
    parts = chain.call(SCF, "split", root, [300, 300], sender="tom").value
    assert isinstance(parts, list)
    first = chain.call(SCF, "offer_financing", parts[0], 300, 300, 0, sender="ben").value
    rival = chain.call(SCF, "offer_financing", parts[1], 300, 300, 0, sender="fay").value
    chain.call(SCF, "accept_financing", first, cost(chain, first), sender="tom")
    # The other part rests on the same invoice: no funder may finance it again, by offer or acceptance.
    chain.expect_revert(SCF, "accept_financing", rival, cost(chain, rival), sender="tom", match="重复融资")
    chain.expect_revert(SCF, "offer_financing", parts[1], 100, 300, 0, sender="fay", match="重复融资")
    chain.expect_revert(SCF, "offer_financing", root, 100, 300, 0, sender="fay", match="重复融资")
    assert chain.view(SCF, "get_invoice_financing", docs("once")[1]) == first
    # A part passed on against tier2's own invoice is a new receivable and may be financed.
    child = chain.call(SCF, "transfer", root, "tier2", 100, *docs("own"), sender="tom").value
    chain.call(SCF, "offer_financing", child, 100, 300, 0, sender="fay")


def test_offers_close(chain: DevChain) -> None:
    root = issue(chain, face=1_000)
    offer_id = chain.call(SCF, "offer_financing", root, 10, 300, 0, sender="ben").value
    chain.expect_revert(SCF, "close_offer", offer_id, sender="tina", match="funder or the holder")
    chain.call(SCF, "close_offer", offer_id, sender="tom")
    assert chain.view(SCF, "get_offer_record", offer_id)[10] == "declined"  # type: ignore[index]
    chain.expect_revert(SCF, "accept_financing", offer_id, cost(chain, offer_id), sender="tom", match="declined")


# --- maturity ---------------------------------------------------------------------------------------


def test_settlement_pays_each_current_holder_and_ends_transfers(chain: DevChain) -> None:
    root = issue(chain, face=1_000_000, days=30)
    child = chain.call(SCF, "transfer", root, "tier2", 300_000, *docs("s2"), sender="tom").value
    offer_id = chain.call(SCF, "offer_financing", root, 200_000, 500, 0, sender="ben").value
    cost = chain.view(SCF, "get_offer_record", offer_id)[8]  # type: ignore[index]
    funded = chain.call(SCF, "accept_financing", offer_id, cost, sender="tom").value
    chain.call(SCF, "register_financing", offer_id, "REG-2026-0001", sender="ben")
    chain.expect_revert(SCF, "settle", root, "PAY-1", sender="mia", match="not reached its maturity")
    chain.advance_time(30 * DAY_MS)
    chain.expect_revert(SCF, "transfer", root, "tier3", 1, *docs("late"), sender="tom", match="maturity")
    chain.expect_revert(SCF, "settle", child, "PAY-1", sender="mia", match="settle its root")
    chain.expect_revert(SCF, "settle", root, "PAY-1", sender="tom", match="only the issuer")
    settled = chain.call(SCF, "settle", root, "PAY-1", sender="chen")
    paid = {(event.fields["holder"], event.fields["amount_fen"]) for event in settled.get_events("Settled")}
    assert paid == {("tier1", 500_000), ("tier2", 300_000), ("bank", 200_000)}
    assert chain.view(SCF, "get_settlement", funded)[:2] == ["bank", 200_000]  # type: ignore[index]
    assert record(chain, child)[9] == "settled"
    chain.expect_revert(SCF, "transfer", child, "tier3", 1, *docs("after"), sender="tina", match="settled")
    chain.expect_revert(SCF, "split", root, [1], sender="tom", match="settled")
    chain.expect_revert(SCF, "settle", root, "PAY-2", sender="chen", match="is settled")
    assert chain.view(SCF, "get_issuer_stats", "acme") == [1, 1_000_000, 0, 0, 0, 0, 0, 1, 0]


def test_overdue_escalates_and_shows_in_the_regulator_view(chain: DevChain) -> None:
    first = issue(chain, face=1_000, days=30, tag="o1")
    issue(chain, face=3_000, days=90, tag="o2")
    chain.expect_revert(SCF, "mark_overdue", first, sender="rex", match="not yet due")
    chain.advance_time(31 * DAY_MS)
    escalated = chain.call(SCF, "mark_overdue", first, sender="rex")
    assert escalated.get_events("Overdue")[0].fields["outstanding_fen"] == 1_000
    assert record(chain, first)[9] == "overdue"
    chain.expect_revert(SCF, "mark_overdue", first, sender="rex", match="is overdue")
    table = chain.view(SCF, "list_issuer_stats", 0, 100)
    assert isinstance(table, list) and [row[0] for row in table] == ["acme"]
    stats = table[0][2]
    assert stats[2:4] == [2, 4_000] and stats[5:7] == [1, 1_000]
    # The average term of outstanding vouchers, (30 + 90) / 2 days, less the seconds between draft and approval.
    assert 0 <= 60 * DAY_MS - stats[4] // stats[2] < 10_000
    chain.call(SCF, "settle", first, "PAY-LATE", sender="mia")
    assert chain.view(SCF, "get_issuer_stats", "acme")[5:] == [0, 0, 1, 1]  # type: ignore[index]


# --- membership -------------------------------------------------------------------------------------


def test_only_operators_admit_members(chain: DevChain) -> None:
    chain.expect_revert(SCF, "admit_enterprise", "evil", "funder", "Evil", sender="tom", match="operator")
    chain.expect_revert(SCF, "set_account", chain.address("mallory"), "bank", "user", sender="ben", match="operator")
    chain.expect_revert(SCF, "admit_enterprise", "Bad Id", "supplier", "x", match="a-z, 0-9")
    chain.expect_revert(SCF, "admit_enterprise", "x", "bank", "x", match="kind is one of")
    chain.expect_revert(SCF, "admit_enterprise", "tier1", "supplier", "again", match="already a member")
    chain.expect_revert(SCF, "set_account", chain.address("mallory"), "tier1", "maker", match="role user")
    chain.expect_revert(SCF, "set_account", chain.address("mallory"), "acme", "user", match="maker or a checker")
    chain.expect_revert(SCF, "set_account", chain.address("tom"), "tier2", "user", match="another enterprise")
    chain.call(SCF, "set_operator", chain.address("rex"), True)
    chain.call(SCF, "admit_enterprise", "tier4", "supplier", "Tier-4", sender="rex")
    chain.expect_revert(SCF, "set_operator", chain.address("alice"), False, match="cannot remove itself")
    chain.call(SCF, "set_account", chain.address("tom"), "", "none")
    chain.expect_revert(SCF, "accept", 1, sender="tom", match="not a registered account")


def test_the_sdk_cost_preview_matches_the_contract(chain: DevChain) -> None:
    root = issue(chain, face=10**12, days=183)
    for amount, rate in [(1, 1), (10**12, 10_000), (123_456_789, 365), (99_999, 4_999)]:
        offer_id = chain.call(SCF, "offer_financing", root, amount, rate, 0, sender="ben").value
        offer = chain.view(SCF, "get_offer_record", offer_id)
        assert isinstance(offer, list)
        assert offer[7] == compute_interest_fen(amount, rate, offer[6])


def test_list_views_answer_in_pages(chain: DevChain) -> None:
    root = issue(chain, face=10_000)
    parts: list[int] = []
    for _ in range(7):
        created = chain.call(SCF, "split", root, [1] * 16, sender="tom").value
        assert isinstance(created, list)
        parts += created
    first = chain.view(SCF, "list_holdings", "tier1", 0, 100)
    rest = chain.view(SCF, "list_holdings", "tier1", 100, 100)
    assert isinstance(first, list) and isinstance(rest, list) and len(first) == 100
    assert [node[0] for node in first + rest] == [root, *parts]
    with pytest.raises(Exception, match="1 to 100 entries"):
        chain.view(SCF, "list_holdings", "tier1", 0, 101)
    assert chain.view(SCF, "list_enterprises", 2, 2) == [
        ["tier2", ["Tier-2 Parts", "supplier", "active"]],
        ["tier3", ["Tier-3 Bolts", "supplier", "active"]],
    ]


def test_a_suspended_issuer_still_settles_but_issues_nothing(chain: DevChain) -> None:
    root = issue(chain, face=1_000, days=10)
    chain.call(SCF, "set_enterprise_status", "acme", "suspended")
    chain.expect_revert(SCF, "draft", "tier1", 1, chain.time_ms + DAY_MS, 1, *docs("s"), sender="mia",
                        match="acme is suspended")  # fmt: skip
    chain.advance_time(10 * DAY_MS)
    chain.call(SCF, "settle", root, "PAY-9", sender="chen")
    assert record(chain, root)[9] == "settled"


def test_a_full_tree_of_256_parts_settles_in_one_transaction(chain: DevChain) -> None:
    root = issue(chain, face=1_000_000, days=10)
    for _ in range(15):
        chain.call(SCF, "split", root, [1] * 16, sender="tom")
    chain.call(SCF, "split", root, [1] * 15, sender="tom")
    chain.expect_revert(SCF, "split", root, [1], sender="tom", match="at most 256 parts")
    tree = chain.view(SCF, "get_tree", root)
    assert isinstance(tree, list) and len(tree) == 256
    assert len(chain.view(SCF, "get_lineage", root)) == 256  # type: ignore[arg-type]
    assert_conserved(chain, root)
    chain.advance_time(10 * DAY_MS)
    settled = chain.call(SCF, "settle", root, "PAY-BIG", sender="chen")
    assert len(settled.get_events("Settled")) == 256
    assert sum(event.fields["amount_fen"] for event in settled.get_events("Settled")) == 1_000_000
