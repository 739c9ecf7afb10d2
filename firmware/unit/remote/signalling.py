"""Signalling: how a remote party's offer reaches the unit and the unit's answer goes back.

The media code needs only :class:`Signalling` (send, on_message, close); the transport behind it
(MQTT through the meeting relay, an in-process pair in tests) is someone else's. Messages are
JSON objects:

- ``{"type": "offer", "sdp": "..."}``: the remote side (the browser) offers; the unit answers.
  A new offer from a party that is already connected replaces its connection (a page reload, a
  rejoin after a drop): aiortc does not renegotiate or restart ICE on a live connection.
- ``{"type": "answer", "sdp": "..."}``: the unit never offers, so it never expects one.
- ``{"type": "candidate", "candidate": "candidate:...", "sdpMid": "0", "sdpMLineIndex": 0}``:
  a trickled ICE candidate of the remote side; ``"candidate": ""`` ends them. The unit trickles
  nothing: its answer carries all of its candidates.
- ``{"type": "bye", "reason": "..."}``: the party hung up, or (from the unit) the call is over.

What arrives is untrusted: :func:`parse_message` bounds it and names what is wrong.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any, Callable, Protocol

from firmware.errors import DualrecError

log = logging.getLogger(__name__)

MESSAGE_TYPES = ("offer", "answer", "candidate", "bye")
#: the largest SDP the unit reads (a browser's offer is 3-8 KiB)
MAX_SDP_BYTES = 64 * 1024
#: the largest candidate line, ``sdpMid`` or ``bye`` reason
MAX_LINE_BYTES = 1024


class BadSignal(DualrecError, ValueError):
    """A signalling message the unit does not accept; the message says which field and why."""


class Signalling(Protocol):
    """One party's signalling channel, as the transport provides it.

    ``send`` may be called from any thread and must not block for long (queue it).
    ``on_message`` sets the one callback that receives every message from the party, called on
    the transport's own thread, one at a time. ``close`` stops delivery; safe twice.
    """

    def send(self, message: dict) -> None: ...

    def on_message(self, callback: Callable[[dict], None]) -> None: ...

    def close(self) -> None: ...


def _bounded_str(message: dict, key: str, limit: int, *, required: bool = True) -> str | None:
    value = message.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadSignal(f"signalling {message.get('type')!r}: {key!r} must be a string")
    if len(value.encode("utf-8")) > limit:
        raise BadSignal(f"signalling {message.get('type')!r}: {key!r} is longer than {limit} "
                        "bytes")
    return value


def parse_message(message: Any) -> dict[str, Any]:
    """The message as the unit uses it (only known fields), or :class:`BadSignal`."""
    if not isinstance(message, dict):
        raise BadSignal(f"a signalling message must be a JSON object, not "
                        f"{type(message).__name__}")
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise BadSignal(f"signalling message type {kind!r} is unknown; expected one of "
                        f"{', '.join(MESSAGE_TYPES)}")
    if kind in ("offer", "answer"):
        return {"type": kind, "sdp": _bounded_str(message, "sdp", MAX_SDP_BYTES)}
    if kind == "bye":
        return {"type": kind,
                "reason": _bounded_str(message, "reason", MAX_LINE_BYTES, required=False) or ""}
    candidate = _bounded_str(message, "candidate", MAX_LINE_BYTES)
    mid = _bounded_str(message, "sdpMid", MAX_LINE_BYTES, required=False)
    index = message.get("sdpMLineIndex")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)
                              or not 0 <= index < 64):
        raise BadSignal("signalling 'candidate': 'sdpMLineIndex' must be an integer 0..63")
    if mid is None and index is None and candidate:
        raise BadSignal("signalling 'candidate': needs 'sdpMid' or 'sdpMLineIndex'")
    return {"type": kind, "candidate": candidate, "sdpMid": mid, "sdpMLineIndex": index}


class InProcessSignalling:
    """One end of an in-process signalling pair (:func:`signalling_pair`), for tests and the
    simulated demo. Messages travel as JSON text (so only what a real transport could carry
    arrives) and are delivered on this end's own thread, in order, like a network transport's.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._peer: InProcessSignalling | None = None
        self._callback: Callable[[dict], None] | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self.sent: list[dict] = []     # what this end sent, for tests to look at
        self.errors: list[BaseException] = []   # exceptions the callback raised
        self._thread = threading.Thread(target=self._deliver, name=f"signalling-{name}",
                                        daemon=True)
        self._thread.start()

    def send(self, message: dict) -> None:
        text = json.dumps(message)
        with self._lock:
            if self._closed:
                raise BadSignal(f"signalling {self.name!r} is closed; nothing more can be sent")
            self.sent.append(json.loads(text))
            peer = self._peer
        if peer is not None:
            peer._arrive(text)

    def on_message(self, callback: Callable[[dict], None]) -> None:
        with self._lock:
            self._callback = callback

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _arrive(self, text: str) -> None:
        with self._lock:
            if self._closed:
                return
        self._queue.put(text)

    def _deliver(self) -> None:
        while True:
            text = self._queue.get()
            if text is None:
                return
            with self._lock:
                callback = self._callback
            if callback is None:
                log.warning("signalling %s: a message arrived before anyone listened; dropped",
                            self.name)
                continue
            try:
                callback(json.loads(text))
            except Exception as exc:  # kept for the test; the transport goes on
                log.error("signalling %s: the receiver's callback failed: %r", self.name, exc)
                self.errors.append(exc)


def signalling_pair(a: str = "unit", b: str = "remote"
                    ) -> tuple[InProcessSignalling, InProcessSignalling]:
    """Two connected ends: what one sends, the other's callback receives."""
    first, second = InProcessSignalling(a), InProcessSignalling(b)
    first._peer, second._peer = second, first
    return first, second
