"""The party's screen channel on one connection: a negotiated WebRTC data channel.

Both sides create ``createDataChannel("screen", {negotiated: true, id: 0})`` (aiortc:
``negotiated=True, id=0``), so neither waits for the other to announce it; it opens with the
connection's SCTP association. What travels on it (views, page images, the party's page turns
and signature) is the session's business (:mod:`firmware.unit.session.remote_screen`); this
module only carries messages, bounded both ways:

- in: a message longer than :data:`MAX_IN_BYTES` is not handed on; it is reported as a
  ``refused`` :class:`ScreenEvent` (``reason`` ``too_large``). aiortc reassembles a message
  before anyone sees it; what it may hold meanwhile is bounded below this module, on the
  connection's SCTP association (:mod:`~firmware.unit.remote.sctp_guard`: a message over
  128 KiB, more than 260 KiB or 1,024 chunks not yet delivered, or a stream other than this
  channel's aborts the association). The peer then calls :meth:`ScreenLink.abort`: a
  ``refused`` event whose ``reason`` is the guard's (``sctp_oversize: ...``,
  ``sctp_backlog: ...``, ``sctp_stream: ...``), and the ``closed`` event that follows
  carries the same ``reason`` (docs/remote-media.md, "Reading and signing remotely").
- out: :meth:`ScreenLink.send` sends a batch of messages only whole: not while the channel is
  not open, and not when the channel's unsent bytes would pass :data:`MAX_BUFFERED` (a phone
  that does not read cannot make the unit hold more). Each message is at most
  :data:`MAX_OUT_BYTES` (a programming error otherwise: ValueError).

Every method runs on the party's event loop; ``on_event`` too.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.exceptions import InvalidStateError

from drivers.clock import Clock

log = logging.getLogger(__name__)

SCREEN_LABEL = "screen"
SCREEN_ID = 0
MAX_IN_BYTES = 64 * 1024
MAX_OUT_BYTES = 64 * 1024     # at most what a browser must accept (RFC 8841's default, 64 KiB)
MAX_BUFFERED = 2 * 1024 * 1024
EVENTS = ("open", "closed", "message", "refused")

ScreenData = str | bytes


@dataclass(frozen=True)
class ScreenEvent:
    """Something of a party's screen channel. ``kind``: ``open`` (it can carry messages now),
    ``closed`` (no more: the connection dropped, was replaced or the call ended),
    ``message`` (``data``: text or bytes as the party sent it), ``refused`` (a message not
    handed on, or the connection's SCTP association aborted: ``reason``; a ``closed`` after
    an abort has it too). ``connection``: the call's connection it came on (1, 2, ...);
    ``at_ns``: when the unit had it (CLOCK_MONOTONIC)."""

    kind: str
    party: str
    connection: int
    at_ns: int
    data: ScreenData | None = None
    reason: str | None = None


def check_outgoing(messages: Sequence[ScreenData]) -> None:
    """ValueError for a message the channel must never be asked to carry."""
    for message in messages:
        if not isinstance(message, (str, bytes)):
            raise ValueError(f"a screen message is text or bytes, not {type(message).__name__}")
        size = len(message.encode("utf-8")) if isinstance(message, str) else len(message)
        if size > MAX_OUT_BYTES:
            raise ValueError(f"a screen message of {size} bytes is over {MAX_OUT_BYTES}: "
                             "send it in chunks")


class ScreenLink:
    """The ``screen`` channel of connection ``connection`` of ``party`` on ``pc`` (made after
    the offer is applied, so it lives on the connection's SCTP transport)."""

    def __init__(self, pc: RTCPeerConnection, party: str, connection: int, clock: Clock,
                 on_event: Callable[[ScreenEvent], None]) -> None:
        self.party = party
        self.connection = connection
        self._clock = clock
        self._on_event = on_event
        self._was_open = False
        self._closed = False
        self._abort_reason: str | None = None
        self.sent_messages = 0
        self.sent_bytes = 0
        self._channel: RTCDataChannel = pc.createDataChannel(SCREEN_LABEL, negotiated=True,
                                                             id=SCREEN_ID)
        self._channel.on("open", self._opened)
        self._channel.on("close", self.close)
        self._channel.on("message", self._message)

    @property
    def open(self) -> bool:
        return not self._closed and self._channel.readyState == "open"

    def _event(self, kind: str, data: ScreenData | None = None,
               reason: str | None = None) -> None:
        self._on_event(ScreenEvent(kind, self.party, self.connection,
                                   self._clock.monotonic_ns(), data, reason))

    def _opened(self) -> None:
        if not self._closed and not self._was_open:
            self._was_open = True
            self._event("open")

    def _message(self, data: ScreenData) -> None:
        if self._closed:
            return
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8"))
        if size > MAX_IN_BYTES:
            self._event("refused", reason=f"too_large: {size} bytes, at most {MAX_IN_BYTES}")
            return
        self._event("message", data)

    def send(self, messages: Sequence[ScreenData]) -> bool:
        """Send ``messages`` in order, all or none; whether they went (False: not open, or the
        channel holds too much unsent already)."""
        check_outgoing(messages)
        if not self.open:
            return False
        total = sum(len(m) if isinstance(m, bytes) else len(m.encode("utf-8"))
                    for m in messages)
        if self._channel.bufferedAmount + total > MAX_BUFFERED:
            log.warning("remote party %s: screen channel holds %d unsent bytes; %d more "
                        "dropped", self.party, self._channel.bufferedAmount, total)
            return False
        try:
            for message in messages:
                self._channel.send(message)
        except InvalidStateError:     # closed in between: the close event says so
            return False
        self.sent_messages += len(messages)
        self.sent_bytes += total
        return True

    def abort(self, reason: str) -> None:
        """The connection's SCTP association is being aborted for ``reason`` (before the
        channel closes): a ``refused`` event with it, and the ``closed`` that follows will
        carry it. Nothing once closed."""
        if self._closed or self._abort_reason is not None:
            return
        self._abort_reason = reason
        self._event("refused", reason=reason)

    def close(self) -> None:
        """No more events from this channel (a ``closed`` one if it had opened). Safe twice."""
        if self._closed:
            return
        self._closed = True
        if self._was_open:
            self._event("closed", reason=self._abort_reason)
