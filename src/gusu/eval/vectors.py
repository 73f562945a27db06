"""Conformance vectors for the block rules: transactions, blocks (with receipts) and commit certificates.

`python -m gusu.eval.vectors write tests/vectors` builds, for each crypto
suite, a small deterministic chain: validator and client keys from fixed
seeds, a genesis document, a few blocks of real signed transactions built
with `gusu.node.blocks.build_block`, each with a commit certificate of real
precommit signatures. Around that chain it makes valid and invalid
candidates (one broken rule each) and writes one JSON file per kind and
suite (``transactions-sm.json``, ``blocks-sm.json``, ``certificates-sm.json``
and the same for ``ecdsa``). `check` replays every file through the real
code (the block rules, the executor, the certificate verifier and the
suite's signature verification) and reports every verdict, hash or root
that differs. docs/vectors.md says what they cover and how an auditor uses
them.

SM2 signatures are randomized, so two `write` runs give different ``sm``
files; the tests therefore only ever `check` the committed files. When an
encoding or the genesis format changes on purpose, one `write` regenerates
the whole set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gusu.codec import Value, encode
from gusu.consensus.certificate import assemble_commit_certificate, verify_commit_certificate
from gusu.consensus.messages import Vote, VoteKind, encode_signing_bytes, make_signer
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import SUITE_NAMES, CryptoSuite, PrivateKey, get_suite
from gusu.errors import CodecError, GusuError, InvalidBlockError, InvalidSignatureError
from gusu.eval import statetree_vectors
from gusu.execution import Executor, compute_chain_registry, compute_execution_limits
from gusu.ledger.genesis import (
    CONSENSUS_TENDERMINT,
    Allocation,
    Genesis,
    GenesisValidator,
    compute_genesis_hash,
    genesis_from_json,
    genesis_to_json,
    validate_genesis,
)
from gusu.ledger.kv import MemoryStore
from gusu.ledger.smt import StateTree
from gusu.ledger.store import CommittedBlock, compute_receipt_leaf
from gusu.ledger.types import (
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Hash,
    Height,
    RawBlock,
    Round,
    Transaction,
    compute_transaction_id,
    decode_commit_certificate,
    decode_raw_block,
    decode_transaction,
    encode_commit_certificate,
    encode_commit_vote,
    encode_header,
    encode_raw_block,
    encode_receipt,
    encode_transaction,
    encode_transaction_payload,
)
from gusu.mempool import Mempool, MempoolLimits, PoolTransaction
from gusu.node.blocks import (
    BLOCK_TIME_MS_MAX,
    BlockRules,
    apply_block_tree_update,
    apply_block_writes,
    build_block,
    compute_genesis_block,
    compute_next_block_rules,
    finish_block_check,
    get_signature_check,
    start_block_check,
)
from gusu.sdk.transactions import SignedTransaction, build_transaction

FORMAT = 1
"""The layout of the vector files; a reader refuses any other."""
WRITE_COMMAND = "python -m gusu.eval.vectors write tests/vectors"
"""The one command that regenerates every vector file."""
KINDS = ("transactions", "blocks", "certificates", statetree_vectors.KIND)

VALIDATOR_POWERS = (4, 3, 2, 1)
"""Unequal, so that three signers out of four (3 + 2 + 1 = 6 of 10) are not a quorum (7)."""
CLIENT_COUNT = 3
GENESIS_TIMESTAMP_MS = 1_700_000_000_000
BLOCK_INTERVAL_MS = 1_000
BLOCK_TRANSACTIONS_MAX = 4
BLOCK_BYTES_MAX = 2_048
TRANSACTION_WINDOW_BLOCKS = 8
"""Small chain limits, so that the vectors breaking them stay small."""
CLIENT_0_BALANCE = 1_000_000
CLIENT_1_BALANCE = 1_000

REPR_LENGTH_MAX = 160
"""How much of a differing value a problem report shows."""

STAGES = ("decode", "header", "transactions", "body", "signatures", "execution")
"""Where a block check rejects, in the order a node checks (see `compute_block_verdict`)."""

_REGENERATE_HINT = (
    f"If an encoding, the genesis format or a block rule changed on purpose, regenerate every vector with "
    f"`{WRITE_COMMAND}` (from the repository root, PYTHONPATH=src) and review the diff; otherwise the change "
    "broke conformance with the published vectors."
)


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _unhex(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"expected 0x-prefixed hex, found {text!r}")
    return bytes.fromhex(text[2:])


def get_file_name(kind: str, suite_name: str) -> str:
    return f"{kind}-{suite_name}.json"


# --- the fixed chain ------------------------------------------------------------------------


def compute_seed_key(suite: CryptoSuite, role: str, index: int) -> PrivateKey:
    """A key anyone can rebuild: the secret is SHA-256 of ``gusu-vectors/<role>/<index>``."""
    return suite.load_private_key(hashlib.sha256(f"gusu-vectors/{role}/{index}".encode()).digest())


def get_address(suite: CryptoSuite, key: PrivateKey) -> Address:
    return Address(suite.compute_address(key.public_key))


def compute_vector_genesis(suite: CryptoSuite) -> Genesis:
    """The genesis of the vector chain of `suite`: 4 validators of unequal power, 2 funded clients, small limits."""
    validators = []
    for index, power in enumerate(VALIDATOR_POWERS):
        key = compute_seed_key(suite, "validator", index)
        validators.append(
            GenesisValidator(
                name=f"validator-{index}",
                address=get_address(suite, key),
                public_key=key.public_key,
                power=power,
                organization=f"org{index}",
            )
        )
    client_0 = get_address(suite, compute_seed_key(suite, "client", 0))
    client_1 = get_address(suite, compute_seed_key(suite, "client", 1))
    genesis = Genesis(
        chain_id=f"gusu-vectors-{suite.name}",
        suite=suite.name,
        timestamp_ms=GENESIS_TIMESTAMP_MS,
        validators=tuple(validators),
        allocations=(Allocation(client_0, CLIENT_0_BALANCE), Allocation(client_1, CLIENT_1_BALANCE)),
        parameters=(
            ("block_bytes_max", BLOCK_BYTES_MAX),
            ("block_transactions_max", BLOCK_TRANSACTIONS_MAX),
            ("transaction_window_blocks", TRANSACTION_WINDOW_BLOCKS),
        ),
        admins=(client_0,),
        consensus=CONSENSUS_TENDERMINT,
    )
    validate_genesis(genesis)
    return genesis


def create_executor(genesis: Genesis) -> Executor:
    """The executor a node of this chain runs: the genesis contract set and limits."""
    return Executor(compute_chain_registry(genesis.contracts), compute_execution_limits(genesis.parameters))


@dataclass
class ChainState:
    """A chain replayed in memory: what checking a next block needs."""

    genesis: Genesis
    suite: CryptoSuite
    executor: Executor
    state: dict[bytes, bytes]
    committed: set[Hash]
    tip: BlockHeader
    tip_hash: Hash
    state_tree: StateTree
    """The state tree at the tip's version (the next block's state root is computed from it)."""

    @classmethod
    def from_genesis(cls, suite: CryptoSuite, genesis: Genesis) -> ChainState:
        executor = create_executor(genesis)
        block = compute_genesis_block(suite, genesis, executor.compute_genesis_writes(genesis))
        state: dict[bytes, bytes] = {}
        apply_block_writes(state, block)
        state_tree = StateTree(MemoryStore())
        apply_block_tree_update(state_tree, block)
        return cls(genesis, suite, executor, state, set(), block.header, block.block_hash, state_tree)

    @property
    def rules(self) -> BlockRules:
        """The rules of the next block, from the configuration schedule of the tip's state."""
        return compute_next_block_rules(self.genesis, self.suite, self.state, self.tip)

    def build(self, entries: Sequence[PoolTransaction], timestamp_ms: int, proposer: Address) -> CommittedBlock:
        return build_block(
            self.rules,
            self.executor,
            self.state,
            self.state_tree,
            self.tip,
            self.tip_hash,
            timestamp_ms,
            proposer,
            entries,
        )

    def commit(self, block: CommittedBlock) -> None:
        apply_block_writes(self.state, block)
        apply_block_tree_update(self.state_tree, block)
        self.committed.update(block.transaction_ids)
        self.tip = block.header
        self.tip_hash = block.block_hash


# --- verdicts: the real code, in the node's order ----------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionVerdict:
    verdict: str
    """"valid", "malformed", "invalid_key", "wrong_chain", "expired" or "bad_signature"."""
    error: str
    """The GusuError class a node answers with; empty when valid."""
    transaction_id: Hash | None
    sender: Address | None


def compute_transaction_verdict(
    suite: CryptoSuite, chain_id: str, next_height: Height, window_blocks: int, raw: bytes
) -> TransactionVerdict:
    """What a node says to a client submitting `raw` while `next_height` is the next block (admission order)."""
    try:
        transaction = decode_transaction(raw)
    except CodecError:
        return TransactionVerdict("malformed", "CodecError", None, None)
    try:
        suite.validate_public_key(transaction.sender_public_key)
    except GusuError as error:
        return TransactionVerdict("invalid_key", type(error).__name__, None, None)
    transaction_id = compute_transaction_id(suite, transaction)
    sender = Address(suite.compute_address(transaction.sender_public_key))
    pool = Mempool(MempoolLimits(transaction_window_blocks=window_blocks), chain_id)
    try:
        pool.validate_admission(transaction, len(raw), transaction_id, next_height)
    except GusuError as error:
        verdict = "wrong_chain" if transaction.chain_id != chain_id else "expired"
        return TransactionVerdict(verdict, type(error).__name__, transaction_id, sender)
    if not suite.verify(transaction.sender_public_key, transaction_id, transaction.signature):
        return TransactionVerdict("bad_signature", InvalidSignatureError.__name__, transaction_id, sender)
    return TransactionVerdict("valid", "", transaction_id, sender)


@dataclass(frozen=True, slots=True)
class BlockVerdict:
    stage: str
    """"valid", or the stage of `STAGES` that rejected the block."""
    error: str
    message: str
    built: CommittedBlock | None
    """Everything a valid block commits (its receipts, writes and roots)."""


def compute_block_verdict(suite: CryptoSuite, chain: ChainState, raw_block: bytes) -> BlockVerdict:
    """Check `raw_block` as the next block of `chain` with the two steps `Node.validate_block` calls."""

    def reject(stage: str, error: GusuError) -> BlockVerdict:
        return BlockVerdict(stage, type(error).__name__, str(error), None)

    try:
        block = decode_raw_block(raw_block)
    except CodecError as error:
        return reject("decode", error)
    try:
        check = start_block_check(chain.rules, chain.tip, chain.tip_hash, block, chain.committed.__contains__)
        verdicts = {}
        for position in check.unverified:
            verdicts[position] = suite.verify(*get_signature_check(check.entries[position]))
        built = finish_block_check(
            chain.rules, chain.executor, chain.state, chain.state_tree, chain.tip, chain.tip_hash, check, verdicts
        )
    except InvalidBlockError as error:
        return reject(error.stage or "unknown", error)
    return BlockVerdict("valid", "", "", built)


def compute_certificate_verdict(
    suite: CryptoSuite, chain_id: str, validators: ValidatorSet, raw_certificate: bytes, block_hash: Hash
) -> tuple[str, str]:
    """("valid", "") or ("invalid", error class) for a certificate said to commit `block_hash`."""
    try:
        certificate = decode_commit_certificate(raw_certificate)
        verify_commit_certificate(suite, chain_id, validators, certificate, block_hash)
    except GusuError as error:
        return "invalid", type(error).__name__
    return "valid", ""


# --- JSON forms of what a valid block commits -------------------------------------------------------


def compute_block_expectation(suite: CryptoSuite, block: CommittedBlock) -> dict[str, Any]:
    header = block.header
    return {
        "block_hash": _hex(block.block_hash),
        "transaction_ids": [_hex(item) for item in block.transaction_ids],
        "transactions_root": _hex(header.transactions_root),
        "receipts": [
            {
                "status": int(receipt.status),
                "error_code": receipt.error_code,
                "gas_used": receipt.gas_used,
                "encoding": _hex(encode_receipt(receipt)),
                "leaf_hash": _hex(compute_receipt_leaf(suite, receipt)),
            }
            for receipt in block.receipts
        ],
        "receipts_root": _hex(header.receipts_root),
        "writes": [[_hex(key), None if value is None else _hex(value)] for key, value in block.writes],
        "state_root": _hex(header.state_root),
    }


def _header_json(header: BlockHeader) -> dict[str, Any]:
    """The header's fields, for people reading the file (the encoding in ``raw_block`` is what counts)."""
    return {
        "chain_id": header.chain_id,
        "height": header.height,
        "parent_hash": _hex(header.parent_hash),
        "timestamp_ms": header.timestamp_ms,
        "proposer": _hex(header.proposer),
        "transaction_count": header.transaction_count,
    }


# --- the generator ---------------------------------------------------------------------------------


class _Generator:
    """Builds the vector chain of one suite and the documents around it."""

    def __init__(self, suite: CryptoSuite) -> None:
        self.suite = suite
        self.genesis = compute_vector_genesis(suite)
        self.chain_id = self.genesis.chain_id
        self.validator_keys = [compute_seed_key(suite, "validator", i) for i in range(len(VALIDATOR_POWERS))]
        self.client_keys = [compute_seed_key(suite, "client", i) for i in range(CLIENT_COUNT)]
        self.clients = [get_address(suite, key) for key in self.client_keys]
        self.validator_set = ValidatorSet.from_genesis(self.genesis)
        self.chain = ChainState.from_genesis(suite, self.genesis)
        self.genesis_block_hash = self.chain.tip_hash
        self.genesis_state_root = self.chain.tip.state_root
        self.nonce = 0
        self.committed_blocks: list[tuple[CommittedBlock, CommitCertificate]] = []

    # transactions

    def sign(
        self,
        client: int,
        contract: str,
        method: str,
        args: Sequence[Value],
        valid_until_height: int,
        *,
        chain_id: str | None = None,
    ) -> SignedTransaction:
        self.nonce += 1
        return build_transaction(
            self.client_keys[client],
            self.chain_id if chain_id is None else chain_id,
            contract,
            method,
            args,
            Height(valid_until_height),
            nonce=self.nonce,
        )

    def transfer(self, client: int, to: int, amount: int, valid_until_height: int | None = None) -> SignedTransaction:
        until = self.chain.tip.height + 1 if valid_until_height is None else valid_until_height
        return self.sign(client, "account", "transfer", [self.clients[to], amount], until)

    def record(self, client: int, document: bytes, metadata: str) -> SignedTransaction:
        document_hash = hashlib.sha256(document).digest()
        return self.sign(client, "evidence", "record", [document_hash, metadata], self.chain.tip.height + 1)

    @staticmethod
    def entry(signed: SignedTransaction) -> PoolTransaction:
        return PoolTransaction(signed.transaction, signed.transaction_id, signed.sender, signed.raw)

    # blocks and certificates

    def next_time_ms(self) -> int:
        return self.chain.tip.timestamp_ms + BLOCK_INTERVAL_MS

    def next_proposer(self) -> Address:
        return self.validator_set.get_proposer(Height(self.chain.tip.height + 1), Round(0)).address

    def precommit(
        self,
        index: int,
        height: Height,
        round_: Round,
        block_hash: Hash,
        timestamp_ms: int,
        chain_id: str | None = None,
    ) -> CommitSignature:
        key = self.validator_keys[index]
        vote = Vote(
            VoteKind.PRECOMMIT,
            self.chain_id if chain_id is None else chain_id,
            height,
            round_,
            block_hash,
            timestamp_ms,
            get_address(self.suite, key),
            b"",
        )
        signature = make_signer(self.suite, key)(encode_signing_bytes(vote))
        return CommitSignature(vote.validator, timestamp_ms, signature)

    def certify(self, block: CommittedBlock, signers: Sequence[int], round_: int = 0) -> CommitCertificate:
        votes = []
        for index in signers:
            entry = self.precommit(
                index, block.header.height, Round(round_), block.block_hash, block.header.timestamp_ms + 100 + index
            )
            votes.append(
                Vote(
                    VoteKind.PRECOMMIT,
                    self.chain_id,
                    block.header.height,
                    Round(round_),
                    block.block_hash,
                    entry.timestamp_ms,
                    entry.validator,
                    entry.signature,
                )
            )
        return assemble_commit_certificate(votes)

    def commit(self, signed: Sequence[SignedTransaction], signers: Sequence[int], round_: int = 0) -> CommittedBlock:
        block = self.chain.build([self.entry(item) for item in signed], self.next_time_ms(), self.next_proposer())
        certificate = self.certify(block, signers, round_)
        self.chain.commit(block)
        self.committed_blocks.append((block, certificate))
        return block

    def build_chain(self) -> None:
        """Three blocks: transfers and an evidence record; failing transactions; an empty block."""
        self.commit(
            [
                self.transfer(0, 1, 2_500),
                self.record(1, b"gusu-vectors/document/0", "the first recorded document"),
                self.transfer(1, 2, 10),
            ],
            signers=[0, 1, 2, 3],
        )
        self.commit(
            [
                self.transfer(2, 0, 1_000_000),  # FAILED: client 2 holds 10
                self.sign(1, "account", "mint", [self.clients[1], 5], self.chain.tip.height + 1),  # FAILED: no admin
                self.sign(0, "account", "mint", [self.clients[2], 7], self.chain.tip.height + 3),
                self.record(1, b"gusu-vectors/document/0", "recorded again"),  # FAILED: already recorded
            ],
            signers=[0, 1],  # exactly a quorum: 4 + 3 = 7 of 10
            round_=2,
        )
        self.commit([], signers=[0, 2, 3, 1])

    # the documents

    def header_of_document(self, kind: str) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": kind,
            "suite": self.suite.name,
            "generated_by": WRITE_COMMAND,
            "description": _DESCRIPTIONS[kind],
            "genesis": genesis_to_json(self.genesis),
            "genesis_hash": _hex(compute_genesis_hash(self.suite, self.genesis)),
        }

    def transactions_document(self) -> dict[str, Any]:
        next_height = Height(1)
        vectors: list[dict[str, Any]] = []

        def add(name: str, about: str, raw: bytes, verdict: str) -> None:
            vectors.append({"name": name, "about": about, "raw": _hex(raw), "verdict": verdict})

        transfer = self.sign(0, "account", "transfer", [self.clients[1], 42], 1)
        record = self.sign(1, "evidence", "record", [bytes(32), "a document"], TRANSACTION_WINDOW_BLOCKS)
        add("transfer", "a signed account.transfer", transfer.raw, "valid")
        add("evidence_record", "an evidence.record at the far end of its validity window", record.raw, "valid")
        fields = _transaction_fields(transfer.transaction)
        add(
            "array16_header",
            "the same transfer with its 9-item array header written as array16 (0xdc 0x0009) instead of fixarray",
            b"\xdc\x00\x09" + b"".join(encode(field) for field in fields),
            "malformed",
        )
        nonce_position = 2
        add(
            "wide_nonce",
            "the nonce written as a uint64 (0xcf) although it fits a shorter form",
            b"\x99"
            + b"".join(
                b"\xcf" + transfer.transaction.nonce.to_bytes(8, "big") if i == nonce_position else encode(field)
                for i, field in enumerate(fields)
            ),
            "malformed",
        )
        add("trailing_byte", "a valid encoding followed by one more byte", transfer.raw + b"\x00", "malformed")
        add("truncated", "a valid encoding without its last byte", transfer.raw[:-1], "malformed")
        add(
            "wrong_tag",
            "the record tag of a transaction payload instead of a signed transaction",
            encode(["gusu.txpayload.v1", *fields[1:]]),
            "malformed",
        )
        add(
            "short_signature",
            "a 63-byte signature",
            encode([*fields[:-1], transfer.transaction.signature[:-1]]),
            "malformed",
        )
        bad_key = replace(transfer.transaction, sender_public_key=b"\x04" + b"\x01" * 64)
        add(
            "invalid_sender_key",
            "a sender public key that is not a point of the curve",
            encode_transaction(bad_key),
            "invalid_key",
        )
        flipped = bytearray(transfer.transaction.signature)
        flipped[10] ^= 0x01
        add(
            "flipped_signature_bit",
            "one bit of the signature flipped",
            encode_transaction(replace(transfer.transaction, signature=bytes(flipped))),
            "bad_signature",
        )
        other_key = self.client_keys[1]
        add(
            "signed_by_another_key",
            "signed by client 1 but naming client 0's public key",
            encode_transaction(
                replace(transfer.transaction, signature=self.suite.sign(other_key, transfer.transaction_id))
            ),
            "bad_signature",
        )
        add(
            "signed_hash_of_id",
            "the signature is over the hash of the transaction id instead of the id itself",
            encode_transaction(
                replace(
                    transfer.transaction,
                    signature=self.suite.sign(self.client_keys[0], self.suite.hash(transfer.transaction_id)),
                )
            ),
            "bad_signature",
        )
        add(
            "wrong_chain",
            "correctly signed, for another chain",
            self.sign(0, "account", "transfer", [self.clients[1], 42], 1, chain_id="another-chain").raw,
            "wrong_chain",
        )
        add(
            "expired",
            "valid_until_height 0 while block 1 is next",
            self.sign(0, "account", "transfer", [self.clients[1], 42], 0).raw,
            "expired",
        )
        add(
            "too_far_ahead",
            f"valid_until_height {TRANSACTION_WINDOW_BLOCKS + 1}: beyond the {TRANSACTION_WINDOW_BLOCKS}-block window",
            self.sign(0, "account", "transfer", [self.clients[1], 42], TRANSACTION_WINDOW_BLOCKS + 1).raw,
            "expired",
        )
        for vector in vectors:
            verdict = compute_transaction_verdict(
                self.suite, self.chain_id, next_height, TRANSACTION_WINDOW_BLOCKS, _unhex(vector["raw"])
            )
            assert verdict.verdict == vector["verdict"], (vector["name"], verdict)
            vector["error"] = verdict.error
            vector["transaction_id"] = None if verdict.transaction_id is None else _hex(verdict.transaction_id)
            vector["sender"] = None if verdict.sender is None else _hex(verdict.sender)
            if verdict.transaction_id is not None:
                transaction = decode_transaction(_unhex(vector["raw"]))
                vector["payload"] = _hex(encode_transaction_payload(transaction))
        document = self.header_of_document("transactions")
        document["next_height"] = next_height
        document["transaction_window_blocks"] = TRANSACTION_WINDOW_BLOCKS
        document["vectors"] = vectors
        return document

    def blocks_document(self) -> dict[str, Any]:
        chain_json = [
            {
                "raw_block": _hex(encode_raw_block(RawBlock(block.header, block.raw_transactions))),
                "header": _header_json(block.header),
                "certificate": _hex(encode_commit_certificate(certificate)),
                "expected": compute_block_expectation(self.suite, block),
            }
            for block, certificate in self.committed_blocks
        ]
        document = self.header_of_document("blocks")
        document["genesis_block"] = {
            "block_hash": _hex(self.genesis_block_hash),
            "state_root": _hex(self.genesis_state_root),
        }
        document["chain"] = chain_json
        document["candidates"] = self.candidates()
        return document

    def candidates(self) -> list[dict[str, Any]]:
        """Next blocks on top of the chain's tip, each valid or breaking one rule."""
        chain = self.chain
        tip = chain.tip
        height = tip.height + 1
        time_ms = self.next_time_ms()
        proposer = self.next_proposer()
        candidates: list[dict[str, Any]] = []

        def add(name: str, about: str, header: BlockHeader, raws: Sequence[bytes], rule: str, stage: str) -> None:
            raw_block = encode(["gusu.block.v1", encode_header(header), list(raws)])
            candidates.append(
                {
                    "name": name,
                    "about": about,
                    "rule": rule,
                    "raw_block": _hex(raw_block),
                    "header": _header_json(header),
                    "verdict": "valid" if stage == "valid" else "invalid",
                    "stage": stage,
                }
            )

        def built(
            signed: Sequence[SignedTransaction], timestamp_ms: int = time_ms, by: Address = proposer
        ) -> tuple[BlockHeader, list[bytes]]:
            block = chain.build([self.entry(item) for item in signed], timestamp_ms, by)
            return block.header, [item.raw for item in signed]

        good = [self.transfer(0, 2, 300), self.record(2, b"gusu-vectors/document/1", "a second document")]
        header, raws = built(good)
        add("valid", "two fresh transactions on top of the tip", header, raws, "", "valid")
        edge = self.transfer(1, 0, 1, valid_until_height=height + TRANSACTION_WINDOW_BLOCKS - 1)
        add("valid_window_edge", "a transaction at the far end of its validity window", *built([edge]), "", "valid")
        add(
            "valid_latest_time",
            "the latest time a block may carry, BLOCK_TIME_MS_MAX",
            *built([], timestamp_ms=BLOCK_TIME_MS_MAX),
            "",
            "valid",
        )
        add(
            "valid_other_proposer",
            "another validator as proposer (the rules ask a validator, not the round's)",
            *built([], by=self.validator_set.validators[-1].address),
            "",
            "valid",
        )

        # The header rules (validate_next_header).
        header, raws = built(good)
        add(
            "wrong_chain",
            "the header names another chain",
            replace(header, chain_id="another-chain"),
            raws,
            "header.chain_id",
            "header",
        )
        add(
            "wrong_height",
            "height tip + 2",
            replace(header, height=Height(height + 1)),
            raws,
            "header.height",
            "header",
        )
        parent_of_tip = self.committed_blocks[-2][0].block_hash
        add(
            "wrong_parent",
            "the parent hash of the tip's parent",
            replace(header, parent_hash=parent_of_tip),
            raws,
            "header.parent_hash",
            "header",
        )
        add(
            "wrong_validators_hash",
            "another validators hash",
            replace(header, validators_hash=Hash(self.suite.hash(b"another validator set"))),
            raws,
            "header.validators_hash",
            "header",
        )
        add(
            "wrong_next_validators_hash",
            "another next validators hash (the set scheduled for the following height)",
            replace(header, next_validators_hash=Hash(self.suite.hash(b"another validator set"))),
            raws,
            "header.next_validators_hash",
            "header",
        )
        add(
            "proposer_not_validator",
            "proposed by a client, built consistently otherwise",
            *built(good, by=self.clients[0]),
            "header.proposer",
            "header",
        )
        add(
            "time_not_after_parent",
            "the tip's own time",
            *built(good, timestamp_ms=tip.timestamp_ms),
            "header.timestamp_after_parent",
            "header",
        )
        add(
            "time_past_max",
            "BLOCK_TIME_MS_MAX + 1",
            *built([], timestamp_ms=BLOCK_TIME_MS_MAX + 1),
            "header.timestamp_max",
            "header",
        )

        # The encoding.
        add(
            "transaction_count_mismatch",
            "the header says 3 transactions, the block carries 2",
            replace(header, transaction_count=3),
            raws,
            "block.transaction_count",
            "decode",
        )

        # Each transaction (decode_block_transaction).
        malformed = self.transfer(0, 1, 5).raw + b"\x00"
        add(
            "malformed_transaction",
            "a transaction encoding followed by one more byte",
            replace(header, transaction_count=1),
            [malformed],
            "transaction.canonical",
            "transactions",
        )
        bad_key = replace(self.transfer(0, 1, 6).transaction, sender_public_key=b"\x04" + b"\x01" * 64)
        add(
            "invalid_sender_key",
            "a sender key that is not a point of the curve",
            replace(header, transaction_count=1),
            [encode_transaction(bad_key)],
            "transaction.sender_key",
            "transactions",
        )

        # The body rules (validate_block_body); each block is otherwise consistent (built by build_block).
        add(
            "too_many_transactions",
            f"{BLOCK_TRANSACTIONS_MAX + 1} small transactions",
            *built([self.transfer(0, 1, 1 + i) for i in range(BLOCK_TRANSACTIONS_MAX + 1)]),
            "body.transactions_max",
            "body",
        )
        bulky = [self.record(0, f"gusu-vectors/bulky/{i}".encode(), "x" * 600) for i in range(3)]
        add(
            "too_many_bytes",
            f"3 transactions of more than {BLOCK_BYTES_MAX // 3} bytes each",
            *built(bulky),
            "body.bytes_max",
            "body",
        )
        add("duplicate_transaction", "one transaction twice", *built([good[0], good[0]]), "body.duplicate", "body")
        # A replay is checked after the window, so the replayed transaction must still be inside its
        # window: block 2's mint was signed with a long one.
        replayed_block = self.committed_blocks[1][0]
        replay = self.entry(
            SignedTransaction(
                decode_transaction(replayed_block.raw_transactions[2]),
                replayed_block.transaction_ids[2],
                replayed_block.raw_transactions[2],
                replayed_block.senders[2],
            )
        )
        block = chain.build([replay], time_ms, proposer)
        add(
            "replayed_transaction",
            "a transaction committed in block 2 (still inside its window)",
            block.header,
            [replay.raw],
            "body.replay",
            "body",
        )
        expired = self.transfer(0, 1, 8, valid_until_height=height - 1)
        add(
            "transaction_expired",
            "valid_until_height below the block's height",
            *built([expired]),
            "body.window",
            "body",
        )
        ahead = self.transfer(0, 1, 9, valid_until_height=height + TRANSACTION_WINDOW_BLOCKS)
        add(
            "transaction_too_far_ahead",
            "valid_until_height = height + window: one past the window's end",
            *built([ahead]),
            "body.window",
            "body",
        )
        foreign = self.sign(0, "account", "transfer", [self.clients[1], 3], height, chain_id="another-chain")
        add(
            "wrong_chain_transaction",
            "a correctly signed transaction of another chain",
            *built([foreign]),
            "body.transaction_chain",
            "body",
        )

        # Signatures.
        victim = self.transfer(0, 1, 11)
        forged = replace(victim.transaction, signature=self.suite.sign(self.client_keys[1], victim.transaction_id))
        forged_signed = SignedTransaction(forged, victim.transaction_id, encode_transaction(forged), victim.sender)
        add(
            "invalid_signature",
            "client 0's transfer signed by client 1's key",
            *built([good[1], forged_signed]),
            "signature",
            "signatures",
        )

        # Execution (build_block again, validate_execution).
        header, raws = built(good)
        other = Hash(self.suite.hash(b"not this root"))
        add(
            "wrong_transactions_root",
            "a valid block whose header names another transactions root",
            replace(header, transactions_root=other),
            raws,
            "execution.transactions_root",
            "execution",
        )
        add(
            "wrong_receipts_root",
            "a valid block whose header names another receipts root",
            replace(header, receipts_root=other),
            raws,
            "execution.receipts_root",
            "execution",
        )
        add(
            "wrong_state_root",
            "a valid block whose header names another state root",
            replace(header, state_root=other),
            raws,
            "execution.state_root",
            "execution",
        )
        swapped = [raws[1], raws[0]]
        add(
            "reordered_transactions",
            "the transactions of a valid block in another order, header unchanged",
            header,
            swapped,
            "execution.transactions_root",
            "execution",
        )

        for candidate in candidates:
            verdict = compute_block_verdict(self.suite, chain, _unhex(candidate["raw_block"]))
            assert verdict.stage == candidate["stage"], (candidate["name"], verdict)
            candidate["error"] = verdict.error
            if verdict.built is not None:
                candidate["expected"] = compute_block_expectation(self.suite, verdict.built)
        return candidates

    def certificates_document(self) -> dict[str, Any]:
        block, certificate = self.committed_blocks[0]
        height = block.header.height
        block_hash = block.block_hash
        time_ms = block.header.timestamp_ms + 100
        signature = {index: self.precommit(index, height, Round(0), block_hash, time_ms + index) for index in range(4)}
        vectors: list[dict[str, Any]] = []

        def add(
            name: str,
            about: str,
            entries: Sequence[CommitSignature],
            verdict: str,
            *,
            round_: int = 0,
            certified_hash: Hash = block_hash,
            cert_height: Height = height,
        ) -> None:
            raw = encode_commit_certificate(
                CommitCertificate(cert_height, Round(round_), certified_hash, tuple(entries))
            )
            vectors.append({"name": name, "about": about, "certificate": _hex(raw), "verdict": verdict})

        add("valid_all", "all four validators (power 10 of 10)", [signature[i] for i in range(4)], "valid")
        add(
            "valid_quorum",
            "validators 0 and 1: power 4 + 3 = 7, exactly a quorum",
            [signature[0], signature[1]],
            "valid",
        )
        add(
            "valid_as_committed",
            "the certificate stored with block 1 in blocks-*.json",
            certificate.signatures,
            "valid",
        )
        round_7 = [self.precommit(i, height, Round(7), block_hash, time_ms + i) for i in (0, 1, 2)]
        add("valid_later_round", "precommits of round 7", round_7, "valid", round_=7)
        forged_bytes = bytearray(signature[1].signature)
        forged_bytes[5] ^= 0x01
        add(
            "forged_signature",
            "validator 1's signature with one bit flipped",
            [signature[0], replace(signature[1], signature=bytes(forged_bytes)), signature[2]],
            "invalid",
        )
        client_key = self.client_keys[0]
        client_vote = self.suite.sign(
            client_key, self.suite.hash(encode_commit_vote(self.chain_id, height, Round(0), block_hash, time_ms))
        )
        add(
            "signer_not_validator",
            "validators 0 and 1 plus a client's valid precommit signature",
            [signature[0], signature[1], CommitSignature(self.clients[0], time_ms, client_vote)],
            "invalid",
        )
        add(
            "duplicate_signer",
            "validator 0 twice and validator 3: 4 + 4 + 1 would pass if counted twice",
            [signature[0], signature[0], signature[3]],
            "invalid",
        )
        add(
            "too_little_power",
            "three of four validators, but power 3 + 2 + 1 = 6 < 7",
            [signature[1], signature[2], signature[3]],
            "invalid",
        )
        add("empty", "no signatures", [], "invalid")
        other_hash = self.committed_blocks[1][0].block_hash
        other = [self.precommit(i, Height(height + 1), Round(0), other_hash, time_ms + i) for i in range(4)]
        add(
            "wrong_block_hash",
            "a valid certificate of block 2, offered for block 1",
            other,
            "invalid",
            certified_hash=other_hash,
            cert_height=Height(height + 1),
        )
        add(
            "signature_wrong_round",
            "validator 2 signed for round 1 while the certificate is of round 0",
            [signature[0], signature[1], self.precommit(2, height, Round(1), block_hash, time_ms + 2)],
            "invalid",
        )
        add(
            "signature_wrong_height",
            "validator 2 signed for height 2 while the certificate is of height 1",
            [signature[0], signature[1], self.precommit(2, Height(height + 1), Round(0), block_hash, time_ms + 2)],
            "invalid",
        )
        add(
            "signature_wrong_timestamp",
            "validator 2's entry names another time than the one it signed",
            [signature[0], signature[1], replace(signature[2], timestamp_ms=time_ms + 999)],
            "invalid",
        )
        add(
            "signature_wrong_chain",
            "validator 2 signed the precommit for another chain",
            [
                signature[0],
                signature[1],
                self.precommit(2, height, Round(0), block_hash, time_ms + 2, chain_id="another-chain"),
            ],
            "invalid",
        )
        for vector in vectors:
            verdict, error = compute_certificate_verdict(
                self.suite, self.chain_id, self.validator_set, _unhex(vector["certificate"]), block_hash
            )
            assert verdict == vector["verdict"], (vector["name"], verdict, error)
            vector["error"] = error
        document = self.header_of_document("certificates")
        document["block_height"] = height
        document["block_hash"] = _hex(block_hash)
        document["vectors"] = vectors
        return document


def _transaction_fields(transaction: Transaction) -> list[Value]:
    return [
        "gusu.tx.v1",
        transaction.chain_id,
        transaction.nonce,
        transaction.valid_until_height,
        transaction.sender_public_key,
        transaction.contract,
        transaction.method,
        transaction.args,
        transaction.signature,
    ]


def compute_vector_documents(suite_name: str) -> dict[str, dict[str, Any]]:
    """The documents of `suite_name`, by kind."""
    generator = _Generator(get_suite(suite_name))
    generator.build_chain()
    return {
        "transactions": generator.transactions_document(),
        "blocks": generator.blocks_document(),
        "certificates": generator.certificates_document(),
        statetree_vectors.KIND: statetree_vectors.compute_statetree_document(
            generator.suite,
            {"format": FORMAT, "kind": statetree_vectors.KIND, "suite": suite_name, "generated_by": WRITE_COMMAND},
        ),
    }


# --- the descriptions written into each file ------------------------------------------------------

_COMMON = [
    "Conformance vectors of the Gusu block rules (see docs/vectors.md). Byte strings are 0x-hex.",
    "Load `genesis` first: it is the chain's genesis document in its JSON form (gusu.ledger.genesis); "
    "`genesis_hash` is the suite's hash (SM3 for sm, keccak-256 for ecdsa) of its canonical encoding "
    '(docs/codec.md). Keys come from fixed seeds: validator i\'s secret is SHA-256("gusu-vectors/validator/i") '
    'and client i\'s SHA-256("gusu-vectors/client/i"), as 32-byte big-endian scalars.',
    "A `verdict` other than valid comes with `error`, the GusuError class the reference implementation raises; "
    "a second implementation should match the verdict (and the stage, for blocks), not the class name.",
]

_DESCRIPTIONS: dict[str, list[str]] = {
    "transactions": [
        *_COMMON,
        "Each vector is a raw signed transaction (`raw`, gusu.tx.v1) as a client submits it while block "
        "`next_height` is next, with the chain's `transaction_window_blocks`. Check in this order: decode "
        "canonically (else malformed); the sender key is a valid point (else invalid_key); the transaction id is "
        "the hash of the unsigned payload (`payload`, gusu.txpayload.v1) and the sender address the last 20 bytes "
        "of the hash of the key's X||Y; the chain id matches (else wrong_chain); next_height <= "
        "valid_until_height < next_height + window (else expired); the signature verifies over the 32-byte id "
        "with the sender key (else bad_signature; SM2 uses signer id 1234567812345678).",
    ],
    "blocks": [
        *_COMMON,
        "Build block 0 from genesis: no transactions, parent hash = genesis_hash, proposer = 20 zero bytes, state "
        "root chained from 32 zero bytes over the genesis writes of the contracts (account, evidence, system); "
        "`genesis_block` gives its hash and state root.",
        "Then apply the blocks of `chain` in order, each on top of the previous: each is valid, and its "
        "`certificate` (gusu.commit.v1) proves its commit by validators holding more than 2/3 of the power. "
        "After each, apply its state writes and remember its transaction ids as committed.",
        "Each of `candidates` is then checked on its own as the next block on top of the last chain block (none is "
        "applied). Check in this order, `stage` naming where an invalid one fails: decode (the block encoding, "
        "gusu.block.v1, whose header count must equal the transactions carried), header (chain, height = tip + 1, "
        "parent hash = tip's hash, validators hash, proposer is a validator, tip time < time <= BLOCK_TIME_MS_MAX = "
        "253402300799999), transactions (each canonical with a valid sender key), body (at most the genesis "
        "block_transactions_max and block_bytes_max, no duplicate, each of this chain, height <= "
        "valid_until_height < height + transaction_window_blocks, not committed before), signatures, and "
        "execution (re-execute on the tip's state: the transactions root, receipts root and state root must match "
        "the header's, and so must the whole header).",
        "For valid blocks `expected` gives the block hash (hash of the header encoding, gusu.header.v1), the "
        "transaction ids and their Merkle root, each receipt's encoding (gusu.receipt.v1) and leaf hash "
        "(hash of the encoding), the receipts root (Merkle root over the leaf hashes), the block's net state "
        "writes sorted by key (null = deleted) and the state root: the root of the state tree (docs/state.md, "
        "statetree-<suite>.json) holding the whole state after the block (genesis writes, then every block's). "
        "Merkle trees "
        "are RFC 6962's: leaves H(0x00 || item), nodes H(0x01 || left || right), an odd last node moves up "
        'unchanged, the empty root is H(""); see gusu.ledger.merkle, gusu.ledger.store and docs/codec.md.',
    ],
    "certificates": [
        *_COMMON,
        "Each vector is a commit certificate (gusu.commit.v1) offered as proof that block `block_hash` "
        "(block 1 of blocks-<suite>.json) is committed. It is valid when it is for that block hash, lists no "
        "validator twice and no non-validator, its signers hold more than 2/3 of the genesis voting power "
        "(powers 4, 3, 2, 1: 7 of 10), and each entry's signature verifies with that validator's key over "
        'H(encode(["gusu.precommit.v1", chain_id, height, round, block_hash, timestamp_ms])) with the '
        "certificate's height, round and block hash and the entry's own timestamp.",
    ],
}


# --- checking ---------------------------------------------------------------------------------------


def _compare(where: str, expected: object, actual: object, problems: list[str]) -> None:
    if expected == actual:
        return
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            _compare(f"{where}.{key}", expected.get(key), actual.get(key), problems)
        return
    problems.append(f"{where}: the file says {_shorten(expected)}, the code computes {_shorten(actual)}")


def _shorten(value: object) -> str:
    text = repr(value)
    return text if len(text) <= REPR_LENGTH_MAX else text[: REPR_LENGTH_MAX - 3] + "..."


def _check_document_header(
    kind: str, suite_name: str, document: dict[str, Any]
) -> tuple[CryptoSuite, Genesis] | list[str]:
    """The suite and genesis of `document`, or why the file is stale (the genesis or the format changed)."""
    if document.get("format") != FORMAT or document.get("kind") != kind or document.get("suite") != suite_name:
        return [
            f"the file is format {document.get('format')!r} of kind {document.get('kind')!r} and suite "
            f"{document.get('suite')!r}; this code reads format {FORMAT} of kind {kind!r} and suite {suite_name!r}"
        ]
    suite = get_suite(suite_name)
    current = genesis_to_json(compute_vector_genesis(suite))
    if document.get("genesis") != current:
        return [
            "the genesis in the file is not the genesis this code builds (the genesis format or its JSON form "
            "changed, for example a new validator field): the whole set must be regenerated"
        ]
    try:
        genesis = genesis_from_json(document["genesis"])
    except GusuError as error:
        return [f"the file's genesis no longer loads: {error}"]
    genesis_hash = _hex(compute_genesis_hash(suite, genesis))
    if document.get("genesis_hash") != genesis_hash:
        return [
            f"the genesis hash is {genesis_hash} now, {document.get('genesis_hash')} in the file: the genesis "
            "encoding changed, so every block hash changes"
        ]
    return suite, genesis


def check_transactions_document(suite: CryptoSuite, genesis: Genesis, document: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    next_height = Height(document["next_height"])
    window = int(document["transaction_window_blocks"])
    for vector in document["vectors"]:
        raw = _unhex(vector["raw"])
        verdict = compute_transaction_verdict(suite, genesis.chain_id, next_height, window, raw)
        actual: dict[str, Any] = {
            "verdict": verdict.verdict,
            "error": verdict.error,
            "transaction_id": None if verdict.transaction_id is None else _hex(verdict.transaction_id),
            "sender": None if verdict.sender is None else _hex(verdict.sender),
        }
        if verdict.transaction_id is not None:
            actual["payload"] = _hex(encode_transaction_payload(decode_transaction(raw)))
        expected = {key: vector.get(key) for key in actual}
        if "payload" not in actual and "payload" in vector:
            expected["payload"] = vector["payload"]
        _compare(f"transaction {vector['name']}", expected, actual, problems)
    return problems


def check_blocks_document(suite: CryptoSuite, genesis: Genesis, document: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    chain = ChainState.from_genesis(suite, genesis)
    _compare(
        "genesis_block",
        document["genesis_block"],
        {"block_hash": _hex(chain.tip_hash), "state_root": _hex(chain.tip.state_root)},
        problems,
    )
    validators = ValidatorSet.from_genesis(genesis)
    for position, item in enumerate(document["chain"]):
        where = f"chain block {position + 1}"
        verdict = compute_block_verdict(suite, chain, _unhex(item["raw_block"]))
        if verdict.built is None:
            problems.append(
                f"{where} is valid in the file, but the code rejects it ({verdict.stage}): {verdict.message}"
            )
            return problems  # every later block builds on this one
        _compare(where, item["expected"], compute_block_expectation(suite, verdict.built), problems)
        certificate_verdict = compute_certificate_verdict(
            suite, genesis.chain_id, validators, _unhex(item["certificate"]), verdict.built.block_hash
        )
        _compare(f"{where} certificate", ("valid", ""), certificate_verdict, problems)
        chain.commit(verdict.built)
    for candidate in document["candidates"]:
        verdict = compute_block_verdict(suite, chain, _unhex(candidate["raw_block"]))
        actual: dict[str, Any] = {"stage": verdict.stage, "error": verdict.error}
        expected: dict[str, Any] = {"stage": candidate["stage"], "error": candidate["error"]}
        if candidate["verdict"] != ("valid" if candidate["stage"] == "valid" else "invalid"):
            problems.append(f"candidate {candidate['name']}: verdict {candidate['verdict']!r} disagrees with its stage")
        if "expected" in candidate or verdict.built is not None:
            expected["expected"] = candidate.get("expected")
            actual["expected"] = None if verdict.built is None else compute_block_expectation(suite, verdict.built)
        before = len(problems)
        _compare(f"candidate {candidate['name']}", expected, actual, problems)
        if len(problems) > before and verdict.message:
            problems.append(f"  (the code says: {verdict.message})")
    return problems


def check_certificates_document(suite: CryptoSuite, genesis: Genesis, document: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    validators = ValidatorSet.from_genesis(genesis)
    block_hash = Hash(_unhex(document["block_hash"]))
    for vector in document["vectors"]:
        verdict, error = compute_certificate_verdict(
            suite, genesis.chain_id, validators, _unhex(vector["certificate"]), block_hash
        )
        _compare(
            f"certificate {vector['name']}",
            {"verdict": vector["verdict"], "error": vector["error"]},
            {"verdict": verdict, "error": error},
            problems,
        )
    return problems


_CHECKERS: dict[str, Callable[[CryptoSuite, Genesis, dict[str, Any]], list[str]]] = {
    "transactions": check_transactions_document,
    "blocks": check_blocks_document,
    "certificates": check_certificates_document,
}


def check_document(kind: str, suite_name: str, document: dict[str, Any]) -> list[str]:
    """Every way `document` disagrees with the code; empty when it conforms."""
    if kind == statetree_vectors.KIND:
        # The state tree stands alone: no genesis, no chain, only keys, values, roots and proofs.
        if (document.get("format"), document.get("kind"), document.get("suite")) != (FORMAT, kind, suite_name):
            return [f"the file is not a format {FORMAT} {kind} document of suite {suite_name!r}"]
        return statetree_vectors.check_statetree_document(get_suite(suite_name), document)
    header = _check_document_header(kind, suite_name, document)
    if isinstance(header, list):
        return header
    suite, genesis = header
    return _CHECKERS[kind](suite, genesis, document)


def check_vector_file(directory: Path, kind: str, suite_name: str) -> list[str]:
    """Every problem with the vector file of `kind` and `suite_name`, each line naming the file; then the hint."""
    path = directory / get_file_name(kind, suite_name)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems = ["the file is missing"]
    except (OSError, ValueError) as error:
        problems = [f"the file cannot be read: {error}"]
    else:
        problems = check_document(kind, suite_name, document)
    if not problems:
        return []
    return [f"{path}: {problem}" for problem in problems] + [_REGENERATE_HINT]


def format_document(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1) + "\n"


def write_vector_files(directory: Path) -> list[Path]:
    """Generate, self-check and write every vector file; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for suite_name in SUITE_NAMES:
        for kind, document in compute_vector_documents(suite_name).items():
            problems = check_document(kind, suite_name, json.loads(format_document(document)))
            assert not problems, problems  # the generator and the checker disagree: a bug here
            path = directory / get_file_name(kind, suite_name)
            path.write_text(format_document(document), encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gusu.eval.vectors", description="Write or check the block-rule conformance vectors."
    )
    parser.add_argument("action", choices=("write", "check"))
    parser.add_argument("directory", type=Path, help="where the vector files live, normally tests/vectors")
    arguments = parser.parse_args(argv)
    if arguments.action == "write":
        for path in write_vector_files(arguments.directory):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
        return 0
    problems = [
        problem
        for suite_name in SUITE_NAMES
        for kind in KINDS
        for problem in check_vector_file(arguments.directory, kind, suite_name)
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"all {len(SUITE_NAMES) * len(KINDS)} vector files in {arguments.directory} conform")
    return 0


if __name__ == "__main__":
    sys.exit(main())
