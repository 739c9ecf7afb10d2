"""Live analysis while recording: faces and brightness once a second from the camera's small
analysis image, and the audio level every 100 ms. Sealed as ``analysis.json`` at the end and
used by the quality checks; nothing here decodes the recorded video again.

Faces are counted by the ``count_faces`` given in (the vision worker's detector, so OpenCV
stays out of the daemon); without one, OpenCV's Haar cascade is loaded here as a fallback."""
from __future__ import annotations

import json
import math
import threading

from typing import Callable

import numpy as np

from drivers.audio import AudioBlock
from drivers.camera import Camera

AUDIO_WINDOW_NS = 100_000_000
VOICED_DBFS = -45.0   # a 100 ms window louder than this counts as someone speaking


class LiveMonitor:
    """Call :meth:`sample_video` about once a second and feed every audio block to
    :meth:`audio_block` (the recorder's audio tap)."""

    def __init__(self, camera: Camera, audio_rate: int, *,
                 faces: Callable[[np.ndarray], int] | None = None) -> None:
        self._camera = camera
        self._rate = audio_rate
        self._count_faces = faces or _haar_counter()
        self._lock = threading.Lock()
        self.video: list[dict] = []
        self.audio: list[dict] = []
        self._window_start: int | None = None
        self._sum_sq = 0.0
        self._count = 0

    def sample_video(self) -> dict | None:
        got = self._camera.analysis_frame()
        if got is None:
            return None
        image, t = got
        brightness = int(np.dot(image.reshape(-1, 3).mean(axis=0), (0.114, 0.587, 0.299)))
        faces = self._count_faces(image)
        sample = {"t": int(t), "faces": int(faces), "brightness": brightness}
        with self._lock:
            if not self.video or self.video[-1]["t"] != sample["t"]:
                self.video.append(sample)
        return sample

    def audio_block(self, block: AudioBlock) -> None:
        """Accumulate 16-bit samples into 100 ms windows of RMS level (dBFS)."""
        samples = np.frombuffer(block.pcm, dtype="<i2").astype(np.float64)
        end_ns = block.first_sample_ns + block.frames * 1_000_000_000 // self._rate
        with self._lock:
            if self._window_start is None:
                self._window_start = block.first_sample_ns
            self._sum_sq += float(np.dot(samples, samples))
            self._count += len(samples)
            if end_ns - self._window_start >= AUDIO_WINDOW_NS:
                rms = math.sqrt(self._sum_sq / max(self._count, 1)) / 32768.0
                dbfs = 20 * math.log10(rms) if rms > 0 else -120.0
                self.audio.append({"t": self._window_start, "rms_dbfs": round(dbfs, 1)})
                self._window_start, self._sum_sq, self._count = None, 0.0, 0

    def voiced_fraction(self, start_ns: int, end_ns: int) -> float | None:
        """The share of 100 ms windows in [start, end) louder than VOICED_DBFS (None: no audio)."""
        with self._lock:
            windows = [a for a in self.audio if start_ns <= a["t"] < end_ns]
        if not windows:
            return None
        return sum(a["rms_dbfs"] > VOICED_DBFS for a in windows) / len(windows)

    def to_json(self) -> bytes:
        with self._lock:
            return json.dumps({"interval_ns": 1_000_000_000, "audio_window_ns": AUDIO_WINDOW_NS,
                               "video": self.video, "audio": self.audio},
                              separators=(",", ":")).encode()


def _haar_counter() -> Callable[[np.ndarray], int]:
    """OpenCV's Haar cascade, in this process (the fallback without a vision worker)."""
    import cv2
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades
                                    + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise FileNotFoundError("OpenCV's bundled haarcascade_frontalface_default.xml is "
                                "missing (opencv-python-headless < 5 ships it)")

    def count(image: np.ndarray) -> int:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return len(cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4,
                                            minSize=(20, 20)))
    return count
