"""Four validators in one process over real TLS on loopback: BFT commits, identical state everywhere."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from node_helpers import TEST_SCRYPT_N, get_free_port

from gusu.codec import decode, encode
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.types import Address, Hash, Height, RawBlock, compute_block_hash
from gusu.node.chain import load_node
from gusu.node.network_init import NetworkLayout, initialize_network
from gusu.node.node import Node
from gusu.node.wire import ProposalWithBlock, decode_consensus_body, encode_proposal_reference_body
from gusu.sdk.transactions import build_transaction

RECIPIENT = b"\x44" * 20


def _free_port_run(count: int) -> int:
    """The first of `count` consecutive loopback ports that are all free now (API and P2P ports of a network)."""
    for _ in range(50):
        base = get_free_port()
        if base + count >= 65_000:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return base
    raise AssertionError(f"no run of {count} free ports found")


def _make_network(directory: Path) -> NetworkLayout:
    base = _free_port_run(8)  # one run for both, so the API ports cannot land on the P2P ones
    return initialize_network(
        directory,
        organizations=4,
        suite_name="ecdsa",
        scrypt_n=TEST_SCRYPT_N,
        base_api_port=base,
        base_p2p_port=base + 4,
        verifier_workers=0,
    )


async def _wait_committed(nodes: list[Node], transaction_id: Hash, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(node.get_receipt(transaction_id) is not None for node in nodes):
            return
        await asyncio.sleep(0.05)
    heights = [int(node.height) for node in nodes]
    raise AssertionError(f"transaction not committed on every node within {timeout_s} s; heights {heights}")


def test_four_validators_agree(tmp_path: Path) -> None:
    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes = [load_node(directory) for directory in layout.node_directories]
        for node in nodes:
            await node.start()
        try:
            dev = decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())
            signed = [
                build_transaction(dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, amount], Height(50))
                for amount in (1, 2, 3)
            ]
            # Submit to different nodes: gossip carries them to the proposer.
            for node, item in zip(nodes, signed, strict=False):
                [outcome] = await node.submit_transactions([item.raw])
                assert outcome.error is None, outcome.error
            for item in signed:
                await _wait_committed(nodes, item.transaction_id, timeout_s=30)
            await asyncio.sleep(0.5)
            heights = {int(node.height) for node in nodes}
            common = min(heights)
            hashes = {node.get_block(Height(common)).block_hash for node in nodes}  # type: ignore[union-attr]
            assert len(hashes) == 1, "validators committed different blocks at one height"
            for node in nodes:
                balance = node.call("account", "balance", encode([RECIPIENT]), None)
                assert decode(balance.return_value) == 6
                block = node.get_block(Height(common))
                assert block is not None and block.certificate is not None
                assert len(block.certificate.signatures) >= 3  # more than 2/3 of 4 equal powers
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())


def test_a_validator_that_misses_proposal_bodies_fetches_them_by_hash(tmp_path: Path) -> None:
    """Node 3 loses the body of every proposal it is sent (as if each first sending were lost): it
    learns the block by hash from the proposer and still votes and commits with the others."""

    async def scenario() -> None:
        layout = _make_network(tmp_path / "net")
        nodes = [load_node(directory) for directory in layout.node_directories]
        victim = nodes[3]
        deliver = victim._proposals.on_consensus_body
        fetched: list[Hash] = []
        answer = victim._proposals.on_body_answer

        async def lose_bodies(peer: Address, body: bytes) -> None:
            decoded = decode_consensus_body(body)
            if isinstance(decoded, ProposalWithBlock):
                body = encode_proposal_reference_body(decoded.proposal)
            await deliver(peer, body)

        def record_answer(block: RawBlock) -> None:
            fetched.append(compute_block_hash(victim.suite, block.header))
            answer(block)

        victim._proposals.on_consensus_body = lose_bodies  # type: ignore[method-assign]
        victim._proposals.on_body_answer = record_answer  # type: ignore[method-assign]
        for node in nodes:
            await node.start()
        try:
            dev = decrypt_key_file(layout.dev_key_path.read_bytes(), layout.dev_passphrase_path.read_text().strip())
            for amount in (1, 2, 3, 4):
                item = build_transaction(
                    dev, layout.genesis.chain_id, "account", "transfer", [RECIPIENT, amount], Height(50)
                )
                [outcome] = await nodes[amount % 3].submit_transactions([item.raw])
                assert outcome.error is None, outcome.error
                await _wait_committed(nodes, item.transaction_id, timeout_s=30)
            assert fetched, "node 3 never fetched a body"
            # It voted on what it fetched: its precommits are in certificates of blocks it did not propose.
            signed_by_victim = [
                block.certificate
                for height in range(1, int(victim.height) + 1)
                if (block := victim.get_block(Height(height))) is not None
                and block.certificate is not None
                and block.header.proposer != victim.address
                and any(item.validator == victim.address for item in block.certificate.signatures)
            ]
            assert signed_by_victim
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(scenario())
