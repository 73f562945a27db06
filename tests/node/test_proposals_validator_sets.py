"""The node's consensus wire checks each message against the validator set of the message's height."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

import pytest

from gusu.consensus import Event, MessageReceived, SoloEngine, SoloSettings, Validator, ValidatorSet
from gusu.consensus.messages import Vote, VoteKind, encode_signing_bytes
from gusu.errors import InvalidSignatureError
from gusu.eval.simulation.crypto import make_identities
from gusu.ledger.store import CommittedBlock
from gusu.ledger.types import Address, Hash, Height, RawBlock, Round
from gusu.node.proposals import ProposalExchange
from gusu.node.wire import encode_vote_body

CHAIN = "gusu-test"
SUITE, IDENTITIES = make_identities("sim", 5, 5)
OLD = ValidatorSet(Validator(identity.address, identity.public_key, 1) for identity in IDENTITIES[:4])
NEW = ValidatorSet((Validator(identity.address, identity.public_key, 1) for identity in IDENTITIES[1:]), Height(3))


def _get_set(height: Height) -> ValidatorSet | None:
    """A node at tip 1: heights up to 2 run the old set, 3 the new one; later ones are not known yet."""
    if height <= 2:
        return OLD
    return NEW if height == 3 else None


def _exchange(events: list[Event]) -> ProposalExchange:
    async def never(block: RawBlock) -> CommittedBlock:
        raise AssertionError("no block is checked here")

    def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
        coroutine.close()

    return ProposalExchange(
        suite=SUITE,
        chain_id=CHAIN,
        get_validator_set=_get_set,
        get_engine=lambda: SoloEngine(SoloSettings()),
        get_height=lambda: Height(1),
        is_running=lambda: True,
        validate_block=never,
        on_event=events.append,
        enqueue=lambda peer, channel, body: None,
        spawn=spawn,
        on_local_fault=lambda error: None,
        clock=lambda: 1_000,
    )


def _vote_body(index: int, height: int, *, forged: bool = False) -> bytes:
    vote = Vote(
        VoteKind.PREVOTE, CHAIN, Height(height), Round(0), Hash(b"\xaa" * 32), 900, IDENTITIES[index].address, b""
    )
    signature = IDENTITIES[index].signer(encode_signing_bytes(vote))
    if forged:
        signature = IDENTITIES[(index + 1) % 5].signer(encode_signing_bytes(vote))
    return encode_vote_body(replace(vote, signature=signature))


def _deliver(body: bytes, sender: Address = IDENTITIES[1].address) -> list[Event]:
    events: list[Event] = []
    asyncio.run(_exchange(events).on_consensus_body(sender, body))
    return events


def test_votes_go_to_the_engine_only_from_validators_of_their_height() -> None:
    assert len(_deliver(_vote_body(0, 2))) == 1  # validator 0 is still in the set at height 2
    assert _deliver(_vote_body(0, 3)) == []  # removed at 3: dropped, the peer kept
    assert len(_deliver(_vote_body(4, 3))) == 1  # added at 3
    assert _deliver(_vote_body(4, 2)) == []  # not yet a validator at 2
    assert _deliver(_vote_body(1, 4)) == []  # a height whose set is not known yet
    assert all(isinstance(event, MessageReceived) for event in _deliver(_vote_body(2, 3)))


def test_a_forged_signature_by_a_member_of_the_height_still_disconnects() -> None:
    with pytest.raises(InvalidSignatureError):
        _deliver(_vote_body(4, 3, forged=True))
