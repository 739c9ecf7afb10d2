"""A stand-in for the session flow's side of the screen at one reading node, for the browser
tests: it handles the screen's inputs as the flow will (turn, shown, read), keeps a
ReadingTracker, and publishes views with the refusal NEXT would get. Driven from the test's
thread, one input at a time, so every step is deterministic."""
from __future__ import annotations

import shutil
from pathlib import Path

from firmware.unit.display.documents import MANIFEST, DocumentLibrary
from firmware.unit.display.events import InputEvent
from firmware.unit.display.reading import PageShown, ReadingTracker
from firmware.unit.display.view import Caption, DisplayView, NodeView, Person, Refusal

PROMPT = "请您逐页阅读投保提示书、保险条款和责任免除条款，每份读完后点“我已阅读”。"

from .conftest import DOCUMENTS


def quick_library(root: Path, min_page_seconds: float = 0.3) -> DocumentLibrary:
    """The sample documents with a short minimum time per page (the browser's own countdown
    runs on real time)."""
    root.mkdir(parents=True, exist_ok=True)
    text = (DOCUMENTS / MANIFEST).read_text(encoding="utf-8")
    for path in DOCUMENTS.glob("*.pdf"):
        shutil.copy(path, root / path.name)
    (root / MANIFEST).write_text(text.replace("min_page_seconds = 5",
                                              f"min_page_seconds = {min_page_seconds}"),
                                 encoding="utf-8")
    return DocumentLibrary(root)


class ReadingFlow:
    """The reading node "阅读投保资料" (node 4 of 9) on ``screen`` (a RunningScreen)."""

    def __init__(self, screen, library: DocumentLibrary, titles: tuple[str, ...]) -> None:
        self.screen = screen
        self.clock = screen.server.clock
        by_title = {e.title: sha for sha, e in library.entries.items()}
        self.documents = [library.open(by_title[t]) for t in titles]
        self.pages: list[PageShown] = []
        self.tracker = ReadingTracker(self.documents, self.clock, on_page=self.pages.append)
        self.refusal: Refusal | None = None

    def publish(self) -> None:
        self.screen.server.publish(DisplayView(
            state="recording", node=NodeView(4, 9, "阅读投保资料"), needs=("pages",),
            caption=Caption(PROMPT),
            refusal=self.refusal, people=(Person.of("policyholder", "王小明"),),
            reading=self.tracker.view()))

    def press_next(self) -> bool:
        """NEXT: refused (and shown) while pages remain, as the flow will do."""
        if self.tracker.unread():
            self.refusal = Refusal("pages_unread", self.clock.monotonic_ns(),
                                   self.tracker.detail())
            self.publish()
            return False
        self.refusal = None
        self.publish()
        return True

    def handle(self, event: InputEvent) -> None:
        if event.kind == "page":
            self.tracker.turn(event.document, event.page, event.at_ns)
            self.publish()
        elif event.kind == "shown":
            self.tracker.shown(event.document, event.page, event.at_ns)
        elif event.kind == "read":
            if self.tracker.confirm(event.document, event.at_ns):
                self.publish()
        elif event.kind == "viewers" and event.viewers == 0:
            self.tracker.hidden(event.at_ns)

    def next(self, kind: str) -> InputEvent:
        """Wait for the next input of ``kind`` from the screen and handle it."""
        event = self.screen.next_input(kind)
        self.handle(event)
        return event
