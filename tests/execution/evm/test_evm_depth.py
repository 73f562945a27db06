"""Deep EVM call nesting is bounded relative to where execution starts, and py-evm's import leaves
the process's recursion limit alone."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from evm_helpers import EvmChain, encode_call
from test_evm_failures import deploy_reverter

from gusu.ledger.types import Receipt, ReceiptStatus


def test_importing_the_engine_keeps_the_recursion_limit() -> None:
    script = (
        "import sys; before = sys.getrecursionlimit(); "
        "import gusu.execution.evm.contract, gusu.execution.registry; "
        "gusu.execution.registry.get_available_registry(); "
        "assert sys.getrecursionlimit() == before, sys.getrecursionlimit()"
    )
    # A fresh interpreter: this one imported py-evm long ago. It imports gusu the way this one does.
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    subprocess.run([sys.executable, "-c", script], check=True, env=environment)


def _nest(frames: int, action: Callable[[], Receipt]) -> Receipt:
    if frames == 0:
        return action()
    return _nest(frames - 1, action)


def test_a_deep_call_chain_gives_the_same_receipt_whatever_the_callers_stack() -> None:
    chain = EvmChain.create("sm")
    reverter = deploy_reverter(chain)
    call = encode_call("dive(uint256)", 150)
    shallow = chain.chain.executor.execute_block(
        chain.chain.state, chain.chain.get_next_block(), [chain.make_transaction("evm", "call", [reverter, call, 0])]
    )
    transaction = chain.make_transaction("evm", "call", [reverter, call, 0])
    deep = _nest(
        500,
        lambda: chain.chain.executor.execute_block(
            chain.chain.state, chain.chain.get_next_block(), [transaction]
        ).receipts[0],
    )
    (receipt,) = shallow.receipts
    assert receipt.status is ReceiptStatus.SUCCESS, receipt.error_message
    assert int.from_bytes(bytes(receipt.return_value[-32:]), "big") == 150
    assert (deep.status, deep.return_value, deep.gas_used) == (receipt.status, receipt.return_value, receipt.gas_used)
