"""The signature as it is written: the pad's samples as strokes for the screen to draw live.

Points are normalised to 0..10000 on both axes of the pad (integers: the strokes' canonical
JSON is hashed for the chain), pressure to 0..1000 (1000 on a pad without pressure). The pad's
aspect ratio (from its size in mm when it says, else its axis ranges) lets the page draw the
signature undistorted. Bounded: past ``MAX_POINTS`` points, further samples are not drawn (the
sealed strokes of the recorder keep everything; this is only the picture).
Not thread-safe: :class:`~firmware.unit.display.stream.ScreenState` holds it under its lock.
"""
from __future__ import annotations

from typing import Any

from drivers.sigpad.base import PadInfo, PenSample

SCALE = 10_000
MAX_POINTS = 20_000


def aspect(info: PadInfo) -> tuple[int, int]:
    """The pad's drawing area as a (width, height) ratio in integers: in 0.01 mm when the pad
    gives its resolution, else in its own units."""
    width, height = info.x_max - info.x_min, info.y_max - info.y_min
    if info.x_resolution > 0 and info.y_resolution > 0:
        width_cmm = width * 100 // info.x_resolution
        height_cmm = height * 100 // info.y_resolution
        if width_cmm > 0 and height_cmm > 0:
            return width_cmm, height_cmm
    return max(1, width), max(1, height)


class LiveSignature:
    """Strokes of ``[x, y, pressure]`` points in pad-normalised integer units."""

    def __init__(self, info: PadInfo | None = None) -> None:
        self.info = info
        self.strokes: list[list[list[int]]] = []
        self.points = 0
        self._pen_down = False

    def add(self, sample: PenSample) -> tuple[int, list[int]] | None:
        """Add a pen-down sample; ``(stroke index, point)`` if it is drawn, else None."""
        if self.info is None or not sample.pen_down or self.points >= MAX_POINTS:
            if not sample.pen_down:
                self._pen_down = False
            return None
        info = self.info
        x = (sample.x - info.x_min) * SCALE // max(1, info.x_max - info.x_min)
        y = (sample.y - info.y_min) * SCALE // max(1, info.y_max - info.y_min)
        p = sample.pressure * 1000 // info.pressure_max if info.pressure_max > 0 else 1000
        point = [min(SCALE, max(0, x)), min(SCALE, max(0, y)), min(1000, max(0, p))]
        if not self._pen_down or not self.strokes:
            self.strokes.append([])
            self._pen_down = True
        self.strokes[-1].append(point)
        self.points += 1
        return len(self.strokes) - 1, point

    def end_stroke(self) -> None:
        self._pen_down = False

    def as_data(self) -> dict[str, Any]:
        """Canonical-JSON-able: what the screen shows and what the ScreenChange hashes."""
        return {"aspect": list(aspect(self.info)) if self.info else None,
                "strokes": self.strokes}
