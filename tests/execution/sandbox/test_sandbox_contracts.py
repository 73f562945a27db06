"""What an honest deployed contract can do: storage helpers, events, arguments, fixed point, declarations."""

from __future__ import annotations

import pytest
from sandbox_helpers import ALICE, BOB, TOKEN, make_chain

from gusu.codec import decode
from gusu.errors import ConfigError, ContractRevertError, InvalidArgumentsError, UnknownMethodError
from gusu.execution.errors import ContractError
from gusu.execution.sandbox import KIND_MIGRATION, SandboxLimits, compile_contract, describe_declarations


def test_token_transfer_moves_balances_and_emits_the_declared_event() -> None:
    chain = make_chain(TOKEN)
    chain.call("mint", ALICE, 1_000)
    result, context, meter = chain.call_raw("transfer", [BOB, 300])
    assert chain.call("balance", ALICE) == 700
    assert chain.call("balance", BOB) == 300
    (event,) = context.get_events()
    assert event.name == "Transfer"
    assert decode(event.data) == [ALICE, BOB, 300]
    assert result.storage_writes == 2
    assert meter.get_used() > result.steps_used * SandboxLimits().gas_per_step, "storage gas is charged too"


def test_require_reverts_with_the_contracts_message() -> None:
    chain = make_chain(TOKEN)
    with pytest.raises(ContractRevertError, match="insufficient balance"):
        chain.call("transfer", BOB, 1)


def test_arguments_are_checked_against_the_annotations() -> None:
    chain = make_chain(TOKEN)
    with pytest.raises(InvalidArgumentsError, match="20-byte address"):
        chain.call("transfer", b"short", 1)
    with pytest.raises(InvalidArgumentsError, match="takes 2 arguments"):
        chain.call("transfer", BOB)


def test_unknown_method_and_migration_are_not_callable() -> None:
    source = TOKEN + "\nfrom gusu_contract import migration\n@migration\ndef upgrade() -> None:\n    pass\n"
    chain = make_chain(source)
    assert chain.compiled.migration == "upgrade"
    assert chain.compiled.methods["upgrade"].kind == KIND_MIGRATION
    with pytest.raises(UnknownMethodError):
        chain.call("upgrade")
    with pytest.raises(UnknownMethodError):
        chain.call("nothing")


def test_declarations_describe_methods_events_and_migration() -> None:
    described = describe_declarations(compile_contract(TOKEN))
    assert described["methods"]["transfer"] == {"kind": "method", "parameters": [["to", "Address"], ["amount", "int"]]}
    assert described["methods"]["balance"]["kind"] == "view"
    assert described["events"] == {"Transfer": ["sender", "to", "amount"]}
    assert described["migration"] is None


def test_view_cannot_write() -> None:
    chain = make_chain(TOKEN)
    with pytest.raises(ContractError, match="views only read state"):
        chain.call("mint", ALICE, 5, read_only=True)


def test_array_counter_and_language_features() -> None:
    source = """
from gusu_contract import Array, Counter, method, fixed_mul, fixed_div, fixed_text, sm3, require
items = Array("items")
count = Counter("count")

def double(values):
    return [value * 2 for value in values if value % 2 == 1]

@method
def run(values: list[int]) -> list[str | int | bytes]:
    for value in double(values):
        items.push(value)
    total = count.add(len(values))
    table = {"a": 1}
    table["b"] = table.get("b", 0) + 5
    table["a"] += 1
    head, tail = values[0], values[1:]
    text = f"n={total} {fixed_text(fixed_mul(150, 250, 2), 2)} {fixed_text(fixed_div(1, 3, 4), 4)}"
    size = len(values)
    require(0 < size <= 10, "between 1 and 10 values")
    return [text, items.length(), items.get(0), table["a"] + table["b"], head, len(tail), sm3(b"abc")[:4]]
"""
    chain = make_chain(source)
    result = chain.call("run", [1, 2, 3])
    assert result == ["n=3 3.75 0.3333", 2, 2, 7, 1, 2, bytes.fromhex("66c7f0f4")]


def test_limits_are_validated_on_construction() -> None:
    with pytest.raises(ConfigError, match="steps_max"):
        SandboxLimits(steps_max=0)
    with pytest.raises(ConfigError, match="call_depth_max"):
        SandboxLimits(call_depth_max=10_000)
    with pytest.raises(ConfigError, match="must be an integer"):
        SandboxLimits(memory_bytes_max=True)


def test_one_line_costs_more_when_it_does_more_work() -> None:
    cheap = make_chain(
        "from gusu_contract import method\n@method\ndef run() -> None:\n    x = [i for i in range(10)]\n"
    )
    dear = make_chain(
        "from gusu_contract import method\n@method\ndef run() -> None:\n    x = [i for i in range(1000)]\n"
    )
    cheap_steps = cheap.call_raw("run", [])[0].steps_used
    dear_steps = dear.call_raw("run", [])[0].steps_used
    assert dear_steps - cheap_steps >= 990 * 2, (cheap_steps, dear_steps)


def test_storage_keys_are_namespaced_under_the_contract() -> None:
    chain = make_chain(TOKEN)
    chain.call("mint", ALICE, 5)
    from gusu.execution.state import compute_state_key_prefix

    prefix = compute_state_key_prefix("deployed")
    assert chain.state and all(key.startswith(prefix) for key in chain.state)
