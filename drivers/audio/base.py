"""The audio interface: a microphone that delivers timestamped blocks, a speaker that plays WAVs.

Every time here is CLOCK_MONOTONIC in nanoseconds, read from the :class:`~drivers.clock.Clock`
the driver was given. Samples are signed 16-bit little-endian, interleaved by channel.
"""
from __future__ import annotations

import abc
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from drivers.clock import Clock
from drivers.errors import BadDriverArgument, DriverError

log = logging.getLogger(__name__)

HEALTH_OK = "ok"
HEALTH_STOPPED = "stopped"
HEALTH_LOST = "lost"


class AudioStateError(DriverError, RuntimeError):
    """A method was called in a state that does not allow it (start twice, use after close)."""


@dataclass(frozen=True)
class AudioBlock:
    """One block of captured audio.

    ``first_sample_ns`` is CLOCK_MONOTONIC of the first sample; sample ``i`` of a capture sits at
    ``anchor_ns + i * 1e9 // rate`` (integer ns), so blocks are exactly ``sample_index / rate``
    apart. ``sample_index`` counts samples per channel since ``start()``; a jump between one
    block's end and the next block's ``sample_index`` is a hole that an ``audio_gap`` explains.
    """

    pcm: bytes
    frames: int
    first_sample_ns: int
    sample_index: int


class AudioSink(Protocol):
    """Where a microphone delivers; called from the microphone's own thread, one call at a time."""

    def audioblock(self, block: AudioBlock) -> None: ...

    def audio_gap(self, start_ns: int, end_ns: int, reason: str) -> None:
        """Samples in ``[start_ns, end_ns)`` were lost (overflow, device lost)."""

    def microphone_lost(self, timestamp_ns: int, reason: str) -> None:
        """The device went away; ``timestamp_ns`` is where its audio stops."""

    def microphone_restored(self, timestamp_ns: int) -> None:
        """The device is back; ``timestamp_ns`` is the first sample time of the next block."""


def check_format(rate: int, channels: int, block_frames: int) -> None:
    """Refuse formats no backend can produce; names the argument."""
    if not isinstance(rate, int) or not 8_000 <= rate <= 192_000:
        raise BadDriverArgument(f"rate={rate!r}: must be an integer sample rate in Hz, "
                                "8000..192000")
    if not isinstance(channels, int) or not 1 <= channels <= 8:
        raise BadDriverArgument(f"channels={channels!r}: must be an integer 1..8")
    if not isinstance(block_frames, int) or not 16 <= block_frames <= rate * 2:
        raise BadDriverArgument(f"block_frames={block_frames!r}: must be an integer from 16 "
                                f"to 2 s of samples ({rate * 2})")


class Microphone(abc.ABC):
    """Captures audio and delivers :class:`AudioBlock` s to a sink from a thread of its own.

    Public methods own state and locking; backends implement ``_start``, ``_stop``, ``_close``
    and report loss through :meth:`_set_lost`. ``health`` is ``"ok"`` while capturing,
    ``"lost"`` while the device is gone (or the capture thread failed, see ``failure``) and
    ``"stopped"`` otherwise.
    """

    def __init__(self, *, clock: Clock, rate: int, channels: int, block_frames: int,
                 device: str) -> None:
        check_format(rate, channels, block_frames)
        self.clock = clock
        self.rate = rate
        self.channels = channels
        self.block_frames = block_frames
        self.device = device
        self._state_lock = threading.Lock()
        self._running = False
        self._closed = False
        self._lost = False
        self._thread: threading.Thread | None = None  # the backend's delivery thread
        self.failure: BaseException | None = None

    def start(self, sink: AudioSink) -> None:
        """Begin capturing; blocks go to ``sink`` from the microphone's thread."""
        with self._state_lock:
            if self._closed:
                raise AudioStateError(f"microphone {self.device!r}: closed; open a new one")
            if self._running:
                raise AudioStateError(f"microphone {self.device!r}: already started; "
                                      "stop() it first")
            self._lost = False
            self.failure = None
            self._start(sink)
            self._running = True

    def stop(self) -> None:
        """Stop capturing; returns once the thread has delivered its last block. Safe twice."""
        if self._thread is not None and self._thread is threading.current_thread():
            raise AudioStateError(f"microphone {self.device!r}: stop() from the sink's callback "
                                  "would wait for itself; call it from another thread")
        with self._state_lock:
            if not self._running:
                return
            self._running = False
            self._stop()

    def close(self) -> None:
        """Stop and release the device. Safe twice."""
        self.stop()
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._close()

    @property
    def health(self) -> str:
        if not self._running:
            return HEALTH_STOPPED
        return HEALTH_LOST if self._lost else HEALTH_OK

    def __enter__(self) -> Microphone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_lost(self, lost: bool) -> None:
        self._lost = lost

    def _worker_failed(self, sink: AudioSink, exc: BaseException) -> None:
        """The capture thread died of ``exc``: keep it in ``failure``, tell the sink, log it."""
        self.failure = exc
        self._lost = True
        log.error("microphone %r: capture thread failed", self.device, exc_info=exc)
        try:
            sink.microphone_lost(self.clock.monotonic_ns(),
                                 f"microphone {self.device!r}: capture thread failed: {exc!r}")
        except Exception as again:  # the sink is what failed; the first error stays in failure
            exc.add_note(f"telling the sink failed too: {again!r}")

    @abc.abstractmethod
    def _start(self, sink: AudioSink) -> None:
        """Open the stream and start the delivery thread (called with the state lock held)."""

    @abc.abstractmethod
    def _stop(self) -> None:
        """Stop the thread and wait for it (called with the state lock held)."""

    def _close(self) -> None:
        """Release what the constructor acquired."""


class Playback:
    """The handle of one clip playing. Times are CLOCK_MONOTONIC ns.

    ``ended_ns`` is ``None`` while the clip plays; ``completed`` says whether it played to its
    end (``False`` after :meth:`stop` or a device error, which is in ``error``).
    """

    def __init__(self, path: Path, started_ns: int, duration_ns: int,
                 request_stop: Callable[[], None]) -> None:
        self.path = path
        self.started_ns = started_ns
        self.duration_ns = duration_ns
        self.ended_ns: int | None = None
        self.completed = False
        self.error: BaseException | None = None
        self._request_stop = request_stop
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait (wall seconds) for the clip to end; True if it has."""
        return self._done.wait(timeout)

    def stop(self) -> None:
        """Stop the clip and wait until it has stopped. Safe when already done."""
        if not self.done:
            self._request_stop()
            self._done.wait()

    def _finish(self, ended_ns: int, completed: bool,
                error: BaseException | None = None) -> None:
        self.ended_ns = ended_ns
        self.completed = completed
        self.error = error
        self._done.set()

    def __repr__(self) -> str:
        return (f"Playback({str(self.path)!r}, started_ns={self.started_ns}, "
                f"ended_ns={self.ended_ns}, completed={self.completed})")


class Speaker(abc.ABC):
    """Plays one WAV clip at a time, without blocking the caller."""

    @abc.abstractmethod
    def play(self, wav_path: Path) -> Playback:
        """Start playing ``wav_path`` (16-bit PCM WAV); a clip still playing is stopped first."""

    @property
    @abc.abstractmethod
    def playing(self) -> bool:
        """Whether a clip is playing now."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop any clip and release the device. Safe twice."""

    def __enter__(self) -> Speaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
