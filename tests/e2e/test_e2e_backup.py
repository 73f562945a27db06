"""Backup, restore and pruning on a real four-organisation chain (CAICT-style availability items).

* A validator is backed up with `gusu node backup` while the chain commits under load (the node takes
  the snapshot itself, in a thread, and goes on committing), killed, its data directory wiped, restored
  with `gusu node restore` (verified against the chain first) and started: it catches up by block sync
  and takes transactions that commit again; nothing any node acknowledged is lost, no fork.
* A validator restarted with `[storage] state_versions_kept = 4` prunes as the chain grows: proofs at
  recent heights still verify against another organisation's block hash, older heights answer
  not_found saying they were pruned.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_helpers import REPOSITORY, E2ENetwork, LoadGenerator, check_network

from gusu.errors import RemoteError
from gusu.ledger.backup import read_manifest
from gusu.node.backup import RESTORED_MARKER_FILE_NAME
from gusu.sdk import compute_balance_key, verify_state_proof

pytestmark = pytest.mark.e2e

CLI_TIMEOUT_S = 60.0


def _gusu(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the `gusu` command line in its own process; the completed process (checked by the caller)."""
    return subprocess.run(
        [sys.executable, "-c", "from gusu.cli.main import main; main()", *arguments],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        cwd=REPOSITORY,
        check=False,
    )


def test_a_validator_backed_up_under_load_is_restored_and_catches_up(network: E2ENetwork, tmp_path: Path) -> None:
    victim, others = 1, [0, 2, 3]
    directory = network.nodes[victim].directory
    with network.nodes[victim].client() as client:
        victim_address = client.status().node_address
    backup = tmp_path / "backup"
    with LoadGenerator(network, seed=7) as load:
        load.wait_for(30, timeout_s=20)
        height_before = network.height(victim)
        backed_up = _gusu("node", "backup", "--dir", str(directory), "--out", str(backup))
        assert backed_up.returncode == 0, backed_up.stderr + backed_up.stdout
        manifest = read_manifest(backup)
        assert manifest.height >= height_before >= 1
        load.wait_for(20, timeout_s=20)  # the chain, the victim included, went on committing meanwhile
        network.kill(victim)
        before_kill = load.acknowledged
        start = max(network.heights(others).values())
        network.wait_heights_at_least(others, start + 3, timeout_s=20)

        shutil.rmtree(directory / "data")  # the disk is lost
        # A backup of another chain (here: a damaged one) is refused before anything is written.
        damaged = tmp_path / "damaged"
        shutil.copytree(backup, damaged)
        data_file = damaged / "data-00000.gkv"
        data_file.write_bytes(data_file.read_bytes()[:-10])
        refused = _gusu("node", "restore", "--dir", str(directory), "--from", str(damaged))
        assert refused.returncode != 0 and "truncated" in refused.stderr + refused.stdout
        assert not (directory / "data" / "chain").exists()

        restored = _gusu("node", "restore", "--dir", str(directory), "--from", str(backup))
        assert restored.returncode == 0, restored.stderr + restored.stdout
        tip_at_restart = max(network.heights(others).values())
        network.start(victim)
        ready = network.nodes[victim].ready
        assert ready is not None and int(str(ready["height"])) == manifest.height
        assert tip_at_restart > manifest.height  # it had to catch up
        network.wait_caught_up(victim, others, timeout_s=30)
        load.wait_for(10, timeout_s=20, by=victim)  # and it takes transactions again
        taken = load.acknowledged_since(before_kill, by=[victim])
        assert taken
        # Silent in consensus until caught up (its WAL was lost with the disk), then a voter again.
        marker = directory / "data" / RESTORED_MARKER_FILE_NAME
        network.wait_until(lambda: not marker.exists(), 20, "the restored node to take part in consensus again")
        assert "taking part in consensus again" in network.nodes[victim].log_path.read_text()
    summary = check_network(network, load.acknowledged)
    assert summary.nodes == [0, 1, 2, 3]
    for index in others:  # it never signed twice for one step (it had signed heights above the backup's)
        with network.nodes[index].client() as client:
            assert not [item for item in client.evidence().evidence if item.validator == victim_address]


def test_a_pruning_validator_proves_recent_heights_and_refuses_pruned_ones(network: E2ENetwork) -> None:
    pruner, witness = 2, 0
    config = network.nodes[pruner].directory / "config.toml"
    network.kill(pruner)
    config.write_text(config.read_text().replace("[storage]\n", "[storage]\nstate_versions_kept = 4\n"))
    network.start(pruner)
    network.wait_connected([0, 1, 2, 3], timeout_s=20)
    key = compute_balance_key(b"\x5e" * 20)  # the load generator's recipient
    with LoadGenerator(network, seed=8) as load:
        load.wait_for(10, timeout_s=20)
        start = network.height(pruner)
        network.wait_heights_at_least([pruner, witness], start + 10, timeout_s=30)
    deadline = time.monotonic() + 10
    with network.nodes[pruner].client() as node, network.nodes[witness].client() as other:
        tip = int(node.block_number())
        for height in (tip, tip - 2):
            proof = node.get_state_proof("account", key, height)
            assert verify_state_proof(network.suite, proof, other.get_block(height).block_hash)
        while True:  # the last pruning round may still be running
            try:
                node.get_state_proof("account", key, tip - 8)
            except RemoteError as error:
                assert "pruned" in str(error)
                break
            assert time.monotonic() < deadline, "height tip - 8 is still served after pruning to 4 versions"
            time.sleep(0.2)
        # A node that keeps everything still answers for that height.
        assert verify_state_proof(
            network.suite, other.get_state_proof("account", key, tip - 8), other.get_block(tip - 8).block_hash
        )
