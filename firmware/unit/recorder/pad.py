"""The signature pad: pen samples of one session into signatures sealed as JSON + PNG."""
from __future__ import annotations

import os
import tempfile
import threading

from drivers.sigpad import PadInfo, PenSample
from drivers.sigpad.signature import Signature
from firmware.evidence.store import Evidence
from firmware.evidence.records import Record
from firmware.unit.recorder.device_loss import DeviceLoss
from firmware.unit.recorder.sealer import Sealer

#: A pen lifted for less than this still counts as signing (between strokes of one name).
SIGNING_PAUSE_NS = 1_500_000_000


class PadRecorder:
    """A pad's :class:`~drivers.sigpad.PadSink`. Strokes collect into the current signature
    until :meth:`seal_signature` seals it (``NAME.json``: the time series with the pad's
    resolution; ``NAME.png``: a picture of it) and starts the next."""

    def __init__(self, evidence: Evidence, sealer: Sealer, session_id: str, info: PadInfo,
                 clock, tap=None) -> None:
        self._evidence = evidence
        self._sealer = sealer
        self._session = session_id
        self._info = info
        self._clock = clock
        self._lock = threading.Lock()
        self._current = Signature(info)
        self._last_sample: PenSample | None = None
        self.loss = DeviceLoss(evidence, sealer, session_id, device="sigpad",
                               stream="signature")
        self.signatures = 0
        self._tap = tap     # sees every sample and stroke end too (the customer's screen)

    def pen_sample(self, sample: PenSample) -> None:
        with self._lock:
            self._current.pen_sample(sample)
            self._last_sample = sample
        self.loss.captured(sample.timestamp_ns)
        if self._tap is not None:
            self._tap.pen_sample(sample)

    def stroke_ended(self, timestamp_ns: int) -> None:
        with self._lock:
            self._current.stroke_ended(timestamp_ns)
            if self._last_sample is not None:
                self._last_sample = PenSample(self._last_sample.x, self._last_sample.y, 0,
                                              timestamp_ns, False)
        if self._tap is not None:
            self._tap.stroke_ended(timestamp_ns)

    def pad_lost(self, timestamp_ns: int, reason: str) -> None:
        with self._lock:
            self._current.pad_lost(timestamp_ns, reason)
        self.loss.went(timestamp_ns, reason)

    def pad_restored(self, timestamp_ns: int) -> None:
        with self._lock:
            self._current.pad_restored(timestamp_ns)
        self.loss.back(timestamp_ns)

    @property
    def signing(self) -> bool:
        """The pen is down, or was lifted less than 1.5 s ago (between strokes)."""
        with self._lock:
            last = self._last_sample
        if last is None:
            return False
        return last.pen_down or self._clock.monotonic_ns() - last.timestamp_ns < SIGNING_PAUSE_NS

    @property
    def has_strokes(self) -> bool:
        with self._lock:
            return not self._current.is_empty

    def seal_signature(self, name: str, data: dict | None = None) -> Record | None:
        """Seal what was signed since the last call; None when nothing was. Runs in the caller's
        thread after every queued write, so the record is on the chain when it returns."""
        with self._lock:
            signature, self._current = self._current, Signature(self._info)
            self._last_sample = None
        if signature.is_empty:
            return None
        fd, tmp = tempfile.mkstemp(suffix=".png")
        os.close(fd)
        try:
            png = signature.render_png(tmp).read_bytes()
        finally:
            os.unlink(tmp)
        self._sealer.drain()
        meta = {"stream": "signature", "strokes": signature.stroke_count,
                "start_ns": signature.start_ns, "duration_ns": signature.duration_ns,
                **(data or {})}
        json_part = self._evidence.new_file(self._session, f"{name}.json")
        json_part.write(signature.to_json().encode("utf-8"))
        png_part = self._evidence.new_file(self._session, f"{name}.png")
        png_part.write(png)
        self.signatures += 1
        return self._evidence.seal(self._session, [json_part, png_part], meta)
