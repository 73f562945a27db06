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

The update runs in C (gusu.ledger._smt_native, src/gusu/ledger/_smt_native.c) when that extension is built,
else in Python (`_apply_tree_updates_python`, the reference it is tested against); both give the same
nodes byte for byte. docs/state.md, "Native update".

Proofs
------
`get_state_proof` returns the sibling hashes from the root down to where
the key's path ends (its own leaf, another key's leaf, or an empty
subtree), and `validate_state_proof` recomputes the root from them. The
encoding leaves empty siblings out behind a bitmap, so a proof in a tree of
N entries carries about log2(N) hashes.
"""

from __future__ import annotations

import functools
import logging
import operator
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType

from gusu.codec import Value, decode_list, encode, expect_bytes, expect_list, expect_uint
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, ConfigError, InvalidStateProofError, NotFoundError, StorageError
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
    "TREE_CACHE_BYTES_DEFAULT",
    "TREE_CACHE_BYTES_MAX",
    "TREE_CACHE_DEPTH_DEFAULT",
    "TREE_CACHE_DEPTH_MAX",
    "VALUE_PREFIX",
    "NodeKey",
    "StateProof",
    "StateProofLeaf",
    "StateTree",
    "TreeNodeCache",
    "TreeUpdate",
    "apply_tree_update_to_batch",
    "apply_tree_update_to_cache",
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
_NATIVE_PREFIXES = (KEY_PREFIX, VALUE_PREFIX, LEAF_PREFIX, INTERNAL_PREFIX)

TAG_PROOF = "gusu.smt.proof.v1"

PREFIX_TREE_NODE = b"j"
PREFIX_STALE = b"J"

PROOF_DEPTH_MAX = KEY_BITS
"""A path is at most 256 bits, so a proof has at most 256 siblings."""
PROOF_BYTES_MAX = 16 * 1024
"""Far above the largest canonical proof (256 hashes and a leaf is about 8.3 KB); larger input is refused unread."""

_VERSION_BYTES = 8
_VERSION_MAX = (1 << (8 * _VERSION_BYTES)) - 1

_logger = logging.getLogger(__name__)

# The per-block update in C (src/gusu/ledger/_smt_native.c), built by `pip install -e .` or
# `python setup.py build_ext --inplace`; without it the same update runs in Python, several times slower.
_native: ModuleType | None
try:
    from gusu.ledger import _smt_native as _native
except ImportError as error:
    _native = None
    _NATIVE_IMPORT_ERROR = str(error)
else:
    _NATIVE_IMPORT_ERROR = ""

_NATIVE_SUITES = {"sm3": 0, "keccak256": 1}
"""The native module's code for each suite's hash (`CryptoSuite.hash_name`); other suites use the Python update."""
_implementation_logged = False


def _log_implementation(is_native: bool) -> None:
    """Say once per process which implementation computes the tree, so that a slow node shows why."""
    global _implementation_logged
    if _implementation_logged:
        return
    _implementation_logged = True
    if is_native:
        _logger.info("state tree updates run in the native module gusu.ledger._smt_native")
    else:
        _logger.warning(
            "state tree updates run in pure Python, several times slower than the native module (%s); build it "
            "with: pip install --no-build-isolation -e . (needs gcc, python3-dev and libssl-dev)",
            _NATIVE_IMPORT_ERROR or "not available for this suite's hash",
        )


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
    # Each nibble byte's hex is "0x": its second digit is the nibble, so the hex of the packed path is those.
    digits = path.hex()[1::2]
    packed = bytes.fromhex(digits + "0" if len(path) & 1 else digits)
    return PREFIX_TREE_NODE + version.to_bytes(_VERSION_BYTES, "big") + bytes((len(path),)) + packed


_EMPTY, _ONE_LEAF, _SUBTREE = 0, 1, 2
"""What a binary subtree holds: nothing, a single leaf (collapsed), or more."""

_SLOTS = RADIX
"""In a node's heap (index 1 its own hash, 2i and 2i+1 the halves below i), the 16 child slots are 16..31."""


@dataclass(slots=True)
class _Leaf:
    key_hash: bytes
    value_hash: bytes
    key: bytes
    value: bytes
    stored: NodeKey | None = None
    """Where this leaf is stored already; None for a leaf this update creates."""


@dataclass(frozen=True, slots=True)
class _Internal:
    """A 16-way node with the four binary levels inside it, as a heap of 32 (index 0 unused).

    Never changed once built (nodes are shared with `TreeNodeCache`): an update builds a new one in a
    `_NodeBuilder`. Tuples, not lists: a tuple of bytes and ints is soon left alone by Python's cyclic
    garbage collector, so a cache of tens of thousands of nodes does not make every full collection slower.
    """

    hashes: tuple[bytes, ...]
    """[1] the node's own hash, [2..15] its inner binary subtrees, [16 + i] child slot i (PLACEHOLDER: empty)."""
    kinds: tuple[int, ...]
    """What each heap entry holds: _EMPTY, _ONE_LEAF or _SUBTREE."""
    versions: tuple[int, ...]
    """Per slot, the version its child is stored at (0 for an empty slot)."""
    leaf_keys: tuple[bytes | None, ...]
    """Per slot, the key hash of the leaf there (None for an empty slot or an internal child): an update of an
    existing key then knows, without reading the leaf, that it replaces it."""


@dataclass(slots=True)
class _NodeBuilder:
    """An `_Internal` being built or changed by an update: the same fields, as lists."""

    hashes: list[bytes]
    kinds: list[int]
    versions: list[int]
    leaf_keys: list[bytes | None]


_Node = _Leaf | _Internal


def _new_internal() -> _NodeBuilder:
    return _NodeBuilder([PLACEHOLDER] * (2 * _SLOTS), [_EMPTY] * (2 * _SLOTS), [0] * _SLOTS, [None] * _SLOTS)


def _get_builder(node: _Internal) -> _NodeBuilder:
    return _NodeBuilder(list(node.hashes), list(node.kinds), list(node.versions), list(node.leaf_keys))


def _get_built(builder: _NodeBuilder) -> _Internal:
    return _Internal(tuple(builder.hashes), tuple(builder.kinds), tuple(builder.versions), tuple(builder.leaf_keys))


def _combine_kinds(left: int, right: int) -> int:
    """What a binary subtree holds, from what its halves hold (the collapse rule, without the hashes)."""
    if right == _EMPTY and left != _SUBTREE:
        return left
    if left == _EMPTY and right == _ONE_LEAF:
        return _ONE_LEAF
    return _SUBTREE


def _rehash(hash_function: Callable[[bytes], bytes], node: _NodeBuilder, slots: Iterable[int]) -> None:
    """Recompute the heap entries above the changed `slots` (0..15), a level at a time, each once.

    A subtree with one leaf and nothing else is that leaf's hash, which is how a lone leaf moves up to the
    shortest prefix no other key shares; only subtrees with more than that cost a hash.
    """
    hashes, kinds = node.hashes, node.kinds
    parents = sorted({(_SLOTS + slot) >> 1 for slot in slots}, reverse=True)
    positions: Sequence[int]
    if len(parents) == 1:  # the common case below the top levels: one changed slot, 4 positions
        parent = parents[0]
        positions = (parent, parent >> 1, parent >> 2, 1)
    else:
        positions = _get_positions_above(tuple(parents))
    for position in positions:
        left = position << 1
        left_kind, right_kind = kinds[left], kinds[left + 1]
        if right_kind == _EMPTY and left_kind != _SUBTREE:
            hashes[position] = hashes[left]
            kinds[position] = left_kind
        elif left_kind == _EMPTY and right_kind == _ONE_LEAF:
            hashes[position] = hashes[left + 1]
            kinds[position] = _ONE_LEAF
        else:
            hashes[position] = hash_function(INTERNAL_PREFIX + hashes[left] + hashes[left + 1])
            kinds[position] = _SUBTREE


@functools.lru_cache(maxsize=256)  # the subsets of the 8 slot parents
def _get_positions_above(parents: tuple[int, ...]) -> tuple[int, ...]:
    """Every heap position at or above `parents` (the slots' parents), deepest level first, each once."""
    found: set[int] = set()
    for position in parents:
        while position and position not in found:
            found.add(position)
            position >>= 1
    return tuple(sorted(found, reverse=True))


# Node encodings: a one-byte kind, then fixed-width fields (the leaf's key and value last, the key behind its
# length), so every field's place follows from the bytes before it. Internal nodes store their inner binary
# hashes too: an update that changes one child rehashes the 4 levels above it, not all 15 inner subtrees.
_NODE_EMPTY = b"\x00"
_NODE_LEAF = b"\x01"
_NODE_INTERNAL = b"\x02"
_KEY_LENGTH_BYTES = 4
_LEAF_FIXED_BYTES = 1 + 2 * HASH_SIZE + _KEY_LENGTH_BYTES
_SLOT_BYTES = HASH_SIZE + _VERSION_BYTES
_INNER = range(1, _SLOTS)


def _encode_leaf(leaf: _Leaf) -> bytes:
    assert len(leaf.key) < 1 << (8 * _KEY_LENGTH_BYTES)
    return b"".join(
        (
            _NODE_LEAF,
            leaf.key_hash,
            leaf.value_hash,
            len(leaf.key).to_bytes(_KEY_LENGTH_BYTES, "big"),
            leaf.key,
            leaf.value,
        )
    )


def _encode_internal(node: _Internal) -> bytes:
    """Kind, bitmap of occupied slots, bitmap of leaf slots (2 bytes each); per occupied slot its hash and
    version and, for a leaf, its key hash; then the inner hashes (heap order) of the subtrees that hold more
    than one leaf, which the bitmaps determine."""
    layout = _get_layout_of_kinds(tuple(node.kinds[_SLOTS:]))
    # One C-level gather and one pack instead of a Python loop over the slots: the layout knows the order.
    source: list[object] = [*node.hashes, *node.versions, *node.leaf_keys]
    fields = layout.gather_fields(source)
    return layout.packer.pack(2, layout.present, layout.leaves, *fields)


def _encode_node(node: _Node | None) -> bytes:
    if node is None:
        return _NODE_EMPTY
    if isinstance(node, _Leaf):
        return _encode_leaf(node)
    return _encode_internal(node)


_LAYOUT_CACHE_SIZE = 16_384
"""Distinct (occupied, leaf) bitmap pairs whose layout is kept for decoding (a few hundred bytes each)."""


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where an internal node's fields lie, which depends only on its two bitmaps.

    Encoding and decoding go through a compiled `struct.Struct` and `operator.itemgetter`s built once per
    layout, so a node is packed or unpacked without a Python-level loop over its slots.
    """

    present: int
    leaves: int
    kinds: tuple[int, ...]
    """The heap's kinds (32 entries)."""
    packer: struct.Struct
    """Kind byte, the two bitmaps, then the fields in encoding order (hash 32s, version Q, leaf key hash 32s)."""
    gather_fields: Callable[[list[object]], tuple[object, ...]]
    """From hashes (32) + versions (16) + leaf key hashes (16) concatenated: the fields in encoding order."""
    scatter_hashes: Callable[[tuple[object, ...]], tuple[bytes, ...]]
    """From the unpacked fields followed by (PLACEHOLDER, 0, None): the 32 heap hashes (lone leaves copied up)."""
    scatter_versions: Callable[[tuple[object, ...]], tuple[int, ...]]
    scatter_leaf_keys: Callable[[tuple[object, ...]], tuple[bytes | None, ...]]
    size: int
    """The encoded node's length in bytes."""


@functools.lru_cache(maxsize=_LAYOUT_CACHE_SIZE)
def _get_layout(present: int, leaves: int) -> _Layout:
    kinds = [_EMPTY] * (2 * _SLOTS)
    formats = [">BHH"]
    gather: list[int] = []
    field_of_position: dict[int, int] = {}
    field_of_version: dict[int, int] = {}
    field_of_leaf_key: dict[int, int] = {}
    for slot in range(_SLOTS):
        if present >> slot & 1:
            is_leaf = bool(leaves >> slot & 1)
            kinds[_SLOTS + slot] = _ONE_LEAF if is_leaf else _SUBTREE
            field_of_position[_SLOTS + slot] = len(gather)
            gather.append(_SLOTS + slot)
            field_of_version[slot] = len(gather)
            gather.append(2 * _SLOTS + slot)
            formats.append(f"{HASH_SIZE}sQ")
            if is_leaf:
                field_of_leaf_key[slot] = len(gather)
                gather.append(3 * _SLOTS + slot)
                formats.append(f"{HASH_SIZE}s")
    for position in range(_SLOTS - 1, 0, -1):
        left = 2 * position
        kinds[position] = _combine_kinds(kinds[left], kinds[left + 1])
    for position in _INNER:
        if kinds[position] == _SUBTREE:
            field_of_position[position] = len(gather)
            gather.append(position)
            formats.append(f"{HASH_SIZE}s")
    count = len(gather)
    placeholder, zero, nothing = count, count + 1, count + 2

    def source_of(position: int) -> int:
        """The field holding the hash of heap `position`: its own, the lone leaf's below it, or PLACEHOLDER."""
        while position not in field_of_position:
            if position >= _SLOTS or kinds[position] == _EMPTY:
                return placeholder
            left = 2 * position
            position = left if kinds[left] != _EMPTY else left + 1
        return field_of_position[position]

    # The header's three fields come first in the unpacked tuple.
    hash_sources = [3 + source_of(position) if position else 3 + placeholder for position in range(2 * _SLOTS)]
    version_sources = [3 + field_of_version.get(slot, zero) for slot in range(_SLOTS)]
    leaf_key_sources = [3 + field_of_leaf_key.get(slot, nothing) for slot in range(_SLOTS)]
    packer = struct.Struct("".join(formats))
    return _Layout(
        present,
        leaves,
        tuple(kinds),
        packer,
        operator.itemgetter(*gather) if count > 1 else lambda source: tuple(source[index] for index in gather),
        operator.itemgetter(*hash_sources),
        operator.itemgetter(*version_sources),
        operator.itemgetter(*leaf_key_sources),
        packer.size,
    )


@functools.lru_cache(maxsize=_LAYOUT_CACHE_SIZE)
def _get_layout_of_kinds(slot_kinds: tuple[int, ...]) -> _Layout:
    present = sum(1 << slot for slot, kind in enumerate(slot_kinds) if kind != _EMPTY)
    leaves = sum(1 << slot for slot, kind in enumerate(slot_kinds) if kind == _ONE_LEAF)
    return _get_layout(present, leaves)


_DECODE_CONSTANTS = (PLACEHOLDER, 0, None)


def _decode_internal(raw: bytes) -> _Internal:
    present = int.from_bytes(raw[1:3], "big")
    leaves = int.from_bytes(raw[3:5], "big")
    if leaves & ~present:
        raise CodecError("a leaf flag is set for an empty slot")
    layout = _get_layout(present, leaves)
    if layout.kinds[1] != _SUBTREE:
        raise CodecError("an internal node holds at least two leaves or an internal child")
    if len(raw) != layout.size:
        raise CodecError(f"an internal node of {len(raw)} bytes does not match its bitmaps ({layout.size} bytes)")
    fields = layout.packer.unpack(raw) + _DECODE_CONSTANTS
    return _Internal(
        layout.scatter_hashes(fields),
        layout.kinds,
        layout.scatter_versions(fields),
        layout.scatter_leaf_keys(fields),
    )


def _decode_node(raw: bytes, stored: NodeKey) -> _Node | None:
    """A node as read back from the store; anything unexpected means the store is damaged."""
    try:
        kind = raw[:1]
        if kind == _NODE_INTERNAL:
            return _decode_internal(raw)
        if kind == _NODE_LEAF and len(raw) >= _LEAF_FIXED_BYTES:
            key_length = int.from_bytes(raw[1 + 2 * HASH_SIZE : _LEAF_FIXED_BYTES], "big")
            if len(raw) < _LEAF_FIXED_BYTES + key_length:
                raise CodecError("a leaf's key runs past its end")
            return _Leaf(
                raw[1 : 1 + HASH_SIZE],
                raw[1 + HASH_SIZE : 1 + 2 * HASH_SIZE],
                raw[_LEAF_FIXED_BYTES : _LEAF_FIXED_BYTES + key_length],
                raw[_LEAF_FIXED_BYTES + key_length :],
                stored,
            )
        if raw == _NODE_EMPTY:
            return None
        raise CodecError(f"unknown tree node kind {kind.hex() or 'nothing'}")
    except CodecError as error:
        raise StorageError(
            f"tree node {stored[0]}/{stored[1].hex()} is damaged ({error}); restore the data directory from a backup"
        ) from error


def _get_leaf_hash(suite: CryptoSuite, leaf: _Leaf) -> bytes:
    return suite.hash(LEAF_PREFIX + leaf.key_hash + leaf.value_hash)


def _get_node_hash(suite: CryptoSuite, node: _Node | None) -> bytes:
    if node is None:
        return PLACEHOLDER
    if isinstance(node, _Leaf):
        return _get_leaf_hash(suite, node)
    return node.hashes[1]


def _read_node(store: KeyValueStore, node_key: NodeKey) -> bytes:
    raw = store.get(encode_node_key(node_key))
    if raw is None:
        raise StorageError(
            f"tree node {node_key[0]}/{node_key[1].hex()} is missing: the store is damaged or that version was pruned"
        )
    return raw


def _load_node(store: KeyValueStore, node_key: NodeKey) -> _Node | None:
    return _decode_node(_read_node(store, node_key), node_key)


def _load_leaf(store: KeyValueStore, node_key: NodeKey) -> _Leaf:
    node = _load_node(store, node_key)
    if not isinstance(node, _Leaf):
        raise StorageError(f"tree node {node_key[0]}/{node_key[1].hex()} is not the leaf its parent says it is")
    # A key hash that left its path (a damaged byte) would put the leaf under the wrong slot.
    path = node_key[1]
    if any(_nibble(node.key_hash, depth) != nibble for depth, nibble in enumerate(path)):
        raise StorageError(f"tree node {node_key[0]}/{path.hex()} holds a key hash outside its path")
    return node


def _load_root(store: KeyValueStore, version: int) -> _Node | None:
    raw = store.get(encode_node_key((version, b"")))
    if raw is None:
        raise NotFoundError(f"the state tree has no version {version}: it was never written, or it was pruned")
    return _decode_node(raw, (version, b""))


# --- the node cache ----------------------------------------------------------------------------------------

TREE_CACHE_DEPTH_DEFAULT = 5
"""Keep the internal nodes of the top 5 nibble levels (at most 69,905) in memory, as far as
`TREE_CACHE_BYTES_DEFAULT` allows: they are read by every block's update and would otherwise be read from the
store again each time. Deeper levels are rarely read twice."""
TREE_CACHE_DEPTH_MAX = 8
"""A guard against a setting that would aim to hold the whole tree in memory."""
TREE_CACHE_BYTES_DEFAULT = 256 * 1024 * 1024
"""The memory the node cache may use (estimated, see `_get_cached_node_bytes`): enough for the top five nibble
levels of a 1,000,000-entry state (about 100 MB), so a block's update there reads almost nothing from the store."""
TREE_CACHE_BYTES_MAX = 16 * 1024 * 1024 * 1024
"""A guard against a budget no machine running a node has."""

_CACHED_NODE_FIXED_BYTES = 256
"""Per cached node besides its encoding: the bytes object's header, the entry's tuple and ints, the path key and
the dict slot, estimated."""


def _get_cached_node_bytes(raw: bytes) -> int:
    """An estimate of the memory a cached node holds, for the cache's budget."""
    return _CACHED_NODE_FIXED_BYTES + len(raw)


@dataclass(slots=True)
class TreeNodeCache:
    """Internal nodes of the latest committed version, encoded, by nibble path, within a memory budget.

    Encoded rather than decoded: the native update (gusu.ledger._smt_native) reads them as they are, and bytes
    objects cost Python's cyclic garbage collector nothing. One entry per path (version, encoded node,
    estimated bytes), none deeper than `depth_nibbles`, and nodes are
    admitted only while their estimated total stays within `bytes_max`. Nodes are met top-down (an update
    reads a node's parent first), so the upper levels, which every block reads, are the first to get in.
    Filled only from committed versions (`apply_tree_update_to_cache`) and from the store: a computed update
    that never commits (a rejected proposal) must not shadow what the store holds, and nodes are looked up
    by version.
    """

    depth_nibbles: int = TREE_CACHE_DEPTH_DEFAULT
    bytes_max: int = TREE_CACHE_BYTES_DEFAULT
    nodes: dict[bytes, tuple[int, bytes, int]] = field(default_factory=dict)
    bytes_used: int = 0
    """The estimated memory of the nodes held."""

    def __post_init__(self) -> None:
        if not 0 <= self.depth_nibbles <= TREE_CACHE_DEPTH_MAX:
            raise ConfigError(
                f"the state tree cache depth is {self.depth_nibbles} nibbles; choose 0 (no cache) to "
                f"{TREE_CACHE_DEPTH_MAX}"
            )
        if isinstance(self.bytes_max, bool) or not 0 <= self.bytes_max <= TREE_CACHE_BYTES_MAX:
            raise ConfigError(
                f"the state tree cache budget is {self.bytes_max!r} bytes; choose 0 (no cache) to "
                f"{TREE_CACHE_BYTES_MAX}"
            )


def _apply_node_to_cache(cache: TreeNodeCache, path: bytes, version: int, raw: bytes) -> None:
    """Hold the encoded node `raw` for `path` if it fits the depth and the budget (an older node for the path goes
    either way)."""
    if len(path) >= cache.depth_nibbles:
        return
    old = cache.nodes.pop(path, None)
    if old is not None:
        cache.bytes_used -= old[2]
    size = _get_cached_node_bytes(raw)
    if cache.bytes_used + size <= cache.bytes_max:
        cache.nodes[path] = (version, raw, size)
        cache.bytes_used += size


@dataclass(frozen=True, slots=True)
class StateTree:
    """Where the versions of the state tree live, and the decoded nodes kept in memory to update it fast."""

    store: KeyValueStore
    cache: TreeNodeCache = field(default_factory=TreeNodeCache)


def _load_internal(context: _Context, version: int, path: bytes) -> _Internal:
    cache = context.cache
    if cache is not None:
        entry = cache.nodes.get(path)
        if entry is not None and entry[0] == version:
            return _get_internal(_decode_node(entry[1], (version, path)), version, path)
    raw = _read_node(context.store, (version, path))
    node = _get_internal(_decode_node(raw, (version, path)), version, path)
    if cache is not None:
        _apply_node_to_cache(cache, path, version, raw)
    return node


def _get_internal(node: _Node | None, version: int, path: bytes) -> _Internal:
    if not isinstance(node, _Internal):
        raise StorageError(f"tree node {version}/{path.hex()} is not the internal node its parent says it is")
    return node


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
    internal_nodes: dict[bytes, bytes] = field(default_factory=dict, compare=False, repr=False)
    """Nibble path -> the internal nodes this version adds at paths shorter than `TREE_CACHE_DEPTH_MAX`, encoded,
    for `apply_tree_update_to_cache`."""


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
    cache: TreeNodeCache | None
    nodes: dict[bytes, bytes] = field(default_factory=dict)
    stale: set[NodeKey] = field(default_factory=set)
    internal_nodes: dict[bytes, bytes] = field(default_factory=dict)


class _Unchanged:
    """A subtree the writes left as it was (so its stored nodes stay where they are)."""


_UNCHANGED = _Unchanged()
_Result = _Node | None | _Unchanged


def _new_leaf(suite: CryptoSuite, update: _Update) -> _Leaf:
    assert update.value is not None
    return _Leaf(update.key_hash, suite.hash(VALUE_PREFIX + update.value), update.key, update.value)


def _new_leaves(suite: CryptoSuite, updates: Sequence[_Update]) -> list[_Leaf]:
    return [_new_leaf(suite, update) for update in updates if update.value is not None]


def _group_by_nibble(updates: Sequence[_Update], depth: int) -> list[tuple[int, list[_Update]]]:
    groups: list[tuple[int, list[_Update]]] = []
    index = depth >> 1
    shift = 4 if depth & 1 == 0 else 0
    for update in updates:
        nibble = (update.key_hash[index] >> shift) & 0x0F
        if groups and groups[-1][0] == nibble:
            groups[-1][1].append(update)
        else:
            groups.append((nibble, [update]))
    return groups


def _write_internal(context: _Context, path: bytes, node: _Internal) -> None:
    raw = _encode_internal(node)
    context.nodes[encode_node_key((context.version, path))] = raw
    if len(path) < TREE_CACHE_DEPTH_MAX:
        context.internal_nodes[path] = raw


def _set_slot(context: _Context, node: _NodeBuilder, path: bytes, slot: int, child: _Node | None) -> None:
    """Put `child` in `slot` of `node` (which is at `path`), storing the child there unless it already is."""
    position = _SLOTS + slot
    if child is None:
        node.hashes[position] = PLACEHOLDER
        node.kinds[position] = _EMPTY
        node.versions[slot] = 0
        node.leaf_keys[slot] = None
        return
    child_path = path + bytes((slot,))
    if isinstance(child, _Leaf):
        if child.stored is not None and child.stored[1] == child_path:
            version = child.stored[0]
        else:
            if child.stored is not None:
                context.stale.add(child.stored)  # a leaf moving to another path
            version = context.version
            context.nodes[encode_node_key((version, child_path))] = _encode_leaf(child)
        node.hashes[position] = _get_leaf_hash(context.suite, child)
        node.kinds[position] = _ONE_LEAF
        node.versions[slot] = version
        node.leaf_keys[slot] = child.key_hash
        return
    _write_internal(context, child_path, child)  # internal results are always new nodes
    node.hashes[position] = child.hashes[1]
    node.kinds[position] = _SUBTREE
    node.versions[slot] = context.version
    node.leaf_keys[slot] = None


def _build(context: _Context, path: bytes, leaves: list[_Leaf]) -> _Node | None:
    """The subtree at `path` holding exactly `leaves` (sorted by key hash); its nodes below `path` stored."""
    if not leaves:
        return None
    if len(leaves) == 1:
        return leaves[0]
    _validate_depth(path)
    depth = len(path)
    groups: dict[int, list[_Leaf]] = {}
    for leaf in leaves:
        groups.setdefault(_nibble(leaf.key_hash, depth), []).append(leaf)
    node = _new_internal()
    for slot, group in groups.items():
        _set_slot(context, node, path, slot, _build(context, path + bytes((slot,)), group))
    _rehash(context.suite.hash, node, groups)
    return _get_built(node)


def _update_leaf_keyed(
    context: _Context,
    path: bytes,
    stored: NodeKey,
    leaf_hash: bytes,
    leaf_key: bytes | None,
    leaf: _Leaf | None,
    updates: list[_Update],
) -> _Result:
    suite = context.suite
    leaves: list[_Leaf] = []
    replaced = False
    for update in updates:
        if update.key_hash == leaf_key:
            replaced = True
        if update.value is not None:
            leaves.append(_new_leaf(suite, update))
    if not replaced:
        if not leaves:
            return _UNCHANGED  # deletes of absent keys
        if leaf is None:
            leaf = _load_leaf(context.store, stored)
        leaves.append(leaf)
        leaves.sort(key=_get_key_hash)
    elif len(leaves) == 1 and _get_leaf_hash(suite, leaves[0]) == leaf_hash:
        return _UNCHANGED  # the key rewritten with the value it has
    else:
        context.stale.add(stored)
    return _build(context, path, leaves)


def _get_key_hash(leaf: _Leaf) -> bytes:
    return leaf.key_hash


def _validate_depth(path: bytes) -> None:
    """Only a damaged store (two leaves with one key hash, or internal nodes nested too deep) leads below 64."""
    if len(path) >= NIBBLES:
        raise StorageError(
            f"the state tree goes deeper than a {KEY_BITS}-bit key hash allows at nibble path {path.hex()}: the "
            "store is damaged; restore the data directory from a backup"
        )


def _update_internal(context: _Context, path: bytes, version: int, node: _Internal, updates: list[_Update]) -> _Result:
    _validate_depth(path)
    results: dict[int, _Node | None] = {}
    for slot, group in _group_by_nibble(updates, len(path)):
        kind = node.kinds[_SLOTS + slot]
        child_path = path + bytes((slot,))
        result: _Result
        if kind == _EMPTY:
            leaves = _new_leaves(context.suite, group)
            result = _build(context, child_path, leaves) if leaves else _UNCHANGED
        elif kind == _ONE_LEAF:
            result = _update_leaf_keyed(
                context,
                child_path,
                (node.versions[slot], child_path),
                node.hashes[_SLOTS + slot],
                node.leaf_keys[slot],
                None,
                group,
            )
        else:
            child_version = node.versions[slot]
            child = _load_internal(context, child_version, child_path)
            result = _update_internal(context, child_path, child_version, child, group)
        if not isinstance(result, _Unchanged):
            results[slot] = result
    if not results:
        return _UNCHANGED
    context.stale.add((version, path))
    kinds = node.kinds
    occupied = _SLOTS - kinds[_SLOTS:].count(_EMPTY)
    if occupied < 2 or None in results.values():  # otherwise no slot empties, so two or more stay occupied
        occupied += sum((result is not None) - (kinds[_SLOTS + slot] != _EMPTY) for slot, result in results.items())
    if occupied == 0:
        return None
    if occupied == 1:
        remaining = [slot for slot in range(_SLOTS) if kinds[_SLOTS + slot] != _EMPTY and slot not in results]
        filled = [slot for slot, result in results.items() if result is not None]
        # One entry left below this node: if it is a leaf, it moves up to the parent's slot (collapse).
        if remaining:
            (slot,) = remaining
            if node.kinds[_SLOTS + slot] == _ONE_LEAF:
                return _load_leaf(context.store, (node.versions[slot], path + bytes((slot,))))
        else:
            only = results[filled[0]]
            if isinstance(only, _Leaf):
                return only
    updated = _get_builder(node)
    for slot, result in results.items():
        _set_slot(context, updated, path, slot, result)
    _rehash(context.suite.hash, updated, results)
    return _get_built(updated)


def apply_tree_updates(
    store: KeyValueStore,
    suite: CryptoSuite,
    version: int,
    parent_version: int | None,
    writes: Mapping[bytes, bytes | None],
    cache: TreeNodeCache | None = None,
) -> TreeUpdate:
    """Version `version` of the tree: version `parent_version` (None: the empty tree) with `writes` applied.

    A write of None deletes the key (deleting an absent key does nothing).
    Reads the parent's nodes from `cache` (when given) or `store` and writes
    nothing: the caller puts the result in the same batch as the rest of the
    block (`apply_tree_update_to_batch`) and, once that is written, in the
    cache (`apply_tree_update_to_cache`). The result depends only on the
    parent version and the set of writes, never on their order.

    Computed by the native module (gusu.ledger._smt_native) when it is built, else in Python; both give the same
    result byte for byte (tests/ledger/test_smt_native.py).
    """
    assert 0 <= version <= _VERSION_MAX
    assert parent_version is None or parent_version < version, "a version follows its parent"
    # The native update takes exactly bytes (it refuses bytearray and memoryview, which Python would hash alike):
    # anything else is a caller's bug, and must not let a native node and a Python one disagree.
    assert all(type(key) is bytes and (value is None or type(value) is bytes) for key, value in writes.items())
    native_suite = _NATIVE_SUITES.get(suite.hash_name) if _native is not None else None
    _log_implementation(native_suite is not None)
    if native_suite is not None:
        return _apply_tree_updates_native(store, native_suite, version, parent_version, writes, cache)
    return _apply_tree_updates_python(store, suite, version, parent_version, writes, cache)


def _apply_tree_updates_native(
    store: KeyValueStore,
    native_suite: int,
    version: int,
    parent_version: int | None,
    writes: Mapping[bytes, bytes | None],
    cache: TreeNodeCache | None,
) -> TreeUpdate:
    assert _native is not None
    root, nodes, stale, internal_nodes, loaded = _native.apply_updates(
        native_suite,
        _NATIVE_PREFIXES,
        store.get,
        None if cache is None else cache.nodes,
        version,
        parent_version,
        writes,
        TREE_CACHE_DEPTH_MAX,
    )
    if cache is not None:
        # What the Python update admits while it walks, in the same (top-down) order, so the budget fills alike.
        for path, loaded_version, raw in loaded:
            _apply_node_to_cache(cache, path, loaded_version, raw)
    return TreeUpdate(version=version, root=Hash(root), nodes=nodes, stale=stale, internal_nodes=internal_nodes)


def _apply_tree_updates_python(
    store: KeyValueStore,
    suite: CryptoSuite,
    version: int,
    parent_version: int | None,
    writes: Mapping[bytes, bytes | None],
    cache: TreeNodeCache | None,
) -> TreeUpdate:
    """The reference implementation of `apply_tree_updates`, and its fallback when the native module is not built."""
    context = _Context(suite, store, version, cache)
    hash_function = suite.hash
    updates = sorted(
        (_Update(hash_function(KEY_PREFIX + key), key, value) for key, value in writes.items()),
        key=lambda item: item.key_hash,
    )
    root: _Node | None
    if parent_version is None:
        root = _build(context, b"", _new_leaves(suite, updates))
    else:
        parent_key = (parent_version, b"")
        cached = None if cache is None else cache.nodes.get(b"")
        old = (
            _decode_node(cached[1], parent_key)
            if cached is not None and cached[0] == parent_version
            else _load_root(store, parent_version)
        )
        result: _Result
        if old is None:
            leaves = _new_leaves(suite, updates)
            result = _build(context, b"", leaves) if leaves else _UNCHANGED
        elif isinstance(old, _Leaf):
            result = _update_leaf_keyed(
                context, b"", parent_key, _get_leaf_hash(suite, old), old.key_hash, old, updates
            )
        else:
            result = _update_internal(context, b"", parent_version, old, updates)
        root = old if isinstance(result, _Unchanged) else result
        context.stale.add(parent_key)
        # A leaf that moved up to the root from deeper down leaves its old place.
        if isinstance(root, _Leaf) and root.stored is not None:
            context.stale.add(root.stored)
    # Every version has its own root node, even when nothing changed, so any version can be read.
    raw_root = _encode_node(root)
    context.nodes[encode_node_key((version, b""))] = raw_root
    if isinstance(root, _Internal):
        context.internal_nodes[b""] = raw_root
    return TreeUpdate(
        version=version,
        root=Hash(_get_node_hash(suite, root)),
        nodes=context.nodes,
        stale=tuple(sorted(context.stale)),
        internal_nodes=context.internal_nodes,
    )


def apply_tree_update_to_cache(cache: TreeNodeCache, update: TreeUpdate) -> None:
    """Keep a committed version's upper internal nodes decoded, for the next version's update.

    Call it only once the update is written: the cache must hold what the store holds.
    """
    nodes = cache.nodes
    for version, path in update.stale:
        entry = nodes.get(path)
        if entry is not None and entry[0] == version:
            del nodes[path]  # a path the new version no longer has keeps no outdated node
            cache.bytes_used -= entry[2]
    for path, node in update.internal_nodes.items():
        _apply_node_to_cache(cache, path, update.version, node)


def _encode_stale_key(since_version: int, node_key: NodeKey) -> bytes:
    return PREFIX_STALE + since_version.to_bytes(_VERSION_BYTES, "big") + encode_node_key(node_key)


def apply_tree_update_to_batch(batch: WriteBatch, update: TreeUpdate) -> None:
    """Add the update's nodes and its stale-node index entries to `batch`."""
    for key, value in update.nodes.items():
        batch.put(key, value)
    if _native is not None:  # a few thousand keys a block, at about 1 µs each in Python
        stale_keys = _native.encode_stale_keys(update.version, update.stale)
    else:
        stale_keys = [_encode_stale_key(update.version, node_key) for node_key in update.stale]
    for key in stale_keys:
        batch.put(key, b"")


def compute_pruning_batch(
    store: KeyValueStore, oldest_kept_version: int, previously_kept_from: int | None = None
) -> WriteBatch:
    """Deletes of every node that no version from `oldest_kept_version` on needs, with their index entries.

    A node stale since version S is used by versions below S only, so every
    node stale since a version at or below `oldest_kept_version` goes.

    `previously_kept_from`: an earlier batch of this function pruned up to that version, so only the index
    of the versions after it is read, one version's prefix each. Without it the index is read from its
    start, which in an LSM store means walking the deletes of every earlier pruning until the engine
    compacts them away (pruning a long backlog one version at a time was quadratic: a 100,000-version
    store did not finish in 15 minutes).
    """
    assert 0 <= oldest_kept_version <= _VERSION_MAX
    batch = WriteBatch()
    if previously_kept_from is not None:
        assert 0 <= previously_kept_from <= oldest_kept_version
        for version in range(previously_kept_from + 1, oldest_kept_version + 1):
            for index_key, _ in store.iterate(PREFIX_STALE + version.to_bytes(_VERSION_BYTES, "big")):
                batch.delete(index_key)
                batch.delete(index_key[1 + _VERSION_BYTES :])
        return batch
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
        if node.kinds[_SLOTS + nibble] == _EMPTY:
            return None
        child_version = node.versions[nibble]
        path += bytes((nibble,))
        node = _load_node(store, (child_version, path))
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
    return get_path_proof(store, version, compute_key_hash(suite, key))


def get_path_proof(store: KeyValueStore, version: int, key_hash: bytes) -> StateProof:
    """The siblings from the root down to where the path `key_hash` ends, and the leaf found there."""
    assert len(key_hash) == HASH_SIZE
    node = _load_root(store, version)
    siblings: list[bytes] = []
    path = b""
    while True:
        if node is None:
            return StateProof(tuple(siblings), None)
        if isinstance(node, _Leaf):
            return StateProof(tuple(siblings), StateProofLeaf(node.key_hash, node.value_hash))
        nibble = _nibble(key_hash, len(path))
        hashes, kinds = node.hashes, node.kinds
        for height in range(3, -1, -1):
            position = (_SLOTS >> height) + (nibble >> height)
            siblings.append(hashes[position ^ 1])
            held = kinds[position]
            if held == _EMPTY:
                return StateProof(tuple(siblings), None)
            if held == _ONE_LEAF:
                break
        # The one child (a leaf) under the chosen subtree, or the internal child at the nibble itself.
        low = next(slot for slot in range(_SLOTS) if slot >> height == nibble >> height and kinds[_SLOTS + slot])
        path += bytes((low,))
        node = _load_node(store, (node.versions[low], path))


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
