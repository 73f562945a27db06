"""The properties every simulated run must have, checked after the run.

Honest nodes are all nodes except the twins of Byzantine validators.
Correct nodes are the honest ones whose application is sound (not told to
build invalid blocks): what they acknowledge to a client must commit.

* **agreement**: no two honest nodes store different blocks at one height;
* **validity**: every stored block extends the node's chain and carries a
  certificate that `verify_commit_certificate` accepts (checked as each
  block is stored, see `cluster.Simulation._store_block`); its certificate's
  median precommit time is after the block's own time;
* **block time** (proposer-based timestamps): every stored block's time
  lies within the good clocks (those of honest nodes within the precision)
  as PBTS promises: no later than the latest good clock when the node
  committed it plus the precision, and no earlier than the earliest good
  clock when a good honest node first had a fresh proposal of it, minus the
  precision and the message delay of the commit round. Lies about time by
  faulty proposers, in either direction, must not get into the chain;
* **exactly once**: no transaction id appears twice in one honest node's
  chain (in two blocks, or twice in one block);
* **acknowledged transactions commit**: every transaction a correct node
  acknowledged is, at the end of the run, committed exactly once on every
  honest node. The one other outcome accepted is a reported expiry: an
  acknowledging node's pool dropped it (`Mempool.on_block_committed`) and
  the honest node's chain has passed its `valid_until_height`, so it can
  never commit there. Clients sign a validity window of 500 heights, which
  no run comes near, so campaigns expect no drop at all. An uncommitted
  transaction still in some node's pool or on some honest node's chain is
  a liveness failure; one that is nowhere is *lost*, a safety failure;
* **state**: on every honest node each stored header's state root equals
  the root of the state the node itself holds after applying its own
  execution of the block; all honest nodes have the same block hash and
  the same state root at every height they share; honest nodes at the same
  final height hold identical state; transfers conserve the clients'
  total balance;
* **idle** (wait mode without an empty-block interval): once every pool is
  empty and the run has been quiet for `QUIET_MS`, each honest node's
  newest block holds a transaction: a height starts only for pending
  transactions, so a trailing empty block means the chain kept making
  blocks with nothing to decide (a spammer's messages start heights too,
  so with spammers a block may be empty up to the highest height one of
  its messages reached an honest node at, or the next after it). This is a
  cost, not a safety failure: it is counted on its own (`idle_violations`);
* **no double signing**: no honest node's WAL (which outlives its crashes)
  holds two different signed messages of one kind at one height and
  round; the messages honest nodes actually sent are checked the same way
  while the run goes, and no honest node reports evidence against an
  honest validator;
* **bounded memory**: every honest engine's bookkeeping (next-height
  buffer, proposals, tallies, held votes, evidence...) and the node's
  executions and timers stay within `cluster.compute_bookkeeping_bounds`
  (checked as the run goes, see `cluster.Simulation._sample_bookkeeping`);
* **liveness**: within `LIVENESS_BOUND_MS` of the heal, every honest node
  commits a block above the highest height any honest node had at the
  heal; in wait mode only if blocks are due, that is if a correct node
  held a client transaction not yet committed everywhere at the heal or
  acknowledged one after it (the workload always submits one just after
  the heal). Every transaction a correct node acknowledged is committed on
  every honest node within `get_transaction_bound_ms` (30 s plus 2 s per
  unit of total voting power) of its acknowledgement, or of the heal if
  that came later (checked as commits happen, see
  `cluster.Simulation._count_honest_commits`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gusu.consensus import compute_block_time_ms, verify_commit_certificate
from gusu.consensus.messages import Message, Proposal, get_signer_address
from gusu.consensus.raft import decode_raft_wal_record
from gusu.consensus.raft_messages import verify_raft_certificate
from gusu.consensus.tendermint_wal import WalKind, decode_wal_record
from gusu.errors import CodecError, InvalidBlockError
from gusu.eval.simulation.chain import CHAIN_ID, CLIENT_BALANCE, CLIENT_COUNT, compute_client_balance_total
from gusu.eval.simulation.cluster import CLOCK_START_MS, LIVENESS_BOUND_MS, QUIET_MS
from gusu.ledger.types import Hash

if TYPE_CHECKING:
    from gusu.eval.simulation.cluster import Simulation


def run_checkers(simulation: Simulation, deadline_ms: int) -> None:
    check_agreement(simulation)
    check_validator_sets(simulation)
    check_engines(simulation)
    if simulation.uses_tendermint:
        check_block_times(simulation)  # Tendermint's proposal-time rules; a Raft leader stamps its own clock
    check_exactly_once(simulation)
    check_acknowledged_transactions(simulation)
    check_state(simulation)
    check_idle(simulation)
    if simulation.uses_raft:
        check_raft_votes(simulation)
    if simulation.uses_tendermint:
        check_wal_double_signing(simulation)
    check_evidence(simulation)
    check_liveness(simulation, deadline_ms)


def check_raft_votes(simulation: Simulation) -> None:
    """Raft: no honest member's WAL history ever records two votes in one term, nor a term going back."""
    for node in simulation.honest:
        votes: dict[int, bytes] = {}
        latest = 0
        for _, raw in node.wal:
            try:
                record = decode_raft_wal_record(raw)
            except CodecError:
                continue  # a Tendermint record (the chain switched engines); `check_wal_double_signing` reads it
            if record.term is None:
                continue
            if record.term < latest:
                simulation.violations.append(
                    f"raft: node {node.node_id}'s term went back from {latest} to {record.term}"
                )
                return
            latest = record.term
            if record.voted_for is None:
                continue
            first = votes.setdefault(record.term, record.voted_for)
            if first != record.voted_for:
                simulation.violations.append(f"raft: node {node.node_id} voted twice in term {record.term}")
                return


def check_agreement(simulation: Simulation) -> None:
    by_height: dict[int, tuple[int, bytes]] = {}
    for node in simulation.honest:
        for block in node.store:
            first = by_height.setdefault(block.height, (node.node_id, block.block_hash))
            if first[1] != block.block_hash:
                simulation.violations.append(
                    f"agreement: nodes {first[0]} and {node.node_id} committed different blocks at height "
                    f"{block.height} ({first[1].hex()[:16]} vs {block.block_hash.hex()[:16]})"
                )
                return


def check_validator_sets(simulation: Simulation) -> None:
    """Each block is certified by the set the plan puts in force at its height, and its header says so.

    The expected sets come from the fault plan alone (genesis powers and churn steps), not from the
    schedule the nodes read, so a node that misreads or ignores the schedule is caught here. Each
    header also announces the set of the next height, which the next header names (what light clients
    follow).
    """
    planned = simulation.planned_validators_hashes
    suite = simulation.suite

    def get_planned(height: int) -> bytes:
        return [validators_hash for first, validators_hash in planned if first <= height][-1]

    for node in simulation.honest:
        previous = None
        for block in node.store:
            header = block.block.header
            expected = get_planned(block.height)
            certifying = block.validator_set.compute_validators_hash(suite)
            if header.validators_hash != expected or certifying != expected:
                simulation.violations.append(
                    f"validator set: block {block.height} on node {node.node_id} names set "
                    f"{header.validators_hash.hex()[:16]} and was certified by {certifying.hex()[:16]}; the plan puts "
                    f"{expected.hex()[:16]} in force there"
                )
                return
            if previous is not None and previous.next_validators_hash != header.validators_hash:
                simulation.violations.append(
                    f"validator set: block {block.height} on node {node.node_id} names another set than block "
                    f"{block.height - 1} announced"
                )
                return
            previous = header


def _is_raft_wal_record(raw: bytes) -> bool:
    try:
        decode_raft_wal_record(raw)
    except CodecError:
        return False
    return True


def check_engines(simulation: Simulation) -> None:
    """Every stored block is certified the way the engine the plan puts in force at its height certifies:
    one Raft leader signature, or a Tendermint quorum (a node that ignored a switch fails this)."""
    for node in simulation.honest:
        for stored in node.store:
            engine = simulation.get_planned_engine(stored.height)
            try:
                if engine == "raft":
                    verify_raft_certificate(simulation.suite, CHAIN_ID, stored.validator_set, stored.certificate)
                else:
                    verify_commit_certificate(
                        simulation.suite, CHAIN_ID, stored.validator_set, stored.certificate, stored.block.block_hash
                    )
            except InvalidBlockError as error:
                simulation.violations.append(
                    f"engine: block {stored.height} on node {node.node_id} is not certified as {engine} certifies: "
                    f"{error}"
                )
                return


def check_block_times(simulation: Simulation) -> None:
    settings = simulation.settings
    precision_ms = settings.block_time_precision_ms
    good_skews_ms = [node.skew_ms for node in simulation.honest if node.clock_is_good]
    for node in simulation.honest:
        for block in node.store:
            if simulation.get_planned_engine(block.height) != "tendermint":
                continue
            latest_ms = CLOCK_START_MS + block.committed_at_ms + max(good_skews_ms) + precision_ms
            if block.timestamp_ms > latest_ms:
                simulation.violations.append(
                    f"block time: block {block.height} on node {node.node_id} is stamped {block.timestamp_ms}, "
                    f"{block.timestamp_ms - latest_ms + precision_ms} ms past every good clock when it committed "
                    f"(precision {precision_ms} ms)"
                )
                return
            seen_ms = simulation.first_seen_ms.get(block.block_hash)
            if seen_ms is None:
                simulation.violations.append(
                    f"block time: block {block.height} on node {node.node_id} committed, but no good honest node "
                    "ever had a fresh proposal of it"
                )
                return
            delay_ms = settings.get_block_time_message_delay_ms(block.certificate.round)
            earliest_ms = CLOCK_START_MS + seen_ms + min(good_skews_ms) - precision_ms - delay_ms
            if block.timestamp_ms < earliest_ms:
                simulation.violations.append(
                    f"block time: block {block.height} on node {node.node_id} is stamped {block.timestamp_ms}, "
                    f"{earliest_ms - block.timestamp_ms + precision_ms + delay_ms} ms before every good clock when "
                    f"its proposal was first seen (precision {precision_ms} ms, message delay {delay_ms} ms)"
                )
                return
            if compute_block_time_ms(block.certificate, block.validator_set) <= block.timestamp_ms:
                simulation.violations.append(
                    f"validity: the certificate of block {block.height} on node {node.node_id} has a BFT time "
                    "not after the block's own time"
                )
                return


def _slot(message: Message) -> tuple[int, int, str]:
    kind = "proposal" if isinstance(message, Proposal) else message.kind.name.lower()
    return int(message.height), int(message.round), kind


def check_wal_double_signing(simulation: Simulation) -> None:
    for node in simulation.honest:
        signed: dict[tuple[int, int, str], Message] = {}
        for position, (_, raw) in enumerate(node.wal):
            if _is_raft_wal_record(raw):
                continue  # the chain switched engines: `check_raft_votes` reads Raft's records
            try:
                record = decode_wal_record(raw)
            except CodecError as error:
                simulation.violations.append(f"WAL: node {node.node_id} record {position} is unreadable: {error}")
                return
            message = record.message
            if message is None or record.kind not in (WalKind.PROPOSAL, WalKind.VOTE):
                continue  # lock and valid records hold the proposal of whoever proposed the block
            if get_signer_address(message) != node.address:
                simulation.violations.append(f"WAL: node {node.node_id} logged a message signed by someone else")
                return
            first = signed.setdefault(_slot(message), message)
            if first != message:
                height, round_, kind = _slot(message)
                simulation.violations.append(
                    f"double signing: honest node {node.node_id} signed two different {kind}s at height {height} "
                    f"round {round_} (WAL records)"
                )
                return


def check_evidence(simulation: Simulation) -> None:
    honest_nodes = {node.node_id for node in simulation.honest}
    for reporter, evidence in simulation.evidence:
        if reporter in honest_nodes and get_signer_address(evidence.first) in simulation.honest_addresses:
            height, round_, kind = _slot(evidence.first)
            simulation.violations.append(
                f"double signing: node {reporter} holds evidence that honest validator "
                f"0x{get_signer_address(evidence.first).hex()[:8]} signed two {kind}s at height {height} "
                f"round {round_}"
            )
            return


def check_exactly_once(simulation: Simulation) -> None:
    for node in simulation.honest:
        heights: dict[Hash, int] = {}
        for block in node.store:
            for transaction_id in block.transaction_ids:
                first = heights.setdefault(transaction_id, block.height)
                if first != block.height or block.transaction_ids.count(transaction_id) > 1:
                    simulation.violations.append(
                        f"exactly once: node {node.node_id} committed transaction {transaction_id.hex()[:16]} "
                        f"at heights {first} and {block.height}"
                    )
                    return


def check_acknowledged_transactions(simulation: Simulation) -> None:
    in_some_pool: set[Hash] = set()
    for node in simulation.nodes:
        if node.mempool is not None:
            in_some_pool.update(
                transaction_id
                for transaction_id in simulation.acknowledgements
                if node.mempool.contains(transaction_id)
            )
    committed_somewhere: set[Hash] = set()
    for node in simulation.honest:
        committed_somewhere.update(node.committed_ids)
    problems = 0
    for transaction_id, acknowledgement in simulation.acknowledgements.items():
        if acknowledgement.correct_ms is None:
            continue  # only faulty nodes acknowledged it: exactly once and agreement still hold for it
        reported = any((node_id, transaction_id) in simulation.reported_drops for node_id in acknowledgement.nodes)
        missing = []
        for node in simulation.honest:
            if transaction_id in node.committed_ids:
                continue  # exactly once is check_exactly_once's
            if reported and node.committed_height >= acknowledgement.valid_until_height:
                continue  # expired, and the client was told
            missing.append(node.node_id)
        if not missing:
            continue
        problems += 1
        if problems > 5:
            continue
        described = (
            f"transaction {transaction_id.hex()[:16]} acknowledged by node(s) "
            f"{', '.join(str(node_id) for node_id in acknowledgement.nodes)} at {acknowledgement.correct_ms} ms"
        )
        if transaction_id in in_some_pool or transaction_id in committed_somewhere:
            simulation.violations.append(
                f"liveness: {described} is not committed on honest node(s) "
                f"{', '.join(str(node_id) for node_id in missing)} at the end of the run"
            )
        else:
            simulation.violations.append(
                f"lost: {described} is in no pool and on no honest chain, and no node reported it dropped"
            )


def check_state(simulation: Simulation) -> None:
    by_height: dict[int, tuple[int, bytes, bytes]] = {}
    for node in simulation.honest:
        for block in node.store:
            if block.block.header.state_root != block.state_root:
                simulation.violations.append(
                    f"state: node {node.node_id} stored block {block.height} whose header names state root "
                    f"{block.block.header.state_root.hex()[:16]}, but its own execution gave "
                    f"{block.state_root.hex()[:16]}"
                )
                return
            first = by_height.setdefault(block.height, (node.node_id, block.block_hash, block.state_root))
            if first[1:] != (block.block_hash, block.state_root):
                simulation.violations.append(
                    f"state: nodes {first[0]} and {node.node_id} differ at height {block.height} "
                    f"(block {first[1].hex()[:16]} vs {block.block_hash.hex()[:16]}, state root "
                    f"{first[2].hex()[:16]} vs {block.state_root.hex()[:16]})"
                )
                return
    by_final_height: dict[int, int] = {}
    supply = CLIENT_BALANCE * CLIENT_COUNT
    for node in simulation.honest:
        other = simulation.nodes[by_final_height.setdefault(node.committed_height, node.node_id)]
        if other.state != node.state:
            simulation.violations.append(
                f"state: nodes {other.node_id} and {node.node_id} are both at height {node.committed_height} "
                "but hold different states"
            )
            return
        total = compute_client_balance_total(node.state)
        if total != supply:
            simulation.violations.append(
                f"state: the balances on node {node.node_id} add up to {total}, not the supply {supply}"
            )
            return


def check_idle(simulation: Simulation) -> None:
    workload = simulation.workload
    if not workload.wait_for_transactions or workload.empty_block_interval_ms or not simulation.is_quiet:
        return
    if any(node.mempool is None or node.mempool.transaction_count for node in simulation.nodes):
        return  # something is still pending (a faulty node's transaction): blocks are due
    # Any validator's message starts an idle height (the engine cannot tell who has transactions), so a
    # spammer's messages can make empty blocks: up to the highest height one of them could start on an honest
    # node (`Simulation.spam_woken_height`, the height it was deciding or the next, held in its buffer).
    woken_height = simulation.spam_woken_height if simulation.plan.spammers else 0
    for node in simulation.honest:
        if node.store and not node.store[-1].transaction_ids and node.store[-1].height > woken_height:
            simulation.violations.append(
                f"idle: with no transaction pending for {QUIET_MS} ms, node {node.node_id}'s newest block "
                f"{node.committed_height} is empty: the chain made a block with nothing to decide"
            )
            return


def check_liveness(simulation: Simulation, deadline_ms: int) -> None:
    if simulation.liveness_ms is not None or not simulation.blocks_demanded:
        return
    target = (simulation.heal_height or 0) + 1
    stuck = [f"{node.node_id}@{node.committed_height}" for node in simulation.honest if node.committed_height < target]
    simulation.violations.append(
        f"liveness: {LIVENESS_BOUND_MS} ms after the heal at {simulation.plan.heal_ms} ms, honest nodes "
        f"{', '.join(stuck)} had not reached height {target} (run ended at {min(simulation.now_ms, deadline_ms)} ms)"
    )
