"""The execution layer: native Python contracts, metered and deterministic.

The node hands `Executor.execute_block` the committed state, the block's
facts and its transactions, and gets back receipts and the block's net state
writes. Contracts are classes registered in a `ContractRegistry`; the
built-ins are `account`, `evidence` and `system`. docs/contracts.md is the
guide for contract authors and lists the gas schedule.
"""

from gusu.execution.context import BlockContext, Context, GasMeter
from gusu.execution.contract import Contract, method, view
from gusu.execution.errors import ContractError
from gusu.execution.executor import (
    ZERO_ADDRESS,
    BlockExecutionResult,
    CallResult,
    Executor,
    TransactionInput,
)
from gusu.execution.limits import (
    DEFAULT_GAS_SCHEDULE,
    ExecutionLimits,
    GasSchedule,
    compute_execution_limits,
)
from gusu.execution.registry import ContractRegistry, compute_chain_registry, get_default_registry
from gusu.execution.state import BlockState, StateReader, compute_state_key

__all__ = [
    "DEFAULT_GAS_SCHEDULE",
    "ZERO_ADDRESS",
    "BlockContext",
    "BlockExecutionResult",
    "BlockState",
    "CallResult",
    "Context",
    "Contract",
    "ContractError",
    "ContractRegistry",
    "ExecutionLimits",
    "Executor",
    "GasMeter",
    "GasSchedule",
    "StateReader",
    "TransactionInput",
    "compute_chain_registry",
    "compute_execution_limits",
    "compute_state_key",
    "get_default_registry",
    "method",
    "view",
]
