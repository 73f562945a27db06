"""Contracts that exist only for the tests: misbehaving, untrusted, or exercising argument types."""

from __future__ import annotations

import contextlib

from gusu.codec import Value
from gusu.errors import GusuError
from gusu.execution import Context, Contract, method, view
from gusu.ledger.types import Address, Hash


class QuotaError(GusuError):
    """A contract may define its own failure codes."""

    code = "quota_exceeded"


class Probe(Contract):
    """Untrusted (the default): metered per line."""

    name = "probe"

    @method
    def spin(self, ctx: Context) -> None:
        while True:
            pass

    @method
    def spin_swallowing(self, ctx: Context) -> None:
        # A contract that catches everything it can must still run out of gas.
        while True:
            try:
                while True:
                    pass
            except Exception:
                pass

    @method
    def recurse_swallowing(self, ctx: Context, depth: int) -> str:
        # Swallows everything, even BaseException: exactly what a careless contract might do.
        with contextlib.suppress(BaseException):
            _recurse(depth)
        return "carried on"

    @method
    def read_swallowing(self, ctx: Context, key: bytes) -> str:
        # Catches whatever a read raises, a disk fault included, and carries on as if the key were absent.
        try:
            ctx.get(key)
        except Exception:
            return "absent"
        return "read"

    @method
    def count(self, ctx: Context, loops: int) -> int:
        total = 0
        for index in range(loops):
            total += index
        return total

    @method
    def recurse(self, ctx: Context, depth: int) -> int:
        return _recurse(depth)

    @method
    def store(self, ctx: Context, key: bytes, size: int) -> None:
        ctx.set(key, b"x" * size)

    @method
    def store_many(self, ctx: Context, count: int, size: int) -> None:
        for index in range(count):
            ctx.set(index.to_bytes(4, "big"), b"y" * size)

    @method
    def store_then_fail(self, ctx: Context, key: bytes) -> None:
        ctx.set(key, b"written")
        raise ZeroDivisionError("division by zero in the contract")

    @method
    def store_then_revert(self, ctx: Context, key: bytes) -> None:
        ctx.set(key, b"written")
        ctx.revert("changed my mind")

    @method
    def swallow_revert(self, ctx: Context) -> str:
        with contextlib.suppress(GusuError):
            ctx.revert("first refusal")
        return "carried on"

    @method
    def swallow_limit(self, ctx: Context, size: int) -> str:
        with contextlib.suppress(GusuError):
            ctx.set(b"big", b"z" * size)
        return "carried on"

    @method
    def fail_with_object(self, ctx: Context) -> None:
        raise ValueError(object())

    @method
    def fail_long(self, ctx: Context) -> None:
        raise ValueError("x" * 5_000)

    @method
    def fail_custom(self, ctx: Context) -> None:
        raise QuotaError("this member's monthly quota is used up")

    @method
    def exit(self, ctx: Context) -> None:
        raise SystemExit(3)

    @method
    def emit_many(self, ctx: Context, count: int, size: int) -> None:
        for index in range(count):
            ctx.emit("Tick", [index, b"e" * size])

    @method
    def give_back(self, ctx: Context, size: int) -> bytes:
        return b"r" * size

    @method
    def bad_return(self, ctx: Context) -> object:
        return {"maps": "are not canonical"}

    @method
    def delete(self, ctx: Context, key: bytes) -> None:
        ctx.delete(key)

    @method
    def set_and_delete(self, ctx: Context, key: bytes) -> None:
        ctx.set(key, b"short-lived")
        ctx.delete(key)

    @view
    def read(self, ctx: Context, key: bytes) -> bytes | None:
        return ctx.get(key)

    @view
    def spin_view(self, ctx: Context) -> None:
        while True:
            pass

    @view
    def sneaky_write(self, ctx: Context) -> None:
        ctx.set(b"key", b"value")

    @view
    def context_facts(self, ctx: Context) -> list[Value]:
        return [ctx.sender, ctx.block.height, ctx.block.timestamp_ms, ctx.block.chain_id, ctx.transaction_id]


def _recurse(depth: int) -> int:
    if depth == 0:
        return 0
    return 1 + _recurse(depth - 1)


class Trusted(Contract):
    """Same loop as Probe.count, but trusted: not traced, so it uses less gas."""

    name = "trusted_probe"
    trusted = True

    @method
    def count(self, ctx: Context, loops: int) -> int:
        total = 0
        for index in range(loops):
            total += index
        return total


class Typed(Contract):
    """Every supported argument type, echoed back."""

    name = "typed"
    trusted = True

    @method
    def scalars(self, ctx: Context, number: int, text: str, data: bytes, flag: bool) -> list[Value]:
        return [number, text, data, flag]

    @method
    def identities(self, ctx: Context, address: Address, digest: Hash) -> list[Value]:
        return [address, digest]

    @method
    def nested(self, ctx: Context, rows: list[list[int]], maybe: str | None) -> list[Value]:
        return [[list(row) for row in rows], maybe]

    @view
    def nothing(self, ctx: Context) -> None:
        return None
