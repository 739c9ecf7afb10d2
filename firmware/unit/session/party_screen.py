"""One remote party's screen as the session sees it: its channel, its own reading of the node's
documents, its signatures, what was last sent to it, and the brake on what it may send.

:class:`PartyScreen` is the flow thread's, except :attr:`PartyScreen.gate`, which the party's
loop thread uses before anything reaches the flow (:class:`InputGate`). :func:`party_view` is
the counter's view (or the session's own, without a counter screen) with this party's reading,
needs and signature in it: both screens show the same node, captions and refusal.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Protocol

from firmware.unit.display.documents import Document
from firmware.unit.display.reading import ReadingTracker
from firmware.unit.display.refusals import NEEDS
from firmware.unit.display.view import DisplayView
from firmware.unit.session.screen_messages import (PageOnScreen, PageTurn, ReadConfirmed,
                                                   ScreenMessageError)

INPUT_RATE = 20            # messages a second a party may send, sustained
INPUT_BURST = 40
MAX_REFUSAL_RECORDS = 32   # remote_screen_refused records per party and session; then counted
MAX_CHANNEL_RECORDS = 64   # remote_screen open/closed records per party and session


class ScreenMedia(Protocol):
    """What the part needs of :class:`firmware.unit.remote.RemoteParty` for the screen."""

    @property
    def screen_open(self) -> bool: ...

    def on_screen(self, callback: Callable) -> Callable[[], None]: ...

    def send_screen(self, *messages: str | bytes) -> None: ...


class InputGate:
    """A token bucket on the unit's clock (ns): :data:`INPUT_RATE` a second, bursts of
    :data:`INPUT_BURST`. Used by one thread (the party's loop)."""

    def __init__(self, rate: float = INPUT_RATE, burst: int = INPUT_BURST) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.last_ns: int | None = None
        self.dropped = 0
        self.braking = False       # dropping since the last message let through

    def take(self, at_ns: int) -> bool:
        if self.last_ns is not None and at_ns > self.last_ns:
            self.tokens = min(self.burst, self.tokens + (at_ns - self.last_ns) * self.rate / 1e9)
        self.last_ns = at_ns if self.last_ns is None else max(self.last_ns, at_ns)
        if self.tokens < 1:
            self.dropped += 1
            return False
        self.tokens -= 1
        self.braking = False
        return True


@dataclass
class PartyScreen:
    """The screen of party ``party`` in this session (see the module docstring)."""

    party: str
    media: ScreenMedia
    unsubscribe: Callable[[], None] = lambda: None
    gate: InputGate = field(default_factory=InputGate)
    connection: int | None = None            # the connection whose channel is open
    tracker: ReadingTracker | None = None    # at a reading node
    tracker_node: str | None = None
    signatures: dict[str, str] = field(default_factory=dict)   # node -> SHA-256 sealed
    shown_key: object = None
    hashes: dict[str, str] = field(default_factory=dict)       # view part -> SHA-256 sent
    image_busy: bool = False
    image_next: object = None                # the newest request waiting for the renderer
    messages: int = 0
    refused: int = 0
    refusal_records: int = 0
    channel_records: int = 0
    views: int = 0
    images: int = 0
    image_bytes: int = 0

    def signature_state(self, node_id: str | None, wanted: bool) -> dict[str, str] | None:
        if node_id is None or not wanted:
            return None
        return {"node": node_id, "state": "sealed" if node_id in self.signatures else "wanted"}

    def summary(self) -> dict[str, int | str]:
        return {"party": self.party, "messages": self.messages, "refused": self.refused,
                "dropped": self.gate.dropped, "views": self.views, "images": self.images,
                "image_bytes": self.image_bytes, "signatures": len(self.signatures)}


def node_document(documents: tuple[Document, ...], sha256: str, page: int | None,
                  of: str) -> Document:
    """The document ``sha256`` of this node's ``documents`` (with ``page`` in it, when given);
    ScreenMessageError (``of``: the message's type) for any other."""
    doc = next((d for d in documents if d.sha256 == sha256), None)
    if doc is None:
        raise ScreenMessageError("$.document", "is not a document of this step", of)
    if page is not None and not 1 <= page <= doc.pages:
        raise ScreenMessageError("$.page", f"must be a page of that document, 1-{doc.pages}", of)
    return doc


def take_reading(screen: PartyScreen, documents: tuple[Document, ...],
                 message: PageTurn | PageOnScreen | ReadConfirmed, at_ns: int) -> bool | None:
    """A page turn, a page on screen or "我已阅读" of the party, taken by its reading tracker;
    ScreenMessageError for one that does not fit this node. Whether a "我已阅读" was accepted
    (None for the others)."""
    of = {PageTurn: "page", PageOnScreen: "shown", ReadConfirmed: "read"}[type(message)]
    node_document(documents, message.document, getattr(message, "page", None), of)
    tracker = screen.tracker
    if tracker is None:
        raise ScreenMessageError("$.type", "this step has no documents to read", of)
    if isinstance(message, PageTurn):
        tracker.turn(message.document, message.page, at_ns)
    elif isinstance(message, PageOnScreen):
        tracker.shown(message.document, message.page, at_ns)
    else:
        return tracker.confirm(message.document, at_ns)
    return None


def party_view(base: DisplayView, screen: PartyScreen, now_ns: int,
               signature: dict[str, str] | None) -> DisplayView:
    """``base`` (the counter's view of this node) as party ``screen`` sees it: its own reading
    (documents, page, read marks), its own needs for pages and its ``signature`` (the node's
    signature state, None at a node without one), and the details of a ``remote_reading``
    refusal as its own unread pages."""
    tracker = screen.tracker
    reading = tracker.view(now_ns) if tracker is not None else None
    needs = {n for n in base.needs if n not in ("pages", "signature")}
    if tracker is not None and tracker.unread(now_ns):
        needs.add("pages")
    if signature is not None and signature["state"] == "wanted":
        needs.add("signature")
    refusal = base.refusal
    if refusal is not None and refusal.code == "remote_reading" and tracker is not None:
        refusal = dataclasses.replace(refusal, detail=tracker.detail(now_ns)[:300])
    return dataclasses.replace(base, reading=reading, refusal=refusal,
                               needs=tuple(n for n in NEEDS if n in needs))


def view_key(view: DisplayView, signature: dict[str, str] | None) -> object:
    """What decides whether a view must be sent again: everything but the time a page has
    been on screen (which moves by itself; the page counts it down)."""
    reading = view.reading
    marks = None if reading is None else (
        tuple((d.read_pages, d.confirmed) for d in reading.documents), reading.current,
        reading.page)
    return dataclasses.replace(view, reading=None), marks, \
        None if signature is None else tuple(sorted(signature.items()))
