"""Backups taken by a running node, restores into a stopped node's data directory, archive re-import.

**Taking a backup while the node runs.** Only the node process may open its
store (the store's lock), so the node takes the backup itself. It is asked
through a request file, not a network endpoint: `gusu node backup` writes
`<node dir>/backup-request.json` (mode 0600) and the node, which looks for
it every `BACKUP_POLL_INTERVAL_S`, takes the backup in a thread of its own
(`ledger.backup.write_backup`, one snapshot iterator, so block commits go
on) and answers in `backup-result-<id>.json`. Whoever can write the node
directory can already read its key and its store, so the request file
grants nothing new; nothing listens on a socket, and no remote client can
trigger it.

**Restoring.** `restore_into` checks a backup completely before the node's
data directory sees it: the manifest names this chain (id, genesis hash,
suite) in a format this Gusu reads; every file matches its size and
checksum; loaded into a fresh store beside the data directory, the headers
link from the genesis hash to the tip, the state tree's root at the tip and
the root recomputed over the flat state equal the tip header's state root,
and the tip's commit certificate verifies against the validator set in
force at that height (from the restored state's configuration schedule).
Only then is the fresh store renamed into place. The node then catches up
from the tip by block sync. A restore leaves `RESTORED_MARKER_FILE_NAME` in
the data directory: a node that finds it sends no consensus message (no
vote, no proposal) until its height reaches the highest its peers report,
then removes it, because a validator whose consensus WAL was lost with its
disk would otherwise sign again, perhaps differently, at heights it had
signed before the loss.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from gusu.consensus.certificate import verify_commit_certificate
from gusu.consensus.raft_messages import verify_raft_certificate
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import CryptoSuite
from gusu.errors import BackupError, GusuError, InvalidBlockError, NodeError
from gusu.ledger.backup import (
    BackupManifest,
    load_backup,
    read_manifest,
    validate_backup_identity,
    verify_backup_files,
    verify_restored_store,
    write_backup,
)
from gusu.ledger.chainconfig import get_config_at
from gusu.ledger.genesis import CONSENSUS_RAFT, Genesis, compute_genesis_hash
from gusu.ledger.kv import open_store
from gusu.ledger.pruning import import_archive_file
from gusu.ledger.store import BlockStore
from gusu.ledger.types import Height, compute_block_hash
from gusu.node.blocks import get_config_schedule
from gusu.node.config import NodeConfig

logger = logging.getLogger(__name__)

BACKUP_REQUEST_FILE_NAME = "backup-request.json"
BACKUP_RESULT_PREFIX = "backup-result-"
BACKUP_POLL_INTERVAL_S = 0.5
BACKUP_REQUEST_BYTES_MAX = 8192
RESTORING_SUFFIX = ".restoring"
RESTORED_MARKER_FILE_NAME = "restored-from-backup.json"
"""In the data directory after a restore: the node sends no consensus message until it has caught up."""


@dataclass(frozen=True, slots=True)
class BackupRequest:
    request_id: str
    out: Path


def get_result_path(directory: Path, request_id: str) -> Path:
    return directory / f"{BACKUP_RESULT_PREFIX}{request_id}.json"


def _write_json_atomically(path: Path, document: object) -> None:
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_backup_request(directory: Path, out: Path) -> BackupRequest:
    """Ask the node running from `directory` to back itself up into `out` (absolute, new); the request."""
    if (directory / BACKUP_REQUEST_FILE_NAME).exists():
        raise NodeError(f"a backup request is already pending in {directory}; wait for it to finish")
    request = BackupRequest(secrets.token_hex(8), out.resolve())
    _write_json_atomically(directory / BACKUP_REQUEST_FILE_NAME, {"id": request.request_id, "out": str(request.out)})
    return request


def take_backup_request(directory: Path) -> BackupRequest | None:
    """The pending request, removed from the directory; None when there is none. A malformed one is dropped."""
    path = directory / BACKUP_REQUEST_FILE_NAME
    try:
        raw = path.read_bytes()[: BACKUP_REQUEST_BYTES_MAX + 1]
    except FileNotFoundError:
        return None
    path.unlink(missing_ok=True)
    try:
        document = json.loads(raw) if len(raw) <= BACKUP_REQUEST_BYTES_MAX else None
        request_id, out = document["id"], document["out"]  # type: ignore[index]
    except (ValueError, TypeError, KeyError):
        logger.warning("ignoring a malformed backup request in %s", directory)
        return None
    if not (isinstance(request_id, str) and request_id.isalnum() and len(request_id) <= 64 and isinstance(out, str)):
        logger.warning("ignoring a malformed backup request in %s", directory)
        return None
    if not Path(out).is_absolute():
        _write_json_atomically(get_result_path(directory, request_id), {"error": "the backup path must be absolute"})
        return None
    return BackupRequest(request_id, Path(out))


def run_backup_request(store: BlockStore, directory: Path, request: BackupRequest) -> None:
    """Take the backup a request asks for and record the outcome beside it (runs in a worker thread)."""
    started = time.monotonic()
    document: dict[str, object]
    try:
        manifest = write_backup(store.kv, store.suite, request.out, created_ms=int(time.time() * 1000))
        document = {"manifest": manifest.to_json(), "seconds": round(time.monotonic() - started, 3)}
        logger.info("backup at height %d written to %s", manifest.height, request.out)
    except (GusuError, OSError) as error:
        document = {"error": str(error)}
        logger.error("backup to %s failed: %s", request.out, error)
    _write_json_atomically(get_result_path(directory, request.request_id), document)


def wait_for_backup_result(directory: Path, request: BackupRequest, timeout_s: float) -> BackupManifest:
    """Wait for the node's answer to a request; the manifest, or NodeError/BackupError with the node's reason."""
    path = get_result_path(directory, request.request_id)
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            (directory / BACKUP_REQUEST_FILE_NAME).unlink(missing_ok=True)
            raise NodeError(f"the node did not answer the backup request within {timeout_s:.0f} s; see its log")
        time.sleep(0.1)
    document = json.loads(path.read_text(encoding="utf-8"))
    path.unlink(missing_ok=True)
    if "error" in document:
        raise BackupError(f"the node could not take the backup: {document['error']}")
    return read_manifest(request.out)


def backup_stopped_node(config: NodeConfig, suite: CryptoSuite, out: Path) -> BackupManifest:
    """Back up the store of a node that is not running (the store's lock keeps a running one out)."""
    kv = open_store(config.chain_store_path, config.storage.backend)
    try:
        return write_backup(kv, suite, out, created_ms=int(time.time() * 1000))
    finally:
        kv.close()


def verify_tip_certificate(store: BlockStore, genesis: Genesis) -> None:
    """The tip's certificate verifies against the validator set in force at the tip (block 0 has none)."""
    tip = store.get_tip()
    assert tip is not None
    height = tip[0]
    if height == 0:
        return
    header = store.get_header(height)
    certificate = store.get_certificate(height)
    if header is None or certificate is None:
        raise BackupError(f"the backup has no commit certificate for its tip {height}")
    schedule = get_config_schedule(genesis, store)
    config = get_config_at(schedule, Height(height))
    validator_set = ValidatorSet.from_genesis_validators(config.validators)
    block_hash = compute_block_hash(store.suite, header)
    try:
        if config.consensus == CONSENSUS_RAFT:
            verify_raft_certificate(store.suite, genesis.chain_id, validator_set, certificate)
            if certificate.block_hash != block_hash:
                raise InvalidBlockError(f"the certificate of block {height} is for another block")
        else:
            verify_commit_certificate(store.suite, genesis.chain_id, validator_set, certificate, block_hash)
    except InvalidBlockError as error:
        raise BackupError(
            f"the tip's commit certificate does not verify: {error}; the backup is not trustworthy"
        ) from error


def restore_into(
    config: NodeConfig, genesis: Genesis, suite: CryptoSuite, source: Path, *, force: bool
) -> BackupManifest:
    """Verify the backup in `source` and make it the stopped node's chain store; the manifest.

    Refuses when the node's store exists and is not empty, unless `force`
    (then the old store is kept beside it as chain.replaced-<time>).
    """
    manifest = read_manifest(source)
    validate_backup_identity(manifest, genesis.chain_id, compute_genesis_hash(suite, genesis), suite.name)
    verify_backup_files(source, manifest)
    target = config.chain_store_path
    if target.exists() and any(target.iterdir()) and not force:
        raise NodeError(
            f"{target} already holds a chain store; pass --force to replace it (the old store is kept beside "
            "it), or remove it yourself"
        )
    config.data_path.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + RESTORING_SUFFIX)
    shutil.rmtree(staging, ignore_errors=True)
    kv = open_store(staging, config.storage.backend)
    try:
        load_backup(source, manifest, kv)
        verify_restored_store(kv, suite, manifest)
        store = BlockStore(kv, suite)
        store.initialize(genesis.chain_id, manifest.genesis_hash)
        verify_tip_certificate(store, genesis)
    except BaseException:
        kv.close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    kv.close()
    if target.exists():
        target.rename(target.with_name(f"{target.name}.replaced-{int(time.time())}"))
    staging.rename(target)
    # A validator restored without its consensus WAL must not sign again at heights it signed before the
    # loss: it stays silent in consensus until it has caught up with its peers (gusu.node.node).
    _write_json_atomically(config.data_path / RESTORED_MARKER_FILE_NAME, {"height": manifest.height})
    return manifest


def import_archive(config: NodeConfig, suite: CryptoSuite, files: list[Path]) -> list[tuple[Height, Height]]:
    """Re-import archive files into a stopped node's store; the height ranges imported, in order."""
    kv = open_store(config.chain_store_path, config.storage.backend)
    try:
        store = BlockStore(kv, suite)
        return [import_archive_file(store, kv, path) for path in files]
    finally:
        kv.close()
