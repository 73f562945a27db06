"""Schemathesis extension for the API's schema fuzzing (test_api_schema_fuzz.py).

Loaded through SCHEMATHESIS_HOOKS. The stock `positive_data_acceptance`
check cannot tell a request the document should have ruled out from one
the chain rejects for what it means (a contract that does not exist, bytes
that are no signed transaction): both are 400. Gusu's error codes can:
`params_invalid` and `request_invalid` say "this request is malformed",
so a request the document calls valid must never get one.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

MALFORMED_CODES = frozenset({"params_invalid", "request_invalid", "json_invalid"})


def _has_float(value: object) -> bool:
    """Whether a JSON value holds a number written as a float, such as -1289.0.

    JSON Schema counts -1289.0 as an integer; Gusu does not (the document
    says integers are written without a fraction or exponent), and no
    schema keyword can say so, so such requests are not judged here.
    """
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(item) for item in value)
    if isinstance(value, dict):
        return any(_has_float(item) for item in value.values())
    return False


@schemathesis.check
def schema_valid_request_is_not_malformed(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request generated from the document is never refused as malformed."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    if _has_float(case.body):
        return None
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if code in MALFORMED_CODES or code is None:
        raise AssertionError(
            f"a request valid under /openapi.json was refused as malformed ({code}): "
            f"{response.content[:300]!r}; make the document state the constraint, or the server accept it"
        )
    return None
