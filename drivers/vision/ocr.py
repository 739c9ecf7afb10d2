"""Reading a shown document through the vision worker, for callers that only read documents.

:class:`DocumentReader` is the text side of a :class:`~drivers.vision.VisionService` of its
own (the same worker code, PP-OCRv4 in :mod:`drivers.vision.ocr_engine`). The unit does not use
it: it has one ``VisionService`` for faces, codes and text, so that one worker process, not
several, holds OpenCV.
"""
from __future__ import annotations

import sys

import numpy as np

from drivers.vision.findings import TextLine
from drivers.vision.model_files import OCR_MODELS, verified_path
from drivers.vision.service import VisionService, VisionTimeout

OcrTimeout = VisionTimeout   # the name this module's callers knew

__all__ = ["DocumentReader", "OcrTimeout", "TextLine"]


class DocumentReader:
    """PP-OCRv4 in a worker process. Thread-safe: one read at a time. The worker starts on the
    first read or on :meth:`prepare`, exits by itself ``idle_s`` after its last read, or at
    once on :meth:`release`; see :class:`~drivers.vision.VisionService` for the bounds."""

    def __init__(self, *, threads: int = 2, idle_s: float = 60.0, max_side: int = 960,
                 load_timeout_s: float = 120.0, timeout_s: float = 60.0,
                 python: str = sys.executable) -> None:
        self._service = VisionService(threads=threads, idle_s=idle_s, text_idle_s=idle_s,
                                      ocr_max_side=max_side, load_timeout_s=load_timeout_s,
                                      timeout_s=timeout_s, python=python)

    def read(self, bgr: np.ndarray) -> list[TextLine]:
        """The text lines in ``bgr`` (uint8, shape (h, w, 3)), top to bottom."""
        return self._service.read_text(bgr)

    def prepare(self) -> None:
        """Start the worker and load the models now, so the next read does not wait."""
        self._service.prepare(text=True)

    def check(self) -> None:
        """The model files are the pinned ones (hashed here; nothing loaded)."""
        for pinned in OCR_MODELS:
            verified_path(pinned)

    @property
    def worker_pid(self) -> int | None:
        return self._service.worker_pid

    @property
    def starts(self) -> int:
        return self._service.starts

    def release(self) -> None:
        self._service.release()

    def close(self) -> None:
        """Stop the worker; safe twice. Reads after it raise DriverError."""
        self._service.close()

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
