"""Ethereum transactions in Gusu's own views (issue 10, item 6): the SDK, the console explorer's JSON,
`gusu block show` and `gusu tx show`.

A real one-node `ecdsa` chain with the evm contract commits an EIP-1559 transaction signed as a wallet
signs it (py-evm's builder, eth-keys) beside a Gusu transaction; the SDK parses both kinds from the
node's JSON (the Ethereum one from its raw bytes, sender recovered), and the CLI (a subprocess) shows
the Ethereum one as ``"kind": "ethereum"`` with its decoded fields, in JSON and in its tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# py-evm's import raises the process's recursion limit (py_ecc); gusu.execution.evm imports it first and
# restores the limit, which later tests (the sandbox's) rely on.
import gusu.execution.evm  # noqa: F401

# isort: split
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_keys import keys

from gusu.api.server import start_api
from gusu.api.settings import ApiSettings
from gusu.codec import decode, encode
from gusu.console import chain as console_chain
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, load_genesis, save_genesis
from gusu.ledger.types import Hash, Height, Transaction
from gusu.node.chain import initialize_chain, load_node
from gusu.node.node import Node
from gusu.sdk import AsyncClient
from gusu.sdk.transactions import build_transaction

WALLET = keys.PrivateKey(bytes([9]) * 32)
RECIPIENT = bytes([0x42]) * 20
COMMAND_TIMEOUT_S = 90


def _make_chain(directory: Path) -> None:
    layout = initialize_chain(directory, suite_name="ecdsa", api_port=0, verifier_workers=0, scrypt_n=2**10)
    genesis = dataclasses.replace(
        layout.genesis,
        contracts=tuple(sorted((*DEFAULT_CONTRACTS, "evm"))),
        parameters=tuple(sorted((*DEFAULT_PARAMETERS, ("contract_deploy_approval_required", 0)))),
    )
    for path in (directory / "genesis.json", layout.node_directories[0] / "genesis.json"):
        assert load_genesis(path) == layout.genesis
        save_genesis(path, genesis)


async def _committed(node: Node, transaction_id: Hash) -> Height:
    deadline = time.monotonic() + 20
    while (found := node.get_receipt(transaction_id)) is None:
        assert time.monotonic() < deadline, "the transaction did not commit"
        await asyncio.sleep(0.02)
    return found.height


def _gusu(endpoint: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUSU_HOME": str(home), "GUSU_ENDPOINT": endpoint}
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", *args], env=env, capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert completed.returncode == 0 and "Traceback" not in completed.stderr, completed.stderr
    return completed


def test_sdk_and_cli_show_ethereum_transactions_next_to_gusu_ones(tmp_path: Path) -> None:
    chain = tmp_path / "chain"
    _make_chain(chain)
    key = decrypt_key_file((chain / "keys" / "dev.json").read_bytes(),
                           (chain / "keys" / "dev.pass").read_text().strip())  # fmt: skip

    async def main() -> None:
        node = load_node(chain / "node0")
        await node.start()
        server = await start_api(node, ApiSettings(port=0))
        try:
            evm_chain_id = decode(node.call("evm", "get_chain_id", encode([]), None).return_value)
            assert isinstance(evm_chain_id, int)
            raw = (
                CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
                    evm_chain_id, 0, 0, 0, 30_000, RECIPIENT, 0, b"\x01\x02", ()
                )
                .as_signed_transaction(WALLET)
                .encode()
            )
            eth_hash = await node.submit_eth_raw_transaction(raw)
            height = await _committed(node, eth_hash)
            signed = build_transaction(key, node.chain_id, "account", "balance", [b"\x00" * 20], Height(height + 50))
            ((outcome),) = await node.submit_transactions([signed.raw])
            assert outcome.error is None
            await _committed(node, signed.transaction_id)

            async with AsyncClient(server.url) as client:
                block = await client.get_block(height, full_transactions=True)
                (item,) = [view for view in block.transactions if view.transaction_id == eth_hash]
                assert isinstance(item.transaction, EthTransaction)
                assert item.sender == WALLET.public_key.to_canonical_address() == item.transaction.sender
                transaction = item.transaction
                assert (transaction.to, transaction.nonce, transaction.data) == (RECIPIENT, 0, b"\x01\x02")
                assert item.transaction.raw == raw
                found = await client.get_transaction(eth_hash)
                assert found.is_committed and found.transaction == item.transaction
                gusu = await client.get_transaction(signed.transaction_id)
                assert isinstance(gusu.transaction, Transaction)
                # The console's explorer JSON (its block and transaction pages) is built from these views.
                explorer_block = await console_chain.get_block(client, Height(height))
                (summary,) = [item for item in explorer_block["transactions"] if item["id"] == "0x" + eth_hash.hex()]
                explorer_tx = await console_chain.get_transaction(client, eth_hash)
                assert summary["transaction"] == explorer_tx["transaction"]
                assert isinstance(summary["transaction"], dict) and summary["transaction"]["kind"] == "ethereum"
                assert isinstance(explorer_tx["receipt"], dict) and explorer_tx["receipt"]["status"] == "success"

            endpoint, home = server.url, tmp_path / "home"
            block_show = ("block", "show", str(height), "--full")
            shown: dict[str, Any] = json.loads(
                (await asyncio.to_thread(_gusu, endpoint, home, *block_show, "--json")).stdout
            )
            (listed,) = [item for item in shown["transactions"] if item["id"] == "0x" + eth_hash.hex()]
            assert listed["kind"] == "ethereum" and listed["type"] == 2 and listed["nonce"] == 0
            assert listed["sender"] == "0x" + WALLET.public_key.to_canonical_address().hex()
            assert (listed["to"], listed["value"], listed["gas_limit"]) == ("0x" + RECIPIENT.hex(), "0", 30_000)
            assert listed["data"] == "0x0102" and listed["raw"] == "0x" + raw.hex()
            table = (await asyncio.to_thread(_gusu, endpoint, home, *block_show)).stdout
            assert "ethereum -> 0x" + RECIPIENT.hex() in table.replace("\n", "")

            tx: dict[str, Any] = json.loads(
                (await asyncio.to_thread(_gusu, endpoint, home, "tx", "show", "0x" + eth_hash.hex(), "--json")).stdout
            )
            assert tx["status"] == "committed" and tx["transaction"] == listed
            assert tx["receipt"]["status"] == "success"
            text = (await asyncio.to_thread(_gusu, endpoint, home, "tx", "show", "0x" + eth_hash.hex())).stdout
            assert "ethereum (type 2)" in text and "30,000" in text and "0x0102" in text
        finally:
            await server.close()
            await node.stop()

    asyncio.run(main())
