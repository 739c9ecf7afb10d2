"""A whole session's speech transcribed from the check's audio copy, piece by piece, resumable.

The audio is cut into pieces the recogniser takes well: never across a hole in the samples,
never across the start or end of one of the unit's own prompts (so every piece is either the
unit's voice, ``"unit"``, or the people at the counter, ``"room"``), and at most
:data:`MAX_PIECE_NS` long, cut at the quietest block of its last seconds. Pieces with no block
above :data:`QUIET_DBFS` are not sent to the recogniser. The cut depends only on the audio and
the prompts' times, so a check resumed after a restart or a session makes the same pieces and
goes on after the last one done.

Times are CLOCK_MONOTONIC ns of the boot the session was recorded in (each block's
``first_sample_ns``; a segment's times are the recogniser's seconds from its piece's start).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from firmware.unit.session.answers import block_dbfs
from firmware.unit.speech_check.session_records import Span
from firmware.unit.understanding.service import Understanding

log = logging.getLogger(__name__)

NS = 1_000_000_000
MAX_PIECE_NS = 20 * NS
CUT_WINDOW_NS = 4 * NS
QUIET_DBFS = -50.0


@dataclass
class Piece:
    voice: str                     # "unit" (one of its prompts) or "room"
    first_ns: int
    blocks: list[tuple[int, bytes, float]] = field(default_factory=list)  # (end_ns, pcm, dB)

    @property
    def end_ns(self) -> int:
        return self.blocks[-1][0] if self.blocks else self.first_ns

    @property
    def voiced(self) -> bool:
        return any(db > QUIET_DBFS for _, _, db in self.blocks)

    @property
    def pcm(self) -> bytes:
        return b"".join(pcm for _, pcm, _ in self.blocks)


@dataclass
class Progress:
    """What has been transcribed (persisted sealed after each piece)."""

    pieces: int = 0
    segments: list[list] = field(default_factory=list)   # [start_ns, end_ns, voice, text]
    audio_s: float = 0.0
    cpu_s: float = 0.0
    recognise_s: float = 0.0

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Progress:
        raw = json.loads(data.decode("utf-8"))
        return cls(int(raw["pieces"]), [list(s) for s in raw["segments"]],
                   float(raw["audio_s"]), float(raw["cpu_s"]), float(raw["recognise_s"]))


@dataclass
class AudioFacts:
    """What the copy held: for the record (an insurer can compare ``pcm_sha256`` with the
    sealed audio segments' PCM, the same blocks in the same order)."""

    first_sample_ns: int | None = None
    end_ns: int | None = None
    samples: int = 0
    holes: int = 0
    pcm_sha256: str = ""


def pieces(frames: Iterable[tuple[int, int, int, bytes]], prompts: list[Span], rate: int,
           facts: AudioFacts) -> Iterator[Piece]:
    """The pieces of the copy's blocks ``(first_sample_ns, sample_index, frames, pcm)``."""
    digest = hashlib.sha256()
    piece: Piece | None = None
    expected = None
    for first_ns, index, count, pcm in frames:
        digest.update(pcm)
        facts.samples += count
        facts.first_sample_ns = first_ns if facts.first_sample_ns is None else \
            facts.first_sample_ns
        end_ns = first_ns + count * NS // rate
        facts.end_ns = end_ns
        middle = (first_ns + end_ns) // 2
        voice = "unit" if any(p.start_ns <= middle < p.end_ns for p in prompts) else "room"
        hole = expected is not None and index != expected
        facts.holes += hole
        expected = index + count
        if piece is not None and (hole or voice != piece.voice):
            yield piece
            piece = None
        if piece is None:
            piece = Piece(voice, first_ns)
        piece.blocks.append((end_ns, pcm, block_dbfs(pcm)))
        if end_ns - piece.first_ns >= MAX_PIECE_NS:
            piece, rest = _cut(piece)
            yield piece
            piece = rest
    if piece is not None and piece.blocks:
        yield piece
    facts.pcm_sha256 = digest.hexdigest()


def _cut(piece: Piece) -> tuple[Piece, Piece]:
    """Split a full piece after the quietest block of its last :data:`CUT_WINDOW_NS`."""
    limit = piece.end_ns - CUT_WINDOW_NS
    candidates = [i for i, (end, _, _) in enumerate(piece.blocks) if end >= limit]
    cut = min(candidates, key=lambda i: (piece.blocks[i][2], -i))
    rest = Piece(piece.voice, piece.blocks[cut][0], piece.blocks[cut + 1:])
    return Piece(piece.voice, piece.first_ns, piece.blocks[:cut + 1]), rest


def transcribe(all_pieces: Iterable[Piece], progress: Progress, understanding: Understanding,
               *, rate: int, channels: int, should_pause: Callable[[], bool],
               save: Callable[[Progress], None]) -> bool:
    """Transcribe the pieces after ``progress.pieces``; ``save(progress)`` after each one.
    False when ``should_pause()`` said to stop first (nothing is lost: resume later)."""
    for number, piece in enumerate(all_pieces):
        if number < progress.pieces:
            continue
        if should_pause():
            return False
        if piece.voiced:
            heard = understanding.transcribe(piece.pcm, rate, channels)
            for start_s, end_s, text in heard.segments:
                progress.segments.append([piece.first_ns + int(start_s * NS),
                                          piece.first_ns + int(end_s * NS), piece.voice, text])
            progress.audio_s += heard.audio_s
            progress.cpu_s += heard.cpu_s
            progress.recognise_s += heard.recognise_s
        progress.pieces = number + 1
        save(progress)
    return True
