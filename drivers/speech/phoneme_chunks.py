"""Cutting a phoneme string into pieces Kokoro can take in one pass (at most 510 tokens; fewer
keeps the worker's memory down), at the places a speaker would pause."""
from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?;:…])")
_CLAUSE_END = re.compile(r"(?<=[,—])")
_WORD_GAP = re.compile(r"(?<= )")


def chunk_phonemes(phonemes: str, limit: int) -> list[str]:
    """Cut a phoneme string into pieces of at most ``limit`` symbols: at sentence ends first,
    then at clause ends, then at word gaps, then anywhere; consecutive short pieces are packed
    together up to ``limit``. Joined back together the pieces give the input, less the spaces
    at the cuts."""
    pieces = _split(phonemes, limit, (_SENTENCE_END, _CLAUSE_END, _WORD_GAP))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > limit:
            chunks.append(current.strip())
            current = ""
        current += piece
    if current.strip():
        chunks.append(current.strip())
    return [c for c in chunks if c]


def _split(text: str, limit: int, patterns: tuple[re.Pattern[str], ...]) -> list[str]:
    if len(text) <= limit:
        return [text]
    if not patterns:
        return [text[i:i + limit] for i in range(0, len(text), limit)]
    pieces: list[str] = []
    for part in patterns[0].split(text):
        if part:
            pieces.extend(_split(part, limit, patterns[1:]))
    return pieces


def speakable(chunk: str) -> bool:
    """A chunk with at least one letter (not only punctuation and spaces)."""
    return any(symbol.isalpha() for symbol in chunk)
