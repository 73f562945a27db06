"""A trace deployment on the devkit's in-memory chain with one brand, its product and its actors."""

from __future__ import annotations

from dataclasses import dataclass

from gusu.apps.trace import ItemCode, get_contract_source, issue_item_codes
from gusu.devkit import DevChain

BRAND = "yangcheng"
PRODUCT = "crab-500g"
CODE_SET = "S2026A"
REPORT_HASH = bytes(range(32))


@dataclass
class TraceWorld:
    chain: DevChain
    codes: list[ItemCode]

    def address(self, name: str) -> bytes:
        return self.chain.address(name)

    def call(self, method: str, *args: object, sender: str) -> object:
        return self.chain.call("trace", method, *args, sender=sender)  # type: ignore[arg-type]

    def revert(self, method: str, *args: object, sender: str, match: str) -> None:
        self.chain.expect_revert("trace", method, *args, sender=sender, match=match)  # type: ignore[arg-type]

    def batch(self, batch: str) -> list[object]:
        value = self.chain.view("trace", "get_batch", batch)
        assert isinstance(value, list)
        return value


def make_world(codes_count: int = 10, qc_level_required: int = 2) -> TraceWorld:
    """alice regulates; `brand` owns the brand; packer, qc, carrier (logistics) and shop (retailer) hold roles."""
    chain = DevChain()
    chain.deploy("trace", get_contract_source(), [], sender="alice")
    brand_key = chain.get_account("brand").key
    chain.call("trace", "register_brand", BRAND, "阳澄湖大闸蟹", chain.address("brand"), brand_key.public_key,
               "91320500MA1XXXXXXX", sender="alice")  # fmt: skip
    for role, account in (("packer", "packer"), ("qc", "qc"), ("logistics", "carrier"), ("retailer", "shop")):
        chain.call("trace", "grant_role", BRAND, role, chain.address(account), True, sender="brand")
    chain.call("trace", "register_product", BRAND, PRODUCT, "Hairy crab 500 g", "06901234567892", qc_level_required,
               30, sender="brand")  # fmt: skip
    codes = issue_item_codes(brand_key, BRAND, CODE_SET, codes_count)
    chain.call("trace", "issue_codes", BRAND, CODE_SET, [code.get_leaf() for code in codes], sender="brand")
    return TraceWorld(chain, codes)


def bring_on_sale(world: TraceWorld, batch: str = "B1", quantity: int = 10) -> None:
    world.call("pack", batch, PRODUCT, CODE_SET, quantity, "2026-10-01", sender="packer")
    world.call("inspect", batch, 2, True, REPORT_HASH, sender="qc")
    world.call("ship", batch, world.address("carrier"), sender="packer")
    world.call("receive", batch, sender="carrier")
    world.call("ship", batch, world.address("shop"), sender="carrier")
    world.call("receive", batch, sender="shop")
    world.call("put_on_sale", batch, sender="shop")
