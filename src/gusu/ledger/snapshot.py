"""State snapshots in chunks that each prove themselves against a state root (the ground for state sync).

A new node should join a long-running chain without replaying its history:
it trusts one certified header, fetches that block's state from peers, and
follows the chain from there. Peers may lie, so every chunk must be checked
on arrival, on its own, against the header's `state_root`, and a bad chunk
pins the blame on the peer that sent it.

The state tree makes that cheap. A chunk is a whole subtree: every entry
whose key hash starts with a nibble path P, plus the 4·|P| binary sibling
hashes on the way from P up to the root. The receiver

1. checks that every entry's key hash starts with P, strictly increasing;
2. computes the subtree's hash from the entries (`_compute_subtree_hash`,
   the same definition as `compute_tree_root`, from P's depth);
3. hashes up through the siblings and compares with the trusted root.

A missing, extra or altered entry changes the subtree hash, so a chunk that
passes holds exactly the entries of P in that version. A snapshot's plan is
a list of paths that covers the key space without overlap
(`validate_snapshot_plan`: prefix-free, and every nibble path has exactly
one of its prefixes or all its extensions in the plan); chunks that each
pass, for a plan that covers, are the whole state. The plan itself needs no
trust: a wrong plan either fails that check or yields chunks that fail.

The producer splits the tree where subtrees hold more than
`entries_per_chunk_max` entries, so chunk sizes stay bounded whatever the
state's shape (key hashes are uniform, so sizes are even in practice).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from gusu.codec import Value, decode_list, encode, expect_bytes, expect_list
from gusu.crypto import CryptoSuite
from gusu.errors import CodecError, InvalidStateProofError, StorageError
from gusu.ledger.kv import KeyValueStore
from gusu.ledger.smt import (
    _EMPTY,
    _SLOTS,
    _SUBTREE,
    NIBBLES,
    PLACEHOLDER,
    _bit,
    _compute_subtree_hash,
    _Internal,
    _Leaf,
    _load_node,
    _load_root,
    compute_internal_hash,
    compute_key_hash,
    compute_leaf_hash,
    compute_value_hash,
    get_path_proof,
)
from gusu.ledger.types import HASH_SIZE

TAG_SNAPSHOT_CHUNK = "gusu.snapshot.chunk.v1"
TAG_SNAPSHOT_PLAN = "gusu.snapshot.plan.v1"

SNAPSHOT_ENTRIES_PER_CHUNK_DEFAULT = 4_096
SNAPSHOT_ENTRIES_PER_CHUNK_MAX = 65_536
"""Entries one chunk may hold: what a receiver accepts from a peer."""
SNAPSHOT_CHUNK_BYTES_MAX = 16 * 1024 * 1024
"""Bytes of one encoded chunk a receiver decodes."""
SNAPSHOT_KEY_BYTES_MAX = 4096
SNAPSHOT_VALUE_BYTES_MAX = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    key: bytes
    """The full state key (`gusu.ledger.statekey.compute_state_key`)."""
    value: bytes


@dataclass(frozen=True, slots=True)
class SnapshotChunk:
    """Every entry under nibble path `path` in one version, and the siblings from `path` up to the root."""

    path: bytes
    """One nibble (0..15) per byte; empty: the whole tree."""
    siblings: tuple[bytes, ...]
    """4·len(path) hashes, root first (as in a state proof); PLACEHOLDER for empty siblings."""
    entries: tuple[SnapshotEntry, ...]
    """Sorted by key hash."""
    neighbour: tuple[bytes, bytes] | None = None
    """(key hash, value hash) of the lone leaf beside an empty `path`, if one collapses into a sibling.

    When the subtree at `path` is empty and a single leaf sits in a sibling subtree, that pair of subtrees
    hashes as the leaf itself (a lone leaf moves up), which a receiver cannot tell from the sibling's hash
    alone; the leaf's two hashes let it check that this sibling is one leaf, and where its key leaves
    `path`. Present only then, so each chunk has one encoding."""


# --- nibble paths -------------------------------------------------------------------------------------------


def _get_path_bit(path: bytes, depth: int) -> int:
    return (path[depth >> 2] >> (3 - (depth & 3))) & 1


def is_under_path(key_hash: bytes, path: bytes) -> bool:
    """Whether `key_hash` starts with the nibbles of `path`."""
    for index, nibble in enumerate(path):
        byte = key_hash[index >> 1]
        if (byte >> 4 if index & 1 == 0 else byte & 0x0F) != nibble:
            return False
    return True


def _get_path_key_hash(path: bytes) -> bytes:
    """A key hash that starts with `path` (zeros after it)."""
    digits = "".join(f"{nibble:x}" for nibble in path)
    return bytes.fromhex(digits.ljust(2 * HASH_SIZE, "0"))


# --- producing a snapshot -----------------------------------------------------------------------------------


def compute_snapshot_plan(
    store: KeyValueStore, version: int, entries_per_chunk_max: int = SNAPSHOT_ENTRIES_PER_CHUNK_DEFAULT
) -> list[tuple[bytes, int]]:
    """(path, entry count) of each chunk of version `version`, in key order; together they cover the key space.

    Walks every internal node of the version once (the leaves are counted from their parents' slots).
    """
    assert 1 <= entries_per_chunk_max <= SNAPSHOT_ENTRIES_PER_CHUNK_MAX
    root = _load_root(store, version)
    if not isinstance(root, _Internal):
        return [(b"", 0 if root is None else 1)]
    plan, _ = _plan_node(store, root, b"", entries_per_chunk_max)
    return plan


def _plan_node(
    store: KeyValueStore, node: _Internal, path: bytes, entries_max: int
) -> tuple[list[tuple[bytes, int]], int]:
    plan: list[tuple[bytes, int]] = []
    total = 0
    for slot in range(_SLOTS):
        child_path = path + bytes((slot,))
        kind = node.kinds[_SLOTS + slot]
        if kind == _SUBTREE:
            loaded = _load_node(store, (node.versions[slot], child_path))
            if not isinstance(loaded, _Internal):
                raise StorageError(f"tree node {node.versions[slot]}/{child_path.hex()} is not the internal node")
            child_plan, count = _plan_node(store, loaded, child_path, entries_max)
        else:
            count = 0 if kind == _EMPTY else 1
            child_plan = [(child_path, count)]
        plan.extend(child_plan)
        total += count
    if total <= entries_max:
        return [(path, total)], total
    return plan, total


def iterate_subtree_entries(store: KeyValueStore, version: int, path: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(key hash, key, value) of every entry under `path` in version `version`, in key-hash order."""
    node = _load_root(store, version)
    depth = 0
    # Walk down to `path`, or to the leaf or empty subtree that ends it.
    while isinstance(node, _Internal) and depth < len(path):
        slot = path[depth]
        if node.kinds[_SLOTS + slot] == _EMPTY:
            return
        depth += 1
        node = _load_node(store, (node.versions[slot], path[:depth]))
    if node is None:
        return
    if isinstance(node, _Leaf):
        if is_under_path(node.key_hash, path):
            yield node.key_hash, node.key, node.value
        return
    yield from _iterate_node(store, node, path)


def _iterate_node(store: KeyValueStore, node: _Internal, path: bytes) -> Iterator[tuple[bytes, bytes, bytes]]:
    for slot in range(_SLOTS):
        if node.kinds[_SLOTS + slot] == _EMPTY:
            continue
        child_path = path + bytes((slot,))
        child = _load_node(store, (node.versions[slot], child_path))
        if isinstance(child, _Leaf):
            yield child.key_hash, child.key, child.value
        elif isinstance(child, _Internal):
            yield from _iterate_node(store, child, child_path)


def compute_path_siblings(
    store: KeyValueStore, suite: CryptoSuite, version: int, path: bytes
) -> tuple[tuple[bytes, ...], tuple[bytes, bytes] | None]:
    """The 4·len(path) sibling hashes from the root down to the subtree at `path`, and the chunk's neighbour."""
    depth = 4 * len(path)
    proof = get_path_proof(store, version, _get_path_key_hash(path))
    siblings = list(proof.siblings[:depth])
    neighbour: tuple[bytes, bytes] | None = None
    if len(siblings) < depth:
        # The path ends above `path`'s depth, in an empty subtree or at one collapsed leaf. Below that point
        # every sibling is empty, except the one where that leaf's key leaves `path` (if it does).
        leaf = proof.leaf
        for index in range(len(siblings), depth):
            sibling = PLACEHOLDER
            if leaf is not None and neighbour is None and _bit(leaf.key_hash, index) != _get_path_bit(path, index):
                sibling = compute_leaf_hash(suite, leaf.key_hash, leaf.value_hash)
                neighbour = (leaf.key_hash, leaf.value_hash)
            siblings.append(sibling)
    return tuple(siblings), neighbour


def get_snapshot_chunk(store: KeyValueStore, suite: CryptoSuite, version: int, path: bytes) -> SnapshotChunk:
    """The chunk of version `version` at `path` (one of `compute_snapshot_plan`'s paths)."""
    assert len(path) <= NIBBLES and all(nibble < _SLOTS for nibble in path)
    entries = tuple(SnapshotEntry(key, value) for _, key, value in iterate_subtree_entries(store, version, path))
    siblings, neighbour = compute_path_siblings(store, suite, version, path)
    return SnapshotChunk(path, siblings, entries, neighbour)


# --- checking a snapshot ----------------------------------------------------------------------------------


def _fail(message: str) -> InvalidStateProofError:
    return InvalidStateProofError(f"the snapshot chunk is not valid: {message}")


def validate_snapshot_chunk(suite: CryptoSuite, root: bytes, chunk: SnapshotChunk) -> None:
    """Raise InvalidStateProofError unless `chunk` holds exactly the entries under its path in the tree `root`."""
    depth = 4 * len(chunk.path)
    if len(chunk.siblings) != depth:
        raise _fail(f"a chunk at {len(chunk.path)} nibbles carries {len(chunk.siblings)} siblings, not {depth}")
    leaves: list[tuple[bytes, bytes]] = []
    previous = b""
    for entry in chunk.entries:
        key_hash = compute_key_hash(suite, entry.key)
        if not is_under_path(key_hash, chunk.path):
            raise _fail(f"an entry's key hash {key_hash.hex()} lies outside the chunk's path")
        if key_hash <= previous:
            raise _fail("entries are not in strictly increasing key-hash order")
        previous = key_hash
        leaves.append((key_hash, compute_value_hash(suite, entry.value)))
    neighbour_index = _get_neighbour_index(suite, chunk)
    node = _compute_subtree_hash(suite, leaves, depth)
    count = min(len(leaves), 2)  # what the subtree hashed so far holds: nothing, one leaf, or more
    for index in range(depth - 1, -1, -1):
        sibling = chunk.siblings[index]
        if len(sibling) != HASH_SIZE:
            raise _fail(f"sibling {index} is {len(sibling)} bytes, not {HASH_SIZE}")
        if sibling == PLACEHOLDER and count <= 1:
            continue  # nothing or a lone leaf beside an empty subtree moves up as it is
        if index == neighbour_index:
            node, count = sibling, 1  # empty beside the lone neighbour leaf: the pair is that leaf
            continue
        if _get_path_bit(chunk.path, index):
            node = compute_internal_hash(suite, sibling, node)
        else:
            node = compute_internal_hash(suite, node, sibling)
        count = 2
    if node != root:
        raise _fail("its entries and siblings lead to another state root than the trusted one")


def _get_neighbour_index(suite: CryptoSuite, chunk: SnapshotChunk) -> int | None:
    """Where the neighbour leaf's key leaves the chunk's path, after checking it stands where it claims."""
    if chunk.neighbour is None:
        return None
    if chunk.entries:
        raise _fail("only an empty chunk names a neighbour leaf")
    key_hash, value_hash = chunk.neighbour
    if len(key_hash) != HASH_SIZE or len(value_hash) != HASH_SIZE:
        raise _fail(f"a neighbour's hashes are {HASH_SIZE} bytes each")
    depth = 4 * len(chunk.path)
    index = next((bit for bit in range(depth) if _bit(key_hash, bit) != _get_path_bit(chunk.path, bit)), None)
    if index is None:
        raise _fail("its neighbour leaf lies under the chunk's own path")
    if chunk.siblings[index] != compute_leaf_hash(suite, key_hash, value_hash):
        raise _fail("its neighbour leaf is not the sibling where its key leaves the chunk's path")
    if any(sibling != PLACEHOLDER for sibling in chunk.siblings[index + 1 :]):
        raise _fail("a neighbour leaf stands beside empty subtrees only")
    return index


def validate_snapshot_plan(paths: Sequence[bytes]) -> None:
    """Raise InvalidStateProofError unless `paths` cover every key hash exactly once (a prefix-free cover)."""
    if not paths:
        raise _fail("a snapshot plan lists at least one chunk")
    for path in paths:
        if len(path) > NIBBLES or any(nibble >= _SLOTS for nibble in path):
            raise _fail(f"path {path.hex()} is not a nibble path")
    # Each path covers the key hashes in [start, end) of the 2^256 space; a cover has the ranges end to end.
    ranges = sorted(_get_path_range(path) for path in paths)
    position = 0
    for start, end in ranges:
        if start != position:
            what = "overlaps the chunk before it" if start < position else "leaves a gap before it"
            raise _fail(f"the plan's chunk starting at key hash {start:064x} {what}")
        position = end
    if position != 1 << (8 * HASH_SIZE):
        raise _fail(f"the plan leaves key hashes from {position:064x} on uncovered")


def compute_snapshot_plan_hash(suite: CryptoSuite, paths: Sequence[bytes]) -> bytes:
    """What names a plan among peers: the suite hash of its tagged, canonical list of paths."""
    return suite.hash(encode([TAG_SNAPSHOT_PLAN, list(paths)]))


def _get_path_range(path: bytes) -> tuple[int, int]:
    value = 0
    for nibble in path:
        value = (value << 4) | nibble
    width = 4 * (NIBBLES - len(path))
    return value << width, (value + 1) << width


# --- encoding -----------------------------------------------------------------------------------------------


def encode_snapshot_chunk(chunk: SnapshotChunk) -> bytes:
    """``[tag, path, bitmap of non-empty siblings, those siblings, [[key, value], ...], neighbour key hash,
    neighbour value hash]`` (the last two both nil without a neighbour)."""
    bitmap = bytearray((len(chunk.siblings) + 7) // 8)
    present: list[Value] = []
    for index, sibling in enumerate(chunk.siblings):
        if sibling != PLACEHOLDER:
            bitmap[index >> 3] |= 0x80 >> (index & 7)
            present.append(sibling)
    entries: list[Value] = [[entry.key, entry.value] for entry in chunk.entries]
    neighbour = chunk.neighbour
    return encode(
        [
            TAG_SNAPSHOT_CHUNK,
            chunk.path,
            bytes(bitmap),
            present,
            entries,
            None if neighbour is None else neighbour[0],
            None if neighbour is None else neighbour[1],
        ]
    )


def decode_snapshot_chunk(data: bytes) -> SnapshotChunk:
    """A chunk from its encoding; CodecError for anything else (peer input: bounded, never asserts)."""
    if len(data) > SNAPSHOT_CHUNK_BYTES_MAX:
        raise CodecError(f"a snapshot chunk of {len(data)} bytes exceeds the limit of {SNAPSHOT_CHUNK_BYTES_MAX}")
    fields = decode_list(data, TAG_SNAPSHOT_CHUNK, 7)
    path = expect_bytes(fields[1], "chunk path", size_max=NIBBLES)
    if any(nibble >= _SLOTS for nibble in path):
        raise CodecError("a chunk path holds one nibble (0..15) per byte")
    depth = 4 * len(path)
    bitmap = expect_bytes(fields[2], "sibling bitmap", size=(depth + 7) // 8)
    if depth % 8 and bitmap[-1] & (0xFF >> (depth % 8)):
        raise CodecError("the sibling bitmap sets bits beyond the path's depth")
    present = expect_list(fields[3], "siblings", depth)
    flags = [bool(bitmap[index >> 3] & (0x80 >> (index & 7))) for index in range(depth)]
    if len(present) != sum(flags):
        raise CodecError(f"the bitmap marks {sum(flags)} non-empty siblings, but {len(present)} are given")
    given = iter(present)
    siblings: list[bytes] = []
    for flag in flags:
        if not flag:
            siblings.append(PLACEHOLDER)
            continue
        sibling = expect_bytes(next(given), "sibling", size=HASH_SIZE)
        if sibling == PLACEHOLDER:
            raise CodecError("an empty sibling is marked by the bitmap, not sent")
        siblings.append(sibling)
    entries: list[SnapshotEntry] = []
    for item in expect_list(fields[4], "chunk entries", SNAPSHOT_ENTRIES_PER_CHUNK_MAX):
        pair = expect_list(item, "chunk entry", 2)
        if len(pair) != 2:
            raise CodecError("a chunk entry is [key, value]")
        entries.append(
            SnapshotEntry(
                expect_bytes(pair[0], "entry key", size_max=SNAPSHOT_KEY_BYTES_MAX),
                expect_bytes(pair[1], "entry value", size_max=SNAPSHOT_VALUE_BYTES_MAX),
            )
        )
    neighbour: tuple[bytes, bytes] | None = None
    if fields[5] is not None or fields[6] is not None:
        neighbour = (
            expect_bytes(fields[5], "neighbour key hash", size=HASH_SIZE),
            expect_bytes(fields[6], "neighbour value hash", size=HASH_SIZE),
        )
    return SnapshotChunk(bytes(path), tuple(siblings), tuple(entries), neighbour)
