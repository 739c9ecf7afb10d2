"""Test double of ``picamera2.encoders.H264Encoder``, encoding for real with libx264 (PyAV).

It behaves like the Pi's V4L2 H.264 encoder as picamera2 drives it: Annex-B output, no
B-frames, an IDR every ``iperiod`` frames (60 when None), SPS/PPS repeated before each IDR
when ``repeat`` is true (otherwise only in the first frame), ``force_key_frame()`` makes the
next frame an IDR, and ``outputframe`` gets each frame's timestamp in microseconds since the
first frame.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any

import av

from .encoder import Encoder, Quality

_MBPS_AT_1080P30 = {Quality.VERY_LOW: 2, Quality.LOW: 4, Quality.MEDIUM: 6, Quality.HIGH: 9,
                    Quality.VERY_HIGH: 15}


class H264Encoder(Encoder):
    def __init__(self, bitrate: int | None = None, repeat: bool = True,
                 iperiod: int | None = None, framerate: float | None = None,
                 enable_sps_framerate: bool = False, qp: int | None = None,
                 profile: str | None = None) -> None:
        super().__init__(framerate)
        self.bitrate = bitrate
        self.repeat = repeat
        self.iperiod = iperiod
        self.qp = qp
        self.profile = profile
        self._enable_framerate = enable_sps_framerate
        self._key_frames_requested = 0
        self._key_frames_generated = 0
        self._ctx: Any = None

    def _setup(self, quality: Quality | None) -> None:
        if quality is not None or (self.bitrate is None and self.qp is None):
            mbps = _MBPS_AT_1080P30[quality or Quality.MEDIUM]
            scale = self.width * self.height * (self.framerate or 30) / (1920 * 1080 * 30)
            self.bitrate = int(mbps * 1_000_000 * scale)

    def _start(self) -> None:
        iperiod = self.iperiod or 60
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width = self.width
        ctx.height = self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 1_000_000)
        ctx.gop_size = iperiod
        ctx.max_b_frames = 0
        ctx.bit_rate = self.bitrate or 1_000_000
        ctx.thread_count = 1
        if not self.repeat:
            ctx.flags |= av.codec.context.Flags.GLOBAL_HEADER
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1",
                       "x264-params": f"keyint={iperiod}:min-keyint={iperiod}:scenecut=0:bframes=0"}
        self._ctx = ctx

    def _encode(self, stream: str, request: Any) -> None:
        timestamp_us = self._timestamp(request)
        frame = av.VideoFrame.from_ndarray(request.packed_i420(stream), format="yuv420p")
        frame.pts = timestamp_us
        if self._key_frames_requested > self._key_frames_generated:
            self._key_frames_generated += 1
            frame.pict_type = av.video.frame.PictureType.I
        for packet in self._ctx.encode(frame):
            self.outputframe(bytes(packet), packet.is_keyframe, timestamp=packet.pts)

    def _stop(self) -> None:
        for packet in self._ctx.encode(None):
            self.outputframe(bytes(packet), packet.is_keyframe, timestamp=packet.pts)
        self._ctx = None

    def force_key_frame(self) -> None:
        self._key_frames_requested += 1
