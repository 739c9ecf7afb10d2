"""H.264 for a remote party's recorded video: libx264 through PyAV, set up exactly like the
simulated camera's encoder (``drivers/camera/x264.py``, a test keeps the two in step), but fed
the decoded frames aiortc gives (YUV, any size) instead of BGR images, so no colour conversion
and no OpenCV is needed on the unit for it.
"""
from __future__ import annotations

from fractions import Fraction

import av
from av.video.reformatter import VideoReformatter


class RemoteVideoEncoder:
    """``width`` x ``height`` (even), a keyframe every ``fps`` frames and whenever one is
    forced, SPS/PPS before every keyframe, no B-frames, Annex-B. ``fps`` is nominal: remote
    frames arrive at whatever rate the network gives; each packet's ``pts`` is the frame's
    index as given to :meth:`encode`."""

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
        self._scaler = VideoReformatter()
        self.size = (width, height)
        self._flushed = False

    @property
    def codec_context(self) -> av.CodecContext:
        return self._ctx

    def encode(self, frame: av.VideoFrame, index: int,
               force_keyframe: bool = False) -> list[tuple[bytes, bool, int]]:
        """Scale/convert ``frame`` to the encoder's size and encode it; the packets that came
        out as ``(annex_b, keyframe, index)`` (with zerolatency: this frame's, at once)."""
        # the encoder's own scaler, one thread: the frame's built-in one is shared with any
        # other thread converting the same frame (RemoteParty.latest_frame), and two threads
        # in one swscale context deadlock. It hands back ``frame`` itself when nothing
        # changes: only its pts and picture type are set then, which nobody else reads
        out = self._scaler.reformat(frame, width=self.size[0], height=self.size[1],
                                    format="yuv420p", threads=1)
        out.pts = index
        out.time_base = self._ctx.time_base
        out.pict_type = av.video.frame.PictureType.I if force_keyframe \
            else av.video.frame.PictureType.NONE
        return self._packets(self._ctx.encode(out))

    def flush(self) -> list[tuple[bytes, bool, int]]:
        """Drain the encoder; it cannot be used afterwards. Safe twice."""
        if self._flushed:
            return []
        self._flushed = True
        return self._packets(self._ctx.encode(None))

    @staticmethod
    def _packets(packets: list[av.Packet]) -> list[tuple[bytes, bool, int]]:
        return [(bytes(p), bool(p.is_keyframe), int(p.pts)) for p in packets]
