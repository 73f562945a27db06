"""Consensus: the engine seam (events in, actions out) and the solo orderer.

See docs/consensus.md for the seam and how the BFT engine plugs into it.
The Tendermint BFT engine and its helpers are described in docs/bft.md.
"""

from gusu.consensus.certificate import (
    assemble_commit_certificate,
    compute_block_time_ms,
    verify_commit_certificate,
)
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
    PeersChanged,
    ProposalBuilt,
    ProposalValidated,
    ReportEvidence,
    RewriteWal,
    ScheduleTimer,
    SendMessage,
    Start,
    TimerFired,
    TransactionsAvailable,
    ValidateProposal,
)
from gusu.consensus.messages import (
    Equivocation,
    Message,
    Proposal,
    Signer,
    Vote,
    VoteKind,
    decode_message,
    encode_message,
    make_signer,
    verify_message,
)
from gusu.consensus.solo import SOLO_ROUND, SoloEngine, SoloSettings
from gusu.consensus.tendermint import (
    TIMER_COMMIT,
    TIMER_PRECOMMIT,
    TIMER_PREVOTE,
    TIMER_REBROADCAST,
    TendermintEngine,
    TendermintSettings,
)
from gusu.consensus.validator_set import Validator, ValidatorSet

__all__ = [
    "SOLO_ROUND",
    "TIMER_COMMIT",
    "TIMER_PRECOMMIT",
    "TIMER_PREVOTE",
    "TIMER_PROPOSE",
    "TIMER_REBROADCAST",
    "Action",
    "AppendWal",
    "BlockCommitted",
    "Broadcast",
    "BuildProposal",
    "CommitBlock",
    "ConsensusEngine",
    "Equivocation",
    "Event",
    "Message",
    "MessageReceived",
    "PeersChanged",
    "Proposal",
    "ProposalBuilt",
    "ProposalValidated",
    "ReportEvidence",
    "RewriteWal",
    "ScheduleTimer",
    "SendMessage",
    "Signer",
    "SoloEngine",
    "SoloSettings",
    "Start",
    "TendermintEngine",
    "TendermintSettings",
    "TimerFired",
    "TransactionsAvailable",
    "ValidateProposal",
    "Validator",
    "ValidatorSet",
    "Vote",
    "VoteKind",
    "assemble_commit_certificate",
    "compute_block_time_ms",
    "decode_message",
    "encode_message",
    "make_signer",
    "verify_commit_certificate",
    "verify_message",
]
