"""Start-up self-check: does this machine's crypto really compute what the standards say?

Some builds of OpenSSL leave algorithms out (RHEL, CentOS and Fedora ship
theirs configured ``no-sm2 no-sm4``), and a library can load fine and still
lack an algorithm. Without a check, such a node starts, then rejects every
signature it sees without saying why. `validate_suite_support` runs each
primitive a suite needs against a published test vector and raises
CryptoError naming what is missing and how to fix it, so a node refuses to
start instead.

Every check is cheap (well under 10 ms in all), so it runs on every start.
"""

from __future__ import annotations

from collections.abc import Callable

from gusu.crypto.suite import SUITE_NAMES
from gusu.errors import CryptoError, UnknownSuiteError

# GB/T 32905-2016 Appendix A, example 1: SM3("abc").
SM3_ABC_DIGEST = bytes.fromhex("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")
# GB/T 32907-2016 Appendix A, example 1: the key encrypts itself as one block.
SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
SM4_BLOCK_CIPHERTEXT = bytes.fromhex("681edf34d206965e86b3e94f536e4246")
# RFC 8998 Appendix A.1: SM4-GCM.
SM4_GCM_KEY = SM4_KEY
SM4_GCM_IV = bytes.fromhex("00001234567800000000abcd")
SM4_GCM_ASSOCIATED_DATA = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
SM4_GCM_PLAINTEXT = bytes.fromhex(
    "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"
    "eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa"
)
SM4_GCM_CIPHERTEXT = bytes.fromhex(
    "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"
    "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
)
SM4_GCM_TAG = bytes.fromhex("83de3541e4c2b58177e065a9bf7b62ec")
# GM/T 0003.5-2012 (GB/T 32918.5) Annex A: an SM2 signature with the default
# signer ID 1234567812345678 on the message "message digest".
SM2_SECRET = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
SM2_PUBLIC_KEY = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
SM2_MESSAGE = b"message digest"
SM2_SIGNATURE = bytes.fromhex(
    "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
    "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
)
# Keccak-256 of the empty string (the original Keccak, as Ethereum uses it).
KECCAK256_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
# secp256k1: private key 1 is the generator; its Ethereum address is well known.
SECP256K1_ONE_ADDRESS = bytes.fromhex("7e5f4552091a69125d5dfcb7b8c2659029395bdf")

_OPENSSL_HINT = (
    "Gusu's sm suite needs an OpenSSL 3 libcrypto built with SM2, SM3 and SM4 "
    "(RHEL, CentOS and Fedora ship theirs configured no-sm2 no-sm4). Install such an OpenSSL "
    "(Debian and Ubuntu's libssl3 has them, or build OpenSSL 3 from source) and make it the one "
    "Python loads, e.g. with LD_LIBRARY_PATH; `openssl list -signature-algorithms` should list SM2"
)
_SM4_HINT = (
    "key files are sealed with SM4-GCM through the `cryptography` package; install its PyPI wheel "
    "(which bundles an OpenSSL with SM4) with `pip install --require-hashes -r requirements/lock.txt`, "
    "or rebuild it against an OpenSSL 3 with SM4"
)
_ECDSA_HINT = (
    "the ecdsa suite needs coincurve (libsecp256k1) and safe-pysha3; reinstall them from the lock: "
    "`pip install --require-hashes -r requirements/lock.txt`"
)


def _run(what: str, hint: str, check: Callable[[], bool]) -> None:
    try:
        passed = check()
    except CryptoError as error:
        raise CryptoError(f"{what} is not available on this machine ({error}); {hint}") from None
    except Exception as error:  # any library failure means the same thing: unsupported here
        raise CryptoError(
            f"{what} is not available on this machine ({type(error).__name__}: {error}); {hint}"
        ) from None
    if not passed:
        raise CryptoError(f"{what} gives wrong results on this machine (its published test vector fails); {hint}")


def _check_sm4() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from gusu.crypto.cipher import sm4_gcm_decrypt

    def block() -> bool:
        encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
        return encryptor.update(SM4_KEY) + encryptor.finalize() == SM4_BLOCK_CIPHERTEXT

    def gcm() -> bool:
        blob = SM4_GCM_IV + SM4_GCM_CIPHERTEXT + SM4_GCM_TAG
        return sm4_gcm_decrypt(SM4_GCM_KEY, blob, SM4_GCM_ASSOCIATED_DATA) == SM4_GCM_PLAINTEXT

    _run("SM4 (GB/T 32907)", _SM4_HINT, block)
    _run("SM4-GCM (RFC 8998)", _SM4_HINT, gcm)


def _check_sm() -> None:
    from gusu.crypto import _openssl, sm

    _run("OpenSSL 3 libcrypto", _OPENSSL_HINT, lambda: _openssl.lib() is not None)
    _run("SM3 (GB/T 32905)", _OPENSSL_HINT, lambda: sm.sm3(b"abc") == SM3_ABC_DIGEST)
    _run("SM3 in libcrypto (GB/T 32905)", _OPENSSL_HINT, lambda: sm._sm3_evp(b"abc") == SM3_ABC_DIGEST)
    _run(
        "PBKDF2-HMAC-SM3 (GM/T 0091)",
        _OPENSSL_HINT,
        lambda: len(sm.pbkdf2_hmac_sm3(b"gusu", b"self-check", 2, 16)) == 16,
    )
    _run(
        "SM2 key derivation (GB/T 32918.5)",
        _OPENSSL_HINT,
        lambda: sm.public_key_of(SM2_SECRET) == SM2_PUBLIC_KEY,
    )
    _run(
        "SM2 signature verification with signer ID 1234567812345678 (GB/T 32918.5)",
        _OPENSSL_HINT,
        lambda: (
            sm.sm2_verify(SM2_PUBLIC_KEY, SM2_MESSAGE, SM2_SIGNATURE)
            and not sm.sm2_verify(SM2_PUBLIC_KEY, SM2_MESSAGE + b"!", SM2_SIGNATURE)
        ),
    )
    _run(
        "SM2 signing",
        _OPENSSL_HINT,
        lambda: sm.sm2_verify(SM2_PUBLIC_KEY, SM2_MESSAGE, sm.sm2_sign(SM2_SECRET, SM2_MESSAGE)),
    )


def _check_ecdsa() -> None:
    from gusu.crypto import ecdsa

    _run("keccak-256 (safe-pysha3)", _ECDSA_HINT, lambda: ecdsa.keccak256(b"") == KECCAK256_EMPTY)

    def signatures() -> bool:
        suite = ecdsa.EcdsaSuite()
        key = suite.load_private_key((1).to_bytes(32, "big"))
        digest = ecdsa.keccak256(b"gusu self-check")
        signature = suite.sign(key, digest)
        return (
            suite.compute_address(key.public_key) == SECP256K1_ONE_ADDRESS
            and suite.verify(key.public_key, digest, signature)
            and not suite.verify(key.public_key, ecdsa.keccak256(b"other"), signature)
        )

    _run("secp256k1 ECDSA (coincurve)", _ECDSA_HINT, signatures)


def validate_suite_support(suite_name: str) -> None:
    """Raise CryptoError unless every primitive `suite_name` needs works here.

    "sm" checks SM3, PBKDF2-HMAC-SM3 and SM2 (signer ID 1234567812345678)
    in libcrypto; "ecdsa" checks keccak-256 and secp256k1. Both check SM4
    and SM4-GCM, which seal key files on either suite. Each check runs the
    primitive on a published test vector.
    """
    if suite_name not in SUITE_NAMES:
        raise UnknownSuiteError(f"unknown crypto suite {suite_name!r}; choose one of: {', '.join(SUITE_NAMES)}")
    if suite_name == "sm":
        _check_sm()
    else:
        _check_ecdsa()
    _check_sm4()
