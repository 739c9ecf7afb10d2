"""Spoken prompts in Mandarin: Kokoro-82M renders text to a WAV once; the WAV is cached on disk.

:class:`KokoroSpeech` is the unit's voice at one pace. It has the interface the session's
prompter uses (``render(text) -> Path``, ``path_for``, ``cache_key``, ``text_hash`` and the
counters ``renders``, ``cache_hits``, ``render_ns``), plus :meth:`KokoroSpeech.render_many`
to render a batch ahead. Synthesis happens in the :class:`Synthesizer`'s worker process,
which is shared by the paces of one voice and owned by whoever built it.

Order of lookup for a text: a recorded prompt (:class:`RecordedPrompts`), then the cache,
then synthesis. A cached WAV (24 kHz mono 16-bit PCM) is named by the SHA-256 of (text,
voice, speed, the synthesizer's identity: model and voice hashes, renderer and library
versions), so new weights, a new voice or a new pace give a new file and an old file is never
played for the wrong text. Files are written to a temporary name in the cache directory,
fsynced and renamed into place: a power cut leaves either the whole WAV or none.

Pace. Script templates give ``words_per_minute``; for Mandarin a "word" is a syllable (one
character). Kokoro's ``speed`` divides every phoneme's duration, so the syllable rate scales
with it: ``speed = words_per_minute / NATURAL_SYLLABLES_PER_MINUTE[voice]``, where the natural
rate is what the voice speaks at speed 1.0 — measured over the 431 syllables of the shipped
prompts, pauses at punctuation included; the voices differ by a quarter — clamped to
``SPEED_RANGE`` where the speech stays clear. The speed is rounded to 0.01 so that paces a
syllable apart share one cache file. So the standard templates' 300 syllables a minute is
speed 1.08 with ``zf_xiaoxiao``; the elder templates' 220 would be 0.79 but is held at 0.90
(250 a minute): below about 0.85 the voices start each prompt with a vowel-like sound that
Whisper hears as an extra syllable ("也请问您…"), and errors rise from 0.2 % to 3.7 %.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping

from drivers.clock import Clock
from drivers.errors import BadDriverArgument
from drivers.speech.kokoro_assets import DEFAULT_VOICE, check_voice_name
from drivers.speech.prompt_files import (check_text, commit, scratch_path, text_hash,
                                         wav_seconds)
from drivers.speech.recorded import RecordedPrompts
from drivers.speech.synthesizer import Synthesizer

# syllables a minute each voice speaks at speed 1.0 (see the module docstring)
NATURAL_SYLLABLES_PER_MINUTE: Mapping[str, int] = MappingProxyType({
    "zf_xiaobei": 237, "zf_xiaoxiao": 279, "zf_xiaoyi": 288, "zm_yunjian": 281,
    "zm_yunxi": 302, "zm_yunxia": 267, "zm_yunyang": 304,
})
SPEED_RANGE = (0.9, 1.3)
MIN_WPM, MAX_WPM = 60, 450           # what a template may ask for
DEFAULT_WPM = 260


def speed_for(words_per_minute: int, voice: str = DEFAULT_VOICE) -> float:
    """Kokoro's ``speed`` for ``voice`` to speak ``words_per_minute`` syllables (characters)
    a minute."""
    if not isinstance(words_per_minute, int) or not MIN_WPM <= words_per_minute <= MAX_WPM:
        raise BadDriverArgument(f"words_per_minute={words_per_minute!r}: must be an integer "
                                f"{MIN_WPM}..{MAX_WPM}")
    check_voice_name(voice)
    low, high = SPEED_RANGE
    natural = NATURAL_SYLLABLES_PER_MINUTE[voice]
    return round(min(high, max(low, words_per_minute / natural)), 2)


class KokoroSpeech:
    """Renders prompts to cached WAVs under ``cache_dir`` with ``synthesizer``'s voice at
    ``words_per_minute`` (see the module docstring). Thread-safe; cache hits never wait for a
    synthesis in progress. ``clock`` (optional) times the renders for :attr:`render_ns`.
    """

    def __init__(self, cache_dir: Path | str, synthesizer: Synthesizer,
                 words_per_minute: int = DEFAULT_WPM, *,
                 recorded: RecordedPrompts | None = None, clock: Clock | None = None) -> None:
        self.speed = speed_for(words_per_minute, synthesizer.voice)
        self.cache_dir = Path(cache_dir)
        self.words_per_minute = words_per_minute
        self._synthesizer = synthesizer
        self._recorded = recorded
        self._clock = clock
        self._lock = threading.Lock()          # the counters
        self._render_lock = threading.Lock()   # one synthesis at a time per pace
        self.renders = 0
        self.cache_hits = 0
        self.recorded_hits = 0
        self.render_ns = 0
        self.audio_s = 0.0                     # seconds of audio synthesised

    @property
    def voice(self) -> str:
        return self._synthesizer.voice

    # -- what a prompt is called ---------------------------------------------------------------
    def cache_key(self, text: str) -> str:
        """SHA-256 (hex) of (text, voice, speed, synthesizer identity): the cache file's name."""
        check_text(text)
        identity = json.dumps(["dualrec-speech-kokoro-1", text, self.voice,
                               f"{self.speed:.2f}", self._synthesizer.identity()],
                              ensure_ascii=False)
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()

    def text_hash(self, text: str) -> str:
        """SHA-256 (hex) of the text alone; see :func:`drivers.speech.text_hash`."""
        return text_hash(text)

    def path_for(self, text: str) -> Path:
        """Where the synthesised WAV of ``text`` is (or will be) cached."""
        return self.cache_dir / f"{self.cache_key(text)}.wav"

    # -- rendering -----------------------------------------------------------------------------
    def render(self, text: str) -> Path:
        """The path of a WAV speaking ``text``: its recording, its cached rendering, or a new
        rendering (in the worker, started if needed). BadDriverArgument for text that cannot
        be spoken; DeviceMissingError if the voice cannot load."""
        check_text(text)
        if self._recorded is not None:
            recorded = self._recorded.lookup(text)
            if recorded is not None:
                with self._lock:
                    self.recorded_hits += 1
                return recorded
        path = self.path_for(text)
        if path.is_file():
            self._count_hit()
            return path
        with self._render_lock:
            if path.is_file():
                self._count_hit()
                return path
            self._synthesize(text, path)
        return path

    def render_many(self, texts: Iterable[str], *, release: bool = True) -> list[Path]:
        """Render every text ahead (in order; duplicates once) and return their paths; with
        ``release`` the worker is stopped afterwards if it was needed, so its memory goes back
        at once instead of after its idle time. Every text is checked before any is rendered;
        a text with nothing speakable raises BadDriverArgument (those before it are cached)."""
        texts = list(texts)
        for text in texts:
            check_text(text)
        rendered: dict[str, Path] = {}
        synthesised_before = self.renders
        try:
            for text in texts:
                if text not in rendered:
                    rendered[text] = self.render(text)
        finally:
            if release and self.renders != synthesised_before:
                self._synthesizer.release()
        return [rendered[text] for text in texts]

    # -- inside ---------------------------------------------------------------------------------
    def _synthesize(self, text: str, path: Path) -> None:
        started = self._now_ns()
        tmp = scratch_path(self.cache_dir)
        try:
            result = self._synthesizer.synthesize(text, self.speed, tmp)
            wav_seconds(tmp)
            commit(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        with self._lock:
            self.renders += 1
            self.render_ns += self._now_ns() - started
            self.audio_s += result.seconds

    def _count_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def _now_ns(self) -> int:
        return self._clock.monotonic_ns() if self._clock else time.monotonic_ns()
