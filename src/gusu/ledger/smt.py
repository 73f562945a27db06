"""The authenticated state tree: a Jellyfish-style sparse Merkle tree with versioned nodes.

The tree (the spec, `compute_tree_root`)
----------------------------------------
Every state key maps to a 256-bit path, its key hash. The tree is the
binary trie over those paths in which:

* an empty subtree hashes to `PLACEHOLDER` (32 zero bytes: no input hashes to it);
* a subtree holding exactly one entry is that entry's leaf, wherever the
  subtree starts ("collapsed"): the leaf sits at the shortest prefix that
  no other key shares, so paths are about log2(N) deep, not 256;
* any other subtree hashes as ``H(INTERNAL_PREFIX || left || right)``.

with, for the chain suite's hash H (SM3 for "sm", keccak-256 for "ecdsa"):

    key_hash   = H(KEY_PREFIX || key)
    value_hash = H(VALUE_PREFIX || value)
    leaf       = H(LEAF_PREFIX || key_hash || value_hash)

Each prefix is the canonical encoding (gusu.codec) of a distinct domain tag
string, so it is self-delimiting: the bytes after it are either one
variable-length field or fixed 32-byte fields, and no input of one kind
can be read as another. The root depends only on the set of entries, never
on the order in which they were written.

Storage (Jellyfish layout)
--------------------------
The binary trie is stored four levels at a time: an internal node at
nibble path P holds up to 16 children (hash, version, is leaf), and the
binary hashes between the node and its children are recomputed from them.
A node's store key is its version and its nibble path, so a block's update
writes new nodes beside the old ones instead of over them: every retained
version can be read and proven. An internal node exists at P exactly when
two or more keys start with P; a leaf is stored in its parent's slot.

`apply_tree_updates` computes one version from its parent and a block's
writes. The root node of every version is stored at (version, empty path)
(the empty tree as an explicit empty node). Every node the update replaces
is listed as stale since the new version; `compute_pruning_batch` deletes
the nodes no version at or after a given one needs.

Store key families (one byte, after the block store's; see gusu.ledger.store):

    b"j" + version(8) + nibble count(1) + packed nibbles    a tree node
    b"J" + stale since version(8) + node store key        stale-node index

Proofs
------
`get_state_proof` returns the sibling hashes from the root down to where
the key's path ends (its own leaf, another key's leaf, or an empty
subtree), and `validate_state_proof` recomputes the root from them. The
encoding leaves empty siblings out behind a bitmap, so a proof in a tree of
N entries carries about log2(N) hashes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from gusu.codec import Value, decode, decode_list, encode, expect_bytes, expect_list, expect_uint
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, InvalidStateProofError, NotFoundError, StorageError
from gusu.ledger.kv import KeyValueStore, WriteBatch
from gusu.ledger.types import HASH_SIZE, Hash

__all__ = [
    "EMPTY_ROOT",
    "INTERNAL_PREFIX",
    "KEY_PREFIX",
    "LEAF_PREFIX",
    "PLACEHOLDER",
    "PREFIX_STALE",
    "PREFIX_TREE_NODE",
    "PROOF_BYTES_MAX",
    "PROOF_DEPTH_MAX",
    "VALUE_PREFIX",
    "NodeKey",
    "StateProof",
    "StateProofLeaf",
    "TreeUpdate",
    "apply_tree_update_to_batch",
    "apply_tree_updates",
    "compute_internal_hash",
    "compute_key_hash",
    "compute_leaf_hash",
    "compute_proof_root",
    "compute_pruning_batch",
    "compute_tree_root",
    "compute_value_hash",
    "decode_state_proof",
    "encode_node_key",
    "encode_state_proof",
    "get_state_proof",
    "get_tree_root",
    "get_tree_value",
    "is_valid_state_proof",
    "validate_state_proof",
]

KEY_BITS = 8 * HASH_SIZE
NIBBLES = 2 * HASH_SIZE
RADIX = 16

PLACEHOLDER = bytes(HASH_SIZE)
"""The hash of an empty subtree; also the root of the empty tree."""
EMPTY_ROOT = Hash(PLACEHOLDER)

KEY_PREFIX = encode("gusu.smt.key.v1")
VALUE_PREFIX = encode("gusu.smt.value.v1")
LEAF_PREFIX = encode("gusu.smt.leaf.v1")
INTERNAL_PREFIX = encode("gusu.smt.internal.v1")

TAG_LEAF_NODE = "gusu.smt.leafnode.v1"
TAG_INTERNAL_NODE = "gusu.smt.internalnode.v1"
TAG_EMPTY_NODE = "gusu.smt.emptynode.v1"
TAG_PROOF = "gusu.smt.proof.v1"

PREFIX_TREE_NODE = b"j"
PREFIX_STALE = b"J"

PROOF_DEPTH_MAX = KEY_BITS
"""A path is at most 256 bits, so a proof has at most 256 siblings."""
PROOF_BYTES_MAX = 16 * 1024
"""Far above the largest canonical proof (256 hashes and a leaf is about 8.3 KB); larger input is refused unread."""

_VERSION_BYTES = 8
_VERSION_MAX = (1 << (8 * _VERSION_BYTES)) - 1


# --- hashing: the spec -------------------------------------------------------------------------------------


def compute_key_hash(suite: CryptoSuite, key: bytes) -> bytes:
    """The key's 256-bit path in the tree."""
    return suite.hash(KEY_PREFIX + key)


def compute_value_hash(suite: CryptoSuite, value: bytes) -> bytes:
    return suite.hash(VALUE_PREFIX + value)


def compute_leaf_hash(suite: CryptoSuite, key_hash: bytes, value_hash: bytes) -> bytes:
    return suite.hash(LEAF_PREFIX + key_hash + value_hash)


def compute_internal_hash(suite: CryptoSuite, left: bytes, right: bytes) -> bytes:
    return suite.hash(INTERNAL_PREFIX + left + right)


def _bit(key_hash: bytes, depth: int) -> int:
    return (key_hash[depth >> 3] >> (7 - (depth & 7))) & 1


def _nibble(key_hash: bytes, depth: int) -> int:
    byte = key_hash[depth >> 1]
    return byte >> 4 if depth & 1 == 0 else byte & 0x0F


def _compute_subtree_hash(suite: CryptoSuite, leaves: Sequence[tuple[bytes, bytes]], depth: int) -> bytes:
    if not leaves:
        return PLACEHOLDER
    if len(leaves) == 1:
        return compute_leaf_hash(suite, *leaves[0])
    split = 0
    while split < len(leaves) and _bit(leaves[split][0], depth) == 0:
        split += 1
    left = _compute_subtree_hash(suite, leaves[:split], depth + 1)
    right = _compute_subtree_hash(suite, leaves[split:], depth + 1)
    return compute_internal_hash(suite, left, right)


def compute_tree_root(suite: CryptoSuite, entries: Mapping[bytes, bytes]) -> Hash:
    """The root of the tree holding exactly `entries` (state key -> value), computed from scratch.

    The definition the stored, versioned tree must agree with; also what a
    state-sync client can use to check a complete set of entries.
    """
    leaves = sorted((compute_key_hash(suite, key), compute_value_hash(suite, value)) for key, value in entries.items())
    return Hash(_compute_subtree_hash(suite, leaves, 0))


# --- stored nodes --------------------------------------------------------------------------------------------

NodeKey = tuple[int, bytes]
"""(version, nibble path): the path holds one nibble (0..15) per byte."""


def encode_node_key(node_key: NodeKey) -> bytes:
    """The store key of a node: family, version, nibble count, nibbles packed two to a byte."""
    version, path = node_key
    assert 0 <= version <= _VERSION_MAX and len(path) <= NIBBLES
    packed = bytearray((len(path) + 1) // 2)
    for index, nibble in enumerate(path):
        packed[index >> 1] |= nibble << 4 if index & 1 == 0 else nibble
    return PREFIX_TREE_NODE + version.to_bytes(_VERSION_BYTES, "big") + bytes((len(path),)) + bytes(packed)


@dataclass(frozen=True, slots=True)
class _Child:
    hash: bytes
    version: int
    is_leaf: bool


@dataclass(slots=True)
class _Leaf:
    key_hash: bytes
    value_hash: bytes
    key: bytes
    value: bytes
    stored: NodeKey | None = None
    """Where this leaf is stored already; None for a leaf this update creates."""


@dataclass(slots=True)
class _Internal:
    children: dict[int, _Child]
    stored: NodeKey | None = None
    hash: bytes | None = field(default=None)


_Node = _Leaf | _Internal


def _encode_node(node: _Node | None) -> bytes:
    if node is None:
        return encode([TAG_EMPTY_NODE])
    if isinstance(node, _Leaf):
        return encode([TAG_LEAF_NODE, node.key_hash, node.value_hash, node.key, node.value])
    # Flat fields (two bitmaps, then the children's hashes and versions as fixed-width blobs) rather than a
    # list per child: encoding and decoding cost a fraction, and nodes are read and written on every block.
    indices = sorted(node.children)
    present = 0
    leaves = 0
    for index in indices:
        present |= 1 << index
        if node.children[index].is_leaf:
            leaves |= 1 << index
    hashes = b"".join(node.children[index].hash for index in indices)
    versions = b"".join(node.children[index].version.to_bytes(_VERSION_BYTES, "big") for index in indices)
    return encode([TAG_INTERNAL_NODE, present, leaves, hashes, versions])


def _decode_node(raw: bytes, stored: NodeKey) -> _Node | None:
    """A node as read back from the store; anything unexpected means the store is damaged."""
    try:
        fields = decode(raw)
        if not isinstance(fields, list) or not fields:
            raise CodecError("a tree node is a tagged list")
        tag = fields[0]
        if tag == TAG_EMPTY_NODE and len(fields) == 1:
            return None
        if tag == TAG_LEAF_NODE and len(fields) == 5:
            return _Leaf(
                expect_bytes(fields[1], "key hash", size=HASH_SIZE),
                expect_bytes(fields[2], "value hash", size=HASH_SIZE),
                expect_bytes(fields[3], "key"),
                expect_bytes(fields[4], "value"),
                stored,
            )
        if tag == TAG_INTERNAL_NODE and len(fields) == 5:
            present = expect_uint(fields[1], "child bitmap", (1 << RADIX) - 1)
            leaves = expect_uint(fields[2], "leaf bitmap", present)
            count = present.bit_count()
            hashes = expect_bytes(fields[3], "child hashes", size=count * HASH_SIZE)
            versions = expect_bytes(fields[4], "child versions", size=count * _VERSION_BYTES)
            if leaves & ~present:
                raise CodecError("a leaf flag is set for an empty slot")
            children = {}
            position = 0
            for index in range(RADIX):
                if present >> index & 1:
                    children[index] = _Child(
                        hashes[position * HASH_SIZE : (position + 1) * HASH_SIZE],
                        int.from_bytes(versions[position * _VERSION_BYTES : (position + 1) * _VERSION_BYTES], "big"),
                        bool(leaves >> index & 1),
                    )
                    position += 1
            return _Internal(children, stored)
        raise CodecError(f"unknown tree node {tag!r}")
    except CodecError as error:
        raise StorageError(
            f"tree node {stored[0]}/{stored[1].hex()} is damaged ({error}); restore the data directory from a backup"
        ) from error


_EMPTY, _ONE_LEAF, _SUBTREE = 0, 1, 2
"""What a binary subtree inside an internal node holds: nothing, a single leaf (collapsed), or more."""


def _compute_levels(suite: CryptoSuite, children: Mapping[int, _Child]) -> list[list[tuple[bytes, int]]]:
    """The binary levels inside an internal node, from its 16 slots (level 0) up to its own hash (level 4).

    Each entry is (hash, what it holds). A subtree with one leaf and nothing else is that leaf's hash, which
    is how a lone leaf moves up to the shortest prefix no other key shares.
    """
    level: list[tuple[bytes, int]] = [(PLACEHOLDER, _EMPTY)] * RADIX
    for index, child in children.items():
        level[index] = (child.hash, _ONE_LEAF if child.is_leaf else _SUBTREE)
    levels = [level]
    while len(level) > 1:
        above = []
        for position in range(0, len(level), 2):
            left, right = level[position], level[position + 1]
            if right[1] == _EMPTY and left[1] != _SUBTREE:
                above.append(left)
            elif left[1] == _EMPTY and right[1] == _ONE_LEAF:
                above.append(right)
            else:
                above.append((compute_internal_hash(suite, left[0], right[0]), _SUBTREE))
        level = above
        levels.append(level)
    return levels


def _get_internal_hash(suite: CryptoSuite, node: _Internal) -> bytes:
    if node.hash is None:
        node.hash = _compute_levels(suite, node.children)[-1][0][0]
    return node.hash


def _get_node_hash(suite: CryptoSuite, node: _Node | None) -> bytes:
    if node is None:
        return PLACEHOLDER
    if isinstance(node, _Leaf):
        return compute_leaf_hash(suite, node.key_hash, node.value_hash)
    return _get_internal_hash(suite, node)


def _load_node(store: KeyValueStore, node_key: NodeKey) -> _Node | None:
    raw = store.get(encode_node_key(node_key))
    if raw is None:
        raise StorageError(
            f"tree node {node_key[0]}/{node_key[1].hex()} is missing: the store is damaged or that version was pruned"
        )
    return _decode_node(raw, node_key)


def _load_root(store: KeyValueStore, version: int) -> _Node | None:
    raw = store.get(encode_node_key((version, b"")))
    if raw is None:
        raise NotFoundError(f"the state tree has no version {version}: it was never written, or it was pruned")
    return _decode_node(raw, (version, b""))


# --- the batched update ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeUpdate:
    """One version of the tree, computed but not yet written."""

    version: int
    root: Hash
    nodes: dict[bytes, bytes]
    """Store key -> encoded node, for every node this version adds."""
    stale: tuple[NodeKey, ...]
    """Nodes of earlier versions that this version no longer uses, sorted."""


@dataclass(slots=True)
class _Update:
    key_hash: bytes
    key: bytes
    value: bytes | None


@dataclass(slots=True)
class _Context:
    suite: CryptoSuite
    store: KeyValueStore
    version: int
    nodes: dict[bytes, bytes] = field(default_factory=dict)
    stale: set[NodeKey] = field(default_factory=set)


def _new_leaf(suite: CryptoSuite, update: _Update) -> _Leaf:
    assert update.value is not None
    return _Leaf(update.key_hash, compute_value_hash(suite, update.value), update.key, update.value)


def _group_by_nibble(updates: Sequence[_Update], depth: int) -> list[tuple[int, list[_Update]]]:
    groups: list[tuple[int, list[_Update]]] = []
    for update in updates:
        nibble = _nibble(update.key_hash, depth)
        if groups and groups[-1][0] == nibble:
            groups[-1][1].append(update)
        else:
            groups.append((nibble, [update]))
    return groups


def _place(context: _Context, path: bytes, node: _Node | None) -> _Child | None:
    """Store `node` in the slot at `path` (unless it is already stored there) and return the parent's entry."""
    if node is None:
        return None
    if node.stored is not None and node.stored[1] == path:
        version = node.stored[0]
    else:
        if node.stored is not None:
            context.stale.add(node.stored)
        version = context.version
        context.nodes[encode_node_key((version, path))] = _encode_node(node)
    return _Child(_get_node_hash(context.suite, node), version, isinstance(node, _Leaf))


def _build(context: _Context, path: bytes, leaves: list[_Leaf]) -> _Node | None:
    """The subtree at `path` holding exactly `leaves` (sorted by key hash), its internal nodes stored."""
    if not leaves:
        return None
    if len(leaves) == 1:
        return leaves[0]
    depth = len(path)
    groups: dict[int, list[_Leaf]] = {}
    for leaf in leaves:
        groups.setdefault(_nibble(leaf.key_hash, depth), []).append(leaf)
    children = {}
    for nibble, group in groups.items():
        child_path = path + bytes((nibble,))
        child = _place(context, child_path, _build(context, child_path, group))
        assert child is not None
        children[nibble] = child
    return _Internal(children)


def _update_leaf(context: _Context, path: bytes, leaf: _Leaf, updates: list[_Update]) -> _Node | None:
    leaves: list[_Leaf] = []
    kept = True
    for update in updates:
        if update.key_hash != leaf.key_hash:
            if update.value is not None:
                leaves.append(_new_leaf(context.suite, update))
        elif update.value != leaf.value:
            kept = False
            if update.value is not None:
                leaves.append(_new_leaf(context.suite, update))
    if kept:
        if not leaves:
            return leaf  # every update was a no-op
        leaves.append(leaf)
    elif leaf.stored is not None:
        context.stale.add(leaf.stored)
    leaves.sort(key=lambda item: item.key_hash)
    return _build(context, path, leaves)


def _is_unchanged(old: _Child | None, path: bytes, result: _Node | None) -> bool:
    if old is None or result is None:
        return old is None and result is None
    return result.stored == (old.version, path)


def _update_internal(context: _Context, path: bytes, node: _Internal, updates: list[_Update]) -> _Node | None:
    results: dict[int, _Node | None] = {}
    for nibble, group in _group_by_nibble(updates, len(path)):
        child_path = path + bytes((nibble,))
        old = node.children.get(nibble)
        if old is None:
            results[nibble] = _build(
                context, child_path, [_new_leaf(context.suite, item) for item in group if item.value is not None]
            )
        else:
            child_key = (old.version, child_path)
            results[nibble] = _update_node(context, child_path, _load_node(context.store, child_key), group)
    unchanged = all(
        _is_unchanged(node.children.get(nibble), path + bytes((nibble,)), result) for nibble, result in results.items()
    )
    if unchanged:
        return node
    assert node.stored is not None
    context.stale.add(node.stored)
    remaining = {nibble: child for nibble, child in node.children.items() if nibble not in results}
    remaining_count = len(remaining) + sum(1 for result in results.values() if result is not None)
    if remaining_count == 0:
        return None
    if remaining_count == 1:
        # One entry left below this node: if it is a leaf, it moves up to the parent's slot (collapse).
        if remaining:
            ((nibble, child),) = remaining.items()
            if child.is_leaf:
                return _load_node(context.store, (child.version, path + bytes((nibble,))))
        else:
            (only,) = [result for result in results.values() if result is not None]
            if isinstance(only, _Leaf):
                return only
    children = dict(remaining)
    for nibble, result in results.items():
        placed = _place(context, path + bytes((nibble,)), result)
        if placed is not None:
            children[nibble] = placed
    return _Internal(children)


def _update_node(context: _Context, path: bytes, node: _Node | None, updates: list[_Update]) -> _Node | None:
    if node is None:
        return _build(context, path, [_new_leaf(context.suite, item) for item in updates if item.value is not None])
    if isinstance(node, _Leaf):
        return _update_leaf(context, path, node, updates)
    return _update_internal(context, path, node, updates)


def apply_tree_updates(
    store: KeyValueStore,
    suite: CryptoSuite,
    version: int,
    parent_version: int | None,
    writes: Mapping[bytes, bytes | None],
) -> TreeUpdate:
    """Version `version` of the tree: version `parent_version` (None: the empty tree) with `writes` applied.

    A write of None deletes the key (deleting an absent key does nothing).
    Reads the parent's nodes from `store` and writes nothing: the caller
    puts the result in the same batch as the rest of the block
    (`apply_tree_update_to_batch`). The result depends only on the parent
    version and the set of writes, never on their order.
    """
    assert 0 <= version <= _VERSION_MAX
    assert parent_version is None or parent_version < version, "a version follows its parent"
    context = _Context(suite, store, version)
    updates = sorted(
        (_Update(compute_key_hash(suite, key), key, value) for key, value in writes.items()),
        key=lambda item: item.key_hash,
    )
    if parent_version is None:
        root = _update_node(context, b"", None, updates)
    else:
        root = _update_node(context, b"", _load_root(store, parent_version), updates)
        context.stale.add((parent_version, b""))
    # Every version has its own root node, even when nothing changed, so any version can be read.
    if root is not None and root.stored is not None and root.stored != (parent_version, b""):
        context.stale.add(root.stored)
    context.nodes[encode_node_key((version, b""))] = _encode_node(root)
    return TreeUpdate(
        version=version,
        root=Hash(_get_node_hash(suite, root)),
        nodes=context.nodes,
        stale=tuple(sorted(context.stale)),
    )


def _encode_stale_key(since_version: int, node_key: NodeKey) -> bytes:
    return PREFIX_STALE + since_version.to_bytes(_VERSION_BYTES, "big") + encode_node_key(node_key)


def apply_tree_update_to_batch(batch: WriteBatch, update: TreeUpdate) -> None:
    """Add the update's nodes and its stale-node index entries to `batch`."""
    for key, value in update.nodes.items():
        batch.put(key, value)
    for node_key in update.stale:
        batch.put(_encode_stale_key(update.version, node_key), b"")


def compute_pruning_batch(store: KeyValueStore, oldest_kept_version: int) -> WriteBatch:
    """Deletes of every node that no version from `oldest_kept_version` on needs, with their index entries.

    A node stale since version S is used by versions below S only, so every
    node stale since a version at or below `oldest_kept_version` goes.
    """
    assert 0 <= oldest_kept_version <= _VERSION_MAX
    batch = WriteBatch()
    end = None
    if oldest_kept_version < _VERSION_MAX:
        end = PREFIX_STALE + (oldest_kept_version + 1).to_bytes(_VERSION_BYTES, "big")
    for index_key, _ in store.iterate(PREFIX_STALE, end=end):
        batch.delete(index_key)
        batch.delete(index_key[1 + _VERSION_BYTES :])
    return batch


# --- reads -------------------------------------------------------------------------------------------------


def get_tree_root(store: KeyValueStore, suite: CryptoSuite, version: int) -> Hash:
    """The root hash of a stored version; NotFoundError when it was never written or was pruned."""
    return Hash(_get_node_hash(suite, _load_root(store, version)))


def _find_leaf(store: KeyValueStore, version: int, key_hash: bytes) -> _Leaf | None:
    node = _load_root(store, version)
    path = b""
    while isinstance(node, _Internal):
        nibble = _nibble(key_hash, len(path))
        child = node.children.get(nibble)
        if child is None:
            return None
        path += bytes((nibble,))
        node = _load_node(store, (child.version, path))
    return node


def get_tree_value(store: KeyValueStore, suite: CryptoSuite, version: int, key: bytes) -> bytes | None:
    """The value of `key` in a stored version of the tree, or None when absent."""
    key_hash = compute_key_hash(suite, key)
    leaf = _find_leaf(store, version, key_hash)
    return leaf.value if leaf is not None and leaf.key_hash == key_hash else None


# --- proofs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateProofLeaf:
    """The leaf where a key's path ends: the key's own (inclusion) or another key's (exclusion)."""

    key_hash: bytes
    value_hash: bytes


@dataclass(frozen=True, slots=True)
class StateProof:
    """Sibling hashes from the root down to where a key's path ends, and what is there.

    `leaf` None: the path ends in an empty subtree, so the key is absent.
    `siblings` lists `PLACEHOLDER` for empty siblings; the encoding drops them.
    """

    siblings: tuple[bytes, ...]
    leaf: StateProofLeaf | None


def get_state_proof(store: KeyValueStore, suite: CryptoSuite, version: int, key: bytes) -> StateProof:
    """The inclusion or exclusion proof of `key` in a stored version of the tree."""
    key_hash = compute_key_hash(suite, key)
    node = _load_root(store, version)
    siblings: list[bytes] = []
    path = b""
    while True:
        if node is None:
            return StateProof(tuple(siblings), None)
        if isinstance(node, _Leaf):
            return StateProof(tuple(siblings), StateProofLeaf(node.key_hash, node.value_hash))
        children = node.children
        nibble = _nibble(key_hash, len(path))
        levels = _compute_levels(suite, children)
        for height in range(3, -1, -1):
            position = nibble >> height
            siblings.append(levels[height][position ^ 1][0])
            held = levels[height][position][1]
            if held == _EMPTY:
                return StateProof(tuple(siblings), None)
            if held == _ONE_LEAF:
                break
        # The one child (a leaf) under the chosen subtree, or the internal child at the nibble itself.
        low = next(index for index in children if index >> height == position)
        child = children[low]
        path += bytes((low,))
        node = _load_node(store, (child.version, path))


def _fail(message: str) -> InvalidStateProofError:
    return InvalidStateProofError(f"the state proof is not valid: {message}")


def compute_proof_root(suite: CryptoSuite, key: bytes, value: bytes | None, proof: StateProof) -> Hash:
    """The root `proof` implies for `key` holding `value` (None: absent); raises when the proof contradicts that."""
    depth = len(proof.siblings)
    if depth > PROOF_DEPTH_MAX:
        raise _fail(f"it has {depth} siblings, more than a {PROOF_DEPTH_MAX}-bit path allows")
    if depth and proof.siblings[-1] == PLACEHOLDER:
        raise _fail("its deepest sibling is empty, which no tree produces (a lone leaf moves up)")
    key_hash = compute_key_hash(suite, key)
    leaf = proof.leaf
    if leaf is None:
        if value is not None:
            raise _fail("it shows the key absent (its path ends in an empty subtree), but a value was claimed")
        node = PLACEHOLDER
    else:
        if len(leaf.key_hash) != HASH_SIZE or len(leaf.value_hash) != HASH_SIZE:
            raise _fail(f"a leaf's hashes are {HASH_SIZE} bytes each")
        if any(_bit(leaf.key_hash, index) != _bit(key_hash, index) for index in range(depth)):
            raise _fail("its leaf does not lie on the key's path")
        if leaf.key_hash == key_hash:
            if value is None:
                raise _fail("it shows the key present, but the key was claimed absent")
            if leaf.value_hash != compute_value_hash(suite, value):
                raise _fail("it shows the key holding another value than the one claimed")
        elif value is not None:
            raise _fail("it shows another key's leaf where the key's path ends, so the key is absent")
        node = compute_leaf_hash(suite, leaf.key_hash, leaf.value_hash)
    for index in range(depth - 1, -1, -1):
        sibling = proof.siblings[index]
        if len(sibling) != HASH_SIZE:
            raise _fail(f"sibling {index} is {len(sibling)} bytes, not {HASH_SIZE}")
        if _bit(key_hash, index):
            node = compute_internal_hash(suite, sibling, node)
        else:
            node = compute_internal_hash(suite, node, sibling)
    return Hash(node)


def validate_state_proof(suite: CryptoSuite, root: bytes, key: bytes, value: bytes | None, proof: StateProof) -> None:
    """Raise InvalidStateProofError unless `proof` shows `key` holding `value` (None: absent) under `root`."""
    if compute_proof_root(suite, key, value, proof) != root:
        raise _fail("it leads to another state root than the trusted one (wrong key, value, proof or root)")


def is_valid_state_proof(suite: CryptoSuite, root: bytes, key: bytes, value: bytes | None, proof: StateProof) -> bool:
    """`validate_state_proof` as a predicate: never raises."""
    try:
        validate_state_proof(suite, root, key, value, proof)
    except InvalidStateProofError:
        return False
    return True


def encode_state_proof(proof: StateProof) -> bytes:
    """``[tag, depth, bitmap of non-empty siblings (most significant bit first), those siblings, leaf key hash,
    leaf value hash]``; the last two are both nil when the path ends in an empty subtree."""
    depth = len(proof.siblings)
    assert depth <= PROOF_DEPTH_MAX
    bitmap = bytearray((depth + 7) // 8)
    present: list[Value] = []
    for index, sibling in enumerate(proof.siblings):
        if sibling != PLACEHOLDER:
            bitmap[index >> 3] |= 0x80 >> (index & 7)
            present.append(sibling)
    leaf = proof.leaf
    return encode(
        [
            TAG_PROOF,
            depth,
            bytes(bitmap),
            present,
            None if leaf is None else leaf.key_hash,
            None if leaf is None else leaf.value_hash,
        ]
    )


def decode_state_proof(data: bytes) -> StateProof:
    """A proof from its canonical encoding; CodecError for anything else (peer input: never asserts)."""
    if not isinstance(data, bytes):
        raise CodecError("a state proof is bytes")
    if len(data) > PROOF_BYTES_MAX:
        raise CodecError(f"a state proof of {len(data)} bytes exceeds the limit of {PROOF_BYTES_MAX}")
    fields = decode_list(data, TAG_PROOF, 6)
    depth = expect_uint(fields[1], "proof depth", PROOF_DEPTH_MAX)
    bitmap = expect_bytes(fields[2], "sibling bitmap", size=(depth + 7) // 8)
    if depth % 8 and bitmap[-1] & (0xFF >> (depth % 8)):
        raise CodecError("the sibling bitmap sets bits beyond the proof depth")
    present = expect_list(fields[3], "siblings", PROOF_DEPTH_MAX)
    flags = [bool(bitmap[index >> 3] & (0x80 >> (index & 7))) for index in range(depth)]
    if len(present) != sum(flags):
        raise CodecError(f"the bitmap marks {sum(flags)} non-empty siblings, but {len(present)} are given")
    if depth and not flags[-1]:
        raise CodecError("the deepest sibling of a proof is never empty")
    hashes = iter(present)
    siblings = []
    for flag in flags:
        if not flag:
            siblings.append(PLACEHOLDER)
            continue
        sibling = expect_bytes(next(hashes), "sibling", size=HASH_SIZE)
        if sibling == PLACEHOLDER:
            raise CodecError("an empty sibling is marked by the bitmap, not sent")
        siblings.append(sibling)
    if fields[4] is None and fields[5] is None:
        leaf = None
    else:
        leaf = StateProofLeaf(
            expect_bytes(fields[4], "leaf key hash", size=HASH_SIZE),
            expect_bytes(fields[5], "leaf value hash", size=HASH_SIZE),
        )
    return StateProof(tuple(siblings), leaf)
