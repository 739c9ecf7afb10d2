"""The counter as remote parties see and hear it: a modest picture and the microphone.

Nothing here touches the recording. The picture is the camera's analysis image (what
``Camera.analysis_frame`` returns; 320 px wide today), polled at ``fps`` and scaled down to fit
``max_size`` when larger — never up, a bigger picture would only cost the encoder. The sound is
every microphone block the session already taps (``CounterFeed.audio_block``, on the
microphone's thread): copied into a short buffer per party and never waited for.

Each party's connection gets its own tracks (:meth:`CounterFeed.video_track`,
:meth:`CounterFeed.audio_track`), which aiortc encodes (H.264 or VP8, Opus) on that party's
event loop. They pace themselves on real time: a network peer plays in real time whatever the
unit's simulated clock does.
"""
from __future__ import annotations

import asyncio
import fractions
import threading
from typing import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from drivers.audio import AudioBlock
from firmware.errors import DualrecError

VIDEO_CLOCK = 90_000
AUDIO_PTIME_S = 0.020

#: what ``Camera.analysis_frame`` returns: a BGR image and its CLOCK_MONOTONIC ns, or None
VideoSource = Callable[[], "tuple[np.ndarray, int] | None"]


class CounterFeedError(DualrecError, ValueError):
    """A counter feed was set up with values it cannot use; the message names the value."""


def fit_size(width: int, height: int, max_width: int, max_height: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled down (never up) to fit the box, aspect kept, both even."""
    scale = min(1.0, max_width / width, max_height / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class CounterFeed:
    """What the counter sends to every remote party of a session.

    ``video_source`` is normally ``camera.analysis_frame`` (blocking: it is called on a worker
    thread of the party's loop, at most once per frame period for all parties together).
    ``rate`` and ``channels`` are the microphone's; its blocks reach :meth:`audio_block`.
    Each party buffers at most ``buffer_ms`` of sound; older sound is dropped, a shortfall is
    sent as silence.
    """

    def __init__(self, video_source: VideoSource, *, fps: int = 15,
                 max_size: tuple[int, int] = (640, 360), rate: int = 48_000, channels: int = 1,
                 buffer_ms: int = 200) -> None:
        if not isinstance(fps, int) or not 1 <= fps <= 30:
            raise CounterFeedError(f"counter feed fps={fps!r}: must be a whole number 1..30")
        if len(max_size) != 2 or not all(isinstance(v, int) and 16 <= v <= 1920
                                         for v in max_size):
            raise CounterFeedError(f"counter feed max_size={max_size!r}: must be (width, "
                                   "height), each 16..1920 pixels")
        if rate not in (8_000, 16_000, 24_000, 48_000) or channels not in (1, 2):
            raise CounterFeedError(f"counter feed rate={rate!r}, channels={channels!r}: the "
                                   "Opus encoder takes 8/16/24/48 kHz, mono or stereo")
        if not isinstance(buffer_ms, int) or not 40 <= buffer_ms <= 2_000:
            raise CounterFeedError(f"counter feed buffer_ms={buffer_ms!r}: must be 40..2000")
        self._source = video_source
        self.fps = fps
        self.max_size = max_size
        self.rate = rate
        self.channels = channels
        self._buffer_bytes = buffer_ms * rate // 1000 * channels * 2
        self._lock = threading.Lock()          # the subscribers
        self._video_lock = threading.Lock()    # one poll of the source at a time
        self._subscribers: set[_PcmBuffer] = set()
        self._cached: tuple[np.ndarray, int, int, float] | None = None  # yuv, w, h, taken (s)
        self.blocks = 0

    # -- the session's audio tap (microphone thread) ------------------------------------------
    def audio_block(self, block: AudioBlock) -> None:
        """A microphone block; copied to every party's buffer without waiting."""
        self.blocks += 1
        with self._lock:
            subscribers = list(self._subscribers)
        for buffer in subscribers:
            buffer.append(block.pcm)

    # -- tracks (one pair per connection) -----------------------------------------------------
    def video_track(self) -> "CounterVideoTrack":
        return CounterVideoTrack(self)

    def audio_track(self) -> "CounterAudioTrack":
        buffer = _PcmBuffer(self._buffer_bytes)
        with self._lock:
            self._subscribers.add(buffer)
        return CounterAudioTrack(self, buffer)

    def _unsubscribe(self, buffer: "_PcmBuffer") -> None:
        with self._lock:
            self._subscribers.discard(buffer)

    @property
    def listeners(self) -> int:
        """How many audio tracks take the microphone now."""
        with self._lock:
            return len(self._subscribers)

    def picture(self, now_s: float) -> tuple[np.ndarray, int, int] | None:
        """The latest picture as planar YUV 4:2:0 (``height * 3 / 2`` rows) and its size,
        polled from the source at most once per frame period; blocking (worker thread)."""
        with self._video_lock:
            cached = self._cached
            if cached is not None and now_s - cached[3] < 0.5 / self.fps:
                return cached[0], cached[1], cached[2]
            got = self._source()
            if got is None:
                return None if cached is None else (cached[0], cached[1], cached[2])
            bgr = got[0]
            height, width = bgr.shape[:2]
            size = fit_size(width, height, *self.max_size)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr), format="bgr24")
            yuv = frame.reformat(width=size[0], height=size[1], format="yuv420p").to_ndarray()
            self._cached = (yuv, size[0], size[1], now_s)
            return yuv, size[0], size[1]


class _PcmBuffer:
    """Bytes of 16-bit PCM between the microphone's thread and one party's audio track."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._data = bytearray()
        self._lock = threading.Lock()
        self.dropped_bytes = 0
        self.silent_bytes = 0

    def append(self, pcm: bytes) -> None:
        with self._lock:
            self._data += pcm
            excess = len(self._data) - self._limit
            if excess > 0:
                excess += excess % 2
                del self._data[:excess]
                self.dropped_bytes += excess

    def take(self, size: int) -> bytes:
        with self._lock:
            out = bytes(self._data[:size])
            del self._data[:size]
        if len(out) < size:
            self.silent_bytes += size - len(out)
            out += bytes(size - len(out))
        return out


class CounterVideoTrack(MediaStreamTrack):
    """The counter's picture for one connection, ``fps`` frames a second of real time."""

    kind = "video"

    def __init__(self, feed: CounterFeed) -> None:
        super().__init__()
        self._feed = feed
        self._start: float | None = None
        self._count = 0
        self._black: tuple[np.ndarray, int, int] | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._count += 1
            await asyncio.sleep(max(0.0, self._start + self._count / self._feed.fps
                                    - loop.time()))
        picture = await loop.run_in_executor(None, self._feed.picture, loop.time())
        if picture is None:   # no camera picture (not started, lost): black
            if self._black is None:
                w, h = fit_size(320, 240, *self._feed.max_size)
                yuv = np.full((h * 3 // 2, w), 128, np.uint8)
                yuv[:h] = 16
                self._black = (yuv, w, h)
            picture = self._black
        frame = av.VideoFrame.from_ndarray(picture[0], format="yuv420p")
        frame.pts = int((loop.time() - self._start) * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class CounterAudioTrack(MediaStreamTrack):
    """The counter's microphone for one connection: 20 ms frames at the microphone's rate."""

    kind = "audio"

    def __init__(self, feed: CounterFeed, buffer: _PcmBuffer) -> None:
        super().__init__()
        self._feed = feed
        self._buffer = buffer
        self._samples = int(feed.rate * AUDIO_PTIME_S)
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._count += 1
            await asyncio.sleep(max(0.0, self._start + self._count * AUDIO_PTIME_S
                                    - loop.time()))
        channels = self._feed.channels
        pcm = self._buffer.take(self._samples * channels * 2)
        frame = av.AudioFrame.from_ndarray(np.frombuffer(pcm, "<i2").reshape(1, -1),
                                           format="s16", layout="mono" if channels == 1
                                           else "stereo")
        frame.sample_rate = self._feed.rate
        frame.pts = self._count * self._samples
        frame.time_base = fractions.Fraction(1, self._feed.rate)
        return frame

    def stop(self) -> None:
        self._feed._unsubscribe(self._buffer)
        super().stop()
