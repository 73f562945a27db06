"""Two processes with different PYTHONHASHSEED values build the same blocks from the same input.

Validators are separate processes, each with its own hash seed, so any
set or dict whose order leaks into execution, receipts, state writes or
encodings would split the chain without any single-process test noticing.
The test builds one fixed workload (a genesis, then one block of
transactions of several kinds, failing ones included, and a second block
that reads what the first wrote), and runs it in two fresh interpreters
through the real Executor, BlockStore and on-disk key-value store. Their
block hashes, receipts roots and state roots must agree.

Run as a script (``python tests/test_determinism_processes.py INPUT OUTPUT``)
this file is the worker: it reads the workload and writes what it computed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
HASH_SEEDS = ("1", "4242")
CHAIN_ID = "gusu-determinism"
WORKER_TIMEOUT_S = 60.0


def _key(suite_name: str, label: bytes) -> Any:
    from gusu.crypto import get_suite

    # A fixed secret per label: the same accounts in every run.
    return get_suite(suite_name).load_private_key(hashlib.sha256(b"gusu-determinism/" + label).digest())


def _build_workload(suite_name: str) -> dict[str, Any]:
    """The genesis and two blocks of signed transactions, as JSON (signed once, here, for both workers)."""
    from gusu.crypto import get_suite
    from gusu.ledger.genesis import DEFAULT_PARAMETERS, Allocation, Genesis, GenesisValidator, genesis_to_json
    from gusu.ledger.types import Address, Height
    from gusu.sdk.transactions import build_transaction

    suite = get_suite(suite_name)
    admin, alice, bob, validator = (_key(suite_name, label) for label in (b"admin", b"alice", b"bob", b"validator"))

    def address(key: Any) -> Address:
        return Address(suite.compute_address(key.public_key))

    genesis = Genesis(
        chain_id=CHAIN_ID,
        suite=suite_name,
        timestamp_ms=1_700_000_000_000,
        validators=(GenesisValidator("org1", address(validator), validator.public_key, 1, "org1"),),
        allocations=(Allocation(address(alice), 1_000), Allocation(address(bob), 10)),
        parameters=DEFAULT_PARAMETERS,
        admins=(address(admin),),
    )
    recipients = [Address(bytes([index]) * 20) for index in range(1, 9)]
    valid_until = Height(100)
    nonce = iter(range(1, 1_000))

    def sign(key: Any, contract: str, method: str, args: list[Any]) -> str:
        signed = build_transaction(key, CHAIN_ID, contract, method, args, valid_until, next(nonce))
        return signed.raw.hex()

    first_block = [
        *(sign(alice, "account", "transfer", [recipient, 7 + index]) for index, recipient in enumerate(recipients)),
        sign(bob, "account", "transfer", [recipients[0], 1_000_000]),  # fails: not enough balance
        sign(admin, "account", "mint", [address(bob), 500]),
        sign(bob, "account", "mint", [address(bob), 500]),  # fails: not an admin
        sign(alice, "evidence", "record", [b"\x11" * 32, "contract v1"]),
        sign(bob, "evidence", "record", [b"\x11" * 32, "same document"]),  # fails: already recorded
        sign(bob, "evidence", "record", [b"\x22" * 32, "x" * 10_000]),  # fails: metadata too long
        sign(alice, "account", "no_such_method", []),  # fails: unknown method
        sign(alice, "no_such_contract", "run", []),  # fails: unknown contract
        sign(alice, "account", "transfer", ["not an address", 1]),  # fails: bad arguments
        sign(bob, "account", "transfer", [address(alice), 400]),  # succeeds only after the mint
    ]
    second_block = [
        sign(bob, "account", "transfer", [recipients[7], 9]),
        sign(alice, "evidence", "record", [b"\x33" * 32, "next block"]),
        sign(bob, "account", "transfer", [address(alice), 10_000]),  # fails
    ]
    return {
        "genesis": genesis_to_json(genesis),
        "proposer": address(validator).hex(),
        "blocks": [first_block, second_block],
    }


def run_worker(workload: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Execute and store the workload's blocks as a node would; what every node must agree on."""
    from gusu.crypto import get_suite
    from gusu.execution import Executor, TransactionInput
    from gusu.execution.context import BlockContext
    from gusu.execution.limits import compute_execution_limits
    from gusu.execution.registry import get_default_registry
    from gusu.ledger.genesis import compute_genesis_hash, genesis_from_json
    from gusu.ledger.kv import open_store
    from gusu.ledger.store import (
        BlockStore,
        CommittedBlock,
        compute_receipts_root,
        compute_state_update,
        compute_transactions_root,
    )
    from gusu.ledger.types import (
        Address,
        BlockHeader,
        Height,
        compute_block_hash,
        compute_transaction_id,
        decode_transaction,
        encode_receipt,
    )
    from gusu.node.blocks import compute_genesis_block

    genesis = genesis_from_json(workload["genesis"])
    suite = get_suite(genesis.suite)
    executor = Executor(get_default_registry(), compute_execution_limits(genesis.parameters))
    store = BlockStore(open_store(directory / "chain"), suite)
    try:
        store.initialize(genesis.chain_id, compute_genesis_hash(suite, genesis))
        parent = compute_genesis_block(suite, genesis, executor.compute_genesis_writes(genesis))
        store.commit_block(parent)
        blocks: list[dict[str, Any]] = [
            {"block_hash": parent.block_hash.hex(), "state_root": parent.header.state_root.hex()}
        ]
        proposer = Address(bytes.fromhex(workload["proposer"]))
        for number, raws_hex in enumerate(workload["blocks"], start=1):
            raws = [bytes.fromhex(item) for item in raws_hex]
            inputs = []
            for raw in raws:
                transaction = decode_transaction(raw)
                transaction_id = compute_transaction_id(suite, transaction)
                assert suite.verify(transaction.sender_public_key, transaction_id, transaction.signature)
                sender = Address(suite.compute_address(transaction.sender_public_key))
                inputs.append(TransactionInput(transaction, transaction_id, sender))
            height = Height(number)
            timestamp_ms = genesis.timestamp_ms + 1_000 * number
            result = executor.execute_block(
                store, BlockContext(genesis.chain_id, height, timestamp_ms, proposer), inputs
            )
            ids = tuple(item.transaction_id for item in inputs)
            tree_update = compute_state_update(suite, store.state_tree, height, result.writes)
            header = BlockHeader(
                chain_id=genesis.chain_id,
                height=height,
                parent_hash=parent.block_hash,
                timestamp_ms=timestamp_ms,
                proposer=proposer,
                transactions_root=compute_transactions_root(suite, ids),
                receipts_root=compute_receipts_root(suite, result.receipts),
                state_root=tree_update.root,
                validators_hash=parent.header.validators_hash,
                next_validators_hash=parent.header.next_validators_hash,
                transaction_count=len(ids),
            )
            block = CommittedBlock(
                header=header,
                block_hash=compute_block_hash(suite, header),
                transaction_ids=ids,
                raw_transactions=tuple(raws),
                senders=tuple(item.sender for item in inputs),
                receipts=result.receipts,
                writes=result.writes,
                certificate=None,
                tree_update=tree_update,
            )
            store.commit_block(block)
            # Read back through the store: what a node serves and re-derives after a restart.
            stored = store.get_receipts(height)
            blocks.append(
                {
                    "block_hash": block.block_hash.hex(),
                    "receipts_root": compute_receipts_root(suite, stored).hex(),
                    "state_root": header.state_root.hex(),
                    "receipts": [suite.hash(encode_receipt(receipt)).hex() for receipt in stored],
                    "outcomes": [receipt.error_code or "success" for receipt in stored],
                }
            )
            parent = block
        return {"tip": store.get_tip()[1].hex() if store.get_tip() else None, "blocks": blocks}  # type: ignore[index]
    finally:
        store.close()


def _run_in_process(workload_path: Path, output_path: Path, hash_seed: str) -> dict[str, Any]:
    source = str(REPOSITORY / "src")
    environment = {
        **os.environ,
        "PYTHONHASHSEED": hash_seed,
        "PYTHONPATH": source + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(workload_path), str(output_path)],
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
        env=environment,
        cwd=output_path.parent,
        check=False,
    )
    assert completed.returncode == 0, f"worker (PYTHONHASHSEED={hash_seed}) failed:\n{completed.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(output_path.read_text())
    assert result["hash_seed"] == hash_seed, "the worker did not run with the hash seed it was given"
    return result


@pytest.mark.parametrize("suite_name", ["sm", "ecdsa"])
def test_two_processes_with_different_hash_seeds_build_the_same_blocks(tmp_path: Path, suite_name: str) -> None:
    workload_path = tmp_path / "workload.json"
    workload_path.write_text(json.dumps(_build_workload(suite_name)))
    results = []
    for hash_seed in HASH_SEEDS:
        directory = tmp_path / f"seed-{hash_seed}"
        directory.mkdir()
        results.append(_run_in_process(workload_path, directory / "result.json", hash_seed))
    first, second = results
    outcomes = first["blocks"][1]["outcomes"]
    # The workload means something: successes and several kinds of failure, in both blocks.
    assert outcomes.count("success") >= 10, outcomes
    assert len({outcome for outcome in outcomes if outcome != "success"}) >= 4, outcomes
    assert "success" in first["blocks"][2]["outcomes"] and len(set(first["blocks"][2]["outcomes"])) == 2
    for height, (ours, theirs) in enumerate(zip(first["blocks"], second["blocks"], strict=True)):
        for field in ("block_hash", "receipts_root", "state_root", "receipts"):
            assert ours.get(field) == theirs.get(field), (
                f"block {height} {field} differs between PYTHONHASHSEED={HASH_SEEDS[0]} and {HASH_SEEDS[1]}"
            )
    assert first["tip"] == second["tip"] == first["blocks"][-1]["block_hash"]


if __name__ == "__main__":
    input_path, output_path = Path(sys.argv[1]), Path(sys.argv[2])
    computed = run_worker(json.loads(input_path.read_text()), output_path.parent)
    computed["hash_seed"] = os.environ.get("PYTHONHASHSEED")
    output_path.write_text(json.dumps(computed))
