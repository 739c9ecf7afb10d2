"""The unit's customer screen as the appliance builds it from ``[display]``: the document
library, the display server on its address, and the session part that feeds it.

::

    screen = CustomerScreen(config.display, clock, recorder, pad,
                            snapshot=lambda: flow.snapshot if flow else None)
    screen.start()                         # binds [display] listen (OSError names the address)
    add_record_listener(screen.follow_chain(evidence.event))   # refusals of RECORD shown
    parts.append(screen.session_part(parts))   # last: it shows what the other parts still need
    ...
    screen.close()                         # after the flow has stopped; safe twice

:meth:`CustomerScreen.follow_chain` gives the record listener through which the screen hears
that RECORD was refused (and why), and the function that puts what the idle screen shows on
the chain.

A library that is missing or whose manifest is unusable does not stop the unit: it is logged,
and every reading node refuses NEXT with ``document_missing`` saying so. A listen address that
is not loopback (without ``allow_non_loopback``) or cannot be bound stops the start, as a
configured pad that is missing does.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

from firmware.evidence.records import Record

from drivers.clock.base import Clock
from drivers.sigpad.base import SignaturePad
from firmware.config.model import DisplaySection
from firmware.unit.display.documents import DocumentLibrary
from firmware.unit.display.screen_inbox import ScreenInbox
from firmware.unit.display.screen_part import PenState, ScreenPart
from firmware.unit.display.server import SYSTEM_CJK_FONT, DisplayServer
from firmware.unit.display.start_refusals import StartRefusals
from firmware.unit.session.binding import FlowSnapshot
from firmware.unit.session.parts import SessionPart

log = logging.getLogger(__name__)


class CustomerScreen:
    """See the module docstring. ``pen``: the recorder (whether the pen is on the pad, whether
    a signature was written); ``pad``: the signature pad, for the live signature's shape."""

    def __init__(self, section: DisplaySection, clock: Clock, pen: PenState,
                 pad: SignaturePad | None, *, snapshot: Callable[[], FlowSnapshot | None],
                 font_file: Path | None = SYSTEM_CJK_FONT) -> None:
        self.library = DocumentLibrary.load(section.documents)
        if self.library.problem:
            log.error("the document library cannot be used (%s): reading nodes will refuse NEXT "
                      "until it is delivered", self.library.problem)
        self.inbox = ScreenInbox()
        self.server = DisplayServer(section.listen, self.library, self.inbox.input, clock=clock,
                                    on_change=self.inbox.change, on_fault=self.inbox.fault,
                                    max_clients=section.max_screens,
                                    allow_non_loopback=section.allow_non_loopback,
                                    font_file=font_file)
        self._clock = clock
        self._pen = pen
        self._pad_info = pad.info if pad is not None else None
        self._snapshot = snapshot
        self.refusals = StartRefusals(clock)
        self._event: Callable[[str, dict], object] | None = None
        self._part: ScreenPart | None = None

    @property
    def url(self) -> str:
        """The page's address (what the kiosk browser opens)."""
        return self.server.url

    def start(self) -> None:
        self.server.start()
        log.info("the customer's screen is served at %s", self.server.url)

    def follow_chain(self, event: Callable[[str, dict], object]) -> Callable[[Record], None]:
        """The record listener that shows a refused RECORD's reason between sessions;
        ``event(kind, data)`` (the evidence's) records what the idle screen shows. Call it
        once, before or after :meth:`session_part`."""
        self._event = event
        if self._part is not None:
            self._part.idle_event = event
        return self.refusals.on_record

    def session_part(self, peers: Sequence[SessionPart]) -> ScreenPart:
        """The session part feeding the screen (made once). ``peers``: the session's parts, so
        the screen can show everything a node still needs."""
        if self._part is None:
            self._part = ScreenPart(self.server, self.library, self.inbox, self._clock,
                                    pen=self._pen, pad_info=self._pad_info, peers=peers,
                                    snapshot=self._snapshot, refusals=self.refusals,
                                    event=self._event)
        return self._part

    def close(self) -> None:
        """Stop serving (safe twice)."""
        self.server.close()

    def __enter__(self) -> "CustomerScreen":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
