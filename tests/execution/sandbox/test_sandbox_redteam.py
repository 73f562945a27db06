"""Red-team attacks on the sandbox found after the hostile battery (tests/execution/sandbox/test_sandbox_hostile.py).

Each test is named after the attack. Those in the first part were holes
(work or memory the meter did not see, or an outcome that depended on the
host's stack); each now fails cleanly or is charged for what it does. The
second part names attacks that already held, kept as regressions.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sandbox_helpers import make_chain

from gusu.codec import decode
from gusu.errors import ContractSourceError, ExecutionError, SandboxLimitError
from gusu.execution.encoding import encode_value
from gusu.execution.errors import ContractError
from gusu.execution.sandbox import DEFAULT_SANDBOX_LIMITS, SandboxLimits, SandboxResult, compile_contract

HEADER = "from gusu_contract import method, view, Map, require, abort\n"
T = TypeVar("T")


def contract(body: str) -> str:
    """`body` as the body of method `attack`."""
    return HEADER + "\n@method\ndef attack() -> None:\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"


def run(body: str, limits: SandboxLimits | None = None) -> SandboxResult:
    chain = make_chain(contract(body), limits, gas_limit=10**12)
    return chain.call_raw("attack", [])[0]


def outcome(body: str) -> str:
    try:
        run(body)
    except ExecutionError as error:
        return f"{error.code}: {error}"
    return "ok"


# --- holes: each failed before its fix -------------------------------------------------------------------


def test_membership_of_a_non_integer_in_a_huge_range_is_refused() -> None:
    # `None in range(n)` scans all n items in C; with n = 10**12 one line held a node for hours at 2 steps.
    with pytest.raises(ContractError, match="in range"):
        run("x = None in range(10**6)")
    with pytest.raises(ContractError, match="in range"):
        run("x = 'a' not in range(10**6)")
    assert run("require(5 in range(10**12), 'in')").steps_used < 100, "integers in a range stay O(1)"


def test_comparing_dict_views_is_charged_per_item() -> None:
    # d.keys() == e.keys() and x in d.values() walk every entry; the meter saw one item per view.
    setup = "d = {}\nfor i in range(2000):\n    d[i] = i\ne = dict(d)\n"
    baseline = run(setup).steps_used
    assert run(setup + "x = d.keys() == e.keys()").steps_used - baseline >= 4000
    assert run(setup + "x = -1 in d.values()").steps_used - baseline >= 2000
    assert run(setup + "x = d.items() == e.items()").steps_used - baseline >= 4000


def test_list_extend_with_a_range_charges_its_memory() -> None:
    # l.extend(range(10**8)) allocated 800 MB while the meter counted the empty list (a MemoryError stops the node).
    with pytest.raises(SandboxLimitError, match="memory_bytes_max"):
        run("l = []\nl.extend(range(10**6))", SandboxLimits(memory_bytes_max=1_000_000))
    with pytest.raises(SandboxLimitError, match="memory_bytes_max"):
        keys = "d = {}\nfor i in range(1000):\n    d[i] = i\nl = []\nl.extend(d.keys())"
        run(keys, SandboxLimits(memory_bytes_max=8_000))
    with pytest.raises(ContractError, match="too long"):
        run("l = []\nl.extend(range(10**30))")


def test_fstring_of_strings_charges_their_memory() -> None:
    # s = f"{s}{s}" doubles a string at a few steps a time: 2**40 bytes in a thousand steps (here 32 MiB).
    with pytest.raises(SandboxLimitError, match="memory_bytes_max"):
        run("s = 'ab'\nfor i in range(24):\n    s = f'{s}{s}'", SandboxLimits(memory_bytes_max=1_000_000))


def test_list_pop_from_the_front_is_charged_like_del() -> None:
    # l.pop(0) moves the whole list in memory; it was free while del l[0] costs len/64 steps.
    setup = "l = [0] * 64000\n"
    baseline = run(setup).steps_used
    assert run(setup + "for i in range(100):\n    x = l.pop(0)").steps_used - baseline >= 100 * 900
    assert run(setup + "for i in range(100):\n    x = l.pop()").steps_used - baseline < 100 * 20, "pop() stays cheap"


def test_startswith_a_tuple_of_long_prefixes_is_charged_for_each() -> None:
    # s.startswith((p,) * n) compares n prefixes; the meter counted the tuple's length, not the prefixes'.
    setup = "s = 'a' * 64000\np = 'a' * 32000 + 'b'\nt = (p,) * 1000\n"
    baseline = run(setup).steps_used
    assert run(setup + "x = s.startswith(t)").steps_used - baseline >= 1000 * 500


def test_array_index_error_does_not_print_the_index() -> None:
    # Array('q').get(a) put repr(a) in its error: a list of shared sub-lists 60 levels deep prints 2**60 items.
    body = "a = [0]\nfor i in range(16):\n    a = [a, a]\nx = Array('q').get(a)"
    chain = make_chain(contract(body).replace("import method", "import Array, method"), gas_limit=10**12)
    with pytest.raises(ContractError) as caught:
        chain.call_raw("attack", [])
    assert str(caught.value) == "an Array index must be an integer, found list"


def _at_stack_depth(frames: int, action: Callable[[], T]) -> T:
    if frames == 0:
        return action()
    return _at_stack_depth(frames - 1, action)


def test_deeply_nested_values_fail_the_same_way_at_any_host_stack_depth() -> None:
    # Comparing lists nested 600 deep recurses in C: it succeeded near the bottom of the interpreter's stack
    # and raised RecursionError 400 frames higher, so two nodes calling execute_block from different
    # depths (catch-up versus consensus) could disagree. Nesting is now bounded before any deep operation.
    body = "a = [0]\nb = [0]\nfor i in range(600):\n    a = [a]\n    b = [b]\nx = a == b"
    shallow = outcome(body)
    deep = _at_stack_depth(400, lambda: outcome(body))
    assert shallow == deep
    assert "nest" in shallow
    for deep_operation in ("x = sorted([a, b])", "x = [a].index(b)", "x = max(a, b)", "x = a in [b]"):
        assert "nest" in outcome(body.replace("x = a == b", deep_operation)), deep_operation


# --- attacks that held --------------------------------------------------------------------------------

HELD_AT_COMPILE_TIME: dict[str, tuple[str, str]] = {
    "decorator_with_call_runs_code_at_definition": (
        HEADER + "@method(1)\ndef attack() -> None:\n    pass\n",
        "the only decorators",
    ),
    "default_argument_evaluated_at_definition": (
        HEADER + "def helper(x=[0] * 10**9):\n    return x\n" + contract("pass"),
        "parameter defaults must be constants",
    ),
    "chained_comparison_hides_unguarded_operand": (contract("x = 1 < len([]) < 2"), "chained comparison"),
    "augmented_assignment_to_attribute": (contract("m = Map('m')\nm.x += 1"), "augmented assignment"),
    "augmented_assignment_to_slice": (contract("l = [1]\nl[0:1] += [2]"), "augmented assignment"),
    "star_unpacking_in_list_display": (contract("x = [*range(10**9)]"), "star"),
    "comprehension_target_is_attribute": (contract("x = [0 for m.y in [1]]"), "target"),
    "nested_fstring_format_spec": (contract("w = 10**9\nx = f'{1:{w}}'"), "format specs"),
    "keyword_named_like_a_hook": (contract("x = sorted([1], __gusu_step=1)"), "starts with '_'"),
    "for_else_clause": (contract("for i in []:\n    pass\nelse:\n    pass"), "else clauses"),
    "import_alias_renames_guard": ("from gusu_contract import require as len\n" + contract("pass"), "as ..."),
}


@pytest.mark.parametrize("attack", sorted(HELD_AT_COMPILE_TIME))
def test_held_at_compile_time(attack: str) -> None:
    source, message = HELD_AT_COMPILE_TIME[attack]
    with pytest.raises(ContractSourceError) as caught:
        compile_contract(source)
    assert message in str(caught.value)


HELD_AT_RUN_TIME: dict[str, tuple[str, type[ExecutionError], str]] = {
    "slice_with_huge_step_is_charged_by_length": (
        "l = [0] * 10**5\nfor i in range(10**6):\n    x = l[::10**18]",
        SandboxLimitError,
        "",
    ),
    "int_of_long_digit_string_past_the_conversion_limit": (
        "x = int('9' * 5000)",
        ContractError,
        "int() reads at most",
    ),
    "sorted_with_key_function_runs_unmetered_code": (
        "x = sorted([3, 1], key=len)",
        ContractError,
        "unexpected keyword",
    ),
    "join_of_huge_repeated_list": ("x = ''.join(['a' * 1000] * 10**6)", SandboxLimitError, "memory_bytes_max"),
    "dict_copy_doubling": (
        "d = {i: i for i in range(1000)}\nl = []\nfor i in range(10**6):\n    l.append(d.copy())",
        SandboxLimitError,
        "",
    ),
    "list_multiply_in_place_doubling": ("l = [0]\nwhile True:\n    l *= 2", SandboxLimitError, "memory_bytes_max"),
}


@pytest.mark.parametrize("attack", sorted(HELD_AT_RUN_TIME))
def test_held_at_run_time(attack: str) -> None:
    body, error_type, message = HELD_AT_RUN_TIME[attack]
    with pytest.raises((error_type, ContractSourceError)) as caught:
        run(body, SandboxLimits(steps_max=200_000, memory_bytes_max=4_000_000))
    assert message in str(caught.value)


# --- nested calls share one gas and one memory budget ----------------------------------------------------

_CALLER = """
from gusu_contract import method, call_contract


@method
def burn_then_call(rounds: int) -> int:
    total = 0
    for index in range(rounds):
        total = total + index
    return call_contract("callee", "anything")
"""


class _RecordingHost:
    """Stands in for the executor: records what the caller had left when it called out."""

    def __init__(self) -> None:
        self.gas_left: list[int] = []
        self.memory_left: list[int | None] = []

    def call(self, caller: Any, contract: str, method: str, args: bytes, read_only: bool, depth: int) -> bytes:
        self.gas_left.append(caller.get_gas_remaining())
        self.memory_left.append(caller.memory_bytes_left)
        return encode_value(7)

    def get_address(self, contract: str) -> bytes:
        return b"\x01" * 20


def test_a_caller_pays_for_its_steps_before_a_callee_is_budgeted() -> None:
    """The callee's budget is the gas really left: before, the caller's steps were billed only when it
    returned, so each of 8 nested contracts could spend the whole transaction's gas again (all of it
    underpaid, the transaction failing out of gas only at the end)."""
    chain = make_chain(_CALLER, gas_limit=1_000_000)
    host = _RecordingHost()
    result, _context, meter = chain.call_raw("burn_then_call", [2_000], host=host)
    assert decode(result.return_value) == 7
    [gas_left] = host.gas_left
    assert gas_left <= 1_000_000 - 2_000 * DEFAULT_SANDBOX_LIMITS.gas_per_step
    assert meter.get_used() == result.steps_used * DEFAULT_SANDBOX_LIMITS.gas_per_step, "each step billed once"


def test_a_callee_lives_in_the_memory_its_caller_has_left() -> None:
    chain = make_chain(_CALLER)
    host = _RecordingHost()
    chain.call_raw("burn_then_call", [10], host=host)
    [memory_left] = host.memory_left
    assert memory_left is not None and 0 < memory_left < DEFAULT_SANDBOX_LIMITS.memory_bytes_max


def test_a_call_runs_within_the_memory_its_caller_left_it() -> None:
    chain = make_chain(
        """
from gusu_contract import method


@method
def allocate(size: int) -> int:
    return len([0] * size)
"""
    )
    assert chain.call("allocate", 1_000) == 1_000
    with pytest.raises(SandboxLimitError, match="memory_bytes_max"):
        chain.call_raw("allocate", [100_000], memory_bytes_left=100_000)


def test_an_event_cannot_be_made_up_inside_a_call() -> None:
    """Events are declared at module level (the schema clients decode); an `event(...)` inside a function
    would emit events outside it."""
    source = """
from gusu_contract import method, emit, event


@method
def sneak() -> None:
    emit(event("Undeclared", "x"), 1)
"""
    with pytest.raises(ContractSourceError, match="declare events at module level"):
        compile_contract(source)


@pytest.mark.parametrize(
    "expression", ['"abc".encode("punycode")', 'b"abc".decode("idna")', '"abc".encode("utf-8", "ignore")']
)
def test_text_codecs_are_utf8_only(expression: str) -> None:
    """A codec name reaches the host's codec registry (speed and output that Gusu does not control)."""
    chain = make_chain(
        f"""
from gusu_contract import method


@method
def convert() -> None:
    x = {expression}
"""
    )
    with pytest.raises(ContractError, match="always UTF-8"):
        chain.call("convert")


def test_case_mapping_is_charged_for_its_longest_result() -> None:
    """ "ΐ".upper() is three code points: memory is charged for three per input character."""
    chain = make_chain(
        """
from gusu_contract import method


@method
def shout(text: str) -> int:
    return len(text.upper())


@method
def measure(text: str) -> int:
    return len(text) * 3
"""
    )
    shouted, _context, _meter = chain.call_raw("shout", ["ΐ" * 1_000])
    measured, _context, _meter = chain.call_raw("measure", ["ΐ" * 1_000])
    assert decode(shouted.return_value) == decode(measured.return_value) == 3_000
    assert shouted.memory_bytes_used - measured.memory_bytes_used >= 3_000
