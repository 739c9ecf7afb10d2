"""Tickets as QR codes, with OpenCV in this process: a PNG for the sales system's screen or
print-out, and reading one from a file (``dualrec ticket check``).

Drawing is :mod:`firmware.people.qr`'s (OpenCV's ``QRCodeEncoder``), as for staff badges;
reading a code is the drivers' (:mod:`drivers.vision.codes`, with the enlarge fallback). The
unit reads tickets from its camera with :class:`firmware.ticket.reader.TicketReader`
(re-exported here), through its vision worker, without OpenCV in the daemon.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from drivers.vision.inputs import MAX_PIXELS as DECODER_PIXELS
from drivers.vision.inputs import encoded_size
from firmware.people.qr import QUIET_MODULES, decode_qr, qr_image
from firmware.ticket.codec import MAX_TEXT_CHARS
from firmware.ticket.reader import TicketReader

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "TicketReader", "decode_image_bytes",
           "image_pixels", "qr_version", "read_ticket_source", "ticket_qr_image",
           "write_ticket_png"]

MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000       # a 50-megapixel photo; more is refused before decoding


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
    size = encoded_size(raw)
    return None if size is None else size[0] * size[1]


def decode_image_bytes(raw: bytes, source: str = "image") -> np.ndarray:
    """A PNG or JPEG file's bytes as a BGR image, refused (ValueError) over
    :data:`MAX_IMAGE_BYTES` or :data:`MAX_IMAGE_PIXELS` before it is decoded. A photo over
    the QR decoders' bound (:data:`drivers.vision.inputs.MAX_PIXELS`, 16.8 MP) is decoded at
    half its width and height, which libjpeg does for less work and memory."""
    if len(raw) > MAX_IMAGE_BYTES:
        raise ValueError(f"{source}: {len(raw)} bytes is larger than an image of a ticket "
                         f"needs ({MAX_IMAGE_BYTES})")
    pixels = image_pixels(raw)
    if pixels is None:
        raise ValueError(f"{source}: not a PNG or JPEG image")
    if pixels > MAX_IMAGE_PIXELS:
        raise ValueError(f"{source}: {pixels} pixels is more than {MAX_IMAGE_PIXELS}")
    flag = cv2.IMREAD_REDUCED_COLOR_2 if pixels > DECODER_PIXELS else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), flag)
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


def qr_version(text: str, *, correction: str = "M") -> int:
    """The QR code version (1-40) OpenCV uses for ``text`` at ``correction``: the code is
    ``17 + 4 * version`` modules square."""
    modules = ticket_qr_image(text, module_px=1, correction=correction).shape[0] \
        - 2 * QUIET_MODULES
    return (modules - 17) // 4
