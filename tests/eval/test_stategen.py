"""The generated chain (`gusu bench generate`): valid, deterministic, served by a node, joinable.

The 10,000-account, 1,000-block chain is generated once per module; a node process is started on it and
must report its tip and prove a generated account's balance; the chain replays through the block rules;
a damaged block is refused; two generations from one seed agree; a fresh node joins a small chain.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gusu.cli.main import cli
from gusu.codec import encode
from gusu.crypto import get_suite
from gusu.errors import ConfigError, InvalidBlockError
from gusu.eval.network import P2P_PORT_OFFSET, LocalNetwork, find_free_base_port
from gusu.eval.stategen import (
    NODE_NAMES,
    GenerateResult,
    GenerateSettings,
    compute_account_address,
    generate_chain,
    load_manifest,
    replay_chain,
)
from gusu.eval.statejoin import STATE_SYNC_CONFIG, measure_join
from gusu.ledger.kv import WriteBatch, open_store
from gusu.ledger.statekey import compute_state_key
from gusu.ledger.store import PREFIX_TRANSACTION, TAG_LOCATION, BlockStore
from gusu.ledger.types import Height
from gusu.node.config import CONFIG_FILE_NAME, load_config
from gusu.sdk import Client
from gusu.sdk.state import compute_balance_key, read_balance, verify_state_proof

ACCOUNTS = 10_000
BLOCKS = 1_000


def _settings(accounts: int, blocks: int, **overrides: object) -> GenerateSettings:
    base = find_free_base_port(len(NODE_NAMES))
    values: dict[str, object] = {
        "accounts": accounts,
        "blocks": blocks,
        "base_api_port": base,
        "base_p2p_port": base + P2P_PORT_OFFSET,
        "senders": 20,
        "workers": 1,
    }
    values.update(overrides)
    return GenerateSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    directory = tmp_path_factory.mktemp("stategen") / "chain"
    return generate_chain(directory, _settings(ACCOUNTS, BLOCKS))


def test_generated_chain_has_every_block_and_account(generated: GenerateResult) -> None:
    manifest = load_manifest(generated.directory)
    assert generated.tip_height == BLOCKS == manifest["tip_height"]
    assert manifest["tip_hash"] == generated.tip_hash.hex()
    config = load_config(generated.directory / NODE_NAMES[0])
    with open_store(config.chain_store_path, config.storage.backend) as kv:
        store = BlockStore(kv, get_suite("ecdsa"))
        assert store.get_tip() == (BLOCKS, generated.tip_hash)
        transactions = sum(len(store.get_transaction_ids(Height(h)) or []) for h in range(1, BLOCKS + 1))
        assert transactions == ACCOUNTS
        for index in (0, ACCOUNTS // 2, ACCOUNTS - 1):
            key = compute_balance_key(compute_account_address("gusu", index))
            assert store.get(compute_state_key("account", key)) is not None


def test_replay_accepts_the_generated_chain(generated: GenerateResult) -> None:
    result = replay_chain(generated.directory, None)
    assert (result.blocks, result.transactions) == (BLOCKS, ACCOUNTS)
    assert result.tip_hash == generated.tip_hash
    assert result.state_root == generated.state_root


def test_replay_refuses_a_damaged_transaction(tmp_path: Path) -> None:
    result = generate_chain(tmp_path / "chain", _settings(200, 20))
    config = load_config(result.directory / NODE_NAMES[0])
    with open_store(config.chain_store_path, config.storage.backend) as kv:
        store = BlockStore(kv, get_suite("ecdsa"))
        transaction_id = (store.get_transaction_ids(Height(7)) or [])[3]
        stored = store.get_transaction(transaction_id)
        assert stored is not None
        raw = bytearray(stored.raw)
        raw[-5] ^= 0x01  # inside the signature
        batch = WriteBatch()
        batch.put(PREFIX_TRANSACTION + transaction_id, encode([TAG_LOCATION, stored.height, stored.index, bytes(raw)]))
        kv.write(batch)
    with pytest.raises(InvalidBlockError, match="block 7"):
        replay_chain(result.directory, None)


def test_generation_is_deterministic_from_the_seed(tmp_path: Path) -> None:
    first = generate_chain(tmp_path / "a", _settings(300, 30))
    second = generate_chain(tmp_path / "b", _settings(300, 30))
    other = generate_chain(tmp_path / "c", _settings(300, 30, seed="another"))
    assert (first.tip_hash, first.state_root) == (second.tip_hash, second.state_root)
    assert first.state_root != other.state_root


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="--accounts"):
        GenerateSettings(accounts=5, blocks=10)
    with pytest.raises(ConfigError, match="--seed"):
        GenerateSettings(accounts=10, blocks=10, seed="")
    with pytest.raises(ConfigError, match="overlap"):
        GenerateSettings(accounts=10, blocks=10, base_api_port=20000, base_p2p_port=20001)


@pytest.mark.e2e
def test_a_node_serves_the_generated_chain_and_proves_an_account(generated: GenerateResult) -> None:
    network = LocalNetwork.open(generated.directory)
    network.start([NODE_NAMES[0]], wait_for_peers=False)
    try:
        node = network.node(NODE_NAMES[0])
        with Client(node.api_url) as client:
            assert client.block_number() == BLOCKS
            block = client.get_block(BLOCKS)
            assert block.block_hash == generated.tip_hash
            address = compute_account_address("gusu", ACCOUNTS - 7)
            proof = client.get_state_proof("account", compute_balance_key(address))
        suite = get_suite("ecdsa")
        assert proof.height == BLOCKS
        assert verify_state_proof(suite, proof, generated.tip_hash)
        assert read_balance(proof) == 1
        absent = compute_account_address("gusu", ACCOUNTS)  # one past the last generated account
        with Client(node.api_url) as client:
            exclusion = client.get_state_proof("account", compute_balance_key(absent))
        assert verify_state_proof(suite, exclusion, generated.tip_hash)
        assert read_balance(exclusion) == 0
    finally:
        network.stop()


@pytest.mark.e2e
def test_a_fresh_node_joins_by_replay_and_the_state_sync_hook_is_checked(tmp_path: Path) -> None:
    result = generate_chain(tmp_path / "chain", _settings(400, 40))
    config_path = result.directory / NODE_NAMES[1] / CONFIG_FILE_NAME
    original = config_path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="refuses the extra configuration"):
        measure_join(result.directory, timeout_s=60, joiner_config_extra="[no_such_section]\nenabled = true\n")
    assert config_path.read_text(encoding="utf-8") == original
    source_path = result.directory / NODE_NAMES[0] / CONFIG_FILE_NAME
    source_original = source_path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="node0 refuses"):
        measure_join(result.directory, timeout_s=60, source_config_extra="[no_such_section]\n")
    assert source_path.read_text(encoding="utf-8") == source_original
    assert config_path.read_text(encoding="utf-8") == original
    joined = measure_join(result.directory, timeout_s=120)
    assert joined.mode == "replay"
    assert joined.seconds is not None and joined.reached_height >= 40
    assert config_path.read_text(encoding="utf-8") == original
    # And by state sync from node0's snapshot at the tip (40, a multiple of 10): no block replayed.
    synced = measure_join(
        result.directory,
        timeout_s=120,
        joiner_config_extra=STATE_SYNC_CONFIG + "discovery_s = 1\n",
        source_config_extra="[state_sync]\nsnapshot_interval_blocks = 10\n",
    )
    assert synced.mode == "state-sync" and synced.source_offer_s is not None
    assert synced.seconds is not None and synced.reached_height >= 40
    joiner_log = (result.directory / NODE_NAMES[1] / "node.log").read_text(encoding="utf-8")
    assert "installed snapshot at height 40" in joiner_log and "no block below it was replayed" in joiner_log
    assert config_path.read_text(encoding="utf-8") == original
    shutil.rmtree(result.directory / NODE_NAMES[1] / "data", ignore_errors=True)


def test_cli_generates_and_replays(tmp_path: Path) -> None:
    base = find_free_base_port(len(NODE_NAMES))
    out = tmp_path / "chain"
    runner = CliRunner()
    generate_args = ["bench", "generate", "--accounts", "60", "--blocks", "6", "--out", str(out), "--json"]
    ports = ["--base-api-port", str(base), "--base-p2p-port", str(base + P2P_PORT_OFFSET), "--workers", "0"]
    generated = runner.invoke(cli, [*generate_args, *ports])
    assert generated.exit_code == 0, generated.output
    document = json.loads(generated.output)
    assert document["tip_height"] == 6 and document["settings"]["accounts"] == 60
    assert [window[:2] for window in document["commit_ms_median_per_window"]] == [[6, 60]]
    replayed = runner.invoke(cli, ["bench", "replay", str(out), "--json"])
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.output)["tip_hash"] == document["tip_hash"]
    again = runner.invoke(cli, [*generate_args, *ports])
    assert again.exit_code != 0 and "already holds a chain" in again.output
