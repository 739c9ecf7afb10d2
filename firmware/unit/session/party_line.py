"""One remote party's signalling as the media side sees it, over the meeting host's connections.

The meeting host (:mod:`firmware.unit.meet`) hands over a new Signalling each time a party is
admitted or comes back with its resume token, and speaks ``{"kind": ...}``; a
:class:`~firmware.unit.remote.RemoteParty` keeps one Signalling for its whole call and speaks
``{"type": ...}``. A :class:`PartyLine` is that one Signalling: :meth:`PartyLine.attach` puts
the party's newest connection behind it, and the two message shapes are translated on the way
(:func:`to_media`, :func:`to_meeting`). The two packages stay independent of each other (an
import-linter contract): only this module knows both shapes, and it imports neither.

What crosses, and what does not:

- from the party: offers, candidates, and a ``bye`` when the party hung up, its browser went
  away, or the meeting ended. A ``bye`` with reason ``replaced`` is *not* passed on: the party
  is back on a newer connection, whose offer replaces the call's connection (the media side
  records that as a reconnection, not as the party leaving). Messages from a connection that
  is no longer the newest are dropped.
- to the party: the unit's answer, and its ``bye`` when it ends the call (any reason the
  media side gives becomes the meeting's ``closed``). Sent while the party has no open
  connection (it dropped and has not come back), a message is dropped and logged: the party
  that comes back offers again.

Threading: :meth:`attach`, :meth:`send` and :meth:`close` from any thread; messages from the
party reach the media side's callback on the meeting bus's thread, in order.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

Message = dict[str, Any]


class MeetingConnection(Protocol):
    """What a PartyLine needs of :class:`firmware.unit.meet.signalling.Signalling`."""

    @property
    def closed(self) -> bool: ...

    def send(self, message: Message) -> None: ...

    def on_message(self, callback: Callable[[Message], None]) -> None: ...

    def close(self) -> None: ...


def to_media(message: Message) -> Message | None:
    """A message of the meeting (``kind``) as the media side reads it (``type``); None for a
    ``bye`` that only says the party came back on another connection."""
    kind = message.get("kind")
    if kind == "bye" and message.get("reason") == "replaced":
        return None
    return {"type": kind, **{k: v for k, v in message.items() if k != "kind"}}


def to_meeting(message: Message) -> Message:
    """A message of the media side (``type``) as the meeting checks it (``kind``): a ``bye``
    is the unit ending the call (``closed``), absent optional fields are left out."""
    kind = message.get("type")
    if kind == "bye":
        return {"kind": "bye", "reason": "closed"}
    return {"kind": kind, **{k: v for k, v in message.items()
                             if k != "type" and v is not None}}


class PartyLine:
    """The Signalling a RemoteParty owns for party ``party``; connections come and go behind
    it. ``close()`` ends the newest connection (a ``bye`` to the party) and is safe twice."""

    def __init__(self, party: str) -> None:
        self.party = party
        self._lock = threading.Lock()
        self._current: MeetingConnection | None = None
        self._callback: Callable[[Message], None] | None = None
        self._closed = False
        self.connections = 0

    @property
    def attached(self) -> bool:
        """The party has an open connection to the meeting now."""
        with self._lock:
            return self._current is not None and not self._current.closed

    def attach(self, connection: MeetingConnection) -> None:
        """The party's newest connection (admitted, or back with its token). A line closed
        already closes it at once."""
        with self._lock:
            closed = self._closed
            if not closed:
                self._current = connection
                self.connections += 1
        if closed:
            connection.close()
            return
        connection.on_message(lambda message: self._from_party(connection, message))

    # -- the media side's Signalling -----------------------------------------------------------
    def send(self, message: Message) -> None:
        with self._lock:
            current = None if self._closed else self._current
        if current is None or current.closed:
            log.info("remote party %s: %s not sent, the party has no open connection",
                     self.party, message.get("type"))
            return
        current.send(to_meeting(message))

    def on_message(self, callback: Callable[[Message], None]) -> None:
        with self._lock:
            self._callback = callback

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            current, self._current = self._current, None
        if current is not None:
            current.close()

    # -- from the meeting ----------------------------------------------------------------------
    def _from_party(self, connection: MeetingConnection, message: Message) -> None:
        with self._lock:
            callback = self._callback
            stale = connection is not self._current or self._closed
        if stale:
            return
        translated = to_media(message)
        if translated is None:
            return
        if callback is None:
            log.warning("remote party %s: a %s arrived before the call listened; dropped",
                        self.party, translated["type"])
            return
        callback(translated)
