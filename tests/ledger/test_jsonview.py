"""The JSON view of ledger records: every mapping round-trips, and bad JSON is refused.

Round trips go through real JSON text (orjson, as node and SDK use), so
what is checked is what crosses the wire. Values are compared by their
canonical encoding, which tells ``True`` from ``1`` where ``==`` does not.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gusu.codec import Value, encode
from gusu.codec.canonical import INT_MIN, NESTING_DEPTH_MAX, UINT_MAX
from gusu.errors import CodecError
from gusu.ledger.jsonview import (
    JSON,
    block_from_json,
    block_to_json,
    bytes_to_hex,
    certificate_from_json,
    certificate_to_json,
    header_from_json,
    header_to_json,
    hex_to_bytes,
    inclusion_proof_from_json,
    inclusion_proof_to_json,
    receipt_from_json,
    receipt_to_json,
    transaction_from_json,
    transaction_to_json,
    value_from_json,
    value_to_json,
)
from gusu.ledger.merkle import InclusionProof
from gusu.ledger.types import (
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Event,
    Hash,
    Height,
    Receipt,
    ReceiptStatus,
    Round,
    Transaction,
    encode_header,
    encode_receipt,
    encode_transaction,
)

# --- strategies ----------------------------------------------------------------------

names = st.text(max_size=64)
uints = st.integers(min_value=0, max_value=UINT_MAX)
hashes = st.binary(min_size=32, max_size=32).map(Hash)
addresses = st.binary(min_size=20, max_size=20).map(Address)
heights = uints.map(Height)
values: st.SearchStrategy[Value] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=INT_MIN, max_value=UINT_MAX)
    | st.binary(max_size=40)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5),
    max_leaves=25,
)
encoded_values = values.map(encode)

transactions = st.builds(
    Transaction,
    chain_id=names,
    nonce=uints,
    valid_until_height=heights,
    sender_public_key=st.binary(min_size=33, max_size=65),
    contract=names,
    method=names,
    args=st.lists(values, max_size=5).map(encode),
    signature=st.binary(min_size=64, max_size=64),
)
transaction_entries = st.tuples(transactions, hashes, addresses)
events = st.builds(Event, contract=names, name=names, data=encoded_values)
receipts = st.builds(
    Receipt,
    transaction_id=hashes,
    status=st.sampled_from(ReceiptStatus),
    return_value=encoded_values,
    events=st.lists(events, max_size=4).map(tuple),
    gas_used=uints,
    error_code=names,
    error_message=st.text(max_size=200),
)
locations = st.none() | st.tuples(heights, st.integers(min_value=0, max_value=100_000), hashes)
headers = st.builds(
    BlockHeader,
    chain_id=names,
    height=heights,
    parent_hash=hashes,
    timestamp_ms=uints,
    proposer=addresses,
    transactions_root=hashes,
    receipts_root=hashes,
    state_root=hashes,
    validators_hash=hashes,
    next_validators_hash=hashes,
    transaction_count=st.integers(min_value=0, max_value=100_000),
)
certificates = st.builds(
    CommitCertificate,
    height=heights,
    round=uints.map(Round),
    block_hash=hashes,
    signatures=st.lists(
        st.builds(
            CommitSignature,
            validator=addresses,
            timestamp_ms=uints,
            signature=st.binary(min_size=64, max_size=64),
        ),
        max_size=4,
    ).map(tuple),
)


def over_the_wire(document: JSON) -> Any:
    return orjson.loads(orjson.dumps(document))


# --- round trips ---------------------------------------------------------------------


@given(values)
def test_values_round_trip(value: Value) -> None:
    assert encode(value_from_json(over_the_wire(value_to_json(value)))) == encode(value)


@given(st.binary(max_size=100))
def test_hex_round_trips(data: bytes) -> None:
    text = bytes_to_hex(data)
    assert text == text.lower() and text.startswith("0x")
    assert hex_to_bytes(text) == data
    assert hex_to_bytes("0x" + text[2:].upper()) == data


@given(transaction_entries)
def test_transactions_round_trip(entry: tuple[Transaction, Hash, Address]) -> None:
    tx, transaction_id, sender = entry
    back = transaction_from_json(over_the_wire(transaction_to_json(tx, transaction_id, sender)))
    assert back == entry
    assert encode_transaction(back[0]) == encode_transaction(tx)


@given(receipts, locations)
def test_receipts_round_trip(receipt: Receipt, location: tuple[Height, int, Hash] | None) -> None:
    back, back_location = receipt_from_json(over_the_wire(receipt_to_json(receipt, location)))
    assert back == receipt
    assert back_location == location
    # The leaf a receipt proof checks is the hash of exactly these bytes.
    assert encode_receipt(back) == encode_receipt(receipt)


@given(headers)
def test_headers_round_trip(header: BlockHeader) -> None:
    back = header_from_json(over_the_wire(header_to_json(header)))
    assert back == header
    assert encode_header(back) == encode_header(header)


@given(certificates)
def test_certificates_round_trip(certificate: CommitCertificate) -> None:
    assert certificate_from_json(over_the_wire(certificate_to_json(certificate))) == certificate


@given(headers, hashes, st.lists(hashes, max_size=6), st.none() | certificates)
def test_blocks_with_ids_round_trip(
    header: BlockHeader, block_hash: Hash, ids: list[Hash], certificate: CommitCertificate | None
) -> None:
    document = over_the_wire(block_to_json(header, block_hash, ids, certificate))
    assert all(isinstance(item, str) for item in document["transactions"])
    assert block_from_json(document) == (header, block_hash, tuple(ids), (), certificate)


@given(headers, hashes, st.lists(transaction_entries, min_size=1, max_size=4), st.none() | certificates)
def test_blocks_with_full_transactions_round_trip(
    header: BlockHeader,
    block_hash: Hash,
    entries: list[tuple[Transaction, Hash, Address]],
    certificate: CommitCertificate | None,
) -> None:
    document = over_the_wire(block_to_json(header, block_hash, entries, certificate))
    ids = tuple(entry[1] for entry in entries)
    assert block_from_json(document) == (header, block_hash, ids, tuple(entries), certificate)


@given(headers, hashes, st.data(), st.sampled_from(["transactions_root", "receipts_root"]))
def test_inclusion_proofs_round_trip(header: BlockHeader, block_hash: Hash, data: st.DataObject, root: Any) -> None:
    count = data.draw(st.integers(min_value=1, max_value=1000))
    proof = InclusionProof(
        leaf_index=data.draw(st.integers(min_value=0, max_value=count - 1)),
        leaf_count=count,
        path=tuple(data.draw(st.lists(hashes, max_size=10))),
    )
    document = over_the_wire(inclusion_proof_to_json(header, block_hash, proof, root))
    assert inclusion_proof_from_json(document, root) == (header, block_hash, proof)


# --- strictness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "0x0", "00ff", "0X00", "0x 00", " 0x00", "0x00\n", "0xzz", "0x+1", "0x٠٠", "0x0_0"],
)
def test_hex_to_bytes_rejects_loose_spellings(text: str) -> None:
    with pytest.raises(CodecError, match="hex"):
        hex_to_bytes(text)


@pytest.mark.parametrize("value", [None, 12, b"\x00", ["0x00"]])
def test_hex_to_bytes_rejects_non_strings(value: object) -> None:
    with pytest.raises(CodecError, match="must be a 0x-prefixed hex string"):
        hex_to_bytes(value)


def test_hex_to_bytes_checks_the_expected_size() -> None:
    assert hex_to_bytes("0x" + "ab" * 20, 20) == b"\xab" * 20
    with pytest.raises(CodecError, match="must be 32 bytes, found 20"):
        hex_to_bytes("0x" + "ab" * 20, 32, what="block hash")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (1.5, "floats are not canonical"),
        ([1, [2.0]], "floats are not canonical"),
        ({"hex": "0x00", "extra": 1}, "the only object allowed"),
        ({"bytes": "0x00"}, "the only object allowed"),
        ({}, "the only object allowed"),
        ({"hex": "00"}, "hex digits"),
        ({"hex": 5}, "hex string"),
        (UINT_MAX + 1, "outside the 64-bit range"),
        (INT_MIN - 1, "outside the 64-bit range"),
    ],
)
def test_value_from_json_rejects_what_has_no_canonical_value(document: Any, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        value_from_json(document)


def test_value_nesting_is_limited_both_ways() -> None:
    deep: Any = 0
    for _ in range(NESTING_DEPTH_MAX + 2):
        deep = [deep]
    with pytest.raises(CodecError, match="nests deeper"):
        value_from_json(deep)
    with pytest.raises(CodecError, match="nests deeper"):
        value_to_json(deep)


@pytest.mark.parametrize("value", [(1, 2), {"a": 1}, 1.0, bytearray(b"x")])
def test_value_to_json_rejects_non_values(value: Any) -> None:
    with pytest.raises(CodecError, match="not a canonical value"):
        value_to_json(value)


def _sample_receipt() -> Receipt:
    return Receipt(
        transaction_id=Hash(b"\x01" * 32),
        status=ReceiptStatus.SUCCESS,
        return_value=encode(True),
        events=(Event("account", "Transfer", encode([b"\x02" * 20, 5])),),
        gas_used=2100,
        error_code="",
        error_message="",
    )


def test_receipt_json_has_the_documented_shape() -> None:
    document = receipt_to_json(_sample_receipt(), (Height(12), 0, Hash(b"\x03" * 32)))
    assert document == {
        "transaction_id": "0x" + "01" * 32,
        "status": "success",
        "return_value": True,
        "events": [{"contract": "account", "name": "Transfer", "data": [{"hex": "0x" + "02" * 20}, 5]}],
        "gas_used": 2100,
        "error_code": "",
        "error_message": "",
        "height": 12,
        "index": 0,
        "block_hash": "0x" + "03" * 32,
    }
    assert "height" not in receipt_to_json(_sample_receipt(), None)


def test_receipt_location_must_be_complete() -> None:
    document = receipt_to_json(_sample_receipt(), (Height(12), 0, Hash(b"\x03" * 32)))
    del document["block_hash"]
    with pytest.raises(CodecError, match="all of height, index and block_hash"):
        receipt_from_json(document)


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("status", "ok", "must be 'success' or 'failed'"),
        ("gas_used", -1, "between 0 and"),
        ("gas_used", True, "must be an integer"),
        ("gas_used", 2100.0, "must be an integer"),
        ("transaction_id", "0x01", "must be 32 bytes"),
        ("events", {}, "must be a JSON array"),
        ("return_value", 0.5, "floats are not canonical"),
    ],
)
def test_receipt_from_json_names_the_bad_field(field: str, bad: Any, message: str) -> None:
    document = receipt_to_json(_sample_receipt(), None)
    document[field] = bad
    with pytest.raises(CodecError, match=message):
        receipt_from_json(document)


def test_missing_fields_are_named() -> None:
    document = receipt_to_json(_sample_receipt(), None)
    del document["gas_used"]
    with pytest.raises(CodecError, match="receipt lacks the field 'gas_used'"):
        receipt_from_json(document)


def test_unknown_fields_are_ignored() -> None:
    document = receipt_to_json(_sample_receipt(), None)
    document["added_in_a_later_version"] = {"anything": 1.5}
    assert receipt_from_json(document) == (_sample_receipt(), None)


def test_records_holding_non_canonical_bytes_have_no_json_form() -> None:
    receipt = Receipt(Hash(b"\x01" * 32), ReceiptStatus.FAILED, b"", (), 0, "reverted", "no")
    with pytest.raises(CodecError, match="receipt return value is not a canonical encoding"):
        receipt_to_json(receipt, None)


def test_transaction_args_must_encode_a_list() -> None:
    tx = Transaction("c", 1, Height(2), b"\x02" * 33, "account", "transfer", encode(5), b"\x00" * 64)
    with pytest.raises(CodecError, match="must encode a list"):
        transaction_to_json(tx, Hash(b"\x00" * 32), Address(b"\x00" * 20))


def _header(height: int, transaction_count: int) -> BlockHeader:
    zero = Hash(bytes(32))
    address = Address(bytes(20))
    return BlockHeader("c", Height(height), zero, 0, address, zero, zero, zero, zero, zero, transaction_count)


def test_block_transactions_are_all_ids_or_all_full() -> None:
    header = _header(1, 2)
    tx = Transaction("c", 1, Height(2), b"\x02" * 33, "account", "transfer", encode([]), b"\x00" * 64)
    full = block_to_json(header, Hash(b"\x01" * 32), [(tx, Hash(b"\x05" * 32), Address(b"\x06" * 20))] * 2, None)
    transactions = full["transactions"]
    assert isinstance(transactions, list)
    transactions[1] = "0x" + "05" * 32
    with pytest.raises(CodecError, match="all as ids or all in full"):
        block_from_json(full)


def test_proof_root_must_match_its_header() -> None:
    header = _header(7, 1)
    document = inclusion_proof_to_json(header, Hash(b"\x01" * 32), InclusionProof(0, 1, ()), "transactions_root")
    document["transactions_root"] = "0x" + "ff" * 32
    with pytest.raises(CodecError, match="differs from its header"):
        inclusion_proof_from_json(document, "transactions_root")
