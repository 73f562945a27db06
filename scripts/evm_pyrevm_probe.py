"""The measurement behind docs/evm.md's engine choice: pyrevm (revm bindings) on an ERC-20 transfer,
and what it exposes of its state. pyrevm is not a Gusu dependency; install it to rerun this:

    /work/main/.venv/bin/pip install pyrevm==0.3.7
    /work/main/.venv/bin/python scripts/evm_pyrevm_probe.py

Prints the CPU time per transfer (median of five runs of 2,000, each to one of 1,000 recipients) and
which state pyrevm reports after a call: its journal lists accounts (balance, nonce, code) but no
storage slot, and it takes no database callback, so it cannot read or write through Gusu's state.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from pyrevm import EVM, AccountInfo  # type: ignore[import-not-found]

ARTIFACT = Path(__file__).resolve().parents[1] / "tests" / "execution" / "evm" / "fixtures" / "Token.json"


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def main() -> None:
    bytecode = bytes.fromhex(json.loads(ARTIFACT.read_text())["bytecode"][2:])
    arguments = word(96) + word(160) + word(10**30) + word(5) + b"Bench".ljust(32, b"\0") + word(3)
    arguments += b"BEN".ljust(32, b"\0")
    evm = EVM(spec_id="CANCUN")
    owner = "0x" + "11" * 20
    evm.insert_account_info(owner, AccountInfo(nonce=0))
    token = evm.deploy(owner, bytecode + arguments, gas=10_000_000)
    samples = []
    for _ in range(5):
        started = time.process_time()
        for index in range(2_000):
            recipient = (index % 1_000 + 1).to_bytes(20, "big")
            data = bytes.fromhex("a9059cbb") + bytes(12) + recipient + word(1)
            evm.message_call(owner, token, data, gas=100_000)
        samples.append((time.process_time() - started) / 2_000)
    print(f"pyrevm ERC-20 transfer, EVM alone: {1e6 * statistics.median(samples):.1f} µs CPU")
    print("state a call reports (journal_state):")
    for address, info in evm.journal_state.items():
        print(f"  {address}: fields {[name for name in dir(info) if not name.startswith('_')]}")
    print("database hooks on EVM:", [name for name in dir(EVM) if "db" in name.lower()])


if __name__ == "__main__":
    main()
