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
#: Error-correction levels: the share of the code that may be unreadable and still decode.
CORRECTION_LEVELS = {"L": 0.07, "M": 0.15, "Q": 0.25, "H": 0.30}
#: How large (pixels, longest side) a located code is enlarged to before a second reading.
ENLARGE_TO_PX = 800


def qr_image(text: str, *, module_px: int = 8, label: str = "",
             correction: str = "M") -> np.ndarray:
    """A BGR image of ``text`` as a QR code (error correction ``correction``: L, M, Q or H),
    ``module_px`` pixels per module, with a quiet zone and, under it, ``label`` in plain
    ASCII (e.g. the staff id) for people. OpenCV picks the densest mode the text allows
    (alphanumeric for base45 text)."""
    if not 1 <= module_px <= 64:
        raise BadgeError(f"module_px={module_px}: must be from 1 to 64 pixels")
    if not label.isascii():
        raise BadgeError("the badge label must be ASCII (OpenCV draws no CJK): use the staff "
                         "id, not the name")
    if correction not in CORRECTION_LEVELS:
        raise BadgeError(f"correction={correction!r}: must be one of "
                         f"{', '.join(CORRECTION_LEVELS)}")
    params = cv2.QRCodeEncoder_Params()
    params.correction_level = getattr(cv2, f"QRCodeEncoder_CORRECT_LEVEL_{correction}")
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


def _detectors() -> tuple[cv2.QRCodeDetector, cv2.QRCodeDetectorAruco]:
    return cv2.QRCodeDetector(), cv2.QRCodeDetectorAruco()


def _decode_as_is(image: np.ndarray) -> str | None:
    for detector in _detectors():
        try:
            text, _points, _straight = detector.detectAndDecode(image)
        except cv2.error:
            continue
        if text:
            return text
    return None


def _decode_enlarged(image: np.ndarray) -> str | None:
    """Find where a code is, cut it out with a margin, enlarge it to about
    :data:`ENLARGE_TO_PX` pixels and decode that: OpenCV's decoders need about 4 pixels a
    module, a located code reads down to about 2.5."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    for detector in _detectors():
        try:
            found, points = detector.detect(grey)
        except cv2.error:
            continue
        if not found or points is None:
            continue
        corners = points.reshape(-1, 2)
        (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        margin = 0.15 * max(x1 - x0, y1 - y0)
        top, left = int(max(0, y0 - margin)), int(max(0, x0 - margin))
        crop = grey[top:int(min(grey.shape[0], y1 + margin)),
                    left:int(min(grey.shape[1], x1 + margin))]
        if min(crop.shape) < 8:
            continue
        factor = ENLARGE_TO_PX / max(crop.shape)
        if factor <= 1.0:
            continue
        text = _decode_as_is(cv2.resize(crop, None, fx=factor, fy=factor,
                                        interpolation=cv2.INTER_CUBIC))
        if text:
            return text
    return None


def decode_qr(bgr: np.ndarray, *, enlarge: bool = False) -> str | None:
    """The text of the QR code in ``bgr`` (a BGR or grey uint8 image), or None if none can be
    read. With several codes in view, the first one found. ``enlarge``: when the code cannot
    be read as it is, locate it and read it enlarged (dense codes far from the camera, such
    as a 双录 ticket on a phone; up to a few hundred ms more on a full-resolution still)."""
    image = _check_image(bgr)
    text = _decode_as_is(image)
    if text is None and enlarge:
        text = _decode_enlarged(image)
    return text


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    """A JPEG still (as ``Camera.capture_jpeg`` gives) as a BGR image."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadgeError(f"the camera still ({len(jpeg)} bytes) is not a readable JPEG")
    return image
