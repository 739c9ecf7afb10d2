"""The pictures of a side-by-side review video: where each party's panel sits, the placeholder a
panel shows while its party has no picture, and the label at the foot of every panel.

Panels share one height (the counter's, at most :data:`MAX_HEIGHT`) and keep their recording's
aspect ratio; the counter is on the left, the remote parties follow in the order they appear
on the chain. Text is drawn with Pillow (see :mod:`firmware.office.export.fonts`) and cached.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from firmware.office.export.fonts import FontChoice
from firmware.office.export.overlay import BlendLayer

#: The common height of the panels: a 1080p counter is scaled down beside its parties, so the
#: file stays one a browser plays and the encoder's work stays near the counter-only export's.
MAX_HEIGHT = 720
#: A panel whose party sent no video (or whose size is unknown) is this wide for its height.
DEFAULT_ASPECT = 4 / 3
PLACEHOLDER_GREY = (48, 48, 48)
LABEL_ALPHA = 160
CACHE_ITEMS = 64


def _even(n: float) -> int:
    return max(2, int(round(n)) // 2 * 2)


@dataclass(frozen=True)
class Panel:
    """A party's place in the picture: columns ``x .. x + width``, the whole height."""

    key: str            # "counter" or the party id
    label: str
    x: int
    width: int


@dataclass(frozen=True)
class PanelLayout:
    width: int
    height: int
    panels: tuple[Panel, ...]

    @staticmethod
    def make(sources: list[tuple[str, str, tuple[int, int] | None]],
             height: int | None = None) -> "PanelLayout":
        """``sources``: (key, label, recorded (width, height) or None) left to right; the
        common height is ``height`` or the first source's height (at most MAX_HEIGHT)."""
        if height is None:
            sizes = [size for _, _, size in sources if size]
            height = sizes[0][1] if sizes else 360
        height = _even(min(height, MAX_HEIGHT))
        panels, x = [], 0
        for key, label, size in sources:
            aspect = size[0] / size[1] if size and size[1] else DEFAULT_ASPECT
            width = _even(height * aspect)
            panels.append(Panel(key, label, x, width))
            x += width
        return PanelLayout(x, height, tuple(panels))


class PanelPainter:
    """Placeholders and labels for the panels of one layout (one thread)."""

    def __init__(self, layout: PanelLayout, font: FontChoice) -> None:
        self.layout = layout
        self._font_choice = font
        self._size = max(12, layout.height // 24)
        self._font = font.load(self._size)
        self._big = font.load(max(14, layout.height // 16))
        self._labels: dict[tuple[str, int], BlendLayer] = {}
        self._placeholders: dict[tuple[str, str, int], np.ndarray] = {}   # grey ones

    def placeholder(self, panel: Panel, reason: str,
                    still: np.ndarray | None = None) -> np.ndarray:
        """The panel's picture while its party shows nothing: grey (or ``still``, already the
        panel's size) with the party and the reason in the middle."""
        key = (panel.key, reason, panel.width)
        cached = self._placeholders.get(key) if still is None else None
        if cached is not None:
            return cached
        h, w = self.layout.height, panel.width
        image = Image.new("RGB", (w, h), PLACEHOLDER_GREY) if still is None \
            else Image.fromarray(still)
        draw = ImageDraw.Draw(image)
        lines = [(panel.label, self._big, (230, 230, 230)), (reason, self._font, (255, 96, 80))]
        total = sum(self._line_h(f) for _, f, _ in lines)
        y = (h - total) // 2
        for text, font, colour in lines:
            text = self._fit_text(draw, text, font, w - 8)
            tw = draw.textlength(text, font=font)
            draw.text(((w - tw) / 2, y), text, font=font, fill=colour)
            y += self._line_h(font)
        out = np.asarray(image).copy()
        if still is None:
            if len(self._placeholders) >= CACHE_ITEMS:
                self._placeholders.clear()
            self._placeholders[key] = out
        return out

    def label(self, canvas: np.ndarray, panel: Panel, text: str | None = None) -> None:
        """Blend the panel's label into the foot of its columns of ``canvas`` (in place)."""
        text = text or panel.label
        layer = self._labels.get((text, panel.width))
        if layer is None:
            h = self._line_h(self._font) + 4
            image = Image.new("RGBA", (panel.width, h), (0, 0, 0, 0))
            draw = ImageDraw.Draw(image)
            shown = self._fit_text(draw, text, self._font, panel.width - 8)
            tw = draw.textlength(shown, font=self._font)
            draw.rectangle((0, 0, min(panel.width, tw + 8), h), fill=(0, 0, 0, LABEL_ALPHA))
            draw.text((4, 2), shown, font=self._font, fill=(255, 255, 255, 255))
            layer = BlendLayer(np.asarray(image))
            if len(self._labels) >= CACHE_ITEMS:
                self._labels.clear()
            self._labels[(text, panel.width)] = layer
        h = min(layer.height, canvas.shape[0])
        layer.blend_into(canvas[canvas.shape[0] - h:, panel.x:panel.x + panel.width])

    def _line_h(self, font) -> int:
        return round(getattr(font, "size", self._size) * 1.35)

    @staticmethod
    def _fit_text(draw: ImageDraw.ImageDraw, text: str, font, room: float) -> str:
        while len(text) > 1 and draw.textlength(text, font=font) > room:
            text = text[:-2] + "…"
        return text
