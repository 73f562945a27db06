"""Proof sizes and verification times in a generated chain's state (`gusu bench generate`).

    PYTHONPATH=src python scripts/stategen_proofs.py GENERATED_DIR [--proofs 1000]

Opens node0's store (the node must not be running), and for `--proofs` generated accounts (inclusion) and
as many absent addresses (exclusion) at the tip: the proof as the node builds it
(`BlockStore.get_state_proof` of the account's balance key), its canonical encoding's size, and the time a
client spends on it (`decode_state_proof` + `validate_state_proof` against the tip header's state root), and
the whole certified answer's size (`CertifiedStateProof`'s JSON as the API serves it). Prints one JSON
document. A measurement script, not part of the node.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from gusu.crypto import get_suite
from gusu.eval.stategen import compute_account_address, load_manifest
from gusu.ledger.genesis import load_genesis
from gusu.ledger.jsonview import state_proof_to_json
from gusu.ledger.kv import open_store
from gusu.ledger.smt import PLACEHOLDER, decode_state_proof, encode_state_proof, validate_state_proof
from gusu.ledger.statekey import compute_state_key
from gusu.ledger.stateproof import CertifiedStateProof
from gusu.ledger.store import BlockStore
from gusu.ledger.types import Height
from gusu.sdk.state import compute_balance_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("generated", type=Path)
    parser.add_argument("--proofs", type=int, default=1000)
    arguments = parser.parse_args()
    manifest = load_manifest(arguments.generated)
    accounts = int(manifest["settings"]["accounts"])
    seed = str(manifest["settings"]["seed"])
    suite = get_suite(load_genesis(arguments.generated / "genesis.json").suite)
    chooser = random.Random(1)
    kv = open_store(arguments.generated / "node0" / "data" / "chain", "rocksdb")
    result: dict[str, object] = {"accounts": accounts, "proofs": arguments.proofs}
    try:
        store = BlockStore(kv, suite)
        tip = store.get_tip()
        assert tip is not None
        header = store.get_header(tip[0])
        assert header is not None
        certificate = store.get_certificate(tip[0])
        result["tip_height"] = tip[0]
        for kind, indices in (
            ("inclusion", [chooser.randrange(accounts) for _ in range(arguments.proofs)]),
            ("exclusion", [accounts + chooser.randrange(10**9) for _ in range(arguments.proofs)]),
        ):
            sizes: list[int] = []
            siblings: list[int] = []
            answer_sizes: list[int] = []
            read_ms: list[float] = []
            verify_ms: list[float] = []
            for index in indices:
                balance_key = compute_balance_key(compute_account_address(seed, index))
                key = compute_state_key("account", balance_key)
                started = time.perf_counter()
                proof = store.get_state_proof(Height(tip[0]), key)
                value = store.get_state_value(Height(tip[0]), key)
                read = time.perf_counter()
                encoded = encode_state_proof(proof)
                decode_started = time.perf_counter()
                validate_state_proof(suite, header.state_root, key, value, decode_state_proof(encoded))
                verified = time.perf_counter()
                assert (value is None) == (kind == "exclusion")
                sizes.append(len(encoded))
                siblings.append(sum(1 for sibling in proof.siblings if sibling != PLACEHOLDER))
                read_ms.append((read - started) * 1000)
                verify_ms.append((verified - decode_started) * 1000)
                answer = CertifiedStateProof("account", balance_key, value, proof, header, tip[1], certificate)
                answer_sizes.append(len(json.dumps(state_proof_to_json(answer))))
            result[kind] = {
                "proof_bytes_mean": round(statistics.mean(sizes), 1),
                "proof_bytes_max": max(sizes),
                "non_empty_siblings_mean": round(statistics.mean(siblings), 1),
                "read_ms_median": round(statistics.median(read_ms), 3),
                "verify_ms_median": round(statistics.median(verify_ms), 4),
                "verify_ms_max": round(max(verify_ms), 4),
                "api_answer_json_bytes_mean": round(statistics.mean(answer_sizes), 1),
            }
    finally:
        kv.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
