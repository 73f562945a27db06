"""Known-answer cases for static/sigverify.js, made by Gusu's Python side (gusu.crypto, gusu.ledger).

Shared by test_console_sigverify.py (the scripts under node) and test_console_sigverify_browser.py
(the same scripts in Chromium). Every expectation comes from Python: a hash from the suite, a
signature verdict from `suite.verify`, a certificate verdict from `verify_commit_signatures`.
"""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from typing import Any

from gusu.crypto import CryptoSuite, PrivateKey, get_suite
from gusu.crypto.ecdsa import N as SECP256K1_N
from gusu.crypto.sm import N as SM2_N
from gusu.crypto.sm import z_digest
from gusu.errors import InvalidBlockError
from gusu.ledger.genesis import GenesisValidator
from gusu.ledger.jsonview import certificate_to_json, header_to_json
from gusu.ledger.lightclient import verify_commit_signatures
from gusu.ledger.types import (
    Address,
    BlockHeader,
    CommitCertificate,
    CommitSignature,
    Hash,
    Height,
    Round,
    compute_block_hash,
    encode_commit_vote,
)
from gusu.ledger.validators import compute_validators_hash
from gusu.sdk.governance import ConfigChangeView, ScheduledValidator

SUITES = ("sm", "ecdsa")
HASH_NAMES = {"sm": "SM3", "ecdsa": "keccak-256"}
CHAIN_ID = "gusu-sigverify"


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _flip(data: bytes, index: int) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 0x01
    return bytes(changed)


def make_keys(suite: CryptoSuite, count: int, seed: int) -> list[PrivateKey]:
    generator = random.Random(seed)
    return [suite.load_private_key(generator.randrange(1, suite.max_secret).to_bytes(32, "big")) for _ in range(count)]


# --- hashes and signatures ------------------------------------------------------------------------


def make_hash_cases() -> list[dict[str, Any]]:
    """The standards' vectors (GB/T 32905 examples 1 and 2; keccak-256 of nothing), then lengths around the
    block sizes, each against Python's digest."""
    fixed = [
        ("SM3", b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        ("SM3", b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
        ("keccak-256", b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
    ]
    cases = [{"hash_name": name, "data": _hex(data), "expected": digest} for name, data, digest in fixed]
    generator = random.Random(3)
    for suite_name in SUITES:
        suite = get_suite(suite_name)
        for length in (0, 1, 55, 56, 63, 64, 65, 135, 136, 137, 1000):
            data = generator.randbytes(length)
            cases.append({"hash_name": HASH_NAMES[suite_name], "data": _hex(data), "expected": suite.hash(data).hex()})
    return cases


def make_z_cases() -> list[dict[str, Any]]:
    suite = get_suite("sm")
    return [
        {"public_key": _hex(key.public_key), "expected": z_digest(key.public_key).hex()}
        for key in make_keys(suite, 3, seed=5)
    ]


def make_verify_cases() -> list[dict[str, Any]]:
    """Valid signatures by gusu.crypto and altered ones (message, r, s, key, ranges, high S, malformed keys);
    `expected` is Python's `suite.verify`."""
    generator = random.Random(7)
    cases: list[dict[str, Any]] = []
    for suite_name in SUITES:
        suite = get_suite(suite_name)
        order = SM2_N if suite_name == "sm" else SECP256K1_N
        keys = make_keys(suite, 3, seed=11 if suite_name == "sm" else 13)
        for index, key in enumerate(keys):
            message = suite.hash(generator.randbytes(40 + index))
            signature = suite.sign(key, message)
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            other = keys[(index + 1) % len(keys)].public_key
            variants: list[tuple[bytes, bytes, bytes]] = [
                (key.public_key, message, signature),
                (key.public_key, _flip(message, 31), signature),
                (key.public_key, message, _flip(signature, 31)),
                (key.public_key, message, _flip(signature, 63)),
                (other, message, signature),
                (key.public_key, message, signature[32:] + signature[:32]),
                (key.public_key, message, bytes(32) + signature[32:]),
                (key.public_key, message, signature[:32] + bytes(32)),
                (key.public_key, message, order.to_bytes(32, "big") + signature[32:]),
                (key.public_key, message, signature[:32] + (order - s).to_bytes(32, "big")),
                (key.public_key, message, signature[:32] + (s + order).to_bytes(33, "big")[1:]),
                (key.public_key, message, signature[:63]),
                (_flip(key.public_key, len(key.public_key) - 1), message, signature),
                (key.public_key[:-1], message, signature),
                (bytes([7]) + key.public_key[1:], message, signature),
            ]
            if suite_name == "sm":
                # SM2 signs a message of any length; Gusu gives it a digest, other lengths still verify.
                raw = generator.randbytes(100)
                variants.append((key.public_key, raw, suite.sign(key, raw)))
                variants.append((key.public_key, b"", suite.sign(key, b"")))
            else:
                variants.append((key.public_key, message[:31], signature))
                # r reduced from a larger x is what libsecp256k1 compares; a nearby r is not.
                variants.append((key.public_key, message, (r + 1).to_bytes(32, "big") + signature[32:]))
            for public_key, signed, candidate in variants:
                cases.append(
                    {
                        "suite": suite_name,
                        "public_key": _hex(public_key),
                        "message": _hex(signed),
                        "signature": _hex(candidate),
                        "expected": suite.verify(public_key, signed, candidate),
                    }
                )
    return cases


# --- commit certificates ---------------------------------------------------------------------------------


def make_validators(
    suite_name: str, count: int, powers: list[int] | None = None
) -> tuple[list[PrivateKey], list[GenesisValidator]]:
    suite = get_suite(suite_name)
    keys = make_keys(suite, count, seed=17 + count)
    validators = [
        GenesisValidator(
            name=f"node{index}",
            address=Address(suite.compute_address(key.public_key)),
            public_key=key.public_key,
            power=(powers[index] if powers else 10),
            organization="org",
        )
        for index, key in enumerate(keys)
    ]
    return keys, validators


def make_header(suite_name: str, validators: list[GenesisValidator], height: int = 42) -> BlockHeader:
    suite = get_suite(suite_name)
    set_hash = compute_validators_hash(suite, validators)
    return BlockHeader(
        chain_id=CHAIN_ID,
        height=Height(height),
        parent_hash=Hash(suite.hash(b"parent")),
        timestamp_ms=1_764_806_400_000,
        proposer=validators[0].address,
        transactions_root=Hash(suite.hash(b"transactions")),
        receipts_root=Hash(suite.hash(b"receipts")),
        state_root=Hash(suite.hash(b"state")),
        validators_hash=set_hash,
        next_validators_hash=set_hash,
        transaction_count=3,
    )


def sign_certificate(
    suite_name: str, keys: list[PrivateKey], validators: list[GenesisValidator], header: BlockHeader, round_: int = 1
) -> CommitCertificate:
    suite = get_suite(suite_name)
    block_hash = compute_block_hash(suite, header)
    entries = []
    for offset, (key, validator) in enumerate(zip(keys, validators, strict=True)):
        timestamp_ms = header.timestamp_ms + 500 + offset
        vote = encode_commit_vote(header.chain_id, header.height, Round(round_), block_hash, timestamp_ms)
        entries.append(CommitSignature(validator.address, timestamp_ms, suite.sign(key, suite.hash(vote))))
    entries.sort(key=lambda entry: entry.validator)
    return CommitCertificate(header.height, Round(round_), block_hash, tuple(entries))


def make_answer(
    suite_name: str,
    header: BlockHeader,
    certificate: CommitCertificate | None,
    validators: list[GenesisValidator] | None,
    engine: str = "tendermint",
) -> dict[str, Any]:
    """What /api/transactions/{id}/proof carries for the header check (the Merkle parts left out)."""
    from gusu.console.proofs import get_validator_set_json

    schedule = []
    if validators is not None:
        members = tuple(
            ScheduledValidator(v.name, v.address, v.public_key, v.power, v.organization) for v in validators
        )
        schedule.append(ConfigChangeView(Height(0), members, (), engine))
    suite = get_suite(suite_name)
    return {
        "suite": suite_name,
        "hash_name": HASH_NAMES[suite_name],
        "height": header.height,
        "block_hash": _hex(compute_block_hash(suite, header)),
        "header": header_to_json(header),
        "certificate": None if certificate is None else certificate_to_json(certificate),
        "validator_set": get_validator_set_json(schedule, header.height),
    }


def python_verdict(
    suite_name: str,
    answer: dict[str, Any],
    header: BlockHeader,
    certificate: CommitCertificate | None,
    validators: list[GenesisValidator] | None,
) -> bool:
    """What Python says of the same header, certificate and set (as a light client checks them)."""
    suite = get_suite(suite_name)
    if certificate is None or validators is None or answer["validator_set"]["consensus"] == "raft":
        return False
    if compute_validators_hash(suite, validators) != header.validators_hash or certificate.height != header.height:
        return False
    try:
        verify_commit_signatures(suite, header.chain_id, validators, certificate, compute_block_hash(suite, header))
    except InvalidBlockError:
        return False
    return True


def make_certificate_cases(suite_name: str) -> list[dict[str, Any]]:
    """A 4-validator certificate and its alterations: each {"name", "answer", "expected", "failing"} where
    failing names the first step the page must fail (None when all pass)."""
    keys, validators = make_validators(suite_name, 4)
    header = make_header(suite_name, validators)
    full = sign_certificate(suite_name, keys, validators, header)
    three = replace(full, signatures=full.signatures[:3])
    two = replace(full, signatures=full.signatures[:2])
    first, rest = full.signatures[0], full.signatures[1:]
    altered_signature = replace(full, signatures=(replace(first, signature=_flip(first.signature, 10)), *rest))
    altered_time = replace(full, signatures=(replace(first, timestamp_ms=first.timestamp_ms + 1), *rest))
    repeated = replace(full, signatures=(*full.signatures[:2], full.signatures[1]))
    outsider_keys, outsiders = make_validators(suite_name, 5)
    outsider_certificate = sign_certificate(suite_name, outsider_keys[4:], outsiders[4:], header)
    with_outsider = replace(full, signatures=(*full.signatures[:3], *outsider_certificate.signatures))
    other_header = replace(header, state_root=Hash(get_suite(suite_name).hash(b"another state")))
    other_round = replace(full, round=Round(2))
    other_height = replace(full, height=Height(header.height + 1))
    weighted_keys, weighted = make_validators(suite_name, 4, powers=[1, 1, 1, 7])
    weighted_header = make_header(suite_name, weighted)
    weighted_full = sign_certificate(suite_name, weighted_keys, weighted, weighted_header)
    heavy_only = replace(
        weighted_full, signatures=tuple(e for e in weighted_full.signatures if e.validator == weighted[3].address)
    )
    light_three = replace(
        weighted_full, signatures=tuple(e for e in weighted_full.signatures if e.validator != weighted[3].address)
    )
    changed_set = [replace(validators[0], power=11), *validators[1:]]
    even_keys, even = make_validators(suite_name, 4, powers=[1, 1, 1, 3])
    even_header = make_header(suite_name, even)
    even_full = sign_certificate(suite_name, even_keys, even, even_header)
    heavy_and_one = {even[0].address, even[3].address}
    two_thirds = replace(even_full, signatures=tuple(e for e in even_full.signatures if e.validator in heavy_and_one))

    plans: list[tuple[str, BlockHeader, CommitCertificate | None, list[GenesisValidator] | None, str, str | None]] = [
        ("all four", header, full, validators, "tendermint", None),
        ("three of four", header, three, validators, "tendermint", None),
        ("two of four", header, two, validators, "tendermint", "quorum"),
        ("a signature altered", header, altered_signature, validators, "tendermint", "signatures"),
        ("a timestamp altered", header, altered_time, validators, "tendermint", "signatures"),
        ("a signer repeated", header, repeated, validators, "tendermint", "quorum"),
        ("an outsider signs", header, with_outsider, validators, "tendermint", "quorum"),
        ("another header", other_header, full, validators, "tendermint", "block"),
        ("another round", header, other_round, validators, "tendermint", "signatures"),
        ("another height", header, other_height, validators, "tendermint", "block"),
        ("another set", header, full, changed_set, "tendermint", "validators"),
        ("no set", header, full, None, "tendermint", "validators"),
        ("no certificate", header, None, validators, "tendermint", "block"),
        ("raft", header, full, validators, "raft", "validators"),
        ("7 of 10 power", weighted_header, heavy_only, weighted, "tendermint", None),
        ("3 of 10 power", weighted_header, light_three, weighted, "tendermint", "quorum"),
        ("exactly 2/3 of the power", even_header, two_thirds, even, "tendermint", "quorum"),
    ]
    cases = []
    for name, case_header, certificate, members, engine, failing in plans:
        answer = make_answer(suite_name, case_header, certificate, members, engine)
        cases.append(
            {
                "name": f"{suite_name}: {name}",
                "answer": answer,
                "expected": python_verdict(suite_name, answer, case_header, certificate, members),
                "failing": failing,
            }
        )
    return cases


def make_malformed_answers(suite_name: str) -> list[dict[str, Any]]:
    """Answers no check can pass and none may crash on: fields missing, of the wrong type, out of range."""
    keys, validators = make_validators(suite_name, 4)
    header = make_header(suite_name, validators)
    answer = make_answer(suite_name, header, sign_certificate(suite_name, keys, validators, header), validators)
    broken = []
    for mutate in (
        lambda a: a["certificate"]["signatures"][0].update(signature="0x12"),
        lambda a: a["certificate"]["signatures"][0].update(validator=None),
        lambda a: a["certificate"].update(signatures="none"),
        lambda a: a["certificate"]["signatures"].__setitem__(0, None),
        lambda a: a["certificate"]["signatures"][0].update(timestamp_ms=2**70),
        lambda a: a["validator_set"]["validators"][0].update(power=0),
        lambda a: a["validator_set"]["validators"][0].update(power="10"),
        lambda a: a["validator_set"]["validators"][0].update(public_key="zz"),
        lambda a: a["validator_set"].update(validators=[]),
        lambda a: a.update(suite="rsa"),
        lambda a: a["header"].pop("validators_hash"),
    ):
        altered = copy.deepcopy(answer)
        mutate(altered)
        broken.append(altered)
    return broken
