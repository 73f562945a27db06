"""Strict checks of request parameters, with messages that say what was expected.

JSON-RPC params, REST path and query parameters and REST bodies all pass
through these helpers, so one malformed input gets the same explanation
whichever way it arrived. Every failure is an `InvalidParamsError`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from gusu.api.errors import InvalidParamsError
from gusu.codec import encode
from gusu.errors import CodecError
from gusu.ledger.jsonview import JSON, JSONObject, hex_to_bytes, value_from_json
from gusu.ledger.types import (
    ADDRESS_SIZE,
    BLOCK_TRANSACTIONS_MAX,
    NAME_LENGTH_MAX,
    TRANSACTION_ARGS_BYTES_MAX,
    Address,
    Height,
)

HEIGHT_MAX = 2**63 - 1
"""Heights are stored as signed 64-bit integers at most."""

SENDER_TRANSACTIONS_DEFAULT = 50
"""Page size of an account's history when the request names none (capped by `sender_transactions_max`)."""

EVIDENCE_RECORDS_DEFAULT = 20
"""Page size of the evidence list when the request names none (capped by `evidence_records_max`)."""

FLAG_TEXTS: dict[str, bool] = {"true": True, "false": False, "1": True, "0": False}
"""The spellings a boolean query parameter accepts, and their meanings."""

_PREVIEW_LENGTH_MAX = 40


def describe(value: object) -> str:
    """A short description of a JSON value for error messages (never the whole of a big input)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        # The JSON parser turns integers beyond 64 bits into floats too.
        return f"the number {value!r} (not an integer, or beyond the 64-bit range)"
    if isinstance(value, str):
        preview = value if len(value) <= _PREVIEW_LENGTH_MAX else value[:_PREVIEW_LENGTH_MAX] + "..."
        return f"the string {preview!r}"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def expect_hex(value: object, what: str, size: int | None = None, size_max: int | None = None) -> bytes:
    try:
        data = hex_to_bytes(value, size, what=what)
    except CodecError as error:
        raise InvalidParamsError(str(error)) from error
    if size_max is not None and len(data) > size_max:
        raise InvalidParamsError(f"{what} is {len(data)} bytes; the limit is {size_max}")
    return data


def expect_raw_transaction(value: object, what: str) -> bytes:
    """A signed, encoded transaction as hex: never empty (no encoding of a transaction is)."""
    raw = expect_hex(value, what)
    if not raw:
        raise InvalidParamsError(f"{what} is empty; give the signed transaction's bytes as 0x-prefixed hex")
    return raw


def expect_uint(value: object, what: str, maximum: int = HEIGHT_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidParamsError(f"{what} must be an integer, found {describe(value)}")
    if value < 0 or value > maximum:
        raise InvalidParamsError(f"{what} must be between 0 and {maximum}, found {value}")
    return value


def expect_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParamsError(f"{what} must be true or false, found {describe(value)}")
    return value


def expect_name(value: object, what: str) -> str:
    """A contract, method or event name: a non-empty string within the ledger's limit."""
    if not isinstance(value, str):
        raise InvalidParamsError(f"{what} must be a string, found {describe(value)}")
    if not value:
        raise InvalidParamsError(f"{what} must not be empty")
    if len(value) > NAME_LENGTH_MAX:
        raise InvalidParamsError(f"{what} is {len(value)} characters; the limit is {NAME_LENGTH_MAX}")
    return value


def expect_list(value: object, what: str) -> list[JSON]:
    if not isinstance(value, list):
        raise InvalidParamsError(f"{what} must be an array, found {describe(value)}")
    return value


def expect_object(value: object, what: str, required: Collection[str], optional: Collection[str]) -> JSONObject:
    """A JSON object with all `required` keys and no key outside `required` and `optional`."""
    if not isinstance(value, dict):
        raise InvalidParamsError(f"{what} must be an object, found {describe(value)}")
    missing = [key for key in required if key not in value]
    if missing:
        raise InvalidParamsError(f"{what} lacks the field(s) {', '.join(missing)}")
    allowed = set(required) | set(optional)
    unknown = sorted(key for key in value if key not in allowed)
    if unknown:
        # A misspelt optional field would otherwise be silently ignored.
        shown = ", ".join(repr(key[:_PREVIEW_LENGTH_MAX]) for key in unknown[:5])
        raise InvalidParamsError(f"{what} has unknown field(s) {shown}; allowed: {', '.join(sorted(allowed))}")
    return value


def expect_flag(text: str | None, what: str) -> bool:
    """A boolean query parameter: absent means false; otherwise exactly one of `FLAG_TEXTS`."""
    if text is None:
        return False
    if text not in FLAG_TEXTS:
        # Exactly what /openapi.json lists: a lax parser would make the document lie.
        raise InvalidParamsError(f"{what} must be true or false (or 1 or 0), found {describe(text)}")
    return FLAG_TEXTS[text]


def expect_height_text(text: str, what: str) -> int:
    """A height written in a URL path: decimal digits only."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(HEIGHT_MAX)):
        raise InvalidParamsError(f"{what} must be a block height (a non-negative integer), found {describe(text)}")
    return expect_uint(int(text), what)


def expect_uint_text(text: str, what: str, maximum: int = HEIGHT_MAX) -> int:
    """A non-negative integer written in a URL query: decimal digits only."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        raise InvalidParamsError(f"{what} must be a non-negative integer, found {describe(text)}")
    return expect_uint(int(text), what, maximum)


def expect_page_limit(value: object, what: str, maximum: int, default: int = SENDER_TRANSACTIONS_DEFAULT) -> int:
    """How many records one page may hold: absent (None) means `default`, else 1 to `maximum`."""
    if value is None:
        return min(default, maximum)
    limit = expect_uint(value, what)
    if not 1 <= limit <= maximum:
        raise InvalidParamsError(f"{what} must be between 1 and {maximum}, found {limit}")
    return limit


def expect_position(value: object, what: str) -> tuple[Height, int]:
    """A place in the chain, ``{"height": h, "index": i}``: the cursor of a paged history."""
    fields = expect_object(value, what, required=("height", "index"), optional=())
    height = expect_uint(fields["height"], f"{what} field height")
    # Index BLOCK_TRANSACTIONS_MAX itself is past any stored transaction: "before the whole block".
    index = expect_uint(fields["index"], f"{what} field index", BLOCK_TRANSACTIONS_MAX)
    return Height(height), index


@dataclass(frozen=True, slots=True)
class CallRequest:
    contract: str
    method: str
    args: bytes
    """The canonical encoding of the argument list, as a transaction would carry it."""
    sender: Address | None


def parse_call_request(value: object, what: str) -> CallRequest:
    """`{"contract", "method", "args", "sender"?}` as `gusu_call` and ``POST /v1/call`` take it."""
    fields = expect_object(value, what, required=("contract", "method", "args"), optional=("sender",))
    contract = expect_name(fields["contract"], f"{what} field contract")
    method = expect_name(fields["method"], f"{what} field method")
    args_json = expect_list(fields["args"], f"{what} field args")
    try:
        args = encode(value_from_json(args_json))
    except CodecError as error:
        raise InvalidParamsError(f"{what} field args is not a list of contract values: {error}") from error
    if len(args) > TRANSACTION_ARGS_BYTES_MAX:
        raise InvalidParamsError(
            f"{what} field args encodes to {len(args)} bytes; the limit is {TRANSACTION_ARGS_BYTES_MAX}"
        )
    sender_json = fields.get("sender")
    sender = (
        None
        if sender_json is None
        else Address(expect_hex(sender_json, f"{what} field sender (an address)", size=ADDRESS_SIZE))
    )
    return CallRequest(contract=contract, method=method, args=args, sender=sender)


class Params:
    """A JSON-RPC method's positional params, checked against its signature.

    `names` lists the params in order; those after `required_count` are
    optional. Messages name the method, the position and the param.
    """

    __slots__ = ("_method", "_names", "_values")

    def __init__(self, method: str, values: JSON, names: tuple[str, ...], required_count: int) -> None:
        self._method = method
        self._names = names
        signature = (
            "[" + ", ".join(name if index < required_count else f"{name}?" for index, name in enumerate(names)) + "]"
        )
        if isinstance(values, dict):
            raise InvalidParamsError(
                f"{method} takes its params by position, as an array {signature}, not as an object"
            )
        if not isinstance(values, list):
            raise InvalidParamsError(f"{method} params must be an array {signature}, found {describe(values)}")
        if not required_count <= len(values) <= len(names):
            count = str(required_count) if required_count == len(names) else f"{required_count} to {len(names)}"
            raise InvalidParamsError(f"{method} takes {count} params {signature}; found {len(values)}")
        self._values = values

    def what(self, index: int) -> str:
        return f"{self._method} param {index} ({self._names[index]})"

    def has(self, index: int) -> bool:
        return index < len(self._values) and self._values[index] is not None

    def raw(self, index: int) -> JSON:
        return self._values[index]

    def hex(self, index: int, size: int | None = None, size_max: int | None = None) -> bytes:
        return expect_hex(self._values[index], self.what(index), size, size_max)

    def uint(self, index: int, maximum: int = HEIGHT_MAX) -> int:
        return expect_uint(self._values[index], self.what(index), maximum)

    def flag(self, index: int) -> bool:
        """An optional boolean: absent or null means false."""
        return expect_bool(self._values[index], self.what(index)) if self.has(index) else False
