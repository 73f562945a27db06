"""Chain-wide settings come from genesis: the Tendermint timeouts among them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gusu.consensus import SoloSettings, TendermintSettings
from gusu.errors import ConfigError
from gusu.ledger.chainconfig import ChainConfig
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Genesis
from gusu.node.node import BFT_TIMEOUT_PARAMETERS, compute_bft_settings


def _genesis(parameters: dict[str, int]) -> Genesis:
    return Genesis(
        chain_id="gusu-test",
        suite="sm",
        timestamp_ms=1,
        validators=(),
        allocations=(),
        parameters=tuple(sorted(parameters.items())),
        admins=(),
    )


def test_new_chains_write_the_engine_defaults_into_genesis() -> None:
    defaults = TendermintSettings()
    written = dict(DEFAULT_PARAMETERS)
    for name in BFT_TIMEOUT_PARAMETERS:
        assert written[name] == getattr(defaults, name), name


def test_timeouts_come_from_genesis_and_pacing_from_the_block_interval() -> None:
    solo = SoloSettings(block_interval_ms=250, empty_block_interval_ms=60_000)
    settings = compute_bft_settings(_genesis({**dict(DEFAULT_PARAMETERS), "timeout_propose_ms": 4_500}), solo)
    assert settings.timeout_propose_ms == 4_500
    assert settings.timeout_prevote_ms == TendermintSettings().timeout_prevote_ms
    assert (settings.timeout_commit_ms, settings.empty_block_interval_ms) == (250, 60_000)
    assert settings.wait_for_transactions


def test_a_genesis_without_timeouts_gets_the_engine_defaults() -> None:
    settings = compute_bft_settings(_genesis({}), SoloSettings())
    for name in BFT_TIMEOUT_PARAMETERS:
        assert getattr(settings, name) == getattr(TendermintSettings(), name), name
    assert settings.full_block_transactions == SoloSettings().block_transactions_max


def test_an_unusable_timeout_in_genesis_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"genesis parameters .* timeout_propose_ms"):
        compute_bft_settings(_genesis({"timeout_propose_ms": 0}), SoloSettings())


def test_scheduled_parameters_set_the_timeouts_of_their_height() -> None:
    genesis = _genesis({**dict(DEFAULT_PARAMETERS), "timeout_propose_ms": 4_500})
    changed = {**dict(DEFAULT_PARAMETERS), "timeout_propose_ms": 900, "block_interval_ms": 700}
    config = ChainConfig(validators=(), parameters=tuple(sorted(changed.items())), consensus="tendermint")
    settings = compute_bft_settings(genesis, SoloSettings(block_interval_ms=250), config)
    assert (settings.timeout_propose_ms, settings.timeout_commit_ms) == (900, 700)
    with pytest.raises(ConfigError, match=r"scheduled parameters .* timeout_propose_ms"):
        compute_bft_settings(genesis, SoloSettings(), replace(config, parameters=(("timeout_propose_ms", 0),)))
