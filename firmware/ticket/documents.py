"""The documents a ticket asks the customer to read: each named by its SHA-256.

A sale may add its own documents (the 投保提示书 of this product, a clause the insurer wants
read) to the reading nodes of its script: the ticket lists at most :data:`MAX_TICKET_DOCUMENTS`
of them, each the SHA-256 of the PDF as 64 lowercase hex digits, optionally with a title. The
unit shows them at its reading nodes after the template's own, from the document library
delivered with the signed configuration; one that is not there, or whose bytes no longer hash
to its SHA-256, refuses the node (``document_missing``). The hash is what binds: a title only
helps a person reading the ticket spec, the library's title is what the screen shows.

Dict form (a ticket spec): ``"documents": ["<sha256>", {"sha256": "<sha256>", "title": "…"}]``.
In the QR (:mod:`firmware.ticket.wire`) each is its 32 raw bytes, or ``{1: bytes, 2: title}``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from firmware.people.errors import FieldError
from firmware.ticket.product import display_text

MAX_TICKET_DOCUMENTS = 8
MAX_TITLE_CHARS = 40
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TicketDocument:
    """One document the customer reads: its SHA-256 (hex) and an optional title."""

    sha256: str
    title: str = ""

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "TicketDocument":
        if isinstance(data, str):
            return cls(_sha256(data, where))
        if not isinstance(data, Mapping):
            raise FieldError(where, "must be a SHA-256 (64 lowercase hex digits) or "
                             "{\"sha256\": ..., \"title\": ...}")
        unknown = set(data) - {"sha256", "title"}
        if unknown or "sha256" not in data:
            raise FieldError(where, "must have the key sha256 and may have title"
                             + (f"; unknown: {', '.join(sorted(map(str, unknown)))}"
                                if unknown else ""))
        sha = _sha256(data["sha256"], f"{where}.sha256")
        title = display_text(data["title"], f"{where}.title", MAX_TITLE_CHARS) \
            if "title" in data else ""
        return cls(sha, title)

    def to_dict(self) -> str | dict[str, str]:
        return {"sha256": self.sha256, "title": self.title} if self.title else self.sha256


def _sha256(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise FieldError(where, "must be a SHA-256: 64 lowercase hex digits")
    return value


def ticket_documents(value: Any, field: str) -> tuple[TicketDocument, ...]:
    """The ``documents`` of a ticket: a list of 1 to :data:`MAX_TICKET_DOCUMENTS` documents,
    none listed twice (leave the key out for none)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TICKET_DOCUMENTS:
        raise FieldError(field, f"must be a list of 1 to {MAX_TICKET_DOCUMENTS} documents "
                         "(SHA-256s); leave it out for none")
    documents = tuple(TicketDocument.from_dict(item, f"{field}[{i}]")
                      for i, item in enumerate(value))
    seen: set[str] = set()
    for i, doc in enumerate(documents):
        if doc.sha256 in seen:
            raise FieldError(f"{field}[{i}]", f"lists document {doc.sha256[:12]}… twice")
        seen.add(doc.sha256)
    return documents
