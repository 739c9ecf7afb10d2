"""Finding frames that never arrived, from the timestamps of those that did."""
from __future__ import annotations

from typing import NamedTuple

from drivers.errors import BadDriverArgument


class FrameGap(NamedTuple):
    """``missing`` frames should have come between the frames at ``after_ns`` and ``before_ns``
    (CLOCK_MONOTONIC nanoseconds)."""

    after_ns: int
    before_ns: int
    missing: int


class FrameGapDetector:
    """Fed the timestamps of successive frames, reports where frames are missing.

    An interval longer than ``tolerance`` frame periods (1.5 by default) is a gap; the number
    of missing frames is the interval in periods, rounded, minus one. ``missing_total`` counts
    all missing frames reported.
    """

    def __init__(self, fps: int, tolerance: float = 1.5) -> None:
        if not isinstance(fps, int) or fps <= 0:
            raise BadDriverArgument(f"FrameGapDetector fps={fps!r}: must be a positive integer")
        if not 1.0 < tolerance < 2.0:
            raise BadDriverArgument(
                f"FrameGapDetector tolerance={tolerance!r}: must be between 1 and 2 periods")
        self.fps = fps
        self.tolerance = tolerance
        self._period_ns = 1e9 / fps
        self._last_ns: int | None = None
        self.missing_total = 0

    def feed(self, timestamp_ns: int) -> FrameGap | None:
        """Take the next frame's timestamp (ns); return the gap before it, if there is one.

        Timestamps must increase strictly; a frame at or before the previous one raises
        :class:`BadDriverArgument`.
        """
        last = self._last_ns
        if last is not None and timestamp_ns <= last:
            raise BadDriverArgument(
                f"frame timestamp {timestamp_ns} ns is not after the previous one ({last} ns)")
        self._last_ns = timestamp_ns
        if last is None:
            return None
        interval = timestamp_ns - last
        if interval <= self.tolerance * self._period_ns:
            return None
        slots = max(2, round(interval / self._period_ns))
        self.missing_total += slots - 1
        return FrameGap(last, timestamp_ns, slots - 1)

    def reset(self) -> None:
        """Forget the last timestamp: the next one starts a new run (after a camera loss)."""
        self._last_ns = None
