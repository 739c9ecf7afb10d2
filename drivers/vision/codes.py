"""QR codes in camera images, read with OpenCV: staff badges, 双录 tickets.

OpenCV's ``QRCodeDetector`` reads first and its ArUco-based detector (OpenCV >= 4.8, better
with blur and small codes) second. When neither reads a code as it is and ``enlarge`` is asked
for, the code is located, cut out with a margin, enlarged to about :data:`ENLARGE_TO_PX`
pixels and read again: OpenCV's decoders need about 4 pixels a module, a located code reads
down to about 2.5 (a dense ticket code on a phone held at arm's length).

This module imports OpenCV: the unit runs it in the vision worker
(:class:`drivers.vision.VisionService`); office tools and tests may call :func:`read_codes`
in their own process. Both take the same images, bounded by :mod:`drivers.vision.inputs`.
"""
from __future__ import annotations

import cv2
import numpy as np

from drivers.errors import BadDriverArgument
from drivers.vision.findings import Image
from drivers.vision.inputs import check_array, check_encoded

#: How large (pixels, longest side) a located code is enlarged to before a second reading.
ENLARGE_TO_PX = 800
#: Longest text kept from one code (a version-40 code holds at most 7,089 characters).
MAX_CODE_CHARS = 7089


def read_codes(image: Image, *, enlarge: bool = False) -> list[str]:
    """The texts of the QR codes in ``image`` (a BGR or grey uint8 array, or JPEG/PNG bytes):
    today at most one, the first code read; empty when none can be read. See
    :class:`drivers.vision.findings.CodeReader`."""
    if isinstance(image, np.ndarray):
        check_array(image, grey=True)
        pixels = image
    else:
        pixels = decode_image(image)
    return find_codes(pixels, enlarge=enlarge)


def decode_image(raw: bytes) -> np.ndarray:
    """A JPEG or PNG still as a BGR array, its size checked from its header before decoding;
    BadDriverArgument for bytes that are no such image or too large."""
    check_encoded(raw)
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadDriverArgument(f"still of {len(raw)} bytes could not be decoded (a damaged "
                                "JPEG or PNG)")
    return image


def find_codes(image: np.ndarray, *, enlarge: bool) -> list[str]:
    """The codes in an already checked array (see :func:`read_codes`)."""
    text = _decode_as_is(image)
    if text is None and enlarge:
        text = _decode_enlarged(image)
    return [] if text is None else [text[:MAX_CODE_CHARS]]


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
    """Locate a code, cut it out with a margin, enlarge it to about :data:`ENLARGE_TO_PX`
    pixels and decode that."""
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
