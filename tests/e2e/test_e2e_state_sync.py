"""State sync on real processes: a fifth validator joins a running chain from a snapshot, without replaying it.

Five organisations, one validator each; four run (4 of 5 is still more than 2/3 of the power) with
`[state_sync] snapshot_interval_blocks`, under load, while pruning their state to a few versions (the offered
snapshots must survive it). The fifth starts with an empty data directory and `[state_sync] enabled = true`:
it must certify a snapshot against the genesis validators, fetch its chunks from the others, start its store at
that height (no block below it: queries for them say so), follow the chain by block sync and consensus, take
transactions, and agree with the others on every block and state root above its base.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_helpers import E2E_SCRYPT_N, RECIPIENT, REPOSITORY, SUITE_NAME, E2ENetwork, LoadGenerator, find_free_port_range

from gusu.errors import RemoteError
from gusu.ledger.types import Height
from gusu.node.network_init import initialize_network
from gusu.sdk import compute_balance_key, verify_state_proof
from gusu.sdk.transactions import build_transaction

pytestmark = pytest.mark.e2e

ORGANIZATIONS = 5
JOINER = 4
RUNNING = [0, 1, 2, 3]
INTERVAL_BLOCKS = 5
JOIN_TIMEOUT_S = 90.0
WINDOW_BLOCKS = 600
"""The genesis default of `transaction_window_blocks`."""


def _add_to_config(directory: Path, text: str) -> None:
    path = directory / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n" + text, encoding="utf-8")


def _wait_for_progress(directory: Path, timeout_s: float) -> str:
    """`gusu node status --dir` output once it reports a join by state sync in progress."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = subprocess.run(
            [sys.executable, "-c", "from gusu.cli.main import main; main()", "node", "status", "--dir", str(directory)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPOSITORY,
            check=False,
        )
        output = result.stdout + result.stderr
        if "state sync" in output:
            assert result.returncode != 0  # the API is not up yet
            return output
        assert time.monotonic() < deadline, f"no state-sync progress shown: {output}"
        time.sleep(0.2)


def test_a_new_validator_joins_by_state_sync_and_follows_the_chain(tmp_path: Path) -> None:
    base = find_free_port_range(2 * ORGANIZATIONS)
    layout = initialize_network(
        tmp_path / "net",
        organizations=ORGANIZATIONS,
        suite_name=SUITE_NAME,
        scrypt_n=E2E_SCRYPT_N,
        base_api_port=base,
        base_p2p_port=base + ORGANIZATIONS,
        verifier_workers=0,
    )
    network = E2ENetwork(layout)
    for index in RUNNING:
        _add_to_config(
            network.nodes[index].directory,
            # Small chunks, so that the small state of this chain still makes a plan of many chunks.
            f"[state_sync]\nsnapshot_interval_blocks = {INTERVAL_BLOCKS}\nsnapshots_kept = 2\nchunk_entries_max = 2\n",
        )
        config = network.nodes[index].directory / "config.toml"
        config.write_text(config.read_text().replace("[storage]\n", "[storage]\nstate_versions_kept = 3\n"))
    _add_to_config(network.nodes[JOINER].directory, "[state_sync]\nenabled = true\ndiscovery_s = 4.0\n")
    try:
        for index in RUNNING:
            network.spawn(index)
        for index in RUNNING:
            network.wait_ready(index)
        network.wait_connected(RUNNING, timeout_s=30)
        # Transactions valid for the whole window: a node that joined by state sync at B refuses those that
        # could have been committed below B (it cannot check them for duplicates), and takes these.
        with LoadGenerator(network, seed=11, validity_blocks=WINDOW_BLOCKS) as load:
            network.wait_heights_at_least(RUNNING, 3 * INTERVAL_BLOCKS + 2, timeout_s=60)
            tip_before = min(network.heights(RUNNING).values())
            started = time.monotonic()
            network.spawn(JOINER)
            # Before its API is up, `gusu node status` shows how far the join is (discovery_s keeps it a while).
            seen_progress = _wait_for_progress(network.nodes[JOINER].directory, timeout_s=20)
            assert "joining the chain by state sync" in seen_progress
            network.wait_ready(JOINER, timeout_s=JOIN_TIMEOUT_S)
            joined_s = time.monotonic() - started
            ready = network.nodes[JOINER].ready
            assert ready is not None
            snapshot_height = int(str(ready["height"]))
            # It started from a snapshot the others offered: a multiple of the interval, at most
            # two intervals below the tip it found (snapshots_kept = 2), and far above genesis.
            assert snapshot_height % INTERVAL_BLOCKS == 0
            assert snapshot_height >= tip_before - 2 * INTERVAL_BLOCKS >= INTERVAL_BLOCKS
            caught_up_s = network.wait_caught_up(JOINER, RUNNING, timeout_s=60)
            load.wait_for(10, timeout_s=30, by=JOINER)  # it takes transactions, and they commit
            high = max(network.heights(RUNNING).values())
            network.wait_heights_at_least([JOINER], high, timeout_s=30)
        log = network.nodes[JOINER].log_path.read_text(encoding="utf-8")
        assert f"installed snapshot at height {snapshot_height}" in log
        assert "no block below it was replayed" in log
        assert not re.search(r"dropping peer", log)  # honest peers only
        served = re.search(r"all (\d+) chunks of snapshot \d+ verified \(chunks by peer: ([^)]*)\)", log)
        assert served is not None, log[-3000:]
        assert int(served.group(1)) > 4
        # Which peers served depends on timing: the joiner takes the highest snapshot offered, and under load one
        # peer may be the only one that has it yet (fetching from several peers at once is asserted by
        # tests/node/test_node_statesync_inprocess.py); here every chunk must come from a running validator.
        providers = {entry.split(":")[0].strip() for entry in served.group(2).split(",")}
        running_prefixes = {network.layout.nodes[index].address.hex()[:12] for index in RUNNING}
        assert providers and providers <= running_prefixes, (providers, running_prefixes)
        with network.nodes[JOINER].client() as joiner, network.nodes[0].client() as other:
            # Nothing below the snapshot was stored, let alone executed: those blocks are simply not there.
            for height in (0, 1, snapshot_height - 1):
                with pytest.raises(RemoteError, match="joined the chain by state sync"):
                    joiner.get_block(height)
            # From the snapshot on, the same blocks and state roots as the others.
            tip = min(int(joiner.block_number()), int(other.block_number()))
            assert tip > snapshot_height
            short = build_transaction(
                network.dev_key, network.chain_id, "account", "transfer", [RECIPIENT, 1], Height(tip + 10)
            )
            [refused] = joiner.send_raw_batch([short.raw])
            assert isinstance(refused, RemoteError) and "cannot tell whether this transaction" in str(refused)
            assert other.send_raw_batch([short.raw]) == [short.transaction_id]
            with pytest.raises(RemoteError, match="where this node joined the chain by state sync"):
                joiner.get_block(snapshot_height)
            # Its state at the snapshot height proves against another organisation's block hash.
            key = compute_balance_key(RECIPIENT)
            proof = joiner.get_state_proof("account", key, snapshot_height)
            assert verify_state_proof(network.suite, proof, other.get_block(snapshot_height).block_hash)
            for height in range(snapshot_height + 1, tip + 1):
                mine, theirs = joiner.get_block(height), other.get_block(height)
                assert mine.block_hash == theirs.block_hash
                assert mine.header.state_root == theirs.header.state_root
        (tmp_path / "state-sync-join.json").write_text(
            json.dumps({"snapshot_height": snapshot_height, "join_s": joined_s, "caught_up_s": caught_up_s})
        )
        print(
            f"state sync join: snapshot {snapshot_height}, ready after {joined_s:.1f} s, "
            f"caught up {caught_up_s:.1f} s later"
        )
    finally:
        network.stop_all()
