"""SM4-GCM against RFC 8998's published vector, and committed key files that must keep opening.

Both guard against silent drift: a cipher that is not really SM4-GCM (AES-GCM
passes every round-trip test) fails the RFC vector, and any change to the
key-file format, KDF or cipher that would strand existing files fails the
committed files in tests/vectors/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gusu.crypto import cipher, get_suite
from gusu.crypto.cipher import sm4_gcm_decrypt, sm4_gcm_encrypt
from gusu.crypto.keyfile import decrypt_key_file, read_key_file_metadata
from gusu.errors import DecryptionError, KeyFileError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"

# RFC 8998 Appendix A.1 (all values hexadecimal, big endian).
RFC8998_IV = bytes.fromhex("00001234567800000000ABCD")
RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_PLAINTEXT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB"
    "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF"
    "EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
RFC8998_ASSOCIATED_DATA = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_CIPHERTEXT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D"
    "5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15"
    "A56834CBCF98C397B4024A2691233B8D"
)
RFC8998_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")


def test_sm4_gcm_encrypt_matches_rfc8998(monkeypatch: pytest.MonkeyPatch) -> None:
    # The cipher draws its nonce from os.urandom; hand it the RFC's IV.
    monkeypatch.setattr(cipher.os, "urandom", lambda size: RFC8998_IV if size == len(RFC8998_IV) else b"")
    blob = sm4_gcm_encrypt(RFC8998_KEY, RFC8998_PLAINTEXT, RFC8998_ASSOCIATED_DATA)
    assert blob == RFC8998_IV + RFC8998_CIPHERTEXT + RFC8998_TAG


def test_sm4_gcm_decrypt_matches_rfc8998() -> None:
    blob = RFC8998_IV + RFC8998_CIPHERTEXT + RFC8998_TAG
    assert sm4_gcm_decrypt(RFC8998_KEY, blob, RFC8998_ASSOCIATED_DATA) == RFC8998_PLAINTEXT


def test_sm4_gcm_rfc8998_tag_and_associated_data_are_checked() -> None:
    blob = RFC8998_IV + RFC8998_CIPHERTEXT + RFC8998_TAG
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(RFC8998_KEY, blob, RFC8998_ASSOCIATED_DATA[:-1])
    with pytest.raises(DecryptionError):
        sm4_gcm_decrypt(RFC8998_KEY, blob[:-1] + bytes([blob[-1] ^ 1]), RFC8998_ASSOCIATED_DATA)


EXPECTED = json.loads((VECTORS / "keyfile-expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("file_name", sorted(EXPECTED["files"]))
def test_committed_key_file_decrypts_to_its_known_key(file_name: str) -> None:
    expected = EXPECTED["files"][file_name]
    data = (VECTORS / file_name).read_bytes()
    assert json.loads(data)["kdf"] == expected["kdf"]
    key = decrypt_key_file(data, EXPECTED["passphrase"])
    assert key.suite == expected["suite"]
    assert key.secret.hex() == expected["secret"]
    suite = get_suite(expected["suite"])
    metadata = read_key_file_metadata(data)
    assert metadata.public_key == key.public_key
    assert metadata.address == suite.compute_address(key.public_key)


@pytest.mark.parametrize("file_name", sorted(EXPECTED["files"]))
def test_committed_key_file_refuses_a_wrong_passphrase(file_name: str) -> None:
    data = (VECTORS / file_name).read_bytes()
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        decrypt_key_file(data, EXPECTED["passphrase"] + " ")


def test_committed_key_files_cover_both_kdfs_of_sm() -> None:
    kdfs = {(entry["suite"], entry["kdf"]) for entry in EXPECTED["files"].values()}
    assert {("sm", "pbkdf2"), ("sm", "scrypt"), ("ecdsa", "scrypt")} <= kdfs
