"""The vision worker's settings, as the daemon passes them on its command line (JSON)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class WorkerConfig:
    """``threads`` for OpenCV and onnxruntime; ``idle_s`` / ``text_idle_s``: seconds after
    the last request / the last text read (while the OCR engine is loaded) at which the worker
    exits; ``max_side``: frames larger are read scaled down by the OCR; ``min_face_score`` as
    :class:`~drivers.vision.faces.FaceDetector`'s ``min_score``; ``niceness`` added to the
    worker's (the recorder comes first)."""

    threads: int
    idle_s: float
    text_idle_s: float
    max_side: int
    min_face_score: float
    niceness: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        return cls(**json.loads(text))
