"""The recorded video, decoded: every frame with its capture time.

A segment is ``video-NNNNNN.h264`` (Annex-B access units back to back) and ``video-NNNNNN.pts``
(one line per access unit, in file order: ``mono_ns keyframe size_bytes``). The sizes cut the
stream into packets; each packet carries its line number as ``pts`` through the decoder, so a
frame comes out with the capture time of the access unit it was made from, whatever order the
decoder returns frames in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import av
import numpy as np

from firmware.office.export.media import MediaOpener
from firmware.office.export.session_data import VideoSegment


@dataclass(frozen=True)
class PtsLine:
    mono_ns: int
    keyframe: bool
    size: int


@dataclass(frozen=True)
class VideoFrame:
    """A decoded frame: ``t_ns`` on the main time base, ``rgb`` as (height, width, 3) uint8."""

    t_ns: int
    rgb: np.ndarray


def parse_pts(text: bytes) -> list[PtsLine]:
    """The lines of a ``.pts`` file; raises ValueError on a malformed line."""
    out = []
    for n, line in enumerate(text.decode("ascii").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise ValueError(f"line {n}: expected 'mono_ns keyframe size', got {line!r}")
        out.append(PtsLine(int(parts[0]), parts[1] == "1", int(parts[2])))
    return out


class RecordedVideo:
    """The session's video segments; :meth:`frames` decodes them in capture order.

    ``to_main(boot_id, ns)`` moves a ``.pts`` time onto the main time base. Problems (a missing
    or damaged segment) are collected in :attr:`problems`, not raised: the review copy shows
    what is there, and the problem is reported.
    """

    def __init__(self, segments: list[VideoSegment], open_media: MediaOpener,
                 to_main: Callable[[str, int], int]) -> None:
        self.problems: list[str] = []
        self._open = open_media
        self._units: list[tuple[VideoSegment, list[PtsLine], list[int]]] = []
        for seg in segments:
            try:
                lines = parse_pts(open_media(seg.pts))
            except (OSError, ValueError) as exc:
                self.problems.append(f"{seg.pts.name}: unreadable ({exc}); frames left out")
                continue
            self._units.append((seg, lines, [to_main(seg.boot_id, p.mono_ns) for p in lines]))
        self.times_ns = sorted(t for _, _, times in self._units for t in times)

    @property
    def frame_count(self) -> int:
        """Frames the ``.pts`` files list."""
        return len(self.times_ns)

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the recording, from its segment records."""
        for seg, _, _ in self._units:
            if seg.width and seg.height:
                return seg.width, seg.height
        return None

    @property
    def fps(self) -> int:
        return next((seg.fps for seg, _, _ in self._units if seg.fps), 30)

    def frames(self) -> Iterator[VideoFrame]:
        """Every decodable frame, in capture-time order."""
        decoder = av.CodecContext.create("h264", "r")
        times: dict[int, int] = {}
        ready: list[VideoFrame] = []
        serial = 0
        for seg, lines, seg_times in self._units:
            try:
                data = self._open(seg.h264)
            except OSError as exc:
                self.problems.append(f"{seg.h264.name}: unreadable ({exc}); "
                                     f"{len(lines)} frames left out")
                continue
            if sum(p.size for p in lines) != len(data):
                self.problems.append(f"{seg.h264.name}: {len(data)} bytes, but its .pts lists "
                                     f"{sum(p.size for p in lines)}; decoding what fits")
            offset = 0
            for line, t in zip(lines, seg_times):
                chunk = data[offset:offset + line.size]
                offset += line.size
                if not chunk:
                    continue
                packet = av.Packet(chunk)
                packet.pts = packet.dts = serial
                times[serial] = t
                serial += 1
                ready += self._decode(decoder, packet, times, seg.h264.name)
                yield from self._release(ready)
        ready += self._decode(decoder, None, times, "end of stream")
        if times:
            self.problems.append(f"{len(times)} recorded frames could not be decoded")
        ready.sort(key=lambda f: f.t_ns)
        yield from ready

    def _decode(self, decoder, packet, times: dict[int, int], where: str) -> list[VideoFrame]:
        try:
            frames = decoder.decode(packet)
        except av.error.FFmpegError as exc:
            self.problems.append(f"{where}: a frame could not be decoded ({exc})")
            return []
        out = []
        for frame in frames:
            t = times.pop(frame.pts, None) if frame.pts is not None else None
            if t is None:
                self.problems.append(f"{where}: the decoder returned a frame of unknown time")
                continue
            out.append(VideoFrame(t, frame.to_ndarray(format="rgb24")))
        return out

    @staticmethod
    def _release(ready: list[VideoFrame]) -> Iterator[VideoFrame]:
        """Frames held back only while a reordering decoder may still return earlier ones."""
        ready.sort(key=lambda f: f.t_ns)
        while len(ready) > 4:
            yield ready.pop(0)
