"""Item codes: random 128-bit identifiers a brand signs, printed as a QR payload and checked offline.

A code is 16 bytes from the operating system's CSPRNG, never derived from a serial number, so nobody can
enumerate the codes of a batch. The brand signs the suite hash of
``encode(["gusu.trace.item.v1", brand, code_set, code])``
with its key; the payload carries the signature, so a phone (or `gusu trace verify`) checks a code against
the brand's public key without asking any node. On chain only the leaf ``sm3("gusu.trace.code.v1" || code)``
is registered, so a code stays secret until it is printed on the item.

Payload text: ``GT1.<brand>.<code_set>.<code as 32 hex digits>.<signature as 128 hex digits>``; ids are
1-64 characters of ``[A-Za-z0-9_-]`` so that the dot separates fields and the payload fits in a URL.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from gusu.codec import encode
from gusu.crypto import PrivateKey, get_suite
from gusu.errors import GusuError

PAYLOAD_VERSION = "GT1"
CODE_BYTES = 16
SIGNATURE_BYTES = 64
PAYLOAD_CHARACTERS_MAX = 300
"""Longest payload text accepted from a scanner or a form (a real one is at most about 300 characters)."""
CODES_PER_ISSUE_MAX = 1_000_000
"""Most codes one `issue_item_codes` call makes (the brand issues a large run in several calls)."""
LEAF_TAG = b"gusu.trace.code.v1"
NONCE_TAG = b"gusu.trace.nonce.v1"
SIGNATURE_TAG = "gusu.trace.item.v1"
IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TraceError(GusuError):
    """A traceability request that cannot be served as asked (a bad id, payload or argument)."""

    code = "trace_invalid"


class ForgedCodeError(TraceError):
    """A code whose signature does not verify against its brand's public key: treat the item as counterfeit."""

    code = "trace_code_forged"


@dataclass(frozen=True, slots=True)
class ItemCode:
    """One signed item code, as printed in the QR."""

    brand: str
    code_set: str
    code: bytes
    signature: bytes

    def get_payload(self) -> str:
        return f"{PAYLOAD_VERSION}.{self.brand}.{self.code_set}.{self.code.hex()}.{self.signature.hex()}"

    def get_leaf(self) -> bytes:
        return compute_leaf(self.code)


def validate_identifier(value: str, what: str) -> None:
    if not IDENTIFIER.fullmatch(value):
        raise TraceError(f"a {what} id is 1 to 64 letters, digits, '_' or '-', not {value[:80]!r}")


def compute_leaf(code: bytes) -> bytes:
    """What the chain stores for a code: sm3 of the tag and the code (the contract computes the same)."""
    return get_suite("sm").hash(LEAF_TAG + code)


def compute_nonce_key(nonce: bytes) -> bytes:
    return get_suite("sm").hash(NONCE_TAG + nonce)


def compute_signed_digest(suite_name: str, brand: str, code_set: str, code: bytes) -> bytes:
    """What the brand signs: the suite's hash of the tagged, canonically encoded (brand, set, code)."""
    return get_suite(suite_name).hash(encode([SIGNATURE_TAG, brand, code_set, code]))


def issue_item_codes(key: PrivateKey, brand: str, code_set: str, count: int) -> list[ItemCode]:
    """`count` fresh random codes of `code_set`, each signed by the brand's `key`."""
    validate_identifier(brand, "brand")
    validate_identifier(code_set, "code set")
    if not 1 <= count <= CODES_PER_ISSUE_MAX:
        raise TraceError(f"issue 1 to {CODES_PER_ISSUE_MAX} codes at a time, not {count}")
    suite = get_suite(key.suite)
    result = []
    for _ in range(count):
        code = secrets.token_bytes(CODE_BYTES)
        signature = suite.sign(key, compute_signed_digest(key.suite, brand, code_set, code))
        result.append(ItemCode(brand, code_set, code, signature))
    return result


def parse_payload(text: str) -> ItemCode:
    """The code in a QR payload (also accepted: a URL whose last ``c=`` parameter is the payload)."""
    text = text.strip()
    if len(text) > PAYLOAD_CHARACTERS_MAX * 2:
        raise TraceError(f"a code payload is at most {PAYLOAD_CHARACTERS_MAX} characters")
    if "c=" in text and not text.startswith(PAYLOAD_VERSION):
        text = text.rsplit("c=", 1)[1].split("&", 1)[0]
    if len(text) > PAYLOAD_CHARACTERS_MAX:
        raise TraceError(f"a code payload is at most {PAYLOAD_CHARACTERS_MAX} characters")
    parts = text.split(".")
    if len(parts) != 5 or parts[0] != PAYLOAD_VERSION:
        raise TraceError(f"this is not a Gusu item code (expected {PAYLOAD_VERSION}.brand.set.code.signature)")
    _, brand, code_set, code_hex, signature_hex = parts
    validate_identifier(brand, "brand")
    validate_identifier(code_set, "code set")
    try:
        code = bytes.fromhex(code_hex)
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise TraceError("the code and signature of a payload are hexadecimal") from None
    if len(code) != CODE_BYTES or len(signature) != SIGNATURE_BYTES:
        raise TraceError(f"a payload holds a {CODE_BYTES}-byte code and a {SIGNATURE_BYTES}-byte signature")
    return ItemCode(brand, code_set, code, signature)


def is_code_authentic(item: ItemCode, suite_name: str, public_key: bytes) -> bool:
    """Whether the brand whose public key is given signed this code (offline; never raises for bad input)."""
    suite = get_suite(suite_name)
    digest = compute_signed_digest(suite_name, item.brand, item.code_set, item.code)
    return suite.verify(public_key, digest, item.signature)


def validate_code_authentic(item: ItemCode, suite_name: str, public_key: bytes) -> None:
    if not is_code_authentic(item, suite_name, public_key):
        raise ForgedCodeError(
            f"the signature on this code does not verify against brand {item.brand}'s public key: "
            "the label is forged; do not trust the item and report it to the brand or the regulator"
        )


def compute_qr_svg(text: str) -> str:
    """An SVG QR code of `text` (error correction level M), for printing on a label."""
    import segno  # imported here so that verifying codes does not need the QR library

    return str(segno.make_qr(text, error="m").svg_inline(scale=4))
