"""Ethereum transactions (gusu.ledger.ethtx): conformance with py-evm's signed transactions and the
EIP-155 example, and hostile input."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth.vm.forks.cancun.transactions import CancunTransactionBuilder
from eth_keys import keys

from gusu.crypto.ecdsa import keccak256
from gusu.errors import TransactionError, TransactionTooLargeError, WrongChainError
from gusu.ledger.ethtx import (
    ETH_ACCESS_LIST_ENTRIES_MAX,
    ETH_DATA_BYTES_MAX,
    ETH_TRANSACTION_BYTES_MAX,
    SECP256K1_ORDER,
    EthTransactionType,
    _DecodedCache,
    compute_eth_intrinsic_gas,
    decode_eth_transaction,
    encode_rlp,
    validate_eth_intrinsic_gas,
)

CHAIN_ID = 4242
KEY = keys.PrivateKey(bytes([7]) * 32)
TO = bytes(range(1, 21))

# The worked example of EIP-155 (its text gives every value): nonce 9, gas price 20 gwei, gas 21000,
# to 0x35..35, value 1 ether, chain id 1, key 0x46..46.
EIP155_RAW = bytes.fromhex(
    "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a7640000"
    "8025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276"
    "a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
)
EIP155_SENDER = bytes.fromhex("9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f")


def _legacy(chain_id: int | None = CHAIN_ID, **fields: Any) -> Any:
    values = {"nonce": 1, "gas_price": 2, "gas": 30_000, "to": TO, "value": 3, "data": b"\x00\x01"} | fields
    unsigned = CancunTransactionBuilder.create_unsigned_transaction(**values)
    return unsigned.as_signed_transaction(KEY, chain_id=chain_id)


def _access_list_tx(chain_id: int = CHAIN_ID, to: bytes = TO, access_list: Any = ()) -> Any:
    unsigned = CancunTransactionBuilder.new_unsigned_access_list_transaction(
        chain_id, 4, 7, 60_000, to, 5, b"\x60\x00", access_list
    )
    return unsigned.as_signed_transaction(KEY)


def _dynamic_fee_tx(chain_id: int = CHAIN_ID, to: bytes = TO, access_list: Any = ((TO, (1, 2)),)) -> Any:
    unsigned = CancunTransactionBuilder.new_unsigned_dynamic_fee_transaction(
        chain_id, 9, 1, 2, 80_000, to, 6, b"\xff" * 40, access_list
    )
    return unsigned.as_signed_transaction(KEY)


def test_eip155_example_recovers_the_published_sender() -> None:
    transaction = decode_eth_transaction(EIP155_RAW, chain_id=1)
    assert transaction.sender == EIP155_SENDER
    assert transaction.transaction_type == EthTransactionType.LEGACY
    assert (transaction.chain_id, transaction.nonce, transaction.gas_limit) == (1, 9, 21_000)
    assert transaction.max_fee_per_gas == transaction.max_priority_fee_per_gas == 20 * 10**9
    assert transaction.value == 10**18
    assert transaction.to == bytes.fromhex("35" * 20)
    assert transaction.r == 18515461264373351373200002665853028612451056578545711640558177340181847433846
    assert transaction.s == 46948507304638947509940763649030358759909902576025900602547168820602576006531
    assert transaction.transaction_hash == keccak256(EIP155_RAW)


@pytest.mark.parametrize(
    "signed",
    [
        pytest.param(lambda: _legacy(), id="legacy-eip155"),
        pytest.param(lambda: _legacy(to=b""), id="legacy-create"),
        pytest.param(lambda: _access_list_tx(), id="eip2930"),
        pytest.param(lambda: _access_list_tx(to=b"", access_list=((TO, ()),)), id="eip2930-create"),
        pytest.param(lambda: _dynamic_fee_tx(), id="eip1559"),
        pytest.param(lambda: _dynamic_fee_tx(access_list=()), id="eip1559-no-access-list"),
    ],
)
def test_matches_py_evm_sender_hash_and_fields(signed: Any) -> None:
    expected = signed()
    raw = expected.encode()
    transaction = decode_eth_transaction(raw, chain_id=CHAIN_ID)
    assert transaction.sender == expected.sender == KEY.public_key.to_canonical_address()
    assert transaction.transaction_hash == expected.hash
    assert transaction.raw == raw
    assert transaction.nonce == expected.nonce
    assert transaction.gas_limit == expected.gas
    assert transaction.value == expected.value
    assert transaction.data == expected.data
    assert transaction.to == (expected.to or None)
    assert transaction.max_fee_per_gas == expected.max_fee_per_gas
    assert transaction.max_priority_fee_per_gas == expected.max_priority_fee_per_gas
    assert transaction.chain_id == CHAIN_ID
    assert [(entry.address, entry.storage_keys) for entry in transaction.access_list] == [
        (address, tuple(key.to_bytes(32, "big") for key in keys_)) for address, keys_ in expected.access_list
    ]


def test_typed_hash_covers_the_type_byte() -> None:
    raw = _dynamic_fee_tx().encode()
    assert raw[0] == 2
    assert decode_eth_transaction(raw, chain_id=CHAIN_ID).transaction_hash == keccak256(raw)
    assert keccak256(raw) != keccak256(raw[1:])


def test_unprotected_legacy_only_when_allowed() -> None:
    raw = _legacy(chain_id=None).encode()
    with pytest.raises(WrongChainError, match="EIP-155"):
        decode_eth_transaction(raw, chain_id=CHAIN_ID)
    transaction = decode_eth_transaction(raw, chain_id=CHAIN_ID, is_unprotected_allowed=True)
    assert transaction.chain_id is None
    assert transaction.sender == KEY.public_key.to_canonical_address()


@pytest.mark.parametrize("signed", [_legacy, _access_list_tx, _dynamic_fee_tx])
def test_wrong_chain_id_is_refused(signed: Any) -> None:
    with pytest.raises(WrongChainError, match="chain id 4243"):
        decode_eth_transaction(signed(chain_id=CHAIN_ID + 1).encode(), chain_id=CHAIN_ID)


def _typed_fields(raw: bytes) -> list[Any]:
    fields = rlp.decode(raw[1:])
    assert isinstance(fields, list)
    return fields


def _retyped(raw: bytes, fields: list[Any]) -> bytes:
    return raw[:1] + rlp.encode(fields)


def test_high_s_is_refused() -> None:
    raw = _dynamic_fee_tx().encode()
    fields = _typed_fields(raw)
    s = int.from_bytes(fields[-1], "big")
    # (r, n - s) with the other parity is the same signature's malleable twin: valid ECDSA, refused by EIP-2.
    fields[-1] = (SECP256K1_ORDER - s).to_bytes(32, "big")
    fields[-3] = b"" if fields[-3] == b"\x01" else b"\x01"
    with pytest.raises(TransactionError, match="low s"):
        decode_eth_transaction(_retyped(raw, fields), chain_id=CHAIN_ID)


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (-1, b"", "s is out of range"),
        (-2, b"", "r is out of range"),
        (-2, SECP256K1_ORDER.to_bytes(32, "big"), "r is out of range"),
        (-3, b"\x02", "yParity"),
        (1, b"\x00\x01", "leading zero"),
        (1, b"\xff" * 8, "nonce"),
        (4, b"\x01" * 9, "gasLimit"),
        (2, b"\x01" * 33, "maxPriorityFeePerGas"),
        (2, b"\x03", "above maxFeePerGas"),
        (5, b"\x01" * 19, "to is 19 bytes"),
        (6, [b""], "RLP string"),
        (7, b"\x00" * (ETH_DATA_BYTES_MAX + 1), "call data"),
        (8, [[TO, [b"\x01" * 31]]], "32 bytes"),
        (8, [[TO[:19], []]], "address is 19 bytes"),
        (8, [[TO]], r"\[address"),
        (8, [[TO, []]] * (ETH_ACCESS_LIST_ENTRIES_MAX + 1), "the limit is 1024"),
        (8, b"", "access list must be"),
    ],
)
def test_malformed_fields_are_refused(index: int, value: Any, message: str) -> None:
    raw = _dynamic_fee_tx().encode()
    fields = _typed_fields(raw)
    fields[index] = value
    with pytest.raises(TransactionError, match=message):
        decode_eth_transaction(_retyped(raw, fields), chain_id=CHAIN_ID)


def test_tampered_field_changes_the_sender_not_the_check() -> None:
    # ECDSA recovery gives some key for most tampered messages: the sender then differs, which is why
    # the executor's nonce and balance checks are against the recovered sender.
    raw = _dynamic_fee_tx().encode()
    fields = _typed_fields(raw)
    fields[7] = b"\x07"
    try:
        transaction = decode_eth_transaction(_retyped(raw, fields), chain_id=CHAIN_ID)
    except TransactionError:
        return
    assert transaction.sender != KEY.public_key.to_canonical_address()


def test_field_count_and_rlp_shape() -> None:
    raw = _dynamic_fee_tx().encode()
    fields = _typed_fields(raw)
    with pytest.raises(TransactionError, match="11 fields"):
        decode_eth_transaction(_retyped(raw, fields[:-1]), chain_id=CHAIN_ID)
    with pytest.raises(TransactionError, match="not an RLP list"):
        decode_eth_transaction(raw[:1] + rlp.encode(b"abc"), chain_id=CHAIN_ID)
    legacy = rlp.decode(_legacy().encode())
    with pytest.raises(TransactionError, match="10 fields"):
        decode_eth_transaction(rlp.encode([*legacy, b""]), chain_id=CHAIN_ID)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda raw: raw + b"\x00", id="trailing-byte"),
        pytest.param(lambda raw: raw[:-1], id="truncated"),
        pytest.param(lambda raw: raw[:1] + b"\xf9" + raw[2:], id="wrong-length-prefix"),
        pytest.param(lambda raw: raw[:1] + b"\xf9\x00" + raw[2:], id="length-with-leading-zero"),
    ],
)
def test_malformed_rlp_is_refused(mutate: Any) -> None:
    with pytest.raises(TransactionError, match="RLP"):
        decode_eth_transaction(mutate(_dynamic_fee_tx().encode()), chain_id=CHAIN_ID)


def test_non_canonical_single_byte_is_refused() -> None:
    raw = _legacy().encode()
    fields = rlp.decode(raw)
    assert fields[0] == b"\x01"
    # The nonce 1 written as the one-byte string 0x81 0x01 instead of the byte itself.
    body = b"".join([b"\x81\x01", *(rlp.encode(field) for field in fields[1:])])
    hostile = bytes([0xC0 + len(body)]) if len(body) < 56 else bytes([0xF8, len(body)])
    with pytest.raises(TransactionError, match="RLP"):
        decode_eth_transaction(hostile + body, chain_id=CHAIN_ID)


def test_trailing_bytes_on_legacy_are_refused() -> None:
    with pytest.raises(TransactionError, match="RLP"):
        decode_eth_transaction(_legacy().encode() + b"\xc0", chain_id=CHAIN_ID)


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (b"", TransactionError, "empty"),
        (b"\x00" + rlp.encode([]), TransactionError, "unknown Ethereum transaction type 0"),
        (b"\x03" + rlp.encode([]), TransactionError, "EIP-4844"),
        (b"\x04" + rlp.encode([]), TransactionError, "EIP-7702"),
        (b"\x7f" + rlp.encode([]), TransactionError, "unknown Ethereum transaction type 127"),
        (b"\x85hello", TransactionError, "RLP list or a type byte"),
        (b"\x02" * (ETH_TRANSACTION_BYTES_MAX + 1), TransactionTooLargeError, "196608"),
    ],
)
def test_unknown_types_and_sizes_are_refused(raw: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        decode_eth_transaction(raw, chain_id=CHAIN_ID)


def test_deeply_nested_rlp_is_refused_without_crashing() -> None:
    nested = b"\xc0"
    for _ in range(40_000):
        nested = (bytes([0xC0 + len(nested)]) if len(nested) < 56 else _long_list_prefix(len(nested))) + nested
        if len(nested) > ETH_TRANSACTION_BYTES_MAX - 8:
            break
    with pytest.raises(TransactionError):
        decode_eth_transaction(b"\x02" + nested, chain_id=CHAIN_ID)


def _long_list_prefix(length: int) -> bytes:
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size


def test_intrinsic_gas() -> None:
    call = decode_eth_transaction(_dynamic_fee_tx().encode(), chain_id=CHAIN_ID)
    assert compute_eth_intrinsic_gas(call) == 21_000 + 16 * 40 + 2_400 + 2 * 1_900
    create = decode_eth_transaction(_access_list_tx(to=b"").encode(), chain_id=CHAIN_ID)
    assert compute_eth_intrinsic_gas(create) == 21_000 + 32_000 + 2 + 16 + 4
    validate_eth_intrinsic_gas(call)
    short = decode_eth_transaction(_legacy(gas=21_000 + 4 + 15).encode(), chain_id=CHAIN_ID)
    with pytest.raises(TransactionError, match="intrinsic gas 21020"):
        validate_eth_intrinsic_gas(short)


def test_a_decoded_transaction_is_kept_and_the_chain_checks_still_apply() -> None:
    raw = _legacy(nonce=77).encode()
    first = decode_eth_transaction(raw, chain_id=CHAIN_ID)
    again = decode_eth_transaction(bytes(bytearray(raw)), chain_id=None)  # another bytes object, same content
    assert again is first  # not decoded (nor its sender recovered) twice
    with pytest.raises(WrongChainError, match=f"this chain's id is {CHAIN_ID + 1}"):
        decode_eth_transaction(raw, chain_id=CHAIN_ID + 1)
    unprotected = _legacy(chain_id=None, nonce=78).encode()
    assert decode_eth_transaction(unprotected, chain_id=CHAIN_ID, is_unprotected_allowed=True).chain_id is None
    with pytest.raises(WrongChainError, match="no chain id"):
        decode_eth_transaction(unprotected, chain_id=CHAIN_ID)


def test_the_decoded_cache_is_bounded_by_entries_and_bytes() -> None:
    transaction = decode_eth_transaction(_legacy(nonce=79).encode(), chain_id=CHAIN_ID)
    by_entries = _DecodedCache(entries_max=3, bytes_max=10**6)
    for index in range(10):
        by_entries.put(bytes([index]) * 100, transaction)
    assert len(by_entries) == 3
    assert by_entries.get(bytes([9]) * 100) is transaction and by_entries.get(bytes([0]) * 100) is None
    by_bytes = _DecodedCache(entries_max=100, bytes_max=64 * 100)
    for index in range(10):
        by_bytes.put(bytes([index]) * 100, transaction)
    assert len(by_bytes) == 10  # 1,000 bytes of 6,400
    by_bytes.put(b"\xee" * 101, transaction)  # above 1/64 of the byte bound: never kept
    assert by_bytes.get(b"\xee" * 101) is None
    for index in range(10, 80):
        by_bytes.put(bytes([index]) * 100, transaction)
    assert len(by_bytes) == 64


def _rlp_samples() -> list[Any]:
    strings = [b"", b"\x00", b"\x01", b"\x7f", b"\x80", b"\xff", b"a" * 55, b"b" * 56, b"c" * 255, b"d" * 256]
    strings.append(bytes(range(256)) * 257)  # a length of three bytes
    lists: list[Any] = [[], [b""], [b"\x01"] * 55, [b"\x01"] * 56, [b"x" * 54], [b"x" * 55], [[], [[]], [b"\x80"]]]
    lists.append([strings, lists[:], [b"y" * 1000, [b"z" * 70000]]])
    return [*strings, *lists]


@pytest.mark.parametrize("item", _rlp_samples())
def test_encode_rlp_is_pyrlps_encoding(item: Any) -> None:
    encoded = encode_rlp(item)
    assert encoded == rlp.encode(item)
    assert rlp.decode(encoded) == item
