"""Passphrase-protected key files, and PEM import/export for OpenSSL users.

A key file is UTF-8 JSON. On an ``sm`` chain new files use PBKDF2-HMAC-SM3,
the password-based key derivation GM/T 0091-2020 specifies::

    {"version": 1, "suite": "sm", "address": "<hex>", "public_key": "<hex>",
     "kdf": "pbkdf2", "kdf_params": {"prf": "hmac-sm3", "c": 262144, "salt": "<hex>"},
     "cipher": "sm4-gcm", "ciphertext": "<hex of nonce || SM4-GCM(secret) || tag>"}

On an ``ecdsa`` chain (and in ``sm`` files written before PBKDF2, which
are still read) the KDF is scrypt::

     "kdf": "scrypt", "kdf_params": {"n": 16384, "r": 8, "p": 1, "salt": "<hex>"},

The KDF turns the passphrase into a 16-byte SM4 key; every field except the
ciphertext is authenticated as GCM associated data, so swapping the
address, public key or KDF parameters of a file makes decryption fail
instead of yielding a key that disagrees with its label. The metadata can
be read without the passphrase (`read_key_file_metadata`).

A file's cost is bounded both ways on read: below the floor it is refused,
so nobody can plant a key file that is cheap to brute-force, and above the
ceiling it is refused, so a file cannot make a node spend minutes starting.

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
KDF_SCRYPT = "scrypt"
KDF_PBKDF2 = "pbkdf2"
PBKDF2_PRF = "hmac-sm3"
#: About 60 ms on a 2-core EPYC VM: slow for guessing, quick for a node start.
DEFAULT_SCRYPT_N = 2**14
MIN_SCRYPT_N = 2**10
#: 256 MiB of scrypt memory: the most a key file may make us allocate.
MAX_SCRYPT_N = 2**18
SCRYPT_R = 8
SCRYPT_P = 1
#: PBKDF2-HMAC-SM3 iterations for new sm key files: the count geth's keystore
#: uses in its PBKDF2 form (c = 262,144); about 0.27 s here (docs/crypto.md).
DEFAULT_PBKDF2_ITERATIONS = 262_144
#: The cheapest file read: the default cut by the same factor as MIN_SCRYPT_N
#: cuts scrypt's, so tests can run quickly but a planted file is not trivial.
MIN_PBKDF2_ITERATIONS = DEFAULT_PBKDF2_ITERATIONS * MIN_SCRYPT_N // DEFAULT_SCRYPT_N
#: About 9 s: the most work a key file may make a node do at start-up.
MAX_PBKDF2_ITERATIONS = 2**23
#: The explicitly cheap cost for tests and throwaway chains; never for real keys.
THROWAWAY_PBKDF2_ITERATIONS = MIN_PBKDF2_ITERATIONS
SALT_SIZE = 16
_DERIVED_KEY_SIZE = 16
_MAX_FILE_SIZE = 64 * 1024
_CIPHERTEXT_SIZE = 12 + SECRET_SIZE + 16

_CURVES = {"sm": ("SM2", _der.OID_SM2_CURVE), "ecdsa": ("secp256k1", _der.OID_SECP256K1)}
_GENERATE_HINT = {
    "sm": "openssl genpkey -algorithm SM2 -out key.pem",
    "ecdsa": "openssl ecparam -name secp256k1 -genkey -noout -out key.pem",
}
_PRIVATE_LABELS = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY")
#: The KDF new key files of each suite get.
_KDF_OF_SUITE = {"sm": KDF_PBKDF2, "ecdsa": KDF_SCRYPT}


@dataclass(frozen=True, slots=True)
class KeyFileMetadata:
    """What a key file tells about its key without the passphrase."""

    suite: str
    address: bytes
    public_key: bytes


@dataclass(frozen=True, slots=True)
class KdfParameters:
    """How a key file's passphrase becomes its SM4 key.

    `cost` is scrypt's n for "scrypt" and the iteration count c for
    "pbkdf2" (PBKDF2-HMAC-SM3).
    """

    kdf: str
    cost: int
    salt: bytes


# --- key files -------------------------------------------------------------------------


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str):
        raise KeyFileError("a key-file passphrase must be text (str)")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def compute_derived_key(passphrase: bytes, parameters: KdfParameters) -> bytes:
    """The 16-byte SM4 key that `parameters` derive from `passphrase`."""
    if parameters.kdf == KDF_PBKDF2:
        from gusu.crypto.sm import pbkdf2_hmac_sm3

        return pbkdf2_hmac_sm3(passphrase, parameters.salt, parameters.cost, _DERIVED_KEY_SIZE)
    assert parameters.kdf == KDF_SCRYPT, parameters.kdf
    n = parameters.cost
    # OpenSSL checks scrypt's working memory against maxmem; allow exactly
    # what these parameters need (plus slack) and nothing more.
    need = 128 * SCRYPT_R * (n + 2) + 128 * SCRYPT_R * SCRYPT_P + (1 << 20)
    return hashlib.scrypt(
        passphrase, salt=parameters.salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=need, dklen=_DERIVED_KEY_SIZE
    )


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_n(n: object) -> int:
    if not _is_whole(n) or not MIN_SCRYPT_N <= n <= MAX_SCRYPT_N or n & (n - 1):  # type: ignore[operator]
        raise KeyFileError(f"scrypt n must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_N}")
    assert isinstance(n, int)
    return n


def _check_iterations(iterations: object) -> int:
    if not _is_whole(iterations) or not MIN_PBKDF2_ITERATIONS <= iterations <= MAX_PBKDF2_ITERATIONS:  # type: ignore[operator]
        raise KeyFileError(
            f"PBKDF2 iterations must be from {MIN_PBKDF2_ITERATIONS} to {MAX_PBKDF2_ITERATIONS}; "
            "a key file below that floor is refused because it would be cheap to brute-force"
        )
    assert isinstance(iterations, int)
    return iterations


def compute_pbkdf2_iterations(scrypt_n: int) -> int:
    """The PBKDF2 cost discounted from the default as much as `scrypt_n` is from its default.

    Callers that lower `scrypt_n` for tests (the GUSU_KEYFILE_SCRYPT_N knob,
    throwaway chains) thereby get equally cheap sm key files; the default
    scrypt n gives DEFAULT_PBKDF2_ITERATIONS.
    """
    n = _check_n(scrypt_n)
    return DEFAULT_PBKDF2_ITERATIONS * n // DEFAULT_SCRYPT_N


def _kdf_params(parameters: KdfParameters) -> dict[str, Any]:
    if parameters.kdf == KDF_PBKDF2:
        return {"prf": PBKDF2_PRF, "c": parameters.cost, "salt": parameters.salt.hex()}
    return {"n": parameters.cost, "r": SCRYPT_R, "p": SCRYPT_P, "salt": parameters.salt.hex()}


def _header(suite: str, address: bytes, public_key: bytes, parameters: KdfParameters) -> dict[str, Any]:
    return {
        "version": KEY_FILE_VERSION,
        "suite": suite,
        "address": address.hex(),
        "public_key": public_key.hex(),
        "kdf": parameters.kdf,
        "kdf_params": _kdf_params(parameters),
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
            "this PrivateKey's public key does not belong to its secret; build keys with suite.load_private_key()"
        )
    return suite, fresh


def encrypt_key_file(
    key: PrivateKey,
    passphrase: str,
    *,
    scrypt_n: int = DEFAULT_SCRYPT_N,
    pbkdf2_iterations: int | None = None,
) -> bytes:
    """Seal `key` under `passphrase`; the JSON bytes of a key file.

    An sm key gets PBKDF2-HMAC-SM3 with `pbkdf2_iterations` (None: the
    default discounted like `scrypt_n`, see `compute_pbkdf2_iterations`);
    an ecdsa key gets scrypt with `scrypt_n`. Keep the defaults for real
    keys; THROWAWAY_PBKDF2_ITERATIONS or a scrypt n down to 1024 are for
    tests.
    """
    suite, key = _checked_key(key)
    secret_pass = _passphrase_bytes(passphrase)
    if not secret_pass:
        raise KeyFileError("choose a non-empty passphrase for the key file")
    n = _check_n(scrypt_n)
    kdf = _KDF_OF_SUITE[key.suite]
    if kdf == KDF_PBKDF2:
        cost = _check_iterations(compute_pbkdf2_iterations(n) if pbkdf2_iterations is None else pbkdf2_iterations)
    else:
        cost = n
    parameters = KdfParameters(kdf, cost, os.urandom(SALT_SIZE))
    header = _header(key.suite, suite.compute_address(key.public_key), key.public_key, parameters)
    derived = compute_derived_key(secret_pass, parameters)
    blob = sm4_gcm_encrypt(derived, key.secret, _associated_data(header))
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
    parameters: KdfParameters
    ciphertext: bytes

    def header(self) -> dict[str, Any]:
        return _header(self.suite.name, self.address, self.public_key, self.parameters)


def _parse_kdf(doc: dict[str, Any], suite_name: str) -> KdfParameters:
    kdf = doc.get("kdf")
    if kdf not in (KDF_SCRYPT, KDF_PBKDF2) or doc.get("cipher") != "sm4-gcm":
        raise KeyFileError("unsupported key file: only kdf 'scrypt' or 'pbkdf2' with cipher 'sm4-gcm' is known")
    params = doc.get("kdf_params")
    if not isinstance(params, dict):
        raise KeyFileError("corrupt key file: 'kdf_params' is missing")
    if kdf == KDF_PBKDF2:
        if suite_name != "sm":
            raise KeyFileError("unsupported key file: PBKDF2-HMAC-SM3 key files exist only for the sm suite")
        if params.get("prf") != PBKDF2_PRF:
            raise KeyFileError(f"unsupported key file: the PBKDF2 prf must be {PBKDF2_PRF!r}")
        cost = _check_iterations(params.get("c"))
    else:
        if params.get("r") != SCRYPT_R or params.get("p") != SCRYPT_P:
            raise KeyFileError(f"unsupported key file: scrypt r must be {SCRYPT_R} and p {SCRYPT_P}")
        cost = _check_n(params.get("n"))
    salt = _hex_field(params, "salt")
    if not 8 <= len(salt) <= 64:
        raise KeyFileError(f"corrupt key file: the {kdf} salt should be 8 to 64 bytes")
    return KdfParameters(kdf, cost, salt)


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
        raise KeyFileError(f"unsupported key file version {version!r}; this Gusu reads version {KEY_FILE_VERSION}")
    suite_name = doc.get("suite")
    if not isinstance(suite_name, str) or suite_name not in SUITE_NAMES:
        raise KeyFileError(f"corrupt key file: unknown suite {suite_name!r} (expected one of {', '.join(SUITE_NAMES)})")
    parameters = _parse_kdf(doc, suite_name)
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
    return _Parsed(suite, address, public_key, parameters, ciphertext)


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
    derived = compute_derived_key(_passphrase_bytes(passphrase), parsed.parameters)
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
        raise KeyFileError("this PEM holds only a public key or certificate; import the private key PEM instead")
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
    pkey, reason = _openssl.read_pem_private_key(block, bytes(passphrase) if passphrase is not None else None)
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
