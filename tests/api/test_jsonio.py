"""parse_json: the nesting bound holds whether or not the bracket count lets the walk be skipped."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gusu.api.jsonio import json_depth_exceeds, parse_json
from gusu.errors import RequestTooLargeError

DEPTH_MAX = 6


def _nested(depth: int, *, is_object: bool = False) -> object:
    value: object = "x"
    for _ in range(depth):
        value = {"k": value} if is_object else [value]
    return value


@pytest.mark.parametrize("is_object", [False, True])
@pytest.mark.parametrize("as_text", [False, True])
def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused(is_object: bool, as_text: bool) -> None:
    for depth, is_refused in ((DEPTH_MAX, False), (DEPTH_MAX + 1, True)):
        payload = orjson.dumps(_nested(depth, is_object=is_object))
        if is_refused:
            with pytest.raises(RequestTooLargeError, match="deeper than 6 levels"):
                parse_json(payload.decode() if as_text else payload, DEPTH_MAX, "the request", "JSON")
        else:
            assert parse_json(payload.decode() if as_text else payload, DEPTH_MAX, "the request", "JSON")


def test_brackets_inside_strings_do_not_refuse_a_shallow_request() -> None:
    payload = orjson.dumps({"params": ["[{" * 50, {"a": "]]"}]})
    assert parse_json(payload, DEPTH_MAX, "the request", "JSON") == {"params": ["[{" * 50, {"a": "]]"}]}


json_values = st.recursive(
    st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(alphabet="[]{}ab", max_size=4),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3),
    max_leaves=20,
)


@given(json_values)
def test_the_bound_is_the_walks_for_any_document(document: object) -> None:
    payload = orjson.dumps(document)
    if json_depth_exceeds(document, DEPTH_MAX):  # type: ignore[arg-type]
        with pytest.raises(RequestTooLargeError):
            parse_json(payload, DEPTH_MAX, "the request", "JSON")
    else:
        assert parse_json(payload, DEPTH_MAX, "the request", "JSON") == document
