"""Could pyrevm run EVM transactions on Gusu's state? A micro-benchmark of the only route pyrevm 0.3.7 leaves.

pyrevm is not a Gusu dependency; install it to rerun this (it comes as a manylinux cp311 wheel):

    /work/main/.venv/bin/pip install pyrevm==0.3.7
    /work/main/.venv/bin/python scripts/evm_pyrevm_fed_probe.py

pyrevm's EVM keeps state in revm's in-memory database: it takes no read callback (a slot it has not
been given reads as zero), and its structured journal (`journal_state`) lists accounts only. The
Rust debug text of its journal (`journal_str`) does list every storage slot a call loaded or wrote,
with the value it found and the value it left. So state can be fed from outside by iterating: run the
call on a scratch EVM holding the slots fed so far; read from the journal text which slots it touched;
if it touched one not yet fed, feed it from the state and run again; once a run touches only fed slots
its writes (present values that differ) are the result. Here a Python dict stands for Gusu's state.

Prints CPU time per ERC-20 transfer (median of five runs of 500, each from one holder to a fresh
recipient), the runs each transfer took, and the same transfers on pyrevm's own state for comparison.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path

from eth_hash.auto import keccak
from pyrevm import EVM, AccountInfo  # type: ignore[import-not-found]

ARTIFACT = Path(__file__).resolve().parents[1] / "tests" / "execution" / "evm" / "fixtures" / "Token.json"
OWNER = "0x" + "11" * 20
RUNS_MAX = 8
_ACCOUNT = re.compile(r"(0x[0-9a-f]{40}): Account \{")
_SLOT = re.compile(r"(\d+): StorageSlot \{ previous_or_original_value: (\d+), present_value: (\d+) \}")


def word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def parse_storage(journal: str) -> dict[tuple[str, int], tuple[int, int]]:
    """(address, slot) -> (value found, value left) for every slot in the journal's debug text."""
    slots: dict[tuple[str, int], tuple[int, int]] = {}
    accounts = list(_ACCOUNT.finditer(journal))
    for index, account in enumerate(accounts):
        end = accounts[index + 1].start() if index + 1 < len(accounts) else len(journal)
        section = journal[account.end() : end]
        storage = section.find("storage: {")
        if storage < 0:
            continue
        for slot in _SLOT.finditer(section, storage):
            slots[(account.group(1), int(slot.group(1)))] = (int(slot.group(2)), int(slot.group(3)))
    return slots


def main() -> None:
    bytecode = bytes.fromhex(json.loads(ARTIFACT.read_text())["bytecode"][2:])
    arguments = word(96) + word(160) + word(10**30) + word(5) + b"Bench".ljust(32, b"\0") + word(3)
    arguments += b"BEN".ljust(32, b"\0")
    # Deploy once on pyrevm's own state to get the runtime code and the constructor's storage: "Gusu's state".
    setup = EVM(spec_id="CANCUN")
    setup.insert_account_info(OWNER, AccountInfo(nonce=0))
    token = setup.deploy(OWNER, bytecode + arguments, gas=10_000_000).lower()
    code = setup.basic(token).code
    state: dict[tuple[str, int], int] = {
        key: left for key, (_found, left) in parse_storage(setup.journal_str).items() if key[0] == token
    }

    def transfer(recipient: bytes, feed_first: list[tuple[str, int]]) -> int:
        """One transfer on `state`, its slots fed by iteration after `feed_first`; the number of runs."""
        data = bytes.fromhex("a9059cbb") + bytes(12) + recipient + word(1)
        fed: dict[tuple[str, int], int] = {key: state.get(key, 0) for key in feed_first}
        for runs in range(1, RUNS_MAX + 1):
            evm = EVM(spec_id="CANCUN")
            evm.insert_account_info(OWNER, AccountInfo(nonce=0))
            evm.insert_account_info(token, AccountInfo(code=code))
            for (address, slot), value in fed.items():
                evm.insert_account_storage(address, slot, value)
            try:
                evm.message_call(OWNER, token, data, gas=100_000)
                failure = None
            except RuntimeError as error:  # a revert or halt, perhaps only because a slot was not fed yet
                failure = error
            touched = parse_storage(evm.journal_str)
            missing = [key for key in touched if key not in fed]
            if not missing:
                if failure is not None:
                    raise failure
                for key, (found, left) in touched.items():
                    if left != found:
                        state[key] = left
                return runs
            for key in missing:
                fed[key] = state.get(key, 0)
        raise AssertionError("the touched slots did not settle")

    # Fed by iteration alone, the first run reads the sender's balance as zero and reverts; a reverted
    # run's journal drops the slots it loaded, so the iteration cannot learn what to feed.
    try:
        transfer(bytes(19) + b"\x01", [])
        print("fed by iteration alone: worked")
    except RuntimeError as error:
        print(f"fed by iteration alone: the transfer reverts ({str(error)[:24]}...): the journal of a reverted run")
        print("  lists no slot, so the reads of a failing path cannot be discovered")
    # Fed with the sender's balance slot known in advance (Solidity's mapping at slot 3: keccak(holder . 3)),
    # the best case for any feeding scheme: the rest is found by iteration.
    sender_slot = (token, int.from_bytes(keccak(bytes(12) + bytes.fromhex(OWNER[2:]) + word(3)), "big"))
    assert state.get(sender_slot) == 10**30

    samples: list[float] = []
    runs_seen: set[int] = set()
    recipient = 1
    for _ in range(5):
        started = time.process_time()
        for _ in range(500):
            runs_seen.add(transfer(recipient.to_bytes(20, "big"), [sender_slot]))
            recipient += 1
        samples.append((time.process_time() - started) / 500)
    fed_us = 1e6 * statistics.median(samples)
    assert state[sender_slot] == 10**30 - recipient + 1, "the transfers did not all land in the state"
    print(
        f"pyrevm, sender's slot fed, the rest by iteration: {fed_us:.0f} µs CPU per transfer "
        f"({1e6 / fed_us:,.0f}/s); runs per transfer {sorted(runs_seen)}"
    )

    own = EVM(spec_id="CANCUN")
    own.insert_account_info(OWNER, AccountInfo(nonce=0))
    own_token = own.deploy(OWNER, bytecode + arguments, gas=10_000_000)
    samples = []
    for _ in range(5):
        started = time.process_time()
        for index in range(500):
            own.message_call(
                OWNER,
                own_token,
                bytes.fromhex("a9059cbb") + bytes(12) + (index + 1).to_bytes(20, "big") + word(1),
                gas=100_000,
            )
        samples.append((time.process_time() - started) / 500)
    own_us = 1e6 * statistics.median(samples)
    print(f"pyrevm, its own state: {own_us:.0f} µs CPU per transfer ({1e6 / own_us:,.0f}/s)")


if __name__ == "__main__":
    main()
