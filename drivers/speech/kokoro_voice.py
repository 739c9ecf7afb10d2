"""Kokoro-82M speaking Mandarin in this process: text → phonemes → token ids → 24 kHz samples.

Only the synthesis worker (:mod:`drivers.speech.synthesizer_worker`) imports this module: loading
it brings in onnxruntime, jieba and the model, several hundred MB that must never live in the
daemon.

The model's inputs (``kokoro-v1.0.int8.onnx``):

* ``tokens`` int64 [1, n + 2]: the pad id 0, the *n* phoneme token ids (n ≤ 510), the pad id 0;
* ``style`` float32 [1, 256]: the voice's style row for the sequence length, row *n - 1* of the
  voice's 510 x 256 table (as the reference PyTorch pipeline indexes it);
* ``speed`` float32 [1]: a divisor of every phoneme's predicted duration (1.0 = the voice's
  own pace, 1.25 = 25 % faster).

Output ``audio`` float32 [samples] at 24 kHz, nominally within ±1.

Phonemes come from misaki's Chinese G2P in its original (v1.0 model) form: cn2an turns Arabic
numerals into Chinese numerals, jieba segments words, pypinyin gives tone-numbered pinyin with
tone sandhi, and each syllable becomes IPA with a tone arrow (→ ↗ ↓ ↘). Chinese punctuation
becomes ASCII punctuation, which the model reads as pauses. Symbols outside the vocabulary
(emoji, say) are dropped and counted. Latin letters are spelled out by their English names
(:mod:`drivers.speech.latin_letters`).

A long prompt is cut into chunks of at most ``chunk_tokens`` tokens at sentence ends (then at
commas, then at word gaps), each synthesised on its own and joined with a short pause: peak
memory grows with sequence length (about 380 MB for a short phrase, 560 MB for 245 tokens,
800 MB for 490 tokens on this machine), so shorter chunks bound the worker's memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from misaki import zh

from drivers.errors import BadDriverArgument
from drivers.speech.kokoro_assets import (CHUNK_TOKENS, MAX_SPEED, MAX_TOKENS, MIN_SPEED,
                                          SAMPLE_RATE, STYLE_WIDTH, VOICE_ROWS, model_path,
                                          verify, voice_path)
from drivers.speech.kokoro_vocab import PAD_ID, token_ids
from drivers.speech.latin_letters import spell_latin
from drivers.speech.phoneme_chunks import chunk_phonemes, speakable

# The model ends each chunk with up to a second of silence. It is trimmed to the sound (within
# SILENCE_LEVEL, keeping EDGE_S either side) and chunks are joined by CHUNK_PAUSE_S, a pause
# between sentences: a 1.5 s gap sounds broken, and Whisper then drops the sentence after it.
SILENCE_LEVEL = 0.003            # |sample| below this is silence (about -50 dBFS)
EDGE_S = 0.08                    # silence kept before the first and after the last sound
CHUNK_PAUSE_S = 0.35             # silence between two chunks (sentences)


@dataclass(frozen=True)
class Synthesis:
    """One rendered text: 16-bit samples at :data:`SAMPLE_RATE`, and what it was made of."""

    samples: np.ndarray          # int16, mono
    phonemes: str
    chunks: int
    dropped: int                 # phoneme symbols outside the vocabulary


class KokoroVoice:
    """The model and one voice, loaded once; :meth:`synthesize` is not thread-safe (the worker
    serves one request at a time). ``threads`` is onnxruntime's intra-op thread count.

    Raises :class:`DeviceMissingError` (from :func:`verify`) if the model or the voice file is
    missing or is not the pinned file.
    """

    def __init__(self, model_dir: Path | str, voice: str, *, threads: int = 1,
                 chunk_tokens: int = CHUNK_TOKENS) -> None:
        if not isinstance(threads, int) or not 1 <= threads <= 16:
            raise BadDriverArgument(f"threads={threads!r}: must be an integer 1..16")
        if not isinstance(chunk_tokens, int) or not 16 <= chunk_tokens <= MAX_TOKENS:
            raise BadDriverArgument(f"chunk_tokens={chunk_tokens!r}: must be an integer "
                                    f"16..{MAX_TOKENS}")
        verify(model_dir, [voice])
        self.voice = voice
        self.chunk_tokens = chunk_tokens
        self._ids = token_ids()
        table = np.fromfile(voice_path(model_dir, voice), dtype="<f4")
        self._styles = table.reshape(VOICE_ROWS, STYLE_WIDTH)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(str(model_path(model_dir)), options,
                                                     providers=["CPUExecutionProvider"])
        self._g2p = zh.ZHG2P()

    def phonemes(self, text: str) -> str:
        """misaki's IPA-with-tone-arrows reading of ``text`` (Latin letters spelled out)."""
        phonemes, _tokens = self._g2p(spell_latin(text))
        return phonemes.strip()

    def synthesize(self, text: str, speed: float) -> Synthesis:
        """Speak ``text`` at ``speed`` (0.5..2.0); BadDriverArgument if nothing is speakable."""
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise BadDriverArgument(f"speed={speed!r}: must be {MIN_SPEED}..{MAX_SPEED}")
        phonemes = self.phonemes(text)
        kept = "".join(symbol for symbol in phonemes if symbol in self._ids)
        dropped = len(phonemes) - len(kept)
        chunks = [c for c in chunk_phonemes(kept, self.chunk_tokens) if speakable(c)]
        if not chunks:
            raise BadDriverArgument(f"text={text[:40]!r}: nothing in it can be spoken "
                                    f"(phonemes {phonemes[:40]!r})")
        pause = np.zeros(int(CHUNK_PAUSE_S * SAMPLE_RATE), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for chunk in chunks:
            if pieces:
                pieces.append(pause)
            pieces.append(trim_silence(self._run([self._ids[s] for s in chunk], speed)))
        audio = np.concatenate(pieces)
        samples = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
        return Synthesis(samples, phonemes, len(chunks), dropped)

    def _run(self, ids: list[int], speed: float) -> np.ndarray:
        tokens = np.array([[PAD_ID, *ids, PAD_ID]], dtype=np.int64)
        style = self._styles[len(ids) - 1][np.newaxis, :]
        feed = {"tokens": tokens, "style": style,
                "speed": np.array([speed], dtype=np.float32)}
        (audio,) = self._session.run(["audio"], feed)
        return np.asarray(audio, dtype=np.float32).reshape(-1)


def trim_silence(audio: np.ndarray) -> np.ndarray:
    """``audio`` without the silence before its first and after its last sound, keeping
    :data:`EDGE_S` of it either side (an all-silent chunk is returned as it is)."""
    loud = np.flatnonzero(np.abs(audio) > SILENCE_LEVEL)
    if loud.size == 0:
        return audio
    edge = int(EDGE_S * SAMPLE_RATE)
    return audio[max(0, loud[0] - edge):loud[-1] + 1 + edge]
