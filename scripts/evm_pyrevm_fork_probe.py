"""pyrevm reading Gusu's state over the node's own Ethereum JSON-RPC (revm's fork database).

pyrevm is not a Gusu dependency; install it to rerun this (from a checkout, with Node-free tools only):

    /work/main/.venv/bin/pip install pyrevm==0.3.7
    PYTHONPATH=src /work/main/.venv/bin/python scripts/evm_pyrevm_fork_probe.py

`EVM(fork_url=..., fork_block=...)` is pyrevm's one way to read state it was not given: revm fetches
each account (eth_getBalance, eth_getTransactionCount, eth_getCode) and slot (eth_getStorageAt) it
touches from an Ethereum JSON-RPC endpoint at that block, and caches it. Gusu's node serves exactly
those methods, so this starts a one-node `ecdsa` chain with the evm contract as a separate process
(pyrevm holds the GIL while it waits for the HTTP answers, so a node on the same interpreter's event
loop never answers: tried, it hangs), deploys the ERC-20 fixture and times transfers. Prints wall time
per transfer with a fresh EVM (every read over HTTP) and with one EVM whose cache is warm.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pyrevm import EVM  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "eth"))

from eth_tool_helpers import make_evm_chain  # noqa: E402

from gusu.codec import decode  # noqa: E402
from gusu.crypto import get_suite  # noqa: E402
from gusu.sdk import Client  # noqa: E402

ARTIFACT = ROOT / "tests" / "execution" / "evm" / "fixtures" / "Token.json"


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def transfer_data(recipient: int) -> bytes:
    return bytes.fromhex("a9059cbb") + bytes(12) + recipient.to_bytes(20, "big") + word(1)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        key = make_evm_chain(Path(directory) / "chain")
        node_directory = Path(directory) / "chain" / "node0"
        environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        process = subprocess.Popen(
            [sys.executable, "-m", "gusu.api.process", str(node_directory)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment, text=True,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            url = json.loads(process.stdout.readline())["rpc"]
            client = Client(url.removesuffix("/rpc"))
            bytecode = bytes.fromhex(json.loads(ARTIFACT.read_text())["bytecode"][2:])
            arguments = word(96) + word(160) + word(10**30) + word(5) + b"Bench".ljust(32, b"\0") + word(3)
            arguments += b"BEN".ljust(32, b"\0")
            receipt = client.wait_for_receipt(client.send_transaction(key, "evm", "deploy", [bytecode + arguments, 0]))
            token = "0x" + bytes(decode(receipt.return_value)).hex()  # type: ignore[arg-type]
            owner = "0x" + get_suite("ecdsa").compute_address(key.public_key).hex()
            block = str(client.block_number())

            evm = EVM(fork_url=url, fork_block=block, spec_id="CANCUN")
            balance = evm.message_call(owner, token, bytes.fromhex("70a08231") + bytes(12) + bytes.fromhex(owner[2:]))
            assert int.from_bytes(balance, "big") == 10**30, "revm did not read the holder's balance from Gusu"
            fresh = []
            for recipient in range(1, 41):
                started = time.perf_counter()
                EVM(fork_url=url, fork_block=block, spec_id="CANCUN").message_call(
                    owner, token, transfer_data(recipient), gas=100_000
                )
                fresh.append(time.perf_counter() - started)
            warm = []
            for recipient in range(1_000, 1_200):
                started = time.perf_counter()
                evm.message_call(owner, token, transfer_data(recipient), gas=100_000)
                warm.append(time.perf_counter() - started)
            print(f"fresh EVM per transfer, every read over the RPC: {1e3 * statistics.median(fresh):.2f} ms wall")
            print(f"one EVM, warm cache, one new slot per transfer:  {1e3 * statistics.median(warm):.3f} ms wall")
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
