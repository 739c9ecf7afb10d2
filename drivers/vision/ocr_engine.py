"""Reading a shown document: PP-OCRv4 (``rapidocr-onnxruntime`` 1.4.4, Chinese detection and
recognition, Apache-2.0) on onnxruntime.

Runs in the vision worker (:mod:`drivers.vision.worker`), never in the daemon: loading the
models costs +83 MB, a read +295 MB, and after the engine is dropped and the heap trimmed
+93 MB stay (onnxruntime and its arenas), measured on this machine, against a daemon budget
of 150 MB. The worker therefore gives that memory back by exiting, not by dropping the engine.

What the OCR reads is personal data: this module keeps none of it and logs none of it.
"""
from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from drivers.errors import DeviceMissingError, DriverError
from drivers.vision.model_files import OCR_MODELS, verified_path

# installed without its dependencies (it asks for opencv-python, which would replace
# opencv-python-headless's cv2), so these are installed by name
REQUIREMENTS = ("rapidocr-onnxruntime==1.4.4 (with --no-deps) onnxruntime==1.32.0 "
                "pyclipper==1.4.0 shapely==2.2.0 PyYAML six tqdm")
MAX_LINES = 400     # lines kept from one image
MAX_TEXT = 200      # characters kept from one line


def load_engine(threads: int) -> Any:
    """The OCR engine (``rapidocr_onnxruntime.RapidOCR``) on the pinned models, checked first.
    DeviceMissingError naming a missing model file or package; DriverError if they do not
    load."""
    for pinned in OCR_MODELS:
        verified_path(pinned)
    try:
        from rapidocr_onnxruntime import RapidOCR   # onnxruntime: only here, in the worker
    except ImportError as exc:
        raise DeviceMissingError(f"ocr: the Python package {exc.name!r} is not installed; "
                                 f"install {REQUIREMENTS}") from None
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    try:
        # "max" keeps the detector at the image's own size (we scale large frames down to
        # max_side first); the default "min" 736 would blow a 640x360 frame up to 1308x736.
        return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1,
                        det_limit_type="max", det_limit_side_len=960, print_verbose=False)
    except Exception as exc:  # a file that passed its hash check but does not load
        raise DriverError(f"ocr: the PP-OCRv4 models did not load: "
                          f"{type(exc).__name__}: {exc}") from None


def read_lines(engine: Any, image: np.ndarray, max_side: int) -> list[list]:
    """The text lines in a BGR ``image`` as ``[text, [[x, y] * 4], score]``, top to bottom,
    in ``image``'s pixels; images larger than ``max_side`` are read scaled down."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_AREA)
    found, _ = engine(image)
    lines = []
    for box, text, score in (found or [])[:MAX_LINES]:
        corners = [[round(float(x) / scale), round(float(y) / scale)] for x, y in box]
        lines.append([str(text)[:MAX_TEXT], corners, float(score)])
    return lines
