"""Conformance vectors for the state tree (gusu.ledger.smt): keys, values, roots and proofs.

One document per suite (``statetree-sm.json``, ``statetree-ecdsa.json``),
written and checked by `gusu.eval.vectors` with the block-rule vectors.
It lists a few versions of a small state (inserts, updates, deletes, down
to a single leaf, to the empty tree and back), the root of each, and the
encoded proof of every key ever written and of two never-written keys at
every version, each with the value it proves (or null). Then proofs that
must be rejected, each broken in one way. Everything is deterministic
(no signatures), so two `write` runs give identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gusu.codec import encode
from gusu.crypto import CryptoSuite
from gusu.errors import GusuError
from gusu.ledger.kv import MemoryStore, WriteBatch
from gusu.ledger.smt import (
    EMPTY_ROOT,
    INTERNAL_PREFIX,
    KEY_PREFIX,
    LEAF_PREFIX,
    VALUE_PREFIX,
    StateProof,
    StateProofLeaf,
    apply_tree_update_to_batch,
    apply_tree_updates,
    compute_key_hash,
    compute_tree_root,
    decode_state_proof,
    encode_state_proof,
    get_state_proof,
    get_tree_value,
    validate_state_proof,
)

KIND = "statetree"

DESCRIPTION = [
    "Conformance vectors of the Gusu state tree (gusu.ledger.smt, docs/state.md). Byte strings are 0x-hex.",
    "H is the suite's hash (SM3 for sm, keccak-256 for ecdsa). key_hash = H(key_prefix || key), value_hash = "
    "H(value_prefix || value), leaf = H(leaf_prefix || key_hash || value_hash), internal node = H(internal_prefix "
    "|| left || right), an empty subtree is the 32-byte `placeholder`. The tree is the binary trie over the bits "
    "of key_hash (most significant first) in which a subtree with one entry is that entry's leaf and an empty "
    "subtree the placeholder, so `root` is a function of the set of entries alone.",
    "`versions`: apply each version's `writes` (null deletes) to the previous version's state; the tree of the "
    "resulting state has root `root`. `state` repeats the resulting entries.",
    "`proofs`: `proof` is the canonical encoding of [tag, depth, bitmap, siblings, leaf key hash, leaf value "
    "hash]: bit i of the bitmap (most significant bit of byte 0 first) is set when the i-th sibling from the "
    "root is not empty, and only those siblings are listed; the leaf fields are null when the key's path ends in "
    "an empty subtree. Hash the leaf (or take the placeholder), then combine with the siblings from the deepest "
    "up, the key's bit i choosing the side; the result must equal the version's root, and `value` (null: absent) "
    "must agree with the leaf. `kind` says which case it is.",
    "`invalid_proofs` must each be rejected for the given root, key and value, by the decoder or the check.",
]


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _unhex(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError(f"expected 0x-prefixed hex, found {text!r}")
    return bytes.fromhex(text[2:])


def _state_key(contract: str, key: bytes) -> bytes:
    # The executor's full state key (gusu.execution.state.compute_state_key), spelled out: ledger code
    # cannot import execution, and the vectors should show the bytes anyway.
    return encode(["gusu.state.v1", contract, key])


def compute_version_writes() -> list[dict[bytes, bytes | None]]:
    """The writes of each version: a fixed story that reaches every case of the tree."""
    accounts = [_state_key("account", b"balance/" + bytes([index]) * 20) for index in range(12)]
    evidence = [_state_key("evidence", bytes([index]) * 32) for index in range(4)]
    first: dict[bytes, bytes | None] = {key: (1000 + index).to_bytes(8, "big") for index, key in enumerate(accounts)}
    first.update({key: b"recorded by org" + bytes([48 + index]) for index, key in enumerate(evidence)})
    second: dict[bytes, bytes | None] = {accounts[0]: (7).to_bytes(8, "big"), accounts[1]: None, evidence[0]: None}
    second[_state_key("account", b"balance/" + b"\xee" * 20)] = b""  # an empty value is a value, not a delete
    second[_state_key("account", b"never-there")] = None  # deleting an absent key changes nothing
    written = set(first) | set(second)
    survivor = accounts[5]
    third: dict[bytes, bytes | None] = {key: None for key in written if key != survivor}
    fourth: dict[bytes, bytes | None] = {survivor: None}
    fifth: dict[bytes, bytes | None] = {accounts[2]: b"back", evidence[3]: b"again"}
    return [first, second, third, fourth, fifth]


def _apply(state: dict[bytes, bytes], writes: dict[bytes, bytes | None]) -> None:
    for key, value in writes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value


def _proof_kind(suite: CryptoSuite, key: bytes, proof: StateProof) -> str:
    if proof.leaf is None:
        return "exclusion_empty"
    return "inclusion" if proof.leaf.key_hash == compute_key_hash(suite, key) else "exclusion_other_leaf"


def compute_statetree_document(suite: CryptoSuite, header: dict[str, Any]) -> dict[str, Any]:
    store = MemoryStore()
    state: dict[bytes, bytes] = {}
    versions: list[dict[str, Any]] = []
    proofs: list[dict[str, Any]] = []
    all_writes = compute_version_writes()
    written = sorted({key for writes in all_writes for key in writes})
    probe_keys = [*written, _state_key("account", b"absent-1"), _state_key("nobody", b"")]
    parent = None
    roots = []
    for version, writes in enumerate(all_writes):
        update = apply_tree_updates(store, suite, version, parent, writes)
        batch = WriteBatch()
        apply_tree_update_to_batch(batch, update)
        store.write(batch)
        _apply(state, writes)
        roots.append(update.root)
        versions.append(
            {
                "version": version,
                "writes": [
                    [_hex(key), None if value is None else _hex(value)] for key, value in sorted(writes.items())
                ],
                "state": [[_hex(key), _hex(value)] for key, value in sorted(state.items())],
                "root": _hex(update.root),
            }
        )
        for key in probe_keys:
            proof = get_state_proof(store, suite, version, key)
            value = state.get(key)
            proofs.append(
                {
                    "version": version,
                    "key": _hex(key),
                    "value": None if value is None else _hex(value),
                    "kind": _proof_kind(suite, key, proof),
                    "proof": _hex(encode_state_proof(proof)),
                }
            )
        parent = version
    return {
        **header,
        "kind": KIND,
        "description": DESCRIPTION,
        "hashing": {
            "key_prefix": _hex(KEY_PREFIX),
            "value_prefix": _hex(VALUE_PREFIX),
            "leaf_prefix": _hex(LEAF_PREFIX),
            "internal_prefix": _hex(INTERNAL_PREFIX),
            "placeholder": _hex(EMPTY_ROOT),
        },
        "versions": versions,
        "proofs": proofs,
        "invalid_proofs": _invalid_proofs(suite, store, roots, probe_keys),
    }


def _invalid_proofs(suite: CryptoSuite, store: MemoryStore, roots: Sequence[bytes], keys: Sequence[bytes]) -> list[Any]:
    version = 1
    root = roots[version]
    present = next(key for key in keys if get_state_proof(store, suite, version, key).leaf is not None)
    proof = get_state_proof(store, suite, version, present)
    assert proof.leaf is not None and proof.leaf.key_hash == compute_key_hash(suite, present)
    value_hash_of_other = replace(proof.leaf, value_hash=bytes(reversed(proof.leaf.value_hash)))
    flipped = list(proof.siblings)
    flipped[0] = bytes([flipped[0][0] ^ 1]) + flipped[0][1:]
    valid = encode_state_proof(proof)
    true_value = get_tree_value(store, suite, version, present)
    foreign_leaf = StateProofLeaf(b"\x00" * 32, b"\x01" * 32)
    cases: list[tuple[str, bytes, bytes | None, bytes]] = [
        ("wrong_value", present, b"not the value", valid),
        ("claimed_absent", present, None, valid),
        ("other_key", _state_key("account", b"absent-1"), None, valid),
        ("sibling_flipped", present, true_value, encode_state_proof(replace(proof, siblings=tuple(flipped)))),
        ("leaf_value_hash_changed", present, true_value, encode_state_proof(replace(proof, leaf=value_hash_of_other))),
        ("sibling_dropped", present, true_value, encode_state_proof(replace(proof, siblings=proof.siblings[:-1]))),
        ("leaf_dropped", present, true_value, encode_state_proof(replace(proof, leaf=None))),
        ("trailing_byte", present, true_value, valid + b"\x00"),
        ("foreign_leaf", present, true_value, encode_state_proof(replace(proof, leaf=foreign_leaf))),
    ]
    return [
        {
            "name": name,
            "root": _hex(root),
            "key": _hex(key),
            "value": None if value is None else _hex(value),
            "proof": _hex(raw),
        }
        for name, key, value, raw in cases
    ]


def _verdict(suite: CryptoSuite, root: bytes, key: bytes, value: bytes | None, raw: bytes) -> str:
    try:
        validate_state_proof(suite, root, key, value, decode_state_proof(raw))
    except GusuError as error:
        return f"invalid ({type(error).__name__})"
    return "valid"


def check_statetree_document(suite: CryptoSuite, document: dict[str, Any]) -> list[str]:
    """Every way `document` disagrees with the code; empty when it conforms."""
    problems: list[str] = []
    expected_hashing = {
        "key_prefix": _hex(KEY_PREFIX),
        "value_prefix": _hex(VALUE_PREFIX),
        "leaf_prefix": _hex(LEAF_PREFIX),
        "internal_prefix": _hex(INTERNAL_PREFIX),
        "placeholder": _hex(EMPTY_ROOT),
    }
    if document.get("hashing") != expected_hashing:
        problems.append(f"hashing: the file says {document.get('hashing')}, the code uses {expected_hashing}")
    store = MemoryStore()
    state: dict[bytes, bytes] = {}
    roots: dict[int, bytes] = {}
    parent = None
    for item in document["versions"]:
        version = int(item["version"])
        writes = {_unhex(key): None if value is None else _unhex(value) for key, value in item["writes"]}
        update = apply_tree_updates(store, suite, version, parent, writes)
        batch = WriteBatch()
        apply_tree_update_to_batch(batch, update)
        store.write(batch)
        _apply(state, writes)
        roots[version] = update.root
        if _hex(update.root) != item["root"]:
            problems.append(f"version {version}: root {item['root']} in the file, {_hex(update.root)} computed")
        if _hex(compute_tree_root(suite, state)) != item["root"]:
            problems.append(f"version {version}: the root from scratch differs from the file's")
        listed = [[_hex(key), _hex(value)] for key, value in sorted(state.items())]
        if listed != item["state"]:
            problems.append(f"version {version}: the state after the writes differs from the file's")
        parent = version
    for item in document["proofs"]:
        version, key = int(item["version"]), _unhex(item["key"])
        where = f"proof of {item['key'][:18]}... at version {version}"
        value = None if item["value"] is None else _unhex(item["value"])
        verdict = _verdict(suite, roots[version], key, value, _unhex(item["proof"]))
        if verdict != "valid":
            problems.append(f"{where}: the file's proof is {verdict}")
        proof = get_state_proof(store, suite, version, key)
        if _hex(encode_state_proof(proof)) != item["proof"]:
            problems.append(f"{where}: the code builds another proof than the file's")
        if _proof_kind(suite, key, proof) != item["kind"]:
            problems.append(f"{where}: kind {item['kind']} in the file, {_proof_kind(suite, key, proof)} computed")
    for item in document["invalid_proofs"]:
        value = None if item["value"] is None else _unhex(item["value"])
        verdict = _verdict(suite, _unhex(item["root"]), _unhex(item["key"]), value, _unhex(item["proof"]))
        if verdict == "valid":
            problems.append(f"invalid proof {item['name']}: the code accepts it")
    return problems
