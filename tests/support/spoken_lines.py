"""Mandarin lines spoken by the unit's own Kokoro voice, as the recogniser takes them
(16 kHz mono int16): the customer's and the salesperson's speech in tests and benchmarks.

Each line is rendered once per :class:`SpokenLines` (a module- or session-scoped fixture)
into its directory; the synthesizer's worker is kept while lines are rendered and released
by :meth:`SpokenLines.close`.
"""
from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import numpy as np

from drivers.speech.kokoro import DEFAULT_WPM, speed_for
from drivers.speech.pcm import pcm16k
from drivers.speech.synthesizer import Synthesizer


class SpokenLines:
    """``say(text, voice)`` → 16 kHz int16 samples of ``text`` in ``voice``."""

    def __init__(self, model_dir: Path, directory: Path) -> None:
        self._model_dir = Path(model_dir)
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)
        self._synthesizers: dict[str, Synthesizer] = {}
        self.synth_s = 0.0           # time the voices spent rendering, for benchmarks

    def say(self, text: str, voice: str = "zf_xiaoyi",
            words_per_minute: int = DEFAULT_WPM) -> np.ndarray:
        key = hashlib.sha256(f"{voice}|{words_per_minute}|{text}".encode()).hexdigest()[:20]
        path = self._directory / f"{key}.wav"
        if not path.exists():
            synthesizer = self._synthesizers.get(voice)
            if synthesizer is None:              # one voice's worker at a time (~0.5 GB each)
                self.close()
                synthesizer = Synthesizer(self._model_dir, voice, idle_s=600)
                self._synthesizers[voice] = synthesizer
            rendered = synthesizer.synthesize(text, speed_for(words_per_minute), path)
            self.synth_s += rendered.synth_s
        with wave.open(str(path), "rb") as wav:
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
            return pcm16k(samples, wav.getframerate())

    def close(self) -> None:
        for synthesizer in self._synthesizers.values():
            synthesizer.close()
        self._synthesizers.clear()

    def __enter__(self) -> SpokenLines:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16_000), dtype=np.int16)
