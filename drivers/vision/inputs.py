"""What an image given to vision may be, checked before any decoder sees it.

An image is a uint8 array (BGR ``(h, w, 3)``, or grey ``(h, w)`` where a reader takes grey) or
the bytes of a JPEG or PNG still. Arrays are checked by shape; encoded stills by size and by the
width and height in their header, read here without decoding, so that an image bomb (a small
file claiming gigapixels) is refused before a decoder allocates for it. Nothing here needs
OpenCV: the daemon checks a request before it crosses to the worker, the worker checks it again.
"""
from __future__ import annotations

import struct

import numpy as np

from drivers.errors import BadDriverArgument

MIN_SIDE = 16
MAX_SIDE = 8192
MAX_PIXELS = 4096 * 4096              # 16.8 MP: a Camera Module 3 still is 11.9 MP
MAX_ENCODED_BYTES = 16 * 1024 * 1024  # a JPEG still of the largest allowed picture fits
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_NO_LENGTH = frozenset(range(0xD0, 0xDA)) | {0x01}   # RSTn, SOI, EOI, TEM


def check_array(image: object, *, grey: bool = False) -> tuple[int, int]:
    """``(height, width)`` of a BGR uint8 array (or a grey one when ``grey``), within the
    bounds; BadDriverArgument naming what is wrong otherwise."""
    shape = getattr(image, "shape", None)
    dims = (2, 3) if grey else (3,)
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in dims \
            or (image.ndim == 3 and image.shape[2] != 3):
        wanted = "a BGR or grey uint8 array" if grey else "a BGR uint8 array of shape (h, w, 3)"
        raise BadDriverArgument(f"image must be {wanted}, got "
                                f"{getattr(image, 'dtype', type(image).__name__)} {shape}")
    h, w = image.shape[:2]
    _check_size(w, h)
    return h, w


def check_encoded(raw: object) -> tuple[int, int]:
    """``(width, height)`` of a JPEG or PNG still, read from its header, within the bounds;
    BadDriverArgument naming what is wrong otherwise (nothing is decoded)."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise BadDriverArgument(f"image must be an array or JPEG/PNG bytes, got "
                                f"{type(raw).__name__}")
    raw = bytes(raw) if not isinstance(raw, bytes) else raw
    if len(raw) > MAX_ENCODED_BYTES:
        raise BadDriverArgument(f"still of {len(raw)} bytes: more than {MAX_ENCODED_BYTES}")
    size = encoded_size(raw)
    if size is None:
        raise BadDriverArgument(f"still of {len(raw)} bytes is not a JPEG or PNG image (or "
                                "its header is damaged)")
    _check_size(*size)
    return size


def encoded_size(raw: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's IHDR or a JPEG's SOF header; None if neither."""
    if raw.startswith(_PNG):
        if len(raw) < 24 or raw[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", raw[16:24])
        return width, height
    if not raw.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 4 <= len(raw):
        if raw[i] != 0xFF:
            return None
        marker = raw[i + 1]
        if marker == 0xFF:          # fill byte before a marker
            i += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            i += 2
            continue
        if marker == 0xDA:          # start of scan before any frame header
            return None
        if marker in _JPEG_SOF:
            if i + 9 > len(raw):
                return None
            height, width = struct.unpack(">HH", raw[i + 5:i + 9])
            return width, height
        i += 2 + struct.unpack(">H", raw[i + 2:i + 4])[0]
    return None


def _check_size(width: int, height: int) -> None:
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise BadDriverArgument(f"image of {width}x{height} pixels: each side must be "
                                f"{MIN_SIDE}..{MAX_SIDE}")
    if width * height > MAX_PIXELS:
        raise BadDriverArgument(f"image of {width}x{height} pixels: more than {MAX_PIXELS} "
                                "pixels")
