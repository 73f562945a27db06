"""Chain settings from genesis: what every node of a chain must apply alike, and the engine's settings.

Block limits, pacing, the transaction window and the consensus timeouts come
from genesis (else the default every node of this version shares), never
from a node's own configuration, since nodes configured differently would
otherwise disagree on which blocks are valid.
"""

from __future__ import annotations

from dataclasses import replace

from gusu.consensus import SoloSettings
from gusu.consensus.raft import RaftSettings
from gusu.consensus.tendermint import TendermintSettings
from gusu.errors import ConfigError
from gusu.execution import ExecutionLimits, compute_execution_limits
from gusu.ledger.chainconfig import ChainConfig
from gusu.ledger.genesis import Genesis
from gusu.mempool import MempoolLimits
from gusu.node.blocks import get_config_parameter, get_genesis_parameter
from gusu.node.config import NodeConfig


def compute_chain_settings(genesis: Genesis, config: NodeConfig) -> tuple[SoloSettings, MempoolLimits, ExecutionLimits]:
    """Settings every node of the chain must share come from genesis; the rest from the node's config."""

    solo = SoloSettings(
        block_interval_ms=get_genesis_parameter(genesis, "block_interval_ms"),
        block_transactions_max=get_genesis_parameter(genesis, "block_transactions_max"),
        block_bytes_max=get_genesis_parameter(genesis, "block_bytes_max"),
        empty_block_interval_ms=config.consensus.empty_block_interval_ms,
        block_gather_ms=config.consensus.block_gather_ms,
        early_execution=config.consensus.early_execution,
    )
    # Block validity depends on the window, so it comes from genesis alone (else the shared default), never
    # from this node's config: nodes configured differently would otherwise disagree on which blocks are valid.
    mempool = replace(
        config.mempool, transaction_window_blocks=get_genesis_parameter(genesis, "transaction_window_blocks")
    )
    return solo, mempool, compute_execution_limits(genesis.parameters)


BFT_TIMEOUT_PARAMETERS = (
    "timeout_propose_ms",
    "timeout_propose_delta_ms",
    "timeout_prevote_ms",
    "timeout_prevote_delta_ms",
    "timeout_precommit_ms",
    "timeout_precommit_delta_ms",
    "block_time_precision_ms",
    "block_time_message_delay_ms",
)
"""Genesis parameters that set the Tendermint timeouts and the bounds of a timely proposal: chain-wide, since
validators must agree on them."""


def compute_bft_settings(genesis: Genesis, solo: SoloSettings, config: ChainConfig | None = None) -> TendermintSettings:
    """The Tendermint engine's settings: timeouts from genesis (else the engine's defaults), pacing from `solo`.

    With `config` (the configuration in force at some height, `gusu.ledger.chainconfig`) the timeouts,
    the block interval and the full-block size come from its parameters instead: governance may change
    them, and they take effect at the height the change names.
    """
    defaults = TendermintSettings()
    get_parameter = genesis.get_parameter if config is None else config.get_parameter
    timeouts = {name: get_parameter(name) for name in BFT_TIMEOUT_PARAMETERS}
    block_interval_ms = solo.block_interval_ms
    block_transactions_max = solo.block_transactions_max
    if config is not None:
        block_interval_ms = get_config_parameter(config, "block_interval_ms")
        block_transactions_max = get_config_parameter(config, "block_transactions_max")
    where = "genesis" if config is None else "scheduled"
    try:
        return TendermintSettings(
            **{name: getattr(defaults, name) if value is None else value for name, value in timeouts.items()},
            timeout_commit_ms=block_interval_ms,
            wait_for_transactions=True,
            empty_block_interval_ms=solo.empty_block_interval_ms,
            full_block_transactions=block_transactions_max,
        )
    except ConfigError as error:
        raise ConfigError(f"the {where} parameters do not make valid consensus timeouts: {error}") from error


RAFT_TIMING_PARAMETERS = ("raft_election_timeout_ms", "raft_election_timeout_spread_ms", "raft_heartbeat_interval_ms")
"""Genesis parameters that set Raft's timing (chain-wide: members must agree on the leader lease)."""


def compute_raft_settings(genesis: Genesis, solo: SoloSettings) -> RaftSettings:
    """The Raft engine's settings: timing from genesis (else the engine's defaults), pacing from `solo`."""
    defaults = RaftSettings()
    values = {name: genesis.get_parameter(name) for name in RAFT_TIMING_PARAMETERS}
    try:
        return RaftSettings(
            election_timeout_ms=values["raft_election_timeout_ms"] or defaults.election_timeout_ms,
            election_timeout_spread_ms=values["raft_election_timeout_spread_ms"] or defaults.election_timeout_spread_ms,
            heartbeat_interval_ms=values["raft_heartbeat_interval_ms"] or defaults.heartbeat_interval_ms,
            pacing=solo,
        )
    except ConfigError as error:
        raise ConfigError(f"the genesis parameters do not make valid Raft timing: {error}") from error
