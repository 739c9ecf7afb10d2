"""The simulated pad: recorded event streams replayed through the real parser, on the clock.

A recording is JSON lines: a header ``{"format": "dualrec.sigpad-events/1", "pad": {...}}``,
then one event a line, ``{"t_ns": 5000000, "type": "EV_ABS", "code": "ABS_X", "value": 812}``,
``t_ns`` counted from the start of the recording. Playback stamps each event with the clock's
CLOCK_MONOTONIC at its due time, waiting for it with ``clock.sleep_until_ns`` (instant on a
``SimClock(realtime=False)``).
"""
from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from evdev import ecodes

from drivers.clock import Clock
from drivers.errors import BadDriverArgument, DriverError
from drivers.sigpad.base import PadInfo, PadSink, SignaturePad
from drivers.sigpad.parser import EventParser, RawEvent, deliver

FORMAT = "dualrec.sigpad-events/1"
#: Playback waits in steps of at most this long so that stop() and unplug() act at once.
_STEP_NS = 20_000_000


#: Names to write for codes that have several (0x140 is both BTN_DIGI and BTN_TOOL_PEN).
_PREFERRED = {"BTN_TOOL_PEN", "BTN_TOUCH", "BTN_STYLUS", "BTN_TOOL_RUBBER"}


def _name(table: dict, number: int) -> str | int:
    name = table.get(number)
    if isinstance(name, (list, tuple)):
        name = next((n for n in name if n in _PREFERRED), name[0])
    return name if isinstance(name, str) else number


def _number(value: str | int, what: str) -> int:
    if isinstance(value, int):
        return value
    if value in ecodes.ecodes:
        return ecodes.ecodes[value]
    raise BadDriverArgument(f"recorded event: unknown {what} {value!r}")


def save_events(path: str | Path, info: PadInfo, events: Iterable[RawEvent | tuple]) -> None:
    """Write a recording: ``events`` are (type, code, value, t_offset_ns)."""
    lines = [json.dumps({"format": FORMAT, "pad": info.as_record()}, ensure_ascii=False)]
    for etype, code, value, t in events:
        lines.append(json.dumps({"t_ns": int(t), "type": _name(ecodes.EV, etype),
                                 "code": _name(ecodes.bytype.get(etype, {}), code),
                                 "value": int(value)}))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def load_events(path: str | Path) -> tuple[PadInfo, list[RawEvent]]:
    """Read a recording written by :func:`save_events`: the pad and its events."""
    text = Path(path).read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.strip()]
    try:
        header = json.loads(rows[0]) if rows else {}
        if header.get("format") != FORMAT:
            raise BadDriverArgument(f"{path}: not a {FORMAT} recording")
        info = PadInfo.from_record(header["pad"])
        events = []
        for row in rows[1:]:
            e = json.loads(row)
            events.append(RawEvent(_number(e["type"], "type"), _number(e["code"], "code"),
                                   int(e["value"]), int(e["t_ns"])))
    except BadDriverArgument:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise BadDriverArgument(f"{path}: bad recording: {e!r}") from e
    return info, events


def strokes_to_events(strokes: Sequence[Sequence[tuple[int, int, int]]], *,
                      rate_hz: float = 200.0, gap_s: float = 0.2) -> list[RawEvent]:
    """Events a pen tablet would send for ``strokes`` of (x, y, pressure) points, one point per
    report at ``rate_hz``, ``gap_s`` of pen travel between strokes. Like the kernel, a report
    carries only the values that changed."""
    if rate_hz <= 0 or gap_s < 0:
        raise BadDriverArgument(f"rate_hz={rate_hz!r}, gap_s={gap_s!r}: must be > 0 and >= 0")
    period = int(1e9 / rate_hz)
    events: list[RawEvent] = []
    t = 0
    last: dict[int, int] = {}
    for stroke in strokes:
        if not stroke:
            continue
        for i, (x, y, p) in enumerate(stroke):
            frame = []
            if i == 0:
                frame += [(ecodes.EV_KEY, ecodes.BTN_TOOL_PEN, 1),
                          (ecodes.EV_KEY, ecodes.BTN_TOUCH, 1)]
            for code, value in ((ecodes.ABS_X, x), (ecodes.ABS_Y, y), (ecodes.ABS_PRESSURE, p)):
                if last.get(code) != value:
                    frame.append((ecodes.EV_ABS, code, int(value)))
                    last[code] = value
            frame.append((ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
            events += [RawEvent(ty, co, va, t) for ty, co, va in frame]
            t += period
        last[ecodes.ABS_PRESSURE] = 0
        events += [RawEvent(ecodes.EV_ABS, ecodes.ABS_PRESSURE, 0, t),
                   RawEvent(ecodes.EV_KEY, ecodes.BTN_TOUCH, 0, t),
                   RawEvent(ecodes.EV_KEY, ecodes.BTN_TOOL_PEN, 0, t),
                   RawEvent(ecodes.EV_SYN, ecodes.SYN_REPORT, 0, t)]
        t += int(gap_s * 1e9)
    return events


@dataclass
class _Batch:
    events: list[RawEvent]
    done: threading.Event = field(default_factory=threading.Event)


class ReplaySignaturePad(SignaturePad):
    """Plays ``events`` (type, code, value, t_offset_ns) from :meth:`start`, then what
    :meth:`sign` adds. Test controls: :meth:`sign`, :meth:`unplug`, :meth:`replug`."""

    def __init__(self, info: PadInfo, events: Iterable[RawEvent | tuple], clock: Clock) -> None:
        super().__init__(info, clock)
        self._cond = threading.Condition()
        self._batches: collections.deque[_Batch] = collections.deque()
        initial = [RawEvent(*e) for e in events]
        if initial:
            self._batches.append(_Batch(initial))
        self._plugged = True           # what the test wants
        self._reported_plugged = True  # what the sink was told
        self._reported = threading.Event()
        self._reading = False          # the reader thread is running
        self._playing: _Batch | None = None
        self._next_free_ns = 0         # playback of the next batch starts no earlier

    @classmethod
    def from_file(cls, path: str | Path, clock: Clock) -> "ReplaySignaturePad":
        info, events = load_events(path)
        return cls(info, events, clock)

    # -- test controls -------------------------------------------------------------------------
    def sign(self, strokes: Sequence[Sequence[tuple[int, int, int]]], *, wait: bool = True,
             rate_hz: float = 200.0, gap_s: float = 0.2, timeout: float | None = None) -> None:
        """Sign ``strokes`` of (x, y, pressure) on the pad (one point per report at
        ``rate_hz``). With ``wait``, return once they are played (or the pad stopped)."""
        for stroke in strokes:
            for x, y, p in stroke:
                if not (self.info.x_min <= x <= self.info.x_max
                        and self.info.y_min <= y <= self.info.y_max):
                    raise BadDriverArgument(f"sign: point ({x}, {y}) is off the pad")
                if not 0 <= p <= max(self.info.pressure_max, 1):
                    raise BadDriverArgument(
                        f"sign: pressure {p} outside 0..{self.info.pressure_max}")
        self.play(strokes_to_events(strokes, rate_hz=rate_hz, gap_s=gap_s), wait=wait,
                  timeout=timeout)

    def play(self, events: Iterable[RawEvent | tuple], *, wait: bool = True,
             timeout: float | None = None) -> None:
        """Queue recorded ``events`` (t_offset_ns from their own start) after what is queued."""
        batch = _Batch([RawEvent(*e) for e in events])
        with self._cond:
            if self._closed:
                raise DriverError(f"signature pad {self.info.name!r} is closed")
            self._batches.append(batch)
            self._cond.notify_all()
            reading = self._reading
        if wait and reading:
            batch.done.wait(timeout)

    def unplug(self, *, wait: bool = True) -> None:
        """Pull the cable: a stroke in progress ends, the sink gets ``pad_lost``, and what is
        signed until :meth:`replug` is lost."""
        self._set_plugged(False, wait)

    def replug(self, *, wait: bool = True) -> None:
        """Plug the pad back in: the sink gets ``pad_restored``."""
        self._set_plugged(True, wait)

    def _set_plugged(self, plugged: bool, wait: bool) -> None:
        with self._cond:
            self._plugged = plugged
            self._reported.clear()
            self._cond.notify_all()
            reading = self._reading
        if wait and reading:
            self._reported.wait(5.0)

    # -- the reader ----------------------------------------------------------------------------
    def _run(self, sink: PadSink) -> None:
        parser = EventParser(self.info)
        with self._cond:
            self._reading = True
        while not self._stopping.is_set():
            self._report_plug(sink, parser)
            with self._cond:
                if not self._batches:
                    self._cond.wait(0.1)
                    continue
                self._playing = self._batches.popleft()
            self._play_batch(self._playing, parser, sink)
            self._playing.done.set()
        deliver(parser.flush(self._clock.monotonic_ns()), sink)

    def _reader_exited(self) -> None:
        with self._cond:  # nobody waits for a batch that will never play
            self._reading = False
            for pending in ([self._playing] if self._playing else []) + list(self._batches):
                pending.done.set()
            self._reported.set()

    def _report_plug(self, sink: PadSink, parser: EventParser) -> bool:
        """Tell the sink about an unplug/replug; True while the pad is plugged in."""
        with self._cond:
            plugged = self._plugged
        if plugged != self._reported_plugged:
            now = self._clock.monotonic_ns()
            if plugged:
                self._set_health("ok")
                sink.pad_restored(now)
            else:
                deliver(parser.flush(now), sink)
                self._set_health("lost")
                sink.pad_lost(now, "unplugged (simulated)")
            self._reported_plugged = plugged
        self._reported.set()
        return plugged

    def _play_batch(self, batch: _Batch, parser: EventParser, sink: PadSink) -> None:
        start = max(self._clock.monotonic_ns(), self._next_free_ns)
        for event in batch.events:
            due = start + event.timestamp_ns
            while True:
                if self._stopping.is_set() or not self._report_plug(sink, parser):
                    return  # stopped, or unplugged: the rest of the batch is never read
                now = self._clock.monotonic_ns()
                if now >= due:
                    break
                self._clock.sleep_until_ns(min(due, now + _STEP_NS))
            deliver(parser.feed(RawEvent(event.type, event.code, event.value, due)), sink)
            self._next_free_ns = due + 1
