"""A deterministic in-memory cluster of Raft engines for the unit tests: the node's part played minimally.

Time advances only when the test says so; messages are delivered in send
order unless a link is cut or a message is dropped; every node commits what
its engine decides and checks it against every other node's chain.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from gusu.consensus import (
    Action,
    AppendWal,
    BlockCommitted,
    Broadcast,
    BuildProposal,
    CommitBlock,
    Event,
    MessageReceived,
    ProposalBuilt,
    ProposalValidated,
    RewriteWal,
    ScheduleTimer,
    SendMessage,
    Start,
    TimerFired,
    TransactionsAvailable,
    ValidateProposal,
    Validator,
    ValidatorSet,
)
from gusu.consensus.raft import RaftEngine, RaftSettings, Role
from gusu.consensus.raft_messages import decode_raft_message, encode_raft_message, verify_raft_certificate
from gusu.consensus.solo import SoloSettings
from gusu.eval.simulation.crypto import make_identities
from gusu.ledger.types import Address, CommitCertificate, Hash, Height, Round

CHAIN = "gusu-raft-test"
GENESIS_MS = 1_700_000_000_000
SETTINGS = RaftSettings(
    election_timeout_ms=1_000,
    election_timeout_spread_ms=1_000,
    heartbeat_interval_ms=100,
    pacing=SoloSettings(block_interval_ms=50),
)


def block_hash_for(height: int, term: int, builder: Address) -> Hash:
    return Hash(hashlib.sha256(b"blk" + height.to_bytes(8, "big") + term.to_bytes(8, "big") + builder).digest())


@dataclass
class Member:
    index: int
    address: Address
    engine: RaftEngine
    wal: list[bytes] = field(default_factory=list)
    chain: list[tuple[Hash, CommitCertificate]] = field(default_factory=list)
    timers: dict[str, int] = field(default_factory=dict)
    """Pending timers by kind: due time."""
    up: bool = True
    pool: int = 0


class RaftCluster:
    def __init__(
        self,
        size: int,
        settings: RaftSettings = SETTINGS,
        pool: int = 5,
        members_at: Callable[[int], Collection[int]] | None = None,
    ) -> None:
        """`members_at(height)`: the indices of the members deciding `height` (None: all `size`); it is
        asked only about the tip's next two heights, as the schedule in a node's state is."""
        self.suite, self.identities = make_identities("sim", 11, size)
        self.validators = ValidatorSet(Validator(i.address, i.public_key, 1) for i in self.identities)
        self.members_at = members_at
        self.settings = settings
        self.now_ms = GENESIS_MS + 10_000
        self.members = [self._make_member(index, pool) for index in range(size)]
        self.queue: deque[tuple[int, int, object]] = deque()
        """(from, to, message) in send order."""
        self.cut: set[frozenset[int]] = set()
        self.one_way_cut: set[tuple[int, int]] = set()
        """(from, to) links that lose every message."""
        self.leaders_by_term: dict[int, set[int]] = {}
        self.sent: list[tuple[int, int, object]] = []
        for member in self.members:
            self._feed(member, self._start_event(member))
            self._feed(member, TransactionsAvailable(member.pool, member.pool * 100, self.now_ms))

    def set_at(self, height: int) -> ValidatorSet:
        if self.members_at is None:
            return self.validators
        indices = self.members_at(height)
        chosen = [identity for n, identity in enumerate(self.identities) if n in indices]
        return ValidatorSet(Validator(identity.address, identity.public_key, 1) for identity in chosen)

    def _make_member(self, index: int, pool: int) -> Member:
        identity = self.identities[index]
        engine = RaftEngine(self.settings, self.set_at(1), identity.address, identity.signer, CHAIN)
        return Member(index, identity.address, engine, pool=pool)

    def _start_event(self, member: Member) -> Start:
        last_time = GENESIS_MS if not member.chain else GENESIS_MS + len(member.chain)
        last_round = None if not member.chain else member.chain[-1][1].round
        return Start(
            Height(len(member.chain) + 1),
            self.now_ms,
            last_time,
            tuple(member.wal),
            member.pool,
            validators=self.set_at(len(member.chain) + 1),
            next_validators=self.set_at(len(member.chain) + 2),
            last_block_round=last_round,
        )

    # --- the node's part ------------------------------------------------------------------

    def _feed(self, member: Member, event: Event) -> None:
        pending = deque(member.engine.on_event(event))
        while pending:
            follow_up = self._apply(member, pending.popleft())
            if follow_up is not None:
                pending.extend(member.engine.on_event(follow_up))
                if isinstance(follow_up, BlockCommitted):
                    pending.extend(member.engine.on_event(TransactionsAvailable(member.pool, 0, self.now_ms)))
        self._record_leader(member)

    def _record_leader(self, member: Member) -> None:
        if member.engine.role is Role.LEADER:
            self.leaders_by_term.setdefault(member.engine.term, set()).add(member.index)

    def _apply(self, member: Member, action: Action) -> Event | None:
        if isinstance(action, ScheduleTimer):
            member.timers[action.kind] = self.now_ms + action.delay_ms
        elif isinstance(action, AppendWal):
            member.wal.append(action.record)
        elif isinstance(action, RewriteWal):
            member.wal = list(action.records)
        elif isinstance(action, Broadcast):
            for other in self.members:
                if other is not member:
                    self._send(member, other, action.message)
        elif isinstance(action, SendMessage):
            target = next(m for m in self.members if m.address == action.recipient)
            self._send(member, target, action.message)
        elif isinstance(action, BuildProposal):
            block = block_hash_for(action.height, action.round, member.address)
            return ProposalBuilt(action.height, action.round, block, action.timestamp_ms, member.pool)
        elif isinstance(action, ValidateProposal):
            return ProposalValidated(
                action.height, action.round, action.block_hash, True, timestamp_ms=0, proposer=member.address
            )
        elif isinstance(action, CommitBlock):
            assert action.height == len(member.chain) + 1, "commit out of order"
            assert action.certificate is not None
            # Certified by a member of the block's own height.
            verify_raft_certificate(self.suite, CHAIN, self.set_at(action.height), action.certificate)
            member.chain.append((action.block_hash, action.certificate))
            member.pool = max(member.pool - 1, 0)
            self.check_safety()
            return BlockCommitted(
                action.height,
                action.block_hash,
                self.now_ms,
                GENESIS_MS + action.height,
                validators=self.set_at(action.height + 1),
                next_validators=self.set_at(action.height + 2),
            )
        return None

    def _send(self, sender: Member, target: Member, message: object) -> None:
        # Every message crosses the wire encoding, as in the node.
        data = encode_raft_message(message)  # type: ignore[arg-type]
        self.queue.append((sender.index, target.index, decode_raft_message(data)))

    # --- the test's controls ---------------------------------------------------------------

    def deliver_all(self, limit: int = 100_000) -> None:
        for _ in range(limit):
            if not self.queue:
                return
            source, target, message = self.queue.popleft()
            self.sent.append((source, target, message))
            member = self.members[target]
            if (
                not member.up
                or not self.members[source].up
                or frozenset((source, target)) in self.cut
                or (source, target) in self.one_way_cut
            ):
                continue
            self._feed(member, MessageReceived(self.members[source].address, message, self.now_ms))
        raise AssertionError("messages never settle")

    def advance(self, milliseconds: int, step_ms: int = 10) -> None:
        """Let time pass, firing due timers and delivering messages as it goes."""
        end = self.now_ms + milliseconds
        while self.now_ms < end:
            self.now_ms = min(self.now_ms + step_ms, end)
            for member in self.members:
                if not member.up:
                    continue
                for kind, due in sorted(member.timers.items(), key=lambda item: item[1]):
                    if due <= self.now_ms and member.timers.get(kind) == due:
                        del member.timers[kind]
                        self._feed(member, TimerFired(Height(0), Round(0), kind, self.now_ms))
            self.deliver_all()

    def crash(self, index: int) -> None:
        member = self.members[index]
        member.up = False
        member.timers.clear()

    def restart(self, index: int) -> None:
        old = self.members[index]
        fresh = self._make_member(index, old.pool)
        fresh.wal, fresh.chain = old.wal, old.chain
        self.members[index] = fresh
        self._feed(fresh, self._start_event(fresh))

    def partition(self, *groups: set[int]) -> None:
        self.cut = {
            frozenset((a, b))
            for first in groups
            for second in groups
            if first is not second
            for a in first
            for b in second
        }

    def heal(self) -> None:
        self.cut = set()
        self.one_way_cut = set()

    def add_transactions(self, count: int) -> None:
        for member in self.members:
            member.pool += count
            if member.up:
                self._feed(member, TransactionsAvailable(member.pool, member.pool * 100, self.now_ms))

    def leaders(self) -> list[int]:
        return [m.index for m in self.members if m.up and m.engine.role is Role.LEADER]

    def check_safety(self) -> None:
        """No two members store different blocks at one height; at most one leader per term."""
        for height in range(max(len(m.chain) for m in self.members)):
            hashes = {m.chain[height][0] for m in self.members if len(m.chain) > height}
            assert len(hashes) == 1, f"two blocks at height {height + 1}"
        for term, leaders in self.leaders_by_term.items():
            assert len(leaders) <= 1, f"two leaders in term {term}: {leaders}"
