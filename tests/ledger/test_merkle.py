"""Property tests for Merkle roots and inclusion proofs."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from gusu.ledger.merkle import (
    InclusionProof,
    compute_inclusion_proof,
    compute_root,
    decode_inclusion_proof,
    encode_inclusion_proof,
    is_valid_inclusion,
)


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


items_strategy = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=70)


@given(items_strategy, st.data())
def test_every_leaf_has_a_valid_proof(items: list[bytes], data: st.DataObject) -> None:
    root = compute_root(sm3, items)
    index = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    proof = compute_inclusion_proof(sm3, items, index)
    assert is_valid_inclusion(sm3, root, items[index], proof)
    assert decode_inclusion_proof(encode_inclusion_proof(proof)) == proof


@given(items_strategy, st.data())
def test_tampered_proofs_fail(items: list[bytes], data: st.DataObject) -> None:
    root = compute_root(sm3, items)
    index = data.draw(st.integers(min_value=0, max_value=len(items) - 1))
    proof = compute_inclusion_proof(sm3, items, index)
    assert not is_valid_inclusion(sm3, root, items[index] + b"x", proof)
    if len(items) > 1:
        other = (index + 1) % len(items)
        if items[other] != items[index]:
            assert not is_valid_inclusion(sm3, root, items[other], proof)
        moved = InclusionProof(other, proof.leaf_count, proof.path)
        if items[other] != items[index]:
            assert not is_valid_inclusion(sm3, root, items[index], moved)
    if proof.path:
        position = data.draw(st.integers(min_value=0, max_value=len(proof.path) - 1))
        path = list(proof.path)
        path[position] = bytes(32) if path[position] != bytes(32) else b"\x01" * 32
        assert not is_valid_inclusion(sm3, root, items[index], InclusionProof(index, proof.leaf_count, tuple(path)))
        truncated = InclusionProof(index, proof.leaf_count, proof.path[:-1])
        assert not is_valid_inclusion(sm3, root, items[index], truncated)


@given(items_strategy)
def test_roots_differ_when_leaves_differ(items: list[bytes]) -> None:
    root = compute_root(sm3, items)
    assert compute_root(sm3, [*items, items[-1]]) != root  # no duplicated-last-leaf collision
    assert compute_root(sm3, items[:-1]) != root


def test_known_shape() -> None:
    a, b, c = b"a", b"b", b"c"
    leaf = [sm3(b"\x00" + item) for item in (a, b, c)]
    left = sm3(b"\x01" + leaf[0] + leaf[1])
    assert compute_root(sm3, [a, b, c]) == sm3(b"\x01" + left + leaf[2])
    assert compute_root(sm3, []) == sm3(b"")


def test_out_of_range_proofs_are_invalid() -> None:
    root = compute_root(sm3, [b"a"])
    assert not is_valid_inclusion(sm3, root, b"a", InclusionProof(1, 1, ()))
    assert not is_valid_inclusion(sm3, root, b"a", InclusionProof(0, 0, ()))
    assert is_valid_inclusion(sm3, root, b"a", InclusionProof(0, 1, ()))
