"""Where phrases were said in a transcript: the salesperson's required and forbidden phrases.

Phrases (from configuration, e.g. "投资有风险" required, "保本" forbidden) and the transcript are
compared as toneless pinyin (:mod:`firmware.unit.understanding.pinyin`, each character with every
reading it may have), so punctuation, spaces, traditional characters, digits and the
recogniser's homophones do not hide a phrase, and a phrase split across two of the
recogniser's segments is still found.

A segment's syllables are taken as evenly spread over its time range, so a hit's times are an
estimate within its segments (Whisper's segments are a few seconds long); seconds are those of
the segments, i.e. from the start of the audio that was transcribed.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple, Protocol, Sequence

from firmware.unit.understanding.pinyin import same_syllable, toneless_readings

MAX_PHRASES = 500


class TimedText(Protocol):
    """A stretch of transcript: text said between ``start_s`` and ``end_s`` seconds
    (the recogniser's ``TranscriptSegment`` is one)."""

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    @property
    def text(self) -> str: ...


class PhraseHit(NamedTuple):
    """One place a phrase was said: the phrase as configured and its estimated time range."""

    phrase: str
    start_s: float
    end_s: float


def find_phrases(transcript_segments: Iterable[TimedText],
                 phrases: Sequence[str]) -> list[PhraseHit]:
    """Every non-overlapping occurrence of each phrase, ordered by start time.

    A phrase with nothing that can be heard (no Chinese, letters or digits) is a
    configuration mistake: ValueError naming it.
    """
    if isinstance(phrases, str):
        raise TypeError("phrases: expected a list of phrases, not one string")
    if len(phrases) > MAX_PHRASES:
        raise ValueError(f"phrases: {len(phrases)} phrases, at most {MAX_PHRASES}")
    wanted = []
    for phrase in phrases:
        syllables = tuple(toneless_readings(phrase))
        if not syllables:
            raise ValueError(f"phrase {phrase!r} has nothing that can be heard (no Chinese "
                             "characters, letters or digits)")
        wanted.append((phrase, syllables))
    syllables, starts, ends = _timed_syllables(transcript_segments)
    hits = []
    for phrase, pattern in wanted:
        size, at = len(pattern), 0
        while at + size <= len(syllables):
            if all(same_syllable(said, wanted)
                   for said, wanted in zip(syllables[at:at + size], pattern)):
                start = starts[at]                # segments may overlap: end never before it
                hits.append(PhraseHit(phrase, start, max(start, ends[at + size - 1])))
                at += size
            else:
                at += 1
    hits.sort(key=lambda hit: (hit.start_s, hit.end_s, hit.phrase))
    return hits


def _timed_syllables(segments: Iterable[TimedText]
                     ) -> tuple[list[frozenset[str]], list[float], list[float]]:
    """All syllables in time order, each with a start and end spread evenly over its segment."""
    syllables: list[frozenset[str]] = []
    starts: list[float] = []
    ends: list[float] = []
    for segment in sorted(segments, key=lambda s: (s.start_s, s.end_s)):
        said = toneless_readings(segment.text)
        start, end = float(segment.start_s), max(float(segment.start_s), float(segment.end_s))
        step = (end - start) / len(said) if said else 0.0
        for index, syllable in enumerate(said):
            syllables.append(syllable)
            starts.append(start + index * step)
            ends.append(start + (index + 1) * step)
    return syllables, starts, ends
