"""The executor: runs a block's transactions against state and reports receipts.

`Executor.execute_block` is a pure function of (committed state, block
facts, transactions, registered contracts, limits, gas schedule): it reads
no clock, no randomness and no configuration of its own, so every node
computes the same receipts and the same writes.

Each transaction runs in its own write overlay. If it succeeds, the overlay
merges into the block's; if anything fails (a revert, a limit, out of gas,
a bad argument, a bug in the contract) the overlay is dropped and the
transaction gets a FAILED receipt carrying the gas it used and the failure's
stable code. A failing transaction never stops the block: the next one runs
against the state as it was before the failed one.

On a chain with governance state (a `system` contract), each transaction is
first checked against the consortium's registry as of the block's start
(`check_transaction_permission`): a frozen sender or contract, an auditor or
a sender the permissions exclude fails with `account_frozen`,
`contract_frozen` or `permission_denied` before any contract code runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gusu.errors import (
    CodecError,
    ConfigError,
    ExecutionError,
    GusuError,
    SandboxLimitError,
    StateLimitError,
    StorageError,
    UnknownContractError,
    UnknownMethodError,
)
from gusu.execution.context import BlockContext, Context, GasMeter, create_out_of_gas_error
from gusu.execution.contract import ContractSpec, MethodSpec, decode_arguments
from gusu.execution.deployment import (
    COMPILED_CACHE,
    CONTRACT_CALLS_DEPTH_MAX,
    DEPLOYER_CONTRACT,
    Instance,
    compute_code_key,
    compute_contract_address,
    compute_instance_key,
    compute_settings_key,
    decode_instance,
    decode_settings,
)
from gusu.execution.encoding import encode_value
from gusu.execution.errors import Abort, ContractError
from gusu.execution.governance.registry import check_permission_with_gate, read_permission_gate
from gusu.execution.limits import DEFAULT_GAS_SCHEDULE, LIMIT_VALUE_MAX, ExecutionLimits, GasSchedule
from gusu.execution.metering import invoke_metered
from gusu.execution.registry import ContractRegistry
from gusu.execution.sandbox import KIND_VIEW, run_method
from gusu.execution.state import BlockState, CommittedReader, StateReader, compute_state_key_prefix
from gusu.ledger.ethtx import EthTransaction
from gusu.ledger.genesis import Genesis, validate_genesis
from gusu.ledger.types import (
    ADDRESS_SIZE,
    ERROR_MESSAGE_LENGTH_MAX,
    NAME_LENGTH_MAX,
    ZERO_HASH,
    Address,
    Event,
    Hash,
    Height,
    Receipt,
    ReceiptStatus,
    Transaction,
)

ETH_CONTRACT = "evm"
"""The contract Ethereum transactions run in (`gusu.execution.evm`)."""

ZERO_ADDRESS = Address(bytes(ADDRESS_SIZE))
"""The sender of genesis hooks, and the proposer of the genesis block."""

GENESIS_HEIGHT = Height(0)

NULL_RETURN_VALUE = encode_value(None)
"""A failed transaction's return value: the canonical encoding of None."""

# Default object reprs carry a memory address ("<Foo object at 0x7f...>"),
# which differs between nodes; it must not reach a receipt.
_MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

_SUCCESS = ReceiptStatus.SUCCESS

# Failures of the machine, not of the contract: turning them into a receipt
# would let one node's bad luck split the chain, so they stop the node.
_ENVIRONMENT_FAILURES = (MemoryError, KeyboardInterrupt, StorageError)
"""Faults of this machine, not of the transaction: re-raised so that they stop the node (fail-stop).
Recording one as a failed receipt would make this node's block differ from everyone else's and, under BFT,
blame the proposer for our disk."""


@dataclass(frozen=True, slots=True)
class TransactionInput:
    """A transaction to execute; the caller has already verified its signature.

    An Ethereum transaction (`EthTransaction`, decoded and its sender recovered) has its keccak hash
    as `transaction_id` and runs in the `evm` contract (`gusu.execution.evm.ethapply`)."""

    transaction: Transaction | EthTransaction
    transaction_id: Hash
    sender: Address


@dataclass(frozen=True, slots=True)
class BlockExecutionResult:
    receipts: tuple[Receipt, ...]
    writes: tuple[tuple[bytes, bytes | None], ...]
    """The block's net state changes, sorted by key; None means deleted."""


class BlockExecution:
    """A block's execution in progress: `apply_transaction` one at a time, in block order, then `finish`.

    The same steps as `Executor.execute_block` (which is made of them), so a block executed part by part, with
    the committed state unchanged in between, has exactly the result of executing it at once: a proposer may
    execute transactions as they arrive (`gusu.node.early`)."""

    __slots__ = ("_block", "_block_state", "_committed", "_executor", "_gas_max", "_gate", "gas_used", "receipts")

    def __init__(self, executor: Executor, state: StateReader, block: BlockContext, gas_max: int | None) -> None:
        assert gas_max is None or gas_max >= 1
        self._executor = executor
        self._block = block
        self._block_state = BlockState(state)
        self._committed = CommittedReader(self._block_state)
        # Governance changes are in force from the next block, so the gate is the same for the whole block.
        self._gate = read_permission_gate(self._committed)
        self._gas_max = gas_max
        self.receipts: list[Receipt] = []
        self.gas_used = 0

    def is_full(self) -> bool:
        """True once the receipts so far used `gas_max` gas or more: no transaction may start after that."""
        return self._gas_max is not None and self.gas_used >= self._gas_max

    def apply_transaction(self, item: TransactionInput) -> Receipt:
        """Execute `item` next; never raises for a bad transaction (a local fault stops the node)."""
        assert not self.is_full(), "no transaction starts in a full block"
        receipt = self._executor._execute_transaction(self._block_state, self._committed, self._gate, self._block, item)
        self.receipts.append(receipt)
        self.gas_used += receipt.gas_used
        return receipt

    def finish(self) -> BlockExecutionResult:
        return BlockExecutionResult(receipts=tuple(self.receipts), writes=self._block_state.compute_net_writes())


@dataclass(frozen=True, slots=True)
class CallResult:
    return_value: bytes
    gas_used: int
    events: tuple[Event, ...]


class _EmptyState:
    def get(self, key: bytes) -> bytes | None:
        return None


class Executor:
    """Runs contract calls for one chain's registry, limits and gas schedule."""

    def __init__(
        self,
        registry: ContractRegistry,
        limits: ExecutionLimits,
        *,
        schedule: GasSchedule = DEFAULT_GAS_SCHEDULE,
    ) -> None:
        # A snapshot: registering a contract later must not change how an
        # executor that is already running behaves mid-chain.
        self._contracts: dict[str, ContractSpec] = {spec.name: spec for spec in registry.get_specs()}
        self._deployer = self._contracts.get(DEPLOYER_CONTRACT)
        """Deployed contracts run only on chains that run the deployer."""
        # Decoded records by their stored bytes: decoding is pure, so reusing it changes speed, not results.
        self._decoded_instances: dict[tuple[str, bytes], Instance] = {}
        self._decoded_suites: dict[bytes, str] = {}
        self._limits = limits
        self._schedule = schedule

    @property
    def limits(self) -> ExecutionLimits:
        return self._limits

    def is_contract_known(self, state: StateReader, name: str) -> bool:
        """True if a call to `name` would find a contract in `state`: a built-in one, or one deployed by
        transaction (resolved as `call_inner` resolves it)."""
        if name in self._contracts:
            return True
        if self._deployer is None or len(name) > NAME_LENGTH_MAX:
            return False
        return state.get(compute_instance_key(name)) is not None

    # --- blocks -------------------------------------------------------------------

    def execute_block(
        self,
        state: StateReader,
        block: BlockContext,
        transactions: Sequence[TransactionInput],
        *,
        gas_max: int | None = None,
    ) -> BlockExecutionResult:
        """Execute `transactions` in order on top of `state`; never raises for a bad transaction.

        With `gas_max` (a proposer building its block), execution stops before the first transaction that
        would start once the receipts so far used `gas_max` gas or more: the result covers only that prefix (at
        least one transaction), and the rest stay in the pool for later blocks. Gas follows execution cost, so
        this bounds how long the block takes to build and to re-execute on every validator.
        """
        execution = self.start_block(state, block, gas_max=gas_max)
        for item in transactions:
            if execution.is_full():
                break
            execution.apply_transaction(item)
        return execution.finish()

    def start_block(self, state: StateReader, block: BlockContext, *, gas_max: int | None = None) -> BlockExecution:
        """A block executed one transaction at a time (`execute_block` is this, over a whole list)."""
        return BlockExecution(self, state, block, gas_max)

    def _execute_transaction(
        self,
        state: BlockState,
        committed: CommittedReader,
        gate: bytes | None,
        block: BlockContext,
        item: TransactionInput,
    ) -> Receipt:
        transaction = item.transaction
        if type(transaction) is EthTransaction:
            return self._execute_eth_transaction(state, committed, gate, block, item, transaction)
        assert type(transaction) is Transaction
        meter = GasMeter(self._limits.gas_per_transaction_max)
        context: Context | None = None
        try:
            meter.charge(self._schedule.transaction + self._schedule.argument_byte * len(transaction.args))
            if gate is not None:  # a chain with governance: checked against the state the block started from
                check_permission_with_gate(committed, gate, item.sender, transaction.contract, transaction.method)
            native = self._contracts.get(transaction.contract)
            if native is None:  # a contract deployed by transaction, or none
                context = self._create_deployed_context(
                    state, block, meter, item.sender, item.transaction_id, transaction.contract, transaction.method
                )
                context.invoker = self._create_host(state, committed, gate)
                return_value = self._invoke_deployed(context, transaction.args, read_only=False)
            else:
                contract, method = self._resolve(transaction.contract, transaction.method)
                arguments = decode_arguments(method, transaction.args)
                context = self._create_context(
                    contract, method, state, block, meter, item.sender, item.transaction_id, read_only=method.is_view
                )
                return_value = self._invoke(contract, method, context, arguments, meter)
        except BaseException as exception:  # sorted by compute_failure, which re-raises what is not ours
            if state.storage_failure is not None:
                raise state.storage_failure from exception  # a contract may have caught it: ours anyway
            error = compute_failure(exception, context, meter, f"{transaction.contract}.{transaction.method}")
            return Receipt(
                transaction_id=item.transaction_id,
                status=ReceiptStatus.FAILED,
                return_value=NULL_RETURN_VALUE,
                events=(),
                gas_used=meter.get_used(),
                error_code=get_error_code(error),
                error_message=compute_error_message(error),
            )
        if state.storage_failure is not None:
            raise state.storage_failure  # the contract swallowed a read failure: its result cannot be trusted
        state.apply_writes(context.get_writes())
        # Positional: a frozen dataclass's keyword __init__ costs twice as much,
        # and this runs once per transaction.
        return Receipt(item.transaction_id, _SUCCESS, return_value, context.get_events(), meter.get_used(), "", "")

    def _execute_eth_transaction(
        self,
        state: BlockState,
        committed: CommittedReader,
        gate: bytes | None,
        block: BlockContext,
        item: TransactionInput,
        transaction: EthTransaction,
    ) -> Receipt:
        """An Ethereum transaction (docs/evm.md): a failed one keeps its nonce and fee writes, unlike a
        Gusu transaction; an invalid one (`eth_invalid`, or not permitted) changes nothing and uses no gas."""
        # The EVM meters in its own gas; this meter only bounds Gusu-side reads (code approval).
        meter = GasMeter(LIMIT_VALUE_MAX)
        context: Context | None = None
        try:
            spec = self._contracts.get(ETH_CONTRACT)
            if spec is None:
                raise UnknownContractError(
                    "this chain does not run the evm contract, so it takes no Ethereum transactions"
                )
            if gate is not None:  # the consortium's permissions bind Ethereum senders as they bind Gusu ones
                method = "deploy" if transaction.to is None else "call"
                check_permission_with_gate(committed, gate, item.sender, ETH_CONTRACT, method)
            from gusu.execution.evm.ethapply import ETH_TRANSACTION_METHOD, apply_eth_transaction

            context = Context(
                item.sender,
                block,
                item.transaction_id,
                ETH_CONTRACT,
                ETH_TRANSACTION_METHOD,
                False,
                spec.key_prefix,
                state,
                meter,
                self._limits,
                self._schedule,
            )
            execution = apply_eth_transaction(context, transaction)
        except BaseException as exception:  # sorted by compute_failure, which re-raises what is not ours
            if state.storage_failure is not None:
                raise state.storage_failure from exception
            error = compute_failure(exception, None, meter, "Ethereum transaction")
            return Receipt(
                item.transaction_id,
                ReceiptStatus.FAILED,
                NULL_RETURN_VALUE,
                (),
                0,
                get_error_code(error),
                compute_error_message(error),
            )
        if state.storage_failure is not None:
            raise state.storage_failure
        state.apply_writes(context.get_writes())
        status = _SUCCESS if execution.is_success else ReceiptStatus.FAILED
        return Receipt(
            item.transaction_id,
            status,
            execution.return_value,
            context.get_events(),
            execution.gas_used,
            execution.error_code,
            _cut_message(execution.error_message),
        )

    # --- read-only calls -------------------------------------------------------------

    def call(
        self,
        state: StateReader,
        block: BlockContext,
        contract: str,
        method: str,
        args: bytes,
        sender: Address,
    ) -> CallResult:
        """Run view `contract.method` on `state` and discard any effect.

        Raises the ExecutionError subclass that describes the failure.
        """
        meter = GasMeter(self._limits.gas_per_transaction_max)
        context: Context | None = None
        try:
            meter.charge(self._schedule.transaction + self._schedule.argument_byte * len(args))
            if contract not in self._contracts:  # a contract deployed by transaction, or none
                block_state = BlockState(state)
                context = self._create_deployed_context(block_state, block, meter, sender, ZERO_HASH, contract, method)
                context.invoker = self._create_host(block_state, CommittedReader(block_state), None)
                return_value = self._invoke_deployed(context, args, read_only=True)
                return CallResult(return_value=return_value, gas_used=meter.get_used(), events=())
            contract_spec, method_spec = self._resolve(contract, method)
            if not method_spec.is_view:
                names = contract_spec.get_method_names()
                views = ", ".join(name for name in names if contract_spec.methods[name].is_view)
                raise UnknownMethodError(
                    f"{contract}.{method} changes state, so only a transaction can run it; "
                    f"read-only calls run views ({views or 'this contract has none'})"
                )
            arguments = decode_arguments(method_spec, args)
            context = self._create_context(
                contract_spec, method_spec, BlockState(state), block, meter, sender, ZERO_HASH, read_only=True
            )
            return_value = self._invoke(contract_spec, method_spec, context, arguments, meter)
        except BaseException as exception:  # sorted by compute_failure, which re-raises what is not ours
            error = compute_failure(exception, context, meter, f"{contract}.{method}")
            if isinstance(error, ExecutionError):
                raise error from None
            raise ContractError(f"{contract}.{method} failed with {error.code}: {error}") from None
        return CallResult(return_value=return_value, gas_used=meter.get_used(), events=context.get_events())

    # --- genesis -------------------------------------------------------------------------

    def compute_genesis_writes(self, genesis: Genesis) -> tuple[tuple[bytes, bytes], ...]:
        """The initial state: every contract's genesis hook run in name order, sorted by key.

        Hooks run with no gas or write-size ceiling (a large allocation list
        must fit), but key and value limits still apply. ConfigError if the
        genesis is invalid or a hook fails.
        """
        validate_genesis(genesis)
        state = BlockState(_EmptyState())
        block = BlockContext(
            chain_id=genesis.chain_id, height=GENESIS_HEIGHT, timestamp_ms=genesis.timestamp_ms, proposer=ZERO_ADDRESS
        )
        limits = replace(
            self._limits, gas_per_transaction_max=LIMIT_VALUE_MAX, transaction_write_bytes_max=LIMIT_VALUE_MAX
        )
        for name in sorted(self._contracts):
            contract = self._contracts[name]
            meter = GasMeter(limits.gas_per_transaction_max)
            context = Context(
                sender=ZERO_ADDRESS,
                block=block,
                transaction_id=ZERO_HASH,
                contract=name,
                method="on_genesis",
                read_only=False,
                key_prefix=contract.key_prefix,
                state=state,
                meter=meter,
                limits=limits,
                schedule=self._schedule,
            )
            try:
                instance = contract.contract_class()
                if contract.trusted:
                    instance.on_genesis(context, genesis)
                else:
                    invoke_metered(
                        contract.contract_class.on_genesis,
                        (instance, context, genesis),
                        meter,
                        self._schedule.line,
                        limits.call_depth_max,
                    )
                if context.fault is not None:
                    raise context.fault
            except BaseException as exception:  # sorted by compute_failure, which re-raises what is not ours
                error = compute_failure(exception, context, meter, f"{name}.on_genesis")
                raise ConfigError(f"the genesis hook of contract {name} failed ({error.code}): {error}") from None
            state.apply_writes(context.get_writes())
        return tuple((key, value) for key, value in sorted(state.writes.items()) if value is not None)

    # --- shared ---------------------------------------------------------------------------

    def _resolve(self, contract_name: str, method_name: str) -> tuple[ContractSpec, MethodSpec]:
        contract = self._contracts.get(contract_name)
        if contract is None:
            known = ", ".join(sorted(self._contracts))
            raise UnknownContractError(f"no contract named {contract_name!r} runs on this chain (contracts: {known})")
        method = contract.methods.get(method_name)
        if method is None:
            known = ", ".join(contract.get_method_names())
            raise UnknownMethodError(f"contract {contract_name} has no method {method_name!r} (methods: {known})")
        return contract, method

    def _create_context(
        self,
        contract: ContractSpec,
        method: MethodSpec,
        state: BlockState,
        block: BlockContext,
        meter: GasMeter,
        sender: Address,
        transaction_id: Hash,
        *,
        read_only: bool,
    ) -> Context:
        # Positional on purpose: eleven keyword arguments cost about 0.7 µs,
        # several percent of a transfer.
        return Context(
            sender,
            block,
            transaction_id,
            contract.name,
            method.name,
            read_only,
            contract.key_prefix,
            state,
            meter,
            self._limits,
            self._schedule,
        )

    def _create_deployed_context(
        self,
        state: BlockState,
        block: BlockContext,
        meter: GasMeter,
        sender: Address,
        transaction_id: Hash,
        contract_name: str,
        method_name: str,
    ) -> Context:
        """A context for `contract_name` as deployed by transaction (`gusu.execution.deployment`);
        UnknownContractError if nothing runs under that name. Its code is loaded in `_invoke_deployed`."""
        if self._deployer is None or len(contract_name) > NAME_LENGTH_MAX:
            known = ", ".join(sorted(self._contracts))
            raise UnknownContractError(f"no contract named {contract_name!r} runs on this chain (contracts: {known})")
        return Context(
            sender,
            block,
            transaction_id,
            contract_name,
            method_name,
            False,
            compute_state_key_prefix(contract_name),
            state,
            meter,
            self._limits,
            self._schedule,
        )

    def _create_host(self, state: BlockState, committed: CommittedReader, gate: bytes | None) -> _ContractHost:
        raw = state.get(compute_settings_key())
        suite = self._decoded_suites.get(raw or b"")
        if suite is None:
            settings = decode_settings(raw)
            suite = settings.suite if settings is not None else "sm"
            _remember(self._decoded_suites, raw or b"", suite)
        return _ContractHost(self, suite, committed, gate)

    def call_inner(
        self,
        host: _ContractHost,
        caller: Context,
        contract: str,
        method: str,
        args: bytes,
        read_only: bool,
        depth: int,
    ) -> bytes:
        """A call from sandboxed contract code into `contract` (`ContractHost.call`); see docs/contracts.md."""
        if contract in caller.call_stack:
            raise ContractError(
                f"{caller.contract} may not call {contract}: {contract} is already running in this transaction "
                "(re-entering a running contract is refused)"
            )
        if len(caller.call_stack) >= CONTRACT_CALLS_DEPTH_MAX:
            raise SandboxLimitError(f"contract calls nest deeper than {CONTRACT_CALLS_DEPTH_MAX} contracts")
        sender = host.get_address(caller.contract)
        if host.gate is not None:  # the consortium's permissions and freezes bind contracts as they bind accounts
            check_permission_with_gate(host.committed, host.gate, sender, contract, method)
        child = caller.create_call(contract, method, compute_state_key_prefix(contract), read_only=read_only)
        child.sender = sender
        child.call_depth = depth + 1
        native = self._contracts.get(contract)
        if native is None:
            if self._deployer is None or len(contract) > NAME_LENGTH_MAX:
                raise UnknownContractError(f"no contract named {contract!r} runs on this chain")
            result = self._invoke_deployed(child, args, read_only=child.read_only)
        else:
            spec, method_spec = self._resolve(contract, method)
            if child.read_only and not method_spec.is_view:
                raise UnknownMethodError(f"{contract}.{method} changes state; a read-only call runs only views")
            child.read_only = child.read_only or method_spec.is_view
            result = self._invoke(spec, method_spec, child, decode_arguments(method_spec, args), child.meter)
        caller.apply_call(child)
        return result

    def _invoke_deployed(self, context: Context, args: bytes, *, read_only: bool) -> bytes:
        """Run `context.method` of the deployed contract `context.contract` in the sandbox."""
        name = context.contract
        raw = context.get_foreign(compute_instance_key(name))
        if raw is None:
            known = ", ".join(sorted(self._contracts))
            raise UnknownContractError(
                f"no contract named {name!r} runs on this chain (built-in: {known}; none is deployed under that name)"
            )
        instance = self._decoded_instances.get((name, raw))
        if instance is None:
            instance = decode_instance(name, raw)
            _remember(self._decoded_instances, (name, raw), instance)
        # Loading code costs its size every time, cached or not, so gas is the same on every node.
        context.charge(self._schedule.state_read + self._schedule.state_read_byte * instance.code_bytes)
        compiled = COMPILED_CACHE.get(instance.code_hash, None)
        if compiled is None:
            source = context.get_foreign(compute_code_key(instance.code_hash))
            if source is None:
                raise ContractError(f"the code of {name} (0x{instance.code_hash.hex()}) is missing from state")
            compiled = COMPILED_CACHE.get(instance.code_hash, source.decode())
            assert compiled is not None
        declaration = compiled.methods.get(context.method)
        if declaration is not None and (read_only or declaration.kind == KIND_VIEW):
            if declaration.kind != KIND_VIEW:
                views = ", ".join(n for n in compiled.get_method_names() if compiled.methods[n].kind == KIND_VIEW)
                raise UnknownMethodError(
                    f"{name}.{context.method} changes state, so only a transaction can run it; "
                    f"read-only calls run views ({views or 'this contract has none'})"
                )
            context.read_only = True
        result = run_method(compiled, context.method, args, context)
        if context.fault is not None:
            raise context.fault
        encoded = result.return_value
        if len(encoded) > self._limits.return_value_bytes_max:
            raise StateLimitError(
                f"{name}.{context.method} returned {len(encoded)} bytes; "
                f"the limit is return_value_bytes_max = {self._limits.return_value_bytes_max}"
            )
        context.charge(self._schedule.return_byte * len(encoded))
        return encoded

    def _invoke(
        self, contract: ContractSpec, method: MethodSpec, context: Context, arguments: list[Any], meter: GasMeter
    ) -> bytes:
        """Run the method; return its encoded result or raise why the call fails."""
        instance = contract.contract_class()
        if contract.trusted:
            result = method.function(instance, context, *arguments)
        else:
            result = invoke_metered(
                method.function,
                (instance, context, *arguments),
                meter,
                self._schedule.line,
                self._limits.call_depth_max,
            )
        if context.fault is not None:
            raise context.fault
        if meter.remaining < 0:
            raise create_out_of_gas_error(meter.limit)
        try:
            encoded = encode_value(result)
        except CodecError as error:
            raise ContractError(
                f"{contract.name}.{method.name} returned a value with no canonical encoding: {error}"
            ) from None
        if len(encoded) > self._limits.return_value_bytes_max:
            raise StateLimitError(
                f"{contract.name}.{method.name} returned {len(encoded)} bytes; "
                f"the limit is return_value_bytes_max = {self._limits.return_value_bytes_max}"
            )
        meter.charge(self._schedule.return_byte * len(encoded))
        return encoded


DECODED_RECORDS_MAX = 4096
"""Decoded deployment records an executor keeps (each a few hundred bytes)."""


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= DECODED_RECORDS_MAX:
        cache.clear()  # rare; refilling costs one decode per record
    cache[key] = value


class _ContractHost:
    """One transaction's `ContractHost`: the chain's suite (for contract addresses) and its permission gate."""

    __slots__ = ("committed", "executor", "gate", "suite")

    def __init__(self, executor: Executor, suite: str, committed: CommittedReader, gate: bytes | None) -> None:
        self.executor = executor
        self.suite = suite
        self.committed = committed
        self.gate = gate

    def call(self, caller: Context, contract: str, method: str, args: bytes, read_only: bool, depth: int) -> bytes:
        return self.executor.call_inner(self, caller, contract, method, args, read_only, depth)

    def get_address(self, contract: str) -> Address:
        return compute_contract_address(self.suite, contract)


def compute_failure(exception: BaseException, context: Context | None, meter: GasMeter, label: str) -> GusuError:
    """The failure a call ends with, given the exception that ended it.

    A failure the runtime recorded comes first, even if the contract caught
    it and raised something else afterwards. Failures of the machine itself
    (out of memory, an interrupt) are re-raised: they are not the
    transaction's fault, and only stopping the node keeps nodes from disagreeing.
    """
    if isinstance(exception, _ENVIRONMENT_FAILURES):
        raise exception
    if context is not None and context.fault is not None:
        return context.fault
    if meter.is_exhausted():
        return create_out_of_gas_error(meter.limit)
    if isinstance(exception, Abort):
        return exception.error
    if isinstance(exception, GusuError):
        return exception
    if isinstance(exception, (Exception, SystemExit, GeneratorExit)):
        return ContractError(f"{label} failed with {type(exception).__name__}: {describe_exception(exception)}")
    raise exception


def describe_exception(exception: BaseException) -> str:
    try:
        text = str(exception)
    except Exception:  # a contract's exception may not even print
        return "(the exception cannot be printed)"
    return _MEMORY_ADDRESS.sub("", text) or "(no message)"


def get_error_code(error: GusuError) -> str:
    code = error.code
    # A contract may define its own GusuError; a code a receipt cannot hold
    # falls back to the generic one rather than producing an invalid receipt.
    if isinstance(code, str) and 0 < len(code) <= NAME_LENGTH_MAX:
        return code
    return ContractError.code


def compute_error_message(error: BaseException) -> str:
    return _cut_message(describe_exception(error))


def _cut_message(message: str) -> str:
    if len(message) > ERROR_MESSAGE_LENGTH_MAX:
        return message[: ERROR_MESSAGE_LENGTH_MAX - 3] + "..."
    return message
