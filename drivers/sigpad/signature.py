"""A captured signature: pen-down samples grouped into strokes, as JSON and as a PNG.

A :class:`Signature` is a :class:`~drivers.sigpad.base.PadSink`: ``pad.start(signature)``
collects one. Times are CLOCK_MONOTONIC ns; coordinates are pad units (PadInfo gives the
units per mm).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from drivers.errors import BadDriverArgument, DriverError
from drivers.sigpad.base import PadInfo, PenSample

FORMAT = "dualrec.signature/1"
_INK_BGR = (40, 25, 20)  # near-black, a little blue, like a ballpoint


class Signature:
    """Strokes of pen-down :class:`PenSample` s, in the order they were signed."""

    def __init__(self, info: PadInfo, strokes: Iterable[Sequence[PenSample]] = ()) -> None:
        self.info = info
        self._lock = threading.Lock()
        self._strokes: list[list[PenSample]] = [list(s) for s in strokes if s]
        self._current: list[PenSample] = []
        self.lost: list[tuple[int, str]] = []  # (timestamp_ns, reason) of pad_lost

    # -- PadSink -------------------------------------------------------------------------------
    def pen_sample(self, sample: PenSample) -> None:
        with self._lock:
            if sample.pen_down:
                self._current.append(sample)
            else:
                self._end_stroke()

    def stroke_ended(self, timestamp_ns: int) -> None:
        with self._lock:
            self._end_stroke()

    def pad_lost(self, timestamp_ns: int, reason: str) -> None:
        with self._lock:
            self._end_stroke()
            self.lost.append((timestamp_ns, reason))

    def pad_restored(self, timestamp_ns: int) -> None:
        pass

    def _end_stroke(self) -> None:
        if self._current:
            self._strokes.append(self._current)
            self._current = []

    # -- reading -------------------------------------------------------------------------------
    @property
    def strokes(self) -> list[tuple[PenSample, ...]]:
        """Finished strokes, and the one in progress if any."""
        with self._lock:
            strokes = self._strokes + ([self._current] if self._current else [])
            return [tuple(s) for s in strokes]

    @property
    def stroke_count(self) -> int:
        return len(self.strokes)

    @property
    def is_empty(self) -> bool:
        return not self.strokes

    @property
    def start_ns(self) -> int | None:
        strokes = self.strokes
        return strokes[0][0].timestamp_ns if strokes else None

    @property
    def duration_ns(self) -> int:
        """From the first pen-down sample to the last one, ns (0 when empty)."""
        strokes = self.strokes
        if not strokes:
            return 0
        return strokes[-1][-1].timestamp_ns - strokes[0][0].timestamp_ns

    # -- JSON ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The signature as one JSON document with sorted keys (stable bytes for hashing).

        ``strokes[i]`` holds parallel arrays ``t`` (ns after ``start_ns``, CLOCK_MONOTONIC),
        ``x``, ``y`` (pad units; ``pad.x_resolution`` units per mm) and ``pressure``
        (0..``pad.pressure_max``)."""
        strokes = self.strokes
        start = strokes[0][0].timestamp_ns if strokes else 0
        doc = {
            "format": FORMAT,
            "clock": "CLOCK_MONOTONIC",
            "pad": self.info.as_record(),
            "start_ns": start,
            "duration_ns": self.duration_ns,
            "strokes": [{"t": [s.timestamp_ns - start for s in stroke],
                         "x": [s.x for s in stroke], "y": [s.y for s in stroke],
                         "pressure": [s.pressure for s in stroke]} for stroke in strokes],
            "pad_lost": [{"t_ns": t, "reason": r} for t, r in self.lost],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Signature":
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                raise BadDriverArgument(f"not a {FORMAT} document")
            start = int(doc["start_ns"])
            strokes = []
            for s in doc["strokes"]:
                columns = (s["t"], s["x"], s["y"], s["pressure"])
                if len({len(c) for c in columns}) != 1:
                    raise BadDriverArgument("a stroke's t, x, y, pressure differ in length")
                strokes.append([PenSample(int(x), int(y), int(p), start + int(t), True)
                                for t, x, y, p in zip(*columns)])
            sig = cls(PadInfo.from_record(doc["pad"]), strokes)
            sig.lost = [(int(e["t_ns"]), str(e["reason"])) for e in doc.get("pad_lost", [])]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise BadDriverArgument(f"bad signature JSON: {e}") from e
        return sig

    # -- picture -------------------------------------------------------------------------------
    def render_png(self, path: str | Path, width: int = 800) -> Path:
        """Write :meth:`png_bytes` to ``path``; returns the path written."""
        out = Path(path)
        out.write_bytes(self.png_bytes(width))
        return out

    def png_bytes(self, width: int = 800) -> bytes:
        """The signature as a PNG, cropped to its strokes, ``width`` pixels wide, dark ink on
        white, lines thicker where the pen pressed harder (blank page when empty)."""
        if not 64 <= width <= 8000:
            raise BadDriverArgument(f"render_png width={width!r}: must be in [64, 8000]")
        # OpenCV here, not at the top: the daemon imports this module for collecting strokes,
        # and OpenCV costs it ~16 MB of RSS that only a signature's picture needs.
        import cv2
        info = self.info
        # Pad units to millimetres, so that a pad with unequal resolutions is not distorted.
        sx = 1 / info.x_resolution if info.x_resolution > 0 else None
        sy = 1 / info.y_resolution if info.y_resolution > 0 else None
        sx, sy = (sx or sy or 1.0), (sy or sx or 1.0)
        strokes = [np.array([(s.x * sx, s.y * sy, s.pressure) for s in st], dtype=np.float64)
                   for st in self.strokes]
        if strokes:
            allpts = np.concatenate(strokes)[:, :2]
            lo, hi = allpts.min(axis=0), allpts.max(axis=0)
        else:
            lo = np.array([info.x_min * sx, info.y_min * sy])
            hi = np.array([info.x_max * sx, info.y_max * sy])
        span = np.maximum(hi - lo, 1e-6)
        margin = 0.08 * span.max()
        scale = width / (span[0] + 2 * margin)
        height = int(min(max(round((span[1] + 2 * margin) * scale), 32), 4 * width))
        image = np.full((height, width, 3), 255, dtype=np.uint8)
        base = max(2.0, width / 160)
        pmax = info.pressure_max
        for pts in strokes:
            xy = np.round((pts[:, :2] - lo + margin) * scale).astype(np.int32)
            weight = np.clip(pts[:, 2] / pmax, 0.0, 1.0) if pmax > 0 else np.full(len(pts), 0.6)
            thick = np.maximum(1, np.round(base * (0.35 + 0.65 * weight))).astype(int)
            if len(xy) == 1:
                cv2.circle(image, tuple(int(v) for v in xy[0]), int(thick[0]), _INK_BGR, -1,
                           cv2.LINE_AA)
            for i in range(1, len(xy)):
                cv2.line(image, tuple(int(v) for v in xy[i - 1]), tuple(int(v) for v in xy[i]),
                         _INK_BGR, int(thick[i]), cv2.LINE_AA)
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise DriverError("OpenCV could not encode the signature as PNG")
        return encoded.tobytes()
