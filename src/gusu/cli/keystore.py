"""The local keystore (<home>/keys/NAME.json) and how commands obtain a signing key.

A key is named either by its keystore name or by the path of a key file
(anything with a path separator or a ``.json`` suffix, or an existing
file). The passphrase comes, in this order, from ``--passphrase-file``, a
``.pass`` file beside the key file (how `gusu chain init` hands out the
dev key), the GUSU_PASSPHRASE environment variable, or a hidden prompt.
The sibling file wins over the environment because it belongs to that one
key, while the environment variable is meant for the whole keystore.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import click

from gusu.cli.context import CliUsageError
from gusu.crypto import PrivateKey
from gusu.crypto.keyfile import (
    MAX_SCRYPT_N,
    MIN_SCRYPT_N,
    KeyFileMetadata,
    decrypt_key_file,
    encrypt_key_file,
    read_key_file_metadata,
)
from gusu.crypto.secretfile import write_secret_file
from gusu.errors import GusuError, KeyFileError

PASSPHRASE_ENVIRONMENT_VARIABLE = "GUSU_PASSPHRASE"
SCRYPT_N_ENVIRONMENT_VARIABLE = "GUSU_KEYFILE_SCRYPT_N"
"""Lowers the key files' derivation cost (scrypt, or PBKDF2-HMAC-SM3 on sm); for tests only (the default is strong)."""
KEY_SUFFIX = ".json"
PASSPHRASE_SUFFIX = ".pass"

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """A key file found in the keystore, read without its passphrase."""

    name: str
    path: Path
    metadata: KeyFileMetadata | None
    problem: str
    """Why the file could not be read; empty when `metadata` is set."""


@dataclass(frozen=True, slots=True)
class LoadedKey:
    label: str
    """The keystore name, or the path as given."""
    path: Path
    key: PrivateKey
    address: bytes


def get_scrypt_n() -> int | None:
    """The scrypt cost for new key files: None keeps the library's strong default."""
    text = os.environ.get(SCRYPT_N_ENVIRONMENT_VARIABLE, "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        raise CliUsageError(f"{SCRYPT_N_ENVIRONMENT_VARIABLE} must be an integer, not {text!r}") from None
    if n < MIN_SCRYPT_N or n > MAX_SCRYPT_N or n & (n - 1):
        raise CliUsageError(
            f"{SCRYPT_N_ENVIRONMENT_VARIABLE} must be a power of two from {MIN_SCRYPT_N} to {MAX_SCRYPT_N}"
        )
    return n


def check_key_name(name: str) -> str:
    if _NAME.fullmatch(name) is None:
        raise CliUsageError(
            f"invalid key name {name!r}: use 1 to 64 letters, digits, '_', '-' or '.', not starting with '.' or '-'"
        )
    return name


def get_key_path(keys_directory: Path, name: str) -> Path:
    return keys_directory / (check_key_name(name) + KEY_SUFFIX)


def is_path_reference(reference: str) -> bool:
    return os.sep in reference or "/" in reference or reference.endswith(KEY_SUFFIX) or Path(reference).is_file()


def resolve_key_path(keys_directory: Path, reference: str) -> tuple[str, Path]:
    """(label, path) of the key file `reference` names; CliUsageError if there is none."""
    if is_path_reference(reference):
        path = Path(reference).expanduser()
        if not path.is_file():
            raise CliUsageError(f"no key file at {path}")
        return reference, path
    path = get_key_path(keys_directory, reference)
    if not path.is_file():
        raise CliUsageError(
            f"no key named {reference!r} in {keys_directory}; see `gusu keys list`, "
            f"create one with `gusu keys new {reference}`, or pass --key PATH_TO_KEY_FILE"
        )
    return reference, path


def read_key_metadata(path: Path) -> KeyFileMetadata:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read the key file {path}: {error.strerror or error}") from error
    return read_key_file_metadata(data)


def list_keys(keys_directory: Path) -> list[KeyEntry]:
    if not keys_directory.is_dir():
        return []
    entries: list[KeyEntry] = []
    for path in sorted(keys_directory.glob("*" + KEY_SUFFIX)):
        try:
            entries.append(KeyEntry(path.stem, path, read_key_metadata(path), ""))
        except GusuError as error:
            entries.append(KeyEntry(path.stem, path, None, str(error)))
    return entries


def read_passphrase_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliUsageError(f"cannot read the passphrase file {path}: {error}") from error
    # Only the line break an editor or `echo` adds is dropped; spaces may be part of it.
    return text.rstrip("\r\n")


def get_passphrase(*, passphrase_file: Path | None, key_path: Path | None, prompt: str, confirm: bool) -> str:
    """The passphrase for a key file, from the first source that has one (see the module docstring)."""
    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    if key_path is not None:
        sibling = key_path.with_suffix(PASSPHRASE_SUFFIX)
        if sibling.is_file():
            return read_passphrase_file(sibling)
    from_environment = os.environ.get(PASSPHRASE_ENVIRONMENT_VARIABLE)
    if from_environment:
        return from_environment
    # Prompts go to stderr so that `--json` output stays a single document.
    value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not isinstance(value, str) or not value:
        raise CliUsageError("the passphrase must not be empty")
    return value


def load_key(keys_directory: Path, reference: str, passphrase_file: Path | None) -> LoadedKey:
    """Decrypt the key `reference` names, obtaining its passphrase as documented above."""
    label, path = resolve_key_path(keys_directory, reference)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise KeyFileError(f"cannot read the key file {path}: {error.strerror or error}") from error
    metadata = read_key_file_metadata(data)
    passphrase = get_passphrase(
        passphrase_file=passphrase_file,
        key_path=path,
        prompt=f"Passphrase for key {label} (0x{metadata.address.hex()})",
        confirm=False,
    )
    key = decrypt_key_file(data, passphrase)
    return LoadedKey(label=label, path=path, key=key, address=metadata.address)


def write_key_file(path: Path, key: PrivateKey, passphrase: str) -> None:
    """Encrypt `key` into a new file at `path` (mode 0600); never overwrites an existing key."""
    scrypt_n = get_scrypt_n()
    document = (
        encrypt_key_file(key, passphrase) if scrypt_n is None else encrypt_key_file(key, passphrase, scrypt_n=scrypt_n)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    try:
        # overwrite=False: two concurrent `keys new` of one name must not both succeed.
        write_secret_file(path, document, overwrite=False)
    except FileExistsError:
        raise CliUsageError(f"a key already exists at {path}; choose another name or remove it first") from None
