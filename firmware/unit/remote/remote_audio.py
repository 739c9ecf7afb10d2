"""A remote party's audio: decoded Opus (48 kHz) as mono 16-bit PCM in WAV segments, the
counter's audio format, sealed about every ``segment_ns``.

One SEGMENT record (``stream: "remote_audio"``) seals ``remote-<party>-audio-NNNNNN.wav`` and
``remote-<party>-audio-NNNNNN.rtp``. As for the counter, sample *k* of the WAV sits at
``first_sample_ns + k * 1e9 / rate``; for a remote stream ``first_sample_ns`` is the unit's
CLOCK_MONOTONIC at the arrival of the segment's first decoded frame, and ``sample_index`` counts
the party's samples (a hole in it is a GAP). The ``.rtp`` file keeps each frame as it arrived,
``F arrival_ns rtp_timestamp samples``, every stretch of silence put in for a few lost packets,
``C sample_index samples``, and the sender reports, ``S ...`` (see ``remote_video``).

Within one connection the RTP timestamps say where each frame belongs: up to
``conceal_max_ns`` of lost packets are filled with silence (counted as ``concealed_samples``) so
the file stays continuous; a longer hole ends the segment and is a GAP ``network_drop``
(``reason: "packet_loss"``) from the end of the last sample to the next frame's arrival.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from drivers.audio import AudioBlock
from drivers.clock import Clock
from firmware.evidence.spool import PartFile
from firmware.evidence.store import Evidence
from firmware.unit.recorder.audio import wav_header
from firmware.unit.recorder.sealer import Sealer
from firmware.unit.remote.rtp_timing import SenderReport

NS = 1_000_000_000
RATE = 48_000
MAX_PENDING_REPORTS = 32


@dataclass
class _Segment:
    number: int
    wav: PartFile
    rtp: PartFile
    first_sample_ns: int
    sample_index: int
    connection: int
    frames: int = 0
    last_arrival_ns: int = 0
    received: int = 0
    concealed: int = 0
    reports: int = 0


@dataclass
class RemoteAudioStats:
    samples: int = 0
    segments: int = 0
    concealed_samples: int = 0
    lost_samples: int = 0
    late_frames: int = 0
    unusable_frames: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    seal_latency_max_ns: int = 0
    seal_latency_sum_ns: int = 0
    sealed: int = 0


def to_mono_s16(frame: av.AudioFrame) -> bytes | None:
    """A decoded frame's samples as mono s16le (channels averaged); None if it is not packed
    or planar 16-bit audio at 48 kHz (the only thing Opus decodes to here)."""
    if frame.sample_rate != RATE or frame.format.name not in ("s16", "s16p"):
        return None
    channels = len(frame.layout.channels)
    data = frame.to_ndarray()
    samples = data.T if frame.format.is_planar else data.reshape(-1, channels)
    if channels == 1:
        return np.ascontiguousarray(samples, "<i2").tobytes()
    mono = samples.astype(np.int32).sum(axis=1) // channels
    return mono.astype("<i2").tobytes()


class RemoteAudioSegmenter:
    """Writes one party's audio; called from the party's media thread only."""

    def __init__(self, evidence: Evidence, sealer: Sealer, clock: Clock, session_id: str,
                 party: str, *, segment_ns: int, conceal_max_ns: int = 100_000_000) -> None:
        self._evidence = evidence
        self._sealer = sealer
        self._clock = clock
        self._session = session_id
        self._party = party
        self._segment_frames = max(1, segment_ns * RATE // NS)
        self._conceal_max = conceal_max_ns * RATE // NS
        self._segment: _Segment | None = None
        self._next_number = 1
        self._index = 0                   # the party's next sample
        self._expected_pts: int | None = None
        self._connection = 0
        self._last_end_ns: int | None = None
        self._reports: list[SenderReport] = []
        self.stats = RemoteAudioStats()

    @property
    def name(self) -> str:
        return f"remote-{self._party}-audio"

    def frame(self, frame: av.AudioFrame, arrival_ns: int, rtp: int | None,
              connection: int) -> list[AudioBlock]:
        """Write a decoded frame; the blocks written (for listeners), silence included."""
        pcm = to_mono_s16(frame)
        if pcm is None:
            self.stats.unusable_frames += 1
            return []
        samples = len(pcm) // 2
        pts = frame.pts
        hole = 0
        if self._expected_pts is None or connection != self._connection or pts is None:
            self._seal_current()          # a new run: its own segment
            if self._last_end_ns is not None:
                self._index += max(0, (arrival_ns - self._last_end_ns) * RATE // NS)
            self._connection = connection
        else:
            hole = pts - self._expected_pts
            if hole < 0:                  # late or repeated: its place is written already
                self.stats.late_frames += 1
                return []
            if hole > self._conceal_max:
                self._packet_loss(hole, arrival_ns)
                hole = 0
        self._expected_pts = None if pts is None else pts + samples
        blocks = []
        if hole:
            blocks.append(self._append(bytes(2 * hole), arrival_ns - hole * NS // RATE,
                                       concealed=True))
            self._segment.rtp.write(b"C %d %d\n" % (blocks[0].sample_index, hole))
        block = self._append(pcm, arrival_ns, concealed=False)
        seg = self._segment
        seg.rtp.write(b"F %d %s %d\n" % (arrival_ns, b"-" if rtp is None else b"%d" % rtp,
                                         samples))
        seg.wav.flush()
        seg.rtp.flush()
        seg.received += 1
        seg.last_arrival_ns = arrival_ns
        blocks.append(block)
        if seg.frames >= self._segment_frames:
            self._seal_current()
        return blocks

    def sender_report(self, report: SenderReport) -> None:
        seg = self._segment
        if seg is None:
            if len(self._reports) < MAX_PENDING_REPORTS:
                self._reports.append(report)
            return
        seg.rtp.write(report.line())
        seg.reports += 1

    def break_segment(self) -> None:
        """The stream broke: seal what there is; the next frame starts a new run."""
        self._seal_current()
        self._expected_pts = None

    def close(self) -> None:
        self.break_segment()

    # -- segments ----------------------------------------------------------------------------
    def _packet_loss(self, hole: int, arrival_ns: int) -> None:
        self._seal_current()
        start = self._last_end_ns if self._last_end_ns is not None else arrival_ns
        self._index += hole
        self.stats.lost_samples += hole
        self._sealer.submit(lambda: self._evidence.gap(
            "network_drop", start, max(start, arrival_ns),
            {"stream": "remote_audio", "party": self._party, "reason": "packet_loss",
             "samples": hole}, session_id=self._session))

    def _append(self, pcm: bytes, first_ns: int, *, concealed: bool) -> AudioBlock:
        samples = len(pcm) // 2
        seg = self._segment
        if seg is None:
            seg = self._open(first_ns)
        start_ns = seg.first_sample_ns + seg.frames * NS // RATE
        block = AudioBlock(pcm, samples, start_ns, self._index)
        seg.wav.write(pcm)
        seg.frames += samples
        self._index += samples
        self._last_end_ns = seg.first_sample_ns + seg.frames * NS // RATE
        self.stats.samples += samples
        if concealed:
            seg.concealed += samples
            self.stats.concealed_samples += samples
        if self.stats.first_ns is None:
            self.stats.first_ns = start_ns
        self.stats.last_ns = start_ns
        return block

    def _open(self, first_ns: int) -> _Segment:
        n = self._next_number
        self._next_number += 1
        wav = self._evidence.new_file(self._session, f"{self.name}-{n:06d}.wav")
        wav.write(wav_header(RATE, 1, 0xFFFFFFFF))
        rtp = self._evidence.new_file(self._session, f"{self.name}-{n:06d}.rtp")
        seg = _Segment(n, wav, rtp, first_ns, self._index, self._connection)
        for report in self._reports:
            rtp.write(report.line())
            seg.reports += 1
        self._reports.clear()
        self._segment = seg
        return seg

    def _seal_current(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        self.stats.segments += 1
        data = {"stream": "remote_audio", "party": self._party, "segment": seg.number,
                "connection": seg.connection, "format": "s16le", "rate": RATE, "channels": 1,
                "frames": seg.frames, "first_sample_ns": seg.first_sample_ns,
                "sample_index": seg.sample_index,
                "last_sample_ns": seg.first_sample_ns + (seg.frames - 1) * NS // RATE,
                "concealed_samples": seg.concealed, "frames_received": seg.received,
                "rtp_clock_rate": RATE, "sender_reports": seg.reports}

        def seal() -> None:
            seg.wav.write_at(0, wav_header(RATE, 1, seg.frames * 2))
            self._evidence.seal(self._session, [seg.wav, seg.rtp], data)
            latency = self._clock.monotonic_ns() - seg.last_arrival_ns
            self.stats.sealed += 1
            self.stats.seal_latency_sum_ns += latency
            self.stats.seal_latency_max_ns = max(self.stats.seal_latency_max_ns, latency)

        def abandon() -> None:
            seg.wav.abandon()
            seg.rtp.abandon()
        self._sealer.submit(seal, on_drop=abandon)
