"""A large, valid chain for measuring how state costs grow (issue 13, "Cost that grows gently").

`generate_chain` writes a directory a node runs as it is:

    <directory>/genesis.json
    <directory>/node0/     the validator that holds the generated chain (config.toml, keys, tls/, data/)
    <directory>/node1/     a second validator with an empty store: the node that joins (by replay, or by
                           state sync once the node has it), see scripts/measure_join.sh
    <directory>/keys/      dev.json + dev.pass: the genesis admin, funded
    <directory>/pki/org0/  the CA of both nodes' TLS certificates (not part of the chain)
    <directory>/generated.json
                           what was generated, from which seed, the tip, sample accounts and the timings

The chain is a Tendermint chain of two validators, node0 with power 3 and node1 with power 1, so that node0's
precommit alone is a quorum (3 of 4 > 2/3): node0 certifies every block, serves the chain alone, and keeps
making blocks when transactions arrive, while node1 can join later. Block h carries the transfers that create
accounts ``[(h-1)·A/B, h·A/B)`` (A accounts over B blocks), each `account.transfer` of 1 from one of
`senders` funded accounts to a fresh address; every transaction is signed by its sender's key and every block
certified by node0's precommit, exactly as a running chain would hold them.

Nothing here is a copy of the node's rules: the next block's rules (`compute_next_block_rules`), each
transaction's decoding (`decode_block_transaction`), execution and the state tree (`build_block`, the
proposer's own function, with the node's executor), and the write (`BlockStore.commit_block`, unsynced until
the end) are the node's. Pruning, when configured, runs the node's steps after each block.

Deterministic: keys, genesis (fixed time, no organisation certificates), transactions (nonce = the account's
index) and block times come from the seed, so two runs give the same block hashes and state roots; with the
`ecdsa` suite (RFC 6979 signatures) the stored bytes are identical too. Only the TLS material is random.

`replay_chain` checks a generated store the way a node that replays it from genesis does (certificate
against the validator set, the header and body rules, every signature, re-execution, the state root), into
a store of its own; it is the measured replay rate when the network join takes too long to run whole.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from gusu.consensus.certificate import assemble_commit_certificate, verify_commit_certificate
from gusu.consensus.messages import Vote, VoteKind, encode_signing_bytes, make_signer
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import SUITE_NAMES, CryptoSuite, PrivateKey, get_suite
from gusu.crypto.keyfile import MIN_SCRYPT_N
from gusu.crypto.secretfile import write_secret_file
from gusu.errors import ConfigError, InvalidBlockError, StorageError
from gusu.execution import Executor, compute_chain_registry
from gusu.ledger.chainconfig import get_config_at
from gusu.ledger.genesis import (
    CONSENSUS_TENDERMINT,
    DEFAULT_PARAMETERS,
    Allocation,
    Genesis,
    GenesisValidator,
    compute_genesis_hash,
    get_running_python_version,
    load_genesis,
    save_genesis,
    validate_genesis,
)
from gusu.ledger.kv import DEFAULT_BACKEND, KeyValueStore, WriteBatch, open_store
from gusu.ledger.pruning import apply_body_archiving_step, apply_state_pruning_step
from gusu.ledger.store import PREFIX_META, BlockStore, CommittedBlock
from gusu.ledger.types import Address, CommitCertificate, Hash, Height, RawBlock, Round
from gusu.network.settings import PORT_MAX, P2PSettings, format_endpoint, render_p2p_section
from gusu.node.blocks import (
    BlockCheck,
    build_block,
    compute_genesis_block,
    compute_next_block_rules,
    decode_block_transaction,
    finish_block_check,
    get_config_schedule,
    get_signature_check,
    start_block_check,
)
from gusu.node.chain import DEV_KEY_NAME, write_encrypted_key
from gusu.node.config import (
    CONFIG_FILE_NAME,
    GENESIS_FILE_NAME,
    NODE_KEY_FILE_NAME,
    NODE_PASSPHRASE_FILE_NAME,
    load_config,
    render_config,
)
from gusu.node.pki import create_organization_ca, issue_node_certificate, save_certificates, save_certified_key
from gusu.node.settings import compute_chain_settings
from gusu.sdk.transactions import build_transaction

GENERATED_FILE_NAME = "generated.json"
GENERATED_FORMAT = 1
META_GENERATED = PREFIX_META + b"stategen_generated"
"""Written last, synced: the store was generated (and every block before it is durable)."""
CHAIN_ID = "gusu-stategen"
ORGANIZATION = "org0"
NODE_NAMES = ("node0", "node1")
VALIDATOR_POWERS = (3, 1)
"""node0 alone is a quorum (3 of 4 > 2/3): it certifies every block; node1 is the validator that joins."""
GENESIS_TIMESTAMP_MS = 1_767_225_600_000
"""2026-01-01T00:00:00Z: fixed, so that the chain is a function of the seed, and in the past, so that a node
started on the chain can build on its tip (block times must advance past the parent's)."""
BLOCK_INTERVAL_MS = 1_000
PRECOMMIT_DELAY_MS = 100
TRANSFER_AMOUNT = 1
SENDER_ALLOCATION = 10**15
DEV_ALLOCATION = 10**15

ACCOUNTS_MAX = 100_000_000
BLOCKS_MAX = 10_000_000
SENDERS_MAX = 100_000
WORKERS_MAX = 64
SEED_CHARACTERS_MAX = 128
SAMPLE_ACCOUNTS = 16
"""Generated accounts listed in generated.json (spread over the chain) for proofs and checks."""
PROGRESS_INTERVAL_BLOCKS = 1_000
SIGNING_CHUNK_BLOCKS = 32


@dataclass(frozen=True, slots=True)
class GenerateSettings:
    """What to generate. `accounts` new accounts over `blocks` blocks (at least one transfer per block)."""

    accounts: int
    blocks: int
    seed: str = "gusu"
    suite_name: str = "ecdsa"
    senders: int = 100
    workers: int = 0
    """Signing processes beside the main one (0: sign in the main process)."""
    storage_backend: str = DEFAULT_BACKEND
    state_versions_kept: int = 0
    """Written to node0's [storage] and applied while generating, as the node would (0: keep all)."""
    block_bodies_kept: int = 0
    base_api_port: int = 8545
    base_p2p_port: int = 26656
    verifier_workers: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.blocks <= BLOCKS_MAX:
            raise ConfigError(f"--blocks must be between 1 and {BLOCKS_MAX}")
        if not self.blocks <= self.accounts <= ACCOUNTS_MAX:
            raise ConfigError(f"--accounts must be between --blocks ({self.blocks}) and {ACCOUNTS_MAX}")
        if not 1 <= self.senders <= SENDERS_MAX:
            raise ConfigError(f"--senders must be between 1 and {SENDERS_MAX}")
        if not 0 <= self.workers <= WORKERS_MAX:
            raise ConfigError(f"--workers must be between 0 and {WORKERS_MAX}")
        if not self.seed or len(self.seed) > SEED_CHARACTERS_MAX or not self.seed.isprintable():
            raise ConfigError(f"--seed must be 1 to {SEED_CHARACTERS_MAX} printable characters")
        if self.suite_name not in SUITE_NAMES:
            raise ConfigError(f"--suite must be one of {', '.join(SUITE_NAMES)}")
        for name, port in (("base_api_port", self.base_api_port), ("base_p2p_port", self.base_p2p_port)):
            if not 1 <= port <= PORT_MAX - len(NODE_NAMES) + 1:
                raise ConfigError(f"--{name.replace('_', '-')} must leave room for {len(NODE_NAMES)} ports")
        if abs(self.base_api_port - self.base_p2p_port) < len(NODE_NAMES):
            raise ConfigError("the API and P2P ports of the two nodes overlap; move one base port")

    @property
    def transfers_max_per_block(self) -> int:
        return -(-self.accounts // self.blocks)


@dataclass(frozen=True, slots=True)
class GenerateProgress:
    height: Height
    blocks: int
    accounts_created: int
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class CommitWindow:
    """The blocks up to `last_height`, after which the state held `accounts` generated accounts."""

    last_height: Height
    accounts: int
    commit_ms_median: float
    """CPU time (the building thread) of one block's rules, decoding, execution, state tree update, certificate
    and unsynced store write (`build_block` + `commit_block`); signing happens in the workers."""


@dataclass(frozen=True, slots=True)
class GenerateResult:
    directory: Path
    tip_height: Height
    tip_hash: Hash
    state_root: Hash
    accounts: int
    seconds: float
    blocks_per_s: float
    commit_windows: tuple[CommitWindow, ...]
    """Per `COMMIT_WINDOW_BLOCKS` blocks: the median CPU time of building and committing one block."""


# --- what the seed determines ---------------------------------------------------------------------------------


def compute_seed_key(suite: CryptoSuite, seed: str, role: str, index: int) -> PrivateKey:
    """The key of `role` `index` for `seed`: the secret is SHA-256 of ``gusu-stategen/<seed>/<role>/<index>``."""
    return suite.load_private_key(hashlib.sha256(f"gusu-stategen/{seed}/{role}/{index}".encode()).digest())


def _get_address(suite: CryptoSuite, key: PrivateKey) -> Address:
    return Address(suite.compute_address(key.public_key))


def compute_account_address(seed: str, index: int) -> Address:
    """The `index`-th generated account (a recipient only: no key is needed to receive)."""
    return Address(hashlib.sha256(f"gusu-stategen/{seed}/account/{index}".encode()).digest()[:20])


def get_block_accounts(settings: GenerateSettings, height: int) -> range:
    """The indices of the accounts block `height` (1..blocks) creates."""
    return range((height - 1) * settings.accounts // settings.blocks, height * settings.accounts // settings.blocks)


def compute_generated_genesis(settings: GenerateSettings) -> Genesis:
    suite = get_suite(settings.suite_name)
    validators = []
    for index, (name, power) in enumerate(zip(NODE_NAMES, VALIDATOR_POWERS, strict=True)):
        key = compute_seed_key(suite, settings.seed, "validator", index)
        validators.append(
            GenesisValidator(
                name=name,
                address=Address(suite.compute_address(key.public_key)),
                public_key=key.public_key,
                power=power,
                organization=ORGANIZATION,
            )
        )
    dev = Address(suite.compute_address(compute_seed_key(suite, settings.seed, DEV_KEY_NAME, 0).public_key))
    senders = [
        Allocation(
            Address(suite.compute_address(compute_seed_key(suite, settings.seed, "sender", i).public_key)),
            SENDER_ALLOCATION,
        )
        for i in range(settings.senders)
    ]
    genesis = Genesis(
        chain_id=CHAIN_ID,
        suite=settings.suite_name,
        timestamp_ms=GENESIS_TIMESTAMP_MS,
        validators=tuple(validators),
        allocations=(Allocation(dev, DEV_ALLOCATION), *senders),
        parameters=DEFAULT_PARAMETERS,
        admins=(dev,),
        python_version=get_running_python_version(),
        consensus=CONSENSUS_TENDERMINT,
    )
    validate_genesis(genesis)
    return genesis


class TransferSigner:
    """Signs a block's transfers from the seed alone, so that worker processes can sign ahead independently."""

    def __init__(self, settings: GenerateSettings) -> None:
        self.settings = settings
        suite = get_suite(settings.suite_name)
        self.keys = [compute_seed_key(suite, settings.seed, "sender", i) for i in range(settings.senders)]

    def sign_block(self, height: int) -> list[bytes]:
        settings = self.settings
        raws = []
        for index in get_block_accounts(settings, height):
            signed = build_transaction(
                self.keys[index % settings.senders],
                CHAIN_ID,
                "account",
                "transfer",
                [compute_account_address(settings.seed, index), TRANSFER_AMOUNT],
                Height(height),
                nonce=index,
            )
            raws.append(signed.raw)
        return raws


_worker_signer: TransferSigner | None = None


def _initialize_worker(settings: GenerateSettings) -> None:
    global _worker_signer
    _worker_signer = TransferSigner(settings)


def _sign_in_worker(height: int) -> list[bytes]:
    assert _worker_signer is not None, "the pool's initializer sets the signer"
    return _worker_signer.sign_block(height)


def _iterate_signed_blocks(settings: GenerateSettings, first: int) -> Iterator[list[bytes]]:
    """Each block's signed transfers from `first` on, in order; signed by `settings.workers` processes ahead."""
    heights = range(first, settings.blocks + 1)
    if settings.workers == 0:
        signer = TransferSigner(settings)
        for height in heights:
            yield signer.sign_block(height)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(settings.workers, initializer=_initialize_worker, initargs=(settings,)) as pool:
        yield from pool.imap(_sign_in_worker, heights, chunksize=SIGNING_CHUNK_BLOCKS)


# --- the directory ----------------------------------------------------------------------------------------------


def _render_node_config(settings: GenerateSettings, index: int, *, keeps_pruning: bool) -> str:
    text = render_config(
        name=NODE_NAMES[index],
        api_port=settings.base_api_port + index,
        verifier_workers=settings.verifier_workers,
        backend=settings.storage_backend,
    )
    if keeps_pruning:
        backend_line = f'backend = "{settings.storage_backend}"\n'
        assert backend_line in text, "render_config writes the backend line"
        text = text.replace(
            backend_line,
            backend_line
            + f"state_versions_kept = {settings.state_versions_kept}\n"
            + f"block_bodies_kept = {settings.block_bodies_kept}\n",
        )
    endpoints = [format_endpoint("127.0.0.1", settings.base_p2p_port + other) for other in range(len(NODE_NAMES))]
    p2p = P2PSettings(
        listen_port=settings.base_p2p_port + index,
        peers=tuple(endpoint for other, endpoint in enumerate(endpoints) if other != index),
    )
    return text + "\n" + render_p2p_section(p2p)


def _write_layout(directory: Path, settings: GenerateSettings, genesis: Genesis) -> None:
    """Genesis, node directories (keys, TLS, config), the dev key; validated by loading each config back."""
    suite = get_suite(settings.suite_name)
    directory.mkdir(parents=True, exist_ok=True)
    save_genesis(directory / GENESIS_FILE_NAME, genesis)
    ca = create_organization_ca(ORGANIZATION)
    ca_directory = directory / "pki" / ORGANIZATION
    ca_directory.mkdir(parents=True, exist_ok=True)
    save_certified_key(ca_directory / "ca.crt", ca_directory / "ca.key", ca)
    for index, name in enumerate(NODE_NAMES):
        node_directory = directory / name
        (node_directory / "tls").mkdir(parents=True, exist_ok=True)
        save_genesis(node_directory / GENESIS_FILE_NAME, genesis)
        key = compute_seed_key(suite, settings.seed, "validator", index)
        passphrase = write_encrypted_key(node_directory / NODE_KEY_FILE_NAME, key, MIN_SCRYPT_N)
        write_secret_file(node_directory / NODE_PASSPHRASE_FILE_NAME, (passphrase + "\n").encode())
        address = Address(suite.compute_address(key.public_key))
        save_certified_key(
            node_directory / "tls" / "node.crt",
            node_directory / "tls" / "node.key",
            issue_node_certificate(ca, name, address),
        )
        save_certificates(node_directory / "tls" / "ca.crt", [ca.certificate])
        # Only the node that holds the generated chain prunes it; the joiner keeps the defaults.
        config_text = _render_node_config(settings, index, keeps_pruning=index == 0)
        (node_directory / CONFIG_FILE_NAME).write_text(config_text, encoding="utf-8")
        load_config(node_directory)
    keys_directory = directory / "keys"
    keys_directory.mkdir(exist_ok=True)
    dev_key = compute_seed_key(suite, settings.seed, DEV_KEY_NAME, 0)
    dev_passphrase = write_encrypted_key(keys_directory / f"{DEV_KEY_NAME}.json", dev_key, MIN_SCRYPT_N)
    write_secret_file(keys_directory / f"{DEV_KEY_NAME}.pass", (dev_passphrase + "\n").encode())


def certify_block(suite: CryptoSuite, key: PrivateKey, block: CommittedBlock) -> CommitCertificate:
    """node0's precommit for `block` in round 0: a quorum by itself."""
    header = block.header
    vote = Vote(
        VoteKind.PRECOMMIT,
        header.chain_id,
        header.height,
        Round(0),
        block.block_hash,
        header.timestamp_ms + PRECOMMIT_DELAY_MS,
        Address(suite.compute_address(key.public_key)),
        b"",
    )
    signed = replace(vote, signature=make_signer(suite, key)(encode_signing_bytes(vote)))
    return assemble_commit_certificate([signed])


def _get_directory_bytes(path: Path) -> int:
    total = 0
    for root, _directories, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue  # a RocksDB file compacted away meanwhile
    return total


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


COMMIT_WINDOW_BLOCKS = 1_000
"""Blocks per recorded median of the per-block commit time."""


def generate_chain(
    directory: Path,
    settings: GenerateSettings,
    on_progress: Callable[[GenerateProgress], None] | None = None,
) -> GenerateResult:
    """Generate the chain `settings` describe into `directory` (which must not hold a chain yet)."""
    if (directory / GENESIS_FILE_NAME).exists():
        raise ConfigError(f"{directory} already holds a chain; choose another directory or remove it")
    started_s = time.perf_counter()
    suite = get_suite(settings.suite_name)
    genesis = compute_generated_genesis(settings)
    _write_layout(directory, settings, genesis)
    node_directory = directory / NODE_NAMES[0]
    config = load_config(node_directory)
    _solo, _mempool, execution_limits = compute_chain_settings(genesis, config)
    executor = Executor(compute_chain_registry(genesis.contracts), execution_limits)
    validator_key = compute_seed_key(suite, settings.seed, "validator", 0)
    config.data_path.mkdir(parents=True, exist_ok=True)
    store = BlockStore(open_store(config.chain_store_path, settings.storage_backend), suite)
    windows: list[CommitWindow] = []
    window_cpu_s: list[float] = []
    try:
        store.initialize(genesis.chain_id, compute_genesis_hash(suite, genesis))
        genesis_block = compute_genesis_block(suite, genesis, executor.compute_genesis_writes(genesis))
        store.commit_block(genesis_block, sync=False)
        tip, tip_hash = genesis_block.header, genesis_block.block_hash
        validator_set = ValidatorSet.from_genesis(genesis)
        for transactions in _iterate_signed_blocks(settings, 1):
            height = Height(tip.height + 1)
            cpu_started_s = time.thread_time()
            rules = compute_next_block_rules(genesis, suite, store, tip)
            entries = [
                decode_block_transaction(rules, height, position, raw) for position, raw in enumerate(transactions)
            ]
            proposer = validator_set.get_proposer(height, Round(0)).address
            block = build_block(
                rules,
                executor,
                store,
                store.state_tree,
                tip,
                tip_hash,
                GENESIS_TIMESTAMP_MS + height * BLOCK_INTERVAL_MS,
                proposer,
                entries,
            )
            failed = [receipt for receipt in block.receipts if receipt.status != 0]
            if failed:
                raise StorageError(f"generated block {height} holds failing transactions: {failed[0]}")
            store.commit_block(replace(block, certificate=certify_block(suite, validator_key, block)), sync=False)
            cpu_s = time.thread_time() - cpu_started_s
            created = get_block_accounts(settings, height).stop
            window_cpu_s.append(cpu_s)
            if len(window_cpu_s) == COMMIT_WINDOW_BLOCKS or height == settings.blocks:
                windows.append(CommitWindow(height, created, 1000 * _median(window_cpu_s)))
                window_cpu_s.clear()
            _apply_pruning(store, config.archive_path, height, settings)
            tip, tip_hash = block.header, block.block_hash
            if on_progress is not None and (height % PROGRESS_INTERVAL_BLOCKS == 0 or height == settings.blocks):
                on_progress(GenerateProgress(height, settings.blocks, created, time.perf_counter() - started_s))
        store.kv.write(_sync_batch(), sync=True)  # one sync for every unsynced block before it
    finally:
        store.close()
    seconds = time.perf_counter() - started_s
    result = GenerateResult(
        directory=directory,
        tip_height=tip.height,
        tip_hash=tip_hash,
        state_root=tip.state_root,
        accounts=settings.accounts,
        seconds=seconds,
        blocks_per_s=settings.blocks / seconds if seconds > 0 else 0.0,
        commit_windows=tuple(windows),
    )
    _write_manifest(directory, settings, result)
    return result


def _sync_batch() -> WriteBatch:
    """A synced write of one metadata key: it makes every unsynced batch before it durable too."""
    batch = WriteBatch()
    batch.put(META_GENERATED, b"1")
    return batch


def _apply_pruning(store: BlockStore, archive_path: Path, tip: Height, settings: GenerateSettings) -> None:
    """What the node does after each block with this retention: one state version, and bodies in files."""
    if settings.state_versions_kept:
        apply_state_pruning_step(store.kv, tip, settings.state_versions_kept)
    if settings.block_bodies_kept:
        apply_body_archiving_step(store, store.kv, tip, settings.block_bodies_kept, archive_path, 256)


def _write_manifest(directory: Path, settings: GenerateSettings, result: GenerateResult) -> None:
    sample_indices = sorted({settings.accounts * i // SAMPLE_ACCOUNTS for i in range(SAMPLE_ACCOUNTS)})
    document = {
        "format": GENERATED_FORMAT,
        "settings": asdict(settings),
        "chain_id": CHAIN_ID,
        "tip_height": result.tip_height,
        "tip_hash": result.tip_hash.hex(),
        "state_root": result.state_root.hex(),
        "seconds": round(result.seconds, 3),
        "blocks_per_s": round(result.blocks_per_s, 2),
        "commit_ms_median_per_window": [
            [window.last_height, window.accounts, round(window.commit_ms_median, 3)] for window in result.commit_windows
        ],
        "node0_data_bytes": _get_directory_bytes(directory / NODE_NAMES[0] / "data"),
        "sample_accounts": [
            {"index": index, "address": compute_account_address(settings.seed, index).hex()} for index in sample_indices
        ],
    }
    (directory / GENERATED_FILE_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def load_manifest(directory: Path) -> dict[str, Any]:
    path = directory / GENERATED_FILE_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read ({error}); is {directory} made by `gusu bench generate`?") from None
    if not isinstance(document, dict) or document.get("format") != GENERATED_FORMAT:
        raise ConfigError(f"{path} is not a generated-chain description of format {GENERATED_FORMAT}")
    return document


# --- replay -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayResult:
    blocks: int
    transactions: int
    seconds: float
    tip_hash: Hash
    state_root: Hash

    @property
    def blocks_per_s(self) -> float:
        return self.blocks / self.seconds if self.seconds > 0 else 0.0


def _read_raw_block(store: BlockStore, height: Height) -> tuple[RawBlock, CommitCertificate]:
    header = store.get_header(height)
    certificate = store.get_certificate(height)
    ids = store.get_transaction_ids(height)
    if header is None or certificate is None or ids is None:
        raise StorageError(f"block {height} is not stored whole in the source (pruned bodies cannot be replayed)")
    raws = []
    for transaction_id in ids:
        stored = store.get_transaction(transaction_id)
        if stored is None:
            raise StorageError(f"transaction {transaction_id.hex()} of block {height} is missing from the source")
        raws.append(stored.raw)
    return RawBlock(header=header, raw_transactions=tuple(raws)), certificate


def replay_chain(source_directory: Path, target_data: Path | None, blocks_max: int | None = None) -> ReplayResult:
    """Replay node0's generated chain from genesis as a joining node checks it, into a fresh store.

    `target_data`: where the new store goes (None: a memory store). InvalidBlockError if any block fails a
    rule; the checks are the node's (certificate, `start_block_check`, signatures, `finish_block_check`).
    """
    genesis = load_genesis(source_directory / GENESIS_FILE_NAME)
    suite = get_suite(genesis.suite)
    source_config = load_config(source_directory / NODE_NAMES[0])
    _solo, _mempool, execution_limits = compute_chain_settings(genesis, source_config)
    executor = Executor(compute_chain_registry(genesis.contracts), execution_limits)
    source = BlockStore(open_store(source_config.chain_store_path, source_config.storage.backend), suite)
    target_kv: KeyValueStore
    if target_data is None:
        target_kv = open_store(Path("."), "memory")
    else:
        if target_data.exists():
            shutil.rmtree(target_data)
        target_kv = open_store(target_data, DEFAULT_BACKEND)
    target = BlockStore(target_kv, suite)
    transactions = 0
    try:
        source_tip = source.get_tip()
        assert source_tip is not None, "a generated store has a tip"
        last = source_tip[0] if blocks_max is None else min(source_tip[0], blocks_max)
        target.initialize(genesis.chain_id, compute_genesis_hash(suite, genesis))
        genesis_block = compute_genesis_block(suite, genesis, executor.compute_genesis_writes(genesis))
        target.commit_block(genesis_block, sync=False)
        tip, tip_hash = genesis_block.header, genesis_block.block_hash
        started_s = time.perf_counter()
        for height in range(1, last + 1):
            raw_block, certificate = _read_raw_block(source, Height(height))
            # The set in force at this height, from the schedule in the parent's state (as a syncing node does).
            validators = get_config_at(get_config_schedule(genesis, target), Height(height)).validators
            validator_set = ValidatorSet.from_genesis_validators(validators)
            verify_commit_certificate(suite, genesis.chain_id, validator_set, certificate)
            rules = compute_next_block_rules(genesis, suite, target, tip)
            check = start_block_check(rules, tip, tip_hash, raw_block, target.has_transaction)
            verdicts = {position: suite.verify(*_signature_arguments(check, position)) for position in check.unverified}
            built = finish_block_check(rules, executor, target, target.state_tree, tip, tip_hash, check, verdicts)
            if certificate.block_hash != built.block_hash:
                raise InvalidBlockError(f"the certificate of block {height} is for another block")
            target.commit_block(replace(built, certificate=certificate), sync=False)
            transactions += len(raw_block.raw_transactions)
            tip, tip_hash = built.header, built.block_hash
        seconds = time.perf_counter() - started_s
        if target_data is not None:
            target_kv.write(_sync_batch(), sync=True)
    finally:
        source.close()
        target.close()
    return ReplayResult(last, transactions, seconds, tip_hash, tip.state_root)


def _signature_arguments(check: BlockCheck, position: int) -> tuple[bytes, bytes, bytes]:
    public_key, transaction_id, signature = get_signature_check(check.entries[position])
    return public_key, transaction_id, signature
