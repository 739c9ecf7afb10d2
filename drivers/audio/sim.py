"""The simulated microphone: audio paced by the clock, with test controls.

Blocks are produced by a thread that sleeps on ``clock.sleep_until_ns`` until the end of each
block, so with ``SimClock(realtime=False)`` a long session runs as fast as the code allows
and the clock, when nothing else moves it, stands exactly at the end of the last block.

Test controls (thread-safe; each takes effect at the next block boundary):

* ``set_source("tone", freq=440, amplitude=0.3)``, ``"silence"``, ``"speech"`` (a voice-like
  signal with energy and pauses) or ``"wav", path=...`` (loops a WAV, resampled to the rate);
* ``feed(pcm)``: exact samples to deliver before the source resumes (whole frames);
* ``inject_overflow(ms)``: that many ms of samples are lost: ``sample_index`` jumps by
  ``round(ms * rate / 1000)`` and one ``audio_gap`` covers exactly that range;
* ``unplug()`` / ``replug()``: ``microphone_lost`` at the next sample time; while unplugged
  the thread waits (it does not move the clock); at replug the audio resumes on the sample
  grid at the current clock time, with ``microphone_restored`` and an ``audio_gap`` for the
  hole. :meth:`~drivers.clock.SimClock.advance` the clock between them for a gap of known
  length.
* ``mix(samples)``: what a :class:`~drivers.audio.sim_speaker.SimSpeaker` uses to make
  its prompts heard by the microphone (loopback).
"""
from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np

from drivers.audio.base import AudioSink, Microphone
from drivers.audio.ledger import NS_PER_S, CaptureLedger
from drivers.audio.sim_sources import Silence, Source, make_source
from drivers.clock import Clock
from drivers.errors import BadDriverArgument


class SimMicrophone(Microphone):
    """A microphone that hears what the test tells it to (see the module docstring)."""

    def __init__(self, *, clock: Clock, rate: int = 48_000, channels: int = 1,
                 block_frames: int = 960, device: str | None = None) -> None:
        super().__init__(clock=clock, rate=rate, channels=channels, block_frames=block_frames,
                         device=device or "sim")
        self._cond = threading.Condition()
        self._source: Source = Silence()
        self._feed = bytearray()
        self._pending_overflow = 0
        self._unplugged = False
        self._stopping = False
        self._overlays: dict[int, tuple[int, np.ndarray]] = {}
        self._overlay_ids = itertools.count(1)
        self._ledger: CaptureLedger | None = None
        self._frontier = 0  # samples before this index have been taken for a block (or lost)

    # -- test controls -------------------------------------------------------------------------
    def set_source(self, kind: str, **params: Any) -> None:
        """Hear ``kind`` from the next block on (see the module docstring)."""
        ledger = self._ledger
        source = make_source(kind, self.rate, ledger.next_index if ledger else 0, params)
        with self._cond:
            self._source = source

    def feed(self, pcm: bytes) -> None:
        """Queue exact samples (int16 LE, interleaved, whole frames) ahead of the source."""
        if len(pcm) % (2 * self.channels):
            raise BadDriverArgument(f"feed: {len(pcm)} bytes is not a whole number of "
                                    f"{self.channels}-channel 16-bit frames")
        with self._cond:
            self._feed += pcm

    @property
    def fed_pending(self) -> int:
        """Frames fed and not yet delivered (or lost)."""
        with self._cond:
            return len(self._feed) // (2 * self.channels)

    def inject_overflow(self, ms: float) -> int:
        """Lose ``ms`` milliseconds of samples at the next block; returns the frames it loses."""
        frames = round(ms * self.rate / 1000)
        if frames <= 0:
            raise BadDriverArgument(f"inject_overflow: ms={ms!r} loses no sample at "
                                    f"{self.rate} Hz")
        with self._cond:
            self._pending_overflow += frames
        return frames

    def unplug(self) -> None:
        with self._cond:
            self._unplugged = True
            self._cond.notify_all()

    def replug(self) -> None:
        with self._cond:
            self._unplugged = False
            self._cond.notify_all()

    def mix(self, samples: np.ndarray,
            at_ns: int | None = None) -> tuple[int, int] | None:
        """Add float mono ``samples`` (-1..1, at this rate) to what the microphone hears.

        They start at ``at_ns``, or by default "now as the microphone hears it": the clock's
        time, but never before samples already taken for a block (the capture thread can be
        ahead of a caller that read the clock earlier). Returns ``(handle, start_ns)`` with
        the time the first sample sits at, or None if not capturing. Samples placed before
        what was already delivered are not heard.
        """
        ledger = self._ledger
        if ledger is None or ledger.anchor_ns is None:
            return None
        with self._cond:
            if at_ns is None:
                now = self.clock.monotonic_ns()
                start = max(-((-(now - ledger.anchor_ns) * self.rate) // NS_PER_S),
                            self._frontier)
            else:
                start = -((-(at_ns - ledger.anchor_ns) * self.rate) // NS_PER_S)
            handle = next(self._overlay_ids)
            self._overlays[handle] = (start, np.asarray(samples, dtype=np.float64))
        return handle, ledger.anchor_ns + start * NS_PER_S // self.rate

    def unmix(self, handle: int | None, from_ns: int) -> None:
        """Stop mixing overlay ``handle`` from ``from_ns`` on (a playback was stopped)."""
        ledger = self._ledger
        if handle is None or ledger is None or ledger.anchor_ns is None:
            return
        cut = -((-(from_ns - ledger.anchor_ns) * self.rate) // NS_PER_S)
        with self._cond:
            if handle in self._overlays:
                start, samples = self._overlays[handle]
                self._overlays[handle] = (start, samples[:max(0, cut - start)])

    # -- the thread ----------------------------------------------------------------------------
    def _start(self, sink: AudioSink) -> None:
        ledger = CaptureLedger(sink, rate=self.rate, channels=self.channels)
        ledger.set_anchor(self.clock.monotonic_ns())
        self._ledger = ledger
        with self._cond:
            self._stopping = False
            self._frontier = 0
        self._thread = threading.Thread(target=self._main, args=(ledger,),
                                        name=f"sim-mic-{self.device}", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _main(self, ledger: CaptureLedger) -> None:
        try:
            self._run(ledger)
            ledger.finish(self.clock.monotonic_ns())
        except BaseException as exc:
            self._worker_failed(ledger.sink, exc)

    def _run(self, ledger: CaptureLedger) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                overflow, self._pending_overflow = self._pending_overflow, 0
                unplugged = self._unplugged
            if unplugged:
                self._set_lost(True)
                ledger.mark_lost(f"microphone {self.device!r} unplugged")
                with self._cond:
                    self._cond.wait_for(lambda: not self._unplugged or self._stopping)
                    if self._stopping:
                        return
                index = ledger.index_at(self.clock.monotonic_ns())
                self._take(ledger.next_index, index - ledger.next_index)
                self._set_lost(False)
                ledger.mark_restored(index)
                continue
            if overflow:
                self._take(ledger.next_index, overflow)
                ledger.skip(overflow, f"input overflow (injected, {overflow} frames)")
            self.clock.sleep_until_ns(ledger.ns_of(ledger.next_index + self.block_frames))
            ledger.deliver(self._produce(ledger.next_index, self.block_frames))

    def _take(self, start: int, frames: int) -> tuple[Source, bytes,
                                                      list[tuple[int, np.ndarray]]]:
        """Consume samples ``start .. start+frames``: the fed ones; the source, the overlays."""
        with self._cond:
            self._frontier = start + frames
            size = frames * 2 * self.channels
            fed = bytes(self._feed[:size])
            del self._feed[:size]
            return self._source, fed, list(self._overlays.values())

    def _produce(self, start: int, frames: int) -> bytes:
        source, fed, overlays = self._take(start, frames)
        signal = np.rint(source.render(start, frames) * 32767.0)
        out = np.repeat(signal[:, None], self.channels, axis=1)
        if fed:
            got = np.frombuffer(fed, dtype="<i2").reshape(-1, self.channels)
            out[:len(got)] = got
        for first, samples in overlays:
            lo, hi = max(first, start), min(first + samples.size, start + frames)
            if lo < hi:
                out[lo - start:hi - start] += np.rint(samples[lo - first:hi - first]
                                                      * 32767.0)[:, None]
        self._prune(start + frames)
        return np.clip(out, -32768, 32767).astype("<i2").tobytes()

    def _prune(self, delivered_to: int) -> None:
        with self._cond:
            for handle in [h for h, (first, samples) in self._overlays.items()
                           if first + samples.size <= delivered_to]:
                del self._overlays[handle]
