"""`gusu_getEvents` (and ``GET /v1/contracts/{contract}/events``): a contract's past events.

The events Gusu contracts emit live in the receipts of their transactions; the node has no index of
them, so a query scans the receipts of a bounded range of committed blocks (`NodeService.get_events`).
Both the range (``[api] events_block_range_max``) and the answer (``events_results_max``) are bounded:
beyond either the request is refused with ``request_too_large`` and the client narrows the range, as
with eth_getLogs. Answers are as of the node's tip: blocks above it are not searched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gusu.api.errors import ContractUnknownParamsError, InvalidParamsError, LimitExceededError, RangeInvalidError
from gusu.api.methods import encoded_value_to_json
from gusu.api.params import Params, expect_name, expect_uint_text
from gusu.api.settings import ApiSettings
from gusu.ledger.jsonview import JSON, JSONObject, bytes_to_hex
from gusu.ledger.types import Height
from gusu.node.service import EventRecord, NodeService


@dataclass(frozen=True, slots=True)
class EventQuery:
    """What one request asks: `contract`'s events (called `name`, unless None) in blocks `from_height` to
    `to_height`; None for `to_height` is the tip, for `from_height` the widest range the settings allow."""

    contract: str
    name: str | None
    from_height: Height | None
    to_height: Height | None


def parse_event_query_params(params: Params) -> EventQuery:
    """The JSON-RPC params ``[contract, from_height?, to_height?, name?]``."""
    contract = expect_name(params.raw(0), params.what(0))
    from_height = Height(params.uint(1)) if params.has(1) else None
    to_height = Height(params.uint(2)) if params.has(2) else None
    name = expect_name(params.raw(3), params.what(3)) if params.has(3) else None
    return EventQuery(contract, name, from_height, to_height)


def parse_event_query_text(contract_text: str, query: Mapping[str, str]) -> EventQuery:
    """The REST path's contract and query parameters ``from_height``, ``to_height`` and ``name``."""
    unknown = sorted(key for key in query if key not in ("from_height", "to_height", "name"))
    if unknown:
        # A misspelt parameter would otherwise be silently ignored, and the answer cover other blocks.
        raise InvalidParamsError(
            f"unknown query parameter(s) {', '.join(repr(key[:40]) for key in unknown[:5])}; "
            "allowed: from_height, to_height, name"
        )
    contract = expect_name(contract_text, "the path's contract")
    heights: list[Height | None] = []
    for key in ("from_height", "to_height"):
        text = query.get(key)
        heights.append(None if text is None else Height(expect_uint_text(text, f"the query parameter {key}")))
    name_text = query.get("name")
    name = None if name_text is None else expect_name(name_text, "the query parameter name")
    return EventQuery(contract, name, heights[0], heights[1])


def get_events_json(node: NodeService, settings: ApiSettings, query: EventQuery, tip: Height) -> JSONObject:
    """The answer to `query` as of the tip `tip`: the range searched and its events, oldest first.

    Invalid params, each with its own code: ``contract_unknown`` for a contract that runs nothing here (404
    over REST), ``range_invalid`` for an inverted range, ``request_too_large`` (`LimitExceededError`) for a
    range wider than ``events_block_range_max``, more than ``events_results_max`` events or more than
    ``events_receipts_max`` receipts to read.
    """
    range_max = settings.events_block_range_max
    if not node.is_contract_known(query.contract):
        raise ContractUnknownParamsError(
            f"no contract named {query.contract!r} runs on this chain; give the name of a built-in contract "
            "or of one deployed by transaction (`gusu contract show NAME` tells whether one is)"
        )
    to_height = tip if query.to_height is None else query.to_height
    if query.from_height is None:
        from_height = max(0, to_height - range_max + 1)
    else:
        from_height = query.from_height
        if query.to_height is not None and from_height > to_height:
            raise RangeInvalidError(
                f"from_height {from_height} is above to_height {to_height}; give the lower height first"
            )
    span = to_height - from_height + 1
    if span > range_max:
        raise LimitExceededError(
            f"blocks {from_height} to {to_height} are {span} blocks; one query searches at most {range_max} "
            "([api] events_block_range_max), so split the range"
        )
    searched_to = min(to_height, tip)
    records: tuple[EventRecord, ...] = ()
    if from_height <= searched_to:
        scan = node.get_events(
            query.contract,
            query.name,
            Height(from_height),
            Height(searched_to),
            settings.events_results_max + 1,
            settings.events_receipts_max,
        )
        if len(scan.events) > settings.events_results_max:
            raise LimitExceededError(
                f"blocks {from_height} to {searched_to} hold more than {settings.events_results_max} matching "
                "events ([api] events_results_max); narrow the block range or filter by event name"
            )
        if scan.is_cut_short:
            raise LimitExceededError(
                f"blocks {from_height} to {searched_to} hold more than {settings.events_receipts_max} transactions "
                "to read ([api] events_receipts_max); narrow the block range"
            )
        records = scan.events
    events: list[JSON] = [_event_record_json(record) for record in records]
    return {
        "contract": query.contract,
        "name": query.name,
        "from_height": from_height,
        "to_height": searched_to,
        "events": events,
    }


def _event_record_json(record: EventRecord) -> JSONObject:
    return {
        "height": record.height,
        "block_hash": bytes_to_hex(record.block_hash),
        "transaction_id": bytes_to_hex(record.transaction_id),
        "index": record.index,
        "event_index": record.event_index,
        "contract": record.event.contract,
        "name": record.event.name,
        "data": encoded_value_to_json(record.event.data),
    }
