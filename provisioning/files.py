"""Writing provisioning files: private keys 0600, public files 0644, atomically, owned by the
service user when it exists."""
from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

from firmware.ledger import fsync_dir
from provisioning.errors import FileOwnerError

log = logging.getLogger(__name__)

SERVICE_USER = "dualrec"


def write_file(path: str | os.PathLike, data: bytes, *, mode: int = 0o644,
               overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file, fsync, rename, fsync of the
    directory) with ``mode`` from the start, so a private key is never readable by others,
    not even for a moment. ``overwrite=False`` refuses an existing file (FileExistsError)."""
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists already; it is not overwritten")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask could have narrowed it; a key is never wider than 0600
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def write_private(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """A private key file: mode 0600, never overwritten unless asked."""
    return write_file(path, data, mode=0o600, overwrite=overwrite)


def hand_to_user(paths: list[Path], user: str = SERVICE_USER) -> bool:
    """``chown`` ``paths`` to ``user`` (and its primary group) when that user exists; True if
    done. When it does not exist (a depot workstation, a developer's machine) nothing changes
    and that is logged at info. Not being allowed to (not root) is a :class:`FileOwnerError`."""
    if not user:
        return False
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        log.info("no user %r on this machine: %s left owned by uid %d (chown them on the unit)",
                 user, ", ".join(str(p) for p in paths), os.getuid())
        return False
    for path in paths:
        try:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        except PermissionError:
            raise FileOwnerError(f"cannot hand {path} to user {user!r}: run as root (sudo), or "
                                 "pass --owner '' and chown the files yourself") from None
    return True
