"""The library of documents on the unit: PDFs named by their SHA-256, pages rendered to PNG.

A ticket or a script template names the documents of a reading node by SHA-256; the library is
a directory with the PDFs and a ``manifest.toml`` that gives each hash its file, its title and
the minimum time each page must be shown::

    [[document]]
    sha256 = "3f1c…"                 # 64 lowercase hex digits: the file's SHA-256
    file = "toubao-tishishu.pdf"     # a plain file name in the library's directory
    title = "投保提示书"
    min_page_seconds = 5

:meth:`DocumentLibrary.open` reads the file (never through a symlink), checks its hash and keeps
the verified bytes; pages are rendered from those bytes only, so what the screen shows is
exactly what was hashed, even if the file changes later. A document that is not in the library
or whose bytes no longer match its hash is an error naming it (for the flow's
``document_missing`` refusal). The library is filled, and its manifest written, from the back
office's signed configuration bundle (:mod:`firmware.unit.document_delivery`); the rules of a
manifest's entries are :mod:`firmware.config.documents`'s. Rendering uses pdfium (pypdfium2),
which is not thread-safe: every pdfium call here holds the library's lock. Rendered pages are
cached by (sha256, page, width) up to ``cache_bytes``.
"""
from __future__ import annotations

import collections
import hashlib
import io
import os
import stat
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2

from firmware.config.documents import MANIFEST, DocumentEntry, document_entries
from firmware.unit.display.errors import (DocumentAlteredError, DocumentMissingError,
                                     DocumentUnreadableError, ManifestError)

MAX_MANIFEST_BYTES = 256 * 1024
WIDTH_STEP = 80
MIN_WIDTH, MAX_WIDTH = 160, 2000
#: What to do about a document that is not in the library, or no longer as signed.
DELIVER = ("deliver it with the back office's signed configuration bundle (dualrec config "
           "apply-bundle BUNDLE --documents DIR)")


@dataclass(frozen=True)
class Document:
    """A verified document: its bytes hash to ``sha256``; ``pages`` counted by pdfium."""

    sha256: str
    title: str
    pages: int
    min_page_seconds: float
    data: bytes = field(repr=False)

    @property
    def min_page_ms(self) -> int:
        return int(self.min_page_seconds * 1000)


def render_width(width: int) -> int:
    """``width`` rounded up to a multiple of 80 within 160..2000: what is rendered and cached
    (a page asked for at any width costs at most 25 sizes per page in the cache)."""
    width = max(MIN_WIDTH, min(MAX_WIDTH, int(width)))
    return -(-width // WIDTH_STEP) * WIDTH_STEP


def _load_manifest(path: Path) -> dict[str, DocumentEntry]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ManifestError(f"{path}: the document library has no manifest; {DELIVER}") \
            from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open the manifest ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"{path}: not TOML: {exc}") from None
    if set(data) - {"document"} or not isinstance(data.get("document", []), list):
        raise ManifestError(f"{path}: only [[document]] tables are allowed, found "
                            f"{sorted(set(data) - {'document'}) or 'document'}")
    found, problems = document_entries(data.get("document", []), f"{path}: document")
    if problems:
        raise ManifestError("; ".join(problems))
    return {entry.sha256: entry for entry in found}


class DocumentLibrary:
    """The PDFs in ``root`` listed in its ``manifest.toml``. Thread-safe."""

    def __init__(self, root: str | Path, *, max_document_bytes: int = 32 * 1024 * 1024,
                 cache_bytes: int = 24 * 1024 * 1024, max_open: int = 16,
                 problem: str | None = None) -> None:
        self.root = Path(root)
        self.max_document_bytes = max_document_bytes
        self.cache_bytes = cache_bytes
        self.max_open = max_open
        self.problem = problem
        self.entries = {} if problem else _load_manifest(self.root / MANIFEST)
        self._lock = threading.Lock()
        self._open: collections.OrderedDict[str, Document] = collections.OrderedDict()
        self._pngs: collections.OrderedDict[tuple[str, int, int], bytes] = \
            collections.OrderedDict()
        self._png_bytes = 0

    @classmethod
    def load(cls, root: str | Path, **kwargs) -> "DocumentLibrary":
        """The library in ``root``; when its manifest is missing or unusable, an empty library
        whose :attr:`problem` says why (the unit still records; every document it is asked
        for is then missing, with that reason). The daemon opens its library this way."""
        try:
            return cls(root, **kwargs)
        except ManifestError as exc:
            return cls(root, problem=str(exc), **kwargs)

    def entry(self, sha256: str) -> DocumentEntry:
        """The manifest's entry for ``sha256``, or DocumentMissingError."""
        entry = self.entries.get(sha256)
        if entry is None:
            why = f" ({self.problem})" if self.problem else f" (not listed in {MANIFEST})"
            raise DocumentMissingError(
                f"document {sha256} is not in the library {self.root}{why}: {DELIVER}", sha256)
        return entry

    def _read(self, entry: DocumentEntry) -> bytes:
        path = self.root / entry.file
        what = f"document {entry.sha256} ({entry.title}, {path})"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise DocumentMissingError(f"{what} is missing: {DELIVER}", entry.sha256) from None
        except OSError as exc:
            raise DocumentMissingError(f"{what} cannot be opened ({exc.strerror}); a symlink "
                                       "is not followed", entry.sha256) from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise DocumentMissingError(f"{what} is not a regular file", entry.sha256)
            data = f.read(self.max_document_bytes + 1)
        if len(data) > self.max_document_bytes:
            raise DocumentAlteredError(f"{what} is larger than {self.max_document_bytes} bytes",
                                       entry.sha256)
        actual = hashlib.sha256(data).hexdigest()
        if actual != entry.sha256:
            raise DocumentAlteredError(f"{what} was altered: its SHA-256 is now {actual}; "
                                       f"{DELIVER}", entry.sha256)
        return data

    def open(self, sha256: str) -> Document:
        """Read and verify the document named by ``sha256`` (every call reads the file again:
        call it when a reading node starts)."""
        entry = self.entry(sha256)
        data = self._read(entry)
        with self._lock:
            try:
                pdf = pypdfium2.PdfDocument(data)
            except pypdfium2.PdfiumError as exc:
                raise DocumentUnreadableError(f"document {sha256} ({entry.title}) is not a "
                                              f"PDF pdfium can open: {exc}", sha256) from None
            try:
                pages = len(pdf)
            finally:
                pdf.close()
            if pages < 1:
                raise DocumentUnreadableError(f"document {sha256} ({entry.title}) has no pages",
                                              sha256)
            doc = Document(sha256, entry.title, pages, entry.min_page_seconds, data)
            self._open[sha256] = doc
            self._open.move_to_end(sha256)
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)
        return doc

    def render_png(self, sha256: str, page: int, width: int) -> bytes:
        """Page ``page`` (from 1) of a verified document as PNG, ``render_width(width)`` pixels
        wide; opens (verifies) the document first if it is not open."""
        width = render_width(width)
        key = (sha256, page, width)
        with self._lock:
            png = self._pngs.get(key)
            if png is not None:
                self._pngs.move_to_end(key)
                return png
            doc = self._open.get(sha256)
        if doc is None:
            doc = self.open(sha256)
        if not 1 <= page <= doc.pages:
            raise DocumentUnreadableError(f"document {sha256} ({doc.title}) has no page {page} "
                                          f"(it has {doc.pages})", sha256)
        with self._lock:
            png = self._render(doc, page, width)
            self._pngs[key] = png
            self._png_bytes += len(png)
            while self._png_bytes > self.cache_bytes and len(self._pngs) > 1:
                self._png_bytes -= len(self._pngs.popitem(last=False)[1])
        return png

    @staticmethod
    def _render(doc: Document, page: int, width: int) -> bytes:
        pdf = pypdfium2.PdfDocument(doc.data)
        try:
            pdf_page = pdf[page - 1]
            try:
                bitmap = pdf_page.render(scale=width / pdf_page.get_width(),
                                         may_draw_forms=False)
                try:
                    out = io.BytesIO()
                    bitmap.to_pil().save(out, format="PNG", compress_level=6)
                finally:
                    bitmap.close()
            finally:
                pdf_page.close()
        finally:
            pdf.close()
        return out.getvalue()
