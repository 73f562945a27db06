"""The EVM's settings: named limits and the chain's EVM identity, fixed at genesis.

A chain that lists the `evm` contract in its genesis may set any of these with a genesis
parameter of the same name; the `evm` contract stores them at genesis (``settings`` in its
namespace) and every node executes with the stored values, so they are consensus rules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

from gusu.codec import decode, encode
from gusu.crypto import get_suite
from gusu.errors import CodecError, ConfigError
from gusu.execution.errors import ContractError
from gusu.ledger.genesis import Genesis

EIP170_CODE_BYTES_MAX = 24_576
"""Ethereum's limit on deployed code (EIP-170); the engine refuses larger code whatever the setting."""
EIP3860_INIT_CODE_BYTES_MAX = 49_152
"""Ethereum's limit on init code (EIP-3860)."""

APPROVAL_PARAMETER = "contract_deploy_approval_required"
"""The same genesis parameter the Python-contract deployer reads (`gusu.execution.deployment`)."""

TAG_EVM_CHAIN_ID = "gusu.evm.chain_id.v1"
EVM_CHAIN_ID_MAX = 2**53 - 1
"""The largest chain id JavaScript wallets handle exactly (Number.MAX_SAFE_INTEGER)."""


@dataclass(frozen=True, slots=True)
class EvmSettings:
    evm_chain_id: int
    """The CHAINID opcode's value and, later, the EIP-155 chain id of Ethereum transactions."""
    evm_gas_per_transaction_max: int = 30_000_000
    """EVM gas one call may use (also the block's GASLIMIT as the EVM sees it); the Gusu gas meter's
    remaining gas caps it further."""
    evm_code_bytes_max: int = EIP170_CODE_BYTES_MAX
    """Runtime code one contract may have."""
    evm_init_code_bytes_max: int = EIP3860_INIT_CODE_BYTES_MAX
    """Init code (bytecode plus constructor arguments) one deployment may send."""
    evm_call_data_bytes_max: int = 128 * 1024
    """Call data one call may send."""
    is_approval_required: bool = False
    """Whether deployed code needs governance's `approve_contract` of its code hash."""
    evm_gas_price: int = 0
    """The fee policy of Ethereum transactions: the price per gas every one pays (burned), and the least
    one must offer. Appended last: a chain whose stored settings predate it decodes it as 0."""

    def __post_init__(self) -> None:
        validate_evm_settings(self)


def validate_evm_settings(settings: EvmSettings) -> None:
    if not 1 <= settings.evm_chain_id <= EVM_CHAIN_ID_MAX:
        raise ConfigError(f"evm_chain_id must be between 1 and {EVM_CHAIN_ID_MAX}, found {settings.evm_chain_id}")
    if not 21_000 <= settings.evm_gas_per_transaction_max <= 2**62:
        raise ConfigError("evm_gas_per_transaction_max must be between 21000 (a plain call) and 2**62")
    if not 1 <= settings.evm_code_bytes_max <= EIP170_CODE_BYTES_MAX:
        raise ConfigError(f"evm_code_bytes_max must be between 1 and {EIP170_CODE_BYTES_MAX} (EIP-170)")
    if not 1 <= settings.evm_init_code_bytes_max <= EIP3860_INIT_CODE_BYTES_MAX:
        raise ConfigError(f"evm_init_code_bytes_max must be between 1 and {EIP3860_INIT_CODE_BYTES_MAX} (EIP-3860)")
    if not 1 <= settings.evm_call_data_bytes_max <= 1024 * 1024:
        raise ConfigError("evm_call_data_bytes_max must be between 1 and 1 MiB")
    if not 0 <= settings.evm_gas_price <= EVM_GAS_PRICE_MAX:
        raise ConfigError(
            f"evm_gas_price must be between 0 and {EVM_GAS_PRICE_MAX} (balances are 64-bit), "
            f"found {settings.evm_gas_price}"
        )


EVM_GAS_PRICE_MAX = 2**64 - 1
"""A price above every possible balance would refuse every transaction."""

_LIMIT_NAMES = (
    "evm_gas_per_transaction_max",
    "evm_code_bytes_max",
    "evm_init_code_bytes_max",
    "evm_call_data_bytes_max",
    "evm_gas_price",
)


def compute_default_evm_chain_id(suite: str, chain_id: str) -> int:
    """A chain's EVM chain id when its genesis sets none: 31 bits of the suite hash of its chain id."""
    digest = get_suite(suite).hash(encode([TAG_EVM_CHAIN_ID, chain_id]))
    return 1 + int.from_bytes(digest[:4], "big") % (2**31 - 1)


def compute_evm_settings(genesis: Genesis) -> EvmSettings:
    """The settings of the chain `genesis` starts; ConfigError if a parameter is out of range."""
    chain_id = genesis.get_parameter("evm_chain_id")
    approval = genesis.get_parameter(APPROVAL_PARAMETER)
    overrides = {name: value for name in _LIMIT_NAMES if (value := genesis.get_parameter(name)) is not None}
    if chain_id is None:
        chain_id = compute_default_evm_chain_id(genesis.suite, genesis.chain_id)
    return EvmSettings(
        evm_chain_id=chain_id,
        is_approval_required=("system" in genesis.contracts) if approval is None else approval != 0,
        **overrides,
    )


def encode_evm_settings(settings: EvmSettings) -> bytes:
    return encode([getattr(settings, field.name) for field in fields(settings)])


SETTINGS_DECODED_KEPT = 16
"""Distinct stored settings whose decoding a process keeps (a chain has one; tests make many)."""


def decode_evm_settings(raw: bytes | None) -> EvmSettings:
    if raw is None:
        raise ContractError("the evm contract has no settings: it did not run at genesis")
    # Every EVM transaction reads the settings: decode each stored value once (EvmSettings is frozen).
    return _decode_evm_settings_cached(raw)


@functools.lru_cache(maxsize=SETTINGS_DECODED_KEPT)
def _decode_evm_settings_cached(raw: bytes) -> EvmSettings:
    try:
        value = decode(raw)
        names = [field.name for field in fields(EvmSettings)]
        # A chain created before evm_gas_price stored one field fewer: its price is 0.
        if not isinstance(value, list) or len(value) not in (len(names) - 1, len(names)):
            raise ContractError("the evm contract's settings are malformed")
        return EvmSettings(**dict(zip(names, value, strict=False)))  # type: ignore[arg-type]
    except (CodecError, ConfigError, TypeError) as error:
        raise ContractError(f"the evm contract's settings are malformed: {error}") from None
