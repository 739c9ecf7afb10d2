"""QR codes as images, with OpenCV: a printable badge picture, and the text in a camera image.

OpenCV's ``QRCodeEncoder`` makes the code and ``QRCodeDetector`` reads it; the ArUco-based
detector (OpenCV >= 4.8) is tried second, as it copes better with blur and small codes.
"""
from __future__ import annotations

import cv2
import numpy as np

from firmware.people.errors import BadgeError

#: Light margin round the code, in modules: the QR standard asks for at least 4.
QUIET_MODULES = 4


def qr_image(text: str, *, module_px: int = 8, label: str = "") -> np.ndarray:
    """A BGR image of ``text`` as a QR code (level M), ``module_px`` pixels per module, with
    a quiet zone and, under it, ``label`` in plain ASCII (e.g. the staff id) for people."""
    if not 1 <= module_px <= 64:
        raise BadgeError(f"module_px={module_px}: must be from 1 to 64 pixels")
    if not label.isascii():
        raise BadgeError("the badge label must be ASCII (OpenCV draws no CJK): use the staff "
                         "id, not the name")
    params = cv2.QRCodeEncoder_Params()
    params.correction_level = cv2.QRCodeEncoder_CORRECT_LEVEL_M
    code = cv2.QRCodeEncoder.create(params).encode(text)
    if code is None or code.size == 0:
        raise BadgeError(f"OpenCV could not encode {len(text)} characters as a QR code")
    # The encoder's own margin varies by version: trim it and add a known quiet zone.
    dark = np.argwhere(code < 128)
    (y0, x0), (y1, x1) = dark.min(axis=0), dark.max(axis=0)
    modules = code[y0:y1 + 1, x0:x1 + 1]
    size = modules.shape[0] * module_px
    grey = cv2.resize(modules, (size, size), interpolation=cv2.INTER_NEAREST)
    quiet = QUIET_MODULES * module_px
    grey = cv2.copyMakeBorder(grey, quiet, quiet, quiet, quiet, cv2.BORDER_CONSTANT, value=255)
    if label:
        strip = np.full((quiet * 2, grey.shape[1]), 255, np.uint8)
        scale = max(0.4, module_px / 10)
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        cv2.putText(strip, label, (max(0, (grey.shape[1] - tw) // 2), (strip.shape[0] + th) // 2),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, 0, 2, cv2.LINE_AA)
        grey = np.vstack([grey, strip])
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def _check_image(bgr: object) -> np.ndarray:
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim not in (2, 3) \
            or bgr.shape[0] < 8 or bgr.shape[1] < 8:
        shape = getattr(bgr, "shape", None)
        raise BadgeError(f"not an image: need a BGR or grey uint8 array, got shape {shape}")
    return bgr


def decode_qr(bgr: np.ndarray) -> str | None:
    """The text of the QR code in ``bgr`` (a BGR or grey uint8 image), or None if none can be
    read. With several codes in view, the first one found."""
    image = _check_image(bgr)
    for detector in (cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()):
        try:
            text, _points, _straight = detector.detectAndDecode(image)
        except cv2.error:
            continue
        if text:
            return text
    return None


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """A JPEG still (as ``Camera.capture_jpeg`` gives) as a BGR image."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadgeError(f"the camera still ({len(jpeg)} bytes) is not a readable JPEG")
    return image
