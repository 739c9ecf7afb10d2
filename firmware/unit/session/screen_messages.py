"""The messages of a remote party's screen channel (docs/remote-media.md, "Reading and signing
remotely"): what the party's page may send, checked before anything acts on it, and what the
unit sends it.

Party → unit, one JSON object per text message (at most :data:`MAX_MESSAGE_BYTES`, nested at
most 4 deep, no duplicate keys, no NaN, no field beyond the type's):

- ``{"type": "page", "document": sha256, "page": n}``: turn to page ``n``;
- ``{"type": "image", "request": r, "document": sha256, "page": n, "width": px}``: send the
  page's picture ``px`` wide (the unit renders 160 to :data:`MAX_IMAGE_WIDTH` pixels);
- ``{"type": "shown", "document": sha256, "page": n}``: the page's picture is on screen;
- ``{"type": "read", "document": sha256}``: "我已阅读";
- ``{"type": "signature", "node": id, "width": w, "height": h, "strokes": [{"t": [...],
  "x": [...], "y": [...]}, ...]}``: the finger signature, on a canvas ``w`` x ``h`` CSS pixels;
  per stroke parallel lists of whole numbers: ``t`` milliseconds from the signature's first
  point (never decreasing across the signature), ``x``/``y`` within the canvas. At most
  :data:`MAX_STROKES` strokes and :data:`MAX_POINTS` points, :data:`MAX_SIGNATURE_MS` long.

Unit → party: ``view`` (``now_ns``, ``view``: the parts of a DisplayView, ``signature``:
null or ``{"node", "state": "wanted"|"sealed"}``), ``image`` (a header naming ``request``,
``document``, ``page``, ``width``, ``bytes``, ``chunks``, ``sha256``) followed by ``chunks``
binary messages, each ``request`` (uint32, big-endian), ``index`` (uint32) and at most
:data:`CHUNK_BYTES` of the PNG, and ``refused`` (``of``: the message type or null, ``field``,
``rule``) for a message that was not taken.

A :class:`ScreenMessageError` names the field and the rule, never the value.
"""
from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass
from typing import Any, Callable, Union

from firmware.errors import DualrecError
from firmware.protocol.mqtt.meet import Fields, MeetPayloadError, decode

MAX_MESSAGE_BYTES = 64 * 1024
MAX_STROKES = 50
MAX_POINTS = 2000
MAX_CANVAS = 4096
MAX_SIGNATURE_MS = 600_000
MAX_IMAGE_WIDTH = 1600
MAX_PAGE = 9999
CHUNK_BYTES = 16 * 1024           # what every browser's data channel takes in one message
SHA256 = re.compile(r"[0-9a-f]{64}")
NODE_ID = re.compile(r"[a-z][a-z0-9_-]{0,40}")
TYPES = ("page", "image", "shown", "read", "signature")


class ScreenMessageError(DualrecError, ValueError):
    """A party's screen message the unit does not take: ``field`` (its JSON path) and
    ``rule``; ``of`` is the message's type when it was readable."""

    def __init__(self, field: str, rule: str, of: str | None = None) -> None:
        super().__init__(f"{field}: {rule}")
        self.field, self.rule, self.of = field, rule, of


@dataclass(frozen=True)
class PageTurn:
    document: str
    page: int


@dataclass(frozen=True)
class PageOnScreen:
    document: str
    page: int


@dataclass(frozen=True)
class ReadConfirmed:
    document: str


@dataclass(frozen=True)
class ImageRequest:
    request: int
    document: str
    page: int
    width: int


@dataclass(frozen=True)
class FingerStroke:
    t: tuple[int, ...]
    x: tuple[int, ...]
    y: tuple[int, ...]


@dataclass(frozen=True)
class FingerSignature:
    node: str
    width: int
    height: int
    strokes: tuple[FingerStroke, ...]

    @property
    def points(self) -> int:
        return sum(len(s.t) for s in self.strokes)

    @property
    def duration_ms(self) -> int:
        return self.strokes[-1].t[-1] - self.strokes[0].t[0]


PartyMessage = Union[PageTurn, PageOnScreen, ReadConfirmed, ImageRequest, FingerSignature]


def _whole(lo: int, hi: int) -> Callable[[Any, str], int]:
    def check(value: Any, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise MeetPayloadError(where, f"must be a whole number {lo}-{hi}")
        return value
    return check


def _signature(f: Fields) -> FingerSignature:
    node = f.text("node", NODE_ID, limit=41)
    width = f.number("width", 1, MAX_CANVAS)
    height = f.number("height", 1, MAX_CANVAS)

    def stroke(value: Any, where: str) -> FingerStroke:
        s = Fields(value, where, versioned=False)
        t = s.items("t", MAX_POINTS, _whole(0, MAX_SIGNATURE_MS))
        x = s.items("x", MAX_POINTS, _whole(0, width))
        y = s.items("y", MAX_POINTS, _whole(0, height))
        s.done()
        if not len(t) == len(x) == len(y):
            raise MeetPayloadError(where, "t, x and y must be as long as each other")
        return FingerStroke(t, x, y)

    strokes = f.items("strokes", MAX_STROKES, stroke)
    times = [v for s in strokes for v in s.t]
    if len(times) > MAX_POINTS:
        raise MeetPayloadError("$.strokes", f"the signature has more than {MAX_POINTS} points")
    if times[0] != 0 or any(b < a for a, b in zip(times, times[1:])):
        raise MeetPayloadError("$.strokes", "t must start at 0 and never go back")
    return FingerSignature(node, width, height, strokes)


def parse_party_message(data: str | bytes) -> PartyMessage:
    """One message of a party's page, checked (ScreenMessageError otherwise)."""
    if isinstance(data, bytes):
        raise ScreenMessageError("$", "the unit takes text messages only")
    of = None
    try:
        f = Fields(decode(data, MAX_MESSAGE_BYTES), versioned=False)
        of = f.word("type", TYPES)
        if of == "signature":
            message: PartyMessage = _signature(f)
        else:
            document = f.text("document", SHA256, limit=64)
            if of == "read":
                message = ReadConfirmed(document)
            elif of == "image":
                message = ImageRequest(f.number("request", 0, 2**31 - 1), document,
                                       f.number("page", 1, MAX_PAGE),
                                       f.number("width", 1, MAX_CANVAS))
            else:
                page = f.number("page", 1, MAX_PAGE)
                message = PageTurn(document, page) if of == "page" \
                    else PageOnScreen(document, page)
        f.done()
    except MeetPayloadError as exc:
        raise ScreenMessageError(exc.field, exc.rule, of) from None
    return message


# -- unit → party ------------------------------------------------------------------------------
def _text(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def view_message(now_ns: int, parts: dict[str, Any], signature: dict[str, str] | None) -> str:
    return _text({"type": "view", "now_ns": now_ns, "view": parts, "signature": signature})


def refused_message(error: ScreenMessageError) -> str:
    return _text({"type": "refused", "of": error.of, "field": error.field, "rule": error.rule})


def image_messages(request: int, document: str, page: int, width: int,
                   png: bytes) -> tuple[str | bytes, ...]:
    """The header and the binary chunks of one page picture."""
    chunks = [png[i:i + CHUNK_BYTES] for i in range(0, len(png), CHUNK_BYTES)] or [b""]
    header = _text({"type": "image", "request": request, "document": document, "page": page,
                    "width": width, "bytes": len(png), "chunks": len(chunks),
                    "sha256": hashlib.sha256(png).hexdigest()})
    return (header, *(struct.pack(">II", request, i) + chunk for i, chunk in enumerate(chunks)))
