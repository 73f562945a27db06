"""Running sandboxed contracts against an in-memory state in tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from gusu.codec import Value, decode, encode
from gusu.execution.context import BlockContext, Context, ContractHost, GasMeter
from gusu.execution.limits import DEFAULT_GAS_SCHEDULE, ExecutionLimits
from gusu.execution.sandbox import CompiledContract, SandboxLimits, SandboxResult, compile_contract, run_method
from gusu.execution.state import BlockState, compute_state_key_prefix
from gusu.ledger.types import Address, Hash, Height

ALICE = Address(b"\x0a" * 20)
BOB = Address(b"\x0b" * 20)
BLOCK = BlockContext(chain_id="gusu-test", height=Height(7), timestamp_ms=1_700_000_000_000, proposer=ALICE)
CONTRACT = "deployed"


@dataclass
class Chain:
    """One contract's committed state; each call runs in its own overlay that merges on success."""

    compiled: CompiledContract
    state: dict[bytes, bytes] = field(default_factory=dict)
    gas_limit: int = 10_000_000

    def call(self, method: str, *arguments: Value, sender: Address = ALICE, read_only: bool = False) -> Value:
        return decode(self.call_raw(method, list(arguments), sender=sender, read_only=read_only)[0].return_value)

    def call_raw(
        self,
        method: str,
        arguments: list[Value],
        *,
        sender: Address = ALICE,
        read_only: bool = False,
        host: ContractHost | None = None,
        memory_bytes_left: int | None = None,
    ) -> tuple[SandboxResult, Context, GasMeter]:
        block_state = BlockState(self.state)
        meter = GasMeter(self.gas_limit)
        context = Context(
            sender,
            BLOCK,
            Hash(b"\x01" * 32),
            CONTRACT,
            method,
            read_only,
            compute_state_key_prefix(CONTRACT),
            block_state,
            meter,
            ExecutionLimits(gas_per_transaction_max=self.gas_limit),
            DEFAULT_GAS_SCHEDULE,
        )
        context.invoker = host
        context.memory_bytes_left = memory_bytes_left
        result = run_method(self.compiled, method, encode(arguments), context)
        for key, value in context.get_writes().items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
        return result, context, meter


def make_chain(source: str, limits: SandboxLimits | None = None, gas_limit: int = 10_000_000) -> Chain:
    compiled = compile_contract(source, limits or SandboxLimits())
    return Chain(compiled, gas_limit=gas_limit)


TOKEN = '''
"""A token: balances in a Map, a Transfer event."""
from gusu_contract import Map, Counter, method, view, require, sender, emit, event, Address

balances = Map("balances")
supply = Counter("supply")
Transfer = event("Transfer", "sender", "to", "amount")


@method
def mint(to: Address, amount: int) -> None:
    require(amount > 0, "amount must be positive")
    balances.set(to, balances.get(to, 0) + amount)
    supply.add(amount)


@method
def transfer(to: Address, amount: int) -> None:
    require(amount > 0, "amount must be positive")
    me = sender()
    balance = balances.get(me, 0)
    require(balance >= amount, "insufficient balance")
    if to != me:
        balances.set(me, balance - amount)
        balances.set(to, balances.get(to, 0) + amount)
    emit(Transfer, me, to, amount)


@view
def balance(owner: Address) -> int:
    return balances.get(owner, 0)
'''
