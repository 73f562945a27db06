"""Executing Ethereum transactions: signed by an Ethereum wallet, carried raw in Gusu blocks.

`apply_eth_transaction` runs one decoded `EthTransaction` (gusu.ledger.ethtx) in the `evm`
contract's namespace, with Ethereum's rules where Gusu transactions use Gusu's:

* **Validity** (an invalid transaction changes nothing, not even its nonce; `InvalidEthTransactionError`):
  it is signed for this chain's `evm_chain_id`; its nonce equals the sender's EVM nonce (the nonce is
  the replay guard; Gusu's own is not used); its gas limit covers its intrinsic gas and is at most
  `evm_gas_per_transaction_max`; it offers at least the chain's `evm_gas_price` (`gasPrice`, or
  `maxFeePerGas`); the sender's balance covers ``gas_limit * evm_gas_price + value``; its data fits
  `evm_call_data_bytes_max` (`evm_init_code_bytes_max` for a creation).
* **Execution**: py-evm with the transaction's gas limit, value and access list (pre-warmed).
* **Fee**: exactly `evm_gas_price` per gas used, debited from the sender's native balance and burned
  (no tip: the proposer is not paid per transaction).
* **Outcome**: on success the EVM's changes and logs are written (logs as `Log` events of contract
  `evm`, as for `evm.call`). On failure (revert, out of gas, any exceptional halt, or one of Gusu's
  own limits after the EVM finished: code size, code approval, write bytes, events), the EVM's
  changes are dropped but the nonce is consumed and gas is charged, as in Ethereum.

The receipt the executor builds from `EthExecution` holds what `eth_getTransactionReceipt` needs;
`gusu.execution.evm.ethreceipt` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass

from gusu.codec import encode
from gusu.errors import ContractRevertError, ExecutionError, GusuError, OutOfGasError, StateLimitError
from gusu.execution.context import Context
from gusu.execution.encoding import decode_int
from gusu.execution.evm.contract import (
    BALANCE_CONTRACT,
    EVM_CONTRACT,
    LOG_EVENT,
    compute_revert_message,
)
from gusu.execution.evm.engine import EvmOutcome, run_message
from gusu.execution.evm.settings import EvmSettings, decode_evm_settings
from gusu.execution.evm.world import BALANCE_PREFIX, SETTINGS_KEY, EvmWorld, compute_account_key, decode_account
from gusu.execution.governance.registry import is_contract_code_approved
from gusu.execution.state import StateReader, compute_state_key, compute_state_key_prefix
from gusu.ledger.ethtx import EthTransaction, compute_eth_intrinsic_gas
from gusu.ledger.types import Address

ETH_TRANSACTION_METHOD = "eth_transaction"
"""The method name an Ethereum transaction's context carries (and governance's permissions see as
`evm.deploy` or `evm.call`, see the executor)."""

ETH_REVERT_DATA_BYTES_MAX = 64 * 1024
"""Revert data kept in a receipt; longer data is cut (a receipt's return value holds 1 MiB)."""


class InvalidEthTransactionError(ExecutionError):
    """The Ethereum transaction cannot run at all (nonce, chain, gas limit, price, funds): it changes
    nothing, its nonce included; the receipt fails with this code and 0 gas."""

    code = "eth_invalid"


@dataclass(frozen=True, slots=True)
class EthExecution:
    """What one executed (valid) Ethereum transaction did; the executor turns it into a receipt."""

    is_success: bool
    gas_used: int
    """Ethereum's gasUsed (after refunds, intrinsic gas included); what the fee was charged on."""
    contract_address: Address | None
    """The created contract, for a successful creation."""
    revert_data: bytes
    """The revert data of a revert (cut to ETH_REVERT_DATA_BYTES_MAX), else empty."""
    error_code: str
    """Empty on success; ``reverted``, ``out_of_gas`` or the code of the Gusu limit that failed it."""
    error_message: str

    @property
    def return_value(self) -> bytes:
        """The receipt's return value: canonical ``[contract address or b"", revert data]``."""
        return encode([self.contract_address or b"", self.revert_data])


def read_evm_settings(state: StateReader) -> EvmSettings | None:
    """The chain's EVM settings in committed `state`, or None if the chain does not run the evm contract."""
    raw = state.get(_SETTINGS_STATE_KEY)
    return None if raw is None else decode_evm_settings(raw)


_SETTINGS_STATE_KEY = compute_state_key(EVM_CONTRACT, SETTINGS_KEY)


def read_eth_account(state: StateReader, address: bytes) -> tuple[int, int]:
    """(EVM nonce, native balance) of `address` in committed `state` (what a pool checks at admission)."""
    raw = state.get(compute_state_key(EVM_CONTRACT, compute_account_key(address)))
    nonce = 0 if raw is None else decode_account(raw)[0]
    raw_balance = state.get(compute_state_key(BALANCE_CONTRACT, BALANCE_PREFIX + address))
    balance = 0 if raw_balance is None else decode_int(raw_balance)
    if balance is None or balance < 0:
        raise ExecutionError(f"the balance record of 0x{address.hex()} is malformed")
    return nonce, balance


def _get_settings(ctx: Context) -> EvmSettings:
    return decode_evm_settings(ctx.get_unmetered(SETTINGS_KEY))


def _create_world(ctx: Context) -> tuple[EvmWorld, Context]:
    balances = ctx.create_call(
        BALANCE_CONTRACT, ctx.method, compute_state_key_prefix(BALANCE_CONTRACT), read_only=False
    )
    return EvmWorld(ctx, balances), balances


def validate_eth_transaction(settings: EvmSettings, world: EvmWorld, transaction: EthTransaction) -> None:
    """InvalidEthTransactionError unless `transaction` may run now (see the module docstring)."""
    if transaction.chain_id != settings.evm_chain_id:
        raise InvalidEthTransactionError(
            f"the transaction is signed for chain id {transaction.chain_id}; this chain's is {settings.evm_chain_id}"
        )
    expected_nonce = world.get_nonce(transaction.sender)
    if transaction.nonce != expected_nonce:
        raise InvalidEthTransactionError(
            f"the transaction's nonce is {transaction.nonce}; the sender's next nonce is {expected_nonce}"
        )
    data_max = settings.evm_init_code_bytes_max if transaction.is_create else settings.evm_call_data_bytes_max
    if len(transaction.data) > data_max:
        name = "evm_init_code_bytes_max" if transaction.is_create else "evm_call_data_bytes_max"
        raise InvalidEthTransactionError(
            f"the transaction's data is {len(transaction.data)} bytes; the limit is {name} = {data_max}"
        )
    intrinsic = compute_eth_intrinsic_gas(transaction)
    if transaction.gas_limit < intrinsic:
        raise InvalidEthTransactionError(
            f"the gas limit {transaction.gas_limit} is below the transaction's intrinsic gas {intrinsic}"
        )
    if transaction.gas_limit > settings.evm_gas_per_transaction_max:
        raise InvalidEthTransactionError(
            f"the gas limit {transaction.gas_limit} is above evm_gas_per_transaction_max = "
            f"{settings.evm_gas_per_transaction_max}"
        )
    validate_eth_fee(settings, transaction)
    cost = transaction.gas_limit * settings.evm_gas_price + transaction.value
    balance = world.get_balance(transaction.sender)
    if balance < cost:
        raise InvalidEthTransactionError(
            f"insufficient funds: 0x{transaction.sender.hex()} holds {balance}, the transaction may cost {cost} "
            f"(gas limit x evm_gas_price {settings.evm_gas_price} + value)"
        )


def validate_eth_fee(settings: EvmSettings, transaction: EthTransaction) -> None:
    """InvalidEthTransactionError if `transaction` offers less than the chain's price per gas."""
    if transaction.max_fee_per_gas < settings.evm_gas_price:
        raise InvalidEthTransactionError(
            f"the transaction offers {transaction.max_fee_per_gas} per gas (gasPrice or maxFeePerGas); this "
            f"chain's price is evm_gas_price = {settings.evm_gas_price} (eth_gasPrice)"
        )


def apply_eth_transaction(ctx: Context, transaction: EthTransaction) -> EthExecution:
    """Execute `transaction` in `ctx` (the `evm` namespace, sender = the recovered sender).

    Raises InvalidEthTransactionError (or another GusuError) when it cannot run: then `ctx` holds no
    write. Otherwise returns what happened, with `ctx` holding the nonce, the fee and, on success,
    the EVM's changes and logs.
    """
    assert ctx.contract == EVM_CONTRACT and ctx.sender == transaction.sender, "an Ethereum transaction runs as evm"
    settings = _get_settings(ctx)
    run = ctx.create_call(EVM_CONTRACT, ctx.method, compute_state_key_prefix(EVM_CONTRACT), read_only=False)
    world, balances = _create_world(run)
    validate_eth_transaction(settings, world, transaction)
    access_list = tuple(
        (bytes(entry.address), tuple(int.from_bytes(key, "big") for key in entry.storage_keys))
        for entry in transaction.access_list
    )
    outcome = run_message(
        world,
        ctx.block,
        settings,
        bytes(transaction.sender),
        transaction.to,
        transaction.data,
        transaction.value,
        transaction.gas_limit,
        gas_price=settings.evm_gas_price,
        access_list=access_list,
        intrinsic_gas=compute_eth_intrinsic_gas(transaction),
    )
    if outcome.is_success:
        try:
            _finish_success(run, balances, world, settings, outcome)
        except GusuError as error:
            # The EVM succeeded but a Gusu limit refuses the result: an exceptional halt, all gas used.
            _consume_nonce_and_fee(ctx, settings, transaction, transaction.gas_limit)
            return EthExecution(False, transaction.gas_limit, None, b"", error.code, str(error))
        ctx.apply_call(run)
        created = Address(outcome.created_address) if outcome.created_address is not None else None
        return EthExecution(True, outcome.gas_used, created, b"", "", "")
    # py-evm reverted the message only: the world holds the consumed nonce and the fee.
    world.flush()
    run.apply_call(balances)
    ctx.apply_call(run)
    return _describe_failure(outcome)


def _finish_success(
    run: Context, balances: Context, world: EvmWorld, settings: EvmSettings, outcome: EvmOutcome
) -> None:
    for code_hash in world.created_code_hashes:
        size = len(world.get_code_by_hash(code_hash))
        if size > settings.evm_code_bytes_max:
            raise StateLimitError(
                f"the deployed code is {size} bytes; the limit is evm_code_bytes_max = {settings.evm_code_bytes_max}"
            )
        if settings.is_approval_required and not is_contract_code_approved(_UnmeteredReader(run), code_hash):
            raise ContractRevertError(
                f"EVM code 0x{code_hash.hex()} (keccak-256 of the runtime code) is not approved: this chain deploys "
                f"only code that governance approved; propose it with "
                f"`gusu gov propose approve-contract --code-hash 0x{code_hash.hex()}`"
            )
    world.flush()
    for log in outcome.logs:
        run.emit_encoded(LOG_EVENT, encode([log.address, list(log.topics), log.data]))
    run.apply_call(balances)


class _UnmeteredReader:
    """Reads full state keys for governance's approval check; the EVM's gas already paid for the transaction."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, key: bytes) -> bytes | None:
        return self._ctx.get_foreign(key)


def _consume_nonce_and_fee(ctx: Context, settings: EvmSettings, transaction: EthTransaction, gas_used: int) -> None:
    """A failed transaction's lasting effect: its nonce is used and its gas paid (burned)."""
    world, balances = _create_world(ctx)
    world.set_nonce(transaction.sender, transaction.nonce + 1)
    fee = gas_used * settings.evm_gas_price
    if fee:
        world.set_balance(transaction.sender, world.get_balance(transaction.sender) - fee)
    world.flush()
    ctx.apply_call(balances)


def _describe_failure(outcome: EvmOutcome) -> EthExecution:
    if outcome.is_revert:
        data = outcome.output
        return EthExecution(
            False,
            outcome.gas_used,
            None,
            data[:ETH_REVERT_DATA_BYTES_MAX],
            ContractRevertError.code,
            compute_revert_message(data),
        )
    if outcome.is_out_of_gas:
        return EthExecution(
            False, outcome.gas_used, None, b"", OutOfGasError.code, f"the EVM ran out of gas: {outcome.error}"
        )
    return EthExecution(
        False, outcome.gas_used, None, b"", ContractRevertError.code, f"the EVM call failed: {outcome.error}"
    )


__all__ = [
    "ETH_TRANSACTION_METHOD",
    "EthExecution",
    "InvalidEthTransactionError",
    "apply_eth_transaction",
    "read_eth_account",
    "read_evm_settings",
    "validate_eth_fee",
    "validate_eth_transaction",
]
