"""The reading tracker: has every page of every document been on screen long enough?

Driven by the session flow from the screen's input events, on the unit's monotonic clock:

- ``turn(sha, page)``: the customer asked for another page (``InputEvent`` kind ``page``); the
  page on screen stops counting (the browser replaces it), and the view shows the new one.
- ``shown(sha, page)``: the browser reports the page's image is on screen (kind ``shown``); it
  counts from then on.
- ``hidden()``: no screen shows the page any more (kind ``viewers`` with 0, or node end).
- ``confirm(sha)``: "I have read it" (kind ``read``), accepted once every page of it was read.

A page is read once its time on screen, summed over all its showings, reaches the document's
minimum (and it was shown at all, when the minimum is 0). :meth:`unread` says what remains, for
the ``pages_unread`` refusal; each showing of a page is reported through ``on_page`` with its
start and end, for the chain. Not thread-safe: call it from the flow's worker thread only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from drivers.clock.base import Clock
from firmware.unit.display.view import DocumentView, ReadingView

if TYPE_CHECKING:   # the tracker needs only the documents' fields, not pdfium
    from firmware.unit.display.documents import Document


@dataclass(frozen=True)
class PageShown:
    """One showing of a page: ``start_ns``..``end_ns`` on the unit's monotonic clock;
    ``total_ms`` is the page's time on screen so far, ``read`` whether that reaches its minimum."""

    sha256: str
    page: int
    start_ns: int
    end_ns: int
    total_ms: int
    read: bool

    def as_record(self) -> dict:
        return {"document": self.sha256, "page": self.page, "start_ns": self.start_ns,
                "end_ns": self.end_ns, "total_ms": self.total_ms, "read": self.read}


@dataclass(frozen=True)
class Unread:
    """What remains of one document: pages not yet read, and whether "I have read it" is due."""

    sha256: str
    title: str
    pages: tuple[int, ...]
    unconfirmed: bool


def _ranges(pages: Sequence[int]) -> str:
    parts, start = [], None
    for i, page in enumerate(pages):
        if start is None:
            start = page
        if i + 1 == len(pages) or pages[i + 1] != page + 1:
            parts.append(f"{start}" if start == page else f"{start}–{page}")
            start = None
    return "、".join(parts)


class ReadingTracker:
    """The reading of ``documents`` at one node. ``on_page`` gets each :class:`PageShown`."""

    def __init__(self, documents: Sequence[Document], clock: Clock, *,
                 on_page: Callable[[PageShown], None] | None = None,
                 require_confirmation: bool = True) -> None:
        if not documents:
            raise ValueError("a reading node needs at least one document")
        self.documents = tuple(documents)
        self.clock = clock
        self.require_confirmation = require_confirmation
        self._on_page = on_page
        self._index = {d.sha256: i for i, d in enumerate(self.documents)}
        self._shown_ms: dict[tuple[str, int], int] = {}
        self._confirmed: set[str] = set()
        self.current = 0
        self.page = 1
        self._on_screen: tuple[str, int, int] | None = None   # sha, page, since_ns

    def _doc(self, sha256: str, page: int | None = None) -> Document:
        if sha256 not in self._index:
            raise ValueError(f"document {sha256} is not one of this node's documents")
        doc = self.documents[self._index[sha256]]
        if page is not None and not 1 <= page <= doc.pages:
            raise ValueError(f"document {doc.title} has no page {page} (it has {doc.pages})")
        return doc

    def _now(self, at_ns: int | None) -> int:
        return self.clock.monotonic_ns() if at_ns is None else at_ns

    def _end_showing(self, at_ns: int) -> None:
        if self._on_screen is None:
            return
        sha, page, since = self._on_screen
        self._on_screen = None
        key = (sha, page)
        self._shown_ms[key] = self._shown_ms.get(key, 0) + max(0, at_ns - since) // 1_000_000
        if self._on_page is not None:
            self._on_page(PageShown(sha, page, since, at_ns, self._shown_ms[key],
                                    self._is_read(sha, page, at_ns)))

    def _time_ms(self, sha: str, page: int, now_ns: int) -> int | None:
        """Time on screen so far, None if never shown."""
        done = self._shown_ms.get((sha, page))
        if self._on_screen is not None and self._on_screen[:2] == (sha, page):
            return (done or 0) + max(0, now_ns - self._on_screen[2]) // 1_000_000
        return done

    def _is_read(self, sha: str, page: int, now_ns: int) -> bool:
        shown = self._time_ms(sha, page, now_ns)
        return shown is not None and shown >= self.documents[self._index[sha]].min_page_ms

    def turn(self, sha256: str, page: int, at_ns: int | None = None) -> None:
        """The customer asked for ``page`` of ``sha256``: it becomes the page the view shows;
        the page on screen stops counting until the browser reports the new one shown."""
        self._doc(sha256, page)
        self._end_showing(self._now(at_ns))
        self.current, self.page = self._index[sha256], page

    def shown(self, sha256: str, page: int, at_ns: int | None = None) -> None:
        """The screen shows ``page`` of ``sha256`` from ``at_ns`` on. A report for another page
        than the one asked for (a late message) is ignored."""
        self._doc(sha256, page)
        if (self._index[sha256], page) != (self.current, self.page):
            return
        now = self._now(at_ns)
        if self._on_screen is not None and self._on_screen[:2] == (sha256, page):
            return
        self._end_showing(now)
        self._on_screen = (sha256, page, now)

    def hidden(self, at_ns: int | None = None) -> None:
        """Nothing shows the page any more (the screen disconnected, or the node ends)."""
        self._end_showing(self._now(at_ns))

    close = hidden

    def confirm(self, sha256: str, at_ns: int | None = None) -> bool:
        """"I have read it" for ``sha256``: True and recorded if every page of it was read."""
        doc = self._doc(sha256)
        now = self._now(at_ns)
        if any(not self._is_read(sha256, p, now) for p in range(1, doc.pages + 1)):
            return False
        self._confirmed.add(sha256)
        return True

    def unread(self, now_ns: int | None = None) -> tuple[Unread, ...]:
        """What remains to be read (empty when NEXT may go on)."""
        now = self._now(now_ns)
        out = []
        for doc in self.documents:
            pages = tuple(p for p in range(1, doc.pages + 1) if not self._is_read(doc.sha256, p,
                                                                                   now))
            unconfirmed = self.require_confirmation and doc.sha256 not in self._confirmed
            if pages or unconfirmed:
                out.append(Unread(doc.sha256, doc.title, pages, unconfirmed))
        return tuple(out)

    def detail(self, now_ns: int | None = None) -> str:
        """The unread pages in words, for the refusal's detail: ``《条款》第 2–4 页未读``."""
        words = []
        for item in self.unread(now_ns):
            if item.pages:
                words.append(f"《{item.title}》第 {_ranges(item.pages)} 页未读")
            else:
                words.append(f"《{item.title}》未点“我已阅读”")
        return "；".join(words)

    def view(self, now_ns: int | None = None) -> ReadingView:
        """The reading part of the display view as of ``now_ns``."""
        now = self._now(now_ns)
        docs = tuple(DocumentView(d.sha256, d.title, d.pages, d.min_page_ms,
                                  tuple(p for p in range(1, d.pages + 1)
                                        if self._is_read(d.sha256, p, now)),
                                  d.sha256 in self._confirmed) for d in self.documents)
        sha = self.documents[self.current].sha256
        return ReadingView(docs, self.current, self.page,
                           self._time_ms(sha, self.page, now) or 0)
