"""Node configuration: every mistake is reported at load time, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from gusu.errors import ConfigError
from gusu.node.config import get_node_passphrase, load_config, render_config


def _write(directory: Path, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text(text, encoding="utf-8")
    return directory


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config.node.name == "node0"
    assert config.verifier.workers == 2
    assert config.node.transaction_journal is True


def test_rendered_config_loads(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, render_config(name="org1-node", api_port=9000, verifier_workers=1)))
    assert config.node.name == "org1-node"
    assert config.api["port"] == 9000
    assert config.verifier.workers == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[nodes]\nname = 'x'\n", "unknown section"),
        ("[node]\nnmae = 'x'\n", "unknown setting"),
        ("[node]\nlog_level = 'loud'\n", "log_level"),
        ("[verifier]\nworkers = 'two'\n", "wrong type"),
        ("[verifier]\nworkers = 1000\n", "workers"),
        ("[verifier]\nworkers = true\n", "wrong type"),
        ("[mempool]\ntransactions_max = 0\n", "transactions_max"),
        ("[mempool]\nbytes_max = -5\n", "bytes_max"),
        ("[storage]\nbackend = 'floppy'\n", "backend"),
        ("[storage]\nstate_versions_kept = 1\n", "state_versions_kept"),
        ("[storage]\nstate_versions_kept = -3\n", "state_versions_kept"),
        ("[storage]\nblock_bodies_kept = -1\n", "block_bodies_kept"),
        ("[storage]\nblock_bodies_kept = 'many'\n", "wrong type"),
        ("[storage]\narchive_dir = ''\n", "archive_dir"),
        ("[storage]\narchive_heights_per_file = 0\n", "archive_heights_per_file"),
        ("[storage]\narchive_heights_per_file = 5000\n", "archive_heights_per_file"),
        ("[consensus]\nblock_interval_ms = 10\n", "unknown setting"),
        ("[consensus]\nempty_block_interval_ms = -1\n", "empty_block_interval_ms"),
        ("[consensus]\nblock_gather_ms = -1\n", "block_gather_ms"),
        ("[consensus]\nblock_gather_ms = 3600001\n", "block_gather_ms"),
        ("[storage]\nrecent_blocks_cached = -1\n", "recent_blocks_cached"),
        ("[storage]\nrecent_blocks_cached = 1025\n", "recent_blocks_cached"),
        ("[storage]\nrecent_transactions_cached_max = 1000001\n", "recent_transactions_cached_max"),
        ("[storage]\nrecent_bytes_cached_max = -1\n", "recent_bytes_cached_max"),
        ("[storage]\nstate_cache_entries = -1\n", "state_cache_entries"),
        ("[storage]\nstate_cache_entries = 16777217\n", "state_cache_entries"),
        ("[storage]\nstate_cache_bytes_max = -1\n", "state_cache_bytes_max"),
        ("[storage]\nstate_cache_bytes_max = 68719476737\n", "state_cache_bytes_max"),
        ("[storage]\ninline_commit_transactions_max = -1\n", "inline_commit_transactions_max"),
        ("[storage]\ninline_commit_transactions_max = 100001\n", "inline_commit_transactions_max"),
        ("node = 5\n", "must be a table"),
        ("[node\n", "cannot read"),
    ],
)
def test_invalid_settings_are_rejected_with_their_name(tmp_path: Path, text: str, fragment: str) -> None:
    directory = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(directory)


def test_passphrase_comes_from_the_environment_or_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(tmp_path)
    monkeypatch.delenv("GUSU_NODE_PASSPHRASE", raising=False)
    with pytest.raises(ConfigError, match="GUSU_NODE_PASSPHRASE"):
        get_node_passphrase(config)
    (tmp_path / "node_key.pass").write_text("from-file\n")
    assert get_node_passphrase(config) == "from-file"
    monkeypatch.setenv("GUSU_NODE_PASSPHRASE", "from-env")
    assert get_node_passphrase(config) == "from-env"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[eth]\nlogs_block_range_max = 0\n", "logs_block_range_max"),
        ("[eth]\nfilters_max = true\n", "wrong type"),
        ("[eth]\nfilter_idle_timeout_s = 0\n", "filter_idle_timeout_s"),
        ("[eth]\nstate_history_blocks = -1\n", "state_history_blocks"),
        ("[eth]\nsend_waits_for_commit = 1\n", "wrong type"),
        ("[eth]\nsend_commit_timeout_ms = 0\n", "send_commit_timeout_ms"),
        ("[eth]\nsend_commit_timeout_ms = 1.5\n", "wrong type"),
        ("[eth]\nlogs_block_rnage_max = 5\n", "unknown setting"),
        ("eth = 5\n", "must be a table"),
    ],
)
def test_eth_settings_are_validated_when_the_node_loads_them(tmp_path: Path, text: str, fragment: str) -> None:
    from gusu.api.process import compute_api_settings

    with pytest.raises(ConfigError, match=fragment):
        compute_api_settings(load_config(_write(tmp_path, text)))


def test_eth_settings_come_from_the_config_file(tmp_path: Path) -> None:
    from gusu.api.eth import EthSettings
    from gusu.api.process import compute_api_settings

    text = (
        "[api]\nport = 9000\n\n[eth]\nstate_history_blocks = 16\nsend_waits_for_commit = true\n"
        "send_commit_timeout_ms = 2500\n"
    )
    api, eth = compute_api_settings(load_config(_write(tmp_path, text)))
    assert api.port == 9000
    assert eth == EthSettings(state_history_blocks=16, send_waits_for_commit=True, send_commit_timeout_ms=2500)
    assert compute_api_settings(load_config(tmp_path / "empty"))[1] == EthSettings()
