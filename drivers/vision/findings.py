"""What seeing finds: faces, text lines, a frame's analysis; and the shape of a code reader.

Plain values with no library behind them, so that the daemon can hold them without importing
OpenCV or onnxruntime (those run in the vision worker, :mod:`drivers.vision.service`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Union

import numpy as np

#: What a reader is given: a BGR (or, for codes, grey) uint8 array, or the bytes of a JPEG or
#: PNG still as :meth:`drivers.camera.Camera.capture_jpeg` returns them.
Image = Union[np.ndarray, bytes]


@dataclass(frozen=True)
class Face:
    """One face: ``box`` is ``(x, y, width, height)`` in pixels of the image given (inside
    it), ``score`` the detector's confidence 0..1."""

    box: tuple[int, int, int, int]
    score: float


@dataclass(frozen=True)
class TextLine:
    """One line of text: ``box`` its four corners ``(x, y)`` in pixels of the image read
    (clockwise from top-left of the text), ``score`` the recogniser's confidence 0..1."""

    text: str
    box: tuple[tuple[int, int], ...]
    score: float


@dataclass(frozen=True)
class FrameAnalysis:
    """One analysis image: the faces in it (best score first) and its mean brightness
    (0..255, the mean of its grey image, as the live monitor has always measured it)."""

    faces: tuple[Face, ...]
    brightness: int


class CodeReader(Protocol):
    """Reads QR codes: the texts of the codes in ``image`` (empty when none can be read).

    ``enlarge``: when no code can be read as it is, locate one and read it enlarged (dense
    codes far from the camera, such as a 双录 ticket on a phone; up to a few hundred ms more
    on a full-resolution still). Bad images raise
    :class:`~drivers.errors.BadDriverArgument`. Both
    :meth:`drivers.vision.VisionService.read_codes` (in the vision worker) and
    :func:`drivers.vision.codes.read_codes` (in the caller's process, with OpenCV) are one.
    """

    def __call__(self, image: Image, *, enlarge: bool = False) -> list[str]: ...
