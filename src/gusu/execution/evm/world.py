"""EVM accounts, code and storage inside Gusu's state: the key layout and py-evm's account database.

Everything lives in the state namespace of the native `evm` contract (full key = the canonical
encoding of ``["gusu.state.v1", "evm", key]``, see `gusu.execution.state`), except balances:

* ``a`` + address (20 bytes) -> canonical ``[nonce, code_hash]``; absent while the nonce is zero and
  the account has no code (an absent account is an empty one);
* ``c`` + code_hash (32 bytes, keccak-256 of the code) -> the runtime code, stored once per hash;
* ``s`` + address (20) + slot (32, big-endian) -> the slot's value, big-endian without leading zero
  bytes; absent when the value is zero (as in Ethereum, a zero slot costs no state);
* ``settings`` -> the chain's EVM settings, fixed at genesis (`gusu.execution.evm.settings`).

An account's balance is its native-token balance in the `account` contract (``balance/`` + address):
one token, whether a Gusu transfer or an EVM value transfer moves it.

`EvmWorld` is py-evm's account database over those keys for one transaction. It reads through the
transaction's `Context` unmetered (the EVM charges its own gas for every access), keeps every change
in memory with a journal (nested calls revert by rolling it back), and `flush` writes the net
change into the context only when the EVM call succeeded, so a failed transaction leaves nothing.
"""

from __future__ import annotations

from typing import Any

from eth.db.journal import get_next_checkpoint
from eth_hash.auto import keccak

from gusu.codec import decode, encode
from gusu.errors import CodecError
from gusu.execution.context import Context
from gusu.execution.encoding import decode_int, encode_int
from gusu.execution.errors import ContractError

ACCOUNT_PREFIX = b"a"
CODE_PREFIX = b"c"
STORAGE_PREFIX = b"s"
SETTINGS_KEY = b"settings"
BALANCE_PREFIX = b"balance/"
"""The `account` contract's balance keys (`gusu.execution.contracts.account`)."""

EMPTY_CODE_HASH = keccak(b"")
BLANK_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
"""py-evm asks for a state root; Gusu's state tree computes the real one, so this is a placeholder."""

BALANCE_MAX = 2**64 - 1
"""Native-token balances are unsigned 64-bit (`account.AMOUNT_MAX`)."""

_MISSING: Any = object()


def compute_account_key(address: bytes) -> bytes:
    return ACCOUNT_PREFIX + address


def compute_code_key(code_hash: bytes) -> bytes:
    return CODE_PREFIX + code_hash


def compute_storage_key(address: bytes, slot: int) -> bytes:
    return STORAGE_PREFIX + address + slot.to_bytes(32, "big")


def encode_slot_value(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_account(raw: bytes) -> tuple[int, bytes]:
    """(nonce, code_hash) of a stored account record."""
    try:
        value = decode(raw)
    except CodecError as error:
        raise ContractError(f"an EVM account record is not canonical: {error}") from None
    match value:
        case [int(nonce), bytes(code_hash)] if nonce >= 0 and len(code_hash) == 32:
            return nonce, code_hash
    raise ContractError("an EVM account record is malformed")


def encode_account(nonce: int, code_hash: bytes) -> bytes:
    return encode([nonce, code_hash])


class EvmWorld:
    """py-evm's `AccountDatabaseAPI` over one transaction's `Context` (see the module docstring).

    `ctx` is the `evm` namespace, `balances` the `account` namespace (a child call of `ctx`).
    """

    def __init__(self, ctx: Context, balances: Context) -> None:
        self._ctx = ctx
        self._balances = balances
        # Current values, loaded lazily; the journal holds (kind, key, previous value) to undo.
        self._nonces: dict[bytes, int] = {}
        self._code_hashes: dict[bytes, bytes] = {}
        self._balance_values: dict[bytes, int] = {}
        self._storage: dict[tuple[bytes, int], int] = {}
        self._original_storage: dict[tuple[bytes, int], int] = {}
        self._codes: dict[bytes, bytes] = {}
        """Code by hash: what this transaction read or created."""
        self._wiped: set[bytes] = set()
        self._warm_addresses: set[bytes] = set()
        self._warm_slots: set[tuple[bytes, int]] = set()
        self._journal: list[tuple[str, Any, Any]] = []
        self._checkpoints: dict[int, int] = {}
        """Open checkpoint id -> journal length when it was recorded."""
        self.created_code_hashes: list[bytes] = []
        """Code hashes of the code this transaction installed, in order (for governance's approval)."""
        self.storage_keys_read = 0

    # --- py-evm plumbing ------------------------------------------------------------------

    @property
    def state_root(self) -> bytes:
        return BLANK_ROOT

    @state_root.setter
    def state_root(self, value: bytes) -> None:
        pass  # snapshots carry the placeholder root; the journal does the reverting

    def has_root(self, state_root: bytes) -> bool:
        return state_root == BLANK_ROOT

    def make_state_root(self) -> bytes:
        return BLANK_ROOT

    def persist(self) -> Any:
        raise AssertionError("EvmWorld is flushed into the transaction's context, never persisted by py-evm")

    def lock_changes(self) -> None:
        pass  # one world per transaction: the original values are the transaction's start

    def record(self) -> int:
        # Ids from py-evm's own process-wide counter: its transient storage keeps the ids of committed
        # root checkpoints, so ids must never repeat within a world. They never reach state or receipts.
        checkpoint = int(get_next_checkpoint())
        self._checkpoints[checkpoint] = len(self._journal)
        return checkpoint

    def commit(self, checkpoint: int) -> None:
        del self._checkpoints[checkpoint]  # entries stay: an enclosing frame may still revert them

    def discard(self, checkpoint: int) -> None:
        length = self._checkpoints.pop(checkpoint)
        journal = self._journal
        while len(journal) > length:
            kind, key, previous = journal.pop()
            table: Any
            if kind == "nonce":
                table = self._nonces
            elif kind == "code_hash":
                table = self._code_hashes
            elif kind == "balance":
                table = self._balance_values
            elif kind == "slot":
                table = self._storage
            elif kind == "warm_address":
                self._warm_addresses.discard(key)
                continue
            elif kind == "warm_slot":
                self._warm_slots.discard(key)
                continue
            elif kind == "wipe":
                self._wiped.discard(key)
                continue
            else:  # "created"
                self.created_code_hashes.pop()
                continue
            if previous is _MISSING:
                del table[key]
            else:
                table[key] = previous

    # --- accounts -------------------------------------------------------------------------

    def _load_account(self, address: bytes) -> None:
        raw = self._ctx.get_unmetered(compute_account_key(address))
        nonce, code_hash = (0, EMPTY_CODE_HASH) if raw is None else decode_account(raw)
        self._nonces[address] = nonce
        self._code_hashes[address] = code_hash

    def get_nonce(self, address: bytes) -> int:
        nonce = self._nonces.get(address)
        if nonce is None:
            self._load_account(address)
            return self._nonces[address]
        return nonce

    def set_nonce(self, address: bytes, nonce: int) -> None:
        previous = self.get_nonce(address)
        self._journal.append(("nonce", address, previous))
        self._nonces[address] = nonce

    def increment_nonce(self, address: bytes) -> None:
        self.set_nonce(address, self.get_nonce(address) + 1)

    def get_code_hash(self, address: bytes) -> bytes:
        code_hash = self._code_hashes.get(address)
        if code_hash is None:
            self._load_account(address)
            return self._code_hashes[address]
        return code_hash

    def get_code(self, address: bytes) -> bytes:
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_CODE_HASH:
            return b""
        code = self._codes.get(code_hash)
        if code is None:
            code = self._ctx.get_unmetered(compute_code_key(code_hash))
            if code is None:
                raise ContractError(f"the EVM code 0x{code_hash.hex()} of 0x{address.hex()} is missing from state")
            self._codes[code_hash] = code
        return code

    def set_code(self, address: bytes, code: bytes) -> None:
        code_hash = keccak(code)
        self._journal.append(("code_hash", address, self.get_code_hash(address)))
        self._code_hashes[address] = code_hash
        self._codes[code_hash] = code
        if code:
            self._journal.append(("created", None, None))
            self.created_code_hashes.append(code_hash)

    def get_code_by_hash(self, code_hash: bytes) -> bytes:
        """Code this transaction read or installed."""
        return self._codes[code_hash]

    def delete_code(self, address: bytes) -> None:
        self._journal.append(("code_hash", address, self.get_code_hash(address)))
        self._code_hashes[address] = EMPTY_CODE_HASH

    def get_balance(self, address: bytes) -> int:
        balance = self._balance_values.get(address)
        if balance is None:
            raw = self._balances.get_unmetered(BALANCE_PREFIX + address)
            decoded = 0 if raw is None else decode_int(raw)
            if decoded is None or decoded < 0:
                raise ContractError(f"the balance record of 0x{address.hex()} is malformed")
            balance = decoded
            self._balance_values[address] = balance
        return balance

    def set_balance(self, address: bytes, balance: int) -> None:
        previous = self.get_balance(address)
        self._journal.append(("balance", address, previous))
        self._balance_values[address] = balance

    def account_has_code_or_nonce(self, address: bytes) -> bool:
        return self.get_nonce(address) != 0 or self.get_code_hash(address) != EMPTY_CODE_HASH

    def account_exists(self, address: bytes) -> bool:
        # An empty account is an absent one here (EIP-161 deletes empty accounts anyway).
        return not self.account_is_empty(address)

    def account_is_empty(self, address: bytes) -> bool:
        return not self.account_has_code_or_nonce(address) and self.get_balance(address) == 0

    def touch_account(self, address: bytes) -> None:
        pass  # no empty account is ever stored, so touching one changes nothing

    def delete_account(self, address: bytes) -> None:
        self.set_nonce(address, 0)
        self.set_balance(address, 0)
        self.delete_code(address)
        self.delete_storage(address)

    # --- storage --------------------------------------------------------------------------

    def _read_slot(self, address: bytes, slot: int) -> int:
        self.storage_keys_read += 1
        raw = self._ctx.get_unmetered(compute_storage_key(address, slot))
        return 0 if raw is None else int.from_bytes(raw, "big")

    def get_storage(self, address: bytes, slot: int, from_journal: bool = True) -> int:
        key = (address, slot)
        if from_journal:
            value = self._storage.get(key)
            if value is not None:
                return value
            if address in self._wiped:
                return 0
        original = self._original_storage.get(key)
        if original is None:
            original = self._read_slot(address, slot)
            self._original_storage[key] = original
        return original

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        key = (address, slot)
        self._journal.append(("slot", key, self._storage.get(key, _MISSING)))
        self._storage[key] = value

    def delete_storage(self, address: bytes) -> None:
        # Only the slots this transaction wrote can be cleared: the engine deletes storage only of
        # accounts created in this transaction (EIP-6780) or at creation, where nothing was stored before.
        for key in [key for key in self._storage if key[0] == address]:
            self._journal.append(("slot", key, self._storage[key]))
            self._storage[key] = 0
        if address not in self._wiped:
            self._journal.append(("wipe", address, None))
            self._wiped.add(address)

    def is_storage_warm(self, address: bytes, slot: int) -> bool:
        return (address, slot) in self._warm_slots

    def mark_storage_warm(self, address: bytes, slot: int) -> None:
        key = (address, slot)
        if key not in self._warm_slots:
            self._journal.append(("warm_slot", key, None))
            self._warm_slots.add(key)

    def is_address_warm(self, address: bytes) -> bool:
        return address in self._warm_addresses

    def mark_address_warm(self, address: bytes) -> None:
        if address not in self._warm_addresses:
            self._journal.append(("warm_address", address, None))
            self._warm_addresses.add(address)

    # --- the net change -------------------------------------------------------------------

    def flush(self) -> None:
        """Write this transaction's net changes into the contexts it was created with."""
        ctx = self._ctx
        changed_accounts = {key for kind, key, _ in self._journal if kind in ("nonce", "code_hash")}
        for address in sorted(changed_accounts):
            nonce, code_hash = self.get_nonce(address), self.get_code_hash(address)
            if nonce == 0 and code_hash == EMPTY_CODE_HASH:
                ctx.set_unmetered(compute_account_key(address), None)
            else:
                ctx.set_unmetered(compute_account_key(address), encode_account(nonce, code_hash))
            if code_hash != EMPTY_CODE_HASH:
                code_key = compute_code_key(code_hash)
                if ctx.get_unmetered(code_key) is None:
                    ctx.set_unmetered(code_key, self._codes[code_hash])
        for (address, slot), value in sorted(self._storage.items()):
            if value != self.get_storage(address, slot, from_journal=False) or address in self._wiped:
                ctx.set_unmetered(compute_storage_key(address, slot), encode_slot_value(value) if value else None)
        changed_balances = {key for kind, key, _ in self._journal if kind == "balance"}
        for address in sorted(changed_balances):
            balance = self._balance_values[address]
            if balance > BALANCE_MAX:
                raise ContractError(f"the balance of 0x{address.hex()} would exceed {BALANCE_MAX}")
            self._balances.set_unmetered(BALANCE_PREFIX + address, encode_int(balance) if balance else None)
