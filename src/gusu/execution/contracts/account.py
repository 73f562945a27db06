"""The `account` contract: balances of the chain's native token.

State (inside the contract's namespace):

* ``balance/<address>`` -> the balance as a canonical integer; a zero
  balance is stored as no key at all, so emptied accounts cost no state;
* ``supply`` -> the total of all balances;
* ``admin/<address>`` -> true for each genesis admin (a copy of the genesis
  list, because a contract reads only its own namespace).

Amounts are unsigned 64-bit. Balances cannot overflow: every balance is at
most the total supply, and `mint` keeps the supply within 64 bits.
"""

from __future__ import annotations

from gusu.codec.canonical import UINT_MAX
from gusu.errors import InvalidArgumentsError
from gusu.execution.context import Context
from gusu.execution.contract import Contract, method, view
from gusu.ledger.genesis import Genesis
from gusu.ledger.types import Address

AMOUNT_MAX = UINT_MAX
BALANCE_PREFIX = b"balance/"
ADMIN_PREFIX = b"admin/"
SUPPLY_KEY = b"supply"


def validate_amount(amount: int) -> None:
    if amount < 1 or amount > AMOUNT_MAX:
        raise InvalidArgumentsError(f"amount must be between 1 and {AMOUNT_MAX}, found {amount}")


def get_balance(ctx: Context, address: Address) -> int:
    return ctx.get_int(BALANCE_PREFIX + address)


def set_balance(ctx: Context, address: Address, balance: int) -> None:
    if balance == 0:
        ctx.delete(BALANCE_PREFIX + address)
    else:
        ctx.set_int(BALANCE_PREFIX + address, balance)


class Account(Contract):
    name = "account"
    trusted = True

    def on_genesis(self, ctx: Context, genesis: Genesis) -> None:
        for allocation in genesis.allocations:
            set_balance(ctx, allocation.address, allocation.amount)
        ctx.set_int(SUPPLY_KEY, sum(allocation.amount for allocation in genesis.allocations))
        for admin in genesis.admins:
            ctx.set_value(ADMIN_PREFIX + admin, True)

    @method
    def transfer(self, ctx: Context, to: Address, amount: int) -> None:
        """Move `amount` from the sender to `to`; emits Transfer [from, to, amount]."""
        validate_amount(amount)
        sender = ctx.sender
        balance = get_balance(ctx, sender)
        if balance < amount:
            ctx.revert(f"insufficient balance: 0x{sender.hex()} holds {balance}, the transfer needs {amount}")
        # A transfer to oneself changes nothing but is still a valid, recorded transfer.
        if to != sender:
            set_balance(ctx, sender, balance - amount)
            set_balance(ctx, to, get_balance(ctx, to) + amount)
        ctx.emit("Transfer", [sender, to, amount])

    @method
    def mint(self, ctx: Context, to: Address, amount: int) -> None:
        """Create `amount` new tokens for `to`; only a genesis admin may. Emits Mint [to, amount]."""
        validate_amount(amount)
        if ctx.get(ADMIN_PREFIX + ctx.sender) is None:
            ctx.revert(f"only a genesis admin may mint, and 0x{ctx.sender.hex()} is not one")
        supply = ctx.get_int(SUPPLY_KEY)
        if supply + amount > AMOUNT_MAX:
            ctx.revert(f"minting {amount} would take the total supply ({supply}) above {AMOUNT_MAX}")
        ctx.set_int(SUPPLY_KEY, supply + amount)
        set_balance(ctx, to, get_balance(ctx, to) + amount)
        ctx.emit("Mint", [to, amount])

    @view
    def balance(self, ctx: Context, address: Address) -> int:
        return get_balance(ctx, address)

    @view
    def total_supply(self, ctx: Context) -> int:
        return ctx.get_int(SUPPLY_KEY)

    @view
    def is_admin(self, ctx: Context, address: Address) -> bool:
        return ctx.get(ADMIN_PREFIX + address) is not None
