"""The recorder: starts the devices of a session, routes what they capture into segmenters,
and seals everything through one :class:`~firmware.unit.recorder.sealer.Sealer`."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Callable

from drivers.audio import AudioBlock, Microphone
from drivers.camera import Camera, DiscardFrames
from drivers.clock import Clock
from drivers.sigpad import SignaturePad
from firmware.errors import DualrecError
from firmware.evidence.store import Evidence
from firmware.evidence.records import Record
from firmware.unit.recorder.audio import AudioSegmenter
from firmware.unit.recorder.pad import PadRecorder
from firmware.unit.recorder.sealer import Sealer
from firmware.unit.recorder.video import VideoSegmenter

log = logging.getLogger(__name__)


class RecorderStateError(DualrecError, RuntimeError):
    """The recorder was asked for something its state does not allow."""


@dataclass(frozen=True)
class RecorderStats:
    """What one recording captured (integers only: it goes on the chain). Times are
    CLOCK_MONOTONIC ns; ``av_offset_us`` is how much later the first video frame was captured
    than the first audio sample, in microseconds."""

    frames: int
    video_segments: int
    dropped_frames: int
    audio_samples: int
    audio_ms: int
    audio_segments: int
    lost_audio_samples: int
    gaps: int
    signatures: int
    av_offset_us: int | None
    duration_ms: int
    first_frame_ns: int | None
    first_sample_ns: int | None

    def as_dict(self) -> dict:
        return asdict(self)


class Recorder:
    """Records one session at a time from a camera, a microphone and (optionally) a pad.

    ``on_fault(exc)`` is called (from the sealer thread) when evidence can no longer be written,
    for instance on a full disk; the owner then stops the session and signals the fault.
    """

    def __init__(self, evidence: Evidence, clock: Clock, camera: Camera, microphone: Microphone,
                 pad: SignaturePad | None = None, *, segment_seconds: float = 1.0,
                 on_fault: Callable[[BaseException], None] | None = None) -> None:
        self.evidence = evidence
        self.clock = clock
        self.camera = camera
        self.microphone = microphone
        self.pad = pad
        self.segment_ns = int(segment_seconds * 1e9)
        self._on_fault = on_fault
        self.session_id: str | None = None
        self._sealer: Sealer | None = None
        self.video: VideoSegmenter | None = None
        self.audio: AudioSegmenter | None = None
        self.pen: PadRecorder | None = None
        self._started_ns = 0

    @property
    def recording(self) -> bool:
        return self.session_id is not None

    def start(self, session_id: str, *, video: bool = True,
              audio_tap: Callable[[AudioBlock], None] | None = None, pen_tap=None) -> None:
        """Start capturing into ``session_id`` (already opened on the chain).

        ``video=False``: the audio + photos mode; the camera runs (for photos and analysis)
        but its frames are not kept. ``audio_tap`` sees every audio block (live levels);
        ``pen_tap`` (``pen_sample``, ``stroke_ended``) every pen sample of the pad.

        :attr:`recording` turns true only once every part (sealer, segmenters, devices) is in
        place, so readers on other threads (status, the watchdog) never see half a recorder.
        A device that fails to start stops the ones already started and raises."""
        if self.session_id is not None:
            raise RecorderStateError(f"already recording session {self.session_id}")
        sealer = Sealer(self._fault, name=f"sealer-{session_id}")
        started_ns = self.clock.monotonic_ns()
        video_out = VideoSegmenter(self.evidence, sealer, session_id,
                                   segment_ns=self.segment_ns, width=self.camera.width,
                                   height=self.camera.height, fps=self.camera.fps)
        audio_out = AudioSegmenter(self.evidence, sealer, session_id,
                                   segment_ns=self.segment_ns, rate=self.microphone.rate,
                                   channels=self.microphone.channels, tap=audio_tap)
        pen = (PadRecorder(self.evidence, sealer, session_id, self.pad.info, self.clock,
                           tap=pen_tap) if self.pad is not None else None)
        self._sealer, self.video, self.audio, self.pen = sealer, video_out, audio_out, pen
        self._started_ns = started_ns
        started: list = []
        try:
            self.camera.start(video_out if video else DiscardFrames())
            started.append(self.camera)
            self.microphone.start(audio_out)
            started.append(self.microphone)
            if self.pad is not None:
                self.pad.start(pen)
        except BaseException:
            for device in reversed(started):
                try:
                    device.stop()
                except Exception as exc:
                    log.error("stopping %s after a failed start: %s", type(device).__name__, exc)
            video_out.close(self.clock.monotonic_ns())
            audio_out.close(self.clock.monotonic_ns())
            sealer.close()
            raise
        self.session_id = session_id

    def _fault(self, exc: BaseException) -> None:
        log.error("recording %s: evidence can no longer be written: %s", self.session_id, exc)
        if self._on_fault is not None:
            self._on_fault(exc)

    def fresh(self, now_ns: int, stale_ns: int = 3_000_000_000, video: bool = True) -> bool:
        """Capture is really working: frames (when ``video``) and audio newer than
        ``stale_ns`` on the clock, and a write completed within a few segment lengths."""
        if self.session_id is None or self._sealer is None or self._sealer.error is not None:
            return False
        v, a = self.video.stats, self.audio.stats
        if video and (v.last_ns is None or now_ns - v.last_ns > stale_ns):
            return False
        if a.last_ns is None or now_ns - a.last_ns > stale_ns:
            return False
        return time.monotonic() - self._sealer.last_done < max(3 * self.segment_ns / 1e9, 5.0)

    @property
    def fault(self) -> BaseException | None:
        return self._sealer.error if self._sealer else None

    def seal_signature(self, name: str, data: dict | None = None) -> Record | None:
        if self.pen is None:
            return None
        return self.pen.seal_signature(name, data)

    def seal_photo(self, name: str, data: dict | None = None) -> tuple[Record, bytes]:
        """A full-resolution still from the camera, sealed as ``NAME.jpg``; the record and the
        JPEG (plain, in memory: on disk it is encrypted when the unit has an insurer key)."""
        if self.session_id is None:
            raise RecorderStateError("not recording")
        jpeg, taken_ns = self.camera.capture_jpeg()
        self._sealer.drain()
        record = self.evidence.seal_bytes(self.session_id, f"{name}.jpg", jpeg,
                                          {"stream": "photo", "taken_ns": taken_ns,
                                           **(data or {})})
        return record, jpeg

    def stop(self) -> RecorderStats:
        """Stop the devices, seal the last segments; every write is done when this returns."""
        if self.session_id is None:
            raise RecorderStateError("not recording")
        now = self.clock.monotonic_ns()
        errors = []
        for device in (self.camera, self.microphone, self.pad):
            if device is None:
                continue
            try:
                device.stop()
            except Exception as exc:  # a device that fails to stop must not lose the rest
                errors.append(exc)
                log.error("stopping %s failed: %s", type(device).__name__, exc)
        self.video.close(now)
        self.audio.close(now)
        if self.pen is not None:
            self.pen.loss.back(now)
        self._sealer.close()
        stats = self._stats(now)
        self.session_id = None
        return stats

    def _stats(self, now: int) -> RecorderStats:
        v, a = self.video.stats, self.audio.stats
        offset = None
        if v.first_ns is not None and a.first_ns is not None:
            offset = (v.first_ns - a.first_ns) // 1000
        return RecorderStats(
            frames=v.frames, video_segments=v.segments, dropped_frames=v.dropped,
            audio_samples=a.samples, audio_ms=a.samples * 1000 // self.microphone.rate,
            audio_segments=a.segments, lost_audio_samples=a.lost_samples,
            gaps=len(self.gaps()),
            signatures=self.pen.signatures if self.pen else 0, av_offset_us=offset,
            duration_ms=(now - self._started_ns) // 1_000_000,
            first_frame_ns=v.first_ns, first_sample_ns=a.first_ns)

    def gaps(self) -> list[tuple[int, int, str]]:
        """What the last (or current) recording lost: (start_ns, end_ns, kind) each."""
        if self.video is None or self.audio is None:
            return []
        out = [(a, b, "dropped_frames") for a, b in self.video.stats.drops]
        out += [(a, b, kind) for a, b, kind in self.audio.stats.gaps]
        for loss in (self.video.loss, self.audio.loss, self.pen.loss if self.pen else None):
            if loss is not None:
                out += [(a, b, "device_lost") for a, b in loss.spans]
        return sorted(out)

    @property
    def segment_spans(self) -> list[tuple[int, int]]:
        """Each video segment's first and last frame time of the last recording."""
        return list(self.video.stats.spans) if self.video is not None else []

    @property
    def frame_ns(self) -> int:
        return 1_000_000_000 // self.camera.fps

    @property
    def signing(self) -> bool:
        """The pen is on the pad (or was lifted a moment ago, between strokes)."""
        return self.pen is not None and self.pen.signing

    @property
    def has_signature(self) -> bool:
        """Strokes were written since the last signature was sealed."""
        return self.pen is not None and self.pen.has_strokes

    def health(self) -> dict[str, str]:
        devices = {"camera": self.camera.health, "microphone": self.microphone.health}
        if self.pad is not None:
            devices["sigpad"] = self.pad.health
        return devices
