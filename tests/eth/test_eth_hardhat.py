"""A Hardhat 2 project with hardhat-toolbox, unchanged, against a Gusu node as an external network
(issue 10, item 5).

tests/eth/hardhat is an ordinary Hardhat 2 project (hardhat, @nomicfoundation/hardhat-toolbox 5 and the
peers it brings, ethers v6, chai, OpenZeppelin Contracts 5, all pinned by the committed
package-lock.json): an OpenZeppelin ERC-20 with Ownable and an ERC-721 with AccessControl, a deploy
script and Mocha tests written as for Hardhat's own network: matchers on transactions not yet waited for
(`emit`, `revertedWithCustomError`) and the balance-change matchers (`changeTokenBalances`,
`changeEtherBalances`), which read balances at the block before the transaction. The node runs with
`[eth] send_waits_for_commit` (as Hardhat's automine) and the default window of past state. The config
adds a "gusu" network (URL and keys from the environment) and takes solc-js from the npm registry instead
of Hardhat's compiler download. The test compiles it, runs the deploy script and `hardhat test --network
gusu` with three signers (the funded dev key and two fresh ones: gas is free at price 0).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from eth_tool_helpers import install_npm_project, make_evm_chain, require_node_and_npm, run_tool, running_node

from gusu.api.eth import EthSettings
from gusu.codec import decode, encode

PROJECT = Path(__file__).resolve().parent / "hardhat"
HARDHAT_TIMEOUT_S = 300


def test_a_hardhat_project_deploys_and_passes_its_tests(tmp_path: Path) -> None:
    node_binary, npm = require_node_and_npm()
    install_npm_project(PROJECT, npm)
    key = make_evm_chain(tmp_path / "chain")
    hardhat = [node_binary, str(PROJECT / "node_modules" / "hardhat" / "internal" / "cli" / "bootstrap.js")]

    async def main() -> None:
        settings = EthSettings(send_waits_for_commit=True)
        async with running_node(tmp_path / "chain", settings) as (node, server):
            signers = [key, *(node.suite.generate_private_key() for _ in range(2))]
            env = {
                "GUSU_RPC_URL": server.url + "/rpc",
                "GUSU_PRIVATE_KEYS": ",".join("0x" + signer.secret.hex() for signer in signers),
                "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
            }
            deployed = await run_tool(
                [*hardhat, "run", "scripts/deploy.js", "--network", "gusu"], PROJECT, HARDHAT_TIMEOUT_S, env
            )
            token = json.loads(deployed.stdout.strip().splitlines()[-1])["token"]
            code = decode(node.call("evm", "get_code", encode([bytes.fromhex(token[2:])]), None).return_value)
            assert isinstance(code, bytes) and len(code) > 1_000  # the deploy script's token is there
            tested = await run_tool([*hardhat, "test", "--network", "gusu"], PROJECT, HARDHAT_TIMEOUT_S, env)
            assert "9 passing" in tested.stdout and "failing" not in tested.stdout, tested.stdout

    asyncio.run(main())
