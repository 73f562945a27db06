"""Passphrase-protected key files, and PEM import/export for OpenSSL users.

A key file is UTF-8 JSON::

    {"version": 1, "suite": "sm", "address": "<hex>", "public_key": "<hex>",
     "kdf": "scrypt", "kdf_params": {"n": 16384, "r": 8, "p": 1, "salt": "<hex>"},
     "cipher": "sm4-gcm", "ciphertext": "<hex of nonce || SM4-GCM(secret) || tag>"}

scrypt turns the passphrase into a 16-byte SM4 key; every field except the
ciphertext is authenticated as GCM associated data, so swapping the
address, public key or KDF parameters of a file makes decryption fail
instead of yielding a key that disagrees with its label. The metadata can
be read without the passphrase (`read_key_file_metadata`).

Passphrases are normalised to Unicode NFC before use, so the same words
typed on systems that compose accents differently open the same file.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass
from typing import Any

import coincurve

from gusu.crypto import _der, _openssl
from gusu.crypto.cipher import sm4_gcm_decrypt, sm4_gcm_encrypt
from gusu.crypto.registry import get_suite
from gusu.crypto.suite import ADDRESS_SIZE, SECRET_SIZE, SUITE_NAMES, CryptoSuite, PrivateKey
from gusu.errors import CryptoError, DecryptionError, InvalidKeyError, KeyFileError

KEY_FILE_VERSION = 1
#: About 60 ms on a 2-core EPYC VM: slow for guessing, quick for a node start.
DEFAULT_SCRYPT_N = 2**14
MIN_SCRYPT_N = 2**10
#: 256 MiB of scrypt memory: the most a key file may make us allocate.
MAX_SCRYPT_N = 2**18
SCRYPT_R = 8
SCRYPT_P = 1
SALT_SIZE = 16
_MAX_FILE_SIZE = 64 * 1024
_CIPHERTEXT_SIZE = 12 + SECRET_SIZE + 16

_CURVES = {"sm": ("SM2", _der.OID_SM2_CURVE), "ecdsa": ("secp256k1", _der.OID_SECP256K1)}
_GENERATE_HINT = {
    "sm": "openssl genpkey -algorithm SM2 -out key.pem",
    "ecdsa": "openssl ecparam -name secp256k1 -genkey -noout -out key.pem",
}
_PRIVATE_LABELS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY")


@dataclass(frozen=True, slots=True)
class KeyFileMetadata:
    """What a key file tells about its key without the passphrase."""

    suite: str
    address: bytes
    public_key: bytes


# --- key files -------------------------------------------------------------------------


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str):
        raise KeyFileError("a key-file passphrase must be text (str)")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def _derive(passphrase: bytes, salt: bytes, n: int) -> bytes:
    # OpenSSL checks scrypt's working memory against maxmem; allow exactly
    # what these parameters need (plus slack) and nothing more.
    need = 128 * SCRYPT_R * (n + 2) + 128 * SCRYPT_R * SCRYPT_P + (1 << 20)
    return hashlib.scrypt(
        passphrase, salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=need, dklen=16
    )


def _check_n(n: object) -> int:
    if (
        not isinstance(n, int)
        or isinstance(n, bool)
        or n < MIN_SCRYPT_N
        or n > MAX_SCRYPT_N
        or n & (n - 1)
    ):
        raise KeyFileError(
            f"scrypt n must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_N}"
        )
    return n


def _header(suite: str, address: bytes, public_key: bytes, n: int, salt: bytes) -> dict[str, Any]:
    return {
        "version": KEY_FILE_VERSION,
        "suite": suite,
        "address": address.hex(),
        "public_key": public_key.hex(),
        "kdf": "scrypt",
        "kdf_params": {"n": n, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex()},
        "cipher": "sm4-gcm",
    }


def _associated_data(header: dict[str, Any]) -> bytes:
    # Canonical JSON of the rebuilt header, so whitespace or key order in
    # the file does not matter but every value does.
    return json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _checked_key(key: PrivateKey) -> tuple[CryptoSuite, PrivateKey]:
    if not isinstance(key, PrivateKey):
        raise InvalidKeyError(f"expected a PrivateKey, got {type(key).__name__}")
    suite = get_suite(key.suite)
    fresh = suite.load_private_key(key.secret)
    if fresh.public_key != key.public_key:
        raise InvalidKeyError(
            "this PrivateKey's public key does not belong to its secret; "
            "build keys with suite.load_private_key()"
        )
    return suite, fresh


def encrypt_key_file(key: PrivateKey, passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> bytes:
    """Seal `key` under `passphrase`; the JSON bytes of a key file.

    Keep the default `scrypt_n` for real keys; a smaller power of two (down
    to 1024) is accepted for tests.
    """
    suite, key = _checked_key(key)
    secret_pass = _passphrase_bytes(passphrase)
    if not secret_pass:
        raise KeyFileError("choose a non-empty passphrase for the key file")
    n = _check_n(scrypt_n)
    salt = os.urandom(SALT_SIZE)
    header = _header(key.suite, suite.compute_address(key.public_key), key.public_key, n, salt)
    blob = sm4_gcm_encrypt(_derive(secret_pass, salt, n), key.secret, _associated_data(header))
    document = dict(header, ciphertext=blob.hex())
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _hex_field(doc: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise KeyFileError(f"corrupt key file: field {name!r} is missing or not a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(f"corrupt key file: field {name!r} is not valid hex") from None
    if size is not None and len(raw) != size:
        raise KeyFileError(f"corrupt key file: field {name!r} should be {size} bytes")
    return raw


@dataclass(frozen=True, slots=True)
class _Parsed:
    suite: CryptoSuite
    address: bytes
    public_key: bytes
    n: int
    salt: bytes
    ciphertext: bytes

    def header(self) -> dict[str, Any]:
        return _header(self.suite.name, self.address, self.public_key, self.n, self.salt)


def _parse(data: bytes) -> _Parsed:
    if not isinstance(data, (bytes, bytearray)):
        raise KeyFileError("a key file is read as bytes")
    if len(data) > _MAX_FILE_SIZE:
        raise KeyFileError("this is not a Gusu key file: it is far too large")
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError):
        raise KeyFileError(
            "this is not a Gusu key file (not JSON); to bring in an OpenSSL key use import_pem"
        ) from None
    if not isinstance(doc, dict):
        raise KeyFileError("this is not a Gusu key file: expected a JSON object")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version != KEY_FILE_VERSION:
        raise KeyFileError(
            f"unsupported key file version {version!r}; this Gusu reads version {KEY_FILE_VERSION}"
        )
    suite_name = doc.get("suite")
    if not isinstance(suite_name, str) or suite_name not in SUITE_NAMES:
        raise KeyFileError(
            f"corrupt key file: unknown suite {suite_name!r} (expected one of {', '.join(SUITE_NAMES)})"
        )
    if doc.get("kdf") != "scrypt" or doc.get("cipher") != "sm4-gcm":
        raise KeyFileError("unsupported key file: only kdf 'scrypt' with cipher 'sm4-gcm' is known")
    params = doc.get("kdf_params")
    if not isinstance(params, dict):
        raise KeyFileError("corrupt key file: 'kdf_params' is missing")
    if params.get("r") != SCRYPT_R or params.get("p") != SCRYPT_P:
        raise KeyFileError(f"unsupported key file: scrypt r must be {SCRYPT_R} and p {SCRYPT_P}")
    n = _check_n(params.get("n"))
    salt = _hex_field(params, "salt")
    if not 8 <= len(salt) <= 64:
        raise KeyFileError("corrupt key file: the scrypt salt should be 8 to 64 bytes")
    suite = get_suite(suite_name)
    public_key = _hex_field(doc, "public_key", suite.public_key_size)
    address = _hex_field(doc, "address", ADDRESS_SIZE)
    try:
        expected_address = suite.compute_address(public_key)
    except InvalidKeyError as exc:
        raise KeyFileError(f"corrupt key file: {exc}") from None
    if expected_address != address:
        raise KeyFileError("corrupt key file: the address does not match the public key")
    ciphertext = _hex_field(doc, "ciphertext", _CIPHERTEXT_SIZE)
    return _Parsed(suite, address, public_key, n, salt, ciphertext)


def read_key_file_metadata(data: bytes) -> KeyFileMetadata:
    """Suite, address and public key of a key file; no passphrase needed.

    These fields are checked for consistency but are only authenticated by
    decryption: trust them for display, not for security decisions.
    """
    parsed = _parse(data)
    return KeyFileMetadata(parsed.suite.name, parsed.address, parsed.public_key)


def decrypt_key_file(data: bytes, passphrase: str) -> PrivateKey:
    """Open a key file; KeyFileError for a wrong passphrase or a bad file."""
    parsed = _parse(data)
    derived = _derive(_passphrase_bytes(passphrase), parsed.salt, parsed.n)
    try:
        secret = sm4_gcm_decrypt(derived, parsed.ciphertext, _associated_data(parsed.header()))
    except DecryptionError:
        raise KeyFileError(
            "wrong passphrase or corrupt key file: the key could not be decrypted; "
            "check the passphrase (it is case-sensitive) and that the file is intact"
        ) from None
    try:
        key = parsed.suite.load_private_key(secret)
    except InvalidKeyError as exc:
        raise KeyFileError(f"corrupt key file: the decrypted key is invalid ({exc})") from None
    if key.public_key != parsed.public_key:
        raise KeyFileError("corrupt key file: the decrypted key does not match its public key")
    return key


# --- PEM -----------------------------------------------------------------------------


def _select_block(pem: bytes) -> tuple[str, bytes]:
    blocks = _der.pem_blocks(pem)
    for label, block in blocks:
        if label in _PRIVATE_LABELS:
            return label, block
    labels = {label for label, _ in blocks}
    if labels & {"PUBLIC KEY", "CERTIFICATE"}:
        raise KeyFileError(
            "this PEM holds only a public key or certificate; import the private key PEM instead"
        )
    raise KeyFileError(
        "no private key found: expected a PEM block 'BEGIN PRIVATE KEY', "
        "'BEGIN ENCRYPTED PRIVATE KEY' or 'BEGIN EC PRIVATE KEY'"
    )


def import_pem(pem: bytes, suite: str, passphrase: bytes | None = None) -> PrivateKey:
    """Load an OpenSSL private key PEM (PKCS#8 or SEC1, optionally encrypted).

    For "sm" the key must be on the SM2 curve (`openssl genpkey -algorithm
    SM2` or `openssl ecparam -name SM2 -genkey`); for "ecdsa" on secp256k1.
    Raises KeyFileError with the reason otherwise.
    """
    suite_obj = get_suite(suite)
    given: object = pem
    if isinstance(given, str):
        given = given.encode("utf-8")
    if not isinstance(given, (bytes, bytearray)):
        raise KeyFileError("a PEM key is read as bytes")
    secret_pass: object = passphrase
    if secret_pass is not None and not isinstance(secret_pass, (bytes, bytearray)):
        raise KeyFileError("the PEM passphrase must be bytes (or None)")
    label, block = _select_block(bytes(given))
    encrypted = label == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in block
    if encrypted and passphrase is None:
        raise KeyFileError("this PEM key is encrypted; pass its passphrase")
    pkey, reason = _openssl.read_pem_private_key(
        block, bytes(passphrase) if passphrase is not None else None
    )
    if pkey is None:
        hint = "; check the passphrase" if encrypted else ""
        raise KeyFileError(f"OpenSSL could not read the PEM private key ({reason}){hint}")
    curve, _ = _CURVES[suite_obj.name]
    try:
        c = _openssl.lib()
        if c.EVP_PKEY_is_a(pkey, b"EC") != 1 and c.EVP_PKEY_is_a(pkey, b"SM2") != 1:
            raise KeyFileError(
                f"this PEM holds a {_openssl.type_name(pkey)} key, but the {suite_obj.name!r} "
                f"suite needs an EC key on {curve}; create one with: {_GENERATE_HINT[suite_obj.name]}"
            )
        group = _openssl.get_utf8_param(pkey, b"group")
        if group != curve:
            found = f"curve {group}" if group else "explicit (unnamed) curve parameters"
            raise KeyFileError(
                f"this PEM key uses {found}, but the {suite_obj.name!r} suite needs {curve}; "
                f"create one with: {_GENERATE_HINT[suite_obj.name]}"
            )
        secret = _openssl.get_private_scalar(pkey)
    finally:
        _openssl.lib().EVP_PKEY_free(pkey)
    if secret is None:
        raise KeyFileError("could not read the private scalar from the PEM key")
    try:
        return suite_obj.load_private_key(secret)
    except InvalidKeyError as exc:
        raise KeyFileError(f"the PEM key is not a valid {curve} key: {exc}") from None


def _uncompressed_point(key: PrivateKey) -> bytes:
    if key.suite == "sm":
        return key.public_key
    try:
        return coincurve.PublicKey(key.public_key).format(compressed=False)
    except ValueError as exc:
        raise CryptoError(f"cannot expand the secp256k1 public key: {exc}") from None


def export_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM ('BEGIN PRIVATE KEY') that `openssl pkey` reads.

    The output is the bare secret: store it encrypted (a key file) or on
    media you control.
    """
    _, key = _checked_key(key)
    _, curve_oid = _CURVES[key.suite]
    der = _der.pkcs8_ec_private_key(curve_oid, key.secret, _uncompressed_point(key))
    return _der.pem_encode("PRIVATE KEY", der)
