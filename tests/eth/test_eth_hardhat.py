"""A Hardhat 2 project, unchanged, against a Gusu node as an external network (issue 10, item 5).

tests/eth/hardhat is an ordinary Hardhat 2 project (hardhat, @nomicfoundation/hardhat-ethers, ethers
v6, chai, OpenZeppelin Contracts 5, all pinned by the committed package-lock.json): an OpenZeppelin
ERC-20 with Ownable, its deploy script and its Mocha tests. Its config adds a "gusu" network (URL and
key from the environment) and takes solc-js from the npm registry instead of Hardhat's compiler
download. The test compiles it, runs the deploy script and `hardhat test --network gusu`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from eth_tool_helpers import install_npm_project, make_evm_chain, require_node_and_npm, run_tool, running_node

from gusu.codec import decode, encode

PROJECT = Path(__file__).resolve().parent / "hardhat"
HARDHAT_TIMEOUT_S = 300


def test_a_hardhat_project_deploys_and_passes_its_tests(tmp_path: Path) -> None:
    node_binary, npm = require_node_and_npm()
    install_npm_project(PROJECT, npm)
    key = make_evm_chain(tmp_path / "chain")
    hardhat = [node_binary, str(PROJECT / "node_modules" / "hardhat" / "internal" / "cli" / "bootstrap.js")]

    async def main() -> None:
        async with running_node(tmp_path / "chain") as (node, server):
            env = {
                "GUSU_RPC_URL": server.url + "/rpc",
                "GUSU_PRIVATE_KEY": "0x" + key.secret.hex(),
                "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
            }
            deployed = await run_tool(
                [*hardhat, "run", "scripts/deploy.js", "--network", "gusu"], PROJECT, HARDHAT_TIMEOUT_S, env
            )
            token = json.loads(deployed.stdout.strip().splitlines()[-1])["token"]
            code = decode(node.call("evm", "get_code", encode([bytes.fromhex(token[2:])]), None).return_value)
            assert isinstance(code, bytes) and len(code) > 1_000  # the deploy script's token is there
            tested = await run_tool([*hardhat, "test", "--network", "gusu"], PROJECT, HARDHAT_TIMEOUT_S, env)
            assert "8 passing" in tested.stdout, tested.stdout

    asyncio.run(main())
