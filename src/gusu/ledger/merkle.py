"""Binary Merkle trees with inclusion proofs (the RFC 6962 / RFC 9162 tree).

Leaves hash as H(0x00 || item) and inner nodes as H(0x01 || left || right),
so a leaf can never pass for an inner node. An unpaired last node moves up
a level unchanged rather than being paired with itself, which keeps two
different leaf lists from sharing a root (Bitcoin's duplicated-last-leaf
flaw). The empty tree's root is H(b"").

`verify_inclusion` needs only the root (from a block header), the item,
its index, the leaf count (also in the header) and the proof: a light
client that holds only headers can check it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gusu.codec import decode_list, encode, expect_bytes, expect_list, expect_uint

HashFunction = Callable[[bytes], bytes]

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
PROOF_DEPTH_MAX = 64
TAG_PROOF = "gusu.merkleproof.v1"


@dataclass(frozen=True, slots=True)
class InclusionProof:
    leaf_index: int
    leaf_count: int
    path: tuple[bytes, ...]
    """Sibling hashes from the leaf up to the root."""


def compute_leaf_hash(hash_function: HashFunction, item: bytes) -> bytes:
    return hash_function(LEAF_PREFIX + item)


def _compute_parent(hash_function: HashFunction, left: bytes, right: bytes) -> bytes:
    return hash_function(NODE_PREFIX + left + right)


def _compute_next_level(hash_function: HashFunction, level: Sequence[bytes]) -> list[bytes]:
    parents = [_compute_parent(hash_function, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2 == 1:
        parents.append(level[-1])
    return parents


def compute_root(hash_function: HashFunction, items: Sequence[bytes]) -> bytes:
    """The Merkle root of `items` (each hashed as a leaf)."""
    if not items:
        return hash_function(b"")
    level = [compute_leaf_hash(hash_function, item) for item in items]
    while len(level) > 1:
        level = _compute_next_level(hash_function, level)
    return level[0]


def compute_inclusion_proof(hash_function: HashFunction, items: Sequence[bytes], index: int) -> InclusionProof:
    assert 0 <= index < len(items), "proof index out of range"
    level = [compute_leaf_hash(hash_function, item) for item in items]
    path: list[bytes] = []
    position = index
    while len(level) > 1:
        sibling = position ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = _compute_next_level(hash_function, level)
        position //= 2
    return InclusionProof(leaf_index=index, leaf_count=len(items), path=tuple(path))


def is_valid_inclusion(hash_function: HashFunction, root: bytes, item: bytes, proof: InclusionProof) -> bool:
    """True when `item` is leaf `proof.leaf_index` of a tree of `proof.leaf_count` with this root.

    RFC 9162 section 2.1.3.2.
    """
    if not 0 <= proof.leaf_index < proof.leaf_count or len(proof.path) > PROOF_DEPTH_MAX:
        return False
    index = proof.leaf_index
    last = proof.leaf_count - 1
    node = compute_leaf_hash(hash_function, item)
    for sibling in proof.path:
        if last == 0:
            return False
        if index % 2 == 1 or index == last:
            node = _compute_parent(hash_function, sibling, node)
            if index % 2 == 0:
                while index % 2 == 0 and index != 0:
                    index >>= 1
                    last >>= 1
        else:
            node = _compute_parent(hash_function, node, sibling)
        index >>= 1
        last >>= 1
    return last == 0 and node == root


def encode_inclusion_proof(proof: InclusionProof) -> bytes:
    return encode([TAG_PROOF, proof.leaf_index, proof.leaf_count, list(proof.path)])


def decode_inclusion_proof(data: bytes) -> InclusionProof:
    fields = decode_list(data, TAG_PROOF, 4)
    path = expect_list(fields[3], "proof path", PROOF_DEPTH_MAX)
    return InclusionProof(
        leaf_index=expect_uint(fields[1], "leaf index"),
        leaf_count=expect_uint(fields[2], "leaf count"),
        path=tuple(expect_bytes(item, "proof node", size_max=64) for item in path),
    )
