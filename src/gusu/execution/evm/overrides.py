"""State overrides for `eth_call` and `eth_estimateGas`: the call runs on the committed state with some accounts
seen otherwise (a balance, a nonce, code, some storage slots), as geth's third parameter of those methods.

The overrides become writes to full state keys (the `evm` contract's account, code and storage records and
the `account` contract's balance, laid out as `gusu.execution.evm.world` lays them out), read through
`OverlayStateReader` in front of the committed state for that one call; nothing is written anywhere. A whole
replacement of an account's storage (geth's `state`) is not offered: it would have to hide every other slot of
the account, which the state does not list cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gusu.crypto.ecdsa import keccak256
from gusu.execution.encoding import encode_int
from gusu.execution.evm.contract import BALANCE_CONTRACT, EVM_CONTRACT
from gusu.execution.evm.world import (
    BALANCE_PREFIX,
    EMPTY_CODE_HASH,
    compute_account_key,
    compute_code_key,
    compute_storage_key,
    decode_account,
    encode_account,
    encode_slot_value,
)
from gusu.execution.state import StateReader, compute_state_key


@dataclass(frozen=True, slots=True)
class EthStateOverride:
    """How one account is to be seen by a call; None (or no slots) leaves that part as committed."""

    address: bytes
    balance: int | None = None
    nonce: int | None = None
    code: bytes | None = None
    state_diff: tuple[tuple[int, int], ...] = ()
    """(slot, value) pairs, each a 256-bit word; value 0 clears the slot."""


def compute_state_override_writes(
    state: StateReader, overrides: Sequence[EthStateOverride]
) -> dict[bytes, bytes | None]:
    """The full state keys and values (None: absent) that make `state` look as `overrides` say."""
    writes: dict[bytes, bytes | None] = {}
    for override in overrides:
        address = override.address
        if override.nonce is not None or override.code is not None:
            account_key = compute_state_key(EVM_CONTRACT, compute_account_key(address))
            raw = state.get(account_key)
            nonce, code_hash = (0, EMPTY_CODE_HASH) if raw is None else decode_account(raw)
            if override.nonce is not None:
                nonce = override.nonce
            if override.code is not None:
                code_hash = keccak256(override.code)
                if override.code:
                    writes[compute_state_key(EVM_CONTRACT, compute_code_key(code_hash))] = override.code
            writes[account_key] = encode_account(nonce, code_hash)
        if override.balance is not None:
            balance_key = compute_state_key(BALANCE_CONTRACT, BALANCE_PREFIX + address)
            writes[balance_key] = encode_int(override.balance) if override.balance else None
        for slot, value in override.state_diff:
            storage_key = compute_state_key(EVM_CONTRACT, compute_storage_key(address, slot))
            writes[storage_key] = encode_slot_value(value) if value else None
    return writes


class OverlayStateReader:
    """`state` with `writes` in front of it (a `StateReader`)."""

    __slots__ = ("_state", "_writes")

    def __init__(self, state: StateReader, writes: Mapping[bytes, bytes | None]) -> None:
        self._state = state
        self._writes = writes

    def get(self, key: bytes) -> bytes | None:
        if key in self._writes:
            return self._writes[key]
        return self._state.get(key)
