"""Secret files are 0600 at every moment, written atomically, and a failed write keeps the old file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from gusu.crypto import secretfile
from gusu.crypto.secretfile import write_secret_file


@pytest.fixture
def open_umask() -> Iterator[None]:
    # The worst case: a umask of 0 would leave a plain open() 0666, world-readable.
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def test_new_file_is_0600_with_its_bytes(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "node_key.pass"
    write_secret_file(target, b"secret\n")
    assert target.read_bytes() == b"secret\n"
    assert _mode(target) == 0o600
    assert _leftovers(tmp_path) == []


def test_the_file_is_0600_before_its_first_byte(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "node_key.json"
    target.write_bytes(b"old key")
    os.chmod(target, 0o600)
    seen: list[tuple[int, bool, bytes]] = []
    real_write = os.write

    def watching_write(descriptor: int, data: bytes | memoryview) -> int:
        # Every moment a byte of the secret reaches the disk: the file holding it is
        # 0600, is not the target yet, and the target still holds the old key.
        seen.append((stat.S_IMODE(os.fstat(descriptor).st_mode), target.read_bytes() == b"old key", bytes(data)))
        return real_write(descriptor, data)

    created: list[tuple[str, int, int]] = []
    real_open = os.open

    def watching_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kwargs: object) -> int:
        created.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode)

    monkeypatch.setattr(secretfile.os, "write", watching_write)
    monkeypatch.setattr(secretfile.os, "open", watching_open)
    write_secret_file(target, b"new key")
    assert seen == [(0o600, True, b"new key")]
    temporary_path, flags, mode = created[0]
    assert Path(temporary_path).parent == tmp_path and temporary_path != str(target)
    assert flags & os.O_CREAT and flags & os.O_EXCL and mode == 0o600
    assert target.read_bytes() == b"new key" and _mode(target) == 0o600


def test_overwrite_narrows_a_world_readable_file(tmp_path: Path) -> None:
    target = tmp_path / "dev.pass"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    write_secret_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


def test_a_strict_umask_still_gives_0600(tmp_path: Path) -> None:
    previous = os.umask(0o277)
    try:
        write_secret_file(tmp_path / "k", b"x")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "k") == 0o600


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "node_key.json"
    target.write_bytes(b"old key")

    def broken(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(secretfile.os, failing, broken)
    with pytest.raises(OSError, match="No space"):
        write_secret_file(target, b"new key that never lands")
    monkeypatch.undo()
    assert target.read_bytes() == b"old key"
    assert _leftovers(tmp_path) == []


def test_no_overwrite_refuses_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "alice.json"
    write_secret_file(target, b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        write_secret_file(target, b"second", overwrite=False)
    assert target.read_bytes() == b"first"
    assert _leftovers(tmp_path) == []


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not yours")
    target = tmp_path / "node_key.pass"
    target.symlink_to(elsewhere)
    write_secret_file(target, b"secret")
    assert elsewhere.read_bytes() == b"not yours"
    assert not target.is_symlink() and target.read_bytes() == b"secret"


def test_the_directory_is_fsynced_after_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def watching_fsync(descriptor: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(descriptor).st_mode))
        real_fsync(descriptor)

    monkeypatch.setattr(secretfile.os, "fsync", watching_fsync)
    write_secret_file(tmp_path / "k", b"x")
    assert synced == [False, True]  # the file's bytes, then the directory entry


def test_chain_init_writes_every_secret_0600(tmp_path: Path, open_umask: None) -> None:
    from gusu.node.chain import initialize_chain

    layout = initialize_chain(tmp_path / "chain", suite_name="sm", scrypt_n=1024)
    node = layout.node_directories[0]
    for secret in (node / "node_key.json", node / "node_key.pass", layout.dev_key_path, layout.dev_passphrase_path):
        assert _mode(secret) == 0o600, secret
