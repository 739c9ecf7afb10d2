"""A device that goes away during a recording, handled once for every stream.

One rule for when the gap starts: at the end of the last thing captured from the device (the
last frame, the end of the last audio block, the last pen sample), or at the moment of the loss
when nothing was captured yet — media is missing from then on, not from when the driver
noticed. The loss is an EVENT ``device_lost`` as it happens (so the fleet hears at once) and a
GAP ``device_lost`` with the exact range when the device comes back or the recording ends.
Both go through the recording's sealer, in order with the segments.
"""
from __future__ import annotations

import threading

from firmware.evidence.store import Evidence
from firmware.unit.recorder.sealer import Sealer


class DeviceLoss:
    """Tracks one device of one session's recording (``stream``: video, audio, signature)."""

    def __init__(self, evidence: Evidence, sealer: Sealer, session_id: str, *, device: str,
                 stream: str) -> None:
        self._evidence = evidence
        self._sealer = sealer
        self._session = session_id
        self.device = device
        self.stream = stream
        self._lock = threading.Lock()
        self._last_end_ns: int | None = None
        self._lost_from: int | None = None
        self.spans: list[tuple[int, int]] = []     # closed losses, CLOCK_MONOTONIC ns

    def captured(self, end_ns: int) -> None:
        """Something was captured from the device, up to ``end_ns``."""
        self._last_end_ns = end_ns

    @property
    def lost(self) -> bool:
        return self._lost_from is not None

    def went(self, at_ns: int, reason: str) -> None:
        """The driver reports the device gone at ``at_ns``; a second report is ignored."""
        with self._lock:
            if self._lost_from is not None:
                return
            self._lost_from = self._last_end_ns if self._last_end_ns is not None else at_ns
        self._sealer.submit(lambda: self._evidence.event(
            "device_lost", {"device": self.device, "reason": reason, "at_ns": at_ns},
            session_id=self._session))

    def back(self, at_ns: int) -> None:
        """The device is back (or the recording ends) at ``at_ns``: the GAP is recorded."""
        with self._lock:
            start, self._lost_from = self._lost_from, None
        if start is None:
            return
        end = max(start, at_ns)
        self._last_end_ns = end    # back: media is expected again from here
        self.spans.append((start, end))
        self._sealer.submit(lambda: self._evidence.gap(
            "device_lost", start, end, {"stream": self.stream, "device": self.device},
            session_id=self._session))
