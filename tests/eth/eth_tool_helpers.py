"""Shared by the tests that run Ethereum JavaScript tools against a Gusu node (tests/eth).

Each tool lives in an npm project under tests/eth (package.json and a committed package-lock.json;
node_modules is gitignored) installed with `npm ci` on first use or when its lock changes. The node is
an in-process one-validator `ecdsa` chain with the evm contract; the tools run as subprocesses so the
node keeps committing on the event loop while they wait.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gusu.api.eth import EthSettings
from gusu.api.server import ApiServer, start_api
from gusu.api.settings import ApiSettings
from gusu.crypto import PrivateKey
from gusu.crypto.keyfile import decrypt_key_file
from gusu.ledger.genesis import DEFAULT_CONTRACTS, DEFAULT_PARAMETERS, load_genesis, save_genesis
from gusu.node.chain import initialize_chain, load_node
from gusu.node.node import Node

NPM_INSTALL_TIMEOUT_S = 600
INSTALL_STAMP_NAME = ".gusu-lock-sha256"


def require_node_and_npm() -> tuple[str, str]:
    """(node, npm) executables; skips (a failure under CI=true, tests/conftest.py) when either is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("needs Node.js and npm (Debian: apt-get install nodejs npm; scripts/bootstrap.sh test does)")
    return node, npm


def install_npm_project(project: Path, npm: str) -> None:
    """npm ci from the committed lock (integrity-checked), unless node_modules already holds exactly that lock."""
    wanted = hashlib.sha256((project / "package-lock.json").read_bytes()).hexdigest()
    stamp = project / "node_modules" / INSTALL_STAMP_NAME
    if stamp.is_file() and stamp.read_text().strip() == wanted:
        return
    completed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=NPM_INSTALL_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, f"npm ci failed in {project}:\n{completed.stderr[-4000:]}"
    stamp.write_text(wanted + "\n")


def make_evm_chain(directory: Path) -> PrivateKey:
    """A one-node ecdsa chain running the evm contract (no deployment approval); the funded dev key."""
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
    return decrypt_key_file(
        (directory / "keys" / "dev.json").read_bytes(), (directory / "keys" / "dev.pass").read_text().strip()
    )


@asynccontextmanager
async def running_node(
    directory: Path, eth_settings: EthSettings | None = None
) -> AsyncIterator[tuple[Node, ApiServer]]:
    node = load_node(directory / "node0")
    await node.start()
    try:
        server = await start_api(node, ApiSettings(port=0), eth_settings)
        try:
            yield node, server
        finally:
            await server.close()
    finally:
        await node.stop()


@dataclasses.dataclass(frozen=True)
class ToolRun:
    stdout: str
    stderr: str


async def run_tool(argv: Sequence[str], cwd: Path, timeout_s: float, env: dict[str, str] | None = None) -> ToolRun:
    """Run a tool to its end (killed after `timeout_s`); fails with its output unless it exits 0."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    run = ToolRun(stdout.decode(errors="replace"), stderr.decode(errors="replace"))
    assert process.returncode == 0, (
        f"{' '.join(argv[:3])} failed ({process.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    )
    return run
