"""How much the sandbox costs: compile time, per-call overhead, a token transfer against native, step overhead.

Run ``python -m gusu.execution.sandbox.bench [count]``. Each figure is the
best of five runs of `count` operations (CPU time of this process, so other
load on a shared machine stretches it less). The transfer comparison runs
both contracts the same way: a fresh `Context` per transaction over the same
committed state, arguments decoded and checked, writes collected; only the
contract differs (the native `account.transfer` against the sandboxed token
below, which does the same reads, writes and event).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable

from gusu.codec import encode
from gusu.execution.context import BlockContext, Context, GasMeter
from gusu.execution.contract import compute_contract_spec, decode_arguments
from gusu.execution.contracts.account import Account
from gusu.execution.limits import DEFAULT_GAS_SCHEDULE, ExecutionLimits
from gusu.execution.sandbox.compiler import compile_contract
from gusu.execution.sandbox.run import run_method
from gusu.execution.state import BlockState, compute_state_key_prefix
from gusu.ledger.types import Address, Hash, Height

TOKEN_SOURCE = '''
"""The native account.transfer, as a deployed contract."""
from gusu_contract import Map, method, view, require, sender, emit, event, Address

balances = Map("balances")
Transfer = event("Transfer", "sender", "to", "amount")


@method
def transfer(to: Address, amount: int) -> None:
    require(amount > 0, "amount must be positive")
    me = sender()
    balance = balances.get(me, 0)
    require(balance >= amount, "insufficient balance")
    if to != me:
        if balance == amount:
            balances.delete(me)
        else:
            balances.set(me, balance - amount)
        balances.set(to, balances.get(to, 0) + amount)
    emit(Transfer, me, to, amount)


@view
def nothing() -> None:
    pass
'''

LOOP_SOURCE = """
from gusu_contract import view

@view
def loop(count: int) -> int:
    total = 0
    for index in range(count):
        total = total + index
    return total
"""

SENDERS = 1_000
BLOCK = BlockContext(
    chain_id="gusu-bench", height=Height(1), timestamp_ms=1_700_000_000_000, proposer=Address(bytes(20))
)
LIMITS = ExecutionLimits()


def _address(kind: bytes, index: int) -> Address:
    return Address(hashlib.sha256(kind + index.to_bytes(8, "big")).digest()[:20])


def _context(name: str, method: str, state: BlockState, sender: Address) -> Context:
    return Context(
        sender,
        BLOCK,
        Hash(bytes(32)),
        name,
        method,
        False,
        compute_state_key_prefix(name),
        state,
        GasMeter(LIMITS.gas_per_transaction_max),
        LIMITS,
        DEFAULT_GAS_SCHEDULE,
    )


def _best(function: Callable[[], object], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def measure_compile_us(count: int) -> float:
    return _best(lambda: [compile_contract(TOKEN_SOURCE) for _ in range(count)]) / count * 1e6


def measure_transfers_us(count: int) -> tuple[float, float]:
    """(native µs, sandboxed µs) per transfer."""
    senders = [_address(b"sender", index) for index in range(SENDERS)]
    recipients = [_address(b"recipient", index) for index in range(count)]
    arguments = [encode([recipients[index], 1 + index % 1000]) for index in range(count)]
    native_state = BlockState(
        {compute_state_key_prefix("account") + b"\xc4\x1c" + b"balance/" + s: encode(10**12) for s in senders}
    )
    spec = compute_contract_spec(Account)
    native_method = spec.methods["transfer"]
    compiled = compile_contract(TOKEN_SOURCE)
    sandbox_state = BlockState({})
    for sender in senders:  # fund the senders through the contract itself, so the keys are right
        context = _context("token", "transfer", sandbox_state, sender)
        context.set(b"m/balances/" + encode(sender), encode(10**12))
        sandbox_state.apply_writes(context.get_writes())

    def native() -> None:
        for index in range(count):
            context = _context("account", "transfer", native_state, senders[index % SENDERS])
            values = decode_arguments(native_method, arguments[index])
            native_method.function(Account(), context, *values)
            context.get_writes()

    def sandboxed() -> None:
        for index in range(count):
            context = _context("token", "transfer", sandbox_state, senders[index % SENDERS])
            run_method(compiled, "transfer", arguments[index], context)
            context.get_writes()

    return _best(native) / count * 1e6, _best(sandboxed) / count * 1e6


def measure_empty_call_us(count: int) -> float:
    compiled = compile_contract(TOKEN_SOURCE)
    state = BlockState({})
    empty = encode([])

    def calls() -> None:
        for _ in range(count):
            run_method(compiled, "nothing", empty, _context("token", "nothing", state, Address(bytes(20))))

    return _best(calls) / count * 1e6


def measure_step_overhead(iterations: int) -> tuple[float, float, int]:
    """(plain µs, sandboxed µs, steps) for a loop of `iterations` additions."""
    namespace: dict[str, object] = {}
    plain_source = LOOP_SOURCE.replace("from gusu_contract import view\n", "").replace("@view\n", "")
    exec(compile(plain_source, "<plain>", "exec"), namespace)  # our own benchmark source
    plain = namespace["loop"]
    assert callable(plain)
    compiled = compile_contract(LOOP_SOURCE)
    arguments = encode([iterations])
    state = BlockState({})
    steps = 0

    def sandboxed() -> None:
        nonlocal steps
        context = _context("loop", "loop", state, Address(bytes(20)))
        steps = run_method(compiled, "loop", arguments, context).steps_used

    plain_seconds = _best(lambda: plain(iterations))
    sandboxed_seconds = _best(sandboxed)
    return plain_seconds * 1e6, sandboxed_seconds * 1e6, steps


def main(arguments: list[str]) -> None:
    count = int(arguments[0]) if arguments else 5_000
    print(f"sandbox figures, CPU time, best of 5 (count = {count}):")
    print(f"  compile the token contract:       {measure_compile_us(max(count // 50, 10)):8.1f} µs")
    print(f"  empty view call (fresh globals):  {measure_empty_call_us(count):8.1f} µs")
    native, sandboxed = measure_transfers_us(count)
    print(f"  transfer, native account:         {native:8.1f} µs")
    print(f"  transfer, sandboxed token:        {sandboxed:8.1f} µs  ({sandboxed / native:.2f}x native)")
    iterations = 20_000  # within the default gas: about 7 steps per iteration, 20 gas per step
    plain, metered, steps = measure_step_overhead(iterations)
    print(
        f"  loop of {iterations} additions:        plain {plain / 1e3:.1f} ms, sandboxed {metered / 1e3:.1f} ms "
        f"({metered / plain:.1f}x), {steps} steps, {metered * 1e3 / steps:.0f} ns per step"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
