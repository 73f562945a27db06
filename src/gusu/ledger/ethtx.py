"""Ethereum transactions, as an Ethereum wallet signs them: decoding, validation, sender and hash.

Accepted on `ecdsa` chains (issue 10, item 2; docs/evm.md), in the three forms every wallet produces:

* **legacy** ``rlp([nonce, gasPrice, gasLimit, to, value, data, v, r, s])``: with EIP-155 replay
  protection ``v = chain_id * 2 + 35 + y_parity``, signing hash
  ``keccak(rlp([nonce, gasPrice, gasLimit, to, value, data, chain_id, 0, 0]))``; without it
  (``v = 27 + y_parity``, signing hash over the first six fields) only where the caller allows it;
* **EIP-2930** (type 1) ``0x01 || rlp([chainId, nonce, gasPrice, gasLimit, to, value, data,
  accessList, yParity, r, s])``;
* **EIP-1559** (type 2) ``0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas,
  gasLimit, to, value, data, accessList, yParity, r, s])``;

a typed transaction's signing hash is ``keccak(type || rlp(the fields before yParity))``. The
transaction hash is keccak-256 of the raw bytes as sent (for a typed transaction, of
``type || payload``), which is what wallets, explorers and the ``eth_*`` JSON-RPC call it.

Decoding is strict: canonical RLP only (the `rlp` library refuses non-minimal lengths and trailing
bytes), integers without leading zero bytes, every field within a named bound, the raw size bounded
before anything is parsed, signatures with ``s`` in the lower half of the curve order (EIP-2), and
the chain id checked against the chain's. The sender is the address recovered from the signature
(the last 20 bytes of keccak-256 of the public key), the same address an `ecdsa` Gusu account has.

Other transaction types (EIP-4844 blobs, EIP-7702 delegations) are refused by name.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

import coincurve
import rlp

from gusu.codec import decode_list, encode, expect_bytes
from gusu.crypto.ecdsa import keccak256
from gusu.errors import TransactionError, TransactionTooLargeError, WrongChainError
from gusu.ledger.types import ADDRESS_SIZE, Address, Hash, Transaction, decode_transaction

ETH_TRANSACTION_BYTES_MAX = 192 * 1024
"""Raw size of one Ethereum transaction: the call-data bound plus room for the access list and the
other fields. Checked before any parsing."""
ETH_DATA_BYTES_MAX = 128 * 1024
"""Call data (or init code) of one transaction; the chain's EVM settings may bound it further."""
ETH_ACCESS_LIST_ENTRIES_MAX = 1024
"""Addresses in one access list."""
ETH_ACCESS_LIST_KEYS_MAX = 4096
"""Storage keys in one access list, all entries together."""
ETH_NONCE_MAX = 2**64 - 2
"""EIP-2681: a nonce is below 2**64 - 1, so that it can still be incremented."""
ETH_GAS_LIMIT_MAX = 2**64 - 1
ETH_UINT256_MAX = 2**256 - 1
"""Bound of gas prices, fees and value, as Ethereum has them."""
ETH_CHAIN_ID_MAX = 2**64 - 1
"""Bound of the chain id field (a chain's own id is at most 2**53 - 1, see `gusu.execution.evm.settings`)."""

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_ORDER = SECP256K1_ORDER // 2

LEGACY_V_BASE = 27
"""v of a legacy transaction without EIP-155: 27 + y_parity."""
EIP155_V_OFFSET = 35
"""v of an EIP-155 transaction: chain_id * 2 + 35 + y_parity."""

_TYPED_FIELD_COUNTS = {1: 11, 2: 12}
_LEGACY_FIELD_COUNT = 9


class EthTransactionType(IntEnum):
    LEGACY = 0
    ACCESS_LIST = 1
    """EIP-2930."""
    DYNAMIC_FEE = 2
    """EIP-1559."""


_REFUSED_TYPES = {3: "EIP-4844 blob transactions", 4: "EIP-7702 set-code transactions"}


@dataclass(frozen=True, slots=True)
class EthAccessListEntry:
    address: Address
    storage_keys: tuple[bytes, ...]
    """32 bytes each."""


@dataclass(frozen=True, slots=True)
class EthTransaction:
    """A decoded, signature-checked Ethereum transaction."""

    transaction_type: EthTransactionType
    chain_id: int | None
    """None only for a legacy transaction without EIP-155 replay protection."""
    nonce: int
    max_priority_fee_per_gas: int
    """The tip offered per gas; a legacy or EIP-2930 transaction offers its gas price."""
    max_fee_per_gas: int
    """The most it pays per gas; a legacy or EIP-2930 transaction's gas price."""
    gas_limit: int
    to: Address | None
    """None for a contract creation."""
    value: int
    data: bytes
    access_list: tuple[EthAccessListEntry, ...]
    y_parity: int
    r: int
    s: int
    sender: Address
    """Recovered from the signature."""
    transaction_hash: Hash
    """keccak-256 of `raw`."""
    raw: bytes

    @property
    def is_create(self) -> bool:
        return self.to is None


def compute_eth_transaction_hash(raw: bytes) -> Hash:
    """The transaction hash Ethereum defines: keccak-256 of the raw transaction (type byte included)."""
    return Hash(keccak256(raw))


ETH_DECODED_CACHE_ENTRIES_MAX = 65_536
"""Decoded Ethereum transactions a process keeps, by raw bytes (`decode_eth_transaction`)."""
ETH_DECODED_CACHE_BYTES_MAX = 64 * 1024 * 1024
"""Raw bytes those entries may hold together; a transaction above 1/64 of it is never kept."""


class _DecodedCache:
    """Least recently used decoded transactions by raw bytes; shared by the node's threads (hence the lock)."""

    def __init__(self, entries_max: int, bytes_max: int) -> None:
        self._entries: OrderedDict[bytes, EthTransaction] = OrderedDict()
        self._entries_max = entries_max
        self._bytes_max = bytes_max
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, raw: bytes) -> EthTransaction | None:
        with self._lock:
            transaction = self._entries.get(raw)
            if transaction is not None:
                self._entries.move_to_end(raw)
            return transaction

    def put(self, raw: bytes, transaction: EthTransaction) -> None:
        if len(raw) > self._bytes_max // 64:
            return
        with self._lock:
            if raw in self._entries:
                return
            self._entries[raw] = transaction
            self._bytes += len(raw)
            while len(self._entries) > self._entries_max or self._bytes > self._bytes_max:
                evicted, _ = self._entries.popitem(last=False)
                self._bytes -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)


_decoded = _DecodedCache(ETH_DECODED_CACHE_ENTRIES_MAX, ETH_DECODED_CACHE_BYTES_MAX)

_UNPROTECTED_MESSAGE = (
    "the legacy transaction has no chain id (it is not EIP-155 protected) and could be replayed "
    "on any chain; sign it with this chain's id (eth_chainId)"
)


def decode_eth_transaction(raw: bytes, *, chain_id: int | None, is_unprotected_allowed: bool = False) -> EthTransaction:
    """Decode and check raw transaction `raw` for the chain whose EVM chain id is `chain_id`.

    `chain_id` None accepts any chain id the transaction is signed for (the block rules decode this
    way, since they hold no EVM chain id; the executor then refuses another chain's transaction).

    Raises TransactionTooLargeError over ETH_TRANSACTION_BYTES_MAX, WrongChainError for another
    chain's transaction (or, unless `is_unprotected_allowed`, a legacy one without a chain id), and
    TransactionError for anything else malformed. Stateless: the nonce, balance and fee policy are
    the executor's to check.

    A node decodes the same transaction at admission, in blocks and in every query that shows it
    (receipts, blocks, lookups by hash), and recovering the sender is most of the cost; so what was
    decoded is kept (`ETH_DECODED_CACHE_ENTRIES_MAX`, by raw bytes: the result depends on nothing
    else) and only the chain-id checks run again.
    """
    if isinstance(raw, bytes):
        cached = _decoded.get(raw)
        if cached is not None:
            if cached.chain_id is None:
                if not is_unprotected_allowed:
                    raise WrongChainError(_UNPROTECTED_MESSAGE)
            else:
                _validate_chain_id(cached.chain_id, chain_id)
            return cached
    transaction = _decode_eth_transaction(raw, chain_id, is_unprotected_allowed)
    _decoded.put(raw, transaction)
    return transaction


def remember_recovered_sender(raw: bytes, sender: Address) -> bool:
    """Decode `raw` with `sender` as the account its signature recovers, recovered elsewhere, and keep it
    for `decode_eth_transaction`; False (nothing kept) if `raw` is malformed or already kept.

    For a node's own RPC gateway processes (`gusu.api.gateway`), which recover the senders of the
    transactions they forward on another core: recovering is most of the cost of decoding. Only a process of
    the node's own may supply `sender` (it is not checked: checking costs what recovering does); the chain-id
    checks still run when the transaction is decoded for a chain."""
    if not isinstance(raw, bytes) or _decoded.get(raw) is not None:
        return False
    try:
        transaction = _decode_eth_transaction(raw, None, True, sender)
    except (TransactionError, TransactionTooLargeError):
        return False
    _decoded.put(raw, transaction)
    return True


def _decode_eth_transaction(
    raw: bytes, chain_id: int | None, is_unprotected_allowed: bool, sender: Address | None = None
) -> EthTransaction:
    if not isinstance(raw, bytes):
        raise TransactionError("a raw Ethereum transaction is bytes")
    if len(raw) > ETH_TRANSACTION_BYTES_MAX:
        raise TransactionTooLargeError(
            f"the Ethereum transaction is {len(raw)} bytes; the limit is {ETH_TRANSACTION_BYTES_MAX}"
        )
    if not raw:
        raise TransactionError("the Ethereum transaction is empty")
    first = raw[0]
    if first >= 0xC0:
        return _decode_legacy(raw, chain_id, is_unprotected_allowed, sender)
    if first in _TYPED_FIELD_COUNTS:
        return _decode_typed(raw, EthTransactionType(first), chain_id, sender)
    if first in _REFUSED_TYPES:
        raise TransactionError(f"transaction type {first} ({_REFUSED_TYPES[first]}) is not supported on Gusu")
    if first <= 0x7F:
        raise TransactionError(f"unknown Ethereum transaction type {first}; Gusu accepts legacy, 1 and 2")
    raise TransactionError("a raw Ethereum transaction is an RLP list or a type byte followed by one")


def _decode_rlp_list(payload: bytes, count: int, what: str) -> list[object]:
    try:
        items = rlp.decode(payload, strict=True)
    except rlp.DecodingError as error:
        raise TransactionError(f"the {what} is not canonical RLP: {_short(error)}") from None
    except RecursionError:
        raise TransactionError(f"the {what} nests RLP lists too deeply") from None
    if not isinstance(items, list):
        raise TransactionError(f"the {what} is not an RLP list")
    if len(items) != count:
        raise TransactionError(f"the {what} has {len(items)} fields; it must have {count}")
    return items


def _short(error: Exception) -> str:
    return str(error.args[0] if error.args else error)[:200]


def _decode_legacy(
    raw: bytes, expected_chain_id: int | None, is_unprotected_allowed: bool, sender: Address | None
) -> EthTransaction:
    items = _decode_rlp_list(raw, _LEGACY_FIELD_COUNT, "legacy transaction")
    nonce = _get_nonce(items[0])
    gas_price = _get_uint(items[1], "gasPrice", ETH_UINT256_MAX)
    gas_limit = _get_uint(items[2], "gasLimit", ETH_GAS_LIMIT_MAX)
    to = _get_to(items[3])
    value = _get_uint(items[4], "value", ETH_UINT256_MAX)
    data = _get_data(items[5])
    v = _get_uint(items[6], "v", 2 * ETH_CHAIN_ID_MAX + EIP155_V_OFFSET + 1)
    r, s = _get_signature_values(items[7], items[8])
    unsigned = items[:6]
    chain_id: int | None
    if v in (LEGACY_V_BASE, LEGACY_V_BASE + 1):
        if not is_unprotected_allowed:
            raise WrongChainError(_UNPROTECTED_MESSAGE)
        chain_id, y_parity = None, v - LEGACY_V_BASE
    elif v >= EIP155_V_OFFSET:
        chain_id, y_parity = (v - EIP155_V_OFFSET) // 2, (v - EIP155_V_OFFSET) % 2
        unsigned = [*items[:6], _encode_uint(chain_id), b"", b""]
    else:
        raise TransactionError(f"the legacy transaction's v is {v}; it must be 27, 28 or chain_id * 2 + 35 or 36")
    if chain_id is not None:
        _validate_chain_id(chain_id, expected_chain_id)
    if sender is None:  # the signing payload serves only to recover the sender
        sender = _recover_sender(keccak256(encode_rlp(cast(list[RlpItem], unsigned))), y_parity, r, s)
    return EthTransaction(
        transaction_type=EthTransactionType.LEGACY,
        chain_id=chain_id,
        nonce=nonce,
        max_priority_fee_per_gas=gas_price,
        max_fee_per_gas=gas_price,
        gas_limit=gas_limit,
        to=to,
        value=value,
        data=data,
        access_list=(),
        y_parity=y_parity,
        r=r,
        s=s,
        sender=sender,
        transaction_hash=compute_eth_transaction_hash(raw),
        raw=raw,
    )


def _decode_typed(
    raw: bytes, transaction_type: EthTransactionType, expected_chain_id: int | None, sender: Address | None
) -> EthTransaction:
    what = f"type {int(transaction_type)} transaction"
    items = _decode_rlp_list(raw[1:], _TYPED_FIELD_COUNTS[transaction_type], what)
    chain_id = _get_uint(items[0], "chainId", ETH_CHAIN_ID_MAX)
    _validate_chain_id(chain_id, expected_chain_id)
    nonce = _get_nonce(items[1])
    if transaction_type == EthTransactionType.ACCESS_LIST:
        max_priority_fee = max_fee = _get_uint(items[2], "gasPrice", ETH_UINT256_MAX)
        rest = items[3:]
    else:
        max_priority_fee = _get_uint(items[2], "maxPriorityFeePerGas", ETH_UINT256_MAX)
        max_fee = _get_uint(items[3], "maxFeePerGas", ETH_UINT256_MAX)
        if max_priority_fee > max_fee:
            raise TransactionError(
                f"maxPriorityFeePerGas ({max_priority_fee}) is above maxFeePerGas ({max_fee}); EIP-1559 forbids it"
            )
        rest = items[4:]
    gas_limit = _get_uint(rest[0], "gasLimit", ETH_GAS_LIMIT_MAX)
    to = _get_to(rest[1])
    value = _get_uint(rest[2], "value", ETH_UINT256_MAX)
    data = _get_data(rest[3])
    access_list = _get_access_list(rest[4])
    y_parity = _get_uint(rest[5], "yParity", 1)
    r, s = _get_signature_values(rest[6], rest[7])
    if sender is None:  # the signing payload serves only to recover the sender
        signing_hash = keccak256(bytes([transaction_type]) + encode_rlp(cast(list[RlpItem], items[:-3])))
        sender = _recover_sender(signing_hash, y_parity, r, s)
    return EthTransaction(
        transaction_type=transaction_type,
        chain_id=chain_id,
        nonce=nonce,
        max_priority_fee_per_gas=max_priority_fee,
        max_fee_per_gas=max_fee,
        gas_limit=gas_limit,
        to=to,
        value=value,
        data=data,
        access_list=access_list,
        y_parity=y_parity,
        r=r,
        s=s,
        sender=sender,
        transaction_hash=compute_eth_transaction_hash(raw),
        raw=raw,
    )


RlpItem = bytes | list["RlpItem"]


def encode_rlp(item: RlpItem) -> bytes:
    """The RLP encoding of a byte string or a list of items (RLP is canonical: one encoding per item).

    The signing payload of every transaction admitted is encoded again from its decoded fields; this does
    for byte strings and lists what pyrlp's `rlp.encode` does for them, without its sedes inference
    (about a tenth of the time), and tests/ledger/test_ethtx.py compares the two."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _encode_rlp_length(len(item), 0x80) + item
    payload = b"".join([encode_rlp(element) for element in item])
    return _encode_rlp_length(len(payload), 0xC0) + payload


def _encode_rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    length_bytes = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(length_bytes)]) + length_bytes


def _validate_chain_id(chain_id: int, expected_chain_id: int | None) -> None:
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise WrongChainError(
            f"the transaction is signed for chain id {chain_id}; this chain's id is {expected_chain_id} "
            "(eth_chainId): sign it for this chain"
        )


def _encode_uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _get_bytes(item: object, name: str) -> bytes:
    if not isinstance(item, bytes):
        raise TransactionError(f"the field {name} must be an RLP string, found a list")
    return item


def _get_uint(item: object, name: str, maximum: int) -> int:
    raw = _get_bytes(item, name)
    if raw[:1] == b"\x00":
        raise TransactionError(f"the integer {name} has leading zero bytes (not canonical RLP)")
    if len(raw) > (maximum.bit_length() + 7) // 8:
        raise TransactionError(f"the integer {name} is {len(raw)} bytes; the largest {name} is {maximum}")
    value = int.from_bytes(raw, "big")
    if value > maximum:
        raise TransactionError(f"{name} is {value}; the largest {name} is {maximum}")
    return value


def _get_nonce(item: object) -> int:
    return _get_uint(item, "nonce", ETH_NONCE_MAX)


def _get_to(item: object) -> Address | None:
    raw = _get_bytes(item, "to")
    if not raw:
        return None
    if len(raw) != ADDRESS_SIZE:
        raise TransactionError(f"the field to is {len(raw)} bytes; an address is {ADDRESS_SIZE} (or empty to create)")
    return Address(raw)


def _get_data(item: object) -> bytes:
    raw = _get_bytes(item, "data")
    if len(raw) > ETH_DATA_BYTES_MAX:
        raise TransactionTooLargeError(f"the call data is {len(raw)} bytes; the limit is {ETH_DATA_BYTES_MAX}")
    return raw


def _get_access_list(item: object) -> tuple[EthAccessListEntry, ...]:
    if not isinstance(item, list):
        raise TransactionError("the access list must be an RLP list")
    if len(item) > ETH_ACCESS_LIST_ENTRIES_MAX:
        raise TransactionError(f"the access list has {len(item)} addresses; the limit is {ETH_ACCESS_LIST_ENTRIES_MAX}")
    entries: list[EthAccessListEntry] = []
    keys_total = 0
    for entry in item:
        if not isinstance(entry, list) or len(entry) != 2:
            raise TransactionError("an access list entry must be [address, [storageKey, ...]]")
        address = _get_bytes(entry[0], "access list address")
        if len(address) != ADDRESS_SIZE:
            raise TransactionError(f"an access list address is {len(address)} bytes; it must be {ADDRESS_SIZE}")
        keys = entry[1]
        if not isinstance(keys, list):
            raise TransactionError("an access list entry's storage keys must be an RLP list")
        keys_total += len(keys)
        if keys_total > ETH_ACCESS_LIST_KEYS_MAX:
            raise TransactionError(f"the access list has more than {ETH_ACCESS_LIST_KEYS_MAX} storage keys")
        for key in keys:
            if not isinstance(key, bytes) or len(key) != 32:
                raise TransactionError("an access list storage key must be 32 bytes")
        entries.append(EthAccessListEntry(Address(address), tuple(keys)))
    return tuple(entries)


def _get_signature_values(r_item: object, s_item: object) -> tuple[int, int]:
    r = _get_uint(r_item, "r", ETH_UINT256_MAX)
    s = _get_uint(s_item, "s", ETH_UINT256_MAX)
    if not 1 <= r < SECP256K1_ORDER:
        raise TransactionError("the signature's r is out of range")
    if not 1 <= s <= SECP256K1_HALF_ORDER:
        raise TransactionError(
            "the signature's s is out of range or in the upper half of the curve order (EIP-2 requires low s); "
            "sign with a current wallet"
        )
    return r, s


def _recover_sender(signing_hash: bytes, y_parity: int, r: int, s: int) -> Address:
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(signature, signing_hash, hasher=None)
    except Exception:  # coincurve raises a bare Exception (or ValueError) for an unrecoverable signature
        raise TransactionError("the signature does not recover a public key") from None
    return Address(keccak256(public_key.format(compressed=False)[1:])[-ADDRESS_SIZE:])


def encode_signed_legacy_transaction(
    secret: bytes,
    *,
    chain_id: int,
    nonce: int,
    gas_price: int,
    gas_limit: int,
    to: bytes | None,
    value: int,
    data: bytes,
) -> bytes:
    """The raw EIP-155 legacy transaction a wallet holding secp256k1 key `secret` signs (for benchmarks and
    tools that drive the chain the way wallets do; libsecp256k1 signs with a low s, as EIP-2 asks)."""
    to_field = b"" if to is None else to
    signing_hash = keccak256(rlp.encode([nonce, gas_price, gas_limit, to_field, value, data, chain_id, 0, 0]))
    signature = coincurve.PrivateKey(secret).sign_recoverable(signing_hash, hasher=None)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    v = chain_id * 2 + EIP155_V_OFFSET + signature[64]
    return bytes(rlp.encode([nonce, gas_price, gas_limit, to_field, value, data, v, r, s]))


def compute_eth_address(secret: bytes) -> Address:
    """The Ethereum address of secp256k1 key `secret`: the last 20 bytes of keccak-256 of its public key."""
    public_key = coincurve.PrivateKey(secret).public_key.format(compressed=False)
    return Address(keccak256(public_key[1:])[-ADDRESS_SIZE:])


def compute_eth_intrinsic_gas(transaction: EthTransaction) -> int:
    """Ethereum's intrinsic gas (Cancun): 21,000, 32,000 more and 2 per init-code word for a creation
    (EIP-3860), 4/16 per zero/non-zero data byte (EIP-2028), 2,400 per access-list address and 1,900
    per storage key (EIP-2930)."""
    data = transaction.data
    zero_bytes = data.count(0)
    gas = 21_000 + 4 * zero_bytes + 16 * (len(data) - zero_bytes)
    if transaction.is_create:
        gas += 32_000 + 2 * ((len(data) + 31) // 32)
    for entry in transaction.access_list:
        gas += 2_400 + 1_900 * len(entry.storage_keys)
    return gas


def validate_eth_intrinsic_gas(transaction: EthTransaction) -> None:
    intrinsic = compute_eth_intrinsic_gas(transaction)
    if transaction.gas_limit < intrinsic:
        raise TransactionError(
            f"the gas limit {transaction.gas_limit} is below the transaction's intrinsic gas {intrinsic}"
        )


# --- in blocks ---------------------------------------------------------------------------------

TAG_ETH_TRANSACTION = "gusu.ethtx.v1"
"""The kind tag of an Ethereum transaction in a block's transaction list: the item is the canonical
``[TAG_ETH_TRANSACTION, raw]``. A Gusu transaction's item is its own encoding (tag ``gusu.tx.v1``),
unchanged, so blocks that hold only Gusu transactions encode exactly as before."""

_ETH_BLOCK_ITEM_PREFIX = encode([TAG_ETH_TRANSACTION, b""])[:-2]
"""The bytes every Ethereum item starts with (a two-item list, then the tag): how a reader tells the
kinds apart without decoding."""


def encode_eth_block_item(raw: bytes) -> bytes:
    """The block item that carries raw Ethereum transaction `raw`."""
    return encode([TAG_ETH_TRANSACTION, raw])


def is_eth_block_item(item: bytes) -> bool:
    """Whether block item `item` carries an Ethereum transaction (else it is a Gusu transaction's encoding)."""
    return item.startswith(_ETH_BLOCK_ITEM_PREFIX)


def decode_eth_block_item(item: bytes) -> bytes:
    """The raw Ethereum transaction an item carries; CodecError unless `item` is canonical and of this kind."""
    fields = decode_list(item, TAG_ETH_TRANSACTION, 2)
    return expect_bytes(fields[1], "raw Ethereum transaction", size_max=ETH_TRANSACTION_BYTES_MAX)


def decode_block_item(item: bytes) -> Transaction | EthTransaction:
    """A block's transaction from its item: a Gusu transaction, or an Ethereum one decoded and its
    sender recovered (for any chain id; the executor refuses another chain's). CodecError or
    TransactionError (a `GusuError`) if malformed. A Gusu transaction's signature is not checked here."""
    if is_eth_block_item(item):
        return decode_eth_transaction(decode_eth_block_item(item), chain_id=None)
    return decode_transaction(item)


BLOOM_ITEMS_CACHED = 4096
"""Addresses and topics whose logs-bloom bits are kept: a token's address and event signature recur in every log
of it, and the bits cost a keccak each."""


@functools.lru_cache(maxsize=BLOOM_ITEMS_CACHED)
def compute_bloom_bits(item: bytes) -> int:
    """The three bloom bits of one address or topic, as an integer (bit 0 is the bloom's last bit)."""
    digest = keccak256(item)
    return (
        (1 << (int.from_bytes(digest[0:2], "big") & 2047))
        | (1 << (int.from_bytes(digest[2:4], "big") & 2047))
        | (1 << (int.from_bytes(digest[4:6], "big") & 2047))
    )
