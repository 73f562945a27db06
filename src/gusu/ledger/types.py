"""Ledger records: transactions, blocks, receipts, and their canonical encodings.

Every record encodes as a tagged positional list (see `gusu.codec`). A
record's hash is the chain suite's hash (SM3 or keccak-256) of that encoding.

Transactions. The replay guard is a client-chosen random 64-bit `nonce`
plus `valid_until_height`, the last height at which the transaction may
be included (the FISCO BCOS model, not Ethereum's per-sender sequence).
Clients can sign and submit any number of transactions in parallel with no
ordering between them and no nonce gaps to stall a pool; a transaction that
has not committed by its `valid_until_height` never will, so the client
knows when it is safe to build a new one. The node rejects a transaction
whose id is already committed, and one whose window is already past or
more than `transaction_window_blocks` ahead.

A transaction's id is the hash of its *unsigned* payload, and the signature
is over that id. Re-encoding a signature therefore cannot change the id
(no malleability of ids), and the signature is only ever 64 bytes r||s.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import NewType

from gusu.codec import (
    Value,
    decode_list,
    encode,
    expect_bytes,
    expect_list,
    expect_str,
    expect_uint,
)
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError

Height = NewType("Height", int)
Round = NewType("Round", int)
Hash = NewType("Hash", bytes)
Address = NewType("Address", bytes)

HASH_SIZE = 32
ADDRESS_SIZE = 20
SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE_MAX = 65
NAME_LENGTH_MAX = 64
CHAIN_ID_LENGTH_MAX = 64
TRANSACTION_ARGS_BYTES_MAX = 1024 * 1024
BLOCK_TRANSACTIONS_MAX = 100_000
EVENTS_PER_RECEIPT_MAX = 1024
EVENT_DATA_BYTES_MAX = 64 * 1024
RETURN_VALUE_BYTES_MAX = 1024 * 1024
ERROR_MESSAGE_LENGTH_MAX = 1024
COMMIT_SIGNATURES_MAX = 1024

ZERO_HASH = Hash(bytes(HASH_SIZE))

TAG_TRANSACTION = "gusu.tx.v1"
TAG_TRANSACTION_PAYLOAD = "gusu.txpayload.v1"
TAG_HEADER = "gusu.header.v1"
TAG_BLOCK = "gusu.block.v1"
TAG_RECEIPT = "gusu.receipt.v1"
TAG_EVENT = "gusu.event.v1"
TAG_COMMIT = "gusu.commit.v1"
TAG_COMMIT_SIGNATURE = "gusu.commitsig.v1"


# --- transactions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transaction:
    chain_id: str
    nonce: int
    valid_until_height: Height
    sender_public_key: bytes
    contract: str
    method: str
    args: bytes
    """The canonical encoding of the argument list."""
    signature: bytes


def _transaction_payload(tx: Transaction) -> list[Value]:
    return [
        TAG_TRANSACTION_PAYLOAD,
        tx.chain_id,
        tx.nonce,
        tx.valid_until_height,
        tx.sender_public_key,
        tx.contract,
        tx.method,
        tx.args,
    ]


def encode_transaction_payload(tx: Transaction) -> bytes:
    """The bytes whose hash is the transaction id (signature excluded)."""
    return encode(_transaction_payload(tx))


def compute_transaction_id(suite: CryptoSuite, tx: Transaction) -> Hash:
    return Hash(suite.hash(encode_transaction_payload(tx)))


def encode_transaction(tx: Transaction) -> bytes:
    return encode(
        [
            TAG_TRANSACTION,
            tx.chain_id,
            tx.nonce,
            tx.valid_until_height,
            tx.sender_public_key,
            tx.contract,
            tx.method,
            tx.args,
            tx.signature,
        ]
    )


def decode_transaction(data: bytes) -> Transaction:
    """Decode a signed transaction; CodecError on anything non-canonical."""
    fields = decode_list(data, TAG_TRANSACTION, 9)
    return Transaction(
        chain_id=expect_str(fields[1], "chain id", CHAIN_ID_LENGTH_MAX),
        nonce=expect_uint(fields[2], "nonce"),
        valid_until_height=Height(expect_uint(fields[3], "valid until height")),
        sender_public_key=expect_bytes(fields[4], "sender public key", size_max=PUBLIC_KEY_SIZE_MAX),
        contract=expect_str(fields[5], "contract", NAME_LENGTH_MAX),
        method=expect_str(fields[6], "method", NAME_LENGTH_MAX),
        args=expect_bytes(fields[7], "args", size_max=TRANSACTION_ARGS_BYTES_MAX),
        signature=expect_bytes(fields[8], "signature", size=SIGNATURE_SIZE),
    )


# --- receipts ---------------------------------------------------------------------


class ReceiptStatus(IntEnum):
    SUCCESS = 0
    FAILED = 1


@dataclass(frozen=True, slots=True)
class Event:
    contract: str
    name: str
    data: bytes
    """The canonical encoding of the event's value (usually a list)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    transaction_id: Hash
    status: ReceiptStatus
    return_value: bytes
    """The canonical encoding of the method's return value."""
    events: tuple[Event, ...]
    gas_used: int
    error_code: str
    """Empty on success; otherwise a stable code such as ``out_of_gas``."""
    error_message: str

    @property
    def is_success(self) -> bool:
        return self.status == ReceiptStatus.SUCCESS


def _event_value(event: Event) -> list[Value]:
    return [TAG_EVENT, event.contract, event.name, event.data]


def encode_receipt(receipt: Receipt) -> bytes:
    return encode(
        [
            TAG_RECEIPT,
            receipt.transaction_id,
            int(receipt.status),
            receipt.return_value,
            [_event_value(event) for event in receipt.events],
            receipt.gas_used,
            receipt.error_code,
            receipt.error_message,
        ]
    )


def _decode_event(value: Value) -> Event:
    fields = expect_list(value, "event", 4)
    if len(fields) != 4 or fields[0] != TAG_EVENT:
        raise CodecError("expected an event record")
    return Event(
        contract=expect_str(fields[1], "event contract", NAME_LENGTH_MAX),
        name=expect_str(fields[2], "event name", NAME_LENGTH_MAX),
        data=expect_bytes(fields[3], "event data", size_max=EVENT_DATA_BYTES_MAX),
    )


def decode_receipt(data: bytes) -> Receipt:
    fields = decode_list(data, TAG_RECEIPT, 8)
    status_number = expect_uint(fields[2], "receipt status", maximum=max(ReceiptStatus))
    return Receipt(
        transaction_id=Hash(expect_bytes(fields[1], "transaction id", size=HASH_SIZE)),
        status=ReceiptStatus(status_number),
        return_value=expect_bytes(fields[3], "return value", size_max=RETURN_VALUE_BYTES_MAX),
        events=tuple(_decode_event(item) for item in expect_list(fields[4], "events", EVENTS_PER_RECEIPT_MAX)),
        gas_used=expect_uint(fields[5], "gas used"),
        error_code=expect_str(fields[6], "error code", NAME_LENGTH_MAX),
        error_message=expect_str(fields[7], "error message", ERROR_MESSAGE_LENGTH_MAX),
    )


# --- blocks -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockHeader:
    chain_id: str
    height: Height
    parent_hash: Hash
    timestamp_ms: int
    proposer: Address
    transactions_root: Hash
    receipts_root: Hash
    state_root: Hash
    """The state commitment after this block's transactions are applied."""
    validators_hash: Hash
    """Commits to the validator set that must certify this block (the set in force at `height`)."""
    next_validators_hash: Hash
    """Commits to the set in force at ``height + 1``: changes are decided two blocks ahead
    (`gusu.ledger.chainconfig`), so a light client that trusts this header knows who must sign the next."""
    transaction_count: int


def encode_header(header: BlockHeader) -> bytes:
    return encode(
        [
            TAG_HEADER,
            header.chain_id,
            header.height,
            header.parent_hash,
            header.timestamp_ms,
            header.proposer,
            header.transactions_root,
            header.receipts_root,
            header.state_root,
            header.validators_hash,
            header.next_validators_hash,
            header.transaction_count,
        ]
    )


def _decode_header_fields(fields: list[Value]) -> BlockHeader:
    return BlockHeader(
        chain_id=expect_str(fields[1], "chain id", CHAIN_ID_LENGTH_MAX),
        height=Height(expect_uint(fields[2], "height")),
        parent_hash=Hash(expect_bytes(fields[3], "parent hash", size=HASH_SIZE)),
        timestamp_ms=expect_uint(fields[4], "timestamp"),
        proposer=Address(expect_bytes(fields[5], "proposer", size=ADDRESS_SIZE)),
        transactions_root=Hash(expect_bytes(fields[6], "transactions root", size=HASH_SIZE)),
        receipts_root=Hash(expect_bytes(fields[7], "receipts root", size=HASH_SIZE)),
        state_root=Hash(expect_bytes(fields[8], "state root", size=HASH_SIZE)),
        validators_hash=Hash(expect_bytes(fields[9], "validators hash", size=HASH_SIZE)),
        next_validators_hash=Hash(expect_bytes(fields[10], "next validators hash", size=HASH_SIZE)),
        transaction_count=expect_uint(fields[11], "transaction count", maximum=BLOCK_TRANSACTIONS_MAX),
    )


def decode_header(data: bytes) -> BlockHeader:
    return _decode_header_fields(decode_list(data, TAG_HEADER, 12))


def compute_block_hash(suite: CryptoSuite, header: BlockHeader) -> Hash:
    return Hash(suite.hash(encode_header(header)))


@dataclass(frozen=True, slots=True)
class CommitSignature:
    validator: Address
    timestamp_ms: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """Proof that validators holding more than 2/3 of the power committed a block.

    The solo orderer fills it with its own single signature; the BFT engine
    fills it with the precommits of a quorum. It is not part of the block
    hash: it is produced after the block is agreed.
    """

    height: Height
    round: Round
    block_hash: Hash
    signatures: tuple[CommitSignature, ...]


def encode_commit_certificate(certificate: CommitCertificate) -> bytes:
    return encode(
        [
            TAG_COMMIT,
            certificate.height,
            certificate.round,
            certificate.block_hash,
            [
                [TAG_COMMIT_SIGNATURE, item.validator, item.timestamp_ms, item.signature]
                for item in certificate.signatures
            ],
        ]
    )


def decode_commit_certificate(data: bytes) -> CommitCertificate:
    fields = decode_list(data, TAG_COMMIT, 5)
    signatures = []
    for value in expect_list(fields[4], "commit signatures", COMMIT_SIGNATURES_MAX):
        item = expect_list(value, "commit signature", 4)
        if len(item) != 4 or item[0] != TAG_COMMIT_SIGNATURE:
            raise CodecError("expected a commit signature record")
        signatures.append(
            CommitSignature(
                validator=Address(expect_bytes(item[1], "validator", size=ADDRESS_SIZE)),
                timestamp_ms=expect_uint(item[2], "commit timestamp"),
                signature=expect_bytes(item[3], "commit signature", size=SIGNATURE_SIZE),
            )
        )
    return CommitCertificate(
        height=Height(expect_uint(fields[1], "commit height")),
        round=Round(expect_uint(fields[2], "commit round")),
        block_hash=Hash(expect_bytes(fields[3], "commit block hash", size=HASH_SIZE)),
        signatures=tuple(signatures),
    )


def encode_commit_vote(chain_id: str, height: Height, round_: Round, block_hash: Hash, timestamp_ms: int) -> bytes:
    """The bytes a validator signs to commit (precommit) a block."""
    return encode(["gusu.precommit.v1", chain_id, height, round_, block_hash, timestamp_ms])


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    transactions: tuple[Transaction, ...]


@dataclass(frozen=True, slots=True)
class RawBlock:
    """A block with its transactions still in their canonical encodings, as nodes exchange it.

    A node that already holds most of a proposed block's transactions in its
    pool recognises them by these bytes and decodes only the rest.
    """

    header: BlockHeader
    raw_transactions: tuple[bytes, ...]


def encode_raw_block(block: RawBlock) -> bytes:
    """A block as sent between nodes: header fields then the signed transactions' encodings."""
    return encode([TAG_BLOCK, encode_header(block.header), list(block.raw_transactions)])


def decode_raw_block(data: bytes) -> RawBlock:
    """The header and the transactions' encodings; the transactions themselves are not decoded."""
    fields = decode_list(data, TAG_BLOCK, 3)
    header = decode_header(expect_bytes(fields[1], "header"))
    items = expect_list(fields[2], "transactions", BLOCK_TRANSACTIONS_MAX)
    if len(items) != header.transaction_count:
        raise CodecError("block transaction count does not match its header")
    return RawBlock(header, tuple(expect_bytes(item, "transaction") for item in items))


def encode_block(block: Block) -> bytes:
    return encode_raw_block(RawBlock(block.header, tuple(encode_transaction(tx) for tx in block.transactions)))


def decode_block(data: bytes) -> Block:
    raw = decode_raw_block(data)
    return Block(raw.header, tuple(decode_transaction(item) for item in raw.raw_transactions))
