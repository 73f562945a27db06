"""`gusu bench --validator-change`: a validator-set change on a live network under sustained load (issue 8).

The run, on a throw-away network of ``nodes`` founding validators (one
organisation each, ``org0`` ...):

1. before the load, a newcomer organisation (``org<N>``) with one node
   (``node<N>``) is created on this machine the way a real one would create
   itself (`gusu.node.orgdir`), admitted by governance (``add_organization``,
   then ``add_node`` as an observer, each proposed by ``org0`` and voted
   through by a majority), started, and waited for until every founder is
   connected to it and it has caught up;
2. an open-loop load at a fixed ``rate`` (the way `gusu bench` measures
   latency) goes round-robin to the founders that stay validators, so that
   no acknowledged transaction depends on a node the change cuts off;
3. at ``add_at_fraction`` of the measured window the newcomer is voted in
   (``set_validator_power`` 1); once the block at its effective height has
   arrived, and not before ``remove_at_fraction``, the last founder is voted
   out (``remove_node``, or ``set_validator_power`` 0 with
   ``removal="power-zero"``);
4. after the drain, every block of the chain is read: per height the round
   of its commit certificate and its ``validators_hash``; every acknowledged
   transaction must appear in exactly one block.

Throughput is counted in fixed windows of ``throughput_window_s`` by the time
each transaction's block notification arrived (node0's WebSocket). A change
"lasts" from the submission of its proposal to one window after the block at
its effective height arrived; its dip is the worst window overlapping that
span against the median of the windows before the first change. The
baseline's own worst window is reported beside it (`baseline_dip_percent`),
because block arrivals make single windows uneven even at a steady rate.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives import serialization

from gusu.crypto import PrivateKey
from gusu.errors import GusuError
from gusu.eval.bench import (
    NETWORK_READY_TIMEOUT_S,
    SCRYPT_N_THROWAWAY,
    THROWAWAY_CHAIN_ID,
    BenchConfig,
    BenchError,
    LoadState,
    Progress,
    RpcTransport,
    _SilentProgress,
    _wait_ready,
    get_hardware,
    load_admin_key,
    measure_verify_rate,
    read_error,
    run_load,
    signing_pool,
)
from gusu.eval.network import LocalNetwork, LocalNode, throwaway_network
from gusu.node.config import GENESIS_FILE_NAME
from gusu.node.orgdir import (
    NODE_RECORD_FILE_NAME,
    initialize_org_node,
    initialize_organization,
    load_organization,
    read_node_record,
)
from gusu.sdk import AsyncClient, Client
from gusu.sdk.governance import (
    AsyncGovernance,
    Governance,
    ProposalRequest,
    make_add_node,
    make_add_organization,
    make_remove_node,
    make_set_validator_power,
)

REMOVALS: Final = ("remove-node", "power-zero")
DEFAULT_REMOVAL: Final = "remove-node"
DEFAULT_ADD_AT_FRACTION: Final = 0.3
DEFAULT_REMOVE_AT_FRACTION: Final = 0.65
DEFAULT_THROUGHPUT_WINDOW_S: Final = 1.0
THROUGHPUT_WINDOW_MIN_S: Final = 0.1
FOUNDERS_MIN: Final = 4
"""The issue's network; with fewer, one validator cut off before its removal is in force leaves no quorum."""
GOVERNANCE_TIMEOUT_S: Final = 30.0
"""Per governance transaction, from submission to its receipt."""
NEWCOMER_SYNC_TIMEOUT_S: Final = 60.0
"""For the observer to connect to every founder and reach their height."""
POLL_INTERVAL_S: Final = 0.02
BLOCK_QUERIES_PER_BATCH: Final = 20
"""Blocks per gusu_getBlockByHeight batch: a block lists up to thousands of transaction ids."""
AROUND_CHANGE_BLOCKS: Final = 2
"""Heights on each side of a change's decision and effective height that count as "around" it."""
ROUNDS_TARGET_MAX: Final = 2
DIP_TARGET_PERCENT: Final = 20.0


@dataclass(frozen=True, slots=True)
class ValidatorChangePlan:
    """When and how the validator set changes during the measured window."""

    removal: str = DEFAULT_REMOVAL
    """remove-node (the node's record is removed) or power-zero (it stays, as an observer)."""
    add_at_fraction: float = DEFAULT_ADD_AT_FRACTION
    """Into the measured window at which the newcomer's promotion is proposed."""
    remove_at_fraction: float = DEFAULT_REMOVE_AT_FRACTION
    """Earliest point for the removal's proposal; it also waits until the promotion is in force."""
    throughput_window_s: float = DEFAULT_THROUGHPUT_WINDOW_S

    def __post_init__(self) -> None:
        if self.removal not in REMOVALS:
            raise BenchError(f"--removal must be one of {', '.join(REMOVALS)}")
        if not 0 < self.add_at_fraction < self.remove_at_fraction < 1:
            raise BenchError("the change points must satisfy 0 < add_at_fraction < remove_at_fraction < 1")
        if not (math.isfinite(self.throughput_window_s) and self.throughput_window_s >= THROUGHPUT_WINDOW_MIN_S):
            raise BenchError(f"--throughput-window must be at least {THROUGHPUT_WINDOW_MIN_S:g} s")


def validate_change_config(config: BenchConfig, plan: ValidatorChangePlan) -> None:
    """BenchError unless `config` describes a run this benchmark can do."""
    if config.endpoint is not None or config.network_directory is not None:
        raise BenchError("--validator-change runs on a throw-away network: drop --endpoint and --dir")
    if config.nodes < FOUNDERS_MIN:
        raise BenchError(f"--validator-change needs --nodes {FOUNDERS_MIN} or more founding validators")
    if config.consensus != "tendermint":
        raise BenchError("--validator-change measures Tendermint: the validator set is a BFT notion")
    if config.down_node is not None:
        raise BenchError("--validator-change and --down-node cannot be combined")
    if config.app is not None:
        raise BenchError("--validator-change runs the account.transfer load; drop --app")
    if config.rate is None:
        raise BenchError("--validator-change needs --rate: a fixed offered load the network sustains comfortably")
    if config.duration_s * min(plan.add_at_fraction, plan.remove_at_fraction - plan.add_at_fraction) < (
        plan.throughput_window_s
    ):
        raise BenchError("--duration is too short: each phase must hold at least one throughput window")


# --- pure figures ------------------------------------------------------------------------------------


def compute_throughput_windows(commit_times: Sequence[float], start: float, end: float, window_s: float) -> list[int]:
    """Commits per whole window of `window_s` from `start` (a last, partial window is left out)."""
    assert window_s > 0
    count = int((end - start) // window_s)
    windows = [0] * count
    for at in commit_times:
        index = math.floor((at - start) / window_s)
        if 0 <= index < count:
            windows[index] += 1
    return windows


def find_windows_overlapping(count: int, window_s: float, span_start: float, span_end: float) -> list[int]:
    """Indexes of windows (window i covers [i·w, (i+1)·w), times relative to the windows' start) that overlap
    the span [span_start, span_end]."""
    return [index for index in range(count) if index * window_s < span_end and (index + 1) * window_s > span_start]


def compute_dip_percent(baseline: float, worst: float) -> float | None:
    """How far `worst` falls below `baseline`, in percent of it (negative when it is above); None without one."""
    if baseline <= 0:
        return None
    return round(100.0 * (baseline - worst) / baseline, 1)


@dataclass(frozen=True, slots=True)
class HeightRecord:
    height: int
    round: int
    """The round of the commit certificate that decided it (0-based: round 0 is the first)."""
    validators_hash: str
    proposer: str
    """The name of the node that proposed the block that was decided (its address if unknown)."""
    signatures: int
    transactions: int
    arrived_s: float | None
    """When node0's block notification arrived, seconds from the start of the measured window."""

    @property
    def rounds(self) -> int:
        return self.round + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "height": self.height,
            "round": self.round,
            "rounds": self.rounds,
            "validators_hash": self.validators_hash,
            "proposer": self.proposer,
            "signatures": self.signatures,
            "transactions": self.transactions,
            "arrived_s": self.arrived_s,
        }


def find_set_changes(records: Sequence[HeightRecord]) -> list[int]:
    """Heights whose validators_hash differs from the height before (records sorted by height)."""
    return [
        current.height
        for previous, current in itertools.pairwise(records)
        if current.validators_hash != previous.validators_hash
    ]


def count_occurrences(blocks: Sequence[Sequence[str]], wanted: set[str]) -> Counter[str]:
    """How many blocks list each id of `wanted` (ids absent from every block are not keys)."""
    counts: Counter[str] = Counter()
    for transaction_ids in blocks:
        counts.update(transaction_id for transaction_id in transaction_ids if transaction_id in wanted)
    return counts


# --- the changes, during the load ------------------------------------------------------------------------


@dataclass(slots=True)
class ChangeRecord:
    """One validator-set change as it happened (times from `time.perf_counter`)."""

    name: str
    kind: str
    node: str
    power: int
    started_at: float = 0.0
    proposal_id: int = 0
    decided_at: float = 0.0
    decided_height: int = 0
    effective_height: int = 0
    in_force_at: float | None = None
    """When the block at the effective height arrived at node0; None if it did not within the window."""


@dataclass(slots=True)
class ValidatorChangeScenario:
    """The `LoadScenario` of `gusu.eval.bench`: votes the newcomer in, then a founder out, and measures both."""

    endpoint: str
    """node0's API, where governance transactions go (it stays a validator)."""
    proposer_key: PrivateKey
    voter_keys: tuple[PrivateKey, ...]
    """Enough other organisations' admins for a majority with the proposer's."""
    newcomer: LocalNode
    removed: LocalNode
    plan: ValidatorChangePlan
    duration_s: float
    names: dict[str, str] = field(default_factory=dict)
    """Node name by address (0x hex, lower case), to name each height's proposer."""
    changes: list[ChangeRecord] = field(default_factory=list)
    error: str = ""

    async def run(self, state: LoadState, window_start: float, window_end: float) -> None:
        add = ChangeRecord("add", "set_validator_power", self.newcomer.name, 1)
        if self.plan.removal == "remove-node":
            remove = ChangeRecord("remove", "remove_node", self.removed.name, 0)
        else:
            remove = ChangeRecord("remove", "set_validator_power", self.removed.name, 0)
        async with AsyncClient(self.endpoint, timeout_s=GOVERNANCE_TIMEOUT_S) as client:
            governance = AsyncGovernance(client, timeout_s=GOVERNANCE_TIMEOUT_S)
            try:
                await _sleep_until(window_start + self.plan.add_at_fraction * self.duration_s)
                self.changes.append(add)
                request = make_set_validator_power(_address(self.newcomer), 1)
                await self._change(governance, add, request, state, window_end)
                assert add.in_force_at is not None
                await _sleep_until(
                    max(
                        window_start + self.plan.remove_at_fraction * self.duration_s,
                        add.in_force_at + self.plan.throughput_window_s,
                    )
                )
                self.changes.append(remove)
                if self.plan.removal == "remove-node":
                    request = make_remove_node(_address(self.removed))
                else:
                    request = make_set_validator_power(_address(self.removed), 0)
                await self._change(governance, remove, request, state, window_end)
            except (GusuError, OSError, TimeoutError) as error:
                # The load goes on; the result says what failed instead of losing the run.
                self.error = f"{type(error).__name__}: {error}"

    async def _change(
        self,
        governance: AsyncGovernance,
        record: ChangeRecord,
        request: ProposalRequest,
        state: LoadState,
        window_end: float,
    ) -> None:
        record.started_at = time.perf_counter()
        submitted = await governance.propose(self.proposer_key, request)
        record.proposal_id = submitted.proposal_id
        # The votes go in together; the one executed last meets the policy and applies the change.
        await asyncio.gather(*(governance.vote(key, submitted.proposal_id, True) for key in self.voter_keys))
        record.decided_at = time.perf_counter()
        view = await governance.get_proposal(submitted.proposal_id)
        if view is None or view.status != "approved":
            status = "missing" if view is None else f"{view.status} {view.reason}".strip()
            raise BenchError(f"the {record.name} proposal {submitted.proposal_id} was not approved: {status}")
        record.decided_height, record.effective_height = int(view.decided_height), int(view.effective_height)
        while True:
            arrived = [at for at, height, _ in state.blocks if height >= record.effective_height]
            if arrived:
                record.in_force_at = min(arrived)
                return
            if time.perf_counter() >= window_end:
                raise BenchError(
                    f"the {record.name} change (effective at height {record.effective_height}) was not in force "
                    "before the measured window ended; use a longer --duration"
                )
            await asyncio.sleep(POLL_INTERVAL_S)

    async def finish(
        self, rpcs: Sequence[RpcTransport], state: LoadState, window_start: float, window_end: float
    ) -> dict[str, Any]:
        rpc = rpcs[0]
        tip = int(await rpc.call("gusu_blockNumber", []))
        arrivals = {height: at for at, height, _ in state.blocks}
        records: list[HeightRecord] = []
        block_ids: list[list[str]] = []
        for first in range(1, tip + 1, BLOCK_QUERIES_PER_BATCH):
            heights = range(first, min(tip, first + BLOCK_QUERIES_PER_BATCH - 1) + 1)
            answers = await rpc.call_batch("gusu_getBlockByHeight", [[height, False] for height in heights])
            for height, answer in zip(heights, answers, strict=True):
                block = answer.get("result") if isinstance(answer, dict) else None
                if not isinstance(block, dict):
                    _, message, _ = read_error(answer.get("error") if isinstance(answer, dict) else None)
                    raise BenchError(f"node0 did not return block {height}: {message}")
                certificate = block.get("certificate") or {}
                header = block["header"]
                arrived = arrivals.get(height)
                records.append(
                    HeightRecord(
                        height=height,
                        round=int(certificate.get("round", 0)),
                        validators_hash=str(header["validators_hash"]),
                        proposer=self.names.get(str(header["proposer"]).lower(), str(header["proposer"])),
                        signatures=len(certificate.get("signatures") or ()),
                        transactions=len(block["transactions"]),
                        arrived_s=None if arrived is None else round(arrived - window_start, 3),
                    )
                )
                block_ids.append([str(item) for item in block["transactions"]])
        return compute_change_report(self, records, block_ids, state, window_start, window_end)


def compute_change_report(
    scenario: ValidatorChangeScenario,
    records: Sequence[HeightRecord],
    block_ids: Sequence[Sequence[str]],
    state: LoadState,
    window_start: float,
    window_end: float,
) -> dict[str, Any]:
    """The figures of the run: rounds per height, where each change took effect, throughput dips, losses."""
    window_s = scenario.plan.throughput_window_s
    windows = compute_throughput_windows(list(state.committed.values()), window_start, window_end, window_s)
    tps_windows = [round(count / window_s, 1) for count in windows]
    changes = scenario.changes
    first_start = (changes[0].started_at - window_start) if changes else float(len(windows)) * window_s
    before = [tps for index, tps in enumerate(tps_windows) if (index + 1) * window_s <= first_start]
    baseline = statistics.median(before) if before else 0.0
    set_changes = find_set_changes(records)
    by_height = {record.height: record for record in records}
    measured = [record for record in records if record.arrived_s is not None and record.arrived_s >= 0]

    change_reports: list[dict[str, Any]] = []
    dips: list[float] = []
    for change in changes:
        in_force_s = None if change.in_force_at is None else change.in_force_at - window_start
        span_end = (in_force_s if in_force_s is not None else (window_end - window_start)) + window_s
        indexes = find_windows_overlapping(len(windows), window_s, change.started_at - window_start, span_end)
        worst = min((tps_windows[index] for index in indexes), default=None)
        dip = None if worst is None else compute_dip_percent(baseline, worst)
        if dip is not None:
            dips.append(dip)
        around = [
            by_height[height]
            for height in range(
                change.decided_height - AROUND_CHANGE_BLOCKS, change.effective_height + AROUND_CHANGE_BLOCKS + 1
            )
            if height in by_height
        ]
        observed = next((height for height in set_changes if height > change.decided_height), None)
        change_reports.append(
            {
                "change": change.name,
                "kind": change.kind,
                "node": change.node,
                "power": change.power,
                "proposal_id": change.proposal_id,
                "proposed_at_s": round(change.started_at - window_start, 3),
                "decided_at_s": round(change.decided_at - window_start, 3) if change.decided_at else None,
                "in_force_at_s": None if in_force_s is None else round(in_force_s, 3),
                "decided_height": change.decided_height,
                "effective_height": change.effective_height,
                "set_changed_at_height": observed,
                "took_effect_at_decided_plus_2": observed is not None
                and observed == change.effective_height == change.decided_height + 2,
                "max_rounds_around": max((record.rounds for record in around), default=None),
                "rounds_around": {str(record.height): record.rounds for record in around},
                "worst_window_tps": worst,
                "dip_percent": dip,
            }
        )

    acknowledged = set(state.acknowledged)
    occurrences = count_occurrences(block_ids, acknowledged)
    missing = sorted(acknowledged - set(occurrences))
    repeated = sorted(transaction_id for transaction_id, count in occurrences.items() if count > 1)
    max_dip = max(dips) if dips else None
    rounds_max = max((record.rounds for record in records), default=None)
    return {
        "validator_change": {
            "removal": scenario.plan.removal,
            "newcomer": scenario.newcomer.name,
            "removed": scenario.removed.name,
            "error": scenario.error or None,
            "changes": change_reports,
            "changes_completed": sum(1 for change in changes if change.in_force_at is not None),
            "set_changed_at_heights": set_changes,
            "max_rounds": rounds_max,
            "max_rounds_in_window": max((record.rounds for record in measured), default=None),
            "heights_over_two_rounds": [record.height for record in records if record.rounds > ROUNDS_TARGET_MAX],
            "throughput_window_s": window_s,
            "throughput_tps": tps_windows,
            "baseline_windows": len(before),
            "baseline_median_tps": round(baseline, 1),
            "baseline_dip_percent": compute_dip_percent(baseline, min(before)) if before else None,
            "max_dip_percent": max_dip,
            "dip_target_met": max_dip is not None and max_dip <= DIP_TARGET_PERCENT,
            "rounds_target_met": rounds_max is not None and rounds_max <= ROUNDS_TARGET_MAX,
            "acknowledged": len(acknowledged),
            "committed_exactly_once": sum(1 for count in occurrences.values() if count == 1),
            "transactions_lost": len(missing),
            "lost_ids": missing[:20],
            "committed_more_than_once": len(repeated),
            "repeated_ids": repeated[:20],
            "heights": [record.to_json() for record in records],
        }
    }


async def _sleep_until(moment: float) -> None:
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def _address(node: LocalNode) -> bytes:
    return bytes.fromhex(node.address.removeprefix("0x"))


# --- before the load: the newcomer ----------------------------------------------------------------------


def create_newcomer(network: LocalNetwork, suite_name: str, verifier_workers: int) -> tuple[Path, LocalNode]:
    """A new organisation and its node in the network's directory, as its operator would make them.

    The node's ports follow the network's plan (the next index); its peers
    are every founder. Returns the organisation directory and the node.
    """
    index = len(network.nodes)
    founder = network.nodes[0]
    organization = network.directory / "newcomer" / f"org{index}"
    initialize_organization(organization, f"org{index}", suite_name=suite_name, scrypt_n=SCRYPT_N_THROWAWAY)
    node_directory = network.directory / f"node{index}"
    initialize_org_node(
        organization,
        node_directory,
        f"node{index}",
        listen_host=founder.host,
        p2p_port=founder.p2p_port + index,
        api_host=founder.host,
        api_port=founder.api_port + index,
        peers=[node.p2p_endpoint for node in network.nodes],
        power=0,
        scrypt_n=SCRYPT_N_THROWAWAY,
        verifier_workers=verifier_workers,
    )
    shutil.copy(network.directory / GENESIS_FILE_NAME, node_directory / GENESIS_FILE_NAME)
    reopened = LocalNetwork.open(network.directory)
    return organization, reopened.node(f"node{index}")


def _approve(
    governance: Governance, proposer: PrivateKey, voters: Sequence[PrivateKey], request: ProposalRequest
) -> None:
    """Propose, then vote until approved: the majority needed grows with the organisations admitted."""
    submitted = governance.propose(proposer, request)
    status = "pending"
    for key in voters:
        status = governance.vote(key, submitted.proposal_id, True).status
        if status == "approved":
            return
    raise BenchError(f"the {request.kind} proposal {submitted.proposal_id} ended {status!r}, not approved")


def admit_observer(
    network: LocalNetwork, organization: Path, newcomer: LocalNode, proposer: PrivateKey, voters: Sequence[PrivateKey]
) -> None:
    """Governance before the load: the newcomer's organisation, then its node as an observer."""
    info = load_organization(organization)
    record = read_node_record(newcomer.directory / NODE_RECORD_FILE_NAME)
    ca = info.ca_certificate.public_bytes(serialization.Encoding.DER)
    with Client(network.nodes[0].api_url, timeout_s=GOVERNANCE_TIMEOUT_S) as client:
        governance = Governance(client, timeout_s=GOVERNANCE_TIMEOUT_S)
        _approve(governance, proposer, voters, make_add_organization(info.name, ca, info.admins, info.weight))
        request = make_add_node(record.name, record.address, record.public_key, info.name, 0)
        _approve(governance, proposer, voters, request)


def wait_newcomer_synced(network: LocalNetwork, newcomer: LocalNode, founders: Sequence[LocalNode]) -> None:
    """Until every founder lists the newcomer as a peer and the newcomer has reached their height."""
    deadline = time.monotonic() + NEWCOMER_SYNC_TIMEOUT_S
    wanted = newcomer.address.lower()
    while True:
        peers = network.get_peers(founders)
        connected = all(
            found is not None and any("0x" + bytes(peer.address).hex() == wanted for peer in found)
            for found in peers.values()
        )
        heights = network.get_heights([*founders, newcomer])
        tops = [value for name, value in heights.items() if name != newcomer.name and value is not None]
        own = heights[newcomer.name]
        synced = own is not None and bool(tops) and own >= max(tops)
        if connected and synced:
            return
        if time.monotonic() > deadline:
            raise BenchError(
                f"{newcomer.name} did not connect to every founder and catch up within "
                f"{NEWCOMER_SYNC_TIMEOUT_S:g} s (connected: {connected}, heights: {heights}); see {newcomer.log_path}"
            )
        time.sleep(0.2)


# --- the whole run ---------------------------------------------------------------------------------------


def run_validator_change_bench(
    config: BenchConfig, plan: ValidatorChangePlan, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the validator-change benchmark (see the module docstring); its result document.

    Like `run_bench`, it starts signing processes with "spawn": a script
    calling it must guard its entry point with ``if __name__ == "__main__":``.
    """
    validate_change_config(config, plan)
    reporter: Progress = progress or _SilentProgress()
    hardware = get_hardware()
    suite_name = config.suite
    with signing_pool(config, suite_name) as (pool, warm):
        reporter.phase(f"starting a throw-away network of {config.nodes} validators", None)
        with throwaway_network(
            config.nodes,
            suite_name=suite_name,
            verifier_workers=config.workers,
            chain_id=THROWAWAY_CHAIN_ID,
            scrypt_n=SCRYPT_N_THROWAWAY,
            spare_nodes=1,
        ) as network:
            founders = list(network.nodes)
            organizations = [node.organization for node in founders]
            keys = [load_admin_key(network, name) for name in organizations]
            # MAJORITY (the default policy) counts the active organisations, the newcomer's too once
            # admitted: the proposer's approval and this many votes meet it then.
            voters_needed = (len(founders) + 1) // 2
            proposer, voters = keys[0], tuple(keys[1 : 1 + voters_needed])
            reporter.phase("admitting a fifth organisation's node as an observer", None)
            organization, newcomer = create_newcomer(network, suite_name, config.workers)
            admit_observer(network, organization, newcomer, proposer, voters)
            grown = LocalNetwork.open(network.directory)
            try:
                grown.start([newcomer], ready_timeout_s=NETWORK_READY_TIMEOUT_S, wait_for_peers=False)
                reporter.phase(f"waiting for {newcomer.name} to connect and catch up", None)
                wait_newcomer_synced(grown, newcomer, founders)
                removed = founders[-1]
                staying = founders[:-1]
                pids = [pid for node in [*founders, newcomer] if (pid := grown.pid(node)) is not None]
                _wait_ready(warm)
                reporter.phase(f"measuring {suite_name} verification rate", None)
                verify_rate = measure_verify_rate(suite_name)
                scenario = ValidatorChangeScenario(
                    endpoint=founders[0].api_url,
                    proposer_key=proposer,
                    voter_keys=voters,
                    newcomer=newcomer,
                    removed=removed,
                    plan=plan,
                    duration_s=config.duration_s,
                    names={node.address.lower(): node.name for node in [*founders, newcomer]},
                )
                result = asyncio.run(
                    run_load(
                        config,
                        [node.api_url for node in staying],
                        network.load_dev_key(),
                        verify_rate,
                        config.workers,
                        pids,
                        pool,
                        reporter,
                        scenario,
                    )
                )
                status = grown.status()
            finally:
                grown.stop([newcomer])
    result["verify_rate_per_core"] = round(verify_rate, 1)
    result["tps_to_verify_ratio"] = round(result["tps"] / verify_rate, 3) if verify_rate > 0 else None
    result["endpoint"] = founders[0].api_url
    result["endpoints"] = [node.api_url for node in staying]
    result["throwaway_chain"] = True
    result["node_verifier_workers"] = config.workers
    result.update(
        {
            "nodes": len(founders),
            "consensus": "tendermint",
            "nodes_live": len(founders) + 1,
            "down_node": None,
            "network_directory": None,
            "agree": status.agree,
            "verdict": status.verdict,
        }
    )
    result["hardware"] = hardware
    result["command"] = config.command
    return result


def describe_change_problems(result: dict[str, Any]) -> list[str]:
    """Warnings about the validator change a reader of the result must not miss."""
    report = result.get("validator_change")
    if not isinstance(report, dict):
        return []
    problems = []
    if report.get("error"):
        problems.append(f"the validator change did not complete: {report['error']}")
    if report.get("transactions_lost"):
        problems.append(f"BUG: {report['transactions_lost']} acknowledged transaction(s) are in no block")
    if report.get("committed_more_than_once"):
        problems.append(f"BUG: {report['committed_more_than_once']} transaction(s) are in more than one block")
    for change in report.get("changes", []):
        if not change.get("took_effect_at_decided_plus_2"):
            problems.append(
                f"the {change['change']} change decided at height {change['decided_height']} took effect at "
                f"{change.get('set_changed_at_height')}, not at {change['decided_height'] + 2}"
            )
    if report.get("heights_over_two_rounds"):
        problems.append(f"heights decided after round 2: {report['heights_over_two_rounds'][:10]}")
    if result.get("agree") is False:
        problems.append(f"BUG: the nodes disagree: {result.get('verdict')}")
    return problems


def change_summary_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The human summary of the validator change, as (label, value) rows."""
    report = result.get("validator_change")
    if not isinstance(report, dict):
        return []
    rows = [
        (
            "throughput before",
            f"median {report['baseline_median_tps']:,.1f} tx/s over {report['baseline_windows']} windows of "
            f"{report['throughput_window_s']:g} s (worst {report['baseline_dip_percent']} % below)",
        )
    ]
    for change in report["changes"]:
        rows.append(
            (
                f"{change['change']}: {change['kind']} {change['node']} -> {change['power']}",
                f"decided at {change['decided_height']}, set changed at {change['set_changed_at_height']} "
                f"(decided+2: {'yes' if change['took_effect_at_decided_plus_2'] else 'NO'}), "
                f"in force {change['in_force_at_s']} s into the window; max rounds around it "
                f"{change['max_rounds_around']}; worst window {change['worst_window_tps']} tx/s, "
                f"dip {change['dip_percent']} %",
            )
        )
    rows += [
        ("max rounds per height", f"{report['max_rounds']} (in the window {report['max_rounds_in_window']})"),
        ("max dip", f"{report['max_dip_percent']} % (target ≤ {DIP_TARGET_PERCENT:g} %)"),
        (
            "acknowledged / once / lost / twice",
            f"{report['acknowledged']:,} / {report['committed_exactly_once']:,} / {report['transactions_lost']} / "
            f"{report['committed_more_than_once']}",
        ),
    ]
    return rows
