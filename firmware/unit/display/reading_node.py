"""One reading node of a session: its documents opened from the library, the tracker of the
customer's reading, and what goes on the chain.

At the node's start every document the template and the ticket name is read from the library
and its SHA-256 checked (:meth:`DocumentLibrary.open`); one that is missing, altered or not a
PDF keeps NEXT refused with ``document_missing`` for the whole node. The customer's input from
the screen (turn, shown, read, viewers) drives a :class:`ReadingTracker`; when the counter's
reading is ``required`` (someone who reads at this node is at the counter:
:mod:`firmware.unit.session.node_duties`), NEXT is refused with ``pages_unread`` until every
page of every document was on screen for its minimum time and "我已阅读" was pressed for each.
When it is not, the documents are still shown and what is read still recorded.

On the chain (``record(kind, data)``, the session's EVENTs):

- ``screen_documents`` at the start: the documents shown (hash, title, pages, minimum time per
  page) and those that could not be (hash and why: ``missing``, ``altered``, ``unreadable``);
- ``screen_page`` for each showing of a page: document, page, start and end on the unit's
  monotonic clock, the page's total time on screen, whether it counts as read;
- ``screen_read`` for each "我已阅读": the document, when, and whether it was accepted.

Not thread-safe: the flow's thread only.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

from drivers.clock.base import Clock
from firmware.unit.display.documents import Document, DocumentLibrary
from firmware.unit.display.errors import (DocumentAlteredError, DocumentError,
                                          DocumentMissingError)
from firmware.unit.display.events import InputEvent
from firmware.unit.display.reading import PageShown, ReadingTracker
from firmware.unit.display.view import MAX_DOCUMENTS, ReadingView

log = logging.getLogger(__name__)


def _problem(exc: DocumentError) -> str:
    if isinstance(exc, DocumentMissingError):
        return "missing"
    if isinstance(exc, DocumentAlteredError):
        return "altered"
    return "unreadable"


def node_documents(template_documents: Sequence[str], ticket_documents: Sequence[str]
                   ) -> tuple[str, ...]:
    """The documents a reading node shows: the template's, then the ticket's, each once, at
    most MAX_DOCUMENTS."""
    out: list[str] = []
    for sha in (*template_documents, *ticket_documents):
        if sha not in out:
            out.append(sha)
    return tuple(out[:MAX_DOCUMENTS])


class ReadingNode:
    """The reading of ``documents`` (SHA-256s) at node ``node_id``; see the module docstring.
    ``required``: NEXT waits for the counter's reading."""

    def __init__(self, node_id: str, documents: Sequence[str], library: DocumentLibrary,
                 clock: Clock, record: Callable[[str, dict], object], *,
                 required: bool = True) -> None:
        self.node_id = node_id
        self.required = required
        self._clock = clock
        self._record = record
        self._library = library
        opened: list[Document] = []
        self.missing: list[tuple[str, str]] = []       # (sha256, missing|altered|unreadable)
        for sha in documents:
            try:
                opened.append(library.open(sha))
            except DocumentError as exc:
                log.error("node %s: document %s cannot be shown: %s", node_id, sha, exc)
                self.missing.append((sha, _problem(exc)))
        self.documents = tuple(opened)
        self.tracker = (ReadingTracker(self.documents, clock, on_page=self._page_shown)
                        if self.documents else None)
        record("screen_documents", {
            "node": node_id,
            "documents": [{"sha256": d.sha256, "title": d.title, "pages": d.pages,
                           "min_page_ms": d.min_page_ms} for d in self.documents],
            "missing": [{"sha256": sha, "problem": why} for sha, why in self.missing]})

    def _page_shown(self, shown: PageShown) -> None:
        self._record("screen_page", {"node": self.node_id, **shown.as_record()})

    # -- NEXT ----------------------------------------------------------------------------------
    def refusal(self, now_ns: int) -> str | None:
        if self.missing:
            return "document_missing"
        if self.required and self.tracker is not None and self.tracker.unread(now_ns):
            return "pages_unread"
        return None

    def detail(self, code: str, now_ns: int) -> str:
        """The refusal's detail in words: which pages are unread, which documents are missing."""
        if code == "pages_unread" and self.tracker is not None:
            return self.tracker.detail(now_ns)
        if code == "document_missing":
            words = []
            for sha, why in self.missing:
                entry = self._library.entries.get(sha)
                name = f"《{entry.title}》" if entry else f"文件 {sha[:12]}… "
                words.append(name + {"missing": "不在设备的文件库中", "altered": "已被改动",
                                     "unreadable": "无法打开"}[why])
            return "；".join(words)
        return ""

    # -- the screen ----------------------------------------------------------------------------
    def view(self, now_ns: int) -> ReadingView | None:
        return self.tracker.view(now_ns) if self.tracker is not None else None

    def read_marks(self, now_ns: int) -> tuple:
        """What of the reading view changes by time alone (pages becoming read): a view is
        published again only when this or an input changes it, not as the page's time runs."""
        view = self.view(now_ns)
        return () if view is None else tuple((d.read_pages, d.confirmed) for d in view.documents)

    def handle(self, event: InputEvent) -> bool:
        """One input from the screen; True when the view changed. Input for a document or page
        that is not on screen any more (it crossed a node change) is ignored."""
        tracker = self.tracker
        if tracker is None:
            return False
        try:
            if event.kind == "page":
                tracker.turn(event.document, event.page, event.at_ns)
                return True
            if event.kind == "shown":
                tracker.shown(event.document, event.page, event.at_ns)
                return False
            if event.kind == "read":
                accepted = tracker.confirm(event.document, event.at_ns)
                self._record("screen_read", {"node": self.node_id, "document": event.document,
                                             "at_ns": event.at_ns, "accepted": accepted})
                return accepted
        except ValueError as exc:
            log.info("node %s: screen input %s ignored: %s", self.node_id, event.kind, exc)
            return False
        if event.kind == "viewers" and event.viewers == 0:
            tracker.hidden(event.at_ns)
        return False

    def close(self, at_ns: int | None = None) -> None:
        """The node ends: the page on screen stops counting (its showing is recorded)."""
        if self.tracker is not None:
            self.tracker.hidden(at_ns)
