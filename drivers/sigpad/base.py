"""The signature pad interface: what a pad is, what it delivers, and its reader thread.

Coordinates are the pad's own units (``PadInfo`` gives their range and units per mm); every
timestamp is CLOCK_MONOTONIC in nanoseconds, the appliance's one clock.
"""
from __future__ import annotations

import abc
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Protocol

from drivers.clock import Clock
from drivers.errors import DriverError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PadInfo:
    """The pad's name and axes. Resolutions are in units per mm (0: the pad does not say);
    ``pressure_max`` 0 means the pad has no pressure axis."""

    name: str
    x_min: int
    x_max: int
    y_min: int
    y_max: int
    pressure_max: int
    x_resolution: int
    y_resolution: int

    def as_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> "PadInfo":
        return cls(name=str(record["name"]),
                   **{k: int(record[k]) for k in ("x_min", "x_max", "y_min", "y_max",
                                                  "pressure_max", "x_resolution",
                                                  "y_resolution")})


@dataclass(frozen=True)
class PenSample:
    """The pen's position and pressure at one SYN_REPORT; ``timestamp_ns`` on CLOCK_MONOTONIC.

    ``pen_down`` is True while the pen touches the pad; samples with ``pen_down`` False are the
    lift (and hover, on pads that report it)."""

    x: int
    y: int
    pressure: int
    timestamp_ns: int
    pen_down: bool


class PadSink(Protocol):
    """Where a pad delivers, on its reader thread."""

    def pen_sample(self, sample: PenSample) -> None: ...

    def stroke_ended(self, timestamp_ns: int) -> None: ...

    def pad_lost(self, timestamp_ns: int, reason: str) -> None: ...

    def pad_restored(self, timestamp_ns: int) -> None: ...


class SignaturePad(abc.ABC):
    """A pad that reads on its own thread into a :class:`PadSink` between start() and stop().

    ``health``: "stopped" (not started, or stopped), "ok" (reading), "lost" (the device went
    away or the reader failed; the sink got ``pad_lost``). Subclasses implement :meth:`_run`
    (the reader loop, returning when ``self._stopping`` is set) and may override :meth:`_wake`
    (interrupt a blocking read), :meth:`_reader_exited` and :meth:`_close`. An exception out of
    :meth:`_run` (a sink's, too) becomes ``pad_lost(t, "reader failed: ...")`` and "lost".
    """

    info: PadInfo

    def __init__(self, info: PadInfo, clock: Clock) -> None:
        self.info = info
        self._clock = clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: threading.Thread | None = None
        self._sink: PadSink | None = None
        self._health = "stopped"
        self._closed = False

    @property
    def health(self) -> str:
        with self._lock:
            return self._health

    def _set_health(self, health: str) -> None:
        with self._lock:
            self._health = health

    def start(self, sink: PadSink) -> None:
        """Start delivering to ``sink`` on a reader thread."""
        previous = self._previous
        if previous is not None and previous is not threading.current_thread():
            previous.join()  # a reader stopped from its own sink may still be finishing
        with self._lock:
            if self._closed:
                raise DriverError(f"signature pad {self.info.name!r} is closed")
            if self._thread is not None:
                raise DriverError(f"signature pad {self.info.name!r} is already started")
            self._sink = sink
            self._stopping.clear()
            self._health = "ok"
            self._thread = threading.Thread(target=self._guarded_run, daemon=True,
                                            name=f"sigpad {self.info.name}")
            self._thread.start()

    def stop(self) -> None:
        """Stop reading; the sink gets nothing after this returns. Safe when not started.

        Called from the sink (on the reader thread), it asks the reader to stop and returns."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._previous = thread
        if thread is None:
            return
        self._stopping.set()
        self._wake()
        if thread is not threading.current_thread():
            thread.join()
        self._set_health("stopped")

    def close(self) -> None:
        """Stop and release the device. Safe twice; not from the sink's own callbacks."""
        self.stop()
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._close()

    def __enter__(self) -> "SignaturePad":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _guarded_run(self) -> None:
        sink = self._sink
        assert sink is not None
        try:
            self._run(sink)
        except Exception as e:  # report to the owner, never die silently
            log.exception("signature pad %r reader failed", self.info.name)
            self._set_health("lost")
            sink.pad_lost(self._clock.monotonic_ns(), f"reader failed: {e!r}")
        finally:
            self._reader_exited()

    @abc.abstractmethod
    def _run(self, sink: PadSink) -> None:
        """The reader loop; return when ``self._stopping`` is set."""

    def _reader_exited(self) -> None:
        """Called on the reader thread when it ends, after any failure was reported."""

    def _wake(self) -> None:
        """Interrupt a blocking read so :meth:`_run` sees ``_stopping``."""

    def _close(self) -> None:
        """Release the device (called once, after the reader stopped)."""
