"""H.264 in software (libx264 through PyAV) for the simulated camera."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from drivers.camera.images import bgr_to_i420


@dataclass(frozen=True)
class H264Packet:
    """One encoded access unit; ``pts`` is the frame slot number it was submitted with."""

    data: bytes
    keyframe: bool
    pts: int


class X264Encoder:
    """libx264 set up like the appliance's hardware encoder: Annex-B with SPS/PPS in-band
    before every keyframe, no B-frames, a keyframe every ``fps`` frames and no others
    (no scene-cut keyframes) unless one is forced.

    ``pts`` values are in units of 1/``fps`` s; with ``tune=zerolatency`` each frame comes out
    of :meth:`encode` at once, but callers must not rely on that (see :meth:`flush`).
    """

    def __init__(self, width: int, height: int, fps: int, bitrate: int) -> None:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, fps)
        ctx.framerate = Fraction(fps, 1)
        ctx.gop_size = fps
        ctx.max_b_frames = 0
        ctx.bit_rate = bitrate
        ctx.thread_count = 1
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "forced-idr": "1",
            "x264-params": (f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0"
                            ":repeat-headers=1:annexb=1"),
        }
        self._ctx = ctx
        self._closed = False

    def encode(self, bgr: np.ndarray, pts: int, force_keyframe: bool = False) -> list[H264Packet]:
        """Encode one BGR frame; returns the packets that came out (usually exactly one)."""
        frame = av.VideoFrame.from_ndarray(bgr_to_i420(bgr), format="yuv420p")
        frame.pts = pts
        if force_keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        return self._packets(self._ctx.encode(frame))

    def flush(self) -> list[H264Packet]:
        """Drain the encoder at the end of a run; the encoder cannot be used afterwards."""
        if self._closed:
            return []
        self._closed = True
        return self._packets(self._ctx.encode(None))

    @staticmethod
    def _packets(packets: list[av.Packet]) -> list[H264Packet]:
        return [H264Packet(bytes(p), bool(p.is_keyframe), int(p.pts)) for p in packets]
