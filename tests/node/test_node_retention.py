"""A node's retention: pruning and archiving while it commits, backups on request, restore and re-import.

A one-validator chain in process, with a transaction window of 4 blocks so bodies become archivable
after a few blocks.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from node_helpers import load_dev_key, make_chain, sign_transfer, start_node, wait_for_receipt

from gusu.crypto import get_suite
from gusu.errors import BackupError, NodeError, NotFoundError
from gusu.ledger.backup import iterate_backup_records, write_backup
from gusu.ledger.genesis import load_genesis
from gusu.ledger.kv import MemoryStore, WriteBatch
from gusu.ledger.store import PREFIX_CERTIFICATE
from gusu.ledger.types import Height, decode_commit_certificate, encode_commit_certificate
from gusu.node.backup import (
    backup_stopped_node,
    import_archive,
    restore_into,
    take_backup_request,
    wait_for_backup_result,
    write_backup_request,
)
from gusu.node.chain import ChainLayout
from gusu.node.config import load_config

RECIPIENT = b"\x77" * 20
WINDOW_BLOCKS = 4


def _chain(tmp_path: Path, storage: str) -> ChainLayout:
    layout = make_chain(tmp_path / "chain")
    directory = layout.node_directories[0]
    genesis_path = directory / "genesis.json"
    document = json.loads(genesis_path.read_text())
    document["parameters"]["transaction_window_blocks"] = WINDOW_BLOCKS
    genesis_path.write_text(json.dumps(document))
    config = directory / "config.toml"
    config.write_text(config.read_text().replace("[storage]\n", f"[storage]\n{storage}\n"))
    return layout


async def _commit_blocks(node: object, layout: ChainLayout, count: int) -> list[bytes]:
    dev = load_dev_key(layout)
    ids = []
    for amount in range(1, count + 1):
        signed = sign_transfer(node, dev, RECIPIENT, amount, window=WINDOW_BLOCKS - 1)  # type: ignore[arg-type]
        await node.submit_transactions([signed.raw])  # type: ignore[attr-defined]
        await wait_for_receipt(node, signed.transaction_id)  # type: ignore[arg-type]
        ids.append(signed.transaction_id)
    return ids


def test_bodies_below_the_transaction_window_are_refused_at_start(tmp_path: Path) -> None:
    layout = _chain(tmp_path, "block_bodies_kept = 3")
    with pytest.raises(NodeError, match="transaction window"):
        asyncio.run(start_node(layout))


def test_a_node_prunes_and_archives_as_it_commits_and_the_archive_comes_back(tmp_path: Path) -> None:
    layout = _chain(tmp_path, "state_versions_kept = 3\nblock_bodies_kept = 4\narchive_heights_per_file = 2")
    directory = layout.node_directories[0]

    async def run() -> list[bytes]:
        node = await start_node(layout)
        try:
            ids = await _commit_blocks(node, layout, 12)
            await asyncio.sleep(0.3)  # the last pruning round
            # The window (3 versions) answers; read the tip at each ask, since a late block may still commit
            # and move the window, and ask one height less than the window's edge for the same reason.
            for back in (0, 1):
                height = Height(node.height - back)
                assert node.get_state_proof("account", RECIPIENT, height).header.height == height
            tip = node.height
            with pytest.raises(NotFoundError, match="pruned on this node"):
                node.get_state_proof("account", RECIPIENT, Height(tip - 5))
            assert node.get_transaction(ids[0]) is None  # its body went to the archive
            assert node.get_raw_block(Height(1)) is None  # not served to syncing peers without its body
            assert node.get_raw_block(Height(tip)) is not None
            assert node.get_transaction(ids[-1]) is not None
            return ids
        finally:
            await node.stop()

    ids = asyncio.run(run())
    config = load_config(directory)
    files = sorted(config.archive_path.iterdir())
    assert files and files[0].name == "bodies-000000000000-000000000001.gba"
    genesis = load_genesis(config.genesis_path)
    ranges = import_archive(config, get_suite(genesis.suite), files)
    assert ranges[0] == (0, 1)

    async def check() -> None:
        node = await start_node(layout)
        try:
            assert node.get_transaction(ids[0]) is not None
        finally:
            await node.stop()

    asyncio.run(check())


def test_a_backup_on_request_restores_into_a_wiped_node(tmp_path: Path) -> None:
    layout = _chain(tmp_path, "")
    directory = layout.node_directories[0]
    backup = tmp_path / "backup"

    async def run() -> int:
        node = await start_node(layout)
        try:
            await _commit_blocks(node, layout, 3)
            request = write_backup_request(directory, backup)
            with pytest.raises(NodeError, match="already pending"):
                write_backup_request(directory, tmp_path / "second")
            manifest = await asyncio.to_thread(wait_for_backup_result, directory, request, 20.0)
            assert manifest.height >= 3
            await _commit_blocks(node, layout, 2)  # it goes on
            return manifest.height
        finally:
            await node.stop()

    height = asyncio.run(run())
    assert take_backup_request(directory) is None
    config = load_config(directory)
    genesis = load_genesis(config.genesis_path)
    suite = get_suite(genesis.suite)
    with pytest.raises(NodeError, match="already holds a chain store"):
        restore_into(config, genesis, suite, backup, force=False)
    restore_into(config, genesis, suite, backup, force=True)
    assert any(path.name.startswith("chain.replaced-") for path in config.data_path.iterdir())

    async def check() -> None:
        node = await start_node(layout)
        try:
            assert node.height == height
        finally:
            await node.stop()

    asyncio.run(check())

    other = _chain(tmp_path / "other", "")  # another chain: another genesis (other keys)
    other_config = load_config(other.node_directories[0])
    other_genesis = load_genesis(other_config.genesis_path)
    with pytest.raises(BackupError, match="not of this node's chain"):
        restore_into(other_config, other_genesis, get_suite(other_genesis.suite), backup, force=True)


def test_a_backup_whose_tip_certificate_is_forged_is_refused(tmp_path: Path) -> None:
    """Checksums and manifest made anew over a changed certificate: only the signature check can catch it."""
    layout = _chain(tmp_path, "")
    directory = layout.node_directories[0]

    async def run() -> None:
        node = await start_node(layout)
        try:
            await _commit_blocks(node, layout, 2)
        finally:
            await node.stop()

    asyncio.run(run())
    config = load_config(directory)
    genesis = load_genesis(config.genesis_path)
    suite = get_suite(genesis.suite)
    manifest = backup_stopped_node(config, suite, tmp_path / "backup")
    records = dict(iterate_backup_records(tmp_path / "backup", manifest))
    key = PREFIX_CERTIFICATE + manifest.height.to_bytes(8, "big")
    certificate = decode_commit_certificate(records[key])
    forged_signature = replace(certificate.signatures[0], signature=bytes(len(certificate.signatures[0].signature)))
    records[key] = encode_commit_certificate(replace(certificate, signatures=(forged_signature,)))
    store = MemoryStore()
    batch = WriteBatch()
    for record_key, value in records.items():
        batch.put(record_key, value)
    store.write(batch)
    write_backup(store, suite, tmp_path / "forged", created_ms=1)
    shutil.rmtree(config.chain_store_path)
    with pytest.raises(BackupError, match="certificate does not verify"):
        restore_into(config, genesis, suite, tmp_path / "forged", force=False)
    assert not config.chain_store_path.exists()
    restore_into(config, genesis, suite, tmp_path / "backup", force=False)
