"""ethers v6, unchanged, against a real one-node `ecdsa` chain with the evm contract (issue 10, item 5).

ethers comes from the npm registry at the version pinned in tests/eth/js/package-lock.json (installed
with `npm ci` into tests/eth/js/node_modules, gitignored, on first use or when the lock changes) and
runs under the system Node.js: tests/eth/js/ethers_erc20.js deploys the ERC-20 fixture, calls,
estimates, transfers (legacy and EIP-1559), reads receipts and events (by receipt, by range, through a
polling filter and WebSocket subscriptions) and decodes a revert reason and a custom error. Without node or
npm the test skips locally and fails under CI=true (tests/conftest.py); scripts/bootstrap.sh installs
Debian's nodejs and npm for the test extra.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gusu.api.server import start_api
from gusu.api.settings import ApiSettings
from gusu.codec import decode, encode
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, load_genesis, save_genesis
from gusu.node.chain import initialize_chain, load_node

JS_PROJECT = Path(__file__).resolve().parent / "js"
TOKEN_ARTIFACT = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures" / "Token.json"
INSTALL_STAMP = JS_PROJECT / "node_modules" / ".gusu-lock-sha256"
NPM_INSTALL_TIMEOUT_S = 300
SCRIPT_TIMEOUT_S = 120


def _require_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("needs Node.js and npm (Debian: apt-get install nodejs npm; scripts/bootstrap.sh test does)")
    return node, npm


def _install_js_project(npm: str) -> None:
    """npm ci from the committed lock, unless node_modules already holds exactly that lock."""
    wanted = hashlib.sha256((JS_PROJECT / "package-lock.json").read_bytes()).hexdigest()
    if INSTALL_STAMP.is_file() and INSTALL_STAMP.read_text().strip() == wanted:
        return
    completed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_PROJECT,
        capture_output=True,
        text=True,
        timeout=NPM_INSTALL_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, f"npm ci failed in {JS_PROJECT}:\n{completed.stderr[-4000:]}"
    INSTALL_STAMP.write_text(wanted + "\n")


def _make_evm_chain(directory: Path) -> None:
    layout = initialize_chain(directory, suite_name="ecdsa", api_port=0, verifier_workers=0, scrypt_n=2**10)
    parameters = dict(DEFAULT_PARAMETERS) | {"contract_deploy_approval_required": 0}
    genesis = dataclasses.replace(
        layout.genesis,
        contracts=tuple(sorted((*DEFAULT_CONTRACTS, "evm"))),
        parameters=tuple(sorted(parameters.items())),
    )
    for path in (directory / "genesis.json", layout.node_directories[0] / "genesis.json"):
        assert load_genesis(path) == layout.genesis
        save_genesis(path, genesis)


def test_ethers_deploys_transfers_and_decodes_reverts(tmp_path: Path) -> None:
    node_binary, npm = _require_tools()
    _install_js_project(npm)
    directory = tmp_path / "chain"
    _make_evm_chain(directory)
    key = decrypt_key_file(
        (directory / "keys" / "dev.json").read_bytes(), (directory / "keys" / "dev.pass").read_text().strip()
    )

    async def main() -> dict[str, object]:
        node = load_node(directory / "node0")
        await node.start()
        try:
            server = await start_api(node, ApiSettings(port=0))
            try:
                # A subprocess, so the node keeps committing on this event loop while ethers waits.
                process = await asyncio.create_subprocess_exec(
                    node_binary,
                    str(JS_PROJECT / "ethers_erc20.js"),
                    server.url + "/rpc",
                    server.ws_url,
                    "0x" + key.secret.hex(),
                    str(TOKEN_ARTIFACT),
                    cwd=JS_PROJECT,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                try:
                    stdout, stderr = await asyncio.wait_for(process.communicate(), SCRIPT_TIMEOUT_S)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise
                assert process.returncode == 0, f"the ethers script failed:\n{stderr.decode()[-6000:]}"
                seen: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
                chain_id = decode(node.call("evm", "get_chain_id", encode([]), None).return_value)
                assert seen["chainId"] == str(chain_id)
                return seen
            finally:
                await server.close()
        finally:
            await node.stop()

    seen = asyncio.run(main())
    assert seen["reason"] == "Token: allowance exceeded"
    assert seen["customError"] == "InsufficientBalance"
