"""ctypes bindings to the handful of OpenSSL 3 libcrypto calls Gusu needs.

`cryptography` exposes no SM2 signatures, and the pure-Python SM libraries
are slow and (gmssl) use an unsafe nonce, so SM2 goes straight to the
system's libcrypto through its stable public EVP API. Every function used
here is declared with full argument and result types: an undeclared ctypes
call silently truncates 64-bit pointers to `int`.

Calls into libcrypto release the GIL, so several threads may run OpenSSL
operations at once; the objects they share (EVP_PKEYs) are reference counted
by OpenSSL and only read once built.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from typing import Any

from gusu.errors import CryptoError

_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_int = ctypes.c_int
_size = ctypes.c_size_t

# int (*pem_password_cb)(char *buf, int size, int rwflag, void *u)
PEM_PASSWORD_CB = ctypes.CFUNCTYPE(_int, ctypes.POINTER(ctypes.c_char), _int, _int, _vp)

_MIN_VERSION = 0x30000000  # OpenSSL 3.0.0: EVP_PKEY_CTX_set1_id is a function from here on

# name -> (restype, argtypes)
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "OpenSSL_version_num": (ctypes.c_ulong, []),
    "OpenSSL_version": (_cp, [_int]),
    "ERR_clear_error": (None, []),
    "ERR_get_error": (ctypes.c_ulong, []),
    "ERR_error_string_n": (None, [ctypes.c_ulong, _vp, _size]),
    "EVP_sm3": (_vp, []),
    "PKCS5_PBKDF2_HMAC": (_int, [_cp, _int, _cp, _int, _int, _vp, _int, _vp]),
    "EVP_Digest": (_int, [_cp, _size, _vp, ctypes.POINTER(ctypes.c_uint), _vp, _vp]),
    "EVP_MD_CTX_new": (_vp, []),
    "EVP_MD_CTX_free": (None, [_vp]),
    "EVP_DigestSignInit": (_int, [_vp, ctypes.POINTER(_vp), _vp, _vp, _vp]),
    "EVP_DigestVerifyInit": (_int, [_vp, ctypes.POINTER(_vp), _vp, _vp, _vp]),
    "EVP_DigestSign": (_int, [_vp, _vp, ctypes.POINTER(_size), _cp, _size]),
    "EVP_DigestVerify": (_int, [_vp, _cp, _size, _cp, _size]),
    "EVP_PKEY_CTX_set1_id": (_int, [_vp, _cp, _int]),
    "d2i_PUBKEY": (_vp, [_vp, ctypes.POINTER(_cp), ctypes.c_long]),
    "d2i_AutoPrivateKey": (_vp, [_vp, ctypes.POINTER(_cp), ctypes.c_long]),
    "EVP_PKEY_free": (None, [_vp]),
    "EVP_PKEY_up_ref": (_int, [_vp]),
    "EVP_PKEY_is_a": (_int, [_vp, _cp]),
    "EVP_PKEY_get0_type_name": (_cp, [_vp]),
    "EVP_PKEY_get_octet_string_param": (_int, [_vp, _cp, _vp, _size, ctypes.POINTER(_size)]),
    "EVP_PKEY_get_utf8_string_param": (_int, [_vp, _cp, _vp, _size, ctypes.POINTER(_size)]),
    "EVP_PKEY_get_bn_param": (_int, [_vp, _cp, ctypes.POINTER(_vp)]),
    "BN_num_bits": (_int, [_vp]),
    "BN_bn2binpad": (_int, [_vp, _vp, _int]),
    "BN_clear_free": (None, [_vp]),
    "BIO_new_mem_buf": (_vp, [_cp, _int]),
    "BIO_free": (_int, [_vp]),
    "PEM_read_bio_PrivateKey": (_vp, [_vp, _vp, PEM_PASSWORD_CB, _vp]),
}

_CANDIDATES = ("libcrypto.so.3", "libcrypto.3.dylib", "libcrypto-3-x64.dll")

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def _open() -> ctypes.CDLL:
    names = list(_CANDIDATES)
    found = ctypes.util.find_library("crypto")
    if found:
        names.append(found)
    tried: list[str] = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            tried.append(name)
            continue
        try:
            lib.OpenSSL_version_num.restype = ctypes.c_ulong
            version = int(lib.OpenSSL_version_num())
        except AttributeError:
            tried.append(f"{name} (not OpenSSL)")
            continue
        if version < _MIN_VERSION:
            tried.append(f"{name} (version {version:#x} is older than 3.0)")
            continue
        return lib
    raise CryptoError(
        "the sm suite needs OpenSSL 3 libcrypto, which was not found "
        f"(tried {', '.join(tried)}); install it (Debian/Ubuntu: apt-get install libssl3)"
    )


def lib() -> ctypes.CDLL:
    """The loaded, fully declared libcrypto; CryptoError if there is none."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            loaded = _open()
            for name, (restype, argtypes) in _SIGNATURES.items():
                try:
                    func = getattr(loaded, name)
                except AttributeError as exc:
                    raise CryptoError(
                        f"libcrypto lacks {name}; Gusu needs an OpenSSL 3 build with SM2/SM3 enabled"
                    ) from exc
                func.restype = restype
                func.argtypes = argtypes
            _lib = loaded
        return _lib


def version_text() -> str:
    raw = lib().OpenSSL_version(0)
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else "unknown"


def take_error() -> str:
    """Describe the oldest queued OpenSSL error and empty the queue.

    The queue is per thread and grows with every failure, so it is always
    emptied after a failed call, even when the text is not wanted.
    """
    c = lib()
    code = int(c.ERR_get_error())
    text = ""
    if code:
        buf = ctypes.create_string_buffer(256)
        c.ERR_error_string_n(code, buf, len(buf))
        text = buf.value.decode("ascii", "replace")
    c.ERR_clear_error()
    return text


def clear_errors() -> None:
    lib().ERR_clear_error()


def get_octet_param(pkey: int, name: bytes, max_size: int = 133) -> bytes | None:
    """An octet-string parameter of a key (e.g. b"encoded-pub-key"), or None."""
    c = lib()
    buf = ctypes.create_string_buffer(max_size)
    out = _size(0)
    if c.EVP_PKEY_get_octet_string_param(pkey, name, buf, max_size, ctypes.byref(out)) != 1:
        clear_errors()
        return None
    return buf.raw[: out.value]


def get_utf8_param(pkey: int, name: bytes) -> str | None:
    """A UTF-8 string parameter of a key (e.g. b"group"), or None."""
    c = lib()
    buf = ctypes.create_string_buffer(80)
    out = _size(0)
    if c.EVP_PKEY_get_utf8_string_param(pkey, name, buf, len(buf), ctypes.byref(out)) != 1:
        clear_errors()
        return None
    return buf.value.decode("utf-8", "replace")


def get_private_scalar(pkey: int, size: int = 32) -> bytes | None:
    """The private scalar of an EC key as `size` big-endian bytes, or None."""
    c = lib()
    bn = _vp()
    if c.EVP_PKEY_get_bn_param(pkey, b"priv", ctypes.byref(bn)) != 1 or not bn.value:
        clear_errors()
        return None
    try:
        if c.BN_num_bits(bn) > size * 8:
            return None
        buf = ctypes.create_string_buffer(size)
        if c.BN_bn2binpad(bn, buf, size) != size:
            clear_errors()
            return None
        return buf.raw
    finally:
        c.BN_clear_free(bn)


def type_name(pkey: int) -> str:
    raw = lib().EVP_PKEY_get0_type_name(pkey)
    return raw.decode("ascii", "replace") if isinstance(raw, bytes) else "unknown"


def d2i(func_name: str, der: bytes) -> int | None:
    """Run a `d2i_*` parser over all of `der`; the new EVP_PKEY or None.

    A parse that leaves bytes unread is treated as a failure, so trailing
    garbage can never ride along with an accepted key.
    """
    c = lib()
    func: Callable[..., int | None] = getattr(c, func_name)
    start = _cp(der)
    cursor = _cp(der)
    pkey = func(None, ctypes.byref(cursor), len(der))
    if not pkey:
        clear_errors()
        return None
    consumed = ctypes.cast(cursor, _vp).value or 0
    begin = ctypes.cast(start, _vp).value or 0
    if consumed - begin != len(der):
        c.EVP_PKEY_free(pkey)
        return None
    return int(pkey)


def read_pem_private_key(block: bytes, passphrase: bytes | None) -> tuple[int | None, str]:
    """Parse one PEM private-key block; (EVP_PKEY or None, OpenSSL's reason).

    A callback always supplies the passphrase so that OpenSSL never falls
    back to prompting on the terminal for an encrypted key.
    """
    c = lib()
    asked = False

    def supply(buf: Any, size: int, _rwflag: int, _u: Any) -> int:
        nonlocal asked
        asked = True
        if passphrase is None or len(passphrase) > size:
            return -1
        ctypes.memmove(buf, passphrase, len(passphrase))
        return len(passphrase)

    callback = PEM_PASSWORD_CB(supply)
    bio = c.BIO_new_mem_buf(block, len(block))
    if not bio:
        return None, take_error() or "out of memory"
    try:
        pkey = c.PEM_read_bio_PrivateKey(bio, None, callback, None)
    finally:
        c.BIO_free(bio)
    if not pkey:
        reason = take_error() or "unreadable key"
        if asked and passphrase is None:
            reason = "the key is encrypted and no passphrase was given"
        return None, reason
    clear_errors()
    return int(pkey), ""
