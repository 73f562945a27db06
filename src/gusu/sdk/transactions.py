"""Building signed transactions, and checking what a node says about them.

A transaction's id is the suite hash of its unsigned payload and the
signature is over that id (see `gusu.ledger.types`), so the id is known
before signing and no re-encoding of the signature can change it.

The verification helpers serve citizens and light clients: someone who
holds only a block header (or only a block hash they trust, from a commit
certificate or a published checkpoint) can check that a transaction, or a
receipt, is part of that block without trusting the node that served the
proof.

`verify_next_block` is the light client's step from one trusted block to the
next (`gusu.ledger.lightclient`): it checks the next block's commit
certificate against the validator set its trusted predecessor announced,
across validator-set changes, so a client that starts from the genesis block
can trust any later block hash, and then any proof against it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from gusu.codec import Value, encode
from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.errors import InvalidBlockError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.lightclient import LightClientState, verify_next_header
from gusu.ledger.merkle import InclusionProof, is_valid_inclusion
from gusu.ledger.types import (
    Address,
    BlockHeader,
    Hash,
    Height,
    Receipt,
    Transaction,
    compute_block_hash,
    compute_transaction_id,
    decode_transaction,
    encode_receipt,
    encode_transaction,
)
from gusu.sdk.views import BlockView

NONCE_BITS = 64


@dataclass(frozen=True, slots=True)
class SignedTransaction:
    """A transaction ready to send: `raw` is what `gusu_sendRawTransaction` takes."""

    transaction: Transaction
    transaction_id: Hash
    raw: bytes
    sender: Address


def build_transaction(
    key: PrivateKey,
    chain_id: str,
    contract: str,
    method: str,
    args: Sequence[Value],
    valid_until_height: Height,
    nonce: int | None = None,
) -> SignedTransaction:
    """Sign a call of `contract.method(*args)` with `key`, for chain `chain_id`.

    The transaction may commit at any height up to and including
    `valid_until_height` and never after, so once the chain passes that
    height without a receipt the caller knows it is safe to build a new one.
    `nonce` defaults to 64 random bits, which makes two otherwise identical
    calls distinct transactions.

    Raises CodecError when a field breaks a ledger limit (a name longer than
    64 characters, arguments over 1 MiB, a float among the arguments...),
    exactly as the node would reject it, and CryptoError for a bad key.
    """
    suite = get_suite(key.suite)
    unsigned = Transaction(
        chain_id=chain_id,
        nonce=secrets.randbits(NONCE_BITS) if nonce is None else nonce,
        valid_until_height=valid_until_height,
        sender_public_key=key.public_key,
        contract=contract,
        method=method,
        args=encode(list(args)),
        signature=b"",
    )
    transaction_id = compute_transaction_id(suite, unsigned)
    transaction = replace(unsigned, signature=suite.sign(key, transaction_id))
    raw = encode_transaction(transaction)
    # Decoding applies every ledger limit the node applies, so a transaction
    # the node would refuse as malformed fails here, with the reason, instead.
    decode_transaction(raw)
    return SignedTransaction(
        transaction=transaction,
        transaction_id=transaction_id,
        raw=raw,
        sender=Address(suite.compute_address(key.public_key)),
    )


def verify_block_hash(suite: CryptoSuite, header: BlockHeader, block_hash: Hash) -> bool:
    """True when `header` is the header of the block called `block_hash`.

    Use it to tie a header served by a node to a block hash obtained some
    trusted way before relying on the header's roots.
    """
    return compute_block_hash(suite, header) == block_hash


def verify_transaction_proof(
    suite: CryptoSuite, header: BlockHeader, transaction_id: Hash, proof: InclusionProof
) -> bool:
    """True when `proof` shows `transaction_id` is in the block with this header."""
    if proof.leaf_count != header.transaction_count:
        return False
    return is_valid_inclusion(suite.hash, header.transactions_root, transaction_id, proof)


def verify_receipt_proof(suite: CryptoSuite, header: BlockHeader, receipt: Receipt, proof: InclusionProof) -> bool:
    """True when `proof` shows `receipt` is the block's receipt at `proof.leaf_index`.

    A block has one receipt per transaction, in transaction order; the leaf
    is the suite hash of the receipt's canonical encoding, so every field of
    the receipt (status, return value, events) is covered.
    """
    if proof.leaf_count != header.transaction_count:
        return False
    leaf = suite.hash(encode_receipt(receipt))
    return is_valid_inclusion(suite.hash, header.receipts_root, leaf, proof)


def verify_transaction(suite: CryptoSuite, transaction: Transaction, transaction_id: Hash) -> bool:
    """True when `transaction` has id `transaction_id` and carries a valid signature over it."""
    if compute_transaction_id(suite, transaction) != transaction_id:
        return False
    return suite.verify(transaction.sender_public_key, transaction_id, transaction.signature)


def verify_next_block(
    suite: CryptoSuite,
    trusted: LightClientState,
    block: BlockView,
    validators: Sequence[GenesisValidator],
    consensus: str = "tendermint",
) -> LightClientState:
    """Trust `block`, the block after `trusted`, if its certificate proves it; the new trusted state.

    `validators` is the set in force at the block's height (unchanged, or the one the trusted header
    announced in `next_validators_hash`): it is checked against that hash before any signature.
    `consensus` is the engine in force at the block's height (a chain may switch: "raft" checks the
    leader's signature, `gusu.ledger.lightclient`). InvalidBlockError says what does not hold; a block
    served without its certificate cannot be trusted.
    """
    if block.certificate is None:
        raise InvalidBlockError(f"block {block.height} came without its commit certificate: ask a node for it again")
    if compute_block_hash(suite, block.header) != block.block_hash:
        raise InvalidBlockError(f"the node's hash for block {block.height} is not its header's")
    return verify_next_header(suite, trusted, block.header, block.certificate, validators, consensus)
