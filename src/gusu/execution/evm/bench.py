"""How fast an ERC-20 `transfer` runs: py-evm alone, and through `Executor.execute_block` with Gusu's state.

Run ``python -m gusu.execution.evm.bench [count]`` from a checkout (it deploys the compiled token of
tests/execution/evm/fixtures/Token.json). Figures are CPU time (`time.process_time`), the median of
five runs, so that other processes on a shared machine do not stretch them:

1. py-evm alone: the same transfers on py-evm's own `CancunState` over its in-memory trie database
   (no Gusu code at all), the engine's cost without the adapter;
2. through the executor: one block of `count` transfers from 200 holders to fresh recipients, each an
   `evm.call` Gusu transaction, in `Executor.execute_block` over an in-memory committed state;
3. the same as signed Ethereum transactions (EIP-155 legacy, what `eth_sendRawTransaction` carries), decoded
   and their senders recovered beforehand, through `Executor.execute_block`;
4. decoding those raw transactions and recovering their senders (`decode_eth_transaction`), which a node does
   when it admits one.

``--profile`` prints cProfile's top functions of line 3 instead (cumulative and own time).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

from eth.db.atomic import AtomicDB
from eth.vm.forks.cancun.state import CancunState
from eth_typing import Hash32

from gusu.codec import encode
from gusu.crypto import get_suite
from gusu.execution.context import BlockContext
from gusu.execution.evm.engine import _Transaction, compute_execution_context
from gusu.execution.evm.settings import EvmSettings, compute_default_evm_chain_id
from gusu.execution.executor import Executor, TransactionInput
from gusu.execution.limits import ExecutionLimits
from gusu.execution.registry import compute_chain_registry
from gusu.ledger.ethtx import (
    compute_eth_address,
    decode_eth_transaction,
    encode_signed_legacy_transaction,
)
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Allocation, Genesis, GenesisValidator
from gusu.ledger.types import Address, Hash, Height, Transaction

TOKEN_ARTIFACT = Path(__file__).resolve().parents[4] / "tests" / "execution" / "evm" / "fixtures" / "Token.json"
CHAIN_ID = "gusu-evm-bench"
HOLDERS = 200
RUNS = 5
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")
EMPTY_ROOT = Hash32(bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"))


def load_token_init_code(supply: int) -> bytes:
    if not TOKEN_ARTIFACT.is_file():
        raise SystemExit(f"{TOKEN_ARTIFACT} is missing: run the benchmark from a Gusu checkout")
    bytecode = bytes.fromhex(json.loads(TOKEN_ARTIFACT.read_text())["bytecode"][2:])
    name = b"Bench".ljust(32, b"\x00")
    arguments = (
        b"".join(value.to_bytes(32, "big") for value in (96, 160, supply, 5))
        + name
        + (3).to_bytes(32, "big")
        + b"BEN".ljust(32, b"\x00")
    )
    return bytecode + arguments


def encode_transfer(to: bytes, amount: int) -> bytes:
    return TRANSFER_SELECTOR + to.rjust(32, b"\x00") + amount.to_bytes(32, "big")


def _address(tag: bytes, index: int) -> Address:
    return Address(get_suite("sm").hash(tag + index.to_bytes(4, "big"))[:20])


# --- 1. py-evm alone --------------------------------------------------------------------------


def _run_alone(state: CancunState, sender: bytes, to: bytes | None, data: bytes) -> Any:
    transaction = cast(Any, _Transaction(sender, b"" if to is None else to, 0, data, 5_000_000))
    executor = state.get_transaction_executor()
    message = executor.build_evm_message(transaction)
    computation = executor.build_computation(message, transaction)
    executor.finalize_computation(transaction, computation)
    state.lock_changes()
    if not computation.is_success:
        raise RuntimeError(f"a benchmark call failed: {computation.error!r}")
    return computation, message


def measure_pyevm_alone(count: int) -> float:
    """CPU seconds per transfer on py-evm's own state (median of RUNS)."""
    block = BlockContext(CHAIN_ID, Height(1), 1_700_000_000_000, _address(b"proposer", 0))
    settings = EvmSettings(evm_chain_id=1)
    state = CancunState(AtomicDB(), compute_execution_context(block, settings), EMPTY_ROOT)
    owner = _address(b"owner", 0)
    _, message = _run_alone(state, owner, None, load_token_init_code(10**30))
    token = bytes(message.storage_address)
    samples = []
    for run in range(RUNS):
        started = time.process_time()
        for index in range(count):
            _run_alone(state, owner, token, encode_transfer(_address(b"to", run * count + index), 1))
        samples.append((time.process_time() - started) / count)
    return statistics.median(samples)


# --- 2. through the executor ------------------------------------------------------------------


class _MemoryState:
    def __init__(self, items: dict[bytes, bytes]) -> None:
        self.items = items

    def get(self, key: bytes) -> bytes | None:
        return self.items.get(key)

    def apply(self, writes: tuple[tuple[bytes, bytes | None], ...]) -> None:
        for key, value in writes:
            if value is None:
                self.items.pop(key, None)
            else:
                self.items[key] = value


def _transaction(sender: Address, nonce: int, method: str, args: list[Any]) -> TransactionInput:
    transaction = Transaction(
        chain_id=CHAIN_ID,
        nonce=nonce,
        valid_until_height=Height(1_000),
        sender_public_key=b"\x04" + bytes(64),
        contract="evm",
        method=method,
        args=encode(args),
        signature=bytes(64),
    )
    # Execution never checks the id or signature (earlier layers do): any unique id will do.
    return TransactionInput(transaction, Hash(get_suite("sm").hash(sender + nonce.to_bytes(8, "big"))), sender)


def _holder_secret(index: int) -> bytes:
    return get_suite("sm").hash(b"gusu evm bench holder" + index.to_bytes(4, "big"))


def build_transfer_chain(
    count: int, *, is_eth: bool = False
) -> tuple[Executor, _MemoryState, Address, list[TransactionInput]]:
    """A chain with the token deployed and HOLDERS funded holders, and `count` transfers to fresh recipients:
    `evm.call` Gusu transactions, or with `is_eth` signed Ethereum transactions (decoded, senders recovered)."""
    owner = _address(b"owner", 0)
    validator_key = get_suite("sm").load_private_key((7).to_bytes(32, "big"))
    genesis = Genesis(
        chain_id=CHAIN_ID,
        suite="sm",
        timestamp_ms=1_700_000_000_000,
        validators=(
            GenesisValidator(
                "v0",
                Address(get_suite("sm").compute_address(validator_key.public_key)),
                validator_key.public_key,
                1,
                "org0",
            ),
        ),
        allocations=(Allocation(owner, 1),),
        parameters=tuple(sorted((*DEFAULT_PARAMETERS, ("contract_deploy_approval_required", 0)))),
        admins=(owner,),
        python_version="3.11",
        contracts=("account", "contracts", "evidence", "evm", "system"),
    )
    executor = Executor(compute_chain_registry(genesis.contracts), ExecutionLimits())
    state = _MemoryState(dict(executor.compute_genesis_writes(genesis)))
    block = _block(1)
    deployed = executor.execute_block(
        state, block, [_transaction(owner, 1, "deploy", [load_token_init_code(10**30), 0])]
    )
    (receipt,) = deployed.receipts
    if not receipt.is_success:
        raise RuntimeError(f"deploying the benchmark token failed: {receipt.error_message}")
    state.apply(deployed.writes)
    from gusu.codec import decode

    token = Address(cast(bytes, decode(receipt.return_value)))
    holder_secrets = [_holder_secret(index) for index in range(HOLDERS)]
    holders = (
        [compute_eth_address(secret) for secret in holder_secrets]
        if is_eth
        else [_address(b"holder", index) for index in range(HOLDERS)]
    )
    funding = [
        _transaction(owner, 2 + index, "call", [token, encode_transfer(holder, 10**20), 0])
        for index, holder in enumerate(holders)
    ]
    funded = executor.execute_block(state, _block(2), funding)
    if not all(receipt.is_success for receipt in funded.receipts):
        raise RuntimeError("funding the benchmark holders failed")
    state.apply(funded.writes)
    if is_eth:
        evm_chain_id = compute_default_evm_chain_id("sm", CHAIN_ID)
        raws = [
            encode_signed_legacy_transaction(
                holder_secrets[index % HOLDERS],
                chain_id=evm_chain_id,
                nonce=index // HOLDERS,
                gas_price=0,
                gas_limit=100_000,
                to=token,
                value=0,
                data=encode_transfer(_address(b"to", index), 1),
            )
            for index in range(count)
        ]
        decoded = [decode_eth_transaction(raw, chain_id=evm_chain_id) for raw in raws]
        return executor, state, token, [TransactionInput(item, item.transaction_hash, item.sender) for item in decoded]
    transfers = [
        _transaction(
            holders[index % HOLDERS], 1_000 + index, "call", [token, encode_transfer(_address(b"to", index), 1), 0]
        )
        for index in range(count)
    ]
    return executor, state, token, transfers


def _block(height: int) -> BlockContext:
    return BlockContext(CHAIN_ID, Height(height), 1_700_000_000_000 + height * 1000, _address(b"proposer", 0))


def measure_executor(count: int, *, is_eth: bool = False) -> float:
    """CPU seconds per transfer through `Executor.execute_block` (median of RUNS)."""
    executor, state, _, transfers = build_transfer_chain(count, is_eth=is_eth)
    samples = []
    for _ in range(RUNS):
        started = time.process_time()
        result = executor.execute_block(state, _block(3), transfers)
        samples.append((time.process_time() - started) / count)
        if not all(receipt.is_success for receipt in result.receipts):
            raise RuntimeError("a benchmark transfer failed; the benchmark is broken")
    return statistics.median(samples)


def measure_eth_decoding(count: int) -> float:
    """CPU seconds per raw Ethereum transfer decoded and its sender recovered (median of RUNS)."""
    evm_chain_id = compute_default_evm_chain_id("sm", CHAIN_ID)
    samples = []
    for run in range(RUNS):
        # New transactions each run: a node decodes each one once (then `decode_eth_transaction` keeps it).
        raws = [
            encode_signed_legacy_transaction(
                _holder_secret(index % HOLDERS),
                chain_id=evm_chain_id,
                nonce=run * count + index,
                gas_price=0,
                gas_limit=100_000,
                to=bytes(20),
                value=0,
                data=encode_transfer(_address(b"to", index), 1),
            )
            for index in range(count)
        ]
        started = time.process_time()
        for raw in raws:
            decode_eth_transaction(raw, chain_id=evm_chain_id)
        samples.append((time.process_time() - started) / count)
    return statistics.median(samples)


def profile_eth_block(count: int) -> None:
    """cProfile's view of one block of `count` Ethereum transfers through the executor."""
    import cProfile
    import pstats

    executor, state, _, transfers = build_transfer_chain(count, is_eth=True)
    executor.execute_block(state, _block(3), transfers)  # warm the caches as a running node has them
    profiler = cProfile.Profile()
    profiler.enable()
    result = executor.execute_block(state, _block(3), transfers)
    profiler.disable()
    if not all(receipt.is_success for receipt in result.receipts):
        raise RuntimeError("a benchmark transfer failed; the benchmark is broken")
    statistics_ = pstats.Stats(profiler)
    statistics_.sort_stats("cumulative").print_stats(35)
    statistics_.sort_stats("tottime").print_stats(35)


def main(arguments: list[str]) -> None:
    if arguments[:1] == ["--profile"]:
        profile_eth_block(int(arguments[1]) if len(arguments) > 1 else 1_000)
        return
    count = int(arguments[0]) if arguments else 1_000
    alone = measure_pyevm_alone(count)
    print(f"ERC-20 transfer, {count} per run, CPU time, median of {RUNS}:")
    print(f"  py-evm alone (its own state):        {1e6 * alone:7.0f} µs  {1 / alone:7,.0f} transfers/s")
    through = measure_executor(count)
    print(f"  evm.call via Executor.execute_block: {1e6 * through:7.0f} µs  {1 / through:7,.0f} transfers/s")
    eth = measure_executor(count, is_eth=True)
    print(f"  Ethereum tx via execute_block:       {1e6 * eth:7.0f} µs  {1 / eth:7,.0f} transfers/s")
    decoding = measure_eth_decoding(count)
    print(f"  decode + recover sender (admission): {1e6 * decoding:7.0f} µs  {1 / decoding:7,.0f} transfers/s")


if __name__ == "__main__":
    main(sys.argv[1:])
