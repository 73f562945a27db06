"""SM4-GCM, Gusu's primitive for encryption at rest (key files, secrets).

SM4 (GB/T 32907) is the national block cipher; GCM turns it into an AEAD
so tampering is detected, not just hidden. It runs in the `cryptography`
package's bundled OpenSSL.

A blob is `nonce (12) || ciphertext || tag (16)`. Nonces are random: with
96 bits a collision is negligible for the handful of messages one key
protects here (each key file has its own key from its own salt). Do not
use one key for billions of messages.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gusu.errors import DecryptionError, InvalidKeyError

KEY_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_SIZE:
        raise InvalidKeyError(f"an SM4 key is exactly {KEY_SIZE} bytes")
    return bytes(key)


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
    """Encrypt and authenticate; returns nonce || ciphertext || tag.

    `associated_data` is authenticated but not encrypted: decryption fails
    unless exactly the same bytes are supplied.
    """
    raw_key = _check_key(key)
    nonce = os.urandom(NONCE_SIZE)
    encryptor = Cipher(algorithms.SM4(raw_key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(bytes(associated_data))
    body = encryptor.update(bytes(plaintext)) + encryptor.finalize()
    return nonce + body + encryptor.tag


def sm4_gcm_decrypt(key: bytes, blob: bytes, associated_data: bytes = b"") -> bytes:
    """Check and decrypt a blob from `sm4_gcm_encrypt`.

    Raises DecryptionError if the key or associated data differ, or if any
    byte of the blob was changed.
    """
    raw_key = _check_key(key)
    if not isinstance(blob, (bytes, bytearray)) or len(blob) < NONCE_SIZE + TAG_SIZE:
        raise DecryptionError(f"ciphertext is too short: an SM4-GCM blob has at least {NONCE_SIZE + TAG_SIZE} bytes")
    if not isinstance(associated_data, (bytes, bytearray)):
        raise DecryptionError("associated data must be bytes")
    data = bytes(blob)
    nonce, body, tag = data[:NONCE_SIZE], data[NONCE_SIZE:-TAG_SIZE], data[-TAG_SIZE:]
    decryptor = Cipher(algorithms.SM4(raw_key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(bytes(associated_data))
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag:
        raise DecryptionError("SM4-GCM authentication failed: wrong key, or the data was altered") from None
