"""Consensus: the engine seam (events in, actions out) and the solo orderer.

See docs/consensus.md for the seam and how the BFT engine plugs into it.
"""

from gusu.consensus.engine import ConsensusEngine
from gusu.consensus.events import (
    TIMER_PROPOSE,
    Action,
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    Event,
    MessageReceived,
    ProposalBuilt,
    ScheduleTimer,
    Start,
    TimerFired,
    TransactionsAvailable,
)
from gusu.consensus.solo import SOLO_ROUND, SoloEngine, SoloSettings

__all__ = [
    "SOLO_ROUND",
    "TIMER_PROPOSE",
    "Action",
    "AppendWal",
    "BlockCommitted",
    "Broadcast",
    "BuildProposal",
    "CommitBlock",
    "ConsensusEngine",
    "Event",
    "MessageReceived",
    "ProposalBuilt",
    "ScheduleTimer",
    "SoloEngine",
    "SoloSettings",
    "Start",
    "TimerFired",
    "TransactionsAvailable",
]
