"""A value in a contract's state, proved against a block: the proof a node serves and a client checks.

The state tree (`gusu.ledger.smt`) proves that a full state key holds a
value, or nothing, under a state root. A client does not trust a root, but
a block: either it holds the block's hash already (from a colleague, a
court record, a light client that followed the chain), or it knows the
validator set and trusts whatever a quorum of it certified. So a
`CertifiedStateProof` carries the whole path:

    validators --certificate--> block hash --hash of--> header --state_root--> proof --> (contract, key, value)

and there is one check per starting point:

* `validate_state_proof_in_block`: the client trusts a block hash. The
  header must hash to it, and the proof must lead from the contract's key
  and the claimed value to the header's state root.
* `validate_certified_state_proof`: the client trusts the validator set of
  the block's height. The set must hash to the header's `validators_hash`,
  the certificate must be a quorum of it over this block
  (`gusu.ledger.lightclient.verify_commit_signatures`, the nodes' own
  check; or, for a height a Raft engine ordered, its leader's signature),
  and then the same checks as above with the certified hash.

The state root of block H commits to the state after H's transactions, so
the proof is about the state "at height H". Both checks raise
InvalidStateProofError saying which link broke; the `is_` forms never raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gusu.crypto import CryptoSuite
from gusu.errors import InvalidBlockError, InvalidStateProofError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.lightclient import verify_commit_signatures, verify_leader_signature
from gusu.ledger.smt import StateProof, validate_state_proof
from gusu.ledger.statekey import compute_state_key
from gusu.ledger.types import BlockHeader, CommitCertificate, Hash, Height, compute_block_hash
from gusu.ledger.validators import compute_validators_hash

STATE_PROOF_KEY_BYTES_MAX = 4096
"""Bytes of a contract key a proof may be asked for: longer than any key a contract writes in practice, and
a bound on what one request makes a node hash and a reply carry."""


@dataclass(frozen=True, slots=True)
class CertifiedStateProof:
    """`contract`'s `key` holds `value` (None: nothing) in the state after block `header.height`."""

    contract: str
    key: bytes
    value: bytes | None
    proof: StateProof
    header: BlockHeader
    block_hash: Hash
    certificate: CommitCertificate | None
    """The block's commit certificate, when the node has it (the tip's arrives with the next block)."""

    @property
    def height(self) -> Height:
        return self.header.height


def _fail(message: str) -> InvalidStateProofError:
    return InvalidStateProofError(f"the state proof is not valid: {message}")


def validate_state_proof_in_block(suite: CryptoSuite, answer: CertifiedStateProof, trusted_block_hash: bytes) -> None:
    """Raise InvalidStateProofError unless `answer` proves its value in the block called `trusted_block_hash`."""
    if compute_block_hash(suite, answer.header) != trusted_block_hash:
        raise _fail(
            f"its header (height {answer.header.height}) is not the trusted block {bytes(trusted_block_hash).hex()}"
        )
    if answer.block_hash != trusted_block_hash:
        raise _fail("it names another block hash than its own header's")
    state_key = compute_state_key(answer.contract, answer.key)
    validate_state_proof(suite, answer.header.state_root, state_key, answer.value, answer.proof)


def validate_certified_state_proof(
    suite: CryptoSuite,
    answer: CertifiedStateProof,
    validators: Sequence[GenesisValidator],
    consensus: str = "tendermint",
) -> None:
    """Raise InvalidStateProofError unless `validators` (the set of the proof's height) certified the block
    and the block proves the value. `consensus`: the engine that ordered that height ("tendermint": a quorum
    of precommits; "raft": the leader's signature, which proves who ordered the block, not a majority)."""
    header = answer.header
    if compute_validators_hash(suite, validators) != header.validators_hash:
        raise _fail(f"the validator set given does not hash to the one header {header.height} names")
    certificate = answer.certificate
    if certificate is None:
        raise _fail(
            f"it carries no commit certificate for block {header.height} (the node has not stored it yet: "
            "ask again after the next block, or for an earlier height)"
        )
    if certificate.height != header.height:
        raise _fail(f"its certificate is for height {certificate.height}, not {header.height}")
    block_hash = compute_block_hash(suite, header)
    try:
        if consensus == "raft":
            verify_leader_signature(suite, header.chain_id, validators, certificate, expected_block_hash=block_hash)
        elif consensus == "tendermint":
            verify_commit_signatures(suite, header.chain_id, validators, certificate, expected_block_hash=block_hash)
        else:
            raise InvalidBlockError(f"no check for engine {consensus!r}: only tendermint and raft certify blocks")
    except InvalidBlockError as error:
        raise _fail(str(error)) from error
    validate_state_proof_in_block(suite, answer, block_hash)


def is_valid_state_proof_in_block(suite: CryptoSuite, answer: CertifiedStateProof, trusted_block_hash: bytes) -> bool:
    try:
        validate_state_proof_in_block(suite, answer, trusted_block_hash)
    except InvalidStateProofError:
        return False
    return True


def is_valid_certified_state_proof(
    suite: CryptoSuite,
    answer: CertifiedStateProof,
    validators: Sequence[GenesisValidator],
    consensus: str = "tendermint",
) -> bool:
    try:
        validate_certified_state_proof(suite, answer, validators, consensus)
    except InvalidStateProofError:
        return False
    return True
