"""What a browser and the relay say over the WebSocket (JSON text frames, docs/meet.md §4).

Browser → relay::

    {"type": "code", "code": "123456"}
    {"type": "identify", "seats": [1], "name": "李秀英", "id_last4": "2244"}
    {"type": "resume", "token": "..."}
    {"type": "signal", "signal": {"kind": "answer", "sdp": "v=0..."}}

Relay → browser: ``meeting`` (status, joins_until), ``choices`` (the seats a right code
opened), ``refused`` (step, reason, tries_left), ``admitted`` (party, token, seats, roles,
ice_servers), ``signal``, ``bye`` (reason), ``error`` (reason, field). Every frame is read
with the bounds of :func:`~firmware.protocol.mqtt.meet.decode`; a malformed one is answered
with ``error`` naming the field, and never forwarded.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from firmware.protocol.mqtt.meet import (CODE, MAX_SEATS, TOKEN, Fields, MeetPayloadError,
                                         check_seat, decode)
from firmware.protocol.mqtt.meet_messages import read_signal

TYPES = ("code", "identify", "resume", "signal")
ID_LAST4 = re.compile(r"[0-9]{3}[0-9Xx]")
NAME_LIMIT = 40
RELAY_REASONS = ("rate_limited", "unit_unreachable", "unknown_meeting", "malformed",
                 "not_joined", "already_joined", "too_many_connections", "too_many_messages",
                 "idle", "time_up", "replaced", "closed")


@dataclass(frozen=True)
class BrowserMessage:
    type: str
    code: str = ""
    seats: tuple[int, ...] = ()
    name: str = field(default="", repr=False)
    id_last4: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    signal: dict[str, Any] = field(default_factory=dict)


def _name(value: str) -> str:
    if any(unicodedata.category(ch).startswith("C") for ch in value) or not value.strip():
        raise MeetPayloadError("$.name", "must be a name (letters, no control characters)")
    return value


def read_browser(frame: str | bytes, limit: int) -> BrowserMessage:
    """One frame from a browser, checked (MeetPayloadError names the field)."""
    f = Fields(decode(frame, limit), versioned=False)
    kind = f.word("type", TYPES)
    if kind == "code":
        message = BrowserMessage(kind, code=f.text("code", CODE))
    elif kind == "identify":
        message = BrowserMessage(kind, seats=f.items("seats", MAX_SEATS, check_seat,
                                                     unique=True),
                                 name=_name(f.text("name", limit=NAME_LIMIT)),
                                 id_last4=f.text("id_last4", ID_LAST4))
    elif kind == "resume":
        message = BrowserMessage(kind, token=f.text("token", TOKEN))
    else:
        inner = f.data.get("signal")
        f.seen.add("signal")
        try:
            message = BrowserMessage(kind, signal=read_signal(inner, envelope=False))
        except MeetPayloadError as exc:
            raise MeetPayloadError(exc.field.replace("$", "$.signal", 1), exc.rule) from None
    f.done()
    return message
