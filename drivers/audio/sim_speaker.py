"""The simulated speaker: plays a WAV for its real duration on the clock and remembers it.

A clip "plays" on a thread that sleeps on ``clock.sleep_until_ns`` in slices of ``slice_ms``
until ``started_ns + duration``, so with ``SimClock(realtime=False)`` it ends at once in wall
time with exact clock times. Each clip that ends is appended to :attr:`SimSpeaker.played`.
With ``loopback=`` a :class:`SimMicrophone`, the clip is mixed into what that microphone
hears from ``started_ns`` on (cut where it is stopped), so prompts show up in the recording.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from drivers.audio.base import AudioStateError, Playback, Speaker
from drivers.audio.sim import SimMicrophone
from drivers.audio.wav import read_wav, to_mono_at_rate
from drivers.clock import Clock
from drivers.errors import BadDriverArgument


@dataclass(frozen=True)
class PlayedClip:
    """One clip the simulated speaker played; times are CLOCK_MONOTONIC ns."""

    path: Path
    started_ns: int
    ended_ns: int
    completed: bool

    @property
    def duration_ns(self) -> int:
        return self.ended_ns - self.started_ns


class SimSpeaker(Speaker):
    """A speaker whose playing takes clock time and leaves a record (see the module docstring)."""

    def __init__(self, *, clock: Clock, device: str | None = None,
                 loopback: SimMicrophone | None = None, loopback_gain: float = 0.5,
                 slice_ms: float = 20.0) -> None:
        if slice_ms <= 0:
            raise BadDriverArgument(f"slice_ms={slice_ms!r}: must be positive")
        self.clock = clock
        self.device = device or "sim"
        self._loopback = loopback
        self._gain = loopback_gain
        self._slice_ns = int(slice_ms * 1e6)
        self._lock = threading.Lock()  # play/close; held while a stopped clip's thread ends
        self._played_lock = threading.Lock()
        self._played: list[PlayedClip] = []
        self._current: Playback | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._released = threading.Event()
        self._released.set()

    @property
    def played(self) -> list[PlayedClip]:
        """The clips that have ended, oldest first (a copy)."""
        with self._played_lock:
            return list(self._played)

    @property
    def playing(self) -> bool:
        current = self._current
        return current is not None and not current.done

    def play(self, wav_path: Path) -> Playback:
        clip = read_wav(wav_path)
        with self._lock:
            if self._closed:
                raise AudioStateError(f"speaker {self.device!r}: closed; open a new one")
            self._halt()
            stop = threading.Event()
            heard = None
            if self._loopback is not None:
                heard = to_mono_at_rate(clip, self._loopback.rate) * self._gain
            started = self.clock.monotonic_ns()
            handle = None
            if heard is not None:
                placed = self._loopback.mix(heard)
                if placed is not None:
                    handle, started = placed
            playback = Playback(Path(wav_path), started, clip.duration_ns, stop.set)
            self._current = playback
            self._thread = threading.Thread(target=self._run, args=(playback, stop, handle),
                                            name=f"sim-speaker-{self.device}", daemon=True)
            self._thread.start()
            return playback

    def hold(self) -> None:
        """Test control: a clip that reaches its end is not done until :meth:`release` (as if
        the speaker lagged), so a test can act while a prompt is certainly still playing."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._released.set()
            self._halt()

    def _halt(self) -> None:
        """Stop the clip playing, if any, and wait for its thread (lock held)."""
        if self._current is not None:
            self._current.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, playback: Playback, stop: threading.Event, handle: int | None) -> None:
        end = playback.started_ns + playback.duration_ns
        try:
            now = self.clock.monotonic_ns()
            while now < end and not stop.is_set():
                self.clock.sleep_until_ns(min(end, now + self._slice_ns))
                now = self.clock.monotonic_ns()
            completed = now >= end
            while completed and not stop.is_set() and not self._released.wait(0.02):
                pass  # held by the test control
            ended = end if completed else now
            if not completed and self._loopback is not None:
                self._loopback.unmix(handle, ended)
        except BaseException as exc:  # reported on the handle, which the caller holds
            playback._finish(self.clock.monotonic_ns(), False, exc)
            return
        with self._played_lock:
            self._played.append(PlayedClip(playback.path, playback.started_ns, ended, completed))
        playback._finish(ended, completed)
