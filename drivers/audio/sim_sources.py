"""Signals the simulated microphone hears: tone, silence, a voice-like signal, a looped WAV.

Each source is a pure function of the absolute sample index (``render(start, frames)``), so a
lost range (overflow, unplug) simply skips indices and the signal stays continuous in time.
Values are floats in -1..1, mono; the microphone converts and copies them to every channel.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from drivers.audio.wav import read_wav, to_mono_at_rate
from drivers.errors import BadDriverArgument

SOURCE_KINDS = ("tone", "silence", "speech", "wav")


class Source(Protocol):
    def render(self, start: int, frames: int) -> np.ndarray:
        """Samples ``start .. start+frames`` (float64, mono, -1..1)."""


class Silence:
    def render(self, start: int, frames: int) -> np.ndarray:
        return np.zeros(frames)


class Tone:
    """A sine of ``freq`` Hz at ``amplitude`` (of full scale)."""

    def __init__(self, rate: int, freq: float = 440.0, amplitude: float = 0.3) -> None:
        if not 0 < freq < rate / 2:
            raise BadDriverArgument(f"tone freq={freq!r}: must be between 0 and {rate / 2} Hz")
        self.rate, self.freq, self.amplitude = rate, float(freq), float(amplitude)

    def render(self, start: int, frames: int) -> np.ndarray:
        index = np.arange(start, start + frames, dtype=np.float64)
        return self.amplitude * np.sin(2 * np.pi * self.freq * (index / self.rate))


class Speech:
    """A voice-like signal: syllables of a gliding harmonic voice with pauses between phrases.

    Syllables last 250 ms (200 ms voiced with a raised-cosine envelope, 50 ms quiet); every
    ninth and tenth syllable are a phrase pause. Each syllable's pitch (110..230 Hz) and
    loudness come from a hash of its number, so the signal is the same at every run.
    """

    SYLLABLE_S = 0.25
    VOICED_S = 0.20
    HARMONICS = 12

    def __init__(self, rate: int, amplitude: float = 0.3) -> None:
        self.rate, self.amplitude = rate, float(amplitude)
        self._syllable = int(rate * self.SYLLABLE_S)
        self._voiced = int(rate * self.VOICED_S)

    def _params(self, syllable: int) -> tuple[float, float]:
        digest = hashlib.sha256(syllable.to_bytes(8, "little", signed=True)).digest()
        pitch = 110.0 + digest[0] / 255.0 * 120.0
        loudness = 0.0 if syllable % 10 in (8, 9) else 0.5 + digest[1] / 255.0 * 0.5
        return pitch, loudness

    def render(self, start: int, frames: int) -> np.ndarray:
        out = np.zeros(frames)
        index = start
        while index < start + frames:
            syllable, pos = divmod(index, self._syllable)
            count = min(self._syllable - pos, start + frames - index)
            voiced = max(0, min(self._voiced - pos, count))
            if voiced:
                pitch, loudness = self._params(syllable)
                t = np.arange(pos, pos + voiced) / self.rate
                glide = pitch * (1.0 + 0.15 * t / self.VOICED_S)
                phase = 2 * np.pi * np.cumsum(glide) / self.rate
                wave = sum(np.sin(k * phase) / k for k in range(1, self.HARMONICS + 1))
                envelope = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(pos, pos + voiced)
                                              / self._voiced)
                offset = index - start
                out[offset:offset + voiced] = wave * envelope * loudness
            index += count
        return out * (self.amplitude / 1.6)


class WavLoop:
    """A WAV file played in a loop from the sample index where it was selected."""

    def __init__(self, rate: int, path: Path | str, start: int, gain: float = 1.0) -> None:
        samples = to_mono_at_rate(read_wav(path), rate) * gain
        if samples.size == 0:
            raise BadDriverArgument(f"path={str(path)!r}: the WAV holds no samples")
        self._samples, self._start = samples, start

    def render(self, start: int, frames: int) -> np.ndarray:
        index = (np.arange(start, start + frames) - self._start) % self._samples.size
        return self._samples[index]


def make_source(kind: str, rate: int, start: int, params: dict) -> Source:
    """The source ``kind`` with ``params``; unknown kinds or parameters raise BadDriverArgument."""
    try:
        if kind == "silence":
            return Silence(**params)
        if kind == "tone":
            return Tone(rate, **params)
        if kind == "speech":
            return Speech(rate, **params)
        if kind == "wav":
            return WavLoop(rate, start=start, **params)
    except TypeError as exc:
        raise BadDriverArgument(f"set_source({kind!r}): bad parameters {sorted(params)}: "
                                f"{exc}") from None
    raise BadDriverArgument(f"set_source: unknown source kind {kind!r}; "
                            f"use one of {', '.join(SOURCE_KINDS)}")


def to_int16(samples: np.ndarray, channels: int) -> bytes:
    """Float mono -1..1 → interleaved int16 PCM with ``channels`` identical channels."""
    ints = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype("<i2")
    if channels > 1:
        ints = np.repeat(ints, channels)
    return ints.tobytes()
