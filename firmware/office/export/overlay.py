"""Burning caption lines into video frames: a translucent band across the top of the picture.

Text is drawn with Pillow (CJK capable with the right font, see :mod:`firmware.office.export.fonts`)
once per distinct line and cached; each frame then only blends the cached lines in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from firmware.office.export.fonts import FontChoice

WHITE = (255, 255, 255)
YELLOW = (255, 214, 0)
RED = (255, 80, 64)

#: Opacity (0-255) of the band behind the text.
BAND_ALPHA = 150
#: Distinct rendered lines kept; a wall clock to 0.1 s makes ten a second.
CACHE_LINES = 256


@dataclass(frozen=True)
class CaptionLine:
    text: str
    colour: tuple[int, int, int] = WHITE


class Overlay:
    """Draws up to a few :class:`CaptionLine` into (height, width, 3) RGB frames."""

    def __init__(self, width: int, height: int, font: FontChoice) -> None:
        self.width = width
        self.height = height
        self.size_px = max(12, height // 22)
        self.pad = max(2, self.size_px // 4)
        self.line_h = round(self.size_px * 1.35)
        self._font_choice = font
        self._fonts: dict[int, object] = {}
        self._cache: dict[CaptionLine, BlendLayer] = {}

    def band_height(self, lines: int) -> int:
        """Pixels from the top that ``lines`` lines cover."""
        return min(self.height, self.pad + lines * self.line_h)

    def _font(self, size: int):
        if size not in self._fonts:
            self._fonts[size] = self._font_choice.load(size)
        return self._fonts[size]

    def _render(self, line: CaptionLine, first: bool) -> np.ndarray:
        """The line as an RGBA array (line_h [+ pad], width, 4)."""
        top = self.pad if first else 0
        image = Image.new("RGBA", (self.width, self.line_h + top), (0, 0, 0, BAND_ALPHA))
        draw = ImageDraw.Draw(image)
        size = self.size_px
        room = self.width - 2 * self.pad
        font = self._font(size)
        while size > 8 and draw.textlength(line.text, font=font) > room:
            size -= 1  # shrink a line that would not fit rather than cut it off
            font = self._font(size)
        y = top + (self.line_h - size) // 2
        draw.text((self.pad, y), line.text, font=font, fill=line.colour + (255,))
        return np.asarray(image)

    def draw(self, rgb: np.ndarray, lines: Sequence[CaptionLine]) -> np.ndarray:
        """Blend ``lines`` into the top of ``rgb`` (changed in place, and returned)."""
        y = 0
        for n, line in enumerate(lines):
            key = CaptionLine(("\0" if n == 0 else "") + line.text, line.colour)
            layer = self._cache.get(key)
            if layer is None:
                if len(self._cache) >= CACHE_LINES:
                    self._cache.clear()
                layer = self._cache[key] = BlendLayer(self._render(line, n == 0))
            h = min(layer.height, self.height - y)
            if h <= 0:
                break
            layer.blend_into(rgb[y:y + h])
            y += h
        return rgb


class BlendLayer:
    """An RGBA picture made ready to be blended over many frames (OpenCV's ``blendLinear``,
    about ten times numpy's float arithmetic on a 1080p-wide band)."""

    def __init__(self, rgba: np.ndarray) -> None:
        self.rgb = np.ascontiguousarray(rgba[:, :, :3])
        self.alpha = rgba[:, :, 3].astype(np.float32) / 255.0
        self.rest = 1.0 - self.alpha
        self.height = rgba.shape[0]

    def blend_into(self, region: np.ndarray) -> None:
        """Blend the layer's top rows over ``region`` (as wide as the layer, at most as high;
        changed in place)."""
        h = region.shape[0]
        region[:] = cv2.blendLinear(np.ascontiguousarray(region), self.rgb[:h],
                                    self.rest[:h], self.alpha[:h])
