"""State snapshots: every chunk of every plan proves itself against the root; any tampering is refused.

The properties run over random states (including empty, one-entry and clustered ones, and states reached
through deletes, where leaves move up), both suites and small chunk sizes, so that chunks at every depth,
empty chunks, one-leaf chunks and chunks beside a lone neighbour leaf all occur.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.crypto import CryptoSuite, get_suite
from gusu.errors import CodecError, InvalidStateProofError
from gusu.ledger.kv import KeyValueStore, MemoryStore, WriteBatch
from gusu.ledger.smt import PLACEHOLDER, apply_tree_update_to_batch, apply_tree_updates, compute_tree_root
from gusu.ledger.snapshot import (
    SnapshotChunk,
    SnapshotEntry,
    compute_snapshot_plan,
    decode_snapshot_chunk,
    encode_snapshot_chunk,
    get_snapshot_chunk,
    validate_snapshot_chunk,
    validate_snapshot_plan,
)

SUITES = {name: get_suite(name) for name in ("sm", "ecdsa")}


def _commit(store: KeyValueStore, suite: CryptoSuite, version: int, parent: int | None, writes: dict) -> bytes:  # type: ignore[type-arg]
    update = apply_tree_updates(store, suite, version, parent, writes)
    batch = WriteBatch()
    apply_tree_update_to_batch(batch, update)
    store.write(batch)
    return update.root


def _snapshot_all(store: KeyValueStore, suite: CryptoSuite, version: int, per_chunk: int) -> list[SnapshotChunk]:
    plan = compute_snapshot_plan(store, version, per_chunk)
    validate_snapshot_plan([path for path, _ in plan])
    chunks = [get_snapshot_chunk(store, suite, version, path) for path, _ in plan]
    assert [len(chunk.entries) for chunk in chunks] == [count for _, count in plan]
    return chunks


keys = st.binary(min_size=0, max_size=12)
values = st.binary(min_size=0, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    suite_name=st.sampled_from(sorted(SUITES)),
    first=st.dictionaries(keys, values, max_size=60),
    deleted_fraction=st.integers(min_value=0, max_value=4),
    per_chunk=st.integers(min_value=1, max_value=9),
)
def test_every_chunk_of_every_plan_verifies_and_together_they_are_the_state(
    suite_name: str, first: dict[bytes, bytes], deleted_fraction: int, per_chunk: int
) -> None:
    suite = SUITES[suite_name]
    store = MemoryStore()
    _commit(store, suite, 1, None, dict(first))
    # A second version that deletes some keys: leaves move up, so chunks sit beside collapsed leaves.
    doomed = sorted(first)[: len(first) * deleted_fraction // 4]
    root = _commit(store, suite, 2, 1, {key: None for key in doomed})
    state = {key: value for key, value in first.items() if key not in doomed}
    assert root == compute_tree_root(suite, state)
    chunks = _snapshot_all(store, suite, 2, per_chunk)
    assembled: dict[bytes, bytes] = {}
    for chunk in chunks:
        validate_snapshot_chunk(suite, root, chunk)
        assert decode_snapshot_chunk(encode_snapshot_chunk(chunk)) == chunk
        assert len(chunk.entries) <= per_chunk or len(chunk.path) == 64
        for entry in chunk.entries:
            assembled[entry.key] = entry.value
    assert assembled == state


def _state(count: int) -> dict[bytes, bytes]:
    return {b"key-%d" % index: b"value-%d" % index for index in range(count)}


@pytest.fixture(params=sorted(SUITES))
def suite(request: pytest.FixtureRequest) -> CryptoSuite:
    return SUITES[str(request.param)]


def test_tampered_chunks_are_refused(suite: CryptoSuite) -> None:
    store = MemoryStore()
    root = _commit(store, suite, 1, None, _state(200))
    chunks = _snapshot_all(store, suite, 1, 16)
    full = next(chunk for chunk in chunks if len(chunk.entries) >= 3)
    other = next(chunk for chunk in chunks if chunk.path != full.path and chunk.entries)
    first = full.entries[0]
    present = next(index for index, sibling in enumerate(full.siblings) if sibling != PLACEHOLDER)
    siblings = list(full.siblings)
    siblings[present] = b"\x01" * 32
    cases = {
        "entry dropped": replace(full, entries=full.entries[1:]),
        "entry added": replace(full, entries=(*full.entries, other.entries[0])),
        "value changed": replace(full, entries=(SnapshotEntry(first.key, first.value + b"!"), *full.entries[1:])),
        "order changed": replace(full, entries=(full.entries[1], full.entries[0], *full.entries[2:])),
        "sibling changed": replace(full, siblings=tuple(siblings)),
        "sibling missing": replace(full, siblings=full.siblings[:-1]),
        "entries of another path": replace(full, entries=other.entries),
        "claimed empty": replace(full, entries=()),
    }
    for name, chunk in cases.items():
        with pytest.raises(InvalidStateProofError):
            validate_snapshot_chunk(suite, root, chunk)
        assert name  # (named for the failure report)


def test_an_empty_chunk_cannot_hide_entries_behind_a_forged_neighbour(suite: CryptoSuite) -> None:
    """The attack the neighbour rule exists for: claim a subtree empty and pass off the true hash of the
    subtree above it as a lone neighbour leaf. The neighbour must be a leaf whose key leaves the path."""
    store = MemoryStore()
    root = _commit(store, suite, 1, None, _state(50))
    chunks = _snapshot_all(store, suite, 1, 4)
    victim = next(chunk for chunk in chunks if len(chunk.entries) >= 2)
    depth = 4 * len(victim.path)
    forged = replace(victim, entries=(), neighbour=(b"\x00" * 32, b"\x00" * 32))
    with pytest.raises(InvalidStateProofError):
        validate_snapshot_chunk(suite, root, forged)
    # A neighbour on a non-empty chunk is refused outright (each chunk has one form).
    with pytest.raises(InvalidStateProofError, match="only an empty chunk"):
        validate_snapshot_chunk(suite, root, replace(victim, neighbour=(b"\x00" * 32, b"\x00" * 32)))
    assert depth > 0


def test_a_real_neighbour_case_occurs_and_needs_its_neighbour(suite: CryptoSuite) -> None:
    """Two keys only: most chunks of a split are empty, beside one of the two lone leaves."""
    store = MemoryStore()
    root = _commit(store, suite, 1, None, _state(2))
    chunks = _snapshot_all(store, suite, 1, 1)
    with_neighbour = [chunk for chunk in chunks if chunk.neighbour is not None]
    assert with_neighbour, [chunk.path for chunk in chunks]
    for chunk in with_neighbour:
        validate_snapshot_chunk(suite, root, chunk)
        with pytest.raises(InvalidStateProofError):
            validate_snapshot_chunk(suite, root, replace(chunk, neighbour=None))


def test_plans_must_cover_the_key_space_exactly_once() -> None:
    validate_snapshot_plan([b""])
    validate_snapshot_plan([bytes([nibble]) for nibble in range(16)])
    validate_snapshot_plan(
        [b"\x00", b"\x01\x00", *[b"\x01" + bytes([n]) for n in range(1, 16)], *[bytes([n]) for n in range(2, 16)]]
    )
    for plan in [
        [],
        [bytes([nibble]) for nibble in range(15)],
        [b"", b"\x00"],
        [bytes([nibble]) for nibble in range(16)] + [b"\x03\x01"],
        [b"\x10"],
        [bytes([nibble]) for nibble in range(16)] + [b"\x00"],
    ]:
        with pytest.raises(InvalidStateProofError):
            validate_snapshot_plan(plan)


def test_hostile_chunk_encodings_are_refused(suite: CryptoSuite) -> None:
    store = MemoryStore()
    _commit(store, suite, 1, None, _state(40))
    chunk = _snapshot_all(store, suite, 1, 8)[1]
    data = encode_snapshot_chunk(chunk)
    assert decode_snapshot_chunk(data) == chunk
    for bad in [
        data[:-1],
        data + b"\x00",
        b"",
        b"\x90",
        data.replace(b"gusu.snapshot.chunk.v1", b"gusu.snapshot.chunk.v2"),
    ]:
        with pytest.raises(CodecError):
            decode_snapshot_chunk(bad)
    with pytest.raises(CodecError, match="nibble"):
        decode_snapshot_chunk(encode_snapshot_chunk(replace(chunk, path=b"\x10", siblings=(PLACEHOLDER,) * 4)))
