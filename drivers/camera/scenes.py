"""What the simulated camera sees: a test pattern, a face, darkness, a covered lens, any image.

Every frame gets its CLOCK_MONOTONIC time and slot number drawn in, so a frame decoded from a
recording can be matched to its timestamp by eye.
"""
from __future__ import annotations

import cv2
import numpy as np

from drivers.errors import BadDriverArgument

SCENES = ("pattern", "face", "dark", "covered")

# BGR colour bars, as on a broadcast test card.
_BARS = ((192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0),
         (192, 0, 192), (0, 0, 192), (192, 0, 0))


def fit_image(image: np.ndarray, width: int, height: int, background: int = 0) -> np.ndarray:
    """``image`` (BGR, uint8) scaled to fit inside ``width`` x ``height``, centred on a
    uniform ``background`` grey."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        shape = getattr(image, "shape", None)
        raise BadDriverArgument(f"image must be a BGR uint8 array of shape (h, w, 3), got {shape}")
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    fw, fh = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    fitted = cv2.resize(image, (fw, fh), interpolation=interpolation)
    canvas = np.full((height, width, 3), background, np.uint8)
    y, x = (height - fh) // 2, (width - fw) // 2
    canvas[y:y + fh, x:x + fw] = fitted
    return canvas


def colour_bars(width: int, height: int) -> np.ndarray:
    """Colour bars over a grey ramp: bright, busy, and with no face in it."""
    img = np.zeros((height, width, 3), np.uint8)
    bars_h = height * 2 // 3
    for i, colour in enumerate(_BARS):
        x0, x1 = i * width // len(_BARS), (i + 1) * width // len(_BARS)
        img[:bars_h, x0:x1] = colour
    ramp = np.linspace(16, 235, width, dtype=np.float32).astype(np.uint8)
    img[bars_h:] = ramp[np.newaxis, :, np.newaxis]
    return img


def face_scene(width: int, height: int) -> np.ndarray:
    """scikit-image's astronaut photograph (a frontal face) on a mid-grey background."""
    from skimage import data  # imported on first use: scikit-image is slow to import

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return fit_image(astronaut, width, height, background=128)


def dark_scene(width: int, height: int) -> np.ndarray:
    """The test pattern in a badly lit room: about a tenth of its brightness."""
    return (colour_bars(width, height).astype(np.uint16) * 26 // 255).astype(np.uint8)


def covered_scene(width: int, height: int) -> np.ndarray:
    """A hand over the lens: near-black with a little fixed sensor noise."""
    rng = np.random.default_rng(seed=width * 10_007 + height)
    return rng.integers(0, 6, size=(height, width, 3), dtype=np.uint8)


class SceneRenderer:
    """Makes the simulated camera's frames at ``width`` x ``height``."""

    def __init__(self, width: int, height: int, scene: str = "pattern") -> None:
        self.width = width
        self.height = height
        self._scene = ""
        self._base = np.zeros((height, width, 3), np.uint8)
        self._text_grey = 255
        self.set_scene(scene)

    @property
    def scene(self) -> str:
        """The scene's name; ``"image"`` after :meth:`show_image`."""
        return self._scene

    def set_scene(self, scene: str) -> None:
        makers = {"pattern": colour_bars, "face": face_scene, "dark": dark_scene,
                  "covered": covered_scene}
        if scene not in makers:
            raise BadDriverArgument(f"scene={scene!r}: must be one of {', '.join(SCENES)}")
        self._base = makers[scene](self.width, self.height)
        self._scene = scene
        # Burned-in text as bright as the scene lets it be, so it does not light up the dark.
        self._text_grey = {"dark": 40, "covered": 8}.get(scene, 255)

    def show_image(self, bgr: np.ndarray) -> None:
        """Show ``bgr`` (any size, fitted in) from now on, e.g. a QR badge held to the lens."""
        self._base = fit_image(bgr, self.width, self.height)
        self._scene = "image"
        self._text_grey = 255

    def render(self, timestamp_ns: int, index: int) -> np.ndarray:
        """A new frame: the scene with ``timestamp_ns`` (as seconds) and ``index`` drawn in."""
        frame = self._base.copy()
        scale = max(0.3, self.height / 600)
        thickness = max(1, round(scale * 2))
        grey = self._text_grey
        line_h = round(30 * scale)
        x = max(2, self.width // 40)
        y = self.height - line_h // 2
        cv2.putText(frame, f"#{index}", (x, y - line_h), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (grey, grey, grey), thickness, cv2.LINE_AA)
        cv2.putText(frame, f"{timestamp_ns / 1e9:.6f} s", (x, y), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (grey, grey, grey), thickness, cv2.LINE_AA)
        return frame
