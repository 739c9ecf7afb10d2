"""Image conversions both camera backends share: YUV420 to BGR, analysis size, JPEG."""
from __future__ import annotations

import cv2
import numpy as np

from drivers.camera.base import ANALYSIS_WIDTH
from drivers.errors import BadDriverArgument


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the analysis image for a ``width`` x ``height`` frame: about
    :data:`ANALYSIS_WIDTH` pixels wide (never wider than the frame), same aspect, both even."""
    w = min(ANALYSIS_WIDTH, width)
    h = max(2, round(height * w / width / 2) * 2)
    return w, h


def analysis_image(bgr: np.ndarray) -> np.ndarray:
    """``bgr`` scaled down to the analysis size (a new array, never a view of ``bgr``)."""
    h, w = bgr.shape[:2]
    size = analysis_size(w, h)
    if size == (w, h):
        return bgr.copy()
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


def i420_to_bgr(yuv: np.ndarray, width: int, height: int) -> np.ndarray:
    """A planar YUV 4:2:0 image as picamera2 returns it for a ``"YUV420"`` stream, to BGR.

    ``yuv`` is ``height * 3 / 2`` rows of ``stride`` bytes (``stride >= width``): ``height``
    rows of Y, then the U and V planes, whose rows are ``stride / 2`` bytes each.
    """
    rows = height * 3 // 2
    if yuv.ndim != 2 or yuv.shape[0] != rows or yuv.shape[1] < width:
        raise BadDriverArgument(
            f"YUV420 image of shape {yuv.shape} does not hold a {width}x{height} picture")
    stride = yuv.shape[1]
    if stride == width:
        packed = yuv
    else:
        y = yuv[:height, :width]
        chroma = np.ascontiguousarray(yuv[height:rows]).reshape(height, stride // 2)
        u = chroma[:height // 2, :width // 2]
        v = chroma[height // 2:, :width // 2]
        packed = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(rows, width)
    return cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_I420)


def bgr_to_i420(bgr: np.ndarray) -> np.ndarray:
    """A BGR image to packed planar YUV 4:2:0 (``height * 3 / 2`` rows of ``width`` bytes)."""
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)


def encode_jpeg(bgr: np.ndarray, quality: int = 90) -> bytes:
    """``bgr`` as JPEG bytes."""
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise BadDriverArgument(f"image of shape {bgr.shape} could not be encoded as JPEG")
    return buf.tobytes()
