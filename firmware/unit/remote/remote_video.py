"""A remote party's video: decoded frames re-encoded (H.264, at most 640x480) into sealed
segments, like the counter's video.

One SEGMENT record (``stream: "remote_video"``) seals three files:

- ``remote-<party>-video-NNNNNN.h264``: H.264 Annex-B, starting with a keyframe (SPS/PPS in-band);
- ``remote-<party>-video-NNNNNN.pts``: a line per frame, ``arrival_ns keyframe size`` — the
  counter's ``.pts`` format, with the unit's CLOCK_MONOTONIC at the frame's arrival (decoded,
  out of aiortc's jitter buffer) as the frame's time;
- ``remote-<party>-video-NNNNNN.rtp``: the remote timing, ``F arrival_ns rtp_timestamp`` per
  frame (the same frames, in order; ``-`` when unknown) and ``S arrival_ns ssrc ntp rtp packets
  octets`` for each RTCP sender report received while the segment was open.

A segment is sealed at the first frame at least ``segment_ns`` after its first, which is
forced to be a keyframe; also when the connection breaks (so what came before a drop is sealed
at once) and when the picture's size changes. Frames the unit could not keep up with are a
GAP ``dropped_frames``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import av

from drivers.clock import Clock
from firmware.evidence.spool import PartFile
from firmware.evidence.store import Evidence
from firmware.unit.recorder.sealer import Sealer
from firmware.unit.remote.counter_feed import fit_size
from firmware.unit.remote.rtp_timing import SenderReport
from firmware.unit.remote.video_encoder import RemoteVideoEncoder

#: sender reports kept for the next segment while none is open
MAX_PENDING_REPORTS = 32


@dataclass
class _Segment:
    number: int
    h264: PartFile
    pts: PartFile
    rtp: PartFile
    first_ns: int
    first_index: int
    width: int
    height: int
    received: tuple[int, int]
    connection: int
    last_ns: int = 0
    last_index: int = 0
    frames: int = 0
    keyframes: int = 0
    reports: int = 0


@dataclass
class RemoteVideoStats:
    frames: int = 0
    segments: int = 0
    dropped: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    seal_latency_max_ns: int = 0     # a segment's last frame's arrival to its record
    seal_latency_sum_ns: int = 0
    sealed: int = 0
    drops: list[tuple[int, int]] = field(default_factory=list)


class RemoteVideoSegmenter:
    """Writes one party's video; called from the party's media thread only."""

    def __init__(self, evidence: Evidence, sealer: Sealer, clock: Clock, session_id: str,
                 party: str, *, segment_ns: int, max_size: tuple[int, int], fps: int,
                 bitrate: int) -> None:
        self._evidence = evidence
        self._sealer = sealer
        self._clock = clock
        self._session = session_id
        self._party = party
        self._segment_ns = segment_ns
        self._half_frame_ns = 500_000_000 // fps
        self._max_size = max_size
        self._fps = fps
        self._bitrate = bitrate
        self._encoder: RemoteVideoEncoder | None = None
        self._segment: _Segment | None = None
        self._next_number = 1
        self._index = 0
        self._pending: dict[int, tuple[int, int | None, tuple[int, int], int]] = {}
        self._reports: list[SenderReport] = []
        self._force = True
        self.stats = RemoteVideoStats()

    @property
    def name(self) -> str:
        return f"remote-{self._party}-video"

    def frame(self, frame: av.VideoFrame, arrival_ns: int, rtp: int | None,
              connection: int) -> None:
        size = fit_size(frame.width, frame.height, *self._max_size)
        if self._encoder is None or self._encoder.size != size:
            self._end_encoder()
            self._encoder = RemoteVideoEncoder(size[0], size[1], self._fps, self._bitrate)
            self._force = True
        seg = self._segment
        force = self._force or seg is None or connection != seg.connection or \
            arrival_ns - seg.first_ns >= self._segment_ns - self._half_frame_ns
        self._force = False
        index = self._index
        self._index += 1
        self._pending[index] = (arrival_ns, rtp, (frame.width, frame.height), connection)
        for data, keyframe, pts in self._encoder.encode(frame, index, force):
            self._write(data, keyframe, pts)

    def dropped(self, after_ns: int, before_ns: int, count: int) -> None:
        """``count`` frames that arrived between two kept ones were not kept (the unit fell
        behind): a GAP ``dropped_frames``."""
        self.stats.dropped += count
        self.stats.drops.append((after_ns, before_ns))
        self._sealer.submit(lambda: self._evidence.gap(
            "dropped_frames", after_ns, before_ns,
            {"stream": "remote_video", "party": self._party, "count": count},
            session_id=self._session))

    def sender_report(self, report: SenderReport) -> None:
        seg = self._segment
        if seg is None:
            if len(self._reports) < MAX_PENDING_REPORTS:
                self._reports.append(report)
            return
        seg.rtp.write(report.line())
        seg.reports += 1

    def break_segment(self) -> None:
        """The stream broke (a drop, a new connection): seal what there is now; the next
        frame starts a segment with a keyframe."""
        self._end_encoder()
        self._force = True

    def close(self) -> None:
        """Seal the open segment (every frame given so far is in it)."""
        self._end_encoder()

    # -- segments ----------------------------------------------------------------------------
    def _end_encoder(self) -> None:
        if self._encoder is not None:
            for data, keyframe, pts in self._encoder.flush():
                self._write(data, keyframe, pts)
            self._encoder = None
        self._pending.clear()
        self._seal_current()

    def _write(self, data: bytes, keyframe: bool, index: int) -> None:
        arrival_ns, rtp, received, connection = self._pending.pop(index)
        seg = self._segment
        if seg is not None and keyframe and (
                connection != seg.connection
                or arrival_ns - seg.first_ns >= self._segment_ns - self._half_frame_ns):
            self._seal_current()
            seg = None
        if seg is None:
            seg = self._open(arrival_ns, index, received, connection)
        seg.h264.write(data)
        seg.pts.write(b"%d %d %d\n" % (arrival_ns, keyframe, len(data)))
        seg.rtp.write(b"F %d %s\n" % (arrival_ns, b"-" if rtp is None else b"%d" % rtp))
        for part in (seg.h264, seg.pts, seg.rtp):
            part.flush()
        seg.frames += 1
        seg.keyframes += keyframe
        seg.last_ns, seg.last_index = arrival_ns, index
        self.stats.frames += 1
        if self.stats.first_ns is None:
            self.stats.first_ns = arrival_ns
        self.stats.last_ns = arrival_ns

    def _open(self, arrival_ns: int, index: int, received: tuple[int, int],
              connection: int) -> _Segment:
        n = self._next_number
        self._next_number += 1
        base = f"{self.name}-{n:06d}"
        parts = [self._evidence.new_file(self._session, f"{base}.{ext}")
                 for ext in ("h264", "pts", "rtp")]
        assert self._encoder is not None
        seg = _Segment(n, *parts, first_ns=arrival_ns, first_index=index,
                       width=self._encoder.size[0], height=self._encoder.size[1],
                       received=received, connection=connection)
        for report in self._reports:
            seg.rtp.write(report.line())
            seg.reports += 1
        self._reports.clear()
        self._segment = seg
        return seg

    def _seal_current(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        data = {"stream": "remote_video", "party": self._party, "segment": seg.number,
                "connection": seg.connection, "frames": seg.frames, "keyframes": seg.keyframes,
                "first_ns": seg.first_ns, "last_ns": seg.last_ns,
                "first_frame_index": seg.first_index, "last_frame_index": seg.last_index,
                "codec": "h264", "width": seg.width, "height": seg.height, "fps": self._fps,
                "received_width": seg.received[0], "received_height": seg.received[1],
                "rtp_clock_rate": 90_000, "sender_reports": seg.reports}
        self.stats.segments += 1
        parts = [seg.h264, seg.pts, seg.rtp]

        def seal() -> None:
            self._evidence.seal(self._session, parts, data)
            latency = self._clock.monotonic_ns() - seg.last_ns
            self.stats.sealed += 1
            self.stats.seal_latency_sum_ns += latency
            self.stats.seal_latency_max_ns = max(self.stats.seal_latency_max_ns, latency)

        def abandon() -> None:
            for part in parts:
                part.abandon()
        self._sealer.submit(seal, on_drop=abandon)
