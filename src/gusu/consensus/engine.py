"""The one interface every consensus engine implements: events in, actions out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from gusu.consensus.events import Action, Event


class ConsensusEngine(ABC):
    """A deterministic state machine deciding one block per height.

    Implementations read no clock and do no I/O: given the same events in
    the same order they return the same actions, so a seeded simulator can
    drive the real engine. Events an engine does not expect (a stale timer,
    a reply for a superseded proposal, a message solo has no use for) are
    ignored with no actions rather than raised, because with timers and a
    network such races are normal.
    """

    name: ClassVar[str]
    """Reported in node status, e.g. ``"solo"``."""

    @abstractmethod
    def on_event(self, event: Event) -> list[Action]:
        """Advance on `event` and return what the node must do, in order."""
