"""The trace contract's state machine and every guard, on the devkit's in-memory chain."""

from __future__ import annotations

import secrets

import pytest
from trace_helpers import BRAND, CODE_SET, PRODUCT, REPORT_HASH, TraceWorld, bring_on_sale, make_world

from gusu.apps.trace import compute_leaf, issue_item_codes


@pytest.fixture
def world() -> TraceWorld:
    return make_world()


def _scan(world: TraceWorld, index: int, location: str, *, activate: bool, sender: str = "consumer") -> list[object]:
    result = world.chain.call("trace", "scan", world.codes[index].code, location, secrets.token_bytes(16), activate,
                              sender=sender)  # fmt: skip
    assert isinstance(result.value, list)
    return result.value


def _item(world: TraceWorld, index: int) -> list[object]:
    value = world.chain.view("trace", "get_item", compute_leaf(world.codes[index].code))
    assert isinstance(value, list)
    return value


# --- onboarding and roles ---------------------------------------------------------------------------


def test_only_a_regulator_registers_brands_and_only_the_owner_grants_roles(world: TraceWorld) -> None:
    key = world.chain.get_account("mallory").key
    world.revert("register_brand", "fake", "Fake", world.address("mallory"), key.public_key, "", sender="mallory",
                 match="only a regulator")  # fmt: skip
    world.revert("register_brand", BRAND, "again", world.address("mallory"), key.public_key, "", sender="alice",
                 match="registered already")  # fmt: skip
    world.revert("grant_role", BRAND, "packer", world.address("mallory"), True, sender="mallory",
                 match="only the owner")  # fmt: skip
    world.revert("grant_role", BRAND, "king", world.address("mallory"), True, sender="brand", match="role must be")
    world.revert("register_product", BRAND, "p2", "x", "", 1, 1, sender="packer", match="only the owner")
    world.revert("issue_codes", BRAND, "S2", [compute_leaf(b"x" * 16)], sender="packer", match="only the owner")


def test_codes_are_never_issued_twice_and_sets_belong_to_one_brand(world: TraceWorld) -> None:
    world.revert("issue_codes", BRAND, CODE_SET, [world.codes[0].get_leaf()], sender="brand", match="issued already")
    other_key = world.chain.get_account("other").key
    world.call("register_brand", "other", "Other", world.address("other"), other_key.public_key, "", sender="alice")
    world.revert("issue_codes", "other", CODE_SET, [compute_leaf(b"y" * 16)], sender="other", match="belongs to brand")
    assert world.chain.view("trace", "get_code_set", CODE_SET) == [BRAND, 10, 0, 0]


# --- packing, QC, custody --------------------------------------------------------------------------


def test_the_happy_path_records_every_step_with_its_transaction(world: TraceWorld) -> None:
    bring_on_sale(world)
    batch = world.batch("B1")
    assert batch[6] == "on_sale" and batch[4] == world.address("shop") and batch[2] == 10
    history = world.chain.view("trace", "get_history", "B1", 0, 100)
    assert isinstance(history, list)
    kinds = [entry[0] for entry in history]
    assert kinds == ["packed", "qc_passed", "shipped", "received", "shipped", "received", "on_sale"]
    assert all(isinstance(entry[4], bytes) and len(entry[4]) == 32 for entry in history)
    assert history[3][1] == world.address("carrier"), "the receipt is signed by the consignee"


def test_packing_binds_only_unbound_issued_codes(world: TraceWorld) -> None:
    world.revert("pack", "B1", PRODUCT, CODE_SET, 5, "", sender="mallory", match="packer role")
    world.revert("pack", "B1", PRODUCT, CODE_SET, 11, "", sender="packer", match="has 10 unbound codes")
    world.call("pack", "B1", PRODUCT, CODE_SET, 6, "", sender="packer")
    world.revert("pack", "B2", PRODUCT, CODE_SET, 5, "", sender="packer", match="has 4 unbound codes")
    world.revert("pack", "B1", PRODUCT, CODE_SET, 1, "", sender="packer", match="taken")
    world.call("pack", "B2", PRODUCT, CODE_SET, 4, "", sender="packer")
    assert _item(world, 5)[2] == ["B1"] and _item(world, 6)[2] == ["B2"]


def test_shipping_needs_the_required_qc_level(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 10, "", sender="packer")
    world.revert("ship", "B1", world.address("carrier"), sender="packer", match="after passing QC")
    world.revert("inspect", "B1", 2, True, REPORT_HASH, sender="packer", match="qc role")
    world.call("inspect", "B1", 1, True, REPORT_HASH, sender="qc")
    world.revert("ship", "B1", world.address("carrier"), sender="packer", match="shipping needs level 2")
    world.call("inspect", "B1", 3, False, REPORT_HASH, sender="qc")
    world.revert("ship", "B1", world.address("carrier"), sender="packer", match="blocked by QC")
    world.call("inspect", "B1", 2, True, REPORT_HASH, sender="qc")
    world.call("ship", "B1", world.address("carrier"), sender="packer")


def test_only_the_named_consignee_receives(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 10, "", sender="packer")
    world.call("inspect", "B1", 2, True, REPORT_HASH, sender="qc")
    world.revert("ship", "B1", world.address("carrier"), sender="mallory", match="only the custodian")
    world.revert("ship", "B1", world.address("mallory"), sender="packer", match="consignee holds no")
    world.call("ship", "B1", world.address("carrier"), sender="packer")
    world.revert("receive", "B1", sender="shop", match="not you")
    world.revert("receive", "B1", sender="packer", match="not you")
    world.revert("ship", "B1", world.address("shop"), sender="packer", match="after being received")
    world.call("receive", "B1", sender="carrier")
    world.revert("receive", "B1", sender="carrier", match="not in transit")
    assert world.batch("B1")[4] == world.address("carrier")
    world.revert("put_on_sale", "B1", sender="carrier", match="retailer role")


# --- split, merge, recall, mass balance ------------------------------------------------------------


def test_split_must_conserve_quantity(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 10, "", sender="packer")
    world.revert("split", "B1", ["C1", "C2"], [3, 6], sender="packer", match="children hold 9, batch B1 holds 10")
    world.revert("split", "B1", ["C1", "C2"], [4, 7], sender="packer", match="children hold 11")
    world.revert("split", "B1", ["C1", "C2"], [10, 0], sender="packer", match="at least one item")
    world.revert("split", "B1", ["C1", "C2"], [3, 7], sender="mallory", match="only the custodian")
    world.call("split", "B1", ["C1", "C2"], [3, 7], sender="packer")
    assert world.batch("C1")[3] == [[CODE_SET, 0, 3]] and world.batch("C2")[3] == [[CODE_SET, 3, 10]]
    world.revert("inspect", "B1", 2, True, REPORT_HASH, sender="qc", match="was split")
    assert _item(world, 2)[2] == ["B1", "C1"] and _item(world, 3)[2] == ["B1", "C2"]


def test_merge_conserves_and_items_follow_their_batch(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 4, "", sender="packer")
    world.call("pack", "B2", PRODUCT, CODE_SET, 6, "", sender="packer")
    world.call("split", "B2", ["B2a", "B2b"], [2, 4], sender="packer")
    world.revert("merge", ["B1", "B1"], "P1", sender="packer", match="named twice")
    world.revert("merge", ["B1", "B2"], "P1", sender="packer", match="was split")
    world.call("merge", ["B1", "B2b"], "P1", sender="packer")
    pallet = world.batch("P1")
    assert pallet[2] == 8 and pallet[3] == [[CODE_SET, 0, 4], [CODE_SET, 6, 10]]
    assert _item(world, 7)[2] == ["B2", "B2b", "P1"]
    assert _item(world, 4)[2] == ["B2", "B2a"]
    world.call("split", "P1", ["P1x", "P1y"], [5, 3], sender="packer")
    assert world.batch("P1x")[3] == [[CODE_SET, 0, 4], [CODE_SET, 6, 7]]
    assert _item(world, 6)[2] == ["B2", "B2b", "P1", "P1x"]
    assert _item(world, 7)[2] == ["B2", "B2b", "P1", "P1y"]


def test_recall_cascades_to_every_item_and_descendant(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 10, "", sender="packer")
    world.call("inspect", "B1", 2, True, REPORT_HASH, sender="qc")
    world.call("split", "B1", ["C1", "C2"], [5, 5], sender="packer")
    world.revert("recall", "B1", "salmonella", sender="mallory", match="only the brand's owner or a regulator")
    world.call("recall", "B1", "salmonella", sender="alice")
    assert all(_item(world, index)[4] is True for index in range(10))
    world.revert("ship", "C1", world.address("carrier"), sender="packer", match="items of recalled batch B1")
    world.revert("split", "B1", ["D1", "D2"], [5, 5], sender="packer", match="was recalled")
    assert _scan(world, 9, "Suzhou", activate=False)[4] is True


def test_a_recall_of_one_origin_leaves_the_other_items_of_a_merged_batch(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 5, "", sender="packer")
    world.call("pack", "B2", PRODUCT, CODE_SET, 5, "", sender="packer")
    world.call("merge", ["B1", "B2"], "P1", sender="packer")
    world.call("recall", "B1", "mislabelled", sender="brand")
    assert [_item(world, index)[4] for index in (0, 4, 5, 9)] == [True, True, False, False]
    world.revert("split", "P1", ["Q1", "Q2"], [5, 5], sender="packer", match="on hold")


def test_overselling_a_batch_raises_the_mass_balance_alert(world: TraceWorld) -> None:
    bring_on_sale(world)
    world.revert("report_sales", "B1", 3, sender="carrier", match="only the custodian")
    first = world.chain.call("trace", "report_sales", "B1", 10, sender="shop")
    assert first.get_events("MassBalanceAlert") == []
    over = world.chain.call("trace", "report_sales", "B1", 1, sender="shop")
    (alert,) = over.get_events("MassBalanceAlert")
    assert alert.fields == {"batch": "B1", "sold": 11, "produced": 10}
    assert world.batch("B1")[15] is True
    (logged,) = world.chain.view("trace", "get_alerts", 0, 100)  # type: ignore[misc]
    assert logged[:3] == ["mass_balance", "B1", "sold 11 > produced 10"]


# --- scans -----------------------------------------------------------------------------------------


def test_scans_count_and_a_second_first_scan_elsewhere_marks_the_code_suspect(world: TraceWorld) -> None:
    bring_on_sale(world)
    assert _scan(world, 0, "Suzhou", activate=False)[:4] == [1, world.chain.time_ms, "Suzhou", False]
    assert _scan(world, 0, "Suzhou", activate=True)[0] == 2
    assert world.batch("B1")[13] == 1, "the first activating scan sells the item"
    assert _scan(world, 0, "Suzhou", activate=True)[3] is False, "the same buyer scanning again is fine"
    result = world.chain.call("trace", "scan", world.codes[0].code, "Shenzhen", secrets.token_bytes(16), True,
                              sender="mallory")  # fmt: skip
    assert result.value[3] is True  # type: ignore[index]
    (suspect,) = result.get_events("Suspect")
    assert suspect.fields["first_location"] == "Suzhou" and suspect.fields["location"] == "Shenzhen"
    scans = world.chain.view("trace", "get_scans", compute_leaf(world.codes[0].code), 0, 100)
    assert isinstance(scans, list) and [s[2] for s in scans] == ["Suzhou"] * 3 + ["Shenzhen"]
    assert world.batch("B1")[13] == 1
    alerts = world.chain.view("trace", "get_alerts", 0, 100)
    assert isinstance(alerts, list) and [alert[0] for alert in alerts] == ["suspect"]
    assert alerts[0][2].endswith("activated at Suzhou, again at Shenzhen")


def test_activation_before_the_batch_is_on_sale_is_suspect(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 5, "", sender="packer")
    assert _scan(world, 1, "Wuxi", activate=True)[3] is True
    assert _scan(world, 2, "Wuxi", activate=False)[3] is False, "a query alone is never suspect"
    assert _scan(world, 7, "Wuxi", activate=True)[3] is True, "a code that was never packed"


def test_a_replayed_scan_is_refused(world: TraceWorld) -> None:
    bring_on_sale(world)
    nonce = secrets.token_bytes(16)
    world.call("scan", world.codes[0].code, "Suzhou", nonce, False, sender="consumer")
    world.revert("scan", world.codes[0].code, "Suzhou", nonce, False, sender="mallory", match="replayed scan")
    world.revert("scan", world.codes[1].code, "Suzhou", nonce, False, sender="consumer", match="replayed scan")
    world.revert("scan", world.codes[0].code, "Suzhou", b"short", False, sender="consumer", match="scan nonce")
    assert _item(world, 0)[3][0] == 1  # type: ignore[index]


def test_a_code_that_was_never_issued_is_refused(world: TraceWorld) -> None:
    bring_on_sale(world)
    forged = issue_item_codes(world.chain.get_account("mallory").key, BRAND, CODE_SET, 1)[0]
    world.revert("scan", forged.code, "Suzhou", secrets.token_bytes(16), True, sender="consumer", match="never issued")
    assert world.chain.view("trace", "get_item", forged.get_leaf()) is None


def test_a_large_code_issue_fits_one_transaction() -> None:
    world = make_world(codes_count=500)
    assert world.chain.view("trace", "get_code_set", CODE_SET) == [BRAND, 500, 0, 0]


def test_limits_and_malformed_arguments_are_refused(world: TraceWorld) -> None:
    leaves = [compute_leaf(bytes([n % 256, n // 256]) * 8) for n in range(501)]
    world.revert("issue_codes", BRAND, "S9", leaves, sender="brand", match="issue 1 to 500 codes")
    world.revert("issue_codes", BRAND, "S9", [], sender="brand", match="issue 1 to 500 codes")
    world.revert("issue_codes", BRAND, "S/9", leaves[:1], sender="brand", match="may not contain")
    world.revert("pack", "B/1", PRODUCT, CODE_SET, 1, "", sender="packer", match="may not contain")
    world.revert("pack", "B" * 65, PRODUCT, CODE_SET, 1, "", sender="packer", match="1 to 64 characters")
    world.revert("pack", "B1", PRODUCT, CODE_SET, 0, "", sender="packer", match="holds 1 to")
    world.revert("pack", "B1", "nothing", CODE_SET, 1, "", sender="packer", match="no product nothing")
    world.call("pack", "B1", PRODUCT, CODE_SET, 10, "", sender="packer")
    world.revert("inspect", "B1", 10, True, REPORT_HASH, sender="qc", match="QC level is 0 to 9")
    world.revert("split", "B1", [f"C{n}" for n in range(33)], [1] * 33, sender="packer", match="2 to 32")
    world.revert("split", "B1", ["C1", "C2"], [10], sender="packer", match="one quantity per child")
    world.revert("scan", world.codes[0].code[:15], "x", secrets.token_bytes(16), False, sender="consumer",
                 match="16 bytes")  # fmt: skip
    world.revert("scan", world.codes[0].code, "x" * 257, secrets.token_bytes(16), False, sender="consumer",
                 match="at most 256")  # fmt: skip
    world.revert("scan", world.codes[0].code, "x", secrets.token_bytes(33), False, sender="consumer",
                 match="scan nonce")  # fmt: skip
