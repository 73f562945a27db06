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
from gusu.ledger.lightclient import verify_commit_signatures
from gusu.ledger.types import CommitCertificate, CommitSignature, Hash


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

    `validator_set` must be the set in force at the certified height (after a
    change, the old set's signatures prove nothing). The check itself is
    `gusu.ledger.lightclient.verify_commit_signatures`, shared with light clients.
    """
    verify_commit_signatures(suite, chain_id, validator_set.ledger_validators, certificate, expected_block_hash)


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
