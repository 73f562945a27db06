"""The validator set a block commits to.

A block header carries `validators_hash`, the hash of the set that must
certify it, so a light client that trusts one header learns which keys
may sign the next. Validator-set changes by governance arrive in a later
milestone; they will change this hash at the height they take effect.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from gusu.codec import encode
from gusu.crypto import CryptoSuite
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.types import Hash

TAG_VALIDATORS = "gusu.validators.v1"


def compute_validators_hash(suite: CryptoSuite, validators: Sequence[GenesisValidator]) -> Hash:
    """Hash of the set, ordered by address so that listing order does not matter."""
    # A node computes it for every block's rules, and the set seldom changes: each set is hashed once.
    ordered = tuple(validators)
    try:
        return _compute_validators_hash_cached(suite, ordered)
    except TypeError:  # a field that cannot be a cache key (a bytearray key from a library caller): no cache
        return _compute_validators_hash(suite, ordered)


VALIDATOR_SETS_HASHED_MAX = 64
"""Distinct (suite, set) pairs whose hash a process keeps."""


@functools.lru_cache(maxsize=VALIDATOR_SETS_HASHED_MAX)
def _compute_validators_hash_cached(suite: CryptoSuite, validators: tuple[GenesisValidator, ...]) -> Hash:
    return _compute_validators_hash(suite, validators)


def _compute_validators_hash(suite: CryptoSuite, validators: tuple[GenesisValidator, ...]) -> Hash:
    ordered = sorted(validators, key=lambda validator: validator.address)
    return Hash(
        suite.hash(
            encode(
                [TAG_VALIDATORS, [[validator.address, validator.public_key, validator.power] for validator in ordered]]
            )
        )
    )
