"""`gusu evm` end to end: the CLI (a subprocess) against an in-process `sm` node with the `evm` contract.

deploy (constructor arguments by ABI type) -> send (decoded return value and Transfer log) -> call ->
a custom error and a revert reason on stderr and in --json -> logs of a committed transaction ->
`gusu tx show --abi` -> argument errors that say what is expected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gusu.api.process import compute_api_settings
from gusu.api.server import start_api
from gusu.api.settings import ApiSettings
from gusu.crypto import get_suite
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, load_genesis, save_genesis
from gusu.node.chain import initialize_chain, load_node
from gusu.node.config import load_config

FIXTURES = Path(__file__).resolve().parents[1] / "execution" / "evm" / "fixtures"
TOKEN = str(FIXTURES / "Token.json")
REVERTER = str(FIXTURES / "Reverter.json")
BOB = "0x" + "0b" * 20
COMMAND_TIMEOUT_S = 90


@asynccontextmanager
async def running_evm_node(directory: Path) -> AsyncIterator[str]:
    """An `sm` one-node chain with the `evm` contract and no code approval; yields the API's URL."""
    layout = initialize_chain(directory, suite_name="sm", api_port=0, verifier_workers=0, scrypt_n=2**10)
    genesis = dataclasses.replace(
        layout.genesis,
        contracts=tuple(sorted((*DEFAULT_CONTRACTS, "evm"))),
        parameters=tuple(sorted((*DEFAULT_PARAMETERS, ("contract_deploy_approval_required", 0)))),
    )
    for path in (directory / "genesis.json", layout.node_directories[0] / "genesis.json"):
        assert load_genesis(path) == layout.genesis
        save_genesis(path, genesis)
    node = load_node(directory / "node0")
    await node.start()
    try:
        server = await start_api(node, ApiSettings(port=0))
        try:
            yield server.url
        finally:
            await server.close()
    finally:
        await node.stop()


@dataclasses.dataclass
class Gusu:
    endpoint: str
    home: Path

    async def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "GUSU_HOME": str(self.home), "GUSU_ENDPOINT": self.endpoint,
               "GUSU_KEYFILE_SCRYPT_N": "1024"}  # fmt: skip
        env.pop("GUSU_PASSPHRASE", None)
        completed = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "gusu.cli.main", *args], env=env, capture_output=True, text=True,
            timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        if check:
            assert completed.returncode == 0, f"gusu {' '.join(args)}:\n{completed.stdout}\n{completed.stderr}"
        assert "Traceback" not in completed.stderr, completed.stderr
        return completed

    async def json(self, *args: str, check: bool = True) -> Any:
        return json.loads((await self.run(*args, "--json", check=check)).stdout)


def test_gusu_evm_deploys_sends_calls_and_decodes_on_an_sm_chain(tmp_path: Path) -> None:
    chain = tmp_path / "chain"

    async def main() -> None:
        async with running_evm_node(chain) as endpoint:
            gusu = Gusu(endpoint, tmp_path / "home")
            key_file = str(chain / "keys" / "dev.json")
            key = decrypt_key_file((chain / "keys" / "dev.json").read_bytes(),
                                   (chain / "keys" / "dev.pass").read_text().strip())  # fmt: skip
            me = "0x" + get_suite("sm").compute_address(key.public_key).hex()

            deployed = await gusu.json("evm", "deploy", TOKEN, "Gusu", "GSU", "1_000_000", "--key", key_file)
            assert deployed["success"] is True and deployed["contract"] == "Token"
            token = deployed["address"]
            [minted] = deployed["logs"]
            assert minted["event"] == "Transfer" and minted["args"] == {"from": "0x" + "00" * 20, "to": me,
                                                                          "value": 1_000_000}  # fmt: skip

            sent = await gusu.json("evm", "send", token, TOKEN, "transfer", BOB, "250", "--key", key_file)
            assert sent["success"] is True and sent["return_value"] is True
            assert sent["function"] == "transfer(address,uint256)"
            assert [log["args"] for log in sent["logs"]] == [{"from": me, "to": BOB, "value": 250}]
            assert (await gusu.json("evm", "call", token, TOKEN, "balanceOf", BOB))["return_value"] == 250
            assert (await gusu.run("evm", "call", token, TOKEN, "symbol")).stdout.strip() == "GSU"

            logs = await gusu.json("evm", "logs", sent["id"], "--abi", TOKEN)
            assert [log["event"] for log in logs["logs"]] == ["Transfer"]
            undecoded = await gusu.json("evm", "logs", sent["id"])
            assert undecoded["logs"][0]["event"] is None and len(undecoded["logs"][0]["topics"]) == 3
            shown = await gusu.json("tx", "show", sent["id"], "--abi", TOKEN)
            assert shown["evm_logs"] == logs["logs"] and shown["receipt"]["status"] == "success"
            assert (await gusu.json("tx", "show", sent["id"]))["evm_logs"][0]["event"] is None
            assert "log Transfer(from=" in (await gusu.run("tx", "show", sent["id"], "--abi", TOKEN)).stdout

            # A custom error: decoded on stderr, and in the JSON document with the transaction id.
            failed = await gusu.run("evm", "send", token, TOKEN, "transfer", BOB, "2000000", "--key", key_file,
                                    check=False)  # fmt: skip
            assert failed.returncode == 1
            assert f"InsufficientBalance(account={me}, balance=999750, needed=2000000)" in failed.stderr
            failed_json = await gusu.json("evm", "send", token, TOKEN, "transfer", BOB, "2000000", "--key",
                                          key_file, check=False)  # fmt: skip
            assert failed_json["success"] is False and failed_json["error"]["error_name"] == "InsufficientBalance"
            assert failed_json["error"]["error_args"]["needed"] == 2_000_000

            # A revert reason, from a transaction and from a call.
            reverter = (await gusu.json("evm", "deploy", REVERTER, "--key", key_file))["address"]
            reverted = await gusu.run("evm", "send", reverter, REVERTER, "fail", "no luck", "--key", key_file,
                                      check=False)  # fmt: skip
            assert reverted.returncode == 1 and "fail(string) reverted: no luck" in reverted.stderr
            called = await gusu.run("evm", "call", reverter, REVERTER, "fail", "by call", check=False)
            assert called.returncode == 1 and "reverted: by call" in called.stderr
            assert "is the node running" not in called.stderr
            called_json = await gusu.json("evm", "call", reverter, REVERTER, "fail", "by call", check=False)
            assert called_json["success"] is False and called_json["error"]["reason"] == "by call"

            # Arguments are checked against the ABI before anything is sent.
            bad_address = await gusu.run("evm", "call", token, TOKEN, "balanceOf", "0x12", check=False)
            assert bad_address.returncode != 0
            assert "argument 1 (address) of balanceOf(address): an EVM address is 0x and 40 hex digits" in (
                bad_address.stderr
            )
            too_few = await gusu.run("evm", "deploy", TOKEN, "Gusu", "--key", key_file, check=False)
            assert too_few.returncode != 0 and "takes 3 argument(s)" in too_few.stderr
            unknown = await gusu.run("evm", "call", token, TOKEN, "mint", check=False)
            assert unknown.returncode != 0 and "has no function 'mint'" in unknown.stderr
            missing = await gusu.run("evm", "call", token, str(tmp_path / "none.json"), "name", check=False)
            assert missing.returncode != 0 and "cannot read the artifact" in missing.stderr

    asyncio.run(main())


@pytest.mark.parametrize("text", ["-5", "0x05"])
def test_negative_and_hex_integers_reach_the_abi_parser(text: str, tmp_path: Path) -> None:
    """No node needed: -5 is refused before any request, 0x05 is read (and the request then fails)."""
    artifact = tmp_path / "Signed.json"
    abi = [{"type": "function", "name": "f", "stateMutability": "view", "inputs": [{"name": "x", "type": "uint8"}],
            "outputs": []}]  # fmt: skip
    artifact.write_text(json.dumps({"abi": abi, "bytecode": "0x"}))
    env = {**os.environ, "GUSU_HOME": str(tmp_path / "home"), "GUSU_ENDPOINT": "http://127.0.0.1:9"}
    completed = subprocess.run(
        [sys.executable, "-m", "gusu.cli.main", "evm", "call", BOB, str(artifact), "f", text],
        env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    if text == "-5":
        assert "argument 1 (x) of f(uint8): a uint8 argument is between 0 and 255, not -5" in completed.stderr
        assert "is the node running" not in completed.stderr, "refused before any request"
    else:
        assert "cannot reach node http://127.0.0.1:9" in completed.stderr, "read, then sent"


@pytest.mark.e2e
def test_a_governed_evm_chain_from_chain_init_approves_then_deploys(tmp_path: Path) -> None:
    """`gusu chain init --evm` with a node process: deploy is refused naming the hash `gusu evm hash` prints,
    approved through `gusu gov`, then deployed and called."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gusu = Gusu(f"http://127.0.0.1:{port}", tmp_path / "home")

    async def main() -> None:
        layout = await gusu.json("chain", "init", "--dir", str(tmp_path / "chain"), "--port", str(port),
                                 "--workers", "0", "--evm")  # fmt: skip
        assert "evm" in layout["contracts"] and layout["suite"] == "sm"
        await gusu.json("node", "start", "--dir", layout["node_directory"], "--detach")
        try:
            key_file = layout["dev_key"]
            refused = await gusu.run("evm", "deploy", TOKEN, "Gusu", "GSU", "5", "--key", key_file, check=False)
            code_hash = (await gusu.json("evm", "hash", TOKEN))["code_hash"]
            assert refused.returncode == 1
            assert f"gusu gov propose approve-contract --code-hash {code_hash}" in refused.stderr
            approved = await gusu.json("gov", "propose", "approve-contract", "--code-hash", code_hash, "--key",
                                       key_file)  # fmt: skip
            assert approved["status"] == "approved"
            token = (await gusu.json("evm", "deploy", TOKEN, "Gusu", "GSU", "5", "--key", key_file))["address"]
            assert (await gusu.json("evm", "call", token, TOKEN, "totalSupply"))["return_value"] == 5
        finally:
            await gusu.run("node", "stop", "--dir", layout["node_directory"], check=False)

    asyncio.run(main())


def test_evm_is_for_one_node_chains_in_chain_init(tmp_path: Path) -> None:
    gusu = Gusu("http://127.0.0.1:9", tmp_path / "home")

    async def main() -> None:
        refused = await gusu.run("chain", "init", "--dir", str(tmp_path / "net"), "--organizations", "2", "--evm",
                                 check=False)  # fmt: skip
        assert refused.returncode != 0 and "--evm is for a one-node chain" in refused.stderr
        plain = await gusu.json("chain", "init", "--dir", str(tmp_path / "plain"), "--workers", "0")
        assert "evm" not in plain["contracts"]
        assert not compute_api_settings(load_config(Path(plain["node_directory"])))[1].send_waits_for_commit
        development = await gusu.json("chain", "init", "--dir", str(tmp_path / "dev"), "--workers", "0", "--evm")
        eth = compute_api_settings(load_config(Path(development["node_directory"])))[1]
        assert eth.send_waits_for_commit, "a --evm development chain answers sends once committed (automine)"

    asyncio.run(main())
