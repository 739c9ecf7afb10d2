"""Turning raw input events of a pen tablet into pen samples and stroke ends.

Both backends feed this parser: the evdev backend with the kernel's events (timestamps switched
to CLOCK_MONOTONIC), the replay backend with recorded events stamped on the clock as it plays
them. The kernel sends one frame per pen report: the axes that changed (EV_ABS ABS_X, ABS_Y,
ABS_PRESSURE), the buttons that changed (EV_KEY BTN_TOUCH, BTN_TOOL_PEN), then EV_SYN
SYN_REPORT; every event of a frame carries the same timestamp.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

from evdev import ecodes

from drivers.sigpad.base import PadInfo, PadSink, PenSample


class RawEvent(NamedTuple):
    """One input event: ``timestamp_ns`` on CLOCK_MONOTONIC (in a recording: the offset)."""

    type: int
    code: int
    value: int
    timestamp_ns: int


@dataclass(frozen=True)
class StrokeEnd:
    """The pen left the pad (or the pad went away) at ``timestamp_ns``."""

    timestamp_ns: int


Parsed = PenSample | StrokeEnd

#: The tools whose proximity counts as "pen near the pad".
_TOOLS = (ecodes.BTN_TOOL_PEN, ecodes.BTN_TOOL_RUBBER, ecodes.BTN_TOOL_BRUSH,
          ecodes.BTN_TOOL_PENCIL)


class EventParser:
    """Groups events into frames and emits one :class:`PenSample` per frame that changed.

    The pen is down while BTN_TOUCH is 1; on a pad that never reports BTN_TOUCH, while the
    pressure is above 0. A sample is emitted while the pen is down, at the lift, and while the
    pen hovers in proximity (BTN_TOOL_PEN 1); the lift is followed by a :class:`StrokeEnd`.
    A frame whose SYN_REPORT never came is closed when an event more than ``frame_gap_ns``
    later arrives. After SYN_DROPPED, events up to the next SYN_REPORT are discarded (the
    kernel's rule); the caller should then feed the device's current state.
    """

    def __init__(self, info: PadInfo, *, frame_gap_ns: int = 2_000_000) -> None:
        self.info = info
        self._frame_gap_ns = frame_gap_ns
        self._x = info.x_min
        self._y = info.y_min
        self._pressure = 0
        self._touch: bool | None = None   # None until the pad reports BTN_TOUCH
        self._tool: bool | None = None
        self._down = False                # as last emitted
        self._frame_ts: int | None = None
        self._dirty = False
        self._dropping = False

    @property
    def pen_down(self) -> bool:
        """Whether the last emitted sample had the pen down (a stroke is open)."""
        return self._down

    def feed(self, event: RawEvent | tuple[int, int, int, int]) -> list[Parsed]:
        """Take one event; return the samples and stroke ends it completes, in order."""
        etype, code, value, ts = event
        out: list[Parsed] = []
        if (self._dirty and self._frame_ts is not None
                and abs(ts - self._frame_ts) > self._frame_gap_ns):
            out += self._close_frame(self._frame_ts)  # the previous frame lost its SYN_REPORT
        if etype == ecodes.EV_SYN:
            if code == ecodes.SYN_REPORT:
                if self._dropping:
                    self._dropping = False
                    self._dirty, self._frame_ts = False, None
                else:
                    out += self._close_frame(ts)
            elif code == ecodes.SYN_DROPPED:
                self._dropping = True
            return out
        if self._dropping:
            return out
        if etype == ecodes.EV_ABS:
            if code == ecodes.ABS_X:
                self._x = value
            elif code == ecodes.ABS_Y:
                self._y = value
            elif code == ecodes.ABS_PRESSURE:
                self._pressure = value
            else:
                return out
        elif etype == ecodes.EV_KEY:
            if code == ecodes.BTN_TOUCH:
                self._touch = bool(value)
            elif code in _TOOLS:
                self._tool = bool(value)
            else:
                return out
        else:
            return out  # EV_MSC serial numbers, timestamps: not part of the pen's state
        if not self._dirty:
            self._dirty, self._frame_ts = True, ts
        return out

    def feed_all(self, events: Iterable[RawEvent | tuple[int, int, int, int]]) -> list[Parsed]:
        out: list[Parsed] = []
        for event in events:
            out += self.feed(event)
        return out

    def flush(self, timestamp_ns: int) -> list[Parsed]:
        """The stream ends here (pad lost, stopped): drop an unfinished frame, end an open
        stroke at ``timestamp_ns``."""
        self._dirty, self._frame_ts, self._dropping = False, None, False
        if self._down:
            self._down = False
            return [StrokeEnd(timestamp_ns)]
        return []

    def _is_down(self) -> bool:
        if self._tool is False:
            return False
        if self._touch is not None:
            return self._touch
        return self._pressure > 0

    def _close_frame(self, ts: int) -> list[Parsed]:
        if not self._dirty:
            return []
        self._dirty, self._frame_ts = False, None
        down = self._is_down()
        out: list[Parsed] = []
        if down or self._down or self._tool:
            out.append(PenSample(self._x, self._y, self._pressure if down else 0, ts, down))
        if self._down and not down:
            out.append(StrokeEnd(ts))
        self._down = down
        return out


def deliver(items: Iterable[Parsed], sink: PadSink) -> None:
    """Hand parsed items to a sink in order."""
    for item in items:
        if isinstance(item, PenSample):
            sink.pen_sample(item)
        else:
            sink.stroke_ended(item.timestamp_ns)
