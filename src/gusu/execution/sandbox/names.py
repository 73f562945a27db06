"""The names a contract may use: the restricted builtins, the `gusu_contract` library and annotation types.

Shared by the compiler (which refuses every other name) and the runtime
(which binds exactly these, fresh for every call).
"""

from __future__ import annotations

BUILTIN_NAMES: frozenset[str] = frozenset(
    {
        "abs",
        "all",
        "any",
        "bool",
        "bytes",
        "chr",
        "dict",
        "divmod",
        "enumerate",
        "int",
        "isinstance",
        "len",
        "list",
        "max",
        "min",
        "ord",
        "range",
        "reversed",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
    }
)
"""Deterministic builtins, each wrapped so that its cost is charged before it runs."""

LIBRARY_MODULE = "gusu_contract"

LIBRARY_NAMES: frozenset[str] = frozenset(
    {
        # declarations
        "method",
        "view",
        "migration",
        "event",
        "emit",
        # failing a call
        "require",
        "abort",
        # facts of the call and the block
        "sender",
        "contract_name",
        "block_height",
        "block_timestamp_ms",
        "chain_id",
        "transaction_id",
        "origin",
        "contract_address",
        # calling other contracts
        "call_contract",
        "read_contract",
        "try_call_contract",
        # typed storage
        "Map",
        "Array",
        "Counter",
        # hashing and encoding
        "sm3",
        "keccak256",
        "encode",
        "decode",
        # fixed-point money (integers scaled by 10**decimals; no float, no Decimal)
        "fixed_mul",
        "fixed_div",
        "fixed_text",
        # annotation types
        "Address",
        "Hash",
    }
)
"""What ``from gusu_contract import ...`` may import."""

DECORATOR_NAMES: frozenset[str] = frozenset({"method", "view", "migration"})

ANNOTATION_NAMES: frozenset[str] = frozenset({"int", "str", "bytes", "bool", "list", "Address", "Hash", "None"})

RESERVED_NAMES: frozenset[str] = BUILTIN_NAMES | LIBRARY_NAMES | ANNOTATION_NAMES | frozenset({"True", "False"})
"""Names a contract may read but never bind: shadowing one could redirect a guard or a builtin."""

HOOK_PREFIX = "__gusu_"
"""Names the instrumentation inserts; contract source cannot spell them (it may not use names starting with _)."""
