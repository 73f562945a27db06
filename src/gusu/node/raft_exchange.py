"""Raft on the wire: the engine's messages out with their entries' block bodies, peers' messages in.

The Raft engine deals in block hashes, like Tendermint's. Out: an
`AppendEntries` leaves with the bodies of its entries (from the bodies of
heights being decided, else the store), cut short so that the whole body
stays under `append_bytes_max`; the entries left out go in the next append.
In: a message is decoded with bounds, must be sent by the member it names
(the transport authenticated the peer's key: `is_sender_bound`) who is a
member of the tip's height or the next two (membership follows the
configuration schedule), and an append's entries must be signed by a member
of their own height and come with bodies that hash to them. Entries past the
heights whose members we know (tip + 2) are cut off the message: the engine
could not judge them, and the leader sends them again once we have caught
up. New bodies are made durable (the node's proposal-body log) before the
engine hears the message, because the engine acknowledges what it
stores and a member must not acknowledge an entry whose block it could
lose in a crash.

Anything malformed or forged raises, which disconnects the peer; a member
that merely lags is not at fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from gusu.consensus import MessageReceived
from gusu.consensus.events import Event
from gusu.consensus.raft_messages import (
    AppendEntries,
    AppendReply,
    RaftMessage,
    RequestVote,
    VoteReply,
    is_sender_bound,
    verify_entry,
)
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, InvalidSignatureError, StorageError
from gusu.ledger.types import Address, Hash, Height, RawBlock, Round, compute_block_hash, encode_raw_block
from gusu.network.messages import CHANNEL_CONSENSUS
from gusu.node.bodies import ProposalBodies
from gusu.node.wire import decode_raft_body, encode_raft_body

logger = logging.getLogger("gusu.node")


def compute_forward_target(
    address: Address, live_leader: Address | None, members: tuple[Address, ...], attempt: int
) -> Address | None:
    """Where a Raft node forwards the transactions that have waited in its pool (`Node._forward_pool_to_leader`).

    To the live leader (`RaftEngine.get_live_leader`) when there is one and it is not us. Otherwise
    (an observer, a member removed by a configuration change, one that restarted or waits for an
    election) to one member of the next height, a different one at each `attempt`: only members order
    blocks, and a member that knows the leader forwards on, so an acknowledged transaction reaches the
    leader whatever the membership does, at the cost of one copy per attempt. None: nobody to send to
    (we lead, or are the only member).
    """
    if live_leader is not None:
        return None if live_leader == address else live_leader
    others = sorted(member for member in members if member != address)
    if not others:
        return None
    return others[attempt % len(others)]


class RaftExchange:
    def __init__(
        self,
        *,
        suite: CryptoSuite,
        chain_id: str,
        get_validator_set: Callable[[Height], ValidatorSet | None],
        bodies: ProposalBodies,
        get_height: Callable[[], Height],
        get_stored_block: Callable[[Height], tuple[Hash, RawBlock] | None],
        persist_bodies: Callable[[list[bytes]], None],
        is_running: Callable[[], bool],
        on_event: Callable[[Event], None],
        enqueue: Callable[[Address | None, str, bytes], None],
        on_local_fault: Callable[[BaseException], None],
        clock: Callable[[], int],
        append_bytes_max: int,
    ) -> None:
        self._suite = suite
        self._chain_id = chain_id
        self._get_validator_set = get_validator_set
        self._bodies = bodies
        self._get_height = get_height
        self._get_stored_block = get_stored_block
        self._persist_bodies = persist_bodies
        self._is_running = is_running
        self._on_event = on_event
        self._enqueue = enqueue
        self._on_local_fault = on_local_fault
        self._clock = clock
        self._append_bytes_max = append_bytes_max

    def _get_body(self, height: Height, block_hash: Hash) -> RawBlock | None:
        block = self._bodies.get(block_hash)
        if block is not None:
            return block
        stored = self._get_stored_block(height)
        if stored is not None and stored[0] == block_hash:
            return stored[1]
        return None

    def send_message(self, recipient: Address | None, message: object) -> None:
        assert isinstance(message, (RequestVote, VoteReply, AppendEntries, AppendReply)), f"not Raft: {message!r}"
        raft_message: RaftMessage = message
        blocks: list[RawBlock] = []
        if isinstance(message, AppendEntries) and message.entries:
            size = 0
            for entry in message.entries:
                block = self._get_body(entry.height, entry.block_hash)
                if block is None:
                    break  # the rest go without bodies: the follower asks by hash or gets them next time
                encoded = len(encode_raw_block(block))
                if blocks and size + encoded > self._append_bytes_max:
                    break
                blocks.append(block)
                size += encoded
            # Entries without a body are left out: the follower could not store them.
            raft_message = AppendEntries(
                message.term,
                message.leader,
                message.previous_height,
                message.previous_term,
                message.entries[: len(blocks)],
                message.leader_commit,
            )
        self._enqueue(recipient, CHANNEL_CONSENSUS, encode_raft_body(raft_message, blocks))

    def _is_member_around(self, peer: Address, tip: Height) -> bool:
        for height in range(tip, tip + 3):
            validator_set = self._get_validator_set(Height(height))
            if validator_set is not None and validator_set.contains(peer):
                return True
        return False

    async def on_consensus_body(self, peer: Address, body: bytes) -> None:
        received_ms = self._clock()
        decoded = decode_raft_body(body)
        message = decoded.message
        if not is_sender_bound(message, peer):
            raise CodecError("a Raft message in the name of another member than the peer that sent it")
        tip = self._get_height()
        if not self._is_member_around(peer, tip):
            return  # not a member of the heights we decide (removed, or added beyond what we know): not a fault
        if isinstance(message, AppendEntries):
            if len(decoded.blocks) != len(message.entries):
                raise CodecError("a Raft append carries a body for each of its entries")
            fresh: list[bytes] = []
            kept = 0
            for entry, block in zip(message.entries, decoded.blocks, strict=True):
                validator_set = self._get_validator_set(entry.height)
                if validator_set is None:
                    if entry.height <= tip:
                        kept += 1  # stored already: the engine skips it
                        continue
                    break  # members not known yet: cut here
                if not verify_entry(self._suite, self._chain_id, validator_set, entry):
                    raise InvalidSignatureError("a Raft entry is not signed by a member of its height")
                if compute_block_hash(self._suite, block.header) != entry.block_hash:
                    raise CodecError("a Raft entry's body does not hash to the entry's block")
                if entry.height > tip and entry.block_hash not in self._bodies:
                    if not self._bodies.add_requested(entry.block_hash, block, entry.height, Round(0)):
                        return  # no room to keep it: not acknowledged, so the leader sends it again
                    fresh.append(encode_raw_block(block))
                kept += 1
            if kept < len(message.entries):
                message = replace(message, entries=message.entries[:kept])
            if not self._is_running():
                return
            if fresh:
                try:
                    self._persist_bodies(fresh)
                except StorageError as error:
                    self._on_local_fault(error)
                    return
        if not self._is_running():
            return
        self._on_event(MessageReceived(peer, message, now_ms=received_ms))
