"""A consortium chain for governance tests: three organisations, four validators, helpers to propose and vote."""

from __future__ import annotations

from collections.abc import Sequence

from execution_helpers import (
    CHAIN_ID,
    GENESIS_TIME_MS,
    SUITE_NAME,
    Chain,
    get_address,
    get_event_data,
    get_return,
    make_key,
    make_transaction,
)

from gusu.codec import Value, encode
from gusu.crypto import PrivateKey
from gusu.ledger.genesis import DEFAULT_PARAMETERS, Allocation, Genesis, GenesisOrganization, GenesisValidator
from gusu.ledger.types import Address, Receipt

ORGANIZATIONS = ("org-a", "org-b", "org-c")
ADMIN_KEYS = {"org-a": make_key(11), "org-b": make_key(12), "org-c": make_key(13)}
SECOND_ADMIN_KEY = make_key(14)
"""A second admin of org-a: an organisation has one vote, whichever admin casts it."""
OUTSIDER_KEY = make_key(15)
CLIENT_KEY = make_key(16)
VALIDATOR_KEYS = tuple(make_key(20 + index) for index in range(6))
CERTIFICATE = b"\x30\x82" + b"\x01" * 60
"""Opaque stand-in for a DER CA certificate: the contract stores it, the transport parses it."""


def admin_of(organization: str) -> Address:
    return get_address(ADMIN_KEYS[organization])


def make_validator(index: int, organization: str, power: int = 10) -> GenesisValidator:
    key = VALIDATOR_KEYS[index]
    return GenesisValidator(f"validator-{index}", get_address(key), key.public_key, power, organization)


def make_consortium_genesis(
    weights: Sequence[int] = (1, 1, 1),
    powers: Sequence[int] = (10, 10, 10, 10),
    consensus: str = "tendermint",
) -> Genesis:
    organizations = []
    for name, weight in zip(ORGANIZATIONS, weights, strict=True):
        admins = [admin_of(name)]
        if name == "org-a":
            admins.append(get_address(SECOND_ADMIN_KEY))
        organizations.append(GenesisOrganization(name, CERTIFICATE + name.encode(), tuple(sorted(admins)), weight))
    validators = tuple(
        make_validator(index, ORGANIZATIONS[index % len(ORGANIZATIONS)], power) for index, power in enumerate(powers)
    )
    return Genesis(
        chain_id=CHAIN_ID,
        suite=SUITE_NAME,
        timestamp_ms=GENESIS_TIME_MS,
        validators=validators,
        allocations=(Allocation(get_address(CLIENT_KEY), 1_000), Allocation(get_address(OUTSIDER_KEY), 1_000)),
        parameters=DEFAULT_PARAMETERS,
        admins=(),
        consensus=consensus,
        organizations=tuple(organizations),
    )


def make_consortium(**options: object) -> Chain:
    return Chain.create(genesis=make_consortium_genesis(**options))  # type: ignore[arg-type]


def propose(chain: Chain, key: PrivateKey, kind: str, args: Sequence[Value], expiry_blocks: int = 100) -> Receipt:
    return chain.run(
        make_transaction("system", "propose", [kind, encode(list(args)), chain.height + 1 + expiry_blocks], sender=key)
    )


def vote(chain: Chain, key: PrivateKey, proposal_id: int, approve: bool = True) -> Receipt:
    return chain.run(make_transaction("system", "vote", [proposal_id, approve], sender=key))


def get_status(chain: Chain, proposal_id: int) -> str:
    proposal = chain.view("system", "get_proposal", proposal_id)
    assert isinstance(proposal, list)
    status = proposal[7]
    assert isinstance(status, str)
    return status


def decide(chain: Chain, kind: str, args: Sequence[Value], voters: Sequence[str] = ("org-a", "org-b")) -> int:
    """Propose with the first voter's admin and vote with the others'; returns the proposal id."""
    receipt = propose(chain, ADMIN_KEYS[voters[0]], kind, args)
    assert receipt.is_success, receipt.error_message
    proposal_id = get_return(receipt)
    assert isinstance(proposal_id, int)
    for organization in voters[1:]:
        if get_status(chain, proposal_id) != "pending":
            break
        ballot = vote(chain, ADMIN_KEYS[organization], proposal_id)
        assert ballot.is_success, ballot.error_message
    return proposal_id


__all__ = [
    "ADMIN_KEYS",
    "CERTIFICATE",
    "CLIENT_KEY",
    "ORGANIZATIONS",
    "OUTSIDER_KEY",
    "SECOND_ADMIN_KEY",
    "VALIDATOR_KEYS",
    "admin_of",
    "decide",
    "get_event_data",
    "get_status",
    "make_consortium",
    "make_consortium_genesis",
    "make_validator",
    "propose",
    "vote",
]
