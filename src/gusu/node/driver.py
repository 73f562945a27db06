"""The engine driver: hands events to a consensus engine and carries out its actions, in order.

This is the node's side of the consensus seam (`gusu.consensus.events` states
the contract), written once and used by both the node (`gusu.node.node.Node`)
and the simulator (`gusu.eval.simulation.cluster`): what differs between them
(real timers and TLS peers, or a simulated clock and network) lives in the
`ActionHandler` each passes in, not in how actions are sequenced.

The rules it keeps:

* actions run in list order, and an action's follow-up event (`ProposalBuilt`
  for a synchronous build, `BlockCommitted`, `ProposalValidated` from cache)
  goes to the engine at once, its actions joining the end of the list;
* after a `BlockCommitted` the engine also hears what the commit left in the
  pool (`TransactionsAvailable`), from which it decides whether to go on;
* before each action the handler is asked whether to go on
  (`ActionHandler.may_continue`): a handler that has stopped (a local fault,
  or in the simulator a crash in the middle of a list) ends the list there, so
  nothing after a failed WAL append is ever carried out;
* a local fault (`StorageError`, `MemoryError`) raised by an action goes to
  `ActionHandler.on_local_fault` and ends the list: it must stop the node,
  never become a vote, a receipt or a verdict about a peer.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from gusu.consensus import (
    Action,
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    ConsensusEngine,
    Event,
    PrepareProposal,
    ReportEvidence,
    RewriteWal,
    ScheduleTimer,
    SendMessage,
    TransactionsAvailable,
    ValidateProposal,
)
from gusu.errors import StorageError


class ActionHandler(Protocol):
    """How one node carries out the engine's actions (see `gusu.consensus.events` for each contract)."""

    def is_running(self) -> bool:
        """Checked before an event is handed over and before a follow-up event; False drops it."""

    def may_continue(self, applied: int) -> bool:
        """Checked before each action, with how many of this event's actions were carried out so far;
        False ends the list (a stopped node; in the simulator, a crash in the middle of a list)."""

    def on_local_fault(self, error: BaseException) -> None:
        """A local fault (disk, memory) ended the list: stop the node."""

    def get_pool_event(self) -> TransactionsAvailable: ...

    def apply_schedule_timer(self, action: ScheduleTimer) -> None: ...

    def apply_build_proposal(self, action: BuildProposal) -> Event | None: ...

    def apply_prepare_proposal(self, action: PrepareProposal) -> None:
        """Only a hint: the block of that height and timestamp may be started early (or not at all)."""

    def apply_validate_proposal(self, action: ValidateProposal) -> Event | None: ...

    def apply_commit_block(self, action: CommitBlock) -> Event | None: ...

    def apply_append_wal(self, action: AppendWal) -> None:
        """Durable before this returns: the next actions may reveal what it records."""

    def apply_rewrite_wal(self, action: RewriteWal) -> None:
        """Atomic and durable before this returns (Raft's WAL snapshot)."""

    def apply_broadcast(self, action: Broadcast) -> None: ...

    def apply_send_message(self, action: SendMessage) -> None: ...

    def apply_report_evidence(self, action: ReportEvidence) -> None: ...


class EngineDriver:
    """Feeds events to `engine` and carries out the actions through `handler`."""

    def __init__(self, engine: ConsensusEngine, handler: ActionHandler) -> None:
        self._engine = engine
        self._handler = handler

    @property
    def engine(self) -> ConsensusEngine:
        return self._engine

    def on_event(self, event: Event) -> None:
        """Hand `event` to the engine and carry out every action that follows from it."""
        handler = self._handler
        if not handler.is_running():
            return
        engine = self._engine
        try:
            pending: deque[Action] = deque(engine.on_event(event))
            applied = 0
            while pending and handler.may_continue(applied):
                follow_up = self._apply(pending.popleft())
                applied += 1
                if follow_up is not None and handler.is_running():
                    pending.extend(engine.on_event(follow_up))
                    if isinstance(follow_up, BlockCommitted):
                        # What the commit left in the pool: the engine decides from it whether to go on.
                        pending.extend(engine.on_event(handler.get_pool_event()))
        except (StorageError, MemoryError) as error:
            handler.on_local_fault(error)

    def _apply(self, action: Action) -> Event | None:
        handler = self._handler
        if isinstance(action, ScheduleTimer):
            handler.apply_schedule_timer(action)
        elif isinstance(action, AppendWal):
            handler.apply_append_wal(action)
        elif isinstance(action, RewriteWal):
            handler.apply_rewrite_wal(action)
        elif isinstance(action, BuildProposal):
            return handler.apply_build_proposal(action)
        elif isinstance(action, PrepareProposal):
            handler.apply_prepare_proposal(action)
        elif isinstance(action, ValidateProposal):
            return handler.apply_validate_proposal(action)
        elif isinstance(action, CommitBlock):
            return handler.apply_commit_block(action)
        elif isinstance(action, Broadcast):
            handler.apply_broadcast(action)
        elif isinstance(action, SendMessage):
            handler.apply_send_message(action)
        elif isinstance(action, ReportEvidence):
            handler.apply_report_evidence(action)
        else:
            raise AssertionError(f"unknown consensus action {action!r}")
        return None
