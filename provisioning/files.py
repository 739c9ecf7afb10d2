"""Writing provisioning files: private keys 0600, public files 0644, atomically, owned by the
service user when it exists."""
from __future__ import annotations

import logging
import os
import pwd
import stat
from pathlib import Path

from firmware.evidence import durable
from provisioning.errors import FileOwnerError

log = logging.getLogger(__name__)

SERVICE_USER = "dualrec"


def write_file(path: str | os.PathLike, data: bytes, *, mode: int = 0o644,
               overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file made with ``O_EXCL|O_NOFOLLOW``,
    fsync, rename, fsync of the directory) with ``mode`` from the start, so a private key is
    never readable by others, not even for a moment. ``overwrite=False`` refuses anything
    already there, even a dangling symlink (FileExistsError); nothing is written through a
    symlink."""
    path = Path(path)
    durable.ensure_dir(path.parent, 0o755 if mode & 0o044 else 0o700)
    if overwrite:
        durable.write_atomic(path, data, mode)
    else:
        try:
            durable.create_new(path, data, mode)
        except FileExistsError:
            raise FileExistsError(f"{path} exists already; it is not overwritten") from None
    return path


def write_private(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """A private key file: mode 0600, in a directory no other account can enter, never
    overwritten unless asked."""
    directory = Path(path).parent
    if durable.lkind(directory) == "directory":
        mode = stat.S_IMODE(os.lstat(directory).st_mode)
        if mode & 0o077:
            raise FileOwnerError(f"{directory}: a directory for private keys must not be open "
                                 f"to other accounts (mode {mode:04o}); run: chmod 700 "
                                 f"{directory}")
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
