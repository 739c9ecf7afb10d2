"""Documents for the customer's screen, delivered with the back office's signed configuration.

A configuration bundle signs the manifest of the document library (:mod:`firmware.config.documents`:
each document's SHA-256, file name, title, minimum time a page is shown); the PDFs travel beside
it, in a directory given to ``dualrec config apply-bundle BUNDLE --documents DIR``. When the
bundle is accepted (:meth:`firmware.unit.remote_config.RemoteConfig.accept_bundle`),
:func:`deliver_documents` takes each PDF into the library at ``[display] documents`` only if its
bytes hash to the SHA-256 the bundle signs; one missing or different refuses the whole bundle,
naming each. A document the library already holds needs no PDF (a bundle that only changes
settings is delivered without its documents).

In the library each PDF is named by its hash (``<sha256>.pdf``): a file of that name can only
ever hold those bytes, so writing a new bundle's documents never changes a file the running
daemon's manifest names. Every file is written atomically and durably
(:func:`firmware.evidence.durable.write_atomic`), the manifest last; nothing is read or written
through a symlink (a symlink in the library is replaced, never followed; the PDFs given are
opened ``O_NOFOLLOW``, at most ``max_bytes`` each).

At every start (:func:`keep_library`) the unit writes the manifest again from the accepted
bundle, checked again like the rest of it, if the file on disk says anything else, and removes
the ``<sha256>.pdf`` files the bundle no longer lists: an offline edit of the manifest (a
shorter reading time, another title) does not survive a restart, and a changed PDF is refused
at its node by the library's own hash check.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from firmware.config.bundle import BundleRefusedError, ConfigBundle
from firmware.config.documents import MANIFEST, DocumentEntry, manifest_toml
from firmware.evidence.durable import (NotRegularFileError, ensure_dir, hash_regular,
                                       read_regular, write_atomic)

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024   # as the library reads them
MAX_MANIFEST_BYTES = 256 * 1024
LIBRARY_FILE_MODE = 0o640
_DELIVERED = re.compile(r"[0-9a-f]{64}\.pdf")


class DocumentDeliveryError(BundleRefusedError):
    """A bundle's documents cannot all be taken into the library: each one missing, too large,
    or not hashing to its signed SHA-256 is named. The bundle is refused whole."""


def library_name(entry: DocumentEntry) -> str:
    """The file that holds ``entry``'s PDF in the library: ``<sha256>.pdf``."""
    return f"{entry.sha256}.pdf"


def library_entries(entries: tuple[DocumentEntry, ...]) -> tuple[DocumentEntry, ...]:
    """``entries`` as the library's manifest lists them (each file named by its hash)."""
    return tuple(DocumentEntry(e.sha256, library_name(e), e.title, e.min_page_seconds)
                 for e in entries)


def _holds(path: Path, sha256: str) -> bool:
    try:
        return hash_regular(path)[0] == sha256
    except (FileNotFoundError, NotRegularFileError):
        return False


def deliver_documents(entries: tuple[DocumentEntry, ...], library: Path, source: Path | None,
                      *, serial: int, max_bytes: int = MAX_DOCUMENT_BYTES) -> int:
    """Take the PDFs of ``entries`` from the directory ``source`` (None: none given) into
    ``library``, then write its manifest; the number of PDFs written. Raises
    :class:`DocumentDeliveryError` naming every document that is neither in the library already
    nor given with the bytes the bundle (``serial``) signs; the manifest is then untouched."""
    library = ensure_dir(library)
    problems: list[str] = []
    written = 0
    for entry in entries:
        target = library / library_name(entry)
        if _holds(target, entry.sha256):
            continue
        what = f"document {entry.sha256} ({entry.title}, {entry.file})"
        if source is None:
            problems.append(f"{what} is not in the library and no directory of PDFs was given")
            continue
        given = Path(source) / entry.file
        try:
            data = read_regular(given, max_bytes)
        except FileNotFoundError:
            problems.append(f"{what}: {given} does not exist")
            continue
        except ValueError:
            problems.append(f"{what}: {given} is larger than {max_bytes} bytes")
            continue
        except OSError as exc:
            problems.append(f"{what}: {given} cannot be read ({exc.strerror or exc})")
            continue
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            problems.append(f"{what}: {given} has SHA-256 {actual}, not the one the bundle "
                            "signs")
            continue
        write_atomic(target, data, LIBRARY_FILE_MODE)
        written += 1
    if problems:
        raise DocumentDeliveryError(
            f"bundle: refused: serial {serial} signs {len(entries)} documents for the customer's "
            f"screen, and {len(problems)} cannot be taken into the library {library}: "
            + "; ".join(problems) + ". Give the directory holding their PDFs: dualrec config "
            "apply-bundle BUNDLE --documents DIR")
    write_manifest(entries, library, serial)
    return written


def write_manifest(entries: tuple[DocumentEntry, ...], library: Path, serial: int) -> bool:
    """Write ``library``'s manifest for ``entries`` unless it already says exactly that;
    whether it was written."""
    data = manifest_toml(library_entries(entries), f"The document library, from the signed "
                         f"configuration bundle serial {serial}.\nWritten by the unit: an edit "
                         "here is undone at the next start.")
    path = Path(library) / MANIFEST
    try:
        if read_regular(path, MAX_MANIFEST_BYTES) == data:
            return False
    except (OSError, ValueError):
        pass  # missing, too large, or not a regular file: written again
    write_atomic(path, data, LIBRARY_FILE_MODE)
    return True


def keep_library(bundle: ConfigBundle, library: Path) -> list[str]:
    """At start: the library's manifest as the accepted ``bundle`` signs it, and the delivered
    PDFs it no longer lists removed. What was changed, for the log (empty: nothing). A bundle
    without documents leaves the library alone."""
    if bundle.documents is None:
        return []
    changed = []
    library = ensure_dir(library)
    if write_manifest(bundle.documents, library, bundle.serial):
        changed.append(f"{library / MANIFEST} written again from bundle serial {bundle.serial}")
    listed = {library_name(e) for e in bundle.documents}
    for entry in os.scandir(library):
        if _DELIVERED.fullmatch(entry.name) and entry.name not in listed:
            os.unlink(library / entry.name)   # a name, never followed
            changed.append(f"{library / entry.name} removed (no longer in bundle serial "
                           f"{bundle.serial})")
    return changed
