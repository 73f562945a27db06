"""The "sm" suite: SM2 signatures and SM3 hashing (GB/T 32918, GB/T 32905).

SM2 runs in OpenSSL 3's libcrypto through ctypes (see `_openssl`). Three
details make it interoperate with every other SM2 implementation:

* The signer ID is always set explicitly. OpenSSL 3 defaults to an empty
  ID, but GM/T 0009 and every other library use "1234567812345678", and
  the ID is hashed into Z_A, so a different ID means a different digest.
* `message` is the raw message M; OpenSSL computes e = SM3(Z_A || M).
* Signatures are stored as fixed 64-byte r||s and re-encoded to DER only
  at the OpenSSL boundary, so each signature has exactly one accepted form.

Parsing a public key costs about half as much as a verification, so parsed keys
are kept in a bounded LRU cache that owns one OpenSSL reference to each
EVP_PKEY and drops it on eviction. Private keys get a smaller cache.

Thread safety: an `SmSuite` may be shared by any number of threads. The
caches are guarded by a lock, and a caller takes its own OpenSSL reference
to a cached EVP_PKEY before releasing the lock, so an eviction in another
thread can never free a key that is in use. libcrypto calls release the
GIL, so threads really do verify in parallel.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import ClassVar

from gusu.crypto import _der, _openssl
from gusu.crypto.suite import SIGNATURE_SIZE, CryptoSuite, PrivateKey, as_bytes
from gusu.errors import ConfigError, CryptoError, InvalidKeyError

# Recommended curve parameters, GB/T 32918.5 (GM/T 0003.5).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

#: The signer ID of GM/T 0009 that all SM2 signatures on a Gusu chain use.
DEFAULT_SIGNER_ID = b"1234567812345678"

PUBLIC_KEY_SIZE = 65
PUBLIC_KEY_CACHE_SIZE = 65_536  # about 1.9 KB of OpenSSL memory per entry
PRIVATE_KEY_CACHE_SIZE = 1_024

_MAX_ID_SIZE = 8191  # ENTL_A is the ID's length in bits, in 16 bits
_DER_SIGNATURE_MAX = 80  # 72 is the most an SM2 DER signature can take


# --- SM3 -----------------------------------------------------------------------


def _sm3_evp(data: bytes) -> bytes:
    """SM3 through libcrypto's EVP, for Pythons whose hashlib lacks it."""
    c = _openssl.lib()
    out = ctypes.create_string_buffer(32)
    size = ctypes.c_uint(0)
    view = bytes(data)
    if c.EVP_Digest(view, len(view), out, ctypes.byref(size), _sm3_md(), None) != 1:
        raise CryptoError(f"SM3 failed in libcrypto: {_openssl.take_error()}")
    return out.raw[: size.value]


def _hashlib_sm3_works() -> bool:
    try:
        return hashlib.new("sm3", b"abc").digest() == bytes.fromhex(
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        )
    except ValueError:
        return False


def _make_sm3() -> Callable[[bytes], bytes]:
    if _hashlib_sm3_works():
        template = hashlib.new("sm3")

        def sm3_hashlib(data: bytes) -> bytes:
            # Copying a prepared object skips hashlib's by-name lookup.
            h = template.copy()
            h.update(data)
            return h.digest()

        return sm3_hashlib
    return _sm3_evp


sm3: Callable[[bytes], bytes] = _make_sm3()
"""SM3 digest (32 bytes) of `data`."""

_sm3_md_ptr: int | None = None


def _sm3_md() -> int:
    global _sm3_md_ptr
    if _sm3_md_ptr is None:
        md = _openssl.lib().EVP_sm3()
        if not md:
            raise CryptoError("this libcrypto was built without SM3; install a stock OpenSSL 3")
        _sm3_md_ptr = int(md)
    return _sm3_md_ptr


_PBKDF2_LENGTH_MAX = 64


def _pbkdf2_evp(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    c = _openssl.lib()
    out = ctypes.create_string_buffer(length)
    if c.PKCS5_PBKDF2_HMAC(password, len(password), salt, len(salt), iterations, _sm3_md(), length, out) != 1:
        raise CryptoError(f"PBKDF2-HMAC-SM3 failed in libcrypto: {_openssl.take_error()}")
    return out.raw


def pbkdf2_hmac_sm3(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """PBKDF2 (RFC 8018) with HMAC-SM3 as its PRF: GM/T 0091-2020's password KDF."""
    assert 0 < iterations < 2**31 and 0 < length <= _PBKDF2_LENGTH_MAX
    if _hashlib_sm3_works():
        return hashlib.pbkdf2_hmac("sm3", password, salt, iterations, length)
    return _pbkdf2_evp(password, salt, iterations, length)


# --- points ----------------------------------------------------------------------


def is_valid_point(public_key: bytes) -> bool:
    """True if `public_key` is 0x04||X||Y for a point on the SM2 curve.

    The curve's cofactor is 1, so every point on it is in the signing group.
    """
    if len(public_key) != PUBLIC_KEY_SIZE or public_key[0] != 0x04:
        return False
    x = int.from_bytes(public_key[1:33], "big")
    y = int.from_bytes(public_key[33:], "big")
    if x >= P or y >= P:
        return False
    return (y * y - (x * x * x + A * x + B)) % P == 0


def z_digest(public_key: bytes, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A).

    OpenSSL computes this itself; it is here for tests and for tools that
    must show their work.
    """
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    fields = b"".join(v.to_bytes(32, "big") for v in (A, B, GX, GY))
    return sm3(entl + signer_id + fields + public_key[1:])


# --- EVP_PKEY cache ----------------------------------------------------------------


class _PkeyCache:
    """Bounded LRU of EVP_PKEY pointers; holds one reference to each."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[bytes, int] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: bytes) -> int | None:
        """A new reference to the cached EVP_PKEY for `key`, or None.

        The caller must EVP_PKEY_free what it gets.
        """
        with self._lock:
            pkey = self._entries.get(key)
            if pkey is None:
                return None
            self._entries.move_to_end(key)
            _openssl.lib().EVP_PKEY_up_ref(pkey)
            return pkey

    def insert(self, key: bytes, pkey: int) -> int:
        """Adopt `pkey` (our reference) and hand back a reference for the caller."""
        c = _openssl.lib()
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None:
                # Another thread parsed the same key first: keep its copy.
                c.EVP_PKEY_free(pkey)
                pkey = existing
                self._entries.move_to_end(key)
            else:
                self._entries[key] = pkey
                self._evict_to(self._capacity)
            c.EVP_PKEY_up_ref(pkey)
            return pkey

    def resize(self, capacity: int) -> None:
        with self._lock:
            self._capacity = capacity
            self._evict_to(capacity)

    def clear(self) -> None:
        with self._lock:
            self._evict_to(0)

    def _evict_to(self, size: int) -> None:
        # Callers hold the lock.
        if len(self._entries) <= size:
            return
        c = _openssl.lib()
        while len(self._entries) > size:
            _, pkey = self._entries.popitem(last=False)
            c.EVP_PKEY_free(pkey)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


_public_cache = _PkeyCache(PUBLIC_KEY_CACHE_SIZE)
_private_cache = _PkeyCache(PRIVATE_KEY_CACHE_SIZE)


def set_public_key_cache_size(entries: int) -> None:
    """Bound the parsed-public-key cache to `entries` keys.

    Each entry holds about 1.9 KB of OpenSSL memory, so the default 65,536
    entries can reach about 120 MiB on a chain with that many active keys.
    """
    if isinstance(entries, bool) or not isinstance(entries, int) or entries < 1:
        raise ConfigError("the SM2 public-key cache size must be a positive whole number")
    _public_cache.resize(entries)


def clear_caches() -> None:
    """Free every cached EVP_PKEY (tests, or to drop key material early)."""
    _public_cache.clear()
    _private_cache.clear()


# Hand the keys back while libcrypto is certainly still initialised (C-level
# exit handlers, OpenSSL's own cleanup among them, run after this).
atexit.register(clear_caches)


def _public_pkey(public_key: bytes) -> int | None:
    """A referenced EVP_PKEY for a valid SM2 point, or None if invalid."""
    pkey = _public_cache.acquire(public_key)
    if pkey is not None:
        return pkey
    if not is_valid_point(public_key):
        return None
    parsed = _openssl.d2i("d2i_PUBKEY", _der.subject_public_key_info(_der.OID_SM2_CURVE, public_key))
    if parsed is None:
        return None
    if _openssl.lib().EVP_PKEY_is_a(parsed, b"SM2") != 1:
        # Without the SM2 type OpenSSL would run ECDSA-with-SM3 instead.
        _openssl.lib().EVP_PKEY_free(parsed)
        return None
    return _public_cache.insert(public_key, parsed)


def _parse_private(secret: bytes) -> int:
    # Checked here, the one way into OpenSSL, and not only in
    # load_private_key: OpenSSL 3.0 loads d = n-1 without complaint and then
    # never returns from signing with it.
    if len(secret) != 32 or not 1 <= int.from_bytes(secret, "big") <= N - 2:
        raise InvalidKeyError("an SM2 private key is a 32-byte scalar in [1, n-2]")
    der = _der.pkcs8_ec_private_key(_der.OID_SM2_CURVE, secret, None)
    pkey = _openssl.d2i("d2i_AutoPrivateKey", der)
    if pkey is None:
        raise InvalidKeyError("OpenSSL rejected the SM2 private key; it is not a valid SM2 scalar")
    if _openssl.lib().EVP_PKEY_is_a(pkey, b"SM2") != 1:
        _openssl.lib().EVP_PKEY_free(pkey)
        raise CryptoError("this libcrypto does not treat SM2-curve keys as SM2; Gusu needs OpenSSL 3.0 or newer")
    return pkey


def _private_pkey(secret: bytes) -> int:
    pkey = _private_cache.acquire(secret)
    if pkey is not None:
        return pkey
    return _private_cache.insert(secret, _parse_private(secret))


def _check_signer_id(signer_id: bytes) -> None:
    if not 0 < len(signer_id) <= _MAX_ID_SIZE:
        raise CryptoError(f"an SM2 signer ID is 1 to {_MAX_ID_SIZE} bytes long")


# --- sign / verify -------------------------------------------------------------------


def sm2_sign(secret: bytes, message: bytes, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """Sign raw `message` with an SM2 scalar; 64-byte r||s.

    Use `SmSuite.sign` in chain code: it always uses the standard ID.
    """
    _check_signer_id(signer_id)
    msg = as_bytes(message)
    if msg is None:
        raise CryptoError(f"SM2 signs bytes, not {type(message).__name__}")
    c = _openssl.lib()
    pkey = _private_pkey(secret)
    md_ctx = c.EVP_MD_CTX_new()
    try:
        if not md_ctx:
            raise CryptoError("out of memory creating an OpenSSL digest context")
        pctx = ctypes.c_void_p()
        sig = ctypes.create_string_buffer(_DER_SIGNATURE_MAX)
        sig_len = ctypes.c_size_t(_DER_SIGNATURE_MAX)
        if (
            c.EVP_DigestSignInit(md_ctx, ctypes.byref(pctx), _sm3_md(), None, pkey) != 1
            or c.EVP_PKEY_CTX_set1_id(pctx, signer_id, len(signer_id)) != 1
            or c.EVP_DigestSign(md_ctx, sig, ctypes.byref(sig_len), msg, len(msg)) != 1
        ):
            raise CryptoError(f"SM2 signing failed in OpenSSL: {_openssl.take_error()}")
        r, s = _der.decode_signature(sig.raw[: sig_len.value])
    finally:
        c.EVP_MD_CTX_free(md_ctx)
        c.EVP_PKEY_free(pkey)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sm2_verify(
    public_key: bytes,
    message: bytes,
    signature: bytes,
    signer_id: bytes = DEFAULT_SIGNER_ID,
) -> bool:
    """Verify a 64-byte r||s SM2 signature of raw `message`; never raises."""
    try:
        return _verify(public_key, message, signature, signer_id)
    except Exception:  # the contract is "False, never raise"
        return False


def _verify(public_key: bytes, message: bytes, signature: bytes, signer_id: bytes) -> bool:
    pub = as_bytes(public_key)
    msg = as_bytes(message)
    sig = as_bytes(signature)
    sid = as_bytes(signer_id)
    if pub is None or msg is None or sig is None or sid is None:
        return False
    if len(pub) != PUBLIC_KEY_SIZE or len(sig) != SIGNATURE_SIZE:
        return False
    if not 0 < len(sid) <= _MAX_ID_SIZE:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False
    c = _openssl.lib()
    pkey = _public_pkey(pub)
    if pkey is None:
        return False
    md_ctx = c.EVP_MD_CTX_new()
    try:
        if not md_ctx:
            return False
        pctx = ctypes.c_void_p()
        der = _der.encode_signature(r, s)
        ok: bool = (
            c.EVP_DigestVerifyInit(md_ctx, ctypes.byref(pctx), _sm3_md(), None, pkey) == 1
            and c.EVP_PKEY_CTX_set1_id(pctx, sid, len(sid)) == 1
            and c.EVP_DigestVerify(md_ctx, der, len(der), msg, len(msg)) == 1
        )
        if not ok:
            # A failed verify queues errors on this thread; drop them.
            c.ERR_clear_error()
        return ok
    finally:
        c.EVP_MD_CTX_free(md_ctx)
        c.EVP_PKEY_free(pkey)


def public_key_of(secret: bytes) -> bytes:
    """The 65-byte uncompressed public key for an SM2 scalar (via OpenSSL)."""
    pkey = _private_pkey(secret)
    try:
        point = _openssl.get_octet_param(pkey, b"encoded-pub-key")
    finally:
        _openssl.lib().EVP_PKEY_free(pkey)
    if point is None or not is_valid_point(point):
        raise CryptoError("OpenSSL did not return an uncompressed SM2 public key")
    return point


class SmSuite(CryptoSuite):
    """SM2 signatures with signer ID 1234567812345678, SM3 hashes."""

    name: ClassVar[str] = "sm"
    hash_name: ClassVar[str] = "sm3"
    public_key_size: ClassVar[int] = PUBLIC_KEY_SIZE
    # d = n-1 would make (1 + d) non-invertible in SM2 signing.
    max_secret: ClassVar[int] = N - 2

    def __init__(self) -> None:
        # Fail at get_suite("sm") with an install hint, not at first verify.
        _openssl.lib()
        _sm3_md()

    def hash(self, data: bytes) -> bytes:
        return sm3(data)

    def load_private_key(self, secret: bytes) -> PrivateKey:
        self._check_secret(secret)
        raw = bytes(secret)
        return PrivateKey(suite=self.name, secret=raw, public_key=public_key_of(raw))

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        self._check_key(key)
        return sm2_sign(key.secret, message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return sm2_verify(public_key, message, signature)

    def validate_public_key(self, public_key: bytes) -> None:
        raw = as_bytes(public_key)
        if raw is None or len(raw) != PUBLIC_KEY_SIZE or raw[0] != 0x04:
            raise InvalidKeyError("an sm public key is 65 bytes: 0x04 followed by the 32-byte X and Y coordinates")
        if not is_valid_point(raw):
            raise InvalidKeyError("this sm public key is not a point on the SM2 curve")

    def _point_xy(self, public_key: bytes) -> bytes:
        return bytes(public_key[1:])
