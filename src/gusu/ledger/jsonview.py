"""The JSON view of ledger records, shared by the node's API and the SDK.

This is the one-to-one mapping that docs/api.md describes. Both sides use
this module so that what the node writes is exactly what the SDK reads, and
so that a record rebuilt from JSON re-encodes to the very bytes the chain
hashed: a client can then check a receipt or a transaction against a Merkle
root without trusting the node that served it.

Conventions:

* byte strings are ``0x``-prefixed hex (written lowercase; read in either case);
* canonical values map to JSON one-to-one: ``None``, booleans, integers,
  strings and lists map to themselves and a byte string maps to
  ``{"hex": "0x.."}``; floats and any other object are rejected;
* reading is strict about the fields it needs and ignores fields it does not
  know, so a newer node can add fields without breaking older clients.

Records carry contract values (arguments, return values, event data) as
their canonical encodings; those must decode, or they could not be shown
one-to-one. Every failure raises CodecError naming the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias

from gusu.codec import Value, decode, encode
from gusu.codec.canonical import INT_MIN, NESTING_DEPTH_MAX, UINT_MAX
from gusu.errors import CodecError, GusuError
from gusu.ledger.ethtx import ETH_TRANSACTION_BYTES_MAX, EthTransaction, decode_eth_transaction
from gusu.ledger.merkle import PROOF_DEPTH_MAX, InclusionProof
from gusu.ledger.smt import PROOF_BYTES_MAX, decode_state_proof, encode_state_proof
from gusu.ledger.stateproof import STATE_PROOF_KEY_BYTES_MAX, CertifiedStateProof
from gusu.ledger.types import (
    ADDRESS_SIZE,
    BLOCK_TRANSACTIONS_MAX,
    CHAIN_ID_LENGTH_MAX,
    COMMIT_SIGNATURES_MAX,
    ERROR_MESSAGE_LENGTH_MAX,
    EVENTS_PER_RECEIPT_MAX,
    HASH_SIZE,
    NAME_LENGTH_MAX,
    PUBLIC_KEY_SIZE_MAX,
    SIGNATURE_SIZE,
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
)

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
"""Any JSON document as the standard parsers return it (floats included, to be rejected)."""

JSONObject: TypeAlias = dict[str, JSON]

ReceiptLocation: TypeAlias = tuple[Height, int, Hash]
"""Where a receipt's transaction committed: (height, index in the block, block hash)."""

TransactionEntry: TypeAlias = tuple[Transaction, Hash, Address]
"""A signed transaction with its id and sender address, as a block lists it in full."""

AnyTransactionEntry: TypeAlias = tuple[Transaction | EthTransaction, Hash, Address]
"""A block's transaction of either kind (Ethereum transactions on `ecdsa` chains), with its id and sender."""

ProofRoot = Literal["transactions_root", "receipts_root"]

HEX_KEY = "hex"

_HEX_PATTERN = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_STATUS_NAMES = {ReceiptStatus.SUCCESS: "success", ReceiptStatus.FAILED: "failed"}
_STATUS_BY_NAME = {name: status for status, name in _STATUS_NAMES.items()}


# --- byte strings --------------------------------------------------------------


def bytes_to_hex(data: bytes) -> str:
    """``0x`` followed by the lowercase hex of `data`."""
    return "0x" + data.hex()


def hex_to_bytes(text: object, size: int | None = None, *, what: str = "hex string") -> bytes:
    """Read strict ``0x`` hex: the prefix, an even number of digits, nothing else.

    `size`, when given, is the exact number of bytes expected. Whitespace and
    a missing or uppercase prefix are rejected even though `bytes.fromhex`
    would tolerate some of them: two spellings of one value would let a
    cache or a signature check disagree with the ledger.
    """
    if not isinstance(text, str):
        raise CodecError(f"{what} must be a 0x-prefixed hex string, found {_describe(text)}")
    if _HEX_PATTERN.fullmatch(text) is None:
        raise CodecError(f"{what} must be '0x' followed by an even number of hex digits, found {_preview(text)}")
    data = bytes.fromhex(text[2:])
    if size is not None and len(data) != size:
        raise CodecError(f"{what} must be {size} bytes, found {len(data)}")
    return data


# --- canonical values ----------------------------------------------------------


def value_to_json(value: Value) -> JSON:
    """The JSON form of a canonical value (bytes become ``{"hex": "0x.."}``)."""
    return _value_to_json(value, 0)


def _value_to_json(value: object, depth: int) -> JSON:
    if depth > NESTING_DEPTH_MAX:
        raise CodecError(f"value nests deeper than {NESTING_DEPTH_MAX} levels")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        _check_int_range(value, "integer")
        return value
    if isinstance(value, bytes):
        return {HEX_KEY: bytes_to_hex(value)}
    if isinstance(value, list):
        return [_value_to_json(item, depth + 1) for item in value]
    raise CodecError(f"{type(value).__name__} is not a canonical value and has no JSON form")


def value_from_json(data: JSON) -> Value:
    """The canonical value a JSON document stands for; CodecError if it stands for none."""
    return _value_from_json(data, 0)


def _value_from_json(data: object, depth: int) -> Value:
    if depth > NESTING_DEPTH_MAX:
        raise CodecError(f"value nests deeper than {NESTING_DEPTH_MAX} levels")
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        _check_int_range(data, "integer")
        return data
    if isinstance(data, float):
        raise CodecError(f"floats are not canonical values (found {data!r}); use an integer, e.g. in minor units")
    if isinstance(data, list):
        return [_value_from_json(item, depth + 1) for item in data]
    if isinstance(data, dict):
        if set(data) != {HEX_KEY}:
            keys = ", ".join(sorted(str(key) for key in data)) or "none"
            raise CodecError(f'the only object allowed in a value is {{"hex": "0x.."}} for bytes; found keys: {keys}')
        return hex_to_bytes(data[HEX_KEY], what="byte string value")
    raise CodecError(f"{_describe(data)} is not a JSON value")


def _check_int_range(number: int, what: str) -> None:
    if number < INT_MIN or number > UINT_MAX:
        raise CodecError(f"{what} {number} is outside the 64-bit range [{INT_MIN}, {UINT_MAX}]")


def _encoded_to_json(data: bytes, what: str) -> JSON:
    # A record field holding a canonical encoding is shown as the value it encodes.
    try:
        value = decode(data)
    except CodecError as error:
        raise CodecError(f"{what} is not a canonical encoding, so it has no JSON form: {error}") from error
    return value_to_json(value)


def _encoded_from_json(data: JSON, what: str) -> bytes:
    try:
        return encode(value_from_json(data))
    except CodecError as error:
        raise CodecError(f"{what}: {error}") from error


# --- transactions ---------------------------------------------------------------


def transaction_to_json(tx: Transaction | EthTransaction, transaction_id: Hash, sender: Address) -> JSONObject:
    if type(tx) is EthTransaction:
        return eth_transaction_to_json(tx, sender)
    assert type(tx) is Transaction
    args = _encoded_to_json(tx.args, "transaction args")
    if not isinstance(args, list):
        raise CodecError("transaction args must encode a list")
    return {
        "id": bytes_to_hex(transaction_id),
        "chain_id": tx.chain_id,
        "nonce": tx.nonce,
        "valid_until_height": tx.valid_until_height,
        "sender_public_key": bytes_to_hex(tx.sender_public_key),
        "sender": bytes_to_hex(sender),
        "contract": tx.contract,
        "method": tx.method,
        "args": args,
        "signature": bytes_to_hex(tx.signature),
    }


ETH_KIND = "ethereum"
"""The ``kind`` of an Ethereum transaction in Gusu's views (a Gusu transaction has no ``kind``)."""


def eth_transaction_to_json(tx: EthTransaction, sender: Address) -> JSONObject:
    """An Ethereum transaction in Gusu's views: marked ``"kind": "ethereum"``, its decoded fields and its
    raw bytes (which decode to every field: `eth_transaction_from_json` checks that they agree).

    ``id`` is the keccak hash, ``sender`` the recovered ``from``, ``gas_limit`` the ``gas``; amounts that
    may exceed JSON's exact integers (``value``, fees) are decimal strings."""
    return {
        "kind": ETH_KIND,
        "id": bytes_to_hex(tx.transaction_hash),
        "type": int(tx.transaction_type),
        "chain_id": tx.chain_id,
        "nonce": tx.nonce,
        "sender": bytes_to_hex(sender),
        "to": None if tx.to is None else bytes_to_hex(tx.to),
        "value": str(tx.value),
        "gas_limit": tx.gas_limit,
        "max_fee_per_gas": str(tx.max_fee_per_gas),
        "max_priority_fee_per_gas": str(tx.max_priority_fee_per_gas),
        "data": bytes_to_hex(tx.data),
        "raw": bytes_to_hex(tx.raw),
    }


def is_eth_transaction_json(data: JSON) -> bool:
    """Whether a transaction in a view is an Ethereum one (``"kind": "ethereum"``)."""
    return isinstance(data, dict) and data.get("kind") == ETH_KIND


def eth_transaction_from_json(data: JSON) -> tuple[EthTransaction, Hash, Address]:
    """(transaction, keccak hash, sender) of an ``"kind": "ethereum"`` transaction in a view.

    Everything comes from decoding ``raw`` (the sender is recovered from its signature); the node's
    ``id``, ``sender`` and decoded fields must agree with it, else CodecError: a view that disagrees with
    the signed bytes is refused rather than shown."""
    fields = expect_object(data, "Ethereum transaction")
    what = "Ethereum transaction"
    if fields.get("kind") != ETH_KIND:
        raise CodecError(f'{what} must have "kind": "{ETH_KIND}"')
    raw = get_hex(fields, "raw", what, size_max=ETH_TRANSACTION_BYTES_MAX)
    try:
        # Any chain id: a view is read, not executed (the chain checked it when it committed).
        transaction = decode_eth_transaction(raw, chain_id=None, is_unprotected_allowed=True)
    except GusuError as error:
        raise CodecError(f"{what} raw does not decode: {error}") from error
    stated = {key: fields.get(key) for key in fields if key not in ("kind", "raw")}
    actual = eth_transaction_to_json(transaction, transaction.sender)
    for key, value in stated.items():
        # Either case of hex is accepted; a field the raw bytes do not give is ignored (newer nodes).
        expected = actual.get(key, value)
        if isinstance(value, str) and isinstance(expected, str) and value.lower() == expected.lower():
            continue
        if value != expected:
            raise CodecError(f"{what} field {key} is {value!r}, but its raw bytes give {expected!r}")
    return transaction, transaction.transaction_hash, transaction.sender


def any_transaction_from_json(data: JSON) -> AnyTransactionEntry:
    """(transaction, id, sender) of a transaction of either kind: an Ethereum one (`eth_transaction_from_json`)
    or a Gusu one (`transaction_from_json`)."""
    if is_eth_transaction_json(data):
        return eth_transaction_from_json(data)
    return transaction_from_json(data)


def transaction_from_json(data: JSON) -> TransactionEntry:
    """(transaction, id, sender) of a Gusu transaction as the node stated them.

    The id and sender are the node's claims; compute them from the
    transaction with the chain's suite when they must be trusted.
    """
    fields = expect_object(data, "transaction")
    args = get_field(fields, "args", "transaction")
    if not isinstance(args, list):
        raise CodecError(f"transaction args must be a JSON array, found {_describe(args)}")
    transaction = Transaction(
        chain_id=get_str(fields, "chain_id", "transaction", CHAIN_ID_LENGTH_MAX),
        nonce=get_uint(fields, "nonce", "transaction"),
        valid_until_height=Height(get_uint(fields, "valid_until_height", "transaction")),
        sender_public_key=get_hex(fields, "sender_public_key", "transaction", size_max=PUBLIC_KEY_SIZE_MAX),
        contract=get_str(fields, "contract", "transaction", NAME_LENGTH_MAX),
        method=get_str(fields, "method", "transaction", NAME_LENGTH_MAX),
        args=_encoded_from_json(args, "transaction args"),
        signature=get_hex(fields, "signature", "transaction", size=SIGNATURE_SIZE),
    )
    transaction_id = Hash(get_hex(fields, "id", "transaction", size=HASH_SIZE))
    sender = Address(get_hex(fields, "sender", "transaction", size=ADDRESS_SIZE))
    return transaction, transaction_id, sender


# --- receipts -------------------------------------------------------------------


def event_to_json(event: Event) -> JSONObject:
    return {"contract": event.contract, "name": event.name, "data": _encoded_to_json(event.data, "event data")}


def event_from_json(data: JSON) -> Event:
    fields = expect_object(data, "event")
    return Event(
        contract=get_str(fields, "contract", "event", NAME_LENGTH_MAX),
        name=get_str(fields, "name", "event", NAME_LENGTH_MAX),
        data=_encoded_from_json(get_field(fields, "data", "event"), "event data"),
    )


def receipt_to_json(receipt: Receipt, location: ReceiptLocation | None) -> JSONObject:
    """A receipt, plus ``height``, ``index`` and ``block_hash`` when `location` is known."""
    result: JSONObject = {
        "transaction_id": bytes_to_hex(receipt.transaction_id),
        "status": _STATUS_NAMES[receipt.status],
        "return_value": _encoded_to_json(receipt.return_value, "receipt return value"),
        "events": [event_to_json(event) for event in receipt.events],
        "gas_used": receipt.gas_used,
        "error_code": receipt.error_code,
        "error_message": receipt.error_message,
    }
    if location is not None:
        height, index, block_hash = location
        result["height"] = height
        result["index"] = index
        result["block_hash"] = bytes_to_hex(block_hash)
    return result


def receipt_from_json(data: JSON) -> tuple[Receipt, ReceiptLocation | None]:
    """The receipt, and its location if the JSON carries one (all three fields or none)."""
    fields = expect_object(data, "receipt")
    status_name = get_str(fields, "status", "receipt", NAME_LENGTH_MAX)
    status = _STATUS_BY_NAME.get(status_name)
    if status is None:
        raise CodecError(f"receipt status must be 'success' or 'failed', found {status_name!r}")
    events = get_list(fields, "events", "receipt", EVENTS_PER_RECEIPT_MAX)
    receipt = Receipt(
        transaction_id=Hash(get_hex(fields, "transaction_id", "receipt", size=HASH_SIZE)),
        status=status,
        return_value=_encoded_from_json(get_field(fields, "return_value", "receipt"), "receipt return value"),
        events=tuple(event_from_json(item) for item in events),
        gas_used=get_uint(fields, "gas_used", "receipt"),
        error_code=get_str(fields, "error_code", "receipt", NAME_LENGTH_MAX),
        error_message=get_str(fields, "error_message", "receipt", ERROR_MESSAGE_LENGTH_MAX),
    )
    present = [key for key in ("height", "index", "block_hash") if key in fields]
    if not present:
        return receipt, None
    if len(present) != 3:
        raise CodecError("a receipt's location needs all of height, index and block_hash")
    location = (
        Height(get_uint(fields, "height", "receipt")),
        get_uint(fields, "index", "receipt", maximum=BLOCK_TRANSACTIONS_MAX),
        Hash(get_hex(fields, "block_hash", "receipt", size=HASH_SIZE)),
    )
    return receipt, location


# --- blocks ---------------------------------------------------------------------


def header_to_json(header: BlockHeader) -> JSONObject:
    return {
        "chain_id": header.chain_id,
        "height": header.height,
        "parent_hash": bytes_to_hex(header.parent_hash),
        "timestamp_ms": header.timestamp_ms,
        "proposer": bytes_to_hex(header.proposer),
        "transactions_root": bytes_to_hex(header.transactions_root),
        "receipts_root": bytes_to_hex(header.receipts_root),
        "state_root": bytes_to_hex(header.state_root),
        "validators_hash": bytes_to_hex(header.validators_hash),
        "next_validators_hash": bytes_to_hex(header.next_validators_hash),
        "transaction_count": header.transaction_count,
    }


def header_from_json(data: JSON) -> BlockHeader:
    fields = expect_object(data, "header")
    return BlockHeader(
        chain_id=get_str(fields, "chain_id", "header", CHAIN_ID_LENGTH_MAX),
        height=Height(get_uint(fields, "height", "header")),
        parent_hash=Hash(get_hex(fields, "parent_hash", "header", size=HASH_SIZE)),
        timestamp_ms=get_uint(fields, "timestamp_ms", "header"),
        proposer=Address(get_hex(fields, "proposer", "header", size=ADDRESS_SIZE)),
        transactions_root=Hash(get_hex(fields, "transactions_root", "header", size=HASH_SIZE)),
        receipts_root=Hash(get_hex(fields, "receipts_root", "header", size=HASH_SIZE)),
        state_root=Hash(get_hex(fields, "state_root", "header", size=HASH_SIZE)),
        validators_hash=Hash(get_hex(fields, "validators_hash", "header", size=HASH_SIZE)),
        next_validators_hash=Hash(get_hex(fields, "next_validators_hash", "header", size=HASH_SIZE)),
        transaction_count=get_uint(fields, "transaction_count", "header", maximum=BLOCK_TRANSACTIONS_MAX),
    )


def certificate_to_json(certificate: CommitCertificate) -> JSONObject:
    return {
        "height": certificate.height,
        "round": certificate.round,
        "block_hash": bytes_to_hex(certificate.block_hash),
        "signatures": [
            {
                "validator": bytes_to_hex(item.validator),
                "timestamp_ms": item.timestamp_ms,
                "signature": bytes_to_hex(item.signature),
            }
            for item in certificate.signatures
        ],
    }


def certificate_from_json(data: JSON) -> CommitCertificate:
    fields = expect_object(data, "certificate")
    signatures = []
    for item in get_list(fields, "signatures", "certificate", COMMIT_SIGNATURES_MAX):
        signature = expect_object(item, "commit signature")
        signatures.append(
            CommitSignature(
                validator=Address(get_hex(signature, "validator", "commit signature", size=ADDRESS_SIZE)),
                timestamp_ms=get_uint(signature, "timestamp_ms", "commit signature"),
                signature=get_hex(signature, "signature", "commit signature", size=SIGNATURE_SIZE),
            )
        )
    return CommitCertificate(
        height=Height(get_uint(fields, "height", "certificate")),
        round=Round(get_uint(fields, "round", "certificate")),
        block_hash=Hash(get_hex(fields, "block_hash", "certificate", size=HASH_SIZE)),
        signatures=tuple(signatures),
    )


def block_to_json(
    header: BlockHeader,
    block_hash: Hash,
    transactions: Sequence[Hash] | Sequence[AnyTransactionEntry],
    certificate: CommitCertificate | None,
) -> JSONObject:
    """A block with its transactions as ids or, given entries, as full objects."""
    listed: list[JSON] = []
    for item in transactions:
        if isinstance(item, bytes):
            listed.append(bytes_to_hex(item))
        else:
            listed.append(transaction_to_json(*item))
    return {
        "hash": bytes_to_hex(block_hash),
        "header": header_to_json(header),
        "transactions": listed,
        "certificate": None if certificate is None else certificate_to_json(certificate),
    }


def block_from_json(
    data: JSON,
) -> tuple[BlockHeader, Hash, tuple[Hash, ...], tuple[AnyTransactionEntry, ...], CommitCertificate | None]:
    """(header, block hash, transaction ids, full transactions, certificate).

    The ids are always filled; the full transactions only when the block
    lists them in full (and then in the same order as the ids).
    """
    fields = expect_object(data, "block")
    header = header_from_json(get_field(fields, "header", "block"))
    block_hash = Hash(get_hex(fields, "hash", "block", size=HASH_SIZE))
    ids: list[Hash] = []
    entries: list[AnyTransactionEntry] = []
    for item in get_list(fields, "transactions", "block", BLOCK_TRANSACTIONS_MAX):
        if isinstance(item, str):
            ids.append(Hash(hex_to_bytes(item, HASH_SIZE, what="block transaction id")))
        else:
            entry = any_transaction_from_json(item)
            entries.append(entry)
            ids.append(entry[1])
    if entries and len(entries) != len(ids):
        raise CodecError("a block lists its transactions either all as ids or all in full")
    certificate_data = get_field(fields, "certificate", "block")
    certificate = None if certificate_data is None else certificate_from_json(certificate_data)
    return header, block_hash, tuple(ids), tuple(entries), certificate


# --- inclusion proofs -------------------------------------------------------------


def inclusion_proof_to_json(
    header: BlockHeader, block_hash: Hash, proof: InclusionProof, root: ProofRoot
) -> JSONObject:
    """The ``gusu_getTransactionProof`` / ``gusu_getReceiptProof`` answer.

    `root` names the header root the proof leads to: ``transactions_root``
    (the leaf is the transaction id) or ``receipts_root`` (the leaf is the
    hash of the encoded receipt).
    """
    root_hash = header.transactions_root if root == "transactions_root" else header.receipts_root
    return {
        "height": header.height,
        "index": proof.leaf_index,
        "leaf_count": proof.leaf_count,
        "path": [bytes_to_hex(node) for node in proof.path],
        root: bytes_to_hex(root_hash),
        "header": header_to_json(header),
        "block_hash": bytes_to_hex(block_hash),
    }


def inclusion_proof_from_json(data: JSON, root: ProofRoot) -> tuple[BlockHeader, Hash, InclusionProof]:
    """(header, block hash, proof), checking that the stated height and root match the header."""
    fields = expect_object(data, "proof")
    header = header_from_json(get_field(fields, "header", "proof"))
    block_hash = Hash(get_hex(fields, "block_hash", "proof", size=HASH_SIZE))
    path = tuple(
        hex_to_bytes(node, HASH_SIZE, what="proof path node")
        for node in get_list(fields, "path", "proof", PROOF_DEPTH_MAX)
    )
    proof = InclusionProof(
        leaf_index=get_uint(fields, "index", "proof", maximum=BLOCK_TRANSACTIONS_MAX),
        leaf_count=get_uint(fields, "leaf_count", "proof", maximum=BLOCK_TRANSACTIONS_MAX),
        path=path,
    )
    if get_uint(fields, "height", "proof") != header.height:
        raise CodecError("proof height differs from its header's height")
    root_hash = header.transactions_root if root == "transactions_root" else header.receipts_root
    if get_hex(fields, root, "proof", size=HASH_SIZE) != root_hash:
        raise CodecError(f"proof {root} differs from its header's {root}")
    return header, block_hash, proof


# --- state proofs ---------------------------------------------------------------


def state_proof_to_json(answer: CertifiedStateProof) -> JSONObject:
    """The ``gusu_getStateProof`` answer: the value (raw hex, and decoded when it is a canonical encoding),
    the proof in its canonical encoding, and the header, hash and certificate it leads to."""
    decoded: JSON = None
    if answer.value is not None:
        try:
            decoded = value_to_json(decode(answer.value))
        except CodecError:
            decoded = None  # a value that is not a canonical encoding is shown as hex only
    return {
        "contract": answer.contract,
        "key": bytes_to_hex(answer.key),
        "height": answer.header.height,
        "exists": answer.value is not None,
        "value": None if answer.value is None else bytes_to_hex(answer.value),
        "value_decoded": decoded,
        "proof": bytes_to_hex(encode_state_proof(answer.proof)),
        "state_root": bytes_to_hex(answer.header.state_root),
        "header": header_to_json(answer.header),
        "block_hash": bytes_to_hex(answer.block_hash),
        "certificate": None if answer.certificate is None else certificate_to_json(answer.certificate),
    }


def state_proof_from_json(data: JSON) -> CertifiedStateProof:
    """A state proof answer, its fields checked for shape and against each other (not yet verified: that is
    `gusu.ledger.stateproof`'s job, against a block hash or a validator set the client trusts)."""
    what = "state proof"
    fields = expect_object(data, what)
    header = header_from_json(get_field(fields, "header", what))
    value_data = get_field(fields, "value", what)
    value = None if value_data is None else hex_to_bytes(value_data, what="state proof value")
    if get_bool(fields, "exists", what) != (value is not None):
        raise CodecError("a state proof's exists flag contradicts its value")
    certificate_data = get_field(fields, "certificate", what)
    answer = CertifiedStateProof(
        contract=get_str(fields, "contract", what, NAME_LENGTH_MAX),
        key=get_hex(fields, "key", what, size_max=STATE_PROOF_KEY_BYTES_MAX),
        value=value,
        proof=decode_state_proof(get_hex(fields, "proof", what, size_max=PROOF_BYTES_MAX)),
        header=header,
        block_hash=Hash(get_hex(fields, "block_hash", what, size=HASH_SIZE)),
        certificate=None if certificate_data is None else certificate_from_json(certificate_data),
    )
    if get_uint(fields, "height", what) != header.height:
        raise CodecError("a state proof's height differs from its header's height")
    if get_hex(fields, "state_root", what, size=HASH_SIZE) != header.state_root:
        raise CodecError("a state proof's state_root differs from its header's")
    return answer


# --- field readers --------------------------------------------------------------
# Public so that other JSON readers (the node's request parsing, the SDK's
# result parsing) fail with the same precise messages.


def expect_object(data: object, what: str) -> Mapping[str, JSON]:
    """`data` as a JSON object; CodecError naming `what` otherwise."""
    if not isinstance(data, dict):
        raise CodecError(f"{what} must be a JSON object, found {_describe(data)}")
    return data


def get_field(fields: Mapping[str, JSON], key: str, what: str) -> JSON:
    """`fields[key]`; CodecError naming `what` and `key` when it is missing."""
    if key not in fields:
        raise CodecError(f"{what} lacks the field {key!r}")
    return fields[key]


def get_str(fields: Mapping[str, JSON], key: str, what: str, length_max: int) -> str:
    value = get_field(fields, key, what)
    if not isinstance(value, str):
        raise CodecError(f"{what} {key} must be a string, found {_describe(value)}")
    if len(value) > length_max:
        raise CodecError(f"{what} {key} is {len(value)} characters; the limit is {length_max}")
    return value


def get_uint(fields: Mapping[str, JSON], key: str, what: str, maximum: int = UINT_MAX) -> int:
    value = get_field(fields, key, what)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CodecError(f"{what} {key} must be an integer, found {_describe(value)}")
    if value < 0 or value > maximum:
        raise CodecError(f"{what} {key} must be between 0 and {maximum}, found {value}")
    return value


def get_hex(
    fields: Mapping[str, JSON], key: str, what: str, size: int | None = None, size_max: int | None = None
) -> bytes:
    data = hex_to_bytes(get_field(fields, key, what), size, what=f"{what} {key}")
    if size_max is not None and len(data) > size_max:
        raise CodecError(f"{what} {key} is {len(data)} bytes; the limit is {size_max}")
    return data


def get_bool(fields: Mapping[str, JSON], key: str, what: str) -> bool:
    value = get_field(fields, key, what)
    if not isinstance(value, bool):
        raise CodecError(f"{what} {key} must be true or false, found {_describe(value)}")
    return value


def get_list(fields: Mapping[str, JSON], key: str, what: str, length_max: int) -> list[JSON]:
    value = get_field(fields, key, what)
    if not isinstance(value, list):
        raise CodecError(f"{what} {key} must be a JSON array, found {_describe(value)}")
    if len(value) > length_max:
        raise CodecError(f"{what} {key} has {len(value)} items; the limit is {length_max}")
    return value


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_preview(value)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _preview(text: str, length_max: int = 40) -> str:
    return repr(text if len(text) <= length_max else text[:length_max] + "...")
