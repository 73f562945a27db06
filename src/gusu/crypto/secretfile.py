"""Writing secret files (keys, passphrases) so they are never exposed or torn.

`write_secret_file` is the one way Gusu puts a secret on disk:

* the bytes go to a new temporary file in the target's directory, created
  with O_CREAT|O_EXCL and mode 0600, so no other user can open it at any
  moment, whatever the umask, and an attacker's file or symlink of the same
  name is never written through;
* the file is fsynced, then renamed over the target (atomic on POSIX), and
  the directory is fsynced so the rename itself survives a power cut;
* if anything fails, the temporary file is removed and the old target, if
  any, is left exactly as it was.

Readers therefore see either the old secret or the new one, complete, and
never a half-written key that would stop a node from starting.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

SECRET_FILE_MODE = 0o600
#: A key file is about 500 bytes; nothing secret Gusu writes comes near this.
SECRET_FILE_SIZE_MAX = 16 * 1024 * 1024
_TEMPORARY_SUFFIX = ".tmp"
_NAME_ATTEMPTS_MAX = 16


def get_temporary_path(path: Path) -> Path:
    """A fresh, unpredictable name beside `path` for its temporary copy."""
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}{_TEMPORARY_SUFFIX}")


def _create_temporary(path: Path) -> tuple[Path, int]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_NAME_ATTEMPTS_MAX):
        temporary = get_temporary_path(path)
        try:
            return temporary, os.open(temporary, flags, SECRET_FILE_MODE)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}: every name tried was taken")


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # platforms without directory handles (Windows) cannot fsync one
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename is still atomic
    finally:
        os.close(descriptor)


def write_secret_file(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Atomically write `data` to `path` with mode 0600 from the first byte.

    With `overwrite=False` an existing `path` is never replaced and
    FileExistsError is raised instead (two concurrent writers of one name
    cannot both succeed). OSError from the filesystem propagates; the old
    file then survives unchanged and no temporary file is left behind.
    """
    assert isinstance(data, (bytes, bytearray)), "a secret file is written as bytes"
    assert len(data) <= SECRET_FILE_SIZE_MAX, "a secret file is small"
    target = Path(path)
    temporary, descriptor = _create_temporary(target)
    try:
        try:
            # The umask can only narrow 0600 further (e.g. to 0400); make it
            # exactly 0600 so the owner can rewrite the file later.
            os.fchmod(descriptor, SECRET_FILE_MODE)
            view = memoryview(bytes(data))
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        if overwrite:
            os.replace(temporary, target)
        else:
            # link() fails if the target exists, where rename() would replace it.
            os.link(temporary, target)
            os.unlink(temporary)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)
