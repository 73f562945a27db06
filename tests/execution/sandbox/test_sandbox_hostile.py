"""The hostile battery: escape and denial-of-service attempts known from Python sandboxes.

Each attack is named after what it tries. It must be refused, either by
`compile_contract` (ContractSourceError naming the construct) or as a failed
call with a specific error, and the interpreter must stay usable afterwards
(every test ends by running an honest contract).
"""

from __future__ import annotations

import sys
import textwrap

import pytest
from sandbox_helpers import ALICE, BOB, TOKEN, make_chain

from gusu.errors import (
    ContractRevertError,
    ContractSourceError,
    ExecutionError,
    OutOfGasError,
    SandboxLimitError,
)
from gusu.execution.errors import ContractError
from gusu.execution.sandbox import SandboxLimits, compile_contract

HEADER = "from gusu_contract import method, view, Map, require, abort\n"


def contract(body: str) -> str:
    """`body` as the body of method `attack`."""
    return HEADER + "\n@method\ndef attack() -> None:\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n"


def assert_process_unharmed() -> None:
    chain = make_chain(TOKEN)
    chain.call("mint", ALICE, 1_000)
    chain.call("transfer", BOB, 250)
    assert chain.call("balance", BOB) == 250


# --- refused at compile time --------------------------------------------------------------------------

COMPILE_TIME_ATTACKS: dict[str, tuple[str, str]] = {
    "subclasses_walk": (contract("x = ().__class__.__bases__[0].__subclasses__()"), "starts with '_'"),
    "generator_frame_walk_cve_2023_37271": (
        contract("g = (x for x in [1])\nf = g.gi_frame.f_back"),
        "generator expressions are not allowed",
    ),
    "generator_function_yield": (
        HEADER + "def gen():\n    yield 1\n@method\ndef attack() -> None:\n    gen()\n",
        "generators are not allowed",
    ),
    "format_builtin": (contract("x = format(1, 'x')"), "name 'format' is not defined"),
    "fstring_conversion_spec": (contract('x = f"{1!r}"'), "conversions"),
    "fstring_format_spec_reaches_attributes": (contract('x = f"{1:>{10}}"'), "format specs"),
    "attribute_error_obj_cve_2024_47532": (
        contract("try:\n    x = [].nothing\nexcept AttributeError as e:\n    y = e.obj"),
        "try statements are not allowed",
    ),
    "except_star_cve_2025_22153": (
        contract("try:\n    pass\nexcept* Exception as group:\n    pass"),
        "try/except* is not allowed",
    ),
    "positional_only_parameter_shadows_guard": (
        HEADER + "def helper(len, /):\n    return len\n@method\ndef attack() -> None:\n    helper(1)\n",
        "plain parameters only",
    ),
    "parameter_shadows_builtin": (
        HEADER + "def helper(len):\n    return len\n@method\ndef attack() -> None:\n    helper(1)\n",
        "would shadow a builtin",
    ),
    "lamden_setattr_on_other_contracts_storage": (
        contract("m = Map('balances')\nsetattr(m, 'prefix', b'other-contract')"),
        "name 'setattr' is not defined",
    ),
    "attribute_assignment_rewrites_storage_prefix": (
        contract("m = Map('balances')\nm.prefix = b'other'"),
        "assign to a name, a tuple of names, or one item",
    ),
    "private_attribute_of_storage": (contract("m = Map('balances')\nx = m._prefix"), "starts with '_'"),
    "exception_swallowing_of_meter_signal": (
        contract("try:\n    while True:\n        pass\nexcept BaseException:\n    pass"),
        "try statements are not allowed",
    ),
    "bare_except_swallowing": (contract("try:\n    pass\nexcept:\n    pass"), "try statements are not allowed"),
    "hash_builtin_nondeterminism": (contract("x = hash('abc')"), "name 'hash' is not defined"),
    "id_builtin_nondeterminism": (contract("x = id([])"), "name 'id' is not defined"),
    "set_display_iteration_order": (contract("for x in {'a', 'b'}:\n    pass"), "sets are not allowed"),
    "set_builtin": (contract("x = set([1, 2])"), "name 'set' is not defined"),
    "frozenset_builtin": (contract("x = frozenset([1])"), "name 'frozenset' is not defined"),
    "float_literal": (contract("x = 0.1"), "float constants are not allowed"),
    "true_division_makes_float": (contract("x = 1 / 3"), "true division"),
    "import_os": ("import os\n" + contract("pass"), "imports are not allowed"),
    "from_os_import": ("from os import system\n" + contract("pass"), "imports are not allowed"),
    "import_inside_function": (contract("import os"), "imports are not allowed"),
    "unknown_library_name": ("from gusu_contract import Context\n" + contract("pass"), "gusu_contract has no"),
    "dunder_import": (contract("os = __import__('os')"), "starts with '_'"),
    "builtins_dict_access": (contract("b = __builtins__"), "starts with '_'"),
    "type_metaclass_trick": (contract("T = type('T', (), {})"), "name 'type' is not defined"),
    "getattr_with_computed_name": (contract("x = getattr([], '__cl' + 'ass__')"), "name 'getattr' is not defined"),
    "vars_and_dir": (contract("x = vars()"), "name 'vars' is not defined"),
    "globals_and_locals": (contract("x = globals()"), "name 'globals' is not defined"),
    "eval": (contract("eval('1')"), "name 'eval' is not defined"),
    "exec": (contract("exec('x = 1')"), "name 'exec' is not defined"),
    "compile": (contract("compile('1', 'f', 'eval')"), "name 'compile' is not defined"),
    "open_file": (contract("open('/etc/passwd')"), "name 'open' is not defined"),
    "print_io": (contract("print('hello')"), "name 'print' is not defined"),
    "input_io": (contract("input()"), "name 'input' is not defined"),
    "breakpoint": (contract("breakpoint()"), "name 'breakpoint' is not defined"),
    "memoryview_and_bytearray": (contract("x = bytearray(10)"), "name 'bytearray' is not defined"),
    "walrus_into_builtin_name": (contract("(len := 5)"), "walrus"),
    "assignment_shadows_builtin": (contract("range = 5"), "would shadow a builtin"),
    "assignment_shadows_library_guard": (contract("require = 5"), "would shadow"),
    "module_level_shadows_builtin": (HEADER + "len = 3\n" + contract("pass"), "would shadow a builtin"),
    "del_storage_internals": (contract("m = Map('b')\ndel m.prefix"), "del may only remove one item"),
    "del_name": (contract("x = 1\ndel x"), "del may only remove one item"),
    "arbitrary_decorator": (
        HEADER
        + "def wrap(f):\n    return f\n@wrap\ndef attack() -> None:\n    pass\n@method\ndef ok() -> None:\n    pass\n",
        "the only decorators",
    ),
    "class_definition": (HEADER + "class Evil:\n    pass\n" + contract("pass"), "classes are not allowed"),
    "class_attribute_trick_via_object": (contract("x = object.__subclasses__()"), "starts with '_'"),
    "global_statement_persists_state": (contract("global counter\ncounter = 1"), "global is not allowed"),
    "nonlocal_statement": (
        HEADER + "def outer():\n    x = 1\n@method\ndef attack() -> None:\n    nonlocal x\n",
        "nonlocal is not allowed",
    ),
    "lambda_escapes_meter": (contract("f = lambda: 1"), "lambda is not allowed"),
    "async_function": (HEADER + "async def f():\n    pass\n" + contract("pass"), "async code is not allowed"),
    "nested_function_closure": (contract("def inner():\n    pass"), "nested functions"),
    "star_args_unpacking": (contract("x = max(*[1, 2])"), "star"),
    "keyword_unpacking": (contract("x = dict(**{'a': 1})"), "keyword unpacking"),
    "with_statement": (contract("with x:\n    pass"), "with statements are not allowed"),
    "raise_arbitrary_exception": (contract("raise SystemExit"), "raise is not allowed"),
    "match_statement": (contract("match 1:\n    case 1:\n        pass"), "match statements are not allowed"),
    "ellipsis_constant": (contract("x = ..."), "constants are not allowed"),
    "deep_expression_exhausts_compiler_stack": (contract("x = " + "+".join(["1"] * 5000)), "cannot be parsed"),
    "expression_deeper_than_ast_depth_max": (contract("x = " + "+".join(["1"] * 100)), "ast_depth_max"),
    "deeply_nested_parentheses": (contract("x = " + "(" * 300 + "1" + ")" * 300), "contract source"),
    "oversized_source": (contract("x = 1\n" * 20_000), "source_bytes_max"),
    "null_byte_in_source": (contract("x = 1") + "\x00", "contract source"),
}


@pytest.mark.parametrize("attack", sorted(COMPILE_TIME_ATTACKS))
def test_refused_at_compile_time(attack: str) -> None:
    source, message = COMPILE_TIME_ATTACKS[attack]
    with pytest.raises(ContractSourceError, match="contract source") as caught:
        compile_contract(source)
    assert message in str(caught.value)
    assert_process_unharmed()


def test_deep_sources_are_refused_whatever_the_process_recursion_limit() -> None:
    """Importing py-evm elsewhere in the process (a test module, a tool) raises the recursion limit to
    100,000; at that limit `ast.parse` of a 30,000-term sum overflows the C stack and kills the process.
    The compiler bounds its own recursion, so both are refused as at the default limit, and the
    process's limit is left as it was."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        for terms in (5_000, 30_000):
            with pytest.raises(ContractSourceError, match="cannot be parsed"):
                compile_contract(contract("x = " + "+".join(["1"] * terms)))
            assert sys.getrecursionlimit() == 100_000
    finally:
        sys.setrecursionlimit(previous)
    assert_process_unharmed()


# --- refused at run time ---------------------------------------------------------------------------

SMALL = SandboxLimits(steps_max=200_000, memory_bytes_max=4_000_000)

RUN_TIME_ATTACKS: dict[str, tuple[str, type[ExecutionError], str]] = {
    "infinite_loop_while_true": (contract("while True:\n    pass"), SandboxLimitError, "steps_max"),
    "work_packed_in_one_line_list_comprehension": (
        contract("x = [i for i in range(10**9)]"),
        SandboxLimitError,
        "",
    ),
    "work_packed_in_one_line_sum_of_range": (contract("x = sum(range(10**12))"), SandboxLimitError, "steps_max"),
    "work_packed_in_one_line_sorted": (contract("x = sorted(range(10**8))"), SandboxLimitError, ""),
    "huge_power_10_pow_10_pow_8": (contract("x = 10**10**8"), SandboxLimitError, "integer_bits_max"),
    "huge_left_shift": (contract("x = 1 << 10**9"), SandboxLimitError, "integer_bits_max"),
    "repeated_squaring_past_integer_cap": (
        contract("x = 3\nwhile True:\n    x = x * x"),
        SandboxLimitError,
        "integer_bits_max",
    ),
    "huge_string_repetition": (contract("x = 'a' * 10**10"), SandboxLimitError, "memory_bytes_max"),
    "huge_list_repetition": (contract("x = [0] * 10**9"), SandboxLimitError, "memory_bytes_max"),
    "doubling_string_concatenation": (
        contract("s = 'ab'\nwhile True:\n    s = s + s"),
        SandboxLimitError,
        "memory_bytes_max",
    ),
    "bytes_of_huge_size": (contract("x = bytes(10**10)"), SandboxLimitError, "memory_bytes_max"),
    "to_bytes_huge_length": (contract("x = (1).to_bytes(10**9, 'big')"), ContractError, "to_bytes"),
    "deep_recursion": (
        HEADER + "def down(n):\n    return down(n + 1)\n@method\ndef attack() -> None:\n    down(0)\n",
        SandboxLimitError,
        "call_depth_max",
    ),
    "mutual_recursion": (
        HEADER
        + "def ping(n):\n    return pong(n)\ndef pong(n):\n    return ping(n)\n"
        + "@method\ndef attack() -> None:\n    ping(0)\n",
        SandboxLimitError,
        "call_depth_max",
    ),
    "shared_sublists_make_comparison_exponential": (
        contract("a = [0]\nb = [0]\nfor i in range(60):\n    a = [a, a]\n    b = [b, b]\nrequire(a == b, 'same')"),
        SandboxLimitError,
        "steps_max",
    ),
    "shared_sublists_make_storage_encoding_exponential": (
        contract("a = [0]\nfor i in range(60):\n    a = [a, a]\nMap('m').set(1, a)"),
        SandboxLimitError,
        "steps_max",
    ),
    "nested_tuple_dict_key_hash_is_exponential": (
        contract("t = (1,)\nfor i in range(60):\n    t = (t, t)\nd = {}\nd[t] = 1"),
        ContractError,
        "dict key",
    ),
    "format_string_attribute_leak_cve_2023_41039": (
        contract('x = "{0.__class__}".format(1)'),
        ContractError,
        "no attribute 'format'",
    ),
    "string_format_method_via_attribute": (contract("x = '{0}'.format(1)"), ContractError, "no attribute 'format'"),
    "format_map_method": (contract("x = 'a'.format_map({})"), ContractError, "no attribute 'format_map'"),
    "percent_formatting_with_huge_width": (contract("x = '%999999999d' % 1"), ContractError, "takes integers"),
    "str_of_nested_list_repr_blowup": (contract("x = str([[0] * 1000] * 1000)"), ContractError, "str() takes"),
    "fstring_of_container": (contract("x = f'{[1, 2]}'"), ContractError, "f-string field"),
    "method_of_function_object": (
        HEADER + "def helper():\n    pass\n@method\ndef attack() -> None:\n    x = helper.globals\n",
        ContractError,
        "no attribute 'globals'",
    ),
    "isinstance_with_smuggled_type": (contract("x = isinstance(1, len)"), ContractError, "isinstance"),
    "negative_power_makes_float": (contract("x = 2 ** -1"), ContractError, "non-negative exponent"),
    "unhandled_exception_is_a_clean_failure": (contract("x = [][1]"), ContractError, "IndexError"),
    "out_of_gas_before_steps_max": (contract("while True:\n    pass"), OutOfGasError, "out of gas"),
    "storage_write_flood": (
        contract("m = Map('m')\nfor i in range(100000):\n    m.set(i, i)"),
        SandboxLimitError,
        "storage_writes_max",
    ),
    "revert_message": (contract("abort('no')"), ContractRevertError, "no"),
}


@pytest.mark.parametrize("attack", sorted(RUN_TIME_ATTACKS))
def test_refused_at_run_time(attack: str) -> None:
    source, error_type, message = RUN_TIME_ATTACKS[attack]
    limits = SMALL if attack != "storage_write_flood" else SandboxLimits(storage_writes_max=100)
    gas = 100_000 if attack == "out_of_gas_before_steps_max" else 1_000_000_000
    chain = make_chain(source, limits, gas_limit=gas)
    with pytest.raises(error_type) as caught:
        chain.call("attack")
    assert message in str(caught.value)
    assert chain.state == {}, "a failed call leaves no state behind"
    assert_process_unharmed()


def test_module_globals_do_not_persist_between_calls() -> None:
    source = HEADER + ("seen = []\n@method\ndef remember() -> int:\n    seen.append(1)\n    return len(seen)\n")
    chain = make_chain(source)
    assert chain.call("remember") == 1
    assert chain.call("remember") == 1, "each call starts from fresh module globals"


def test_failed_call_bills_the_steps_it_used() -> None:
    chain = make_chain(contract("while True:\n    pass"), SandboxLimits(steps_max=10_000))
    with pytest.raises(SandboxLimitError):
        chain.call_raw("attack", [])
    # The meter kept running: gas was charged to the context even though the call failed.
    result_chain = make_chain(contract("x = 1"))
    result, _, meter = result_chain.call_raw("attack", [])
    assert meter.get_used() == result.steps_used * SandboxLimits().gas_per_step


def test_the_battery_has_at_least_forty_named_attacks() -> None:
    assert len(COMPILE_TIME_ATTACKS) + len(RUN_TIME_ATTACKS) >= 40
