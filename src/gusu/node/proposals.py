"""Proposals and votes between validators: block bodies, proposal checks, and the consensus wire.

The consensus engine deals in block hashes; this part gets it the blocks and
its verdicts. It keeps the bodies of the heights being decided
(`ProposalBodies`: bounded, one per proposal slot, own and locked ones
pinned), checks a proposed block by the block rules when the engine asks
(`ValidateProposal`), fetches a body it lacks by hash and answers peers that
ask (rate-limited per peer), and puts the engine's proposals and votes on the
wire, each proposal's body with its first sending only.

A verdict is given only for what the block is: an `InvalidBlockError` from
the block rules. Anything else (a saturated verifier, a restart of its
workers) is retried, since the engine keeps a verdict for the whole height;
a local fault (the disk) stops the node.

Everything it needs from the node is injected, so the same code runs in the
node and in tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from gusu.consensus import ConsensusEngine, MessageReceived, ProposalValidated, ValidateProposal
from gusu.consensus.events import Event
from gusu.consensus.messages import Proposal, Vote, get_signer_address, verify_message
from gusu.consensus.tendermint import TendermintEngine
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, GusuError, InvalidBlockError, InvalidSignatureError, StorageError
from gusu.ledger.store import CommittedBlock
from gusu.ledger.types import Address, Hash, Height, RawBlock, Round, compute_block_hash
from gusu.network.messages import CHANNEL_CONSENSUS, CHANNEL_SYNC
from gusu.node.blocks import ZERO_ADDRESS
from gusu.node.bodies import ProposalBodies
from gusu.node.wire import (
    ProposalWithBlock,
    decode_consensus_body,
    encode_body_answer,
    encode_body_request,
    encode_proposal_body,
    encode_proposal_reference_body,
    encode_vote_body,
)

logger = logging.getLogger("gusu.node")

PROPOSAL_BODIES_MAX = 32
"""Other validators' block bodies kept for the heights being decided, besides our own and the locked one."""
BODY_ROUNDS_AHEAD_MAX = 4
"""Bodies are kept for proposals at most this many rounds past the engine's current one."""
BODY_REQUEST_INTERVAL_S = 1.0
"""A missing proposal body is asked for again at most this often (the proposer re-sends its proposal each second)."""
BODY_ANSWERS_PER_PEER_MAX = 4
"""Different bodies sent to one peer per `BODY_REQUEST_INTERVAL_S`; the same body at most once in it."""
VALIDATION_RETRIES_MAX = 20
VALIDATION_RETRY_S = 0.25
"""A proposal whose check could not run (the verifier is saturated or restarting) is checked again this often."""


class ProposalExchange:
    def __init__(
        self,
        *,
        suite: CryptoSuite,
        chain_id: str,
        get_validator_set: Callable[[Height], ValidatorSet | None],
        get_engine: Callable[[], ConsensusEngine],
        get_height: Callable[[], Height],
        is_running: Callable[[], bool],
        validate_block: Callable[[RawBlock], Awaitable[CommittedBlock]],
        on_event: Callable[[Event], None],
        enqueue: Callable[[Address | None, str, bytes], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        on_local_fault: Callable[[BaseException], None],
        clock: Callable[[], int],
        on_received: Callable[[Proposal | Vote], None] | None = None,
    ) -> None:
        """`get_validator_set` gives the set in force at a height, None if it is not known yet (see
        `gusu.node.schedule`). `on_received` (a debug hook, `[debug] received_votes_path`) sees every peer's
        proposal and vote whose signature holds; a StorageError it raises is a local fault."""
        self._suite = suite
        self._chain_id = chain_id
        self._get_validator_set = get_validator_set
        self._get_engine = get_engine
        self._get_height = get_height
        self._is_running = is_running
        self._validate_block = validate_block
        self._on_event = on_event
        self._enqueue = enqueue
        self._spawn = spawn
        self._on_local_fault = on_local_fault
        self._clock = clock
        self._on_received = on_received
        self.bodies = ProposalBodies(PROPOSAL_BODIES_MAX)
        self.validated: dict[Hash, CommittedBlock] = {}
        """Blocks of the next height we built or checked and found valid, by hash: ready to commit."""
        self.validating: set[Hash] = set()
        self.awaiting_body: dict[Hash, tuple[Height, Round]] = {}
        """Blocks the engine asked us to check whose body has not come yet."""
        self.sent_bodies: set[Hash] = set()
        """Our proposals whose body went to every peer once; re-sends go without it."""
        self.body_requested_s: dict[Hash, float] = {}
        self.body_answers: dict[Address, dict[Hash, float]] = {}
        """Bodies sent to each peer in the last `BODY_REQUEST_INTERVAL_S`, and when."""
        self.body_requests_refused = 0

    def add_own(self, block_hash: Hash, block: RawBlock, built: CommittedBlock | None = None) -> None:
        """A block we built (or restored from our proposal-body log): pinned, and valid if `built`."""
        self.bodies.add_own(block_hash, block)
        if built is not None:
            self.validated[block_hash] = built

    def on_block_stored(self, height: Height) -> None:
        """Height `height` is committed: forget what belonged to it."""
        self.bodies.prune(height)
        self.validated.clear()
        for block_hash in [key for key, (waiting, _) in self.awaiting_body.items() if waiting <= height]:
            del self.awaiting_body[block_hash]
        self.sent_bodies.clear()
        self.body_requested_s.clear()
        self.body_answers.clear()

    def _get_pinned_values(self) -> frozenset[Hash]:
        """Bodies the engine may still need us to re-propose: its locked and valid values."""
        engine = self._get_engine()
        if not isinstance(engine, TendermintEngine):
            return frozenset()
        return frozenset(value for value in (engine.locked_value, engine.valid_value) if value is not None)

    def _get_engine_round(self) -> Round:
        engine = self._get_engine()
        return engine.round if isinstance(engine, TendermintEngine) else Round(0)

    def on_validate_proposal(self, action: ValidateProposal) -> Event | None:
        if action.block_hash in self.validated:
            outcome = self.validated[action.block_hash]
            return ProposalValidated(
                action.height,
                action.round,
                action.block_hash,
                True,
                timestamp_ms=outcome.header.timestamp_ms,
                proposer=outcome.header.proposer,
            )
        block = self.bodies.get(action.block_hash)
        if block is None:
            # The body travels with the proposal's first sending; validate when it arrives, and ask
            # the peers for it meanwhile (the first sending may have been lost).
            if len(self.awaiting_body) < PROPOSAL_BODIES_MAX:
                self.awaiting_body[action.block_hash] = (action.height, action.round)
            self.request_body(None, action.block_hash)
            return None
        self._start_validation(action.height, action.round, action.block_hash, block)
        return None

    def _start_validation(
        self, height: Height, round_: Round, block_hash: Hash, block: RawBlock, attempt: int = 0
    ) -> None:
        if block_hash in self.validating:
            return
        self.validating.add(block_hash)

        async def validate() -> None:
            started_s = time.perf_counter()
            try:
                outcome = await self._validate_block(block)
            except InvalidBlockError as error:
                logger.warning("proposal %s at height %d is invalid: %s", block_hash.hex()[:16], height, error)
                verdict = ProposalValidated(height, round_, block_hash, False, timestamp_ms=0, proposer=ZERO_ADDRESS)
            except StorageError as error:
                self._on_local_fault(error)
                return
            except GusuError as error:
                # Not the block's fault (the verifier is saturated or restarting): no verdict, which the
                # engine would keep for the whole height; check again shortly.
                logger.warning("could not check proposal %s yet (%s); retrying", block_hash.hex()[:16], error)
                self.validating.discard(block_hash)
                if attempt < VALIDATION_RETRIES_MAX and self._is_running():
                    await asyncio.sleep(VALIDATION_RETRY_S)
                    if height == self._get_height() + 1:
                        self._start_validation(height, round_, block_hash, block, attempt + 1)
                return
            else:
                is_valid = outcome.block_hash == block_hash
                if is_valid and outcome.header.height == self._get_height() + 1:
                    self.validated[block_hash] = outcome
                verdict = ProposalValidated(
                    height,
                    round_,
                    block_hash,
                    is_valid,
                    timestamp_ms=outcome.header.timestamp_ms,
                    proposer=outcome.header.proposer,
                )
                logger.debug(
                    "checked proposal %s of height %d (%d transactions) in %.0f ms",
                    block_hash.hex()[:16],
                    height,
                    len(block.raw_transactions),
                    (time.perf_counter() - started_s) * 1000,
                )
            finally:
                self.validating.discard(block_hash)
            if height == self._get_height() + 1:
                self._on_event(verdict)

        self._spawn(validate())

    def request_body(self, peer: Address | None, block_hash: Hash) -> None:
        """Ask `peer` (None: every peer) for a proposed block's body, unless we asked very recently."""
        now_s = time.monotonic()
        if now_s - self.body_requested_s.get(block_hash, -BODY_REQUEST_INTERVAL_S) < BODY_REQUEST_INTERVAL_S:
            return
        if block_hash not in self.body_requested_s and len(self.body_requested_s) >= PROPOSAL_BODIES_MAX:
            return  # one height has few proposals; more requests than bodies kept means a peer plays games
        self.body_requested_s[block_hash] = now_s
        self._enqueue(peer, CHANNEL_SYNC, encode_body_request(block_hash))

    def send_message(self, recipient: Address | None, message: object) -> None:
        if isinstance(message, Proposal):
            if recipient is None and message.block_hash in self.sent_bodies:
                # A re-send: every peer got the body with the first one or can ask for it by hash;
                # sending a large block again each second would crowd out the votes.
                self._enqueue(None, CHANNEL_CONSENSUS, encode_proposal_reference_body(message))
                return
            block = self.bodies.get(message.block_hash)
            if block is None:
                # Own bodies and the engine's locked and valid values are pinned, so this is a
                # re-proposal of a value whose body we never had: peers fetch it by hash.
                logger.warning("no body for our proposal %s; sending it by hash", message.block_hash.hex()[:16])
                self._enqueue(recipient, CHANNEL_CONSENSUS, encode_proposal_reference_body(message))
                return
            body = encode_proposal_body(message, block)
            if recipient is None:
                self.sent_bodies.add(message.block_hash)
        elif isinstance(message, Vote):
            body = encode_vote_body(message)
        else:
            raise AssertionError(f"the engine sent an unknown message {message!r}")
        self._enqueue(recipient, CHANNEL_CONSENSUS, body)

    async def on_consensus_body(self, peer: Address, body: bytes) -> None:
        """A peer's proposal or vote. Anything malformed or forged raises, which disconnects the peer."""
        received_ms = self._clock()
        decoded = decode_consensus_body(body)
        message = decoded.proposal if isinstance(decoded, ProposalWithBlock) else decoded
        if message.chain_id != self._chain_id:
            raise CodecError("a consensus message of another chain")
        validator_set = self._get_validator_set(message.height)
        if validator_set is None:
            return  # a height whose validators are not known yet: nothing can be checked or used
        if not validator_set.contains(get_signer_address(message)):
            # Not a validator at that height: maybe an honest one removed there, still catching up. Dropped,
            # not disconnected (the transport already admits only known validators).
            return
        if not verify_message(self._suite, validator_set, message):
            raise InvalidSignatureError("a consensus message is not signed by the validator it names")
        if not self._is_running():
            return
        if self._on_received is not None:
            try:
                self._on_received(message)
            except StorageError as error:
                self._on_local_fault(error)
                return
        tip_height = self._get_height()
        if isinstance(message, Proposal) and not self._is_body_wanted(message, tip_height):
            # Not the round's proposer, or a round too far ahead: the engine ignores such a proposal,
            # and its body must not take the place of one the engine needs.
            self._on_event(MessageReceived(peer, message, now_ms=received_ms))
            return
        if isinstance(decoded, Proposal) and decoded.block_hash not in self.bodies:
            self.request_body(peer, decoded.block_hash)  # a re-sent proposal whose first sending we missed
        # Bodies one height further too: a proposer that committed before us may propose the next
        # height while we still commit this one, and its proposal waits in the engine till then.
        if isinstance(decoded, ProposalWithBlock):
            proposal = decoded.proposal
            block_hash = compute_block_hash(self._suite, decoded.block.header)
            if block_hash != proposal.block_hash:
                raise CodecError("a proposal's block body does not hash to the proposed block")
            if self.bodies.add_proposed(
                block_hash, decoded.block, proposal.height, proposal.round, proposal.proposer, self._get_pinned_values()
            ):
                logger.debug(
                    "proposal %s for height %d round %d from %s (%d transactions)",
                    block_hash.hex()[:16],
                    proposal.height,
                    proposal.round,
                    peer.hex()[:12],
                    len(decoded.block.raw_transactions),
                )
            waiting = self.awaiting_body.pop(block_hash, None)
            if waiting is not None and block_hash in self.bodies:
                self._start_validation(waiting[0], waiting[1], block_hash, decoded.block)
        self._on_event(MessageReceived(peer, message, now_ms=received_ms))

    def _is_body_wanted(self, proposal: Proposal, tip_height: Height) -> bool:
        """A proposal whose body we keep: the round's own proposer's, for the next two heights, in rounds near ours."""
        if not tip_height < proposal.height <= tip_height + 2:
            return False
        validator_set = self._get_validator_set(proposal.height)
        if validator_set is None:
            return False
        if validator_set.get_proposer(proposal.height, proposal.round).address != proposal.proposer:
            return False
        current = self._get_engine_round() if proposal.height == tip_height + 1 else Round(0)
        return proposal.round <= current + BODY_ROUNDS_AHEAD_MAX

    def answer_body_request(self, peer: Address, block_hash: Hash) -> None:
        """Send a body we hold, at most once per peer and body per interval, and a few per peer per interval:
        a peer that keeps asking (and maybe never reads) cannot make us queue copy after copy."""
        block = self.bodies.get(block_hash)
        if block is None:
            return
        now_s = time.monotonic()
        answered = self.body_answers.setdefault(peer, {})
        for key in [key for key, at_s in answered.items() if now_s - at_s >= BODY_REQUEST_INTERVAL_S]:
            del answered[key]
        if block_hash in answered or len(answered) >= BODY_ANSWERS_PER_PEER_MAX:
            self.body_requests_refused += 1
            return
        answered[block_hash] = now_s
        self._enqueue(peer, CHANNEL_SYNC, encode_body_answer(block))

    def on_body_answer(self, block: RawBlock) -> None:
        """A body we asked for; one we did not ask for (or no longer need) is ignored."""
        block_hash = compute_block_hash(self._suite, block.header)
        if block_hash not in self.body_requested_s or block_hash in self.bodies:
            return
        tip = self._get_height()
        if not tip < block.header.height <= tip + 2:
            return
        waiting = self.awaiting_body.pop(block_hash, None)
        round_ = waiting[1] if waiting is not None else self._get_engine_round()
        self.bodies.add_requested(block_hash, block, block.header.height, round_)
        if waiting is not None:
            self._start_validation(waiting[0], waiting[1], block_hash, block)
