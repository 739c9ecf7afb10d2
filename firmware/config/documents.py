"""The documents of the customer's screen as the back office signs them: a manifest.

A configuration bundle (:mod:`firmware.config.bundle`) may carry ``documents``, the list of
documents the unit's library holds: each one's SHA-256 (the PDF's, 64 lowercase hex digits),
the file name it travels under, its title and the minimum time each page is shown::

    "documents": [{"sha256": "865a…", "file": "toubao-tishishu.pdf", "title": "投保提示书",
                   "min_page_seconds": 5}, ...]

The PDFs themselves are too large for a bundle (64 KiB); they travel beside it and each is
checked against its SHA-256 before it enters the library (:mod:`firmware.unit.document_delivery`).
The same entries, as ``[[document]]`` tables, are the library's ``manifest.toml``
(:mod:`firmware.unit.display.documents`), and :func:`manifest_toml` writes them; the rules are
checked here once for both.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

MANIFEST = "manifest.toml"
MAX_DOCUMENTS = 64
MAX_TITLE_CHARS = 100
MAX_PAGE_SECONDS = 600
SHA256 = re.compile(r"[0-9a-f]{64}")
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.pdf")
KEYS = frozenset({"sha256", "file", "title", "min_page_seconds"})
#: Not in a title shown to the customer: control, invisible formatting (bidirectional
#: overrides), private-use and unassigned characters, line and paragraph separators.
REFUSED_IN_TITLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


@dataclass(frozen=True)
class DocumentEntry:
    """One document of the library: which file holds the document of this hash, its title,
    and how long (seconds) each of its pages must be shown before it counts as read."""

    sha256: str
    file: str
    title: str
    min_page_seconds: float

    def to_dict(self) -> dict[str, Any]:
        secs = self.min_page_seconds
        return {"sha256": self.sha256, "file": self.file, "title": self.title,
                "min_page_seconds": int(secs) if secs == int(secs) else secs}


def document_entries(items: Any, where: str) -> tuple[tuple[DocumentEntry, ...], list[str]]:
    """The entries in ``items`` (a list of ``{sha256, file, title, min_page_seconds}``) and
    every problem found, each naming ``where[i].key``; an entry with a problem is left out.
    No hash and no file name twice."""
    if not isinstance(items, list):
        return (), [f"{where}: must be a list of documents"]
    if len(items) > MAX_DOCUMENTS:
        return (), [f"{where}: at most {MAX_DOCUMENTS} documents, not {len(items)}"]
    entries: list[DocumentEntry] = []
    problems: list[str] = []
    hashes: set[str] = set()
    files: set[str] = set()
    for i, doc in enumerate(items):
        at = f"{where}[{i}]"
        if not isinstance(doc, dict) or set(doc) != KEYS:
            problems.append(f"{at}: needs exactly the keys {', '.join(sorted(KEYS))}")
            continue
        before = len(problems)
        sha, name, title, secs = doc["sha256"], doc["file"], doc["title"], doc["min_page_seconds"]
        if not isinstance(sha, str) or not SHA256.fullmatch(sha):
            problems.append(f"{at}.sha256: must be 64 lowercase hex digits")
        elif sha in hashes:
            problems.append(f"{at}.sha256: {sha} is listed twice")
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
            problems.append(f"{at}.file: must be a plain file name ending .pdf")
        elif name in files:
            problems.append(f"{at}.file: {name} is listed twice")
        if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE_CHARS:
            problems.append(f"{at}.title: must be 1 to {MAX_TITLE_CHARS} characters")
        elif any(unicodedata.category(c) in REFUSED_IN_TITLE for c in title):
            problems.append(f"{at}.title: must not hold control or invisible characters")
        if isinstance(secs, bool) or not isinstance(secs, (int, float)) \
                or not 0 <= secs <= MAX_PAGE_SECONDS:
            problems.append(f"{at}.min_page_seconds: must be a number 0..{MAX_PAGE_SECONDS}")
        if len(problems) == before:
            hashes.add(sha)
            files.add(name)
            entries.append(DocumentEntry(sha, name, title, float(secs)))
    return tuple(entries), problems


def manifest_toml(entries: tuple[DocumentEntry, ...], comment: str) -> bytes:
    """The library's ``manifest.toml`` listing ``entries`` (``comment`` on its first lines)."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for entry in entries:
        secs = entry.to_dict()["min_page_seconds"]
        lines += ["", "[[document]]", f"sha256 = {_toml_string(entry.sha256)}",
                  f"file = {_toml_string(entry.file)}",
                  f"title = {_toml_string(entry.title)}",
                  f"min_page_seconds = {secs!r}"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: a JSON string is one, except that TOML also wants
    DEL (U+007F) escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
