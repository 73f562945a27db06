"""A 4-validator chain in one process (real TLS P2P on loopback) with one validator playing Byzantine.

The Byzantine validator is either a real `Node` whose behaviour a test patches (it then signs with its
own key and speaks over its own TLS identity, exactly as a hostile member organisation could), or a
node that is not started at all while the test hands its crafted frames straight to a victim's
transport handlers (`_proposals.on_consensus_body`, `_on_sync_body`), which is what the transport would call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from node_helpers import TEST_SCRYPT_N
from test_node_bft_inprocess import _free_port_run

from gusu.consensus.messages import (
    Proposal,
    Vote,
    encode_proposal_signing_bytes,
    encode_vote_signing_bytes,
    make_signer,
)
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import PrivateKey, get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.genesis import save_genesis
from gusu.ledger.types import (
    ZERO_HASH,
    Address,
    BlockHeader,
    Hash,
    Height,
    RawBlock,
    Round,
    compute_block_hash,
)
from gusu.ledger.validators import compute_validators_hash
from gusu.node.chain import load_genesis, load_node_key
from gusu.node.config import GENESIS_FILE_NAME, load_config
from gusu.node.network_init import NetworkLayout, initialize_network
from gusu.node.node import Node
from gusu.node.wire import encode_proposal_body
from gusu.sdk.transactions import build_transaction

RECIPIENT = b"\x44" * 20


def make_network(
    directory: Path,
    *,
    parameters: dict[str, int] | None = None,
    drop_parameters: tuple[str, ...] = (),
    timestamp_ms: int = 0,
) -> NetworkLayout:
    """Four ecdsa validators; `parameters` overrides genesis parameters (every node's copy of genesis)."""
    base = _free_port_run(8)
    layout = initialize_network(
        directory,
        organizations=4,
        suite_name="ecdsa",
        scrypt_n=TEST_SCRYPT_N,
        base_api_port=base,
        base_p2p_port=base + 4,
        verifier_workers=0,
        timestamp_ms=timestamp_ms,
    )
    if not parameters and not drop_parameters:
        return layout
    changed = dict(layout.genesis.parameters) | (parameters or {})
    for name in drop_parameters:
        changed.pop(name, None)
    genesis = replace(layout.genesis, parameters=tuple(sorted(changed.items())))
    for path in [directory / GENESIS_FILE_NAME, *(node / GENESIS_FILE_NAME for node in layout.node_directories)]:
        save_genesis(path, genesis)
    return replace(layout, genesis=genesis)


def get_proposer_index(layout: NetworkLayout, nodes: list[Node], height: int, round_: int = 0) -> int:
    proposer = ValidatorSet.from_genesis(layout.genesis).get_proposer(Height(height), round_).address  # type: ignore[arg-type]
    return [node.address for node in nodes].index(proposer)


def load_dev_key(layout: NetworkLayout) -> PrivateKey:
    return decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())


async def feed_transactions(layout: NetworkLayout, nodes: list[Node], interval_s: float = 0.2) -> None:
    """Submit a fresh transfer to the honest nodes in turn, forever (cancel the task to stop)."""
    dev = load_dev_key(layout)
    for amount in itertools.count(1):
        node = nodes[amount % len(nodes)]
        item = build_transaction(
            dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, amount], Height(node.height + 100)
        )
        await node.submit_transactions([item.raw])
        await asyncio.sleep(interval_s)


async def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {timeout_s} s")


async def wait_heights(nodes: list[Node], height: int, timeout_s: float) -> None:
    await wait_for(
        lambda: all(node.height >= height for node in nodes),
        timeout_s,
        f"not every node reached height {height} (heights {[int(node.height) for node in nodes]})",
    )


async def stop_all(nodes: list[Node]) -> None:
    for node in nodes:
        with contextlib.suppress(Exception):
            await node.stop()


def addresses(nodes: list[Node]) -> list[Address]:
    return [node.address for node in nodes]


def load_nodes(layout: NetworkLayout, on_fatal: Callable[[BaseException], None] | None = None) -> list[Node]:
    """Build (not start) every node; `on_fatal` (if given) replaces the default exit on a local fault."""
    nodes = []
    for directory in layout.node_directories:
        config = load_config(directory)
        key = load_node_key(config)
        genesis = load_genesis(config.genesis_path)
        nodes.append(Node(config, genesis, key) if on_fatal is None else Node(config, genesis, key, on_fatal=on_fatal))
    return nodes


def sign_proposal(node_directory: Path, proposal: Proposal) -> Proposal:
    """`proposal` signed with the consensus key of the validator configured in `node_directory`."""
    config = load_config(node_directory)
    suite = get_suite(load_genesis(config.genesis_path).suite)
    signature = make_signer(suite, load_node_key(config))(encode_proposal_signing_bytes(proposal))
    return replace(proposal, signature=signature)


def make_tiny_proposal(
    layout: NetworkLayout, node_directory: Path, proposer: Address, height: int, round_: int, salt: int
) -> bytes:
    """A consensus frame: a self-signed proposal by `proposer` with an empty, made-up block (`salt` varies it)."""
    suite = get_suite(layout.genesis.suite)
    header = BlockHeader(
        chain_id=layout.genesis.chain_id,
        height=Height(height),
        parent_hash=ZERO_HASH,
        timestamp_ms=1_000_000 + salt,
        proposer=proposer,
        transactions_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        state_root=ZERO_HASH,
        validators_hash=compute_validators_hash(suite, layout.genesis.validators),
        next_validators_hash=compute_validators_hash(suite, layout.genesis.validators),
        transaction_count=0,
    )
    block = RawBlock(header, ())
    proposal = Proposal(
        chain_id=layout.genesis.chain_id,
        height=Height(height),
        round=Round(round_),
        block_hash=compute_block_hash(suite, header),
        pol_round=-1,
        timestamp_ms=header.timestamp_ms,
        proposer=proposer,
        signature=b"",
    )
    return encode_proposal_body(sign_proposal(node_directory, proposal), block)


async def start_lone_proposer(layout: NetworkLayout, nodes: list[Node]) -> tuple[Node, Hash]:
    """Start only the proposer of height 1, round 0, hand it a transaction, and wait for its proposal.

    The other validators stay down, so the height never commits and the proposal's body must stay.
    """
    victim = nodes[get_proposer_index(layout, nodes, 1)]
    await victim.start()
    dev = load_dev_key(layout)
    item = build_transaction(dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, 1], Height(100))
    [outcome] = await victim.submit_transactions([item.raw])
    assert outcome.error is None, outcome.error
    await wait_for(lambda: victim._proposal is not None, 10, "the victim did not propose")
    assert victim._proposal is not None
    return victim, victim._proposal.block_hash


def sign_vote(node_directory: Path, vote: Vote) -> Vote:
    """`vote` signed with the consensus key of the validator configured in `node_directory`."""
    config = load_config(node_directory)
    suite = get_suite(load_genesis(config.genesis_path).suite)
    signature = make_signer(suite, load_node_key(config))(encode_vote_signing_bytes(vote))
    return replace(vote, signature=signature)
