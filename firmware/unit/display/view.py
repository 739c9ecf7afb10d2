"""What the customer's screen shows: :class:`DisplayView`, a typed, immutable snapshot.

The session flow builds a view and publishes it; the server keeps only the latest one. A view
can only hold what may be shown: people by role with masked names (``王*``), and no text that
looks like an ID number or a phone number anywhere (:class:`~firmware.unit.display.errors.ViewError`
otherwise). All times are on the unit's monotonic clock (``*_ns``) or relative (``*_ms``); the
server converts them for the browser when it sends a view.

:meth:`DisplayView.parts` splits a view into the parts whose change is recorded on the chain
(``state``, ``node``, ``caption``, ``needs``, ``refusal``, ``people``, ``page``, ``reading``),
each as canonical-JSON-able data whose SHA-256 is the content hash of a ScreenChange.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from firmware.unit.display import captions
from firmware.unit.display.captions import CaptionPhrase
from firmware.unit.display.errors import ViewError
from firmware.unit.display.refusals import NEED_WORDS, NEEDS, refusal_words
from firmware.people.customers import ROLE_LABELS

STATES = ("idle", "recording", "fault", "refused")
ROLES = {**ROLE_LABELS, "salesperson": "销售人员", "beneficiary": "受益人"}
IDLE_HINT = "请出示双录二维码"
MAX_TEXT = 2000
MAX_PEOPLE = 16
MAX_DOCUMENTS = 16

_MASKED = re.compile(r"[^\W\d_]\*")
# An ID number: any run of 15 or more digits (ASCII or full-width: the 18-character resident ID
# and the old 15-digit form), also when written in groups (110101 19900307 123X); a mainland
# mobile number, with or without +86 and separators.
_ID_LIKE = re.compile(r"\d{15,}|\d{6}[ -]\d{8}[ -]?\d{3}[\dXx]|\d{6}[ -]?\d{8}[ -]\d{3}[\dXx]")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _checked_text(value: Any, where: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ViewError(f"{where} must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise ViewError(f"{where} is {len(value)} characters long; at most {limit} fit the screen")
    if _ID_LIKE.search(value):
        raise ViewError(f"{where} holds what looks like an ID number; the screen never shows one")
    if _PHONE.search(value):
        raise ViewError(f"{where} holds what looks like a phone number; the screen never shows one")
    return value


def mask_name(name: str) -> str:
    """``王小明`` -> ``王*``; ``Anna Schmidt`` -> ``A*``: the first letter and one star, which
    hides the length of the name too."""
    stripped = name.strip()
    if not stripped or not _MASKED.fullmatch(stripped[0] + "*"):
        raise ViewError("a name to mask must start with a letter")
    return stripped[0] + "*"


@dataclass(frozen=True)
class Person:
    """One party of the session by role, with the masked name only (build with :meth:`of`)."""

    role: str
    masked_name: str
    remote: bool = False

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ViewError(f"person role {self.role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(self.masked_name, str) or not _MASKED.fullmatch(self.masked_name):
            raise ViewError(f"the {self.role}'s name must be masked as one letter and '*' "
                            "(build it with Person.of(role, name))")

    @classmethod
    def of(cls, role: str, name: str, remote: bool = False) -> "Person":
        return cls(role, mask_name(name), remote)

    def as_data(self) -> dict[str, Any]:
        return {"role": self.role, "label": ROLES[self.role], "name": self.masked_name,
                "remote": self.remote}


@dataclass(frozen=True)
class NodeView:
    """The current step: ``number`` of ``total`` (from 1) and its title."""

    number: int
    total: int
    title: str

    def __post_init__(self) -> None:
        if not (isinstance(self.number, int) and isinstance(self.total, int)
                and 1 <= self.number <= self.total <= 999):
            raise ViewError(f"node number {self.number!r} of {self.total!r}: need 1 <= number "
                            "<= total <= 999")
        _checked_text(self.title, "node title", 200)


@dataclass(frozen=True)
class Caption:
    """The prompt as captions: its text, its phrases with start offsets, and when the voice
    started (``started_ns``, the unit's monotonic clock; None while it has not started or is
    unknown: the page then shows the whole text)."""

    text: str
    phrases: tuple[CaptionPhrase, ...] = ()
    started_ns: int | None = None

    def __post_init__(self) -> None:
        _checked_text(self.text, "caption")
        offsets = [p.start_ms for p in self.phrases]
        if offsets != sorted(offsets):
            raise ViewError("caption phrases must be in the order they are spoken")
        for i, phrase in enumerate(self.phrases):
            _checked_text(phrase.text, f"caption phrase {i + 1}", 200)

    @classmethod
    def spoken(cls, text: str, duration_ms: int, started_ns: int | None) -> "Caption":
        """A caption for a prompt of ``duration_ms`` whose voice started at ``started_ns``."""
        return cls(text, captions.split(text, duration_ms), started_ns)

    def as_data(self) -> dict[str, Any]:
        return {"text": self.text, "started_ns": self.started_ns,
                "phrases": [{"text": p.text, "start_ms": p.start_ms} for p in self.phrases]}


@dataclass(frozen=True)
class Refusal:
    """The last refusal of NEXT: the flow's reason ``code``, an optional ``detail`` (which
    pages are unread, how many seconds remain) and when it happened (unit's clock)."""

    code: str
    at_ns: int
    detail: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", str(self.code)):
            raise ViewError(f"refusal code {self.code!r} must be a lowercase identifier")
        _checked_text(self.detail, "refusal detail", 300)

    @property
    def words(self) -> str:
        return refusal_words(self.code)

    def as_data(self) -> dict[str, Any]:
        return {"code": self.code, "words": self.words, "detail": self.detail,
                "at_ns": self.at_ns}


@dataclass(frozen=True)
class DocumentView:
    """One document of a reading node: which pages were read long enough, whether the customer
    said "I have read it"."""

    sha256: str
    title: str
    pages: int
    min_page_ms: int
    read_pages: tuple[int, ...] = ()
    confirmed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256):
            raise ViewError(f"document sha256 {self.sha256!r} must be 64 lowercase hex digits")
        _checked_text(self.title, f"title of document {self.sha256[:12]}", 200)
        if not isinstance(self.pages, int) or not 1 <= self.pages <= 2000:
            raise ViewError(f"document {self.title!r} has {self.pages!r} pages; need 1..2000")
        if any(not 1 <= p <= self.pages for p in self.read_pages):
            raise ViewError(f"document {self.title!r}: read pages {self.read_pages} outside "
                            f"1..{self.pages}")

    def as_data(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "title": self.title, "pages": self.pages,
                "min_page_ms": self.min_page_ms, "read_pages": list(self.read_pages),
                "confirmed": self.confirmed}


@dataclass(frozen=True)
class ReadingView:
    """The documents of a reading node and the page on screen: ``page`` (from 1) of
    ``documents[current]``, shown for ``page_shown_ms`` so far (for the page's countdown)."""

    documents: tuple[DocumentView, ...]
    current: int = 0
    page: int = 1
    page_shown_ms: int = 0

    def __post_init__(self) -> None:
        if not 1 <= len(self.documents) <= MAX_DOCUMENTS:
            raise ViewError(f"a reading node shows 1 to {MAX_DOCUMENTS} documents, not "
                            f"{len(self.documents)}")
        if not 0 <= self.current < len(self.documents):
            raise ViewError(f"current document {self.current} is not one of the "
                            f"{len(self.documents)} documents")
        doc = self.documents[self.current]
        if not 1 <= self.page <= doc.pages:
            raise ViewError(f"page {self.page} of {doc.title!r}, which has {doc.pages} pages")

    def document(self, sha256: str) -> DocumentView | None:
        return next((d for d in self.documents if d.sha256 == sha256), None)


@dataclass(frozen=True)
class DisplayView:
    """Everything the screen shows at one moment. ``min_until_ns``: the end of the node's
    minimum time on the unit's monotonic clock (the page counts down to it)."""

    state: str = "idle"
    status: str = ""
    hint: str = IDLE_HINT
    node: NodeView | None = None
    caption: Caption | None = None
    needs: tuple[str, ...] = ()
    min_until_ns: int | None = None
    refusal: Refusal | None = None
    people: tuple[Person, ...] = ()
    elder: bool = False
    reading: ReadingView | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ViewError(f"state {self.state!r} is not one of {', '.join(STATES)}")
        _checked_text(self.status, "status", 200)
        _checked_text(self.hint, "hint", 200)
        unknown = [n for n in self.needs if n not in NEEDS]
        if unknown:
            raise ViewError(f"needs {unknown} are not among {', '.join(NEEDS)}")
        if len(self.people) > MAX_PEOPLE or not all(isinstance(p, Person) for p in self.people):
            raise ViewError(f"people must be at most {MAX_PEOPLE} Person values (masked names)")
        for f in fields(self):
            if f.name in ("node", "caption", "refusal", "reading"):
                value = getattr(self, f.name)
                expected = {"node": NodeView, "caption": Caption, "refusal": Refusal,
                            "reading": ReadingView}[f.name]
                if value is not None and not isinstance(value, expected):
                    raise ViewError(f"{f.name} must be a {expected.__name__} or None")

    def parts(self) -> dict[str, Any]:
        """The view as its recorded parts (canonical-JSON-able: no floats)."""
        reading = self.reading
        doc = reading.documents[reading.current] if reading else None
        return {
            "state": {"state": self.state, "status": self.status, "hint": self.hint,
                      "elder": self.elder},
            "node": None if self.node is None else {
                "number": self.node.number, "total": self.node.total, "title": self.node.title},
            "caption": None if self.caption is None else self.caption.as_data(),
            "needs": {"needs": [{"need": n, "words": NEED_WORDS[n]} for n in self.needs],
                      "min_until_ns": self.min_until_ns},
            "refusal": None if self.refusal is None else self.refusal.as_data(),
            "people": [p.as_data() for p in self.people],
            "page": None if doc is None else {"sha256": doc.sha256, "title": doc.title,
                                              "page": reading.page, "pages": doc.pages},
            "reading": None if reading is None else {
                "documents": [d.as_data() for d in reading.documents],
                "current": reading.current, "page_shown_ms": reading.page_shown_ms},
        }


PART_KINDS = ("state", "node", "caption", "needs", "refusal", "people", "page", "reading")
"""The parts of :meth:`DisplayView.parts`, in order: the kinds of ScreenChange a view causes
(the live signature adds ``signature``)."""
