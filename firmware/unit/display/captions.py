"""Captions that follow the voice: a prompt's text split into phrases with their start offsets.

The prompter knows how long the spoken prompt lasts (it renders the audio ahead) and when it
started playing on the unit's monotonic clock; the page shows each phrase from its offset on.
Offsets are spread over the duration by the weight of what is spoken: one unit per character,
more for the pauses the voice makes at punctuation (Kokoro pauses at commas and full stops).
When the synthesiser reports real phrase timings, build the :class:`CaptionPhrase` tuple from
them instead; the page does not care where the offsets came from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

MAX_PHRASE_CHARS = 20
"""A phrase longer than this is cut (at a space, else hard) so it fits on one or two lines of
the 800x480 display at caption size."""

_BREAKS = "，、,;；：:。！？!?.…"
_PAUSE_UNITS = {"，": 2, "、": 1, ",": 2, "；": 3, ";": 3, "：": 2, ":": 2,
                "。": 4, "！": 4, "？": 4, "!": 4, "?": 4, ".": 4, "…": 4}
_PHRASE = re.compile(rf"[^{re.escape(_BREAKS)}]*[{re.escape(_BREAKS)}]+|[^{re.escape(_BREAKS)}]+")


@dataclass(frozen=True)
class CaptionPhrase:
    """One phrase of a caption and when it starts, in milliseconds from the prompt's start."""

    text: str
    start_ms: int

    def __post_init__(self) -> None:
        if not isinstance(self.start_ms, int) or self.start_ms < 0:
            raise ValueError(f"caption phrase {self.text!r}: start_ms must be an int >= 0, "
                             f"not {self.start_ms!r}")


def _cut(phrase: str) -> list[str]:
    """``phrase`` in pieces of at most MAX_PHRASE_CHARS, cut at the last space if there is one."""
    pieces = []
    while len(phrase) > MAX_PHRASE_CHARS:
        cut = phrase.rfind(" ", 1, MAX_PHRASE_CHARS)
        cut = cut if cut > 0 else MAX_PHRASE_CHARS
        pieces.append(phrase[:cut].strip())
        phrase = phrase[cut:].strip()
    if phrase:
        pieces.append(phrase)
    return pieces


def _weight(phrase: str) -> int:
    return sum(_PAUSE_UNITS.get(ch, 0 if ch.isspace() else 1) for ch in phrase)


def split(text: str, duration_ms: int) -> tuple[CaptionPhrase, ...]:
    """``text`` as phrases whose start offsets spread ``duration_ms`` by spoken weight.

    The first phrase starts at 0; offsets never decrease; an empty text gives no phrases."""
    if duration_ms < 0:
        raise ValueError(f"duration_ms must be >= 0, not {duration_ms}")
    phrases = [piece for match in _PHRASE.findall(text.strip())
               for piece in _cut(match.strip()) if piece]
    weights = [_weight(p) for p in phrases]
    total = sum(weights) or 1
    out, done = [], 0
    for phrase, weight in zip(phrases, weights):
        out.append(CaptionPhrase(phrase, duration_ms * done // total))
        done += weight
    return tuple(out)


def mask_names(text: str, names: Iterable[tuple[str, str]]) -> str:
    """``text`` with each full name replaced by its masked form (pairs ``(full, masked)``).

    Prompts rendered from the policy may greet the customer by name; the screen shows names
    masked only, so pass the caption text through this before building the view (the view
    refuses ID and phone numbers by itself, but cannot know a name)."""
    for full, masked in sorted(names, key=lambda pair: -len(pair[0])):
        if full:
            text = text.replace(full, masked)
    return text
