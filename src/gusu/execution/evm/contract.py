"""The native `evm` contract: deploy and call EVM (Solidity) contracts with Gusu transactions.

A chain runs it when its genesis lists ``"evm"`` among its contracts. Methods:

* ``deploy(bytecode, value) -> Address``: run init code `bytecode` (constructor arguments appended,
  as solc and every Ethereum tool produce it) from the sender with `value` native tokens; the new
  contract's address is Ethereum's: the last 20 bytes of keccak-256(rlp([sender, nonce])), the
  sender's EVM nonce before the deployment (docs/evm.md);
* ``call(to, data, value) -> bytes``: call contract `to` with call data `data`; its return data;
* views ``call_static(to, data)``, ``deploy_static(bytecode)`` (a deployment run and discarded, for
  eth_estimateGas), ``get_code(address)``, ``get_storage_at(address, slot)``, ``get_nonce(address)``,
  ``get_chain_id()``.

The EVM's sender (CALLER, ORIGIN) is the Gusu transaction's 20-byte sender address. EVM gas is
metered as Ethereum does and charged one for one to the Gusu gas meter (state access through the
EVM is not charged again). Every EVM log is recorded as a Gusu event named ``Log`` with data
``[address, [topic, ...], data]``. A revert fails the transaction with code ``reverted`` and the
message ``execution reverted (data=0x...): reason`` (`compute_revert_message`). On a chain that
requires approval, every code this transaction installs (by `deploy`, or by a factory's CREATE)
must have its keccak-256 runtime code hash approved by governance (`approve_contract`).
"""

from __future__ import annotations

from gusu.codec import encode
from gusu.errors import ContractRevertError, InvalidArgumentsError, OutOfGasError, StateLimitError
from gusu.execution.context import Context
from gusu.execution.contract import Contract, method, view
from gusu.execution.evm.engine import EvmOutcome, compute_intrinsic_gas, run_message
from gusu.execution.evm.settings import (
    EvmSettings,
    compute_evm_settings,
    decode_evm_settings,
    encode_evm_settings,
)
from gusu.execution.evm.world import SETTINGS_KEY, EvmWorld, compute_storage_key
from gusu.execution.governance.registry import is_contract_code_approved
from gusu.execution.state import compute_state_key_prefix
from gusu.ledger.genesis import Genesis
from gusu.ledger.types import ADDRESS_SIZE, Address

EVM_CONTRACT = "evm"
BALANCE_CONTRACT = "account"
LOG_EVENT = "Log"
ERROR_SELECTOR = bytes.fromhex("08c379a0")
"""Solidity's Error(string)."""
PANIC_SELECTOR = bytes.fromhex("4e487b71")
"""Solidity's Panic(uint256)."""
REVERT_DATA_IN_MESSAGE_BYTES_MAX = 400
"""Revert data carried in a failed receipt's message; a receipt message holds at most 1024 characters."""
VALUE_MAX = 2**64 - 1


class _ForeignReader:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def get(self, key: bytes) -> bytes | None:
        return self._ctx.get_foreign(key)


class Evm(Contract):
    name = EVM_CONTRACT
    trusted = True

    def on_genesis(self, ctx: Context, genesis: Genesis) -> None:
        ctx.set(SETTINGS_KEY, encode_evm_settings(compute_evm_settings(genesis)))

    @method
    def deploy(self, ctx: Context, bytecode: bytes, value: int) -> Address:
        """Deploy init code `bytecode` with `value`; the new contract's address."""
        settings = _get_settings(ctx)
        if not bytecode:
            raise InvalidArgumentsError("evm.deploy needs init code: the compiled bytecode and constructor arguments")
        if len(bytecode) > settings.evm_init_code_bytes_max:
            raise StateLimitError(
                f"the init code is {len(bytecode)} bytes; the limit is evm_init_code_bytes_max = "
                f"{settings.evm_init_code_bytes_max}"
            )
        outcome = _execute(ctx, settings, None, bytecode, value)
        assert outcome.created_address is not None
        return Address(outcome.created_address)

    @method
    def call(self, ctx: Context, to: Address, data: bytes, value: int) -> bytes:
        """Call EVM contract (or account) `to` with `data` and `value`; its return data."""
        settings = _get_settings(ctx)
        _validate_call_data(settings, data)
        return _execute(ctx, settings, to, data, value).output

    @view
    def call_static(self, ctx: Context, to: Address, data: bytes) -> bytes:
        """Call `to` with `data` and discard every change (eth_call); its return data."""
        settings = _get_settings(ctx)
        _validate_call_data(settings, data)
        return _execute(ctx, settings, to, data, 0).output

    @view
    def deploy_static(self, ctx: Context, bytecode: bytes) -> Address:
        """Run init code `bytecode` as `deploy` would (without value) and discard every change; the address
        the contract would get. eth_estimateGas of a creation reads its gas."""
        settings = _get_settings(ctx)
        if not bytecode:
            raise InvalidArgumentsError(
                "evm.deploy_static needs init code: the compiled bytecode and constructor arguments"
            )
        if len(bytecode) > settings.evm_init_code_bytes_max:
            raise StateLimitError(
                f"the init code is {len(bytecode)} bytes; the limit is evm_init_code_bytes_max = "
                f"{settings.evm_init_code_bytes_max}"
            )
        outcome = _execute(ctx, settings, None, bytecode, 0)
        assert outcome.created_address is not None
        return Address(outcome.created_address)

    @view
    def get_code(self, ctx: Context, address: Address) -> bytes:
        """The runtime code at `address` (empty for an account without code)."""
        return _create_world(ctx).get_code(address)

    @view
    def get_storage_at(self, ctx: Context, address: Address, slot: bytes) -> bytes:
        """The 32-byte value of storage slot `slot` (32 bytes, big-endian) of `address`."""
        if len(slot) != 32:
            raise InvalidArgumentsError(f"a storage slot is 32 bytes, found {len(slot)}")
        raw = ctx.get(compute_storage_key(address, int.from_bytes(slot, "big")))
        return (raw or b"").rjust(32, b"\x00")

    @view
    def get_nonce(self, ctx: Context, address: Address) -> int:
        """The EVM nonce of `address`: deployments and calls it made (or, for a contract, contracts it created)."""
        return _create_world(ctx).get_nonce(address)

    @view
    def get_chain_id(self, ctx: Context) -> int:
        """The chain's EVM chain id (the CHAINID opcode)."""
        return _get_settings(ctx).evm_chain_id


def _get_settings(ctx: Context) -> EvmSettings:
    return decode_evm_settings(ctx.get(SETTINGS_KEY))


def _validate_call_data(settings: EvmSettings, data: bytes) -> None:
    if len(data) > settings.evm_call_data_bytes_max:
        raise StateLimitError(
            f"the call data is {len(data)} bytes; the limit is evm_call_data_bytes_max = "
            f"{settings.evm_call_data_bytes_max}"
        )


def _create_world(ctx: Context) -> EvmWorld:
    balances = ctx.create_call(BALANCE_CONTRACT, ctx.method, compute_state_key_prefix(BALANCE_CONTRACT), read_only=True)
    return EvmWorld(ctx, balances)


def _execute(ctx: Context, settings: EvmSettings, to: bytes | None, data: bytes, value: int) -> EvmOutcome:
    """Run the message, charge its gas, and on success write its changes and logs into `ctx`."""
    if not 0 <= value <= VALUE_MAX:
        raise InvalidArgumentsError(f"value must be between 0 and {VALUE_MAX}, found {value}")
    if len(ctx.sender) != ADDRESS_SIZE:
        raise InvalidArgumentsError("the EVM needs a 20-byte sender address")
    gas = min(settings.evm_gas_per_transaction_max, ctx.get_gas_remaining())
    intrinsic = compute_intrinsic_gas(data, is_create=to is None)
    if gas < intrinsic:
        raise OutOfGasError(
            f"the EVM call needs {intrinsic} gas before it starts (intrinsic gas); it may use {gas}: "
            f"evm_gas_per_transaction_max = {settings.evm_gas_per_transaction_max} or the Gusu gas left"
        )
    balances = ctx.create_call(
        BALANCE_CONTRACT, ctx.method, compute_state_key_prefix(BALANCE_CONTRACT), read_only=ctx.read_only
    )
    world = EvmWorld(ctx, balances)
    if value and world.get_balance(ctx.sender) < value:
        ctx.revert(f"insufficient balance: 0x{ctx.sender.hex()} holds {world.get_balance(ctx.sender)}, needs {value}")
    outcome = run_message(world, ctx.block, settings, bytes(ctx.sender), to, data, value, gas)
    ctx.charge(outcome.gas_used)
    if not outcome.is_success:
        if outcome.is_revert:
            raise ContractRevertError(compute_revert_message(outcome.output))
        if outcome.is_out_of_gas:
            raise OutOfGasError(
                f"the EVM ran out of gas after {outcome.gas_used} gas (the limit was {gas}: "
                f"evm_gas_per_transaction_max = {settings.evm_gas_per_transaction_max} or the Gusu gas left)"
            )
        raise ContractRevertError(f"the EVM call failed: {outcome.error}")
    for code_hash in world.created_code_hashes:
        if len(world.get_code_by_hash(code_hash)) > settings.evm_code_bytes_max:
            raise StateLimitError(
                f"the deployed code is {len(world.get_code_by_hash(code_hash))} bytes; "
                f"the limit is evm_code_bytes_max = {settings.evm_code_bytes_max}"
            )
        if settings.is_approval_required and not is_contract_code_approved(_ForeignReader(ctx), code_hash):
            ctx.revert(
                f"EVM code 0x{code_hash.hex()} (keccak-256 of the runtime code) is not approved: this chain deploys "
                f"only code that governance approved; propose it with "
                f"`gusu gov propose approve-contract --code-hash 0x{code_hash.hex()}`"
            )
    if not ctx.read_only:
        world.flush()
        for log in outcome.logs:
            ctx.emit_encoded(LOG_EVENT, encode([log.address, list(log.topics), log.data]))
        ctx.apply_call(balances)
    return outcome


def compute_revert_message(data: bytes) -> str:
    """A failed receipt's message for revert data `data`: ``execution reverted (data=0x<hex>): <reason>``.

    The data comes first so that a receipt's length limit cuts the readable reason, not the data a
    client decodes (ethers and web3 decode Error(string), Panic(uint256) and custom errors from it).
    Data longer than REVERT_DATA_IN_MESSAGE_BYTES_MAX is cut and marked ``...`` before the colon.
    """
    shown = data[:REVERT_DATA_IN_MESSAGE_BYTES_MAX].hex()
    if len(data) > REVERT_DATA_IN_MESSAGE_BYTES_MAX:
        shown += "..."
    return f"execution reverted (data=0x{shown}): {describe_revert_data(data)}"


def describe_revert_data(data: bytes) -> str:
    if not data:
        return "no reason given"
    if data[:4] == ERROR_SELECTOR and len(data) >= 68:
        offset = int.from_bytes(data[4:36], "big")
        if offset == 32:
            size = int.from_bytes(data[36:68], "big")
            text = data[68 : 68 + size]
            if len(text) == size:
                return text.decode("utf-8", "replace")
    if data[:4] == PANIC_SELECTOR and len(data) == 36:
        return f"panic 0x{int.from_bytes(data[4:36], 'big'):02x}"
    return f"custom error 0x{data[:4].hex()}"
