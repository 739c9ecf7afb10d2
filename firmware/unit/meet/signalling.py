"""The signalling channel between the unit's media side and one remote party's browser.

The meeting host hands the media side one :class:`Signalling` per admitted connection of a
party (:class:`PartyInfo` says who: party id, seats and roles from the ticket, the masked
name, whether it is a rejoin, the ICE servers the unit may use for it). Messages are dicts
as :func:`~firmware.protocol.mqtt.meet_messages.read_signal` checks them without envelope::

    {"kind": "offer", "sdp": "v=0..."}        {"kind": "answer", "sdp": "v=0..."}
    {"kind": "candidate", "candidate": "candidate:...", "sdpMid": "0", "sdpMLineIndex": 0}
    {"kind": "candidate", "candidate": "", ...}   (end of candidates)
    {"kind": "bye", "reason": "hangup|closed|replaced|timeout|error"}

Contract: :meth:`Signalling.send` checks the message (MeetPayloadError naming the field if
malformed; nothing is sent) and never blocks; SignallingClosedError once closed.
:meth:`Signalling.on_message` sets the one callback; messages that came before it are kept
(at most :data:`BACKLOG`) and delivered when it is set. Callbacks run on the transport's
thread, in order, and must not block (hop to your event loop with ``call_soon_threadsafe``).
The last message a Signalling delivers is a ``bye`` (the party hung up, its browser went away,
it came back on a new connection — ``replaced`` —, or the meeting ended); after it the
Signalling is closed. :meth:`Signalling.close` sends ``bye`` (``closed``) if still open and
is safe twice.

:func:`signalling_pair` links two in-process ends, for tests of the media side without a
broker.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from firmware.errors import DualrecError
from firmware.protocol.mqtt.meet import IceServer, MeetPayloadError
from firmware.protocol.mqtt.meet_messages import read_signal

log = logging.getLogger(__name__)

BACKLOG = 64
"""Messages kept for a Signalling whose callback is not set yet; more are dropped (logged)."""

Message = dict[str, Any]


class SignallingClosedError(DualrecError, RuntimeError):
    """A message was sent on a closed Signalling (the party left or the meeting ended)."""


@dataclass(frozen=True)
class PartyInfo:
    """Who is on the other end. ``seats`` index the ticket's ``people``; ``roles`` are theirs
    (one person may hold several); ``display_name`` is masked (``王*``); ``resumed``: the
    party came back on a new connection (a rejoin after a drop); ``ice_servers``: what the
    unit may use for this party (only URLs its configuration names, with the relay's
    time-limited TURN credentials)."""

    meeting: str
    party: str
    seats: tuple[int, ...]
    roles: tuple[str, ...]
    display_name: str
    resumed: bool = False
    ice_servers: tuple[IceServer, ...] = field(default=())


class Signalling:
    """One connection of one party. Subclasses implement :meth:`_transmit` (and may override
    :meth:`_closing`); delivery into this end goes through :meth:`deliver`."""

    def __init__(self, info: PartyInfo) -> None:
        self.info = info
        self._lock = threading.Lock()
        self._callback: Callable[[Message], None] | None = None
        self._backlog: deque[Message] = deque()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def send(self, message: Message) -> None:
        checked = read_signal(message, envelope=False)
        if self._closed:
            raise SignallingClosedError(f"party {self.info.party} of meeting "
                                        f"{self.info.meeting[:8]}: the signalling is closed")
        self._transmit(checked)
        if checked["kind"] == "bye":
            self._finish()

    def on_message(self, callback: Callable[[Message], None]) -> None:
        with self._lock:
            self._callback = callback
            pending = list(self._backlog)
            self._backlog.clear()
        for message in pending:
            callback(message)

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._transmit({"kind": "bye", "reason": "closed"})
        except Exception as exc:
            log.warning("meeting: bye to party %s not sent: %s", self.info.party, exc)
        self._finish()

    # -- for the transport -------------------------------------------------------------------
    def hang_up(self, reason: str, *, tell_party: bool) -> None:
        """The host ends this connection: ``bye`` to the party (when ``tell_party``), then a
        ``bye`` with ``reason`` to the media side's callback; closed after."""
        if self._closed:
            return
        if tell_party:
            try:
                self._transmit({"kind": "bye", "reason": "closed"})
            except Exception as exc:
                log.warning("meeting: bye to party %s not sent: %s", self.info.party, exc)
        self.deliver({"kind": "bye", "reason": reason})

    def deliver(self, message: Message) -> None:
        """A checked message from the party. A ``bye`` closes this end: closed already when
        the callback sees it, so whoever is told the party left finds the end closed."""
        bye = message["kind"] == "bye"
        with self._lock:
            if self._closed:
                return
            self._closed = bye
            callback = self._callback
            if callback is None:
                if len(self._backlog) >= BACKLOG:
                    log.warning("meeting: party %s: backlog full, message dropped",
                                self.info.party)
                else:
                    self._backlog.append(message)
        if callback is not None:
            callback(message)
        if bye:
            self._closing()

    def _finish(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._closing()

    def _transmit(self, message: Message) -> None:
        raise NotImplementedError

    def _closing(self) -> None:
        """Called once when this end closes."""


class BusSignalling(Signalling):
    """A Signalling over the meeting's MQTT topics (made by the meeting host)."""

    def __init__(self, info: PartyInfo, transmit: Callable[[Message], None],
                 closing: Callable[["BusSignalling"], None]) -> None:
        super().__init__(info)
        self._send = transmit
        self._on_closing = closing

    def _transmit(self, message: Message) -> None:
        self._send(message)

    def _closing(self) -> None:
        self._on_closing(self)


class _LinkedEnd(Signalling):
    def __init__(self, info: PartyInfo) -> None:
        super().__init__(info)
        self.peer: _LinkedEnd | None = None

    def _transmit(self, message: Message) -> None:
        if self.peer is not None:
            self.peer.deliver(dict(message))


def signalling_pair(info: PartyInfo) -> tuple[Signalling, Signalling]:
    """Two linked in-process ends ``(unit_side, party_side)``: what one sends, the other's
    callback gets (checked as on the wire, synchronously on the sender's thread)."""
    unit, party = _LinkedEnd(info), _LinkedEnd(info)
    unit.peer, party.peer = party, unit
    return unit, party


def checked(message: Any) -> Message:
    """``message`` as a Signalling would accept it (MeetPayloadError otherwise)."""
    if not isinstance(message, dict):
        raise MeetPayloadError("$", "must be an object")
    return read_signal(message, envelope=False)
