"""Commit certificates: assembling them from precommits, verifying them, and BFT time.

A block's commit certificate lists precommits for it, all from one round,
by validators holding more than 2/3 of the voting power. Each entry is a
`CommitSignature` (validator, timestamp, signature) whose signature covers
``suite.hash(encode_commit_vote(chain_id, height, round, block_hash,
timestamp_ms))``: the precommit itself, so no further signing is needed.

`verify_commit_certificate` is the one check a block needs to be trusted by
someone who knows only the validator set: a light client, a node syncing
blocks from untrusted peers, or an auditor. With fewer than 1/3 of the
power faulty, two valid certificates for different blocks at one height
cannot exist.

`compute_block_time_ms` is the median of the precommit timestamps weighted
by voting power (CometBFT's former BFT time). Correct validators hold more
than half of the power of any quorum, so the median lies between two
correct validators' clocks whatever the faulty ones write. Block time is
proposer-based now (see `gusu.consensus.tendermint`); the median is what a
certificate says about when its block was decided.
"""

from __future__ import annotations

from collections.abc import Iterable

from gusu.consensus.messages import Vote, VoteKind
from gusu.consensus.validator_set import ValidatorSet
from gusu.crypto import CryptoSuite
from gusu.errors import InvalidBlockError
from gusu.ledger.types import COMMIT_SIGNATURES_MAX, CommitCertificate, CommitSignature, Hash, encode_commit_vote


def assemble_commit_certificate(precommits: Iterable[Vote]) -> CommitCertificate:
    """A certificate from precommits for one block in one round, ordered by validator address.

    The caller has counted the power (the engine only assembles at a
    quorum); this checks only that the votes agree on what they commit.
    """
    votes = sorted(precommits, key=lambda vote: vote.validator)
    if not votes:
        raise ValueError("a commit certificate needs at least one precommit")
    first = votes[0]
    for vote in votes:
        if (
            vote.kind is not VoteKind.PRECOMMIT
            or vote.block_hash is None
            or (vote.chain_id, vote.height, vote.round, vote.block_hash)
            != (first.chain_id, first.height, first.round, first.block_hash)
        ):
            raise ValueError("a commit certificate is made of precommits for one block in one round")
    assert first.block_hash is not None
    return CommitCertificate(
        height=first.height,
        round=first.round,
        block_hash=first.block_hash,
        signatures=tuple(CommitSignature(vote.validator, vote.timestamp_ms, vote.signature) for vote in votes),
    )


def get_certificate_precommits(chain_id: str, certificate: CommitCertificate) -> list[Vote]:
    """The precommit votes a certificate is made of (to resend them to a peer one height behind)."""
    return [
        Vote(
            kind=VoteKind.PRECOMMIT,
            chain_id=chain_id,
            height=certificate.height,
            round=certificate.round,
            block_hash=certificate.block_hash,
            timestamp_ms=entry.timestamp_ms,
            validator=entry.validator,
            signature=entry.signature,
        )
        for entry in certificate.signatures
    ]


def verify_commit_certificate(
    suite: CryptoSuite,
    chain_id: str,
    validator_set: ValidatorSet,
    certificate: CommitCertificate,
    expected_block_hash: Hash | None = None,
) -> None:
    """Check that `certificate` proves the commit of its block; InvalidBlockError saying what is wrong.

    The structure is checked first and the signatures last, so a
    certificate that cannot be enough is rejected without any
    verification work.
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
    seen: set[bytes] = set()
    power = 0
    for entry in certificate.signatures:
        validator = validator_set.get_validator(entry.validator)
        if validator is None:
            raise InvalidBlockError(f"{where} is signed by 0x{entry.validator.hex()}, which is not a validator")
        if entry.validator in seen:
            raise InvalidBlockError(f"{where} lists validator 0x{entry.validator.hex()} more than once")
        seen.add(entry.validator)
        power += validator.power
    if not validator_set.is_quorum(power):
        raise InvalidBlockError(
            f"{where} carries {power} of {validator_set.total_power} voting power; "
            f"a commit needs at least {validator_set.quorum_power} (more than 2/3)"
        )
    for entry in certificate.signatures:
        validator = validator_set.get_validator(entry.validator)
        assert validator is not None
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


def compute_block_time_ms(certificate: CommitCertificate, validator_set: ValidatorSet) -> int:
    """The power-weighted median of the certificate's precommit timestamps.

    Sorting by timestamp, it is the first timestamp at which the power
    counted so far exceeds half the certificate's power. InvalidBlockError
    for an empty certificate or one naming a non-validator (verify it
    first).
    """
    weighted: list[tuple[int, int]] = []
    for entry in certificate.signatures:
        power = validator_set.get_power(entry.validator)
        if power == 0:
            raise InvalidBlockError(f"commit signature by 0x{entry.validator.hex()}, which is not a validator")
        weighted.append((entry.timestamp_ms, power))
    if not weighted:
        raise InvalidBlockError("an empty commit certificate has no time")
    weighted.sort()
    total = sum(power for _, power in weighted)
    counted = 0
    for timestamp_ms, power in weighted:
        counted += power
        if 2 * counted > total:
            return timestamp_ms
    raise AssertionError("unreachable: the counted power reaches the total")
