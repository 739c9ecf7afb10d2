"""A party's picture as a BGR image, for any thread, without racing the recording.

A decoded frame's built-in scaler (``frame.reformat``, ``frame.to_ndarray(format=...)``) is
created once per frame and shared by every thread that converts that frame. The party's media
thread scales each frame for the recording while the session reads the latest one (answers,
ID photos), and two threads in one swscale context corrupt it: a deadlock in its slice threads
or a crash (seen with FFmpeg 8 through PyAV 18, in the full test suite). So each user has a
scaler of its own, single-threaded, as :class:`~firmware.unit.remote.video_encoder.
RemoteVideoEncoder` has.
"""
from __future__ import annotations

import threading

import av
import numpy as np
from av.video.reformatter import VideoReformatter


class PictureView:
    """Converts frames to BGR images with its own scaler; thread-safe."""

    def __init__(self) -> None:
        self._scaler = VideoReformatter()
        self._lock = threading.Lock()

    def bgr(self, frame: av.VideoFrame) -> np.ndarray:
        """``frame`` as a BGR image at its own size (the frame itself is only read)."""
        with self._lock:
            out = self._scaler.reformat(frame, format="bgr24", threads=1)
        return out.to_ndarray()
