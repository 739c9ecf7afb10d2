"""Test double of ``picamera2.request.CompletedRequest``: one frame from the sensor."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

if TYPE_CHECKING:
    from .picamera2 import Picamera2

# The channel order of picamera2's RGB formats, as numpy sees the bytes.
_BGR_ORDER = {"RGB888": "bgr", "BGR888": "rgb", "XRGB8888": "bgrx", "XBGR8888": "rgbx"}


def pad_i420(packed: np.ndarray, width: int, height: int, stride: int) -> np.ndarray:
    """Packed I420 laid out as libcamera does for a YUV420 stream of row length ``stride``:
    Y rows of ``stride`` bytes, then U and V planes with rows of ``stride / 2`` bytes."""
    flat = packed.reshape(-1)
    y_size, c_size = width * height, (width // 2) * (height // 2)
    out = np.zeros(height * 3 // 2 * stride, np.uint8)
    out[:height * stride].reshape(height, stride)[:, :width] = flat[:y_size].reshape(height, width)
    c_stride, c_rows = stride // 2, height // 2
    for plane in range(2):
        start = height * stride + plane * c_rows * c_stride
        src = flat[y_size + plane * c_size:y_size + (plane + 1) * c_size]
        out[start:start + c_rows * c_stride].reshape(c_rows, c_stride)[:, :width // 2] = \
            src.reshape(c_rows, width // 2)
    return out.reshape(height * 3 // 2, stride)


class CompletedRequest:
    """A frame that completed: metadata, and images of every configured stream."""

    def __init__(self, picam: Picamera2, sensor_timestamp_ns: int, sequence: int) -> None:
        self._picam = picam
        self._metadata = {"SensorTimestamp": sensor_timestamp_ns,
                          "FrameDuration": picam.frame_duration_us,
                          "ExposureTime": picam.frame_duration_us - 100,
                          "SensorSequence": sequence}
        self._bgr: dict[str, np.ndarray] = {}
        self.users = 1

    def acquire(self) -> None:
        self.users += 1

    def release(self) -> None:
        self.users -= 1

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def _stream(self, name: str) -> dict[str, Any]:
        config = self._picam.camera_configuration()
        if not config or config.get(name) is None:
            raise RuntimeError(f"Stream {name!r} is not configured")
        return config[name]

    def _picture(self, name: str) -> np.ndarray:
        if name not in self._bgr:
            width, height = self._stream(name)["size"]
            self._bgr[name] = self._picam.scene_bgr(width, height,
                                                    self._metadata["SensorSequence"])
        return self._bgr[name]

    def packed_i420(self, name: str) -> np.ndarray:
        """The stream's picture as packed I420 (the double's encoder reads this)."""
        return cv2.cvtColor(self._picture(name), cv2.COLOR_BGR2YUV_I420)

    def make_array(self, name: str) -> np.ndarray:
        """The stream's picture in its configured format, as picamera2 returns it."""
        stream = self._stream(name)
        fmt, (width, height) = stream["format"], stream["size"]
        if fmt == "YUV420":
            return pad_i420(self.packed_i420(name), width, height, stream["stride"])
        order = _BGR_ORDER[fmt]
        bgr = self._picture(name)
        image = bgr if order.startswith("bgr") else bgr[:, :, ::-1]
        if order.endswith("x"):
            image = np.dstack([image, np.full((height, width), 255, np.uint8)])
        return np.ascontiguousarray(image)
