"""The code hash of a deployed contract's source: what governance approves and clients compare.

It lives in the ledger layer, below execution, so that the SDK and the
command line (which may not import the executor) compute the same hash as
the `contracts` contract: the chain suite's hash (SM3 or keccak-256) of the
canonical encoding ``["gusu.contract.code.v1", source bytes]``.
"""

from __future__ import annotations

from gusu.codec import encode
from gusu.crypto import get_suite
from gusu.ledger.types import Hash

TAG_CODE_HASH = "gusu.contract.code.v1"


def compute_code_hash(suite: str, source: str) -> Hash:
    """The code hash of `source` under the chain's suite (what `approve_contract` names)."""
    return Hash(get_suite(suite).hash(encode([TAG_CODE_HASH, source.encode()])))
