"""The few DER structures the crypto layer builds and reads.

OpenSSL speaks DER for signatures and keys while Gusu stores fixed-width
values, so this module converts between the two. Only the exact shapes we
need are supported, and the parser is strict: anything that is not the
minimal (canonical) encoding is refused rather than "repaired", because a
second accepted encoding of the same value is how malleability creeps in.
"""

from __future__ import annotations

import base64
import re

# Object identifiers, already DER-encoded (tag 0x06, length, value).
OID_EC_PUBLIC_KEY = bytes.fromhex("06072a8648ce3d0201")  # 1.2.840.10045.2.1
OID_SM2_CURVE = bytes.fromhex("06082a811ccf5501822d")  # 1.2.156.10197.1.301
OID_SECP256K1 = bytes.fromhex("06052b8104000a")  # 1.3.132.0.10

_SEQUENCE = 0x30
_INTEGER = 0x02
_BIT_STRING = 0x03
_OCTET_STRING = 0x04


class DerError(ValueError):
    """Bytes are not the one DER shape the caller expected."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def _integer(value: int) -> bytes:
    # A leading zero byte keeps a set top bit from reading as negative.
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return _tlv(_INTEGER, body)


def sequence(*items: bytes) -> bytes:
    return _tlv(_SEQUENCE, b"".join(items))


def encode_signature(r: int, s: int) -> bytes:
    """DER `SEQUENCE { INTEGER r, INTEGER s }` for positive r and s."""
    return sequence(_integer(r), _integer(s))


def _read_tlv(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    """Read one short- or long-form TLV of `tag` at `pos`; return value, end."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise DerError("unexpected tag")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 2 or pos + count > len(data):
            raise DerError("bad length")
        length = int.from_bytes(data[pos : pos + count], "big")
        # DER demands the shortest length form.
        if length < 0x80 or data[pos] == 0:
            raise DerError("non-minimal length")
        pos += count
    end = pos + length
    if end > len(data):
        raise DerError("truncated")
    return data[pos:end], end


def _read_positive_integer(data: bytes, pos: int) -> tuple[int, int]:
    body, end = _read_tlv(data, pos, _INTEGER)
    if not body or body[0] & 0x80:
        raise DerError("integer is empty or negative")
    if len(body) > 1 and body[0] == 0 and not body[1] & 0x80:
        raise DerError("non-minimal integer")
    return int.from_bytes(body, "big"), end


def decode_signature(der: bytes) -> tuple[int, int]:
    """Parse a canonical DER ECDSA/SM2 signature into (r, s)."""
    body, end = _read_tlv(der, 0, _SEQUENCE)
    if end != len(der):
        raise DerError("trailing bytes after signature")
    r, pos = _read_positive_integer(body, 0)
    s, pos = _read_positive_integer(body, pos)
    if pos != len(body):
        raise DerError("trailing bytes inside signature")
    return r, s


def subject_public_key_info(curve_oid: bytes, point: bytes) -> bytes:
    """X.509 SubjectPublicKeyInfo for an EC point on a named curve."""
    algorithm = sequence(OID_EC_PUBLIC_KEY, curve_oid)
    return sequence(algorithm, _tlv(_BIT_STRING, b"\x00" + point))


def pkcs8_ec_private_key(curve_oid: bytes, secret: bytes, point: bytes | None) -> bytes:
    """PKCS#8 PrivateKeyInfo wrapping an RFC 5915 ECPrivateKey.

    The curve goes in the algorithm parameters (where `openssl genpkey`
    puts it), so the inner ECPrivateKey omits its own copy. Without
    `point`, OpenSSL recomputes the public key when it parses the key.
    """
    inner_items = [_integer(1), _tlv(_OCTET_STRING, secret)]
    if point is not None:
        inner_items.append(_tlv(0xA1, _tlv(_BIT_STRING, b"\x00" + point)))
    algorithm = sequence(OID_EC_PUBLIC_KEY, curve_oid)
    return sequence(_integer(0), algorithm, _tlv(_OCTET_STRING, sequence(*inner_items)))


def pem_encode(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    head = f"-----BEGIN {label}-----\n".encode("ascii")
    tail = f"-----END {label}-----\n".encode("ascii")
    return head + b"\n".join(lines) + b"\n" + tail


_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----",
    re.DOTALL,
)


def pem_blocks(pem: bytes) -> list[tuple[str, bytes]]:
    """Every (label, whole block) in `pem`, in order; block text is kept intact.

    The block text (not just its base64) is returned because encrypted
    traditional PEMs carry their cipher in headers that OpenSSL must see.
    """
    blocks: list[tuple[str, bytes]] = []
    for match in _PEM_BLOCK.finditer(pem):
        blocks.append((match.group(1).decode("ascii"), match.group(0) + b"\n"))
    return blocks
