"""QR codes as images, with OpenCV: a printable badge or ticket picture (the office's), and,
for office tools and tests, the text of a code in an image.

OpenCV's ``QRCodeEncoder`` makes the code. Reading codes is the drivers'
(:mod:`drivers.vision.codes`): the unit reads them in its vision worker
(:meth:`drivers.vision.VisionService.read_codes`), never with OpenCV in the daemon;
:func:`decode_qr` reads them in the caller's process.
"""
from __future__ import annotations

import cv2
import numpy as np

from drivers.errors import BadDriverArgument
from drivers.vision.codes import read_codes
from firmware.people.errors import BadgeError

#: Light margin round the code, in modules: the QR standard asks for at least 4.
QUIET_MODULES = 4
#: Error-correction levels: the share of the code that may be unreadable and still decode.
CORRECTION_LEVELS = {"L": 0.07, "M": 0.15, "Q": 0.25, "H": 0.30}


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


def decode_qr(bgr: np.ndarray, *, enlarge: bool = False) -> str | None:
    """The text of the QR code in ``bgr`` (a BGR or grey uint8 image), or None if none can be
    read, decoded in this process by :func:`drivers.vision.codes.read_codes` (office tools,
    tests; the unit reads codes through its vision worker). ``enlarge``: see
    :class:`drivers.vision.CodeReader`. A bad image raises :class:`BadgeError`."""
    try:
        codes = read_codes(bgr, enlarge=enlarge)
    except BadDriverArgument as exc:
        raise BadgeError(f"not an image: {exc}") from None
    return codes[0] if codes else None
