"""The real microphone: PyAudio (PortAudio → ALSA) in callback mode, delivered by our thread.

Threads. PortAudio's callback only copies the block, the overflow flag and two times into a
bounded queue (``queue_s`` seconds of audio); a thread of ours takes blocks from it and calls
the sink, so a slow sink never stalls the audio device. When the queue is full the callback
drops the block and counts its frames exactly; the next block carries that count.

Timestamps. Sample ``i`` sits at ``anchor + i * 1e9 // rate`` (see :mod:`.ledger`); the
anchor (time of sample 0) comes from the first block:

* PortAudio's ``input_buffer_adc_time`` if it is on our clock and plausible: it must lie
  between one block duration (less 2 ms) and one block plus 1 s before the callback's own
  reading of ``clock.monotonic_ns()``. On ALSA, PortAudio 19.6 derives it from the PCM
  status timestamp minus the delay; with alsa-lib 1.2.8 that timestamp was seen to be
  CLOCK_MONOTONIC (microsecond resolution), and alsa-lib asks the kernel for monotonic
  timestamps on ``hw`` devices, so on the Pi this path is expected (``tests/hardware`` is
  where to confirm it). A SimClock, or any clock other than CLOCK_MONOTONIC, fails the test;
* otherwise the clock reading at the first callback minus the block's duration. ALSA's
  ``null``/``file`` PCMs report the callback time itself as the ADC time (no delay), which
  fails the test above, so the tests run on this path.

``timestamp_source`` says which one ("adc" or "clock"). Timestamps are not corrected for
drift between the sound card's crystal and CLOCK_MONOTONIC (tens of ppm).

Losses. ``paInputOverflow`` in a callback becomes one ``audio_gap``: PortAudio does not say
how much was lost, so the hole is estimated from the clock (where the block's first sample
should sit against where the count puts it), at least one frame. Queue drops are exact. A
stream that stops by itself (the ALSA device returned an error: unplugged) or that delivers
nothing for ``stall_timeout_s`` is the device lost: ``microphone_lost`` naming the device,
then a reopen every ``reopen_interval_s`` (first the same device index, then a fresh
PortAudio enumeration by name, which only re-enumerates if no other PyAudio instance is alive
in the process). On success the first block gives ``microphone_restored`` and the gap.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import pyaudio

from drivers.audio.base import AudioSink, Microphone
from drivers.audio.ledger import NS_PER_S, CaptureLedger
from drivers.audio.pyaudio_devices import find_device
from drivers.clock import Clock
from drivers.errors import BadDriverArgument, DeviceMissingError, DriverError

_ADC_EARLY_NS = 2_000_000
_ADC_LATE_NS = NS_PER_S


@dataclass(frozen=True)
class _Captured:
    pcm: bytes
    frames: int
    overflow: bool
    adc_ns: int            # PortAudio's input ADC time, ns (0 when it gave none)
    arrival_ns: int        # clock.monotonic_ns() in the callback
    dropped_before: int    # frames the callback dropped (queue full) just before this block


class _StreamFeed:
    """One open PortAudio input stream and the queue between its callback and our thread."""

    def __init__(self, pa: pyaudio.PyAudio, index: int, mic: PyAudioMicrophone,
                 max_blocks: int) -> None:
        self.clock = mic.clock
        self.queue: queue.Queue[_Captured] = queue.Queue(max_blocks)
        self.dropped = 0
        self.adc_usable: bool | None = None
        self.stream = pa.open(format=pyaudio.paInt16, channels=mic.channels, rate=mic.rate,
                              input=True, input_device_index=index,
                              frames_per_buffer=mic.block_frames,
                              stream_callback=self._callback)

    def _callback(self, in_data: bytes | None, frame_count: int, time_info: dict,
                  status: int) -> tuple[None, int]:
        now = self.clock.monotonic_ns()
        adc = int(time_info.get("input_buffer_adc_time", 0.0) * NS_PER_S)
        item = _Captured(in_data or b"", frame_count, bool(status & pyaudio.paInputOverflow),
                         adc, now, self.dropped)
        try:
            self.queue.put_nowait(item)
            self.dropped = 0
        except queue.Full:
            self.dropped += frame_count
        return None, pyaudio.paContinue

    def active(self) -> bool:
        try:
            return bool(self.stream.is_active())
        except OSError:
            return False

    def close(self) -> None:
        """Stop and close; errors of a stream whose device is gone are expected and ignored."""
        for step in (self.stream.stop_stream, self.stream.close):
            try:
                step()
            except OSError:
                pass


class PyAudioMicrophone(Microphone):
    """A PortAudio input device; see the module docstring for threads, times and losses."""

    def __init__(self, *, clock: Clock, rate: int = 48_000, channels: int = 1,
                 block_frames: int = 960, device: str | None = None, queue_s: float = 2.0,
                 reopen_interval_s: float = 1.0, stall_timeout_s: float = 2.0) -> None:
        super().__init__(clock=clock, rate=rate, channels=channels, block_frames=block_frames,
                         device=device or "default")
        for name, value in (("queue_s", queue_s), ("reopen_interval_s", reopen_interval_s),
                            ("stall_timeout_s", stall_timeout_s)):
            if not value > 0:
                raise BadDriverArgument(f"{name}={value!r}: must be positive")
        self._requested = device
        self._max_blocks = max(2, int(queue_s * rate / block_frames))
        self._reopen_interval_s = reopen_interval_s
        self._stall_timeout_s = stall_timeout_s
        self.timestamp_source: str | None = None
        self.reopen_error: BaseException | None = None
        self._pa = pyaudio.PyAudio()
        try:
            self._info = self._find(self._pa)
        except BaseException:
            self._pa.terminate()
            raise
        self._feed: _StreamFeed | None = None
        self._stop_event = threading.Event()
        self._start_ns = 0
        self._restoring = False  # the next block is the first after a loss

    @property
    def device_name(self) -> str:
        """PortAudio's name of the device in use."""
        return self._info["name"]

    def _find(self, pa: pyaudio.PyAudio) -> dict:
        info = find_device(pa, self._requested, direction="input", role="microphone")
        if self.channels > info["maxInputChannels"]:
            raise BadDriverArgument(f"microphone {info['name']!r}: channels={self.channels}, "
                                    f"the device has {info['maxInputChannels']}")
        try:
            pa.is_format_supported(self.rate, input_device=info["index"],
                                   input_channels=self.channels, input_format=pyaudio.paInt16)
        except ValueError as exc:
            raise BadDriverArgument(f"microphone {info['name']!r}: cannot capture {self.rate} "
                                    f"Hz x {self.channels} ch 16-bit: {exc}") from None
        return info

    def _open_feed(self) -> _StreamFeed:
        try:
            return _StreamFeed(self._pa, self._info["index"], self, self._max_blocks)
        except (OSError, ValueError) as exc:
            raise DeviceMissingError(f"microphone {self.device_name!r}: cannot open a PyAudio "
                                     f"input stream ({self.rate} Hz, {self.channels} ch, "
                                     f"16-bit): {exc}") from None

    # -- Microphone hooks ----------------------------------------------------------------------
    def _start(self, sink: AudioSink) -> None:
        ledger = CaptureLedger(sink, rate=self.rate, channels=self.channels)
        self._start_ns = self.clock.monotonic_ns()
        self._feed = self._open_feed()
        self._restoring = False
        self._stop_event = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ledger,),
                                        name=f"pyaudio-mic-{self.device}", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _close(self) -> None:
        self._pa.terminate()

    # -- the delivery thread -------------------------------------------------------------------
    def _main(self, ledger: CaptureLedger) -> None:
        try:
            self._run(ledger)
        except BaseException as exc:
            if self._feed is not None:
                self._feed.close()
                self._feed = None
            self._worker_failed(ledger.sink, exc)

    def _run(self, ledger: CaptureLedger) -> None:
        last_data = time.monotonic()
        while not self._stop_event.is_set():
            feed = self._feed
            if feed is None:
                if self._stop_event.wait(self._reopen_interval_s):
                    break
                self._feed = self._reopen()
                last_data, self._restoring = time.monotonic(), self._feed is not None
                continue
            try:
                item = feed.queue.get(timeout=0.05)
            except queue.Empty:
                silent = time.monotonic() - last_data
                if not feed.active() or silent > self._stall_timeout_s:
                    why = ("its input stream stopped (device error: unplugged?)"
                           if silent <= self._stall_timeout_s
                           else f"no audio for {silent:.1f} s")
                    self._lose(ledger, feed, why)
                continue
            last_data = time.monotonic()
            self._place(ledger, feed, item)
        if self._feed is not None:
            self._drain(ledger, self._feed)
            self._feed = None
        ledger.finish(self.clock.monotonic_ns())

    def _drain(self, ledger: CaptureLedger, feed: _StreamFeed) -> None:
        """Close ``feed`` and deliver what its callback queued before it stopped."""
        feed.close()
        while not feed.queue.empty():
            self._place(ledger, feed, feed.queue.get_nowait())
        self._skip_dropped(ledger, feed.dropped)

    def _lose(self, ledger: CaptureLedger, feed: _StreamFeed, why: str) -> None:
        self._drain(ledger, feed)
        self._feed = None
        if ledger.anchor_ns is None:
            ledger.set_anchor(self._start_ns)
        self._set_lost(True)
        ledger.mark_lost(f"microphone {self.device_name!r}: {why}")

    def _reopen(self) -> _StreamFeed | None:
        """Try the same device index, then a fresh enumeration by name; None if still gone."""
        try:
            return self._open_feed()
        except DriverError as exc:
            self.reopen_error = exc
        try:
            self._pa.terminate()
            self._pa = pyaudio.PyAudio()
            self._info = self._find(self._pa)
            return self._open_feed()
        except (OSError, DriverError) as exc:
            self.reopen_error = exc
            return None

    def _skip_dropped(self, ledger: CaptureLedger, frames: int) -> None:
        ledger.skip(frames, f"input overflow (delivery queue full; {frames} frames dropped)")

    def _first_sample_ns(self, feed: _StreamFeed, item: _Captured) -> int:
        """Where the block's first sample was captured, by ADC time or by arrival."""
        duration = item.frames * NS_PER_S // self.rate
        if feed.adc_usable is None:
            lag = item.arrival_ns - item.adc_ns
            feed.adc_usable = (item.adc_ns > 0
                               and duration - _ADC_EARLY_NS <= lag <= duration + _ADC_LATE_NS)
            if self.timestamp_source is None:
                self.timestamp_source = "adc" if feed.adc_usable else "clock"
        return item.adc_ns if feed.adc_usable else item.arrival_ns - duration

    def _place(self, ledger: CaptureLedger, feed: _StreamFeed, item: _Captured) -> None:
        first_ns = self._first_sample_ns(feed, item)
        if ledger.anchor_ns is None:
            ledger.set_anchor(first_ns)
        elif self._restoring:
            self._restoring = False
            ledger.mark_restored(ledger.index_nearest(first_ns))
            self._set_lost(False)
        elif item.overflow:
            missing = ledger.index_nearest(first_ns) - ledger.next_index
            lost = max(item.dropped_before + 1, missing)
            ledger.skip(lost, f"input overflow (PortAudio paInputOverflow; {lost} frames, "
                              "length estimated from the clock)")
        else:
            self._skip_dropped(ledger, item.dropped_before)
        ledger.deliver(item.pcm)
