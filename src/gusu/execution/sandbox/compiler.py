"""`compile_contract`: check a contract's source against the allow-list, read its declarations, instrument it.

A deployed contract is one module of top-level functions (no classes):
imports from ``gusu_contract``, constants, storage and event declarations,
and functions, of which those decorated ``@method``, ``@view`` or
``@migration`` are its entry points. Everything not on the allow-list below
is refused at compile time with the line and what to do instead, so most
attacks never reach the runtime at all.

The instrumented tree differs from the source in ways contract code cannot
observe: each run of statements starts with a charge of its size in AST
nodes, each loop iteration and comprehension element is charged, each
function call enters and leaves a depth counter, and every operator,
comparison, subscript, attribute and f-string field goes through a guard of
the call's `Runtime`, which charges by operand size before the work runs.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gusu.codec import Value
from gusu.errors import ConfigError, ContractSourceError
from gusu.execution.contract import Check, compute_check, validate_name
from gusu.execution.recursion import bounded_recursion
from gusu.execution.sandbox.limits import DEFAULT_SANDBOX_LIMITS, SandboxLimits
from gusu.execution.sandbox.names import (
    ANNOTATION_NAMES,
    BUILTIN_NAMES,
    DECORATOR_NAMES,
    HOOK_PREFIX,
    LIBRARY_MODULE,
    LIBRARY_NAMES,
    RESERVED_NAMES,
)
from gusu.execution.sandbox.runtime import CONTAINER_BYTES, DICT_ENTRY_BYTES, ITEM_BYTES
from gusu.ledger.types import Address, Hash

KIND_METHOD = "method"
KIND_VIEW = "view"
KIND_MIGRATION = "migration"


@dataclass(frozen=True, slots=True)
class ParameterDeclaration:
    name: str
    annotation: str
    """The annotation as written (``list[Address]``), for clients and error messages."""
    expected: str
    check: Check


@dataclass(frozen=True, slots=True)
class MethodDeclaration:
    name: str
    kind: str
    """KIND_METHOD (may write), KIND_VIEW (only reads) or KIND_MIGRATION (runs once on upgrade)."""
    parameters: tuple[ParameterDeclaration, ...]

    @property
    def is_view(self) -> bool:
        return self.kind == KIND_VIEW


@dataclass(frozen=True, slots=True)
class EventDeclaration:
    name: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """A contract checked and instrumented; immutable, so one compilation serves every call."""

    source: str
    code_hash_input: bytes
    """The UTF-8 source: what the deploy transaction hashes (with the chain's suite) into the code hash."""
    code: types.CodeType
    """The instrumented module; `run_method` executes it in fresh globals on every call."""
    imports: tuple[str, ...]
    """The `gusu_contract` names the module imports; only these are bound when it runs."""
    methods: Mapping[str, MethodDeclaration]
    """Entry points by name: methods, views and the migration."""
    events: tuple[EventDeclaration, ...]
    migration: str | None
    """The name of the function decorated @migration, if any."""
    limits: SandboxLimits
    bindings: tuple[str, ...]
    """Every global name the instrumented code reads from the runtime: hooks, builtins, imports."""

    def get_method_names(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, item in self.methods.items() if item.kind != KIND_MIGRATION))


# --- the allow-list -----------------------------------------------------------------------------------

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module,
    ast.Expr,
    ast.FunctionDef,
    ast.arguments,
    ast.arg,
    ast.Return,
    ast.Assign,
    ast.AugAssign,
    ast.For,
    ast.While,
    ast.If,
    ast.Pass,
    ast.Break,
    ast.Continue,
    ast.Delete,
    ast.ImportFrom,
    ast.alias,
    ast.BoolOp,
    ast.BinOp,
    ast.UnaryOp,
    ast.IfExp,
    ast.Dict,
    ast.List,
    ast.Tuple,
    ast.ListComp,
    ast.DictComp,
    ast.comprehension,
    ast.Compare,
    ast.Call,
    ast.keyword,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Del,
    ast.And,
    ast.Or,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.LShift,
    ast.RShift,
    ast.BitOr,
    ast.BitXor,
    ast.BitAnd,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Invert,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
)

_REFUSED_HINTS: dict[type[ast.AST], str] = {
    ast.ClassDef: "classes are not allowed: a contract is a module of functions",
    ast.Import: f"imports are not allowed except `from {LIBRARY_MODULE} import ...`",
    ast.Try: "try statements are not allowed: fail a call with require(...) or abort(...)",
    ast.Raise: "raise is not allowed: fail a call with require(...) or abort(...)",
    ast.Assert: "assert is not allowed: use require(condition, message)",
    ast.With: "with statements are not allowed",
    ast.Global: "global is not allowed: module state does not persist; use Map, Array or Counter",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.Lambda: "lambda is not allowed: define a function",
    ast.GeneratorExp: "generator expressions are not allowed: use a list comprehension",
    ast.Yield: "generators are not allowed",
    ast.YieldFrom: "generators are not allowed",
    ast.Await: "async code is not allowed",
    ast.AsyncFunctionDef: "async code is not allowed",
    ast.AsyncFor: "async code is not allowed",
    ast.AsyncWith: "async code is not allowed",
    ast.Set: "sets are not allowed: their iteration order depends on the hash seed; use a dict",
    ast.SetComp: "sets are not allowed: their iteration order depends on the hash seed; use a dict",
    ast.NamedExpr: "the walrus operator := is not allowed",
    ast.Starred: "star arguments and star unpacking are not allowed",
    ast.Div: "true division / produces floats: use // and %",
    ast.MatMult: "the @ operator is not allowed",
    ast.AnnAssign: "annotated assignments are not allowed: annotate only entry-point parameters",
    ast.Match: "match statements are not allowed",
}
if hasattr(ast, "TryStar"):
    _REFUSED_HINTS[ast.TryStar] = "try/except* is not allowed"

_COMPOUND = (ast.If, ast.For, ast.While)

COMPARE_CODES: dict[type[ast.cmpop], int] = {
    ast.Eq: 0,
    ast.NotEq: 1,
    ast.Lt: 2,
    ast.LtE: 3,
    ast.Gt: 4,
    ast.GtE: 5,
    ast.In: 6,
    ast.NotIn: 7,
    ast.Is: 8,
    ast.IsNot: 9,
}
"""Must match `runtime._COMPARE`."""

BINARY_HOOKS: dict[type[ast.operator], str] = {
    ast.Add: "add",
    ast.Sub: "sub",
    ast.Mult: "mul",
    ast.FloorDiv: "floordiv",
    ast.Mod: "mod",
    ast.Pow: "pow",
    ast.LShift: "lshift",
    ast.RShift: "rshift",
    ast.BitAnd: "bit_and",
    ast.BitOr: "bit_or",
    ast.BitXor: "bit_xor",
}

HOOKS: tuple[str, ...] = (
    "step",
    "each",
    "enter",
    "leave",
    "compare",
    "getitem",
    "setitem",
    "delitem",
    "slice",
    "getattr",
    "format_value",
    "check_key",
    *BINARY_HOOKS.values(),
)
"""Runtime methods the instrumented code calls, each bound as ``__gusu_<name>``."""


def _refuse(node: ast.AST | None, message: str) -> ContractSourceError:
    line = getattr(node, "lineno", None)
    where = f"line {line}: " if line is not None else ""
    return ContractSourceError(f"contract source refused: {where}{message}")


# --- validation ---------------------------------------------------------------------------------------


def _check_size(tree: ast.AST, limits: SandboxLimits) -> None:
    """Count nodes and depth without recursion, so a hostile tree cannot exhaust the stack."""
    count = 0
    pending: list[tuple[ast.AST, int]] = [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        count += 1
        if count > limits.ast_nodes_max:
            raise _refuse(None, f"the source has more than ast_nodes_max = {limits.ast_nodes_max} syntax nodes")
        if depth > limits.ast_depth_max:
            raise _refuse(node, f"the code nests deeper than ast_depth_max = {limits.ast_depth_max} levels")
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _check_identifier(node: ast.AST, name: str, what: str) -> None:
    if name.startswith("_"):
        raise _refuse(node, f"{what} {name!r} starts with '_': names starting with an underscore are not allowed")


def _check_binding(node: ast.AST, name: str, what: str) -> None:
    _check_identifier(node, name, what)
    if name in RESERVED_NAMES:
        raise _refuse(node, f"{what} {name!r} would shadow a builtin or library name; choose another name")


class _Validator:
    """Walks the whole tree once, refusing anything outside the allow-list."""

    def __init__(self, module_names: set[str], imports: set[str]) -> None:
        self.module_names = module_names
        self.imports = imports

    def check_tree(self, node: ast.AST, local_names: set[str] | None) -> None:
        for child in ast.walk(node):
            self.check_node(child, local_names)

    def check_node(self, node: ast.AST, local_names: set[str] | None) -> None:
        hint = _REFUSED_HINTS.get(type(node))
        if hint is not None:
            raise _refuse(node, hint)
        if not isinstance(node, _ALLOWED_NODES):
            raise _refuse(node, f"{type(node).__name__} is not allowed in a contract")
        if isinstance(node, ast.Name):
            _check_identifier(node, node.id, "name")
            if isinstance(node.ctx, ast.Load):
                visible = self.module_names | BUILTIN_NAMES | self.imports | (local_names or set())
                if node.id not in visible:
                    if node.id in LIBRARY_NAMES:
                        raise _refuse(node, f"{node.id!r} must be imported: from {LIBRARY_MODULE} import {node.id}")
                    raise _refuse(node, f"name {node.id!r} is not defined or not available to contracts")
                if node.id == "event" and local_names is not None:
                    # Events are the contract's declared schema (what clients decode): declared once, at module
                    # level, never made up inside a call.
                    raise _refuse(node, "declare events at module level (Name = event(...)); emit them with emit()")
            else:
                _check_binding(node, node.id, "name")
        elif isinstance(node, ast.Attribute):
            _check_identifier(node, node.attr, "attribute")
            if not isinstance(node.ctx, ast.Load):
                raise _refuse(node, "assigning or deleting attributes is not allowed; use a dict or storage")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, str, bytes, bool, type(None))):
                raise _refuse(node, f"{type(node.value).__name__} constants are not allowed (no floats or complex)")
        elif isinstance(node, ast.FunctionDef) and local_names is not None:
            raise _refuse(node, "functions must be defined at module level (no nested functions)")
        elif isinstance(node, ast.FormattedValue):
            if node.conversion != -1 or node.format_spec is not None:
                raise _refuse(node, "f-string conversions (!r, !s) and format specs are not allowed")
        elif isinstance(node, ast.keyword):
            if node.arg is None:
                raise _refuse(node, "**keyword unpacking is not allowed")
            _check_identifier(node, node.arg, "keyword")
        elif isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            raise _refuse(node, "** unpacking in a dict display is not allowed")
        elif isinstance(node, ast.Compare) and len(node.ops) > 1:
            for middle in node.comparators[:-1]:
                if not isinstance(middle, (ast.Name, ast.Constant)):
                    raise _refuse(node, "in a chained comparison the middle operands must be names or constants")
        elif isinstance(node, ast.comprehension) and node.is_async:
            raise _refuse(node, "async code is not allowed")
        elif isinstance(node, (ast.For, ast.While)) and node.orelse:
            raise _refuse(node, "else clauses on loops are not allowed")
        elif isinstance(node, ast.For) and not _is_simple_target(node.target):
            raise _refuse(node, "a for loop's target must be a name or a tuple of names")
        elif isinstance(node, ast.comprehension) and not _is_simple_target(node.target):
            raise _refuse(node, "a comprehension's target must be a name or a tuple of names")
        elif isinstance(node, ast.Assign):
            _check_assign_targets(node)
        elif isinstance(node, ast.AugAssign):
            _check_aug_target(node)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if not isinstance(target, ast.Subscript) or isinstance(target.slice, ast.Slice):
                    raise _refuse(node, "del may only remove one item of a list or dict: del items[key]")
        elif (
            isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and not isinstance(node.ctx, ast.Load)
        ):
            raise _refuse(node, "assigning to or deleting a slice is not allowed")
        elif isinstance(node, ast.arguments):
            if node.posonlyargs or node.vararg or node.kwonlyargs or node.kwarg or node.kw_defaults:
                raise _refuse(node, "functions take plain parameters only (no /, *args, keyword-only or **kwargs)")
            for default in node.defaults:
                if not isinstance(default, ast.Constant):
                    raise _refuse(default, "parameter defaults must be constants")
        elif isinstance(node, ast.arg):
            _check_binding(node, node.arg, "parameter")
        elif isinstance(node, ast.ImportFrom) and local_names is not None:
            raise _refuse(node, "imports belong at module level")


def _is_simple_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, ast.Tuple) and all(isinstance(item, ast.Name) for item in target.elts)


def _check_assign_targets(node: ast.Assign) -> None:
    if len(node.targets) != 1:
        raise _refuse(node, "chained assignment (a = b = ...) is not allowed")
    target = node.targets[0]
    if isinstance(target, ast.Subscript):
        if isinstance(target.slice, ast.Slice):
            raise _refuse(node, "assigning to a slice is not allowed")
        return
    if not _is_simple_target(target):
        raise _refuse(node, "assign to a name, a tuple of names, or one item (items[key] = value)")


def _check_aug_target(node: ast.AugAssign) -> None:
    target = node.target
    if isinstance(target, ast.Name):
        return
    if (
        isinstance(target, ast.Subscript)
        and isinstance(target.value, ast.Name)
        and isinstance(target.slice, (ast.Name, ast.Constant))
    ):
        return
    raise _refuse(node, "augmented assignment works on a name or on items[key] with a name or constant key")


def _function_locals(function: ast.FunctionDef) -> set[str]:
    names = {argument.arg for argument in function.args.args}
    for node in ast.walk(function):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


# --- declarations -------------------------------------------------------------------------------------

_HINTS: dict[str, object] = {
    "int": int,
    "str": str,
    "bytes": bytes,
    "bool": bool,
    "Address": Address,
    "Hash": Hash,
}


def _compute_hint(node: ast.expr) -> object:
    if isinstance(node, ast.Name) and node.id in _HINTS:
        return _HINTS[node.id]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "list":
        return list[_compute_hint(node.slice)]  # type: ignore[misc]
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.BitOr)
        and isinstance(node.right, ast.Constant)
        and node.right.value is None
    ):
        return _compute_hint(node.left) | None  # type: ignore[operator]
    raise _refuse(
        node,
        f"parameter annotation {ast.unparse(node)!r} is not a contract type; "
        "use int, str, bytes, bool, Address, Hash, list[...] or ... | None",
    )


def _read_entry_point(function: ast.FunctionDef, kind: str) -> MethodDeclaration:
    try:
        validate_name(function.name, "entry point name")
    except ConfigError as error:
        raise _refuse(function, str(error)) from None
    parameters = []
    if function.args.defaults:
        raise _refuse(function, f"entry point {function.name} may not have parameter defaults")
    for argument in function.args.args:
        if argument.annotation is None:
            raise _refuse(argument, f"parameter {argument.arg} of entry point {function.name} needs a type annotation")
        hint = _compute_hint(argument.annotation)
        try:
            check, expected = compute_check(hint, f"{function.name} parameter {argument.arg}")
        except ConfigError as error:
            raise _refuse(argument, str(error)) from None
        parameters.append(ParameterDeclaration(argument.arg, ast.unparse(argument.annotation), expected, check))
    return MethodDeclaration(function.name, kind, tuple(parameters))


def _check_annotation(node: ast.expr | None) -> None:
    if node is None:
        return
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id not in ANNOTATION_NAMES:
            raise _refuse(child, f"annotation name {child.id!r} is not a contract type")
        if not isinstance(child, (ast.Name, ast.Subscript, ast.BinOp, ast.BitOr, ast.Constant, ast.Load)):
            raise _refuse(child, "annotations may only name contract types")
        if isinstance(child, ast.Constant) and child.value is not None:
            raise _refuse(child, "annotations may only name contract types")


def _read_event(node: ast.Assign) -> EventDeclaration | None:
    value = node.value
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "event"):
        return None
    texts = [
        argument.value
        for argument in value.args
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    ]
    if value.keywords or len(texts) != len(value.args) or not texts:
        raise _refuse(node, 'declare an event with string constants: Name = event("Name", "field", ...)')
    name, *fields = texts
    try:
        validate_name(name.lower(), "event name")
        for field in fields:
            validate_name(field, "event field")
    except ConfigError as error:
        raise _refuse(node, str(error)) from None
    if len(set(fields)) != len(fields):
        raise _refuse(node, f"event {name} names a field twice")
    return EventDeclaration(name, tuple(fields))


# --- instrumentation ----------------------------------------------------------------------------------


def _hook(name: str) -> ast.Name:
    return ast.Name(id=HOOK_PREFIX + name, ctx=ast.Load())


def _call(name: str, *arguments: ast.expr) -> ast.Call:
    return ast.Call(func=_hook(name), args=list(arguments), keywords=[])


def _constant(value: int | str) -> ast.Constant:
    return ast.Constant(value=value)


def _static_cost(nodes: Iterable[ast.AST]) -> tuple[int, int]:
    """(steps, bytes) of evaluating `nodes` once: one step per expression node, memory for each display."""
    steps = memory = 0
    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, (ast.expr, ast.stmt, ast.keyword)):
                steps += 1
            if isinstance(node, (ast.List, ast.Tuple)) and isinstance(node.ctx, ast.Load):
                memory += CONTAINER_BYTES + ITEM_BYTES * len(node.elts)
            elif isinstance(node, ast.Dict):
                memory += CONTAINER_BYTES + DICT_ENTRY_BYTES * len(node.keys)
            elif isinstance(node, (ast.ListComp, ast.DictComp)):
                memory += CONTAINER_BYTES
    return max(steps, 1), memory


def _header(statement: ast.stmt) -> list[ast.AST]:
    if isinstance(statement, (ast.If, ast.While)):
        return [statement.test]
    if isinstance(statement, ast.For):
        return [statement.iter, statement.target]
    return [statement]


class _Instrumenter(ast.NodeTransformer):
    """Rewrites validated contract code so that every piece of work passes through the runtime."""

    def instrument_body(self, statements: list[ast.stmt], extra_steps: int = 0) -> list[ast.stmt]:
        output: list[ast.stmt] = []
        group: list[ast.stmt] = []
        steps, memory = extra_steps, 0

        def flush() -> None:
            nonlocal steps, memory, group
            if group or steps:
                output.append(ast.Expr(_call("step", _constant(steps), _constant(memory))))
                output.extend(group)
            group, steps, memory = [], 0, 0

        for statement in statements:
            cost_steps, cost_memory = _static_cost(_header(statement))
            if isinstance(statement, _COMPOUND):
                steps += cost_steps
                memory += cost_memory
                flush_statement = self.instrument_compound(statement)
                group.append(flush_statement)
                flush()
            else:
                steps += cost_steps
                memory += cost_memory
                group.append(self.instrument_simple(statement))
        flush()
        return output

    def instrument_compound(self, statement: ast.stmt) -> ast.stmt:
        if isinstance(statement, ast.If):
            statement.test = self.visit(statement.test)
            statement.body = self.instrument_body(statement.body)
            statement.orelse = self.instrument_body(statement.orelse) if statement.orelse else []
        elif isinstance(statement, ast.While):
            test_steps, _ = _static_cost([statement.test])
            statement.test = self.visit(statement.test)
            statement.body = self.instrument_body(statement.body, extra_steps=test_steps)
        elif isinstance(statement, ast.For):
            statement.iter = self.visit(statement.iter)
            statement.body = self.instrument_body(statement.body, extra_steps=1)
        return statement

    def instrument_simple(self, statement: ast.stmt) -> ast.stmt:
        if isinstance(statement, ast.FunctionDef):
            return self.instrument_function(statement)
        if isinstance(statement, ast.AugAssign):
            return self.instrument_aug_assign(statement)
        if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Subscript):
            item = statement.targets[0]
            return ast.Expr(
                _call("setitem", self.visit(item.value), self.visit(item.slice), self.visit(statement.value))
            )
        if isinstance(statement, ast.Delete):
            deletions: list[ast.stmt] = []
            for target in statement.targets:
                assert isinstance(target, ast.Subscript)
                deletions.append(ast.Expr(_call("delitem", self.visit(target.value), self.visit(target.slice))))
            return deletions[0] if len(deletions) == 1 else ast.If(test=_constant(1), body=deletions, orelse=[])
        return self.visit(statement)  # type: ignore[no-any-return]

    def instrument_function(self, function: ast.FunctionDef) -> ast.FunctionDef:
        function.decorator_list = []
        function.returns = None
        for argument in function.args.args:
            argument.annotation = None
        body = self.instrument_body(function.body)
        guarded = ast.Try(body=body, handlers=[], orelse=[], finalbody=[ast.Expr(_call("leave"))])
        function.body = [ast.Expr(_call("enter")), guarded]
        return function

    def instrument_aug_assign(self, statement: ast.AugAssign) -> ast.stmt:
        operation = BINARY_HOOKS[type(statement.op)]
        value = self.visit(statement.value)
        target = statement.target
        if isinstance(target, ast.Name):
            name = ast.Name(id=target.id, ctx=ast.Load())
            return ast.Assign(targets=[ast.Name(id=target.id, ctx=ast.Store())], value=_call(operation, name, value))
        assert isinstance(target, ast.Subscript)
        container = ast.Name(id=target.value.id, ctx=ast.Load())  # type: ignore[attr-defined]
        key = target.slice
        current = _call("getitem", container, key)
        return ast.Expr(_call("setitem", container, key, _call(operation, current, value)))

    # --- expressions ---

    def visit_BinOp(self, node: ast.BinOp) -> ast.expr:
        return _call(BINARY_HOOKS[type(node.op)], self.visit(node.left), self.visit(node.right))

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        operands = [self.visit(node.left), *[self.visit(item) for item in node.comparators]]
        checks: list[ast.expr] = [
            _call("compare", operands[index], operands[index + 1], _constant(COMPARE_CODES[type(op)]))
            for index, op in enumerate(node.ops)
        ]
        return checks[0] if len(checks) == 1 else ast.BoolOp(op=ast.And(), values=checks)

    def visit_Subscript(self, node: ast.Subscript) -> ast.expr:
        value = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            bounds = [
                self.visit(bound) if bound is not None else _constant_none()
                for bound in (node.slice.lower, node.slice.upper, node.slice.step)
            ]
            return _call("slice", value, *bounds)
        return _call("getitem", value, self.visit(node.slice))

    def visit_Attribute(self, node: ast.Attribute) -> ast.expr:
        return _call("getattr", self.visit(node.value), _constant(node.attr))

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.expr:
        node.value = _call("format_value", self.visit(node.value))
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.expr:
        node.keys = [
            key if key is None or isinstance(key, ast.Constant) else _call("check_key", self.visit(key))
            for key in node.keys
        ]
        node.values = [self.visit(value) for value in node.values]
        return node

    def _instrument_generators(self, node: ast.ListComp | ast.DictComp, element: list[ast.expr]) -> None:
        steps, _ = _static_cost(element)
        for generator in node.generators:
            generator.iter = self.visit(generator.iter)
            generator.ifs = [
                _call("each", _constant(steps + 1), _constant(ITEM_BYTES)),
                *[self.visit(condition) for condition in generator.ifs],
            ]

    def visit_ListComp(self, node: ast.ListComp) -> ast.expr:
        self._instrument_generators(node, [node.elt])
        node.elt = self.visit(node.elt)
        return node

    def visit_DictComp(self, node: ast.DictComp) -> ast.expr:
        self._instrument_generators(node, [node.key, node.value])
        node.key = _call("check_key", self.visit(node.key))
        node.value = self.visit(node.value)
        return node


def _constant_none() -> ast.Constant:
    return ast.Constant(value=None)


# --- compile_contract ---------------------------------------------------------------------------------


PARSE_FRAMES_MAX = 900
"""Recursion the parser and compiler may use above `compile_contract`'s caller: the default limit's
worth, whatever another library set the process's limit to, so a deeply nested source is refused
with RecursionError the same way on every node instead of overflowing the C stack."""


def compile_contract(source: str, limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS) -> CompiledContract:
    """Check `source` against the allow-list and instrument it; ContractSourceError says what to change."""
    with bounded_recursion(PARSE_FRAMES_MAX):
        return _compile_contract(source, limits)


def _compile_contract(source: str, limits: SandboxLimits) -> CompiledContract:
    if not isinstance(source, str):
        raise ContractSourceError(f"contract source must be text, found {type(source).__name__}")
    try:
        encoded = source.encode("utf-8")
    except UnicodeEncodeError:
        raise ContractSourceError("contract source must be valid UTF-8 text") from None
    if len(encoded) > limits.source_bytes_max:
        raise ContractSourceError(
            f"contract source is {len(encoded)} bytes; the limit is source_bytes_max = {limits.source_bytes_max}"
        )
    try:
        tree = ast.parse(source, filename="<contract>", mode="exec", type_comments=False)
    except SyntaxError as error:
        raise ContractSourceError(f"contract source has a syntax error at line {error.lineno}: {error.msg}") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ContractSourceError(f"contract source cannot be parsed: {type(error).__name__}") from None
    _check_size(tree, limits)

    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if not isinstance(body[0].value.value, str):
            raise _refuse(body[0], "a module may start with a docstring; other bare expressions are not allowed")
        body = body[1:]
        tree.body = body

    imports: list[str] = []
    module_names: set[str] = set()
    functions: list[ast.FunctionDef] = []
    events: list[EventDeclaration] = []
    for statement in body:
        if isinstance(statement, ast.ImportFrom):
            if statement.module != LIBRARY_MODULE or statement.level != 0:
                raise _refuse(statement, f"imports are not allowed except `from {LIBRARY_MODULE} import ...`")
            for alias in statement.names:
                if alias.name not in LIBRARY_NAMES:
                    raise _refuse(statement, f"{LIBRARY_MODULE} has no {alias.name!r}")
                if alias.asname is not None:
                    raise _refuse(statement, "import ... as ... is not allowed: use the library's names")
                imports.append(alias.name)
        elif isinstance(statement, ast.FunctionDef):
            _check_binding(statement, statement.name, "function")
            if statement.name in module_names:
                raise _refuse(statement, f"{statement.name!r} is defined twice")
            module_names.add(statement.name)
            functions.append(statement)
        elif isinstance(statement, ast.Assign):
            target = statement.targets[0] if len(statement.targets) == 1 else None
            if not isinstance(target, ast.Name):
                raise _refuse(statement, "module level may only assign one name: NAME = value")
            _check_binding(target, target.id, "name")
            if target.id in module_names:
                raise _refuse(statement, f"{target.id!r} is defined twice")
            declared = _read_event(statement)
            if declared is not None:
                if any(existing.name == declared.name for existing in events):
                    raise _refuse(statement, f"event {declared.name} is declared twice")
                events.append(declared)
            # The value may only use names defined above it.
            _Validator(set(module_names), set(imports)).check_tree(statement.value, None)
            module_names.add(target.id)
        else:
            hint = _REFUSED_HINTS.get(type(statement))
            if hint is not None:
                raise _refuse(statement, hint)
            raise _refuse(
                statement, "module level holds only imports, NAME = value assignments and function definitions"
            )

    validator = _Validator(module_names, set(imports))
    methods: dict[str, MethodDeclaration] = {}
    migration: str | None = None
    for function in functions:
        validator.check_node(function, None)
        validator.check_node(function.args, None)
        for argument in function.args.args:
            validator.check_node(argument, None)
            _check_annotation(argument.annotation)
        _check_annotation(function.returns)
        for default in function.args.defaults:
            validator.check_tree(default, None)
        local_names = _function_locals(function)
        for statement in function.body:
            validator.check_tree(statement, local_names)
        kinds = []
        for decorator in function.decorator_list:
            if not isinstance(decorator, ast.Name) or decorator.id not in DECORATOR_NAMES:
                raise _refuse(decorator, "the only decorators are @method, @view and @migration")
            if decorator.id not in imports:
                raise _refuse(decorator, f"@{decorator.id} must be imported from {LIBRARY_MODULE}")
            kinds.append(decorator.id)
        if len(kinds) > 1:
            raise _refuse(function, f"{function.name} has more than one decorator")
        if kinds:
            declaration = _read_entry_point(function, kinds[0])
            if declaration.kind == KIND_MIGRATION:
                if migration is not None:
                    raise _refuse(function, "a contract declares at most one @migration")
                migration = function.name
            methods[function.name] = declaration
    if not any(item.kind != KIND_MIGRATION for item in methods.values()):
        raise _refuse(None, "the contract has no @method or @view entry points")

    instrumented = _Instrumenter()
    tree.body = instrumented.instrument_body([s for s in tree.body if not isinstance(s, ast.ImportFrom)])
    ast.fix_missing_locations(tree)
    try:
        code = compile(tree, "<contract>", "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise ContractSourceError(f"contract source cannot be compiled: {error}") from None
    bindings = sorted(
        {
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name)
            and (node.id.startswith(HOOK_PREFIX) or node.id in BUILTIN_NAMES or node.id in imports)
        }
    )
    return CompiledContract(
        source=source,
        code_hash_input=encoded,
        code=code,
        imports=tuple(imports),
        methods=methods,
        events=tuple(events),
        migration=migration,
        limits=limits,
        bindings=tuple(bindings),
    )


def describe_declarations(compiled: CompiledContract) -> dict[str, Any]:
    """The contract's interface as plain data (what a client generator or `contract show` prints)."""
    return {
        "methods": {
            name: {"kind": item.kind, "parameters": [[p.name, p.annotation] for p in item.parameters]}
            for name, item in sorted(compiled.methods.items())
        },
        "events": {event.name: list(event.fields) for event in compiled.events},
        "migration": compiled.migration,
    }


Hook = Callable[..., Value]
