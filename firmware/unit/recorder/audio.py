"""Audio: blocks of 16-bit PCM into WAV segment files, sealed about every N seconds.

Each ``audio-NNNNNN.wav`` holds continuous samples: a hole in the sample count (an overflow, a
lost microphone) ends the segment, and the loss becomes a GAP record. The SEGMENT record gives
``first_sample_ns`` (CLOCK_MONOTONIC of the first sample), ``sample_index`` and ``rate``, so
sample *k* of the file was captured at ``first_sample_ns + k * 1e9 / rate``.
"""
from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field
from typing import Callable

from drivers.audio import AudioBlock
from firmware.errors import StorageError
from firmware.evidence.store import Evidence
from firmware.unit.recorder.device_loss import DeviceLoss
from firmware.unit.recorder.sealer import Sealer
from firmware.evidence.spool import PartFile


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """A 44-byte PCM WAV header; ``0xFFFFFFFF`` sizes mark a file still being written."""
    riff = 0xFFFFFFFF if data_bytes == 0xFFFFFFFF else 36 + data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


@dataclass
class _Segment:
    number: int
    wav: PartFile
    first_sample_ns: int
    sample_index: int
    frames: int = 0


@dataclass
class AudioStats:
    samples: int = 0
    segments: int = 0
    lost_samples: int = 0
    first_ns: int | None = None
    last_ns: int | None = None       # the newest block's first sample (freshness)
    gaps: list[tuple[int, int, str]] = field(default_factory=list)


class AudioSegmenter:
    """A microphone's :class:`~drivers.audio.AudioSink` that writes one session's audio."""

    def __init__(self, evidence: Evidence, sealer: Sealer, session_id: str, *,
                 segment_ns: int, rate: int, channels: int,
                 tap: Callable[[AudioBlock], None] | None = None) -> None:
        self._evidence = evidence
        self._tap = tap
        self._sealer = sealer
        self._session = session_id
        self._rate = rate
        self._channels = channels
        self._segment_frames = max(1, segment_ns * rate // 1_000_000_000)
        self._lock = threading.Lock()
        self._segment: _Segment | None = None
        self._next_number = 1
        self._next_index: int | None = None
        self.loss = DeviceLoss(evidence, sealer, session_id, device="microphone",
                               stream="audio")
        self.stats = AudioStats()

    # -- AudioSink ---------------------------------------------------------------------------
    def audioblock(self, block: AudioBlock) -> None:
        if self._sealer.error is not None:
            return
        if self._tap is not None:
            self._tap(block)
        try:
            self._write(block)
        except StorageError as exc:
            self._sealer.fail(exc)

    def _write(self, block: AudioBlock) -> None:
        with self._lock:
            if self._next_index is not None and block.sample_index != self._next_index:
                self.stats.lost_samples += max(0, block.sample_index - self._next_index)
                self._seal_current()  # keep each file continuous
            seg = self._segment
            if seg is None:
                seg = self._open(block)
            seg.wav.write(block.pcm)
            seg.wav.flush()
            seg.frames += block.frames
            self.stats.samples += block.frames
            if self.stats.first_ns is None:
                self.stats.first_ns = block.first_sample_ns
            self.stats.last_ns = block.first_sample_ns
            self.loss.captured(block.first_sample_ns + block.frames * 1_000_000_000 // self._rate)
            self._next_index = block.sample_index + block.frames
            if seg.frames >= self._segment_frames:
                self._seal_current()

    def audio_gap(self, start_ns: int, end_ns: int, reason: str) -> None:
        self.stats.gaps.append((start_ns, end_ns, reason))
        self._sealer.submit(lambda: self._evidence.gap(
            "audio_" + reason if not reason.startswith("audio") else reason, start_ns, end_ns,
            {"stream": "audio"}, session_id=self._session))

    def microphone_lost(self, timestamp_ns: int, reason: str) -> None:
        with self._lock:
            self._seal_current()
        self.loss.went(timestamp_ns, reason)

    def microphone_restored(self, timestamp_ns: int) -> None:
        self.loss.back(timestamp_ns)

    # -- segments ----------------------------------------------------------------------------
    def _open(self, block: AudioBlock) -> _Segment:
        n = self._next_number
        self._next_number += 1
        wav = self._evidence.new_file(self._session, f"audio-{n:06d}.wav")
        wav.write(wav_header(self._rate, self._channels, 0xFFFFFFFF))
        self._segment = _Segment(n, wav, block.first_sample_ns, block.sample_index)
        return self._segment

    def _seal_current(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        self.stats.segments += 1
        data = {"stream": "audio", "segment": seg.number, "format": "s16le",
                "rate": self._rate, "channels": self._channels, "frames": seg.frames,
                "first_sample_ns": seg.first_sample_ns, "sample_index": seg.sample_index,
                "last_sample_ns": seg.first_sample_ns
                + (seg.frames - 1) * 1_000_000_000 // self._rate}

        def seal() -> None:
            seg.wav.write_at(0, wav_header(self._rate, self._channels,
                                           seg.frames * self._channels * 2))
            self._evidence.seal(self._session, [seg.wav], data)
        self._sealer.submit(seal, on_drop=seg.wav.abandon)

    def close(self, now_ns: int) -> None:
        with self._lock:
            self._seal_current()
        self.loss.back(now_ns)
