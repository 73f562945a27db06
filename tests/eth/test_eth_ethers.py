"""ethers v6, unchanged, against a real one-node `ecdsa` chain with the evm contract (issue 10, item 5).

ethers comes from the npm registry at the version pinned in tests/eth/js/package-lock.json (installed
with `npm ci` on first use or when the lock changes; eth_tool_helpers) and runs under the system
Node.js: tests/eth/js/ethers_erc20.js deploys the ERC-20 fixture, calls, estimates, transfers (legacy
and EIP-1559), reads receipts and events (by receipt, by range, through a polling filter and WebSocket
subscriptions) and decodes a revert reason and a custom error. Without node or npm the test skips
locally and fails under CI=true (tests/conftest.py); scripts/bootstrap.sh installs Debian's nodejs
and npm for the test extra.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from eth_tool_helpers import install_npm_project, make_evm_chain, require_node_and_npm, run_tool, running_node

from gusu.codec import decode, encode

JS_PROJECT = Path(__file__).resolve().parent / "js"
TOKEN_ARTIFACT = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures" / "Token.json"
SCRIPT_TIMEOUT_S = 120


def test_ethers_deploys_transfers_and_decodes_reverts(tmp_path: Path) -> None:
    node_binary, npm = require_node_and_npm()
    install_npm_project(JS_PROJECT, npm)
    key = make_evm_chain(tmp_path / "chain")

    async def main() -> dict[str, object]:
        async with running_node(tmp_path / "chain") as (node, server):
            run = await run_tool(
                [
                    node_binary,
                    str(JS_PROJECT / "ethers_erc20.js"),
                    server.url + "/rpc",
                    server.ws_url,
                    "0x" + key.secret.hex(),
                    str(TOKEN_ARTIFACT),
                ],
                JS_PROJECT,
                SCRIPT_TIMEOUT_S,
            )
            seen: dict[str, object] = json.loads(run.stdout.strip().splitlines()[-1])
            chain_id = decode(node.call("evm", "get_chain_id", encode([]), None).return_value)
            assert seen["chainId"] == str(chain_id)
            return seen

    seen = asyncio.run(main())
    assert seen["reason"] == "Token: allowance exceeded"
    assert seen["customError"] == "InsufficientBalance"
    assert seen["feeHistoryBlocks"] in (1, 2)  # the script checked the fees themselves
    assert seen["overriddenBalance"] == "777"  # eth_call with a stateDiff override
