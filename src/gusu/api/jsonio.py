"""Reading JSON from clients: strict UTF-8, bounded nesting, errors that say what is wrong."""

from __future__ import annotations

import orjson

from gusu.api.errors import JsonInvalidError
from gusu.errors import RequestTooLargeError
from gusu.ledger.jsonview import JSON


def parse_json(payload: bytes | str, depth_max: int, what: str, expected: str) -> JSON:
    """Parse `payload` (`what`: "the request", "the request body"; `expected`: what to send instead)."""
    if not payload or payload.isspace():
        raise JsonInvalidError(f"{what} is empty; send {expected}")
    try:
        document: JSON = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        # orjson stops at 1024 levels before our own check could run.
        if "depth limit" in str(error):
            raise RequestTooLargeError(f"{what} nests JSON deeper than {depth_max} levels") from error
        raise JsonInvalidError(f"{what} is not valid UTF-8 JSON ({error}); send {expected}") from error
    # Every array or object opens with a bracket in the text (brackets inside strings only add to the count), so
    # a request with fewer brackets than the limit cannot nest past it: most requests skip the walk.
    brackets = (
        payload.count(b"[") + payload.count(b"{")
        if isinstance(payload, bytes)
        else payload.count("[") + payload.count("{")
    )
    if brackets > depth_max and json_depth_exceeds(document, depth_max):
        raise RequestTooLargeError(f"{what} nests JSON deeper than {depth_max} levels")
    return document


def json_depth_exceeds(document: JSON, depth_max: int) -> bool:
    """Whether arrays and objects nest more than `depth_max` levels (iteratively: no recursion limit)."""
    stack: list[tuple[JSON, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        children: list[JSON]
        if isinstance(value, list):
            children = value
        elif isinstance(value, dict):
            children = list(value.values())
        else:
            continue
        if depth > depth_max:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False
