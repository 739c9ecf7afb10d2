"""The understanding worker process: what the daemon cannot afford to load, in a process of its
own that exits when idle (pypinyin, zhconv and cn2an take about 70 MB; PyAV's resampler a few
more). It hosts a :class:`~drivers.speech.recognizer.Recognizer` (whose Whisper worker is this
process's child), turns microphone PCM into the recogniser's 16 kHz mono, classifies answers and
finds phrases.

Started by :class:`firmware.unit.understanding.service.Understanding` as
``python -c "…main(sys.argv[1:])" --fd N --config JSON`` with one end of a socket pair as fd N,
wrapped on both sides in a ``multiprocessing.connection.Connection``. Requests (tuples; the
owner is trusted, the worker is ours):

- ``("warm",)``: load the pinyin tables and start the recogniser's model load;
- ``("answer", pcm, rate, channels, lists)``: transcribe and classify with the word lists;
- ``("transcribe", pcm, rate, channels)``: transcribe only;
- ``("phrases", segments, phrases)``: where phrases were said (``find_phrases``);
- ``("stop",)``.

Replies: ``("ok", result)``, ``("unavailable", message)`` when the recogniser cannot load (its
model or libraries are missing), or ``("error", message)``. With no request for ``idle_s``
seconds the worker exits by itself (exit code 0).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from drivers.errors import DeviceMissingError


@dataclass(frozen=True)
class ServiceConfig:
    model_dir: str
    idle_s: float
    recognizer_idle_s: float
    recognizer_timeout_s: float
    max_seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServiceConfig:
        return cls(**json.loads(text))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the worker process (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="understanding_worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    conn = Connection(args.fd)
    try:
        _Worker(ServiceConfig.from_json(args.config)).serve(conn)
    except (EOFError, OSError):                 # the owner went away: nobody to answer
        pass
    finally:
        conn.close()


def mono_16k(pcm: bytes, rate: int, channels: int) -> np.ndarray:
    """Interleaved 16-bit PCM at ``rate`` → the recogniser's 16 kHz mono int16 (channels
    averaged; PyAV's resampler)."""
    from drivers.speech.pcm import pcm16k

    samples = np.frombuffer(pcm, dtype="<i2")
    if channels > 1:
        samples = samples[:len(samples) - len(samples) % channels].reshape(-1, channels)
        samples = samples.astype(np.int32).mean(axis=1).astype(np.int16)
    return pcm16k(np.ascontiguousarray(samples, dtype=np.int16), rate)


class _Worker:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._recognizer = None
        self._words: dict[str, Any] = {}        # AnswerWords by the lists' hash

    def serve(self, conn: Connection) -> None:
        try:
            while conn.poll(self.config.idle_s):
                message = conn.recv()
                if message[0] == "stop":
                    return
                conn.send(self._handle(message))
        finally:
            if self._recognizer is not None:
                self._recognizer.close()

    def _handle(self, message: tuple) -> tuple:
        try:
            if message[0] == "warm":
                from firmware.unit.understanding.pinyin import toneless_syllables
                toneless_syllables("同意")
                self._recognizer_ready().prepare()
                return ("ok", {})
            if message[0] == "answer":
                _, pcm, rate, channels, lists = message
                heard = self._transcribe(pcm, rate, channels)
                meaning = self._answer_words(lists)
                from firmware.unit.understanding.answers import classify_answer
                got = classify_answer(heard["text"], meaning)
                return ("ok", {**heard, "meaning": got.meaning.value, "word": got.word})
            if message[0] == "transcribe":
                _, pcm, rate, channels = message
                return ("ok", self._transcribe(pcm, rate, channels))
            if message[0] == "phrases":
                _, segments, phrases = message
                from firmware.unit.understanding.phrases import find_phrases
                from drivers.speech.recognizer import TranscriptSegment
                hits = find_phrases([TranscriptSegment(s, e, t) for s, e, t in segments],
                                    list(phrases))
                return ("ok", [(h.phrase, h.start_s, h.end_s) for h in hits])
            return ("error", f"unknown request {message[0]!r}")
        except DeviceMissingError as exc:
            return ("unavailable", str(exc))
        except Exception as exc:                # reported to the owner, who raises it
            return ("error", f"{type(exc).__name__}: {exc}")

    def _recognizer_ready(self):
        if self._recognizer is None:
            from drivers.speech.recognizer import Recognizer
            c = self.config
            self._recognizer = Recognizer(c.model_dir, max_seconds=c.max_seconds,
                                          timeout_s=c.recognizer_timeout_s,
                                          idle_s=c.recognizer_idle_s)
        return self._recognizer

    def _answer_words(self, lists: dict[str, tuple[str, ...]]):
        from firmware.unit.understanding.answers import AnswerWords, word_lists_sha256
        key = word_lists_sha256(lists)
        if key not in self._words:
            self._words.clear()                 # one template's lists at a time
            self._words[key] = AnswerWords.from_mapping(lists)
        return self._words[key]

    def _transcribe(self, pcm: bytes, rate: int, channels: int) -> dict:
        began = time.monotonic()
        audio = mono_16k(pcm, rate, channels)
        result = self._recognizer_ready().transcribe(audio)
        return {"text": result.text,
                "segments": [(s.start_s, s.end_s, s.text) for s in result.segments],
                "audio_s": result.audio_s, "recognise_s": result.wall_s,
                "cpu_s": result.cpu_s, "worker_s": time.monotonic() - began}
