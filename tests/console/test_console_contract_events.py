"""A Python contract's event history on its console page, without a node: the entries the pager orders,
the windows it halves when the node refuses one, and how an event's fields are shown.

Against a real node (an event sent with the SDK shows up): test_console_writes.py and the browser test.
"""

from __future__ import annotations

import asyncio

from gusu.console.contracts import HistoryEvent, compute_event_fields
from gusu.console.contracts_evm import LogPosition, get_history_page
from gusu.errors import RemoteError
from gusu.ledger.types import Hash, Height
from gusu.sdk import ContractEventView
from gusu.sdk.contracts import ContractInterface, EventSchema


def _event(height: int, index: int, event_index: int = 0, name: str = "Transfer") -> ContractEventView:
    transaction = Hash(height.to_bytes(16, "big") + index.to_bytes(16, "big"))
    return ContractEventView(Height(height), Hash(bytes(32)), transaction, index, event_index, "coin", name, [index, 1])


class FakeEvents:
    """gusu_getEvents over `events`; refuses a range holding more than `results_max` of them, as a node does."""

    def __init__(self, events: list[ContractEventView], results_max: int) -> None:
        self.events = events
        self.results_max = results_max
        self.calls: list[tuple[int, int]] = []

    async def __call__(self, from_height: int, to_height: int) -> list[HistoryEvent]:
        self.calls.append((from_height, to_height))
        found = [HistoryEvent(event) for event in self.events if from_height <= event.height <= to_height]
        if len(found) > self.results_max:
            raise RemoteError("request_too_large", "more than the limit of matching events; narrow the block range")
        return found


def test_entries_order_by_transaction_then_place_in_the_receipt() -> None:
    entries = [HistoryEvent(_event(7, 0, 1023)), HistoryEvent(_event(7, 1, 0)), HistoryEvent(_event(7, 0, 3))]
    ordered = sorted(entries, key=lambda entry: (entry.block_height, entry.log_index))
    assert [(entry.event.index, entry.event.event_index) for entry in ordered] == [(0, 3), (0, 1023), (1, 0)]
    assert HistoryEvent(_event(9, 99_999, 1023)).log_index < 10**9  # fits the cursor's nine digits


def test_the_pager_halves_a_refused_window_and_pages_back_newest_first() -> None:
    busy = [_event(height, index) for height in range(900, 1000) for index in range(3)]
    quiet = [_event(10, 0, 0), _event(10, 0, 1)]
    fake = FakeEvents(quiet + busy, results_max=100)

    async def main() -> None:
        first = await get_history_page(fake, 1_000, 0, None, 20, 1_000, 20_000)
        assert fake.calls[0] == (1, 1_000)  # refused: 302 events
        assert fake.calls[1] == (501, 1_000)  # the window halved
        assert fake.calls[2][1] - fake.calls[2][0] + 1 <= 250
        shown = [(entry.block_height, entry.event.index) for entry in first.logs]
        assert shown == [(height, index) for height in range(999, 900, -1) for index in (2, 1, 0)][:20]
        assert first.next_before == LogPosition(shown[-1][0], first.logs[-1].log_index)
        # Paging on reaches the quiet block's two events, in their receipt's order, newest first.
        page = first
        seen = list(first.logs)
        while page.next_before is not None:
            page = await get_history_page(fake, 1_000, 0, page.next_before, 20, 1_000, 20_000)
            seen += page.logs
        assert [(entry.block_height, entry.event.event_index) for entry in seen[-2:]] == [(10, 1), (10, 0)]
        assert len(seen) == len(busy) + len(quiet) and len(
            {(entry.block_height, entry.log_index) for entry in seen}
        ) == len(seen)

    asyncio.run(main())


def test_fields_are_named_by_the_interface_when_it_declares_the_event() -> None:
    interface = ContractInterface(methods=(), events=(EventSchema("Transfer", ("to", "amount")),), migration=None)
    assert compute_event_fields(_event(3, 2), interface) == '{"to": 2, "amount": 1}'
    assert compute_event_fields(_event(3, 2, name="Other"), interface) == "[2, 1]"
    assert compute_event_fields(_event(3, 2), None) == "[2, 1]"
    long = ContractEventView(Height(1), Hash(bytes(32)), Hash(bytes(32)), 0, 0, "coin", "Big", "x" * 10_000)
    assert compute_event_fields(long, None).endswith("…") and len(compute_event_fields(long, None)) == 4097
