"""The trace contract's list views (brands, products per brand, batches per product) and the EXPIRED status,
with their guards, on the devkit's in-memory chain."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from trace_helpers import BRAND, CODE_SET, PRODUCT, REPORT_HASH, TraceWorld, bring_on_sale, make_world

from gusu.apps.trace import ItemCode, compute_leaf, get_contract_source, issue_item_codes
from gusu.apps.trace.client import LIST_PAGE_MAX, parse_batch, parse_batch_page
from gusu.devkit import DevChain
from gusu.errors import GusuError

DAY_MS = 86_400_000
SHELF_LIFE_DAYS = 30  # make_world's product
V1_SOURCE = (Path(__file__).parent / "data" / "contract_v1.py.src").read_text(encoding="utf-8")
"""The contract before lists and expiry, to test the upgrade path."""


@pytest.fixture
def world() -> TraceWorld:
    return make_world()


def _list(world: TraceWorld, method: str, *args: object) -> tuple[int, list[str]]:
    value: Any = world.chain.view("trace", method, *args)  # type: ignore[arg-type]
    return value[0], [row[0] for row in value[1]]


def _scan(world: TraceWorld, index: int, *, activate: bool, sender: str = "consumer") -> Any:
    code = world.codes[index].code
    return world.chain.send("trace", "scan", code, "Suzhou", secrets.token_bytes(16), activate, sender=sender)


# --- lists ------------------------------------------------------------------------------------------


def test_brands_products_and_batches_are_listed_in_order_and_paged(world: TraceWorld) -> None:
    key = world.chain.get_account("other").key
    world.call("register_brand", "other", "Other", world.address("other"), key.public_key, "", sender="alice")
    assert _list(world, "list_brands", 0, LIST_PAGE_MAX) == (2, [BRAND, "other"])
    assert _list(world, "list_brands", 1, 1) == (2, ["other"])
    assert _list(world, "list_brands", 5, 1) == (2, [])
    world.call("register_product", BRAND, "crab-1kg", "Hairy crab 1 kg", "", 1, 0, sender="brand")
    assert _list(world, "list_products", BRAND, 0, LIST_PAGE_MAX) == (2, [PRODUCT, "crab-1kg"])
    assert _list(world, "list_products", "other", 0, LIST_PAGE_MAX) == (0, [])
    world.call("pack", "B1", PRODUCT, CODE_SET, 4, "", sender="packer")
    world.call("pack", "B2", PRODUCT, CODE_SET, 6, "", sender="packer")
    world.call("split", "B2", ["B2a", "B2b"], [2, 4], sender="packer")
    world.call("merge", ["B1", "B2b"], "P1", sender="packer")
    assert _list(world, "list_batches", PRODUCT, 0, LIST_PAGE_MAX) == (5, ["B1", "B2", "B2a", "B2b", "P1"])
    assert _list(world, "list_batches", PRODUCT, 3, 2) == (5, ["B2b", "P1"])
    assert _list(world, "list_batches", "crab-1kg", 0, 1) == (0, [])
    page = parse_batch_page(4, world.chain.view("trace", "list_batches", PRODUCT, 4, 1))
    (merged,) = page.entries
    assert (page.total, merged.batch, merged.quantity, merged.status, merged.expired) == (5, "P1", 8, "packed", False)
    assert merged.custodian == world.address("packer") and merged.expires_ms == world.batch("P1")[20]


def test_hostile_list_pages_are_refused(world: TraceWorld) -> None:
    for start, limit, match in (
        (-1, 1, "position from 0"),
        (0, 0, f"1 to {LIST_PAGE_MAX}"),
        (0, LIST_PAGE_MAX + 1, f"1 to {LIST_PAGE_MAX}"),
        (0, 2**62, f"1 to {LIST_PAGE_MAX}"),
    ):
        for method, args in (("list_brands", ()), ("list_products", (BRAND,)), ("list_batches", (PRODUCT,))):
            with pytest.raises(GusuError, match=match):
                world.chain.view("trace", method, *args, start, limit)  # type: ignore[arg-type]
    # A start far past the end reads nothing.
    assert _list(world, "list_brands", 2**62, LIST_PAGE_MAX) == (1, [])


def _upgrade_from_v1(code_count: int) -> tuple[DevChain, list[ItemCode]]:
    """A chain on the previous contract with one brand, product and batch "OLD" of 2, then upgraded to this one."""
    chain = DevChain()
    chain.deploy("trace", V1_SOURCE, [], sender="alice")
    key = chain.get_account("brand").key
    chain.call("trace", "register_brand", BRAND, "Crab", chain.address("brand"), key.public_key, "", sender="alice")
    chain.call("trace", "grant_role", BRAND, "packer", chain.address("packer"), True, sender="brand")
    chain.call("trace", "register_product", BRAND, PRODUCT, "Crab", "", 1, 30, sender="brand")
    codes = issue_item_codes(key, BRAND, CODE_SET, code_count)
    chain.call("trace", "issue_codes", BRAND, CODE_SET, [code.get_leaf() for code in codes], sender="brand")
    chain.call("trace", "pack", "OLD", PRODUCT, CODE_SET, 2, "", sender="packer")
    chain.upgrade("trace", get_contract_source(), [], sender="alice")
    return chain, codes


def test_an_upgrade_keeps_the_records_and_index_existing_lists_them_with_its_guards() -> None:
    chain, codes = _upgrade_from_v1(4)
    world = TraceWorld(chain, codes)
    assert _list(world, "list_brands", 0, 5) == (0, [])
    # The old batch reads as before, with no expiry (it was packed before expiry was recorded).
    old = parse_batch("OLD", chain.view("trace", "get_batch", "OLD"))
    assert old is not None and old.expires_ms == 0 and old.quantity == 2
    world.revert("index_existing", "brand", [BRAND], sender="brand", match="only a regulator")
    world.revert("index_existing", "product", [PRODUCT], sender="packer", match="only the owner")
    world.revert("index_existing", "batch", ["OLD"], sender="mallory", match="only the owner")
    world.revert("index_existing", "batch", ["NOPE"], sender="brand", match="no batch NOPE")
    world.revert("index_existing", "product", ["nope"], sender="brand", match="no product nope")
    world.revert("index_existing", "brand", ["nope"], sender="alice", match="no brand nope")
    world.revert("index_existing", "code", ["x"], sender="alice", match="brand, product or batch")
    world.revert("index_existing", "batch", [], sender="brand", match="1 to 50")
    world.revert("index_existing", "batch", ["OLD"] * 51, sender="brand", match="1 to 50")
    assert chain.call("trace", "index_existing", "brand", [BRAND], sender="alice").value == 1
    assert chain.call("trace", "index_existing", "product", [PRODUCT], sender="brand").value == 1
    assert chain.call("trace", "index_existing", "batch", ["OLD", "OLD"], sender="brand").value == 1
    assert chain.call("trace", "index_existing", "batch", ["OLD"], sender="brand").value == 0  # listed once
    chain.call("trace", "pack", "NEW", PRODUCT, CODE_SET, 2, "", sender="packer")
    assert _list(world, "list_brands", 0, 5) == (1, [BRAND])
    assert _list(world, "list_products", BRAND, 0, 5) == (1, [PRODUCT])
    assert _list(world, "list_batches", PRODUCT, 0, 5) == (2, ["OLD", "NEW"])


# --- expiry -----------------------------------------------------------------------------------------


def test_the_expiry_is_packing_block_time_plus_shelf_life_and_children_inherit_it(world: TraceWorld) -> None:
    packed = world.chain.call("trace", "pack", "B1", PRODUCT, CODE_SET, 6, "2026-10-01", sender="packer")
    expires = world.batch("B1")[20]
    assert expires == world.chain.time_ms + SHELF_LIFE_DAYS * DAY_MS and packed.height == world.chain.height
    world.call("split", "B1", ["C1", "C2"], [3, 3], sender="packer")
    assert world.batch("C1")[20] == expires and world.batch("C2")[20] == expires
    world.chain.advance_time(DAY_MS)
    world.call("pack", "B2", PRODUCT, CODE_SET, 4, "", sender="packer")
    assert world.batch("B2")[20] == world.chain.time_ms + SHELF_LIFE_DAYS * DAY_MS > expires
    world.call("merge", ["C2", "B2"], "P1", sender="packer")
    assert world.batch("P1")[20] == expires, "a merged batch expires with its first-expiring items"


def test_an_expired_batch_may_not_go_on_sale_nor_sell_and_its_items_may_not_be_activated(world: TraceWorld) -> None:
    bring_on_sale(world, "B1", 5)
    world.call("pack", "B2", PRODUCT, CODE_SET, 5, "", sender="packer")
    world.call("inspect", "B2", 2, True, REPORT_HASH, sender="qc")
    world.call("ship", "B2", world.address("shop"), sender="packer")
    world.call("receive", "B2", sender="shop")
    assert _scan(world, 0, activate=True).is_success
    assert world.chain.view("trace", "is_expired", "B1") is False
    expires = world.batch("B1")[20]
    assert isinstance(expires, int)
    # Only block time counts: move the chain's clock to one millisecond before expiry, then to it.
    world.chain.advance_time(expires - world.chain.time_ms - world.chain.block_interval_ms - 1)
    world.chain.advance()
    assert world.chain.time_ms == expires - 1 and world.chain.view("trace", "is_expired", "B1") is False
    world.chain.advance()
    assert world.chain.time_ms >= expires and world.chain.view("trace", "is_expired", "B1") is True
    assert world.chain.view("trace", "is_expired", "nothing") is False
    world.chain.advance_time(DAY_MS)  # B2 was packed a few blocks later: let it expire too
    world.chain.advance()
    world.revert("put_on_sale", "B2", sender="shop", match="expired at block time")
    world.revert("report_sales", "B1", 1, sender="shop", match="expired goods may not be sold")
    refused = _scan(world, 1, activate=True)
    assert not refused.is_success and "may not be activated" in refused.error_message
    # A query is still recorded (the consumer learns the item expired), and the earlier activation stands.
    query = _scan(world, 1, activate=False)
    assert query.is_success and query.value[5] is True
    again = _scan(world, 0, activate=True)
    assert again.is_success and again.value[5] is True
    item: Any = world.chain.view("trace", "get_item", compute_leaf(world.codes[1].code))
    assert item[5] is True and item[3][4] is None, "not activated"
    page: Any = world.chain.view("trace", "list_batches", PRODUCT, 0, LIST_PAGE_MAX)
    assert [row[5] for row in page[1]] == [True, True]


def test_a_product_without_shelf_life_never_expires(world: TraceWorld) -> None:
    world.call("register_product", BRAND, "salt", "Sea salt", "", 1, 0, sender="brand")
    world.call("pack", "S1", "salt", CODE_SET, 2, "", sender="packer")
    assert world.batch("S1")[20] == 0
    world.chain.advance_time(100 * 365 * DAY_MS)
    world.chain.advance()
    assert world.chain.view("trace", "is_expired", "S1") is False


def test_only_the_brand_owner_brings_an_expiry_forward_and_never_back(world: TraceWorld) -> None:
    world.call("pack", "B1", PRODUCT, CODE_SET, 4, "", sender="packer")
    expires = world.batch("B1")[20]
    assert isinstance(expires, int)
    world.revert("set_expiry", "B1", expires - 1, sender="packer", match="only the owner of brand")
    world.revert("set_expiry", "B1", expires - 1, sender="alice", match="only the owner of brand")
    world.revert("set_expiry", "B1", expires + 1, sender="brand", match="never pushed back")
    world.revert("set_expiry", "B1", 0, sender="brand", match="block time in milliseconds")
    world.revert("set_expiry", "B1", 253402300799999 + 1, sender="brand", match="end of year 9999")
    world.revert("set_expiry", "B1", -5, sender="brand", match="block time in milliseconds")
    world.revert("set_expiry", "nothing", 1, sender="brand", match="no batch nothing")
    target = world.chain.time_ms + world.chain.block_interval_ms + 1  # one millisecond after the next block
    result = world.chain.call("trace", "set_expiry", "B1", target, sender="brand")
    assert result.get_events("ExpirySet")[0].fields == {"batch": "B1", "expires_ms": target}
    assert world.chain.view("trace", "is_expired", "B1") is False
    world.chain.advance()
    assert world.chain.view("trace", "is_expired", "B1") is True
    history: Any = world.chain.view("trace", "get_history", "B1", 0, 100)
    assert [entry[0] for entry in history] == ["packed", "expiry_set"]


def test_a_batch_packed_before_expiry_existed_can_be_given_one() -> None:
    chain, codes = _upgrade_from_v1(2)
    assert chain.view("trace", "is_expired", "OLD") is False
    world = TraceWorld(chain, codes)
    world.revert("set_expiry", "OLD", 2**62, sender="brand", match="end of year 9999")  # no expiry yet: still bounded
    expires = chain.time_ms + 1  # before the block of set_expiry: expired from then on
    chain.call("trace", "set_expiry", "OLD", expires, sender="brand")
    assert chain.view("trace", "is_expired", "OLD") is True
    old = parse_batch("OLD", chain.view("trace", "get_batch", "OLD"))
    assert old is not None and old.expires_ms == expires
