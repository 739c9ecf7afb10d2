"""Durable, symlink-proof file operations: the only way the unit reads or writes its spool,
its keys and its state.

- Nothing here follows a symlink: files are opened with ``O_NOFOLLOW``, directories on the
  way are checked with ``lstat``, and a file that is not a regular file (a FIFO, a device, a
  directory, a socket, a symlink) is refused with :class:`NotRegularFileError` naming it,
  before a single byte is read — so a planted FIFO cannot hang the unit or the verifier, and
  a planted symlink cannot make the unit seal, hash or upload a file outside the spool.
- Writes are atomic: a temporary name in the same directory (``O_EXCL``), fsync of the file,
  rename (or link, where an existing file must never be replaced), fsync of the directory.
  A power cut leaves the old content or the new one, never a torn or empty file.
- Modes are set explicitly (``fchmod``), never left to the umask.
"""
from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from firmware.errors import DualrecError

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
DIR_MODE = 0o750
FILE_MODE = 0o640
SECRET_MODE = 0o600


class NotRegularFileError(DualrecError, OSError):
    """A path that should be a regular file (or a real directory) is something else."""

    def __init__(self, path: str | os.PathLike, kind: str) -> None:
        super().__init__(errno.EINVAL, f"{path} is a {kind}, not a regular file; it is left "
                         "alone (never read, sealed, hashed or uploaded)")
        self.path = str(path)
        self.kind = kind


def kind_of(mode: int) -> str:
    """A word for what an ``st_mode`` is: regular, directory, symlink, fifo, socket, device."""
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "unknown"


def lkind(path: str | os.PathLike) -> str:
    """What ``path`` itself is (symlinks not followed), or ``"missing"``."""
    try:
        return kind_of(os.lstat(path).st_mode)
    except FileNotFoundError:
        return "missing"


def open_regular(path: str | os.PathLike, flags: int = 0) -> int:
    """A file descriptor of the regular file ``path`` (extra ``flags`` OR-ed in). A symlink,
    FIFO, device, socket or directory raises :class:`NotRegularFileError` without blocking."""
    try:
        fd = os.open(path, READ_FLAGS | flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFileError(path, "symlink") from None
        if exc.errno == errno.EISDIR:
            raise NotRegularFileError(path, "directory") from None
        if exc.errno == errno.ENXIO:  # a FIFO with no writer, a socket
            raise NotRegularFileError(path, lkind(path)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, kind_of(mode))
        if flags & os.O_NONBLOCK == 0:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_reading(path: str | os.PathLike) -> BinaryIO:
    """A binary file object reading the regular file ``path`` (see :func:`open_regular`)."""
    return os.fdopen(open_regular(path), "rb")


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The whole regular file ``path``, at most ``limit`` bytes (ValueError if longer)."""
    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    return data


def hash_regular(path: str | os.PathLike, block: int = 1 << 20) -> tuple[str, int]:
    """SHA-256 (hex) and size of the regular file ``path``, read in 1 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    buf = bytearray(block)
    view = memoryview(buf)
    fd = open_regular(path)
    try:
        while n := os.readv(fd, [buf]):
            h.update(view[:n])
            size += n
    finally:
        os.close(fd)
    return h.hexdigest(), size


def fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: str | os.PathLike, mode: int = DIR_MODE) -> Path:
    """Create ``path`` (and parents) with ``mode``, or check that an existing one is a real
    directory, not a symlink or anything else (:class:`NotRegularFileError`)."""
    path = Path(path)
    try:
        os.mkdir(path, mode)
        os.chmod(path, mode, follow_symlinks=False)
    except FileNotFoundError:
        ensure_dir(path.parent, mode)
        return ensure_dir(path, mode)
    except FileExistsError:
        kind = lkind(path)
        if kind != "directory":
            raise NotRegularFileError(path, kind) from None
    return path


def require_dir(path: str | os.PathLike) -> Path:
    """``path`` must be a real directory (not a symlink to one)."""
    kind = lkind(path)
    if kind != "directory":
        raise NotRegularFileError(path, kind)
    return Path(path)


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def _write_tmp(path: Path, data: bytes, mode: int) -> Path:
    tmp = _tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def write_atomic(path: str | os.PathLike, data: bytes, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically and durably (never a symlink: a symlink at
    ``path`` is replaced by the file, not followed)."""
    path = Path(path)
    tmp = _write_tmp(path, data, mode)
    try:
        os.rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def create_new(path: str | os.PathLike, data: bytes, mode: int = SECRET_MODE) -> None:
    """Create ``path`` with ``data``, atomically and durably; FileExistsError if anything
    (even a dangling symlink) is already there. For keys: never overwrites, never follows."""
    path = Path(path)
    tmp = _write_tmp(path, data, mode)
    try:
        os.link(tmp, path, follow_symlinks=False)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def open_new(path: str | os.PathLike, mode: int = FILE_MODE) -> int:
    """A new file for writing (``O_EXCL|O_NOFOLLOW``), mode set explicitly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    os.fchmod(fd, mode)
    return fd


def open_append(path: str | os.PathLike, mode: int = FILE_MODE) -> int:
    """A file opened for appending, created if missing; never through a symlink, never a
    non-regular file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
                     | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotRegularFileError(path, "symlink") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO):
            raise NotRegularFileError(path, lkind(path)) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFileError(path, kind_of(st.st_mode))
    os.set_blocking(fd, True)
    if st.st_size == 0:
        os.fchmod(fd, mode)
    return fd


@dataclass(frozen=True)
class Entry:
    """One entry met by :func:`walk`: its path relative to the walk's top and what it is."""

    rel: str
    kind: str


def walk(top: str | os.PathLike, max_entries: int = 10_000_000) -> Iterator[Entry]:
    """Every entry under the real directory ``top`` in sorted order, depth first; directories
    are descended, never symlinks (a symlink is yielded as one, and not followed)."""
    top = Path(top)
    stack: list[tuple[Path, str]] = [(top, "")]
    seen = 0
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for e in entries:
            seen += 1
            if seen > max_entries:
                return
            rel = f"{prefix}{e.name}"
            kind = kind_of(e.stat(follow_symlinks=False).st_mode)
            yield Entry(rel, kind)
            if kind == "directory":
                subdirs.append((Path(e.path), rel + "/"))
        stack.extend(reversed(subdirs))
