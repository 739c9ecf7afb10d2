"""The recorded audio, placed on the session's time base.

Each ``audio-NNNNNN.wav`` is continuous 16-bit PCM; its SEGMENT record gives the CLOCK_MONOTONIC
time of its first sample and its rate, so sample *k* lies at ``first_sample_ns + k * 1e9 /
rate``. Placed on an output sample grid that starts at ``t0_ns``, a segment that continues the
one before (its ``sample_index`` follows on) is laid end to end with it; anything else lands
where its time says, so a hole stays a hole (silence).
"""
from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from firmware.office.export.media import MediaOpener
from firmware.office.export.session_data import AudioSegment

NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class PlacedAudio:
    """``samples`` (float32, shape (frames, channels), -1..1) starting at output sample
    ``index`` of a grid at ``rate`` Hz that begins at the export's ``t0_ns``."""

    index: int
    samples: np.ndarray


def read_wav(data: bytes) -> tuple[np.ndarray, int, int]:
    """(samples as float32 (frames, channels), rate, channels) of a 16-bit PCM WAV."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{8 * w.getsampwidth()}-bit samples; expected 16-bit PCM")
        channels, rate = w.getnchannels(), w.getframerate()
        pcm = w.readframes(w.getnframes())
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels), rate, channels


class RecordedAudio:
    """The session's audio segments (already sorted by time). All must share one rate; a
    segment at another rate, or unreadable, is left out and named in :attr:`problems`."""

    def __init__(self, segments: list[AudioSegment], open_media: MediaOpener) -> None:
        self.problems: list[str] = []
        self._open = open_media
        self.rate = segments[0].rate if segments else 48_000
        self.channels = min(2, segments[0].channels) if segments else 1
        self.segments = []
        for seg in segments:
            if seg.rate != self.rate:
                self.problems.append(f"{seg.wav.name}: {seg.rate} Hz, not {self.rate} Hz like "
                                     "the first segment; left out")
            else:
                self.segments.append(seg)

    @property
    def first_ns(self) -> int | None:
        return self.segments[0].first_sample_ns if self.segments else None

    @property
    def end_ns(self) -> int | None:
        """Just after the last sample, from the records."""
        if not self.segments:
            return None
        return max(s.first_sample_ns + s.frames * NS_PER_S // s.rate for s in self.segments)

    def _samples(self, seg: AudioSegment) -> np.ndarray | None:
        try:
            samples, rate, channels = read_wav(self._open(seg.wav))
        except (OSError, ValueError, EOFError, wave.Error) as exc:
            self.problems.append(f"{seg.wav.name}: unreadable ({exc}); left out (silence)")
            return None
        if rate != seg.rate:
            self.problems.append(f"{seg.wav.name}: header says {rate} Hz, record {seg.rate} Hz")
        if channels > self.channels:
            samples = samples[:, :self.channels] if self.channels == 2 else \
                samples.mean(axis=1, keepdims=True)
        elif channels < self.channels:
            samples = np.repeat(samples[:, :1], self.channels, axis=1)
        return samples

    def placed(self, t0_ns: int) -> Iterator[PlacedAudio]:
        """Each segment's samples with its place on the grid that starts at ``t0_ns``."""
        prev: AudioSegment | None = None
        prev_end = 0
        for seg in self.segments:
            samples = self._samples(seg)
            if samples is None:
                prev = None
                continue
            if prev is not None and seg.sample_index == prev.sample_index + prev.frames:
                index = prev_end
            else:
                index = round((seg.first_sample_ns - t0_ns) * self.rate / NS_PER_S)
            yield PlacedAudio(index, samples)
            prev, prev_end = seg, index + len(samples)

    def levels(self, interval_ns: int = 100_000_000) -> list[tuple[int, float]]:
        """(time on the main time base, RMS level in dBFS) every ``interval_ns``; read from the
        audio itself, for when the session has no ``analysis.json``."""
        out = []
        for seg in self.segments:
            samples = self._samples(seg)
            if samples is None:
                continue
            step = max(1, seg.rate * interval_ns // NS_PER_S)
            mono = samples.mean(axis=1)
            for start in range(0, len(mono), step):
                block = mono[start:start + step]
                rms = float(np.sqrt(np.mean(block.astype(np.float64) ** 2))) if len(block) else 0
                db = 20 * math.log10(rms) if rms > 1e-6 else -120.0
                out.append((seg.first_sample_ns + start * NS_PER_S // seg.rate, db))
        return out
