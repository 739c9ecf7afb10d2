"""Video: encoded frames into segment files that start at keyframes, sealed about every N s.

A segment is two files sealed by one SEGMENT record: ``video-NNNNNN.h264`` (H.264 Annex-B, the
access units as the encoder gave them) and ``video-NNNNNN.pts`` (a line per frame:
``mono_ns keyframe size``). Dropped frames and a lost camera become GAP records with their exact
CLOCK_MONOTONIC range.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from drivers.camera import EncodedFrame
from firmware.errors import StorageError
from firmware.evidence.store import Evidence
from firmware.unit.recorder.device_loss import DeviceLoss
from firmware.unit.recorder.sealer import Sealer
from firmware.evidence.spool import PartFile


@dataclass
class _Segment:
    number: int
    h264: PartFile
    pts: PartFile
    first_ns: int
    first_index: int
    last_ns: int = 0
    last_index: int = 0
    frames: int = 0
    keyframes: int = 0


@dataclass
class VideoStats:
    frames: int = 0
    segments: int = 0
    dropped: int = 0
    drop_events: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    drops: list[tuple[int, int]] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # each segment's first, last


class VideoSegmenter:
    """A camera's :class:`~drivers.camera.FrameSink` that writes one session's video."""

    def __init__(self, evidence: Evidence, sealer: Sealer, session_id: str, *,
                 segment_ns: int, width: int, height: int, fps: int) -> None:
        self._evidence = evidence
        self._sealer = sealer
        self._session = session_id
        self._segment_ns = segment_ns
        self._frame_ns = 1_000_000_000 // fps
        self._format = {"codec": "h264", "width": width, "height": height, "fps": fps}
        self._lock = threading.Lock()
        self._segment: _Segment | None = None
        self._next_number = 1
        self.loss = DeviceLoss(evidence, sealer, session_id, device="camera", stream="video")
        self.stats = VideoStats()

    # -- FrameSink ---------------------------------------------------------------------------
    def outputframe(self, frame: EncodedFrame) -> None:
        if self._sealer.error is not None:
            return  # writing stopped after a failure; the owner was told
        try:
            self._write(frame)
        except StorageError as exc:
            self._sealer.fail(exc)

    def _write(self, frame: EncodedFrame) -> None:
        with self._lock:
            seg = self._segment
            if seg is not None and frame.keyframe and \
                    frame.timestamp_ns - seg.first_ns >= self._segment_ns - self._frame_ns // 2:
                self._seal_current()
                seg = None
            if seg is None:
                seg = self._open(frame)
            seg.h264.write(frame.data)
            seg.pts.write(b"%d %d %d\n" % (frame.timestamp_ns, frame.keyframe, len(frame.data)))
            seg.h264.flush()
            seg.pts.flush()
            seg.frames += 1
            seg.keyframes += frame.keyframe
            seg.last_ns, seg.last_index = frame.timestamp_ns, frame.index
            self.stats.frames += 1
            if self.stats.first_ns is None:
                self.stats.first_ns = frame.timestamp_ns
            self.stats.last_ns = frame.timestamp_ns
            self.loss.captured(frame.timestamp_ns + self._frame_ns)

    def frames_dropped(self, after_ns: int, before_ns: int, count: int) -> None:
        self.stats.dropped += count
        self.stats.drop_events += 1
        self.stats.drops.append((after_ns, before_ns))
        self._sealer.submit(lambda: self._evidence.gap(
            "dropped_frames", after_ns, before_ns, {"stream": "video", "count": count},
            session_id=self._session))

    def camera_lost(self, timestamp_ns: int, reason: str) -> None:
        with self._lock:
            self._seal_current()
        self.loss.went(timestamp_ns, reason)

    def camera_restored(self, timestamp_ns: int) -> None:
        self.loss.back(timestamp_ns)

    # -- segments ----------------------------------------------------------------------------
    def _open(self, frame: EncodedFrame) -> _Segment:
        n = self._next_number
        self._next_number += 1
        h264 = self._evidence.new_file(self._session, f"video-{n:06d}.h264")
        pts = self._evidence.new_file(self._session, f"video-{n:06d}.pts")
        self._segment = _Segment(n, h264, pts, frame.timestamp_ns, frame.index)
        return self._segment

    def _seal_current(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        data = {"stream": "video", "segment": seg.number, "frames": seg.frames,
                "keyframes": seg.keyframes, "first_ns": seg.first_ns, "last_ns": seg.last_ns,
                "first_frame_index": seg.first_index, "last_frame_index": seg.last_index,
                **self._format}
        self.stats.segments += 1
        self.stats.spans.append((seg.first_ns, seg.last_ns))

        def abandon() -> None:
            seg.h264.abandon()
            seg.pts.abandon()
        self._sealer.submit(lambda: self._evidence.seal(self._session, [seg.h264, seg.pts],
                                                        data), on_drop=abandon)

    def close(self, now_ns: int) -> None:
        """Seal the open segment, and close a loss still open at ``now_ns``."""
        with self._lock:
            self._seal_current()
        self.loss.back(now_ns)
