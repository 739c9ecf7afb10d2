"""The review video: one MP4 (H.264 + AAC) with the recorded audio and video on one time base.

Time zero of the file is ``t0_ns`` (the earlier of the first frame and the first sample). Each
recorded frame is shown at its capture time (variable frame rate, 1/90000 s ticks); audio
samples sit at their capture time on a sample grid from ``t0_ns``. Nothing is closed up: a
stretch without video (dropped frames, a lost camera, before the camera started) is shown by
black frames saying why, one a second, and a stretch without audio is silence.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import av
import cv2
import numpy as np

from firmware.office.export.audio_source import PlacedAudio, RecordedAudio
from firmware.office.export.captions import Captioner
from firmware.office.export.overlay import Overlay
from firmware.office.export.video_source import RecordedVideo, VideoFrame

NS_PER_S = 1_000_000_000
TICKS = 90_000                       # the video stream's time base: 1/90000 s
AAC_FRAME = 1024                     # samples per AAC frame
NO_VIDEO_REPEAT_NS = NS_PER_S        # black frames in a stretch without video: one a second
AUDIO_AHEAD_NS = NS_PER_S // 2       # audio encoded ahead of the video, for interleaving
SLATE_SIZE = (640, 360)              # picture size of a session recorded without video

#: A picture to show at an instant when there is no video (a node's photo), or None: black.
StillAt = Callable[[int], np.ndarray | None]


@dataclass(frozen=True)
class Mp4Summary:
    """What went into the file. Times in seconds from the file's start unless named ``_ns``."""

    path: Path
    t0_ns: int
    end_ns: int
    width: int
    height: int
    frames: int                     # recorded frames written
    filler_frames: int              # frames marking stretches without video
    first_frame_s: float | None     # where the first recorded frame sits in the file
    audio_samples: int              # samples on the grid, silence included
    audio_rate: int
    duration_s: float


class _AudioFeeder:
    """Lays the placed audio on one continuous sample grid and encodes it as AAC."""

    def __init__(self, container, audio: RecordedAudio, t0_ns: int) -> None:
        layout = "stereo" if audio.channels == 2 else "mono"
        self.stream = container.add_stream("aac", rate=audio.rate, layout=layout)
        self.stream.bit_rate = 96_000 * audio.channels
        self._container = container
        self._layout = layout
        self._rate = audio.rate
        self._channels = audio.channels
        self._chunks: Iterator[PlacedAudio] = audio.placed(t0_ns)
        self._next: PlacedAudio | None = None
        self._done = False
        self._pending: list[np.ndarray] = []
        self._pending_frames = 0
        self.encoded = 0                # grid index of the first sample not yet encoded

    @property
    def _cursor(self) -> int:
        return self.encoded + self._pending_frames

    def _append(self, samples: np.ndarray) -> None:
        if len(samples):
            self._pending.append(samples)
            self._pending_frames += len(samples)

    def _silence(self, frames: int) -> None:
        if frames > 0:
            self._append(np.zeros((frames, self._channels), np.float32))

    def feed_until(self, index: int) -> None:
        """Encode every sample of the grid before ``index`` (silence where nothing was heard)."""
        while self._cursor < index:
            if self._next is None and not self._done:
                self._next = next(self._chunks, None)
                self._done = self._next is None
            chunk = self._next
            if chunk is None or chunk.index >= index:
                self._silence(index - self._cursor)
                break
            self._silence(chunk.index - self._cursor)
            self._append(chunk.samples[max(0, self._cursor - chunk.index):])
            self._next = None
        self._encode(final=False)

    def _encode(self, final: bool) -> None:
        if not self._pending:
            return
        pcm = np.concatenate(self._pending)
        whole = len(pcm) if final else len(pcm) - len(pcm) % AAC_FRAME
        for start in range(0, whole, AAC_FRAME):
            block = np.ascontiguousarray(pcm[start:start + AAC_FRAME].T, dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=self._layout)
            frame.sample_rate = self._rate
            frame.pts = self.encoded
            frame.time_base = Fraction(1, self._rate)
            self.encoded += block.shape[1]
            self._container.mux(self.stream.encode(frame))
        rest = pcm[whole:]
        self._pending = [rest] if len(rest) else []
        self._pending_frames = len(rest)

    def finish(self, total: int) -> None:
        self.feed_until(total)
        self._encode(final=True)
        self._container.mux(self.stream.encode(None))


def _slots(frames: Iterator[VideoFrame], t0_ns: int, end_ns: int,
           fps: int) -> Iterator[tuple[int, np.ndarray | None]]:
    """(time, picture) for the file: every recorded frame, and a None (no video) at the start
    of each stretch longer than 1.5 frame intervals without one, repeated once a second."""
    period = NS_PER_S // max(1, fps)
    slack = period * 3 // 2
    expected = t0_ns
    for frame in frames:
        t = expected
        while frame.t_ns - t > slack:
            yield t, None
            t += NO_VIDEO_REPEAT_NS
        yield frame.t_ns, frame.rgb
        expected = frame.t_ns + period
    t = expected
    while end_ns - t > slack:
        yield t, None
        t += NO_VIDEO_REPEAT_NS


def fit_picture(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` scaled to fit ``width`` x ``height``, centred on black."""
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return rgb if rgb.flags.writeable else rgb.copy()
    scale = min(width / w, height / h)
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, 3), np.uint8)
    y, x = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
    out[y:y + small.shape[0], x:x + small.shape[1]] = small
    return out


@dataclass(frozen=True)
class Picture:
    """One picture of the file, finished (its size the file's, captions drawn), shown from
    ``t_ns`` (main time base); ``recorded``: made from a recorded frame (else a filler)."""

    t_ns: int
    rgb: np.ndarray
    recorded: bool


def write_mp4(path: Path, video: RecordedVideo, audio: RecordedAudio, captioner: Captioner,
              overlay_for: Callable[[int, int], Overlay], *, t0_ns: int, end_ns: int,
              still_at: StillAt | None = None, title: str = "") -> Mp4Summary:
    """Write the review MP4 of the counter alone to ``path`` (through ``path.part``, renamed
    when complete).

    ``overlay_for(width, height)`` makes the caption drawer for the picture size;
    ``still_at(t)`` gives a picture for an instant without video (else black); ``title`` goes
    into the file's metadata.
    """
    frames = video.frames()
    first = next(frames, None)
    if first is not None:
        height, width = first.rgb.shape[:2]
        frames = _chain(first, frames)
    else:
        width, height = video.size or SLATE_SIZE
    width, height = width - width % 2, height - height % 2
    overlay = overlay_for(width, height)

    def pictures() -> Iterator[Picture]:
        for t, rgb in _slots(frames, t0_ns, end_ns, video.fps):
            if rgb is None:
                still = still_at(t) if still_at else None
                picture = (fit_picture(still, width, height) if still is not None
                           else np.zeros((height, width, 3), np.uint8))
                lines = captioner.lines(t, captioner.no_video_reason(t))
            else:
                picture = fit_picture(rgb, width, height)
                lines = captioner.lines(t)
            yield Picture(t, overlay.draw(picture, lines), rgb is not None)

    return encode_mp4(path, pictures(), audio, width=width, height=height, fps=video.fps,
                      t0_ns=t0_ns, end_ns=end_ns, title=title)


def encode_mp4(path: Path, pictures: Iterable[Picture], audio, *, width: int, height: int,
               fps: int, t0_ns: int, end_ns: int, title: str = "") -> Mp4Summary:
    """Encode ``pictures`` (in time order, each ``width`` x ``height``, both even) at their
    times from ``t0_ns``, and ``audio`` (a :class:`RecordedAudio` or anything with its
    ``rate``, ``channels``, ``segments`` and ``placed``) on its sample grid up to ``end_ns``,
    into ``path`` (through ``path.part``, renamed when complete). ``fps`` is the nominal rate
    (the keyframe interval); the file is variable-rate."""
    part = path.with_name(path.name + ".part")
    container = av.open(str(part), "w", format="mp4", options={"movflags": "+faststart"})
    try:
        if title:
            container.metadata["title"] = title
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.time_base = Fraction(1, TICKS)
        vstream.codec_context.time_base = Fraction(1, TICKS)
        vstream.codec_context.gop_size = 2 * fps
        vstream.options = {"preset": "veryfast", "crf": "23"}
        feeder = _AudioFeeder(container, audio, t0_ns) if audio.segments else None
        total = _samples(end_ns - t0_ns, audio.rate)
        recorded = fillers = 0
        first_s = None
        last_pts = -1
        for picture in pictures:
            t = picture.t_ns
            if picture.recorded:
                recorded += 1
            else:
                fillers += 1
            pts = max(last_pts + 1, round((t - t0_ns) * TICKS / NS_PER_S))
            if picture.recorded and first_s is None:
                first_s = pts / TICKS
            last_pts = pts
            # OpenCV's conversion: swscale's BT.601 limited range to within 1, 3x faster
            frame = av.VideoFrame.from_ndarray(
                cv2.cvtColor(picture.rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
            frame.pts = pts
            frame.time_base = Fraction(1, TICKS)
            container.mux(vstream.encode(frame))
            if feeder is not None:
                feeder.feed_until(min(total, _samples(t + AUDIO_AHEAD_NS - t0_ns, audio.rate)))
        container.mux(vstream.encode(None))
        if feeder is not None:
            feeder.finish(total)
    except BaseException:
        container.close()
        part.unlink(missing_ok=True)
        raise
    container.close()
    os.replace(part, path)
    return Mp4Summary(path, t0_ns, end_ns, width, height, recorded, fillers, first_s,
                      feeder.encoded if feeder else 0, audio.rate, (end_ns - t0_ns) / NS_PER_S)


def _samples(ns: int, rate: int) -> int:
    return max(0, round(ns * rate / NS_PER_S))


def _chain(first: VideoFrame, rest: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
    yield first
    yield from rest
