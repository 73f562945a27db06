"""Light-client verification: trusting a block from a header one trusts already, across validator-set changes.

A commit certificate (`CommitCertificate`) proves a block only to someone
who knows the validator set that had to sign it. Every header names two
sets by hash: `validators_hash`, the set in force at its height (the one
that signs its certificate), and `next_validators_hash`, the set in force
at the next height, which is known when the header is made because changes
take effect two blocks after the block that decides them
(`gusu.ledger.chainconfig`). So from a trusted header ``h`` and its set, a
client verifies header ``h + 1`` with

1. the header follows: same chain, height ``h + 1``, parent hash the hash
   of ``h``;
2. its `validators_hash` is the trusted header's `next_validators_hash`
   (the set cannot be switched behind the client's back);
3. the set offered for ``h + 1`` hashes to that value (a forged set is
   refused before any signature is looked at);
4. its certificate carries signatures by distinct members of that set
   holding more than 2/3 of its power, each over the precommit of that
   block (`verify_commit_signatures`).

A chain may switch its ordering engine (`set_consensus`; docs/consensus.md,
"Switching engines"), and a Raft block's certificate is not a quorum but
the signature of the member that led its height (`verify_leader_signature`:
it proves who ordered the block, not that a majority stored it; a Raft
chain trusts its members' honesty). So the caller says which engine
certified each height (`consensus`, from the chain's configuration
schedule, learnt like a new validator set from any source); the default is
Tendermint's quorum. Taking a Raft certificate for a Tendermint height
would lower the proof to one member's word: a client that does not trust
every member must not accept "raft" for a height without knowing it.

The verified header and its set become the new trusted pair
(`LightClientState`). The first trusted pair is the genesis block's header
(whose hash the client takes from the genesis document) and the genesis
validators.

`verify_commit_signatures` is the one certificate check in the code base:
`gusu.consensus.certificate.verify_commit_certificate` (nodes, block sync)
calls it with the set of the certified height. It lives here, below the
consensus layer, so that the SDK (which may import only crypto, codec and
ledger) runs the very same check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gusu.codec import encode
from gusu.crypto import CryptoSuite
from gusu.errors import InvalidBlockError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.types import (
    COMMIT_SIGNATURES_MAX,
    BlockHeader,
    CommitCertificate,
    Hash,
    Height,
    compute_block_hash,
    encode_commit_vote,
)
from gusu.ledger.validators import compute_validators_hash


def compute_quorum_power(total_power: int) -> int:
    """The smallest power p with 3p > 2 * total_power: strictly more than two thirds."""
    return (2 * total_power) // 3 + 1


def is_quorum_power(power: int, total_power: int) -> bool:
    """True for power strictly above 2/3 of the total (`gusu.consensus.validator_set` counts the same way)."""
    return 3 * power > 2 * total_power


def verify_commit_signatures(
    suite: CryptoSuite,
    chain_id: str,
    validators: Sequence[GenesisValidator],
    certificate: CommitCertificate,
    expected_block_hash: Hash | None = None,
) -> None:
    """InvalidBlockError unless `certificate` proves its block's commit by `validators` (the set of its height).

    The structure is checked first and the signatures last, so a
    certificate that cannot be enough is refused without verification work.
    """
    where = f"commit certificate of height {certificate.height}"
    if expected_block_hash is not None and certificate.block_hash != expected_block_hash:
        raise InvalidBlockError(
            f"{where} is for block {certificate.block_hash.hex()}, not {bytes(expected_block_hash).hex()}"
        )
    if len(certificate.signatures) > COMMIT_SIGNATURES_MAX:
        raise InvalidBlockError(
            f"{where} holds {len(certificate.signatures)} signatures; the limit is {COMMIT_SIGNATURES_MAX}"
        )
    by_address = {validator.address: validator for validator in validators}
    total_power = sum(validator.power for validator in validators)
    seen: set[bytes] = set()
    power = 0
    for entry in certificate.signatures:
        validator = by_address.get(entry.validator)
        if validator is None:
            raise InvalidBlockError(f"{where} is signed by 0x{entry.validator.hex()}, which is not a validator")
        if entry.validator in seen:
            raise InvalidBlockError(f"{where} lists validator 0x{entry.validator.hex()} more than once")
        seen.add(entry.validator)
        power += validator.power
    if not is_quorum_power(power, total_power):
        raise InvalidBlockError(
            f"{where} carries {power} of {total_power} voting power; "
            f"a commit needs at least {compute_quorum_power(total_power)} (more than 2/3)"
        )
    for entry in certificate.signatures:
        validator = by_address[entry.validator]
        digest = suite.hash(
            encode_commit_vote(
                chain_id, certificate.height, certificate.round, certificate.block_hash, entry.timestamp_ms
            )
        )
        if not suite.verify(validator.public_key, digest, entry.signature):
            raise InvalidBlockError(
                f"{where} has a signature by 0x{entry.validator.hex()} that does not verify for block "
                f"{certificate.block_hash.hex()} in round {certificate.round} of chain {chain_id}"
            )


TAG_RAFT_ENTRY_SIGNING = "gusu.raft.entry.v1"
"""What a Raft leader signs for each entry (`gusu.consensus.raft_messages`): its own tag, so a Raft signature
can never pass as a Tendermint precommit."""
RAFT_TERM_MAX = 2**62


def encode_raft_entry_signing_bytes(
    chain_id: str, height: Height, term: int, block_hash: Hash, timestamp_ms: int
) -> bytes:
    return encode([TAG_RAFT_ENTRY_SIGNING, chain_id, height, term, block_hash, timestamp_ms])


def verify_leader_signature(
    suite: CryptoSuite,
    chain_id: str,
    validators: Sequence[GenesisValidator],
    certificate: CommitCertificate,
    *,
    expected_block_hash: Hash,
) -> None:
    """A Raft certificate: exactly one signature, by a member of `validators`, over the Raft entry of the block
    (round = term, the signature's timestamp = the entry's). InvalidBlockError otherwise."""
    where = f"the Raft certificate of block {certificate.height}"
    if certificate.block_hash != expected_block_hash:
        raise InvalidBlockError(f"{where} is for another block")
    if len(certificate.signatures) != 1:
        raise InvalidBlockError(f"{where} holds {len(certificate.signatures)} signatures, not the leader's one")
    if not 1 <= certificate.round <= RAFT_TERM_MAX:
        raise InvalidBlockError(f"{where} names term {certificate.round}, outside 1..{RAFT_TERM_MAX}")
    [entry] = certificate.signatures
    member = next((validator for validator in validators if validator.address == entry.validator), None)
    if member is None:
        raise InvalidBlockError(f"{where} is signed by 0x{entry.validator.hex()}, not a member of its height")
    signing_bytes = encode_raft_entry_signing_bytes(
        chain_id, certificate.height, certificate.round, certificate.block_hash, entry.timestamp_ms
    )
    if not suite.verify(member.public_key, suite.hash(signing_bytes), entry.signature):
        raise InvalidBlockError(f"{where} has a leader signature that does not verify")


@dataclass(frozen=True, slots=True)
class LightClientState:
    """A header the client trusts, its hash, and the validator set in force at its height."""

    header: BlockHeader
    block_hash: Hash
    validators: tuple[GenesisValidator, ...]


def start_light_client(
    suite: CryptoSuite, header: BlockHeader, block_hash: Hash, validators: Sequence[GenesisValidator]
) -> LightClientState:
    """The first trusted pair (usually the genesis block and the genesis validators); InvalidBlockError if
    the header is not the block called `block_hash` or the set is not the one the header names."""
    if compute_block_hash(suite, header) != block_hash:
        raise InvalidBlockError(f"header {header.height} is not the block {bytes(block_hash).hex()}")
    if compute_validators_hash(suite, validators) != header.validators_hash:
        raise InvalidBlockError(f"the validator set given for height {header.height} is not the one its header names")
    return LightClientState(header, block_hash, tuple(validators))


def verify_next_header(
    suite: CryptoSuite,
    trusted: LightClientState,
    header: BlockHeader,
    certificate: CommitCertificate,
    validators: Sequence[GenesisValidator],
    consensus: str = "tendermint",
) -> LightClientState:
    """Verify `header` (height ``trusted + 1``), certified by `certificate` and signed by `validators`; the
    new trusted state. `consensus`: the engine in force at the header's height ("tendermint": a quorum of
    precommits; "raft": the leader's signature, see the module docstring). InvalidBlockError saying which
    rule it breaks."""
    previous = trusted.header
    height = header.height
    if header.chain_id != previous.chain_id:
        raise InvalidBlockError(f"header {height} belongs to chain {header.chain_id!r}, not {previous.chain_id!r}")
    if height != previous.height + 1:
        raise InvalidBlockError(f"header {height} does not follow the trusted header {previous.height}")
    if header.parent_hash != trusted.block_hash:
        raise InvalidBlockError(f"header {height} names another parent than the trusted block {previous.height}")
    if header.validators_hash != previous.next_validators_hash:
        raise InvalidBlockError(
            f"header {height} names validator set {header.validators_hash.hex()}, but the trusted header "
            f"{previous.height} announced {previous.next_validators_hash.hex()}"
        )
    if compute_validators_hash(suite, validators) != header.validators_hash:
        raise InvalidBlockError(
            f"the validator set given for height {height} does not hash to the one its header names: "
            "ask for the set again from another source"
        )
    if certificate.height != height:
        raise InvalidBlockError(f"a certificate for height {certificate.height} came with header {height}")
    block_hash = compute_block_hash(suite, header)
    if consensus == "raft":
        verify_leader_signature(suite, header.chain_id, validators, certificate, expected_block_hash=block_hash)
    elif consensus == "tendermint":
        verify_commit_signatures(suite, header.chain_id, validators, certificate, expected_block_hash=block_hash)
    else:
        raise InvalidBlockError(f"no light-client check for engine {consensus!r}: only tendermint and raft certify")
    return LightClientState(header, block_hash, tuple(validators))
