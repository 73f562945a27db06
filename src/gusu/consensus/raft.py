"""The Raft ordering engine: crash-fault-tolerant ordering for members that trust each other's honesty.

A pure `ConsensusEngine` (events in, actions out) implementing Raft (Ongaro &
Ousterhout, "In Search of an Understandable Consensus Algorithm", 2014; §
numbers below cite that paper, "thesis" cites Ongaro's dissertation, 2014)
with PreVote (thesis §9.6) and CheckQuorum (thesis §6.2). docs/consensus.md
("Raft") states what it tolerates and what a Raft block's certificate means.

The log is the chain: the entry at index h is the block at height h, named
by hash (`RaftEntry`); the committed prefix is what the node has stored.
The leader builds each block through the node's block rules
(`BuildProposal`), appends it, replicates it, and once a majority stores
it in the leader's own term it is committed (§5.3, §5.4.2); every member
then checks it (`ValidateProposal`, unless it built it) and stores it
(`CommitBlock`, with the entry's certificate), exactly as a Tendermint
decision reaches the node.

Departures from the paper, each for a reason:

* One block in flight. The node builds a block on its committed tip only,
  so a leader appends height h+1 only once everything up to h is committed
  and applied. Hence every log ends at most one entry past what its owner
  knows committed (`last_height <= commit_height + 1`; a follower's commit
  index is ``min(leaderCommit, last new entry)`` and a leader's
  ``leaderCommit`` is at least its last index minus one).
* No no-op entry at election (§5.4.2 / thesis §3.6.2). A new leader cannot
  build a block on an uncommitted one, so instead it *re-stamps* its one
  uncommitted entry with its own term (same block, new signature) and
  replicates that; counting replicas of an entry of the current term is
  then the ordinary commit rule. Re-stamping one entry is safe because of
  the invariant above: the re-stamped entry has the same block, so if it was
  already committed the committed block at that height is unchanged, and a
  follower that knows it committed only replaces its term, never its block
  (`_on_append_entries`).
* Committed entries are not kept forever: the engine remembers the last
  `retained_entries_max` of them. A member further behind catches up by the
  node's block sync (Raft's InstallSnapshot, §7), which re-executes blocks
  and tells the engine with `Start`; the consistency check accepts any
  previous entry the follower already knows committed, since committed
  prefixes are identical (State Machine Safety, §5.4.3).

Membership follows the chain configuration schedule (thesis §4, adapted).
The members deciding height h, M(h), are the validators in force at h
(`gusu.ledger.chainconfig`); the node hands the engine M(tip + 1) and
M(tip + 2) with every `Start` and `BlockCommitted`, and both are final
then (a change decided in block H takes effect at H + 2 at the earliest).
The thesis changes membership through log entries, with joint consensus
(§4.3) or one server at a time (§4.1); here the configuration of a height
is fixed by committed state two heights earlier, and only one block is in
flight, so the boundary between two configurations is a height, and the
rules are:

* R1 (commit): an entry at height h commits once a majority of M(h) store
  it, in the leader's term (§5.3/§5.4.2 with the majority of its own
  height's members). Every earlier entry is committed already (one block
  in flight), so the leader counts only its last entry.
* R2 (election): a candidate whose log ends at L needs the votes of a
  majority of M(L + 1), and also of M(L) unless it knows L committed
  (joint quorums at the boundary, as in §4.3). It stands only if it knows
  those sets (it has applied what it knows committed) and is a member of
  the height it would order: L if L is not known committed (it re-stamps
  that entry), else L + 1; so every entry, hence every certificate of
  height h, is signed by a member of M(h).
* R3 (voting): a member votes (pre-votes too) only while it is in
  M(tip + 1) or M(tip + 2): a member removed from height h stops voting
  once it has stored h - 1 (its last height), and stops leading then (a
  leader steps down when it is not in M(tip + 1), and never builds a
  block for a height it is not a member of). A member added at h (having
  synced the chain) votes from tip h - 2 on and may stand for h. Powers
  are ignored: one member, one vote.

Why R1-R3 keep Leader Completeness (§5.4.3; hence State Machine Safety and,
through it, one leader per term): let entry e be committed at height h in
term T, and c win term U > T with a log ending at L. (a) If h <= L - 1, c
has e: a leader appends L only after committing L - 1, so c's prefix up to
L - 1 is committed, and committed entries agree. (b) If h = L and c
knows L committed, likewise. (c) If h = L otherwise, c holds votes of a
majority of M(L) (R2), which meets the majority of M(L) that stored e (R1):
the usual argument of §5.4.3 applies at that height. (d) If h >= L + 1,
the entry e' at L + 1 is committed too (one block in flight), in some term
T' < U, by a majority of M(L + 1) (R1); c's voters include a majority of
M(L + 1) (R2), so some voter held an entry at L + 1 of term >= T' and c,
being at least as up-to-date with a log ending at L, has a last term > T';
the leader that wrote c's last entry then held e' (induction on terms) and
so ended its own log past L, yet it appended or re-stamped at L, which a
leader only does at its own last entry: a contradiction. The argument
needs the two quorums only at L and L + 1: that is why the boundary, and
not every earlier change, asks for joint quorums. Election safety follows:
two winners of one term with equal L share the same sets (R2 intersects);
with different L, the one with the shorter log lacks a committed entry,
which (a)-(d) forbid.

Time and randomness: the engine reads no clock; `now_ms` arrives on events.
Election timeouts are *derived*, not drawn: ``election_timeout_ms`` plus a
hash of (this member's address, term, attempt) modulo
``election_timeout_spread_ms + 1`` (`compute_election_timeout_ms`). That
spreads members apart as a random draw does (§5.2), never repeats a tie
between the same two members in the next attempt (the attempt counter
changes the hash), and keeps the engine a pure function of its events, so
the seeded simulator reproduces every run without injecting a generator.

Persistence (§5, Figure 2 "persistent state"): the current term, the vote
and the log entries reach the WAL (`AppendWal`) before any message that
reveals them leaves, in the node's record framing (`gusu.node.journal`).
Records (`encode_raft_wal_record`): ``term`` (term, vote) and ``entries``
(each entry replaces any entry at its height or above). Every
`WAL_REWRITE_RECORDS` records, after a commit, the engine asks the node to
replace the WAL with a snapshot of its state (`RewriteWal`).

Bounds: entries per append (`entries_per_append_max`), one append per
follower per heartbeat plus one per reply (a reply is what frees the
next), entries retained (`retained_entries_max`), WAL records between
rewrites; message sizes are bounded on decoding (`raft_messages`).

Handing over at a height: the engine orders heights up to and including
`RaftSettings.last_height` (None: no end) and never builds a block beyond
it. A governance switch of engine does not need it: the node drops the
engine right after storing the last height of its period, before the
engine hears of that commit (docs/consensus.md, "Switching engines"). The
WAL is kept across such a switch, so a later Raft period resumes with this
member's term and vote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from gusu.codec import Value, decode_list, encode, expect_bytes, expect_list, expect_str, expect_uint
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
    ProposalValidated,
    RewriteWal,
    ScheduleTimer,
    SendMessage,
    Start,
    TimerFired,
    TransactionsAvailable,
    ValidateProposal,
)
from gusu.consensus.messages import Signer
from gusu.consensus.raft_messages import (
    ENTRIES_PER_MESSAGE_MAX,
    TAG_ENTRY,
    TERM_MAX,
    AppendEntries,
    AppendReply,
    RaftEntry,
    RaftMessage,
    RequestVote,
    VoteReply,
    compute_raft_certificate,
    make_entry,
)
from gusu.consensus.solo import INTERVAL_MS_LIMIT, Arrivals, SoloSettings, compute_proposal_due_ms
from gusu.consensus.validator_set import ValidatorSet
from gusu.errors import CodecError
from gusu.ledger.types import ADDRESS_SIZE, HASH_SIZE, SIGNATURE_SIZE, Address, Hash, Height, Round
from gusu.settings import validate_int_setting

TIMER_ELECTION = "raft-election"
TIMER_HEARTBEAT = "raft-heartbeat"
TIMER_HEIGHT = Height(0)
"""Raft's timers are not per height: one of each kind is pending at a time (a new one replaces it)."""
TIMER_ROUND = Round(0)

WAL_REWRITE_RECORDS = 256
"""WAL records appended before the engine asks for a snapshot rewrite (after the next commit)."""
WAL_ENTRIES_MAX = 4096
RETAINED_ENTRIES_LIMIT = 1024

TAG_RAFT_WAL = "gusu.raftwal.v1"


def _check_setting(name: str, value: int, low: int, high: int) -> None:
    validate_int_setting("consensus", name, value, low, high)


@dataclass(frozen=True, slots=True)
class RaftSettings:
    """The Raft engine's settings: timing (chain-wide, from genesis) and block pacing (as solo's)."""

    election_timeout_ms: int = 1_000
    """Least time without a leader before a member stands (and the CheckQuorum and leader-lease window)."""
    election_timeout_spread_ms: int = 1_000
    """Each member adds 0..spread ms, derived from its address, the term and the attempt."""
    heartbeat_interval_ms: int = 100
    entries_per_append_max: int = 16
    retained_entries_max: int = 256
    """Committed entries remembered for followers catching up by Raft; further behind they use block sync."""
    pacing: SoloSettings = field(default_factory=SoloSettings)
    last_height: Height | None = None
    """Order heights up to this one, then stop (a hand-over to another engine); None: no end."""

    def __post_init__(self) -> None:
        _check_setting("election_timeout_ms", self.election_timeout_ms, 10, INTERVAL_MS_LIMIT)
        _check_setting("election_timeout_spread_ms", self.election_timeout_spread_ms, 1, INTERVAL_MS_LIMIT)
        _check_setting("heartbeat_interval_ms", self.heartbeat_interval_ms, 1, self.election_timeout_ms // 2)
        _check_setting("entries_per_append_max", self.entries_per_append_max, 1, ENTRIES_PER_MESSAGE_MAX)
        _check_setting("retained_entries_max", self.retained_entries_max, 1, RETAINED_ENTRIES_LIMIT)


class Role(Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


def compute_election_timeout_ms(settings: RaftSettings, address: Address, term: int, attempt: int) -> int:
    """The election timeout of `address` for `attempt` in `term`: the base plus a derived spread (module docstring)."""
    digest = hashlib.sha256(b"gusu.raft.timeout" + address + term.to_bytes(8, "big") + attempt.to_bytes(8, "big"))
    return settings.election_timeout_ms + int.from_bytes(digest.digest()[:8], "big") % (
        settings.election_timeout_spread_ms + 1
    )


Members = tuple[Address, ...]
"""The members deciding one height, sorted by address (powers are ignored: one member, one vote)."""


def _get_members(validator_set: ValidatorSet) -> Members:
    return tuple(sorted(validator.address for validator in validator_set.validators))


def compute_majority(members: Members) -> int:
    return len(members) // 2 + 1


def _has_quorums(voters: set[Address], quorums: Iterable[Members]) -> bool:
    """`voters` hold a majority of every set in `quorums` (a joint quorum when there are two)."""
    return all(sum(1 for member in members if member in voters) >= compute_majority(members) for members in quorums)


# --- WAL records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaftWalRecord:
    term: int | None = None
    """Kind ``term``: the current term, with `voted_for`."""
    voted_for: Address | None = None
    entries: tuple[RaftEntry, ...] = ()
    """Kind ``entries``: each replaces whatever the log held at its height and above."""


def encode_raft_wal_record(record: RaftWalRecord) -> bytes:
    if record.term is not None:
        return encode([TAG_RAFT_WAL, "term", record.term, record.voted_for])
    entries: list[Value] = [
        [TAG_ENTRY, e.height, e.term, e.block_hash, e.timestamp_ms, e.leader, e.signature] for e in record.entries
    ]
    return encode([TAG_RAFT_WAL, "entries", entries, None])


def decode_raft_wal_record(data: bytes) -> RaftWalRecord:
    """CodecError for anything the engine did not write (the node must not start on it)."""
    fields = decode_list(data, TAG_RAFT_WAL, 4)
    kind = expect_str(fields[1], "Raft WAL record kind", 16)
    if kind == "term":
        voted = fields[3]
        return RaftWalRecord(
            term=expect_uint(fields[2], "Raft WAL term", maximum=TERM_MAX),
            voted_for=None if voted is None else Address(expect_bytes(voted, "Raft WAL vote", size=ADDRESS_SIZE)),
        )
    if kind != "entries":
        raise CodecError(f"unknown Raft WAL record kind {kind!r}")
    entries = []
    for value in expect_list(fields[2], "Raft WAL entries", WAL_ENTRIES_MAX):
        item = expect_list(value, "Raft WAL entry", 7)
        if len(item) != 7 or item[0] != TAG_ENTRY:
            raise CodecError("a Raft WAL entry is a record of 7 fields")
        entries.append(
            RaftEntry(
                height=Height(expect_uint(item[1], "entry height")),
                term=expect_uint(item[2], "entry term", maximum=TERM_MAX),
                block_hash=Hash(expect_bytes(item[3], "entry block hash", size=HASH_SIZE)),
                timestamp_ms=expect_uint(item[4], "entry timestamp"),
                leader=Address(expect_bytes(item[5], "entry leader", size=ADDRESS_SIZE)),
                signature=expect_bytes(item[6], "entry signature", size=SIGNATURE_SIZE),
            )
        )
    return RaftWalRecord(entries=tuple(entries))


# --- the engine -------------------------------------------------------------------------------


class RaftEngine(ConsensusEngine):
    """Raft with PreVote and CheckQuorum over the members of `validator_set` (powers are ignored: one member,
    one vote)."""

    name = "raft"

    def __init__(
        self,
        settings: RaftSettings,
        validator_set: ValidatorSet,
        address: Address,
        signer: Signer,
        chain_id: str,
    ) -> None:
        self._settings = settings
        self._address = address
        self._signer = signer
        self._chain_id = chain_id
        members = _get_members(validator_set)
        self._sets_base = Height(0)
        self._sets: tuple[Members, Members, Members] = (members, members, members)
        """The members deciding heights ``_sets_base`` (the stored tip), +1 and +2: all the engine knows."""
        self._peers: tuple[Address, ...] = tuple(member for member in members if member != address)
        """Everyone we know as a member of the tip or the next two heights, but us (`_refresh_peers`)."""
        self._quorums: tuple[Members, ...] = ()
        """The sets whose majorities the current (pre-)candidacy needs (`_get_election_quorums`)."""
        self._is_started = False
        self._now_ms = 0
        # Persistent state (§5, Figure 2).
        self._term = 0
        self._voted_for: Address | None = None
        self._entries: dict[Height, RaftEntry] = {}
        """The log's retained entries: the uncommitted one, if any, and the last committed ones."""
        # Volatile state.
        self._role = Role.FOLLOWER
        self._leader: Address | None = None
        self._last_height = Height(0)
        self._last_term = 0
        """Term of the entry at `_last_height` (kept apart: a block imported by sync has no entry here)."""
        self._commit_height = Height(0)
        """Known committed (§5.3 commitIndex)."""
        self._stored_height = Height(0)
        """Committed and stored by the node (lastApplied)."""
        self._last_block_time_ms = 0
        self._votes: set[Address] = set()
        self._election_deadline_ms = 0
        self._election_attempt = 0
        self._leader_contact_ms: int | None = None
        """When this member last heard from the current leader (the leader lease of PreVote and §4.2.3)."""
        # Leader state.
        self._next_height: dict[Address, Height] = {}
        self._match_height: dict[Address, Height] = {}
        self._heard: set[Address] = set()
        """Followers that answered in the current CheckQuorum window."""
        self._quorum_window_started_ms = 0
        self._is_building = False
        self._propose_due_ms: int | None = None
        self._last_proposal_ms = 0
        self._pool_transaction_count = 0
        self._pool_byte_count = 0
        self._arrivals = Arrivals()
        """For the pacing's `block_gather_ms` (`gusu.consensus.solo`)."""
        # Applying committed entries.
        self._own_built: set[Hash] = set()
        """Blocks this node built and has executed: committed without another check."""
        self._validating: Hash | None = None
        self._is_committing = False
        self._invalid: set[Hash] = set()
        self._wal_records = 0

    # --- introspection ----------------------------------------------------------------

    @property
    def settings(self) -> RaftSettings:
        return self._settings

    @property
    def term(self) -> int:
        return self._term

    @property
    def role(self) -> Role:
        return self._role

    @property
    def leader(self) -> Address | None:
        return self._leader

    @property
    def voted_for(self) -> Address | None:
        return self._voted_for

    @property
    def last_height(self) -> Height:
        return self._last_height

    @property
    def last_term(self) -> int:
        return self._last_term

    @property
    def commit_height(self) -> Height:
        return self._commit_height

    @property
    def height(self) -> Height:
        """The next height to store."""
        return Height(self._stored_height + 1)

    def get_live_leader(self, now_ms: int) -> Address | None:
        """The leader this member heard from within the election timeout (itself while leading), else None.

        `leader` alone may be stale: a member removed from the heights the leader serves (an observer
        now), or one that restarted, hears from no leader, and the one it last knew may be gone.
        """
        if self._role is Role.LEADER:
            return self._address
        if (
            self._leader is None
            or self._leader_contact_ms is None
            or now_ms - self._leader_contact_ms >= self._settings.election_timeout_ms
        ):
            return None
        return self._leader

    def get_entry(self, height: Height) -> RaftEntry | None:
        return self._entries.get(height)

    def get_bookkeeping_sizes(self) -> dict[str, int]:
        """What the engine holds, for bound checks (each bounded by the settings and the member count)."""
        return {"entries": len(self._entries), "votes": len(self._votes), "followers": len(self._next_height)}

    # --- the entry point ------------------------------------------------------------------

    def on_event(self, event: Event) -> list[Action]:
        if isinstance(event, TransactionsAvailable):
            previous = self._pool_transaction_count
            self._pool_transaction_count = max(event.transaction_count, 0)
            self._pool_byte_count = max(event.byte_count, 0)
            self._arrivals.on_pool_report(previous, self._pool_transaction_count, event.now_ms)
            if not self._is_started:
                return []
            self._now_ms = max(self._now_ms, event.now_ms)
            return self._propose_if_due()
        if isinstance(event, Start):
            return self._on_start(event)
        if not self._is_started:
            return []
        if isinstance(event, TimerFired):
            self._now_ms = max(self._now_ms, event.now_ms)
            return self._on_timer_fired(event)
        if isinstance(event, MessageReceived):
            self._now_ms = max(self._now_ms, event.now_ms)
            return self._on_message(event.sender, event.message)
        if isinstance(event, ProposalBuilt):
            return self._on_proposal_built(event)
        if isinstance(event, ProposalValidated):
            return self._on_proposal_validated(event)
        if isinstance(event, BlockCommitted):
            self._now_ms = max(self._now_ms, event.now_ms)
            return self._on_block_committed(event)
        return []  # PeersChanged: Raft needs no reachability hint

    # --- start and restart ------------------------------------------------------------------

    def _on_start(self, event: Start) -> list[Action]:
        self._now_ms = max(self._now_ms, event.now_ms)
        stored = Height(event.height - 1)
        first = not self._is_started
        self._is_started = True
        if first:
            for raw in event.wal_records:
                self._replay(decode_raft_wal_record(raw))
        # The node dropped whatever it had built or checked and not stored (the `Start` contract).
        self._own_built.clear()
        self._validating = None
        self._is_committing = False
        self._is_building = False
        self._stored_height = max(self._stored_height, stored)
        self._move_sets(event.validators, event.next_validators)
        self._last_block_time_ms = event.last_block_time_ms
        if self._last_height <= stored:
            # The log ends at the stored tip (a block imported by sync is committed: its term is its
            # certificate's round, which the node hands over).
            for height in [h for h in self._entries if h > stored]:
                del self._entries[height]
        if stored not in self._entries:
            # The tip came by block sync or from another engine (a switch), or it is the genesis: the
            # entries kept from before it do not reach it, so no follower could be brought up to date
            # from them.
            for height in [h for h in self._entries if h <= stored]:
                del self._entries[height]
            if self._last_height <= stored:
                self._last_term = max(event.last_block_round or 0, 0)
                self._last_height = stored
            # Otherwise the log goes on past the tip: entries this member appended (and acknowledged)
            # after the tip, on a previous height it knew committed. They are kept: a leader may have
            # counted them towards a commit (§5.4), so forgetting them would let a candidate without
            # them win this member's vote and order another block at a committed height.
        # Every entry but the last was known committed when it was appended (module docstring).
        self._commit_height = max(self._commit_height, stored, Height(self._last_height - 1))
        self._prune()
        actions: list[Action] = []
        if first:
            self._last_proposal_ms = min(event.last_block_time_ms, event.now_ms)
            self._become_follower_quietly()
            actions += self._reset_election_timer()
            quorums = self._get_election_quorums()
            if quorums is not None and _has_quorums({self._address}, quorums):
                actions += self._start_prevote()  # the only member: lead at once
        actions += self._apply_committed()
        actions += self._propose_if_due()
        return actions

    def _replay(self, record: RaftWalRecord) -> None:
        if record.term is not None:
            self._term = record.term
            self._voted_for = record.voted_for
            return
        for entry in record.entries:
            self._truncate_from(entry.height)
            self._entries[entry.height] = entry
            self._last_height = entry.height
            self._last_term = entry.term

    # --- membership (module docstring, "Membership") -----------------------------------------------

    def _move_sets(self, validators: ValidatorSet | None, next_validators: ValidatorSet | None) -> None:
        """The sets of the stored tip and the two heights after it, from the event that moved the tip
        (`validators`: the set of tip + 1, `next_validators`: of tip + 2; None: what we knew)."""
        base = self._stored_height
        old = {Height(self._sets_base + offset): members for offset, members in enumerate(self._sets)}
        known = self._sets[2]
        following = _get_members(validators) if validators is not None else old.get(Height(base + 1), known)
        if next_validators is not None:
            after = _get_members(next_validators)
        else:
            after = following if validators is not None else old.get(Height(base + 2), following)
        self._sets_base = base
        self._sets = (old.get(base, following), following, after)
        self._refresh_peers()

    def _refresh_peers(self) -> None:
        """Everyone the engine knows as a member of the tip or the next two heights, but us: the leader
        keeps them all up to date (a member leaving after the tip still hears that the tip committed)."""
        self._peers = tuple(sorted({member for members in self._sets for member in members} - {self._address}))
        if self._role is Role.LEADER:
            for peer in [peer for peer in self._next_height if peer not in self._peers]:
                del self._next_height[peer]
                del self._match_height[peer]
            for peer in self._peers:
                if peer not in self._next_height:
                    self._next_height[peer] = Height(self._last_height + 1)
                    self._match_height[peer] = Height(0)

    def _get_members_at(self, height: Height) -> Members | None:
        """The members deciding `height`, if the engine knows them (the tip and the next two heights)."""
        offset = height - self._sets_base
        return self._sets[offset] if 0 <= offset < len(self._sets) else None

    def get_members_at(self, height: Height) -> Members | None:
        return self._get_members_at(height)

    def _is_voter(self) -> bool:
        """A member of the height after the tip or the one after that votes; anyone else is silent."""
        return self._address in self._sets[1] or self._address in self._sets[2]

    def _get_leading_height(self) -> Height:
        """The height a leader with our log orders: its uncommitted last entry, else the one after."""
        return self._last_height if self._last_height > self._commit_height else Height(self._last_height + 1)

    def _get_election_quorums(self) -> tuple[Members, ...] | None:
        """The sets whose majorities a candidate with our log needs, or None if we may not stand.

        With a log ending at L: a majority of the members of L + 1, and also of L unless we know L
        committed (joint quorums at a boundary). The candidate must be a member of the height it
        would order (`_get_leading_height`) so that the entry it signs is certified by a member of
        that entry's height. The argument is in the module docstring.
        """
        last = self._last_height
        heights = (Height(last + 1),) if self._commit_height >= last else (last, Height(last + 1))
        quorums = tuple(self._get_members_at(height) for height in heights)
        leading = self._get_members_at(self._get_leading_height())
        if leading is None or self._address not in leading or any(members is None for members in quorums):
            return None
        return tuple(members for members in quorums if members is not None)

    # --- timers -------------------------------------------------------------------------------

    def _on_timer_fired(self, event: TimerFired) -> list[Action]:
        if event.kind == TIMER_ELECTION:
            return self._on_election_timer()
        if event.kind == TIMER_HEARTBEAT:
            return self._on_heartbeat_timer()
        if event.kind == TIMER_PROPOSE:
            self._propose_due_ms = None
            return self._propose_if_due()
        return []

    def _on_election_timer(self) -> list[Action]:
        if self._role is Role.LEADER:
            return []
        if self._now_ms < self._election_deadline_ms:
            # Heard from the leader (or voted) since this timer was set: wait for the rest of the timeout.
            return [ScheduleTimer(TIMER_HEIGHT, TIMER_ROUND, TIMER_ELECTION, self._election_deadline_ms - self._now_ms)]
        return self._start_prevote()

    def _on_heartbeat_timer(self) -> list[Action]:
        if self._role is not Role.LEADER:
            return []
        # CheckQuorum (thesis §6.2): a leader that has not heard from a majority within an election
        # timeout steps down, so a partitioned leader stops accepting work and lets its lease lapse.
        if self._now_ms - self._quorum_window_started_ms >= self._settings.election_timeout_ms:
            members = self._get_members_at(self._get_leading_height())
            heard = self._heard | {self._address}
            if members is None or not _has_quorums(heard, (members,)):
                return self._step_down(self._term)
            self._heard.clear()
            self._quorum_window_started_ms = self._now_ms
        actions: list[Action] = []
        for peer in self._peers:
            actions += self._send_append(peer)
        actions.append(ScheduleTimer(TIMER_HEIGHT, TIMER_ROUND, TIMER_HEARTBEAT, self._settings.heartbeat_interval_ms))
        return actions

    def _reset_election_timer(self) -> list[Action]:
        """Push the election deadline out by a fresh timeout; a timer is always pending while not leading."""
        self._election_attempt += 1
        timeout = compute_election_timeout_ms(self._settings, self._address, self._term, self._election_attempt)
        self._election_deadline_ms = self._now_ms + timeout
        return [ScheduleTimer(TIMER_HEIGHT, TIMER_ROUND, TIMER_ELECTION, timeout)]

    def _extend_election_deadline(self) -> None:
        """Heard from the leader: the pending timer will find the deadline moved and wait again."""
        timeout = compute_election_timeout_ms(self._settings, self._address, self._term, self._election_attempt)
        self._election_deadline_ms = max(self._election_deadline_ms, self._now_ms + timeout)

    # --- elections (§5.2, thesis §9.6 PreVote) ---------------------------------------------------

    def _is_leader_lease_held(self) -> bool:
        """This member heard from a live leader within the minimum election timeout (or is that leader)."""
        if self._role is Role.LEADER:
            return True
        return (
            self._leader is not None
            and self._leader_contact_ms is not None
            and self._now_ms - self._leader_contact_ms < self._settings.election_timeout_ms
        )

    def _is_up_to_date(self, last_term: int, last_height: Height) -> bool:
        """§5.4.1: the candidate's log is at least as up-to-date as ours, and reaches what we know committed.

        The second half is implied in plain Raft (a higher last term means a leader that held every
        committed entry), but not here: a tip stored by block sync or decided by another engine (a
        switch) carries no Raft term (`_last_term` 0), so a member that slept through a Tendermint
        period with an old Raft entry of term >= 1 would otherwise win the votes of members holding a
        longer committed chain, and order a second block at a committed height.
        """
        if last_height < self._commit_height:
            return False
        return (last_term, last_height) >= (self._last_term, self._last_height)

    def _start_prevote(self) -> list[Action]:
        """PreVote: ask whether we could win term + 1 before disturbing anyone with it (thesis §9.6)."""
        if self._settings.last_height is not None and self._stored_height >= self._settings.last_height:
            return []  # handed over: this engine orders nothing more
        quorums = self._get_election_quorums()
        if quorums is None:
            # Not a member of the height we would order, or still applying committed entries: do not
            # stand now, look again after a timeout (a later commit may make us a member).
            return self._reset_election_timer()
        self._quorums = quorums
        self._role = Role.PRE_CANDIDATE
        self._leader = None
        self._votes = {self._address}
        actions = self._reset_election_timer()
        if _has_quorums(self._votes, quorums):
            return actions + self._become_candidate()
        request = RequestVote(self._term + 1, self._address, self._last_height, self._last_term, True)
        return [*actions, Broadcast(request)]

    def _become_candidate(self) -> list[Action]:
        if self._term >= TERM_MAX:
            return []  # unreachable by elections; a WAL with a term past the wire's bound would not start
        quorums = self._get_election_quorums()
        if quorums is None:
            self._become_follower_quietly()
            return []
        self._quorums = quorums
        self._term += 1
        self._role = Role.CANDIDATE
        self._voted_for = self._address
        self._leader = None
        self._votes = {self._address}
        actions: list[Action] = [self._wal_term()]
        actions += self._reset_election_timer()
        if _has_quorums(self._votes, quorums):
            return actions + self._become_leader()
        request = RequestVote(self._term, self._address, self._last_height, self._last_term, False)
        return [*actions, Broadcast(request)]

    def _on_request_vote(self, message: RequestVote) -> list[Action]:
        candidate = message.candidate
        if not self._is_voter():
            return []  # removed (or not yet added) here: a member that left stops voting at the height it leaves
        up_to_date = self._is_up_to_date(message.last_term, message.last_height)
        if message.is_prevote:
            # Granted without changing our term or vote: a pre-vote promises nothing.
            granted = message.term > self._term and up_to_date and not self._is_leader_lease_held()
            reply = VoteReply(message.term if granted else self._term, self._address, True, granted)
            return [SendMessage(candidate, reply)]
        if message.term < self._term:
            return [SendMessage(candidate, VoteReply(self._term, self._address, False, False))]
        actions: list[Action] = []
        if message.term > self._term:
            if self._is_leader_lease_held():
                return []  # §4.2.3 of the thesis: a live leader's followers ignore a disruptive candidate
            actions += self._step_down(message.term)
        granted = self._voted_for in (None, candidate) and up_to_date
        if granted and self._voted_for is None:
            self._voted_for = candidate
            actions.append(self._wal_term())  # the vote is durable before it is revealed
        if granted:
            self._extend_election_deadline()
        actions.append(SendMessage(candidate, VoteReply(self._term, self._address, False, granted)))
        return actions

    def _on_vote_reply(self, message: VoteReply) -> list[Action]:
        if message.term > self._term and not (message.is_prevote and message.is_granted):
            return self._step_down(message.term)
        if not message.is_granted or not any(message.voter in members for members in self._quorums):
            return []
        if message.is_prevote:
            if self._role is not Role.PRE_CANDIDATE or message.term != self._term + 1:
                return []
            self._votes.add(message.voter)
            return self._become_candidate() if _has_quorums(self._votes, self._quorums) else []
        if self._role is not Role.CANDIDATE or message.term != self._term:
            return []
        self._votes.add(message.voter)
        return self._become_leader() if _has_quorums(self._votes, self._quorums) else []

    def _become_follower_quietly(self) -> None:
        self._role = Role.FOLLOWER
        self._votes = set()
        self._quorums = ()
        self._next_height.clear()
        self._match_height.clear()
        self._heard.clear()
        self._is_building = False

    def _step_down(self, term: int) -> list[Action]:
        """Become a follower of `term` (a newer term, or CheckQuorum lost the majority)."""
        was_leader = self._role is Role.LEADER
        actions: list[Action] = []
        if term > self._term:
            self._term = term
            self._voted_for = None
            actions.append(self._wal_term())
        self._leader = None
        self._leader_contact_ms = None
        self._become_follower_quietly()
        if was_leader:
            actions += self._reset_election_timer()
        return actions

    def _become_leader(self) -> list[Action]:
        self._role = Role.LEADER
        self._leader = self._address
        self._votes = set()
        self._heard.clear()
        self._quorum_window_started_ms = self._now_ms
        self._next_height = {peer: Height(self._last_height + 1) for peer in self._peers}
        self._quorums = ()
        self._match_height = {peer: Height(0) for peer in self._peers}
        self._last_proposal_ms = min(self._last_proposal_ms, self._now_ms)
        actions: list[Action] = []
        if self._last_height > self._commit_height:
            # Re-stamp the one uncommitted entry with our term instead of a no-op entry (module docstring).
            old = self._entries[self._last_height]
            entry = make_entry(
                self._signer, self._chain_id, self._address, old.height, self._term, old.block_hash, old.timestamp_ms
            )
            self._entries[entry.height] = entry
            self._last_term = self._term
            actions.append(self._wal_entries((entry,)))
        actions += self._advance_commit()
        for peer in self._peers:
            actions += self._send_append(peer)
        actions.append(ScheduleTimer(TIMER_HEIGHT, TIMER_ROUND, TIMER_HEARTBEAT, self._settings.heartbeat_interval_ms))
        return actions + self._propose_if_due()

    # --- replication (§5.3) ----------------------------------------------------------------------

    def _on_message(self, sender: Address, message: object) -> list[Action]:
        if sender == self._address or not any(sender in members for members in self._sets):
            return []
        if isinstance(message, RequestVote) and message.candidate == sender:
            return self._on_request_vote(message)
        if isinstance(message, VoteReply) and message.voter == sender:
            return self._on_vote_reply(message)
        if isinstance(message, AppendEntries) and message.leader == sender:
            return self._on_append_entries(message)
        if isinstance(message, AppendReply) and message.follower == sender:
            return self._on_append_reply(message)
        return []  # not a Raft message, or not sent in its sender's own name

    def _get_term_at(self, height: Height) -> int | None:
        if height == 0:
            return 0
        entry = self._entries.get(height)
        if entry is not None:
            return entry.term
        return self._last_term if height == self._last_height else None

    def _send_append(self, peer: Address) -> list[Action]:
        assert self._role is Role.LEADER
        next_height = self._next_height[peer]
        entries: list[RaftEntry] = []
        if next_height <= self._last_height and next_height in self._entries:
            top = min(self._last_height, next_height + self._settings.entries_per_append_max - 1)
            # The entries kept may have a gap: heights this member stored through block sync carry no
            # entry. Send the run up to the gap; the follower gets past it by block sync too.
            for height in range(next_height, top + 1):
                entry = self._entries.get(Height(height))
                if entry is None:
                    break
                entries.append(entry)
            previous = Height(next_height - 1)
        else:
            # Up to date (a heartbeat), or behind the entries we keep: then a heartbeat at our last
            # entry, which the follower refuses until block sync has brought it there.
            previous = Height(min(next_height - 1, self._last_height))
        previous_term = self._get_term_at(previous)
        message = AppendEntries(
            self._term,
            self._address,
            previous,
            0 if previous_term is None else previous_term,
            tuple(entries),
            self._commit_height,
        )
        return [SendMessage(peer, message)]

    def _on_append_entries(self, message: AppendEntries) -> list[Action]:
        leader = message.leader
        if message.term < self._term:
            return [SendMessage(leader, AppendReply(self._term, self._address, False, self._last_height))]
        actions: list[Action] = []
        if message.term > self._term or self._role is not Role.FOLLOWER:
            actions += self._step_down(message.term)
        if self._leader != leader:
            self._leader = leader
        self._leader_contact_ms = self._now_ms
        self._extend_election_deadline()
        previous = message.previous_height
        # The consistency check (§5.3); an entry we know committed matches the leader's (§5.4.3).
        if previous > self._commit_height:
            if previous > self._last_height:
                return [*actions, self._append_reply(leader, False, self._last_height)]
            if self._get_term_at(previous) != message.previous_term:
                return [*actions, self._append_reply(leader, False, Height(max(self._commit_height, previous - 1)))]
        appended: list[RaftEntry] = []
        for entry in message.entries:
            height = entry.height
            if height <= self._stored_height:
                if self._is_other_than_stored(entry):
                    # Never acknowledge a block other than the one stored here: a count that included
                    # this member would certify a second block at a height it already committed.
                    return [*actions, self._append_reply(leader, False, self._commit_height)]
                continue
            mine = self._entries.get(height) if height <= self._last_height else None
            if mine is not None and mine.term == entry.term:
                continue
            if height <= self._commit_height:
                if mine is None or mine.block_hash != entry.block_hash:
                    # A committed block cannot change; only a member that lies could send this.
                    return [*actions, self._append_reply(leader, False, self._commit_height)]
                # A new leader re-stamped an entry it did not know committed: same block, its term.
                self._entries[height] = entry
                if height == self._last_height:
                    self._last_term = entry.term
                appended.append(entry)
                continue
            self._truncate_from(height)
            self._entries[height] = entry
            self._last_height = height
            self._last_term = entry.term
            appended.append(entry)
        if appended:
            actions.append(self._wal_entries(tuple(appended)))
        match = Height(previous + len(message.entries))
        new_commit = min(message.leader_commit, match, self._last_height)
        if new_commit > self._commit_height:
            self._commit_height = Height(new_commit)
        actions.append(self._append_reply(leader, True, match))
        return actions + self._apply_committed()

    def _is_other_than_stored(self, entry: RaftEntry) -> bool:
        """`entry` names another block than the one this member stored at its height (as far as it still
        remembers that height's entry). Under Leader Completeness this never holds; it guards the
        stored chain should a leader break it."""
        stored = self._entries.get(entry.height)
        return stored is not None and stored.block_hash != entry.block_hash

    def _append_reply(self, leader: Address, is_success: bool, match: Height) -> SendMessage:
        return SendMessage(leader, AppendReply(self._term, self._address, is_success, match))

    def _on_append_reply(self, message: AppendReply) -> list[Action]:
        if message.term > self._term:
            return self._step_down(message.term)
        if message.term < self._term or self._role is not Role.LEADER:
            return []
        follower = message.follower
        self._heard.add(follower)
        if message.is_success:
            match = min(message.match_height, self._last_height)
            if match > self._match_height[follower]:
                self._match_height[follower] = Height(match)
            self._next_height[follower] = Height(max(self._next_height[follower], self._match_height[follower] + 1))
            actions = self._advance_commit()
            if self._next_height[follower] <= self._last_height:
                actions += self._send_append(follower)
            return actions
        retry = Height(
            max(self._match_height[follower] + 1, min(self._next_height[follower] - 1, message.match_height + 1), 1)
        )
        if retry >= self._next_height[follower]:
            return []  # nothing earlier to try: the next heartbeat retries
        self._next_height[follower] = retry
        if retry <= self._last_height and retry not in self._entries:
            return []  # behind the entries we keep: it catches up by block sync; heartbeats go on
        return self._send_append(follower)

    def _advance_commit(self) -> list[Action]:
        """§5.3/§5.4.2: commit our last entry once it is of our own term and a majority of *its height's*
        members store it (membership, module docstring); every earlier entry is committed already."""
        candidate = self._last_height
        if candidate <= self._commit_height or self._get_term_at(candidate) != self._term:
            return []
        members = self._get_members_at(candidate)
        if members is None:
            return []
        stored = {self._address} | {peer for peer, match in self._match_height.items() if match >= candidate}
        if not _has_quorums(stored, (members,)):
            return []
        self._commit_height = candidate
        actions: list[Action] = []
        for peer in self._peers:
            actions += self._send_append(peer)  # tell the followers now, not at the next heartbeat
        return actions + self._apply_committed()

    def _truncate_from(self, height: Height) -> None:
        for stale in [h for h in self._entries if h >= height]:
            del self._entries[stale]
        if self._last_height >= height:
            self._last_height = Height(height - 1)
            previous = self._entries.get(self._last_height)
            self._last_term = previous.term if previous is not None else self._last_term

    # --- proposing (leader) -------------------------------------------------------------------

    def _propose_if_due(self) -> list[Action]:
        if (
            self._role is not Role.LEADER
            or self._is_building
            or not self._stored_height == self._commit_height == self._last_height
        ):
            return []
        if self._settings.last_height is not None and self._last_height >= self._settings.last_height:
            return []
        members = self._get_members_at(Height(self._last_height + 1))
        if members is None or self._address not in members:
            return []  # not a member of the next height (the commit that told us so also stepped us down)
        due = self._compute_due_ms()
        if due is None:
            return []
        if due > self._now_ms:
            if self._propose_due_ms is not None and self._propose_due_ms <= due:
                return []  # a sooner timer is pending; it re-decides
            self._propose_due_ms = due
            return [ScheduleTimer(TIMER_HEIGHT, TIMER_ROUND, TIMER_PROPOSE, due - self._now_ms)]
        self._is_building = True
        self._last_proposal_ms = self._now_ms
        self._arrivals.on_proposal()
        timestamp_ms = max(self._now_ms, self._last_block_time_ms + 1)
        return [BuildProposal(Height(self._last_height + 1), Round(self._term), timestamp_ms)]

    def _compute_due_ms(self) -> int | None:
        return compute_proposal_due_ms(
            self._settings.pacing,
            self._pool_transaction_count,
            self._pool_byte_count,
            self._last_proposal_ms,
            self._arrivals,
            self._now_ms,
        )

    def _on_proposal_built(self, event: ProposalBuilt) -> list[Action]:
        if (
            not self._is_building
            or self._role is not Role.LEADER
            or event.round != self._term
            or event.height != self._last_height + 1
        ):
            return []
        self._is_building = False
        entry = make_entry(
            self._signer, self._chain_id, self._address, event.height, self._term, event.block_hash, event.timestamp_ms
        )
        self._entries[entry.height] = entry
        self._last_height = entry.height
        self._last_term = self._term
        self._own_built.add(event.block_hash)
        actions: list[Action] = [self._wal_entries((entry,))]
        actions += self._advance_commit()
        for peer in self._peers:
            if self._next_height[peer] == entry.height:
                actions += self._send_append(peer)
        return actions

    # --- applying committed entries ----------------------------------------------------------

    def _apply_committed(self) -> list[Action]:
        """Hand the node the next committed block: checked first unless we built it."""
        if self._is_committing or self._validating is not None:
            return []
        height = Height(self._stored_height + 1)
        entry = self._entries.get(height)
        if height > self._commit_height or entry is None or entry.block_hash in self._invalid:
            return []
        if entry.block_hash in self._own_built:
            self._is_committing = True
            return [CommitBlock(height, Round(entry.term), entry.block_hash, compute_raft_certificate(entry))]
        self._validating = entry.block_hash
        return [ValidateProposal(height, Round(entry.term), entry.block_hash)]

    def _on_proposal_validated(self, event: ProposalValidated) -> list[Action]:
        if event.block_hash != self._validating or event.height != self._stored_height + 1:
            return []
        self._validating = None
        entry = self._entries.get(event.height)
        if entry is None or entry.block_hash != event.block_hash:
            return self._apply_committed()
        if not event.is_valid:
            # A committed block that does not check: execution is not deterministic here, or a member
            # lied. Raft cannot decide anything else for this height; the chain stops (docs/consensus.md).
            self._invalid.add(event.block_hash)
            return []
        self._own_built.add(event.block_hash)
        return self._apply_committed()

    def _on_block_committed(self, event: BlockCommitted) -> list[Action]:
        if event.height <= self._stored_height:
            return []
        self._stored_height = event.height
        self._move_sets(event.validators, event.next_validators)
        self._last_block_time_ms = event.timestamp_ms
        self._is_committing = False
        self._validating = None  # a check still running is of a height now stored: its verdict is moot
        self._own_built.discard(event.block_hash)
        if self._last_height < event.height:
            self._last_height = event.height
            entry = self._entries.get(event.height)
            self._last_term = entry.term if entry is not None else self._last_term
        self._commit_height = max(self._commit_height, event.height)
        self._prune()
        actions: list[Action] = []
        if self._role is Role.LEADER:
            members = self._get_members_at(Height(self._stored_height + 1))
            if members is None or self._address not in members:
                # Removed from the next height: stop leading at the height we leave (our followers' election
                # timers then run out; a member of the new set stands).
                actions += self._step_down(self._term)
        actions += self._apply_committed()
        if self._wal_records >= WAL_REWRITE_RECORDS:
            actions.append(self._rewrite_wal())
        return actions + self._propose_if_due()

    def _prune(self) -> None:
        oldest = self._stored_height - self._settings.retained_entries_max
        for height in [h for h in self._entries if h <= oldest]:
            del self._entries[height]

    # --- the WAL ---------------------------------------------------------------------------------

    def _wal_term(self) -> AppendWal:
        self._wal_records += 1
        record = RaftWalRecord(term=self._term, voted_for=self._voted_for)
        return AppendWal(TIMER_HEIGHT, encode_raft_wal_record(record))

    def _wal_entries(self, entries: Iterable[RaftEntry]) -> AppendWal:
        self._wal_records += 1
        return AppendWal(TIMER_HEIGHT, encode_raft_wal_record(RaftWalRecord(entries=tuple(entries))))

    def _rewrite_wal(self) -> RewriteWal:
        self._wal_records = 2
        return RewriteWal(self.get_wal_snapshot())

    def get_wal_snapshot(self) -> tuple[bytes, ...]:
        """The WAL's contents as a `RewriteWal` would write them now: the term, the vote and the retained log."""
        return (
            encode_raft_wal_record(RaftWalRecord(term=self._term, voted_for=self._voted_for)),
            encode_raft_wal_record(RaftWalRecord(entries=tuple(self._entries[h] for h in sorted(self._entries)))),
        )


__all__ = [
    "TIMER_ELECTION",
    "TIMER_HEARTBEAT",
    "RaftEngine",
    "RaftMessage",
    "RaftSettings",
    "RaftWalRecord",
    "Role",
    "compute_election_timeout_ms",
    "decode_raft_wal_record",
    "encode_raft_wal_record",
]
