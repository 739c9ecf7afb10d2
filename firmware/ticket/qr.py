"""Tickets as QR codes: a PNG for the sales system's screen or print-out, and reading one
from an image, a file or the unit's camera.

Drawing and decoding are :mod:`firmware.people.qr`'s (OpenCV's ``QRCodeEncoder`` and its two
detectors), as for staff badges. A ticket code is larger than a badge (about 650
characters, version 16 at level M), so a small analysis frame reads it only when the code
fills most of the picture; :meth:`TicketReader.read_camera` then takes a full-resolution
still, as the badge reader does.
"""
from __future__ import annotations

import datetime as dt
import os
import struct
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.base import Camera
from drivers.clock.base import Clock
from firmware.people.qr import QUIET_MODULES, decode_qr, qr_image
from firmware.ticket.check import NO_CODE, TicketChecker, TicketResult
from firmware.ticket.codec import MAX_TEXT_CHARS
from firmware.ticket.errors import MALFORMED, TicketRefused

MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000       # a 50-megapixel photo; more is refused before decoding
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def ticket_qr_image(text: str, *, module_px: int = 6, correction: str = "M") -> np.ndarray:
    """The ticket's QR code as a BGR image, ``module_px`` pixels per module (6: about 560
    pixels square for a three-person ticket, sharp on a phone screen and on paper). Bad
    arguments raise :class:`~firmware.people.errors.BadgeError` (the QR drawing's error)."""
    return qr_image(text, module_px=module_px, correction=correction)


def write_ticket_png(text: str, path: str | os.PathLike, *, module_px: int = 6) -> Path:
    """Write the ticket's QR code to ``path`` as a PNG."""
    path = Path(path)
    ok, png = cv2.imencode(".png", ticket_qr_image(text, module_px=module_px))
    if not ok:
        raise OSError(f"{path}: OpenCV could not encode the QR image as PNG")
    path.write_bytes(png.tobytes())
    return path


def image_pixels(raw: bytes) -> int | None:
    """Width x height from a PNG or JPEG header, without decoding; None if neither."""
    if raw.startswith(_PNG) and len(raw) >= 24:
        width, height = struct.unpack(">II", raw[16:24])
        return width * height
    if raw.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 <= len(raw) and raw[i] == 0xFF:
            marker = raw[i + 1]
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", raw[i + 5:i + 9])
                return width * height
            i += 2 + struct.unpack(">H", raw[i + 2:i + 4])[0]
    return None


def decode_image_bytes(raw: bytes, source: str = "image") -> np.ndarray:
    """A PNG or JPEG file's bytes as a BGR image, refused (ValueError) over
    :data:`MAX_IMAGE_BYTES` or :data:`MAX_IMAGE_PIXELS` before it is decoded."""
    if len(raw) > MAX_IMAGE_BYTES:
        raise ValueError(f"{source}: {len(raw)} bytes is larger than an image of a ticket "
                         f"needs ({MAX_IMAGE_BYTES})")
    pixels = image_pixels(raw)
    if pixels is None:
        raise ValueError(f"{source}: not a PNG or JPEG image")
    if pixels > MAX_IMAGE_PIXELS:
        raise ValueError(f"{source}: {pixels} pixels is more than {MAX_IMAGE_PIXELS}")
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{source}: the image cannot be decoded")
    return image


def read_ticket_source(path: str | os.PathLike) -> str | None:
    """The ticket text in ``path``: a PNG/JPEG with its QR code (None when no code can be
    read), or a text file holding the ``DRT1:`` text (one trailing line end allowed). Files
    are read bounded; a file that is neither raises ValueError, a missing one OSError."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_IMAGE_BYTES + 1)
    if image_pixels(raw) is not None:
        return decode_qr(decode_image_bytes(raw, str(path)), enlarge=True)
    if len(raw) > MAX_TEXT_CHARS + 2:
        raise ValueError(f"{path}: not an image, and longer than a ticket's text "
                         f"({MAX_TEXT_CHARS} characters)")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: neither a PNG/JPEG image nor a ticket's text") from None
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


class TicketReader:
    """Reads ticket QR codes held up to the camera and checks them with ``checker``."""

    def __init__(self, checker: TicketChecker) -> None:
        self.checker = checker

    def read_text(self, text: str, now: dt.datetime, *, bind: bool = False) -> TicketResult:
        return self.checker.result(text, now, bind=bind)

    def read_image(self, bgr: np.ndarray, now: dt.datetime, *,
                   bind: bool = False) -> TicketResult:
        """The result for a BGR (or grey) image; ``"no_code"`` when no QR code is read."""
        text = decode_qr(bgr, enlarge=True)
        if text is None:
            return TicketResult(NO_CODE, "no QR code could be read in the image",
                                "未识别到二维码：请将双录二维码平放、靠近镜头。")
        return self.read_text(text, now, bind=bind)

    def read_jpeg(self, jpeg: bytes, now: dt.datetime, *, bind: bool = False) -> TicketResult:
        try:
            image = decode_image_bytes(jpeg, "camera still")
        except ValueError as exc:
            return TicketResult.refused(TicketRefused(MALFORMED, str(exc)))
        return self.read_image(image, now, bind=bind)

    def read_camera(self, camera: Camera, now: dt.datetime, *,
                    bind: bool = False) -> TicketResult:
        """One look through a started camera: the small analysis frame, then (no code
        there) a full-resolution still. Driver errors propagate unchanged."""
        latest = camera.analysis_frame()
        if latest is not None:
            result = self.read_image(latest[0], now, bind=bind)
            if result.status != NO_CODE:
                return result
        jpeg, _timestamp_ns = camera.capture_jpeg()
        return self.read_jpeg(jpeg, now, bind=bind)

    def scan(self, camera: Camera, clock: Clock, *, timeout_s: float = 10.0,
             interval_s: float = 0.5, bind: bool = False) -> TicketResult:
        """Look every ``interval_s`` seconds until a code is read or ``timeout_s`` passes
        (on ``clock``; the ticket's times against ``clock.realtime_ns()``); the first result
        that is not ``"no_code"``, or the last ``"no_code"``."""
        deadline = clock.monotonic_ns() + int(timeout_s * 1e9)
        while True:
            now = dt.datetime.fromtimestamp(clock.realtime_ns() / 1e9, dt.timezone.utc)
            result = self.read_camera(camera, now, bind=bind)
            mono = clock.monotonic_ns()
            if result.status != NO_CODE or mono >= deadline:
                return result
            clock.sleep_until_ns(min(deadline, mono + int(interval_s * 1e9)))



def qr_version(text: str, *, correction: str = "M") -> int:
    """The QR code version (1-40) OpenCV uses for ``text`` at ``correction``: the code is
    ``17 + 4 * version`` modules square."""
    modules = ticket_qr_image(text, module_px=1, correction=correction).shape[0] \
        - 2 * QUIET_MODULES
    return (modules - 17) // 4
