"""The state tree (gusu.ledger.smt) against a brute-force reference, and its proofs against tampering."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gusu.codec import encode
from gusu.crypto import CryptoSuite, get_suite
from gusu.errors import CodecError, ConfigError, InvalidStateProofError, NotFoundError, StorageError
from gusu.ledger.kv import KeyValueStore, MemoryStore, WriteBatch
from gusu.ledger.smt import (
    EMPTY_ROOT,
    INTERNAL_PREFIX,
    LEAF_PREFIX,
    PLACEHOLDER,
    PREFIX_STALE,
    PREFIX_TREE_NODE,
    PROOF_BYTES_MAX,
    TREE_CACHE_BYTES_DEFAULT,
    TREE_CACHE_BYTES_MAX,
    TREE_CACHE_DEPTH_DEFAULT,
    TREE_CACHE_DEPTH_MAX,
    StateProof,
    StateProofLeaf,
    StateTree,
    TreeNodeCache,
    TreeUpdate,
    apply_tree_update_to_batch,
    apply_tree_update_to_cache,
    apply_tree_updates,
    compute_key_hash,
    compute_pruning_batch,
    compute_tree_root,
    compute_value_hash,
    decode_state_proof,
    encode_node_key,
    encode_state_proof,
    get_state_proof,
    get_tree_root,
    get_tree_value,
    is_valid_state_proof,
    validate_state_proof,
)

SUITES = [get_suite("sm"), get_suite("ecdsa")]
SM = SUITES[0]

# --- the reference: the definition, written the slow and obvious way ----------------------------------------


def _bits(digest: bytes) -> str:
    return format(int.from_bytes(digest, "big"), "0256b")


def reference_root(suite: CryptoSuite, state: Mapping[bytes, bytes]) -> bytes:
    """Walk all 256 levels by bit-string prefix; a subtree with one entry is that entry's leaf, none is empty."""
    entries = {}
    for key, value in state.items():
        key_hash = suite.hash(_key_prefix() + key)
        entries[_bits(key_hash)] = (key_hash, suite.hash(_value_prefix() + value))

    def subtree(prefix: str) -> bytes:
        inside = [bits for bits in entries if bits.startswith(prefix)]
        if not inside:
            return PLACEHOLDER
        if len(inside) == 1:
            key_hash, value_hash = entries[inside[0]]
            return suite.hash(LEAF_PREFIX + key_hash + value_hash)
        return suite.hash(INTERNAL_PREFIX + subtree(prefix + "0") + subtree(prefix + "1"))

    return subtree("")


def _key_prefix() -> bytes:
    return encode("gusu.smt.key.v1")


def _value_prefix() -> bytes:
    return encode("gusu.smt.value.v1")


def commit(store: KeyValueStore, update: TreeUpdate) -> None:
    batch = WriteBatch()
    apply_tree_update_to_batch(batch, update)
    store.write(batch)


def build(
    suite: CryptoSuite, state: Mapping[bytes, bytes], store: KeyValueStore | None = None, version: int = 0
) -> tuple[KeyValueStore, TreeUpdate]:
    store = MemoryStore() if store is None else store
    update = apply_tree_updates(store, suite, version, None, dict(state))
    commit(store, update)
    return store, update


def count_nodes(store: KeyValueStore) -> int:
    return sum(1 for _ in store.iterate(PREFIX_TREE_NODE))


# --- roots -------------------------------------------------------------------------------------------------

KEYS = st.binary(min_size=0, max_size=3)
VALUES = st.binary(min_size=0, max_size=4)
BATCHES = st.lists(st.dictionaries(KEYS, st.none() | VALUES, max_size=24), min_size=1, max_size=6)


@pytest.mark.parametrize("suite", SUITES, ids=lambda suite: suite.name)
def test_definitions_match_the_reference(suite: CryptoSuite) -> None:
    state = {bytes([index]): bytes([index]) * 3 for index in range(40)}
    assert compute_tree_root(suite, state) == reference_root(suite, state)
    assert compute_tree_root(suite, {}) == EMPTY_ROOT == reference_root(suite, {})
    assert compute_key_hash(suite, b"k") == suite.hash(_key_prefix() + b"k")
    assert compute_value_hash(suite, b"v") == suite.hash(_value_prefix() + b"v")


def test_roots_depend_on_the_suite() -> None:
    state = {b"a": b"1", b"b": b"2"}
    assert compute_tree_root(SUITES[0], state) != compute_tree_root(SUITES[1], state)


@settings(max_examples=60, deadline=None)
@given(batches=BATCHES, suite_index=st.integers(0, 1))
def test_versions_agree_with_the_reference_and_every_proof_verifies(
    batches: list[dict[bytes, bytes | None]], suite_index: int
) -> None:
    suite = SUITES[suite_index]
    store = MemoryStore()
    state: dict[bytes, bytes] = {}
    history: list[tuple[bytes, dict[bytes, bytes]]] = []
    parent = None
    universe = set()
    for version, writes in enumerate(batches):
        update = apply_tree_updates(store, suite, version, parent, writes)
        commit(store, update)
        for key, value in writes.items():
            universe.add(key)
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        assert update.root == reference_root(suite, state)
        assert get_tree_root(store, suite, version) == update.root
        history.append((update.root, dict(state)))
        parent = version
    # Every retained version still answers reads and proofs for every key, present or absent.
    for version, (root, snapshot) in enumerate(history):
        for key in universe | {b"never written"}:
            value = snapshot.get(key)
            assert get_tree_value(store, suite, version, key) == value
            proof = get_state_proof(store, suite, version, key)
            validate_state_proof(suite, root, key, value, proof)
            assert decode_state_proof(encode_state_proof(proof)) == proof
            assert not is_valid_state_proof(suite, root, key, b"other" if value is None else None, proof)


@settings(max_examples=40, deadline=None)
@given(
    base=st.dictionaries(KEYS, VALUES, max_size=30),
    writes=st.dictionaries(KEYS, st.none() | VALUES, max_size=30),
    seed=st.integers(0, 2**32),
)
def test_an_update_does_not_depend_on_the_order_of_writes(
    base: dict[bytes, bytes], writes: dict[bytes, bytes | None], seed: int
) -> None:
    results = []
    for order_seed in (seed, seed + 1):
        store, _ = build(SM, base)
        items = list(writes.items())
        random.Random(order_seed).shuffle(items)
        update = apply_tree_updates(store, SM, 1, 0, dict(items))
        results.append((update.root, sorted(update.nodes.items()), update.stale))
    assert results[0] == results[1]


@settings(max_examples=30, deadline=None)
@given(base=st.dictionaries(KEYS, VALUES, max_size=30), writes=st.dictionaries(KEYS, st.none() | VALUES, max_size=30))
def test_pruned_storage_equals_a_tree_built_from_scratch(
    base: dict[bytes, bytes], writes: dict[bytes, bytes | None]
) -> None:
    """After pruning, no node leaks: the incremental tree holds exactly the nodes of a fresh build of its state."""
    store, _ = build(SM, base)
    update = apply_tree_updates(store, SM, 1, 0, writes)
    commit(store, update)
    store.write(compute_pruning_batch(store, 1))
    state = dict(base)
    for key, value in writes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    fresh, fresh_update = build(SM, state)
    assert fresh_update.root == update.root
    assert count_nodes(store) == count_nodes(fresh)
    assert not list(store.iterate(PREFIX_STALE))
    with pytest.raises(NotFoundError):
        get_tree_root(store, SM, 0)


def test_deleting_everything_returns_to_the_empty_root() -> None:
    state = {index.to_bytes(2, "big"): b"v" for index in range(300)}
    store, update = build(SM, state)
    keys = list(state)
    random.Random(7).shuffle(keys)
    version = 0
    for start in range(0, len(keys), 70):
        update = apply_tree_updates(store, SM, version + 1, version, {key: None for key in keys[start : start + 70]})
        commit(store, update)
        version += 1
        for key in keys[start : start + 70]:
            state.pop(key)
        assert update.root == compute_tree_root(SM, state)
    assert update.root == EMPTY_ROOT
    store.write(compute_pruning_batch(store, version))
    assert count_nodes(store) == 1  # the empty root of the last version
    proof = get_state_proof(store, SM, version, b"anything")
    assert proof == StateProof((), None)
    validate_state_proof(SM, EMPTY_ROOT, b"anything", None, proof)


def test_no_op_writes_keep_the_root_and_write_only_a_new_root_node() -> None:
    state = {bytes([index]): b"v" for index in range(50)}
    store, first = build(SM, state)
    update = apply_tree_updates(store, SM, 1, 0, {b"\x01": b"v", b"absent": None})
    assert update.root == first.root
    assert list(update.nodes) == [encode_node_key((1, b""))]
    assert update.stale == ((0, b""),)


def test_pruning_keeps_every_version_from_the_oldest_kept_one() -> None:
    store = MemoryStore()
    roots = []
    parent = None
    for version in range(6):
        writes: dict[bytes, bytes | None] = {bytes([version, index]): bytes([version]) for index in range(20)}
        writes[bytes([version - 1 if version else 0, 0])] = None
        update = apply_tree_updates(store, SM, version, parent, writes)
        commit(store, update)
        roots.append(update.root)
        parent = version
    store.write(compute_pruning_batch(store, 3))
    for version in (0, 1, 2):
        with pytest.raises(NotFoundError, match="pruned"):
            get_state_proof(store, SM, version, b"\x00\x01")
    for version in (3, 4, 5):
        for key in (bytes([v, i]) for v in range(6) for i in (0, 5)):
            proof = get_state_proof(store, SM, version, key)
            value = get_tree_value(store, SM, version, key)
            validate_state_proof(SM, roots[version], key, value, proof)


# --- proofs ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_tree() -> tuple[KeyValueStore, bytes, dict[bytes, bytes]]:
    state = {f"key-{index}".encode(): f"value-{index}".encode() for index in range(2_000)}
    store, update = build(SM, state)
    return store, update.root, state


def test_exclusion_proofs_of_both_kinds(big_tree: tuple[KeyValueStore, bytes, dict[bytes, bytes]]) -> None:
    store, root, _ = big_tree
    kinds = set()
    for index in range(200):
        key = f"absent-{index}".encode()
        proof = get_state_proof(store, SM, 0, key)
        validate_state_proof(SM, root, key, None, proof)
        kinds.add("empty" if proof.leaf is None else "other leaf")
        if proof.leaf is not None:
            assert proof.leaf.key_hash != compute_key_hash(SM, key)
        with pytest.raises(InvalidStateProofError, match="absent"):
            validate_state_proof(SM, root, key, b"x", proof)
    assert kinds == {"empty", "other leaf"}


def test_proofs_stay_logarithmic(big_tree: tuple[KeyValueStore, bytes, dict[bytes, bytes]]) -> None:
    store, _, state = big_tree
    depths = [len(get_state_proof(store, SM, 0, key).siblings) for key in list(state)[:300]]
    assert 10 <= sum(depths) / len(depths) <= 14  # log2(2000) ~ 11
    assert max(len(encode_state_proof(get_state_proof(store, SM, 0, key))) for key in list(state)[:300]) < 1_000


def _flip(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(changed)


def test_tampering_is_detected(big_tree: tuple[KeyValueStore, bytes, dict[bytes, bytes]]) -> None:
    store, root, state = big_tree
    key = b"key-17"
    value = state[key]
    proof = get_state_proof(store, SM, 0, key)
    validate_state_proof(SM, root, key, value, proof)
    assert not is_valid_state_proof(SM, root, key, value + b"!", proof)
    assert not is_valid_state_proof(SM, root, key, None, proof)
    assert not is_valid_state_proof(SM, root, b"key-18", value, proof)
    assert not is_valid_state_proof(SM, _flip(root, 3), key, value, proof)
    assert not is_valid_state_proof(get_suite("ecdsa"), root, key, value, proof)
    for index in range(len(proof.siblings)):
        siblings = list(proof.siblings)
        siblings[index] = _flip(siblings[index], 200) if siblings[index] != PLACEHOLDER else b"\x01" * 32
        assert not is_valid_state_proof(SM, root, key, value, StateProof(tuple(siblings), proof.leaf))
    assert not is_valid_state_proof(SM, root, key, value, StateProof(proof.siblings[:-1], proof.leaf))
    assert not is_valid_state_proof(SM, root, key, value, StateProof((*proof.siblings, b"\x07" * 32), proof.leaf))
    assert not is_valid_state_proof(SM, root, key, value, StateProof(proof.siblings, None))
    assert proof.leaf is not None
    other = StateProofLeaf(_flip(proof.leaf.key_hash, 255), proof.leaf.value_hash)
    assert not is_valid_state_proof(SM, root, key, None, StateProof(proof.siblings, other))
    with pytest.raises(InvalidStateProofError, match="another value"):
        validate_state_proof(SM, root, key, b"wrong", proof)
    with pytest.raises(InvalidStateProofError, match="another state root"):
        validate_state_proof(SM, _flip(root, 0), key, value, proof)
    with pytest.raises(InvalidStateProofError, match="not lie on the key's path"):
        validate_state_proof(
            SM,
            root,
            key,
            None,
            StateProof(proof.siblings, StateProofLeaf(_flip(proof.leaf.key_hash, 0), proof.leaf.value_hash)),
        )
    with pytest.raises(InvalidStateProofError, match="more than"):
        validate_state_proof(SM, root, key, value, StateProof((b"\x01" * 32,) * 257, proof.leaf))


def test_an_exclusion_proof_cannot_be_turned_into_an_inclusion(
    big_tree: tuple[KeyValueStore, bytes, dict[bytes, bytes]],
) -> None:
    """The neighbour's leaf proves the key absent; claiming the neighbour's value for the key fails."""
    store, root, state = big_tree
    for index in range(50):
        key = f"absent-{index}".encode()
        proof = get_state_proof(store, SM, 0, key)
        if proof.leaf is None:
            continue
        for neighbour_value in state.values():
            if compute_value_hash(SM, neighbour_value) == proof.leaf.value_hash:
                assert not is_valid_state_proof(SM, root, key, neighbour_value, proof)
                return
    pytest.fail("no exclusion proof by another leaf among 50 absent keys")


# --- the proof encoding ------------------------------------------------------------------------------------


def _proof_fields(proof: StateProof) -> list[object]:
    from gusu.codec import decode

    fields = decode(encode_state_proof(proof))
    assert isinstance(fields, list)
    return fields


def test_decode_rejects_malformed_proofs(big_tree: tuple[KeyValueStore, bytes, dict[bytes, bytes]]) -> None:
    store, _, _ = big_tree
    proof = get_state_proof(store, SM, 0, b"key-5")
    raw = encode_state_proof(proof)
    assert decode_state_proof(raw) == proof
    tag, depth, bitmap, siblings, leaf_key, leaf_value = _proof_fields(proof)
    assert isinstance(depth, int) and isinstance(bitmap, bytes) and isinstance(siblings, list)
    bad: list[tuple[str, bytes]] = [
        ("truncated", raw[:-1]),
        ("trailing", raw + b"\x00"),
        ("not a list", encode(b"proof")),
        ("wrong tag", encode(["gusu.merkleproof.v1", depth, bitmap, siblings, leaf_key, leaf_value])),
        ("too deep", encode([tag, 257, bytes(33), [], leaf_key, leaf_value])),
        ("short bitmap", encode([tag, depth, bitmap[:-1], siblings, leaf_key, leaf_value])),
        ("count", encode([tag, depth, bitmap, siblings[:-1], leaf_key, leaf_value])),
        ("short hash", encode([tag, depth, bitmap, [*siblings[:-1], b"\x01" * 31], leaf_key, leaf_value])),
        ("half leaf", encode([tag, depth, bitmap, siblings, leaf_key, None])),
        ("leaf size", encode([tag, depth, bitmap, siblings, b"\x01" * 33, leaf_value])),
        ("negative", encode([tag, -1, bitmap, siblings, leaf_key, leaf_value])),
        ("oversize", b"\x00" * (PROOF_BYTES_MAX + 1)),
    ]
    padded = bytearray(bitmap)
    if depth % 8:
        padded[-1] |= 1
        bad.append(("padding bits", encode([tag, depth, bytes(padded), siblings, leaf_key, leaf_value])))
    bad.append(("placeholder sent", encode([tag, 1, b"\x80", [PLACEHOLDER], leaf_key, leaf_value])))
    bad.append(("deepest empty", encode([tag, 2, b"\x80", [b"\x01" * 32], leaf_key, leaf_value])))
    for name, data in bad:
        with pytest.raises(CodecError):
            decode_state_proof(data)
            pytest.fail(f"{name} was accepted")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_decode_never_crashes(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        decode_state_proof(data)


# --- storage -----------------------------------------------------------------------------------------------


def test_unknown_version_and_damaged_nodes_are_storage_errors() -> None:
    store, _ = build(SM, {bytes([index]): b"v" for index in range(40)})
    with pytest.raises(NotFoundError):
        get_state_proof(store, SM, 9, b"\x01")
    with pytest.raises(NotFoundError):
        apply_tree_updates(store, SM, 10, 9, {b"a": b"b"})
    batch = WriteBatch()
    batch.put(encode_node_key((0, b"")), b"\x93garbage")
    store.write(batch)
    with pytest.raises(StorageError, match="damaged"):
        get_tree_root(store, SM, 0)


# --- the node cache and the node encoding --------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    batches=BATCHES,
    rejected=BATCHES,
    depth=st.integers(1, 3),
    bytes_max=st.sampled_from([0, 3000, 10_000, TREE_CACHE_BYTES_DEFAULT]),
)
def test_a_cached_tree_computes_what_the_store_alone_does(
    batches: list[dict[bytes, bytes | None]], rejected: list[dict[bytes, bytes | None]], depth: int, bytes_max: int
) -> None:
    """Same roots, nodes and stale lists with the cache as without, even when an update computed for a version
    (a rejected proposal) never commits: the cache only ever holds committed nodes, within its budget."""
    cached = StateTree(MemoryStore(), TreeNodeCache(depth, bytes_max))
    plain = MemoryStore()
    parent = None
    for version, writes in enumerate(batches):
        if version < len(rejected):
            apply_tree_updates(cached.store, SM, version, parent, rejected[version], cached.cache)  # never committed
        update = apply_tree_updates(cached.store, SM, version, parent, writes, cached.cache)
        expected = apply_tree_updates(plain, SM, version, parent, writes)
        assert (update.root, update.nodes, update.stale) == (expected.root, expected.nodes, expected.stale)
        commit(cached.store, update)
        apply_tree_update_to_cache(cached.cache, update)
        commit(plain, expected)
        assert all(len(path) < depth for path in cached.cache.nodes)
        sizes = [entry[2] for entry in cached.cache.nodes.values()]
        assert cached.cache.bytes_used == sum(sizes) <= bytes_max
        parent = version


def test_the_cache_depth_is_validated() -> None:
    assert TreeNodeCache().depth_nibbles == TREE_CACHE_DEPTH_DEFAULT
    for depth in (-1, TREE_CACHE_DEPTH_MAX + 1):
        with pytest.raises(ConfigError, match="cache depth"):
            TreeNodeCache(depth)
    assert TreeNodeCache().bytes_max == TREE_CACHE_BYTES_DEFAULT
    for budget in (-1, TREE_CACHE_BYTES_MAX + 1, True):
        with pytest.raises(ConfigError, match="cache budget"):
            TreeNodeCache(bytes_max=budget)


def test_damaged_node_encodings_are_storage_errors() -> None:
    _, update = build(SM, {bytes([index]): b"v" for index in range(40)})
    root_key = encode_node_key((0, b""))
    good = update.nodes[root_key]
    assert good[:1] == b"\x02"
    leaf_key = next(key for key, value in update.nodes.items() if value[:1] == b"\x01")
    leaf = update.nodes[leaf_key]
    damaged = [
        (root_key, good[:-1]),  # one byte short of what the bitmaps say
        (root_key, good + b"\x00"),
        (root_key, good[:3] + b"\xff\xff" + good[5:]),  # a leaf flag on every slot, occupied or not
        (root_key, b"\x02\x00\x01\x00\x01" + bytes(72)),  # a lone leaf is never an internal node
        (root_key, b"\x07"),
        (root_key, b""),
        (leaf_key, leaf[:60]),
        (leaf_key, leaf[:65] + (10_000).to_bytes(4, "big") + leaf[69:]),  # a key longer than the node
    ]
    for key, raw in damaged:
        copy, _ = build(SM, {bytes([index]): b"v" for index in range(40)})
        batch = WriteBatch()
        batch.put(key, raw)
        copy.write(batch)
        with pytest.raises(StorageError, match="damaged"):
            for probe in range(40):
                get_state_proof(copy, SM, 0, bytes([probe]))
            pytest.fail(f"{raw[:8].hex()} was accepted")
