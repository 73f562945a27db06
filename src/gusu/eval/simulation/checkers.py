"""The properties every simulated run must have, checked after the run.

Honest nodes are all nodes except the twins of Byzantine validators.

* **agreement**: no two honest nodes store different blocks at one height;
* **validity**: every stored block was built for its height, is valid,
  follows its parent's time and carries a certificate that
  `verify_commit_certificate` accepts (checked as each block is stored,
  see `cluster.Simulation._store_block`); its time is no later than the
  latest clock of any node when it committed, and its certificate's BFT
  time is after the block's own time;
* **no double signing**: no honest node's WAL (which outlives its crashes)
  holds two different signed messages of one kind at one height and
  round; the messages honest nodes actually sent are checked the same way
  while the run goes, and no honest node reports evidence against an
  honest validator;
* **liveness**: within `LIVENESS_BOUND_MS` of the heal, every honest node
  commits a block above the highest height any honest node had at the
  heal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gusu.consensus import compute_block_time_ms
from gusu.consensus.messages import Message, Proposal, get_signer_address
from gusu.consensus.tendermint_wal import WalKind, decode_wal_record
from gusu.errors import CodecError
from gusu.eval.simulation.cluster import CLOCK_START_MS, GENESIS_TIME_MS, LIVENESS_BOUND_MS

if TYPE_CHECKING:
    from gusu.eval.simulation.cluster import Simulation


def run_checkers(simulation: Simulation, deadline_ms: int) -> None:
    check_agreement(simulation)
    check_block_times(simulation)
    check_wal_double_signing(simulation)
    check_evidence(simulation)
    check_liveness(simulation, deadline_ms)


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


def check_block_times(simulation: Simulation) -> None:
    latest_skew_ms = max(simulation.plan.skews_ms)
    for node in simulation.honest:
        parent_time_ms = GENESIS_TIME_MS
        for block in node.store:
            # Times must follow the parent even when every clock is behind it, so they may then run ahead.
            latest_ms = max(CLOCK_START_MS + block.committed_at_ms + latest_skew_ms, parent_time_ms + 1)
            parent_time_ms = block.timestamp_ms
            if block.timestamp_ms > latest_ms:
                simulation.violations.append(
                    f"validity: block {block.height} on node {node.node_id} is stamped {block.timestamp_ms}, "
                    "later than any node's clock when it committed"
                )
                return
            if compute_block_time_ms(block.certificate, simulation.validator_set) <= block.timestamp_ms:
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


def check_liveness(simulation: Simulation, deadline_ms: int) -> None:
    if simulation.liveness_ms is not None:
        return
    target = (simulation.heal_height or 0) + 1
    stuck = [f"{node.node_id}@{node.committed_height}" for node in simulation.honest if node.committed_height < target]
    simulation.violations.append(
        f"liveness: {LIVENESS_BOUND_MS} ms after the heal at {simulation.plan.heal_ms} ms, honest nodes "
        f"{', '.join(stuck)} had not reached height {target} (run ended at {min(simulation.now_ms, deadline_ms)} ms)"
    )
