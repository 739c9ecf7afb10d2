"""A remote stream that stops arriving: the network dropped, the connection was replaced, the
party left. The same rule as the counter's devices (``recorder/device_loss.py``): the loss
starts at the end of the last thing received (the last video frame's arrival, the end of the
last audio sample), or at the moment of the loss when nothing was received yet, and ends when
media arrives again. It is an EVENT ``remote_media_lost`` as it happens and a GAP
``network_drop`` with the exact range on the unit's CLOCK_MONOTONIC when the media is back, or
when the recording ends while it is still away.

A party that said goodbye is different: :meth:`StreamLoss.ended` marks the stream as ended by
the party, so no GAP is written if it never comes back (the EVENT ``remote_left`` says why it
stopped); if the party rejoins, the time away is a GAP with ``reason: "left"``.
"""
from __future__ import annotations

import threading

from firmware.evidence.store import Evidence
from firmware.unit.recorder.sealer import Sealer


class StreamLoss:
    """Losses of one remote stream (``stream``: ``remote_video`` / ``remote_audio``) of one
    party. Called from the party's media thread; records go through the party's sealer."""

    def __init__(self, evidence: Evidence, sealer: Sealer, session_id: str, *, party: str,
                 stream: str) -> None:
        self._evidence = evidence
        self._sealer = sealer
        self._session = session_id
        self.party = party
        self.stream = stream
        self._lock = threading.Lock()
        self._last_end_ns: int | None = None
        self._lost_from: int | None = None
        self._reason = ""
        self._ended = False
        self.spans: list[tuple[int, int, str]] = []   # closed losses: start, end, reason

    def received(self, end_ns: int) -> None:
        """Media of the stream was received, up to ``end_ns``."""
        self._last_end_ns = end_ns

    @property
    def lost(self) -> bool:
        return self._lost_from is not None

    @property
    def last_end_ns(self) -> int | None:
        return self._last_end_ns

    def went(self, at_ns: int, reason: str) -> bool:
        """The stream stopped (noticed at ``at_ns``); False if it was already lost."""
        with self._lock:
            if self._lost_from is not None:
                return False
            self._lost_from = self._last_end_ns if self._last_end_ns is not None else at_ns
            self._reason = reason
            self._ended = False
            start = self._lost_from
        self._sealer.submit(lambda: self._evidence.event(
            "remote_media_lost", {"party": self.party, "stream": self.stream,
                                  "reason": reason, "from_ns": start, "at_ns": at_ns},
            session_id=self._session))
        return True

    def ended(self, at_ns: int) -> None:
        """The party hung up: the stream ends here unless it comes back. A loss already open
        (the network dropped before the goodbye) is closed with its GAP at ``at_ns``."""
        with self._lock:
            if self._ended or self._last_end_ns is None:
                return     # ended already, or never started: nothing ends
            start, reason = self._lost_from, self._reason
            self._lost_from = None
        if start is not None:
            self._close(start, at_ns, reason)
        with self._lock:
            self._lost_from = at_ns if start is not None else self._last_end_ns
            self._reason = "left"
            self._ended = True

    def back(self, at_ns: int) -> None:
        """Media arrives again at ``at_ns``: the GAP of the loss is recorded."""
        with self._lock:
            start, reason = self._lost_from, self._reason
            self._lost_from, self._ended = None, False
        if start is not None:
            self._close(start, at_ns, reason)

    def close(self, at_ns: int) -> None:
        """The recording ends at ``at_ns``: a loss still open becomes its GAP, unless the
        party had hung up."""
        with self._lock:
            start, reason, ended = self._lost_from, self._reason, self._ended
            self._lost_from, self._ended = None, False
        if start is not None and not ended:
            self._close(start, at_ns, reason)

    def _close(self, start: int, at_ns: int, reason: str) -> None:
        end = max(start, at_ns)
        self._last_end_ns = end
        self.spans.append((start, end, reason))
        self._sealer.submit(lambda: self._evidence.gap(
            "network_drop", start, end,
            {"stream": self.stream, "party": self.party, "reason": reason},
            session_id=self._session))
