"""What the simulated camera sees: a test pattern, a face, darkness, a covered lens, the
counter with two people or with the customer gone, an ID card or a 投保单 held to the lens, or
any image.

The people are real photographs that ship in pinned packages: scikit-image's ``astronaut``
(Eileen Collins, a NASA photograph, public domain) stands for the salesperson, matplotlib's
sample ``grace_hopper.jpg`` (Grace Hopper's US Navy portrait, public domain) for the customer.
The documents are drawn by :mod:`drivers.camera.documents`.

Every frame gets its CLOCK_MONOTONIC time and slot number drawn in, so a frame decoded from a
recording can be matched to its timestamp by eye.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from drivers.camera.documents import (ApplicationForm, IdCard, render_application_form,
                                      render_id_card, sample_application_form, sample_id_card)
from drivers.errors import BadDriverArgument, DeviceMissingError

SCENES = ("pattern", "face", "dark", "covered", "two_people", "customer_left", "id_card",
          "application_form")

#: what each scene may be given by ``set_scene(scene, **content)``
SCENE_CONTENT = {"id_card": ("card",), "application_form": ("form",)}

_COUNTER_BGR = (92, 108, 124)   # the counter top behind a document held to the lens
_MATPLOTLIB = "matplotlib==3.11.2"
_SCIKIT_IMAGE = "scikit-image>=0.22"

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
    return fit_image(_astronaut(), width, height, background=128)


def _package_photo(package: str, relative: str, who: str, requirement: str) -> np.ndarray:
    """A photograph shipped inside ``package``, read as BGR without importing the package
    (scikit-image takes 0.4 s and 40 MB to import, matplotlib more)."""
    spec = importlib.util.find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(roots[0]) / relative if roots else None
    image = cv2.imread(str(path)) if path is not None and path.is_file() else None
    if image is None:
        raise DeviceMissingError(f"the {who}'s photograph comes from {package}'s sample data "
                                 f"({Path(relative).name}), which is missing; install it with "
                                 f"'pip install {requirement}'")
    return image


def _astronaut() -> np.ndarray:
    """scikit-image's ``data.astronaut()`` (the same pixels), in BGR."""
    return _package_photo("skimage", "data/astronaut.png", "salesperson", _SCIKIT_IMAGE)


def _grace_hopper() -> np.ndarray:
    """matplotlib's sample photograph."""
    return _package_photo("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "customer",
                          _MATPLOTLIB)


def _paste(canvas: np.ndarray, image: np.ndarray, centre_x: int, height: int) -> None:
    """``image`` scaled to ``height`` and pasted standing on the bottom edge at ``centre_x``."""
    h, w = image.shape[:2]
    fw = max(1, round(w * height / h))
    fitted = cv2.resize(image, (fw, height), interpolation=cv2.INTER_AREA)
    ch, cw = canvas.shape[:2]
    x0 = centre_x - fw // 2
    left, right = max(0, x0), min(cw, x0 + fw)
    top = ch - height
    canvas[max(0, top):ch, left:right] = fitted[max(0, -top):, left - x0:right - x0]


def counter_scene(width: int, height: int, customer: bool = True) -> np.ndarray:
    """The counter seen by the unit: the salesperson on the left and, if ``customer``, the
    customer on the right; without, the customer's place is empty (they walked away)."""
    canvas = np.full((height, width, 3), 128, np.uint8)
    tall = round(height * 0.95)
    _paste(canvas, _astronaut(), round(width * 0.28), tall)
    if customer:
        _paste(canvas, _grace_hopper(), round(width * 0.72), tall)
    return canvas


def held_document(document: np.ndarray, width: int, height: int, fill: float) -> np.ndarray:
    """``document`` held to the lens: fitted into ``fill`` of the frame, over the counter."""
    inner = fit_image(document, max(1, round(width * fill)), max(1, round(height * fill)),
                      background=0)
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = _COUNTER_BGR
    y, x = (height - inner.shape[0]) // 2, (width - inner.shape[1]) // 2
    region = canvas[y:y + inner.shape[0], x:x + inner.shape[1]]
    paper = inner.any(axis=2)
    region[paper] = inner[paper]
    return canvas


def id_card_scene(width: int, height: int, card: IdCard | None = None) -> np.ndarray:
    """``card`` (a fictional sample if None) held up, filling most of the frame."""
    return held_document(render_id_card(card or sample_id_card()), width, height, 0.9)


def application_form_scene(width: int, height: int,
                           form: ApplicationForm | None = None) -> np.ndarray:
    """The top of the first page of ``form`` held close to the lens (title, insurer and
    application number readable), as a salesperson shows it."""
    page = render_application_form(form or sample_application_form())
    top = page[:page.shape[1] * 9 // 16]
    return held_document(top, width, height, 0.96)


def dark_scene(width: int, height: int) -> np.ndarray:
    """The test pattern in a badly lit room: about a tenth of its brightness."""
    return (colour_bars(width, height).astype(np.uint16) * 26 // 255).astype(np.uint8)


def covered_scene(width: int, height: int) -> np.ndarray:
    """A hand over the lens: near-black with a little fixed sensor noise."""
    rng = np.random.default_rng(seed=width * 10_007 + height)
    return rng.integers(0, 6, size=(height, width, 3), dtype=np.uint8)


def _text_scale(height: int) -> float:
    return max(0.3, height / 600)


def _text_band(height: int) -> int:
    """Rows at the bottom of a frame that the burned-in index and time may touch."""
    return round(30 * _text_scale(height)) * 3


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

    def set_scene(self, scene: str, **content: Any) -> None:
        """Show ``scene``; ``content`` as :data:`SCENE_CONTENT` allows (``card=IdCard(...)``
        for ``"id_card"``, ``form=ApplicationForm(...)`` for ``"application_form"``)."""
        makers: dict[str, Callable[..., np.ndarray]] = {
            "pattern": colour_bars, "face": face_scene, "dark": dark_scene,
            "covered": covered_scene, "two_people": counter_scene,
            "customer_left": lambda w, h: counter_scene(w, h, customer=False),
            "id_card": id_card_scene, "application_form": application_form_scene}
        if scene not in makers:
            raise BadDriverArgument(f"scene={scene!r}: must be one of {', '.join(SCENES)}")
        allowed = SCENE_CONTENT.get(scene, ())
        unknown = sorted(set(content) - set(allowed))
        if unknown:
            raise BadDriverArgument(
                f"scene {scene!r} takes {', '.join(allowed) or 'no content'}, not "
                f"{', '.join(unknown)}")
        if "card" in content and not isinstance(content["card"], IdCard):
            raise BadDriverArgument(f"card must be an IdCard, got "
                                    f"{type(content['card']).__name__}")
        if "form" in content and not isinstance(content["form"], ApplicationForm):
            raise BadDriverArgument(f"form must be an ApplicationForm, got "
                                    f"{type(content['form']).__name__}")
        self._base = makers[scene](self.width, self.height, **content)
        self._scene = scene
        # Burned-in text as bright as the scene lets it be, so it does not light up the dark.
        self._text_grey = {"dark": 40, "covered": 8}.get(scene, 255)

    def show_image(self, bgr: np.ndarray) -> None:
        """Show ``bgr`` (any size) from now on, e.g. a QR badge held to the lens: fitted above
        the band where :meth:`render` burns in the frame's index and time, so that text never
        lands on what is shown (a QR's finder pattern, a card's number)."""
        band = _text_band(self.height)
        inner = fit_image(bgr, self.width, max(1, self.height - band))
        self._base = np.zeros((self.height, self.width, 3), np.uint8)
        self._base[:inner.shape[0]] = inner
        self._scene = "image"
        self._text_grey = 255

    def render(self, timestamp_ns: int, index: int) -> np.ndarray:
        """A new frame: the scene with ``timestamp_ns`` (as seconds) and ``index`` drawn in
        the bottom :func:`_text_band` rows."""
        frame = self._base.copy()
        scale = _text_scale(self.height)
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
