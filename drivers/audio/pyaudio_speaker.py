"""The real speaker: a WAV written to a PyAudio (PortAudio → ALSA) output stream on a thread.

Each clip opens its own blocking-mode stream at the WAV's rate and channel count (ALSA's
``plug`` layer or the card converts), writes it in chunks of ``chunk_frames`` so that
:meth:`Playback.stop` takes effect within one chunk, then ``stop_stream()`` lets the buffered
tail play out before ``ended_ns`` is read. A stopped clip's stream is closed while active,
which discards what is still buffered (PortAudio's abort). Device errors end the clip with a
:class:`~drivers.errors.DeviceLostError` in ``Playback.error``; they never escape the thread.

``started_ns`` is the clock just before the first chunk is handed to PortAudio; the sound
leaves the speaker about one output latency later (PortAudio's ``get_output_latency()``,
tens of ms on a USB card). ``ended_ns`` is read after the tail has drained.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pyaudio

from drivers.audio.base import AudioStateError, Playback, Speaker
from drivers.audio.pyaudio_devices import find_device
from drivers.audio.wav import WavClip, read_wav
from drivers.clock import Clock
from drivers.errors import BadDriverArgument, DeviceLostError, DeviceMissingError


class PyAudioSpeaker(Speaker):
    """A PortAudio output device playing one WAV clip at a time."""

    def __init__(self, *, clock: Clock, device: str | None = None,
                 chunk_frames: int = 1024) -> None:
        if not isinstance(chunk_frames, int) or chunk_frames < 16:
            raise BadDriverArgument(f"chunk_frames={chunk_frames!r}: must be an integer >= 16")
        self.clock = clock
        self.device = device or "default"
        self._chunk_frames = chunk_frames
        self._pa = pyaudio.PyAudio()
        try:
            self._info = find_device(self._pa, device, direction="output", role="speaker")
        except BaseException:
            self._pa.terminate()
            raise
        self._lock = threading.Lock()
        self._current: Playback | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def device_name(self) -> str:
        """PortAudio's name of the device in use."""
        return self._info["name"]

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
            try:
                stream = self._pa.open(format=pyaudio.paInt16, channels=clip.channels,
                                       rate=clip.rate, output=True,
                                       output_device_index=self._info["index"],
                                       frames_per_buffer=self._chunk_frames)
            except (OSError, ValueError) as exc:
                raise DeviceMissingError(
                    f"speaker {self.device_name!r}: cannot open a PyAudio output stream for "
                    f"{str(clip.path)!r} ({clip.rate} Hz, {clip.channels} ch, 16-bit): {exc}"
                ) from None
            stop = threading.Event()
            playback = Playback(Path(wav_path), self.clock.monotonic_ns(), clip.duration_ns,
                                stop.set)
            self._current = playback
            self._thread = threading.Thread(target=self._run,
                                            args=(playback, stream, clip, stop),
                                            name=f"pyaudio-speaker-{self.device}", daemon=True)
            self._thread.start()
            return playback

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._halt()
            self._pa.terminate()

    def _halt(self) -> None:
        """Stop the clip playing, if any, and wait for its thread (lock held)."""
        if self._current is not None:
            self._current.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, playback: Playback, stream: pyaudio.Stream, clip: WavClip,
             stop: threading.Event) -> None:
        step = self._chunk_frames * 2 * clip.channels
        completed = False
        error: BaseException | None = None
        try:
            for offset in range(0, len(clip.pcm), step):
                if stop.is_set():
                    break
                stream.write(clip.pcm[offset:offset + step])
            else:
                stream.stop_stream()
                completed = True
        except OSError as exc:
            error = DeviceLostError(f"speaker {self.device_name!r}: playing "
                                    f"{str(clip.path)!r} failed: {exc}")
        except BaseException as exc:  # reported on the handle, which the caller holds
            error = exc
        finally:
            try:
                stream.close()
            except OSError as exc:
                if error is None:
                    error = DeviceLostError(f"speaker {self.device_name!r}: closing the "
                                            f"stream of {str(clip.path)!r} failed: {exc}")
            playback._finish(self.clock.monotonic_ns(), completed and error is None, error)
