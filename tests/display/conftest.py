"""Fixtures of the customer's screen tests: the shipped document library, a server, Chromium."""
from __future__ import annotations

import queue
from pathlib import Path
from typing import Callable, Iterator

import pytest

from drivers.clock import SimClock
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.events import InputEvent, ScreenChange
from firmware.unit.display.server import DisplayServer
from headless_chromium import browser_page, chromium  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = REPO / "config" / "documents"


@pytest.fixture(scope="session")
def library() -> DocumentLibrary:
    """The sample library shipped in config/documents (read only)."""
    return DocumentLibrary(DOCUMENTS)


class RunningScreen:
    """A started DisplayServer with what it delivered: inputs (a queue, as the flow's worker
    would get them) and screen changes."""

    def __init__(self, server: DisplayServer, inputs: "queue.Queue[InputEvent]",
                 changes: list[ScreenChange]) -> None:
        self.server = server
        self.inputs = inputs
        self.changes = changes

    @property
    def origin(self) -> str:
        return self.server.url.rstrip("/")

    def next_input(self, kind: str, timeout: float = 15.0) -> InputEvent:
        """The next input of ``kind`` (others of other kinds are skipped)."""
        while True:
            event = self.inputs.get(timeout=timeout)
            if event.kind == kind:
                return event


@pytest.fixture
def screen_server(library) -> Iterator[Callable[..., RunningScreen]]:
    """A factory: ``screen_server(clock=..., **DisplayServer kwargs)`` -> RunningScreen."""
    started: list[DisplayServer] = []

    def start(*, clock=None, library_=None, **kwargs) -> RunningScreen:
        inputs: queue.Queue[InputEvent] = queue.Queue()
        changes: list[ScreenChange] = []
        server = DisplayServer("127.0.0.1:0", library_ or library, inputs.put,
                               clock=clock or SimClock(realtime=True),
                               on_change=changes.append, **kwargs)
        server.start()
        started.append(server)
        return RunningScreen(server, inputs, changes)

    yield start
    for server in started:
        server.close()
